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
from gatewaykit._translate.mesh import SIDECAR_STATUS, PodKind, injection_templates
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

_SYSTEM_KINDS = (
    "Pod",
    "ReplicaSet",
    "Endpoints",
    "EndpointSlice",
    "Node",
    "CustomResourceDefinition",
    "Event",
)


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


# The volumes both injection templates add (injection-template.yaml, gateway-injection-template.yaml,
# with pilotCertProvider istiod), in the templates' order.
_INJECTED_VOLUMES: tuple[dict[str, Any], ...] = (
    {"name": "workload-socket", "emptyDir": {}},
    {"name": "credential-socket", "emptyDir": {}},
    {"name": "workload-certs", "emptyDir": {}},
    {"name": "istio-envoy", "emptyDir": {"medium": "Memory"}},
    {"name": "istio-data", "emptyDir": {}},
    {
        "name": "istio-podinfo",
        "downwardAPI": {
            "items": [
                {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                {"path": "annotations", "fieldRef": {"fieldPath": "metadata.annotations"}},
            ]
        },
    },
    {
        "name": "istio-token",
        "projected": {
            "sources": [
                {
                    "serviceAccountToken": {
                        "path": "istio-token", "expirationSeconds": 43200, "audience": "istio-ca"
                    }
                }
            ]
        },
    },
    {"name": "istiod-ca-cert", "configMap": {"name": "istio-ca-root-cert"}},
)


def _injection_status(pod: Pod) -> str:
    """The ``sidecar.istio.io/status`` annotation the injector writes (webhook.go
    getInjectionStatus: what the rendered template added -- the gateway template adds no init
    container)."""
    return json.dumps(
        {
            "initContainers": ["istio-init"] if pod.kind == "sidecar" else None,
            "containers": ["istio-proxy"],
            "volumes": [v["name"] for v in _INJECTED_VOLUMES],
            "imagePullSecrets": None,
            "revision": "default",
        },
        separators=(",", ":"),
    )


def _proxy_args(mode: str) -> list[str]:
    """``pilot-agent proxy sidecar|router`` as both injection templates start it (default values)."""
    return [
        "proxy",
        mode,
        "--domain",
        "$(POD_NAMESPACE).svc.cluster.local",
        "--proxyLogLevel=warning",
        "--proxyComponentLogLevel=misc:error",
        "--log_output_level=default:info",
    ]


def _readiness_probe() -> dict[str, Any]:
    """The proxy's readiness probe (readinessFailureThreshold 4, readinessPeriodSeconds 15)."""
    return {
        "httpGet": {"path": "/healthz/ready", "port": 15021, "scheme": "HTTP"},
        "failureThreshold": 4,
        "periodSeconds": 15,
        "timeoutSeconds": 3,
        "successThreshold": 1,
    }


def _gateway_proxy_container(pod: Pod) -> dict[str, Any]:
    """The ``istio-proxy`` container of gateway-injection-template.yaml (abridged to what learners
    look at): the proxy image, ``proxy router``, the readiness probe, the pod's identity inputs."""

    def field(path: str) -> dict[str, Any]:
        return {"valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": path}}}

    return {
        "name": "istio-proxy",
        "image": PROXY_IMAGE,
        "ports": [{"containerPort": 15090, "name": "http-envoy-prom", "protocol": "TCP"}],
        "args": _proxy_args("router"),
        "securityContext": {"runAsUser": 1337, "runAsGroup": 1337},
        "env": [
            {"name": "PILOT_CERT_PROVIDER", "value": "istiod"},
            {"name": "CA_ADDR", "value": "istiod.istio-system.svc:15012"},
            {"name": "POD_NAME", **field("metadata.name")},
            {"name": "POD_NAMESPACE", **field("metadata.namespace")},
            {"name": "INSTANCE_IP", **field("status.podIP")},
            {"name": "SERVICE_ACCOUNT", **field("spec.serviceAccountName")},
            {"name": "ISTIO_META_WORKLOAD_NAME", "value": pod.deployment},
            {
                "name": "ISTIO_META_OWNER",
                "value": f"kubernetes://apis/apps/v1/namespaces/{pod.namespace}/deployments/{pod.deployment}",
            },
        ],
        "imagePullPolicy": "IfNotPresent",
        "readinessProbe": _readiness_probe(),
        "volumeMounts": [
            {"name": "workload-socket", "mountPath": "/var/run/secrets/workload-spiffe-uds"},
            {"name": "credential-socket", "mountPath": "/var/run/secrets/credential-uds"},
            {"name": "workload-certs", "mountPath": "/var/run/secrets/workload-spiffe-credentials"},
            {"name": "istiod-ca-cert", "mountPath": "/var/run/secrets/istio"},
            {"name": "istio-data", "mountPath": "/var/lib/istio/data"},
            {"name": "istio-envoy", "mountPath": "/etc/istio/proxy"},
            {"name": "istio-token", "mountPath": "/var/run/secrets/tokens"},
            {"name": "istio-podinfo", "mountPath": "/etc/istio/pod"},
        ],
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }


# Strategic-merge keys of the Container lists (k8s.io/api core/v1 patchMergeKey).
_MERGE_KEYS = {"ports": "containerPort", "env": "name", "volumeMounts": "mountPath"}


def _merge_container(injected: Mapping[str, Any], own: Mapping[str, Any]) -> dict[str, Any]:
    """The injected ``istio-proxy`` with the pod's own ``istio-proxy`` fields applied on top
    (webhook.go reapplyOverwrittenContainers: the user's container overrides the template, except
    ``image: auto``, which is dropped so the proxy image stays)."""
    out = copy.deepcopy(dict(injected))
    for key, value in own.items():
        if key == "image" and value == "auto":
            continue
        merge_key = _MERGE_KEYS.get(key)
        if merge_key and isinstance(value, list):
            mine = {item.get(merge_key) for item in value if isinstance(item, Mapping)}
            kept = [item for item in out.get(key) or [] if item.get(merge_key) not in mine]
            out[key] = kept + copy.deepcopy(value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _istio_proxy_container(pod: Pod) -> dict[str, Any]:
    """The injected ``istio-proxy`` container (abridged to what learners look at)."""
    return {
        "name": "istio-proxy",
        "image": PROXY_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "args": _proxy_args("sidecar"),
        "ports": [{"containerPort": 15090, "name": "http-envoy-prom", "protocol": "TCP"}],
        "readinessProbe": _readiness_probe(),
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
    if pod.injected:
        _inject_spec(spec, pod, (template.get("metadata") or {}).get("annotations") or {})
    return spec


def _strip_injected(spec: dict[str, Any], annotations: Mapping[str, Any]) -> None:
    """A pod injected before (``istioctl kube-inject``) first loses the containers its
    ``sidecar.istio.io/status`` lists, so that injecting again does not add them twice
    (pkg/kube/inject/inject.go stripPod; an unreadable status strips nothing, as injectionStatus)."""
    try:
        status = json.loads(str(annotations.get(SIDECAR_STATUS) or "null"))
    except ValueError:
        return
    if not isinstance(status, dict):
        return
    for key in ("containers", "initContainers"):
        listed = set(status.get(key) or ())
        kept = [c for c in spec.get(key) or [] if c.get("name") not in listed]
        if kept or key == "containers":
            spec[key] = kept
        else:
            spec.pop(key, None)


def _inject_spec(spec: dict[str, Any], pod: Pod, annotations: Mapping[str, Any]) -> None:
    """What the injection templates add to a pod spec, in place."""
    _strip_injected(spec, annotations)
    # The template's istio-proxy merges with the pod's own (by name), and goes last
    # (webhook.go reorderPod); the template's volumes are added (a strategic merge: by name).
    containers = list(spec.get("containers") or [])
    own: dict[str, Any] = next((c for c in containers if c.get("name") == "istio-proxy"), {})
    template = _istio_proxy_container(pod) if pod.kind == "sidecar" else _gateway_proxy_container(pod)
    containers = [c for c in containers if c.get("name") != "istio-proxy"]
    containers.append(_merge_container(template, own))
    added = {v["name"] for v in _INJECTED_VOLUMES}
    volumes = [v for v in spec.get("volumes") or [] if v.get("name") not in added]
    spec["volumes"] = [*volumes, *copy.deepcopy(_INJECTED_VOLUMES)]
    if pod.kind == "sidecar":
        spec["initContainers"] = [*(spec.get("initContainers") or []), _istio_init_container()]
    else:
        # The gateway template lets the proxy bind ports below 1024 (80, 443).
        spec.setdefault(
            "securityContext",
            {"sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]},
        )
    spec["containers"] = containers


def inject_pod_template(template: Mapping[str, Any], workload: str, namespace: str = "") -> dict[str, Any]:
    """A pod template with Istio's injection applied, as ``istioctl kube-inject`` writes it: the
    containers, volumes, labels and annotations the sandbox's injector gives its pods (abridged to
    what learners look at). The ``gateway`` template (``inject.istio.io/templates``) is honoured;
    an already injected template is injected afresh (stripPod), not twice.

    Args:
        template: the pod template (``metadata`` and ``spec``) or a Pod's.
        workload: the Deployment (or Pod) name, for the proxy's workload name and canonical name.
        namespace: the object's namespace (the gateway proxy's owner reference).
    """
    out = copy.deepcopy(dict(template))
    meta = out.setdefault("metadata", {})
    labels = dict(meta.get("labels") or {})
    annotations = dict(meta.get("annotations") or {})
    kind: PodKind = "gateway" if "gateway" in injection_templates(annotations) else "sidecar"
    pod = Pod(
        name="", namespace=namespace, labels=labels, annotations=annotations, ip="",
        deployment=workload, containers=(), ports=(), kind=kind, injected=True,
    )
    spec = out.setdefault("spec", {})
    _inject_spec(spec, pod, annotations)
    _injected_metadata(pod, {"spec": {"template": template}}, labels, annotations)
    meta["labels"], meta["annotations"] = labels, annotations
    return out


def _injected_metadata(
    pod: Pod, deployment: Mapping[str, Any], labels: dict[str, Any], annotations: dict[str, Any]
) -> None:
    """Labels and annotations the injection templates and webhook.go postProcessPod add."""
    if pod.kind == "sidecar":
        labels.setdefault("security.istio.io/tlsMode", "istio")
    name = labels.get("app.kubernetes.io/name") or labels.get("app") or pod.deployment
    labels.setdefault("service.istio.io/canonical-name", name)
    version = labels.get("app.kubernetes.io/version") or labels.get("version") or "latest"
    labels.setdefault("service.istio.io/canonical-revision", version)
    own = [c["name"] for c in deployment["spec"]["template"]["spec"].get("containers") or []]
    apps = [c for c in own if c != "istio-proxy"]
    added = {"istio.io/rev": "default"}
    if apps:
        added["kubectl.kubernetes.io/default-container"] = apps[0]
        added["kubectl.kubernetes.io/default-logs-container"] = apps[0]
    if annotations.get("prometheus.io/scrape") != "false":  # applyPrometheusMerge
        added["prometheus.io/path"] = "/stats/prometheus"
        added["prometheus.io/port"] = "15020"
        added["prometheus.io/scrape"] = "true"
    added[SIDECAR_STATUS] = _injection_status(pod)
    for key, value in added.items():
        if key.startswith("kubectl.kubernetes.io/"):
            annotations.setdefault(key, value)  # the templates keep the user's choice
        else:
            annotations[key] = value


def _pod_metadata(pod: Pod, deployment: Mapping[str, Any], rs_name: str, rs_uid: str) -> dict[str, Any]:
    template_meta = (deployment["spec"].get("template") or {}).get("metadata") or {}
    labels = dict(template_meta.get("labels") or {})
    labels["pod-template-hash"] = _template_hash(pod.name, pod.deployment)
    annotations = dict(template_meta.get("annotations") or {})
    if pod.injected:
        _injected_metadata(pod, deployment, labels, annotations)
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
    made: list[dict[str, Any]] = []
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
    # The ReplicaSet first: its pods' owner references name its uid; events name their pods.
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
                "metadata": {"name": f"{info.plural}.{info.group}", **_crd_metadata(info.group, info.kind)},
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


#: Labels and annotations the CRDs carry as installed: Istio's chart
#: (manifests/charts/base/files/crd-all.gen.yaml at 1.27.1) and the Gateway API v1.3.0 bundle
#: (config/crd/{standard,experimental}/*.yaml: bundle version and release channel).
_CRD_METADATA: dict[str, dict[str, Any]] = {
    "istio.io": {
        "annotations": {"helm.sh/resource-policy": "keep"},
        "labels": {"app": "istio-pilot", "chart": "istio", "heritage": "Tiller", "release": "istio"},
    },
    "gateway.networking.k8s.io": {
        "annotations": {"gateway.networking.k8s.io/bundle-version": "v1.3.0"},
    },
}
#: The Gateway API kinds of the experimental channel (TLSRoute, TCPRoute); the rest are standard.
_EXPERIMENTAL_KINDS = frozenset({"TLSRoute", "TCPRoute"})


def _crd_metadata(group: str, kind: str) -> dict[str, Any]:
    """The labels/annotations of a CRD of ``group`` (a copy; deep enough to be stored)."""
    for suffix, meta in _CRD_METADATA.items():
        if group == suffix or group.endswith("." + suffix):
            out = {k: dict(v) for k, v in meta.items()}
            if suffix == "gateway.networking.k8s.io":
                channel = "experimental" if kind in _EXPERIMENTAL_KINDS else "standard"
                out["annotations"]["gateway.networking.k8s.io/channel"] = channel
            return out
    return {}


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
    if not any(
        snap.entries(k)
        for k in (
            "GatewayClass",
            "Gateway.gateway.networking.k8s.io",
            "HTTPRoute",
            "GRPCRoute",
            "TLSRoute",
            "TCPRoute",
        )
    ):
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


def _epoch(timestamp: Any) -> int:
    try:
        return int(
            datetime.datetime.strptime(str(timestamp), "%Y-%m-%dT%H:%M:%SZ")
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
                text = text.format(image=image, name=c["name"], message=message, pod=meta["name"],
                                   reason=(waiting or {}).get("reason", ""))
                out.append(_event(pod, n, kind, reason, text, c["name"], "kubelet"))
    return out


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
