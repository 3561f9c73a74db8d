"""``validateHTTPRoute`` (``pkg/config/validation/virtualservice.go``) and the checks it calls.

One function per Go function, in the order ``validateHTTPRoute`` appends their results (the
order decides the order of kubectl's ``* ...`` lines). The CORS, fault, mirror, redirect, direct
response, retry and rewrite checks are in ``pkg/config/validation/validation.go`` in Istio.

Rule: no I/O here.
"""

from __future__ import annotations

import enum
import re
from typing import Any

from gatewaykit._gofmt import format_float, quote
from gatewaykit.resources.schema import duration_seconds
from gatewaykit.resources.validation._proto import as_double, get_int, get_list, get_map, get_msg, get_str
from gatewaykit.resources.validation.agent import validate_duration, validate_port
from gatewaykit.resources.validation.common import (
    is_authority_header,
    validate_cors_http_header_name,
    validate_destination,
    validate_gateway_names,
    validate_header_operations,
    validate_http_header_name_or_jwt_claim_route,
    validate_route_destinations,
    validate_string_match,
    validate_string_match_regexp,
    validate_string_regexp,
)
from gatewaykit.resources.validation.labels import is_dns1123_label, validate_labels
from gatewaykit.resources.validation.multierror import Err, Validation, append_errors, multierror_append

__all__ = ["HTTPRouteType", "get_http_route_type", "validate_http_route"]


class HTTPRouteType(enum.Enum):
    """``HTTPRouteType``: a plain route, a root route that delegates, or a route of a delegate."""

    INDEPENDENT = "IndependentRoute"
    ROOT = "RootRoute"
    DELEGATE = "DelegateRoute"


def get_http_route_type(http: dict[str, Any], is_delegate: bool) -> HTTPRouteType:
    """``getHTTPRouteType``: a delegate VirtualService's routes, else root when it has ``delegate``."""
    if is_delegate:
        return HTTPRouteType.DELEGATE
    if "delegate" in http:
        return HTTPRouteType.ROOT
    return HTTPRouteType.INDEPENDENT


def validate_http_route(http: dict[str, Any], delegate: bool) -> Validation:
    """``validateHTTPRoute``: every check of one ``http`` route, appended in Istio's order."""
    v = Validation(validate_http_route_conflict(http, get_http_route_type(http, delegate)))
    v.add(validate_http_route_match_request(http))
    validate_header_operations(v, get_msg(http, "headers"))
    v.add(validate_cors_policy(get_msg(http, "corsPolicy")))
    v.add(validate_http_fault_injection(get_msg(http, "fault")))
    validate_mirror_percentages(v, http)
    v.add(validate_destination(get_msg(http, "mirror")))
    v.add(validate_http_mirrors(get_list(http, "mirrors")))
    v.add(validate_http_redirect(get_msg(http, "redirect")))
    v.add(validate_http_direct_response(get_msg(http, "directResponse")))
    v.add(validate_http_retry(get_msg(http, "retries")))
    rewrite = get_msg(http, "rewrite")
    v.add(validate_http_rewrite(rewrite))
    v.add(validate_authority_rewrite(rewrite, get_msg(http, "headers")))
    v.add(validate_route_destinations(get_list(http, "route"), http=True))
    if "timeout" in http:
        v.add(validate_duration(http["timeout"]))
    return v


# ------------------------------------------------------------------ validateHTTPRouteConflict

#: How ``validateHTTPRouteConflict`` reads "is set" per field: ``route`` counts when non-empty
#: (``len(http.Route) > 0``), ``redirect``/``directResponse`` when they are messages, the others
#: when present at all (``!= nil``).
_IS_SET = {
    "route": lambda http: bool(get_list(http, "route")),
    "redirect": lambda http: get_msg(http, "redirect") is not None,
    "directResponse": lambda http: get_msg(http, "directResponse") is not None,
    "fault": lambda http: http.get("fault") is not None,
    "rewrite": lambda http: http.get("rewrite") is not None,
}

#: The route-conflict matrix: the route's action (the first of ``redirect``, ``directResponse``
#: that is set, as Go's ``if``/``else if`` picks it) → the fields it excludes, with Istio's text.
#: Go's last ``directResponse`` row (``redirect``) can never fire -- ``redirect`` wins first --
#: and is kept for the record.
ROUTE_CONFLICTS: dict[str, tuple[tuple[str, str], ...]] = {
    "redirect": (
        ("route", "HTTP route cannot contain both route and redirect"),
        ("fault", "HTTP route cannot contain both fault and redirect"),
        ("rewrite", "HTTP route rule cannot contain both rewrite and redirect"),
        ("directResponse", "HTTP route rule cannot contain both direct_response and redirect"),
    ),
    "directResponse": (
        ("route", "HTTP route cannot contain both route and direct_response"),
        ("fault", "HTTP route cannot contain both fault and direct_response"),
        ("rewrite", "HTTP route rule cannot contain both rewrite and direct_response"),
        ("redirect", "HTTP route rule cannot contain both redirect and direct_response"),
    ),
}


def validate_http_route_conflict(http: dict[str, Any], route_type: HTTPRouteType) -> Err:
    """``validateHTTPRouteConflict``: which actions a route may combine.

    A root route may only delegate; any other route needs one action -- ``route``, ``redirect``
    or ``directResponse`` -- and the action excludes the fields of :data:`ROUTE_CONFLICTS`.
    """
    errs: Err = None
    name = get_str(http, "name")
    if route_type is HTTPRouteType.ROOT:
        if _IS_SET["redirect"](http):
            errs = append_errors(errs, f"root HTTP route {name} must not specify redirect")
        if http.get("route") is not None:  # Go: http.Route != nil (an empty list counts)
            errs = append_errors(errs, f"root HTTP route {name} must not specify route")
        return errs
    if route_type is HTTPRouteType.DELEGATE and "delegate" in http:
        errs = append_errors(errs, "delegate HTTP route cannot contain delegate")
    action = next((a for a in ROUTE_CONFLICTS if _IS_SET[a](http)), None)
    if action is None:
        if not _IS_SET["route"](http):
            errs = append_errors(errs, "HTTP route, redirect or direct_response is required")
    else:
        for field, message in ROUTE_CONFLICTS[action]:
            if _IS_SET[field](http):
                errs = append_errors(errs, message)
    if http.get("mirror") is not None and get_list(http, "mirrors"):
        errs = append_errors(errs, "HTTP route cannot contain both mirror and mirrors")
    return errs


# -------------------------------------------------------------- validateHTTPRouteMatchRequest


def validate_http_route_match_request(http: dict[str, Any]) -> Err:
    """``validateHTTPRouteMatchRequest``: header/URI/... string matches, then ports and sources."""
    errs: Err = None
    matches = [m for m in get_list(http, "match") if isinstance(m, dict)]
    for match in matches:
        for name, header in get_map(match, "headers").items():
            if header is None:
                errs = append_errors(errs, f"header match {name} cannot be null")
            errs = append_errors(errs, validate_http_header_name_or_jwt_claim_route(name))
            errs = append_errors(errs, validate_string_match(header, "headers"))
        for name, header in get_map(match, "withoutHeaders").items():
            errs = append_errors(errs, validate_http_header_name_or_jwt_claim_route(name))
            # `*` is not a RE2 regex here: Istio turns it into a present_match.
            if isinstance(header, dict) and header.get("regex") != "*":
                errs = append_errors(errs, validate_string_match(header, "withoutHeaders"))
        # uri allows an empty prefix (Envoy's route prefix); scheme/method/authority do not.
        errs = append_errors(errs, validate_string_match_regexp(match.get("uri"), "uri"))
        errs = append_errors(errs, validate_string_match(match.get("scheme"), "scheme"))
        errs = append_errors(errs, validate_string_match(match.get("method"), "method"))
        errs = append_errors(errs, validate_string_match(match.get("authority"), "authority"))
        for qp in get_map(match, "queryParams").values():
            errs = append_errors(errs, validate_string_match(qp, "queryParams"))
    for match in matches:
        if get_int(match, "port") != 0:
            errs = append_errors(errs, validate_port(get_int(match, "port")))
        errs = append_errors(errs, validate_labels(get_map(match, "sourceLabels")))
        errs = append_errors(errs, validate_gateway_names(get_list(match, "gateways")).err)
        ns = get_str(match, "sourceNamespace")
        if ns and not is_dns1123_label(ns):
            errs = append_errors(errs, f"sourceNamespace match {ns} is invalid")
    return errs


# ------------------------------------------------------------------------------------ CORS

#: ``supportedCORSMethods``.
_CORS_METHODS = frozenset(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE"])


def validate_cors_policy(cors: dict[str, Any] | None) -> Err:
    """``validateCORSPolicy``: origins, methods, header names and ``maxAge``."""
    if cors is None:
        return None
    errs: Err = None
    for origin in get_list(cors, "allowOrigins"):
        errs = append_errors(errs, validate_allow_origins(origin))
    for method in get_list(cors, "allowMethods"):
        if method not in _CORS_METHODS:  # validateCORSHTTPMethod
            errs = append_errors(errs, f"{quote(method)} is not a supported HTTP method")
    for key in ("allowHeaders", "exposeHeaders"):
        for name in get_list(cors, key):
            name = str(name)
            if name != "*":
                errs = append_errors(errs, validate_cors_http_header_name(name))
    if "maxAge" in cors:
        errs = append_errors(errs, validate_duration(cors["maxAge"]))
        secs = duration_seconds(cors["maxAge"]) if isinstance(cors["maxAge"], str) else None
        if secs is not None and secs != int(secs):  # MaxAge.Nanos > 0
            errs = multierror_append(errs, "max_age duration is accurate only to seconds precision")
    return errs


def validate_allow_origins(origin: Any) -> str | None:
    """``validateAllowOrigins``: an exact, prefix or regex match with a non-empty value."""
    o = origin if isinstance(origin, dict) else {}
    value = get_str(o, "exact") or get_str(o, "prefix") or get_str(o, "regex")
    if not value:
        return f"'{value}' is not a valid match type for CORS allow origins"
    return validate_string_match_regexp(o, "corsPolicy.allowOrigins")


# ----------------------------------------------------------------------------------- fault

#: ``grpc.SupportedGRPCStatus``.
_GRPC_STATUS = frozenset(
    [
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
        "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
        "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
        "UNAUTHENTICATED",
    ]
)  # fmt: skip


def validate_http_fault_injection(fault: dict[str, Any] | None) -> Validation:
    """``validateHTTPFaultInjection``: an abort and/or a delay, each valid.

    The abort's "error type not set" warning is kept as a warning here; see the report's note.
    """
    v = Validation()
    if fault is None:
        return v
    errs: Err = None
    abort, delay = get_msg(fault, "abort"), get_msg(fault, "delay")
    if abort is None and delay is None:
        errs = multierror_append(errs, "HTTP fault injection must have an abort and/or a delay")
    if abort is not None:
        av = validate_http_fault_injection_abort(abort)
        errs = append_errors(errs, av.err)
        v.warning(av.warn)
    if delay is not None:
        errs = append_errors(errs, validate_http_fault_injection_delay(delay))
    return v.add(errs)


def validate_http_fault_injection_abort(abort: dict[str, Any]) -> Validation:
    """``validateHTTPFaultInjectionAbort``: the percentage and exactly one supported error type."""
    v = Validation(validate_percentage(get_msg(abort, "percentage")))
    if "grpcStatus" in abort:
        status = get_str(abort, "grpcStatus")
        if status not in _GRPC_STATUS:  # validateGRPCStatus
            v.add(
                f"gRPC status {quote(status)} is not supported. See "
                "https://github.com/grpc/grpc/blob/master/doc/statuscodes.md for a list of supported codes, "
                "for example 'NOT_FOUND'"
            )
    elif "http2Error" in abort:
        v.add("HTTP/2 abort fault injection not supported yet")
    elif "httpStatus" in abort:
        v.add(validate_http_status(get_int(abort, "httpStatus")))
    else:
        v.warning("abort configured, but error type not set")
    return v


def validate_http_fault_injection_delay(delay: dict[str, Any]) -> Err:
    """``validateHTTPFaultInjectionDelay``: the percentage and the delay's duration."""
    errs: Err = validate_percentage(get_msg(delay, "percentage"))
    if "fixedDelay" in delay:
        errs = append_errors(errs, validate_duration(delay["fixedDelay"]))
    elif "exponentialDelay" in delay:
        errs = append_errors(errs, validate_duration(delay["exponentialDelay"]))
        errs = multierror_append(errs, "exponentialDelay not supported yet")
    return errs


def validate_percentage(p: dict[str, Any] | None) -> str | None:
    """``validatePercentage``: 0, or between 0.0001 and 100."""
    if p is None:
        return None
    val = as_double(p.get("value", 0))
    if val < 0 or val > 100 or (0 < val < 0.0001):
        return f"percentage {val:g} is neither 0.0, nor in range [0.0001, 100.0]"
    return None


def validate_http_status(status: int) -> str | None:
    """``validateHTTPStatus`` (sic: 600 passes although the text says 599)."""
    if status < 200 or status > 600:
        return f"HTTP status {status} is not in range 200-599"
    return None


# ---------------------------------------------------------------------------------- mirrors


def validate_mirror_percentages(v: Validation, http: dict[str, Any]) -> None:
    """The ``mirrorPercent`` (deprecated) and ``mirrorPercentage`` checks of ``validateHTTPRoute``."""
    if "mirrorPercent" in http:
        percent = get_int(http, "mirrorPercent")
        if percent > 100:
            v.add(f"mirror_percent must have a max value of 100 (it has {percent})")
        v.warning('using deprecated setting "mirrorPercent", use "mirrorPercentage" instead')
    mirror_percentage = get_msg(http, "mirrorPercentage")
    if mirror_percentage is not None:
        v.add(*_percentage_range("mirror_percentage", mirror_percentage))


def validate_http_mirrors(mirrors: list[Any]) -> Err:
    """``validateHTTPMirrors``: each mirror has a valid destination and percentage (its error only)."""
    v = Validation()
    for mirror in mirrors:
        if not isinstance(mirror, dict):
            v.add("mirror cannot be null")
            continue
        if get_msg(mirror, "destination") is None:
            v.add("destination is required for mirrors")
            continue
        v.add(validate_destination(get_msg(mirror, "destination")))
        pct = get_msg(mirror, "percentage")
        if pct is not None:
            v.add(*_percentage_range("mirror percentage", pct))
    return v.err


def _percentage_range(field: str, percent: dict[str, Any]) -> list[str]:
    """Go's two range checks of a mirror ``Percent`` (``%f`` of the value), named as Istio names it."""
    value = as_double(percent.get("value", 0))
    errors = []
    if value > 100:
        errors.append(f"{field} must have a max value of 100 (it has {format_float(value)})")
    if value < 0:
        errors.append(f"{field} must have a min value of 0 (it has {format_float(value)})")
    return errors


# -------------------------------------------------------------- redirect / direct response


def validate_http_redirect(redirect: dict[str, Any] | None) -> str | None:
    """``validateHTTPRedirect``: something to redirect to, a 3xx code, http(s), a valid port."""
    if redirect is None:
        return None
    port_set = "port" in redirect or "derivePort" in redirect  # RedirectPort != nil
    if not (
        get_str(redirect, "uri") or get_str(redirect, "authority") or port_set or get_str(redirect, "scheme")
    ):
        return "redirect must specify URI, authority, scheme, or port"
    code = get_int(redirect, "redirectCode")
    if code != 0 and not 300 <= code <= 399:
        return f"{code} is not a valid redirect code, must be 3xx"
    if get_str(redirect, "scheme") not in ("", "http", "https"):
        return 'invalid redirect scheme, must be "http" or "https"'
    if get_int(redirect, "port") > 0:
        return validate_port(get_int(redirect, "port"))
    return None


def validate_http_direct_response(direct: dict[str, Any] | None) -> Validation:
    """``validateHTTPDirectResponse``: a body under 1MB (warning above 100kB), a valid status."""
    v = Validation()
    if direct is None:
        return v
    body = get_msg(direct, "body")
    if body is not None:
        size = len(get_str(body, "string").encode()) if "string" in body else len(get_str(body, "bytes"))
        if size > 1024 * 1024:
            v.add("large direct_responses may impact control plane performance, must be less than 1MB")
        elif size > 100 * 1024:
            v.warning("large direct_responses may impact control plane performance")
    return v.add(validate_http_status(get_int(direct, "status")))


# ---------------------------------------------------------------------------------- retries

#: Go's ``http.StatusText`` knows these codes: a retryOn entry that is one of them is valid.
_GO_STATUS_CODES = frozenset(
    [
        100, 101, 102, 103,
        200, 201, 202, 203, 204, 205, 206, 207, 208, 226,
        300, 301, 302, 303, 304, 305, 307, 308,
        400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 418,
        421, 422, 423, 424, 425, 426, 428, 429, 431, 451,
        500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511,
    ]
)  # fmt: skip

#: ``supportedRetryOnPolicies``.
_RETRY_ON = frozenset(
    [
        "5xx", "gateway-error", "reset", "reset-before-request", "connect-failure", "retriable-4xx",
        "refused-stream", "retriable-status-codes", "retriable-headers", "envoy-ratelimited",
        "http3-post-connect-failure", "cancelled", "deadline-exceeded", "internal",
        "resource-exhausted", "unavailable",
    ]
)  # fmt: skip


def validate_http_retry(retries: dict[str, Any] | None) -> Err:
    """``validateHTTPRetry``: attempts, ``perTryTimeout`` and each ``retryOn`` policy."""
    if retries is None:
        return None
    errs: Err = None
    attempts = get_int(retries, "attempts")
    if attempts < 0:
        errs = multierror_append(errs, "attempts cannot be negative")
    if attempts == 0 and (
        "perTryTimeout" in retries or get_str(retries, "retryOn") or "retryRemoteLocalities" in retries
    ):
        errs = append_errors(errs, "http retry policy configured when attempts are set to 0 (disabled)")
    if "perTryTimeout" in retries:
        errs = append_errors(errs, validate_duration(retries["perTryTimeout"]))
    if get_str(retries, "retryOn"):
        for policy in get_str(retries, "retryOn").split(","):
            code = int(policy) if re.fullmatch(r"[+-]?\d+", policy) else 0  # strconv.Atoi
            if code not in _GO_STATUS_CODES and policy not in _RETRY_ON:
                errs = append_errors(errs, f"{quote(policy)} is not a valid retryOn policy")
    return errs


# ---------------------------------------------------------------------------------- rewrite


def validate_http_rewrite(rewrite: dict[str, Any] | None) -> str | None:
    """``validateHTTPRewrite``: one of ``uri``/``uriRegexRewrite``, or an authority."""
    if rewrite is None:
        return None
    regex_rewrite = get_msg(rewrite, "uriRegexRewrite")
    if get_str(rewrite, "uri") and regex_rewrite is not None:
        return "rewrite may only contain one of URI or UriRegexRewrite"
    if not get_str(rewrite, "uri") and regex_rewrite is None and not get_str(rewrite, "authority"):
        return (
            "rewrite must specify at least one of URI, UriRegexRewrite, or authority. Only one of URI or "
            "UriRegexRewrite may be specified"
        )
    err = validate_uri_regex_rewrite(regex_rewrite)
    # errors.Join(errors.New("UriRegexRewrite has errors"), err): one line each.
    return f"UriRegexRewrite has errors\n{err}" if err else None


def validate_uri_regex_rewrite(regex_rewrite: dict[str, Any] | None) -> str | None:
    """``validateURIRegexRewrite``: both ``match`` and ``rewrite``, and a valid regex."""
    if regex_rewrite is None:
        return None
    if not get_str(regex_rewrite, "match") or not get_str(regex_rewrite, "rewrite"):
        return "UriRegexRewrite requires both Rewrite and Match fields to be specified"
    return validate_string_regexp(get_str(regex_rewrite, "match"), "HTTPRewrite.UriRegexRewrite.Match")


def validate_authority_rewrite(rewrite: dict[str, Any] | None, headers: dict[str, Any] | None) -> str | None:
    """``validateAuthorityRewrite``: the authority is rewritten in one place only.

    Go walks the request header ``set`` map, then ``add``, and returns at the first clash.
    """
    current = get_str(rewrite, "authority") if rewrite else ""
    request = get_msg(headers, "request") if headers else None
    for op in ("set", "add"):
        for key, value in get_map(request, op).items():
            if not is_authority_header(key):
                continue
            if current:
                return (
                    f"authority header cannot be set multiple times: have {quote(current)}, "
                    "attempting to set "
                    f"{quote(value)}"
                )
            current = str(value)
    return None
