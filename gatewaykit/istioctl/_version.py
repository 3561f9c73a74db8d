"""``istioctl version``: the client's version, istiod's, and the data plane's (``pkg/version/cobra.go``).

The real command asks each ready istiod pod for ``/version`` on its monitoring port and istiod for
its connected proxies. Here the control plane is the ready ``app=istiod`` pods of the Istio
namespace (their version is the pilot image's tag) and the data plane is every running pod with an
``istio-proxy`` container -- the proxies the sandbox's translation configures.
"""

from __future__ import annotations

import json
from typing import Any

from gatewaykit.istioctl._cli import Flags, Streams
from gatewaykit.istioctl._client import ApiStatus, Client, ClientError
from gatewaykit.istioctl._iop import ISTIO_VERSION

__all__ = ["BUILD", "run_version"]

#: The client's ``BuildInfo``: honest about being the sandbox's (``revision``).
BUILD = {
    "version": ISTIO_VERSION,
    "revision": "gatewaykit-sandbox",
    "golang_version": "",
    "status": "Clean",
    "tag": ISTIO_VERSION,
}


def _long(info: dict[str, str]) -> str:
    """Go's ``%#v`` of a ``version.BuildInfo``."""
    return (
        f'version.BuildInfo{{Version:"{info["version"]}", GitRevision:"{info["revision"]}", '
        f'GolangVersion:"{info["golang_version"]}", BuildStatus:"{info["status"]}", GitTag:"{info["tag"]}"}}'
    )


def _ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and all(
        c.get("ready") for c in status.get("containerStatuses") or []
    )


def _control_plane(client: Client, ns: str) -> list[dict[str, Any]]:
    pods = client.items(f"/api/v1/namespaces/{ns}/pods?labelSelector=app%3Distiod")
    ready = [p for p in pods if _ready(p)]
    if not ready:
        raise LookupError(f'no running Istio pods in namespace "{ns}"')
    out = []
    for pod in ready:
        image = next(
            (c.get("image", "") for c in pod["spec"].get("containers") or [] if c.get("name") == "discovery"),
            "",
        )
        tag = image.rsplit(":", 1)[-1] if ":" in image.rsplit("/", 1)[-1] else ISTIO_VERSION
        labels = pod["metadata"].get("labels") or {}
        info = {**BUILD, "version": tag, "tag": tag, "revision": "gatewaykit-sandbox"}
        out.append(
            {"Component": labels.get("istio", ""), "Revision": labels.get("istio.io/rev", ""), "Info": info}
        )
    return out


def _proxies(client: Client) -> list[dict[str, Any]]:
    out = []
    for pod in client.items("/api/v1/pods"):
        names = [c.get("name") for c in pod["spec"].get("containers") or []]
        if "istio-proxy" in names and (pod.get("status") or {}).get("phase") == "Running":
            meta = pod["metadata"]
            out.append(
                {"ID": f"{meta['name']}.{meta['namespace']}", "IstioVersion": ISTIO_VERSION, "Type": ""}
            )
    return sorted(out, key=lambda p: p["ID"])


def _render_proxies(proxies: list[dict[str, Any]]) -> str:
    if not proxies:
        return "none"
    by_version: dict[str, int] = {}
    for p in proxies:
        by_version[p["IstioVersion"]] = by_version.get(p["IstioVersion"], 0) + 1
    return ", ".join(f"{v} ({n} proxies)" for v, n in sorted(by_version.items()))


def run_version(flags: Flags, streams: Streams) -> int:
    """Print the versions (``--short`` default, ``-o json|yaml``, ``--remote=false``)."""
    from gatewaykit.istioctl._cli import CommandError  # noqa: PLC0415

    output = flags.get("output") or ""
    if output not in ("", "yaml", "json"):
        raise CommandError("--output must be 'yaml' or 'json'")
    mesh: list[dict[str, Any]] | None = None
    proxies: list[dict[str, Any]] | None = None
    if flags.get("remote"):
        mesh, proxies = _remote(flags, streams)
    if output == "json":
        doc: dict[str, Any] = {"clientVersion": BUILD}
        if mesh is not None:
            doc["meshVersion"] = mesh
        if proxies is not None:
            doc["dataPlaneVersion"] = proxies
        streams.out.write(json.dumps(doc, indent=2) + "\n")
        return 0
    if output == "yaml":
        import yaml  # noqa: PLC0415

        doc = {"clientVersion": BUILD, **({"meshVersion": mesh} if mesh is not None else {})}
        if proxies is not None:
            doc["dataPlaneVersion"] = proxies
        streams.out.write(yaml.safe_dump(doc, sort_keys=False) + "\n")
        return 0
    _print_text(flags, streams, mesh, proxies)
    return 0


def _remote(
    flags: Flags, streams: Streams
) -> tuple[list[dict[str, Any]] | None, list[dict[str, Any]] | None]:
    ns = flags.get("istioNamespace") or "istio-system"
    try:
        client = Client()
        mesh = _control_plane(client, ns)
    except (ClientError, ApiStatus, LookupError) as exc:
        streams.err.write(f"Istio is not present in the cluster: {exc}\n")
        return None, None
    try:
        return mesh, _proxies(client)
    except (ClientError, ApiStatus):
        return mesh, None


def _print_text(
    flags: Flags, streams: Streams, mesh: list[dict[str, Any]] | None, proxies: list[dict[str, Any]] | None
) -> None:
    w = streams.out.write
    if flags.get("short"):
        w(f"client version: {BUILD['version']}\n")
        if mesh:
            versions = {m["Info"]["version"] for m in mesh}
            if len(versions) == 1:
                w(f"control plane version: {mesh[0]['Info']['version']}\n")
            else:
                for m in mesh:
                    w(f"{m['Component']} version: {m['Info']['version']}\n")
        if proxies is not None:
            w(f"data plane version: {_render_proxies(proxies)}\n")
        return
    w(f"client version: {_long(BUILD)}\n")
    for m in mesh or []:
        w(f"{m['Component']} version: {_long(m['Info'])}\n")
    for p in proxies or []:
        w(
            "data plane version: "
            f'version.ProxyInfo{{ID:"{p["ID"]}", IstioVersion:"{p["IstioVersion"]}", Type:""}}\n'
        )
