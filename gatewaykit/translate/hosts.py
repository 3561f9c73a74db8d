"""Istio host-name algebra: wildcard matching, subset, intersection, namespace-scoped hosts.

Rule: no I/O here. A faithful port of ``pkg/config/host/name.go`` and ``names.go`` plus the
short-name resolution of ``pilot/pkg/model/config.go`` (``ResolveShortnameToFQDN``,
``resolveGatewayName``) -- the rules of §4.1 and §4.2.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = [
    "DOMAIN_SUFFIX",
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


def is_wildcarded(name: str) -> bool:
    """True for ``*`` and ``*.example.com`` (Istio ``Name.IsWildCarded``)."""
    return name[:1] == "*"


def matches(n: str, o: str) -> bool:
    """Istio ``Name.Matches``: the two names overlap in either direction.

    ``*.com`` matches ``foo.com`` and vice versa; ``*.foo.com`` does not match ``foo.com``.
    """
    nw, ow = is_wildcarded(n), is_wildcarded(o)
    if nw:
        if ow:
            if len(n) < len(o):
                return o[1:].endswith(n[1:])
            return n[1:].endswith(o[1:])
        return o.endswith(n[1:])
    if ow:
        return n.endswith(o[1:])
    return n == o


def subset_of(n: str, o: str) -> bool:
    """Istio ``Name.SubsetOf``: ``n`` is covered by ``o`` (one direction only)."""
    nw, ow = is_wildcarded(n), is_wildcarded(o)
    if nw:
        if ow:
            if len(n) < len(o):
                return False
            return n[1:].endswith(o[1:])
        return False
    if ow:
        return n.endswith(o[1:])
    return n == o


def intersection(h: Sequence[str], other: Sequence[str]) -> list[str]:
    """Istio ``Names.Intersection``: for each pair the narrower name wins (§4.2).

    The result keeps the order of ``h`` (the server hosts at a gateway).
    """
    result: list[str] = []
    for hh in h:
        for oh in other:
            if subset_of(hh, oh):
                if hh not in result:
                    result.append(hh)
            elif subset_of(oh, hh):
                if oh not in result:
                    result.append(oh)
    return result


def names_for_namespace(hosts: Iterable[str], namespace: str) -> list[str]:
    """Istio ``NamesForNamespace``: the server hosts a VirtualService in ``namespace`` may use.

    ``ns/host`` is kept (without ``ns/``) only when ``ns`` is the namespace or ``*`` (§4.1).
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
    """Istio ``resolveGatewayName``: a VirtualService's gateway reference as ``<ns>/<name>`` (§4.2).

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
