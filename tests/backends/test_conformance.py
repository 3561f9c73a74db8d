"""The Backend protocol's contract, checked the same way over every backend.

Labs and the kit use :class:`gatewaykit.backends.base.Backend` only, so a lab runs unchanged on the
embedded sandbox, a kind cluster and a connected cluster. These tests hold the three to one
behaviour through that protocol alone (no backend-specific attribute):

* ``local``: the embedded sandbox (``Sandbox.local()``);
* ``connect``: ``ConnectedSandbox`` pointed at an embedded sandbox's API server through its
  kubeconfig -- the real Kubernetes client, the real kubectl, istiod's debug endpoints by exec,
  learner namespaces and ownership labels, exactly as against a workshop's cluster;
* ``kind``: a real kind node with Istio 1.27 (opt-in live tier: ``pytest -m cluster --run-cluster``).

Every check is what a learner sees: kubectl's lines, curl's status and body, the access log.
Manifests carry no namespace: each backend puts them where its kubectl's context points.
"""

from __future__ import annotations

import os
import pathlib
import stat
from collections.abc import Iterator
from typing import Any

import pytest

from gatewaykit import Sandbox
from gatewaykit.backends.base import Backend
from gatewaykit.errors import BackendError, ValidationError
from gatewaykit.samples import path as samples_path

SAMPLES = pathlib.Path(samples_path())

GATEWAY = """apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: conformance-gateway
spec:
  selector:
    istio: ingressgateway
  servers:
  - port:
      number: 80
      name: http
      protocol: HTTP
    hosts:
    - "conformance.example.com"
"""

VIRTUAL_SERVICE = """apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: conformance
spec:
  hosts:
  - "conformance.example.com"
  gateways:
  - conformance-gateway
  http:
  - match:
    - uri:
        prefix: /status
    route:
    - destination:
        port:
          number: 8000
        host: httpbin
"""

CURL_INGRESS = (
    'curl -s -i -HHost:conformance.example.com "http://$INGRESS_HOST:$INGRESS_PORT/status/418"'
)


def _local(request: pytest.FixtureRequest) -> Iterator[Backend]:
    with Sandbox.local() as sb:
        yield sb


def _connect(request: pytest.FixtureRequest) -> Iterator[Backend]:
    from gatewaykit.backends.connect import ConnectedSandbox

    with Sandbox.local() as cluster:
        kubeconfig = cluster.shell_env["KUBECONFIG"]
        with ConnectedSandbox(kubeconfig=kubeconfig, learner="ada") as sb:
            yield sb


def _kind(request: pytest.FixtureRequest) -> Iterator[Backend]:
    kind_sandbox = request.getfixturevalue("kind_sandbox")
    yield kind_sandbox


STARTERS = {"local": _local, "connect": _connect, "kind": _kind}


@pytest.fixture(
    scope="module",
    params=["local", "connect", pytest.param("kind", marks=pytest.mark.cluster)],
)
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """A started backend with Istio's httpbin and curl samples deployed."""
    gen = STARTERS[request.param](request)
    sb = next(gen)
    for sample in ("httpbin/httpbin.yaml", "curl/curl.yaml"):
        sb.apply(SAMPLES / sample)
    yield sb
    gen.close()


@pytest.fixture(scope="module")
def namespace(backend: Backend) -> str:
    """Where kubectl's context (and so ``apply``) puts namespace-less manifests."""
    r = backend.shell("kubectl config view --minify -o jsonpath='{..namespace}'")
    assert r.exit_code == 0, r.output
    return r.output.strip() or "default"


@pytest.fixture(scope="module")
def routed(backend: Backend) -> Backend:
    """The conformance Gateway and VirtualService applied (once per backend)."""
    report = backend.apply(GATEWAY + "---\n" + VIRTUAL_SERVICE)
    assert str(report) == (
        "gateway.networking.istio.io/conformance-gateway created\n"
        "virtualservice.networking.istio.io/conformance created"
    )
    return backend


def test_every_backend_is_a_backend_with_the_docs_variables(backend: Backend) -> None:
    assert isinstance(backend, Backend) and not backend.closed
    assert {"INGRESS_HOST", "INGRESS_PORT", "SECURE_INGRESS_PORT", "TCP_INGRESS_PORT"} <= set(backend.env)
    assert all(backend.env[k] for k in ("INGRESS_HOST", "INGRESS_PORT"))


def test_the_shell_is_a_terminal_on_the_backend_never_the_users_kubeconfig(backend: Backend) -> None:
    kubeconfig = pathlib.Path(backend.shell_env["KUBECONFIG"])
    assert kubeconfig != pathlib.Path("~/.kube/config").expanduser()
    assert stat.S_IMODE(os.stat(kubeconfig).st_mode) == 0o600
    r = backend.shell("kubectl get deploy httpbin -o jsonpath='{.status.readyReplicas}'")
    assert (r.exit_code, r.output) == (0, "1")
    assert backend.shell("export CONFORMANCE=kept").exit_code == 0
    assert backend.shell('echo "$CONFORMANCE $INGRESS_PORT"').output == f"kept {backend.env['INGRESS_PORT']}\n"


def test_an_applied_route_serves_the_next_request(routed: Backend) -> None:
    r = routed.curl(CURL_INGRESS)
    assert (r.exit_code, r.status) == (0, 418)
    assert r.body == "I'm a teapot!"
    assert r.headers["server"] == "istio-envoy"
    log = routed.logs("istio-system/istio-ingressgateway")
    assert '"GET /status/418 HTTP/1.1" 418 - via_upstream' in log


def test_applying_the_same_manifest_again_is_unchanged(routed: Backend) -> None:
    assert str(routed.apply(GATEWAY)) == "gateway.networking.istio.io/conformance-gateway unchanged"


def test_in_mesh_curl_runs_through_the_sources_sidecar(backend: Backend) -> None:
    r = backend.curl("curl -s -i http://httpbin:8000/status/418", source="curl")
    assert (r.exit_code, r.status, r.body) == (0, 418, "I'm a teapot!")
    assert r.headers["server"] == "envoy"  # the client sidecar rewrites Server on the way back


def test_service_address_reaches_the_gateway_from_the_host(routed: Backend) -> None:
    host, port = routed.service_address("istio-system", "istio-ingressgateway", 80)
    r = routed.curl(f"curl -s -i -HHost:conformance.example.com http://{host}:{port}/status/200")
    assert (r.exit_code, r.status) == (0, 200)


def test_a_rejected_manifest_changes_nothing(routed: Backend, namespace: str) -> None:
    before = routed.get("VirtualService", namespace, "conformance")
    assert before is not None
    bad = VIRTUAL_SERVICE.replace("    route:\n", "    redirect:\n      uri: /elsewhere\n    route:\n")
    with pytest.raises(ValidationError) as info:
        routed.apply(bad)
    assert (
        'admission webhook "validation.istio.io" denied the request: configuration is invalid: '
        "HTTP route cannot contain both route and redirect"
    ) in str(info.value)
    after = routed.get("VirtualService", namespace, "conformance")
    assert after is not None
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert routed.curl(CURL_INGRESS).status == 418


def test_get_and_pods_show_what_kubectl_shows(backend: Backend, namespace: str) -> None:
    svc: dict[str, Any] | None = backend.get("Service", namespace, "httpbin")
    assert svc is not None and svc["spec"]["ports"][0]["port"] == 8000
    assert backend.get("Gateway", namespace, "no-such-gateway") is None
    pods = [p for p in backend.pods() if p.namespace == namespace and p.name.startswith("httpbin-")]
    assert [(p.status, p.ready) for p in pods] == [("Running", "2/2")]


def test_delete_removes_the_route_before_it_returns(backend: Backend, namespace: str) -> None:
    vs = VIRTUAL_SERVICE.replace("name: conformance\n", "name: conformance-delete\n").replace(
        "conformance.example.com", "delete.example.com"
    )
    gateway = GATEWAY.replace("conformance.example.com", "delete.example.com")
    gateway = gateway.replace("name: conformance-gateway", "name: delete-gateway")
    backend.apply(gateway + "---\n" + vs.replace("- conformance-gateway", "- delete-gateway"))
    curl = (
        'curl -s -o /dev/null -w "%{http_code}" -HHost:delete.example.com '
        '"http://$INGRESS_HOST:$INGRESS_PORT/status/200"'
    )
    assert backend.curl(curl).stdout == "200"
    assert str(backend.delete(vs)) == 'virtualservice.networking.istio.io "conformance-delete" deleted'
    assert backend.curl(curl).stdout == "404"
    assert backend.get("VirtualService", namespace, "conformance-delete") is None


@pytest.mark.parametrize("name", ["local", "connect"])
def test_close_is_idempotent_and_final(name: str, request: pytest.FixtureRequest) -> None:
    # (Not over kind: closing would end the live tier's shared cluster session.)
    gen = STARTERS[name](request)
    other = next(gen)
    other.close()
    other.close()
    assert other.closed
    with pytest.raises(BackendError):
        other.apply(GATEWAY)
    with pytest.raises(BackendError):
        other.curl(CURL_INGRESS)
    gen.close()
