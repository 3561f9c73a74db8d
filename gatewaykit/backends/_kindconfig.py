"""The kind backend's declarative side, as pure functions: no Docker, no Kubernetes calls.

Pinned images (``cluster/images.txt``), the node container's flags (``cluster/node.yaml``), the
kubeadm and Istio configs, the host checks kind itself makes (``docker info``: rootless, cgroup
version, storage driver), the containerd snapshotter, the CNI template, the CoreDNS patch for the
fake internet, and the diagnosis of a failure from its message. Each cites the kind v0.29.0 or
Istio 1.27 source it follows.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re
import string
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from gatewaykit.errors import ClusterError

__all__ = [
    "CLUSTER_DIR",
    "READY_LOG",
    "HostConfig",
    "NodeSpec",
    "PinnedImage",
    "diagnose",
    "docker_platform",
    "host_config",
    "image_repository",
    "normalize_ref",
    "ingress_env",
    "parse_snapshotter",
    "patch_corefile",
    "pin_images",
    "pinned_images",
    "render_cni_manifest",
    "render_istio_operator",
    "render_kubeadm_config",
]

#: Where the declarative assets live (``GATEWAYKIT_CLUSTER_DIR`` overrides; default: the repo's).
CLUSTER_DIR = pathlib.Path(
    os.environ.get("GATEWAYKIT_CLUSTER_DIR") or pathlib.Path(__file__).resolve().parents[2] / "cluster"
)

#: The node is ready for ``docker exec`` when systemd reached multi-user (cgroup v2) or the entrypoint
#: logged ``detected cgroup v1`` (kind pkg/cluster/internal/providers/common/cgroups.go,
#: ``NodeReachedCgroupsReadyRegexp``). Systemd prints the target as ``Multi-User System`` (with
#: colour codes and a unit name around it depending on its version), hence a regexp.
READY_LOG = re.compile(r"Reached target .*Multi-User System.*|detected cgroup v1")


# --------------------------------------------------------------------------- pinned images


@dataclass(frozen=True, slots=True)
class PinnedImage:
    """One line of ``cluster/images.txt``: the image's role and its reference.

    ``ref`` is ``repo:tag@sha256:<digest>`` when pinned by digest, else ``repo:tag``.
    """

    role: str
    ref: str

    @property
    def tagged(self) -> str:
        """``repo:tag`` (the name ``docker save``/``load`` and the node's containerd keep)."""
        return self.ref.split("@", 1)[0]

    @property
    def digest(self) -> str | None:
        """``sha256:...`` when pinned by digest."""
        return self.ref.split("@", 1)[1] if "@" in self.ref else None

    @property
    def by_digest(self) -> str:
        """``repo@sha256:...`` (what a verified pull asks for), or the tag when not pinned."""
        if self.digest is None:
            return self.ref
        return f"{self.tagged.rsplit(':', 1)[0]}@{self.digest}"

    @property
    def short(self) -> str:
        """The reference without ``docker.io/`` and digest (how ``docker images`` shows it)."""
        return self.tagged.removeprefix("docker.io/").removeprefix("library/")


def pinned_images(path: pathlib.Path | None = None) -> tuple[PinnedImage, ...]:
    """Every image of ``cluster/images.txt`` (comments and blank lines skipped)."""
    out = []
    for line in (path or CLUSTER_DIR / "images.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            role, ref = line.split()[:2]
            out.append(PinnedImage(role, ref))
    return tuple(out)


def pinned(role: str, contains: str = "") -> PinnedImage:
    """The pinned image of a role (``node``, ``istioctl``, ``ryuk``...)."""
    for img in pinned_images():
        if img.role == role and contains in img.ref:
            return img
    raise ClusterError(f"cluster/images.txt pins no {role} image {contains!r}")


def image_repository(ref: str) -> str:
    """``docker.io/library/nginx:1.27.5`` -> ``nginx``: the repository as Docker normalizes it."""
    name = ref.split("@", 1)[0]
    if ":" in name.rsplit("/", 1)[-1]:
        name = name.rsplit(":", 1)[0]
    for prefix in ("docker.io/library/", "docker.io/", "library/"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def normalize_ref(ref: str) -> str:
    """The fully qualified name containerd records for a Docker reference (kind ``sanitizeImage``):
    ``nginx:1.27.5`` -> ``docker.io/library/nginx:1.27.5``."""
    name = ref if "/" in ref else f"library/{ref}"
    first = name.split("/", 1)[0]
    if not ("." in first or ":" in first or first == "localhost"):
        name = f"docker.io/{name}"
    return name if ":" in name.rsplit("/", 1)[-1] or "@" in name else f"{name}:latest"


def pin_images(obj: dict[str, Any], pinned_refs: Iterable[str]) -> dict[str, Any]:
    """Give untagged/``latest`` sample images the pinned tag and ``IfNotPresent`` (offline nodes).

    Labs written like Istio's docs say ``image: curlimages/curl``; on a node without a registry that
    means ``latest`` and ``imagePullPolicy: Always`` -- a pull that cannot succeed. An image whose
    repository is pinned in ``cluster/images.txt`` and that names no tag (or ``latest``) gets the
    pinned ``repo:tag`` (the name the node's containerd knows it by after ``ctr images import``,
    which records no registry digest); other images are left exactly as written.
    """
    by_repo = {image_repository(ref): ref.split("@", 1)[0] for ref in pinned_refs}
    spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    for key in ("containers", "initContainers"):
        for c in spec.get(key) or []:
            image = str(c.get("image", ""))
            last = image.split("@", 1)[0].rsplit("/", 1)[-1]
            untagged = "@" not in image and (":" not in last or last.endswith(":latest"))
            if untagged and image_repository(image) in by_repo:
                c["image"] = by_repo[image_repository(image)]
                c["imagePullPolicy"] = "IfNotPresent"
    return obj


# --------------------------------------------------------------------------- the node


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """The kind node container's flags and the cluster's networking (``cluster/node.yaml``)."""

    privileged: bool = True
    security_opt: tuple[str, ...] = ("seccomp=unconfined", "apparmor=unconfined")
    cgroupns: str = "private"
    tty: bool = True
    tmpfs: Mapping[str, str] = field(default_factory=lambda: {"/tmp": "", "/run": ""})
    var_volume: str = "/var"
    volumes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    entrypoint: tuple[str, ...] = ("/usr/local/bin/entrypoint", "/sbin/init")
    hostname: str = "gatewaykit-control-plane"
    restart_policy: Mapping[str, Any] = field(
        default_factory=lambda: {"Name": "on-failure", "MaximumRetryCount": 1}
    )
    api_server_port: int = 6443
    node_ports: Mapping[str, int] = field(
        default_factory=lambda: {"http2": 30080, "https": 30443, "tcp": 31400}
    )
    pod_subnet: str = "10.244.0.0/16"
    service_subnet: str = "10.96.0.0/16"
    network: str = "gatewaykit"

    @classmethod
    def load(cls, path: pathlib.Path | None = None) -> NodeSpec:
        """Read ``cluster/node.yaml``."""
        data = yaml.safe_load((path or CLUSTER_DIR / "node.yaml").read_text()) or {}
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ClusterError(f"cluster/node.yaml: unknown keys {sorted(unknown)}")
        for key in ("security_opt", "entrypoint"):
            if key in data:
                data[key] = tuple(data[key])
        if "tmpfs" in data:
            data["tmpfs"] = {k: v or "" for k, v in data["tmpfs"].items()}
        return cls(**data)

    def published_ports(self) -> tuple[int, ...]:
        """Node ports published to 127.0.0.1: the API server and the ingress NodePorts."""
        return (self.api_server_port, *self.node_ports.values())


@dataclass(frozen=True, slots=True)
class HostConfig:
    """What ``docker info`` says the node container needs on this host (kind's own checks).

    Attributes:
        binds: extra ``host:container[:mode]`` binds (``/dev/mapper`` on btrfs/zfs/xfs).
        devices: extra devices (``/dev/fuse`` for rootless Docker's fuse-overlayfs).
        userns_mode: ``"host"`` when dockerd runs with ``userns-remap``.
        notes: what the learner should know (cgroup v1, Docker Desktop...).
    """

    binds: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    userns_mode: str | None = None
    notes: tuple[str, ...] = ()


def _security_options(info: Mapping[str, Any]) -> set[str]:
    # "name=seccomp,profile=default", "name=rootless" (kind provider.go info()).
    return {part for opt in info.get("SecurityOptions") or [] for part in str(opt).split(",")}


def _needs_dev_mapper(info: Mapping[str, Any]) -> bool:
    """kind ``mountDevMapper`` (providers/docker/util.go): the kubelet reads rootfs info through
    ``/dev/mapper`` on btrfs/zfs/devicemapper storage drivers or a btrfs/zfs/xfs backing fs."""
    if str(info.get("Driver", "")).lower() in ("btrfs", "zfs", "devicemapper"):
        return True
    for key, value in info.get("DriverStatus") or []:
        if key == "Backing Filesystem":
            return str(value).lower() in ("btrfs", "zfs", "xfs")
    return False


def host_config(info: Mapping[str, Any]) -> HostConfig:
    """The extra flags and refusals for this Docker host, as kind v0.29.0 decides them.

    Raises:
        ClusterError: rootless Docker without cgroup v2 or without controller delegation (kind
            ``validateProvider``, pkg/cluster/internal/create/create.go).
    """
    options = _security_options(info)
    rootless = "name=rootless" in options
    cgroup2 = str(info.get("CgroupVersion", "")) == "2"
    if rootless and not cgroup2:
        raise ClusterError(
            "rootless Docker needs cgroup v2 for a kind node: see https://kind.sigs.k8s.io/docs/user/rootless/"
        )
    delegated = info.get("CgroupDriver") != "none" and all(
        info.get(k) for k in ("MemoryLimit", "PidsLimit", "CPUShares")
    )
    if rootless and not delegated:
        raise ClusterError(
            'rootless Docker needs the systemd property "Delegate=yes" for a kind node: '
            "see https://kind.sigs.k8s.io/docs/user/rootless/"
        )
    notes = []
    if not cgroup2:
        notes.append(
            "cgroup v1 host: supported by Kubernetes 1.33 in maintenance mode; cgroup v2 is preferred"
        )
    return HostConfig(
        binds=("/dev/mapper:/dev/mapper",) if _needs_dev_mapper(info) else (),
        devices=("/dev/fuse",) if rootless else (),
        userns_mode="host" if "name=userns" in options else None,
        notes=tuple(notes),
    )


def docker_platform(attrs: Mapping[str, Any]) -> str:
    """``linux/amd64`` (``/v8`` variants kept) from an image's or ``docker info``'s attributes."""
    arch = str(attrs.get("Architecture", "amd64"))
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(arch, arch)
    platform = f"{attrs.get('Os') or attrs.get('OSType') or 'linux'}/{arch}"
    variant = attrs.get("Variant")
    return f"{platform}/{variant}" if variant else platform


def parse_snapshotter(config_dump: str) -> str:
    """The CRI snapshotter from ``containerd config dump`` (kind nodeutils ``parseSnapshotter``).

    Images must be unpacked with the snapshotter the kubelet's CRI uses, or pods cannot find them.
    """
    try:
        parsed = tomllib.loads(config_dump)
    except tomllib.TOMLDecodeError as exc:
        raise ClusterError(f"cannot read the node's containerd config: {exc}") from exc
    plugins = parsed.get("plugins") or {}
    version = parsed.get("version")
    if version == 2:  # containerd 1.3+, still read by 2.x
        found = ((plugins.get("io.containerd.grpc.v1.cri") or {}).get("containerd") or {}).get("snapshotter")
    elif version == 3:  # containerd 2.0+
        found = (plugins.get("io.containerd.cri.v1.images") or {}).get("snapshotter")
    else:
        raise ClusterError(f"unknown containerd config version {version!r} (supported: 2 and 3)")
    if not found:
        raise ClusterError(f"the node's containerd config (version {version}) names no CRI snapshotter")
    return str(found)


# --------------------------------------------------------------------------- rendered configs


def render_kubeadm_config(
    spec: NodeSpec,
    node_ip: str,
    *,
    kubernetes_version: str,
    template: str | None = None,
    extra_sans: Sequence[str] = (),
) -> str:
    """The kubeadm config for the node (``cluster/kubeadm.yaml`` with its ``$names`` filled).

    ``kubernetes_version`` is the node image's (``/kind/version``, kind nodeutils ``KubeVersion``).
    certSANs hold every name the API server is reached by: 127.0.0.1/localhost (the host, through
    the published port), the node's hostname (istioctl's container on the node network) and its IP.
    Each document's ``metadata`` is removed, as kind's ``removeMetadata`` does: kubeadm's
    configuration types have no such field.
    """
    text = template if template is not None else (CLUSTER_DIR / "kubeadm.yaml").read_text()
    sans = ["localhost", "127.0.0.1", spec.hostname, node_ip, *[s for s in extra_sans if s != spec.hostname]]
    rendered = string.Template(text).substitute(
        kubernetes_version=kubernetes_version,
        node_name=spec.hostname,
        node_ip=node_ip,
        pod_subnet=spec.pod_subnet,
        service_subnet=spec.service_subnet,
        cert_sans="\n".join(f'  - "{s}"' for s in sans),
    )
    return re.sub(r"(?m)^metadata:\n(?:  .*\n)*", "", rendered)


def render_istio_operator(
    spec: NodeSpec,
    *,
    istio_version: str,
    outbound_traffic_policy: str = "ALLOW_ANY",
    hub: str = "docker.io/istio",
    template: str | None = None,
) -> str:
    """The ``IstioOperator`` for ``istioctl install -f`` (``cluster/istio/operator.yaml`` filled in).

    Raises:
        ValueError: ``outbound_traffic_policy`` is not one of Istio's two modes (docs/behaviour.md §11.2).
    """
    # meshConfig.outboundTrafficPolicy.mode: ALLOW_ANY | REGISTRY_ONLY (docs/behaviour.md §11.2).
    if outbound_traffic_policy not in ("ALLOW_ANY", "REGISTRY_ONLY"):
        raise ValueError(
            f"outboundTrafficPolicy mode must be ALLOW_ANY or REGISTRY_ONLY, not {outbound_traffic_policy!r}"
        )
    text = template if template is not None else (CLUSTER_DIR / "istio" / "operator.yaml").read_text()
    return string.Template(text).substitute(
        hub=hub,
        istio_version=istio_version,
        outbound_traffic_policy=outbound_traffic_policy,
        http2_node_port=spec.node_ports["http2"],
        https_node_port=spec.node_ports["https"],
        tcp_node_port=spec.node_ports["tcp"],
    )


def render_cni_manifest(template: str, pod_subnet: str) -> str:
    """kind's ``/kind/manifests/default-cni.yaml`` with its one template variable filled.

    kind (pkg/cluster/internal/create/actions/installcni) executes it as a Go template with
    ``.PodSubnet``; the file must carry kind's marker "would you kindly template this file".
    """
    if "would you kindly template this file" not in template:
        raise ClusterError("the node image's default CNI manifest is not kind's template")
    out = template.replace("{{ .PodSubnet }}", pod_subnet).replace("{{.PodSubnet}}", pod_subnet)
    if "{{" in out.replace("would you kindly template this file", ""):
        raise ClusterError("the node image's CNI template uses variables gatewaykit does not know")
    return out


def ingress_env(mapped: Mapping[str, int], host: str = "127.0.0.1") -> dict[str, str]:
    """``INGRESS_HOST``/``INGRESS_PORT``/``SECURE_INGRESS_PORT``/``TCP_INGRESS_PORT``.

    The ports are the host ports the node ports of the ingress Service ports ``http2``, ``https``
    and ``tcp`` are published on -- what the docs' ``kubectl get svc ... nodePort`` recipe yields
    for a NodePort Service (docs/behaviour.md §0).
    """
    return {
        "INGRESS_HOST": host,
        "INGRESS_PORT": str(mapped["http2"]),
        "SECURE_INGRESS_PORT": str(mapped["https"]),
        "TCP_INGRESS_PORT": str(mapped["tcp"]),
    }


def patch_corefile(corefile: str, ip: str, hosts: Sequence[str]) -> str:
    """CoreDNS config answering the fake internet's names with its container IP.

    A ``hosts`` block in the ``.:53`` server (with ``fallthrough`` so every other name still goes
    to ``kubernetes`` and ``forward``); idempotent: an earlier gatewaykit block is replaced.
    """
    begin, end = "# gatewaykit fake internet begin", "# gatewaykit fake internet end"
    lines = corefile.splitlines()
    if begin in corefile:
        i = next(n for n, x in enumerate(lines) if x.strip() == begin)
        j = next(n for n, x in enumerate(lines) if x.strip() == end)
        del lines[i : j + 1]
    block = [
        f"    {begin}",
        "    hosts {",
        f"       {ip} {' '.join(hosts)}",
        "       fallthrough",
        "    }",
        f"    {end}",
    ]
    for i, line in enumerate(lines):
        if line.strip().startswith(".:53") and line.rstrip().endswith("{"):
            lines[i + 1 : i + 1] = block
            return "\n".join(lines) + "\n"
    raise ClusterError("CoreDNS Corefile has no .:53 server block")


# --------------------------------------------------------------------------- diagnosis

#: (needles in a message or log, lower-case) -> the fix printed under the error.
_FIXES: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        (
            "cannot connect to the docker daemon",
            "docker.sock",
            "connection aborted",
            "error while fetching server api version",
        ),
        "no Docker: install Docker and start it (`docker info` must work), or use the embedded sandbox "
        "(Sandbox.local())",
    ),
    (
        ("port is already allocated", "address already in use", "bind for"),
        "port in use: another program holds a port the node publishes; stop it or `gatewaykit cluster down`",
    ),
    (
        (
            "no such image",
            "pull access denied",
            "manifest unknown",
            "imagenotfound",
            "errimagepull",
            "imagepullbackoff",
            "not found: not found",
            "failed to resolve reference",
        ),
        "image missing: on a connected machine run `gatewaykit images pull` (and `gatewaykit images save "
        "bundle.tar` for offline use), then `gatewaykit images load bundle.tar` here",
    ),
    (
        ("content digest", "digest mismatch"),
        "image import failed: the image archive lacks content for the node's platform; pull it for this "
        "platform (`gatewaykit images pull`) and retry",
    ),
    (
        ("oomkilled", "cannot allocate memory", "out of memory", "insufficient memory"),
        "too little memory: the kind node with Istio needs about 4 GiB free for Docker",
    ),
    (
        ("failed to get rootfs info", "could not find device with major"),
        "the kubelet cannot read the root filesystem: on btrfs/zfs/xfs Docker hosts /dev/mapper must be "
        "mounted (gatewaykit does this when `docker info` reports such a driver; report your `docker info`)",
    ),
    (
        ("operation not permitted", "privileged"),
        "Docker refused a privileged container: the kind node must run privileged (rootful Docker, no "
        "restrictive seccomp/AppArmor policy)",
    ),
)


def diagnose(text: str) -> str | None:
    """The fix for a failure, from its message and logs (None when unknown).

    Covers what learners hit: no Docker, a port in use, a missing image, too little memory.
    """
    low = text.lower()
    for needles, fix in _FIXES:
        if any(n in low for n in needles):
            return fix
    return None
