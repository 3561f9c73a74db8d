"""VirtualService fault injection and mirroring through the gateway, with real curl.

Envoy's fault filter: an abort answers ``fault filter abort`` with the configured status and flag
``FI``; a delay holds the request and flags it ``DI`` (fault_filter.cc). Mirroring sends a copy
whose Host ends in ``-shadow`` and whose answer is dropped (router shadow_writer_impl.cc).
"""

from __future__ import annotations

import time

import pytest

from gatewaykit import Sandbox, samples

# Istio 1.27's samples/httpbin/httpbin.yaml (go-httpbin on 8080 behind Service port 8000).
HTTPBIN = (samples.path() / "httpbin" / "httpbin.yaml").read_text()

# A non-injected namespace: `sb.logs()` of its pods is the container log, where tcp-echo prints
# every line it receives -- so the mirrored request is visible.
MIRROR_TARGET = """
apiVersion: v1
kind: Namespace
metadata: {name: mirror}
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: mirror}
spec:
  selector: {app: echo}
  ports: [{name: tcp, port: 9000}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: echo, namespace: mirror}
spec:
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      containers:
      - name: tcp-echo
        image: docker.io/istio/tcp-echo-server:1.3
        args: ["9000", "mirrored"]
        ports: [{containerPort: 9000}]
"""

ROUTES = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: fault-gw}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["faults.example.com"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: faults}
spec:
  hosts: ["faults.example.com"]
  gateways: [fault-gw]
  http:
  - match: [{uri: {prefix: /abort}}]
    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
    route: [{destination: {host: httpbin, port: {number: 8000}}}]
  - match: [{uri: {prefix: /slow}}]
    fault: {delay: {fixedDelay: 1s, percentage: {value: 100}}}
    rewrite: {uri: /status/200}
    route: [{destination: {host: httpbin, port: {number: 8000}}}]
  - match: [{uri: {prefix: /status}}]
    mirror: {host: echo.mirror.svc.cluster.local, port: {number: 9000}}
    route: [{destination: {host: httpbin, port: {number: 8000}}}]
"""

CURL = 'curl -s -i -HHost:faults.example.com "http://$INGRESS_HOST:$INGRESS_PORT{path}"'


@pytest.fixture(scope="module")
def sb():
    with Sandbox.local() as sandbox:
        sandbox.apply(HTTPBIN)
        sandbox.apply(MIRROR_TARGET)
        sandbox.apply(ROUTES)
        yield sandbox


def test_abort_answers_fault_filter_abort(sb) -> None:
    r = sb.curl(CURL.format(path="/abort"))
    assert r.status_line == "HTTP/1.1 418 Unknown"
    assert r.body == "fault filter abort"
    assert r.headers["content-type"] == "text/plain"
    assert "x-envoy-upstream-service-time" not in r.headers  # a local reply, not the upstream's
    assert '"GET /abort HTTP/1.1" 418 FI fault_filter_abort' in sb.logs("istio-system/istio-ingressgateway")


def test_delay_holds_the_request_and_is_logged_di(sb) -> None:
    t0 = time.monotonic()
    r = sb.curl(CURL.format(path="/slow"))
    elapsed = time.monotonic() - t0
    assert r.status_line == "HTTP/1.1 200 OK"
    assert elapsed >= 1.0
    assert '"GET /slow HTTP/1.1" 200 DI via_upstream' in sb.logs("istio-system/istio-ingressgateway")


def test_mirror_sends_a_shadow_copy_and_keeps_the_answer(sb) -> None:
    r = sb.curl(CURL.format(path="/status/201"))
    assert r.status_line == "HTTP/1.1 201 Created"  # the client gets the primary's answer
    deadline = time.monotonic() + 5
    log = ""
    while time.monotonic() < deadline:
        log = sb.logs("mirror/echo")
        if "faults.example.com-shadow" in log:
            break
        time.sleep(0.05)
    assert "request: GET /status/201 HTTP/1.1" in log
    assert "faults.example.com-shadow" in log
