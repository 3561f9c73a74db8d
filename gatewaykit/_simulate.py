"""Request simulation: which path one request takes through one Envoy proxy, and what Envoy answers.

Rule: no I/O here. ``simulate(proxy, request)`` walks the same steps Envoy walks --
listener → filter chain → (TLS) → network filter → route configuration → virtual host →
route → cluster → endpoint -- over the frozen :mod:`gatewaykit.envoy` model, and returns a
:class:`Result`. It is the Python twin of Istio's ``pilot/pkg/simulation/traffic.go``.

Misses are results, not exceptions (Istio asserts ``simulation.ErrNoRoute`` the same way):
a learner is *supposed* to see "no route → 404". Each miss carries the exact reply Envoy
sends itself (a "local reply", §1.4) or says how the connection ends (refused, reset).

The step functions (:func:`match_listener`, :func:`match_filter_chain`,
:func:`match_virtual_host`, :func:`match_route`, :func:`pick_cluster`) are the single
source of truth for matching; the data plane calls them for real connections too.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from gatewaykit import envoy
from gatewaykit.envoy import (
    FilterChain,
    HeaderMatcher,
    Listener,
    ProxyConfig,
    RedirectAction,
    Route,
    RouteAction,
    RouteConfiguration,
    RouteMatch,
    TcpProxy,
    VirtualHost,
)

__all__ = [
    "CONNECTION_MISSES",
    "HTTP_MISSES",
    "Action",
    "LocalReply",
    "Miss",
    "MissReply",
    "Request",
    "RequestProtocol",
    "Result",
    "match_filter_chain",
    "match_listener",
    "match_route",
    "match_virtual_host",
    "pick_cluster",
    "redirect_location",
    "simulate",
]

RequestProtocol = Literal["http", "https", "tls", "tcp"]
Action = Literal["http", "tcp", "redirect", "direct_response", "local_reply", "refused", "reset"]


class _Rng(Protocol):
    """The part of :class:`random.Random` the simulation uses (weighted picks, endpoints)."""

    def randrange(self, stop: int, /) -> int: ...  # noqa: D102


# --------------------------------------------------------------------------- request


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


# ----------------------------------------------------------------------------- result


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
    (7 refused, 35 TLS handshake, 52 empty reply, 56 receive failure; §1.6), else None.
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


# ----------------------------------------------------------------------- step: listener


def match_listener(proxy: ProxyConfig, port: int, *, destination: str | None = None) -> Listener | None:
    """Return the listener a connection to ``port`` lands on, or None (connection refused).

    A listener bound to the exact original destination address wins over ``0.0.0.0`` (sidecar
    outbound TCP listeners ``10.96.0.12_9000``). On a sidecar, a connection that matches no
    listener is kept by the ``virtualOutbound`` listener (``0.0.0.0_15001``), whose chains send
    it to ``PassthroughCluster`` or ``BlackHoleCluster`` (§11.2, Istio traffic_registry_only_test).

    Args:
        proxy: The proxy's configuration.
        port: The destination port of the connection (pod port).
        destination: The original destination IP, if known.
    """
    wildcard: Listener | None = None
    for lst in proxy.listeners:
        if lst.port != port or lst.name == "virtualOutbound":
            continue
        if destination is not None and lst.address == destination:
            return lst
        if lst.address in ("0.0.0.0", "::") and wildcard is None:
            wildcard = lst
    if wildcard is not None:
        return wildcard
    if proxy.type == "sidecar":
        for lst in proxy.listeners:
            if lst.name == "virtualOutbound":
                return lst
    return None


# ------------------------------------------------------------------- step: filter chain


def _server_name_keys(sni: str) -> list[str]:
    # Envoy findFilterChainForServerName: exact "www.example.com", then "*.example.com",
    # then "*.com" (each wildcard matches any number of labels), then chains without
    # server_names. The TLS inspector lower-cases the SNI.
    keys = [sni]
    pos = sni.find(".", 1)
    while pos != -1 and pos < len(sni) - 1:
        keys.append("*" + sni[pos:])
        pos = sni.find(".", pos + 1)
    return keys


def _narrow_by_port(chains: list[FilterChain], port: int | None) -> list[FilterChain]:
    exact = [c for c in chains if port is not None and c.filter_chain_match.destination_port == port]
    if exact:
        return exact
    return [c for c in chains if not c.filter_chain_match.destination_port]


def _narrow_by_ip(chains: list[FilterChain], ip: str | None) -> list[FilterChain]:
    # Envoy: the longest matching prefix_ranges entry wins; chains without prefix_ranges
    # are the fallback.
    best_len = -1
    best: list[FilterChain] = []
    addr = None
    if ip:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            addr = None
    if addr is not None:
        for chain in chains:
            for prefix in chain.filter_chain_match.prefix_ranges:
                try:
                    net = ipaddress.ip_network(prefix, strict=False)
                except ValueError:
                    continue
                if addr in net:
                    if net.prefixlen > best_len:
                        best_len, best = net.prefixlen, [chain]
                    elif net.prefixlen == best_len and chain not in best:
                        best.append(chain)
    if best:
        return best
    return [c for c in chains if not c.filter_chain_match.prefix_ranges]


def _narrow_by_server_name(chains: list[FilterChain], sni: str | None) -> list[FilterChain]:
    if sni:
        for key in _server_name_keys(sni.lower()):
            hit = [c for c in chains if key in (n.lower() for n in c.filter_chain_match.server_names)]
            if hit:
                return hit
    return [c for c in chains if not c.filter_chain_match.server_names]


def _narrow_by_transport(chains: list[FilterChain], transport: str | None) -> list[FilterChain]:
    exact = [c for c in chains if transport and c.filter_chain_match.transport_protocol == transport]
    if exact:
        return exact
    return [c for c in chains if not c.filter_chain_match.transport_protocol]


def _narrow_by_alpn(chains: list[FilterChain], alpn: Sequence[str]) -> list[FilterChain]:
    # Envoy tries the client's protocols in the client's order.
    for proto in alpn:
        hit = [c for c in chains if proto in c.filter_chain_match.application_protocols]
        if hit:
            return hit
    return [c for c in chains if not c.filter_chain_match.application_protocols]


def match_filter_chain(
    listener: Listener,
    *,
    sni: str | None,
    transport_protocol: str | None,
    alpn: Sequence[str] = (),
    destination_port: int | None = None,
    destination_ip: str | None = None,
) -> FilterChain | None:
    """Select the filter chain Envoy uses for a new connection (Envoy ``FilterChainMatch``).

    Criteria are applied in Envoy's order -- destination port, destination IP, server name
    (SNI), transport protocol, application protocols (ALPN). At each level the most specific
    match wins and chains that leave the criterion empty are the fallback; Envoy never
    backtracks to a less specific level (filter_chain_manager_impl.cc). If nothing matches,
    the listener's ``default_filter_chain`` is used; without one Envoy closes the connection.

    Args:
        listener: The listener the connection arrived on.
        sni: The TLS SNI, or None (plaintext, or a TLS client that sent none).
        transport_protocol: ``"tls"`` or ``"raw_buffer"`` (what Envoy's tls_inspector reports).
        alpn: Application protocols, in the client's order.
        destination_port: The connection's destination port (defaults to none: wildcard only).
        destination_ip: The original destination IP, for ``prefix_ranges``.

    Returns:
        The chosen chain, or None when Envoy would close the connection.
    """
    chains = list(listener.filter_chains)
    for narrow in (
        lambda cs: _narrow_by_port(cs, destination_port),
        lambda cs: _narrow_by_ip(cs, destination_ip),
        lambda cs: _narrow_by_server_name(cs, sni),
        lambda cs: _narrow_by_transport(cs, transport_protocol),
        lambda cs: _narrow_by_alpn(cs, alpn),
    ):
        chains = narrow(chains)
        if not chains:
            return listener.default_filter_chain
    # Envoy rejects listeners with two identical matches; the first one stands in for that.
    return chains[0]


# ------------------------------------------------------------------- step: virtual host


def _port_start(host: str) -> int:
    # Envoy HeaderUtility::getPortStart: the last ':' unless it is inside an IPv6 "[...]".
    colon = host.rfind(":")
    if colon == -1:
        return -1
    bracket = host.rfind("]")
    if bracket == -1 or bracket < colon:
        return colon
    return -1


def match_virtual_host(route_config: RouteConfiguration, host: str | None) -> VirtualHost | None:
    """Find the virtual host for a Host header (Envoy ``RouteMatcher::findVirtualHost``).

    The Host is lower-cased ("hostnames are case insensitive") and, with
    ``ignore_port_in_host_matching`` (Istio gateways, §4.3), stripped of ``:port``. Lookup
    order: exact domain, then suffix wildcards (``*.example.com``, longest suffix first, the
    wildcard must cover at least one character), then prefix wildcards (``foo.*``, longest
    first), then the ``*`` virtual host.

    Args:
        route_config: The route configuration of the HTTP connection manager.
        host: The Host / ``:authority`` header, verbatim; None if the request has none.

    Returns:
        The matching virtual host, or None (Envoy answers 404 NR).
    """
    exact: dict[str, VirtualHost] = {}
    suffixes: dict[str, VirtualHost] = {}
    prefixes: dict[str, VirtualHost] = {}
    default: VirtualHost | None = None
    for vh in route_config.virtual_hosts:
        for domain in vh.domains:
            d = domain.lower()
            if d == "*":
                default = default or vh
            elif d.startswith("*"):
                suffixes.setdefault(d[1:], vh)
            elif d.endswith("*"):
                prefixes.setdefault(d[:-1], vh)
            else:
                exact.setdefault(d, vh)
    if not exact and not suffixes and not prefixes:
        # Envoy fast path: only a default virtual host, used even without a Host header.
        return default
    if host is None:
        return None
    value = host
    if route_config.ignore_port_in_host_matching:
        start = _port_start(value)
        if start != -1:
            value = value[:start]
    value = value.lower()
    if value in exact:
        return exact[value]
    for suffix in sorted(suffixes, key=len, reverse=True):
        if len(suffix) < len(value) and value.endswith(suffix):
            return suffixes[suffix]
    for prefix in sorted(prefixes, key=len, reverse=True):
        if len(prefix) < len(value) and value.startswith(prefix):
            return prefixes[prefix]
    return default


# -------------------------------------------------------------------------- step: route


def _path_only(path: str) -> str:
    # Envoy PathMatcher matches the path with query string and fragment removed.
    for sep in ("?", "#"):
        idx = path.find(sep)
        if idx != -1:
            path = path[:idx]
    return path


def _string_matches(m: HeaderMatcher, value: str) -> bool:
    if m.exact is not None:
        return value == m.exact
    if m.prefix is not None:
        return value.startswith(m.prefix)
    if m.safe_regex is not None:
        try:
            return re.fullmatch(m.safe_regex, value) is not None
        except re.error:
            return False
    if m.present is not None:
        return m.present
    # A matcher with no value matches any present header (Envoy HeaderMatchType::Value, empty).
    return True


def _treat_missing_as_empty(m: HeaderMatcher, is_present_type: bool) -> bool:
    # Istio TranslateRouteMatch sets treat_missing_header_as_empty on every inverted
    # (withoutHeaders) matcher that is not a present match ("treat_missing_header_as_empty
    # conflict with present_match"). The only inverted matchers gatewaykit builds are those, and
    # envoy.HeaderMatcher has no field for the flag, so an inverted value matcher implies it.
    return m.invert_match and not is_present_type


def _header_matches(m: HeaderMatcher, request: Request) -> bool:
    # Envoy HeaderUtility::matchHeaders: a missing header matches only `present: false`
    # (or `present: true` inverted); every other matcher fails on a missing header,
    # *even when inverted* -- unless treat_missing_header_as_empty makes it "".
    value = request.header(m.name)
    is_present_type = m.exact is None and m.prefix is None and m.safe_regex is None and m.present is not None
    if value is None:
        if _treat_missing_as_empty(m, is_present_type):
            value = ""
        elif m.invert_match:
            return is_present_type and bool(m.present)
        else:
            return is_present_type and not m.present
    return _string_matches(m, value) != m.invert_match


def _query_params(path: str) -> dict[str, str]:
    idx = path.find("?")
    if idx == -1:
        return {}
    out: dict[str, str] = {}
    for part in path[idx + 1 :].split("#", 1)[0].split("&"):
        if not part:
            continue
        key, _, val = part.partition("=")
        out.setdefault(key, val)  # Envoy uses the first value of a repeated parameter
    return out


def _query_matches(m: HeaderMatcher, params: dict[str, str]) -> bool:
    # Envoy QueryParameterMatcher: the parameter must be present; then string_match or
    # present_match.
    if m.name not in params:
        return False
    return _string_matches(m, params[m.name])


def _path_matches(match: RouteMatch, path: str) -> bool:
    p = _path_only(path)
    if match.safe_regex is not None:
        # case_sensitive is ignored for regex matches (Envoy RouteMatch.case_sensitive doc).
        try:
            return re.fullmatch(match.safe_regex, p) is not None
        except re.error:
            return False
    if match.path is not None:
        return p == match.path if match.case_sensitive else p.lower() == match.path.lower()
    if match.prefix is not None:
        if match.case_sensitive:
            return p.startswith(match.prefix)
        return p.lower().startswith(match.prefix.lower())
    if match.path_separated_prefix is not None:
        # PathSeparatedPrefix: the whole path, or the prefix followed by '/' ("/foo" ≠ "/foobar").
        pre, cand = match.path_separated_prefix, p
        if not match.case_sensitive:
            pre, cand = pre.lower(), cand.lower()
        return cand == pre or cand.startswith(pre + "/")
    return False


def match_route(virtual_host: VirtualHost, request: Request) -> Route | None:
    """Return the first route of the virtual host that matches the request (Envoy: first match wins).

    A route matches when its path matcher (prefix / path / safe_regex, honouring
    ``case_sensitive``), every header matcher (incl. ``:authority``, ``:method``, ``:scheme``)
    and every query-parameter matcher match.

    Args:
        virtual_host: The selected virtual host.
        request: The request.

    Returns:
        The route, or None (Envoy answers 404 NR).
    """
    params = _query_params(request.path)
    for route in virtual_host.routes:
        m = route.match
        if not _path_matches(m, request.path):
            continue
        if not all(_header_matches(h, request) for h in m.headers):
            continue
        if not all(_query_matches(q, params) for q in m.query_parameters):
            continue
        return route
    return None


# ---------------------------------------------------------------------- step: cluster


def pick_cluster(route_or_tcp_proxy: Route | RouteAction | TcpProxy, rng: _Rng | None = None) -> str | None:
    """Choose the destination cluster of a route or TCP proxy.

    With weighted clusters Envoy draws ``random % total_weight`` and walks the list. With
    ``rng=None`` the choice is deterministic: the first cluster with the highest weight (what
    most requests would see).

    Args:
        route_or_tcp_proxy: A :class:`Route` (its ``route`` action), a :class:`RouteAction` or a
            :class:`TcpProxy`.
        rng: A :class:`random.Random`-like object, or None.

    Returns:
        The cluster name, or None if the object names no cluster.
    """
    target: RouteAction | TcpProxy | None
    target = route_or_tcp_proxy.route if isinstance(route_or_tcp_proxy, Route) else route_or_tcp_proxy
    if target is None:
        return None
    if target.cluster:
        return target.cluster
    weighted = target.weighted_clusters
    if not weighted:
        return None
    total = sum(max(w.weight, 0) for w in weighted)
    if rng is None or total <= 0:
        best = max(w.weight for w in weighted)
        return next(w.name for w in weighted if w.weight == best)
    draw = rng.randrange(total)
    upto = 0
    for w in weighted:
        upto += max(w.weight, 0)
        if draw < upto:
            return w.name
    return weighted[-1].name


def _pick_endpoint(cluster: envoy.Cluster, request: Request, rng: _Rng | None) -> str | None:
    if cluster.type == "ORIGINAL_DST":
        # PassthroughCluster forwards to the address the client dialled (§11.2).
        target = request.destination or _strip_port(request.host) or request.sni
        return f"{target}:{request.port}" if target else None
    healthy = [e for e in cluster.endpoints if e.healthy]
    if not healthy:
        return None
    ep = healthy[0] if rng is None else healthy[rng.randrange(len(healthy))]
    return f"{ep.address}:{ep.port}"


def _strip_port(host: str | None) -> str | None:
    if host is None:
        return None
    start = _port_start(host)
    return host[:start] if start != -1 else host


# ------------------------------------------------------------------------ local replies


def _local_reply(
    status: int,
    body: str,
    server_name: str,
    extra: Sequence[tuple[str, str]] = (),
) -> LocalReply:
    # Envoy Utility::sendLocalReply sets content-length and content-type: text/plain only for a
    # non-empty body; the HCM then adds date and server; for an empty body the HTTP/1 codec
    # appends content-length: 0 last (§1.2; GH-31363 shows location, date, server).
    headers: list[tuple[str, str]] = []
    if body:
        headers.append(("content-length", str(len(body.encode()))))
        headers.append(("content-type", "text/plain"))
    headers.extend(extra)
    headers.append(("server", server_name))
    if not body:
        headers.append(("content-length", "0"))
    return LocalReply(status=status, body=body, headers=tuple(headers))


def _process_request_host(host: str, new_scheme: str, new_port: str, request_proto: str) -> str:
    # Envoy processRequestHost: drop the request's port when the redirect sets a port, or when
    # the scheme changes and the port is the old scheme's default (http://h:80 → https://h).
    if not host:
        return host
    if host.startswith("["):
        end = host.rfind("]:")
        end = end + 1 if end != -1 else -1
    else:
        end = host.rfind(":")
    if end != -1:
        request_port = host[end:]
        remove = bool(new_port)
        if new_scheme != request_proto:
            remove |= request_proto == "https" and request_port == ":443"
            remove |= request_proto == "http" and request_port == ":80"
        if remove:
            return host[:end]
    return host


def redirect_location(redirect: RedirectAction, request: Request, match: RouteMatch | None = None) -> str:
    """Build the ``location`` header of a redirect route exactly like Envoy ``Utility::newUri``.

    Scheme: ``scheme_redirect`` or the request's. Port: ``:<port_redirect>`` if set. Host:
    ``host_redirect`` or the request Host (port dropped by the rules of
    ``processRequestHost``). Path: ``path_redirect`` (the request's query string kept unless
    the redirect path has its own), or ``prefix_rewrite`` replacing the matched prefix, or the
    request path; a leading ``/`` is ensured.

    Args:
        redirect: The route's redirect action.
        request: The request being redirected.
        match: The route's match (needed for ``prefix_rewrite``).
    """
    final_scheme = redirect.scheme_redirect or request.scheme
    final_port = f":{redirect.port_redirect}" if redirect.port_redirect else ""
    if redirect.host_redirect:
        final_host = redirect.host_redirect
    else:
        final_host = _process_request_host(request.host or "", final_scheme, final_port, request.scheme)
    path = request.path
    if redirect.path_redirect:
        if "?" in redirect.path_redirect:
            path = redirect.path_redirect
        else:
            q = request.path.find("?")
            path = redirect.path_redirect + (request.path[q:] if q != -1 else "")
    elif redirect.prefix_rewrite is not None and match is not None and match.matched_prefix is not None:
        # RouteEntryImplBase: the matched prefix is replaced; the rest (and query) is kept.
        path = redirect.prefix_rewrite + request.path[len(match.matched_prefix) :]
    if not path.startswith("/"):
        path = "/" + path
    return f"{final_scheme}://{final_host}{final_port}{path}"


# ---------------------------------------------------------------------- misses → replies


@dataclass(frozen=True, slots=True)
class MissReply:
    """How Envoy answers one :class:`Miss`: the action, the access-log flag and its own reply.

    Attributes:
        action: what happens to the request or connection (``Result.action``).
        flag: the access-log response flag (``NR``, ``NC``, ``UH``, ``DPE``, or ``-``).
        status: the status of the reply Envoy writes itself; None when the connection just ends
            or the status comes from the configuration (``cluster_not_found_response_code``,
            the ``block_all`` direct response).
        body: the reply's body.
        codec: written by the HTTP/1 codec (``sendProtocolError``: ``content-length: 0`` and
            ``connection: close``, no ``server``), not by the HTTP connection manager.
    """

    action: Action
    flag: str = "-"
    status: int | None = None
    body: str = ""
    codec: bool = False


#: Misses that end the *connection* before any HTTP reply: the kernel refuses it (no listener,
#: §1.6) or Envoy closes it (no filter chain, TLS failures, a TLS ClientHello in a plaintext
#: HTTP chain, and tcp_proxy's missing cluster or endpoints). curl's exit code depends on what
#: the client was speaking, so each call site passes it (§1.6).
CONNECTION_MISSES: dict[Miss, MissReply] = {
    Miss.NO_LISTENER: MissReply("refused"),
    Miss.NO_FILTER_CHAIN: MissReply("reset", "NR"),
    Miss.TLS_HANDSHAKE_FAILED: MissReply("reset"),
    Miss.CLIENT_CERT_REQUIRED: MissReply("reset"),
    Miss.PROTOCOL_ERROR: MissReply("reset", "DPE"),
    Miss.CLUSTER_NOT_FOUND: MissReply("reset", "NC"),
    Miss.NO_HEALTHY_UPSTREAM: MissReply("reset", "UH"),
}

#: Misses Envoy answers over HTTP with a reply of its own (§1.4): the router's 404 ``NR`` for no
#: virtual host or route, the 301 of ``require_tls`` (httpsRedirect), the 503 ``NC``/``UH`` of a
#: missing cluster or endpoint, the codec's canned 400 for non-HTTP bytes, and REGISTRY_ONLY's
#: ``block_all`` direct response (502, §11.2).
HTTP_MISSES: dict[Miss, MissReply] = {
    Miss.PROTOCOL_ERROR: MissReply("local_reply", "DPE", 400, codec=True),
    Miss.NO_VIRTUAL_HOST: MissReply("local_reply", "NR", 404),
    Miss.TLS_REQUIRED: MissReply("local_reply", "-", 301),
    Miss.NO_ROUTE: MissReply("local_reply", "NR", 404),
    Miss.BLOCKED: MissReply("direct_response"),
    Miss.CLUSTER_NOT_FOUND: MissReply("local_reply", "NC"),
    Miss.NO_HEALTHY_UPSTREAM: MissReply("local_reply", "UH", 503, "no healthy upstream"),
}


def _connection_miss(base: dict[str, Any], miss: Miss, curl_exit: int | None, detail: str) -> Result:
    """A :class:`Result` for a miss of :data:`CONNECTION_MISSES`."""
    fate = CONNECTION_MISSES[miss]
    return Result(
        **base, miss=miss, action=fate.action, response_flags=fate.flag, curl_exit=curl_exit, detail=detail
    )


def _http_miss(
    base: dict[str, Any],
    miss: Miss,
    server: str,
    detail: str,
    *,
    delay_flag: str = "",
    status: int | None = None,
    extra: Sequence[tuple[str, str]] = (),
    reply: LocalReply | None = None,
) -> Result:
    """A :class:`Result` for a miss of :data:`HTTP_MISSES`.

    ``status`` overrides the table's (a configured code), ``extra`` adds headers (``location``),
    ``reply`` is a configured reply used as it is; ``delay_flag`` is ``DI`` when the fault filter
    delayed the request first.
    """
    fate = HTTP_MISSES[miss]
    if reply is None:
        code = status if status is not None else fate.status
        assert code is not None, miss
        if fate.codec:
            reply = LocalReply(code, fate.body, (("content-length", "0"), ("connection", "close")))
        else:
            reply = _local_reply(code, fate.body, server, extra)
    return Result(
        **base,
        miss=miss,
        action=fate.action,
        reply=reply,
        response_flags=_flags(delay_flag, fate.flag),
        detail=detail,
    )


# ------------------------------------------------------------------------------ simulate


def _secret_problem(proxy: ProxyConfig, sds: str | None) -> str | None:
    if sds is None:
        return "no certificate configured"
    if sds == "default":
        # ISTIO_MUTUAL: the workload's own SPIFFE certificate from istio-agent, always present.
        return None
    material = proxy.secrets.get(sds)
    if material is None:
        return f"SDS resource {sds} not served"
    if material.error:
        return material.error
    if material.rejected:  # served, but Envoy cannot load it (§8)
        return material.rejected
    if material.certificate_chain is None and material.trusted_ca is None:
        return f"SDS resource {sds} is empty"
    return None


def _client_alpn(request: Request) -> tuple[str, ...]:
    if request.alpn:
        return request.alpn
    if request.protocol == "https":
        return ("h2", "http/1.1")  # curl's default offer
    if request.protocol == "http":
        return ("http/1.1",)  # what Envoy's http_inspector detects for HTTP/1
    return ()


def simulate(proxy: ProxyConfig, request: Request, rng: _Rng | None = None) -> Result:
    """Walk one request through a proxy's configuration the way Envoy would.

    Args:
        proxy: The proxy (gateway pod or sidecar) configuration.
        request: The request.
        rng: Optional :class:`random.Random` for weighted clusters and endpoint choice; None is
            deterministic (highest weight, first healthy endpoint).

    Returns:
        The :class:`Result`: the path taken, or the miss and Envoy's own reply / connection fate.
    """
    listener = match_listener(proxy, request.port, destination=request.destination)
    if listener is None:
        # No listener: the kernel refuses the connection (§1.6, curl exit 7).
        detail = f"no listener on port {request.port}: connection refused"
        return _connection_miss({"port": request.port}, Miss.NO_LISTENER, 7, detail)

    transport = "tls" if request.is_tls else "raw_buffer"
    sni = request.sni.lower() if (request.is_tls and request.sni) else None
    chain = match_filter_chain(
        listener,
        sni=sni,
        transport_protocol=transport,
        alpn=_client_alpn(request),
        destination_port=request.port,
        destination_ip=request.destination,
    )
    base: dict[str, Any] = {"listener": listener.name, "port": request.port}
    if chain is None:
        # Envoy closes the connection: TLS clients see SSL_ERROR_SYSCALL (exit 35, §1.6, §4.4);
        # the access log flag for "no matching filter chain" is NR.
        what = f'SNI "{sni}"' if sni else ("no SNI" if request.is_tls else "plaintext")
        curl_exit = 35 if request.is_tls else (56 if request.is_http else None)
        detail = f"no filter chain matches {what}: connection closed"
        return _connection_miss(base, Miss.NO_FILTER_CHAIN, curl_exit, detail)
    base["filter_chain"] = chain.name

    ts = chain.transport_socket
    if ts is not None:
        failed = _tls_miss(proxy, request, ts, base)
        if failed is not None:
            return failed

    if chain.tcp_proxy is not None:
        return _simulate_tcp(proxy, request, chain.tcp_proxy, base, rng)
    hcm = chain.http_connection_manager
    if hcm is None:
        curl_exit = 35 if request.is_tls else 56
        return _connection_miss(base, Miss.NO_FILTER_CHAIN, curl_exit, "filter chain has no network filter")

    if request.is_tls and ts is None:
        # TLS into a plaintext HTTP chain: the HTTP codec rejects the ClientHello (400 DPE) and
        # curl reports "wrong version number" (§1.6, §13).
        detail = "TLS sent to a plaintext HTTP port: 400 DPE, wrong version number"
        return _connection_miss(base, Miss.PROTOCOL_ERROR, 35, detail)
    if not request.is_http:
        # Non-HTTP bytes into the HTTP codec: Envoy writes its canned 400 and closes
        # (Http1 ServerConnectionImpl::sendProtocolError).
        detail = "non-HTTP bytes sent to an HTTP port: 400 Bad Request"
        return _http_miss(base, Miss.PROTOCOL_ERROR, hcm.server_name, detail)
    return _simulate_http(proxy, request, hcm, base, rng)


def _tls_miss(
    proxy: ProxyConfig, request: Request, ts: envoy.DownstreamTlsContext, base: dict[str, Any]
) -> Result | None:
    """The TLS handshake of a chain with a transport socket: None when it succeeds."""
    if not request.is_tls:
        # Plain HTTP to a TLS chain: the handshake fails on the first bytes and Envoy closes
        # the connection (§1.6: "curl: (56) Recv failure: Connection reset by peer").
        detail = "plaintext sent to a TLS filter chain: connection reset"
        return _connection_miss(base, Miss.TLS_HANDSHAKE_FAILED, 56 if request.is_http else None, detail)
    # credentialNames: every certificate must be served before the chain can handshake.
    problem = None
    for sds in ts.certificate_sds_list or (ts.certificate_sds,):
        problem = _secret_problem(proxy, sds)
        if problem is not None:
            break
    if problem is not None:
        # Missing credential: the listener still exists but has no certificate, so every
        # handshake for this server fails (§8.1; emulate as exit 35).
        detail = f"TLS handshake fails, no server certificate ({problem})"
        return _connection_miss(base, Miss.TLS_HANDSHAKE_FAILED, 35, detail)
    requires_cert = ts.require_client_certificate or ts.mode in ("MUTUAL", "ISTIO_MUTUAL")
    if requires_cert and not request.client_certificate:
        # MUTUAL without a client certificate: TLS 1.3 alert "certificate required", curl
        # exit 56 (§1.6, §7 [DOC-TEST]).
        detail = f"tls.mode {ts.mode} requires a client certificate: alert certificate required"
        return _connection_miss(base, Miss.CLIENT_CERT_REQUIRED, 56, detail)
    if ts.mode in ("MUTUAL", "OPTIONAL_MUTUAL") and request.client_certificate:
        ca_problem = _secret_problem(proxy, ts.validation_sds)
        if ts.validation_sds is not None and ca_problem is not None:
            detail = f"TLS handshake fails, no CA to verify the client ({ca_problem})"
            return _connection_miss(base, Miss.TLS_HANDSHAKE_FAILED, 35, detail)
    return None


def _simulate_tcp(
    proxy: ProxyConfig, request: Request, tcp: TcpProxy, base: dict[str, Any], rng: _Rng | None
) -> Result:
    base = {**base, "tcp_proxy": tcp}
    fail_exit = 35 if request.is_tls else (52 if request.is_http else None)
    name = pick_cluster(tcp, rng)
    cluster = proxy.clusters.get(name) if name else None
    if cluster is None:
        # TCP proxy to an unknown cluster closes the downstream connection (flag NC).
        detail = f"cluster {name} not found: connection closed"
        return _connection_miss({**base, "cluster": name}, Miss.CLUSTER_NOT_FOUND, fail_exit, detail)
    endpoint = _pick_endpoint(cluster, request, rng)
    if endpoint is None:
        # BlackHoleCluster / no endpoints: the connection is closed (flag UH; §11.2 exit 35 for https).
        detail = f"cluster {name} has no healthy endpoints: connection closed"
        return _connection_miss({**base, "cluster": name}, Miss.NO_HEALTHY_UPSTREAM, fail_exit, detail)
    return Result(**base, cluster=name, endpoint=endpoint, action="tcp")


def _simulate_http(
    proxy: ProxyConfig,
    request: Request,
    hcm: envoy.HttpConnectionManager,
    base: dict[str, Any],
    rng: _Rng | None,
) -> Result:
    server = hcm.server_name
    base = {**base, "route_config": hcm.route_config_name}
    rc = proxy.route_configs.get(hcm.route_config_name)
    vhost = match_virtual_host(rc, request.host) if rc is not None else None
    if vhost is None:
        # No virtual host: router sends 404 with an empty body, flag NR (§1.4, §4.3).
        detail = f'no virtual host matches Host "{request.host or ""}": 404'
        return _http_miss(base, Miss.NO_VIRTUAL_HOST, server, detail)
    base["virtual_host"] = vhost.name

    # require_tls ALL (httpsRedirect, §6) is checked before any route, against
    # x-forwarded-proto; at the gateway edge (use_remote_address) Envoy sets that from the
    # connection, elsewhere a client-sent value is trusted (Envoy VirtualHostImpl).
    xfp = request.scheme
    if not hcm.use_remote_address:
        xfp = request.header("x-forwarded-proto") or request.scheme
    if vhost.require_tls == "ALL" and xfp != "https":
        # Envoy createSslRedirectPath: "https://{host}{path}" with the Host verbatim (§1.4).
        location = f"https://{request.host or ''}{request.path}"
        detail = f"virtual host requires TLS: 301 to {location}"
        return _http_miss(base, Miss.TLS_REQUIRED, server, detail, extra=(("location", location),))

    route = match_route(vhost, request)
    if route is None:
        detail = f"no route matches {request.method} {request.path}: 404"
        return _http_miss(base, Miss.NO_ROUTE, server, detail)
    base["route"] = route.name
    base["route_entry"] = route

    # The fault filter runs before the router with the route's per-filter config
    # (fault_filter.cc): a delay first (flag DI), then, once it has elapsed, an abort -- a local
    # reply "fault filter abort" with flag FI (FaultFilter::abortWithStatus).
    delay_flag = ""
    fault = route.fault
    if fault is not None:
        d = fault.delay
        # FaultFilter::delayDuration: whole milliseconds; "Delay only if the duration is >0ms".
        delay_ms = round(d.fixed_delay * 1e9) // 1_000_000 if d is not None else 0
        if d is not None and delay_ms > 0 and _fires(d.percentage, rng):
            base["fault_delay"] = delay_ms / 1000
            delay_flag = "DI"
        a = fault.abort
        if a is not None and _fires(a.percentage, rng):
            body = _FAULT_ABORT_BODY
            return Result(
                **base,
                action="local_reply",
                reply=_local_reply(a.http_status, body, server),
                response_flags=_flags(delay_flag, "FI"),
                detail=f'fault injection abort: {a.http_status} "{body}"',
            )
    return _route_action(proxy, request, route, vhost, server, base, delay_flag, rng)


def _route_action(
    proxy: ProxyConfig,
    request: Request,
    route: Route,
    vhost: VirtualHost,
    server: str,
    base: dict[str, Any],
    delay_flag: str,
    rng: _Rng | None,
) -> Result:
    """The router: the route's redirect, direct response, or its cluster and endpoint."""
    if route.redirect is not None:
        location = redirect_location(route.redirect, request, route.match)
        extra = (("location", location), *route.response_headers_to_add)
        code = route.redirect.response_code
        return Result(
            **base,
            action="redirect",
            reply=_local_reply(code, "", server, extra),
            response_flags=_flags(delay_flag),
            detail=f"redirect {code} to {location}",
        )
    if route.direct_response is not None:
        dr = route.direct_response
        reply = _local_reply(dr.status, dr.body or "", server, route.response_headers_to_add)
        if vhost.name == "block_all":
            # REGISTRY_ONLY: unknown hosts on an HTTP port get a direct 502, no body (§11.2).
            detail = f"REGISTRY_ONLY: host {request.host or ''} is not in the registry: {dr.status}"
            return _http_miss(base, Miss.BLOCKED, server, detail, delay_flag=delay_flag, reply=reply)
        return Result(
            **base,
            action="direct_response",
            reply=reply,
            response_flags=_flags(delay_flag),
            detail=f"direct response {dr.status}",
        )

    action = route.route
    name = pick_cluster(route, rng)
    cluster = proxy.clusters.get(name) if name else None
    base = {**base, "cluster": name}
    if cluster is None:
        code = action.cluster_not_found_response_code if action is not None else 503
        detail = f"cluster {name} not found: {code}"
        return _http_miss(base, Miss.CLUSTER_NOT_FOUND, server, detail, delay_flag=delay_flag, status=code)
    endpoint = _pick_endpoint(cluster, request, rng)
    if endpoint is None:
        body = HTTP_MISSES[Miss.NO_HEALTHY_UPSTREAM].body
        detail = f'cluster {name} has no healthy endpoints: 503 "{body}"'
        return _http_miss(base, Miss.NO_HEALTHY_UPSTREAM, server, detail, delay_flag=delay_flag)
    # Router shadowing: each request_mirror_policy fires with its runtime_fraction; a policy
    # whose cluster does not exist is skipped ("shadow cluster '{}' does not exist").
    mirrors = tuple(
        p.cluster
        for p in (action.request_mirror_policies if action is not None else ())
        if _fires(p.runtime_fraction, rng) and p.cluster in proxy.clusters
    )
    return Result(
        **base,
        endpoint=endpoint,
        action="http",
        response_flags=_flags(delay_flag),
        mirrors=mirrors,
    )


_FAULT_ABORT_BODY = "fault filter abort"

# Envoy's access-log order of response flags (ResponseFlagUtils, CORE_RESPONSE_FLAGS); several
# flags print comma-separated in this order, e.g. "DI,FI".
_FLAG_ORDER = (
    "LH", "UH", "UT", "LR", "UR", "UF", "UC", "UO", "NR", "DI", "FI", "RL", "UAEX", "RLSE", "DC",
    "URX", "SI", "IH", "DPE", "UMSDR", "RFCF", "NFCF", "DT", "UPE", "NC", "OM", "DF", "DO", "DR", "UDO",
)  # fmt: skip


def _flags(*flags: str) -> str:
    got = {f for f in flags if f and f != "-"}
    if not got:
        return "-"
    return ",".join(sorted(got, key=lambda f: _FLAG_ORDER.index(f) if f in _FLAG_ORDER else len(_FLAG_ORDER)))


def _fires(percentage: float, rng: _Rng | None) -> bool:
    # Envoy Runtime featureEnabled(FractionalPercent): random % denominator < numerator, with
    # Istio's numerator over a MILLION. Without an rng the outcome is deterministic: 100 % always
    # fires, anything less never does (what a single request most likely sees is not the point;
    # a lab must be reproducible).
    if rng is None:
        return percentage >= 100.0
    return rng.randrange(1_000_000) < round(percentage * 10000)
