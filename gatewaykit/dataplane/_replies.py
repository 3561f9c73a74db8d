"""Envoy's local replies: exact bodies, response code details and protocol-error responses (§1.4).

Rule: no I/O here. The texts are what curl prints, so each one names the Envoy function that
writes it.
"""

from __future__ import annotations

import ssl

from gatewaykit.dataplane._codes import reason_phrase
from gatewaykit.dataplane._headers import http_date

__all__ = [
    "SIMULATE_DETAILS",
    "UPSTREAM_TIMEOUT",
    "h1_error_response",
    "reset_before_headers",
    "tls_failure_reason",
]

#: Router ``onUpstreamTimeoutAbort``: 504 with this body, details ``response_timeout``.
UPSTREAM_TIMEOUT = "upstream request timeout"

#: The response code details of the local replies simulate decides, by response flag
#: (Envoy ``StreamInfo::ResponseCodeDetails``); a fault abort is ``fault_filter_abort`` and
#: anything else a route's ``direct_response``.
SIMULATE_DETAILS = {
    "NR": "route_not_found",
    "NC": "cluster_not_found",
    "UH": "no_healthy_upstream",
    "DPE": "http1.codec_error",
}


def reset_before_headers(reason: str, *, retried: bool = False, transport_failure: str | None = None) -> str:
    """The body of router ``onUpstreamReset``'s 503 (``absl::StrCat`` in router.cc, §1.4).

    Args:
        reason: ``resetReasonToString``: ``remote connection failure``, ``connection termination``...
        retried: the router retried (``retried and the latest``).
        transport_failure: e.g. ``delayed connect error: 111``.
    """
    text = "upstream connect error or disconnect/reset before headers. "
    text += "retried and the latest " if retried else ""
    text += f"reset reason: {reason}"
    if transport_failure:
        text += f", transport failure reason: {transport_failure}"
    return text


# BoringSSL packed error codes Envoy prints (ERR_PACK(ERR_LIB_SSL=16, reason)).
_BORINGSSL_REASONS = {"CERTIFICATE_VERIFY_FAILED": 125, "WRONG_VERSION_NUMBER": 247}


def tls_failure_reason(exc: ssl.SSLError) -> str:
    """Render an upstream TLS failure the way Envoy's transport failure reason reads.

    Envoy (BoringSSL): ``TLS_error:|268435581:SSL routines:OPENSSL_internal:
    CERTIFICATE_VERIFY_FAILED:TLS_error_end`` -- the text users quote from istio issues.
    """
    text = str(exc)
    reason = (
        getattr(exc, "reason", None)
        or next((r for r in _BORINGSSL_REASONS if r in text), None)
        or "HANDSHAKE_FAILURE"
    )
    if "CERTIFICATE_VERIFY_FAILED" in text:
        reason = "CERTIFICATE_VERIFY_FAILED"
    code = (16 << 24) | _BORINGSSL_REASONS.get(reason, 0)
    return f"TLS_error:|{code}:SSL routines:OPENSSL_internal:{reason}:TLS_error_end"


def h1_error_response(status: int, with_request: bool, server: str) -> bytes:
    """The bytes Envoy's HTTP/1 codec writes for a protocol error, then closes.

    ``ServerConnectionImpl::sendProtocolError``: once a request line was parsed it sends a local
    reply whose body is the code's name ("Bad Request", "Request Header Fields Too Large");
    before that, a canned ``400 Bad Request`` with ``content-length: 0``.
    """
    phrase = reason_phrase(status)
    if not with_request:
        return f"HTTP/1.1 {status} {phrase}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".encode()
    body = phrase
    return (
        f"HTTP/1.1 {status} {phrase}\r\ncontent-length: {len(body)}\r\ncontent-type: text/plain\r\n"
        f"date: {http_date()}\r\nserver: {server}\r\nconnection: close\r\n\r\n{body}"
    ).encode()
