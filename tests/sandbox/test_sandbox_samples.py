"""Istio 1.27's samples from ``gatewaykit.samples`` served by the embedded sandbox.

``kubectl apply -f samples/httpbin/httpbin.yaml`` runs go-httpbin v2.15.0 (the stand-in); through the
ingress gateway its answers carry Envoy's reason phrase and headers (docs/behaviour.md §1.5) and
go-httpbin's bodies, as in the secure-ingress task's expected output ("I'm a teapot!").
"""

from __future__ import annotations

import json
import re

import pytest

from gatewaykit import samples

INGRESS = "istio-system/istio-ingressgateway"


@pytest.fixture(scope="module", autouse=True)
def httpbin_sample(sb):
    """``kubectl apply -f samples/httpbin/httpbin.yaml`` and ``samples/httpbin/httpbin-gateway.yaml``."""
    app = sb.apply(samples.path() / "httpbin" / "httpbin.yaml")
    gw = sb.apply(samples.path() / "httpbin" / "httpbin-gateway.yaml")
    assert (
        str(app) == "serviceaccount/httpbin created\nservice/httpbin created\ndeployment.apps/httpbin created"
    )
    assert str(gw) == (
        "gateway.networking.istio.io/httpbin-gateway created\n"
        "virtualservice.networking.istio.io/httpbin created"
    )
    yield
    sb.delete(samples.path() / "httpbin" / "httpbin-gateway.yaml")
    sb.delete(samples.path() / "httpbin" / "httpbin.yaml")


def test_teapot_through_the_ingress_gateway(sb) -> None:
    r = sb.curl('curl -s -i "http://$INGRESS_HOST:$INGRESS_PORT/status/418"')
    assert r.exit_code == 0, r
    assert r.status_line == "HTTP/1.1 418 Unknown"  # Envoy's HTTP/1 codec has no phrase for 418
    assert r.body == "I'm a teapot!"
    assert r.headers["x-more-info"] == "http://tools.ietf.org/html/rfc2324"
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.headers["content-length"] == "13"
    assert r.headers["server"] == "istio-envoy"
    assert re.fullmatch(r"\d+", r.headers["x-envoy-upstream-service-time"])


def test_headers_json_through_the_gateway(sb) -> None:
    r = sb.curl('curl -s -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/headers"')
    assert r.exit_code == 0, r
    headers = json.loads(r.stdout)["headers"]
    assert headers["Host"] == ["httpbin.example.com"]
    assert headers["X-Forwarded-Proto"] == ["http"]
    assert re.fullmatch(r"[0-9a-f-]{36}", headers["X-Request-Id"][0])
    # go-httpbin's encoding: header values are lists, keys in sorted order, two-space indent
    assert list(headers) == sorted(headers)
    assert r.stdout.startswith('{\n  "headers": {\n    "Accept": [\n      "*/*"\n    ],\n')
