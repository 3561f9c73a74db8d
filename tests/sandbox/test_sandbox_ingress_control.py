"""Istio's ingress-control task, replayed with the docs' own commands against the embedded sandbox.

Docs: istio/istio.io content/en/docs/tasks/traffic-management/ingress/ingress-control/snips.sh.
Expected outputs and rules: docs/behaviour.md §1, §2, §4, §6.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
from sandbox_support import (
    HTTPBIN_GATEWAY_YAML,
    HTTPBIN_VS_YAML,
    HTTPBIN_YAML,
    INGRESS,
    TEAPOT,
)

STATUS_200 = 'curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/status/200"'
HEADERS = 'curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/headers"'

# snip_accessing_ingress_services_using_a_browser_1: hosts "*" on both sides.
STAR_GATEWAY_AND_VS = """\
apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata:
  name: httpbin-gateway
spec:
  selector:
    istio: ingressgateway # use Istio default gateway implementation
  servers:
  - port:
      number: 80
      name: http
      protocol: HTTP
    hosts:
    - "*"
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: httpbin
spec:
  hosts:
  - "*"
  gateways:
  - httpbin-gateway
  http:
  - match:
    - uri:
        prefix: /headers
    route:
    - destination:
        port:
          number: 8000
        host: httpbin
"""


@pytest.fixture(scope="module", autouse=True)
def httpbin(sb):
    """``kubectl apply -f samples/httpbin/httpbin.yaml`` (snip_before_you_begin_2)."""
    report = sb.apply(HTTPBIN_YAML)
    assert str(report) == (
        "serviceaccount/httpbin created\nservice/httpbin created\ndeployment.apps/httpbin created"
    )
    return report


@pytest.fixture()
def httpbin_gateway(kubectl):
    """The task's Gateway and VirtualService (snip_configuring_ingress_using_a_gateway_1, _2)."""
    r1 = kubectl.apply(HTTPBIN_GATEWAY_YAML)
    r2 = kubectl.apply(HTTPBIN_VS_YAML)
    assert str(r1) == "gateway.networking.istio.io/httpbin-gateway created"
    assert str(r2) == "virtualservice.networking.istio.io/httpbin created"


def _head_lines(stdout: str) -> list[str]:
    return stdout.replace("\r\n", "\n").split("\n")


# ------------------------------------------------------------------- snip_accessing_ingress_services


def test_status_200_is_served_by_istio_envoy(sb, httpbin_gateway):
    # snip_accessing_ingress_services_1_out: "HTTP/1.1 200 OK" / "server: istio-envoy" / ...
    r = sb.curl(STATUS_200)
    assert r.exit_code == 0, r
    lines = _head_lines(r.stdout)
    assert lines[0] == "HTTP/1.1 200 OK"
    assert lines[1] == "server: istio-envoy"
    assert r.status_line == "HTTP/1.1 200 OK"
    # docs/behaviour.md §1.2: the upstream answered, so Envoy adds x-envoy-upstream-service-time
    # (milliseconds).
    assert re.fullmatch(r"\d+", r.headers["x-envoy-upstream-service-time"])
    # The Python httpbin's own headers pass through ([D-IC-old] transcript).
    assert r.headers["access-control-allow-origin"] == "*"
    assert r.headers["access-control-allow-credentials"] == "true"
    assert r.headers["content-length"] == "0"
    assert "date" in r.headers
    assert r.body == ""
    assert r.stderr == ""


def test_reapplying_the_same_manifest_is_unchanged(sb, httpbin_gateway):
    assert str(sb.apply(HTTPBIN_GATEWAY_YAML)) == "gateway.networking.istio.io/httpbin-gateway unchanged"


def test_unrouted_path_is_404_local_reply(sb, httpbin_gateway):
    # snip_accessing_ingress_services_2_out: "HTTP/1.1 404 Not Found"; docs/behaviour.md §1.4 404 NR, empty
    # body.
    r = sb.curl(HEADERS)
    assert r.exit_code == 0, r
    assert _head_lines(r.stdout)[0] == "HTTP/1.1 404 Not Found"
    assert r.headers["server"] == "istio-envoy"
    assert r.headers["content-length"] == "0"
    # docs/behaviour.md §1.2: a local reply never carries x-envoy-upstream-service-time nor a content-type.
    assert "x-envoy-upstream-service-time" not in r.headers
    assert "content-type" not in r.headers
    # GET too: the body is empty (Envoy sendLocalReply(NotFound, "")).
    g = sb.curl('curl -s -i -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/headers"')
    assert g.status == 404 and g.body == ""


def test_upstream_404_differs_from_local_404(sb, httpbin_gateway):
    # httpbin's own 404 came from the upstream: it has the service-time header; Envoy's NR does not.
    r = sb.curl('curl -s -i -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/status/404"')
    assert r.status_line == "HTTP/1.1 404 Not Found"
    assert "x-envoy-upstream-service-time" in r.headers


def test_teapot_over_http1_has_envoy_reason_phrase(sb, httpbin_gateway):
    # docs/behaviour.md §1.5: Envoy has no phrase for 418 -> "HTTP/1.1 418 Unknown"; §1.7: Python httpbin's
    # teapot.
    r = sb.curl('curl -s -i -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/status/418"')
    assert r.exit_code == 0, r
    assert _head_lines(r.stdout)[0] == "HTTP/1.1 418 Unknown"
    assert r.headers["x-more-info"] == "http://tools.ietf.org/html/rfc2324"
    assert r.headers["content-length"] == "135"
    assert r.headers["server"] == "istio-envoy"
    assert r.body == TEAPOT


def test_delay_route_reaches_httpbin(sb, httpbin_gateway):
    r = sb.curl('curl -s -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/delay/0"')
    assert r.exit_code == 0, r
    body = json.loads(r.stdout)
    assert body["url"] == "http://httpbin.example.com/delay/0"


@pytest.mark.parametrize(
    "host",
    ["httpbin.example.com:80", "HTTPBIN.Example.COM", "Httpbin.Example.Com:31380"],
)
def test_host_header_case_and_port_are_ignored(sb, httpbin_gateway, host):
    # docs/behaviour.md §4.3: Envoy lower-cases the Host and ignores its port on gateways
    # (IgnorePortInHostMatching).
    r = sb.curl(f'curl -s -I -H "Host: {host}" "http://$INGRESS_HOST:$INGRESS_PORT/status/200"')
    assert r.status_line == "HTTP/1.1 200 OK", r


def test_host_not_in_gateway_is_404(sb, httpbin_gateway):
    # docs/behaviour.md §4.3 "host mismatch": no virtual host matches -> 404 NR.
    r = sb.curl('curl -s -I -HHost:other.example.com "http://$INGRESS_HOST:$INGRESS_PORT/status/200"')
    assert r.status_line == "HTTP/1.1 404 Not Found"
    assert "x-envoy-upstream-service-time" not in r.headers


def test_without_host_header_the_ip_does_not_match(sb, httpbin_gateway):
    # docs/behaviour.md §4.3: without -H Host curl sends Host: 127.0.0.1:<port>, matching only a "*" host.
    r = sb.curl('curl -s -I "http://$INGRESS_HOST:$INGRESS_PORT/status/200"')
    assert r.status_line == "HTTP/1.1 404 Not Found"


def test_gateway_without_virtual_service_answers_404(sb, kubectl):
    # docs/behaviour.md §2: an HTTP server always gets a listener; with no VS the blackhole vhost answers 404
    # NR.
    kubectl.apply(HTTPBIN_GATEWAY_YAML)
    r = sb.curl(STATUS_200)
    assert r.status_line == "HTTP/1.1 404 Not Found"


def test_access_log_in_envoy_default_format(sb, httpbin_gateway):
    ok = sb.curl('curl -s -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/status/200?x=log1"')
    assert ok.status is None or ok.exit_code == 0
    sb.curl('curl -s -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/headers?x=log2"')
    log = sb.logs(INGRESS)
    lines = log.splitlines()
    served = [ln for ln in lines if "/status/200?x=log1" in ln]
    missed = [ln for ln in lines if "/headers?x=log2" in ln]
    assert len(served) == 1 and len(missed) == 1, log
    # Istio's default access-log format (proxy-config-accesslog): cluster name and flags.
    assert re.match(
        r'^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] "GET /status/200\?x=log1 HTTP/1.1" 200 - via_upstream ',
        served[0],
    )
    assert " outbound|8000||httpbin.default.svc.cluster.local " in served[0]
    assert '"httpbin.example.com"' in served[0]
    assert '"curl/7.' in served[0]
    assert re.search(r'"GET /headers\?x=log2 HTTP/1.1" 404 NR route_not_found ', missed[0])


# ----------------------------------------------------- hosts "*" and request headers (docs/behaviour.md §1.3)


def test_star_hosts_need_no_host_header(sb, kubectl):
    # snip_accessing_ingress_services_using_a_browser_1; [D-IC-test] curl_httpbin_headers -> 200.
    kubectl.apply(STAR_GATEWAY_AND_VS)
    r = sb.curl('curl -s -I "http://$INGRESS_HOST:$INGRESS_PORT/headers"')
    assert r.exit_code == 0, r
    assert r.status_line == "HTTP/1.1 200 OK"
    assert r.headers["server"] == "istio-envoy"
    assert r.headers["content-type"] == "application/json"


def test_request_headers_envoy_adds(sb, kubectl):
    kubectl.apply(STAR_GATEWAY_AND_VS)
    r = sb.curl('curl -s "http://$INGRESS_HOST:$INGRESS_PORT/headers"')
    assert r.exit_code == 0, r
    headers = json.loads(r.stdout)["headers"]
    # Python httpbin shows header values as strings (docs/behaviour.md §1.7) and Host as curl sent it.
    assert headers["Host"] == f"127.0.0.1:{sb.env['INGRESS_PORT']}"
    assert headers["Accept"] == "*/*"
    assert headers["User-Agent"].startswith("curl/")
    # docs/behaviour.md §1.3: IncludeRequestAttemptCount -> 1; decorator <fqdn>:<port><prefix>* for a prefix
    # match.
    assert headers["X-Envoy-Attempt-Count"] == "1"
    # The gateway sends X-Envoy-Decorator-Operation, but httpbin has a sidecar: Istio configures
    # tracing on every HCM, and an ingress-direction stream's traceRequest() "Remove[s] header so
    # not propagated to service" (Envoy conn_manager_impl.cc). The value is in the explain view.
    assert "X-Envoy-Decorator-Operation" not in headers
    assert _gateway_decorator(r) == "httpbin.default.svc.cluster.local:8000/headers*"
    assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", headers["X-Envoy-External-Address"])
    # Python httpbin hides its "env" headers (X-Forwarded-*, X-Request-Id) unless ?show_env=1 —
    # what a learner sees on a real cluster with docker.io/kong/httpbin.
    for hidden in ("X-Forwarded-For", "X-Forwarded-Proto", "X-Request-Id"):
        assert hidden not in headers


def test_request_headers_with_show_env(sb, kubectl):
    kubectl.apply(STAR_GATEWAY_AND_VS)
    r = sb.curl('curl -s "http://$INGRESS_HOST:$INGRESS_PORT/headers?show_env=1"')
    assert r.exit_code == 0, r
    headers = json.loads(r.stdout)["headers"]
    # docs/behaviour.md §1.3: the gateway is the edge (useRemoteAddress): XFF is the client address it saw,
    # which is also x-envoy-external-address; the scheme the client used; a fresh UUID request id.
    assert headers["X-Forwarded-Proto"] == "http"
    assert headers["X-Forwarded-For"] == headers["X-Envoy-External-Address"]
    uuid.UUID(headers["X-Request-Id"])
    # The same request id is in the gateway's access log.
    assert f'"{headers["X-Request-Id"]}"' in sb.logs(INGRESS)


def test_client_x_forwarded_for_is_appended(sb, kubectl):
    kubectl.apply(STAR_GATEWAY_AND_VS)
    r = sb.curl(
        'curl -s -H "X-Forwarded-For: 203.0.113.7" "http://$INGRESS_HOST:$INGRESS_PORT/headers?show_env=1"'
    )
    headers = json.loads(r.stdout)["headers"]
    # Envoy appends the remote address with a bare "," (Utility::appendXff -> appendForwardedFor(
    # addr, ",")); with xff_num_trusted_hops 0 the external address is that remote address, not
    # the client-supplied one.
    assert headers["X-Forwarded-For"] == "203.0.113.7," + headers["X-Envoy-External-Address"]
    assert headers["X-Envoy-External-Address"] != "203.0.113.7"


# ----------------------------------------------------------------------- exact vs wildcard precedence

PRECEDENCE = """\
apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata:
  name: precedence-gateway
spec:
  selector:
    istio: ingressgateway
  servers:
  - port:
      number: 80
      name: http
      protocol: HTTP
    hosts:
    - "*"
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: exact
spec:
  hosts:
  - "httpbin.example.com"
  gateways:
  - precedence-gateway
  http:
  - match:
    - uri:
        prefix: /status
    route:
    - destination:
        port:
          number: 8000
        host: httpbin
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: wildcard
spec:
  hosts:
  - "*.example.com"
  gateways:
  - precedence-gateway
  http:
  - directResponse:
      status: 200
      body:
        string: "wildcard"
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: catch-all
spec:
  hosts:
  - "*"
  gateways:
  - precedence-gateway
  http:
  - directResponse:
      status: 200
      body:
        string: "star"
"""


def test_exact_before_wildcard_before_star(sb, kubectl):
    # docs/behaviour.md §4.3: exact domain, then the longest suffix wildcard, then "*" (Envoy
    # findVirtualHost).
    kubectl.apply(PRECEDENCE)
    base = '"http://$INGRESS_HOST:$INGRESS_PORT'
    exact = sb.curl(f'curl -s -i -HHost:httpbin.example.com {base}/status/200"')
    assert exact.status_line == "HTTP/1.1 200 OK" and "x-envoy-upstream-service-time" in exact.headers
    wild = sb.curl(f'curl -s -HHost:foo.example.com {base}/anything"')
    assert (wild.exit_code, wild.stdout) == (0, "wildcard")
    star = sb.curl(f'curl -s -HHost:foo.example.org {base}/anything"')
    assert (star.exit_code, star.stdout) == (0, "star")
    # No fall-through: once the exact vhost is chosen, an unrouted path is 404 there.
    miss = sb.curl(f'curl -s -i -HHost:httpbin.example.com {base}/anything"')
    assert miss.status_line == "HTTP/1.1 404 Not Found" and miss.body == ""


# ----------------------------------------------------------------------- httpsRedirect (docs/behaviour.md §6)

REDIRECT_GATEWAY = """\
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
    tls:
      httpsRedirect: true
"""


@pytest.mark.parametrize("with_vs", [True, False], ids=["with-vs", "without-vs"])
def test_https_redirect(sb, kubectl, with_vs):
    # docs/behaviour.md §6: 301 with location https://<Host><path>, empty body, with or without a
    # VirtualService.
    kubectl.apply(REDIRECT_GATEWAY)
    if with_vs:
        kubectl.apply(HTTPBIN_VS_YAML)
    r = sb.curl('curl -s -i -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/status/200"')
    assert r.exit_code == 0, r
    assert _head_lines(r.stdout)[0] == "HTTP/1.1 301 Moved Permanently"
    assert r.headers["location"] == "https://httpbin.example.com/status/200"
    assert r.headers["server"] == "istio-envoy"
    assert r.headers["content-length"] == "0"
    assert "x-envoy-upstream-service-time" not in r.headers
    assert r.body == ""


def test_https_redirect_keeps_host_port_and_any_path(sb, kubectl):
    # docs/behaviour.md §6: the Host header is kept verbatim, port included; every path redirects.
    kubectl.apply(REDIRECT_GATEWAY)
    r = sb.curl(
        'curl -s -I -H "Host: httpbin.example.com:8080" "http://$INGRESS_HOST:$INGRESS_PORT/headers?a=1"'
    )
    assert r.status_line == "HTTP/1.1 301 Moved Permanently"
    assert r.headers["location"] == "https://httpbin.example.com:8080/headers?a=1"


def test_redirect_after_delete_is_gone(sb, kubectl):
    kubectl.apply(REDIRECT_GATEWAY)
    kubectl.apply(HTTPBIN_VS_YAML)
    assert sb.curl(STATUS_200).status == 301
    kubectl.apply(HTTPBIN_GATEWAY_YAML)  # same Gateway, without httpsRedirect: configured
    assert sb.curl(STATUS_200).status_line == "HTTP/1.1 200 OK"


# ------------------------------------------------------- binding, ports, listeners (docs/behaviour.md §2, §4)


def test_apply_and_delete_take_effect_before_returning(sb, kubectl):
    # Issue 3: apply returns only when the new configuration serves -- no sleeps, no retries.
    kubectl.apply(HTTPBIN_VS_YAML)
    for _ in range(5):
        sb.apply(HTTPBIN_GATEWAY_YAML)
        assert sb.curl(STATUS_200).status_line == "HTTP/1.1 200 OK"
        sb.delete(HTTPBIN_GATEWAY_YAML)
        assert sb.curl(STATUS_200).exit_code == 7


def test_listener_and_route_names(sb, httpbin_gateway):
    # docs/behaviour.md §2: Gateway port 80 -> Service targetPort 8080 -> listener 0.0.0.0_8080, route
    # http.8080.
    proxy = sb.proxy_config(INGRESS)
    listener = proxy.listener(8080)
    assert listener is not None and listener.name == "0.0.0.0_8080"
    assert "http.8080" in proxy.route_configs
    assert "outbound|8000||httpbin.default.svc.cluster.local" in proxy.clusters
    assert proxy.listener(80) is None


def test_gateway_port_number_equal_to_target_port_is_reachable(sb, kubectl):
    # docs/behaviour.md §2: "number: 8080" matches no Service port, so it is used as-is: listener
    # 0.0.0.0_8080, which is exactly what Service port 80 targets -- reachable on $INGRESS_PORT.
    kubectl.apply(HTTPBIN_GATEWAY_YAML.replace("number: 80\n", "number: 8080\n"))
    kubectl.apply(HTTPBIN_VS_YAML)
    assert sb.curl(STATUS_200).status_line == "HTTP/1.1 200 OK"


def test_gateway_port_not_published_is_unreachable(sb, kubectl):
    # docs/behaviour.md §2: a server on a port the Service does not expose listens in the pod, unreachable
    # outside.
    kubectl.apply(HTTPBIN_GATEWAY_YAML.replace("number: 80\n", "number: 8081\n"))
    kubectl.apply(HTTPBIN_VS_YAML)
    assert sb.proxy_config(INGRESS).listener(8081) is not None
    assert sb.curl(STATUS_200).exit_code == 7


def test_virtual_service_gateway_reference_is_namespaced(sb, kubectl):
    # docs/behaviour.md §4.2: a short gateway name means "in the VirtualService's namespace".
    kubectl.apply(
        HTTPBIN_GATEWAY_YAML.replace(
            "name: httpbin-gateway\n", "name: httpbin-gateway\n  namespace: istio-system\n"
        )
    )
    kubectl.apply(HTTPBIN_VS_YAML)
    assert sb.curl(STATUS_200).status_line == "HTTP/1.1 404 Not Found"
    kubectl.apply(HTTPBIN_VS_YAML.replace("  - httpbin-gateway", "  - istio-system/httpbin-gateway"))
    assert sb.curl(STATUS_200).status_line == "HTTP/1.1 200 OK"


def test_virtual_service_without_gateways_binds_only_to_mesh(sb, kubectl):
    # docs/behaviour.md §4.2: omitting gateways means "mesh" only.
    kubectl.apply(HTTPBIN_GATEWAY_YAML)
    kubectl.apply(HTTPBIN_VS_YAML.replace("  gateways:\n  - httpbin-gateway\n", ""))
    assert sb.curl(STATUS_200).status_line == "HTTP/1.1 404 Not Found"


def test_virtual_service_exported_only_to_its_namespace_is_invisible(sb, kubectl):
    # docs/behaviour.md §4.1: exportTo ["."] in default hides the VS from the gateway pod in istio-system.
    kubectl.apply(HTTPBIN_GATEWAY_YAML)
    kubectl.apply(HTTPBIN_VS_YAML.replace("spec:\n", 'spec:\n  exportTo:\n  - "."\n', 1))
    assert sb.curl(STATUS_200).status_line == "HTTP/1.1 404 Not Found"


def test_two_gateways_on_port_80_merge(sb, kubectl):
    # docs/behaviour.md §10: HTTP servers on the same port merge into one route config http.8080.
    kubectl.apply(HTTPBIN_GATEWAY_YAML)
    kubectl.apply(HTTPBIN_VS_YAML)
    kubectl.apply(
        HTTPBIN_GATEWAY_YAML.replace("httpbin-gateway", "other-gateway").replace(
            "httpbin.example.com", "other.example.com"
        )
    )
    kubectl.apply(
        HTTPBIN_VS_YAML.replace("name: httpbin\n", "name: other\n")
        .replace("httpbin-gateway", "other-gateway")
        .replace('"httpbin.example.com"', '"other.example.com"')
    )
    assert sb.curl(STATUS_200).status_line == "HTTP/1.1 200 OK"
    other = sb.curl('curl -s -I -HHost:other.example.com "http://$INGRESS_HOST:$INGRESS_PORT/status/200"')
    assert other.status_line == "HTTP/1.1 200 OK"


def test_http2_prior_knowledge_on_the_plaintext_port(sb, httpbin_gateway):
    # Istio's gateway HCM uses codec_type AUTO: h2c with prior knowledge is served over HTTP/2.
    r = sb.curl(
        'curl -s -I --http2-prior-knowledge -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/status/418"'
    )
    assert r.exit_code == 0, r
    assert r.status_line == "HTTP/2 418"
    assert r.headers["server"] == "istio-envoy"


# ------------------------------------------------------ host and path matching details (docs/behaviour.md §4)


@pytest.mark.parametrize(
    ("gateway_host", "status"),
    [
        ("default/httpbin.example.com", "HTTP/1.1 200 OK"),
        ("./httpbin.example.com", "HTTP/1.1 200 OK"),  # "." = the Gateway's own namespace
        ("*/httpbin.example.com", "HTTP/1.1 200 OK"),
        ("istio-system/httpbin.example.com", "HTTP/1.1 404 Not Found"),  # VS in default may not bind
    ],
)
def test_gateway_host_namespace_part(sb, kubectl, gateway_host, status):
    # docs/behaviour.md §4.1: a VS in namespace N only uses gateway hosts whose namespace part is N or "*".
    kubectl.apply(HTTPBIN_GATEWAY_YAML.replace('"httpbin.example.com"', f'"{gateway_host}"'))
    kubectl.apply(HTTPBIN_VS_YAML)
    assert sb.curl(STATUS_200).status_line == status


@pytest.mark.parametrize(
    ("vs_host", "request_host", "status"),
    [
        ("httpbin.example.com", "httpbin.example.com", "HTTP/1.1 200 OK"),  # narrower name wins
        ("httpbin.example.com", "foo.example.com", "HTTP/1.1 404 Not Found"),
        ("*.example.com", "foo.example.com", "HTTP/1.1 200 OK"),
        ("example.com", "example.com", "HTTP/1.1 404 Not Found"),  # [A-GW]: does not match *.example.com
    ],
)
def test_wildcard_gateway_host_intersection(sb, kubectl, vs_host, request_host, status):
    # docs/behaviour.md §4.2: the VS takes effect only where its hosts intersect the server's hosts.
    kubectl.apply(HTTPBIN_GATEWAY_YAML.replace('"httpbin.example.com"', '"*.example.com"'))
    kubectl.apply(HTTPBIN_VS_YAML.replace('"httpbin.example.com"', f'"{vs_host}"'))
    r = sb.curl(f'curl -s -I -HHost:{request_host} "http://$INGRESS_HOST:$INGRESS_PORT/status/200"')
    assert r.status_line == status


def test_uri_match_is_case_sensitive_unless_ignore_uri_case(sb, kubectl):
    kubectl.apply(HTTPBIN_GATEWAY_YAML)
    kubectl.apply(HTTPBIN_VS_YAML)
    upper = 'curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/STATUS/200"'
    assert sb.curl(upper).status_line == "HTTP/1.1 404 Not Found"
    kubectl.apply(
        HTTPBIN_VS_YAML.replace(
            "        prefix: /status", "        prefix: /status\n      ignoreUriCase: true"
        )
    )
    # Envoy matched case-insensitively; httpbin itself then answers its own 404 for /STATUS/200.
    r = sb.curl(upper)
    assert r.status_line == "HTTP/1.1 404 Not Found"
    assert "x-envoy-upstream-service-time" in r.headers


def test_header_match_routes(sb, kubectl):
    kubectl.apply(HTTPBIN_GATEWAY_YAML)
    kubectl.apply(
        """\
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
  - match:
    - headers:
        end-user:
          exact: jason
    route:
    - destination:
        port:
          number: 8000
        host: httpbin
  - directResponse:
      status: 403
      body:
        string: "only jason"
"""
    )
    jason = sb.curl(
        'curl -s -I -HHost:httpbin.example.com -H "end-user: jason" "http://$INGRESS_HOST:$INGRESS_PORT/status/200"'
    )
    assert jason.status_line == "HTTP/1.1 200 OK"
    other = sb.curl(
        'curl -s -i -HHost:httpbin.example.com -H "end-user: bob" "http://$INGRESS_HOST:$INGRESS_PORT/status/200"'
    )
    assert other.status_line == "HTTP/1.1 403 Forbidden"
    assert other.body == "only jason"


def _gateway_decorator(r):
    """The decorator the ingress gateway's matched route set (what the explain view shows)."""
    for proxy_id, result in r.explanation or ():
        if proxy_id.startswith("istio-system/istio-ingressgateway") and result.route_entry is not None:
            return result.route_entry.decorator_operation
    return None


def test_decorator_operation_is_per_envoy_route(sb, httpbin_gateway):
    # docs/behaviour.md §1.3 [I-ROUTE] getRouteOperation works on the *Envoy* route: each VS match becomes its
    # own route, so a request matched by the second match (prefix /delay) carries "/delay*".
    r = sb.curl('curl -s -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/delay/0"')
    assert "X-Envoy-Decorator-Operation" not in json.loads(r.stdout)["headers"]  # consumed by the sidecar
    assert _gateway_decorator(r) == "httpbin.default.svc.cluster.local:8000/delay*"


def test_decorator_operation_for_exact_match(sb, kubectl):
    kubectl.apply(HTTPBIN_GATEWAY_YAML)
    kubectl.apply(
        HTTPBIN_VS_YAML.replace(
            "        prefix: /status\n    - uri:\n        prefix: /delay", "        exact: /headers"
        )
    )
    r = sb.curl('curl -s -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/headers"')
    assert "X-Envoy-Decorator-Operation" not in json.loads(r.stdout)["headers"]  # consumed by the sidecar
    assert _gateway_decorator(r) == "httpbin.default.svc.cluster.local:8000/headers"


def test_http_match_port_must_equal_the_server_port(sb, kubectl):
    # docs/behaviour.md §4.2: a VS http match on another port filters that route out -> 404 on this server.
    kubectl.apply(HTTPBIN_GATEWAY_YAML)
    kubectl.apply(
        HTTPBIN_VS_YAML.replace(
            "    - uri:\n        prefix: /status", "    - uri:\n        prefix: /status\n      port: 443"
        )
    )
    assert sb.curl(STATUS_200).status_line == "HTTP/1.1 404 Not Found"
    kubectl.apply(
        HTTPBIN_VS_YAML.replace(
            "    - uri:\n        prefix: /status", "    - uri:\n        prefix: /status\n      port: 80"
        )
    )
    assert sb.curl(STATUS_200).status_line == "HTTP/1.1 200 OK"


# -------------------------------------------------------------- what the HCM does before routing


def test_http_1_0_is_refused_with_426(sb, httpbin_gateway):
    # Istio leaves Http1ProtocolOptions.accept_http_10 off unless PILOT_HTTP10=1
    # (buildGatewayConnectionManager); Envoy's HTTP/1 codec then answers an HTTP/1.0 request with
    # 426 Upgrade Required (the classic `ab` / HTTP/1.0-client symptom behind an Istio gateway).
    r = sb.curl(
        'curl -s -i --http1.0 -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/status/200"'
    )
    assert r.exit_code == 0, r
    assert r.status_line == "HTTP/1.1 426 Upgrade Required"
    assert r.body == "Upgrade Required"
    assert "x-envoy-upstream-service-time" not in r.headers


def test_path_is_normalized_before_matching(sb, httpbin_gateway):
    # Istio's default path normalization (meshConfig.pathNormalization BASE -> HCM normalize_path:
    # true): "/foo/../status/201" is matched, and forwarded, as "/status/201".
    r = sb.curl(
        'curl -s -i --path-as-is -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/foo/../status/201"'
    )
    assert r.status_line == "HTTP/1.1 201 Created", r
    assert "x-envoy-upstream-service-time" in r.headers


@pytest.mark.parametrize(
    ("sent", "forwarded"),
    # Istio's own table for BASE (pilot/pkg/networking/core path-normalization test, "Base").
    [
        ("/app/../anything/admin", "/anything/admin"),
        ("/anything/%2E./anything/admin", "/anything/admin"),
        ("/anything/app\\admin", "/anything/app/admin"),
    ],
)
def test_path_normalization_base(sb, kubectl, sent, forwarded):
    kubectl.apply(STAR_GATEWAY_AND_VS.replace("        prefix: /headers", "        prefix: /anything"))
    r = sb.curl(f'curl -s --path-as-is "http://$INGRESS_HOST:$INGRESS_PORT{sent}"')
    assert r.exit_code == 0, r
    url = json.loads(r.stdout)["url"]
    assert url == f"http://127.0.0.1:{sb.env['INGRESS_PORT']}{forwarded}"


def test_missing_host_header_is_400(sb, httpbin_gateway):
    import socket

    with socket.create_connection((sb.env["INGRESS_HOST"], int(sb.env["INGRESS_PORT"])), timeout=5) as s:
        s.sendall(b"GET /status/200 HTTP/1.1\r\n\r\n")
        data = s.recv(4096)
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n"), data


# ---------------------------------------------------------- more binding rules (docs/behaviour.md §3, §4, §5)


def test_gateway_without_selector_applies_to_every_gateway(sb, kubectl):
    # docs/behaviour.md §3: "If selector is nil, the Gateway will be applied to all workloads."
    kubectl.apply(
        HTTPBIN_GATEWAY_YAML.replace(
            "  selector:\n    istio: ingressgateway # use Istio default gateway implementation\n", ""
        )
    )
    kubectl.apply(HTTPBIN_VS_YAML)
    assert sb.curl(STATUS_200).status_line == "HTTP/1.1 200 OK"
    assert sb.proxy_config("istio-system/istio-egressgateway").listener(8080) is not None


def test_short_destination_host_resolves_in_the_virtual_service_namespace(sb, kubectl):
    # A VS in namespace "frontend" naming "httpbin" means httpbin.frontend.svc.cluster.local: no such
    # Service -> the route's cluster does not exist -> 503 NC with an empty body (docs/behaviour.md §1.4).
    kubectl.apply("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: frontend\n")
    kubectl.apply(HTTPBIN_GATEWAY_YAML)
    vs = HTTPBIN_VS_YAML.replace("name: httpbin\n", "name: httpbin\n  namespace: frontend\n", 1).replace(
        "  - httpbin-gateway", "  - default/httpbin-gateway"
    )
    kubectl.apply(vs)
    r = sb.curl(STATUS_200)
    assert r.status_line == "HTTP/1.1 503 Service Unavailable", r
    assert r.body == ""
    kubectl.apply(vs.replace("host: httpbin", "host: httpbin.default.svc.cluster.local"))
    assert sb.curl(STATUS_200).status_line == "HTTP/1.1 200 OK"


def test_plain_http_server_on_port_443(sb, kubectl):
    # docs/behaviour.md §2: Service port 443 targets 8443; an HTTP server there answers plaintext on
    # $SECURE_INGRESS_PORT.
    kubectl.apply(HTTPBIN_GATEWAY_YAML.replace("number: 80\n", "number: 443\n"))
    kubectl.apply(HTTPBIN_VS_YAML)
    r = sb.curl(
        'curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST:$SECURE_INGRESS_PORT/status/200"'
    )
    assert r.status_line == "HTTP/1.1 200 OK"
    assert sb.curl(STATUS_200).exit_code == 7


def test_merged_virtual_services_move_catch_all_routes_last(sb, kubectl):
    # docs/behaviour.md §4.2: two VSs for one host merge; catch-all routes (prefix "/") are moved to the end,
    # so the later VS's /status route still wins for /status/200 although the catch-all VS came first.
    kubectl.apply(HTTPBIN_GATEWAY_YAML)
    kubectl.apply(
        """\
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: catch-all
spec:
  hosts:
  - "httpbin.example.com"
  gateways:
  - httpbin-gateway
  http:
  - match:
    - uri:
        prefix: /
    directResponse:
      status: 200
      body:
        string: "catch-all"
"""
    )
    kubectl.apply(HTTPBIN_VS_YAML)
    assert "x-envoy-upstream-service-time" in sb.curl(STATUS_200).headers
    other = sb.curl('curl -s -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/other"')
    assert other.stdout == "catch-all"


@pytest.mark.parametrize("path", ["/status/200", "/nothing"], ids=["proxied", "local-reply"])
def test_response_header_names_are_lower_case(sb, httpbin_gateway, path):
    # Envoy's HTTP/1 codec writes every header name lower-case (no header_key_format in Istio's
    # gateway), including the "connection: close" it adds when the client asked to close
    # (docs/behaviour.md §1.5).
    r = sb.curl(
        f'curl -s -i -H "Connection: close" -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT{path}"'
    )
    head = r.stdout.replace("\r\n", "\n").split("\n\n", 1)[0].split("\n")[1:]
    names = [line.split(":", 1)[0] for line in head]
    assert "connection" in names, head
    assert names == [n.lower() for n in names], head


def test_env_names_the_published_service_ports(sb):
    # docs/behaviour.md §0: the docs' variables; the Service ports 80/443/31400 published on 127.0.0.1 like a
    # NodePort.
    env = sb.env
    assert set(env) == {"INGRESS_HOST", "INGRESS_PORT", "SECURE_INGRESS_PORT", "TCP_INGRESS_PORT"}
    assert env["INGRESS_HOST"] == "127.0.0.1"
    ports = [int(env[k]) for k in ("INGRESS_PORT", "SECURE_INGRESS_PORT", "TCP_INGRESS_PORT")]
    assert len(set(ports)) == 3 and all(0 < p < 65536 for p in ports)
