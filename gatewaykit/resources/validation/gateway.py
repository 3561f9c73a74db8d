"""``ValidateGateway`` and the server checks it calls (``pkg/config/validation/validation.go``).

What ``kubectl apply`` of a bad Gateway prints comes from here (docs/behaviour.md §14.1): the
functions keep Istio's order of checks and its message texts, each named after the Go function
it ports.

Rule: no I/O here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gatewaykit._gofmt import format_list, quote
from gatewaykit.resources import protocol
from gatewaykit.resources.validation._proto import Config, get_int, get_list, get_msg, get_str, proto_text
from gatewaykit.resources.validation.agent import (
    is_ip_address,
    validate_namespace_slash_wildcard_hostname,
    validate_port,
)
from gatewaykit.resources.validation.common import validate_unix_address
from gatewaykit.resources.validation.labels import is_dns1123_label
from gatewaykit.resources.validation.multierror import Err, Validation, append_errors

__all__ = [
    "validate_gateway",
    "validate_server",
    "validate_server_bind",
    "validate_server_port",
    "validate_tls_options",
]


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


def validate_gateway(cfg: Config) -> Validation:
    """``ValidateGateway``: the name, at least one valid server, unique port names."""
    name, spec = cfg.name, cfg.spec
    v = Validation()
    # Gateway name must conform to the DNS label format (no dots).
    if not is_dns1123_label(name):
        v.add(f"invalid gateway name: {quote(name)}")
    servers = get_list(spec, "servers")
    if not servers:
        v.add("gateway must have at least one server")
    else:
        for server in servers:
            v.add(validate_server(server))
    port_names: set[str] = set()
    for server in servers:
        if not isinstance(server, dict):
            v.add("server may not be nil")
            continue
        port = get_msg(server, "port")
        if port is not None:
            pname = get_str(port, "name")
            if pname in port_names:
                v.add(f"port names in servers must be unique: duplicate name {pname}")
            port_names.add(pname)
            tls = get_msg(server, "tls")
            if (
                not protocol.is_http(protocol.parse(port.get("protocol")))
                and tls is not None
                and tls.get("httpsRedirect") is True
            ):
                v.warning("tls.httpsRedirect should only be used with http servers")
    return v


def validate_server(server: Any) -> Validation:
    """``validateServer``: hosts, port, bind and TLS settings of one server."""
    if not isinstance(server, dict):
        return Validation("cannot have nil server")
    v = Validation()
    hosts = get_list(server, "hosts")
    if not hosts:
        v.add("server config must contain at least one host")
    else:
        for h in hosts:
            v.add(validate_namespace_slash_wildcard_hostname(str(h), True))
    port = get_msg(server, "port")
    bind = get_str(server, "bind")
    port_err = validate_server_port(port, bind)
    v.add(port_err)
    v.add(validate_server_bind(port, bind))
    tls = server.get("tls") if isinstance(server.get("tls"), dict) else None
    v.add(validate_tls_options(tls))
    # If port is HTTPS or TLS, make sure that server has TLS options.
    if port_err.err is None and port is not None:
        p = protocol.parse(port.get("protocol"))
        if protocol.is_tls(p) and tls is None:
            v.add("server must have TLS settings for HTTPS/TLS protocols")
        elif not protocol.is_tls(p) and tls is not None:
            if protocol.is_http(p):
                # Only httpsRedirect is allowed on an HTTP server; mode defaults to PASSTHROUGH.
                passthrough = get_str(tls, "mode") in ("", "PASSTHROUGH", "AUTO_PASSTHROUGH")
                if (
                    not passthrough
                    or get_str(tls, "caCertificates")
                    or get_str(tls, "privateKey")
                    or get_str(tls, "serverCertificate")
                ):
                    v.add("server cannot have TLS settings for plain text HTTP ports")
            else:
                v.add("server cannot have TLS settings for non HTTPS/TLS ports")
    return v


def validate_server_port(port: dict[str, Any] | None, bind: str) -> Validation:
    """``validateServerPort``: a supported protocol, a port number (0 with a unix bind) and a name."""
    if port is None:
        return Validation("port is required")
    v = Validation()
    if protocol.parse(port.get("protocol", "")) == protocol.UNSUPPORTED:
        v.add(
            f"invalid protocol {quote(get_str(port, 'protocol'))}, "
            "supported protocols are HTTP, HTTP2, GRPC, GRPC-WEB, MONGO, REDIS, MYSQL, TCP"
        )
    number = get_int(port, "number")
    if number > 0 or not bind.startswith("unix://"):
        v.add(validate_port(number))
    if get_int(port, "targetPort") > 0:
        v.add("targetPort has no impact on Gateways")
    if get_str(port, "name") == "":
        v.add(f"port name must be set: {proto_text(port)}")
    return v


def validate_server_bind(port: dict[str, Any] | None, bind: str) -> Err:
    """``validateServerBind``: a unix socket path (port 0) or an IP address."""
    errs: Err = None
    if bind.startswith("unix://"):
        errs = append_errors(errs, validate_unix_address(bind[len("unix://") :]))
        if port is not None and get_int(port, "number") != 0:
            errs = append_errors(errs, f"port number must be 0 for unix domain socket: {proto_text(port)}")
    elif bind:
        if not is_ip_address(bind):
            errs = append_errors(errs, f"{bind} is not a valid IP")
    return errs


#: The certificate fields ``ISTIO_MUTUAL`` forbids, in ``validateTLSOptions``' order:
#: (field, how to read it, the name in the message).
_ISTIO_MUTUAL_FORBIDDEN: tuple[tuple[str, Callable[[Any, str], Any], str], ...] = (
    ("serverCertificate", get_str, "server certificate"),
    ("privateKey", get_str, "private key"),
    ("caCertificates", get_str, "CA bundle"),
    ("tlsCertificates", get_list, "tlsCertificates"),
    ("credentialName", get_str, "credentialName"),
    ("credentialNames", get_list, "credentialNames"),
)


def validate_tls_options(tls: dict[str, Any] | None) -> Validation:
    """``validateTLSOptions``: the certificate fields each ``tls.mode`` needs or forbids."""
    v = Validation()
    if tls is None:
        return v  # no tls config at all is valid
    mode = get_str(tls, "mode") or "PASSTHROUGH"  # enum zero value
    _validate_cipher_suites(v, tls)
    cred, creds, certs = (
        get_str(tls, "credentialName"),
        get_list(tls, "credentialNames"),
        get_list(tls, "tlsCertificates"),
    )
    if mode == "ISTIO_MUTUAL":
        # ISTIO_MUTUAL uses the workload certificate: any other certificate field is an error.
        for field, getter, what in _ISTIO_MUTUAL_FORBIDDEN:
            if getter(tls, field):
                v.add(f"ISTIO_MUTUAL TLS cannot have associated {what}")
        return v
    if mode in ("PASSTHROUGH", "AUTO_PASSTHROUGH"):
        if (
            get_str(tls, "caCrl") or get_str(tls, "serverCertificate") or get_str(tls, "privateKey")
            or get_str(tls, "caCertificates") or cred or creds or certs
        ):  # fmt: skip
            # Warn for backwards compatibility.
            v.warning(f"{mode} mode does not use certificates, they will be ignored")
    file_pair = bool(get_str(tls, "serverCertificate") or get_str(tls, "privateKey"))
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
        if get_str(tls, "caCrl") and cred:
            v.add("CRL is not supported with credentialName. CRL has to be specified in the credential")
        return v
    if mode == "SIMPLE":
        if not get_str(tls, "serverCertificate"):
            v.add("SIMPLE TLS requires a server certificate")
        if not get_str(tls, "privateKey"):
            v.add("SIMPLE TLS requires a private key")
    elif mode in ("MUTUAL", "OPTIONAL_MUTUAL"):
        if not get_str(tls, "serverCertificate"):
            v.add("MUTUAL TLS requires a server certificate")
        if not get_str(tls, "privateKey"):
            v.add("MUTUAL TLS requires a private key")
        if not get_str(tls, "caCertificates"):
            v.add("MUTUAL TLS requires a client CA bundle")
    if get_str(tls, "caCrl"):
        if cred:
            v.add("CRL is not supported with credentialName. CRL has to be specified in the credential")
        if mode == "SIMPLE":
            v.add("CRL is not supported with SIMPLE TLS")
    return v


def _validate_cipher_suites(v: Validation, tls: dict[str, Any]) -> None:
    """The cipher-suite warnings of ``validateTLSOptions`` (``security.IsValidCipherSuite``)."""
    if get_str(tls, "minProtocolVersion") in ("TLSV1_0", "TLSV1_1") and not get_list(tls, "cipherSuites"):
        v.warning(
            "TLS version below TLSV1_2 require setting compatible ciphers as by default they no longer "
            "include compatible ciphers."
        )
    invalid: set[str] = set()
    valid: set[str] = set()
    dup: set[str] = set()
    for cs in get_list(tls, "cipherSuites"):
        cs = str(cs)
        if cs not in _VALID_CIPHERS:
            invalid.add(cs)
        elif cs in valid:
            dup.add(cs)
        else:
            valid.add(cs)
    if invalid:
        v.warning(f"ignoring invalid cipher suites: {format_list(sorted(invalid))}")
    if dup:
        v.warning(f"ignoring duplicate cipher suites: {format_list(sorted(dup))}")
