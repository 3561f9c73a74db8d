"""Kubernetes JSONPath, the subset ``additionalPrinterColumns`` use: parse, evaluate, print a result.

A port of ``k8s.io/client-go/util/jsonpath`` (``parser.go``, ``jsonpath.go``) as the apiextensions
tableconvertor runs it: ``AllowMissingKeys(true)``, and a result printed as ``PrintResults`` does
(maps and lists as ``encoding/json``, scalars as ``fmt.Fprint``).

Rule: no I/O here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gatewaykit.errors import SandboxError
from gatewaykit.kube.gojson import go_v, marshal

__all__ = ["PathError", "evaluate", "parse", "print_result"]


# A JSONPath step: ("field", name) | ("index", n) | ("all",) | ("filter", path, op, literal).
_Step = tuple[Any, ...]


class PathError(Exception):
    """client-go's jsonpath returned an error while evaluating: the cell is null."""


_FIELD = r"\.((?:\\.|[^\s.,\[\]$@{}\\])+)"  # parseField: up to a terminator, backslash escapes
# parseFilter splits at the operator first, so a filter's left side ends before it.
_FILTER_LHS = r"((?:\.(?:\\.|[^\s.,\[\]$@{}\\=!<>()])+)+)"
_LITERAL = r"""("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|-?\d+\.\d+|-?\d+|true|false)"""
_STEPS = re.compile(
    rf"{_FIELD}|\[(-?\d+)\]|\[(\*)\]"
    rf"|\[\?\(@{_FILTER_LHS}(?:\s*(==|!=)\s*{_LITERAL})?\s*\)\]"
)


def _parse_literal(text: str) -> Any:
    """A filter's right-hand side: a quoted string, an int, a float or a bool (as Go parses it)."""
    if text[0] in "\"'":
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    if text in ("true", "false"):
        return text == "true"
    return float(text) if "." in text else int(text)


def parse(path: str) -> tuple[_Step, ...]:
    """The column's ``jsonPath`` as steps; the subset printer columns use.

    Supported: ``.field`` (``\\.`` escapes a dot), ``[N]``, ``[*]`` and ``[?(@.a.b == literal)]``,
    ``!=``, ``[?(@.a)]``. Anything else (recursive descent, slices, unions, ``.*``) is valid
    Kubernetes JSONPath this sandbox does not evaluate.

    Raises:
        SandboxError: the path uses syntax outside that subset.
    """
    steps: list[_Step] = []
    position = 0
    while position < len(path):
        match = _STEPS.match(path, position)
        if match is None or match.group(1) == "*":
            raise SandboxError(
                f"printer column jsonPath {path!r} uses JSONPath the sandbox does not evaluate"
            )
        field, index, star, lhs, op, literal = match.groups()
        if field is not None:
            steps.append(("field", field.replace("\\", "")))
        elif index is not None:
            steps.append(("index", int(index)))
        elif star is not None:
            steps.append(("all",))
        else:
            value = None if literal is None else _parse_literal(literal)
            steps.append(("filter", parse(lhs), op or "exists", value))
        position = match.end()
    return tuple(steps)


def _go_kind(value: Any) -> str:
    """The ``basicKind`` Go templates compare by; comparing different kinds is an error."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float, str)):
        return type(value).__name__
    raise PathError("invalid type for comparison")


def _filter(values: list[Any], lhs: tuple[_Step, ...], op: str, literal: Any) -> list[Any]:
    """``evalFilter``: the items of each array whose ``@`` path compares true."""
    matched = []
    for value in values:
        if not isinstance(value, list):
            raise PathError("is not array or slice and cannot be filtered")
        for item in value:
            lefts = evaluate(lhs, [item])
            if op == "exists":
                matched += [item] if lefts else []
                continue
            if len(lefts) != 1:
                if lefts:
                    raise PathError("can only compare one element at a time")
                continue
            if _go_kind(lefts[0]) != _go_kind(literal):
                raise PathError("incompatible types for comparison")
            if (lefts[0] == literal) == (op == "=="):
                matched.append(item)
    return matched


def _index(values: list[Any], step: _Step) -> list[Any]:
    """``evalArray`` for ``[N]`` and ``[*]``: out-of-range indexes are errors, null is skipped."""
    out: list[Any] = []
    for value in values:
        if value is None:
            continue
        if not isinstance(value, list):
            raise PathError("is not array or slice")
        if step[0] == "all":
            if not value:
                return out  # Go returns at once when zero elements are requested
            out += value
            continue
        position = step[1] + len(value) if step[1] < 0 else step[1]
        if not 0 <= position < len(value):
            raise PathError("array index out of bounds")
        out.append(value[position])
    return out


def evaluate(steps: tuple[_Step, ...], values: list[Any]) -> list[Any]:
    """Evaluate ``steps`` the way client-go's jsonpath does with ``AllowMissingKeys(true)``."""
    for step in steps:
        if step[0] == "field":
            # A missing key is no result; a key holding null is a result (Go keeps the nil).
            values = [v[step[1]] for v in values if isinstance(v, Mapping) and step[1] in v]
        elif step[0] == "filter":
            values = _filter(values, step[1], step[2], step[3])
        else:
            values = _index(values, step)
    return values


def print_result(value: Any) -> str:
    """``JSONPath.PrintResults`` of one value: maps and lists as JSON, scalars as ``fmt.Fprint``."""
    if isinstance(value, (Mapping, list)):
        return marshal(value)
    if value is None:
        return "<no value>"  # text/template's printableValue of a nil
    return go_v(value)  # fmt.Fprint of a scalar: true, 42, 1.5e+06, the string itself
