"""The API server's decoding of a built-in kind's JSON into its Go type, with its error texts.

kube-apiserver decodes a request body into the kind's Go struct with sigs.k8s.io/json (a fork of
encoding/json: case-sensitive, strict about unknown fields when kubectl asks for
``fieldValidation=Strict``). A value of the wrong JSON type is a ``BadRequest``::

    Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal string
    into Go struct field DeploymentSpec.spec.replicas of type int32

This module walks an object against the Go types of :mod:`gatewaykit.resources.k8s_types` the way
the decoder does (sigs.k8s.io/json ``internal/golang/encoding/json/decode.go``):

* a type mismatch is *saved* and decoding goes on; the first saved error is reported. Its text
  names the innermost struct and the JSON path of fields, without list indexes or map keys
  (``errorContext``): ``Go struct field ServicePort.spec.ports.port of type int32``;
* an integer that does not fit is ``number 2147483648``, a fraction ``number 1.5``;
* types with their own ``UnmarshalJSON`` (``intstr.IntOrString``, ``resource.Quantity``,
  ``metav1.Time``) *return* their error, which ends decoding at once and wins;
* ``null`` is accepted anywhere; unknown fields are strict-decoding errors, reported only when
  decoding succeeded, with their full path (``spec.template.spec.containers[0].foo``).

For custom resources, :func:`coerce_custom_metadata` does what apiextensions-apiserver does with
``metadata`` on create and update: fields that do not decode into ``ObjectMeta`` are dropped
(``GetObjectMetaWithOptions`` with ``DropMalformedFields``).

Rule: no I/O here.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import re
from typing import Any

from gatewaykit.resources._decoding import go_float
from gatewaykit.resources.k8s_types import GO_TYPES, MESSAGES

__all__ = ["DECODED_KINDS", "coerce_custom_metadata", "decode_object"]

#: Built-in kinds whose bodies are decoded into their Go type.
DECODED_KINDS = frozenset({"Namespace", "Service", "Secret", "ConfigMap", "ServiceAccount", "Deployment"})

#: Types with their own UnmarshalJSON, and their Go names.
_CUSTOM = {
    "IntOrString": "intstr.IntOrString",
    "Quantity": "resource.Quantity",
    "Time": "v1.Time",
    "FieldsV1": "v1.FieldsV1",
}
_SCALARS = frozenset({"string", "bool", "int32", "int64"})
_INT_RANGES = {"int32": (-(2**31), 2**31), "int64": (-(2**63), 2**63)}


class _Returned(Exception):
    """An error a custom ``UnmarshalJSON`` returned: decoding stops with it."""


def _go_type(table_type: str) -> str:
    """``reflect.Type.String()`` of a table type, after the decoder dereferenced its pointer."""
    t = table_type.lstrip("*")
    if t == "bytes":
        return "[]uint8"
    if t.startswith("[]"):
        return "[]" + _go_type(t[2:])
    if t.startswith("map[string]"):
        return "map[string]" + _go_type(t[len("map[string]") :])
    if t in _SCALARS:
        return t
    return _CUSTOM.get(t, f"v1.{t}")


def _element_go_type(container_go: str, element_table_type: str) -> str:
    if container_go.startswith("[]"):
        return container_go[2:]
    if container_go.startswith("map["):
        return container_go[container_go.index("]") + 1 :]
    return _go_type(element_table_type)


_FIELDS: dict[str, dict[str, tuple[str, str]]] = {}


def _fields(message: str) -> dict[str, tuple[str, str]]:
    """JSON name -> (table type, Go type) of a message, ``,inline`` structs flattened."""
    cached = _FIELDS.get(message)
    if cached is not None:
        return cached
    out: dict[str, tuple[str, str]] = {}
    names = GO_TYPES.get(message, {})
    for _go_field, tag, typ in MESSAGES[message].values():
        json_name = tag.split(",")[0]
        if ",inline" in tag and not json_name:
            out.update(_fields(typ))
        elif json_name and json_name != "-":
            out[json_name] = (typ, names.get(json_name, _go_type(typ)))
    _FIELDS[message] = out
    return out


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _literal(value: int | float) -> str:
    return str(value) if isinstance(value, int) else go_float(value)


class _Decoder:
    """One decode: the first saved error and the strict-decoding (unknown field) errors."""

    def __init__(self) -> None:
        self.saved = ""
        self.unknown: list[str] = []

    def save(self, message: str) -> None:
        if not self.saved:
            self.saved = message

    def type_error(self, value: Any, go: str, ctx: tuple[str, tuple[str, ...]], kind: str = "") -> None:
        """encoding/json ``UnmarshalTypeError`` with the ``errorContext`` of the field."""
        struct, stack = ctx
        what = kind or _json_kind(value)
        self.save(
            f"json: cannot unmarshal {what} into Go struct field {struct}.{'.'.join(stack)} of type {go}"
        )

    def value(self, typ: str, go: str, value: Any, ctx: tuple[str, tuple[str, ...]], path: str) -> None:
        if value is None:
            return  # null leaves any field at its zero value
        t = typ.lstrip("*")
        if t.startswith("[]"):
            self.array(t[2:], go, value, ctx, path)
        elif t.startswith("map[string]"):
            self.map(t[len("map[string]") :], go, value, ctx, path)
        elif t in _SCALARS:
            self.scalar(t, go, value, ctx)
        elif t == "bytes":
            self.bytes(go, value, ctx)
        elif t in _CUSTOM:
            _custom(t, value)
        elif not isinstance(value, dict):
            self.type_error(value, go, ctx)
        else:
            self.struct(t, value, ctx, path)

    def array(self, elem: str, go: str, value: Any, ctx: tuple[str, tuple[str, ...]], path: str) -> None:
        if not isinstance(value, list):
            self.type_error(value, go, ctx)
            return
        elem_go = _element_go_type(go, elem)
        for i, item in enumerate(value):
            self.value(elem, elem_go, item, ctx, f"{path}[{i}]")

    def map(self, elem: str, go: str, value: Any, ctx: tuple[str, tuple[str, ...]], path: str) -> None:
        if not isinstance(value, dict):
            self.type_error(value, go, ctx)
            return
        elem_go = _element_go_type(go, elem)
        for key, item in value.items():
            self.value(elem, elem_go, item, ctx, f"{path}.{key}")

    def scalar(self, t: str, go: str, value: Any, ctx: tuple[str, tuple[str, ...]]) -> None:
        if t == "string":
            if not isinstance(value, str):
                self.type_error(value, go, ctx)
        elif t == "bool":
            if not isinstance(value, bool):
                self.type_error(value, go, ctx)
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            self.type_error(value, go, ctx)
        else:
            low, high = _INT_RANGES[t]
            if not (isinstance(value, int) and low <= value < high):
                self.type_error(value, go, ctx, f"number {_literal(value)}")

    def bytes(self, go: str, value: Any, ctx: tuple[str, tuple[str, ...]]) -> None:
        """``[]byte`` reads base64 text (encoding/base64's error is saved as it is)."""
        if not isinstance(value, str):
            self.type_error(value, go, ctx)
            return
        offset = bad_base64_offset(value)
        if offset is not None:
            self.save(f"illegal base64 data at input byte {offset}")

    def struct(
        self, message: str, value: dict[str, Any], ctx: tuple[str, tuple[str, ...]], path: str
    ) -> None:
        fields = _fields(message)
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            found = fields.get(key)
            if found is None:
                self.unknown.append(where)
                continue
            typ, go = found
            self.value(typ, go, item, (message, (*ctx[1], key)), where)


def decode_object(kind: str, obj: dict[str, Any]) -> tuple[str, list[str]]:
    """Decode a built-in object as kube-apiserver does.

    Args:
        kind: one of :data:`DECODED_KINDS`.
        obj: the object as JSON data.

    Returns:
        ``(error, unknown_fields)``: the decoder's error text (``json: cannot unmarshal ...``,
        ``quantities must match ...``) or "", and the paths strict decoding rejects.
    """
    decoder = _Decoder()
    top = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    for key in ("apiVersion", "kind"):  # TypeMeta, inline
        if key in obj and not isinstance(obj[key], (str, type(None))):
            decoder.type_error(obj[key], "string", (kind, (key,)))
    try:
        decoder.struct(kind, top, (kind, ()), "")
    except _Returned as exc:
        return str(exc), []
    return decoder.saved, decoder.unknown


# ------------------------------------------------------------------------------ custom types


def _custom(t: str, value: Any) -> None:
    """The ``UnmarshalJSON`` of IntOrString, Quantity and Time (FieldsV1 keeps any JSON)."""
    if t == "IntOrString":
        _int_or_string(value)
    elif t == "Quantity":
        text = value if isinstance(value, str) else _json_text(value)
        problem = quantity_problem(text.strip())
        if problem:
            raise _Returned(problem)
    elif t == "Time":
        if not isinstance(value, str):
            raise _Returned(f"json: cannot unmarshal {_json_kind(value)} into Go value of type string")
        problem = rfc3339_problem(value)
        if problem:
            raise _Returned(problem)


def _int_or_string(value: Any) -> None:
    """intstr ``UnmarshalJSON``: a JSON string, else ``json.Unmarshal`` into an int32."""
    if isinstance(value, str):
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Returned(f"json: cannot unmarshal {_json_kind(value)} into Go value of type int32")
    if not (isinstance(value, int) and -(2**31) <= value < 2**31):
        raise _Returned(f"json: cannot unmarshal number {_literal(value)} into Go value of type int32")


def _json_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _literal(value)
    return "[" if isinstance(value, list) else "{"  # enough for the format check to fail


_QUANTITY_FORMAT = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
_QUANTITY = re.compile(_QUANTITY_FORMAT)
_NUMERIC = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$")
_SUFFIXES = frozenset({"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m", "k", "M", "G", "T", "P", "E"})
_EXPONENT = re.compile(r"^[eE][-+]?[0-9]+$")


def quantity_problem(text: str) -> str:
    """resource.ParseQuantity's error for ``text``, or "" (``pkg/api/resource/quantity.go``)."""
    found = _QUANTITY.match(text)
    if not text or found is None:
        return f"quantities must match the regular expression '{_QUANTITY_FORMAT}'"
    number, suffix = found.groups()
    if not _NUMERIC.match(number):
        return "unable to parse numeric part of quantity"
    if suffix not in _SUFFIXES and not _EXPONENT.match(suffix):
        return "unable to parse quantity's suffix"
    return ""


_RFC3339 = "2006-01-02T15:04:05Z07:00"
#: (layout element, pattern, range) of time.Parse with time.RFC3339, in order.
_TIME_ELEMENTS: tuple[tuple[str, str, tuple[int, int] | None, str], ...] = (
    ("2006", r"\d{4}", None, ""),
    ("-", "-", None, ""),
    ("01", r"\d{2}", (1, 12), "month"),
    ("-", "-", None, ""),
    ("02", r"\d{2}", (1, 31), "day"),
    ("T", "T", None, ""),
    ("15", r"\d{2}", (0, 23), "hour"),
    (":", ":", None, ""),
    ("04", r"\d{2}", (0, 59), "minute"),
    (":", ":", None, ""),
    ("05", r"\d{2}(\.\d+)?", (0, 59), "second"),
    ("Z07:00", r"Z|[+-]\d{2}:\d{2}", None, ""),
)


def rfc3339_problem(value: str) -> str:
    """metav1.Time's ``time.Parse(time.RFC3339, ...)`` error for ``value``, or ""."""
    rest = value
    numbers: dict[str, int] = {}
    for element, pattern, bounds, what in _TIME_ELEMENTS:
        found = re.match(pattern, rest)
        if found is None:
            return f'parsing time "{value}" as "{_RFC3339}": cannot parse "{rest}" as "{element}"'
        if bounds is not None:
            number = int(found.group()[:2])
            if not bounds[0] <= number <= bounds[1]:
                return f'parsing time "{value}": {what} out of range'
            numbers[what] = number
        rest = rest[found.end() :]
    if rest:
        return f'parsing time "{value}": extra text: "{rest}"'
    year = int(value[:4])
    if numbers["day"] > calendar.monthrange(year, numbers["month"])[1]:
        return f'parsing time "{value}": day out of range'
    return ""


# ------------------------------------------------------------------------------ base64


_BASE64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def bad_base64_offset(value: str) -> int | None:
    """Where Go's ``base64.StdEncoding`` (as encoding/json uses it) finds ``value`` corrupt, or None.

    Like Go, line breaks are skipped; the offset is the one ``CorruptInputError`` reports.
    """
    stripped = value.replace("\n", "").replace("\r", "")
    try:
        base64.b64decode(stripped, validate=True)
        return None
    except (binascii.Error, ValueError):
        pass
    for i, ch in enumerate(stripped):
        if ch == "=":
            return i
        if ch not in _BASE64:
            return i
    # Length not a multiple of 4: Go reports the offset of the last complete quantum.
    return (len(stripped) // 4) * 4


# ------------------------------------------------------------------------------ custom resources


def coerce_custom_metadata(obj: dict[str, Any]) -> dict[str, Any]:
    """A custom resource's ``metadata`` as apiextensions-apiserver keeps it: fields that do not
    decode into ``ObjectMeta`` dropped (``dropInvalidMetadata``), the rest unchanged."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return obj
    fields = _fields("ObjectMeta")
    kept: dict[str, Any] = {}
    for key, value in meta.items():
        found = fields.get(key)
        if found is not None:
            decoder = _Decoder()
            try:
                decoder.value(found[0], found[1], value, ("ObjectMeta", (key,)), key)
            except _Returned:
                continue
            if decoder.saved:
                continue
        kept[key] = value
    return {**obj, "metadata": kept}
