"""The config store: what the Kubernetes API server holds, with its REST and kubectl semantics.

Pure (no clock of its own, no I/O). One store per sandbox; everything that changes the cluster
goes through it in a :class:`Transaction` -- ``sb.apply`` (:func:`kubectl_apply`), requests to
the sandbox's API server, istioctl, and the controllers that make pods and status -- so the
Python API and ``kubectl`` can never disagree.
"""

from gatewaykit.store._kubectl import ApplyResult, kubectl_apply, kubectl_delete
from gatewaykit.store._objects import Snapshot, StoredObject, WatchEvent
from gatewaykit.store._ssa import server_side_apply
from gatewaykit.store._store import (
    APPLY_PATCH,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_PATCH,
    ConfigStore,
    Transaction,
    apply_patch,
    pod_limit_message,
    store_kind,
)

__all__ = [
    "APPLY_PATCH",
    "ApplyResult",
    "ConfigStore",
    "JSON_PATCH",
    "MERGE_PATCH",
    "STRATEGIC_PATCH",
    "Snapshot",
    "StoredObject",
    "Transaction",
    "WatchEvent",
    "apply_patch",
    "kubectl_apply",
    "kubectl_delete",
    "pod_limit_message",
    "server_side_apply",
    "store_kind",
]
