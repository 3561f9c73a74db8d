"""Istio's ``host.Name`` (``pkg/config/host/name.go``): wildcard matching and subsets.

One copy for validation (``resources/validation``) and translation (``translate/hosts``).

Rule: no I/O here.
"""

from __future__ import annotations

__all__ = ["is_wildcarded", "matches", "subset_of"]


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
