"""Shared vocabulary of the resource layer: where a manifest came from, and which kinds exist.

Rule: no I/O here. This module is the contract between the loader (``codecs``), the typed
models (``models``), validation (``validation``) and the config store (``gatewaykit.store``).
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "GATEWAY_API_GROUP",
    "KINDS",
    "KUBERNETES_GATEWAY",
    "FieldLines",
    "KindInfo",
    "Manifest",
    "ResourceKey",
    "Source",
    "kind_info",
]


class FieldLines(dict[str, int]):
    """A read-only ``{field path: 1-based line}`` map (Istio's resource Origin ``FieldsMap``).

    Paths are written the way Istio's analyzers look them up (``BuildFieldPathMap`` in
    pilot/pkg/config/file/store.go): ``{.spec.gateways[0]}``, ``{.spec.selector.istio}``,
    ``{.spec.http[0].route[1].destination.host}`` -- one entry per scalar value. The extra key
    ``{}`` is the line istioctl reports for the document itself (its first non-empty line,
    comments included).
    """

    __slots__ = ()

    def _readonly(self, *args: Any, **kwargs: Any) -> typing.NoReturn:
        raise TypeError("FieldLines is immutable")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _readonly  # type: ignore[assignment]
    __ior__ = _readonly  # type: ignore[assignment]

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))

    def __reduce__(self) -> tuple[Any, ...]:
        return (FieldLines, (dict(self),))


_NO_FIELDS = FieldLines()


@dataclass(frozen=True, slots=True)
class Source:
    """Where a document came from, for messages.

    Args:
        file: the file name as the learner gave it (kubectl prints it in errors), or a label
            such as ``"manifest.yaml"`` for inline text.
        index: 0-based document number in a multi-document stream.
        line: 1-based line of the document's first line in the file.
        fields: 1-based line of each field (see :class:`FieldLines`); filled by the loader for
            Istio kinds read from YAML text, else empty. Not part of equality or hashing.
    """

    file: str = "STDIN"
    index: int = 0
    line: int = 1
    fields: Mapping[str, int] = field(default=_NO_FIELDS, compare=False, hash=False, repr=False)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True, order=True)
class ResourceKey:
    """Identity of an object in the store: kind, namespace ("" if cluster-scoped) and name."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"


def redacted(raw: Any) -> Any:
    """``raw`` safe to print: a Secret's ``data``/``stringData`` values (private keys, tokens) and
    kubectl's last-applied copy of them replaced by their sizes, as ``kubectl describe`` shows
    them (``tls.key: 227 bytes``); any other object unchanged."""
    if not isinstance(raw, dict) or raw.get("kind") != "Secret":
        return raw
    out = dict(raw)
    for part in ("data", "stringData"):
        if isinstance(raw.get(part), dict):
            out[part] = {k: f"<{len(str(v))} bytes>" for k, v in raw[part].items()}
    meta = raw.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("annotations"), dict):
        notes = dict(meta["annotations"])
        if "kubectl.kubernetes.io/last-applied-configuration" in notes:
            notes["kubectl.kubernetes.io/last-applied-configuration"] = "<redacted>"
        out["metadata"] = {**meta, "annotations": notes}
    return out


@dataclass(frozen=True, slots=True)
class Manifest:
    """One parsed YAML document: the raw dict exactly as written, plus its source.

    Its ``repr`` never shows a Secret's data (see :func:`redacted`).
    """

    raw: dict[str, Any]
    source: Source = field(default_factory=Source)

    def __repr__(self) -> str:
        return f"Manifest(raw={redacted(self.raw)!r}, source={self.source!r})"

    @property
    def kind(self) -> str:
        """The document's ``kind`` (may be missing in a bad manifest: then "")."""
        k = self.raw.get("kind") if isinstance(self.raw, dict) else None
        return k if isinstance(k, str) else ""

    @property
    def name(self) -> str:
        """``metadata.name`` or "" when absent."""
        meta = self.raw.get("metadata") if isinstance(self.raw, dict) else None
        n = meta.get("name") if isinstance(meta, dict) else None
        return n if isinstance(n, str) else ""


@dataclass(frozen=True, slots=True)
class KindInfo:
    """How Kubernetes knows a kind: group, versions served, plural, scope and discovery names.

    ``kubectl_name`` is the prefix kubectl prints in apply lines
    (``gateway.networking.istio.io/httpbin-gateway created``, ``service/httpbin created``).
    ``short_names`` and ``categories`` are what discovery advertises (``kubectl get gw``,
    ``kubectl get istio-io``). ``system`` kinds are made by controllers (the ReplicaSet
    controller's pods, the endpoints controller's Endpoints): clients may read them, and the
    sandbox refuses to create them (it runs pods from Deployments only). ``store_kind`` is the
    kind the config store keys objects by (see :attr:`store_kind`).
    """

    kind: str
    group: str
    versions: tuple[str, ...]
    plural: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    system: bool = False
    #: The bare kind is taken by another group (the Gateway API's ``Gateway`` vs Istio's).
    qualified: bool = False

    @property
    def store_kind(self) -> str:
        """The kind in :class:`ResourceKey`: the bare kind, or ``<kind>.<group>`` when qualified.

        Istio's ``Gateway`` owns ``"Gateway"`` everywhere (``snapshot.list("Gateway")``); the
        Kubernetes Gateway API's ``Gateway`` is ``"Gateway.gateway.networking.k8s.io"``, the name
        ``kubectl get gateways.gateway.networking.k8s.io`` disambiguates it with. Every other kind
        is unambiguous and keeps its bare kind (``HTTPRoute``, ``GatewayClass``, ...).
        """
        return f"{self.kind}.{self.group}" if self.qualified else self.kind

    @property
    def kubectl_name(self) -> str:
        """``<kind lower>.<group>`` or just ``<kind lower>`` for the core group."""
        lower = self.kind.lower()
        return f"{lower}.{self.group}" if self.group else lower

    @property
    def singular(self) -> str:
        """The singular resource name (``gateway``), as discovery lists it."""
        return self.kind.lower()

    @property
    def resource(self) -> str:
        """``gateways.networking.istio.io`` / ``services``: the name in API errors."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def builtin(self) -> bool:
        """Kubernetes' own kinds (strategic merge patch) vs custom resources (JSON merge patch)."""
        return self.group in ("", "apps", "discovery.k8s.io", "apiextensions.k8s.io", "events.k8s.io")

    def api_versions(self) -> tuple[str, ...]:
        """Every accepted ``apiVersion`` string."""
        return tuple(f"{self.group}/{v}" if self.group else v for v in self.versions)


_ISTIO = ("v1", "v1beta1", "v1alpha3")
_ISTIO_CATEGORIES = ("istio-io", "networking-istio-io")

#: The Kubernetes Gateway API group (sigs.k8s.io/gateway-api v1.3.0, the version Istio 1.27's go.mod
#: pins). The sandbox has the *experimental* channel installed, as Istio's docs instruct for
#: TLSRoute/TCPRoute (https://istio.io/latest/docs/tasks/traffic-management/ingress/ingress-sni-passthrough/):
#: it serves every standard kind plus TLSRoute and TCPRoute (config/crd/experimental).
GATEWAY_API_GROUP = "gateway.networking.k8s.io"
#: The store kind of the Gateway API's Gateway (:attr:`KindInfo.store_kind`).
KUBERNETES_GATEWAY = f"Gateway.{GATEWAY_API_GROUP}"

#: Every kind gatewaykit understands, in the order they are listed to learners. Short names and
#: categories are the CRDs' (Istio 1.27.1 manifests/charts/base/files/crd-all.gen.yaml; the Gateway
#: API v1.3.0 config/crd/experimental) and the built-in resources' (kube-apiserver discovery).
_GATEWAY_API_CATEGORIES = ("gateway-api",)
KINDS: tuple[KindInfo, ...] = (
    KindInfo("Gateway", "networking.istio.io", _ISTIO, "gateways", short_names=("gw",),
             categories=_ISTIO_CATEGORIES, subresources=("status",)),
    KindInfo("VirtualService", "networking.istio.io", _ISTIO, "virtualservices", short_names=("vs",),
             categories=_ISTIO_CATEGORIES, subresources=("status",)),
    KindInfo("DestinationRule", "networking.istio.io", _ISTIO, "destinationrules", short_names=("dr",),
             categories=_ISTIO_CATEGORIES, subresources=("status",)),
    KindInfo("ServiceEntry", "networking.istio.io", _ISTIO, "serviceentries", short_names=("se",),
             categories=_ISTIO_CATEGORIES, subresources=("status",)),
    KindInfo("Namespace", "", ("v1",), "namespaces", namespaced=False, short_names=("ns",),
             subresources=("status",)),
    KindInfo("Service", "", ("v1",), "services", short_names=("svc",), categories=("all",),
             subresources=("status",)),
    KindInfo("Secret", "", ("v1",), "secrets"),
    KindInfo("ConfigMap", "", ("v1",), "configmaps", short_names=("cm",)),
    KindInfo("ServiceAccount", "", ("v1",), "serviceaccounts", short_names=("sa",)),
    KindInfo("Deployment", "apps", ("v1",), "deployments", short_names=("deploy",), categories=("all",),
             subresources=("status", "scale")),
    # Gateway API v1.3.0 (experimental channel); versions in the order the CRDs serve them.
    KindInfo("GatewayClass", GATEWAY_API_GROUP, ("v1", "v1beta1"), "gatewayclasses", namespaced=False,
             short_names=("gc",), categories=_GATEWAY_API_CATEGORIES, subresources=("status",)),
    KindInfo("Gateway", GATEWAY_API_GROUP, ("v1", "v1beta1"), "gateways", qualified=True,
             short_names=("gtw",), categories=_GATEWAY_API_CATEGORIES, subresources=("status",)),
    KindInfo("HTTPRoute", GATEWAY_API_GROUP, ("v1", "v1beta1"), "httproutes",
             categories=_GATEWAY_API_CATEGORIES, subresources=("status",)),
    KindInfo("GRPCRoute", GATEWAY_API_GROUP, ("v1",), "grpcroutes", categories=_GATEWAY_API_CATEGORIES,
             subresources=("status",)),
    KindInfo("ReferenceGrant", GATEWAY_API_GROUP, ("v1beta1",), "referencegrants", short_names=("refgrant",),
             categories=_GATEWAY_API_CATEGORIES),
    KindInfo("TLSRoute", GATEWAY_API_GROUP, ("v1alpha2",), "tlsroutes", categories=_GATEWAY_API_CATEGORIES,
             subresources=("status",)),
    KindInfo("TCPRoute", GATEWAY_API_GROUP, ("v1alpha2",), "tcproutes", categories=_GATEWAY_API_CATEGORIES,
             subresources=("status",)),
    # Made by controllers; read-only for clients.
    KindInfo("Pod", "", ("v1",), "pods", short_names=("po",), categories=("all",),
             subresources=("status", "log", "exec", "portforward"), system=True),
    KindInfo("ReplicaSet", "apps", ("v1",), "replicasets", short_names=("rs",), categories=("all",),
             subresources=("status", "scale"), system=True),
    KindInfo("Endpoints", "", ("v1",), "endpoints", short_names=("ep",), system=True),
    KindInfo("EndpointSlice", "discovery.k8s.io", ("v1",), "endpointslices", system=True),
    KindInfo("Node", "", ("v1",), "nodes", namespaced=False, short_names=("no",),
             subresources=("status",), system=True),
    KindInfo("Event", "", ("v1",), "events", short_names=("ev",), system=True),
    KindInfo("CustomResourceDefinition", "apiextensions.k8s.io", ("v1",), "customresourcedefinitions",
             namespaced=False, short_names=("crd", "crds"), subresources=("status",), system=True),
)

_BY_API: dict[tuple[str, str], KindInfo] = {
    (api, info.kind): info for info in KINDS for api in info.api_versions()
}


def kind_info(api_version: str, kind: str) -> KindInfo | None:
    """Return the :class:`KindInfo` for an ``apiVersion``/``kind`` pair, or None if unsupported."""
    return _BY_API.get((api_version, kind))
