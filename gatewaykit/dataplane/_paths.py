"""Request paths: Envoy's ``normalize_path`` and the route's rewrites.

Rule: no I/O here.
"""

from __future__ import annotations

import re

from gatewaykit import envoy

__all__ = ["normalize_path", "rewrite_path"]

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def normalize_path(target: str) -> str:
    """Envoy's ``normalize_path`` (Istio's default ``pathNormalization: BASE``) on a request target.

    ``PathUtil::canonicalPath`` (Chromium's URL canonicalizer): percent-encoded unreserved
    characters are decoded (``%2E`` → ``.``), a backslash becomes ``/``, and dot segments are removed
    (RFC 3986 §5.2.4): ``/foo/../status/201`` → ``/status/201``. Slashes are not merged and
    ``%2F`` stays encoded (BASE). The query string is kept as is.
    """
    path, sep, query = target.partition("?")
    if not path.startswith("/"):
        return target

    def decode(m: re.Match[str]) -> str:
        byte = int(m.group(1), 16)
        return chr(byte) if byte in _UNRESERVED else "%" + m.group(1).upper()

    path = re.sub(r"%([0-9A-Fa-f]{2})", decode, path).replace("\\", "/")
    out: list[str] = []
    segments = path.split("/")[1:]
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == ".":
            if last:
                out.append("")
        elif seg == "..":
            if out:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(seg)
    return "/" + "/".join(out) + sep + query


def rewrite_path(route: envoy.Route, path: str) -> str:
    """The path the upstream gets after the route's ``prefix_rewrite`` / ``regex_rewrite``.

    Envoy ``RouteEntryImplBase::finalizePathHeader``: the matched prefix (or the whole path for
    an exact path match) is replaced; the query string is kept.
    """
    action = route.route
    assert action is not None
    if action.prefix_rewrite is not None:
        match = route.match
        if match.matched_prefix is not None:
            return action.prefix_rewrite + path[len(match.matched_prefix) :]
        if match.path is not None:
            q = path.find("?")
            return action.prefix_rewrite + (path[q:] if q != -1 else "")
    if action.regex_rewrite is not None:
        pattern, substitution = action.regex_rewrite
        q = path.find("?")
        only, query = (path[:q], path[q:]) if q != -1 else (path, "")
        try:
            return re.sub(pattern, substitution, only) + query
        except re.error:
            return path
    return path
