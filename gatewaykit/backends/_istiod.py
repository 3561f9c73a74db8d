"""istiod's debug endpoints (port 15014) as the sandbox's istiod answers them.

istiod 1.27 serves ``/debug/syncz``, ``/debug/configz`` and ``/debug/mesh`` (pilot/pkg/xds/debug.go)
only to localhost or to authenticated XDS clients (``allowAuthenticatedOrLocalhost``): a request that
reaches it through the API server's pod proxy comes from the node and gets a bare ``401``. From
inside istiod's pod, ``pilot-discovery request GET /debug/<path>`` (pilot/cmd/pilot-discovery/app/
request.go, pilot/pkg/request/command.go) asks 127.0.0.1:15014 and prints the body and a newline; a
status above 399 other than 404 is an error. Tools that need these endpoints (gatewaykit's cluster
backends, ``istioctl``) therefore exec into the pod or port-forward; the sandbox answers both ways
alike, so they can be tested against it.

Shapes (Go's ``encoding/json`` of debug.go's types):

* ``syncz``: a list of ``SyncStatus`` (``proxy``, ``proxy_type``, ``cluster_id``, ``istio_version``,
  ``<type>_sent``/``<type>_acked`` nonces, ``resources`` per type URL). The sandbox pushes
  synchronously, so every proxy has ACKed what it was sent: SYNCED, as ``istioctl proxy-status``
  shows a settled mesh.
* ``configz``: every Istio config istiod holds, as ``crd.ConvertConfig`` renders it (``kind``,
  ``apiVersion`` of the version istiod watches, ``metadata`` with ``resourceVersion``, ``spec``,
  ``status``). The configs istiod generates from Gateway API objects are not listed.
* ``mesh``: the mesh config as ``jsonpb`` prints it (camelCase; zero values omitted, so
  ``outboundTrafficPolicy: {}`` is ``REGISTRY_ONLY``): Istio's defaults
  (pkg/config/mesh/mesh.go ``DefaultMeshConfig``, abridged) with the ``istio`` ConfigMap's
  ``data.mesh`` applied over them (top-level fields replace, ``defaultConfig`` merges:
  ``ApplyMeshConfig``).

Pure: the caller passes the proxies, the stored objects and the push time.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from gatewaykit.envoy import ProxyConfig

__all__ = ["DEBUG_PORT", "IstiodView", "debug", "monitoring_answer", "pilot_discovery"]

#: istiod's monitoring and debug port (``--monitoringAddr=:15014``).
DEBUG_PORT = 15014
ISTIO_VERSION = "1.27.1"
_T = "type.googleapis.com/"
#: xDS type per SyncStatus field prefix (pilot/pkg/model/typeurls: v3.ClusterType ...).
_XDS_TYPES = (
    ("cluster", _T + "envoy.config.cluster.v3.Cluster"),
    ("listener", _T + "envoy.config.listener.v3.Listener"),
    ("route", _T + "envoy.config.route.v3.RouteConfiguration"),
    ("endpoint", _T + "envoy.config.endpoint.v3.ClusterLoadAssignment"),
)
#: The Istio kinds istiod's config store lists, with the version it watches in 1.27
#: (pkg/config/schema/collections/collections.gen.go, ``Pilot``).
CONFIGZ_KINDS: Mapping[str, str] = {
    "DestinationRule": "networking.istio.io/v1",
    "EnvoyFilter": "networking.istio.io/v1alpha3",
    "Gateway": "networking.istio.io/v1",
    "ServiceEntry": "networking.istio.io/v1",
    "Sidecar": "networking.istio.io/v1",
    "VirtualService": "networking.istio.io/v1",
    "WorkloadEntry": "networking.istio.io/v1",
    "WorkloadGroup": "networking.istio.io/v1",
    "AuthorizationPolicy": "security.istio.io/v1",
    "PeerAuthentication": "security.istio.io/v1",
    "RequestAuthentication": "security.istio.io/v1",
    "Telemetry": "telemetry.istio.io/v1",
}
#: ``DefaultMeshConfig()`` of pkg/config/mesh/mesh.go as jsonpb prints it (zero values omitted).
DEFAULT_MESH: Mapping[str, Any] = {
    "enableTracing": True,
    "protocolDetectionTimeout": "0s",
    "ingressService": "istio-ingressgateway",
    "ingressControllerMode": "STRICT",
    "ingressClass": "istio",
    "trustDomain": "cluster.local",
    "enableAutoMtls": True,
    "outboundTrafficPolicy": {"mode": "ALLOW_ANY"},
    "inboundTrafficPolicy": {},
    "localityLbSetting": {"enabled": True},
    "defaultConfig": {
        "configPath": "./etc/istio/proxy",
        "binaryPath": "/usr/local/bin/envoy",
        "serviceCluster": "istio-proxy",
        "drainDuration": "45s",
        "terminationDrainDuration": "5s",
        "discoveryAddress": "istiod.istio-system.svc:15012",
        "proxyAdminPort": 15000,
        "controlPlaneAuthPolicy": "MUTUAL_TLS",
        "statNameLength": 189,
        "statusPort": 15020,
    },
    "rootNamespace": "istio-system",
    "proxyListenPort": 15001,
    "proxyInboundListenPort": 15006,
    "connectTimeout": "10s",
    "defaultServiceExportTo": ["*"],
    "defaultVirtualServiceExportTo": ["*"],
    "defaultDestinationRuleExportTo": ["*"],
    "dnsRefreshRate": "60s",
    "enablePrometheusMerge": True,
    "defaultProviders": {},
    "extensionProviders": [
        {"name": "prometheus", "prometheus": {}},
        {"name": "stackdriver", "stackdriver": {}},
        {"name": "envoy", "envoyFileAccessLog": {"path": "/dev/stdout"}},
    ],
}
#: Enum fields whose zero value jsonpb leaves out, with their names by number (mesh/v1alpha1/config.proto).
_ZERO_ENUMS: Mapping[tuple[str, ...], tuple[str, ...]] = {
    ("outboundTrafficPolicy", "mode"): ("REGISTRY_ONLY", "ALLOW_ANY"),
    ("inboundTrafficPolicy", "mode"): ("PASSTHROUGH", "LOCALHOST"),
    ("accessLogEncoding",): ("TEXT", "JSON"),
    ("ingressControllerMode",): ("UNSPECIFIED", "OFF", "DEFAULT", "STRICT"),
}
_NOT_FOUND = (404, "text/plain; charset=utf-8", b"404 page not found\n")


@dataclass(frozen=True, slots=True)
class IstiodView:
    """What the sandbox's istiod knows: the proxies it pushes to, the Istio configs it holds
    (raw stored objects), the ``istio`` ConfigMap's ``data.mesh`` and the last push's time
    (RFC 3339) and number."""

    proxies: Mapping[str, ProxyConfig] = field(default_factory=dict)
    configs: Sequence[Mapping[str, Any]] = ()
    mesh_yaml: str = ""
    push_time: str = "1970-01-01T00:00:00Z"
    push: int = 0


def debug(view: IstiodView, path: str, query: Mapping[str, str]) -> tuple[int, str, bytes]:
    """``GET /debug/<path>`` from localhost: (status, content type, body)."""
    handler = _HANDLERS.get(path.strip("/").removeprefix("debug/"))
    if handler is None:
        return _NOT_FOUND
    obj = handler(view, query)
    indent = 4 if "pretty" in query else None
    body = json.dumps(obj, indent=indent, separators=(",", ": ") if indent else (",", ":"))
    return 200, "application/json", body.encode()


def monitoring_answer(path: str) -> tuple[int, str, bytes]:
    """What 15014 answers through the API server's pod proxy: ``/debug/*`` is 401 with no body
    (the request does not come from localhost and carries no XDS credentials)."""
    if path.strip("/").startswith("debug"):
        return 401, "text/plain; charset=utf-8", b""
    return _NOT_FOUND


def pilot_discovery(view: IstiodView, argv: Sequence[str]) -> tuple[bytes, bytes, int]:
    """``pilot-discovery request <method> <path> [<body>]`` in istiod's ``discovery`` container:
    (stdout, stderr, exit code). Other ``pilot-discovery`` commands are not run in the sandbox."""
    args = list(argv[1:])
    if not args or args[0] != "request":
        return b"", b"Error: the sandbox's istiod runs only `pilot-discovery request`\n", 1
    if len(args) < 3:
        return b"", f"Error: requires at least 2 arg(s), only received {len(args) - 1}\n".encode(), 1
    path, _, raw_query = args[2].lstrip("/").partition("?")
    query = {k: v for k, _, v in (p.partition("=") for p in raw_query.split("&") if p)}
    status, _ctype, body = debug(view, path, query) if path.startswith("debug") else _NOT_FOUND
    if status > 399 and status != 404:
        return b"", b"Error: received unsuccessful status code %d: %s\n" % (status, body), 1
    return body + b"\n", b"", 0


def _syncz(view: IstiodView, query: Mapping[str, str]) -> list[dict[str, Any]]:
    namespace = query.get("namespace", "")
    out = []
    for proxy in sorted(view.proxies.values(), key=lambda p: p.id):
        if namespace and proxy.namespace != namespace:
            continue
        out.append(_sync_status(view, proxy))
    return out


def _sync_status(view: IstiodView, proxy: ProxyConfig) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "cluster_id": "Kubernetes",
        "proxy": proxy.id,
        "proxy_type": proxy.type,
        "istio_version": ISTIO_VERSION,
    }
    resources = {}
    for prefix, type_url in _subscribed(proxy):
        nonce = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{proxy.id}/{type_url}/{view.push}"))
        entry[f"{prefix}_sent"] = entry[f"{prefix}_acked"] = nonce
        resources[type_url] = {"sent": nonce, "acked": nonce, "sentTime": view.push_time}
    entry["resources"] = resources
    return entry


def _subscribed(proxy: ProxyConfig) -> Iterable[tuple[str, str]]:
    """The types a proxy watches: CDS and LDS always, RDS with routes, EDS with EDS clusters."""
    for prefix, type_url in _XDS_TYPES:
        if prefix == "route" and not proxy.route_configs:
            continue
        if prefix == "endpoint" and not any(c.type == "EDS" for c in proxy.clusters.values()):
            continue
        yield prefix, type_url


def _configz(view: IstiodView, query: Mapping[str, str]) -> list[dict[str, Any]]:
    out = []
    for raw in view.configs:
        kind = str(raw.get("kind", ""))
        api = CONFIGZ_KINDS.get(kind)
        if api is None or not str(raw.get("apiVersion", "")).startswith(api.split("/")[0] + "/"):
            continue
        meta = raw.get("metadata") or {}
        out.append(
            {
                "kind": kind,
                "apiVersion": api,
                "metadata": {
                    k: meta[k]
                    for k in (
                        "name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
                        "labels", "annotations",
                    )
                    if meta.get(k) not in (None, "", {})
                },
                "spec": raw.get("spec") or {},
                **({"status": raw["status"]} if raw.get("status") else {}),
            }
        )
    return out


def _mesh(view: IstiodView, query: Mapping[str, str]) -> dict[str, Any]:
    return mesh_json(view.mesh_yaml)


def mesh_json(mesh_yaml: str) -> dict[str, Any]:
    """The active mesh config as istiod prints it, from a ``data.mesh`` YAML text.

    A text istiod cannot read leaves its defaults (the mesh watcher logs and keeps the last good
    config; here: Istio's defaults).
    """
    mesh = json.loads(json.dumps(DEFAULT_MESH))
    try:
        doc = yaml.safe_load(mesh_yaml) if mesh_yaml else {}
    except yaml.YAMLError:
        doc = {}
    for key, value in (doc if isinstance(doc, dict) else {}).items():
        if key == "defaultConfig" and isinstance(value, dict):
            mesh["defaultConfig"] = {**mesh["defaultConfig"], **value}
        else:
            mesh[key] = value
    for path, names in _ZERO_ENUMS.items():
        _omit_zero_enum(mesh, path, names)
    return _omit_empty(mesh)


def _omit_zero_enum(mesh: dict[str, Any], path: tuple[str, ...], names: tuple[str, ...]) -> None:
    holder: dict[str, Any] = mesh
    for key in path[:-1]:
        inner = holder.get(key)
        holder = inner if isinstance(inner, dict) else {}
    value = holder.get(path[-1])
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(names):
        value = holder[path[-1]] = names[value]
    if value == names[0]:
        holder.pop(path[-1], None)


def _omit_empty(mesh: dict[str, Any]) -> dict[str, Any]:
    """jsonpb leaves out empty strings, lists and maps (a set message prints as ``{}``)."""
    out: dict[str, Any] = {}
    for key, value in mesh.items():
        if value in ("", [], None) or (key == "proxyMetadata" and not value):
            continue
        out[key] = _omit_empty(value) if isinstance(value, dict) and key != "proxyMetadata" else value
    return out


_HANDLERS = {"syncz": _syncz, "configz": _configz, "mesh": _mesh}
