"""The node container's lifecycle against a REAL Docker engine, with a locally built stand-in image.

The stand-in (``docker import`` of a busybox rootfs, see conftest.py) has kind's entrypoint layout and
prints systemd's ready line, so KindNode's start, wait, port publishing, network aliases, exec,
file copy and clean-up all run for real. What it cannot do is kubeadm/Istio (no registry here).
Privileged mode is off for the stand-in: this machine's Docker cannot grant all capabilities.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
import urllib.request

import pytest
import yaml

from gatewaykit.backends._kindconfig import NodeSpec
from gatewaykit.backends._node import (
    LABEL_CLUSTER,
    KindNode,
    cluster_status,
    find_node,
    remove_cluster,
)
from gatewaykit.errors import ClusterError, NotReadyError

pytestmark = pytest.mark.docker


def _leftovers(client, name: str) -> list[str]:
    label = f"{LABEL_CLUSTER}={name}"
    return (
        [c.name for c in client.containers.list(all=True, filters={"label": label})]
        + [v.name for v in client.volumes.list(filters={"label": label})]
        + [n.name for n in client.networks.list(filters={"label": label})]
    )


def _node(standin_image: str, cluster_name: str, client, node_class: type = KindNode, **kw) -> KindNode:
    spec = NodeSpec.load()
    return node_class(
        spec,
        standin_image,
        cluster=cluster_name,
        privileged=False,
        network=f"{cluster_name}-net",
        client=client,
        **kw,
    )


def test_node_starts_publishes_ports_on_loopback_and_execs(
    standin_image, cluster_name, docker_engine
) -> None:
    node = _node(standin_image, cluster_name, docker_engine).start(timeout=30)
    try:
        node.container.reload()
        attrs = node.container.attrs
        # kind's flags reached Docker.
        host = attrs["HostConfig"]
        assert host["CgroupnsMode"] == "private" and attrs["Config"]["Tty"] is True
        assert set(host["SecurityOpt"]) == {"seccomp=unconfined", "apparmor=unconfined"}
        assert set(host["Tmpfs"]) == {"/tmp", "/run"}
        assert attrs["Config"]["Entrypoint"] == ["/usr/local/bin/entrypoint", "/sbin/init"]
        assert attrs["Config"]["Hostname"] == "gatewaykit-control-plane"
        labels = attrs["Config"]["Labels"]
        assert labels[LABEL_CLUSTER] == cluster_name and labels["io.gatewaykit.role"] == "node"
        # The warm node is not testcontainers': no session label for Ryuk to reap it by.
        assert not [k for k in labels if k.startswith("org.testcontainers")]
        assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 1}
        assert attrs["Config"]["Env"].count("KUBECONFIG=/etc/kubernetes/admin.conf") == 1
        assert any(m["Destination"] == "/var" and m["Type"] == "volume" for m in attrs["Mounts"])
        # Every published port is bound to 127.0.0.1 only, on a random host port.
        for port in NodeSpec.load().published_ports():
            binds = attrs["NetworkSettings"]["Ports"][f"{port}/tcp"]
            assert binds and all(b["HostIp"] == "127.0.0.1" for b in binds)
        mapped = node.mapped_port(30080)
        assert mapped != 30080
        with urllib.request.urlopen(f"http://127.0.0.1:{mapped}/", timeout=5) as resp:
            assert resp.read().decode() == "gatewaykit stand-in node gatewaykit-control-plane\n"
        assert node.exec(["hostname"]) == (0, "gatewaykit-control-plane\n")
        code, _ = node.exec(["sh", "-c", "exit 4"], check=False)
        assert code == 4
        with pytest.raises(NotReadyError, match=r"^kubeadm init: `sh -c echo boom; exit 1` exited 1"):
            node.exec("echo boom; exit 1", step="kubeadm init")
        node.put_file("/kind/new/kubeadm.conf", b"kind: ClusterConfiguration\n", 0o600)  # directory made
        assert node.exec(["cat", "/kind/new/kubeadm.conf"])[1] == "kind: ClusterConfiguration\n"
        assert node.exec(["sh", "-c", "ls -l /kind/new/kubeadm.conf"])[1].startswith("-rw-------")
        assert node.kube_version() == "v1.33.1"  # the stand-in image's /kind/version
        assert node.ip().count(".") == 3
    finally:
        node.stop()
    assert _leftovers(docker_engine, cluster_name) == [f"{cluster_name}-net"]  # the network stays for reuse
    remove_cluster(cluster_name, docker_engine)
    assert _leftovers(docker_engine, cluster_name) == []


def test_other_containers_reach_the_node_by_name_on_its_network(
    standin_image, cluster_name, docker_engine
) -> None:
    node = _node(standin_image, cluster_name, docker_engine).start(timeout=30)
    out = docker_engine.containers.run(
        standin_image,
        ["wget", "-qO-", "http://gatewaykit-control-plane:6443/"],
        entrypoint=[],
        network=f"{cluster_name}-net",
        labels={LABEL_CLUSTER: cluster_name},
        remove=True,
    )
    assert out.decode() == "gatewaykit stand-in node gatewaykit-control-plane\n"
    node.stop()


def test_find_status_and_down_without_ryuk(standin_image, cluster_name, docker_engine) -> None:
    node = _node(standin_image, cluster_name, docker_engine).start(timeout=30)
    found = find_node(cluster_name, docker_engine)
    assert found is not None and found.id == node.id
    rows = cluster_status(cluster_name, docker_engine)
    assert [(r["role"], r["status"]) for r in rows] == [("node", "running")]
    assert set(rows[0]["ports"]) == {"6443/tcp", "30080/tcp", "30443/tcp", "31400/tcp"}
    attached = KindNode.attach(NodeSpec.load(), found, docker_engine)
    assert attached.mapped_port(30080) == node.mapped_port(30080)
    # `gatewaykit cluster down` (a separate process, no Ryuk) removes container, volume and network.
    proc = subprocess.run(
        [sys.executable, "-m", "gatewaykit.cli", "cluster", "down", "--name", cluster_name],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"removed container {cluster_name}-control-plane" in proc.stdout
    assert _leftovers(docker_engine, cluster_name) == []
    assert find_node(cluster_name, docker_engine) is None


def test_a_node_that_dies_fails_with_its_last_log_lines(standin_image, cluster_name, docker_engine) -> None:
    spec = NodeSpec.load()
    import dataclasses

    dying = dataclasses.replace(spec, entrypoint=("/bin/sh", "-c", "echo 'Failed to mount cgroup'; exit 1"))
    node = KindNode(
        dying,
        standin_image,
        cluster=cluster_name,
        privileged=False,
        network=f"{cluster_name}-net",
        client=docker_engine,
    )
    started = time.monotonic()
    with pytest.raises(NotReadyError) as info:
        node.start(timeout=30)
        node.wait_for_log(spec.ready_log, timeout=30, step="systemd")
    assert time.monotonic() - started < 15
    assert str(info.value).startswith("systemd: the node container exited (1)")
    assert "Failed to mount cgroup" in str(info.value)
    node.stop()


def test_missing_image_fails_before_anything_is_created(standin_image, cluster_name, docker_engine) -> None:
    """Offline (pull=False) a missing image fails at once with the fix, not a minute into the boot."""
    from gatewaykit.backends._kindconfig import PinnedImage
    from gatewaykit.backends._node import ensure_images

    notes: list[str] = []
    images = [
        PinnedImage("cluster", "gatewaykit/does-not-exist:0"),
        PinnedImage("node", "gatewaykit/standin-node:test"),
    ]
    with pytest.raises(NotReadyError) as info:
        ensure_images(docker_engine, images, notes.append, pull=False)
    text = str(info.value)
    assert text.startswith(
        "images: not in Docker: gatewaykit/does-not-exist:0\nfix: image missing: on a connected"
    )
    assert notes == [] and _leftovers(docker_engine, cluster_name) == []


def test_port_in_use_is_diagnosed(standin_image, cluster_name, docker_engine) -> None:
    import socket

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    # A learner's program holds the port the node wants to publish on.
    node = _node(standin_image, cluster_name, docker_engine, host_ports={30080: port})
    try:
        with pytest.raises(NotReadyError) as info:
            node.start(timeout=10)
    finally:
        holder.close()
        node.stop()
    text = str(info.value)
    assert text.startswith("node container: Docker could not start")
    assert "\nfix: port in use" in text
    assert find_node(cluster_name, docker_engine) is None


ADMIN_CONF = """apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: Y2E=
    server: https://gatewaykit-control-plane:6443
  name: gatewaykit
contexts:
- context: {cluster: gatewaykit, user: kubernetes-admin}
  name: kubernetes-admin@gatewaykit
current-context: kubernetes-admin@gatewaykit
users:
- name: kubernetes-admin
  user: {client-certificate-data: Y2VydA==, client-key-data: a2V5}
"""


def test_warm_reuse_attaches_to_the_running_node(
    standin_image, cluster_name, docker_engine, tmp_path
) -> None:
    from gatewaykit.backends.kind import KindSandbox

    node = _node(standin_image, cluster_name, docker_engine).start(timeout=30)
    node.exec(["mkdir", "-p", "/etc/kubernetes"])
    node.put_file("/etc/kubernetes/admin.conf", ADMIN_CONF.encode())
    marker = {"istio_version": "1.27.1", "outbound_traffic_policy": "ALLOW_ANY"}
    node.put_file("/kind/gatewaykit-ready.json", json.dumps(marker).encode(), 0o644)
    steps: list[str] = []
    started = time.monotonic()
    sb = KindSandbox(name=cluster_name, state_dir=tmp_path, progress=steps.append)
    assert time.monotonic() - started < 10  # warm reuse target
    from gatewaykit.backends.kind import STEPS

    assert [s for s in steps if s in STEPS] == ["docker", "ready"]
    assert sb.env == {
        "INGRESS_HOST": "127.0.0.1",
        "INGRESS_PORT": str(node.mapped_port(30080)),
        "SECURE_INGRESS_PORT": str(node.mapped_port(30443)),
        "TCP_INGRESS_PORT": str(node.mapped_port(31400)),
    }
    kubeconfig = sb.kubeconfig
    assert oct(kubeconfig.stat().st_mode & 0o777) == "0o600"
    cfg = yaml.safe_load(kubeconfig.read_text())
    assert cfg["clusters"][0]["cluster"]["server"] == f"https://127.0.0.1:{node.mapped_port(6443)}"
    internal = yaml.safe_load((kubeconfig.parent / "kubeconfig.internal").read_text())
    assert internal["clusters"][0]["cluster"]["server"] == f"https://{cluster_name}-control-plane:6443"
    sb.close()
    sb.close()  # idempotent
    # reuse: the warm cluster outlives close()
    assert find_node(cluster_name, docker_engine) is not None


def test_a_half_made_cluster_is_not_reused(standin_image, cluster_name, docker_engine, tmp_path) -> None:
    from gatewaykit.backends.kind import KindSandbox

    _node(standin_image, cluster_name, docker_engine).start(timeout=30)  # no ready marker
    sb = KindSandbox(name=cluster_name, state_dir=tmp_path, start=False)
    assert sb._marker(find_node(cluster_name, docker_engine)) is None


def test_private_cluster_is_removed_at_exit_without_ryuk(
    standin_image, cluster_name, docker_engine, tmp_path
) -> None:
    script = f"""
import os
os.environ["TESTCONTAINERS_RYUK_DISABLED"] = "true"
from gatewaykit.backends.kind import KindNode, KindSandbox, NodeSpec
sb = KindSandbox(reuse=False, name={cluster_name!r}, state_dir={str(tmp_path)!r}, start=False)
sb._arm_cleanup()
node = KindNode(NodeSpec.load(), {standin_image!r}, cluster=sb.name, network=sb.network, privileged=False)
node.start(timeout=30)
print("started")
# the interpreter exits here without close()
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "started"
    assert _leftovers(docker_engine, cluster_name) == []


# ---------------------------------------------------------------- Ryuk, leftovers, import, helpers


class _MountingNode(KindNode):
    """The stand-in node with CAP_SYS_ADMIN (what the import's unpack mounts need): this machine's
    Docker cannot run privileged containers, which a real kind node is."""

    def container_kwargs(self) -> dict:
        return {**super().container_kwargs(), "cap_add": ["SYS_ADMIN"]}


def _containerd_node(image: str, cluster_name: str, client) -> KindNode:
    return _node(image, cluster_name, client, node_class=_MountingNode)


def _wait_gone(client, name: str, timeout: float) -> bool:
    import docker.errors

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            client.containers.get(name)
        except docker.errors.NotFound:
            return True
        time.sleep(0.5)
    return False


def test_ryuk_reaps_a_private_node_but_not_the_warm_one(
    standin_image, standin_ryuk_image, cluster_name, docker_engine
) -> None:
    """Ryuk left enabled: the process that created both nodes dies (a killed notebook kernel: no
    atexit hooks; testcontainers 4.15 removes Ryuk itself at a clean exit); Ryuk removes what
    carries its session label (the private node) and leaves the warm node, which carries only ours."""
    private = f"{cluster_name}-p"
    script = f"""
from gatewaykit.backends._kindconfig import NodeSpec
from gatewaykit.backends._node import KindNode
spec = NodeSpec.load()
for cluster, ephemeral in (({cluster_name!r}, False), ({private!r}, True)):
    node = KindNode(spec, {standin_image!r}, cluster=cluster, privileged=False, network=cluster,
                    ephemeral=ephemeral)
    node.start(timeout=30)
print("started", flush=True)
import os
os._exit(0)  # killed, as a kernel is: Ryuk's connection drops without testcontainers' atexit hook
"""
    env = {
        **os.environ,
        "TESTCONTAINERS_RYUK_DISABLED": "false",
        "RYUK_CONTAINER_IMAGE": standin_ryuk_image,
        "RYUK_RECONNECTION_TIMEOUT": "1s",
    }
    try:
        proc = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == "started"
        assert _wait_gone(docker_engine, f"{private}-control-plane", 30), "Ryuk did not reap the private node"
        warm = docker_engine.containers.get(f"{cluster_name}-control-plane")
        time.sleep(2)  # Ryuk is done (it reaped the private node): the warm node must still run
        warm.reload()
        assert warm.status == "running"
    finally:
        remove_cluster(private, docker_engine)


def _leftover_volume(client, volume: str, cluster: str, image: str) -> None:
    client.volumes.create(volume, labels={LABEL_CLUSTER: cluster})
    client.containers.run(
        image,
        ["sh", "-c", "echo old-etcd > /var/etcd-data"],
        entrypoint=[],
        remove=True,
        volumes={volume: {"bind": "/var", "mode": "rw"}},
    )


def test_a_reboot_leftover_node_and_var_volume_are_replaced(
    standin_image, cluster_name, docker_engine
) -> None:
    """After a reboot or a reap: a stopped node of the same name (a 409 for `docker create`) and the
    old /var volume (etcd data, kubelet certs) are removed before the node is created again."""
    name, volume = f"{cluster_name}-control-plane", f"{cluster_name}-control-plane-var"
    _leftover_volume(docker_engine, volume, cluster_name, standin_image)
    old = docker_engine.containers.create(
        standin_image,
        ["true"],
        entrypoint=[],
        name=name,
        labels={LABEL_CLUSTER: cluster_name, "io.gatewaykit.role": "node"},
    )
    node = _node(standin_image, cluster_name, docker_engine).start(timeout=30)
    assert node.id != old.id
    assert node.exec(["ls", "/var"])[1].split() == []  # a fresh /var: no old etcd data
    node.stop()


def test_a_foreign_container_of_the_same_name_is_refused_and_kept(
    standin_image, cluster_name, docker_engine
) -> None:
    name = f"{cluster_name}-control-plane"
    other = docker_engine.containers.create(standin_image, ["true"], entrypoint=[], name=name)
    try:
        with pytest.raises(ClusterError) as info:
            _node(standin_image, cluster_name, docker_engine).start(timeout=30)
        assert str(info.value).startswith(
            f"a Docker container named {name} exists and was not made by gatewaykit: remove or rename it"
        )
        other.reload()  # still there
    finally:
        other.remove(force=True)


def _multi_platform_archive() -> bytes:
    """What `docker save` writes for a multi-platform image under Docker's containerd image store
    when only this machine's platform was pulled: an OCI index naming linux/amd64 (present) and
    linux/arm64/v8 (absent: never downloaded)."""
    import gzip
    import hashlib
    import io
    import shutil
    import tarfile

    def digest(data: bytes) -> str:
        return "sha256:" + hashlib.sha256(data).hexdigest()

    layer_buf = io.BytesIO()
    with tarfile.open(fileobj=layer_buf, mode="w") as tar:
        tar.add(shutil.which("busybox"), arcname="bin/busybox")
    layer_tar = layer_buf.getvalue()
    layer = gzip.compress(layer_tar, mtime=0)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [digest(layer_tar)]},
        }
    ).encode()
    oci = "application/vnd.oci.image"
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": f"{oci}.manifest.v1+json",
            "config": {"mediaType": f"{oci}.config.v1+json", "digest": digest(config), "size": len(config)},
            "layers": [
                {"mediaType": f"{oci}.layer.v1.tar+gzip", "digest": digest(layer), "size": len(layer)}
            ],
        }
    ).encode()
    absent = b'{"schemaVersion":2,"config":{},"layers":[]}'
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": f"{oci}.index.v1+json",
            "manifests": [
                {
                    "mediaType": f"{oci}.manifest.v1+json",
                    "digest": digest(manifest),
                    "size": len(manifest),
                    "platform": {"architecture": "amd64", "os": "linux"},
                },
                {
                    "mediaType": f"{oci}.manifest.v1+json",
                    "digest": digest(absent),
                    "size": len(absent),
                    "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"},
                },
            ],
        }
    ).encode()
    top = json.dumps(
        {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": f"{oci}.index.v1+json",
                    "digest": digest(index),
                    "size": len(index),
                    "annotations": {
                        "io.containerd.image.name": "docker.io/gatewaykit/multi:1",
                        "org.opencontainers.image.ref.name": "1",
                    },
                }
            ],
        }
    ).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), ("index.json", top)] + [
            (f"blobs/sha256/{digest(d)[7:]}", d) for d in (layer, config, manifest, index)
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the archive is built for linux/amd64")
def test_a_multi_platform_image_imports_for_the_nodes_platform(
    standin_containerd_image, cluster_name, docker_engine, tmp_path
) -> None:
    from gatewaykit.backends._node import import_archive, import_command

    node = _containerd_node(standin_containerd_image, cluster_name, docker_engine).start(timeout=30)
    try:
        assert node.snapshotter() == "native"  # read from `containerd config dump`, as kind does
        assert node.platform() == "linux/amd64"
        archive = tmp_path / "multi.tar"
        archive.write_bytes(_multi_platform_archive())
        # kind's import (--all-platforms) fails on this archive: the bug of kubernetes-sigs/kind#3795.
        kinds = import_command(node.id, "linux/amd64", "native")
        kinds[kinds.index("--platform=linux/amd64")] = "--all-platforms"
        with archive.open("rb") as f:
            proc = subprocess.run(kinds, stdin=f, capture_output=True, text=True)
        assert proc.returncode == 1 and "content digest sha256:" in proc.stderr and "not found" in proc.stderr
        with archive.open("rb") as f:
            import_archive(
                node, f, platform=node.platform(), snapshotter=node.snapshotter(), step="load images"
            )
        listed = node.exec(["ctr", "--namespace=k8s.io", "images", "ls", "-q"])[1].split()
        assert "docker.io/gatewaykit/multi:1" in listed
    finally:
        node.stop()


def test_load_images_saves_from_docker_into_the_nodes_containerd(
    standin_image, standin_containerd_image, cluster_name, docker_engine
) -> None:
    from gatewaykit.backends._kindconfig import PinnedImage
    from gatewaykit.backends._node import load_images

    node = _containerd_node(standin_containerd_image, cluster_name, docker_engine).start(timeout=30)
    notes: list[str] = []
    try:
        load_images(node, [PinnedImage("cluster", standin_image)], notes.append)
        assert notes == ["load images: gatewaykit/standin-node:test (1/1)"]
        listed = node.exec(["ctr", "--namespace=k8s.io", "images", "ls", "-q"])[1].split()
        assert "docker.io/gatewaykit/standin-node:test" in listed
        load_images(node, [PinnedImage("cluster", standin_image)], notes.append)
        assert len(notes) == 1  # already there: skipped
    finally:
        node.stop()


def test_helper_containers_get_files_copied_in_not_bind_mounted(
    standin_image, cluster_name, docker_engine
) -> None:
    from gatewaykit.backends._node import ensure_network, run_helper

    net = ensure_network(docker_engine, f"{cluster_name}-net", cluster_name)
    code, logs = run_helper(
        docker_engine,
        standin_image,
        [
            "sh",
            "-c",
            "ls -l /work/kubeconfig; cat /work/kubeconfig /work/operator.yaml; "
            "grep -c ' /work' /proc/self/mountinfo",
        ],
        files={
            "/work/kubeconfig": (b"apiVersion: v1\n", 0o600),
            "/work/operator.yaml": (b"kind: IstioOperator\n", 0o644),
        },
        network=net,
        labels={LABEL_CLUSTER: cluster_name},
        timeout=30,
        step="istio install",
    )
    lines = logs.splitlines()
    assert code == 1  # grep -c found no mount under /work: exit 1 with count 0
    assert lines[0].startswith("-rw-------") and lines[1:] == ["apiVersion: v1", "kind: IstioOperator", "0"]
    assert not docker_engine.containers.list(all=True, filters={"label": f"{LABEL_CLUSTER}={cluster_name}"})


def test_a_fake_internet_that_does_not_serve_fails_clearly(
    standin_image, cluster_name, docker_engine, tmp_path
) -> None:
    from gatewaykit.backends.kind import KindSandbox

    sb = KindSandbox(name=cluster_name, state_dir=tmp_path, start=False)
    container = docker_engine.containers.run(
        standin_image,
        [
            "sh",
            "-c",
            "echo '/usr/local/bin/python: No module named gatewaykit.workloads.internet.__main__'; exit 1",
        ],
        entrypoint=[],
        detach=True,
        labels={LABEL_CLUSTER: cluster_name},
    )
    with pytest.raises(NotReadyError) as info:
        sb._internet_serving(container, timeout=20)
    text = str(info.value)
    assert text.startswith("fake internet: the fake internet container is exited, not serving")
    assert "No module named gatewaykit.workloads.internet.__main__" in text
