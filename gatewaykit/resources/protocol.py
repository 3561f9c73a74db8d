"""Istio's protocol names (``pkg/config/protocol/instance.go``): one parser for the whole kit.

A Gateway server port, a ServiceEntry port and a Kubernetes Service port name all go through
``protocol.Parse`` in Istio; validation and translation share this copy so they never disagree.
A Kubernetes Service port goes through ``kube.ConvertProtocol`` first (:func:`convert_protocol`),
for the sandbox's registry and ``istioctl x describe`` alike.

Rule: no I/O here.
"""

from __future__ import annotations

from typing import Any

__all__ = ["UNSUPPORTED", "convert_protocol", "is_http", "is_tcp", "is_tls", "parse"]

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


#: ``wellKnownPorts`` (pkg/config/kube/conversion.go): SMTP, DNS, MySQL and MongoDB, never sniffed.
_WELL_KNOWN_PORTS = frozenset({25, 53, 3306, 27017})
#: The ``appProtocol`` names Kubernetes defines itself (core/v1 ``ServicePort.appProtocol``).
_KUBERNETES_APP_PROTOCOLS = {
    "kubernetes.io/h2c": "HTTP2",
    "kubernetes.io/ws": "HTTP",
    "kubernetes.io/wss": "HTTPS",
}
_GRPC_WEB = "grpc-web"


def convert_protocol(port: Any, name: str, proto: str = "TCP", app_protocol: str | None = None) -> str:
    """``kube.ConvertProtocol`` (pkg/config/kube/conversion.go): a Service port's protocol.

    UDP is UDP; else ``appProtocol`` when set (Kubernetes' own ``kubernetes.io/h2c``, ``ws`` and
    ``wss`` names first), else the port name -- a ``grpc-web`` prefix, then the text before the
    first ``-`` through :func:`parse`. An unsupported name on a well-known port (25, 53, 3306,
    27017) is TCP; otherwise ``UnsupportedProtocol``, which Istio sniffs.

    Args:
        port: the Service port number.
        name: the port's ``name`` ("" when unnamed).
        proto: the port's ``protocol`` (``TCP``, ``UDP``, ``SCTP``).
        app_protocol: the port's ``appProtocol``; None when unset.
    """
    if proto == "UDP":
        return "UDP"
    if app_protocol is not None:
        name = app_protocol
        if name in _KUBERNETES_APP_PROTOCOLS:
            return _KUBERNETES_APP_PROTOCOLS[name]
    if name[: len(_GRPC_WEB)].lower() == _GRPC_WEB:
        return "GRPC-Web"
    p = parse(name.partition("-")[0])
    if p == UNSUPPORTED and port in _WELL_KNOWN_PORTS:
        return "TCP"
    return p
