"""Go's ``fmt``/``strconv`` renderings that Istio's and Kubernetes' messages go through.

Istio builds its error texts with ``fmt.Errorf("... %q ...", x)`` and ``%v`` of slices and maps;
a learner compares our text with the real one character by character, so each rendering lives
here once: ``%q`` of a string (:func:`quote`), ``%v`` of a ``[]string`` (:func:`format_list`),
``%f`` of a float (:func:`format_float`) and ``%#v`` of a ``map[string]string``
(:func:`format_string_map`).

Rule: no I/O here (the pure core imports this module).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["format_float", "format_list", "format_string_map", "quote"]

#: strconv's one-letter escapes (``appendEscapedRune`` in Go's strconv/quote.go).
_SHORT_ESCAPES = {
    0x07: "\\a",
    0x08: "\\b",
    0x0C: "\\f",
    0x0A: "\\n",
    0x0D: "\\r",
    0x09: "\\t",
    0x0B: "\\v",
}


def _go_bytes(value: str | bytes) -> bytes:
    """The bytes of a Go string holding ``value``.

    A Python ``str`` is text, but a Go string is bytes: characters decoded with
    ``surrogateescape`` (U+DC80..U+DCFF) stand for the raw bytes they came from, and any other
    lone surrogate is its (invalid in UTF-8) three-byte encoding, which Go escapes byte by byte.
    """
    if isinstance(value, bytes):
        return value
    out = bytearray()
    for ch in value:
        cp = ord(ch)
        if 0xDC80 <= cp <= 0xDCFF:
            out.append(cp - 0xDC00)
        elif 0xD800 <= cp <= 0xDFFF:
            out += ch.encode("utf-8", "surrogatepass")
        else:
            out += ch.encode("utf-8")
    return bytes(out)


def _next_rune(data: bytes, i: int) -> tuple[str | None, int]:
    """Decode one rune at ``data[i]`` as Go's ``utf8.DecodeRuneInString`` does.

    Returns the character and its width, or ``(None, 1)`` for an invalid byte (Go's
    ``RuneError`` of width 1). Python's strict UTF-8 decoder rejects what Go rejects:
    overlong forms, surrogates and code points above U+10FFFF.
    """
    for width in (1, 2, 3, 4):
        try:
            ch = data[i : i + width].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return ch, width
    return None, 1


def _is_print(ch: str) -> bool:
    """Go's ``strconv.IsPrint``: letters, marks, numbers, punctuation, symbols and ASCII space.

    Python's Unicode tables (14.0 on Python 3.11) stand in for Go's (15.0 in Go 1.24); they
    differ only for characters assigned since.
    """
    return ch == " " or unicodedata.category(ch)[0] in "LMNPS"


def quote(value: Any) -> str:
    """Go's ``strconv.Quote`` (what ``%q`` prints for a string).

    Printable characters stay as they are; ``"`` and ``\\`` are escaped; ``\\a \\b \\f \\n \\r
    \\t \\v`` use their letters; other control characters and invalid UTF-8 bytes become
    ``\\xNN``; other non-printable characters ``\\uNNNN`` or ``\\UNNNNNNNN`` (lower-case hex).

    Args:
        value: the string (``bytes`` are taken as a Go string's raw bytes; anything else is
            converted with ``str()`` first, as the Go fields it stands for are strings).

    Returns:
        The quoted text, e.g. ``quote('a"b\\n')`` is ``"a\\"b\\n"``.
    """
    data = _go_bytes(value if isinstance(value, (str, bytes)) else str(value))
    out = ['"']
    i = 0
    while i < len(data):
        ch, width = _next_rune(data, i)
        if ch is None:
            out.append(f"\\x{data[i]:02x}")
        elif ch in ('"', "\\"):
            out.append("\\" + ch)
        elif _is_print(ch):
            out.append(ch)
        elif ord(ch) in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ord(ch)])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
        i += width
    out.append('"')
    return "".join(out)


def format_list(items: Iterable[Any]) -> str:
    """Go's ``%v`` of a slice: ``[a b c]`` (elements printed with ``%v``, space-separated)."""
    return "[" + " ".join(str(item) for item in items) + "]"


def format_float(value: Any) -> str:
    """Go's ``%f`` of a float64: six decimals (``12.500000``); non-numbers as ``str()``."""
    try:
        return f"{float(value):f}"
    except (TypeError, ValueError):
        return str(value)


def format_string_map(labels: Mapping[str, Any]) -> str:
    """Go's ``%#v`` of a ``map[string]string``: ``map[string]string{"a":"b", "c":"d"}``.

    fmt prints maps with their keys sorted.
    """
    inner = ", ".join(f"{quote(k)}:{quote(v)}" for k, v in sorted(labels.items()))
    return f"map[string]string{{{inner}}}"
