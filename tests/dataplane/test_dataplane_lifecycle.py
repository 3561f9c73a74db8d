"""Data-plane lifecycle and robustness: updates, concurrency, a bounded soak, clean close()."""

from __future__ import annotations

import dataclasses
import socket
import threading

import pytest
from dataplane_support import ECHO, PROXY, Certs, Gateway, Upstreams, build_proxy, curl, free_closed_port

from gatewaykit import envoy
from gatewaykit.dataplane import AddressBook, DataPlane
from gatewaykit.errors import SandboxError


def _rss_kb() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def test_200_concurrent_connections_all_answered(gateway: Gateway) -> None:
    # 200 connections are open at the same time before any request is sent.
    socks = [socket.create_connection(("127.0.0.1", gateway.http), timeout=10) for _ in range(200)]
    try:
        for s in socks:
            s.sendall(b"GET /status/200 HTTP/1.1\r\nHost: httpbin.example.com\r\nConnection: close\r\n\r\n")
        answers = []
        for s in socks:
            data = b""
            while chunk := s.recv(4096):
                data += chunk
            answers.append(data.split(b"\r\n", 1)[0])
    finally:
        for s in socks:
            s.close()
    assert answers == [b"HTTP/1.1 200 OK"] * 200
    # and the same with real curl, 200 transfers in parallel
    url = f"http://127.0.0.1:{gateway.http}/status/200"
    r = curl(
        "-s",
        "-Z",
        "--parallel-max",
        "200",
        "-HHost:httpbin.example.com",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}\n",
        *([url] * 200),
        timeout=60,
    )
    assert r.stdout.split() == ["200"] * 200


def test_soak_10000_requests_memory_bounded(gateway: Gateway) -> None:
    url = f"http://127.0.0.1:{gateway.http}/status/200"

    def batch(n: int) -> list[str]:
        # one curl process, keep-alive: n requests through the gateway
        args = ["-s", "-HHost:httpbin.example.com", "-o", "/dev/null", "-w", "%{http_code}\n"]
        r = curl(*args, *([url] * n), timeout=120)
        return r.stdout.split()

    assert batch(500) == ["200"] * 500  # warm-up: pools, caches, the access-log ring
    before = _rss_kb()
    for _ in range(5):
        assert batch(2000) == ["200"] * 2000
    growth = (_rss_kb() - before) / before
    assert growth < 0.10, f"RSS grew {growth:.1%} over 10,000 requests"


def test_h2c_prior_knowledge(gateway: Gateway) -> None:
    r = curl(
        "-s",
        "-i",
        "--http2-prior-knowledge",
        "-HHost:httpbin.example.com",
        f"http://127.0.0.1:{gateway.http}/status/418",
    )
    assert r.stdout.startswith("HTTP/2 418 \r\n")


def test_update_adds_removes_and_keeps_listeners(certs: Certs, upstreams: Upstreams) -> None:
    full = build_proxy(certs)
    http_only = dataclasses.replace(full, listeners=full.listeners[:1])
    fixed = free_closed_port()
    with DataPlane(upstreams.book) as dp:
        ports = dp.update({PROXY: http_only}, fixed_ports={(PROXY, 8080): fixed})
        assert ports == {(PROXY, 8080): fixed}
        url = f"http://127.0.0.1:{fixed}/status/200"
        assert (
            curl("-s", "-o", "/dev/null", "-w", "%{http_code}", "-HHost:httpbin.example.com", url).stdout
            == "200"
        )
        ports2 = dp.update({PROXY: full})
        assert ports2[(PROXY, 8080)] == fixed and len(ports2) == 3
        tcp = ports2[(PROXY, 31400)]
        ports3 = dp.update({PROXY: http_only})
        assert ports3 == {(PROXY, 8080): fixed}
        assert _refused(tcp)  # removed listener is closed
        # a config with no matching virtual host is live as soon as update() returns
        empty_routes = dataclasses.replace(http_only, route_configs={})
        dp.update({PROXY: empty_routes})
        assert (
            curl("-s", "-o", "/dev/null", "-w", "%{http_code}", "-HHost:httpbin.example.com", url).stdout
            == "404"
        )


def test_update_reports_a_port_that_cannot_be_bound(certs: Certs, upstreams: Upstreams) -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    try:
        with DataPlane(upstreams.book) as dp:
            with pytest.raises(SandboxError, match="cannot bind"):
                dp.update({PROXY: build_proxy(certs)}, fixed_ports={(PROXY, 8080): blocker.getsockname()[1]})
    finally:
        blocker.close()


def test_close_leaves_no_thread_or_port(certs: Certs, upstreams: Upstreams) -> None:
    def planes() -> int:
        return sum(t.name == "gatewaykit-dataplane" for t in threading.enumerate())

    before = planes()
    dp = DataPlane(upstreams.book).start()
    assert planes() == before + 1
    ports = dp.update({PROXY: build_proxy(certs)})
    # leave a keep-alive connection open to make close() work for it
    idle = socket.create_connection(("127.0.0.1", ports[(PROXY, 8080)]), timeout=5)
    assert (
        curl(
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-HHost:httpbin.example.com",
            f"http://127.0.0.1:{ports[(PROXY, 8080)]}/status/200",
        ).stdout
        == "200"
    )
    dp.close()
    try:
        assert planes() == before
        for port in ports.values():
            assert _refused(port)
        assert idle.recv(10) == b""  # the open connection was closed too
    finally:
        idle.close()
    dp.close()  # idempotent


def _sidecar() -> envoy.ProxyConfig:
    """A client sidecar: HTTP on port 80 to PassthroughCluster, and a Service-IP TCP listener."""
    passthrough = envoy.Cluster(name="PassthroughCluster", type="ORIGINAL_DST")
    rc = envoy.RouteConfiguration(
        "80",
        (
            envoy.VirtualHost(
                "allow_any",
                ("*",),
                (
                    envoy.Route(
                        "allow_any",
                        envoy.RouteMatch(prefix="/"),
                        route=envoy.RouteAction("PassthroughCluster"),
                    ),
                ),
            ),
        ),
    )
    hcm = envoy.HttpConnectionManager("80", "outbound_0.0.0.0_80", server_name="")
    return envoy.ProxyConfig(
        id="curl-5b8d9c7f6-xyz12.default",
        type="sidecar",
        namespace="default",
        workload="curl",
        listeners=(
            envoy.Listener(
                "0.0.0.0_80", "0.0.0.0", 80, (envoy.FilterChain("http", http_connection_manager=hcm),)
            ),
            envoy.Listener(
                "10.96.0.20_9000",
                "10.96.0.20",
                9000,
                (envoy.FilterChain("tcp", tcp_proxy=envoy.TcpProxy("echo", ECHO)),),
            ),
        ),
        route_configs={"80": rc},
        clusters={
            "PassthroughCluster": passthrough,
            ECHO: envoy.Cluster(ECHO, endpoints=(envoy.Endpoint("10.244.0.8", 9000),)),
        },
    )


def test_destination_ports_carry_the_original_destination(upstreams: Upstreams) -> None:
    side = "default/curl-5b8d9c7f6-xyz12"
    book = AddressBook(dict(upstreams.book.items()))
    book.add("10.96.0.50", 80, upstreams.httpbin_port)  # what kube-proxy would do for a cluster IP
    with DataPlane(book) as dp:
        dp.update({side: _sidecar()}, pod_ips={side: "10.244.0.20"})
        # HTTP to PassthroughCluster goes to the address the client dialled (ORIGINAL_DST,
        # docs/behaviour.md §11.2)
        p = dp.destination_port(side, "10.96.0.50", 80)
        assert dp.destination_port(side, "10.96.0.50", 80) == p  # idempotent
        r = curl("-s", "-i", "-HHost:anything.example", f"http://127.0.0.1:{p}/headers")
        assert r.stdout.startswith("HTTP/1.1 200 OK\r\n")
        # sidecar outbound: Envoy's default name (docs/behaviour.md §1.1)
        assert "server: envoy\r\n" in r.stdout
        assert '"10.96.0.50:80" PassthroughCluster 10.244.0.20:' in dp.logs(side)
        # a listener bound to one Service IP serves only connections dialled to that IP
        with socket.create_connection(("127.0.0.1", dp.destination_port(side, "10.96.0.20", 9000)), 5) as s:
            s.sendall(b"ping\n")
            assert s.recv(100) == b"one ping\n"
        with socket.create_connection(("127.0.0.1", dp.destination_port(side, "10.96.0.21", 9000)), 5) as s:
            s.sendall(b"ping\n")
            try:
                assert s.recv(100) == b""
            except ConnectionResetError:
                pass
        dp.update({})  # the proxy is gone: its destination ports are closed
        assert _refused(p)
