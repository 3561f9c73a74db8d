"""Translation of the configuration into what istiod sends each proxy (xDS), pure.

Rule: no I/O here. ``translate(snapshot)`` derives the mesh (pods, services, endpoints) from the
applied objects and builds, for every gateway pod and every sidecar, an Envoy-shaped
:class:`gatewaykit.envoy.ProxyConfig` named exactly as Istio names things (§2–§13).

Module map (mirrors istio ``pilot/pkg/networking/core``):

* :mod:`.mesh` -- pods, Services/ServiceEntries, cluster IPs, endpoints, DNS
* :mod:`.hosts` -- host-name algebra (wildcards, intersection, short names)
* :mod:`.routes` -- VirtualService HTTP rules → routes
* :mod:`.gateway` -- Gateway merging, listeners, route configurations
* :mod:`.sidecar` -- sidecar outbound/inbound config
* :mod:`.clusters` -- clusters and DestinationRule TLS
* :mod:`.secrets` -- SDS material from Secrets and mounted files
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import yaml

from gatewaykit.envoy import Cluster, ProxyConfig, SecretMaterial
from gatewaykit.resources.models import (
    ConfigMap,
    Deployment,
    DestinationRule,
    Gateway,
    Namespace,
    Resource,
    Secret,
    Service,
    ServiceEntry,
    VirtualService,
)
from gatewaykit.translate import hosts as H
from gatewaykit.translate.clusters import BoundDestinationRule, build_outbound_clusters
from gatewaykit.translate.gateway import (
    _MISS,
    Memo,
    RouteCache,
    VirtualServiceIndex,
    build_gateway_proxy,
)
from gatewaykit.translate.gateway import clear_caches as gateway_clear_caches
from gatewaykit.translate.mesh import (
    MeshSettings,
    Pod,
    PortInfo,
    ServiceInfo,
    SnapshotLike,
    build_pods,
    build_services,
)
from gatewaykit.translate.routes import BoundVirtualService
from gatewaykit.translate.secrets import resolve_secret
from gatewaykit.translate.sidecar import build_sidecar_proxy

__all__ = [
    "MESH_CONFIGMAP",
    "MeshSettings",
    "Pod",
    "PortInfo",
    "ServiceInfo",
    "SnapshotLike",
    "XdsState",
    "clear_caches",
    "mesh_settings",
    "parse_mesh_config",
    "translate",
]


@dataclass(frozen=True, slots=True)
class XdsState:
    """Everything istiod would push, plus the Kubernetes facts it was derived from.

    Attributes:
        pods: every pod, in creation order.
        proxies: ``ProxyConfig`` per gateway pod and sidecar, keyed ``"<namespace>/<pod>"``.
        services: the service registry by host (Kubernetes Services and ServiceEntry hosts).
        log: istiod log lines (skipped servers, missing secrets, ...), verbatim.
        mesh: the mesh settings used.
    """

    pods: tuple[Pod, ...] = ()
    proxies: Mapping[str, ProxyConfig] = field(default_factory=dict)
    services: Mapping[str, ServiceInfo] = field(default_factory=dict)
    log: tuple[str, ...] = ()
    mesh: MeshSettings = MeshSettings()

    def proxy_for(self, workload: str) -> ProxyConfig | None:
        """The proxy of a workload: ``"istio-system/istio-ingressgateway"`` (a Deployment),
        ``"<ns>/<pod name>"``, or a bare Deployment name. The first replica is returned.
        """
        if workload in self.proxies:
            return self.proxies[workload]
        ns, sep, name = workload.rpartition("/")
        for pod in self.pods:
            if pod.deployment == name and (not sep or pod.namespace == ns):
                got = self.proxies.get(pod.key)
                if got is not None:
                    return got
        return None

    def pods_of(self, workload: str) -> tuple[Pod, ...]:
        """Pods of ``"<ns>/<deployment>"`` (or a bare Deployment name)."""
        ns, sep, name = workload.rpartition("/")
        return tuple(p for p in self.pods if p.deployment == name and (not sep or p.namespace == ns))

    def dns(self, name: str, client_namespace: str = "default") -> str | None:
        """Cluster DNS as a pod in ``client_namespace`` sees it (resolv.conf search path).

        ``httpbin`` → ``httpbin.<client ns>.svc.cluster.local``; ``httpbin.default`` and
        ``httpbin.default.svc`` expand too; ServiceEntry hosts resolve to their address (or
        Istio's auto-allocated ``240.240.x.y``). Unknown names give None.
        """
        n = name.rstrip(".").lower()
        if not n:
            return None
        candidates = []
        if n.count(".") < 5:  # ndots:5
            candidates += [
                f"{n}.{client_namespace}.svc.{H.DOMAIN_SUFFIX}",
                f"{n}.svc.{H.DOMAIN_SUFFIX}",
                f"{n}.{H.DOMAIN_SUFFIX}",
            ]
        candidates.append(n)
        for c in candidates:
            svc = self.services.get(c)
            if svc is None:
                continue
            if svc.addresses:
                return svc.addresses[0]
            for eps in svc.endpoints.values():
                for e in eps:
                    return e.address
        return None


#: Where istiod reads the mesh config: the ``istio`` ConfigMap (``data.mesh``) in its own namespace
#: (pilot/pkg/bootstrap/mesh.go; manifests/charts/istio-control/istio-discovery/templates/configmap.yaml).
MESH_CONFIGMAP = ("istio-system", "istio")
_MODES = {"ALLOW_ANY": "ALLOW_ANY", "REGISTRY_ONLY": "REGISTRY_ONLY", 0: "REGISTRY_ONLY", 1: "ALLOW_ANY"}


def parse_mesh_config(text: str) -> MeshSettings:
    """The settings gatewaykit models from a ``data.mesh`` YAML text (MeshConfig).

    istiod keeps its defaults when the text cannot be read (pkg/config/mesh ``ApplyMeshConfig``
    fails, the watcher logs and keeps the previous config); an unknown ``mode`` is refused the
    same way, so here both give Istio's default ``ALLOW_ANY``.
    """
    try:
        doc = yaml.safe_load(text) if text else {}
    except yaml.YAMLError:
        return MeshSettings()
    policy = doc.get("outboundTrafficPolicy") if isinstance(doc, dict) else None
    mode = policy.get("mode") if isinstance(policy, dict) else None
    if isinstance(mode, bool) or mode not in _MODES:
        return MeshSettings()
    # jsonpb takes an enum by name or by number (Mode: REGISTRY_ONLY = 0, ALLOW_ANY = 1).
    return MeshSettings(outbound_traffic_policy=_MODES[mode])  # type: ignore[arg-type]


def mesh_settings(snapshot: SnapshotLike) -> MeshSettings:
    """Mesh settings from the ``istio`` ConfigMap in ``istio-system``, as istiod watches it (§11.2).

    No ConfigMap (Istio uninstalled): Istio's defaults.
    """
    ns, name = MESH_CONFIGMAP
    for cm in cast(Sequence[ConfigMap], snapshot.list("ConfigMap")):
        if isinstance(cm, ConfigMap) and cm.metadata.namespace == ns and cm.metadata.name == name:
            return _parsed_mesh(cm)
    return MeshSettings()


_MESH_MEMO: dict[int, tuple[ConfigMap, MeshSettings]] = {}


def _parsed_mesh(cm: ConfigMap) -> MeshSettings:
    """:func:`parse_mesh_config` of a ConfigMap, remembered per (immutable) object."""
    got = _MESH_MEMO.get(id(cm))
    if got is not None and got[0] is cm:
        return got[1]
    settings = parse_mesh_config(cm.data.get("mesh", ""))
    _MESH_MEMO.clear()
    _MESH_MEMO[id(cm)] = (cm, settings)
    return settings


# Memo of VirtualService → routes, keyed by object identity (see gateway.build_gateway_proxy).
_ROUTE_CACHE: RouteCache = {}
_ROUTE_CACHE_MAX = 50_000
# Memo of everything else that is a pure function of unchanged objects: the mesh (pods and
# services), bound VirtualServices, outbound clusters, merged gateways, listeners and route
# configurations per gateway pod (see gateway.Memo). Re-translation after one apply then redoes
# only what depends on the changed object; results are identical to a fresh translation.
_MEMO = Memo()
_BOUND_VS: dict[int, tuple[VirtualService, BoundVirtualService]] = {}


def clear_caches() -> None:
    """Forget every memo of earlier translations (the next :func:`translate` starts cold).

    Never needed for correctness -- memo entries are only reused for the very same input
    objects -- but useful to compare against, or to measure, a cold translation.
    """
    _ROUTE_CACHE.clear()
    _MEMO.clear()
    _MESH_MEMO.clear()
    _BOUND_VS.clear()
    gateway_clear_caches()


def _bound(vs: VirtualService) -> BoundVirtualService:
    """``BoundVirtualService.of``, remembered per (immutable) VirtualService object."""
    got = _BOUND_VS.get(id(vs))
    if got is not None and got[0] is vs:
        return got[1]
    b = BoundVirtualService.of(vs)
    _BOUND_VS[id(vs)] = (vs, b)
    return b


def _subset(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def translate(snapshot: SnapshotLike, mesh: MeshSettings | None = None) -> XdsState:
    """Translate a configuration snapshot into per-proxy Envoy config.

    Args:
        snapshot: anything with ``list(kind)`` returning typed models in creation order (the
            config store's ``Snapshot``).
        mesh: overrides the mesh settings read from the ``istio`` ConfigMap (:func:`mesh_settings`).

    Returns:
        The :class:`XdsState`. Never raises for odd-but-valid configuration: what istiod
        would ignore is ignored and logged in ``XdsState.log``.
    """
    settings = mesh if mesh is not None else mesh_settings(snapshot)

    def lst(kind: str) -> Sequence[Any]:
        # The store hands back a bare Manifest when it cannot build a model; istiod would not
        # have accepted such an object either, so it takes no part.
        return [o for o in snapshot.list(kind) if isinstance(o, Resource) and o.kind == kind]

    ns_objs = cast(Sequence[Namespace], lst("Namespace"))
    dep_objs = cast(Sequence[Deployment], lst("Deployment"))
    svc_objs = cast(Sequence[Service], lst("Service"))
    se_objs = cast(Sequence[ServiceEntry], lst("ServiceEntry"))
    # Pods and the service registry are a pure function of these objects (and their order).
    mesh_objs = (*ns_objs, None, *dep_objs, None, *svc_objs, None, *se_objs)
    mesh_built = _MEMO.get("mesh", None, mesh_objs)
    if mesh_built is _MISS:
        namespaces = {n.metadata.name: n for n in ns_objs}
        pods = build_pods(dep_objs, namespaces)
        mesh_built = (pods, build_services(svc_objs, se_objs, pods))
        _MEMO.put("mesh", None, mesh_objs, mesh_built)
    pods, services = cast(tuple[tuple[Pod, ...], dict[str, ServiceInfo]], mesh_built)
    gateways = cast(Sequence[Gateway], lst("Gateway"))
    gw_objs = tuple(gateways)
    if len(_BOUND_VS) > _ROUTE_CACHE_MAX:
        _BOUND_VS.clear()
    bvss = [_bound(v) for v in cast(Sequence[VirtualService], lst("VirtualService"))]
    vs_index = VirtualServiceIndex(bvss)
    dr_objs = cast(Sequence[DestinationRule], lst("DestinationRule"))
    drs = [BoundDestinationRule.of(d) for d in dr_objs]
    secret_list = cast(Sequence[Secret], lst("Secret"))
    configmap_list = cast(Sequence[ConfigMap], lst("ConfigMap"))
    secrets = {(s.metadata.namespace, s.metadata.name): s for s in secret_list}
    configmaps = {(c.metadata.namespace, c.metadata.name): c for c in configmap_list}
    secret_objs = (*secret_list, None, *configmap_list)

    port_lookup: dict[str, tuple[int, ...]] = {h: tuple(p.port for p in s.ports) for h, s in services.items()}

    def lookup(host: str) -> tuple[int, ...] | None:
        return port_lookup.get(host)

    if len(_ROUTE_CACHE) > _ROUTE_CACHE_MAX:
        _ROUTE_CACHE.clear()

    needs_labels = any(d.selector is not None for d in drs)
    cluster_objs = (services, *dr_objs)

    def clusters_for(pod: Pod) -> tuple[dict[str, Cluster], list[str]]:
        # Outbound clusters depend on the registry, the DestinationRules and the proxy's
        # namespace (and labels, for workloadSelector DestinationRules).
        key = (pod.namespace, tuple(sorted(pod.labels.items())) if needs_labels else ())
        got = _MEMO.get(("clusters", key), None, cluster_objs)
        if got is _MISS:
            got = build_outbound_clusters(services, drs, pod.namespace, pod.labels)
            _MEMO.put(("clusters", key), None, cluster_objs, got)
        return cast(tuple[dict[str, Cluster], list[str]], got)

    proxies: dict[str, ProxyConfig] = {}
    all_log: list[str] = []
    service_list = list(services.values())
    for pod in pods:
        if pod.kind == "plain":
            continue
        outbound, cluster_sds = clusters_for(pod)
        log: list[str] = []
        if pod.kind == "gateway":
            # Service targets of the pod: Services in its namespace selecting it (resolvePorts, §2).
            targets: list[tuple[int, int]] = []
            for svc in service_list:
                if svc.kind != "Service" or svc.namespace != pod.namespace or not svc.selector:
                    continue
                if not _subset(svc.selector, pod.labels):
                    continue
                for p in svc.ports:
                    for e in svc.endpoints.get(p.port, ()):
                        if e.address == pod.ip:
                            targets.append((p.port, e.port))
                            break

            def resolve_port(number: int, _t: list[tuple[int, int]] = targets) -> int:
                for port, target in _t:
                    if port == number:
                        return target
                return number

            # The Gateways whose selector picks this pod (§3), in creation order.
            labels_key = tuple(sorted(pod.labels.items()))
            selected = _MEMO.get(("selected", pod.key), labels_key, gw_objs)
            if selected is _MISS:
                selected = [
                    g for g in gateways if g.spec.selector is None or _subset(g.spec.selector, pod.labels)
                ]
                _MEMO.put(("selected", pod.key), labels_key, gw_objs, selected)
            gb = build_gateway_proxy(
                pod,
                selected,
                resolve_port,
                vs_index,
                lookup,
                _ROUTE_CACHE,
                memo=_MEMO,
                port_key=tuple(targets),
                # port_lookup is derived from `services`: the same registry object answers alike.
                lookup_key=services,
            )
            log += gb.log
            listeners = tuple(gb.listeners)
            route_configs = gb.route_configs
            clusters: dict[str, Cluster] = outbound
            sds = gb.sds + [n for n in cluster_sds if n not in gb.sds]
            ptype = "router"
        else:
            mesh_vs = [b for b in bvss if "mesh" in b.gateways and b.visible_to(pod.namespace)]
            # A sidecar's config is a function of the pod, the registry (lookup derives from it),
            # the mesh VirtualServices it sees and the mesh settings.
            sidecar_objs = (pod, services, *(b.vs for b in mesh_vs))
            sb = _MEMO.get(("sidecar", pod.key), settings, sidecar_objs)
            if sb is _MISS:
                sb = build_sidecar_proxy(pod, services, mesh_vs, lookup, settings)
                _MEMO.put(("sidecar", pod.key), settings, sidecar_objs, sb)
            listeners = tuple(sb.listeners)
            route_configs = sb.route_configs
            clusters = {**outbound, **sb.inbound_clusters}
            sds = list(cluster_sds)
            ptype = "sidecar"
        # SDS material depends on the names, the pod (namespace, volumes) and Secrets/ConfigMaps.
        sds_key = (pod, tuple(sds))  # the pod by value: a rebuilt but equal pod resolves alike
        got_materials = _MEMO.get(("sds", pod.key), sds_key, secret_objs)
        if got_materials is _MISS:
            got_materials = {}
            for name in sds:
                m = resolve_secret(name, pod, secrets, configmaps)
                if m is not None:
                    got_materials[name] = m
            _MEMO.put(("sds", pod.key), sds_key, secret_objs, got_materials)
        materials = cast(dict[str, SecretMaterial], got_materials)
        log.extend(m.error for m in materials.values() if m.error)
        proxies[pod.key] = ProxyConfig(
            id=f"{pod.name}.{pod.namespace}",
            type=ptype,  # type: ignore[arg-type]
            namespace=pod.namespace,
            workload=pod.deployment,
            labels=tuple(sorted(pod.labels.items())),
            listeners=listeners,
            route_configs=route_configs,
            clusters=clusters,
            secrets=materials,
            log=tuple(log),
        )
        all_log.extend(log)
    return XdsState(
        pods=pods,
        proxies=proxies,
        services=services,
        log=tuple(dict.fromkeys(all_log)),
        mesh=settings,
    )
