"""``apply`` through the sandbox: Istio's rejections come out as kubectl prints them, change nothing,
and the previous configuration keeps serving; warnings are printed and the object is created.

Rules: docs/behaviour.md §14 (validation texts and kubectl's wrapper), §6.
"""

from __future__ import annotations

import pytest
from sandbox_support import HTTPBIN_GATEWAY_YAML, HTTPBIN_VS_YAML, HTTPBIN_YAML

from gatewaykit.errors import ValidationError

STATUS_200 = 'curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/status/200"'
WEBHOOK = 'admission webhook "validation.istio.io" denied the request: configuration is invalid: '


def bad_gateway(host: str, name: str = "bad-gateway") -> str:
    return HTTPBIN_GATEWAY_YAML.replace("name: httpbin-gateway", f"name: {name}").replace(
        '"httpbin.example.com"', f'"{host}"'
    )


@pytest.fixture(scope="module", autouse=True)
def serving(sb):
    sb.apply(HTTPBIN_YAML)
    sb.apply(HTTPBIN_GATEWAY_YAML)
    sb.apply(HTTPBIN_VS_YAML)
    assert sb.curl(STATUS_200).status_line == "HTTP/1.1 200 OK"


@pytest.mark.parametrize(
    ("host", "message"),
    [
        # validateSidecarOrGatewayHostnamePart: the usual learner slip, a Service short name.
        ("httpbin", "short names (non FQDN) are not allowed"),
        (
            "httpbin_example.com",
            'domain name "httpbin_example.com" invalid (label "httpbin_example" invalid)',
        ),
    ],
)
def test_invalid_gateway_host_is_rejected_with_kubectl_text(sb, host, message):
    path = sb.work_dir / "bad-gateway.yaml"
    path.write_text(bad_gateway(host))
    with pytest.raises(ValidationError) as info:
        sb.apply(str(path))
    # docs/behaviour.md §14.0: kubectl's wrapper around the webhook's one error (bare message, no multierror
    # list).
    assert str(info.value) == f'Error from server: error when creating "{path}": {WEBHOOK}{message}'
    # The earlier configuration still serves.
    assert sb.curl(STATUS_200).status_line == "HTTP/1.1 200 OK"


def test_rejected_object_was_not_created(sb):
    with pytest.raises(ValidationError):
        sb.apply(bad_gateway("httpbin"))
    report = sb.delete(bad_gateway("httpbin"))
    assert str(report).startswith("Error from server (NotFound): ")
    assert str(report).endswith('gateways.networking.istio.io "bad-gateway" not found')


def test_several_errors_use_the_multierror_format(sb):
    with pytest.raises(ValidationError) as info:
        sb.apply(bad_gateway("http*.example.com"))
    text = str(info.value)
    assert text.startswith(
        f'Error from server: error when creating "manifest.yaml": {WEBHOOK}2 errors occurred:\n\t* '
    )
    assert '\t* partial wildcard "http*.example.com" not allowed\n' in text
    assert text.endswith("\n\n")


def test_invalid_update_keeps_the_old_object_serving(sb):
    # Updating the live Gateway to an invalid host is refused; the old Gateway keeps serving.
    with pytest.raises(ValidationError) as info:
        sb.apply(bad_gateway("httpbin", name="httpbin-gateway"))
    text = str(info.value)
    # kubectl apply on an existing object reports the failed patch (AddSourceToErr "applying patch").
    assert text.startswith("Error from server: error when applying patch:\n")
    assert text.endswith(
        f'for: "manifest.yaml": error when patching "manifest.yaml": {WEBHOOK}'
        "short names (non FQDN) are not allowed"
    )
    r = sb.curl(STATUS_200)
    assert r.status_line == "HTTP/1.1 200 OK"


def test_multi_document_apply_is_all_or_nothing(sb):
    # One invalid document rejects the whole apply: the valid VirtualService change is not made.
    widened_vs = HTTPBIN_VS_YAML.replace(
        "        prefix: /delay", "        prefix: /delay\n    - uri:\n        prefix: /headers"
    )
    with pytest.raises(ValidationError):
        sb.apply(widened_vs + "---\n" + bad_gateway("httpbin"))
    r = sb.curl('curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/headers"')
    assert r.status_line == "HTTP/1.1 404 Not Found"
    # Applied alone it is valid and serves immediately.
    try:
        assert str(sb.apply(widened_vs)) == "virtualservice.networking.istio.io/httpbin configured"
        r = sb.curl('curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/headers"')
        assert r.status_line == "HTTP/1.1 200 OK"
    finally:
        sb.apply(HTTPBIN_VS_YAML)


def test_invalid_virtual_service_keeps_routes(sb):
    with pytest.raises(ValidationError) as info:
        sb.apply(HTTPBIN_VS_YAML.replace("        host: httpbin", "        host: httpbin\n      weight: -1"))
    assert WEBHOOK in str(info.value) or "is invalid" in str(info.value)
    assert sb.curl(STATUS_200).status_line == "HTTP/1.1 200 OK"


def test_warning_is_printed_and_object_created(sb, kubectl):
    # docs/behaviour.md §6: httpsRedirect on an HTTPS server is accepted with a webhook warning (kubectl
    # "Warning: ").
    report = kubectl.apply(
        """\
apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata:
  name: warned-gateway
spec:
  selector:
    istio: ingressgateway
  servers:
  - port:
      number: 443
      name: https
      protocol: HTTPS
    tls:
      mode: SIMPLE
      credentialName: httpbin-credential
      httpsRedirect: true
    hosts:
    - warned.example.com
"""
    )
    assert str(report) == (
        "Warning: tls.httpsRedirect should only be used with http servers\n"
        "gateway.networking.istio.io/warned-gateway created"
    )
