"""Kubernetes patches, pure: what the API server does with a PATCH, and what ``kubectl apply`` sends.

* :func:`merge_patch` -- ``application/merge-patch+json`` (RFC 7386), exactly as
  ``gopkg.in/evanphx/json-patch.v4`` ``MergePatch`` (the API server and ``kubectl patch --type=merge``).
* :func:`json_patch` -- ``application/json-patch+json`` (RFC 6902), as json-patch v4 ``Patch.Apply``,
  quirks included (``replace`` of a missing object key adds it; negative array indices work).
* :func:`strategic_merge_patch` -- ``application/strategic-merge-patch+json`` for the built-in
  kinds, as ``strategicpatch.StrategicMergeMapPatch`` with the Go struct tags
  (:mod:`gatewaykit.kube.strategic`, :mod:`gatewaykit.kube.patchmeta`).
* :func:`three_way_patch` / :func:`apply_patch` -- client-side ``kubectl apply``: the patch type and
  body it computes from the ``last-applied-configuration`` annotation, the manifest and the live
  object (``k8s.io/kubectl/pkg/cmd/apply/patcher.go``).
* :func:`last_applied_annotation` -- the annotation value kubectl writes, byte for byte
  (``k8s.io/kubectl/pkg/util/apply.go``).

A patch the API server refuses raises :class:`~gatewaykit.errors.ApiError` carrying the ``Status``
it answers with (code, reason and message as ``k8s.io/apiserver/pkg/endpoints/handlers/patch.go``
builds them); when that Status hides the Go error (a 422), the error is chained as ``__cause__``
-- it is what ``kubectl patch --local`` prints. A failure inside kubectl's own patch computation
raises :class:`~gatewaykit.errors.ValidationError` with the Go error text. Inputs are never
mutated. Output values are plain decoded JSON; :func:`go_json` renders them as Go does.

Rule: no I/O here.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from gatewaykit.errors import ApiError, ValidationError
from gatewaykit.kube import status as st
from gatewaykit.kube import strategic
from gatewaykit.kube.gojson import go_v, marshal
from gatewaykit.kube.patchmeta import KUBECTL_SCHEME, ROOTS
from gatewaykit.kube.strategic import prune_nulls

__all__ = [
    "JSON_PATCH",
    "LAST_APPLIED",
    "MERGE_PATCH",
    "STRATEGIC_MERGE_PATCH",
    "GoError",
    "apply_create_object",
    "apply_patch",
    "go_json",
    "json_patch",
    "last_applied_annotation",
    "merge_patch",
    "modified_configuration",
    "prepare_manifest",
    "strategic_merge_patch",
    "supported_patch_types",
    "three_way_patch",
    "unsupported_patch_type",
]

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

# The API server's limits (k8s.io/apiserver handlers/patch.go, server/config.go defaults).
MAX_JSON_PATCH_OPERATIONS = 10000
JSON_PATCH_MAX_COPY_BYTES = 3 * 1024 * 1024
# NewGenericServerResponse(422, ...) keeps none of the server's text: this is all the client sees.
_INVALID_422 = "the server rejected our request due to an error in our request"


#: ``json.Marshal``: how kubectl encodes a patch body (compact, keys sorted, HTML escaped).
go_json = marshal


class GoError(Exception):
    """The Go error behind a refusal (``json-patch``, ``strategicpatch``): chained as ``__cause__``."""


def _refuse(status: st.Status, cause: str = "") -> ApiError:
    err = st.api_error(status)
    if cause:
        err.__cause__ = GoError(cause)
    return err


def _bad_request(message: str) -> ApiError:
    return _refuse(st.bad_request(message), message)


def _generic_invalid(cause: str) -> ApiError:
    """``NewGenericServerResponse(422, ...)``: the Status keeps none of the server's text."""
    return _refuse(st.Status(422, "Invalid", _INVALID_422, extra={"details": {}}), cause)


def supported_patch_types(*, builtin: bool) -> tuple[str, ...]:
    """The ``Content-Type`` values a PATCH accepts (apiserver ``installer.go``; CRDs: apiextensions).

    Custom resources have no Go structs, hence no strategic merge patch.
    """
    if builtin:
        return (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH)
    return (JSON_PATCH, MERGE_PATCH, APPLY_PATCH)


def unsupported_patch_type(*, builtin: bool) -> st.Status:
    """The 415 for a PATCH whose type the resource does not take (``NewUnsupportedMediaTypeError``)."""
    accepted = ", ".join(supported_patch_types(builtin=builtin))
    return st.Status(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: {accepted}",
        has_details=False,
    )


# ----------------------------------------------------------------------------------------------
# JSON merge patch (RFC 7386), json-patch v4 merge.go
# ----------------------------------------------------------------------------------------------
def merge_patch(target: dict[str, Any], patch: Any) -> Any:
    """Apply a JSON merge patch as the API server does (``jsonpatch.MergePatch``).

    A ``null`` in the patch deletes the key; an object merges recursively; anything else
    replaces. A ``null`` patch or a scalar patch is ``400 Invalid JSON Patch``; an array patch
    replaces the whole document (the server's decode then rejects it).
    """
    if patch is None or not isinstance(patch, dict | list):
        raise _bad_request("Invalid JSON Patch")
    patch = copy.deepcopy(patch)
    if isinstance(patch, list):
        prune_nulls(patch)
        return patch
    doc = copy.deepcopy(target)
    _merge_docs(doc, patch)
    return doc


def _merge_docs(doc: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            doc.pop(key, None)
        elif doc.get(key) is None:
            prune_nulls(value)
            doc[key] = value
        else:
            doc[key] = _merge_value(doc[key], value)


def _merge_value(cur: Any, patch: Any) -> Any:
    if not isinstance(cur, dict):
        prune_nulls(patch)
        return patch
    if not isinstance(patch, dict):
        return patch  # not pruned: json-patch v4 returns a non-object patch value as it is
    _merge_docs(cur, patch)
    return cur


# ----------------------------------------------------------------------------------------------
# JSON patch (RFC 6902), json-patch v4 patch.go
# ----------------------------------------------------------------------------------------------
class _OpError(Exception):
    """A json-patch Apply error (its Go text)."""


def json_patch(target: dict[str, Any], ops: Any, *, copy_limit: int = JSON_PATCH_MAX_COPY_BYTES) -> Any:
    """Apply an RFC 6902 JSON patch as the API server does (json-patch v4 ``Patch.Apply``).

    A body that is not a list of objects is ``400`` (decode error); more than 10000 operations
    is ``413``; a failing operation is ``422`` with the generic Status message
    ``the server rejected our request due to an error in our request`` (the json-patch text is
    the ``__cause__``). ``copy_limit=0`` lifts the copy-size limit, as in ``kubectl patch --local``.
    """
    if ops is not None and not isinstance(ops, list):
        raise _bad_request(f"json: cannot unmarshal {_json_kind(ops)} into Go value of type jsonpatch.Patch")
    for op in ops or []:
        if op is not None and not isinstance(op, dict):
            kind = _json_kind(op)
            raise _bad_request(f"json: cannot unmarshal {kind} into Go value of type jsonpatch.Operation")
    ops = ops or []
    if len(ops) > MAX_JSON_PATCH_OPERATIONS:
        message = (
            f"The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, got {len(ops)}"
        )
        raise _refuse(
            st.Status(413, "RequestEntityTooLarge", f"Request entity too large: {message}", has_details=False)
        )
    state = {"doc": copy.deepcopy(target), "copied": 0, "limit": copy_limit}
    try:
        for op in ops:
            _apply_op(state, op or {})
    except _OpError as exc:
        err = _generic_invalid(str(exc))
        raise err from err.__cause__
    return state["doc"]


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object" if isinstance(value, dict) else "array"


def _op_kind(op: dict[str, Any]) -> str:
    kind = op.get("op")
    return kind if isinstance(kind, str) else "unknown"


def _op_str(op: dict[str, Any], field: str, missing: str) -> str:
    """``Operation.Path()`` / ``From()``: the string, or the Go error."""
    value = op.get(field)
    if value is None:
        raise _OpError(missing)
    if not isinstance(value, str):
        raise _OpError(f"json: cannot unmarshal {_json_kind(value)} into Go value of type string")
    return value


_NO_PATH = "operation missing path field: missing value"
_NO_FROM = "operation, missing from field: missing value"


def _apply_op(state: dict[str, Any], op: dict[str, Any]) -> None:
    kind = _op_kind(op)
    handler = _OPS.get(kind)
    if handler is None:
        raise _OpError(f"Unexpected kind: {kind}")
    handler(state, op)


def _path(op: dict[str, Any], field: str, wrap: str, *, keep_cause: bool = True) -> str:
    try:
        return _op_str(op, field, _NO_PATH if field == "path" else _NO_FROM)
    except _OpError as exc:
        raise _OpError(f"{wrap}: {exc if keep_cause else 'missing value'}") from None


def _op_add(state: dict[str, Any], op: dict[str, Any]) -> None:
    path = _path(op, "path", "add operation failed to decode path", keep_cause=False)
    con, key = _find_object(state["doc"], path)
    if con is None:
        raise _OpError(f'add operation does not apply: doc is missing path: "{path}": missing value')
    try:
        _con_add(con, key, copy.deepcopy(op.get("value")))
    except _OpError as exc:
        raise _OpError(f"error in add for path: '{path}': {exc}") from None


def _op_remove(state: dict[str, Any], op: dict[str, Any]) -> None:
    path = _path(op, "path", "remove operation failed to decode path", keep_cause=False)
    con, key = _find_object(state["doc"], path)
    if con is None:
        raise _OpError(f'remove operation does not apply: doc is missing path: "{path}": missing value')
    try:
        _con_remove(con, key)
    except _OpError as exc:
        raise _OpError(f"error in remove for path: '{path}': {exc}") from None


def _op_replace(state: dict[str, Any], op: dict[str, Any]) -> None:
    path = _path(op, "path", "replace operation failed to decode path")
    if path == "":
        value = op.get("value")
        if not isinstance(value, dict | list):
            # Go formats a nil error with %w here.
            raise _OpError("replace operation value must be object or array: %!w(<nil>)")
        state["doc"] = copy.deepcopy(value)
        return
    con, key = _find_object(state["doc"], path)
    if con is None:
        raise _OpError(f"replace operation does not apply: doc is missing path: {path}: missing value")
    try:
        _con_get(con, key)
    except _OpError:
        raise _OpError(
            f"replace operation does not apply: doc is missing key: {path}: missing value"
        ) from None
    # An object key that is not there is simply set: json-patch v4 only checks arrays.
    _con_set(con, key, copy.deepcopy(op.get("value")))


def _op_move(state: dict[str, Any], op: dict[str, Any]) -> None:
    src = _path(op, "from", "move operation failed to decode from")
    con, key = _find_object(state["doc"], src)
    if con is None:
        raise _OpError(f"move operation does not apply: doc is missing from path: {src}: missing value")
    try:
        value = _con_get(con, key)
        _con_remove(con, key)
    except _OpError as exc:
        raise _OpError(f"error in move for path: '{key}': {exc}") from None
    path = _path(op, "path", "move operation failed to decode path")
    con, key = _find_object(state["doc"], path)
    if con is None:
        raise _OpError(
            f"move operation does not apply: doc is missing destination path: {path}: missing value"
        )
    try:
        _con_add(con, key, value)
    except _OpError as exc:
        raise _OpError(f"error in move for path: '{path}': {exc}") from None


def _op_copy(state: dict[str, Any], op: dict[str, Any]) -> None:
    src = _path(op, "from", "copy operation failed to decode from")
    con, key = _find_object(state["doc"], src)
    if con is None:
        raise _OpError(f"copy operation does not apply: doc is missing from path: {src}: missing value")
    try:
        value = _con_get(con, key)
    except _OpError as exc:
        raise _OpError(f"error in copy for from: '{src}': {exc}") from None
    path = _path(op, "path", "copy operation failed to decode path", keep_cause=False)
    con, key = _find_object(state["doc"], path)
    if con is None:
        raise _OpError(
            f"copy operation does not apply: doc is missing destination path: {path}: missing value"
        )
    state["copied"] += 0 if value is None else len(marshal(value).encode())
    if 0 < state["limit"] < state["copied"]:
        raise _OpError(
            "Unable to complete the copy, the accumulated size increase of copy is "
            f"{state['copied']}, exceeding the limit {state['limit']}"
        )
    try:
        _con_add(con, key, copy.deepcopy(value))
    except _OpError as exc:
        raise _OpError(f"error while adding value during copy: {exc}") from None


def _op_test(state: dict[str, Any], op: dict[str, Any]) -> None:
    path = _path(op, "path", "test operation failed to decode path")
    expected = op.get("value")
    if path == "":
        if not _json_equal(state["doc"], expected):
            raise _OpError("testing value  failed: test failed")
        return
    con, key = _find_object(state["doc"], path)
    if con is None:
        raise _OpError(f"test operation does not apply: is missing path: {path}: missing value")
    try:
        actual = _con_get(con, key)
    except _OpError as exc:
        raise _OpError(f"error in test for path: '{path}': {exc}") from None
    # A missing key and a null both read as "nil"; they pass against an absent or null value.
    if (actual is None and expected is not None) or (
        actual is not None and not _json_equal(actual, expected)
    ):
        raise _OpError(f"testing value {path} failed: test failed")


_OPS = {
    "add": _op_add,
    "remove": _op_remove,
    "replace": _op_replace,
    "move": _op_move,
    "test": _op_test,
    "copy": _op_copy,
}


def _json_equal(a: Any, b: Any) -> bool:
    """json-patch's ``lazyNode.equal``: structural for objects/arrays, by JSON text for scalars.

    A scalar compares by its JSON text: the document's as Go encoded it (``a``), the patch
    value's as the client wrote it (``b``), so ``80`` does not equal ``80.0``. This port has the
    decoded patch value only: it assumes the client spelled strings as Go does.
    """
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict | list) or isinstance(b, dict | list):
        return False
    written = json.dumps(b) if isinstance(b, float) else marshal(b)
    return marshal(a) == written


def _decode_key(part: str) -> str:
    return part.replace("~1", "/").replace("~0", "~")


def _find_object(doc: Any, path: str) -> tuple[Any, str]:
    """``findObject``: the container holding the last path segment, or ``(None, "")``."""
    parts = path.split("/")
    if len(parts) < 2:
        return None, ""
    for part in parts[1:-1]:
        try:
            nxt = _con_get(doc, _decode_key(part))
        except _OpError:
            return None, ""
        if not isinstance(nxt, dict | list):
            return None, ""  # a missing key, a null or a scalar: there is no such path
        doc = nxt
    return doc, _decode_key(parts[-1])


def _atoi(key: str) -> int:
    """``strconv.Atoi`` (64-bit): an optional sign and decimal digits only."""
    body = key[1:] if key[:1] in "+-" else key
    if not body or not body.isascii() or not body.isdigit():
        raise _OpError(f'strconv.Atoi: parsing "{key}": invalid syntax')
    value = int(key)
    if not -(2**63) <= value < 2**63:
        raise _OpError(f'strconv.Atoi: parsing "{key}": value out of range')
    return value


def _invalid_index(idx: int) -> _OpError:
    return _OpError(f"Unable to access invalid index: {idx}: invalid index referenced")


def _con_get(con: Any, key: str) -> Any:
    if isinstance(con, dict):
        return con.get(key)
    idx = _atoi(key)
    if idx < 0:
        if idx < -len(con):
            raise _invalid_index(idx)
        idx += len(con)
    if idx >= len(con):
        raise _invalid_index(idx)
    return con[idx]


def _con_set(con: Any, key: str, value: Any) -> None:
    if isinstance(con, dict):
        con[key] = value
        return
    idx = _atoi(key)
    con[idx + len(con) if idx < 0 else idx] = value  # bounds already checked by _con_get


def _con_add(con: Any, key: str, value: Any) -> None:
    if isinstance(con, dict):
        con[key] = value
        return
    if key == "-":
        con.append(value)
        return
    try:
        idx = _atoi(key)
    except _OpError as exc:
        raise _OpError(f"value was not a proper array index: '{key}': {exc}") from None
    size = len(con) + 1
    if idx >= size:
        raise _invalid_index(idx)
    if idx < 0:
        if idx < -size:
            raise _invalid_index(idx)
        idx += size
    con.insert(idx, value)


def _con_remove(con: Any, key: str) -> None:
    if isinstance(con, dict):
        if key not in con:
            raise _OpError(f"Unable to remove nonexistent key: {key}: missing value")
        del con[key]
        return
    idx = _atoi(key)
    if idx >= len(con):
        raise _invalid_index(idx)
    if idx < 0:
        if idx < -len(con):
            raise _invalid_index(idx)
        idx += len(con)
    del con[idx]


# ----------------------------------------------------------------------------------------------
# Strategic merge patch (API server side)
# ----------------------------------------------------------------------------------------------
def _kubectl_compiled(kind: str) -> bool:
    return any(k == kind for _, k in KUBECTL_SCHEME)


def _schema_for(kind: str) -> strategic.Schema | None:
    for (_, root_kind), struct in ROOTS.items():
        if root_kind == kind:
            return strategic.Schema("S:" + struct)
    return None


def strategic_merge_patch(original: dict[str, Any], patch: Any, kind: str) -> dict[str, Any]:
    """Apply a strategic merge patch to a built-in ``kind`` as the API server does.

    Directives: ``$patch: replace|delete|merge``, ``$setElementOrder/<list>``, ``$retainKeys``,
    ``$deleteFromPrimitiveList/<list>``; ``null`` deletes. A kind without Go structs (a custom
    resource) is ``415``. Errors map to ``400``/``422``/``500`` as ``interpretStrategicMergePatchError``.
    """
    schema = _schema_for(kind)
    if schema is None:
        raise _refuse(unsupported_patch_type(builtin=False))
    if not isinstance(patch, dict):
        # kjson.UnmarshalCaseSensitivePreserveInts into a map
        raise _bad_request(
            f"json: cannot unmarshal {_json_kind(patch)} into Go value of type map[string]interface {{}}"
        )
    try:
        result = strategic.strategic_merge_map_patch(copy.deepcopy(original), copy.deepcopy(patch), schema)
    except strategic.StrategicMergeError as exc:
        err = _interpret_strategic_error(exc)
        raise err from err.__cause__
    return dict(result)


_BAD_REQUEST_SENTINELS = {
    "ErrBadJSONDoc",
    "ErrBadPatchFormatForPrimitiveList",
    "ErrBadPatchFormatForRetainKeys",
    "ErrBadPatchFormatForSetElementOrderList",
    "ErrUnsupportedStrategicMergePatchFormat",
}


def _interpret_strategic_error(exc: strategic.StrategicMergeError) -> ApiError:
    """``interpretStrategicMergePatchError``: some sentinels are 400, two are 422, the rest 500."""
    if exc.sentinel in _BAD_REQUEST_SENTINELS:
        return _bad_request(exc.text)
    if exc.sentinel in ("ErrNoListOfLists", "ErrPatchContentNotMatchRetainKeys"):
        return _generic_invalid(exc.text)
    # A plain Go error reaches responsewriters.ErrorToAPIStatus: 500, reason "", the text kept.
    return _refuse(st.Status(500, "", exc.text, has_details=False), exc.text)


# ----------------------------------------------------------------------------------------------
# kubectl apply (client side)
# ----------------------------------------------------------------------------------------------
def prepare_manifest(
    manifest: dict[str, Any], *, namespaced: bool, namespace: str = "default"
) -> dict[str, Any]:
    """The object kubectl's resource builder hands to ``apply`` (a copy).

    ``SetNamespace`` writes the default namespace into a namespaced object without one;
    ``FilterNamespace`` removes ``metadata.namespace`` from a cluster-scoped one
    (``k8s.io/cli-runtime/pkg/resource/visitor.go``). Both end up in the annotation.
    """
    obj = copy.deepcopy(manifest)
    meta = obj.get("metadata")
    if namespaced:
        if not (isinstance(meta, dict) and meta.get("namespace")):
            obj.setdefault("metadata", {})["namespace"] = namespace
    elif isinstance(meta, dict):
        meta.pop("namespace", None)
    return obj


def _annotations(obj: dict[str, Any]) -> dict[str, str]:
    # unstructured.GetAnnotations: NestedStringMap; anything but a map of strings reads as none.
    meta = obj.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    if not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values()):
        return {}
    return dict(annotations)


def last_applied_annotation(manifest: dict[str, Any]) -> str:
    """The ``kubectl.kubernetes.io/last-applied-configuration`` value kubectl writes for ``manifest``.

    ``GetModifiedConfiguration``: the object without that annotation -- but with
    ``metadata.annotations`` present, ``{}`` if it had none -- encoded by
    ``json.NewEncoder(w).Encode``: compact, keys sorted, HTML characters escaped, and a trailing
    newline. Pass the :func:`prepare_manifest` result to include kubectl's namespace handling.
    """
    obj = copy.deepcopy(manifest)
    annotations = _annotations(obj)
    annotations.pop(LAST_APPLIED, None)
    obj.setdefault("metadata", {})["annotations"] = annotations
    return marshal(obj) + "\n"


def modified_configuration(manifest: dict[str, Any]) -> dict[str, Any]:
    """``GetModifiedConfiguration(obj, annotate=true)``: the manifest carrying its new annotation."""
    obj = copy.deepcopy(manifest)
    annotations = _annotations(obj)
    annotations.pop(LAST_APPLIED, None)
    annotations[LAST_APPLIED] = last_applied_annotation(obj)
    obj.setdefault("metadata", {})["annotations"] = annotations
    return obj


def apply_create_object(manifest: dict[str, Any]) -> dict[str, Any]:
    """The body ``kubectl apply`` POSTs when the object does not exist yet.

    ``CreateApplyAnnotation`` then ``pruneNullsFromMap`` (nulls go, but only after the
    annotation -- which keeps them -- was computed).
    """
    obj = modified_configuration(manifest)
    prune_nulls(obj)
    return obj


def _go_roundtrip(value: Any) -> Any:
    """Encode with Go and decode with ``util/json``: a whole float64 comes back as an int64."""
    if isinstance(value, dict):
        return {k: _go_roundtrip(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_go_roundtrip(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        return float(value)
    return value


def _parse_original(original: dict[str, Any] | str | None, *, strategic: bool) -> dict[str, Any]:
    if original is None or original == "":
        return {}
    if isinstance(original, dict):
        return _go_roundtrip(original)
    text = original.strip()
    if not strategic and text.startswith("[") and text.endswith("]"):
        raise ValidationError("Mismatched JSON Documents")  # json-patch errBadMergeTypes
    try:
        value = json.loads(original)
    except ValueError:
        value = False
    if value is None:
        return {}  # "null" decodes to a nil map
    if not isinstance(value, dict):
        # mergepatch.ErrBadJSONDoc (strategic) / json-patch ErrBadJSONDoc (merge)
        raise ValidationError("invalid JSON document" if strategic else "Invalid JSON Document")
    return value


def three_way_patch(
    original: dict[str, Any] | str | None,
    modified: dict[str, Any],
    current: dict[str, Any],
    kind: str,
    *,
    builtin: bool,
) -> tuple[str, dict[str, Any]]:
    """The ``(Content-Type, body)`` of the PATCH client-side ``kubectl apply`` sends.

    ``original`` is the live object's last-applied annotation (text or decoded; ``None`` when
    absent), ``modified`` the manifest with its new annotation (:func:`modified_configuration`),
    ``current`` the live object. Built-in kinds compiled into kubectl get
    ``CreateThreeWayMergePatch`` with the Go structs (kubectl's path when the server's OpenAPI
    offers no strategic merge patch, as the sandbox's does not); every other kind -- custom
    resources, and CustomResourceDefinitions, which kubectl's scheme lacks -- gets
    ``CreateThreeWayJSONMergePatch``. An empty body (``{}``) means kubectl sends nothing and
    prints ``unchanged``.
    """
    # kubectl's fallback: a strategic patch only for the kinds compiled into its scheme.
    schema = _schema_for(kind) if builtin and _kubectl_compiled(kind) else None
    base = _parse_original(original, strategic=builtin)
    modified, current = _go_roundtrip(modified), _go_roundtrip(current)
    if schema is not None:
        try:
            return STRATEGIC_MERGE_PATCH, strategic.create_three_way_merge_patch(
                base, modified, current, schema
            )
        except strategic.StrategicMergeError as exc:
            raise ValidationError(exc.text) from None
    return MERGE_PATCH, _three_way_json_merge_patch(base, modified, current)


def apply_patch(
    manifest: dict[str, Any],
    current: dict[str, Any],
    kind: str,
    *,
    builtin: bool,
    namespaced: bool,
    namespace: str = "default",
) -> tuple[str, dict[str, Any]]:
    """:func:`three_way_patch` for ``manifest`` against the live object ``current`` (all steps)."""
    obj = modified_configuration(prepare_manifest(manifest, namespaced=namespaced, namespace=namespace))
    original = _annotations(current).get(LAST_APPLIED)
    return three_way_patch(original, obj, current, kind, builtin=builtin)


# jsonmergepatch.CreateThreeWayJSONMergePatch -------------------------------------------------
def _three_way_json_merge_patch(
    original: dict[str, Any], modified: dict[str, Any], current: dict[str, Any]
) -> dict[str, Any]:
    """Additions and changes current -> modified, plus deletions original -> modified."""
    add_and_change = _keep_or_delete_null(_get_diff(current, modified), keep_null=False)
    deletions = _keep_or_delete_null(_get_diff(original, modified), keep_null=True)
    if _has_conflicts(add_and_change, deletions):
        # mergepatch.NewErrConflict renders both sides as YAML; this port shows them as JSON.
        raise ValidationError(
            f"patch:\n{marshal(add_and_change)}\nconflicts with changes made from original to current:\n"
            f"{marshal(deletions)}\n"
        )
    patch = deletions
    _merge_docs(patch, add_and_change)
    patch = _go_roundtrip(patch)
    # mergepatch.RequireKeyUnchanged("apiVersion"/"kind"), RequireMetadataKeyUnchanged("name"):
    # meetPreconditions returns a plain error, so kubectl shows this text (not its
    # "At least one of apiVersion, kind and name was changed", which needs ErrPreconditionFailed).
    meta = patch.get("metadata")
    if "apiVersion" in patch or "kind" in patch or (isinstance(meta, dict) and "name" in meta):
        raise ValidationError(f"precondition failed for: {go_v(patch)}")
    return patch


def _number_or_type(value: Any) -> str:
    # encoding/json decodes every number as float64: 1 and 1.0 are the same value there.
    if isinstance(value, bool) or value is None:
        return repr(type(value))
    if isinstance(value, int | float):
        return "number"
    return repr(type(value))


def _matches(a: Any, b: Any) -> bool:
    """json-patch ``matchesValue`` (numbers compared as float64)."""
    if _number_or_type(a) != _number_or_type(b):
        return False
    if isinstance(a, dict):
        return len(a) == len(b) and all(k in a and _matches(a[k], b[k]) for k in b)
    if isinstance(a, list):
        return len(a) == len(b) and all(_matches(x, y) for x, y in zip(a, b, strict=True))
    if _number_or_type(a) == "number":
        return float(a) == float(b)
    return bool(a == b)


def _get_diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """json-patch ``getDiff`` (``CreateMergePatch``): the merge patch from ``a`` to ``b``."""
    into: dict[str, Any] = {}
    for key, bv in b.items():
        if key not in a:
            into[key] = bv
            continue
        av = a[key]
        if _number_or_type(av) != _number_or_type(bv):
            into[key] = bv
        elif isinstance(av, dict):
            sub = _get_diff(av, bv)
            if sub:
                into[key] = sub
        elif not _matches(av, bv):
            into[key] = bv
    for key in a:
        if key not in b:
            into[key] = None
    return into


def _keep_or_delete_null(m: dict[str, Any], *, keep_null: bool) -> dict[str, Any]:
    """``keepOrDeleteNullInObj``: only the nulls (deletions) or everything but them."""
    out: dict[str, Any] = {}
    for key, val in m.items():
        if val is None:
            if keep_null:
                out[key] = None
        elif isinstance(val, dict):
            if not val:
                # An explicitly-set empty map is a value, not an empty patch.
                if not keep_null:
                    out[key] = val
                continue
            sub = _keep_or_delete_null(val, keep_null=keep_null)
            if sub:
                out[key] = sub
        elif not keep_null:
            out[key] = val
    return out


def _has_conflicts(left: Any, right: Any) -> bool:
    """``mergepatch.HasConflicts`` (JSON merge patch semantics)."""
    if isinstance(left, dict):
        if not isinstance(right, dict):
            return True
        return any(k in right and _has_conflicts(v, right[k]) for k, v in left.items())
    if isinstance(left, list):
        if not isinstance(right, list) or len(left) != len(right):
            return True
        return any(_has_conflicts(x, y) for x, y in zip(left, right, strict=True))
    return not (type(left) is type(right) and left == right)
