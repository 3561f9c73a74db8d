"""What ``kubectl apply`` prints for Gateway API objects: the API server's CRD schema and CEL rules.

Rule texts are the ``x-kubernetes-validations`` messages of sigs.k8s.io/gateway-api v1.3.0
(``config/crd/experimental``, the version Istio 1.27 pins); message shapes are k8s.io/apimachinery
``field.Error`` as kubectl renders an ``Invalid`` Status (``The Gateway "x" is invalid: ...``).
Each row cites the CRD field whose rule it exercises.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from gatewaykit.errors import ValidationError
from gatewaykit.resources.codecs import load
from gatewaykit.resources.gatewayapi_schema import apply_defaults
from gatewaykit.resources.render import render_rejection
from gatewaykit.resources.validation import validate
from gatewaykit.store import ConfigStore

NOT_CHECKED = (
    '* <nil>: Invalid value: "null": some validation rules were not checked because the object was invalid; '
    "correct the existing errors to complete validation"
)


def gateway(listeners: str, extra: str = "") -> str:
    return f"""apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: gw, namespace: default}}
spec:
  gatewayClassName: istio
{extra}  listeners:
{listeners}"""


def route(rules: str, kind: str = "HTTPRoute", api: str = "v1") -> str:
    return f"""apiVersion: gateway.networking.k8s.io/{api}
kind: {kind}
metadata: {{name: r, namespace: default}}
spec:
  parentRefs: [{{name: gw}}]
  rules:
{rules}"""


@dataclass
class Row:
    name: str
    manifest: str
    text: str


ROWS = [
    Row(
        # listeners: "tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']"
        "tls on an HTTP listener",
        gateway("  - {name: http, port: 80, protocol: HTTP, tls: {certificateRefs: [{name: c}]}}\n"),
        'The Gateway "gw" is invalid: spec.listeners: Invalid value: "array": tls must not be specified for '
        "protocols ['HTTP', 'TCP', 'UDP']",
    ),
    Row(
        # listeners[].tls: the rule reads certificateRefs without has(): CEL's "no such key"
        "HTTPS listener without certificateRefs",
        gateway("  - {name: https, port: 443, protocol: HTTPS, tls: {mode: Terminate}}\n"),
        'The Gateway "gw" is invalid: spec.listeners[0].tls: Invalid value: "object": no such key: '
        "certificateRefs evaluating rule: certificateRefs or options must be specified when mode is Terminate",
    ),
    Row(
        # listeners is x-kubernetes-list-type: map (key name) and has a uniqueness rule
        "two listeners with one name",
        gateway("  - {name: web, port: 80, protocol: HTTP}\n  - {name: web, port: 8080, protocol: HTTP}\n"),
        'The Gateway "gw" is invalid: \n'
        '* spec.listeners[1]: Duplicate value: map[string]interface {}{"name":"web"}\n'
        '* spec.listeners: Invalid value: "array": Listener name must be unique within the Gateway',
    ),
    Row(
        "same port, protocol and hostname twice",
        gateway("  - {name: a, port: 80, protocol: HTTP}\n  - {name: b, port: 80, protocol: HTTP}\n"),
        'The Gateway "gw" is invalid: spec.listeners: Invalid value: "array": Combination of port, protocol and '
        "hostname must be unique for each listener",
    ),
    Row(
        "hostname on a TCP listener",
        gateway("  - {name: tcp, port: 31400, protocol: TCP, hostname: tcp.example.com}\n"),
        'The Gateway "gw" is invalid: spec.listeners: Invalid value: "array": hostname must not be specified '
        "for protocols ['TCP', 'UDP']",
    ),
    Row(
        # listeners[].port: minimum 1, maximum 65535 (not blocking: CEL still runs)
        "listener port out of range",
        gateway("  - {name: http, port: 70000, protocol: HTTP}\n"),
        'The Gateway "gw" is invalid: spec.listeners[0].port: Invalid value: 70000: spec.listeners[0].port in '
        "body should be less than or equal to 65535",
    ),
    Row(
        # spec.listeners: required (blocking: CEL skipped)
        "Gateway without listeners",
        gateway("").replace("  listeners:\n", ""),
        f'The Gateway "gw" is invalid: \n* spec.listeners: Required value\n{NOT_CHECKED}',
    ),
    Row(
        # listeners[].hostname pattern
        "uppercase listener hostname",
        gateway('  - {name: http, port: 80, protocol: HTTP, hostname: "Foo.example.com"}\n'),
        'The Gateway "gw" is invalid: spec.listeners[0].hostname: Invalid value: "Foo.example.com": '
        "spec.listeners[0].hostname in body should match "
        r"'^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'",
    ),
    Row(
        # metadata.name: NameIsDNSSubdomain (custom resources)
        "invalid name",
        gateway("  - {name: http, port: 80, protocol: HTTP}\n").replace("name: gw,", "name: My_Gateway,"),
        'The Gateway "My_Gateway" is invalid: metadata.name: Invalid value: "My_Gateway": a lowercase RFC 1123 '
        "subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with "
        "an alphanumeric character (e.g. 'example.com', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
    ),
    Row(
        # rules[].matches[].path: absolute-path rule for Exact/PathPrefix
        "relative path prefix",
        route(
            "  - matches: [{path: {type: PathPrefix, value: get}}]\n    backendRefs: [{name: httpbin, port: 8000}]\n"
        ),
        'The HTTPRoute "r" is invalid: spec.rules[0].matches[0].path: Invalid value: "object": value must be an '
        "absolute path and start with '/' when type one of ['Exact', 'PathPrefix']",
    ),
    Row(
        # rules[].matches[].path.type enum (blocking: CEL skipped)
        "unknown path type",
        route(
            "  - matches: [{path: {type: Prefix, value: /get}}]\n    backendRefs: [{name: httpbin, port: 8000}]\n"
        ),
        'The HTTPRoute "r" is invalid: \n* spec.rules[0].matches[0].path.type: Unsupported value: "Prefix": '
        f'supported values: "Exact", "PathPrefix", "RegularExpression"\n{NOT_CHECKED}',
    ),
    Row(
        # rules[].backendRefs[]: group "" and kind Service are defaulted, so the rule applies
        "Service backend without port",
        route("  - backendRefs: [{name: httpbin}]\n"),
        'The HTTPRoute "r" is invalid: spec.rules[0].backendRefs[0]: Invalid value: "object": Must have port for '
        "Service reference",
    ),
    Row(
        "redirect together with backends",
        route(
            "  - filters: [{type: RequestRedirect, requestRedirect: {scheme: https}}]\n"
            "    backendRefs: [{name: httpbin, port: 8000}]\n"
        ),
        'The HTTPRoute "r" is invalid: spec.rules[0]: Invalid value: "object": RequestRedirect filter must not be '
        "used together with backendRefs",
    ),
    Row(
        # requestRedirect.statusCode: enum 301, 302
        "redirect status 307",
        route("  - filters: [{type: RequestRedirect, requestRedirect: {statusCode: 307}}]\n"),
        'The HTTPRoute "r" is invalid: \n* spec.rules[0].filters[0].requestRedirect.statusCode: Unsupported value: '
        f'307: supported values: "301", "302"\n{NOT_CHECKED}',
    ),
    Row(
        "filter type without its configuration",
        route("  - filters: [{type: URLRewrite}]\n    backendRefs: [{name: httpbin, port: 8000}]\n"),
        'The HTTPRoute "r" is invalid: spec.rules[0].filters[0]: Invalid value: "object": filter.urlRewrite must be '
        "specified for URLRewrite filter.type",
    ),
    Row(
        "URLRewrite replacePrefixMatch with an exact match",
        route(
            "  - matches: [{path: {type: Exact, value: /a}}]\n"
            "    filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /b}}}]\n"
            "    backendRefs: [{name: httpbin, port: 8000}]\n"
        ),
        'The HTTPRoute "r" is invalid: spec.rules[0]: Invalid value: "object": When using URLRewrite filter with '
        "path.replacePrefixMatch, exactly one PathPrefix match must be specified",
    ),
    Row(
        "backendRequest timeout longer than request",
        route(
            "  - timeouts: {request: 1s, backendRequest: 2s}\n    backendRefs: [{name: httpbin, port: 8000}]\n"
        ),
        'The HTTPRoute "r" is invalid: spec.rules[0].timeouts: Invalid value: "object": backendRequest timeout '
        "cannot be longer than request timeout",
    ),
    Row(
        "two parentRefs to one Gateway without sectionName",
        route("  - backendRefs: [{name: httpbin, port: 8000}]\n").replace(
            "parentRefs: [{name: gw}]", "parentRefs: [{name: gw}, {name: gw, sectionName: http}]"
        ),
        'The HTTPRoute "r" is invalid: spec.parentRefs: Invalid value: "array": sectionName or port must be '
        "specified when parentRefs includes 2 or more references to the same parent",
    ),
    Row(
        # TLSRoute (v1alpha2): rules are required
        "TLSRoute without rules",
        route("", kind="TLSRoute", api="v1alpha2").replace(
            "  rules:\n", "  hostnames: [nginx.example.com]\n"
        ),
        f'The TLSRoute "r" is invalid: \n* spec.rules: Required value\n{NOT_CHECKED}',
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_rejection_text(row: Row) -> None:
    (manifest,) = load(row.manifest, name="x.yaml")
    report = validate(manifest)
    assert not report.ok
    assert render_rejection(manifest, report) == row.text


def test_unknown_field_is_a_strict_decoding_error() -> None:
    (manifest,) = load(
        gateway("  - {name: http, port: 80, protocol: HTTP, hostnames: [a.example.com]}\n"), name="gw.yaml"
    )
    report = validate(manifest)
    assert render_rejection(manifest, report) == (
        'Error from server (BadRequest): error when creating "gw.yaml": Gateway in version "v1" cannot be handled '
        'as a Gateway: strict decoding error: unknown field "spec.listeners[0].hostnames"'
    )


def test_valid_objects_of_every_kind_are_admitted() -> None:
    docs = load(
        gateway("  - {name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}\n")
        + "---\n"
        + route(
            "  - matches: [{path: {type: PathPrefix, value: /get}}]\n    backendRefs: [{name: httpbin, port: 8000}]\n"
        )
        + """---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: g, namespace: default}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: apps}]
  to: [{group: "", kind: Service}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: mine}
spec: {controllerName: example.com/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: g, namespace: default}
spec:
  rules: [{matches: [{method: {service: helloworld.Greeter}}], backendRefs: [{name: grpc, port: 50051}]}]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: {name: t, namespace: default}
spec:
  rules: [{backendRefs: [{name: tcp-echo, port: 9000}]}]
"""
    )
    assert [validate(d).ok for d in docs] == [True] * 6


def test_apply_lines_and_the_two_gateway_kinds_side_by_side() -> None:
    store = ConfigStore()
    store.apply(load("apiVersion: v1\nkind: Namespace\nmetadata: {name: default}\n"))
    istio_gateway = """apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
---
"""
    result = store.apply(load(istio_gateway + gateway("  - {name: http, port: 80, protocol: HTTP}\n")))
    assert result.lines == (
        "gateway.networking.istio.io/gw created",
        "gateway.gateway.networking.k8s.io/gw created",
    )
    snap = store.snapshot()
    assert [g.apiVersion for g in snap.list("Gateway")] == ["networking.istio.io/v1"]
    assert [g.apiVersion for g in snap.list("Gateway.gateway.networking.k8s.io")] == [
        "gateway.networking.k8s.io/v1"
    ]
    deleted = store.delete(load(gateway("  - {name: http, port: 80, protocol: HTTP}\n")))
    assert deleted.lines == ('gateway.gateway.networking.k8s.io "gw" deleted',)
    assert len(store.snapshot().list("Gateway")) == 1


def test_a_rejected_object_changes_nothing() -> None:
    store = ConfigStore()
    store.apply(load("apiVersion: v1\nkind: Namespace\nmetadata: {name: default}\n"))
    with pytest.raises(ValidationError, match="Must have port for Service reference"):
        store.apply(load(route("  - backendRefs: [{name: httpbin}]\n")))
    assert store.snapshot().list("HTTPRoute") == ()


def test_crd_defaults_are_what_the_api_server_stores() -> None:
    (gw,) = load(
        gateway("  - {name: https, port: 443, protocol: HTTPS, tls: {certificateRefs: [{name: c}]}}\n")
    )
    spec = apply_defaults("Gateway", gw.raw)
    listener = spec["spec"]["listeners"][0]
    assert listener["allowedRoutes"] == {"namespaces": {"from": "Same"}}
    assert listener["tls"] == {
        "mode": "Terminate",
        "certificateRefs": [{"name": "c", "group": "", "kind": "Secret"}],
    }
    assert [(c["type"], c["status"], c["reason"]) for c in spec["status"]["conditions"]] == [
        ("Accepted", "Unknown", "Pending"),
        ("Programmed", "Unknown", "Pending"),
    ]
    (r,) = load(route("  - backendRefs: [{name: httpbin, port: 8000}]\n"))
    rule = apply_defaults("HTTPRoute", r.raw)["spec"]["rules"][0]
    assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
    assert rule["backendRefs"] == [
        {"name": "httpbin", "port": 8000, "group": "", "kind": "Service", "weight": 1}
    ]
    assert apply_defaults("HTTPRoute", r.raw)["spec"]["parentRefs"] == [
        {"name": "gw", "group": "gateway.networking.k8s.io", "kind": "Gateway"}
    ]
