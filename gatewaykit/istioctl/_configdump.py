"""istioctl's config-dump writers: the tables and JSON/YAML of ``proxy-config`` (istioctl 1.27.1).

A port of ``istioctl/pkg/writer/envoy/configdump`` (listeners, routes, clusters, secrets, the ``all``
summary, the bootstrap) and ``writer/envoy/clusters`` (endpoints, from ``/clusters?format=json``),
aligned with Go's tabwriter. ``-o json`` prints the protos as istioctl's ``jsonpb`` does
(lowerCamelCase names, 4-space indentation, ``<>&`` escaped); ``-o yaml`` is that JSON as YAML
(keys sorted, as ``sigs.k8s.io/yaml`` writes it). The commands around them are :mod:`._proxyconfig`'s.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from gatewaykit.istioctl._cli import CommandError, Flags
from gatewaykit.istioctl._tabwriter import tabwrite

__all__ = [
    "ConfigDump",
    "bootstrap_summary",
    "cluster_filter",
    "cluster_summary",
    "dump_protos",
    "eds_summary",
    "endpoint_filter",
    "endpoint_summary",
    "go_json",
    "go_yaml",
    "listener_filter",
    "listener_summary",
    "route_summary",
    "secret_summary",
    "to_proto_json",
]


def _camel(name: str) -> str:
    if name.startswith("@"):
        return name
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def to_proto_json(value: Any) -> Any:
    """Envoy's snake_case JSON as istioctl's ``jsonpb`` prints it (lowerCamelCase field names).

    ``Struct`` values (``filter_metadata`` entries, node ``metadata``) keep their keys.
    """
    if isinstance(value, list):
        return [to_proto_json(v) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for k, v in value.items():
        if k == "filter_metadata" and isinstance(v, dict):
            out[_camel(k)] = v
        elif k == "metadata" and isinstance(v, dict) and "filter_metadata" not in v:
            out[k] = v
        else:
            out[_camel(k)] = to_proto_json(v)
    return out


def go_json(value: Any, indent: int = 4) -> str:
    """``json.MarshalIndent``: Go's separators and HTML escaping of ``<``, ``>``, ``&``."""
    text = json.dumps(value, indent=indent, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def go_yaml(value: Any) -> str:
    """``yaml.JSONToYAML``: keys sorted, block style."""
    import yaml  # noqa: PLC0415

    return str(
        yaml.safe_dump(value, sort_keys=True, default_flow_style=False, allow_unicode=True, width=1 << 30)
    )


def dump_protos(items: list[Any], fmt: str) -> str:
    converted = [to_proto_json(i) for i in items]
    text = go_json(converted)
    return (go_yaml(json.loads(text)) if fmt == "yaml" else text) + "\n"


class ConfigDump:
    """A parsed ``/config_dump`` (``configdump.Wrapper``)."""

    def __init__(self, raw: bytes) -> None:
        try:
            self.doc = json.loads(raw)
        except ValueError as exc:
            raise CommandError(f"error unmarshalling config dump response from Envoy: {exc}") from None

    def section(self, type_suffix: str) -> dict[str, Any]:
        for c in self.doc.get("configs") or []:
            if str(c.get("@type", "")).endswith("." + type_suffix):
                return dict(c)
        return {}

    def listeners(self) -> list[dict[str, Any]]:
        dump = self.section("ListenersConfigDump")
        out = [
            d["active_state"]["listener"]
            for d in dump.get("dynamic_listeners") or []
            if d.get("active_state")
        ]
        out += [d["listener"] for d in dump.get("static_listeners") or [] if d.get("listener")]
        if not out:
            raise CommandError("no listeners found")
        return out

    def routes(self) -> list[dict[str, Any]]:
        dump = self.section("RoutesConfigDump")
        out = [d["route_config"] for d in dump.get("dynamic_route_configs") or [] if d.get("route_config")]
        out += [d["route_config"] for d in dump.get("static_route_configs") or [] if d.get("route_config")]
        if not out:
            raise CommandError("no routes found")
        return _go_insertion_sort(out, _route_less)

    def clusters(self) -> list[dict[str, Any]]:
        dump = self.section("ClustersConfigDump")
        out = [d["cluster"] for d in dump.get("dynamic_active_clusters") or [] if d.get("cluster")]
        out += [d["cluster"] for d in dump.get("static_clusters") or [] if d.get("cluster")]
        if not out:
            raise CommandError("no clusters found")
        return sorted(out, key=lambda c: _subset_sort_key(c.get("name", "")))

    def secrets(self) -> dict[str, Any]:
        return self.section("SecretsConfigDump")

    def bootstrap(self) -> dict[str, Any]:
        return dict(self.section("BootstrapConfigDump").get("bootstrap") or {})

    def endpoints(self) -> list[dict[str, Any]]:
        dump = self.section("EndpointsConfigDump")
        out = [
            d["endpoint_config"]
            for d in dump.get("dynamic_endpoint_configs") or []
            if d.get("endpoint_config")
        ]
        out += [
            d["endpoint_config"]
            for d in dump.get("static_endpoint_configs") or []
            if d.get("endpoint_config")
        ]
        return sorted(out, key=lambda c: _subset_sort_key(c.get("cluster_name", "")))


def _go_insertion_sort(items: list[Any], less: Callable[[Any, Any], bool]) -> list[Any]:
    """Go's ``sort.Slice`` on short slices (insertion sort): what istioctl's route order comes from."""
    out = list(items)
    for i in range(1, len(out)):
        j = i
        while j > 0 and less(out[j], out[j - 1]):
            out[j], out[j - 1] = out[j - 1], out[j]
            j -= 1
    return out


def _route_less(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """retrieveSortedRouteSlice's comparator: numeric names by value, anything else "not less"."""
    an, bn = str(a.get("name", "")), str(b.get("name", ""))
    if not (an.lstrip("-").isdigit() and bn.lstrip("-").isdigit()):
        return False
    return int(an) < int(bn)


def parse_subset_key(name: str) -> tuple[str, str, str, int]:
    """``model.ParseSubsetKey``: ``outbound|8000|v1|httpbin.default.svc.cluster.local``."""
    parts = name.split("|")
    port = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    return parts[0], parts[2] if len(parts) > 2 else "", parts[3] if len(parts) > 3 else "", port


def _subset_sort_key(name: str) -> tuple[str, str, int, str]:
    if len(name.split("|")) > 3:
        direction, subset, fqdn, port = parse_subset_key(name)
        return fqdn, subset, port, direction
    return name, "", 0, ""


def _listener_addr(lst: Mapping[str, Any]) -> str:
    addr = lst.get("address") or {}
    if "socket_address" in addr:
        return str(addr["socket_address"].get("address", ""))
    return str((addr.get("pipe") or {}).get("path", ""))


def _listener_port(lst: Mapping[str, Any]) -> int:
    return int(((lst.get("address") or {}).get("socket_address") or {}).get("port_value", 0))


def _chains(lst: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = list(lst.get("filter_chains") or [])
    if lst.get("default_filter_chain"):
        out.append(lst["default_filter_chain"])
    return out


def _is_blackhole_tcp(f: Mapping[str, Any]) -> bool:
    return "BlackHoleCluster" in json.dumps(f.get("typed_config") or {})


def listener_type(lst: Mapping[str, Any]) -> str:
    """``retrieveListenerType``: HTTP, TCP, HTTP+TCP or UNKNOWN."""
    n_http = n_tcp = 0
    for fc in _chains(lst):
        for f in fc.get("filters") or []:
            if f.get("name") == "envoy.filters.network.http_connection_manager":
                n_http += 1
            elif f.get("name") == "envoy.filters.network.tcp_proxy" and not _is_blackhole_tcp(f):
                n_tcp += 1
    if n_http:
        return "HTTP" if not n_tcp else "HTTP+TCP"
    return "TCP" if n_tcp else "UNKNOWN"


_PROT_DESCRS = (
    ("App: HTTP TLS", ["http/1.0", "http/1.1", "h2c", "istio-http/1.0", "istio-http/1.1", "istio-h2"]),
    ("App: Istio HTTP Plain", ["istio", "istio-http/1.0", "istio-http/1.1", "istio-h2"]),
    ("App: TCP TLS", ["istio-peer-exchange", "istio"]),
    ("App: HTTP", ["http/1.0", "http/1.1", "h2c"]),
)


def describe_chain_match(match: Mapping[str, Any] | None) -> str:
    """``getMatches``: ``SNI: a,b; Trans: tls; App: ...; Addr: ...`` or ``ALL``."""
    m = match or {}
    descrs = []
    if m.get("server_names"):
        descrs.append("SNI: " + ",".join(m["server_names"]))
    if m.get("transport_protocol"):
        descrs.append(f"Trans: {m['transport_protocol']}")
    apps = list(m.get("application_protocols") or [])
    if apps:
        known = next((d for d, protos in _PROT_DESCRS if protos == apps), None)
        descrs.append(known or "App: " + ",".join(apps))
    port = f":{m['destination_port']}" if m.get("destination_port") is not None else ""
    if m.get("prefix_ranges"):
        pf = ",".join(f"{p['address_prefix']}/{p.get('prefix_len', 0)}" for p in m["prefix_ranges"])
        descrs.append(f"Addr: {pf}{port}")
    elif port:
        descrs.append(f"Addr: *{port}")
    return "; ".join(descrs) if descrs else "ALL"


def _describe_match(match: Mapping[str, Any]) -> str:
    conds = []
    if match.get("prefix"):
        conds.append(f"{match['prefix']}*")
    if match.get("path_separated_prefix"):
        conds.append(f"PathPrefix:{match['path_separated_prefix']}")
    if match.get("path"):
        conds.append(match["path"])
    if match.get("safe_regex"):
        conds.append(f"regex {match['safe_regex'].get('regex', '')}")
    return " ".join(conds)


def _describe_route_config(rc: Mapping[str, Any]) -> str:
    vhs = rc.get("virtual_hosts") or []
    if len(vhs) == 1 and vhs[0].get("domains") == ["*"] and len(vhs[0].get("routes") or []) == 1:
        r = vhs[0]["routes"][0]
        cluster = (r.get("route") or {}).get("cluster")
        if (r.get("match") or {}).get("prefix") == "/" and cluster:
            return cluster if "Cluster" in cluster else f"Cluster: {cluster}"
    parts = []
    for vh in vhs:
        domains = "" if vh.get("domains") == ["*"] else "/".join(vh.get("domains") or [])
        routes = ", ".join(_describe_match(r.get("match") or {}) for r in vh.get("routes") or [])
        parts.append(routes if not domains else f"{domains} {routes}")
    return "Inline Route: " + "; ".join(parts)


def filter_destination(fc: Mapping[str, Any]) -> str:
    """``getFilterType``: ``Route: http.8080``, ``Cluster: outbound|...``, ``Inline Route: ...``."""
    for f in fc.get("filters") or []:
        cfg = f.get("typed_config") or {}
        if f.get("name") == "envoy.filters.network.http_connection_manager":
            if cfg.get("route_config") is not None:
                return _describe_route_config(cfg["route_config"])
            name = (cfg.get("rds") or {}).get("route_config_name")
            return f"Route: {name}" if name else "HTTP"
        if f.get("name") == "envoy.filters.network.tcp_proxy" and not _is_blackhole_tcp(f):
            cluster = str(cfg.get("cluster", ""))
            return cluster if "Cluster" in cluster else f"Cluster: {cluster}"
    return "Non-HTTP/Non-TCP"


def listener_filter(flags: Flags) -> Callable[[Mapping[str, Any]], bool]:
    address, port, ltype = flags.get("address") or "", int(flags.get("port") or 0), flags.get("type") or ""

    def ok(lst: Mapping[str, Any]) -> bool:
        if address and address.lower() != _listener_addr(lst).lower():
            return False
        if port and _listener_port(lst) != port:
            return False
        return not (ltype and ltype.lower() != listener_type(lst).lower())

    return ok


def listener_summary(dump: ConfigDump, flags: Flags, *, config_type: bool = False) -> str:
    """``PrintListenerSummary`` (padding 1)."""
    ok = listener_filter(flags)
    lsts = sorted(
        (lst for lst in dump.listeners() if ok(lst)),
        key=lambda lst: (_listener_port(lst), _listener_addr(lst), listener_type(lst)),
    )
    verbose = flags.get("verbose", True)
    head = (
        ("NAME\t" if config_type else "")
        + "ADDRESSES\tPORT"
        + ("\tMATCH\tDESTINATION" if verbose else "\tTYPE")
    )
    rows = [head]
    for lst in lsts:
        lead = f"listener/{lst.get('name', '')}\t" if config_type else ""
        addr, port = _listener_addr(lst), _listener_port(lst)
        if not verbose:
            rows.append(f"{lead}{addr}\t{port}\t{listener_type(lst)}")
            continue
        matches = [
            (describe_chain_match(fc.get("filter_chain_match")), filter_destination(fc))
            for fc in _chains(lst)
        ]
        for match, dest in sorted(matches, key=lambda m: m[1], reverse=True):
            rows.append(f"{lead}{addr}\t{port}\t{match}\t{dest}")
    return tabwrite("\n".join(rows) + "\n", padding=1)


def _route_domains(domains: list[str]) -> str:
    """``describeRouteDomains``: one domain, else the shortest forms (up to 2 and ``+ N more...``)."""
    if not domains:
        return ""
    if len(domains) == 1:
        return domains[0]
    without_port = [d for d in domains if ":" not in d or (d.count(":") > 2 and d.endswith("]"))]
    unique = set(without_port)
    drop = {
        h
        for h in without_port
        for suffix in (".svc.cluster.local", ".svc")
        if h.endswith(suffix) and h[: -len(suffix)] in unique
    }
    kept = [h for h in without_port if h not in drop]
    if len(kept) > 2:
        return f"{', '.join(kept[:2])} + {len(kept) - 2} more..."
    return ", ".join(kept)


def _management(meta: Mapping[str, Any] | None, kind_word: str = "") -> str:
    """``describeManagement``: ``/apis/networking.istio.io/v1/namespaces/ns/kind/name`` → ``name.ns``."""
    config = (((meta or {}).get("filter_metadata") or {}).get("istio") or {}).get("config")
    if not isinstance(config, str):
        return ""
    if config.startswith("/apis/networking.istio.io/"):
        pieces = config.split("/")
        return f"{pieces[7]}.{pieces[5]}" if len(pieces) == 8 else ""
    return "<unknown>"


def route_summary(dump: ConfigDump, flags: Flags, *, config_type: bool = False) -> str:
    """``PrintRouteSummary`` (padding 5)."""
    verbose = flags.get("verbose", True)
    wanted = flags.get("name") or ""
    rows = ["NAME\tVHOST NAME\tDOMAINS\tMATCH\tVIRTUAL SERVICE" if verbose else "NAME\tVIRTUAL HOSTS"]
    for rc in dump.routes():
        name = str(rc.get("name", ""))
        if wanted and wanted != name:
            continue
        shown = f"route/{name}" if config_type else name
        vhs = rc.get("virtual_hosts") or []
        if not verbose:
            rows.append(f"{shown}\t{len(vhs)}")
            continue
        for vh in vhs:
            domains = _route_domains(list(vh.get("domains") or []))
            for r in vh.get("routes") or []:
                if (r.get("route") or {}).get("cluster") == "PassthroughCluster":
                    continue
                rows.append(
                    f"{shown}\t{vh.get('name', '')}\t{domains}\t"
                    f"{_describe_match(r.get('match') or {})}\t{_management(r.get('metadata'))}"
                )
            if not vh.get("routes"):
                rows.append(f"{shown}\t{vh.get('name', '')}\t{domains}\t/*\t404")
    return tabwrite("\n".join(rows) + "\n", padding=5)


def cluster_filter(flags: Flags) -> Callable[[str], bool]:
    fqdn, direction, subset = flags.get("fqdn") or "", flags.get("direction") or "", flags.get("subset") or ""
    port = int(flags.get("port") or 0)

    def ok(name: str) -> bool:
        if fqdn and fqdn not in name:
            return False
        if direction and direction not in name:
            return False
        if subset and subset not in name:
            return False
        return not (port and f"|{port}|" not in name)

    return ok


def cluster_summary(dump: ConfigDump, flags: Flags, *, config_type: bool = False) -> str:
    """``PrintClusterSummary`` (padding 5)."""
    ok = cluster_filter(flags)
    head = "SERVICE FQDN\tPORT\tSUBSET\tDIRECTION\tTYPE\tDESTINATION RULE"
    rows = [("NAME\t" if config_type else "") + head]
    for c in dump.clusters():
        name = str(c.get("name", ""))
        if not ok(name):
            continue
        ctype = c.get("type", "STATIC")
        dr = _management(c.get("metadata"))
        lead = f"cluster/{name}\t" if config_type and name else ""
        if len(name.split("|")) > 3:
            direction, subset, fqdn, port = parse_subset_key(name)
            rows.append(f"{lead}{fqdn}\t{port}\t{subset or '-'}\t{direction}\t{ctype}\t{dr}")
        else:
            # istioctl renames the cluster before printing it, so both columns say cluster/<name>.
            shown = f"cluster/{name}" if lead else name
            rows.append(f"{lead}{shown}\t-\t-\t-\t{ctype}\t{dr}")
    return tabwrite("\n".join(rows) + "\n", padding=5)


def _host_address(h: Mapping[str, Any]) -> tuple[str, int]:
    addr = h.get("address") or {}
    if "socket_address" in addr:
        sa = addr["socket_address"]
        return str(sa.get("address", "")), int(sa.get("port_value", 0))
    if "pipe" in addr:
        return "unix://" + str(addr["pipe"].get("path", "")), 0
    internal = addr.get("envoy_internal_address")
    if isinstance(internal, dict) and "server_listener_name" in internal:
        return f"envoy://{internal['server_listener_name']}/{internal.get('endpoint_id', '')}", 0
    return "unknown", 0


def endpoint_filter(flags: Flags) -> Callable[[Mapping[str, Any], str], bool]:
    address, port = flags.get("address") or "", int(flags.get("port") or 0)
    cluster, status = flags.get("cluster") or "", flags.get("status") or ""

    def ok(host: Mapping[str, Any], cname: str) -> bool:
        addr, p = _host_address(host)
        if address and address.lower() != addr.lower():
            return False
        if port and p != port:
            return False
        if cluster and cluster.lower() != cname.lower():
            return False
        health = (host.get("health_status") or {}).get("eds_health_status", "UNKNOWN")
        return not (status and status.lower() != str(health).lower())

    return ok


def endpoint_summary(clusters: Mapping[str, Any], flags: Flags) -> str:
    """``clusters.PrintEndpointsSummary`` (``/clusters?format=json``; padding 5)."""
    ok = endpoint_filter(flags)
    entries = []
    for c in clusters.get("cluster_statuses") or []:
        for h in c.get("host_statuses") or []:
            if ok(h, c.get("name", "")):
                addr, port = _host_address(h)
                health = (h.get("health_status") or {}).get("eds_health_status", "UNKNOWN")
                outlier = "FAILED" if (h.get("health_status") or {}).get("failed_outlier_check") else "OK"
                entries.append((addr, port, str(c.get("name", "")), health, outlier))
    entries.sort(key=lambda e: (e[0], e[1], e[2]))
    rows = ["ENDPOINT\tSTATUS\tOUTLIER CHECK\tCLUSTER"]
    rows += [f"{a}:{p}\t{h}\t{o}\t{c}" if p else f"{a}\t{h}\t{o}\t{c}" for a, p, c, h, o in entries]
    return tabwrite("\n".join(rows) + "\n", padding=5)


def eds_summary(dump: ConfigDump, flags: Flags) -> str:
    """``configdump.PrintEndpointsSummary`` (the ``all`` view, from the EDS dump)."""
    ok = endpoint_filter(flags)
    rows = ["NAME\tSTATUS\tLOCALITY\tCLUSTER"]
    for cla in dump.endpoints():
        cname = cla.get("cluster_name", "")
        for llb in cla.get("endpoints") or []:
            for ep in llb.get("lb_endpoints") or []:
                host = {
                    "address": (ep.get("endpoint") or {}).get("address") or {},
                    "health_status": {"eds_health_status": ep.get("health_status", "UNKNOWN")},
                }
                if not ok(host, cname):
                    continue
                addr, port = _host_address(host)
                if addr.startswith("unix://"):
                    shown = addr[len("unix://") :]
                elif addr.startswith("envoy://"):
                    shown = addr
                else:
                    shown = f"{addr}:{port}"
                rows.append(f"endpoint/{shown}\t{ep.get('health_status', 'UNKNOWN')}\t\t{cname}")
    return tabwrite("\n".join(rows) + "\n", padding=5)


def _secret_items(dump: ConfigDump) -> list[dict[str, Any]]:
    """``sdscompare.GetEnvoySecrets``: warming first, then active; certificates parsed."""
    import base64  # noqa: PLC0415

    section = dump.secrets()
    items = []
    for state, key in (("WARMING", "dynamic_warming_secrets"), ("ACTIVE", "dynamic_active_secrets")):
        for s in section.get(key) or []:
            secret = s.get("secret") or {}
            chain = ((secret.get("tls_certificate") or {}).get("certificate_chain") or {}).get("inline_bytes")
            ca = (((secret.get("validation_context") or {}).get("trusted_ca")) or {}).get("inline_bytes")
            inline = chain or ca
            data = base64.b64decode(inline) if isinstance(inline, str) and inline else b""
            item = {"name": s.get("name", ""), "state": state, **_cert_meta(data)}
            if state == "ACTIVE" and s.get("version_info") == "uninitialized":
                item["state"] = "UNINITIALIZED"
            items.append(item)
    return items


def _cert_meta(pem: bytes) -> dict[str, Any]:
    """``secretMetaFromCert``: type, validity, serial (``%x``), dates (RFC 3339)."""
    empty = {"type": "", "valid": False, "serial": "", "not_after": "", "not_before": "", "trust_domain": ""}
    if not pem:
        return empty
    import datetime  # noqa: PLC0415

    from cryptography import x509  # noqa: PLC0415

    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        return empty
    try:
        is_ca = bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        is_ca = False
    trust = ""
    try:
        for uri in cert.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        ).value.get_values_for_type(x509.UniformResourceIdentifier):
            if uri.startswith("spiffe://"):
                trust = uri[len("spiffe://") :].split("/", 1)[0]
    except x509.ExtensionNotFound:
        pass
    before, after = cert.not_valid_before_utc, cert.not_valid_after_utc
    now = datetime.datetime.now(datetime.timezone.utc)
    return {
        "type": "CA" if is_ca else "Cert Chain",
        "valid": before < now < after,
        "serial": f"{cert.serial_number:x}",
        "not_after": after.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "not_before": before.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "trust_domain": trust,
    }


def secret_summary(dump: ConfigDump, *, config_type: bool = False) -> str:
    """``PrintSecretSummary`` (``sdsWriter`` tabular; minwidth 0, padding 5)."""
    section = dump.secrets()
    if not section.get("dynamic_active_secrets") and not section.get("dynamic_warming_secrets"):
        return "No active or warming secrets found.\n"
    items = _secret_items(dump)
    if not items:
        return "No secret items to show.\n"
    cols = ["RESOURCE NAME", "TYPE", "STATUS", "VALID CERT", "SERIAL NUMBER", "NOT AFTER", "NOT BEFORE"]
    with_trust = all(i["trust_domain"] for i in items)
    if with_trust:
        cols.append("TRUST DOMAIN")
    rows = ["\t".join(cols)]
    for i in items:
        name = f"secret/{i['name']}" if config_type else i["name"]
        cells = [
            name,
            i["type"],
            i["state"],
            "true" if i["valid"] else "false",
            i["serial"],
            i["not_after"],
            i["not_before"],
        ]
        if with_trust:
            cells.append(i["trust_domain"])
        rows.append("\t".join(cells))
    return tabwrite("\n".join(rows) + "\n", padding=5)


def bootstrap_summary(dump: ConfigDump) -> str:
    """``PrintBootstrapSummary`` (padding 1)."""
    node = dump.bootstrap().get("node") or {}
    md = node.get("metadata") or {}
    rows = []
    if md.get("ISTIO_VERSION"):
        rows.append(f"Istio Version:\t{md['ISTIO_VERSION']}")
    sha = str(md.get("ISTIO_PROXY_SHA", ""))
    if sha:
        rows.append(f"Istio Proxy Version:\t{sha.split(':', 1)[1] if ':' in sha else sha}")
    build = node.get("user_agent_build_version") or {}
    v = build.get("version") or {}
    bmd = build.get("metadata") or {}
    envoy = f"{v.get('major_number', 0)}.{v.get('minor_number', 0)}.{v.get('patch', 0)}"
    if "build.label" in bmd:
        envoy += f"-{bmd['build.label']}"
    for key in ("revision.status", "build.type", "ssl.version"):
        if key in bmd:
            envoy += f"/{bmd[key]}"
    rows.append(f"Envoy Version:\t{envoy}")
    return tabwrite("\n".join(rows) + "\n", padding=1)
