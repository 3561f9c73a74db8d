"""Translation of the configuration into what istiod sends each proxy (xDS), pure.

Rule: no I/O here. ``translate(snapshot)`` derives the mesh (pods, services, endpoints) from the
applied objects and builds, for every gateway pod and every sidecar, an Envoy-shaped
:class:`gatewaykit.envoy.ProxyConfig` named exactly as Istio names things (docs/behaviour.md §2–§13).

Module map (mirrors istio ``pilot/pkg/networking/core``):

* :mod:`.mesh` -- pods, Services/ServiceEntries, cluster IPs, endpoints, DNS
* :mod:`.hosts` -- host-name algebra (wildcards, intersection, short names)
* :mod:`.routes` -- VirtualService HTTP rules → routes
* :mod:`.merged_gateway` -- merging the Gateways that select a workload (``MergedGateway``)
* :mod:`.gateway` -- gateway listeners, filter chains, route configurations
* :mod:`.sidecar` -- sidecar outbound/inbound config
* :mod:`.clusters` -- clusters and DestinationRule TLS
* :mod:`.secrets` -- SDS material from Secrets and mounted files
* :mod:`.gatewayapi`, :mod:`.gatewayapi_routes` -- the Kubernetes Gateway API, converted to
  internal Gateways and VirtualServices as istiod does; :mod:`.gatewayapi_status` and
  :mod:`.gatewayapi_deploy` -- what istiod's controllers write back (status, gateway Deployments)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import yaml

from gatewaykit._translate import hosts as H
from gatewaykit._translate.clusters import BoundDestinationRule, build_outbound_clusters
from gatewaykit._translate.gateway import (
    _MISS,
    Memo,
    RouteCache,
    VirtualServiceIndex,
    build_gateway_proxy,
)
from gatewaykit._translate.gateway import clear_caches as gateway_clear_caches
from gatewaykit._translate.gatewayapi import GATEWAY_SERVICE, Conversion, Generated
from gatewaykit._translate.gatewayapi import convert as convert_gateway_api
from gatewaykit._translate.mesh import (
    SIDECAR_STATUS,
    MeshSettings,
    Pod,
    PortInfo,
    ServiceInfo,
    SnapshotLike,
    build_pods,
    build_services,
)
from gatewaykit._translate.routes import BoundVirtualService, ServiceLookup
from gatewaykit._translate.secrets import resolve_secret
from gatewaykit._translate.sidecar import SidecarBuild, build_sidecar_proxy
from gatewaykit.envoy import Cluster, Listener, ProxyConfig, RouteConfiguration, SecretMaterial
from gatewaykit.resources.meta import KUBERNETES_GATEWAY
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

__all__ = [
    "ISTIOD",
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
#: istiod itself: its ``discovery`` container's environment holds the ``PILOT_*`` feature flags.
ISTIOD = ("istio-system", "istiod", "discovery")
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
    """Mesh settings as istiod has them (docs/behaviour.md §11.2): the mesh config from the ``istio``
    ConfigMap in ``istio-system``, which istiod watches, and ``PILOT_ENABLE_ALPHA_GATEWAY_API`` from istiod's
    environment (``istioctl install --set values.pilot.env.PILOT_ENABLE_ALPHA_GATEWAY_API=true``
    renders it into the istiod Deployment; Go's ``strconv.ParseBool`` decides what counts as true).

    No ConfigMap (Istio uninstalled): Istio's defaults.
    """
    settings = MeshSettings()
    ns, name = MESH_CONFIGMAP
    for cm in cast(Sequence[ConfigMap], snapshot.list("ConfigMap")):
        if isinstance(cm, ConfigMap) and cm.metadata.namespace == ns and cm.metadata.name == name:
            settings = _parsed_mesh(cm)
    flag = _istiod_env(snapshot, "PILOT_ENABLE_ALPHA_GATEWAY_API")
    if flag in ("1", "t", "T", "TRUE", "true", "True"):
        settings = dataclasses.replace(settings, alpha_gateway_api=True)
    return settings


def _istiod_env(snapshot: SnapshotLike, name: str) -> str | None:
    """An environment variable of istiod's ``discovery`` container (a plain ``value``), or None."""
    ns, dep_name, container = ISTIOD
    for dep in cast(Sequence[Deployment], snapshot.list("Deployment")):
        if not isinstance(dep, Deployment) or (dep.metadata.namespace, dep.metadata.name) != (ns, dep_name):
            continue
        for c in dep.containers:
            if c.name == container:
                return next((e.value for e in c.env if e.name == name and e.value is not None), None)
    return None


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


def _gateway_services(gw: Gateway) -> frozenset[str] | None:
    """The Service hosts a Gateway API gateway binds to (``internal.istio.io/gateway-service``)."""
    value = gw.metadata.annotations.get(GATEWAY_SERVICE)
    return None if value is None else frozenset(value.split(","))


def _selects(gw: Gateway, pod: Pod, service_hosts: set[str]) -> bool:
    """``PushContext.mergeGateways``: does ``gw`` apply to ``pod``?

    A Gateway generated from the Gateway API applies to the pods behind its Services "*in the same
    namespace as the Gateway*"; any other Gateway by its label ``selector`` (none: every gateway).
    """
    bound = _gateway_services(gw)
    if bound is not None:
        return pod.namespace == gw.metadata.namespace and not bound.isdisjoint(service_hosts)
    return gw.spec.selector is None or _subset(gw.spec.selector, pod.labels)


def _mesh_route_applies(b: BoundVirtualService, pod: Pod, services: Mapping[str, ServiceInfo]) -> bool:
    """``buildSidecarVirtualHostsForVirtualService``: a Gateway API mesh route applies to clients in its
    own namespace, or ("producer" routes) when it routes a Service of its own namespace: "Gateway
    allows only routes from the namespace of the proxy, or namespace of the destination"."""
    if not b.gateway_semantics or pod.namespace == b.namespace:
        return True
    return any((svc := services.get(h)) is not None and svc.namespace == b.namespace for h in b.hosts)


def _gateway_api(snapshot: SnapshotLike, settings: MeshSettings) -> Conversion:
    """:func:`gatewayapi.convert`, remembered while its inputs are the very same objects."""
    kinds: tuple[str, ...] = (KUBERNETES_GATEWAY, "GatewayClass", "HTTPRoute", "GRPCRoute", "TLSRoute")
    kinds += ("TCPRoute", "ReferenceGrant")
    objs: list[object] = []
    for kind in (*kinds, "Namespace", "Service", "ServiceEntry", "Secret"):
        objs.extend(snapshot.list(kind))
        objs.append(None)
    got = _MEMO.get("gatewayapi", settings.alpha_gateway_api, tuple(objs))
    if got is _MISS:
        got = convert_gateway_api(snapshot, settings.alpha_gateway_api)
        _MEMO.put("gatewayapi", settings.alpha_gateway_api, tuple(objs), got)
    return cast(Conversion, got)


def _by_creation(snapshot: SnapshotLike, own: Sequence[Any], generated: Sequence[Generated]) -> list[Any]:
    """Istio's objects and the generated ones in creation order (``sortConfigByCreationTime``).

    A generated object has the creation time of the Gateway API object it came from; ties go by
    namespace, then name. Without creation times (a plain list snapshot) generated ones come last.
    """
    if not generated:
        return list(own)
    index = getattr(snapshot, "creation_index", None)
    if index is None:
        return [*own, *(g.config for g in generated)]
    rows = [(index(o.key), o.metadata.namespace, o.metadata.name, o) for o in own]
    rows += [(index(g.origin), g.config.namespace, g.config.name, g.config) for g in generated]
    rows.sort(key=lambda r: r[:3])
    return [r[3] for r in rows]


def _created_pods(snapshot: SnapshotLike) -> tuple[tuple[str, bool], ...]:
    """``("<namespace>/<pod>", injected)`` for every Pod object in the snapshot.

    The controllers write each pod they derive; the injector's ``sidecar.istio.io/status``
    annotation on it records that the webhook mutated it when it was created.
    """
    out = []
    for obj in snapshot.list("Pod"):
        raw = getattr(obj, "raw", None)
        meta = raw.get("metadata") if isinstance(raw, Mapping) else None
        if isinstance(meta, Mapping):
            injected = SIDECAR_STATUS in (meta.get("annotations") or {})
            out.append((f"{meta.get('namespace', '')}/{meta.get('name', '')}", injected))
    return tuple(out)


@dataclass(slots=True)
class _PushContext:
    """istiod's ``PushContext`` for one translation: the indexes every proxy's build reads
    (pilot/pkg/model/push_context.go ``createNewContext``: ``initServiceRegistry``,
    ``initKubernetesGateways``, ``initVirtualServices``, ``initDestinationRules``, ``initGateways``).
    """

    settings: MeshSettings
    pods: tuple[Pod, ...]
    services: dict[str, ServiceInfo]
    gateways: list[Gateway]
    virtual_services: list[BoundVirtualService]
    vs_index: VirtualServiceIndex
    destination_rules: Sequence[DestinationRule]
    bound_rules: list[BoundDestinationRule]
    secrets: dict[tuple[str, str], Secret]
    configmaps: dict[tuple[str, str], ConfigMap]
    secret_objs: tuple[object, ...]
    lookup: ServiceLookup  # service ports by host, derived from ``services``


def _listed(snapshot: SnapshotLike, kind: str) -> Sequence[Any]:
    """The snapshot's objects of ``kind`` that istiod would have accepted.

    The store hands back a bare Manifest when it cannot build a model; istiod would not have
    accepted such an object either, so it takes no part. The key's kind tells Istio's Gateway
    from the Gateway API's (Gateway.gateway.networking.k8s.io).
    """
    return [o for o in snapshot.list(kind) if isinstance(o, Resource) and o.key.kind == kind]


def _init_service_registry(
    snapshot: SnapshotLike, retired_pods: frozenset[str]
) -> tuple[tuple[Pod, ...], dict[str, ServiceInfo]]:
    """``PushContext.initServiceRegistry``: the pods and the service registry, remembered.

    Both are a pure function of the Namespaces, Deployments, Services and ServiceEntries (and
    their order), and of what the pods that exist already got from the injector when created.
    """
    ns_objs = cast(Sequence[Namespace], _listed(snapshot, "Namespace"))
    dep_objs = cast(Sequence[Deployment], _listed(snapshot, "Deployment"))
    svc_objs = cast(Sequence[Service], _listed(snapshot, "Service"))
    se_objs = cast(Sequence[ServiceEntry], _listed(snapshot, "ServiceEntry"))
    mesh_objs = (*ns_objs, None, *dep_objs, None, *svc_objs, None, *se_objs)
    created = _created_pods(snapshot)
    mesh_built = _MEMO.get("mesh", (created, retired_pods), mesh_objs)
    if mesh_built is _MISS:
        namespaces = {n.metadata.name: n for n in ns_objs}
        pods = build_pods(dep_objs, namespaces, dict(created), retired_pods)
        mesh_built = (pods, build_services(svc_objs, se_objs, pods))
        _MEMO.put("mesh", (created, retired_pods), mesh_objs, mesh_built)
    return cast(tuple[tuple[Pod, ...], dict[str, ServiceInfo]], mesh_built)


def _init_context(
    snapshot: SnapshotLike, settings: MeshSettings, retired_pods: frozenset[str]
) -> _PushContext:
    """``PushContext.createNewContext``: the registry, the Gateway API converted as istiod does
    (internal Gateways and VirtualServices, ``initKubernetesGateways``), the VirtualService index
    (``initVirtualServices``), the DestinationRules (``initDestinationRules``) and the Secrets
    and ConfigMaps SDS reads."""
    pods, services = _init_service_registry(snapshot, retired_pods)
    generated = _gateway_api(snapshot, settings)
    gateways = _by_creation(snapshot, _listed(snapshot, "Gateway"), generated.gateways)
    if len(_BOUND_VS) > _ROUTE_CACHE_MAX:
        _BOUND_VS.clear()
    vs_objs = _by_creation(snapshot, _listed(snapshot, "VirtualService"), generated.virtual_services)
    bvss = [_bound(v) for v in cast(Sequence[VirtualService], vs_objs)]
    dr_objs = cast(Sequence[DestinationRule], _listed(snapshot, "DestinationRule"))
    secret_list = cast(Sequence[Secret], _listed(snapshot, "Secret"))
    configmap_list = cast(Sequence[ConfigMap], _listed(snapshot, "ConfigMap"))
    port_lookup: dict[str, tuple[int, ...]] = {h: tuple(p.port for p in s.ports) for h, s in services.items()}
    return _PushContext(
        settings=settings,
        pods=pods,
        services=services,
        gateways=gateways,
        virtual_services=bvss,
        vs_index=VirtualServiceIndex(bvss),
        destination_rules=dr_objs,
        bound_rules=[BoundDestinationRule.of(d) for d in dr_objs],
        secrets={(s.metadata.namespace, s.metadata.name): s for s in secret_list},
        configmaps={(c.metadata.namespace, c.metadata.name): c for c in configmap_list},
        secret_objs=(*secret_list, None, *configmap_list),
        lookup=port_lookup.get,
    )


def _build_clusters(ctx: _PushContext, pod: Pod) -> tuple[dict[str, Cluster], list[str]]:
    """``ConfigGeneratorImpl.BuildClusters`` (outbound part) for one proxy, remembered.

    Outbound clusters depend on the registry, the DestinationRules and the proxy's namespace
    (and labels, for workloadSelector DestinationRules).
    """
    needs_labels = any(d.selector is not None for d in ctx.bound_rules)
    key = (pod.namespace, tuple(sorted(pod.labels.items())) if needs_labels else ())
    cluster_objs = (ctx.services, *ctx.destination_rules)
    got = _MEMO.get(("clusters", key), None, cluster_objs)
    if got is _MISS:
        got = build_outbound_clusters(ctx.services, ctx.bound_rules, pod.namespace, pod.labels)
        _MEMO.put(("clusters", key), None, cluster_objs, got)
    return cast(tuple[dict[str, Cluster], list[str]], got)


@dataclass(frozen=True, slots=True)
class _ServiceTargets:
    """A gateway pod's ``Proxy.ServiceTargets`` (pilot/pkg/model/context.go ``SetServiceTargets``):
    ``(service host, port, target port)`` for each Service in its namespace selecting it, and
    ``resolvePorts`` over them (pilot/pkg/model/gateway.go; docs/behaviour.md §2)."""

    targets: tuple[tuple[str, int, int], ...]

    @classmethod
    def of(cls, pod: Pod, services: Mapping[str, ServiceInfo]) -> _ServiceTargets:
        """The targets of ``pod`` among the registry's Kubernetes Services."""
        targets: list[tuple[str, int, int]] = []
        for svc in services.values():
            if svc.kind != "Service" or svc.namespace != pod.namespace or not svc.selector:
                continue
            if not _subset(svc.selector, pod.labels):
                continue
            for p in svc.ports:
                for e in svc.endpoints.get(p.port, ()):
                    if e.address == pod.ip:
                        targets.append((svc.hostname, p.port, e.port))
                        break
        return cls(tuple(targets))

    def resolve_port(self, number: int) -> int:
        """``resolvePorts`` for a label-selected Gateway: the first target, else the port as-is."""
        for _, port, target in self.targets:
            if port == number:
                return target
        return number

    def resolve_server(self, gw: Gateway, number: int) -> int | None:
        """``resolvePorts`` for one Gateway: a Gateway API one only through its own Services."""
        bound = _gateway_services(gw)
        if bound is None:
            return self.resolve_port(number)  # legacyGatewaySelector: the port as-is when no Service has it
        for host, port, target in self.targets:
            if host in bound and port == number:
                return target
        return None


def _gateway_listeners_and_routes(
    ctx: _PushContext, pod: Pod, cluster_sds: list[str], log: list[str]
) -> tuple[tuple[Listener, ...], dict[str, RouteConfiguration], list[str]]:
    """A gateway pod's ``buildGatewayListeners`` and ``buildGatewayHTTPRouteConfig``: listeners,
    route configurations and the SDS names they and the clusters use."""
    targets = _ServiceTargets.of(pod, ctx.services)
    # The Gateways that apply to this pod (docs/behaviour.md §3; PushContext.mergeGateways), in
    # creation order.
    labels_key = (tuple(sorted(pod.labels.items())), targets.targets)
    gw_objs = tuple(ctx.gateways)
    selected = _MEMO.get(("selected", pod.key), labels_key, gw_objs)
    if selected is _MISS:
        hosts = {t[0] for t in targets.targets}
        selected = [g for g in ctx.gateways if _selects(g, pod, hosts)]
        _MEMO.put(("selected", pod.key), labels_key, gw_objs, selected)
    gb = build_gateway_proxy(
        pod,
        selected,
        targets.resolve_port,
        ctx.vs_index,
        ctx.lookup,
        _ROUTE_CACHE,
        memo=_MEMO,
        port_key=targets.targets,
        resolve_server=targets.resolve_server,
        # ctx.lookup is derived from the registry: the same registry object answers alike.
        lookup_key=ctx.services,
    )
    log += gb.log
    return tuple(gb.listeners), gb.route_configs, gb.sds + [n for n in cluster_sds if n not in gb.sds]


def _sidecar_listeners_and_routes(ctx: _PushContext, pod: Pod) -> SidecarBuild:
    """A sidecar's ``buildSidecarListeners`` and routes over the ``mesh`` VirtualServices it sees
    (``SidecarScope``), remembered.

    A sidecar's config is a function of the pod, the registry (the lookup derives from it), the
    mesh VirtualServices it sees and the mesh settings.
    """
    mesh_vs = [
        b
        for b in ctx.virtual_services
        if "mesh" in b.gateways and b.visible_to(pod.namespace) and _mesh_route_applies(b, pod, ctx.services)
    ]
    sidecar_objs = (pod, ctx.services, *(b.vs for b in mesh_vs))
    sb = _MEMO.get(("sidecar", pod.key), ctx.settings, sidecar_objs)
    if sb is _MISS:
        sb = build_sidecar_proxy(pod, ctx.services, mesh_vs, ctx.lookup, ctx.settings)
        _MEMO.put(("sidecar", pod.key), ctx.settings, sidecar_objs, sb)
    return cast(SidecarBuild, sb)


def _generate_secrets(ctx: _PushContext, pod: Pod, sds: list[str]) -> dict[str, SecretMaterial]:
    """``SecretGen.Generate`` (pilot/pkg/xds/sds.go): the material behind each SDS name, remembered.

    It depends on the names, the pod (namespace, volumes) and the Secrets and ConfigMaps.
    """
    sds_key = (pod, tuple(sds))  # the pod by value: a rebuilt but equal pod resolves alike
    got = _MEMO.get(("sds", pod.key), sds_key, ctx.secret_objs)
    if got is _MISS:
        got = {}
        for name in sds:
            m = resolve_secret(name, pod, ctx.secrets, ctx.configmaps)
            if m is not None:
                got[name] = m
        _MEMO.put(("sds", pod.key), sds_key, ctx.secret_objs, got)
    return cast(dict[str, SecretMaterial], got)


def _build_proxy(ctx: _PushContext, pod: Pod) -> ProxyConfig:
    """What istiod pushes one gateway pod or sidecar: listeners, routes, clusters, secrets."""
    outbound, cluster_sds = _build_clusters(ctx, pod)
    log: list[str] = []
    clusters: dict[str, Cluster]
    if pod.kind == "gateway":
        listeners, route_configs, sds = _gateway_listeners_and_routes(ctx, pod, cluster_sds, log)
        clusters = outbound
        ptype = "router"
    else:
        sb = _sidecar_listeners_and_routes(ctx, pod)
        listeners, route_configs = tuple(sb.listeners), sb.route_configs
        clusters = {**outbound, **sb.inbound_clusters}
        sds = list(cluster_sds)
        ptype = "sidecar"
    materials = _generate_secrets(ctx, pod, sds)
    log.extend(m.error or m.invalid or "" for m in materials.values() if m.error or m.invalid)
    return ProxyConfig(
        id=f"{pod.name}.{pod.namespace}",
        type=ptype,  # type: ignore[arg-type]
        namespace=pod.namespace,
        workload=pod.deployment,
        service_account=pod.service_account,
        labels=tuple(sorted(pod.labels.items())),
        listeners=listeners,
        route_configs=route_configs,
        clusters=clusters,
        secrets=materials,
        log=tuple(log),
    )


def translate(
    snapshot: SnapshotLike, mesh: MeshSettings | None = None, *, retired_pods: frozenset[str] = frozenset()
) -> XdsState:
    """Translate a configuration snapshot into per-proxy Envoy config.

    Args:
        snapshot: anything with ``list(kind)`` returning typed models in creation order (the
            config store's ``Snapshot``).
        mesh: overrides the mesh settings read from the ``istio`` ConfigMap (:func:`mesh_settings`).
        retired_pods: ``"<namespace>/<pod>"`` names of pods clients deleted (their replacements
            get new names, as the ReplicaSet controller's do).

    Returns:
        The :class:`XdsState`. Never raises for odd-but-valid configuration: what istiod
        would ignore is ignored and logged in ``XdsState.log``.
    """
    settings = mesh if mesh is not None else mesh_settings(snapshot)
    ctx = _init_context(snapshot, settings, retired_pods)
    if len(_ROUTE_CACHE) > _ROUTE_CACHE_MAX:
        _ROUTE_CACHE.clear()
    proxies: dict[str, ProxyConfig] = {}
    all_log: list[str] = []
    for pod in ctx.pods:
        if pod.kind == "plain":
            continue
        proxy = proxies[pod.key] = _build_proxy(ctx, pod)
        all_log.extend(proxy.log)
    return XdsState(
        pods=ctx.pods,
        proxies=proxies,
        services=ctx.services,
        log=tuple(dict.fromkeys(all_log)),
        mesh=settings,
    )
