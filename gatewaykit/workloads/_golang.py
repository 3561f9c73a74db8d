"""Go standard-library formats the go-httpbin stand-in must reproduce byte for byte.

go-httpbin is a Go program: its JSON comes from ``encoding/json`` (map keys sorted, struct fields in
declaration order, two-space indent, a final newline), its error texts from ``strconv`` and
``time``, its log lines from ``log/slog``'s text handler. Python's own ``json``/``repr``/``float``
differ in small ways a learner sees (``1.0`` vs ``1``, ``\\u2028``, ``"<nil>"``...), so the rules
are written out here (``%q``, ``strconv.Quote``, is :func:`gatewaykit._gofmt.quote`, shared with
Istio's messages). Sources are Go 1.23's ``encoding/json/encode.go``, ``strconv/{atoi,atof,
ftoa}.go``, ``time/format.go`` (``Duration.String``, ``ParseDuration``), ``net/textproto``
(``CanonicalMIMEHeaderKey``) and ``log/slog/text_handler.go`` (go-httpbin v2.15.0's image is built
with Go 1.23, its ``Dockerfile``).
"""

from __future__ import annotations

import datetime
import decimal
import math
import re
from collections.abc import Mapping
from typing import Any

from gatewaykit._gofmt import quote
from gatewaykit.kube.gojson import format_float

__all__ = [
    "GoError",
    "GoMap",
    "canonical_header_key",
    "duration_string",
    "format_float_g",
    "json_encode",
    "parse_duration",
    "parse_float",
    "parse_int",
    "slog_line",
]


class GoError(ValueError):
    """A Go ``error`` value: ``str(exc)`` is exactly what Go's ``err.Error()`` returns."""


class GoMap(dict):  # type: ignore[type-arg]
    """A Go map: ``encoding/json`` writes its keys sorted (a plain ``dict`` is a struct, in order)."""


# --------------------------------------------------------------------------- encoding/json

_HEX = "0123456789abcdef"
# encode.go: \b and \f have short escapes since Go 1.22; other controls are \u00XX.
_SHORT = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def _json_string(s: str, escape_html: bool) -> str:
    out = ['"']
    for ch in s:
        if ch in _SHORT:
            out.append(_SHORT[ch])
        elif ch < " " or ch in "\u2028\u2029" or (escape_html and ch in "<>&"):
            # U+2028/U+2029 are escaped for JavaScript (encode.go); '<>&' only by json.Marshal.
            out.append(f"\\u{ord(ch):04x}")
        elif "\udc80" <= ch <= "\udcff":
            out.append("\\ufffd")  # an invalid UTF-8 byte (surrogateescape'd) becomes U+FFFD
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _json_float(f: float) -> str:
    """encode.go floatEncoder (gojson.format_float), with Go's own error for NaN and Inf."""
    if math.isnan(f) or math.isinf(f):
        raise GoError(f"json: unsupported value: {format_float_g(f)}")
    return format_float(f)


def json_encode(value: Any, *, indent: str | None = "  ", escape_html: bool = False) -> str:
    """``json.NewEncoder(w)`` with ``SetIndent("", indent)`` (``None`` = compact ``json.Marshal``).

    Args:
        value: ``dict`` (a struct: keys in order), :class:`GoMap` (keys sorted), ``list``, ``str``,
            ``bool``, ``int``, ``float``, ``None`` (``null``).
        indent: the indent unit; ``None`` writes compact JSON.
        escape_html: escape ``<``, ``>``, ``&`` as ``json.Marshal`` does (go-httpbin's Encoder does not).

    Returns:
        The text, ending with the newline ``Encoder.Encode`` writes (compact form: none).
    """
    text = _encode(value, indent, escape_html, 0)
    return text + "\n" if indent is not None else text


def _encode(value: Any, indent: str | None, esc: bool, depth: int) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _json_float(value)
    if isinstance(value, str):
        return _json_string(value, esc)
    if isinstance(value, Mapping):
        keys = sorted(value) if isinstance(value, GoMap) else list(value)
        items = [(_json_string(str(k), esc), value[k]) for k in keys]
        return _container(
            "{",
            "}",
            [f"{k}:{' ' if indent is not None else ''}" for k, _ in items],
            [v for _, v in items],
            indent,
            esc,
            depth,
        )
    if isinstance(value, (list, tuple)):
        return _container("[", "]", [""] * len(value), list(value), indent, esc, depth)
    raise TypeError(f"cannot encode {type(value).__name__}")


def _container(
    open_: str, close: str, prefixes: list[str], values: list[Any], indent: str | None, esc: bool, depth: int
) -> str:
    if not values:
        return open_ + close
    parts = [p + _encode(v, indent, esc, depth + 1) for p, v in zip(prefixes, values, strict=True)]
    if indent is None:
        return open_ + ",".join(parts) + close
    inner = "\n" + indent * (depth + 1)
    return open_ + inner + ("," + inner).join(parts) + "\n" + indent * depth + close


# --------------------------------------------------------------------------- strconv


_INT_RE = re.compile(r"[+-]?[0-9]+")
_INT64 = (-(1 << 63), (1 << 63) - 1)


def parse_int(s: str, func: str = "Atoi") -> int:
    """``strconv.Atoi`` / ``ParseInt(s, 10, 64)``; raises :class:`GoError` with Go's text."""
    if not _INT_RE.fullmatch(s):
        raise GoError(f"strconv.{func}: parsing {quote(s)}: invalid syntax")
    n = int(s)
    if not _INT64[0] <= n <= _INT64[1]:
        raise GoError(f"strconv.{func}: parsing {quote(s)}: value out of range")
    return n


_DEC_FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_HEX_FLOAT = re.compile(r"[+-]?0[xX]([0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP][+-]?[0-9]+")
_SPECIAL = re.compile(r"[+-]?(inf|infinity)|nan", re.IGNORECASE)


def parse_float(s: str) -> float:
    """``strconv.ParseFloat(s, 64)``: Go's syntax (no spaces, no ``_`` in decimals, hex needs ``p``)."""
    if _SPECIAL.fullmatch(s):
        return float(s)
    if _DEC_FLOAT.fullmatch(s):
        f = float(s)
    elif _HEX_FLOAT.fullmatch(s):
        f = float.fromhex(s)
    else:
        raise GoError(f"strconv.ParseFloat: parsing {quote(s)}: invalid syntax")
    if math.isinf(f):
        raise GoError(f"strconv.ParseFloat: parsing {quote(s)}: value out of range")
    return f


def format_float_g(f: float) -> str:
    """``strconv.FormatFloat(f, 'g', -1, 64)`` (slog's float text): %e when exp < -4 or >= 6."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "-0" if math.copysign(1, f) < 0 else "0"
    sign, digits, exp = decimal.Decimal(repr(f)).as_tuple()
    ds = "".join(map(str, digits)).rstrip("0") or "0"
    point = len(digits) + int(exp)  # decimal point position relative to the digit string
    x = point - 1
    neg = "-" if sign else ""
    # ftoa.go, %g: "if precision was the shortest possible, use precision 6 for this decision".
    if x < -4 or x >= 6:
        mant = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
        return f"{neg}{mant}e{'-' if x < 0 else '+'}{abs(x):02d}"
    if point <= 0:
        return f"{neg}0.{'0' * -point}{ds}"
    if point >= len(ds):
        return neg + ds + "0" * (point - len(ds))
    return f"{neg}{ds[:point]}.{ds[point:]}"


# --------------------------------------------------------------------------- time

_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
}
_DURATION = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(s: str) -> int:
    """``time.ParseDuration`` -> nanoseconds; raises :class:`GoError` (``time: invalid duration "x"``)."""
    text = s
    neg = text[:1] == "-"
    if text[:1] in "+-" and text:
        text = text[1:]
    if text == "0":
        return 0
    if not text:
        raise GoError(f"time: invalid duration {quote(s)}")
    total = decimal.Decimal(0)
    pos = 0
    while pos < len(text):
        m = _DURATION.match(text, pos)
        if not m or m.group(1) in ("", "."):
            raise GoError(f"time: invalid duration {quote(s)}")
        total += decimal.Decimal(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    ns = int(total)
    if ns > _INT64[1]:
        raise GoError(f"time: invalid duration {quote(s)}")
    return -ns if neg else ns


def _frac(v: int, prec: int) -> tuple[str, int]:
    digits = ""
    printed = False
    for _ in range(prec):
        d = v % 10
        printed = printed or d != 0
        if printed:
            digits = str(d) + digits
        v //= 10
    return ("." + digits if digits else ""), v


def duration_string(ns: int) -> str:
    """``time.Duration.String``: ``1.5s``, ``1m0s``, ``500ms``, ``0s``."""
    if ns == 0:
        return "0s"
    neg = ns < 0
    u = -ns if neg else ns
    if u < 10**9:
        for unit, scale, prec in (("ns", 1, 0), ("µs", 1_000, 3), ("ms", 1_000_000, 6)):
            if u < scale * 1000:
                frac, whole = _frac(u, prec)
                return ("-" if neg else "") + str(whole) + frac + unit
    frac, secs = _frac(u, 9)
    text = f"{secs % 60}{frac}s"
    mins = secs // 60
    if mins:
        text = f"{mins % 60}m" + text
        if mins // 60:
            text = f"{mins // 60}h" + text
    return ("-" if neg else "") + text


# --------------------------------------------------------------------------- net/textproto


def _is_token(c: str) -> bool:
    return c.isascii() and (c.isalnum() or c in "!#$%&'*+-.^_`|~")


def canonical_header_key(key: str) -> str:
    """``textproto.CanonicalMIMEHeaderKey``: ``x-b3-traceid`` -> ``X-B3-Traceid``.

    A key with a byte that is not a token character is returned unchanged.
    """
    if not key or not all(_is_token(c) for c in key):
        return key
    out = []
    upper = True
    for c in key:
        out.append(c.upper() if upper else c.lower())
        upper = c == "-"
    return "".join(out)


# --------------------------------------------------------------------------- log/slog


def _slog_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return format_float_g(v)
    s = str(v)
    # text_handler.go needsQuoting: empty, space, '=', '"', controls, non-printable runes.
    if not s or any(
        c in ' ="' or c < " " or (c >= "\x80" and (not c.isprintable() or c.isspace())) for c in s
    ):
        return quote(s)
    return s


def slog_line(
    level: str, msg: str, attrs: tuple[tuple[str, Any], ...], now: datetime.datetime, fmt: str = "text"
) -> str:
    """One line of ``slog.NewTextHandler`` (or ``NewJSONHandler`` when ``fmt == "json"``).

    The time is RFC 3339 with milliseconds (``2025-08-01T12:00:00.123Z`` in the image's UTC zone).
    """
    ts = (
        now.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{now.microsecond // 1000:03d}Z"
    )
    if fmt == "json":
        fields: dict[str, Any] = {"time": ts, "level": level, "msg": msg}
        fields.update(attrs)
        return json_encode(fields, indent=None)
    parts = [f"time={ts}", f"level={level}", f"msg={_slog_value(msg)}"]
    parts += [f"{k}={_slog_value(v)}" for k, v in attrs]
    return " ".join(parts)
