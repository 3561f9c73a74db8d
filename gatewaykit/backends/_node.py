"""The kind node's lifecycle in Docker: images, the node container, helper containers, clean-up.

Two kinds of containers, two creators:

* the **long-lived node** of the shared warm cluster (and the fake internet beside it) is created
  with the Docker SDK and carries only gatewaykit's labels. testcontainers would give it a
  ``org.testcontainers.session-id`` label, and Ryuk removes everything with that label about 10 s
  after the creating process exits: ``gatewaykit cluster up`` would report a cluster that is gone
  moments later. ``gatewaykit cluster down`` and :func:`remove_cluster` clean up by our labels.
* **short-lived** containers -- the ``istioctl install`` run and the nodes of private
  (``reuse=False``) clusters -- are testcontainers' ``DockerContainer``: Ryuk reaps them if the
  Python process dies (``kill -9`` included), which is exactly what testcontainers is good at.

Every Docker call runs under :func:`gatewaykit.backends._errormap.docker_errors`.
"""

from __future__ import annotations

import dataclasses
import io
import json
import pathlib
import shutil
import subprocess
import tarfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from gatewaykit.backends._errormap import IMAGE_MISSING, docker_errors
from gatewaykit.backends._kindconfig import (
    READY_LOG,
    HostConfig,
    NodeSpec,
    PinnedImage,
    diagnose,
    docker_platform,
    normalize_ref,
    parse_snapshotter,
    pinned,
)
from gatewaykit.backends._kube import MANAGED_BY, MANAGED_BY_VALUE, require_cluster_extra
from gatewaykit.errors import ClusterError, NotReadyError

__all__ = [
    "LABEL_CLUSTER",
    "LABEL_ROLE",
    "KindNode",
    "cluster_status",
    "docker_client",
    "ensure_images",
    "fail",
    "find_node",
    "image_candidates",
    "local_image",
    "remove_cluster",
    "run_helper",
]

#: Docker labels on everything the kind backend starts (containers, network, volume).
LABEL_CLUSTER = "io.gatewaykit.cluster"
LABEL_ROLE = "io.gatewaykit.role"

Progress = Callable[[str], None]


def fail(step: str, message: str, logs: str = "") -> NotReadyError:
    """A :class:`NotReadyError` for ``step`` with the fix (when known) and the last log lines."""
    fix = diagnose(f"{message}\n{logs}")
    tail = "\n".join(logs.rstrip().splitlines()[-20:])
    return NotReadyError(step, f"{message}\nfix: {fix}" if fix else message, tail)


def docker_client() -> Any:
    """A ``docker`` SDK client from the environment (``DOCKER_HOST``...), checked with a ping.

    Raises:
        ClusterError: no Docker engine answers (with the fix).
    """
    docker = require_cluster_extra("docker")
    with docker_errors("docker"):
        client = docker.from_env()
        client.ping()
    return client


# --------------------------------------------------------------------------- images


def image_candidates(ref: str) -> list[str]:
    """The names a pinned image may have locally, most exact first.

    ``repo:tag@digest`` (as pinned), ``repo@digest`` (as pulled by digest) and ``repo:tag`` (the tag
    ``gatewaykit images pull`` adds, the only name left after ``docker save``/``docker load``).
    """
    if "@" not in ref:
        return [ref]
    img = PinnedImage("", ref)
    out = [ref, img.by_digest]
    if img.tagged != img.by_digest.split("@")[0]:
        out.append(img.tagged)
    return out


def local_image(client: Any, ref: str) -> str | None:
    """The first of :func:`image_candidates` that the Docker engine has, or None."""
    errors = require_cluster_extra("docker.errors")
    for candidate in image_candidates(ref):
        try:
            with docker_errors("images"):
                client.images.get(candidate)
            return candidate
        except ClusterError as exc:
            if not isinstance(exc.__cause__, (errors.ImageNotFound, errors.NotFound)):
                raise
    return None


def pull_image(client: Any, img: PinnedImage, progress: Progress) -> None:
    """Pull one pinned image (by digest when pinned: the engine verifies it), tagged ``repo:tag``.

    ``docker save`` of a digest reference loses the name, so the tag is added for the bundle and
    for ``ctr images import`` into the node.
    """
    repo, tag = img.tagged.rsplit(":", 1)
    layers: set[str] = set()
    with docker_errors(f"pulling {img.ref}"):
        for event in client.api.pull(
            img.by_digest if img.digest else repo, tag=None if img.digest else tag, stream=True, decode=True
        ):
            if event.get("status") == "Pull complete":
                layers.add(str(event.get("id")))
                progress(f"pulling {img.short}: {len(layers)} layers done")
            if event.get("error"):
                raise fail(f"pulling {img.ref}", str(event["error"]))
        if img.digest:
            client.images.get(img.by_digest).tag(repo, tag)


def ensure_images(
    client: Any, images: Iterable[PinnedImage], progress: Progress, *, pull: bool = True
) -> None:
    """Pull every image the host's Docker lacks, before any container is created.

    A missing image found only when loading it into a booted node would fail a minute or two into
    ``cluster up``; checking first fails at once (offline) or pulls with progress (online).

    Raises:
        NotReadyError: an image is missing and ``pull`` is off, or its pull failed.
    """
    missing = [img for img in images if local_image(client, img.ref) is None]
    if missing and not pull:
        names = ", ".join(i.short for i in missing)
        raise NotReadyError("images", f"not in Docker: {names}\nfix: {IMAGE_MISSING}")
    for n, img in enumerate(missing, 1):
        progress(f"pulling {img.short} ({n}/{len(missing)})")
        pull_image(client, img, progress)


def lock_images(client: Any, images_txt: str) -> tuple[str, list[str]]:
    """``images.txt`` with each locally present image pinned by the digest its registry served.

    Docker records the registry's (index) digest of a pulled image in ``RepoDigests``; an image
    pinned with another digest, or not pinned, is reported. Returns the new text and one line per
    change (``gatewaykit images lock``; the live CI job runs it with ``--check``).
    """
    out, changes = [], []
    for line in images_txt.splitlines():
        body = line.split("#", 1)[0].split()
        if len(body) < 2 or body[0] == "internet":  # the fake internet is built here: no registry digest
            out.append(line)
            continue
        img = PinnedImage(body[0], body[1])
        local = local_image(client, img.ref)
        with docker_errors("images lock"):
            digests = client.images.get(local).attrs.get("RepoDigests") or [] if local else []
        repo = img.tagged.rsplit(":", 1)[0]
        served = next(
            (
                d.split("@", 1)[1]
                for d in digests
                if d.split("@")[0] in (repo, img.short.rsplit(":", 1)[0], repo.removeprefix("docker.io/"))
            ),
            None,
        )
        if served is None:
            changes.append(f"{img.tagged}: not pulled from a registry here (run `gatewaykit images pull`)")
        elif served != img.digest:
            changes.append(f"{img.tagged}: {img.digest or 'unpinned'} -> {served}")
            line = line.replace(img.ref, f"{img.tagged}@{served}")
        out.append(line)
    return "\n".join(out) + "\n", changes


# --------------------------------------------------------------------------- finding and removing


def _label_filter(name: str | None, role: str | None = None) -> dict[str, list[str]]:
    labels = [f"{LABEL_CLUSTER}={name}" if name else LABEL_CLUSTER]
    if role:
        labels.append(f"{LABEL_ROLE}={role}")
    return {"label": labels}


def find_node(name: str = "gatewaykit", client: Any = None, *, running: bool = True) -> Any | None:
    """The node container of cluster ``name`` (found by label; ``running=False``: stopped too)."""
    client = client or docker_client()
    with docker_errors("docker"):
        found = client.containers.list(all=not running, filters=_label_filter(name, "node"))
    return found[0] if found else None


def remove_cluster(name: str | None = "gatewaykit", client: Any = None) -> list[str]:
    """Remove every container, network and volume labelled for cluster ``name`` (None: all clusters).

    Works without Ryuk; this is what ``gatewaykit cluster down`` and the ``atexit`` hook call.
    Returns the names of what was removed.
    """
    client = client or docker_client()
    removed: list[str] = []
    with docker_errors("cluster down"):
        for c in client.containers.list(all=True, filters=_label_filter(name)):
            c.remove(force=True, v=True)
            removed.append(f"container {c.name}")
        for v in client.volumes.list(filters=_label_filter(name)):
            v.remove(force=True)
            removed.append(f"volume {v.name}")
        for n in client.networks.list(filters=_label_filter(name)):
            n.remove()
            removed.append(f"network {n.name}")
    return removed


def _refuse_foreign(client: Any, names: Sequence[str], kind: str) -> None:
    """A container or volume of our name without our label belongs to someone else: never touch it."""
    errors = require_cluster_extra("docker.errors")
    for name in names:
        try:
            with docker_errors("node container"):
                obj = client.containers.get(name) if kind == "container" else client.volumes.get(name)
        except ClusterError as exc:
            if isinstance(exc.__cause__, errors.NotFound):
                continue
            raise
        labels = (
            (obj.attrs.get("Config") or {}).get("Labels") if kind == "container" else obj.attrs.get("Labels")
        )
        if LABEL_CLUSTER not in (labels or {}):
            raise ClusterError(
                f"a Docker {kind} named {name} exists and was not made by gatewaykit: remove or rename it "
                f"(`docker rm -f {name}`), or use another cluster name"
            )


def cluster_status(name: str | None = None, client: Any = None) -> list[dict[str, Any]]:
    """One row per gatewaykit container: cluster, role, name, status, published 127.0.0.1 ports."""
    client = client or docker_client()
    rows = []
    with docker_errors("cluster status"):
        for c in client.containers.list(all=True, filters=_label_filter(name)):
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


def ensure_network(client: Any, name: str, cluster: str) -> str:
    """The cluster's Docker network (a user-defined bridge: embedded DNS, kind's ``--net``)."""
    with docker_errors("network"):
        for net in client.networks.list(names=[name]):
            if net.name == name:
                return name
        client.networks.create(
            name, driver="bridge", labels={LABEL_CLUSTER: cluster, MANAGED_BY: MANAGED_BY_VALUE}
        )
    return name


# --------------------------------------------------------------------------- the node container


@dataclasses.dataclass(frozen=True, slots=True)
class _Net:
    # testcontainers only reads ``.name`` of the network it is given.
    name: str


class KindNode:
    """One kind node container, with kind v0.29.0's ``docker run`` flags.

    Args:
        spec: flags and ports (``NodeSpec.load()``).
        image: the node image (default: the pinned ``kindest/node``).
        cluster: the cluster name, stored in the ``io.gatewaykit.cluster`` label.
        ephemeral: create it with testcontainers (Ryuk reaps it with this process); False: with the
            Docker SDK, only gatewaykit's labels, so it outlives the process (the warm cluster).
        privileged: kind nodes must be privileged; tests with a stand-in image turn it off.
        network: the Docker network to join (created if missing, labelled).
        host: what ``docker info`` requires on this host (:func:`host_config`).
        host_ports: fixed 127.0.0.1 host ports for some node ports (default: all random).
    """

    def __init__(
        self,
        spec: NodeSpec,
        image: str | None = None,
        *,
        cluster: str = "gatewaykit",
        ephemeral: bool = False,
        privileged: bool | None = None,
        network: str | None = None,
        client: Any = None,
        host: HostConfig | None = None,
        host_ports: Mapping[int, int] | None = None,
    ) -> None:
        self.spec = spec
        self.image = image or pinned("node").ref
        self.cluster = cluster
        self.ephemeral = ephemeral
        self.privileged = spec.privileged if privileged is None else privileged
        self.network = network or spec.network
        self.name = f"{cluster}-control-plane"
        self.host = host or HostConfig()
        self.host_ports = dict(host_ports or {})
        self._client = client
        self._docker: Any = None  # docker SDK Container

    @property
    def client(self) -> Any:
        """The docker SDK client."""
        if self._client is None:
            self._client = docker_client()
        return self._client

    @property
    def volume(self) -> str:
        """The named volume on ``/var`` (etcd, kubelet, containerd's images)."""
        return f"{self.name}-var"

    def labels(self) -> dict[str, str]:
        """gatewaykit's labels (never testcontainers' session label on a long-lived node)."""
        return {LABEL_CLUSTER: self.cluster, LABEL_ROLE: "node", MANAGED_BY: MANAGED_BY_VALUE}

    def container_kwargs(self) -> dict[str, Any]:
        """The ``docker create`` arguments, kind's flags (providers/docker/provision.go) as data."""
        volumes = {self.volume: {"bind": self.spec.var_volume, "mode": "rw"}}
        # kind always mounts /lib/modules; the path is on the Docker host (a VM for Docker Desktop),
        # so it is not checked here.
        volumes.update(
            {h: {"bind": m["bind"], "mode": m.get("mode", "ro")} for h, m in self.spec.volumes.items()}
        )
        for bind in self.host.binds:
            src, dst = bind.split(":")[:2]
            volumes[src] = {"bind": dst, "mode": "rw"}
        kwargs: dict[str, Any] = {
            "name": self.name,
            "hostname": self.spec.hostname,
            "privileged": self.privileged,
            "security_opt": list(self.spec.security_opt),
            "cgroupns": self.spec.cgroupns,
            "tty": self.spec.tty,
            "entrypoint": list(self.spec.entrypoint),
            "labels": self.labels(),
            # kind passes --init=false: systemd must be PID 1 even if the daemon adds an init.
            "init": False,
            # kind: --restart=on-failure:1, i.e. come back after a host/dockerd reboot only.
            "restart_policy": dict(self.spec.restart_policy),
            "tmpfs": dict(self.spec.tmpfs),
            "volumes": volumes,
            # Published on 127.0.0.1 only, random host ports (never 0.0.0.0: nothing here is public).
            "ports": {f"{p}/tcp": ("127.0.0.1", self.host_ports.get(p)) for p in self.spec.published_ports()},
            "environment": {"KUBECONFIG": "/etc/kubernetes/admin.conf"},
        }
        if self.host.devices:
            kwargs["devices"] = [f"{d}:{d}:rwm" for d in self.host.devices]
        if self.host.userns_mode:
            kwargs["userns_mode"] = self.host.userns_mode
        return kwargs

    def remove_leftovers(self) -> None:
        """Remove a stopped node of this name and its old ``/var`` volume (etcd data, kubelet certs)
        left by a reboot or a reap; refuse to touch same-named objects gatewaykit did not make."""
        _refuse_foreign(self.client, [self.name], "container")
        _refuse_foreign(self.client, [self.volume], "volume")
        _remove_if_present(lambda: self.client.containers.get(self.name).remove(force=True, v=True))
        _remove_if_present(lambda: self.client.volumes.get(self.volume).remove(force=True))

    def start(self, *, timeout: float = 120.0, wait: bool = True) -> KindNode:
        """Create and start the container, then (``wait``) wait for the ready log line.

        Raises:
            NotReadyError: Docker refused (with the fix), or systemd did not come up in time.
            ClusterError: a same-named container or volume was not made by gatewaykit.
        """
        self.remove_leftovers()
        ensure_network(self.client, self.network, self.cluster)
        kwargs = self.container_kwargs()
        with docker_errors("node container"):
            self.client.volumes.create(self.volume, labels=self.labels())
        try:
            with docker_errors("node container"):
                self._docker = self._create_ephemeral(kwargs) if self.ephemeral else self._create_warm(kwargs)
        except ClusterError as exc:
            logs = self.logs()
            self.stop()
            raise fail("node container", f"Docker could not start {self.image}: {exc}", logs) from exc
        if wait:
            self.wait_ready(timeout=timeout)
        return self

    def _create_warm(self, kwargs: dict[str, Any]) -> Any:
        types = require_cluster_extra("docker.types")
        # kind: the node answers by its hostname and container name on the cluster network.
        endpoint = types.EndpointConfig(self.client.api.api_version, aliases=[self.spec.hostname, self.name])
        self._docker = self.client.containers.create(
            self.image,
            detach=True,
            network=self.network,
            networking_config={self.network: endpoint},
            **kwargs,
        )
        self._docker.start()  # on failure stop() removes the created container
        return self._docker

    def _create_ephemeral(self, kwargs: dict[str, Any]) -> Any:
        tc = require_cluster_extra("testcontainers.core.container")
        kwargs = dict(kwargs)
        container = tc.DockerContainer(self.image).with_name(kwargs.pop("name"))
        container.with_network(_Net(self.network)).with_network_aliases(self.spec.hostname, self.name)
        container.tmpfs.update(kwargs.pop("tmpfs"))
        for host, mount in kwargs.pop("volumes").items():
            container.with_volume_mapping(host, mount["bind"], mount["mode"])
        container.ports.update(kwargs.pop("ports"))
        container.env.update(kwargs.pop("environment"))
        container.with_kwargs(**kwargs)
        try:
            container.start()
        finally:
            self._docker = container._container  # created (maybe not started): stop() removes it
        return self._docker

    @classmethod
    def attach(cls, spec: NodeSpec, container: Any, client: Any = None) -> KindNode:
        """Wrap an already running node container (warm reuse)."""
        node = cls(
            spec,
            image=(container.image.tags or [container.image.id])[0],
            cluster=container.labels.get(LABEL_CLUSTER, "gatewaykit"),
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
        """The container's log (the entrypoint's and systemd's console), "" when there is none."""
        if self._docker is None:
            return ""
        try:
            with docker_errors("node container"):
                return str(self._docker.logs().decode("utf-8", "replace"))
        except ClusterError:
            return ""  # the container is already gone: nothing to show

    def wait_ready(self, *, timeout: float, step: str = "systemd") -> None:
        """Poll the log for kind's ready line (:data:`READY_LOG`); fail with the last lines if the
        container exits or time runs out."""
        deadline = time.monotonic() + timeout
        while True:
            logs = self.logs()
            if READY_LOG.search(logs):
                return
            with docker_errors(step):
                self.container.reload()
            if self.container.status in ("exited", "dead"):
                code = self.container.attrs["State"].get("ExitCode")
                raise fail(step, f"the node container exited ({code})", logs)
            if time.monotonic() > deadline:
                raise fail(step, f"{READY_LOG.pattern!r} not seen after {timeout:g} s", logs)
            time.sleep(0.2)

    def mapped_port(self, port: int) -> int:
        """The 127.0.0.1 host port a node port is published on."""
        with docker_errors("node container"):
            binds = self.client.api.port(self.id, port)
        if not binds:
            raise ClusterError(f"node port {port} is not published")
        return int(binds[0]["HostPort"])

    def ip(self) -> str:
        """The node's IP on its Docker network."""
        with docker_errors("node container"):
            self.container.reload()
        nets = self.container.attrs["NetworkSettings"]["Networks"]
        return str((nets.get(self.network) or next(iter(nets.values())))["IPAddress"])

    def exec(
        self, command: Sequence[str] | str, *, check: bool = True, step: str = "exec"
    ) -> tuple[int, str]:
        """Run a command in the node; with ``check`` a non-zero exit raises NotReadyError."""
        cmd = ["sh", "-c", command] if isinstance(command, str) else list(command)
        with docker_errors(step):
            code, out = self.container.exec_run(cmd, demux=False)
        text = (out or b"").decode("utf-8", "replace")
        if check and code != 0:
            raise fail(step, f"`{' '.join(cmd)}` exited {code}", text)
        return int(code), text

    def put_file(self, path: str, data: bytes, mode: int = 0o600) -> None:
        """Write a file into the node, creating its directory (kind nodeutils ``WriteFile``)."""
        parent = str(pathlib.PurePosixPath(path).parent)
        self.exec(["mkdir", "-p", parent], step=f"writing {path}")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(pathlib.PurePosixPath(path).name)
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))
        with docker_errors(f"writing {path}"):
            self.container.put_archive(parent, buf.getvalue())

    def kube_version(self) -> str:
        """The Kubernetes version built into the node image (``/kind/version``, kind nodeutils)."""
        lines = self.exec(["cat", "/kind/version"], step="kubeadm init")[1].split()
        if len(lines) != 1:
            raise ClusterError(f"/kind/version should hold one line, got {len(lines)}")
        return lines[0]

    def platform(self) -> str:
        """The node's platform (``linux/amd64``): its image's OS and architecture."""
        with docker_errors("load images"):
            return docker_platform(self.client.images.get(self.container.image.id).attrs)

    def snapshotter(self) -> str:
        """The snapshotter the node's CRI uses (``overlayfs``; ``native`` on zfs...)."""
        return parse_snapshotter(self.exec(["containerd", "config", "dump"], step="load images")[1])

    def stop(self) -> None:
        """Remove the container and its /var volume; idempotent."""
        if self._docker is not None:
            _remove_if_present(lambda: self._docker.remove(force=True, v=True))
        _remove_if_present(lambda: self.client.volumes.get(self.volume).remove(force=True))
        self._docker = None


def _remove_if_present(remove: Callable[[], object]) -> None:
    """Run a Docker removal; what is already gone is fine (idempotent clean-up)."""
    errors = require_cluster_extra("docker.errors")
    try:
        with docker_errors("clean-up"):
            remove()
    except ClusterError as exc:
        if not isinstance(exc.__cause__, errors.NotFound):
            raise


# --------------------------------------------------------------------------- image import


def _save_supports_platform(client: Any, docker_cli: str) -> bool:
    """``docker image save --platform`` needs Engine API 1.48 (Docker 28) and a CLI that has it."""
    with docker_errors("load images"):
        api = client.version().get("ApiVersion", "0")
    if tuple(int(x) for x in api.split(".")[:2]) < (1, 48):
        return False
    proc = subprocess.run([docker_cli, "image", "save", "--help"], capture_output=True, text=True)
    return "--platform" in proc.stdout


def import_command(node_id: str, platform: str, snapshotter: str, docker_cli: str = "docker") -> list[str]:
    """``docker exec -i <node> ctr images import`` for the node's platform and snapshotter.

    kind's ``LoadImageArchive`` imports ``--all-platforms``; with Docker's containerd image store
    (default on Docker Engine 29+ and Docker Desktop 4.34+) ``docker save`` of a multi-platform
    image writes an index whose other platforms' content is absent, and that import fails with
    ``content digest ... not found`` (kubernetes-sigs/kind#3795). Importing strictly the node's
    platform (containerd's ``ctr import --platform`` matches strictly) needs only what is there.
    """
    return [
        docker_cli,
        "exec",
        "-i",
        node_id,
        "ctr",
        "--namespace=k8s.io",
        "images",
        "import",
        f"--platform={platform}",
        "--digests",
        f"--snapshotter={snapshotter}",
        "-",
    ]


def import_archive(node: KindNode, stream: Any, *, platform: str, snapshotter: str, step: str) -> None:
    """Stream an image archive (``docker save`` output) into the node's containerd."""
    docker_cli = shutil.which("docker")
    if not docker_cli:
        raise ClusterError("loading images into the node needs the docker CLI on PATH (it comes with Docker)")
    proc = subprocess.run(
        import_command(node.id, platform, snapshotter, docker_cli), stdin=stream, capture_output=True
    )
    if proc.returncode != 0:
        err = (proc.stderr or b"").decode("utf-8", "replace")
        raise fail(step, f"ctr images import exited {proc.returncode}", err)


def load_images(node: KindNode, images: Iterable[PinnedImage], progress: Progress) -> None:
    """``kind load docker-image``: copy images from the host's Docker into the node's containerd.

    Images the node already has (by ``repo:tag``) are skipped; each is saved for the node's
    platform only when the engine can (``docker image save --platform``) and imported strictly for
    that platform with the node's snapshotter (kind nodeutils ``LoadImageArchive``).
    """
    docker_cli = shutil.which("docker")
    if not docker_cli:
        raise ClusterError("loading images into the node needs the docker CLI on PATH (it comes with Docker)")
    have = set(node.exec(["ctr", "--namespace=k8s.io", "images", "ls", "-q"], step="load images")[1].split())
    todo = [img for img in images if normalize_ref(img.tagged) not in have]
    if not todo:
        return
    platform, snapshotter = node.platform(), node.snapshotter()
    by_platform = _save_supports_platform(node.client, docker_cli)
    for n, img in enumerate(todo, 1):
        progress(f"load images: {img.short} ({n}/{len(todo)})")
        local = local_image(node.client, img.ref)
        if local is None:
            raise fail("load images", f"{img.ref} is not in the host's Docker", "no such image")
        save = [docker_cli, "image", "save", *(["--platform", platform] if by_platform else []), img.tagged]
        saver = subprocess.Popen(save, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            import_archive(node, saver.stdout, platform=platform, snapshotter=snapshotter, step="load images")
        finally:
            assert saver.stdout is not None and saver.stderr is not None
            saver.stdout.close()
            err = saver.stderr.read().decode("utf-8", "replace")
            if saver.wait() != 0:
                raise fail("load images", f"docker image save {img.tagged} failed", err)


# --------------------------------------------------------------------------- helper containers


def run_helper(
    client: Any,
    image: str,
    command: Sequence[str],
    *,
    files: Mapping[str, tuple[bytes, int]],
    network: str,
    labels: Mapping[str, str],
    timeout: float,
    step: str,
) -> tuple[int, str]:
    """Run a short-lived container to completion: ``(exit code, log)``.

    ``files`` (``path -> (content, mode)``) are copied into the container before it starts -- never
    a bind mount of a host directory, which Docker Desktop (only ``$HOME`` shared), a remote
    ``DOCKER_HOST`` and SELinux hosts break. testcontainers creates it (Ryuk reaps it if this
    process dies); it runs as root so a 0600 kubeconfig stays readable to it alone.
    """
    tc = require_cluster_extra("testcontainers.core.container")
    container = tc.DockerContainer(image).with_command(list(command)).with_network(_Net(network))
    container.with_kwargs(user="0:0", labels=dict(labels))
    for path, (data, mode) in files.items():
        container.with_copy_into_container(data, path, mode)
    requests_exc = require_cluster_extra("requests.exceptions")
    with docker_errors(step):
        container.start()
        wrapped = container.get_wrapped_container()
        try:
            try:
                result = wrapped.wait(timeout=timeout)
            except requests_exc.ReadTimeout:
                logs = wrapped.logs().decode("utf-8", "replace")
                raise fail(step, f"{image} did not finish within {timeout:g} s", logs) from None
            return int(result.get("StatusCode", 1)), wrapped.logs().decode("utf-8", "replace")
        finally:
            container.stop()


def internet_ready(logs: str) -> dict[str, Any] | None:
    """The fake internet container's ready line (``{"serving": [...], ...}`` JSON), or None."""
    for line in logs.splitlines():
        if line.startswith("{") and '"serving"' in line:
            try:
                return dict(json.loads(line))
            except ValueError:
                return None
    return None
