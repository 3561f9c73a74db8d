"""Envoy-shaped output of the translation: listeners, route configurations, clusters, secrets.

Rule: no I/O here. These are frozen dataclasses that mirror the Envoy xDS types
istiod sends to a proxy, named exactly as Istio names them, so that what a learner
sees in the explain view lines up with ``istioctl proxy-config ... -o json``:

* listeners ``0.0.0.0_8080`` (gateway; the *pod* port, after Service port → targetPort, §2)
* route configurations ``http.8080`` and ``https.443.https.<gateway>.<namespace>`` (§4.4)
* virtual hosts ``httpbin.example.com:80`` and the ``blackhole:80`` catch-all (§2)
* clusters ``outbound|8000||httpbin.default.svc.cluster.local``, ``PassthroughCluster``,
  ``BlackHoleCluster`` (§11)
* SDS secrets ``kubernetes://httpbin-credential``, ``kubernetes://httpbin-credential-cacert``,
  ``file-cert:<cert>~<key>``, ``file-root:<ca>`` (§8)

Field names are Envoy's snake_case. ``to_dict()`` renders each object the way
``istioctl proxy-config`` prints it (abridged to the fields gatewaykit models).

Endpoints carry *pod* addresses (``10.244.0.7:8080``). The data plane maps those to real
127.0.0.1 ports; the core never knows about sockets.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "Cluster",
    "DirectResponseAction",
    "FaultAbort",
    "FaultDelay",
    "HttpFault",
    "DownstreamTlsContext",
    "Endpoint",
    "FilterChain",
    "FilterChainMatch",
    "HeaderMatcher",
    "HttpConnectionManager",
    "Listener",
    "ProxyConfig",
    "RedirectAction",
    "RequestMirrorPolicy",
    "RetryPolicy",
    "Route",
    "RouteAction",
    "RouteConfiguration",
    "RouteMatch",
    "SecretMaterial",
    "TcpProxy",
    "UpstreamTlsContext",
    "VirtualHost",
    "WeightedCluster",
    "to_dict",
]

TlsMode = Literal["SIMPLE", "MUTUAL", "OPTIONAL_MUTUAL", "ISTIO_MUTUAL"]


def to_dict(obj: Any) -> Any:
    """Render an Envoy model object (or a tuple/dict of them) as JSON-ready data.

    Fields that are ``None``, empty tuples or empty dicts are omitted, like protobuf JSON.
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if value is None or value == () or value == {}:
                continue
            out[f.metadata.get("json", f.name)] = to_dict(value)
        return out
    if isinstance(obj, Mapping):
        return {str(k): to_dict(v) for k, v in obj.items()}
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "replace")
    if isinstance(obj, (tuple, list)):
        return [to_dict(v) for v in obj]
    return obj


# --------------------------------------------------------------------------- TLS


@dataclass(frozen=True, slots=True)
class DownstreamTlsContext:
    """TLS termination on a gateway filter chain (Gateway ``tls.mode`` SIMPLE/MUTUAL/...).

    ``certificate_sds`` / ``validation_sds`` are SDS resource names; their PEM material is in
    :attr:`ProxyConfig.secrets`. ``require_client_certificate`` is True for MUTUAL and
    ISTIO_MUTUAL; OPTIONAL_MUTUAL requests a certificate but lets the handshake finish without one.
    """

    mode: TlsMode
    certificate_sds: str | None = None
    validation_sds: str | None = None
    require_client_certificate: bool = False
    # Gateway ``credentialNames`` (up to 2: an RSA and an ECDSA certificate); the first is
    # ``certificate_sds`` too, so single-certificate code keeps working.
    certificate_sds_list: tuple[str, ...] = ()
    alpn_protocols: tuple[str, ...] = ("h2", "http/1.1")
    min_protocol_version: str | None = None
    max_protocol_version: str | None = None
    cipher_suites: tuple[str, ...] = ()
    subject_alt_names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class UpstreamTlsContext:
    """TLS origination towards a cluster (DestinationRule ``trafficPolicy.tls``, §13)."""

    mode: Literal["SIMPLE", "MUTUAL", "ISTIO_MUTUAL"]
    sni: str | None = None
    certificate_sds: str | None = None
    validation_sds: str | None = None
    alpn_protocols: tuple[str, ...] = ()
    subject_alt_names: tuple[str, ...] = ()
    insecure_skip_verify: bool = False


@dataclass(frozen=True, slots=True)
class SecretMaterial:
    """What SDS would serve for one resource name, or why it serves nothing.

    Exactly one of (``certificate_chain`` + ``private_key``), ``trusted_ca`` or ``error`` is
    set. ``error`` holds istiod's log text (§8.1), e.g. ``secret istio-system/x not found``;
    a filter chain whose certificate secret has an error fails its handshakes (exit 35).
    ``private_key`` is never included in :func:`to_dict` output.

    Material that is served but broken carries two more texts: ``invalid``, istiod's warning
    when the certificate does not parse (``invalid certificates: ns/name "kubernetes://name":
    pem decode failed``, pilot/pkg/xds/sds.go ``ValidateCertificate``), and ``rejected``, why
    Envoy refuses to load it (``Failed to load private key from <inline>, Cause: ...``). Envoy
    keeps a rejected secret out of its active secrets (``istioctl proxy-config secret`` shows
    it ``WARMING``), logs ``gRPC config for ...Secret rejected: <rejected>``, and its filter
    chain fails handshakes (exit 35).
    """

    name: str
    certificate_chain: bytes | None = None
    private_key: bytes | None = field(default=None, repr=False, metadata={"json": "_private_key"})
    trusted_ca: bytes | None = None
    error: str | None = None
    invalid: str | None = None
    rejected: str | None = None


# ---------------------------------------------------------------------- Listeners


@dataclass(frozen=True, slots=True)
class FilterChainMatch:
    """Envoy ``FilterChainMatch``: empty ``server_names`` matches any SNI (and no SNI).

    Istio leaves ``server_names`` empty when the server's hosts contain ``*`` (§4.4).
    ``transport_protocol`` is ``"tls"`` for TLS chains, ``"raw_buffer"`` for plaintext chains
    on listeners that have both, else None (any).
    """

    server_names: tuple[str, ...] = ()
    transport_protocol: str | None = None
    application_protocols: tuple[str, ...] = ()
    destination_port: int | None = None
    prefix_ranges: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HttpConnectionManager:
    """The HCM network filter: HTTP routing through route configuration ``route_config_name``.

    ``server_name`` is ``istio-envoy`` on gateways and ``envoy`` on sidecars (§1.1).
    ``use_remote_address`` is True at the gateway edge (adds x-envoy-external-address, §1.3).
    """

    route_config_name: str
    stat_prefix: str
    server_name: str = "istio-envoy"
    use_remote_address: bool = False
    forward_client_cert_details: str | None = None


@dataclass(frozen=True, slots=True)
class WeightedCluster:
    """One destination of a weighted route or TCP proxy."""

    name: str
    weight: int


@dataclass(frozen=True, slots=True)
class TcpProxy:
    """The TCP proxy network filter (TCP/TLS/MONGO servers, PASSTHROUGH, sidecar TCP)."""

    stat_prefix: str
    cluster: str | None = None
    weighted_clusters: tuple[WeightedCluster, ...] = ()


@dataclass(frozen=True, slots=True)
class FilterChain:
    """One filter chain: a match, an optional TLS termination, and exactly one network filter."""

    name: str
    filter_chain_match: FilterChainMatch = FilterChainMatch()
    transport_socket: DownstreamTlsContext | None = None
    http_connection_manager: HttpConnectionManager | None = None
    tcp_proxy: TcpProxy | None = None


@dataclass(frozen=True, slots=True)
class Listener:
    """A listener on the proxy's pod (``0.0.0.0_8080``) or a sidecar outbound port."""

    name: str
    address: str
    port: int
    filter_chains: tuple[FilterChain, ...] = ()
    default_filter_chain: FilterChain | None = None
    traffic_direction: Literal["INBOUND", "OUTBOUND", "UNSPECIFIED"] = "UNSPECIFIED"
    # Which Gateway servers produced this listener ("<ns>/<gateway>" and the server index),
    # so the explain view can point at the YAML that created it.
    origins: tuple[str, ...] = ()


# ------------------------------------------------------------------------- Routes


@dataclass(frozen=True, slots=True)
class HeaderMatcher:
    """Envoy header matcher; ``name`` is lower-case (``:authority`` for Host, ``:method``...)."""

    name: str
    exact: str | None = None
    prefix: str | None = None
    safe_regex: str | None = None
    present: bool | None = None
    invert_match: bool = False


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """Envoy ``RouteMatch``: exactly one of prefix/path/safe_regex/path_separated_prefix.

    ``prefix`` ``/`` is the catch-all. ``path_separated_prefix`` ``/foo`` matches ``/foo`` and
    ``/foo/...`` but not ``/foobar`` (Istio uses it for Gateway API ``PathPrefix`` matches other than
    ``/``: pilot/pkg/networking/core/route/route.go ``TranslateRouteMatch``).
    """

    prefix: str | None = None
    path: str | None = None
    safe_regex: str | None = None
    case_sensitive: bool = True
    headers: tuple[HeaderMatcher, ...] = ()
    query_parameters: tuple[HeaderMatcher, ...] = ()
    path_separated_prefix: str | None = None

    @property
    def matched_prefix(self) -> str | None:
        """The prefix a prefix rewrite replaces: ``prefix`` or ``path_separated_prefix``."""
        return self.prefix if self.prefix is not None else self.path_separated_prefix


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Envoy retry policy (Istio default: 2 retries, §1.4 notes)."""

    retry_on: str = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
    num_retries: int = 2
    per_try_timeout: float | None = None
    retriable_status_codes: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class RequestMirrorPolicy:
    """Envoy request mirroring (VirtualService ``mirror``/``mirrors``): fire-and-forget copy."""

    cluster: str
    runtime_fraction: float = 100.0


@dataclass(frozen=True, slots=True)
class FaultDelay:
    """Envoy fault filter delay (VirtualService ``fault.delay``): ``fixed_delay`` seconds."""

    fixed_delay: float
    percentage: float = 100.0


@dataclass(frozen=True, slots=True)
class FaultAbort:
    """Envoy fault filter abort (VirtualService ``fault.abort``).

    Envoy answers ``http_status`` with body ``fault filter abort`` and response flag ``FI``.
    """

    http_status: int
    percentage: float = 100.0


@dataclass(frozen=True, slots=True)
class HttpFault:
    """Per-route ``typed_per_filter_config`` of ``envoy.filters.http.fault``."""

    delay: FaultDelay | None = None
    abort: FaultAbort | None = None


@dataclass(frozen=True, slots=True)
class RouteAction:
    """Forward to a cluster (or weighted clusters).

    ``timeout`` is seconds; ``0.0`` means disabled (Istio's default for VirtualService routes).
    ``cluster_not_found_response_code`` is 503 for Istio VirtualServices (§1.4).
    """

    cluster: str | None = None
    weighted_clusters: tuple[WeightedCluster, ...] = ()
    timeout: float = 0.0
    retry_policy: RetryPolicy | None = None
    prefix_rewrite: str | None = None
    regex_rewrite: tuple[str, str] | None = None
    host_rewrite_literal: str | None = None
    cluster_not_found_response_code: int = 503
    request_mirror_policies: tuple[RequestMirrorPolicy, ...] = ()


@dataclass(frozen=True, slots=True)
class RedirectAction:
    """Envoy redirect (VirtualService ``redirect``); ``response_code`` defaults to 301."""

    scheme_redirect: str | None = None
    host_redirect: str | None = None
    port_redirect: int | None = None
    path_redirect: str | None = None
    prefix_rewrite: str | None = None
    response_code: int = 301


@dataclass(frozen=True, slots=True)
class DirectResponseAction:
    """Envoy direct response (VirtualService ``directResponse``, ``block_all``'s 502)."""

    status: int
    body: str | None = None


@dataclass(frozen=True, slots=True)
class Route:
    """One route: a match and exactly one of route / redirect / direct_response."""

    name: str
    match: RouteMatch
    route: RouteAction | None = None
    redirect: RedirectAction | None = None
    direct_response: DirectResponseAction | None = None
    decorator_operation: str | None = None
    request_headers_to_add: tuple[tuple[str, str], ...] = ()
    request_headers_to_remove: tuple[str, ...] = ()
    response_headers_to_add: tuple[tuple[str, str], ...] = ()
    response_headers_to_remove: tuple[str, ...] = ()
    fault: HttpFault | None = None
    # "<ns>/<virtualservice>" that produced this route, for the explain view.
    origin: str | None = None


@dataclass(frozen=True, slots=True)
class VirtualHost:
    """Envoy virtual host. ``require_tls`` is ``"ALL"`` for ``httpsRedirect`` (§6)."""

    name: str
    domains: tuple[str, ...]
    routes: tuple[Route, ...] = ()
    require_tls: Literal["NONE", "ALL"] = "NONE"


@dataclass(frozen=True, slots=True)
class RouteConfiguration:
    """Envoy route configuration (``http.8080``, ``https.443.https.gw.default``, ``80``)."""

    name: str
    virtual_hosts: tuple[VirtualHost, ...] = ()
    ignore_port_in_host_matching: bool = True


# ----------------------------------------------------------------------- Clusters


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A cluster member: a pod address (or an external address), with its workload name.

    ``workload`` is the pod name (``httpbin-7d8c9f6b4c-x2x9q``) or, for a ServiceEntry or the
    fake internet, the host name. ``healthy`` is False for pods that are not running.
    """

    address: str
    port: int
    workload: str = ""
    healthy: bool = True
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Cluster:
    """Envoy cluster (``outbound|<port>|<subset>|<fqdn>``).

    ``type`` mirrors Envoy: ``EDS`` for Services, ``STRICT_DNS``/``STATIC`` for ServiceEntries,
    ``ORIGINAL_DST`` for ``PassthroughCluster``, ``STATIC`` with no endpoints for
    ``BlackHoleCluster``.
    """

    name: str
    type: Literal["EDS", "STRICT_DNS", "LOGICAL_DNS", "STATIC", "ORIGINAL_DST"] = "EDS"
    endpoints: tuple[Endpoint, ...] = ()
    transport_socket: UpstreamTlsContext | None = None
    service: str | None = None
    port: int | None = None
    subset: str | None = None
    connect_timeout: float = 10.0
    # "<ns>/<destinationrule>" that shaped this cluster (Istio's ``istio.config`` cluster metadata).
    origin: str | None = None


# -------------------------------------------------------------------------- Proxy


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    """Everything one proxy (a gateway pod or a sidecar) receives from istiod.

    ``id`` is ``<pod>.<namespace>`` like ``istioctl proxy-status``; ``type`` is ``router``
    for gateways and ``sidecar`` for injected workloads. ``labels`` are the pod labels
    (what Gateway ``selector`` matches). ``log`` lists istiod messages about this proxy
    (skipped servers, missing secrets), verbatim (§8.1, §10).
    """

    id: str
    type: Literal["router", "sidecar"]
    namespace: str
    workload: str
    labels: tuple[tuple[str, str], ...] = ()
    listeners: tuple[Listener, ...] = ()
    route_configs: Mapping[str, RouteConfiguration] = field(default_factory=dict)
    clusters: Mapping[str, Cluster] = field(default_factory=dict)
    secrets: Mapping[str, SecretMaterial] = field(default_factory=dict)
    log: tuple[str, ...] = ()
    # The pod's ServiceAccount: its SPIFFE identity is spiffe://cluster.local/ns/<ns>/sa/<this>.
    service_account: str = ""

    def listener(self, port: int) -> Listener | None:
        """Return the listener bound on ``port`` (0.0.0.0), or None."""
        for lst in self.listeners:
            if lst.port == port:
                return lst
        return None

    def to_dict(self) -> dict[str, Any]:
        """Render like ``istioctl proxy-config all -o json`` (abridged; keys never printed)."""
        return {
            "id": self.id,
            "listeners": to_dict(self.listeners),
            "routes": to_dict(list(self.route_configs.values())),
            "clusters": to_dict(list(self.clusters.values())),
            "secrets": [
                {k: v for k, v in to_dict(s).items() if k != "_private_key"}
                for s in self.secrets.values()
            ],
        }
