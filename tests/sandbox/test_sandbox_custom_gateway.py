"""Gateways reached from inside the mesh, and a gateway deployed with injection
(``inject.istio.io/templates: gateway``, container ``istio-proxy`` / image ``auto``) whose TLS files
come from a mounted Secret (file paths, §8.2).

A custom gateway's Service is not published on the host, so (as on a cluster without a load
balancer) the learner reaches it from a mesh client: ``sb.curl(..., source="default/curl")``.
Docs: istio.io "Installing Gateways" (gateway injection); rules: §2, §3, §8.2 of
../shared/reference/istio-behavior.md.
"""

from __future__ import annotations

import pytest
from sandbox_support import HTTPBIN_GATEWAY_YAML, HTTPBIN_VS_YAML, HTTPBIN_YAML, TEAPOT

# istio/istio samples/curl/curl.yaml (the mesh client).
CURL_YAML = """\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: curl
---
apiVersion: v1
kind: Service
metadata:
  name: curl
  labels:
    app: curl
    service: curl
spec:
  ports:
  - port: 80
    name: http
  selector:
    app: curl
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: curl
spec:
  replicas: 1
  selector:
    matchLabels:
      app: curl
  template:
    metadata:
      labels:
        app: curl
    spec:
      terminationGracePeriodSeconds: 0
      serviceAccountName: curl
      containers:
      - name: curl
        image: curlimages/curl
        command: ["/bin/sleep", "infinity"]
        imagePullPolicy: IfNotPresent
"""

# The "Deploying a gateway" manifest (gateway injection), with a Secret mounted for file paths.
CUSTOM_GATEWAY_DEPLOYMENT = """\
apiVersion: v1
kind: Namespace
metadata:
  name: my-ingress
---
apiVersion: v1
kind: Service
metadata:
  name: my-gateway
  namespace: my-ingress
spec:
  type: LoadBalancer
  selector:
    istio: my-gateway
  ports:
  - port: 80
    name: http
  - port: 443
    name: https
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: my-gateway
  namespace: my-ingress
spec:
  selector:
    matchLabels:
      istio: my-gateway
  template:
    metadata:
      annotations:
        inject.istio.io/templates: gateway
      labels:
        istio: my-gateway
        sidecar.istio.io/inject: "true"
    spec:
      containers:
      - name: istio-proxy
        image: auto
        volumeMounts:
        - name: my-certs
          mountPath: /etc/istio/my-certs
          readOnly: true
      volumes:
      - name: my-certs
        secret:
          secretName: my-certs
"""

CUSTOM_GATEWAY = """\
apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata:
  name: my-gw
spec:
  selector:
    istio: my-gateway
  servers:
  - port:
      number: 80
      name: http
      protocol: HTTP
    hosts:
    - "*"
  - port:
      number: 443
      name: https
      protocol: HTTPS
    tls:
      mode: SIMPLE
      serverCertificate: /etc/istio/my-certs/tls.crt
      privateKey: /etc/istio/my-certs/tls.key
    hosts:
    - "*"
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: httpbin-my-gw
spec:
  hosts:
  - "*"
  gateways:
  - my-gw
  http:
  - route:
    - destination:
        host: httpbin
        port:
          number: 8000
"""


@pytest.fixture(scope="module", autouse=True)
def workloads(sb):
    sb.apply(HTTPBIN_YAML)
    sb.apply(CURL_YAML)


@pytest.fixture()
def custom_gateway(sb, kubectl):
    deploy_custom_gateway(kubectl)


def deploy_custom_gateway(kubectl) -> None:
    kubectl.apply(CUSTOM_GATEWAY_DEPLOYMENT.split("---\n", 1)[0])  # the namespace first
    kubectl.create_secret_tls(
        "my-certs",
        key="example_certs1/httpbin.example.com.key",
        cert="example_certs1/httpbin.example.com.crt",
        namespace="my-ingress",
    )
    kubectl.apply(CUSTOM_GATEWAY_DEPLOYMENT)
    kubectl.apply(CUSTOM_GATEWAY)


def test_custom_gateway_is_a_proxy_with_the_servers_it_selects(sb, custom_gateway):
    pods = [p for p in sb.pods() if p.namespace == "my-ingress"]
    assert len(pods) == 1 and pods[0].name.startswith("my-gateway-") and pods[0].status == "Running"
    proxy = sb.proxy_config("my-ingress/my-gateway")
    assert proxy.type == "router"
    # Service ports 80/443 have no targetPort: the listeners are 0.0.0.0_80 and 0.0.0.0_443 (§2).
    assert {lst.name for lst in proxy.listeners} >= {"0.0.0.0_80", "0.0.0.0_443"}
    # The default ingress gateway is not selected by istio: my-gateway.
    assert sb.proxy_config("istio-system/istio-ingressgateway").listener(443) is None


def test_mesh_client_reaches_the_default_ingress_gateway(sb, kubectl):
    # In-cluster access to the gateway Service: client sidecar -> istio-ingressgateway:80 -> pod
    # port 8080 -> the gateway's HTTP listener -> httpbin.
    kubectl.apply(HTTPBIN_GATEWAY_YAML)
    kubectl.apply(HTTPBIN_VS_YAML)
    r = sb.curl(
        "curl -s -i -HHost:httpbin.example.com http://istio-ingressgateway.istio-system/status/418",
        source="default/curl",
    )
    assert r.exit_code == 0, r
    assert r.status == 418, r
    assert r.body == TEAPOT


def test_mesh_client_reaches_custom_gateway_over_http(sb, custom_gateway):
    r = sb.curl("curl -s -i http://my-gateway.my-ingress/status/418", source="default/curl")
    assert r.exit_code == 0, r
    assert r.status == 418, r
    assert r.body == TEAPOT


def test_custom_gateway_serves_tls_from_mounted_files(sb, custom_gateway):
    # §8.2: serverCertificate/privateKey are paths in the gateway pod, here a mounted Secret.
    r = sb.curl("curl -v -k https://my-gateway.my-ingress/status/418", source="default/curl")
    assert r.exit_code == 0, r
    assert "*  subject: CN=httpbin.example.com; O=httpbin organization" in r.stderr
    assert r.status == 418
    assert r.stdout == TEAPOT


def test_node_port_serves_after_an_early_port_forward(sb, kubectl):
    # A notebook reads its $VARS (service_address) before the step that creates the Service: the
    # sandbox holds a port-forward for it then. Once the Service exists as a LoadBalancer, its
    # node port is what the learner's variables name, and what must serve.
    early = sb.service_address("my-ingress", "my-gateway", 80)[1]
    deploy_custom_gateway(kubectl)
    node_port = sb.service_address("my-ingress", "my-gateway", 80)[1]
    assert node_port != early
    r = sb.curl(f'curl -s -o /dev/null -w "%{{http_code}}" "http://$INGRESS_HOST:{node_port}/status/418"')
    assert (r.exit_code, r.stdout) == (0, "418"), r
