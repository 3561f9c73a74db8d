"""The objects ``istioctl install`` renders for a merged IstioOperator, abridged to what the sandbox runs.

Pure. Per component (``operator/pkg/component/component.go``), as Istio 1.27.1's charts render them:

* ``Base`` -- the ``istio-reader-service-account`` (``manifests/charts/base``; CRDs and webhooks are
  the sandbox's own, not installed objects);
* ``Pilot`` -- the ``istio`` ConfigMap whose ``data.mesh`` is the mesh config
  (``istio-discovery/templates/configmap.yaml``: the chart's ``mesh`` defaults merged with
  ``values.meshConfig``, keys sorted like Helm's ``toYaml``), the ``istiod`` ServiceAccount,
  Deployment and Service;
* ``IngressGateways`` / ``EgressGateways`` -- per enabled ``components.*Gateways[]`` entry, its
  ServiceAccount, Deployment and Service (``gateways/istio-ingress``, ``gateways/istio-egress``): name,
  labels (the chart's, overridden by ``label``), ports (``k8s.service.ports`` or the profile's),
  Service type (``k8s.service.type``), replicas (``k8s.replicaCount``).

Every object carries the chart's labels and the owner labels istioctl adds
(``operator/pkg/install/install.go`` ``getOwnerLabels``), which ``prune`` selects by. Pod templates are
abridged to the fields the sandbox models, identical to ``gatewaykit/data/default-mesh.yaml``'s so
that re-installing the same settings changes nothing (no pod restarts, as on a cluster).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gatewaykit.istioctl._iop import ISTIO_VERSION, get_path

__all__ = ["COMPONENTS", "Component", "ComponentManifests", "owner_labels", "render", "render_mesh"]


@dataclass(frozen=True, slots=True)
class Component:
    """One installable component: its IstioOperator name, what the progress log calls it, its icon."""

    name: str
    spec_name: str
    user_facing: str
    icon: str
    chart: str


#: operator/pkg/component/component.go (``AllComponents`` order, names and icons) -- the ones modelled.
COMPONENTS: tuple[Component, ...] = (
    Component("Base", "base", "Istio core", "⛵️", "base"),
    Component("Pilot", "pilot", "Istiod", "🧠", "istiod"),
    Component("IngressGateways", "ingressGateways", "Ingress gateways", "🛬", "istio-ingress"),
    Component("EgressGateways", "egressGateways", "Egress gateways", "🛫", "istio-egress"),
)
BY_NAME = {c.name: c for c in COMPONENTS}


@dataclass(frozen=True, slots=True)
class ComponentManifests:
    """The objects of one component, in apply order."""

    component: Component
    objects: tuple[dict[str, Any], ...] = field(default_factory=tuple)


# Helm-level profile values (istio-discovery/files/profile-*.yaml and the gateway charts') that
# change what the sandbox renders.
_DEMO_MESH = {
    "accessLogFile": "/dev/stdout",
    "extensionProviders": [
        {
            "name": "otel",
            "envoyOtelAls": {
                "service": "opentelemetry-collector.observability.svc.cluster.local",
                "port": 4317,
            },
        },
        {
            "name": "skywalking",
            "skywalking": {"service": "tracing.istio-system.svc.cluster.local", "port": 11800},
        },
        {
            "name": "otel-tracing",
            "opentelemetry": {
                "port": 4317,
                "service": "opentelemetry-collector.observability.svc.cluster.local",
            },
        },
        {
            "name": "jaeger",
            "opentelemetry": {"port": 4317, "service": "jaeger-collector.istio-system.svc.cluster.local"},
        },
    ],
}
_HELM_PROFILE_MESH: dict[str, dict[str, Any]] = {
    "demo": _DEMO_MESH,
    "preview": {"defaultConfig": {"proxyMetadata": {"ISTIO_META_DNS_CAPTURE": "true"}}},
}
_DEMO_INGRESS_PORTS = [
    {"port": 15021, "targetPort": 15021, "name": "status-port"},
    {"port": 80, "targetPort": 8080, "name": "http2"},
    {"port": 443, "targetPort": 8443, "name": "https"},
    {"port": 31400, "targetPort": 31400, "name": "tcp"},
    {"port": 15443, "targetPort": 15443, "name": "tls"},
]
# The gateway charts' defaults (gateways/istio-*/values.yaml).
_GATEWAY_DEFAULTS: dict[str, dict[str, Any]] = {
    "IngressGateways": {
        "root": "istio-ingressgateway",
        "labels": {"app": "istio-ingressgateway", "istio": "ingressgateway"},
        "ports": [
            {"port": 15021, "targetPort": 15021, "name": "status-port", "protocol": "TCP"},
            {"port": 80, "targetPort": 8080, "name": "http2", "protocol": "TCP"},
            {"port": 443, "targetPort": 8443, "name": "https", "protocol": "TCP"},
        ],
        "type": "LoadBalancer",
    },
    "EgressGateways": {
        "root": "istio-egressgateway",
        "labels": {"app": "istio-egressgateway", "istio": "egressgateway"},
        "ports": [
            {"port": 80, "targetPort": 8080, "name": "http2", "protocol": "TCP"},
            {"port": 443, "targetPort": 8443, "name": "https", "protocol": "TCP"},
        ],
        "type": "ClusterIP",
    },
}


def merge_overwrite(dst: dict[str, Any], src: Mapping[str, Any]) -> dict[str, Any]:
    """sprig's ``mergeOverwrite`` (mergo ``WithOverride``): maps merge, and an empty source value
    (``false``, ``0``, ``""``) does not overwrite -- Helm's well-known quirk."""
    for k, v in src.items():
        if isinstance(v, Mapping) and isinstance(dst.get(k), dict):
            merge_overwrite(dst[k], v)
        elif v not in (None, False, 0, "") or k not in dst:
            dst[k] = copy.deepcopy(v)
    return dst


def _values(iop: Mapping[str, Any]) -> dict[str, Any]:
    vals = get_path(iop, "spec.values")
    return vals if isinstance(vals, dict) else {}


def _helm_profile(iop: Mapping[str, Any]) -> str:
    vals = _values(iop)
    p = vals.get("profile") or (vals.get("global") or {}).get("profile") or ""
    return str(p)


def _namespace(iop: Mapping[str, Any]) -> str:
    return str(get_path(iop, "metadata.namespace") or "istio-system")


def _revision(iop: Mapping[str, Any]) -> str:
    return str(get_path(iop, "spec.values.revision") or "default")


def owner_labels(iop: Mapping[str, Any], component: str = "") -> dict[str, str]:
    """``getOwnerLabels``: what istioctl stamps on every object (and prunes by)."""
    out = {"operator.istio.io/managed": "Reconcile", "operator.istio.io/version": ISTIO_VERSION}
    name = get_path(iop, "metadata.name")
    if name:
        out["install.operator.istio.io/owning-resource"] = str(name)
    ns = get_path(iop, "metadata.namespace")
    if ns:
        out["install.operator.istio.io/owning-resource-namespace"] = str(ns)
    out["istio.io/rev"] = _revision(iop)
    if component:
        out["operator.istio.io/component"] = component
    return out


def _chart_labels(chart: str) -> dict[str, str]:
    """The charts' ``istio.labels`` (Release.Service Helm, Release.Name istio)."""
    return {
        "app.kubernetes.io/managed-by": "Helm",
        "app.kubernetes.io/instance": "istio",
        "app.kubernetes.io/part-of": "istio",
        "app.kubernetes.io/version": ISTIO_VERSION,
        "helm.sh/chart": f"{chart}-{ISTIO_VERSION}",
    }


def _labels(iop: Mapping[str, Any], comp: Component, own: Mapping[str, str]) -> dict[str, str]:
    labels = {**own, **_chart_labels(comp.chart), **owner_labels(iop, comp.name)}
    return dict(sorted(labels.items()))


def _meta(name: str, ns: str, labels: Mapping[str, str]) -> dict[str, Any]:
    return {"name": name, "namespace": ns, "labels": dict(labels)}


# --------------------------------------------------------------------------- mesh config


def render_mesh(iop: Mapping[str, Any]) -> dict[str, Any]:
    """The ``data.mesh`` mapping of the ``istio`` ConfigMap (before ``toYaml``)."""
    vals = _values(iop)
    chart_mesh: dict[str, Any] = {"enablePrometheusMerge": True}
    merge_overwrite(chart_mesh, _HELM_PROFILE_MESH.get(_helm_profile(iop), {}))
    user_mesh = vals.get("meshConfig")
    if isinstance(user_mesh, Mapping):
        merge_overwrite(chart_mesh, user_mesh)
    ns = str((vals.get("global") or {}).get("istioNamespace") or _namespace(iop))
    base: dict[str, Any] = {
        "trustDomain": "cluster.local",
        "rootNamespace": chart_mesh.get("rootNamespace") or ns,
    }
    if not chart_mesh.get("defaultProviders"):
        base["defaultProviders"] = {"metrics": ["prometheus"]}
    revision = str(vals.get("revision") or "")
    istiod = f"istiod-{revision}" if revision else "istiod"
    base["defaultConfig"] = {"discoveryAddress": f"{istiod}.{_namespace(iop)}.svc:15012"}
    return merge_overwrite(base, chart_mesh)


def mesh_yaml(mesh: Mapping[str, Any]) -> str:
    """Helm's ``toYaml`` of the mesh config inside a ``|-`` block: sorted keys, no final newline."""
    import yaml  # noqa: PLC0415

    return yaml.safe_dump(dict(mesh), sort_keys=True, default_flow_style=False, width=1 << 30).rstrip("\n")


# --------------------------------------------------------------------------- components


def _base(iop: Mapping[str, Any], comp: Component) -> list[dict[str, Any]]:
    own = {"app": "istio-reader", "release": "istio", "app.kubernetes.io/name": "istio-reader"}
    meta = _meta("istio-reader-service-account", _namespace(iop), _labels(iop, comp, own))
    return [{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}]


def _pilot(iop: Mapping[str, Any], comp: Component) -> list[dict[str, Any]]:
    ns = _namespace(iop)
    own = {
        "app": "istiod",
        "istio": "pilot",
        "release": "istio",
        "istio.io/rev": "default",
        "install.operator.istio.io/owning-resource": "unknown",
        "operator.istio.io/component": "Pilot",
        "app.kubernetes.io/name": "istiod",
    }
    labels = _labels(iop, comp, own)
    cm_labels = _labels(iop, comp, {k: v for k, v in own.items() if k not in ("app", "istio")})
    sa_labels = _labels(iop, comp, {"app": "istiod", "release": "istio", "app.kubernetes.io/name": "istiod"})
    hub = str(get_path(iop, "spec.values.global.hub") or "docker.io/istio")
    tag = str(get_path(iop, "spec.values.global.tag") or ISTIO_VERSION)
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta("istiod", ns, sa_labels)},
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta("istio", ns, cm_labels),
            "data": {"mesh": mesh_yaml(render_mesh(iop)), "meshNetworks": "networks: {}"},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _meta("istiod", ns, labels),
            "spec": _istiod_spec(ns, f"{hub}/pilot:{tag}", _pilot_env(iop)),
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta("istiod", ns, labels),
            "spec": {
                "ports": [
                    {"port": 15010, "name": "grpc-xds", "protocol": "TCP"},
                    {"port": 15012, "name": "https-dns", "protocol": "TCP"},
                    {"port": 443, "name": "https-webhook", "targetPort": 15017, "protocol": "TCP"},
                    {"port": 15014, "name": "http-monitoring", "protocol": "TCP"},
                ],
                "selector": {"app": "istiod", "istio": "pilot"},
            },
        },
    ]


def _pilot_env(iop: Mapping[str, Any]) -> list[dict[str, str]]:
    """``values.pilot.env``, as the chart renders it (``range``: keys sorted, values quoted strings)."""
    env = (_values(iop).get("pilot") or {}).get("env") or {}
    if not isinstance(env, Mapping):
        return []
    return [{"name": str(k), "value": _helm_string(v)} for k, v in sorted(env.items())]


def _helm_string(value: Any) -> str:
    """``"{{ $val }}"``: Go's text form of a YAML value (``true``, ``5``, the string)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _istiod_spec(ns: str, image: str, extra_env: list[dict[str, str]]) -> dict[str, Any]:
    """istio-discovery/templates/deployment.yaml, abridged to what the sandbox's stand-in needs."""
    template_labels = {
        "app": "istiod",
        "app.kubernetes.io/name": "istiod",
        "install.operator.istio.io/owning-resource": "unknown",
        "istio": "pilot",
        "istio.io/dataplane-mode": "none",
        "istio.io/rev": "default",
        "operator.istio.io/component": "Pilot",
        "sidecar.istio.io/inject": "false",
    }
    ports = [
        (8080, "http-debug"),
        (15010, "grpc-xds"),
        (15012, "tls-xds"),
        (15017, "https-webhooks"),
        (15014, "http-monitoring"),
    ]
    return {
        "strategy": {"rollingUpdate": {"maxSurge": "100%", "maxUnavailable": "25%"}},
        "selector": {"matchLabels": {"istio": "pilot"}},
        "template": {
            "metadata": {
                "labels": template_labels,
                "annotations": {
                    "prometheus.io/port": "15014",
                    "prometheus.io/scrape": "true",
                    "sidecar.istio.io/inject": "false",
                },
            },
            "spec": {
                "tolerations": [{"key": "cni.istio.io/not-ready", "operator": "Exists"}],
                "serviceAccountName": "istiod",
                "containers": [
                    {
                        "name": "discovery",
                        "image": image,
                        "args": [
                            "discovery",
                            "--monitoringAddr=:15014",
                            "--log_output_level=default:info",
                            "--domain",
                            "cluster.local",
                            "--keepaliveMaxServerConnectionAge",
                            "30m",
                        ],
                        "ports": [{"containerPort": p, "protocol": "TCP", "name": n} for p, n in ports],
                        "env": [
                            {"name": "REVISION", "value": "default"},
                            {"name": "PILOT_CERT_PROVIDER", "value": "istiod"},
                            *extra_env,
                            {"name": "CLUSTER_ID", "value": "Kubernetes"},
                        ],
                    }
                ],
            },
        },
    }


def _gateway_settings(iop: Mapping[str, Any], comp: Component, spec: Mapping[str, Any]) -> dict[str, Any]:
    """The chart values one gateway renders with (chart defaults ← profile ← values ← component)."""
    defaults = _GATEWAY_DEFAULTS[comp.name]
    root = defaults["root"]
    gw: dict[str, Any] = {"name": root, **copy.deepcopy({k: v for k, v in defaults.items() if k != "root"})}
    if comp.name == "IngressGateways" and _helm_profile(iop) == "demo":
        gw["ports"] = copy.deepcopy(_DEMO_INGRESS_PORTS)
    user = ((_values(iop).get("gateways") or {}).get(root)) or {}
    if isinstance(user, Mapping):
        for k in ("name", "type", "ports"):
            if user.get(k):
                gw[k] = copy.deepcopy(user[k])
        if isinstance(user.get("labels"), Mapping):
            merge_overwrite(gw["labels"], user["labels"])
    if spec.get("name"):
        gw["name"] = spec["name"]
    merge_overwrite(gw["labels"], spec.get("label") or {})
    k8s = spec.get("k8s") or {}
    service = k8s.get("service") or {}
    if service.get("ports"):
        gw["ports"] = copy.deepcopy(service["ports"])
    if service.get("type"):
        gw["type"] = service["type"]
    gw["replicas"] = int(k8s.get("replicaCount") or 1)
    gw["namespace"] = spec.get("namespace") or _namespace(iop)
    return gw


def _gateway(iop: Mapping[str, Any], comp: Component, spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    gw = _gateway_settings(iop, comp, spec)
    name, ns, gw_labels = gw["name"], gw["namespace"], dict(gw["labels"])
    root = _GATEWAY_DEFAULTS[comp.name]["root"]
    common = {
        **gw_labels,
        "release": "istio",
        "istio.io/rev": "default",
        "install.operator.istio.io/owning-resource": "unknown",
        "operator.istio.io/component": comp.name,
        "app.kubernetes.io/name": root,
    }
    hub = str(get_path(iop, "spec.values.global.hub") or "docker.io/istio")
    tag = str(spec.get("tag") or get_path(iop, "spec.values.global.tag") or ISTIO_VERSION)
    service_spec: dict[str, Any] = {"type": gw["type"], "selector": gw_labels, "ports": gw["ports"]}
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": _meta(f"{name}-service-account", ns, _labels(iop, comp, common)),
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _meta(name, ns, _labels(iop, comp, {**common, "istio.io/dataplane-mode": "none"})),
            "spec": _gateway_spec(gw, comp, f"{hub}/proxyv2:{tag}"),
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta(name, ns, _labels(iop, comp, common)),
            "spec": service_spec,
        },
    ]


def _gateway_spec(gw: Mapping[str, Any], comp: Component, image: str) -> dict[str, Any]:
    """The gateway Deployment's spec; the pod template as default-mesh.yaml abridges the chart's."""
    labels = dict(gw["labels"])
    tmpl = {
        **labels,
        "install.operator.istio.io/owning-resource": "unknown",
        "istio.io/rev": "default",
        "operator.istio.io/component": comp.name,
        "service.istio.io/canonical-name": gw["name"],
        "service.istio.io/canonical-revision": labels.get("app.kubernetes.io/version")
        or labels.get("version")
        or "latest",
        "sidecar.istio.io/inject": "false",
    }
    if gw["namespace"] == "istio-system":
        tmpl.update({"heritage": "Tiller", "release": "istio", "chart": "gateways"})
    ports = [
        {"containerPort": p.get("targetPort") or p.get("port"), "protocol": p.get("protocol") or "TCP"}
        for p in gw["ports"]
    ]
    ports.append({"containerPort": 15090, "name": "http-envoy-prom", "protocol": "TCP"})
    container = {
        "name": "istio-proxy",
        "image": image,
        "args": [
            "proxy",
            "router",
            "--domain",
            "$(POD_NAMESPACE).svc.cluster.local",
            "--proxyLogLevel=warning",
            "--proxyComponentLogLevel=misc:error",
            "--log_output_level=default:info",
        ],
        "ports": ports,
        "volumeMounts": [
            {"name": "workload-socket", "mountPath": "/var/run/secrets/workload-spiffe-uds"},
            {"name": "istio-envoy", "mountPath": "/etc/istio/proxy"},
            {"name": "istiod-ca-cert", "mountPath": "/var/run/secrets/istio"},
        ],
    }
    return {
        "replicas": gw["replicas"],
        "selector": {"matchLabels": labels},
        "template": {
            "metadata": {
                "labels": dict(sorted(tmpl.items())),
                "annotations": {
                    "prometheus.io/path": "/stats/prometheus",
                    "prometheus.io/port": "15020",
                    "prometheus.io/scrape": "true",
                    "sidecar.istio.io/inject": "false",
                },
            },
            "spec": {
                "serviceAccountName": f"{gw['name']}-service-account",
                "containers": [container],
                "volumes": [
                    {"name": "workload-socket"},
                    {"name": "istio-envoy"},
                    {"name": "istiod-ca-cert", "configMap": {"name": "istio-ca-root-cert"}},
                ],
            },
        },
    }


def _enabled_gateways(iop: Mapping[str, Any], comp: Component) -> list[Mapping[str, Any]]:
    """``Component.Get`` for a multi component: entries not ``enabled: false`` (defaults when absent)."""
    specs = get_path(iop, f"spec.components.{comp.spec_name}")
    if specs is None:
        return [{}] if comp.name == "IngressGateways" else []
    return [s for s in specs if isinstance(s, Mapping) and s.get("enabled") is not False]


def _enabled(iop: Mapping[str, Any], comp: Component) -> bool:
    spec = get_path(iop, f"spec.components.{comp.spec_name}")
    if spec is None:
        return True
    return not (isinstance(spec, Mapping) and spec.get("enabled") is False)


def render(iop: Mapping[str, Any]) -> list[ComponentManifests]:
    """``GenerateManifest``: every enabled component's objects, in ``AllComponents`` order."""
    out: list[ComponentManifests] = []
    for comp in COMPONENTS:
        objects: list[dict[str, Any]] = []
        if comp.name == "Base" and _enabled(iop, comp):
            objects = _base(iop, comp)
        elif comp.name == "Pilot" and _enabled(iop, comp):
            objects = _pilot(iop, comp)
        elif comp.name in ("IngressGateways", "EgressGateways"):
            for spec in _enabled_gateways(iop, comp):
                objects += _gateway(iop, comp, spec)
        if objects:
            out.append(ComponentManifests(comp, tuple(objects)))
    return out
