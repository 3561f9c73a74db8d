"""Go renderings of decoded JSON values, byte for byte: ``encoding/json`` and ``fmt``'s ``%v``.

kubectl and the API server are Go programs. What they write -- the
``last-applied-configuration`` annotation, a patch body, ``-o json`` output, an error message that
embeds a map -- is produced by Go's ``encoding/json`` (``Marshal``: compact, map keys sorted,
``<``, ``>``, ``&``, U+2028 and U+2029 escaped) or by ``fmt.Sprintf("%v")`` (``map[k:v]``,
``[a b]``, ``<nil>``). Values are Python's decoding of JSON: ``dict``, ``list``, ``str``,
``int`` (Go ``int64``), ``float`` (Go ``float64``), ``bool``, ``None``.

Rule: no I/O here.
"""

from __future__ import annotations

import decimal
import json
from typing import Any

from gatewaykit.errors import ValidationError

__all__ = ["format_float", "go_type", "go_v", "marshal", "marshal_indent", "same_type"]

# encoding/json escapes these even inside strings (HTMLEscape, and JS line terminators).
_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _escape(text: str) -> str:
    # Python's json already matches Go 1.22+ for control characters (\b \f \n \r \t, \u00XX).
    out = json.dumps(text, ensure_ascii=False)
    if any(ch in out for ch in _GO_ESCAPES):
        out = "".join(_GO_ESCAPES.get(ch, ch) for ch in out)
    return out


def _shortest(value: float) -> tuple[str, int]:
    """The shortest round-trip digits of ``value`` (no sign) and its decimal exponent."""
    dec = decimal.Decimal(repr(abs(value)))
    digits = "".join(map(str, dec.as_tuple().digits)).rstrip("0") or "0"
    return digits, dec.adjusted()


def _exp_form(value: float) -> str:
    # strconv.FormatFloat(v, 'e', -1, 64): d.ddde±XX, at least two exponent digits.
    digits, exp = _shortest(value)
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    sign = "-" if value < 0 else ""
    return f"{sign}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"


def _plain_form(value: float) -> str:
    text = format(decimal.Decimal(repr(value)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_float(value: float) -> str:
    """A float64 as ``encoding/json`` writes it (``floatEncoder``): ``1`` for 1.0, ``1e+21``, ``1e-7``."""
    if value != value or value in (float("inf"), float("-inf")):
        # encoding/json's UnsupportedValueError, the value as strconv 'g' prints it.
        shown = "NaN" if value != value else ("+Inf" if value > 0 else "-Inf")
        raise ValidationError(f"json: unsupported value: {shown}")
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        text = _exp_form(value)
        # encoding/json trims a negative two-digit exponent: "e-07" -> "e-7".
        return text[:-2] + text[-1] if text[-4:-1] == "e-0" else text
    return _plain_form(value) if value != 0 else ("-0" if str(value)[0] == "-" else "0")


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, str):
        return _escape(value)
    raise TypeError(f"json: unsupported type: {type(value).__name__}")


def marshal(value: Any) -> str:
    """``json.Marshal(value)`` of a decoded-JSON value: compact, keys sorted by their bytes."""
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: kv[0].encode())
        return "{" + ",".join(f"{_escape(k)}:{marshal(v)}" for k, v in items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(marshal(v) for v in value) + "]"
    return _scalar(value)


def marshal_indent(value: Any, indent: str = "    ", _level: int = 0) -> str:
    """``json.MarshalIndent(value, "", indent)`` -- what ``kubectl -o json`` prints (plus a newline)."""
    pad, inner = indent * _level, indent * (_level + 1)
    if isinstance(value, dict) and value:
        items = sorted(value.items(), key=lambda kv: kv[0].encode())
        body = ",\n".join(f"{inner}{_escape(k)}: {marshal_indent(v, indent, _level + 1)}" for k, v in items)
        return "{\n" + body + "\n" + pad + "}"
    if isinstance(value, list | tuple) and value:
        body = ",\n".join(inner + marshal_indent(v, indent, _level + 1) for v in value)
        return "[\n" + body + "\n" + pad + "]"
    return marshal(value)


def go_type(value: Any) -> str:
    """``reflect.TypeOf(value)`` printed with ``%s``: ``map[string]interface {}``, ``int64``, ``<nil>``."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "map[string]interface {}"
    return "[]interface {}"


def same_type(a: Any, b: Any) -> bool:
    """``reflect.TypeOf(a) == reflect.TypeOf(b)`` (``True`` is not an int, ``1.0`` is not ``1``)."""
    return go_type(a) == go_type(b)


def _v_float(value: float) -> str:
    # %v of a float64 is %g with the shortest digits: exponent form when exp < -4 || exp >= 6
    # (strconv's 'g' uses precision 6 for that decision when the precision is the shortest).
    if value != value or value in (float("inf"), float("-inf")):
        return "NaN" if value != value else ("+Inf" if value > 0 else "-Inf")
    if value == 0:
        return "-0" if str(value)[0] == "-" else "0"
    exp = _shortest(value)[1]
    return _exp_form(value) if exp < -4 or exp >= 6 else _plain_form(value)


def go_v(value: Any) -> str:
    """``fmt.Sprintf("%v", value)``: ``map[a:1 b:[x y]]`` (keys sorted), ``<nil>``, ``true``, ``1.5e+06``."""
    if value is None:
        return "<nil>"
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return _v_float(value)
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: kv[0].encode())
        return "map[" + " ".join(f"{k}:{go_v(v)}" for k, v in items) + "]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_v(v) for v in value) + "]"
    return _scalar(value)  # bool and int print as in JSON
