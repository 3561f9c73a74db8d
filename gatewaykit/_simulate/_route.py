"""The HTTP connection manager's steps: which virtual host a request's Host selects, and which of
its routes matches first (Envoy's ``RouteMatcher``).

Rule: no I/O here.
"""

from __future__ import annotations

import re

from gatewaykit._simulate._model import Request
from gatewaykit.envoy import (
    HeaderMatcher,
    Route,
    RouteConfiguration,
    RouteMatch,
    VirtualHost,
)

__all__ = ["match_route", "match_virtual_host", "port_start"]


def port_start(host: str) -> int:
    """Where the ``:port`` of a Host header starts, or -1 when it has none."""
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
    ``ignore_port_in_host_matching`` (Istio gateways, docs/behaviour.md §4.3), stripped of ``:port``. Lookup
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
        start = port_start(value)
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
