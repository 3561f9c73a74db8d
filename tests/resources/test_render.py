"""kubectl's rendering of rejections and warnings (docs/behaviour.md §14.0)."""

from __future__ import annotations

from gatewaykit.resources.codecs import load
from gatewaykit.resources.render import render_rejection, render_warnings
from gatewaykit.resources.validation import validate

BAD_GW = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: gw
spec:
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [%s]
"""


def _render(text: str, **kw: object) -> str:
    manifest = load(text, name="invalid-gateway.yaml")[0]
    return render_rejection(manifest, validate(manifest), **kw)  # type: ignore[arg-type]


def test_single_webhook_error() -> None:
    text = "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw}\nspec: {servers: []}\n"
    assert _render(text) == (
        'Error from server: error when creating "invalid-gateway.yaml": admission webhook '
        '"validation.istio.io" '
        "denied the request: configuration is invalid: gateway must have at least one server"
    )


def test_several_webhook_errors_in_multierror_format() -> None:
    assert _render(BAD_GW % "httpbin, foo_bar.com") == (
        'Error from server: error when creating "invalid-gateway.yaml": admission webhook '
        '"validation.istio.io" '
        "denied the request: configuration is invalid: 2 errors occurred:\n"
        "\t* short names (non FQDN) are not allowed\n"
        '\t* domain name "foo_bar.com" invalid (label "foo_bar" invalid)\n\n'
    )


def test_single_schema_error() -> None:
    text = (
        "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw}\n"
        "spec:\n  servers:\n  - hosts: [a.b]\n"
    )
    assert _render(text) == 'The Gateway "gw" is invalid: spec.servers[0].port: Required value'


def test_several_schema_errors_joined_like_kubectl() -> None:
    text = (
        "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw}\n"
        "spec:\n  servers:\n  - port: {number: 80}\n"
    )
    assert _render(text) == (
        'The Gateway "gw" is invalid: \n'
        "* spec.servers[0].hosts: Required value\n"
        "* spec.servers[0].port.protocol: Required value\n"
        "* spec.servers[0].port.name: Required value"
    )


def test_unknown_field_is_a_strict_decoding_error() -> None:
    text = BAD_GW.replace("hosts:", "hostz:") % "a.example.com"
    assert _render(text) == (
        'Error from server (BadRequest): error when creating "invalid-gateway.yaml": Gateway in version "v1" '
        'cannot be handled as a Gateway: strict decoding error: unknown field "spec.servers[0].hostz"'
    )


def test_patching_an_existing_object() -> None:
    rendered = _render(
        "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw}\nspec: {}\n",
        verb="patching",
        patch={"spec": None},
    )
    assert rendered == (
        'Error from server: error when applying patch:\n{"spec":null}\nto:\n'
        'Resource: "networking.istio.io/v1, Resource=gateways", GroupVersionKind: '
        '"networking.istio.io/v1, Kind=Gateway"\n'
        'Name: "gw", Namespace: "default"\n'
        'for: "invalid-gateway.yaml": error when patching "invalid-gateway.yaml": admission webhook '
        '"validation.istio.io" denied the request: configuration is invalid: gateway must have at least one '
        "server"
    )


def test_secret_decode_error() -> None:
    text = "apiVersion: v1\nkind: Secret\nmetadata: {name: c}\ndata: {tls.crt: '@@@@'}\n"
    assert _render(text) == (
        'Error from server (BadRequest): error when creating "invalid-gateway.yaml": Secret in version "v1" '
        "cannot be handled as a Secret: illegal base64 data at input byte 0"
    )


def test_warning_lines() -> None:
    text = (
        "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw}\nspec:\n  servers:\n"
        "  - port: {number: 443, name: https, protocol: HTTPS}\n    hosts: [a.example.com]\n"
        "    tls: {credentialName: c}\n"
    )
    report = validate(load(text)[0])
    assert render_warnings(report) == (
        "Warning: PASSTHROUGH mode does not use certificates, they will be ignored",
    )
