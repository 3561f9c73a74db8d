"""HTTP through the data plane with real curl: status lines, headers, local replies, access log."""

from __future__ import annotations

import json
import re
import socket
import uuid

from dataplane_support import GW_IP, HTTPBIN, PROXY, Gateway, Upstreams, curl


def _headers(out: str) -> dict[str, str]:
    hdrs: dict[str, str] = {}
    for line in out.split("\r\n\r\n", 1)[0].split("\r\n")[1:]:
        k, _, v = line.partition(":")
        hdrs[k] = v.strip()
    return hdrs


def test_http11_200_with_envoy_headers(gateway: Gateway) -> None:
    r = curl(
        "-s",
        "-i",
        "-HHost:httpbin.example.com",
        "-A",
        "curl/test",
        f"http://127.0.0.1:{gateway.http}/headers",
    )
    assert r.returncode == 0, r.stderr
    head, body = r.stdout.split("\r\n\r\n", 1)
    assert head.startswith("HTTP/1.1 200 OK\r\n")
    hdrs = _headers(r.stdout)
    assert all(k == k.lower() for k in hdrs)
    assert hdrs["server"] == "istio-envoy"  # the upstream said upstream-test/1.0 (§1.1)
    assert "date" in hdrs
    assert re.fullmatch(r"\d+", hdrs["x-envoy-upstream-service-time"])
    seen = json.loads(body)["headers"]
    assert seen["Host"] == "httpbin.example.com"
    assert seen["X-Forwarded-For"] == "10.244.0.1"
    assert seen["X-Forwarded-Proto"] == "http"
    assert seen["X-Envoy-Attempt-Count"] == "1"
    assert seen["X-Envoy-External-Address"] == "10.244.0.1"
    assert seen["X-Envoy-Decorator-Operation"] == "httpbin.default.svc.cluster.local:8000/*"
    uuid.UUID(seen["X-Request-Id"])


def test_418_reason_phrase_is_unknown(gateway: Gateway) -> None:
    r = curl("-s", "-i", "-HHost:httpbin.example.com", f"http://127.0.0.1:{gateway.http}/status/418")
    assert r.stdout.startswith("HTTP/1.1 418 Unknown\r\n")  # §1.5
    assert r.stdout.endswith("teapot\n")
    assert _headers(r.stdout)["x-more-info"] == "http://tools.ietf.org/html/rfc2324"


def test_404_no_route_is_a_local_reply(gateway: Gateway) -> None:
    r = curl("-s", "-i", "-HHost:unknown.example.com", f"http://127.0.0.1:{gateway.http}/status/200")
    assert r.stdout.startswith("HTTP/1.1 404 Not Found\r\n")
    hdrs = _headers(r.stdout)
    assert hdrs["content-length"] == "0" and hdrs["server"] == "istio-envoy"
    assert "x-envoy-upstream-service-time" not in hdrs  # only on upstream responses (§1.2)
    assert '"GET /status/200 HTTP/1.1" 404 NR route_not_found' in gateway.log()


def test_host_match_ignores_case_and_port(gateway: Gateway) -> None:
    r = curl(
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-HHost:HTTPBIN.example.com:31380",
        f"http://127.0.0.1:{gateway.http}/status/200",
    )
    assert r.stdout == "200"


def test_503_no_healthy_upstream(gateway: Gateway) -> None:
    r = curl("-s", "-i", "-HHost:httpbin.example.com", f"http://127.0.0.1:{gateway.http}/empty")
    assert r.stdout.startswith("HTTP/1.1 503 Service Unavailable\r\n")
    assert r.stdout.endswith("\r\n\r\nno healthy upstream")
    hdrs = _headers(r.stdout)
    assert hdrs["content-length"] == "19" and hdrs["content-type"] == "text/plain"
    assert " 503 UH no_healthy_upstream " in gateway.log()


def test_503_connect_failure_after_retries(gateway: Gateway) -> None:
    r = curl("-s", "-i", "-HHost:httpbin.example.com", f"http://127.0.0.1:{gateway.http}/down")
    assert r.stdout.startswith("HTTP/1.1 503 Service Unavailable\r\n")
    body = r.stdout.split("\r\n\r\n", 1)[1]
    assert body == (
        "upstream connect error or disconnect/reset before headers. retried and the latest "
        "reset reason: remote connection failure, transport failure reason: delayed connect error: 111"
    )
    assert "x-envoy-upstream-service-time" not in _headers(r.stdout)
    assert (
        "503 UF,URX upstream_reset_before_response_started{remote_connection_failure,"
        'delayed_connect_error:_111} - "delayed_connect_error:_111"'
    ) in gateway.log()


def test_504_route_timeout(gateway: Gateway) -> None:
    r = curl("-s", "-i", "-HHost:httpbin.example.com", f"http://127.0.0.1:{gateway.http}/delay/2")
    assert r.stdout.startswith("HTTP/1.1 504 Gateway Timeout\r\n")
    assert r.stdout.endswith("\r\n\r\nupstream request timeout")
    line = next(ln for ln in gateway.log().splitlines() if '"GET /delay/2 HTTP/1.1"' in ln)
    assert ' 504 UT response_timeout - "-" 0 24 ' in line
    assert f'"10.244.0.7:8080" {HTTPBIN} {GW_IP}:' in line  # the upstream connection was made


def test_301_https_redirect(gateway: Gateway) -> None:
    r = curl("-s", "-i", "-HHost:secure.example.com", f"http://127.0.0.1:{gateway.http}/status/200?x=1")
    assert r.stdout.startswith("HTTP/1.1 301 Moved Permanently\r\n")
    hdrs = _headers(r.stdout)
    assert hdrs["location"] == "https://secure.example.com/status/200?x=1"
    assert hdrs["server"] == "istio-envoy"


def test_prefix_rewrite_and_direct_response(gateway: Gateway) -> None:
    r = curl("-s", "-HHost:httpbin.example.com", f"http://127.0.0.1:{gateway.http}/api/headers")
    data = json.loads(r.stdout)
    assert data["path"] == "/headers"
    assert data["headers"]["X-Envoy-Original-Path"] == "/api/headers"
    assert '"GET /api/headers HTTP/1.1" 200 - via_upstream' in gateway.log()  # log keeps the original path
    r = curl("-s", "-i", "-HHost:httpbin.example.com", f"http://127.0.0.1:{gateway.http}/direct")
    assert r.stdout.startswith("HTTP/1.1 418 Unknown\r\n") and r.stdout.endswith("direct teapot")


def test_chunked_and_large_upstream_bodies(gateway: Gateway) -> None:
    r = curl("-s", "-i", "-HHost:httpbin.example.com", f"http://127.0.0.1:{gateway.http}/chunked")
    assert _headers(r.stdout).get("transfer-encoding") == "chunked"
    assert r.stdout.endswith("\r\n\r\nhello chunked world\n")
    r = curl("-s", "-HHost:httpbin.example.com", f"http://127.0.0.1:{gateway.http}/big")
    assert len(r.stdout) == 300_000


def test_post_body_and_head(gateway: Gateway) -> None:
    r = curl("-s", "-HHost:httpbin.example.com", "-d", "a=1&b=2", f"http://127.0.0.1:{gateway.http}/post")
    assert json.loads(r.stdout)["data"] == "a=1&b=2"
    r = curl("-s", "-I", "-HHost:httpbin.example.com", f"http://127.0.0.1:{gateway.http}/status/200")
    assert r.returncode == 0 and r.stdout.startswith("HTTP/1.1 200 OK\r\n")


def test_keepalive_reuses_connection(gateway: Gateway) -> None:
    url = f"http://127.0.0.1:{gateway.http}/status/200"
    r = curl("-s", "-v", "-o", "/dev/null", "-o", "/dev/null", "-HHost:httpbin.example.com", url, url)
    assert "Re-using existing connection" in r.stderr


def test_access_log_format(gateway: Gateway) -> None:
    curl(
        "-s",
        "-HHost:httpbin.example.com",
        "-A",
        "logcheck/1",
        "-H",
        "x-request-id: abc-123",
        f"http://127.0.0.1:{gateway.http}/status/201",
    )
    line = next(ln for ln in gateway.log().splitlines() if "abc-123" in ln)
    pattern = (
        r'\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] "GET /status/201 HTTP/1\.1" 201 - via_upstream - "-" '
        r'0 0 \d+ \d+ "10\.244\.0\.1" "logcheck/1" "abc-123" "httpbin\.example\.com" "10\.244\.0\.7:8080" '
        + re.escape(HTTPBIN)
        + rf" {GW_IP}:\d+ {GW_IP}:8080 10\.244\.0\.1:\d+ - status"
    )
    assert re.fullmatch(pattern, line), line


def test_results_reach_the_callback(gateway: Gateway) -> None:
    gateway.results.clear()
    curl("-s", "-HHost:httpbin.example.com", f"http://127.0.0.1:{gateway.http}/status/200")
    pid, result = gateway.results[-1]
    assert pid == PROXY
    assert result.cluster == HTTPBIN and result.route == "status"  # type: ignore[attr-defined]


def test_malformed_request_gets_400(gateway: Gateway) -> None:
    with socket.create_connection(("127.0.0.1", gateway.http), timeout=5) as s:
        s.sendall(b"GET /status/200 HTTP/1.1\r\nHost: httpbin.example.com\r\nbad header\r\n\r\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert data.endswith(b"\r\n\r\nBad Request")
    assert " 400 DPE http1.codec_error " in gateway.log()


def test_oversized_headers_get_431(gateway: Gateway) -> None:
    big = "x" * (61 * 1024)
    r = curl(
        "-s",
        "-i",
        "-HHost:httpbin.example.com",
        "-H",
        f"x-big: {big}",
        f"http://127.0.0.1:{gateway.http}/status/200",
    )
    assert r.stdout.startswith("HTTP/1.1 431 Request Header Fields Too Large\r\n")
    # just under the limit is fine
    ok = curl(
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-HHost:httpbin.example.com",
        "-H",
        f"x-big: {'x' * (50 * 1024)}",
        f"http://127.0.0.1:{gateway.http}/status/200",
    )
    assert ok.stdout == "200"


def test_https_to_plaintext_port_is_wrong_version_number(gateway: Gateway) -> None:
    r = curl("-s", "-S", "-k", f"https://127.0.0.1:{gateway.http}/status/200")
    assert r.returncode == 35
    assert "wrong version number" in r.stderr


def test_expect_100_continue_is_answered_by_the_proxy(gateway: Gateway) -> None:
    r = curl(
        "-s",
        "-HHost:httpbin.example.com",
        "-H",
        "Expect: 100-continue",
        "-d",
        "x=1",
        "-w",
        "\n%{time_total}",
        f"http://127.0.0.1:{gateway.http}/post",
    )
    body, total = r.stdout.rsplit("\n", 1)
    assert json.loads(body)["data"] == "x=1"
    assert float(total) < 0.9  # curl waits 1 s when nobody answers 100 Continue


def _raw(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        out = b""
        while chunk := s.recv(4096):
            out += chunk
    return out


def test_garbage_on_http_port_gets_canned_400(gateway: Gateway) -> None:
    # No request line could be parsed: Envoy's canned reply, connection closed.
    out = _raw(gateway.http, b"\x16\x03\x01garbage\r\n\r\n")
    assert out == b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


def test_http10_client(gateway: Gateway) -> None:
    # Istio leaves accept_http_10 off unless PILOT_HTTP10=1: Envoy's codec answers 426.
    r = curl(
        "-s", "-i", "--http1.0", "-HHost:httpbin.example.com", f"http://127.0.0.1:{gateway.http}/status/200"
    )
    assert r.returncode == 0 and r.stdout.startswith("HTTP/1.1 426 Upgrade Required\r\n")
    assert r.stdout.endswith("\r\n\r\nUpgrade Required")


def test_upstream_reset_before_headers(gateway: Gateway) -> None:
    r = curl("-s", "-i", "-HHost:httpbin.example.com", f"http://127.0.0.1:{gateway.http}/reset")
    assert r.stdout.startswith("HTTP/1.1 503 Service Unavailable\r\n")
    body = r.stdout.split("\r\n\r\n", 1)[1]
    assert (
        body
        == "upstream connect error or disconnect/reset before headers. reset reason: connection termination"
    )
    assert " 503 UC upstream_reset_before_response_started{connection_termination} " in gateway.log()


def test_reset_retried_under_retry_on_5xx(gateway: Gateway) -> None:
    # retryOn 5xx covers resets (Envoy wouldRetryFromReset): three tries, then Envoy's 503 with
    # "retried and the latest" and UC,URX (retry limit exceeded).
    r = curl("-s", "-i", "-HHost:httpbin.example.com", f"http://127.0.0.1:{gateway.http}/reset-retried")
    assert r.stdout.startswith("HTTP/1.1 503 Service Unavailable\r\n")
    assert r.stdout.split("\r\n\r\n", 1)[1] == (
        "upstream connect error or disconnect/reset before headers. retried and the latest "
        "reset reason: connection termination"
    )
    line = next(ln for ln in gateway.log().splitlines() if '"GET /reset-retried HTTP/1.1"' in ln)
    assert " 503 UC,URX upstream_reset_before_response_started{connection_termination} " in line


def test_pooled_connection_closed_by_upstream_is_retried(gateway: Gateway) -> None:
    # The upstream closes every connection after one response without announcing it, so the
    # proxy's pooled connection is dead the next time; the request must still succeed.
    url = f"http://127.0.0.1:{gateway.http}/rude"
    r = curl("-s", "-HHost:httpbin.example.com", "-w", "%{http_code}\n", *([url] * 30))
    assert r.stdout.split() == ["rude200"] * 30


def test_weighted_routes_reach_both_versions(gateway: Gateway, upstreams: Upstreams) -> None:
    url = f"http://127.0.0.1:{gateway.http}/split/headers"
    r = curl("-s", "-HHost:httpbin.example.com", "-w", "\n", *([url] * 60))
    ports = {json.loads(line)["port"] for line in r.stdout.splitlines() if line}
    assert ports == {upstreams.httpbin_port, upstreams.httpbin_v2_port}


def test_regex_and_host_rewrite(gateway: Gateway) -> None:
    r = curl("-s", "-HHost:httpbin.example.com", f"http://127.0.0.1:{gateway.http}/re/headers?x=1")
    data = json.loads(r.stdout)
    assert data["path"] == "/headers?x=1"  # the query string is kept
    assert data["headers"]["Host"] == "rewritten.local"
