"""The router's upstream step: which cluster a route or tcp_proxy picks, and which endpoint.

Rule: no I/O here.
"""

from __future__ import annotations

from gatewaykit import envoy
from gatewaykit._simulate._model import Request, Rng
from gatewaykit._simulate._route import port_start
from gatewaykit.envoy import (
    Route,
    RouteAction,
    TcpProxy,
)

__all__ = ["pick_cluster", "pick_endpoint"]


def pick_cluster(route_or_tcp_proxy: Route | RouteAction | TcpProxy, rng: Rng | None = None) -> str | None:
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


def pick_endpoint(cluster: envoy.Cluster, request: Request, rng: Rng | None) -> str | None:
    """The ``address:port`` the request goes to in ``cluster``, or None when none is healthy."""
    if cluster.type == "ORIGINAL_DST":
        # PassthroughCluster forwards to the address the client dialled (docs/behaviour.md §11.2).
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
    start = port_start(host)
    return host[:start] if start != -1 else host
