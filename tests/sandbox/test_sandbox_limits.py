"""What a manifest can make the sandbox consume, and bad input ending in the API server's words.

Every refusal is checked twice: through ``sb.apply`` and through the real kubectl against the
sandbox's API server, which must print the same text -- and nothing may change.
"""

from __future__ import annotations

import os
import pathlib
import threading

import pytest

from gatewaykit.backends.local import MAX_PODS
from gatewaykit.errors import GatewayKitError, ValidationError

DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: hw
spec:
  replicas: REPLICAS
  selector:
    matchLabels: {app: hw}
  template:
    metadata:
      labels: {app: hw}
    spec:
      containers:
      - name: hw
        image: docker.io/istio/examples-helloworld-v1
        ports:
        - containerPort: 5000
"""
SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: hw
  labels: {app: LABEL}
spec:
  selector: {app: hw}
  ports: PORTS
"""
DECODE = (
    'Error from server (BadRequest): error when creating "bad.yaml": '
    '{kind} in version "v1" cannot be handled as a {kind}: '
)


def _forbidden(wanted: int) -> str:
    return (
        'Error from server (Forbidden): error when creating "bad.yaml": deployments.apps "hw" is forbidden: '
        f"the gatewaykit sandbox runs at most {MAX_PODS} pods (the pod capacity of its one node, kubelet's "
        f"default --max-pods); with this change its Deployments would ask for {wanted}. A real cluster "
        "accepts the Deployment and leaves the pods that do not fit Pending (FailedScheduling: Too many pods)"
    )


CASES = [
    (
        DEPLOY.replace("REPLICAS", '"3"'),
        DECODE.format(kind="Deployment")
        + "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32",
    ),
    (
        DEPLOY.replace("REPLICAS", "true"),
        DECODE.format(kind="Deployment")
        + "json: cannot unmarshal bool into Go struct field DeploymentSpec.spec.replicas of type int32",
    ),
    (
        DEPLOY.replace("REPLICAS", "2147483648"),
        DECODE.format(kind="Deployment")
        + "json: cannot unmarshal number 2147483648 into Go struct field DeploymentSpec.spec.replicas "
        "of type int32",
    ),
    (
        DEPLOY.replace("REPLICAS", "-2"),
        'The Deployment "hw" is invalid: spec.replicas: Invalid value: -2: '
        "must be greater than or equal to 0",
    ),
    (
        SERVICE.replace("LABEL", "hw").replace("PORTS", "true"),
        DECODE.format(kind="Service")
        + "json: cannot unmarshal bool into Go struct field ServiceSpec.spec.ports of type []v1.ServicePort",
    ),
    (
        SERVICE.replace("LABEL", "x" * 64).replace("PORTS", "[{port: 80}]"),
        f'The Service "hw" is invalid: metadata.labels: Invalid value: "{"x" * 64}": '
        "must be no more than 63 characters",
    ),
    (
        DEPLOY.replace("REPLICAS", "1").replace(
            "- containerPort: 5000", "- containerPort: 5000\n          hostPot: 1"
        ),
        DECODE.format(kind="Deployment")
        + 'strict decoding error: unknown field "spec.template.spec.containers[0].ports[0].hostPot"',
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), CASES, ids=["string", "bool", "int32", "negative", "ports", "label", "unknown"]
)
def test_sb_apply_and_kubectl_refuse_alike(sb, tmp_path: pathlib.Path, text: str, expected: str) -> None:
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(ValidationError) as err:
        sb.apply(tmp_path / "bad.yaml", name="bad.yaml")
    assert str(err.value) == expected
    out = sb.shell("kubectl apply -f bad.yaml; kubectl get deploy,svc -o name", cwd=tmp_path)
    assert out.output.splitlines()[0] == expected
    assert not {"deployment.apps/hw", "service/hw"} & set(out.output.splitlines())  # nothing created


@pytest.mark.parametrize("replicas", ["500", "2147483647"])
def test_more_pods_than_the_sandbox_runs(sb, tmp_path: pathlib.Path, replicas: str) -> None:
    (tmp_path / "bad.yaml").write_text(DEPLOY.replace("REPLICAS", replicas))
    running = len(sb.xds.pods)
    with pytest.raises(ValidationError) as err:
        sb.apply(tmp_path / "bad.yaml", name="bad.yaml")  # at once: nothing is started
    expected = _forbidden(running + int(replicas))
    assert str(err.value) == expected
    out = sb.shell(
        "kubectl apply -f bad.yaml; "
        "kubectl scale deployment istio-ingressgateway -n istio-system --replicas=1000",
        cwd=tmp_path,
    )
    assert out.output.splitlines()[0] == expected
    assert out.output.splitlines()[1].startswith(
        'Error from server (Forbidden): deployments.apps "istio-ingressgateway" is forbidden: '
        f"the gatewaykit sandbox runs at most {MAX_PODS} pods"
    )
    assert len(sb.xds.pods) == running


def test_an_alias_bomb_is_refused_by_both_readers(sb, tmp_path: pathlib.Path) -> None:
    lines = ['  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"  {name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    (tmp_path / "bomb.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\ndata:\n" + "\n".join(lines) + "\n"
    )
    expected = (
        "error: error parsing bomb.yaml: error converting YAML to JSON: "
        "yaml: document contains excessive aliasing"
    )
    with pytest.raises(GatewayKitError) as err:
        sb.apply(tmp_path / "bomb.yaml", name="bomb.yaml")
    assert str(err.value) == expected
    assert sb.shell("kubectl apply -f bomb.yaml", cwd=tmp_path).output == expected + "\n"


def _sockets() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return count


def test_fifty_replicas_cost_sockets_not_threads(sb, tmp_path: pathlib.Path) -> None:
    # Before one shared accepting thread, each replica had a thread polling every 50 ms
    # (50 replicas: +50 threads). bench/sandbox/replicas.py prints the numbers.
    threads, sockets = threading.active_count(), _sockets()
    (tmp_path / "hw.yaml").write_text(DEPLOY.replace("REPLICAS", "50"))
    sb.apply(tmp_path / "hw.yaml")
    try:
        assert len([p for p in sb.pods() if p.name.startswith("hw-")]) == 50
        assert threading.active_count() - threads <= 2
        # Sockets, not threads: per pod the stand-in's port plus one per listener of its sidecar
        # (each Envoy listener is a 127.0.0.1 socket here), and a spare.
        per_pod = 2 + len(sb.proxy_config("default/hw").listeners)
        assert _sockets() - sockets <= per_pod * 50
        r = sb.shell("kubectl get deploy hw --no-headers")
        assert r.output.split()[:2] == ["hw", "50/50"]
    finally:
        sb.delete(tmp_path / "hw.yaml")
    assert threading.active_count() - threads <= 1


def test_a_broken_tls_secret_is_in_the_gateways_log(sb, kubectl) -> None:
    # The docs' certificate with the key of another: Envoy rejects the SDS secret (istio/istio#53497
    # shows the line), the chain serves no certificate (curl exit 35).
    kubectl.create_secret_tls(
        "broken-credential",
        key="example_certs2/httpbin.example.com.key",
        cert="example_certs1/httpbin.example.com.crt",
        namespace="istio-system",
    )
    kubectl.apply(
        """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: broken
spec:
  selector:
    istio: ingressgateway
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    tls: {mode: SIMPLE, credentialName: broken-credential}
    hosts: [broken.example.com]
"""
    )
    r = sb.curl(
        'curl -s --resolve "broken.example.com:$SECURE_INGRESS_PORT:$INGRESS_HOST" '
        '--cacert example_certs1/example.com.crt "https://broken.example.com:$SECURE_INGRESS_PORT/"'
    )
    assert r.exit_code == 35
    log = sb.shell("kubectl logs -n istio-system deploy/istio-ingressgateway").output
    rejected = [line for line in log.splitlines() if "Secret rejected" in line]
    assert len(rejected) == 1
    assert rejected[0].endswith(
        "\twarning\tenvoy config external/envoy/source/extensions/config_subscription/grpc/"
        "grpc_subscription_impl.cc:138\tgRPC config for type.googleapis.com/envoy.extensions.transport_"
        "sockets.tls.v3.Secret rejected: Failed to load private key from <inline>, Cause: "
        "error:0b000074:X.509 certificate routines:OPENSSL_internal:KEY_VALUES_MISMATCH\tthread=26"
    )
