"""Validation equal to Istio's: the API server layer (schema) and the validating webhook.

A manifest goes through the same three gates as with ``kubectl apply`` against Istio (§14.0):

1. strict decoding by the API server (unknown fields, Secret base64) -- :mod:`.schema`;
2. the CRD structural schema and CEL rules -- :mod:`.schema`;
3. Istio's validating webhook ``validation.istio.io`` -- this module, a transcription of
   ``pkg/config/validation/validation.go``, ``virtualservice.go`` and ``agent/validation.go``
   ([I-VAL], [I-VALVS], [I-VALAG]) keeping the *order* of checks and the exact message texts.

Go's error accumulation is reproduced too, because it decides what kubectl shows: Istio appends
with ``multierror.Append``; one error renders bare, several (or one appended to a ``nil``
multierror) render in go-multierror's list format (``2 errors occurred:\\n\\t* a\\n\\t* b\\n\\n``).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gatewaykit.resources.meta import Manifest, kind_info
from gatewaykit.resources.schema import FieldError, check_schema, duration_seconds

__all__ = ["FieldError", "Report", "multierror_text", "validate", "validate_webhook"]


def _asdict(value: Any) -> dict[str, Any]:
    """``value`` if it is a mapping, else an empty dict."""
    return value if isinstance(value, dict) else {}


def _asstr(value: Any) -> str:
    """``value`` if it is a string, else ""."""
    return value if isinstance(value, str) else ""


# ----------------------------------------------------------------------------------------------
# The report
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Report:
    """The outcome of validating one object.

    Attributes:
        errors: the webhook's error messages, bare (``gateway must have at least one server``).
        warnings: the webhook's warnings (kubectl prints ``Warning: <text>``).
        schema_errors: API-server (CRD schema / CEL / core validation) errors.
        unknown_fields: paths rejected by the API server's strict decoding.
        decode_error: another decoding failure (Secret ``illegal base64 data at input byte 4``).
        multierror: True when Istio's error is a go-multierror even with a single entry.
    """

    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    schema_errors: tuple[FieldError, ...] = ()
    unknown_fields: tuple[str, ...] = ()
    decode_error: str = ""
    multierror: bool = False

    @property
    def ok(self) -> bool:
        """True when the object would be admitted (warnings allowed)."""
        return not (self.errors or self.schema_errors or self.unknown_fields or self.decode_error)

    @property
    def webhook_message(self) -> str:
        """The webhook's error text after ``configuration is invalid: ``."""
        if not self.errors:
            return ""
        if len(self.errors) == 1 and not self.multierror:
            return self.errors[0]
        return multierror_text(self.errors)


def multierror_text(errors: tuple[str, ...] | list[str]) -> str:
    """hashicorp/go-multierror ``ListFormatFunc``."""
    if len(errors) == 1:
        return f"1 error occurred:\n\t* {errors[0]}\n\n"
    points = "\n\t".join(f"* {e}" for e in errors)
    return f"{len(errors)} errors occurred:\n\t{points}\n\n"


# ----------------------------------------------------------------------------------------------
# Go error accumulation: an error is None, a str, or a _Multi (a *multierror.Error).
# ----------------------------------------------------------------------------------------------
class _Multi(list):  # type: ignore[type-arg]
    """A go-multierror value: renders as a list even with one entry."""


Err = Any  # None | str | _Multi


def _append(err: Err, *more: Err) -> Err:
    """``agent.AppendErrors``: nil-preserving ``multierror.Append`` (flattens multierrors)."""
    for e in more:
        if isinstance(e, _V):
            e = e.err
        if e is None:
            continue
        if err is None:
            err = e
            continue
        merged = _Multi(err) if isinstance(err, _Multi) else _Multi([err])
        if isinstance(e, _Multi):
            merged.extend(e)
        else:
            merged.append(e)
        err = merged
    return err


def _mappend(err: Err, e: str) -> _Multi:
    """A bare ``multierror.Append(errs, e)``: always a multierror, even from nil."""
    merged = _Multi(err) if isinstance(err, _Multi) else _Multi([] if err is None else [err])
    merged.append(e)
    return merged


class _V:
    """``agent.Validation``: an error and a warning, appended with ``AppendValidation``."""

    __slots__ = ("err", "warn")

    def __init__(self, err: Err = None, warn: Err = None) -> None:
        self.err = err
        self.warn = warn

    def add(self, *items: Any) -> _V:
        """Append errors (str/_Multi/None) or other Validations, in order."""
        for item in items:
            if isinstance(item, _V):
                self.err = _append(self.err, item.err)
                self.warn = _append(self.warn, item.warn)
            else:
                self.err = _append(self.err, item)
        return self

    def warning(self, w: Err) -> _V:
        """Append a warning (``WrapWarning``)."""
        self.warn = _append(self.warn, w)
        return self


def _flat(err: Err) -> list[str]:
    if err is None:
        return []
    if isinstance(err, _Multi):
        return [str(e) for e in err]
    return [str(err)]


# ----------------------------------------------------------------------------------------------
# Small Go helpers
# ----------------------------------------------------------------------------------------------
def goq(s: Any) -> str:
    """Go's ``%q`` for a string."""
    s = str(s)
    out = ['"']
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _gofloat(x: Any) -> str:
    """Go's ``%f``."""
    try:
        return f"{float(x):f}"
    except (TypeError, ValueError):
        return str(x)


def _num(value: Any) -> float:
    """A proto double: numbers only (anything else reads as 0)."""
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def _golist(items: list[str]) -> str:
    """Go's ``%v`` of a string slice."""
    return "[" + " ".join(items) + "]"


def _s(d: Any, key: str) -> str:
    """A string field of a proto (missing/null -> "")."""
    if not isinstance(d, dict):
        return ""
    v = d.get(key)
    return v if isinstance(v, str) else ("" if v is None else str(v))


def _i(d: Any, key: str) -> int:
    """An integer field of a proto (missing -> 0)."""
    if not isinstance(d, dict):
        return 0
    v = d.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def _l(d: Any, key: str) -> list[Any]:
    """A repeated field (missing -> [])."""
    if not isinstance(d, dict):
        return []
    v = d.get(key)
    return v if isinstance(v, list) else []


def _m(d: Any, key: str) -> dict[str, Any]:
    """A map field (missing -> {})."""
    if not isinstance(d, dict):
        return {}
    v = d.get(key)
    return v if isinstance(v, dict) else {}


def _o(d: Any, key: str) -> dict[str, Any] | None:
    """A message field: None when absent (Go nil)."""
    if not isinstance(d, dict):
        return None
    v = d.get(key)
    return v if isinstance(v, dict) else None


# labels.go ([I-VAL] pkg/config/labels): Istio accepts upper case in host labels.
_DNS1123_LABEL_FMT = r"[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?"
_DNS1123_LABEL = re.compile(f"^{_DNS1123_LABEL_FMT}$")
_WILDCARD_LABEL = re.compile(rf"^(\*|(\*|\*-)?{_DNS1123_LABEL_FMT})$")
_QUALIFIED_NAME = r"(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_TAG_KEY = re.compile(rf"^({_DNS1123_LABEL_FMT}(?:\.{_DNS1123_LABEL_FMT})*/)?({_QUALIFIED_NAME})$")
_LABEL_VALUE = re.compile(rf"^({_QUALIFIED_NAME})?$")
_HEADER_NAME = re.compile(r"^[-_A-Za-z0-9]+$")


def is_dns1123_label(v: str) -> bool:
    """``labels.IsDNS1123Label``."""
    return len(v) <= 63 and bool(_DNS1123_LABEL.match(v))


def _is_wildcard_label(v: str) -> bool:
    return len(v) <= 63 and bool(_WILDCARD_LABEL.match(v))


def is_ip(v: str) -> bool:
    """``netutil.IsValidIPAddress`` / ``netip.ParseAddr``."""
    try:
        ipaddress.ip_address(v)
        return True
    except ValueError:
        return False


def validate_port(port: int) -> str | None:
    """``agent.ValidatePort``."""
    if 1 <= port <= 65535:
        return None
    return f"port number {port} must be in the range 1..65535"


def _dns_preconditions(name: str) -> str | None:
    if len(name) > 255:
        return f"domain name {goq(name)} too long (max 255)"
    if not name:
        return "empty domain name not allowed"
    return None


def _dns_labels(domain: str) -> str | None:
    parts = domain.split(".")
    tld = parts[-1]
    if re.fullmatch(r"[+-]?\d+", tld):
        return f"domain name {goq(domain)} invalid (top level domain {goq(tld)} cannot be all-numeric)"
    for i, label in enumerate(parts):
        if i == len(parts) - 1 and label == "":
            return None  # `istio.io.` is allowed
        if not is_dns1123_label(label):
            return f"domain name {goq(domain)} invalid (label {goq(label)} invalid)"
    return None


def validate_fqdn(fqdn: str) -> str | None:
    """``agent.ValidateFQDN``."""
    return _dns_preconditions(fqdn) or _dns_labels(fqdn)


def validate_wildcard_domain(domain: str) -> str | None:
    """``agent.ValidateWildcardDomain``: FQDN, wildcards only in the first label."""
    pre = _dns_preconditions(domain)
    if pre:
        return pre
    parts = domain.split(".", 1)
    if not _is_wildcard_label(parts[0]):
        return f"domain name {goq(domain)} invalid (label {goq(parts[0])} invalid)"
    if len(parts) > 1:
        return _dns_labels(parts[1])
    return None


def _wildcard_domain_for_gateway_vs(sni: bool, domain: str) -> str | None:
    """``agent.ValidateWildcardDomainForVirtualServiceBoundToGateway``."""
    pre = _dns_preconditions(domain)
    if pre:
        return pre
    parts = domain.split(".", 1)
    if sni and parts[0] == "outbound_":
        if not re.search(r"outbound_.([0-8].*).*", domain):
            return f"domain name {goq(domain)} invalid (label {goq(parts[0])} invalid)"
    elif not _is_wildcard_label(parts[0]):
        return f"domain name {goq(domain)} invalid (label {goq(parts[0])} invalid)"
    elif len(parts) > 1:
        return _dns_labels(parts[1])
    return None


def _partial_wildcard(host: str) -> str | None:
    if "*" in host and len(host) != 1 and not host.startswith("*."):
        return f"partial wildcard {goq(host)} not allowed"
    return None


def _gateway_hostname_part(hostname: str, is_gateway: bool) -> Err:
    """``validateSidecarOrGatewayHostnamePart``."""
    errs: Err = None
    if hostname != "*" and "." not in hostname:
        errs = _append(errs, "short names (non FQDN) are not allowed")
    err = validate_wildcard_domain(hostname)
    if err:
        if not is_gateway:
            errs = _append(errs, err)
        if not is_ip(hostname):  # a Gateway accepts an IP address as host
            errs = _append(errs, err)
    return _append(errs, _partial_wildcard(hostname))


def _namespace_slash_hostname(hostname: str, is_gateway: bool) -> Err:
    """``agent.ValidateNamespaceSlashWildcardHostname``."""
    parts = hostname.split("/", 1)
    if len(parts) != 2:
        if is_gateway:
            return _gateway_hostname_part(hostname, True)
        return "host must be of form namespace/dnsName"
    errs: Err = None
    if not parts[0] or not parts[1]:
        errs = _append(errs, "config namespace and dnsName in host entry cannot be empty")
    if parts[0] not in ("*", ".") and not is_dns1123_label(parts[0]):
        errs = _append(errs, f"invalid namespace value {goq(parts[0])} in gateway")
    return _append(errs, _gateway_hostname_part(parts[1], is_gateway))


# pkg/config/protocol: Parse is case-insensitive; anything else is Unsupported.
_PROTOCOLS = {
    "TCP": "TCP", "UDP": "UDP", "GRPC": "GRPC", "GRPC-WEB": "GRPC-Web", "HTTP": "HTTP",
    "HTTP_PROXY": "HTTP_PROXY", "HTTP2": "HTTP2", "HTTPS": "HTTPS", "TLS": "TLS",
    "MONGO": "Mongo", "REDIS": "Redis", "MYSQL": "MySQL",
}  # fmt: skip


def parse_protocol(p: Any) -> str:
    """``protocol.Parse``: the canonical name or ``UnsupportedProtocol``."""
    return (
        _PROTOCOLS.get(str(p).upper(), "UnsupportedProtocol") if isinstance(p, str) else "UnsupportedProtocol"
    )


def is_http(p: str) -> bool:
    """``Instance.IsHTTP``."""
    return p in ("HTTP", "HTTP2", "HTTP_PROXY", "GRPC", "GRPC-Web")


def is_tls(p: str) -> bool:
    """``Instance.IsTLS``."""
    return p in ("HTTPS", "TLS")


def _is_tcp(p: str) -> bool:
    return p in ("TCP", "HTTPS", "TLS", "Mongo", "Redis", "MySQL")


def _proto_text(port: dict[str, Any]) -> str:
    """A protobuf message printed with ``%v`` (text format, zero fields omitted)."""
    parts = []
    for key, name in (
        ("number", "number"),
        ("protocol", "protocol"),
        ("name", "name"),
        ("targetPort", "target_port"),
    ):
        v = port.get(key)
        if v in (None, "", 0):
            continue
        parts.append(f"{name}:{goq(v) if isinstance(v, str) else v}")
    return " ".join(parts)


def _labels_validate(labels: dict[str, Any]) -> Err:
    """``labels.Instance.Validate`` (uses ``multierror.Append``)."""
    errs: Err = None
    for k, v in labels.items():
        m = _TAG_KEY.match(str(k))
        if not m or (m.group(1) and len(m.group(1)) - 1 > 253) or len(m.group(2) or "") > 63:
            errs = _mappend(errs, f"invalid tag key: {goq(k)}")
        if not _LABEL_VALUE.match("" if v is None else str(v)) or len(str(v or "")) > 63:
            errs = _mappend(errs, f"invalid tag value: {goq(v)}")
    return errs


def _validate_export_to(
    namespace: str, export_to: list[Any], is_service_entry: bool, dr_selector: bool
) -> Err:
    """``validateExportTo``."""
    errs: Err = None
    if not export_to:
        return None
    seen: list[str] = []
    for e in export_to:
        e = str(e)
        key = namespace if e == "." else e
        if key in seen:
            if key != e:
                errs = _append(errs, f"duplicate entries in exportTo: . and current namespace {namespace}")
            else:
                errs = _append(errs, f"duplicate entries in exportTo for entry {e}")
            continue
        if is_service_entry and e == "~":
            seen.append(key)
            continue
        if key in (".", "*"):
            seen.append(key)
        elif key == "~":
            errs = _append(errs, "exportTo ~ (none) is not allowed for Istio configuration objects")
        elif not is_dns1123_label(key):
            errs = _append(errs, "only .,*, or a valid DNS 1123 label is allowed as exportTo entry")
        else:
            seen.append(key)
    if dr_selector and seen:
        if namespace in seen:
            if len(seen) > 1:
                errs = _append(
                    errs, "destination rule with workload selector cannot have multiple entries in exportTo"
                )
        else:
            errs = _append(
                errs, "destination rule with workload selector cannot have exportTo beyond current namespace"
            )
    if "*" in seen and len(export_to) > 1:
        errs = _append(errs, "cannot have both public (*) and non-public exportTo values for a resource")
    if "~" in seen and len(export_to) > 1:
        errs = _append(errs, "cannot export service entry to no one (~) and someone")
    return errs


def _validate_duration(d: Any) -> str | None:
    """``agent.ValidateDuration`` (the CRD already rejects most bad values)."""
    secs = duration_seconds(d) if isinstance(d, str) else None
    if secs is None:
        return None
    if secs < 0.001:
        return "duration must be greater than 1ms"
    if round(secs * 1e9) % 1_000_000:
        return "only durations to ms precision are supported"
    return None


# ----------------------------------------------------------------------------------------------
# Gateway ([I-VAL] ValidateGateway, validateServer, validateServerPort, validateServerBind,
# validateTLSOptions) -- §14.1
# ----------------------------------------------------------------------------------------------
# pkg/config/security IsValidCipherSuite: the suites Envoy's BoringSSL accepts.
_VALID_CIPHERS = frozenset(
    {
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
        "ECDHE-PSK-CHACHA20-POLY1305",
        "ECDHE-ECDSA-AES128-SHA",
        "ECDHE-RSA-AES128-SHA",
        "ECDHE-PSK-AES128-CBC-SHA",
        "ECDHE-ECDSA-AES256-SHA",
        "ECDHE-RSA-AES256-SHA",
        "ECDHE-PSK-AES256-CBC-SHA",
        "AES128-GCM-SHA256",
        "AES256-GCM-SHA384",
        "AES128-SHA",
        "PSK-AES128-GCM-SHA256",
        "PSK-AES256-GCM-SHA384",
        "PSK-AES128-CBC-SHA",
        "AES256-SHA",
        "PSK-AES256-CBC-SHA",
        "DES-CBC3-SHA",
        "[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-ECDSA-CHACHA20-POLY1305]",
        "[ECDHE-RSA-AES128-GCM-SHA256|ECDHE-RSA-CHACHA20-POLY1305]",
    }
)


def _validate_gateway(name: str, spec: dict[str, Any]) -> _V:
    v = _V()
    # Gateway name must conform to the DNS label format (no dots).
    if not is_dns1123_label(name):
        v.add(f"invalid gateway name: {goq(name)}")
    servers = _l(spec, "servers")
    if not servers:
        v.add("gateway must have at least one server")
    else:
        for server in servers:
            v.add(_validate_server(server))
    port_names: set[str] = set()
    for server in servers:
        if not isinstance(server, dict):
            v.add("server may not be nil")
            continue
        port = _o(server, "port")
        if port is not None:
            pname = _s(port, "name")
            if pname in port_names:
                v.add(f"port names in servers must be unique: duplicate name {pname}")
            port_names.add(pname)
            tls = _o(server, "tls")
            if (
                not is_http(parse_protocol(port.get("protocol")))
                and tls is not None
                and tls.get("httpsRedirect") is True
            ):
                v.warning("tls.httpsRedirect should only be used with http servers")
    return v


def _validate_server(server: Any) -> _V:
    if not isinstance(server, dict):
        return _V("cannot have nil server")
    v = _V()
    hosts = _l(server, "hosts")
    if not hosts:
        v.add("server config must contain at least one host")
    else:
        for h in hosts:
            v.add(_namespace_slash_hostname(str(h), True))
    port = _o(server, "port")
    bind = _s(server, "bind")
    port_err = _validate_server_port(port, bind)
    v.add(port_err)
    v.add(_validate_server_bind(port, bind))
    tls = server.get("tls") if isinstance(server.get("tls"), dict) else None
    v.add(_validate_tls_options(tls))
    # If port is HTTPS or TLS, make sure that server has TLS options.
    if port_err.err is None and port is not None:
        p = parse_protocol(port.get("protocol"))
        if is_tls(p) and tls is None:
            v.add("server must have TLS settings for HTTPS/TLS protocols")
        elif not is_tls(p) and tls is not None:
            if is_http(p):
                # Only httpsRedirect is allowed on an HTTP server; mode defaults to PASSTHROUGH.
                passthrough = _s(tls, "mode") in ("", "PASSTHROUGH", "AUTO_PASSTHROUGH")
                if (
                    not passthrough
                    or _s(tls, "caCertificates")
                    or _s(tls, "privateKey")
                    or _s(tls, "serverCertificate")
                ):
                    v.add("server cannot have TLS settings for plain text HTTP ports")
            else:
                v.add("server cannot have TLS settings for non HTTPS/TLS ports")
    return v


def _validate_server_port(port: dict[str, Any] | None, bind: str) -> _V:
    if port is None:
        return _V("port is required")
    v = _V()
    if parse_protocol(port.get("protocol", "")) == "UnsupportedProtocol":
        v.add(
            f"invalid protocol {goq(_s(port, 'protocol'))}, supported protocols are HTTP, HTTP2, GRPC, "
            f"GRPC-WEB, "
            "MONGO, REDIS, MYSQL, TCP"
        )
    number = _i(port, "number")
    if number > 0 or not bind.startswith("unix://"):
        v.add(validate_port(number))
    if _i(port, "targetPort") > 0:
        v.add("targetPort has no impact on Gateways")
    if _s(port, "name") == "":
        v.add(f"port name must be set: {_proto_text(port)}")
    return v


def _unix_address(addr: str) -> str | None:
    if not addr:
        return "unix address must not be empty"
    if addr.startswith("@"):
        return None
    if not addr.startswith("/") or addr.endswith("/"):
        return f"{addr} is not an absolute path to a file"
    return None


def _validate_server_bind(port: dict[str, Any] | None, bind: str) -> Err:
    errs: Err = None
    if bind.startswith("unix://"):
        errs = _append(errs, _unix_address(bind[len("unix://") :]))
        if port is not None and _i(port, "number") != 0:
            errs = _append(errs, f"port number must be 0 for unix domain socket: {_proto_text(port)}")
    elif bind:
        if not is_ip(bind):
            errs = _append(errs, f"{bind} is not a valid IP")
    return errs


def _validate_tls_options(tls: dict[str, Any] | None) -> _V:
    v = _V()
    if tls is None:
        return v  # no tls config at all is valid
    mode = _s(tls, "mode") or "PASSTHROUGH"  # enum zero value
    if _s(tls, "minProtocolVersion") in ("TLSV1_0", "TLSV1_1") and not _l(tls, "cipherSuites"):
        v.warning(
            "TLS version below TLSV1_2 require setting compatible ciphers as by default they no longer "
            "include "
            "compatible ciphers."
        )
    invalid: set[str] = set()
    valid: set[str] = set()
    dup: set[str] = set()
    for cs in _l(tls, "cipherSuites"):
        cs = str(cs)
        if cs not in _VALID_CIPHERS:
            invalid.add(cs)
        elif cs in valid:
            dup.add(cs)
        else:
            valid.add(cs)
    if invalid:
        v.warning(f"ignoring invalid cipher suites: {_golist(sorted(invalid))}")
    if dup:
        v.warning(f"ignoring duplicate cipher suites: {_golist(sorted(dup))}")

    cred, creds, certs = _s(tls, "credentialName"), _l(tls, "credentialNames"), _l(tls, "tlsCertificates")
    if mode == "ISTIO_MUTUAL":
        # ISTIO_MUTUAL uses the workload certificate: any other certificate field is an error.
        if _s(tls, "serverCertificate"):
            v.add("ISTIO_MUTUAL TLS cannot have associated server certificate")
        if _s(tls, "privateKey"):
            v.add("ISTIO_MUTUAL TLS cannot have associated private key")
        if _s(tls, "caCertificates"):
            v.add("ISTIO_MUTUAL TLS cannot have associated CA bundle")
        if certs:
            v.add("ISTIO_MUTUAL TLS cannot have associated tlsCertificates")
        if cred:
            v.add("ISTIO_MUTUAL TLS cannot have associated credentialName")
        if creds:
            v.add("ISTIO_MUTUAL TLS cannot have associated credentialNames")
        return v
    if mode in ("PASSTHROUGH", "AUTO_PASSTHROUGH"):
        if (
            _s(tls, "caCrl") or _s(tls, "serverCertificate") or _s(tls, "privateKey")
            or _s(tls, "caCertificates") or cred or creds or certs
        ):  # fmt: skip
            # Warn for backwards compatibility.
            v.warning(f"{mode} mode does not use certificates, they will be ignored")
    file_pair = bool(_s(tls, "serverCertificate") or _s(tls, "privateKey"))
    if mode in ("SIMPLE", "MUTUAL", "OPTIONAL_MUTUAL"):
        if sum((bool(cred), bool(creds), file_pair, bool(certs))) > 1:
            v.add(
                "only one of credential_name, credential_names, server_certificate/private_key, "
                "tls_certificates should be specified"
            )
        for many in (creds, certs):
            if len(many) > 2:
                v.warning(f"{mode} can support up to 2 server certificates")
    if mode in ("SIMPLE", "MUTUAL", "OPTIONAL_MUTUAL") and (cred or creds or certs):
        # Credentials are fetched remotely (SDS); file fields are not required.
        if _s(tls, "caCrl") and cred:
            v.add("CRL is not supported with credentialName. CRL has to be specified in the credential")
        return v
    if mode == "SIMPLE":
        if not _s(tls, "serverCertificate"):
            v.add("SIMPLE TLS requires a server certificate")
        if not _s(tls, "privateKey"):
            v.add("SIMPLE TLS requires a private key")
    elif mode in ("MUTUAL", "OPTIONAL_MUTUAL"):
        if not _s(tls, "serverCertificate"):
            v.add("MUTUAL TLS requires a server certificate")
        if not _s(tls, "privateKey"):
            v.add("MUTUAL TLS requires a private key")
        if not _s(tls, "caCertificates"):
            v.add("MUTUAL TLS requires a client CA bundle")
    if _s(tls, "caCrl"):
        if cred:
            v.add("CRL is not supported with credentialName. CRL has to be specified in the credential")
        if mode == "SIMPLE":
            v.add("CRL is not supported with SIMPLE TLS")
    return v


# ----------------------------------------------------------------------------------------------
# VirtualService ([I-VAL] ValidateVirtualService & co, [I-VALVS] validateHTTPRoute) -- §14.2
# ----------------------------------------------------------------------------------------------
def _host_matches(a: str, b: str) -> bool:
    """``host.Name.Matches``."""
    aw, bw = a.startswith("*"), b.startswith("*")
    if aw:
        if bw:
            return b[1:].endswith(a[1:]) if len(a) < len(b) else a[1:].endswith(b[1:])
        return b.endswith(a[1:])
    if bw:
        return a.endswith(b[1:])
    return a == b


def _host_subset_of(a: str, b: str) -> bool:
    """``host.Name.SubsetOf``."""
    if a.startswith("*"):
        return b.startswith("*") and a[1:].endswith(b[1:])
    if b.startswith("*"):
        return a.endswith(b[1:])
    return a == b


def _validate_gateway_names(names: list[Any]) -> _V:
    v = _V()
    for gw in names:
        gw = str(gw)
        parts = gw.split("/", 1)
        if len(parts) != 2:
            if "." in gw:
                # Legacy FQDN style.
                segs = gw.split(".")
                recommended = f"{segs[1]}/{segs[0]}"
                v.warning(
                    f"using legacy gatewayName format {goq(gw)}; prefer the <namespace>/<name> format: "
                    f"{goq(recommended)}"
                )
            v.add(validate_fqdn(gw))
            return v  # (sic) Istio returns after the first short name
        if not parts[0] or not parts[1]:
            v.add("config namespace and gateway name cannot be empty")
        if not is_dns1123_label(parts[0]):
            v.add(f"invalid value for namespace: {goq(parts[0])}")
        if not is_dns1123_label(parts[1]):
            v.add(f"invalid value for gateway name: {goq(parts[1])}")
    return v


def _validate_header_name(name: str) -> str | None:
    if not name:
        return "header name cannot be empty"
    if not _HEADER_NAME.match(name):
        return f"header name {name} is not a valid header name"
    return None


def _validate_header_name_or_jwt(name: str) -> str | None:
    if not name:
        return "header name cannot be empty"
    if name.startswith("@request.auth.claims."):
        return None
    if not _HEADER_NAME.match(name):
        return f"header name {name} is not a valid header name"
    return None


def _is_internal_header(name: str) -> bool:
    return name.startswith(":") or name.lower() == "host"


def _is_authority_header(name: str) -> bool:
    return name.lower() in (":authority", "host")


def _header_with_authority_op(name: str) -> str | None:
    if not name:
        return "header name cannot be empty"
    if _is_internal_header(name) and not _is_authority_header(name):
        return f'invalid header {goq(name)}: header cannot have ":" prefix'
    return None


def _header_op(name: str) -> str | None:
    if not name:
        return "header name cannot be empty"
    if name.lower() == "host":
        return f"invalid header {goq(name)}: cannot set Host header"
    if _is_internal_header(name):
        return f'invalid header {goq(name)}: header cannot have ":" prefix'
    return None


_HEADER_VALUE_BAD = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _header_value(value: Any) -> str | None:
    value = "" if value is None else str(value)
    if _HEADER_VALUE_BAD.search(value):
        return f"header value configuration {value} is invalid"
    return None


def _header_ops(v: _V, headers: dict[str, Any] | None, request_authority_ok: bool = True) -> None:
    req = _o(headers, "request") if headers else None
    resp = _o(headers, "response") if headers else None
    for op in ("add", "set"):
        for name, val in _m(req, op).items():
            v.add(_header_with_authority_op(name) if request_authority_ok else _header_op(name))
            v.add(_header_value(val))
    for name in _l(req, "remove"):
        v.add(_header_op(str(name)))
    for op in ("add", "set"):
        for name, val in _m(resp, op).items():
            v.add(_header_op(name))
            v.add(_header_value(val))
    for name in _l(resp, "remove"):
        v.add(_header_op(str(name)))


def _string_regexp(re_text: str, where: str) -> str | None:
    if len(re_text) > 1024:
        return f"{goq(where)}: regex is too large, max length allowed is 1024"
    try:
        re.compile(re_text)
    except re.error as exc:  # Python's re stands in for RE2 here; the wording differs
        return (
            f"{goq(where)}: error parsing regexp: {exc}; Istio uses RE2 style regex-based match "
            "(https://github.com/google/re2/wiki/Syntax)"
        )
    return None


def _string_match_regexp(sm: Any, where: str) -> str | None:
    if not isinstance(sm, dict) or "regex" not in sm:
        return None
    if not _s(sm, "regex"):
        return f"{goq(where)}: regex string match should not be empty"
    return _string_regexp(_s(sm, "regex"), where)


def _string_match(sm: Any, where: str) -> str | None:
    if not isinstance(sm, dict):
        return None
    if "prefix" in sm and "exact" not in sm and "regex" not in sm:
        if not _s(sm, "prefix"):
            return f"{goq(where)}: prefix string match should not be empty"
        return None
    if "regex" in sm:
        return _string_match_regexp(sm, where)
    return None


def _validate_destination(dest: dict[str, Any] | None) -> Err:
    if dest is None:
        return None
    errs: Err = None
    host = _s(dest, "host")
    if host == "*":
        errs = _append(errs, f"invalid destination host {host}")
    else:
        errs = _append(errs, validate_wildcard_domain(host))
    if _s(dest, "subset"):
        errs = _append(errs, _validate_subset_name(_s(dest, "subset")))
    port = _o(dest, "port")
    if port is not None:
        errs = _append(errs, validate_port(_i(port, "number")))
    return errs


def _validate_subset_name(name: str) -> str | None:
    if not name:
        return "subset name cannot be empty"
    if not is_dns1123_label(name):
        return f"subset name is invalid: {name}"
    return None


def _validate_route_destinations(routes: list[Any], http: bool) -> Err:
    errs: Err = None
    total = 0
    for rd in routes:
        if not isinstance(rd, dict):
            errs = _mappend(errs, "weight may not be nil")
            continue
        dest = _o(rd, "destination")
        if dest is None:
            errs = _mappend(errs, "destination is required")
        if http:
            hv = _V()
            _header_ops(hv, _o(rd, "headers"))
            errs = _append(errs, hv.err)
        errs = _append(errs, _validate_destination(dest))
        weight = _i(rd, "weight")
        if weight < 0:
            errs = _append(errs, f"weight {weight} < 0")
        total += weight
    if len(routes) > 1 and total == 0:
        errs = _append(errs, "total destination weight = 0")
    return errs


def _http_status(status: int) -> str | None:
    if status < 200 or status > 600:
        return f"HTTP status {status} is not in range 200-599"
    return None


_GO_STATUS_CODES = frozenset(
    [
        100,
        101,
        102,
        103,
        200,
        201,
        202,
        203,
        204,
        205,
        206,
        207,
        208,
        226,
        300,
        301,
        302,
        303,
        304,
        305,
        307,
        308,
        400,
        401,
        402,
        403,
        404,
        405,
        406,
        407,
        408,
        409,
        410,
        411,
        412,
        413,
        414,
        415,
        416,
        417,
        418,
        421,
        422,
        423,
        424,
        425,
        426,
        428,
        429,
        431,
        451,
        500,
        501,
        502,
        503,
        504,
        505,
        506,
        507,
        508,
        510,
        511,
    ]
)
_RETRY_ON = frozenset(
    [
        "5xx",
        "gateway-error",
        "reset",
        "reset-before-request",
        "connect-failure",
        "retriable-4xx",
        "refused-stream",
        "retriable-status-codes",
        "retriable-headers",
        "envoy-ratelimited",
        "http3-post-connect-failure",
        "cancelled",
        "deadline-exceeded",
        "internal",
        "resource-exhausted",
        "unavailable",
    ]
)
_METHODS = frozenset(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE"])
_GRPC_STATUS = frozenset(
    [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ]
)


def _percentage(p: dict[str, Any] | None) -> str | None:
    if p is None:
        return None
    val = p.get("value", 0)
    val = val if isinstance(val, (int, float)) and not isinstance(val, bool) else 0
    if val < 0 or val > 100 or (0 < val < 0.0001):
        return f"percentage {val:g} is neither 0.0, nor in range [0.0001, 100.0]"
    return None


def _validate_http_route(http: dict[str, Any], delegate: bool) -> _V:
    """``validateHTTPRoute`` ([I-VALVS])."""
    root = "delegate" in http and not delegate
    errs: Err = None
    # --- validateHTTPRouteConflict
    redirect, direct = _o(http, "redirect"), _o(http, "directResponse")
    routes = _l(http, "route")
    if root:
        if redirect is not None:
            errs = _append(errs, f"root HTTP route {_s(http, 'name')} must not specify redirect")
        if "route" in http and http["route"] is not None:
            errs = _append(errs, f"root HTTP route {_s(http, 'name')} must not specify route")
    else:
        if delegate and "delegate" in http:
            errs = _append(errs, "delegate HTTP route cannot contain delegate")
        fault, rewrite = http.get("fault"), http.get("rewrite")
        if redirect is not None:
            if routes:
                errs = _append(errs, "HTTP route cannot contain both route and redirect")
            if fault is not None:
                errs = _append(errs, "HTTP route cannot contain both fault and redirect")
            if rewrite is not None:
                errs = _append(errs, "HTTP route rule cannot contain both rewrite and redirect")
            if direct is not None:
                errs = _append(errs, "HTTP route rule cannot contain both direct_response and redirect")
        elif direct is not None:
            if routes:
                errs = _append(errs, "HTTP route cannot contain both route and direct_response")
            if fault is not None:
                errs = _append(errs, "HTTP route cannot contain both fault and direct_response")
            if rewrite is not None:
                errs = _append(errs, "HTTP route rule cannot contain both rewrite and direct_response")
        elif not routes:
            errs = _append(errs, "HTTP route, redirect or direct_response is required")
        if http.get("mirror") is not None and _l(http, "mirrors"):
            errs = _append(errs, "HTTP route cannot contain both mirror and mirrors")
    v = _V(errs)

    # --- validateHTTPRouteMatchRequest
    merrs: Err = None
    matches = _l(http, "match")
    for match in matches:
        if not isinstance(match, dict):
            continue
        for name, header in _m(match, "headers").items():
            if header is None:
                merrs = _append(merrs, f"header match {name} cannot be null")
            merrs = _append(merrs, _validate_header_name_or_jwt(name))
            merrs = _append(merrs, _string_match(header, "headers"))
        for name, header in _m(match, "withoutHeaders").items():
            merrs = _append(merrs, _validate_header_name_or_jwt(name))
            if isinstance(header, dict) and header.get("regex") != "*":
                merrs = _append(merrs, _string_match(header, "withoutHeaders"))
        # uri allows an empty prefix (Envoy), scheme/method/authority do not.
        merrs = _append(merrs, _string_match_regexp(match.get("uri"), "uri"))
        merrs = _append(merrs, _string_match(match.get("scheme"), "scheme"))
        merrs = _append(merrs, _string_match(match.get("method"), "method"))
        merrs = _append(merrs, _string_match(match.get("authority"), "authority"))
        for qp in _m(match, "queryParams").values():
            merrs = _append(merrs, _string_match(qp, "queryParams"))
    for match in matches:
        if not isinstance(match, dict):
            continue
        if _i(match, "port") != 0:
            merrs = _append(merrs, validate_port(_i(match, "port")))
        merrs = _append(merrs, _labels_validate(_m(match, "sourceLabels")))
        merrs = _append(merrs, _validate_gateway_names(_l(match, "gateways")).err)
        ns = _s(match, "sourceNamespace")
        if ns and not is_dns1123_label(ns):
            merrs = _append(merrs, f"sourceNamespace match {ns} is invalid")
    v.add(merrs)

    # --- header manipulation
    _header_ops(v, _o(http, "headers"))

    # --- CORS
    cors = _o(http, "corsPolicy")
    if cors is not None:
        cerrs: Err = None
        for origin in _l(cors, "allowOrigins"):
            o = origin if isinstance(origin, dict) else {}
            value = _s(o, "exact") or _s(o, "prefix") or _s(o, "regex")
            if not value:
                cerrs = _append(cerrs, f"'{value}' is not a valid match type for CORS allow origins")
            else:
                cerrs = _append(cerrs, _string_match_regexp(o, "corsPolicy.allowOrigins"))
        for method in _l(cors, "allowMethods"):
            if method not in _METHODS:
                cerrs = _append(cerrs, f"{goq(method)} is not a supported HTTP method")
        for key in ("allowHeaders", "exposeHeaders"):
            for name in _l(cors, key):
                name = str(name)
                if name != "*":
                    cerrs = _append(cerrs, _validate_header_name(name))
        if "maxAge" in cors:
            cerrs = _append(cerrs, _validate_duration(cors["maxAge"]))
            secs = duration_seconds(cors["maxAge"]) if isinstance(cors["maxAge"], str) else None
            if secs is not None and secs != int(secs):
                cerrs = _mappend(cerrs, "max_age duration is accurate only to seconds precision")
        v.add(cerrs)

    # --- fault
    fault = _o(http, "fault")
    if fault is not None:
        ferrs: Err = None
        abort, delay = _o(fault, "abort"), _o(fault, "delay")
        if abort is None and delay is None:
            ferrs = _mappend(ferrs, "HTTP fault injection must have an abort and/or a delay")
        if abort is not None:
            av = _V()
            av.add(_percentage(_o(abort, "percentage")))
            if "grpcStatus" in abort:
                if _s(abort, "grpcStatus") not in _GRPC_STATUS:
                    av.add(
                        f"gRPC status {goq(_s(abort, 'grpcStatus'))} is not supported. See "
                        "https://github.com/grpc/grpc/blob/master/doc/statuscodes.md for a list of "
                        "supported codes, "
                        "for example 'NOT_FOUND'"
                    )
            elif "http2Error" in abort:
                av.add("HTTP/2 abort fault injection not supported yet")
            elif "httpStatus" in abort:
                av.add(_http_status(_i(abort, "httpStatus")))
            else:
                av.warning("abort configured, but error type not set")
            ferrs = _append(ferrs, av.err)
            v.warning(av.warn)
        if delay is not None:
            ferrs = _append(ferrs, _percentage(_o(delay, "percentage")))
            if "fixedDelay" in delay:
                ferrs = _append(ferrs, _validate_duration(delay["fixedDelay"]))
            elif "exponentialDelay" in delay:
                ferrs = _append(ferrs, _validate_duration(delay["exponentialDelay"]))
                ferrs = _mappend(ferrs, "exponentialDelay not supported yet")
        v.add(ferrs)

    # --- mirrors
    if "mirrorPercent" in http:
        percent = _i(http, "mirrorPercent")
        if percent > 100:
            v.add(f"mirror_percent must have a max value of 100 (it has {percent})")
        v.warning('using deprecated setting "mirrorPercent", use "mirrorPercentage" instead')
    mp_ = _o(http, "mirrorPercentage")
    if mp_ is not None:
        pv = _num(mp_.get("value", 0))
        if pv > 100:
            v.add(f"mirror_percentage must have a max value of 100 (it has {_gofloat(pv)})")
        if pv < 0:
            v.add(f"mirror_percentage must have a min value of 0 (it has {_gofloat(pv)})")
    v.add(_validate_destination(_o(http, "mirror")))
    mv = _V()
    for mirror in _l(http, "mirrors"):
        if not isinstance(mirror, dict):
            mv.add("mirror cannot be null")
            continue
        if _o(mirror, "destination") is None:
            mv.add("destination is required for mirrors")
            continue
        mv.add(_validate_destination(_o(mirror, "destination")))
        pct = _o(mirror, "percentage")
        if pct is not None:
            mpv = _num(pct.get("value", 0))
            if mpv > 100:
                mv.add(f"mirror percentage must have a max value of 100 (it has {_gofloat(mpv)})")
            if mpv < 0:
                mv.add(f"mirror percentage must have a min value of 0 (it has {_gofloat(mpv)})")
    v.add(mv.err)

    # --- redirect
    if redirect is not None:
        port_set = "port" in redirect or "derivePort" in redirect
        if not (_s(redirect, "uri") or _s(redirect, "authority") or port_set
                or _s(redirect, "scheme")):  # fmt: skip
            v.add("redirect must specify URI, authority, scheme, or port")
        elif _i(redirect, "redirectCode") != 0 and not 300 <= _i(redirect, "redirectCode") <= 399:
            v.add(f"{_i(redirect, 'redirectCode')} is not a valid redirect code, must be 3xx")
        elif _s(redirect, "scheme") not in ("", "http", "https"):
            v.add('invalid redirect scheme, must be "http" or "https"')
        elif _i(redirect, "port") > 0:
            v.add(validate_port(_i(redirect, "port")))

    # --- direct response
    if direct is not None:
        body = _o(direct, "body")
        if body is not None:
            size = len(_s(body, "string").encode()) if "string" in body else len(_s(body, "bytes"))
            if size > 1024 * 1024:
                v.add("large direct_responses may impact control plane performance, must be less than 1MB")
            elif size > 100 * 1024:
                v.warning("large direct_responses may impact control plane performance")
        v.add(_http_status(_i(direct, "status")))

    # --- retries
    retries = _o(http, "retries")
    if retries is not None:
        rerrs: Err = None
        attempts = _i(retries, "attempts")
        if attempts < 0:
            rerrs = _mappend(rerrs, "attempts cannot be negative")
        if attempts == 0 and (
            "perTryTimeout" in retries or _s(retries, "retryOn") or "retryRemoteLocalities" in retries
        ):
            rerrs = _append(rerrs, "http retry policy configured when attempts are set to 0 (disabled)")
        if "perTryTimeout" in retries:
            rerrs = _append(rerrs, _validate_duration(retries["perTryTimeout"]))
        if _s(retries, "retryOn"):
            for policy in _s(retries, "retryOn").split(","):
                code = int(policy) if re.fullmatch(r"[+-]?\d+", policy) else 0
                if code not in _GO_STATUS_CODES and policy not in _RETRY_ON:
                    rerrs = _append(rerrs, f"{goq(policy)} is not a valid retryOn policy")
        v.add(rerrs)

    # --- rewrite
    rewrite = _o(http, "rewrite")
    if rewrite is not None:
        rx = _o(rewrite, "uriRegexRewrite")
        if _s(rewrite, "uri") and rx is not None:
            v.add("rewrite may only contain one of URI or UriRegexRewrite")
        elif not _s(rewrite, "uri") and rx is None and not _s(rewrite, "authority"):
            v.add(
                "rewrite must specify at least one of URI, UriRegexRewrite, or authority. Only one of URI or "
                "UriRegexRewrite may be specified"
            )
        elif rx is not None:
            if not _s(rx, "match") or not _s(rx, "rewrite"):
                v.add(
                    "UriRegexRewrite has errors\nUriRegexRewrite requires both Rewrite and Match fields to "
                    "be specified"
                )
            else:
                err = _string_regexp(_s(rx, "match"), "HTTPRewrite.UriRegexRewrite.Match")
                if err:
                    v.add(f"UriRegexRewrite has errors\n{err}")

    # --- authority rewrite in one place only
    current = _s(rewrite, "authority") if rewrite else ""
    req = _o(_o(http, "headers"), "request") if _o(http, "headers") else None
    done = False
    for op in ("set", "add"):
        for k, val in _m(req, op).items():
            if done or not _is_authority_header(k):
                continue
            if current:
                v.add(
                    f"authority header cannot be set multiple times: have {goq(current)}, attempting to set "
                    f"{goq(val)}"
                )
                done = True
                continue
            current = str(val)

    # --- destinations and timeout
    v.add(_validate_route_destinations(routes, http=True))
    if "timeout" in http:
        v.add(_validate_duration(http["timeout"]))
    return v


def _validate_tls_route(tls: Any, vs: dict[str, Any], is_gw: bool) -> _V:
    v = _V()
    if not isinstance(tls, dict):
        return v
    matches = _l(tls, "match")
    if not matches:
        v.add("TLS route must have at least one match condition")
    for match in matches:
        if not isinstance(match, dict):
            v.add("TLS match may not be null")
            continue
        snis = _l(match, "sniHosts")
        if not snis:
            v.add("TLS match must have at least one SNI host")
        else:
            for sni in snis:
                v.add(_validate_sni_host(str(sni), vs, is_gw))
        for subnet in _l(match, "destinationSubnets"):
            v.add(_ip_subnet(str(subnet)))
        if _i(match, "port") != 0:
            v.add(validate_port(_i(match, "port")))
        v.add(_labels_validate(_m(match, "sourceLabels")))
        v.add(_validate_gateway_names(_l(match, "gateways")))
    routes = _l(tls, "route")
    if not routes:
        v.add("TLS route is required")
    v.add(_validate_route_destinations(routes, http=False))
    return v


def _validate_sni_host(sni: str, vs: dict[str, Any], is_gw: bool) -> _V:
    err = _wildcard_domain_for_gateway_vs(True, sni) if is_gw else validate_wildcard_domain(sni)
    if err:
        if is_ip(sni):
            return _V(
                warn=f"using an IP address ({goq(sni)}) goes against SNI spec and most clients do not "
                f"support this"
            )
        return _V(err)
    for h in _l(vs, "hosts"):
        if _host_subset_of(sni, str(h)):
            return _V()
    hosts = ", ".join(str(h) for h in _l(vs, "hosts"))
    return _V(
        f"SNI host {goq(sni)} is not a compatible subset of any of the virtual service hosts: [{hosts}]"
    )


def _ip_subnet(subnet: str) -> str | None:
    if subnet.count("/") == 1:
        try:
            ipaddress.ip_network(subnet, strict=True)
        except ValueError:
            return f"{subnet} is not a valid CIDR block"
        return None
    return None if is_ip(subnet) else f"{subnet} is not a valid IP"


def _validate_tcp_route(tcp: Any) -> Err:
    if not isinstance(tcp, dict):
        return None
    errs: Err = None
    for match in _l(tcp, "match"):
        if not isinstance(match, dict):
            errs = _append(errs, _mappend(None, "tcp match may not be nil"))
            continue
        for subnet in _l(match, "destinationSubnets"):
            errs = _append(errs, _ip_subnet(str(subnet)))
        if _i(match, "port") != 0:
            errs = _append(errs, validate_port(_i(match, "port")))
        errs = _append(errs, _labels_validate(_m(match, "sourceLabels")))
        errs = _append(errs, _validate_gateway_names(_l(match, "gateways")).err)
    routes = _l(tcp, "route")
    if not routes:
        errs = _append(errs, "TCP route is required")
    return _append(errs, _validate_route_destinations(routes, http=False))


def _validate_virtual_service(namespace: str, spec: dict[str, Any]) -> _V:
    v = _V()
    hosts = [str(h) for h in _l(spec, "hosts")]
    gateways = _l(spec, "gateways")
    if not hosts:
        # This must be a delegate.
        if gateways:
            v.add("delegate virtual service must have no gateways specified")
        if _l(spec, "tls"):
            v.add("delegate virtual service must have no tls route specified")
        if _l(spec, "tcp"):
            v.add("delegate virtual service must have no tcp route specified")
    applies_to_gateway = False
    if not gateways:
        applies_to_mesh = True
    else:
        v.add(_validate_gateway_names(gateways))
        applies_to_gateway = "mesh" not in gateways
        applies_to_mesh = not applies_to_gateway
    if not applies_to_gateway:
        for http in _l(spec, "http"):
            for match in _l(http, "match"):
                for key in ("headers", "withoutHeaders"):
                    for name in _m(match, key):
                        if name.startswith("@request.auth.claims."):
                            v.add(
                                f"JWT claim based routing (key: {name}) is only supported for gateway, "
                                f"found no "
                                f"gateways: {_golist([str(g) for g in gateways])}"
                            )
    is_sni = any(_l(m, "sniHosts") for t in _l(spec, "tls") for m in _l(t, "match"))
    all_valid = True
    for h in hosts:
        err = (
            _wildcard_domain_for_gateway_vs(is_sni, h) if applies_to_gateway else validate_wildcard_domain(h)
        )
        if err:
            if not is_ip(h):
                v.add(err)
                all_valid = False
        elif applies_to_mesh and h == "*":
            v.add("wildcard host * is not allowed for virtual services bound to the mesh gateway")
            all_valid = False
    # Duplicates include wildcard duplicates: *.foo.com and *.com.
    if all_valid:
        for i in range(len(hosts)):
            for j in range(i + 1, len(hosts)):
                if _host_matches(hosts[i], hosts[j]):
                    v.add(f"duplicate hosts in virtual service: {hosts[i]} & {hosts[j]}")
    if not _l(spec, "http") and not _l(spec, "tcp") and not _l(spec, "tls"):
        v.add("http, tcp or tls must be provided in virtual service")
    for http in _l(spec, "http"):
        if not isinstance(http, dict):
            v.add("http route may not be null")
            continue
        v.add(_validate_http_route(http, delegate=not hosts))
    for tls in _l(spec, "tls"):
        v.add(_validate_tls_route(tls, spec, applies_to_gateway))
    for tcp in _l(spec, "tcp"):
        v.add(_validate_tcp_route(tcp))
    v.add(_validate_export_to(namespace, _l(spec, "exportTo"), False, False))
    _analyze_unreachable(v, _l(spec, "http"), http=True)
    _analyze_unreachable(v, _l(spec, "tcp"), http=False)
    _analyze_unreachable(v, _l(spec, "tls"), http=False)
    return v


def _as_json(match: Any, http: bool) -> str:
    if http and isinstance(match, dict) and match.get("name"):
        match = {k: val for k, val in match.items() if k != "name"}
    return json.dumps(match, sort_keys=True, default=str)


def _route_name(route: Any, n: int, http: bool) -> str:
    if http and isinstance(route, dict) and _s(route, "name"):
        return goq(_s(route, "name"))
    return f"#{n}"


def _request_name(match: Any, n: int, http: bool) -> str:
    if http and isinstance(match, dict) and _s(match, "name"):
        return goq(_s(match, "name"))
    return f"#{n}"


def _analyze_unreachable(v: _V, routes: list[Any], http: bool) -> None:
    """``analyzeUnreachable{HTTP,TCP,TLS}Rules``: warnings for shadowed rules and matches."""
    seen: dict[str, int] = {}
    empty_seen = -1
    prefixes: list[dict[str, Any]] = []
    for n, route in enumerate(routes):
        if not isinstance(route, dict):
            continue
        matches = _l(route, "match")
        if not matches:
            if empty_seen >= 0:
                v.warning(
                    f"virtualService rule {_route_name(route, n, http)} not used (only the last rule can "
                    f"have no matches)"
                )
            empty_seen = n
            continue
        dups = 0
        for mn, match in enumerate(matches):
            key = _as_json(match, http)
            if key in seen:
                d = seen[key]
                v.warning(
                    f"virtualService rule {_route_name(route, n, http)} match "
                    f"{_request_name(match, mn, http)} is not "
                    f"used (duplicate/overlapping match in rule {_route_name(routes[d], d, http)})"
                )
                dups += 1
                continue
            seen[key] = n
            if (
                http
                and isinstance(match, dict)
                and isinstance(match.get("uri"), dict)
                and _s(match["uri"], "prefix")
            ):
                prefixes.append(_prefix_info(route, match, n, mn))
        if dups == len(matches):
            v.warning(
                f"virtualService rule {_route_name(route, n, http)} not used (all matches used by prior "
                f"rules)"
            )
    # Overlapping prefix matches: an earlier prefix that covers a later one (genMatchHTTPRoutes).
    for i, a in enumerate(prefixes):
        for b in prefixes[i + 1 :]:
            if b["prefix"] == a["prefix"]:
                continue
            if _covered(a, b):
                v.warning(
                    f"virtualService rule {b['route']} match {b['match']} of prefix {b['prefix']} is not "
                    f"used "
                    f"(duplicate/overlapping match in rule {a['match']} of prefix {a['prefix']} on "
                    f"{a['route']})"
                )


def _exact_or_prefix(sm: Any) -> str:
    if isinstance(sm, dict):
        if _s(sm, "exact"):
            return "exact:" + _s(sm, "exact")
        if _s(sm, "prefix"):
            return "prefix:" + _s(sm, "prefix")
    return ""


def _prefix_info(route: dict[str, Any], match: dict[str, Any], n: int, mn: int) -> dict[str, Any]:
    return {
        "route": _route_name(route, n, True),
        "match": _request_name(match, mn, True),
        "prefix": _s(match["uri"], "prefix"),
        "port": _i(match, "port"),
        "method": _exact_or_prefix(match.get("method")) or "exact:GET",
        "authority": _exact_or_prefix(match.get("authority")),
        "headers": {k: _exact_or_prefix(x) for k, x in _m(match, "headers").items()},
        "query": {k: _exact_or_prefix(x) for k, x in _m(match, "queryParams").items()},
        "without": {k: _exact_or_prefix(x) for k, x in _m(match, "withoutHeaders").items()},
    }


def _covered(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """``coveredValidation``."""
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


# ----------------------------------------------------------------------------------------------
# DestinationRule ([I-VAL] ValidateDestinationRule, validateTrafficPolicy; [I-VALAG] ValidateTLS)
# ----------------------------------------------------------------------------------------------
def _validate_client_tls(tls: dict[str, Any] | None) -> Err:
    if tls is None:
        return None
    errs: Err = None
    mode = _s(tls, "mode") or "DISABLE"
    if tls.get("insecureSkipVerify") is True:
        if mode == "SIMPLE" and (
            _s(tls, "caCertificates") or _s(tls, "credentialName") or "subjectAltNames" in tls
        ):
            errs = _append(
                errs,
                "cannot specify CaCertificates or CredentialName or SubjectAltNames when InsecureSkipVerify "
                "is set true",
            )
        if mode == "MUTUAL" and (_s(tls, "caCertificates") or "subjectAltNames" in tls):
            errs = _append(
                errs, "cannot specify CaCertificates or SubjectAltNames when InsecureSkipVerify is set true"
            )
    if mode in ("SIMPLE", "MUTUAL") and _s(tls, "credentialName"):
        if (
            _s(tls, "clientCertificate")
            or _s(tls, "caCertificates")
            or _s(tls, "privateKey")
            or _s(tls, "caCrl")
        ):
            errs = _append(
                errs,
                "cannot specify client certificates or CA certificate or CA CRL If credentialName is set",
            )
        return errs
    if mode == "MUTUAL":
        if not _s(tls, "clientCertificate"):
            errs = _append(errs, "client certificate required for mutual tls")
        if not _s(tls, "privateKey"):
            errs = _append(errs, "private key required for mutual tls")
    return errs


def _validate_connection_pool(cp: Any) -> Err:
    if not isinstance(cp, dict):
        return None
    http, tcp = _o(cp, "http"), _o(cp, "tcp")
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
            if _i(http, key) < 0:
                errs = _append(errs, text)
        if "idleTimeout" in http:
            errs = _append(errs, _validate_duration(http["idleTimeout"]))
        if _s(http, "h2UpgradePolicy") == "UPGRADE" and http.get("useClientProtocol") is True:
            errs = _append(errs, "use client protocol must not be true when H2UpgradePolicy is UPGRADE")
        if _i(http, "maxConcurrentStreams") < 0:
            errs = _append(errs, "max concurrent streams must be non-negative")
    if tcp is not None:
        if _i(tcp, "maxConnections") < 0:
            errs = _append(errs, "max connections must be non-negative")
        for key in ("connectTimeout", "maxConnectionDuration", "idleTimeout"):
            if key in tcp:
                errs = _append(errs, _validate_duration(tcp[key]))
    return errs


def _validate_outlier(od: Any) -> _V:
    v = _V()
    if not isinstance(od, dict):
        return v
    if "baseEjectionTime" in od:
        v.add(_validate_duration(od["baseEjectionTime"]))
    if _i(od, "consecutiveErrors") != 0:
        v.warning(
            "outlier detection consecutive errors is deprecated, use consecutiveGatewayErrors or "
            "consecutive5xxErrors instead"
        )
    if od.get("splitExternalLocalOriginErrors") is not True and _i(od, "consecutiveLocalOriginFailures") > 0:
        v.add(
            "outlier detection consecutive local origin failures is specified, but split external local "
            "origin "
            "errors is set to false"
        )
    if "interval" in od:
        v.add(_validate_duration(od["interval"]))
    for key in ("maxEjectionPercent", "minHealthPercent"):
        val = _i(od, key)
        if val < 0 or val > 100:
            v.add(f"percentage {val} is not in range 0..100")
    return v


def _validate_lb(lb: Any) -> _V:
    v = _V()
    if not isinstance(lb, dict):
        return v
    ch = _o(lb, "consistentHash")
    if ch is not None:
        cookie = _o(ch, "httpCookie")
        if cookie is not None and not _s(cookie, "name"):
            v.add("name required for HttpCookie")
    if "warmupDurationSecs" in lb:
        v.add(_validate_duration(lb["warmupDurationSecs"]))
    return v


def _validate_traffic_policy(tp: Any) -> _V:
    if not isinstance(tp, dict):
        return _V()
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
        return _V("traffic policy must have at least one field")
    if tp.get("tunnel") is not None and tp.get("proxyProtocol") is not None:
        return _V("tunnel and proxyProtocol must not be set together")
    v = _validate_outlier(tp.get("outlierDetection"))
    v.add(_validate_connection_pool(tp.get("connectionPool")), _validate_lb(tp.get("loadBalancer")))
    v.add(_validate_client_tls(_o(tp, "tls")))
    perrs: Err = None
    for pl in _l(tp, "portLevelSettings"):
        if not isinstance(pl, dict):
            perrs = _append(perrs, "traffic policy may not be null")
            continue
        if _o(pl, "port") is None:
            perrs = _append(perrs, "portTrafficPolicy must have valid port")
        if all(pl.get(k) is None for k in ("outlierDetection", "connectionPool", "loadBalancer", "tls")):
            perrs = _append(perrs, "port traffic policy must have at least one field")
        else:
            perrs = _append(
                perrs,
                _validate_outlier(pl.get("outlierDetection")).err,
                _validate_connection_pool(pl.get("connectionPool")),
                _validate_lb(pl.get("loadBalancer")).err,
                _validate_client_tls(_o(pl, "tls")),
            )
    v.add(perrs)
    tunnel = _o(tp, "tunnel")
    if tunnel is not None:
        terrs: Err = None
        if _s(tunnel, "protocol") not in ("", "CONNECT", "POST"):
            terrs = _append(terrs, 'tunnel protocol must be "CONNECT" or "POST"')
        target = _s(tunnel, "targetHost")
        fq, ip_ok = validate_fqdn(target), is_ip(target)
        if fq and not ip_ok:
            terrs = _append(
                terrs,
                f"tunnel target host must be valid FQDN or IP address: {fq}; {target} is not a valid IP",
            )
        perr = validate_port(_i(tunnel, "targetPort"))
        if perr:
            terrs = _append(terrs, f"tunnel target port is invalid: {perr}")
        v.add(terrs)
    return v


def _validate_destination_rule(namespace: str, spec: dict[str, Any]) -> _V:
    v = _V()
    v.add(validate_wildcard_domain(_s(spec, "host")), _validate_traffic_policy(spec.get("trafficPolicy")))
    names: set[str] = set()
    for subset in _l(spec, "subsets"):
        if not isinstance(subset, dict):
            v.add("subset may not be null")
            continue
        name = _s(subset, "name")
        if name in names:
            v.add(f"duplicate subset names: {name}")
        names.add(name)
        v.add(
            _append(
                _validate_subset_name(name),
                _labels_validate(_m(subset, "labels")),
                _validate_traffic_policy(subset.get("trafficPolicy")).err,
            )
        )
    selector = _o(spec, "workloadSelector")
    v.add(_validate_export_to(namespace, _l(spec, "exportTo"), False, selector is not None))
    if selector is not None:
        labels = _m(selector, "matchLabels")
        for k, val in labels.items():
            if k == "":
                v.add(f"empty key is not supported in selector: {goq(f'{k}={val}')}")
            if "*" in k or "*" in str(val):
                v.add(f"wildcard is not supported in selector: {goq(f'{k}={val}')}")
        if not labels:
            v.warning("workload selector specified without labels")
    return v


# ----------------------------------------------------------------------------------------------
# ServiceEntry ([I-VAL] ValidateServiceEntry) -- §14.3
# ----------------------------------------------------------------------------------------------
def _validate_service_entry(namespace: str, spec: dict[str, Any]) -> _V:
    v = _V()
    selector = _o(spec, "workloadSelector")
    if selector is not None:
        # ValidateAlphaWorkloadSelector: its errors end validation at once.
        serrs: Err = None
        labels = _m(selector, "labels")
        for k, val in labels.items():
            if k == "":
                serrs = _append(serrs, f"empty key is not supported in selector: {goq(f'{k}={val}')}")
            if "*" in k or "*" in str(val):
                serrs = _append(serrs, f"wildcard is not supported in selector: {goq(f'{k}={val}')}")
        if serrs is not None:
            return _V(serrs)
        if not labels:
            v.warning(
                "service entry: workload selector specified without labels, will be applied to all services "
                "in namespace"
            )
    if selector is not None and "endpoints" in spec and spec["endpoints"] is not None:
        v.add("only one of WorkloadSelector or Endpoints is allowed in Service Entry")
    hosts = [str(h) for h in _l(spec, "hosts")]
    resolution = _s(spec, "resolution") or "NONE"
    if not hosts:
        v.add("service entry must have at least one host")
    for h in hosts:
        if h == "*":
            v.add(f"invalid host {h}")
        else:
            v.add(validate_wildcard_domain(h))
            if resolution != "DYNAMIC_DNS":
                v.warning(_partial_wildcard(h))
    addresses = [str(a) for a in _l(spec, "addresses")]
    cidr = False
    for a in addresses:
        cidr = cidr or "/" in a
        v.add(_ip_subnet(a))
    if cidr and resolution not in ("NONE", "STATIC"):
        v.add("CIDR addresses are allowed only for NONE/STATIC resolution types")
    port_names: set[str] = set()
    port_numbers: set[int] = set()
    ports = _l(spec, "ports")
    for port in ports:
        if not isinstance(port, dict):
            v.add("service entry port may not be null")
            continue
        name, number = _s(port, "name"), _i(port, "number")
        if name in port_names:
            v.add(f"service entry port name {goq(name)} already defined")
        port_names.add(name)
        if number in port_numbers:
            v.add(f"service entry port {number} already defined")
        port_numbers.add(number)
        if _i(port, "targetPort") != 0:
            v.add(validate_port(_i(port, "targetPort")))
            if resolution == "NONE":
                v.warning("targetPort has no effect when resolution mode is NONE")
        if not addresses and _s(port, "protocol") in ("", "TCP"):
            v.warning(
                "addresses are required for ports serving TCP (or unset) protocol when IP Autoallocation is "
                "not enabled"
            )
        proto = _s(port, "protocol")
        v.add(
            None if is_dns1123_label(name) else f"invalid port name: {name}",
            f"unsupported protocol: {proto}"
            if proto and parse_protocol(proto) == "UnsupportedProtocol"
            else None,
            validate_port(number),
        )
    endpoints = _l(spec, "endpoints")
    if resolution == "NONE":
        if endpoints:
            v.add("no endpoints should be provided for resolution type none")
        if selector is not None:
            v.warning("workloadSelector should not be set when resolution mode is NONE")
    elif resolution == "STATIC":
        for ep in endpoints:
            if not isinstance(ep, dict):
                v.add("endpoint cannot be nil")
                continue
            v.add(_validate_workload_entry(ep, port_names))
    elif resolution in ("DNS", "DNS_ROUND_ROBIN"):
        if not endpoints:
            for h in hosts:
                err = validate_fqdn(h)
                if err:
                    v.add(
                        "hosts must be FQDN or contain only prefix wildcards if no endpoints are provided "
                        "for "
                        f"resolution mode {resolution}, {err}"
                    )
        if resolution == "DNS_ROUND_ROBIN" and len(endpoints) > 1:
            v.add(f"there must only be 0 or 1 endpoint for resolution mode {resolution}")
        for ep in endpoints:
            if not isinstance(ep, dict):
                v.add("endpoint cannot be nil")
                continue
            addr = _s(ep, "address")
            if not is_ip(addr) and validate_fqdn(addr):
                v.add(f"endpoint address {goq(addr)} is not a valid FQDN or an IP address")
            v.add(_labels_validate(_m(ep, "labels")))
            for pname, pnum in _m(ep, "ports").items():
                if pname not in port_names:
                    v.add(f"endpoint port {pnum} is not defined by the service entry")
                v.add(
                    None if is_dns1123_label(pname) else f"invalid port name: {pname}",
                    validate_port(pnum if isinstance(pnum, int) else 0),
                )
        if selector is not None:
            v.warning(f"workloadSelector should not be set when resolution mode is {resolution}")
        if addresses:
            for port in ports:
                if isinstance(port, dict) and _is_tcp(parse_protocol(port.get("protocol", ""))):
                    if len(hosts) > 1:
                        v.warning(
                            "service entry can not have more than one host specified simultaneously with "
                            "address "
                            "and tcp port"
                        )
                    break
    elif resolution == "DYNAMIC_DNS":
        for h in hosts:
            if not h.startswith("*"):
                v.add(f"host must be wildcarded for resolution mode {resolution}")
        for port in ports:
            p = parse_protocol(_s(port, "protocol"))
            if p not in ("HTTP", "TLS", "GRPC", "HTTP2"):
                v.add(
                    f"only HTTP, TLS, GRPC, and HTTP2 protocols are supported for resolution type "
                    f"{resolution}"
                )
                break
    else:
        v.add(f"unsupported resolution type {resolution}")
    # Plain TCP cannot tell hosts apart, unless resolution is NONE (hosts are ignored then).
    if resolution != "NONE" and len(hosts) > 1:
        for port in ports:
            if not isinstance(port, dict):
                v.add("ports cannot be nil")
                continue
            p = parse_protocol(port.get("protocol", ""))
            if not is_http(p) and not is_tls(p):
                v.add("multiple hosts provided with non-HTTP, non-TLS ports")
                break
    v.add(_validate_export_to(namespace, _l(spec, "exportTo"), True, False))
    return v


def _validate_workload_entry(ep: dict[str, Any], service_ports: set[str]) -> _V:
    v = _V()
    addr = _s(ep, "address")
    if not addr:
        if not _s(ep, "network"):
            return _V("address is required")
        v.warning(f"address is unset with network {goq(_s(ep, 'network'))}")
    unix = addr.startswith("unix://")
    if unix:
        v.add(_unix_address(addr[len("unix://") :]))
        if _m(ep, "ports"):
            v.add(f"unix endpoint {addr} must not include ports")
    elif addr and not is_ip(addr):
        v.add(f"endpoint address {goq(addr)} is not a valid IP address")
    for name, port in _m(ep, "ports").items():
        if name not in service_ports:
            v.add(f"endpoint port {port} is not defined by the service entry")
        v.add(
            None if is_dns1123_label(name) else f"invalid port name: {name}",
            validate_port(port if isinstance(port, int) else 0),
        )
    v.add(_labels_validate(_m(ep, "labels")))
    if unix and len(service_ports) != 1:
        v.add("exactly 1 service port required for unix endpoints")
    return v


# ----------------------------------------------------------------------------------------------
# Core kinds: light Kubernetes API-server checks (k8s.io/kubernetes pkg/apis/core/validation)
# ----------------------------------------------------------------------------------------------
_K8S_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_K8S_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_K8S_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_MSG_SUBDOMAIN = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_MSG_LABEL = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
    "and "
    "end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
_MSG_1035 = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
    "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)


def _name_errors(kind: str, name: str) -> list[FieldError]:
    if kind in ("Gateway", "VirtualService", "DestinationRule", "ServiceEntry"):
        # Custom resources only need a valid path segment (apiextensions ValidatePathSegmentName).
        for bad in ("/", "%"):
            if bad in name:
                return [FieldError("metadata.name", f"Invalid value: {goq(name)}: may not contain '{bad}'")]
        if name in (".", ".."):
            return [FieldError("metadata.name", f"Invalid value: {goq(name)}: may not be '{name}'")]
        return []
    if kind == "Namespace":
        if len(name) > 63 or not _K8S_LABEL.match(name):
            return [FieldError("metadata.name", f"Invalid value: {goq(name)}: {_MSG_LABEL}")]
        return []
    if kind == "Service":
        if len(name) > 63 or not _K8S_1035.match(name):
            return [FieldError("metadata.name", f"Invalid value: {goq(name)}: {_MSG_1035}")]
        return []
    if len(name) > 253 or not _K8S_SUBDOMAIN.match(name):
        return [FieldError("metadata.name", f"Invalid value: {goq(name)}: {_MSG_SUBDOMAIN}")]
    return []


def _port_range(path: str, value: Any) -> FieldError | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    if not 1 <= value <= 65535:
        return FieldError(path, f"Invalid value: {value}: must be between 1 and 65535, inclusive")
    return None


def _core_checks(kind: str, raw: dict[str, Any]) -> tuple[list[FieldError], str]:
    """Returns (field errors, decode error) for the core kinds."""
    errors: list[FieldError] = []
    spec = _asdict(raw.get("spec"))
    if kind == "Service":
        ports: list[Any] = spec["ports"] if isinstance(spec.get("ports"), list) else []
        names: set[str] = set()
        for i, port in enumerate(ports):
            if not isinstance(port, dict):
                continue
            name = port.get("name")
            if len(ports) > 1 and not name:
                errors.append(FieldError(f"spec.ports[{i}].name", "Required value"))
            elif isinstance(name, str) and name:
                if name in names:
                    errors.append(FieldError(f"spec.ports[{i}].name", f"Duplicate value: {goq(name)}"))
                names.add(name)
            if "port" not in port:
                errors.append(FieldError(f"spec.ports[{i}].port", "Required value"))
            else:
                fe = _port_range(f"spec.ports[{i}].port", port.get("port"))
                if fe:
                    errors.append(fe)
            fe = _port_range(f"spec.ports[{i}].targetPort", port.get("targetPort"))
            if fe:
                errors.append(fe)
            proto = port.get("protocol", "TCP")
            if proto not in ("TCP", "UDP", "SCTP"):
                errors.append(
                    FieldError(
                        f"spec.ports[{i}].protocol",
                        f'Unsupported value: {goq(proto)}: supported values: "SCTP", "TCP", "UDP"',
                    )
                )
        return errors, ""
    if kind == "Secret":
        decoded: dict[str, bytes] = {}
        data = raw.get("data")
        if isinstance(data, dict):
            for key, value in data.items():
                if not isinstance(value, str):
                    continue
                try:
                    decoded[key] = base64.b64decode(value, validate=True)
                except (binascii.Error, ValueError):
                    # Go encoding/base64 CorruptInputError at the first bad byte.
                    return errors, f"illegal base64 data at input byte {_bad_base64_offset(value)}"
        string_data = raw.get("stringData")
        if isinstance(string_data, dict):
            for key in string_data:
                decoded[key] = b""
        if raw.get("type") == "kubernetes.io/tls":
            for key in ("tls.crt", "tls.key"):
                if key not in decoded:
                    errors.append(FieldError(f"data[{key}]", "Required value"))
        return errors, ""
    if kind == "Deployment":
        if not isinstance(spec.get("selector"), dict):
            errors.append(FieldError("spec.selector", "Required value"))
        template = _asdict(spec.get("template"))
        pod = _asdict(template.get("spec"))
        containers = pod.get("containers")
        if not isinstance(containers, list) or not containers:
            errors.append(FieldError("spec.template.spec.containers", "Required value"))
        else:
            for i, c in enumerate(containers):
                if isinstance(c, dict):
                    if not c.get("name"):
                        errors.append(
                            FieldError(f"spec.template.spec.containers[{i}].name", "Required value")
                        )
                    if not c.get("image"):
                        errors.append(
                            FieldError(f"spec.template.spec.containers[{i}].image", "Required value")
                        )
                    for j, p in enumerate(c.get("ports") or []):
                        if isinstance(p, dict):
                            fe = _port_range(
                                f"spec.template.spec.containers[{i}].ports[{j}].containerPort",
                                p.get("containerPort"),
                            )
                            if fe:
                                errors.append(fe)
        sel = spec.get("selector") if isinstance(spec.get("selector"), dict) else None
        labels = (
            (template.get("metadata") or {}).get("labels")
            if isinstance(template.get("metadata"), dict)
            else None
        )
        if sel and isinstance(sel.get("matchLabels"), dict) and isinstance(labels, dict):
            if any(labels.get(k) != val for k, val in sel["matchLabels"].items()):
                errors.append(
                    FieldError(
                        "spec.template.metadata.labels",
                        f"Invalid value: {_go_map(labels)}: `selector` does not match template `labels`",
                    )
                )
        return errors, ""
    return errors, ""


def _go_map(labels: dict[str, Any]) -> str:
    inner = ", ".join(f"{goq(k)}:{goq(v)}" for k, v in sorted(labels.items()))
    return f"map[string]string{{{inner}}}"


def _bad_base64_offset(value: str) -> int:
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    stripped = value.replace("\n", "").replace("\r", "")
    for i, ch in enumerate(stripped):
        if ch == "=":
            return (
                i if len(stripped) % 4 == 0 and i >= len(stripped) - 2 and set(stripped[i:]) == {"="} else i
            )
        if ch not in alphabet:
            return i
    # Length not a multiple of 4: Go reports the offset of the last complete quantum.
    return (len(stripped) // 4) * 4


# ----------------------------------------------------------------------------------------------
# Entry point
# ----------------------------------------------------------------------------------------------
def _raw_of(obj: Any) -> dict[str, Any]:
    if isinstance(obj, Manifest):
        return obj.raw
    if isinstance(obj, Mapping):
        return dict(obj)
    for attr in ("raw", "to_dict"):
        value = getattr(obj, attr, None)
        if callable(value):
            value = value()
        if isinstance(value, Mapping):
            return dict(value)
    raise TypeError(f"cannot validate {type(obj).__name__}")


def validate(obj: Manifest | Mapping[str, Any] | Any) -> Report:
    """Validate one object as ``kubectl apply`` against an Istio cluster would.

    Args:
        obj: a :class:`Manifest` (from :func:`gatewaykit.resources.codecs.load`) or a manifest
            dict (or an object with ``raw``/``to_dict()``).

    Returns:
        A :class:`Report`. Gates run in the API server's order and stop at the first that fails:
        strict decoding (``unknown_fields``/``decode_error``), schema (``schema_errors``), then
        Istio's webhook (``errors``, ``warnings``).
    """
    raw = _raw_of(obj)
    kind = _asstr(raw.get("kind"))
    meta = _asdict(raw.get("metadata"))
    name = _asstr(meta.get("name"))
    info = kind_info(str(raw.get("apiVersion", "")), kind)
    namespace = (
        meta.get("namespace") if isinstance(meta.get("namespace"), str) and meta.get("namespace") else ""
    )
    if not namespace and info is not None and info.namespaced:
        namespace = "default"

    # Gate 1+2: the API server. We report unknown fields with the API server's strict-decoding
    # text rather than the webhook's `unknown field %q on %s resource %s/%s`: a learner running
    # kubectl >= 1.27 gets fieldValidation=Strict, so the API server rejects the object before
    # the webhook is ever called (and the webhook only checks top-level fields anyway).
    unknown, schema_errors = check_schema(kind, raw)
    if unknown:
        return Report(unknown_fields=tuple(unknown))
    decode_error = ""
    core_errors: list[FieldError] = []
    if kind not in ("Gateway", "VirtualService", "DestinationRule", "ServiceEntry"):
        core_errors, decode_error = _core_checks(kind, raw)
        if decode_error:
            return Report(decode_error=decode_error)
    schema_errors = _name_errors(kind, name) + schema_errors + core_errors
    if schema_errors:
        return Report(schema_errors=tuple(schema_errors))

    # Gate 3: Istio's webhook (only for Istio's networking kinds).
    return validate_webhook(raw)


def validate_webhook(obj: Manifest | Mapping[str, Any] | Any) -> Report:
    """Run only Istio's validating webhook (gate 3), as if the API server had admitted the object.

    Useful to see the webhook's answer for input the CRD schema would already reject (a ``null``
    route, a duplicate port); :func:`validate` is what ``kubectl apply`` shows.
    """
    raw = _raw_of(obj)
    kind = _asstr(raw.get("kind"))
    meta = _asdict(raw.get("metadata"))
    name = _asstr(meta.get("name"))
    namespace = _asstr(meta.get("namespace")) or "default"
    spec = _asdict(raw.get("spec"))
    annotations = _asdict(meta.get("annotations"))
    if (
        kind in ("Gateway", "VirtualService", "DestinationRule", "ServiceEntry")
        and "istio.io/dry-run" in annotations
    ):
        # validateMetadata: only AuthorizationPolicy supports istio.io/dry-run.
        return Report(
            errors=(
                f"{namespace}/{name} has unsupported annotation istio.io/dry-run, please remove the "
                f"annotation",
            )
        )
    if kind == "Gateway":
        v = _validate_gateway(name, spec)
    elif kind == "VirtualService":
        v = _validate_virtual_service(namespace, spec)
    elif kind == "DestinationRule":
        v = _validate_destination_rule(namespace, spec)
    elif kind == "ServiceEntry":
        v = _validate_service_entry(namespace, spec)
    else:
        return Report()
    return Report(
        errors=tuple(_flat(v.err)), warnings=tuple(_flat(v.warn)), multierror=isinstance(v.err, _Multi)
    )
