"""Istio's *Accessing External Services* task (egress-control), in the embedded sandbox.

Commands and expected outputs are the docs' (istio.io ``egress-control/snips.sh``), run in the
``curl`` pod (``source="default/curl"``) through its emulated sidecar (§11).
"""

from __future__ import annotations

import json
import re
import time

from egress_support import (
    ACCESS_AN_EXTERNAL_HTTP_SERVICE_2_OUT,
    ALLOW_ANY_INSTALL,
    REGISTRY_ONLY_INSTALL,
    SE_GOOGLE,
    SE_HTTPBIN,
    SOURCE,
    VS_HTTPBIN_TIMEOUT,
    last_line,
)

from gatewaykit.kit.verify import elided_match

# snip_envoy_passthrough_to_external_services_3 / snip_change_to_the_blockingbydefault_policy_3
PASSTHROUGH_PROBE = (
    'curl -sSI https://www.google.com | grep  "HTTP/"; curl -sI https://edition.cnn.com | grep "HTTP/"'
)
BLOCKED_PROBE = (
    'curl -sI https://www.google.com | grep  "HTTP/"; curl -sI https://edition.cnn.com | grep "HTTP/"'
)


def test_allow_any_lets_https_out(sb, kubectl):
    # §11.2 ALLOW_ANY: unknown TLS destinations leave through PassthroughCluster (original dst).
    r = sb.curl(PASSTHROUGH_PROBE, source=SOURCE)
    # (curl 7.88 prints "HTTP/2 200 " with a trailing space; the docs' checker trims lines)
    assert [line.rstrip() for line in r.stdout.splitlines()] == ["HTTP/2 200", "HTTP/2 200"]
    line = last_line(sb.logs(SOURCE), "PassthroughCluster", ":443")
    assert line.startswith("[") and '"- - -" 0 -' in line


def test_allow_any_http_is_answered_by_the_site_through_the_sidecar(sb, kubectl):
    r = sb.curl("curl -sSI http://httpbin.org/status/200", source=SOURCE)
    assert r.exit_code == 0 and r.status == 200
    assert r.headers["server"] == "envoy"  # the sidecar overwrites the site's Server (§1.1)
    assert "x-envoy-upstream-service-time" in r.headers
    assert '"HEAD /status/200 HTTP/1.1" 200' in last_line(sb.logs(SOURCE), "PassthroughCluster", "allow_any")


def test_istioctl_install_registry_only_blocks_https_with_exit_35(sb, kubectl):
    # The docs' expected output is exactly "command terminated with exit code 35" (twice): curl -sI
    # prints nothing, the pipeline's grep finds nothing; each curl itself exits 35.
    kubectl.apply(REGISTRY_ONLY_INSTALL)
    r = sb.curl("curl -sI https://www.google.com", source=SOURCE)
    assert (r.exit_code, r.stdout, r.stderr) == (35, "", "")
    r = sb.curl("curl -sI https://edition.cnn.com", source=SOURCE)
    assert (r.exit_code, r.stdout) == (35, "")
    assert sb.curl(BLOCKED_PROBE, source=SOURCE).stdout == ""
    # With -S curl says why: the sidecar's BlackHoleCluster closed the connection (§1.6).
    r = sb.curl("curl -sSI https://www.google.com", source=SOURCE)
    assert r.exit_code == 35
    assert "SSL_ERROR_SYSCALL in connection to www.google.com:443" in r.stderr
    assert "BlackHoleCluster" in sb.logs(SOURCE)


def test_registry_only_http_gets_the_sidecars_empty_502(sb, kubectl):
    kubectl.apply(REGISTRY_ONLY_INSTALL)
    r = sb.curl("curl -sS -i http://httpbin.org/headers", source=SOURCE)
    assert r.exit_code == 0
    assert r.stdout.splitlines()[0] == "HTTP/1.1 502 Bad Gateway"
    assert r.body == ""  # block_all: directResponse 502 without a body (§1.4)
    assert r.headers["server"] == "envoy"
    assert r.headers["content-length"] == "0"
    assert "x-envoy-upstream-service-time" not in r.headers
    assert '"GET /headers HTTP/1.1" 502' in last_line(sb.logs(SOURCE), "block_all")


def test_mesh_config_switches_live_both_ways(sb, kubectl):
    sb.set_mesh_config(outbound_traffic_policy="REGISTRY_ONLY")
    assert sb.curl("curl -sI https://www.google.com", source=SOURCE).exit_code == 35
    # `istioctl install --set ...` writes the mesh config again (the istio ConfigMap), over the shortcut.
    kubectl.apply(ALLOW_ANY_INSTALL)
    assert sb.curl("curl -sI https://www.google.com", source=SOURCE).status == 200
    kubectl.apply(REGISTRY_ONLY_INSTALL)
    assert sb.curl("curl -sI https://www.google.com", source=SOURCE).exit_code == 35
    sb.set_mesh_config(outbound_traffic_policy="ALLOW_ANY")
    assert sb.curl("curl -sI https://www.google.com", source=SOURCE).status == 200


def test_unknown_name_fails_like_dns(sb, kubectl):
    r = sb.curl("curl -sS http://no-such-host.example.org/", source=SOURCE)
    assert r.exit_code == 6
    assert r.stdout == ""
    assert "Could not resolve host: no-such-host.example.org" in r.stderr


def test_http_service_entry(sb, kubectl):
    kubectl.apply(REGISTRY_ONLY_INSTALL, SE_HTTPBIN)
    # snip_access_an_external_http_service_2
    r = sb.curl("curl -sS http://httpbin.org/headers", source=SOURCE)
    assert r.exit_code == 0, r.stderr
    # snip_access_an_external_http_service_2_out, as the docs' test checks it (_verify_elided):
    # the decorator line ends with a comma -- Istio's metadata-exchange headers follow it.
    assert elided_match(ACCESS_AN_EXTERNAL_HTTP_SERVICE_2_OUT, r.stdout), r.stdout
    headers = json.loads(r.stdout)["headers"]
    assert list(headers) == sorted(headers)  # httpbin.org sorts them
    assert re.fullmatch(
        r"sidecar~10\.244\.\d+\.\d+~curl-[a-z0-9]+-[a-z0-9]+\.default~default\.svc\.cluster\.local",
        headers["X-Envoy-Peer-Metadata-Id"],
    ), headers
    # Base64 of a protobuf Struct whose first entry (keys sorted) is CLUSTER_ID: "Kubernetes".
    assert headers["X-Envoy-Peer-Metadata"].startswith("ChoKCkNMVVNURVJfSUQSDBoKS3ViZXJuZXRlcw")
    # snip_access_an_external_http_service_3: the sidecar's log names the ServiceEntry's cluster.
    line = last_line(sb.logs(SOURCE), "outbound|80||httpbin.org")
    assert re.search(
        r'"GET /headers HTTP/1\.1" 200 - via_upstream - "-" 0 \d+ \d+ \d+ "-" "curl/[\d.]+" "[0-9a-f-]{36}" '
        r'"httpbin\.org" "[^"]+:80" outbound\|80\|\|httpbin\.org ',
        line,
    ), line


def test_https_service_entry(sb, kubectl):
    kubectl.apply(REGISTRY_ONLY_INSTALL, SE_GOOGLE)
    # snip_access_an_external_https_service_2
    r = sb.curl('curl -sSI https://www.google.com | grep  "HTTP/"', source=SOURCE)
    assert r.exit_code == 0 and r.stdout.rstrip() == "HTTP/2 200"
    # snip_access_an_external_https_service_3: TCP proxied on SNI, so no method/path ("- - -").
    line = last_line(sb.logs(SOURCE), "outbound|443||www.google.com")
    assert re.search(
        r'"- - -" 0 - - - "-" \d+ \d+ \d+ - "-" "-" "-" "-" "[^"]+:443" outbound\|443\|\|www\.google\.com ',
        line,
    ), line
    assert (
        line.endswith(" www.google.com -")
        or " www.google.com" in line.split("outbound|443||www.google.com", 1)[1]
    )
    # Not registered on 443: edition.cnn.com stays blocked.
    assert sb.curl("curl -sI https://edition.cnn.com", source=SOURCE).exit_code == 35


def test_timeout_on_an_external_service(sb, kubectl):
    kubectl.apply(SE_HTTPBIN)
    cmd = 'time curl -o /dev/null -sS -w "%{http_code}\\n" http://httpbin.org/delay/5'
    # snip_manage_traffic_to_external_services_1: 200 after ~5 s
    t0 = time.monotonic()
    r = sb.curl(cmd, source=SOURCE)
    assert r.stdout == "200\n" and time.monotonic() - t0 >= 5
    assert re.search(r"real\s+0m5\.\d+s", r.stderr), r.stderr
    # snip_manage_traffic_to_external_services_2/4: timeout 3s -> 504 after ~3 s
    kubectl.apply(VS_HTTPBIN_TIMEOUT)
    t0 = time.monotonic()
    r = sb.curl(cmd, source=SOURCE)
    elapsed = time.monotonic() - t0
    assert r.stdout == "504\n"
    assert 3 <= elapsed < 4.5
    assert re.search(r"real\s+0m3\.\d+s", r.stderr), r.stderr
    assert '" 504 UT response_timeout' in last_line(sb.logs(SOURCE), "outbound|80||httpbin.org")
    r = sb.curl("curl -sS http://httpbin.org/delay/5", source=SOURCE)
    assert r.stdout == "upstream request timeout"


def test_weighted_route_between_external_hosts(sb, kubectl):
    se_google_http = SE_GOOGLE.replace("name: google", "name: google-http").replace(
        "number: 443\n    name: https\n    protocol: HTTPS", "number: 80\n    name: http\n    protocol: HTTP"
    )
    vs = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: httpbin-ext
spec:
  hosts:
  - httpbin.org
  http:
  - route:
    - destination:
        host: httpbin.org
      weight: 0
    - destination:
        host: www.google.com
      weight: 100
"""
    kubectl.apply(SE_HTTPBIN, se_google_http, vs)
    r = sb.curl("curl -sS http://httpbin.org/", source=SOURCE)
    assert r.exit_code == 0 and "<title>Google</title>" in r.stdout
    assert "outbound|80||www.google.com" in last_line(sb.logs(SOURCE), '"httpbin.org"')


def test_in_mesh_service_answers_through_both_sidecars(sb, kubectl):
    kubectl.apply(
        (sb_root := __import__("egress_support").ROOT / "labs" / "samples" / "httpbin.yaml").read_text()
    )
    del sb_root
    r = sb.curl("curl -sS -I http://httpbin.default:8000/status/418", source=SOURCE)
    assert r.status == 418
    assert r.headers["server"] == "envoy"  # inbound says istio-envoy; the client's sidecar overwrites
    assert r.stdout.count("x-envoy-upstream-service-time") == 1
    assert "outbound|8000||httpbin.default.svc.cluster.local" in sb.logs(SOURCE)
    inbound = last_line(sb.logs("default/httpbin"), '"HEAD /status/418 HTTP/1.1" 418')
    assert "inbound|" in inbound


def test_service_entry_resolution_none_keeps_the_original_destination(sb, kubectl):
    # resolution NONE: ORIGINAL_DST cluster, forwarded to the address the pod dialled (§11.1).
    kubectl.apply(REGISTRY_ONLY_INSTALL, SE_HTTPBIN.replace("resolution: DNS", "resolution: NONE"))
    r = sb.curl("curl -sS -o /dev/null -w '%{http_code}' http://httpbin.org/status/418", source=SOURCE)
    assert r.stdout == "418"
    line = last_line(sb.logs(SOURCE), '"GET /status/418 HTTP/1.1" 418')
    assert "outbound|80||httpbin.org" in line


def test_a_lab_can_add_an_outside_host():
    from egress_support import CURL_SAMPLE

    from gatewaykit.sandbox import Sandbox

    with Sandbox.local(internet_hosts=[{"name": "api.example.org", "pages": {"/hello": "hi\n"}}]) as box:
        box.apply(CURL_SAMPLE)
        r = box.curl("curl -sS http://api.example.org/hello", source=SOURCE)
        assert (r.exit_code, r.stdout) == (0, "hi\n")
        r = box.curl("curl -sS https://api.example.org/hello", source=SOURCE)  # its public CA is trusted
        assert (r.exit_code, r.stdout) == (0, "hi\n")
        r = box.curl("curl -sS -o /dev/null -w '%{http_code}' https://api.example.org/nope", source=SOURCE)
        assert r.stdout == "404"
        # From the host (outside the cluster) the public name does not resolve to the fake site.
        assert box.curl("curl -sS --max-time 5 http://api.example.org/hello").stdout != "hi\n"


def test_retries_on_an_external_service(sb, kubectl):
    vs = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: httpbin-ext
spec:
  hosts:
  - httpbin.org
  http:
  - retries:
      attempts: 3
      retryOn: 5xx
    route:
    - destination:
        host: httpbin.org
"""
    kubectl.apply(SE_HTTPBIN, vs)
    r = sb.curl("curl -sS -o /dev/null -w '%{http_code}' http://httpbin.org/status/503", source=SOURCE)
    assert r.stdout == "503"
    # Every try answered 503: the last answer is passed on, flagged "retry limit exceeded".
    assert '"GET /status/503 HTTP/1.1" 503 URX via_upstream' in sb.logs(SOURCE)
    # A success is not retried; the request the site sees is the first attempt.
    r = sb.curl("curl -sS http://httpbin.org/headers", source=SOURCE)
    assert '"X-Envoy-Attempt-Count": "1"' in r.stdout


def test_tcp_service_entry_is_proxied_without_reading_http(sb, kubectl):
    se = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: google-tcp
spec:
  hosts:
  - www.google.com
  ports:
  - number: 80
    name: tcp
    protocol: TCP
  resolution: DNS
"""
    kubectl.apply(REGISTRY_ONLY_INSTALL, se)
    r = sb.curl("curl -sS -I http://www.google.com", source=SOURCE)
    assert r.status == 200
    assert r.headers["server"] == "gws"  # a TCP proxy never touches HTTP headers (§1.1)
    assert "x-envoy-upstream-service-time" not in r.headers
    assert '"- - -" 0 -' in last_line(sb.logs(SOURCE), "outbound|80||www.google.com")


def test_static_service_entry_with_endpoints_and_target_port(sb, kubectl):
    from gatewaykit.backends.local import public_ip

    se = f"""\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: static-httpbin
spec:
  hosts:
  - my-static.example.org
  addresses:
  - 203.0.113.10
  ports:
  - number: 8080
    name: http
    protocol: HTTP
    targetPort: 80
  location: MESH_EXTERNAL
  resolution: STATIC
  endpoints:
  - address: {public_ip("httpbin.org")}
"""
    kubectl.apply(REGISTRY_ONLY_INSTALL, se)
    for url in ("http://my-static.example.org:8080/status/200", "http://203.0.113.10:8080/status/200"):
        r = sb.curl(f"curl -sS -o /dev/null -w '%{{http_code}}' {url}", source=SOURCE)
        assert r.stdout == "200", url
    line = last_line(sb.logs(SOURCE), '"my-static.example.org:8080"')
    assert f'"{public_ip("httpbin.org")}:80" outbound|8080||my-static.example.org ' in line


def test_a_pod_without_sidecar_is_not_subject_to_the_mesh_policy(sb, kubectl):
    import yaml
    from egress_support import CURL_SAMPLE

    docs = list(yaml.safe_load_all(CURL_SAMPLE.read_text()))
    for d in docs:
        d["metadata"]["namespace"] = "plain"  # a namespace without istio-injection
    kubectl.apply(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: plain\n",
        yaml.safe_dump_all(docs),
        REGISTRY_ONLY_INSTALL,
    )
    assert "plain/curl" not in {
        f"{p.namespace}/{p.deployment}" for p in sb.xds.pods if p.key in sb.xds.proxies
    }
    r = sb.curl("curl -sSI https://www.google.com", source="plain/curl")
    assert r.exit_code == 0 and r.status == 200  # no sidecar: REGISTRY_ONLY does not apply
    r = sb.curl("curl -sSI http://httpbin.org/status/200", source="plain/curl")
    assert r.status == 200 and r.headers["server"] == "gunicorn/19.9.0"  # the site's own header
    assert sb.curl("curl -sI https://www.google.com", source=SOURCE).exit_code == 35  # the sidecar's pod
