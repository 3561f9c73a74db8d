"""Judging outcomes: probe expectations, applied-state conditions, plain-words readings.

Output checks use Istio's doc-test verifiers (``tests/util/verify.sh`` in istio/istio.io) with
their exact semantics, from :mod:`gatewaykit.kit.doctest`: ``stdout`` is ``_verify_same`` (after
verify.sh's normalisation: trailing blanks and newlines go), ``stdout_contains`` is
``_verify_contains``, ``stdout_not_contains`` is ``_verify_not_contains`` (which also wants exit 0),
``stdout_elided``/``body_elided`` are ``_verify_elided`` (each block between ``...`` lines must be a
substring; blocks are not anchored to lines and not ordered) and ``failure`` is ``_verify_failure``.
Everything here is pure: it judges a :class:`~gatewaykit.backends.base.CurlResult` that a backend
produced. Texts are the real values (ports, dates, ids): masking volatile parts is for the outputs
nbval compares only (``notebooks/sanitize.cfg``); a learner sees what curl printed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gatewaykit.backends.base import CurlResult
from gatewaykit.kit import doctest
from gatewaykit.kit.labs import Condition, Expect

__all__ = [
    "Outcome",
    "condition_holds",
    "elided_match",
    "judge",
    "plain_words",
    "summarize",
    "tls_details",
]


@dataclass(frozen=True, slots=True)
class Outcome:
    """One judged expectation: ``ok``, what was expected and what was seen."""

    ok: bool
    what: str
    seen: str = ""

    def __str__(self) -> str:
        mark = "✓" if self.ok else "✗"
        if self.ok or not self.seen:
            return f"{mark} {self.what}"
        return (
            f"{mark} {self.what} ({self.seen})"
            if self.seen.startswith("expected ")
            else f"{mark} {self.what} (got {self.seen})"
        )


# --------------------------------------------------------------------------------------------
# Matching


def elided_match(expected: str, actual: str) -> bool:
    """``_verify_elided``: each block of ``expected`` between ``...`` lines is a substring of ``actual``.

    istio.io's semantics (:func:`gatewaykit.kit.doctest.verify_elided`): ``actual`` is normalised as
    verify.sh normalises command output; blocks are matched anywhere, in any order.
    """
    return doctest.verify_elided(actual, doctest.expected_text(expected))


def _short(text: str | None, limit: int = 60) -> str:
    if text is None:
        return "nothing"
    t = text.replace("\n", "⏎")
    return repr(t if len(t) <= limit else t[:limit] + "…")


def judge(
    expect: Expect,
    result: CurlResult,
    logs: Callable[[str], str] | None = None,
) -> tuple[Outcome, ...]:
    """Judge ``result`` against ``expect``; one :class:`Outcome` per expected property.

    Args:
        expect: the probe's expectation.
        result: what curl did.
        logs: returns a workload's access log (``backend.logs``), for ``log:`` expectations.
    """
    out: list[Outcome] = []
    r = result
    if expect.exit_code is not None:
        out.append(
            Outcome(r.exit_code == expect.exit_code, f"exit code {expect.exit_code}", str(r.exit_code))
        )
    if expect.failure is not None:
        failed = doctest.verify_failure(r.stdout, "", r.exit_code)
        out.append(
            Outcome(
                failed == expect.failure,
                "curl fails (non-zero exit)" if expect.failure else "curl succeeds",
                f"exit code {r.exit_code}",
            )
        )
    if expect.status is not None:
        out.append(Outcome(r.status == expect.status, f"status {expect.status}", str(r.status)))
    if expect.http_version is not None:
        out.append(
            Outcome(
                r.http_version == expect.http_version, f"HTTP/{expect.http_version}", f"HTTP/{r.http_version}"
            )
        )
    if expect.reason is not None:
        out.append(Outcome(r.reason == expect.reason, f"reason {expect.reason!r}", repr(r.reason)))
    headers = {k.lower(): v for k, v in r.headers.items()}
    for name, value in expect.headers:
        got = headers.get(name)
        out.append(Outcome(got == value, f"{name}: {value}", _short(got)))
    for name, value in expect.headers_contain:
        got = headers.get(name)
        out.append(Outcome(got is not None and value in got, f"{name} contains {value!r}", _short(got)))
    for name in expect.headers_present:
        out.append(Outcome(name in headers, f"header {name} present", "absent"))
    for name in expect.headers_absent:
        out.append(Outcome(name not in headers, f"no {name} header", _short(headers.get(name))))
    body = r.body if r.body is not None else ""
    if expect.body is not None:
        out.append(
            Outcome(
                body == expect.body, "body " + (repr(expect.body) if expect.body else "empty"), _short(body)
            )
        )
    for frag in expect.body_contains:
        out.append(Outcome(frag in body, f"body contains {frag!r}", _short(body)))
    if expect.body_elided is not None:
        out.append(Outcome(elided_match(expect.body_elided, body), "body matches (elided)", _short(body)))
    if expect.stdout is not None:
        ok = doctest.verify_same(r.stdout, doctest.expected_text(expect.stdout), r.exit_code)
        out.append(
            Outcome(ok, "output " + (repr(expect.stdout) if expect.stdout else "empty"), _short(r.stdout))
        )
    for frag in expect.stdout_contains:
        ok = doctest.verify_contains(r.stdout, frag, r.exit_code)
        out.append(Outcome(ok, f"output contains {frag!r}", _short(r.stdout)))
    for frag in expect.stdout_not_contains:
        ok = doctest.verify_not_contains(r.stdout, frag, r.exit_code)
        seen = "present" if frag in r.stdout else f"exit code {r.exit_code}"
        out.append(Outcome(ok, f"output lacks {frag!r}", seen))
    if expect.stdout_elided is not None:
        out.append(
            Outcome(elided_match(expect.stdout_elided, r.stdout), "output matches (elided)", _short(r.stdout))
        )
    out += _doc_verifiers(expect, r)
    for frag in expect.stderr_contains:
        out.append(Outcome(frag in r.stderr, f"curl says {frag!r}", _short(_last_error(r.stderr))))
    for workload, frag in expect.log:
        text = logs(workload) if logs else ""
        out.append(Outcome(frag in text, f"{workload} access log shows {frag!r}", "not found"))
    return tuple(out)


#: istio.io's other verifiers (tests/util/verify.sh), by the Expect field that names them.
_VERIFIER_FIELDS = (
    ("stdout_like", "like", "output looks like"),
    ("stdout_lines", "lines", "output lines"),
    ("stdout_regex", "regex", "output matches"),
    ("stdout_first_line", "first_line", "first line"),
)


def _doc_verifiers(expect: Expect, r: CurlResult) -> list[Outcome]:
    out = []
    for field_name, verifier, what in _VERIFIER_FIELDS:
        expected = getattr(expect, field_name)
        if expected is None:
            continue
        ok = doctest.verifier(verifier)(r.stdout, doctest.expected_text(expected), r.exit_code)
        out.append(Outcome(ok, f"{what} {expected!r}", _short(r.stdout)))
    return out


#: A pattern value that matches anything present (``has: {data: {cacert: <any>}}``).
ANY = "<any>"


def _matches(pattern: Any, value: Any) -> bool:
    if pattern == ANY:
        return value is not None
    if isinstance(pattern, Mapping):
        return isinstance(value, Mapping) and all(
            k in value and _matches(v, value[k]) for k, v in pattern.items()
        )
    if isinstance(pattern, list):
        return isinstance(value, list) and all(any(_matches(p, v) for v in value) for p in pattern)
    if pattern == value:
        return True
    # YAML authors write 80 or "80", true or "true": compare scalars by text.
    return not isinstance(value, (Mapping, list)) and str(pattern).lower() == str(value).lower()


def condition_holds(condition: Condition, objects: Iterable[Mapping[str, Any]]) -> bool:
    """Whether ``condition`` holds over the applied objects (their manifests as dicts)."""
    found = False
    for obj in objects:
        if obj.get("kind") != condition.kind:
            continue
        meta = obj.get("metadata") or {}
        if condition.namespace is not None and (meta.get("namespace") or "default") != condition.namespace:
            continue
        if condition.name is not None and meta.get("name") != condition.name:
            continue
        if condition.has is None or _matches(condition.has, obj):
            found = True
            break
    return found != condition.absent


# --------------------------------------------------------------------------------------------
# Reading results in plain words


def _last_error(stderr: str) -> str | None:
    for line in reversed(stderr.splitlines()):
        if line.startswith("curl: ("):
            return line
    return None


def _clusters(result: CurlResult) -> list[str]:
    """The clusters the request was sent to, proxy by proxy (empty where the backend cannot tell)."""
    return [hop.cluster for _, hop in result.explanation if hop.cluster]


def _http_reading(r: CurlResult) -> str:
    """A response was received: who made it and what it means (local replies: docs/behaviour.md §1.4)."""
    server = r.headers.get("server", "")
    upstream = "x-envoy-upstream-service-time" in r.headers
    body = (r.body or "").strip()
    status = r.status or 0
    if status == 301 and r.headers.get("location", "").startswith("https://"):
        return (
            "301: the gateway redirects plain HTTP to HTTPS itself (tls.httpsRedirect), "
            f"to {r.headers['location']}."
        )
    if status == 404 and not upstream and server in ("istio-envoy", "envoy"):
        return (
            "404 from the proxy itself (Envoy NR): no virtual host or route matched this Host header "
            "and path -- check the Gateway's hosts and the VirtualService bound to it."
        )
    if status == 503 and body == "no healthy upstream":
        return "503 no healthy upstream: the route found its service, but it has no ready endpoints."
    if status == 503 and not body and not upstream:
        return (
            "503 with an empty body (Envoy NC): the route points at a destination that does not exist "
            "-- an unknown host or an undefined subset."
        )
    if status == 503 and body.startswith("upstream connect error"):
        return "503: the proxy could not connect to the destination (connection refused or reset)."
    if status == 502 and not body and server == "envoy":
        return (
            "502 with an empty body from the sidecar: outboundTrafficPolicy is REGISTRY_ONLY and this "
            "host is not in the service registry (add a ServiceEntry)."
        )
    if status == 504 and body == "upstream request timeout":
        return "504: the route's timeout expired before the destination answered."
    if 200 <= status < 400:
        who = f" (server: {server})" if server else ""
        if upstream:
            return f"{status}: the proxy routed the request and the destination answered it{who}."
        return f"{status}: the destination answered{who}; no Envoy proxy timed an upstream on the way."
    return f"{status}: the destination (or a proxy) answered with this status."


#: Exit codes whose reading does not depend on the details (docs/behaviour.md §1.6).
_EXIT_READINGS: dict[int, str] = {
    3: "exit 3: the URL is malformed -- check the quoting and the $VARS.",
    6: (
        "exit 6: the host name does not resolve -- inside the mesh only cluster Services and "
        "ServiceEntry hosts have DNS names."
    ),
    7: (
        "exit 7: connection refused -- nothing listens on that port: no Gateway server uses it, "
        "or the Gateway's selector matches no gateway workload."
    ),
    28: "exit 28: curl gave up waiting (timeout); a TCP stream stays open until one side closes it.",
    52: "exit 52: the server closed the connection without replying.",
    58: "exit 58: curl could not use your client certificate or key file -- check the --cert/--key paths.",
    77: (
        "exit 77: curl could not read the --cacert file -- check the path (relative to the lab's "
        "working folder)."
    ),
}


def _exit_35(r: CurlResult, source: str | None) -> str:
    err, cmd = r.stderr.lower(), r.command
    head = "exit 35: the TLS handshake failed -- "
    if "rsa routines" in err or "block type is not 01" in err or "bad signature" in err:
        return head + (
            "the server's certificate does not verify with the CA you gave with --cacert: another CA "
            "(with the same name) signed it, e.g. after a rotation."
        )
    if "wrong version number" in err:
        return head + "you sent TLS to a port that speaks plain HTTP (or TLS was added twice)."
    if source is not None:
        if "BlackHoleCluster" in _clusters(r):
            return head + (
                f"the sidecar of {source} sent the connection to the BlackHoleCluster and closed it: "
                "outboundTrafficPolicy is REGISTRY_ONLY and this host is not in the service registry "
                "(add a ServiceEntry)."
            )
        return head + f"the connection from {source} was closed by a proxy on the way (see Explain)."
    if re.search(r"https://(\$INGRESS_HOST|\d+\.\d+\.\d+\.\d+)", cmd) and "--resolve" not in cmd:
        return head + (
            "curl sent no SNI because the URL has an IP address; use --resolve so the SNI names the "
            "host the Gateway serves."
        )
    if "--cert" not in cmd and "alert" in err and "handshake failure" in err:
        return head + "the gateway requires a client certificate (MUTUAL): pass --cert and --key."
    return head + (
        "the gateway has no filter chain for the SNI you sent (check the Gateway's hosts and "
        "--resolve), or its credential is missing."
    )


def _exit_56(r: CurlResult) -> str:
    err = r.stderr.lower()
    if "certificate required" in err:
        return (
            "exit 56: the gateway asked for a client certificate and you sent none (tls.mode MUTUAL): "
            "pass --cert and --key."
        )
    if "unknown ca" in err or "bad certificate" in err or "certificate unknown" in err:
        return "exit 56: the gateway rejected your client certificate: it is not signed by the CA it trusts."
    if "reset by peer" in err:
        return "exit 56: the connection was reset -- often plain HTTP sent to a TLS port."
    return "exit 56: receiving data failed -- the peer aborted the connection (often a TLS alert)."


def _exit_60(r: CurlResult) -> str:
    err = r.stderr.lower()
    if "does not match target host" in err or "no alternative certificate subject name" in err:
        return (
            "exit 60: the server's certificate is not for the host name in the URL -- its subject/SAN "
            "names another host: check the URL's host and --resolve."
        )
    if "expired" in err:
        return "exit 60: the server's certificate has expired."
    return (
        "exit 60: the server's certificate is not signed by the CA you gave with --cacert "
        "(after a rotation, use the new CA)."
    )


def plain_words(result: CurlResult, source: str | None = None) -> str:
    """One sentence saying what a result means, the way an instructor would read it.

    Args:
        result: what curl did (with the proxies' paths when the backend knows them).
        source: the mesh workload the command ran in, or None (the learner's machine).

    The readings follow docs/behaviour.md §1.4 (local replies) and §1.6 (curl exit codes).
    """
    r = result
    code = r.exit_code
    if code == 0:
        return _http_reading(r) if r.status is not None else "curl succeeded."
    if code in _EXIT_READINGS:
        return _EXIT_READINGS[code]
    if code == 35:
        return _exit_35(r, source)
    if code == 56:
        return _exit_56(r)
    if code == 60:
        return _exit_60(r)
    if code == -1:
        return "the command could not run: " + (r.stderr.strip().splitlines() or ["unknown reason"])[-1]
    return f"exit {code}: curl failed."


# --------------------------------------------------------------------------------------------
# Summaries and TLS details


#: Response headers shown in summaries: the ones the lessons are about, none that vary run to run.
SHOWN_HEADERS = ("server", "location", "content-type")


def tls_details(result: CurlResult) -> dict[str, str]:
    """TLS facts from curl's ``-v`` output: protocol, cipher, ALPN, certificate subject and issuer."""
    out: dict[str, str] = {}
    for raw in result.stderr.splitlines():
        line = raw.lstrip("* ").strip()
        m = re.match(r"SSL connection using (\S+) / (\S+)", line)
        if m:
            out["protocol"], out["cipher"] = m.group(1), m.group(2)
        m = re.match(r"ALPN(?:, server accepted to use|: server accepted) (\S+)", line)
        if m:
            out["alpn"] = m.group(1)
        if line.startswith("subject:"):
            out["subject"] = line.split(":", 1)[1].strip()
        if line.startswith("issuer:"):
            out["issuer"] = line.split(":", 1)[1].strip()
    return out


def body_excerpt(body: str | None, max_lines: int = 8, max_chars: int = 400) -> str:
    """The first lines of a body, pretty-printed when JSON."""
    if not body:
        return ""
    text = body
    try:
        text = json.dumps(json.loads(body), indent=2, sort_keys=True)
    except ValueError:
        pass
    lines = text.rstrip("\n").split("\n")
    out = "\n".join(lines[:max_lines])
    if len(out) > max_chars:
        out = out[:max_chars] + "…"
    elif len(lines) > max_lines:
        out += "\n…"
    return out


def summarize(
    result: CurlResult, *, command: str | None = None, body_lines: int = 8, source: str | None = None
) -> str:
    """A readable text for a curl result (what notebooks print; nbval compares it sanitized).

    Shows the command as written, the status line, the headers the lessons are about
    (:data:`SHOWN_HEADERS`, plus ``x-envoy-upstream-service-time`` when present), a body excerpt,
    curl's error line, and the exit code with a plain-words reading -- all with their real values.
    """
    r = result
    lines = [f"$ {command or r.command}"]
    if r.status_line:
        lines.append(r.status_line)
        for name in SHOWN_HEADERS:
            if name in r.headers:
                lines.append(f"{name}: {r.headers[name]}")
        if r.headers.get("content-length") == "0":
            lines.append("content-length: 0")
        if "x-envoy-upstream-service-time" in r.headers:
            lines.append(f"x-envoy-upstream-service-time: {r.headers['x-envoy-upstream-service-time']}")
        excerpt = body_excerpt(r.body, body_lines)
        if excerpt:
            lines.append("")
            lines.append(excerpt)
    elif r.stdout.strip():
        lines.append(body_excerpt(r.stdout, body_lines))
    err = _last_error(r.stderr)
    if err:
        lines.append(err)
    lines.append(f"exit code {r.exit_code} -- {plain_words(r, source)}")
    return "\n".join(lines)
