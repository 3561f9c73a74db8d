"""Sidecar outbound config, ServiceEntries, outbound policy, egress gateway, TLS origination (§11–§13)."""

from __future__ import annotations

import pytest
from _tx import EGRESS, xds

from gatewaykit._translate import MeshSettings
from gatewaykit.envoy import Endpoint, UpstreamTlsContext

CURL = """
apiVersion: v1
kind: Service
metadata: {name: curl, namespace: default}
spec:
  ports: [{name: http, port: 80}]
  selector: {app: curl}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: curl, namespace: default}
spec:
  selector: {matchLabels: {app: curl}}
  template:
    metadata: {labels: {app: curl}}
    spec:
      containers:
      - {name: curl, image: docker.io/curlimages/curl:8.16.0, command: [/bin/sleep, infinity]}
"""

SE_HTTPBIN_ORG = """---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: httpbin-ext, namespace: default}
spec:
  hosts: [httpbin.org]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: DNS
  location: MESH_EXTERNAL
"""

SE_GOOGLE = """---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: google, namespace: default}
spec:
  hosts: [www.google.com]
  ports: [{number: 443, name: https, protocol: HTTPS}]
  resolution: DNS
  location: MESH_EXTERNAL
"""


def test_sidecar_http_route_config_for_service_entry_and_allow_any() -> None:
    state = xds(CURL + SE_HTTPBIN_ORG)
    p = state.proxy_for("default/curl")
    assert p is not None and p.type == "sidecar"
    rc = p.route_configs["80"]
    names = [v.name for v in rc.virtual_hosts]
    # Registry hosts sorted by name, the catch-all last (§11.2).
    assert names[-1] == "allow_any"
    assert "httpbin.org:80" in names and "curl.default.svc.cluster.local:80" in names
    vh = {v.name: v for v in rc.virtual_hosts}
    assert vh["httpbin.org:80"].domains == ("httpbin.org", "httpbin.org.")
    assert vh["curl.default.svc.cluster.local:80"].domains[:5] == (
        "curl.default.svc.cluster.local",
        "curl.default.svc.cluster.local.",
        "curl",
        "curl.default.svc",
        "curl.default",
    )
    route = vh["httpbin.org:80"].routes[0]
    assert route.route is not None and route.route.cluster == "outbound|80||httpbin.org"
    assert route.decorator_operation == "httpbin.org:80/*"  # [DOC-TEST] (§1.3)
    assert vh["allow_any"].routes[0].route is not None
    assert vh["allow_any"].routes[0].route.cluster == "PassthroughCluster"
    c = p.clusters["outbound|80||httpbin.org"]
    assert c.type == "STRICT_DNS" and c.endpoints == (
        Endpoint(address="httpbin.org", port=80, workload="httpbin.org"),
    )
    # Sidecar outbound HCM keeps Envoy's default server name (§1.1).
    hcm = [c.http_connection_manager for c in p.listener(80).filter_chains if c.http_connection_manager]
    assert hcm[0].server_name == "envoy" and hcm[0].route_config_name == "80"


def test_registry_only_blocks_with_502_and_blackhole() -> None:
    state = xds(CURL + SE_GOOGLE, mesh=MeshSettings("REGISTRY_ONLY"))
    p = state.proxy_for("default/curl")
    assert p is not None
    last = p.route_configs["80"].virtual_hosts[-1]
    assert last.name == "block_all" and last.domains == ("*",)
    assert last.routes[0].direct_response is not None and last.routes[0].direct_response.status == 502
    lst = p.listener(443)
    assert lst is not None and lst.default_filter_chain is not None
    assert lst.default_filter_chain.tcp_proxy is not None
    assert lst.default_filter_chain.tcp_proxy.cluster == "BlackHoleCluster"
    sni = [c for c in lst.filter_chains if c.filter_chain_match.server_names == ("www.google.com",)]
    assert sni and sni[0].tcp_proxy is not None and sni[0].tcp_proxy.cluster == "outbound|443||www.google.com"
    assert p.clusters["BlackHoleCluster"].endpoints == ()


#: The ``istio`` ConfigMap as ``istioctl install --set meshConfig.outboundTrafficPolicy.mode=REGISTRY_ONLY``
#: leaves it: istiod reads the mesh config from its ``data.mesh``.
REGISTRY_ONLY_MESH = """---
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |-
    defaultConfig:
      discoveryAddress: istiod.istio-system.svc:15012
    outboundTrafficPolicy:
      mode: REGISTRY_ONLY
    rootNamespace: istio-system
    trustDomain: cluster.local
  meshNetworks: 'networks: {}'
"""


def test_mesh_configmap_sets_outbound_policy() -> None:
    state = xds(CURL + REGISTRY_ONLY_MESH)
    assert state.mesh.outbound_traffic_policy == "REGISTRY_ONLY"
    p = state.proxy_for("default/curl")
    assert p is not None
    vo = [lst for lst in p.listeners if lst.name == "virtualOutbound"][0]
    assert vo.port == 15001 and vo.default_filter_chain is not None
    assert vo.default_filter_chain.tcp_proxy is not None
    assert vo.default_filter_chain.tcp_proxy.cluster == "BlackHoleCluster"


@pytest.mark.parametrize(
    ("mesh", "mode"),
    [
        ("outboundTrafficPolicy: {mode: REGISTRY_ONLY}", "REGISTRY_ONLY"),
        ("outboundTrafficPolicy: {mode: 0}", "REGISTRY_ONLY"),  # jsonpb takes the enum's number
        ("outboundTrafficPolicy: {mode: 1}", "ALLOW_ANY"),
        ("outboundTrafficPolicy: {mode: registry_only}", "ALLOW_ANY"),  # unreadable: istiod's defaults
        ("outboundTrafficPolicy: [", "ALLOW_ANY"),
        ("trustDomain: cluster.local", "ALLOW_ANY"),
    ],
)
def test_parse_mesh_config(mesh: str, mode: str) -> None:
    from gatewaykit._translate import parse_mesh_config

    assert parse_mesh_config(mesh).outbound_traffic_policy == mode


def test_mesh_virtualservice_replaces_default_route() -> None:
    vs = """---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: httpbin-ext, namespace: default}
spec:
  hosts: [httpbin.org]
  http:
  - timeout: 3s
    route: [{destination: {host: httpbin.org}}]
"""
    p = xds(CURL + SE_HTTPBIN_ORG + vs).proxy_for("default/curl")
    assert p is not None
    vh = {v.name: v for v in p.route_configs["80"].virtual_hosts}["httpbin.org:80"]
    (r,) = vh.routes
    assert r.route is not None and r.route.timeout == 3.0 and r.route.cluster == "outbound|80||httpbin.org"


EGRESS_HTTP = """---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: cnn, namespace: default}
spec:
  hosts: [edition.cnn.com]
  ports:
  - {number: 80, name: http-port, protocol: HTTP}
  - {number: 443, name: https, protocol: HTTPS}
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: istio-egressgateway, namespace: default}
spec:
  selector: {istio: egressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [edition.cnn.com]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: egressgateway-for-cnn, namespace: default}
spec:
  host: istio-egressgateway.istio-system.svc.cluster.local
  subsets:
  - name: cnn
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: direct-cnn-through-egress-gateway, namespace: default}
spec:
  hosts: [edition.cnn.com]
  gateways: [istio-egressgateway, mesh]
  http:
  - match: [{gateways: [mesh], port: 80}]
    route:
    - destination: {host: istio-egressgateway.istio-system.svc.cluster.local, subset: cnn, port: {number: 80}}
      weight: 100
  - match: [{gateways: [istio-egressgateway], port: 80}]
    route:
    - destination: {host: edition.cnn.com, port: {number: 80}}
      weight: 100
"""


def test_egress_gateway_http_routing() -> None:
    state = xds(CURL + EGRESS_HTTP)
    side = state.proxy_for("default/curl")
    assert side is not None
    vh = {v.name: v for v in side.route_configs["80"].virtual_hosts}["edition.cnn.com:80"]
    assert [r.route.cluster for r in vh.routes if r.route] == [
        "outbound|80|cnn|istio-egressgateway.istio-system.svc.cluster.local"
    ]
    sub = side.clusters["outbound|80|cnn|istio-egressgateway.istio-system.svc.cluster.local"]
    egress_pod = state.pods_of(EGRESS)[0]
    assert [(e.address, e.port) for e in sub.endpoints] == [(egress_pod.ip, 8080)]
    gw = state.proxy_for(EGRESS)
    assert gw is not None
    assert [lst.name for lst in gw.listeners] == ["0.0.0.0_8080"]
    (gvh,) = gw.route_configs["http.8080"].virtual_hosts
    assert gvh.name == "edition.cnn.com:80"
    assert [r.route.cluster for r in gvh.routes if r.route] == ["outbound|80||edition.cnn.com"]


def test_egress_gateway_tls_passthrough_from_sidecar() -> None:
    cfg = """---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: cnn, namespace: default}
spec:
  hosts: [edition.cnn.com]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: istio-egressgateway, namespace: default}
spec:
  selector: {istio: egressgateway}
  servers:
  - port: {number: 443, name: tls, protocol: TLS}
    hosts: [edition.cnn.com]
    tls: {mode: PASSTHROUGH}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: direct-cnn, namespace: default}
spec:
  hosts: [edition.cnn.com]
  gateways: [mesh, istio-egressgateway]
  tls:
  - match: [{gateways: [mesh], port: 443, sniHosts: [edition.cnn.com]}]
    route: [{destination: {host: istio-egressgateway.istio-system.svc.cluster.local, port: {number: 443}}}]
  - match: [{gateways: [istio-egressgateway], port: 443, sniHosts: [edition.cnn.com]}]
    route: [{destination: {host: edition.cnn.com, port: {number: 443}}, weight: 100}]
"""
    state = xds(CURL + cfg)
    side = state.proxy_for("default/curl")
    assert side is not None
    chains = side.listener(443).filter_chains  # type: ignore[union-attr]
    sni = [c for c in chains if c.filter_chain_match.server_names == ("edition.cnn.com",)]
    assert len(sni) == 1 and sni[0].tcp_proxy is not None
    assert sni[0].tcp_proxy.cluster == "outbound|443||istio-egressgateway.istio-system.svc.cluster.local"
    gw = state.proxy_for(EGRESS)
    assert gw is not None
    (lst,) = gw.listeners
    assert lst.name == "0.0.0.0_8443"
    assert [c.tcp_proxy.cluster for c in lst.filter_chains if c.tcp_proxy] == [
        "outbound|443||edition.cnn.com"
    ]


def test_tls_origination_destination_rule_port_level() -> None:
    cfg = """---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: cnn, namespace: default}
spec:
  hosts: [edition.cnn.com]
  ports:
  - {number: 80, name: http-port, protocol: HTTP, targetPort: 443}
  - {number: 443, name: https-port, protocol: HTTPS}
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: edition-cnn-com, namespace: default}
spec:
  host: edition.cnn.com
  trafficPolicy:
    portLevelSettings:
    - port: {number: 80}
      tls: {mode: SIMPLE}
"""
    p = xds(CURL + cfg).proxy_for("default/curl")
    assert p is not None
    c80 = p.clusters["outbound|80||edition.cnn.com"]
    assert c80.transport_socket == UpstreamTlsContext(
        mode="SIMPLE", sni="edition.cnn.com", validation_sds="file-root:system"
    )
    assert c80.endpoints[0].port == 443  # targetPort (§13)
    assert p.clusters["outbound|443||edition.cnn.com"].transport_socket is None


def test_egress_gateway_istio_mutual_hop_and_origination() -> None:
    cfg = """---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: cnn, namespace: default}
spec:
  hosts: [edition.cnn.com]
  ports: [{number: 80, name: http, protocol: HTTP}, {number: 443, name: https, protocol: HTTPS}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: istio-egressgateway, namespace: default}
spec:
  selector: {istio: egressgateway}
  servers:
  - port: {number: 80, name: https, protocol: HTTPS}
    hosts: [edition.cnn.com]
    tls: {mode: ISTIO_MUTUAL}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: egressgateway-for-cnn, namespace: default}
spec:
  host: istio-egressgateway.istio-system.svc.cluster.local
  subsets:
  - name: cnn
    trafficPolicy:
      loadBalancer: {simple: ROUND_ROBIN}
      portLevelSettings:
      - port: {number: 80}
        tls: {mode: ISTIO_MUTUAL, sni: edition.cnn.com}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: originate-tls-for-edition-cnn-com, namespace: default}
spec:
  host: edition.cnn.com
  trafficPolicy:
    portLevelSettings:
    - port: {number: 80}
      tls: {mode: SIMPLE}
"""
    state = xds(CURL + cfg)
    side = state.proxy_for("default/curl")
    assert side is not None
    hop = side.clusters["outbound|80|cnn|istio-egressgateway.istio-system.svc.cluster.local"]
    assert hop.transport_socket is not None
    assert (hop.transport_socket.mode, hop.transport_socket.sni) == ("ISTIO_MUTUAL", "edition.cnn.com")
    gw = state.proxy_for(EGRESS)
    assert gw is not None
    (lst,) = gw.listeners
    assert lst.name == "0.0.0.0_8080"
    chain = lst.filter_chains[0]
    assert chain.transport_socket is not None and chain.transport_socket.mode == "ISTIO_MUTUAL"
    assert chain.http_connection_manager is not None
    assert chain.http_connection_manager.route_config_name == "https.80.https.istio-egressgateway.default"
    origin = gw.clusters["outbound|80||edition.cnn.com"].transport_socket
    assert origin is not None and origin.mode == "SIMPLE"


def test_destination_rule_subsets_select_endpoints() -> None:
    cfg = """---
apiVersion: v1
kind: Service
metadata: {name: helloworld, namespace: default}
spec:
  ports: [{name: http, port: 5000}]
  selector: {app: helloworld}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: helloworld-v1, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: helloworld, version: v1}}
  template:
    metadata: {labels: {app: helloworld, version: v1}}
    spec: {containers: [{name: hw, image: hw:1, ports: [{containerPort: 5000}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: helloworld-v2, namespace: default}
spec:
  selector: {matchLabels: {app: helloworld, version: v2}}
  template:
    metadata: {labels: {app: helloworld, version: v2}}
    spec: {containers: [{name: hw, image: hw:2, ports: [{containerPort: 5000}]}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: helloworld, namespace: default}
spec:
  host: helloworld
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
"""
    state = xds(cfg)
    gw = state.proxy_for("istio-system/istio-ingressgateway")
    assert gw is not None
    all_eps = gw.clusters["outbound|5000||helloworld.default.svc.cluster.local"].endpoints
    v1 = gw.clusters["outbound|5000|v1|helloworld.default.svc.cluster.local"].endpoints
    v2 = gw.clusters["outbound|5000|v2|helloworld.default.svc.cluster.local"].endpoints
    assert len(all_eps) == 3 and len(v1) == 2 and len(v2) == 1
    assert {e.workload for e in v1} == {p.name for p in state.pods_of("default/helloworld-v1")}
