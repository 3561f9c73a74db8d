"""The status istiod writes on Gateway API objects: condition types, reasons and messages.

Rows cite the Istio 1.27 function that writes the text (``pilot/pkg/config/kube/gateway``:
``conversion.go`` ``reportGatewayStatus``/``setProgrammedCondition``/``buildListener``/``buildTLS``/
``referenceAllowed``/``buildDestination``, ``context.go`` ``ResolveGatewayInstances``, ``conditions.go``
``createRouteStatus``/``setConditions``, ``gatewayclass.go`` ``GetClassStatus``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from _gwapi import DOC_GATEWAY, DOC_ROUTE, HTTPBIN, TLS_SECRET, gw_snapshot, route

from gatewaykit._translate.gatewayapi_status import set_conditions, statuses
from gatewaykit._translate.mesh import ServiceInfo
from gatewaykit.resources.meta import ResourceKey

NOW = "2025-06-01T12:00:00Z"
GATEWAY = ResourceKey("Gateway.gateway.networking.k8s.io", "istio-ingress", "gateway")
HTTP = ResourceKey("HTTPRoute", "default", "http")
SVC = "gateway-istio.istio-ingress.svc.cluster.local"
CLUSTER_IP = DOC_GATEWAY.replace(
    "namespace: istio-ingress}",
    "namespace: istio-ingress, annotations: {networking.istio.io/service-type: ClusterIP}}",
)


def conditions(status: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    """{type: (status, reason, message)}."""
    return {c["type"]: (c["status"], c["reason"], c["message"]) for c in status["conditions"]}


def parent_conditions(status: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    (parent,) = status["parents"]
    assert parent["controllerName"] == "istio.io/gateway-controller"
    return conditions(parent)


def listener(status: dict[str, Any], name: str) -> dict[str, Any]:
    return next(x for x in status["listeners"] if x["name"] == name)


@dataclass
class Row:
    name: str
    config: str
    key: ResourceKey
    expect: dict[str, tuple[str, str, str]]
    listener: str | None = None  # check this listener's conditions instead
    route: bool = False  # check status.parents[0]
    extra: dict[str, Any] = field(default_factory=dict)


OK = ("True", "Accepted", "Route was valid")
RESOLVED = ("True", "ResolvedRefs", "All references resolved")
HTTPS_GATEWAY = """
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: gateway, namespace: istio-ingress}}
spec:
  gatewayClassName: istio
  listeners:
  - {{name: https, hostname: a.example.com, port: 443, protocol: HTTPS, tls: {{certificateRefs: [{ref}]}}}}
"""

ROWS = [
    Row(
        # setProgrammedCondition: a LoadBalancer Service without an external address is pending
        "LoadBalancer pending: Programmed False",
        HTTPBIN + DOC_GATEWAY + DOC_ROUTE,
        GATEWAY,
        {
            "Accepted": ("True", "Accepted", "Resource accepted"),
            "Programmed": (
                "False",
                "AddressNotAssigned",
                f"Assigned to service(s) {SVC}:80, but failed to assign to all requested addresses: "
                f'address pending for hostname "{SVC}"',
            ),
        },
    ),
    Row(
        # networking.istio.io/service-type: ClusterIP → nothing pending; the address is the Service host
        "ClusterIP gateway: Programmed True, assigned to the Service",
        HTTPBIN + CLUSTER_IP + DOC_ROUTE,
        GATEWAY,
        {
            "Accepted": ("True", "Accepted", "Resource accepted"),
            "Programmed": ("True", "Programmed", f"Resource programmed, assigned to service(s) {SVC}:80"),
        },
        extra={"addresses": [{"type": "Hostname", "value": SVC}]},
    ),
    Row(
        "listener conditions and attachedRoutes",
        HTTPBIN + DOC_GATEWAY + DOC_ROUTE,
        GATEWAY,
        {
            "Accepted": ("True", "Accepted", "No errors found"),
            "Conflicted": ("False", "NoConflicts", "No errors found"),
            "Programmed": ("True", "Programmed", "No errors found"),
            "ResolvedRefs": ("True", "ResolvedRefs", "No errors found"),
        },
        listener="default",
        extra={"attachedRoutes": 1},
    ),
    Row(
        # buildTLS / buildSecretReference
        "certificateRef to a missing Secret",
        HTTPBIN + HTTPS_GATEWAY.format(ref="{name: missing}"),
        GATEWAY,
        {
            "Accepted": ("True", "Accepted", "No errors found"),
            "Conflicted": ("False", "NoConflicts", "No errors found"),
            "Programmed": ("False", "Invalid", "Bad TLS configuration"),
            "ResolvedRefs": (
                "False",
                "InvalidCertificateRef",
                "invalid certificate reference /Secret/missing., secret istio-ingress/missing not found",
            ),
        },
        listener="https",
    ),
    Row(
        # buildTLS: a Secret in another namespace needs a ReferenceGrant
        "certificateRef to another namespace without a ReferenceGrant",
        HTTPBIN
        + TLS_SECRET.format(name="cred", namespace="default")
        + HTTPS_GATEWAY.format(ref="{name: cred, namespace: default}"),
        GATEWAY,
        {
            "Accepted": ("True", "Accepted", "No errors found"),
            "Conflicted": ("False", "NoConflicts", "No errors found"),
            "Programmed": ("False", "Invalid", "Bad TLS configuration"),
            "ResolvedRefs": (
                "False",
                "RefNotPermitted",
                'certificateRef cred/default not accessible to a Gateway in namespace "istio-ingress" '
                "(missing a ReferenceGrant?)",
            ),
        },
        listener="https",
    ),
    Row(
        # listenerProtocolToIstio
        "lower-case protocol",
        HTTPBIN + DOC_GATEWAY.replace("protocol: HTTP", "protocol: http"),
        GATEWAY,
        {
            "Accepted": (
                "False",
                "UnsupportedProtocol",
                'protocol "http" is unsupported. hint: "HTTP" (uppercase) may be supported',
            ),
            "Conflicted": ("False", "NoConflicts", "No errors found"),
            "Programmed": ("True", "Programmed", "No errors found"),
            "ResolvedRefs": ("True", "ResolvedRefs", "No errors found"),
        },
        listener="default",
    ),
    Row(
        # reportListenerCondition / generateSupportedKinds: a kind the listener cannot take
        "allowedRoutes kinds the protocol cannot serve",
        HTTPBIN
        + DOC_GATEWAY.replace(
            "{namespaces: {from: All}}", "{namespaces: {from: All}, kinds: [{kind: TCPRoute}]}"
        ),
        GATEWAY,
        {
            "Accepted": ("True", "Accepted", "No errors found"),
            "Conflicted": ("False", "NoConflicts", "No errors found"),
            "Programmed": ("True", "Programmed", "No errors found"),
            "ResolvedRefs": ("False", "InvalidRouteKinds", "Invalid route kinds"),
        },
        listener="default",
        extra={"supportedKinds": []},
    ),
    Row(
        # extractGatewayServices: not managed, and only Hostname addresses are used
        "two addresses, one an IP",
        HTTPBIN
        + DOC_GATEWAY.replace(
            "gatewayClassName: istio",
            "gatewayClassName: istio\n  addresses: [{type: Hostname, value: ingress}, {type: IPAddress, value: 1.2.3.4}]",
        ),
        GATEWAY,
        {
            "Accepted": ("False", "UnsupportedAddress", "only Hostname is supported, ignoring [1.2.3.4]"),
            "Programmed": (
                "False",
                "AddressNotUsable",
                'Failed to assign to any requested addresses: hostname "ingress.istio-ingress.svc.cluster.local" '
                "not found",
            ),
        },
    ),
    Row(
        # ResolveGatewayInstances: the manual Service exists, but in another namespace
        "manual Service in another namespace",
        HTTPBIN
        + DOC_GATEWAY.replace(
            "gatewayClassName: istio",
            "gatewayClassName: istio\n  addresses: [{type: Hostname, value: istio-ingressgateway.istio-system.svc.cluster.local}]",
        ),
        GATEWAY,
        {
            "Accepted": ("True", "Accepted", "Resource accepted"),
            "Programmed": (
                "False",
                "AddressNotUsable",
                'Failed to assign to any requested addresses: hostname "istio-ingressgateway.istio-system.svc.'
                'cluster.local" not found in namespace "istio-ingress", but it was found in namespace(s) '
                '"istio-system"',
            ),
        },
    ),
    Row(
        "route accepted, refs resolved",
        HTTPBIN + DOC_GATEWAY + DOC_ROUTE,
        HTTP,
        {"Accepted": OK, "ResolvedRefs": RESOLVED},
        route=True,
    ),
    Row(
        # buildDestination: "backend(%s) not found" (ResolvedRefs carries every route error)
        "backend Service missing",
        HTTPBIN + DOC_GATEWAY + DOC_ROUTE.replace("name: httpbin, port", "name: nothere, port"),
        HTTP,
        {
            "Accepted": OK,
            "ResolvedRefs": (
                "False",
                "BackendNotFound",
                "backend(nothere.default.svc.cluster.local) not found",
            ),
        },
        route=True,
    ),
    Row(
        # referenceAllowed: hostnames
        "hostname matches no listener",
        HTTPBIN + DOC_GATEWAY + DOC_ROUTE.replace("httpbin.example.com", "httpbin.example.org"),
        HTTP,
        {
            "Accepted": (
                "False",
                "NoMatchingListenerHostname",
                'no hostnames matched parent hostname "*.example.com"',
            ),
            "ResolvedRefs": RESOLVED,
        },
        route=True,
    ),
    Row(
        # referenceAllowed: the namespace part of the listener hosts
        "route namespace not allowed by the listener",
        HTTPBIN + DOC_GATEWAY.replace("from: All", "from: Same") + DOC_ROUTE,
        HTTP,
        {
            "Accepted": (
                "False",
                "NotAllowedByListeners",
                'hostnames matched parent hostname "*.example.com", but namespace "default" is not allowed by the '
                "parent",
            ),
            "ResolvedRefs": RESOLVED,
        },
        route=True,
    ),
    Row(
        # referenceAllowed: route kinds
        "route kind not allowed by the listener",
        HTTPBIN
        + DOC_GATEWAY.replace(
            "{namespaces: {from: All}}", "{namespaces: {from: All}, kinds: [{kind: GRPCRoute}]}"
        )
        + DOC_ROUTE,
        HTTP,
        {
            "Accepted": (
                "False",
                "NotAllowedByListeners",
                "kind gateway.networking.k8s.io/v1beta1/HTTPRoute is not allowed",
            ),
            "ResolvedRefs": RESOLVED,
        },
        route=True,
    ),
    Row(
        # referenceAllowed: sectionName first
        "sectionName not found",
        HTTPBIN
        + DOC_GATEWAY
        + DOC_ROUTE.replace("namespace: istio-ingress}", "namespace: istio-ingress, sectionName: nope}"),
        HTTP,
        {"Accepted": ("False", "NoMatchingParent", 'sectionName "nope" not found'), "ResolvedRefs": RESOLVED},
        route=True,
    ),
    Row(
        "port not found",
        HTTPBIN
        + DOC_GATEWAY
        + DOC_ROUTE.replace("namespace: istio-ingress}", "namespace: istio-ingress, port: 8080}"),
        HTTP,
        {"Accepted": ("False", "NoMatchingParent", "port 8080 not found"), "ResolvedRefs": RESOLVED},
        route=True,
    ),
    Row(
        # buildDestination: ReferenceGrant for cross-namespace backends
        "cross-namespace backend without a ReferenceGrant",
        HTTPBIN
        + DOC_GATEWAY
        + route("http", "  - backendRefs: [{name: httpbin, namespace: apps, port: 8000}]\n"),
        HTTP,
        {
            "Accepted": OK,
            "ResolvedRefs": (
                "False",
                "RefNotPermitted",
                'backendRef httpbin/apps not accessible to a HTTPRoute in namespace "default" (missing a '
                "ReferenceGrant?)",
            ),
        },
        route=True,
    ),
    Row(
        # createRouteStatus: one entry per parentRef; successes counted per listener
        "one parentRef, two listeners",
        HTTPBIN
        + DOC_GATEWAY.replace(
            "  - name: default",
            "  - {name: other, hostname: '*.example.com', port: 8080, protocol: HTTP, "
            "allowedRoutes: {namespaces: {from: All}}}\n  - name: default",
        )
        + DOC_ROUTE,
        HTTP,
        {"Accepted": ("True", "Accepted", "Route was valid, bound to 2 parents"), "ResolvedRefs": RESOLVED},
        route=True,
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_status(row: Row) -> None:
    status = statuses(gw_snapshot(row.config), NOW)[row.key]
    if row.route:
        assert parent_conditions(status) == row.expect
        return
    target = listener(status, row.listener) if row.listener else status
    assert conditions(target) == row.expect
    for k, v in row.extra.items():
        assert target.get(k) == v


def test_external_address_of_a_load_balancer_is_reported() -> None:
    # ResolveGatewayInstances: external addresses first; reportGatewayStatus: IPAddress type.
    def lb(svc: ServiceInfo) -> list[str]:
        return ["172.18.0.200"] if svc.name == "gateway-istio" else []

    status = statuses(gw_snapshot(HTTPBIN + DOC_GATEWAY + DOC_ROUTE), NOW, external_addresses=lb)[GATEWAY]
    assert status["addresses"] == [{"type": "IPAddress", "value": "172.18.0.200"}]
    assert conditions(status)["Programmed"] == (
        "True",
        "Programmed",
        f"Resource programmed, assigned to service(s) {SVC}:80",
    )


def test_gateway_classes_and_remote_gateways() -> None:
    # GetClassStatus; reportUnmanagedGatewayStatus (istio-remote: Istio will not program it).
    config = """
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: istio}
spec: {controllerName: istio.io/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: other}
spec: {controllerName: example.com/other}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: remote, namespace: default}
spec:
  gatewayClassName: istio-remote
  addresses: [{type: IPAddress, value: 203.0.113.7}]
  listeners: [{name: tls, port: 15443, protocol: TLS, tls: {mode: Passthrough}}]
"""
    st = statuses(gw_snapshot(config), NOW)
    assert conditions(st[ResourceKey("GatewayClass", "", "istio")]) == {
        "Accepted": ("True", "Accepted", "Handled by Istio controller")
    }
    assert ResourceKey("GatewayClass", "", "other") not in st
    remote = st[ResourceKey("Gateway.gateway.networking.k8s.io", "default", "remote")]
    assert conditions(remote) == {
        "Accepted": ("True", "Accepted", "Resource accepted"),
        "Programmed": ("True", "Programmed", "This Gateway is remote; Istio will not program it"),
    }
    assert remote["addresses"] == [{"type": "IPAddress", "value": "203.0.113.7"}]
    assert "listeners" not in remote


def test_conditions_replace_the_crd_default_and_keep_their_time() -> None:
    # kstatus.UpdateConditionIfChanged: the "Pending" default is replaced; an unchanged condition keeps
    # lastTransitionTime; a changed message with the same status keeps it too; a flip gets "now".
    pending = [{"type": "Accepted", "status": "Unknown", "reason": "Pending", "message": "Waiting for controller",
                "lastTransitionTime": "1970-01-01T00:00:00Z"}]  # fmt: skip
    from gatewaykit._translate.gatewayapi import Cond, ConfigError

    first = set_conditions(2, pending, {"Accepted": Cond("Accepted", "Resource accepted")}, "T1")
    assert first == [
        {"type": "Accepted", "status": "True", "observedGeneration": 2, "lastTransitionTime": "T1",
         "reason": "Accepted", "message": "Resource accepted"}
    ]  # fmt: skip
    assert set_conditions(2, first, {"Accepted": Cond("Accepted", "Resource accepted")}, "T2") == first
    reworded = set_conditions(3, first, {"Accepted": Cond("Accepted", "Still accepted")}, "T3")
    assert reworded[0]["lastTransitionTime"] == "T1" and reworded[0]["observedGeneration"] == 3
    failed = Cond("Accepted", "Resource accepted", error=ConfigError("UnsupportedAddress", "nope"))
    flipped = set_conditions(3, reworded, {"Accepted": failed}, "T4")
    assert (flipped[0]["status"], flipped[0]["reason"], flipped[0]["lastTransitionTime"]) == (
        "False",
        "UnsupportedAddress",
        "T4",
    )


def test_only_parents_istiod_knows_get_an_entry() -> None:
    # extractParentReferenceInfo: a parentRef to a Gateway that does not exist (or another
    # controller's) yields no status entry at all.
    st = statuses(gw_snapshot(HTTPBIN + DOC_ROUTE), NOW)
    assert HTTP not in st
