"""``kubectl port-forward`` (the real pinned kubectl, the real curl) against the embedded sandbox.

A learner runs ``kubectl port-forward ...`` in one terminal and ``curl localhost:<port>`` in
another; these tests do the same with the sandbox's shell environment and assert what each
terminal shows: kubectl's ``Forwarding from`` / ``Handling connection for`` lines and its error
text, curl's status line and body, the gateway's access log line. kubectl 1.37 tunnels SPDY
through a WebSocket, or -- ``KUBECTL_PORT_FORWARD_WEBSOCKETS=false`` -- upgrades to SPDY/3.1.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest

from gatewaykit import Sandbox
from gatewaykit.backends.connect import ConnectedSandbox
from gatewaykit.samples import path as samples_path

SAMPLES = samples_path()
INGRESS = "istio-system/istio-ingressgateway"


@pytest.fixture(scope="module")
def sb() -> Iterator[object]:
    box = Sandbox.local()
    try:
        # Istio's samples: httpbin, its Gateway and VirtualService (every host), tcp-echo.
        r = box.shell(
            f"kubectl apply -f {SAMPLES}/httpbin/httpbin.yaml -f {SAMPLES}/httpbin/httpbin-gateway.yaml "
            f"-f {SAMPLES}/tcp-echo/tcp-echo.yaml"
        )
        assert r.exit_code == 0, r.output
        yield box
    finally:
        box.close()


class Forward:
    """A ``kubectl port-forward`` running in the background, its output read as it comes."""

    def __init__(self, sb: object, args: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            ["kubectl", "port-forward", *args],
            env={**os.environ, **sb.shell_env, **(env or {})},  # type: ignore[attr-defined]
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for t in self._readers:
            t.start()

    def _read(self, pipe: object, into: list[str]) -> None:
        for line in pipe:  # type: ignore[attr-defined]
            with self._changed:
                into.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, text: str, count: int = 1, timeout: float = 20.0) -> list[str]:
        """The stdout lines once ``text`` appeared ``count`` times (or kubectl exited)."""
        with self._changed:
            self._changed.wait_for(
                lambda: sum(text in line for line in self.out) >= count or self.proc.poll() is not None,
                timeout,
            )
            return list(self.out)

    def forwarding(self, count: int) -> list[str]:
        """kubectl's ``Forwarding from`` lines, once ``count`` of them are out."""
        lines = [line.rstrip("\n") for line in self.wait_for("Forwarding from", count)]
        assert len(lines) >= count, (lines, self.err)
        return lines

    def local_port(self, remote: int) -> int:
        """The 127.0.0.1 port kubectl listens on for ``remote``."""
        for line in self.out:
            found = re.match(rf"Forwarding from 127\.0\.0\.1:(\d+) -> {remote}$", line.strip())
            if found:
                return int(found.group(1))
        raise AssertionError(f"no 127.0.0.1 forward to {remote}: {self.out}")

    def stop(self, sig: int = signal.SIGINT) -> int:
        """Send ``sig`` (Ctrl-C by default) and wait for kubectl to exit; its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout=20)
        for t in self._readers:
            t.join(timeout=5)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        return code


@contextlib.contextmanager
def forward(sb: object, *args: str, env: dict[str, str] | None = None) -> Iterator[Forward]:
    fwd = Forward(sb, list(args), env)
    try:
        yield fwd
    finally:
        fwd.stop(signal.SIGKILL if fwd.proc.poll() is None else signal.SIGINT)


def curl(*args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["curl", "-s", *args], capture_output=True, text=True, timeout=timeout)


def ipv6_loopback() -> bool:
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET6) as s:
        s.bind(("::1", 0))
        return True
    return False


def free_port() -> int:
    """A port free on 127.0.0.1 and ::1 (kubectl binds both for ``localhost``)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if not ipv6_loopback():
            return port
        with contextlib.suppress(OSError), socket.socket(socket.AF_INET6) as s6:
            s6.bind(("::1", port))
            return port
    raise AssertionError("no free port")


def gateway_log(sb: object) -> list[str]:
    return sb.logs(INGRESS).splitlines()  # type: ignore[attr-defined]


def without_varying_headers(response: str) -> str:
    """A curl -i response without the headers that change per request."""
    return "\n".join(
        line
        for line in response.splitlines()
        if not line.startswith(("date:", "x-envoy-upstream-service-time:"))
    )


# Istio 1.27's default access log format (TEXT); the fields that vary per request are patterns.
ACCESS_LOG = (
    r'\[\S+\] "GET /status/200 HTTP/1\.1" 200 - via_upstream - "-" 0 0 \d+ \d+ "{peer}" "curl/[\d.]+" '
    r'"[0-9a-f-]{{36}}" "httpbin\.example\.com" "{httpbin}:8080" '
    r"outbound\|8000\|\|httpbin\.default\.svc\.cluster\.local {gateway}:\d+ {local} {peer}:\d+ - -"
)


def assert_logged(sb: object, line: str, peer: str, local: str) -> None:
    """``line`` is the gateway's log of a GET /status/200 that came from ``peer`` to ``local``."""
    pods = sb.pods()  # type: ignore[attr-defined]
    httpbin = next(p.ip for p in pods if p.name.startswith("httpbin-"))
    gateway = next(p.ip for p in pods if p.name.startswith("istio-ingressgateway-"))
    local = local.replace("<gateway>", gateway)
    pattern = ACCESS_LOG.format(
        peer=re.escape(peer), httpbin=re.escape(httpbin), gateway=re.escape(gateway), local=re.escape(local)
    )
    assert re.fullmatch(pattern, line), line


# --------------------------------------------------------------------------------- tests


def test_service_port_forward_reaches_the_gateway_listener_like_its_node_port(sb: object) -> None:
    port = free_port()
    with forward(sb, "-n", "istio-system", "svc/istio-ingressgateway", f"{port}:80") as fwd:
        # kubectl maps the Service port 80 to the pod's targetPort 8080 itself.
        expected = [f"Forwarding from 127.0.0.1:{port} -> 8080"]
        if ipv6_loopback():
            expected.append(f"Forwarding from [::1]:{port} -> 8080")
        assert fwd.forwarding(len(expected)) == expected
        through = curl("-i", "-H", "Host:httpbin.example.com", f"localhost:{port}/status/200")
        forwarded_log = gateway_log(sb)[-1]
        env = sb.env  # type: ignore[attr-defined]
        direct = curl(
            "-i", "-H", "Host:httpbin.example.com", f"{env['INGRESS_HOST']}:{env['INGRESS_PORT']}/status/200"
        )
        node_port_log = gateway_log(sb)[-1]
        assert fwd.wait_for("Handling connection for")[-1] == f"Handling connection for {port}\n"
    assert through.returncode == 0
    assert through.stdout.splitlines()[0] == "HTTP/1.1 200 OK"
    assert without_varying_headers(through.stdout) == without_varying_headers(direct.stdout)
    # The same listener, route and cluster; the gateway sees the connection come from inside its
    # own pod (containerd dials localhost there), not from the node as through the node port.
    assert_logged(sb, forwarded_log, peer="127.0.0.1", local="127.0.0.1:8080")
    assert_logged(sb, node_port_log, peer="10.244.0.1", local="<gateway>:8080")


def test_ephemeral_port_address_flag_and_deployment(sb: object) -> None:
    with forward(
        sb, "-n", "istio-system", "--address", "127.0.0.1", "deploy/istio-ingressgateway", ":8080", ":15000"
    ) as fwd:
        lines = fwd.forwarding(2)
        assert [re.sub(r":\d+ ->", ":N ->", line) for line in lines] == [
            "Forwarding from 127.0.0.1:N -> 8080",
            "Forwarding from 127.0.0.1:N -> 15000",
        ]
        gw = curl("-i", "-H", "Host:httpbin.example.com", f"127.0.0.1:{fwd.local_port(8080)}/status/418")
        ready = curl("-i", f"127.0.0.1:{fwd.local_port(15000)}/ready")
    assert gw.stdout.splitlines()[0] == "HTTP/1.1 418 Unknown"
    assert gw.stdout.endswith("I'm a teapot!")
    # Envoy's admin API: its fallback headers, the body streamed (chunked).
    assert [line for line in ready.stdout.splitlines() if not line.startswith("date:")] == [
        "HTTP/1.1 200 OK",
        "content-type: text/plain",
        "cache-control: no-cache, max-age=0",
        "x-content-type-options: nosniff",
        "server: envoy",
        "transfer-encoding: chunked",
        "",
        "LIVE",
    ]


def test_pod_admin_port_answers_like_the_pod_proxy(sb: object) -> None:
    pod = sb.shell(  # type: ignore[attr-defined]
        "kubectl get pods -n istio-system -l istio=ingressgateway -o jsonpath='{.items[0].metadata.name}'"
    ).output
    with forward(sb, "-n", "istio-system", f"pod/{pod}", ":15000") as fwd:
        fwd.forwarding(1)
        port = fwd.local_port(15000)
        dump = json.loads(curl(f"localhost:{port}/config_dump").stdout)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"not http\r\n\r\n")
            assert s.recv(100) == b""  # closed; kubectl and the other connections go on
        clusters = curl(f"localhost:{port}/clusters?format=json").stdout
        assert fwd.proc.poll() is None
    raw = sb.shell(  # type: ignore[attr-defined]
        f"kubectl get --raw '/api/v1/namespaces/istio-system/pods/{pod}:15000/proxy/clusters?format=json'"
    ).output
    assert [c["@type"].rsplit(".", 1)[1] for c in dump["configs"]][:2] == [
        "BootstrapConfigDump",
        "ClustersConfigDump",
    ]
    assert json.loads(clusters) == json.loads(raw)


def test_a_port_where_nothing_listens_gets_the_runtimes_error_and_kubectl_exits(sb: object) -> None:
    with forward(sb, "deploy/httpbin", ":9999") as fwd:
        fwd.forwarding(1)
        reply = curl("-i", f"localhost:{fwd.local_port(9999)}/")
        code = fwd.proc.wait(timeout=20)
        fwd.stop()
    assert (reply.returncode, reply.stdout) == (52, "")  # curl: (52) Empty reply from server
    assert code == 1
    # kubectl logs the error-stream message (the kubelet's wrapping of containerd's), then, as
    # client-go closes the connection on any such message, exits: "lost connection to pod".
    error = (
        r'E\d{4} [\d:.]+ +\d+ portforward\.go:\d+\] "An error occurred forwarding" err="error forwarding '
        r"port 9999 to pod (?P<id>[0-9a-f]{64}), uid : failed to execute portforward in network namespace "
        r'\\"/var/run/netns/cni-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\\": failed to '
        r'connect to localhost:9999 inside namespace \\"(?P=id)\\", IPv4: dial tcp4 127\.0\.0\.1:9999: '
        r"connect: connection refused IPv6 dial tcp6 \[::1\]:9999: connect: connection refused \" "
        rf"localPort={fwd.local_port(9999)} remotePort=9999"
    )
    assert re.fullmatch(error, fwd.err[0].rstrip("\n")), fwd.err
    assert fwd.err[1:] == ["error: lost connection to pod\n"]
    assert fwd.out[-1] == f"Handling connection for {fwd.local_port(9999)}\n"


def test_two_connections_at_once(sb: object) -> None:
    with forward(sb, "-n", "istio-system", "svc/istio-ingressgateway", ":80") as fwd:
        fwd.forwarding(1)
        base = f"localhost:{fwd.local_port(8080)}"
        slow = subprocess.Popen(
            ["curl", "-s", "-w", "%{http_code}", "-H", "Host:httpbin.example.com", f"{base}/delay/1"],
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(0.2)
        fast = curl(
            "-w", "%{http_code}", "-o", "/dev/null", "-H", "Host:httpbin.example.com", f"{base}/status/201"
        )
        assert slow.poll() is None  # the first connection is still waiting for its answer
        slow_out = slow.communicate(timeout=20)[0]
        fwd.wait_for("Handling connection for", 2)
    assert fast.stdout == "201"
    assert slow_out.endswith("200") and "http://httpbin.example.com/delay/1" in slow_out


def _echo(port: int, payload: bytes, expected: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        sender = threading.Thread(target=s.sendall, args=(payload,))
        sender.start()
        got = bytearray()
        while len(got) < expected:
            chunk = s.recv(1 << 16)
            if not chunk:
                break
            got += chunk
        sender.join()
    return bytes(got)


def test_megabytes_both_ways_byte_exact(sb: object) -> None:
    # Istio's tcp-echo answers every line with "hello <line>": 4 MiB up, 4 MiB + prefixes down.
    lines = [b"%08d " % i + bytes([65 + i % 26]) * 1014 + b"\n" for i in range(4096)]
    payload = b"".join(lines)
    expected = b"".join(b"hello " + line for line in lines)
    with forward(sb, "deploy/tcp-echo", ":9000") as fwd:
        fwd.forwarding(1)
        got = _echo(fwd.local_port(9000), payload, len(expected))
    assert len(payload) == 4 * 1024 * 1024
    assert got == expected


def test_plain_spdy_upgrade_when_websockets_are_off(sb: object) -> None:
    env = {"KUBECTL_PORT_FORWARD_WEBSOCKETS": "false"}
    with forward(sb, "-n", "istio-system", "svc/istio-ingressgateway", ":80", "-v=6", env=env) as fwd:
        fwd.forwarding(1)
        reply = curl("-i", "-H", "Host:httpbin.example.com", f"localhost:{fwd.local_port(8080)}/status/200")
    assert reply.stdout.splitlines()[0] == "HTTP/1.1 200 OK"
    upgrades = [line for line in fwd.err if "/portforward" in line]
    assert (
        len(upgrades) == 1
        and 'verb="POST"' in upgrades[0]
        and 'status="101 Switching Protocols"' in upgrades[0]
    )


def _established(port: int) -> int:
    """TCP connections in this network namespace with ``port`` at either end, ESTABLISHED."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for row in list(f)[1:]:
                local, remote, state = row.split()[1:4]
                ports = {int(local.rsplit(":", 1)[1], 16), int(remote.rsplit(":", 1)[1], 16)}
                count += state == "01" and port in ports
    return count


def _counts() -> tuple[int, int]:
    return len(os.listdir("/proc/self/fd")), threading.active_count()


def _talk_then_kill(sb: object, kill: int, baseline: tuple[int, int] | None) -> tuple[int, int, int]:
    """Forward to tcp-echo, talk, stop kubectl with ``kill``; then wait (3 s at most: containerd
    gives the second direction 1 s) for no connection to tcp-echo to be left and, given a
    baseline, for fds and threads to be back to it (or below: an idle worker of an earlier request
    may end meanwhile). Returns (connections to tcp-echo, fds, threads)."""
    ip = next(p.ip for p in sb.pods() if p.name.startswith("tcp-echo"))  # type: ignore[attr-defined]
    real = sb._dp.address_book.resolve(ip, 9000)[1]  # type: ignore[attr-defined]  # noqa: SLF001
    with forward(sb, "deploy/tcp-echo", ":9000") as fwd:
        fwd.forwarding(1)
        with socket.create_connection(("127.0.0.1", fwd.local_port(9000)), timeout=10) as s:
            s.sendall(b"ping\n")
            assert s.recv(100) == b"hello ping\n"
            assert _established(real) == 2  # the API server's upstream socket, and tcp-echo's
            fwd.stop(kill)
    deadline = time.monotonic() + 3
    while True:
        left, (fds, threads) = _established(real), _counts()
        back = baseline is None or (fds <= baseline[0] and threads <= baseline[1])
        if (left == 0 and back) or time.monotonic() > deadline:
            return left, fds, threads
        time.sleep(0.05)


@pytest.mark.parametrize(
    "kill", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["ctrl-c", "term", "kill"]
)
def test_kubectl_going_away_closes_the_upstream_and_leaks_nothing(sb: object, kill: int) -> None:
    assert _talk_then_kill(sb, kill, None)[0] == 0  # also warms up the API server's worker threads
    fds, threads = _counts()
    left, fds_after, threads_after = _talk_then_kill(sb, kill, (fds, threads))
    assert (left, fds_after <= fds, threads_after <= threads) == (0, True, True), (fds_after, threads_after)


def test_attach_is_refused_with_a_clear_message(sb: object) -> None:
    r = sb.shell("kubectl attach deploy/httpbin")  # type: ignore[attr-defined]
    assert r.exit_code == 1
    assert r.output.splitlines()[-1] == (
        "error: unable to upgrade connection: the gatewaykit sandbox does not support pods/attach: its pods "
        "run stand-ins for their images, with no console to attach to; use kubectl logs -f to follow a "
        "container's output, or kubectl exec"
    )


def test_connected_sandbox_reaches_a_local_sandbox_through_port_forward(
    sb: object, tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECACHEDIR", str(tmp_path))
    connected = ConnectedSandbox(kubeconfig=sb.shell_env["KUBECONFIG"], learner="ada")  # type: ignore[attr-defined]
    try:
        host, port = connected.service_address("istio-system", "istio-ingressgateway", 80)
        assert host == "127.0.0.1"
        routed = curl("-i", "-H", "Host:httpbin.example.com", f"{host}:{port}/status/200")
        assert_logged(sb, gateway_log(sb)[-1], peer="127.0.0.1", local="127.0.0.1:8080")
        assert connected.service_address("istio-system", "istio-ingressgateway", 80) == (host, port)
    finally:
        connected.close()
    assert routed.stdout.splitlines()[0] == "HTTP/1.1 200 OK"


def test_bounds_on_connections_and_streams(sb: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from gatewaykit.apiserver import _portforward

    # Lowered here (the sandbox's own bounds are 32 connections and 256 streams) to reach them.
    monkeypatch.setattr(_portforward, "MAX_SESSIONS", 1)
    monkeypatch.setattr(_portforward, "MAX_STREAMS", 2)
    with forward(sb, "deploy/tcp-echo", ":9000") as first:
        first.forwarding(1)
        with forward(sb, "deploy/tcp-echo", ":9000") as second:
            code = second.proc.wait(timeout=20)
            second.stop()
        port = first.local_port(9000)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as held:
            held.sendall(b"one\n")
            assert held.recv(100) == b"hello one\n"
            # A second local connection needs two more streams: refused, kubectl says so.
            with socket.create_connection(("127.0.0.1", port), timeout=10) as refused:
                refused.sendall(b"two\n")
                with contextlib.suppress(ConnectionResetError):
                    assert refused.recv(100) == b""
            held.sendall(b"three\n")
            assert held.recv(100) == b"hello three\n"
        assert first.proc.poll() is None
    assert code == 1
    assert second.err == [
        "error: error upgrading connection: unable to upgrade connection: the gatewaykit sandbox serves at "
        "most 1 port-forward connections at once\n"
    ]
    assert len(first.err) == 1
    assert re.fullmatch(
        rf'E\d{{4}} [\d:.]+ +\d+ portforward\.go:\d+\] "Error creating error stream" err="Stream reset" '
        rf"localPort={port} remotePort=9000\n",
        first.err[0],
    ), first.err
