"""Merging the Gateways that select one gateway workload: istiod's ``MergedGateway``.

Rule: no I/O here. A port of ``pilot/pkg/model/gateway.go`` (``mergeGateways``, ``resolvePorts``'s
caller side, ``gatewayRDSRouteName``, ``sanitizeServerHostNamespace``, ``CheckDuplicates``,
``GetSNIHostsForServer``, ``canMergeProtocols``), docs/behaviour.md §2–§4, §10. The listeners and
route configurations built from the result are :mod:`.gateway`'s. istiod's log lines are
reproduced verbatim (Go ``%v`` of a string slice prints ``[a b]``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from gatewaykit._gofmt import format_list
from gatewaykit._translate import hosts as H
from gatewaykit.resources import protocol as P
from gatewaykit.resources.models import Gateway, Server

__all__ = [
    "GatewayServer",
    "MergedGateway",
    "MergedServers",
    "ServerPort",
    "ServerPortResolver",
    "check_duplicates",
    "clear_caches",
    "merge_gateways",
]


@dataclass(eq=False, slots=True)
class GatewayServer:
    """One Gateway server after ``sanitizeServerHostNamespace`` (identity = the Go pointer)."""

    gw: Gateway
    gw_name: str  # "<ns>/<name>"
    index: int
    server: Server
    hosts: list[str]
    number: int
    port_name: str
    protocol: str  # as written (Istio keeps the original string in ServerPort)
    bind: str
    proto: str = ""  # parsed protocol (filled in __post_init__)
    passthrough: bool = False

    def __post_init__(self) -> None:
        self.proto = P.parse(self.protocol)
        tls = self.server.tls
        self.passthrough = tls is not None and tls.mode in ("PASSTHROUGH", "AUTO_PASSTHROUGH")

    def is_passthrough(self) -> bool:
        """``gateway.IsPassThroughServer``."""
        return self.passthrough

    def is_tls_server(self) -> bool:
        """``gateway.IsTLSServer``: non-HTTP with TLS settings."""
        return self.server.tls is not None and not P.is_http(self.proto)

    def is_http_server(self) -> bool:
        """``gateway.IsHTTPServer``: HTTP, or HTTPS terminating TLS."""
        if P.is_http(self.proto):
            return True
        return self.proto == "HTTPS" and self.server.tls is not None and not self.passthrough

    @property
    def origin(self) -> str:
        """``"<ns>/<gateway> servers[<index>]"``: where the explain view points."""
        return f"{self.gw_name} servers[{self.index}]"


@dataclass(slots=True)
class MergedServers:
    """Istio ``MergedServers``: the servers sharing one ``ServerPort``, and their route name."""

    servers: list[GatewayServer]
    route_name: str = ""


ServerPort = tuple[int, str, str]  # (resolved number, protocol as written, bind)


@dataclass(slots=True)
class MergedGateway:
    """Istio ``MergedGateway``: the servers of every Gateway selecting one workload, by port."""

    merged: dict[ServerPort, MergedServers] = field(default_factory=dict)
    server_ports: list[ServerPort] = field(default_factory=list)
    servers_by_route: dict[str, list[GatewayServer]] = field(default_factory=dict)
    tls_info: dict[GatewayServer, tuple[tuple[str, ...], str]] = field(default_factory=dict)
    # Gateways ("<ns>/<name>") with servers whose filter chains come from VirtualService TCP/TLS
    # routes (createGatewayTCPFilterChainOpts), in first-seen order.
    tcp_gateways: tuple[str, ...] = ()


_SERVERS: dict[int, tuple[Gateway, tuple[GatewayServer, ...]]] = {}


def _servers_of(gw: Gateway) -> tuple[GatewayServer, ...]:
    """The Gateway's servers with a port, sanitized; remembered per (immutable) Gateway object.

    A :class:`GatewayServer` is a pure function of its Gateway and index and is never mutated, so the
    same objects serve every merge (and memo keys built on them stay valid).
    """
    got = _SERVERS.get(id(gw))
    if got is not None and got[0] is gw:
        return got[1]
    gw_ns = gw.metadata.namespace
    gw_name = f"{gw_ns}/{gw.metadata.name}"
    out = tuple(
        GatewayServer(
            gw=gw,
            gw_name=gw_name,
            index=idx,
            server=srv,
            hosts=H.sanitize_server_hosts(srv.hosts, gw_ns),
            number=srv.port.number,
            port_name=srv.port.name,
            protocol=srv.port.protocol,
            bind=srv.bind,
        )
        for idx, srv in enumerate(gw.spec.servers)
        if srv.port is not None and srv.port.number is not None
    )
    if len(_SERVERS) > 50_000:
        _SERVERS.clear()
    _SERVERS[id(gw)] = (gw, out)
    return out


def _rds_name(s: GatewayServer, resolved: int) -> str:
    """``gatewayRDSRouteName``: ``http.<targetPort>`` or ``https.<port>.<portName>.<gw>.<ns>``
    (docs/behaviour.md §4.4)."""
    bind = f".{s.bind}" if s.bind else ""
    if P.is_http(s.proto):
        return f"http.{resolved}{bind}"
    if s.proto == "HTTPS" and not s.passthrough:
        return f"https.{s.number}.{s.port_name}.{s.gw.metadata.name}.{s.gw.metadata.namespace}{bind}"
    return ""


def check_duplicates(hosts: Sequence[str], bind: str, known: dict[str, str]) -> list[str]:
    """``CheckDuplicates``: hosts already used on this port with the same bind."""
    dups = [h for h in hosts if h in known and known[h] == bind]
    if not dups:
        for h in hosts:
            known[h] = bind
    return dups


def _sni_hosts(hosts: Sequence[str]) -> tuple[str, ...]:
    """``GetSNIHostsForServer``: hosts without ``ns/``, de-duplicated and sorted."""
    return tuple(sorted({h.partition("/")[2] if "/" in h else h for h in hosts}))


def _can_merge(current: str, p: str) -> bool:
    """``canMergeProtocols``."""
    return (P.is_http(current) or current == p) and P.is_http(p)


#: ``resolvePorts`` for one Gateway: the listener ports its server port resolves to, or None when the
#: Gateway is not bound to a Service of the proxy on that port (Gateway API gateways, which
#: reference their Service directly, have no fallback: "If there was no match, the Gateway is a
#: no-op", pilot/pkg/model/gateway.go).
ServerPortResolver = Callable[[Gateway, int], "int | None"]


def merge_gateways(
    gateways: Sequence[Gateway],
    resolve_port: Callable[[int], int],
    log: list[str],
    resolve_server: ServerPortResolver | None = None,
) -> MergedGateway:
    """``mergeGateways`` for one gateway workload; appends istiod's log lines to ``log``
    (docs/behaviour.md §10).

    ``resolve_server`` (when given) resolves each Gateway's server ports instead of ``resolve_port``;
    a None skips the server.
    """
    merger = _Merger(log)
    for gw in gateways:
        for s in _servers_of(gw):
            got = resolve_server(gw, s.number) if resolve_server is not None else resolve_port(s.number)
            if got is not None:
                merger.add(s, got)
    mg = merger.mg
    mg.tcp_gateways = _tcp_gateways(mg)
    return mg


class _Merger:
    """The state of one ``mergeGateways`` run: what each resolved port already holds."""

    __slots__ = ("mg", "log", "gateway_ports", "plain", "non_plain_binds", "tls_hosts_by_port")

    def __init__(self, log: list[str]) -> None:
        self.mg = MergedGateway()
        self.log = log
        self.gateway_ports: set[int] = set()
        self.plain: dict[int, ServerPort] = {}  # plainTextServers
        self.non_plain_binds: dict[int, set[str]] = {}  # nonPlainTextGatewayPortsBindMap
        self.tls_hosts_by_port: dict[int, dict[str, str]] = {}

    def add(self, s: GatewayServer, resolved: int) -> None:
        """One server on one resolved port: the body of ``mergeGateways``' inner loop."""
        route = _rds_name(s, resolved)
        if s.server.tls is not None:
            # Envoy rejects two filter chains with the same match, so TLS hosts (SNI) must be
            # unique per port and bind.
            known = self.tls_hosts_by_port.setdefault(resolved, {})
            dups = check_duplicates(s.hosts, s.bind, known)
            if dups:
                self.log.append(
                    f"skipping server on gateway {s.gw_name}, duplicate host names: {format_list(dups)}"
                )
                return
            self.mg.tls_info[s] = (_sni_hosts(s.hosts), route)
        sp: ServerPort = (resolved, s.protocol, s.bind)
        if resolved not in self.gateway_ports:
            # A new port: its own MergedServers.
            self.gateway_ports.add(resolved)
            self._add_new(s, sp, route)
            return
        current = self.plain.get(resolved)
        if current is not None:
            self._merge_plain(s, sp, route, current)
        elif not s.is_tls_server():
            self._add_new(s, sp, route)
        else:
            self._merge_tls(s, sp, route)

    def _skip(self, s: GatewayServer, sp: ServerPort, reason: str) -> None:
        port_id = f"{s.port_name}.{sp[0]}.{s.protocol}"
        self.log.append(f"skipping server on gateway {s.gw.metadata.name} port {port_id}: {reason}")

    def _add_new(self, s: GatewayServer, sp: ServerPort, route: str) -> None:
        mg = self.mg
        if not s.is_tls_server():
            self.plain[sp[0]] = sp
        if s.is_http_server():
            mg.servers_by_route[route] = [s]
        mg.merged[sp] = MergedServers([s], route)
        mg.server_ports.append(sp)

    def _merge_plain(self, s: GatewayServer, sp: ServerPort, route: str, current: ServerPort) -> None:
        """A second server on a plain-text port: merged if both are HTTP (or the binds differ)."""
        mg = self.mg
        if not _can_merge(s.proto, P.parse(current[1])) and current[2] == s.bind:
            self._skip(s, sp, f"conflict with existing server {sp[0]}.{sp[1]}")
            return
        if route == "" and current[2] == s.bind:
            self._skip(s, sp, "could not build RDS name from server")
            return
        if current[2] != s.bind:
            if sp not in mg.merged:
                self._add_new(s, sp, route)
                return
            ms = mg.merged[sp]
            ms.route_name = route
            ms.servers.append(s)
        else:
            mg.merged[current].servers.append(s)
        mg.servers_by_route.setdefault(route, []).append(s)

    def _merge_tls(self, s: GatewayServer, sp: ServerPort, route: str) -> None:
        """A second server on a TLS port: HTTPS servers need their own route name; servers are
        told apart by SNI, so one without TLS settings on a bind already in use is refused."""
        mg = self.mg
        if s.is_http_server():
            if route == "":
                return
            if route in mg.servers_by_route:
                self._skip(s, sp, "non unique port name for HTTPS port")
                return
            mg.servers_by_route[route] = [s]
        binds = self.non_plain_binds.get(sp[0])
        if binds is None:
            self.non_plain_binds[sp[0]] = {s.bind}
            new_bind = True
        else:
            new_bind = s.bind not in binds
            binds.add(s.bind)
        if s.server.tls is None and not new_bind:
            self.log.append(f"TLS server without TLS options {s.gw_name} {s.server!r}")
            return
        if sp not in mg.merged:
            mg.merged[sp] = MergedServers([s])
            mg.server_ports.append(sp)
        else:
            mg.merged[sp].servers.append(s)


def _tcp_gateways(mg: MergedGateway) -> tuple[str, ...]:
    """The Gateways (``"<ns>/<name>"``) with servers on non-HTTP ports that are not terminated
    HTTPS, whose filter chains come from VirtualService TCP/TLS routes, in first-seen order."""
    tcp: dict[str, None] = {}
    for sp in mg.server_ports:
        found = mg.merged.get(sp)
        if found is None or P.is_http(P.parse(sp[1])):
            continue
        for srv in found.servers:
            if not (srv.proto == "HTTPS" and srv.server.tls is not None and not srv.passthrough):
                tcp[srv.gw_name] = None
    return tuple(tcp)


def clear_caches() -> None:
    """Forget the sanitized servers remembered per Gateway object."""
    _SERVERS.clear()
