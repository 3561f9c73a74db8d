"""Topology: a Mermaid flowchart of client → gateway → service / outside host.

Drawn from the manifests the kit applied (pure: no backend call). JupyterLab ≥ 4.1 renders the
``text/vnd.mermaid`` output. The edge to the last request's destination is drawn thick.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["mermaid"]


def _node(text: str) -> str:
    return "n_" + re.sub(r"[^A-Za-z0-9]", "_", text)


def _ns(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "default")


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name"))


def _short_host(host: str, ns: str) -> str:
    """``httpbin`` in ``default`` → ``httpbin.default`` (what the cluster name's FQDN starts with)."""
    return host if "." in host else f"{host}.{ns}"


def mermaid(objects: Iterable[Mapping[str, Any]], last: Any = None) -> str:
    """A Mermaid ``flowchart LR`` of the applied Gateways, VirtualServices, ServiceEntries and Services.

    Args:
        objects: applied manifests (dicts).
        last: the last :class:`~gatewaykit.kit.session.CurlOutcome`; the destination its explanation
            (or command) names is highlighted.
    """
    objs = list(objects)
    lines = ["flowchart LR", '  client(["curl (your machine)"])']
    edges: list[tuple[str, str, str]] = []
    dotted: list[tuple[str, str, str]] = []
    gateways: dict[str, str] = {}  # "<ns>/<name>" -> node of its workload
    for gw in (o for o in objs if o.get("kind") == "Gateway"):
        sel = (gw.get("spec") or {}).get("selector") or {}
        label = ",".join(f"{k}={v}" for k, v in sorted(sel.items())) or "all gateways"
        node = _node("wl_" + label)
        if f"  {node}" not in "\n".join(lines):
            lines.append(f'  {node}[["gateway workload<br/>{label}"]]')
        gateways[f"{_ns(gw)}/{_name(gw)}"] = node
        ports = sorted(
            {str((s.get("port") or {}).get("number")) for s in (gw.get("spec") or {}).get("servers") or []}
        )
        src = "mesh_client" if "egress" in label else "client"
        edges.append((src, node, f"Gateway {_name(gw)} :{','.join(ports)}"))
    mesh_used = False
    gateway_objs = {f"{_ns(g)}/{_name(g)}": g for g in objs if g.get("kind") == "Gateway"}
    for vs in (o for o in objs if o.get("kind") == "VirtualService"):
        spec = vs.get("spec") or {}
        ns = _ns(vs)
        dests = sorted(_destinations(spec, ns))
        for g in spec.get("gateways") or ["mesh"]:
            if g == "mesh":
                mesh_used = True
                refused: list[str] = []
                bound, hosts = "mesh_client", list(spec.get("hosts") or [])
            else:
                full = g if "/" in g else f"{ns}/{g}"
                if full not in gateways:
                    continue
                bound = gateways[full]
                hosts, refused = _admitted(spec.get("hosts") or [], ns, gateway_objs[full])
            for d in dests:
                node = _node("svc_" + d)
                if node not in "\n".join(lines):
                    lines.append(f'  {node}["{d}"]')
                if hosts:
                    edges.append((bound, node, ",".join(hosts)))
                if refused:
                    # Istio ignores these hosts of the VirtualService on this Gateway: a 404.
                    dotted.append((bound, node, ",".join(refused) + ": not admitted by the Gateway (404)"))
    for se in (o for o in objs if o.get("kind") == "ServiceEntry"):
        for h in (se.get("spec") or {}).get("hosts") or []:
            node = _node("svc_" + h)
            if node not in "\n".join(lines):
                lines.append(f'  {node}{{{{"{h} (ServiceEntry)"}}}}')
            mesh_used = True
            edges.append(("mesh_client", node, "registered"))
    if mesh_used:
        lines.insert(2, '  mesh_client(["default/curl + sidecar"])')
    target = _target(last)
    highlight = []
    for i, (a, b, label) in enumerate(edges):
        text = label.replace('"', "'")
        lines.append(f'  {a} -->|"{text}"| {b}' if text else f"  {a} --> {b}")
        if target and target in b:
            highlight.append(i)
    for a, b, label in dotted:
        lines.append(f'  {a} -.->|"{label}"| {b}')
    for i in highlight:
        lines.append(f"  linkStyle {i} stroke-width:4px,stroke:#e8590c")
    return "\n".join(lines) + "\n"


def _destinations(spec: Mapping[str, Any], ns: str) -> set[str]:
    out: set[str] = set()
    for block in ("http", "tcp", "tls"):
        for rule in spec.get(block) or []:
            for r in rule.get("route") or []:
                d = r.get("destination") or {}
                if d.get("host"):
                    out.add(_short_host(str(d["host"]), ns))
    return out


def _host_matches(a: str, b: str) -> bool:
    """Two host names overlap (either may be a ``*.suffix`` wildcard, ``*`` matches all)."""
    a, b = a.lower(), b.lower()
    if a == "*" or b == "*" or a == b:
        return True
    if a.startswith("*.") and b.endswith(a[1:]):
        return True
    return b.startswith("*.") and a.endswith(b[1:])


def _admitted(hosts: list[str], vs_ns: str, gateway: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """Which of a VirtualService's hosts a Gateway admits, and which it does not.

    A Gateway server host is ``[namespace/]dnsName`` (``*/``, ``./`` = the Gateway's namespace,
    or a namespace); a VirtualService host binds when its namespace is allowed and the names
    overlap (https://istio.io/latest/docs/reference/config/networking/gateway/#Server).
    """
    allowed = []
    for server in (gateway.get("spec") or {}).get("servers") or []:
        for h in server.get("hosts") or []:
            space, _, name = h.rpartition("/")
            space = _ns(gateway) if space == "." else (space or "*")
            allowed.append((space, name))
    ok: list[str] = []
    refused: list[str] = []
    for host in hosts:
        admitted = any(space in ("*", vs_ns) and _host_matches(name, host) for space, name in allowed)
        (ok if admitted else refused).append(host)
    return ok, refused


def _target(last: Any) -> str | None:
    """The node fragment for the last request's destination: the cluster of its last hop."""
    if last is None:
        return None
    hops = last.result.explanation
    cluster = hops[-1][1].cluster if hops else None
    if isinstance(cluster, str) and "|" in cluster:
        host = cluster.split("|")[-1]
        parts = host.split(".")
        short = ".".join(parts[:2]) if host.endswith(".svc.cluster.local") else host
        return re.sub(r"[^A-Za-z0-9]", "_", "svc_" + short)
    return None
