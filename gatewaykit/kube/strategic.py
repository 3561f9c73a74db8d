# One module: a port of one Go file (strategicpatch/patch.go), kept in its order to be read side by side.
"""Strategic merge patch: apply one (API server) and compute one (kubectl apply), as apimachinery does.

A faithful port of ``k8s.io/apimachinery/pkg/util/strategicpatch/patch.go`` (the version kubectl
v1.37 is built with), driven by the ``patchStrategy``/``patchMergeKey`` struct tags in
:mod:`gatewaykit.kube.patchmeta`. Functions keep the Go names (``merge_map`` is ``mergeMap``) so a
reader can follow both side by side; comments give the *why* where Go's behaviour is surprising.

Values are decoded JSON (``dict``/``list``/``str``/``int``/``float``/``bool``/``None``). Like the
Go code, the functions mutate their arguments: the public entry points in
:mod:`gatewaykit.kube.patch` hand them deep copies.

Go semantics kept on purpose:

* ``==`` on interface values compares type *and* value (``1`` != ``1.0`` != ``True``);
* lists of scalars and merge keys sort by their ``%v`` text (``fmt.Sprintf("%v")``) with
  ``sort.Sort`` and a ``<=`` comparison (an insertion sort up to 12 items, which reverses ties);
* ``sort.SliceStable`` with apimachinery's non-transitive "order" comparison is reproduced
  step by step (insertion sort in blocks of 20, then ``symMerge``), since its output depends on
  the algorithm.

Not ported: ``MergingMapsHaveConflicts`` (only used by ``kubectl apply --overwrite=false``) and
Go's ``pdqsort`` for ties in lists of more than 12 elements (a stable sort is used there).

Rule: no I/O here.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from gatewaykit._gofmt import format_list
from gatewaykit._gofmt import quote as goq
from gatewaykit.kube.gojson import go_type, go_v, same_type
from gatewaykit.kube.patchmeta import STRUCTS

__all__ = [
    "DiffOptions",
    "MergeOptions",
    "Schema",
    "StrategicMergeError",
    "create_three_way_merge_patch",
    "diff_maps",
    "merge_map",
    "prune_nulls",
    "strategic_merge_map_patch",
]

DIRECTIVE = "$patch"
DELETE, REPLACE, MERGE = "delete", "replace", "merge"
RETAIN_KEYS = "retainKeys"
RETAIN_KEYS_DIRECTIVE = "$retainKeys"
DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList"
SET_ELEMENT_ORDER = "$setElementOrder"


class StrategicMergeError(Exception):
    """A Go error of strategicpatch/mergepatch; ``sentinel`` names the ``mergepatch.Err*`` value."""

    def __init__(self, text: str, sentinel: str = "") -> None:
        super().__init__(text)
        self.text = text
        self.sentinel = sentinel


# mergepatch/errors.go sentinels (the API server maps some to 400/422 by identity).
def _err_bad_json_doc() -> StrategicMergeError:
    return StrategicMergeError("invalid JSON document", "ErrBadJSONDoc")


def _err_no_list_of_lists() -> StrategicMergeError:
    return StrategicMergeError("lists of lists are not supported", "ErrNoListOfLists")


def _err_primitive_list() -> StrategicMergeError:
    return StrategicMergeError("invalid patch format of primitive list", "ErrBadPatchFormatForPrimitiveList")


def _err_retain_keys() -> StrategicMergeError:
    return StrategicMergeError("invalid patch format of retainKeys", "ErrBadPatchFormatForRetainKeys")


def _err_set_element_order() -> StrategicMergeError:
    return StrategicMergeError(
        "invalid patch format of setElementOrder list", "ErrBadPatchFormatForSetElementOrderList"
    )


def _err_no_merge_key(m: dict[str, Any], key: str) -> StrategicMergeError:
    return StrategicMergeError(f"map: {go_v(m)} does not contain declared merge key: {key}")


def _err_bad_arg_type(expected: str, actual: Any) -> StrategicMergeError:
    return StrategicMergeError(f"expected a {expected}, but received a {go_type(actual)}")


_MAP_T, _SLICE_T = "map[string]interface {}", "[]interface {}"


def _go_s(value: Any) -> str:
    """``%s`` of an interface value (a non-string scalar prints as ``%!s(int64=1)``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return go_v(value)
    return f"%!s({go_type(value)}={go_v(value)})"


def _err_bad_patch_type(directive: Any, m: dict[str, Any]) -> StrategicMergeError:
    return StrategicMergeError(f"unknown patch type: {_go_s(directive)} in map: {go_v(m)}")


# ----------------------------------------------------------------------------------------------
# Go value semantics
# ----------------------------------------------------------------------------------------------
def _eq(a: Any, b: Any) -> bool:
    """Go's ``==`` on two ``interface{}`` scalars: same dynamic type and value."""
    if isinstance(a, dict | list) or isinstance(b, dict | list):
        return a is b  # Go would panic on uncomparable values; identity is the closest answer
    return same_type(a, b) and a == b


def _hkey(value: Any) -> Any:
    """A hashable key with Go's ``map[interface{}]`` identity (type + value)."""
    if isinstance(value, dict | list):
        return ("unhashable", id(value))
    return (go_type(value), value)


def _deep_equal(a: Any, b: Any) -> bool:
    """``reflect.DeepEqual`` of decoded JSON values."""
    if not same_type(a, b):
        return False
    if isinstance(a, dict):
        return len(a) == len(b) and all(k in b and _deep_equal(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(_deep_equal(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _sort_go(items: list[Any], text: Any) -> list[Any]:
    """``sort.Sort`` with ``Less(i, j) = text(i) <= text(j)``, in place.

    Up to 12 elements Go runs an insertion sort, and the ``<=`` makes it move an element in
    front of an equal one: ties come out reversed. Longer lists: a stable sort (see module doc).
    """
    if len(items) > 12:
        items.sort(key=text)
        return items
    for i in range(1, len(items)):
        j = i
        while j > 0 and text(items[j]) <= text(items[j - 1]):
            items[j], items[j - 1] = items[j - 1], items[j]
            j -= 1
    return items


def _sort_stable_go(items: list[Any], less: Any) -> None:
    """``sort.SliceStable(items, less)`` step for step (insertion blocks of 20, then symMerge).

    ``less(i, j)`` reads the live list, exactly like the Go closure does.
    """
    n, block = len(items), 20

    def swap(i: int, j: int) -> None:
        items[i], items[j] = items[j], items[i]

    def insertion(a: int, b: int) -> None:
        for i in range(a + 1, b):
            j = i
            while j > a and less(j, j - 1):
                swap(j, j - 1)
                j -= 1

    a, b = 0, block
    while b <= n:
        insertion(a, b)
        a, b = b, b + block
    insertion(a, n)
    while block < n:
        a, b = 0, 2 * block
        while b <= n:
            _sym_merge(items, less, swap, a, a + block, b)
            a, b = b, b + 2 * block
        if a + block < n:
            _sym_merge(items, less, swap, a, a + block, n)
        block *= 2


def _sym_merge(items: list[Any], less: Any, swap: Any, a: int, m: int, b: int) -> None:
    # Go's symMerge_func (sort/zsortfunc.go).
    if m - a == 1:
        i, j = m, b
        while i < j:
            h = (i + j) >> 1
            i, j = (h + 1, j) if less(h, a) else (i, h)
        for k in range(a, i - 1):
            swap(k, k + 1)
        return
    if b - m == 1:
        i, j = a, m
        while i < j:
            h = (i + j) >> 1
            i, j = (h + 1, j) if not less(m, h) else (i, h)
        for k in range(m, i, -1):
            swap(k, k - 1)
        return
    mid = (a + b) >> 1
    n = mid + m
    start, r = (n - b, mid) if m > mid else (a, m)
    p = n - 1
    while start < r:
        c = (start + r) >> 1
        start, r = (c + 1, r) if not less(p - c, c) else (start, c)
    end = n - start
    if start < m < end:
        _rotate(swap, start, m, end)
    if a < start < mid:
        _sym_merge(items, less, swap, a, start, mid)
    if mid < end < b:
        _sym_merge(items, less, swap, mid, end, b)


def _rotate(swap: Any, a: int, m: int, b: int) -> None:
    def swap_range(x: int, y: int, count: int) -> None:
        for k in range(count):
            swap(x + k, y + k)

    i, j = m - a, b - m
    while i != j:
        if i > j:
            swap_range(m - i, m, j)
            i -= j
        else:
            swap_range(m - i, m + j - i, i)
            j -= i
    swap_range(m - i, m, i)


def _sort_scalars(items: list[Any]) -> list[Any]:
    return _sort_go(items, go_v)


def _deduplicate_scalars(s: list[Any]) -> list[Any]:
    # The Go "clever algorithm": a duplicate is overwritten by the last element (order changes).
    length = len(s) - 1
    i = 0
    while i < length:
        j = i + 1
        while j <= length:
            if _eq(s[i], s[j]):
                s[j] = s[length]
                s = s[:length]
                length -= 1
                j -= 1
            j += 1
        i += 1
    return s


def _slice_element_kind(*slices: list[Any]) -> str:
    """``sliceElementType(...).Kind()``: ``map``, or a scalar type name; lists of lists fail."""
    prev = None
    for s in slices:
        for v in s:
            current = go_type(v)
            if prev is None:
                prev = current
                if current == _SLICE_T:
                    raise _err_no_list_of_lists()
            elif prev != current:
                raise StrategicMergeError(f"list element types are not identical: {go_v(list(slices))}")
    if prev is None:
        raise StrategicMergeError("no elements in any of the given slices")
    return "map" if prev == _MAP_T else prev


# ----------------------------------------------------------------------------------------------
# Patch metadata lookups (PatchMetaFromStruct, forked encoding/json field lookup)
# ----------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class PatchMeta:
    """``patchStrategy`` (split on ``,``) and ``patchMergeKey`` of one struct field."""

    strategies: tuple[str, ...] = ()
    merge_key: str = ""


@dataclasses.dataclass(frozen=True)
class Schema:
    """``PatchMetaFromStruct``: a Go type, as a :mod:`patchmeta` descriptor (``S:v1.PodSpec``)."""

    type: str

    def kind(self) -> str:
        """``reflect.Type.Kind().String()``."""
        if self.type.startswith("S:"):
            return "struct"
        if self.type.startswith("[]"):
            return "slice"
        return self.type

    def name(self) -> str:
        """``LookupPatchMeta.Name()``: the kind name of the type."""
        return self.kind()

    def lookup_struct(self, key: str) -> tuple[Schema, PatchMeta]:
        """``LookupPatchMetadataForStruct``: the field's type and tags (exact, then case-folded name)."""
        if self.kind() != "struct":
            raise StrategicMergeError(
                f"merging an object in json but data type is not struct, instead is: {self.kind()}"
            )
        fields = STRUCTS[self.type[2:]]
        found = fields.get(key)
        if found is None:
            folded = key.casefold()
            found = next((f for name, f in fields.items() if name.casefold() == folded), None)
        if found is None:
            go_name = self.type[2:].split(".", 1)[1]
            raise StrategicMergeError(
                f"unable to find api field in struct {go_name} for the json field {goq(key)}"
            )
        return Schema(found[0]), PatchMeta(tuple(found[1].split(",")), found[2])

    def lookup_slice(self, key: str) -> tuple[Schema, PatchMeta]:
        """``LookupPatchMetadataForSlice``: like :meth:`lookup_struct`, then the element type."""
        sub, meta = self.lookup_struct(key)
        if sub.kind() != "slice":
            raise StrategicMergeError(f"expected slice or array type, but got: {self.kind()}")
        elem = Schema(sub.type[2:])
        if elem.kind() == "slice":
            raise StrategicMergeError("unexpected slice of slice")
        return elem, meta


def _extract_retain_keys_patch_strategy(strategies: tuple[str, ...]) -> tuple[bool, str]:
    if len(strategies) == 0:
        return False, ""
    if len(strategies) == 1:
        return (True, "") if strategies[0] == RETAIN_KEYS else (False, strategies[0])
    if len(strategies) == 2 and RETAIN_KEYS in strategies:
        return True, strategies[1] if strategies[0] == RETAIN_KEYS else strategies[0]
    raise StrategicMergeError(f"unexpected patch strategy: {format_list(strategies)}")


# ----------------------------------------------------------------------------------------------
# Applying a patch (mergeMap and friends)
# ----------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class MergeOptions:
    """``MergeOptions``: the API server merges parallel lists and drops unmatched nulls."""

    merge_parallel_list: bool = False
    ignore_unmatched_nulls: bool = False


def strategic_merge_map_patch(original: dict[str, Any], patch: dict[str, Any], schema: Schema) -> Any:
    """``StrategicMergeMapPatchUsingLookupPatchMeta``: what the API server does with a patch."""
    return merge_map(original, patch, schema, MergeOptions(True, True))


def merge_map(
    original: dict[str, Any] | None, patch: dict[str, Any], schema: Schema, opts: MergeOptions
) -> Any:
    """``mergeMap``: merge ``patch`` into ``original`` (mutated and returned)."""
    if DIRECTIVE in patch:
        return _handle_directive_in_merge_map(patch[DIRECTIVE], patch)
    if original is None:
        original = {}
    _apply_retain_keys_directive(original, patch, opts)
    _merge_patch_into_original(original, patch, schema, opts)
    for key, patch_v in list(patch.items()):
        skip, is_delete_list, k = _preprocess_deletion_list(key, original, patch_v, opts.merge_parallel_list)
        if skip:
            continue
        if patch_v is None:
            # A null deletes the key; with IgnoreUnmatchedNulls it is not kept either.
            original.pop(k, None)
            if opts.ignore_unmatched_nulls:
                continue
        if k not in original or not same_type(original[k], patch_v):
            if not is_delete_list:
                if opts.ignore_unmatched_nulls:
                    prune_nulls(patch_v)
                _set_without_directives(original, k, patch_v)
            continue
        if isinstance(patch_v, dict):
            sub, meta = schema.lookup_struct(k)
            strategy = _extract_retain_keys_patch_strategy(meta.strategies)[1]
            original[k] = patch_v if strategy == REPLACE else merge_map(original[k], patch_v, sub, opts)
        elif isinstance(patch_v, list):
            sub, meta = schema.lookup_slice(k)
            strategy = _extract_retain_keys_patch_strategy(meta.strategies)[1]
            original[k] = _merge_slice_handler(
                original[k], patch_v, sub, strategy, meta.merge_key, is_delete_list, opts
            )
        else:
            _set_without_directives(original, k, patch_v)
    return original


def _set_without_directives(original: dict[str, Any], key: str, value: Any) -> None:
    value, keep = _remove_directives(value)
    if keep:
        original[key] = value
    else:
        original.pop(key, None)


def _handle_directive_in_merge_map(directive: Any, patch: dict[str, Any]) -> dict[str, Any]:
    if isinstance(directive, str) and directive == REPLACE:
        # "$patch: replace" on a map: the patch (minus the directive) is the new value.
        del patch[DIRECTIVE]
        return patch
    if isinstance(directive, str) and directive == DELETE:
        return {}
    raise _err_bad_patch_type(directive, patch)


def _preprocess_deletion_list(
    key: str, original: dict[str, Any], patch_v: Any, merge: bool
) -> tuple[bool, bool, str]:
    """Returns (skip, is_delete_list, key without the ``$deleteFromPrimitiveList/`` prefix)."""
    if not key.startswith(DELETE_FROM_PRIMITIVE_LIST):
        return False, False, key
    if not merge:
        original[key] = patch_v
        return True, False, key
    return False, True, _extract_key(key, DELETE_FROM_PRIMITIVE_LIST)


def _extract_key(s: str, prefix: str) -> str:
    parts = s.split("/", 1)
    if len(parts) <= 1 or parts[0] != prefix:
        raise _err_primitive_list() if prefix == DELETE_FROM_PRIMITIVE_LIST else _err_set_element_order()
    return parts[1]


def _apply_retain_keys_directive(original: dict[str, Any], patch: dict[str, Any], opts: MergeOptions) -> None:
    if RETAIN_KEYS_DIRECTIVE not in patch:
        return
    retain = patch.pop(RETAIN_KEYS_DIRECTIVE)
    if not opts.merge_parallel_list:
        # Merging two patches (kubectl's 3-way): the directive is carried over, not applied.
        if RETAIN_KEYS_DIRECTIVE in original:
            if not _deep_equal(original[RETAIN_KEYS_DIRECTIVE], retain):
                raise StrategicMergeError(
                    f"{go_v(original[RETAIN_KEYS_DIRECTIVE])} and {go_v(retain)} are not deep equal: "
                    "this may happen when calculating the 3-way diff patch"
                )
        else:
            original[RETAIN_KEYS_DIRECTIVE] = retain
        return
    if not isinstance(retain, list):
        raise _err_retain_keys()
    keep = {_hkey(v) for v in retain}
    for k, v in patch.items():
        if v is None or k.startswith((DELETE_FROM_PRIMITIVE_LIST, SET_ELEMENT_ORDER)):
            continue
        if _hkey(k) not in keep:
            raise _err_retain_keys()
    for k in list(original):
        if _hkey(k) not in keep:
            del original[k]


def _merge_patch_into_original(
    original: dict[str, Any], patch: dict[str, Any], schema: Schema, opts: MergeOptions
) -> None:
    """``mergePatchIntoOriginal``: apply each ``$setElementOrder/<list>`` with its list."""
    for key in [k for k in patch if k.startswith(SET_ELEMENT_ORDER)]:
        order = patch.pop(key)
        if not opts.merge_parallel_list:
            if key in original:
                if not _deep_equal(original[key], order):
                    raise _err_set_element_order()
            else:
                original[key] = order
        if not isinstance(order, list):
            raise _err_bad_arg_type(_SLICE_T, order)
        list_key = _extract_key(key, SET_ELEMENT_ORDER)
        found_original, found_patch = list_key in original, list_key in patch
        original_list = _as_list(original.get(list_key) if found_original else [])
        patch_list = _as_list(patch.get(list_key) if found_patch else [])
        sub, meta = schema.lookup_slice(list_key)
        strategy = _extract_retain_keys_patch_strategy(meta.strategies)[1]
        _validate_patch_with_set_order_list(patch_list, order, meta.merge_key)
        if found_original and not found_patch:
            merged = original_list
        elif found_patch and not found_original:
            merged, _ = _remove_directives(patch_list)
        elif found_original and found_patch:
            merged = _merge_slice_handler(
                original_list, patch_list, sub, strategy, meta.merge_key, False, opts
            )
        else:
            continue
        patch_items, server_only = _partition(merged, order, meta.merge_key)
        kind = _slice_element_kind(original_list, patch_list)
        original[list_key] = _normalize_element_order(
            patch_items, server_only, order, original_list, meta.merge_key, kind
        )
        patch.pop(list_key, None)


def _as_list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise _err_bad_arg_type(_SLICE_T, value)
    return value


def _partition(merged: list[Any], by: list[Any], merge_key: str) -> tuple[list[Any], list[Any]]:
    """``partitionPrimitivesByPresentInList`` / ``partitionMapsByPresentInList``."""
    inside: list[Any] = []
    server_only: list[Any] = []
    if not merge_key:
        present = {_hkey(v) for v in by}
        for v in merged:
            (inside if _hkey(v) in present else server_only).append(v)
        return inside, server_only
    for v in merged:
        if not isinstance(v, dict):
            raise _err_bad_arg_type(_MAP_T, v)
        if merge_key not in v:
            raise _err_no_merge_key(v, merge_key)
        found = _find_map_in_slice(by, merge_key, v[merge_key]) is not None
        (inside if found else server_only).append(v)
    return inside, server_only


def _validate_patch_with_set_order_list(patch_list: list[Any], order: list[Any], merge_key: str) -> None:
    # Every non-deleted patch item must appear in $setElementOrder, in the same relative order.
    if not order or not patch_list:
        return
    non_delete = _extract_to_delete_items(patch_list)[0] if merge_key else patch_list
    p = s = 0
    while p < len(non_delete) and s < len(order):
        if isinstance(non_delete[p], dict) and DIRECTIVE in non_delete[p]:
            p += 1
            continue
        if _merge_key_value_equal(non_delete[p], order[s], merge_key):
            p += 1
        s += 1
    if p < len(non_delete) and s >= len(order):
        raise StrategicMergeError(
            f"The order in patch list:\n{go_v(patch_list)}\n doesn't match {SET_ELEMENT_ORDER} list:\n"
            f"{go_v(order)}\n"
        )


def _merge_key_value_equal(left: Any, right: Any, merge_key: str) -> bool:
    if not merge_key:
        return _eq(left, right)
    for side in (left, right):
        if not isinstance(side, dict):
            raise _err_bad_arg_type(_MAP_T, side)
        if merge_key not in side:
            raise _err_no_merge_key(side, merge_key)
    return _eq(left[merge_key], right[merge_key])


def _remove_directives(obj: Any) -> tuple[Any, bool]:
    """``removeDirectives``: drop maps carrying ``$patch`` (and report whether to keep ``obj``)."""
    if isinstance(obj, dict):
        if DIRECTIVE in obj:
            return None, False
        for k, v in list(obj.items()):
            value, keep = _remove_directives(v)
            if keep:
                obj[k] = value
            else:
                del obj[k]
        return obj, True
    if isinstance(obj, list):
        kept = [value for value, keep in map(_remove_directives, obj) if keep]
        return kept, True
    return obj, True


def prune_nulls(value: Any) -> None:
    """Delete null-valued keys of every object inside ``value``; null list items stay.

    One rule, three Go copies: strategicpatch ``discardNullValuesFromPatch``, json-patch
    ``pruneNulls`` and kubectl apply's ``pruneNullsFromMap``.
    """
    if isinstance(value, dict):
        for k, v in list(value.items()):
            if v is None:
                del value[k]
            else:
                prune_nulls(v)
    elif isinstance(value, list):
        for v in value:
            prune_nulls(v)


def _merge_slice_handler(
    original: Any,
    patch: Any,
    schema: Schema,
    strategy: str,
    merge_key: str,
    is_delete_list: bool,
    opts: MergeOptions,
) -> list[Any]:
    for value in (original, patch):
        if not isinstance(value, list):
            raise _err_bad_arg_type(_SLICE_T, value)
    # Delete lists are handled the same way whatever the field's strategy is.
    if strategy == MERGE or is_delete_list:
        return _merge_slice(original, patch, schema, merge_key, opts, is_delete_list)
    return patch


def _merge_slice(
    original: list[Any],
    patch: list[Any],
    schema: Schema,
    merge_key: str,
    opts: MergeOptions,
    is_delete_list: bool,
) -> list[Any]:
    """``mergeSlice``: merge two lists by merge key (maps) or as a set (scalars), then order them."""
    if not original and not patch:
        return original
    kind = _slice_element_kind(original, patch)
    if kind != "map":
        if opts.merge_parallel_list and is_delete_list:
            return _delete_from_slice(original, patch)
        merged = _deduplicate_scalars(original + patch)
    else:
        if not merge_key:
            raise StrategicMergeError(f"cannot merge lists without merge key for {schema.name()}")
        original, patch = _merge_slice_with_special_elements(original, patch, merge_key)
        merged = _merge_slice_without_special_elements(original, patch, merge_key, schema, opts)
    patch_items, server_only = _partition(merged, patch, merge_key)
    return _normalize_element_order(patch_items, server_only, patch, original, merge_key, kind)


def _merge_slice_with_special_elements(
    original: list[Any], patch: list[Any], merge_key: str
) -> tuple[list[Any], list[Any]]:
    plain: list[Any] = []
    replace = False
    for v in patch:
        if DIRECTIVE not in v:
            plain.append(v)
            continue
        directive = v[DIRECTIVE]
        if _eq(directive, DELETE):
            if merge_key not in v:
                raise _err_no_merge_key(v, merge_key)
            original = _delete_matching_entries(original, merge_key, v[merge_key])
        elif _eq(directive, REPLACE):
            replace = True  # keep scanning to prune the other $patch elements
        elif _eq(directive, MERGE):
            raise StrategicMergeError("merging lists cannot yet be specified in the patch")
        else:
            raise _err_bad_patch_type(directive, v)
    if replace:
        return plain, []
    return original, plain


def _delete_matching_entries(original: list[Any], merge_key: str, value: Any) -> list[Any]:
    while (found := _find_map_in_slice(original, merge_key, value)) is not None:
        original = original[: found[1]] + original[found[1] + 1 :]
    return original


def _merge_slice_without_special_elements(
    original: list[Any], patch: list[Any], merge_key: str, schema: Schema, opts: MergeOptions
) -> list[Any]:
    result = original
    for v in patch:
        if merge_key not in v:
            raise _err_no_merge_key(v, merge_key)
        found = _find_map_in_slice(result, merge_key, v[merge_key])
        if found is not None:
            result[found[1]] = merge_map(found[0], v, schema, opts)
        else:
            # Go's append leaves the caller's `original` (its server order) without the new item.
            result = [*result, v]
    return result


def _delete_from_slice(current: list[Any], to_delete: list[Any]) -> list[Any]:
    gone = {_hkey(v) for v in to_delete}
    return [v for v in current if _hkey(v) not in gone]


def _find_map_in_slice(items: list[Any], key: str, value: Any) -> tuple[dict[str, Any], int] | None:
    for i, v in enumerate(items):
        if not isinstance(v, dict):
            raise StrategicMergeError(f"value for key {i} is not a map")
        if key in v and _eq(v[key], value):
            return v, i
    return None


def _index(items: list[Any], value: Any, merge_key: str, kind: str) -> int:
    def get(item: Any) -> Any:
        if kind == "map":
            return item.get(merge_key) if isinstance(item, dict) else None
        return item

    wanted = get(value)
    return next((i for i, v in enumerate(items) if _eq(wanted, get(v))), -1)


def _extract_to_delete_items(items: list[Any]) -> tuple[list[Any], list[Any]]:
    keep: list[Any] = []
    delete: list[Any] = []
    for v in items:
        if not isinstance(v, dict):
            raise _err_bad_arg_type(_MAP_T, v)
        (delete if DIRECTIVE in v and _eq(v[DIRECTIVE], DELETE) else keep).append(v)
    return keep, delete


def _normalize_slice_order(to_sort: list[Any], order: list[Any], merge_key: str, kind: str) -> list[Any]:
    """``normalizeSliceOrder``: sort ``to_sort`` by ``order``; delete directives go last."""
    to_delete: list[Any] = []
    if kind == "map":
        for lst in (to_sort, order):
            for item in lst:
                if not isinstance(item, dict):
                    raise _err_bad_arg_type(_MAP_T, item)
                if merge_key not in item:
                    raise _err_no_merge_key(item, merge_key)
        to_sort, to_delete = _extract_to_delete_items(to_sort)
    to_sort = list(to_sort)

    def less(i: int, j: int) -> bool:
        # Not a strict weak order ("true" when either item is unknown): the result depends on
        # Go's stable-sort algorithm, hence _sort_stable_go.
        ii = _index(order, to_sort[i], merge_key, kind)
        if ii >= 0:
            ij = _index(order, to_sort[j], merge_key, kind)
            if ij >= 0:
                return ii < ij
        return True

    _sort_stable_go(to_sort, less)
    return to_sort + to_delete


def _normalize_element_order(
    patch: list[Any],
    server_only: list[Any],
    patch_order: list[Any],
    server_order: list[Any],
    merge_key: str,
    kind: str,
) -> list[Any]:
    patch = _normalize_slice_order(patch, patch_order, merge_key, kind)
    server_only = _normalize_slice_order(server_only, server_order, merge_key, kind)
    return _merge_sorted_slice(server_only, patch, server_order, merge_key, kind)


def _merge_sorted_slice(
    left: list[Any], right: list[Any], server_order: list[Any], merge_key: str, kind: str
) -> list[Any]:
    """``mergeSortedSlice``: interleave server-only items (left) into patch items (right)."""
    out: list[Any] = []
    i = j = 0
    while i < len(left) or j < len(right):
        if i >= len(left):
            out.append(right[j])
            j += 1
        elif j >= len(right):
            out.append(left[i])
            i += 1
        else:
            li = _index(server_order, left[i], merge_key, kind)
            ri = _index(server_order, right[j], merge_key, kind)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(left[i])
                i += 1
            else:
                out.append(right[j])
                j += 1
    return out


# ----------------------------------------------------------------------------------------------
# Computing a patch (diffMaps and friends) and kubectl's three-way patch
# ----------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class DiffOptions:
    """``DiffOptions``."""

    set_element_order: bool = False
    ignore_changes_and_additions: bool = False
    ignore_deletions: bool = False
    build_retain_keys_directive: bool = False


def create_three_way_merge_patch(
    original: dict[str, Any], modified: dict[str, Any], current: dict[str, Any], schema: Schema
) -> dict[str, Any]:
    """``CreateThreeWayMergePatch(..., overwrite=true)``: the strategic patch ``kubectl apply`` sends.

    Changes are current -> modified (without deletions); deletions are original -> modified.
    The deletions patch is then merged with the changes as two patches (parallel lists kept).
    """
    delta = diff_maps(current, modified, schema, DiffOptions(set_element_order=True, ignore_deletions=True))
    deletions = diff_maps(
        original, modified, schema, DiffOptions(set_element_order=True, ignore_changes_and_additions=True)
    )
    result: dict[str, Any] = merge_map(deletions, delta, schema, MergeOptions())
    return result


def diff_maps(
    original: dict[str, Any], modified: dict[str, Any], schema: Schema, opts: DiffOptions
) -> dict[str, Any]:
    """``diffMaps``: the strategic patch that turns ``original`` into ``modified``."""
    patch: dict[str, Any] = {}
    retain_keys: list[Any] = []
    for key, modified_v in modified.items():
        if opts.build_retain_keys_directive and modified_v is not None:
            retain_keys.append(key)
        if key not in original:
            if not opts.ignore_changes_and_additions:
                patch[key] = modified_v
            continue
        original_v = original[key]
        if key == DIRECTIVE:
            if not isinstance(original_v, str) or not isinstance(modified_v, str):
                raise StrategicMergeError(f"invalid value for special key: {DIRECTIVE}")
            if modified_v != original_v:
                patch[DIRECTIVE] = modified_v
            continue
        if not same_type(original_v, modified_v):
            if not opts.ignore_changes_and_additions:
                patch[key] = modified_v
        elif isinstance(original_v, dict):
            _handle_map_diff(key, original_v, modified_v, patch, schema, opts)
        elif isinstance(original_v, list):
            _handle_slice_diff(key, original_v, modified_v, patch, schema, opts)
        elif not opts.ignore_changes_and_additions and not _deep_equal(original_v, modified_v):
            patch[key] = modified_v
    if not opts.ignore_deletions:
        for key in original:
            if key not in modified:
                patch[key] = None
    has_additional = any(v is not None and k not in modified for k, v in original.items())
    if retain_keys and (patch or has_additional):
        patch[RETAIN_KEYS_DIRECTIVE] = _sort_scalars(retain_keys)
    return patch


def _handle_map_diff(
    key: str,
    original: dict[str, Any],
    modified: dict[str, Any],
    patch: dict[str, Any],
    schema: Schema,
    opts: DiffOptions,
) -> None:
    try:
        sub, meta = schema.lookup_struct(key)
    except StrategicMergeError:
        if _deep_equal(original, modified):  # unknown field, but no change: no patch needed
            return
        raise
    retain, strategy = _extract_retain_keys_patch_strategy(meta.strategies)
    opts = dataclasses.replace(opts, build_retain_keys_directive=retain)
    if strategy == REPLACE:
        if not opts.ignore_changes_and_additions:
            patch[key] = modified
        return
    value = diff_maps(original, modified, sub, opts)
    if value:
        patch[key] = value


def _handle_slice_diff(
    key: str,
    original: list[Any],
    modified: list[Any],
    patch: dict[str, Any],
    schema: Schema,
    opts: DiffOptions,
) -> None:
    try:
        sub, meta = schema.lookup_slice(key)
    except StrategicMergeError:
        if _deep_equal(original, modified):
            return
        raise
    retain, strategy = _extract_retain_keys_patch_strategy(meta.strategies)
    if strategy != MERGE:
        if not opts.ignore_changes_and_additions and not _deep_equal(original, modified):
            patch[key] = modified
        return
    opts = dataclasses.replace(opts, build_retain_keys_directive=retain)
    add, delete, order = _diff_lists(original, modified, sub, meta.merge_key, opts)
    if add:
        patch[key] = add
    if delete:
        patch[f"{DELETE_FROM_PRIMITIVE_LIST}/{key}"] = delete
    if order:
        patch[f"{SET_ELEMENT_ORDER}/{key}"] = order


def _diff_lists(
    original: list[Any], modified: list[Any], schema: Schema, merge_key: str, opts: DiffOptions
) -> tuple[list[Any], list[Any], list[Any]]:
    """``diffLists``: (patch list, parallel deletion list, ``$setElementOrder`` list)."""
    if not original:
        if not modified or opts.ignore_changes_and_additions:
            return [], [], []
        return modified, [], []
    kind = _slice_element_kind(original, modified)
    if kind == "map":
        add, delete = _diff_lists_of_maps(original, modified, schema, merge_key, opts)
        add = _normalize_slice_order(add, modified, merge_key, kind)
        order_same = _is_order_same(original, modified, merge_key)
        add += delete  # deletions ride in the patch list as "$patch: delete" items
        order: list[Any] = []
        if opts.set_element_order and (
            (not opts.ignore_changes_and_additions and (add or not order_same))
            or (not opts.ignore_deletions and add)
        ):
            order = [{merge_key: v.get(merge_key)} for v in modified]
        return add, [], order
    add, delete = _diff_lists_of_scalars(original, modified, opts)
    add = _normalize_slice_order(add, modified, merge_key, kind)
    # `original` has just been sorted in place (Go's sortScalars), so an unchanged but unsorted
    # list still differs from `modified` here -- and gets a $setElementOrder, as in Go.
    changed = not _deep_equal(original, modified)
    if opts.set_element_order and (
        (not opts.ignore_deletions and delete) or (not opts.ignore_changes_and_additions and changed)
    ):
        return add, delete, modified
    return add, delete, []


def _is_order_same(original: list[Any], modified: list[Any], merge_key: str) -> bool:
    if len(original) != len(modified):
        return False
    return all(_merge_key_value_equal(o, m, merge_key) for o, m in zip(original, modified, strict=True))


def _diff_lists_of_scalars(
    original: list[Any], modified: list[Any], opts: DiffOptions
) -> tuple[list[Any], list[Any]]:
    # Walk both lists sorted by %v text (original is sorted in place, like Go's sortScalars).
    original_sorted = _sort_scalars(original)
    modified_sorted = _sort_scalars(list(modified))
    add: list[Any] = []
    delete: list[Any] = []
    i = j = 0
    while i < len(original_sorted) or j < len(modified_sorted):
        o_in, m_in = i < len(original_sorted), j < len(modified_sorted)
        o_text = go_v(original_sorted[i]) if o_in else ""
        m_text = go_v(modified_sorted[j]) if m_in else ""
        if o_in and m_in and o_text == m_text:
            i, j = i + 1, j + 1
        elif not o_in or (m_in and o_text > m_text):
            if not opts.ignore_changes_and_additions:
                add.append(modified_sorted[j])
            j += 1
        else:
            if not opts.ignore_deletions:
                delete.append(original_sorted[i])
            i += 1
    return add, _deduplicate_scalars(delete)


def _diff_lists_of_maps(
    original: list[Any], modified: list[Any], schema: Schema, merge_key: str, opts: DiffOptions
) -> tuple[list[Any], list[Any]]:
    """``diffListsOfMaps``: walk both lists sorted by merge key; recurse into matching items."""
    originals = _sort_by_merge_key(original, merge_key)
    modifieds = _sort_by_merge_key(modified, merge_key)
    patch: list[Any] = []
    deletions: list[Any] = []
    i = j = 0
    while i < len(originals) or j < len(modifieds):
        o_in, m_in = i < len(originals), j < len(modifieds)
        o_item, o_key = _map_and_merge_key(originals[i], merge_key) if o_in else ({}, None)
        m_item, m_key = _map_and_merge_key(modifieds[j], merge_key) if m_in else ({}, None)
        o_text = go_v(o_key) if o_in else ""
        m_text = go_v(m_key) if m_in else ""
        if o_in and m_in and o_text == m_text:
            value = diff_maps(o_item, m_item, schema, opts)
            if value:
                value[merge_key] = m_key
                patch.append(value)
            i, j = i + 1, j + 1
        elif not o_in or (m_in and o_text > m_text):
            if not opts.ignore_changes_and_additions:
                patch.append(m_item)
            j += 1
        else:
            if not opts.ignore_deletions:
                deletions.append({merge_key: o_key, DIRECTIVE: DELETE})
            i += 1
    return patch, deletions


def _map_and_merge_key(item: Any, merge_key: str) -> tuple[dict[str, Any], Any]:
    if not isinstance(item, dict):
        raise _err_bad_arg_type(_MAP_T, item)
    if merge_key not in item:
        raise _err_no_merge_key(item, merge_key)
    return item, item[merge_key]


def _sort_by_merge_key(items: list[Any], merge_key: str) -> list[Any]:
    """``sortMergeListsByNameArray(s, schema, mergeKey, false)``."""
    if not items:
        return items
    if _slice_element_kind(items) != "map":
        return _sort_scalars(_deduplicate_scalars(list(items)))
    return _sort_go(list(items), functools.partial(_merge_key_text, merge_key))


def _merge_key_text(merge_key: str, item: dict[str, Any]) -> str:
    return go_v(item.get(merge_key))
