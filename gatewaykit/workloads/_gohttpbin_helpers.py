"""go-httpbin's helpers (``httpbin/helpers.go`` at v2.15.0) and the ``net/http``/``net/url`` calls its
handlers make: query parsing, the client IP and URL it reports, JSON/error writers, status-code,
duration and weighted-choice parsing, cookies, Basic auth and request-body decoding.

Used by :mod:`.gohttpbin`; every error text is the Go program's (see :mod:`._golang`).
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import re
from email.parser import BytesParser
from typing import Any

from gatewaykit._gofmt import quote
from gatewaykit.workloads._gohttp import GoPanic, GoRequest, GoResponse, status_text
from gatewaykit.workloads._golang import (
    GoError,
    GoMap,
    duration_string,
    json_encode,
    parse_duration,
    parse_float,
    parse_int,
)

__all__ = [
    "BINARY_CT",
    "HTML_CT",
    "JSON_CT",
    "TEXT_CT",
    "basic_auth",
    "client_ip",
    "cookies",
    "decode_json",
    "do_redirect",
    "http_error",
    "parse_bounded_duration",
    "parse_multipart",
    "parse_query",
    "parse_status",
    "request_url",
    "set_cookie_value",
    "unescape",
    "weighted_choice",
    "wildcard_regex",
    "write_error",
    "write_json",
    "write_response",
]

JSON_CT = "application/json; charset=utf-8"
TEXT_CT = "text/plain; charset=utf-8"
HTML_CT = "text/html; charset=utf-8"
BINARY_CT = "application/octet-stream"


def unescape(s: str, plus: bool) -> str | None:
    """``url.QueryUnescape`` (``plus``) / ``PathUnescape``; ``None`` for a bad ``%`` escape."""
    out = bytearray()
    raw = s.encode("utf-8", "surrogateescape")
    i = 0
    while i < len(raw):
        b = raw[i]
        if b == 0x25:  # '%'
            pair = raw[i + 1 : i + 3]
            if len(pair) < 2 or not all(c in b"0123456789abcdefABCDEF" for c in pair):
                return None
            out.append(int(pair, 16))
            i += 3
            continue
        out.append(0x20 if plus and b == 0x2B else b)
        i += 1
    return out.decode("utf-8", "surrogateescape")


def parse_query(raw: str | None) -> tuple[GoMap, str | None]:
    """``url.ParseQuery``: the values and the first error text (bad pairs are skipped)."""
    values: GoMap = GoMap()
    err: str | None = None
    for pair in (raw or "").split("&"):
        if ";" in pair:
            err = err or "invalid semicolon separator in query"
            continue
        if not pair:
            continue
        k, _, v = pair.partition("=")
        key, value = unescape(k, True), unescape(v, True)
        if key is None or value is None:
            bad = k if key is None else v
            err = err or f"invalid URL escape {quote(bad[bad.index('%') :][:3])}"
            continue
        values.setdefault(key, []).append(value)
    return values, err


def client_ip(req: GoRequest) -> str:
    """helpers.go getClientIP: platform headers, then the first X-Forwarded-For entry, then the peer."""
    for name in ("Fly-Client-IP", "CF-Connecting-IP", "Fastly-Client-IP", "True-Client-IP"):
        if req.get(name):
            return req.get(name)
    xff = req.get("X-Forwarded-For")
    if xff:
        return xff.split(",", 1)[0].strip()
    return req.remote_addr


def request_url(req: GoRequest) -> str:
    """helpers.go getURL: scheme from X-Forwarded-Proto/-Protocol/-Ssl, host from the request."""
    scheme = req.get("X-Forwarded-Proto") or req.get("X-Forwarded-Protocol")
    if not scheme and req.get("X-Forwarded-Ssl") == "on":
        scheme = "https"
    host = req.url_host or req.host
    query = f"?{req.raw_query}" if req.raw_query is not None else ""
    return f"{scheme or 'http'}://{host}{req.path}{query}"


def wildcard_regex(patterns: str) -> re.Pattern[str] | None:
    """helpers.go createFullExcludeRegex: comma-separated names, ``*`` wildcards, case-insensitive."""
    parts = []
    for p in (x.strip() for x in patterns.split(",")):
        if p:
            parts.append("^" + ".*".join(re.escape(c) for c in p.split("*")) + "$")
    return re.compile("(?i)(" + "|".join(parts) + ")") if parts else None


def write_response(w: GoResponse, status: int, content_type: str, body: bytes) -> None:
    """helpers.go writeResponse."""
    w.set("Content-Type", content_type)
    w.write_header(status)
    w.write(body)


def write_json(w: GoResponse, status: int, value: Any) -> None:
    """helpers.go writeJSON: ``application/json; charset=utf-8``, Go's indented encoding."""
    w.set("Content-Type", JSON_CT)
    w.write_header(status)
    w.write(json_encode(value).encode("utf-8", "surrogateescape"))


def write_error(w: GoResponse, code: int, detail: str | None = None) -> None:
    """helpers.go writeError: ``{"status_code": N, "error": "<StatusText>", "detail": ...}``."""
    value: dict[str, Any] = {"status_code": code, "error": status_text(code)}
    if detail:
        value["detail"] = detail
    write_json(w, code, value)


def http_error(w: GoResponse, text: str, code: int) -> None:
    """``http.Error``: plain text, ``X-Content-Type-Options: nosniff``, the text and a newline."""
    w.delete("Content-Length")
    w.set("Content-Type", TEXT_CT)
    w.set("X-Content-Type-Options", "nosniff")
    w.write_header(code)
    w.write(text.encode() + b"\n")


def do_redirect(w: GoResponse, location: str, code: int) -> None:
    """handlers.go doRedirect (no ``-prefix`` configured)."""
    w.set("Location", location)
    w.write_header(code)


def parse_status(raw: str, low: int = 100, high: int = 599) -> int:
    """helpers.go parseBoundedStatusCode."""
    try:
        code = parse_int(raw)
    except GoError as exc:
        raise GoError(f"invalid status code: {quote(raw)}: {exc}") from None
    if not low <= code <= high:
        raise GoError(f"invalid status code: {code} not in range [{low}, {high}]")
    return code


def parse_bounded_duration(raw: str, low: int, high: int) -> int:
    """helpers.go parseBoundedDuration: a Go duration or float seconds (whole milliseconds)."""
    try:
        ns = parse_duration(raw)
    except GoError:
        seconds = parse_float(raw)
        ms = seconds * 1000
        # time.Duration(n*1000): a NaN/Inf/too-large float converts to MinInt64 on amd64, and
        # MinInt64 * time.Millisecond wraps to 0 in int64 arithmetic.
        whole = int(ms) if abs(ms) < 2**63 else -(2**63)
        ns = ((whole * 1_000_000 + 2**63) % 2**64) - 2**63
    if ns > high:
        raise GoError(f"duration {duration_string(ns)} longer than {duration_string(high)}")
    if ns < low:
        raise GoError(f"duration {duration_string(ns)} shorter than {duration_string(low)}")
    return ns


def weighted_choice(raw: str) -> int:
    """helpers.go parseWeightedChoices + weightedRandomChoice (codes are not range-checked)."""
    choices: list[tuple[int, float]] = []
    for pair in raw.split(","):
        choice, colon, weight_text = pair.partition(":")
        weight = 1.0
        if colon:
            try:
                weight = parse_float(weight_text)
            except GoError:
                raise GoError(f"invalid weight value: {quote(weight_text)}") from None
        try:
            code = parse_int(choice)
        except GoError:
            raise GoError(f"invalid choice value: {quote(choice)}") from None
        choices.append((code, weight))
    pick = random.random() * sum(wt for _, wt in choices)
    current = 0.0
    for code, wt in choices:
        current += wt
        if pick < current:
            return code
    raise GoPanic("failed to select a weighted random choice")


def basic_auth(req: GoRequest) -> tuple[str, str]:
    """``r.BasicAuth()``: the user and password of an ``Authorization: Basic`` header."""
    auth = req.get("Authorization")
    if auth[:6].lower() != "basic ":
        return "", ""
    try:
        decoded = base64.b64decode(auth[6:], validate=True).decode("utf-8", "surrogateescape")
    except (binascii.Error, ValueError):
        return "", ""
    user, colon, password = decoded.partition(":")
    return (user, password) if colon else ("", "")


_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def cookies(req: GoRequest) -> GoMap:
    """``r.Cookies()`` (net/http cookie.go readCookies) as go-httpbin's name -> value map."""
    out = GoMap()
    for line in req.header.get("Cookie", []):
        for part in line.split(";"):
            part = part.strip(" ")
            if not part:
                continue
            name, _, value = part.partition("=")
            if not _COOKIE_NAME.fullmatch(name):
                continue
            if len(value) > 1 and value[0] == value[-1] == '"':
                value = value[1:-1]
            if all(0x20 <= ord(c) < 0x7F and c not in '";\\' for c in value):
                out[name] = value
    return out


def set_cookie_value(name: str, value: str, expires: str | None = None) -> str:
    """``http.Cookie.String`` for go-httpbin's cookies (HttpOnly; delete adds Expires, Max-Age=0)."""
    if " " in value or "," in value:
        value = f'"{value}"'
    text = f"{name}={value}"
    if expires is not None:
        text += f"; Expires={expires}; Max-Age=0"
    return text + "; HttpOnly"


def _go_json_value(value: Any) -> Any:
    """A decoded JSON value as Go's ``interface{}`` re-encodes it: objects are maps (sorted keys)."""
    if isinstance(value, dict):
        return GoMap((k, _go_json_value(v)) for k, v in value.items())
    if isinstance(value, list):
        return [_go_json_value(v) for v in value]
    return value


def decode_json(text: str, resp: dict[str, Any]) -> str | None:
    """``json.NewDecoder(body).Decode(&v)``: the first JSON value; numbers become float64."""
    stripped = text.lstrip(" \t\r\n")
    if not stripped:
        return "EOF"

    def reject(name: str) -> Any:
        raise json.JSONDecodeError("constant", name, 0)

    decoder = json.JSONDecoder(parse_int=float, parse_constant=reject)
    try:
        value, _ = decoder.raw_decode(stripped)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(stripped) or exc.msg.startswith("Unterminated"):
            return "unexpected EOF"
        ch = stripped[exc.pos] if exc.pos < len(stripped) else ""
        return f"invalid character {_quote_char(ch)} looking for beginning of value"
    resp["json"] = _go_json_value(value)
    return None


def _quote_char(ch: str) -> str:
    """encoding/json quoteChar: ``'x'``, ``'\\''``, ``'"'``."""
    if ch == "'":
        return "'\\''"
    if ch == '"':
        return "'\"'"
    return "'" + quote(ch)[1:-1] + "'"


def parse_multipart(req: GoRequest, resp: dict[str, Any]) -> str | None:
    """``r.ParseMultipartForm``: fields into ``form``, file parts' contents into ``files``."""
    ctype = req.get("Content-Type")
    if "boundary=" not in ctype:
        return "no multipart boundary param in Content-Type"
    message = BytesParser().parsebytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + req.body)
    if not message.is_multipart():
        return "multipart: NextPart: EOF"
    form, files = GoMap(), GoMap()
    for part in message.walk():
        name = part.get_param("name", header="content-disposition")
        if part is message or name is None:
            continue
        payload = part.get_payload(decode=True)
        text = payload.decode("utf-8", "surrogateescape") if isinstance(payload, bytes) else ""
        target = files if part.get_filename() is not None else form
        target.setdefault(str(name), []).append(text)
    resp["form"], resp["files"] = form, files
    return None
