"""Every validation message of §14 for Gateway, VirtualService, ServiceEntry and DestinationRule.

One row per message, asserting Istio's exact text (istio-behavior.md §14; Istio sources
pkg/config/validation/{validation.go,virtualservice.go,agent/validation.go} and the CRDs).
Rows marked ``webhook`` call :func:`validate_webhook` directly because the CRD schema rejects
that input before the webhook would ever see it (the API server runs first, §14.0).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gatewaykit.resources.validation import VALIDATORS, validate, validate_webhook
from gatewaykit.resources.validation.httproute import ROUTE_CONFLICTS

HTTP_SERVER = {"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["a.example.com"]}


def https_server(**tls: Any) -> dict[str, Any]:
    """An HTTPS server on 443 with the given tls block."""
    return {
        "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
        "hosts": ["a.example.com"],
        "tls": tls,
    }


def server(**changes: Any) -> dict[str, Any]:
    s = copy.deepcopy(HTTP_SERVER)
    port = changes.pop("port", None)
    if port is not None:
        s["port"].update(port)
    s.update(changes)
    return s


def gw(*servers: dict[str, Any], name: str = "gw") -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "Gateway",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"selector": {"istio": "ingressgateway"}, "servers": list(servers)},
    }


ROUTE = [{"destination": {"host": "httpbin"}}]


def vs(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "vs", "namespace": "default"},
        "spec": spec,
    }


def gvs(**http: Any) -> dict[str, Any]:
    """A gateway-bound VS with one HTTP route built from ``http``."""
    return vs({"hosts": ["a.example.com"], "gateways": ["gw"], "http": [http]})


def se(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": {"name": "se", "namespace": "default"},
        "spec": spec,
    }


HTTP_PORT = {"number": 80, "name": "http", "protocol": "HTTP"}


def dr(spec: dict[str, Any]) -> dict[str, Any]:
    base = {"host": "httpbin.default.svc.cluster.local"}
    base.update(spec)
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": {"name": "dr", "namespace": "default"},
        "spec": base,
    }


# (id, manifest, expected webhook errors (exact tuple), use webhook-only gate)
ERRORS: list[tuple[str, dict[str, Any], tuple[str, ...], bool]] = [
    # --- §14.1 Gateway
    ("gw-name", gw(HTTP_SERVER, name="my.gw"), ('invalid gateway name: "my.gw"',), False),
    ("gw-no-server", gw(), ("gateway must have at least one server",), False),
    (
        "gw-dup-port-name",
        gw(HTTP_SERVER, server(port={"number": 8080})),
        ("port names in servers must be unique: duplicate name http",),
        False,
    ),
    ("gw-no-host", gw(server(hosts=[])), ("server config must contain at least one host",), False),
    ("gw-short-name", gw(server(hosts=["httpbin"])), ("short names (non FQDN) are not allowed",), False),
    (
        "gw-label",
        gw(server(hosts=["foo_bar.example.com"])),
        ('domain name "foo_bar.example.com" invalid (label "foo_bar" invalid)',),
        False,
    ),
    (
        "gw-numeric-tld",
        gw(server(hosts=["foo.123"])),
        ('domain name "123" invalid (top level domain "123" cannot be all-numeric)',),
        False,
    ),
    (
        "gw-partial-wildcard",
        gw(server(hosts=["*foo.example.com"])),
        ('partial wildcard "*foo.example.com" not allowed',),
        False,
    ),
    (
        "gw-empty-dnsname",
        gw(server(hosts=["ns/"])),
        (
            "config namespace and dnsName in host entry cannot be empty",
            "short names (non FQDN) are not allowed",
            "empty domain name not allowed",
        ),
        False,
    ),
    (
        "gw-bad-namespace",
        gw(server(hosts=["Foo_/a.example.com"])),
        ('invalid namespace value "Foo_" in gateway',),
        False,
    ),
    (
        "gw-too-long",
        gw(server(hosts=["a." * 127 + "com"])),
        (f'domain name "{"a." * 127 + "com"}" too long (max 255)',),
        False,
    ),
    ("gw-ip-host-ok", gw(server(hosts=["10.0.0.1"])), (), False),
    ("gw-port-required", gw({"hosts": ["a.example.com"]}), ("port is required",), True),
    ("gw-nil-server", gw(None), ("cannot have nil server", "server may not be nil"), True),  # type: ignore[arg-type]
    (
        "gw-protocol",
        gw(server(port={"protocol": "FOO"})),
        (
            'invalid protocol "FOO", supported protocols are HTTP, HTTP2, GRPC, GRPC-WEB, MONGO, REDIS, '
            "MYSQL, TCP",
        ),
        False,
    ),
    (
        "gw-port-range",
        gw(server(port={"number": 70000})),
        ("port number 70000 must be in the range 1..65535",),
        False,
    ),
    (
        "gw-target-port",
        gw(server(port={"targetPort": 8080})),
        ("targetPort has no impact on Gateways",),
        False,
    ),
    (
        "gw-port-name",
        gw(server(port={"name": ""})),
        ('port name must be set: number:80 protocol:"HTTP"',),
        False,
    ),
    ("gw-bind-ip", gw(server(bind="abc")), ("abc is not a valid IP",), False),
    (
        "gw-bind-unix-path",
        gw(server(bind="unix://relative", port={"number": 0})),
        ("relative is not an absolute path to a file",),
        False,
    ),
    (
        "gw-bind-unix-port",
        gw(server(bind="unix:///var/run/gw.sock")),
        ('port number must be 0 for unix domain socket: number:80 protocol:"HTTP" name:"http"',),
        False,
    ),
    (
        "gw-https-no-tls",
        gw(server(port={"number": 443, "name": "https", "protocol": "HTTPS"})),
        ("server must have TLS settings for HTTPS/TLS protocols",),
        False,
    ),
    (
        "gw-http-with-tls",
        gw(server(tls={"mode": "SIMPLE", "credentialName": "c"})),
        ("server cannot have TLS settings for plain text HTTP ports",),
        False,
    ),
    ("gw-http-redirect-ok", gw(server(tls={"httpsRedirect": True})), (), False),
    (
        "gw-tcp-with-tls",
        gw(server(port={"protocol": "TCP"}, tls={"mode": "SIMPLE", "credentialName": "c"})),
        ("server cannot have TLS settings for non HTTPS/TLS ports",),
        False,
    ),
    (
        "gw-istio-mutual-cert",
        gw(https_server(mode="ISTIO_MUTUAL", serverCertificate="/c")),
        ("ISTIO_MUTUAL TLS cannot have associated server certificate",),
        False,
    ),
    (
        "gw-istio-mutual-key",
        gw(https_server(mode="ISTIO_MUTUAL", privateKey="/k")),
        ("ISTIO_MUTUAL TLS cannot have associated private key",),
        False,
    ),
    (
        "gw-istio-mutual-ca",
        gw(https_server(mode="ISTIO_MUTUAL", caCertificates="/ca")),
        ("ISTIO_MUTUAL TLS cannot have associated CA bundle",),
        False,
    ),
    (
        "gw-istio-mutual-certs",
        gw(
            https_server(
                mode="ISTIO_MUTUAL", tlsCertificates=[{"serverCertificate": "/c", "privateKey": "/k"}]
            )
        ),
        ("ISTIO_MUTUAL TLS cannot have associated tlsCertificates",),
        False,
    ),
    (
        "gw-istio-mutual-credential",
        gw(https_server(mode="ISTIO_MUTUAL", credentialName="c")),
        ("ISTIO_MUTUAL TLS cannot have associated credentialName",),
        False,
    ),
    (
        "gw-istio-mutual-credentials",
        gw(https_server(mode="ISTIO_MUTUAL", credentialNames=["c"])),
        ("ISTIO_MUTUAL TLS cannot have associated credentialNames",),
        False,
    ),
    (
        "gw-only-one-credential",
        gw(https_server(mode="SIMPLE", credentialName="c", serverCertificate="/c", privateKey="/k")),
        (
            "only one of credential_name, credential_names, server_certificate/private_key, tls_certificates "
            "should be specified",
        ),
        False,
    ),
    (
        "gw-simple-cert",
        gw(https_server(mode="SIMPLE", privateKey="/k")),
        ("SIMPLE TLS requires a server certificate",),
        False,
    ),
    (
        "gw-simple-key",
        gw(https_server(mode="SIMPLE", serverCertificate="/c")),
        ("SIMPLE TLS requires a private key",),
        False,
    ),
    (
        "gw-mutual-ca",
        gw(https_server(mode="MUTUAL", serverCertificate="/c", privateKey="/k")),
        ("MUTUAL TLS requires a client CA bundle",),
        False,
    ),
    (
        "gw-mutual-cert",
        gw(https_server(mode="MUTUAL", privateKey="/k", caCertificates="/ca")),
        ("MUTUAL TLS requires a server certificate",),
        False,
    ),
    (
        "gw-mutual-key",
        gw(https_server(mode="MUTUAL", serverCertificate="/c", caCertificates="/ca")),
        ("MUTUAL TLS requires a private key",),
        False,
    ),
    (
        "gw-optional-mutual",
        gw(https_server(mode="OPTIONAL_MUTUAL")),
        (
            "MUTUAL TLS requires a server certificate",
            "MUTUAL TLS requires a private key",
            "MUTUAL TLS requires a client CA bundle",
        ),
        False,
    ),
    (
        "gw-simple-credential-ok",
        gw(https_server(mode="SIMPLE", credentialName="httpbin-credential")),
        (),
        False,
    ),
    (
        "gw-crl-credential",
        gw(https_server(mode="SIMPLE", credentialName="c", caCrl="/crl")),
        ("CRL is not supported with credentialName. CRL has to be specified in the credential",),
        False,
    ),
    (
        "gw-crl-simple",
        gw(https_server(mode="SIMPLE", serverCertificate="/c", privateKey="/k", caCrl="/crl")),
        ("CRL is not supported with SIMPLE TLS",),
        False,
    ),
    # --- §14.2 VirtualService
    (
        "vs-mesh-wildcard",
        vs({"hosts": ["*"], "http": [{"route": ROUTE}]}),
        ("wildcard host * is not allowed for virtual services bound to the mesh gateway",),
        False,
    ),
    (
        "vs-gateway-wildcard-ok",
        vs({"hosts": ["*"], "gateways": ["gw"], "http": [{"route": ROUTE}]}),
        (),
        False,
    ),
    (
        "vs-dup-hosts",
        vs({"hosts": ["a.example.com", "*.example.com"], "http": [{"route": ROUTE}]}),
        ("duplicate hosts in virtual service: a.example.com & *.example.com",),
        False,
    ),
    (
        "vs-host-label",
        vs({"hosts": ["foo_bar.com"], "http": [{"route": ROUTE}]}),
        ('domain name "foo_bar.com" invalid (label "foo_bar" invalid)',),
        False,
    ),
    (
        "vs-no-routes",
        vs({"hosts": ["a.example.com"]}),
        ("http, tcp or tls must be provided in virtual service",),
        False,
    ),
    (
        "vs-gateway-empty",
        vs({"hosts": ["a.example.com"], "gateways": ["ns/"], "http": [{"route": ROUTE}]}),
        ("config namespace and gateway name cannot be empty", 'invalid value for gateway name: ""'),
        False,
    ),
    (
        "vs-gateway-namespace",
        vs({"hosts": ["a.example.com"], "gateways": ["Foo_/gw"], "http": [{"route": ROUTE}]}),
        ('invalid value for namespace: "Foo_"',),
        False,
    ),
    (
        "vs-gateway-name",
        vs({"hosts": ["a.example.com"], "gateways": ["ns/gw_1"], "http": [{"route": ROUTE}]}),
        ('invalid value for gateway name: "gw_1"',),
        False,
    ),
    (
        "vs-gateway-fqdn",
        vs({"hosts": ["a.example.com"], "gateways": ["gw_1"], "http": [{"route": ROUTE}]}),
        ('domain name "gw_1" invalid (label "gw_1" invalid)',),
        False,
    ),
    (
        "vs-delegate-gateways",
        vs({"gateways": ["gw"], "http": [{"route": ROUTE}]}),
        ("delegate virtual service must have no gateways specified",),
        False,
    ),
    (
        "vs-delegate-tls",
        vs({"tls": [{"match": [{"sniHosts": ["a.example.com"]}], "route": ROUTE}]}),
        (
            "delegate virtual service must have no tls route specified",
            'SNI host "a.example.com" is not a compatible subset of any of the virtual service hosts: []',
        ),
        False,
    ),
    (
        "vs-delegate-tcp",
        vs({"tcp": [{"route": ROUTE}]}),
        ("delegate virtual service must have no tcp route specified",),
        False,
    ),
    (
        "vs-route-redirect",
        gvs(route=ROUTE, redirect={"uri": "/x"}),
        ("HTTP route cannot contain both route and redirect",),
        False,
    ),
    (
        "vs-fault-redirect",
        gvs(fault={"abort": {"httpStatus": 500}}, redirect={"uri": "/x"}),
        ("HTTP route cannot contain both fault and redirect",),
        False,
    ),
    (
        "vs-rewrite-redirect",
        gvs(rewrite={"uri": "/y"}, redirect={"uri": "/x"}),
        ("HTTP route rule cannot contain both rewrite and redirect",),
        False,
    ),
    (
        "vs-direct-redirect",
        gvs(directResponse={"status": 200}, redirect={"uri": "/x"}),
        ("HTTP route rule cannot contain both direct_response and redirect",),
        False,
    ),
    (
        "vs-route-direct",
        gvs(route=ROUTE, directResponse={"status": 200}),
        ("HTTP route cannot contain both route and direct_response",),
        False,
    ),
    (
        "vs-fault-direct",
        gvs(fault={"abort": {"httpStatus": 500}}, directResponse={"status": 200}),
        ("HTTP route cannot contain both fault and direct_response",),
        False,
    ),
    (
        "vs-rewrite-direct",
        gvs(rewrite={"uri": "/y"}, directResponse={"status": 200}),
        ("HTTP route rule cannot contain both rewrite and direct_response",),
        False,
    ),
    (
        "vs-route-required",
        gvs(match=[{"uri": {"prefix": "/"}}]),
        ("HTTP route, redirect or direct_response is required",),
        False,
    ),
    (
        "vs-mirror-mirrors",
        gvs(route=ROUTE, mirror={"host": "m"}, mirrors=[{"destination": {"host": "m"}}]),
        ("HTTP route cannot contain both mirror and mirrors",),
        False,
    ),
    (
        "vs-null-http",
        vs({"hosts": ["a.example.com"], "gateways": ["gw"], "http": [None]}),
        ("http route may not be null",),
        True,
    ),
    (
        "vs-destination-required",
        gvs(route=[{"weight": 100}]),
        ("destination is required",),
        True,
    ),
    (
        "vs-destination-star",
        gvs(route=[{"destination": {"host": "*"}}]),
        ("invalid destination host *",),
        False,
    ),
    (
        "vs-subset-invalid",
        gvs(route=[{"destination": {"host": "httpbin", "subset": "v_1"}}]),
        ("subset name is invalid: v_1",),
        False,
    ),
    (
        "vs-destination-port",
        gvs(route=[{"destination": {"host": "httpbin", "port": {"number": 70000}}}]),
        ("port number 70000 must be in the range 1..65535",),
        False,
    ),
    ("vs-weight", gvs(route=[{"destination": {"host": "httpbin"}, "weight": -1}]), ("weight -1 < 0",), False),
    (
        "vs-total-weight",
        gvs(route=[{"destination": {"host": "a"}, "weight": 0}, {"destination": {"host": "b"}, "weight": 0}]),
        ("total destination weight = 0",),
        False,
    ),
    (
        "vs-redirect-empty",
        gvs(redirect={}),
        ("redirect must specify URI, authority, scheme, or port",),
        False,
    ),
    (
        "vs-redirect-code",
        gvs(redirect={"uri": "/x", "redirectCode": 200}),
        ("200 is not a valid redirect code, must be 3xx",),
        False,
    ),
    (
        "vs-redirect-scheme",
        gvs(redirect={"scheme": "ftp"}),
        ('invalid redirect scheme, must be "http" or "https"',),
        False,
    ),
    (
        "vs-rewrite-both",
        gvs(route=ROUTE, rewrite={"uri": "/a", "uriRegexRewrite": {"match": "a", "rewrite": "b"}}),
        ("rewrite may only contain one of URI or UriRegexRewrite",),
        False,
    ),
    (
        "vs-rewrite-empty",
        gvs(route=ROUTE, rewrite={}),
        (
            "rewrite must specify at least one of URI, UriRegexRewrite, or authority. Only one of URI or "
            "UriRegexRewrite may be specified",
        ),
        False,
    ),
    (
        "vs-prefix-empty",
        gvs(route=ROUTE, match=[{"method": {"prefix": ""}}]),
        ('"method": prefix string match should not be empty',),
        False,
    ),
    (
        "vs-regex-empty",
        gvs(route=ROUTE, match=[{"uri": {"regex": ""}}]),
        ('"uri": regex string match should not be empty',),
        False,
    ),
    (
        "vs-regex-large",
        gvs(route=ROUTE, match=[{"uri": {"regex": "a" * 1025}}]),
        ('"uri": regex is too large, max length allowed is 1024',),
        False,
    ),
    (
        "vs-header-null",
        gvs(route=ROUTE, match=[{"headers": {"x-foo": None}}]),
        ("header match x-foo cannot be null",),
        True,
    ),
    (
        "vs-source-namespace",
        gvs(route=ROUTE, match=[{"sourceNamespace": "Bad_NS"}]),
        ("sourceNamespace match Bad_NS is invalid",),
        False,
    ),
    (
        "vs-authority-twice",
        gvs(route=ROUTE, rewrite={"authority": "a.com"}, headers={"request": {"set": {"host": "b.com"}}}),
        ('authority header cannot be set multiple times: have "a.com", attempting to set "b.com"',),
        False,
    ),
    (
        "vs-tls-no-match",
        vs({"hosts": ["a.example.com"], "gateways": ["gw"], "tls": [{"route": ROUTE}]}),
        ("TLS route must have at least one match condition",),
        True,
    ),
    (
        "vs-tls-no-route",
        vs(
            {
                "hosts": ["a.example.com"],
                "gateways": ["gw"],
                "tls": [{"match": [{"sniHosts": ["a.example.com"]}]}],
            }
        ),
        ("TLS route is required",),
        False,
    ),
    (
        "vs-tls-no-sni",
        vs(
            {
                "hosts": ["a.example.com"],
                "gateways": ["gw"],
                "tls": [{"match": [{"sniHosts": []}], "route": ROUTE}],
            }
        ),
        ("TLS match must have at least one SNI host",),
        False,
    ),
    (
        "vs-tls-null-match",
        vs({"hosts": ["a.example.com"], "gateways": ["gw"], "tls": [{"match": [None], "route": ROUTE}]}),
        ("TLS match may not be null",),
        True,
    ),
    (
        "vs-sni-subset",
        vs(
            {
                "hosts": ["a.example.com"],
                "gateways": ["gw"],
                "tls": [{"match": [{"sniHosts": ["b.example.com"]}], "route": ROUTE}],
            }
        ),
        (
            'SNI host "b.example.com" is not a compatible subset of any of the virtual service hosts: '
            "[a.example.com]",
        ),
        False,
    ),
    (
        "vs-tcp-no-route",
        vs({"hosts": ["a.example.com"], "gateways": ["gw"], "tcp": [{"match": [{"port": 31400}]}]}),
        ("TCP route is required",),
        False,
    ),
    (
        "vs-tcp-null-match",
        vs({"hosts": ["a.example.com"], "gateways": ["gw"], "tcp": [{"match": [None], "route": ROUTE}]}),
        ("tcp match may not be nil",),
        True,
    ),
    (
        "vs-mirror-percentage",
        gvs(route=ROUTE, mirror={"host": "m"}, mirrorPercentage={"value": 150}),
        ("mirror_percentage must have a max value of 100 (it has 150.000000)",),
        False,
    ),
    (
        "vs-direct-response-body",
        gvs(directResponse={"status": 200, "body": {"string": "x" * (1024 * 1024 + 1)}}),
        ("large direct_responses may impact control plane performance, must be less than 1MB",),
        False,
    ),
    # --- §14.3 ServiceEntry
    (
        "se-no-host",
        se({"hosts": [], "ports": [HTTP_PORT], "resolution": "DNS"}),
        ("service entry must have at least one host",),
        False,
    ),
    ("se-star-host", se({"hosts": ["*"], "ports": [HTTP_PORT]}), ("invalid host *",), True),
    (
        "se-host-label",
        se({"hosts": ["foo_bar.com"], "ports": [HTTP_PORT]}),
        ('domain name "foo_bar.com" invalid (label "foo_bar" invalid)',),
        False,
    ),
    (
        "se-selector-endpoints",
        se(
            {
                "hosts": ["a.example.com"],
                "ports": [HTTP_PORT],
                "resolution": "STATIC",
                "workloadSelector": {"labels": {"app": "a"}},
                "endpoints": [{"address": "10.0.0.1"}],
            }
        ),
        ("only one of WorkloadSelector or Endpoints is allowed in Service Entry",),
        True,
    ),
    (
        "se-null-port",
        se({"hosts": ["a.example.com"], "ports": [None]}),
        ("service entry port may not be null",),
        True,
    ),
    (
        "se-port-name-dup",
        se(
            {
                "hosts": ["a.example.com"],
                "ports": [HTTP_PORT, {"number": 81, "name": "http", "protocol": "HTTP"}],
            }
        ),
        ('service entry port name "http" already defined',),
        False,
    ),
    (
        "se-port-number-dup",
        se(
            {
                "hosts": ["a.example.com"],
                "ports": [HTTP_PORT, {"number": 80, "name": "http2", "protocol": "HTTP"}],
            }
        ),
        ("service entry port 80 already defined",),
        True,
    ),
    (
        "se-port-name",
        se({"hosts": ["a.example.com"], "ports": [{"number": 80, "name": "http_1", "protocol": "HTTP"}]}),
        ("invalid port name: http_1",),
        False,
    ),
    (
        "se-protocol",
        se({"hosts": ["a.example.com"], "ports": [{"number": 80, "name": "http", "protocol": "FOO"}]}),
        ("unsupported protocol: FOO",),
        False,
    ),
    (
        "se-none-endpoints",
        se({"hosts": ["a.example.com"], "ports": [HTTP_PORT], "endpoints": [{"address": "10.0.0.1"}]}),
        ("no endpoints should be provided for resolution type none",),
        True,
    ),
    (
        "se-dns-wildcard",
        se({"hosts": ["*.example.com"], "ports": [HTTP_PORT], "resolution": "DNS"}),
        (
            "hosts must be FQDN or contain only prefix wildcards if no endpoints are provided for "
            "resolution mode "
            'DNS, domain name "*.example.com" invalid (label "*" invalid)',
        ),
        False,
    ),
    (
        "se-rr-endpoints",
        se(
            {
                "hosts": ["a.example.com"],
                "ports": [HTTP_PORT],
                "resolution": "DNS_ROUND_ROBIN",
                "endpoints": [{"address": "a.example.com"}, {"address": "b.example.com"}],
            }
        ),
        ("there must only be 0 or 1 endpoint for resolution mode DNS_ROUND_ROBIN",),
        True,
    ),
    (
        "se-endpoint-address",
        se(
            {
                "hosts": ["a.example.com"],
                "ports": [HTTP_PORT],
                "resolution": "DNS",
                "endpoints": [{"address": "foo_bar"}],
            }
        ),
        ('endpoint address "foo_bar" is not a valid FQDN or an IP address',),
        False,
    ),
    (
        "se-endpoint-port",
        se(
            {
                "hosts": ["a.example.com"],
                "ports": [HTTP_PORT],
                "resolution": "DNS",
                "endpoints": [{"address": "b.example.com", "ports": {"https": 443}}],
            }
        ),
        ("endpoint port 443 is not defined by the service entry",),
        False,
    ),
    (
        "se-multi-host-tcp",
        se(
            {
                "hosts": ["a.example.com", "b.example.com"],
                "addresses": ["240.0.0.1"],
                "resolution": "DNS",
                "ports": [{"number": 3306, "name": "tcp", "protocol": "TCP"}],
            }
        ),
        ("multiple hosts provided with non-HTTP, non-TLS ports",),
        False,
    ),
    (
        "se-resolution",
        se({"hosts": ["a.example.com"], "ports": [HTTP_PORT], "resolution": "FOO"}),
        ("unsupported resolution type FOO",),
        True,
    ),
    (
        "se-dynamic-dns-host",
        se({"hosts": ["a.example.com"], "ports": [HTTP_PORT], "resolution": "DYNAMIC_DNS"}),
        ("host must be wildcarded for resolution mode DYNAMIC_DNS",),
        False,
    ),
    (
        "se-dynamic-dns-protocol",
        se(
            {
                "hosts": ["*.example.com"],
                "ports": [{"number": 3306, "name": "tcp", "protocol": "TCP"}],
                "resolution": "DYNAMIC_DNS",
                "addresses": ["240.0.0.1"],
            }
        ),
        ("only HTTP, TLS, GRPC, and HTTP2 protocols are supported for resolution type DYNAMIC_DNS",),
        False,
    ),
    # --- §14.4 DestinationRule
    (
        "dr-host",
        dr({"host": "foo_bar.com"}),
        ('domain name "foo_bar.com" invalid (label "foo_bar" invalid)',),
        False,
    ),
    ("dr-null-subset", dr({"subsets": [None]}), ("subset may not be null",), True),
    (
        "dr-dup-subset",
        dr(
            {
                "subsets": [
                    {"name": "v1", "labels": {"version": "v1"}},
                    {"name": "v1", "labels": {"version": "v2"}},
                ]
            }
        ),
        ("duplicate subset names: v1",),
        False,
    ),
    ("dr-subset-empty", dr({"subsets": [{"name": ""}]}), ("subset name cannot be empty",), False),
    ("dr-subset-invalid", dr({"subsets": [{"name": "v_1"}]}), ("subset name is invalid: v_1",), False),
    ("dr-policy-empty", dr({"trafficPolicy": {}}), ("traffic policy must have at least one field",), False),
    (
        "dr-tunnel-proxy-protocol",
        dr(
            {
                "trafficPolicy": {
                    "tunnel": {"targetHost": "a.com", "targetPort": 8080},
                    "proxyProtocol": {"version": "V1"},
                }
            }
        ),
        ("tunnel and proxyProtocol must not be set together",),
        False,
    ),
    (
        "dr-null-port-policy",
        dr({"trafficPolicy": {"portLevelSettings": [None]}}),
        ("traffic policy may not be null",),
        True,
    ),
    (
        "dr-port-policy-port",
        dr({"trafficPolicy": {"portLevelSettings": [{"tls": {"mode": "SIMPLE"}}]}}),
        ("portTrafficPolicy must have valid port",),
        False,
    ),
    (
        "dr-port-policy-empty",
        dr({"trafficPolicy": {"portLevelSettings": [{"port": {"number": 80}}]}}),
        ("port traffic policy must have at least one field",),
        False,
    ),
    (
        "dr-mutual",
        dr({"trafficPolicy": {"tls": {"mode": "MUTUAL"}}}),
        ("client certificate required for mutual tls", "private key required for mutual tls"),
        False,
    ),
    (
        "dr-credential-and-certs",
        dr({"trafficPolicy": {"tls": {"mode": "SIMPLE", "credentialName": "c", "caCertificates": "/ca"}}}),
        ("cannot specify client certificates or CA certificate or CA CRL If credentialName is set",),
        False,
    ),
    (
        "dr-insecure-skip-verify",
        dr(
            {
                "trafficPolicy": {
                    "tls": {"mode": "SIMPLE", "insecureSkipVerify": True, "caCertificates": "/ca"}
                }
            }
        ),
        (
            "cannot specify CaCertificates or CredentialName or SubjectAltNames when InsecureSkipVerify is "
            "set true",
        ),
        False,
    ),
    (
        "dr-export-selector",
        dr({"workloadSelector": {"matchLabels": {"app": "a"}}, "exportTo": ["other"]}),
        ("destination rule with workload selector cannot have exportTo beyond current namespace",),
        False,
    ),
    ("dr-export-dup", dr({"exportTo": ["a", "a"]}), ("duplicate entries in exportTo for entry a",), False),
]


@pytest.mark.parametrize(
    ("manifest", "expected", "webhook_only"), [r[1:] for r in ERRORS], ids=[r[0] for r in ERRORS]
)
def test_webhook_error_text(manifest: dict[str, Any], expected: tuple[str, ...], webhook_only: bool) -> None:
    report = validate_webhook(manifest) if webhook_only else validate(manifest)
    assert report.schema_errors == ()
    assert report.unknown_fields == ()
    assert report.errors == expected
    if webhook_only:
        # The CRD schema stops these first: kubectl shows a schema error, never the webhook's text.
        assert not validate(manifest).ok


def test_one_error_appended_to_nil_multierror_renders_as_a_list() -> None:
    """``multierror.Append(nil, err)`` (validateHTTPRouteDestinations) keeps the list format."""
    report = validate_webhook(gvs(route=[{"weight": 100}]))
    assert report.webhook_message == "1 error occurred:\n\t* destination is required\n\n"


WARNINGS: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    (
        "gw-https-redirect",
        gw(https_server(mode="SIMPLE", credentialName="c", httpsRedirect=True)),
        ("tls.httpsRedirect should only be used with http servers",),
    ),
    (
        "gw-passthrough-certs",
        gw(https_server(credentialName="c")),
        ("PASSTHROUGH mode does not use certificates, they will be ignored",),
    ),
    (
        "gw-auto-passthrough-certs",
        gw(https_server(mode="AUTO_PASSTHROUGH", serverCertificate="/c")),
        ("AUTO_PASSTHROUGH mode does not use certificates, they will be ignored",),
    ),
    (
        "gw-tls-version",
        gw(https_server(mode="SIMPLE", credentialName="c", minProtocolVersion="TLSV1_0")),
        (
            "TLS version below TLSV1_2 require setting compatible ciphers as by default they no longer "
            "include "
            "compatible ciphers.",
        ),
    ),
    (
        "gw-invalid-ciphers",
        gw(https_server(mode="SIMPLE", credentialName="c", cipherSuites=["FOO", "BAR"])),
        ("ignoring invalid cipher suites: [BAR FOO]",),
    ),
    (
        "gw-duplicate-ciphers",
        gw(https_server(mode="SIMPLE", credentialName="c", cipherSuites=["AES128-SHA", "AES128-SHA"])),
        ("ignoring duplicate cipher suites: [AES128-SHA]",),
    ),
    (
        "gw-too-many-certs",
        gw(https_server(mode="SIMPLE", credentialNames=["a", "b", "c"])),
        ("SIMPLE can support up to 2 server certificates",),
    ),
    (
        "vs-legacy-gateway",
        vs(
            {
                "hosts": ["a.example.com"],
                "gateways": ["gw.istio-system.svc.cluster.local"],
                "http": [{"route": ROUTE}],
            }
        ),
        (
            'using legacy gatewayName format "gw.istio-system.svc.cluster.local"; prefer the '
            "<namespace>/<name> "
            'format: "istio-system/gw"',
        ),
    ),
    (
        "vs-sni-ip",
        vs(
            {
                "hosts": ["a.example.com"],
                "gateways": ["gw"],
                "tls": [{"match": [{"sniHosts": ["10.0.0.1"]}], "route": ROUTE}],
            }
        ),
        ('using an IP address ("10.0.0.1") goes against SNI spec and most clients do not support this',),
    ),
    (
        "vs-large-direct-response",
        gvs(directResponse={"status": 200, "body": {"string": "x" * (200 * 1024)}}),
        ("large direct_responses may impact control plane performance",),
    ),
    (
        "vs-unused-rule",
        vs({"hosts": ["a.example.com"], "gateways": ["gw"], "http": [{"route": ROUTE}, {"route": ROUTE}]}),
        ("virtualService rule #1 not used (only the last rule can have no matches)",),
    ),
    (
        "vs-duplicate-match",
        vs(
            {
                "hosts": ["a.example.com"],
                "gateways": ["gw"],
                "http": [
                    {"match": [{"uri": {"exact": "/a"}}], "route": ROUTE},
                    {"match": [{"uri": {"exact": "/a"}}], "route": ROUTE},
                ],
            }
        ),
        (
            "virtualService rule #1 match #0 is not used (duplicate/overlapping match in rule #0)",
            "virtualService rule #1 not used (all matches used by prior rules)",
        ),
    ),
    (
        "vs-overlapping-prefix",
        vs(
            {
                "hosts": ["a.example.com"],
                "gateways": ["gw"],
                "http": [
                    {"name": "status", "match": [{"uri": {"prefix": "/status"}}], "route": ROUTE},
                    {"name": "status-200", "match": [{"uri": {"prefix": "/status/200"}}], "route": ROUTE},
                ],
            }
        ),
        (
            'virtualService rule "status-200" match #0 of prefix /status/200 is not used '
            "(duplicate/overlapping "
            'match in rule #0 of prefix /status on "status")',
        ),
    ),
    (
        "se-partial-wildcard",
        se({"hosts": ["*foo.example.com"], "ports": [HTTP_PORT]}),
        ('partial wildcard "*foo.example.com" not allowed',),
    ),
    (
        "se-tcp-addresses",
        se(
            {
                "hosts": ["a.example.com"],
                "ports": [{"number": 3306, "name": "tcp", "protocol": "TCP"}],
                "resolution": "DNS",
            }
        ),
        (
            "addresses are required for ports serving TCP (or unset) protocol when IP Autoallocation is not "
            "enabled",
        ),
    ),
    (
        "se-selector-none",
        se({"hosts": ["a.example.com"], "ports": [HTTP_PORT], "workloadSelector": {"labels": {"app": "a"}}}),
        ("workloadSelector should not be set when resolution mode is NONE",),
    ),
    (
        "se-selector-no-labels",
        se(
            {"hosts": ["a.example.com"], "ports": [HTTP_PORT], "resolution": "STATIC", "workloadSelector": {}}
        ),
        (
            "service entry: workload selector specified without labels, will be applied to all services in "
            "namespace",
        ),
    ),
    (
        "se-no-warnings-for-egress-doc-entry",
        se(
            {
                "hosts": ["edition.cnn.com"],
                "resolution": "DNS",
                "ports": [
                    {"number": 80, "name": "http-port", "protocol": "HTTP"},
                    {"number": 443, "name": "https", "protocol": "HTTPS"},
                ],
            }
        ),
        (),
    ),
]


@pytest.mark.parametrize(("manifest", "expected"), [r[1:] for r in WARNINGS], ids=[r[0] for r in WARNINGS])
def test_webhook_warning_text(manifest: dict[str, Any], expected: tuple[str, ...]) -> None:
    report = validate(manifest)
    assert report.ok, report
    assert report.warnings == expected


def test_se_tcp_with_address_and_several_hosts_warns() -> None:
    report = validate(
        se(
            {
                "hosts": ["a.example.com", "b.example.com"],
                "addresses": ["240.0.0.1"],
                "resolution": "DNS",
                "ports": [{"number": 3306, "name": "tcp", "protocol": "TCP"}],
            }
        )
    )
    assert report.warnings == (
        "service entry can not have more than one host specified simultaneously with address and tcp port",
    )


SCHEMA: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    ("gw-port-required", gw({"hosts": ["a.example.com"]}), ("spec.servers[0].port: Required value",)),
    (
        "gw-hosts-required",
        gw({"port": {"number": 80, "name": "http", "protocol": "HTTP"}}),
        ("spec.servers[0].hosts: Required value",),
    ),
    (
        "gw-port-fields-required",
        gw({"port": {}, "hosts": ["a.example.com"]}),
        (
            "spec.servers[0].port.number: Required value",
            "spec.servers[0].port.protocol: Required value",
            "spec.servers[0].port.name: Required value",
        ),
    ),
    (
        "gw-tls-mode-enum",
        gw(https_server(mode="STRICT")),
        (
            'spec.servers[0].tls.mode: Unsupported value: "STRICT": supported values: "PASSTHROUGH", '
            '"SIMPLE", '
            '"MUTUAL", "AUTO_PASSTHROUGH", "ISTIO_MUTUAL", "OPTIONAL_MUTUAL"',
        ),
    ),
    (
        "gw-cel-credential-names",
        gw(https_server(mode="SIMPLE", credentialName="a", credentialNames=["b"])),
        (
            'spec.servers[0].tls: Invalid value: "object": only one of credentialName or credentialNames '
            "can be set",
        ),
    ),
    (
        "gw-cel-credential-certs",
        gw(https_server(mode="SIMPLE", credentialName="a", tlsCertificates=[{"serverCertificate": "/c"}])),
        (
            'spec.servers[0].tls: Invalid value: "object": only one of credentialName or tlsCertificates '
            "can be set",
        ),
    ),
    (
        "gw-cel-names-certs",
        gw(https_server(mode="SIMPLE", credentialNames=["a"], tlsCertificates=[{"serverCertificate": "/c"}])),
        (
            'spec.servers[0].tls: Invalid value: "object": only one of credentialNames or tlsCertificates '
            "can be set",
        ),
    ),
    (
        "gw-port-type",
        gw(server(port={"number": "eighty"})),
        (
            'spec.servers[0].port.number: Invalid value: "string": spec.servers[0].port.number in body must '
            "be of "
            'type integer: "string"',
        ),
    ),
    (
        "vs-destination-required",
        gvs(route=[{"weight": 100}]),
        ("spec.http[0].route[0].destination: Required value",),
    ),
    (
        "vs-host-required",
        gvs(route=[{"destination": {"subset": "v1"}}]),
        ("spec.http[0].route[0].destination.host: Required value",),
    ),
    (
        "vs-tls-match-required",
        vs({"hosts": ["a.example.com"], "gateways": ["gw"], "tls": [{"route": ROUTE}]}),
        ("spec.tls[0].match: Required value",),
    ),
    (
        "vs-sni-required",
        vs(
            {
                "hosts": ["a.example.com"],
                "gateways": ["gw"],
                "tls": [{"match": [{"port": 443}], "route": ROUTE}],
            }
        ),
        ("spec.tls[0].match[0].sniHosts: Required value",),
    ),
    (
        "vs-direct-response-status",
        gvs(directResponse={"body": {"string": "hi"}}),
        ("spec.http[0].directResponse.status: Required value",),
    ),
    (
        "vs-timeout",
        gvs(route=ROUTE, timeout="1x"),
        ('spec.http[0].timeout: Invalid value: "string": must be a valid duration greater than 1ms',),
    ),
    (
        "vs-per-try-timeout",
        gvs(route=ROUTE, retries={"attempts": 3, "perTryTimeout": "0s"}),
        (
            'spec.http[0].retries.perTryTimeout: Invalid value: "string": must be a valid duration greater '
            "than 1ms",
        ),
    ),
    (
        "vs-fixed-delay",
        gvs(route=ROUTE, fault={"delay": {"fixedDelay": "5"}}),
        (
            'spec.http[0].fault.delay.fixedDelay: Invalid value: "string": must be a valid duration greater '
            "than 1ms",
        ),
    ),
    (
        "vs-max-age",
        gvs(route=ROUTE, corsPolicy={"maxAge": "soon"}),
        (
            'spec.http[0].corsPolicy.maxAge: Invalid value: "string": must be a valid duration greater than '
            "1ms",
        ),
    ),
    (
        "se-spec-required",
        {**se({}), "spec": None} if False else {k: v for k, v in se({}).items() if k != "spec"},
        ("spec: Required value",),
    ),
    ("se-hosts-required", se({"ports": [HTTP_PORT]}), ("spec.hosts: Required value",)),
    (
        "se-wildcard",
        se({"hosts": ["*"]}),
        ('spec.hosts[0]: Invalid value: "string": hostname cannot be wildcard',),
    ),
    (
        "se-port-range",
        se({"hosts": ["a.example.com"], "ports": [{"number": 0, "name": "http"}]}),
        ('spec.ports[0].number: Invalid value: "integer": port must be between 1-65535',),
    ),
    (
        "se-port-dup",
        se({"hosts": ["a.example.com"], "ports": [HTTP_PORT, {"number": 80, "name": "h2"}]}),
        ('spec.ports: Invalid value: "array": port number cannot be duplicated',),
    ),
    (
        "se-port-fields",
        se({"hosts": ["a.example.com"], "ports": [{"protocol": "HTTP"}]}),
        ("spec.ports[0].number: Required value", "spec.ports[0].name: Required value"),
    ),
    (
        "se-cidr",
        se(
            {
                "hosts": ["a.example.com"],
                "addresses": ["10.0.0.0/24"],
                "resolution": "DNS",
                "ports": [HTTP_PORT],
            }
        ),
        ('spec: Invalid value: "object": CIDR addresses are allowed only for NONE/STATIC resolution types',),
    ),
    (
        "se-none-endpoints",
        se({"hosts": ["a.example.com"], "ports": [HTTP_PORT], "endpoints": [{"address": "10.0.0.1"}]}),
        ('spec: Invalid value: "object": NONE mode cannot set endpoints',),
    ),
    (
        "se-rr-endpoints",
        se(
            {
                "hosts": ["a.example.com"],
                "ports": [HTTP_PORT],
                "resolution": "DNS_ROUND_ROBIN",
                "endpoints": [{"address": "a.example.com"}, {"address": "b.example.com"}],
            }
        ),
        ('spec: Invalid value: "object": DNS_ROUND_ROBIN mode cannot have multiple endpoints',),
    ),
    (
        "se-selector-endpoints",
        se(
            {
                "hosts": ["a.example.com"],
                "ports": [HTTP_PORT],
                "resolution": "STATIC",
                "workloadSelector": {"labels": {"app": "a"}},
                "endpoints": [{"address": "10.0.0.1"}],
            }
        ),
        ('spec: Invalid value: "object": only one of WorkloadSelector or Endpoints can be set',),
    ),
    (
        "se-selector-wildcard",
        se(
            {
                "hosts": ["a.example.com"],
                "ports": [HTTP_PORT],
                "resolution": "STATIC",
                "workloadSelector": {"labels": {"app": "*"}},
            }
        ),
        ('spec.workloadSelector.labels: Invalid value: "object": wildcard is not supported in selector',),
    ),
    (
        "se-endpoint-address",
        se(
            {
                "hosts": ["a.example.com"],
                "ports": [HTTP_PORT],
                "resolution": "STATIC",
                "endpoints": [{"ports": {"http": 80}}],
            }
        ),
        ('spec.endpoints[0]: Invalid value: "object": Address is required',),
    ),
    (
        "se-endpoint-port-name",
        se(
            {
                "hosts": ["a.example.com"],
                "ports": [HTTP_PORT],
                "resolution": "STATIC",
                "endpoints": [{"address": "10.0.0.1", "ports": {"Bad_Name": 80}}],
            }
        ),
        ('spec.endpoints[0].ports: Invalid value: "object": port name must be valid',),
    ),
    (
        "se-location-enum",
        se({"hosts": ["a.example.com"], "ports": [HTTP_PORT], "location": "OUTSIDE"}),
        ('spec.location: Unsupported value: "OUTSIDE": supported values: "MESH_EXTERNAL", "MESH_INTERNAL"',),
    ),
    (
        "se-resolution-enum",
        se({"hosts": ["a.example.com"], "ports": [HTTP_PORT], "resolution": "FOO"}),
        (
            'spec.resolution: Unsupported value: "FOO": supported values: "NONE", "STATIC", "DNS", '
            '"DNS_ROUND_ROBIN", "DYNAMIC_DNS"',
        ),
    ),
    ("dr-host-required", {**dr({}), "spec": {}}, ("spec.host: Required value",)),
    (
        "dr-subset-name",
        dr({"subsets": [{"labels": {"version": "v1"}}]}),
        ("spec.subsets[0].name: Required value",),
    ),
    (
        "dr-tls-mode",
        dr({"trafficPolicy": {"tls": {"mode": "STRICT"}}}),
        (
            'spec.trafficPolicy.tls.mode: Unsupported value: "STRICT": supported values: "DISABLE", '
            '"SIMPLE", '
            '"MUTUAL", "ISTIO_MUTUAL"',
        ),
    ),
]


@pytest.mark.parametrize(("manifest", "expected"), [r[1:] for r in SCHEMA], ids=[r[0] for r in SCHEMA])
def test_schema_error_text(manifest: dict[str, Any], expected: tuple[str, ...]) -> None:
    report = validate(manifest)
    assert tuple(str(e) for e in report.schema_errors) == expected
    assert report.errors == ()  # the webhook is never reached


def test_unknown_fields_are_rejected_by_strict_decoding() -> None:
    manifest = gw(server(tls={"httpsRedirect": True}))
    manifest["spec"]["servers"][0]["hostz"] = ["x"]
    manifest["spec"]["extra"] = 1
    report = validate(manifest)
    assert report.unknown_fields == ("spec.servers[0].hostz", "spec.extra")
    assert not report.ok


def test_dry_run_annotation_is_rejected() -> None:
    manifest = gw(HTTP_SERVER)
    manifest["metadata"]["annotations"] = {"istio.io/dry-run": "true"}
    assert validate(manifest).errors == (
        "default/gw has unsupported annotation istio.io/dry-run, please remove the annotation",
    )


CORE: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    (
        "secret-tls-keys",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "c"},
            "type": "kubernetes.io/tls",
            "data": {},
        },
        ("data[tls.crt]: Required value", "data[tls.key]: Required value"),
    ),
    (
        "secret-tls-stringdata-ok",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "c"},
            "type": "kubernetes.io/tls",
            "stringData": {"tls.crt": "x", "tls.key": "y"},
        },
        (),
    ),
    (
        "service-port",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "s"},
            "spec": {"ports": [{"port": 70000}]},
        },
        ("spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive",),
    ),
    (
        "service-port-names",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "s"},
            "spec": {"ports": [{"port": 80}, {"port": 81}]},
        },
        ("spec.ports[0].name: Required value", "spec.ports[1].name: Required value"),
    ),
    (
        "namespace-name",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "Foo"}},
        (
            'metadata.name: Invalid value: "Foo": a lowercase RFC 1123 label must consist of lower case '
            "alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. "
            "'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
        ),
    ),
    (
        "deployment-containers",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "d"},
            "spec": {
                "selector": {"matchLabels": {"app": "d"}},
                "template": {"metadata": {"labels": {"app": "d"}}, "spec": {}},
            },
        },
        ("spec.template.spec.containers: Required value",),
    ),
]


@pytest.mark.parametrize(("manifest", "expected"), [r[1:] for r in CORE], ids=[r[0] for r in CORE])
def test_core_kind_checks(manifest: dict[str, Any], expected: tuple[str, ...]) -> None:
    assert tuple(str(e) for e in validate(manifest).schema_errors) == expected


def test_secret_base64_error() -> None:
    report = validate(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "c"}, "data": {"a": "ab!d"}}
    )
    assert report.decode_error == "illegal base64 data at input byte 2"


def test_unknown_fields_on_core_kinds_and_metadata() -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "c", "lables": {}}, "strigData": {}}
    # sigs.k8s.io/json reports strict-decoding errors in the body's order.
    assert validate(secret).unknown_fields == ("metadata.lables", "strigData")
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "sepc": {}}
    assert validate(svc).unknown_fields == ("sepc",)


# The webhook's kind -> validator table and validateHTTPRouteConflict for root and delegate routes.


def test_one_table_names_every_validated_kind() -> None:
    assert sorted(VALIDATORS) == [
        ("networking.istio.io", "DestinationRule"),
        ("networking.istio.io", "Gateway"),
        ("networking.istio.io", "ServiceEntry"),
        ("networking.istio.io", "VirtualService"),
    ]


def test_kinds_outside_the_table_pass_the_webhook() -> None:
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {}}
    report = validate_webhook(service)
    assert report.ok and not report.warnings


def test_route_conflict_matrix_is_istios() -> None:
    assert ROUTE_CONFLICTS["redirect"][0] == ("route", "HTTP route cannot contain both route and redirect")
    fields = [field for field, _ in ROUTE_CONFLICTS["directResponse"]]
    assert fields == ["route", "fault", "rewrite", "redirect"]


def test_root_route_may_only_delegate() -> None:
    http = {"name": "r", "delegate": {"name": "d"}, "redirect": {"uri": "/x"}, "route": ROUTE}
    report = validate_webhook(vs({"hosts": ["a.example.com"], "gateways": ["gw"], "http": [http]}))
    assert report.errors == (
        "root HTTP route r must not specify redirect",
        "root HTTP route r must not specify route",
    )


def test_delegate_route_cannot_delegate_again() -> None:
    report = validate_webhook(vs({"http": [{"delegate": {"name": "d2"}, "route": ROUTE}]}))
    assert report.errors == ("delegate HTTP route cannot contain delegate",)
