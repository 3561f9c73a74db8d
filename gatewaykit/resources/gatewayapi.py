"""Typed, immutable models of the Kubernetes Gateway API kinds (``gateway.networking.k8s.io``).

Rule: no I/O here. Mirrors sigs.k8s.io/gateway-api v1.3.0 ``apis/v1`` (GatewayClass, Gateway,
HTTPRoute, GRPCRoute), ``apis/v1beta1`` (ReferenceGrant) and ``apis/v1alpha2`` (TLSRoute, TCPRoute):
field names camelCase as in YAML, built with the same annotation-driven decoder as
:mod:`gatewaykit.resources.models`. :func:`from_dict` applies the CRD defaults first
(:func:`gatewaykit.resources.gatewayapi_schema.apply_defaults`), so a model reads like the object the
API server stores: ``allowedRoutes.namespaces.from: Same``, ``backendRefs[].weight: 1``,
``rules[].matches: [{path: {type: PathPrefix, value: /}}]``...

The only Python-keyword field, ``from`` (``RouteNamespaces.from``, ``ReferenceGrantSpec.from``), is
``from_`` here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from gatewaykit.errors import GatewayKitError, ManifestError
from gatewaykit.resources.gatewayapi_schema import apply_defaults
from gatewaykit.resources.meta import GATEWAY_API_GROUP, ResourceKey, Source, kind_info
from gatewaykit.resources.models import ObjectMeta, Resource, _build, _decode, _empty_map, _plan

__all__ = [
    "AllowedRoutes",
    "BackendRef",
    "GRPCMethodMatch",
    "GRPCRoute",
    "GRPCRouteMatch",
    "GRPCRouteRule",
    "Gateway",
    "GatewayClass",
    "GatewayInfrastructure",
    "GatewaySpecAddress",
    "GatewayTLSConfig",
    "HTTPBackendRef",
    "HTTPHeader",
    "HTTPHeaderFilter",
    "HTTPHeaderMatch",
    "HTTPPathMatch",
    "HTTPPathModifier",
    "HTTPRequestMirrorFilter",
    "HTTPRequestRedirectFilter",
    "HTTPRoute",
    "HTTPRouteFilter",
    "HTTPRouteMatch",
    "HTTPRouteRule",
    "HTTPRouteTimeouts",
    "HTTPURLRewriteFilter",
    "LabelSelector",
    "Listener",
    "ParentReference",
    "ReferenceGrant",
    "RouteGroupKind",
    "RouteNamespaces",
    "SecretObjectReference",
    "TCPRoute",
    "TLSRoute",
    "from_dict",
]


def _rename_from(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    return {("from_" if k == "from" else k): v for k, v in raw.items()}


# ----------------------------------------------------------------------- shared types


@dataclass(frozen=True, slots=True)
class LabelSelectorRequirement:
    """metav1 ``LabelSelectorRequirement``: ``key``, ``operator`` (In, NotIn, Exists...), ``values``."""

    key: str = ""
    operator: str = ""
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """metav1 ``LabelSelector`` with ``matchLabels`` and ``matchExpressions``."""

    matchLabels: Mapping[str, str] = field(default_factory=_empty_map)
    matchExpressions: tuple[LabelSelectorRequirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """``metav1.LabelSelectorAsSelector(...).Matches(labels)`` (an empty selector selects all)."""
        if any(labels.get(k) != v for k, v in self.matchLabels.items()):
            return False
        for r in self.matchExpressions:
            present = r.key in labels
            if r.operator == "In" and not (present and labels[r.key] in r.values):
                return False
            if r.operator == "NotIn" and present and labels[r.key] in r.values:
                return False
            if r.operator == "Exists" and not present:
                return False
            if r.operator == "DoesNotExist" and present:
                return False
        return True


@dataclass(frozen=True, slots=True)
class ParentReference:
    """``ParentReference``: group/kind default to the Gateway API Gateway (CRD defaults)."""

    group: str = GATEWAY_API_GROUP
    kind: str = "Gateway"
    namespace: str = ""
    name: str = ""
    sectionName: str = ""
    port: int | None = None


@dataclass(frozen=True, slots=True)
class SecretObjectReference:
    """``SecretObjectReference`` (listener ``certificateRefs``): group "" and kind Secret by default."""

    group: str = ""
    kind: str = "Secret"
    name: str = ""
    namespace: str = ""


@dataclass(frozen=True, slots=True)
class BackendRef:
    """``BackendRef``: a ``BackendObjectReference`` (group "", kind Service) plus ``weight`` (default 1)."""

    group: str = ""
    kind: str = "Service"
    name: str = ""
    namespace: str = ""
    port: int | None = None
    weight: int = 1


# ------------------------------------------------------------------------ GatewayClass


@dataclass(frozen=True, slots=True)
class GatewayClassSpec:
    """GatewayClass ``spec``."""

    controllerName: str = ""
    description: str = ""
    parametersRef: Any = None


@dataclass(frozen=True, slots=True)
class GatewayClass(Resource):
    """``gateway.networking.k8s.io`` GatewayClass (cluster-scoped)."""

    spec: GatewayClassSpec = GatewayClassSpec()
    status: Any = None
    KIND: ClassVar[str] = "GatewayClass"


# ----------------------------------------------------------------------------- Gateway


@dataclass(frozen=True, slots=True)
class RouteNamespaces:
    """``allowedRoutes.namespaces``: ``from`` (Same, All, Selector) and its ``selector``."""

    from_: str = "Same"
    selector: LabelSelector | None = None

    _decode_hook = staticmethod(_rename_from)


@dataclass(frozen=True, slots=True)
class RouteGroupKind:
    """``RouteGroupKind`` (``allowedRoutes.kinds[]``); the group defaults to the Gateway API group."""

    group: str = GATEWAY_API_GROUP
    kind: str = ""


@dataclass(frozen=True, slots=True)
class AllowedRoutes:
    """``Listener.allowedRoutes``."""

    namespaces: RouteNamespaces = RouteNamespaces()
    kinds: tuple[RouteGroupKind, ...] = ()


@dataclass(frozen=True, slots=True)
class GatewayTLSConfig:
    """``Listener.tls``: ``mode`` Terminate (default) or Passthrough, certificates, options."""

    mode: str = "Terminate"
    certificateRefs: tuple[SecretObjectReference, ...] = ()
    options: Mapping[str, str] = field(default_factory=_empty_map)


@dataclass(frozen=True, slots=True)
class Listener:
    """One ``Listener``: name, port, protocol, optional hostname and TLS, allowed routes."""

    name: str = ""
    hostname: str | None = None
    port: int | None = None
    protocol: str = ""
    tls: GatewayTLSConfig | None = None
    allowedRoutes: AllowedRoutes = AllowedRoutes()


@dataclass(frozen=True, slots=True)
class GatewaySpecAddress:
    """``spec.addresses[]``: ``type`` (IPAddress default, Hostname, NamedAddress) and ``value``."""

    type: str = "IPAddress"
    value: str = ""


@dataclass(frozen=True, slots=True)
class GatewayInfrastructure:
    """``spec.infrastructure``: labels and annotations for generated resources, ``parametersRef``."""

    labels: Mapping[str, str] = field(default_factory=_empty_map)
    annotations: Mapping[str, str] = field(default_factory=_empty_map)
    parametersRef: Any = None


@dataclass(frozen=True, slots=True)
class GatewaySpec:
    """Gateway ``spec``."""

    gatewayClassName: str = ""
    listeners: tuple[Listener, ...] = ()
    addresses: tuple[GatewaySpecAddress, ...] = ()
    infrastructure: GatewayInfrastructure | None = None
    allowedListeners: Any = None


@dataclass(frozen=True, slots=True)
class Gateway(Resource):
    """``gateway.networking.k8s.io`` Gateway (Istio calls it ``KubernetesGateway``)."""

    spec: GatewaySpec = GatewaySpec()
    status: Any = None
    KIND: ClassVar[str] = "Gateway"

    @property
    def key(self) -> ResourceKey:
        """Keyed ``Gateway.gateway.networking.k8s.io``: Istio's Gateway owns the bare ``Gateway``."""
        return ResourceKey(f"Gateway.{GATEWAY_API_GROUP}", self.metadata.namespace, self.metadata.name)


# --------------------------------------------------------------------------- HTTPRoute


@dataclass(frozen=True, slots=True)
class HTTPPathMatch:
    """``HTTPPathMatch``: ``type`` Exact, PathPrefix (default) or RegularExpression; ``value`` "/"."""

    type: str = "PathPrefix"
    value: str = "/"


@dataclass(frozen=True, slots=True)
class HTTPHeaderMatch:
    """``HTTPHeaderMatch`` / ``HTTPQueryParamMatch`` / ``GRPCHeaderMatch``: Exact (default) or regex."""

    type: str = "Exact"
    name: str = ""
    value: str = ""


@dataclass(frozen=True, slots=True)
class HTTPRouteMatch:
    """``HTTPRouteMatch``: all conditions must hold."""

    path: HTTPPathMatch | None = None
    headers: tuple[HTTPHeaderMatch, ...] = ()
    queryParams: tuple[HTTPHeaderMatch, ...] = ()
    method: str | None = None


@dataclass(frozen=True, slots=True)
class HTTPHeader:
    """``HTTPHeader`` (name, value)."""

    name: str = ""
    value: str = ""


@dataclass(frozen=True, slots=True)
class HTTPHeaderFilter:
    """``RequestHeaderModifier`` / ``ResponseHeaderModifier`` configuration."""

    set: tuple[HTTPHeader, ...] = ()
    add: tuple[HTTPHeader, ...] = ()
    remove: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HTTPPathModifier:
    """``HTTPPathModifier``: ReplaceFullPath or ReplacePrefixMatch."""

    type: str = ""
    replaceFullPath: str | None = None
    replacePrefixMatch: str | None = None


@dataclass(frozen=True, slots=True)
class HTTPRequestRedirectFilter:
    """``RequestRedirect`` configuration (``statusCode`` defaults to 302 in the CRD)."""

    scheme: str | None = None
    hostname: str | None = None
    path: HTTPPathModifier | None = None
    port: int | None = None
    statusCode: int | None = None


@dataclass(frozen=True, slots=True)
class HTTPURLRewriteFilter:
    """``URLRewrite`` configuration."""

    hostname: str | None = None
    path: HTTPPathModifier | None = None


@dataclass(frozen=True, slots=True)
class Fraction:
    """``Fraction`` (numerator over denominator, default 100)."""

    numerator: int = 0
    denominator: int = 100


@dataclass(frozen=True, slots=True)
class HTTPRequestMirrorFilter:
    """``RequestMirror`` configuration."""

    backendRef: BackendRef = BackendRef()
    percent: int | None = None
    fraction: Fraction | None = None


@dataclass(frozen=True, slots=True)
class HTTPRouteFilter:
    """``HTTPRouteFilter`` / ``GRPCRouteFilter``: ``type`` and the field of that type."""

    type: str = ""
    requestHeaderModifier: HTTPHeaderFilter | None = None
    responseHeaderModifier: HTTPHeaderFilter | None = None
    requestRedirect: HTTPRequestRedirectFilter | None = None
    urlRewrite: HTTPURLRewriteFilter | None = None
    requestMirror: HTTPRequestMirrorFilter | None = None
    cors: Any = None
    extensionRef: Any = None


@dataclass(frozen=True, slots=True)
class HTTPBackendRef:
    """``HTTPBackendRef`` / ``GRPCBackendRef``: a backend, its weight and per-backend filters."""

    group: str = ""
    kind: str = "Service"
    name: str = ""
    namespace: str = ""
    port: int | None = None
    weight: int = 1
    filters: tuple[HTTPRouteFilter, ...] = ()

    @property
    def ref(self) -> BackendRef:
        """The ``BackendRef`` part."""
        return BackendRef(self.group, self.kind, self.name, self.namespace, self.port, self.weight)


@dataclass(frozen=True, slots=True)
class HTTPRouteTimeouts:
    """``HTTPRouteTimeouts`` (Gateway API durations such as ``10s``)."""

    request: str | None = None
    backendRequest: str | None = None


@dataclass(frozen=True, slots=True)
class HTTPRouteRetry:
    """``HTTPRouteRetry`` (experimental): codes, attempts, backoff."""

    codes: tuple[int, ...] = ()
    attempts: int | None = None
    backoff: str | None = None


@dataclass(frozen=True, slots=True)
class HTTPRouteRule:
    """``HTTPRouteRule``."""

    name: str | None = None
    matches: tuple[HTTPRouteMatch, ...] = ()
    filters: tuple[HTTPRouteFilter, ...] = ()
    backendRefs: tuple[HTTPBackendRef, ...] = ()
    timeouts: HTTPRouteTimeouts | None = None
    retry: HTTPRouteRetry | None = None


@dataclass(frozen=True, slots=True)
class HTTPRouteSpec:
    """HTTPRoute ``spec``."""

    parentRefs: tuple[ParentReference, ...] = ()
    hostnames: tuple[str, ...] = ()
    rules: tuple[HTTPRouteRule, ...] = ()


@dataclass(frozen=True, slots=True)
class HTTPRoute(Resource):
    """``gateway.networking.k8s.io`` HTTPRoute."""

    spec: HTTPRouteSpec = HTTPRouteSpec()
    status: Any = None
    KIND: ClassVar[str] = "HTTPRoute"


# --------------------------------------------------------------------------- GRPCRoute


@dataclass(frozen=True, slots=True)
class GRPCMethodMatch:
    """``GRPCMethodMatch``: ``type`` Exact (default) or RegularExpression, ``service``, ``method``."""

    type: str = "Exact"
    service: str | None = None
    method: str | None = None


@dataclass(frozen=True, slots=True)
class GRPCRouteMatch:
    """``GRPCRouteMatch``."""

    method: GRPCMethodMatch | None = None
    headers: tuple[HTTPHeaderMatch, ...] = ()


@dataclass(frozen=True, slots=True)
class GRPCRouteRule:
    """``GRPCRouteRule``."""

    name: str | None = None
    matches: tuple[GRPCRouteMatch, ...] = ()
    filters: tuple[HTTPRouteFilter, ...] = ()
    backendRefs: tuple[HTTPBackendRef, ...] = ()


@dataclass(frozen=True, slots=True)
class GRPCRouteSpec:
    """GRPCRoute ``spec``."""

    parentRefs: tuple[ParentReference, ...] = ()
    hostnames: tuple[str, ...] = ()
    rules: tuple[GRPCRouteRule, ...] = ()


@dataclass(frozen=True, slots=True)
class GRPCRoute(Resource):
    """``gateway.networking.k8s.io`` GRPCRoute."""

    spec: GRPCRouteSpec = GRPCRouteSpec()
    status: Any = None
    KIND: ClassVar[str] = "GRPCRoute"


# ----------------------------------------------------------- TLSRoute, TCPRoute (alpha)


@dataclass(frozen=True, slots=True)
class L4RouteRule:
    """``TLSRouteRule`` / ``TCPRouteRule``: backends only."""

    name: str | None = None
    backendRefs: tuple[BackendRef, ...] = ()


@dataclass(frozen=True, slots=True)
class TLSRouteSpec:
    """TLSRoute ``spec``."""

    parentRefs: tuple[ParentReference, ...] = ()
    hostnames: tuple[str, ...] = ()
    rules: tuple[L4RouteRule, ...] = ()


@dataclass(frozen=True, slots=True)
class TLSRoute(Resource):
    """``gateway.networking.k8s.io/v1alpha2`` TLSRoute."""

    spec: TLSRouteSpec = TLSRouteSpec()
    status: Any = None
    KIND: ClassVar[str] = "TLSRoute"


@dataclass(frozen=True, slots=True)
class TCPRouteSpec:
    """TCPRoute ``spec``."""

    parentRefs: tuple[ParentReference, ...] = ()
    rules: tuple[L4RouteRule, ...] = ()


@dataclass(frozen=True, slots=True)
class TCPRoute(Resource):
    """``gateway.networking.k8s.io/v1alpha2`` TCPRoute."""

    spec: TCPRouteSpec = TCPRouteSpec()
    status: Any = None
    KIND: ClassVar[str] = "TCPRoute"


# ---------------------------------------------------------------------- ReferenceGrant


@dataclass(frozen=True, slots=True)
class ReferenceGrantFrom:
    """``ReferenceGrantFrom``: group, kind and namespace of the referring objects."""

    group: str = ""
    kind: str = ""
    namespace: str = ""


@dataclass(frozen=True, slots=True)
class ReferenceGrantTo:
    """``ReferenceGrantTo``: group, kind and optional name of the referents (in the grant's namespace)."""

    group: str = ""
    kind: str = ""
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ReferenceGrantSpec:
    """ReferenceGrant ``spec``."""

    from_: tuple[ReferenceGrantFrom, ...] = ()
    to: tuple[ReferenceGrantTo, ...] = ()

    _decode_hook = staticmethod(_rename_from)


@dataclass(frozen=True, slots=True)
class ReferenceGrant(Resource):
    """``gateway.networking.k8s.io/v1beta1`` ReferenceGrant."""

    spec: ReferenceGrantSpec = ReferenceGrantSpec()
    KIND: ClassVar[str] = "ReferenceGrant"


# ------------------------------------------------------------------------------- entry

MODELS: dict[str, type[Resource]] = {
    cls.KIND: cls for cls in (GatewayClass, Gateway, HTTPRoute, GRPCRoute, ReferenceGrant, TLSRoute, TCPRoute)
}


def from_dict(raw: Mapping[str, Any], source: Source | None = None) -> Resource:
    """Build the model of one Gateway API manifest, CRD defaults applied.

    Args:
        raw: the manifest (``apiVersion: gateway.networking.k8s.io/<version>``).
        source: where it came from.

    Returns:
        The model; namespaced kinds without a namespace get ``default``.

    Raises:
        ManifestError: ``raw`` is not a known Gateway API kind. Nothing else escapes.
    """
    src = source if source is not None else Source()
    kind, api_version = raw.get("kind"), raw.get("apiVersion")
    cls = MODELS.get(kind) if isinstance(kind, str) else None
    info = kind_info(api_version, kind) if isinstance(api_version, str) and isinstance(kind, str) else None
    if cls is None or info is None:
        raise ManifestError(f'no matches for kind "{kind}" in version "{api_version}"')
    try:
        body = apply_defaults(info.kind, raw)
        meta_raw = body.get("metadata")
        meta = _build(ObjectMeta, meta_raw) if isinstance(meta_raw, Mapping) else ObjectMeta()
        namespace = (meta.namespace or "default") if info.namespaced else ""
        meta = dataclasses.replace(meta, namespace=namespace)
        kwargs = {
            name: _decode(tp, body.get(name), default)
            for name, tp, default in _plan(cls)
            if name not in ("apiVersion", "kind", "metadata")
        }
        return cls(apiVersion=str(api_version), kind=info.kind, metadata=meta, source=src, **kwargs)
    except GatewayKitError:
        raise
    except Exception as exc:  # noqa: BLE001 - the contract: only gatewaykit errors escape
        raise ManifestError(f"error decoding {src}: {type(exc).__name__}: {exc}") from exc
