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

Rule: no I/O here (the clock and the workloads' states are passed in).
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gatewaykit._translate import Pod, XdsState
from gatewaykit.resources.meta import ResourceKey, kind_info
from gatewaykit.store import StoredObject, Transaction, store_kind

__all__ = [
    "ISTIO_VERSION",
    "KUBERNETES_VERSION",
    "NODE_NAME",
    "ContainerState",
    "NodeInfo",
    "cluster_objects",
    "inject_pod_template",
    "sync",
]

#: The Kubernetes version the sandbox's API server reports: the newest Istio 1.27 supports
#: (https://istio.io/latest/docs/releases/supported-releases/), kind v0.29's default node image.
KUBERNETES_VERSION = "v1.33.1"
#: The pinned Istio release the sandbox plays.
ISTIO_VERSION = "1.27.1"
PROXY_IMAGE = f"docker.io/istio/proxyv2:{ISTIO_VERSION}"
#: The one node: the learner's machine.
NODE_NAME = "gatewaykit-control-plane"

_SYSTEM_KINDS = ("Pod", "ReplicaSet", "Endpoints", "EndpointSlice", "Node", "CustomResourceDefinition", "Event")


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


def _ts(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(int(epoch), datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hex(seed: str, n: int) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:n]


def _owner(kind: str, api_version: str, raw: Mapping[str, Any], controller: bool = True) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": raw["metadata"]["name"],
        "uid": raw["metadata"].get("uid", ""),
        "controller": controller,
        "blockOwnerDeletion": True,
    }


# ------------------------------------------------------------------------------------ pods


def _template_hash(pod_name: str, deployment: str) -> str:
    """The ``pod-template-hash`` the pod's name carries (``httpbin-5b4f8d9c7d-x2k4q``)."""
    rest = pod_name[len(deployment) + 1 :]
    return rest.rsplit("-", 1)[0]


def _sidecar_status() -> str:
    """The ``sidecar.istio.io/status`` annotation the injector writes (injection-template)."""
    return json.dumps(
        {
            "initContainers": ["istio-init"],
            "containers": ["istio-proxy"],
            "volumes": [
                "workload-socket",
                "credential-socket",
                "workload-certs",
                "istio-envoy",
                "istio-data",
                "istio-podinfo",
                "istio-token",
                "istiod-ca-cert",
            ],
            "imagePullSecrets": None,
            "revision": "default",
        },
        separators=(",", ":"),
    )


def _istio_proxy_container(pod: Pod | None) -> dict[str, Any]:
    """The injected ``istio-proxy`` container (abridged to what learners look at)."""
    return {
        "name": "istio-proxy",
        "image": PROXY_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "args": [
            "proxy",
            "sidecar",
            "--domain",
            "$(POD_NAMESPACE).svc.cluster.local",
            "--proxyLogLevel=warning",
            "--proxyComponentLogLevel=misc:error",
            "--log_output_level=default:info",
        ],
        "ports": [{"containerPort": 15090, "name": "http-envoy-prom", "protocol": "TCP"}],
        "readinessProbe": {
            "httpGet": {"path": "/healthz/ready", "port": 15021, "scheme": "HTTP"},
            "failureThreshold": 4,
            "periodSeconds": 15,
            "timeoutSeconds": 3,
            "successThreshold": 1,
        },
        "resources": {
            "limits": {"cpu": "2", "memory": "1Gi"},
            "requests": {"cpu": "100m", "memory": "128Mi"},
        },
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }


def _istio_init_container() -> dict[str, Any]:
    return {
        "name": "istio-init",
        "image": PROXY_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "args": [
            "istio-iptables",
            "-p",
            "15001",
            "-z",
            "15006",
            "-u",
            "1337",
            "-m",
            "REDIRECT",
            "-i",
            "*",
            "-x",
            "",
            "-b",
            "*",
            "-d",
            "15090,15021,15020",
            "--log_output_level=default:info",
        ],
        "resources": {
            "limits": {"cpu": "2", "memory": "1Gi"},
            "requests": {"cpu": "100m", "memory": "128Mi"},
        },
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }


def _pod_spec(pod: Pod, template: Mapping[str, Any]) -> dict[str, Any]:
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
    containers = list(spec.get("containers") or [])
    if pod.kind == "sidecar" and not any(c.get("name") == "istio-proxy" for c in containers):
        # (A pod injected by `istioctl kube-inject` already has both.)
        spec["initContainers"] = [*(spec.get("initContainers") or []), _istio_init_container()]
        containers.append(_istio_proxy_container(pod))
    elif pod.kind == "gateway":
        # The gateway injection template replaces `image: auto` with the proxy image.
        containers = [
            dict(c, image=PROXY_IMAGE) if c.get("name") == "istio-proxy" and c.get("image") == "auto" else c
            for c in containers
        ]
    spec["containers"] = containers
    return spec


def _inject_metadata(labels: dict[str, Any], annotations: dict[str, Any], app: str, workload: str) -> None:
    """The labels and annotations the sidecar injector adds (injection-template.yaml)."""
    labels.setdefault("security.istio.io/tlsMode", "istio")
    labels.setdefault("service.istio.io/canonical-name", labels.get("app", workload))
    labels.setdefault("service.istio.io/canonical-revision", labels.get("version", "latest"))
    annotations.update(
        {
            "istio.io/rev": "default",
            "kubectl.kubernetes.io/default-container": app,
            "kubectl.kubernetes.io/default-logs-container": app,
            "prometheus.io/path": "/stats/prometheus",
            "prometheus.io/port": "15020",
            "prometheus.io/scrape": "true",
            "sidecar.istio.io/status": _sidecar_status(),
        }
    )


def inject_pod_template(template: Mapping[str, Any], workload: str) -> dict[str, Any]:
    """A pod template with the sidecar injected, as ``istioctl kube-inject`` writes it: the same
    ``istio-init`` and ``istio-proxy`` containers, labels and annotations the sandbox's injector gives
    its pods (abridged to what learners look at). Already-injected templates are returned as they are."""
    out = copy.deepcopy(dict(template))
    meta = out.setdefault("metadata", {})
    annotations = dict(meta.get("annotations") or {})
    if "sidecar.istio.io/status" in annotations:
        return out
    labels = dict(meta.get("labels") or {})
    spec = out.setdefault("spec", {})
    containers = list(spec.get("containers") or [])
    _inject_metadata(labels, annotations, containers[0]["name"] if containers else "", workload)
    meta["labels"], meta["annotations"] = labels, annotations
    spec["initContainers"] = [*(spec.get("initContainers") or []), _istio_init_container()]
    spec["containers"] = [*containers, _istio_proxy_container(None)]
    return out


def _pod_metadata(pod: Pod, deployment: Mapping[str, Any], rs_name: str, rs_uid: str) -> dict[str, Any]:
    template_meta = (deployment["spec"].get("template") or {}).get("metadata") or {}
    labels = dict(template_meta.get("labels") or {})
    labels["pod-template-hash"] = _template_hash(pod.name, pod.deployment)
    annotations = dict(template_meta.get("annotations") or {})
    if pod.kind == "sidecar" and "sidecar.istio.io/status" not in annotations:
        app = next((c["name"] for c in deployment["spec"]["template"]["spec"].get("containers") or []), "")
        _inject_metadata(labels, annotations, app, pod.deployment)
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
        out["containerID"] = "containerd://" + _hex(f"{pod_key}/{c['name']}", 64)
        out["imageID"] = f"{image.split(':', 1)[0]}@sha256:{_hex(image, 64)}"
        out["state"] = {"running": {"startedAt": started}}
    else:
        out["state"] = {"waiting": {"reason": state.status, "message": state.message}}
    return out


def _pod_status(
    pod: Pod, spec: Mapping[str, Any], states: Mapping[str, ContainerState], started: str
) -> dict[str, Any]:
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
            c["message"] = f"containers with unready status: [{' '.join(waiting)}]"
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
                "containerID": "containerd://" + _hex(pod.key + "/istio-init", 64),
                "state": {
                    "terminated": {
                        "exitCode": 0,
                        "reason": "Completed",
                        "startedAt": started,
                        "finishedAt": started,
                        "containerID": "containerd://" + _hex(pod.key + "/istio-init", 64),
                    }
                },
            }
        ]
    return out


# --------------------------------------------------------------------------- the objects


@dataclass(slots=True)
class _Desired:
    objects: list[dict[str, Any]]
    statuses: dict[ResourceKey, dict[str, Any]]
    #: Objects made once per namespace and then left to clients (they may edit or delete them).
    namespaced: list[dict[str, Any]] = field(default_factory=list)


def cluster_objects(
    txn: Transaction,
    xds: XdsState,
    states: Mapping[str, Mapping[str, ContainerState]],
    *,
    now: float,
    node: NodeInfo | None = None,
    root_certificates: Mapping[str, Mapping[str, str]] | None = None,
) -> _Desired:
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
    desired = _Desired(objects=[_node(now, node or NodeInfo()), *custom_resource_definitions()], statuses={})
    by_deployment: dict[tuple[str, str], list[Pod]] = {}
    for pod in xds.pods:
        by_deployment.setdefault((pod.namespace, pod.deployment), []).append(pod)
    for entry in txn.list("Deployment"):
        pods = by_deployment.get((entry.key.namespace, entry.key.name), [])
        _deployment_objects(txn, entry, pods, states, now, desired)
    for entry in txn.list("Service"):
        desired.objects.extend(_endpoints(entry, txn, xds, states))
    desired.namespaced = _namespace_objects(txn, root_certificates or {})
    return desired


def _namespace_objects(txn: Transaction, configmaps: Mapping[str, Mapping[str, str]]) -> list[dict[str, Any]]:
    """What every namespace gets: the ``default`` ServiceAccount (the service account controller)
    and the root certificate ConfigMaps."""
    out: list[dict[str, Any]] = []
    for ns in txn.list("Namespace"):
        name = ns.key.name
        out.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": name}})
        for cm, data in configmaps.items():
            out.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": cm, "namespace": name},
                        "data": dict(data)})
    return out


def _started(txn: Transaction, kind: str, ns: str, name: str, now: float) -> str:
    existing = txn.get(ResourceKey(kind, ns, name))
    return existing.raw["metadata"].get("creationTimestamp") if existing else _ts(now)


def _deployment_objects(
    txn: Transaction,
    entry: StoredObject,
    pods: Sequence[Pod],
    states: Mapping[str, Mapping[str, ContainerState]],
    now: float,
    desired: _Desired,
) -> None:
    dep = entry.raw
    ns, name = entry.key.namespace, entry.key.name
    hash_ = (
        _template_hash(pods[0].name, name)
        if pods
        else _hex(json.dumps(dep["spec"].get("template"), sort_keys=True), 10)
    )
    rs_name = f"{name}-{hash_}"
    existing_rs = txn.get(ResourceKey("ReplicaSet", ns, rs_name))
    rs_uid = existing_rs.raw["metadata"]["uid"] if existing_rs else ""
    made = []
    for pod in pods:
        spec = _pod_spec(pod, dep["spec"]["template"])
        started = _started(txn, "Pod", ns, pod.name, now)
        status = _pod_status(pod, spec, states.get(pod.key, {}), started)
        made.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": _pod_metadata(pod, dep, rs_name, rs_uid),
                "spec": spec,
                "status": status,
            }
        )
    ready = sum(p["status"]["phase"] == "Running" for p in made)
    replicas = int(dep["spec"].get("replicas", 1))
    # The ReplicaSet first: its pods' owner references name its uid.
    desired.objects.append(_replica_set(dep, rs_name, hash_, replicas, len(pods), ready))
    desired.objects.extend(made)
    desired.statuses[entry.key] = _deployment_status(
        dep, rs_name, replicas, len(pods), ready, _started(txn, "Deployment", ns, name, now)
    )


def _replica_set(
    dep: Mapping[str, Any], rs_name: str, hash_: str, replicas: int, have: int, ready: int
) -> dict[str, Any]:
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
            "ownerReferences": [_owner("Deployment", "apps/v1", dep)],
        },
        "spec": {"replicas": replicas, "selector": selector, "template": template},
        "status": status,
    }


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


def _endpoints(
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
        ref = {"kind": "Pod", "name": p.name, "namespace": ns, "uid": _uid_of(txn, "Pod", ns, p.name)}
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
            "name": f"{name}-{_hex(ns + '/' + name, 5)}",
            "namespace": ns,
            "generateName": f"{name}-",
            "labels": {
                **labels,
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                "kubernetes.io/service-name": name,
            },
            "ownerReferences": [_owner("Service", "v1", svc, controller=True)],
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


def _uid_of(txn: Transaction, kind: str, ns: str, name: str) -> str:
    e = txn.get(ResourceKey(kind, ns, name))
    return e.raw["metadata"].get("uid", "") if e else ""


def _node(now: float, node: NodeInfo) -> dict[str, Any]:
    ready = {
        "type": "Ready",
        "status": "True",
        "reason": "KubeletReady",
        "message": "kubelet is posting ready status",
        "lastHeartbeatTime": _ts(now // 3600 * 3600),
        "lastTransitionTime": _ts(0),
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


# --------------------------------------------------------------------------------- CRDs


def custom_resource_definitions() -> list[dict[str, Any]]:
    """The CRDs installed in the cluster: Istio's networking kinds and the Gateway API's.

    Names, short names, categories, scope, versions and printer columns are the CRDs' own (Istio
    1.27.1 manifests/charts/base/files/crd-all.gen.yaml; the Gateway API release Istio 1.27
    supports); the schemas are left open (validation is the sandbox's admission, not a schema).
    """
    from gatewaykit.kube import discovery  # noqa: PLC0415
    from gatewaykit.kube.tables import PRINTER_COLUMNS  # noqa: PLC0415

    out = []
    for info in discovery.served():
        if info.builtin:
            continue
        names: dict[str, Any] = {
            "plural": info.plural,
            "singular": info.singular,
            "kind": info.kind,
            "listKind": f"{info.kind}List",
        }
        if info.short_names:
            names["shortNames"] = list(info.short_names)
        if info.categories:
            names["categories"] = list(info.categories)
        columns = [dict(c) for c in PRINTER_COLUMNS.get((info.group, info.kind), ())]
        versions = []
        for i, v in enumerate(info.versions):
            version: dict[str, Any] = {
                "name": v,
                "served": True,
                "storage": i == 0,
                "schema": {
                    "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                },
            }
            if "status" in info.subresources:
                version["subresources"] = {"status": {}}
            if columns:
                version["additionalPrinterColumns"] = columns
            versions.append(version)
        cond = {"lastTransitionTime": _ts(0), "status": "True"}
        out.append(
            {
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
                "metadata": {"name": f"{info.plural}.{info.group}"},
                "spec": {
                    "group": info.group,
                    "names": names,
                    "scope": "Namespaced" if info.namespaced else "Cluster",
                    "versions": versions,
                },
                "status": {
                    "acceptedNames": names,
                    "storedVersions": [info.versions[0]],
                    "conditions": [
                        {
                            **cond,
                            "type": "NamesAccepted",
                            "reason": "NoConflicts",
                            "message": "no conflicts found",
                        },
                        {
                            **cond,
                            "type": "Established",
                            "reason": "InitialNamesAccepted",
                            "message": "the initial names have been accepted",
                        },
                    ],
                },
            }
        )
    return out


# ------------------------------------------------------------------------ the Gateway API

_MANAGED = ("gateway.istio.io/managed", "istio.io-gateway-controller")


def gateway_api_objects(txn: Transaction) -> None:
    """istiod's Gateway API controllers that make objects, run before translation.

    The class controller keeps the ``istio``/``istio-remote`` GatewayClasses; the deployment
    controller applies a ServiceAccount, Deployment and Service ``<gateway>-istio`` for every
    Gateway of class ``istio`` (``pilot/pkg/config/kube/gateway/deploymentcontroller.go``), and
    removes the ones it manages that no Gateway wants any more.
    """
    from gatewaykit._translate.gatewayapi_deploy import deployment_objects, gatewayclass_objects  # noqa: PLC0415

    for obj in gatewayclass_objects():
        if txn.get(ResourceKey("GatewayClass", "", obj["metadata"]["name"])) is None:
            txn.put_system(obj)
    wanted: set[ResourceKey] = set()
    for obj in deployment_objects(txn.snapshot()):
        entry = txn.put_system(obj)
        wanted.add(entry.key)
    for kind in ("ServiceAccount", "Deployment", "Service"):
        for entry in txn.list(kind):
            labels = entry.raw["metadata"].get("labels") or {}
            if entry.system and labels.get(_MANAGED[0]) == _MANAGED[1] and entry.key not in wanted:
                txn.remove_system(entry.key)


def gateway_api_statuses(txn: Transaction, now: float) -> None:
    """istiod's status writes for GatewayClasses, Gateways and routes (``gatewayapi_status``)."""
    from gatewaykit._translate.gatewayapi_status import statuses  # noqa: PLC0415

    snap = txn.snapshot()
    if not any(snap.entries(k) for k in ("GatewayClass", "Gateway.gateway.networking.k8s.io", "HTTPRoute",
                                          "GRPCRoute", "TLSRoute", "TCPRoute")):
        return
    for key, status in statuses(snap, _ts(now)).items():
        txn.set_status(key, status)


# ---------------------------------------------------------------------------------- sync


def sync(txn: Transaction, desired: _Desired) -> None:
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


# ------------------------------------------------------------------------------- events

# What the scheduler and the kubelet report for a container that starts, and for one whose
# image cannot be pulled (pkg/kubelet/events/event.go reasons; kubectl describe shows them).
_STARTED_EVENTS = (
    ("Normal", "Pulled", 'Container image "{image}" already present on machine'),
    ("Normal", "Created", "Created container: {name}"),
    ("Normal", "Started", "Started container {name}"),
)
_FAILED_EVENTS = (
    ("Normal", "Pulling", 'Pulling image "{image}"'),
    ("Warning", "Failed", "{message}"),
    ("Warning", "Failed", "Error: {reason}"),
)


def _event(pod: Mapping[str, Any], n: int, kind: str, reason: str, message: str, container: str,
           source: str) -> dict[str, Any]:
    meta = pod["metadata"]
    when = meta.get("creationTimestamp")
    ref: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod", "name": meta["name"], "namespace": meta["namespace"],
                           "uid": meta.get("uid", "")}
    if container:
        ref["fieldPath"] = f"spec.containers{{{container}}}"
    return {
        "apiVersion": "v1", "kind": "Event",
        # The recorder names events <object>.<UnixNano in hex>: listed by name, they are in order.
        "metadata": {"name": f"{meta['name']}.{_epoch(when) * 10**9 + n:x}", "namespace": meta["namespace"]},
        "involvedObject": ref, "reason": reason, "message": message, "type": kind, "count": 1,
        "firstTimestamp": when, "lastTimestamp": when,
        "source": {"component": source, **({"host": NODE_NAME} if source == "kubelet" else {})},
        "reportingComponent": source, "reportingInstance": NODE_NAME if source == "kubelet" else "",
    }


def _epoch(timestamp: Any) -> int:
    try:
        return int(datetime.datetime.strptime(str(timestamp), "%Y-%m-%dT%H:%M:%SZ")
                   .replace(tzinfo=datetime.UTC).timestamp())
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
        out.append(_event(pod, n, "Normal", "Scheduled",
                          f"Successfully assigned {meta['namespace']}/{meta['name']} to {NODE_NAME}", "",
                          "default-scheduler"))
        statuses = {s["name"]: s for s in (pod.get("status") or {}).get("containerStatuses") or []}
        for c in (pod.get("spec") or {}).get("containers") or []:
            waiting = statuses.get(c["name"], {}).get("state", {}).get("waiting")
            table = _FAILED_EVENTS if waiting else _STARTED_EVENTS
            for kind, reason, text in table:
                n += 1
                message = text.format(image=c.get("image", ""), name=c["name"],
                                      message=(waiting or {}).get("message", ""),
                                      reason=(waiting or {}).get("reason", ""))
                out.append(_event(pod, n, kind, reason, message, c["name"], "kubelet"))
    return out


def _fill_owner_uids(txn: Transaction, obj: dict[str, Any]) -> None:
    """Owner references name objects created in this same pass: fill their uids now."""
    ns = obj["metadata"].get("namespace", "")
    for ref in obj["metadata"].get("ownerReferences") or []:
        if not ref.get("uid"):
            owner = txn.get(ResourceKey(ref["kind"], ns, ref["name"]))
            if owner is not None:
                ref["uid"] = owner.raw["metadata"]["uid"]


def systems_kinds() -> Iterable[str]:
    """The kinds :func:`sync` owns."""
    return _SYSTEM_KINDS
