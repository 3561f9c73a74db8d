"""Reading what curl printed: the response head of ``curl -v`` when its progress meter shares the line."""

from __future__ import annotations

from gatewaykit.backends.base import parse_curl_output

# Real curl 7.88.1 stderr (abridged between the request and the head), captured from the secure
# ingress task's `curl -v ... https://httpbin.example.com:$SECURE_INGRESS_PORT/status/418` when the
# wall clock's second changed while the request was in flight: curl (lib/progress.c) redraws its
# progress meter after a "\r" and the verbose head follows on the same terminal line.
STDERR_METER_BEFORE_HEAD = (
    "* Added httpbin.example.com:31631:127.0.0.1 to DNS cache\n"
    "* Hostname httpbin.example.com was found in DNS cache\n"
    "  % Total    % Received % Xferd  Average Speed   Time    Time     Time  Current\n"
    "                                 Dload  Upload   Total   Spent    Left  Speed\n"
    "\r  0     0    0     0    0     0      0      0 --:--:-- --:--:-- --:--:--     0"
    "*   Trying 127.0.0.1:31631...\n"
    "* ALPN: server accepted h2\n"
    "> GET /status/418 HTTP/2\r\n> Host:httpbin.example.com\r\n> user-agent: curl/7.88.1\r\n"
    "> accept: */*\r\n> \r\n"
    "{ [5 bytes data]\n"
    "\r  0     0    0     0    0     0      0      0 --:--:-- --:--:-- --:--:--     0"
    "< HTTP/2 418 \r\n"
    "< server: istio-envoy\r\n"
    "< x-more-info: http://tools.ietf.org/html/rfc2324\r\n"
    "< content-length: 135\r\n"
    "< x-envoy-upstream-service-time: 6\r\n"
    "< \r\n"
    "{ [5 bytes data]\n"
    "\r100   135  100   135    0     0  12184      0 --:--:-- --:--:-- --:--:-- 11250\n"
    "* Connection #0 to host httpbin.example.com left intact\n"
)


def test_verbose_head_after_the_progress_meter_is_read() -> None:
    r = parse_curl_output("curl -v https://x/status/418", 0, "teapot", STDERR_METER_BEFORE_HEAD)
    assert r.status_line == "HTTP/2 418"
    assert r.headers["server"] == "istio-envoy"
    assert r.headers["x-envoy-upstream-service-time"] == "6"
    assert r.body == "teapot"


def test_meter_with_sizes_and_times_in_other_units_is_recognised() -> None:
    # max5data() switches to k/M suffixes and time2str() to h:mm:ss once a transfer grows.
    stderr = (
        "\r 42 12.3M   42 5312k    0     0  1024k      0  0:00:12  0:00:05  0:00:07 1100k"
        "< HTTP/1.1 200 OK\r\n< server: istio-envoy\r\n< \r\n"
    )
    r = parse_curl_output("curl -v http://x/", 0, "", stderr)
    assert r.status_line == "HTTP/1.1 200 OK"


def test_a_head_line_without_a_meter_is_unchanged() -> None:
    stderr = "< HTTP/1.1 404 Not Found\r\n< server: istio-envoy\r\n< \r\n"
    r = parse_curl_output("curl -v http://x/", 0, "", stderr)
    assert r.status_line == "HTTP/1.1 404 Not Found"
