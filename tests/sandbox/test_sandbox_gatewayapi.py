"""The Kubernetes Gateway API task on the embedded sandbox, driven with real curl.

https://istio.io/latest/docs/tasks/traffic-management/ingress/gateway-api/ : a ``Gateway`` of class
``istio`` and an ``HTTPRoute``. Until the sandbox runs istiod's controllers itself, each test applies
what istiod's deployment controller would create (:func:`deployment_objects`) next to the learner's
objects, then reaches the gateway Service through ``sb.service_address`` (as a NodePort).
"""

from __future__ import annotations

import pytest
import yaml
from sandbox_support import HTTPBIN_YAML

from gatewaykit._translate.gatewayapi_deploy import deployment_objects

GATEWAY = """\
apiVersion: v1
kind: Namespace
metadata:
  name: istio-ingress
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gateway
  namespace: istio-ingress
spec:
  gatewayClassName: istio
  listeners:
  - name: default
    hostname: "*.example.com"
    port: 80
    protocol: HTTP
    allowedRoutes:
      namespaces:
        from: All
"""

ROUTE = """\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: http
  namespace: default
spec:
  parentRefs:
  - name: gateway
    namespace: istio-ingress
  hostnames: ["httpbin.example.com"]
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /get
    backendRefs:
    - name: httpbin
      port: 8000
"""

ROUTE_WITH_HEADERS = """\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: http
  namespace: default
spec:
  parentRefs:
  - name: gateway
    namespace: istio-ingress
  hostnames: ["httpbin.example.com"]
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /get
    - path:
        type: PathPrefix
        value: /headers
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        add:
        - name: my-added-header
          value: added-value
    backendRefs:
    - name: httpbin
      port: 8000
"""


@pytest.fixture(scope="module", autouse=True)
def workloads(sb):
    sb.apply(HTTPBIN_YAML)


def deploy(sb, kubectl, manifest: str) -> None:
    """Apply ``manifest``, then what istiod's deployment controller creates for it."""
    kubectl.apply(manifest)
    owned = deployment_objects(sb.store.snapshot())
    if owned:
        kubectl.apply("---\n".join(yaml.safe_dump(o, sort_keys=False) for o in owned))


def test_doc_gateway_routes_get_and_404s_the_rest(sb, kubectl):
    deploy(sb, kubectl, GATEWAY)
    kubectl.apply(ROUTE)
    host, port = sb.service_address("istio-ingress", "gateway-istio", 80)
    r = sb.curl(f'curl -s -I -HHost:httpbin.example.com "http://{host}:{port}/get"')
    assert (r.exit_code, r.status) == (0, 200), r
    assert "server: istio-envoy" in r.stdout
    r = sb.curl(f'curl -s -I -HHost:httpbin.example.com "http://{host}:{port}/headers"')
    assert (r.exit_code, r.status) == (0, 404), r


def test_updated_route_adds_the_header(sb, kubectl):
    deploy(sb, kubectl, GATEWAY)
    kubectl.apply(ROUTE)
    kubectl.apply(ROUTE_WITH_HEADERS)
    host, port = sb.service_address("istio-ingress", "gateway-istio", 80)
    r = sb.curl(f'curl -s -HHost:httpbin.example.com "http://{host}:{port}/headers"')
    assert r.exit_code == 0, r
    assert '"My-Added-Header": "added-value"' in r.stdout, r.stdout


def test_https_listener_serves_the_certificate_ref(sb, kubectl, docs_certs):
    kubectl.apply(GATEWAY.split("---\n", 1)[0])
    kubectl.create_secret_tls(
        "httpbin-credential",
        key="example_certs1/httpbin.example.com.key",
        cert="example_certs1/httpbin.example.com.crt",
        namespace="istio-ingress",
    )
    https = GATEWAY.replace(
        '  - name: default\n    hostname: "*.example.com"\n    port: 80\n    protocol: HTTP\n',
        "  - name: https\n    hostname: httpbin.example.com\n    port: 443\n    protocol: HTTPS\n"
        "    tls:\n      mode: Terminate\n      certificateRefs:\n      - name: httpbin-credential\n",
    )
    deploy(sb, kubectl, https)
    kubectl.apply(ROUTE)
    host, port = sb.service_address("istio-ingress", "gateway-istio", 443)
    r = sb.curl(
        f'curl -s -I --resolve "httpbin.example.com:{port}:{host}" --cacert example_certs1/example.com.crt '
        f'"https://httpbin.example.com:{port}/get"'
    )
    assert (r.exit_code, r.status) == (0, 200), r
