"""Bodies stream through the gateway with bounded memory; Envoy's answers to what it will not read.

The memory checks sample the test process's resident memory (the data plane and the upstream
servers run in it; curl does not) and allow far less than the bodies' size.
"""

from __future__ import annotations

import json
import pathlib
import re
import socket
import struct
import subprocess
import threading

import h2.connection
import h2.events
from dataplane_support import POSTS, Gateway, curl
from rss_support import RssPeak

MiB = 1024 * 1024


def _sparse(tmp_path: pathlib.Path, size: int) -> str:
    path = tmp_path / f"body-{size}"
    with open(path, "wb") as fh:
        fh.truncate(size)  # a hole: no disk, no memory
    return str(path)


def _raw(port: int, data: bytes, timeout: float = 5) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


def _upload(
    gateway: Gateway, host: str, path: str, body: str, *opts: str
) -> subprocess.CompletedProcess[str]:
    """``curl -s <opts> -X POST -T <file> -HHost:<host> http://gateway<path>`` (curl streams the file)."""
    url = f"http://127.0.0.1:{gateway.http}{path}"
    return curl("-s", *opts, "-X", "POST", "-T", body, f"-HHost:{host}", url, timeout=120)


def _log_line(gateway: Gateway, needle: str) -> str:
    return next(line for line in reversed(gateway.log().splitlines()) if needle in line)


# ------------------------------------------------------------------------ local replies


def test_unrouted_post_gets_404_before_its_body(gateway: Gateway) -> None:
    # 256 MiB announced and none sent: Envoy routes on the head, answers at once and closes.
    with socket.create_connection(("127.0.0.1", gateway.http), timeout=5) as s:
        s.sendall(
            b"POST /anything HTTP/1.1\r\nHost: unknown.example.com\r\nContent-Length: 268435456\r\n\r\n"
        )
        out = b""
        while chunk := s.recv(65536):  # the proxy closes after the reply (no body ever came)
            out += chunk
    head = out.decode()
    assert re.fullmatch(
        r"HTTP/1\.1 404 Not Found\r\ndate: [^\r]+\r\nserver: istio-envoy\r\ncontent-length: 0\r\n"
        r"connection: close\r\n\r\n",
        head,
    ), head
    line = _log_line(gateway, '"POST /anything HTTP/1.1" 404')
    assert ' 404 NR route_not_found - "-" 0 0 ' in line


def test_curl_upload_to_an_unrouted_path_sees_the_404(gateway: Gateway, tmp_path: pathlib.Path) -> None:
    body = _sparse(tmp_path, 256 * MiB)
    with RssPeak() as mem:
        r = _upload(
            gateway, "unknown.example.com", "/upload", body, "-o/dev/null", "-w%{http_code} %{time_total}"
        )
    code, seconds = r.stdout.split()
    assert r.returncode == 0 and code == "404"
    assert float(seconds) < 5  # curl stops sending when the 404 arrives
    assert mem.growth < 64 * MiB, mem.growth


def test_content_length_with_transfer_encoding_gets_400(gateway: Gateway) -> None:
    # RFC 9112 §6.1: a server MAY reject such a request; Envoy does (Http1 codec,
    # http1.content_length_and_chunked_not_allowed; Istio never sets allow_chunked_length).
    out = _raw(
        gateway.http,
        b"POST /post HTTP/1.1\r\nHost: httpbin.example.com\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    ).decode()
    assert re.fullmatch(
        r"HTTP/1\.1 400 Bad Request\r\ncontent-length: 11\r\ncontent-type: text/plain\r\n"
        r"date: [^\r]+\r\nserver: istio-envoy\r\nconnection: close\r\n\r\nBad Request",
        out,
    ), out
    line = _log_line(gateway, "http1.content_length_and_chunked_not_allowed")
    assert '"- - HTTP/1.1" 400 DPE http1.content_length_and_chunked_not_allowed - "-" 0 11 ' in line


def test_curl_sending_both_framing_headers_gets_400(gateway: Gateway) -> None:
    r = curl(
        "-s",
        "-i",
        "-HHost:httpbin.example.com",
        "-H",
        "Transfer-Encoding: chunked",
        "-H",
        "Content-Length: 5",
        "--data-binary",
        "hello",
        f"http://127.0.0.1:{gateway.http}/post",
    )
    assert r.returncode == 0
    assert r.stdout.startswith("HTTP/1.1 400 Bad Request\r\n") and r.stdout.endswith("\r\n\r\nBad Request")


def test_unknown_transfer_coding_gets_501(gateway: Gateway) -> None:
    out = _raw(
        gateway.http,
        b"POST /post HTTP/1.1\r\nHost: httpbin.example.com\r\nTransfer-Encoding: gzip\r\n\r\n",
    ).decode()
    assert out.startswith("HTTP/1.1 501 Not Implemented\r\ncontent-length: 15\r\n")
    assert out.endswith("\r\nconnection: close\r\n\r\nNot Implemented")
    assert '"- - HTTP/1.1" 501 DPE http1.invalid_transfer_encoding ' in _log_line(gateway, "501 DPE")


# ---------------------------------------------------------------------------- streaming


def test_256_mib_post_streams_upstream_with_bounded_memory(gateway: Gateway, tmp_path: pathlib.Path) -> None:
    body = _sparse(tmp_path, 256 * MiB)
    with RssPeak() as mem:
        r = _upload(gateway, "httpbin.example.com", "/count", body)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"received": 256 * MiB}
    assert mem.growth < 64 * MiB, mem.growth  # was +502 MiB with the body read whole
    line = _log_line(gateway, '"POST /count HTTP/1.1"')
    assert f' 200 - via_upstream - "-" {256 * MiB} ' in line


def test_chunked_upload_streams_upstream(gateway: Gateway) -> None:
    # curl -T - sends chunked; the gateway passes it on chunked (unknown length).
    data = b"x" * (3 * MiB + 17)
    r = subprocess_curl_stdin(gateway, data)
    assert json.loads(r) == {"received": len(data)}


def subprocess_curl_stdin(gateway: Gateway, data: bytes) -> str:
    import subprocess

    out = subprocess.run(
        [
            "curl",
            "-s",
            "-X",
            "POST",
            "-T",
            "-",
            "-HHost:httpbin.example.com",
            f"http://127.0.0.1:{gateway.http}/count",
        ],
        input=data,
        capture_output=True,
        timeout=60,
    )
    return out.stdout.decode()


def test_256_mib_download_streams_with_bounded_memory(gateway: Gateway) -> None:
    with RssPeak() as mem:
        r = curl(
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{size_download}",
            "-HHost:httpbin.example.com",
            f"http://127.0.0.1:{gateway.http}/bytes/{256 * MiB}",
            timeout=120,
        )
    assert r.stdout == f"200 {256 * MiB}"
    assert mem.growth < 64 * MiB, mem.growth


def test_http2_upload_streams_upstream(gateway: Gateway, tmp_path: pathlib.Path) -> None:
    body = _sparse(tmp_path, 32 * MiB)
    r = _upload(gateway, "httpbin.example.com", "/count", body, "--http2-prior-knowledge")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"received": 32 * MiB}
    assert f'"POST /count HTTP/2" 200 - via_upstream - "-" {32 * MiB} ' in _log_line(
        gateway, '"POST /count HTTP/2"'
    )


def test_http2_early_404_then_rst_stream_no_error(gateway: Gateway) -> None:
    # Unrouted, body announced: the 404 (END_STREAM) comes first, then RST_STREAM(NO_ERROR) asks
    # the client to stop sending (RFC 9113 §8.1; Envoy resets a stream whose response ended
    # before its request, with NO_ERROR for a local reset).
    conn = h2.connection.H2Connection()
    conn.initiate_connection()
    headers = [
        (":method", "POST"),
        (":path", "/upload"),
        (":scheme", "http"),
        (":authority", "unknown.example.com"),
        ("content-length", str(32 * MiB)),
    ]
    conn.send_headers(1, headers)
    conn.send_data(1, b"\0" * 16384)
    events: list[object] = []
    with socket.create_connection(("127.0.0.1", gateway.http), timeout=5) as s:
        s.sendall(conn.data_to_send())
        while not any(isinstance(ev, h2.events.StreamReset) for ev in events):
            chunk = s.recv(65536)
            assert chunk, events
            events += conn.receive_data(chunk)
            s.sendall(conn.data_to_send())
    response = next(ev for ev in events if isinstance(ev, h2.events.ResponseReceived))
    assert dict(response.headers)[b":status"] == b"404"
    kinds = [type(ev).__name__ for ev in events if getattr(ev, "stream_id", None) == 1]
    assert kinds.index("StreamEnded") < kinds.index("StreamReset")
    reset = next(ev for ev in events if isinstance(ev, h2.events.StreamReset))
    assert reset.error_code == 0  # NO_ERROR
    line = _log_line(gateway, '"POST /upload HTTP/2" 404')
    assert " 404 NR route_not_found " in line


# ---------------------------------------------------------------------- HTTP/2 frame size


def _frames(data: bytes) -> list[tuple[int, int, bytes]]:
    out, i = [], 0
    while i + 9 <= len(data):
        length = int.from_bytes(data[i : i + 3], "big")
        out.append(
            (
                data[i + 3],
                int.from_bytes(data[i + 5 : i + 9], "big") & 0x7FFFFFFF,
                data[i + 9 : i + 9 + length],
            )
        )
        i += 9 + length
    return out


def _oversized_frame_attack(port: int, payload: bytes, replies: list[bytes]) -> None:
    conn = h2.connection.H2Connection()
    conn.initiate_connection()
    # A HEADERS frame header announcing 16 MiB - 1 (the largest a frame can be) on stream 1.
    header = (2**24 - 1).to_bytes(3, "big") + bytes([0x1, 0x4]) + struct.pack(">I", 1)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(conn.data_to_send() + header)
        view = memoryview(payload)  # no copies: the client's memory must not count
        try:
            sent = 0
            while sent < 2**24 - 1:
                sent += s.send(view[sent : 2**24 - 1])
        except OSError:
            pass  # the server gave up on us: expected
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
        except OSError:
            pass
    replies.append(data)


def test_oversized_http2_frame_is_refused_at_its_header(gateway: Gateway) -> None:
    payload = b"\0" * (2**24)
    replies: list[bytes] = []
    with RssPeak() as mem:
        threads = [
            threading.Thread(target=_oversized_frame_attack, args=(gateway.http, payload, replies))
            for _ in range(20)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert len(replies) == 20
    for data in replies:
        goaway = [f for f in _frames(data) if f[0] == 0x7]
        assert goaway, data[:200]
        error_code = int.from_bytes(goaway[0][2][4:8], "big")
        assert error_code == 0x6  # FRAME_SIZE_ERROR
    assert mem.growth < 64 * MiB, mem.growth  # was +333 MiB: 16 MiB buffered per connection
    # The connection is refused, not the whole port: the next client is served.
    conn = h2.connection.H2Connection()
    conn.initiate_connection()
    conn.send_headers(
        1,
        [
            (":method", "GET"),
            (":path", "/status/200"),
            (":scheme", "http"),
            (":authority", "httpbin.example.com"),
        ],
        end_stream=True,
    )
    with socket.create_connection(("127.0.0.1", gateway.http), timeout=5) as s:
        s.sendall(conn.data_to_send())
        status = None
        while status is None and (chunk := s.recv(65536)):
            for ev in conn.receive_data(chunk):
                if isinstance(ev, h2.events.ResponseReceived):
                    status = dict(ev.headers)[b":status"]
    assert status == b"200"


# ------------------------------------------------------------------------------ retries


def test_retried_post_sends_its_body_again(gateway: Gateway) -> None:
    POSTS.clear()
    url = f"http://127.0.0.1:{gateway.http}/retry/status/503"
    r = curl(
        "-s", "-o", "/dev/null", "-w", "%{http_code}", "-HHost:httpbin.example.com", "-d", "a=1&b=2", url
    )
    assert r.stdout == "503"
    # retryOn 5xx, attempts 2: three tries, each with the whole body (Envoy keeps it for retries)
    assert POSTS == [("/status/503", b"a=1&b=2")] * 3
    assert '"POST /retry/status/503 HTTP/1.1" 503 URX via_upstream - "-" 7 ' in _log_line(
        gateway, "/retry/status/503"
    )


def test_body_over_the_buffer_limit_is_not_retried(gateway: Gateway, tmp_path: pathlib.Path) -> None:
    # Above per_connection_buffer_limit_bytes (1 MiB) Envoy gives up on the retry ("exceeded
    # buffer limit ... Give up on the retry/shadow", retry_or_shadow_abandoned): one try only.
    POSTS.clear()
    body = _sparse(tmp_path, 2 * MiB)
    r = _upload(gateway, "httpbin.example.com", "/retry/status/503", body, "-o/dev/null", "-w%{http_code}")
    assert r.stdout == "503"
    assert [(path, len(data)) for path, data in POSTS] == [("/status/503", 2 * MiB)]
    line = _log_line(gateway, f'"POST /retry/status/503 HTTP/1.1" 503 - via_upstream - "-" {2 * MiB} ')
    assert "URX" not in line
