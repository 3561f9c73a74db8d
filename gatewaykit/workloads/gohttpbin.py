"""A stand-in for go-httpbin v2.15.0 (``docker.io/mccutchen/go-httpbin``), Istio 1.24+'s httpbin sample.

go-httpbin is a Go program; it cannot be installed here (only PyPI, Debian and npm are reachable),
so this module plays it: the handlers of ``httpbin/handlers.go`` at tag v2.15.0 with their exact
bodies, headers and JSON shapes, behind the same middleware (``httpbin.go`` ``Handler``: CORS
``preflight``, ``autohead``, ``limitRequestSize``, the ``observe`` request log), with its
``helpers.go`` in :mod:`._gohttpbin_helpers`, and Go's ``net/http`` server (:mod:`._gohttp`).
What a learner sees through Istio's tasks is byte for byte the real program's:

* ``/status/418`` -> ``418 I'm a teapot``, body ``I'm a teapot!``, ``X-More-Info`` header;
  ``/status/200`` -> empty ``text/plain; charset=utf-8`` body; ``/status/200,418`` a random pick
  (``200:0.7,503:0.3`` weighted); a bad code gives go-httpbin's JSON error;
* ``/headers``, ``/get``, ``/anything[/...]``, ``/post`` ..., ``/delay/N``: JSON written by Go's
  ``encoding/json`` with a two-space indent -- header values are lists, keys sorted, ``origin`` is
  the first ``X-Forwarded-For`` entry or the peer ``ip:port``;
* ``/ip``, ``/user-agent``, ``/response-headers``, ``/cookies[/set|/delete]``, ``/redirect/N``
  (``Location: /relative-redirect/N-1``, then ``/get``), ``/absolute-redirect/N``,
  ``/redirect-to``, ``/basic-auth``, ``/bearer``, ``/hostname``, ``/uuid``, ``/cache``,
  ``/base64``, ``/gzip``, ``/deflate``, ``/stream/N``, ``/bytes/N``, ``/links``, ``/unstable``,
  ``/dump/request``, ``/robots.txt``, ``/deny``; unknown paths get Go's ``404 page not found``,
  a wrong method ``405 Method Not Allowed`` with ``Allow``;
* the container log has go-httpbin's ``log/slog`` lines (``time=... level=INFO msg="go-httpbin
  listening on http://0.0.0.0:8080"``, then one ``msg="200 GET /get 0.1ms" status=200 ...`` line
  per request; ``LOG_FORMAT=json`` switches to JSON lines).

Configuration as ``cmd/cmd.go`` reads it: ``-port``/``PORT`` (default 8080), ``-log-format``/
``LOG_FORMAT``, ``-max-duration``/``MAX_DURATION`` (10s), ``-max-body-size``/``MAX_BODY_SIZE``
(1 MiB), ``-exclude-headers``/``EXCLUDE_HEADERS``, ``-use-real-hostname``/``USE_REAL_HOSTNAME``
(the pod name). A bad value makes the container exit 2 (CrashLoopBackOff) with go-httpbin's message.

Not reproduced: ``/`` serves a short page of our own (the real one is a 13 KB manual page; headers
and framing are the same); random data (``/bytes``, ``/unstable``, weighted ``/status``) does not
follow Go's ``math/rand`` sequence for a given ``seed``; gzip/deflate bytes come from zlib, not Go's
compressor; endpoints that stream over time or serve static assets (``/drip``, ``/sse``,
``/range``, ``/etag``, ``/trailers``, ``/image``, ``/json``, ``/xml``, ``/html``,
``/encoding/utf8``, ``/forms/post``, ``/digest-auth``, ``/websocket/echo``, ``/stream-bytes``)
answer 501 with go-httpbin's error shape and a detail saying so.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import gzip
import hashlib
import random
import threading
import time
import uuid
import zlib
from collections.abc import Callable
from typing import Any

from gatewaykit._gofmt import quote
from gatewaykit.workloads._gohttp import GoPanic, GoRequest, GoResponse, serve_go_connection, status_text
from gatewaykit.workloads._gohttpbin_helpers import (
    BINARY_CT,
    HTML_CT,
    JSON_CT,
    TEXT_CT,
    basic_auth,
    client_ip,
    cookies,
    decode_json,
    do_redirect,
    http_error,
    parse_bounded_duration,
    parse_multipart,
    parse_query,
    parse_status,
    request_url,
    set_cookie_value,
    unescape,
    weighted_choice,
    wildcard_regex,
    write_error,
    write_json,
    write_response,
)
from gatewaykit.workloads._golang import (
    GoError,
    GoMap,
    json_encode,
    parse_duration,
    parse_float,
    parse_int,
    slog_line,
)
from gatewaykit.workloads.base import (
    LogBuffer,
    RunningWorkload,
    ServerHandle,
    ThreadedTCPServer,
    WorkloadSpec,
)

__all__ = ["GoHttpbin", "start_gohttpbin"]


DEFAULT_PORT = 8080
DEFAULT_MAX_BODY = 1024 * 1024
DEFAULT_MAX_DURATION = 10 * 10**9  # ns

_NOT_SERVED = "not served by gatewaykit's go-httpbin stand-in"


# --------------------------------------------------------------------------- request helpers


# --------------------------------------------------------------------------- response helpers


def _special_statuses() -> dict[int, tuple[dict[str, str], bytes | None]]:
    """handlers.go createSpecialCases: headers and bodies of /status/N (no prefix)."""
    redirect = {"Location": "/redirect/1"}
    page300 = (
        "<!doctype html>\n<head>\n<title>Multiple Choices</title>\n</head>\n<body>\n<ul>\n"
        '<li><a href="/image/jpeg">/image/jpeg</a></li>\n<li><a href="/image/png">/image/png</a></li>\n'
        '<li><a href="/image/svg">/image/svg</a></li>\n</body>\n</html>'
    )
    page308 = (
        "<!doctype html>\n<head>\n<title>Permanent Redirect</title>\n</head>\n"
        '<body>Permanently redirected to <a href="/image/jpeg">/image/jpeg</a>\n</body>\n</html>'
    )
    not_acceptable = json_encode(
        {
            "message": "Client did not request a supported media type",
            "accept": ["image/webp", "image/svg+xml", "image/jpeg", "image/png", "image/"],
        }
    )
    fake_realm = 'Basic realm="Fake Realm"'
    return {
        300: ({"Location": "/image/jpeg"}, page300.encode()),
        301: (redirect, None),
        302: (redirect, None),
        303: (redirect, None),
        305: (redirect, None),
        307: (redirect, None),
        308: ({"Location": "/image/jpeg"}, page308.encode()),
        401: ({"WWW-Authenticate": fake_realm}, None),
        402: ({"X-More-Info": "http://vimeo.com/22053820"}, b"Fuck you, pay me!"),
        406: ({"Content-Type": JSON_CT}, not_acceptable.encode()),
        407: ({"Proxy-Authenticate": fake_realm}, None),
        418: ({"X-More-Info": "http://tools.ietf.org/html/rfc2324"}, b"I'm a teapot!"),
    }


_SPECIAL = _special_statuses()


# --------------------------------------------------------------------------- the application

Route = tuple[str | None, str, str]

#: httpbin.go Handler(): (method or None for any, pattern, handler method name). A GET pattern also
#: serves HEAD (Go 1.22 ServeMux); ``{name}`` is one path segment; a trailing ``/`` is a subtree;
#: ``/{$}`` is exactly ``/``.
ROUTES: tuple[Route, ...] = (
    ("DELETE", "/delete", "request_with_body"),
    ("GET", "/{$}", "index"),
    ("GET", "/encoding/utf8", "not_served"),
    ("GET", "/forms/post", "not_served"),
    ("GET", "/get", "get"),
    ("GET", "/websocket/echo", "not_served"),
    ("HEAD", "/head", "get"),
    ("PATCH", "/patch", "request_with_body"),
    ("POST", "/post", "request_with_body"),
    ("PUT", "/put", "request_with_body"),
    (None, "/absolute-redirect/{numRedirects}", "absolute_redirect"),
    (None, "/anything", "anything"),
    (None, "/anything/", "anything"),
    (None, "/base64/{data}", "base64"),
    (None, "/base64/{operation}/{data}", "base64"),
    (None, "/basic-auth/{user}/{password}", "basic_auth"),
    (None, "/bearer", "bearer"),
    (None, "/bytes/{numBytes}", "bytes"),
    (None, "/cache", "cache"),
    (None, "/cache/{numSeconds}", "cache_control"),
    (None, "/cookies", "cookies"),
    (None, "/cookies/delete", "delete_cookies"),
    (None, "/cookies/set", "set_cookies"),
    (None, "/deflate", "deflate"),
    (None, "/delay/{duration}", "delay"),
    (None, "/deny", "deny"),
    (None, "/digest-auth/{qop}/{user}/{password}", "not_served"),
    (None, "/digest-auth/{qop}/{user}/{password}/{algorithm}", "not_served"),
    (None, "/drip", "not_served"),
    (None, "/dump/request", "dump_request"),
    (None, "/etag/{etag}", "not_served"),
    (None, "/gzip", "gzip"),
    (None, "/headers", "headers"),
    (None, "/hidden-basic-auth/{user}/{password}", "hidden_basic_auth"),
    (None, "/hostname", "hostname"),
    (None, "/html", "not_served"),
    (None, "/image", "not_served"),
    (None, "/image/{kind}", "not_served"),
    (None, "/ip", "ip"),
    (None, "/json", "not_served"),
    (None, "/links/{numLinks}", "links"),
    (None, "/links/{numLinks}/{offset}", "links"),
    (None, "/range/{numBytes}", "not_served"),
    (None, "/redirect-to", "redirect_to"),
    (None, "/redirect/{numRedirects}", "redirect"),
    (None, "/relative-redirect/{numRedirects}", "relative_redirect"),
    (None, "/response-headers", "response_headers"),
    (None, "/robots.txt", "robots"),
    (None, "/sse", "not_served"),
    (None, "/status/{code}", "status"),
    (None, "/stream-bytes/{numBytes}", "not_served"),
    (None, "/stream/{numLines}", "stream"),
    (None, "/trailers", "not_served"),
    (None, "/unstable", "unstable"),
    (None, "/user-agent", "user_agent"),
    (None, "/uuid", "uuid"),
    (None, "/xml", "not_served"),
    (None, "/brotli", "not_implemented"),
)


def _match(pattern: str, segments: list[str]) -> dict[str, str] | None:
    """Match one ServeMux pattern against the (unescaped) path segments; the wildcard values."""
    if pattern == "/{$}":
        return {} if segments == [""] else None
    psegs = pattern.strip("/").split("/")
    if pattern.endswith("/"):  # a subtree: "/anything/" matches "/anything/" and below
        return {} if len(segments) > len(psegs) and segments[: len(psegs)] == psegs else None
    if len(psegs) != len(segments):
        return None
    values: dict[str, str] = {}
    for p, s in zip(psegs, segments, strict=True):
        if p.startswith("{") and p.endswith("}"):
            if not s:
                return None
            values[p[1:-1]] = s
        elif p != s:
            return None
    return values


def clean_path(p: str) -> str:
    """Go's ``cleanPath`` (server.go): ``path.Clean`` keeping a trailing slash."""
    if not p:
        return "/"
    if p[0] != "/":
        p = "/" + p
    parts: list[str] = []
    for seg in p.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if parts:
                parts.pop()
            continue
        parts.append(seg)
    np = "/" + "/".join(parts)
    if p.endswith("/") and np != "/":
        np += "/"
    return np


class GoHttpbin:
    """go-httpbin's ``HTTPBin`` with its middleware: ``serve(req, w)`` answers one request.

    Args:
        log: the container log (one slog line per request).
        hostname: what ``/hostname`` reports (``go-httpbin`` unless ``USE_REAL_HOSTNAME``).
        max_body_size: ``MAX_BODY_SIZE`` in bytes.
        max_duration: ``MAX_DURATION`` in nanoseconds.
        exclude_headers: ``EXCLUDE_HEADERS`` (comma-separated, ``*`` wildcards).
        log_format: ``"text"`` or ``"json"``.
    """

    def __init__(
        self,
        log: LogBuffer,
        *,
        hostname: str = "go-httpbin",
        max_body_size: int = DEFAULT_MAX_BODY,
        max_duration: int = DEFAULT_MAX_DURATION,
        exclude_headers: str = "",
        log_format: str = "text",
    ) -> None:
        """Configure the application (see the class docstring)."""
        self.log = log
        self.hostname = hostname
        self.max_body_size = max_body_size
        self.max_duration = max_duration
        self.exclude = wildcard_regex(exclude_headers)
        self.log_format = log_format

    # -- middleware: observe(autohead(preflight(limitRequestSize(mux))))

    def serve(self, req: GoRequest, w: GoResponse) -> None:
        """Answer one request and log it (middleware.go observe + StdLogObserver)."""
        start = time.monotonic_ns()
        self.preflight(req, w)
        status = w.status or (w.interim[-1][0] if w.interim else 200)
        size = 0 if req.method == "HEAD" else len(w.body)
        elapsed = time.monotonic_ns() - start
        # time.Duration.Seconds() * 1e3, as middleware.go computes it
        ms = (elapsed // 10**9 + (elapsed % 10**9) / 1e9) * 1e3
        level = "ERROR" if status >= 500 else "WARN" if status >= 400 else "INFO"
        attrs = (
            ("status", status),
            ("method", req.method),
            ("uri", req.request_uri),
            ("size_bytes", size),
            ("duration_ms", ms),
            ("user_agent", req.get("User-Agent")),
            ("client_ip", client_ip(req)),
        )
        msg = f"{status} {req.method} {req.request_uri} {ms:.1f}ms"
        self.log.write(
            slog_line(level, msg, attrs, datetime.datetime.now(datetime.timezone.utc), self.log_format)
        )

    def preflight(self, req: GoRequest, w: GoResponse) -> None:
        """middleware.go preflight: CORS headers on every response; OPTIONS answered here."""
        w.set("Access-Control-Allow-Origin", req.get("Origin") or "*")
        w.set("Access-Control-Allow-Credentials", "true")
        if req.method == "OPTIONS":
            w.set("Access-Control-Allow-Methods", "GET, POST, HEAD, PUT, DELETE, PATCH, OPTIONS")
            w.set("Access-Control-Max-Age", "3600")
            if req.get("Access-Control-Request-Headers"):
                w.set("Access-Control-Allow-Headers", req.get("Access-Control-Request-Headers"))
            w.write_header(200)
            return
        self.mux(req, w)

    def mux(self, req: GoRequest, w: GoResponse) -> None:
        """Go 1.22 ServeMux: clean-path redirect, pattern match, 405 with Allow, else 404."""
        cleaned = clean_path(req.path)
        if cleaned != req.path:
            query = f"?{req.raw_query}" if req.raw_query else ""
            return self._redirect_moved(req, w, cleaned + query)
        segments = [unescape(s, False) or s for s in cleaned[1:].split("/")]
        allowed: set[str] = set()
        for method, pattern, name in ROUTES:
            values = _match(pattern, segments)
            if values is None:
                continue
            if method is None or method == req.method or (method == "GET" and req.method == "HEAD"):
                return getattr(self, "h_" + name)(req, w, values)
            allowed.add(method)
            if method == "GET":
                allowed.add("HEAD")
        if allowed:
            w.set("Allow", ", ".join(sorted(allowed)))
            return http_error(w, status_text(405), 405)
        http_error(w, "404 page not found", 404)

    def _redirect_moved(self, req: GoRequest, w: GoResponse, url: str) -> None:
        """``http.Redirect(w, r, url, 301)`` as ServeMux uses it for a path that is not clean."""
        w.set("Location", url)
        if req.method in ("GET", "HEAD"):
            w.set("Content-Type", HTML_CT)
        w.write_header(301)
        if req.method == "GET":
            w.write(f'<a href="{url}">Moved Permanently</a>.\n\n'.encode())

    # -- shared building blocks

    def request_headers(self, req: GoRequest) -> GoMap:
        """helpers.go getRequestHeaders: the headers plus ``Host`` (and ``Transfer-Encoding``)."""
        h = GoMap((k, list(v)) for k, v in req.header.items())
        h["Host"] = [req.host]
        if req.transfer_encoding:
            h["Transfer-Encoding"] = [",".join(req.transfer_encoding)]
        if self.exclude is not None:
            h = GoMap((k, v) for k, v in h.items() if not self.exclude.search(k))
        return h

    def no_body_response(self, req: GoRequest) -> dict[str, Any]:
        """responses.go noBodyResponse: args, headers, method, origin, url."""
        return {
            "args": parse_query(req.raw_query)[0],
            "headers": self.request_headers(req),
            "method": req.method,
            "origin": client_ip(req),
            "url": request_url(req),
        }

    # -- handlers (handlers.go), named h_<route handler>

    def h_index(self, req: GoRequest, w: GoResponse, _v: dict[str, str]) -> None:
        """GET / : an HTML page (our own short text; the real one is go-httpbin's manual page)."""
        w.set(
            "Content-Security-Policy",
            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' camo.githubusercontent.com",
        )
        write_response(w, 200, HTML_CT, INDEX_HTML.encode())
        w.flushed = True  # the real 13 KB page exceeds Go's 2 KB buffer: it goes out chunked

    def h_get(self, req: GoRequest, w: GoResponse, _v: dict[str, str]) -> None:
        """GET /get (and HEAD /head): the request as noBodyResponse JSON."""
        write_json(w, 200, self.no_body_response(req))

    def h_anything(self, req: GoRequest, w: GoResponse, v: dict[str, str]) -> None:
        """/anything[/...]: HEAD like /get, anything else like /post (even a GET with a body)."""
        if req.method == "HEAD":
            return self.h_get(req, w, v)
        self.h_request_with_body(req, w, v)

    def h_request_with_body(self, req: GoRequest, w: GoResponse, _v: dict[str, str]) -> None:
        """POST /post, PUT /put, PATCH /patch, DELETE /delete: bodyResponse JSON."""
        resp: dict[str, Any] = {
            **self.no_body_response(req),
            "data": "",
            "files": GoMap(),
            "form": GoMap(),
            "json": None,
        }
        err = self.parse_body(req, w, resp)
        if err is not None:
            return write_error(w, 400, f"error parsing request body: {err}")
        write_json(w, 200, resp)

    def parse_body(self, req: GoRequest, w: GoResponse, resp: dict[str, Any]) -> str | None:
        """helpers.go parseBody: fills data/form/files/json by Content-Type; an error text or None."""
        body = req.body
        if len(body) > self.max_body_size:
            w.set("Connection", "close")  # MaxBytesReader -> requestTooLarge (server.go)
            return "http: request body too large"
        if not body:
            return None
        resp["data"] = body.decode("utf-8", "surrogateescape")
        ctype = req.get("Content-Type").split(";", 1)[0]
        if ctype in ("text/html", "text/plain"):
            return None
        if ctype == "application/x-www-form-urlencoded":
            form, err = parse_query(resp["data"])
            url_err = parse_query(req.raw_query)[1]
            if url_err or err:
                return url_err or err
            resp["form"] = form
        elif ctype == "multipart/form-data":
            return parse_multipart(req, resp)
        elif ctype == "application/json":
            return decode_json(resp["data"], resp)
        else:
            encoded = base64.urlsafe_b64encode(body).decode()
            resp["data"] = f"data:{ctype or BINARY_CT};base64,{encoded}"
        return None

    def h_headers(self, req: GoRequest, w: GoResponse, _v: dict[str, str]) -> None:
        """/headers: ``{"headers": {...}}``."""
        write_json(w, 200, {"headers": self.request_headers(req)})

    def h_ip(self, req: GoRequest, w: GoResponse, _v: dict[str, str]) -> None:
        """/ip: ``{"origin": ...}``."""
        write_json(w, 200, {"origin": client_ip(req)})

    def h_user_agent(self, req: GoRequest, w: GoResponse, _v: dict[str, str]) -> None:
        """/user-agent: ``{"user-agent": ...}``."""
        write_json(w, 200, {"user-agent": req.get("User-Agent")})

    def h_status(self, req: GoRequest, w: GoResponse, v: dict[str, str]) -> None:
        """/status/{code}: one code, or a (weighted) random one of ``a,b`` / ``a:0.7,b:0.3``."""
        raw = v["code"]
        try:
            code = parse_status(raw) if "," not in raw else weighted_choice(raw)
        except GoError as exc:
            return write_error(w, 400, str(exc))
        if not 100 <= code <= 999:
            raise GoPanic(f"invalid WriteHeader code {code}")  # net/http checkWriteHeaderCode
        w.set("Content-Type", TEXT_CT)
        headers, body = _SPECIAL.get(code, ({}, None))
        for key, value in headers.items():
            w.set(key, value)
        w.write_header(code)
        if body is not None:
            w.write(body)

    def h_unstable(self, req: GoRequest, w: GoResponse, _v: dict[str, str]) -> None:
        """/unstable: 500 with probability ``failure_rate`` (0.5), else 200."""
        args = parse_query(req.raw_query)[0]
        seed = args.get("seed", [""])[0]
        rate_text = args.get("failure_rate", [""])[0]
        try:
            rng = random.Random(parse_int(seed, "ParseInt")) if seed else random.Random()
        except GoError as exc:
            return write_error(w, 400, f"invalid seed: {exc}")
        rate = 0.5
        if rate_text:
            try:
                rate = parse_float(rate_text)
            except GoError as exc:
                return write_error(w, 400, f"invalid failure rate: {exc}")
            if not 0 <= rate <= 1:
                # handlers.go formats a nil error with %d here, which Go prints as %!d(<nil>).
                return write_error(w, 400, "invalid failure rate: %!d(<nil>) not in range [0, 1]")
        w.set("Content-Type", TEXT_CT)
        w.write_header(500 if rng.random() < rate else 200)

    def h_response_headers(self, req: GoRequest, w: GoResponse, _v: dict[str, str]) -> None:
        """/response-headers?K=V: each pair becomes a response header; the JSON echoes the args."""
        args = parse_query(req.raw_query)[0]
        for key, values in args.items():
            for value in values:
                w.add(key, value)
        if not w.get("Content-Type"):
            w.set("Content-Type", JSON_CT)
        w.write(json_encode(args).encode("utf-8", "surrogateescape"))

    def _redirect_count(self, req: GoRequest, w: GoResponse, raw: str, relative: bool) -> None:
        """handlers.go handleRedirect: 302 to the next hop, or to /get at the last one."""
        try:
            n = parse_int(raw)
        except GoError as exc:
            return write_error(w, 400, f"invalid redirect count: {exc}")
        if n < 1:
            return write_error(w, 400, "redirect count must be > 0")
        left = n - 1
        kind = "relative" if relative else "absolute"
        path = "/get" if left < 1 else f"/{kind}-redirect/{left}"
        if not relative:
            scheme = request_url(req).split("://", 1)[0]
            path = f"{scheme}://{req.url_host or req.host}{path}"
        do_redirect(w, path, 302)

    def h_redirect(self, req: GoRequest, w: GoResponse, v: dict[str, str]) -> None:
        """/redirect/{n}: relative hops unless ``?absolute=true``."""
        absolute = parse_query(req.raw_query)[0].get("absolute", [""])[0].lower() == "true"
        self._redirect_count(req, w, v["numRedirects"], not absolute)

    def h_relative_redirect(self, req: GoRequest, w: GoResponse, v: dict[str, str]) -> None:
        """/relative-redirect/{n}."""
        self._redirect_count(req, w, v["numRedirects"], True)

    def h_absolute_redirect(self, req: GoRequest, w: GoResponse, v: dict[str, str]) -> None:
        """/absolute-redirect/{n}: Location is ``<scheme>://<host>/...``."""
        self._redirect_count(req, w, v["numRedirects"], False)

    def h_redirect_to(self, req: GoRequest, w: GoResponse, _v: dict[str, str]) -> None:
        """/redirect-to?url=U[&status_code=3xx]."""
        args = parse_query(req.raw_query)[0]
        target = args.get("url", [""])[0]
        if not target:
            return write_error(w, 400, "missing required query parameter: url")
        code = 302
        if args.get("status_code", [""])[0]:
            try:
                code = parse_status(args["status_code"][0], 300, 399)
            except GoError as exc:
                return write_error(w, 400, str(exc))
        do_redirect(w, target, code)

    def h_cookies(self, req: GoRequest, w: GoResponse, _v: dict[str, str]) -> None:
        """/cookies: the request's cookies as a JSON object."""
        write_json(w, 200, cookies(req))

    def h_set_cookies(self, req: GoRequest, w: GoResponse, _v: dict[str, str]) -> None:
        """/cookies/set?k=v: Set-Cookie (HttpOnly) for each, then 302 to /cookies."""
        for key, values in parse_query(req.raw_query)[0].items():
            w.add("Set-Cookie", set_cookie_value(key, values[0]))
        do_redirect(w, "/cookies", 302)

    def h_delete_cookies(self, req: GoRequest, w: GoResponse, _v: dict[str, str]) -> None:
        """/cookies/delete?k: expire each cookie (a year ago, Max-Age=0), then 302 to /cookies."""
        past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=365)
        expires = past.strftime("%a, %d %b %Y %H:%M:%S GMT")
        for key, values in parse_query(req.raw_query)[0].items():
            w.add("Set-Cookie", set_cookie_value(key, values[0], expires))
        do_redirect(w, "/cookies", 302)

    def h_basic_auth(self, req: GoRequest, w: GoResponse, v: dict[str, str]) -> None:
        """/basic-auth/{user}/{password}: 200 or 401 with ``WWW-Authenticate``."""
        user, password = basic_auth(req)
        ok = (user, password) == (v["user"], v["password"])
        if not ok:
            w.set("WWW-Authenticate", 'Basic realm="Fake Realm"')
        write_json(w, 200 if ok else 401, {"authorized": ok, "user": user})

    def h_hidden_basic_auth(self, req: GoRequest, w: GoResponse, v: dict[str, str]) -> None:
        """/hidden-basic-auth/{user}/{password}: 404 instead of 401."""
        user, password = basic_auth(req)
        if (user, password) != (v["user"], v["password"]):
            return write_error(w, 404)
        write_json(w, 200, {"authorized": True, "user": user})

    def h_bearer(self, req: GoRequest, w: GoResponse, _v: dict[str, str]) -> None:
        """/bearer: needs ``Authorization: Bearer <token>``."""
        fields = req.get("Authorization").split()
        if len(fields) != 2 or fields[0] != "Bearer":
            w.set("WWW-Authenticate", "Bearer")
            return write_error(w, 401)
        write_json(w, 200, {"authenticated": True, "token": fields[1]})

    def h_hostname(self, req: GoRequest, w: GoResponse, _v: dict[str, str]) -> None:
        """/hostname: ``go-httpbin`` (the pod name with USE_REAL_HOSTNAME)."""
        write_json(w, 200, {"hostname": self.hostname})

    def h_uuid(self, req: GoRequest, w: GoResponse, _v: dict[str, str]) -> None:
        """/uuid: a version-4 UUID."""
        write_json(w, 200, {"uuid": str(uuid.uuid4())})

    def h_robots(self, req: GoRequest, w: GoResponse, _v: dict[str, str]) -> None:
        """/robots.txt."""
        write_response(w, 200, TEXT_CT, b"User-agent: *\nDisallow: /deny\n")

    def h_deny(self, req: GoRequest, w: GoResponse, _v: dict[str, str]) -> None:
        """/deny."""
        write_response(w, 200, TEXT_CT, b"YOU SHOULDN'T BE HERE")

    def h_cache(self, req: GoRequest, w: GoResponse, v: dict[str, str]) -> None:
        """/cache: 304 with If-Modified-Since/If-None-Match, else /get with Last-Modified and ETag."""
        if req.get("If-Modified-Since") or req.get("If-None-Match"):
            return w.write_header(304)
        last_modified = datetime.datetime.now(datetime.timezone.utc).strftime("%a, %d %b %Y %H:%M:%S UTC")
        w.add("Last-Modified", last_modified)
        # helpers.go sha1hash calls h.Sum(input) on an empty hash: the input's bytes followed by
        # SHA-1(""), hex-encoded.
        w.add("ETag", (last_modified.encode() + hashlib.sha1(b"").digest()).hex())
        self.h_get(req, w, v)

    def h_cache_control(self, req: GoRequest, w: GoResponse, v: dict[str, str]) -> None:
        """/cache/{n}: ``Cache-Control: public, max-age=n`` and the /get body."""
        try:
            seconds = parse_int(v["numSeconds"], "ParseInt")
        except GoError as exc:
            return write_error(w, 400, f"invalid seconds: {exc}")
        w.add("Cache-Control", f"public, max-age={seconds}")
        self.h_get(req, w, v)

    def h_delay(self, req: GoRequest, w: GoResponse, v: dict[str, str]) -> None:
        """/delay/{duration}: wait (≤ MAX_DURATION), then answer like /anything with Server-Timing."""
        try:
            ns = parse_bounded_duration(v["duration"], 0, self.max_duration)
        except GoError as exc:
            return write_error(w, 400, f"invalid duration: {exc}")
        if req.client_gone(ns / 1e9):
            return w.write_header(499)  # "Client Closed Request": the caller went away
        w.set("Server-Timing", f'initial_delay;dur={ns / 1e6:0.2f};desc="initial delay"')
        self.h_request_with_body(req, w, v)

    def h_base64(self, req: GoRequest, w: GoResponse, v: dict[str, str]) -> None:
        """/base64/[encode|decode/]{data}: URL-safe encoding; decoding tries URL-safe, then standard."""
        data, operation = v["data"], v.get("operation", "decode")
        if not data:
            return write_error(w, 400, "no input data")
        if len(data) > self.max_body_size:
            return write_error(w, 400, f"input data exceeds max length of {self.max_body_size}")
        raw = data.encode("utf-8", "surrogateescape")
        if operation == "encode":
            return write_response(w, 200, TEXT_CT, base64.urlsafe_b64encode(raw))
        if operation != "decode":
            return write_error(w, 400, f"invalid operation: {operation}")
        for altchars in (b"-_", None):  # base64.URLEncoding first, then StdEncoding
            try:
                decoded = base64.b64decode(raw, altchars=altchars, validate=True)
            except (binascii.Error, ValueError):
                continue
            return write_response(w, 200, TEXT_CT, decoded)
        # The error is StdEncoding's: the first byte outside its alphabet, or the incomplete quantum.
        bad = next((i for i, c in enumerate(raw) if chr(c) not in _STD_B64), len(raw) - len(raw) % 4)
        write_error(w, 400, f"base64 decode failed: illegal base64 data at input byte {bad}")

    def _compressed(self, req: GoRequest, w: GoResponse, encoding: str) -> None:
        value = self.no_body_response(req)
        value["url"] = ""  # handlers.go Gzip/Deflate leave URL unset; encoding/json still writes it
        value["gzipped" if encoding == "gzip" else "deflated"] = True
        raw = json_encode(value).encode("utf-8", "surrogateescape")
        body = gzip.compress(raw, compresslevel=6, mtime=0) if encoding == "gzip" else zlib.compress(raw)
        w.set("Content-Encoding", encoding)
        w.set("Content-Type", JSON_CT)
        w.set("Content-Length", str(len(body)))
        w.write_header(200)
        w.write(body)

    def h_gzip(self, req: GoRequest, w: GoResponse, _v: dict[str, str]) -> None:
        """/gzip: the /get JSON (``"gzipped": true``), gzip-encoded."""
        self._compressed(req, w, "gzip")

    def h_deflate(self, req: GoRequest, w: GoResponse, _v: dict[str, str]) -> None:
        """/deflate: the /get JSON (``"deflated": true``), zlib-encoded."""
        self._compressed(req, w, "deflate")

    def h_stream(self, req: GoRequest, w: GoResponse, v: dict[str, str]) -> None:
        """/stream/{n}: n (1..100) compact JSON lines, flushed one by one (chunked)."""
        try:
            n = parse_int(v["numLines"])
        except GoError as exc:
            return write_error(w, 400, f"invalid count: {exc}")
        base = {
            "args": parse_query(req.raw_query)[0],
            "headers": self.request_headers(req),
            "origin": client_ip(req),
            "url": request_url(req),
        }
        for i in range(min(max(n, 1), 100)):
            # json.Marshal: compact, and it does escape <, > and & (unlike the indented Encoder).
            w.write(json_encode({"id": i, **base}, indent=None, escape_html=True).encode() + b"\n")
        w.flushed = True

    def h_bytes(self, req: GoRequest, w: GoResponse, v: dict[str, str]) -> None:
        """/bytes/{n}: n (≤ 100 KiB) random bytes (``seed`` does not reproduce Go's sequence)."""
        try:
            n = parse_int(v["numBytes"])
        except GoError as exc:
            return write_error(w, 400, f"invalid byte count: {exc}")
        seed = parse_query(req.raw_query)[0].get("seed", [""])[0]
        try:
            rng = random.Random(parse_int(seed, "ParseInt")) if seed else random.Random()
        except GoError as exc:
            return write_error(w, 400, f"invalid seed: {exc}")
        if n < 0:
            return write_error(w, 400, f"invalid byte count: {n} must be greater than 0")
        if n == 0:
            w.set("Content-Length", "0")
            return w.write_header(200)
        n = min(n, 100 * 1024)
        w.set("Content-Length", str(n))
        write_response(w, 200, BINARY_CT, rng.randbytes(n))

    def h_links(self, req: GoRequest, w: GoResponse, v: dict[str, str]) -> None:
        """/links/{n}[/{offset}]: redirect to page 0, or an HTML page of n links."""
        try:
            n = parse_int(v["numLinks"])
        except GoError as exc:
            return write_error(w, 400, f"invalid link count: {exc}")
        if not 0 <= n <= 256:
            return write_error(w, 400, f"invalid link count: {n} must be in range [0, 256]")
        if "offset" not in v:
            query = f"?{req.raw_query}" if req.raw_query else ""
            return do_redirect(w, f"{req.path}/0{query}", 302)
        try:
            offset = parse_int(v["offset"])
        except GoError as exc:
            return write_error(w, 400, f"invalid offset: {exc}")
        w.add("Content-Type", HTML_CT)
        links = "".join(f"{i} " if i == offset else f'<a href="/links/{n}/{i}">{i}</a> ' for i in range(n))
        w.write(f"<html><head><title>Links</title></head><body>{links}</body></html>".encode())

    def h_dump_request(self, req: GoRequest, w: GoResponse, _v: dict[str, str]) -> None:
        """/dump/request: ``httputil.DumpRequest(r, true)`` (Host first, then sorted headers)."""
        lines = [f"{req.method} {req.target} {req.proto}"]
        if not req.target.startswith(("http://", "https://")):
            lines.append(f"Host: {req.host}")
        if req.transfer_encoding:
            lines.append(f"Transfer-Encoding: {','.join(req.transfer_encoding)}")
        for key in sorted(req.header):
            if key not in ("Host", "Transfer-Encoding", "Trailer"):
                lines += [f"{key}: {value}" for value in req.header[key]]
        body = req.body
        if req.transfer_encoding and body:
            body = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
        w.write("\r\n".join(lines).encode("utf-8", "surrogateescape") + b"\r\n\r\n" + body)

    def h_not_implemented(self, req: GoRequest, w: GoResponse, _v: dict[str, str]) -> None:
        """/brotli: go-httpbin itself answers 501."""
        write_error(w, 501)

    def h_not_served(self, req: GoRequest, w: GoResponse, _v: dict[str, str]) -> None:
        """An endpoint go-httpbin has but this stand-in does not reproduce (see the module docstring)."""
        write_error(w, 501, _NOT_SERVED)


_STD_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="


INDEX_HTML = """<!DOCTYPE html>
<html>
<head>
  <meta charset="utf-8">
  <title>go-httpbin(1): HTTP Client Testing Service</title>
</head>
<body>
<h1>go-httpbin</h1>
<p>A stand-in for go-httpbin v2.15.0 (the Go program cannot be installed here), serving
<a href="/get">/get</a>, <a href="/headers">/headers</a>, <a href="/ip">/ip</a>,
<a href="/status/418">/status/:code</a>, <a href="/delay/1">/delay/:n</a>,
<a href="/anything">/anything</a> and the rest of go-httpbin's endpoints.</p>
</body>
</html>
"""


# --------------------------------------------------------------------------- the container

_USAGE_ERROR_EXIT = 2


def _flag_args(argv: tuple[str, ...]) -> dict[str, str]:
    """Go ``flag`` parsing of ``-name value`` / ``-name=value`` / ``--name`` (bools take no value)."""
    flags: dict[str, str] = {}
    it = iter(argv)
    for arg in it:
        if not arg.startswith("-") or arg in ("-", "--"):
            break
        name, eq, value = arg.lstrip("-").partition("=")
        if not eq and name != "use-real-hostname":
            value = next(it, "")
        flags[name] = value if eq or name != "use-real-hostname" else "true"
    return flags


def _config(spec: WorkloadSpec) -> dict[str, Any]:
    """cmd/cmd.go loadConfig: flags first, then environment variables; raises GoError on bad input."""
    args = tuple(a for a in (*spec.command, *spec.args) if not a.endswith("go-httpbin"))
    flags = _flag_args(args)
    env = spec.env

    def pick(flag: str, var: str) -> str:
        return flags.get(flag) or env.get(var, "")

    def parsed(flag: str, var: str, parse: Callable[[str], int], default: int) -> int:
        text = pick(flag, var)
        if not text:
            return default
        try:
            return parse(text)
        except GoError:
            where = f"flag -{flag}" if flag in flags else f"env var {var}"
            raise GoError(f"invalid value {quote(text)} for {where}: parse error") from None

    cfg: dict[str, Any] = {
        "port": parsed("port", "PORT", parse_int, DEFAULT_PORT),
        "max_body_size": parsed("max-body-size", "MAX_BODY_SIZE", parse_int, DEFAULT_MAX_BODY),
        "max_duration": parsed("max-duration", "MAX_DURATION", parse_duration, DEFAULT_MAX_DURATION),
    }
    cfg["log_format"] = pick("log-format", "LOG_FORMAT") or "text"
    if cfg["log_format"] not in ("text", "json"):
        raise GoError(f'invalid log format {quote(cfg["log_format"])}, must be "text" or "json"')
    cfg["exclude_headers"] = pick("exclude-headers", "EXCLUDE_HEADERS")
    real = flags.get("use-real-hostname") == "true" or env.get("USE_REAL_HOSTNAME") in ("1", "true")
    cfg["hostname"] = env.get("HOSTNAME", spec.pod_name) if real else "go-httpbin"
    return cfg


def start_gohttpbin(spec: WorkloadSpec) -> RunningWorkload:
    """Run go-httpbin: one threaded server on the configured port (8080 unless ``PORT``/``-port``).

    Args:
        spec: the container (image ``mccutchen/go-httpbin``; env and args as in the Deployment).

    Returns:
        The running workload; ``ports`` maps the port go-httpbin listens on (a declared
        containerPort it does not listen on refuses connections, as in the pod). A bad flag or
        variable gives CrashLoopBackOff with go-httpbin's ``error: ...`` message (exit code 2).
    """
    log = LogBuffer()
    try:
        cfg = _config(spec)
    except GoError as exc:
        message = f"error: {exc}"
        log.write(message)
        return RunningWorkload(spec, kind="go-httpbin", status="CrashLoopBackOff", message=message, log=log)
    app = GoHttpbin(
        log,
        hostname=cfg["hostname"],
        max_body_size=cfg["max_body_size"],
        max_duration=cfg["max_duration"],
        exclude_headers=cfg["exclude_headers"],
        log_format=cfg["log_format"],
    )
    stop = threading.Event()

    def panic(text: str) -> None:
        # Go's server logs a recovered handler panic through the standard log package.
        log.write(time.strftime("%Y/%m/%d %H:%M:%S ", time.gmtime()) + text)

    def handle(conn: Any, addr: Any) -> None:
        serve_go_connection(conn, addr, app.serve, stop, panic)

    now = datetime.datetime.now(datetime.timezone.utc)
    log.write(
        slog_line("INFO", f"go-httpbin listening on http://0.0.0.0:{cfg['port']}", (), now, cfg["log_format"])
    )
    server = _GoServer(ThreadedTCPServer(0, handle), f"go-httpbin:{spec.pod_name}:{cfg['port']}", stop)
    return RunningWorkload(spec, kind="go-httpbin", servers={cfg["port"]: server}, log=log)


class _GoServer(ServerHandle):
    """A server whose ``close`` first wakes handlers that are waiting (``/delay``), then stops."""

    def __init__(self, server: ThreadedTCPServer, name: str, stop: threading.Event) -> None:
        self._stop = stop
        super().__init__(server, name)

    def close(self) -> None:
        """Set the stop event, then stop the server and join its threads."""
        self._stop.set()
        super().close()
