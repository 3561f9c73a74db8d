"""What istiod's gateway deployment controller creates for a Gateway (automated deployment).

Istio 1.27 ``pilot/pkg/config/kube/gateway/deploymentcontroller.go`` rendering
``manifests/charts/istio-control/istio-discovery/files/kube-gateway.yaml``; the names and the
``infrastructure`` rules are those of https://istio.io/latest/docs/tasks/traffic-management/ingress/gateway-api/#automated-deployment.
"""

from __future__ import annotations

from typing import Any

from _gwapi import DOC_GATEWAY, DOC_ROUTE, HTTPBIN, gw_xds
from _tx import snapshot_from_yaml

from gatewaykit._translate.gatewayapi_deploy import deployment_objects, gatewayclass_objects
from gatewaykit.resources.codecs import load
from gatewaykit.resources.validation import validate

MANAGED = {"gateway.istio.io/managed": "istio.io-gateway-controller"}


def objects(text: str) -> dict[str, dict[str, Any]]:
    return {o["kind"]: o for o in deployment_objects(snapshot_from_yaml(text))}


def gateway_uid(text: str) -> str:
    """The uid the API server gave the Gateway (owner references name it)."""
    snap = snapshot_from_yaml(text)
    (gw,) = snap.entries("Gateway.gateway.networking.k8s.io")
    return str(gw.raw["metadata"]["uid"])


def test_doc_gateway_gets_service_deployment_and_account_named_gateway_class() -> None:
    # getDefaultName: "<Gateway name>-<GatewayClass name>"; extractServicePorts; apply(): managed label.
    objs = objects(DOC_GATEWAY)
    uid = gateway_uid(DOC_GATEWAY)
    assert uid
    assert list(objs) == ["ServiceAccount", "Deployment", "Service"]
    for o in objs.values():
        assert (o["metadata"]["name"], o["metadata"]["namespace"]) == ("gateway-istio", "istio-ingress")
        assert o["metadata"]["labels"] == {"gateway.networking.k8s.io/gateway-name": "gateway", **MANAGED}
        assert o["metadata"]["ownerReferences"][0] == {
            "apiVersion": "gateway.networking.k8s.io/v1beta1",
            "kind": "Gateway",
            "name": "gateway",
            "uid": uid,
        }
    svc = objs["Service"]["spec"]
    assert svc["type"] == "LoadBalancer"  # classInfo.defaultServiceType for "istio"
    assert svc["selector"] == {"gateway.networking.k8s.io/gateway-name": "gateway"}
    assert svc["ports"] == [
        {"name": "status-port", "port": 15021, "appProtocol": "tcp", "protocol": "TCP"},
        {"name": "default", "port": 80, "appProtocol": "http", "protocol": "TCP"},
    ]
    pod = objs["Deployment"]["spec"]["template"]
    assert pod["metadata"]["labels"] == {
        "sidecar.istio.io/inject": "false",
        "service.istio.io/canonical-name": "gateway-istio",
        "service.istio.io/canonical-revision": "latest",
        "gateway.networking.k8s.io/gateway-name": "gateway",
        **MANAGED,
    }
    assert pod["metadata"]["annotations"]["istio.io/rev"] == "default"
    (container,) = pod["spec"]["containers"]
    assert (container["name"], container["args"][:2]) == ("istio-proxy", ["proxy", "router"])
    assert pod["spec"]["serviceAccountName"] == "gateway-istio"
    # The rendered objects pass the API server's checks, like istiod's server-side apply.
    assert all(validate(m).ok for m in load(list(objs.values())))


def test_service_type_annotation_and_listener_ports() -> None:
    # networking.istio.io/service-type; distinct listener ports; "." in a listener name → "-".
    objs = objects(
        """
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: cnn-egress-gateway
  namespace: default
  annotations: {networking.istio.io/service-type: ClusterIP}
spec:
  gatewayClassName: istio
  listeners:
  - {name: http, port: 80, protocol: HTTP}
  - {name: http.alt, port: 80, protocol: HTTP, hostname: a.example.com}
  - {name: https, port: 443, protocol: HTTPS, tls: {certificateRefs: [{name: c}]}}
  - {name: tls.pass, port: 8443, protocol: TLS, tls: {mode: Passthrough}}
"""
    )
    svc = objs["Service"]
    assert svc["metadata"]["name"] == "cnn-egress-gateway-istio"
    assert svc["spec"]["type"] == "ClusterIP"
    assert [(p["name"], p["port"], p["appProtocol"]) for p in svc["spec"]["ports"]] == [
        ("status-port", 15021, "tcp"),
        ("http", 80, "http"),
        ("https", 443, "https"),
        ("tls-pass", 8443, "tls"),
    ]
    # The Gateway's own annotations are copied (infrastructure unset), the service-type one included.
    assert svc["metadata"]["annotations"] == {"networking.istio.io/service-type": "ClusterIP"}


def test_infrastructure_labels_and_annotations() -> None:
    # extractInfrastructureMetadata: spec.infrastructure wins over the Gateway's own labels, and keys
    # under gateway.networking.k8s.io/ are dropped.
    objs = objects(
        DOC_GATEWAY.replace(
            "metadata: {name: gateway, namespace: istio-ingress}",
            "metadata: {name: gateway, namespace: istio-ingress, labels: {team: a}}",
        ).replace(
            "gatewayClassName: istio",
            "gatewayClassName: istio\n  infrastructure:\n    labels: {key: value, gateway.networking.k8s.io/x: y}\n"
            "    annotations: {some-key: some-value}",
        )
    )
    dep = objs["Deployment"]
    assert dep["metadata"]["labels"] == {
        "key": "value",
        "gateway.networking.k8s.io/gateway-name": "gateway",
        **MANAGED,
    }
    assert dep["metadata"]["annotations"] == {"some-key": "some-value"}
    assert dep["spec"]["template"]["metadata"]["annotations"]["some-key"] == "some-value"


def test_single_ip_address_is_managed_with_load_balancer_ip() -> None:
    # IsManaged: one IP address is still managed; the template sets loadBalancerIP.
    objs = objects(
        DOC_GATEWAY.replace(
            "gatewayClassName: istio", "gatewayClassName: istio\n  addresses: [{value: 10.0.0.9}]"
        )
    )
    assert objs["Service"]["spec"]["loadBalancerIP"] == "10.0.0.9"


def test_manual_deployment_and_other_classes_create_nothing() -> None:
    # IsManaged: a Hostname address points at an existing Service; classInfo without templates
    # (istio-remote) and unknown classes are skipped.
    manual = DOC_GATEWAY.replace(
        "gatewayClassName: istio", "gatewayClassName: istio\n  addresses: [{type: Hostname, value: ingress}]"
    )
    assert objects(manual) == {}
    assert objects(DOC_GATEWAY.replace("gatewayClassName: istio", "gatewayClassName: istio-remote")) == {}
    assert objects(DOC_GATEWAY.replace("gatewayClassName: istio", "gatewayClassName: nginx")) == {}


def test_existing_unmanaged_objects_are_not_taken_over() -> None:
    # canManage: an object of that name without the managed label stays the user's.
    mine = """
---
apiVersion: v1
kind: Service
metadata: {name: gateway-istio, namespace: istio-ingress}
spec: {ports: [{port: 80}], selector: {app: mine}}
"""
    assert list(objects(DOC_GATEWAY + mine)) == ["ServiceAccount", "Deployment"]


def test_the_deployed_pod_is_a_gateway_proxy_bound_to_its_gateway() -> None:
    # The kube-gateway pod (istio-proxy, proxyv2 image, `proxy router`) runs as a gateway; the
    # generated Gateway applies to it through its Service, not to the default ingress gateway.
    state = gw_xds(HTTPBIN + DOC_GATEWAY + DOC_ROUTE)
    (pod,) = state.pods_of("istio-ingress/gateway-istio")
    assert pod.kind == "gateway"
    assert pod.labels["gateway.networking.k8s.io/gateway-name"] == "gateway"
    assert [lst.name for lst in state.proxies[pod.key].listeners] == ["0.0.0.0_80"]
    ingress = state.proxy_for("istio-system/istio-ingressgateway")
    assert ingress is not None and ingress.listeners == ()


def test_builtin_gateway_classes() -> None:
    # ClassController: istio and istio-remote on a default install (istio-waypoint only with ambient).
    classes = {c["metadata"]["name"]: c["spec"] for c in gatewayclass_objects()}
    assert classes == {
        "istio": {
            "controllerName": "istio.io/gateway-controller",
            "description": "The default Istio GatewayClass",
        },
        "istio-remote": {
            "controllerName": "istio.io/unmanaged-gateway",
            "description": "Remote to this cluster. Does not deploy or affect configuration.",
        },
    }
    assert "istio-waypoint" in {c["metadata"]["name"] for c in gatewayclass_objects(ambient=True)}
