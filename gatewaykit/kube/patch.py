"""Patches (TEMPORARY shim: JSON merge patch only; the full module replaces it)."""

from __future__ import annotations

import copy
import json
from typing import Any

__all__ = ["go_json", "last_applied_annotation", "merge_patch", "strategic_merge_patch", "three_way_patch",
           "json_patch"]


def go_json(obj: Any) -> str:
    """Go's ``json.Marshal``: sorted keys, compact, HTML characters escaped."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def last_applied_annotation(manifest: dict[str, Any]) -> str:
    """The value kubectl writes into ``kubectl.kubernetes.io/last-applied-configuration``."""
    obj = copy.deepcopy(manifest)
    meta = obj.setdefault("metadata", {})
    ann = meta.get("annotations") if isinstance(meta.get("annotations"), dict) else {}
    ann.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    meta["annotations"] = ann  # kubectl serialises an empty map, not nothing
    return go_json(obj) + "\n"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def strategic_merge_patch(original: Any, patch: Any, kind: str) -> Any:
    """Shim: treated as a merge patch."""
    return merge_patch(original, patch)


def json_patch(target: Any, ops: Any) -> Any:
    """Shim: not supported."""
    raise ValueError("json patch is not supported yet")


def _diff(a: Any, b: Any, deletions: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in a:
        if k not in b and deletions:
            out[k] = None
    for k, v in b.items():
        if k not in a:
            if not deletions:
                out[k] = v
        elif a[k] != v:
            if isinstance(a[k], dict) and isinstance(v, dict):
                sub = _diff(a[k], v, deletions)
                if sub:
                    out[k] = sub
            elif not deletions:
                out[k] = v
    return out


def three_way_patch(
    original: dict[str, Any] | None, modified: dict[str, Any], current: dict[str, Any], kind: str, *,
    builtin: bool,
) -> tuple[str, dict[str, Any]]:
    """Shim: ``CreateThreeWayJSONMergePatch`` for every kind."""
    deletions = _diff(original or {}, modified, True)
    delta = _diff(current, modified, False)
    return ("application/merge-patch+json", _union(deletions, delta))


def _union(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        out[k] = _union(out[k], v) if isinstance(out.get(k), dict) and isinstance(v, dict) else v
    return out
