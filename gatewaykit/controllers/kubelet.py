"""The kubelet: the node object, each pod's status, and the events ``kubectl describe`` lists.

The node is the learner's machine (``hostIP`` 127.0.0.1); container states are the workloads'
(passed in), with kubelet's reasons (``ErrImagePull``, ``CrashLoopBackOff``...).

Rule: no I/O here (the clock and the workloads' states are passed in).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from gatewaykit._gofmt import format_list
from gatewaykit._translate import Pod
from gatewaykit.controllers._common import (
    KUBERNETES_VERSION,
    NODE_NAME,
    PROXY_IMAGE,
    ContainerState,
    NodeInfo,
    short_hash,
    timestamp,
)
from gatewaykit.store import Transaction

__all__ = ["node_object", "pod_events", "pod_status"]


def _container_status(
    c: Mapping[str, Any], state: ContainerState, started: str, pod_key: str
) -> dict[str, Any]:
    image = str(c.get("image", ""))
    out: dict[str, Any] = {
        "name": c["name"],
        "image": image,
        "imageID": "",
        "restartCount": 0,
        "ready": state.status == "Running",
        "started": state.status == "Running",
    }
    if state.status == "Running":
        out["containerID"] = "containerd://" + short_hash(f"{pod_key}/{c['name']}", 64)
        out["imageID"] = f"{image.split(':', 1)[0]}@sha256:{short_hash(image, 64)}"
        out["state"] = {"running": {"startedAt": started}}
    else:
        out["state"] = {"waiting": {"reason": state.status, "message": state.message}}
    return out


def pod_status(
    pod: Pod, spec: Mapping[str, Any], states: Mapping[str, ContainerState], started: str
) -> dict[str, Any]:
    """The kubelet's status of a pod: phase, conditions, container (and init container) statuses."""
    statuses = [
        _container_status(c, states.get(c["name"], ContainerState()), started, pod.key)
        for c in spec["containers"]
    ]
    ready = all(s["ready"] for s in statuses)

    def cond(kind: str, ok: bool) -> dict[str, Any]:
        return {
            "type": kind,
            "status": "True" if ok else "False",
            "lastProbeTime": None,
            "lastTransitionTime": started,
        }

    conditions = [
        cond("PodReadyToStartContainers", True),
        cond("Initialized", True),
        cond("Ready", ready),
        cond("ContainersReady", ready),
        cond("PodScheduled", True),
    ]
    for c in conditions[2:4]:
        if not ready:
            c["reason"] = "ContainersNotReady"
            waiting = [s["name"] for s in statuses if not s["ready"]]
            c["message"] = f"containers with unready status: {format_list(waiting)}"
    out: dict[str, Any] = {
        "phase": "Running" if ready else "Pending",
        "conditions": conditions,
        "hostIP": "127.0.0.1",
        "hostIPs": [{"ip": "127.0.0.1"}],
        "podIP": pod.ip,
        "podIPs": [{"ip": pod.ip}],
        "startTime": started,
        "containerStatuses": statuses,
        "qosClass": "Burstable" if pod.kind == "sidecar" else "BestEffort",
    }
    if pod.kind == "sidecar":
        out["initContainerStatuses"] = [
            {
                "name": "istio-init",
                "image": PROXY_IMAGE,
                "imageID": "",
                "ready": True,
                "restartCount": 0,
                "started": False,
                "containerID": "containerd://" + short_hash(pod.key + "/istio-init", 64),
                "state": {
                    "terminated": {
                        "exitCode": 0,
                        "reason": "Completed",
                        "startedAt": started,
                        "finishedAt": started,
                        "containerID": "containerd://" + short_hash(pod.key + "/istio-init", 64),
                    }
                },
            }
        ]
    return out


def node_object(now: float, node: NodeInfo) -> dict[str, Any]:
    """The one Node, ready, as the kubelet registers and reports it."""
    ready = {
        "type": "Ready",
        "status": "True",
        "reason": "KubeletReady",
        "message": "kubelet is posting ready status",
        "lastHeartbeatTime": timestamp(now // 3600 * 3600),
        "lastTransitionTime": timestamp(0),
    }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": NODE_NAME,
            "labels": {
                "beta.kubernetes.io/arch": node.architecture,
                "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": node.architecture,
                "kubernetes.io/hostname": NODE_NAME,
                "kubernetes.io/os": "linux",
                "node-role.kubernetes.io/control-plane": "",
            },
        },
        "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"]},
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": NODE_NAME},
            ],
            "conditions": [ready],
            "nodeInfo": {
                "architecture": node.architecture,
                "containerRuntimeVersion": "containerd://2.1.1",
                "kernelVersion": node.kernel_version,
                "kubeletVersion": KUBERNETES_VERSION,
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "osImage": node.os_image,
                "bootID": "",
                "machineID": "",
                "systemUUID": "",
            },
        },
    }


# What the scheduler and the kubelet report for a container that starts, and for one whose
# image cannot be pulled (pkg/kubelet/events/event.go reasons; kubectl describe shows them).
_STARTED_EVENTS = (
    ("Normal", "Pulled", 'Container image "{image}" already present on machine'),
    ("Normal", "Created", "Created container: {name}"),
    ("Normal", "Started", "Started container {name}"),
)


# waiting reason -> what the kubelet recorded (pkg/kubelet/images/image_manager.go,
# pkg/kubelet/kuberuntime/kuberuntime_container.go); other reasons: Failed + BackOff.
_FAILED_EVENTS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "ErrImagePull": (
        ("Normal", "Pulling", 'Pulling image "{image}"'),
        ("Warning", "Failed", 'Failed to pull image "{image}": {message}'),
        ("Warning", "Failed", "Error: ErrImagePull"),
    ),
    "InvalidImageName": (
        ("Warning", "InspectFailed", "{message}"),
        ("Warning", "Failed", "Error: InvalidImageName"),
    ),
}


_OTHER_FAILURE = (
    ("Warning", "Failed", "Error: {reason}"),
    ("Warning", "BackOff", "Back-off restarting failed container {name} in pod {pod}"),
)


def _event(
    pod: Mapping[str, Any], n: int, kind: str, reason: str, message: str, container: str, source: str
) -> dict[str, Any]:
    meta = pod["metadata"]
    when = meta.get("creationTimestamp")
    ref: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "name": meta["name"],
        "namespace": meta["namespace"],
        "uid": meta.get("uid", ""),
    }
    if container:
        ref["fieldPath"] = f"spec.containers{{{container}}}"
    return {
        "apiVersion": "v1",
        "kind": "Event",
        # The recorder names events <object>.<UnixNano in hex>: listed by name, they are in order.
        "metadata": {"name": f"{meta['name']}.{_epoch(when) * 10**9 + n:x}", "namespace": meta["namespace"]},
        "involvedObject": ref,
        "reason": reason,
        "message": message,
        "type": kind,
        "count": 1,
        "firstTimestamp": when,
        "lastTimestamp": when,
        "source": {"component": source, **({"host": NODE_NAME} if source == "kubelet" else {})},
        "reportingComponent": source,
        "reportingInstance": NODE_NAME if source == "kubelet" else "",
    }


def _epoch(stamp: Any) -> int:
    try:
        return int(
            datetime.datetime.strptime(str(stamp), "%Y-%m-%dT%H:%M:%SZ")
            .replace(tzinfo=datetime.UTC)
            .timestamp()
        )
    except ValueError:
        return 0


def pod_events(txn: Transaction) -> list[dict[str, Any]]:
    """The events ``kubectl describe pod`` lists: scheduling, then each container's start or its
    failure (``Failed to pull image ...``, ``Error: ErrImagePull``)."""
    out: list[dict[str, Any]] = []
    for entry in txn.list("Pod"):
        pod = entry.raw
        meta = pod["metadata"]
        n = 0
        out.append(
            _event(
                pod,
                n,
                "Normal",
                "Scheduled",
                f"Successfully assigned {meta['namespace']}/{meta['name']} to {NODE_NAME}",
                "",
                "default-scheduler",
            )
        )
        statuses = {s["name"]: s for s in (pod.get("status") or {}).get("containerStatuses") or []}
        for c in (pod.get("spec") or {}).get("containers") or []:
            waiting = statuses.get(c["name"], {}).get("state", {}).get("waiting")
            table = _FAILED_EVENTS.get(waiting["reason"], _OTHER_FAILURE) if waiting else _STARTED_EVENTS
            image, message = c.get("image", ""), str((waiting or {}).get("message", ""))
            if message.startswith(f'Failed to pull image "{image}": '):
                message = message.split(": ", 1)[1]  # the stand-in's message already says it
            for kind, reason, text in table:
                n += 1
                text = text.format(
                    image=image,
                    name=c["name"],
                    message=message,
                    pod=meta["name"],
                    reason=(waiting or {}).get("reason", ""),
                )
                out.append(_event(pod, n, kind, reason, text, c["name"], "kubelet"))
    return out
