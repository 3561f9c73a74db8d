"""The kind backend: a real Kubernetes node in a Docker container, with Istio, driven from Python.

There is no kind module in testcontainers and we do not need the ``kind`` CLI: like the Java
kindcontainer, :class:`KindNode` runs the pinned ``kindest/node`` image with kind's own container
flags (``cluster/node.yaml``), waits for systemd, runs ``kubeadm init`` with the project's config
(``cluster/kubeadm.yaml``), installs the CNI and storage manifests that ship inside the node image,
removes the control-plane taint and waits for the node to be Ready. :class:`KindSandbox` then installs
Istio with ``istioctl install`` (run from the pinned ``istio/istioctl`` image on the node's Docker
network), publishes the ingress gateway's fixed NodePorts to random 127.0.0.1 ports, and implements
the :class:`~gatewaykit.backends.base.Backend` protocol on top of :mod:`gatewaykit.backends._kube`.

Containers carry testcontainers' labels (reaped by Ryuk when it runs) and ours
(``io.gatewaykit.cluster=<name>``) so ``gatewaykit cluster down`` and an ``atexit`` hook remove them
even when Ryuk is disabled. Pure parts (config rendering, error diagnosis) are separate functions.
"""

from __future__ import annotations

import atexit
import dataclasses
import io
import json
import os
import pathlib
import shlex
import shutil
import string
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from gatewaykit.backends._kube import (
    MANAGED_BY,
    MANAGED_BY_VALUE,
    KubeClient,
    load_documents,
    require_cluster_extra,
)
from gatewaykit.backends.base import ApplyReport, CurlResult, ManifestSource, parse_curl_output
from gatewaykit.errors import ClusterError, NotReadyError

__all__ = [
    "CLUSTER_DIR",
    "DEFAULT_INTERNET_HOSTS",
    "LABEL_CLUSTER",
    "LABEL_ROLE",
    "STEPS",
    "KindNode",
    "KindSandbox",
    "NodeSpec",
    "PinnedImage",
    "cluster_status",
    "diagnose",
    "docker_client",
    "find_node",
    "image_candidates",
    "ingress_env",
    "local_image",
    "operator_mode",
    "patch_corefile",
    "pin_images",
    "pinned_images",
    "progress_widget",
    "remove_cluster",
    "render_cni_manifest",
    "render_istio_operator",
    "render_kubeadm_config",
]

#: Where the declarative assets live (``GATEWAYKIT_CLUSTER_DIR`` overrides; default: the repo's).
CLUSTER_DIR = pathlib.Path(
    os.environ.get("GATEWAYKIT_CLUSTER_DIR") or pathlib.Path(__file__).resolve().parents[2] / "cluster"
)

#: Docker labels on everything the kind backend starts (containers, network, volume).
LABEL_CLUSTER = "io.gatewaykit.cluster"
LABEL_ROLE = "io.gatewaykit.role"

#: Names of the slow steps, in order, as given to the progress hook.
STEPS: tuple[str, ...] = (
    "docker",
    "network",
    "node container",
    "systemd",
    "kubeadm init",
    "cni and storage",
    "node ready",
    "kubeconfig",
    "load images",
    "istio install",
    "sidecar injection",
    "fake internet",
    "ready",
)

#: External hosts of Istio's egress tasks, used when gatewaykit.workloads.internet is absent.
DEFAULT_INTERNET_HOSTS: tuple[str, ...] = ("httpbin.org", "www.google.com", "edition.cnn.com")

ProgressHook = Callable[[str], None]

_READY_MARKER = "/kind/gatewaykit-ready.json"


# --------------------------------------------------------------------------- declarative config


@dataclass(frozen=True, slots=True)
class PinnedImage:
    """One line of ``cluster/images.txt``: the image's role and its pinned reference."""

    role: str
    ref: str

    @property
    def short(self) -> str:
        """The reference without ``docker.io/`` and digest (how ``docker images`` shows it)."""
        ref = self.ref.split("@", 1)[0]
        return ref.removeprefix("docker.io/").removeprefix("library/")


def pinned_images(path: pathlib.Path | None = None) -> tuple[PinnedImage, ...]:
    """Every pinned image of ``cluster/images.txt`` (comments and blank lines skipped)."""
    out = []
    for line in (path or CLUSTER_DIR / "images.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        role, ref = line.split()[:2]
        out.append(PinnedImage(role, ref))
    return tuple(out)


def _image(role: str, contains: str = "") -> str:
    for img in pinned_images():
        if img.role == role and contains in img.ref:
            return img.ref
    raise ClusterError(f"cluster/images.txt pins no {role} image {contains!r}")


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
    ready_log: str = "Reached target multi-user.target"
    api_server_port: int = 6443
    node_ports: Mapping[str, int] = field(
        default_factory=lambda: {"http2": 30080, "https": 30443, "tcp": 31400}
    )
    pod_subnet: str = "10.244.0.0/16"
    service_subnet: str = "10.96.0.0/16"
    kubernetes_version: str = "v1.33.1"
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


def render_kubeadm_config(
    spec: NodeSpec, node_ip: str, template: str | None = None, extra_sans: Sequence[str] = ()
) -> str:
    """The kubeadm config for the node (``cluster/kubeadm.yaml`` with its ``$names`` filled).

    certSANs hold every name the API server is reached by: 127.0.0.1/localhost (the host, through
    the published port), the node's hostname (istioctl's container on the node network) and its IP.
    """
    text = template if template is not None else (CLUSTER_DIR / "kubeadm.yaml").read_text()
    sans = ["localhost", "127.0.0.1", spec.hostname, node_ip, *[s for s in extra_sans if s != spec.hostname]]
    return string.Template(text).substitute(
        kubernetes_version=spec.kubernetes_version,
        node_name=spec.hostname,
        node_ip=node_ip,
        pod_subnet=spec.pod_subnet,
        service_subnet=spec.service_subnet,
        cert_sans="\n".join(f'  - "{s}"' for s in sans),
    )


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
        ValueError: ``outbound_traffic_policy`` is not one of Istio's two modes (§11.2).
    """
    # meshConfig.outboundTrafficPolicy.mode: ALLOW_ANY | REGISTRY_ONLY (istio-behavior.md §11.2).
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
    for a NodePort Service (istio-behavior.md §0).
    """
    return {
        "INGRESS_HOST": host,
        "INGRESS_PORT": str(mapped["http2"]),
        "SECURE_INGRESS_PORT": str(mapped["https"]),
        "TCP_INGRESS_PORT": str(mapped["tcp"]),
    }


def _repo(ref: str) -> str:
    """``docker.io/library/nginx:1.27.5`` -> ``nginx``: the repository as Docker normalizes it."""
    name = ref.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name.rsplit(":", 1)[0]
    for prefix in ("docker.io/library/", "docker.io/", "library/"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    return name


def pin_images(obj: dict[str, Any], pinned: Iterable[str]) -> dict[str, Any]:
    """Give untagged/``latest`` sample images the pinned tag and ``IfNotPresent`` (offline nodes).

    Labs written like Istio's docs say ``image: curlimages/curl``; on a node without a registry that
    means ``latest`` and ``imagePullPolicy: Always`` -- a pull that cannot succeed. An image whose
    repository is pinned in ``cluster/images.txt`` and that names no tag (or ``latest``) gets the
    pinned reference; other images are left exactly as written.
    """
    by_repo = {_repo(ref): ref for ref in pinned}
    spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    for key in ("containers", "initContainers"):
        for c in spec.get(key) or []:
            image = str(c.get("image", ""))
            last = image.split("@", 1)[0].rsplit("/", 1)[-1]
            untagged = "@" not in image and (":" not in last or last.endswith(":latest"))
            if untagged and _repo(image) in by_repo:
                c["image"] = by_repo[_repo(image)]
                c["imagePullPolicy"] = "IfNotPresent"
    return obj


def patch_corefile(corefile: str, ip: str, hosts: Sequence[str]) -> str:
    """CoreDNS config answering the fake internet's names with its container IP.

    A ``hosts`` block in the ``.:53`` server (with ``fallthrough`` so every other name still goes
    to ``kubernetes`` and ``forward``); idempotent: an earlier gatewaykit block is replaced.
    """
    begin, end = "# gatewaykit fake internet begin", "# gatewaykit fake internet end"
    lines = corefile.splitlines()
    if begin in corefile:
        i, j = (
            lines.index(next(x for x in lines if x.strip() == begin)),
            lines.index(next(x for x in lines if x.strip() == end)),
        )
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
        ("oomkilled", "cannot allocate memory", "out of memory", "insufficient memory"),
        "too little memory: the kind node with Istio needs about 4 GiB free for Docker",
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


def _fail(step: str, message: str, logs: str = "") -> NotReadyError:
    fix = diagnose(f"{message}\n{logs}")
    return NotReadyError(step, f"{message}\nfix: {fix}" if fix else message, _tail(logs))


def _tail(text: str, n: int = 20) -> str:
    return "\n".join(text.rstrip().splitlines()[-n:])


def progress_widget() -> tuple[Any, ProgressHook]:
    """A notebook progress bar for ``KindSandbox(progress=...)``: ``(widget, hook)``.

    The widget (an ipywidgets ``HBox`` of an ``IntProgress`` over :data:`STEPS` and a ``Label`` with
    the current step's name) is displayed by the notebook; the hook advances it. Notes that are not
    steps (``"fake internet: image missing, ..."``) only change the label.
    """
    try:
        import ipywidgets as widgets
    except ImportError as exc:  # pragma: no cover - ipywidgets is in the notebooks extra
        raise ImportError("the progress widget needs: pip install 'gatewaykit[notebooks]'") from exc
    bar = widgets.IntProgress(value=0, min=0, max=len(STEPS), description="kind")
    label = widgets.Label(value="")
    box = widgets.HBox([bar, label])

    def hook(step: str) -> None:
        if step in STEPS:
            bar.value = STEPS.index(step) + 1
            bar.bar_style = "success" if step == "ready" else ""
        label.value = step

    return box, hook


# --------------------------------------------------------------------------- Docker plumbing


def docker_client() -> Any:
    """A ``docker`` SDK client from the environment, or :class:`NotReadyError` with the fix."""
    docker = require_cluster_extra("docker")
    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:
        raise _fail("docker", f"cannot reach the Docker engine: {exc}") from exc
    return client


def image_candidates(ref: str) -> list[str]:
    """The names a pinned image may have locally, most exact first.

    ``repo:tag@digest`` (as pinned), ``repo@digest`` (as pulled by digest) and ``repo:tag`` (the tag
    ``gatewaykit images pull`` adds, the only name left after ``docker save``/``docker load``).
    """
    if "@" not in ref:
        return [ref]
    name, digest = ref.split("@", 1)
    last = name.rsplit("/", 1)[-1]
    repo = name.rsplit(":", 1)[0] if ":" in last else name
    out = [ref, f"{repo}@{digest}"]
    if repo != name:
        out.append(name)
    return out


def local_image(client: Any, ref: str) -> str | None:
    """The first of :func:`image_candidates` that the Docker engine has, or None."""
    for candidate in image_candidates(ref):
        try:
            client.images.get(candidate)
            return candidate
        except Exception:
            continue
    return None


def find_node(name: str = "gatewaykit", client: Any = None) -> Any | None:
    """The running node container of cluster ``name`` (found by label), or None."""
    client = client or docker_client()
    found = client.containers.list(filters={"label": [f"{LABEL_CLUSTER}={name}", f"{LABEL_ROLE}=node"]})
    return found[0] if found else None


def remove_cluster(name: str | None = "gatewaykit", client: Any = None) -> list[str]:
    """Remove every container, network and volume labelled for cluster ``name`` (None: all clusters).

    Works without Ryuk; this is what ``gatewaykit cluster down`` and the ``atexit`` hook call.
    Returns the names of what was removed.
    """
    client = client or docker_client()
    label = f"{LABEL_CLUSTER}={name}" if name else LABEL_CLUSTER
    removed = []
    for c in client.containers.list(all=True, filters={"label": label}):
        try:
            c.remove(force=True, v=True)
            removed.append(f"container {c.name}")
        except Exception:
            pass
    for v in client.volumes.list(filters={"label": label}):
        try:
            v.remove(force=True)
            removed.append(f"volume {v.name}")
        except Exception:
            pass
    for n in client.networks.list(filters={"label": label}):
        try:
            n.remove()
            removed.append(f"network {n.name}")
        except Exception:
            pass
    return removed


def cluster_status(name: str | None = None, client: Any = None) -> list[dict[str, Any]]:
    """One row per gatewaykit container: cluster, role, name, status, published 127.0.0.1 ports."""
    client = client or docker_client()
    label = f"{LABEL_CLUSTER}={name}" if name else LABEL_CLUSTER
    rows = []
    for c in client.containers.list(all=True, filters={"label": label}):
        ports = {}
        for cport, binds in (c.attrs.get("NetworkSettings", {}).get("Ports") or {}).items():
            if binds:
                ports[cport] = int(binds[0]["HostPort"])
        rows.append(
            {
                "cluster": c.labels.get(LABEL_CLUSTER, ""),
                "role": c.labels.get(LABEL_ROLE, ""),
                "name": c.name,
                "status": c.status,
                "ports": ports,
                "image": (c.image.tags or [c.image.id])[0] if c.image else "",
            }
        )
    return rows


@dataclass(frozen=True, slots=True)
class _Net:
    # testcontainers only reads ``.name`` of the network it is given.
    name: str


def _ensure_network(client: Any, name: str, cluster: str) -> str:
    for net in client.networks.list(names=[name]):
        if net.name == name:
            return name
    client.networks.create(
        name, driver="bridge", labels={LABEL_CLUSTER: cluster, MANAGED_BY: MANAGED_BY_VALUE}
    )
    return name


class KindNode:
    """One kind node container, started with testcontainers' ``DockerContainer``.

    Args:
        spec: flags and ports (``NodeSpec.load()``).
        image: the node image (default: the pinned ``kindest/node`` by digest).
        cluster: the cluster name, stored in the ``io.gatewaykit.cluster`` label.
        role: the ``io.gatewaykit.role`` label (``node``).
        privileged: kind nodes must be privileged; tests with a stand-in image turn it off where
            the Docker engine cannot grant it.
        network: the Docker network to join (created if missing, labelled).
        name: the container name (default ``<cluster>-control-plane``).
        host_ports: fixed 127.0.0.1 host ports for some node ports (default: all random).
        pull: pull the image when Docker does not have it (off: fail at once, for offline use).
    """

    def __init__(
        self,
        spec: NodeSpec,
        image: str | None = None,
        *,
        cluster: str = "gatewaykit",
        role: str = "node",
        privileged: bool | None = None,
        network: str | None = None,
        name: str | None = None,
        client: Any = None,
        host_ports: Mapping[int, int] | None = None,
        pull: bool = True,
    ) -> None:
        self.pull = pull
        self.spec = spec
        self.host_ports = dict(host_ports or {})
        self.image = image or _image("node")
        self.cluster = cluster
        self.role = role
        self.privileged = spec.privileged if privileged is None else privileged
        self.network = network or spec.network
        self.name = name or f"{cluster}-control-plane"
        self._client = client
        self._container: Any = None  # testcontainers DockerContainer
        self._docker: Any = None  # docker SDK Container

    @property
    def client(self) -> Any:
        """The docker SDK client."""
        if self._client is None:
            self._client = docker_client()
        return self._client

    def labels(self) -> dict[str, str]:
        """Our labels (testcontainers adds its own ``org.testcontainers.*`` ones)."""
        return {LABEL_CLUSTER: self.cluster, LABEL_ROLE: self.role, MANAGED_BY: MANAGED_BY_VALUE}

    def container_kwargs(self, volume: str) -> dict[str, Any]:
        """The ``docker create`` keyword arguments kind uses for a node (pure; tested)."""
        kwargs: dict[str, Any] = {
            "privileged": self.privileged,
            "security_opt": list(self.spec.security_opt),
            "cgroupns": self.spec.cgroupns,
            "tty": self.spec.tty,
            "hostname": self.spec.hostname,
            "entrypoint": list(self.spec.entrypoint),
            "labels": self.labels(),
            # kind passes --init=false: systemd must be PID 1 even if the daemon adds an init.
            "init": False,
            "detach": True,
            # kind: --restart=on-failure:1 would bring a dead node back; a sandbox should not.
        }
        return kwargs

    def volume_mappings(self, volume: str) -> list[tuple[str, str, str]]:
        """``(host path or volume name, container path, mode)``: /var on a named volume, /lib/modules."""
        out = [(volume, self.spec.var_volume, "rw")]
        out += [
            (h, m["bind"], m.get("mode", "ro")) for h, m in self.spec.volumes.items() if os.path.exists(h)
        ]
        return out

    def start(self, *, timeout: float = 120.0, wait: bool = True) -> KindNode:
        """Create and start the container, then (``wait``) wait for the ready log line.

        Raises:
            NotReadyError: Docker refused (with the fix), or systemd did not come up in time.
        """
        tc = require_cluster_extra("testcontainers.core.container")
        self._ensure_image()
        _ensure_network(self.client, self.network, self.cluster)
        volume = f"{self.name}-var"
        self.client.volumes.create(volume, labels=self.labels())
        container = tc.DockerContainer(self.image).with_name(self.name)
        container.with_network(_Net(self.network)).with_network_aliases(self.spec.hostname, self.name)
        for path, options in self.spec.tmpfs.items():
            container.tmpfs[path] = options
        for host, target, mode in self.volume_mappings(volume):
            container.with_volume_mapping(host, target, mode)
        # Published on 127.0.0.1 only, random host ports (never 0.0.0.0: nothing here is public).
        for port in self.spec.published_ports():
            container.ports[f"{port}/tcp"] = ("127.0.0.1", self.host_ports.get(port))
        container.with_kwargs(**self.container_kwargs(volume))
        self._container = container
        try:
            container.start()
        except Exception as exc:
            logs = self.logs()
            self.stop()
            raise _fail("node container", f"Docker could not start {self.image}: {exc}", logs) from exc
        self._docker = container.get_wrapped_container()
        if wait:
            self.wait_for_log(self.spec.ready_log, timeout=timeout, step="systemd")
        return self

    def _ensure_image(self) -> None:
        found = local_image(self.client, self.image)
        if found is not None:
            self.image = found
            return
        if not self.pull:
            raise _fail("node container", f"{self.image} is not in Docker (no such image)")
        try:
            # By digest when pinned by digest: the engine then verifies what it downloads.
            self.client.images.pull(image_candidates(self.image)[1] if "@" in self.image else self.image)
        except Exception as exc:
            raise _fail(
                "node container",
                f"{self.image} is not in Docker and could not be pulled: {exc}",
                "no such image",
            ) from exc

    @classmethod
    def attach(cls, spec: NodeSpec, container: Any, client: Any = None) -> KindNode:
        """Wrap an already running node container (reuse)."""
        node = cls(
            spec,
            image=(container.image.tags or [container.image.id])[0],
            cluster=container.labels.get(LABEL_CLUSTER, "gatewaykit"),
            name=container.name,
            client=client,
        )
        node._docker = container
        return node

    @property
    def container(self) -> Any:
        """The docker SDK ``Container``."""
        if self._docker is None:
            raise ClusterError("the node container is not started")
        return self._docker

    @property
    def id(self) -> str:
        """The container id."""
        return str(self.container.id)

    def logs(self) -> str:
        """The container's log (systemd's console)."""
        try:
            if self._docker is not None:
                return self._docker.logs().decode("utf-8", "replace")
            if self._container is not None and self._container._container is not None:
                return self._container._container.logs().decode("utf-8", "replace")
        except Exception:
            pass
        return ""

    def wait_for_log(self, text: str, *, timeout: float, step: str) -> None:
        """Poll the container log for ``text``; fail with the last lines if it exits or times out."""
        deadline = time.monotonic() + timeout
        while True:
            logs = self.logs()
            if text in logs:
                return
            self.container.reload()
            if self.container.status in ("exited", "dead"):
                raise _fail(
                    step, f"the node container exited ({self.container.attrs['State'].get('ExitCode')})", logs
                )
            if time.monotonic() > deadline:
                raise _fail(step, f"{text!r} not seen after {timeout:g} s", logs)
            time.sleep(0.2)

    def mapped_port(self, port: int) -> int:
        """The 127.0.0.1 host port a node port is published on."""
        binds = self.client.api.port(self.id, port)
        if not binds:
            raise ClusterError(f"node port {port} is not published")
        return int(binds[0]["HostPort"])

    def ip(self) -> str:
        """The node's IP on its Docker network."""
        self.container.reload()
        nets = self.container.attrs["NetworkSettings"]["Networks"]
        return str((nets.get(self.network) or next(iter(nets.values())))["IPAddress"])

    def exec(
        self, command: Sequence[str] | str, *, check: bool = True, step: str = "exec"
    ) -> tuple[int, str]:
        """Run a command in the node; with ``check`` a non-zero exit raises NotReadyError."""
        cmd = ["sh", "-c", command] if isinstance(command, str) else list(command)
        code, out = self.container.exec_run(cmd, demux=False)
        text = (out or b"").decode("utf-8", "replace")
        if check and code != 0:
            raise _fail(step, f"`{' '.join(cmd)}` exited {code}", text)
        return int(code), text

    def put_file(self, path: str, data: bytes, mode: int = 0o600) -> None:
        """Write a file into the node (a tar archive through the Docker API)."""
        import tarfile

        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(pathlib.PurePosixPath(path).name)
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))
        if not self.container.put_archive(str(pathlib.PurePosixPath(path).parent), buf.getvalue()):
            raise ClusterError(f"could not write {path} into the node")

    def stop(self) -> None:
        """Remove the container and its /var volume; idempotent."""
        try:
            if self._container is not None and self._container._container is not None:
                self._container.stop(force=True, delete_volume=True)
            elif self._docker is not None:
                self._docker.remove(force=True, v=True)
        except Exception:
            pass
        try:
            self.client.volumes.get(f"{self.name}-var").remove(force=True)
        except Exception:
            pass
        self._container = None
        self._docker = None


# --------------------------------------------------------------------------- the backend


class KindSandbox:
    """A kind cluster with Istio, implementing the ``Backend`` protocol.

    Args:
        reuse: keep the cluster running after ``close()`` and reuse a running one (found by its
            label) instead of creating it: one warm cluster per machine across notebook kernels
            (the default; ``gatewaykit cluster down`` removes it). ``False``: a private cluster,
            removed by ``close()`` or at interpreter exit.
        name: the cluster name (container ``<name>-control-plane``, label value); default
            ``gatewaykit`` when reused, a unique ``gatewaykit-<random>`` otherwise (so a private
            cluster never replaces the shared warm one).
        progress: called with each step name of :data:`STEPS` as it starts.
        outbound_traffic_policy: ``ALLOW_ANY`` or ``REGISTRY_ONLY`` (re-applied through the install).
        node_image: override the pinned ``kindest/node`` image.
        state_dir: where the kubeconfig (mode 0600) is kept.
        timeout: seconds for the whole start-up.
        internet: start the fake internet container: True, False, or "auto" (when its image exists).
    """

    def __init__(
        self,
        *,
        reuse: bool = True,
        name: str | None = None,
        progress: ProgressHook | None = None,
        outbound_traffic_policy: str = "ALLOW_ANY",
        node_image: str | None = None,
        state_dir: str | os.PathLike[str] | None = None,
        timeout: float = 600.0,
        internet: bool | str = "auto",
        start: bool = True,
    ) -> None:
        import uuid

        self.name = name or ("gatewaykit" if reuse else f"gatewaykit-{uuid.uuid4().hex[:6]}")
        self.reuse = reuse
        self.progress = progress or (lambda step: None)
        self.outbound_traffic_policy = outbound_traffic_policy
        self.spec = NodeSpec.load()
        self.node_image = node_image
        self.timeout = timeout
        self.internet = internet
        base = (
            pathlib.Path(state_dir) if state_dir else pathlib.Path.home() / ".cache" / "gatewaykit" / "kind"
        )
        self.state_dir = base / self.name
        # One Docker network per cluster: a private cluster's node never answers for the shared one.
        self.network = self.name
        self.node: KindNode | None = None
        self.kube: KubeClient | None = None
        self._env: dict[str, str] = {}
        self._operators: dict[str, str] = {}  # IstioOperators applied through this backend: name -> mode
        self._closed = False
        self._lock = threading.Lock()
        if start:
            self.start()

    # -- lifecycle

    @property
    def istio_version(self) -> str:
        """The pinned Istio version (the tag of the pinned istioctl image)."""
        return _image("istioctl").rsplit(":", 1)[1]

    def _step(self, name: str) -> None:
        self.progress(name)

    def start(self) -> KindSandbox:
        """Create (or reuse) the cluster; return when Istio's gateways serve."""
        self._step("docker")
        client = docker_client()
        self._check_memory(client)
        existing = find_node(self.name, client) if self.reuse else None
        if existing is not None and self._marker(existing) is not None:
            self.node = KindNode.attach(self.spec, existing, client)
            self._write_kubeconfigs()  # never trust a kubeconfig left by an older cluster
            self._connect()
            marker = self._marker(existing) or {}
            self._operators = dict(marker.get("operators") or {})
            if marker.get("outbound_traffic_policy") != self.outbound_traffic_policy:
                self.set_outbound_traffic_policy(self.outbound_traffic_policy)
            self._step("ready")
            return self
        if existing is not None or not self.reuse:
            remove_cluster(self.name, client)
        if not self.reuse:
            self._arm_cleanup()
        try:
            self._create(client)
        except BaseException:
            # A half-made cluster is of no use to anyone (and would be mistaken for a warm one).
            remove_cluster(self.name, client)
            raise
        return self

    def _check_memory(self, client: Any) -> None:
        try:
            total = int(client.info().get("MemTotal", 0))
        except Exception:
            return
        if total and total < 3 * 1024**3:
            raise _fail("docker", f"Docker has {total / 1024**3:.1f} GiB of memory", "insufficient memory")

    def _create(self, client: Any) -> None:
        spec = self.spec
        self._step("network")
        self._step("node container")
        node = KindNode(spec, self.node_image, cluster=self.name, client=client, network=self.network)
        self.node = node
        node.start(wait=False)
        self._step("systemd")
        node.wait_for_log(spec.ready_log, timeout=min(120.0, self.timeout), step="systemd")
        self._step("kubeadm init")
        ip = node.ip()
        node.put_file(
            "/kind/kubeadm.conf", render_kubeadm_config(spec, ip, extra_sans=[node.name]).encode(), 0o600
        )
        node.exec(
            [
                "kubeadm",
                "init",
                "--skip-phases=preflight",
                "--config=/kind/kubeadm.conf",
                "--skip-token-print",
                "--v=1",
            ],
            step="kubeadm init",
        )
        self._step("cni and storage")
        kubectl = ["kubectl", "--kubeconfig=/etc/kubernetes/admin.conf"]
        _, cni = node.exec(["cat", "/kind/manifests/default-cni.yaml"], step="cni and storage")
        node.put_file("/kind/cni.yaml", render_cni_manifest(cni, spec.pod_subnet).encode(), 0o644)
        node.exec([*kubectl, "apply", "-f", "/kind/cni.yaml"], step="cni and storage")
        node.exec([*kubectl, "apply", "-f", "/kind/manifests/default-storage.yaml"], step="cni and storage")
        # A single node runs everything: remove the control-plane taint (kind does the same).
        node.exec(
            [*kubectl, "taint", "nodes", "--all", "node-role.kubernetes.io/control-plane-"],
            check=False,
        )
        self._step("node ready")
        node.exec(
            [*kubectl, "wait", "--for=condition=Ready", "nodes", "--all", "--timeout=180s"],
            step="node ready",
        )
        self._step("kubeconfig")
        self._write_kubeconfigs()
        self._connect()
        self._step("load images")
        self.load_images([i.ref for i in pinned_images() if i.role == "cluster"])
        self._step("istio install")
        self._istio_install(self.outbound_traffic_policy)
        self._step("sidecar injection")
        node.exec(
            [*kubectl, "label", "namespace", "default", "istio-injection=enabled", "--overwrite"],
            step="sidecar injection",
        )
        self._step("fake internet")
        self._start_internet(client)
        self._save_marker()
        self._step("ready")

    def _save_marker(self) -> None:
        """The ready marker: what a later ``Sandbox.kind()`` needs to attach (mesh settings too)."""
        assert self.node is not None
        marker = {
            "istio_version": self.istio_version,
            "outbound_traffic_policy": self.outbound_traffic_policy,
            "operators": self._operators,
        }
        self.node.put_file(_READY_MARKER, json.dumps(marker).encode(), 0o644)

    def _marker(self, container: Any) -> dict[str, Any] | None:
        code, out = container.exec_run(["cat", _READY_MARKER])
        if code != 0:
            return None
        try:
            return dict(json.loads(out))
        except ValueError:
            return None

    def _write_kubeconfigs(self) -> None:
        assert self.node is not None
        _, text = self.node.exec(["cat", "/etc/kubernetes/admin.conf"], step="kubeconfig")
        cfg = yaml.safe_load(text)
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        host_port = self.node.mapped_port(self.spec.api_server_port)
        for fname, server in (
            ("kubeconfig", f"https://127.0.0.1:{host_port}"),
            ("kubeconfig.internal", f"https://{self.node.name}:{self.spec.api_server_port}"),
        ):
            for cluster in cfg.get("clusters") or []:
                cluster["cluster"]["server"] = server
            path = self.state_dir / fname
            # It holds the cluster-admin client key: private to the user.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                yaml.safe_dump(cfg, f)

    @property
    def kubeconfig(self) -> pathlib.Path:
        """The kubeconfig for the host (server ``https://127.0.0.1:<mapped 6443>``)."""
        return self.state_dir / "kubeconfig"

    def _connect(self) -> None:
        assert self.node is not None
        if not self.kubeconfig.exists():
            self._write_kubeconfigs()
        config = require_cluster_extra("kubernetes.config")
        path = str(self.kubeconfig)
        pinned = [i.ref for i in pinned_images() if i.role == "cluster"]
        self.kube = KubeClient(
            lambda: config.new_client_from_config(config_file=path),
            transform=lambda body: pin_images(body, pinned),
        )
        mapped = {k: self.node.mapped_port(p) for k, p in self.spec.node_ports.items()}
        self._env = ingress_env(mapped)

    def load_images(self, refs: Iterable[str]) -> None:
        """``kind load docker-image``: copy images from the host's Docker into the node's containerd.

        Images already in the node are skipped. Uses ``docker save | ctr --namespace=k8s.io images
        import`` (what kind does); pods must use ``imagePullPolicy: IfNotPresent`` and pinned tags.
        """
        assert self.node is not None
        _, have = self.node.exec(["ctr", "--namespace=k8s.io", "images", "ls", "-q"], step="load images")
        present = set(have.split())
        docker_cli = shutil.which("docker")
        for ref in refs:
            if ref in present or ref.split("@")[0] in present:
                continue
            local = local_image(self.node.client, ref)
            if local is None:
                raise _fail("load images", f"{ref} is not in the host's Docker", "no such image")
            if not docker_cli:
                raise ClusterError("loading images into the node needs the docker CLI on PATH")
            pipe = (
                f"{shlex.quote(docker_cli)} save {shlex.quote(local)} | {shlex.quote(docker_cli)} exec -i "
                f"{shlex.quote(self.node.id)} ctr --namespace=k8s.io images import "
                "--all-platforms --digests -"
            )
            proc = subprocess.run(["bash", "-o", "pipefail", "-c", pipe], capture_output=True, text=True)
            if proc.returncode != 0:
                raise _fail("load images", f"importing {ref} failed", proc.stderr)

    def _istio_install(self, policy: str) -> None:
        """Run ``istioctl install -y -f operator.yaml`` from the pinned istioctl image."""
        assert self.node is not None
        client = self.node.client
        with tempfile.TemporaryDirectory(prefix="gatewaykit-istioctl-") as tmp:
            op = render_istio_operator(
                self.spec, istio_version=self.istio_version, outbound_traffic_policy=policy
            )
            pathlib.Path(tmp, "operator.yaml").write_text(op)
            shutil.copy(self.state_dir / "kubeconfig.internal", pathlib.Path(tmp, "kubeconfig"))
            # The kubeconfig holds the admin key: it stays 0600 in a 0700 directory, and istioctl runs
            # as root in its container so it can read it through the bind mount.
            os.chmod(pathlib.Path(tmp, "kubeconfig"), 0o600)
            image = _image("istioctl")
            try:
                c = client.containers.run(
                    image,
                    ["install", "-y", "-f", "/work/operator.yaml", "--kubeconfig", "/work/kubeconfig"],
                    network=self.network,
                    user="0:0",
                    volumes={tmp: {"bind": "/work", "mode": "ro"}},
                    labels={LABEL_CLUSTER: self.name, LABEL_ROLE: "istioctl", MANAGED_BY: MANAGED_BY_VALUE},
                    detach=True,
                )
            except Exception as exc:
                raise _fail("istio install", f"cannot run {image}: {exc}") from exc
            try:
                try:
                    result = c.wait(timeout=max(60.0, self.timeout / 2))
                except Exception as exc:  # requests' ReadTimeout: istioctl still waiting for Istio
                    raise _fail(
                        "istio install",
                        f"istioctl install did not finish: {exc}",
                        c.logs().decode("utf-8", "replace"),
                    ) from exc
                logs = c.logs().decode("utf-8", "replace")
            finally:
                c.remove(force=True)
            if result.get("StatusCode") != 0:
                raise _fail("istio install", f"istioctl install exited {result.get('StatusCode')}", logs)

    def set_outbound_traffic_policy(self, mode: str) -> None:
        """Switch ``meshConfig.outboundTrafficPolicy.mode`` by re-running the install (§11.2).

        Returns when istiod runs with the new mesh config and the proxies have ACKed it.
        """
        if mode not in ("ALLOW_ANY", "REGISTRY_ONLY"):
            raise ValueError(f"outboundTrafficPolicy mode must be ALLOW_ANY or REGISTRY_ONLY, not {mode!r}")
        self._istio_install(mode)
        self.outbound_traffic_policy = mode
        assert self.node is not None and self.kube is not None
        self._save_marker()
        self.kube.wait_mesh_config({"outboundTrafficPolicy": {"mode": mode}})
        self.kube.wait_config_live([])

    def _internet_hosts(self) -> tuple[str, ...]:
        try:
            from gatewaykit.workloads import internet  # type: ignore[attr-defined]

            return tuple(getattr(internet, "HOSTS", DEFAULT_INTERNET_HOSTS))
        except ImportError:
            return DEFAULT_INTERNET_HOSTS

    def _start_internet(self, client: Any) -> None:
        if self.internet is False:
            return
        image = _image("internet")
        try:
            client.images.get(image)
        except Exception as exc:
            if self.internet == "auto":
                self.progress("fake internet: image missing, egress labs unavailable")
                return
            raise _fail("fake internet", f"{image} is not in the host's Docker", "no such image") from exc
        hosts = self._internet_hosts()
        c = client.containers.run(
            image,
            name=f"{self.name}-internet",
            network=self.network,
            labels={LABEL_CLUSTER: self.name, LABEL_ROLE: "internet", MANAGED_BY: MANAGED_BY_VALUE},
            detach=True,
        )
        c.reload()
        ip = c.attrs["NetworkSettings"]["Networks"][self.network]["IPAddress"]
        assert self.node is not None
        kubectl = ["kubectl", "--kubeconfig=/etc/kubernetes/admin.conf", "-n", "kube-system"]
        _, corefile = self.node.exec(
            [*kubectl, "get", "configmap", "coredns", "-o", "jsonpath={.data.Corefile}"], step="fake internet"
        )
        patched = patch_corefile(corefile, ip, hosts)
        cm = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "coredns", "namespace": "kube-system"},
            "data": {"Corefile": patched},
        }
        self.node.put_file("/kind/coredns.json", json.dumps(cm).encode(), 0o644)
        self.node.exec([*kubectl, "apply", "-f", "/kind/coredns.json"], step="fake internet")
        self.node.exec([*kubectl, "rollout", "restart", "deployment/coredns"], step="fake internet")
        self.node.exec(
            [*kubectl, "rollout", "status", "deployment/coredns", "--timeout=120s"], step="fake internet"
        )

    def _arm_cleanup(self) -> None:
        """Remove a private cluster at interpreter exit even if ``close()`` is never called
        (Ryuk may be disabled or unavailable: nothing else would reap it)."""
        atexit.register(self._atexit)

    def _atexit(self) -> None:
        if not self._closed:
            self.close()

    def close(self) -> None:
        """Stop the cluster (unless ``reuse``); idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self.kube is not None:
                self.kube.close()
            if not self.reuse:
                try:
                    remove_cluster(self.name)
                except Exception:
                    pass
                shutil.rmtree(self.state_dir, ignore_errors=True)
            try:
                atexit.unregister(self._atexit)
            except Exception:
                pass

    def __enter__(self) -> KindSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- Backend protocol

    @property
    def env(self) -> dict[str, str]:
        """``INGRESS_HOST`` (127.0.0.1) and the published ingress ports."""
        return dict(self._env)

    def _kube(self) -> KubeClient:
        if self.kube is None:
            raise ClusterError("the kind cluster is not started")
        return self.kube

    def apply(self, source: ManifestSource) -> ApplyReport:
        """``kubectl apply -f``; returns when the gateways serve the new config.

        ``IstioOperator`` documents are not sent to the API server (``istioctl install`` does not
        install that CRD): as with ``istioctl install -f``, their mesh settings are installed, and the
        report says ``istiooperator.install.istio.io/<name> created|configured|unchanged`` like the
        embedded sandbox. The mesh follows the latest applied operator (§11.2).
        """
        kube = self._kube()
        docs = load_documents(source)
        ops = [d for d in docs if d.kind == "IstioOperator"]
        rest = [d for d in docs if d.kind != "IstioOperator"]
        if not ops:
            report, changed = kube.apply(docs)
            kube.wait_config_live(changed)
            return report
        kube.prevalidate_documents(docs)
        report, changed = kube.apply(rest, prevalidate=False) if rest else (ApplyReport(), [])
        lines = dict(zip(sorted(d.index for d in rest), report.lines, strict=True))
        for op in ops:
            mode = operator_mode(op.obj)
            before = self._operators.get(op.name)
            self._operators[op.name] = mode
            action = "created" if before is None else ("unchanged" if before == mode else "configured")
            lines[op.index] = f"istiooperator.install.istio.io/{op.name} {action}"
        self._follow_operators()
        kube.wait_config_live(changed)
        return ApplyReport(lines=tuple(lines[i] for i in sorted(lines)), warnings=report.warnings)

    def delete(self, source: ManifestSource) -> ApplyReport:
        """``kubectl delete -f``; returns when the gateways no longer serve it."""
        kube = self._kube()
        docs = load_documents(source)
        ops = [d for d in docs if d.kind == "IstioOperator"]
        rest = [d for d in docs if d.kind != "IstioOperator"]
        report = kube.delete(rest) if rest else ApplyReport()
        lines = dict(zip(sorted(d.index for d in rest), report.lines, strict=True))
        for op in ops:
            if self._operators.pop(op.name, None) is None:
                lines[op.index] = (
                    f'Error from server (NotFound): error when deleting "{op.source}": '
                    f'istiooperators.install.istio.io "{op.name}" not found'
                )
            else:
                lines[op.index] = f'istiooperator.install.istio.io "{op.name}" deleted'
        if ops:
            self._follow_operators()
        gone = [(d.kind, _group(d.api_version), d.namespace or kube.default_namespace, d.name) for d in rest]
        kube.wait_config_live(gone, deleted=True)
        return ApplyReport(lines=tuple(lines[i] for i in sorted(lines)))

    def _follow_operators(self) -> None:
        """Install the mesh settings of the latest applied IstioOperator (none: Istio's defaults)."""
        mode = list(self._operators.values())[-1] if self._operators else "ALLOW_ANY"
        if mode != self.outbound_traffic_policy:
            self.set_outbound_traffic_policy(mode)
        else:
            self._save_marker()

    def set_mesh_config(self, *, outbound_traffic_policy: str = "ALLOW_ANY") -> None:
        """Switch ``meshConfig.outboundTrafficPolicy.mode`` (same call as the embedded sandbox's)."""
        self.set_outbound_traffic_policy(outbound_traffic_policy.upper())

    def curl(self, command: str, source: str | None = None, timeout: float = 30.0) -> CurlResult:
        """Real curl: on the host through the published node ports, or inside ``source``'s pod."""
        if source is None:
            from gatewaykit.backends.curl import run_curl

            return run_curl(command, env=self.env, timeout=timeout)
        return curl_in_pod(self._kube(), source, command, env=self.env, timeout=timeout)

    def logs(self, workload: str) -> str:
        """The ``istio-proxy`` container's log of a gateway or sidecar (the access log)."""
        kube = self._kube()
        ns, pod = kube.pod_for(workload)
        return kube.logs(ns, pod, container="istio-proxy")


def curl_in_pod(
    kube: KubeClient, source: str, command: str, *, env: Mapping[str, str], timeout: float
) -> CurlResult:
    """Run a doc-style curl command inside a workload's pod (``kubectl exec deploy/curl -- sh -c``).

    The container is the one named like the workload (``curl``, ``sleep``), as in Istio's samples;
    the learner's variables are passed with ``env`` so ``$VARS`` expand as on the host.
    """
    ns, pod = kube.pod_for(source)
    container = source.rpartition("/")[2]
    argv = ["env", *[f"{k}={v}" for k, v in sorted(env.items())], "sh", "-c", command]
    res = kube.exec(ns, pod, argv, container=container, timeout=timeout)
    return parse_curl_output(
        command, res.exit_code, res.stdout.decode("utf-8", "replace"), res.stderr.decode("utf-8", "replace")
    )


def operator_mode(operator: Mapping[str, Any]) -> str:
    """``spec.meshConfig.outboundTrafficPolicy.mode`` of an IstioOperator; Istio's default ALLOW_ANY."""
    mesh = ((operator.get("spec") or {}).get("meshConfig") or {}).get("outboundTrafficPolicy") or {}
    return str(mesh.get("mode") or "ALLOW_ANY")


def _group(api_version: str) -> str:
    return api_version.split("/", 1)[0] if "/" in api_version else ""
