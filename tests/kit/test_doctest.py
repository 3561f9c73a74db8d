"""istio.io's ``_verify_*`` semantics (tests/util/verify.sh), on outputs shaped like the task pages'."""

from __future__ import annotations

import pytest

from gatewaykit.kit.doctest import (
    VERIFIERS,
    expected_text,
    normalize_output,
    verifier,
    verify_contains,
    verify_elided,
    verify_failure,
    verify_first_line,
    verify_like,
    verify_lines,
    verify_not_contains,
    verify_regex,
    verify_same,
)

CURL_V = (
    "* Connected to httpbin.example.com (127.0.0.1) port 443\r\n"
    "> GET /status/418 HTTP/2\r\n"
    "< HTTP/2 418 \r\n"
    "< server: istio-envoy\r\n"
    "< x-more-info: http://tools.ietf.org/html/rfc2324\r\n"
    "<  \r\n"
    "I'm a teapot!\n\n"
)


def test_output_normalisation_is_seds() -> None:
    # $(...) drops trailing newlines; sed drops trailing [[:space:]] (\r included) on every line.
    assert normalize_output("a \r\nb\t \n  c\n\n\n") == "a\nb\n  c"
    assert normalize_output("\n\nx") == "\n\nx"  # leading newlines stay
    assert normalize_output("  \n \n") == ""


def test_expected_text_is_read_d() -> None:
    # IFS=$'\n' read -r -d '': only newlines are trimmed, and only at both ends.
    assert expected_text("\n\n  kept  \n\t tab\n\n") == "  kept  \n\t tab"


def test_same() -> None:
    assert verify_same("one hello\r\n", "one hello")
    assert verify_same("200\n", "200", exit_code=28)  # the exit code does not matter
    assert not verify_same(" one hello", "one hello")
    assert not verify_same("one hello", "one hello\n")


def test_contains_and_not_contains() -> None:
    assert verify_contains(CURL_V, "HTTP/2 418")
    assert verify_contains(CURL_V, "teapot!\n") is False  # the output's trailing newlines are gone
    assert verify_contains("x\r\ny", "x\ny")  # \r removed before comparing
    assert verify_not_contains("HTTP/1.1 200 OK", "301 Moved Permanently")
    assert not verify_not_contains("HTTP/1.1 301 Moved Permanently", "301 Moved Permanently")
    # failonerr: a failing command never satisfies "does not contain"
    assert not verify_not_contains("", "301 Moved Permanently", exit_code=7)


def test_elided_blocks_are_unanchored_unordered_substrings() -> None:
    # secure-ingress snip_..._7_out against curl -v output (stderr merged): "< HTTP/2 418 " contains it.
    assert verify_elided(CURL_V, "...\nHTTP/2 418\n...\nI'm a teapot!\n...")
    assert verify_elided(CURL_V, "I'm a teapot!\n...\nHTTP/2 418")  # order is not checked
    assert verify_elided(CURL_V, "server: istio-envoy\n< x-more-info")  # a block spans lines
    assert not verify_elided(CURL_V, "server: istio-envoy\nx-more-info")  # ... contiguously
    assert not verify_elided(CURL_V, "...\nHTTP/2 418\n...\nHTTP/1.1 200 OK\n...")
    assert verify_elided(CURL_V, "  ...  \n\n\nHTTP/2 418\n\t...")  # padded "..."; leading blanks dropped
    assert verify_elided("anything", "...\n...")  # only elisions: nothing to find


def test_like_allows_what_changes_between_runs() -> None:
    expected = (
        "NAME                                    READY   STATUS    RESTARTS   AGE\n"
        "istio-ingressgateway-7f7bd9c6c4-f5qkx   1/1     Running   0          17h\n"
        "EXTERNAL 130.211.10.121 1.27.1 2024-04-17 22:14:45.964722028 ..."
    )
    output = (
        "NAME   READY   STATUS    RESTARTS   AGE\n"
        "  istio-ingressgateway-5c8d9f7b6d-x2k4q   1/1   Running   0   2m30s  \n"
        "EXTERNAL 127.0.0.1 1.26.0 2026-12-04 7:05:09.1 whatever"
    )
    assert verify_like(output, expected)
    assert not verify_like(output.replace("Running", "Pending"), expected)
    assert not verify_like(output + "\nextra line", expected)
    assert not verify_like(output.replace("1/1   Running", "1/1"), expected)  # token count
    # An IP expected: <pending>/<none> only when CMP_MATCH_IP_PENDING/NONE say so.
    svc_e = "istio-ingressgateway   LoadBalancer   10.96.1.2   130.211.10.121   ...   17h"
    svc_o = "istio-ingressgateway   LoadBalancer   10.96.0.9   <pending>   80:31380/TCP   5s"
    assert not verify_like(svc_o, svc_e)
    assert verify_like(svc_o, svc_e, match_ip_pending=True)
    # Generated names compare by their "word-" prefix -- even two different gateways do.
    assert verify_like("istio-egressgateway", "istio-ingressgateway")
    assert not verify_like("httpbin", "helloworld")


def test_first_line() -> None:
    assert verify_first_line("HTTP/1.1 200 OK\r\nserver: istio-envoy", "HTTP/1.1 200 OK\n...")
    assert verify_first_line("\rHTTP/1.1 200 OK", "HTTP/1.1 200 OK")
    assert not verify_first_line("HTTP/1.1 404 Not Found\nHTTP/1.1 200 OK", "HTTP/1.1 200 OK")


def test_lines_plus_and_minus() -> None:
    out = "outbound|80||httpbin.org\noutbound|443||www.google.com"
    assert verify_lines(out, "+ outbound|80||httpbin.org\n- outbound|80||edition.cnn.com\nother text")
    assert not verify_lines(out, "+ outbound|80||edition.cnn.com")
    assert not verify_lines(out, "- www.google.com")


def test_regex_and_failure() -> None:
    assert verify_regex("one hello\n", r"^one h.llo$")
    assert not verify_regex("two hello", r"^one")
    assert verify_failure("curl: (35) ...", exit_code=35)
    assert not verify_failure("", exit_code=0)


@pytest.mark.parametrize("name", ["elided", "_verify_elided", "verify_elided", " elided "])
def test_verifier_names(name: str) -> None:
    assert verifier(name) is verify_elided


def test_unknown_verifier_lists_the_known_ones() -> None:
    with pytest.raises(KeyError, match="unknown verifier 'fuzzy'; known: same, contains, not_contains"):
        verifier("fuzzy")
    assert set(VERIFIERS) == {
        "same",
        "contains",
        "not_contains",
        "elided",
        "regex",
        "first_line",
        "like",
        "lines",
        "failure",
    }
