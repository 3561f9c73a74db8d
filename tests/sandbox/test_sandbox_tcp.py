"""TCP through the ingress gateway (Istio's tcp-traffic-shifting task, samples/tcp-echo) and the
same-port protocol conflicts, against the embedded sandbox.

Docs: istio/istio.io content/en/docs/tasks/traffic-management/tcp-traffic-shifting/snips.sh;
samples: istio/istio samples/tcp-echo/{tcp-echo-services,tcp-echo-all-v1,tcp-echo-20-v2}.yaml.
Rules: docs/behaviour.md §2, §5, §10.
"""

from __future__ import annotations

import socket
import time

import pytest
from sandbox_support import TCP_ECHO_SERVICES_YAML, secret_manifest


def gateway(protocol: str = "TCP", name: str = "tcp-echo-gateway", port_name: str = "tcp") -> str:
    """samples/tcp-echo/tcp-echo-all-v1.yaml's Gateway with a chosen protocol."""
    return f"""\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: {name}
spec:
  selector:
    istio: ingressgateway
  servers:
  - port:
      number: 31400
      name: {port_name}
      protocol: {protocol}
    hosts:
    - "*"
"""


DESTINATION_RULE = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: tcp-echo-destination
spec:
  host: tcp-echo
  subsets:
  - name: v1
    labels:
      version: v1
  - name: v2
    labels:
      version: v2
"""


def virtual_service(v1: int = 100, v2: int = 0, gateway_name: str = "tcp-echo-gateway") -> str:
    """tcp-echo-all-v1.yaml (v1 only) or tcp-echo-20-v2.yaml (80/20) VirtualService."""
    route = """\
    - destination:
        host: tcp-echo
        port:
          number: 9000
        subset: v1
"""
    if v2:
        route = f"""\
    - destination:
        host: tcp-echo
        port:
          number: 9000
        subset: v1
      weight: {v1}
    - destination:
        host: tcp-echo
        port:
          number: 9000
        subset: v2
      weight: {v2}
"""
    return f"""\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: tcp-echo
spec:
  hosts:
  - "*"
  gateways:
  - {gateway_name}
  tcp:
  - match:
    - port: 31400
    route:
{route}"""


def echo(sb, text: str, timeout: float = 5.0) -> str:
    """``echo text | nc $INGRESS_HOST $TCP_INGRESS_PORT``: one line through the gateway."""
    with socket.create_connection(
        (sb.env["INGRESS_HOST"], int(sb.env["TCP_INGRESS_PORT"])), timeout=timeout
    ) as s:
        s.sendall(text.encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
        return buf.decode()


@pytest.fixture(scope="module", autouse=True)
def tcp_echo(sb):
    """snip_set_up_the_test_environment_3 (in the default namespace)."""
    assert str(sb.apply(TCP_ECHO_SERVICES_YAML)) == (
        "service/tcp-echo created\ndeployment.apps/tcp-echo-v1 created\ndeployment.apps/tcp-echo-v2 created"
    )


def test_tcp_echo_all_v1(sb, kubectl):
    # snip_apply_weightbased_tcp_routing_1 / _4_out: every line comes back as "one ...".
    kubectl.apply(gateway())
    kubectl.apply(DESTINATION_RULE)
    kubectl.apply(virtual_service())
    assert echo(sb, "hello") == "one hello\n"
    answers = {echo(sb, f"Mon Nov 12 23:24:{i:02d} UTC 2022") for i in range(10)}
    assert answers == {f"one Mon Nov 12 23:24:{i:02d} UTC 2022\n" for i in range(10)}


def test_tcp_keeps_a_connection_open_for_several_lines(sb, kubectl):
    kubectl.apply(gateway())
    kubectl.apply(DESTINATION_RULE)
    kubectl.apply(virtual_service())
    with socket.create_connection((sb.env["INGRESS_HOST"], int(sb.env["TCP_INGRESS_PORT"])), timeout=5) as s:
        f = s.makefile("rwb")
        for word in ("a", "b", "c"):
            f.write(word.encode() + b"\n")
            f.flush()
            assert f.readline() == b"one " + word.encode() + b"\n"


def test_tcp_weighted_80_20(sb, kubectl):
    # snip_apply_weightbased_tcp_routing_5 / _9_out: about one in five connections answers "two".
    kubectl.apply(gateway())
    kubectl.apply(DESTINATION_RULE)
    kubectl.apply(virtual_service(80, 20))
    answers = [echo(sb, "x") for _ in range(60)]
    assert set(answers) == {"one x\n", "two x\n"}  # P(no "two" in 60) = 0.8**60 ~ 2e-6
    assert answers.count("one x\n") > answers.count("two x\n")


def test_curl_telnet_through_the_tcp_port(sb, kubectl):
    # curl's telnet:// is a raw TCP client too: it gets the echo of what it sends on stdin.
    kubectl.apply(gateway())
    kubectl.apply(DESTINATION_RULE)
    kubectl.apply(virtual_service())
    r = sb.curl('printf "hello\\n" | curl -s --max-time 1 "telnet://$INGRESS_HOST:$TCP_INGRESS_PORT"')
    # tcp-echo keeps the connection open after the echo, so curl stops at --max-time (28).
    assert r.exit_code == 28, r
    assert r.stdout == "one hello\n"


def test_mongo_server_proxies_like_tcp(sb, kubectl):
    # docs/behaviour.md §5: MONGO/REDIS/MYSQL servers route through tcp: blocks as TCP proxies.
    kubectl.apply(gateway("MONGO", port_name="mongo"))
    kubectl.apply(DESTINATION_RULE)
    kubectl.apply(virtual_service())
    assert echo(sb, "hello") == "one hello\n"


def test_tcp_server_without_route_has_no_listener(sb, kubectl):
    # docs/behaviour.md §2: a TCP server whose VirtualServices give zero filter chains -> no listener ->
    # refused.
    kubectl.apply(gateway())
    with pytest.raises(ConnectionRefusedError):
        echo(sb, "hello")
    r = sb.curl('curl -s "http://$INGRESS_HOST:$TCP_INGRESS_PORT/"')
    assert r.exit_code == 7, r


def test_http_on_tcp_port_is_echoed_raw(sb, kubectl):
    # A TCP proxy never parses HTTP: curl's request comes back prefixed, not an HTTP response.
    kubectl.apply(gateway())
    kubectl.apply(DESTINATION_RULE)
    kubectl.apply(virtual_service())
    r = sb.curl('curl -s -S --max-time 2 "http://$INGRESS_HOST:$TCP_INGRESS_PORT/"')
    # tcp-echo answers "one GET / HTTP/1.1": no status line, so curl 7.88 refuses it as HTTP/0.9.
    assert r.exit_code == 1, r
    assert "curl: (1) Received HTTP/0.9 when not allowed" in r.stderr
    assert r.status is None


def test_tcp_access_log_line(sb, kubectl):
    # Istio's default access-log format for a TCP proxy: no HTTP fields, the subset cluster name.
    kubectl.apply(gateway())
    kubectl.apply(DESTINATION_RULE)
    kubectl.apply(virtual_service())
    before = sb.logs("istio-system/istio-ingressgateway").count("\n")
    assert echo(sb, "logged") == "one logged\n"
    # Envoy writes a TCP proxy's line when the connection closes, after our close(): allow it 2 s.
    deadline = time.monotonic() + 2
    while True:
        lines = sb.logs("istio-system/istio-ingressgateway").splitlines()[before:]
        tcp = [ln for ln in lines if " outbound|9000|v1|tcp-echo.default.svc.cluster.local " in ln]
        if tcp or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert len(tcp) == 1, lines
    assert '] "- - -" 0 - - - "-" 7 11 ' in tcp[0]  # 7 bytes in ("logged\n"), 11 out ("one logged\n")


# ----------------------------------------------------------------- protocol conflicts (docs/behaviour.md §10)

HTTP_ON_31400 = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: http-gateway
spec:
  selector:
    istio: ingressgateway
  servers:
  - port:
      number: 31400
      name: http
      protocol: HTTP
    hosts:
    - "*"
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: http-on-31400
spec:
  hosts:
  - "*"
  gateways:
  - http-gateway
  http:
  - directResponse:
      status: 200
      body:
        string: "http wins"
"""


def test_tcp_first_wins_over_later_http(sb, kubectl):
    # docs/behaviour.md §10: different protocol families on one port -> the first (creation order) wins.
    kubectl.apply(gateway())
    kubectl.apply(DESTINATION_RULE)
    kubectl.apply(virtual_service())
    kubectl.apply(HTTP_ON_31400)
    assert echo(sb, "hello") == "one hello\n"
    assert any(
        "skipping server on gateway" in line and "conflict with existing server" in line
        for line in sb.xds.log
    ), sb.xds.log


def test_http_first_wins_over_later_tcp(sb, kubectl):
    kubectl.apply(HTTP_ON_31400)
    kubectl.apply(gateway())
    kubectl.apply(DESTINATION_RULE)
    kubectl.apply(virtual_service())
    r = sb.curl('curl -s "http://$INGRESS_HOST:$TCP_INGRESS_PORT/"')
    assert (r.exit_code, r.stdout) == (0, "http wins")


def test_first_tcp_without_routes_blocks_later_http(sb, kubectl):
    # [I-SIM] TestGatewayConflicts: "TCP takes precedence. Since we have no tcp routes, this will
    # result in no listeners" -- the later HTTP server is skipped and the port refuses connections.
    kubectl.apply(gateway())
    kubectl.apply(HTTP_ON_31400)
    r = sb.curl('curl -s "http://$INGRESS_HOST:$TCP_INGRESS_PORT/"')
    assert r.exit_code == 7, r


def test_two_tcp_servers_first_wins(sb, kubectl):
    # docs/behaviour.md §10: two TCP servers on one port never merge; the later one is skipped.
    kubectl.apply(gateway())
    kubectl.apply(gateway(name="tcp-echo-gateway-2", port_name="tcp-2"))
    kubectl.apply(DESTINATION_RULE)
    kubectl.apply(virtual_service())
    kubectl.apply(
        virtual_service(gateway_name="tcp-echo-gateway-2")
        .replace("name: tcp-echo\n", "name: tcp-echo-2\n", 1)
        .replace("subset: v1", "subset: v2")
    )
    assert {echo(sb, "x") for _ in range(10)} == {"one x\n"}


def test_tls_termination_then_tcp_route(sb, kubectl):
    # docs/behaviour.md §5: a TLS server with mode SIMPLE terminates TLS and hands the bytes to the tcp:
    # route.
    import ssl

    root = sb.work_dir
    kubectl.apply(
        secret_manifest(
            "tcp-credential",
            {
                "tls.crt": (root / "example_certs1/httpbin.example.com.crt").read_bytes(),
                "tls.key": (root / "example_certs1/httpbin.example.com.key").read_bytes(),
            },
            namespace="istio-system",
            type_="kubernetes.io/tls",
        )
    )
    kubectl.apply(
        gateway("TLS", port_name="tls").replace(
            '    hosts:\n    - "*"\n',
            '    tls:\n      mode: SIMPLE\n      credentialName: tcp-credential\n    hosts:\n    - "*"\n',
        )
    )
    kubectl.apply(DESTINATION_RULE)
    kubectl.apply(virtual_service())
    ctx = ssl.create_default_context(cafile=str(root / "example_certs1/example.com.crt"))
    with socket.create_connection(
        (sb.env["INGRESS_HOST"], int(sb.env["TCP_INGRESS_PORT"])), timeout=5
    ) as raw:
        with ctx.wrap_socket(raw, server_hostname="httpbin.example.com") as s:
            assert s.getpeercert()["subject"][0][0] == ("commonName", "httpbin.example.com")
            s.sendall(b"over tls\n")
            assert s.recv(100) == b"one over tls\n"
    # A plaintext client on that port gets no echo: the gateway expects a TLS ClientHello.
    with socket.create_connection((sb.env["INGRESS_HOST"], int(sb.env["TCP_INGRESS_PORT"])), timeout=5) as s:
        s.sendall(b"plain\n")
        try:
            data = s.recv(100)
        except ConnectionResetError:
            data = b""
    assert b"one plain" not in data
