"""The mesh model: pods derived from Deployments, Services with cluster IPs and endpoints, DNS.

Rule: no I/O here. This is what Kubernetes (kube-controller-manager, the scheduler, kube-proxy's
cluster IP allocator, CoreDNS) would produce from the applied objects, made deterministic so
that the same configuration always yields the same names and addresses (docs/design.md §3):

* pod names ``<deployment>-<10 char template hash>-<5 char id>`` (the ReplicaSet naming scheme),
* pod IPs ``10.244.0.N`` allocated in Deployment creation order,
* Service cluster IPs ``10.96.x.y`` derived from the Service's namespace/name,
* ServiceEntry hosts without ``addresses`` get ``240.240.x.y`` (Istio's auto-allocation range).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, cast

from gatewaykit._gofmt import quote
from gatewaykit._translate import hosts as H
from gatewaykit.envoy import Endpoint
from gatewaykit.errors import ValidationError
from gatewaykit.resources import protocol as P
from gatewaykit.resources.models import (
    Container,
    Deployment,
    Namespace,
    PodTemplateSpec,
    Resource,
    Service,
    ServiceEntry,
    Volume,
)

__all__ = [
    "MeshSettings",
    "Pod",
    "PortInfo",
    "ServiceInfo",
    "SnapshotLike",
    "build_pods",
    "build_services",
    "outbound_traffic_policy_mode",
    "injection_required",
    "injection_templates",
    "injection_webhook",
    "pod_protocol_for_port",
]


class SnapshotLike(Protocol):
    """What :func:`gatewaykit._translate.translate` needs from a config store snapshot.

    ``list(kind)`` returns the typed models of that kind in creation order (oldest first),
    which is the order Istio uses to resolve conflicts (docs/behaviour.md §3, §10).
    """

    def list(self, kind: str) -> Sequence[Resource]:
        """All objects of ``kind`` in creation order."""
        ...


#: ``istio.mesh.v1alpha1.MeshConfig.OutboundTrafficPolicy.Mode``.
OutboundTrafficPolicyMode = Literal["ALLOW_ANY", "REGISTRY_ONLY"]


@dataclass(frozen=True, slots=True)
class MeshSettings:
    """Mesh-wide settings (``meshConfig``) that change translation.

    Args:
        outbound_traffic_policy: ``ALLOW_ANY`` (Istio's default) or ``REGISTRY_ONLY``
        (docs/behaviour.md §11.2).
        alpha_gateway_api: istiod's ``PILOT_ENABLE_ALPHA_GATEWAY_API`` (default false): TLS/TCP
            listeners, TLSRoute and TCPRoute (pilot/pkg/features/experimental.go).
    """

    outbound_traffic_policy: OutboundTrafficPolicyMode = "ALLOW_ANY"
    alpha_gateway_api: bool = False


def outbound_traffic_policy_mode(mode: str) -> OutboundTrafficPolicyMode:
    """Check a ``meshConfig.outboundTrafficPolicy.mode`` as ``istioctl install`` does.

    Args:
        mode: the mode as given (``REGISTRY_ONLY``, ``ALLOW_ANY``).

    Returns:
        The mode.

    Raises:
        ValidationError: any other value, with Istio's words: ``ApplyMeshConfig``
            (pkg/config/mesh/mesh.go) prefixes ``failed to convert to proto.`` to the jsonpb
            decoding error of the enum (golang/protobuf ``jsonpb``: ``unknown value %q for enum
            %s``, the value quoted as its JSON text); ``istioctl install`` prints it after
            ``Error: generate config: ``.
    """
    if mode in ("ALLOW_ANY", "REGISTRY_ONLY"):
        return cast(OutboundTrafficPolicyMode, mode)
    raise ValidationError(
        f"failed to convert to proto. unknown value {quote(json.dumps(mode, ensure_ascii=False))} "
        "for enum istio.mesh.v1alpha1.MeshConfig.OutboundTrafficPolicy.Mode"
    )


PodKind = Literal["gateway", "sidecar", "plain"]


@dataclass(frozen=True, slots=True)
class Pod:
    """One pod of a Deployment, as the scheduler would create it.

    ``ports`` are the container ports (``containerPort``) of all containers, as the Deployment
    declares them; ``kind`` says whether the pod runs a gateway proxy, a sidecar, or no proxy at
    all; ``injected`` whether Istio's injector mutated it when it was created (a gateway from the
    ``gateway`` template, or a sidecar) -- a pod that was not keeps ``image: auto``.
    """

    name: str
    namespace: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    ip: str
    deployment: str
    containers: tuple[Container, ...]
    ports: tuple[int, ...]
    kind: PodKind
    volumes: tuple[Volume, ...] = ()
    service_account: str = "default"
    injected: bool = False

    @property
    def key(self) -> str:
        """``<namespace>/<pod name>`` (the key of :attr:`XdsState.proxies`)."""
        return f"{self.namespace}/{self.name}"

    def named_port(self, name: str) -> int | None:
        """The ``containerPort`` whose ``name`` is ``name`` (Service ``targetPort: http``)."""
        for c in self.containers:
            for p in c.ports:
                if p.name == name and p.containerPort is not None:
                    return p.containerPort
        return None


@dataclass(frozen=True, slots=True)
class PortInfo:
    """One port of a Service or ServiceEntry, with its Istio protocol.

    ``target_port`` is the Kubernetes ``targetPort`` (int, a container port name, or None =
    same as ``port``); for ServiceEntries it is the ``targetPort`` field.
    """

    port: int
    name: str
    protocol: str
    target_port: int | str | None = None


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    """A host in Istio's service registry: a Kubernetes Service or a ServiceEntry host.

    ``endpoints`` maps each service port to the endpoints behind it (pod address and the
    resolved target port; ServiceEntry endpoints or the DNS host itself).
    """

    hostname: str
    namespace: str
    name: str
    kind: Literal["Service", "ServiceEntry"]
    addresses: tuple[str, ...]
    ports: tuple[PortInfo, ...]
    endpoints: Mapping[int, tuple[Endpoint, ...]] = field(default_factory=dict)
    selector: Mapping[str, str] = field(default_factory=dict)
    resolution: str = "STATIC"
    location: str = "MESH_INTERNAL"
    export_to: tuple[str, ...] = ()
    origin: Resource | None = field(default=None, compare=False, repr=False)

    @property
    def cluster_ip(self) -> str | None:
        """The first address (the Kubernetes cluster IP), or None."""
        return self.addresses[0] if self.addresses else None

    def port(self, number: int) -> PortInfo | None:
        """The port with ``port == number``."""
        for p in self.ports:
            if p.port == number:
                return p
        return None

    def visible_to(self, namespace: str) -> bool:
        """ServiceEntry ``exportTo`` (docs/behaviour.md §4.1); Kubernetes Services are visible everywhere."""
        if not self.export_to:
            return True
        for e in self.export_to:
            if e == "*" or e == namespace or (e == "." and namespace == self.namespace):
                return True
        return False


# ----------------------------------------------------------------- protocols


def _k8s_port_protocol(port: int, name: str, app_protocol: str, proto: str) -> str:
    """Istio's protocol for a Kubernetes Service port (``kube.ConvertProtocol``), ``auto`` where
    Istio has ``UnsupportedProtocol``: protocol sniffing, which detects HTTP."""
    p = P.convert_protocol(port, name, proto, app_protocol or None)
    return "auto" if p == P.UNSUPPORTED else p


def pod_protocol_for_port(services: Sequence[ServiceInfo], pod: Pod, port: int) -> str:
    """The protocol of a pod's container port, from the Services that target it (else auto)."""
    for svc in services:
        if svc.kind != "Service" or svc.namespace != pod.namespace:
            continue
        if not svc.selector or not _subset(svc.selector, pod.labels):
            continue
        for p in svc.ports:
            if _target(p, pod) == port:
                return p.protocol
    return "auto"


# ---------------------------------------------------------------------- pods

_ALNUM = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes rand.SafeEncodeString alphabet


def _safe(digest: bytes, n: int) -> str:
    return "".join(_ALNUM[b % len(_ALNUM)] for b in digest[:n])


def _canonical(value: Any) -> str:
    """A stable text of a model for hashing: what is set, not how the model class looks.

    The ReplicaSet's ``pod-template-hash`` must change when the pod template does, and only then:
    fields a newer model class adds (with their defaults) must not rename every pod.
    """
    return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"), default=str)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            v = _plain(getattr(value, f.name))
            if f.name != "source" and v not in (None, "", (), [], {}, 0, False):
                out[f.name] = v
        return out
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _subset(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


# The sidecar injector's webhooks (Istio 1.27, default revision): which pods the API server sends to
# istiod at all. manifests/charts/istio-control/istio-discovery/templates/mutatingwebhook.yaml:
# (webhook name, namespaceSelector, objectSelector), each a list of matchExpressions
# (key, operator, values). Only labels count here -- the `sidecar.istio.io/inject` *annotation*
# never selects a pod for injection (https://istio.io/latest/docs/setup/additional-setup/sidecar-injection/).
_Requirement = tuple[str, str, tuple[str, ...]]
_WEBHOOKS: tuple[tuple[str, tuple[_Requirement, ...], tuple[_Requirement, ...]], ...] = (
    (
        "rev.namespace.sidecar-injector.istio.io",
        (("istio.io/rev", "In", ("default",)), ("istio-injection", "DoesNotExist", ())),
        (("sidecar.istio.io/inject", "NotIn", ("false",)),),
    ),
    (
        "rev.object.sidecar-injector.istio.io",
        (("istio.io/rev", "DoesNotExist", ()), ("istio-injection", "DoesNotExist", ())),
        (("sidecar.istio.io/inject", "NotIn", ("false",)), ("istio.io/rev", "In", ("default",))),
    ),
    (
        "namespace.sidecar-injector.istio.io",
        (("istio-injection", "In", ("enabled",)),),
        (("sidecar.istio.io/inject", "NotIn", ("false",)),),
    ),
    (
        "object.sidecar-injector.istio.io",
        (("istio-injection", "DoesNotExist", ()), ("istio.io/rev", "DoesNotExist", ())),
        (("sidecar.istio.io/inject", "In", ("true",)), ("istio.io/rev", "DoesNotExist", ())),
    ),
)

# pkg/kube/inject/initializer.go IgnoredNamespaces: injectRequired never injects here.
_IGNORED_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease", "local-path-storage"})

#: The ``sidecar.istio.io/status`` annotation the injector leaves on every pod it mutated.
SIDECAR_STATUS = "sidecar.istio.io/status"


def _is_control_plane(dep: Deployment) -> bool:
    """istiod, as ``istioctl install`` deploys it (``app: istiod`` in the install namespace)."""
    return dep.metadata.name.startswith("istiod") and dep.metadata.labels.get("app") == "istiod"


def _requirement_holds(req: _Requirement, labels: Mapping[str, str]) -> bool:
    """One ``matchExpressions`` entry (k8s.io/apimachinery labels.Requirement.Matches)."""
    key, op, values = req
    if op == "In":
        return key in labels and labels[key] in values
    if op == "NotIn":  # also true when the key is absent
        return labels.get(key) not in values
    if op == "Exists":
        return key in labels
    return key not in labels  # DoesNotExist


def injection_webhook(namespace_labels: Mapping[str, str], pod_labels: Mapping[str, str]) -> str | None:
    """The injection webhook the API server calls for a new pod, or None (no webhook matches).

    Args:
        namespace_labels: the labels of the pod's namespace (``istio-injection``, ``istio.io/rev``).
        pod_labels: the pod's labels (``sidecar.istio.io/inject``, ``istio.io/rev``).
    """
    for name, ns_selector, object_selector in _WEBHOOKS:
        if all(_requirement_holds(r, namespace_labels) for r in ns_selector) and all(
            _requirement_holds(r, pod_labels) for r in object_selector
        ):
            return name
    return None


def injection_required(
    namespace: str,
    namespace_labels: Mapping[str, str],
    pod_labels: Mapping[str, str],
    pod_annotations: Mapping[str, str],
) -> bool:
    """Whether istiod injects a pod created now: a webhook selects it, then ``injectRequired``.

    ``injectRequired`` (pkg/kube/inject/inject.go): never in the ignored system namespaces; the
    ``sidecar.istio.io/inject`` label (else the annotation) decides when it is ``true``/``false``;
    otherwise the policy (``autoInject: enabled``) injects.
    """
    if injection_webhook(namespace_labels, pod_labels) is None or namespace in _IGNORED_NAMESPACES:
        return False
    choice = pod_labels.get("sidecar.istio.io/inject", pod_annotations.get("sidecar.istio.io/inject", ""))
    return choice != "false"


# The volumes both injection templates add (injection-template.yaml, gateway-injection-template.yaml,
# with pilotCertProvider istiod), in the templates' order.
INJECTED_VOLUMES: tuple[dict[str, Any], ...] = (
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
                        "path": "istio-token",
                        "expirationSeconds": 43200,
                        "audience": "istio-ca",
                    }
                }
            ]
        },
    },
    {"name": "istiod-ca-cert", "configMap": {"name": "istio-ca-root-cert"}},
)


# The istio-proxy container's mounts of those volumes, in the templates' order.
INJECTED_VOLUME_MOUNTS: tuple[dict[str, str], ...] = (
    {"name": "workload-socket", "mountPath": "/var/run/secrets/workload-spiffe-uds"},
    {"name": "credential-socket", "mountPath": "/var/run/secrets/credential-uds"},
    {"name": "workload-certs", "mountPath": "/var/run/secrets/workload-spiffe-credentials"},
    {"name": "istiod-ca-cert", "mountPath": "/var/run/secrets/istio"},
    {"name": "istio-data", "mountPath": "/var/lib/istio/data"},
    {"name": "istio-envoy", "mountPath": "/etc/istio/proxy"},
    {"name": "istio-token", "mountPath": "/var/run/secrets/tokens"},
    {"name": "istio-podinfo", "mountPath": "/etc/istio/pod"},
)


def injection_templates(annotations: Mapping[str, str]) -> tuple[str, ...]:
    """The templates the injector renders: ``inject.istio.io/templates`` (comma-separated), else
    ``sidecar`` (inject.go selectTemplates)."""
    given = annotations.get("inject.istio.io/templates")
    if given is None:
        return ("sidecar",)
    return tuple(name.strip() for name in given.split(","))


def _runs_proxy_router(template: PodTemplateSpec) -> bool:
    """A pod whose own ``istio-proxy`` container runs the proxy image, as Istio's gateway charts
    deploy ``istio-ingressgateway`` (``proxyv2``, ``proxy router``, injection disabled)."""
    return any(c.name == "istio-proxy" and "proxyv2" in c.image for c in template.spec.containers)


def _pod_kind(injected: bool, template: PodTemplateSpec) -> PodKind:
    if injected:
        # The gateway template makes the `istio-proxy` container a router (proxy router).
        gateway = "gateway" in injection_templates(template.metadata.annotations)
        return "gateway" if gateway else "sidecar"
    return "gateway" if _runs_proxy_router(template) else "plain"


def _pod_name(ns: str, deployment: str, tmpl_hash: str, slot: int, retired: frozenset[str]) -> str:
    """``<deployment>-<pod-template-hash>-<5 chars>``, stable per slot until a client deletes the pod."""
    generation = 0
    while True:
        seed = f"{ns}/{deployment}/{tmpl_hash}/{slot}" + (f"/{generation}" if generation else "")
        name = f"{deployment}-{tmpl_hash}-{_safe(hashlib.sha256(seed.encode()).digest(), 5)}"
        if f"{ns}/{name}" not in retired:
            return name
        generation += 1


def build_pods(
    deployments: Sequence[Deployment],
    namespaces: Mapping[str, Namespace],
    created: Mapping[str, bool] | None = None,
    retired: frozenset[str] = frozenset(),
) -> tuple[Pod, ...]:
    """Derive the pods of every Deployment, in Deployment creation order.

    Injection is decided when a pod is created (the webhook mutates it at admission): a pod that
    already exists keeps what it got, even if its namespace was labelled since; a changed pod
    template (``kubectl rollout restart``) gives new pod names, and new pods decide again.

    Args:
        deployments: Deployments in creation order.
        namespaces: Namespace objects by name (their injection labels).
        created: pods that exist already, ``"<namespace>/<pod name>"`` → whether they were injected.
        retired: ``"<namespace>/<pod name>"`` of pods a client deleted: the ReplicaSet controller
            replaces a deleted pod by a new one, with a new name (``kubectl delete pod`` restarts).

    Returns:
        The pods; IPs ``10.244.0.N`` are allocated in this order (N from 5; the first
        addresses of a node's pod CIDR are taken by system pods on a real kind cluster). istiod's
        pods count among those system pods (``10.244.0.4`` down), so that workload addresses stay
        the same whether the control plane was installed first or (re)installed later.
    """
    created = created or {}
    pods: list[Pod] = []
    n = 5
    control_plane = 4
    for dep in deployments:
        ns = dep.metadata.namespace
        template = dep.spec.template
        labels = template.metadata.labels  # FrozenMap: immutable
        annotations = template.metadata.annotations
        ns_obj = namespaces.get(ns)
        ns_labels = ns_obj.metadata.labels if ns_obj is not None else {}
        # A template ``istioctl kube-inject`` wrote carries its sidecar whether a webhook selects
        # the pod or not (when one does, the injector strips and injects afresh: inject.go stripPod).
        decided = SIDECAR_STATUS in annotations or injection_required(ns, ns_labels, labels, annotations)
        # The ReplicaSet's pod-template-hash: deterministic from the pod template.
        tmpl_hash = _safe(hashlib.sha256(_canonical(template).encode()).digest(), 10)
        ports = tuple(
            p.containerPort for c in template.spec.containers for p in c.ports if p.containerPort is not None
        )
        for i in range(max(0, dep.spec.replicas)):
            name = _pod_name(ns, dep.metadata.name, tmpl_hash, i, retired)
            injected = created.get(f"{ns}/{name}", decided)
            if _is_control_plane(dep) and control_plane > 1:
                ip = f"10.244.0.{control_plane}"
                control_plane -= 1
            else:
                ip = f"10.244.{n // 256}.{n % 256}"
                n += 1
            pods.append(
                Pod(
                    name=name,
                    namespace=ns,
                    labels=labels,
                    annotations=annotations,
                    ip=ip,
                    deployment=dep.metadata.name,
                    containers=template.spec.containers,
                    ports=ports,
                    kind=_pod_kind(injected, template),
                    volumes=template.spec.volumes,
                    # The ServiceAccount admission plugin: no serviceAccountName means "default".
                    service_account=template.spec.serviceAccountName or "default",
                    injected=injected,
                )
            )
    return tuple(pods)


# ------------------------------------------------------------------ services


def _target(p: PortInfo, pod: Pod) -> int | None:
    tp = p.target_port
    if tp is None:
        return p.port
    if isinstance(tp, int):
        return tp
    if tp.isdigit():
        return int(tp)
    return pod.named_port(tp)


def _alloc(used: set[str], seed: str, prefix: tuple[int, int]) -> str:
    h = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:4], "big")
    for probe in range(65000):
        v = (h + probe) % 65024
        third, fourth = v // 254, v % 254 + 1
        ip = f"{prefix[0]}.{prefix[1]}.{third}.{fourth}"
        # 10.96.0.1 (kubernetes) and 10.96.0.10 (kube-dns) are taken on a real cluster.
        if ip in ("10.96.0.1", "10.96.0.10") or ip in used:
            continue
        used.add(ip)
        return ip
    return f"{prefix[0]}.{prefix[1]}.255.254"


def build_services(
    services: Sequence[Service], entries: Sequence[ServiceEntry], pods: Sequence[Pod]
) -> dict[str, ServiceInfo]:
    """Build the service registry: Kubernetes Services first, then ServiceEntry hosts.

    Args:
        services: Services in creation order.
        entries: ServiceEntries in creation order.
        pods: the pods (for Service endpoints).

    Returns:
        ``{hostname: ServiceInfo}``. A host defined by a Service is not overridden by a
        ServiceEntry; of two ServiceEntries for one host the older wins.
    """
    out: dict[str, ServiceInfo] = {}
    used: set[str] = set()
    for svc in services:
        if svc.spec.clusterIP and svc.spec.clusterIP != "None":
            used.add(svc.spec.clusterIP)
    for svc in services:
        info = _convert_service(svc, pods, used)
        out[info.hostname] = info
    for se in entries:
        for info in _convert_service_entry(se, used, out):
            out[info.hostname] = info
    return out


def _convert_service(svc: Service, pods: Sequence[Pod], used: set[str]) -> ServiceInfo:
    """A Kubernetes Service in the registry (pilot/pkg/serviceregistry/kube/conversion.go
    ``ConvertService``), with the endpoints of the pods it selects (the EndpointSlice controller's).

    A Service without a ``clusterIP`` gets one allocated from 10.96.0.0/16, avoiding ``used``.
    """
    ns, name = svc.metadata.namespace, svc.metadata.name
    fqdn = f"{name}.{ns}.svc.{H.DOMAIN_SUFFIX}"
    cip = svc.spec.clusterIP
    if not cip:
        cip = _alloc(used, f"{ns}/{name}", (10, 96))
    vips: tuple[str, ...] = () if cip == "None" else (cip,)
    ports = tuple(
        PortInfo(
            port=p.port,
            name=p.name,
            protocol=_k8s_port_protocol(p.port, p.name, p.appProtocol, p.protocol),
            target_port=p.targetPort,
        )
        for p in svc.spec.ports
        if p.port is not None
    )
    selector = svc.spec.selector
    eps: dict[int, tuple[Endpoint, ...]] = {}
    selected = [pod for pod in pods if selector and pod.namespace == ns and _subset(selector, pod.labels)]
    for p in ports:
        lst = []
        for pod in selected:
            tp = _target(p, pod)
            if tp is None:
                # A named targetPort the pod does not define: Kubernetes leaves it out.
                continue
            lst.append(
                Endpoint(address=pod.ip, port=tp, workload=pod.name, labels=tuple(sorted(pod.labels.items())))
            )
        eps[p.port] = tuple(lst)
    return ServiceInfo(
        hostname=fqdn,
        namespace=ns,
        name=name,
        kind="Service",
        addresses=vips,
        ports=ports,
        endpoints=eps,
        selector=selector,
        resolution="STATIC" if vips else "NONE",
        location="MESH_INTERNAL",
        origin=svc,
    )


def _convert_service_entry(
    se: ServiceEntry, used: set[str], known: Mapping[str, ServiceInfo]
) -> list[ServiceInfo]:
    """A ServiceEntry's hosts in the registry (pilot/pkg/serviceregistry/serviceentry/conversion.go
    ``convertServices``), with their endpoints (``convertServiceEntryToInstances``).

    Hosts already ``known`` (or repeated) are left out. A new host without addresses (not a
    wildcard) gets Istio's auto-allocated VIP, avoiding ``used``.
    """
    spec = se.spec
    ports = tuple(
        PortInfo(
            port=p.number,
            name=p.name,
            protocol=P.parse(p.protocol) if p.protocol else "TCP",
            target_port=p.targetPort,
        )
        for p in spec.ports
        if p.number is not None
    )
    out: list[ServiceInfo] = []
    for hostname in spec.hosts:
        host = hostname.lower()
        if host in known or any(o.hostname == host for o in out):
            continue
        addresses = tuple(spec.addresses)
        if not addresses and not H.is_wildcarded(host):
            # Istio auto-allocates ServiceEntry VIPs from 240.240.0.0/16 (DNS proxying).
            addresses = (_alloc(used, f"se:{host}", (240, 240)),)
        out.append(
            ServiceInfo(
                hostname=host,
                namespace=se.metadata.namespace,
                name=se.metadata.name,
                kind="ServiceEntry",
                addresses=addresses,
                ports=ports,
                endpoints={p.port: _service_entry_endpoints(se, p, host) for p in ports},
                resolution=spec.resolution,
                location=spec.location,
                export_to=tuple(spec.exportTo),
                origin=se,
            )
        )
    return out


def _service_entry_endpoints(se: ServiceEntry, p: PortInfo, host: str) -> tuple[Endpoint, ...]:
    """``convertEndpoint`` for one port of one ServiceEntry host: its ``endpoints``, or the host
    itself for DNS resolution without endpoints (the proxy resolves it, docs/behaviour.md §11.1)."""
    spec = se.spec
    target = p.target_port if isinstance(p.target_port, int) else p.port
    if spec.resolution == "NONE":
        return ()
    if spec.endpoints:
        return tuple(
            Endpoint(
                address=e.address,
                port=e.ports.get(p.name, target) if p.name else target,
                workload=host,
                labels=tuple(sorted(e.labels.items())),
            )
            for e in spec.endpoints
        )
    if spec.resolution in ("DNS", "DNS_ROUND_ROBIN"):
        return (Endpoint(address=host, port=target, workload=host),)
    return ()
