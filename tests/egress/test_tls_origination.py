"""Istio's *Egress TLS Origination* and *TLS Origination with an Egress Gateway* tasks (§13), and
the classic mistakes of Istio's troubleshooting guide (§1.6), in the embedded sandbox.

Commands and outputs are the docs' (istio.io ``egress-tls-origination/snips.sh``,
``egress-gateway-tls-origination/snips.sh``), run in the ``curl`` pod.
"""

from __future__ import annotations

import re

import pytest
from egress_support import (
    DOUBLE_TLS,
    DR_ORIGINATE_MTLS_AT_EGRESS,
    DR_ORIGINATE_MTLS_AT_SIDECAR,
    DR_ORIGINATE_TLS_AT_EGRESS,
    EGRESS_GATEWAY_ISTIO_MUTUAL_CNN,
    EGRESS_MTLS_NGINX,
    SE_CNN_FOR_EGRESS_ORIGINATION,
    SE_CNN_ORIGINATION,
    SOURCE,
    VS_CNN_THROUGH_EGRESS_HTTP,
    client_credential,
    last_line,
    nginx_manifests,
)

EGRESS = "istio-system/istio-egressgateway"
HTTP_POLITICS = "curl -sSL -o /dev/null -D - http://edition.cnn.com/politics"
HTTPS_POLITICS = "curl -sSL -o /dev/null -D - https://edition.cnn.com/politics"


def _lines(stdout: str) -> list[str]:
    return [line.rstrip() for line in stdout.splitlines()]


def test_tls_origination_at_the_sidecar(sb, kubectl):
    # snip_apply_simple + snip_curl_simple: the site redirects plain HTTP to HTTPS
    kubectl.apply(SE_CNN_ORIGINATION.split("---")[0].replace("    targetPort: 443\n", ""))
    lines = _lines(sb.curl(HTTP_POLITICS, source=SOURCE).stdout)
    assert lines[0] == "HTTP/1.1 301 Moved Permanently"
    assert "location: https://edition.cnn.com/politics" in lines and "HTTP/2 200" in lines

    # snip_apply_origination + snip_curl_origination_http: one answer, 200, no redirect
    kubectl.apply(SE_CNN_ORIGINATION)
    r = sb.curl(HTTP_POLITICS, source=SOURCE)
    assert r.exit_code == 0, r.stderr
    lines = _lines(r.stdout)
    assert lines[0] == "HTTP/1.1 200 OK"
    assert not any("301" in line for line in lines)
    line = last_line(sb.logs(SOURCE), '"GET /politics HTTP/1.1" 200')
    assert re.search(r'"[^"]+:443" outbound\|80\|\|edition\.cnn\.com ', line), line

    # snip_curl_origination_https: the application can still speak TLS itself
    r = sb.curl(HTTPS_POLITICS, source=SOURCE)
    assert r.exit_code == 0 and _lines(r.stdout)[0] == "HTTP/2 200"


def test_https_to_an_http_port_is_a_wrong_version_number(sb, kubectl):
    # Troubleshooting "Sending HTTPS to an HTTP port": the sidecar answers the ClientHello with a
    # plain-text 400, which curl's TLS library reads as a bad record (§1.6).
    kubectl.apply(SE_CNN_ORIGINATION)
    r = sb.curl("curl -sS https://edition.cnn.com:80/politics", source=SOURCE)
    assert r.exit_code == 35
    assert r.stdout == ""
    assert "wrong version number" in r.stderr
    assert re.match(r"curl: \(35\) .*wrong version number", r.stderr)
    assert " 400 DPE " in last_line(sb.logs(SOURCE), " 400 DPE ")


def test_double_tls_is_a_wrong_version_number(sb, kubectl):
    # Troubleshooting "Double TLS": port 443 declared HTTP + DestinationRule SIMPLE; the app's
    # own TLS lands on an HTTP listener.
    kubectl.apply(DOUBLE_TLS)
    r = sb.curl("curl -sS https://httpbin.org/get", source=SOURCE)
    assert r.exit_code == 35
    assert "wrong version number" in r.stderr
    # What the configuration expects instead: plain HTTP on 443, TLS by the sidecar.
    r = sb.curl("curl -sS http://httpbin.org:443/get", source=SOURCE)
    assert r.exit_code == 0 and '"Host": "httpbin.org:443"' in r.stdout


def test_tls_origination_at_the_egress_gateway(sb, kubectl):
    # egress-gateway-tls-origination (Istio 1.27), "Perform TLS origination with an egress
    # gateway": the sidecar → egress gateway hop is Istio mTLS on the gateway's port 80 (HTTPS +
    # ISTIO_MUTUAL); the sidecar speaks HTTP/2 there (the Service port is named http2) with ALPN
    # istio-peer-exchange,istio,h2 and the gateway's listener (ALPN h2,http/1.1) accepts it.
    kubectl.apply(SE_CNN_FOR_EGRESS_ORIGINATION)  # _1
    r = sb.curl(HTTP_POLITICS, source=SOURCE)  # _2
    lines = _lines(r.stdout)
    assert lines[0] == "HTTP/1.1 301 Moved Permanently"
    assert "location: https://edition.cnn.com/politics" in lines
    before_gw, before_sidecar = sb.logs(EGRESS), sb.logs(SOURCE)
    kubectl.apply(
        EGRESS_GATEWAY_ISTIO_MUTUAL_CNN,  # _3
        VS_CNN_THROUGH_EGRESS_HTTP.format(upstream_port=443),  # _5
        DR_ORIGINATE_TLS_AT_EGRESS,  # _7
    )
    r = sb.curl(HTTP_POLITICS, source=SOURCE)  # _8
    assert r.exit_code == 0, r.stderr
    lines = _lines(r.stdout)
    assert lines[0] == "HTTP/1.1 200 OK"  # snip_..._8_out
    assert not any("301" in line for line in lines)
    # _9: kubectl logs -l istio=egressgateway -c istio-proxy -n istio-system | tail
    gw_log = sb.logs(EGRESS)[len(before_gw) :]
    assert "PRI * HTTP/2.0" not in gw_log and " DPE " not in gw_log, gw_log
    line = last_line(gw_log, '"GET /politics HTTP/2"')  # tls_test.sh: _verify_contains
    assert re.search(
        r'"GET /politics HTTP/2" 200 - via_upstream - "-" 0 \d+ \d+ \d+ "10\.244\.\d+\.\d+" "curl/[\d.]+" '
        r'"[0-9a-f-]{36}" "edition\.cnn\.com" "[^"]+:443" outbound\|443\|\|edition\.cnn\.com '
        r"10\.244\.\d+\.\d+:\d+ 10\.244\.\d+\.\d+:8080 10\.244\.\d+\.\d+:\d+ edition\.cnn\.com ",
        line,
    ), gw_log
    sidecar = last_line(sb.logs(SOURCE)[len(before_sidecar) :], '"GET /politics HTTP/1.1"')
    cluster = r"outbound\|80\|cnn\|istio-egressgateway\.istio-system\.svc\.cluster\.local"
    assert re.search(rf'" 200 - via_upstream .* "[^"]+:8080" {cluster} ', sidecar), sidecar


@pytest.fixture()
def my_nginx(sb, kubectl, docs_certs):
    """The mutual-TLS nginx in ``mesh-external`` (not injected), as the docs deploy it."""
    kubectl.apply(*nginx_manifests(docs_certs))
    pods = [p for p in sb.pods() if p.namespace == "mesh-external"]
    assert pods and pods[0].status == "Running"


def test_mutual_tls_origination_at_the_egress_gateway(sb, kubectl, docs_certs, my_nginx):
    # Client certificate for the egress gateway: secret in istio-system, DR in istio-system.
    kubectl.apply(client_credential(docs_certs, "istio-system"), EGRESS_MTLS_NGINX)
    before = sb.logs(EGRESS)

    # Only SIMPLE towards nginx: nginx wants a client certificate (§16).
    kubectl.apply(DR_ORIGINATE_MTLS_AT_EGRESS.format(mode="SIMPLE"))
    r = sb.curl("curl -sS http://my-nginx.mesh-external.svc.cluster.local", source=SOURCE)
    assert "<title>400 No required SSL certificate was sent</title>" in r.stdout

    kubectl.apply(DR_ORIGINATE_MTLS_AT_EGRESS.format(mode="MUTUAL"))
    r = sb.curl("curl -sS http://my-nginx.mesh-external.svc.cluster.local", source=SOURCE)
    assert r.exit_code == 0, r.stderr
    assert r.stdout.startswith("<!DOCTYPE html>\n<html>\n<head>\n<title>Welcome to nginx!</title>")
    # kubectl logs -l istio=egressgateway -n istio-system \
    #   | grep 'my-nginx.mesh-external.svc.cluster.local' | grep HTTP
    log = sb.logs(EGRESS)[len(before) :]
    line = last_line(log, '"GET / HTTP/1.1" 200', "my-nginx.mesh-external.svc.cluster.local")
    assert "outbound|443||my-nginx.mesh-external.svc.cluster.local" in line, log
    # The sidecar → egress gateway hop is Istio mutual TLS (DR subset nginx, ISTIO_MUTUAL).
    assert "outbound|443|nginx|istio-egressgateway.istio-system.svc.cluster.local" in last_line(
        sb.logs(SOURCE), '"GET / HTTP/1.1" 200'
    )


def test_mutual_tls_origination_at_the_sidecar(sb, kubectl, docs_certs, my_nginx):
    # egress-tls-origination "Mutual TLS origination": secret in the client's namespace and a
    # DestinationRule with a workloadSelector (§13). Without it the sidecar sends plain HTTP.
    r = sb.curl("curl -sS http://my-nginx.mesh-external.svc.cluster.local:443", source=SOURCE)
    assert "<title>400 The plain HTTP request was sent to HTTPS port</title>" in r.stdout
    kubectl.apply(client_credential(docs_certs, "default"), DR_ORIGINATE_MTLS_AT_SIDECAR)
    r = sb.curl("curl -sS http://my-nginx.mesh-external.svc.cluster.local:443", source=SOURCE)
    assert r.exit_code == 0, r.stderr
    assert r.stdout.startswith("<!DOCTYPE html>\n<html>\n<head>\n<title>Welcome to nginx!</title>")
    # kubectl logs -l app=sleep -c istio-proxy | grep 'my-nginx.mesh-external.svc.cluster.local'
    assert "outbound|443||my-nginx.mesh-external.svc.cluster.local" in sb.logs(SOURCE)
