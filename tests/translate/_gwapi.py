"""Helpers for the Gateway API tables: the store as istiod's controllers leave it, and shared YAML.

(A uniquely named module, not conftest: several test directories have a conftest.py.)
"""

from __future__ import annotations

from typing import Any

import yaml
from _tx import HTTPBIN_SAMPLE, pem_data, snapshot_from_yaml

from gatewaykit._translate import XdsState, translate
from gatewaykit._translate.gatewayapi_deploy import deployment_objects


def gw_snapshot(text: str) -> Any:
    """A snapshot of the default mesh + ``text`` + what istiod's deployment controller creates for it."""
    snap = snapshot_from_yaml(text)
    owned = deployment_objects(snap)
    if not owned:
        return snap
    return snapshot_from_yaml(
        text + "\n---\n" + "---\n".join(yaml.safe_dump(o, sort_keys=False) for o in owned)
    )


def gw_xds(text: str) -> XdsState:
    """:func:`translate` of :func:`gw_snapshot`."""
    return translate(gw_snapshot(text))


HTTPBIN = HTTPBIN_SAMPLE + """---
apiVersion: v1
kind: Service
metadata: {name: httpbin-v2, namespace: default}
spec:
  ports: [{name: http, port: 8000, targetPort: 8080}]
  selector: {app: httpbin-v2}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: httpbin-v2, namespace: default}
spec:
  selector: {matchLabels: {app: httpbin-v2}}
  template:
    metadata: {labels: {app: httpbin-v2}}
    spec: {containers: [{name: httpbin, image: httpbin, ports: [{containerPort: 8080}]}]}
"""

#: https://istio.io/latest/docs/tasks/traffic-management/ingress/gateway-api/ "Configuring a Gateway".
DOC_GATEWAY = """
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gateway, namespace: istio-ingress}
spec:
  gatewayClassName: istio
  listeners:
  - name: default
    hostname: "*.example.com"
    port: 80
    protocol: HTTP
    allowedRoutes: {namespaces: {from: All}}
"""

DOC_ROUTE = """
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: http, namespace: default}
spec:
  parentRefs: [{name: gateway, namespace: istio-ingress}]
  hostnames: ["httpbin.example.com"]
  rules:
  - matches: [{path: {type: PathPrefix, value: /get}}]
    backendRefs: [{name: httpbin, port: 8000}]
"""

def _istiod_with_alpha() -> str:
    """The istiod Deployment as ``istioctl install -f sandbox-install.yaml --set
    values.pilot.env.PILOT_ENABLE_ALPHA_GATEWAY_API=true`` renders it (the TLS/TCP tasks' install)."""
    import pathlib

    from gatewaykit.istioctl import _iop, _render

    install = pathlib.Path(__file__).resolve().parents[2] / "gatewaykit" / "data" / "sandbox-install.yaml"
    iop = _iop.merge_inputs([str(install)], ["values.pilot.env.PILOT_ENABLE_ALPHA_GATEWAY_API=true"])
    pilot = next(m for m in _render.render(iop) if m.component.name == "Pilot")
    return yaml.safe_dump(next(o for o in pilot.objects if o["kind"] == "Deployment"), sort_keys=False)


#: istiod with PILOT_ENABLE_ALPHA_GATEWAY_API in its environment, as the TLS/TCP tasks install Istio.
ALPHA = "\n---\n" + _istiod_with_alpha()

#: A kubernetes.io/tls Secret with a real certificate and key (Envoy rejects placeholder PEM).
TLS_SECRET = (
    """
---
apiVersion: v1
kind: Secret
metadata: {{name: {name}, namespace: {namespace}}}
type: kubernetes.io/tls
stringData: """
    + pem_data().replace("{", "{{").replace("}", "}}")
    + "\n"
)


def route(name: str, rules: str, *, hostnames: str = '["httpbin.example.com"]', parent: str = "") -> str:
    """An HTTPRoute in ``default`` attached to the doc Gateway (or ``parent``), with ``rules`` (YAML)."""
    parent = parent or "{name: gateway, namespace: istio-ingress}"
    return f"""
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: {name}, namespace: default}}
spec:
  parentRefs: [{parent}]
  hostnames: {hostnames}
  rules:
{rules}"""
