"""Sidecar proxies: outbound listeners and route configurations, inbound listener
(docs/behaviour.md §11, §12).

Rule: no I/O here. Follows ``httproute.go`` (``BuildSidecarOutboundVirtualHosts``,
``generateVirtualHostDomains``, ``buildCatchAllVirtualHost``) and ``route.go``
(``BuildSidecarVirtualHostWrapper``): one route configuration per HTTP port named ``"<port>"``
with a virtual host per service host, the VirtualServices bound to ``mesh``, and the catch-all
``allow_any`` (→ ``PassthroughCluster``) or ``block_all`` (direct 502) virtual host.

Listener layout (simplified from Istio's per-VIP listeners, same observable matching):

* ``0.0.0.0_<port>`` per service port: SNI chains for TLS/HTTPS hosts, destination-IP chains for
  TCP services, an HTTP chain (route ``"<port>"``) for HTTP ports, and a default chain to
  ``PassthroughCluster`` (ALLOW_ANY) or ``BlackHoleCluster`` (REGISTRY_ONLY);
* ``virtualOutbound`` (15001): ports no service declares → the same default chain;
* ``virtualInbound`` (15006): the pod's own ports, HCM ``server_name`` ``istio-envoy``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gatewaykit._translate import hosts as H
from gatewaykit._translate.gateway import _tcp_proxy
from gatewaykit._translate.mesh import MeshSettings, Pod, ServiceInfo, pod_protocol_for_port
from gatewaykit._translate.routes import (
    DEFAULT_RETRY,
    BoundVirtualService,
    ServiceLookup,
    build_http_routes,
    cluster_name,
)
from gatewaykit.envoy import (
    Cluster,
    DirectResponseAction,
    DownstreamTlsContext,
    Endpoint,
    FilterChain,
    FilterChainMatch,
    HttpConnectionManager,
    Listener,
    Route,
    RouteAction,
    RouteConfiguration,
    RouteMatch,
    TcpProxy,
    VirtualHost,
)
from gatewaykit.resources import protocol as P

__all__ = ["SidecarBuild", "build_sidecar_proxy"]

_TLS = ("HTTPS", "TLS")


def _http_or_sniffed(protocol: str) -> bool:
    return P.is_http(protocol) or protocol == "auto"


class SidecarBuild:
    """Listeners, route configurations and inbound clusters of one sidecar."""

    __slots__ = ("listeners", "route_configs", "inbound_clusters")

    def __init__(
        self,
        listeners: list[Listener],
        route_configs: dict[str, RouteConfiguration],
        inbound: dict[str, Cluster],
    ) -> None:
        self.listeners = listeners
        self.route_configs = route_configs
        self.inbound_clusters = inbound


def _domains(svc: ServiceInfo, proxy_ns: str) -> list[str]:
    """``generateVirtualHostDomains`` with ``SidecarIgnorePort`` (no ``:port`` variants).

    ``httpbin.default.svc.cluster.local`` seen from ``default`` gives the FQDN, the absolute
    FQDN (trailing dot), ``httpbin``, ``httpbin.default.svc``, ``httpbin.default`` and the
    cluster IP.
    """
    h = svc.hostname
    out = [h, h + "."]
    suffix = f".svc.{H.DOMAIN_SUFFIX}"
    if h.endswith(suffix):
        ih = h.index(".svc.")
        ns_dot = h.find(".")
        if 0 < ns_dot < ih:
            if h[ns_dot + 1 : ih] == proxy_ns:
                out += [h[:ns_dot], h[:ih] + ".svc", h[:ih]]
            else:
                out += [h[:ih], h[:ih] + ".svc"]
    if svc.kind == "Service":
        out += list(svc.addresses)
    else:
        origin = svc.origin
        spec_addrs = getattr(getattr(origin, "spec", None), "addresses", ())
        out += list(spec_addrs)
    return out


def _catch_all(mesh: MeshSettings) -> VirtualHost:
    """``buildCatchAllVirtualHost``: ``allow_any`` or ``block_all`` (docs/behaviour.md §11.2)."""
    if mesh.outbound_traffic_policy == "ALLOW_ANY":
        return VirtualHost(
            name="allow_any",
            domains=("*",),
            routes=(
                Route(
                    name="allow_any",
                    match=RouteMatch(prefix="/"),
                    route=RouteAction(cluster="PassthroughCluster", timeout=0.0),
                ),
            ),
        )
    return VirtualHost(
        name="block_all",
        domains=("*",),
        routes=(
            Route(
                name="block_all",
                match=RouteMatch(prefix="/"),
                direct_response=DirectResponseAction(status=502),
            ),
        ),
    )


def _default_chain(mesh: MeshSettings) -> FilterChain:
    if mesh.outbound_traffic_policy == "ALLOW_ANY":
        return FilterChain(
            name="PassthroughFilterChain",
            tcp_proxy=TcpProxy(stat_prefix="PassthroughCluster", cluster="PassthroughCluster"),
        )
    return FilterChain(
        name="BlackHoleFilterChain",
        tcp_proxy=TcpProxy(stat_prefix="BlackHoleCluster", cluster="BlackHoleCluster"),
    )


def _default_route(host: str, port: int) -> Route:
    """``BuildDefaultHTTPOutboundRoute``: route ``default``, decorator ``<host>:<port>/*``."""
    c = cluster_name(port, "", host)
    return Route(
        name="default",
        match=RouteMatch(prefix="/"),
        route=RouteAction(cluster=c, timeout=0.0, retry_policy=DEFAULT_RETRY),
        decorator_operation=f"{host}:{port}/*",
    )


def _route_config(
    port: int,
    pod: Pod,
    services: Sequence[ServiceInfo],
    mesh_vs: Sequence[BoundVirtualService],
    lookup: ServiceLookup,
    mesh: MeshSettings,
) -> RouteConfiguration:
    """``BuildSidecarOutboundVirtualHosts`` for the HTTP listener on ``port``."""
    by_host = {
        s.hostname: s for s in services if (p := s.port(port)) is not None and _http_or_sniffed(p.protocol)
    }
    any_on_port = {s.hostname for s in services if s.port(port) is not None}
    vhosts: list[VirtualHost] = []
    names: set[str] = set()
    domains_seen: set[str] = set()
    claimed: set[str] = set()

    def add(name: str, domains: list[str], routes: tuple[Route, ...]) -> None:
        if name in names:
            return
        names.add(name)
        kept = [d for d in domains if d.lower() not in domains_seen]
        for d in kept:
            domains_seen.add(d.lower())
        if kept:
            vhosts.append(VirtualHost(name=name, domains=tuple(kept), routes=routes))

    for b in mesh_vs:
        # Off port 80 only VirtualServices for a registry host on this port apply (istiod's
        # "hack to keep consistent with previous behavior").
        if port != 80 and not any(any(H.matches(h, sh) for sh in any_on_port) for h in b.hosts):
            continue
        routes = build_http_routes(b, port, {"mesh"}, lookup, labels=pod.labels, proxy_ns=pod.namespace)
        if not routes:
            continue
        non_registry: list[str] = []
        matched: list[ServiceInfo] = []
        for h in b.hosts:
            hl = h.lower()
            if H.is_wildcarded(hl):
                found = [s for hn, s in by_host.items() if H.matches(hn, hl) and hn not in claimed]
                if found:
                    matched.extend(found)
                elif not any(H.matches(hn, hl) for hn in any_on_port):
                    non_registry.append(hl)
            elif hl in by_host:
                if hl not in claimed:
                    matched.append(by_host[hl])
            elif hl not in any_on_port:
                non_registry.append(h)
        if not matched and port != 80:
            continue
        rt = tuple(routes)
        for h in non_registry:
            add(f"{h.lower()}:{port}", [h.lower()], rt)
        for s in matched:
            claimed.add(s.hostname)
            add(f"{s.hostname}:{port}", _domains(s, pod.namespace), rt)
    for hn, s in by_host.items():
        if hn in claimed:
            continue
        add(f"{hn}:{port}", _domains(s, pod.namespace), (_default_route(hn, port),))
    vhosts.sort(key=lambda v: v.name)
    vhosts.append(_catch_all(mesh))
    return RouteConfiguration(name=str(port), virtual_hosts=tuple(vhosts), ignore_port_in_host_matching=True)


def _mesh_tls_chains(
    port: int, mesh_vs: Sequence[BoundVirtualService], lookup: ServiceLookup, seen: set[str]
) -> list[FilterChain]:
    """TLS routes of ``mesh`` VirtualServices: an SNI chain per ``sniHosts`` (HTTPS egress).

    See docs/behaviour.md §12."""
    out: list[FilterChain] = []
    for b in mesh_vs:
        for tls in b.vs.spec.tls:
            if not tls.route:
                continue
            for m in tls.match:
                if m.port and m.port != port:
                    continue
                if m.gateways and "mesh" not in m.gateways:
                    continue
                sni = [h for h in m.sniHosts if h not in seen]
                if not sni:
                    continue
                seen.update(sni)
                out.append(
                    FilterChain(
                        name=f"outbound.{port}.{','.join(sorted(sni))}",
                        filter_chain_match=FilterChainMatch(
                            server_names=tuple(sorted(sni)), transport_protocol="tls"
                        ),
                        tcp_proxy=_tcp_proxy(tls.route, b.namespace, lookup, port),
                    )
                )
    return out


def _mesh_tcp_proxy(
    svc: ServiceInfo, port: int, mesh_vs: Sequence[BoundVirtualService], lookup: ServiceLookup
) -> TcpProxy | None:
    for b in mesh_vs:
        if svc.hostname not in b.hosts:
            continue
        for tcp in b.vs.spec.tcp:
            if not tcp.route:
                continue
            ok = not tcp.match or any(
                (not m.port or m.port == port) and (not m.gateways or "mesh" in m.gateways) for m in tcp.match
            )
            if ok:
                return _tcp_proxy(tcp.route, b.namespace, lookup, port)
    return None


def build_sidecar_proxy(
    pod: Pod,
    services: Mapping[str, ServiceInfo],
    mesh_vs: Sequence[BoundVirtualService],
    lookup: ServiceLookup,
    mesh: MeshSettings,
) -> SidecarBuild:
    """Build one sidecar's listeners, outbound route configurations and inbound clusters.

    ``buildSidecarListeners`` (pilot/pkg/networking/core/listener.go): the outbound listeners,
    ``virtualOutbound``, then ``virtualInbound`` (listener_builder.go).

    Args:
        pod: the injected pod.
        services: the registry (Services and ServiceEntry hosts).
        mesh_vs: VirtualServices bound to ``mesh`` and visible to the pod's namespace.
        lookup: service ports by host.
        mesh: mesh settings (outbound traffic policy).
    """
    visible = [s for s in services.values() if s.visible_to(pod.namespace)]
    route_configs: dict[str, RouteConfiguration] = {}
    default = _default_chain(mesh)
    listeners = _build_sidecar_outbound_listeners(pod, visible, mesh_vs, lookup, mesh, default, route_configs)
    # buildVirtualOutboundListener: ports no service declares take the default chain.
    listeners.append(
        Listener(
            name="virtualOutbound",
            address="0.0.0.0",
            port=15001,
            default_filter_chain=default,
            traffic_direction="OUTBOUND",
        )
    )
    inbound_listener, inbound = _build_inbound_listeners(pod, visible, route_configs)
    listeners.append(inbound_listener)
    return SidecarBuild(listeners, route_configs, inbound)


def _build_sidecar_outbound_listeners(
    pod: Pod,
    visible: Sequence[ServiceInfo],
    mesh_vs: Sequence[BoundVirtualService],
    lookup: ServiceLookup,
    mesh: MeshSettings,
    default: FilterChain,
    route_configs: dict[str, RouteConfiguration],
) -> list[Listener]:
    """``buildSidecarOutboundListeners``: one ``0.0.0.0_<port>`` listener per service port (UDP
    aside), in port order, falling back to ``default``; the HTTP ports' route configurations go
    into ``route_configs``."""
    ports: dict[int, list[ServiceInfo]] = {}
    for s in visible:
        for p in s.ports:
            if p.protocol != "UDP":
                ports.setdefault(p.port, []).append(s)
    listeners: list[Listener] = []
    for port in sorted(ports):
        seen_sni: set[str] = set()
        chains = _mesh_tls_chains(port, mesh_vs, lookup, seen_sni)
        has_http = False
        for s in ports[port]:
            pinfo = s.port(port)
            assert pinfo is not None
            if _http_or_sniffed(pinfo.protocol):
                has_http = True
                continue
            chain = _outbound_tcp_chain(s, pinfo.protocol, port, mesh_vs, lookup, seen_sni)
            if chain is not None:
                chains.append(chain)
        if has_http:
            route_configs[str(port)] = _route_config(port, pod, visible, mesh_vs, lookup, mesh)
            chains.append(_outbound_http_chain(port))
        listeners.append(
            Listener(
                name=f"0.0.0.0_{port}",
                address="0.0.0.0",
                port=port,
                filter_chains=tuple(chains),
                default_filter_chain=default,
                traffic_direction="OUTBOUND",
            )
        )
    return listeners


def _outbound_tcp_chain(
    s: ServiceInfo,
    protocol: str,
    port: int,
    mesh_vs: Sequence[BoundVirtualService],
    lookup: ServiceLookup,
    seen_sni: set[str],
) -> FilterChain | None:
    """``buildSidecarOutboundTCPListenerOpts`` for one non-HTTP service port: keyed on SNI for TLS
    to an external host, else on the service's addresses (None: neither applies)."""
    c = cluster_name(port, "", s.hostname)
    tp = _mesh_tcp_proxy(s, port, mesh_vs, lookup) or TcpProxy(stat_prefix=c, cluster=c)
    if protocol in _TLS and (s.kind == "ServiceEntry" or not s.addresses):
        # TLS to an external host: matched on SNI (docs/behaviour.md §11.1: "HTTPS/TLS ports are
        # TCP-proxied keyed on SNI").
        if s.hostname in seen_sni:
            return None
        seen_sni.add(s.hostname)
        return FilterChain(
            name=f"outbound.{port}.{s.hostname}",
            filter_chain_match=FilterChainMatch(server_names=(s.hostname,), transport_protocol="tls"),
            tcp_proxy=tp,
        )
    if s.addresses:
        return FilterChain(
            name=f"outbound.{port}.{s.hostname}",
            filter_chain_match=FilterChainMatch(prefix_ranges=tuple(f"{a}/32" for a in s.addresses)),
            tcp_proxy=tp,
        )
    return None


def _outbound_http_chain(port: int) -> FilterChain:
    """``buildSidecarOutboundHTTPListenerOpts``: the plaintext HTTP chain, routes ``"<port>"``."""
    return FilterChain(
        name=f"0.0.0.0_{port}",
        filter_chain_match=FilterChainMatch(transport_protocol="raw_buffer"),
        http_connection_manager=HttpConnectionManager(
            route_config_name=str(port),
            stat_prefix=f"outbound_0.0.0.0_{port}",
            # sidecar outbound keeps Envoy's default name (docs/behaviour.md §1.1)
            server_name="envoy",
        ),
    )


def _build_inbound_listeners(
    pod: Pod, visible: Sequence[ServiceInfo], route_configs: dict[str, RouteConfiguration]
) -> tuple[Listener, dict[str, Cluster]]:
    """``buildInboundListeners`` and ``buildInboundClusters``: ``virtualInbound`` with the pod's
    ports (istio-envoy server name, docs/behaviour.md §1.1) and an ``inbound|<port>||`` cluster
    each; the HTTP ports' route configurations go into ``route_configs``."""
    inbound_chains: list[FilterChain] = []
    inbound: dict[str, Cluster] = {}
    for cport in sorted(set(pod.ports)):
        cname = f"inbound|{cport}||"
        inbound[cname] = Cluster(
            name=cname,
            type="STATIC",
            endpoints=(Endpoint(address=pod.ip, port=cport, workload=pod.name),),
            port=cport,
        )
        hcm: HttpConnectionManager | None = None
        tcp: TcpProxy | None = None
        if _http_or_sniffed(pod_protocol_for_port(visible, pod, cport)):
            route_configs[cname] = _inbound_route_config(pod, cport, cname)
            hcm = HttpConnectionManager(
                route_config_name=cname,
                stat_prefix=f"inbound_0.0.0.0_{cport}",
                server_name="istio-envoy",
                # Istio's inbound HCM (listener_builder.go buildInboundHTTPConnectionManager /
                # httpListenerOpts): APPEND_FORWARD with Subject, URI and DNS of the peer.
                forward_client_cert_details="APPEND_FORWARD",
            )
        else:
            tcp = TcpProxy(stat_prefix=cname, cluster=cname)
        inbound_chains.extend(
            FilterChain(
                name=cname,
                filter_chain_match=match,
                transport_socket=tls,
                http_connection_manager=hcm,
                tcp_proxy=tcp,
            )
            for match, tls in _permissive_matches(cport)
        )
    listener = Listener(
        name="virtualInbound",
        address="0.0.0.0",
        port=15006,
        filter_chains=tuple(inbound_chains),
        traffic_direction="INBOUND",
    )
    return listener, inbound


def _inbound_route_config(pod: Pod, cport: int, cname: str) -> RouteConfiguration:
    """``buildSidecarInboundHTTPRouteConfig`` (httproute.go): every host to the inbound cluster."""
    return RouteConfiguration(
        name=cname,
        virtual_hosts=(
            VirtualHost(
                name=f"inbound|http|{cport}",
                domains=("*",),
                routes=(
                    Route(
                        name="default",
                        match=RouteMatch(prefix="/"),
                        route=RouteAction(cluster=cname, timeout=0.0),
                        decorator_operation=f"{pod.name}.{pod.namespace}.svc.cluster.local:{cport}/*",
                    ),
                ),
            ),
        ),
    )


# What a peer sidecar or gateway offers under auto mTLS / ISTIO_MUTUAL (listener_builder.go
# mtlsChainMatch: plus istio-http/1.0, istio-http/1.1, istio-h2 for HTTP ports).
_ISTIO_ALPN = ("istio-peer-exchange", "istio", "istio-http/1.0", "istio-http/1.1", "istio-h2")


def _permissive_matches(cport: int) -> list[tuple[FilterChainMatch, DownstreamTlsContext | None]]:
    """The inbound chains of a port under PERMISSIVE PeerAuthentication (Istio's default).

    Istio builds one chain terminating Istio mTLS (transport ``tls`` with an ``istio*`` ALPN,
    workload certificate, client certificate required) and chains passing everything else
    as it is (other TLS, raw_buffer) (listener_builder.go / authn policy_applier.go InboundMTLSSettings).
    The mTLS chain's server ALPN is ``h2, http/1.1`` before the Istio values, so an HTTP/2
    peer gets ``h2`` and the rest ``istio-peer-exchange`` (the HCM's codec sniffs the bytes).
    """
    mtls = DownstreamTlsContext(
        mode="ISTIO_MUTUAL",
        certificate_sds="default",
        validation_sds="ROOTCA",
        require_client_certificate=True,
        alpn_protocols=("h2", "http/1.1", "istio-peer-exchange", "istio"),
    )
    return [
        (
            FilterChainMatch(
                destination_port=cport, transport_protocol="tls", application_protocols=_ISTIO_ALPN
            ),
            mtls,
        ),
        # Envoy picks a level's exact match without backtracking, so TLS that is not Istio's
        # (the app's own TLS) needs its own plaintext-to-the-proxy chain.
        (FilterChainMatch(destination_port=cport, transport_protocol="tls"), None),
        (FilterChainMatch(destination_port=cport, transport_protocol="raw_buffer"), None),
    ]
