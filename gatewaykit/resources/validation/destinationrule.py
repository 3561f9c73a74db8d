"""``ValidateDestinationRule`` and ``validateTrafficPolicy`` (``pkg/config/validation/validation.go``).

The client TLS settings are checked by ``agent.ValidateTLS`` (:func:`.agent.validate_tls`).

Rule: no I/O here.
"""

from __future__ import annotations

from typing import Any

from gatewaykit.resources.validation._proto import Config, get_int, get_list, get_map, get_msg, get_str
from gatewaykit.resources.validation.agent import (
    is_ip_address,
    validate_duration,
    validate_fqdn,
    validate_port,
    validate_tls,
    validate_wildcard_domain,
)
from gatewaykit.resources.validation.common import (
    validate_export_to,
    validate_selector_labels,
    validate_subset_name,
)
from gatewaykit.resources.validation.labels import validate_labels
from gatewaykit.resources.validation.multierror import Err, Validation, append_errors

__all__ = [
    "validate_connection_pool",
    "validate_destination_rule",
    "validate_load_balancer",
    "validate_outlier_detection",
    "validate_traffic_policy",
]


def validate_destination_rule(cfg: Config) -> Validation:
    """``ValidateDestinationRule``: host, traffic policy, subsets, exportTo and workload selector."""
    namespace, spec = cfg.namespace, cfg.spec
    v = Validation()
    v.add(validate_wildcard_domain(get_str(spec, "host")), validate_traffic_policy(spec.get("trafficPolicy")))
    names: set[str] = set()
    for subset in get_list(spec, "subsets"):
        if not isinstance(subset, dict):
            v.add("subset may not be null")
            continue
        name = get_str(subset, "name")
        if name in names:
            v.add(f"duplicate subset names: {name}")
        names.add(name)
        v.add(
            append_errors(
                validate_subset_name(name),
                validate_labels(get_map(subset, "labels")),
                validate_traffic_policy(subset.get("trafficPolicy")).err,
            )
        )
    selector = get_msg(spec, "workloadSelector")
    v.add(validate_export_to(namespace, get_list(spec, "exportTo"), False, selector is not None))
    if selector is not None:
        labels = get_map(selector, "matchLabels")
        v.add(validate_selector_labels(labels))
        if not labels:
            v.warning("workload selector specified without labels")
    return v


def validate_traffic_policy(tp: Any) -> Validation:
    """``validateTrafficPolicy`` (with ``validatePortTrafficPolicies`` and ``validateTunnelSettings``)."""
    if not isinstance(tp, dict):
        return Validation()
    keys = (
        "outlierDetection",
        "connectionPool",
        "loadBalancer",
        "tls",
        "portLevelSettings",
        "tunnel",
        "proxyProtocol",
    )
    if not any(tp.get(k) is not None for k in keys):
        return Validation("traffic policy must have at least one field")
    if tp.get("tunnel") is not None and tp.get("proxyProtocol") is not None:
        return Validation("tunnel and proxyProtocol must not be set together")
    v = validate_outlier_detection(tp.get("outlierDetection"))
    v.add(validate_connection_pool(tp.get("connectionPool")), validate_load_balancer(tp.get("loadBalancer")))
    v.add(validate_tls(get_msg(tp, "tls")))
    perrs: Err = None
    for pl in get_list(tp, "portLevelSettings"):
        if not isinstance(pl, dict):
            perrs = append_errors(perrs, "traffic policy may not be null")
            continue
        if get_msg(pl, "port") is None:
            perrs = append_errors(perrs, "portTrafficPolicy must have valid port")
        if all(pl.get(k) is None for k in ("outlierDetection", "connectionPool", "loadBalancer", "tls")):
            perrs = append_errors(perrs, "port traffic policy must have at least one field")
        else:
            perrs = append_errors(
                perrs,
                validate_outlier_detection(pl.get("outlierDetection")).err,
                validate_connection_pool(pl.get("connectionPool")),
                validate_load_balancer(pl.get("loadBalancer")).err,
                validate_tls(get_msg(pl, "tls")),
            )
    v.add(perrs)
    tunnel = get_msg(tp, "tunnel")
    if tunnel is not None:
        terrs: Err = None
        if get_str(tunnel, "protocol") not in ("", "CONNECT", "POST"):
            terrs = append_errors(terrs, 'tunnel protocol must be "CONNECT" or "POST"')
        target = get_str(tunnel, "targetHost")
        fq, ip_ok = validate_fqdn(target), is_ip_address(target)
        if fq and not ip_ok:
            terrs = append_errors(
                terrs,
                f"tunnel target host must be valid FQDN or IP address: {fq}; {target} is not a valid IP",
            )
        perr = validate_port(get_int(tunnel, "targetPort"))
        if perr:
            terrs = append_errors(terrs, f"tunnel target port is invalid: {perr}")
        v.add(terrs)
    return v


def validate_outlier_detection(od: Any) -> Validation:
    """``validateOutlierDetection``: durations, deprecated fields and percentages."""
    v = Validation()
    if not isinstance(od, dict):
        return v
    if "baseEjectionTime" in od:
        v.add(validate_duration(od["baseEjectionTime"]))
    if get_int(od, "consecutiveErrors") != 0:
        v.warning(
            "outlier detection consecutive errors is deprecated, use consecutiveGatewayErrors or "
            "consecutive5xxErrors instead"
        )
    if (
        od.get("splitExternalLocalOriginErrors") is not True
        and get_int(od, "consecutiveLocalOriginFailures") > 0
    ):
        v.add(
            "outlier detection consecutive local origin failures is specified, but split external local "
            "origin "
            "errors is set to false"
        )
    if "interval" in od:
        v.add(validate_duration(od["interval"]))
    for key in ("maxEjectionPercent", "minHealthPercent"):
        val = get_int(od, key)
        if val < 0 or val > 100:
            v.add(f"percentage {val} is not in range 0..100")
    return v


def validate_connection_pool(cp: Any) -> Err:
    """``validateConnectionPool``: at least one of ``http``/``tcp``, non-negative limits, durations."""
    if not isinstance(cp, dict):
        return None
    http, tcp = get_msg(cp, "http"), get_msg(cp, "tcp")
    if http is None and tcp is None:
        return "connection pool must have at least one field"
    errs: Err = None
    if http is not None:
        for key, text in (
            ("http1MaxPendingRequests", "http1 max pending requests must be non-negative"),
            ("http2MaxRequests", "http2 max requests must be non-negative"),
            ("maxRequestsPerConnection", "max requests per connection must be non-negative"),
            ("maxRetries", "max retries must be non-negative"),
        ):
            if get_int(http, key) < 0:
                errs = append_errors(errs, text)
        if "idleTimeout" in http:
            errs = append_errors(errs, validate_duration(http["idleTimeout"]))
        if get_str(http, "h2UpgradePolicy") == "UPGRADE" and http.get("useClientProtocol") is True:
            errs = append_errors(errs, "use client protocol must not be true when H2UpgradePolicy is UPGRADE")
        if get_int(http, "maxConcurrentStreams") < 0:
            errs = append_errors(errs, "max concurrent streams must be non-negative")
    if tcp is not None:
        if get_int(tcp, "maxConnections") < 0:
            errs = append_errors(errs, "max connections must be non-negative")
        for key in ("connectTimeout", "maxConnectionDuration", "idleTimeout"):
            if key in tcp:
                errs = append_errors(errs, validate_duration(tcp[key]))
    return errs


def validate_load_balancer(lb: Any) -> Validation:
    """``validateLoadBalancer``: a consistent-hash cookie needs a name; warmup is a duration."""
    v = Validation()
    if not isinstance(lb, dict):
        return v
    ch = get_msg(lb, "consistentHash")
    if ch is not None:
        cookie = get_msg(ch, "httpCookie")
        if cookie is not None and not get_str(cookie, "name"):
            v.add("name required for HttpCookie")
    if "warmupDurationSecs" in lb:
        v.add(validate_duration(lb["warmupDurationSecs"]))
    return v
