"""Istio's *Egress Gateways* task (egress-gateway), in the embedded sandbox (§12).

The docs' commands (istio.io ``egress-gateway/snips.sh``) run in the ``curl`` pod; the docs check
the egress gateway's access log (``kubectl logs -l istio=egressgateway -c istio-proxy``).
"""

from __future__ import annotations

import re

from egress_support import (
    EGRESS_GATEWAY_HTTP,
    EGRESS_GATEWAY_TLS,
    SE_CNN_HTTP,
    SE_CNN_TLS,
    SE_HTTPBIN,
    SOURCE,
    VS_CNN_THROUGH_EGRESS_HTTP,
    last_line,
)

EGRESS = "istio-system/istio-egressgateway"
POLITICS = "curl -sSL -o /dev/null -D - http://edition.cnn.com/politics"


def _redirect_then_200(stdout: str) -> None:
    """snip_egress_gateway_for_http_traffic_2_out / _7_out."""
    lines = [line.rstrip() for line in stdout.splitlines()]
    assert lines[0] == "HTTP/1.1 301 Moved Permanently", stdout
    assert "location: https://edition.cnn.com/politics" in lines
    assert "HTTP/2 200" in lines
    assert "content-type: text/html; charset=utf-8" in [line.lower() for line in lines]
    assert lines.index("HTTP/2 200") > lines.index("HTTP/1.1 301 Moved Permanently")


def test_http_through_the_egress_gateway(sb, kubectl):
    kubectl.apply(SE_CNN_HTTP)
    before = sb.logs(EGRESS)
    # snip_egress_gateway_for_http_traffic_2: straight from the sidecar
    r = sb.curl(POLITICS, source=SOURCE)
    assert r.exit_code == 0, r.stderr
    _redirect_then_200(r.stdout)
    assert sb.logs(EGRESS) == before  # not through the egress gateway yet

    # snip_egress_gateway_for_http_traffic_3 and _5
    kubectl.apply(EGRESS_GATEWAY_HTTP, VS_CNN_THROUGH_EGRESS_HTTP.format(upstream_port=80))
    r = sb.curl(POLITICS, source=SOURCE)
    assert r.exit_code == 0, r.stderr
    _redirect_then_200(r.stdout)

    # snip_egress_gateway_for_http_traffic_8/9: the gateway got the request over HTTP/2 (its
    # Service port 80 is named http2) and sent it to edition.cnn.com:80.
    log = sb.logs(EGRESS)[len(before) :]
    assert "GET /politics HTTP/2" in log
    line = last_line(log, "GET /politics HTTP/2")
    assert re.search(
        r'"GET /politics HTTP/2" 301 - via_upstream - "-" 0 0 \d+ \d+ "10\.244\.\d+\.\d+" "curl/[\d.]+" '
        r'"[0-9a-f-]{36}" "edition\.cnn\.com" "[^"]+:80" outbound\|80\|\|edition\.cnn\.com ',
        line,
    ), line
    # The x-forwarded-for the gateway logs is the client pod's IP.
    curl_ip = next(p.ip for p in sb.pods() if p.name.startswith("curl-"))
    assert f'"{curl_ip}"' in line
    # The client's sidecar sent it to the egress gateway's subset cluster.
    assert "outbound|80|cnn|istio-egressgateway.istio-system.svc.cluster.local" in last_line(
        sb.logs(SOURCE), '"GET /politics HTTP/1.1" 301'
    )


def test_https_through_the_egress_gateway(sb, kubectl):
    kubectl.apply(SE_CNN_TLS)
    cmd = "curl -sSL -o /dev/null -D - https://edition.cnn.com/politics"
    # snip_egress_gateway_for_https_traffic_2
    r = sb.curl(cmd, source=SOURCE)
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[0].rstrip() == "HTTP/2 200"
    # snip_egress_gateway_for_https_traffic_3/5
    kubectl.apply(EGRESS_GATEWAY_TLS)
    r = sb.curl(cmd, source=SOURCE)
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[0].rstrip() == "HTTP/2 200"
    assert "content-type: text/html; charset=utf-8" in r.stdout.lower()
    # snip_egress_gateway_for_https_traffic_7: a TCP-level entry with the SNI.
    line = last_line(sb.logs(EGRESS), "outbound|443||edition.cnn.com")
    assert re.search(
        r'"- - -" 0 - - - "-" \d+ \d+ \d+ - "-" "-" "-" "-" "[^"]+:443" outbound\|443\|\|edition\.cnn\.com '
        r"\S+ \S+:8443 \S+ edition\.cnn\.com",
        line,
    ), line
    assert "outbound|443|cnn|istio-egressgateway.istio-system.svc.cluster.local" in sb.logs(SOURCE)


def test_missing_destination_rule_subset_gives_503(sb, kubectl):
    # The VirtualService names subset "cnn" but no DestinationRule defines it: the sidecar's route
    # points at a cluster that does not exist → 503 NC with an empty body (§1.4, §12).
    gateway_only = EGRESS_GATEWAY_HTTP.split("---")[0]
    before = sb.logs(EGRESS)
    kubectl.apply(SE_CNN_HTTP, gateway_only, VS_CNN_THROUGH_EGRESS_HTTP.format(upstream_port=80))
    r = sb.curl("curl -sS -i http://edition.cnn.com/politics", source=SOURCE)
    assert r.exit_code == 0
    assert r.stdout.splitlines()[0] == "HTTP/1.1 503 Service Unavailable"
    assert r.body == ""
    assert r.headers["server"] == "envoy"
    line = last_line(sb.logs(SOURCE), '"GET /politics HTTP/1.1" 503')
    assert " NC cluster_not_found " in line
    assert sb.logs(EGRESS) == before  # nothing reached the egress gateway


def test_httpbin_exercise_through_the_egress_gateway(sb, kubectl):
    solution = (
        __import__("egress_support").ROOT / "labs" / "10-egress-gateway" / "solution-httpbin.yaml"
    ).read_text()
    kubectl.apply(SE_HTTPBIN, solution)
    r = sb.curl("curl -sS http://httpbin.org/headers", source=SOURCE)
    assert r.exit_code == 0 and '"Host": "httpbin.org"' in r.stdout
    # The last hop's metadata-exchange filter replaces the sidecar's headers with its own.
    assert re.search(
        r'"X-Envoy-Peer-Metadata-Id": "router~10\.244\.\d+\.\d+~istio-egressgateway-[a-z0-9-]+\.istio-system'
        r'~istio-system\.svc\.cluster\.local"',
        r.stdout,
    ), r.stdout
    assert "outbound|80||httpbin.org" in last_line(sb.logs(EGRESS), '"GET /headers HTTP/2" 200')
