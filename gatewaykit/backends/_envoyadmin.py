"""Envoy's admin API (port 15000) for a sandbox proxy, in Envoy's JSON shapes, from the translation.

The real ``istioctl proxy-config`` port-forwards to a pod's port 15000 and reads ``/config_dump`` and
``/clusters?format=json``; the sandbox's istioctl reads the same paths through the API server's pod
proxy (``pods/{name}:15000/proxy/...``), answered here from :class:`gatewaykit.envoy.ProxyConfig`.

Shapes are Envoy's admin protos (``envoy.admin.v3.ConfigDump`` with Bootstrap/Clusters/Listeners/
ScopedRoutes/Routes/Secrets dumps, ``envoy.admin.v3.Clusters``), snake_case, pretty-printed as Envoy
prints them. Only the fields the sandbox models are filled, plus the static listeners (15090
prometheus, 15021 health) and clusters (``prometheus_stats``, ``agent``, ``sds-grpc``,
``xds-grpc``) of Istio's bootstrap. Private keys read ``[redacted]``, as Envoy prints them.
Pure: timestamps and certificates are passed in.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gatewaykit._translate import Pod, ServiceInfo
from gatewaykit.envoy import (
    Cluster,
    DownstreamTlsContext,
    FilterChain,
    Listener,
    ProxyConfig,
    Route,
    RouteConfiguration,
    UpstreamTlsContext,
    VirtualHost,
)

__all__ = ["AdminContext", "ISTIO_PROXY_SHA", "answer"]

#: istio.deps ``PROXY_REPO_SHA`` at 1.27.1 (what ``ISTIO_PROXY_SHA`` in the node metadata carries).
ISTIO_PROXY_SHA = "1a53bf14a57976dd0f509752b748caf3b1125d54"
#: The Envoy release the 1.27 proxy is built from (approximated: the sandbox runs no Envoy binary).
ENVOY_VERSION = (1, 35, 3)
_T = "type.googleapis.com/"
_ADS = {"ads": {}, "initial_fetch_timeout": "0s", "resource_api_version": "V3"}
_REDACTED = base64.b64encode(b"[redacted]").decode()
_ROUTER = {
    "name": "envoy.filters.http.router",
    "typed_config": {"@type": _T + "envoy.extensions.filters.http.router.v3.Router"},
}


@dataclass(frozen=True, slots=True)
class AdminContext:
    """Everything one proxy's admin API answers from.

    Attributes:
        proxy: the proxy's Envoy config; pod: its pod; services: the service registry;
        workload_cert: (chain PEM, ROOTCA PEM) of the mesh's ``default`` SDS secrets;
        version_info: the xDS version (istiod's push time); last_updated: RFC 3339 time.
    """

    proxy: ProxyConfig
    pod: Pod
    services: Mapping[str, ServiceInfo]
    workload_cert: tuple[bytes, bytes]
    version_info: str
    last_updated: str


def answer(ctx: AdminContext, path: str, query: Mapping[str, str]) -> tuple[int, str, bytes]:
    """One admin request: ``(status, content type, body)``."""
    path = path.strip("/")
    if path == "config_dump":
        dump = config_dump(ctx, include_eds=query.get("include_eds") == "true", mask=query.get("mask", ""))
        return 200, "application/json", _pretty(dump)
    if path == "clusters":
        if query.get("format") == "json":
            return 200, "application/json", _pretty(clusters_json(ctx))
        return 200, "text/plain", clusters_text(ctx).encode()
    if path == "ready":
        return 200, "text/plain", b"LIVE\n"
    if path == "server_info":
        return 200, "application/json", _pretty(server_info(ctx))
    if path in ("stats", "stats/prometheus"):
        return (
            200,
            "text/plain; charset=UTF-8",
            stats_text(ctx, prometheus=path.endswith("prometheus")).encode(),
        )
    return 404, "text/plain", f"invalid path: /{path}\n".encode()


def _pretty(doc: Any) -> bytes:
    """Envoy's admin JSON: pretty-printed, one space of indentation."""
    return (json.dumps(doc, indent=1) + "\n").encode()


# ------------------------------------------------------------------------------ config_dump

_MASKS = {
    "bootstrap": "BootstrapConfigDump",
    "static_clusters": "ClustersConfigDump",
    "dynamic_active_clusters": "ClustersConfigDump",
    "dynamic_warming_clusters": "ClustersConfigDump",
    "dynamic_listeners": "ListenersConfigDump",
    "static_listeners": "ListenersConfigDump",
    "dynamic_route_configs": "RoutesConfigDump",
    "static_route_configs": "RoutesConfigDump",
    "dynamic_active_secrets": "SecretsConfigDump",
    "dynamic_warming_secrets": "SecretsConfigDump",
}


def config_dump(ctx: AdminContext, *, include_eds: bool = False, mask: str = "") -> dict[str, Any]:
    """``/config_dump`` (``?include_eds=true``, ``?mask=a,b``: each config keeps only masked fields)."""
    configs = [
        {
            "@type": _T + "envoy.admin.v3.BootstrapConfigDump",
            "bootstrap": bootstrap(ctx),
            "last_updated": ctx.last_updated,
        },
        _clusters_dump(ctx),
        _listeners_dump(ctx),
        {"@type": _T + "envoy.admin.v3.ScopedRoutesConfigDump"},
        _routes_dump(ctx),
        _secrets_dump(ctx),
    ]
    if include_eds:
        configs.insert(2, _endpoints_dump(ctx))
    if mask:
        wanted = [m for m in mask.split(",") if m]
        types = {_MASKS.get(m) for m in wanted}
        configs = [
            {
                k: v
                for k, v in c.items()
                if k == "@type" or k in wanted or (k == "last_updated" and "bootstrap" in wanted)
            }
            for c in configs
            if c["@type"].rsplit(".", 1)[-1] in types
        ]
    return {"configs": configs}


def bootstrap(ctx: AdminContext) -> dict[str, Any]:
    """The bootstrap Istio's agent writes for this proxy (node identity and versions)."""
    pod, proxy = ctx.pod, ctx.proxy
    major, minor, patch = ENVOY_VERSION
    return {
        "node": {
            "id": f"{proxy.type}~{pod.ip}~{pod.name}.{pod.namespace}~{pod.namespace}.svc.cluster.local",
            "cluster": f"{pod.labels.get('app', pod.deployment)}.{pod.namespace}",
            "metadata": {
                "CLUSTER_ID": "Kubernetes",
                "ISTIO_PROXY_SHA": f"istio-proxy:{ISTIO_PROXY_SHA}",
                "ISTIO_VERSION": "1.27.1",
                "LABELS": dict(pod.labels),
                "MESH_ID": "cluster.local",
                "NAME": pod.name,
                "NAMESPACE": pod.namespace,
                "NODE_NAME": "gatewaykit-control-plane",
                "SERVICE_ACCOUNT": pod.service_account,
                "WORKLOAD_NAME": pod.deployment,
            },
            "user_agent_name": "envoy",
            "user_agent_build_version": {
                "version": {"major_number": major, "minor_number": minor, "patch": patch},
                "metadata": {"build.type": "RELEASE", "revision.status": "Clean", "ssl.version": "BoringSSL"},
            },
        },
        "static_resources": {"listeners": _static_listeners(), "clusters": _static_clusters()},
        "dynamic_resources": {
            "lds_config": _ADS,
            "cds_config": _ADS,
            "ads_config": {
                "api_type": "GRPC",
                "transport_api_version": "V3",
                "grpc_services": [{"envoy_grpc": {"cluster_name": "xds-grpc"}}],
            },
        },
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 15000}}},
    }


def _static_route(name: str, prefix: str, cluster: str) -> dict[str, Any]:
    return {
        "virtual_hosts": [
            {
                "name": "backend",
                "domains": ["*"],
                "routes": [{"match": {"prefix": prefix}, "route": {"cluster": cluster}}],
            }
        ]
    }


_STATIC_ROUTES = (
    (15090, "stats", "/stats/prometheus", "prometheus_stats"),
    (15021, "agent", "/healthz/ready", "agent"),
)


def _static_listeners() -> list[dict[str, Any]]:
    """Istio's bootstrap listeners: 15090 (``/stats/prometheus``) and 15021 (``/healthz/ready``)."""
    out = []
    for port, stat, prefix, cluster in _STATIC_ROUTES:
        hcm = {
            "@type": _T + "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": stat,
            "route_config": _static_route(stat, prefix, cluster),
            "http_filters": [_ROUTER],
        }
        out.append(
            {
                "name": f"0.0.0.0_{port}",
                "address": {"socket_address": {"address": "0.0.0.0", "port_value": port}},
                "filter_chains": [
                    {
                        "filters": [
                            {"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}
                        ]
                    }
                ],
            }
        )
    return out


_STATIC_CLUSTERS = (
    ("prometheus_stats", {"socket_address": {"address": "127.0.0.1", "port_value": 15000}}),
    ("agent", {"socket_address": {"address": "127.0.0.1", "port_value": 15020}}),
    ("sds-grpc", {"pipe": {"path": "./var/run/secrets/workload-spiffe-uds/socket"}}),
    ("xds-grpc", {"pipe": {"path": "./etc/istio/proxy/XDS"}}),
)


def _static_clusters() -> list[dict[str, Any]]:
    return [
        {
            "@type": _T + "envoy.config.cluster.v3.Cluster",
            "name": name,
            "connect_timeout": "0.250s" if name in ("prometheus_stats", "agent") else "1s",
            "load_assignment": {
                "cluster_name": name,
                "endpoints": [
                    {"lb_endpoints": [{"endpoint": {"address": address}, "health_status": "HEALTHY"}]}
                ],
            },
        }
        for name, address in _STATIC_CLUSTERS
    ]


def _clusters_dump(ctx: AdminContext) -> dict[str, Any]:
    return {
        "@type": _T + "envoy.admin.v3.ClustersConfigDump",
        "version_info": ctx.version_info,
        "static_clusters": [{"cluster": c, "last_updated": ctx.last_updated} for c in _static_clusters()],
        "dynamic_active_clusters": [
            {
                "version_info": ctx.version_info,
                "cluster": cluster_json(c, ctx.services),
                "last_updated": ctx.last_updated,
            }
            for c in ctx.proxy.clusters.values()
        ],
    }


def _duration(seconds: float) -> str:
    text = f"{seconds:.9f}".rstrip("0").rstrip(".")
    return f"{text}s"


def _subset_key(name: str) -> tuple[str, str, str, str] | None:
    parts = name.split("|")
    return (parts[0], parts[1], parts[2], parts[3]) if len(parts) == 4 else None


def cluster_json(c: Cluster, services: Mapping[str, ServiceInfo]) -> dict[str, Any]:
    """One ``envoy.config.cluster.v3.Cluster`` (STATIC, the zero enum, is not printed)."""
    out: dict[str, Any] = {"@type": _T + "envoy.config.cluster.v3.Cluster", "name": c.name}
    if c.type != "STATIC":
        out["type"] = c.type
    if c.type == "EDS":
        out["eds_cluster_config"] = {"eds_config": _ADS, "service_name": c.name}
    out["connect_timeout"] = _duration(c.connect_timeout)
    if c.type == "ORIGINAL_DST":
        out["lb_policy"] = "CLUSTER_PROVIDED"
    if c.type in ("STRICT_DNS", "LOGICAL_DNS", "STATIC") and c.endpoints:
        out["load_assignment"] = _load_assignment(c)
    meta = _cluster_metadata(c, services)
    if meta:
        out["metadata"] = {"filter_metadata": {"istio": meta}}
    if c.transport_socket is not None:
        out["transport_socket"] = _upstream_tls(c.transport_socket)
    return out


def _cluster_metadata(c: Cluster, services: Mapping[str, ServiceInfo]) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    svc = services.get(c.service or "")
    if svc is not None:
        meta["services"] = [{"host": svc.hostname, "name": svc.name, "namespace": svc.namespace}]
        if c.port is not None:
            meta["default_original_port"] = c.port
    if c.origin:
        ns, _, name = c.origin.partition("/")
        meta["config"] = f"/apis/networking.istio.io/v1/namespaces/{ns}/destination-rule/{name}"
    return meta


def _tls_context(
    kind: str, certs: tuple[str, ...], validation: str | None, sans: tuple[str, ...], alpn: tuple[str, ...]
) -> dict[str, Any]:
    """An Up/DownstreamTlsContext's ``typed_config`` with its ``common_tls_context`` (SDS names)."""
    common: dict[str, Any] = {}
    if certs:
        common["tls_certificate_sds_secret_configs"] = [_sds(n) for n in certs]
    if validation:
        default: dict[str, Any] = {}
        if sans:
            default["match_subject_alt_names"] = [{"exact": s} for s in sans]
        common["combined_validation_context"] = {
            "default_validation_context": default,
            "validation_context_sds_secret_config": _sds(validation),
        }
    if alpn:
        common["alpn_protocols"] = list(alpn)
    return {"@type": _T + f"envoy.extensions.transport_sockets.tls.v3.{kind}", "common_tls_context": common}


def _upstream_tls(t: UpstreamTlsContext) -> dict[str, Any]:
    certs = (t.certificate_sds,) if t.certificate_sds else ()
    ctx = _tls_context("UpstreamTlsContext", certs, t.validation_sds, t.subject_alt_names, t.alpn_protocols)
    if t.sni:
        ctx["sni"] = t.sni
    return {"name": "envoy.transport_sockets.tls", "typed_config": ctx}


def _sds(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "sds_config": {
            "api_config_source": {
                "api_type": "GRPC",
                "transport_api_version": "V3",
                "grpc_services": [{"envoy_grpc": {"cluster_name": "sds-grpc"}}],
            },
            "resource_api_version": "V3",
        },
    }


def _lb_endpoint(address: str, port: int, healthy: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "endpoint": {"address": {"socket_address": {"address": address, "port_value": port}}}
    }
    out["health_status"] = "HEALTHY" if healthy else "UNHEALTHY"
    out["load_balancing_weight"] = 1
    return out


def _load_assignment(c: Cluster) -> dict[str, Any]:
    return {
        "cluster_name": c.name,
        "endpoints": [
            {
                "locality": {},
                "lb_endpoints": [_lb_endpoint(e.address, e.port, e.healthy) for e in c.endpoints],
                "load_balancing_weight": max(1, len(c.endpoints)),
            }
        ],
    }


def _endpoints_dump(ctx: AdminContext) -> dict[str, Any]:
    return {
        "@type": _T + "envoy.admin.v3.EndpointsConfigDump",
        "static_endpoint_configs": [
            {
                "endpoint_config": {
                    "@type": _T + "envoy.config.endpoint.v3.ClusterLoadAssignment",
                    **c["load_assignment"],
                }
            }
            for c in _static_clusters()
        ],
        "dynamic_endpoint_configs": [
            {
                "version_info": ctx.version_info,
                "endpoint_config": {
                    "@type": _T + "envoy.config.endpoint.v3.ClusterLoadAssignment",
                    **_load_assignment(c),
                },
                "last_updated": ctx.last_updated,
            }
            for c in ctx.proxy.clusters.values()
            if c.type == "EDS" and c.endpoints
        ],
    }


# ------------------------------------------------------------------------------ listeners


def _listeners_dump(ctx: AdminContext) -> dict[str, Any]:
    return {
        "@type": _T + "envoy.admin.v3.ListenersConfigDump",
        "version_info": ctx.version_info,
        "static_listeners": [
            {
                "listener": {"@type": _T + "envoy.config.listener.v3.Listener", **lst},
                "last_updated": ctx.last_updated,
            }
            for lst in _static_listeners()
        ],
        "dynamic_listeners": [
            {
                "name": lst.name,
                "active_state": {
                    "version_info": ctx.version_info,
                    "listener": listener_json(lst),
                    "last_updated": ctx.last_updated,
                },
            }
            for lst in ctx.proxy.listeners
        ],
    }


def listener_json(lst: Listener) -> dict[str, Any]:
    """One ``envoy.config.listener.v3.Listener``."""
    out: dict[str, Any] = {
        "@type": _T + "envoy.config.listener.v3.Listener",
        "name": lst.name,
        "address": {"socket_address": {"address": lst.address, "port_value": lst.port}},
    }
    if lst.filter_chains:  # (protobuf JSON leaves out empty repeated fields)
        out["filter_chains"] = [_filter_chain(fc) for fc in lst.filter_chains]
    if any(
        fc.filter_chain_match.server_names or fc.filter_chain_match.transport_protocol
        for fc in lst.filter_chains
    ):
        out["listener_filters"] = [
            {
                "name": "envoy.filters.listener.tls_inspector",
                "typed_config": {
                    "@type": _T + "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"
                },
            }
        ]
    if lst.traffic_direction != "UNSPECIFIED":
        out["traffic_direction"] = lst.traffic_direction
    if lst.default_filter_chain is not None:
        out["default_filter_chain"] = _filter_chain(lst.default_filter_chain)
    return out


def _filter_chain(fc: FilterChain) -> dict[str, Any]:
    out: dict[str, Any] = {}
    m = fc.filter_chain_match
    match: dict[str, Any] = {}
    if m.prefix_ranges:
        match["prefix_ranges"] = [_cidr(p) for p in m.prefix_ranges]
    if m.destination_port is not None:
        match["destination_port"] = m.destination_port
    if m.transport_protocol:
        match["transport_protocol"] = m.transport_protocol
    if m.application_protocols:
        match["application_protocols"] = list(m.application_protocols)
    if m.server_names:
        match["server_names"] = list(m.server_names)
    if match:
        out["filter_chain_match"] = match
    out["filters"] = [_network_filter(fc)]
    if fc.transport_socket is not None:
        out["transport_socket"] = _downstream_tls(fc.transport_socket)
    out["name"] = fc.name
    return out


def _cidr(prefix: str) -> dict[str, Any]:
    addr, _, length = prefix.partition("/")
    return {"address_prefix": addr, "prefix_len": int(length or (128 if ":" in addr else 32))}


def _network_filter(fc: FilterChain) -> dict[str, Any]:
    if fc.http_connection_manager is not None:
        h = fc.http_connection_manager
        cfg: dict[str, Any] = {
            "@type": _T + "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": h.stat_prefix,
            "rds": {"config_source": _ADS, "route_config_name": h.route_config_name},
            "http_filters": [_ROUTER],
        }
        if h.use_remote_address:
            cfg["use_remote_address"] = True
        if h.forward_client_cert_details:
            cfg["forward_client_cert_details"] = h.forward_client_cert_details
        cfg["server_name"] = h.server_name
        return {"name": "envoy.filters.network.http_connection_manager", "typed_config": cfg}
    t = fc.tcp_proxy
    cfg = {
        "@type": _T + "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
        "stat_prefix": t.stat_prefix if t else "",
    }
    if t is not None and t.weighted_clusters:
        cfg["weighted_clusters"] = {
            "clusters": [{"name": w.name, "weight": w.weight} for w in t.weighted_clusters]
        }
    elif t is not None and t.cluster:
        cfg["cluster"] = t.cluster
    return {"name": "envoy.filters.network.tcp_proxy", "typed_config": cfg}


def _downstream_tls(t: DownstreamTlsContext) -> dict[str, Any]:
    certs = t.certificate_sds_list or ((t.certificate_sds,) if t.certificate_sds else ())
    ctx = _tls_context("DownstreamTlsContext", certs, t.validation_sds, t.subject_alt_names, t.alpn_protocols)
    params: dict[str, Any] = {}
    if t.min_protocol_version:
        params["tls_minimum_protocol_version"] = t.min_protocol_version
    if t.max_protocol_version:
        params["tls_maximum_protocol_version"] = t.max_protocol_version
    if t.cipher_suites:
        params["cipher_suites"] = list(t.cipher_suites)
    if params:
        ctx["common_tls_context"] = {"tls_params": params, **ctx["common_tls_context"]}
    if t.require_client_certificate:
        ctx["require_client_certificate"] = True
    return {"name": "envoy.transport_sockets.tls", "typed_config": ctx}


# ------------------------------------------------------------------------------ routes


def _routes_dump(ctx: AdminContext) -> dict[str, Any]:
    return {
        "@type": _T + "envoy.admin.v3.RoutesConfigDump",
        "static_route_configs": [
            {
                "route_config": {
                    "@type": _T + "envoy.config.route.v3.RouteConfiguration",
                    **_static_route(s, p, c),
                },
                "last_updated": ctx.last_updated,
            }
            for _, s, p, c in _STATIC_ROUTES
        ],
        "dynamic_route_configs": [
            {
                "version_info": ctx.version_info,
                "route_config": route_config_json(rc),
                "last_updated": ctx.last_updated,
            }
            for rc in ctx.proxy.route_configs.values()
        ],
    }


def route_config_json(rc: RouteConfiguration) -> dict[str, Any]:
    """One ``envoy.config.route.v3.RouteConfiguration``."""
    out: dict[str, Any] = {
        "@type": _T + "envoy.config.route.v3.RouteConfiguration",
        "name": rc.name,
        "virtual_hosts": [_virtual_host(vh) for vh in rc.virtual_hosts],
        "validate_clusters": False,
    }
    if rc.ignore_port_in_host_matching:
        out["ignore_port_in_host_matching"] = True
    return out


def _virtual_host(vh: VirtualHost) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": vh.name,
        "domains": list(vh.domains),
        "routes": [_route(r) for r in vh.routes],
    }
    if not out["routes"]:
        del out["routes"]
    if vh.require_tls != "NONE":
        out["require_tls"] = vh.require_tls
    out["include_request_attempt_count"] = True
    return out


def _route(r: Route) -> dict[str, Any]:
    m = r.match
    match: dict[str, Any] = {}
    if m.prefix is not None:
        match["prefix"] = m.prefix
    if m.path is not None:
        match["path"] = m.path
    if m.safe_regex is not None:
        match["safe_regex"] = {"regex": m.safe_regex}
    if not m.case_sensitive:
        match["case_sensitive"] = False
    if m.headers:
        match["headers"] = [_header(h) for h in m.headers]
    out: dict[str, Any] = {"match": match}
    if r.route is not None:
        out["route"] = _route_action(r)
    if r.redirect is not None:
        red = {
            k: v
            for k, v in (
                ("scheme_redirect", r.redirect.scheme_redirect),
                ("host_redirect", r.redirect.host_redirect),
                ("port_redirect", r.redirect.port_redirect),
                ("path_redirect", r.redirect.path_redirect),
                ("prefix_rewrite", r.redirect.prefix_rewrite),
            )
            if v is not None
        }
        if r.redirect.response_code != 301:
            red["response_code"] = _REDIRECT_CODES.get(r.redirect.response_code, "MOVED_PERMANENTLY")
        out["redirect"] = red
    if r.direct_response is not None:
        d: dict[str, Any] = {"status": r.direct_response.status}
        if r.direct_response.body is not None:
            d["body"] = {"inline_string": r.direct_response.body}
        out["direct_response"] = d
    if r.origin:
        ns, _, name = r.origin.partition("/")
        out["metadata"] = {
            "filter_metadata": {
                "istio": {"config": f"/apis/networking.istio.io/v1/namespaces/{ns}/virtual-service/{name}"}
            }
        }
    if r.decorator_operation:
        out["decorator"] = {"operation": r.decorator_operation}
    if r.name:
        out["name"] = r.name
    return out


_REDIRECT_CODES = {302: "FOUND", 303: "SEE_OTHER", 307: "TEMPORARY_REDIRECT", 308: "PERMANENT_REDIRECT"}


def _header(h: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": h.name}
    if h.exact is not None:
        out["string_match"] = {"exact": h.exact}
    elif h.prefix is not None:
        out["string_match"] = {"prefix": h.prefix}
    elif h.safe_regex is not None:
        out["string_match"] = {"safe_regex": {"regex": h.safe_regex}}
    elif h.present is not None:
        out["present_match"] = h.present
    if h.invert_match:
        out["invert_match"] = True
    return out


def _route_action(r: Route) -> dict[str, Any]:
    a = r.route
    assert a is not None
    out: dict[str, Any] = {}
    if a.weighted_clusters:
        out["weighted_clusters"] = {
            "clusters": [{"name": w.name, "weight": w.weight} for w in a.weighted_clusters]
        }
    elif a.cluster:
        out["cluster"] = a.cluster
    if a.cluster_not_found_response_code == 503:
        out["cluster_not_found_response_code"] = "SERVICE_UNAVAILABLE"
    if a.prefix_rewrite is not None:
        out["prefix_rewrite"] = a.prefix_rewrite
    if a.host_rewrite_literal is not None:
        out["host_rewrite_literal"] = a.host_rewrite_literal
    out["timeout"] = _duration(a.timeout)
    if a.retry_policy is not None:
        rp = a.retry_policy
        retry: dict[str, Any] = {"retry_on": rp.retry_on, "num_retries": rp.num_retries}
        if rp.retriable_status_codes:
            retry["retriable_status_codes"] = list(rp.retriable_status_codes)
        out["retry_policy"] = retry
    if a.request_mirror_policies:
        out["request_mirror_policies"] = [
            {
                "cluster": m.cluster,
                "runtime_fraction": {
                    "default_value": {"numerator": int(m.runtime_fraction * 10000), "denominator": "MILLION"}
                },
            }
            for m in a.request_mirror_policies
        ]
    return out


# ------------------------------------------------------------------------------ secrets


def _secrets_dump(ctx: AdminContext) -> dict[str, Any]:
    active: list[dict[str, Any]] = []
    warming: list[dict[str, Any]] = []
    for name, m in ctx.proxy.secrets.items():
        secret: dict[str, Any] = {
            "@type": _T + "envoy.extensions.transport_sockets.tls.v3.Secret",
            "name": name,
        }
        if m.error or not (m.certificate_chain or m.trusted_ca):
            warming.append(
                {
                    "name": name,
                    "version_info": "uninitialized",
                    "last_updated": ctx.last_updated,
                    "secret": secret,
                }
            )
            continue
        if m.certificate_chain:
            secret["tls_certificate"] = {
                "certificate_chain": {"inline_bytes": base64.b64encode(m.certificate_chain).decode()},
                "private_key": {"inline_bytes": _REDACTED},
            }
        else:
            secret["validation_context"] = {
                "trusted_ca": {"inline_bytes": base64.b64encode(m.trusted_ca or b"").decode()}
            }
        active.append(
            {
                "name": name,
                "version_info": ctx.version_info,
                "last_updated": ctx.last_updated,
                "secret": secret,
            }
        )
    chain, root = ctx.workload_cert
    active.append(
        {
            "name": "default",
            "version_info": ctx.version_info,
            "last_updated": ctx.last_updated,
            "secret": {
                "@type": _T + "envoy.extensions.transport_sockets.tls.v3.Secret",
                "name": "default",
                "tls_certificate": {
                    "certificate_chain": {"inline_bytes": base64.b64encode(chain).decode()},
                    "private_key": {"inline_bytes": _REDACTED},
                },
            },
        }
    )
    active.append(
        {
            "name": "ROOTCA",
            "version_info": ctx.version_info,
            "last_updated": ctx.last_updated,
            "secret": {
                "@type": _T + "envoy.extensions.transport_sockets.tls.v3.Secret",
                "name": "ROOTCA",
                "validation_context": {"trusted_ca": {"inline_bytes": base64.b64encode(root).decode()}},
            },
        }
    )
    out: dict[str, Any] = {"@type": _T + "envoy.admin.v3.SecretsConfigDump", "dynamic_active_secrets": active}
    if warming:
        out["dynamic_warming_secrets"] = warming
    return out


# ------------------------------------------------------------------------------ /clusters


def _host(address: dict[str, Any], healthy: bool) -> dict[str, Any]:
    return {
        "address": address,
        "stats": [
            {"name": "cx_connect_fail"},
            {"name": "cx_total"},
            {"name": "rq_error"},
            {"name": "rq_success"},
            {"name": "rq_timeout"},
            {"name": "rq_total"},
            {"type": "GAUGE", "name": "cx_active"},
            {"type": "GAUGE", "name": "rq_active"},
        ],
        "health_status": {"eds_health_status": "HEALTHY" if healthy else "UNHEALTHY"},
        "weight": 1,
        "locality": {},
    }


def clusters_json(ctx: AdminContext) -> dict[str, Any]:
    """``/clusters?format=json`` (``envoy.admin.v3.Clusters``): every cluster and its hosts."""
    statuses: list[dict[str, Any]] = []
    for c in ctx.proxy.clusters.values():
        entry: dict[str, Any] = {"name": c.name, "added_via_api": True}
        hosts = [
            _host({"socket_address": {"address": e.address, "port_value": e.port}}, e.healthy)
            for e in c.endpoints
        ]
        if hosts and c.type != "ORIGINAL_DST":
            entry["host_statuses"] = hosts
        entry["observability_name"] = c.name
        statuses.append(entry)
    for name, address in _STATIC_CLUSTERS:
        statuses.append({"name": name, "host_statuses": [_host(address, True)], "observability_name": name})
    return {"cluster_statuses": statuses}


def clusters_text(ctx: AdminContext) -> str:
    """``/clusters`` (text): ``<cluster>::<host>::health_flags::healthy`` lines, abridged."""
    lines = []
    for c in ctx.proxy.clusters.values():
        lines.append(f"{c.name}::observability_name::{c.name}")
        for e in c.endpoints if c.type != "ORIGINAL_DST" else ():
            flags = "healthy" if e.healthy else "/failed_eds_health"
            lines.append(f"{c.name}::{e.address}:{e.port}::health_flags::{flags}")
    return "\n".join(lines) + "\n"


def server_info(ctx: AdminContext) -> dict[str, Any]:
    """``/server_info`` (abridged): the state and the node."""
    major, minor, patch = ENVOY_VERSION
    return {
        "version": f"{ISTIO_PROXY_SHA}/{major}.{minor}.{patch}-dev/Clean/RELEASE/BoringSSL",
        "state": "LIVE",
        "node": bootstrap(ctx)["node"],
    }


def stats_text(ctx: AdminContext, *, prometheus: bool = False) -> str:
    """``/stats``: the sandbox keeps no Envoy counters; server state and the config's sizes only."""
    values = {
        "server.live": 1,
        "server.state": 0,
        "listener_manager.total_listeners_active": len(ctx.proxy.listeners) + len(_STATIC_ROUTES),
        "cluster_manager.active_clusters": len(ctx.proxy.clusters) + len(_STATIC_CLUSTERS),
    }
    if prometheus:
        return "".join(f"envoy_{k.replace('.', '_')} {v}\n" for k, v in sorted(values.items()))
    return "".join(f"{k}: {v}\n" for k, v in sorted(values.items()))
