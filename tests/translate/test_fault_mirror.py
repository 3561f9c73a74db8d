"""Fault injection, request mirroring, ``credentialNames`` and ``withoutHeaders``, end to end.

VirtualService/Gateway YAML → translate (route.go ``TranslateFault``, ``MirrorPercent``,
authentication.go ``ApplyCredentialSDSToServerCommonTLSContext``, ``TranslateRouteMatch``) →
simulate (Envoy fault filter: body ``fault filter abort``, flags ``FI``/``DI``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
from _tx import HTTPBIN_SAMPLE, PEM_CA, pem_data, proxy

from gatewaykit._simulate import LocalReply, Request, simulate
from gatewaykit._translate.routes import translate_fault
from gatewaykit.envoy import (
    FaultAbort,
    FaultDelay,
    HttpFault,
    ProxyConfig,
    RequestMirrorPolicy,
    Route,
)

BASE = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
---
""" + HTTPBIN_SAMPLE + """---
apiVersion: v1
kind: Service
metadata: {name: mirror, namespace: default}
spec:
  ports: [{name: http, port: 80, targetPort: 8080}]
  selector: {app: mirror}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs, namespace: default}
spec:
  hosts: ["httpbin.example.com"]
  gateways: [gw]
  http:
"""

RULES = """  - match: [{uri: {prefix: /abort}}]
    fault: {abort: {httpStatus: 500, percentage: {value: 100}}}
    route: [{destination: {host: httpbin}}]
  - match: [{uri: {prefix: /delay}}]
    fault: {delay: {fixedDelay: 7s, percentage: {value: 100.0}}}
    route: [{destination: {host: httpbin}}]
  - match: [{uri: {prefix: /both}}]
    fault:
      delay: {fixedDelay: 1.5s, percentage: {value: 100}}
      abort: {httpStatus: 418, percentage: {value: 100}}
    route: [{destination: {host: httpbin}}]
  - match: [{uri: {prefix: /half}}]
    fault: {abort: {httpStatus: 503, percentage: {value: 50}}}
    route: [{destination: {host: httpbin}}]
  - match: [{uri: {prefix: /noabortpct}}]
    fault: {abort: {httpStatus: 503}}
    route: [{destination: {host: httpbin}}]
  - match: [{uri: {prefix: /mirror}}]
    mirror: {host: mirror}
    route: [{destination: {host: httpbin}}]
  - match: [{uri: {prefix: /pctmirror}}]
    mirror: {host: mirror}
    mirrorPercentage: {value: 10}
    route: [{destination: {host: httpbin}}]
  - match: [{uri: {prefix: /mirrors}}]
    mirrors:
    - destination: {host: mirror}
    - destination: {host: httpbin, subset: v2, port: {number: 8000}}
      percentage: {value: 25.5}
    - destination: {host: mirror}
      percentage: {value: 0}
    - destination: {host: nowhere.example.com, port: {number: 80}}
    route: [{destination: {host: httpbin}}]
  - match:
    - withoutHeaders: {x-canary: {exact: "true"}}
      uri: {prefix: /canary}
    route: [{destination: {host: httpbin}}]
  - match:
    - withoutHeaders: {x-debug: {}}
      uri: {prefix: /nodebug}
    route: [{destination: {host: httpbin}}]
"""


@pytest.fixture(scope="module")
def gw() -> ProxyConfig:
    return proxy(BASE + RULES)


def _route(p: ProxyConfig, prefix: str) -> Route:
    (vh,) = p.route_configs["http.8080"].virtual_hosts
    return next(r for r in vh.routes if r.match.prefix == prefix)


HTTPBIN = "outbound|8000||httpbin.default.svc.cluster.local"
MIRROR = "outbound|80||mirror.default.svc.cluster.local"


# ------------------------------------------------------------------------- translation


@pytest.mark.parametrize(
    ("prefix", "fault"),
    [
        ("/abort", HttpFault(abort=FaultAbort(http_status=500, percentage=100.0))),
        ("/delay", HttpFault(delay=FaultDelay(fixed_delay=7.0, percentage=100.0))),
        (
            "/both",
            HttpFault(
                delay=FaultDelay(fixed_delay=1.5, percentage=100.0),
                abort=FaultAbort(http_status=418, percentage=100.0),
            ),
        ),
        ("/half", HttpFault(abort=FaultAbort(http_status=503, percentage=50.0))),
        # TranslateFault leaves an unset percentage unset: Envoy's zero FractionalPercent, never.
        ("/noabortpct", HttpFault(abort=FaultAbort(http_status=503, percentage=0.0))),
        ("/mirror", None),
    ],
)
def test_fault_translation(gw: ProxyConfig, prefix: str, fault: HttpFault | None) -> None:
    assert _route(gw, prefix).fault == fault


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # Delay without percentage: the deprecated integer `percent` (0 when absent: never).
        ({"delay": {"fixedDelay": "5s"}}, HttpFault(delay=FaultDelay(5.0, 0.0))),
        ({"delay": {"fixedDelay": "5s", "percent": 30}}, HttpFault(delay=FaultDelay(5.0, 30.0))),
        # uint32(value * 10000) per million: truncated to 1/10000 %.
        (
            {"delay": {"fixedDelay": "100ms", "percentage": {"value": 0.123456}}},
            HttpFault(FaultDelay(0.1, 0.1234)),
        ),
        # "Exponential faults are not yet supported"; gRPC aborts are not modelled → no fault at all.
        ({"delay": {"exponentialDelay": "1s", "percentage": {"value": 100}}}, None),
        ({"abort": {"grpcStatus": "UNAVAILABLE", "percentage": {"value": 100}}}, None),
        (None, None),
    ],
)
def test_translate_fault_rules(raw: object, expected: HttpFault | None) -> None:
    assert translate_fault(raw) == expected


def test_mirror_translation(gw: ProxyConfig) -> None:
    def policies(prefix: str) -> tuple[RequestMirrorPolicy, ...]:
        action = _route(gw, prefix).route
        assert action is not None
        return action.request_mirror_policies

    # MirrorPercent: 100 % by default; the only service port when the mirror names none.
    assert policies("/mirror") == (RequestMirrorPolicy(MIRROR, 100.0),)
    assert policies("/pctmirror") == (RequestMirrorPolicy(MIRROR, 10.0),)
    # MirrorPercentByPolicy: each entry its own percentage; an explicit 0 % is dropped.
    assert policies("/mirrors") == (
        RequestMirrorPolicy(MIRROR, 100.0),
        RequestMirrorPolicy("outbound|8000|v2|httpbin.default.svc.cluster.local", 25.5),
        RequestMirrorPolicy("outbound|80||nowhere.example.com", 100.0),
    )
    assert policies("/abort") == ()


def test_without_headers_translation(gw: ProxyConfig) -> None:
    (canary,) = _route(gw, "/canary").match.headers
    assert (canary.name, canary.exact, canary.invert_match) == ("x-canary", "true", True)
    (debug,) = _route(gw, "/nodebug").match.headers
    assert (debug.name, debug.present, debug.invert_match) == ("x-debug", True, True)


# ---------------------------------------------------------------------------- simulation


@dataclass(frozen=True)
class Row:
    name: str
    path: str
    status: int | None  # a local reply's status, or None when forwarded
    body: str = ""
    flags: str = "-"
    delay: float | None = None
    cluster: str | None = None
    mirrors: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()


ROWS = [
    Row("abort 100%", "/abort", 500, "fault filter abort", "FI"),
    Row("delay 100%", "/delay/1", None, flags="DI", delay=7.0, cluster=HTTPBIN),
    Row("delay then abort", "/both", 418, "fault filter abort", "DI,FI", delay=1.5),
    # Deterministic without an rng: below 100 % never fires.
    Row("abort 50% without rng", "/half", None, cluster=HTTPBIN),
    Row("abort without percentage", "/noabortpct", None, cluster=HTTPBIN),
    Row("mirror 100%", "/mirror", None, cluster=HTTPBIN, mirrors=(MIRROR,)),
    Row("mirror 10% without rng", "/pctmirror", None, cluster=HTTPBIN),
    # The v2 subset and nowhere.example.com have no cluster: Envoy skips unknown shadow clusters.
    Row("mirrors", "/mirrors", None, cluster=HTTPBIN, mirrors=(MIRROR,)),
    # withoutHeaders: a missing header is "" (treat_missing_header_as_empty) → route matches.
    Row("withoutHeaders, header absent", "/canary", None, cluster=HTTPBIN),
    Row("withoutHeaders, other value", "/canary", None, cluster=HTTPBIN, headers=(("x-canary", "no"),)),
    Row("withoutHeaders, excluded value", "/canary", 404, flags="NR", headers=(("X-Canary", "true"),)),
    Row("withoutHeaders {}, absent", "/nodebug", None, cluster=HTTPBIN),
    Row("withoutHeaders {}, present", "/nodebug", 404, flags="NR", headers=(("x-debug", ""),)),
]


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.name)
def test_simulate_fault_and_mirror(gw: ProxyConfig, row: Row) -> None:
    res = simulate(gw, Request(port=8080, host="httpbin.example.com", path=row.path, headers=row.headers))
    if row.status is None:
        assert res.action == "http" and res.reply is None
    else:
        assert res.reply is not None and res.reply.status == row.status
        assert res.reply.body == row.body
    assert res.response_flags == row.flags
    assert res.fault_delay == row.delay
    assert res.cluster == row.cluster
    assert res.mirrors == row.mirrors


def test_fault_abort_reply_is_envoys_local_reply(gw: ProxyConfig) -> None:
    res = simulate(gw, Request(port=8080, host="httpbin.example.com", path="/abort"))
    # sendLocalReply with a body: content-length, content-type text/plain, then server (docs/behaviour.md §1.2).
    assert res.reply == LocalReply(
        500,
        "fault filter abort",
        (("content-length", "18"), ("content-type", "text/plain"), ("server", "istio-envoy")),
    )
    assert res.ok and res.miss is None and res.action == "local_reply"
    assert res.explain().endswith('route (unnamed) → fault injection abort: 500 "fault filter abort"')
    delayed = simulate(gw, Request(port=8080, host="httpbin.example.com", path="/delay"))
    assert "→ fault delay 7s → cluster" in delayed.explain()
    assert delayed.to_dict()["fault_delay"] == 7.0


def test_percentages_draw_from_the_rng(gw: ProxyConfig) -> None:
    rng = random.Random(7)
    results = [
        simulate(gw, Request(port=8080, host="httpbin.example.com", path="/half"), rng) for _ in range(400)
    ]
    aborted = sum(r.response_flags == "FI" for r in results)
    assert 150 < aborted < 250  # 50 %
    assert all(r.reply is not None and r.reply.status == 503 for r in results if r.response_flags == "FI")
    mirrored = sum(
        bool(simulate(gw, Request(port=8080, host="httpbin.example.com", path="/pctmirror"), rng).mirrors)
        for _ in range(1000)
    )
    assert 60 < mirrored < 140  # 10 %

    # 100 % always fires, even with an rng; an unset abort percentage never does.
    def flags(path: str) -> str:
        return simulate(gw, Request(port=8080, host="httpbin.example.com", path=path), rng).response_flags

    assert all(flags("/abort") == "FI" for _ in range(50))
    assert not any(flags("/noabortpct") == "FI" for _ in range(50))


# ------------------------------------------------------------------------ credentialNames

TLS_GATEWAY = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["httpbin.example.com"]
    tls: {mode: MUTUAL, credentialNames: [rsa-cred, ecdsa-cred]}
  - port: {number: 443, name: https-single, protocol: HTTPS}
    hosts: ["single.example.com"]
    tls: {mode: SIMPLE, credentialName: single-cred}
"""


def test_credential_names_give_a_certificate_list() -> None:
    p = proxy(TLS_GATEWAY)
    (lst,) = p.listeners
    chains = {c.filter_chain_match.server_names: c for c in lst.filter_chains}
    multi, single = chains[("httpbin.example.com",)], chains[("single.example.com",)]
    ts = multi.transport_socket
    assert ts is not None
    assert ts.certificate_sds_list == ("kubernetes://rsa-cred", "kubernetes://ecdsa-cred")
    assert ts.certificate_sds == "kubernetes://rsa-cred"
    # "we only support one CA certificate for all credentialNames. Thus we use the first one as CA"
    assert ts.validation_sds == "kubernetes://rsa-cred-cacert"
    assert single.transport_socket is not None
    assert single.transport_socket.certificate_sds_list == ()
    assert single.transport_socket.certificate_sds == "kubernetes://single-cred"
    # Every certificate is requested over SDS.
    assert list(p.secrets) == [
        "kubernetes://rsa-cred",
        "kubernetes://ecdsa-cred",
        "kubernetes://rsa-cred-cacert",
        "kubernetes://single-cred",
    ]


def _secret(name: str, data: str) -> str:
    return f"""---
apiVersion: v1
kind: Secret
metadata: {{name: {name}, namespace: istio-system}}
stringData: {data}
"""


@pytest.mark.parametrize(
    ("secrets", "exit_code"),
    [
        # The ECDSA credential is missing: the chain cannot handshake (docs/behaviour.md §8.1, exit 35).
        (_secret("rsa-cred", pem_data(**{"ca.crt": PEM_CA})), 35),
        (
            _secret("rsa-cred", pem_data(**{"ca.crt": PEM_CA})) + _secret("ecdsa-cred", pem_data()),
            None,
        ),
    ],
)
def test_every_credential_must_be_served(secrets: str, exit_code: int | None) -> None:
    p = proxy(TLS_GATEWAY + secrets)
    assert p.secrets["kubernetes://rsa-cred"].error is None
    res = simulate(
        p,
        Request(
            port=8443,
            protocol="https",
            sni="httpbin.example.com",
            host="httpbin.example.com",
            client_certificate=True,
        ),
    )
    assert res.curl_exit == exit_code
    if exit_code is None:
        # No VirtualService: the handshake succeeds and the route config answers 404.
        assert res.reply is not None and res.reply.status == 404
    else:
        assert "secret istio-system/ecdsa-cred not found" in res.detail


# ------------------------------------------------------------- Envoy config built by hand


def _hand_proxy(route: Route) -> ProxyConfig:
    from gatewaykit.envoy import (
        Cluster,
        Endpoint,
        FilterChain,
        HttpConnectionManager,
        Listener,
        RouteConfiguration,
        VirtualHost,
    )

    return ProxyConfig(
        id="gw.istio-system",
        type="router",
        namespace="istio-system",
        workload="gw",
        listeners=(
            Listener(
                name="0.0.0.0_8080",
                address="0.0.0.0",
                port=8080,
                filter_chains=(
                    FilterChain(
                        name="http.8080",
                        http_connection_manager=HttpConnectionManager("http.8080", "outbound_0.0.0.0_8080"),
                    ),
                ),
            ),
        ),
        route_configs={"http.8080": RouteConfiguration("http.8080", (VirtualHost("v", ("*",), (route,)),))},
        clusters={"c": Cluster("c", endpoints=(Endpoint("10.244.0.9", 8080),))},
    )


@pytest.mark.parametrize(
    ("delay", "expected", "flags"),
    [
        # FaultFilter::delayDuration: whole milliseconds of the protobuf duration; 0 ms is no delay.
        (0.57, 0.57, "DI"),
        (0.0005, None, "-"),
        (2.0, 2.0, "DI"),
    ],
)
def test_delay_is_whole_milliseconds(delay: float, expected: float | None, flags: str) -> None:
    from gatewaykit.envoy import RouteAction, RouteMatch

    route = Route(
        name="r",
        match=RouteMatch(prefix="/"),
        route=RouteAction(cluster="c"),
        fault=HttpFault(delay=FaultDelay(delay, 100.0)),
    )
    res = simulate(_hand_proxy(route), Request(port=8080, host="x"))
    assert (res.fault_delay, res.response_flags, res.endpoint) == (expected, flags, "10.244.0.9:8080")


def test_delay_flag_combines_with_upstream_flags() -> None:
    from gatewaykit.envoy import RouteAction, RouteMatch

    route = Route(
        name="r",
        match=RouteMatch(prefix="/"),
        route=RouteAction(cluster="missing"),
        fault=HttpFault(delay=FaultDelay(1.0, 100.0)),
    )
    res = simulate(_hand_proxy(route), Request(port=8080, host="x"))
    # Envoy prints several flags comma-separated in its fixed order: DI before NC.
    assert (res.response_flags, res.fault_delay) == ("DI,NC", 1.0)
    assert res.reply is not None and res.reply.status == 503
