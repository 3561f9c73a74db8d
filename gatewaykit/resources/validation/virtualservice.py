"""``ValidateVirtualService`` and its TLS/TCP route checks (``pkg/config/validation/validation.go``).

HTTP routes are checked by :mod:`.httproute` (``virtualservice.go``); the warnings for rules
that can never match are ``analyzeUnreachable{HTTP,TCP,TLS}Rules`` (docs/behaviour.md §14.2).

Rule: no I/O here.
"""

from __future__ import annotations

import json
from typing import Any

from gatewaykit._gofmt import format_list, quote
from gatewaykit.resources import host
from gatewaykit.resources.validation._proto import Config, get_int, get_list, get_map, get_str
from gatewaykit.resources.validation.agent import (
    is_ip_address,
    validate_ip_subnet,
    validate_port,
    validate_wildcard_domain,
    validate_wildcard_domain_for_virtual_service_bound_to_gateway,
)
from gatewaykit.resources.validation.common import (
    validate_export_to,
    validate_gateway_names,
    validate_route_destinations,
)
from gatewaykit.resources.validation.httproute import validate_http_route
from gatewaykit.resources.validation.labels import validate_labels
from gatewaykit.resources.validation.multierror import Err, Validation, append_errors, multierror_append

__all__ = [
    "analyze_unreachable_rules",
    "validate_sni_host",
    "validate_tcp_route",
    "validate_tls_route",
    "validate_virtual_service",
]


def validate_virtual_service(cfg: Config) -> Validation:
    """``ValidateVirtualService``: hosts, gateways, routes, exportTo, then unreachable-rule warnings."""
    namespace, spec = cfg.namespace, cfg.spec
    v = Validation()
    hosts = [str(h) for h in get_list(spec, "hosts")]
    gateways = get_list(spec, "gateways")
    if not hosts:
        # This must be a delegate.
        if gateways:
            v.add("delegate virtual service must have no gateways specified")
        if get_list(spec, "tls"):
            v.add("delegate virtual service must have no tls route specified")
        if get_list(spec, "tcp"):
            v.add("delegate virtual service must have no tcp route specified")
    applies_to_gateway = False
    if not gateways:
        applies_to_mesh = True
    else:
        v.add(validate_gateway_names(gateways))
        applies_to_gateway = "mesh" not in gateways
        applies_to_mesh = not applies_to_gateway
    if not applies_to_gateway:
        for http in get_list(spec, "http"):
            for match in get_list(http, "match"):
                for key in ("headers", "withoutHeaders"):
                    for name in get_map(match, key):
                        if name.startswith("@request.auth.claims."):
                            v.add(
                                f"JWT claim based routing (key: {name}) is only supported for gateway, "
                                f"found no "
                                f"gateways: {format_list([str(g) for g in gateways])}"
                            )
    is_sni = any(get_list(m, "sniHosts") for t in get_list(spec, "tls") for m in get_list(t, "match"))
    _validate_hosts(v, hosts, is_sni, applies_to_gateway, applies_to_mesh)
    if not get_list(spec, "http") and not get_list(spec, "tcp") and not get_list(spec, "tls"):
        v.add("http, tcp or tls must be provided in virtual service")
    for http in get_list(spec, "http"):
        if not isinstance(http, dict):
            v.add("http route may not be null")
            continue
        v.add(validate_http_route(http, delegate=not hosts))
    for tls in get_list(spec, "tls"):
        v.add(validate_tls_route(tls, spec, applies_to_gateway))
    for tcp in get_list(spec, "tcp"):
        v.add(validate_tcp_route(tcp))
    v.add(validate_export_to(namespace, get_list(spec, "exportTo"), False, False))
    analyze_unreachable_rules(v, get_list(spec, "http"), http=True)
    analyze_unreachable_rules(v, get_list(spec, "tcp"), http=False)
    analyze_unreachable_rules(v, get_list(spec, "tls"), http=False)
    return v


def _validate_hosts(
    v: Validation, hosts: list[str], is_sni: bool, applies_to_gateway: bool, applies_to_mesh: bool
) -> None:
    """The ``hosts`` loop of ``ValidateVirtualService``: each host, then duplicates."""
    all_valid = True
    for h in hosts:
        err = (
            validate_wildcard_domain_for_virtual_service_bound_to_gateway(is_sni, h)
            if applies_to_gateway
            else validate_wildcard_domain(h)
        )
        if err:
            if not is_ip_address(h):
                v.add(err)
                all_valid = False
        elif applies_to_mesh and h == "*":
            v.add("wildcard host * is not allowed for virtual services bound to the mesh gateway")
            all_valid = False
    # Duplicates include wildcard duplicates: *.foo.com and *.com.
    if all_valid:
        for i in range(len(hosts)):
            for j in range(i + 1, len(hosts)):
                if host.matches(hosts[i], hosts[j]):
                    v.add(f"duplicate hosts in virtual service: {hosts[i]} & {hosts[j]}")


def validate_tls_route(tls: Any, vs: dict[str, Any], is_gw: bool) -> Validation:
    """``validateTLSRoute`` (with ``validateTLSMatch``): SNI matches and destinations."""
    v = Validation()
    if not isinstance(tls, dict):
        return v
    matches = get_list(tls, "match")
    if not matches:
        v.add("TLS route must have at least one match condition")
    for match in matches:
        if not isinstance(match, dict):
            v.add("TLS match may not be null")
            continue
        snis = get_list(match, "sniHosts")
        if not snis:
            v.add("TLS match must have at least one SNI host")
        else:
            for sni in snis:
                v.add(validate_sni_host(str(sni), vs, is_gw))
        for subnet in get_list(match, "destinationSubnets"):
            v.add(validate_ip_subnet(str(subnet)))
        if get_int(match, "port") != 0:
            v.add(validate_port(get_int(match, "port")))
        v.add(validate_labels(get_map(match, "sourceLabels")))
        v.add(validate_gateway_names(get_list(match, "gateways")))
    routes = get_list(tls, "route")
    if not routes:
        v.add("TLS route is required")
    v.add(validate_route_destinations(routes, http=False))
    return v


def validate_sni_host(sni: str, vs: dict[str, Any], is_gw: bool) -> Validation:
    """``validateSniHost``: a valid (wildcard) domain within the VirtualService's hosts."""
    err = (
        validate_wildcard_domain_for_virtual_service_bound_to_gateway(True, sni)
        if is_gw
        else validate_wildcard_domain(sni)
    )
    if err:
        if is_ip_address(sni):
            return Validation(
                warn=f"using an IP address ({quote(sni)}) goes against SNI spec and most clients do not "
                f"support this"
            )
        return Validation(err)
    for h in get_list(vs, "hosts"):
        if host.subset_of(sni, str(h)):
            return Validation()
    hosts = ", ".join(str(h) for h in get_list(vs, "hosts"))
    return Validation(
        f"SNI host {quote(sni)} is not a compatible subset of any of the virtual service hosts: [{hosts}]"
    )


def validate_tcp_route(tcp: Any) -> Err:
    """``validateTCPRoute`` (with ``validateTCPMatch``): L4 matches and destinations."""
    if not isinstance(tcp, dict):
        return None
    errs: Err = None
    for match in get_list(tcp, "match"):
        if not isinstance(match, dict):
            errs = append_errors(errs, multierror_append(None, "tcp match may not be nil"))
            continue
        for subnet in get_list(match, "destinationSubnets"):
            errs = append_errors(errs, validate_ip_subnet(str(subnet)))
        if get_int(match, "port") != 0:
            errs = append_errors(errs, validate_port(get_int(match, "port")))
        errs = append_errors(errs, validate_labels(get_map(match, "sourceLabels")))
        errs = append_errors(errs, validate_gateway_names(get_list(match, "gateways")).err)
    routes = get_list(tcp, "route")
    if not routes:
        errs = append_errors(errs, "TCP route is required")
    return append_errors(errs, validate_route_destinations(routes, http=False))


def analyze_unreachable_rules(v: Validation, routes: list[Any], http: bool) -> None:
    """``analyzeUnreachable{HTTP,TCP,TLS}Rules``: warnings for shadowed rules and matches."""
    seen: dict[str, int] = {}
    empty_seen = -1
    prefixes: list[dict[str, Any]] = []
    for n, route in enumerate(routes):
        if not isinstance(route, dict):
            continue
        matches = get_list(route, "match")
        if not matches:
            if empty_seen >= 0:
                v.warning(
                    f"virtualService rule {route_name(route, n, http)} not used (only the last rule can "
                    f"have no matches)"
                )
            empty_seen = n
            continue
        dups = 0
        for mn, match in enumerate(matches):
            key = as_json(match, http)
            if key in seen:
                d = seen[key]
                v.warning(
                    f"virtualService rule {route_name(route, n, http)} match "
                    f"{request_name(match, mn, http)} is not "
                    f"used (duplicate/overlapping match in rule {route_name(routes[d], d, http)})"
                )
                dups += 1
                continue
            seen[key] = n
            if (
                http
                and isinstance(match, dict)
                and isinstance(match.get("uri"), dict)
                and get_str(match["uri"], "prefix")
            ):
                prefixes.append(gen_match_http_route(route, match, n, mn))
        if dups == len(matches):
            v.warning(
                f"virtualService rule {route_name(route, n, http)} not used (all matches used by prior rules)"
            )
    # Overlapping prefix matches: an earlier prefix that covers a later one (genMatchHTTPRoutes).
    for i, a in enumerate(prefixes):
        for b in prefixes[i + 1 :]:
            if b["prefix"] == a["prefix"]:
                continue
            if covered_validation(a, b):
                v.warning(
                    f"virtualService rule {b['route']} match {b['match']} of prefix {b['prefix']} is not "
                    f"used "
                    f"(duplicate/overlapping match in rule {a['match']} of prefix {a['prefix']} on "
                    f"{a['route']})"
                )


def as_json(match: Any, http: bool) -> str:
    """``asJSON``: the match as JSON, the key under which duplicates are found (HTTP: without ``name``)."""
    if http and isinstance(match, dict) and match.get("name"):
        match = {k: val for k, val in match.items() if k != "name"}
    return json.dumps(match, sort_keys=True, default=str)


def route_name(route: Any, n: int, http: bool) -> str:
    """``routeName``: a named HTTP route's name quoted with ``%q``, else ``#<index>``."""
    if http and isinstance(route, dict) and get_str(route, "name"):
        return quote(get_str(route, "name"))
    return f"#{n}"


def request_name(match: Any, n: int, http: bool) -> str:
    """``requestName``: a named HTTP match's name quoted with ``%q``, else ``#<index>``."""
    if http and isinstance(match, dict) and get_str(match, "name"):
        return quote(get_str(match, "name"))
    return f"#{n}"


def assign_exact_or_prefix(sm: Any) -> str:
    """``assignExactOrPrefix``: ``exact:<v>`` or ``prefix:<v>`` of a string match."""
    if isinstance(sm, dict):
        if get_str(sm, "exact"):
            return "exact:" + get_str(sm, "exact")
        if get_str(sm, "prefix"):
            return "prefix:" + get_str(sm, "prefix")
    return ""


def gen_match_http_route(route: dict[str, Any], match: dict[str, Any], n: int, mn: int) -> dict[str, Any]:
    """``genMatchHTTPRoutes``: what ``coveredValidation`` compares for a prefix match."""
    return {
        "route": route_name(route, n, True),
        "match": request_name(match, mn, True),
        "prefix": get_str(match["uri"], "prefix"),
        "port": get_int(match, "port"),
        "method": assign_exact_or_prefix(match.get("method")) or "exact:GET",
        "authority": assign_exact_or_prefix(match.get("authority")),
        "headers": {k: assign_exact_or_prefix(x) for k, x in get_map(match, "headers").items()},
        "query": {k: assign_exact_or_prefix(x) for k, x in get_map(match, "queryParams").items()},
        "without": {k: assign_exact_or_prefix(x) for k, x in get_map(match, "withoutHeaders").items()},
    }


def covered_validation(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """``coveredValidation``: an earlier prefix match covers a later one on every other field."""
    if not b["prefix"].startswith(a["prefix"]) or a["port"] != b["port"]:
        return False
    for key in ("method", "authority"):
        if a[key] != b[key] and not a[key].startswith(b[key]):
            return False
    for key in ("headers", "query", "without"):
        if len(a[key]) != len(b[key]):
            return False
        for k, val in a[key].items():
            if k not in b[key] or (val != b[key][k] and not val.startswith(b[key][k])):
                return False
    return True
