"""``istioctl proxy-config`` and ``proxy-status``, with istioctl 1.27.1's tables and dumps.

This module finds the pod, fetches the dump and picks the view; the config-dump tables and the
JSON/YAML they print are :mod:`._configdump`'s (``istioctl/pkg/writer/envoy``). ``proxy-status``
follows ``writer/pilot/status.go``, aligned with Go's tabwriter.

Where the real istioctl port-forwards to the pod's port 15000, this one reads the same admin paths
through the API server's pod proxy (``/api/v1/namespaces/{ns}/pods/{pod}:15000/proxy/config_dump``).
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable
from typing import Any

from gatewaykit.istioctl._cli import CommandError, Flags, Streams, UsageError
from gatewaykit.istioctl._client import ApiStatus, Client, ClientError
from gatewaykit.istioctl._configdump import (
    ConfigDump,
    bootstrap_summary,
    cluster_filter,
    cluster_summary,
    dump_protos,
    eds_summary,
    endpoint_filter,
    endpoint_summary,
    go_json,
    go_yaml,
    listener_filter,
    listener_summary,
    route_summary,
    secret_summary,
    to_proto_json,
)
from gatewaykit.istioctl._tabwriter import tabwrite

__all__ = ["fetch_admin", "resolve_pod", "run_proxy_config", "run_proxy_status"]

_LISTENER_PATH = "?mask=dynamic_listeners,static_listeners"
_ROUTE_PATH = "?mask=dynamic_route_configs,static_route_configs"
_CLUSTER_PATH = "?mask=dynamic_active_clusters,dynamic_warming_clusters,static_clusters"
_SECRET_PATH = "?mask=dynamic_active_secrets,dynamic_warming_secrets"
_EDS_PATH = "?include_eds=true"
_BOOTSTRAP_PATH = "?mask=bootstrap"


# ------------------------------------------------------------------------------ pods


_KINDS = {
    "pod": "Pod",
    "pods": "Pod",
    "po": "Pod",
    "deploy": "Deployment",
    "deployment": "Deployment",
    "deployments": "Deployment",
    "deployment.apps": "Deployment",
    "deployments.apps": "Deployment",
    "svc": "Service",
    "service": "Service",
    "services": "Service",
    "rs": "ReplicaSet",
    "replicaset": "ReplicaSet",
    "replicasets": "ReplicaSet",
}
_PLURAL = {
    "Pod": "pods",
    "Deployment": "deployments.apps",
    "Service": "services",
    "ReplicaSet": "replicasets.apps",
}


def infer_ns(name: str, namespace: str) -> tuple[str, str]:
    """``handlers.inferNsInfo``: ``name.namespace`` (after any ``type/``) names the namespace."""
    slash = name.rfind("/")
    if slash > 0:
        dot = name[slash:].rfind(".")
        return (name, namespace) if dot < 0 else (name[: slash + dot], name[slash + dot + 1 :])
    dot = name.rfind(".")
    return (name, namespace) if dot < 0 else (name[:dot], name[dot + 1 :])


def default_namespace(client: Client, flags: Flags) -> str:
    """``-n``, else the kubeconfig context's namespace."""
    return str(flags.get("namespace") or client.namespace or "default")


def resolve_pod(client: Client, arg: str, namespace: str) -> tuple[str, str]:
    """``InferPodInfoFromTypedResource``: ``pod``, ``pod.ns``, ``deploy/x[.ns]``, ``svc/x``, ``pod/x``.

    Raises:
        CommandError: with istioctl's texts (``failed retrieving: ...``, ``no pods match "deploy/x"``).
    """
    resname, ns = infer_ns(arg, namespace)
    if "/" not in resname:
        return resname, ns
    kind_word, _, name = resname.partition("/")
    kind = _KINDS.get(kind_word.lower())
    if kind is None:
        raise CommandError(
            f'failed retrieving: the server doesn\'t have a resource type "{kind_word}" in the "{ns}" '
            "namespace"
        )
    obj = _get_named(client, kind, ns, name)
    if kind == "Pod":
        return obj["metadata"]["name"], ns
    selector = (obj.get("spec") or {}).get("selector") or {}
    labels = selector.get("matchLabels", selector) if kind != "Service" else selector
    query = urllib.parse.urlencode({"labelSelector": ",".join(f"{k}={v}" for k, v in labels.items())})
    pods = client.items(f"/api/v1/namespaces/{ns}/pods?{query}")
    if not pods:
        raise CommandError(f'no pods match "{resname}"')
    return _first_pod(pods)["metadata"]["name"], ns


def _get_named(client: Client, kind: str, ns: str, name: str) -> dict[str, Any]:
    from gatewaykit.istioctl._client import resource_path  # noqa: PLC0415

    try:
        return dict(client.get(resource_path(kind, ns, name)))
    except ApiStatus as exc:
        if exc.code == 404:
            raise CommandError(
                f'failed retrieving: {_PLURAL[kind]} "{name}" not found in the "{ns}" namespace'
            ) from None
        raise CommandError(f'failed retrieving: {exc.message} in the "{ns}" namespace') from None


def _first_pod(pods: list[dict[str, Any]]) -> dict[str, Any]:
    """``podutils.ByLogging``: ready before not ready, running before pending, then the newest."""

    def key(p: dict[str, Any]) -> tuple[int, int, str]:
        status = p.get("status") or {}
        ready = (
            all(c.get("ready") for c in status.get("containerStatuses") or [])
            and status.get("phase") == "Running"
        )
        running = status.get("phase") == "Running"
        return (0 if ready else 1, 0 if running else 1, p["metadata"]["name"])

    return sorted(pods, key=key)[0]


def fetch_admin(client: Client, pod: str, ns: str, path: str, what: str = "sidecar") -> bytes:
    """``EnvoyDoWithPort(..., 15000)`` through the pod proxy, with the port-forward's error texts.

    Raises:
        CommandError: ``failed to execute command on <pod>.<ns> sidecar: ...``.
    """
    fail = f"failed to execute command on {pod}.{ns} {what}: failure running port forward process: "
    try:
        obj = client.get_or_none(f"/api/v1/namespaces/{ns}/pods/{pod}")
        if obj is None:
            raise CommandError(
                f"{fail}failure running port forward process: building port forwarded: failed retrieving: "
                f'pods "{pod}" not found in the "{ns}" namespace'
            )
        phase = (obj.get("status") or {}).get("phase", "")
        if phase != "Running":
            raise CommandError(
                f"{fail}failure running port forward process: building port forwarded: pod is not "
                f"running. Status={phase}"
            )
        resp = client.request("GET", f"/api/v1/namespaces/{ns}/pods/{pod}:15000/proxy/{path}")
    except ClientError as exc:
        raise CommandError(str(exc)) from None
    if resp.status == 503:
        raise CommandError(f'{fail}Get "http://localhost:15000/{path}": EOF')
    if resp.status != 200:
        raise CommandError(
            f"failed to execute command on {pod}.{ns} {what}: unexpected status code: {resp.status}"
        )
    return resp.body


# ------------------------------------------------------------------------------ commands


def _check_output(fmt: str) -> None:
    if fmt not in ("short", "json", "yaml"):
        raise CommandError(f'output format "{fmt}" not supported')


def _load(flags: Flags, what: str, path: str) -> tuple[bytes, Client | None]:
    """The dump: from ``--file`` or from the named pod (``(len(args) == 1) != (file == "")``)."""
    args = flags.args
    file = flags.get("file") or ""
    if (len(args) == 1) == bool(file) or len(args) > 1:
        raise UsageError(f"{what} requires pod name or --file parameter")
    if file:
        import sys  # noqa: PLC0415

        try:
            data = sys.stdin.buffer.read() if file == "-" else open(file, "rb").read()  # noqa: SIM115
        except OSError as exc:
            raise CommandError(f"open {file}: {exc.strerror.lower() if exc.strerror else exc}") from None
        return data, None
    try:
        client = Client()
    except ClientError as exc:
        raise CommandError(str(exc)) from None
    pod, ns = resolve_pod(client, args[0], default_namespace(client, flags))
    return fetch_admin(client, pod, ns, path), client


_SUBCOMMANDS = {
    "cluster": ("cluster", _CLUSTER_PATH),
    "clusters": ("cluster", _CLUSTER_PATH),
    "c": ("cluster", _CLUSTER_PATH),
    "listener": ("listener", _LISTENER_PATH),
    "listeners": ("listener", _LISTENER_PATH),
    "l": ("listener", _LISTENER_PATH),
    "route": ("route", _ROUTE_PATH),
    "routes": ("route", _ROUTE_PATH),
    "r": ("route", _ROUTE_PATH),
    "endpoint": ("endpoints", "clusters?format=json"),
    "endpoints": ("endpoints", "clusters?format=json"),
    "ep": ("endpoints", "clusters?format=json"),
    "secret": ("secret", _SECRET_PATH),
    "secrets": ("secret", _SECRET_PATH),
    "s": ("secret", _SECRET_PATH),
    "bootstrap": ("bootstrap", _BOOTSTRAP_PATH),
    "b": ("bootstrap", _BOOTSTRAP_PATH),
    "all": ("all", _EDS_PATH),
    "a": ("all", _EDS_PATH),
}


def run_proxy_config(flags: Flags, streams: Streams) -> int:
    """``istioctl proxy-config <type> <pod>``: one of the views above."""
    kind, path = _SUBCOMMANDS[flags.path[-1]]
    return _VIEWS[kind](flags, streams, path)


def _table_view(
    what: str,
    summary: Callable[[ConfigDump, Flags], str],
    items: Callable[[ConfigDump, Flags], list[dict[str, Any]]],
) -> Callable[[Flags, Streams, str], int]:
    """A config-dump view: the summary table, or the selected protos as JSON/YAML."""

    def view(flags: Flags, streams: Streams, path: str) -> int:
        fmt = flags.get("output") or "short"
        raw, _ = _load(flags, what, "config_dump" + path)
        dump = ConfigDump(raw)
        if fmt == "short":
            streams.out.write(summary(dump, flags))
        elif fmt in ("json", "yaml"):
            streams.out.write(dump_protos(items(dump, flags), fmt))
        else:
            _check_output(fmt)
        return 0

    return view


def _clusters_of(dump: ConfigDump, flags: Flags) -> list[dict[str, Any]]:
    ok = cluster_filter(flags)
    return [c for c in dump.clusters() if ok(str(c.get("name", "")))]


def _listeners_of(dump: ConfigDump, flags: Flags) -> list[dict[str, Any]]:
    ok = listener_filter(flags)
    return [lst for lst in dump.listeners() if ok(lst)]


def _routes_of(dump: ConfigDump, flags: Flags) -> list[dict[str, Any]]:
    wanted = flags.get("name") or ""
    return [r for r in dump.routes() if not wanted or r.get("name") == wanted]


def _endpoint_view(flags: Flags, streams: Streams, path: str) -> int:
    fmt = flags.get("output") or "short"
    raw, _ = _load(flags, "endpoints", path)
    try:
        clusters = json.loads(raw)
    except ValueError as exc:
        raise CommandError(f"error unmarshalling config dump response from Envoy: {exc}") from None
    if fmt == "short":
        streams.out.write(endpoint_summary(clusters, flags))
    elif fmt in ("json", "yaml"):
        ok = endpoint_filter(flags)
        kept = [
            c
            for c in clusters.get("cluster_statuses") or []
            if any(ok(h, c.get("name", "")) for h in c.get("host_statuses") or [])
        ]
        streams.out.write(dump_protos(kept, fmt))
    else:
        _check_output(fmt)
    return 0


def _secret_view(flags: Flags, streams: Streams, path: str) -> int:
    fmt = flags.get("output") or "short"
    raw, _ = _load(flags, "secret", "config_dump" + path)
    dump = ConfigDump(raw)
    if fmt == "short":
        streams.out.write(secret_summary(dump))
    elif fmt in ("json", "yaml"):
        section = {k: v for k, v in dump.secrets().items() if k != "@type"}
        text = go_json(to_proto_json(section))
        streams.out.write((go_yaml(json.loads(text)) if fmt == "yaml" else text) + "\n")
    else:
        _check_output(fmt)
    return 0


def _bootstrap_view(flags: Flags, streams: Streams, path: str) -> int:
    fmt = flags.get("output") or "json"
    raw, _ = _load(flags, "bootstrap", "config_dump" + path)
    dump = ConfigDump(raw)
    section = {k: v for k, v in dump.section("BootstrapConfigDump").items() if k != "@type"}
    if fmt == "short":
        streams.out.write(bootstrap_summary(dump))
    elif fmt in ("json", "yaml"):
        text = go_json(to_proto_json(section))
        streams.out.write((go_yaml(json.loads(text)) if fmt == "yaml" else text) + "\n")
    else:
        _check_output(fmt)
    return 0


def _all_view(flags: Flags, streams: Streams, path: str) -> int:
    fmt = flags.get("output") or "short"
    _check_output(fmt)
    raw, _ = _load(flags, "all", "config_dump" + path)
    if fmt in ("json", "yaml"):
        text = raw.decode()
        streams.out.write((go_yaml(json.loads(text)) if fmt == "yaml" else text.rstrip("\n")) + "\n")
        return 0
    dump = ConfigDump(raw)
    parts = [
        bootstrap_summary(dump),
        cluster_summary(dump, flags, config_type=True),
        listener_summary(dump, flags, config_type=True),
        route_summary(dump, flags, config_type=True),
        secret_summary(dump, config_type=True),
        eds_summary(dump, flags),
    ]
    streams.out.write("\n".join(parts))
    return 0


_VIEWS: dict[str, Callable[[Flags, Streams, str], int]] = {
    "cluster": _table_view("cluster", cluster_summary, _clusters_of),
    "listener": _table_view("listener", listener_summary, _listeners_of),
    "route": _table_view("route", route_summary, _routes_of),
    "endpoints": _endpoint_view,
    "secret": _secret_view,
    "bootstrap": _bootstrap_view,
    "all": _all_view,
}


# ------------------------------------------------------------------------------ proxy-status


def run_proxy_status(flags: Flags, streams: Streams) -> int:
    """``istioctl proxy-status``: every connected proxy, as istiod sees it (``writer/pilot/status.go``)."""
    try:
        client = Client()
        ns = flags.get("istioNamespace") or "istio-system"
        istiods = [
            p
            for p in client.items(f"/api/v1/namespaces/{ns}/pods?labelSelector=app%3Distiod")
            if (p.get("status") or {}).get("phase") == "Running"
        ]
        if not istiods:
            raise CommandError("unable to find any Istiod instances")
        istiod = istiods[0]["metadata"]["name"]
        rows = ["NAME\tCLUSTER\tISTIOD\tVERSION\tSUBSCRIBED TYPES"]
        wanted_ns = flags.get("namespace") or ""
        for pod in sorted(
            client.items("/api/v1/pods"),
            key=lambda p: f"{p['metadata']['name']}.{p['metadata']['namespace']}",
        ):
            meta = pod["metadata"]
            names = [c.get("name") for c in pod["spec"].get("containers") or []]
            if "istio-proxy" not in names or (pod.get("status") or {}).get("phase") != "Running":
                continue
            if wanted_ns and meta["namespace"] != wanted_ns:
                continue
            types = _subscribed(client, meta["name"], meta["namespace"])
            rows.append(f"{meta['name']}.{meta['namespace']}\tKubernetes\t{istiod}\t1.27.1\t{types}")
    except ClientError as exc:
        raise CommandError(str(exc)) from None
    streams.out.write(tabwrite("\n".join(rows) + "\n", padding=5))
    return 0


def _subscribed(client: Client, pod: str, ns: str) -> str:
    """The xDS types the proxy subscribes to: CDS and LDS always, EDS with EDS clusters, RDS with routes."""
    raw = fetch_admin(client, pod, ns, "config_dump?mask=dynamic_active_clusters,dynamic_route_configs")
    dump = ConfigDump(raw)
    types = ["CDS", "LDS"]
    clusters = dump.section("ClustersConfigDump").get("dynamic_active_clusters") or []
    if any((c.get("cluster") or {}).get("type") == "EDS" for c in clusters):
        types.append("EDS")
    if dump.section("RoutesConfigDump").get("dynamic_route_configs"):
        types.append("RDS")
    return f"{len(types)} ({','.join(types)})"
