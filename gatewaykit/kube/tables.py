# One module: a port of printers.go's table of built-in printers (one per kind) and the Table they fill.
"""Server-side tables: the ``meta.k8s.io/v1`` Table kube-apiserver returns to ``kubectl get``.

``kubectl get`` sends ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io,...`` and prints the
columns the server chose, so the columns, their order and every cell are server behaviour. This
module ports it:

* built-in kinds: one printer per kind, each citing the Go function it ports from
  ``pkg/printers/internalversion/printers.go`` (kubernetes/kubernetes, read at v1.34.1). The server
  always generates the wide table (``pkg/printers/storage/storage.go`` passes ``Wide: true``);
  kubectl hides ``priority`` > 0 columns itself unless ``-o wide``.
* CustomResourceDefinition objects: ``rest.NewDefaultTableConvertor`` (``NAME``, ``CREATED AT``).
* custom resources: the apiextensions tableconvertor
  (``apiextensions-apiserver/pkg/registry/customresource/tableconvertor/tableconvertor.go``):
  a ``Name`` column, then one column per ``additionalPrinterColumns`` entry evaluated with a
  JSONPath (:mod:`gatewaykit.kube.jsonpath`), ``date`` columns rendered as an age, and a lone
  ``Age`` column when the CRD version declares none (``serveDefaultColumnsIfEmpty``).
  :data:`PRINTER_COLUMNS` holds those declarations for Istio 1.27.1's networking CRDs and the
  Gateway API v1.3.0 CRDs Istio 1.27 uses.

Ages are ``duration.HumanDuration`` (``apimachinery/pkg/util/duration``), the function both
``translateTimestampSince`` and ``ConvertToHumanReadableDateType`` call.

Objects are the v1 JSON (dicts) the API server stores. Where the internal Go type that the printers
read differs from the stored JSON, the v1 -> internal conversion or defaulting is applied here and
said so beside the code (``podIP`` -> ``podIPs``, ``spec.type`` defaulting to ``ClusterIP``...).

Column ``description`` texts: kube-apiserver fills them with the API field documentation; here they
are short descriptions of our own (kubectl never prints them). Names, types, formats, priorities
and cells are the real ones.

Rule: no I/O here, and no clock reads -- ``now`` (epoch seconds) is always a parameter.
"""

from __future__ import annotations

import copy
import datetime
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from gatewaykit.errors import SandboxError, ValidationError
from gatewaykit.kube import jsonpath

__all__ = ["PRINTER_COLUMNS", "format_rfc3339", "human_duration", "table"]

Obj = Mapping[str, Any]


# --------------------------------------------------------------------------------------------
# Time: RFC 3339 timestamps and duration.HumanDuration
# --------------------------------------------------------------------------------------------

_RFC3339 = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})")


def format_rfc3339(epoch: float) -> str:
    """``epoch`` as metav1.Time serialises it: ``t.UTC().Format(time.RFC3339)``, whole seconds, ``Z``."""
    moment = datetime.datetime.fromtimestamp(math.floor(epoch), tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_rfc3339(text: str) -> float:
    """Epoch seconds of an RFC 3339 time as Go's ``time.Parse(time.RFC3339, ...)`` accepts it.

    Go also accepts fractional seconds under that layout (metav1.MicroTime uses them).

    Raises:
        ValueError: ``text`` is not an RFC 3339 time.
    """
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    zone = match.group(8)
    offset = 0 if zone == "Z" else (int(zone[1:3]) * 60 + int(zone[4:6])) * (-1 if zone[0] == "-" else 1)
    tz = datetime.timezone(datetime.timedelta(minutes=offset))
    moment = datetime.datetime(year, month, day, hour, minute, second, tzinfo=tz)
    return moment.timestamp() + float(match.group(7) or 0)


def human_duration(seconds: float) -> str:
    """Port of ``duration.HumanDuration``: ``45s``, ``5m30s``, ``3h10m``, ``2d3h``, ``1y30d``.

    About 2-3 significant figures; anything more than one second in the future is ``<invalid>``.
    """
    nanos = int(round(seconds * 1_000_000_000))  # Go's time.Duration: whole nanoseconds
    whole = int(nanos / 1_000_000_000)  # int(d.Seconds()) truncates toward zero
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"  # up to 2s of clock skew counts as "now"
    if whole < 60 * 2:
        return f"{whole}s"
    minutes = nanos // 60_000_000_000
    if minutes < 10:
        rest = nanos // 1_000_000_000 % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = nanos // 3_600_000_000_000
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = hours // 24 % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def _since(timestamp: Any, now: float) -> str:
    """``translateTimestampSince``: ``<unknown>`` for a zero (absent) time, else the age."""
    if not timestamp or not isinstance(timestamp, str):
        return "<unknown>"
    try:
        return human_duration(now - _parse_rfc3339(timestamp))
    except ValueError:
        return "<invalid>"  # a real server cannot hold one; say so rather than guess an age


def _epoch_or_none(timestamp: Any) -> float | None:
    """Epoch seconds of a timestamp field, None for Go's zero time (absent or unparsable)."""
    if not isinstance(timestamp, str) or not timestamp:
        return None
    try:
        return _parse_rfc3339(timestamp)
    except ValueError:
        return None


# --------------------------------------------------------------------------------------------
# Small accessors (the stored JSON may omit any field, as Go's zero values do)
# --------------------------------------------------------------------------------------------


def _map(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a mapping, else an empty one (a nil struct pointer in Go)."""
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    """``value`` if it is a list, else an empty list (a nil slice in Go)."""
    return value if isinstance(value, list) else []


def _int(value: Any, default: int = 0) -> int:
    """``value`` as an int, ``default`` when absent (a nil pointer or zero value in Go)."""
    return default if value is None else int(value)


def _meta(obj: Obj) -> Mapping[str, Any]:
    return _map(obj.get("metadata"))


def _name(obj: Obj) -> str:
    return str(_meta(obj).get("name", ""))


def _age(obj: Obj, now: float) -> str:
    return _since(_meta(obj).get("creationTimestamp"), now)


def _join_containers(containers: list[Any]) -> tuple[str, str]:
    """``layoutContainerCells``: container names and images, comma-joined in spec order."""
    items = [_map(c) for c in containers]
    return ",".join(str(c.get("name", "")) for c in items), ",".join(str(c.get("image", "")) for c in items)


# --------------------------------------------------------------------------------------------
# Label selectors as labels.Selector.String() and labels.FormatLabels print them
# --------------------------------------------------------------------------------------------

# metav1.LabelSelectorOperator -> how labels.Requirement.String() writes it (key, values).
_SELECTOR_OPERATORS: dict[str, Callable[[str, list[str]], str]] = {
    "In": lambda key, values: f"{key} in ({','.join(sorted(values))})",
    "NotIn": lambda key, values: f"{key} notin ({','.join(sorted(values))})",
    "Exists": lambda key, values: key,
    "DoesNotExist": lambda key, values: f"!{key}",
}


def _selector_string(selector: Any) -> str | None:
    """``metav1.LabelSelectorAsSelector(s).String()``; None where Go returns an error.

    A nil selector is ``labels.Nothing()`` and an empty one ``labels.Everything()``: both print "".
    Requirements are sorted by key (``internalSelector.Add``). Label syntax is not re-validated:
    the API server rejected bad keys and values before storing the object.
    """
    if not isinstance(selector, Mapping):
        return ""
    parts = [(str(k), f"{k}={v}") for k, v in _map(selector.get("matchLabels")).items()]
    for expr in _list(selector.get("matchExpressions")):
        expr = _map(expr)
        op, values = str(expr.get("operator", "")), [str(v) for v in _list(expr.get("values"))]
        needs_values = op in ("In", "NotIn")
        if op not in _SELECTOR_OPERATORS or needs_values != bool(values):
            return None  # NewRequirement: In/NotIn need values, Exists/DoesNotExist take none
        key = str(expr.get("key", ""))
        parts.append((key, _SELECTOR_OPERATORS[op](key, values)))
    return ",".join(text for _, text in sorted(parts, key=lambda part: part[0]))


def _format_labels(labels: Any) -> str:
    """``labels.FormatLabels``: ``k=v`` sorted by key, comma-joined; ``<none>`` when empty."""
    text = ",".join(f"{k}={v}" for k, v in sorted(_map(labels).items()))
    return text or "<none>"


# --------------------------------------------------------------------------------------------
# Column definitions
# --------------------------------------------------------------------------------------------


def _col(name: str, description: str, type_: str = "string", *, fmt: str = "", priority: int = 0) -> dict:
    """One ``metav1.TableColumnDefinition`` as JSON."""
    return {"name": name, "type": type_, "format": fmt, "description": description, "priority": priority}


_NAME = _col("Name", "Name of the object, unique within its namespace (metadata.name).", fmt="name")
_AGE = _col("Age", "Time since the object was created (metadata.creationTimestamp).")
_CONTAINERS = _col("Containers", "Names of the containers in the pod template.", priority=1)
_IMAGES = _col("Images", "Images of the containers in the pod template.", priority=1)


# --------------------------------------------------------------------------------------------
# Built-in printers (pkg/printers/internalversion/printers.go)
# --------------------------------------------------------------------------------------------


def _restartable_init(container: Any) -> bool:
    """``podutil.IsRestartableInitContainer``: a sidecar (``restartPolicy: Always``) init container."""
    return _map(container).get("restartPolicy") == "Always"


def _later(current: float | None, candidate: float | None) -> float | None:
    """``if current.Before(&candidate) { current = candidate }`` with None as Go's zero time."""
    if candidate is not None and (current is None or current < candidate):
        return candidate
    return current


def _terminated_reason(terminated: Mapping[str, Any], prefix: str) -> str:
    """The reason of a terminated container: its reason, else ``Signal:N``, else ``ExitCode:N``."""
    if terminated.get("reason"):
        return prefix + str(terminated["reason"])
    if terminated.get("signal"):
        return f"{prefix}Signal:{terminated['signal']}"
    return f"{prefix}ExitCode:{terminated.get('exitCode', 0)}"


def _condition_true(conditions: list[Any], type_: str) -> bool:
    """The first condition of ``type_`` has status True (``isPodInitializedConditionTrue``...)."""
    for cond in conditions:
        if _map(cond).get("type") == type_:
            return _map(cond).get("status") == "True"
    return False


@dataclass(slots=True)
class _PodCount:
    """The running totals ``printPod`` keeps while it walks the container statuses."""

    reason: str
    total: int
    ready: int = 0
    restarts: int = 0
    last_restart: float | None = None
    sidecar_restarts: int = 0
    last_sidecar_restart: float | None = None
    initializing: bool = False


def _count_init_containers(pod: Obj, count: _PodCount) -> None:
    """The init-container half of ``printPod``: ``Init:1/2``, ``Init:CrashLoopBackOff``, sidecars."""
    init_containers = _list(_map(pod.get("spec")).get("initContainers"))
    specs = {_map(c).get("name"): c for c in init_containers}
    statuses = _list(_map(pod.get("status")).get("initContainerStatuses"))
    for index, status in enumerate(map(_map, statuses)):
        finished = _epoch_or_none(_map(_map(status.get("lastState")).get("terminated")).get("finishedAt"))
        count.restarts += _int(status.get("restartCount"))
        count.last_restart = _later(count.last_restart, finished)
        sidecar = _restartable_init(specs.get(status.get("name")))
        if sidecar:
            count.sidecar_restarts += _int(status.get("restartCount"))
            count.last_sidecar_restart = _later(count.last_sidecar_restart, finished)
        state = _map(status.get("state"))
        terminated, waiting = state.get("terminated"), _map(state.get("waiting"))
        if terminated is not None and _int(_map(terminated).get("exitCode")) == 0:
            continue
        if sidecar and status.get("started"):
            count.ready += 1 if status.get("ready") else 0
            continue
        if terminated is not None:
            count.reason = _terminated_reason(_map(terminated), "Init:")
        elif waiting.get("reason") and waiting["reason"] != "PodInitializing":
            count.reason = f"Init:{waiting['reason']}"
        else:
            count.reason = f"Init:{index}/{len(init_containers)}"
        count.initializing = True
        break


def _count_containers(pod: Obj, count: _PodCount) -> None:
    """The app-container half of ``printPod`` (walked last to first, so the first one's reason wins)."""
    status = _map(pod.get("status"))
    count.restarts, count.last_restart = count.sidecar_restarts, count.last_sidecar_restart
    has_running = False
    for container in map(_map, reversed(_list(status.get("containerStatuses")))):
        count.restarts += _int(container.get("restartCount"))
        finished = _map(_map(container.get("lastState")).get("terminated")).get("finishedAt")
        count.last_restart = _later(count.last_restart, _epoch_or_none(finished))
        state = _map(container.get("state"))
        waiting, terminated = _map(state.get("waiting")), state.get("terminated")
        if waiting.get("reason"):
            count.reason = str(waiting["reason"])
        elif terminated is not None:
            count.reason = _terminated_reason(_map(terminated), "")
        elif container.get("ready") and state.get("running") is not None:
            has_running = True
            count.ready += 1
    # A pod whose last container completed but another still runs is not "Completed".
    if count.reason == "Completed" and has_running:
        ready = _condition_true(_list(status.get("conditions")), "Ready")
        count.reason = "Running" if ready else "NotReady"


def _pod_readiness_gates(pod: Obj) -> str:
    """The READINESS GATES cell: true gate conditions / gates, or ``<none>``."""
    gates = _list(_map(pod.get("spec")).get("readinessGates"))
    if not gates:
        return "<none>"
    conditions = _list(_map(pod.get("status")).get("conditions"))
    true = sum(_condition_true(conditions, _map(g).get("conditionType", "")) for g in gates)
    return f"{true}/{len(gates)}"


def _print_pod(pod: Obj, now: float) -> list[Any]:
    """Port of ``printPod``: NAME READY STATUS RESTARTS AGE; wide IP NODE NOMINATED NODE READINESS GATES."""
    spec, status, meta = _map(pod.get("spec")), _map(pod.get("status")), _meta(pod)
    phase = str(status.get("phase", ""))
    sidecars = sum(map(_restartable_init, _list(spec.get("initContainers"))))
    total = len(_list(spec.get("containers"))) + sidecars
    count = _PodCount(str(status.get("reason") or phase), total)
    for cond in map(_map, _list(status.get("conditions"))):
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            count.reason = "SchedulingGated"
    _count_init_containers(pod, count)
    if not count.initializing or _condition_true(_list(status.get("conditions")), "Initialized"):
        _count_containers(pod, count)
    if meta.get("deletionTimestamp") and status.get("reason") == "NodeLost":
        count.reason = "Unknown"  # node.NodeUnreachablePodReason
    elif meta.get("deletionTimestamp") and phase not in ("Failed", "Succeeded"):
        count.reason = "Terminating"
    restarts = str(count.restarts)
    if count.restarts and count.last_restart is not None:
        restarts = f"{count.restarts} ({human_duration(now - count.last_restart)} ago)"
    # v1 -> internal conversion fills podIPs from a lone podIP.
    pod_ips = _list(status.get("podIPs")) or ([{"ip": status["podIP"]}] if status.get("podIP") else [])
    pod_ip = str(_map(pod_ips[0]).get("ip", "")) if pod_ips else ""
    return [
        _name(pod),
        f"{count.ready}/{count.total}",
        count.reason,
        restarts,
        _age(pod, now),
        pod_ip or "<none>",
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        _pod_readiness_gates(pod),
    ]


# podSuccessConditions / podFailedConditions: a finished pod's row is marked Completed.
_POD_ROW_CONDITIONS = {
    "Succeeded": {"reason": "Succeeded", "message": "The pod has completed successfully."},
    "Failed": {"reason": "Failed", "message": "The pod failed."},
}


def _pod_conditions(pod: Obj) -> list[dict] | None:
    """The row conditions of a Succeeded or Failed pod (``TableRowCondition`` Completed=True)."""
    condition = _POD_ROW_CONDITIONS.get(str(_map(pod.get("status")).get("phase")))
    return None if condition is None else [{"type": "Completed", "status": "True", **condition}]


def _load_balancer_ips(service: Obj) -> list[str]:
    """``loadBalancerStatusStringer``: the ingress IPs (else hostnames), sorted and de-duplicated.

    The ``...`` truncation to 16 characters applies only to non-wide output, and the server always
    builds the wide table, so it never happens server-side.
    """
    ingress = _list(_map(_map(service.get("status")).get("loadBalancer")).get("ingress"))
    found = {i.get("ip") or i.get("hostname") for i in map(_map, ingress)}
    return sorted(str(address) for address in found if address)


def _service_external_ip(service: Obj, svc_type: str) -> str:
    """``getServiceExternalIP``: externalIPs, the load balancer's ingress, ``<pending>``, ``<none>``."""
    spec = _map(service.get("spec"))
    external = [str(ip) for ip in _list(spec.get("externalIPs"))]
    if svc_type in ("ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if svc_type == "LoadBalancer":
        return ",".join(_load_balancer_ips(service) + external) or "<pending>"
    if svc_type == "ExternalName":
        return str(spec.get("externalName", ""))
    return "<unknown>"


def _service_ports(ports: list[Any]) -> str:
    """``makePortString``: ``80/TCP`` or ``80:30080/TCP`` (with a nodePort), comma-joined."""
    pieces = []
    for port in map(_map, ports):
        protocol = port.get("protocol") or "TCP"  # SetDefaults_ServicePort
        node_port = _int(port.get("nodePort"))
        middle = f":{node_port}" if node_port > 0 else ""
        pieces.append(f"{port.get('port', 0)}{middle}/{protocol}")
    return ",".join(pieces)


def _print_service(service: Obj, now: float) -> list[Any]:
    """Port of ``printService``: NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE; wide SELECTOR."""
    spec = _map(service.get("spec"))
    svc_type = str(spec.get("type") or "ClusterIP")  # SetDefaults_Service
    # The registry stores clusterIPs alongside clusterIP; fall back for objects written without it.
    cluster_ips = _list(spec.get("clusterIPs")) or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    return [
        _name(service),
        svc_type,
        str(cluster_ips[0]) if cluster_ips else "<none>",
        _service_external_ip(service, svc_type),
        _service_ports(_list(spec.get("ports"))) or "<none>",
        _age(service, now),
        _format_labels(spec.get("selector")),
    ]


def _print_deployment(deployment: Obj, now: float) -> list[Any]:
    """Port of ``printDeployment``: NAME READY UP-TO-DATE AVAILABLE AGE; wide CONTAINERS IMAGES SELECTOR."""
    spec, status = _map(deployment.get("spec")), _map(deployment.get("status"))
    desired = _int(spec.get("replicas"), 1)  # SetDefaults_Deployment
    selector = _selector_string(spec.get("selector"))
    names, images = _join_containers(_list(_map(_map(spec.get("template")).get("spec")).get("containers")))
    return [
        _name(deployment),
        f"{_int(status.get('readyReplicas'))}/{desired}",
        _int(status.get("updatedReplicas")),
        _int(status.get("availableReplicas")),
        _age(deployment, now),
        names,
        images,
        "<invalid>" if selector is None else selector,
    ]


def _print_replica_set(replica_set: Obj, now: float) -> list[Any]:
    """Port of ``printReplicaSet``: NAME DESIRED CURRENT READY AGE; wide CONTAINERS IMAGES SELECTOR."""
    spec, status = _map(replica_set.get("spec")), _map(replica_set.get("status"))
    selector = _selector_string(spec.get("selector"))  # metav1.FormatLabelSelector
    names, images = _join_containers(_list(_map(_map(spec.get("template")).get("spec")).get("containers")))
    return [
        _name(replica_set),
        _int(spec.get("replicas"), 1),
        _int(status.get("replicas")),
        _int(status.get("readyReplicas")),
        _age(replica_set, now),
        names,
        images,
        "<error>" if selector is None else selector or "<none>",
    ]


def _print_namespace(namespace: Obj, now: float) -> list[Any]:
    """Port of ``printNamespace``: NAME STATUS AGE (phase defaults to Active: SetDefaults_NamespaceStatus)."""
    phase = _map(namespace.get("status")).get("phase") or "Active"
    return [_name(namespace), str(phase), _age(namespace, now)]


def _print_secret(secret: Obj, now: float) -> list[Any]:
    """Port of ``printSecret``: NAME TYPE DATA AGE.

    ``type`` defaults to Opaque (SetDefaults_Secret); the v1 -> internal conversion merges
    ``stringData`` into ``data``, so its keys count too.
    """
    keys = set(_map(secret.get("data"))) | set(_map(secret.get("stringData")))
    return [_name(secret), str(secret.get("type") or "Opaque"), len(keys), _age(secret, now)]


def _print_config_map(config_map: Obj, now: float) -> list[Any]:
    """Port of ``printConfigMap``: NAME DATA AGE (data plus binaryData keys)."""
    count = len(_map(config_map.get("data"))) + len(_map(config_map.get("binaryData")))
    return [_name(config_map), count, _age(config_map, now)]


def _print_service_account(account: Obj, now: float) -> list[Any]:
    """Port of ``printServiceAccount``: NAME SECRETS AGE (the number of ``secrets`` references)."""
    return [_name(account), len(_list(account.get("secrets"))), _age(account, now)]


def _join_host_port(host: str, port: Any) -> str:
    """``net.JoinHostPort``: IPv6 addresses in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _with_more(items: list[str], count: int, limit: int = 3, empty: str = "") -> str:
    """The first ``limit`` items, then `` + N more...`` (``formatEndpoints``, ``listWithMoreString``)."""
    text = ",".join(items[:limit])
    if count > limit:
        return f"{text} + {count - limit} more..."
    return text or empty


def _print_endpoints(endpoints: Obj, now: float) -> list[Any]:
    """Port of ``printEndpoints`` / ``formatEndpoints``: ``10.244.0.5:8080,... + 2 more...``.

    Every ready address is paired with every port of its subset; a subset without ports lists
    bare IPs (headless services). ``notReadyAddresses`` are not shown.
    """
    subsets = [_map(s) for s in _list(endpoints.get("subsets"))]
    entries: list[str] = []
    for subset in subsets:
        ips = [str(_map(a).get("ip", "")) for a in _list(subset.get("addresses"))]
        ports = _list(subset.get("ports"))
        if not ports:
            entries += ips
        for port in map(_map, ports):
            entries += [_join_host_port(ip, port.get("port", 0)) for ip in ips]
    text = _with_more(entries, len(entries)) if subsets else "<none>"
    return [_name(endpoints), text, _age(endpoints, now)]


def _print_endpoint_slice(endpoint_slice: Obj, now: float) -> list[Any]:
    """Port of ``printEndpointSlice``: NAME ADDRESSTYPE PORTS ENDPOINTS AGE.

    ``formatDiscoveryPorts``: a port's number, else its name, else ``*``; ``<unset>`` when empty.
    """
    ports = []
    for port in map(_map, _list(endpoint_slice.get("ports"))):
        if port.get("port") is not None:
            ports.append(str(port["port"]))
        else:
            ports.append("*" if port.get("name") is None else str(port["name"]))
    endpoints = map(_map, _list(endpoint_slice.get("endpoints")))
    addresses = [str(address) for endpoint in endpoints for address in _list(endpoint.get("addresses"))]
    return [
        _name(endpoint_slice),
        str(endpoint_slice.get("addressType", "")),
        _with_more(ports, len(ports), empty="<unset>"),
        _with_more(addresses, len(addresses), empty="<unset>"),
        _age(endpoint_slice, now),
    ]


def _node_roles(labels: Mapping[str, Any]) -> str:
    """``findNodeRoles``: ``node-role.kubernetes.io/<role>`` labels and ``kubernetes.io/role=<role>``."""
    roles = set()
    for key, value in labels.items():
        if key.startswith("node-role.kubernetes.io/") and key != "node-role.kubernetes.io/":
            roles.add(key.removeprefix("node-role.kubernetes.io/"))
        elif key == "kubernetes.io/role" and value:
            roles.add(str(value))
    return ",".join(sorted(roles)) or "<none>"


def _node_address(node: Obj, type_: str) -> str:
    """``getNodeInternalIP`` / ``getNodeExternalIP``: the first address of that type, or ``<none>``."""
    for address in map(_map, _list(_map(node.get("status")).get("addresses"))):
        if address.get("type") == type_:
            return str(address.get("address", ""))
    return "<none>"


def _print_node(node: Obj, now: float) -> list[Any]:
    """Port of ``printNode``: NAME STATUS ROLES AGE VERSION; wide INTERNAL-IP EXTERNAL-IP OS-IMAGE...

    STATUS is only the Ready condition (``Ready``, ``NotReady``, ``Unknown`` when absent), plus
    ``SchedulingDisabled`` for a cordoned node.
    """
    status = _map(node.get("status"))
    ready = {c.get("type"): c for c in map(_map, _list(status.get("conditions")))}.get("Ready")
    states = ["Unknown" if ready is None else "Ready" if ready.get("status") == "True" else "NotReady"]
    if _map(node.get("spec")).get("unschedulable"):
        states.append("SchedulingDisabled")
    info = _map(status.get("nodeInfo"))
    return [
        _name(node),
        ",".join(states),
        _node_roles(_map(_meta(node).get("labels"))),
        _age(node, now),
        str(info.get("kubeletVersion", "")),
        _node_address(node, "InternalIP"),
        _node_address(node, "ExternalIP"),
        info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]


def _event_source(event: Obj) -> str:
    """``formatEventSource``: component (or reportingController), then ``, host`` when known."""
    source = _map(event.get("source"))
    component = source.get("component") or event.get("reportingController") or ""
    host = source.get("host") or event.get("reportingInstance") or ""
    return f"{component}, {host}" if host else str(component)


def _print_event(event: Obj, now: float) -> list[Any]:
    """Port of ``printEvent``: LAST SEEN TYPE REASON OBJECT MESSAGE (wide: SUBOBJECT SOURCE ... NAME).

    Events of the events.k8s.io API carry ``eventTime`` and ``series`` instead of the
    first/last timestamps and ``count``; a singleton event counts 1.
    """
    first = _since(event.get("firstTimestamp"), now)
    if not event.get("firstTimestamp"):
        first = _since(event.get("eventTime"), now)
    last = _since(event.get("lastTimestamp"), now) if event.get("lastTimestamp") else first
    count = _int(event.get("count"))
    series = event.get("series")
    if series is not None:
        last, count = _since(_map(series).get("lastObservedTime"), now), _int(_map(series).get("count"))
    elif count == 0:
        count = 1
    involved = _map(event.get("involvedObject"))
    target = str(involved.get("kind", "")).lower()
    if involved.get("name"):
        target = f"{target}/{involved['name']}"
    return [
        last,
        str(event.get("type", "")),
        str(event.get("reason", "")),
        target,
        str(involved.get("fieldPath", "")),
        _event_source(event),
        str(event.get("message", "")).strip(),
        first,
        count,
        _name(event),
    ]


def _print_default(obj: Obj, now: float) -> list[Any]:
    """``rest.NewDefaultTableConvertor``: the name and ``creationTimestamp.UTC().Format(time.RFC3339)``.

    Go's zero time formats as ``0001-01-01T00:00:00Z``.
    """
    created = _epoch_or_none(_meta(obj).get("creationTimestamp"))
    return [_name(obj), "0001-01-01T00:00:00Z" if created is None else format_rfc3339(created)]


class _Printer(NamedTuple):
    """A registered table handler: its columns, the cells of one object, the row conditions."""

    columns: tuple[dict, ...]
    cells: Callable[[Obj, float], list[Any]]
    conditions: Callable[[Obj], list[dict] | None] = lambda obj: None


# kind -> handler, as AddHandlers registers them (column sets from its TableColumnDefinitions).
_PRINTERS: dict[str, _Printer] = {
    "Pod": _Printer(
        (
            _NAME,
            _col("Ready", "Ready containers out of all containers of the pod."),
            _col("Status", "The pod's aggregate status, from its phase and container states."),
            _col("Restarts", "Container restarts, and how long ago the last one happened."),
            _AGE,
            _col("IP", "The pod's IP address.", priority=1),
            _col("Node", "The node the pod is scheduled to.", priority=1),
            _col("Nominated Node", "The node the scheduler nominated when preempting.", priority=1),
            _col("Readiness Gates", "Readiness gates whose condition is True.", priority=1),
        ),
        _print_pod,
        _pod_conditions,
    ),
    "Service": _Printer(
        (
            _NAME,
            _col("Type", "How the service is exposed (spec.type)."),
            _col("Cluster-IP", "The service's cluster IP (spec.clusterIPs[0])."),
            _col("External-IP", "External IPs and load-balancer ingress addresses."),
            _col("Port(s)", "Service ports, with node ports (spec.ports)."),
            _AGE,
            _col("Selector", "The pod selector (spec.selector).", priority=1),
        ),
        _print_service,
    ),
    "Deployment": _Printer(
        (
            _NAME,
            _col("Ready", "Ready replicas out of desired replicas."),
            _col("Up-to-date", "Replicas running the current pod template."),
            _col("Available", "Replicas available to serve (ready for minReadySeconds)."),
            _AGE,
            _CONTAINERS,
            _IMAGES,
            _col("Selector", "The pod selector (spec.selector).", priority=1),
        ),
        _print_deployment,
    ),
    "ReplicaSet": _Printer(
        (
            _NAME,
            _col("Desired", "Desired replicas (spec.replicas).", "integer"),
            _col("Current", "Observed replicas (status.replicas).", "integer"),
            _col("Ready", "Ready replicas (status.readyReplicas).", "integer"),
            _AGE,
            _CONTAINERS,
            _IMAGES,
            _col("Selector", "The pod selector (spec.selector).", priority=1),
        ),
        _print_replica_set,
    ),
    "Namespace": _Printer((_NAME, _col("Status", "The namespace phase."), _AGE), _print_namespace),
    "Secret": _Printer(
        (_NAME, _col("Type", "The secret type."), _col("Data", "Number of data keys."), _AGE), _print_secret
    ),
    "ConfigMap": _Printer(
        (_NAME, _col("Data", "Number of data and binaryData keys."), _AGE), _print_config_map
    ),
    "ServiceAccount": _Printer(
        (_NAME, _col("Secrets", "Number of secrets referenced (secrets)."), _AGE), _print_service_account
    ),
    "Endpoints": _Printer(
        (_NAME, _col("Endpoints", "Ready addresses with their ports (subsets)."), _AGE), _print_endpoints
    ),
    "EndpointSlice": _Printer(
        (
            _NAME,
            _col("AddressType", "The type of the slice's addresses."),
            _col("Ports", "The ports of the slice."),
            _col("Endpoints", "The addresses of the slice's endpoints."),
            _AGE,
        ),
        _print_endpoint_slice,
    ),
    "Node": _Printer(
        (
            _NAME,
            _col("Status", "The node's Ready condition and schedulability."),
            _col("Roles", "The node's roles, from node-role labels."),
            _AGE,
            _col("Version", "The kubelet version."),
            _col("Internal-IP", "The node's first InternalIP address.", priority=1),
            _col("External-IP", "The node's first ExternalIP address.", priority=1),
            _col("OS-Image", "The node's OS image.", priority=1),
            _col("Kernel-Version", "The node's kernel version.", priority=1),
            _col("Container-Runtime", "The node's container runtime and version.", priority=1),
        ),
        _print_node,
    ),
    "Event": _Printer(
        (
            _col("Last Seen", "Time since the event was last seen."),
            _col("Type", "The event type (Normal, Warning)."),
            _col("Reason", "Why the event happened, machine readable."),
            _col("Object", "The object the event is about."),
            _col("Subobject", "The part of the object the event is about.", priority=1),
            _col("Source", "The component that reported the event.", priority=1),
            _col("Message", "What happened, human readable."),
            _col("First Seen", "Time since the event was first seen.", priority=1),
            _col("Count", "How often the event happened.", priority=1),
            _col("Name", "Name of the event object.", fmt="name", priority=1),
        ),
        _print_event,
    ),
    "CustomResourceDefinition": _Printer(
        (_NAME, _col("Created At", "When the object was created (metadata.creationTimestamp).", "date")),
        _print_default,
    ),
}


# --------------------------------------------------------------------------------------------
# Custom resources: additionalPrinterColumns (apiextensions tableconvertor)
# --------------------------------------------------------------------------------------------


def _age_column() -> dict[str, Any]:
    """``serveDefaultColumnsIfEmpty``: the one column a CRD version without printer columns gets."""
    return {
        "name": "Age",
        "type": "date",
        "jsonPath": ".metadata.creationTimestamp",
        "description": _AGE["description"],
    }


def _apc(name: str, path: str, type_: str = "string", description: str = "", priority: int = 0) -> dict:
    """One ``additionalPrinterColumns`` entry as a CRD declares it (optional keys left out)."""
    column: dict[str, Any] = {"name": name, "type": type_, "jsonPath": path}
    if description:
        column["description"] = description
    if priority:
        column["priority"] = priority
    return column


_AGE_APC = _apc("Age", ".metadata.creationTimestamp", "date", "Time since the object was created.")
_GW_AGE = _apc("Age", ".metadata.creationTimestamp", "date")  # Gateway API columns carry no description

#: ``additionalPrinterColumns`` per (group, kind). Identical in every served version of each CRD.
#: Istio 1.27.1: manifests/charts/base/files/crd-all.gen.yaml (the Gateway CRD declares none, so
#: the server serves a lone Age column). Gateway API v1.3.0 (Istio 1.27's go.mod):
#: config/crd/standard/*.yaml and config/crd/experimental/*.yaml (TLSRoute, TCPRoute).
PRINTER_COLUMNS: dict[tuple[str, str], tuple[dict, ...]] = {
    ("networking.istio.io", "Gateway"): (),
    ("networking.istio.io", "VirtualService"): (
        _apc("Gateways", ".spec.gateways", description="Gateways and sidecars the routes apply to."),
        _apc("Hosts", ".spec.hosts", description="Destination hosts the routes apply to."),
        _AGE_APC,
    ),
    ("networking.istio.io", "DestinationRule"): (
        _apc("Host", ".spec.host", description="The service in the registry the rule applies to."),
        _AGE_APC,
    ),
    ("networking.istio.io", "ServiceEntry"): (
        _apc("Hosts", ".spec.hosts", description="Hosts of the entry."),
        _apc("Location", ".spec.location", description="MESH_EXTERNAL or MESH_INTERNAL."),
        _apc("Resolution", ".spec.resolution", description="How the hosts resolve: NONE, STATIC or DNS."),
        _AGE_APC,
    ),
    ("gateway.networking.k8s.io", "GatewayClass"): (
        _apc("Controller", ".spec.controllerName"),
        _apc("Accepted", '.status.conditions[?(@.type=="Accepted")].status'),
        _GW_AGE,
        _apc("Description", ".spec.description", priority=1),
    ),
    ("gateway.networking.k8s.io", "Gateway"): (
        _apc("Class", ".spec.gatewayClassName"),
        _apc("Address", ".status.addresses[*].value"),
        _apc("Programmed", '.status.conditions[?(@.type=="Programmed")].status'),
        _GW_AGE,
    ),
    ("gateway.networking.k8s.io", "HTTPRoute"): (_apc("Hostnames", ".spec.hostnames"), _GW_AGE),
    ("gateway.networking.k8s.io", "GRPCRoute"): (_apc("Hostnames", ".spec.hostnames"), _GW_AGE),
    ("gateway.networking.k8s.io", "ReferenceGrant"): (_GW_AGE,),
    ("gateway.networking.k8s.io", "TLSRoute"): (_GW_AGE,),
    ("gateway.networking.k8s.io", "TCPRoute"): (_GW_AGE,),
}


def _cell_for_json_value(type_: str, value: Any, now: float) -> Any:
    """``cellForJSONValue``: a typed cell, or null when the value does not fit the column type."""
    if type_ == "integer" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)  # Go's int64(float64) truncates toward zero, as int() does
    if type_ == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if type_ == "boolean" and isinstance(value, bool):
        return value
    if type_ == "date" and isinstance(value, str):
        if value in ("", "null"):
            return "<unknown>"  # metav1.Time.UnmarshalQueryParameter: the zero time
        try:
            return human_duration(now - _parse_rfc3339(value))
        except ValueError:
            return "<invalid>"
    return None


# tableconvertor.New's description for a column that declares none (a fixed prefix + the path).
_CRD_COLUMN_DESCRIPTION = "Custom resource definition column (in JSONPath format): "


def _custom_columns(printer_columns: Sequence[Mapping[str, Any]]) -> tuple[tuple[dict, ...], list[tuple]]:
    """``tableconvertor.New``: the column definitions and one parsed JSONPath per printer column."""
    columns = [_NAME]
    paths = []
    for apc in printer_columns or (_age_column(),):
        path = str(apc.get("jsonPath", ""))
        description = str(apc.get("description") or _CRD_COLUMN_DESCRIPTION + path)
        type_, fmt, priority = str(apc.get("type", "")), str(apc.get("format", "")), _int(apc.get("priority"))
        columns.append(_col(str(apc["name"]), description, type_, fmt=fmt, priority=priority))
        paths.append(jsonpath.parse(path))
    return tuple(columns), paths


def _custom_cells(obj: Obj, columns: tuple[dict, ...], paths: list[tuple], now: float) -> list[Any]:
    """``convertor.ConvertToTable``'s row function: the name, then the first JSONPath result per column."""
    cells: list[Any] = [_name(obj)]
    for column, path in zip(columns[1:], paths, strict=True):
        try:
            results = jsonpath.evaluate(path, [obj])
        except jsonpath.PathError:
            results = []
        if not results:
            cells.append(None)
        elif column["type"] == "string":
            cells.append(jsonpath.print_result(results[0]))
        else:
            cells.append(_cell_for_json_value(column["type"], results[0], now))
    return cells


# --------------------------------------------------------------------------------------------
# The Table
# --------------------------------------------------------------------------------------------

_INCLUDE_OBJECT = ("Metadata", "Object", "None", "")  # "" (not given) means Metadata


def _row_object(obj: Obj, include_object: str) -> Any:
    """``asTable`` (apiserver endpoints/handlers/response.go): what ``row.object`` carries.

    ``None`` leaves the RawExtension empty, which Go serialises as ``"object": null``.
    """
    if include_object == "Object":
        return copy.deepcopy(dict(obj))
    if include_object == "None":
        return None
    metadata = copy.deepcopy(dict(_meta(obj)))
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": metadata}


def table(
    kind: str,
    objects: Sequence[Obj],
    *,
    now: float,
    include_object: str = "Metadata",
    printer_columns: Sequence[Mapping[str, Any]] | None = None,
    resource_version: str = "",
) -> dict[str, Any]:
    """The ``meta.k8s.io/v1`` Table kube-apiserver returns for a list of ``kind`` objects.

    Args:
        kind: a built-in kind (``Pod``, ``Service``, ...), ``CustomResourceDefinition``, or a custom
            resource's kind (then ``printer_columns`` is required).
        objects: the v1 JSON objects, in the order the list returns them.
        now: epoch seconds; every age is computed against it.
        include_object: the request's ``includeObject``: ``Metadata`` (a PartialObjectMetadata per
            row; also what "" means, kubectl's default), ``Object`` (the whole object) or ``None``.
        printer_columns: the served CRD version's ``additionalPrinterColumns`` (see
            :data:`PRINTER_COLUMNS`); ``()`` means the CRD declares none (a lone ``Age`` column).
        resource_version: the list's resourceVersion (``ListMeta`` omits it when empty).

    Returns:
        The Table as JSON-ready dicts: all columns, priority 1 ones included (``-o wide``).

    Raises:
        ValidationError: ``include_object`` is not one of the three values (a 400 BadRequest).
        SandboxError: ``kind`` has no printer here and no ``printer_columns`` were given, or a
            printer column uses JSONPath this module does not evaluate.
    """
    if include_object not in _INCLUDE_OBJECT:
        raise ValidationError(f'unrecognized includeObject value: "{include_object}"')
    if printer_columns is not None:
        columns, paths = _custom_columns(printer_columns)
        printer = _Printer(columns, lambda obj, at: _custom_cells(obj, columns, paths, at))
    elif kind in _PRINTERS:
        printer = _PRINTERS[kind]
    else:
        raise SandboxError(f"no table printer for kind {kind!r}: pass the CRD's additionalPrinterColumns")
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": printer.cells(obj, now)}
        conditions = printer.conditions(obj)
        if conditions:
            row["conditions"] = conditions
        row["object"] = _row_object(obj, include_object)
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version} if resource_version else {},
        "columnDefinitions": [dict(c) for c in printer.columns],
        "rows": rows,
    }
