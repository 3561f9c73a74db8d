"""httpbin, helloworld, tcp-echo, client and unsupported images, hit with the real curl."""

from __future__ import annotations

import json
import socket
import subprocess

import pytest
from wl_helpers import curl, port_is_closed

from gatewaykit.workloads import SUPPORTED_IMAGES, WorkloadSpec, classify_image, start_workload

TEAPOT = """
    -=[ teapot ]=-

       _...._
     .'  _ _ `.
    | ."` ^ `". _,
    \\_;`"---"`|//
      |       ;/
      \\_     _/
        `\"\"\"`
"""


@pytest.mark.parametrize(
    ("image", "kind"),
    [
        ("docker.io/kong/httpbin", "httpbin"),
        ("kennethreitz/httpbin", "httpbin"),
        ("docker.io/mccutchen/go-httpbin:v2.15.0", "go-httpbin"),
        ("registry.istio.io/release/examples-helloworld-v1:1.0", "helloworld"),
        ("docker.io/istio/examples-helloworld-v2", "helloworld"),
        ("registry.istio.io/release/tcp-echo-server:1.3", "tcp-echo"),
        ("docker.io/istio/tcp-echo-server:1.2", "tcp-echo"),
        ("nginx", "nginx"),
        ("docker.io/library/nginx:1.15.2", "nginx"),
        ("curlimages/curl", "client"),
        ("docker.io/curlimages/curl:8.16.0", "client"),
        ("governmentpaas/curl-ssl", "client"),
        ("docker.io/istio/sleep", "client"),
        ("localhost:5000/redis:7", None),
        ("nginx-ingress-controller", None),
    ],
)
def test_classify_image(image: str, kind: str | None) -> None:
    assert classify_image(image) == kind


@pytest.mark.parametrize(
    ("image", "port", "server"),
    [
        ("docker.io/kong/httpbin", 80, "gunicorn/19.9.0"),
        ("kennethreitz/httpbin", 80, "gunicorn/19.9.0"),
    ],
)
def test_httpbin_teapot_and_headers(image: str, port: int, server: str | None, no_thread_leak: None) -> None:
    w = start_workload(WorkloadSpec("httpbin-5f9d8c7b6-abcde", "default", image, ports=(port,)))
    try:
        assert w.status == "Running" and w.kind == "httpbin"
        real = w.ports[port]
        r = curl("-sS", "-i", f"http://127.0.0.1:{real}/status/418")
        head, _, body = r.stdout.partition("\n\n")
        assert head.splitlines()[0] == "HTTP/1.1 418 I'M A TEAPOT"
        assert body == TEAPOT
        assert ("Server: " + server in head) if server else ("Server:" not in head)
        r = curl(
            "-sS", "-H", "Host: httpbin.example.com", "-H", "X-Test: 1", f"http://127.0.0.1:{real}/headers"
        )
        headers = json.loads(r.stdout)["headers"]
        assert headers["Host"] == "httpbin.example.com" and headers["X-Test"] == "1"
        r = curl("-sS", "-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{real}/status/200")
        assert r.stdout == "200"
    finally:
        w.close()
    assert port_is_closed(real)


def test_httpbin_on_every_declared_port() -> None:
    w = start_workload(WorkloadSpec("httpbin-x", "default", "kennethreitz/httpbin", ports=(80, 8080)))
    try:
        assert set(w.ports) == {80, 8080} and w.ports[80] != w.ports[8080]
        for real in w.ports.values():
            assert (
                curl("-s", "-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{real}/get").stdout
                == "200"
            )
    finally:
        w.close()


def test_httpbin_answers_200_concurrent_connections(no_thread_leak: None) -> None:
    w = start_workload(WorkloadSpec("httpbin-c", "default", "docker.io/kong/httpbin", ports=(80,)))
    socks: list[socket.socket] = []
    try:
        port = w.ports[80]
        for _ in range(200):  # all 200 open at the same time before any request is sent
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        for s in socks:
            s.sendall(b"GET /status/200 HTTP/1.1\r\nHost: x\r\n\r\n")
        answers = []
        for s in socks:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            answers.append(data.split(b"\r\n", 1)[0])
        assert answers == [b"HTTP/1.1 200 OK"] * 200
    finally:
        for s in socks:
            s.close()
        w.close()


def test_close_ends_kept_open_connections(no_thread_leak: None) -> None:
    # A client that keeps its connection open must not keep a handler thread alive after close().
    w = start_workload(WorkloadSpec("tcp-echo-1", "default", "istio/tcp-echo-server", args=("9000", "one")))
    s = socket.create_connection(("127.0.0.1", w.ports[9000]), timeout=5)
    s.sendall(b"hi\n")
    assert s.recv(100) == b"one hi\n"
    w.close()
    assert s.recv(100) == b""  # the server shut the connection down
    s.close()


def test_helloworld_hello(no_thread_leak: None) -> None:
    pod = "helloworld-v1-776f57d5f6-s7zfc"
    w = start_workload(
        WorkloadSpec(pod, "default", "docker.io/istio/examples-helloworld-v1:1.0", ports=(5000,))
    )
    try:
        r = curl("-sS", "-i", f"http://127.0.0.1:{w.ports[5000]}/hello")
        head, _, body = r.stdout.partition("\n\n")
        assert head.splitlines()[0] == "HTTP/1.1 200 OK"
        assert "Content-Type: text/html; charset=utf-8" in head
        assert body == f"Hello version: v1, instance: {pod}\n"
    finally:
        w.close()


def test_helloworld_v2_and_service_version_env() -> None:
    w = start_workload(WorkloadSpec("hw-v2", "default", "istio/examples-helloworld-v2", ports=(5000,)))
    e = start_workload(
        WorkloadSpec(
            "hw-env", "default", "istio/examples-helloworld-v1", ports=(5000,), env={"SERVICE_VERSION": "v9"}
        )
    )
    try:
        assert (
            curl("-s", f"http://127.0.0.1:{w.ports[5000]}/hello").stdout
            == "Hello version: v2, instance: hw-v2\n"
        )
        assert (
            curl("-s", f"http://127.0.0.1:{e.ports[5000]}/hello").stdout
            == "Hello version: v9, instance: hw-env\n"
        )
        assert (
            curl(
                "-s", "-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{w.ports[5000]}/nope"
            ).stdout
            == "404"
        )
    finally:
        w.close()
        e.close()


def test_tcp_echo_prefixes_each_line(no_thread_leak: None) -> None:
    w = start_workload(
        WorkloadSpec(
            "tcp-echo-v1-7dd5c5dcfb-abcde",
            "default",
            "registry.istio.io/release/tcp-echo-server:1.3",
            args=("9000,9001,9002", "one"),
            ports=(9000, 9001),
        )
    )
    try:
        assert set(w.ports) == {9000, 9001, 9002}
        with socket.create_connection(("127.0.0.1", w.ports[9001]), timeout=5) as s:
            s.sendall(b"hello\nworld\n")
            data = b""
            while data.count(b"\n") < 2:
                data += s.recv(100)
            assert data == b"one hello\none world\n"
        # The docs' check is `echo "hello" | nc $HOST $PORT` -> `one hello`; curl's telnet:// plays nc.
        r = subprocess.run(
            ["curl", "-s", "--max-time", "1", f"telnet://127.0.0.1:{w.ports[9000]}"],
            input="hello\n",
            capture_output=True,
            text=True,
            timeout=5,
        )
        assert r.stdout == "one hello\n"
        assert w.logs().startswith("listening on [::]:9000, prefix: one\n")
        assert "request: hello\nresponse: one hello\n" in w.logs()
    finally:
        w.close()
    assert all(port_is_closed(p) for p in w.ports.values())


def test_tcp_echo_without_args_crashes() -> None:
    w = start_workload(WorkloadSpec("tcp-echo-x", "default", "istio/tcp-echo-server", args=("9000",)))
    assert w.status == "CrashLoopBackOff"
    assert "index out of range" in w.message
    assert w.ports == {}


def test_client_pod_runs_without_server() -> None:
    w = start_workload(
        WorkloadSpec("curl-5b5d8c6f9-abcde", "default", "curlimages/curl", command=("/bin/sleep", "infinity"))
    )
    assert (w.status, w.kind, dict(w.ports)) == ("Running", "client", {})
    w.close()
    c = start_workload(WorkloadSpec("sleep-1", "default", "governmentpaas/curl-ssl", ports=(80,)))
    try:
        r = curl("-sS", f"http://127.0.0.1:{c.ports[80]}/")
        assert r.returncode == 7  # nothing listens in the pod: connection refused
    finally:
        c.close()


def test_unsupported_image_is_err_image_pull() -> None:
    w = start_workload(WorkloadSpec("redis-1", "default", "docker.io/library/redis:7", ports=(6379,)))
    assert w.status == "ErrImagePull" and not w.running
    assert w.message.startswith('Failed to pull image "docker.io/library/redis:7": ')
    for image in SUPPORTED_IMAGES:
        assert image in w.message
    assert "docker.io/kong/httpbin" in w.message and "istio/tcp-echo-server" in w.message
    assert w.ports == {}
    w.close()


# containerd's error for a repository no registry has, as the kubelet reports it (istio/istio#46307).
AUTO_ERROR = (
    'rpc error: code = Unknown desc = failed to pull and unpack image "docker.io/library/auto:{tag}": '
    'failed to resolve reference "docker.io/library/auto:{tag}": pull access denied, repository does not '
    "exist or may require authorization: server message: insufficient_scope: authorization failed"
)


@pytest.mark.parametrize(
    ("image", "status", "message"),
    [
        # The placeholder an un-injected istio-proxy container keeps (ParseNormalizedNamed: the
        # short name is docker.io/library/auto, tag latest).
        ("auto", "ErrImagePull", AUTO_ERROR.format(tag="latest")),
        ("docker.io/library/auto:1.27", "ErrImagePull", AUTO_ERROR.format(tag="1.27")),
        # kubelet applyDefaultImageTag: a reference that does not parse is InvalidImageName.
        (
            "Auto",
            "InvalidImageName",
            'Failed to apply default image tag "Auto": couldn\'t parse image name "Auto": '
            "invalid reference format: repository name (library/Auto) must be lowercase",
        ),
        (
            "kong/httpbin:",
            "InvalidImageName",
            'Failed to apply default image tag "kong/httpbin:": couldn\'t parse image name "kong/httpbin:": '
            "invalid reference format",
        ),
    ],
)
def test_images_no_registry_serves(image: str, status: str, message: str) -> None:
    w = start_workload(WorkloadSpec("gw-1", "default", image))
    assert (w.status, w.message, w.running) == (status, message, False)
    w.close()
