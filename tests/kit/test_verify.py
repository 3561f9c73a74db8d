"""Judging curl results, applied-state conditions, plain-words readings, and what nbval masks."""

from __future__ import annotations

import dataclasses

from gatewaykit._simulate import Result
from gatewaykit.backends.base import parse_curl_output
from gatewaykit.kit.course import sanitize_rules
from gatewaykit.kit.labs import Condition, Expect
from gatewaykit.kit.verify import (
    condition_holds,
    elided_match,
    judge,
    plain_words,
    summarize,
    tls_details,
)

HEAD_200 = (
    "HTTP/1.1 200 OK\r\nserver: istio-envoy\r\ndate: Mon, 29 Jan 2018 04:45:49 GMT\r\n"
    "content-type: text/html; charset=utf-8\r\ncontent-length: 0\r\nx-envoy-upstream-service-time: 48\r\n\r\n"
)


def result(stdout: str = "", stderr: str = "", code: int = 0, command: str = "curl -s -I http://x/"):
    return parse_curl_output(command, code, stdout, stderr)


def test_judge_status_headers_and_absence() -> None:
    r = result(HEAD_200)
    exp = Expect(
        status=200,
        http_version="1.1",
        reason="OK",
        headers=(("server", "istio-envoy"),),
        headers_present=("x-envoy-upstream-service-time",),
        headers_absent=("location",),
    )
    assert all(o.ok for o in judge(exp, r))
    bad = judge(Expect(status=404, headers_absent=("x-envoy-upstream-service-time",)), r)
    assert [o.ok for o in bad] == [False, False]
    assert str(bad[0]) == "✗ status 404 (got 200)"


def test_failure_and_exit_code() -> None:
    r = result(
        "",
        "curl: (56) OpenSSL SSL_read: error:0A00045C:SSL routines::"
        "tlsv13 alert certificate required, errno 0\n",
        56,
    )
    outs = judge(Expect(exit_code=56, failure=True, stderr_contains=("certificate required",), stdout=""), r)
    assert all(o.ok for o in outs)
    assert not judge(Expect(failure=True), result(HEAD_200))[0].ok


def test_elided_matching_like_istio_doc_tests() -> None:
    text = (
        "HTTP/1.1 301 Moved Permanently\nlocation: https://edition.cnn.com/politics\nx: y\n\n"
        "HTTP/2 200\nserver: z\n"
    )
    assert elided_match("HTTP/1.1 301 Moved Permanently\n...\nHTTP/2 200", text)
    assert elided_match("...\nlocation: https://edition.cnn.com/politics\n...", text)
    # verify.sh's __cmp_elided checks each block on its own: order is not checked ...
    assert elided_match("HTTP/2 200\n...\nHTTP/1.1 301 Moved Permanently", text)
    # ... nor line boundaries (curl -v prints "< HTTP/2 418"; the docs expect "HTTP/2 418") ...
    assert elided_match(
        "...\nHTTP/2 418\n...\nI'm a teapot!\n...", "< HTTP/2 418 \r\n< server: x\r\nI'm a teapot!"
    )
    # ... but a block's lines must follow each other, and every block must be there.
    assert not elided_match("x: y\nHTTP/2 200", text)
    assert not elided_match("HTTP/2 200\n...\nHTTP/2 404", text)


def test_logs_expectation_reads_the_workload_log() -> None:
    r = result(HEAD_200)
    logs = {"default/curl": '"GET /headers HTTP/1.1" 200 - outbound|80||httpbin.org'}
    ok = judge(Expect(log=(("default/curl", "outbound|80||httpbin.org"),)), r, logs.__getitem__)
    assert ok[0].ok
    assert not judge(Expect(log=(("default/curl", "outbound|443||x"),)), r, logs.__getitem__)[0].ok


def test_conditions_match_nested_lists_and_absence() -> None:
    gw = {
        "kind": "Gateway",
        "metadata": {"name": "mygateway", "namespace": "default"},
        "spec": {
            "servers": [
                {"port": {"number": 80, "protocol": "HTTP"}, "tls": {"httpsRedirect": True}},
                {"port": {"number": 443}, "tls": {"mode": "SIMPLE"}},
            ]
        },
    }
    redirect80 = Condition(
        "redirect",
        "Gateway",
        has={"spec": {"servers": [{"port": {"number": 80}, "tls": {"httpsRedirect": True}}]}},
    )
    redirect443 = Condition(
        "x", "Gateway", has={"spec": {"servers": [{"port": {"number": 443}, "tls": {"httpsRedirect": True}}]}}
    )
    assert condition_holds(redirect80, [gw])
    assert not condition_holds(redirect443, [gw])
    assert condition_holds(Condition("none", "Gateway", name="other", absent=True), [gw])
    assert not condition_holds(Condition("ns", "Gateway", namespace="istio-system"), [gw])
    secret = {
        "kind": "Secret",
        "metadata": {"name": "s", "namespace": "istio-system"},
        "data": {"cacert": "QUJD"},
    }
    assert condition_holds(Condition("ca", "Secret", has={"data": {"cacert": "<any>"}}), [secret])
    assert not condition_holds(Condition("ca", "Secret", has={"data": {"ca.crt": "<any>"}}), [secret])


def test_plain_words_readings() -> None:
    tls_cmd = 'curl -sS -HHost:httpbin.example.com --cacert ca.crt "https://$INGRESS_HOST:$SECURE_INGRESS_PORT/status/418"'
    no_sni = result(
        "",
        "curl: (35) OpenSSL SSL_connect: SSL_ERROR_SYSCALL in connection to 127.0.0.1:30443\n",
        35,
        tls_cmd,
    )
    assert "no SNI" in plain_words(no_sni) and plain_words(no_sni).startswith(
        "exit 35: the TLS handshake failed"
    )
    resolve_cmd = 'curl -s --resolve "x.example.com:$SECURE_INGRESS_PORT:$INGRESS_HOST" "https://x.example.com:$SECURE_INGRESS_PORT/"'
    no_chain = result("", "", 35, resolve_cmd)
    assert plain_words(no_chain) == (
        "exit 35: the TLS handshake failed -- the gateway has no filter chain for the SNI "
        "you sent (check the Gateway's hosts and --resolve), or its credential is missing."
    )
    wrong = result("", "curl: (35) error:0A00010B:SSL routines::wrong version number\n", 35)
    assert "plain HTTP" in plain_words(wrong)
    mutual = result(
        "",
        "* TLSv1.3 (IN), TLS alert, unknown (628):\n"
        "curl: (56) OpenSSL SSL_read: error:0A00045C:SSL routines::"
        "tlsv13 alert certificate required, errno 0\n",
        56,
    )
    assert "client certificate" in plain_words(mutual) and "--cert" in plain_words(mutual)
    refused = result(
        "", "curl: (7) Failed to connect to 127.0.0.1 port 31380 after 0 ms: Couldn't connect to server\n", 7
    )
    assert "connection refused" in plain_words(refused) and "selector" in plain_words(refused)
    assert "--cacert" in plain_words(
        result("", "curl: (60) SSL certificate problem: certificate signature failure\n", 60)
    )
    assert "resolve" in plain_words(result("", "curl: (6) Could not resolve host: foo.bar\n", 6))
    nr = result("HTTP/1.1 404 Not Found\r\nserver: istio-envoy\r\ncontent-length: 0\r\n\r\n")
    assert "no virtual host or route matched" in plain_words(nr)
    redirect = result(
        "HTTP/1.1 301 Moved Permanently\r\nlocation: https://httpbin.example.com/status/200\r\n"
        "server: istio-envoy\r\n\r\n"
    )
    assert "httpsRedirect" in plain_words(redirect)
    blocked = result("HTTP/1.1 502 Bad Gateway\r\nserver: envoy\r\ncontent-length: 0\r\n\r\n")
    assert "REGISTRY_ONLY" in plain_words(blocked)


def test_summary_shows_the_real_values() -> None:
    r = result(
        HEAD_200,
        command='curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/status/200"',
    )
    text = summarize(r)
    assert text.splitlines()[:4] == [
        '$ curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/status/200"',
        "HTTP/1.1 200 OK",
        "server: istio-envoy",
        "content-type: text/html; charset=utf-8",
    ]
    assert "x-envoy-upstream-service-time: 48" in text and "date" not in text
    err = result(
        "", "curl: (7) Failed to connect to 127.0.0.1 port 31380 after 3 ms: Couldn't connect to server\n", 7
    )
    # The learner reads curl's own line; masking is nbval's business (sanitize.cfg).
    assert "curl: (7) Failed to connect to 127.0.0.1 port 31380 after 3 ms: Couldn't connect to server" in (
        summarize(err)
    )


def _masked(text: str) -> str:
    for rx, repl in sanitize_rules():
        text = rx.sub(repl, text)
    return text


def test_sanitize_rules_mask_what_varies_between_runs() -> None:
    assert _masked('"X-Request-Id": "4f1e8a2c-1b2a-4c3d-9e8f-0123456789ab", "Host": "127.0.0.1:31380"') == (
        '"X-Request-Id": "<id>", "Host": "127.0.0.1:<port>"'
    )
    assert _masked("curl: (7) Failed to connect to 127.0.0.1 port 31380 after 3 ms: x") == (
        "curl: (7) Failed to connect to 127.0.0.1 port <port> after <n> ms: x"
    )
    assert _masked("export INGRESS_HOST=127.0.0.1\nexport SECURE_INGRESS_PORT=30443") == (
        "export INGRESS_HOST=127.0.0.1\nexport SECURE_INGRESS_PORT=<port>"
    )
    log = (
        '[2026-01-02T03:04:05.678Z] "GET /status/418 HTTP/2" 418 - via_upstream - "-" 0 135 4 3 "-" '
        '"curl/7.88.1" "4f1e8a2c-1b2a-4c3d-9e8f-0123456789ab" "httpbin.example.com" "10.244.0.5:8080" '
        "outbound|8000||httpbin.default.svc.cluster.local 10.244.0.3:41234 10.244.0.3:8443 127.0.0.1:51234"
    )
    assert _masked(log) == (
        '[<time>] "GET /status/418 HTTP/2" 418 - via_upstream - "-" 0 135 <ms> <ms> "-" "curl/7.88.1" '
        '"<id>" "httpbin.example.com" "10.244.0.5:8080" outbound|8000||httpbin.default.svc.cluster.local '
        "10.244.0.3:<port> 10.244.0.3:8443 127.0.0.1:<port>"
    )
    rsa = "curl: (35) OpenSSL SSL_connect: error:02000079:rsa routines::oaep decoding error"
    assert _masked(rsa).endswith("error:<code>:rsa routines::<signature check failed>")


def test_readings_of_tls_failures_name_their_cause() -> None:
    mismatch = result(
        "", "curl: (60) SSL: no alternative certificate subject name matches target host name 'x.com'\n", 60
    )
    assert plain_words(mismatch).startswith("exit 60: the server's certificate is not for the host name")
    cn = result("", "curl: (60) SSL: certificate subject name 'a.com' does not match target host name 'b'\n", 60)
    assert "not for the host name" in plain_words(cn)
    unknown_ca = result("", "curl: (60) SSL certificate problem: unable to get local issuer certificate\n", 60)
    assert "not signed by the CA you gave with --cacert" in plain_words(unknown_ca)
    # From a sidecar, REGISTRY_ONLY sends an unregistered host to the BlackHoleCluster (exit 35):
    # the reading names the sidecar and the registry, not the ingress gateway's hosts.
    blackhole = dataclasses.replace(
        result("", "curl: (35) OpenSSL SSL_connect: SSL_ERROR_SYSCALL in connection to www.google.com:443\n",
               35, "curl -sI https://www.google.com"),
        explanation=(("default/curl-5c9d-abcde", Result(cluster="BlackHoleCluster")),),
    )
    text = plain_words(blackhole, "default/curl")
    assert "BlackHoleCluster" in text and "REGISTRY_ONLY" in text and "--resolve" not in text
    ok = result("HTTP/1.1 200 OK\r\nserver: istio-envoy\r\nx-envoy-upstream-service-time: 3\r\n\r\n")
    assert plain_words(ok) == (
        "200: the proxy routed the request and the destination answered it (server: istio-envoy)."
    )


def test_tls_details_from_verbose_output() -> None:
    stderr = (
        "* SSL connection using TLSv1.3 / TLS_AES_256_GCM_SHA384\n"
        "* ALPN: server accepted h2\n"
        "* Server certificate:\n"
        "*  subject: CN=httpbin.example.com; O=httpbin organization\n"
        "*  issuer: O=example Inc.; CN=example.com\n"
    )
    d = tls_details(result("", stderr))
    assert d == {
        "protocol": "TLSv1.3",
        "cipher": "TLS_AES_256_GCM_SHA384",
        "alpn": "h2",
        "subject": "CN=httpbin.example.com; O=httpbin organization",
        "issuer": "O=example Inc.; CN=example.com",
    }
