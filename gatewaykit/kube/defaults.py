"""What the API server fills in when it stores an object: defaults and allocated fields.

``kubectl get -o yaml`` shows an object as the API server stored it, not as it was written:
``spec.type: ClusterIP``, an allocated ``clusterIP``, ``imagePullPolicy``, ``revisionHistoryLimit``...
These functions transcribe Kubernetes' defaulting (``pkg/apis/core/v1/defaults.go``,
``pkg/apis/apps/v1/defaults.go``) and the Service REST strategy's allocations
(``pkg/registry/core/service/storage``) for the kinds the sandbox serves.

Rule: no I/O here. Allocators are passed in (the sandbox's node-port allocator holds real ports).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = [
    "NODE_PORT_RANGE",
    "NodePortAllocator",
    "NodePortError",
    "ServiceContext",
    "allocate_cluster_ip",
    "default_object",
    "image_pull_policy",
]

#: ``--service-node-port-range`` of kube-apiserver (and of kind).
NODE_PORT_RANGE = (30000, 32767)

#: ``(namespace, service name, port index, requested nodePort or None) -> nodePort``; raises
#: ``ValueError("provided port is already allocated")`` (or ``"range is full"``) when it cannot.
NodePortAllocator = Callable[[str, str, int, "int | None"], int]


class NodePortError(ValueError):
    """A node port could not be allocated: which port entry, the value, and the allocator's why."""

    def __init__(self, index: int, port: int | None, why: str) -> None:
        super().__init__(why)
        self.index, self.port, self.why = index, port, why


# 10.96.0.1 (the kubernetes Service) and 10.96.0.10 (kube-dns) are taken on every cluster.
_RESERVED_IPS = frozenset({"10.96.0.1", "10.96.0.10"})


def allocate_cluster_ip(used: set[str], seed: str, prefix: tuple[int, int] = (10, 96)) -> str:
    """A free address in ``prefix.0.0/16``, stable for ``seed`` (``namespace/name``).

    Real clusters allocate at random; a stable choice keeps lab outputs comparable between runs.
    The address is added to ``used``.
    """
    h = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:4], "big")
    for probe in range(65024):
        v = (h + probe) % 65024
        ip = f"{prefix[0]}.{prefix[1]}.{v // 254}.{v % 254 + 1}"
        if ip in _RESERVED_IPS or ip in used:
            continue
        used.add(ip)
        return ip
    raise ValueError("range is full")


def image_pull_policy(image: str) -> str:
    """``Always`` for ``:latest`` or untagged images, else ``IfNotPresent`` (core/v1 defaults)."""
    name = image.split("@", 1)[0]
    if "@" in image:
        return "IfNotPresent"
    last = name.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def _list_at(obj: dict[str, Any], key: str) -> list[Any]:
    """``obj[key]`` when it is a list, else nothing to default."""
    value = obj.get(key)
    return value if isinstance(value, list) else []


def _default_container(c: dict[str, Any]) -> None:
    c.setdefault("imagePullPolicy", image_pull_policy(str(c.get("image", ""))))
    c.setdefault("resources", {})
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    for p in _list_at(c, "ports"):
        if isinstance(p, dict):
            p.setdefault("protocol", "TCP")


def _default_pod_spec(spec: dict[str, Any]) -> None:
    """``SetDefaults_PodSpec`` and the container defaults."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for key in ("containers", "initContainers"):
        for c in _list_at(spec, key):
            if isinstance(c, dict):
                _default_container(c)


def _dict_at(obj: dict[str, Any], key: str) -> dict[str, Any] | None:
    """``obj[key]``, created empty when absent; None when it holds something else than a map
    (decoding refuses such an object before it is stored; defaulting just leaves it alone)."""
    value = obj.setdefault(key, {})
    return value if isinstance(value, dict) else None


def _default_deployment(obj: dict[str, Any], _: Any) -> None:
    """``SetDefaults_Deployment`` (apps/v1)."""
    spec = _dict_at(obj, "spec")
    if spec is None:
        return
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    strategy = _dict_at(spec, "strategy")
    if strategy is not None:
        strategy.setdefault("type", "RollingUpdate")
        rolling = _dict_at(strategy, "rollingUpdate") if strategy["type"] == "RollingUpdate" else None
        if rolling is not None:
            rolling.setdefault("maxUnavailable", "25%")
            rolling.setdefault("maxSurge", "25%")
    template = _dict_at(spec, "template")
    if template is not None:
        meta = _dict_at(template, "metadata")
        if meta is not None:
            meta.setdefault("creationTimestamp", None)
        pod_spec = _dict_at(template, "spec")
        if pod_spec is not None:
            _default_pod_spec(pod_spec)


def _default_namespace(obj: dict[str, Any], _: Any) -> None:
    """The namespace's ``kubernetes`` finalizer and the ``kubernetes.io/metadata.name`` label
    (added by the API server since Kubernetes 1.21)."""
    name = obj["metadata"]["name"]
    labels = _dict_at(obj["metadata"], "labels")
    if labels is not None:
        labels["kubernetes.io/metadata.name"] = name
    spec, status = _dict_at(obj, "spec"), _dict_at(obj, "status")
    if spec is not None:
        spec.setdefault("finalizers", ["kubernetes"])
    if status is not None:
        status.setdefault("phase", "Active")


def _default_secret(obj: dict[str, Any], _: Any) -> None:
    obj.setdefault("type", "Opaque")


class ServiceContext:
    """What Service defaulting needs from the rest of the store."""

    def __init__(self, used_ips: Iterable[str], node_ports: NodePortAllocator | None) -> None:
        self.used_ips = set(used_ips)
        self.node_ports = node_ports


def _default_service(obj: dict[str, Any], ctx: Any) -> None:
    """``SetDefaults_Service`` plus the allocations of the Service REST storage."""
    spec = _dict_at(obj, "spec")
    if spec is None:
        return
    stype = spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    for p in _list_at(spec, "ports"):
        if isinstance(p, dict):
            p.setdefault("protocol", "TCP")
            if "targetPort" not in p and "port" in p:
                p["targetPort"] = p["port"]
    if stype != "ExternalName":
        spec.setdefault("internalTrafficPolicy", "Cluster")
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        if not spec.get("clusterIP"):
            meta = obj["metadata"]
            used = ctx.used_ips if isinstance(ctx, ServiceContext) else set()
            spec["clusterIP"] = allocate_cluster_ip(used, f"{meta.get('namespace', '')}/{meta['name']}")
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
    if stype in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
        if stype == "LoadBalancer":
            spec.setdefault("allocateLoadBalancerNodePorts", True)
        _allocate_node_ports(obj, ctx)
    status = _dict_at(obj, "status")
    if status is not None:
        status.setdefault("loadBalancer", {})


def _allocate_node_ports(obj: dict[str, Any], ctx: Any) -> None:
    allocator = ctx.node_ports if isinstance(ctx, ServiceContext) else None
    meta = obj["metadata"]
    ports = obj["spec"].get("ports")
    for i, p in enumerate(ports if isinstance(ports, list) else []):
        if not isinstance(p, dict):
            continue
        requested = p.get("nodePort") if isinstance(p.get("nodePort"), int) else None
        if allocator is None:
            p["nodePort"] = requested or _stable_node_port(f"{meta.get('namespace')}/{meta['name']}/{i}")
            continue
        try:
            p["nodePort"] = allocator(meta.get("namespace", ""), meta["name"], i, requested)
        except ValueError as exc:
            raise NodePortError(i, requested, str(exc)) from exc


def _stable_node_port(seed: str) -> int:
    low, high = NODE_PORT_RANGE
    h = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:4], "big")
    return low + h % (high - low + 1)


_DEFAULTERS: Mapping[str, Callable[[dict[str, Any], Any], None]] = {
    "Deployment": _default_deployment,
    "Namespace": _default_namespace,
    "Secret": _default_secret,
    "Service": _default_service,
}


def default_object(kind: str, obj: dict[str, Any], ctx: Any = None) -> dict[str, Any]:
    """Fill in ``obj`` (in place, and returned) as the API server would for ``kind``.

    Args:
        kind: the object's kind.
        obj: the object, with ``metadata.name`` (and ``namespace`` if namespaced) set.
        ctx: a :class:`ServiceContext` for Services (used cluster IPs, node-port allocator).

    Raises:
        ValueError: a node port could not be allocated (the message is the API server's).
    """
    fn = _DEFAULTERS.get(kind)
    if fn is not None:
        fn(obj, ctx)
    return obj
