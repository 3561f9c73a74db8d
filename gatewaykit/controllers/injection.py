"""Istio's sidecar injector: what the injection webhook adds to a pod (Istio 1.27.1).

The containers, volumes, labels and annotations of ``manifests/charts/istio-control/
istio-discovery/files/injection-template.yaml`` and ``gateway-injection-template.yaml`` with
the default values, as ``pkg/kube/inject/webhook.go`` applies them (abridged to what learners
look at); ``istioctl kube-inject`` writes the same (:func:`inject_pod_template`).

Rule: no I/O here.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from gatewaykit._translate import Pod
from gatewaykit._translate.mesh import (
    INJECTED_VOLUME_MOUNTS,
    INJECTED_VOLUMES,
    SIDECAR_STATUS,
    PodKind,
    injection_templates,
)
from gatewaykit.controllers._common import PROXY_IMAGE

__all__ = ["inject_pod_spec", "inject_pod_template", "injected_metadata"]


def _injection_status(pod: Pod) -> str:
    """The ``sidecar.istio.io/status`` annotation the injector writes (webhook.go
    getInjectionStatus: what the rendered template added -- the gateway template adds no init
    container)."""
    return json.dumps(
        {
            "initContainers": ["istio-init"] if pod.kind == "sidecar" else None,
            "containers": ["istio-proxy"],
            "volumes": [v["name"] for v in INJECTED_VOLUMES],
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
        "volumeMounts": copy.deepcopy(list(INJECTED_VOLUME_MOUNTS)),
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


def inject_pod_spec(spec: dict[str, Any], pod: Pod, annotations: Mapping[str, Any]) -> None:
    """What the injection templates add to a pod spec, in place."""
    _strip_injected(spec, annotations)
    # The template's istio-proxy merges with the pod's own (by name), and goes last
    # (webhook.go reorderPod); the template's volumes are added (a strategic merge: by name).
    containers = list(spec.get("containers") or [])
    own: dict[str, Any] = next((c for c in containers if c.get("name") == "istio-proxy"), {})
    template = _istio_proxy_container(pod) if pod.kind == "sidecar" else _gateway_proxy_container(pod)
    containers = [c for c in containers if c.get("name") != "istio-proxy"]
    containers.append(_merge_container(template, own))
    added = {v["name"] for v in INJECTED_VOLUMES}
    volumes = [v for v in spec.get("volumes") or [] if v.get("name") not in added]
    spec["volumes"] = [*volumes, *copy.deepcopy(INJECTED_VOLUMES)]
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
        name="",
        namespace=namespace,
        labels=labels,
        annotations=annotations,
        ip="",
        deployment=workload,
        containers=(),
        ports=(),
        kind=kind,
        injected=True,
    )
    spec = out.setdefault("spec", {})
    inject_pod_spec(spec, pod, annotations)
    injected_metadata(pod, {"spec": {"template": template}}, labels, annotations)
    meta["labels"], meta["annotations"] = labels, annotations
    return out


def injected_metadata(
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
