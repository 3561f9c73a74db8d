"""What ``kubectl exec`` runs in a sample pod: the busybox applets of Istio's curl image the docs use,
and the pod's network as its containers see it.

The curl sample runs ``curlimages/curl`` (Alpine, busybox). The egress-control task times a request
with ``kubectl exec "$SOURCE_POD" -c curl -- time curl ...``; busybox ``time`` reports on stderr in
its own format (``miscutils/time.c``: ``real\\t0m 5.02s``), not bash's. The TCP traffic shifting task
sends lines with ``nc $INGRESS_HOST $TCP_INGRESS_PORT`` from the curl pod (the node's address and
node port); the SNI passthrough task curls the pod's own NGINX through ``--resolve ...:127.0.0.1``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from gatewaykit import Sandbox
from gatewaykit.samples import path as samples_path

TIME_REPORT = r"real\t0m \d\.\d\ds\nuser\t0m \d\.\d\ds\nsys\t0m \d\.\d\ds\n"


@pytest.fixture(scope="module")
def sb() -> Iterator[object]:
    with Sandbox.local() as box:
        box.shell(f"kubectl apply -f {samples_path()}/curl/curl.yaml")
        yield box


def run(sb: object, script: str) -> tuple[int, str]:
    r = sb.shell(script)  # type: ignore[attr-defined]
    return r.exit_code, r.output


def test_time_reports_as_busybox_does(sb) -> None:
    code, out = run(
        sb,
        'kubectl exec deploy/curl -c curl -- time curl -o /dev/null -sS -w "%{http_code}\\n" '
        "http://httpbin.org/delay/1",
    )
    assert code == 0
    assert re.fullmatch(r"200\nreal\t0m 1\.\d\ds\nuser\t0m \d\.\d\ds\nsys\t0m \d\.\d\ds\n", out), out


def test_time_of_a_failing_command_says_so_and_keeps_its_exit_code(sb) -> None:
    code, out = run(sb, "kubectl exec deploy/curl -- time false")
    assert code == 1
    assert re.fullmatch(
        "Command exited with non-zero status 1\n" + TIME_REPORT + "command terminated with exit code 1\n", out
    ), out


@pytest.fixture(scope="module")
def tcp_echo(sb) -> object:
    """tcp-echo v1 behind the ingress gateway's tcp port, as the TCP traffic shifting task sets it up."""
    code, out = run(
        sb,
        f"kubectl apply -f {samples_path()}/tcp-echo/tcp-echo-services.yaml "
        f"-f {samples_path()}/httpbin/httpbin.yaml >/dev/null && "
        f"kubectl apply -f {samples_path()}/tcp-echo/tcp-echo-all-v1.yaml >/dev/null",
    )
    assert code == 0, out
    return sb


def test_nc_to_the_node_port_from_a_pod_as_the_tcp_task_does(tcp_echo) -> None:
    # https://istio.io/latest/docs/tasks/traffic-management/tcp-traffic-shifting/
    code, out = run(
        tcp_echo,
        'kubectl exec deploy/curl -c curl -- sh -c "(date; sleep 1) | nc $INGRESS_HOST $TCP_INGRESS_PORT"',
    )
    assert code == 0
    assert re.fullmatch(r"one [A-Z][a-z]{2} [A-Z][a-z]{2} +\d+ \d\d:\d\d:\d\d UTC \d{4}\n", out), out
    log = tcp_echo.logs("default/curl")  # type: ignore[attr-defined]
    port = tcp_echo.env["TCP_INGRESS_PORT"]  # type: ignore[attr-defined]
    assert f'"127.0.0.1:{port}" PassthroughCluster' in log


def test_nc_to_a_service_goes_through_the_sidecar(tcp_echo) -> None:
    code, out = run(tcp_echo, 'kubectl exec deploy/curl -- sh -c "echo hello | nc tcp-echo 9000"')
    # The tcp-echo Service selects v1 and v2 (prefixes "one" and "two"); the gateway's route is not
    # in the mesh's way here.
    assert code == 0 and out in ("one hello\n", "two hello\n"), out
    log = tcp_echo.logs("default/curl")  # type: ignore[attr-defined]
    assert "outbound|9000||tcp-echo.default.svc.cluster.local" in log


def test_nc_to_a_name_the_cluster_cannot_resolve(tcp_echo) -> None:
    code, out = run(tcp_echo, 'kubectl exec deploy/curl -- sh -c "echo hi | nc nosuch.example 9000"')
    assert (code, out) == (1, "nc: bad address 'nosuch.example'\ncommand terminated with exit code 1\n")


def test_loopback_in_a_pod_reaches_the_pods_own_containers(tcp_echo) -> None:
    # Istio's iptables leave 127.0.0.1 alone: the sidecar container reaches the app directly.
    code, out = run(tcp_echo, "kubectl exec deploy/httpbin -c istio-proxy -- curl -s localhost:8080/status/418")
    assert (code, out) == (0, "I'm a teapot!")
    code, out = run(
        tcp_echo,
        "kubectl exec deploy/httpbin -c istio-proxy -- "
        "curl -s --resolve httpbin.local:8080:127.0.0.1 http://httpbin.local:8080/status/418",
    )
    assert (code, out) == (0, "I'm a teapot!")
