"""VirtualService HTTP rules → Envoy routes (shared by gateways and sidecars).

Rule: no I/O here. A port of ``pilot/pkg/networking/core/route/route.go``:
``BuildHTTPRoutesForVirtualService``, ``TranslateRoute``, ``TranslateRouteMatch``,
``GetDestinationCluster``, ``ApplyRedirect``, ``GetRouteOperation``, ``SortVHostRoutes`` and the
default retry policy of ``route/retry/retry.go`` (docs/behaviour.md §1.3, §1.4, §4.2).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from gatewaykit._translate import hosts as H
from gatewaykit.envoy import (
    DirectResponseAction,
    FaultAbort,
    FaultDelay,
    HeaderMatcher,
    HttpFault,
    RedirectAction,
    RequestMirrorPolicy,
    RetryPolicy,
    Route,
    RouteAction,
    RouteMatch,
    WeightedCluster,
)
from gatewaykit.resources.models import (
    Destination,
    HTTPMatchRequest,
    HTTPRoute,
    HTTPRouteDestination,
    PortSelector,
    StringMatch,
    VirtualService,
    parse_duration,
)

__all__ = [
    "ROUTE_SEMANTICS",
    "BoundVirtualService",
    "ServiceLookup",
    "build_http_routes",
    "cluster_name",
    "destination_cluster",
    "is_catch_all",
    "mirror_destinations",
    "sort_vhost_routes",
    "translate_fault",
    "use_gateway_semantics",
]

#: ``lookup(hostname) -> tuple of service port numbers`` or None when the host is unknown.
ServiceLookup = Callable[[str], "tuple[int, ...] | None"]

# Istio retry.DefaultPolicy: 2 retries on connect-failure,refused-stream,unavailable,cancelled,
# retriable-status-codes -- with *no* retriable status codes since Istio 1.24, where
# EXCLUDE_UNSAFE_503_FROM_DEFAULT_RETRY defaults to true (pilot/pkg/features; istio#50506), so an
# application's own 503 is not retried by default.
DEFAULT_RETRY = RetryPolicy()


def cluster_name(port: int, subset: str, host: str) -> str:
    """Istio ``BuildSubsetKey``: ``outbound|<port>|<subset>|<host>``."""
    return f"outbound|{port}|{subset}|{host}"


@dataclass(frozen=True, slots=True)
class BoundVirtualService:
    """A VirtualService with its names resolved the way istiod resolves them on read.

    ``hosts`` are short names expanded to FQDNs in the VirtualService namespace
    (``ResolveShortnameToFQDN``); ``gateways`` are ``<ns>/<name>`` or ``mesh`` (``mesh`` when
    omitted, docs/behaviour.md §4.2); ``export_to`` has ``.`` replaced by the namespace.
    """

    vs: VirtualService
    namespace: str
    name: str
    hosts: tuple[str, ...]
    gateways: tuple[str, ...]
    export_to: frozenset[str]
    gateway_semantics: bool = False

    @classmethod
    def of(cls, vs: VirtualService) -> BoundVirtualService:
        """Resolve ``vs`` (pure; cheap)."""
        ns = vs.metadata.namespace
        spec = vs.spec
        gws = tuple(H.resolve_gateway_name(g, ns) for g in spec.gateways) or ("mesh",)
        export = frozenset(ns if e == "." else e for e in spec.exportTo) or frozenset({"*"})
        gateway_semantics = use_gateway_semantics(vs)
        return cls(
            vs=vs,
            namespace=ns,
            name=vs.metadata.name,
            # resolveVirtualServiceShortnames: "Kubernetes Gateway API semantics do not support
            # shortnames" (pilot/pkg/model/virtualservice.go).
            hosts=tuple(spec.hosts)
            if gateway_semantics
            else tuple(H.resolve_shortname(h, ns) for h in spec.hosts),
            gateways=gws,
            export_to=export,
            gateway_semantics=gateway_semantics,
        )

    def visible_to(self, namespace: str) -> bool:
        """``exportTo`` check (docs/behaviour.md §4.1): ``*``, the namespace itself; ``~`` hides it."""
        if "~" in self.export_to:
            return False
        return "*" in self.export_to or namespace in self.export_to


#: istiod's annotation on VirtualServices it generated from Gateway API routes
#: (pkg/config/constants ``InternalRouteSemantics`` = ``RouteSemanticsGateway``).
ROUTE_SEMANTICS = "internal.istio.io/route-semantics"


def use_gateway_semantics(vs: VirtualService) -> bool:
    """Istio ``model.UseGatewaySemantics``: the VirtualService was generated from a Gateway API route."""
    return vs.metadata.annotations.get(ROUTE_SEMANTICS) == "gateway"


def go_quote_meta(s: str) -> str:
    """Go ``regexp.QuoteMeta``: backslash-escape ``\\.+*?()|[]{}^$``."""
    return "".join("\\" + c if c in "\\.+*?()|[]{}^$" else c for c in s)


def destination_cluster(dest: Destination | None, ns: str, lookup: ServiceLookup, listen_port: int) -> str:
    """Istio ``GetDestinationCluster``: the cluster a destination refers to.

    The port is the destination's ``port.number``; else the service's only port; else the
    listener port (docs/behaviour.md §4.2, route.go).
    """
    if dest is None or not dest.host:
        return "UnknownService"
    host = H.resolve_shortname(dest.host, ns)
    port = listen_port
    if dest.port is not None and dest.port.number:
        port = dest.port.number
    else:
        ports = lookup(host)
        if ports is not None and len(ports) == 1:
            port = ports[0]
    return cluster_name(port, dest.subset, host)


def _header_matcher(name: str, m: StringMatch | None) -> HeaderMatcher:
    # canBeConvertedToPresentMatch: no match type, or regex "*" → present_match.
    if m is None or (m.exact is None and m.prefix is None and m.regex is None) or m.regex == "*":
        return HeaderMatcher(name=name, present=True)
    if m.exact is not None:
        return HeaderMatcher(name=name, exact=m.exact)
    if m.prefix is not None:
        return HeaderMatcher(name=name, prefix=m.prefix)
    return HeaderMatcher(name=name, safe_regex=m.regex)


def translate_match(m: HTTPMatchRequest | None, gateway_semantics: bool = False) -> RouteMatch:
    """Istio ``TranslateRouteMatch`` (headers sorted by name; method/authority/scheme appended).

    With Gateway API semantics a prefix other than ``/`` becomes a ``path_separated_prefix``
    without its trailing ``/`` ("/get" matches /get and /get/x, not /getx).
    """
    if m is None:
        return RouteMatch(prefix="/")
    headers: list[HeaderMatcher] = [_header_matcher(k.lower(), v) for k, v in m.headers.items()]
    for k, v in m.withoutHeaders.items():
        hm = _header_matcher(k.lower(), v)
        headers.append(
            HeaderMatcher(
                name=hm.name,
                exact=hm.exact,
                prefix=hm.prefix,
                safe_regex=hm.safe_regex,
                present=hm.present,
                invert_match=True,
            )
        )
    headers.sort(key=lambda h: h.name)
    prefix = path = regex = separated = None
    if m.uri is not None and m.uri.exact is not None:
        path = m.uri.exact
    elif m.uri is not None and m.uri.prefix is not None:
        if gateway_semantics and m.uri.prefix != "/":
            separated = m.uri.prefix.rstrip("/")
        else:
            prefix = m.uri.prefix
    elif m.uri is not None and m.uri.regex is not None:
        regex = m.uri.regex
    else:
        prefix = "/"
    if m.method is not None:
        headers.append(_header_matcher(":method", m.method))
    if m.authority is not None:
        headers.append(_header_matcher(":authority", m.authority))
    if m.scheme is not None:
        headers.append(_header_matcher(":scheme", m.scheme))
    query = tuple(_header_matcher(k, v) for k, v in m.queryParams.items())
    return RouteMatch(
        prefix=prefix,
        path=path,
        safe_regex=regex,
        case_sensitive=not m.ignoreUriCase,
        headers=tuple(headers),
        query_parameters=query,
        path_separated_prefix=separated,
    )


def is_catch_all(r: Route) -> bool:
    """Istio ``IsCatchAllRoute``: prefix ``/`` or regex ``.*`` with no header/query match."""
    m = r.match
    catch = m.prefix == "/" or m.safe_regex == ".*"
    return catch and not m.headers and not m.query_parameters


def sort_vhost_routes(routes: list[Route]) -> list[Route]:
    """Istio ``SortVHostRoutes``: catch-all routes move to the end, order otherwise kept
    (docs/behaviour.md §4.2)."""
    normal: list[Route] = []
    catch_all: list[Route] = []
    for r in routes:
        (catch_all if is_catch_all(r) else normal).append(r)
    return normal + catch_all


def _operation(m: RouteMatch, action: RouteAction | None, vs_name: str, port: int) -> str:
    """Istio ``GetRouteOperation`` → ``x-envoy-decorator-operation`` (docs/behaviour.md §1.3): of
    the finished route's match and action."""
    if m.matched_prefix is not None:
        path = m.matched_prefix + "*"
    elif m.path is not None:
        path = m.path
    elif m.safe_regex is not None:
        path = m.safe_regex
    else:
        path = "/*"
    c = action.cluster if action is not None else None
    if c and c.startswith("outbound|") and c.count("|") == 3:
        _, p, _, h = c.split("|")
        return f"{h}:{p}{path}"
    return f"{vs_name}:{port}{path}"


def _retry(in_route: HTTPRoute) -> RetryPolicy | None:
    """Istio ``retry.ConvertPolicy``: default 2 retries, ``attempts: 0`` disables them.

    See docs/behaviour.md §1.4 (the notes under the table)."""
    r = in_route.retries
    if r is None:
        return DEFAULT_RETRY
    if not r.attempts or r.attempts <= 0:
        return None
    retry_on = DEFAULT_RETRY.retry_on
    codes: tuple[int, ...] = ()
    if r.retryOn:
        parts = [p.strip() for p in r.retryOn.split(",") if p.strip()]
        codes = tuple(int(p) for p in parts if p.isdigit())
        names = [p for p in parts if not p.isdigit()]
        retry_on = ",".join(names)
        if codes and "retriable-status-codes" not in retry_on:
            retry_on = (retry_on + ",retriable-status-codes") if retry_on else "retriable-status-codes"
    return RetryPolicy(
        retry_on=retry_on,
        num_retries=r.attempts,
        per_try_timeout=parse_duration(r.perTryTimeout),
        retriable_status_codes=codes,
    )


_INTERNAL_AUTHORITY = (":authority", "host")


@dataclass(slots=True)
class _HeadersOperations:
    """Istio ``HeadersOperations``: what a route adds to and removes from requests and responses,
    and the ``:authority`` it sets (route.go ``TranslateHeadersOperations``)."""

    request_to_add: list[tuple[str, str]] = field(default_factory=list)
    request_to_remove: list[str] = field(default_factory=list)
    response_to_add: list[tuple[str, str]] = field(default_factory=list)
    response_to_remove: list[str] = field(default_factory=list)
    authority: str = ""

    def extend(self, other: _HeadersOperations) -> None:
        """Append a destination's operations (``processDestination``); the route's own
        ``:authority`` wins over the destination's."""
        self.request_to_add += other.request_to_add
        self.request_to_remove += other.request_to_remove
        self.response_to_add += other.response_to_add
        self.response_to_remove += other.response_to_remove
        if other.authority and not self.authority:
            self.authority = other.authority


def _header_ops(headers: object) -> _HeadersOperations:
    """Istio ``TranslateHeadersOperations`` of a ``headers`` block (None: no operations)."""
    ops = _HeadersOperations()
    req = getattr(headers, "request", None)
    resp = getattr(headers, "response", None)
    if req is not None:
        for k, v in sorted({**req.add, **req.set}.items()):
            if k.lower() in _INTERNAL_AUTHORITY:
                ops.authority = v
                continue
            if k.startswith(":"):
                continue
            ops.request_to_add.append((k, v))
        ops.request_to_remove.extend(k for k in req.remove if not k.startswith(":"))
    if resp is not None:
        for k, v in sorted({**resp.add, **resp.set}.items()):
            if k.startswith(":"):
                continue
            ops.response_to_add.append((k, v))
        ops.response_to_remove.extend(k for k in resp.remove if not k.startswith(":"))
    return ops


def _redirect(
    in_route: HTTPRoute, port: int, is_tls: bool, gateway_semantics: bool = False
) -> RedirectAction | None:
    """Istio ``ApplyRedirect`` (default ports dropped; 301 default; non-3xx codes → no action).

    With Gateway API semantics a ``%PREFIX()%<path>`` uri is a prefix rewrite of the matched prefix.
    """
    rd = in_route.redirect
    assert rd is not None
    code = {0: 301, 301: 301, 302: 302, 303: 303, 307: 307, 308: 308}.get(rd.redirectCode)
    if code is None:
        return None
    port_redirect: int | None = None
    if rd.port is not None or rd.derivePort:
        if rd.derivePort == "FROM_REQUEST_PORT":
            port_redirect = port
        elif rd.port is not None:
            port_redirect = rd.port
        scheme = rd.scheme or ("https" if is_tls else "http")
        if (port_redirect == 80 and scheme == "http") or (port_redirect == 443 and scheme == "https"):
            port_redirect = None
    path_redirect, prefix_rewrite = rd.uri or None, None
    if gateway_semantics and rd.uri.startswith("%PREFIX()%"):
        path_redirect, prefix_rewrite = None, rd.uri[len("%PREFIX()%") :]
    return RedirectAction(
        scheme_redirect=rd.scheme or None,
        host_redirect=rd.authority or None,
        port_redirect=port_redirect,
        path_redirect=path_redirect,
        prefix_rewrite=prefix_rewrite,
        response_code=code,
    )


def _source_match(
    m: HTTPMatchRequest | None,
    labels: Mapping[str, str],
    gateways: Collection[str],
    proxy_ns: str,
    vs_ns: str,
) -> bool:
    """Istio ``sourceMatchHTTP``: ``match.gateways`` or ``sourceLabels``/``sourceNamespace``."""
    if m is None:
        return True
    if m.gateways:
        return any(H.resolve_gateway_name(g, vs_ns) in gateways for g in m.gateways)
    if all(labels.get(k) == v for k, v in m.sourceLabels.items()):
        return not m.sourceNamespace or m.sourceNamespace == proxy_ns
    return False


def _percent(p: Any) -> float | None:
    """Istio ``translatePercentToFractionalPercent``: ``Percent{value}`` → percent, or None if unset.

    Istio sends ``numerator = uint32(value * 10000)`` over a denominator of a MILLION, so the
    value is truncated to 1/10000 of a percent; ``{}`` (no value) is 0 %.
    """
    if not isinstance(p, Mapping):
        return None
    v = p.get("value")
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
        return 0.0
    return int(v * 10000) / 10000


def translate_fault(fault: Any) -> HttpFault | None:
    """Istio ``TranslateFault``: VirtualService ``fault`` → the route's fault filter config.

    * ``delay.fixedDelay`` with ``delay.percentage.value`` (else the deprecated integer
      ``percent``; neither means 0 %: "If left unspecified, no request will be delayed").
      ``exponentialDelay`` is not supported by Istio ("Exponential faults are not yet
      supported"): no delay.
    * ``abort.httpStatus`` with ``abort.percentage.value`` (unset: Envoy's zero
      FractionalPercent, i.e. never). ``grpcStatus`` aborts are not modelled (no abort).

    Returns:
        The :class:`HttpFault`, or None when neither a delay nor an abort results.
    """
    if not isinstance(fault, Mapping):
        return None
    delay: FaultDelay | None = None
    d = fault.get("delay")
    if isinstance(d, Mapping):
        pct = _percent(d.get("percentage"))
        if pct is None:
            legacy = d.get("percent")
            pct = float(legacy) if isinstance(legacy, int) and not isinstance(legacy, bool) else 0.0
        seconds = parse_duration(d.get("fixedDelay")) if isinstance(d.get("fixedDelay"), str) else None
        if seconds is not None:
            delay = FaultDelay(fixed_delay=seconds, percentage=pct)
    abort: FaultAbort | None = None
    a = fault.get("abort")
    if isinstance(a, Mapping):
        status = a.get("httpStatus")
        if isinstance(status, int) and not isinstance(status, bool):
            abort = FaultAbort(http_status=status, percentage=_percent(a.get("percentage")) or 0.0)
    if delay is None and abort is None:
        return None
    return HttpFault(delay=delay, abort=abort)


def _destination(raw: Any) -> Destination | None:
    """A free-form ``mirrors[].destination`` mapping as a :class:`Destination`."""
    if isinstance(raw, Destination):
        return raw
    if not isinstance(raw, Mapping):
        return None
    host, subset, port = raw.get("host"), raw.get("subset"), raw.get("port")
    number = port.get("number") if isinstance(port, Mapping) else None
    return Destination(
        host=host if isinstance(host, str) else "",
        subset=subset if isinstance(subset, str) else "",
        port=PortSelector(number) if isinstance(number, int) and not isinstance(number, bool) else None,
    )


def mirror_destinations(in_route: HTTPRoute) -> list[tuple[Destination, float]]:
    """Istio ``MirrorPercent`` / ``MirrorPercentByPolicy``: (destination, percent) to mirror to.

    ``mirror`` uses ``mirrorPercentage`` (default 100 %); each ``mirrors[]`` entry its own
    ``percentage`` (default 100 %). An explicit 0 % means "do not mirror" and is dropped.
    """
    out: list[tuple[Destination, float]] = []
    if in_route.mirror is not None:
        pct = _percent(in_route.mirrorPercentage)
        if pct is None:
            pct = 100.0
        if pct > 0:
            out.append((in_route.mirror, pct))
    mirrors = in_route.mirrors if isinstance(in_route.mirrors, (tuple, list)) else ()
    for m in mirrors:
        if not isinstance(m, Mapping):
            continue
        dest = _destination(m.get("destination"))
        if dest is None:
            continue
        pct = _percent(m.get("percentage"))
        if pct is None:
            pct = 100.0
        if pct > 0:
            out.append((dest, pct))
    return out


def _translate_route(
    bvs: BoundVirtualService,
    in_route: HTTPRoute,
    m: HTTPMatchRequest | None,
    listen_port: int,
    gateways: Collection[str],
    lookup: ServiceLookup,
    labels: Mapping[str, str],
    proxy_ns: str,
    is_tls: bool,
) -> Route | None:
    """Istio ``TranslateRoute`` for one match (None: filtered by port / gateways / source)."""
    if m is not None and m.port and m.port != listen_port:
        return None
    if not _source_match(m, labels, gateways, proxy_ns, bvs.namespace):
        return None
    name = in_route.name
    if m is not None and m.name:
        name = f"{name}.{m.name}"
    gw_semantics = bvs.gateway_semantics
    match = translate_match(m, gw_semantics)
    ops = _header_ops(in_route.headers) if in_route.headers is not None else _HeadersOperations()
    action: RouteAction | None = None
    redirect: RedirectAction | None = None
    direct: DirectResponseAction | None = None
    if in_route.redirect is not None:
        redirect = _redirect(in_route, listen_port, is_tls, gw_semantics)
        if redirect is None:
            return None
    elif in_route.directResponse is not None:
        direct = DirectResponseAction(
            status=in_route.directResponse.status, body=in_route.directResponse.body
        )
    else:
        action = _apply_http_route_destination(bvs, in_route, match, listen_port, lookup, ops)
    # TranslateRoute: the decorator is computed from the finished route; the fault filter's
    # per-route config goes into typed_per_filter_config whatever the action (route.go).
    return Route(
        name=name,
        match=match,
        route=action,
        redirect=redirect,
        direct_response=direct,
        decorator_operation=_operation(match, action, bvs.name, listen_port),
        request_headers_to_add=tuple(ops.request_to_add),
        request_headers_to_remove=tuple(ops.request_to_remove),
        response_headers_to_add=tuple(ops.response_to_add),
        response_headers_to_remove=tuple(ops.response_to_remove),
        fault=translate_fault(in_route.fault),
        origin=f"{bvs.namespace}/{bvs.name}",
    )


def _apply_http_route_destination(
    bvs: BoundVirtualService,
    in_route: HTTPRoute,
    match: RouteMatch,
    listen_port: int,
    lookup: ServiceLookup,
    ops: _HeadersOperations,
) -> RouteAction:
    """Istio ``applyHTTPRouteDestination``: timeout, rewrite, destination cluster(s), retries and
    mirrors; a single destination's header operations are added to ``ops`` (``processDestination``)."""
    gw_semantics = bvs.gateway_semantics
    prefix_rewrite = regex_rewrite = None
    if in_route.rewrite is not None:
        rw = in_route.rewrite
        if rw.uriRegexRewrite is not None:
            regex_rewrite = (rw.uriRegexRewrite.match, rw.uriRegexRewrite.rewrite)
        elif rw.uri == "/" and gw_semantics:
            # applyHTTPRouteDestination: remove the prefix, keeping a "/" (route.go).
            sep = go_quote_meta(match.path_separated_prefix or "")
            regex_rewrite = (f"^{sep}(/?)(.*)", "/\\2")
        elif rw.uri:
            prefix_rewrite = rw.uri
        if rw.authority:
            ops.authority = rw.authority
    dests: tuple[HTTPRouteDestination, ...] = in_route.route
    cluster: str | None = None
    weighted: tuple[WeightedCluster, ...] = ()
    if len(dests) == 1:
        cluster = destination_cluster(dests[0].destination, bvs.namespace, lookup, listen_port)
        if dests[0].headers is not None:
            ops.extend(_header_ops(dests[0].headers))
    else:
        # processWeightedDestination: zero-weight destinations are dropped when there are several.
        weighted = tuple(
            WeightedCluster(
                name=destination_cluster(d.destination, bvs.namespace, lookup, listen_port), weight=d.weight
            )
            for d in dests
            if d.weight != 0
        )
    # Mirror first, then mirrors[], each a RequestMirrorPolicy to the destination's cluster
    # (GetDestinationCluster, like route destinations).
    mirrors = tuple(
        RequestMirrorPolicy(
            cluster=destination_cluster(dest, bvs.namespace, lookup, listen_port), runtime_fraction=pct
        )
        for dest, pct in mirror_destinations(in_route)
    )
    return RouteAction(
        cluster=cluster,
        weighted_clusters=weighted,
        # "return 500 for invalid backends" under Gateway API semantics (route.go).
        cluster_not_found_response_code=500 if gw_semantics else 503,
        timeout=parse_duration(in_route.timeout) or 0.0,
        retry_policy=_retry(in_route),
        prefix_rewrite=prefix_rewrite,
        regex_rewrite=regex_rewrite,
        host_rewrite_literal=ops.authority or None,
        request_mirror_policies=mirrors,
    )


def build_http_routes(
    bvs: BoundVirtualService,
    listen_port: int,
    gateways: Collection[str],
    lookup: ServiceLookup,
    *,
    labels: Mapping[str, str] | None = None,
    proxy_ns: str = "",
    is_tls: bool = False,
) -> list[Route]:
    """Istio ``BuildHTTPRoutesForVirtualService``: the routes one VirtualService contributes.

    Args:
        bvs: the resolved VirtualService.
        listen_port: the server port (gateway) or listener port (sidecar); ``match.port``
            filters against it.
        gateways: the gateway names being built (``{"ns/gw"}`` or ``{"mesh"}``) for
            ``match.gateways``.
        lookup: service port lookup for destinations without a port.
        labels: the proxy's labels (``sourceLabels``); proxy_ns: its namespace.
        is_tls: the server terminates TLS (redirect scheme default).

    Returns:
        Routes in rule order, stopping after the first catch-all; empty when no rule applies
        (istiod then omits the VirtualService: "no routes matched").
    """
    out: list[Route] = []
    lbls = labels or {}
    for http in bvs.vs.spec.http:
        catchall = False
        if not http.match:
            r = _translate_route(bvs, http, None, listen_port, gateways, lookup, lbls, proxy_ns, is_tls)
            if r is not None:
                out.append(r)
            catchall = True
        else:
            for m in http.match:
                r = _translate_route(bvs, http, m, listen_port, gateways, lookup, lbls, proxy_ns, is_tls)
                if r is not None:
                    out.append(r)
                    # Routes match in order: nothing after a catch-all can ever match.
                    if is_catch_all(r):
                        catchall = True
                        break
        if catchall:
            break
    return out
