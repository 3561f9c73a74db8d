"""Ports of the helpers of ``pkg/config/validation/validation.go`` that several kinds share.

``exportTo``, unix addresses, subset and gateway names, route destinations, header operations
and string matches: each function is named after the Go function it ports (the per-kind
``Validate*`` functions of the same Go file are in :mod:`.gateway`, :mod:`.virtualservice`,
:mod:`.httproute`, :mod:`.destinationrule` and :mod:`.serviceentry`).

Rule: no I/O here.
"""

from __future__ import annotations

import re
from typing import Any

from gatewaykit._gofmt import quote
from gatewaykit.resources.validation._proto import get_int, get_list, get_map, get_msg, get_str
from gatewaykit.resources.validation.agent import validate_fqdn, validate_port, validate_wildcard_domain
from gatewaykit.resources.validation.labels import is_dns1123_label
from gatewaykit.resources.validation.multierror import Err, Validation, append_errors, multierror_append

__all__ = [
    "is_authority_header",
    "is_internal_header",
    "validate_cors_http_header_name",
    "validate_destination",
    "validate_export_to",
    "validate_gateway_names",
    "validate_header_operations",
    "validate_http_header_name_or_jwt_claim_route",
    "validate_http_header_operation_name",
    "validate_http_header_value",
    "validate_http_header_with_authority_operation_name",
    "validate_route_destinations",
    "validate_selector_labels",
    "validate_string_match",
    "validate_string_match_regexp",
    "validate_string_regexp",
    "validate_subset_name",
    "validate_unix_address",
]


def validate_export_to(
    namespace: str, export_to: list[Any], is_service_entry: bool, dr_selector: bool
) -> Err:
    """``validateExportTo``: ``.``, ``*``, a namespace; ``~`` only on a ServiceEntry."""
    errs: Err = None
    if not export_to:
        return None
    seen: list[str] = []
    for e in export_to:
        e = str(e)
        key = namespace if e == "." else e
        if key in seen:
            if key != e:
                errs = append_errors(
                    errs, f"duplicate entries in exportTo: . and current namespace {namespace}"
                )
            else:
                errs = append_errors(errs, f"duplicate entries in exportTo for entry {e}")
            continue
        if is_service_entry and e == "~":
            seen.append(key)
            continue
        if key in (".", "*"):
            seen.append(key)
        elif key == "~":
            errs = append_errors(errs, "exportTo ~ (none) is not allowed for Istio configuration objects")
        elif not is_dns1123_label(key):
            errs = append_errors(errs, "only .,*, or a valid DNS 1123 label is allowed as exportTo entry")
        else:
            seen.append(key)
    if dr_selector and seen:
        if namespace in seen:
            if len(seen) > 1:
                errs = append_errors(
                    errs, "destination rule with workload selector cannot have multiple entries in exportTo"
                )
        else:
            errs = append_errors(
                errs, "destination rule with workload selector cannot have exportTo beyond current namespace"
            )
    if "*" in seen and len(export_to) > 1:
        errs = append_errors(
            errs, "cannot have both public (*) and non-public exportTo values for a resource"
        )
    if "~" in seen and len(export_to) > 1:
        errs = append_errors(errs, "cannot export service entry to no one (~) and someone")
    return errs


def validate_selector_labels(labels: dict[str, Any]) -> Err:
    """The label checks of ``ValidateAlphaWorkloadSelector`` and ``validateWorkloadSelector``.

    No empty key and no ``*`` in a key or value (Istio selects workloads by exact labels).
    """
    errs: Err = None
    for k, val in labels.items():
        if k == "":
            errs = append_errors(errs, f"empty key is not supported in selector: {quote(f'{k}={val}')}")
        if "*" in k or "*" in str(val):
            errs = append_errors(errs, f"wildcard is not supported in selector: {quote(f'{k}={val}')}")
    return errs


def validate_unix_address(addr: str) -> str | None:
    """``ValidateUnixAddress``: an absolute path to a file, or an abstract ``@`` socket."""
    if not addr:
        return "unix address must not be empty"
    if addr.startswith("@"):
        return None
    if not addr.startswith("/") or addr.endswith("/"):
        return f"{addr} is not an absolute path to a file"
    return None


def validate_subset_name(name: str) -> str | None:
    """``validateSubsetName``: a DNS label."""
    if not name:
        return "subset name cannot be empty"
    if not is_dns1123_label(name):
        return f"subset name is invalid: {name}"
    return None


def validate_gateway_names(names: list[Any]) -> Validation:
    """``validateGatewayNames``: ``<namespace>/<name>``, or a legacy FQDN (with a warning)."""
    v = Validation()
    for gw in names:
        gw = str(gw)
        parts = gw.split("/", 1)
        if len(parts) != 2:
            if "." in gw:
                # Legacy FQDN style.
                segs = gw.split(".")
                recommended = f"{segs[1]}/{segs[0]}"
                v.warning(
                    f"using legacy gatewayName format {quote(gw)}; prefer the <namespace>/<name> format: "
                    f"{quote(recommended)}"
                )
            v.add(validate_fqdn(gw))
            return v  # (sic) Istio returns after the first short name
        if not parts[0] or not parts[1]:
            v.add("config namespace and gateway name cannot be empty")
        if not is_dns1123_label(parts[0]):
            v.add(f"invalid value for namespace: {quote(parts[0])}")
        if not is_dns1123_label(parts[1]):
            v.add(f"invalid value for gateway name: {quote(parts[1])}")
    return v


_HEADER_NAME = re.compile(r"^[-_A-Za-z0-9]+$")


def validate_cors_http_header_name(name: str) -> str | None:
    """``ValidateCORSHTTPHeaderName`` (``*`` is checked by the caller)."""
    if not name:
        return "header name cannot be empty"
    if not _HEADER_NAME.match(name):
        return f"header name {name} is not a valid header name"
    return None


def validate_http_header_name_or_jwt_claim_route(name: str) -> str | None:
    """``ValidateHTTPHeaderNameOrJwtClaimRoute``: a header name or ``@request.auth.claims.*``."""
    if not name:
        return "header name cannot be empty"
    if name.startswith("@request.auth.claims."):
        return None
    if not _HEADER_NAME.match(name):
        return f"header name {name} is not a valid header name"
    return None


def is_internal_header(name: str) -> bool:
    """``isInternalHeader`` (virtualservice.go): a ``:`` pseudo-header or ``host``."""
    return name.startswith(":") or name.lower() == "host"


def is_authority_header(name: str) -> bool:
    """``isAuthorityHeader`` (virtualservice.go): ``:authority`` or ``host``."""
    return name.lower() in (":authority", "host")


def validate_http_header_with_authority_operation_name(name: str) -> str | None:
    """``ValidateHTTPHeaderWithAuthorityOperationName``: request add/set may rewrite the authority."""
    if not name:
        return "header name cannot be empty"
    if is_internal_header(name) and not is_authority_header(name):
        return f'invalid header {quote(name)}: header cannot have ":" prefix'
    return None


def validate_http_header_operation_name(name: str) -> str | None:
    """``ValidateHTTPHeaderOperationName``: no ``Host``, no pseudo-headers."""
    if not name:
        return "header name cannot be empty"
    if name.lower() == "host":
        return f"invalid header {quote(name)}: cannot set Host header"
    if is_internal_header(name):
        return f'invalid header {quote(name)}: header cannot have ":" prefix'
    return None


_HEADER_VALUE_BAD = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def validate_http_header_value(value: Any) -> str | None:
    """``ValidateHTTPHeaderValue``: no control characters but tab."""
    value = "" if value is None else str(value)
    if _HEADER_VALUE_BAD.search(value):
        return f"header value configuration {value} is invalid"
    return None


def validate_header_operations(
    v: Validation, headers: dict[str, Any] | None, request_authority_ok: bool = True
) -> None:
    """The ``headers`` loops of ``validateHTTPRoute`` and ``validateHTTPRouteDestinations``.

    Request ``add``/``set`` names may rewrite the authority; removals and responses may not.
    """
    req = get_msg(headers, "request") if headers else None
    resp = get_msg(headers, "response") if headers else None
    for op in ("add", "set"):
        for name, val in get_map(req, op).items():
            v.add(
                validate_http_header_with_authority_operation_name(name)
                if request_authority_ok
                else validate_http_header_operation_name(name)
            )
            v.add(validate_http_header_value(val))
    for name in get_list(req, "remove"):
        v.add(validate_http_header_operation_name(str(name)))
    for op in ("add", "set"):
        for name, val in get_map(resp, op).items():
            v.add(validate_http_header_operation_name(name))
            v.add(validate_http_header_value(val))
    for name in get_list(resp, "remove"):
        v.add(validate_http_header_operation_name(str(name)))


def validate_string_regexp(re_text: str, where: str) -> str | None:
    """``validateStringRegexp``: at most 1024 characters, and it must compile.

    Python's ``re`` stands in for RE2 here, so the error wording after ``error parsing regexp:``
    differs from Go's.
    """
    if len(re_text) > 1024:
        return f"{quote(where)}: regex is too large, max length allowed is 1024"
    try:
        re.compile(re_text)
    except re.error as exc:  # Python's re stands in for RE2 here; the wording differs
        return (
            f"{quote(where)}: error parsing regexp: {exc}; Istio uses RE2 style regex-based match "
            "(https://github.com/google/re2/wiki/Syntax)"
        )
    return None


def validate_string_match_regexp(sm: Any, where: str) -> str | None:
    """``validateStringMatchRegexp``: a ``regex`` match must be a non-empty valid regex."""
    if not isinstance(sm, dict) or "regex" not in sm:
        return None
    if not get_str(sm, "regex"):
        return f"{quote(where)}: regex string match should not be empty"
    return validate_string_regexp(get_str(sm, "regex"), where)


def validate_string_match(sm: Any, where: str) -> str | None:
    """``validateStringMatch``: no empty ``prefix``; a ``regex`` must be valid."""
    if not isinstance(sm, dict):
        return None
    if "prefix" in sm and "exact" not in sm and "regex" not in sm:
        if not get_str(sm, "prefix"):
            return f"{quote(where)}: prefix string match should not be empty"
        return None
    if "regex" in sm:
        return validate_string_match_regexp(sm, where)
    return None


def validate_destination(dest: dict[str, Any] | None) -> Err:
    """``validateDestination``: a (wildcard) host other than ``*``, subset and port."""
    if dest is None:
        return None
    errs: Err = None
    host = get_str(dest, "host")
    if host == "*":
        errs = append_errors(errs, f"invalid destination host {host}")
    else:
        errs = append_errors(errs, validate_wildcard_domain(host))
    if get_str(dest, "subset"):
        errs = append_errors(errs, validate_subset_name(get_str(dest, "subset")))
    port = get_msg(dest, "port")
    if port is not None:
        errs = append_errors(errs, validate_port(get_int(port, "number")))
    return errs


def validate_route_destinations(routes: list[Any], http: bool) -> Err:
    """``validateHTTPRouteDestinations`` (``http``) and ``validateRouteDestinations`` (TLS/TCP)."""
    errs: Err = None
    total = 0
    for rd in routes:
        if not isinstance(rd, dict):
            errs = multierror_append(errs, "weight may not be nil")
            continue
        dest = get_msg(rd, "destination")
        if dest is None:
            errs = multierror_append(errs, "destination is required")
        if http:
            hv = Validation()
            validate_header_operations(hv, get_msg(rd, "headers"))
            errs = append_errors(errs, hv.err)
        errs = append_errors(errs, validate_destination(dest))
        weight = get_int(rd, "weight")
        if weight < 0:
            errs = append_errors(errs, f"weight {weight} < 0")
        total += weight
    if len(routes) > 1 and total == 0:
        errs = append_errors(errs, "total destination weight = 0")
    return errs
