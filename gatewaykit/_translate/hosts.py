"""Istio host-name algebra: wildcard matching, subset, intersection, namespace-scoped hosts.

Rule: no I/O here. A faithful port of ``pkg/config/host/name.go`` and ``names.go`` plus the
short-name resolution of ``pilot/pkg/model/config.go`` (``ResolveShortnameToFQDN``,
``resolveGatewayName``) -- the rules of docs/behaviour.md §4.1 and §4.2.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

# host.Name Matches/SubsetOf live with the resources (validation needs them too); re-exported here.
from gatewaykit.resources.host import is_wildcarded, matches, subset_of

__all__ = [
    "DOMAIN_SUFFIX",
    "HostIndex",
    "intersection",
    "is_wildcarded",
    "matches",
    "more_specific_key",
    "names_for_namespace",
    "resolve_gateway_name",
    "resolve_shortname",
    "subset_of",
]

#: Kubernetes cluster domain (``meta.Domain`` for configs read from Kubernetes).
DOMAIN_SUFFIX = "cluster.local"


def intersection(h: Sequence[str], other: Sequence[str]) -> list[str]:
    """Istio ``Names.Intersection``: for each pair the narrower name wins (docs/behaviour.md §4.2).

    The result keeps the order of ``h`` (the server hosts at a gateway).
    """
    # Same result as the pairwise loop of names.go, without its O(len(h) * len(other)) cost for
    # the common case -- a gateway server with many exact hosts: an exact name ``hh`` can only
    # contribute itself, and does so when ``other`` holds it or a wildcard covering it.
    if len(h) * len(other) <= 8:
        # Tiny inputs (one server host, one VirtualService host): the pairwise loop is cheapest.
        small: list[str] = []
        for hh in h:
            for oh in other:
                add = hh if subset_of(hh, oh) else (oh if subset_of(oh, hh) else None)
                if add is not None and add not in small:
                    small.append(add)
        return small
    exact = {o for o in other if not is_wildcarded(o)}
    suffixes = [o[1:] for o in other if is_wildcarded(o)]
    result: list[str] = []
    seen: set[str] = set()
    for hh in h:
        if not is_wildcarded(hh):
            if hh not in seen and (hh in exact or any(hh.endswith(sfx) for sfx in suffixes)):
                seen.add(hh)
                result.append(hh)
            continue
        for oh in other:
            if subset_of(hh, oh):
                add = hh
            elif subset_of(oh, hh):
                add = oh
            else:
                continue
            if add not in seen:
                seen.add(add)
                result.append(add)
    return result


class HostIndex:
    """:func:`intersection` with a fixed first argument, for a gateway server with many hosts.

    ``HostIndex(h).intersection(other) == intersection(h, other)``. When ``other`` (a
    VirtualService's hosts) is a few exact names, the cost is proportional to ``other`` and the
    server's wildcard hosts instead of to every server host -- binding N VirtualServices to a
    server with N hosts is then O(N), not O(N²).
    """

    __slots__ = ("hosts", "_exact", "_wild")

    def __init__(self, h: Sequence[str]) -> None:
        self.hosts = list(h)
        self._exact: dict[str, int] = {}
        self._wild: list[tuple[int, str]] = []
        for i, name in enumerate(self.hosts):
            if is_wildcarded(name):
                self._wild.append((i, name))
            else:
                self._exact.setdefault(name, i)

    def intersection(self, other: Sequence[str]) -> list[str]:
        """``intersection(self.hosts, other)``."""
        if len(other) * 4 > len(self.hosts) or any(is_wildcarded(o) for o in other):
            return intersection(self.hosts, other)
        # Every name in `other` is exact: an exact server host contributes itself when `other`
        # holds it; a wildcard server host contributes the names of `other` it covers. Ordered as
        # the pairwise loop would emit them: by server host, then by position in `other`.
        hits: list[tuple[int, int, str]] = []
        for o in other:
            i = self._exact.get(o)
            if i is not None:
                hits.append((i, 0, o))
        for i, hh in self._wild:
            for k, oh in enumerate(other):
                if subset_of(oh, hh):
                    hits.append((i, k + 1, oh))
        hits.sort()
        result: list[str] = []
        seen: set[str] = set()
        for _, _, name in hits:
            if name not in seen:
                seen.add(name)
                result.append(name)
        return result


def names_for_namespace(hosts: Iterable[str], namespace: str) -> list[str]:
    """Istio ``NamesForNamespace``: the server hosts a VirtualService in ``namespace`` may use.

    ``ns/host`` is kept (without ``ns/``) only when ``ns`` is the namespace or ``*`` (docs/behaviour.md §4.1).
    """
    out: list[str] = []
    for h in hosts:
        ns, sep, name = h.partition("/")
        if sep:
            if ns != namespace and ns != "*":
                continue
            h = name
        out.append(h)
    return out


def more_specific_key(name: str) -> tuple[int, int, str]:
    """Sort key for Istio's ``host.Names`` order: non-wildcards first, longest first, then A-Z."""
    return (1 if is_wildcarded(name) else 0, -len(name), name)


def _is_ip(text: str) -> bool:
    parts = text.split(".")
    if len(parts) == 4 and all(p.isdigit() and 0 <= int(p) <= 255 for p in parts):
        return True
    return ":" in text and all(c in "0123456789abcdefABCDEF:" for c in text)


def resolve_shortname(hostname: str, namespace: str) -> str:
    """Istio ``ResolveShortnameToFQDN``: ``httpbin`` in ``default`` → ``httpbin.default.svc.cluster.local``.

    Names containing a dot, ``*`` and IP addresses are returned unchanged (so ``httpbin.default``
    stays as written, exactly like istiod).
    """
    if not hostname or hostname == "*" or _is_ip(hostname):
        return hostname
    if "." not in hostname:
        out = hostname
        if namespace:
            out += "." + namespace
        return out + ".svc." + DOMAIN_SUFFIX
    return hostname


def resolve_gateway_name(gwname: str, namespace: str) -> str:
    """Istio ``resolveGatewayName``: a VirtualService's gateway reference as ``<ns>/<name>``
    (docs/behaviour.md §4.2).

    ``mesh`` is returned unchanged; ``./gw`` and short names use the VirtualService namespace; the
    legacy FQDN form ``gw.ns.svc.cluster.local`` becomes ``ns/gw``.
    """
    if gwname == "mesh":
        return gwname
    if "/" not in gwname:
        if "." not in gwname:
            return f"{namespace}/{gwname}"
        i = gwname.index(".")
        rest = gwname[i + 1 :]
        j = rest.find(".")
        if j == -1:
            return f"{rest}/{gwname[:i]}"
        return f"{rest[:j]}/{gwname[:i]}"
    before, _, after = gwname.partition("/")
    if before == ".":
        return f"{namespace}/{after}"
    return gwname


def sanitize_server_hosts(hosts: Sequence[str], namespace: str) -> list[str]:
    """``sanitizeServerHostNamespace``: ``./h`` → ``<ns>/h``, ``*/h`` → ``h``, ``*/*`` → ``*``
    (docs/behaviour.md §4.1)."""
    out = list(hosts)
    for i, h in enumerate(hosts):
        if "/" in h:
            ns, _, name = h.partition("/")
            if ns == ".":
                out[i] = f"{namespace}/{name}"
            elif ns == "*":
                if name == "*":
                    return ["*"]
                out[i] = name
    return out
