# One module: declarations, one frozen dataclass per Istio/Kubernetes message, and the decoder they drive.
"""Typed, immutable models of the Kubernetes and Istio objects gatewaykit understands.

Rule: no I/O here. Field names stay camelCase exactly as in YAML (``spec.servers[0].port.targetPort``),
so a learner's manifest and the Python object read the same. Lists are tuples, maps are
:class:`FrozenMap`. Unknown-but-valid fields are ignored (validation decides what is rejected).

:func:`from_dict` builds a model from an (already validated) manifest dict. It is tolerant: a field
of the wrong type falls back to its default, so odd input never raises anything but a
:class:`gatewaykit.errors.GatewayKitError` (the only deliberate one is a Secret whose ``data`` is not
valid base64, which the API server rejects too).

The builder is driven by the dataclass annotations (a small table-driven decoder, in the spirit of
lightkube's ``codecs``): each field's annotation says how to decode the YAML value.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar, Union

from gatewaykit.errors import GatewayKitError, ManifestError
from gatewaykit.resources.meta import ResourceKey, Source, kind_info

__all__ = [
    "ClientTLSSettings",
    "ConfigMap",
    "ConfigMapVolumeSource",
    "Container",
    "ContainerPort",
    "Delegate",
    "Deployment",
    "DeploymentSpec",
    "Destination",
    "DestinationRule",
    "DestinationRuleSpec",
    "FrozenMap",
    "Gateway",
    "GatewaySpec",
    "HeaderOperations",
    "Headers",
    "HTTPDirectResponse",
    "HTTPMatchRequest",
    "HTTPRedirect",
    "HTTPRetry",
    "HTTPRewrite",
    "HTTPRoute",
    "HTTPRouteDestination",
    "KeyToPath",
    "L4MatchAttributes",
    "LabelSelector",
    "Namespace",
    "ObjectMeta",
    "PodSpec",
    "PodTemplateSpec",
    "Port",
    "PortSelector",
    "PortTrafficPolicy",
    "RegexRewrite",
    "Resource",
    "RouteDestination",
    "Secret",
    "SecretVolumeSource",
    "Server",
    "ServerTLSSettings",
    "Service",
    "ServiceAccount",
    "ServiceEntry",
    "ServiceEntrySpec",
    "ServicePort",
    "ServiceSpec",
    "StringMatch",
    "Subset",
    "TCPRoute",
    "TLSMatchAttributes",
    "TLSRoute",
    "TrafficPolicy",
    "VirtualService",
    "VirtualServiceSpec",
    "Volume",
    "VolumeMount",
    "WorkloadEntry",
    "WorkloadSelector",
    "from_dict",
    "parse_duration",
]

V = TypeVar("V")


class FrozenMap(dict[str, V]):
    """A read-only, hashable ``dict`` (labels, annotations, selectors, Secret data).

    It is a real ``dict`` subclass so ``==`` with plain dicts, ``json.dumps`` and ``yaml.dump``
    keep working; every mutating method raises ``TypeError``.
    """

    __slots__ = ()

    def _readonly(self, *args: Any, **kwargs: Any) -> typing.NoReturn:
        raise TypeError("FrozenMap is immutable")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _readonly  # type: ignore[assignment]
    __ior__ = _readonly  # type: ignore[assignment]

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items(), key=lambda kv: kv[0])))

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenMap, (dict(self),))

    def __repr__(self) -> str:
        return f"FrozenMap({dict.__repr__(self)})"


_EMPTY: FrozenMap[Any] = FrozenMap()


def _empty_map() -> FrozenMap[Any]:
    return _EMPTY


# ----------------------------------------------------------------- the decoder


def _decode_scalar(tp: type, value: Any, default: Any) -> Any:
    if tp is str:
        if isinstance(value, str):
            return value
        # YAML turns `name: 80` or `version: 1.0` into numbers; Kubernetes would reject most of
        # these, but a label value like `version: v1` is always a string. Keep the text.
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, bool):
            return "true" if value else "false"
        return default
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        return default
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().isdigit():
            return int(value.strip())
        return default
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        return default
    return default


def _decode(tp: Any, value: Any, default: Any) -> Any:
    """Decode ``value`` according to the annotation ``tp``; fall back to ``default``."""
    if value is None:
        return default
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        # int | str (Kubernetes IntOrString): keep ints as ints, digit strings stay names
        # only when they are not all digits (k8s treats "8080" as a name; Istio never writes it).
        if set(args) == {int, str}:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, str):
                return value
            return default
        for arg in args:
            out = _decode(arg, value, _MISSING)
            if out is not _MISSING:
                return out
        return default
    if origin is tuple:
        (item_tp, *_rest) = typing.get_args(tp)
        if isinstance(value, (list, tuple)):
            decoded = [_decode(item_tp, v, _MISSING) for v in value]
            return tuple(i for i in decoded if i is not _MISSING)
        # `hosts: foo.com` instead of a list: Kubernetes rejects it; keep nothing.
        return default
    if origin in (Mapping, dict, FrozenMap) or tp is FrozenMap:
        margs = typing.get_args(tp)
        val_tp = margs[1] if len(margs) == 2 else Any
        if isinstance(value, Mapping):
            out_map: dict[str, Any] = {}
            for k, v in value.items():
                if not isinstance(k, (str, int)) or isinstance(k, bool):
                    continue
                dv = _decode(val_tp, v, _MISSING)
                if dv is not _MISSING:
                    out_map[str(k)] = dv
            return FrozenMap(out_map)
        return default
    if tp is Any:
        return _freeze(value)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if isinstance(value, Mapping):
            return _build(tp, value)
        return default
    if isinstance(tp, type):
        return _decode_scalar(tp, value, default)
    return default


def _freeze(value: Any) -> Any:
    """Make arbitrary YAML data immutable (for free-form fields such as ``fault``)."""
    if isinstance(value, Mapping):
        return FrozenMap({str(k): _freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


_MISSING: Any = object()
_HINTS: dict[type, list[tuple[str, Any, Any]]] = {}


def _plan(cls: type) -> list[tuple[str, Any, Any]]:
    """(field name, annotation, default) per field, computed once per class."""
    plan = _HINTS.get(cls)
    if plan is None:
        hints = typing.get_type_hints(cls)
        plan = []
        for f in dataclasses.fields(cls):
            if not f.init or f.name in ("source",):
                continue
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:
                default = None
            plan.append((f.name, hints[f.name], default))
        _HINTS[cls] = plan
    return plan


T = TypeVar("T")


def _build(cls: type[T], raw: Mapping[str, Any]) -> T:
    hook = getattr(cls, "_decode_hook", None)
    if hook is not None:
        raw = hook(raw)
    kwargs = {name: _decode(tp, raw.get(name), default) for name, tp, default in _plan(cls)}
    return cls(**kwargs)


def parse_duration(text: str | None) -> float | None:
    """Parse a protobuf/Go duration such as ``"5s"``, ``"1.5s"``, ``"100ms"``, ``"1m30s"``.

    Args:
        text: the duration as written in YAML, or None.

    Returns:
        Seconds as a float, or None when ``text`` is empty or malformed.
    """
    if not text or not isinstance(text, str):
        return None
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    total, i, n = 0.0, 0, len(text)
    if n == 0:
        return None
    while i < n:
        j = i
        while j < n and (text[j].isdigit() or text[j] == "."):
            j += 1
        if j == i:
            return None
        try:
            num = float(text[i:j])
        except ValueError:
            return None
        k = j
        while k < n and not (text[k].isdigit() or text[k] == "."):
            k += 1
        unit = text[j:k]
        if unit not in units:
            return None
        total += num * units[unit]
        i = k
    return total


# ------------------------------------------------------------------- metadata


@dataclass(frozen=True, slots=True)
class ObjectMeta:
    """Kubernetes ``metadata``: name, namespace ("" for cluster-scoped kinds), labels, annotations."""

    name: str = ""
    namespace: str = ""
    labels: Mapping[str, str] = field(default_factory=_empty_map)
    annotations: Mapping[str, str] = field(default_factory=_empty_map)
    generation: int | None = None
    uid: str = ""


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """Kubernetes ``LabelSelector`` (only ``matchLabels`` is modelled)."""

    matchLabels: Mapping[str, str] = field(default_factory=_empty_map)


@dataclass(frozen=True, slots=True)
class WorkloadSelector:
    """Istio ``WorkloadSelector`` (``matchLabels``)."""

    matchLabels: Mapping[str, str] = field(default_factory=_empty_map)


@dataclass(frozen=True, slots=True)
class Resource:
    """Fields every model carries: ``apiVersion``, ``kind``, ``metadata`` and the ``source``."""

    apiVersion: str = ""
    kind: str = ""
    metadata: ObjectMeta = ObjectMeta()
    source: Source = field(default=Source(), compare=False)

    KIND: ClassVar[str] = ""

    @property
    def key(self) -> ResourceKey:
        """``ResourceKey(kind, namespace, name)`` (namespace "" for cluster-scoped kinds)."""
        return ResourceKey(self.kind or self.KIND, self.metadata.namespace, self.metadata.name)

    @property
    def name(self) -> str:
        """Shortcut for ``metadata.name``."""
        return self.metadata.name

    @property
    def namespace(self) -> str:
        """Shortcut for ``metadata.namespace``."""
        return self.metadata.namespace


# -------------------------------------------------------------------- Gateway


@dataclass(frozen=True, slots=True)
class Port:
    """Istio ``Port`` (Gateway server port) and ``ServicePort`` (ServiceEntry port)."""

    number: int | None = None
    protocol: str = ""
    name: str = ""
    targetPort: int | None = None


@dataclass(frozen=True, slots=True)
class ServerTLSSettings:
    """Gateway ``Server.tls``. ``mode`` defaults to PASSTHROUGH, the proto's zero value
    (docs/behaviour.md §6)."""

    httpsRedirect: bool = False
    mode: str = "PASSTHROUGH"
    serverCertificate: str = ""
    privateKey: str = ""
    caCertificates: str = ""
    caCrl: str = ""
    credentialName: str = ""
    credentialNames: tuple[str, ...] = ()
    subjectAltNames: tuple[str, ...] = ()
    verifyCertificateSpki: tuple[str, ...] = ()
    verifyCertificateHash: tuple[str, ...] = ()
    minProtocolVersion: str = ""
    maxProtocolVersion: str = ""
    cipherSuites: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Server:
    """One Gateway ``Server``: a port, hosts (``[ns/]dnsName``), optional TLS and bind."""

    port: Port | None = None
    bind: str = ""
    hosts: tuple[str, ...] = ()
    tls: ServerTLSSettings | None = None
    name: str = ""
    defaultEndpoint: str = ""


@dataclass(frozen=True, slots=True)
class GatewaySpec:
    """Gateway ``spec``."""

    selector: Mapping[str, str] | None = None
    servers: tuple[Server, ...] = ()


@dataclass(frozen=True, slots=True)
class Gateway(Resource):
    """``networking.istio.io`` Gateway."""

    spec: GatewaySpec = GatewaySpec()
    KIND: ClassVar[str] = "Gateway"


# ------------------------------------------------------------- VirtualService


@dataclass(frozen=True, slots=True)
class StringMatch:
    """Istio ``StringMatch``: one of ``exact``, ``prefix``, ``regex`` (all None = presence)."""

    exact: str | None = None
    prefix: str | None = None
    regex: str | None = None


@dataclass(frozen=True, slots=True)
class PortSelector:
    """Istio ``PortSelector`` (``number``)."""

    number: int | None = None


@dataclass(frozen=True, slots=True)
class Destination:
    """Istio ``Destination``: ``host``, optional ``subset`` and ``port.number``."""

    host: str = ""
    subset: str = ""
    port: PortSelector | None = None


@dataclass(frozen=True, slots=True)
class HeaderOperations:
    """``set``/``add``/``remove`` header operations."""

    set: Mapping[str, str] = field(default_factory=_empty_map)
    add: Mapping[str, str] = field(default_factory=_empty_map)
    remove: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Headers:
    """Istio ``Headers``: request and response header operations."""

    request: HeaderOperations | None = None
    response: HeaderOperations | None = None


@dataclass(frozen=True, slots=True)
class HTTPMatchRequest:
    """Istio ``HTTPMatchRequest``; every condition set must hold (AND)."""

    name: str = ""
    uri: StringMatch | None = None
    scheme: StringMatch | None = None
    method: StringMatch | None = None
    authority: StringMatch | None = None
    headers: Mapping[str, StringMatch] = field(default_factory=_empty_map)
    port: int | None = None
    sourceLabels: Mapping[str, str] = field(default_factory=_empty_map)
    gateways: tuple[str, ...] = ()
    queryParams: Mapping[str, StringMatch] = field(default_factory=_empty_map)
    ignoreUriCase: bool = False
    withoutHeaders: Mapping[str, StringMatch] = field(default_factory=_empty_map)
    sourceNamespace: str = ""
    statPrefix: str = ""


@dataclass(frozen=True, slots=True)
class HTTPRouteDestination:
    """Istio ``HTTPRouteDestination``: a destination, a ``weight`` and header operations."""

    destination: Destination | None = None
    weight: int = 0
    headers: Headers | None = None


@dataclass(frozen=True, slots=True)
class RouteDestination:
    """Istio ``RouteDestination`` (TLS and TCP routes)."""

    destination: Destination | None = None
    weight: int = 0


@dataclass(frozen=True, slots=True)
class HTTPRedirect:
    """Istio ``HTTPRedirect``. ``redirectCode`` 0 means the default 301."""

    uri: str = ""
    authority: str = ""
    port: int | None = None
    derivePort: str = ""
    scheme: str = ""
    redirectCode: int = 0


@dataclass(frozen=True, slots=True)
class RegexRewrite:
    """Istio ``RegexRewrite`` (``match`` and ``rewrite``)."""

    match: str = ""
    rewrite: str = ""


@dataclass(frozen=True, slots=True)
class HTTPRewrite:
    """Istio ``HTTPRewrite``: ``uri`` prefix rewrite, ``authority``, ``uriRegexRewrite``."""

    uri: str = ""
    authority: str = ""
    uriRegexRewrite: RegexRewrite | None = None


@dataclass(frozen=True, slots=True)
class HTTPDirectResponse:
    """Istio ``HTTPDirectResponse``; ``body`` is the ``body.string`` (or decoded ``body.bytes``)."""

    status: int = 0
    body: str | None = None

    @staticmethod
    def _decode_hook(raw: Mapping[str, Any]) -> Mapping[str, Any]:
        body = raw.get("body")
        text: str | None = None
        if isinstance(body, Mapping):
            if isinstance(body.get("string"), str):
                text = body["string"]
            elif isinstance(body.get("bytes"), str):
                try:
                    text = base64.b64decode(body["bytes"], validate=True).decode("utf-8", "replace")
                except (binascii.Error, ValueError):
                    text = None
        return {**raw, "body": text}


@dataclass(frozen=True, slots=True)
class HTTPRetry:
    """Istio ``HTTPRetry``."""

    attempts: int | None = None
    perTryTimeout: str = ""
    retryOn: str = ""
    retryRemoteLocalities: bool | None = None


@dataclass(frozen=True, slots=True)
class Delegate:
    """Istio ``Delegate`` (name, namespace)."""

    name: str = ""
    namespace: str = ""


@dataclass(frozen=True, slots=True)
class HTTPRoute:
    """Istio ``HTTPRoute``. ``fault``, ``corsPolicy`` and ``mirrorPercentage`` are kept free-form."""

    name: str = ""
    match: tuple[HTTPMatchRequest, ...] = ()
    route: tuple[HTTPRouteDestination, ...] = ()
    redirect: HTTPRedirect | None = None
    directResponse: HTTPDirectResponse | None = None
    delegate: Delegate | None = None
    rewrite: HTTPRewrite | None = None
    timeout: str = ""
    retries: HTTPRetry | None = None
    fault: Any = None
    mirror: Destination | None = None
    mirrors: Any = None
    mirrorPercentage: Any = None
    corsPolicy: Any = None
    headers: Headers | None = None


@dataclass(frozen=True, slots=True)
class TLSMatchAttributes:
    """Istio ``TLSMatchAttributes``."""

    sniHosts: tuple[str, ...] = ()
    destinationSubnets: tuple[str, ...] = ()
    port: int | None = None
    sourceLabels: Mapping[str, str] = field(default_factory=_empty_map)
    gateways: tuple[str, ...] = ()
    sourceNamespace: str = ""


@dataclass(frozen=True, slots=True)
class L4MatchAttributes:
    """Istio ``L4MatchAttributes`` (TCP route match)."""

    destinationSubnets: tuple[str, ...] = ()
    port: int | None = None
    sourceLabels: Mapping[str, str] = field(default_factory=_empty_map)
    gateways: tuple[str, ...] = ()
    sourceNamespace: str = ""


@dataclass(frozen=True, slots=True)
class TLSRoute:
    """Istio ``TLSRoute``."""

    match: tuple[TLSMatchAttributes, ...] = ()
    route: tuple[RouteDestination, ...] = ()


@dataclass(frozen=True, slots=True)
class TCPRoute:
    """Istio ``TCPRoute``."""

    match: tuple[L4MatchAttributes, ...] = ()
    route: tuple[RouteDestination, ...] = ()


@dataclass(frozen=True, slots=True)
class VirtualServiceSpec:
    """VirtualService ``spec``."""

    hosts: tuple[str, ...] = ()
    gateways: tuple[str, ...] = ()
    http: tuple[HTTPRoute, ...] = ()
    tls: tuple[TLSRoute, ...] = ()
    tcp: tuple[TCPRoute, ...] = ()
    exportTo: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class VirtualService(Resource):
    """``networking.istio.io`` VirtualService."""

    spec: VirtualServiceSpec = VirtualServiceSpec()
    KIND: ClassVar[str] = "VirtualService"


# ------------------------------------------------------------ DestinationRule


@dataclass(frozen=True, slots=True)
class ClientTLSSettings:
    """Istio ``ClientTLSSettings`` (upstream TLS, docs/behaviour.md §13). ``mode`` defaults to DISABLE."""

    mode: str = "DISABLE"
    clientCertificate: str = ""
    privateKey: str = ""
    caCertificates: str = ""
    credentialName: str = ""
    subjectAltNames: tuple[str, ...] = ()
    sni: str = ""
    insecureSkipVerify: bool | None = None
    caCrl: str = ""


@dataclass(frozen=True, slots=True)
class PortTrafficPolicy:
    """Istio ``TrafficPolicy.PortTrafficPolicy``."""

    port: PortSelector | None = None
    loadBalancer: Any = None
    connectionPool: Any = None
    outlierDetection: Any = None
    tls: ClientTLSSettings | None = None


@dataclass(frozen=True, slots=True)
class TrafficPolicy:
    """Istio ``TrafficPolicy`` (``tls`` and ``portLevelSettings`` are interpreted, the rest kept)."""

    loadBalancer: Any = None
    connectionPool: Any = None
    outlierDetection: Any = None
    tls: ClientTLSSettings | None = None
    portLevelSettings: tuple[PortTrafficPolicy, ...] = ()
    tunnel: Any = None
    proxyProtocol: Any = None


@dataclass(frozen=True, slots=True)
class Subset:
    """Istio ``Subset``: a name, pod labels and an optional traffic policy override."""

    name: str = ""
    labels: Mapping[str, str] = field(default_factory=_empty_map)
    trafficPolicy: TrafficPolicy | None = None


@dataclass(frozen=True, slots=True)
class DestinationRuleSpec:
    """DestinationRule ``spec``."""

    host: str = ""
    trafficPolicy: TrafficPolicy | None = None
    subsets: tuple[Subset, ...] = ()
    exportTo: tuple[str, ...] = ()
    workloadSelector: WorkloadSelector | None = None


@dataclass(frozen=True, slots=True)
class DestinationRule(Resource):
    """``networking.istio.io`` DestinationRule."""

    spec: DestinationRuleSpec = DestinationRuleSpec()
    KIND: ClassVar[str] = "DestinationRule"


# --------------------------------------------------------------- ServiceEntry


@dataclass(frozen=True, slots=True)
class WorkloadEntry:
    """Istio ``WorkloadEntry`` as a ServiceEntry endpoint; ``ports`` maps port name → number."""

    address: str = ""
    ports: Mapping[str, int] = field(default_factory=_empty_map)
    labels: Mapping[str, str] = field(default_factory=_empty_map)
    network: str = ""
    locality: str = ""
    weight: int | None = None
    serviceAccount: str = ""


@dataclass(frozen=True, slots=True)
class ServiceEntrySpec:
    """ServiceEntry ``spec``; ``location`` defaults to MESH_EXTERNAL, ``resolution`` to NONE."""

    hosts: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()
    ports: tuple[Port, ...] = ()
    location: str = "MESH_EXTERNAL"
    resolution: str = "NONE"
    endpoints: tuple[WorkloadEntry, ...] = ()
    workloadSelector: WorkloadSelector | None = None
    exportTo: tuple[str, ...] = ()
    subjectAltNames: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ServiceEntry(Resource):
    """``networking.istio.io`` ServiceEntry."""

    spec: ServiceEntrySpec = ServiceEntrySpec()
    KIND: ClassVar[str] = "ServiceEntry"


# ------------------------------------------------------------------ core kinds


@dataclass(frozen=True, slots=True)
class Namespace(Resource):
    """Core ``v1`` Namespace (cluster-scoped: ``metadata.namespace`` is "")."""

    KIND: ClassVar[str] = "Namespace"


@dataclass(frozen=True, slots=True)
class ServicePort:
    """Kubernetes ``ServicePort``; ``targetPort`` is an int, a container port name, or None."""

    name: str = ""
    port: int | None = None
    targetPort: int | str | None = None
    protocol: str = "TCP"
    appProtocol: str = ""
    nodePort: int | None = None


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """Kubernetes ``ServiceSpec``."""

    ports: tuple[ServicePort, ...] = ()
    selector: Mapping[str, str] = field(default_factory=_empty_map)
    type: str = "ClusterIP"
    clusterIP: str = ""


@dataclass(frozen=True, slots=True)
class Service(Resource):
    """Core ``v1`` Service."""

    spec: ServiceSpec = ServiceSpec()
    KIND: ClassVar[str] = "Service"


@dataclass(frozen=True, slots=True)
class Secret(Resource):
    """Core ``v1`` Secret. ``data`` holds decoded bytes, with ``stringData`` merged over it."""

    type: str = "Opaque"
    data: Mapping[str, bytes] = field(default_factory=_empty_map)
    KIND: ClassVar[str] = "Secret"

    def __repr__(self) -> str:
        # The data are credentials (a TLS Secret's private key): shown as kubectl describe
        # shows them, by size; metadata's annotations may hold kubectl's copy of them.
        sizes = ", ".join(f"{k}: {len(v)} bytes" for k, v in self.data.items())
        where = f"{self.metadata.namespace}/{self.metadata.name}"
        return f"Secret({where}, type={self.type!r}, data=<redacted: {sizes}>)"

    @staticmethod
    def _decode_hook(raw: Mapping[str, Any]) -> Mapping[str, Any]:
        merged: dict[str, bytes] = {}
        data = raw.get("data")
        if isinstance(data, Mapping):
            for k, v in data.items():
                if not isinstance(k, str):
                    continue
                if v is None:
                    merged[k] = b""
                    continue
                if not isinstance(v, str):
                    v = str(v)
                try:
                    merged[k] = base64.b64decode("".join(v.split()), validate=True)
                except (binascii.Error, ValueError) as exc:
                    # The API server rejects it the same way (kubectl text).
                    raise ManifestError(
                        f'Secret in version "v1" cannot be handled as a Secret: illegal base64 data '
                        f"in key {k!r}: {exc}"
                    ) from exc
        string_data = raw.get("stringData")
        if isinstance(string_data, Mapping):
            # Kubernetes: "stringData ... is merged into the data field on write, overwriting
            # any existing values".
            for k, v in string_data.items():
                if isinstance(k, str) and v is not None:
                    merged[k] = (v if isinstance(v, str) else str(v)).encode("utf-8")
        return {**raw, "data": _RawBytes(merged)}


class _RawBytes(dict[str, bytes]):
    """Marker: already-decoded Secret data (the generic decoder must not re-decode it)."""


@dataclass(frozen=True, slots=True)
class ConfigMap(Resource):
    """Core ``v1`` ConfigMap (``data`` strings; ``binaryData`` decoded to bytes)."""

    data: Mapping[str, str] = field(default_factory=_empty_map)
    binaryData: Mapping[str, bytes] = field(default_factory=_empty_map)
    KIND: ClassVar[str] = "ConfigMap"

    @staticmethod
    def _decode_hook(raw: Mapping[str, Any]) -> Mapping[str, Any]:
        binary: dict[str, bytes] = {}
        bd = raw.get("binaryData")
        if isinstance(bd, Mapping):
            for k, v in bd.items():
                if isinstance(k, str) and isinstance(v, str):
                    try:
                        binary[k] = base64.b64decode("".join(v.split()), validate=True)
                    except (binascii.Error, ValueError):
                        continue
        return {**raw, "binaryData": _RawBytes(binary)}


@dataclass(frozen=True, slots=True)
class ServiceAccount(Resource):
    """Core ``v1`` ServiceAccount."""

    KIND: ClassVar[str] = "ServiceAccount"


@dataclass(frozen=True, slots=True)
class ContainerPort:
    """Kubernetes ``ContainerPort``."""

    containerPort: int | None = None
    name: str = ""
    protocol: str = "TCP"


@dataclass(frozen=True, slots=True)
class VolumeMount:
    """Kubernetes ``VolumeMount``."""

    name: str = ""
    mountPath: str = ""
    readOnly: bool = False
    subPath: str = ""


@dataclass(frozen=True, slots=True)
class EnvVar:
    """Kubernetes ``EnvVar`` (literal ``value`` only)."""

    name: str = ""
    value: str = ""


@dataclass(frozen=True, slots=True)
class Container:
    """Kubernetes ``Container`` (the fields the sandbox runs or inspects)."""

    name: str = ""
    image: str = ""
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    ports: tuple[ContainerPort, ...] = ()
    volumeMounts: tuple[VolumeMount, ...] = ()
    env: tuple[EnvVar, ...] = ()


@dataclass(frozen=True, slots=True)
class KeyToPath:
    """Kubernetes ``KeyToPath`` (volume ``items``)."""

    key: str = ""
    path: str = ""


@dataclass(frozen=True, slots=True)
class SecretVolumeSource:
    """Kubernetes ``SecretVolumeSource``."""

    secretName: str = ""
    items: tuple[KeyToPath, ...] = ()
    optional: bool = False


@dataclass(frozen=True, slots=True)
class ConfigMapVolumeSource:
    """Kubernetes ``ConfigMapVolumeSource``."""

    name: str = ""
    items: tuple[KeyToPath, ...] = ()
    optional: bool = False


@dataclass(frozen=True, slots=True)
class Volume:
    """Kubernetes ``Volume`` (Secret and ConfigMap sources are modelled)."""

    name: str = ""
    secret: SecretVolumeSource | None = None
    configMap: ConfigMapVolumeSource | None = None


@dataclass(frozen=True, slots=True)
class PodSpec:
    """Kubernetes ``PodSpec`` (abridged)."""

    containers: tuple[Container, ...] = ()
    volumes: tuple[Volume, ...] = ()
    serviceAccountName: str = ""


@dataclass(frozen=True, slots=True)
class PodTemplateSpec:
    """Kubernetes ``PodTemplateSpec``."""

    metadata: ObjectMeta = ObjectMeta()
    spec: PodSpec = PodSpec()


@dataclass(frozen=True, slots=True)
class DeploymentSpec:
    """``apps/v1`` ``DeploymentSpec``; ``replicas`` defaults to 1 as in Kubernetes."""

    replicas: int = 1
    selector: LabelSelector = LabelSelector()
    template: PodTemplateSpec = PodTemplateSpec()


@dataclass(frozen=True, slots=True)
class Deployment(Resource):
    """``apps/v1`` Deployment."""

    spec: DeploymentSpec = DeploymentSpec()
    KIND: ClassVar[str] = "Deployment"

    @property
    def containers(self) -> tuple[Container, ...]:
        """The pod template's containers."""
        return self.spec.template.spec.containers

    @property
    def volumes(self) -> tuple[Volume, ...]:
        """The pod template's volumes."""
        return self.spec.template.spec.volumes

    @property
    def pod_labels(self) -> Mapping[str, str]:
        """The pod template's labels (what Services and Gateway selectors match)."""
        return self.spec.template.metadata.labels

    @property
    def pod_annotations(self) -> Mapping[str, str]:
        """The pod template's annotations."""
        return self.spec.template.metadata.annotations


# -------------------------------------------------------------------- entry


MODELS: dict[str, type[Resource]] = {
    cls.KIND: cls
    for cls in (
        Gateway,
        VirtualService,
        DestinationRule,
        ServiceEntry,
        Namespace,
        Service,
        Secret,
        ConfigMap,
        ServiceAccount,
        Deployment,
    )
}


def _decode_bytes_map(value: Any) -> FrozenMap[bytes]:
    if isinstance(value, _RawBytes):
        return FrozenMap(dict(value))
    return FrozenMap()


def from_dict(raw: Mapping[str, Any], source: Source | None = None) -> Resource:
    """Build the typed model for one manifest dict.

    Args:
        raw: the manifest as parsed from YAML (normally already validated).
        source: where it came from (kept on the model for messages).

    Returns:
        The model instance (``Gateway``, ``Service``, ...). Namespaced kinds without a namespace
        get ``default``, as ``kubectl apply`` does without ``-n``.

    Raises:
        ManifestError: ``raw`` is not a mapping, its ``kind`` is unsupported, or a Secret's
            ``data`` is not base64. Nothing else escapes.
    """
    src = source if source is not None else Source()
    try:
        if not isinstance(raw, Mapping):
            raise ManifestError(f"error validating data: expected a mapping, got {type(raw).__name__}")
        kind_raw = raw.get("kind")
        api_version = raw.get("apiVersion")
        if isinstance(api_version, str) and api_version.startswith("gateway.networking.k8s.io/"):
            # The Kubernetes Gateway API kinds have their own models (and share kind names).
            from gatewaykit.resources import gatewayapi  # noqa: PLC0415 - gatewayapi imports this module

            return gatewayapi.from_dict(raw, src)
        cls = MODELS.get(kind_raw) if isinstance(kind_raw, str) else None
        if cls is None or not isinstance(kind_raw, str):
            supported = ", ".join(MODELS)
            raise ManifestError(
                f'no matches for kind "{kind_raw}" in version "{api_version}" (supported kinds: {supported})'
            )
        kind: str = kind_raw
        info = kind_info(api_version, kind) if isinstance(api_version, str) else None
        meta_raw = raw.get("metadata")
        meta = _build(ObjectMeta, meta_raw) if isinstance(meta_raw, Mapping) else ObjectMeta()
        namespaced = info.namespaced if info is not None else cls is not Namespace
        if not namespaced:
            meta = dataclasses.replace(meta, namespace="")
        elif not meta.namespace:
            meta = dataclasses.replace(meta, namespace="default")
        body = raw
        hook = getattr(cls, "_decode_hook", None)
        if hook is not None:
            body = hook(raw)
        kwargs: dict[str, Any] = {}
        for name, tp, default in _plan(cls):
            if name in ("apiVersion", "kind", "metadata"):
                continue
            value = body.get(name)
            if isinstance(value, _RawBytes):
                kwargs[name] = _decode_bytes_map(value)
            else:
                kwargs[name] = _decode(tp, value, default)
        return cls(
            apiVersion=api_version if isinstance(api_version, str) else "",
            kind=kind,
            metadata=meta,
            source=src,
            **kwargs,
        )
    except GatewayKitError:
        raise
    except Exception as exc:  # noqa: BLE001 - the contract: only gatewaykit errors escape
        raise ManifestError(f"error decoding {src}: {type(exc).__name__}: {exc}") from exc


def iter_models(raws: Iterator[Mapping[str, Any]]) -> Iterator[Resource]:
    """Build models for several dicts (convenience for tests and tools)."""
    for i, raw in enumerate(raws):
        yield from_dict(raw, Source(index=i))
