"""What every namespace gets: the ``default`` ServiceAccount (the service account controller) and
the root certificate ConfigMaps (kube-controller-manager's root-CA publisher, istiod's).

Rule: no I/O here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gatewaykit.store import Transaction

__all__ = ["namespace_objects"]


def namespace_objects(txn: Transaction, configmaps: Mapping[str, Mapping[str, str]]) -> list[dict[str, Any]]:
    """What every namespace gets: the ``default`` ServiceAccount (the service account controller)
    and the root certificate ConfigMaps."""
    out: list[dict[str, Any]] = []
    for ns in txn.list("Namespace"):
        name = ns.key.name
        out.append(
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": name}}
        )
        for cm, data in configmaps.items():
            out.append(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": cm, "namespace": name},
                    "data": dict(data),
                }
            )
    return out
