"""Gateway API routes → Istio VirtualServices, as istiod converts them (Istio 1.27).

Rule: no I/O here. A port of ``pilot/pkg/config/kube/gateway/route_collections.go``
(``HTTPRouteCollection``, ``GRPCRouteCollection``, ``TLSRouteCollection``, ``TCPRouteCollection``,
``computeRoute``, ``mergeHTTPRoutes``) and the route half of ``conversion.go`` (``convertHTTPRoute``,
``convertGRPCRoute``, ``convertTLSRoute``, ``convertTCPRoute``, ``buildDestination``,
``extractParentReferenceInfo``, ``referenceAllowed``, ``sortHTTPRoutes``, ``hostnameAllowedByIsolation``,
``create*`` filters and matches). Function names follow the Go functions, in snake_case.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gatewaykit._translate import hosts as H
from gatewaykit._translate.gatewayapi import (
    GVK,
    KUBERNETES_GATEWAY_GVK,
    PARENTS,
    ROUTE_VERSIONS,
    SERVICE_ENTRY_GVK,
    SERVICE_GVK,
    ConfigError,
    Context,
    Conversion,
    Generated,
    ParentInfo,
    _items,
)
from gatewaykit._translate.routes import ROUTE_SEMANTICS
from gatewaykit.resources import gatewayapi as K
from gatewaykit.resources.gatewayapi_schema import gateway_api_duration
from gatewaykit.resources.meta import GATEWAY_API_GROUP, ResourceKey
from gatewaykit.resources.models import VirtualService, from_dict

__all__ = ["ParentError", "RouteParentRef", "RouteReport", "convert_routes"]

HOSTNAME_GVK: GVK = ("networking.istio.io", "Hostname")
INFERENCE_POOL_GVK: GVK = ("inference.networking.x-k8s.io", "InferencePool")
SERVICE_IMPORT_GVK: GVK = ("multicluster.x-k8s.io", "ServiceImport")
_ALLOWED_PARENTS = {KUBERNETES_GATEWAY_GVK, SERVICE_GVK, SERVICE_ENTRY_GVK}
_ALL_ROUTE_KINDS: tuple[GVK, ...] = tuple(
    (GATEWAY_API_GROUP, k) for k in ("HTTPRoute", "GRPCRoute", "TCPRoute", "TLSRoute")
)
MESH = ParentInfo(internal_name="mesh", allowed_kinds=_ALL_ROUTE_KINDS)
# Backend errors that drop only the backend ("we will gracefully drop invalid backends").
_INVALID_BACKEND = ("RefNotPermitted", "BackendNotFound", "InvalidKind")


@dataclass(frozen=True, slots=True)
class ParentError:
    """conversion.go ``ParentError``: why a parentRef is not accepted (becomes ``Accepted: False``)."""

    reason: str  # NoMatchingParent, NotAllowedByListeners, NoMatchingListenerHostname
    message: str


@dataclass(slots=True)
class RouteParentRef:
    """conversion.go ``routeParentReference``: one (parentRef, parent listener) pair of a route."""

    internal_name: str
    internal_kind: GVK
    denied: ParentError | None
    original: K.ParentReference
    hostname: str
    banned: frozenset[str]
    parent_key: tuple[GVK, str, str]  # (kind, namespace, name)
    section: str

    def is_mesh(self) -> bool:
        """``IsMesh``."""
        return self.internal_name == "mesh"

    def hostname_allowed_by_isolation(self, raw_route_host: str) -> bool:
        """``hostnameAllowedByIsolation``: a wildcard listener yields hosts a more exact listener owns."""
        ours = self.hostname
        if ours and not H.is_wildcarded(ours):
            return True
        if ours and not H.matches(raw_route_host, ours):
            return False
        for check in self.banned:
            if len(ours) > len(check):
                continue
            if H.subset_of(raw_route_host, check):
                return False
        return True


@dataclass(slots=True)
class RouteReport:
    """``computeRoute``'s status input: per (parentRef, listener) its denial and the route's error."""

    route: Any
    kind: str
    results: list[tuple[K.ParentReference, ParentError | None, ConfigError | None]]


def _ns(ref_ns: str, local: str) -> str:
    return ref_ns or local


def reference_allowed(
    ctx: Context,
    parent: ParentInfo,
    route_kind: GVK,
    ref: K.ParentReference,
    kind: GVK,
    hostnames: Sequence[str],
    local_ns: str,
) -> ParentError | None:
    """``referenceAllowed``: is this parent (listener, or mesh) willing to take the route?"""
    ns = _ns(ref.namespace, local_ns)
    if kind == SERVICE_GVK:
        if (ns, ref.name) not in ctx.services:
            return ParentError("NoMatchingParent", f'parent service: "{ref.name}" not found')
    elif kind == SERVICE_ENTRY_GVK:
        if (ns, ref.name) not in ctx.service_entries:
            return ParentError("NoMatchingParent", f'parent service entry: "{ref.name}" not found')
    else:
        # "First, check section and port apply. This must come first"
        if ref.port and ref.port != parent.port:
            return ParentError("NoMatchingParent", f"port {ref.port} not found")
        if ref.sectionName and ref.sectionName != parent.section_name:
            return ParentError("NoMatchingParent", f'sectionName "{ref.sectionName}" not found')
        denied = _hostnames_allowed(parent, hostnames or ["*"], local_ns)
        if denied is not None:
            return denied
    if route_kind not in parent.allowed_kinds:
        group, name = route_kind
        return ParentError(
            "NotAllowedByListeners", f"kind {group}/{ROUTE_VERSIONS[name]}/{name} is not allowed"
        )
    return None


def _hostnames_allowed(parent: ParentInfo, hostnames: Sequence[str], local_ns: str) -> ParentError | None:
    """The hostname part of ``referenceAllowed``: a bi-directional wildcard match, then namespaces."""
    if not parent.hostnames:
        return None
    host_matched = False
    for route_host in hostnames:
        for parent_host in parent.hostnames:
            pns, _, phost = parent_host.partition("/") if "/" in parent_host else ("*", "", parent_host)
            hostname_match = H.matches(phost, route_host)
            host_matched = host_matched or hostname_match
            if hostname_match and (pns == "*" or pns == local_ns):
                return None
    if host_matched:
        return ParentError(
            "NotAllowedByListeners",
            f'hostnames matched parent hostname "{parent.original_hostname}", but namespace "{local_ns}" '
            "is not allowed by the parent",
        )
    return ParentError(
        "NoMatchingListenerHostname", f'no hostnames matched parent hostname "{parent.original_hostname}"'
    )


def parent_ref_string(ref: K.ParentReference, local_ns: str) -> str:
    """``parentRefString``: ``<group>/<kind>/<name>/<section>/<port>.<namespace>``."""
    return (
        f"{ref.group}/{ref.kind}/{ref.name}/{ref.sectionName}/{ref.port or 0}.{_ns(ref.namespace, local_ns)}"
    )


def extract_parent_reference_info(
    ctx: Context, parents: dict[tuple[str, str], list[ParentInfo]], route: Any, kind: str
) -> list[RouteParentRef]:
    """``extractParentReferenceInfo``: every (parentRef, parent listener) pair, sorted by parentRef."""
    local_ns = route.metadata.namespace
    hostnames = tuple(getattr(route.spec, "hostnames", ()))
    route_kind: GVK = (GATEWAY_API_GROUP, kind)
    out: list[RouteParentRef] = []
    for ref in route.spec.parentRefs:
        gvk: GVK = (ref.group, ref.kind)
        if gvk not in _ALLOWED_PARENTS:
            continue  # "Maybe it is for another controller, so we just ignore it"
        ns = _ns(ref.namespace, local_ns)
        mesh = gvk in (SERVICE_GVK, SERVICE_ENTRY_GVK)
        current = [MESH] if mesh else parents.get((ns, ref.name), [])
        for p in current:
            banned = frozenset(
                o.original_hostname
                for o in current
                if o is not p and o.port == p.port and o.protocol == p.protocol
            ) - {p.original_hostname}
            out.append(
                RouteParentRef(
                    internal_name=p.internal_name,
                    internal_kind=gvk,
                    denied=reference_allowed(ctx, p, route_kind, ref, gvk, hostnames, local_ns),
                    original=ref,
                    hostname=p.original_hostname,
                    banned=banned,
                    parent_key=(gvk, ns, ref.name),
                    section=p.section_name,
                )
            )
    out.sort(key=lambda r: parent_ref_string(r.original, local_ns))  # stable: listener order kept
    return out


def filtered_references(parents: Sequence[RouteParentRef]) -> list[RouteParentRef]:
    """``filteredReferences``: the accepted ones, sorted by internal name."""
    return sorted((p for p in parents if p.denied is None), key=lambda p: p.internal_name)


# ---------------------------------------------------------------------------- backends


def _destination(host: str, port: int | None) -> dict[str, Any]:
    dest: dict[str, Any] = {"host": host}
    if port is not None:
        dest["port"] = {"number": port}
    return dest


def build_destination(
    ctx: Context, to: K.BackendRef, ns: str, enforce_grant: bool, route_kind: str
) -> tuple[dict[str, Any] | None, ConfigError | None]:
    """``buildDestination``: an Istio destination for a backendRef, and its error.

    An error whose reason is in ``_INVALID_BACKEND`` keeps the (possibly empty) destination; any
    other error is a hard one (the destination is None).
    """
    ref: GVK = (to.group, to.kind)
    if enforce_grant and to.namespace and to.namespace != ns:
        if not ctx.backend_allowed((GATEWAY_API_GROUP, route_kind), ns, ref, to.name, to.namespace):
            return {}, ConfigError(
                "RefNotPermitted",
                f'backendRef {to.name}/{to.namespace} not accessible to a {route_kind} in namespace "{ns}" '
                "(missing a ReferenceGrant?)",
            )
    namespace = to.namespace or ns
    invalid: ConfigError | None = None
    if ref in (SERVICE_GVK, SERVICE_IMPORT_GVK):
        if ref == SERVICE_GVK and "." in to.name:
            return None, ConfigError(
                "InvalidDestination",
                "service name invalid; the name of the Service must be used, not the hostname.",
            )
        hostname = f"{to.name}.{namespace}.svc.{H.DOMAIN_SUFFIX}"
        if (namespace, to.name) not in ctx.services:
            invalid = ConfigError("BackendNotFound", f"backend({hostname}) not found")
    elif ref == HOSTNAME_GVK:
        if to.namespace:
            return None, ConfigError("InvalidDestination", "namespace may not be set with Hostname type")
        hostname = to.name
        if not ctx.lookup_hostname(hostname, namespace):
            invalid = ConfigError("BackendNotFound", f"backend({hostname}) not found")
    elif ref == INFERENCE_POOL_GVK:
        return {}, ConfigError(
            "InvalidKind",
            "InferencePool is not enabled. To enable, set ENABLE_GATEWAY_API_INFERENCE_EXTENSION to true "
            "in istiod",
        )
    else:
        return {}, ConfigError(
            "InvalidKind", f'referencing unsupported backendRef: group "{to.group}" kind "{to.kind}"'
        )
    if to.port is None:
        # "Port is required when the referent is a Kubernetes Service."
        return None, ConfigError("InvalidDestination", "port is required in backendRef")
    return _destination(hostname, to.port), invalid


def _weights(refs: Sequence[Any]) -> list[tuple[Any, int]]:
    """Backends with weight > 0 and their weights; a single backend gets weight 0 (no split)."""
    action = [(r, r.weight) for r in refs if r.weight != 0]
    if len(action) == 1:
        action = [(action[0][0], 0)]
    return action


def build_http_destination(
    ctx: Context, refs: Sequence[K.HTTPBackendRef], ns: str, enforce: bool, kind: str
) -> tuple[list[dict[str, Any]] | None, ConfigError | None, ConfigError | None]:
    """``buildHTTPDestination`` / ``buildGRPCDestination``: (destinations, backend error, hard error)."""
    out: list[dict[str, Any]] = []
    invalid: ConfigError | None = None
    for ref, weight in _weights(refs):
        dst, err = build_destination(ctx, ref.ref, ns, enforce, kind)
        if err is not None:
            if err.reason not in _INVALID_BACKEND:
                return None, None, err
            invalid = err
        rd: dict[str, Any] = {"destination": dst or {}, "weight": weight}
        headers: dict[str, Any] = {}
        for f in ref.filters:
            if f.type in ("RequestHeaderModifier", "ResponseHeaderModifier"):
                h = create_headers_filter(f.requestHeaderModifier or f.responseHeaderModifier)
                if h is not None:
                    headers["request" if f.type == "RequestHeaderModifier" else "response"] = h
            else:
                return None, None, ConfigError("InvalidFilter", f'unsupported filter type "{f.type}"')
        if headers:
            rd["headers"] = headers
        out.append(rd)
    return out, invalid, None


def build_tcp_destination(
    ctx: Context, refs: Sequence[K.BackendRef], ns: str, enforce: bool, kind: str
) -> tuple[list[dict[str, Any]] | None, ConfigError | None, ConfigError | None]:
    """``buildTCPDestination``: (destinations, backend error, hard error)."""
    out: list[dict[str, Any]] = []
    invalid: ConfigError | None = None
    for ref, weight in _weights(refs):
        dst, err = build_destination(ctx, ref, ns, enforce, kind)
        if err is not None:
            if err.reason not in _INVALID_BACKEND:
                return None, None, err
            invalid = err
        out.append({"destination": dst or {}, "weight": weight})
    return out, invalid, None


# ------------------------------------------------------------------------- HTTP conversion


def _header_map(headers: Sequence[K.HTTPHeader]) -> dict[str, str]:
    """``headerListToMap``: lower-cased names.

    "Subsequent entries with an equivalent header name MUST be ignored".
    """
    out: dict[str, str] = {}
    for h in headers:
        out.setdefault(h.name.lower(), h.value)
    return out


def create_headers_filter(f: K.HTTPHeaderFilter | None) -> dict[str, Any] | None:
    """``createHeadersFilter``."""
    if f is None:
        return None
    out: dict[str, Any] = {}
    if f.add:
        out["add"] = _header_map(f.add)
    if f.remove:
        out["remove"] = list(f.remove)
    if f.set:
        out["set"] = _header_map(f.set)
    return out


def create_uri_match(path: K.HTTPPathMatch | None) -> dict[str, str]:
    """``createURIMatch``: PathPrefix (trailing ``/`` ignored), Exact, RegularExpression."""
    tp = path.type if path is not None else "PathPrefix"
    dest = path.value if path is not None else "/"
    if tp == "Exact":
        return {"exact": dest}
    if tp == "RegularExpression":
        return {"regex": dest}
    return {"prefix": dest if dest == "/" else dest.removesuffix("/")}


def _string_matches(items: Sequence[K.HTTPHeaderMatch]) -> dict[str, dict[str, str]]:
    """``createHeadersMatch`` / ``createQueryParamsMatch``: Exact or RegularExpression by name."""
    return {
        m.name: ({"regex": m.value} if m.type == "RegularExpression" else {"exact": m.value}) for m in items
    }


def create_redirect_filter(f: K.HTTPRequestRedirectFilter) -> dict[str, Any]:
    """``createRedirectFilter``: the request's port unless a scheme is set ("differs from Istio default")."""
    out: dict[str, Any] = {}
    if f.statusCode is not None:
        out["redirectCode"] = f.statusCode
    if f.hostname is not None:
        out["authority"] = f.hostname
    if f.scheme is not None:
        out["scheme"] = f.scheme
    if f.port is not None:
        out["port"] = f.port
    else:
        out["derivePort"] = "FROM_PROTOCOL_DEFAULT" if f.scheme is not None else "FROM_REQUEST_PORT"
    if f.path is not None:
        if f.path.type == "ReplaceFullPath":
            out["uri"] = f.path.replaceFullPath or ""
        elif f.path.type == "ReplacePrefixMatch":
            out["uri"] = f"%PREFIX()%{f.path.replacePrefixMatch or ''}"
    return out


def create_rewrite_filter(f: K.HTTPURLRewriteFilter) -> dict[str, Any] | None:
    """``createRewriteFilter``: prefix (``/`` removes it), full path as ``/.*`` regex, hostname."""
    out: dict[str, Any] = {}
    if f.path is not None:
        if f.path.type == "ReplacePrefixMatch":
            uri = (f.path.replacePrefixMatch or "").removesuffix("/")
            out["uri"] = uri or "/"
        elif f.path.type == "ReplaceFullPath":
            out["uriRegexRewrite"] = {"match": "/.*", "rewrite": f.path.replaceFullPath or ""}
    if f.hostname is not None:
        out["authority"] = f.hostname
    return out or None


def create_mirror_filter(
    ctx: Context, f: K.HTTPRequestMirrorFilter, ns: str, enforce: bool, kind: str
) -> tuple[dict[str, Any] | None, ConfigError | None]:
    """``createMirrorFilter``: a ``mirrors[]`` entry (percent, or fraction as a percentage)."""
    dst, err = build_destination(
        ctx, K.BackendRef(**{**_ref_fields(f.backendRef), "weight": 1}), ns, enforce, kind
    )
    if err is not None:
        return None, err
    out: dict[str, Any] = {"destination": dst}
    if f.fraction is not None:
        out["percentage"] = {"value": 100 * f.fraction.numerator / (f.fraction.denominator or 100)}
    elif f.percent is not None:
        out["percentage"] = {"value": float(f.percent)}
    return out, None


def _ref_fields(r: K.BackendRef) -> dict[str, Any]:
    return {"group": r.group, "kind": r.kind, "name": r.name, "namespace": r.namespace, "port": r.port}


def duration_json(seconds: float) -> str:
    """A protobuf Duration as Istio's YAML shows it: ``10s``, ``0.003s``, ``5400s``."""
    text = f"{seconds:.9f}".rstrip("0").rstrip(".")
    return f"{text}s"


def _apply_filters(
    ctx: Context,
    vs: dict[str, Any],
    filters: Sequence[K.HTTPRouteFilter],
    route: Any,
    enforce: bool,
    kind: str,
) -> tuple[ConfigError | None, ConfigError | None]:
    """The filter loop of ``convertHTTPRoute``: (mirror backend error, hard error)."""
    mirror_err: ConfigError | None = None
    for f in filters:
        if f.type in ("RequestHeaderModifier", "ResponseHeaderModifier"):
            h = create_headers_filter(
                f.requestHeaderModifier if f.type == "RequestHeaderModifier" else f.responseHeaderModifier
            )
            if h is not None:
                vs.setdefault("headers", {})[
                    "request" if f.type == "RequestHeaderModifier" else "response"
                ] = h
        elif f.type == "RequestRedirect" and kind == "HTTPRoute" and f.requestRedirect is not None:
            vs["redirect"] = create_redirect_filter(f.requestRedirect)
        elif f.type == "RequestMirror" and f.requestMirror is not None:
            mirror, err = create_mirror_filter(ctx, f.requestMirror, route.metadata.namespace, enforce, kind)
            if err is not None:
                if kind == "GRPCRoute":
                    return None, err  # convertGRPCRoute returns mirror errors as hard errors
                mirror_err = err
            else:
                vs.setdefault("mirrors", []).append(mirror)
        elif f.type == "URLRewrite" and kind == "HTTPRoute" and f.urlRewrite is not None:
            rewrite = create_rewrite_filter(f.urlRewrite)
            if rewrite is not None:
                vs["rewrite"] = rewrite
        elif f.type == "CORS" and kind == "HTTPRoute":
            vs["corsPolicy"] = f.cors  # createCorsFilter; not translated to Envoy by gatewaykit
        else:
            return None, ConfigError("InvalidFilter", f'unsupported filter type "{f.type}"')
    return mirror_err, None


def _apply_retry_and_timeouts(vs: dict[str, Any], rule: K.HTTPRouteRule) -> None:
    """The ``Retry`` and ``Timeouts`` part of ``convertHTTPRoute``."""
    if rule.retry is not None:
        retry_on = ["connect-failure", "refused-stream", "unavailable", "cancelled"]
        retry_on += [str(c) for c in rule.retry.codes]
        attempts = rule.retry.attempts if rule.retry.attempts is not None else 2
        retries: dict[str, Any] = {"attempts": attempts, "retryOn": ",".join(retry_on) if attempts else ""}
        backoff = gateway_api_duration(rule.retry.backoff or "")
        if backoff is not None:
            retries["backoff"] = duration_json(backoff)
        vs["retries"] = retries
    t = rule.timeouts
    if t is None:
        return
    request = gateway_api_duration(t.request or "")
    if request:
        vs["timeout"] = duration_json(request)
    backend = gateway_api_duration(t.backendRequest or "")
    if backend:
        if "retries" in vs:
            vs["retries"]["perTryTimeout"] = duration_json(backend)
        else:
            vs["timeout"] = duration_json(backend)


def convert_http_route(
    ctx: Context,
    rule: K.HTTPRouteRule,
    match: K.HTTPRouteMatch | None,
    route: K.HTTPRoute,
    pos: int,
    enforce: bool,
) -> tuple[dict[str, Any] | None, ConfigError | None]:
    """``convertHTTPRoute`` for one (rule, match): the Istio ``http`` route, and its error.

    A None route is a hard error (the whole route is dropped); otherwise the error is a soft one
    (an invalid backend or mirror), reported in ``ResolvedRefs``.
    """
    vs: dict[str, Any] = {"name": rule.name or f"{route.metadata.namespace}.{route.metadata.name}.{pos}"}
    if match is not None:
        m: dict[str, Any] = {"uri": create_uri_match(match.path)}
        if match.headers:
            m["headers"] = _string_matches(match.headers)
        if match.queryParams:
            m["queryParams"] = _string_matches(match.queryParams)
        if match.method is not None:
            m["method"] = {"exact": match.method}
        vs["match"] = [m]
    mirror_err, hard = _apply_filters(ctx, vs, rule.filters, route, enforce, "HTTPRoute")
    if hard is not None:
        return None, hard
    _apply_retry_and_timeouts(vs, rule)
    return _finish(ctx, vs, rule.backendRefs, route, enforce, "HTTPRoute", mirror_err)


def _finish(
    ctx: Context,
    vs: dict[str, Any],
    refs: Sequence[K.HTTPBackendRef],
    route: Any,
    enforce: bool,
    kind: str,
    mirror_err: ConfigError | None,
) -> tuple[dict[str, Any] | None, ConfigError | None]:
    if sum(r.weight for r in refs) == 0 and "redirect" not in vs:
        # "The spec requires us to return 500 when there are no >0 weight backends"
        vs["directResponse"] = {"status": 500}
        return vs, mirror_err
    dests, backend_err, hard = build_http_destination(ctx, refs, route.metadata.namespace, enforce, kind)
    if hard is not None:
        return None, hard
    if dests:
        vs["route"] = dests
    err = backend_err
    if mirror_err is not None:
        err = mirror_err if err is None else ConfigError(err.reason, f"{err.message}; {mirror_err.message}")
    return vs, err


def create_grpc_uri_match(m: K.GRPCMethodMatch | None) -> tuple[dict[str, str] | None, ConfigError | None]:
    """``createGRPCURIMatch``: ``/<service>/<method>`` as exact, prefix or regex."""
    if m is None:
        return None, None
    if m.method is None and m.service is None:
        return None, ConfigError("InvalidConfiguration", "gRPC match must have method or service defined")
    if m.type == "RegularExpression":
        if m.method is None:
            return {"regex": f"/{m.service}/.+"}, None
        if m.service is None:
            return {"regex": f"/[^/]+/{m.method}"}, None
        return {"regex": f"/{m.service}/{m.method}"}, None
    if m.method is None:
        return {"prefix": f"/{m.service}/"}, None
    if m.service is None:
        return {"regex": f"/[^/]+/{m.method}"}, None
    return {"exact": f"/{m.service}/{m.method}"}, None


def convert_grpc_route(
    ctx: Context,
    rule: K.GRPCRouteRule,
    match: K.GRPCRouteMatch | None,
    route: K.GRPCRoute,
    pos: int,
    enforce: bool,
) -> tuple[dict[str, Any] | None, ConfigError | None]:
    """``convertGRPCRoute`` for one (rule, match)."""
    vs: dict[str, Any] = {"name": rule.name or f"{route.metadata.namespace}.{route.metadata.name}.{pos}"}
    if match is not None:
        uri, err = create_grpc_uri_match(match.method)
        if err is not None:
            return None, err
        m: dict[str, Any] = {}
        if uri is not None:
            m["uri"] = uri
        if match.headers:
            m["headers"] = _string_matches(match.headers)
        vs["match"] = [m]
    mirror_err, hard = _apply_filters(ctx, vs, rule.filters, route, enforce, "GRPCRoute")
    if hard is not None:
        return None, hard
    return _finish(ctx, vs, rule.backendRefs, route, enforce, "GRPCRoute", mirror_err)


def _uri_rank(m: dict[str, Any]) -> tuple[int, int]:
    """``getURIRank`` and ``getURILength``: Exact > Prefix > Regex, then length."""
    uri = m.get("uri")
    if not uri:
        return -1, 0
    for rank, key in ((3, "exact"), (2, "prefix"), (1, "regex")):
        if key in uri:
            return rank, len(uri[key])
    return -1, -1


def _less(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if not a.get("match"):
        return False
    if not b.get("match"):
        return True
    m1, m2 = a["match"][0], b["match"][0]
    (r1, len1), (r2, len2) = _uri_rank(m1), _uri_rank(m2)
    if r1 != r2:
        return r1 > r2
    if len1 != len2:
        return len1 > len2
    if ("method" in m1) != ("method" in m2):
        return "method" in m1
    if len(m1.get("headers", {})) != len(m2.get("headers", {})):
        return len(m1.get("headers", {})) > len(m2.get("headers", {}))
    return len(m1.get("queryParams", {})) > len(m2.get("queryParams", {}))


def sort_http_routes(routes: list[dict[str, Any]]) -> None:
    """``sortHTTPRoutes``: the Gateway API's precedence (exact, longest prefix, method, headers, query)."""
    routes.sort(key=functools.cmp_to_key(lambda a, b: -1 if _less(a, b) else (1 if _less(b, a) else 0)))


def augment_port_match(routes: list[dict[str, Any]], port: int) -> list[dict[str, Any]]:
    """``augmentPortMatch``: mesh routes for a parentRef with a port match that port."""
    return _port_match(routes, port)


# --------------------------------------------------------------------------- collections


@dataclass(slots=True)
class _Rules:
    """``conversionResult``: the converted rules and the last error."""

    routes: list[dict[str, Any]]
    error: ConfigError | None = None


def _convert_rule(
    ctx: Context, rule: Any, route: Any, kind: str, pos: int, enforce: bool
) -> list[tuple[Any, Any]]:
    """One rule's Istio routes: one per match for HTTP/GRPC ("split the rule to make sure each rule
    has up to one match"), one per rule for TLS/TCP; a None route (hard error) ends the list."""
    if kind in ("TCPRoute", "TLSRoute"):
        return [convert_l4_route(ctx, rule, route, kind, enforce)]
    conv = convert_http_route if kind == "HTTPRoute" else convert_grpc_route
    out: list[tuple[Any, Any]] = []
    for m in rule.matches or (None,):
        r, err = conv(ctx, rule, m, route, pos, enforce)  # type: ignore[operator]
        out.append((r, err))
        if r is None:
            break
    return out


def _convert_rules(ctx: Context, route: Any, kind: str, mesh: bool) -> _Rules:
    """``convertRules`` of ``computeRoute``: a hard error drops every rule; else the last error is kept."""
    res = _Rules([])
    for pos, rule in enumerate(route.spec.rules):
        for r, err in _convert_rule(ctx, rule, route, kind, pos, not mesh):
            if r is None:
                return _Rules([], err)
            res.routes.append(r)
            if err is not None:
                res.error = err
    return res


_ZERO_WEIGHT = {"host": "internal.cluster.local", "subset": "zero-weight", "port": {"number": 65535}}


def convert_l4_route(
    ctx: Context, rule: Any, route: Any, kind: str, enforce: bool
) -> tuple[dict[str, Any] | None, ConfigError | None]:
    """``convertTLSRoute`` / ``convertTCPRoute``: one Istio tls/tcp route per rule."""
    match: dict[str, Any] = {}
    if kind == "TLSRoute":  # buildTLSMatch
        match = {"match": [{"sniHosts": list(route.spec.hostnames) or ["*"]}]}
    if sum(r.weight for r in rule.backendRefs) == 0:
        # "The spec requires us to reject connections when there are no >0 weight backends"
        return {"route": [{"destination": _ZERO_WEIGHT, "weight": 0}]}, None
    dests, invalid, hard = build_tcp_destination(
        ctx, rule.backendRefs, route.metadata.namespace, enforce, kind
    )
    if hard is not None:
        return None, hard
    return {**match, "route": dests}, invalid


def _mesh_hosts(ctx: Context, parent: RouteParentRef, route_ns: str) -> list[str]:
    ns = parent.original.namespace or route_ns
    if parent.internal_kind == SERVICE_ENTRY_GVK:
        se = ctx.service_entries.get((ns, parent.original.name))
        return list(se.spec.hosts) if se is not None else []
    return [f"{parent.original.name}.{ns}.svc.{H.DOMAIN_SUFFIX}"]


def _vs(
    name: str, route: Any, kind: str, host: str, gateway: str, section: str, routes: list[Any]
) -> dict[str, Any]:
    """A generated VirtualService (``routeMeta``: parents + gateway route semantics)."""
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {
            "name": name,
            "namespace": route.metadata.namespace,
            "annotations": {
                PARENTS: f"{kind}/{route.metadata.name}.{route.metadata.namespace}",
                ROUTE_SEMANTICS: "gateway",
            },
        },
        "spec": {"hosts": [host], "gateways": [gateway], section: routes},
    }


def _http_virtual_services(
    ctx: Context, route: Any, kind: str, refs: list[RouteParentRef], mesh: _Rules | None, gw: _Rules | None
) -> list[tuple[str, dict[str, Any]]]:
    """The per-route half of ``HTTPRouteCollection``: (merge key, VirtualService) per parent and host."""
    out: list[tuple[str, dict[str, Any]]] = []
    for parent in filtered_references(refs):
        key = parent.internal_name
        hosts = list(route.spec.hostnames) or ["*"]
        routes = gw.routes if gw is not None else []
        if parent.is_mesh():
            routes = mesh.routes if mesh is not None else []
            key = route.metadata.namespace
            if parent.original.port:
                routes = augment_port_match(routes, parent.original.port)
                key += f"/{parent.original.port}"
            hosts = _mesh_hosts(ctx, parent, route.metadata.namespace)
        if not routes:
            continue
        for h in hosts:
            if not parent.hostname_allowed_by_isolation(h):
                continue
            sorted_routes = list(routes)
            sort_http_routes(sorted_routes)
            out.append((f"{key}/{h}", _vs("", route, kind, h, parent.internal_name, "http", sorted_routes)))
    return out


def merge_http_routes(pending: list[tuple[str, int, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """``mergeHTTPRoutes``: one VirtualService per key, rules of all routes merged and re-sorted.

    The name is the key with ``/`` → ``~``; the oldest route provides namespace and base.
    """
    by_key: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for key, order, vs in pending:
        by_key.setdefault(key, []).append((order, vs))
    out: list[tuple[str, dict[str, Any]]] = []
    for key, items in by_key.items():
        items.sort(key=lambda t: (t[0], t[1]["metadata"]["namespace"]))
        base = {**items[0][1], "metadata": {**items[0][1]["metadata"]}, "spec": {**items[0][1]["spec"]}}
        base["metadata"]["annotations"] = dict(base["metadata"]["annotations"])
        if len(items) > 1:
            http = list(base["spec"]["http"])
            for _, other in items[1:]:
                http += other["spec"]["http"]
                parents = base["metadata"]["annotations"][PARENTS]
                base["metadata"]["annotations"][PARENTS] = (
                    f"{parents},{other['metadata']['annotations'][PARENTS]}"
                )
            sort_http_routes(http)
            base["spec"]["http"] = http
        base["metadata"]["name"] = key.replace("/", "~")
        out.append((key, base))
    return out


def _port_match(routes: list[dict[str, Any]], port: int | None) -> list[dict[str, Any]]:
    """``augmentTCPPortMatch`` / the port part of ``augmentTLSPortMatch``."""
    if not port:
        return routes
    return [
        {**r, "match": [{**m, "port": port} for m in r.get("match", [])] or [{"port": port}]} for r in routes
    ]


def _mesh_tls_routes(
    routes: list[dict[str, Any]], hosts: list[str], host: str, port: int | None
) -> list[dict[str, Any]]:
    """``augmentTLSPortMatch`` then ``compatibleRoutesForHost`` for a mesh TLSRoute."""
    out = []
    for r in routes:
        match = [dict(m) for m in r.get("match", [])]
        if len(match) == 1 and match[0].get("sniHosts") == ["*"]:
            match[0]["sniHosts"] = list(hosts)  # "we use parent hosts for SNI"
        if port:
            match = [{**m, "port": port} for m in match]
        if len(match) == 1 and len(match[0].get("sniHosts", [])) > 1:
            match[0]["sniHosts"] = [h for h in match[0]["sniHosts"] if H.matches(host, h)]
        out.append({**r, "match": match})
    return out


def _l4_virtual_services(
    ctx: Context, route: Any, kind: str, refs: list[RouteParentRef], mesh: _Rules | None, gw: _Rules | None
) -> list[dict[str, Any]]:
    """The VirtualService half of ``TLSRouteCollection`` / ``TCPRouteCollection`` (no merging)."""
    out: list[dict[str, Any]] = []
    section = "tls" if kind == "TLSRoute" else "tcp"
    count = 0
    for parent in filtered_references(refs):
        routes = gw.routes if gw is not None else []
        # TCP: "We can use wildcard here since each listener can have at most one route bound to it"
        hosts = (list(route.spec.hostnames) or ["*"]) if kind == "TLSRoute" else ["*"]
        if parent.is_mesh():
            routes = mesh.routes if mesh is not None else []
            hosts = _mesh_hosts(ctx, parent, route.metadata.namespace)
            if kind == "TCPRoute":
                routes = _port_match(routes, parent.original.port)
        for h in hosts:
            these = routes
            if parent.is_mesh() and kind == "TLSRoute":
                these = _mesh_tls_routes(routes, hosts, h, parent.original.port)
            name = f"{route.metadata.name}-{section}-{count}-istio-autogenerated-k8s-gateway"
            out.append(_vs(name, route, kind, h, parent.internal_name, section, these))
            count += 1
    return out


def _attach(
    out: Conversion, route: Any, kind: str, refs: list[RouteParentRef], seen: set[tuple[Any, ...]]
) -> None:
    """``gatewayRouteAttachmentCountCollection``: one per (route, Gateway, listener)."""
    for p in filtered_references(refs):
        gvk, ns, name = p.parent_key
        if gvk != KUBERNETES_GATEWAY_GVK:
            continue
        key = (kind, route.metadata.namespace, route.metadata.name, ns, name, p.section)
        if key in seen:
            continue
        seen.add(key)
        listeners = out.attached.setdefault((ns, name), {})
        listeners[p.section] = listeners.get(p.section, 0) + 1


def convert_routes(ctx: Context, snapshot: Any, out: Conversion) -> None:
    """Every route kind: VirtualServices into ``out.virtual_services``, status into ``out.route_reports``."""
    kinds: list[tuple[str, type]] = [("HTTPRoute", K.HTTPRoute), ("GRPCRoute", K.GRPCRoute)]
    if ctx.alpha:  # "If disabled, still build a collection but make it always empty"
        kinds += [("TCPRoute", K.TCPRoute), ("TLSRoute", K.TLSRoute)]
    seen: set[tuple[Any, ...]] = set()
    for kind, cls in kinds:
        pending: list[tuple[str, int, dict[str, Any]]] = []
        origins: dict[str, ResourceKey] = {}
        for order, route in enumerate(_items(snapshot, kind, cls)):
            refs = extract_parent_reference_info(ctx, out.parents, route, kind)
            need_mesh = any(r.is_mesh() for r in refs)
            need_gw = any(not r.is_mesh() for r in refs)
            mesh = _convert_rules(ctx, route, kind, True) if need_mesh else None
            gw = _convert_rules(ctx, route, kind, False) if need_gw else None
            results = [
                (
                    r.original,
                    r.denied,
                    (mesh.error if mesh is not None else None)
                    if r.is_mesh()
                    else (gw.error if gw is not None else None),
                )
                for r in refs
            ]
            out.route_reports[route.key] = RouteReport(route, kind, results)
            _attach(out, route, kind, refs, seen)
            if kind in ("HTTPRoute", "GRPCRoute"):
                for key, vs in _http_virtual_services(ctx, route, kind, refs, mesh, gw):
                    pending.append((key, order, vs))
                    origins.setdefault(key, route.key)
            else:
                for vs in _l4_virtual_services(ctx, route, kind, refs, mesh, gw):
                    out.virtual_services.append(Generated(_model(vs, route), route.key))
        for key, vs in merge_http_routes(pending):
            out.virtual_services.append(Generated(_model(vs, None), origins[key]))


def _model(raw: dict[str, Any], route: Any) -> VirtualService:
    model = from_dict(raw, route.source if route is not None else None)
    assert isinstance(model, VirtualService)
    return model
