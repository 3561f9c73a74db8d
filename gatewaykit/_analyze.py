"""``istioctl analyze`` for the learner's common gateway mistakes: codes, levels and texts as Istio's.

Rule: no I/O here. :func:`analyze` reads a store :class:`~gatewaykit.store.Snapshot` and returns
:class:`Message` values whose ``str()`` is the line ``istioctl analyze`` prints::

    Warning [IST0132] (VirtualService default/testing-service testing.yaml:8) one or more host
    [wrong.com] defined in VirtualService default/testing-service not found in Gateway
    istio-system/testing-gateway.

The analyzers mirror Istio's (``pkg/config/analysis/analyzers``, istio/istio@86c9f01), condition
for condition, including their known quirks (noted beside the code):

* ``gateway.IngressGatewayPortAnalyzer`` -- IST0101 selector, IST0162 (gateway/gateway.go)
* ``gateway.SecretAnalyzer`` -- IST0101 credentialName, IST0161 (gateway/secret.go)
* ``gateway.ConflictingGatewayAnalyzer`` -- IST0145 (gateway/conflictinggateway.go)
* ``virtualservice.GatewayAnalyzer`` -- IST0101 gateway, IST0132 (virtualservice/gateways.go)
* ``virtualservice.DestinationHostAnalyzer`` -- IST0101 host, host:port, mirror host (``mirror`` and
  ``mirrors``) (virtualservice/destinationhosts.go)
* ``virtualservice.DestinationRuleAnalyzer`` -- IST0101 host+subset / mirror+subset in
  destinationrule (virtualservice/destinationrules.go)

Like istioctl, a message points at the line of the field it is about (``{.spec.gateways[0]}``,
``{.spec.servers[1].tls.credentialName}``, ...; ``util.ErrorLine``) when the resource was loaded
from YAML text, else at the document's first line.

Messages are sorted and de-duplicated like ``diag.Messages.SortedDedupedCopy``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from gatewaykit._gofmt import format_list, quote
from gatewaykit._translate.hosts import sanitize_server_hosts
from gatewaykit.resources.meta import ResourceKey, Source

__all__ = ["CODES", "Message", "analyze"]

Level = Literal["Error", "Warning", "Info"]

#: Code → (name, level, template) from Istio's pkg/config/analysis/msg/messages.yaml (verbatim).
CODES: dict[str, tuple[str, Level, str]] = {
    "IST0101": ("ReferencedResourceNotFound", "Error", "Referenced %s not found: %q"),
    "IST0132": (
        "VirtualServiceHostNotFoundInGateway",
        "Warning",
        "one or more host %v defined in VirtualService %s not found in Gateway %s.",
    ),
    "IST0145": (
        "ConflictingGateways",
        "Error",
        "Conflict with gateways %s (workload selector %s, port %s, hosts %v).",
    ),
    "IST0161": (
        "InvalidGatewayCredential",
        "Error",
        "The credential referenced by the Gateway %s in namespace %s is invalid, which can cause the "
        "traffic not to work as expected.",
    ),
    "IST0162": (
        "GatewayPortNotDefinedOnService",
        "Warning",
        "The gateway is listening on a target port (port %d) that is not defined in the Service associated "
        "with its workload instances (Pod selector %s). If you need to access the gateway port through the "
        "gateway Service, it will not be available.",
    ),
}

_LEVEL_ORDER = {"Error": 0, "Warning": 1, "Info": 2}  # diag/level.go sortOrder
_CLUSTER_DOMAIN = "svc.cluster.local"
_FQDN = re.compile(r"^(.+)\.(.+)\.svc\.cluster\.local$")  # analyzers/util/constants.go fqdnPattern


class _Snapshot(Protocol):
    """What the analyzers need from :class:`gatewaykit.store.Snapshot`."""

    def list(self, kind: str) -> Iterable[Any]: ...  # noqa: D102

    def get(self, kind: str, namespace: str, name: str) -> Any | None: ...  # noqa: D102


# ----------------------------------------------------------------------------- message


def _go_format(template: str, args: Sequence[Any]) -> str:
    """Render a Go ``fmt.Sprintf`` template with the verbs Istio's messages use (%s %v %q %d)."""
    it = iter(args)

    def repl(m: re.Match[str]) -> str:
        verb = m.group(1)
        if verb == "%":
            return "%"
        value = next(it)
        if verb == "q":
            return quote(value)
        if isinstance(value, (list, tuple)):
            return format_list(value)  # Go %v of a []string
        return str(value)

    return re.sub(r"%([sdvq%])", repl, template)


@dataclass(frozen=True, slots=True)
class Message:
    """One analysis message, as ``istioctl analyze`` prints it.

    Attributes:
        code: ``IST0101`` ...
        level: ``Error``, ``Warning`` or ``Info``.
        resource: The resource the message is about (kind, namespace, name).
        source: Where that resource was read from, if from a file (printed as ``file:line``).
        text: The rendered message text.
        line: The line of the field the message is about (Istio's ``Message.Line``, found in
            ``source.fields`` by the analyzer's field path), or 0 to print the document's line.
    """

    code: str
    level: Level
    resource: ResourceKey
    source: Source | None
    text: str
    line: int = 0

    @property
    def name(self) -> str:
        """Istio's message type name (``ReferencedResourceNotFound``)."""
        return CODES[self.code][0]

    @property
    def friendly_name(self) -> str:
        """``Kind ns/name`` (istioctl always shows the namespace of namespaced kinds)."""
        key = self.resource
        return f"{key.kind} {key.namespace}/{key.name}" if key.namespace else f"{key.kind} {key.name}"

    @property
    def reference(self) -> str | None:
        """``file:line`` when the resource was read from a named file, else None (cluster objects)."""
        src = self.source
        if src is None or not src.file or src.file in ("STDIN", "-"):
            return None
        # kube Position.String: no line number for JSON files. The position is where Istio's
        # YAML reader starts the document (first non-empty line, comments included: the "{}"
        # entry of the field map); Message.ReplaceLine swaps in the field's line when there is one.
        line = src.fields.get("{}", src.line)
        if src.file.endswith(".json") or line <= 0:
            return src.file
        return f"{src.file}:{self.line or line}"

    @property
    def origin(self) -> str:
        """What istioctl prints in parentheses: ``Kind ns/name [file:line]``."""
        ref = self.reference
        return f"{self.friendly_name} {ref}" if ref else self.friendly_name

    def __str__(self) -> str:
        return f"{self.level} [{self.code}] ({self.origin}) {self.text}"

    def to_dict(self) -> dict[str, Any]:
        """JSON form like ``istioctl analyze -o json``."""
        out: dict[str, Any] = {
            "code": self.code,
            "level": self.level,
            "origin": self.friendly_name,
            "message": self.text,
            "documentationUrl": f"https://istio.io/latest/docs/reference/config/analysis/{self.code.lower()}/",
        }
        if self.reference:
            out["reference"] = self.reference
        return out


def _message(code: str, resource: Any, *args: Any, path: str | None = None) -> Message:
    """A message about ``resource``; ``path`` is the field path Istio's analyzer looks up for its line.

    (``util.ErrorLine``: a path missing from the field map leaves the document's line.)
    """
    _, level, template = CODES[code]
    source = getattr(resource, "source", None)
    line = 0
    if path is not None and isinstance(source, Source):
        line = source.fields.get(path, 0)
    return Message(
        code=code,
        level=level,
        resource=_key(resource),
        source=source,
        text=_go_format(template, args),
        line=line,
    )


# Field paths of Istio's analyzers (pkg/config/analysis/analyzers/util/find_errorline_utils.go).
_GATEWAY_SELECTOR = "{{.spec.selector.{}}}"
_CREDENTIAL_NAME = "{{.spec.servers[{}].tls.credentialName}}"
_VS_GATEWAY = "{{.spec.gateways[{}]}}"
_DESTINATION_HOST = "{{.spec.{}[{}].route[{}].destination.host}}"
_MIRROR_HOST = "{{.spec.http[{}].mirror.host}}"
# Istio's template lacks ".destination", so it never matches a field and the document line is
# printed; kept verbatim for fidelity.
_MIRRORS_HOST = "{{.spec.http[{}].mirrors[{}].host}}"


def _selector_path(selector: Mapping[str, str] | None) -> str:
    # util.ExtractLabelFromSelectorString: the key of the first "k=v" of the selector string.
    return _GATEWAY_SELECTOR.format(_selector_string(selector).partition("=")[0])


def _key(resource: Any) -> ResourceKey:
    key = getattr(resource, "key", None)
    if isinstance(key, ResourceKey):
        return key
    return ResourceKey(resource.kind, resource.metadata.namespace, resource.metadata.name)


def _full_name(resource: Any) -> str:
    return f"{resource.metadata.namespace}/{resource.metadata.name}"


# ------------------------------------------------------------------------------- pods


@dataclass(frozen=True, slots=True)
class _Pod:
    namespace: str
    labels: Mapping[str, str]


def _pods(snapshot: _Snapshot, xds: Any) -> list[_Pod]:
    # istioctl reads Pods from the cluster. With a translated state we use its pods (which include
    # the default gateways); otherwise every Deployment with replicas > 0 stands for its pods.
    if xds is not None and getattr(xds, "pods", None) is not None:
        out = []
        for pod in xds.pods:
            labels = pod.labels
            out.append(_Pod(pod.namespace, dict(labels.items() if isinstance(labels, Mapping) else labels)))
        return out
    pods = []
    for dep in snapshot.list("Deployment"):
        if dep.spec.replicas and dep.spec.replicas > 0:
            pods.append(_Pod(dep.metadata.namespace, dict(dep.spec.template.metadata.labels)))
    return pods


def _selector_string(selector: Mapping[str, str] | None) -> str:
    # klabels.SelectorFromSet(m).String(): "k=v" sorted by key, comma-joined; empty for nil.
    if not selector:
        return ""
    return ",".join(f"{k}={selector[k]}" for k in sorted(selector))


def _selects(selector: Mapping[str, str] | None, labels: Mapping[str, str]) -> bool:
    # An empty / nil selector from a set selects everything (labels.SelectorFromSet).
    return all(labels.get(k) == v for k, v in (selector or {}).items())


# ---------------------------------------------------------------- gateway analyzers


def _int_value(target: int | str | None) -> int:
    # intstr.IntValue(): an int, or a numeric string, else 0.
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    return 0


def _ingress_gateway_ports(snapshot: _Snapshot, pods: list[_Pod]) -> list[Message]:
    """gateway.IngressGatewayPortAnalyzer: IST0101 selector, IST0162."""
    out: list[Message] = []
    services = list(snapshot.list("Service"))
    for gw in snapshot.list("Gateway"):
        selector = gw.spec.selector
        sel = _selector_string(selector)
        service_ports: set[int] = set()
        port_mapping: dict[int, int] = {}
        matches = 0
        for pod in pods:
            if not _selects(selector, pod.labels):
                continue
            matches += 1
            for svc in services:
                if svc.metadata.namespace != pod.namespace:
                    continue  # Services only select pods in their namespace
                if not _selects(svc.spec.selector, pod.labels):
                    continue
                for port in svc.spec.ports:
                    if (port.protocol or "TCP") != "TCP" or port.port is None:
                        continue
                    # The Gateway port is what the proxy listens on: the Service targetPort.
                    tp = _int_value(port.targetPort)
                    if tp:
                        service_ports.add(tp)
                        port_mapping.setdefault(port.port, tp)
                    else:
                        service_ports.add(port.port)
        if matches == 0:
            out.append(_message("IST0101", gw, "selector", sel, path=_selector_path(selector)))
            continue
        for server in gw.spec.servers:
            if server.port is None or server.port.number is None:
                continue
            number = server.port.number
            if number not in service_ports and number not in port_mapping:
                out.append(_message("IST0162", gw, number, sel, path=_selector_path(selector)))
    return out


_PEM = re.compile(r"-----BEGIN ([^\n-]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL)


def _pem_decode(data: bytes) -> bytes | None:
    # encoding/pem.Decode: the first PEM block (optional "Key: value" headers skipped).
    m = _PEM.search(data.decode("latin-1"))
    if m is None:
        return None
    body = m.group(2)
    if ":" in body.split("\n\n", 1)[0] and "\n\n" in body:
        body = body.split("\n\n", 1)[1]
    try:
        return base64.b64decode("".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def _valid_certificate(cert: bytes, now: _dt.datetime) -> bool:
    # pilot/pkg/xds/sds.go ValidateCertificate: PEM-decodable, parses as X.509, and
    # NotBefore <= now <= NotAfter.
    der = _pem_decode(cert)
    if der is None:
        return False
    try:
        # Imported here: certificate parsing is the only use, and the core imports stay light.
        from cryptography import x509
    except ImportError:  # pragma: no cover - cryptography is a core dependency
        return True
    try:
        with warnings.catch_warnings():
            # The Istio docs' certificates use serial 0 (openssl -set_serial 0); cryptography
            # warns about that on every parse, which says nothing to a learner.
            from cryptography.utils import CryptographyDeprecationWarning

            warnings.simplefilter("ignore", category=CryptographyDeprecationWarning)
            parsed = x509.load_der_x509_certificate(der)
    except ValueError:
        return False
    return parsed.not_valid_before_utc <= now <= parsed.not_valid_after_utc


def _secret_valid(secret: Any, now: _dt.datetime) -> bool:
    # credentials/kube ExtractCertInfo: cert+key first, then tls.crt+tls.key; both non-empty.
    data: Mapping[str, bytes] = secret.data
    for cert_key, key_key in (("cert", "key"), ("tls.crt", "tls.key")):
        if data.get(cert_key) and data.get(key_key):
            return _valid_certificate(data[cert_key], now)
    return False


def _short_or_full(namespace: str, name: str) -> tuple[str, str]:
    # resource.NewShortOrFullName: "ns/name" is used as is, a short name gets the default ns.
    if "/" in name:
        ns, _, short = name.partition("/")
        return ns, short
    return namespace, name


def _secrets(snapshot: _Snapshot, pods: list[_Pod], now: _dt.datetime) -> list[Message]:
    """gateway.SecretAnalyzer: IST0101 selector / credentialName, IST0161."""
    out: list[Message] = []
    for gw in snapshot.list("Gateway"):
        selector = gw.spec.selector
        # The secret must live in the namespace of the gateway *workload*, not of the Gateway.
        gw_ns = next((p.namespace for p in pods if _selects(selector, p.labels)), "")
        if not gw_ns:
            out.append(
                _message("IST0101", gw, "selector", _selector_string(selector), path=_selector_path(selector))
            )
            continue
        for i, server in enumerate(gw.spec.servers):
            tls = server.tls
            if tls is None or not tls.credentialName:
                continue
            ns, name = _short_or_full(gw_ns, tls.credentialName)
            secret = snapshot.get("Secret", ns, name)
            path = _CREDENTIAL_NAME.format(i)
            if secret is None:
                out.append(_message("IST0101", gw, "credentialName", tls.credentialName, path=path))
            elif not _secret_valid(secret, now):
                out.append(_message("IST0161", gw, gw.metadata.name, gw_ns, path=path))
    return out


def _conflicting_gateways(snapshot: _Snapshot, pods: list[_Pod]) -> list[Message]:
    """gateway.ConflictingGatewayAnalyzer: IST0145 (duplicate host+bind on the same selector and port).

    Istio flags duplicates even for plain HTTP servers, which merge at runtime (docs/behaviour.md §10).
    Istio's ``CheckDuplicates`` also adds hosts to the *other* gateway's map as a side effect, which makes
    its results depend on Go map order with three or more gateways; this port checks each pair
    against the other gateway's own hosts only.
    """
    gateways = list(snapshot.list("Gateway"))
    # selector~port → gateway full name → {host: bind} (the last server on that port wins, as in Go)
    table: dict[tuple[str, str], dict[str, dict[str, str]]] = {}
    for gw in gateways:
        sel = _selector_string(gw.spec.selector)
        for server in gw.spec.servers:
            port = str(server.port.number if server.port and server.port.number is not None else 0)
            table.setdefault((sel, port), {})[_full_name(gw)] = {h: server.bind for h in server.hosts}

    out: list[Message] = []
    for gw in gateways:
        name = _full_name(gw)
        selector = gw.spec.selector
        sel = _selector_string(selector)
        hit: dict[tuple[str, str], dict[str, dict[str, str]]] = {}
        for key, values in table.items():
            other_sel = key[0]
            matched = sel == other_sel
            if not matched and (sel in other_sel or other_sel in sel):
                other = _parse_selector(other_sel)
                matched = any(_selects(selector, p.labels) and _selects(other, p.labels) for p in pods)
            if matched:
                hit[key] = values
        if sel and not hit:
            out.append(_message("IST0101", gw, "selector", sel, path=_selector_path(selector)))
            continue
        for server in gw.spec.servers:
            port = str(server.port.number if server.port and server.port.number is not None else 0)
            conflicting: list[str] = []
            for (_, other_port), values in hit.items():
                if other_port != port:
                    continue
                for other_name, hosts_bind in values.items():
                    if other_name != name and any(
                        h in hosts_bind and hosts_bind[h] == server.bind for h in server.hosts
                    ):
                        conflicting.append(other_name)
            if conflicting:
                out.append(
                    _message("IST0145", gw, ",".join(sorted(conflicting)), sel, port, ",".join(server.hosts))
                )
    return out


def _parse_selector(text: str) -> dict[str, str]:
    out = {}
    for pair in text.split(","):
        parts = pair.split("=")
        if len(parts) == 2:
            out[parts[0]] = parts[1]
    return out


# ---------------------------------------------------------- virtual service analyzers


def _host_matches(a: str, b: str) -> bool:
    # pkg/config/host Name.Matches (wildcards compared by suffix, both directions).
    aw, bw = a.startswith("*"), b.startswith("*")
    if aw and bw:
        return b[1:].endswith(a[1:]) if len(a) < len(b) else a[1:].endswith(b[1:])
    if aw:
        return b.endswith(a[1:])
    if bw:
        return a.endswith(b[1:])
    return a == b


def _names_for_namespace(hosts: Sequence[str], namespace: str) -> list[str]:
    # host.NamesForNamespace: keep "ns/h" only for the VS namespace or "*", strip the prefix.
    out = []
    for h in hosts:
        if "/" in h:
            ns, _, name = h.partition("/")
            if ns not in (namespace, "*"):
                continue
            h = name
        out.append(h)
    return out


def _vs_gateways(snapshot: _Snapshot) -> list[Message]:
    """virtualservice.GatewayAnalyzer: IST0101 gateway, IST0132."""
    out: list[Message] = []
    for vs in snapshot.list("VirtualService"):
        vs_ns = vs.metadata.namespace
        for i, gw_name in enumerate(vs.spec.gateways):
            if gw_name == "mesh":
                continue
            path = _VS_GATEWAY.format(i)
            ns, name = _short_or_full(vs_ns, gw_name)
            gateway = snapshot.get("Gateway", ns, name)
            if gateway is None:
                out.append(_message("IST0101", vs, "gateway", gw_name, path=path))
            gateway_hosts: list[str] = []
            if gateway is not None:
                for server in gateway.spec.servers:
                    gateway_hosts.extend(sanitize_server_hosts(server.hosts, gateway.metadata.namespace))
            # Istio warns only when *no* VS host matches *any* gateway host (despite the wording),
            # and also when the gateway does not exist at all.
            match = any(
                _host_matches(gh, vh)
                for gh in _names_for_namespace(gateway_hosts, vs_ns)
                for vh in vs.spec.hosts
            )
            if not match:
                out.append(
                    _message("IST0132", vs, list(vs.spec.hosts), _full_name(vs), f"{ns}/{name}", path=path)
                )
    return out


def _to_fqdn(namespace: str, host: str) -> str:
    # util.ConvertHostToFQDN: only a short name (no dot, not a wildcard) is expanded.
    if not host.startswith("*") and "." not in host:
        return f"{host}.{namespace}.{_CLUSTER_DOMAIN}"
    return host


def _service_entry_hosts(snapshot: _Snapshot) -> dict[str, list[int]]:
    """util.InitServiceEntryHostMap: ``<scope>/<fqdn>`` → port numbers."""
    result: dict[str, list[int]] = {}
    for se in snapshot.list("ServiceEntry"):
        ns = se.metadata.namespace
        ports = [p.number for p in se.spec.ports if p.number is not None]
        export = list(se.spec.exportTo)
        for h in se.spec.hosts:
            fqdn = _to_fqdn(ns, h)
            if not export:
                result[f"*/{fqdn}"] = ports
                continue
            for e in export:
                if e == "*":
                    result[f"*/{fqdn}"] = ports
                    break
                result[f"{ns if e == '.' else e}/{fqdn}"] = ports
    for svc in snapshot.list("Service"):
        ns = svc.metadata.namespace
        ports = [p.port for p in svc.spec.ports if p.port is not None]
        anno = svc.metadata.annotations.get("networking.istio.io/exportTo", "")
        scopes = ["*"] if not anno else [ns if s.strip() == "." else s.strip() for s in anno.split(",")]
        for scope in scopes:
            result[f"{scope}/{_to_fqdn(ns, svc.metadata.name)}"] = ports
    return result


def _destination_host(
    source_ns: str, export_to: Sequence[str], host: str, entries: Mapping[str, list[int]]
) -> list[int] | None:
    """util.GetDestinationHost: the ports of the service the host names, or None."""
    fqdn = _to_fqdn(source_ns, host)
    if f"*/{fqdn}" in entries:
        return entries[f"*/{fqdn}"]
    scopes = [source_ns] if not export_to else [source_ns if e == "." else e for e in export_to]
    for scope in scopes:
        if f"{scope}/{fqdn}" in entries:
            return entries[f"{scope}/{fqdn}"]
    for key, ports in entries.items():
        scope, _, se_host = key.partition("/")
        if not se_host.startswith("*"):
            continue
        if scope not in ("*", source_ns):
            continue
        if host.removeprefix("*").endswith(se_host.removeprefix("*")):
            return ports
    return None


@dataclass(frozen=True, slots=True)
class _Dest:
    """virtualservice/util.go ``AnnotatedDestination``: a destination and the field path of its host."""

    host: str
    subset: str
    port: int | None
    path: str


def _route_destinations(vs: Any) -> list[_Dest]:
    # virtualservice/util.go getRouteDestinations: tcp, then tls, then http.
    out = []
    for kind, rules in (("tcp", vs.spec.tcp), ("tls", vs.spec.tls), ("http", vs.spec.http)):
        for i, rule in enumerate(rules):
            for j, rd in enumerate(rule.route):
                d = rd.destination
                if d is not None:
                    port = d.port.number if d.port is not None else None
                    out.append(_Dest(d.host, d.subset, port, _DESTINATION_HOST.format(kind, i, j)))
    return out


def _mirror_destinations(vs: Any) -> list[_Dest]:
    # virtualservice/util.go getHTTPMirrorDestinations: per http rule, mirror then mirrors[].
    out = []
    for i, rule in enumerate(vs.spec.http):
        m = rule.mirror
        if m is not None:
            port = m.port.number if m.port is not None else None
            out.append(_Dest(m.host, m.subset, port, _MIRROR_HOST.format(i)))
        mirrors = rule.mirrors if isinstance(rule.mirrors, (tuple, list)) else ()
        for j, policy in enumerate(mirrors):
            d = policy.get("destination") if isinstance(policy, Mapping) else None
            if not isinstance(d, Mapping):
                d = {}
            host, subset, port_sel = d.get("host"), d.get("subset"), d.get("port")
            number = port_sel.get("number") if isinstance(port_sel, Mapping) else None
            out.append(
                _Dest(
                    host if isinstance(host, str) else "",
                    subset if isinstance(subset, str) else "",
                    number if isinstance(number, int) and not isinstance(number, bool) else None,
                    _MIRRORS_HOST.format(i, j),
                )
            )
    return out


def _destination_hosts(snapshot: _Snapshot) -> list[Message]:
    """virtualservice.DestinationHostAnalyzer: IST0101 host, host:port, mirror host."""
    out: list[Message] = []
    entries = _service_entry_hosts(snapshot)
    for vs in snapshot.list("VirtualService"):
        ns = vs.metadata.namespace
        checks = [("host", d) for d in _route_destinations(vs)]
        checks += [("mirror host", d) for d in _mirror_destinations(vs)]
        for kind, dest in checks:
            ports = _destination_host(ns, vs.spec.exportTo, dest.host, entries)
            if ports is None:
                out.append(_message("IST0101", vs, kind, dest.host, path=dest.path))
                continue
            # checkServiceEntryPorts: a port that the service does not declare. (A missing port on a
            # multi-port service is IST0112, not modelled here.)
            if dest.port is not None and dest.port not in ports:
                out.append(_message("IST0101", vs, "host:port", f"{dest.host}:{dest.port}", path=dest.path))
    return out


def _resource_name_from_host(namespace: str, host: str) -> tuple[str, str]:
    # util.GetResourceNameFromHost: "<name>.<ns>.svc.cluster.local" → (ns, name), else (namespace, host).
    m = _FQDN.match(host)
    if m:
        return m.group(2), m.group(1)
    return namespace, host


def _destination_rules(snapshot: _Snapshot) -> list[Message]:
    """virtualservice.DestinationRuleAnalyzer: IST0101 host+subset in destinationrule."""
    known: set[tuple[tuple[str, str], str]] = set()
    for dr in snapshot.list("DestinationRule"):
        for subset in dr.spec.subsets:
            known.add((_resource_name_from_host(dr.metadata.namespace, dr.spec.host), subset.name))
    out: list[Message] = []
    for vs in snapshot.list("VirtualService"):
        ns = vs.metadata.namespace
        checks = [("host+subset in destinationrule", d) for d in _route_destinations(vs)]
        checks += [("mirror+subset in destinationrule", d) for d in _mirror_destinations(vs)]
        for kind, dest in checks:
            if not dest.subset:
                continue
            if (_resource_name_from_host(ns, dest.host), dest.subset) not in known:
                out.append(_message("IST0101", vs, kind, f"{dest.host}+{dest.subset}", path=dest.path))
    return out


# -------------------------------------------------------------------------------- entry


def _sort_key(m: Message) -> tuple[int, str, str, str]:
    # diag.Messages.Sort: level, code, origin comparator (Kind/name/namespace), then the string.
    comparator = f"{m.resource.kind}/{m.resource.name}/{m.resource.namespace}"
    return (_LEVEL_ORDER[m.level], m.code, comparator, str(m))


def analyze(snapshot: _Snapshot, xds: Any = None, *, now: _dt.datetime | None = None) -> tuple[Message, ...]:
    """Run the gateway-related ``istioctl analyze`` checks over a store snapshot.

    Args:
        snapshot: The config store snapshot (``snapshot.list(kind)``, ``snapshot.get(kind, ns, name)``).
        xds: Optional translated state; its ``pods`` (including the default gateway pods) are
            what Gateway selectors are matched against. Without it, Deployments stand for pods.
        now: The time certificates are checked against (default: the current UTC time).

    Returns:
        The messages, sorted and de-duplicated the way ``istioctl analyze`` prints them.
    """
    when = now or _dt.datetime.now(_dt.timezone.utc)
    pods = _pods(snapshot, xds)
    messages: list[Message] = []
    messages += _conflicting_gateways(snapshot, pods)
    messages += _ingress_gateway_ports(snapshot, pods)
    messages += _secrets(snapshot, pods, when)
    messages += _destination_hosts(snapshot)
    messages += _destination_rules(snapshot)
    messages += _vs_gateways(snapshot)
    deduped: list[Message] = []
    for m in sorted(messages, key=_sort_key):
        if deduped and str(deduped[-1]) == str(m):
            continue
        deduped.append(m)
    return tuple(deduped)
