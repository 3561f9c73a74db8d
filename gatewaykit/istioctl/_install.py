"""``istioctl install`` / ``upgrade`` / ``uninstall``, through the sandbox's API server.

``install`` follows Istio 1.27.1's ``operator/cmd/mesh/install.go`` and ``operator/pkg/install``:
merge and validate the inputs (:mod:`._iop`), render the components (:mod:`._render`), create the
Istio namespace, then per component -- Base, then Pilot, then the gateways -- server-side apply every
object (field manager ``istio-operator``, forced), wait until its Deployments' pods are ready, and
report; finally prune what the install owns but no longer renders (``  Removed ...`` on stdout).

The progress lines are ``operator/pkg/util/progress``'s as written to a non-terminal (stderr, every
message on its own line): ``- Processing resources for Istiod.``, ``✔ Istiod installed 🧠``,
``- Pruning removed resources``, ``✔ Installation complete``. The components run in dependency order
like istioctl's goroutines; the two gateway components, which istioctl runs side by side, are
reported in a fixed order.

``uninstall --purge`` deletes every object carrying an ``operator.istio.io/component`` label
(``operator/pkg/uninstall/prune.go``).
"""

from __future__ import annotations

import re
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

from gatewaykit.istioctl import _iop, _render
from gatewaykit.istioctl._cli import CommandError, Flags, Streams
from gatewaykit.istioctl._client import ApiStatus, Client, ClientError, resource_path

__all__ = ["ART", "run_install", "run_uninstall", "run_upgrade"]

#: pkg/art/istio-ascii.txt (printed by ``istioctl install`` before anything else).
ART = (
    "        |\\          \n"
    "        | \\         \n"
    "        |  \\        \n"
    "        |   \\       \n"
    "      /||    \\      \n"
    "     / ||     \\     \n"
    "    /  ||      \\    \n"
    "   /   ||       \\   \n"
    "  /    ||        \\  \n"
    " /     ||         \\ \n"
    "/______||__________\\\n"
    "____________________\n"
    "  \\__       _____/  \n"
    "     \\_____/        \n"
)

_FIELD_MANAGER = "istio-operator"
#: uninstall.NamespacedResources() + ClusterResources, the kinds the sandbox serves, in prune order.
_PRUNED = (
    ("Deployment", "apps/v1, Kind=Deployment"),
    ("Service", "/v1, Kind=Service"),
    ("ConfigMap", "/v1, Kind=ConfigMap"),
    ("Pod", "/v1, Kind=Pod"),
    ("Secret", "/v1, Kind=Secret"),
    ("ServiceAccount", "/v1, Kind=ServiceAccount"),
)


class Progress:
    """``progress.Log`` writing to a non-terminal: each changed message on a new line."""

    def __init__(self, err: Any) -> None:
        self.err = err
        self.last = ""
        self.active: list[str] = []

    def write(self, message: str) -> None:
        if message == self.last:
            return
        self.last = message
        self.err.write("\n" + message)
        self.err.flush()

    def processing(self, waiting: Iterable[str] = ()) -> None:
        names = sorted(_render.BY_NAME[c].user_facing for c in self.active)
        msg = f"- Processing resources for {', '.join(names)}."
        wait = sorted(waiting)
        if wait:
            msg += f" Waiting for {', '.join(wait)}"
        self.write(msg)

    def finished(self, component: str) -> None:
        comp = _render.BY_NAME[component]
        self.write(f"✔ {comp.user_facing} installed {comp.icon}")
        self.active.remove(component)

    def failed(self, component: str, error: str) -> None:
        self.write(f"✘ {_render.BY_NAME[component].user_facing} encountered an error: {error}")
        self.active.remove(component)

    def close(self) -> None:
        """End the last line (istioctl leaves it open; the shell's next output starts on a new line)."""
        self.err.write("\n")
        self.err.flush()


def _client() -> Client:
    try:
        return Client()
    except ClientError as exc:
        raise CommandError(str(exc)) from None


def _duration(text: str) -> float:
    """A Go duration (``300s``, ``5m``, ``1m30s``) in seconds."""
    total, found = 0.0, False
    for value, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text or ""):
        found = True
        total += float(value) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    if not found:
        raise CommandError(
            f'invalid argument "{text}" for "--readiness-timeout" flag: time: invalid duration "{text}"'
        )
    return total


def _generate(flags: Flags, streams: Streams) -> dict[str, Any]:
    """``render.GenerateManifest``'s inputs: the merged, validated IstioOperator."""
    stdin = None
    files = [f for f in flags.get("filename") or [] if f]
    if "-" in files:
        stdin = streams.inp.read()
    sets = list(flags.get("set") or [])
    if flags.get("manifests"):
        sets.append(f"installPackagePath={flags['manifests']}")
    if flags.get("revision") and flags["revision"] != "default":
        raise CommandError(
            "gatewaykit: the sandbox runs one control plane revision, `default` (no --revision)"
        )
    try:
        iop = _iop.merge_inputs(files, sets, stdin)
    except _iop.InstallError as exc:
        raise CommandError(f"generate config: merge inputs: {exc}") from None
    try:
        _iop.validate(iop)
    except _iop.InstallError as exc:
        if not flags.get("force"):
            raise CommandError(f"generate config: {exc}") from None
        streams.err.write(f"spec invalid; continuing because of --force: {exc}\n")
    _refuse_unmodelled(iop)
    return iop


def _refuse_unmodelled(iop: Mapping[str, Any]) -> None:
    for comp in ("cni", "ztunnel", "istiodRemote"):
        spec = _iop.get_path(iop, f"spec.components.{comp}")
        if isinstance(spec, Mapping) and spec.get("enabled") is True:
            raise CommandError(
                f"gatewaykit: the sandbox does not run the {comp} component (ambient mode and remote control "
                "planes are not modelled); install without it"
            )


def _confirm(streams: Streams, message: str) -> bool:
    """``Confirm``: prompt on stdout, read a word from stdin (EOF or anything but y/yes: no)."""
    while True:
        streams.out.write(f"{message} ")
        streams.out.flush()
        line = streams.inp.readline()
        if not line:
            return False
        word = line.strip().split()[0].upper() if line.strip() else ""
        if word in ("Y", "YES"):
            return True
        if word in ("N", "NO"):
            return False


def run_install(flags: Flags, streams: Streams) -> int:
    """``istioctl install``: the art, then :func:`install`."""
    if flags.args:
        raise CommandError(f'unknown command "{flags.args[0]}" for "istioctl install"', 64)
    streams.err.write(ART + "\n")
    return install(flags, streams)


def run_upgrade(flags: Flags, streams: Streams) -> int:
    """``istioctl upgrade``: "an alias for the install command" (without the art)."""
    return install(flags, streams)


def install(flags: Flags, streams: Streams) -> int:
    """Render, confirm, apply component by component, wait, prune."""
    timeout = _duration(flags.get("readiness-timeout") or "300s")
    iop = _generate(flags, streams)
    client = _client()
    profile = _iop.get_path(iop, "spec.profile") or "default"
    if not flags.get("dry-run") and not flags.get("skip-confirmation"):
        prompt = (
            f'This will install the Istio {_iop.ISTIO_VERSION} profile "{profile}" into the cluster. '
            "Proceed? (y/N)"
        )
        if not _confirm(streams, prompt):
            streams.err.write("Cancelled.\n")
            return 1
    manifests = _render.render(iop)
    progress = Progress(streams.err)
    try:
        if not flags.get("dry-run"):
            _create_namespace(client, _render._namespace(iop))
        _install_components(client, manifests, progress, timeout, dry_run=bool(flags.get("dry-run")))
        if not flags.get("dry-run"):
            progress.write("- Pruning removed resources")
            _prune(client, iop, manifests, streams)
        progress.write("✔ Installation complete")
    except CommandError:
        progress.close()
        raise
    except ClientError as exc:
        progress.close()
        raise CommandError(f"failed to install manifests: {exc}") from None
    progress.close()
    return 0


def _create_namespace(client: Client, ns: str) -> None:
    """``util.CreateNamespace``: the Istio namespace, if it does not exist yet."""
    if client.get_or_none(f"/api/v1/namespaces/{ns}") is not None:
        return
    try:
        client.call(
            "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
        )
    except ApiStatus as exc:
        if exc.code != 409:
            raise CommandError(f"failed to create namespace {ns}: {exc.message}") from None


def _object_path(obj: Mapping[str, Any]) -> str:
    meta = obj["metadata"]
    return resource_path(obj["kind"], meta.get("namespace", ""), meta["name"])


def _install_components(
    client: Client,
    manifests: list[_render.ComponentManifests],
    progress: Progress,
    timeout: float,
    *,
    dry_run: bool,
) -> None:
    """Base, then Pilot, then the gateways (``componentDependencies``), each applied then waited for."""
    stages = [
        [m for m in manifests if m.component.name == "Base"],
        [m for m in manifests if m.component.name == "Pilot"],
        [m for m in manifests if m.component.name in ("IngressGateways", "EgressGateways")],
    ]
    for stage in stages:
        ordered = sorted(stage, key=lambda m: m.component.user_facing)
        progress.active += [mf.component.name for mf in ordered]
        for mf in ordered:
            for obj in mf.objects:
                progress.processing()
                if not dry_run:
                    _apply(client, obj, mf, progress)
        for mf in ordered:
            if not dry_run:
                _wait(client, mf, progress, timeout)
            progress.finished(mf.component.name)


def _apply(
    client: Client, obj: Mapping[str, Any], mf: _render.ComponentManifests, progress: Progress
) -> None:
    meta = obj["metadata"]
    name = f"{obj['kind']}/{meta.get('namespace', '')}/{meta['name']}"
    try:
        client.apply(_object_path(obj), dict(obj), _FIELD_MANAGER)
    except ApiStatus as exc:
        error = f"failed to update resource with server-side apply for obj {name}: {exc.message}"
        progress.failed(mf.component.name, error)
        raise CommandError(f"failed to install manifests: {error}") from None


def _deployment_ready(client: Client, obj: Mapping[str, Any]) -> tuple[bool, str]:
    """``deploymentsReady``: all replicas of the Deployment's pods ready (and the reason if not)."""
    meta = obj["metadata"]
    dep = client.get_or_none(_object_path(obj))
    if dep is None:
        return False, ""
    labels = (dep.get("spec") or {}).get("selector", {}).get("matchLabels", {})
    query = urllib.parse.urlencode({"labelSelector": ",".join(f"{k}={v}" for k, v in labels.items())})
    pods = client.items(f"/api/v1/namespaces/{meta['namespace']}/pods?{query}")
    want = int((dep.get("spec") or {}).get("replicas", 1))
    ready = [p for p in pods if _pod_ready(p)]
    if len(ready) >= want:
        return True, ""
    for p in pods:
        for cs in (p.get("status") or {}).get("containerStatuses") or []:
            waiting = (cs.get("state") or {}).get("waiting")
            if waiting:
                return (
                    False,
                    f"container failed to start: {waiting.get('reason', '')}: {waiting.get('message', '')}",
                )
    return False, ""


def _pod_ready(pod: Mapping[str, Any]) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and all(
        c.get("ready") for c in status.get("containerStatuses") or []
    )


def _wait(client: Client, mf: _render.ComponentManifests, progress: Progress, timeout: float) -> None:
    """``WaitForResources``: ready at once, or poll every 2s, reporting what it waits for."""
    deps = [o for o in mf.objects if o["kind"] == "Deployment"]
    deadline = time.monotonic() + timeout
    while True:
        status = [(o, *_deployment_ready(client, o)) for o in deps]
        pending = [(o, why) for o, ok, why in status if not ok]
        if not pending:
            return
        names = [f"Deployment/{o['metadata']['namespace']}/{o['metadata']['name']}" for o, _ in pending]
        progress.processing(names)
        if time.monotonic() >= deadline:
            debug = "\n".join(
                f"  {n} ({why})" if why else f"  {n}" for n, (_, why) in zip(names, pending, strict=True)
            )
            error = (
                f"failed to wait for resource: resources not ready after {_go_duration(timeout)}: "
                f"context deadline exceeded\n{debug}"
            )
            progress.failed(mf.component.name, error)
            raise CommandError(f"failed to install manifests: {error}")
        time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))


def _go_duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


# ------------------------------------------------------------------------------ prune


def _selector(labels: Mapping[str, str], exists: str = "operator.istio.io/component") -> str:
    parts = [f"{k}={v}" for k, v in labels.items()]
    if exists:
        parts.append(exists)
    return urllib.parse.urlencode({"labelSelector": ",".join(parts)})


def _hash(obj: Mapping[str, Any]) -> str:
    meta = obj["metadata"]
    return f"{obj['kind']}:{meta.get('namespace', '')}:{meta['name']}"


def _prune(
    client: Client, iop: Mapping[str, Any], manifests: list[_render.ComponentManifests], streams: Streams
) -> None:
    """``Installer.prune``: delete owned objects of every component that this install no longer renders."""
    keep = {_hash(o) for m in manifests for o in m.objects}
    core = _render.owner_labels(iop)
    doomed: list[tuple[str, dict[str, Any]]] = []
    for kind, gvk in _PRUNED:
        objs = client.items(f"{resource_path(kind)}?{_selector(core)}")
        for comp in _render.COMPONENTS:
            want = _render.owner_labels(iop, comp.name)
            for obj in objs:
                labels = obj["metadata"].get("labels") or {}
                if _hash({**obj, "kind": kind}) in keep:
                    continue
                if labels.get("install.operator.istio.io/owning-resource-not-pruned") == "true":
                    continue
                if all(labels.get(k) == v for k, v in want.items()):
                    doomed.append((gvk, {**obj, "kind": kind}))
    _delete_all(client, doomed, streams)


def _delete_all(client: Client, doomed: list[tuple[str, dict[str, Any]]], streams: Streams) -> None:
    """``DeleteResource`` each: ``  Removed <gvk>/<name>.<ns>.`` (a pod whose Deployment went first
    is reported removed too: on a cluster it is still terminating at that moment)."""
    gone_owners: set[tuple[str, str]] = set()
    for gvk, obj in doomed:
        meta = obj["metadata"]
        label = f"{gvk}/{meta['name']}.{meta.get('namespace', '')}"
        try:
            client.delete(_object_path(obj))
        except ApiStatus as exc:
            if exc.code != 404:
                raise CommandError(str(exc.message)) from None
            if not (obj["kind"] == "Pod" and (meta.get("namespace", ""), _pod_owner(meta)) in gone_owners):
                streams.out.write(f"object: {label} is not being deleted because it no longer exists\n")
                continue
        if obj["kind"] == "Deployment":
            gone_owners.add((meta.get("namespace", ""), meta["name"]))
        streams.out.write(f"  Removed {label}.\n")
    streams.out.flush()


def _pod_owner(meta: Mapping[str, Any]) -> str:
    """The Deployment a pod's name comes from (``<deployment>-<hash>-<id>``)."""
    return meta["name"].rsplit("-", 2)[0]


# ------------------------------------------------------------------------------ uninstall


def run_uninstall(flags: Flags, streams: Streams) -> int:
    """``istioctl uninstall --purge`` (or ``-f``): delete what the install owns."""
    revision = flags.get("revision") or ""
    set_revision = any(s.startswith("revision=") for s in flags.get("set") or [])
    if not (revision or set_revision or flags.get("filename") or flags.get("purge")):
        raise CommandError(
            "at least one of the --revision (or --set revision=<revision>), --filename or --purge flags "
            "must be set"
        )
    if flags.args:
        raise CommandError("istioctl uninstall does not take arguments")
    client = _client()
    purge = bool(flags.get("purge"))
    if purge and (revision or flags.get("filename")):
        streams.out.write(
            "Purge uninstall will remove all Istio resources, ignoring the specified revision or operator "
            "file\n"
        )
    try:
        iop = _iop.merge_inputs(
            [flags["filename"]] if flags.get("filename") else [], list(flags.get("set") or [])
        )
    except _iop.InstallError as exc:
        raise CommandError(str(exc)) from None
    doomed = _uninstall_set(client, iop, purge, revision)
    if not _pre_check(
        streams, doomed, purge, bool(flags.get("skip-confirmation")), bool(flags.get("verbose"))
    ):
        return 1
    _delete_all(client, doomed, streams)
    progress = Progress(streams.err)
    progress.write("✔ Uninstall complete")
    progress.close()
    return 0


def _uninstall_set(
    client: Client, iop: Mapping[str, Any], purge: bool, revision: str
) -> list[tuple[str, dict[str, Any]]]:
    """``GetPrunedResources``: with ``--purge`` every object with a component label, else the owner's."""
    if purge:
        query = _selector({})
    else:
        labels = {}
        if revision:
            labels["istio.io/rev"] = revision
        if _iop.get_path(iop, "metadata.name"):
            labels["install.operator.istio.io/owning-resource"] = str(_iop.get_path(iop, "metadata.name"))
        if _iop.get_path(iop, "metadata.namespace"):
            labels["install.operator.istio.io/owning-resource-namespace"] = str(
                _iop.get_path(iop, "metadata.namespace")
            )
        query = _selector(
            labels, "operator.istio.io/component in (Pilot,IngressGateways,EgressGateways,Cni,Ztunnel)"
        )
    out = []
    for kind, gvk in _PRUNED:
        out += [(gvk, {**o, "kind": kind}) for o in client.items(f"{resource_path(kind)}?{query}")]
    return out


def _pre_check(
    streams: Streams, doomed: list[tuple[str, dict[str, Any]]], purge: bool, yes: bool, verbose: bool
) -> bool:
    """``preCheckWarnings``: what will go, and the confirmation."""
    if purge:
        message = "All Istio resources will be pruned from the cluster\n"
    else:
        if not doomed:
            streams.out.write(
                "No resources will be pruned from the cluster. Please double check the input configs\n\n"
            )
            return True
        kinds: dict[str, list[str]] = {}
        for _, o in doomed:
            kinds.setdefault(o["kind"], []).append(o["metadata"]["name"])
        message = ""
        if verbose:
            listing = "".join(f"{k}: {', '.join(v)}. " for k, v in kinds.items())
            message += f"The following resources will be pruned from the cluster: {listing}\n"
        gws = [n for n in kinds.get("Deployment", []) if "gateway" in n]
        if gws:
            message += (
                f"You are about to remove the following gateways: {', '.join(gws)}. To avoid downtime, "
                "please quit "
                "this command and reinstall the gateway(s) with a revision that is not being removed from "
                "the cluster.\n"
            )
        if not gws:
            streams.out.write(message + "\n" if message else "")
            return True
    if yes:
        streams.out.write(message + "\n")
        return True
    if not _confirm(streams, message + "Proceed? (y/N)"):
        streams.err.write("Cancelled.\n")
        return False
    return True
