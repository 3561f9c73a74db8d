"""What a simulation takes and gives: the :class:`Request`, the :class:`Miss` values, Envoy's own
:class:`LocalReply`, and the :class:`Result`.

Rule: no I/O here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from gatewaykit import envoy
from gatewaykit.envoy import (
    Route,
    TcpProxy,
)

__all__ = ["Action", "LocalReply", "Miss", "Request", "RequestProtocol", "Result", "Rng"]


RequestProtocol = Literal["http", "https", "tls", "tcp"]


Action = Literal["http", "tcp", "redirect", "direct_response", "local_reply", "refused", "reset"]


class Rng(Protocol):
    """The part of :class:`random.Random` the simulation uses (weighted picks, endpoints)."""

    def randrange(self, stop: int, /) -> int: ...  # noqa: D102


@dataclass(frozen=True, slots=True)
class Request:
    """One client request as it reaches the proxy.

    Attributes:
        port: The port the connection arrives on at the proxy (the *pod* port, e.g. 8080).
        protocol: ``http`` (plaintext HTTP), ``https`` (TLS + HTTP inside), ``tls`` (TLS with
            opaque bytes inside) or ``tcp`` (plaintext opaque bytes).
        sni: TLS SNI the client sends (curl sends the URL host, never an IP); ignored for
            plaintext protocols, which have no SNI.
        alpn: ALPN protocols the client offers. Empty means the client default: curl offers
            ``h2, http/1.1`` for https; a plaintext HTTP/1 request is detected as ``http/1.1``
            (Envoy's http_inspector).
        host: Host / ``:authority`` header verbatim, may include ``:port``.
        path: ``:path`` including the query string.
        method: HTTP method.
        headers: Other request headers (name, value); names are compared case-insensitively.
        client_certificate: The client presents a (valid) certificate during the handshake.
        destination: Original destination address (sidecar outbound), e.g. ``10.96.0.12``.
    """

    port: int
    protocol: RequestProtocol = "http"
    sni: str | None = None
    alpn: tuple[str, ...] = ()
    host: str | None = None
    path: str = "/"
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    client_certificate: bool = False
    destination: str | None = None

    @property
    def is_tls(self) -> bool:
        """True when the client starts with a TLS ClientHello (https, tls)."""
        return self.protocol in ("https", "tls")

    @property
    def is_http(self) -> bool:
        """True when the bytes inside the (optional) TLS layer are HTTP."""
        return self.protocol in ("http", "https")

    @property
    def scheme(self) -> str:
        """The ``:scheme`` Envoy gives the request: ``https`` over TLS, else ``http``."""
        return "https" if self.is_tls else "http"

    def header(self, name: str) -> str | None:
        """Return a header's value the way Envoy sees it, or None when absent.

        Pseudo-headers ``:authority``, ``:method``, ``:path``, ``:scheme`` come from the request
        line; several values of one header are joined with ``,`` (Envoy
        ``HeaderUtility::getAllOfHeaderAsString``).
        """
        lname = name.lower()
        if lname in (":authority", "host"):
            return self.host
        if lname == ":method":
            return self.method
        if lname == ":path":
            return self.path
        if lname == ":scheme":
            return self.scheme
        values = [v for k, v in self.headers if k.lower() == lname]
        return ",".join(values) if values else None


class Miss(enum.Enum):
    """Why a request did not reach an upstream endpoint (Istio simulation ``Err*`` values)."""

    NO_LISTENER = "no listener"
    NO_FILTER_CHAIN = "no filter chain matched"
    TLS_HANDSHAKE_FAILED = "TLS handshake failed"
    CLIENT_CERT_REQUIRED = "client certificate required"
    PROTOCOL_ERROR = "downstream protocol error"
    NO_VIRTUAL_HOST = "no virtual host matched"
    NO_ROUTE = "no route matched"
    TLS_REQUIRED = "tls required, sending 301"
    CLUSTER_NOT_FOUND = "cluster not found"
    NO_HEALTHY_UPSTREAM = "no healthy upstream"
    BLOCKED = "blocked by REGISTRY_ONLY"


@dataclass(frozen=True, slots=True)
class LocalReply:
    """A response Envoy generates itself (404 NR, 503 UH, 301 redirects, direct responses).

    ``headers`` are in the order Envoy writes them, *without* ``date`` (the core has no clock);
    use :meth:`wire_headers` to get the full list with ``date`` in its place.
    """

    status: int
    body: str = ""
    headers: tuple[tuple[str, str], ...] = ()

    def wire_headers(self, date: str) -> tuple[tuple[str, str], ...]:
        """Return the headers with ``date`` inserted where Envoy's HCM adds it (before ``server``).

        Args:
            date: The HTTP date string, e.g. ``Wed, 10 Mar 2021 13:46:51 GMT``.
        """
        out: list[tuple[str, str]] = []
        inserted = False
        for name, value in self.headers:
            if name == "server" and not inserted:
                out.append(("date", date))
                inserted = True
            out.append((name, value))
        if not inserted:
            out.append(("date", date))
        return tuple(out)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"status": self.status, "body": self.body, "headers": [list(h) for h in self.headers]}


@dataclass(frozen=True, slots=True)
class Result:
    """The path one request took through a proxy, or where and why it stopped.

    ``response_flags`` is the Envoy access-log flag (``NR``, ``NC``, ``UH``, ``DPE``, or ``-``).
    ``curl_exit`` is the curl exit code a learner sees when the connection itself fails
    (7 refused, 35 TLS handshake, 52 empty reply, 56 receive failure; docs/behaviour.md §1.6), else None.
    ``detail`` says in words what Envoy does at the point of failure.
    ``fault_delay`` is the delay the fault filter injected (seconds, flag ``DI``); a fault
    abort is a deliberate local reply (``action="local_reply"``, ``miss`` None, flag ``FI``).
    ``mirrors`` are the clusters a copy of the request is sent to (fire and forget).
    """

    listener: str | None = None
    filter_chain: str | None = None
    route_config: str | None = None
    virtual_host: str | None = None
    route: str | None = None
    cluster: str | None = None
    endpoint: str | None = None
    miss: Miss | None = None
    reply: LocalReply | None = None
    action: Action = "http"
    route_entry: Route | None = None
    tcp_proxy: TcpProxy | None = None
    response_flags: str = "-"
    curl_exit: int | None = None
    detail: str = ""
    # The listener's port; kept so explain() can name the port when no listener exists.
    port: int | None = field(default=None, repr=False)
    # Seconds the fault filter holds the request before anything else happens (flag DI);
    # the data plane sleeps this long. None: no delay injected.
    fault_delay: float | None = None
    # Clusters the router shadows the request to (request_mirror_policies that fired).
    mirrors: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the request was forwarded to (or answered on purpose by) the configuration."""
        return self.miss is None

    def explain(self) -> str:
        """One line: ``listener 0.0.0.0_8080 → filter chain … → cluster … → endpoint …``.

        A miss ends the line with ``✗ <what Envoy does>``.
        """
        parts: list[str] = []
        if self.listener:
            parts.append(f"listener {self.listener}")
        if self.filter_chain is not None:
            parts.append(f"filter chain {self.filter_chain or '(unnamed)'}")
        if self.tcp_proxy is not None:
            parts.append("tcp proxy")
        if self.route_config:
            parts.append(f"route config {self.route_config}")
        if self.virtual_host:
            parts.append(f"virtual host {self.virtual_host}")
        if self.route is not None:
            parts.append(f"route {self.route or '(unnamed)'}")
        if self.fault_delay is not None:
            parts.append(f"fault delay {self.fault_delay:g}s")
        if self.cluster:
            parts.append(f"cluster {self.cluster}")
        if self.endpoint:
            parts.append(f"endpoint {self.endpoint}")
        if self.mirrors:
            parts.append("mirror " + ", ".join(self.mirrors))
        deliberate = self.action in ("redirect", "direct_response", "local_reply")
        if self.miss is None and deliberate and self.detail:
            parts.append(self.detail)
        if self.miss is not None:
            parts.append(f"✗ {self.detail or self.miss.value}")
        return " → ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (Envoy objects rendered with :func:`gatewaykit.envoy.to_dict`)."""
        return {
            "listener": self.listener,
            "filter_chain": self.filter_chain,
            "route_config": self.route_config,
            "virtual_host": self.virtual_host,
            "route": self.route,
            "cluster": self.cluster,
            "endpoint": self.endpoint,
            "miss": self.miss.name if self.miss else None,
            "reply": self.reply.to_dict() if self.reply else None,
            "action": self.action,
            "route_entry": envoy.to_dict(self.route_entry) if self.route_entry else None,
            "tcp_proxy": envoy.to_dict(self.tcp_proxy) if self.tcp_proxy else None,
            "response_flags": self.response_flags,
            "curl_exit": self.curl_exit,
            "detail": self.detail,
            "fault_delay": self.fault_delay,
            "mirrors": list(self.mirrors),
            "explain": self.explain(),
        }
