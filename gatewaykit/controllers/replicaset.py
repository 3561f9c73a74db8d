"""The ReplicaSet controller: a Deployment's ReplicaSet and the pods it creates from the template.

Pod names carry the ReplicaSet's ``pod-template-hash`` (``httpbin-5b4f8d9c7d-x2k4q``); the pods
the sandbox derives (:class:`gatewaykit._translate.Pod`) are scheduled on the one node, and
injected ones get the injector's additions (:mod:`.injection`).

Rule: no I/O here.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from gatewaykit._translate import Pod
from gatewaykit.controllers._common import NODE_NAME, owner_reference
from gatewaykit.controllers.injection import inject_pod_spec, injected_metadata

__all__ = ["pod_metadata", "pod_spec", "replica_set", "template_hash"]


def template_hash(pod_name: str, deployment: str) -> str:
    """The ``pod-template-hash`` the pod's name carries (``httpbin-5b4f8d9c7d-x2k4q``)."""
    rest = pod_name[len(deployment) + 1 :]
    return rest.rsplit("-", 1)[0]


def pod_spec(pod: Pod, template: Mapping[str, Any]) -> dict[str, Any]:
    """The spec of a pod made from ``template``: scheduled on the node, API defaults, injected."""
    spec = copy.deepcopy(dict(template.get("spec") or {}))
    spec["nodeName"] = NODE_NAME
    spec.setdefault("serviceAccountName", pod.service_account)
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)
    spec.setdefault(
        "tolerations",
        [
            {
                "effect": "NoExecute",
                "key": "node.kubernetes.io/not-ready",
                "operator": "Exists",
                "tolerationSeconds": 300,
            },
            {
                "effect": "NoExecute",
                "key": "node.kubernetes.io/unreachable",
                "operator": "Exists",
                "tolerationSeconds": 300,
            },
        ],
    )
    if pod.injected:
        inject_pod_spec(spec, pod, (template.get("metadata") or {}).get("annotations") or {})
    return spec


def pod_metadata(pod: Pod, deployment: Mapping[str, Any], rs_name: str, rs_uid: str) -> dict[str, Any]:
    """A pod's metadata: the template's labels with ``pod-template-hash``, owned by its ReplicaSet."""
    template_meta = (deployment["spec"].get("template") or {}).get("metadata") or {}
    labels = dict(template_meta.get("labels") or {})
    labels["pod-template-hash"] = template_hash(pod.name, pod.deployment)
    annotations = dict(template_meta.get("annotations") or {})
    if pod.injected:
        injected_metadata(pod, deployment, labels, annotations)
    meta: dict[str, Any] = {
        "name": pod.name,
        "namespace": pod.namespace,
        "generateName": f"{rs_name}-",
        "labels": labels,
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": rs_name,
                "uid": rs_uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    if annotations:
        meta["annotations"] = annotations
    return meta


def replica_set(
    dep: Mapping[str, Any], rs_name: str, hash_: str, replicas: int, have: int, ready: int
) -> dict[str, Any]:
    """The Deployment's ReplicaSet ``<deployment>-<pod-template-hash>`` and its status."""
    template = copy.deepcopy(dep["spec"]["template"])
    template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = hash_
    selector = copy.deepcopy(dep["spec"].get("selector") or {})
    selector.setdefault("matchLabels", {})["pod-template-hash"] = hash_
    labels = dict((dep["spec"]["template"].get("metadata") or {}).get("labels") or {})
    labels["pod-template-hash"] = hash_
    status: dict[str, Any] = {"replicas": have, "fullyLabeledReplicas": have, "observedGeneration": 1}
    if ready:
        status.update(readyReplicas=ready, availableReplicas=ready)
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": rs_name,
            "namespace": dep["metadata"]["namespace"],
            "labels": labels,
            "annotations": {
                "deployment.kubernetes.io/desired-replicas": str(replicas),
                "deployment.kubernetes.io/max-replicas": str(replicas + max(1, -(-replicas // 4))),
                "deployment.kubernetes.io/revision": "1",
            },
            "ownerReferences": [owner_reference("Deployment", "apps/v1", dep)],
        },
        "spec": {"replicas": replicas, "selector": selector, "template": template},
        "status": status,
    }
