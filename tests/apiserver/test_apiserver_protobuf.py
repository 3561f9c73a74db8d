"""The real kubectl's typed-client commands against the sandbox's API server: their protobuf bodies
are decoded, stored and served, and kubectl prints its usual lines.

The TLS checks replay Istio's secure-ingress task (istio.io
/latest/docs/tasks/traffic-management/ingress/secure-ingress/) with its own ``kubectl create
secret`` commands and its certificates.
"""

from __future__ import annotations

import base64
import json
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from gatewaykit import Sandbox, samples
from gatewaykit.certs import istio_docs_certs, write_all


@pytest.fixture(scope="module")
def learner_dir(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """The folder a learner works in: the docs' ``example_certs1/`` and ``example_certs2/``."""
    here = tmp_path_factory.mktemp("learner")
    write_all(istio_docs_certs(), here)
    return here


@pytest.fixture(scope="module")
def sb() -> Iterator[Any]:
    sandbox = Sandbox.local()
    try:
        yield sandbox
    finally:
        sandbox.close()


def shell(sb: Any, script: str, cwd: pathlib.Path | None = None) -> str:
    """What a terminal shows for ``script`` (stdout and stderr, as kubectl prints them)."""
    return sb.shell(script, cwd=cwd).output


def test_kubectl_create_prints_its_usual_lines(sb: Any) -> None:
    out = shell(
        sb,
        "kubectl create namespace istio-ingress\n"
        "kubectl -n default create secret generic x --from-literal=a=b\n"
        "kubectl create configmap y --from-literal=k=v\n"
        "kubectl create deployment z --image=nginx --port=80 --replicas=2\n"
        "kubectl create service clusterip s --tcp=80:8080\n"
        "kubectl create service nodeport np --tcp=80 --node-port=30080\n"
        "kubectl create service loadbalancer lb --tcp=443:8443\n"
        "kubectl create serviceaccount sa\n",
    )
    assert out == (
        "namespace/istio-ingress created\n"
        "secret/x created\n"
        "configmap/y created\n"
        "deployment.apps/z created\n"
        "service/s created\n"
        "service/np created\n"
        "service/lb created\n"
        "serviceaccount/sa created\n"
    )
    assert sb.get("Namespace", "", "istio-ingress")["status"] == {"phase": "Active"}
    secret = sb.get("Secret", "default", "x")
    assert (secret["data"], secret["type"]) == ({"a": "Yg=="}, "Opaque")
    assert sb.get("ConfigMap", "default", "y")["data"] == {"k": "v"}
    assert sb.get("ServiceAccount", "default", "sa")["metadata"]["name"] == "sa"
    deployment = sb.get("Deployment", "default", "z")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["selector"] == {"matchLabels": {"app": "z"}}
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert (container["name"], container["image"], container["ports"]) == (
        "nginx",
        "nginx",
        [{"containerPort": 80, "protocol": "TCP"}],
    )
    ports = sb.get("Service", "default", "s")["spec"]["ports"]
    assert ports == [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080}]
    np = sb.get("Service", "default", "np")["spec"]
    assert (np["type"], np["ports"][0]["nodePort"], np["ports"][0]["targetPort"]) == ("NodePort", 30080, 80)
    assert sb.get("Service", "default", "lb")["spec"]["type"] == "LoadBalancer"


def test_kubectl_create_errors_are_the_api_servers(sb: Any) -> None:
    out = shell(
        sb,
        "kubectl create namespace twice\n"
        "kubectl create namespace twice\n"
        "kubectl create namespace dry --dry-run=server\n"
        "kubectl get namespace dry\n",
    )
    assert out == (
        "namespace/twice created\n"
        'Error from server (AlreadyExists): namespaces "twice" already exists\n'
        "namespace/dry created (server dry run)\n"
        'Error from server (NotFound): namespaces "dry" not found\n'
    )


# `pb ARGS`: curl a protobuf body to the API server, with the URL, token and CA of the kubeconfig.
PB_CURL = (
    "SERVER=$(kubectl config view -o jsonpath='{.clusters[0].cluster.server}')\n"
    "TOKEN=$(kubectl config view --raw -o jsonpath='{.users[0].user.token}')\n"
    "kubectl config view --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' "
    "| base64 -d > ca.crt\n"
    'pb() { curl -s --cacert ca.crt -H "Authorization: Bearer $TOKEN" '
    "-H 'Content-Type: application/vnd.kubernetes.protobuf' \"$@\"; }\n"
)


def test_a_garbage_protobuf_body_is_a_bad_request(sb: Any, tmp_path: pathlib.Path) -> None:
    (tmp_path / "garbage.bin").write_bytes(b"k8s\x00\x0a\x05garbage")
    (tmp_path / "json.bin").write_bytes(b'{"kind":"Namespace"}')
    out = shell(
        sb,
        PB_CURL + "for f in garbage.bin json.bin; do\n"
        '  pb --data-binary @$f "$SERVER/api/v1/namespaces" -w " %{http_code}\\n"\n'
        "done\n",
        cwd=tmp_path,
    )
    garbage, not_protobuf = (line.rsplit(" ", 1) for line in out.splitlines())
    assert garbage[1] == not_protobuf[1] == "400"
    assert json.loads(garbage[0]) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "the object provided is unrecognized (must be of type Namespace): "
        "proto: illegal wireType 7 (6b3873000a0567617262616765)",
        "reason": "BadRequest",
        "code": 400,
    }
    assert json.loads(not_protobuf[0])["message"] == (
        "the object provided is unrecognized (must be of type Namespace): provided data does not appear "
        'to be a protobuf message, expected prefix [107 56 115 0] ({"kind":"Namespace"})'
    )


def ld(field: int, *parts: bytes) -> bytes:
    """A short length-delimited protobuf field (fields < 16, payloads < 128 bytes)."""
    data = b"".join(parts)
    assert field < 16 and len(data) < 128
    return bytes([field << 3 | 2, len(data)]) + data


def configmap_body(kind: bytes, name: bytes, key: bytes, value: bytes) -> bytes:
    """``k8s\\x00`` + Unknown{typeMeta{v1, kind}, raw: ConfigMap{metadata{name}, data{key: value}}}."""
    raw = ld(1, ld(1, name)) + ld(2, ld(1, key), ld(2, value))
    return b"k8s\x00" + ld(1, ld(1, b"v1"), ld(2, kind)) + ld(2, raw)


def test_an_update_takes_a_protobuf_body_too(sb: Any, tmp_path: pathlib.Path) -> None:
    (tmp_path / "update.bin").write_bytes(configmap_body(b"ConfigMap", b"pb", b"k", b"new"))
    (tmp_path / "secret.bin").write_bytes(configmap_body(b"Secret", b"pb", b"k", b"new"))
    out = shell(
        sb,
        "kubectl create configmap pb --from-literal=k=old >/dev/null\n"
        + PB_CURL
        + "URL=$SERVER/api/v1/namespaces/default/configmaps/pb\n"
        'pb -X PUT --data-binary @update.bin "$URL" -o /dev/null -w "%{http_code}\\n"\n'
        'pb -X PUT --data-binary @secret.bin "$URL"; echo\n'
        "kubectl get configmap pb -o jsonpath='{.data.k}'\n",
        cwd=tmp_path,
    )
    updated, refused, value = out.split("\n")
    assert (updated, value) == ("200", "new")
    assert json.loads(refused)["message"] == (
        'Secret in version "v1" cannot be handled as a ConfigMap: '
        "converting (v1.Secret) to (core.ConfigMap): unknown conversion"
    )


# ------------------------------------------------------------------------------ secure ingress

# The task's mygateway and httpbin VirtualService
# (snip_configure_a_tls_ingress_gateway_for_a_single_host_2 and _3).
GATEWAY_AND_ROUTE = """\
kubectl apply -f - <<EOF
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: mygateway
spec:
  selector:
    istio: ingressgateway # use istio default ingress gateway
  servers:
  - port:
      number: 443
      name: https
      protocol: HTTPS
    tls:
      mode: {mode}
      credentialName: httpbin-credential # must be the same as secret
    hosts:
    - httpbin.example.com
EOF
kubectl apply -f - <<EOF
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: httpbin
spec:
  hosts:
  - "httpbin.example.com"
  gateways:
  - mygateway
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
EOF
"""
CURL_418 = (
    'curl -v -HHost:httpbin.example.com --resolve "httpbin.example.com:$SECURE_INGRESS_PORT:$INGRESS_HOST" '
    '--cacert example_certs1/example.com.crt {client}"https://httpbin.example.com:$SECURE_INGRESS_PORT/status/418"'
)
CLIENT_CERT = "--cert example_certs1/client.example.com.crt --key example_certs1/client.example.com.key "


def file_b64(learner_dir: pathlib.Path, name: str) -> str:
    return base64.b64encode((learner_dir / name).read_bytes()).decode()


@pytest.fixture(scope="module")
def httpbin(sb: Any) -> None:
    out = shell(sb, f"kubectl apply -f {samples.path() / 'httpbin/httpbin.yaml'}")
    assert "deployment.apps/httpbin created" in out


def test_kubectl_create_secret_tls_serves_through_the_gateway(
    sb: Any, learner_dir: pathlib.Path, httpbin: None
) -> None:
    out = shell(
        sb,
        "kubectl create -n istio-system secret tls httpbin-credential \\\n"
        "  --key=example_certs1/httpbin.example.com.key \\\n"
        "  --cert=example_certs1/httpbin.example.com.crt\n" + GATEWAY_AND_ROUTE.replace("{mode}", "SIMPLE"),
        cwd=learner_dir,
    )
    assert out == (
        "secret/httpbin-credential created\n"
        "gateway.networking.istio.io/mygateway created\n"
        "virtualservice.networking.istio.io/httpbin created\n"
    )
    secret = sb.get("Secret", "istio-system", "httpbin-credential")
    assert secret["type"] == "kubernetes.io/tls"
    assert secret["data"] == {
        "tls.crt": file_b64(learner_dir, "example_certs1/httpbin.example.com.crt"),
        "tls.key": file_b64(learner_dir, "example_certs1/httpbin.example.com.key"),
    }
    r = sb.curl(CURL_418.format(client=""), cwd=learner_dir)
    assert r.exit_code == 0, r
    assert r.status_line == "HTTP/2 418"
    assert "*  subject: CN=httpbin.example.com; O=httpbin organization" in r.stderr


def test_kubectl_create_secret_generic_with_ca_serves_mutual_tls(
    sb: Any, learner_dir: pathlib.Path, httpbin: None
) -> None:
    # snip_configure_a_mutual_tls_ingress_gateway_1: the same credential, now with the CA.
    out = shell(
        sb,
        "kubectl -n istio-system delete secret httpbin-credential --ignore-not-found\n"
        "kubectl create -n istio-system secret generic httpbin-credential \\\n"
        "  --from-file=tls.key=example_certs1/httpbin.example.com.key \\\n"
        "  --from-file=tls.crt=example_certs1/httpbin.example.com.crt \\\n"
        "  --from-file=ca.crt=example_certs1/example.com.crt\n"
        + GATEWAY_AND_ROUTE.replace("{mode}", "MUTUAL"),
        cwd=learner_dir,
    )
    assert "secret/httpbin-credential created\n" in out
    secret = sb.get("Secret", "istio-system", "httpbin-credential")
    assert secret["type"] == "Opaque"
    assert secret["data"]["ca.crt"] == file_b64(learner_dir, "example_certs1/example.com.crt")
    with_cert = sb.curl(CURL_418.format(client=CLIENT_CERT), cwd=learner_dir)
    assert with_cert.exit_code == 0, with_cert
    assert with_cert.status_line == "HTTP/2 418"
    without = sb.curl(CURL_418.format(client=""), cwd=learner_dir)
    assert without.exit_code == 56, without  # the gateway asks for a client certificate
    assert "alert certificate required" in without.stderr
