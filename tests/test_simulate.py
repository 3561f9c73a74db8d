"""Table-driven tests for gatewaykit._simulate, in the style of Istio's gateway_simulation_test.go.

Each row is (name, proxy, request, expected): the expected fields are the listener / route
config / virtual host / route / cluster names Envoy would pick, or the miss, plus the exact
local reply a learner sees with curl. The configurations are hand-built Envoy models, named
the way Istio names them, so these tests pin the *matching* rules independently of translate.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

import pytest

from gatewaykit.envoy import (
    Cluster,
    DirectResponseAction,
    DownstreamTlsContext,
    Endpoint,
    FilterChain,
    FilterChainMatch,
    HeaderMatcher,
    HttpConnectionManager,
    Listener,
    ProxyConfig,
    RedirectAction,
    Route,
    RouteAction,
    RouteConfiguration,
    RouteMatch,
    SecretMaterial,
    TcpProxy,
    VirtualHost,
    WeightedCluster,
)
from gatewaykit._simulate import (
    CONNECTION_MISSES,
    HTTP_MISSES,
    LocalReply,
    Miss,
    Request,
    Result,
    match_filter_chain,
    match_listener,
    match_route,
    match_virtual_host,
    pick_cluster,
    redirect_location,
    simulate,
)

HTTPBIN = "outbound|8000||httpbin.default.svc.cluster.local"
HELLO_V1 = "outbound|5000|v1|helloworld.default.svc.cluster.local"
HELLO_V2 = "outbound|5000|v2|helloworld.default.svc.cluster.local"
EMPTY = "outbound|8000||empty.default.svc.cluster.local"
NGINX = "outbound|443||my-nginx.default.svc.cluster.local"
ECHO_V1 = "outbound|9000|v1|tcp-echo.default.svc.cluster.local"
ECHO_V2 = "outbound|9000|v2|tcp-echo.default.svc.cluster.local"


def _route(name: str, cluster: str | None = None, **match: Any) -> Route:
    return Route(name=name, match=RouteMatch(**match), route=RouteAction(cluster=cluster))


def _hcm(route_config: str, server: str = "istio-envoy", edge: bool = True) -> HttpConnectionManager:
    return HttpConnectionManager(
        route_config_name=route_config, stat_prefix=route_config, server_name=server, use_remote_address=edge
    )


def _tls(
    mode: str = "SIMPLE", cert: str | None = "kubernetes://httpbin-credential", **kw: Any
) -> DownstreamTlsContext:
    return DownstreamTlsContext(mode=mode, certificate_sds=cert, **kw)  # type: ignore[arg-type]


GOOD_CERT = SecretMaterial(
    name="kubernetes://httpbin-credential", certificate_chain=b"-----BEGIN CERTIFICATE-----", private_key=b"k"
)
CA = SecretMaterial(name="kubernetes://httpbin-credential-cacert", trusted_ca=b"-----BEGIN CERTIFICATE-----")
MISSING = SecretMaterial(name="kubernetes://missing", error="secret istio-system/missing not found")


def _gateway() -> ProxyConfig:
    http_rc = RouteConfiguration(
        name="http.8080",
        virtual_hosts=(
            VirtualHost(
                name="httpbin.example.com:80",
                domains=("httpbin.example.com",),
                routes=(
                    _route("status", HTTPBIN, prefix="/status"),
                    _route("delay", HTTPBIN, prefix="/delay"),
                    Route(
                        name="moved",
                        match=RouteMatch(prefix="/old"),
                        redirect=RedirectAction(prefix_rewrite="/new", response_code=302),
                    ),
                    Route(
                        name="teapot",
                        match=RouteMatch(path="/tea"),
                        direct_response=DirectResponseAction(status=418, body="I'm a teapot!"),
                    ),
                    _route("ghost", "outbound|80||ghost.default.svc.cluster.local", prefix="/ghost"),
                    _route("empty", EMPTY, prefix="/empty"),
                ),
            ),
            VirtualHost(
                name="helloworld.example.com:80",
                domains=("helloworld.example.com",),
                routes=(
                    Route(
                        name="split",
                        match=RouteMatch(prefix="/"),
                        route=RouteAction(
                            weighted_clusters=(WeightedCluster(HELLO_V1, 10), WeightedCluster(HELLO_V2, 90))
                        ),
                    ),
                ),
            ),
            VirtualHost(
                name="secure.example.com:80",
                domains=("secure.example.com",),
                routes=(_route("anything", HTTPBIN, prefix="/"),),
                require_tls="ALL",
            ),
            VirtualHost(
                name="*.example.com:80",
                domains=("*.example.com",),
                routes=(_route("wild", HTTPBIN, prefix="/"),),
            ),
        ),
    )
    blackhole_rc = RouteConfiguration(
        name="http.8081", virtual_hosts=(VirtualHost(name="blackhole:81", domains=("*",)),)
    )
    https_rc = RouteConfiguration(
        name="https.443.https.httpbin-gateway.istio-system",
        virtual_hosts=(
            VirtualHost(
                name="httpbin.example.com:443",
                domains=("httpbin.example.com",),
                routes=(_route("all", HTTPBIN, prefix="/"),),
                # httpsRedirect on an HTTPS server has no effect: requests are already TLS
                # (docs/behaviour.md §6).
                require_tls="ALL",
            ),
        ),
    )
    return ProxyConfig(
        id="istio-ingressgateway-5c7d8b9f6-abcde.istio-system",
        type="router",
        namespace="istio-system",
        workload="istio-ingressgateway",
        listeners=(
            Listener(
                name="0.0.0.0_8080",
                address="0.0.0.0",
                port=8080,
                filter_chains=(FilterChain(name="", http_connection_manager=_hcm("http.8080")),),
            ),
            Listener(
                name="0.0.0.0_8081",
                address="0.0.0.0",
                port=8081,
                filter_chains=(FilterChain(name="", http_connection_manager=_hcm("http.8081")),),
            ),
            Listener(
                name="0.0.0.0_8443",
                address="0.0.0.0",
                port=8443,
                filter_chains=(
                    FilterChain(
                        name="httpbin",
                        filter_chain_match=FilterChainMatch(server_names=("httpbin.example.com",)),
                        transport_socket=_tls(),
                        http_connection_manager=_hcm("https.443.https.httpbin-gateway.istio-system"),
                    ),
                    FilterChain(
                        name="wildcard",
                        filter_chain_match=FilterChainMatch(server_names=("*.example.com",)),
                        transport_socket=_tls(),
                        http_connection_manager=_hcm("https.443.https.httpbin-gateway.istio-system"),
                    ),
                    FilterChain(
                        name="deep-wildcard",
                        filter_chain_match=FilterChainMatch(server_names=("*.apps.example.com",)),
                        transport_socket=_tls(),
                        http_connection_manager=_hcm("https.443.https.httpbin-gateway.istio-system"),
                    ),
                    FilterChain(
                        name="mutual",
                        filter_chain_match=FilterChainMatch(server_names=("mtls.example.org",)),
                        transport_socket=_tls(
                            "MUTUAL",
                            validation_sds="kubernetes://httpbin-credential-cacert",
                            require_client_certificate=True,
                        ),
                        http_connection_manager=_hcm("https.443.https.httpbin-gateway.istio-system"),
                    ),
                    FilterChain(
                        name="optional",
                        filter_chain_match=FilterChainMatch(server_names=("optional.example.org",)),
                        transport_socket=_tls(
                            "OPTIONAL_MUTUAL", validation_sds="kubernetes://httpbin-credential-cacert"
                        ),
                        http_connection_manager=_hcm("https.443.https.httpbin-gateway.istio-system"),
                    ),
                    FilterChain(
                        name="broken",
                        filter_chain_match=FilterChainMatch(server_names=("broken.example.org",)),
                        transport_socket=_tls(cert="kubernetes://missing"),
                        http_connection_manager=_hcm("https.443.https.httpbin-gateway.istio-system"),
                    ),
                ),
            ),
            Listener(
                name="0.0.0.0_9443",
                address="0.0.0.0",
                port=9443,
                filter_chains=(
                    # hosts: "*" on an HTTPS server -> no server_names: matches any SNI and none
                    # (docs/behaviour.md §4.4)
                    FilterChain(
                        name="any-sni",
                        transport_socket=_tls(),
                        http_connection_manager=_hcm("https.443.https.httpbin-gateway.istio-system"),
                    ),
                ),
            ),
            Listener(
                name="0.0.0.0_15443",
                address="0.0.0.0",
                port=15443,
                filter_chains=(
                    FilterChain(
                        name="passthrough",
                        filter_chain_match=FilterChainMatch(server_names=("nginx.example.com",)),
                        tcp_proxy=TcpProxy(stat_prefix=NGINX, cluster=NGINX),
                    ),
                ),
            ),
            Listener(
                name="0.0.0.0_31400",
                address="0.0.0.0",
                port=31400,
                filter_chains=(
                    FilterChain(
                        name="tcp",
                        tcp_proxy=TcpProxy(
                            stat_prefix="tcp",
                            weighted_clusters=(WeightedCluster(ECHO_V1, 80), WeightedCluster(ECHO_V2, 20)),
                        ),
                    ),
                ),
            ),
        ),
        route_configs={rc.name: rc for rc in (http_rc, blackhole_rc, https_rc)},
        clusters={
            c.name: c
            for c in (
                Cluster(name=HTTPBIN, endpoints=(Endpoint("10.244.0.5", 8080, "httpbin-7d8c9f6b4c-x2x9q"),)),
                Cluster(name=HELLO_V1, endpoints=(Endpoint("10.244.0.6", 5000),)),
                Cluster(name=HELLO_V2, endpoints=(Endpoint("10.244.0.7", 5000),)),
                Cluster(name=EMPTY, endpoints=(Endpoint("10.244.0.9", 8080, healthy=False),)),
                Cluster(name=NGINX, endpoints=(Endpoint("10.244.0.8", 443),)),
                Cluster(name=ECHO_V1, endpoints=(Endpoint("10.244.0.10", 9000),)),
                Cluster(name=ECHO_V2, endpoints=(Endpoint("10.244.0.11", 9000),)),
            )
        },
        secrets={s.name: s for s in (GOOD_CERT, CA, MISSING)},
    )


def _sidecar() -> ProxyConfig:
    rc = RouteConfiguration(
        name="80",
        virtual_hosts=(
            VirtualHost(
                name="httpbin.org:80",
                domains=("httpbin.org", "httpbin.org:80"),
                routes=(_route("default", "outbound|80||httpbin.org", prefix="/"),),
            ),
            VirtualHost(
                name="block_all",
                domains=("*",),
                routes=(
                    Route(
                        name="block_all",
                        match=RouteMatch(prefix="/"),
                        direct_response=DirectResponseAction(502),
                    ),
                ),
            ),
        ),
        ignore_port_in_host_matching=False,
    )
    return ProxyConfig(
        id="curl-6b8f7c9d4-q2w3e.default",
        type="sidecar",
        namespace="default",
        workload="curl",
        listeners=(
            Listener(
                name="0.0.0.0_80",
                address="0.0.0.0",
                port=80,
                filter_chains=(
                    FilterChain(
                        name="0.0.0.0_80",
                        filter_chain_match=FilterChainMatch(
                            transport_protocol="raw_buffer", application_protocols=("http/1.1", "h2c")
                        ),
                        http_connection_manager=_hcm("80", server="envoy", edge=False),
                    ),
                ),
                default_filter_chain=FilterChain(
                    name="PassthroughFilterChain",
                    tcp_proxy=TcpProxy(stat_prefix="x", cluster="BlackHoleCluster"),
                ),
                traffic_direction="OUTBOUND",
            ),
            Listener(
                name="10.96.0.20_9000",
                address="10.96.0.20",
                port=9000,
                filter_chains=(
                    FilterChain(name="tcp-echo", tcp_proxy=TcpProxy(stat_prefix="e", cluster=ECHO_V1)),
                ),
            ),
            Listener(
                name="virtualOutbound",
                address="0.0.0.0",
                port=15001,
                filter_chains=(
                    FilterChain(
                        name="PassthroughFilterChain",
                        tcp_proxy=TcpProxy(stat_prefix="PassthroughCluster", cluster="PassthroughCluster"),
                    ),
                ),
            ),
        ),
        route_configs={"80": rc},
        clusters={
            "outbound|80||httpbin.org": Cluster(
                name="outbound|80||httpbin.org", type="STRICT_DNS", endpoints=(Endpoint("httpbin.org", 80),)
            ),
            "BlackHoleCluster": Cluster(name="BlackHoleCluster", type="STATIC"),
            "PassthroughCluster": Cluster(name="PassthroughCluster", type="ORIGINAL_DST"),
            ECHO_V1: Cluster(name=ECHO_V1, endpoints=(Endpoint("10.244.0.10", 9000),)),
        },
    )


GW = _gateway()
SIDECAR = _sidecar()


@dataclass(frozen=True)
class Case:
    name: str
    request: Request
    expect: dict[str, Any]
    proxy: ProxyConfig = field(default=GW)


CASES: list[Case] = [
    # ---- listeners (docs/behaviour.md §2)
    Case(
        "undefined port is refused",
        Request(port=9999, host="httpbin.example.com"),
        {"miss": Miss.NO_LISTENER, "action": "refused", "curl_exit": 7, "listener": None},
    ),
    Case(
        "service port 80 is not a pod port",
        Request(port=80, host="httpbin.example.com"),
        {"miss": Miss.NO_LISTENER},
    ),
    # ---- HTTP routing through http.8080
    Case(
        "prefix route to httpbin",
        Request(port=8080, host="httpbin.example.com", path="/status/418"),
        {
            "listener": "0.0.0.0_8080",
            "route_config": "http.8080",
            "virtual_host": "httpbin.example.com:80",
            "route": "status",
            "cluster": HTTPBIN,
            "endpoint": "10.244.0.5:8080",
            "action": "http",
            "miss": None,
            "reply": None,
            "response_flags": "-",
        },
    ),
    Case(
        "Host header is case-insensitive",
        Request(port=8080, host="HTTPBIN.Example.COM", path="/status/200"),
        {"virtual_host": "httpbin.example.com:80", "cluster": HTTPBIN},
    ),
    Case(
        "port in Host header is ignored on gateways",
        Request(port=8080, host="httpbin.example.com:31380", path="/delay/1"),
        {"virtual_host": "httpbin.example.com:80", "route": "delay"},
    ),
    Case(
        "exact domain beats wildcard",
        Request(port=8080, host="helloworld.example.com", path="/hello"),
        {"virtual_host": "helloworld.example.com:80", "cluster": HELLO_V2},
    ),
    Case(
        "wildcard vhost catches other subdomains",
        Request(port=8080, host="other.example.com", path="/x"),
        {"virtual_host": "*.example.com:80", "route": "wild"},
    ),
    Case(
        "wildcard does not match the bare domain",
        Request(port=8080, host="example.com"),
        {
            "miss": Miss.NO_VIRTUAL_HOST,
            "virtual_host": None,
            "response_flags": "NR",
            "reply": LocalReply(404, "", (("server", "istio-envoy"), ("content-length", "0"))),
        },
    ),
    Case(
        "host mismatch is 404 NR",
        Request(port=8080, host="foo.com"),
        {"miss": Miss.NO_VIRTUAL_HOST, "action": "local_reply", "route_config": "http.8080"},
    ),
    Case(
        "no route matches path",
        Request(port=8080, host="httpbin.example.com", path="/headers"),
        {
            "miss": Miss.NO_ROUTE,
            "virtual_host": "httpbin.example.com:80",
            "route": None,
            "response_flags": "NR",
            "reply": LocalReply(404, "", (("server", "istio-envoy"), ("content-length", "0"))),
        },
    ),
    Case(
        "prefix match is case-sensitive by default",
        Request(port=8080, host="httpbin.example.com", path="/STATUS/200"),
        {"miss": Miss.NO_ROUTE},
    ),
    Case(
        "prefix ignores the query string",
        Request(port=8080, host="httpbin.example.com", path="/tea?x=/status"),
        {"route": "teapot", "action": "direct_response"},
    ),
    Case(
        "no virtual services: blackhole vhost 404",
        Request(port=8081, host="anything.com"),
        {"miss": Miss.NO_ROUTE, "virtual_host": "blackhole:81", "route_config": "http.8081"},
    ),
    Case(
        "blackhole vhost answers even without a Host",
        Request(port=8081, host=None),
        {"miss": Miss.NO_ROUTE, "virtual_host": "blackhole:81"},
    ),
    # ---- httpsRedirect (docs/behaviour.md §6)
    Case(
        "require_tls redirects plaintext with Host verbatim",
        Request(port=8080, host="Secure.example.com:8080", path="/a?b=1"),
        {
            "miss": Miss.TLS_REQUIRED,
            "action": "local_reply",
            "route": None,
            "response_flags": "-",
            "reply": LocalReply(
                301,
                "",
                (
                    ("location", "https://Secure.example.com:8080/a?b=1"),
                    ("server", "istio-envoy"),
                    ("content-length", "0"),
                ),
            ),
        },
    ),
    Case(
        "require_tls is checked before routes: any path",
        Request(port=8080, host="secure.example.com", path="/nothing"),
        {"miss": Miss.TLS_REQUIRED},
    ),
    Case(
        "require_tls has no effect on https",
        Request(port=8443, protocol="https", sni="httpbin.example.com", host="httpbin.example.com", path="/"),
        {
            "miss": None,
            "virtual_host": "httpbin.example.com:443",
            "route_config": "https.443.https.httpbin-gateway.istio-system",
            "filter_chain": "httpbin",
            "cluster": HTTPBIN,
        },
    ),
    # ---- local replies (docs/behaviour.md §1.4)
    Case(
        "cluster not found is 503 NC with empty body",
        Request(port=8080, host="httpbin.example.com", path="/ghost"),
        {
            "miss": Miss.CLUSTER_NOT_FOUND,
            "cluster": "outbound|80||ghost.default.svc.cluster.local",
            "response_flags": "NC",
            "reply": LocalReply(503, "", (("server", "istio-envoy"), ("content-length", "0"))),
        },
    ),
    Case(
        "no healthy upstream is 503 UH with a body",
        Request(port=8080, host="httpbin.example.com", path="/empty"),
        {
            "miss": Miss.NO_HEALTHY_UPSTREAM,
            "cluster": EMPTY,
            "endpoint": None,
            "response_flags": "UH",
            "reply": LocalReply(
                503,
                "no healthy upstream",
                (("content-length", "19"), ("content-type", "text/plain"), ("server", "istio-envoy")),
            ),
        },
    ),
    Case(
        "direct response carries body and text/plain",
        Request(port=8080, host="httpbin.example.com", path="/tea"),
        {
            "miss": None,
            "action": "direct_response",
            "route": "teapot",
            "reply": LocalReply(
                418,
                "I'm a teapot!",
                (("content-length", "13"), ("content-type", "text/plain"), ("server", "istio-envoy")),
            ),
        },
    ),
    Case(
        "redirect route with prefix rewrite keeps rest and query",
        Request(port=8080, host="httpbin.example.com", path="/old/x?y=1"),
        {
            "action": "redirect",
            "route": "moved",
            "reply": LocalReply(
                302,
                "",
                (
                    ("location", "http://httpbin.example.com/new/x?y=1"),
                    ("server", "istio-envoy"),
                    ("content-length", "0"),
                ),
            ),
        },
    ),
    # ---- SNI / filter chains (docs/behaviour.md §4.4)
    Case(
        "exact SNI",
        Request(port=8443, protocol="https", sni="httpbin.example.com", host="httpbin.example.com"),
        {"filter_chain": "httpbin", "action": "http"},
    ),
    Case(
        "SNI is case-insensitive",
        Request(port=8443, protocol="https", sni="HTTPBIN.example.com", host="httpbin.example.com"),
        {"filter_chain": "httpbin"},
    ),
    Case(
        "wildcard SNI",
        Request(port=8443, protocol="https", sni="a.example.com", host="httpbin.example.com"),
        {"filter_chain": "wildcard"},
    ),
    Case(
        "wildcard SNI spans several labels",
        Request(port=8443, protocol="https", sni="a.b.example.com", host="httpbin.example.com"),
        {"filter_chain": "wildcard"},
    ),
    Case(
        "longest wildcard SNI wins",
        Request(port=8443, protocol="https", sni="x.apps.example.com", host="httpbin.example.com"),
        {"filter_chain": "deep-wildcard"},
    ),
    Case(
        "unknown SNI: connection closed, curl 35",
        Request(port=8443, protocol="https", sni="nope.org", host="nope.org"),
        {
            "miss": Miss.NO_FILTER_CHAIN,
            "action": "reset",
            "curl_exit": 35,
            "filter_chain": None,
            "response_flags": "NR",
        },
    ),
    Case(
        "no SNI (curl to an IP) fails on SNI chains",
        Request(port=8443, protocol="https", sni=None, host="httpbin.example.com"),
        {"miss": Miss.NO_FILTER_CHAIN, "curl_exit": 35},
    ),
    Case(
        "empty server_names matches no SNI",
        Request(port=9443, protocol="https", sni=None, host="httpbin.example.com"),
        {"filter_chain": "any-sni", "miss": None},
    ),
    Case(
        "empty server_names matches any SNI",
        Request(port=9443, protocol="https", sni="whatever.io", host="httpbin.example.com"),
        {"filter_chain": "any-sni", "miss": None},
    ),
    Case(
        "SNI picks the chain, Host picks the vhost: 404",
        Request(port=8443, protocol="https", sni="httpbin.example.com", host="helloworld.example.com"),
        {"filter_chain": "httpbin", "miss": Miss.NO_VIRTUAL_HOST},
    ),
    # ---- TLS contexts (docs/behaviour.md §7, §8)
    Case(
        "missing credential: handshake fails",
        Request(port=8443, protocol="https", sni="broken.example.org", host="x"),
        {"miss": Miss.TLS_HANDSHAKE_FAILED, "filter_chain": "broken", "curl_exit": 35, "action": "reset"},
    ),
    Case(
        "MUTUAL without client cert",
        Request(port=8443, protocol="https", sni="mtls.example.org", host="httpbin.example.com"),
        {"miss": Miss.CLIENT_CERT_REQUIRED, "curl_exit": 56, "action": "reset"},
    ),
    Case(
        "MUTUAL with client cert",
        Request(
            port=8443,
            protocol="https",
            sni="mtls.example.org",
            host="httpbin.example.com",
            client_certificate=True,
        ),
        {"miss": None, "cluster": HTTPBIN},
    ),
    Case(
        "OPTIONAL_MUTUAL without client cert",
        Request(port=8443, protocol="https", sni="optional.example.org", host="httpbin.example.com"),
        {"miss": None, "filter_chain": "optional"},
    ),
    Case(
        "plain HTTP to a TLS-only chain",
        Request(port=9443, protocol="http", host="httpbin.example.com"),
        {"miss": Miss.TLS_HANDSHAKE_FAILED, "curl_exit": 56, "action": "reset"},
    ),
    Case(
        "plain HTTP to SNI-only listener: no chain",
        Request(port=8443, protocol="http", host="httpbin.example.com"),
        {"miss": Miss.NO_FILTER_CHAIN, "curl_exit": 56},
    ),
    Case(
        "HTTPS to the plaintext HTTP port",
        Request(port=8080, protocol="https", sni="httpbin.example.com", host="httpbin.example.com"),
        {"miss": Miss.PROTOCOL_ERROR, "curl_exit": 35, "response_flags": "DPE", "action": "reset"},
    ),
    # ---- TCP / passthrough (docs/behaviour.md §5)
    Case(
        "TLS passthrough by SNI",
        Request(port=15443, protocol="https", sni="nginx.example.com", host="nginx.example.com"),
        {
            "filter_chain": "passthrough",
            "action": "tcp",
            "cluster": NGINX,
            "endpoint": "10.244.0.8:443",
            "route_config": None,
            "virtual_host": None,
        },
    ),
    Case(
        "passthrough with unknown SNI",
        Request(port=15443, protocol="https", sni="other.example.com"),
        {"miss": Miss.NO_FILTER_CHAIN, "curl_exit": 35},
    ),
    Case(
        "TCP weighted: highest weight when deterministic",
        Request(port=31400, protocol="tcp"),
        {"action": "tcp", "cluster": ECHO_V1, "endpoint": "10.244.0.10:9000"},
    ),
    # ---- sidecar outbound (docs/behaviour.md §11)
    Case(
        "sidecar routes a registered host",
        Request(port=80, host="httpbin.org", path="/headers"),
        {
            "virtual_host": "httpbin.org:80",
            "cluster": "outbound|80||httpbin.org",
            "endpoint": "httpbin.org:80",
        },
        proxy=SIDECAR,
    ),
    Case(
        "REGISTRY_ONLY: block_all direct 502 with no body",
        Request(port=80, host="www.google.com"),
        {
            "miss": Miss.BLOCKED,
            "virtual_host": "block_all",
            "action": "direct_response",
            "reply": LocalReply(502, "", (("server", "envoy"), ("content-length", "0"))),
        },
        proxy=SIDECAR,
    ),
    Case(
        "sidecar keeps the port when ignore_port is off",
        Request(port=80, host="httpbin.org:80"),
        {"virtual_host": "httpbin.org:80"},
        proxy=SIDECAR,
    ),
    Case(
        "sidecar: port-qualified Host not listed goes to block_all",
        Request(port=80, host="httpbin.org:8080"),
        {"miss": Miss.BLOCKED},
        proxy=SIDECAR,
    ),
    Case(
        "sidecar: TLS on port 80 falls to the default chain, BlackHole",
        Request(port=80, protocol="https", sni="www.google.com"),
        {
            "filter_chain": "PassthroughFilterChain",
            "cluster": "BlackHoleCluster",
            "miss": Miss.NO_HEALTHY_UPSTREAM,
            "action": "reset",
            "curl_exit": 35,
            "response_flags": "UH",
        },
        proxy=SIDECAR,
    ),
    Case(
        "sidecar: original destination listener",
        Request(port=9000, protocol="tcp", destination="10.96.0.20"),
        {"listener": "10.96.0.20_9000", "cluster": ECHO_V1},
        proxy=SIDECAR,
    ),
    Case(
        "sidecar: unknown port goes to virtualOutbound passthrough",
        Request(port=8888, protocol="tcp", destination="93.184.216.34"),
        {
            "listener": "virtualOutbound",
            "cluster": "PassthroughCluster",
            "endpoint": "93.184.216.34:8888",
            "action": "tcp",
        },
        proxy=SIDECAR,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_simulation_table(case: Case) -> None:
    result = simulate(case.proxy, case.request)
    got = {key: getattr(result, key) for key in case.expect}
    assert got == case.expect, result.explain()


# --------------------------------------------------------------- virtual host precedence


def _rc(*domains: tuple[str, ...], ignore_port: bool = True) -> RouteConfiguration:
    return RouteConfiguration(
        name="r",
        virtual_hosts=tuple(VirtualHost(name=",".join(d), domains=d) for d in domains),
        ignore_port_in_host_matching=ignore_port,
    )


VHOST_ROWS = [
    # (domains per vhost, host, expected vhost name or None)
    ((("a.example.com",), ("*.example.com",), ("*",)), "a.example.com", "a.example.com"),
    ((("*",), ("*.example.com",), ("a.example.com",)), "a.example.com", "a.example.com"),
    ((("*.example.com",), ("*.b.example.com",)), "x.b.example.com", "*.b.example.com"),
    ((("*.example.com",), ("*",)), "example.com", "*"),
    ((("*example.com",),), "myexample.com", "*example.com"),
    ((("*.example.com",), ("api.*",)), "api.example.com", "*.example.com"),  # suffix before prefix
    ((("api.*",), ("*",)), "api.internal", "api.*"),
    ((("api.*",),), "api.", None),  # a wildcard must cover at least one character
    ((("httpbin.example.com",),), "HTTPBIN.EXAMPLE.COM:443", "httpbin.example.com"),
    ((("httpbin.example.com",),), "other.com", None),
    ((("[::1]",),), "[::1]:8080", "[::1]"),
    ((("[::1]",),), "[::1]", "[::1]"),
]


@pytest.mark.parametrize(("domains", "host", "expected"), VHOST_ROWS)
def test_virtual_host_precedence(
    domains: tuple[tuple[str, ...], ...], host: str, expected: str | None
) -> None:
    vh = match_virtual_host(_rc(*domains), host)
    assert (vh.name if vh else None) == expected


def test_virtual_host_port_kept_without_ignore_port() -> None:
    rc = _rc(("httpbin.org",), ("httpbin.org:8000",), ignore_port=False)
    assert match_virtual_host(rc, "httpbin.org:8000").name == "httpbin.org:8000"  # type: ignore[union-attr]
    assert match_virtual_host(rc, "httpbin.org:9") is None


def test_no_host_header_matches_nothing_but_lone_default() -> None:
    assert match_virtual_host(_rc(("a.com",), ("*",)), None) is None
    assert match_virtual_host(_rc(("*",)), None).name == "*"  # type: ignore[union-attr]


# ------------------------------------------------------------------------ route matching


def _vh(*routes: Route) -> VirtualHost:
    return VirtualHost(name="v", domains=("*",), routes=routes)


H = HeaderMatcher

ROUTE_ROWS = [
    # (route match, request, matches?)
    (RouteMatch(prefix="/"), Request(port=1, path="/anything"), True),
    (RouteMatch(path="/exact"), Request(port=1, path="/exact?q=1"), True),
    (RouteMatch(path="/exact"), Request(port=1, path="/exact/more"), False),
    (RouteMatch(path="/Exact", case_sensitive=False), Request(port=1, path="/eXACT"), True),
    (RouteMatch(prefix="/API", case_sensitive=False), Request(port=1, path="/api/v1"), True),
    (RouteMatch(safe_regex="/status/[0-9]+"), Request(port=1, path="/status/418"), True),
    (RouteMatch(safe_regex="/status/[0-9]+"), Request(port=1, path="/status/418/x"), False),  # full match
    (RouteMatch(prefix="/", headers=(H(":method", exact="POST"),)), Request(port=1, method="GET"), False),
    (RouteMatch(prefix="/", headers=(H(":method", exact="POST"),)), Request(port=1, method="POST"), True),
    (
        RouteMatch(prefix="/", headers=(H(":authority", prefix="api."),)),
        Request(port=1, host="api.x.com"),
        True,
    ),
    (RouteMatch(prefix="/", headers=(H(":scheme", exact="https"),)), Request(port=1, protocol="https"), True),
    (RouteMatch(prefix="/", headers=(H(":scheme", exact="https"),)), Request(port=1, protocol="http"), False),
    (
        RouteMatch(prefix="/", headers=(H("end-user", exact="jason"),)),
        Request(port=1, headers=(("End-User", "jason"),)),
        True,
    ),
    (RouteMatch(prefix="/", headers=(H("end-user", exact="jason"),)), Request(port=1), False),
    (RouteMatch(prefix="/", headers=(H("x", present=True),)), Request(port=1, headers=(("x", ""),)), True),
    (RouteMatch(prefix="/", headers=(H("x", present=True),)), Request(port=1), False),
    (RouteMatch(prefix="/", headers=(H("x", present=False),)), Request(port=1), True),
    (
        RouteMatch(prefix="/", headers=(H("x", exact="a", invert_match=True),)),
        Request(port=1, headers=(("x", "b"),)),
        True,
    ),
    (
        RouteMatch(prefix="/", headers=(H("x", exact="a", invert_match=True),)),
        Request(port=1, headers=(("x", "a"),)),
        False,
    ),
    # Envoy: a missing header never matches a non-inverted value matcher; an inverted one comes
    # from Istio withoutHeaders, which sets treat_missing_header_as_empty: "" is not "a" → match.
    (RouteMatch(prefix="/", headers=(H("x", exact="a"),)), Request(port=1), False),
    (RouteMatch(prefix="/", headers=(H("x", exact="a", invert_match=True),)), Request(port=1), True),
    # ... and "" against an inverted regex that accepts "" does not match.
    (RouteMatch(prefix="/", headers=(H("x", safe_regex="a*", invert_match=True),)), Request(port=1), False),
    # withoutHeaders {x: {}} is an inverted present match: only requests without x match.
    (RouteMatch(prefix="/", headers=(H("x", present=True, invert_match=True),)), Request(port=1), True),
    (
        RouteMatch(prefix="/", headers=(H("x", present=True, invert_match=True),)),
        Request(port=1, headers=(("x", "1"),)),
        False,
    ),
    (
        RouteMatch(prefix="/", headers=(H("x", exact="a,b"),)),
        Request(port=1, headers=(("x", "a"), ("x", "b"))),
        True,
    ),
    (
        RouteMatch(prefix="/", headers=(H("x", safe_regex="v[12]"),)),
        Request(port=1, headers=(("x", "v2"),)),
        True,
    ),
    (
        RouteMatch(prefix="/", query_parameters=(H("debug", exact="1"),)),
        Request(port=1, path="/?debug=1"),
        True,
    ),
    (
        RouteMatch(prefix="/", query_parameters=(H("debug", exact="1"),)),
        Request(port=1, path="/?debug=2"),
        False,
    ),
    (RouteMatch(prefix="/", query_parameters=(H("debug", exact="1"),)), Request(port=1, path="/"), False),
    (
        RouteMatch(prefix="/", query_parameters=(H("debug", present=True),)),
        Request(port=1, path="/x?debug"),
        True,
    ),
    (
        RouteMatch(prefix="/", query_parameters=(H("v", prefix="ab"),)),
        Request(port=1, path="/x?a=1&v=abc"),
        True,
    ),
]


@pytest.mark.parametrize(("match", "request_", "matches"), ROUTE_ROWS)
def test_route_matching(match: RouteMatch, request_: Request, matches: bool) -> None:
    route = Route(name="r", match=match, route=RouteAction(cluster="c"))
    assert (match_route(_vh(route), request_) is route) is matches


def test_first_route_wins_catch_all_order() -> None:
    catch_all = _route("catch-all", "c1", prefix="/")
    specific = _route("specific", "c2", prefix="/status")
    assert match_route(_vh(catch_all, specific), Request(port=1, path="/status/1")) is catch_all
    assert match_route(_vh(specific, catch_all), Request(port=1, path="/status/1")) is specific
    assert match_route(_vh(specific, catch_all), Request(port=1, path="/ip")) is catch_all


# --------------------------------------------------------------------- filter chain order


def _chain(name: str, **m: Any) -> FilterChain:
    return FilterChain(name=name, filter_chain_match=FilterChainMatch(**m))


def test_filter_chain_transport_protocol() -> None:
    lst = Listener(
        name="l",
        address="0.0.0.0",
        port=443,
        filter_chains=(
            _chain("tls", transport_protocol="tls"),
            _chain("plain", transport_protocol="raw_buffer"),
        ),
    )
    assert match_filter_chain(lst, sni=None, transport_protocol="tls").name == "tls"  # type: ignore[union-attr]
    assert match_filter_chain(lst, sni=None, transport_protocol="raw_buffer").name == "plain"  # type: ignore[union-attr]


def test_filter_chain_server_name_level_does_not_backtrack() -> None:
    # Envoy picks the most specific server_names first and never falls back to a less
    # specific level when a later criterion (transport) fails there.
    lst = Listener(
        name="l",
        address="0.0.0.0",
        port=443,
        filter_chains=(
            _chain("sni-plain", server_names=("a.com",), transport_protocol="raw_buffer"),
            _chain("any-tls", transport_protocol="tls"),
        ),
    )
    assert match_filter_chain(lst, sni="a.com", transport_protocol="tls") is None
    assert match_filter_chain(lst, sni="b.com", transport_protocol="tls").name == "any-tls"  # type: ignore[union-attr]


def test_filter_chain_alpn_and_ports_and_default() -> None:
    default = FilterChain(name="default")
    lst = Listener(
        name="l",
        address="0.0.0.0",
        port=80,
        filter_chains=(
            _chain("http", application_protocols=("http/1.1", "h2c")),
            _chain("port-81", destination_port=81),
        ),
        default_filter_chain=default,
    )
    assert match_filter_chain(lst, sni=None, transport_protocol="raw_buffer", alpn=("h2c",)).name == "http"  # type: ignore[union-attr]
    assert match_filter_chain(lst, sni=None, transport_protocol="raw_buffer", alpn=()) is default
    assert (
        match_filter_chain(lst, sni=None, transport_protocol="raw_buffer", destination_port=81).name
        == "port-81"
    )  # type: ignore[union-attr]


def test_filter_chain_prefix_ranges_longest_wins() -> None:
    lst = Listener(
        name="l",
        address="0.0.0.0",
        port=80,
        filter_chains=(
            _chain("wide", prefix_ranges=("10.0.0.0/8",)),
            _chain("narrow", prefix_ranges=("10.96.0.0/16",)),
            _chain("none"),
        ),
    )
    pick = lambda ip: match_filter_chain(lst, sni=None, transport_protocol=None, destination_ip=ip).name  # type: ignore[union-attr]  # noqa: E731
    assert pick("10.96.0.12") == "narrow"
    assert pick("10.1.2.3") == "wide"
    assert pick("192.168.1.1") == "none"


def test_match_listener_by_port() -> None:
    assert match_listener(GW, 8080).name == "0.0.0.0_8080"  # type: ignore[union-attr]
    assert match_listener(GW, 15001) is None  # gateways have no virtualOutbound


# ------------------------------------------------------------------------ weighted picks


def test_pick_cluster_deterministic_first_highest() -> None:
    tie = RouteAction(weighted_clusters=(WeightedCluster("a", 50), WeightedCluster("b", 50)))
    assert pick_cluster(tie) == "a"
    assert pick_cluster(RouteAction(cluster="single")) == "single"
    assert (
        pick_cluster(
            TcpProxy(stat_prefix="s", weighted_clusters=(WeightedCluster("x", 1), WeightedCluster("y", 3)))
        )
        == "y"
    )


def test_pick_cluster_with_rng_follows_weights() -> None:
    action = RouteAction(weighted_clusters=(WeightedCluster(HELLO_V1, 10), WeightedCluster(HELLO_V2, 90)))
    rng = random.Random(7)
    picks = [pick_cluster(action, rng) for _ in range(2000)]
    share = picks.count(HELLO_V1) / len(picks)
    assert 0.07 < share < 0.13
    zero = RouteAction(weighted_clusters=(WeightedCluster("a", 0), WeightedCluster("b", 100)))
    assert {pick_cluster(zero, random.Random(i)) for i in range(50)} == {"b"}


def test_simulate_with_rng_reaches_both_subsets() -> None:
    rng = random.Random(1)
    req = Request(port=8080, host="helloworld.example.com", path="/hello")
    clusters = {simulate(GW, req, rng).cluster for _ in range(200)}
    assert clusters == {HELLO_V1, HELLO_V2}


def test_endpoint_choice_skips_unhealthy() -> None:
    proxy = ProxyConfig(
        id="p",
        type="router",
        namespace="n",
        workload="w",
        listeners=(
            Listener(
                name="0.0.0.0_1",
                address="0.0.0.0",
                port=1,
                filter_chains=(FilterChain(name="t", tcp_proxy=TcpProxy(stat_prefix="t", cluster="c")),),
            ),
        ),
        clusters={
            "c": Cluster(
                name="c",
                endpoints=(
                    Endpoint("10.0.0.1", 1, healthy=False),
                    Endpoint("10.0.0.2", 1),
                    Endpoint("10.0.0.3", 1),
                ),
            )
        },
    )
    assert simulate(proxy, Request(port=1, protocol="tcp")).endpoint == "10.0.0.2:1"
    seen = {simulate(proxy, Request(port=1, protocol="tcp"), random.Random(i)).endpoint for i in range(40)}
    assert seen == {"10.0.0.2:1", "10.0.0.3:1"}


# ---------------------------------------------------------------------- redirect Location


REDIRECT_ROWS = [
    (RedirectAction(), Request(port=1, host="a.com", path="/p?q"), None, "http://a.com/p?q"),
    (
        RedirectAction(scheme_redirect="https"),
        Request(port=1, host="a.com:80", path="/p"),
        None,
        "https://a.com/p",
    ),
    (
        RedirectAction(scheme_redirect="https"),
        Request(port=1, host="a.com:8080", path="/p"),
        None,
        "https://a.com:8080/p",
    ),
    (
        RedirectAction(port_redirect=8443),
        Request(port=1, host="a.com:8080", path="/p"),
        None,
        "http://a.com:8443/p",
    ),
    (
        RedirectAction(host_redirect="b.com"),
        Request(port=1, host="a.com:8080", path="/p"),
        None,
        "http://b.com/p",
    ),
    (
        RedirectAction(host_redirect="b.com", port_redirect=99),
        Request(port=1, host="a.com", path="/p"),
        None,
        "http://b.com:99/p",
    ),
    (
        RedirectAction(path_redirect="/new"),
        Request(port=1, host="a.com", path="/old?x=1"),
        None,
        "http://a.com/new?x=1",
    ),
    (
        RedirectAction(path_redirect="/new?y=2"),
        Request(port=1, host="a.com", path="/old?x=1"),
        None,
        "http://a.com/new?y=2",
    ),
    (
        RedirectAction(path_redirect="new"),
        Request(port=1, host="a.com", path="/old"),
        None,
        "http://a.com/new",
    ),
    (
        RedirectAction(prefix_rewrite="/v2"),
        Request(port=1, host="a.com", path="/v1/users?id=3"),
        RouteMatch(prefix="/v1"),
        "http://a.com/v2/users?id=3",
    ),
    (
        RedirectAction(scheme_redirect="http"),
        Request(port=1, protocol="https", host="a.com:443", path="/"),
        None,
        "http://a.com/",
    ),
    (
        RedirectAction(host_redirect="httpbin.org"),
        Request(port=1, protocol="https", host="x", path="/get"),
        None,
        "https://httpbin.org/get",
    ),
]


@pytest.mark.parametrize(("redirect", "request_", "match", "location"), REDIRECT_ROWS)
def test_redirect_location(
    redirect: RedirectAction, request_: Request, match: RouteMatch | None, location: str
) -> None:
    assert redirect_location(redirect, request_, match) == location


# ---------------------------------------------------------------------- explain and JSON


def test_explain_success_path() -> None:
    r = simulate(GW, Request(port=8080, host="httpbin.example.com", path="/status/200"))
    assert r.explain() == (
        "listener 0.0.0.0_8080 → filter chain (unnamed) → route config http.8080 → virtual host "
        f"httpbin.example.com:80 → route status → cluster {HTTPBIN} → endpoint 10.244.0.5:8080"
    )


def test_explain_misses() -> None:
    assert (
        simulate(GW, Request(port=8080, host="foo.com"))
        .explain()
        .endswith('→ route config http.8080 → ✗ no virtual host matches Host "foo.com": 404')
    )
    assert simulate(GW, Request(port=9999)).explain() == "✗ no listener on port 9999: connection refused"
    r = simulate(GW, Request(port=8443, protocol="https", sni="nope.org"))
    assert (
        r.explain() == 'listener 0.0.0.0_8443 → ✗ no filter chain matches SNI "nope.org": connection closed'
    )
    r = simulate(GW, Request(port=8443, protocol="https", sni="broken.example.org"))
    assert "secret istio-system/missing not found" in r.explain()


def test_to_dict_is_json() -> None:
    r = simulate(GW, Request(port=8080, host="httpbin.example.com", path="/old/a"))
    data = json.loads(json.dumps(r.to_dict()))
    assert data["action"] == "redirect"
    assert data["reply"]["headers"][0] == ["location", "http://httpbin.example.com/new/a"]
    assert data["route_entry"]["redirect"]["prefix_rewrite"] == "/new"
    miss = json.loads(json.dumps(simulate(GW, Request(port=8080, host="foo.com")).to_dict()))
    assert miss["miss"] == "NO_VIRTUAL_HOST" and miss["response_flags"] == "NR"


def test_wire_headers_insert_date_before_server() -> None:
    reply = simulate(GW, Request(port=8080, host="secure.example.com", path="/status")).reply
    assert reply is not None
    assert reply.wire_headers("Wed, 10 Mar 2021 13:46:51 GMT") == (
        ("location", "https://secure.example.com/status"),
        ("date", "Wed, 10 Mar 2021 13:46:51 GMT"),
        ("server", "istio-envoy"),
        ("content-length", "0"),
    )


def test_result_is_frozen() -> None:
    r = simulate(GW, Request(port=9999))
    assert isinstance(r, Result)
    with pytest.raises(AttributeError):
        r.miss = None  # type: ignore[misc]


def test_x_forwarded_proto_honoured_off_the_edge() -> None:
    # Sidecar-style HCM (use_remote_address false) trusts a client x-forwarded-proto for require_tls.
    rc = RouteConfiguration(
        name="r",
        virtual_hosts=(
            VirtualHost(name="v", domains=("*",), routes=(_route("a", "c", prefix="/"),), require_tls="ALL"),
        ),
    )
    proxy = ProxyConfig(
        id="p",
        type="sidecar",
        namespace="n",
        workload="w",
        listeners=(
            Listener(
                name="0.0.0.0_80",
                address="0.0.0.0",
                port=80,
                filter_chains=(FilterChain(name="h", http_connection_manager=_hcm("r", "envoy", False)),),
            ),
        ),
        route_configs={"r": rc},
        clusters={"c": Cluster(name="c", endpoints=(Endpoint("1.2.3.4", 80),))},
    )
    assert simulate(proxy, Request(port=80, host="h")).miss is Miss.TLS_REQUIRED
    assert simulate(proxy, Request(port=80, host="h", headers=(("X-Forwarded-Proto", "https"),))).miss is None
    # At the gateway edge the connection decides, whatever the client claims.
    edge = simulate(
        GW, Request(port=8080, host="secure.example.com", headers=(("x-forwarded-proto", "https"),))
    )
    assert edge.miss is Miss.TLS_REQUIRED


def test_every_miss_has_a_reply_row() -> None:
    # Each Miss says how Envoy answers: by ending the connection, by an HTTP reply, or both
    # (tcp_proxy closes where the router answers 503; the codec's 400 vs a TLS ClientHello).
    assert set(CONNECTION_MISSES) | set(HTTP_MISSES) == set(Miss)
    assert HTTP_MISSES[Miss.NO_ROUTE].status == 404 and HTTP_MISSES[Miss.NO_ROUTE].flag == "NR"
    assert HTTP_MISSES[Miss.NO_HEALTHY_UPSTREAM].body == "no healthy upstream"
    assert CONNECTION_MISSES[Miss.NO_LISTENER].action == "refused"
