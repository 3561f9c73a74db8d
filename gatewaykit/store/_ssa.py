"""Server-side apply (``kubectl apply --server-side``), as far as the sandbox models it.

The API server merges the applied configuration into the live object and removes the fields the
same field manager applied before but no longer does; it records what each manager applied in
``metadata.managedFields`` (``FieldsV1``). This port keeps that contract for maps and treats lists
as atomic (a list is owned and replaced whole), which is what Istio's and the Gateway API's
resources mostly declare (``x-kubernetes-list-type: atomic``). Conflicts between managers are not
detected: the last applier wins, as with ``--force-conflicts``. See docs/apiserver.md.

Rule: no I/O here.
"""

from __future__ import annotations

import copy
import datetime
from typing import Any

from gatewaykit.resources.meta import KindInfo, ResourceKey, Source
from gatewaykit.store._objects import StoredObject
from gatewaykit.store._store import Transaction, store_kind

__all__ = ["server_side_apply"]

_SKIP_META = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields")


def _fields(value: Any) -> dict[str, Any]:
    """The FieldsV1 set of a configuration: ``{"f:spec": {"f:hosts": {}}}`` (lists atomic)."""
    if not isinstance(value, dict):
        return {}
    return {f"f:{k}": _fields(v) for k, v in value.items()}


def _remove(live: dict[str, Any], old: dict[str, Any], new: dict[str, Any]) -> None:
    """Delete from ``live`` what ``old`` owned and ``new`` no longer does."""
    for key, sub in old.items():
        name = key[2:]
        if key not in new:
            live.pop(name, None)
        elif sub and isinstance(live.get(name), dict):
            _remove(live[name], sub, new[key])


def _merge(live: dict[str, Any], applied: dict[str, Any]) -> None:
    for k, v in applied.items():
        if isinstance(v, dict) and isinstance(live.get(k), dict):
            _merge(live[k], v)
        else:
            live[k] = copy.deepcopy(v)


def server_side_apply(
    txn: Transaction,
    info: KindInfo,
    namespace: str,
    name: str,
    body: dict[str, Any],
    *,
    manager: str = "kubectl",
    dry_run: bool = False,
    now: float = 0.0,
) -> tuple[StoredObject, tuple[str, ...], bool]:
    """Apply ``body`` for ``manager``; returns the object, the warnings, and whether it was created."""
    config = copy.deepcopy(body)
    meta = config.setdefault("metadata", {})
    meta["name"] = name
    if info.namespaced:
        meta["namespace"] = namespace
    for k in _SKIP_META:
        meta.pop(k, None)
    owned = _fields({k: v for k, v in config.items() if k not in ("apiVersion", "kind")})
    entry_meta = {
        "manager": manager,
        "operation": "Apply",
        "apiVersion": config.get("apiVersion", ""),
        "time": datetime.datetime.fromtimestamp(int(now), datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "fieldsType": "FieldsV1",
        "fieldsV1": owned,
    }
    live = txn.get(ResourceKey(store_kind(info), namespace if info.namespaced else "", name))
    if live is None:
        meta["managedFields"] = [entry_meta]
        entry, warnings = txn.create(
            info, config, source=Source("STDIN"), namespace=namespace or None, dry_run=dry_run
        )
        return entry, warnings, True
    merged = copy.deepcopy(live.raw)
    managers = merged["metadata"].get("managedFields") or []
    previous = next(
        (m for m in managers if m.get("manager") == manager and m.get("operation") == "Apply"), None
    )
    if previous is not None:
        _remove(merged, previous.get("fieldsV1") or {}, owned)
        if previous.get("fieldsV1") == owned and previous.get("apiVersion") == entry_meta["apiVersion"]:
            # The same manager applying the same fields: a no-op apply changes nothing, not even the
            # entry's time (the API server skips no-op writes; nothing bumps the resourceVersion).
            entry_meta["time"] = previous.get("time", entry_meta["time"])
    _merge(merged, config)
    others = [m for m in managers if m is not previous]
    merged["metadata"]["managedFields"] = [*others, entry_meta]
    merged["metadata"].pop("resourceVersion", None)
    entry, warnings = txn.update(
        info, merged, source=Source("STDIN"), namespace=namespace or None, dry_run=dry_run
    )
    return entry, warnings, False
