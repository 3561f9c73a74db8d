"""The mesh model: pods, IPs, proxies per workload, cluster IPs, DNS (design §3)."""

from __future__ import annotations

import re

import pytest
from _tx import EGRESS, INGRESS, raw_snapshot, xds

from gatewaykit._translate import translate

APPS = """
apiVersion: v1
kind: Namespace
metadata: {name: plain}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx, ports: [{containerPort: 80, name: http}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: optout, namespace: default}
spec:
  selector: {matchLabels: {app: optout}}
  template:
    metadata: {labels: {app: optout}, annotations: {sidecar.istio.io/inject: "false"}}
    spec: {containers: [{name: c, image: busybox}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: outside, namespace: plain}
spec:
  selector: {matchLabels: {app: outside}}
  template:
    metadata: {labels: {app: outside}}
    spec: {containers: [{name: c, image: busybox}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: optin, namespace: plain}
spec:
  selector: {matchLabels: {app: optin}}
  template:
    metadata: {labels: {app: optin, sidecar.istio.io/inject: "true"}}
    spec: {containers: [{name: c, image: busybox}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: my-gateway, namespace: plain}
spec:
  selector: {matchLabels: {istio: my-gateway}}
  template:
    metadata:
      labels: {istio: my-gateway, sidecar.istio.io/inject: "true"}
      annotations: {inject.istio.io/templates: gateway}
    spec: {containers: [{name: istio-proxy, image: auto}]}
---
# The seed's snippet: the inject *annotation* in a namespace without istio-injection -- no webhook
# is called for this pod (mutatingwebhook.yaml object.sidecar-injector selects on the label).
apiVersion: apps/v1
kind: Deployment
metadata: {name: seed-gateway, namespace: plain}
spec:
  selector: {matchLabels: {ingress: seed-gateway}}
  template:
    metadata:
      labels: {ingress: seed-gateway}
      annotations: {sidecar.istio.io/inject: "true", inject.istio.io/templates: gateway}
    spec: {containers: [{name: istio-proxy, image: auto}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  ports: [{name: http-web, port: 8000, targetPort: http}]
  selector: {app: web}
"""


def test_pods_names_ips_kinds() -> None:
    state = xds(APPS)
    pods = {p.name: p for p in state.pods}
    web = state.pods_of("default/web")
    assert len(web) == 3
    for p in web:
        assert re.fullmatch(r"web-[bcdfghjklmnpqrstvwxz2456789]{10}-[bcdfghjklmnpqrstvwxz2456789]{5}", p.name)
    assert len({p.name for p in web}) == 3
    # Same template hash for replicas of one Deployment.
    assert len({p.name.rsplit("-", 2)[1] for p in web}) == 1
    # istiod takes one of the addresses kind's system pods use (.4); workloads count from .5.
    assert [p.ip for p in state.pods if p.deployment == "istiod"] == ["10.244.0.4"]
    ips = [p.ip for p in state.pods if p.deployment != "istiod"]
    assert ips == [f"10.244.0.{n}" for n in range(5, 5 + len(ips))]
    kinds = {p.deployment: p.kind for p in pods.values()}
    assert kinds == {
        "istiod": "plain",
        "istio-ingressgateway": "gateway",
        "istio-egressgateway": "gateway",
        "web": "sidecar",
        "optout": "plain",
        "outside": "plain",
        "optin": "sidecar",
        "my-gateway": "gateway",
        "seed-gateway": "plain",
    }
    injected = {p.deployment for p in pods.values() if p.injected}
    assert injected == {"web", "optin", "my-gateway"}  # the charts' gateways run proxyv2 themselves
    # Deterministic: the same config gives the same names and addresses.
    assert [(p.name, p.ip) for p in xds(APPS).pods] == [(p.name, p.ip) for p in state.pods]


def test_proxies_for_gateways_and_sidecars_only() -> None:
    state = xds(APPS)
    assert {p.workload for p in state.proxies.values()} == {
        "istio-ingressgateway",
        "istio-egressgateway",
        "web",
        "optin",
        "my-gateway",
    }
    ing = state.proxy_for(INGRESS)
    assert ing is not None and ing.type == "router" and ing.id.startswith("istio-ingressgateway-")
    assert ing.id.endswith(".istio-system")
    assert state.proxy_for("default/web") is state.proxies[state.pods_of("default/web")[0].key]
    assert state.proxy_for("default/optout") is None
    assert state.proxy_for("istio-egressgateway") is state.proxy_for(EGRESS)


def test_service_endpoints_named_target_port_and_dns() -> None:
    state = xds(APPS)
    svc = state.services["web.default.svc.cluster.local"]
    assert svc.cluster_ip is not None and svc.cluster_ip.startswith("10.96.")
    assert sorted((e.address, e.port) for e in svc.endpoints[8000]) == sorted(
        (p.ip, 80) for p in state.pods_of("default/web")
    )
    for name, ns in [
        ("web", "default"),
        ("web.default", "plain"),
        ("web.default.svc", "plain"),
        ("web.default.svc.cluster.local", "plain"),
        ("web.default.svc.cluster.local.", "x"),
    ]:
        assert state.dns(name, ns) == svc.cluster_ip, name
    assert state.dns("web", "plain") is None
    assert (
        state.dns("istio-ingressgateway.istio-system")
        == state.services["istio-ingressgateway.istio-system.svc.cluster.local"].cluster_ip
    )


def test_service_entry_dns_auto_allocated() -> None:
    se = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: default}
spec:
  hosts: [httpbin.org]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: DNS
"""
    ip = xds(se).dns("httpbin.org", "default")
    assert ip is not None and ip.startswith("240.240.")


def test_translate_accepts_any_snapshot_with_list() -> None:
    state = translate(raw_snapshot(APPS))
    assert state.proxy_for(INGRESS) is not None


def test_every_proxy_renders_as_json_like_istioctl() -> None:
    import json

    state = xds(APPS)
    for p in state.proxies.values():
        doc = json.loads(json.dumps(p.to_dict()))
        assert doc["id"] == p.id
        assert [lst["name"] for lst in doc["listeners"]] == [lst.name for lst in p.listeners]


def test_bad_outbound_traffic_policy_mode_has_istioctls_words() -> None:
    from gatewaykit._translate.mesh import outbound_traffic_policy_mode
    from gatewaykit.errors import ValidationError

    assert outbound_traffic_policy_mode("REGISTRY_ONLY") == "REGISTRY_ONLY"
    with pytest.raises(ValidationError) as err:
        outbound_traffic_policy_mode("BLOCK_ALL")
    assert str(err.value) == (
        'failed to convert to proto. unknown value "\\"BLOCK_ALL\\"" for enum '
        "istio.mesh.v1alpha1.MeshConfig.OutboundTrafficPolicy.Mode"
    )
