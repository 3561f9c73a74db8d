"""The live tier: every lab and notebook against a real kind cluster with Istio.

Opt-in (``pytest -m cluster --run-cluster``): needs Docker, a privileged container, about 4 GiB of
memory and the pinned images (pulled, or loaded with ``gatewaykit images load BUNDLE``). It cannot
run on the machine this project is developed on (no registry), so it is skipped there with the reason.
The cluster is created once per session with ``reuse=True`` and stays warm for the next run.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

pytestmark = pytest.mark.cluster

ROOT = pathlib.Path(__file__).resolve().parents[2]

HTTPBIN_GATEWAY = """apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: httpbin-gateway
spec:
  selector:
    istio: ingressgateway
  servers:
  - port:
      number: 80
      name: http
      protocol: HTTP
    hosts:
    - "httpbin.example.com"
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: httpbin
spec:
  hosts:
  - "httpbin.example.com"
  gateways:
  - httpbin-gateway
  http:
  - match:
    - uri:
        prefix: /status
    - uri:
        prefix: /delay
    route:
    - destination:
        port:
          number: 8000
        host: httpbin
"""


@pytest.fixture(scope="session")
def with_samples(kind_sandbox):
    """Istio 1.27's samples, the same files the embedded sandbox deploys (gatewaykit/data/samples)."""
    from gatewaykit import samples

    for name in ("httpbin/httpbin.yaml", "curl/curl.yaml"):
        kind_sandbox.apply(pathlib.Path(samples.path()) / name)
    return kind_sandbox


def test_ingress_control_through_the_node_ports(with_samples) -> None:
    sb = with_samples
    report = sb.apply(HTTPBIN_GATEWAY)
    assert "gateway.networking.istio.io/httpbin-gateway" in str(report)
    r = sb.curl('curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/status/200"')
    assert r.exit_code == 0 and r.status == 200 and r.headers["server"] == "istio-envoy"
    r = sb.curl(
        'curl -s -o /dev/null -w "%{http_code}" -HHost:httpbin.example.com '
        '"http://$INGRESS_HOST:$INGRESS_PORT/status/418"'
    )
    assert r.stdout == "418"
    r = sb.curl('curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/headers"')
    assert r.status == 404
    assert '"GET /status/418 HTTP/1.1" 418' in sb.logs("istio-system/istio-ingressgateway")


def test_webhook_rejection_text(kind_sandbox) -> None:
    from gatewaykit.errors import ValidationError

    bad = (
        "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: bad\n"
        "spec:\n  selector:\n    istio: ingressgateway\n"
    )
    with pytest.raises(ValidationError) as info:
        kind_sandbox.apply(bad)
    assert str(info.value) == (
        'Error from server: error when creating "STDIN": admission webhook "validation.istio.io" denied the '
        "request: configuration is invalid: gateway must have at least one server"
    )


def test_the_shell_speaks_kubernetes_with_the_pinned_tools(with_samples) -> None:
    out = with_samples.shell(
        "kubectl get deploy httpbin -o jsonpath='{.spec.template.spec.containers[0].image}'"
    )
    assert out.exit_code == 0 and out.output == "docker.io/mccutchen/go-httpbin:v2.15.0"
    version = with_samples.shell("istioctl version --remote=false")
    assert version.exit_code == 0 and version.output.strip() == "client version: 1.27.1"
    status = with_samples.shell("istioctl proxy-status")
    assert status.exit_code == 0 and "istio-ingressgateway" in status.output and "SYNCED" in status.output


def test_the_fake_internet_answers_in_mesh(with_samples) -> None:
    r = with_samples.curl(
        "curl -sS -o /dev/null -w '%{http_code}' http://httpbin.org/status/200", source="default/curl"
    )
    assert (r.exit_code, r.stdout) == (0, "200")


def test_in_mesh_curl(with_samples) -> None:
    r = with_samples.curl(
        "curl -sS -o /dev/null -w '%{http_code}' http://httpbin:8000/status/200", source="default/curl"
    )
    assert (r.exit_code, r.stdout) == (0, "200")
    r = with_samples.curl("curl -sS http://nowhere.invalid/", source="default/curl")
    assert r.exit_code == 6


def _lab_ids() -> list[str]:
    from gatewaykit.kit import list_labs

    return list_labs()


@pytest.mark.parametrize("lab_id", _lab_ids())
def test_lab_reference_solutions_and_probes(kind_sandbox, lab_id: str) -> None:
    from gatewaykit.kit import open_lab

    report = open_lab(lab_id, kind_sandbox).verify()
    assert report.ok, "\n".join(report.failures())


def test_notebooks_under_nbval(kind_sandbox) -> None:
    # The notebooks' Sandbox.kind() reuses this session's warm cluster (reuse=True is the default).
    env = {**os.environ, "GATEWAYKIT_BACKEND": "kind"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval-lax",
            "--nbval-current-env",
            "-p",
            "no:cacheprovider",
            str(ROOT / "notebooks"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert proc.returncode == 0, proc.stdout[-4000:]
