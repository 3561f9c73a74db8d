"""``istioctl analyze``: gatewaykit's analyzers over the cluster (through the API) and files.

Follows Istio 1.27.1's ``istioctl/pkg/analyze/analyze.go``: the live cluster is the base (unless
``--use-kube=false``, which adds Istio's default ingress gateway instead), files given on the command
line are laid over it, messages are kept for the analyzed namespace (``-n``, the context's, or all
with ``-A``) and printed as ``log`` (one line each), ``json`` or ``yaml``. A successful run prints
``✔ No validation issues found when analyzing ...`` on stderr; messages at or above the failure
threshold (``Error``) end it with ``Analyzers found issues ...`` and exit code 79; unparsable files
with exit code 65.

The analyzers are :mod:`gatewaykit._analyze`'s (the gateway-related ones); see ``docs/istioctl.md``.
"""

from __future__ import annotations

import json
import os
import pathlib
from dataclasses import dataclass
from typing import Any

from gatewaykit.istioctl._cli import EXIT_DATA, EXIT_ISSUES, CommandError, Flags, Streams, UsageError
from gatewaykit.istioctl._client import ApiStatus, Client, ClientError, resource_path

__all__ = ["run_analyze"]

DOCS = "https://istio.io/v1.27/docs/reference/config/analysis"
_EXTENSIONS = (".json", ".yaml", ".yml")
_LEVELS = {"Info": 0, "Warning": 1, "Error": 2}
#: The kinds the analyzers read.
_KINDS = (
    "Namespace",
    "Service",
    "Secret",
    "Deployment",
    "Gateway",
    "VirtualService",
    "DestinationRule",
    "ServiceEntry",
)
#: The analyzers gatewaykit implements (``istioctl analyze -L`` lists these).
ANALYZERS = {
    "gateway.ConflictingGatewayAnalyzer": "Checks a gateway's selector, port number and hosts",
    "gateway.IngressGatewayPortAnalyzer": "Checks a gateway's ports against the gateway's Kubernetes "
    "service ports",
    "gateway.SecretAnalyzer": "Checks a gateway's referenced secrets for correctness",
    "virtualservice.DestinationHostAnalyzer": "Checks the destination hosts associated with each virtual "
    "service",
    "virtualservice.DestinationRuleAnalyzer": "Checks the destination rules associated with each virtual "
    "service",
    "virtualservice.GatewayAnalyzer": "Checks the gateways associated with each virtual service",
}


@dataclass(frozen=True, slots=True)
class _Pod:
    namespace: str
    labels: dict[str, str]


class _State:
    """What the analyzers read: typed models by kind (``list``/``get``) and the pods."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], Any] = {}
        self.pods: list[_Pod] = []

    def put(self, model: Any) -> None:
        self.objects[(model.kind, model.metadata.namespace, model.metadata.name)] = model

    def list(self, kind: str) -> list[Any]:
        return [m for (k, _, _), m in self.objects.items() if k == kind]

    def get(self, kind: str, namespace: str, name: str) -> Any | None:
        return self.objects.get((kind, namespace, name))


def _target(all_namespaces: bool, namespace: str) -> str:
    return "all namespaces" if all_namespaces else f"namespace: {namespace}"


def run_analyze(flags: Flags, streams: Streams) -> int:
    """Analyze; returns 0, 79 (issues) or 65 (unparsable files)."""
    fmt = str(flags.get("output") or "log").lower()
    if fmt not in ("log", "json", "yaml"):
        raise UsageError(f"{fmt} not a valid option for format. See istioctl analyze --help")
    if flags.get("list-analyzers"):
        streams.out.write("".join(f"* {n}:\n    {d}\n" for n, d in sorted(ANALYZERS.items())))
        return 0
    if flags.get("recursive"):
        streams.out.write(
            "The recursive flag has been removed and is hardcoded to true without explicitly specifying it.\n"
        )
        return 0
    files = _gather(flags.args, streams)
    namespace = str(flags.get("namespace") or "")
    use_kube = bool(flags.get("use-kube"))
    state = _State()
    client: Client | None = None
    if use_kube:
        try:
            client = Client()
        except ClientError as exc:
            raise CommandError(str(exc)) from None
        namespace = namespace or client.namespace or "default"
        try:
            if client.get_or_none(f"/api/v1/namespaces/{namespace}") is None:
                streams.err.write(f'namespace "{flags.get("namespace") or ""}" not found\n')
                return 0
        except ClientError as exc:
            raise CommandError(str(exc)) from None
    all_ns = bool(flags.get("all-namespaces"))
    selected = "" if all_ns else (namespace or "default")
    if client is not None:
        _load_cluster(client, state)
    else:
        _default_resources(state)
    parse_errors = _load_files(files, state, selected or "default", streams)
    return _report(
        flags,
        streams,
        _messages(state, selected, flags, streams),
        files,
        parse_errors,
        all_ns,
        selected or "default",
        fmt,
    )


def _gather(args: list[str], streams: Streams) -> list[str]:
    """``gatherFiles``: files and directories (walked); other extensions are skipped with a note."""
    out: list[str] = []
    for arg in args:
        if arg == "-":
            out.append(arg)
            continue
        path = pathlib.Path(arg)
        if not path.exists():
            raise CommandError(f"stat {arg}: no such file or directory")
        if path.is_dir():
            for root, _, names in sorted(os.walk(arg)):
                for name in sorted(names):
                    full = os.path.join(root, name)
                    if os.path.splitext(full)[1] in _EXTENSIONS:
                        out.append(full)
                    else:
                        streams.err.write(
                            f"Skipping file {full}, recognized file extensions are: [.json .yaml .yml]\n"
                        )
        elif os.path.splitext(arg)[1] in _EXTENSIONS:
            out.append(arg)
        else:
            streams.err.write(f"Skipping file {arg}, recognized file extensions are: [.json .yaml .yml]\n")
    return out


def _load_cluster(client: Client, state: _State) -> None:
    from gatewaykit.resources.meta import Source  # noqa: PLC0415
    from gatewaykit.resources.models import from_dict  # noqa: PLC0415

    try:
        for kind in _KINDS:
            for raw in client.items(resource_path(kind)):
                state.put(from_dict({**raw, "kind": kind}, Source("")))
        for pod in client.items("/api/v1/pods"):
            meta = pod["metadata"]
            state.pods.append(_Pod(meta.get("namespace", ""), dict(meta.get("labels") or {})))
    except (ClientError, ApiStatus) as exc:
        raise CommandError(str(exc)) from None


def _default_resources(state: _State) -> None:
    """``AddDefaultResources``: Istio's dummy ingress gateway pod and Service "
    "(pkg/config/analysis/local/defaults.go)."""
    from gatewaykit.resources.meta import Source  # noqa: PLC0415
    from gatewaykit.resources.models import from_dict  # noqa: PLC0415

    state.pods.append(_Pod("istio-system", {"istio": "ingressgateway"}))
    ports = [("http2", 80, 31380), ("https", 443, 31390), ("tcp", 31400, 31400), ("tls", 15443, 31447)]
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "istio-ingressgateway", "namespace": "istio-system"},
        "spec": {
            "ports": [
                {"name": n, "nodePort": np, "port": p, "protocol": "TCP", "targetPort": p}
                for n, p, np in ports
            ],
            "selector": {"istio": "ingressgateway"},
        },
    }
    state.put(from_dict(svc, Source("")))


def _load_files(files: list[str], state: _State, namespace: str, streams: Streams) -> int:
    """Lay the files' resources over the cluster's; returns how many files could not be parsed."""
    if not files:
        return 0
    from gatewaykit.errors import ManifestError  # noqa: PLC0415
    from gatewaykit.resources.codecs import load  # noqa: PLC0415
    from gatewaykit.resources.models import from_dict  # noqa: PLC0415

    errors = []
    for name in files:
        try:
            manifests = (
                load(streams.inp.read(), name="-") if name == "-" else load(pathlib.Path(name), name=name)
            )
        except ManifestError as exc:
            errors.append(str(exc))
            continue
        for m in manifests:
            raw = dict(m.raw)
            meta = dict(raw.get("metadata") or {})
            meta.setdefault("namespace", namespace)
            raw["metadata"] = meta
            try:
                state.put(from_dict(raw, m.source))
            except ManifestError as exc:
                errors.append(str(exc))
    if errors:
        streams.err.write(f"Error(s) adding files: {'; '.join(errors)}")
        return 1
    return 0


def _matches(pattern: str, value: str) -> bool:
    import fnmatch  # noqa: PLC0415

    return fnmatch.fnmatchcase(value, pattern)


def _messages(state: _State, selected: str, flags: Flags, streams: Streams) -> list[Any]:
    from gatewaykit._analyze import CODES, analyze  # noqa: PLC0415

    suppressions = []
    for s in flags.get("suppress") or []:
        code, eq, resource = s.partition("=")
        if not eq or "=" in resource:
            raise CommandError(f"{s} is not a valid suppression value. See istioctl analyze --help")
        if code not in CODES:
            streams.err.write(
                f"Warning: Supplied message code '{code}' is an unknown message code and will not have "
                "any effect.\n"
            )
        suppressions.append((code, resource))
    out = []
    for m in analyze(state, state):
        ns = m.resource.namespace
        if selected and ns and ns != selected:
            continue
        name = f"{m.resource.kind} {m.resource.name}" + (f".{ns}" if ns else "")
        if any(code == m.code and _matches(res, name) for code, res in suppressions):
            continue
        out.append(m)
    return out


def _as_dict(m: Any) -> dict[str, Any]:
    """``Message.Unstructured``: the JSON/YAML form (keys sorted by the encoder)."""
    out = {"code": m.code, "level": m.level}
    out["origin"] = m.friendly_name
    if m.reference:
        out["reference"] = m.reference
    out["message"] = m.text
    out["documentationUrl"] = f"{DOCS}/{m.code.lower()}/?ref=istioctl-analyze"
    return dict(sorted(out.items()))


def _render(messages: list[Any], fmt: str) -> str:
    if fmt == "json":
        text = json.dumps([_as_dict(m) for m in messages], indent="\t", ensure_ascii=False)
        return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    if fmt == "yaml":
        import yaml  # noqa: PLC0415

        return (
            yaml.safe_dump([_as_dict(m) for m in messages], sort_keys=True, allow_unicode=True, width=1 << 30)
            if messages
            else "[]\n"
        )
    return "\n".join(str(m) for m in messages)


def _report(
    flags: Flags,
    streams: Streams,
    messages: list[Any],
    files: list[str],
    parse_errors: int,
    all_ns: bool,
    namespace: str,
    fmt: str,
) -> int:
    out_level = _LEVELS.get(str(flags.get("output-threshold") or "Info").capitalize(), 0)
    fail_level = _LEVELS.get(str(flags.get("failure-threshold") or "Error").capitalize(), 2)
    shown = [m for m in messages if _LEVELS[m.level] >= out_level]
    streams.out.write(_render(shown, fmt) + "\n")
    target = _target(all_ns, namespace)
    if not shown:
        if parse_errors:
            what = "file" if parse_errors == 1 else "files"
            streams.err.write(
                f"No validation issues found when analyzing {target} (but {parse_errors} {what} could not "
                "be parsed).\n"
            )
        elif len(files) > 1:
            streams.err.write(
                "\u2714 No validation issues found when analyzing:\n  - " + "\n  - ".join(files) + "\n"
            )
        elif files:
            streams.err.write(f"\u2714 No validation issues found when analyzing {files[0]}.\n")
        else:
            streams.err.write(f"\u2714 No validation issues found when analyzing {target}.\n")
    if fmt != "log":
        return 0
    if any(_LEVELS[m.level] >= fail_level for m in messages):
        raise CommandError(
            f"Analyzers found issues when analyzing {target}.\nSee {DOCS} for more information about "
            "causes and resolutions.",
            EXIT_ISSUES,
        )
    if parse_errors and not flags.get("ignore-unknown"):
        raise CommandError("Some files couldn't be parsed.", EXIT_DATA)
    return 0
