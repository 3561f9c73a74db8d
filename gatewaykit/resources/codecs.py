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
import pathlib
import re
from collections.abc import Mapping
from typing import Any

import yaml

from gatewaykit.errors import ManifestError, ManifestSyntaxError
from gatewaykit.resources.meta import KINDS, FieldLines, KindInfo, Manifest, Source, kind_info

__all__ = [
    "NOT_SERVED",
    "ManifestSource",
    "dump_yaml",
    "load",
    "manifest_path",
    "read_documents",
    "resource_string",
    "supported_kinds_line",
]

#: What the reader accepts: YAML/JSON text, a path (``Path``, or a one-line ``str`` ending in
#: ``.yaml``/``.yml``/``.json``), one manifest dict, or a list of them.
ManifestSource = str | pathlib.Path | Mapping[str, Any] | list[Any]

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
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            # kubectl: `error: the path "x.yaml" does not exist`
            raise ManifestError(f'error: the path "{str(source).strip()}" does not exist') from exc
        return _parse_text(text, file)
    file = name or "STDIN"
    if isinstance(source, str):
        return _parse_text(source, file)
    if isinstance(source, Mapping):
        return [(dict(source), Source(file, 0, 1))]
    if isinstance(source, list):
        return [(doc, Source(file, i, 1)) for i, doc in enumerate(source) if doc is not None]
    raise ManifestError(f"error: cannot read manifests from {type(source).__name__}")


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
    decoder = json.JSONDecoder()
    docs: list[tuple[Any, Source]] = []
    pos = _skip_json_space(text, 0)
    while pos < len(text):
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            return None
        docs.append((value, Source(file, len(docs), text.count("\n", 0, pos) + 1)))
        pos = _skip_json_space(text, end)
    return docs


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
            loader = _KubeLoader(body)
            try:
                node = loader.get_single_node()
                data = loader.construct_document(node) if node is not None else None
            finally:
                loader.dispose()
        except yaml.YAMLError as exc:
            raise _syntax_error(exc, file, first) from None
        except (ValueError, OverflowError, RecursionError) as exc:  # e.g. absurd numbers
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
        docs.append((_jsonify(data), Source(file, index, first_line, fields)))
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


def _jsonify(value: Any) -> Any:
    """YAML -> JSON as sigs.k8s.io/yaml does: map keys become strings, dates stay strings."""
    if isinstance(value, dict):
        return {_key(k): _jsonify(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonify(v) for v in value]
    if isinstance(value, bytes):  # !!binary -> base64 text, as JSON would carry it
        import base64

        return base64.b64encode(value).decode("ascii")
    if isinstance(value, (set, tuple)):
        return [_jsonify(v) for v in value]
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    return value


def _key(k: Any) -> str:
    if isinstance(k, str):
        return k
    if k is None:
        return "null"
    if isinstance(k, bool):
        return "true" if k else "false"
    return str(k)


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


def dump_yaml(raw: Mapping[str, Any]) -> str:
    """Serialize one manifest dict as YAML (block style, key order kept)."""
    return yaml.safe_dump(dict(raw), sort_keys=False, default_flow_style=False)
