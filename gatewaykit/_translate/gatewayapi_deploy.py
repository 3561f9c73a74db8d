"""istiod's gateway deployment controller as a pure function: the objects it owns per Gateway.

Rule: no I/O here. A port of Istio 1.27 ``pilot/pkg/config/kube/gateway/deploymentcontroller.go``
(``configureIstioGateway``, ``extractServicePorts``, ``extractInfrastructure*``, ``IsManaged``,
``apply``) rendering ``manifests/charts/istio-control/istio-discovery/files/kube-gateway.yaml`` with
the default install's values. For every Gateway of a class with a deployment template (``istio``)
that istiod manages (no ``spec.addresses``, or one IP address), it creates:

* a ``ServiceAccount``, a ``Deployment`` and a ``Service`` named ``<gateway>-<class>``
  (``gateway.istio.io/name-override`` / ``gateway.istio.io/service-account`` change the names),
  labelled ``gateway.networking.k8s.io/gateway-name: <gateway>`` and
  ``gateway.istio.io/managed: istio.io-gateway-controller``, owned by the Gateway;
* the Service's ports are ``status-port`` 15021 plus one per distinct listener port (name from the
  listener, ``appProtocol`` the lower-cased protocol); its type is ``LoadBalancer`` unless the
  Gateway's ``networking.istio.io/service-type`` annotation says otherwise, with
  ``loadBalancerIP`` from an IP ``spec.addresses`` entry;
* labels/annotations from ``spec.infrastructure`` (else copied from the Gateway), minus keys under
  ``gateway.networking.k8s.io/``.

A Gateway with a ``Hostname`` address is "manual deployment": istiod creates nothing and binds the
Gateway to that existing Service (https://istio.io/latest/docs/tasks/traffic-management/ingress/gateway-api/#manual-deployment).
Objects that exist without the ``gateway.istio.io/managed`` label are not taken over (``canManage``).

Approximations, by design: the ``PROXY_CONFIG`` value is the default install's effective proxy
config (``mesh.DefaultProxyConfig`` with the chart's ``discoveryAddress``); HorizontalPodAutoscaler
and PodDisruptionBudget are only rendered by istiod when a ``parametersRef``/class ConfigMap asks for
them, which gatewaykit does not model (no strategic-merge overlays).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from gatewaykit._translate.gatewayapi import (
    NAME_OVERRIDE_ANNOTATION,
    SERVICE_TYPE_ANNOTATION,
    Context,
    _items,
    build_context,
    class_infos,
    fetch_class,
    get_default_name,
    is_managed,
)
from gatewaykit._translate.mesh import INJECTED_VOLUME_MOUNTS, INJECTED_VOLUMES
from gatewaykit.resources import gatewayapi as K
from gatewaykit.resources.meta import KUBERNETES_GATEWAY
from gatewaykit.resources.models import Resource

__all__ = [
    "CONTROLLER_VERSION",
    "CONTROLLER_VERSION_ANNOTATION",
    "GATEWAY_NAME_LABEL",
    "MANAGED_LABEL",
    "deployment_objects",
    "extract_service_ports",
    "gatewayclass_objects",
]

GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"  # label.IoK8sNetworkingGatewayGatewayName
MANAGED_LABEL = "gateway.istio.io/managed"  # label.GatewayManaged
SERVICE_ACCOUNT_ANNOTATION = "gateway.istio.io/service-account"
#: The Gateway annotation istiod patches in (through the status subresource) when it takes a
#: Gateway over: ``gateway.istio.io/controller-version: "5"`` (``ControllerVersion``).
CONTROLLER_VERSION_ANNOTATION = "gateway.istio.io/controller-version"
CONTROLLER_VERSION = 5
#: Annotations the template never copies onto generated objects.
_OMITTED = (
    "kubectl.kubernetes.io/last-applied-configuration",
    NAME_OVERRIDE_ANNOTATION,
    SERVICE_ACCOUNT_ANNOTATION,
    CONTROLLER_VERSION_ANNOTATION,
)
#: The default install's values used by the template (istio-discovery values.yaml, Istio 1.27).
PROXY_IMAGE = "docker.io/istio/proxyv2:1.27.0"
_PROXY_RESOURCES = {
    "limits": {"cpu": "2000m", "memory": "1024Mi"},
    "requests": {"cpu": "100m", "memory": "128Mi"},
}
_PROXY_CONFIG = {
    "configPath": "./etc/istio/proxy",
    "binaryPath": "/usr/local/bin/envoy",
    "serviceCluster": "istio-proxy",
    "drainDuration": "45s",
    "discoveryAddress": "istiod.istio-system.svc:15012",
    "proxyAdminPort": 15000,
    "controlPlaneAuthPolicy": "MUTUAL_TLS",
    "statNameLength": 189,
    "statusPort": 15020,
    "terminationDrainDuration": "5s",
}


def gatewayclass_objects(ambient: bool = False) -> list[dict[str, Any]]:
    """The GatewayClasses istiod's class controller creates (``ClassController.reconcileClass``).

    ``istio`` and ``istio-remote`` on a default install; ``istio-waypoint`` with ambient.
    """
    from gatewaykit._translate.gatewayapi import builtin_classes  # noqa: PLC0415 - keep the list in one place

    infos = class_infos(ambient)
    return [
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "GatewayClass",
            "metadata": {"name": name},
            "spec": {"controllerName": controller, "description": infos[controller].description},
        }
        for name, controller in builtin_classes(ambient).items()
    ]


def _infra(gw: K.Gateway, labels: bool) -> dict[str, str]:
    """``extractInfrastructureMetadata``: ``spec.infrastructure`` wins, else the Gateway's own."""
    infra = gw.spec.infrastructure
    chosen: Mapping[str, str] | None = None
    if infra is not None:
        chosen = infra.labels if labels else infra.annotations
        if chosen:
            return {k: v for k, v in chosen.items() if not k.startswith("gateway.networking.k8s.io/")}
    # PILOT_ENABLE_GATEWAY_API_COPY_LABELS_ANNOTATIONS (default true): copy the Gateway's.
    return dict(gw.metadata.labels if labels else gw.metadata.annotations)


def extract_service_ports(gw: K.Gateway) -> list[dict[str, Any]]:
    """``extractServicePorts``: ``status-port`` 15021, then each distinct listener port."""
    ports: list[dict[str, Any]] = [{"name": "status-port", "port": 15021, "appProtocol": "tcp"}]
    seen: set[int] = set()
    for i, listener in enumerate(gw.spec.listeners):
        if listener.port is None or listener.port in seen:
            continue
        seen.add(listener.port)
        # sanitizeListenerNameForPort: "." is not allowed in a port name, which is 63 characters at most.
        name = listener.name.replace(".", "-")[:63] or f"{listener.protocol.lower()}-{i}"
        ports.append({"name": name, "port": listener.port, "appProtocol": listener.protocol.lower()})
    return ports


def _owner(gw: K.Gateway) -> list[dict[str, str]]:
    return [
        {
            "apiVersion": "gateway.networking.k8s.io/v1beta1",
            "kind": "Gateway",
            "name": gw.metadata.name,
            "uid": gw.metadata.uid,
        }
    ]


def _meta(gw: K.Gateway, name: str, labels: dict[str, str], annotations: dict[str, str]) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": gw.metadata.namespace,
        "annotations": annotations,
        "labels": labels,
        "ownerReferences": _owner(gw),
    }


def _env(gw: K.Gateway, deployment: str) -> list[dict[str, Any]]:
    """The istio-proxy container's ``env`` in the template (default install values)."""
    return [
        {"name": "PILOT_CERT_PROVIDER", "value": "istiod"},
        {"name": "CA_ADDR", "value": "istiod.istio-system.svc:15012"},
        *(
            {"name": n, "valueFrom": {"fieldRef": {"fieldPath": p}}}
            for n, p in (
                ("POD_NAME", "metadata.name"),
                ("POD_NAMESPACE", "metadata.namespace"),
                ("INSTANCE_IP", "status.podIP"),
                ("SERVICE_ACCOUNT", "spec.serviceAccountName"),
                ("HOST_IP", "status.hostIP"),
            )
        ),
        {"name": "ISTIO_CPU_LIMIT", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
        {"name": "PROXY_CONFIG", "value": json.dumps(_PROXY_CONFIG, separators=(",", ":")) + "\n"},
        {"name": "ISTIO_META_POD_PORTS", "value": "[]"},
        {"name": "ISTIO_META_APP_CONTAINERS", "value": ""},
        {"name": "GOMEMLIMIT", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory"}}},
        {"name": "GOMAXPROCS", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
        {"name": "ISTIO_META_CLUSTER_ID", "value": "Kubernetes"},
        {"name": "ISTIO_META_NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "ISTIO_META_INTERCEPTION_MODE", "value": "REDIRECT"},
        {"name": "ISTIO_META_WORKLOAD_NAME", "value": deployment},
        {
            "name": "ISTIO_META_OWNER",
            "value": f"kubernetes://apis/apps/v1/namespaces/{gw.metadata.namespace}/deployments/{deployment}",
        },
        {"name": "ISTIO_META_MESH_ID", "value": "cluster.local"},
        {"name": "TRUST_DOMAIN", "value": "cluster.local"},
    ]


def _container(gw: K.Gateway, deployment: str, image: str) -> dict[str, Any]:
    ann = gw.metadata.annotations
    env = _env(gw, deployment)
    probe = {
        "httpGet": {"path": "/healthz/ready", "port": 15021, "scheme": "HTTP"},
        "timeoutSeconds": 1,
        "successThreshold": 1,
    }
    # `annotation .ObjectMeta "sidecar.istio.io/proxyImage" .Values.global.proxy.image`: a full image
    # reference (with a "/") is used as is; the default "proxyv2" means hub/proxyv2:tag.
    override = ann.get("sidecar.istio.io/proxyImage", "")
    return {
        "name": "istio-proxy",
        "image": override if "/" in override else image,
        "resources": _PROXY_RESOURCES,
        "securityContext": {
            "capabilities": {"drop": ["ALL"]},
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "runAsUser": 1337,
            "runAsGroup": 1337,
            "runAsNonRoot": True,
        },
        "ports": [
            {"containerPort": 15020, "name": "metrics", "protocol": "TCP"},
            {"containerPort": 15021, "name": "status-port", "protocol": "TCP"},
            {"containerPort": 15090, "protocol": "TCP", "name": "http-envoy-prom"},
        ],
        "args": [
            "proxy",
            "router",
            "--domain",
            "$(POD_NAMESPACE).svc.cluster.local",
            "--proxyLogLevel",
            ann.get("sidecar.istio.io/logLevel", "warning"),
            "--proxyComponentLogLevel",
            ann.get("sidecar.istio.io/componentLogLevel", "misc:error"),
            "--log_output_level",
            ann.get("sidecar.istio.io/agentLogLevel", "default:info"),
        ],
        "env": env,
        "startupProbe": {**probe, "failureThreshold": 30, "initialDelaySeconds": 1, "periodSeconds": 1},
        "readinessProbe": {**probe, "failureThreshold": 4, "initialDelaySeconds": 0, "periodSeconds": 15},
        "volumeMounts": copy.deepcopy(list(INJECTED_VOLUME_MOUNTS)),
    }


def _pod_template(
    gw: K.Gateway,
    deployment: str,
    account: str,
    labels: dict[str, str],
    annotations: dict[str, str],
    image: str,
) -> dict[str, Any]:
    """The Deployment's pod template: istiod's labels first, then infrastructure, then the gateway's."""
    pod_labels = {
        "sidecar.istio.io/inject": "false",
        "service.istio.io/canonical-name": deployment,
        "service.istio.io/canonical-revision": "latest",
        **labels,
    }
    pod_annotations = {
        **annotations,
        "istio.io/rev": "default",
        "prometheus.io/path": "/stats/prometheus",
        "prometheus.io/port": "15020",
        "prometheus.io/scrape": "true",
    }
    return {
        "metadata": {"annotations": pod_annotations, "labels": pod_labels},
        "spec": {
            "securityContext": {"sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]},
            "serviceAccountName": account,
            "containers": [_container(gw, deployment, image)],
            "volumes": copy.deepcopy(list(INJECTED_VOLUMES)),
        },
    }


def render_kube_gateway(gw: K.Gateway, service_type: str, image: str = PROXY_IMAGE) -> list[dict[str, Any]]:
    """The ``kube-gateway`` template for one Gateway: ServiceAccount, Deployment, Service."""
    default = get_default_name(gw.metadata.name, gw.spec)
    deployment = gw.metadata.annotations.get(NAME_OVERRIDE_ANNOTATION) or default
    account = gw.metadata.annotations.get(SERVICE_ACCOUNT_ANNOTATION) or default
    gw_label = {GATEWAY_NAME_LABEL: gw.metadata.name}
    # apply(): the managed-by label goes on everything istiod applies.
    labels = {**_infra(gw, True), **gw_label, MANAGED_LABEL: "istio.io-gateway-controller"}
    annotations = {k: v for k, v in _infra(gw, False).items() if k not in _OMITTED}
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(gw, account, labels, annotations)}
    dep = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(gw, deployment, labels, annotations),
        "spec": {
            "selector": {"matchLabels": dict(gw_label)},
            "template": _pod_template(gw, deployment, account, labels, annotations, image),
        },
    }
    spec: dict[str, Any] = {
        "ipFamilyPolicy": "PreferDualStack",
        "ports": [{**p, "protocol": "TCP"} for p in extract_service_ports(gw)],
        "selector": dict(gw_label),
    }
    if gw.spec.addresses and service_type == "LoadBalancer":
        spec["loadBalancerIP"] = gw.spec.addresses[0].value
    spec["type"] = service_type
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(gw, deployment, labels, annotations),
        "spec": spec,
    }
    return [sa, dep, svc]


def _can_manage(existing: Mapping[tuple[str, str, str], Resource], obj: dict[str, Any]) -> bool:
    """``canManage``: absent, or carrying the ``gateway.istio.io/managed`` label."""
    meta = obj["metadata"]
    found = existing.get((obj["kind"], meta["namespace"], meta["name"]))
    return found is None or MANAGED_LABEL in found.metadata.labels


def deployment_objects(snapshot: Any, *, image: str = PROXY_IMAGE) -> list[dict[str, Any]]:
    """The ServiceAccounts, Deployments and Services istiod's deployment controller applies.

    Args:
        snapshot: the config store snapshot (``list(kind)``).
        image: the proxy image (``global.hub``/``global.tag``); the default matches the sandbox mesh.

    Returns:
        Manifests (dicts, server-side-apply bodies) for every managed Gateway whose class has a
        deployment template, in Gateway creation order; none for manual-deployment Gateways, other
        controllers' classes, or objects that exist without istiod's managed label.
    """
    ctx: Context = build_context(snapshot, alpha=False)
    existing: dict[tuple[str, str, str], Resource] = {}
    for kind in ("ServiceAccount", "Deployment", "Service"):
        for o in snapshot.list(kind):
            if isinstance(o, Resource):
                existing[(kind, o.metadata.namespace, o.metadata.name)] = o
    out: list[dict[str, Any]] = []
    infos = class_infos()
    for gw in _items(snapshot, KUBERNETES_GATEWAY, K.Gateway):
        found = fetch_class(ctx, gw.spec.gatewayClassName)
        info = infos.get(found[1]) if found is not None else None
        if info is None or not info.templates or not is_managed(gw.spec):
            continue  # "skip gateway class without template" / "skip disabled gateway"
        version = gw.metadata.annotations.get(CONTROLLER_VERSION_ANNOTATION)
        if version is not None and (not version.isdigit() or int(version) > CONTROLLER_VERSION):
            continue  # ManagedGatewayControllerVersion: a newer (or unknown) controller owns it
        service_type = gw.metadata.annotations.get(SERVICE_TYPE_ANNOTATION, info.default_service_type)
        out.extend(o for o in render_kube_gateway(gw, service_type, image) if _can_manage(existing, o))
    return out
