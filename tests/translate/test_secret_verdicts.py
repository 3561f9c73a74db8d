"""Broken TLS material: what istiod logs, why Envoy rejects it, and that nobody prints a key.

istiod serves a credentialName Secret whatever its bytes, logging ``invalid certificates: ...``
when the certificate does not parse (pilot/pkg/xds/sds.go ``ValidateCertificate``); Envoy then
refuses to load it (source/common/tls/context_impl.cc) and the filter chain fails handshakes.
"""

from __future__ import annotations

import base64
import datetime

import pytest
from _tx import proxy, xds

from gatewaykit import simulate
from gatewaykit._simulate import Request
from gatewaykit._translate.secrets import secret_rejected_log
from gatewaykit.certs import make_ca, make_cert
from gatewaykit.resources.codecs import load
from gatewaykit.resources.models import from_dict
from gatewaykit.store import ConfigStore

CA = make_ca()
GOOD = make_cert("httpbin.example.com", "httpbin organization", CA)
OTHER = make_cert("httpbin.example.com", "httpbin organization", CA)
CRED = "kubernetes://httpbin-credential"
GATEWAY = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["httpbin.example.com"]
    tls: {mode: SIMPLE, credentialName: httpbin-credential}
"""


def secret(cert: bytes, key: bytes) -> str:
    enc = {k: base64.b64encode(v).decode() for k, v in (("tls.crt", cert), ("tls.key", key))}
    return f"""---
apiVersion: v1
kind: Secret
metadata: {{name: httpbin-credential, namespace: istio-system}}
type: kubernetes.io/tls
data: {{tls.crt: {enc["tls.crt"]}, tls.key: {enc["tls.key"]}}}
"""


CASES = [
    # (certificate, key, istiod's warning, Envoy's rejection)
    (GOOD.cert_pem, GOOD.key_pem, None, None),
    (
        b"not a certificate",
        GOOD.key_pem,
        'invalid certificates: istio-system/httpbin-credential "kubernetes://httpbin-credential": '
        "pem decode failed",
        "Failed to load certificate chain from <inline>",
    ),
    (
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        GOOD.key_pem,
        'invalid certificates: istio-system/httpbin-credential "kubernetes://httpbin-credential": '
        "x509: malformed certificate",
        "Failed to load certificate chain from <inline>",
    ),
    (
        GOOD.cert_pem,
        b"junk",
        None,
        "Failed to load private key from <inline>, Cause: "
        "error:0900006e:PEM routines:OPENSSL_internal:NO_START_LINE",
    ),
    (
        GOOD.cert_pem,
        OTHER.key_pem,
        None,
        "Failed to load private key from <inline>, Cause: "
        "error:0b000074:X.509 certificate routines:OPENSSL_internal:KEY_VALUES_MISMATCH",
    ),
]


@pytest.mark.parametrize(
    ("cert", "key", "invalid", "rejected"), CASES, ids=["good", "junk", "der", "key", "pair"]
)
def test_istiod_and_envoy_verdicts(
    cert: bytes, key: bytes, invalid: str | None, rejected: str | None
) -> None:
    state = xds(GATEWAY + secret(cert, key))
    material = state.proxy_for("istio-system/istio-ingressgateway").secrets[CRED]
    assert (material.invalid, material.rejected) == (invalid, rejected)
    assert (
        (invalid in state.log) if invalid else not any("invalid certificates" in line for line in state.log)
    )
    result = simulate(
        state.proxy_for("istio-system/istio-ingressgateway"),
        Request(port=8443, protocol="https", sni="httpbin.example.com", host="httpbin.example.com"),
    )
    if rejected:
        assert result.curl_exit == 35 and result.miss is not None


def test_envoys_log_line() -> None:
    material = proxy(GATEWAY + secret(GOOD.cert_pem, OTHER.key_pem)).secrets[CRED]
    when = datetime.datetime(2025, 6, 1, 10, 0, 0, 123456, tzinfo=datetime.timezone.utc)
    assert secret_rejected_log(material, when) == (
        "2025-06-01T10:00:00.123456Z\twarning\tenvoy config external/envoy/source/extensions/"
        "config_subscription/grpc/grpc_subscription_impl.cc:138\tgRPC config for "
        "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret rejected: Failed to load "
        "private key from <inline>, Cause: error:0b000074:X.509 certificate routines:OPENSSL_internal:"
        "KEY_VALUES_MISMATCH\tthread=26"
    )


def test_no_repr_prints_a_secrets_data() -> None:
    text = GATEWAY + secret(GOOD.cert_pem, GOOD.key_pem)
    key_text = GOOD.key_pem.decode().splitlines()[1]  # a line of the key's base64
    key_b64 = base64.b64encode(GOOD.key_pem).decode()[:40]
    manifests = load(text)
    store = ConfigStore()
    store.apply(load("apiVersion: v1\nkind: Namespace\nmetadata: {name: istio-system}\n"))
    store.apply(load("apiVersion: v1\nkind: Namespace\nmetadata: {name: default}\n"))
    store.apply(manifests)
    snap = store.snapshot()
    key = next(k for k in snap.keys() if k.kind == "Secret")
    shown = [repr(m) for m in manifests]
    shown += [repr(snap.entry(key)), repr(snap.get("Secret", "istio-system", "httpbin-credential"))]
    shown.append(repr(from_dict(manifests[1].raw, manifests[1].source)))
    for text_shown in shown:
        assert key_text not in text_shown and key_b64 not in text_shown
    assert repr(snap.get("Secret", "istio-system", "httpbin-credential")) == (
        "Secret(istio-system/httpbin-credential, type='kubernetes.io/tls', "
        f"data=<redacted: tls.crt: {len(GOOD.cert_pem)} bytes, tls.key: {len(GOOD.key_pem)} bytes>)"
    )
