"""Clusters: ``outbound|<port>|<subset>|<host>`` with endpoints and DestinationRule TLS (§11, §13).

Rule: no I/O here. Follows ``cluster_builder.go`` for names and types: EDS for Kubernetes
Services and STATIC ServiceEntries, STRICT_DNS/LOGICAL_DNS for DNS resolution, ORIGINAL_DST for
``resolution: NONE`` and ``PassthroughCluster``, a STATIC cluster without endpoints for
``BlackHoleCluster``. DestinationRule lookup follows ``SidecarScope.DestinationRule``: a rule in
the proxy's namespace first, then the service's namespace, then the root namespace
(``istio-system``), honouring ``exportTo`` and ``workloadSelector``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from gatewaykit._translate import hosts as H
from gatewaykit._translate.mesh import ServiceInfo
from gatewaykit._translate.routes import cluster_name
from gatewaykit.envoy import Cluster, Endpoint, UpstreamTlsContext
from gatewaykit.resources.models import ClientTLSSettings, DestinationRule, Subset, TrafficPolicy

__all__ = [
    "BLACKHOLE",
    "PASSTHROUGH",
    "BoundDestinationRule",
    "build_outbound_clusters",
    "select_destination_rule",
    "upstream_tls",
]

ROOT_NAMESPACE = "istio-system"
BLACKHOLE = Cluster(name="BlackHoleCluster", type="STATIC")
PASSTHROUGH = Cluster(name="PassthroughCluster", type="ORIGINAL_DST")


@dataclass(frozen=True, slots=True)
class BoundDestinationRule:
    """A DestinationRule with ``host`` resolved to an FQDN and ``exportTo`` normalised."""

    dr: DestinationRule
    namespace: str
    host: str
    export_to: frozenset[str]
    selector: Mapping[str, str] | None

    @classmethod
    def of(cls, dr: DestinationRule) -> BoundDestinationRule:
        """Resolve ``dr``."""
        ns = dr.metadata.namespace
        export = frozenset(ns if e == "." else e for e in dr.spec.exportTo) or frozenset({"*"})
        sel = dr.spec.workloadSelector.matchLabels if dr.spec.workloadSelector is not None else None
        return cls(dr, ns, H.resolve_shortname(dr.spec.host, ns).lower(), export, sel)

    def applies_to(self, proxy_ns: str, labels: Mapping[str, str]) -> bool:
        """Visibility (``exportTo``) and ``workloadSelector`` for a proxy."""
        if self.selector is not None:
            # A DestinationRule with a workloadSelector applies only to matching workloads in
            # its own namespace.
            return proxy_ns == self.namespace and all(labels.get(k) == v for k, v in self.selector.items())
        if "~" in self.export_to:
            return proxy_ns == self.namespace
        return "*" in self.export_to or proxy_ns in self.export_to or proxy_ns == self.namespace


def select_destination_rule(
    drs: Sequence[BoundDestinationRule], host: str, svc_ns: str, proxy_ns: str, labels: Mapping[str, str]
) -> BoundDestinationRule | None:
    """The DestinationRule that applies to ``host`` for a proxy, or None.

    Precedence (``SidecarScope.DestinationRule``): proxy namespace, then the service's namespace,
    then the root namespace, then any other; within one, exact host before wildcard, then
    creation order.
    """
    best: tuple[int, int, int] | None = None
    chosen: BoundDestinationRule | None = None
    for i, b in enumerate(drs):
        if not H.subset_of(host, b.host):
            continue
        if not b.applies_to(proxy_ns, labels):
            continue
        if b.namespace == proxy_ns:
            rank = 0
        elif b.namespace == svc_ns:
            rank = 1
        elif b.namespace == ROOT_NAMESPACE:
            rank = 2
        else:
            rank = 3
        key = (rank, 1 if H.is_wildcarded(b.host) else 0, i)
        if best is None or key < best:
            best, chosen = key, b
    return chosen


def _tls_from_policy(
    tp: TrafficPolicy | None, port: int, current: ClientTLSSettings | None
) -> ClientTLSSettings | None:
    if tp is None:
        return current
    out = tp.tls if tp.tls is not None else current
    for pls in tp.portLevelSettings:
        # portLevelSettings override the top-level policy for that port (§13).
        if pls.port is not None and pls.port.number == port and pls.tls is not None:
            out = pls.tls
    return out


def upstream_tls(settings: ClientTLSSettings | None, host: str) -> UpstreamTlsContext | None:
    """DestinationRule ``tls`` → Envoy ``UpstreamTlsContext`` (SDS names as Istio builds them).

    ``SIMPLE``/``MUTUAL`` without ``caCertificates`` verify against the system roots
    (``file-root:system``); ``credentialName`` uses ``kubernetes://<name>`` and
    ``kubernetes://<name>-cacert``; ``ISTIO_MUTUAL`` uses the workload identity (``default``,
    ``ROOTCA``). The SNI defaults to the destination host (Envoy ``auto_sni``, set by Istio).
    """
    if settings is None or settings.mode in ("DISABLE", ""):
        return None
    mode = settings.mode
    if mode == "ISTIO_MUTUAL":
        return UpstreamTlsContext(
            mode="ISTIO_MUTUAL",
            sni=settings.sni or None,
            certificate_sds="default",
            validation_sds="ROOTCA",
            alpn_protocols=("istio",),
            subject_alt_names=tuple(settings.subjectAltNames),
        )
    if mode not in ("SIMPLE", "MUTUAL"):
        return None
    cert = val = None
    if settings.credentialName:
        if mode == "MUTUAL":
            cert = f"kubernetes://{settings.credentialName}"
        val = f"kubernetes://{settings.credentialName}-cacert"
    else:
        if mode == "MUTUAL" and settings.clientCertificate and settings.privateKey:
            cert = f"file-cert:{settings.clientCertificate}~{settings.privateKey}"
        if settings.caCertificates:
            val = f"file-root:{settings.caCertificates}"
    if val is None and not settings.insecureSkipVerify:
        val = "file-root:system"
    if settings.insecureSkipVerify:
        val = None
    return UpstreamTlsContext(
        mode=mode,  # type: ignore[arg-type]
        sni=settings.sni or (None if H.is_wildcarded(host) else host),
        certificate_sds=cert,
        validation_sds=val,
        subject_alt_names=tuple(settings.subjectAltNames),
        insecure_skip_verify=bool(settings.insecureSkipVerify),
    )


ClusterType = Literal["EDS", "STRICT_DNS", "LOGICAL_DNS", "STATIC", "ORIGINAL_DST"]


def _cluster_type(svc: ServiceInfo) -> ClusterType:
    if svc.kind == "Service":
        return "EDS"
    types: dict[str, ClusterType] = {
        "STATIC": "EDS",
        "DNS": "STRICT_DNS",
        "DNS_ROUND_ROBIN": "LOGICAL_DNS",
        "NONE": "ORIGINAL_DST",
        "DYNAMIC_DNS": "STRICT_DNS",
    }
    return types.get(svc.resolution, "EDS")


def _subset_endpoints(eps: tuple[Endpoint, ...], subset: Subset) -> tuple[Endpoint, ...]:
    if not subset.labels:
        return eps
    want = dict(subset.labels)
    return tuple(e for e in eps if all(dict(e.labels).get(k) == v for k, v in want.items()))


def build_outbound_clusters(
    services: Mapping[str, ServiceInfo],
    drs: Sequence[BoundDestinationRule],
    proxy_ns: str,
    labels: Mapping[str, str],
) -> tuple[dict[str, Cluster], list[str]]:
    """Every outbound cluster one proxy gets, plus ``BlackHoleCluster`` and ``PassthroughCluster``.

    Returns:
        ``(clusters by name, kubernetes:// SDS names the clusters reference)``.
    """
    out: dict[str, Cluster] = {}
    sds: list[str] = []
    for host, svc in services.items():
        if not svc.visible_to(proxy_ns):
            continue
        bdr = select_destination_rule(drs, host, svc.namespace, proxy_ns, labels)
        dr = bdr.dr if bdr is not None else None
        origin = f"{dr.metadata.namespace}/{dr.metadata.name}" if dr is not None else None
        ctype = _cluster_type(svc)
        for p in svc.ports:
            if p.protocol == "UDP":
                continue
            eps = svc.endpoints.get(p.port, ())
            tls_settings = _tls_from_policy(dr.spec.trafficPolicy if dr else None, p.port, None)
            tls = upstream_tls(tls_settings, host)
            name = cluster_name(p.port, "", host)
            out[name] = Cluster(
                name=name,
                type=ctype,
                endpoints=eps,
                transport_socket=tls,  # type: ignore[arg-type]
                service=host,
                port=p.port,
                origin=origin,
            )
            _collect(tls, sds)
            if dr is None:
                continue
            for subset in dr.spec.subsets:
                if not subset.name:
                    continue
                sub_tls = upstream_tls(_tls_from_policy(subset.trafficPolicy, p.port, tls_settings), host)
                sname = cluster_name(p.port, subset.name, host)
                out[sname] = Cluster(
                    name=sname,
                    type=ctype,
                    endpoints=_subset_endpoints(eps, subset),  # type: ignore[arg-type]
                    transport_socket=sub_tls,
                    service=host,
                    port=p.port,
                    subset=subset.name,
                    origin=origin,
                )
                _collect(sub_tls, sds)
    out[BLACKHOLE.name] = BLACKHOLE
    out[PASSTHROUGH.name] = PASSTHROUGH
    return out, sds


def _collect(tls: UpstreamTlsContext | None, sds: list[str]) -> None:
    if tls is None:
        return
    for n in (tls.certificate_sds, tls.validation_sds):
        if n and (n.startswith("kubernetes://") or n.startswith("file-")) and n != "file-root:system":
            if n not in sds:
                sds.append(n)
