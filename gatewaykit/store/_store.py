"""The config store: what the Kubernetes API server holds, with its REST semantics.

Every change -- ``sb.apply``, a ``kubectl`` request to the sandbox's API server, ``istioctl``, a
widget, a controller writing pods or status -- is made in a :class:`Transaction` and becomes
visible at :meth:`ConfigStore.commit`, all at once. The sandbox reconciles the data plane from the
transaction's snapshot *before* it commits, so a change that cannot be served is never stored
(all-or-nothing across store, data plane and journal).

Semantics follow the API server's generic registry (``k8s.io/apiserver/pkg/registry/generic``):
``create`` refuses an existing name (AlreadyExists), ``update``/``patch`` refuse a missing one
(NotFound) and a stale ``resourceVersion`` (Conflict), an update that changes nothing does not
bump the resourceVersion, ``delete`` of a namespace removes what is in it, and deleting an owner
removes its dependents (garbage collection by ``ownerReferences``).

Pure: the clock and the uid source are passed in; a logical creation index orders objects
exactly (Istio breaks Gateway/VirtualService ties by creation time).
"""

from __future__ import annotations

import base64
import collections
import copy
import datetime
import hashlib
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from gatewaykit.kube import patch as kpatch
from gatewaykit.kube import status as st
from gatewaykit.kube.defaults import NodePortAllocator, NodePortError, ServiceContext, default_object
from gatewaykit.resources.gatewayapi_schema import apply_defaults
from gatewaykit.resources.meta import GATEWAY_API_GROUP, KindInfo, ResourceKey, Source, kind_info
from gatewaykit.resources.validation.decode import coerce_custom_metadata
from gatewaykit.store import _admission
from gatewaykit.store._objects import Snapshot, StoredObject, WatchEvent

__all__ = ["ConfigStore", "Transaction", "deployment_replicas", "pod_limit_message", "store_kind"]

#: How many changes a watch can resume from (older resourceVersions get 410 Gone, as etcd's
#: compaction makes the API server answer).
EVENT_HISTORY = 4096

_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_CLIENT = Source()
_CONTROLLER = Source("controller")

# Fields the API server owns: a client's update cannot change them.
_SERVER_META = ("uid", "creationTimestamp", "resourceVersion", "generation")


def store_kind(info: KindInfo) -> str:
    """The kind an object is keyed by in the store (group-qualified only where ambiguous)."""
    return info.store_kind


def _rfc3339(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(int(epoch), datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _tracks_generation(info: KindInfo) -> bool:
    """Kinds whose registry strategy keeps ``metadata.generation`` (workloads and CRs)."""
    return not info.builtin or info.kind in ("Deployment", "ReplicaSet", "CustomResourceDefinition")


def _spec_part(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def _meta_of(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj["metadata"]`` when it is a map, else an empty one (admission rejects the object)."""
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _fold_secret(obj: dict[str, Any]) -> None:
    """Kubernetes merges ``stringData`` into ``data`` (stringData wins) and never stores it."""
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = dict(obj.get("data") or {})
        for k, v in string_data.items():
            data[k] = base64.b64encode(str(v).encode()).decode("ascii")
        obj["data"] = data


class ConfigStore:
    """The cluster's objects, changed only through transactions.

    Args:
        clock: seconds since the epoch (``creationTimestamp``); default: always 0, so a store used
            by the pure core alone is deterministic.
        uid: a factory for ``metadata.uid``; default: stable uuids from a counter.
        node_ports: allocates Service node ports (the sandbox's allocator holds real 127.0.0.1
            ports); default: stable ports in 30000-32767.
        max_pods: refuse a client's Deployment that would make the Deployments' replicas add up
            to more pods than this (a sandbox's limit; a real API server has none); None: no limit.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] | None = None,
        uid: Callable[[], str] | None = None,
        node_ports: NodePortAllocator | None = None,
        max_pods: int | None = None,
    ) -> None:
        self._entries: dict[ResourceKey, StoredObject] = {}
        self._rv = 0
        self._counter = 0
        self._generation = 0
        self._snapshot: Snapshot | None = None
        self._model_cache: dict[ResourceKey, tuple[StoredObject, Any]] = {}
        self._events: collections.deque[WatchEvent] = collections.deque(maxlen=EVENT_HISTORY)
        self._listeners: list[Callable[[tuple[WatchEvent, ...]], None]] = []
        self.clock = clock or (lambda: 0.0)
        self._uid_seq = 0
        self._uid = uid
        self.node_ports = node_ports
        self.max_pods = max_pods

    # -- reading

    @property
    def resource_version(self) -> int:
        """The resourceVersion of the latest change."""
        return self._rv

    def snapshot(self) -> Snapshot:
        """An immutable view of the current state (cached until the next commit)."""
        if self._snapshot is None:
            self._snapshot = Snapshot(self._entries, self._generation, self._model_cache, self._rv)
        return self._snapshot

    def keys(self) -> Iterable[ResourceKey]:
        """Every key currently stored."""
        return tuple(self._entries)

    def events_since(self, resource_version: int) -> list[WatchEvent] | None:
        """Changes after ``resource_version``, or None when they are no longer kept (410 Gone)."""
        if resource_version >= self._rv:
            return []
        if self._events and self._events[0].resource_version > resource_version + 1:
            return None
        if not self._events:
            return None
        return [e for e in self._events if e.resource_version > resource_version]

    def add_listener(self, fn: Callable[[tuple[WatchEvent, ...]], None]) -> None:
        """Call ``fn(events)`` after every commit that changed something (watch streams)."""
        self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[tuple[WatchEvent, ...]], None]) -> None:
        """Stop calling ``fn``."""
        if fn in self._listeners:
            self._listeners.remove(fn)

    # -- writing

    def transaction(self) -> Transaction:
        """Start a change; nothing is visible until :meth:`commit`."""
        return Transaction(self)

    def commit(self, txn: Transaction) -> tuple[WatchEvent, ...]:
        """Make ``txn``'s changes visible at once and tell the watchers.

        Raises:
            ApiError: another transaction committed since ``txn`` started (Conflict).
        """
        if txn.base_resource_version != self._rv:
            raise st.api_error(st.conflict("objects", "", "", "the store changed during the transaction"))
        events = tuple(txn.events)
        if not events:
            return ()
        self._entries = txn.entries
        self._rv = txn.resource_version
        self._counter = txn.counter
        self._uid_seq = txn.uid_seq
        self._generation += 1
        self._snapshot = None
        self._events.extend(events)
        for key in [k for k in self._model_cache if k not in self._entries]:
            del self._model_cache[key]
        for fn in list(self._listeners):
            fn(events)
        return events

    def restore(
        self, entries: Iterable[StoredObject], resource_version: int, *, deleted: Iterable[ResourceKey] = ()
    ) -> None:
        """Load objects recorded earlier (a sandbox restarted on its work dir); no watch events."""
        for key in deleted:
            self._entries.pop(key, None)
        for e in entries:
            self._entries[e.key] = e
            self._counter = max(self._counter, e.creation_index + 1)
        self._rv = max(self._rv, resource_version)
        self._generation += 1
        self._snapshot = None

    # -- what the pure core and tests use: one transaction each

    def apply(self, manifests: Any, *, dry_run: bool = False) -> Any:
        """``kubectl apply -f`` in one transaction (see :func:`gatewaykit.store.kubectl_apply`)."""
        from gatewaykit.store._kubectl import kubectl_apply  # noqa: PLC0415 - the two modules are peers

        txn = self.transaction()
        result = kubectl_apply(txn, manifests, dry_run=dry_run)
        if not dry_run:
            self.commit(txn)
        return result

    def delete(self, manifests: Any) -> Any:
        """``kubectl delete -f`` in one transaction (see :func:`gatewaykit.store.kubectl_delete`)."""
        from gatewaykit.store._kubectl import kubectl_delete  # noqa: PLC0415

        txn = self.transaction()
        result = kubectl_delete(txn, manifests)
        self.commit(txn)
        return result


class Transaction:
    """A set of changes made on a private copy of the store, committed all at once."""

    def __init__(self, store: ConfigStore) -> None:
        self.store = store
        self.base_resource_version = store._rv
        self.entries: dict[ResourceKey, StoredObject] = dict(store._entries)
        self.resource_version = store._rv
        self.counter = store._counter
        self.uid_seq = store._uid_seq
        self.events: list[WatchEvent] = []
        self._snapshot: Snapshot | None = None

    # -- reading

    def get(self, key: ResourceKey) -> StoredObject | None:
        """The object at ``key`` as this transaction sees it."""
        return self.entries.get(key)

    def list(self, kind: str, namespace: str | None = None) -> list[StoredObject]:
        """Objects of a store kind (in ``namespace`` when given), in creation order."""
        found = [
            e
            for k, e in self.entries.items()
            if k.kind == kind and (namespace is None or k.namespace == namespace)
        ]
        return sorted(found, key=lambda e: e.creation_index)

    def snapshot(self) -> Snapshot:
        """An immutable view of the state this transaction would commit."""
        if self._snapshot is None:
            gen = self.store._generation + (1 if self.events else 0)
            self._snapshot = Snapshot(self.entries, gen, self.store._model_cache, self.resource_version)
        return self._snapshot

    @property
    def changed(self) -> bool:
        """Whether anything would change."""
        return bool(self.events)

    def user_changes(self) -> Iterator[tuple[ResourceKey, StoredObject | None]]:
        """The final state of every client-made object this transaction touched (for the journal)."""
        seen: dict[ResourceKey, StoredObject | None] = {}
        for e in self.events:
            entry = self.entries.get(e.key)
            if entry is None or not entry.system:
                seen[e.key] = entry
        yield from seen.items()

    # -- helpers

    def _next_rv(self) -> int:
        self.resource_version += 1
        return self.resource_version

    def _new_uid(self) -> str:
        if self.store._uid is not None:
            return self.store._uid()
        self.uid_seq += 1
        return str(uuid.UUID(bytes=hashlib.sha256(f"uid-{self.uid_seq}".encode()).digest()[:16], version=4))

    def _put(self, entry: StoredObject, event: str) -> StoredObject:
        self.entries[entry.key] = entry
        self.events.append(WatchEvent(event, entry.resource_version, entry.key, entry.raw))  # type: ignore[arg-type]
        self._snapshot = None
        return entry

    def namespace_exists(self, namespace: str) -> bool:
        """``NamespaceLifecycle`` admission: the namespace object is there."""
        return ResourceKey("Namespace", "", namespace) in self.entries

    @staticmethod
    def _resolve_namespace(info: KindInfo, obj: dict[str, Any], namespace: str | None) -> str:
        if not info.namespaced:
            return ""
        meta = _meta_of(obj)
        body_ns = meta.get("namespace") if isinstance(meta.get("namespace"), str) else ""
        if namespace and body_ns and body_ns != namespace:
            raise st.api_error(
                st.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            )
        return body_ns or namespace or "default"

    def _prepare(self, info: KindInfo, obj: dict[str, Any], namespace: str) -> dict[str, Any]:
        """What the API server stores: namespace set, secrets folded, defaults and allocations."""
        out = copy.deepcopy(obj)
        meta = out.setdefault("metadata", {})
        if info.namespaced:
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if info.kind == "Secret":
            _fold_secret(out)
        if info.group == GATEWAY_API_GROUP:
            # The Gateway API CRDs' schema defaults (and the default Pending status).
            out = apply_defaults(info.kind, out)
        ctx = None
        if info.kind == "Service":
            used = [
                str(e.raw.get("spec", {}).get("clusterIP"))
                for e in self.list("Service")
                if e.key != ResourceKey("Service", namespace, meta.get("name", ""))
            ]
            ctx = ServiceContext(used, self.store.node_ports)
        try:
            default_object(info.kind, out, ctx)
        except NodePortError as exc:
            # The Service REST storage's allocation error (pkg/registry/core/service/portallocator).
            cause = st.Cause(f"spec.ports[{exc.index}].nodePort", f"Invalid value: {exc.port}: {exc.why}")
            status = st.invalid(info.kind, info.group, meta.get("name", ""), [cause])
            raise _admission.rejection(status, [f"{cause.field}: {cause.message}"]) from exc
        return out

    def _admit(self, info: KindInfo, obj: dict[str, Any], namespace: str, source: Source) -> tuple[str, ...]:
        name = obj.get("metadata", {}).get("name", "")
        if info.system:
            raise st.api_error(
                st.forbidden(
                    info.plural,
                    info.group,
                    name,
                    "the gatewaykit sandbox makes these itself; it runs pods from Deployments "
                    "(put the pod's spec into a Deployment's spec.template)",
                )
            )
        _admission.check_size(obj)
        if info.namespaced and not self.namespace_exists(namespace):
            status = st.not_found("namespaces", "", namespace)
            raise _admission.rejection(status, [f'namespaces "{namespace}" not found'])
        warnings = _admission.check(info, obj, source)
        if info.kind == "Deployment" and self.store.max_pods is not None:
            self._check_pod_capacity(info, obj, namespace, self.store.max_pods)
        return warnings

    def pods_wanted(self, replace: tuple[ResourceKey, dict[str, Any]] | None = None) -> int:
        """How many pods the Deployments ask for (with ``replace``'s object in place of its key's)."""
        total = 0
        for entry in self.list("Deployment"):
            if replace is None or entry.key != replace[0]:
                total += deployment_replicas(entry.raw)
        return total + (deployment_replicas(replace[1]) if replace is not None else 0)

    def _check_pod_capacity(self, info: KindInfo, obj: dict[str, Any], namespace: str, limit: int) -> None:
        """The sandbox's pod limit, refused like an admission quota (``Forbidden``)."""
        name = obj.get("metadata", {}).get("name", "")
        wanted = self.pods_wanted((ResourceKey(store_kind(info), namespace, name), obj))
        if wanted > limit:
            why = pod_limit_message(limit, wanted)
            status = st.forbidden(info.plural, info.group, name, why)
            raise _admission.rejection(status, [status.message])

    # -- the REST verbs

    def create(
        self,
        info: KindInfo,
        obj: dict[str, Any],
        *,
        source: Source = _CLIENT,
        namespace: str | None = None,
        dry_run: bool = False,
        system: bool = False,
    ) -> tuple[StoredObject, tuple[str, ...]]:
        """``POST``: store a new object.

        Returns:
            The stored object and the admission warnings.

        Raises:
            ValidationError: rejected by admission (with ``status``); ApiError: AlreadyExists,
            BadRequest, Forbidden.
        """
        meta = _meta_of(obj)
        name = str(meta.get("name")) if isinstance(meta.get("name"), str) else ""
        if not name:
            cause = st.Cause(
                "metadata.name", "Required value: name or generateName is required", "FieldValueRequired"
            )
            raise st.api_error(st.invalid(info.kind, info.group, "", [cause]))
        ns = self._resolve_namespace(info, obj, namespace)
        key = ResourceKey(store_kind(info), ns, name)
        if key in self.entries:
            raise st.api_error(st.already_exists(info.plural, info.group, name))
        if not info.builtin and not system:
            obj = coerce_custom_metadata(obj)
        warnings = () if system else self._admit(info, obj, ns, source)
        stored = self._prepare(info, obj, ns)
        smeta = stored["metadata"]
        for field in _SERVER_META:
            smeta.pop(field, None)
        smeta["uid"] = self._new_uid()
        smeta["creationTimestamp"] = _rfc3339(self.store.clock())
        if _tracks_generation(info):
            smeta["generation"] = 1
        entry = StoredObject(key, stored, source, self.counter, system)
        if dry_run:
            return entry, warnings
        smeta["resourceVersion"] = str(self._next_rv())
        self.counter += 1
        return self._put(entry, "ADDED"), warnings

    def update(
        self,
        info: KindInfo,
        obj: dict[str, Any],
        *,
        source: Source = _CLIENT,
        namespace: str | None = None,
        dry_run: bool = False,
        system: bool = False,
        subresource: str = "",
    ) -> tuple[StoredObject, tuple[str, ...]]:
        """``PUT``: replace an object (or only its ``status`` with ``subresource="status"``)."""
        meta = _meta_of(obj)
        name = str(meta.get("name")) if isinstance(meta.get("name"), str) else ""
        ns = self._resolve_namespace(info, obj, namespace)
        key = ResourceKey(store_kind(info), ns, name)
        old = self.entries.get(key)
        if old is None:
            raise st.api_error(st.not_found(info.plural, info.group, name))
        want_rv = meta.get("resourceVersion")
        if want_rv not in (None, "") and str(want_rv) != old.raw["metadata"].get("resourceVersion"):
            raise st.api_error(
                st.conflict(
                    info.plural,
                    info.group,
                    name,
                    "the object has been modified; please apply your changes to the "
                    "latest version and try again",
                )
            )
        new = self._merge_subresource(info, old.raw, obj, subresource)
        if not info.builtin and not system:
            new = coerce_custom_metadata(new)
        warnings = () if (system or subresource == "status") else self._admit(info, new, ns, source)
        return self._replace(info, old, new, source, dry_run, system), warnings

    @staticmethod
    def _merge_subresource(
        info: KindInfo, old: dict[str, Any], obj: dict[str, Any], sub: str
    ) -> dict[str, Any]:
        """Status writes change only ``status``; spec writes keep the stored ``status``."""
        if sub == "status":
            new = copy.deepcopy(old)
            if "status" in obj:
                new["status"] = copy.deepcopy(obj["status"])
            else:
                new.pop("status", None)
            return new
        new = copy.deepcopy(obj)
        if "status" in info.subresources:
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        return new

    def _replace(
        self,
        info: KindInfo,
        old: StoredObject,
        new: dict[str, Any],
        source: Source,
        dry_run: bool,
        system: bool,
    ) -> StoredObject:
        ns = old.key.namespace
        if info.kind == "Service":
            _carry_allocations(new, old.raw)
        stored = self._prepare(info, new, ns)
        smeta, ometa = stored["metadata"], old.raw["metadata"]
        for field in _SERVER_META:
            smeta.pop(field, None)
            if field in ometa:
                smeta[field] = ometa[field]
        if "managedFields" not in smeta and "managedFields" in ometa:
            smeta["managedFields"] = ometa["managedFields"]  # an update without them keeps them
        if _tracks_generation(info) and _spec_part(stored) != _spec_part(old.raw):
            smeta["generation"] = int(ometa.get("generation") or 1) + 1
        if stored == old.raw:
            return old  # a no-op update does not bump the resourceVersion
        entry = StoredObject(old.key, stored, source, old.creation_index, old.system and system)
        if dry_run:
            return entry
        smeta["resourceVersion"] = str(self._next_rv())
        return self._put(entry, "MODIFIED")

    def patch(
        self,
        info: KindInfo,
        namespace: str,
        name: str,
        patch_type: str,
        body: Any,
        *,
        source: Source = _CLIENT,
        dry_run: bool = False,
        subresource: str = "",
    ) -> tuple[StoredObject, tuple[str, ...]]:
        """``PATCH`` with a JSON merge, JSON, or strategic merge patch."""
        key = ResourceKey(store_kind(info), namespace if info.namespaced else "", name)
        old = self.entries.get(key)
        if old is None:
            raise st.api_error(st.not_found(info.plural, info.group, name))
        patched = apply_patch(info, old.raw, patch_type, body)
        meta = patched.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise st.api_error(st.bad_request("metadata: must be an object"))
        meta["name"], meta["namespace"] = name, key.namespace
        if not info.namespaced:
            meta.pop("namespace")
        return self.update(
            info,
            patched,
            source=source,
            namespace=key.namespace or None,
            dry_run=dry_run,
            subresource=subresource,
        )

    def delete(
        self, info: KindInfo, namespace: str, name: str, *, dry_run: bool = False, system: bool = False
    ) -> StoredObject:
        """``DELETE``: remove an object, what it owns, and (for a namespace) what is in it."""
        key = ResourceKey(store_kind(info), namespace if info.namespaced else "", name)
        old = self.entries.get(key)
        if old is None:
            raise st.api_error(st.not_found(info.plural, info.group, name))
        if info.system and not system and info.kind not in ("Pod", "Event"):
            raise st.api_error(st.method_not_allowed(info.plural, info.group, "delete"))
        if dry_run:
            return old
        self._remove(old)
        if info.kind == "Namespace":
            for other in [e for k, e in self.entries.items() if k.namespace == name]:
                self._remove(other)
        self._collect_garbage()
        return old

    def _remove(self, entry: StoredObject) -> None:
        if entry.key not in self.entries:
            return
        del self.entries[entry.key]
        last = copy.deepcopy(entry.raw)
        rv = self._next_rv()
        last["metadata"]["resourceVersion"] = str(rv)
        self.events.append(WatchEvent("DELETED", rv, entry.key, last))
        self._snapshot = None

    def _collect_garbage(self) -> None:
        """Remove objects whose every owner is gone (background propagation)."""
        while True:
            uids = {e.raw["metadata"].get("uid") for e in self.entries.values()}
            orphans = [
                e
                for e in self.entries.values()
                if (refs := e.raw["metadata"].get("ownerReferences"))
                and not any(isinstance(r, dict) and r.get("uid") in uids for r in refs)
            ]
            if not orphans:
                return
            for e in orphans:
                self._remove(e)

    # -- controllers

    def put_system(self, obj: dict[str, Any], *, source: Source = _CONTROLLER) -> StoredObject:
        """Create or update an object a controller owns (no admission; unchanged is a no-op)."""
        info = kind_info(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
        if info is None:
            raise ValueError(f"unknown kind {obj.get('apiVersion')}/{obj.get('kind')}")
        ns = obj["metadata"].get("namespace", "default") if info.namespaced else ""
        old = self.entries.get(ResourceKey(store_kind(info), ns, obj["metadata"]["name"]))
        if old is None:
            return self.create(info, obj, source=source, namespace=ns or None, system=True)[0]
        return self._replace(info, old, copy.deepcopy(obj), old.source, False, True)

    def set_status(self, key: ResourceKey, status: dict[str, Any] | None) -> StoredObject | None:
        """Write an object's ``status`` as its controller (no-op when equal or the object is gone)."""
        old = self.entries.get(key)
        if old is None or old.raw.get("status") == status:
            return old
        new = copy.deepcopy(old.raw)
        if status is None:
            new.pop("status", None)
        else:
            new["status"] = copy.deepcopy(status)
        new["metadata"]["resourceVersion"] = str(self._next_rv())
        entry = StoredObject(old.key, new, old.source, old.creation_index, old.system)
        return self._put(entry, "MODIFIED")

    def remove_system(self, key: ResourceKey) -> None:
        """Remove a controller's object (a pod of a deleted Deployment)."""
        entry = self.entries.get(key)
        if entry is not None:
            self._remove(entry)
            self._collect_garbage()


def deployment_replicas(raw: dict[str, Any]) -> int:
    """The pods a Deployment asks for: ``spec.replicas``, 1 when unset."""
    spec = raw.get("spec")
    replicas = spec.get("replicas", 1) if isinstance(spec, dict) else 1
    if replicas is None:
        return 1
    return replicas if isinstance(replicas, int) and not isinstance(replicas, bool) and replicas > 0 else 0


def pod_limit_message(limit: int, wanted: int) -> str:
    """Why the sandbox refuses more pods (a sandbox limit, worded as an admission refusal)."""
    return (
        f"the gatewaykit sandbox runs at most {limit} pods (the pod capacity of its one node, "
        f"kubelet's default --max-pods); with this change its Deployments would ask for {wanted}. "
        "A real cluster accepts the Deployment and leaves the pods that do not fit Pending "
        "(FailedScheduling: Too many pods)"
    )


def _carry_allocations(new: dict[str, Any], old: dict[str, Any]) -> None:
    """``patchAllocatedValues``: an update keeps the Service's allocated cluster IP and node ports."""
    nspec, ospec = new.setdefault("spec", {}), old.get("spec", {})
    if not isinstance(nspec, dict):
        return
    if not nspec.get("clusterIP") and ospec.get("clusterIP"):
        nspec["clusterIP"] = ospec["clusterIP"]
        nspec.setdefault("clusterIPs", ospec.get("clusterIPs", [ospec["clusterIP"]]))
    if nspec.get("type", "ClusterIP") in ("NodePort", "LoadBalancer"):
        old_ports = {
            (p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
            for p in ospec.get("ports") or []
            if isinstance(p, dict)
        }
        for p in nspec.get("ports") or []:
            if isinstance(p, dict) and not p.get("nodePort"):
                carried = old_ports.get((p.get("port"), p.get("protocol", "TCP")))
                if carried:
                    p["nodePort"] = carried


#: Content types of PATCH requests (``k8s.io/apimachinery/pkg/types/patch.go``).
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


def apply_patch(info: KindInfo, current: dict[str, Any], patch_type: str, body: Any) -> dict[str, Any]:
    """The object after applying a patch of ``patch_type`` (raises ApiError for a bad patch, with
    the API server's Status: ``kube.patch`` words each failure as the server does)."""
    if patch_type == MERGE_PATCH:
        return kpatch.merge_patch(current, body)
    if patch_type == JSON_PATCH:
        return kpatch.json_patch(current, body)
    if patch_type == STRATEGIC_PATCH and info.builtin:
        return kpatch.strategic_merge_patch(current, body, info.kind)
    raise st.api_error(kpatch.unsupported_patch_type(builtin=info.builtin))
