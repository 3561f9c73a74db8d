"""Ports of ``pkg/config/validation/agent/validation.go``: hosts, ports, durations, client TLS.

Istio keeps the checks shared by every kind (and by the mesh config) in the ``agent`` package;
each function here is named after the Go function it ports.

Rule: no I/O here.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from gatewaykit._gofmt import quote
from gatewaykit.resources.schema import duration_seconds
from gatewaykit.resources.validation._proto import get_str
from gatewaykit.resources.validation.labels import is_dns1123_label, is_wildcard_dns1123_label
from gatewaykit.resources.validation.multierror import Err, append_errors

__all__ = [
    "check_dns1123_preconditions",
    "is_ip_address",
    "validate_dns1123_labels",
    "validate_duration",
    "validate_fqdn",
    "validate_ip_subnet",
    "validate_namespace_slash_wildcard_hostname",
    "validate_partial_wildcard",
    "validate_port",
    "validate_sidecar_or_gateway_hostname_part",
    "validate_tls",
    "validate_wildcard_domain",
    "validate_wildcard_domain_for_virtual_service_bound_to_gateway",
]


def is_ip_address(v: str) -> bool:
    """``netutil.IsValidIPAddress`` (pkg/util/net): ``netip.ParseAddr`` succeeds."""
    try:
        ipaddress.ip_address(v)
        return True
    except ValueError:
        return False


def validate_port(port: int) -> str | None:
    """``ValidatePort``: 1..65535."""
    if 1 <= port <= 65535:
        return None
    return f"port number {port} must be in the range 1..65535"


def check_dns1123_preconditions(name: str) -> str | None:
    """``CheckDNS1123Preconditions``: not empty, at most 255 characters."""
    if len(name) > 255:
        return f"domain name {quote(name)} too long (max 255)"
    if not name:
        return "empty domain name not allowed"
    return None


def validate_dns1123_labels(domain: str) -> str | None:
    """``ValidateDNS1123Labels``: every label a DNS label, the top-level one not all digits."""
    parts = domain.split(".")
    tld = parts[-1]
    if re.fullmatch(r"[+-]?\d+", tld):
        return f"domain name {quote(domain)} invalid (top level domain {quote(tld)} cannot be all-numeric)"
    for i, label in enumerate(parts):
        if i == len(parts) - 1 and label == "":
            return None  # `istio.io.` is allowed
        if not is_dns1123_label(label):
            return f"domain name {quote(domain)} invalid (label {quote(label)} invalid)"
    return None


def validate_fqdn(fqdn: str) -> str | None:
    """``ValidateFQDN``."""
    return check_dns1123_preconditions(fqdn) or validate_dns1123_labels(fqdn)


def validate_wildcard_domain(domain: str) -> str | None:
    """``ValidateWildcardDomain``: an FQDN with a wildcard allowed only in the first label."""
    pre = check_dns1123_preconditions(domain)
    if pre:
        return pre
    parts = domain.split(".", 1)
    if not is_wildcard_dns1123_label(parts[0]):
        return f"domain name {quote(domain)} invalid (label {quote(parts[0])} invalid)"
    if len(parts) > 1:
        return validate_dns1123_labels(parts[1])
    return None


def validate_wildcard_domain_for_virtual_service_bound_to_gateway(sni: bool, domain: str) -> str | None:
    """``ValidateWildcardDomainForVirtualServiceBoundToGateway``: also ``outbound_.<port>_._.<host>`` SNIs."""
    pre = check_dns1123_preconditions(domain)
    if pre:
        return pre
    parts = domain.split(".", 1)
    if sni and parts[0] == "outbound_":
        if not re.search(r"outbound_.([0-8].*).*", domain):
            return f"domain name {quote(domain)} invalid (label {quote(parts[0])} invalid)"
    elif not is_wildcard_dns1123_label(parts[0]):
        return f"domain name {quote(domain)} invalid (label {quote(parts[0])} invalid)"
    elif len(parts) > 1:
        return validate_dns1123_labels(parts[1])
    return None


def validate_partial_wildcard(host: str) -> str | None:
    """``ValidatePartialWildCard``: ``*`` alone or as a ``*.`` prefix only."""
    if "*" in host and len(host) != 1 and not host.startswith("*."):
        return f"partial wildcard {quote(host)} not allowed"
    return None


def validate_sidecar_or_gateway_hostname_part(hostname: str, is_gateway: bool) -> Err:
    """``validateSidecarOrGatewayHostnamePart``."""
    errs: Err = None
    if hostname != "*" and "." not in hostname:
        errs = append_errors(errs, "short names (non FQDN) are not allowed")
    err = validate_wildcard_domain(hostname)
    if err:
        if not is_gateway:
            errs = append_errors(errs, err)
        if not is_ip_address(hostname):  # a Gateway accepts an IP address as host
            errs = append_errors(errs, err)
    return append_errors(errs, validate_partial_wildcard(hostname))


def validate_namespace_slash_wildcard_hostname(hostname: str, is_gateway: bool) -> Err:
    """``ValidateNamespaceSlashWildcardHostname``: ``namespace/dnsName`` (a Gateway allows a bare host)."""
    parts = hostname.split("/", 1)
    if len(parts) != 2:
        if is_gateway:
            return validate_sidecar_or_gateway_hostname_part(hostname, True)
        return "host must be of form namespace/dnsName"
    errs: Err = None
    if not parts[0] or not parts[1]:
        errs = append_errors(errs, "config namespace and dnsName in host entry cannot be empty")
    if parts[0] not in ("*", ".") and not is_dns1123_label(parts[0]):
        errs = append_errors(errs, f"invalid namespace value {quote(parts[0])} in gateway")
    return append_errors(errs, validate_sidecar_or_gateway_hostname_part(parts[1], is_gateway))


def validate_ip_subnet(subnet: str) -> str | None:
    """``ValidateIPSubnet``: a CIDR block or a single IP address."""
    if subnet.count("/") == 1:
        try:
            ipaddress.ip_network(subnet, strict=True)
        except ValueError:
            return f"{subnet} is not a valid CIDR block"
        return None
    return None if is_ip_address(subnet) else f"{subnet} is not a valid IP"


def validate_duration(d: Any) -> str | None:
    """``ValidateDuration``: at least 1ms, millisecond precision (the CRD rejects most bad values)."""
    secs = duration_seconds(d) if isinstance(d, str) else None
    if secs is None:
        return None
    if secs < 0.001:
        return "duration must be greater than 1ms"
    if round(secs * 1e9) % 1_000_000:
        return "only durations to ms precision are supported"
    return None


def validate_tls(tls: dict[str, Any] | None) -> Err:
    """``ValidateTLS``: a DestinationRule's client ``ClientTLSSettings``."""
    if tls is None:
        return None
    errs: Err = None
    mode = get_str(tls, "mode") or "DISABLE"
    if tls.get("insecureSkipVerify") is True:
        if mode == "SIMPLE" and (
            get_str(tls, "caCertificates") or get_str(tls, "credentialName") or "subjectAltNames" in tls
        ):
            errs = append_errors(
                errs,
                "cannot specify CaCertificates or CredentialName or SubjectAltNames when InsecureSkipVerify "
                "is set true",
            )
        if mode == "MUTUAL" and (get_str(tls, "caCertificates") or "subjectAltNames" in tls):
            errs = append_errors(
                errs, "cannot specify CaCertificates or SubjectAltNames when InsecureSkipVerify is set true"
            )
    if mode in ("SIMPLE", "MUTUAL") and get_str(tls, "credentialName"):
        if (
            get_str(tls, "clientCertificate")
            or get_str(tls, "caCertificates")
            or get_str(tls, "privateKey")
            or get_str(tls, "caCrl")
        ):
            errs = append_errors(
                errs,
                "cannot specify client certificates or CA certificate or CA CRL If credentialName is set",
            )
        return errs
    if mode == "MUTUAL":
        if not get_str(tls, "clientCertificate"):
            errs = append_errors(errs, "client certificate required for mutual tls")
        if not get_str(tls, "privateKey"):
            errs = append_errors(errs, "private key required for mutual tls")
    return errs
