"""Kubernetes protobuf request bodies, decoded into the JSON-shaped objects the API server works on.

client-go's generated (typed) clients send built-in objects as ``application/vnd.kubernetes.protobuf``
(``k8s.io/client-go/rest``, ``UseProtobufAsDefault``): ``kubectl create namespace|secret|configmap|
serviceaccount|deployment|service``. Such a body is the 4-byte magic ``k8s\\x00`` and then a
``runtime.Unknown`` message (``k8s.io/apimachinery/pkg/runtime/generated.proto``):
``typeMeta{apiVersion, kind}`` and ``raw``, the object's own message
(``k8s.io/apimachinery/pkg/runtime/serializer/protobuf/protobuf.go``).

:func:`decode` reads the wire format (https://protobuf.dev/programming-guides/encoding/) with the
schemas of :data:`gatewaykit.kube.protobuf_messages.MESSAGES` and returns the dict the same object's
JSON body would have parsed to, field for field as Go's ``encoding/json`` writes the Go struct: JSON
names, ``omitempty``/``omitzero``, ``[]byte`` as base64, ``IntOrString`` as an int or a string,
``Time`` as RFC 3339, ``Quantity`` as its string. Like the API server, it drops unknown fields (a
protobuf body is never strictly decoded) and words every failure as kube-apiserver does
(``k8s.io/apiserver/pkg/endpoints/handlers/rest.go``, ``transformDecodeError``).

Not decoded: a ``Quantity`` is checked but not rewritten into canonical form (Go clients send the
canonical form already); kinds outside :data:`KINDS` are refused as not registered.
"""

from __future__ import annotations

import base64
import datetime
import functools
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from gatewaykit.kube.protobuf_messages import MESSAGES

__all__ = ["CONTENT_TYPE", "KINDS", "MAGIC", "DecodeError", "decode"]

CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
#: ``protoEncodingPrefix``: "k8s", then the encoding style (0: a ``runtime.Unknown`` follows).
MAGIC = b"k8s\x00"

#: (apiVersion, kind) -> its message in ``MESSAGES``: the built-in kinds the sandbox serves.
KINDS: Mapping[tuple[str, str], str] = {
    ("v1", "Namespace"): "Namespace",
    ("v1", "Secret"): "Secret",
    ("v1", "ConfigMap"): "ConfigMap",
    ("v1", "ServiceAccount"): "ServiceAccount",
    ("v1", "Service"): "Service",
    ("v1", "Pod"): "Pod",
    ("apps/v1", "Deployment"): "Deployment",
    ("apps/v1", "ReplicaSet"): "ReplicaSet",
}

#: The scheme kube-apiserver names in "no kind is registered" (``pkg/api/legacyscheme/scheme.go``).
SCHEME = "pkg/api/legacyscheme/scheme.go:30"
#: The internal package each group converts into (named in conversion errors).
_INTERNAL = {"": "core", "apps": "apps"}

_MASK64 = (1 << 64) - 1
#: Hand-written ``Unmarshal``s that replace the value (generated ones merge a repeated message).
_REPLACED = frozenset({"Time", "Quantity"})
#: The Go zero time, 0001-01-01T00:00:00Z, in Unix seconds: ``Time.IsZero`` (JSON ``null``).
_ZERO_TIME = -62135596800


class DecodeError(ValueError):
    """A body the API server cannot decode; ``str()`` is kube-apiserver's message (a BadRequest)."""


class _Malformed(Exception):
    """A decoding failure, worded as the Go error that kube-apiserver wraps."""


# ------------------------------------------------------------------------------ the wire format

#: Wire types: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32 (3/4: groups, never used).
_WIRES = {"string": (2,), "bytes": (2,), "bool": (0,), "int32": (0,), "int64": (0,)}


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """The base-128 varint at ``pos`` and where it ends (gogo's loop: at most 10 bytes, 64 bits)."""
    value = 0
    for shift in range(0, 64, 7):
        if pos >= len(data):
            raise _Malformed("unexpected EOF")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value & _MASK64, pos
    raise _Malformed("proto: integer overflow")


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _length(data: bytes, pos: int) -> tuple[int, int]:
    """A length prefix and where the bytes it counts end."""
    length, pos = _varint(data, pos)
    length = _signed(length, 64)  # Go accumulates into an int: a huge length turns negative
    if length < 0:
        raise _Malformed("proto: negative length found during unmarshaling")
    if pos + length > len(data):
        raise _Malformed("unexpected EOF")
    return pos, pos + length


def _skip(data: bytes, pos: int) -> int:
    """Where the unknown field at ``pos`` ends (``skipGenerated``): unknown fields are dropped."""
    depth = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        wire = key & 7
        if wire == 0:
            _, pos = _varint(data, pos)
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        elif wire == 2:
            length, pos = _varint(data, pos)
            if _signed(length, 64) < 0:
                raise _Malformed("proto: negative length found during unmarshaling")
            pos += length
        elif wire in (3, 4):
            if wire == 4 and depth == 0:
                raise _Malformed("proto: unexpected end of group")
            depth += 1 if wire == 3 else -1
        else:
            raise _Malformed(f"proto: illegal wireType {wire}")
        if depth == 0:
            if pos > len(data):
                raise _Malformed("unexpected EOF")
            return pos
    raise _Malformed("unexpected EOF")


# ------------------------------------------------------------------------------ the schemas


@dataclass(frozen=True, slots=True)
class _Field:
    """One row of ``MESSAGES``, parsed: what the wire carries and what Go's JSON writes."""

    go: str  # the Go field (proto's error texts name it)
    json: str  # "" for an embedded struct whose fields join the outer object
    omitempty: bool
    omitzero: bool
    shape: str  # "" a value, "*" a pointer, "[]" repeated, "map" a map[string]T
    kind: str  # a scalar kind or a message name

    @property
    def wires(self) -> tuple[int, ...]:
        """The wire types gogo's generated code accepts for this field."""
        if self.kind not in _WIRES:
            return (2,)
        if self.shape == "[]" and self.kind not in ("string", "bytes"):
            return (0, 2)  # a repeated number, unpacked or packed
        return (2,) if self.shape == "map" else _WIRES[self.kind]


@functools.cache
def _schema(message: str) -> dict[int, _Field]:
    fields = {}
    for number, (go, tag, gotype) in MESSAGES[message].items():
        name, *options = tag.split(",")
        shape = next((p for p in ("*", "[]", "map[string]") if gotype.startswith(p)), "")
        fields[number] = _Field(
            go=go,
            json=name,
            omitempty="omitempty" in options,
            omitzero="omitzero" in options,
            shape=shape.removesuffix("[string]"),
            kind=gotype[len(shape) :],
        )
    return fields


# ------------------------------------------------------------------------------ decoding


def _fields(data: bytes, message: str, schema: Mapping[int, _Field]) -> Iterator[tuple[int, int, Any]]:
    """The known fields of one message in wire order: (number, wire type, raw value)."""
    pos = 0
    while pos < len(data):
        start = pos
        key, pos = _varint(data, pos)
        number, wire = _signed(key >> 3, 32), key & 7
        if wire == 4:
            raise _Malformed(f"proto: {message}: wiretype end group for non-group")
        if number <= 0:
            raise _Malformed(f"proto: {message}: illegal tag {number} (wire type {key})")
        field = schema.get(number)
        if field is None:
            pos = _skip(data, start)
            continue
        if wire not in field.wires:
            raise _Malformed(f"proto: wrong wireType = {wire} for field {field.go}")
        if wire == 0:
            value, pos = _varint(data, pos)
            yield number, wire, value
        else:
            begin, pos = _length(data, pos)
            yield number, wire, data[begin:pos]


def _scalar(kind: str, raw: Any) -> Any:
    """A scalar as Go's JSON writes it."""
    if kind == "string":
        return raw.decode("utf-8", "replace")  # Go's JSON writes invalid UTF-8 as U+FFFD
    if kind == "bytes":
        return base64.b64encode(raw).decode("ascii")
    if kind == "bool":
        return raw != 0
    return _signed(raw, 32 if kind == "int32" else 64)


def _value(kind: str, raw: Any) -> Any:
    return _scalar(kind, raw) if kind in _WIRES else _message(kind, raw)


def _scan(message: str, data: bytes) -> dict[int, Any]:
    """A message's fields by number, as JSON values (nested messages decoded in wire order)."""
    schema = _schema(message)
    found: dict[int, Any] = {}
    merged: dict[int, bytes] = {}
    for number, wire, raw in _fields(data, message, schema):
        field = schema[number]
        if field.shape == "[]":
            items = found.setdefault(number, [])
            if wire == 2 and field.kind in ("bool", "int32", "int64"):
                items.extend(_scalar(field.kind, v) for v in _packed(raw))
            else:
                items.append(_value(field.kind, raw))
        elif field.shape == "map":
            key, value = _map_entry(message, field, raw)
            found.setdefault(number, {})[key] = value
        elif field.kind in _WIRES or field.kind in _REPLACED:
            found[number] = _value(field.kind, raw)  # the last one wins
        else:
            # A message field sent twice merges (proto2); concatenated bytes decode as the merge.
            merged[number] = merged.get(number, b"") + raw
            found[number] = _message(field.kind, merged[number])
    return found


def _packed(raw: bytes) -> Iterator[int]:
    pos = 0
    while pos < len(raw):
        value, pos = _varint(raw, pos)
        yield value


def _map_entry(message: str, field: _Field, raw: bytes) -> tuple[str, Any]:
    """One ``map<string, T>`` entry (key 1, value 2); a missing value is T's zero value."""
    entry = {
        1: _Field(field.go, "key", False, False, "", "string"),
        2: _Field(field.go, "value", False, False, "", field.kind),
    }
    # gogo starts from an empty value: "" for strings and []byte{}, a zero message.
    key, value = "", "" if field.kind in ("string", "bytes") else _absent(entry[2])
    for number, _, part in _fields(raw, message, entry):
        if number == 1:
            key = _scalar("string", part)
        else:
            value = _value(field.kind, part)
    return key, value


def _absent(field: _Field) -> Any:
    """A field's JSON value when the wire does not carry it: Go's zero value."""
    if field.shape or field.kind == "bytes":
        return None  # a nil pointer, slice or map: null
    if field.kind in _WIRES:
        return {"string": "", "bool": False}.get(field.kind, 0)
    return _message(field.kind, b"")


def _omitted(field: _Field, value: Any, present: bool) -> bool:
    """Go's ``encoding/json``: ``omitempty`` skips false, 0, "", a nil pointer and an empty slice or
    map, never a struct; ``omitzero`` skips the zero value (``Time.IsZero`` for a ``Time``)."""
    if field.shape == "*":
        empty = not present  # a set pointer is written even when it points to 0 or false
    elif field.shape or field.kind in _WIRES:
        empty = value in (None, False, 0, "", [], {})
    else:
        return field.omitzero and value == _absent(field)
    return (field.omitempty or field.omitzero) and empty


def _message(message: str, data: bytes) -> Any:
    """One message as the JSON its Go struct marshals to."""
    special = _SPECIAL.get(message)
    if special is not None:
        return special(data)
    found = _scan(message, data)
    out: dict[str, Any] = {}
    embedded: list[dict[str, Any]] = []
    for number, field in _schema(message).items():
        present = number in found
        value = found[number] if present else _absent(field)
        if not field.json:
            embedded.append(value)
        elif not _omitted(field, value, present):
            out[field.json] = value
    for inner in embedded:  # an embedded struct's fields, unless the outer struct has the name
        for name, value in inner.items():
            out.setdefault(name, value)
    return out


# ------------------------------------------------------------------------------ apimachinery's types


def _time(data: bytes) -> str | None:
    """``metav1.Time``: empty is the zero time (``null``); else whole seconds, RFC 3339 in UTC."""
    if not data:
        return None
    seconds = _scan("Timestamp", data).get(1, 0)  # Time.Unmarshal drops the nanoseconds
    if seconds == _ZERO_TIME:
        return None
    try:
        moment = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(seconds=seconds)
    except OverflowError as exc:
        raise _Malformed("Time.MarshalJSON: year outside of range [0,9999]") from exc
    return f"{moment.year:04d}-{moment:%m-%dT%H:%M:%SZ}"


#: ``parseQuantityString``: a signed decimal number, then a suffix.
_QUANTITY = re.compile(r"([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(.*)", re.S)
_SUFFIX = re.compile(r"(?:[numkMGTPE]|[KMGTPE]i|[eE][+-]?[0-9]+)?")
_QUANTITY_FORMAT = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"


def _quantity(data: bytes) -> str:
    """``resource.Quantity``: its string (unset: ``"0"``); ``ParseQuantity``'s errors for a bad one."""
    text = _scan("Quantity", data).get(1)
    if text is None:
        return "0"
    number = _QUANTITY.fullmatch(text)
    if number is None:
        raise _Malformed(f"quantities must match the regular expression '{_QUANTITY_FORMAT}'")
    if _SUFFIX.fullmatch(number.group(2)) is None:
        raise _Malformed("unable to parse quantity's suffix")
    return text


def _int_or_string(data: bytes) -> int | str:
    """``intstr.IntOrString``: ``intVal`` (type 0) or ``strVal`` (type 1)."""
    found = _scan("IntOrString", data)
    kind = found.get(1, 0)
    if kind not in (0, 1):
        raise _Malformed("impossible IntOrString.Type")
    return found.get(3, "") if kind else found.get(2, 0)


def _fields_v1(data: bytes) -> Any:
    """``metav1.FieldsV1`` (``managedFields[].fieldsV1``): its raw bytes are JSON."""
    raw = _scan("FieldsV1", data).get(1)
    if raw is None:
        return None
    try:
        return json.loads(base64.b64decode(raw))
    except ValueError as exc:
        raise _Malformed(f"json: error calling MarshalJSON for type *v1.FieldsV1: {exc}") from exc


#: apimachinery's types whose JSON is not their struct's (``time.go``, ``quantity.go``, ``intstr.go``).
_SPECIAL: dict[str, Callable[[bytes], Any]] = {
    "Time": _time,
    "Quantity": _quantity,
    "IntOrString": _int_or_string,
    "FieldsV1": _fields_v1,
}


# ------------------------------------------------------------------------------ the envelope


def _summary(body: bytes) -> str:
    """``summarizeData(body, 30)``: the first 30 bytes, as text for JSON, else in hex."""
    if not body:
        return "<empty>"
    head = body[:30]
    text = head.decode("utf-8", "replace") if body[:1] == b"{" else head.hex()
    return text + " ..." if len(body) > 30 else text


def _envelope(body: bytes) -> tuple[str, str, bytes]:
    """``Serializer.Decode``'s first steps: the magic, then ``runtime.Unknown``'s type and raw."""
    if not body:
        raise _Malformed("empty data")
    if not body.startswith(MAGIC):
        raise _Malformed(
            "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]"
        )
    if len(body) == len(MAGIC):
        raise _Malformed("empty body")
    unknown = _scan("Unknown", body[len(MAGIC) :])
    type_meta = unknown.get(1, {})
    raw = base64.b64decode(unknown.get(2, ""))
    return type_meta.get("apiVersion", ""), type_meta.get("kind", ""), raw


def decode(body: bytes, into: tuple[str, str] | None = None) -> dict[str, Any]:
    """A Kubernetes protobuf body as the JSON-shaped object (``apiVersion``, ``kind`` included).

    ``into`` is the (apiVersion, kind) the URL names: it fills an envelope without them, and a
    body of another kind is refused, as kube-apiserver's create and update handlers do. Raises
    :class:`DecodeError` with kube-apiserver's message for a body it would reject.
    """
    want_kind = into[1] if into else ""
    try:
        api_version, kind, raw = _envelope(body)
    except _Malformed as exc:
        if into is None:
            raise DecodeError(str(exc)) from None
        raise DecodeError(
            f"the object provided is unrecognized (must be of type {want_kind}): {exc} ({_summary(body)})"
        ) from None
    if into is not None:  # copyKindDefaults
        kind = kind or into[1]
        api_version = api_version or into[0]
    try:
        obj = _object(api_version, kind, raw, into)
    except _Malformed as exc:
        if not kind:
            raise DecodeError(str(exc)) from None
        version = api_version.rsplit("/", 1)[-1]
        prefix = f'{kind} in version "{version}" cannot be handled as a {want_kind}: ' if into else ""
        raise DecodeError(f"{prefix}{exc}") from None
    return {"kind": kind, "apiVersion": api_version, **obj}


def _object(api_version: str, kind: str, raw: bytes, into: tuple[str, str] | None) -> dict[str, Any]:
    if not kind:
        raise _Malformed(f"Object 'Kind' is missing in '{_type_meta(api_version, kind)}'")
    if not api_version:
        raise _Malformed(f"Object 'apiVersion' is missing in '{_type_meta(api_version, kind)}'")
    message = KINDS.get((api_version, kind))
    if message is None:
        raise _Malformed(f'no kind "{kind}" is registered for version "{api_version}" in scheme "{SCHEME}"')
    if into is not None and (api_version, kind) != into:
        group = into[0].rpartition("/")[0]
        internal = f"{_INTERNAL.get(group, group.split('.')[0])}.{into[1]}"
        raise _Malformed(f"converting (v1.{kind}) to ({internal}): unknown conversion")
    result = _message(message, raw)
    assert isinstance(result, dict)
    return result


def _type_meta(api_version: str, kind: str) -> str:
    return f'runtime.TypeMeta{{APIVersion:"{api_version}", Kind:"{kind}"}}'
