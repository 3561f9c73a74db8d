"""``istioctl proxy-config``, ``proxy-status``, ``x describe pod``, ``version`` and ``kube-inject``
against the sandbox, with istioctl 1.27.1's table layouts (``istioctl/pkg/writer``) and exit codes.

Pod addresses are deterministic in the sandbox: istiod 10.244.0.4, the ingress gateway .5, the egress
gateway .6, then httpbin .7 and curl .8 in the order they were applied.
"""

from __future__ import annotations

import json
import pathlib
import re

import pytest
from istioctl_support import pod_of, run

from gatewaykit.sandbox import Sandbox

GW = "deploy/istio-ingressgateway -n istio-system"


def test_istioctl_on_the_shell_is_the_sandboxs(sb: Sandbox) -> None:
    r = run(sb, "command -v istioctl && head -2 $(command -v istioctl)")
    assert r.out == (
        f"{sb.private_dir / 'bin' / 'istioctl'}\n#!/bin/sh\n"
        "# The gatewaykit sandbox's istioctl: a stand-in for Istio 1.27.1's (written by gatewaykit).\n"
    )
    r = run(sb, "istioctl version")
    assert (r.code, r.out, r.err) == (
        0,
        "client version: 1.27.1\ncontrol plane version: 1.27.1\ndata plane version: 1.27.1 (4 proxies)\n",
        "",
    )
    assert run(sb, "istioctl version --remote=false").out == "client version: 1.27.1\n"
    long = run(sb, "istioctl version --short=false --remote=false").out
    assert long == (
        "client version: "
        'version.BuildInfo{Version:"1.27.1", GitRevision:"gatewaykit-sandbox", GolangVersion:"", '
        'BuildStatus:"Clean", GitTag:"1.27.1"}\n'
    )
    doc = json.loads(run(sb, "istioctl version -o json").out)
    assert [p["ID"].rsplit(".", 1)[1] for p in doc["dataPlaneVersion"]] == [
        "default",
        "default",
        "istio-system",
        "istio-system",
    ]
    assert doc["meshVersion"][0]["Info"]["version"] == "1.27.1"


def test_unknown_commands_and_flags_are_usage_errors(sb: Sandbox) -> None:
    r = run(sb, "istioctl dashboard kiali")
    assert (r.code, r.out) == (64, "")
    assert r.err == (
        'Error: unknown command "dashboard" for "istioctl"\n'
        "gatewaykit: `istioctl dashboard` is not part of the sandbox's istioctl: the sandbox runs no Kiali, "
        "Grafana or Envoy admin UI; use `istioctl proxy-config` instead\nRun 'istioctl --help' for usage.\n"
    )
    assert run(sb, "istioctl pc listeners --bogus x").err == "Error: unknown flag: --bogus\n"
    r = run(sb, "istioctl pc listeners")
    assert (r.code, r.err) == (64, "Error: listener requires pod name or --file parameter\n")


def test_listeners_of_the_ingress_gateway(sb: Sandbox) -> None:
    r = run(sb, f"istioctl proxy-config listeners {GW}")
    assert (r.code, r.err) == (0, "")
    assert r.out == (
        "ADDRESSES PORT  MATCH DESTINATION\n"
        "0.0.0.0   8080  ALL   Route: http.8080\n"
        "0.0.0.0   15021 ALL   Inline Route: /healthz/ready*\n"
        "0.0.0.0   15090 ALL   Inline Route: /stats/prometheus*\n"
    )
    assert run(sb, f"istioctl pc l {GW} --verbose=false").out == (
        "ADDRESSES PORT  TYPE\n0.0.0.0   8080  HTTP\n0.0.0.0   15021 HTTP\n0.0.0.0   15090 HTTP\n"
    )
    assert run(sb, f"istioctl pc l {GW} --port 15021").out == (
        "ADDRESSES PORT  MATCH DESTINATION\n0.0.0.0   15021 ALL   Inline Route: /healthz/ready*\n"
    )


def test_routes_of_the_ingress_gateway(sb: Sandbox) -> None:
    pod = pod_of(sb, "istio-system", "istio-ingressgateway")
    # The pod name, `pod.namespace` and `deploy/x.namespace` name the same proxy.
    for target in (
        f"{pod} -n istio-system",
        f"{pod}.istio-system",
        "deployment/istio-ingressgateway.istio-system",
    ):
        r = run(sb, f"istioctl proxy-config routes {target}")
        assert r.out == (
            "NAME          VHOST NAME                 DOMAINS                 MATCH                  "
            "VIRTUAL SERVICE\n"
            "http.8080     httpbin.example.com:80     httpbin.example.com     /status*               "
            "httpbin.default\n"
            "http.8080     httpbin.example.com:80     httpbin.example.com     /delay*                "
            "httpbin.default\n"
            "              backend                    *                       /stats/prometheus*     \n"
            "              backend                    *                       /healthz/ready*        \n"
        ), target


def test_clusters_and_endpoints_of_the_ingress_gateway(sb: Sandbox) -> None:
    r = run(sb, f"istioctl proxy-config clusters {GW} --fqdn httpbin")
    assert r.out == (
        "SERVICE FQDN                          PORT     SUBSET     DIRECTION     TYPE     DESTINATION RULE\n"
        "httpbin.default.svc.cluster.local     8000     -          outbound      EDS      \n"
    )
    lines = run(sb, f"istioctl pc c {GW}").out.splitlines()
    assert [line.split()[0] for line in lines] == [
        "SERVICE",
        "BlackHoleCluster",
        "PassthroughCluster",
        "agent",
        "curl.default.svc.cluster.local",
        "httpbin.default.svc.cluster.local",
        *["istio-egressgateway.istio-system.svc.cluster.local"] * 2,
        *["istio-ingressgateway.istio-system.svc.cluster.local"] * 4,
        *["istiod.istio-system.svc.cluster.local"] * 4,
        "kubernetes.default.svc.cluster.local",
        "prometheus_stats",
        "sds-grpc",
        "xds-grpc",
    ]
    r = run(
        sb,
        f"istioctl proxy-config endpoints {GW} --cluster 'outbound|8000||httpbin.default.svc.cluster.local'",
    )
    assert r.out == (
        "ENDPOINT          STATUS      OUTLIER CHECK     CLUSTER\n"
        "10.244.0.7:80     HEALTHY     OK                outbound|8000||httpbin.default.svc.cluster.local\n"
    )
    r = run(sb, f"istioctl pc ep {GW} --port 15000")
    assert r.out == (
        "ENDPOINT            STATUS      OUTLIER CHECK     CLUSTER\n"
        "127.0.0.1:15000     HEALTHY     OK                prometheus_stats\n"
    )


def test_destination_rule_column(sb: Sandbox) -> None:
    dr = (
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: httpbin\n"
        "spec:\n  host: httpbin\n"
    )
    sb.apply(dr, name="dr.yaml")
    try:
        r = run(sb, f"istioctl pc c {GW} --fqdn httpbin --port 8000")
        assert r.out == (
            "SERVICE FQDN                          PORT     SUBSET     DIRECTION     TYPE     DESTINATION "
            "RULE\n"
            "httpbin.default.svc.cluster.local     8000     -          outbound      EDS      "
            "httpbin.default\n"
        )
    finally:
        sb.delete(dr, name="dr.yaml")


def test_secrets_of_a_proxy(sb: Sandbox) -> None:
    r = run(sb, f"istioctl proxy-config secret {GW}")
    lines = r.out.splitlines()
    cells = [re.split(r" {5,}", line) for line in lines]
    assert cells[0] == [
        "RESOURCE NAME",
        "TYPE",
        "STATUS",
        "VALID CERT",
        "SERIAL NUMBER",
        "NOT AFTER",
        "NOT BEFORE",
    ]
    assert [c[:4] for c in cells[1:]] == [
        ["default", "Cert Chain", "ACTIVE", "true"],
        ["ROOTCA", "CA", "ACTIVE", "true"],
    ]
    for c in cells[1:]:  # serial in hex, RFC 3339 dates
        assert re.fullmatch(r"[0-9a-f]+", c[4]) and all(
            re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", d) for d in c[5:]
        )
    # Every column starts where its header does (Go's tabwriter, padding 5).
    starts = [lines[0].index(h) for h in cells[0]]
    for line, c in zip(lines[1:], cells[1:], strict=True):
        assert [line.index(v, s) for v, s in zip(c, starts, strict=True)] == starts


def test_json_and_yaml_are_the_protos(sb: Sandbox) -> None:
    doc = json.loads(run(sb, f"istioctl pc l {GW} --port 8080 -o json").out)
    assert len(doc) == 1 and doc[0]["name"] == "0.0.0.0_8080"
    assert doc[0]["address"] == {"socketAddress": {"address": "0.0.0.0", "portValue": 8080}}
    hcm = doc[0]["filterChains"][0]["filters"][0]["typedConfig"]
    assert hcm["rds"]["routeConfigName"] == "http.8080" and hcm["serverName"] == "istio-envoy"
    routes = json.loads(run(sb, f"istioctl pc r {GW} --name http.8080 -o json").out)
    meta = routes[0]["virtualHosts"][0]["routes"][0]["metadata"]["filterMetadata"]["istio"]
    assert meta == {"config": "/apis/networking.istio.io/v1/namespaces/default/virtual-service/httpbin"}
    yaml_out = run(sb, f"istioctl pc c {GW} --fqdn httpbin -o yaml").out
    assert yaml_out.startswith(
        "- '@type': type.googleapis.com/envoy.config.cluster.v3.Cluster\n  connectTimeout: 10s\n"
    )
    dump = json.loads(run(sb, f"istioctl pc all {GW} -o json").out)
    assert [c["@type"].rsplit(".", 1)[1] for c in dump["configs"]] == [
        "BootstrapConfigDump",
        "ClustersConfigDump",
        "EndpointsConfigDump",
        "ListenersConfigDump",
        "ScopedRoutesConfigDump",
        "RoutesConfigDump",
        "SecretsConfigDump",
    ]
    assert dump["configs"][0]["bootstrap"]["node"]["metadata"]["ISTIO_VERSION"] == "1.27.1"
    assert run(sb, f"istioctl pc l {GW} -o wide").err == 'Error: output format "wide" not supported\n'


def test_all_and_file(sb: Sandbox, tmp_path: pathlib.Path) -> None:
    r = run(sb, f"istioctl pc all {GW}")
    sections = r.out.split("\n\n")
    assert sections[0] == (
        "Istio Version:       1.27.1\nIstio Proxy Version: 1a53bf14a57976dd0f509752b748caf3b1125d54\n"
        "Envoy Version:       1.35.3/Clean/RELEASE/BoringSSL"
    )
    assert sections[1].splitlines()[0].split() == [
        "NAME",
        "SERVICE",
        "FQDN",
        "PORT",
        "SUBSET",
        "DIRECTION",
        "TYPE",
        "DESTINATION",
        "RULE",
    ]
    assert (
        "cluster/agent" in sections[1]
        and "listener/0.0.0.0_8080  0.0.0.0   8080  ALL   Route: http.8080" in sections[2]
    )
    assert "route/http.8080" in sections[3] and "secret/ROOTCA" in sections[4]
    assert "endpoint/10.244.0.7:80" in sections[5]
    # The same dump, read from a file (`curl localhost:15000/config_dump > envoy-config.json`).
    pod = pod_of(sb, "istio-system", "istio-ingressgateway")
    dump = tmp_path / "envoy-config.json"
    raw = run(sb, f"kubectl get --raw /api/v1/namespaces/istio-system/pods/{pod}:15000/proxy/config_dump")
    dump.write_text(raw.out)
    assert run(sb, f"istioctl pc routes --file {dump}").out == run(sb, f"istioctl pc routes {GW}").out


def test_proxy_errors_read_like_istioctls(sb: Sandbox) -> None:
    r = run(sb, "istioctl pc l deploy/nosuch")
    assert (r.code, r.err) == (
        1,
        'Error: failed retrieving: deployments.apps "nosuch" not found in the "default" namespace\n',
    )
    r = run(sb, "istioctl pc l nosuch")
    assert r.err == (
        "Error: failed to execute command on nosuch.default sidecar: failure running port forward process: "
        "failure running port forward process: building port forwarded: failed retrieving: "
        'pods "nosuch" not found in the "default" namespace\n'
    )
    r = run(sb, "istioctl pc l foo/bar")
    assert (
        r.err == "Error: failed retrieving: the server doesn't have a resource type "
        '"foo" in the "default" namespace\n'
    )
    # istiod has no proxy: nothing answers on its port 15000.
    r = run(sb, "istioctl pc l deploy/istiod -n istio-system")
    istiod = pod_of(sb, "istio-system", "istiod")
    assert r.err == (
        f"Error: failed to execute command on {istiod}.istio-system sidecar: failure running port forward "
        "process: "
        'Get "http://localhost:15000/config_dump?mask=dynamic_listeners,static_listeners": EOF\n'
    )
    raw = run(sb, f"kubectl get --raw /api/v1/namespaces/istio-system/pods/{istiod}:15000/proxy/config_dump")
    assert (raw.code, raw.err) == (
        1,
        "Error from server (ServiceUnavailable): error trying to reach service: dial tcp 10.244.0.4:15000: "
        "connect: connection refused\n",
    )


def test_proxy_status(sb: Sandbox) -> None:
    istiod = pod_of(sb, "istio-system", "istiod")
    names = {
        d: pod_of(sb, ns, d)
        for ns, d in (
            ("default", "curl"),
            ("default", "httpbin"),
            ("istio-system", "istio-egressgateway"),
            ("istio-system", "istio-ingressgateway"),
        )
    }
    r = run(sb, "istioctl proxy-status")
    assert r.out == (
        "NAME                                                   CLUSTER        ISTIOD                     "
        " VERSION     SUBSCRIBED TYPES\n"
        f"{names['curl']}.default                          Kubernetes     {istiod}     1.27.1      4 "
        "(CDS,LDS,EDS,RDS)\n"
        f"{names['httpbin']}.default                       Kubernetes     {istiod}     1.27.1      4 "
        "(CDS,LDS,EDS,RDS)\n"
        f"{names['istio-egressgateway']}.istio-system      Kubernetes     {istiod}     1.27.1      3 "
        "(CDS,LDS,EDS)\n"
        f"{names['istio-ingressgateway']}.istio-system     Kubernetes     {istiod}     1.27.1      4 "
        "(CDS,LDS,EDS,RDS)\n"
    )


def test_describe_pod(sb: Sandbox) -> None:
    pod = pod_of(sb, "default", "httpbin")
    r = run(sb, f"istioctl x describe pod {pod}")
    assert (r.code, r.err) == (0, "")
    assert r.out == (
        f"Pod: {pod}\n   Pod Revision: default\n   Pod Ports: 80 (httpbin), 15090 (istio-proxy)\n"
        "--------------------\nService: httpbin\n   Port: http 8000/HTTP targets pod port 80\n"
        "--------------------\nEffective PeerAuthentication:\n   Workload mTLS mode: PERMISSIVE\n"
        "--------------------\nExposed on Ingress Gateway http://127.0.0.1\nVirtualService: httpbin\n"
        "   Match: /status*, Match: /delay*\n"
    )
    assert run(sb, "istioctl x describe pod nosuch").err == 'Error: pods "nosuch" not found\n'


@pytest.mark.parametrize("manifest", ["curl.yaml"])
def test_kube_inject_gives_a_pod_the_sandbox_runs_with_its_sidecar(sb: Sandbox, manifest: str) -> None:
    sample = pathlib.Path(__file__).resolve().parents[2] / "labs" / "samples" / manifest
    out = run(sb, f"istioctl kube-inject -f {sample}").out
    assert out.endswith("status: {}\n---\n") and out.count("---\n") == 3
    assert "sidecar.istio.io/status:" in out and "name: istio-proxy" in out and "name: istio-init" in out
    r = run(
        sb,
        "printf 'apiVersion: v1\\nkind: Namespace\\nmetadata:\\n  name: injected\\n' | kubectl apply -f - && "
        f"istioctl kube-inject -f {sample} | kubectl apply -n injected -f - && kubectl get pods -n injected "
        "-o jsonpath='{.items[0].status.containerStatuses[*].name} {.items[0].status.phase}'",
    )
    assert r.out.splitlines()[-1] == "curl istio-proxy Running"
    sb.set_mesh_config(outbound_traffic_policy="REGISTRY_ONLY")
    try:
        r = run(
            sb,
            "kubectl exec -n injected deploy/curl -c curl -- curl -sS -o /dev/null -w '%{http_code}' http://httpbin.org/",
        )
        assert r.out == "502"  # its sidecar applies the mesh policy
    finally:
        sb.set_mesh_config(outbound_traffic_policy="ALLOW_ANY")
        sb.delete("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: injected\n")


def test_kube_injected_pod_in_an_injecting_namespace_gets_one_sidecar(sb: Sandbox) -> None:
    """The webhook re-injects a kube-injected pod (inject.go stripPod): one istio-init, one istio-proxy."""
    sample = pathlib.Path(__file__).resolve().parents[2] / "labs" / "samples" / "curl.yaml"
    ns = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: twice\n  labels:\n    istio-injection: enabled\n"
    sb.apply(ns)
    try:
        r = run(
            sb,
            f"istioctl kube-inject -f {sample} | istioctl kube-inject -f - | kubectl apply -n twice -f - && "
            "kubectl get pods -n twice -o jsonpath='{.items[0].spec.initContainers[*].name}/"
            "{.items[0].spec.containers[*].name}/{.items[0].status.phase}'",
        )
        assert (r.code, r.out.splitlines()[-1]) == (0, "istio-init/curl istio-proxy/Running")
    finally:
        sb.delete(ns)
