"""The endpoints and EndpointSlice controllers: a Service's ``Endpoints`` and ``EndpointSlice``.

Rule: no I/O here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gatewaykit._translate import Pod, XdsState
from gatewaykit.controllers._common import NODE_NAME, ContainerState, owner_reference, short_hash, uid_of
from gatewaykit.store import StoredObject, Transaction

__all__ = ["endpoints_objects"]


def endpoints_objects(
    entry: StoredObject, txn: Transaction, xds: XdsState, states: Mapping[str, Mapping[str, ContainerState]]
) -> list[dict[str, Any]]:
    """``Endpoints`` and the ``EndpointSlice`` of one Service (the endpoint controllers)."""
    svc = entry.raw
    ns, name = entry.key.namespace, entry.key.name
    selector = svc.get("spec", {}).get("selector") or {}
    if not selector:
        return []
    pods = [
        p for p in xds.pods if p.namespace == ns and all(p.labels.get(k) == v for k, v in selector.items())
    ]
    ready = [p for p in pods if all(s.status == "Running" for s in states.get(p.key, {}).values())]
    not_ready = [p for p in pods if p not in ready]
    ports = []
    for sp in svc.get("spec", {}).get("ports") or []:
        target = sp.get("targetPort", sp.get("port"))
        if isinstance(target, str) and pods:
            target = pods[0].named_port(target) or target
        port = {"port": target, "protocol": sp.get("protocol", "TCP")}
        if sp.get("name"):
            port["name"] = sp["name"]
        if sp.get("appProtocol"):
            port["appProtocol"] = sp["appProtocol"]
        ports.append(port)

    def address(p: Pod) -> dict[str, Any]:
        ref = {"kind": "Pod", "name": p.name, "namespace": ns, "uid": uid_of(txn, "Pod", ns, p.name)}
        return {"ip": p.ip, "nodeName": NODE_NAME, "targetRef": ref}

    subset: dict[str, Any] = {}
    if ready:
        subset["addresses"] = [address(p) for p in ready]
    if not_ready:
        subset["notReadyAddresses"] = [address(p) for p in not_ready]
    labels = dict(svc["metadata"].get("labels") or {})
    endpoints = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "subsets": [dict(subset, ports=ports)] if subset else [],
    }
    slice_ = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{name}-{short_hash(ns + '/' + name, 5)}",
            "namespace": ns,
            "generateName": f"{name}-",
            "labels": {
                **labels,
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                "kubernetes.io/service-name": name,
            },
            "ownerReferences": [owner_reference("Service", "v1", svc, controller=True)],
        },
        "addressType": "IPv4",
        "endpoints": [
            {
                "addresses": [p.ip],
                "conditions": {"ready": p in ready, "serving": p in ready, "terminating": False},
                "nodeName": NODE_NAME,
                "targetRef": address(p)["targetRef"],
            }
            for p in pods
        ],
        "ports": [{"name": p.get("name", ""), "port": p["port"], "protocol": p["protocol"]} for p in ports],
    }
    return [endpoints, slice_]
