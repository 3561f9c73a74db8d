"""Stored objects, immutable snapshots and watch events: what the store hands out.

Rule: no I/O here.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from gatewaykit.resources.meta import Manifest, ResourceKey, Source, redacted

__all__ = ["Snapshot", "StoredObject", "WatchEvent"]


@dataclass(frozen=True, slots=True)
class StoredObject:
    """One object as the API server stores it.

    Attributes:
        key: store kind, namespace ("" if cluster-scoped) and name.
        raw: the stored object: defaulted, with ``metadata.uid``, ``resourceVersion``,
            ``creationTimestamp`` (and ``generation`` where Kubernetes keeps one), Secret
            ``stringData`` folded into ``data``. Treat as read-only; :meth:`Snapshot.raw` copies.
        source: where the object was last written from (a file name, or ``STDIN``).
        creation_index: logical creation time (0, 1, 2, ... in creation order). Istio breaks
            ties between Gateways/VirtualServices by creation time; this is exact where a
            timestamp with one-second resolution would not be.
        system: made by a controller (pods, endpoints, the Gateway API's deployments), not by a
            client; not recorded in the journal (controllers make it again).
    """

    key: ResourceKey
    raw: dict[str, Any]
    source: Source
    creation_index: int
    system: bool = False

    @property
    def resource_version(self) -> int:
        """``metadata.resourceVersion`` as a number."""
        return int(self.raw["metadata"].get("resourceVersion") or 0)

    def __repr__(self) -> str:
        # A stored Secret's data are credentials: never in a repr (resources.meta.redacted).
        return (
            f"StoredObject(key={self.key!r}, raw={redacted(self.raw)!r}, source={self.source!r}, "
            f"creation_index={self.creation_index!r}, system={self.system!r})"
        )


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One change, as a watch stream sends it (``{"type": "ADDED", "object": {...}}``).

    ``object`` is the object after the change (for ``DELETED``, the last state, with the
    resourceVersion of the deletion).
    """

    type: Literal["ADDED", "MODIFIED", "DELETED"]
    resource_version: int
    key: ResourceKey
    object: dict[str, Any]


class Snapshot:
    """An immutable view of the store at one moment.

    Lookups return typed models from :mod:`gatewaykit.resources.models` (built lazily, cached);
    if that module cannot build one, the :class:`~gatewaykit.resources.meta.Manifest` is returned.
    """

    __slots__ = ("_entries", "_generation", "_models", "_by_kind", "_resource_version")

    def __init__(
        self,
        entries: Mapping[ResourceKey, StoredObject],
        generation: int = 0,
        model_cache: dict[ResourceKey, tuple[StoredObject, Any]] | None = None,
        resource_version: int = 0,
    ) -> None:
        self._entries: dict[ResourceKey, StoredObject] = dict(entries)
        self._generation = generation
        self._resource_version = resource_version
        # Shared with the store and later snapshots; keyed by entry identity so that a model is
        # built once per stored version (re-translation after one apply stays cheap).
        self._models: dict[ResourceKey, tuple[StoredObject, Any]] = {} if model_cache is None else model_cache
        self._by_kind: dict[str, tuple[StoredObject, ...]] | None = None

    @property
    def generation(self) -> int:
        """Increases with every change clients make (handy as a cache key)."""
        return self._generation

    @property
    def resource_version(self) -> int:
        """The store's resourceVersion when the snapshot was taken (what a list returns)."""
        return self._resource_version

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

    def entries(self, kind: str) -> tuple[StoredObject, ...]:
        """The :class:`StoredObject` s of ``kind``, in creation order."""
        return self._index().get(kind, ())

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
