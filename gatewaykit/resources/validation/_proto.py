"""Reading a manifest dict the way Istio's Go code reads the decoded proto.

Istio validates generated Go structs: a missing or ``null`` field is the zero value (``""``, ``0``,
an empty list or map, a ``nil`` message). These getters give the same zero values for the raw
YAML dicts we validate, so each check can be written the way the Go function reads.

Rule: no I/O here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gatewaykit._gofmt import quote

__all__ = [
    "Config",
    "as_dict",
    "as_double",
    "as_str",
    "get_int",
    "get_list",
    "get_map",
    "get_msg",
    "get_str",
    "proto_text",
]


@dataclass(frozen=True, slots=True)
class Config:
    """Istio's ``config.Config`` as a validator sees it: the object's identity and its ``spec``.

    Attributes:
        group: the API group (``networking.istio.io``).
        kind: the kind (``Gateway``).
        name: ``metadata.name``.
        namespace: ``metadata.namespace`` (``default`` when absent).
        spec: the ``spec`` mapping as written (``{}`` when absent or not a mapping).
        annotations: ``metadata.annotations``.
    """

    group: str
    kind: str
    name: str
    namespace: str
    spec: dict[str, Any]
    annotations: Mapping[str, Any] = field(default_factory=dict)


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a mapping, else an empty dict."""
    return value if isinstance(value, dict) else {}


def as_str(value: Any) -> str:
    """``value`` if it is a string, else ""."""
    return value if isinstance(value, str) else ""


def as_double(value: Any) -> float:
    """A proto double: numbers only (anything else reads as 0)."""
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def get_str(d: Any, key: str) -> str:
    """A string field (missing/null -> "")."""
    if not isinstance(d, dict):
        return ""
    v = d.get(key)
    return v if isinstance(v, str) else ("" if v is None else str(v))


def get_int(d: Any, key: str) -> int:
    """An integer field (missing -> 0)."""
    if not isinstance(d, dict):
        return 0
    v = d.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def get_list(d: Any, key: str) -> list[Any]:
    """A repeated field (missing -> [])."""
    if not isinstance(d, dict):
        return []
    v = d.get(key)
    return v if isinstance(v, list) else []


def get_map(d: Any, key: str) -> dict[str, Any]:
    """A map field (missing -> {})."""
    if not isinstance(d, dict):
        return {}
    v = d.get(key)
    return v if isinstance(v, dict) else {}


def get_msg(d: Any, key: str) -> dict[str, Any] | None:
    """A message field: None when absent (Go nil)."""
    if not isinstance(d, dict):
        return None
    v = d.get(key)
    return v if isinstance(v, dict) else None


#: A ``networking.Port`` printed with ``%v``: proto text format, its fields in proto order.
_PORT_FIELDS = (
    ("number", "number"),
    ("protocol", "protocol"),
    ("name", "name"),
    ("targetPort", "target_port"),
)


def proto_text(port: dict[str, Any]) -> str:
    """A ``Port`` message printed with ``%v`` (text format, zero fields omitted)."""
    parts = []
    for key, name in _PORT_FIELDS:
        v = port.get(key)
        if v in (None, "", 0):
            continue
        parts.append(f"{name}:{quote(v) if isinstance(v, str) else v}")
    return " ".join(parts)
