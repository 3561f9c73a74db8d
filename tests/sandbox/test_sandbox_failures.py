"""What a learner sees when something is missing or misconfigured, and the VirtualService HTTP
features (timeouts, weights, redirects, rewrites, direct responses), against the embedded sandbox.

Rules: docs/behaviour.md §1.4 (local replies), §1.6 (curl exit codes), §2, §3.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from sandbox_support import (
    HELLOWORLD_SERVICE_YAML,
    HTTPBIN_GATEWAY_YAML,
    HTTPBIN_VS_YAML,
    HTTPBIN_YAML,
    INGRESS,
    TEAPOT,
    helloworld_deployment,
)

STATUS_200 = 'curl -s -i -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/status/200"'


def vs(name: str, host: str, http: str, gateway: str = "httpbin-gateway") -> str:
    """A VirtualService bound to ``gateway`` with the given ``http:`` block (indented YAML)."""
    return f"""\
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: {name}
spec:
  hosts:
  - "{host}"
  gateways:
  - {gateway}
  http:
{http}"""


STAR_GATEWAY = HTTPBIN_GATEWAY_YAML.replace('- "httpbin.example.com"', '- "*"')


@pytest.fixture(scope="module", autouse=True)
def workloads(sb):
    sb.apply(HTTPBIN_YAML)
    sb.apply(HELLOWORLD_SERVICE_YAML)
    sb.apply(helloworld_deployment("v1"))
    sb.apply(helloworld_deployment("v2"))


# ----------------------------------------------------------------- nothing listening (docs/behaviour.md §1.6)


def test_no_gateway_server_on_the_port_is_connection_refused(sb):
    # docs/behaviour.md §2: no Gateway server for port 80 -> no listener -> curl exit 7.
    r = sb.curl('curl -sS -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/status/200"')
    assert r.exit_code == 7, r
    assert r.stderr.startswith(f"curl: (7) Failed to connect to 127.0.0.1 port {sb.env['INGRESS_PORT']}")
    assert r.status is None and r.stdout == ""


def test_selector_matching_no_gateway_pod_is_connection_refused(sb, kubectl):
    # docs/behaviour.md §3: a selector no pod satisfies configures nothing anywhere.
    kubectl.apply(HTTPBIN_GATEWAY_YAML.replace("istio: ingressgateway", "istio: nonexistent"))
    kubectl.apply(HTTPBIN_VS_YAML)
    r = sb.curl('curl -v -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/status/200"')
    assert r.exit_code == 7, r
    assert "Connection refused" in r.stderr


def test_gateway_deleted_stops_serving(sb, kubectl):
    kubectl.apply(HTTPBIN_GATEWAY_YAML)
    kubectl.apply(HTTPBIN_VS_YAML)
    assert sb.curl(STATUS_200).status == 200
    assert (
        str(kubectl.delete(HTTPBIN_GATEWAY_YAML)) == 'gateway.networking.istio.io "httpbin-gateway" deleted'
    )
    assert sb.curl(STATUS_200).exit_code == 7


def test_selector_matching_a_subset_of_labels_applies(sb, kubectl):
    # docs/behaviour.md §3: the selector need only be a subset of the pod labels.
    kubectl.apply(HTTPBIN_GATEWAY_YAML.replace("istio: ingressgateway", "app: istio-ingressgateway"))
    kubectl.apply(HTTPBIN_VS_YAML)
    assert sb.curl(STATUS_200).status_line == "HTTP/1.1 200 OK"


def test_gateway_selecting_the_egress_gateway_does_not_open_ingress(sb, kubectl):
    kubectl.apply(HTTPBIN_GATEWAY_YAML.replace("istio: ingressgateway", "istio: egressgateway"))
    kubectl.apply(HTTPBIN_VS_YAML)
    assert sb.curl(STATUS_200).exit_code == 7


# --------------------------------------------------------------------- local replies (docs/behaviour.md §1.4)


def test_replicas_zero_is_503_no_healthy_upstream(sb, kubectl):
    kubectl.apply(HTTPBIN_GATEWAY_YAML)
    kubectl.apply(HTTPBIN_VS_YAML)
    try:
        sb.apply(HTTPBIN_YAML.replace("replicas: 1", "replicas: 0"))
        assert not [p for p in sb.pods() if p.name.startswith("httpbin-")]
        r = sb.curl(STATUS_200)
        assert r.exit_code == 0, r
        assert r.status_line == "HTTP/1.1 503 Service Unavailable"
        assert r.body == "no healthy upstream"
        assert r.headers["content-length"] == "19"
        assert r.headers["content-type"] == "text/plain"
        assert r.headers["server"] == "istio-envoy"
        assert "x-envoy-upstream-service-time" not in r.headers
        assert re.search(r'"GET /status/200 HTTP/1.1" 503 UH no_healthy_upstream ', sb.logs(INGRESS))
    finally:
        sb.apply(HTTPBIN_YAML)
    # Scaled back up: served again as soon as apply returns.
    assert sb.curl(STATUS_200).status_line == "HTTP/1.1 200 OK"


def test_unknown_destination_host_is_503_with_empty_body(sb, kubectl):
    # docs/behaviour.md §1.4: the route's cluster does not exist (NC) -> 503, empty body for Istio
    # VirtualServices.
    kubectl.apply(HTTPBIN_GATEWAY_YAML)
    kubectl.apply(HTTPBIN_VS_YAML.replace("host: httpbin", "host: nosuchservice"))
    r = sb.curl(STATUS_200)
    assert r.status_line == "HTTP/1.1 503 Service Unavailable", r
    assert r.body == ""
    assert r.headers["content-length"] == "0"
    assert "x-envoy-upstream-service-time" not in r.headers


def test_undefined_subset_is_503_nc(sb, kubectl):
    kubectl.apply(HTTPBIN_GATEWAY_YAML)
    kubectl.apply(HTTPBIN_VS_YAML.replace("host: httpbin", "host: httpbin\n        subset: v9"))
    r = sb.curl(STATUS_200)
    assert r.status_line == "HTTP/1.1 503 Service Unavailable", r
    assert r.body == ""
    assert re.search(r'"GET /status/200 HTTP/1.1" 503 NC cluster_not_found ', sb.logs(INGRESS))


def test_image_without_stand_in_is_err_image_pull_and_503_uh(sb, kubectl):
    kubectl.apply(
        """\
apiVersion: v1
kind: Service
metadata:
  name: myapp
spec:
  ports:
  - name: http
    port: 8000
    targetPort: 8080
  selector:
    app: myapp
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: myapp
spec:
  replicas: 1
  selector:
    matchLabels:
      app: myapp
  template:
    metadata:
      labels:
        app: myapp
    spec:
      containers:
      - name: myapp
        image: registry.example.com/team/myapp:1.2.3
        ports:
        - containerPort: 8080
"""
    )
    kubectl.apply(HTTPBIN_GATEWAY_YAML)
    kubectl.apply(HTTPBIN_VS_YAML.replace("host: httpbin", "host: myapp"))
    pods = [p for p in sb.pods() if p.name.startswith("myapp-")]
    assert len(pods) == 1 and pods[0].status == "ErrImagePull", pods
    assert re.fullmatch(r"myapp-[a-z0-9]{8,10}-[a-z0-9]{5}", pods[0].name)
    r = sb.curl(STATUS_200)
    assert r.status_line == "HTTP/1.1 503 Service Unavailable", r
    assert r.body == "no healthy upstream"


TIMEOUT_VS = vs(
    "httpbin",
    "httpbin.example.com",
    """\
  - match:
    - uri:
        prefix: /delay
    timeout: 1s
    route:
    - destination:
        port:
          number: 8000
        host: httpbin
""",
)


def test_route_timeout_is_504(sb, kubectl):
    # docs/behaviour.md §1.4: VirtualService timeout -> 504 "upstream request timeout" (UT), after the
    # timeout.
    kubectl.apply(HTTPBIN_GATEWAY_YAML)
    kubectl.apply(TIMEOUT_VS)
    start = time.monotonic()
    r = sb.curl('curl -s -i -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/delay/3"')
    elapsed = time.monotonic() - start
    assert r.status_line == "HTTP/1.1 504 Gateway Timeout", r
    assert r.body == "upstream request timeout"
    assert r.headers["content-length"] == "24"
    assert r.headers["content-type"] == "text/plain"
    assert r.headers["server"] == "istio-envoy"
    assert "x-envoy-upstream-service-time" not in r.headers
    assert 0.9 <= elapsed < 2.5


def test_route_timeout_access_log(sb, kubectl):
    kubectl.apply(HTTPBIN_GATEWAY_YAML)
    kubectl.apply(TIMEOUT_VS)
    sb.curl('curl -s -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/delay/2?log=1"')
    line = next(ln for ln in sb.logs(INGRESS).splitlines() if '"GET /delay/2?log=1 HTTP/1.1"' in ln)
    # Envoy's access log: details "response_timeout" (router.cc onResponseTimeout ->
    # ResponseCodeDetails::ResponseTimeout) and the upstream host that was too slow, as real
    # gateway logs show: '"GET /items HTTP/1.1" 504 UT response_timeout - "-" 0 24 501 - "172.17.0.1"
    # "curl/7.86.0" "..." "catalog.istioinaction.io" "172.17.0.17:3000" outbound|80|version-v2|...'.
    assert re.search(r'"GET /delay/2\?log=1 HTTP/1.1" 504 UT response_timeout - "-" 0 24 1\d\d\d - ', line), (
        line
    )
    pod_ip = next(p.ip for p in sb.pods() if p.name.startswith("httpbin-"))
    assert f'"{pod_ip}:80" outbound|8000||httpbin.default.svc.cluster.local 10.' in line, line


# --------------------------------------------------------------------------- VirtualService features


def test_weighted_routes_split_between_versions(sb, kubectl):
    kubectl.apply(STAR_GATEWAY)
    kubectl.apply(
        """\
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: helloworld
spec:
  host: helloworld
  subsets:
  - name: v1
    labels:
      version: v1
  - name: v2
    labels:
      version: v2
"""
    )
    kubectl.apply(
        vs(
            "helloworld",
            "*",
            """\
  - match:
    - uri:
        exact: /hello
    route:
    - destination:
        host: helloworld
        subset: v1
        port:
          number: 5000
      weight: 50
    - destination:
        host: helloworld
        subset: v2
        port:
          number: 5000
      weight: 50
""",
        )
    )
    # 40 requests in one curl invocation (one keep-alive connection; Envoy picks per request).
    urls = " ".join(['"http://$INGRESS_HOST:$INGRESS_PORT/hello"'] * 40)
    r = sb.curl(f"curl -s {urls}")
    assert r.exit_code == 0, r
    lines = r.stdout.splitlines()
    assert len(lines) == 40
    pods = {p.name for p in sb.pods() if p.name.startswith("helloworld-")}
    seen = set()
    for line in lines:
        m = re.fullmatch(r"Hello version: (v[12]), instance: (helloworld-v[12]-\S+)", line)
        assert m, line
        assert m.group(2) in pods and m.group(2).startswith(f"helloworld-{m.group(1)}-")
        seen.add(m.group(1))
    assert seen == {"v1", "v2"}  # P(one version only) = 2 * 0.5**40


def test_redirect(sb, kubectl):
    kubectl.apply(HTTPBIN_GATEWAY_YAML)
    kubectl.apply(
        vs(
            "httpbin",
            "httpbin.example.com",
            """\
  - match:
    - uri:
        exact: /old
    redirect:
      uri: /status/200
  - match:
    - uri:
        exact: /moved
    redirect:
      authority: new.example.com
      redirectCode: 302
  - match:
    - uri:
        prefix: /status
    route:
    - destination:
        port:
          number: 8000
        host: httpbin
""",
        )
    )
    r = sb.curl('curl -s -i -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/old"')
    assert r.status_line == "HTTP/1.1 301 Moved Permanently", r
    assert r.headers["location"] == "http://httpbin.example.com/status/200"
    assert r.body == ""
    assert "x-envoy-upstream-service-time" not in r.headers
    r = sb.curl('curl -s -i -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/moved"')
    assert r.status_line == "HTTP/1.1 302 Found", r
    assert r.headers["location"] == "http://new.example.com/moved"
    # curl -L follows the 301 back through the same gateway (--connect-to plays the DNS).
    r = sb.curl(
        'curl -s -L -o /dev/null -w "%{http_code} %{num_redirects}" '
        '--connect-to "httpbin.example.com:80:$INGRESS_HOST:$INGRESS_PORT" "http://httpbin.example.com/old"'
    )
    assert r.stdout == "200 1", r


def test_rewrite_uri_and_authority(sb, kubectl):
    kubectl.apply(HTTPBIN_GATEWAY_YAML)
    kubectl.apply(
        vs(
            "httpbin",
            "httpbin.example.com",
            """\
  - match:
    - uri:
        prefix: /teapot
    rewrite:
      uri: /status/418
    route:
    - destination:
        port:
          number: 8000
        host: httpbin
  - match:
    - uri:
        prefix: /api/
    rewrite:
      uri: /
      authority: internal.example.org
    route:
    - destination:
        port:
          number: 8000
        host: httpbin
""",
        )
    )
    tea = sb.curl('curl -s -i -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/teapot"')
    assert tea.status_line == "HTTP/1.1 418 Unknown", tea
    assert tea.body == TEAPOT
    r = sb.curl('curl -s -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/api/headers"')
    assert r.exit_code == 0, r
    headers = json.loads(r.stdout)["headers"]
    assert headers["Host"] == "internal.example.org"
    # Envoy keeps the client's path in x-envoy-original-path when it rewrites.
    assert headers["X-Envoy-Original-Path"] == "/api/headers"


def test_direct_response(sb, kubectl):
    kubectl.apply(HTTPBIN_GATEWAY_YAML)
    kubectl.apply(
        vs(
            "httpbin",
            "httpbin.example.com",
            """\
  - match:
    - uri:
        prefix: /maintenance
    directResponse:
      status: 503
      body:
        string: "down for maintenance"
  - directResponse:
      status: 204
""",
        )
    )
    r = sb.curl('curl -s -i -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/maintenance"')
    assert r.status_line == "HTTP/1.1 503 Service Unavailable", r
    assert r.body == "down for maintenance"
    assert r.headers["content-length"] == str(len("down for maintenance"))
    assert r.headers["server"] == "istio-envoy"
    assert "x-envoy-upstream-service-time" not in r.headers
    r = sb.curl('curl -s -i -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/anything"')
    assert r.status_line == "HTTP/1.1 204 No Content", r
    assert r.body == ""


def test_wrong_target_port_is_503_connect_failure(sb, kubectl):
    # The pod listens on 80 but the Service sends to 9999: Envoy's connection is refused, retried
    # (Istio's default retry_on includes connect-failure), then 503 with Envoy's reset text
    # (docs/behaviour.md §1.4).
    kubectl.apply(HTTPBIN_GATEWAY_YAML)
    kubectl.apply(HTTPBIN_VS_YAML)
    try:
        sb.apply(HTTPBIN_YAML.replace("targetPort: 80", "targetPort: 9999"))
        r = sb.curl(STATUS_200)
        assert r.status_line == "HTTP/1.1 503 Service Unavailable", r
        assert r.body.startswith(
            "upstream connect error or disconnect/reset before headers. retried and the latest reset reason: "
            "remote connection failure, transport failure reason: delayed connect error: "
        ), r.body
        assert r.headers["content-type"] == "text/plain"
        assert r.headers["content-length"] == str(len(r.body))
        assert "x-envoy-upstream-service-time" not in r.headers
        line = next(
            ln for ln in sb.logs(INGRESS).splitlines()[::-1] if '"GET /status/200 HTTP/1.1" 503' in ln
        )
        assert " URX" in line or ",URX" in line, line
    finally:
        sb.apply(HTTPBIN_YAML)


def test_replicas_two_spread_requests_over_both_pods(sb, kubectl):
    # replicas honoured: two pods, Kubernetes-style names, both serve through the gateway.
    kubectl.apply(STAR_GATEWAY)
    kubectl.apply(
        vs(
            "helloworld",
            "*",
            """\
  - route:
    - destination:
        host: helloworld
        subset: v1
        port:
          number: 5000
""",
        )
    )
    kubectl.apply(
        """\
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: helloworld
spec:
  host: helloworld
  subsets:
  - name: v1
    labels:
      version: v1
"""
    )
    try:
        sb.apply(helloworld_deployment("v1").replace("replicas: 1", "replicas: 2"))
        pods = sorted(p.name for p in sb.pods() if p.name.startswith("helloworld-v1-"))
        assert len(pods) == 2
        assert all(re.fullmatch(r"helloworld-v1-[a-z0-9]{8,10}-[a-z0-9]{5}", p) for p in pods), pods
        assert pods[0].rsplit("-", 1)[0] == pods[1].rsplit("-", 1)[0]  # same template hash
        urls = " ".join(['"http://$INGRESS_HOST:$INGRESS_PORT/hello"'] * 30)
        r = sb.curl(f"curl -s {urls}")
        instances = {line.rsplit(" ", 1)[1] for line in r.stdout.splitlines()}
        assert instances == set(pods), r.stdout
    finally:
        sb.apply(helloworld_deployment("v1"))
