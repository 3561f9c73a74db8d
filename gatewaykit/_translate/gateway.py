"""Gateway proxies: the listeners, filter chains and route configurations of merged Gateways.

Rule: no I/O here. A port of istiod's ``pilot/pkg/networking/core/gateway.go``
(``buildGatewayListeners``, ``buildGatewayHTTPRouteConfig``, ``createGatewayTCPFilterChainOpts``,
``buildGatewayNetworkFiltersFromTCPRoutes/TLSRoutes``, ``collapseDuplicateRoutes``) over the
``MergedGateway`` of :mod:`.merged_gateway` (``pilot/pkg/model/gateway.go``), docs/behaviour.md §2–§10.
istiod's log lines are reproduced verbatim (Go ``%v`` of a string slice prints ``[a b]``).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from gatewaykit._gofmt import format_list, quote
from gatewaykit._translate import hosts as H
from gatewaykit._translate.merged_gateway import (
    GatewayServer,
    MergedGateway,
    ServerPortResolver,
    check_duplicates,
    merge_gateways,
)
from gatewaykit._translate.merged_gateway import clear_caches as merged_gateway_clear_caches
from gatewaykit._translate.mesh import Pod
from gatewaykit._translate.routes import (
    BoundVirtualService,
    ServiceLookup,
    build_http_routes,
    destination_cluster,
    mirror_destinations,
    sort_vhost_routes,
)
from gatewaykit.envoy import (
    DownstreamTlsContext,
    FilterChain,
    FilterChainMatch,
    HttpConnectionManager,
    Listener,
    Route,
    RouteConfiguration,
    TcpProxy,
    VirtualHost,
    WeightedCluster,
)
from gatewaykit.resources import protocol as P
from gatewaykit.resources.models import Gateway, RouteDestination

__all__ = ["GatewayBuild", "Memo", "VirtualServiceIndex", "build_gateway_proxy", "clear_caches"]


# ----------------------------------------------------------- VirtualService index


class VirtualServiceIndex:
    """istiod's ``virtualServiceIndex``: VirtualServices by bound gateway and visibility.

    ``for_gateway(proxy_ns, gateway)`` returns them in ``VirtualServicesForGateway`` order:
    private to the proxy namespace, exported to it, then public -- each in creation order.
    """

    def __init__(self, vss: Sequence[BoundVirtualService]) -> None:
        self.private: dict[tuple[str, str], list[BoundVirtualService]] = {}
        self.exported: dict[tuple[str, str], list[BoundVirtualService]] = {}
        self.public: dict[str, list[BoundVirtualService]] = {}
        self._cache: dict[tuple[str, str], list[BoundVirtualService]] = {}
        for b in vss:
            if "*" in b.export_to:
                for gw in b.gateways:
                    self.public.setdefault(gw, []).append(b)
            elif "~" not in b.export_to:
                for e in sorted(b.export_to):
                    for gw in b.gateways:
                        if e == b.namespace:
                            self.private.setdefault((e, gw), []).append(b)
                        else:
                            self.exported.setdefault((e, gw), []).append(b)

    def for_gateway(self, proxy_ns: str, gateway: str) -> list[BoundVirtualService]:
        """``PushContext.VirtualServicesForGateway``.

        Among the public ones, Gateway API routes in the proxy's namespace come first: "Favor
        same-namespace Gateway routes, to give the 'consumer override' preference".
        """
        key = (proxy_ns, gateway)
        got = self._cache.get(key)
        if got is None:
            public = self.public.get(gateway, [])
            own = [b for b in public if b.gateway_semantics and b.namespace == proxy_ns]
            rest = [b for b in public if b not in own] if own else public
            got = self.private.get(key, []) + self.exported.get(key, []) + own + rest
            self._cache[key] = got
        return got


# ------------------------------------------------------------- filter chains


def downstream_tls(s: GatewayServer) -> DownstreamTlsContext | None:
    """``BuildListenerTLSContext`` for a terminating server: SDS names only (docs/behaviour.md §8)."""
    tls = s.server.tls
    if tls is None or s.passthrough:
        return None
    mode = tls.mode
    require = mode in ("MUTUAL", "ISTIO_MUTUAL")
    validate = require or mode == "OPTIONAL_MUTUAL"
    cert = val = None
    certs: tuple[str, ...] = ()
    if mode == "ISTIO_MUTUAL":
        cert, val = "default", "ROOTCA"
    elif tls.credentialNames or tls.credentialName:
        # ApplyCredentialSDSToServerCommonTLSContext: one SDS certificate per credentialNames entry
        # (an RSA and an ECDSA one); "we only support one CA certificate for all credentialNames.
        # Thus we use the first one as CA" (pilot/pkg/security/model/authentication.go).
        given = tls.credentialNames or (tls.credentialName,)
        names = [n if "://" in n else f"kubernetes://{n}" for n in given]
        cert = names[0]
        if tls.credentialNames:
            certs = tuple(names)
        if validate:
            val = f"{cert}-cacert"
    else:
        if tls.serverCertificate or tls.privateKey:
            cert = f"file-cert:{tls.serverCertificate}~{tls.privateKey}"
        if validate and tls.caCertificates:
            val = f"file-root:{tls.caCertificates}"
    return DownstreamTlsContext(
        mode=mode if mode in ("SIMPLE", "MUTUAL", "OPTIONAL_MUTUAL", "ISTIO_MUTUAL") else "SIMPLE",  # type: ignore[arg-type]
        certificate_sds=cert,
        validation_sds=val,
        require_client_certificate=require,
        certificate_sds_list=certs,
        min_protocol_version=tls.minProtocolVersion or None,
        max_protocol_version=tls.maxProtocolVersion or None,
        cipher_suites=tuple(tls.cipherSuites),
        subject_alt_names=tuple(tls.subjectAltNames),
    )


def _fc_match(sni: Sequence[str]) -> FilterChainMatch:
    # toFilterChainMatch: a host list containing "*" disables SNI matching (docs/behaviour.md §4.4); sorted.
    if not sni or "*" in sni:
        return FilterChainMatch()
    return FilterChainMatch(server_names=tuple(sorted(sni)))


def _tcp_proxy(routes: Sequence[RouteDestination], ns: str, lookup: ServiceLookup, port: int) -> TcpProxy:
    """``buildOutboundNetworkFilters``: one cluster, or weighted clusters."""
    if len(routes) == 1:
        c = destination_cluster(routes[0].destination, ns, lookup, port)
        return TcpProxy(stat_prefix=c, cluster=c)
    weighted = tuple(
        WeightedCluster(destination_cluster(r.destination, ns, lookup, port), r.weight)
        for r in routes
        if r.weight
    )
    return TcpProxy(stat_prefix="", weighted_clusters=weighted)


def _pick_matching_hosts(server_hosts: Sequence[str], b: BoundVirtualService) -> bool:
    """``pickMatchingGatewayHosts`` (non-empty result?): namespace part must be the VS namespace."""
    for vh in b.hosts:
        for gh in server_hosts:
            g = gh
            if "/" in g:
                ns, _, g = g.partition("/")
                if ns != b.namespace:
                    continue
            if H.matches(g, vh):
                return True
    return False


def _l4_match(port: int | None, gateways: Sequence[str], s: GatewayServer, vs_ns: str) -> bool:
    """``l4SingleMatch``: port and gateway predicates."""
    if port and port != s.number:
        return False
    if gateways and not any(H.resolve_gateway_name(g, vs_ns) == s.gw_name for g in gateways):
        return False
    return True


# ------------------------------------------------------------------- builder


@dataclass(slots=True)
class GatewayBuild:
    """The listeners and route configurations of one gateway proxy, and istiod's log lines."""

    listeners: list[Listener]
    route_configs: dict[str, RouteConfiguration]
    sds: list[str]
    log: list[str]


@dataclass(slots=True)
class _VHost:
    name: str
    domains: list[str]
    routes: list[Route]
    require_tls: bool = False


RouteCache = dict[tuple[object, ...], tuple[object, list[Route]]]

_MISS: Any = object()


class Memo:
    """Results remembered per slot, reused while their inputs are the very same objects.

    Models are immutable and the config store hands out the same object for an unchanged
    manifest, so "same inputs" is cheap to check: a value key (names, ports) compared with
    ``==`` plus the input objects compared with ``is``. Each slot keeps one entry (the last
    translation), which is what re-translation after one apply needs; the objects are held, so
    their ``id`` can never be reused by another object while the entry lives.
    """

    __slots__ = ("_slots", "max_slots")

    def __init__(self, max_slots: int = 20_000) -> None:
        self._slots: dict[Hashable, tuple[Hashable, tuple[object, ...], Any]] = {}
        self.max_slots = max_slots

    def get(self, slot: Hashable, key: Hashable, objs: tuple[object, ...]) -> Any:
        """The remembered result, or the module's ``_MISS`` sentinel."""
        got = self._slots.get(slot)
        if got is None or got[0] != key:
            return _MISS
        old = got[1]
        if len(old) != len(objs) or any(a is not b for a, b in zip(old, objs, strict=True)):
            return _MISS
        return got[2]

    def put(self, slot: Hashable, key: Hashable, objs: tuple[object, ...], value: Any) -> None:
        """Remember ``value`` for ``slot`` (replacing what was there)."""
        if len(self._slots) >= self.max_slots and slot not in self._slots:
            self._slots.clear()
        self._slots[slot] = (key, objs, value)

    def clear(self) -> None:
        """Forget everything."""
        self._slots.clear()


def build_gateway_proxy(
    pod: Pod,
    gateways: Sequence[Gateway],
    resolve_port: Callable[[int], int],
    vs_index: VirtualServiceIndex,
    lookup: ServiceLookup,
    route_cache: RouteCache | None = None,
    *,
    memo: Memo | None = None,
    port_key: Hashable = None,
    lookup_key: object = None,
    resolve_server: ServerPortResolver | None = None,
) -> GatewayBuild:
    """Build the listeners and route configurations of one gateway pod.

    Args:
        pod: the gateway pod (its namespace scopes VirtualService visibility and secrets).
        gateways: the Gateways selecting it, in creation order (docs/behaviour.md §3).
        resolve_port: Gateway port number → listener port (``resolvePorts``, docs/behaviour.md §2).
        vs_index: VirtualServices by gateway.
        lookup: service ports by host (for destination clusters).
        route_cache: optional memo of VirtualService routes, shared across translations.
        memo: optional :class:`Memo` shared across translations: the merged gateways, the
            listeners and each route configuration are reused while their inputs are the same
            objects (istiod's per-proxy push would recompute them; the result is identical).
        port_key: a hashable value standing for ``resolve_port`` (its port → target pairs);
            without it the merge is not reused.
        lookup_key: an object standing for ``lookup`` (same object ⇒ same answers); without it
            listeners with TCP/TLS routes are not reused.
        resolve_server: per-Gateway port resolution (see :func:`merge_gateways`); ``port_key``
            must then stand for it too.

    Returns:
        A :class:`GatewayBuild`; no listener at all when nothing selects the pod.
    """
    log: list[str] = []
    if not gateways:
        return GatewayBuild([], {}, [], log)
    memo = memo if memo is not None else Memo()
    mg = _merge_for_proxy(pod, gateways, resolve_port, resolve_server, memo, port_key, log)
    routes = _VirtualServiceRoutes(pod, lookup, route_cache if route_cache is not None else {})
    built = _gateway_listeners(pod, mg, vs_index, lookup, memo, lookup_key)
    log.extend(built[2])
    route_configs = _gateway_route_configs(pod, mg, built[1], vs_index, routes, memo, log)
    return GatewayBuild(list(built[0]), route_configs, list(built[3]), log)


def _merge_for_proxy(
    pod: Pod,
    gateways: Sequence[Gateway],
    resolve_port: Callable[[int], int],
    resolve_server: ServerPortResolver | None,
    memo: Memo,
    port_key: Hashable,
    log: list[str],
) -> MergedGateway:
    """``PushContext.mergeGateways`` (``Proxy.SetGatewaysForProxy``), remembered per pod while the
    Gateways are the same objects and ``port_key`` the same ports; istiod's lines go to ``log``."""
    gw_objs = tuple(gateways)
    merged = memo.get((pod.key, "merge"), port_key, gw_objs) if port_key is not None else _MISS
    if merged is _MISS:
        merge_log: list[str] = []
        merged = (merge_gateways(gateways, resolve_port, merge_log, resolve_server), tuple(merge_log))
        if port_key is not None:
            memo.put((pod.key, "merge"), port_key, gw_objs, merged)
    log.extend(merged[1])
    return cast(MergedGateway, merged[0])


class _VirtualServiceRoutes:
    """``BuildHTTPRoutesForVirtualService`` for one gateway proxy, remembered across translations.

    Keyed by object identity: models are immutable, and the store hands out the same object for
    an unchanged manifest, so re-translation after one apply reuses every other route.
    """

    __slots__ = ("pod", "lookup", "cache", "labels_key", "fingerprints")

    def __init__(self, pod: Pod, lookup: ServiceLookup, cache: RouteCache) -> None:
        self.pod = pod
        self.lookup = lookup
        self.cache = cache
        self.labels_key = tuple(sorted(pod.labels.items()))
        self.fingerprints: dict[int, tuple[object, ...]] = {}

    def fingerprint(self, b: BoundVirtualService) -> tuple[object, ...]:
        """:func:`_dest_fingerprint`, once per VirtualService per build (``b`` lives as long as
        the build, so its id is stable)."""
        got = self.fingerprints.get(id(b))
        if got is None:
            got = self.fingerprints[id(b)] = _dest_fingerprint(b, self.lookup)
        return got

    def __call__(self, b: BoundVirtualService, gw_name: str, port: int, is_tls: bool) -> list[Route]:
        """The routes ``b`` contributes to server ``gw_name``'s ``port``."""
        pod = self.pod
        key = (id(b.vs), gw_name, port, is_tls, self.labels_key, pod.namespace, self.fingerprint(b))
        got = self.cache.get(key)
        if got is None or got[0] is not b.vs:
            routes = build_http_routes(
                b, port, {gw_name}, self.lookup, labels=pod.labels, proxy_ns=pod.namespace, is_tls=is_tls
            )
            self.cache[key] = (b.vs, routes)
            return routes
        return got[1]


def _gateway_listeners(
    pod: Pod,
    mg: MergedGateway,
    vs_index: VirtualServiceIndex,
    lookup: ServiceLookup,
    memo: Memo,
    lookup_key: object,
) -> tuple[list[Listener], list[str], tuple[str, ...], tuple[str, ...]]:
    """``buildGatewayListeners``, remembered: (listeners, route names they use, log, SDS names).

    Listeners depend on the VirtualServices only through TCP/TLS routes (and how many are bound,
    for istiod's log), so the key holds those with such routes bound to the gateways that have
    TCP/TLS servers.
    """
    proxy_ns = pod.namespace
    tcp_vss = tuple(
        b.vs
        for gw in mg.tcp_gateways
        for b in vs_index.for_gateway(proxy_ns, gw)
        if b.vs.spec.tcp or b.vs.spec.tls
    )
    lkey = (pod.name, proxy_ns, tuple(len(vs_index.for_gateway(proxy_ns, gw)) for gw in mg.tcp_gateways))
    lobjs = (mg, *tcp_vss, lookup_key) if mg.tcp_gateways else (mg,)
    built = _MISS
    if lookup_key is not None or not mg.tcp_gateways:
        built = memo.get((pod.key, "listeners"), lkey, lobjs)
    if built is _MISS:
        listener_log: list[str] = []
        lsts, refs = _build_listeners(pod, mg, vs_index, lookup, listener_log)
        built = (lsts, refs, tuple(listener_log), _sds_names(lsts))
        memo.put((pod.key, "listeners"), lkey, lobjs, built)
    return cast(tuple[list[Listener], list[str], tuple[str, ...], tuple[str, ...]], built)


def _gateway_route_configs(
    pod: Pod,
    mg: MergedGateway,
    referenced_routes: Sequence[str],
    vs_index: VirtualServiceIndex,
    routes: _VirtualServiceRoutes,
    memo: Memo,
    log: list[str],
) -> dict[str, RouteConfiguration]:
    """``buildGatewayHTTPRouteConfig`` for every route name the listeners use, remembered.

    One depends on its servers (their Gateway object and index), the VirtualServices bound to
    those Gateways and the service ports their destinations use (``_dest_fingerprint``), and the
    proxy's namespace and labels.
    """
    proxy_ns = pod.namespace
    route_configs: dict[str, RouteConfiguration] = {}
    for route_name in referenced_routes:
        servers = mg.servers_by_route.get(route_name)
        if not servers:
            continue
        objs: list[object] = []
        key: list[Hashable] = [proxy_ns, routes.labels_key]
        for srv in servers:
            objs.append(srv.gw)
            bound = vs_index.for_gateway(proxy_ns, srv.gw_name)
            key.append((srv.index, len(bound)))
            for b in bound:
                objs.append(b.vs)
                key.append(routes.fingerprint(b))
        slot = (pod.key, "rds", route_name)
        rkey, robjs = tuple(key), tuple(objs)
        got = memo.get(slot, rkey, robjs)
        if got is _MISS:
            rc_log: list[str] = []
            got = (_route_config(route_name, servers, vs_index, proxy_ns, routes, rc_log), tuple(rc_log))
            memo.put(slot, rkey, robjs, got)
        route_configs[route_name] = got[0]
        log.extend(got[1])
    return route_configs


def _sds_names(listeners: Sequence[Listener]) -> tuple[str, ...]:
    """SDS resource names the listeners' TLS contexts use, in order of first use."""
    sds: dict[str, None] = {}
    for lst in listeners:
        for c in lst.filter_chains:
            t = c.transport_socket
            if t is not None:
                for n in (t.certificate_sds, *t.certificate_sds_list, t.validation_sds):
                    if n:
                        sds[n] = None
    return tuple(sds)


def clear_caches() -> None:
    """Forget the module's memos (servers, HTTPS chains, destination fingerprints)."""
    merged_gateway_clear_caches()
    _HTTPS_CHAINS.clear()
    _PORTLESS.clear()


# The HTTPS filter chain of a server (a pure function of the server, its SNI hosts, route name and
# listener), remembered per GatewayServer object: a Gateway change rebuilds only its own chains.
_HTTPS_CHAINS: dict[int, tuple[GatewayServer, tuple[object, ...], FilterChain]] = {}


def _build_listeners(
    pod: Pod,
    mg: MergedGateway,
    vs_index: VirtualServiceIndex,
    lookup: ServiceLookup,
    log: list[str],
) -> tuple[list[Listener], list[str]]:
    """``buildGatewayListeners``: listeners of the merged servers and the route names they use."""
    proxy_ns = pod.namespace
    chains_by_listener: dict[str, list[FilterChain]] = {}
    origins: dict[str, list[str]] = {}
    order: list[tuple[str, str, int]] = []
    tls_hosts_by_port: dict[int, dict[str, str]] = {}
    for sp in mg.server_ports:
        number, protocol, bind = sp
        address = bind or "0.0.0.0"
        lname = f"{address}_{number}"
        if lname not in chains_by_listener:
            chains_by_listener[lname] = []
            origins[lname] = []
            order.append((lname, address, number))
        ms = mg.merged.get(sp)
        if ms is None:
            continue
        p = P.parse(protocol)
        chains = chains_by_listener[lname]
        origins[lname].extend(s.origin for s in ms.servers)
        if P.is_http(p):
            chains.append(
                FilterChain(
                    name=ms.route_name,
                    http_connection_manager=_gateway_connection_manager(ms.route_name, f"outbound_{lname}"),
                )
            )
            continue
        for s in ms.servers:
            if s.proto == "HTTPS" and s.server.tls is not None and not s.passthrough:
                chains.append(_https_chain(s, mg, lname))
            else:
                chains.extend(_tcp_chains(s, number, vs_index, proxy_ns, lookup, tls_hosts_by_port, mg, log))
    listeners: list[Listener] = []
    referenced_routes: list[str] = []
    for lname, address, number in order:
        chains = chains_by_listener[lname]
        if not chains:
            log.append(
                f"gateway omitting listener {quote(lname)} due to: must have more than 0 chains in listener "
                f"{quote(lname)}"
            )
            continue
        for c in chains:
            if (
                c.http_connection_manager is not None
                and c.http_connection_manager.route_config_name not in referenced_routes
            ):
                referenced_routes.append(c.http_connection_manager.route_config_name)
        listeners.append(
            Listener(
                name=lname,
                address=address,
                port=number,
                filter_chains=tuple(chains),
                traffic_direction="OUTBOUND",
                origins=tuple(dict.fromkeys(origins[lname])),
            )
        )
    if not listeners:
        log.append(f"gateway has zero listeners for node {pod.name}.{pod.namespace}")

    return listeners, referenced_routes


def _gateway_connection_manager(route_name: str, stat_prefix: str) -> HttpConnectionManager:
    """``buildGatewayConnectionManager``: the edge HCM (``istio-envoy``, the client's address,
    ``x-forwarded-client-cert`` sanitized and set)."""
    return HttpConnectionManager(
        route_config_name=route_name,
        stat_prefix=stat_prefix,
        server_name="istio-envoy",
        use_remote_address=True,
        forward_client_cert_details="SANITIZE_SET",
    )


def _https_chain(s: GatewayServer, mg: MergedGateway, lname: str) -> FilterChain:
    """``createGatewayHTTPFilterChainOpts`` for a terminating HTTPS server: matched on its SNI
    hosts, remembered per server object."""
    sni, route_name = mg.tls_info[s]
    chain_key = (sni, route_name, lname)
    got = _HTTPS_CHAINS.get(id(s))
    if got is not None and got[0] is s and got[1] == chain_key:
        return got[2]
    chain = FilterChain(
        name=route_name,
        filter_chain_match=_fc_match(sni),
        transport_socket=downstream_tls(s),
        http_connection_manager=_gateway_connection_manager(route_name, s.server.name or f"outbound_{lname}"),
    )
    if len(_HTTPS_CHAINS) > 50_000:
        _HTTPS_CHAINS.clear()
    _HTTPS_CHAINS[id(s)] = (s, chain_key, chain)
    return chain


_PORTLESS: dict[int, tuple[object, tuple[str, ...]]] = {}


def _dest_fingerprint(b: BoundVirtualService, lookup: ServiceLookup) -> tuple[object, ...]:
    """What a VirtualService's routes depend on besides itself: its destinations' service ports.

    (``GetDestinationCluster`` uses the service's only port when a destination names none.)
    """
    got = _PORTLESS.get(id(b.vs))
    if got is None or got[0] is not b.vs:
        dests = [d.destination for http in b.vs.spec.http for d in http.route]
        dests += [m for http in b.vs.spec.http for m, _ in mirror_destinations(http)]
        hosts = tuple(
            H.resolve_shortname(d.host, b.namespace)
            for d in dests
            if d is not None and (d.port is None or not d.port.number)
        )
        if len(_PORTLESS) > 50_000:
            _PORTLESS.clear()
        _PORTLESS[id(b.vs)] = (b.vs, hosts)
    else:
        hosts = got[1]
    if not hosts:
        return ()
    return tuple((h, lookup(h)) for h in hosts)


def _route_config(
    route_name: str,
    servers: list[GatewayServer],
    vs_index: VirtualServiceIndex,
    proxy_ns: str,
    vs_routes: Callable[[BoundVirtualService, str, int, bool], list[Route]],
    log: list[str],
) -> RouteConfiguration:
    gateway_routes: dict[tuple[str, str], list[Route]] = {}
    vhosts: dict[str, _VHost] = {}
    for s in servers:
        port = s.number
        redirect = s.server.tls is not None and s.server.tls.httpsRedirect
        # The server's hosts as a VirtualService in each namespace sees them, indexed once.
        by_ns: dict[str, H.HostIndex] = {}
        for b in vs_index.for_gateway(proxy_ns, s.gw_name):
            index = by_ns.get(b.namespace)
            if index is None:
                index = by_ns[b.namespace] = H.HostIndex(H.names_for_namespace(s.hosts, b.namespace))
            inter = index.intersection(b.hosts)
            if not inter:
                continue
            key = (s.gw_name, f"{b.name}/{b.namespace}")
            routes = gateway_routes.get(key)
            if routes is None:
                routes = vs_routes(b, s.gw_name, port, s.server.tls is not None)
                if not routes:
                    # istiod: "omitting routes for virtual service ... no routes matched"
                    continue
                gateway_routes[key] = routes
            for h in inter:
                h = h.lower()
                vh = vhosts.get(h)
                if vh is not None:
                    vh.routes.extend(routes)
                    if redirect:
                        vh.require_tls = True
                else:
                    vhosts[h] = _VHost(
                        name=f"{h}:{port}", domains=[h], routes=list(routes), require_tls=redirect
                    )
        # httpsRedirect: every server host gets a vhost that redirects, VirtualService or not
        # (docs/behaviour.md §6).
        if redirect:
            for h in s.hosts:
                h = h.lower()
                vh = vhosts.get(h)
                if vh is not None:
                    vh.require_tls = True
                else:
                    vhosts[h] = _VHost(name=f"{h}:{port}", domains=[h], routes=[], require_tls=True)
    if not vhosts:
        port = servers[0].number
        log.append(
            f"constructed http route config for route {route_name} on port {port} with no vhosts; "
            "Setting up a default 404 vhost"
        )
        out = [VirtualHost(name=f"blackhole:{port}", domains=("*",), routes=())]
    else:
        out = [
            VirtualHost(
                name=v.name,
                domains=tuple(v.domains),
                routes=tuple(sort_vhost_routes(v.routes)),
                require_tls="ALL" if v.require_tls else "NONE",
            )
            for v in _collapse(vhosts)
        ]
        out.sort(key=lambda v: v.name)
    return RouteConfiguration(name=route_name, virtual_hosts=tuple(out), ignore_port_in_host_matching=True)


def _collapse(vhosts: dict[str, _VHost]) -> list[_VHost]:
    """``collapseDuplicateRoutes``: hosts with the very same routes share one virtual host."""
    known: dict[tuple[tuple[int, ...], bool], _VHost] = {}
    out: list[_VHost] = []
    for h in sorted(vhosts, key=H.more_specific_key):
        vh = vhosts[h]
        sig = (tuple(id(r) for r in vh.routes), vh.require_tls)
        prim = known.get(sig)
        if prim is not None:
            prim.domains.extend(vh.domains)
        else:
            known[sig] = vh
            out.append(vh)
    return out


def _tcp_chains(
    s: GatewayServer,
    listener_port: int,
    vs_index: VirtualServiceIndex,
    proxy_ns: str,
    lookup: ServiceLookup,
    tls_hosts_by_port: dict[int, dict[str, str]],
    mg: MergedGateway,
    log: list[str],
) -> list[FilterChain]:
    """``createGatewayTCPFilterChainOpts``: TCP, TLS-terminated TCP, or PASSTHROUGH chains
    (docs/behaviour.md §5)."""
    tls = s.server.tls
    vss = vs_index.for_gateway(proxy_ns, s.gw_name)
    if tls is None or not s.passthrough:
        if not vss:
            log.append(f"no virtual service bound to gateway: {s.gw_name}")
        tp = None
        for b in vss:
            if not _pick_matching_hosts(s.hosts, b):
                continue
            for tcp in b.vs.spec.tcp:
                if (not tcp.match) or any(_l4_match(m.port, m.gateways, s, b.namespace) for m in tcp.match):
                    if not tcp.route:
                        continue
                    tp = _tcp_proxy(tcp.route, b.namespace, lookup, s.number)
                    break
            if tp is not None:
                break
        if tp is None:
            log.append(f"gateway {s.gw_name}:{s.number} listener missed network filter")
            return []
        if tls is None:
            return [FilterChain(name=f"tcp.{listener_port}", tcp_proxy=tp)]
        sni, _ = mg.tls_info[s]
        return [
            FilterChain(
                name=f"tls.{s.number}.{s.port_name}.{s.gw.metadata.name}.{s.gw.metadata.namespace}",
                filter_chain_match=_fc_match(sni),
                transport_socket=downstream_tls(s),
                tcp_proxy=tp,
            )
        ]
    # PASSTHROUGH: one filter chain per matching tls route match, keyed by its sniHosts.
    out: list[FilterChain] = []
    known = tls_hosts_by_port.setdefault(listener_port, {})
    for b in vss:
        if not _pick_matching_hosts(s.hosts, b):
            continue
        for tls_route in b.vs.spec.tls:
            if not tls_route.route:
                continue
            for i, m in enumerate(tls_route.match):
                if not _l4_match(m.port, m.gateways, s, b.namespace):
                    continue
                dups = check_duplicates(m.sniHosts, s.bind, known)
                if dups:
                    log.append(
                        f"skipping VirtualService {b.name} rule #{i} on server port {s.number} of gateway "
                        f"{s.gw_name}, duplicate SNI host names: {format_list(dups)}"
                    )
                    continue
                out.append(
                    FilterChain(
                        name=f"passthrough.{listener_port}.{','.join(sorted(m.sniHosts))}",
                        filter_chain_match=_fc_match(m.sniHosts),
                        tcp_proxy=_tcp_proxy(tls_route.route, b.namespace, lookup, s.number),
                    )
                )
    return out
