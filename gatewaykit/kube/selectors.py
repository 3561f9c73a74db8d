"""Label and field selectors, as the API server parses and matches them.

A port of ``k8s.io/apimachinery/pkg/labels/selector.go`` (the lexer and parser of
``-l 'app=web,tier in (a,b),!legacy'``, ``Requirement.Matches``, ``String``) and
``pkg/fields/selector.go`` (``metadata.name=x,status.phase!=Running`` with ``\\``-escapes), plus
``metav1.LabelSelectorAsSelector`` for ``matchLabels``/``matchExpressions`` (Deployments,
Services' ``selector`` is a plain map).

A bad selector in a list request is a ``400 BadRequest`` whose message is the parser's error
(``ParameterCodec.DecodeParameters`` in ``k8s.io/apiserver`` ``handlers/get.go``); the parse
functions raise :class:`~gatewaykit.errors.ApiError` carrying exactly that Status. (kubectl then
prefixes ``Unable to find "<resource>" that match label selector ...`` -- cli-runtime
``EnhanceListError``.)

Rule: no I/O here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gatewaykit._gofmt import quote as goq
from gatewaykit.errors import ApiError
from gatewaykit.kube import status as st

__all__ = [
    "FieldSelector",
    "Requirement",
    "Selector",
    "match_labels",
    "parse_field_selector",
    "parse_label_selector",
    "selector_from_label_selector",
]

# selection.Operator values and the order parseOperator lists them in its error.
IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS = "in", "notin", "=", "==", "!="
GREATER_THAN, LESS_THAN, EXISTS, DOES_NOT_EXIST = "gt", "lt", "exists", "!"
_BINARY = (IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS, GREATER_THAN, LESS_THAN)


def _bad_request(message: str) -> ApiError:
    return st.api_error(st.bad_request(message))


class _ParseError(Exception):
    """A Go error inside the parser; its text becomes the 400's message."""


# ----------------------------------------------------------------------------------------------
# Label keys and values (k8s.io/apimachinery/pkg/api/validate/content)
# ----------------------------------------------------------------------------------------------
# Not resources/validation/kube.is_qualified_name (ValidateObjectMeta's, Kubernetes 1.33 wording):
# this parser is checked byte for byte against the pinned kubectl 1.37's own client-side parse
# (tests/kube/test_selectors.py, `kubectl set selector --local`), whose apimachinery words a bad
# key "a valid label key" and measures in "bytes".
_LABEL_KEY_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_KEY_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character"
)
_LABEL_VALUE_FMT = f"({_LABEL_KEY_FMT})?"
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character"
)


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    # content.RegexError: note the doubled space Go's loop leaves before " or ".
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def _full(fmt: str, value: str) -> bool:
    return re.fullmatch(fmt, value) is not None


def label_key_errors(value: str) -> list[str]:
    """``content.IsLabelKey``: why ``value`` is not a valid label key (empty when it is)."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) > 2:
        return [
            "a valid label key "
            + _regex_error(_LABEL_KEY_MSG, _LABEL_KEY_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            if len(prefix.encode()) > 253:
                errs.append("prefix part must be no more than 253 bytes")
            if not _full(_DNS1123_SUBDOMAIN_FMT, prefix):
                msg = _regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com")
                errs.append("prefix part " + msg)
    if not name:
        errs.append("name part must be non-empty")
    elif len(name.encode()) > 63:
        errs.append("name part must be no more than 63 bytes")
    if not _full(_LABEL_KEY_FMT, name):
        errs.append(
            "name part " + _regex_error(_LABEL_KEY_MSG, _LABEL_KEY_FMT, "MyName", "my.name", "123-abc")
        )
    return errs


def label_value_errors(value: str) -> list[str]:
    """``content.IsLabelValue``: why ``value`` is not a valid label value (empty when it is)."""
    errs: list[str] = []
    if len(value.encode()) > 63:
        errs.append("must be no more than 63 bytes")
    if not _full(_LABEL_VALUE_FMT, value):
        errs.append(_regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def _invalid(path: str, value: str, detail: str) -> str:
    """``field.Invalid(path, value, detail).Error()``."""
    return f"{path}: Invalid value: {goq(value)}: {detail}"


def _aggregate(errors: list[str]) -> str:
    """``utilerrors.NewAggregate(...).Error()``: one error bare, several as ``[a, b]`` (deduplicated)."""
    unique = list(dict.fromkeys(errors))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


# ----------------------------------------------------------------------------------------------
# Requirements and selectors
# ----------------------------------------------------------------------------------------------
def _parse_int64(text: str) -> int | None:
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        return None
    value = int(text)
    return value if -(2**63) <= value < 2**63 else None


@dataclass(frozen=True)
class Requirement:
    """``labels.Requirement``: a key, an operator and (sorted, unique when parsed) values."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """``Requirement.Matches``."""
        has = self.key in labels
        if self.operator in (IN, EQUALS, DOUBLE_EQUALS):
            return has and labels[self.key] in self.values
        if self.operator in (NOT_IN, NOT_EQUALS):
            return not has or labels[self.key] not in self.values
        if self.operator == EXISTS:
            return has
        if self.operator == DOES_NOT_EXIST:
            return not has
        if self.operator in (GREATER_THAN, LESS_THAN) and has and len(self.values) == 1:
            mine, theirs = _parse_int64(labels[self.key]), _parse_int64(self.values[0])
            if mine is None or theirs is None:
                return False
            return mine > theirs if self.operator == GREATER_THAN else mine < theirs
        return False

    def __str__(self) -> str:
        """``Requirement.String``: ``!a``, ``a``, ``a=b``, ``a in (b,c)``, ``a>1``."""
        if self.operator == DOES_NOT_EXIST:
            return "!" + self.key
        if self.operator == EXISTS:
            return self.key
        symbol = {IN: " in ", NOT_IN: " notin ", GREATER_THAN: ">", LESS_THAN: "<"}.get(
            self.operator, self.operator
        )
        values = self.values[0] if len(self.values) == 1 else ",".join(sorted(self.values))
        if self.operator in (IN, NOT_IN):
            values = f"({values})"
        return f"{self.key}{symbol}{values}"


def new_requirement(
    key: str, operator: str, values: list[str] | tuple[str, ...], path: str = ""
) -> Requirement:
    """``labels.NewRequirement``: validate, then build (errors are the aggregated field errors)."""
    errs: list[str] = []
    child = f"{path}." if path else ""
    key_errs = label_key_errors(key)
    if key_errs:
        errs.append(_invalid(f"{child}key", key, "; ".join(key_errs)))
    values_path = f"{child}values"
    if operator in (IN, NOT_IN) and not values:
        errs.append(
            f"{values_path}: Invalid value: []: for 'in', 'notin' operators, values set can't be empty"
        )
    elif operator in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS) and len(values) != 1:
        errs.append(
            f"{values_path}: Invalid value: {_json_list(values)}: "
            "exact-match compatibility requires one single value"
        )
    elif operator in (EXISTS, DOES_NOT_EXIST) and values:
        errs.append(
            f"{values_path}: Invalid value: {_json_list(values)}: "
            "values set must be empty for exists and does not exist"
        )
    elif operator in (GREATER_THAN, LESS_THAN):
        if len(values) != 1:
            errs.append(
                f"{values_path}: Invalid value: {_json_list(values)}: "
                "for 'Gt', 'Lt' operators, exactly one value is required"
            )
        for i, v in enumerate(values):
            if _parse_int64(v) is None:
                errs.append(
                    _invalid(
                        f"{values_path}[{i}]", v, "for 'Gt', 'Lt' operators, the value must be an integer"
                    )
                )
    elif operator not in _BINARY + (EXISTS, DOES_NOT_EXIST):
        supported = ", ".join(f'"{o}"' for o in _BINARY + (EXISTS, DOES_NOT_EXIST))
        errs.append(f"{child}operator: Unsupported value: {goq(operator)}: supported values: {supported}")
    for i, v in enumerate(values):
        value_errs = label_value_errors(v)
        if value_errs:
            errs.append(_invalid(f"{values_path}[{i}][{key}]", v, "; ".join(value_errs)))
    if errs:
        raise _ParseError(_aggregate(errs))
    return Requirement(key, operator, tuple(values))


def _json_list(values: list[str] | tuple[str, ...]) -> str:
    # field.Invalid renders a []string BadValue with json.Marshal.
    from gatewaykit.kube.gojson import marshal  # noqa: PLC0415 - keeps this module's imports light

    return marshal(list(values))


@dataclass(frozen=True)
class Selector:
    """A label selector: the AND of its requirements (sorted by key). ``nothing`` matches nothing."""

    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False

    def matches(self, labels: Mapping[str, str]) -> bool:
        """``Selector.Matches``: every requirement holds (an empty selector matches everything)."""
        return not self.nothing and all(r.matches(labels) for r in self.requirements)

    def empty(self) -> bool:
        """``Selector.Empty``: matches everything."""
        return not self.nothing and not self.requirements

    def __str__(self) -> str:
        """``Selector.String``: the requirements joined with ``,``."""
        return ",".join(str(r) for r in self.requirements)


def match_labels(selector: Selector | str, labels: Mapping[str, str] | None) -> bool:
    """Whether ``labels`` satisfy ``selector`` (a :class:`Selector` or selector text)."""
    if isinstance(selector, str):
        selector = parse_label_selector(selector)
    return selector.matches(labels or {})


# ----------------------------------------------------------------------------------------------
# The label selector lexer and parser (labels/selector.go)
# ----------------------------------------------------------------------------------------------
_ERROR, _EOS, _CLOSE, _COMMA, _NOT, _DOUBLE_EQ, _EQ, _GT, _IDENT, _IN, _LT, _NEQ, _NOT_IN, _OPEN = range(14)
_TOKENS = {
    ")": _CLOSE,
    ",": _COMMA,
    "!": _NOT,
    "==": _DOUBLE_EQ,
    "=": _EQ,
    ">": _GT,
    "in": _IN,
    "<": _LT,
    "!=": _NEQ,
    "notin": _NOT_IN,
    "(": _OPEN,
}
_SPECIAL = set("=!(),><")
_WHITESPACE = set(" \t\r\n")


def _lex(text: str) -> list[tuple[int, str]]:
    """``Lexer.Lex`` until the end: (token, literal) pairs, ending with the end-of-string token."""
    items: list[tuple[int, str]] = []
    pos, n = 0, len(text)
    while True:
        while pos < n and text[pos] in _WHITESPACE:
            pos += 1
        if pos >= n or text[pos] == "\0":  # Go's lexer reads a NUL byte as the end
            items.append((_EOS, ""))
            return items
        start = pos
        if text[pos] in _SPECIAL:
            # The longest run of special characters that is still a token ("!=" not "!").
            best = (_ERROR, "")
            while pos < n and text[pos] in _SPECIAL:
                candidate = text[start : pos + 1]
                if candidate in _TOKENS:
                    best = (_TOKENS[candidate], candidate)
                elif best[0] != _ERROR:
                    break
                pos += 1
            pos = start + len(best[1])
            items.append(best)
            continue
        while pos < n and text[pos] not in _SPECIAL and text[pos] not in _WHITESPACE and text[pos] != "\0":
            pos += 1
        word = text[start:pos]
        items.append((_TOKENS.get(word, _IDENT), word))


class _Parser:
    """``labels.Parser`` over the scanned items."""

    def __init__(self, text: str) -> None:
        self.items = _lex(text)
        self.position = 0

    def lookahead(self, values: bool = True) -> tuple[int, str]:
        """The next item; in a values context ``in``/``notin`` read as identifiers."""
        tok, lit = self.items[self.position]
        return (_IDENT if values and tok in (_IN, _NOT_IN) else tok), lit

    def consume(self, values: bool = True) -> tuple[int, str]:
        """The next item, moving past it."""
        item = self.lookahead(values)
        self.position += 1
        return item

    def parse(self) -> list[Requirement]:
        """``Parser.parse``: requirements separated by commas."""
        requirements: list[Requirement] = []
        while True:
            tok, lit = self.lookahead()
            if tok == _EOS:
                return requirements
            if tok not in (_IDENT, _NOT):
                raise _ParseError(f"found '{lit}', expected: !, identifier, or 'end of string'")
            try:
                requirements.append(self.parse_requirement())
            except _ParseError as exc:
                raise _ParseError(f"unable to parse requirement: {exc}") from None
            tok, lit = self.consume()
            if tok == _EOS:
                return requirements
            if tok != _COMMA:
                raise _ParseError(f"found '{lit}', expected: ',' or 'end of string'")
            tok, lit = self.lookahead()
            if tok not in (_IDENT, _NOT):
                raise _ParseError(f"found '{lit}', expected: identifier after ','")

    def parse_requirement(self) -> Requirement:
        """``parseRequirement``: a key, an operator and its values."""
        key, operator = self.parse_key_and_infer_operator()
        if operator in (EXISTS, DOES_NOT_EXIST):
            return new_requirement(key, operator, [])
        operator = self.parse_operator()
        values = self.parse_values() if operator in (IN, NOT_IN) else self.parse_exact_value()
        return new_requirement(key, operator, sorted(values))

    def parse_key_and_infer_operator(self) -> tuple[str, str]:
        """``parseKeyAndInferOperator``: ``!key``, a bare ``key`` (exists), or a key before an operator."""
        operator = ""
        tok, lit = self.consume()
        if tok == _NOT:
            operator = DOES_NOT_EXIST
            tok, lit = self.consume()
        if tok != _IDENT:
            raise _ParseError(f"found '{lit}', expected: identifier")
        errs = label_key_errors(lit)
        if errs:
            # validateLabelKey with the parser's nil *field.Path, which prints as "<nil>".
            raise _ParseError(_invalid("<nil>", lit, "; ".join(errs)))
        if self.lookahead()[0] in (_EOS, _COMMA) and operator != DOES_NOT_EXIST:
            operator = EXISTS
        return lit, operator

    def parse_operator(self) -> str:
        """``parseOperator``: one of the binary operators."""
        tok, lit = self.consume(values=False)
        ops = {_IN: IN, _EQ: EQUALS, _DOUBLE_EQ: DOUBLE_EQUALS, _GT: GREATER_THAN, _LT: LESS_THAN}
        ops |= {_NOT_IN: NOT_IN, _NEQ: NOT_EQUALS}
        if tok not in ops:
            raise _ParseError(f"found '{lit}', expected: {', '.join(_BINARY)}")
        return ops[tok]

    def parse_values(self) -> set[str]:
        """``parseValues``: ``(a, b)`` after ``in``/``notin``."""
        tok, lit = self.consume()
        if tok != _OPEN:
            raise _ParseError(f"found '{lit}' expected: '('")
        tok, lit = self.lookahead()
        if tok == _CLOSE:  # "()"
            self.consume()
            return {""}
        if tok not in (_IDENT, _COMMA):
            raise _ParseError(f"found '{lit}', expected: ',', ')' or identifier")
        values = self.parse_identifiers_list()
        self.consume()  # the ")" parse_identifiers_list stopped at
        return values

    def parse_identifiers_list(self) -> set[str]:
        """``parseIdentifiersList``: the values inside the parentheses."""
        values: set[str] = set()
        while True:
            tok, lit = self.consume()
            if tok == _IDENT:
                values.add(lit)
                nxt, nxt_lit = self.lookahead()
                if nxt == _CLOSE:
                    return values
                if nxt != _COMMA:
                    raise _ParseError(f"found '{nxt_lit}', expected: ',' or ')'")
            elif tok == _COMMA:
                # "(," ",," and ",)" each stand for an empty value.
                if not values:
                    values.add("")
                nxt = self.lookahead()[0]
                if nxt == _CLOSE:
                    values.add("")
                    return values
                if nxt == _COMMA:
                    values.add("")
            else:
                raise _ParseError(f"found '{lit}', expected: ',', or identifier")

    def parse_exact_value(self) -> set[str]:
        """``parseExactValue``: the one value after ``=``, ``==``, ``!=``, ``>``, ``<`` (may be empty)."""
        if self.lookahead()[0] in (_EOS, _COMMA):
            return {""}
        tok, lit = self.consume()
        if tok == _IDENT:
            return {lit}
        raise _ParseError(f"found '{lit}', expected: identifier")


def parse_label_selector(text: str) -> Selector:
    """``labels.Parse``: ``app=web,tier in (a,b),!legacy``; a bad selector is a ``400`` ApiError."""
    try:
        requirements = _Parser(text).parse()
    except _ParseError as exc:
        raise _bad_request(str(exc)) from None
    return Selector(tuple(sorted(requirements, key=lambda r: r.key)))


def selector_from_label_selector(obj: Mapping[str, Any] | None) -> Selector:
    """``metav1.LabelSelectorAsSelector`` of a ``matchLabels``/``matchExpressions`` object.

    ``None`` selects nothing; an empty selector selects everything. Invalid content raises
    :class:`~gatewaykit.errors.ApiError` (400) with the Go error text.
    """
    if obj is None:
        return Selector(nothing=True)
    match_labels_ = obj.get("matchLabels") or {}
    expressions = obj.get("matchExpressions") or []
    ops = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}
    requirements: list[Requirement] = []
    try:
        for key, value in match_labels_.items():
            requirements.append(new_requirement(key, EQUALS, [value]))
        for expr in expressions:
            operator = expr.get("operator", "")
            if operator not in ops:
                raise _ParseError(f"{goq(operator)} is not a valid label selector operator")
            requirements.append(
                new_requirement(expr.get("key", ""), ops[operator], list(expr.get("values") or []))
            )
    except _ParseError as exc:
        raise _bad_request(str(exc)) from None
    return Selector(tuple(sorted(requirements, key=lambda r: r.key)))


# ----------------------------------------------------------------------------------------------
# Field selectors (fields/selector.go) and the field labels each kind supports
# ----------------------------------------------------------------------------------------------
#: ``AddFieldLabelConversionFunc`` per kind (k8s.io/kubernetes pkg/apis/core/v1/conversion.go);
#: kinds not listed accept only metadata.name and metadata.namespace
#: (``runtime.DefaultMetaV1FieldSelectorConversion``).
FIELD_LABELS: dict[str, tuple[str, ...]] = {
    "Pod": (
        "metadata.name",
        "metadata.namespace",
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.podIPs",
        "status.nominatedNodeName",
    ),
    "Node": ("metadata.name", "spec.unschedulable"),
    "Namespace": ("status.phase", "metadata.name"),
    "Secret": ("type", "metadata.namespace", "metadata.name"),
    "Service": ("metadata.namespace", "metadata.name", "spec.clusterIP", "spec.type"),
    "Event": (
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
        "metadata.namespace",
        "metadata.name",
    ),
}


def _convert_field_label(kind: str, label: str, value: str) -> tuple[str, str]:
    if kind == "Pod" and label == "spec.host":  # old v1 clients' name for spec.nodeName
        return "spec.nodeName", value
    supported = FIELD_LABELS.get(kind)
    if supported is None:
        if label in ("metadata.name", "metadata.namespace"):
            return label, value
        raise _ParseError(
            f'"{label}" is not a known field selector: only "metadata.name", "metadata.namespace"'
        )
    if label not in supported:
        raise _ParseError(f"field label not supported: {label}")
    return label, value


@dataclass(frozen=True)
class FieldSelector:
    """A field selector: the AND of ``(field, operator, value)`` terms (operator ``=`` or ``!=``)."""

    terms: tuple[tuple[str, str, str], ...] = ()

    def matches(self, fields: Mapping[str, str]) -> bool:
        """``Selector.Matches``: a missing field reads as ``""``."""
        for field, op, value in self.terms:
            have = fields.get(field, "")
            if (op == "=" and have != value) or (op == "!=" and have == value):
                return False
        return True

    def empty(self) -> bool:
        """Whether it matches everything."""
        return not self.terms

    def __str__(self) -> str:
        """``Selector.String``, values escaped again."""
        return ",".join(f"{f}{op}{_escape(v)}" for f, op, v in self.terms)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _split_terms(text: str) -> list[str]:
    """``splitTerms``: split on commas not escaped with a backslash."""
    if not text:
        return []
    terms, start, in_slash = [], 0, False
    for i, ch in enumerate(text):
        if in_slash:
            in_slash = False
        elif ch == "\\":
            in_slash = True
        elif ch == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _unescape(value: str) -> str:
    if not any(c in value for c in "\\,="):
        return value
    out, in_slash = [], False
    for ch in value:
        if in_slash:
            if ch not in "\\,=":
                raise _ParseError(f"invalid field selector: invalid escape sequence: \\{ch}")
            out.append(ch)
            in_slash = False
        elif ch == "\\":
            in_slash = True
        elif ch in ",=":
            # UnescapedRune formats the rune with %v: its code point.
            raise _ParseError(f"invalid field selector: unescaped character in value: {ord(ch)}")
        else:
            out.append(ch)
    if in_slash:
        raise _ParseError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _split_term(term: str) -> tuple[str, str, str] | None:
    for i in range(len(term)):
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op) :]
    return None


def parse_field_selector(text: str, kind: str | None = None) -> FieldSelector:
    """``fields.ParseSelector`` (then, with ``kind``, the API server's field-label conversion).

    A bad selector or an unsupported field for ``kind`` is a ``400`` ApiError.
    """
    parsed: list[tuple[str, str, str]] = []
    try:
        for part in sorted(_split_terms(text), key=str.encode):
            if not part:
                continue
            split = _split_term(part)
            if split is None:
                raise _ParseError(f"invalid selector: '{text}'; can't understand '{part}'")
            field, op, rhs = split
            parsed.append((field, "!=" if op == "!=" else "=", _unescape(rhs)))
        # Transform (the kind's field-label conversion) runs once the whole selector parsed.
        terms = []
        for field, op, value in parsed:
            if kind is not None:
                field, value = _convert_field_label(kind, field, value)
                if not field and not value:
                    continue
            terms.append((field, op, value))
    except _ParseError as exc:
        raise _bad_request(str(exc)) from None
    return FieldSelector(tuple(terms))
