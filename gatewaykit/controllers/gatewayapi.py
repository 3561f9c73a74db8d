"""istiod's Gateway API controllers: the GatewayClasses, the gateway Deployments, and status.

Rule: no I/O here.
"""

from __future__ import annotations

from gatewaykit.controllers._common import timestamp
from gatewaykit.resources.meta import ResourceKey
from gatewaykit.store import Transaction

__all__ = ["gateway_api_objects", "gateway_api_statuses"]


_MANAGED = ("gateway.istio.io/managed", "istio.io-gateway-controller")


def gateway_api_objects(txn: Transaction) -> None:
    """istiod's Gateway API controllers that make objects, run before translation.

    The class controller keeps the ``istio``/``istio-remote`` GatewayClasses; the deployment
    controller applies a ServiceAccount, Deployment and Service ``<gateway>-istio`` for every
    Gateway of class ``istio`` (``pilot/pkg/config/kube/gateway/deploymentcontroller.go``), and
    removes the ones it manages that no Gateway wants any more.
    """
    from gatewaykit._translate.gatewayapi_deploy import deployment_objects, gatewayclass_objects  # noqa: PLC0415

    for obj in gatewayclass_objects():
        if txn.get(ResourceKey("GatewayClass", "", obj["metadata"]["name"])) is None:
            txn.put_system(obj)
    wanted: set[ResourceKey] = set()
    for obj in deployment_objects(txn.snapshot()):
        entry = txn.put_system(obj)
        wanted.add(entry.key)
    for kind in ("ServiceAccount", "Deployment", "Service"):
        for entry in txn.list(kind):
            labels = entry.raw["metadata"].get("labels") or {}
            if entry.system and labels.get(_MANAGED[0]) == _MANAGED[1] and entry.key not in wanted:
                txn.remove_system(entry.key)


def gateway_api_statuses(txn: Transaction, now: float) -> None:
    """istiod's status writes for GatewayClasses, Gateways and routes (``gatewayapi_status``)."""
    from gatewaykit._translate.gatewayapi_status import statuses  # noqa: PLC0415

    snap = txn.snapshot()
    if not any(
        snap.entries(k)
        for k in (
            "GatewayClass",
            "Gateway.gateway.networking.k8s.io",
            "HTTPRoute",
            "GRPCRoute",
            "TLSRoute",
            "TCPRoute",
        )
    ):
        return
    for key, status in statuses(snap, timestamp(now)).items():
        txn.set_status(key, status)
