"""``ValidateServiceEntry`` and ``validateWorkloadEntry`` (``pkg/config/validation/validation.go``).

Go's one long function is cut here along its own sections: the selector, hosts and addresses,
the ports, a ``switch`` on ``resolution`` (a table of one checker per mode below), the
many-hosts-on-TCP rule and ``exportTo`` -- appended in the same order (docs/behaviour.md §14.3).

Note: the resolution rules here (``DYNAMIC_DNS``, the DNS hosts message with the domain error)
follow Istio's main branch, which is newer than 1.27.1's ``ValidateServiceEntry``.

Rule: no I/O here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gatewaykit._gofmt import quote
from gatewaykit.resources import protocol
from gatewaykit.resources.validation._proto import Config, get_int, get_list, get_map, get_msg, get_str
from gatewaykit.resources.validation.agent import (
    is_ip_address,
    validate_fqdn,
    validate_ip_subnet,
    validate_partial_wildcard,
    validate_port,
    validate_wildcard_domain,
)
from gatewaykit.resources.validation.common import (
    validate_export_to,
    validate_selector_labels,
    validate_unix_address,
)
from gatewaykit.resources.validation.labels import is_dns1123_label, validate_labels
from gatewaykit.resources.validation.multierror import Validation

__all__ = ["RESOLUTION_CHECKS", "validate_service_entry", "validate_workload_entry"]


def validate_service_entry(cfg: Config) -> Validation:
    """``ValidateServiceEntry``: selector, hosts, addresses, ports, resolution, hosts on TCP, exportTo."""
    spec = cfg.spec
    selector = get_msg(spec, "workloadSelector")
    v = validate_alpha_workload_selector(selector)
    if v.err is not None:
        return Validation(v.err)  # Go returns the selector's error alone
    if selector is not None and "endpoints" in spec and spec["endpoints"] is not None:
        v.add("only one of WorkloadSelector or Endpoints is allowed in Service Entry")
    se = _ServiceEntry(spec)
    _validate_hosts_and_addresses(v, se)
    port_names = _validate_ports(v, se)
    check = RESOLUTION_CHECKS.get(se.resolution)
    if check is None:
        v.add(f"unsupported resolution type {se.resolution}")
    else:
        check(v, se, port_names)
    # Plain TCP cannot tell hosts apart, unless resolution is NONE (hosts are ignored then).
    if se.resolution != "NONE" and len(se.hosts) > 1:
        for port in se.ports:
            if not isinstance(port, dict):
                v.add("ports cannot be nil")
                continue
            p = protocol.parse(port.get("protocol", ""))
            if not protocol.is_http(p) and not protocol.is_tls(p):
                v.add("multiple hosts provided with non-HTTP, non-TLS ports")
                break
    return v.add(validate_export_to(cfg.namespace, get_list(spec, "exportTo"), True, False))


class _ServiceEntry:
    """The fields of a ServiceEntry spec every section reads, with Go's zero values."""

    __slots__ = ("addresses", "endpoints", "hosts", "ports", "resolution", "selector")

    def __init__(self, spec: dict[str, Any]) -> None:
        self.selector = get_msg(spec, "workloadSelector")
        self.hosts = [str(h) for h in get_list(spec, "hosts")]
        self.addresses = [str(a) for a in get_list(spec, "addresses")]
        self.ports = get_list(spec, "ports")
        self.endpoints = get_list(spec, "endpoints")
        self.resolution = get_str(spec, "resolution") or "NONE"  # the enum's zero value


def validate_alpha_workload_selector(selector: dict[str, Any] | None) -> Validation:
    """``ValidateAlphaWorkloadSelector`` with the ServiceEntry's wording of its warning."""
    v = Validation()
    if selector is None:
        return v
    labels = get_map(selector, "labels")
    v.add(validate_selector_labels(labels))
    if v.err is None and not labels:
        v.warning(
            "service entry: workload selector specified without labels, will be applied to all services "
            "in namespace"
        )
    return v


def _validate_hosts_and_addresses(v: Validation, se: _ServiceEntry) -> None:
    if not se.hosts:
        v.add("service entry must have at least one host")
    for h in se.hosts:
        if h == "*":  # a full wildcard is not allowed in a ServiceEntry
            v.add(f"invalid host {h}")
        else:
            v.add(validate_wildcard_domain(h))
            if se.resolution != "DYNAMIC_DNS":
                v.warning(validate_partial_wildcard(h))
    cidr = False
    for a in se.addresses:
        cidr = cidr or "/" in a
        v.add(validate_ip_subnet(a))
    if cidr and se.resolution not in ("NONE", "STATIC"):
        v.add("CIDR addresses are allowed only for NONE/STATIC resolution types")


def _validate_ports(v: Validation, se: _ServiceEntry) -> set[str]:
    """The ``ports`` loop; returns the port names (``servicePorts``) the endpoints must use."""
    port_names: set[str] = set()
    port_numbers: set[int] = set()
    for port in se.ports:
        if not isinstance(port, dict):
            v.add("service entry port may not be null")
            continue
        name, number = get_str(port, "name"), get_int(port, "number")
        if name in port_names:
            v.add(f"service entry port name {quote(name)} already defined")
        port_names.add(name)
        if number in port_numbers:
            v.add(f"service entry port {number} already defined")
        port_numbers.add(number)
        if get_int(port, "targetPort") != 0:
            v.add(validate_port(get_int(port, "targetPort")))
            if se.resolution == "NONE":
                v.warning("targetPort has no effect when resolution mode is NONE")
        if not se.addresses and get_str(port, "protocol") in ("", "TCP"):
            v.warning(
                "addresses are required for ports serving TCP (or unset) protocol when IP Autoallocation is "
                "not enabled"
            )
        proto = get_str(port, "protocol")
        v.add(
            _validate_port_name(name),
            f"unsupported protocol: {proto}"  # ValidateProtocol
            if proto and protocol.parse(proto) == protocol.UNSUPPORTED
            else None,
            validate_port(number),
        )
    return port_names


def _validate_port_name(name: str) -> str | None:
    """``ValidatePortName``: a DNS label."""
    return None if is_dns1123_label(name) else f"invalid port name: {name}"


# ------------------------------------------------------------------------- switch resolution


def _resolution_none(v: Validation, se: _ServiceEntry, port_names: set[str]) -> None:
    if se.endpoints:
        v.add("no endpoints should be provided for resolution type none")
    if se.selector is not None:
        v.warning("workloadSelector should not be set when resolution mode is NONE")


def _resolution_static(v: Validation, se: _ServiceEntry, port_names: set[str]) -> None:
    for ep in se.endpoints:
        if not isinstance(ep, dict):
            v.add("endpoint cannot be nil")
            continue
        v.add(validate_workload_entry(ep, port_names))


def _resolution_dns(v: Validation, se: _ServiceEntry, port_names: set[str]) -> None:
    resolution = se.resolution
    if not se.endpoints:
        for h in se.hosts:
            err = validate_fqdn(h)
            if err:
                v.add(
                    "hosts must be FQDN or contain only prefix wildcards if no endpoints are provided for "
                    f"resolution mode {resolution}, {err}"
                )
    if resolution == "DNS_ROUND_ROBIN" and len(se.endpoints) > 1:
        v.add(f"there must only be 0 or 1 endpoint for resolution mode {resolution}")
    for ep in se.endpoints:
        if not isinstance(ep, dict):
            v.add("endpoint cannot be nil")
            continue
        addr = get_str(ep, "address")
        if not is_ip_address(addr) and validate_fqdn(addr):
            v.add(f"endpoint address {quote(addr)} is not a valid FQDN or an IP address")
        v.add(validate_labels(get_map(ep, "labels")))
        for pname, pnum in get_map(ep, "ports").items():
            if pname not in port_names:
                v.add(f"endpoint port {pnum} is not defined by the service entry")
            v.add(_validate_port_name(pname), validate_port(pnum if isinstance(pnum, int) else 0))
    if se.selector is not None:
        v.warning(f"workloadSelector should not be set when resolution mode is {resolution}")
    if se.addresses:
        for port in se.ports:
            if isinstance(port, dict) and protocol.is_tcp(protocol.parse(port.get("protocol", ""))):
                if len(se.hosts) > 1:
                    v.warning(
                        "service entry can not have more than one host specified simultaneously with address "
                        "and tcp port"
                    )
                break


def _resolution_dynamic_dns(v: Validation, se: _ServiceEntry, port_names: set[str]) -> None:
    for h in se.hosts:
        if not h.startswith("*"):
            v.add(f"host must be wildcarded for resolution mode {se.resolution}")
    for port in se.ports:
        if protocol.parse(get_str(port, "protocol")) not in ("HTTP", "TLS", "GRPC", "HTTP2"):
            v.add(
                f"only HTTP, TLS, GRPC, and HTTP2 protocols are supported for resolution type {se.resolution}"
            )
            break


#: ``switch serviceEntry.Resolution``: the checks of each mode (any other value is unsupported).
RESOLUTION_CHECKS: dict[str, Callable[[Validation, _ServiceEntry, set[str]], None]] = {
    "NONE": _resolution_none,
    "STATIC": _resolution_static,
    "DNS": _resolution_dns,
    "DNS_ROUND_ROBIN": _resolution_dns,
    "DYNAMIC_DNS": _resolution_dynamic_dns,
}


def validate_workload_entry(ep: dict[str, Any], service_ports: set[str]) -> Validation:
    """``validateWorkloadEntry``: an IP (or unix) address, declared ports, valid labels."""
    v = Validation()
    addr = get_str(ep, "address")
    if not addr:
        if not get_str(ep, "network"):
            return Validation("address is required")
        v.warning(f"address is unset with network {quote(get_str(ep, 'network'))}")
    unix = addr.startswith("unix://")
    if unix:
        v.add(validate_unix_address(addr[len("unix://") :]))
        if get_map(ep, "ports"):
            v.add(f"unix endpoint {addr} must not include ports")
    elif addr and not is_ip_address(addr):
        v.add(f"endpoint address {quote(addr)} is not a valid IP address")
    for name, port in get_map(ep, "ports").items():
        if name not in service_ports:
            v.add(f"endpoint port {port} is not defined by the service entry")
        v.add(_validate_port_name(name), validate_port(port if isinstance(port, int) else 0))
    v.add(validate_labels(get_map(ep, "labels")))
    if unix and len(service_ports) != 1:
        v.add("exactly 1 service port required for unix endpoints")
    return v
