"""Translation never raises on odd-but-loadable config, and is fast enough (issue: Istio config core)."""

from __future__ import annotations

import time
from typing import Any

from _tx import INGRESS, ListSnapshot, raw_snapshot
from hypothesis import given, settings
from hypothesis import strategies as st

from gatewaykit._translate import translate
from gatewaykit.errors import GatewayKitError
from gatewaykit.resources import models as M
from gatewaykit.resources.meta import KINDS

_leaf = (
    st.none()
    | st.booleans()
    | st.integers(-2, 70000)
    | st.sampled_from(
        [
            "*",
            "a.example.com",
            "*.example.com",
            "ns/x.com",
            "./y",
            "HTTP",
            "HTTPS",
            "TLS",
            "TCP",
            "SIMPLE",
            "PASSTHROUGH",
            "MUTUAL",
            "ISTIO_MUTUAL",
            "mesh",
            "gw",
            "istio: ingressgateway",
            "80",
            "http",
            "/",
        ]
    )
)
_json = st.recursive(
    _leaf,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "servers",
                    "port",
                    "number",
                    "name",
                    "protocol",
                    "hosts",
                    "tls",
                    "mode",
                    "credentialName",
                    "http",
                    "route",
                    "destination",
                    "host",
                    "match",
                    "uri",
                    "prefix",
                    "gateways",
                    "tcp",
                    "selector",
                    "istio",
                    "ports",
                    "targetPort",
                    "subsets",
                    "labels",
                    "trafficPolicy",
                    "sniHosts",
                    "redirect",
                    "weight",
                    "endpoints",
                    "resolution",
                    "addresses",
                    "exportTo",
                    "httpsRedirect",
                    "template",
                    "spec",
                    "containers",
                    "replicas",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([k.kind for k in KINDS]), _json), max_size=6))
def test_translate_never_raises(objs: list[tuple[str, Any]]) -> None:
    models = list(raw_snapshot("")._objects)
    for i, (kind, spec) in enumerate(objs):
        api = next(k for k in KINDS if k.kind == kind).api_versions()[0]
        try:
            models.append(
                M.from_dict({"apiVersion": api, "kind": kind, "metadata": {"name": f"o{i}"}, "spec": spec})
            )
        except GatewayKitError:
            continue
    translate(ListSnapshot(models))


def _config(n: int) -> str:
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
  - match: [{{uri: {{prefix: /a}}}}]
    route: [{{destination: {{host: httpbin, port: {{number: 8000}}}}}}]
  - route: [{{destination: {{host: httpbin}}}}]
""")
    return "---\n".join(docs)


def test_500_gateways_and_virtualservices_translate_fast() -> None:
    snap = raw_snapshot(_config(500))
    t0 = time.perf_counter()
    state = translate(snap)
    cold = time.perf_counter() - t0
    gw = state.proxy_for(INGRESS)
    assert gw is not None
    assert len(gw.route_configs) == 501  # http.8080 + one https route config per server
    assert len(gw.route_configs["http.8080"].virtual_hosts) == 500
    # Re-translation after one change reuses the routes of unchanged VirtualServices. Best of
    # three changes, so a stray GC pause on a busy machine does not decide the outcome.
    objs = list(snap._objects)
    i = next(k for k, o in enumerate(objs) if o.kind == "VirtualService" and o.metadata.name == "vs-7")
    warm = 1.0
    for attempt in range(3):
        objs[i] = M.from_dict(
            {
                "apiVersion": "networking.istio.io/v1",
                "kind": "VirtualService",
                "metadata": {"name": "vs-7", "namespace": "default"},
                "spec": {
                    "hosts": ["h7.example.com"],
                    "gateways": ["gw-7"],
                    "http": [{"route": [{"destination": {"host": f"other-{attempt}"}}]}],
                },
            }
        )
        t1 = time.perf_counter()
        state2 = translate(ListSnapshot(objs))
        warm = min(warm, time.perf_counter() - t1)
        p2 = state2.proxy_for(INGRESS)
        assert p2 is not None
        vh = {v.name: v for v in p2.route_configs["http.8080"].virtual_hosts}
        action = vh["h7.example.com:80"].routes[0].route
        assert (
            action is not None and action.cluster == f"outbound|80||other-{attempt}.default.svc.cluster.local"
        )
    # Speed is measured by bench/translate (targets there), not asserted in a unit test.
    print(f"translate 500+500: cold {cold * 1000:.0f} ms, after one change {warm * 1000:.0f} ms")
