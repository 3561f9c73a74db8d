"""Header policy of Envoy's HTTP connection manager and router, as pure functions over tables.

Rule: no I/O here. Each function takes what one hop knows (a :class:`Hop`) and returns header
lists; the tables say what happens to each header and cite where Envoy/Istio decide it:

* Envoy ``ConnectionManagerUtility::mutateRequestHeaders`` (``conn_manager_utility.cc``): hop-by-hop
  headers dropped, ``x-forwarded-for`` appended at the edge (``use_remote_address``),
  ``x-forwarded-proto`` set, ``x-request-id`` generated, internal ``x-envoy-*`` headers cleaned
  on edge requests, ``x-forwarded-client-cert`` per ``forward_client_cert_details``;
* Envoy's router (``router.cc``): ``x-envoy-original-path`` on rewrites,
  ``x-envoy-expected-rq-timeout-ms``, ``x-envoy-attempt-count`` (Istio turns on
  ``include_request_attempt_count``, ``pilot/pkg/networking/core/httproute.go``), and on the
  response ``x-envoy-upstream-service-time``;
* Istio's ``ServerHeaderTransformation: OVERWRITE`` (``httproute.go``): the ``server`` header.

The headers a learner sees through httpbin ``/headers`` (docs/behaviour.md §1.3) and on responses (§1.1–§1.2)
come from here, so every rule names its source.
"""

from __future__ import annotations

import functools
import hashlib
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.utils import formatdate
from enum import Enum

from gatewaykit.dataplane._mx import PEER_METADATA, PEER_METADATA_ID

__all__ = [
    "ENVOY_INTERNAL",
    "HOP_BY_HOP",
    "REQUEST_HEADER_RULES",
    "SET_PER_HOP",
    "Hop",
    "Incoming",
    "forwarded_for",
    "http_date",
    "local_reply_headers",
    "response_headers",
    "upstream_request_headers",
    "with_attempt_count",
    "xfcc_value",
]

Headers = list[tuple[str, str]]

# Hop-by-hop headers Envoy never forwards (RFC 9110 §7.6.1; HTTP/2 forbids them,
# RFC 9113 §8.2.2). Envoy removes them in mutateRequestHeaders and its codecs re-frame the message.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "http2-settings"}
)
# Headers every proxy sets afresh for its own hop: framing (content-length is recomputed by the
# codec) and the forwarding headers mutateRequestHeaders owns.
SET_PER_HOP = frozenset(
    ("content-length", "x-forwarded-for", "x-forwarded-proto", "x-request-id", "x-forwarded-client-cert")
)
# Envoy's internal headers: "cleaned" on requests from the edge (cleanInternalHeaders) and
# re-set by each outbound hop's router; an inbound sidecar (not the edge) passes them on.
ENVOY_INTERNAL = frozenset(
    (
        "x-envoy-attempt-count",
        "x-envoy-external-address",
        "x-envoy-decorator-operation",
        "x-envoy-original-path",
        "x-envoy-expected-rq-timeout-ms",
    )
)


class Incoming(Enum):
    """What a hop does with a request header it received (the value is the reason)."""

    KEEP = "forwarded as received"
    DROP = "hop-by-hop: never forwarded (RFC 9110 §7.6.1, mutateRequestHeaders)"
    REPLACE = "set afresh for this hop (mutateRequestHeaders / the codec's framing)"
    CLEAN_OUTBOUND = "internal x-envoy-* header: cleaned, then re-set by an outbound hop's router"
    CONSUME_INBOUND = "consumed by an inbound hop: the tracing decorator, the peer metadata"


#: The rule for each request header with a special treatment; every other header is KEEP.
#: x-envoy-decorator-operation: Istio configures tracing on every HCM (meshConfig.enableTracing
#: defaults to true); on ingress-direction streams Envoy's ``traceRequest()`` uses the peer's
#: decorator for its span and then "Remove[s] header so not propagated to service"
#: (``conn_manager_impl.cc``), so an app behind a sidecar never sees it; outbound hops drop the
#: peer's value with the other internal headers and set their own route's decorator.
REQUEST_HEADER_RULES: dict[str, tuple[Incoming, Incoming]] = {
    # header: (on an outbound/gateway hop, on an inbound sidecar hop)
    **{h: (Incoming.DROP, Incoming.DROP) for h in HOP_BY_HOP},
    **{h: (Incoming.REPLACE, Incoming.REPLACE) for h in SET_PER_HOP},
    **{h: (Incoming.CLEAN_OUTBOUND, Incoming.KEEP) for h in ENVOY_INTERNAL},
    "x-envoy-decorator-operation": (Incoming.CLEAN_OUTBOUND, Incoming.CONSUME_INBOUND),
    # Istio's peer_metadata filter (_mx): outbound and gateway hops set their own
    # (MXPropagationMethod::inject, setReference); an inbound hop reads and removes them.
    PEER_METADATA: (Incoming.REPLACE, Incoming.CONSUME_INBOUND),
    PEER_METADATA_ID: (Incoming.REPLACE, Incoming.CONSUME_INBOUND),
}


def http_date() -> str:
    """Return the ``date`` header value Envoy writes (RFC 9110 IMF-fixdate)."""
    return formatdate(usegmt=True)


@dataclass(frozen=True, slots=True)
class Hop:
    """What one proxy hop knows when it builds the upstream request's headers.

    Attributes:
        authority: the ``:authority``/Host the upstream gets (after ``host_rewrite_literal``).
        edge: the HCM has ``use_remote_address`` (Istio gateways, docs/behaviour.md §1.3).
        inbound: the listener is a sidecar's inbound one (not the edge, no tracing decorator).
        tls: the downstream connection is TLS (``x-forwarded-proto: https`` at the edge).
        client_ip: the downstream peer address (``x-envoy-external-address`` at the edge).
        request_id: ``x-request-id`` (the client's, or a generated UUID).
        forwarded_for: the ``x-forwarded-for`` value for the upstream, or None.
        xfcc: the ``x-forwarded-client-cert`` value for the upstream, or None.
        decorator: the route's ``decorator.operation``.
        peer_metadata: ``(node id, metadata)`` this hop's metadata-exchange filter sends (None on
            inbound hops, which only consume them).
        original_path: the path before a rewrite (only when it was rewritten).
        timeout_ms: the route timeout in ms (``x-envoy-expected-rq-timeout-ms``), or None.
        framing: ``("content-length", "12")``, ``("transfer-encoding", "chunked")`` or None.
        remove: the route's ``request_headers_to_remove`` (lower-case).
        add: the route's ``request_headers_to_add``.
    """

    authority: str
    edge: bool
    inbound: bool
    tls: bool
    client_ip: str
    request_id: str
    forwarded_for: str | None = None
    xfcc: str | None = None
    decorator: str | None = None
    peer_metadata: tuple[str, str] | None = None
    original_path: str | None = None
    timeout_ms: int | None = None
    framing: tuple[str, str] | None = None
    remove: frozenset[str] = frozenset()
    add: tuple[tuple[str, str], ...] = ()


def forwarded_for(existing: str | None, client_ip: str, edge: bool) -> str | None:
    """The ``x-forwarded-for`` a hop sends: the edge appends the peer (``Utility::appendXff``).

    Envoy joins with a bare comma; a non-edge hop forwards the header as it came.
    """
    if not edge:
        return existing
    return f"{existing},{client_ip}" if existing else client_ip


def _incoming(name: str, hop: Hop) -> Incoming:
    if name in hop.remove:
        return Incoming.DROP  # route request_headers_to_remove
    rule = REQUEST_HEADER_RULES.get(name)
    if rule is None:
        return Incoming.KEEP
    return rule[1] if hop.inbound else rule[0]


def _forwarded_proto(received: str | None, hop: Hop) -> str:
    # The edge sets it from the connection; other hops keep what they received and only fill it
    # in when absent (mutateRequestHeaders), so an app behind an mTLS inbound hop still sees the
    # scheme the client used.
    if received and not hop.edge:
        return received
    return "https" if hop.tls else "http"


def upstream_request_headers(received: Sequence[tuple[str, str]], hop: Hop) -> Headers:
    """Build the headers the upstream request carries, in Envoy's order (host first).

    Args:
        received: the downstream request's headers (lower-case names, no pseudo-headers, no host).
        hop: what this hop knows.

    Returns:
        The header list; ``x-envoy-attempt-count`` is added per try by :func:`with_attempt_count`.
    """
    out: Headers = [("host", hop.authority)]
    out += [(k, v) for k, v in received if _incoming(k, hop) is Incoming.KEEP]
    if hop.framing is not None:
        out.append(hop.framing)
    if hop.forwarded_for:
        out.append(("x-forwarded-for", hop.forwarded_for))
    received_xfp = next((v for k, v in received if k == "x-forwarded-proto"), None)
    out.append(("x-forwarded-proto", _forwarded_proto(received_xfp, hop)))
    out.append(("x-request-id", hop.request_id))
    if hop.edge:
        out.append(("x-envoy-external-address", hop.client_ip))
    if hop.xfcc is not None:
        out.append(("x-forwarded-client-cert", hop.xfcc))
    if hop.decorator and not hop.inbound:
        # Envoy propagates the decorator only on egress-traced listeners; an inbound sidecar
        # sets none of its own (ConnectionManagerImpl::traceRequest).
        out.append(("x-envoy-decorator-operation", hop.decorator))
    if hop.peer_metadata is not None and not hop.inbound:
        # The MX filter is the first HTTP filter: after the HCM's headers, before the router's.
        out += [(PEER_METADATA_ID, hop.peer_metadata[0]), (PEER_METADATA, hop.peer_metadata[1])]
    if hop.original_path is not None:
        out.append(("x-envoy-original-path", hop.original_path))
    if hop.timeout_ms:
        out.append(("x-envoy-expected-rq-timeout-ms", str(hop.timeout_ms)))
    out.extend((k.lower(), v) for k, v in hop.add)
    return out


def with_attempt_count(headers: Iterable[tuple[str, str]], attempt: int) -> Headers:
    """Replace ``x-envoy-attempt-count`` with this try's number (router.cc setEnvoyAttemptCount)."""
    return [(k, v) for k, v in headers if k != "x-envoy-attempt-count"] + [
        ("x-envoy-attempt-count", str(attempt))
    ]


def response_headers(
    raw: Iterable[tuple[bytes, bytes]],
    server: str,
    service_ms: int,
    remove: Iterable[str] = (),
    add: Iterable[tuple[str, str]] = (),
    inbound: bool = False,
) -> Headers:
    """The headers Envoy sends downstream for an upstream response.

    Names are lower-cased; ``server`` is overwritten in place (Istio
    ``ServerHeaderTransformation: OVERWRITE``, docs/behaviour.md §1.1); hop-by-hop headers are dropped; the
    upstream ``date`` is kept (or one is added); the route's response header edits apply; and
    ``x-envoy-upstream-service-time`` is appended (router.cc ``onUpstreamHeaders``, docs/behaviour.md §1.2),
    replacing a peer proxy's value. An outbound or gateway hop's metadata-exchange filter reads
    and removes the peer's ``x-envoy-peer-metadata*`` headers (upstream discovery).
    """
    drop = {h.lower() for h in remove} | HOP_BY_HOP | {"x-envoy-upstream-service-time"}
    if not inbound:
        drop |= {PEER_METADATA, PEER_METADATA_ID}
    out: Headers = []
    saw_server = saw_date = False
    for name, value in raw:
        k = name.decode("latin-1").lower()
        v = value.decode("latin-1")
        if k in drop:
            continue
        if k == "server":
            if saw_server:
                continue
            saw_server, v = True, server
        saw_date = saw_date or k == "date"
        out.append((k, v))
    if not saw_date:
        out.insert(0, ("date", http_date()))
    if not saw_server:
        out.insert(0, ("server", server))
    out.extend((k.lower(), v) for k, v in add)
    out.append(("x-envoy-upstream-service-time", str(service_ms)))
    return out


def local_reply_headers(
    status: int, body: str, server: str, extra: tuple[tuple[str, str], ...] = ()
) -> tuple[tuple[str, str], ...]:
    """Headers of a local reply (Envoy ``sendLocalReply``), laid out like simulate's (docs/behaviour.md §1.2).

    ``content-length``/``content-type: text/plain`` for a body, extra headers, ``date``,
    ``server``, and ``content-length: 0`` last for an empty body; never
    ``x-envoy-upstream-service-time`` (no upstream answered).
    """
    out: Headers = []
    if body:
        out += [("content-length", str(len(body.encode()))), ("content-type", "text/plain")]
    out += list(extra)
    out += [("date", http_date()), ("server", server)]
    if not body:
        out.append(("content-length", "0"))
    return tuple(out)


# Istio's gateways ask for Cert, Subject, URI, DNS (buildGatewayConnectionManager); a sidecar's
# inbound for Subject, URI, DNS -- Envoy writes them in the order Cert, Subject, URI, DNS.
_XFCC_PEM_ESCAPES = (("%", "%25"), ("\n", "%0A"), (" ", "%20"), ("+", "%2B"), ("/", "%2F"), ("=", "%3D"))


def xfcc_value(
    mode: str,
    existing: str | None,
    peer_der: bytes | None,
    local_uris: Sequence[str],
    include_cert: bool,
) -> str | None:
    """The ``x-forwarded-client-cert`` value Envoy sends upstream (conn_manager_utility.cc).

    ``forward_client_cert_details`` (Envoy's default SANITIZE): without an mTLS peer the header
    is removed (except ALWAYS_FORWARD_ONLY); SANITIZE_SET replaces it and APPEND_FORWARD appends
    ``By=<own URI SAN>;Hash=<sha256>`` plus the details Istio asks for ("URI=" even when empty).

    Args:
        mode: the HCM's ``forward_client_cert_details`` (None/"" = SANITIZE).
        existing: the value the client sent, if any.
        peer_der: the verified client certificate (DER), None without mTLS.
        local_uris: the URI SANs of the proxy's own certificate (``By=``).
        include_cert: add ``Cert="<url-encoded PEM>"`` (Istio gateways).
    """
    mode = mode or "SANITIZE"
    if mode == "ALWAYS_FORWARD_ONLY":
        return existing
    if peer_der is None:
        return None
    if mode == "FORWARD_ONLY":
        return existing
    if mode not in ("SANITIZE_SET", "APPEND_FORWARD"):
        return None
    current = ";".join(_xfcc_parts(peer_der, tuple(local_uris), include_cert))
    if mode == "APPEND_FORWARD" and existing:
        return f"{existing},{current}"
    return current


@functools.lru_cache(maxsize=256)  # one parse per peer certificate, not per request
def _xfcc_parts(peer_der: bytes, local_uris: tuple[str, ...], include_cert: bool) -> tuple[str, ...]:
    from cryptography import x509

    cert = x509.load_der_x509_certificate(peer_der)
    parts = [f"By={uri}" for uri in local_uris]
    parts.append("Hash=" + hashlib.sha256(peer_der).hexdigest())
    if include_cert:
        pem = ssl.DER_cert_to_PEM_cert(peer_der)
        for raw, enc in _XFCC_PEM_ESCAPES:
            pem = pem.replace(raw, enc)
        parts.append(f'Cert="{pem}"')
    parts.append(f'Subject="{cert.subject.rfc4514_string()}"')
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = sans.get_values_for_type(x509.UniformResourceIdentifier)
        dns = sans.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        uris, dns = [], []
    # "The URI key still exists even if the URI is empty." (Envoy docs, XFCC)
    if uris:
        parts.extend(f"URI={u}" for u in uris)
    else:
        parts.append("URI=")
    parts.extend(f"DNS={d}" for d in dns)
    return tuple(parts)
