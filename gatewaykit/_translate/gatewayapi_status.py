"""The status istiod writes on Gateway API objects, as a pure function of a snapshot and a clock.

Rule: no I/O here. A port of Istio 1.27 ``pilot/pkg/config/kube/gateway``: ``conditions.go``
(``setConditions``, ``createRouteStatus``, ``reportListenerCondition``), ``conversion.go``
(``reportGatewayStatus``, ``setProgrammedCondition``, ``reportUnmanagedGatewayStatus``),
``context.go`` (``ResolveGatewayInstances``), ``gateway_collection.go``
(``FinalGatewayStatusCollection``: ``attachedRoutes``) and ``gatewayclass.go`` (``GetClassStatus``),
with ``pilot/pkg/model/kstatus`` (``UpdateConditionIfChanged``: an unchanged condition keeps its
``lastTransitionTime``).

:func:`statuses` returns ``{ResourceKey: status dict}`` for every GatewayClass, Gateway and route
istiod would write, e.g. a Gateway's::

    {"addresses": [{"type": "Hostname", "value": "gateway-istio.istio-ingress.svc.cluster.local"}],
     "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted",
                     "message": "Resource accepted", ...},
                    {"type": "Programmed", "status": "True", "reason": "Programmed",
                     "message": "Resource programmed, assigned to service(s) gateway-istio...:80", ...}],
     "listeners": [{"name": "default", "attachedRoutes": 1, "supportedKinds": [...], "conditions": [...]}]}
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gatewaykit._gofmt import format_list, quote
from gatewaykit._translate.gatewayapi import (
    MANAGED_CONTROLLER,
    Cond,
    ConfigError,
    Conversion,
    GatewayReport,
    ListenerReport,
    convert,
)
from gatewaykit._translate.gatewayapi_routes import ParentError, RouteReport, parent_ref_string
from gatewaykit._translate.mesh import ServiceInfo, build_pods, build_services
from gatewaykit.resources import gatewayapi as K
from gatewaykit.resources.meta import ResourceKey

__all__ = ["human_readable_join", "resolve_gateway_instances", "set_conditions", "statuses"]

ADDRESS_TYPE_OVERRIDE = "networking.istio.io/address-type"  # conversion.go addressTypeOverride
MANAGED_LABEL = "gateway.istio.io/managed"


def _plain(value: Any) -> Any:
    """FrozenMap/tuple status data from a model back to plain dicts/lists."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def set_conditions(
    generation: int | None, existing: Sequence[Any], conds: Mapping[str, Cond], now: str
) -> list[dict[str, Any]]:
    """``setConditions`` + ``kstatus.UpdateConditionIfChanged`` (keys in sorted order).

    A condition whose status, message and observedGeneration are unchanged is kept as it was; one
    whose status is unchanged keeps its ``lastTransitionTime``.
    """
    out = [_plain(c) for c in existing if isinstance(c, Mapping)]
    for ctype in sorted(conds):
        c = conds[ctype]
        status = c.status
        reason, message = c.reason, c.message
        if c.error is not None:
            status = "False" if status == "True" else "True"  # kstatus.InvertStatus
            reason, message = c.error.reason, c.error.message
        new: dict[str, Any] = {"type": ctype, "status": status}
        if generation:
            new["observedGeneration"] = generation
        new.update({"lastTransitionTime": now, "reason": reason, "message": message})
        idx = next((i for i, o in enumerate(out) if o.get("type") == ctype), None)
        if idx is None:
            out.append(new)
            continue
        old = out[idx]
        if old.get("status") == status:
            if old.get("message") == message and old.get("observedGeneration") == new.get(
                "observedGeneration"
            ):
                continue  # "Skip update, no changes"
            new["lastTransitionTime"] = old.get("lastTransitionTime", now)
        out[idx] = new
    return out


def human_readable_join(items: Sequence[str]) -> str:
    """``humanReadableJoin``: ``a``, ``a and b``, ``a, b, and c``."""
    if len(items) <= 1:
        return "".join(items)
    if len(items) == 2:
        return f"{items[0]} and {items[1]}"
    return ", ".join(items[:-1]) + ", and " + items[-1]


# ------------------------------------------------------------------ ResolveGatewayInstances


def resolve_gateway_instances(
    registry: Mapping[tuple[str, str], ServiceInfo],
    namespace: str,
    services: Sequence[str],
    ports: Sequence[int],
    external: Callable[[ServiceInfo], Sequence[str]],
) -> tuple[list[str], list[str], list[str], list[str], list[str], bool]:
    """``ResolveGatewayInstances``: (internal, internal IPs, external, pending, warnings, all usable)."""
    internal: set[str] = set()
    internal_ip: set[str] = set()
    found_external: set[str] = set()
    pending: set[str] = set()
    warnings: list[str] = []
    unusable = False
    for g in services:
        svc = registry.get((g, namespace))
        if svc is None:
            others = sorted(f'"{ns}"' for host, ns in registry if host == g)
            if others:
                warnings.append(
                    f'hostname "{g}" not found in namespace "{namespace}", but it was found in namespace(s) '
                    + ", ".join(others)
                )
            else:
                warnings.append(f'hostname "{g}" not found')
            unusable = True
            continue
        origin = svc.origin
        for port in dict.fromkeys(ports):
            if svc.endpoints.get(port):
                internal.add(f"{g}:{port}")
                internal_ip.update(svc.addresses)
                ext = external(svc)
                if ext:
                    found_external.update(ext)
                elif (
                    getattr(getattr(origin, "spec", None), "type", "") == "LoadBalancer" and g not in pending
                ):
                    warnings.append(f'address pending for hostname "{g}"')
                    pending.add(g)
                continue
            warning, bad = _port_warning(svc, g, port)
            if warning:
                warnings.append(warning)
            unusable = unusable or bad
    warnings.sort()
    return (
        sorted(internal),
        sorted(internal_ip),
        sorted(found_external),
        sorted(pending),
        warnings,
        not unusable,
    )


def _port_warning(svc: ServiceInfo, g: str, port: int) -> tuple[str | None, bool]:
    """Why a gateway Service has no instances on ``port`` (the else branch of ResolveGatewayInstances)."""
    if not any(svc.endpoints.values()):
        return f"no instances found for hostname {quote(g)}", False
    hint = sorted({str(p) for p, eps in svc.endpoints.items() for e in eps if e.port == port}, key=int)
    if hint:
        return (
            f"port {port} not found for hostname {quote(g)} (hint: the service port should be specified, "
            f"not the workload port. Did you mean one of these ports: {format_list(hint)}?)",
            True,
        )
    managed = svc.origin is not None and MANAGED_LABEL in svc.origin.metadata.labels
    # "If this is a managed gateway, the only possible explanation for no instances for the port
    # is a delay in endpoint sync."
    if not managed or svc.port(port) is None:
        return f'port {port} not found for hostname "{g}"', True
    return None, False


# -------------------------------------------------------------------------------- Gateway


def _address(value: str) -> dict[str, str]:
    try:
        ipaddress.ip_address(value)
        kind = "IPAddress"
    except ValueError:
        kind = "Hostname"
    return {"type": kind, "value": value}


def _programmed(
    conds: dict[str, Cond], services: Sequence[str], internal: list[str], warnings: list[str], usable: bool
) -> None:
    """``setProgrammedCondition``."""
    if internal:
        conds[
            "Programmed"
        ].message = f"Resource programmed, assigned to service(s) {human_readable_join(internal)}"
    if not services:
        conds["Programmed"].error = ConfigError(
            "UnsupportedAddress", "Failed to assign to any requested addresses"
        )
    elif warnings:
        detail = "; ".join(warnings)
        if internal:
            msg = (
                f"Assigned to service(s) {human_readable_join(internal)}, but failed to assign to all "
                f"requested addresses: {detail}"
            )
        else:
            msg = f"Failed to assign to any requested addresses: {detail}"
        conds["Programmed"].error = ConfigError("AddressNotAssigned" if usable else "AddressNotUsable", msg)


def _listener_status(
    gw: K.Gateway,
    reports: Sequence[ListenerReport],
    existing: Sequence[Any],
    attached: Mapping[str, int],
    now: str,
) -> list[dict[str, Any]]:
    """``reportListenerCondition`` per listener, pruned to the spec's names, with ``attachedRoutes``."""
    old = [_plain(entry) for entry in existing if isinstance(entry, Mapping)]
    out: list[dict[str, Any]] = []
    for i, r in enumerate(reports):
        previous = old[i].get("conditions", []) if i < len(old) else []
        out.append(
            {
                "name": r.name,
                "attachedRoutes": attached.get(r.name, 0),
                "supportedKinds": [{"group": g, "kind": k} for g, k in r.supported_kinds],
                "conditions": set_conditions(gw.metadata.generation, previous, r.conditions, now),
            }
        )
    names = {listener.name for listener in gw.spec.listeners}
    return [entry for entry in out if entry["name"] in names]


def report_gateway_status(
    report: GatewayReport,
    registry: Mapping[tuple[str, str], ServiceInfo],
    attached: Mapping[str, int],
    external: Callable[[ServiceInfo], Sequence[str]],
    now: str,
) -> dict[str, Any]:
    """``reportGatewayStatus`` (+ ``FinalGatewayStatusCollection``) or ``reportUnmanagedGatewayStatus``."""
    gw = report.gateway
    status = _plain(gw.status) if isinstance(gw.status, Mapping) else {}
    if report.unmanaged:
        conds = {
            "Accepted": Cond("Accepted", "Resource accepted"),
            # "Set to true anyway since this is basically declaring it as valid"
            "Programmed": Cond("Programmed", "This Gateway is remote; Istio will not program it"),
        }
        return {
            "addresses": [{"type": a.type, "value": a.value} for a in gw.spec.addresses],
            "conditions": set_conditions(gw.metadata.generation, status.get("conditions", []), conds, now),
        }
    internal, internal_ip, found_external, pending, warnings, usable = resolve_gateway_instances(
        registry, gw.metadata.namespace, report.services, report.server_ports, external
    )
    conds = {
        "Accepted": Cond("Accepted", "Resource accepted"),
        "Programmed": Cond("Programmed", "Resource programmed"),
    }
    conds["Accepted"].error = report.error
    _programmed(conds, report.services, internal, warnings, usable)
    addresses = list(found_external)
    if not addresses:
        want = gw.metadata.annotations.get(ADDRESS_TYPE_OVERRIDE, report.class_info.address_type)
        if want != "Hostname":
            addresses = list(internal_ip)
        if want != "IPAddress":
            for hostport in internal:
                host = hostport.rsplit(":", 1)[0]
                if host not in pending and host not in addresses:
                    addresses.append(host)
    out: dict[str, Any] = {}
    # "Do not report an address until we are ready. But once we are ready, never remove the address."
    if addresses:
        out["addresses"] = [_address(a) for a in addresses]
    elif status.get("addresses"):
        out["addresses"] = status["addresses"]
    out["conditions"] = set_conditions(gw.metadata.generation, status.get("conditions", []), conds, now)
    listeners = _listener_status(gw, report.listeners, status.get("listeners", []), attached, now)
    if listeners:
        out["listeners"] = listeners
    return out


# --------------------------------------------------------------------------------- routes


_RANK = {
    None: 0,
    "NotAllowedByListeners": 1,
    "NoMatchingListenerHostname": 2,
    "ParentRefConflict": 3,
    "NoMatchingParent": 4,
}


def _parent_ref(ref: K.ParentReference) -> dict[str, Any]:
    out: dict[str, Any] = {"group": ref.group, "kind": ref.kind, "name": ref.name}
    if ref.namespace:
        out["namespace"] = ref.namespace
    if ref.sectionName:
        out["sectionName"] = ref.sectionName
    if ref.port:
        out["port"] = ref.port
    return out


def create_route_status(report: RouteReport, now: str) -> dict[str, Any]:
    """``createRouteStatus``: one ``status.parents[]`` entry per parentRef (ours), worst error first."""
    route = report.route
    ns = route.metadata.namespace
    seen: dict[K.ParentReference, list[tuple[ParentError | None, ConfigError | None]]] = {}
    success: dict[K.ParentReference, int] = {}
    for ref, denied, error in report.results:
        if denied is None:
            success[ref] = success.get(ref, 0) + 1
        seen.setdefault(ref, []).append((denied, error))
    current = (
        [_plain(p) for p in (route.status or {}).get("parents", ()) if isinstance(p, Mapping)]
        if isinstance(route.status, Mapping)
        else []
    )
    ours = {
        parent_ref_string(_ref_of(p.get("parentRef", {})), ns): i
        for i, p in enumerate(current)
        if p.get("controllerName") == MANAGED_CONTROLLER
    }
    to_append: list[dict[str, Any]] = []
    for ref, results in seen.items():
        denied, error = _collapse(results)
        count = success.get(ref, 0)
        conds = {
            "Accepted": Cond(
                "Accepted", f"Route was valid, bound to {count} parents" if count > 1 else "Route was valid"
            ),
            "ResolvedRefs": Cond("ResolvedRefs", "All references resolved"),
        }
        # "For now, we will treat all general route errors as "Ref" errors."
        conds["ResolvedRefs"].error = error
        if denied is not None:
            conds["Accepted"].error = ConfigError(denied.reason, denied.message)
        key = parent_ref_string(ref, ns)
        previous = current[ours[key]].get("conditions", []) if key in ours else []
        entry = {
            "parentRef": _parent_ref(ref),
            "controllerName": MANAGED_CONTROLLER,
            "conditions": set_conditions(route.metadata.generation, previous, conds, now),
        }
        if key in ours:
            current[ours.pop(key)] = entry
        else:
            to_append.append(entry)
    to_append.sort(key=lambda e: parent_ref_string(_ref_of(e["parentRef"]), ns), reverse=True)
    stale = set(ours.values())
    parents = [p for i, p in enumerate(current) if i not in stale] + to_append
    return {"parents": parents}


def _collapse(
    results: list[tuple[ParentError | None, ConfigError | None]],
) -> tuple[ParentError | None, ConfigError | None]:
    """Report one error per parentRef: the least severe rank wins; equal ranks join their messages."""
    denied, error = results[0]
    rank = _RANK.get(denied.reason if denied else None, 0)
    for d, _ in results[1:]:
        r = _RANK.get(d.reason if d else None, 0)
        if r < rank:
            rank, denied = r, d
        elif r == rank and d is not None:
            denied = d if denied is None else ParentError(denied.reason, f"{denied.message}; {d.message}")
    return denied, error


def _ref_of(raw: Mapping[str, Any]) -> K.ParentReference:
    return K.ParentReference(
        group=str(raw.get("group", "gateway.networking.k8s.io")),
        kind=str(raw.get("kind", "Gateway")),
        namespace=str(raw.get("namespace", "")),
        name=str(raw.get("name", "")),
        sectionName=str(raw.get("sectionName", "")),
        port=raw.get("port") if isinstance(raw.get("port"), int) else None,
    )


# ---------------------------------------------------------------------------------- entry


def _load_balancer_ingress(snapshot: Any) -> Callable[[ServiceInfo], Sequence[str]]:
    """External addresses of a LoadBalancer Service: ``status.loadBalancer.ingress[].ip|hostname``."""
    raw_of = getattr(snapshot, "raw", None)

    def lookup(svc: ServiceInfo) -> Sequence[str]:
        origin = svc.origin
        if origin is None or raw_of is None:
            return ()
        try:
            raw = raw_of(origin.key)
        except KeyError:
            return ()
        ingress = ((raw.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        found = [i.get("ip") or i.get("hostname") for i in ingress if isinstance(i, dict)]
        return [str(a) for a in found if a]

    return lookup


def statuses(
    snapshot: Any,
    now: str,
    *,
    alpha_gateway_api: bool | None = None,
    external_addresses: Callable[[ServiceInfo], Sequence[str]] | None = None,
    conversion: Conversion | None = None,
) -> dict[ResourceKey, dict[str, Any]]:
    """The ``status`` istiod writes on every Gateway API object it owns.

    Args:
        snapshot: the config store snapshot (models with their current ``status``).
        now: the ``lastTransitionTime`` for conditions that change (RFC 3339, from the caller's clock).
        alpha_gateway_api: ``PILOT_ENABLE_ALPHA_GATEWAY_API``; default: from istiod's environment in
            the snapshot.
        external_addresses: a LoadBalancer Service's external addresses; default: its stored
            ``status.loadBalancer.ingress``.
        conversion: a :func:`gatewaykit._translate.gatewayapi.convert` result to reuse.

    Returns:
        ``{key: status}`` for GatewayClasses of Istio's controllers, Gateways of their classes and
        routes with at least one parentRef istiod knows (store keys: the Gateway API's Gateway is
        ``Gateway.gateway.networking.k8s.io``).
    """
    from gatewaykit._translate import mesh_settings  # noqa: PLC0415 - the package imports this module's siblings

    alpha = mesh_settings(snapshot).alpha_gateway_api if alpha_gateway_api is None else alpha_gateway_api
    conv = conversion if conversion is not None else convert(snapshot, alpha)
    out: dict[ResourceKey, dict[str, Any]] = {}
    for cls in snapshot.list("GatewayClass"):
        if isinstance(cls, K.GatewayClass) and cls.metadata.name in conv.class_reports:
            existing = _plain(cls.status).get("conditions", []) if isinstance(cls.status, Mapping) else []
            cond = {"Accepted": Cond("Accepted", "Handled by Istio controller")}
            out[cls.key] = {"conditions": set_conditions(cls.metadata.generation, existing, cond, now)}
    registry = _registry(snapshot) if conv.gateway_reports else {}
    lookup = external_addresses or _load_balancer_ingress(snapshot)
    for key, report in conv.gateway_reports.items():
        attached = conv.attached.get((key.namespace, key.name), {})
        out[key] = report_gateway_status(report, registry, attached, lookup, now)
    for key, route_report in conv.route_reports.items():
        if route_report.results:
            out[key] = create_route_status(route_report, now)
    return out


def _registry(snapshot: Any) -> dict[tuple[str, str], ServiceInfo]:
    """``ServiceIndex.HostnameAndNamespace``: registry services by (hostname, namespace)."""
    from gatewaykit.resources.models import Deployment, Namespace, Service, ServiceEntry  # noqa: PLC0415

    def lst(kind: str, cls: type) -> list[Any]:
        return [o for o in snapshot.list(kind) if isinstance(o, cls)]

    namespaces = {n.metadata.name: n for n in lst("Namespace", Namespace)}
    pods = build_pods(lst("Deployment", Deployment), namespaces)
    services = build_services(lst("Service", Service), lst("ServiceEntry", ServiceEntry), pods)
    return {(s.hostname, s.namespace): s for s in services.values()}
