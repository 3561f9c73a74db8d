"""Istio's secure-ingress task (single host, rotation, multiple hosts, mutual TLS) and the credential
rules behind it, replayed with the docs' own commands against the embedded sandbox.

Docs: istio/istio.io content/en/docs/tasks/traffic-management/ingress/secure-ingress/snips.sh.
Rules: ../shared/reference/istio-behavior.md §1.5, §1.6, §4.4, §7, §8.
"""

from __future__ import annotations

import pathlib
import re

import pytest
import yaml
from sandbox_support import (
    HELLOWORLD_SERVICE_YAML,
    HTTPBIN_YAML,
    TEAPOT,
    helloworld_deployment,
)

import gatewaykit
from gatewaykit.certs import make_ca, make_cert

# snip_configure_a_tls_ingress_gateway_for_a_single_host_7 (and _9/_10 with other CA files).
CURL_418 = (
    'curl -v -HHost:httpbin.example.com --resolve "httpbin.example.com:$SECURE_INGRESS_PORT:$INGRESS_HOST" \\\n'  # noqa: E501 (the docs command)
    '  --cacert {ca} "https://httpbin.example.com:$SECURE_INGRESS_PORT/status/418"'
)
CURL_418_CERTS1 = CURL_418.format(ca="example_certs1/example.com.crt")
# snip_configure_a_mutual_tls_ingress_gateway_5
CURL_418_CLIENT_CERT = (
    'curl -v -HHost:httpbin.example.com --resolve "httpbin.example.com:$SECURE_INGRESS_PORT:$INGRESS_HOST" \\\n'  # noqa: E501 (the docs command)
    "  --cacert example_certs1/example.com.crt --cert example_certs1/client.example.com.crt "
    "--key example_certs1/client.example.com.key \\\n"
    '  "https://httpbin.example.com:$SECURE_INGRESS_PORT/status/418"'
)


def gateway(mode: str, credential: str = "httpbin-credential", extra_tls: str = "") -> str:
    """The task's ``mygateway`` (snip_configure_a_tls_ingress_gateway_for_a_single_host_2 and
    snip_configure_a_mutual_tls_ingress_gateway_2) with the given TLS mode."""
    return f"""\
apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata:
  name: mygateway
spec:
  selector:
    istio: ingressgateway # use istio default ingress gateway
  servers:
  - port:
      number: 443
      name: https
      protocol: HTTPS
    tls:
      mode: {mode}
      credentialName: {credential} # must be the same as secret{extra_tls}
    hosts:
    - httpbin.example.com
"""


# snip_configure_a_tls_ingress_gateway_for_a_single_host_3
HTTPBIN_VS = """\
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: httpbin
spec:
  hosts:
  - "httpbin.example.com"
  gateways:
  - mygateway
  http:
  - match:
    - uri:
        prefix: /status
    - uri:
        prefix: /delay
    route:
    - destination:
        port:
          number: 8000
        host: httpbin
"""

# snip_configure_a_tls_ingress_gateway_for_multiple_hosts_4
MULTI_HOST_GATEWAY = """\
apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata:
  name: mygateway
spec:
  selector:
    istio: ingressgateway # use istio default ingress gateway
  servers:
  - port:
      number: 443
      name: https-httpbin
      protocol: HTTPS
    tls:
      mode: SIMPLE
      credentialName: httpbin-credential
    hosts:
    - httpbin.example.com
  - port:
      number: 443
      name: https-helloworld
      protocol: HTTPS
    tls:
      mode: SIMPLE
      credentialName: helloworld-credential
    hosts:
    - helloworld.example.com
"""

# snip_configure_a_tls_ingress_gateway_for_multiple_hosts_5
HELLOWORLD_VS = """\
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: helloworld
spec:
  hosts:
  - helloworld.example.com
  gateways:
  - mygateway
  http:
  - match:
    - uri:
        exact: /hello
    route:
    - destination:
        host: helloworld
        port:
          number: 5000
"""


@pytest.fixture(scope="module", autouse=True)
def workloads(sb):
    """snip_before_you_begin_1 and snip_configure_a_tls_ingress_gateway_for_multiple_hosts_2."""
    sb.apply(HTTPBIN_YAML)
    sb.apply(HELLOWORLD_SERVICE_YAML)
    sb.apply(helloworld_deployment("v1"))


@pytest.fixture()
def httpbin_credential(kubectl):
    """snip_configure_a_tls_ingress_gateway_for_a_single_host_1."""
    report = kubectl.create_secret_tls(
        "httpbin-credential",
        key="example_certs1/httpbin.example.com.key",
        cert="example_certs1/httpbin.example.com.crt",
        namespace="istio-system",
    )
    assert str(report) == "secret/httpbin-credential created"


def assert_teapot_over_h2(r) -> None:
    """What snip_..._single_host_7_out shows: ``HTTP/2 418`` then the teapot."""
    assert r.exit_code == 0, r
    # §1.5: h2 via ALPN, no reason phrase (curl prints "< HTTP/2 418 " with a trailing blank). Its
    # progress meter may precede it on the same terminal line, when a second ticks by mid-request.
    assert "< HTTP/2 418 \r\n" in r.stderr
    assert r.status_line == "HTTP/2 418"
    assert r.headers["server"] == "istio-envoy"
    assert r.headers["x-more-info"] == "http://tools.ietf.org/html/rfc2324"
    assert "x-envoy-upstream-service-time" in r.headers
    assert r.stdout == TEAPOT


# -------------------------------------------------------------------------------- single host


def test_single_host_simple_tls(sb, kubectl, httpbin_credential):
    assert str(kubectl.apply(gateway("SIMPLE"))) == "gateway.networking.istio.io/mygateway created"
    kubectl.apply(HTTPBIN_VS)
    r = sb.curl(CURL_418_CERTS1)
    assert_teapot_over_h2(r)
    err = r.stderr
    # What curl -v shows about the handshake: TLS 1.3, h2 by ALPN, the docs' server certificate.
    assert "* SSL connection using TLSv1.3" in err
    assert "* ALPN: server accepted h2" in err
    assert "*  subject: CN=httpbin.example.com; O=httpbin organization" in err
    assert "*  issuer: O=example Inc.; CN=example.com" in err
    assert "*  SSL certificate verify ok." in err


def test_https_with_http1_only_client_gets_envoy_reason_phrase(sb, kubectl, httpbin_credential):
    kubectl.apply(gateway("SIMPLE"))
    kubectl.apply(HTTPBIN_VS)
    r = sb.curl(CURL_418_CERTS1.replace("curl -v", "curl -v --http1.1"))
    assert r.exit_code == 0, r
    assert r.status_line == "HTTP/1.1 418 Unknown"  # §1.5
    assert "* ALPN: server accepted http/1.1" in r.stderr
    assert r.stdout == TEAPOT


def test_secure_unrouted_path_is_404_over_h2(sb, kubectl, httpbin_credential):
    kubectl.apply(gateway("SIMPLE"))
    kubectl.apply(HTTPBIN_VS)
    r = sb.curl(CURL_418_CERTS1.replace("/status/418", "/headers"))
    assert r.exit_code == 0, r
    assert r.status_line == "HTTP/2 404"
    assert r.stdout == ""
    assert "x-envoy-upstream-service-time" not in r.headers


def test_certificate_rotation(sb, kubectl, httpbin_credential):
    # snip_configure_a_tls_ingress_gateway_for_a_single_host_8 .. _10 (§8.1: rotation is live).
    kubectl.apply(gateway("SIMPLE"))
    kubectl.apply(HTTPBIN_VS)
    assert_teapot_over_h2(sb.curl(CURL_418_CERTS1))

    report = kubectl.delete_secret("httpbin-credential", namespace="istio-system")
    assert str(report) == 'secret "httpbin-credential" deleted'
    kubectl.create_secret_tls(
        "httpbin-credential",
        key="example_certs2/httpbin.example.com.key",
        cert="example_certs2/httpbin.example.com.crt",
        namespace="istio-system",
    )
    # _9: the new CA verifies the new certificate.
    assert_teapot_over_h2(sb.curl(CURL_418.format(ca="example_certs2/example.com.crt")))
    # _10: the old CA no longer verifies the new certificate. Both CAs have the same subject, so
    # OpenSSL checks the server's signature with the wrong key and fails the handshake itself:
    # curl exit 35 (the docs show LibreSSL's "rsa routines:...:block type is not 01"; OpenSSL 3
    # says "rsa routines::data too large for modulus" or similar).
    old = sb.curl(CURL_418_CERTS1)
    assert old.exit_code == 35, old
    assert "curl: (35)" in old.stderr and "rsa routines" in old.stderr
    assert old.status is None
    assert old.stdout == ""


def test_missing_secret_fails_the_handshake(sb, kubectl):
    # §8.1: the listener is not blocked, but the chain has no certificate -> handshake failure (35).
    kubectl.apply(gateway("SIMPLE", credential="does-not-exist"))
    kubectl.apply(HTTPBIN_VS)
    r = sb.curl(CURL_418_CERTS1)
    assert r.exit_code == 35, r
    assert r.status is None


def test_secret_in_gateway_resource_namespace_is_not_used(sb, kubectl):
    # §8.1: the secret must be in the namespace of the gateway *workload* (istio-system), not the
    # Gateway resource's (default): istiod refuses the cross-namespace reference.
    kubectl.create_secret_tls(
        "httpbin-credential",
        key="example_certs1/httpbin.example.com.key",
        cert="example_certs1/httpbin.example.com.crt",
        namespace="default",
    )
    kubectl.apply(gateway("SIMPLE"))
    kubectl.apply(HTTPBIN_VS)
    r = sb.curl(CURL_418_CERTS1)
    assert r.exit_code == 35, r
    assert "curl: (35)" in r.stderr


def test_no_sni_fails_the_handshake(sb, kubectl, httpbin_credential):
    # §4.4: -H Host with an IP URL sends no SNI; the server's hosts are not "*", so no filter chain
    # matches and Envoy closes the connection: curl exit 35 (SSL_ERROR_SYSCALL, [GH-31423]).
    kubectl.apply(gateway("SIMPLE"))
    kubectl.apply(HTTPBIN_VS)
    r = sb.curl(
        "curl -v -HHost:httpbin.example.com --cacert example_certs1/example.com.crt "
        '"https://$INGRESS_HOST:$SECURE_INGRESS_PORT/status/418"'
    )
    assert r.exit_code == 35, r
    assert "curl: (35)" in r.stderr
    assert "SSL_connect" in r.stderr
    assert r.status is None


def test_unknown_sni_fails_the_handshake(sb, kubectl, httpbin_credential):
    kubectl.apply(gateway("SIMPLE"))
    kubectl.apply(HTTPBIN_VS)
    r = sb.curl(
        'curl -s -k --resolve "other.example.com:$SECURE_INGRESS_PORT:$INGRESS_HOST" '
        '"https://other.example.com:$SECURE_INGRESS_PORT/status/418"'
    )
    assert r.exit_code == 35, r


def test_no_https_server_means_connection_refused(sb):
    # §1.6, §2: no Gateway server on 443 -> no listener -> curl exit 7.
    r = sb.curl(CURL_418_CERTS1)
    assert r.exit_code == 7, r
    assert "Connection refused" in r.stderr


# ----------------------------------------------------------------------------- multiple hosts


def test_multiple_hosts_sni_selects_certificate_and_routes(sb, kubectl, httpbin_credential):
    # snip_configure_a_tls_ingress_gateway_for_multiple_hosts_3 .. _9
    kubectl.create_secret_tls(
        "helloworld-credential",
        key="example_certs1/helloworld.example.com.key",
        cert="example_certs1/helloworld.example.com.crt",
        namespace="istio-system",
    )
    kubectl.apply(MULTI_HOST_GATEWAY)
    kubectl.apply(HELLOWORLD_VS)
    kubectl.apply(HTTPBIN_VS)
    hello = sb.curl(
        'curl -v -HHost:helloworld.example.com --resolve "helloworld.example.com:$SECURE_INGRESS_PORT:$INGRESS_HOST" \\\n'  # noqa: E501 (the docs command)
        '  --cacert example_certs1/example.com.crt "https://helloworld.example.com:$SECURE_INGRESS_PORT/hello"'
    )
    assert hello.exit_code == 0, hello
    assert hello.status_line == "HTTP/2 200"  # snip_..._multiple_hosts_8_out
    assert "*  subject: CN=helloworld.example.com; O=helloworld organization" in hello.stderr
    pod = next(p.name for p in sb.pods() if p.name.startswith("helloworld-v1-"))
    assert hello.stdout == f"Hello version: v1, instance: {pod}\n"

    bin_ = sb.curl(CURL_418_CERTS1)
    assert_teapot_over_h2(bin_)  # snip_..._multiple_hosts_9_out
    assert "*  subject: CN=httpbin.example.com; O=httpbin organization" in bin_.stderr


def test_sni_of_one_server_host_of_another_is_404(sb, kubectl, httpbin_credential):
    # §4.4: each HTTPS server has its own route config exposing only its hosts.
    kubectl.create_secret_tls(
        "helloworld-credential",
        key="example_certs1/helloworld.example.com.key",
        cert="example_certs1/helloworld.example.com.crt",
        namespace="istio-system",
    )
    kubectl.apply(MULTI_HOST_GATEWAY)
    kubectl.apply(HELLOWORLD_VS)
    kubectl.apply(HTTPBIN_VS)
    r = sb.curl(
        'curl -s -i -HHost:httpbin.example.com --resolve "helloworld.example.com:$SECURE_INGRESS_PORT:$INGRESS_HOST" '  # noqa: E501 (the docs command)
        '--cacert example_certs1/example.com.crt "https://helloworld.example.com:$SECURE_INGRESS_PORT/status/418"'
    )
    assert r.exit_code == 0, r
    assert r.status_line == "HTTP/2 404"


# ------------------------------------------------------------------------------------- mutual


@pytest.fixture()
def mutual_credential(kubectl):
    """snip_configure_a_mutual_tls_ingress_gateway_1 (generic secret tls.key/tls.crt/ca.crt)."""
    kubectl.create_secret_generic(
        "httpbin-credential",
        {
            "tls.key": "example_certs1/httpbin.example.com.key",
            "tls.crt": "example_certs1/httpbin.example.com.crt",
            "ca.crt": "example_certs1/example.com.crt",
        },
        namespace="istio-system",
    )


def test_mutual_without_client_cert_gets_certificate_required(sb, kubectl, mutual_credential):
    # snip_configure_a_mutual_tls_ingress_gateway_4_out; §1.6: TLS 1.3 alert, curl exit 56.
    kubectl.apply(gateway("MUTUAL"))
    kubectl.apply(HTTPBIN_VS)
    r = sb.curl(CURL_418_CERTS1)
    assert r.exit_code == 56, r
    assert "* TLSv1.3 (IN), TLS handshake, Request CERT (13):" in r.stderr
    assert "alert certificate required" in r.stderr
    assert r.status is None
    assert r.stdout == ""


def test_mutual_with_client_cert(sb, kubectl, mutual_credential):
    # snip_configure_a_mutual_tls_ingress_gateway_5_out: the teapot.
    kubectl.apply(gateway("MUTUAL"))
    kubectl.apply(HTTPBIN_VS)
    assert_teapot_over_h2(sb.curl(CURL_418_CLIENT_CERT))


def test_mutual_with_untrusted_client_cert_fails(sb, kubectl, mutual_credential):
    # §7: a client certificate from another CA is rejected during the handshake (text not asserted, §19).
    kubectl.apply(gateway("MUTUAL"))
    kubectl.apply(HTTPBIN_VS)
    r = sb.curl(
        CURL_418_CLIENT_CERT.replace(
            "example_certs1/client.example.com", "example_certs2/httpbin.example.com"
        )
    )
    assert r.exit_code in (35, 56), r
    assert r.status is None


def test_optional_mutual_without_client_cert(sb, kubectl, mutual_credential):
    # §7: OPTIONAL_MUTUAL -- no certificate is fine, a presented one is verified.
    kubectl.apply(gateway("OPTIONAL_MUTUAL"))
    kubectl.apply(HTTPBIN_VS)
    assert_teapot_over_h2(sb.curl(CURL_418_CERTS1))
    assert_teapot_over_h2(sb.curl(CURL_418_CLIENT_CERT))
    bad = sb.curl(
        CURL_418_CLIENT_CERT.replace(
            "example_certs1/client.example.com", "example_certs2/httpbin.example.com"
        )
    )
    assert bad.exit_code in (35, 56), bad


def test_simple_does_not_request_client_cert(sb, kubectl, httpbin_credential):
    kubectl.apply(gateway("SIMPLE"))
    kubectl.apply(HTTPBIN_VS)
    r = sb.curl(CURL_418_CLIENT_CERT)
    assert_teapot_over_h2(r)
    assert "Request CERT" not in r.stderr


# ------------------------------------------------------------------------ credential key layouts (§8.1)


def test_layout_cert_key_cacert(sb, kubectl):
    # §8.1 layout 2: generic with cert + key (+ cacert for mutual TLS).
    kubectl.create_secret_generic(
        "httpbin-credential",
        {
            "key": "example_certs1/httpbin.example.com.key",
            "cert": "example_certs1/httpbin.example.com.crt",
            "cacert": "example_certs1/example.com.crt",
        },
        namespace="istio-system",
    )
    kubectl.apply(gateway("MUTUAL"))
    kubectl.apply(HTTPBIN_VS)
    assert_teapot_over_h2(sb.curl(CURL_418_CLIENT_CERT))
    assert sb.curl(CURL_418_CERTS1).exit_code == 56


def test_layout_separate_cacert_secret(sb, kubectl):
    # §8.1 layout 3: cert + key in <name>, the CA in <name>-cacert (key cacert).
    kubectl.create_secret_generic(
        "httpbin-credential",
        {"key": "example_certs1/httpbin.example.com.key", "cert": "example_certs1/httpbin.example.com.crt"},
        namespace="istio-system",
    )
    kubectl.create_secret_generic(
        "httpbin-credential-cacert", {"cacert": "example_certs1/example.com.crt"}, namespace="istio-system"
    )
    kubectl.apply(gateway("MUTUAL"))
    kubectl.apply(HTTPBIN_VS)
    assert_teapot_over_h2(sb.curl(CURL_418_CLIENT_CERT))
    assert sb.curl(CURL_418_CERTS1).exit_code == 56


def test_layout_cacert_bundle(sb, kubectl):
    # §8.1 layout 4: cacert may be a bundle; a client cert from either CA verifies. (The second
    # CA has its own subject: two CAs with the docs' identical subject cannot share a bundle,
    # since the leaves carry no authorityKeyIdentifier and lookup is by subject name.)
    other_ca = make_ca(cn="other-ca.example.org", org="other Inc.")
    other_client = make_cert("client.example.org", "client organization", other_ca, 7)
    root = pathlib.Path(sb.work_dir)
    other_client.write(root / "other_certs", "client.example.org")
    (root / "ca-bundle.crt").write_bytes(
        other_ca.cert_pem + (root / "example_certs1/example.com.crt").read_bytes()
    )
    kubectl.create_secret_generic(
        "httpbin-credential",
        {
            "key": "example_certs1/httpbin.example.com.key",
            "cert": "example_certs1/httpbin.example.com.crt",
            "cacert": "ca-bundle.crt",
        },
        namespace="istio-system",
    )
    kubectl.apply(gateway("MUTUAL"))
    kubectl.apply(HTTPBIN_VS)
    assert_teapot_over_h2(sb.curl(CURL_418_CLIENT_CERT))
    assert_teapot_over_h2(
        sb.curl(
            CURL_418_CLIENT_CERT.replace(
                "example_certs1/client.example.com", "other_certs/client.example.org"
            )
        )
    )
    # A client certificate from a CA outside the bundle is still refused.
    bad = sb.curl(
        CURL_418_CLIENT_CERT.replace("example_certs1/client.example.com", "example_certs/nginx.example.com")
    )
    assert bad.exit_code in (35, 56), bad


def test_kubernetes_tls_secret_with_ca_crt_for_mutual(sb, kubectl):
    # §8.1 layout 1: kubernetes.io/tls with tls.crt/tls.key plus ca.crt.
    from sandbox_support import secret_manifest

    root = pathlib.Path(sb.work_dir)
    kubectl.apply(
        secret_manifest(
            "httpbin-credential",
            {
                "tls.crt": (root / "example_certs1/httpbin.example.com.crt").read_bytes(),
                "tls.key": (root / "example_certs1/httpbin.example.com.key").read_bytes(),
                "ca.crt": (root / "example_certs1/example.com.crt").read_bytes(),
            },
            namespace="istio-system",
            type_="kubernetes.io/tls",
        )
    )
    kubectl.apply(gateway("MUTUAL"))
    kubectl.apply(HTTPBIN_VS)
    assert_teapot_over_h2(sb.curl(CURL_418_CLIENT_CERT))


# ------------------------------------------------------------------------------ file paths (§8.2)

FILE_GATEWAY = """\
apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata:
  name: mygateway
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
      serverCertificate: /etc/istio/ingressgateway-certs/tls.crt
      privateKey: /etc/istio/ingressgateway-certs/tls.key
    hosts:
    - httpbin.example.com
"""


def _default_ingress_deployment() -> dict:
    mesh = pathlib.Path(gatewaykit.__file__).parent / "data" / "default-mesh.yaml"
    for doc in yaml.safe_load_all(mesh.read_text()):
        if doc and doc["kind"] == "Deployment" and doc["metadata"]["name"] == "istio-ingressgateway":
            return doc
    raise AssertionError("default-mesh.yaml has no istio-ingressgateway Deployment")


def test_file_paths_from_secret_mounted_in_the_gateway_pod(sb, kubectl):
    # §8.2: the historical convention -- secret istio-ingressgateway-certs mounted at
    # /etc/istio/ingressgateway-certs in the ingress gateway pod, Gateway naming the files.
    kubectl.create_secret_tls(
        "istio-ingressgateway-certs",
        key="example_certs1/httpbin.example.com.key",
        cert="example_certs1/httpbin.example.com.crt",
        namespace="istio-system",
    )
    original = _default_ingress_deployment()
    patched = yaml.safe_load(yaml.safe_dump(original))
    spec = patched["spec"]["template"]["spec"]
    spec["volumes"].append(
        {
            "name": "ingressgateway-certs",
            "secret": {"secretName": "istio-ingressgateway-certs", "optional": True},
        }
    )
    spec["containers"][0]["volumeMounts"].append(
        {"name": "ingressgateway-certs", "mountPath": "/etc/istio/ingressgateway-certs", "readOnly": True}
    )
    try:
        assert "configured" in str(sb.apply(yaml.safe_dump(patched)))
        kubectl.apply(FILE_GATEWAY)
        kubectl.apply(HTTPBIN_VS)
        r = sb.curl(CURL_418_CERTS1)
        assert_teapot_over_h2(r)
        assert "*  subject: CN=httpbin.example.com; O=httpbin organization" in r.stderr
    finally:
        sb.apply(yaml.safe_dump(original))


def test_file_paths_not_mounted_fail_the_handshake(sb, kubectl):
    # Without the mount the files do not exist in the pod: the chain has no certificate (35).
    kubectl.apply(FILE_GATEWAY)
    kubectl.apply(HTTPBIN_VS)
    r = sb.curl(CURL_418_CERTS1)
    assert r.exit_code == 35, r


def test_forwarded_proto_is_https_and_route_config_is_per_server(sb, kubectl, httpbin_credential):
    kubectl.apply(gateway("SIMPLE"))
    kubectl.apply(
        HTTPBIN_VS.replace(
            "        prefix: /delay", "        prefix: /delay\n    - uri:\n        prefix: /headers"
        )
    )
    r = sb.curl(
        'curl -s --resolve "httpbin.example.com:$SECURE_INGRESS_PORT:$INGRESS_HOST" --cacert example_certs1/example.com.crt '  # noqa: E501 (the docs command)
        '"https://httpbin.example.com:$SECURE_INGRESS_PORT/headers?show_env=1"'
    )
    assert r.exit_code == 0, r
    import json

    headers = json.loads(r.stdout)["headers"]
    assert headers["X-Forwarded-Proto"] == "https"
    # curl's :authority (non-default port kept) becomes the upstream Host; the port did not
    # stop the vhost match (§4.3).
    assert headers["Host"] == f"httpbin.example.com:{sb.env['SECURE_INGRESS_PORT']}"
    # §4.4: each terminating HTTPS server has its own route https.<port>.<portName>.<gw>.<ns>.
    proxy = sb.proxy_config("istio-system/istio-ingressgateway")
    assert "https.443.https.mygateway.default" in proxy.route_configs
    assert proxy.listener(8443) is not None and proxy.listener(8443).name == "0.0.0.0_8443"


def test_https_access_log_line(sb, kubectl, httpbin_credential):
    kubectl.apply(gateway("SIMPLE"))
    kubectl.apply(HTTPBIN_VS)
    sb.curl(CURL_418_CERTS1.replace("/status/418", "/status/418?log=https"))
    line = next(
        ln
        for ln in sb.logs("istio-system/istio-ingressgateway").splitlines()
        if "/status/418?log=https" in ln
    )
    # Istio's default format: the protocol is HTTP/2, 135 bytes of teapot, the SNI near the end.
    assert '"GET /status/418?log=https HTTP/2" 418 - via_upstream - "-" 0 135 ' in line, line
    assert " outbound|8000||httpbin.default.svc.cluster.local " in line
    assert line.endswith(" httpbin.example.com -"), line


# ------------------------------------------------------------- XFCC, SNI wildcard, duplicate hosts


def _show_env_vs() -> str:
    return HTTPBIN_VS.replace(
        "        prefix: /delay", "        prefix: /delay\n    - uri:\n        prefix: /headers"
    )


def test_client_certificate_is_forwarded_in_xfcc(sb, kubectl, mutual_credential, docs_certs):
    # Istio's gateway HCM: forward_client_cert_details SANITIZE_SET with set_current_client_cert_details
    # {subject, cert, uri, dns} (buildGatewayConnectionManager): on an mTLS connection Envoy sets
    # x-forwarded-client-cert to Hash=<sha256 of DER>;Cert="<url-encoded PEM>";Subject="<RFC 2253>";URI=.
    import hashlib
    import json

    from cryptography.hazmat.primitives.serialization import Encoding

    kubectl.apply(gateway("MUTUAL"))
    kubectl.apply(_show_env_vs())
    r = sb.curl(CURL_418_CLIENT_CERT.replace("/status/418", "/headers").replace("curl -v", "curl -s"))
    assert r.exit_code == 0, r
    seen = json.loads(r.stdout)["headers"].get("X-Forwarded-Client-Cert")
    # httpbin has a sidecar: the gateway reaches it over auto mTLS and the inbound HCM
    # (APPEND_FORWARD, Subject/URI/DNS; Istio listener_builder.go, Envoy conn_manager_utility.cc)
    # appends its own element after a comma: By=<httpbin's SPIFFE id>;Hash=<gateway cert>;...
    assert seen is not None and ",By=spiffe://cluster.local/ns/default/sa/httpbin;Hash=" in seen, seen
    xfcc, inbound = seen.rsplit(",By=", 1)
    assert re.fullmatch(
        r'spiffe://cluster\.local/ns/default/sa/httpbin;Hash=[0-9a-f]{64};Subject="";'
        r"URI=spiffe://cluster\.local/ns/istio-system/sa/istio-ingressgateway-service-account",
        inbound,
    ), inbound
    client = docs_certs["example_certs1/client.example.com"].certificate
    digest = hashlib.sha256(client.public_bytes(Encoding.DER)).hexdigest()
    assert xfcc is not None and xfcc.startswith(f'Hash={digest};Cert="-----BEGIN%20CERTIFICATE-----'), xfcc
    # conn_manager_utility.cc: 'The "URI" key still exists even if the URI is empty'; no DNS SAN -> no DNS.
    assert xfcc.endswith(f';Subject="{client.subject.rfc4514_string()}";URI='), xfcc


def test_client_supplied_xfcc_is_sanitized(sb, kubectl, httpbin_credential):
    # SANITIZE_SET without a client certificate: Envoy removes a client-sent XFCC header.
    import json

    kubectl.apply(gateway("SIMPLE"))
    kubectl.apply(_show_env_vs())
    r = sb.curl(
        'curl -s -H "X-Forwarded-Client-Cert: By=spiffe://evil;Hash=00" '
        '--resolve "httpbin.example.com:$SECURE_INGRESS_PORT:$INGRESS_HOST" --cacert example_certs1/example.com.crt '  # noqa: E501 (the docs command)
        '"https://httpbin.example.com:$SECURE_INGRESS_PORT/headers"'
    )
    assert r.exit_code == 0, r
    # The spoofed value is gone; what httpbin sees is only the element its inbound sidecar
    # sets for the gateway's Istio mTLS connection (APPEND_FORWARD, listener_builder.go).
    xfcc = json.loads(r.stdout)["headers"]["X-Forwarded-Client-Cert"]
    assert "evil" not in xfcc, xfcc
    assert xfcc.startswith("By=spiffe://cluster.local/ns/default/sa/httpbin;Hash="), xfcc
    assert xfcc.count("By=") == 1, xfcc


def test_star_host_disables_sni_matching(sb, kubectl, httpbin_credential):
    # §4.4: hosts ["*"] -> no server_names on the chain, so a client sending no SNI is served.
    kubectl.apply(gateway("SIMPLE").replace("    - httpbin.example.com", '    - "*"'))
    kubectl.apply(HTTPBIN_VS)
    r = sb.curl(
        'curl -s -k -o /dev/null -w "%{http_code} %{http_version}" -HHost:httpbin.example.com '
        '"https://$INGRESS_HOST:$SECURE_INGRESS_PORT/status/200"'
    )
    assert (r.exit_code, r.stdout) == (0, "200 2"), r


def test_duplicate_https_host_in_two_gateways_first_wins(sb, kubectl, httpbin_credential):
    # §10: two TLS servers, same port, same host -> the later server is skipped entirely.
    kubectl.create_secret_tls(
        "helloworld-credential",
        key="example_certs1/helloworld.example.com.key",
        cert="example_certs1/helloworld.example.com.crt",
        namespace="istio-system",
    )
    kubectl.apply(gateway("SIMPLE"))
    kubectl.apply(
        gateway("SIMPLE", credential="helloworld-credential").replace("name: mygateway", "name: mygateway2")
    )
    kubectl.apply(HTTPBIN_VS)
    r = sb.curl(CURL_418_CERTS1)
    assert_teapot_over_h2(r)
    assert "*  subject: CN=httpbin.example.com; O=httpbin organization" in r.stderr
    assert any(
        "skipping server on gateway" in line and "duplicate host names" in line for line in sb.xds.log
    ), sb.xds.log


def test_redirect_then_https_end_to_end(sb, kubectl, httpbin_credential):
    # §6 with a real follow: port 80 redirects, curl -L lands on the HTTPS server (h2).
    kubectl.apply(
        gateway("SIMPLE")
        + """\
  - port:
      number: 80
      name: http
      protocol: HTTP
    hosts:
    - httpbin.example.com
    tls:
      httpsRedirect: true
"""
    )
    kubectl.apply(HTTPBIN_VS)
    r = sb.curl(
        'curl -s -L -o /dev/null -w "%{http_code} %{http_version} %{num_redirects} %{url_effective}" '
        '--connect-to "httpbin.example.com:80:$INGRESS_HOST:$INGRESS_PORT" '
        '--connect-to "httpbin.example.com:443:$INGRESS_HOST:$SECURE_INGRESS_PORT" '
        '--cacert example_certs1/example.com.crt "http://httpbin.example.com/status/200"'
    )
    assert r.stdout == "200 2 1 https://httpbin.example.com/status/200", r


def test_istio_mutual_server_refuses_a_plain_client(sb, kubectl):
    # §7: ISTIO_MUTUAL needs a mesh-CA client certificate; curl -k without one is refused during
    # the TLS 1.3 handshake (certificate required alert -> exit 56).
    kubectl.apply(
        """\
apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata:
  name: mygateway
spec:
  selector:
    istio: ingressgateway
  servers:
  - port:
      number: 443
      name: https
      protocol: HTTPS
    tls:
      mode: ISTIO_MUTUAL
    hosts:
    - httpbin.example.com
"""
    )
    kubectl.apply(HTTPBIN_VS)
    r = sb.curl(
        'curl -s -S -k --resolve "httpbin.example.com:$SECURE_INGRESS_PORT:$INGRESS_HOST" '
        '"https://httpbin.example.com:$SECURE_INGRESS_PORT/status/418"'
    )
    assert r.exit_code == 56, r
    assert "certificate required" in r.stderr
    # Nor does the docs' CA verify the gateway's SPIFFE workload certificate.
    assert sb.curl(CURL_418_CERTS1).exit_code == 60


def test_secret_updated_in_place_rotates_live(sb, kubectl, httpbin_credential):
    # §8.1: `kubectl apply` of new data under the same Secret name switches the served certificate.
    kubectl.apply(gateway("SIMPLE"))
    kubectl.apply(HTTPBIN_VS)
    assert_teapot_over_h2(sb.curl(CURL_418_CERTS1))
    report = kubectl.apply(
        kubectl.tls_secret_yaml(
            "httpbin-credential",
            key="example_certs2/httpbin.example.com.key",
            cert="example_certs2/httpbin.example.com.crt",
            namespace="istio-system",
        )
    )
    assert str(report) == "secret/httpbin-credential configured"
    assert_teapot_over_h2(sb.curl(CURL_418.format(ca="example_certs2/example.com.crt")))
    assert sb.curl(CURL_418_CERTS1).exit_code == 35


@pytest.mark.slow
def test_every_rotation_serves_the_new_certificate_when_apply_returns(sb, kubectl, httpbin_credential):
    # The contract of apply: when it returns, the change serves traffic. The task rotates the
    # Secret and curls with the new CA right away (_8, _9); Envoy's SDS update gives new
    # connections the new certificate (§8.1). Not one of 500 rotate-then-probe rounds may fail.
    kubectl.apply(gateway("SIMPLE"))
    kubectl.apply(HTTPBIN_VS)
    secrets = {
        certs: kubectl.tls_secret_yaml(
            "httpbin-credential",
            key=f"{certs}/httpbin.example.com.key",
            cert=f"{certs}/httpbin.example.com.crt",
            namespace="istio-system",
        )
        for certs in ("example_certs1", "example_certs2")
    }
    failures = []
    for i in range(500):
        certs = ("example_certs2", "example_certs1")[i % 2]
        assert str(sb.apply(secrets[certs])) == "secret/httpbin-credential configured"
        r = sb.curl(CURL_418.format(ca=f"{certs}/example.com.crt"))
        if (r.exit_code, r.status_line, r.stdout) != (0, "HTTP/2 418", TEAPOT):
            failures.append(f"rotation {i} to {certs}: exit {r.exit_code} {r.status_line!r} {r.stderr!r}")
    assert failures == [], f"{len(failures)} of 500 probes failed; first: {failures[:2]}"


def test_terminating_server_with_only_tls_routes_is_404(sb, kubectl, httpbin_credential):
    # §5 mismatch ([D-NET] "Gateway to virtual service TLS mismatch"): the gateway terminates TLS,
    # the VS only has tls: routes -> requests go to HTTP routing, which has none -> 404.
    kubectl.apply(gateway("SIMPLE"))
    kubectl.apply(
        """\
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: httpbin
spec:
  hosts:
  - httpbin.example.com
  gateways:
  - mygateway
  tls:
  - match:
    - port: 443
      sniHosts:
      - httpbin.example.com
    route:
    - destination:
        host: httpbin
        port:
          number: 8000
"""
    )
    r = sb.curl(CURL_418_CERTS1)
    assert r.exit_code == 0, r
    assert r.status_line == "HTTP/2 404"
