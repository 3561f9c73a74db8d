"""The cluster's controllers, pure: the objects Kubernetes and Istio make from what clients apply.

On a real cluster ``kubectl get pods`` lists objects that the ReplicaSet controller created and
the kubelet keeps current; ``kubectl get endpoints`` lists what the endpoints controller derived
from Services and ready pods; a Deployment's ``status`` is the deployment controller's. In the
sandbox one reconcile computes all of them from the same translation the data plane serves
(:class:`gatewaykit._translate.XdsState`) and writes them into the store as ``system`` objects,
so ``kubectl get pods`` and ``sb.pods()`` read the same thing.

Shapes follow the real objects (``k8s.io/api`` types, Istio 1.27's sidecar injection template
``manifests/charts/istio-control/istio-discovery/files/injection-template.yaml``): pod names with
the ReplicaSet's ``pod-template-hash``, ``2/2`` containers for injected pods, ``hostIP``
127.0.0.1 (the node is the learner's machine), container states with kubelet's reasons.

One module per controller: :mod:`.replicaset` (pods from a Deployment's template),
:mod:`.deployment`, :mod:`.endpoints` (Endpoints and EndpointSlices), :mod:`.namespace`
(ServiceAccount and root certificates), :mod:`.kubelet` (node, pod status, events),
:mod:`.injection` (Istio's sidecar injector), :mod:`.crds`, :mod:`.gatewayapi` (istiod's Gateway
API controllers); this module composes them (:func:`cluster_objects`) and writes the result
(:func:`sync`).

Rule: no I/O here (the clock and the workloads' states are passed in).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gatewaykit._translate import Pod, XdsState
from gatewaykit.controllers._common import (
    ISTIO_VERSION,
    KUBERNETES_VERSION,
    NODE_NAME,
    PROXY_IMAGE,
    ContainerState,
    Desired,
    NodeInfo,
)
from gatewaykit.controllers.crds import custom_resource_definitions
from gatewaykit.controllers.deployment import deployment_objects
from gatewaykit.controllers.endpoints import endpoints_objects
from gatewaykit.controllers.gatewayapi import gateway_api_objects, gateway_api_statuses
from gatewaykit.controllers.injection import inject_pod_template
from gatewaykit.controllers.kubelet import node_object, pod_events
from gatewaykit.controllers.namespace import namespace_objects
from gatewaykit.resources.meta import ResourceKey, kind_info
from gatewaykit.store import Transaction, store_kind

__all__ = [
    "ISTIO_VERSION",
    "KUBERNETES_VERSION",
    "NODE_NAME",
    "PROXY_IMAGE",
    "ContainerState",
    "NodeInfo",
    "cluster_objects",
    "custom_resource_definitions",
    "gateway_api_objects",
    "gateway_api_statuses",
    "inject_pod_template",
    "pod_events",
    "sync",
    "systems_kinds",
]

_SYSTEM_KINDS = (
    "Pod",
    "ReplicaSet",
    "Endpoints",
    "EndpointSlice",
    "Node",
    "CustomResourceDefinition",
    "Event",
)


def cluster_objects(
    txn: Transaction,
    xds: XdsState,
    states: Mapping[str, Mapping[str, ContainerState]],
    *,
    now: float,
    node: NodeInfo | None = None,
    root_certificates: Mapping[str, Mapping[str, str]] | None = None,
) -> Desired:
    """Everything the controllers would make for the state in ``txn``.

    Args:
        txn: the transaction being reconciled (Deployments, Services, existing pods).
        xds: its translation (the pods the scheduler would place, the service registry).
        states: container states by pod key (``"default/httpbin-.../httpbin"`` style keys are
            grouped: ``{pod key: {container name: state}}``); missing means Running.
        now: the time to stamp on objects made now.
        node: facts about the node.
        root_certificates: the ConfigMaps every namespace gets, by name, with their data
            (``kube-root-ca.crt`` from kube-controller-manager's root-CA publisher, and Istio's
            ``istio-ca-root-cert``).
    """
    desired = Desired(
        objects=[node_object(now, node or NodeInfo()), *custom_resource_definitions()], statuses={}
    )
    by_deployment: dict[tuple[str, str], list[Pod]] = {}
    for pod in xds.pods:
        by_deployment.setdefault((pod.namespace, pod.deployment), []).append(pod)
    for entry in txn.list("Deployment"):
        pods = by_deployment.get((entry.key.namespace, entry.key.name), [])
        deployment_objects(txn, entry, pods, states, now, desired)
    for entry in txn.list("Service"):
        desired.objects.extend(endpoints_objects(entry, txn, xds, states))
    desired.namespaced = namespace_objects(txn, root_certificates or {})
    return desired


def sync(txn: Transaction, desired: Desired) -> None:
    """Write what the controllers want into ``txn``: create/update their objects, remove the
    ones no longer wanted, and set the status of the objects they report on."""
    wanted: set[ResourceKey] = set()
    for obj in desired.objects:
        info = kind_info(obj["apiVersion"], obj["kind"])
        assert info is not None
        ns = obj["metadata"].get("namespace", "") if info.namespaced else ""
        key = ResourceKey(store_kind(info), ns, obj["metadata"]["name"])
        wanted.add(key)
        _fill_owner_uids(txn, obj)
        txn.put_system(obj)
    for obj in desired.namespaced:
        meta = obj["metadata"]
        existing = txn.get(ResourceKey(obj["kind"], meta["namespace"], meta["name"]))
        if existing is None or (existing.system and existing.raw.get("data") != obj.get("data")):
            txn.put_system(obj)
    for event in pod_events(txn):
        wanted.add(ResourceKey("Event", event["metadata"]["namespace"], event["metadata"]["name"]))
        if txn.get(ResourceKey("Event", event["metadata"]["namespace"], event["metadata"]["name"])) is None:
            txn.put_system(event)  # an event is written once; the kubelet does not rewrite history
    for kind in _SYSTEM_KINDS:
        for entry in txn.list(kind):
            if entry.system and entry.key not in wanted:
                txn.remove_system(entry.key)
    for key, status in desired.statuses.items():
        txn.set_status(key, status)


def _fill_owner_uids(txn: Transaction, obj: dict[str, Any]) -> None:
    """Owner references (and an event's object) name objects created in this same pass: fill
    their uids now."""
    ns = obj["metadata"].get("namespace", "")
    involved = obj.get("involvedObject")
    for ref in [*(obj["metadata"].get("ownerReferences") or []), *([involved] if involved else [])]:
        if not ref.get("uid"):
            owner = txn.get(ResourceKey(ref["kind"], ns, ref["name"]))
            if owner is not None:
                ref["uid"] = owner.raw["metadata"]["uid"]


def systems_kinds() -> Iterable[str]:
    """The kinds :func:`sync` owns."""
    return _SYSTEM_KINDS
