"""Re-translation reuses what did not change, and gives exactly what a cold translation gives.

The memos in :mod:`gatewaykit._translate` (mesh, merged gateways, listeners, route configurations,
clusters, SDS material, sidecars) are keyed by the identity of the store's immutable objects. Each
step below applies a change through the real config store, translates warm, then translates again
from cold (``clear_caches``) and requires the two states to be equal, log lines included.
"""

from __future__ import annotations

import time

import pytest
from _tx import DEFAULT_MESH, HTTPBIN_SAMPLE, INGRESS

from gatewaykit._translate import XdsState, clear_caches, translate
from gatewaykit.resources.codecs import load
from gatewaykit.store import ConfigStore

START = """
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio-injection: enabled}}
---
""" + HTTPBIN_SAMPLE + """---
apiVersion: apps/v1
kind: Deployment
metadata: {name: client, namespace: shop}
spec:
  selector: {matchLabels: {app: client}}
  template:
    metadata: {labels: {app: client}}
    spec:
      containers: [{name: curl, image: curlimages/curl}]
---
apiVersion: v1
kind: Service
metadata: {name: tcp-echo, namespace: default}
spec:
  ports: [{name: tcp, port: 9000}]
  selector: {app: tcp-echo}
---
apiVersion: v1
kind: Secret
metadata: {name: cred-a, namespace: istio-system}
stringData: {tls.crt: CERT, tls.key: KEY}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*.example.com"]
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["a.example.com"]
    tls: {mode: SIMPLE, credentialName: cred-a}
  - port: {number: 443, name: tls, protocol: TLS}
    hosts: ["pass.example.com"]
    tls: {mode: PASSTHROUGH}
  - port: {number: 31400, name: tcp, protocol: TCP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: default}
spec:
  hosts: ["a.example.com", "b.example.com"]
  gateways: [gw, mesh]
  http:
  - match: [{uri: {prefix: /status}}]
    route: [{destination: {host: httpbin}}]
    mirror: {host: httpbin}
  - route: [{destination: {host: httpbin, port: {number: 8000}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: passthrough, namespace: default}
spec:
  hosts: ["pass.example.com"]
  gateways: [gw]
  tls:
  - match: [{sniHosts: [pass.example.com]}]
    route: [{destination: {host: httpbin}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: tcp, namespace: default}
spec:
  hosts: ["*"]
  gateways: [gw]
  tcp:
  - route: [{destination: {host: tcp-echo}}]
"""

STEPS = [
    (
        "change a VirtualService",
        """apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: default}
spec:
  hosts: ["a.example.com", "b.example.com"]
  gateways: [gw, mesh]
  http:
  - route: [{destination: {host: httpbin}}]
    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
""",
    ),
    (
        "change the Gateway",
        """apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["a.example.com"]
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["a.example.com"]
    tls: {mode: SIMPLE, credentialNames: [cred-a, cred-b]}
  - port: {number: 31400, name: tcp, protocol: TCP}
    hosts: ["*"]
""",
    ),
    (
        "add the second credential",
        """apiVersion: v1
kind: Secret
metadata: {name: cred-b, namespace: istio-system}
stringData: {tls.crt: CERT2, tls.key: KEY2}
""",
    ),
    (
        "change the port of a Service that a portless destination uses",
        """apiVersion: v1
kind: Service
metadata: {name: httpbin, namespace: default}
spec:
  ports: [{name: http, port: 8001, targetPort: 8080}]
  selector: {app: httpbin}
""",
    ),
    (
        "change the TCP destination's Service",
        """apiVersion: v1
kind: Service
metadata: {name: tcp-echo, namespace: default}
spec:
  ports: [{name: tcp, port: 9001}]
  selector: {app: tcp-echo}
""",
    ),
    (
        "change the TCP VirtualService",
        """apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: tcp, namespace: default}
spec:
  hosts: ["*"]
  gateways: [gw]
  tcp:
  - route: [{destination: {host: httpbin, port: {number: 8001}}}]
""",
    ),
    (
        "add a DestinationRule",
        """apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: httpbin, namespace: default}
spec:
  host: httpbin
  subsets: [{name: v1, labels: {version: v1}}]
""",
    ),
    (
        "add a second Gateway on the same pod",
        """apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw2, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["a.example.com"]
""",
    ),
    (
        "scale the gateway-targeted workload",
        """apiVersion: apps/v1
kind: Deployment
metadata: {name: httpbin, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: httpbin}}
  template:
    metadata: {labels: {app: httpbin, version: v1}}
    spec:
      containers: [{name: httpbin, image: mccutchen/go-httpbin, ports: [{containerPort: 8080}]}]
""",
    ),
]


def _cold(snapshot: object) -> XdsState:
    clear_caches()
    return translate(snapshot)  # type: ignore[arg-type]


def test_every_step_equals_a_cold_translation() -> None:
    store = ConfigStore()
    store.apply(load(DEFAULT_MESH.read_text(), name="default-mesh.yaml"))
    store.apply(load(START, name="start.yaml"))
    translate(store.snapshot())
    for name, change in STEPS:
        store.apply(load(change, name="step.yaml"))
        warm = translate(store.snapshot())
        assert warm == _cold(store.snapshot()), name
        # And once more warm, now that every memo holds this configuration.
        assert translate(store.snapshot()) == warm, name
    # Undo a change: the memo must not hand back the configuration from before.
    store.delete(load(STEPS[-2][1], name="step.yaml"))
    warm = translate(store.snapshot())
    assert warm == _cold(store.snapshot())
    gw = warm.proxy_for(INGRESS)
    assert gw is not None and "http.8080" in gw.route_configs


def test_changes_show_up_in_the_warm_translation() -> None:
    store = ConfigStore()
    store.apply(load(DEFAULT_MESH.read_text(), name="default-mesh.yaml"))
    store.apply(load(START, name="start.yaml"))
    before = translate(store.snapshot()).proxy_for(INGRESS)
    store.apply(load(STEPS[0][1], name="step.yaml"))
    after = translate(store.snapshot()).proxy_for(INGRESS)
    assert before is not None and after is not None

    def web_route(p: object) -> object:
        rc = p.route_configs["http.8080"]  # type: ignore[attr-defined]
        vh = next(v for v in rc.virtual_hosts if "a.example.com" in v.domains)
        return vh.routes[-1].fault

    assert web_route(before) is None and web_route(after) is not None
    # Unchanged pieces are the very same objects (reused, not rebuilt).
    assert all(a is b for a, b in zip(after.listeners, before.listeners, strict=True))
    assert after.clusters is before.clusters


@pytest.mark.parametrize("n", [300])
def test_one_change_retranslates_fast(n: int) -> None:
    docs = []
    for i in range(n):
        docs.append(f"""apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: gw-{i}, namespace: default}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 80, name: http, protocol: HTTP}}
    hosts: ["h{i}.example.com"]
  - port: {{number: 443, name: https-{i}, protocol: HTTPS}}
    hosts: ["h{i}.example.com"]
    tls: {{mode: SIMPLE, credentialName: cred-{i}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: vs-{i}, namespace: default}}
spec:
  hosts: ["h{i}.example.com"]
  gateways: [gw-{i}]
  http:
  - route: [{{destination: {{host: httpbin, port: {{number: 8000}}}}}}]
""")
    store = ConfigStore()
    store.apply(load(DEFAULT_MESH.read_text(), name="default-mesh.yaml"))
    store.apply(load("---\n".join(docs), name="bench.yaml"))
    clear_caches()
    t0 = time.process_time()
    translate(store.snapshot())
    cold = time.process_time() - t0
    best = 1.0
    for attempt in range(4):
        store.apply(
            load(
                f"""apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: vs-7, namespace: default}}
spec:
  hosts: ["h7.example.com"]
  gateways: [gw-7]
  http:
  - route: [{{destination: {{host: httpbin, port: {{number: 8000}}}}}}]
    timeout: {attempt + 1}s
"""
            )
        )
        t1 = time.process_time()
        state = translate(store.snapshot())
        best = min(best, time.process_time() - t1)
        gw = state.proxy_for(INGRESS)
        assert gw is not None
        vh = {v.name: v for v in gw.route_configs["http.8080"].virtual_hosts}["h7.example.com:80"]
        assert vh.routes[0].route is not None and vh.routes[0].route.timeout == attempt + 1
    # A real change (not an unchanged re-apply) costs a fraction of a cold translation.
    assert best < cold / 3, (best, cold)
