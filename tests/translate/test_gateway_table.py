"""Gateway translation tables, in the style of Istio's ``gateway_simulation_test.go``.

Each row: configuration (applied on top of the default mesh through the real store) → expected
listener / route configuration / virtual host / route / filter chain names and istiod log lines.
Rules are cited as sections of docs/behaviour.md (``# ---- docs/behaviour.md §N``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from _tx import HTTPBIN_SAMPLE, INGRESS, proxy, summary

HTTPBIN_CLUSTER = "outbound|8000||httpbin.default.svc.cluster.local"


def gw(name: str, servers: str, ns: str = "default", selector: str = "{istio: ingressgateway}") -> str:
    sel = f"  selector: {selector}\n" if selector else ""
    return f"""---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: {name}, namespace: {ns}}}
spec:
{sel}  servers:
{servers}"""


def http_server(hosts: str, port: int = 80, name: str = "http", extra: str = "") -> str:
    return f"""  - port: {{number: {port}, name: {name}, protocol: HTTP}}
    hosts: {hosts}
{extra}"""


def vs(
    name: str, hosts: str, gateways: str | None, http: str = "", ns: str = "default", extra: str = ""
) -> str:
    gws = f"  gateways: {gateways}\n" if gateways is not None else ""
    if not http and "tls:" not in extra and "tcp:" not in extra:
        http = (
            "  http:\n"
            "  - route: [{destination: {host: httpbin.default.svc.cluster.local, port: {number: 8000}}}]\n"
        )
    return f"""---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: {ns}}}
spec:
  hosts: {hosts}
{gws}{http}{extra}"""


@dataclass
class Case:
    name: str
    config: str
    expect: dict[str, Any]
    workload: str = INGRESS
    log: list[str] = field(default_factory=list)  # substrings that must appear in the proxy log


CASES = [
    # ---- docs/behaviour.md §2 ports and listeners
    Case(
        "target port: Gateway 80 → Service targetPort 8080",
        gw("gw", http_server('["httpbin.example.com"]')) + vs("vs", '["httpbin.example.com"]', "[gw]"),
        {
            "listeners": ["0.0.0.0_8080"],
            "route_configs": ["http.8080"],
            "vhosts": {"http.8080": [("httpbin.example.com:80", ["httpbin.example.com"])]},
            "routes": {("http.8080", "httpbin.example.com:80"): [HTTPBIN_CLUSTER]},
        },
    ),
    Case(
        "port not on the gateway Service is used as-is",
        gw("gw", http_server('["httpbin.example.com"]', port=8081))
        + vs("vs", '["httpbin.example.com"]', "[gw]"),
        {"listeners": ["0.0.0.0_8081"], "route_configs": ["http.8081"]},
    ),
    Case(
        "no VirtualService: blackhole vhost with domain * (404)",
        gw("gw", http_server('["httpbin.example.com"]')),
        {
            "listeners": ["0.0.0.0_8080"],
            "vhosts": {"http.8080": [("blackhole:80", ["*"])]},
            "routes": {("http.8080", "blackhole:80"): []},
        },
        log=[
            "constructed http route config for route http.8080 on port 80 with no vhosts; "
            "Setting up a default 404 vhost"
        ],
    ),
    # ---- docs/behaviour.md §3 selector
    Case(
        "selector matching no pod configures nothing",
        gw("gw", http_server('["*"]'), selector="{istio: nothing}") + vs("vs", '["*"]', "[gw]"),
        {"listeners": [], "route_configs": []},
    ),
    Case(
        "no selector applies to every gateway workload (egress too)",
        gw("gw", http_server('["*"]'), selector="") + vs("vs", '["*"]', "[gw]"),
        {"listeners": ["0.0.0.0_8080"], "vhosts": {"http.8080": [("*:80", ["*"])]}},
        workload="istio-system/istio-egressgateway",
    ),
    Case(
        "egress selector does not reach the ingress",
        gw("gw", http_server('["*"]'), selector="{istio: egressgateway}"),
        {"listeners": []},
    ),
    # ---- docs/behaviour.md §4.1 namespace-scoped hosts and exportTo
    Case(
        "server host ns-1/* is only usable by VirtualServices in ns-1",
        gw("gw", http_server('["ns-1/*.example.com"]'))
        + vs("vs1", '["a.example.com"]', "[default/gw]", ns="ns-1")
        + vs("vs2", '["b.example.com"]', "[default/gw]", ns="ns-2"),
        {"vhosts": {"http.8080": [("a.example.com:80", ["a.example.com"])]}},
    ),
    Case(
        "./host means the Gateway's namespace",
        gw("gw", http_server('["./a.example.com"]'))
        + vs("vs1", '["a.example.com"]', "[gw]")
        + vs("vs2", '["a.example.com"]', "[default/gw]", ns="other"),
        {
            "vhosts": {"http.8080": [("a.example.com:80", ["a.example.com"])]},
            "routes": {("http.8080", "a.example.com:80"): [HTTPBIN_CLUSTER]},
        },
    ),
    Case(
        "exportTo '.' in default hides the VirtualService from the istio-system gateway pod",
        gw("gw", http_server('["httpbin.example.com"]'))
        + vs("vs", '["httpbin.example.com"]', "[gw]", extra='  exportTo: ["."]\n'),
        {"vhosts": {"http.8080": [("blackhole:80", ["*"])]}},
    ),
    Case(
        "exportTo istio-system makes it visible again",
        gw("gw", http_server('["httpbin.example.com"]'))
        + vs("vs", '["httpbin.example.com"]', "[gw]", extra='  exportTo: ["istio-system"]\n'),
        {"vhosts": {"http.8080": [("httpbin.example.com:80", ["httpbin.example.com"])]}},
    ),
    # ---- docs/behaviour.md §4.2 binding and host intersection
    Case(
        "short gateway name resolves in the VirtualService namespace (not bound)",
        gw("gw", http_server('["httpbin.example.com"]'), ns="istio-system")
        + vs("vs", '["httpbin.example.com"]', "[gw]"),
        {"vhosts": {"http.8080": [("blackhole:80", ["*"])]}},
    ),
    Case(
        "ns/name binds across namespaces",
        gw("gw", http_server('["httpbin.example.com"]'), ns="istio-system")
        + vs("vs", '["httpbin.example.com"]', "[istio-system/gw]"),
        {"vhosts": {"http.8080": [("httpbin.example.com:80", ["httpbin.example.com"])]}},
    ),
    Case(
        "legacy FQDN gateway name gw.istio-system.svc.cluster.local",
        gw("gw", http_server('["httpbin.example.com"]'), ns="istio-system")
        + vs("vs", '["httpbin.example.com"]', "[gw.istio-system.svc.cluster.local]"),
        {"vhosts": {"http.8080": [("httpbin.example.com:80", ["httpbin.example.com"])]}},
    ),
    Case(
        "omitted gateways means mesh only",
        gw("gw", http_server('["httpbin.example.com"]')) + vs("vs", '["httpbin.example.com"]', None),
        {"vhosts": {"http.8080": [("blackhole:80", ["*"])]}},
    ),
    Case(
        "gateway *.example.com + VS a.example.com → a.example.com",
        gw("gw", http_server('["*.example.com"]')) + vs("vs", '["a.example.com"]', "[gw]"),
        {"vhosts": {"http.8080": [("a.example.com:80", ["a.example.com"])]}},
    ),
    Case(
        "gateway * + VS *.org → *.org",
        gw("gw", http_server('["*"]')) + vs("vs", '["*.org"]', "[gw]"),
        {"vhosts": {"http.8080": [("*.org:80", ["*.org"])]}},
    ),
    Case(
        "gateway *.example.com + VS example.com → no match",
        gw("gw", http_server('["*.example.com"]')) + vs("vs", '["example.com", "newexample.com"]', "[gw]"),
        {"vhosts": {"http.8080": [("blackhole:80", ["*"])]}},
    ),
    Case(
        "domains are lower-cased",
        gw("gw", http_server('["*"]')) + vs("vs", '["HttpBin.Example.COM"]', "[gw]"),
        {"vhosts": {"http.8080": [("httpbin.example.com:80", ["httpbin.example.com"])]}},
    ),
    Case(
        "a VS with several hosts shares one vhost (route collapse), most specific name first",
        gw("gw", http_server('["*"]')) + vs("vs", '["b.example.com", "aa.example.com"]', "[gw]"),
        {"vhosts": {"http.8080": [("aa.example.com:80", ["aa.example.com", "b.example.com"])]}},
    ),
    Case(
        "two VirtualServices on one host merge; catch-all routes move last",
        gw("gw", http_server('["httpbin.example.com"]'))
        + vs(
            "vs1",
            '["httpbin.example.com"]',
            "[gw]",
            http="  http:\n  - route: [{destination: {host: httpbin, port: {number: 8000}}}]\n",
        )
        + vs(
            "vs2",
            '["httpbin.example.com"]',
            "[gw]",
            http="  http:\n  - match: [{uri: {prefix: /other}}]\n    route: [{destination: {host: other}}]\n",
        ),
        {
            "routes": {
                ("http.8080", "httpbin.example.com:80"): [
                    "outbound|80||other.default.svc.cluster.local",
                    HTTPBIN_CLUSTER,
                ]
            }
        },
    ),
    Case(
        "separate hosts become separate vhosts, sorted by name",
        gw("gw", http_server('["*"]'))
        + vs("vs1", '["b.example.com"]', "[gw]")
        + vs("vs2", '["a.example.com"]', "[gw]"),
        {
            "vhosts": {
                "http.8080": [
                    ("a.example.com:80", ["a.example.com"]),
                    ("b.example.com:80", ["b.example.com"]),
                ]
            }
        },
    ),
    Case(
        "match.port different from the server port drops the rule (VS omitted → blackhole)",
        gw("gw", http_server('["*"]'))
        + vs(
            "vs",
            '["*"]',
            "[gw]",
            http="  http:\n  - match: [{port: 81}]\n    route: [{destination: {host: httpbin}}]\n",
        ),
        {"vhosts": {"http.8080": [("blackhole:80", ["*"])]}},
    ),
    Case(
        "match.gateways keeps only rules for this gateway",
        gw("gw", http_server('["*"]'))
        + vs(
            "vs",
            '["httpbin.example.com"]',
            "[gw, mesh]",
            http="  http:\n"
            "  - match: [{gateways: [mesh]}]\n    route: [{destination: {host: mesh-only}}]\n"
            "  - match: [{gateways: [gw], uri: {prefix: /}}]\n    route: [{destination: {host: httpbin}}]\n",
        ),
        {"routes": {("http.8080", "httpbin.example.com:80"): [HTTPBIN_CLUSTER]}},
    ),
    # ---- docs/behaviour.md §6 httpsRedirect
    Case(
        "httpsRedirect without VirtualService still creates a redirecting vhost",
        gw("gw", http_server('["httpbin.example.com"]', extra="    tls: {httpsRedirect: true}\n")),
        {
            "vhosts": {"http.8080": [("httpbin.example.com:80", ["httpbin.example.com"])]},
            "require_tls": {("http.8080", "httpbin.example.com:80"): "ALL"},
        },
    ),
    Case(
        "mixed httpsRedirect: one Gateway redirecting the host makes the whole vhost redirect",
        gw("a", http_server('["httpbin.example.com"]', extra="    tls: {httpsRedirect: true}\n"))
        + gw("b", http_server('["httpbin.example.com"]'))
        + vs("vs", '["httpbin.example.com"]', "[b]"),
        {
            "require_tls": {("http.8080", "httpbin.example.com:80"): "ALL"},
            "routes": {("http.8080", "httpbin.example.com:80"): [HTTPBIN_CLUSTER]},
        },
    ),
    # ---- docs/behaviour.md §4.4 / §5 / §7 TLS
    Case(
        "HTTPS SIMPLE: own route config https.<port>.<portName>.<gw>.<ns>, SNI from hosts",
        gw(
            "gw",
            """  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["httpbin.example.com"]
    tls: {mode: SIMPLE, credentialName: httpbin-credential}
""",
        )
        + vs("vs", '["httpbin.example.com"]', "[gw]"),
        {
            "listeners": ["0.0.0.0_8443"],
            "route_configs": ["https.443.https.gw.default"],
            "server_names": {"0.0.0.0_8443": [["httpbin.example.com"]]},
            "vhosts": {"https.443.https.gw.default": [("httpbin.example.com:443", ["httpbin.example.com"])]},
        },
    ),
    Case(
        "a * host disables SNI matching",
        gw(
            "gw",
            """  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["*", "a.example.com"]
    tls: {mode: SIMPLE, credentialName: c}
""",
        ),
        {"server_names": {"0.0.0.0_8443": [[]]}},
    ),
    Case(
        "two HTTPS servers with distinct hosts: two chains, two route configs",
        gw(
            "gw",
            """  - port: {number: 443, name: https-a, protocol: HTTPS}
    hosts: ["a.example.com"]
    tls: {mode: SIMPLE, credentialName: a}
  - port: {number: 443, name: https-b, protocol: HTTPS}
    hosts: ["b.example.com", "./c.example.com"]
    tls: {mode: SIMPLE, credentialName: b}
""",
        ),
        {
            "server_names": {"0.0.0.0_8443": [["a.example.com"], ["b.example.com", "c.example.com"]]},
            "route_configs": ["https.443.https-a.gw.default", "https.443.https-b.gw.default"],
        },
    ),
    Case(
        "PASSTHROUGH: a chain per tls route sniHosts, TCP proxied",
        gw(
            "gw",
            """  - port: {number: 443, name: tls, protocol: TLS}
    hosts: ["nginx.example.com"]
    tls: {mode: PASSTHROUGH}
""",
        )
        + vs(
            "vs",
            '["nginx.example.com"]',
            "[gw]",
            extra="""  tls:
  - match: [{port: 443, sniHosts: [nginx.example.com]}]
    route: [{destination: {host: my-nginx, port: {number: 443}}}]
""",
        ),
        {
            "listeners": ["0.0.0.0_8443"],
            "server_names": {"0.0.0.0_8443": [["nginx.example.com"]]},
            "tcp": {"0.0.0.0_8443": ["outbound|443||my-nginx.default.svc.cluster.local"]},
            "route_configs": [],
        },
    ),
    Case(
        "PASSTHROUGH with only http routes: no chain, so no listener",
        gw(
            "gw",
            """  - port: {number: 443, name: tls, protocol: TLS}
    hosts: ["nginx.example.com"]
    tls: {mode: PASSTHROUGH}
""",
        )
        + vs("vs", '["nginx.example.com"]', "[gw]"),
        {"listeners": []},
        log=[
            'gateway omitting listener "0.0.0.0_8443" due to: must have more than 0 chains in listener '
            '"0.0.0.0_8443"'
        ],
    ),
    Case(
        "TCP server with tcp routes",
        gw(
            "gw",
            """  - port: {number: 31400, name: tcp, protocol: TCP}
    hosts: ["*"]
""",
        )
        + vs(
            "vs",
            '["*"]',
            "[gw]",
            extra="""  tcp:
  - match: [{port: 31400}]
    route: [{destination: {host: tcp-echo, port: {number: 9000}}, weight: 80},
            {destination: {host: tcp-echo, port: {number: 9001}}, weight: 20}]
""",
        ),
        {
            "listeners": ["0.0.0.0_31400"],
            "tcp": {
                "0.0.0.0_31400": [
                    "outbound|9000||tcp-echo.default.svc.cluster.local,"
                    "outbound|9001||tcp-echo.default.svc.cluster.local"
                ]
            },
        },
    ),
    Case(
        "TCP server without routes: no listener",
        gw(
            "gw",
            """  - port: {number: 31400, name: tcp, protocol: TCP}
    hosts: ["*"]
""",
        ),
        {"listeners": []},
        log=[
            "no virtual service bound to gateway: default/gw",
            "gateway default/gw:31400 listener missed network filter",
        ],
    ),
    # ---- docs/behaviour.md §10 conflicts
    Case(
        "TCP (older) and HTTP on one port: TCP wins, and with no tcp routes there is no listener",
        gw(
            "alpha",
            """  - port: {number: 80, name: tcp, protocol: TCP}
    hosts: ["*"]
""",
        )
        + gw("beta", http_server('["*"]'))
        + vs("vs", '["*"]', "[beta]"),
        {"listeners": []},
        log=["skipping server on gateway beta port http.8080.HTTP: conflict with existing server 8080.HTTP"],
    ),
    Case(
        "HTTP (older) and TCP on one port: HTTP wins",
        gw("alpha", http_server('["*"]'))
        + gw(
            "beta",
            """  - port: {number: 80, name: tcp, protocol: TCP}
    hosts: ["*"]
""",
        ),
        {"listeners": ["0.0.0.0_8080"], "vhosts": {"http.8080": [("blackhole:80", ["*"])]}},
        log=["skipping server on gateway beta port tcp.8080.TCP: conflict with existing server 8080.TCP"],
    ),
    Case(
        "same host and port with different bind addresses: separate listeners and route names",
        gw("a", http_server('["a.example.com"]', extra="    bind: 10.0.0.1\n"))
        + gw("b", http_server('["a.example.com"]', extra="    bind: 10.0.0.2\n")),
        {
            "listeners": ["10.0.0.1_8080", "10.0.0.2_8080"],
            "route_configs": ["http.8080.10.0.0.1", "http.8080.10.0.0.2"],
        },
    ),
    Case(
        "HTTP servers of two Gateways on one port merge into http.8080",
        gw("a", http_server('["a.example.com"]'))
        + gw("b", http_server('["b.example.com"]'))
        + vs("va", '["a.example.com"]', "[a]")
        + vs("vb", '["b.example.com"]', "[b]"),
        {
            "listeners": ["0.0.0.0_8080"],
            "vhosts": {
                "http.8080": [
                    ("a.example.com:80", ["a.example.com"]),
                    ("b.example.com:80", ["b.example.com"]),
                ]
            },
        },
    ),
    Case(
        "duplicate TLS host on one port: the later server is skipped",
        gw(
            "a",
            """  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["httpbin.example.com"]
    tls: {mode: SIMPLE, credentialName: a}
""",
        )
        + gw(
            "b",
            """  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["httpbin.example.com"]
    tls: {mode: SIMPLE, credentialName: b}
""",
        ),
        {
            "route_configs": ["https.443.https.a.default"],
            "server_names": {"0.0.0.0_8443": [["httpbin.example.com"]]},
        },
        log=["skipping server on gateway default/b, duplicate host names: [httpbin.example.com]"],
    ),
    Case(
        "HTTP then HTTPS on one port: HTTPS skipped",
        gw("a", http_server('["*"]', port=443, name="http"))
        + gw(
            "b",
            """  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["x.example.com"]
    tls: {mode: SIMPLE, credentialName: b}
""",
        ),
        {"listeners": ["0.0.0.0_8443"], "route_configs": ["http.8443"]},
        log=["skipping server on gateway b port https.8443.HTTPS: conflict with existing server 8443.HTTPS"],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_gateway_translation(case: Case) -> None:
    got = summary(proxy(HTTPBIN_SAMPLE + case.config, case.workload))
    for key, want in case.expect.items():
        if isinstance(want, dict):
            for k, v in want.items():
                assert got[key].get(k) == v, f"{key}[{k!r}]: {got[key].get(k)!r} != {v!r}"
        else:
            assert got[key] == want, f"{key}: {got[key]!r} != {want!r}"
    for line in case.log:
        assert any(line in entry for entry in got["log"]), f"{line!r} not in {got['log']!r}"
