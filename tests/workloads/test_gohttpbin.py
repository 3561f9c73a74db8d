"""The go-httpbin v2.15.0 stand-in, byte for byte, through real sockets and the real curl.

Expected bytes follow go-httpbin's handlers (``httpbin/handlers.go``, ``helpers.go``,
``responses.go`` at tag v2.15.0) and Go's ``net/http`` server: sorted handler headers, then
``Date`` and an automatic ``Content-Length``; ``encoding/json`` with a two-space indent.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from wl_helpers import curl, curl_bytes, port_is_closed

from gatewaykit.workloads import WorkloadSpec, classify_image, start_workload
from gatewaykit.workloads.base import RunningWorkload

IMAGE = "docker.io/mccutchen/go-httpbin:v2.15.0"
DATE = re.compile(r"Date: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT\r\n")
CORS = "Access-Control-Allow-Credentials: true\r\nAccess-Control-Allow-Origin: *\r\n"


@pytest.fixture(scope="module")
def gobin() -> Iterator[RunningWorkload]:
    w = start_workload(WorkloadSpec("httpbin-7b9f6d8c5d-k2x4q", "default", IMAGE, ports=(8080,)))
    try:
        yield w
    finally:
        w.close()


def exchange(port: int, raw: bytes, *, read_until_close: bool = True) -> bytes:
    """Send raw request bytes, return everything the server wrote until it closed (or 2 s idle)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(raw)
        s.settimeout(2 if not read_until_close else 8)
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            data += chunk
        return data


def get(port: int, path: str, *headers: str, method: str = "GET", close: bool = True) -> str:
    lines = [f"{method} {path} HTTP/1.1", "Host: httpbin.example.com", *headers]
    if close:
        lines.append("Connection: close")
    return exchange(port, ("\r\n".join(lines) + "\r\n\r\n").encode()).decode("utf-8")


def curl_i(*args: str) -> str:
    """curl's output as bytes decoded (CRLFs kept: the text-mode helper would turn them into LFs)."""
    return curl_bytes("-s", *args).stdout.decode("utf-8")


def undated(text: str) -> str:
    assert len(DATE.findall(text)) >= 1, text
    return DATE.sub("Date: <date>\r\n", text)


# ------------------------------------------------------------------------------------ images


@pytest.mark.parametrize(
    ("image", "kind"),
    [
        ("docker.io/mccutchen/go-httpbin:v2.15.0", "go-httpbin"),
        ("mccutchen/go-httpbin", "go-httpbin"),
        ("ghcr.io/mccutchen/go-httpbin@sha256:0123", "go-httpbin"),
        ("docker.io/kong/httpbin", "httpbin"),
        ("kennethreitz/httpbin:latest", "httpbin"),
    ],
)
def test_go_httpbin_images_get_the_go_stand_in(image: str, kind: str) -> None:
    assert classify_image(image) == kind


# ------------------------------------------------------------------------------------ /status


def test_teapot_bytes(gobin: RunningWorkload) -> None:
    raw = get(gobin.ports[8080], "/status/418")
    assert undated(raw) == (
        "HTTP/1.1 418 I'm a teapot\r\n" + CORS + "Content-Type: text/plain; charset=utf-8\r\n"
        "X-More-Info: http://tools.ietf.org/html/rfc2324\r\nDate: <date>\r\nContent-Length: 13\r\n"
        "Connection: close\r\n\r\nI'm a teapot!"
    )


def test_teapot_with_real_curl(gobin: RunningWorkload) -> None:
    head, _, body = curl_i("-i", f"http://127.0.0.1:{gobin.ports[8080]}/status/418").partition("\r\n\r\n")
    assert head.splitlines()[0] == "HTTP/1.1 418 I'm a teapot"
    assert body == "I'm a teapot!"
    assert "Server:" not in head  # Go's net/http sends no Server header


@pytest.mark.parametrize(
    ("code", "line", "extra", "body"),
    [
        (200, "200 OK", "", ""),
        (302, "302 Found", "Location: /redirect/1\r\n", ""),
        (401, "401 Unauthorized", 'Www-Authenticate: Basic realm="Fake Realm"\r\n', ""),
        (402, "402 Payment Required", "X-More-Info: http://vimeo.com/22053820\r\n", "Fuck you, pay me!"),
        (500, "500 Internal Server Error", "", ""),
        (599, "599 status code 599", "", ""),
    ],
)
def test_status_codes(gobin: RunningWorkload, code: int, line: str, extra: str, body: str) -> None:
    raw = undated(get(gobin.ports[8080], f"/status/{code}"))
    ctype = "Content-Type: text/plain; charset=utf-8\r\n"
    # Headers are written sorted by name: Location/Www-Authenticate/X-More-Info after Content-Type.
    assert raw == (
        f"HTTP/1.1 {line}\r\n{CORS}{ctype}{extra}Date: <date>\r\nContent-Length: {len(body)}\r\n"
        f"Connection: close\r\n\r\n{body}"
    )


def test_status_204_and_304_have_no_length(gobin: RunningWorkload) -> None:
    no_content = undated(get(gobin.ports[8080], "/status/204"))
    assert no_content == (
        "HTTP/1.1 204 No Content\r\n" + CORS + "Content-Type: text/plain; charset=utf-8\r\n"
        "Date: <date>\r\nConnection: close\r\n\r\n"
    )
    not_modified = undated(get(gobin.ports[8080], "/status/304"))
    assert (
        not_modified == "HTTP/1.1 304 Not Modified\r\n" + CORS + "Date: <date>\r\nConnection: close\r\n\r\n"
    )


def test_status_406_body_is_json(gobin: RunningWorkload) -> None:
    raw = get(gobin.ports[8080], "/status/406")
    body = raw.split("\r\n\r\n", 1)[1]
    assert "Content-Type: application/json; charset=utf-8\r\n" in raw
    assert body == (
        '{\n  "message": "Client did not request a supported media type",\n  "accept": [\n'
        '    "image/webp",\n    "image/svg+xml",\n    "image/jpeg",\n    "image/png",\n    "image/"\n'
        "  ]\n}\n"
    )


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("/status/foo", r"invalid status code: \"foo\": strconv.Atoi: parsing \"foo\": invalid syntax"),
        ("/status/600", "invalid status code: 600 not in range [100, 599]"),
        ("/status/3.14", r"invalid status code: \"3.14\": strconv.Atoi: parsing \"3.14\": invalid syntax"),
        ("/status/200:foo,500:1", r"invalid weight value: \"foo\""),
        ("/status/200,x", r"invalid choice value: \"x\""),
    ],
)
def test_status_errors(gobin: RunningWorkload, path: str, detail: str) -> None:
    head, _, body = curl_i("-i", f"http://127.0.0.1:{gobin.ports[8080]}{path}").partition("\r\n\r\n")
    assert head.splitlines()[0] == "HTTP/1.1 400 Bad Request"
    assert body == f'{{\n  "status_code": 400,\n  "error": "Bad Request",\n  "detail": "{detail}"\n}}\n'


def test_status_random_choice_among_codes(gobin: RunningWorkload) -> None:
    port = gobin.ports[8080]
    seen = {
        curl("-s", "-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{port}/status/200,418").stdout
        for _ in range(30)
    }
    assert seen == {"200", "418"}
    only = curl("-s", "-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{port}/status/503:1,200:0")
    assert only.stdout == "503"


@pytest.mark.parametrize("path", ["/status", "/status/", "/status/200/foo", "/nope"])
def test_unknown_paths_get_gos_404_page(gobin: RunningWorkload, path: str) -> None:
    raw = undated(get(gobin.ports[8080], path))
    assert raw == (
        "HTTP/1.1 404 Not Found\r\n" + CORS + "Content-Type: text/plain; charset=utf-8\r\n"
        "X-Content-Type-Options: nosniff\r\nDate: <date>\r\nContent-Length: 19\r\nConnection: close\r\n\r\n"
        "404 page not found\n"
    )


def test_wrong_method_is_405_with_allow(gobin: RunningWorkload) -> None:
    raw = undated(get(gobin.ports[8080], "/get", method="POST"))
    assert raw == (
        "HTTP/1.1 405 Method Not Allowed\r\n" + CORS + "Allow: GET, HEAD\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nDate: <date>\r\n"
        "Content-Length: 19\r\nConnection: close\r\n\r\nMethod Not Allowed\n"
    )


# ------------------------------------------------------------------------------------ JSON echo


def test_headers_json_is_gos_encoding(gobin: RunningWorkload) -> None:
    r = curl(
        "-s",
        "-H",
        "Host: httpbin.example.com",
        "-H",
        "User-Agent: curl/8.16.0",
        "-H",
        "x-b3-traceid: 80f198ee56343ba8",
        "-H",
        "X-Multi: a",
        "-H",
        "X-Multi: b",
        f"http://127.0.0.1:{gobin.ports[8080]}/headers",
    )
    assert r.stdout == (
        '{\n  "headers": {\n'
        '    "Accept": [\n      "*/*"\n    ],\n'
        '    "Host": [\n      "httpbin.example.com"\n    ],\n'
        '    "User-Agent": [\n      "curl/8.16.0"\n    ],\n'
        '    "X-B3-Traceid": [\n      "80f198ee56343ba8"\n    ],\n'
        '    "X-Multi": [\n      "a",\n      "b"\n    ]\n'
        "  }\n}\n"
    )


def test_get_echoes_args_origin_and_url(gobin: RunningWorkload) -> None:
    r = curl(
        "-s",
        "-H",
        "Host: httpbin.example.com",
        "-H",
        "User-Agent: t",
        "-H",
        "Accept:",
        "-H",
        "X-Forwarded-For: 10.244.0.7, 10.244.0.1",
        "-H",
        "X-Forwarded-Proto: https",
        f"http://127.0.0.1:{gobin.ports[8080]}/get?b=2&a=1&a=%3C%26%3E&flag",
    )
    assert r.stdout == (
        "{\n"
        '  "args": {\n    "a": [\n      "1",\n      "<&>"\n    ],\n    "b": [\n      "2"\n    ],\n'
        '    "flag": [\n      ""\n    ]\n  },\n'
        '  "headers": {\n    "Host": [\n      "httpbin.example.com"\n    ],\n'
        '    "User-Agent": [\n      "t"\n    ],\n'
        '    "X-Forwarded-For": [\n      "10.244.0.7, 10.244.0.1"\n    ],\n'
        '    "X-Forwarded-Proto": [\n      "https"\n    ]\n  },\n'
        '  "method": "GET",\n'
        '  "origin": "10.244.0.7",\n'
        '  "url": "https://httpbin.example.com/get?b=2&a=1&a=%3C%26%3E&flag"\n'
        "}\n"
    )


def test_origin_without_forwarded_for_is_peer_address(gobin: RunningWorkload) -> None:
    body = json.loads(curl("-s", f"http://127.0.0.1:{gobin.ports[8080]}/ip").stdout)
    assert re.fullmatch(r"127\.0\.0\.1:\d+", body["origin"])  # r.RemoteAddr keeps the port


def test_head_get_has_no_content_length(gobin: RunningWorkload) -> None:
    assert undated(curl_i("-I", f"http://127.0.0.1:{gobin.ports[8080]}/get")) == (
        "HTTP/1.1 200 OK\r\n" + CORS + "Content-Type: application/json; charset=utf-8\r\nDate: <date>\r\n\r\n"
    )


def test_anything_subpath_with_json_body(gobin: RunningWorkload) -> None:
    r = curl(
        "-s",
        "-H",
        "Host: h",
        "-H",
        "User-Agent: t",
        "-H",
        "Accept:",
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        '{"z": 1, "a": [1.5, 2e21, "\u2028"], "n": null}',
        f"http://127.0.0.1:{gobin.ports[8080]}/anything/a/b",
    )
    body = r.stdout
    # 44 bytes: U+2028 is three bytes of UTF-8
    assert body.startswith('{\n  "args": {},\n  "headers": {\n    "Content-Length": [\n      "44"\n    ],\n')
    assert body.endswith(
        '  "method": "POST",\n'
        f'  "origin": "{json.loads(body)["origin"]}",\n'
        '  "url": "http://h/anything/a/b",\n'
        '  "data": "{\\"z\\": 1, \\"a\\": [1.5, 2e21, \\"\\u2028\\"], \\"n\\": null}",\n'
        '  "files": {},\n  "form": {},\n'
        '  "json": {\n    "a": [\n      1.5,\n      2e+21,\n      "\\u2028"\n    ],\n'
        '    "n": null,\n    "z": 1\n  }\n}\n'
    )


def test_post_form_and_bad_json(gobin: RunningWorkload) -> None:
    port = gobin.ports[8080]
    form = json.loads(curl("-s", "-d", "x=1&x=2&y=a+b", f"http://127.0.0.1:{port}/post").stdout)
    assert form["form"] == {"x": ["1", "2"], "y": ["a b"]} and form["json"] is None
    assert form["data"] == "x=1&x=2&y=a+b"
    bad = curl_i("-i", "-H", "Content-Type: application/json", "-d", "{", f"http://127.0.0.1:{port}/post")
    assert bad.startswith("HTTP/1.1 400 Bad Request\r\n")
    assert bad.endswith('"detail": "error parsing request body: unexpected EOF"\n}\n')
    blob = json.loads(
        curl(
            "-s",
            "-H",
            "Content-Type: image/png",
            "--data-binary",
            "ab?",
            f"http://127.0.0.1:{port}/put",
            "-X",
            "PUT",
        ).stdout
    )
    assert blob["data"] == "data:image/png;base64,YWI_"


def test_delay_waits_then_echoes_with_server_timing(gobin: RunningWorkload) -> None:
    start = time.monotonic()
    out = curl_i("-i", f"http://127.0.0.1:{gobin.ports[8080]}/delay/1")
    assert time.monotonic() - start >= 1.0
    head, _, body = out.partition("\r\n\r\n")
    assert 'Server-Timing: initial_delay;dur=1000.00;desc="initial delay"' in head.splitlines()
    assert json.loads(body)["url"].endswith("/delay/1") and json.loads(body)["json"] is None


def test_delay_beyond_max_is_rejected(gobin: RunningWorkload) -> None:
    r = curl("-s", f"http://127.0.0.1:{gobin.ports[8080]}/delay/11")
    assert json.loads(r.stdout) == {
        "status_code": 400,
        "error": "Bad Request",
        "detail": "invalid duration: duration 11s longer than 10s",
    }
    r = curl("-s", f"http://127.0.0.1:{gobin.ports[8080]}/delay/abc")
    assert json.loads(r.stdout)["detail"] == (
        'invalid duration: strconv.ParseFloat: parsing "abc": invalid syntax'
    )


def test_response_headers_and_cookies(gobin: RunningWorkload) -> None:
    port = gobin.ports[8080]
    out = curl_i("-i", f"http://127.0.0.1:{port}/response-headers?freeform=hi&x-two=1&x-two=2")
    head, _, body = out.partition("\r\n\r\n")
    assert ["Freeform: hi", "X-Two: 1", "X-Two: 2"] == [h for h in head.splitlines() if h[:2] in ("Fr", "X-")]
    assert body == '{\n  "freeform": [\n    "hi"\n  ],\n  "x-two": [\n    "1",\n    "2"\n  ]\n}\n'
    r = curl("-s", "-H", "Cookie: b=2; a=1; bad name=3", f"http://127.0.0.1:{port}/cookies")
    assert r.stdout == '{\n  "a": "1",\n  "b": "2"\n}\n'
    out = curl_i("-i", f"http://127.0.0.1:{port}/cookies/set?k=v")
    assert "Set-Cookie: k=v; HttpOnly\r\n" in out and "Location: /cookies\r\n" in out


def test_redirect_chain(gobin: RunningWorkload) -> None:
    port = gobin.ports[8080]
    assert "Location: /relative-redirect/2\r\n" in get(port, "/redirect/3")
    assert "Location: /get\r\n" in get(port, "/redirect/1")
    assert "Location: http://httpbin.example.com/absolute-redirect/1\r\n" in get(
        port, "/redirect/2?absolute=true"
    )
    r = curl(
        "-s",
        "-L",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{num_redirects} %{url_effective}",
        f"http://127.0.0.1:{port}/redirect/3",
    )
    assert r.stdout == f"200 3 http://127.0.0.1:{port}/get"
    assert json.loads(curl("-s", f"http://127.0.0.1:{port}/redirect/0").stdout)["detail"] == (
        "redirect count must be > 0"
    )


def test_preflight_options(gobin: RunningWorkload) -> None:
    raw = undated(
        get(
            gobin.ports[8080],
            "/anything",
            "Origin: https://x.example",
            "Access-Control-Request-Headers: X-Test",
            method="OPTIONS",
        )
    )
    assert raw == (
        "HTTP/1.1 200 OK\r\nAccess-Control-Allow-Credentials: true\r\n"
        "Access-Control-Allow-Headers: X-Test\r\n"
        "Access-Control-Allow-Methods: GET, POST, HEAD, PUT, DELETE, PATCH, OPTIONS\r\n"
        "Access-Control-Allow-Origin: https://x.example\r\nAccess-Control-Max-Age: 3600\r\n"
        "Date: <date>\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )


def test_misc_endpoints(gobin: RunningWorkload) -> None:
    port = gobin.ports[8080]
    assert curl("-s", f"http://127.0.0.1:{port}/hostname").stdout == '{\n  "hostname": "go-httpbin"\n}\n'
    assert curl("-s", "-A", "ua/1", f"http://127.0.0.1:{port}/user-agent").stdout == (
        '{\n  "user-agent": "ua/1"\n}\n'
    )
    assert curl("-s", f"http://127.0.0.1:{port}/base64/aGVsbG8=").stdout == "hello"
    assert curl("-s", f"http://127.0.0.1:{port}/base64/encode/hi?").stdout == "aGk="
    assert curl("-s", "-u", "u:p", f"http://127.0.0.1:{port}/basic-auth/u/p").stdout == (
        '{\n  "authorized": true,\n  "user": "u"\n}\n'
    )
    assert re.fullmatch(
        r'\{\n  "uuid": "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"\n\}\n',
        curl("-s", f"http://127.0.0.1:{port}/uuid").stdout,
    )
    assert curl_i("-i", f"http://127.0.0.1:{port}/brotli").startswith("HTTP/1.1 501 Not Implemented\r\n")
    gz = curl("-s", "--compressed", f"http://127.0.0.1:{port}/gzip")
    assert json.loads(gz.stdout)["gzipped"] is True and json.loads(gz.stdout)["url"] == ""


# ------------------------------------------------------------------------------------ framing


def test_large_body_is_chunked_small_body_has_length(gobin: RunningWorkload) -> None:
    port = gobin.ports[8080]
    big = get(port, "/headers", *(f"X-Pad-{i}: {'v' * 60}" for i in range(30)))
    head, _, body = big.partition("\r\n\r\n")
    assert head.endswith("Connection: close\r\nTransfer-Encoding: chunked")
    assert "Content-Length" not in head
    size, _, rest = body.partition("\r\n")
    assert int(size, 16) == len(rest.encode()) - len("\r\n0\r\n\r\n") and rest.endswith("}\n\r\n0\r\n\r\n")
    assert int(size, 16) > 2048


def test_keep_alive_then_http10(gobin: RunningWorkload) -> None:
    port = gobin.ports[8080]
    two = b"GET /status/200 HTTP/1.1\r\nHost: a\r\n\r\nGET /status/418 HTTP/1.1\r\nHost: a\r\n\r\n"
    out = exchange(port, two, read_until_close=False).decode()
    assert out.count("HTTP/1.1 200 OK\r\n") == 1 and out.count("HTTP/1.1 418 I'm a teapot\r\n") == 1
    assert "Connection: close" not in out
    old = exchange(port, b"GET /status/418 HTTP/1.0\r\nHost: a\r\n\r\n").decode()
    assert old.startswith("HTTP/1.0 418 I'm a teapot\r\n") and "Connection:" not in old
    bad = exchange(port, b"GET /status/200 HTTP/1.1\r\n\r\n").decode()
    assert bad == (
        "HTTP/1.1 400 Bad Request: missing required Host header\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Connection: close\r\n\r\n400 Bad Request: missing required Host header"
    )


# ------------------------------------------------------------------------------------ the container


def test_request_log_lines(gobin: RunningWorkload) -> None:
    curl(
        "-s",
        "-A",
        "curl/8.16.0",
        "-H",
        "X-Forwarded-For: 10.244.0.9",
        f"http://127.0.0.1:{gobin.ports[8080]}/status/418?x=1",
    )
    lines = gobin.logs().splitlines()
    assert lines[0] == (f'time={lines[0][5:29]} level=INFO msg="go-httpbin listening on http://0.0.0.0:8080"')
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", lines[0][5:29])
    teapot = [ln for ln in lines if "/status/418?x=1" in ln][-1]
    assert re.fullmatch(
        r'time=\S+ level=WARN msg="418 GET /status/418\?x=1 \d+\.\dms" status=418 method=GET '
        r'uri="/status/418\?x=1" size_bytes=13 duration_ms=[0-9.e+-]+ user_agent=curl/8\.16\.0 '
        r"client_ip=10\.244\.0\.9",
        teapot,
    )


def test_port_env_and_closed_container_port(no_thread_leak: None) -> None:
    spec = WorkloadSpec("httpbin-x", "default", IMAGE, ports=(8080,), env={"PORT": "9090"})
    w = start_workload(spec)
    try:
        assert set(w.ports) == {8080, 9090}
        assert "go-httpbin listening on http://0.0.0.0:9090" in w.logs()
        ok = curl("-s", "-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{w.ports[9090]}/get")
        assert ok.stdout == "200"
        refused = curl("-s", f"http://127.0.0.1:{w.ports[8080]}/get")
        assert refused.returncode == 7
    finally:
        w.close()


def test_bad_port_crashes_like_the_program() -> None:
    w = start_workload(WorkloadSpec("httpbin-x", "default", IMAGE, ports=(8080,), env={"PORT": "http"}))
    assert w.status == "CrashLoopBackOff"
    assert w.message == 'error: invalid value "http" for env var PORT: parse error'
    assert w.logs() == w.message + "\n"
    w.close()


def test_close_ends_a_pending_delay_and_frees_everything(no_thread_leak: None) -> None:
    w = start_workload(WorkloadSpec("httpbin-y", "default", IMAGE, ports=(8080,)))
    port = w.ports[8080]
    result: dict[str, object] = {}
    t = threading.Thread(target=lambda: result.update(r=curl("-s", f"http://127.0.0.1:{port}/delay/10")))
    t.start()
    time.sleep(0.5)
    start = time.monotonic()
    w.close()
    assert time.monotonic() - start < 3
    t.join(timeout=10)
    assert port_is_closed(port)
    assert result["r"].returncode == 52  # type: ignore[attr-defined]  # closed with no response
