"""Request simulation: which path one request takes through one Envoy proxy, and what Envoy answers.

Rule: no I/O here. ``simulate(proxy, request)`` walks the same steps Envoy walks --
listener → filter chain → (TLS) → network filter → route configuration → virtual host →
route → cluster → endpoint -- over the frozen :mod:`gatewaykit.envoy` model, and returns a
:class:`Result`. It is the Python twin of Istio's ``pilot/pkg/simulation/traffic.go``.

Misses are results, not exceptions (Istio asserts ``simulation.ErrNoRoute`` the same way):
a learner is *supposed* to see "no route → 404". Each miss carries the exact reply Envoy
sends itself (a "local reply", docs/behaviour.md §1.4) or says how the connection ends (refused, reset).

The step functions (:func:`match_listener`, :func:`match_filter_chain`,
:func:`match_virtual_host`, :func:`match_route`, :func:`pick_cluster`) are the single
source of truth for matching; the data plane calls them for real connections too.

Modules: :mod:`._model` (Request, Miss, LocalReply, Result), :mod:`._listener` (listener and
filter chain), :mod:`._route` (virtual host and route), :mod:`._cluster` (cluster and endpoint),
:mod:`._replies` (Envoy's own replies and the miss tables); this module composes the steps.
"""

from __future__ import annotations

from typing import Any

from gatewaykit import envoy
from gatewaykit._simulate._cluster import pick_cluster, pick_endpoint
from gatewaykit._simulate._listener import match_filter_chain, match_listener
from gatewaykit._simulate._model import Action, LocalReply, Miss, Request, RequestProtocol, Result, Rng
from gatewaykit._simulate._replies import (
    CONNECTION_MISSES,
    HTTP_MISSES,
    MissReply,
    connection_miss,
    http_miss,
    join_flags,
    local_reply,
    redirect_location,
)
from gatewaykit._simulate._route import match_route, match_virtual_host
from gatewaykit.envoy import (
    ProxyConfig,
    Route,
    TcpProxy,
    VirtualHost,
)

__all__ = [
    "CONNECTION_MISSES",
    "HTTP_MISSES",
    "Action",
    "LocalReply",
    "Miss",
    "MissReply",
    "Request",
    "RequestProtocol",
    "Result",
    "match_filter_chain",
    "match_listener",
    "match_route",
    "match_virtual_host",
    "pick_cluster",
    "redirect_location",
    "simulate",
]


def _secret_problem(proxy: ProxyConfig, sds: str | None) -> str | None:
    if sds is None:
        return "no certificate configured"
    if sds == "default":
        # ISTIO_MUTUAL: the workload's own SPIFFE certificate from istio-agent, always present.
        return None
    material = proxy.secrets.get(sds)
    if material is None:
        return f"SDS resource {sds} not served"
    if material.error:
        return material.error
    if material.rejected:  # served, but Envoy cannot load it (docs/behaviour.md §8)
        return material.rejected
    if material.certificate_chain is None and material.trusted_ca is None:
        return f"SDS resource {sds} is empty"
    return None


def _client_alpn(request: Request) -> tuple[str, ...]:
    if request.alpn:
        return request.alpn
    if request.protocol == "https":
        return ("h2", "http/1.1")  # curl's default offer
    if request.protocol == "http":
        return ("http/1.1",)  # what Envoy's http_inspector detects for HTTP/1
    return ()


def simulate(proxy: ProxyConfig, request: Request, rng: Rng | None = None) -> Result:
    """Walk one request through a proxy's configuration the way Envoy would.

    Args:
        proxy: The proxy (gateway pod or sidecar) configuration.
        request: The request.
        rng: Optional :class:`random.Random` for weighted clusters and endpoint choice; None is
            deterministic (highest weight, first healthy endpoint).

    Returns:
        The :class:`Result`: the path taken, or the miss and Envoy's own reply / connection fate.
    """
    listener = match_listener(proxy, request.port, destination=request.destination)
    if listener is None:
        # No listener: the kernel refuses the connection (docs/behaviour.md §1.6, curl exit 7).
        detail = f"no listener on port {request.port}: connection refused"
        return connection_miss({"port": request.port}, Miss.NO_LISTENER, 7, detail)

    transport = "tls" if request.is_tls else "raw_buffer"
    sni = request.sni.lower() if (request.is_tls and request.sni) else None
    chain = match_filter_chain(
        listener,
        sni=sni,
        transport_protocol=transport,
        alpn=_client_alpn(request),
        destination_port=request.port,
        destination_ip=request.destination,
    )
    base: dict[str, Any] = {"listener": listener.name, "port": request.port}
    if chain is None:
        # Envoy closes the connection: TLS clients see SSL_ERROR_SYSCALL (exit 35,
        # docs/behaviour.md §1.6, §4.4); the access log flag for "no matching filter chain" is NR.
        what = f'SNI "{sni}"' if sni else ("no SNI" if request.is_tls else "plaintext")
        curl_exit = 35 if request.is_tls else (56 if request.is_http else None)
        detail = f"no filter chain matches {what}: connection closed"
        return connection_miss(base, Miss.NO_FILTER_CHAIN, curl_exit, detail)
    base["filter_chain"] = chain.name

    ts = chain.transport_socket
    if ts is not None:
        failed = _tls_miss(proxy, request, ts, base)
        if failed is not None:
            return failed

    if chain.tcp_proxy is not None:
        return _simulate_tcp(proxy, request, chain.tcp_proxy, base, rng)
    hcm = chain.http_connection_manager
    if hcm is None:
        curl_exit = 35 if request.is_tls else 56
        return connection_miss(base, Miss.NO_FILTER_CHAIN, curl_exit, "filter chain has no network filter")

    if request.is_tls and ts is None:
        # TLS into a plaintext HTTP chain: the HTTP codec rejects the ClientHello (400 DPE) and
        # curl reports "wrong version number" (docs/behaviour.md §1.6, §13).
        detail = "TLS sent to a plaintext HTTP port: 400 DPE, wrong version number"
        return connection_miss(base, Miss.PROTOCOL_ERROR, 35, detail)
    if not request.is_http:
        # Non-HTTP bytes into the HTTP codec: Envoy writes its canned 400 and closes
        # (Http1 ServerConnectionImpl::sendProtocolError).
        detail = "non-HTTP bytes sent to an HTTP port: 400 Bad Request"
        return http_miss(base, Miss.PROTOCOL_ERROR, hcm.server_name, detail)
    return _simulate_http(proxy, request, hcm, base, rng)


def _tls_miss(
    proxy: ProxyConfig, request: Request, ts: envoy.DownstreamTlsContext, base: dict[str, Any]
) -> Result | None:
    """The TLS handshake of a chain with a transport socket: None when it succeeds."""
    if not request.is_tls:
        # Plain HTTP to a TLS chain: the handshake fails on the first bytes and Envoy closes
        # the connection (docs/behaviour.md §1.6: "curl: (56) Recv failure: Connection reset by peer").
        detail = "plaintext sent to a TLS filter chain: connection reset"
        return connection_miss(base, Miss.TLS_HANDSHAKE_FAILED, 56 if request.is_http else None, detail)
    # credentialNames: every certificate must be served before the chain can handshake.
    problem = None
    for sds in ts.certificate_sds_list or (ts.certificate_sds,):
        problem = _secret_problem(proxy, sds)
        if problem is not None:
            break
    if problem is not None:
        # Missing credential: the listener still exists but has no certificate, so every
        # handshake for this server fails (docs/behaviour.md §8.1; emulate as exit 35).
        detail = f"TLS handshake fails, no server certificate ({problem})"
        return connection_miss(base, Miss.TLS_HANDSHAKE_FAILED, 35, detail)
    requires_cert = ts.require_client_certificate or ts.mode in ("MUTUAL", "ISTIO_MUTUAL")
    if requires_cert and not request.client_certificate:
        # MUTUAL without a client certificate: TLS 1.3 alert "certificate required", curl
        # exit 56 (docs/behaviour.md §1.6, §7 [DOC-TEST]).
        detail = f"tls.mode {ts.mode} requires a client certificate: alert certificate required"
        return connection_miss(base, Miss.CLIENT_CERT_REQUIRED, 56, detail)
    if ts.mode in ("MUTUAL", "OPTIONAL_MUTUAL") and request.client_certificate:
        ca_problem = _secret_problem(proxy, ts.validation_sds)
        if ts.validation_sds is not None and ca_problem is not None:
            detail = f"TLS handshake fails, no CA to verify the client ({ca_problem})"
            return connection_miss(base, Miss.TLS_HANDSHAKE_FAILED, 35, detail)
    return None


def _simulate_tcp(
    proxy: ProxyConfig, request: Request, tcp: TcpProxy, base: dict[str, Any], rng: Rng | None
) -> Result:
    base = {**base, "tcp_proxy": tcp}
    fail_exit = 35 if request.is_tls else (52 if request.is_http else None)
    name = pick_cluster(tcp, rng)
    cluster = proxy.clusters.get(name) if name else None
    if cluster is None:
        # TCP proxy to an unknown cluster closes the downstream connection (flag NC).
        detail = f"cluster {name} not found: connection closed"
        return connection_miss({**base, "cluster": name}, Miss.CLUSTER_NOT_FOUND, fail_exit, detail)
    endpoint = pick_endpoint(cluster, request, rng)
    if endpoint is None:
        # BlackHoleCluster / no endpoints: the connection is closed, flag UH; curl over https exits
        # with 35 (docs/behaviour.md §11.2).
        detail = f"cluster {name} has no healthy endpoints: connection closed"
        return connection_miss({**base, "cluster": name}, Miss.NO_HEALTHY_UPSTREAM, fail_exit, detail)
    return Result(**base, cluster=name, endpoint=endpoint, action="tcp")


def _simulate_http(
    proxy: ProxyConfig,
    request: Request,
    hcm: envoy.HttpConnectionManager,
    base: dict[str, Any],
    rng: Rng | None,
) -> Result:
    server = hcm.server_name
    base = {**base, "route_config": hcm.route_config_name}
    rc = proxy.route_configs.get(hcm.route_config_name)
    vhost = match_virtual_host(rc, request.host) if rc is not None else None
    if vhost is None:
        # No virtual host: router sends 404 with an empty body, flag NR (docs/behaviour.md §1.4, §4.3).
        detail = f'no virtual host matches Host "{request.host or ""}": 404'
        return http_miss(base, Miss.NO_VIRTUAL_HOST, server, detail)
    base["virtual_host"] = vhost.name

    # require_tls ALL (httpsRedirect, docs/behaviour.md §6) is checked before any route, against
    # x-forwarded-proto; at the gateway edge (use_remote_address) Envoy sets that from the
    # connection, elsewhere a client-sent value is trusted (Envoy VirtualHostImpl).
    xfp = request.scheme
    if not hcm.use_remote_address:
        xfp = request.header("x-forwarded-proto") or request.scheme
    if vhost.require_tls == "ALL" and xfp != "https":
        # Envoy createSslRedirectPath: "https://{host}{path}" with the Host verbatim (docs/behaviour.md §1.4).
        location = f"https://{request.host or ''}{request.path}"
        detail = f"virtual host requires TLS: 301 to {location}"
        return http_miss(base, Miss.TLS_REQUIRED, server, detail, extra=(("location", location),))

    route = match_route(vhost, request)
    if route is None:
        detail = f"no route matches {request.method} {request.path}: 404"
        return http_miss(base, Miss.NO_ROUTE, server, detail)
    base["route"] = route.name
    base["route_entry"] = route

    # The fault filter runs before the router with the route's per-filter config
    # (fault_filter.cc): a delay first (flag DI), then, once it has elapsed, an abort -- a local
    # reply "fault filter abort" with flag FI (FaultFilter::abortWithStatus).
    delay_flag = ""
    fault = route.fault
    if fault is not None:
        d = fault.delay
        # FaultFilter::delayDuration: whole milliseconds; "Delay only if the duration is >0ms".
        delay_ms = round(d.fixed_delay * 1e9) // 1_000_000 if d is not None else 0
        if d is not None and delay_ms > 0 and _fires(d.percentage, rng):
            base["fault_delay"] = delay_ms / 1000
            delay_flag = "DI"
        a = fault.abort
        if a is not None and _fires(a.percentage, rng):
            body = _FAULT_ABORT_BODY
            return Result(
                **base,
                action="local_reply",
                reply=local_reply(a.http_status, body, server),
                response_flags=join_flags(delay_flag, "FI"),
                detail=f'fault injection abort: {a.http_status} "{body}"',
            )
    return _route_action(proxy, request, route, vhost, server, base, delay_flag, rng)


def _route_action(
    proxy: ProxyConfig,
    request: Request,
    route: Route,
    vhost: VirtualHost,
    server: str,
    base: dict[str, Any],
    delay_flag: str,
    rng: Rng | None,
) -> Result:
    """The router: the route's redirect, direct response, or its cluster and endpoint."""
    if route.redirect is not None:
        location = redirect_location(route.redirect, request, route.match)
        extra = (("location", location), *route.response_headers_to_add)
        code = route.redirect.response_code
        return Result(
            **base,
            action="redirect",
            reply=local_reply(code, "", server, extra),
            response_flags=join_flags(delay_flag),
            detail=f"redirect {code} to {location}",
        )
    if route.direct_response is not None:
        dr = route.direct_response
        reply = local_reply(dr.status, dr.body or "", server, route.response_headers_to_add)
        if vhost.name == "block_all":
            # REGISTRY_ONLY: unknown hosts on an HTTP port get a direct 502, no body
            # (docs/behaviour.md §11.2).
            detail = f"REGISTRY_ONLY: host {request.host or ''} is not in the registry: {dr.status}"
            return http_miss(base, Miss.BLOCKED, server, detail, delay_flag=delay_flag, reply=reply)
        return Result(
            **base,
            action="direct_response",
            reply=reply,
            response_flags=join_flags(delay_flag),
            detail=f"direct response {dr.status}",
        )

    action = route.route
    name = pick_cluster(route, rng)
    cluster = proxy.clusters.get(name) if name else None
    base = {**base, "cluster": name}
    if cluster is None:
        code = action.cluster_not_found_response_code if action is not None else 503
        detail = f"cluster {name} not found: {code}"
        return http_miss(base, Miss.CLUSTER_NOT_FOUND, server, detail, delay_flag=delay_flag, status=code)
    endpoint = pick_endpoint(cluster, request, rng)
    if endpoint is None:
        body = HTTP_MISSES[Miss.NO_HEALTHY_UPSTREAM].body
        detail = f'cluster {name} has no healthy endpoints: 503 "{body}"'
        return http_miss(base, Miss.NO_HEALTHY_UPSTREAM, server, detail, delay_flag=delay_flag)
    # Router shadowing: each request_mirror_policy fires with its runtime_fraction; a policy
    # whose cluster does not exist is skipped ("shadow cluster '{}' does not exist").
    mirrors = tuple(
        p.cluster
        for p in (action.request_mirror_policies if action is not None else ())
        if _fires(p.runtime_fraction, rng) and p.cluster in proxy.clusters
    )
    return Result(
        **base,
        endpoint=endpoint,
        action="http",
        response_flags=join_flags(delay_flag),
        mirrors=mirrors,
    )


_FAULT_ABORT_BODY = "fault filter abort"


def _fires(percentage: float, rng: Rng | None) -> bool:
    # Envoy Runtime featureEnabled(FractionalPercent): random % denominator < numerator, with
    # Istio's numerator over a MILLION. Without an rng the outcome is deterministic: 100 % always
    # fires, anything less never does (what a single request most likely sees is not the point;
    # a lab must be reproducible).
    if rng is None:
        return percentage >= 100.0
    return rng.randrange(1_000_000) < round(percentage * 10000)
