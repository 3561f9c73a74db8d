"""Bring your own cluster (ConnectedSandbox) against the fake API server."""

from __future__ import annotations

import pytest

from gatewaykit.backends.base import Backend
from gatewaykit.backends.connect import (
    ConnectedSandbox,
    IstioInfo,
    detect_istio,
    ingress_env_from_service,
    learner_namespace,
)
from gatewaykit.backends.kind import KindSandbox
from gatewaykit.errors import ClusterError, NotReadyError

GATEWAY = """apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: httpbin-gateway
spec:
  selector:
    istio: ingressgateway
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["httpbin.example.com"]
"""


def test_learner_namespace_is_a_dns_label() -> None:
    assert learner_namespace("Ada Lovelace") == "gk-ada-lovelace"
    assert learner_namespace("___") == "gk-learner"
    assert len(learner_namespace("x" * 100)) == 63


def test_detect_istio_version_and_gateways() -> None:
    deps = [
        {
            "metadata": {"name": "istiod", "namespace": "istio-system", "labels": {"app": "istiod"}},
            "spec": {
                "template": {
                    "metadata": {"labels": {"app": "istiod"}},
                    "spec": {
                        "containers": [
                            {"name": "discovery", "image": "gcr.io/istio-release/pilot:1.26.2-distroless"}
                        ]
                    },
                }
            },
        },
        {
            "metadata": {"name": "istio-ingressgateway", "namespace": "istio-system"},
            "spec": {"template": {"metadata": {"labels": {"istio": "ingressgateway"}}}},
        },
        {
            "metadata": {"name": "my-gw", "namespace": "team"},
            "spec": {
                "template": {
                    "metadata": {
                        "labels": {"app": "x"},
                        "annotations": {"inject.istio.io/templates": "gateway"},
                    }
                }
            },
        },
        {
            "metadata": {"name": "httpbin", "namespace": "default"},
            "spec": {"template": {"metadata": {"labels": {"app": "httpbin"}}}},
        },
    ]
    assert detect_istio(deps) == IstioInfo(
        "1.26.2-distroless", "istio-system", ("istio-system/istio-ingressgateway", "team/my-gw")
    )
    assert detect_istio(deps[1:]) is None


def test_ingress_env_load_balancer_and_node_port() -> None:
    lb = {
        "spec": {
            "type": "LoadBalancer",
            "ports": [
                {"name": "http2", "port": 80, "nodePort": 31380},
                {"name": "https", "port": 443, "nodePort": 31390},
            ],
        },
        "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}]}},
    }
    assert ingress_env_from_service(lb) == {
        "INGRESS_HOST": "203.0.113.10",
        "INGRESS_PORT": "80",
        "SECURE_INGRESS_PORT": "443",
    }
    pending = {**lb, "status": {"loadBalancer": {}}}
    assert ingress_env_from_service(pending, ["172.18.0.2"]) == {
        "INGRESS_HOST": "172.18.0.2",
        "INGRESS_PORT": "31380",
        "SECURE_INGRESS_PORT": "31390",
    }
    with pytest.raises(ClusterError):
        ingress_env_from_service(pending)


@pytest.fixture
def connected(fake_api):
    sb = ConnectedSandbox(learner="ada", api_client_factory=fake_api.api_client_factory())
    yield sb
    sb.close()


def test_connect_detects_istio_creates_a_labelled_learner_namespace(connected, fake_api) -> None:
    assert connected.istio == IstioInfo("1.27.1", "istio-system", ("istio-system/istio-ingressgateway",))
    ns = fake_api.cluster.objects[("namespaces", "", "gk-ada")]
    assert ns["metadata"]["labels"] == {
        "istio-injection": "enabled",
        "app.kubernetes.io/managed-by": "gatewaykit",
        "gatewaykit.io/learner": "ada",
    }
    assert connected.env == {
        "INGRESS_HOST": "172.18.0.2",
        "INGRESS_PORT": "30080",
        "SECURE_INGRESS_PORT": "30443",
        "TCP_INGRESS_PORT": "31400",
    }
    assert isinstance(connected, Backend) and isinstance(KindSandbox(start=False), Backend)


def test_connect_applies_into_the_learner_namespace(connected, fake_api) -> None:
    report = connected.apply(GATEWAY)
    assert str(report) == "gateway.networking.istio.io/httpbin-gateway created"
    gw = fake_api.cluster.objects[("gateways", "gk-ada", "httpbin-gateway")]
    assert gw["metadata"]["labels"]["gatewaykit.io/learner"] == "ada"
    assert str(connected.delete(GATEWAY)) == 'gateway.networking.istio.io "httpbin-gateway" deleted'


def test_connect_never_touches_what_it_did_not_create(connected, fake_api) -> None:
    svc = fake_api.cluster.objects[("services", "istio-system", "istio-ingressgateway")]
    before = dict(svc)
    change = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "istio-ingressgateway", "namespace": "istio-system"},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
    }
    with pytest.raises(ClusterError, match="exists and was not created by gatewaykit: refusing to change it"):
        connected.apply(change)
    with pytest.raises(ClusterError, match="refusing to delete it"):
        connected.delete(change)
    assert fake_api.cluster.objects[("services", "istio-system", "istio-ingressgateway")] == before
    assert not [
        p for m, p in fake_api.cluster.requests if m in ("PATCH", "DELETE") and "istio-ingressgateway" in p
    ]


def test_connect_refuses_a_foreign_namespace(fake_api) -> None:
    with pytest.raises(ClusterError, match="^Namespace default exists and was not created by gatewaykit"):
        ConnectedSandbox(namespace="default", api_client_factory=fake_api.api_client_factory())


def test_connect_maps_the_docs_default_namespace_to_the_learners(connected) -> None:
    # The fake cluster's curl pod is in "default"; a learner's sources resolve in their namespace.
    with pytest.raises(NotReadyError, match="no running pod for 'gk-ada/curl'"):
        connected.curl("curl -sI http://httpbin:8000/", source="default/curl")


def test_connect_without_istio_says_how_to_fix(fake_api) -> None:
    del fake_api.cluster.objects[("deployments", "istio-system", "istiod")]
    with pytest.raises(NotReadyError, match="no istiod found in this cluster: install Istio first"):
        ConnectedSandbox(learner="bob", api_client_factory=fake_api.api_client_factory())


def test_connect_refuses_mesh_wide_changes(connected, fake_api) -> None:
    op = "apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nmetadata:\n  name: x\nspec: {}\n"
    with pytest.raises(ClusterError, match="IstioOperator changes the mesh of the whole shared cluster"):
        connected.apply(op)


def test_connect_refuses_another_learners_objects(connected, fake_api) -> None:
    """Both documented labels are checked: managed-by gatewaykit AND this learner's."""
    connected.apply(GATEWAY)
    gw = fake_api.cluster.objects[("gateways", "gk-ada", "httpbin-gateway")]
    gw["metadata"]["labels"]["gatewaykit.io/learner"] = "bob"
    with pytest.raises(ClusterError, match="belongs to learner 'bob', not 'ada': refusing to delete it"):
        connected.delete(GATEWAY)
    assert ("gateways", "gk-ada", "httpbin-gateway") in fake_api.cluster.objects


def test_connect_protocol_pods_get_service_address_and_closed(connected, fake_api) -> None:
    from gatewaykit.backends.base import PodInfo
    from gatewaykit.errors import BackendError

    pods = connected.pods()
    assert PodInfo("default", "curl-5b7f6c8d9-abcde", "Running", "", "2/2", "") in pods
    assert [p.namespace for p in pods] == sorted(p.namespace for p in pods)
    svc = connected.get("Service", "istio-system", "istio-ingressgateway")
    assert svc["spec"]["type"] == "NodePort"
    assert connected.get("Gateway", "gk-ada", "nope") is None
    lb = fake_api.cluster.objects[("services", "istio-system", "istio-ingressgateway")]
    lb["spec"]["type"] = "LoadBalancer"
    lb["status"] = {"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}]}}
    assert connected.service_address("istio-system", "istio-ingressgateway", 443) == ("203.0.113.10", 443)
    env = connected.shell_env
    assert env["KUBECONFIG"] == str(connected.work_dir / "kubeconfig") and env["INGRESS_PORT"] == "30080"
    connected.close()
    assert connected.closed
    with pytest.raises(BackendError, match="ConnectedSandbox is closed"):
        connected.pods()
