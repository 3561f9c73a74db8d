"""``istioctl x describe pod``: a pod, its Services, the DestinationRules and VirtualServices its proxy
was given, and the ingress gateways that expose it (``istioctl/pkg/describe/describe.go`` at 1.27.1).

Like the real command it reads the pod's and the ingress gateways' Envoy config (``/config_dump``,
here through the API server's pod proxy) to find which DestinationRule and VirtualService apply
(their ``istio.config`` metadata), then prints them from the API. PeerAuthentication is not served by
the sandbox: the effective mode is the mesh default, ``PERMISSIVE``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from gatewaykit.istioctl._cli import CommandError, Flags, Streams
from gatewaykit.istioctl._client import ApiStatus, Client, ClientError, resource_path
from gatewaykit.istioctl._proxyconfig import default_namespace, fetch_admin, infer_ns
from gatewaykit.resources import protocol as P

__all__ = ["run_describe_pod"]

_SEP = "--------------------\n"
_REQUIREMENTS = "https://istio.io/v1.27/docs/ops/deployment/requirements/"
_VS_PATH = re.compile(
    r"/apis/networking(\.istio\.io)?/v1(?:alpha3)?/namespaces/([^/]+)/virtual-service/([^/]+)"
)
_DR_PATH = re.compile(
    r"/apis/networking(\.istio\.io)?/v1(?:alpha3)?/namespaces/([^/]+)/destination-rule/([^/]+)"
)


class _Describer:
    def __init__(self, client: Client, namespace: str, out: list[str], ignore_unmeshed: bool) -> None:
        self.client = client
        self.namespace = namespace
        self.out = out
        self.ignore_unmeshed = ignore_unmeshed

    def kname(self, meta: Mapping[str, Any]) -> str:
        ns = meta.get("namespace", "")
        return meta["name"] if ns == self.namespace else f"{meta['name']}.{ns}"

    def w(self, text: str) -> None:
        self.out.append(text)

    # -- pod

    def print_pod(self, pod: Mapping[str, Any]) -> None:
        """``printPod``."""
        ports = []
        for c in pod["spec"].get("containers") or []:
            for p in c.get("ports") or []:
                proto = "" if p.get("protocol", "TCP") == "TCP" else f"/{p['protocol']}"
                ports.append(f"{p['containerPort']}{proto} ({c['name']})")
        meta = pod["metadata"]
        self.w(f"Pod: {self.kname(meta)}\n")
        self.w(f"   Pod Revision: {revision_of(meta)}\n")
        self.w(f"   Pod Ports: {', '.join(ports)}\n" if ports else "   Pod does not expose ports\n")
        status = pod.get("status") or {}
        if status.get("phase") != "Running":
            self.w(f"   Pod is not Running ({status.get('phase', '')})\n")
            return
        for cs in status.get("containerStatuses") or []:
            if not cs.get("ready"):
                self.w(f"WARNING: Pod {self.kname(meta)} Container {cs['name']} NOT READY\n")
        if self.ignore_unmeshed:
            return
        if not is_meshed(pod):
            self.w(f"WARNING: {self.kname(meta)} is not part of mesh; no Istio sidecar\n")
            return
        labels = meta.get("labels") or {}
        if not (
            labels.get("service.istio.io/canonical-name")
            or labels.get("app.kubernetes.io/name")
            or labels.get("app")
        ):
            self.w(f"Suggestion: add required service name label for Istio telemetry. See {_REQUIREMENTS}.\n")
        if not (
            labels.get("service.istio.io/canonical-revision")
            or labels.get("app.kubernetes.io/version")
            or labels.get("version")
        ):
            self.w(
                f"Suggestion: add required service revision label for Istio telemetry. See {_REQUIREMENTS}.\n"
            )

    def print_service(self, svc: Mapping[str, Any], pod: Mapping[str, Any]) -> None:
        """``printService``."""
        self.w(f"Service: {self.kname(svc['metadata'])}\n")
        for port in svc["spec"].get("ports") or []:
            if port.get("protocol", "TCP") != "TCP":
                continue
            target = find_port(pod, port)
            if isinstance(target, str):
                self.w(f"   {target}\n")
            else:
                self.w(
                    f"   Port: {port.get('name', '')} {port['port']}/{protocol_of(port)} targets pod port "
                    f"{target}\n"
                )

    # -- services

    def describe_services(self, pod: Mapping[str, Any], services: list[dict[str, Any]]) -> None:
        """``describePodServices``: per Service port, its DestinationRule and VirtualService."""
        meta = pod["metadata"]
        try:
            dump = json.loads(fetch_admin(self.client, meta["name"], meta["namespace"], "config_dump"))
        except CommandError as exc:
            if self.ignore_unmeshed:
                return
            raise CommandError(
                "failed to execute command on sidecar: " + str(exc).split(": ", 1)[-1]
            ) from None
        labels = meta.get("labels") or {}
        for row, svc in enumerate(services):
            if row:
                self.w(_SEP)
            self.print_service(svc, pod)
            ports = svc["spec"].get("ports") or []
            level = 3 if len(ports) > 1 else 0
            for port in ports:
                if len(ports) > 1:
                    self.w(f"{port['port']}:\n")
                dr = self._dr_for(dump, svc, int(port["port"]))
                matching, nonmatching = subsets_of(dr, labels) if dr else ([], [])
                if dr is not None:
                    self.print_dr(level, dr, labels)
                vs = self._vs_for(dump, svc, int(port["port"]))
                if vs is not None:
                    self.print_vs(level, vs, svc, matching, nonmatching, dr)

    def _get(self, kind: str, ns: str, name: str) -> dict[str, Any] | None:
        try:
            return self.client.get_or_none(resource_path(kind, ns, name))
        except (ApiStatus, ClientError):
            return None

    def _dr_for(self, dump: Mapping[str, Any], svc: Mapping[str, Any], port: int) -> dict[str, Any] | None:
        host = f"{svc['metadata']['name']}.{svc['metadata']['namespace']}.svc.cluster.local"
        for c in _section(dump, "ClustersConfigDump").get("dynamic_active_clusters") or []:
            cluster = c.get("cluster") or {}
            name = str(cluster.get("name", ""))
            if host in name and f"|{port}|" in name and "outbound" in name:
                return self._referenced("DestinationRule", _DR_PATH, cluster.get("metadata"))
        return None

    def _referenced(self, kind: str, pattern: re.Pattern[str], meta: Any) -> dict[str, Any] | None:
        """The object a proxy's ``istio.config`` metadata names (a warning when it is gone)."""
        m = pattern.search(_istio_config(meta))
        if not m:
            return None
        obj = self._get(kind, m.group(2), m.group(3))
        if obj is None:
            what = "destination rule" if kind == "DestinationRule" else "virtual service"
            self.w(
                f"WARNING: Proxy is stale; it references to non-existent {what} {m.group(3)}.{m.group(2)}\n"
            )
        return obj

    def _vs_for(self, dump: Mapping[str, Any], svc: Mapping[str, Any], port: int) -> dict[str, Any] | None:
        for rc in _section(dump, "RoutesConfigDump").get("dynamic_route_configs") or []:
            route_config = rc.get("route_config") or {}
            name = str(route_config.get("name", ""))
            if name != str(port) and not name.startswith(("http.", "https.")):
                continue
            for vh in route_config.get("virtual_hosts") or []:
                for r in vh.get("routes") or []:
                    if _route_matches_svc(r, svc, vh, port):
                        return self._referenced("VirtualService", _VS_PATH, r.get("metadata"))
        return None

    def print_dr(self, level: int, dr: Mapping[str, Any], labels: Mapping[str, str]) -> None:
        """``printDestinationRule``."""
        pad = " " * level
        spec = dr.get("spec") or {}
        self.w(f'{pad}DestinationRule: {self.kname(dr["metadata"])} for "{spec.get("host", "")}"\n')
        matching, nonmatching = subsets_of(dr, labels)
        if matching or nonmatching:
            if not matching:
                self.w(
                    f"{' ' * (level + 3)}WARNING POD DOES NOT MATCH ANY SUBSETS.  (Non matching subsets "
                    f"{','.join(nonmatching)})\n"
                )
            self.w(f"{' ' * (level + 3)}Matching subsets: {','.join(matching)}\n")
            if nonmatching:
                self.w(f"{' ' * (level + 6)}(Non-matching subsets {','.join(nonmatching)})\n")
        policy = spec.get("trafficPolicy")
        if not policy:
            self.w(f"{' ' * (level + 3)}No Traffic Policy\n")
            return
        if policy.get("tls"):
            self.w(f"{' ' * (level + 3)}Traffic Policy TLS Mode: {policy['tls'].get('mode', 'DISABLE')}\n")
        extra = [
            n
            for k, n in (
                ("loadBalancer", "load balancer"),
                ("connectionPool", "connection pool"),
                ("outlierDetection", "outlier detection"),
            )
            if policy.get(k)
        ]
        if extra:
            self.w(f"{' ' * (level + 3)}Policies: {'/'.join(extra)}\n")

    def print_vs(
        self,
        level: int,
        vs: Mapping[str, Any],
        svc: Mapping[str, Any],
        matching: list[str],
        nonmatching: list[str],
        dr: Mapping[str, Any] | None,
    ) -> None:
        """``printVirtualService``."""
        pad1, pad2 = " " * (level + 3), " " * (level + 6)
        self.w(f"{' ' * level}VirtualService: {self.kname(vs['metadata'])}\n")
        spec = vs.get("spec") or {}
        http, tcp = spec.get("http") or [], spec.get("tcp") or []
        matches = facts = 0
        mismatch: list[str] = []
        for route in http:
            ok, new = self._http_route_matches(vs, route, svc, matching, nonmatching, dr)
            if ok:
                matches += 1
                for f in new:
                    self.w(f"{pad1}{f}\n")
                    facts += 1
            else:
                mismatch += new
        for route in tcp:
            if any(
                _same_host(d.get("destination", {}).get("host", ""), vs, svc)
                for d in route.get("route") or []
            ):
                matches += 1
        if matches == 0:
            if http:
                self.w(
                    f"{pad1}WARNING: No destinations match pod subsets (checked {len(http)} HTTP routes)\n"
                )
            if tcp:
                self.w(f"{pad1}WARNING: No destinations match pod subsets (checked {len(tcp)} TCP routes)\n")
            for m in mismatch:
                self.w(f"{pad2}{m}\n")
            return
        possible = len(http) + len(spec.get("tls") or []) + len(tcp)
        if matches < possible:
            self.w(f"{pad1}{possible - matches} additional destination(s) that will not reach this pod\n")
            if facts == 0:
                for m in mismatch:
                    self.w(f"{pad2}{m}\n")
            return
        if facts == 0:
            if http:
                self.w(f"{pad1}{len(http)} HTTP route(s)\n")
            if tcp:
                self.w(f"{pad1}{len(tcp)} TCP route(s)\n")

    def _http_route_matches(
        self,
        vs: Mapping[str, Any],
        route: Mapping[str, Any],
        svc: Mapping[str, Any],
        matching: list[str],
        nonmatching: list[str],
        dr: Mapping[str, Any] | None,
    ) -> tuple[bool, list[str]]:
        """``httpRouteMatchSvc``."""
        facts: list[str] = []
        notes: list[str] = []
        match = False
        for dest in route.get("route") or []:
            d = dest.get("destination") or {}
            host, subset, weight = d.get("host", ""), d.get("subset", ""), int(dest.get("weight") or 0)
            if _same_host(host, vs, svc):
                if subset and subset in nonmatching:
                    notes.append(
                        f"Route to non-matching subset {subset} for ({render_matches(route.get('match'))})"
                    )
                    continue
                if subset and subset not in matching:
                    notes.append(
                        f"Warning: Route to subset {subset} but NO DESTINATION RULE defining subsets!"
                        if dr is None
                        else f"Warning: Route to UNKNOWN subset {subset}; "
                        f"check DestinationRule {self.kname(dr['metadata'])}"
                    )
                    continue
                match = True
                if weight > 0:
                    fact = f'Route to host "{host}"' + (f' subset "{subset}"' if subset else "")
                    facts.append(f"{fact} with weight {weight}%")
            elif not subset:
                facts.append(f'Route to host "{host}" with weight {weight}%')
            else:
                facts.append(f"Route to {host} with invalid config")
        if match:
            req = [render_match(m) for m in route.get("match") or []]
            if req:
                facts.append(", ".join(req))
        if not match and notes:
            facts += notes
        return match, facts

    # -- ingress

    def print_ingress(self, services: list[dict[str, Any]], labels: Mapping[str, str]) -> None:
        """``printIngressInfo``: the ingress gateways whose Gateways the pod's VirtualServices bind."""
        gw_pods = [
            p
            for p in self.client.items("/api/v1/pods?labelSelector=istio%3Dingressgateway")
            if (p.get("status") or {}).get("phase") == "Running"
        ]
        if not gw_pods:
            self.w("Skipping Gateway information (no ingress gateway pods)\n")
            return
        ingresses = self._ingress_services(gw_pods)
        if not ingresses:
            self.w("Skipping Gateway information (no ingress gateway service)\n")
        seen: set[str] = set()
        for gw_pod in gw_pods:
            meta = gw_pod["metadata"]
            try:
                dump = json.loads(fetch_admin(self.client, meta["name"], meta["namespace"], "config_dump"))
            except CommandError as exc:
                raise CommandError(
                    "failed to execute command on ingress gateway sidecar: " + str(exc).split(": ", 1)[-1]
                ) from None
            for svc in services:
                for port in svc["spec"].get("ports") or []:
                    dr = self._dr_for(dump, svc, int(port["port"]))
                    matching, nonmatching = subsets_of(dr, labels) if dr else ([], [])
                    vs = self._vs_for(dump, svc, int(port["port"]))
                    if vs is not None:
                        self._print_gateways(vs, svc, ingresses, seen, matching, nonmatching, dr)

    def _ingress_services(
        self, gw_pods: list[dict[str, Any]]
    ) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        out = []
        for ns in sorted({p["metadata"]["namespace"] for p in gw_pods}):
            for svc in self.client.items(resource_path("Service", ns)):
                selector = (svc.get("spec") or {}).get("selector") or {}
                pods = [
                    p
                    for p in gw_pods
                    if p["metadata"]["namespace"] == ns
                    and all((p["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items())
                ]
                if pods:
                    out.append((svc, pods))
        return out

    def _print_gateways(
        self,
        vs: Mapping[str, Any],
        svc: Mapping[str, Any],
        ingresses: list[tuple[dict[str, Any], list[dict[str, Any]]]],
        seen: set[str],
        matching: list[str],
        nonmatching: list[str],
        dr: Mapping[str, Any] | None,
    ) -> None:
        vs_ns = vs["metadata"]["namespace"]
        for name in (vs.get("spec") or {}).get("gateways") or []:
            if not name or name == "mesh":
                continue
            gns, _, gname = name.rpartition("/")
            gns = gns or vs_ns
            key = f"{gns}/{gname}"
            if key in seen:
                continue
            gw = self._get("Gateway", gns, gname)
            if gw is None:
                self.w(f"WARNING: Proxy is stale; it references to non-existent gateway {gns}/{gname}\n")
                continue
            seen.add(key)
            selector = (gw.get("spec") or {}).get("selector")
            hits = [
                (s, pods)
                for s, pods in ingresses
                if selector is None
                or any(
                    all((p["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items())
                    for p in pods
                )
            ]
            if hits:
                self.w(_SEP)
                for s, pods in sorted(hits, key=lambda h: _ingress_ip(*h)):
                    self._print_exposed(s, pods)
                self.print_vs(0, vs, svc, matching, nonmatching, dr)

    def _print_exposed(self, svc: Mapping[str, Any], pods: list[dict[str, Any]]) -> None:
        """``printIngressService``: the http/http2 ports of the gateway's Service."""
        for port in svc["spec"].get("ports") or []:
            if port.get("protocol", "TCP") != "TCP" or port.get("name") not in ("http2", "http"):
                continue
            if isinstance(find_port(pods[0], port), str):
                continue
            suffix = "" if int(port["port"]) == 80 else f":{port['port']}"
            self.w(f"Exposed on Ingress Gateway http://{_ingress_ip(svc, pods)}{suffix}\n")


def _ingress_ip(svc: Mapping[str, Any], pods: list[dict[str, Any]]) -> str:
    lb = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    if lb:
        return str(lb[0].get("ip", ""))
    return str((pods[0].get("status") or {}).get("hostIP") or "unknown")


def _section(dump: Mapping[str, Any], suffix: str) -> dict[str, Any]:
    for c in dump.get("configs") or []:
        if str(c.get("@type", "")).endswith("." + suffix):
            return dict(c)
    return {}


def _istio_config(meta: Any) -> str:
    config = ((((meta or {}).get("filter_metadata")) or {}).get("istio") or {}).get("config", "")
    return config if isinstance(config, str) else ""


def _route_matches_svc(
    r: Mapping[str, Any], svc: Mapping[str, Any], vh: Mapping[str, Any], port: int
) -> bool:
    """``routeDestinationMatchesSvc``: by the virtual host's domains, or the route's cluster."""
    name, ns = svc["metadata"]["name"], svc["metadata"]["namespace"]
    for domain in vh.get("domains") or []:
        m = re.search(r"([^.]+)\.([^.]+)\.svc\.cluster\.local$", domain)
        if m and m.group(1) == name and m.group(2) == ns:
            return True
    action = r.get("route") or {}
    cluster = action.get("cluster") or (
        ((action.get("weighted_clusters") or {}).get("clusters") or [{}])[0].get("name", "")
    )
    m = re.search(rf"outbound\|{port}\|[^|]*\|([^.]+)\.([^.]+)\.svc\.cluster\.local$", str(cluster))
    return bool(m and m.group(1) == name and m.group(2) == ns)


def _extend_fqdn(host: str) -> str:
    """``extendFQDN``: append ``.svc.cluster.local`` unless wildcard or already there."""
    if host.startswith("*") or host.endswith(".svc.cluster.local"):
        return host
    return host + ".svc.cluster.local"


def _same_host(host: str, vs: Mapping[str, Any], svc: Mapping[str, Any]) -> bool:
    """``ResolveShortnameToFQDN`` (a name without dots gets the VirtualService's namespace), then
    ``extendFQDN``, compared with the Service's."""
    fqdn = host if ("." in host or host == "*") else f"{host}.{vs['metadata']['namespace']}"
    return _extend_fqdn(fqdn) == _extend_fqdn(f"{svc['metadata']['name']}.{svc['metadata']['namespace']}")


def render_match(m: Mapping[str, Any]) -> str:
    """``renderMatch``: ``Match: /status*`` (uri exact or prefix*, then headers)."""
    out = "Match: "
    uri = m.get("uri")
    if isinstance(uri, dict):
        out += _string_match(uri)
        if m.get("ignoreUriCase"):
            out += " uncased"
    headers = m.get("headers") or {}
    if headers:
        out += " when headers are " + "; ".join(f"{k}={_string_match(v)}" for k, v in headers.items())
    return out.strip()


def _string_match(sm: Mapping[str, Any]) -> str:
    if "exact" in sm:
        return str(sm["exact"])
    if "prefix" in sm:
        return f"{sm['prefix']}*"
    if "regex" in sm:
        return f'regex:"{sm["regex"]}"'
    return ""


def render_matches(matches: Any) -> str:
    """``renderMatches``: ``everything`` without conditions."""
    return ", ".join(render_match(m) for m in matches) if matches else "everything"


def subsets_of(dr: Mapping[str, Any] | None, labels: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """``getDestRuleSubsets``: subsets whose labels the pod has, and the others."""
    matching: list[str] = []
    nonmatching: list[str] = []
    for s in ((dr or {}).get("spec") or {}).get("subsets") or []:
        want = s.get("labels") or {}
        (matching if all(labels.get(k) == v for k, v in want.items()) else nonmatching).append(
            s.get("name", "")
        )
    return matching, nonmatching


def revision_of(meta: Mapping[str, Any]) -> str:
    """``GetRevisionFromPodAnnotation``."""
    annotations = meta.get("annotations") or {}
    if "istio.io/rev" in annotations:
        return str(annotations["istio.io/rev"])
    try:
        return str(json.loads(annotations.get("sidecar.istio.io/status", "")).get("revision", ""))
    except ValueError:
        return ""


def is_meshed(pod: Mapping[str, Any]) -> bool:
    """An ``istio-proxy`` container in the pod."""
    return any(c.get("name") == "istio-proxy" for c in pod["spec"].get("containers") or [])


def find_port(pod: Mapping[str, Any], port: Mapping[str, Any]) -> int | str:
    """``FindPort``: the target port number, or the error text."""
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    for c in pod["spec"].get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == target:
                return int(p["containerPort"])
    return f"no suitable port for manifest: {pod['metadata'].get('uid', '')}"


def protocol_of(port: Mapping[str, Any]) -> str:
    """``findProtocolForPort`` (istioctl/pkg/describe/describe.go): ``auto-detect`` for an unnamed
    TCP port without ``appProtocol``, else ``kube.ConvertProtocol`` (``HBONE`` for ``appProtocol:
    hbone``)."""
    name, app_protocol = str(port.get("name") or ""), port.get("appProtocol")
    proto = str(port.get("protocol") or "TCP")
    if not name and app_protocol is None and proto != "UDP":
        return "auto-detect"
    p = P.convert_protocol(port.get("port"), name, proto, None if app_protocol is None else str(app_protocol))
    return "HBONE" if p == P.UNSUPPORTED and app_protocol == "hbone" else p


def run_describe_pod(flags: Flags, streams: Streams) -> int:
    """``istioctl x describe pod <pod>[.<ns>]``."""
    if len(flags.args) != 1:
        raise CommandError("expecting pod name")
    try:
        client = Client()
    except ClientError as exc:
        raise CommandError(str(exc)) from None
    namespace = default_namespace(client, flags)
    name, ns = infer_ns(flags.args[0], namespace)
    try:
        pod = client.get_or_none(f"/api/v1/namespaces/{ns}/pods/{name}")
        if pod is None:
            raise CommandError(f'pods "{name}" not found')
        out: list[str] = []
        d = _Describer(client, namespace, out, bool(flags.get("ignoreUnmeshed")))
        try:
            d.print_pod(pod)
            labels = pod["metadata"].get("labels") or {}
            services = [
                s
                for s in client.items(resource_path("Service", ns))
                if (s.get("spec") or {}).get("selector")
                and all(labels.get(k) == v for k, v in s["spec"]["selector"].items())
            ]
            if not services and not d.ignore_unmeshed:
                out.append(
                    f"Warning: No Kubernetes Services select pod {d.kname(pod['metadata'])} "
                    "(see https://istio.io/docs/setup/kubernetes/additional-setup/requirements/ )\n"
                )
            out.append(_SEP)
            d.describe_services(pod, services)
            out.append(_SEP)
            _mesh_config(client, flags)
            out.append("Effective PeerAuthentication:\n   Workload mTLS mode: PERMISSIVE\n")
            d.print_ingress(services, labels)
        finally:
            streams.out.write("".join(out))
    except ClientError as exc:
        raise CommandError(str(exc)) from None
    return 0


def _mesh_config(client: Client, flags: Flags) -> None:
    ns = flags.get("istioNamespace") or "istio-system"
    if client.get_or_none(f"/api/v1/namespaces/{ns}/configmaps/istio") is None:
        raise CommandError(
            f'failed to fetch mesh config: could not read configmap "istio" from namespace "{ns}": '
            'configmaps "istio" not found'
        )
