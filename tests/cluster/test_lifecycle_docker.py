"""The node container's lifecycle against a REAL Docker engine, with a locally built stand-in image.

The stand-in (``docker import`` of a busybox rootfs, see conftest.py) has kind's entrypoint layout and
prints systemd's ready line, so KindNode's start, wait, port publishing, network aliases, exec,
file copy and clean-up all run for real. What it cannot do is kubeadm/Istio (no registry here).
Privileged mode is off for the stand-in: this machine's Docker cannot grant all capabilities.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request

import pytest
import yaml

from gatewaykit.backends.kind import (
    LABEL_CLUSTER,
    KindNode,
    NodeSpec,
    cluster_status,
    find_node,
    remove_cluster,
)
from gatewaykit.errors import NotReadyError

pytestmark = pytest.mark.docker


def _leftovers(client, name: str) -> list[str]:
    label = f"{LABEL_CLUSTER}={name}"
    return (
        [c.name for c in client.containers.list(all=True, filters={"label": label})]
        + [v.name for v in client.volumes.list(filters={"label": label})]
        + [n.name for n in client.networks.list(filters={"label": label})]
    )


def _node(standin_image: str, cluster_name: str, client) -> KindNode:
    spec = NodeSpec.load()
    return KindNode(
        spec,
        standin_image,
        cluster=cluster_name,
        privileged=False,
        network=f"{cluster_name}-net",
        client=client,
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
        assert labels["org.testcontainers"] == "true"  # reaped by Ryuk where it runs
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
        node.put_file("/kind/kubeadm.conf", b"kind: ClusterConfiguration\n", 0o600)
        assert node.exec(["cat", "/kind/kubeadm.conf"])[1] == "kind: ClusterConfiguration\n"
        assert node.exec(["sh", "-c", "ls -l /kind/kubeadm.conf"])[1].startswith("-rw-------")
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


def test_missing_image_is_diagnosed(cluster_name, docker_engine) -> None:
    # pull=False: no registry here, and an offline workshop must fail at once with the fix.
    node = KindNode(
        NodeSpec.load(),
        "gatewaykit/does-not-exist:0",
        cluster=cluster_name,
        privileged=False,
        network=f"{cluster_name}-net",
        client=docker_engine,
        pull=False,
    )
    with pytest.raises(NotReadyError) as info:
        node.start(timeout=10)
    text = str(info.value)
    assert text.startswith("node container: gatewaykit/does-not-exist:0 is not in Docker (no such image)")
    assert "fix: image missing: on a connected machine run `gatewaykit images pull`" in text
    assert _leftovers(docker_engine, cluster_name) == []


def test_port_in_use_is_diagnosed(standin_image, cluster_name, docker_engine) -> None:
    import socket

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    # A learner's program holds the port the node wants to publish on.
    node = KindNode(
        NodeSpec.load(),
        standin_image,
        cluster=cluster_name,
        privileged=False,
        network=f"{cluster_name}-net",
        client=docker_engine,
        host_ports={30080: port},
    )
    try:
        with pytest.raises(NotReadyError) as info:
            node.start(timeout=10)
    finally:
        holder.close()
        node.stop()
    text = str(info.value)
    assert text.startswith("node container: Docker could not start")
    assert "fix: port in use" in text
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
    assert steps == ["docker", "ready"]
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
