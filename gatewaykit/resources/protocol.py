"""Istio's protocol names (``pkg/config/protocol/instance.go``): one parser for the whole kit.

A Gateway server port, a ServiceEntry port and a Kubernetes Service port name all go through
``protocol.Parse`` in Istio; validation and translation share this copy so they never disagree.

Rule: no I/O here.
"""

from __future__ import annotations

from typing import Any

__all__ = ["UNSUPPORTED", "is_http", "is_tcp", "is_tls", "parse"]

#: ``protocol.Unsupported``: what ``Parse`` returns for any other text.
UNSUPPORTED = "UnsupportedProtocol"

#: ``protocol.Parse``: lower-cased input → the canonical ``Instance`` spelling.
_BY_LOWER = {
    "tcp": "TCP",
    "udp": "UDP",
    "grpc": "GRPC",
    "grpc-web": "GRPC-Web",
    "http": "HTTP",
    "http_proxy": "HTTP_PROXY",
    "http2": "HTTP2",
    "https": "HTTPS",
    "tls": "TLS",
    "mongo": "Mongo",
    "redis": "Redis",
    "mysql": "MySQL",
}

_HTTP = frozenset({"HTTP", "HTTP2", "HTTP_PROXY", "GRPC", "GRPC-Web"})
_TCP = frozenset({"TCP", "HTTPS", "TLS", "Mongo", "Redis", "MySQL"})
_TLS = frozenset({"HTTPS", "TLS"})


def parse(text: Any) -> str:
    """``protocol.Parse``: case-insensitive; anything else (or a non-string) is ``UnsupportedProtocol``.

    Istio's switch also has a ``case "DoubleHBONE"`` that can never match a lower-cased input,
    so it is left out here as well.
    """
    if not isinstance(text, str):
        return UNSUPPORTED
    return _BY_LOWER.get(text.lower(), UNSUPPORTED)


def is_http(protocol: str) -> bool:
    """``Instance.IsHTTP``: HTTP, HTTP2, HTTP_PROXY, GRPC, GRPC-Web."""
    return protocol in _HTTP


def is_tcp(protocol: str) -> bool:
    """``Instance.IsTCP``: TCP, HTTPS, TLS, Mongo, Redis, MySQL."""
    return protocol in _TCP


def is_tls(protocol: str) -> bool:
    """``Instance.IsTLS``: HTTPS, TLS."""
    return protocol in _TLS
