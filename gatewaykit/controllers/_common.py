"""What the sandbox's controllers share: versions, the node's name, container states, object stamps.

Rule: no I/O here.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gatewaykit.resources.meta import ResourceKey
from gatewaykit.store import Transaction

__all__ = [
    "ISTIO_VERSION",
    "KUBERNETES_VERSION",
    "NODE_NAME",
    "PROXY_IMAGE",
    "ContainerState",
    "Desired",
    "NodeInfo",
    "owner_reference",
    "short_hash",
    "started_at",
    "timestamp",
    "uid_of",
]


#: The Kubernetes version the sandbox's API server reports: the newest Istio 1.27 supports
#: (https://istio.io/latest/docs/releases/supported-releases/), kind v0.29's default node image.
KUBERNETES_VERSION = "v1.33.1"
#: The pinned Istio release the sandbox plays.
ISTIO_VERSION = "1.27.1"
#: The image the injector's containers run.
PROXY_IMAGE = f"docker.io/istio/proxyv2:{ISTIO_VERSION}"
#: The one node: the learner's machine.
NODE_NAME = "gatewaykit-control-plane"


@dataclass(frozen=True, slots=True)
class ContainerState:
    """What the kubelet reports for one container of a pod.

    ``status`` is ``Running`` or a waiting reason (``ErrImagePull``, ``CrashLoopBackOff``...).
    """

    status: str = "Running"
    message: str = ""


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """Facts about the machine the node object describes (read by the sandbox, passed in)."""

    kernel_version: str = ""
    os_image: str = "Debian GNU/Linux 12 (bookworm)"
    architecture: str = "amd64"


def timestamp(epoch: float) -> str:
    """A Kubernetes timestamp (RFC 3339, whole seconds, UTC): ``2025-01-01T00:00:00Z``."""
    return datetime.datetime.fromtimestamp(int(epoch), datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def short_hash(seed: str, n: int) -> str:
    """``n`` hex digits derived from ``seed``: stable names and ids for derived objects."""
    return hashlib.sha256(seed.encode()).hexdigest()[:n]


def owner_reference(
    kind: str, api_version: str, raw: Mapping[str, Any], controller: bool = True
) -> dict[str, Any]:
    """An ``ownerReferences`` entry naming ``raw`` (its uid may be filled in at sync)."""
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": raw["metadata"]["name"],
        "uid": raw["metadata"].get("uid", ""),
        "controller": controller,
        "blockOwnerDeletion": True,
    }


@dataclass(slots=True)
class Desired:
    """What the controllers want in the store: objects, statuses of clients' objects, and
    per-namespace objects."""

    objects: list[dict[str, Any]]
    statuses: dict[ResourceKey, dict[str, Any]]
    #: Objects made once per namespace and then left to clients (they may edit or delete them).
    namespaced: list[dict[str, Any]] = field(default_factory=list)


def started_at(txn: Transaction, kind: str, ns: str, name: str, now: float) -> str:
    """The ``creationTimestamp`` of the object if it exists, else ``now``'s."""
    existing = txn.get(ResourceKey(kind, ns, name))
    return existing.raw["metadata"].get("creationTimestamp") if existing else timestamp(now)


def uid_of(txn: Transaction, kind: str, ns: str, name: str) -> str:
    """The uid of the object, or ``""`` when it does not exist (yet)."""
    e = txn.get(ResourceKey(kind, ns, name))
    return e.raw["metadata"].get("uid", "") if e else ""
