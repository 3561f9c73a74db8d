"""Gateway injection as Istio 1.27's webhook does it, seen with the real kubectl.

What a learner runs (``kubectl apply``, ``kubectl get pods``, ``kubectl label``, ``kubectl rollout
restart``) goes through the sandbox's API server (``sb.shell``). Sources:

* which pods are injected: the webhooks' selectors in
  manifests/charts/istio-control/istio-discovery/templates/mutatingwebhook.yaml -- the namespace
  label ``istio-injection=enabled``, or in a namespace without it the *pod label*
  ``sidecar.istio.io/inject: "true"``; the annotation selects nothing
  (https://istio.io/latest/docs/setup/additional-setup/gateway/, IST0146
  https://istio.io/latest/docs/reference/config/analysis/ist0146/);
* what the gateway template does: gateway-injection-template.yaml fills in the container named
  ``istio-proxy`` (proxy image, ``proxy router``) and nothing else;
* what Kubernetes shows for ``image: auto``: ErrImagePull with containerd's error
  (pkg/kubelet/images/image_manager.go; the text as in istio/istio#46307);
* injection happens at pod admission: existing pods keep what they got until re-created;
* a pod's identity is its ServiceAccount, ``default`` when the pod names none.
"""

from __future__ import annotations

import json
import re

import pytest
from sandbox_support import HTTPBIN_YAML

NS = "gw-ns"

# The seed's Deployment (istio-gateway-notes.ko.md), with a LoadBalancer Service in front.
SEED = f"""\
apiVersion: v1
kind: Namespace
metadata:
  name: {NS}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: my-user-gateway-injected
  namespace: {NS}
spec:
  selector:
    matchLabels:
      ingress: my-user-gateway-injected
  template:
    metadata:
      annotations:
        sidecar.istio.io/inject: "true"
        inject.istio.io/templates: gateway
      labels:
        ingress: my-user-gateway-injected
    spec:
      containers:
        - name: istio-proxy
          image: auto
---
apiVersion: v1
kind: Service
metadata:
  name: my-user-gateway
  namespace: {NS}
spec:
  type: LoadBalancer
  selector:
    ingress: my-user-gateway-injected
  ports:
  - name: http2
    port: 80
    targetPort: 8080
"""

# The fix: the same, with sidecar.istio.io/inject as a pod label.
LABELLED = SEED.replace(
    """      annotations:
        sidecar.istio.io/inject: "true"
        inject.istio.io/templates: gateway
      labels:
        ingress: my-user-gateway-injected
""",
    """      annotations:
        inject.istio.io/templates: gateway
      labels:
        ingress: my-user-gateway-injected
        sidecar.istio.io/inject: "true"
""",
)

ROUTE_TO_HTTPBIN = f"""\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: user-gateway
  namespace: {NS}
spec:
  selector:
    ingress: my-user-gateway-injected
  servers:
  - port: {{number: 80, name: http, protocol: HTTP}}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: httpbin
  namespace: {NS}
spec:
  hosts: ["*"]
  gateways: [user-gateway]
  http:
  - route:
    - destination:
        host: httpbin.default.svc.cluster.local
        port: {{number: 8000}}
"""

# containerd's answer for the image "auto", as the kubelet puts it in the container's waiting state.
AUTO_PULL_ERROR = (
    'rpc error: code = Unknown desc = failed to pull and unpack image "docker.io/library/auto:latest": '
    'failed to resolve reference "docker.io/library/auto:latest": pull access denied, repository does not '
    "exist or may require authorization: server message: insufficient_scope: authorization failed"
)
POD = r"my-user-gateway-injected-[bcdfghjklmnpqrstvwxz2456789]{10}-[bcdfghjklmnpqrstvwxz2456789]{5}"
PROXY_IMAGE = "docker.io/istio/proxyv2:1.27.1"


@pytest.fixture(scope="module", autouse=True)
def workloads(sb):
    sb.apply(HTTPBIN_YAML)


@pytest.fixture()
def sh(sb):
    """Run a script in the sandbox's terminal; the test namespace is deleted afterwards."""

    def run(script: str) -> str:
        r = sb.shell(script)
        assert r.exit_code == 0, r.output
        return r.output

    yield run
    sb.shell(f"kubectl delete namespace {NS} --ignore-not-found")


def kubectl_apply(text: str) -> str:
    return f"kubectl apply -f - <<'EOF'\n{text}EOF\n"


def pods_table(sh) -> list[list[str]]:
    """``kubectl get pods`` of the test namespace, as rows of columns (header first)."""
    return [line.split() for line in sh(f"kubectl get pods -n {NS}").splitlines()]


def node_port(sh) -> str:
    return sh(f"kubectl get svc my-user-gateway -n {NS} -o jsonpath='{{.spec.ports[0].nodePort}}'")


def test_seed_annotation_alone_leaves_image_auto_and_the_pod_never_ready(sb, sh):
    assert sh(kubectl_apply(SEED)) == (
        f"namespace/{NS} created\n"
        "deployment.apps/my-user-gateway-injected created\n"
        "service/my-user-gateway created\n"
    )
    header, row = pods_table(sh)
    assert header == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert re.fullmatch(POD, row[0]) and row[1:4] == ["0/1", "ErrImagePull", "0"], row
    jsonpath = "{.items[0].spec.containers[0].image} {.items[0].metadata.annotations}"
    assert sh(f"kubectl get pods -n {NS} -o jsonpath='{jsonpath}'") == (
        'auto {"inject.istio.io/templates":"gateway","sidecar.istio.io/inject":"true"}'
    )  # no sidecar.istio.io/status: the injector never saw the pod
    waiting = "{.items[0].status.containerStatuses[0].state.waiting}"
    assert json.loads(sh(f"kubectl get pods -n {NS} -o jsonpath='{waiting}'")) == {
        "reason": "ErrImagePull",
        "message": AUTO_PULL_ERROR,
    }
    # What `kubectl describe pod` lists under Events: the scheduler, then the kubelet's pull.
    pod = row[0]
    events = "{range .items[*]}{.type}|{.reason}|{.source.component}|{.message}{'\\n'}{end}"
    assert sh(f"kubectl get events -n {NS} -o jsonpath=\"{events}\"").splitlines() == [
        f"Normal|Scheduled|default-scheduler|Successfully assigned {NS}/{pod} to gatewaykit-control-plane",
        'Normal|Pulling|kubelet|Pulling image "auto"',
        f'Warning|Failed|kubelet|Failed to pull image "auto": {AUTO_PULL_ERROR}',
        "Warning|Failed|kubelet|Error: ErrImagePull",
    ]
    described = sh(f"kubectl describe pod {pod} -n {NS}")
    last = r"\n  Warning  Failed     \d+s +kubelet +spec\.containers\{istio-proxy\}: Error: ErrImagePull\n$"
    assert re.search(last, described), described
    # Not ready: no endpoint address, so kube-proxy rejects the LoadBalancer's node port.
    endpoints = sh(f"kubectl get endpoints my-user-gateway -n {NS}").splitlines()
    assert endpoints[0].split() == ["NAME", "ENDPOINTS", "AGE"] and len(endpoints[1].split()) == 2
    r = sb.shell(f'curl -sS "http://$INGRESS_HOST:{node_port(sh)}/status/200"')
    assert r.exit_code == 7 and "Failed to connect" in r.output, r.output


def test_pod_label_calls_the_injector_and_the_gateway_serves(sb, sh):
    sh(kubectl_apply(LABELLED) + kubectl_apply(ROUTE_TO_HTTPBIN))
    header, row = pods_table(sh)
    assert re.fullmatch(POD, row[0]) and row[1:4] == ["1/1", "Running", "0"], row
    container = json.loads(sh(f"kubectl get pods -n {NS} -o jsonpath='{{.items[0].spec.containers[0]}}'"))
    assert (container["name"], container["image"], container["args"][:2]) == (
        "istio-proxy",
        PROXY_IMAGE,
        ["proxy", "router"],
    )
    annotation = "{.items[0].metadata.annotations.sidecar\\.istio\\.io/status}"
    status = sh(f"kubectl get pods -n {NS} -o jsonpath='{annotation}'")
    assert json.loads(status)["containers"] == ["istio-proxy"]
    r = sb.shell(f'curl -s -o /dev/null -w "%{{http_code}}" "http://$INGRESS_HOST:{node_port(sh)}/status/418"')
    assert r.output == "418", r.output


def test_injected_gateway_without_service_account_runs_as_default(sb, sh):
    # The ServiceAccount admission plugin sets serviceAccountName "default"; istiod signs that
    # identity, which httpbin's sidecar appends to X-Forwarded-Client-Cert as URI= of its peer.
    sh(kubectl_apply(LABELLED) + kubectl_apply(ROUTE_TO_HTTPBIN))
    assert sh(f"kubectl get pods -n {NS} -o jsonpath='{{.items[0].spec.serviceAccountName}}'") == "default"
    out = sh(f'curl -s "http://$INGRESS_HOST:{node_port(sh)}/headers"')
    xfcc = json.loads(out)["headers"]["X-Forwarded-Client-Cert"]
    assert re.fullmatch(
        r"By=spiffe://cluster\.local/ns/default/sa/httpbin;Hash=[0-9a-f]{64};Subject=\"\";"
        rf"URI=spiffe://cluster\.local/ns/{NS}/sa/default",
        xfcc,
    ), xfcc


def test_namespace_labelled_later_injects_only_recreated_pods(sb, sh):
    sh(kubectl_apply(SEED))
    (_, before) = pods_table(sh)
    assert before[1:3] == ["0/1", "ErrImagePull"]
    assert sh(f"kubectl label namespace {NS} istio-injection=enabled") == f"namespace/{NS} labeled\n"
    # The webhook mutates pods when they are created: the existing pod is left as it was.
    (_, still) = pods_table(sh)
    assert still[:3] == before[:3]
    restarted = sh(f"kubectl rollout restart deployment/my-user-gateway-injected -n {NS}")
    assert restarted == "deployment.apps/my-user-gateway-injected restarted\n"
    (_, after) = pods_table(sh)
    assert re.fullmatch(POD, after[0]) and after[0] != before[0]
    assert after[1:3] == ["1/1", "Running"], after
    restarted_at = "{.spec.template.metadata.annotations.kubectl\\.kubernetes\\.io/restartedAt}"
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",
        sh(f"kubectl get deployment my-user-gateway-injected -n {NS} -o jsonpath='{restarted_at}'"),
    )


def test_gateway_template_fills_only_a_container_named_istio_proxy(sb, sh):
    renamed = LABELLED.replace("        - name: istio-proxy\n", "        - name: gateway\n")
    sh(kubectl_apply(renamed) + kubectl_apply(ROUTE_TO_HTTPBIN))
    (_, row) = pods_table(sh)
    assert row[1:3] == ["1/2", "ErrImagePull"], row
    # Its proxy runs, but a pod that is not ready is no endpoint: the node port is refused.
    r = sb.shell(f'curl -sS "http://$INGRESS_HOST:{node_port(sh)}/status/200"')
    assert r.exit_code == 7, r.output
    # The template adds its own istio-proxy (last); the container named `gateway` keeps `auto`.
    names = sh(f"kubectl get pods -n {NS} -o jsonpath='{{.items[0].spec.containers[*].name}}'")
    images = sh(f"kubectl get pods -n {NS} -o jsonpath='{{.items[0].spec.containers[*].image}}'")
    assert (names, images) == ("gateway istio-proxy", f"auto {PROXY_IMAGE}")
