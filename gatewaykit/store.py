"""The config store: what the Kubernetes API server holds, with ``kubectl apply``/``delete`` semantics.

Pure (no clock, no I/O). Each object gets a logical creation index, the stand-in for
``metadata.creationTimestamp``: Istio resolves conflicts between Gateways and VirtualServices by
creation time, then name, then namespace (§3, §10). The index survives ``configured`` and is new
after delete + re-create, exactly like a timestamp would be.

Differences from kubectl that are deliberate (docs/design.md §2): a multi-document apply is
validated as a whole first and any rejection changes nothing (kubectl would create the objects
before the bad one).
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gatewaykit.errors import ValidationError
from gatewaykit.resources.codecs import load
from gatewaykit.resources.meta import KindInfo, Manifest, ResourceKey, Source, kind_info
from gatewaykit.resources.render import render_rejection
from gatewaykit.resources.validation import Report, validate

__all__ = ["ApplyResult", "ConfigStore", "Snapshot", "StoredObject"]


def _asdict(value: Any) -> dict[str, Any]:
    """``value`` if it is a mapping, else an empty dict."""
    return value if isinstance(value, dict) else {}


def _asstr(value: Any) -> str:
    """``value`` if it is a string, else ""."""
    return value if isinstance(value, str) else ""


_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What kubectl printed for one ``apply`` or ``delete``.

    Attributes:
        lines: one line per object (``gateway.networking.istio.io/x created``,
            ``gateway.networking.istio.io "x" deleted``).
        warnings: admission warnings, bare (kubectl prints them as ``Warning: <text>``).
        errors: per-object errors kubectl prints without aborting the others -- only
            ``delete`` of a missing object (``Error from server (NotFound): ...``).
    """

    lines: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()

    def __str__(self) -> str:
        return "\n".join([f"Warning: {w}" for w in self.warnings] + list(self.lines) + list(self.errors))


@dataclass(frozen=True, slots=True)
class StoredObject:
    """One object as the API server stores it.

    Attributes:
        key: kind, namespace ("" if cluster-scoped) and name.
        raw: the stored object (namespace defaulted, Secret ``stringData`` folded into ``data``).
            Treat as read-only; :meth:`Snapshot.raw` hands out copies.
        source: where the object was last applied from.
        creation_index: logical creation time (0, 1, 2, ... in creation order).
        applied: the manifest as last applied (kubectl's last-applied-configuration).
    """

    key: ResourceKey
    raw: dict[str, Any]
    source: Source
    creation_index: int
    applied: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)


class Snapshot:
    """An immutable view of the store at one moment.

    Lookups return typed models from :mod:`gatewaykit.resources.models` (built lazily, cached);
    if that module cannot build one, the :class:`~gatewaykit.resources.meta.Manifest` is returned.
    """

    __slots__ = ("_entries", "_generation", "_models", "_by_kind")

    def __init__(
        self,
        entries: Mapping[ResourceKey, StoredObject],
        generation: int = 0,
        model_cache: dict[ResourceKey, tuple[StoredObject, Any]] | None = None,
    ) -> None:
        self._entries: dict[ResourceKey, StoredObject] = dict(entries)
        self._generation = generation
        # Shared with the store and later snapshots; keyed by entry identity so that a model is
        # built once per stored version (re-translation after one apply stays cheap).
        self._models: dict[ResourceKey, tuple[StoredObject, Any]] = {} if model_cache is None else model_cache
        self._by_kind: dict[str, tuple[StoredObject, ...]] | None = None

    @property
    def generation(self) -> int:
        """Increases with every change to the store (handy as a cache key)."""
        return self._generation

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def _index(self) -> dict[str, tuple[StoredObject, ...]]:
        if self._by_kind is None:
            by_kind: dict[str, list[StoredObject]] = {}
            for entry in sorted(self._entries.values(), key=lambda e: e.creation_index):
                by_kind.setdefault(entry.key.kind, []).append(entry)
            self._by_kind = {k: tuple(v) for k, v in by_kind.items()}
        return self._by_kind

    def _model(self, entry: StoredObject) -> Any:
        cached = self._models.get(entry.key)
        if cached is not None and cached[0] is entry:
            return cached[1]
        model: Any
        try:
            # Imported lazily: the models module is optional for the store to work.
            from gatewaykit.resources import models  # noqa: PLC0415

            model = models.from_dict(entry.raw, entry.source)
        except Exception:  # noqa: BLE001 - fall back to the raw manifest, never fail a lookup
            model = Manifest(entry.raw, entry.source)
        self._models[entry.key] = (entry, model)
        return model

    def get(self, kind: str, namespace: str, name: str) -> Any | None:
        """The typed object ``kind namespace/name`` or None (namespace "" for cluster-scoped)."""
        entry = self._entries.get(ResourceKey(kind, namespace, name))
        return None if entry is None else self._model(entry)

    def list(self, kind: str) -> tuple[Any, ...]:
        """All objects of ``kind``, in creation order."""
        return tuple(self._model(e) for e in self._index().get(kind, ()))

    def all(self) -> tuple[Any, ...]:
        """Every object, in creation order."""
        return tuple(self._model(e) for e in sorted(self._entries.values(), key=lambda e: e.creation_index))

    def keys(self) -> tuple[ResourceKey, ...]:
        """Every key, in creation order."""
        return tuple(e.key for e in sorted(self._entries.values(), key=lambda e: e.creation_index))

    def entry(self, key: ResourceKey) -> StoredObject | None:
        """The :class:`StoredObject` for ``key`` (raw dict, source, creation index) or None."""
        return self._entries.get(key)

    def creation_index(self, key: ResourceKey) -> int:
        """The logical creation time of ``key``; KeyError if absent."""
        return self._entries[key].creation_index

    def raw(self, key: ResourceKey) -> dict[str, Any]:
        """A copy of the stored dict of ``key``; KeyError if absent."""
        return copy.deepcopy(self._entries[key].raw)


def _namespace_of(info: KindInfo, raw: dict[str, Any]) -> str:
    if not info.namespaced:
        return ""
    meta = _asdict(raw.get("metadata"))
    ns = meta.get("namespace")
    return ns if isinstance(ns, str) and ns else "default"


def _normalize(info: KindInfo, raw: dict[str, Any], namespace: str) -> dict[str, Any]:
    """What the API server stores: namespace set, Secret stringData folded into data."""
    obj = copy.deepcopy(raw)
    meta = obj.setdefault("metadata", {})
    if info.namespaced:
        meta["namespace"] = namespace
    else:
        meta.pop("namespace", None)
    if info.kind == "Secret":
        # Kubernetes merges stringData into data (stringData wins) and never stores stringData.
        data = dict(obj.get("data") or {})
        for k, v in (obj.pop("stringData", None) or {}).items():
            data[k] = base64.b64encode(str(v).encode()).decode("ascii")
        if data:
            obj["data"] = data
        obj.setdefault("type", "Opaque")
    return obj


def _merge_patch(old: Any, new: Any) -> Any:
    """RFC 7386 merge patch from ``old`` to ``new`` (what kubectl sends for custom resources)."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    patch: dict[str, Any] = {}
    for k in old:
        if k not in new:
            patch[k] = None
    for k, v in new.items():
        if k not in old:
            patch[k] = v
        elif old[k] != v:
            patch[k] = _merge_patch(old[k], v)
    return patch


def _delete_name(info: KindInfo) -> str:
    """``gateway.networking.istio.io`` / ``service``: the prefix of kubectl's delete lines."""
    return info.kubectl_name


def _resource_name(info: KindInfo) -> str:
    """``gateways.networking.istio.io`` / ``services``: the name in NotFound errors."""
    return f"{info.plural}.{info.group}" if info.group else info.plural


class ConfigStore:
    """The cluster's configuration with ``kubectl apply``/``delete`` semantics.

    Starts empty; backends preload the default namespaces with :meth:`apply`.
    """

    def __init__(self) -> None:
        self._entries: dict[ResourceKey, StoredObject] = {}
        self._counter = 0
        self._generation = 0
        self._snapshot: Snapshot | None = None
        self._model_cache: dict[ResourceKey, tuple[StoredObject, Any]] = {}

    @staticmethod
    def _manifests(manifests: Any) -> list[Manifest]:
        if isinstance(manifests, Manifest):
            return [manifests]
        if isinstance(manifests, (list, tuple)) and all(isinstance(m, Manifest) for m in manifests):
            return list(manifests)
        return load(manifests)

    def apply(self, manifests: Sequence[Manifest] | Manifest | Any, *, dry_run: bool = False) -> ApplyResult:
        """Apply manifests like ``kubectl apply -f``, all-or-nothing.

        Args:
            manifests: parsed manifests, or anything :func:`gatewaykit.resources.codecs.load` reads.
            dry_run: validate and report (``created (server dry run)``) without changing anything.

        Returns:
            One line per object (``created``/``configured``/``unchanged``) and the warnings.

        Raises:
            ValidationError: any object is rejected (schema, webhook, missing namespace); the text
                is kubectl's, one rejection per line; the store is unchanged.
            ManifestError: the input could not be read (from ``load``).
        """
        items = self._manifests(manifests)
        working: dict[ResourceKey, StoredObject] = dict(self._entries)
        new_namespaces: set[str] = set()
        plan: list[tuple[str, StoredObject]] = []
        rejections: list[str] = []
        bare_errors: list[str] = []
        warnings: list[str] = []
        counter = self._counter
        for manifest in items:
            raw = manifest.raw
            info = kind_info(str(raw.get("apiVersion", "")), manifest.kind)
            if info is None:  # load() already rejects these; guard dict-built Manifests
                from gatewaykit.resources.codecs import _check_document  # noqa: PLC0415

                text = _check_document(raw, manifest.source) or f"error: unknown kind {manifest.kind!r}"
                rejections.append(text)
                bare_errors.append(text)
                continue
            namespace = _namespace_of(info, raw)
            key = ResourceKey(info.store_kind, namespace, manifest.name)
            existing = working.get(key)
            report: Report = validate(manifest)
            if not report.ok:
                verb = "creating" if existing is None else "patching"
                patch = None
                if existing is not None:
                    patch = _merge_patch(existing.applied, raw)
                    patch.setdefault("metadata", {}).setdefault("annotations", {})[_LAST_APPLIED] = (
                        json.dumps(raw, sort_keys=True, separators=(",", ":")) + "\n"
                    )
                rejections.append(
                    render_rejection(manifest, report, verb=verb, patch=patch, namespace=namespace)
                )
                bare_errors.extend(self._bare(manifest, report))
                continue
            if info.namespaced and not self._namespace_exists(namespace, working, new_namespaces):
                # The API server checks the namespace (NamespaceLifecycle admission) first.
                text = (
                    f'Error from server (NotFound): error when creating "{manifest.source.file}": '
                    f'namespaces "{namespace}" not found'
                )
                rejections.append(text)
                bare_errors.append(f'namespaces "{namespace}" not found')
                continue
            warnings.extend(report.warnings)
            applied = copy.deepcopy(raw)
            stored = _normalize(info, raw, namespace)
            prefix = f"{info.kubectl_name}/{manifest.name}"
            if existing is None:
                entry = StoredObject(key, stored, manifest.source, counter, applied)
                counter += 1
                outcome = "created"
            elif existing.applied == applied and existing.raw == stored:
                entry = existing
                outcome = "unchanged"
            else:
                entry = StoredObject(key, stored, manifest.source, existing.creation_index, applied)
                outcome = "configured"
            working[key] = entry
            if info.kind == "Namespace":
                new_namespaces.add(manifest.name)
            plan.append((f"{prefix} {outcome}", entry))
        if rejections:
            raise ValidationError("\n".join(rejections), errors=bare_errors, warnings=warnings)
        suffix = " (server dry run)" if dry_run else ""
        lines = tuple(line + suffix for line, _ in plan)
        if not dry_run and plan:
            changed = any(not line.endswith(" unchanged") for line, _ in plan)
            self._entries = working
            self._counter = counter
            if changed:
                self._generation += 1
                self._snapshot = None
        return ApplyResult(lines=lines, warnings=tuple(warnings))

    @staticmethod
    def _bare(manifest: Manifest, report: Report) -> list[str]:
        if report.unknown_fields:
            return [f'strict decoding error: unknown field "{f}"' for f in report.unknown_fields]
        if report.decode_error:
            return [report.decode_error]
        if report.schema_errors:
            return [str(e) for e in report.schema_errors]
        return list(report.errors)

    @staticmethod
    def _namespace_exists(ns: str, working: Mapping[ResourceKey, StoredObject], new: set[str]) -> bool:
        return ns in new or ResourceKey("Namespace", "", ns) in working

    def delete(self, manifests: Sequence[Manifest] | Manifest | Any) -> ApplyResult:
        """Delete objects like ``kubectl delete -f``.

        Objects that do not exist give kubectl's NotFound line in ``errors``; the others are
        deleted. Deleting a Namespace deletes everything in it.

        Returns:
            ``lines`` such as ``gateway.networking.istio.io "x" deleted`` and ``errors`` such as
            ``Error from server (NotFound): error when deleting "x.yaml":
            gateways.networking.istio.io "x" not found``.
        """
        items = self._manifests(manifests)
        lines: list[str] = []
        errors: list[str] = []
        changed = False
        for manifest in items:
            info = kind_info(str(manifest.raw.get("apiVersion", "")), manifest.kind)
            if info is None:
                continue
            namespace = _namespace_of(info, manifest.raw)
            key = ResourceKey(info.store_kind, namespace, manifest.name)
            if key not in self._entries:
                errors.append(
                    f'Error from server (NotFound): error when deleting "{manifest.source.file}": '
                    f'{_resource_name(info)} "{manifest.name}" not found'
                )
                continue
            del self._entries[key]
            if info.kind == "Namespace":
                for other in [k for k in self._entries if k.namespace == manifest.name]:
                    del self._entries[other]
            lines.append(f'{_delete_name(info)} "{manifest.name}" deleted')
            changed = True
        if changed:
            self._generation += 1
            self._snapshot = None
        return ApplyResult(lines=tuple(lines), errors=tuple(errors))

    def snapshot(self) -> Snapshot:
        """An immutable view of the current state (cached until the next change)."""
        if self._snapshot is None:
            self._snapshot = Snapshot(self._entries, self._generation, self._model_cache)
        return self._snapshot

    def keys(self) -> Iterable[ResourceKey]:
        """Every key currently stored."""
        return tuple(self._entries)
