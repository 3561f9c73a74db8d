"""The deployment controller: a Deployment's ReplicaSet, its pods, and the Deployment's status.

Rule: no I/O here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from gatewaykit._translate import Pod
from gatewaykit.controllers._common import ContainerState, Desired, short_hash, started_at
from gatewaykit.controllers.kubelet import pod_status
from gatewaykit.controllers.replicaset import pod_metadata, pod_spec, replica_set, template_hash
from gatewaykit.resources.meta import ResourceKey
from gatewaykit.store import StoredObject, Transaction

__all__ = ["deployment_objects"]


def deployment_objects(
    txn: Transaction,
    entry: StoredObject,
    pods: Sequence[Pod],
    states: Mapping[str, Mapping[str, ContainerState]],
    now: float,
    desired: Desired,
) -> None:
    """A Deployment's ReplicaSet and pods into ``desired.objects``, its status into
    ``desired.statuses`` (the deployment and ReplicaSet controllers, the kubelet's pod status)."""
    dep = entry.raw
    ns, name = entry.key.namespace, entry.key.name
    hash_ = (
        template_hash(pods[0].name, name)
        if pods
        else short_hash(json.dumps(dep["spec"].get("template"), sort_keys=True), 10)
    )
    rs_name = f"{name}-{hash_}"
    existing_rs = txn.get(ResourceKey("ReplicaSet", ns, rs_name))
    rs_uid = existing_rs.raw["metadata"]["uid"] if existing_rs else ""
    made: list[dict[str, Any]] = []
    for pod in pods:
        spec = pod_spec(pod, dep["spec"]["template"])
        started = started_at(txn, "Pod", ns, pod.name, now)
        status = pod_status(pod, spec, states.get(pod.key, {}), started)
        made.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": pod_metadata(pod, dep, rs_name, rs_uid),
                "spec": spec,
                "status": status,
            }
        )
    ready = sum(p["status"]["phase"] == "Running" for p in made)
    replicas = int(dep["spec"].get("replicas", 1))
    # The ReplicaSet first: its pods' owner references name its uid; events name their pods.
    desired.objects.append(replica_set(dep, rs_name, hash_, replicas, len(pods), ready))
    desired.objects.extend(made)
    desired.statuses[entry.key] = _deployment_status(
        dep, rs_name, replicas, len(pods), ready, started_at(txn, "Deployment", ns, name, now)
    )


def _deployment_status(
    dep: Mapping[str, Any], rs_name: str, replicas: int, have: int, ready: int, since: str
) -> dict[str, Any]:
    """The deployment controller's status (``syncDeploymentStatus``)."""
    available = ready >= replicas
    status: dict[str, Any] = {
        "observedGeneration": dep["metadata"].get("generation", 1),
        "replicas": have,
        "updatedReplicas": have,
    }
    if ready:
        status.update(readyReplicas=ready, availableReplicas=ready)
    if have - ready > 0:
        status["unavailableReplicas"] = have - ready
    status["conditions"] = [
        {
            "type": "Available",
            "status": "True" if available else "False",
            "reason": "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
            "message": "Deployment has minimum availability."
            if available
            else "Deployment does not have minimum availability.",
            "lastUpdateTime": since,
            "lastTransitionTime": since,
        },
        {
            "type": "Progressing",
            "status": "True",
            "reason": "NewReplicaSetAvailable" if available else "ReplicaSetUpdated",
            "message": f'ReplicaSet "{rs_name}" has successfully progressed.'
            if available
            else f'ReplicaSet "{rs_name}" is progressing.',
            "lastUpdateTime": since,
            "lastTransitionTime": since,
        },
    ]
    return status
