"""What kubectl does to a manifest's bytes before anything reaches the API server, with its limits.

:mod:`gatewaykit.resources.codecs` (the one manifest reader) parses YAML with PyYAML; this module
makes what it produces what kubectl would send, and bounds what a manifest can make the reader
consume:

* bytes are decoded as kubectl's ``FileVisitor`` decodes them (k8s.io/cli-runtime
  ``pkg/resource/visitor.go``: ``unicode.BOMOverride(unicode.UTF8.NewDecoder())``): a UTF-8 or
  UTF-16 byte-order mark selects the encoding, and bytes that are not UTF-8 become U+FFFD --
  kubectl reports no decoding error, the replacement characters reach the API server;
* one document's node graph is checked the way go-yaml v2 (go.yaml.in/yaml/v2 ``decode.go``,
  which sigs.k8s.io/yaml uses) checks it while decoding: an alias that contains itself
  (``anchor 'a' value contains itself``) and alias expansion beyond ``allowedAliasRatio``
  (``document contains excessive aliasing``), before anything is expanded;
* nesting deeper than :data:`MAX_DEPTH` is refused with go-yaml's ``exceeded max depth of N``
  (go-yaml allows 10000; the sandbox's checks are recursive, so its limit is lower);
* values become the JSON kubectl sends (sigs.k8s.io/yaml ``YAMLToJSON``, then client-go's
  unstructured objects): NaN and infinities are ``json: unsupported value``, integral floats are
  integers, numbers beyond 64 bits are floats, map keys are strings.

Rule: no I/O here.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import math
import re
from typing import Any

import yaml

__all__ = [
    "MAX_DEPTH",
    "DecodeLimitError",
    "check_node_graph",
    "decode_bytes",
    "go_float",
    "json_depth_offset",
    "to_json",
]

#: The deepest nesting of mappings and sequences the sandbox reads. go-yaml's own limit is 10000
#: (``max_flow_level``/``max_indents``); Kubernetes objects nest about 30 deep at most (Istio's
#: and the Gateway API's CRDs), and the sandbox's validators and patches recurse.
MAX_DEPTH = 100

_INT64 = (-(2**63), 2**63)
_UINT64_END = 2**64


class DecodeLimitError(ValueError):
    """A document breaks one of go-yaml's / encoding/json's limits.

    Attributes:
        problem: go-yaml's or encoding/json's text (``document contains excessive aliasing``).
        line: the 1-based line within the document, or 0 when the message names none.
    """

    def __init__(self, problem: str, line: int = 0) -> None:
        super().__init__(problem)
        self.problem, self.line = problem, line


# ------------------------------------------------------------------------------ bytes


def decode_bytes(data: bytes) -> str:
    """Decode a manifest file's bytes as kubectl does (BOM-aware, invalid UTF-8 as U+FFFD)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", "replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", "replace")  # the BOM picks the byte order and is dropped
    return data.decode("utf-8", "replace")


_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """Text given as ``str`` with lone surrogates (no UTF-8 form) replaced by U+FFFD, as kubectl
    would read the bytes they came from."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


# ------------------------------------------------------------------------------ go-yaml's limits

# decode.go allowedAliasRatio: 99% of decodes may come from aliases up to 400,000 decodes, 10%
# from 4,000,000 on, scaled in between.
_RATIO_LOW, _RATIO_HIGH = 400_000, 4_000_000


def _allowed_alias_ratio(decodes: int) -> float:
    if decodes <= _RATIO_LOW:
        return 0.99
    if decodes >= _RATIO_HIGH:
        return 0.10
    return 0.99 - 0.89 * ((decodes - _RATIO_LOW) / (_RATIO_HIGH - _RATIO_LOW))


_MERGE_TAG = "tag:yaml.org,2002:merge"


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _alias_edges(root: yaml.Node) -> set[tuple[int, int]]:
    """Which child slots of the graph are aliases, checking the nesting depth on the way.

    PyYAML composes an alias as the anchored node itself; in document order (preorder) an
    anchored node is met first where it is defined, so a node met again is an alias there.
    """
    seen: set[int] = set()
    aliases: set[tuple[int, int]] = set()
    stack: list[tuple[yaml.Node, int, tuple[int, int] | None]] = [(root, 1, None)]
    while stack:
        node, depth, slot = stack.pop()
        if id(node) in seen:
            assert slot is not None
            aliases.add(slot)
            continue
        seen.add(id(node))
        if isinstance(node, yaml.CollectionNode) and depth > MAX_DEPTH:
            raise DecodeLimitError(f"exceeded max depth of {MAX_DEPTH}", node.start_mark.line + 1)
        children = _children(node)
        for i in range(len(children) - 1, -1, -1):
            stack.append((children[i], depth + 1, (id(node), i)))
    return aliases


def _check_depth(root: yaml.Node) -> None:
    """The nesting check of :func:`_alias_edges` for a graph without aliases (a tree)."""
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise DecodeLimitError(f"exceeded max depth of {MAX_DEPTH}", node.start_mark.line + 1)
        stack.extend((c, depth + 1) for c in _children(node) if isinstance(c, yaml.CollectionNode))


_ANCHOR = re.compile(r"&([^\s,\[\]{}]+)")


def _anchor_name(node: yaml.Node, body: str) -> str:
    found = _ANCHOR.match(body, node.start_mark.index)
    return found.group(1) if found else ""


def _decode_order(node: yaml.Node) -> list[tuple[tuple[int, int], yaml.Node]]:
    """The children go-yaml's decoder visits, with their slots (parent id, index): a merge key
    (``<<``) is not decoded, and a merged sequence is decoded item by item (decode.go ``merge``)."""
    if not isinstance(node, yaml.MappingNode):
        return [((id(node), i), child) for i, child in enumerate(_children(node))]
    out: list[tuple[tuple[int, int], yaml.Node]] = []
    for i, (key, value) in enumerate(node.value):
        if not (isinstance(key, yaml.ScalarNode) and key.tag == _MERGE_TAG):
            out += [((id(node), 2 * i), key), ((id(node), 2 * i + 1), value)]
        elif isinstance(value, yaml.SequenceNode):
            out += [((id(value), j), item) for j, item in enumerate(value.value)]
        else:
            out.append(((id(node), 2 * i + 1), value))
    return out


_EXIT = object()


def check_node_graph(root: yaml.Node, body: str) -> None:
    """Raise :class:`DecodeLimitError` where go-yaml's decoder would fail on this document.

    Counts what ``decoder.unmarshal`` would count -- every node decode, and the decodes made
    while expanding an alias -- without expanding anything, and stops at the first excess.
    """
    if "&" not in body:  # no anchor, so no alias: only the nesting can be too deep
        _check_depth(root)
        return
    aliases = _alias_edges(root)
    if not aliases:
        return
    decodes = aliased = 0
    active: set[tuple[int, int]] = set()
    stack: list[Any] = [(root, None, 0)]
    while stack:
        item = stack.pop()
        if item[0] is _EXIT:
            active.discard(item[1])
            continue
        node, slot, depth = item
        steps = 1
        if slot in aliases:
            if slot in active:
                raise DecodeLimitError(f"anchor '{_anchor_name(node, body)}' value contains itself")
            active.add(slot)
            stack.append((_EXIT, slot))
            steps, depth = 2, depth + 1  # the alias node, then its anchor's node
        for _ in range(steps):
            decodes += 1
            aliased += depth > 0
            if aliased > 100 and decodes > 1000 and aliased / decodes > _allowed_alias_ratio(decodes):
                raise DecodeLimitError("document contains excessive aliasing")
        for child_slot, child in reversed(_decode_order(node)):
            stack.append((child, child_slot, depth))


# ------------------------------------------------------------------------------ JSON values


def go_float(value: float) -> str:
    """A float as Go's encoding/json writes it: ``1e+21``, ``1.5e-7``, ``0.5``, ``100``.

    encoding/json ``floatEncoder``: the shortest digits, in exponent form below 1e-6 and from
    1e21 on (a negative exponent's leading zero dropped), else in fixed form.
    """
    if value != 0 and (abs(value) < 1e-6 or abs(value) >= 1e21):
        mantissa, _, exponent = repr(value).partition("e")
        sign, digits = exponent[0], exponent[1:]
        if sign == "-" and len(digits) == 2 and digits[0] == "0":
            digits = digits[1:]
        return f"{mantissa}e{sign}{digits}"
    if value.is_integer():
        return str(int(value))
    return format(decimal.Decimal(repr(value)), "f")


def _number(value: int | float) -> int | float:
    """A number as client-go's unstructured objects hold it: int64 when it is one, else float64."""
    if isinstance(value, float):
        if math.isnan(value):
            raise DecodeLimitError("json: unsupported value: NaN")
        if math.isinf(value):
            raise DecodeLimitError(f"json: unsupported value: {'+' if value > 0 else '-'}Inf")
        if value.is_integer() and _INT64[0] <= value < _INT64[1]:
            return int(value)
        return value
    if _INT64[0] <= value < _INT64[1]:
        return value
    try:
        return _number(float(value))
    except OverflowError:
        raise DecodeLimitError(f"json: unsupported value: {'+' if value > 0 else '-'}Inf") from None


def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, (int, float)):
        return _number(value)
    if isinstance(value, (bytes, bytearray)):  # !!binary, or bytes given from Python
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (datetime.date, datetime.datetime)):  # an explicit !!timestamp
        return value.isoformat()
    raise DecodeLimitError(f"json: unsupported type: {type(value).__name__}")


def _key(k: Any) -> str:
    if isinstance(k, str):
        return k
    if k is None:
        return "null"
    if isinstance(k, bool):
        return "true" if k else "false"
    if isinstance(k, float):
        return go_float(k)
    return str(k)


def to_json(value: Any) -> Any:
    """A deep copy of ``value`` as the JSON kubectl would send (see the module docstring).

    Iterative, so any nesting is measured rather than recursed into.

    Raises:
        DecodeLimitError: NaN/infinite numbers, values JSON cannot hold, nesting deeper than
            :data:`MAX_DEPTH` (its ``line`` is 0: data carries no positions).
    """
    holder: list[Any] = [None]
    stack: list[tuple[Any, Any, Any, int]] = [(value, holder, 0, 1)]
    while stack:
        item, parent, slot, depth = stack.pop()
        if isinstance(item, dict):
            out: Any = {}
            for k, sub in item.items():
                out[_key(k)] = None  # keeps the key order
                stack.append((sub, out, _key(k), depth + 1))
        elif isinstance(item, (list, tuple, set, frozenset)):
            out = [None] * len(item)
            stack.extend((sub, out, i, depth + 1) for i, sub in enumerate(item))
        else:
            parent[slot] = _scalar(item)
            continue
        if depth > MAX_DEPTH:
            raise DecodeLimitError(f"exceeded max depth of {MAX_DEPTH}")
        parent[slot] = out
    return holder[0]


_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def json_depth_offset(text: str, start: int = 0) -> tuple[int, str] | None:
    """Where a JSON value starting at ``start`` nests deeper than :data:`MAX_DEPTH`.

    Returns encoding/json's ``SyntaxError.Offset`` for ``exceeded max depth`` (the bytes read
    up to and including the bracket that is one too deep) and that bracket, or None.
    """
    depth = 0
    for match in _JSON_TOKENS.finditer(text, start):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return len(text[: match.start() + 1].encode("utf-8")), token
        elif token in "]}":
            depth -= 1
            if depth == 0:
                return None
    return None
