"""The connection's steps: which listener a connection lands on, and which of its filter chains
takes it (Envoy's ``FilterChainManagerImpl`` order of narrowing).

Rule: no I/O here.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from gatewaykit.envoy import (
    FilterChain,
    Listener,
    ProxyConfig,
)

__all__ = ["match_filter_chain", "match_listener"]


def match_listener(proxy: ProxyConfig, port: int, *, destination: str | None = None) -> Listener | None:
    """Return the listener a connection to ``port`` lands on, or None (connection refused).

    A listener bound to the exact original destination address wins over ``0.0.0.0`` (sidecar
    outbound TCP listeners ``10.96.0.12_9000``). On a sidecar, a connection that matches no
    listener is kept by the ``virtualOutbound`` listener (``0.0.0.0_15001``), whose chains send
    it to ``PassthroughCluster`` or ``BlackHoleCluster`` (docs/behaviour.md §11.2, Istio
    traffic_registry_only_test).

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
