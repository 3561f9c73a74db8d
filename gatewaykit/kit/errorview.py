"""Refusals read reason-first, with the line of the editor's text they are about (pure).

kubectl's refusal of a configured object starts with the whole JSON patch it sent and ends with
the reason (``error when applying patch: {...} to: Resource: ... for: "x.yaml": ... admission
webhook "validation.istio.io" denied the request: configuration is invalid: gateway must have at
least one server``). The learner needs the reason first, the line it is about, then the rest.
:func:`problem` finds both in any refusal text -- the one ``apply`` raises and the one a dry run
prints are located the same way, so Validate and Apply always agree.

Lines: a YAML syntax error has its own; a schema or decoding error names a field path
(``spec.servers[0].port.number``), found in the document's node tree; any other refusal (Istio's
webhook, a missing name) points at the document it is about.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from gatewaykit.errors import ManifestSyntaxError
from gatewaykit.resources.codecs import read_documents

__all__ = ["Problem", "document_lines", "problem"]


@dataclass(frozen=True, slots=True)
class Problem:
    """A refusal, read: ``reason`` (one line), ``line`` (1-based, in the text given) or None,
    ``where`` (``Gateway default/x`` or ""), ``who`` refused it, ``details`` (the full text)."""

    reason: str
    line: int | None
    where: str
    who: str
    details: str

    @property
    def headline(self) -> str:
        """``line 7: unknown field "spec.servers[0].hostz" (Gateway default/x)``."""
        at = f"line {self.line}: " if self.line else ""
        where = f" ({self.where})" if self.where else ""
        return f"{at}{self.reason}{where}"


# Who said it, by a phrase of the text (first match wins).
_WHO: tuple[tuple[str, str], ...] = (
    ('admission webhook "validation.istio.io"', "Istio's validating webhook"),
    ("error converting YAML to JSON", "kubectl (the YAML does not parse)"),
    ("strict decoding error", "the API server (a field the schema does not have)"),
    (" is invalid: ", "the API server (the CRD schema and its rules)"),
    ("resource name may not be empty", "kubectl"),
)

# Prefixes kubectl puts before the reason; removed one after another.
_PREFIXES = re.compile(
    r'^(?:Error from server(?: \([A-Za-z]+\))?: |error: |for: "[^"]*": |from server for: "[^"]*": '
    r'|error when (?:creating|patching|applying patch|deleting|replacing) "[^"]*": '
    r'|admission webhook "[^"]*" denied the request: |configuration is invalid: '
    r'|[A-Za-z]+ in version "[^"]*" cannot be handled as a [A-Za-z]+: |strict decoding error: )'
)
_INVALID = re.compile(r'^The (\w+) "([^"]*)" is invalid: ?(.*)$', re.S)
_CAUSE = re.compile(r"^(?:\* )?([\w.\[\]<>-]+): (Invalid value|Required value|Unsupported value|"
                    r"Forbidden|Duplicate value|Too many|Too long)(.*)$")
_UNKNOWN_FIELD = re.compile(r'unknown field "([^"]+)"')
_NAMED = re.compile(r'GroupVersionKind: "[^"]*Kind=(\w+)"\nName: "([^"]*)"')
_HANDLED = re.compile(r' cannot be handled as a (\w+):')


def _reason(error: str) -> tuple[str, str | None]:
    """The reason in one line, and the field path it names (or None)."""
    invalid = _INVALID.match(error.strip())
    if invalid:
        causes = [ln.strip() for ln in invalid.group(3).splitlines() if ln.strip()]
        causes = [c for c in causes if "validation rules were not checked" not in c] or causes
        first = causes[0].removeprefix("* ") if causes else invalid.group(3)
        m = _CAUSE.match(first)
        return first, (m.group(1) if m and m.group(1) != "<nil>" else None)
    last = error.strip().splitlines()[-1] if error.strip() else error
    text = last
    while True:
        stripped = _PREFIXES.sub("", text, count=1)
        if stripped == text:
            break
        text = stripped
    unknown = _UNKNOWN_FIELD.search(text)
    return text, unknown.group(1) if unknown else None


def _path_tokens(path: str) -> list[str | int]:
    tokens: list[str | int] = []
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        tokens.append(int(part[1:-1]) if part.startswith("[") else part)
    return tokens


def document_lines(text: str) -> list[tuple[int, Any]]:
    """``(first line, root node)`` of each non-empty document, 1-based lines (kubectl's split
    on a line that is exactly ``---``)."""
    out: list[tuple[int, Any]] = []
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError:
        return out
    for node in nodes:
        if node is not None:
            out.append((node.start_mark.line + 1, node))
    return out


def _field_line(root: Any, path: str) -> int | None:
    """The line of the deepest node of ``path`` that exists in the document's tree."""
    node, line = root, None
    for token in _path_tokens(path):
        nxt = None
        if isinstance(node, yaml.MappingNode) and isinstance(token, str):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == token:
                    nxt, line = value, key.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(token, int) and token < len(node.value):
            nxt = node.value[token]
            line = nxt.start_mark.line + 1
        if nxt is None:
            break
        node = nxt
    return line


def _metadata(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = doc.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _document(docs: list[tuple[int, Any]], raw: list[Any], error: str) -> int:
    """Which document the refusal is about: the one it names, else the first that fails the
    sandbox's own checks for this reason, else the first."""
    named = _INVALID.match(error.strip()) or _NAMED.search(error)
    handled = _HANDLED.search(error)
    kind = named.group(1) if named else (handled.group(1) if handled else None)
    name = named.group(2) if named else None
    for i, d in enumerate(raw):
        if not isinstance(d, Mapping):
            continue
        meta = _metadata(d)
        if (kind is None or d.get("kind") == kind) and (name is None or meta.get("name", "") == name):
            if kind is not None or name is not None:
                return i
    return _failing_document(raw, error)


def _failing_document(raw: list[Any], error: str) -> int:
    try:
        from gatewaykit.resources.validation import validate  # noqa: PLC0415

        for i, d in enumerate(raw):
            if not isinstance(d, Mapping) or not (d.get("metadata") or {}).get("name"):
                if "resource name may not be empty" in error:
                    return i
                continue
            if any(e in error for e in validate(d).errors):
                return i
    except Exception:  # locating is a courtesy: the reason is shown either way
        pass
    return 0


def problem(text: str, error: str) -> Problem:
    """Read a refusal of ``text`` (the editor's YAML): its reason first, and its line.

    Args:
        text: the manifest text that was applied or validated.
        error: the refusal as kubectl (or the backend's apply) printed it.
    """
    who = next((w for phrase, w in _WHO if phrase in error), "the API server")
    try:
        raw = [d for d, _ in read_documents(text, name="manifest")]
    except ManifestSyntaxError as exc:
        return Problem(f"YAML syntax error: {exc.problem}", exc.line or None, "", who, error)
    reason, path = _reason(error)
    docs = document_lines(text)
    if not docs:
        return Problem(reason, None, "", who, error)
    index = min(_document(docs, raw, error), len(docs) - 1)
    first, root = docs[index]
    line = _field_line(root, path) if path else None
    if line is None and "resource name may not be empty" in error:
        line = _field_line(root, "metadata")
    if line is None and "validation.istio.io" in error:
        line = _field_line(root, "spec")  # Istio's webhook validates the spec
    doc = raw[index] if index < len(raw) and isinstance(raw[index], Mapping) else {}
    meta = _metadata(doc)
    name = meta.get("name")
    where = f"{doc.get('kind', '?')} {meta.get('namespace') or 'default'}/{name}" if name else ""
    return Problem(reason, line or first, where, who, error)
