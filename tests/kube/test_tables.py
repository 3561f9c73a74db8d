"""Server-side tables: the exact cells kube-apiserver returns for ``kubectl get``, and what the real
kubectl prints from them (printers.go, the apiextensions tableconvertor, duration.HumanDuration)."""

from __future__ import annotations

import copy
import json
import os
import pathlib
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from gatewaykit.errors import SandboxError, ValidationError
from gatewaykit.kube.tables import PRINTER_COLUMNS, format_rfc3339, human_duration, table

NOW = 1796400000.0  # 2026-12-04T16:00:00Z
T_27M = "2026-12-04T15:32:53Z"
T_5M = "2026-12-04T15:55:00Z"
T_3M = "2026-12-04T15:57:00Z"
T_90S = "2026-12-04T15:58:30Z"
T_2D3H = "2026-12-02T13:00:00Z"


def cells(kind: str, *objects: dict, **kwargs: Any) -> list[list[Any]]:
    """The cells of each row of ``kind``'s table at NOW."""
    return [row["cells"] for row in table(kind, list(objects), now=NOW, **kwargs)["rows"]]


def meta(name: str, created: str = T_27M, namespace: str = "default", **extra: Any) -> dict:
    return {"name": name, "namespace": namespace, "creationTimestamp": created, **extra}


# ------------------------------------------------------------------------------------------------
# duration.HumanDuration and RFC 3339
# ------------------------------------------------------------------------------------------------

HUMAN_DURATIONS = [
    (-3, "<invalid>"),
    (-2, "<invalid>"),
    (-1.5, "0s"),
    (-1, "0s"),
    (0, "0s"),
    (1.9, "1s"),
    (59, "59s"),
    (119, "119s"),
    (120, "2m"),
    (121, "2m1s"),
    (599, "9m59s"),
    (600, "10m"),
    (179 * 60, "179m"),
    (3 * 3600, "3h"),
    (3 * 3600 + 600, "3h10m"),
    (8 * 3600, "8h"),
    (47 * 3600, "47h"),
    (48 * 3600, "2d"),
    (51 * 3600, "2d3h"),
    (8 * 86400, "8d"),
    (729 * 86400, "729d"),
    (730 * 86400, "2y"),
    (731 * 86400, "2y1d"),
    (8 * 365 * 86400, "8y"),
    (20 * 365 * 86400, "20y"),
    # duration_test.go's boundaries, a millisecond either side.
    (-2 + 1e-9, "0s"),
    (1 - 0.001, "0s"),
    (120 - 0.001, "119s"),
    (600 - 0.001, "9m59s"),
    (600 + 1, "10m"),
    (8 * 3600 - 0.001, "7h59m"),
    (8 * 3600 + 59 * 60, "8h"),
    (8 * 86400 - 0.001, "7d23h"),
    (8 * 86400 + 23 * 3600, "8d"),
    (731 * 86400 - 0.001, "2y"),
]


@pytest.mark.parametrize(("seconds", "expected"), HUMAN_DURATIONS)
def test_human_duration(seconds: float, expected: str) -> None:
    assert human_duration(seconds) == expected


def test_format_rfc3339_is_utc_whole_seconds() -> None:
    assert format_rfc3339(NOW) == "2026-12-04T16:00:00Z"
    assert format_rfc3339(NOW - 0.25) == "2026-12-04T15:59:59Z"  # Go's Format truncates


# ------------------------------------------------------------------------------------------------
# The Table envelope and includeObject
# ------------------------------------------------------------------------------------------------


def running_pod(name: str = "httpbin-7b5f9c8d6d-x2x4q", namespace: str = "default") -> dict:
    """A sidecar-injected httpbin pod: istio-init done, httpbin and istio-proxy running and ready."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta(name, namespace=namespace, labels={"app": "httpbin"}, uid="0b6c"),
        "spec": {
            "initContainers": [{"name": "istio-init", "image": "docker.io/istio/proxyv2:1.27.1"}],
            "containers": [
                {"name": "httpbin", "image": "docker.io/kong/httpbin:0.1.0"},
                {"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.27.1"},
            ],
            "nodeName": "kind-control-plane",
        },
        "status": {
            "phase": "Running",
            "podIP": "10.244.0.7",
            "podIPs": [{"ip": "10.244.0.7"}],
            "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
            "initContainerStatuses": [
                {
                    "name": "istio-init",
                    "ready": True,
                    "restartCount": 0,
                    "state": {"terminated": {"exitCode": 0, "reason": "Completed", "finishedAt": T_27M}},
                },
            ],
            "containerStatuses": [
                {
                    "name": "httpbin",
                    "ready": True,
                    "restartCount": 0,
                    "started": True,
                    "state": {"running": {"startedAt": T_27M}},
                },
                {
                    "name": "istio-proxy",
                    "ready": True,
                    "restartCount": 0,
                    "started": True,
                    "state": {"running": {"startedAt": T_27M}},
                },
            ],
        },
    }


def test_table_envelope_and_pod_columns() -> None:
    result = table("Pod", [running_pod()], now=NOW)
    assert result["kind"] == "Table"
    assert result["apiVersion"] == "meta.k8s.io/v1"
    assert result["metadata"] == {}  # ListMeta omits an empty resourceVersion
    columns = [(c["name"], c["type"], c["format"], c["priority"]) for c in result["columnDefinitions"]]
    assert columns == [
        ("Name", "string", "name", 0),
        ("Ready", "string", "", 0),
        ("Status", "string", "", 0),
        ("Restarts", "string", "", 0),
        ("Age", "string", "", 0),
        ("IP", "string", "", 1),
        ("Node", "string", "", 1),
        ("Nominated Node", "string", "", 1),
        ("Readiness Gates", "string", "", 1),
    ]
    assert all(c["description"] for c in result["columnDefinitions"])
    assert table("Pod", [], now=NOW, resource_version="4711")["metadata"] == {"resourceVersion": "4711"}
    assert table("Pod", [], now=NOW)["rows"] == []


def test_include_object_metadata_object_none() -> None:
    pod = running_pod()
    row = table("Pod", [pod], now=NOW)["rows"][0]
    assert row["object"] == {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": pod["metadata"],
    }
    assert "conditions" not in row
    assert table("Pod", [pod], now=NOW, include_object="")["rows"][0] == row  # the parameter not given
    assert table("Pod", [pod], now=NOW, include_object="Object")["rows"][0]["object"] == pod
    # Go serialises the emptied RawExtension as "object": null.
    assert table("Pod", [pod], now=NOW, include_object="None")["rows"][0]["object"] is None


def test_bad_include_object_is_a_bad_request() -> None:
    with pytest.raises(ValidationError, match='^unrecognized includeObject value: "Everything"$'):
        table("Pod", [running_pod()], now=NOW, include_object="Everything")


def test_unknown_kind_without_printer_columns_is_refused() -> None:
    with pytest.raises(SandboxError, match="no table printer for kind 'Job'"):
        table("Job", [], now=NOW)


def test_table_does_not_alias_the_objects() -> None:
    pod = running_pod()
    before = copy.deepcopy(pod)
    result = table("Pod", [pod], now=NOW, include_object="Object")
    result["rows"][0]["object"]["metadata"]["name"] = "changed"
    assert pod == before


# ------------------------------------------------------------------------------------------------
# Pod (printPod)
# ------------------------------------------------------------------------------------------------


def pod(
    containers: list[dict],
    *,
    phase: str = "Running",
    init: list[dict] | None = None,
    init_specs: list[dict] | None = None,
    conditions: list[dict] | None = None,
    **meta_extra: Any,
) -> dict:
    """A pod with the given container statuses (spec containers named after them)."""
    spec: dict[str, Any] = {"containers": [{"name": c["name"], "image": "img"} for c in containers]}
    if init is not None:
        spec["initContainers"] = init_specs or [{"name": c["name"], "image": "img"} for c in init]
    status: dict[str, Any] = {"phase": phase, "containerStatuses": containers, "conditions": conditions or []}
    if init is not None:
        status["initContainerStatuses"] = init
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta("p", **meta_extra),
        "spec": spec,
        "status": status,
    }


def waiting(name: str, reason: str, restarts: int = 0, finished: str | None = None) -> dict:
    status: dict[str, Any] = {
        "name": name,
        "ready": False,
        "restartCount": restarts,
        "state": {"waiting": {"reason": reason}},
    }
    if finished:
        status["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": finished}}
    return status


def running(name: str, ready: bool = True) -> dict:
    return {"name": name, "ready": ready, "restartCount": 0, "state": {"running": {"startedAt": T_27M}}}


def terminated(name: str, exit_code: int, reason: str = "", signal: int = 0) -> dict:
    state = {"exitCode": exit_code, "finishedAt": T_5M, **({"reason": reason} if reason else {})}
    if signal:
        state["signal"] = signal
    return {"name": name, "ready": False, "restartCount": 0, "state": {"terminated": state}}


# NAME READY STATUS RESTARTS AGE IP NODE of running_pod().
RUNNING_CELLS = ["httpbin-7b5f9c8d6d-x2x4q", "2/2", "Running", "0", "27m", "10.244.0.7", "kind-control-plane"]


def test_injected_pod_running_two_of_two() -> None:
    assert cells("Pod", running_pod()) == [[*RUNNING_CELLS, "<none>", "<none>"]]


POD_STATUSES = [
    ("ErrImagePull", pod([waiting("httpbin", "ErrImagePull")], phase="Pending"), "0/1", "ErrImagePull", "0"),
    (
        "ImagePullBackOff",
        pod([waiting("httpbin", "ImagePullBackOff")], phase="Pending"),
        "0/1",
        "ImagePullBackOff",
        "0",
    ),
    (
        "CrashLoopBackOff: restarts with the last one's age",
        pod([waiting("httpbin", "CrashLoopBackOff", 5, T_3M), running("istio-proxy")]),
        "1/2",
        "CrashLoopBackOff",
        "5 (3m ago)",
    ),
    (
        "init container still running",
        pod([waiting("httpbin", "PodInitializing")], phase="Pending", init=[running("istio-init", False)]),
        "0/1",
        "Init:0/1",
        "0",
    ),
    (
        "second of two init containers running",
        pod(
            [waiting("httpbin", "PodInitializing")],
            phase="Pending",
            init=[terminated("istio-init", 0, "Completed"), running("wait-db", False)],
        ),
        "0/1",
        "Init:1/2",
        "0",
    ),
    (
        "init container crash-looping: only its restarts count",
        pod(
            [waiting("httpbin", "PodInitializing")],
            phase="Pending",
            init=[waiting("istio-init", "CrashLoopBackOff", 3, T_90S)],
        ),
        "0/1",
        "Init:CrashLoopBackOff",
        "3 (90s ago)",
    ),
    (
        "init container failed without a reason",
        pod([waiting("httpbin", "PodInitializing")], phase="Pending", init=[terminated("istio-init", 126)]),
        "0/1",
        "Init:ExitCode:126",
        "0",
    ),
    (
        "init container killed by a signal",
        pod(
            [waiting("httpbin", "PodInitializing")],
            phase="Pending",
            init=[terminated("istio-init", 137, signal=9)],
        ),
        "0/1",
        "Init:Signal:9",
        "0",
    ),
    (
        "PodInitializing",
        pod(
            [waiting("httpbin", "PodInitializing"), waiting("istio-proxy", "PodInitializing")],
            phase="Pending",
            init=[terminated("istio-init", 0, "Completed")],
        ),
        "0/2",
        "PodInitializing",
        "0",
    ),
    ("Completed", pod([terminated("job", 0, "Completed")], phase="Succeeded"), "0/1", "Completed", "0"),
    ("Error", pod([terminated("job", 1, "Error")], phase="Failed"), "0/1", "Error", "0"),
    ("exit code without a reason", pod([terminated("job", 3)], phase="Failed"), "0/1", "ExitCode:3", "0"),
    (
        "Completed container while another runs, pod Ready",
        pod(
            [terminated("job", 0, "Completed"), running("istio-proxy")],
            conditions=[{"type": "Ready", "status": "True"}],
        ),
        "1/2",
        "Running",
        "0",
    ),
    (
        "Completed container while another runs, pod not Ready",
        pod([terminated("job", 0, "Completed"), running("istio-proxy")]),
        "1/2",
        "NotReady",
        "0",
    ),
    ("Terminating", pod([running("httpbin")], deletionTimestamp=T_90S), "1/1", "Terminating", "0"),
    (
        "terminal pods are not Terminating",
        pod([terminated("job", 0, "Completed")], phase="Succeeded", deletionTimestamp=T_90S),
        "0/1",
        "Completed",
        "0",
    ),
    (
        "node lost",
        {
            **pod([running("httpbin")], deletionTimestamp=T_90S),
            "status": {"phase": "Running", "reason": "NodeLost"},
        },
        "0/1",
        "Unknown",
        "0",
    ),
    (
        "scheduling gated",
        pod(
            [],
            phase="Pending",
            conditions=[{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}],
        ),
        "0/0",
        "SchedulingGated",
        "0",
    ),
    (
        "native sidecar (restartPolicy Always init container) counts as a container",
        pod(
            [running("httpbin")],
            init=[{**running("istio-proxy"), "started": True}],
            init_specs=[{"name": "istio-proxy", "image": "img", "restartPolicy": "Always"}],
            conditions=[{"type": "Initialized", "status": "True"}],
        ),
        "2/2",
        "Running",
        "0",
    ),
]


@pytest.mark.parametrize(
    ("case", "obj", "ready", "status", "restarts"), POD_STATUSES, ids=[c[0] for c in POD_STATUSES]
)
def test_pod_status_column(case: str, obj: dict, ready: str, status: str, restarts: str) -> None:
    assert cells("Pod", obj)[0][1:4] == [ready, status, restarts]


def test_pod_completed_and_failed_rows_carry_the_completed_condition() -> None:
    done = table("Pod", [pod([terminated("job", 0, "Completed")], phase="Succeeded")], now=NOW)["rows"][0]
    failed = table("Pod", [pod([terminated("job", 1, "Error")], phase="Failed")], now=NOW)["rows"][0]
    assert done["conditions"] == [
        {
            "type": "Completed",
            "status": "True",
            "reason": "Succeeded",
            "message": "The pod has completed successfully.",
        }
    ]
    assert failed["conditions"] == [
        {"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}
    ]


def test_pod_wide_cells_unscheduled_and_readiness_gates() -> None:
    pending = pod([waiting("httpbin", "ContainerCreating")], phase="Pending")
    gated = running_pod()
    gated["spec"]["readinessGates"] = [{"conditionType": "example.com/lb-ready"}, {"conditionType": "x/y"}]
    gated["status"]["conditions"].append({"type": "example.com/lb-ready", "status": "True"})
    gated["status"]["nominatedNodeName"] = "worker-2"
    del gated["status"]["podIPs"]  # the v1 -> internal conversion fills podIPs from podIP
    assert cells("Pod", pending, gated) == [
        ["p", "0/1", "ContainerCreating", "0", "27m", "<none>", "<none>", "<none>", "<none>"],
        [*RUNNING_CELLS, "worker-2", "1/2"],
    ]


# ------------------------------------------------------------------------------------------------
# Service (printService)
# ------------------------------------------------------------------------------------------------


def ingress_gateway_service(ingress: list[dict] | None = None) -> dict:
    """istio-ingressgateway as the Istio 1.27 default profile creates it on kind (no LB controller)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta("istio-ingressgateway", T_2D3H, "istio-system"),
        "spec": {
            "type": "LoadBalancer",
            "clusterIP": "10.96.140.17",
            "clusterIPs": ["10.96.140.17"],
            "selector": {"app": "istio-ingressgateway", "istio": "ingressgateway"},
            "ports": [
                {
                    "name": "status-port",
                    "port": 15021,
                    "protocol": "TCP",
                    "targetPort": 15021,
                    "nodePort": 31234,
                },
                {"name": "http2", "port": 80, "protocol": "TCP", "targetPort": 8080, "nodePort": 30080},
                {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 8443, "nodePort": 30443},
            ],
        },
        "status": {"loadBalancer": {"ingress": ingress} if ingress else {}},
    }


def test_load_balancer_service_pending_and_assigned() -> None:
    ports = "15021:31234/TCP,80:30080/TCP,443:30443/TCP"
    selector = "app=istio-ingressgateway,istio=ingressgateway"
    assigned = ingress_gateway_service(
        [{"ip": "172.18.255.200", "ipMode": "VIP"}, {"hostname": "gw.example.com"}]
    )
    with_external = ingress_gateway_service([{"ip": "172.18.255.200"}])
    with_external["spec"]["externalIPs"] = ["192.0.2.10"]
    assert cells("Service", ingress_gateway_service(), assigned, with_external) == [
        ["istio-ingressgateway", "LoadBalancer", "10.96.140.17", "<pending>", ports, "2d3h", selector],
        [
            "istio-ingressgateway",
            "LoadBalancer",
            "10.96.140.17",
            "172.18.255.200,gw.example.com",
            ports,
            "2d3h",
            selector,
        ],
        [
            "istio-ingressgateway",
            "LoadBalancer",
            "10.96.140.17",
            "172.18.255.200,192.0.2.10",
            ports,
            "2d3h",
            selector,
        ],
    ]


def test_cluster_ip_headless_external_name_and_defaulted_services() -> None:
    httpbin = {
        "metadata": meta("httpbin"),
        "spec": {
            "type": "ClusterIP",
            "clusterIP": "10.96.12.34",
            "clusterIPs": ["10.96.12.34"],
            "selector": {"app": "httpbin"},
            "ports": [{"name": "http", "port": 8000, "protocol": "TCP", "targetPort": 8080}],
        },
    }
    headless = {
        "metadata": meta("db"),
        "spec": {
            "clusterIP": "None",
            "clusterIPs": ["None"],
            "ports": [{"port": 5432}],
            "selector": {"app": "db"},
        },
    }
    external = {
        "metadata": meta("httpbin-org"),
        "spec": {"type": "ExternalName", "externalName": "httpbin.org"},
    }
    node_port = {
        "metadata": meta("echo", T_5M),
        "spec": {
            "type": "NodePort",
            "clusterIP": "10.96.0.99",
            "ports": [{"port": 53, "protocol": "UDP", "nodePort": 30053}],
        },
    }
    assert cells("Service", httpbin, headless, external, node_port) == [
        ["httpbin", "ClusterIP", "10.96.12.34", "<none>", "8000/TCP", "27m", "app=httpbin"],
        ["db", "ClusterIP", "None", "<none>", "5432/TCP", "27m", "app=db"],
        ["httpbin-org", "ExternalName", "<none>", "httpbin.org", "<none>", "27m", "<none>"],
        ["echo", "NodePort", "10.96.0.99", "<none>", "53:30053/UDP", "5m", "<none>"],
    ]


# ------------------------------------------------------------------------------------------------
# Deployment, ReplicaSet
# ------------------------------------------------------------------------------------------------


def deployment(name: str, selector: dict, replicas: int | None, status: dict) -> dict:
    spec: dict[str, Any] = {
        "selector": selector,
        "template": {"spec": {"containers": [{"name": name, "image": f"docker.io/kong/{name}:0.1.0"}]}},
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(name),
        "spec": spec,
        "status": status,
    }


def test_deployment_cells() -> None:
    ready = deployment(
        "httpbin",
        {"matchLabels": {"app": "httpbin"}},
        1,
        {"replicas": 1, "readyReplicas": 1, "updatedReplicas": 1, "availableReplicas": 1},
    )
    rolling = deployment(
        "web",
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["web", "api"]},
                {"key": "canary", "operator": "DoesNotExist"},
            ],
        },
        3,
        {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 1},
    )
    defaulted = deployment("sleep", {"matchLabels": {"app": "sleep"}}, None, {})
    broken = deployment("bad", {"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}, 0, {})
    assert cells("Deployment", ready, rolling, defaulted, broken) == [
        ["httpbin", "1/1", 1, 1, "27m", "httpbin", "docker.io/kong/httpbin:0.1.0", "app=httpbin"],
        ["web", "2/3", 1, 0, "27m", "web", "docker.io/kong/web:0.1.0", "app=web,!canary,tier in (api,web)"],
        ["sleep", "0/1", 0, 0, "27m", "sleep", "docker.io/kong/sleep:0.1.0", "app=sleep"],
        ["bad", "0/0", 0, 0, "27m", "bad", "docker.io/kong/bad:0.1.0", "<invalid>"],
    ]


def test_replica_set_cells() -> None:
    rs = {
        "metadata": meta("httpbin-7b5f9c8d6d"),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "httpbin", "pod-template-hash": "7b5f9c8d6d"}},
            "template": {
                "spec": {
                    "containers": [
                        {"name": "httpbin", "image": "docker.io/kong/httpbin:0.1.0"},
                        {"name": "istio-proxy", "image": "auto"},
                    ]
                }
            },
        },
        "status": {"replicas": 1, "readyReplicas": 1},
    }
    empty_selector = {"metadata": meta("old"), "spec": {"replicas": 0, "selector": {}}, "status": {}}
    result = table("ReplicaSet", [rs, empty_selector], now=NOW)
    assert [c["type"] for c in result["columnDefinitions"][1:4]] == ["integer", "integer", "integer"]
    assert [row["cells"] for row in result["rows"]] == [
        [
            "httpbin-7b5f9c8d6d",
            1,
            1,
            1,
            "27m",
            "httpbin,istio-proxy",
            "docker.io/kong/httpbin:0.1.0,auto",
            "app=httpbin,pod-template-hash=7b5f9c8d6d",
        ],
        ["old", 0, 0, 0, "27m", "", "", "<none>"],
    ]


# ------------------------------------------------------------------------------------------------
# Namespace, Secret, ConfigMap, ServiceAccount
# ------------------------------------------------------------------------------------------------


def test_namespace_secret_config_map_service_account() -> None:
    assert cells(
        "Namespace",
        {"metadata": meta("istio-system", T_2D3H, ""), "status": {"phase": "Active"}},
        {"metadata": meta("old", T_90S, ""), "status": {"phase": "Terminating"}},
        {"metadata": meta("fresh", T_90S, "")},
    ) == [["istio-system", "Active", "2d3h"], ["old", "Terminating", "90s"], ["fresh", "Active", "90s"]]
    tls = {
        "metadata": meta("httpbin-credential"),
        "type": "kubernetes.io/tls",
        "data": {"tls.crt": "LS0t", "tls.key": "LS0t"},
    }
    opaque = {
        "metadata": meta("creds", T_5M),
        "data": {"user": "YQ=="},
        "stringData": {"user": "b", "pass": "c"},
    }
    assert cells("Secret", tls, opaque) == [
        ["httpbin-credential", "kubernetes.io/tls", 2, "27m"],
        ["creds", "Opaque", 2, "5m"],
    ]
    ca = {"metadata": meta("istio-ca-root-cert"), "data": {"root-cert.pem": "-----BEGIN"}}
    mixed = {"metadata": meta("mixed"), "data": {"a": "1"}, "binaryData": {"b": "AA=="}}
    assert cells("ConfigMap", ca, mixed, {"metadata": meta("empty")}) == [
        ["istio-ca-root-cert", 1, "27m"],
        ["mixed", 2, "27m"],
        ["empty", 0, "27m"],
    ]
    assert cells(
        "ServiceAccount",
        {"metadata": meta("default", T_2D3H)},
        {"metadata": meta("legacy"), "secrets": [{"name": "legacy-token"}]},
    ) == [["default", 0, "2d3h"], ["legacy", 1, "27m"]]


# ------------------------------------------------------------------------------------------------
# Endpoints, EndpointSlice
# ------------------------------------------------------------------------------------------------


def test_endpoints_more_rule_headless_ipv6_and_none() -> None:
    four = {
        "metadata": meta("httpbin"),
        "subsets": [
            {
                "addresses": [{"ip": f"10.244.0.{i}"} for i in (7, 8, 9, 10)],
                "notReadyAddresses": [{"ip": "10.244.0.11"}],
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            }
        ],
    }
    two_ports = {
        "metadata": meta("gw"),
        "subsets": [
            {
                "addresses": [{"ip": "10.244.0.5"}, {"ip": "10.244.0.6"}],
                "ports": [{"port": 8080}, {"port": 8443}],
            }
        ],
    }
    headless = {
        "metadata": meta("db"),
        "subsets": [{"addresses": [{"ip": "10.244.0.20"}, {"ip": "10.244.0.21"}]}],
    }
    ipv6 = {"metadata": meta("v6"), "subsets": [{"addresses": [{"ip": "fd00::7"}], "ports": [{"port": 80}]}]}
    no_ready = {
        "metadata": meta("down"),
        "subsets": [{"notReadyAddresses": [{"ip": "10.244.0.30"}], "ports": [{"port": 80}]}],
    }
    assert cells("Endpoints", four, two_ports, headless, ipv6, no_ready, {"metadata": meta("none")}) == [
        ["httpbin", "10.244.0.7:8080,10.244.0.8:8080,10.244.0.9:8080 + 1 more...", "27m"],
        ["gw", "10.244.0.5:8080,10.244.0.6:8080,10.244.0.5:8443 + 1 more...", "27m"],
        ["db", "10.244.0.20,10.244.0.21", "27m"],
        ["v6", "[fd00::7]:80", "27m"],
        ["down", "", "27m"],
        ["none", "<none>", "27m"],
    ]


def test_endpoint_slice_cells() -> None:
    slice_ = {
        "metadata": meta("httpbin-x7k2p"),
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [
            {"addresses": [f"10.244.0.{i}"], "conditions": {"ready": True}} for i in (7, 8, 9, 10, 11)
        ],
    }
    unnamed = {
        "metadata": meta("odd"),
        "addressType": "IPv6",
        "ports": [{"name": "metrics"}, {}],
        "endpoints": [{"addresses": ["fd00::7"]}],
    }
    empty = {"metadata": meta("empty"), "addressType": "IPv4"}
    assert cells("EndpointSlice", slice_, unnamed, empty) == [
        ["httpbin-x7k2p", "IPv4", "8080", "10.244.0.7,10.244.0.8,10.244.0.9 + 2 more...", "27m"],
        ["odd", "IPv6", "metrics,*", "fd00::7", "27m"],
        ["empty", "IPv4", "<unset>", "<unset>", "27m"],
    ]


# ------------------------------------------------------------------------------------------------
# Node, Event, CustomResourceDefinition
# ------------------------------------------------------------------------------------------------


def test_node_cells() -> None:
    control_plane = {
        "metadata": meta(
            "kind-control-plane",
            T_2D3H,
            "",
            labels={
                "node-role.kubernetes.io/control-plane": "",
                "kubernetes.io/hostname": "kind-control-plane",
            },
        ),
        "status": {
            "conditions": [
                {"type": "MemoryPressure", "status": "False"},
                {"type": "Ready", "status": "True"},
            ],
            "addresses": [
                {"type": "InternalIP", "address": "172.18.0.2"},
                {"type": "Hostname", "address": "kind-control-plane"},
            ],
            "nodeInfo": {
                "kubeletVersion": "v1.34.0",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "kernelVersion": "6.8.0-1014-azure",
                "containerRuntimeVersion": "containerd://2.1.3",
            },
        },
    }
    cordoned = {
        "metadata": meta(
            "worker", T_2D3H, "", labels={"kubernetes.io/role": "edge", "node-role.kubernetes.io/ingress": ""}
        ),
        "spec": {"unschedulable": True},
        "status": {
            "conditions": [{"type": "Ready", "status": "Unknown"}],
            "addresses": [{"type": "ExternalIP", "address": "203.0.113.5"}],
        },
    }
    bare = {"metadata": meta("new", T_90S, "")}
    assert cells("Node", control_plane, cordoned, bare) == [
        [
            "kind-control-plane",
            "Ready",
            "control-plane",
            "2d3h",
            "v1.34.0",
            "172.18.0.2",
            "<none>",
            "Debian GNU/Linux 12 (bookworm)",
            "6.8.0-1014-azure",
            "containerd://2.1.3",
        ],
        [
            "worker",
            "NotReady,SchedulingDisabled",
            "edge,ingress",
            "2d3h",
            "",
            "<none>",
            "203.0.113.5",
            "<unknown>",
            "<unknown>",
            "<unknown>",
        ],
        ["new", "Unknown", "<none>", "90s", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"],
    ]


def test_event_cells_core_and_events_api() -> None:
    backoff = {
        "metadata": meta("httpbin-7b5f9c8d6d-x2x4q.18a1f0c2"),
        "involvedObject": {
            "kind": "Pod",
            "name": "httpbin-7b5f9c8d6d-x2x4q",
            "fieldPath": "spec.containers{httpbin}",
        },
        "reason": "BackOff",
        "type": "Warning",
        "count": 5,
        "firstTimestamp": T_5M,
        "lastTimestamp": T_90S,
        "message": "Back-off restarting failed container httpbin\n",
        "source": {"component": "kubelet", "host": "kind-control-plane"},
    }
    scheduled = {
        "metadata": meta("sleep-1.18a1"),
        "eventTime": "2026-12-04T15:57:00.123456Z",
        "involvedObject": {"kind": "Pod", "name": "sleep-1"},
        "reason": "Scheduled",
        "type": "Normal",
        "message": "Successfully assigned default/sleep-1 to kind-control-plane",
        "reportingController": "default-scheduler",
        "reportingInstance": "default-scheduler-kind-control-plane",
    }
    series = {
        "metadata": meta("ns.1"),
        "involvedObject": {"kind": "Namespace"},
        "reason": "Tick",
        "type": "Normal",
        "eventTime": T_5M,
        "series": {"count": 7, "lastObservedTime": "2026-12-04T15:59:59.000001Z"},
        "reportingController": "x",
    }
    result = table("Event", [backoff, scheduled, series], now=NOW)
    assert [c["name"] for c in result["columnDefinitions"] if c["priority"] == 0] == [
        "Last Seen",
        "Type",
        "Reason",
        "Object",
        "Message",
    ]
    assert [row["cells"] for row in result["rows"]] == [
        [
            "90s",
            "Warning",
            "BackOff",
            "pod/httpbin-7b5f9c8d6d-x2x4q",
            "spec.containers{httpbin}",
            "kubelet, kind-control-plane",
            "Back-off restarting failed container httpbin",
            "5m",
            5,
            "httpbin-7b5f9c8d6d-x2x4q.18a1f0c2",
        ],
        # 179.88s: HumanDuration keeps the seconds below 10 minutes.
        [
            "2m59s",
            "Normal",
            "Scheduled",
            "pod/sleep-1",
            "",
            "default-scheduler, default-scheduler-kind-control-plane",
            "Successfully assigned default/sleep-1 to kind-control-plane",
            "2m59s",
            1,
            "sleep-1.18a1",
        ],
        ["0s", "Normal", "Tick", "namespace", "", "x", "", "5m", 7, "ns.1"],
    ]


def test_custom_resource_definition_default_table() -> None:
    result = table(
        "CustomResourceDefinition",
        [
            {"metadata": {"name": "virtualservices.networking.istio.io", "creationTimestamp": T_2D3H}},
            {"metadata": {"name": "unset.example.com"}},
        ],
        now=NOW,
    )
    assert [(c["name"], c["type"], c["format"]) for c in result["columnDefinitions"]] == [
        ("Name", "string", "name"),
        ("Created At", "date", ""),
    ]
    assert [row["cells"] for row in result["rows"]] == [
        ["virtualservices.networking.istio.io", "2026-12-02T13:00:00Z"],
        ["unset.example.com", "0001-01-01T00:00:00Z"],
    ]


# ------------------------------------------------------------------------------------------------
# Custom resources: additionalPrinterColumns
# ------------------------------------------------------------------------------------------------


def istio(kind: str, name: str, spec: dict, created: str = T_27M) -> dict:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": kind,
        "metadata": meta(name, created),
        "spec": spec,
    }


def gwapi(kind: str, name: str, spec: dict, status: dict | None = None, namespace: str = "default") -> dict:
    obj = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": kind,
        "metadata": meta(name, T_27M, namespace),
        "spec": spec,
    }
    if status is not None:
        obj["status"] = status
    return obj


def cr_cells(group: str, kind: str, *objects: dict) -> list[list[Any]]:
    return cells(kind, *objects, printer_columns=PRINTER_COLUMNS[(group, kind)])


def test_istio_networking_crs() -> None:
    vs = istio(
        "VirtualService",
        "httpbin",
        {
            "hosts": ["httpbin.example.com"],
            "gateways": ["httpbin-gateway"],
            "http": [{"route": [{"destination": {"host": "httpbin"}}]}],
        },
    )
    mesh_vs = istio("VirtualService", "reviews", {"hosts": ["reviews"]}, T_5M)
    assert cr_cells("networking.istio.io", "VirtualService", vs, mesh_vs) == [
        ["httpbin", '["httpbin-gateway"]', '["httpbin.example.com"]', "27m"],
        ["reviews", None, '["reviews"]', "5m"],
    ]
    gateway = istio("Gateway", "httpbin-gateway", {"selector": {"istio": "ingressgateway"}, "servers": []})
    result = table(
        "Gateway", [gateway], now=NOW, printer_columns=PRINTER_COLUMNS[("networking.istio.io", "Gateway")]
    )
    assert [(c["name"], c["type"]) for c in result["columnDefinitions"]] == [
        ("Name", "string"),
        ("Age", "date"),
    ]
    assert [row["cells"] for row in result["rows"]] == [["httpbin-gateway", "27m"]]
    dr = istio("DestinationRule", "httpbin", {"host": "httpbin.default.svc.cluster.local"}, T_3M)
    assert cr_cells("networking.istio.io", "DestinationRule", dr) == [
        ["httpbin", "httpbin.default.svc.cluster.local", "3m"]
    ]
    se = istio(
        "ServiceEntry",
        "httpbin-org",
        {
            "hosts": ["httpbin.org"],
            "location": "MESH_EXTERNAL",
            "resolution": "DNS",
            "ports": [{"number": 443, "name": "https"}],
        },
    )
    assert cr_cells("networking.istio.io", "ServiceEntry", se) == [
        ["httpbin-org", '["httpbin.org"]', "MESH_EXTERNAL", "DNS", "27m"]
    ]


def test_gateway_api_crs_with_status() -> None:
    group = "gateway.networking.k8s.io"
    accepted = {"conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted"}]}
    gatewayclass = gwapi(
        "GatewayClass",
        "istio",
        {"controllerName": "istio.io/gateway-controller", "description": "The default Istio GatewayClass"},
        accepted,
        "",
    )
    assert cr_cells(group, "GatewayClass", gatewayclass) == [
        ["istio", "istio.io/gateway-controller", "True", "27m", "The default Istio GatewayClass"]
    ]
    programmed = gwapi(
        "Gateway",
        "httpbin-gateway",
        {"gatewayClassName": "istio"},
        {
            "addresses": [
                {"type": "IPAddress", "value": "172.18.255.200"},
                {"type": "IPAddress", "value": "fd00::1"},
            ],
            "conditions": [{"type": "Accepted", "status": "True"}, {"type": "Programmed", "status": "True"}],
        },
    )
    unassigned = gwapi(
        "Gateway",
        "edge",
        {"gatewayClassName": "istio"},
        {
            "addresses": [{"type": "Hostname", "value": "edge-istio.default.svc.cluster.local"}],
            "conditions": [{"type": "Programmed", "status": "False", "reason": "AddressNotAssigned"}],
        },
    )
    fresh = gwapi("Gateway", "fresh", {"gatewayClassName": "istio"})
    assert cr_cells(group, "Gateway", programmed, unassigned, fresh) == [
        ["httpbin-gateway", "istio", "172.18.255.200", "True", "27m"],  # only the first address
        ["edge", "istio", "edge-istio.default.svc.cluster.local", "False", "27m"],
        ["fresh", "istio", None, None, "27m"],
    ]
    route = gwapi(
        "HTTPRoute",
        "httpbin",
        {
            "parentRefs": [{"name": "httpbin-gateway"}],
            "hostnames": ["httpbin.example.com", "www.example.com"],
        },
    )
    assert cr_cells(group, "HTTPRoute", route, gwapi("HTTPRoute", "any", {})) == [
        ["httpbin", '["httpbin.example.com","www.example.com"]', "27m"],
        ["any", None, "27m"],
    ]
    assert cr_cells(group, "GRPCRoute", gwapi("GRPCRoute", "grpc", {"hostnames": ["grpc.example.com"]})) == [
        ["grpc", '["grpc.example.com"]', "27m"]
    ]
    for kind in ("ReferenceGrant", "TLSRoute", "TCPRoute"):
        assert cr_cells(group, kind, gwapi(kind, "r", {})) == [["r", "27m"]]


def test_gateway_api_column_definitions_use_the_generated_description() -> None:
    columns = table(
        "GatewayClass",
        [],
        now=NOW,
        printer_columns=PRINTER_COLUMNS[("gateway.networking.k8s.io", "GatewayClass")],
    )["columnDefinitions"]
    assert [(c["name"], c["type"], c["priority"]) for c in columns] == [
        ("Name", "string", 0),
        ("Controller", "string", 0),
        ("Accepted", "string", 0),
        ("Age", "date", 0),
        ("Description", "string", 1),
    ]
    assert columns[2]["description"] == (
        "Custom resource definition column (in JSONPath format): "
        '.status.conditions[?(@.type=="Accepted")].status'
    )


def test_no_printer_columns_serves_name_and_age() -> None:
    result = table("Widget", [{"metadata": meta("w", T_90S)}], now=NOW, printer_columns=[])
    assert [(c["name"], c["type"]) for c in result["columnDefinitions"]] == [
        ("Name", "string"),
        ("Age", "date"),
    ]
    assert result["rows"][0]["cells"] == ["w", "90s"]


def test_typed_printer_columns_follow_cell_for_json_value() -> None:
    columns = [
        {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
        {"name": "Weight", "type": "number", "jsonPath": ".spec.weight", "format": "float"},
        {"name": "Enabled", "type": "boolean", "jsonPath": ".spec.enabled", "priority": 1},
        {"name": "Renewed", "type": "date", "jsonPath": ".status.renewTime", "description": "Last renewal."},
        {"name": "Config", "type": "string", "jsonPath": ".spec.config"},
        {"name": "Ratio", "type": "string", "jsonPath": ".spec.ratio"},
        {"name": "Nothing", "type": "string", "jsonPath": ".spec.nothing"},
        {"name": "Third", "type": "string", "jsonPath": ".spec.items[2]"},
        {"name": "Last", "type": "string", "jsonPath": ".spec.items[-1]"},
    ]
    good = {
        "metadata": meta("a"),
        "status": {"renewTime": T_3M},
        "spec": {
            "replicas": 2.9,
            "weight": 3,
            "enabled": True,
            "config": {"z": 1e-7, "a": "<b>&", "n": 1.0, "big": 1e21},
            "ratio": 1e6,
            "nothing": None,
            "items": ["x", "y", "z"],
        },
    }
    odd = {
        "metadata": meta("b"),
        "status": {"renewTime": "yesterday"},
        "spec": {
            "replicas": True,
            "weight": "3",
            "enabled": "yes",
            "config": [1.5, 100.0, 0.0001],
            "ratio": 0.00001,
            "items": ["x"],
        },
    }
    empty = {"metadata": meta("c"), "status": {"renewTime": ""}, "spec": {"ratio": 123456.0}}
    result = table("Widget", [good, odd, empty], now=NOW, printer_columns=columns)
    assert [(c["type"], c["format"], c["priority"]) for c in result["columnDefinitions"][1:4]] == [
        ("integer", "", 0),
        ("number", "float", 0),
        ("boolean", "", 1),
    ]
    assert result["columnDefinitions"][4]["description"] == "Last renewal."
    assert [row["cells"] for row in result["rows"]] == [
        [
            "a",
            2,
            3.0,
            True,
            "3m",
            '{"a":"\\u003cb\\u003e\\u0026","big":1e+21,"n":1,"z":1e-7}',
            "1e+06",
            "<no value>",
            "z",
            "z",
        ],
        ["b", None, None, None, "<invalid>", "[1.5,100,0.0001]", "1e-05", None, None, "x"],
        ["c", None, None, None, "<unknown>", None, "123456", None, None, None],
    ]


def test_filters_compare_like_go_templates() -> None:
    columns = [
        {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type=='Ready')].reason"},
        {"name": "Port", "type": "integer", "jsonPath": ".spec.ports[?(@.port==8080)].port"},
        {"name": "Named", "type": "string", "jsonPath": ".spec.ports[?(@.name)].name"},
        {"name": "Other", "type": "string", "jsonPath": '.spec.ports[?(@.name!="http")].port'},
    ]
    obj = {
        "metadata": meta("x"),
        "status": {"conditions": [{"type": "Ready", "reason": "Up"}]},
        "spec": {"ports": [{"port": 80}, {"port": 8080, "name": "http"}, {"port": 9090, "name": "metrics"}]},
    }
    mismatch = {
        "metadata": meta("y"),
        "status": {"conditions": "oops"},
        "spec": {"ports": [{"port": "8080", "name": 7}]},
    }
    assert cells("Thing", obj, mismatch, printer_columns=columns) == [
        ["x", "Up", 8080, "http", "9090"],
        ["y", None, None, "7", None],  # comparing different kinds is an error in Go: null cell
    ]


def test_unsupported_jsonpath_is_refused() -> None:
    with pytest.raises(
        SandboxError, match=r"jsonPath '\.\.name' uses JSONPath the sandbox does not evaluate"
    ):
        table("Thing", [], now=NOW, printer_columns=[{"name": "N", "type": "string", "jsonPath": "..name"}])


# ------------------------------------------------------------------------------------------------
# End to end: what the real kubectl prints from these tables
# ------------------------------------------------------------------------------------------------

KUBECTL = pathlib.Path(sys.executable).parent / "kubectl"
GROUPS = {
    "networking.istio.io": [("virtualservices", "VirtualService", "vs")],
    "gateway.networking.k8s.io": [("gateways", "Gateway", "gtw"), ("gatewayclasses", "GatewayClass", "gc")],
}


def _resource(plural: str, kind: str, short: str, namespaced: bool = True) -> dict:
    return {
        "name": plural,
        "singularName": kind.lower(),
        "namespaced": namespaced,
        "kind": kind,
        "verbs": ["get", "list"],
        "shortNames": [short],
    }


def _discovery() -> dict[str, dict]:
    """Plain (unaggregated) discovery: kubectl falls back to it when the server ignores the v2 Accept."""
    groups = [
        {
            "name": g,
            "versions": [{"groupVersion": f"{g}/v1", "version": "v1"}],
            "preferredVersion": {"groupVersion": f"{g}/v1", "version": "v1"},
        }
        for g in GROUPS
    ]
    docs: dict[str, dict] = {
        "/version": {"major": "1", "minor": "34", "gitVersion": "v1.34.1", "platform": "linux/amd64"},
        "/api": {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []},
        "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups},
        "/api/v1": {
            "kind": "APIResourceList",
            "groupVersion": "v1",
            "resources": [_resource("pods", "Pod", "po"), _resource("services", "Service", "svc")],
        },
    }
    for group, resources in GROUPS.items():
        docs[f"/apis/{group}/v1"] = {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": f"{group}/v1",
            "resources": [_resource(*r, namespaced=r[1] != "GatewayClass") for r in resources],
        }
    return docs


def _tables() -> dict[str, dict]:
    """The collections kubectl lists, as Tables built by the module under test."""
    crash = pod([waiting("httpbin", "CrashLoopBackOff", 5, T_3M)])
    crash["metadata"]["name"] = "httpbin-5d9c8b7f4-kq2mv"
    pull = pod([waiting("sleep", "ErrImagePull")], phase="Pending")
    pull["metadata"]["name"] = "sleep-6c9f8d7b5-abcde"
    pods = [running_pod(), crash, pull]
    gateway_pod = running_pod("istio-ingressgateway-5f4d8b9c7-q9wzt", "istio-system")
    httpbin_svc = {
        "metadata": meta("httpbin"),
        "spec": {"clusterIP": "10.96.12.34", "selector": {"app": "httpbin"}, "ports": [{"port": 8000}]},
    }
    group, kind = "gateway.networking.k8s.io", "Gateway"
    gateways = [
        gwapi(
            kind,
            "httpbin-gateway",
            {"gatewayClassName": "istio"},
            {
                "addresses": [{"type": "IPAddress", "value": "172.18.255.200"}],
                "conditions": [{"type": "Programmed", "status": "True"}],
            },
        ),
        gwapi(kind, "fresh", {"gatewayClassName": "istio"}),
    ]
    gatewayclass = gwapi(
        "GatewayClass",
        "istio",
        {"controllerName": "istio.io/gateway-controller", "description": "The default Istio GatewayClass"},
        None,
        "",
    )
    vs = istio(
        "VirtualService", "httpbin", {"hosts": ["httpbin.example.com"], "gateways": ["httpbin-gateway"]}
    )
    return {
        "/api/v1/namespaces/default/pods": table("Pod", pods, now=NOW),
        "/api/v1/pods": table("Pod", [gateway_pod, *pods], now=NOW),
        "/api/v1/namespaces/default/services": table("Service", [httpbin_svc], now=NOW),
        "/apis/networking.istio.io/v1/namespaces/default/virtualservices": table(
            "VirtualService",
            [vs],
            now=NOW,
            printer_columns=PRINTER_COLUMNS[("networking.istio.io", "VirtualService")],
        ),
        f"/apis/{group}/v1/namespaces/default/gateways": table(
            kind, gateways, now=NOW, printer_columns=PRINTER_COLUMNS[(group, kind)]
        ),
        f"/apis/{group}/v1/gatewayclasses": table(
            "GatewayClass", [gatewayclass], now=NOW, printer_columns=PRINTER_COLUMNS[(group, "GatewayClass")]
        ),
    }


class _FakeAPIServer(BaseHTTPRequestHandler):
    """Answers discovery and Table lists, nothing else; records (path, Accept) of every request."""

    documents: dict[str, dict] = {}
    seen: list[tuple[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path = self.path.split("?", 1)[0]
        self.seen.append((self.path, self.headers.get("Accept", "")))
        body = self.documents.get(path)
        if body is None:
            status, body = (
                404,
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "status": "Failure",
                    "reason": "NotFound",
                    "code": 404,
                    "message": "the server could not find the requested resource",
                },
            )
        else:
            status = 200
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def kubectl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Run the real kubectl against a fake API server on 127.0.0.1 serving our tables."""
    if not KUBECTL.exists() and shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed next to the Python interpreter or on PATH")
    binary = str(KUBECTL if KUBECTL.exists() else shutil.which("kubectl"))
    handler = type("Handler", (_FakeAPIServer,), {"documents": {**_discovery(), **_tables()}, "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    home = tmp_path_factory.mktemp("kubectl")
    kubeconfig = home / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: sandbox\n"
        f"clusters:\n- name: sandbox\n  cluster:\n    server: http://127.0.0.1:{server.server_address[1]}\n"
        "users:\n- name: learner\n  user:\n    token: not-a-secret\n"
        "contexts:\n- name: sandbox\n  context:\n    cluster: sandbox\n    user: learner\n"
        "    namespace: default\n"
    )
    kubeconfig.chmod(0o600)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "KUBECONFIG": str(kubeconfig),
        "KUBECACHEDIR": str(home / "cache"),
    }

    def run(*args: str) -> str:
        proc = subprocess.run([binary, *args], env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    run.seen = handler.seen  # type: ignore[attr-defined]
    try:
        yield run
    finally:
        server.shutdown()
        server.server_close()


def test_kubectl_get_pods_prints_the_table(kubectl: Any) -> None:
    assert kubectl("get", "pods") == (
        "NAME                       READY   STATUS             RESTARTS     AGE\n"
        "httpbin-7b5f9c8d6d-x2x4q   2/2     Running            0            27m\n"
        "httpbin-5d9c8b7f4-kq2mv    0/1     CrashLoopBackOff   5 (3m ago)   27m\n"
        "sleep-6c9f8d7b5-abcde      0/1     ErrImagePull       0            27m\n"
    )
    accept = [a for p, a in kubectl.seen if p.startswith("/api/v1/namespaces/default/pods")]
    assert accept and accept[0].startswith("application/json;as=Table;v=v1;g=meta.k8s.io")


def test_kubectl_get_pods_wide_and_all_namespaces(kubectl: Any) -> None:
    assert kubectl("get", "pods", "-o", "wide") == (
        "NAME                       READY   STATUS             RESTARTS     AGE   "
        "IP           NODE                 NOMINATED NODE   READINESS GATES\n"
        "httpbin-7b5f9c8d6d-x2x4q   2/2     Running            0            27m   "
        "10.244.0.7   kind-control-plane   <none>           <none>\n"
        "httpbin-5d9c8b7f4-kq2mv    0/1     CrashLoopBackOff   5 (3m ago)   27m   "
        "<none>       <none>               <none>           <none>\n"
        "sleep-6c9f8d7b5-abcde      0/1     ErrImagePull       0            27m   "
        "<none>       <none>               <none>           <none>\n"
    )
    # The NAMESPACE column comes from each row's PartialObjectMetadata.
    assert kubectl("get", "pods", "-A") == (
        "NAMESPACE      NAME                                   READY   STATUS             RESTARTS     AGE\n"
        "istio-system   istio-ingressgateway-5f4d8b9c7-q9wzt   2/2     Running            0            27m\n"
        "default        httpbin-7b5f9c8d6d-x2x4q               2/2     Running            0            27m\n"
        "default        httpbin-5d9c8b7f4-kq2mv                0/1     CrashLoopBackOff   5 (3m ago)   27m\n"
        "default        sleep-6c9f8d7b5-abcde                  0/1     ErrImagePull       0            27m\n"
    )


def test_kubectl_get_services_and_custom_resources(kubectl: Any) -> None:
    assert kubectl("get", "svc") == (
        "NAME      TYPE        CLUSTER-IP    EXTERNAL-IP   PORT(S)    AGE\n"
        "httpbin   ClusterIP   10.96.12.34   <none>        8000/TCP   27m\n"
    )
    assert kubectl("get", "virtualservices") == (
        "NAME      GATEWAYS              HOSTS                     AGE\n"
        'httpbin   ["httpbin-gateway"]   ["httpbin.example.com"]   27m\n'
    )
    # A null cell (no status yet) prints as an empty column.
    assert kubectl("get", "gateways.gateway.networking.k8s.io") == (
        "NAME              CLASS   ADDRESS          PROGRAMMED   AGE\n"
        "httpbin-gateway   istio   172.18.255.200   True         27m\n"
        "fresh             istio                                 27m\n"
    )
    assert kubectl("get", "gatewayclasses", "-o", "wide") == (
        "NAME    CONTROLLER                    ACCEPTED   AGE   DESCRIPTION\n"
        "istio   istio.io/gateway-controller              27m   The default Istio GatewayClass\n"
    )
