"""Config + request → the path Envoy takes (or the miss), through ``gatewaykit._simulate``.

The shape of Istio's ``gateway_simulation_test.go``: ``Call{Port, HostHeader, Protocol}`` →
``Result{ListenerMatched, RouteConfigMatched, VirtualHostMatched, ClusterMatched, Error}``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from _tx import EGRESS, HTTPBIN_SAMPLE, INGRESS, pem_data, xds

from gatewaykit._simulate import Miss, Request, simulate

SVC = HTTPBIN_SAMPLE

GW_HTTP = """---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: httpbin-gateway, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["httpbin.example.com"]
"""

VS_STATUS = """---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: httpbin, namespace: default}
spec:
  hosts: ["httpbin.example.com"]
  gateways: [httpbin-gateway]
  http:
  - match: [{uri: {prefix: /status}}, {uri: {prefix: /delay}}]
    route: [{destination: {host: httpbin, port: {number: 8000}}}]
"""

GW_HTTPS = """---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: mygateway, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["httpbin.example.com"]
    tls: {mode: SIMPLE, credentialName: httpbin-credential}
---
apiVersion: v1
kind: Secret
metadata: {name: httpbin-credential, namespace: istio-system}
type: kubernetes.io/tls
stringData: PEM_DATA
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: httpbin-tls, namespace: default}
spec:
  hosts: ["httpbin.example.com"]
  gateways: [mygateway]
  http:
  - route: [{destination: {host: httpbin, port: {number: 8000}}}]
""".replace("PEM_DATA", pem_data())

REDIRECT = """---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: redirect, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["httpbin.example.com"]
    tls: {httpsRedirect: true}
"""

CLUSTER = "outbound|8000||httpbin.default.svc.cluster.local"

TWO_HTTPS = """---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw1, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["a.example.com"]
    tls: {mode: SIMPLE, credentialName: a}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw2, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["b.example.com"]
    tls: {mode: SIMPLE, credentialName: b}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: a, namespace: default}
spec:
  hosts: ["a.example.com"]
  gateways: [gw1]
  http: [{route: [{destination: {host: httpbin}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: b, namespace: default}
spec:
  hosts: ["b.example.com"]
  gateways: [gw2]
  http: [{route: [{destination: {host: httpbin}}]}]
---
apiVersion: v1
kind: Secret
metadata: {name: a, namespace: istio-system}
stringData: {cert: C, key: K}
---
apiVersion: v1
kind: Secret
metadata: {name: b, namespace: istio-system}
stringData: {cert: C, key: K}
""".replace("{cert: C, key: K}", pem_data())

PASSTHROUGH = """---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: proxy, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: tls, protocol: TLS}
    hosts: ["nginx.example.com"]
    tls: {mode: PASSTHROUGH}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: nginx, namespace: default}
spec:
  hosts: ["nginx.example.com"]
  gateways: [proxy]
  tls:
  - match: [{port: 443, sniHosts: [nginx.example.com]}]
    route: [{destination: {host: httpbin, port: {number: 8000}}}]
"""


@dataclass
class Row:
    name: str
    config: str
    request: Request
    listener: str | None = None
    route_config: str | None = None
    virtual_host: str | None = None
    cluster: str | None = None
    miss: Miss | None = None
    workload: str = INGRESS


ROWS = [
    Row(
        "match",
        SVC + GW_HTTP + VS_STATUS,
        Request(port=8080, host="httpbin.example.com", path="/status/200"),
        "0.0.0.0_8080",
        "http.8080",
        "httpbin.example.com:80",
        CLUSTER,
    ),
    Row(
        "port in Host is ignored, case-insensitive",
        SVC + GW_HTTP + VS_STATUS,
        Request(port=8080, host="HTTPBIN.example.com:31380", path="/status/200"),
        "0.0.0.0_8080",
        "http.8080",
        "httpbin.example.com:80",
        CLUSTER,
    ),
    Row(
        "uri mismatch",
        SVC + GW_HTTP + VS_STATUS,
        Request(port=8080, host="httpbin.example.com", path="/headers"),
        "0.0.0.0_8080",
        "http.8080",
        "httpbin.example.com:80",
        miss=Miss.NO_ROUTE,
    ),
    Row(
        "host mismatch",
        SVC + GW_HTTP + VS_STATUS,
        Request(port=8080, host="other.example.com"),
        "0.0.0.0_8080",
        "http.8080",
        miss=Miss.NO_VIRTUAL_HOST,
    ),
    Row(
        "undefined port",
        SVC + GW_HTTP + VS_STATUS,
        Request(port=8443, host="httpbin.example.com"),
        miss=Miss.NO_LISTENER,
    ),
    Row(
        "no virtual services → blackhole",
        SVC + GW_HTTP,
        Request(port=8080, host="httpbin.example.com"),
        "0.0.0.0_8080",
        "http.8080",
        "blackhole:80",
        miss=Miss.NO_ROUTE,
    ),
    Row(
        "httpsRedirect without routes",
        SVC + REDIRECT,
        Request(port=8080, host="httpbin.example.com"),
        "0.0.0.0_8080",
        "http.8080",
        "httpbin.example.com:80",
        miss=Miss.TLS_REQUIRED,
    ),
    Row(
        "https SNI match",
        SVC + GW_HTTPS,
        Request(port=8443, protocol="https", sni="httpbin.example.com", host="httpbin.example.com"),
        "0.0.0.0_8443",
        "https.443.https.mygateway.default",
        "httpbin.example.com:443",
        CLUSTER,
    ),
    Row(
        "https without SNI: no filter chain",
        SVC + GW_HTTPS,
        Request(port=8443, protocol="https", host="httpbin.example.com"),
        "0.0.0.0_8443",
        miss=Miss.NO_FILTER_CHAIN,
    ),
    Row(
        "SNI selects gw1 but Host is gw2's: that route config has no such vhost "
        "(404, docs/behaviour.md §4.4)",
        SVC + TWO_HTTPS,
        Request(port=8443, protocol="https", sni="a.example.com", host="b.example.com"),
        "0.0.0.0_8443",
        "https.443.https.gw1.default",
        miss=Miss.NO_VIRTUAL_HOST,
    ),
    Row(
        "SNI b selects gw2's chain and route config",
        SVC + TWO_HTTPS,
        Request(port=8443, protocol="https", sni="b.example.com", host="b.example.com"),
        "0.0.0.0_8443",
        "https.443.https.gw2.default",
        "b.example.com:443",
        CLUSTER,
    ),
    Row(
        "TLS passthrough by SNI",
        SVC + PASSTHROUGH,
        Request(port=8443, protocol="tls", sni="nginx.example.com"),
        "0.0.0.0_8443",
        cluster=CLUSTER,
    ),
    Row(
        "TLS passthrough, unknown SNI",
        SVC + PASSTHROUGH,
        Request(port=8443, protocol="tls", sni="other.example.com"),
        "0.0.0.0_8443",
        miss=Miss.NO_FILTER_CHAIN,
    ),
    Row(
        "unknown destination host → cluster not found (503 NC)",
        SVC + GW_HTTP + VS_STATUS.replace("host: httpbin,", "host: nothere,"),
        Request(port=8080, host="httpbin.example.com", path="/status/200"),
        "0.0.0.0_8080",
        "http.8080",
        "httpbin.example.com:80",
        "outbound|8000||nothere.default.svc.cluster.local",
        miss=Miss.CLUSTER_NOT_FOUND,
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_simulation(row: Row) -> None:
    p = xds(row.config).proxy_for(row.workload)
    assert p is not None
    res = simulate(p, row.request)
    assert res.miss == row.miss, res.explain()
    if row.listener is not None:
        assert res.listener == row.listener
    if row.route_config is not None:
        assert res.route_config == row.route_config
    if row.virtual_host is not None:
        assert res.virtual_host == row.virtual_host
    if row.cluster is not None:
        assert res.cluster == row.cluster


def test_sidecar_registry_only_blocks_unknown_http_host() -> None:
    cfg = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: curl, namespace: default}
spec:
  selector: {matchLabels: {app: curl}}
  template:
    metadata: {labels: {app: curl}}
    spec: {containers: [{name: curl, image: curl}]}
---
apiVersion: v1
kind: Service
metadata: {name: curl, namespace: default}
spec:
  ports: [{name: http, port: 80}]
  selector: {app: curl}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |-
    outboundTrafficPolicy:
      mode: REGISTRY_ONLY
"""
    p = xds(cfg).proxy_for("default/curl")
    assert p is not None
    res = simulate(p, Request(port=80, host="www.example.org", destination="93.184.216.34"))
    assert res.virtual_host == "block_all"
    assert res.reply is not None and res.reply.status == 502


def test_egress_gateway_hop() -> None:
    from test_sidecar_egress import CURL, EGRESS_HTTP

    state = xds(CURL + EGRESS_HTTP)
    side = state.proxy_for("default/curl")
    assert side is not None
    res = simulate(
        side,
        Request(port=80, host="edition.cnn.com", path="/politics", destination=state.dns("edition.cnn.com")),
    )
    assert res.cluster == "outbound|80|cnn|istio-egressgateway.istio-system.svc.cluster.local", res.explain()
    gw = state.proxy_for(EGRESS)
    assert gw is not None
    res = simulate(gw, Request(port=8080, host="edition.cnn.com", path="/politics"))
    assert (res.listener, res.virtual_host, res.cluster) == (
        "0.0.0.0_8080",
        "edition.cnn.com:80",
        "outbound|80||edition.cnn.com",
    )
