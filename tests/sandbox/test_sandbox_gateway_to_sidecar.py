"""The ingress gateway reaches an injected pod through that pod's inbound sidecar over Istio mTLS.

Istio auto mTLS (cluster_builder.go applyAutoMTLS): the gateway's ``outbound|8000||httpbin...``
cluster speaks ISTIO_MUTUAL to endpoints that have a sidecar; the pod's iptables send the
connection to virtualInbound (15006), whose mTLS chain terminates it and forwards through
``inbound|80||`` to the app. The inbound HCM appends x-forwarded-client-cert
(APPEND_FORWARD, Subject/URI/DNS; Envoy conn_manager_utility.cc).
"""

from __future__ import annotations

import hashlib
import json
import ssl

import pytest
from sandbox_support import HTTPBIN_YAML, INGRESS

GATEWAY_AND_VS = """\
apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata:
  name: httpbin-gateway
spec:
  selector:
    istio: ingressgateway
  servers:
  - port:
      number: 80
      name: http
      protocol: HTTP
    hosts:
    - "httpbin.example.com"
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: httpbin
spec:
  hosts:
  - "httpbin.example.com"
  gateways:
  - httpbin-gateway
  http:
  - route:
    - destination:
        port:
          number: 8000
        host: httpbin
"""

GATEWAY_SPIFFE = "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"


@pytest.fixture(scope="module", autouse=True)
def httpbin(sb):
    """httpbin in ``default`` (injection-enabled: it gets a sidecar)."""
    return sb.apply(HTTPBIN_YAML)


def test_httpbin_sees_the_gateway_identity_in_xfcc(sb, kubectl):
    kubectl.apply(GATEWAY_AND_VS)
    r = sb.curl(
        'curl -s -H "X-Forwarded-Client-Cert: By=spiffe://evil;Hash=00" -HHost:httpbin.example.com '
        '"http://$INGRESS_HOST:$INGRESS_PORT/headers"'
    )
    assert r.exit_code == 0, r
    headers = json.loads(r.stdout)["headers"]
    # The gateway sent its metadata-exchange headers; httpbin's sidecar consumed them (Istio's
    # inbound peer_metadata filter removes what it discovers the peer from).
    assert "X-Envoy-Peer-Metadata" not in headers and "X-Envoy-Peer-Metadata-Id" not in headers
    xfcc = headers["X-Forwarded-Client-Cert"]
    # The gateway's workload certificate, as istio-agent would hand it out (the sandbox's mesh CA
    # caches one per SPIFFE id): Hash is the sha256 of its DER.
    pem, _ = sb._mesh_ca.workload_certificate(GATEWAY_SPIFFE)  # noqa: SLF001 - the cert Envoy presented
    der = ssl.PEM_cert_to_DER_cert(
        pem.decode().split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
    )
    # The gateway sanitizes the client's spoofed value (SANITIZE_SET, no client cert); the inbound
    # sidecar then sets only its own element: By (its URI SAN), Hash, Subject (empty for
    # Istio workload certs), URI (the gateway's SPIFFE id).
    assert xfcc == (
        "By=spiffe://cluster.local/ns/default/sa/httpbin;"
        f"Hash={hashlib.sha256(der).hexdigest()};"
        f'Subject="";URI={GATEWAY_SPIFFE}'
    ), xfcc


def test_httpbin_sidecar_logs_the_gateway_request_on_its_inbound_cluster(sb, kubectl):
    kubectl.apply(GATEWAY_AND_VS)
    r = sb.curl(
        'curl -s -o /dev/null -w "%{http_code}" -HHost:httpbin.example.com '
        '"http://$INGRESS_HOST:$INGRESS_PORT/status/418?via=gateway-inbound"'
    )
    assert r.stdout == "418", r
    inbound = [ln for ln in sb.logs("default/httpbin").splitlines() if "via=gateway-inbound" in ln]
    assert len(inbound) == 1, sb.logs("default/httpbin")
    assert '"GET /status/418?via=gateway-inbound HTTP/1.1" 418 - via_upstream ' in inbound[0], inbound[0]
    # httpbin's Service maps 8000 to targetPort 80; the SNI is the auto-mTLS one.
    assert " inbound|80|| " in inbound[0], inbound[0]
    assert inbound[0].endswith(" outbound_.8000_._.httpbin.default.svc.cluster.local default"), inbound[0]
    # The gateway's own line still names its outbound cluster.
    gw = [ln for ln in sb.logs(INGRESS).splitlines() if "via=gateway-inbound" in ln]
    assert len(gw) == 1 and " outbound|8000||httpbin.default.svc.cluster.local " in gw[0], gw
