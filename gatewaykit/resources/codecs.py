"""Loading manifests: YAML text, files or dicts into :class:`~gatewaykit.resources.meta.Manifest` s.

This module owns what ``kubectl`` does on the *client* side before anything reaches the API
server: split the stream into documents, parse each one, check ``apiVersion``/``kind``/
``metadata.name`` and map the kind to a known resource. Its failures are
:class:`~gatewaykit.errors.ManifestError` s whose text is what kubectl prints.

It is the one manifest reader of gatewaykit: every backend and the teaching kit read YAML (and
JSON) through :func:`read_documents` (parse only) or :func:`load` (parse plus kubectl's checks).

Rule: no I/O except reading the file a source names (a :class:`pathlib.Path`, or one line of
text ending in ``.yaml``/``.yml``/``.json``, as ``kubectl apply -f`` takes it).
"""

from __future__ import annotations

import json
import math
import pathlib
import re
from collections.abc import Mapping
from typing import Any

import yaml

from gatewaykit.errors import ManifestError, ManifestSyntaxError
from gatewaykit.resources._decoding import (
    MAX_DEPTH,
    DecodeLimitError,
    check_node_graph,
    clean_text,
    decode_bytes,
    json_depth_offset,
    to_json,
)
from gatewaykit.resources.meta import KINDS, FieldLines, KindInfo, Manifest, Source, kind_info

__all__ = [
    "NOT_SERVED",
    "ManifestSource",
    "decode_body",
    "dump_yaml",
    "load",
    "manifest_path",
    "read_documents",
    "resource_string",
    "supported_kinds_line",
]

#: What the reader accepts: YAML/JSON text (or its bytes), a path (``Path``, or a one-line ``str``
#: ending in ``.yaml``/``.yml``/``.json``), one manifest dict, or a list of them.
ManifestSource = str | bytes | pathlib.Path | Mapping[str, Any] | list[Any]

_PATH_SUFFIXES = (".yaml", ".yml", ".json")

# kubectl reads YAML with sigs.k8s.io/yaml (go-yaml, YAML 1.1 booleans) and converts it to JSON:
# timestamps stay strings. PyYAML's SafeLoader would turn `2024-01-01` into a date, so we use a
# loader without the timestamp resolver (the C loader when available: 1000 objects must load fast).
_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _KubeLoader(_BaseLoader):  # type: ignore[misc,valid-type]
    """SafeLoader minus timestamp resolution (sigs.k8s.io/yaml keeps them as strings)."""


_KubeLoader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}


def _construct_int(loader: Any, node: yaml.ScalarNode) -> Any:
    """go-yaml v2 ``resolve``: an integer beyond 64 bits is a float, or the plain string when no
    float holds it either (``strconv.ParseFloat`` out of range)."""
    try:
        value = yaml.SafeLoader.construct_yaml_int(loader, node)
    except ValueError:  # more digits than Python converts
        return node.value
    if -(2**63) <= value < 2**64:
        return value
    try:
        return float(value)
    except OverflowError:
        return node.value


def _construct_float(loader: Any, node: yaml.ScalarNode) -> Any:
    """A float literal out of float64's range stays a string in go-yaml v2 (``.inf`` is +Inf)."""
    value = yaml.SafeLoader.construct_yaml_float(loader, node)
    if math.isinf(value) and "inf" not in node.value.lower():
        return node.value
    return value


_KubeLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_KubeLoader.add_constructor("tag:yaml.org,2002:float", _construct_float)

# go-yaml's wording for the PyYAML problems a learner typically hits (kubectl prints go-yaml's).
_GO_YAML_PROBLEMS: tuple[tuple[str, str], ...] = (
    ("mapping values are not allowed here", "mapping values are not allowed in this context"),
    ("found character '\\t' that cannot start any token", "found character that cannot start any token"),
    ("that cannot start any token", "found character that cannot start any token"),
    ("could not find expected ':'", "could not find expected ':'"),
    ("expected <block end>, but found '<block sequence start>'", "did not find expected key"),
    ("expected <block end>, but found '<block mapping start>'", "did not find expected key"),
    ("expected <block end>, but found", "did not find expected key"),
    ("expected ',' or ']'", "did not find expected ',' or ']'"),
    ("expected ',' or '}'", "did not find expected ',' or '}'"),
    ("found undefined alias", "unknown anchor referenced"),
    ("found unexpected end of stream", "found unexpected end of stream"),
    ("found duplicate anchor", "found duplicate anchor"),
    # go-yaml's reader (readerc.go) refuses the same characters as YAML's c-printable.
    ("control characters are not allowed", "control characters are not allowed"),
    ("special characters are not allowed", "control characters are not allowed"),
    # libyaml stops at 1000 levels, before the sandbox's own limit could.
    ("exceeded maximum nesting depth", f"exceeded max depth of {MAX_DEPTH}"),
)

_SEPARATOR = re.compile(r"^---\s*$")

#: Kinds that Istio 1.27 documents but no cluster serves: the in-cluster operator and its
#: IstioOperator CRD are gone since Istio 1.24 (`istioctl install -f` reads such files instead).
NOT_SERVED: frozenset[tuple[str, str]] = frozenset({("install.istio.io/v1alpha1", "IstioOperator")})


def supported_kinds_line() -> str:
    """The extra line gatewaykit adds to kubectl's "no matches for kind" error."""
    groups: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for k in KINDS:
        if not k.system:  # made by controllers; the sandbox runs pods from Deployments
            groups.setdefault((k.group, k.versions), []).append(k.kind)
    parts = []
    for (group, versions), kinds in groups.items():
        apis = ", ".join(f"{group}/{v}" if group else v for v in versions)
        parts.append(f"{', '.join(kinds)} ({apis})")
    return "supported kinds: " + "; ".join(parts)


def resource_string(info: KindInfo, version: str) -> str:
    """kubectl's ``resource.Info`` rendering: ``Resource: "<gv>, Resource=<plural>", GroupVersionKind: "
    "...``."""
    gv = f"{info.group}/{version}" if info.group else version
    return f'Resource: "{gv}, Resource={info.plural}", GroupVersionKind: "{gv}, Kind={info.kind}"'


def manifest_path(source: Any) -> pathlib.Path | None:
    """The file ``source`` names, or None when it is text or data.

    A :class:`pathlib.Path` is a path; so is one line of text ending in ``.yaml``, ``.yml`` or
    ``.json`` (``sb.apply("gateway.yaml")``, as ``kubectl apply -f gateway.yaml``).
    """
    if isinstance(source, pathlib.Path):
        return source
    if isinstance(source, str) and "\n" not in source and source.strip().endswith(_PATH_SUFFIXES):
        return pathlib.Path(source.strip())
    return None


def read_documents(source: ManifestSource, *, name: str | None = None) -> list[tuple[Any, Source]]:
    """Parse a manifest source into its documents, without checking them.

    Text is split like kubectl's ``YAMLOrJSONDecoder``: a stream starting with ``{`` is a
    sequence of JSON objects, anything else YAML documents separated by ``---`` lines (empty
    documents are skipped). ``kind: List`` is *not* expanded here (see :func:`load`).

    Args:
        source: YAML/JSON text, a path (see :func:`manifest_path`), a dict, or a list of dicts.
        name: the file name used in messages; default the path as given, else ``STDIN``.

    Returns:
        ``(document, Source)`` pairs in order; a document is whatever the text holds (a dict for
        a manifest, but a learner may have written a list or a scalar).

    Raises:
        ManifestSyntaxError: the text does not parse (kubectl's ``error parsing`` text).
        ManifestError: a path that does not exist, or a source of another type.
    """
    path = manifest_path(source)
    if path is not None:
        file = name or str(source).strip()
        try:
            data = path.read_bytes()
        except OSError as exc:
            # kubectl: `error: the path "x.yaml" does not exist`
            raise ManifestError(f'error: the path "{str(source).strip()}" does not exist') from exc
        return _parse_text(decode_bytes(data), file)
    file = name or "STDIN"
    if isinstance(source, str):
        return _parse_text(clean_text(source), file)
    if isinstance(source, (bytes, bytearray)):  # what `kubectl apply -f -` reads from stdin
        return _parse_text(decode_bytes(bytes(source)), file)
    if isinstance(source, Mapping):
        return [(_data_as_json(source, file), Source(file, 0, 1))]
    if isinstance(source, list):
        return [
            (_data_as_json(doc, file), Source(file, i, 1)) for i, doc in enumerate(source) if doc is not None
        ]
    raise ManifestError(f"error: cannot read manifests from {type(source).__name__}")


def _data_as_json(doc: Any, file: str) -> Any:
    """A manifest given as Python data, as the JSON a client would send (a deep copy)."""
    try:
        return to_json(doc)
    except DecodeLimitError as exc:
        raise ManifestSyntaxError(
            f"error: error parsing {file}: {exc.problem}", line=0, problem=exc.problem
        ) from None


def load(source: ManifestSource, *, name: str | None = None, any_kind: bool = False) -> list[Manifest]:
    """Parse manifests the way ``kubectl apply -f`` reads them.

    Args:
        source: YAML or JSON text (one or more documents), a path to a ``.yaml``/``.yml``/
            ``.json`` file (a :class:`pathlib.Path`, or a one-line ``str``), one manifest as a
            dict, or a list of dicts.
        name: the file name used in messages (kubectl prints it); default ``STDIN`` for text and
            dicts, the path as given for a path.
        any_kind: accept kinds gatewaykit has no model for (for a real cluster, whose API
            server decides); by default they are rejected with kubectl's "no matches for kind".

    Returns:
        One :class:`Manifest` per non-empty document (``kind: List`` is expanded like kubectl).

    Raises:
        ManifestError: YAML/JSON syntax error, a missing file, a document that is not a
            mapping, missing ``apiVersion``/``kind``/``metadata.name``, or an unknown
            ``apiVersion``/``kind``. The text is what kubectl prints; several bad documents give
            one line each.
    """
    manifests: list[Manifest] = []
    problems: list[str] = []
    for raw, src in read_documents(source, name=name):
        for item, item_src in _expand_list(raw, src):
            problem = _check_document(item, item_src, any_kind=any_kind)
            if problem:
                problems.append(problem)
            else:
                manifests.append(Manifest(item, item_src))
    if problems:
        raise ManifestError("\n".join(problems), errors=problems)
    return manifests


def _skip_json_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _parse_json_stream(text: str, file: str) -> list[tuple[Any, Source]] | None:
    """A stream of JSON objects (k8s ``YAMLOrJSONDecoder`` on a ``{``-prefixed stream).

    Returns None when the text is not JSON after all (a YAML flow mapping): the YAML reader then
    reads it, and words any error.
    """
    decoder = json.JSONDecoder(parse_constant=_no_constant)
    docs: list[tuple[Any, Source]] = []
    pos = _skip_json_space(text, 0)
    while pos < len(text):
        try:
            value, end = decoder.raw_decode(text, pos)
            value = to_json(value)
        except (RecursionError, DecodeLimitError) as exc:
            raise _json_limit_error(exc, text, pos, file) from None
        except ValueError:  # JSONDecodeError, a NaN literal, digits Python will not convert
            return None
        docs.append((value, Source(file, len(docs), text.count("\n", 0, pos) + 1)))
        pos = _skip_json_space(text, end)
    return docs


def _no_constant(name: str) -> Any:
    raise ValueError(f"invalid character {name[0]!r} looking for beginning of value")


def _json_limit_error(exc: Exception, text: str, pos: int, file: str) -> ManifestSyntaxError:
    """kubectl's ``json: offset N: ...`` for JSON nested too deep (encoding/json's scanner)."""
    found = json_depth_offset(text, pos)
    if found is None:
        problem = exc.problem if isinstance(exc, DecodeLimitError) else f"exceeded max depth of {MAX_DEPTH}"
        return ManifestSyntaxError(f"error: error parsing {file}: {problem}", line=0, problem=problem)
    offset, char = found
    problem = f"json: offset {offset}: invalid character {char!r} exceeded max depth"
    return ManifestSyntaxError(
        f"error: error parsing {file}: {problem}", line=text.count("\n", 0, pos) + 1, problem=problem
    )


def _limit_error(exc: DecodeLimitError, file: str, first: int) -> ManifestSyntaxError:
    """go-yaml's (or encoding/json's) limit error, as kubectl prints it."""
    where = f"line {exc.line}: " if exc.line else ""
    problem = exc.problem if exc.problem.startswith("json:") else f"yaml: {where}{exc.problem}"
    return ManifestSyntaxError(
        f"error: error parsing {file}: error converting YAML to JSON: {problem}",
        line=first + exc.line if exc.line else 0,
        problem=exc.problem,
    )


def _parse_text(text: str, file: str) -> list[tuple[Any, Source]]:
    """Split like k8s ``YAMLReader`` (a line that is exactly ``---``), parse each document."""
    if text.lstrip().startswith("{"):
        json_docs = _parse_json_stream(text, file)
        if json_docs is not None:
            return json_docs
    lines = text.splitlines(keepends=True)
    chunks: list[tuple[int, list[str]]] = []  # (0-based first line, lines)
    start, current = 0, []  # type: tuple[int, list[str]]
    for i, line in enumerate(lines):
        if _SEPARATOR.match(line):
            chunks.append((start, current))
            start, current = i + 1, []
        else:
            current.append(line)
    chunks.append((start, current))

    docs: list[tuple[Any, Source]] = []
    index = 0
    for first, chunk in chunks:
        body = "".join(chunk)
        try:
            # kubectl converts each document on its own, so go-yaml's line numbers are relative
            # to the document (k8s.io/apimachinery yaml.YAMLOrJSONDecoder). What yaml.load does,
            # keeping the node graph: its marks give istioctl's field lines.
            # go-yaml's limits are checked on the node graph before anything is expanded.
            loader = _KubeLoader(body)
            try:
                node = loader.get_single_node()
                if node is not None:
                    check_node_graph(node, body)
                data = to_json(loader.construct_document(node)) if node is not None else None
            finally:
                loader.dispose()
        except yaml.YAMLError as exc:
            raise _syntax_error(exc, file, first) from None
        except DecodeLimitError as exc:
            raise _limit_error(exc, file, first) from None
        except (ValueError, OverflowError, RecursionError) as exc:  # e.g. a bad explicit !!timestamp
            raise ManifestSyntaxError(
                f"error: error parsing {file}: error converting YAML to JSON: yaml: {exc}",
                line=first + 1,
                problem=str(exc),
            ) from None
        if data is None:
            continue  # empty document (only comments/whitespace): kubectl skips it
        first_line = first + 1
        for offset, text_line in enumerate(chunk):
            stripped = text_line.strip()
            if stripped and not stripped.startswith("#"):
                first_line = first + offset + 1
                break
        fields = _NO_FIELDS
        api = data.get("apiVersion") if isinstance(data, dict) else None
        if isinstance(api, str) and api.startswith(_ISTIO_GROUP) and isinstance(node, yaml.MappingNode):
            fields = _field_lines(node, chunk, first)
        docs.append((data, Source(file, index, first_line, fields)))
        index += 1
    return docs


_ISTIO_GROUP = "networking.istio.io/"
_NO_FIELDS = FieldLines()


def _field_lines(root: yaml.MappingNode, chunk: list[str], first: int) -> FieldLines:
    """istioctl's field → line map of one document (``BuildFieldPathMap``, file/store.go).

    Istio's YAMLReader starts a document at its first non-empty line (comments count) and
    yaml.v3 numbers the lines of the *whitespace-trimmed* document, so a field's line is
    ``node line + start - 1``; normally that is the field's line in the file, and a
    whitespace-only line before the document shifts it the way it shifts Istio's.
    """
    start = trimmed = -1
    for i, text_line in enumerate(chunk):
        if start < 0 and text_line.rstrip("\r\n"):
            start = i
        if text_line.strip():
            trimmed = i
            break
    # body line (0-based) → istioctl's 1-based line
    shift = first + 1 + (start - trimmed)
    out: dict[str, int] = {"{}": first + start + 1}
    _walk_mapping(root, "", shift, out)
    return FieldLines(out)


def _walk_mapping(node: yaml.MappingNode, path: str, shift: int, out: dict[str, int]) -> None:
    # Scalars get an entry; mappings recurse; sequences index their items ("{.a.b[0].c}").
    # Istio's walk ignores alias nodes; PyYAML resolves aliases to their anchor, which is close.
    for key, value in node.value:
        if not isinstance(key, yaml.ScalarNode):
            continue
        sub = f"{path}.{key.value}"
        if isinstance(value, yaml.ScalarNode):
            out[f"{{{sub}}}"] = value.start_mark.line + shift
        elif isinstance(value, yaml.MappingNode):
            _walk_mapping(value, sub, shift, out)
        elif isinstance(value, yaml.SequenceNode):
            for j, item in enumerate(value.value):
                if isinstance(item, yaml.ScalarNode):
                    out[f"{{{sub}[{j}]}}"] = item.start_mark.line + shift
                elif isinstance(item, yaml.MappingNode):
                    _walk_mapping(item, f"{sub}[{j}]", shift, out)


def _syntax_error(exc: yaml.YAMLError, file: str, first: int) -> ManifestSyntaxError:
    """A PyYAML error in go-yaml's wording, ``yaml: line N: <problem>`` (N within the document).

    ``first`` is the 0-based line where the document starts, for the error's ``line`` in the
    whole text.
    """
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    go_problem = problem
    for ours, theirs in _GO_YAML_PROBLEMS:
        if ours in problem:
            go_problem = theirs
            break
    where = f"line {mark.line + 1}: " if mark is not None else ""
    return ManifestSyntaxError(
        f"error: error parsing {file}: error converting YAML to JSON: yaml: {where}{go_problem}",
        line=first + mark.line + 1 if mark is not None else 0,
        problem=problem,
    )


def _expand_list(raw: Any, src: Source) -> list[tuple[Any, Source]]:
    """``kind: List`` (``kubectl get -o yaml`` output) is applied item by item."""
    if isinstance(raw, dict) and raw.get("kind") == "List" and isinstance(raw.get("items"), list):
        return [(item, src) for item in raw["items"]]
    return [(raw, src)]


def _check_document(raw: Any, src: Source, *, any_kind: bool = False) -> str | None:
    """kubectl's client-side checks; returns its error text or None.

    With ``any_kind`` a kind gatewaykit does not model passes (the cluster's API server decides,
    and reports a missing name itself).
    """
    if not isinstance(raw, dict):
        # unstructured.UnstructuredJSONScheme decodes into map[string]interface{}.
        go_type = {str: "string", list: "array", bool: "bool", int: "number", float: "number"}.get(
            type(raw), "value"
        )
        return (
            f'error: unable to decode "{src.file}": json: cannot unmarshal {go_type} into Go value '
            "of type map[string]interface {}"
        )
    missing = []
    api_version, kind = raw.get("apiVersion"), raw.get("kind")
    if not isinstance(api_version, str) or not api_version:
        missing.append("apiVersion not set")
    if not isinstance(kind, str) or not kind:
        missing.append("kind not set")
    if missing:
        # kubectl's validator aggregates: one error bare, several as "[a, b]" (utilerrors.Aggregate).
        detail = missing[0] if len(missing) == 1 else "[" + ", ".join(missing) + "]"
        return (
            f'error: error validating "{src.file}": error validating data: {detail}; '
            "if you choose to ignore these errors, turn validation off with --validate=false"
        )
    assert isinstance(api_version, str) and isinstance(kind, str)
    meta = raw.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    name = meta.get("name")
    namespace = meta.get("namespace")
    ns_text = namespace if isinstance(namespace, str) else ""
    info = kind_info(api_version, kind)
    if info is None and any_kind:
        return None
    if info is None:
        text = (
            f'error: resource mapping not found for name: "{name if isinstance(name, str) else ""}" '
            f'namespace: "{ns_text}" from "{src.file}": no matches for kind "{kind}" in version '
            f'"{api_version}"\nensure CRDs are installed first'
        )
        # A kind Istio 1.27 itself has no CRD for gets kubectl's text alone, as on a real cluster.
        return text if (api_version, kind) in NOT_SERVED else f"{text}\n{supported_kinds_line()}"
    if not isinstance(name, str) or not name:
        version = api_version.rsplit("/", 1)[-1]
        ns_shown = ns_text or ("default" if info.namespaced else "")
        return (
            "error: error when retrieving current configuration of:\n"
            f"{resource_string(info, version)}\n"
            f'Name: "", Namespace: "{ns_shown}"\n'
            f'from server for: "{src.file}": resource name may not be empty'
        )
    return None


def decode_body(raw: bytes, *, yaml_body: bool = False) -> Any:
    """A request body as the sandbox's API server reads it, within the reader's limits.

    JSON (or, for ``application/yaml`` and apply patches, one YAML document) becomes JSON data as
    :func:`load` makes it: go-yaml's aliasing limits, the nesting limit, no NaN.

    Raises:
        ValueError: the body does not decode; ``str()`` is the decoder's problem.
    """
    text = raw.decode("utf-8")  # UnicodeDecodeError is a ValueError
    try:
        if not yaml_body:
            return to_json(json.loads(text, parse_constant=_no_constant))
        loader = _KubeLoader(clean_text(text))
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            check_node_graph(node, text)
            return to_json(loader.construct_document(node))
        finally:
            loader.dispose()
    except RecursionError:
        raise ValueError(f"exceeded max depth of {MAX_DEPTH}") from None
    except DecodeLimitError as exc:
        raise ValueError(exc.problem) from None
    except yaml.YAMLError as exc:
        raise ValueError(str(exc).splitlines()[0]) from None


def dump_yaml(raw: Mapping[str, Any]) -> str:
    """Serialize one manifest dict as YAML (block style, key order kept)."""
    return yaml.safe_dump(dict(raw), sort_keys=False, default_flow_style=False)
