"""The kind backend: a real Kubernetes node in a Docker container, with Istio, driven from Python.

There is no kind module in testcontainers and we do not need the ``kind`` CLI: like the Java
kindcontainer, :class:`~gatewaykit.backends._node.KindNode` runs the pinned ``kindest/node`` image
with kind v0.29.0's own container flags, waits for systemd, runs ``kubeadm init`` with the
project's config, installs the CNI and storage manifests that ship inside the node image, removes
the control-plane taint and waits for the node to be Ready. :class:`KindSandbox` then installs Istio
with ``istioctl install`` (the pinned ``istio/istioctl`` image, in a container on the node's Docker
network), publishes the ingress gateway's fixed NodePorts to random 127.0.0.1 ports, and implements
the :class:`~gatewaykit.backends.base.Backend` protocol on top of :mod:`gatewaykit.backends._kube`.

Split: declarative config in :mod:`~gatewaykit.backends._kindconfig` (pure), the node and its images
in :mod:`~gatewaykit.backends._node`, the shared cluster half of the protocol in
:mod:`~gatewaykit.backends._clusterbackend`; progress is a plain callback (the notebook widget is
:func:`gatewaykit.kit.progress.progress_widget`).
"""

from __future__ import annotations

import atexit
import json
import os
import pathlib
import shlex
import shutil
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import yaml

from gatewaykit.backends._clusterbackend import ClusterBackend
from gatewaykit.backends._errormap import docker_errors
from gatewaykit.backends._kindconfig import (
    NodeSpec,
    host_config,
    ingress_env,
    patch_corefile,
    pin_images,
    pinned,
    pinned_images,
    render_cni_manifest,
    render_istio_operator,
    render_kubeadm_config,
)
from gatewaykit.backends._kube import (
    MANAGED_BY,
    MANAGED_BY_VALUE,
    KubeClient,
    load_documents,
    require_cluster_extra,
)
from gatewaykit.backends._node import (
    LABEL_CLUSTER,
    LABEL_ROLE,
    KindNode,
    docker_client,
    ensure_images,
    fail,
    find_node,
    internet_ready,
    load_images,
    local_image,
    remove_cluster,
    run_helper,
)
from gatewaykit.backends.base import ApplyReport, ManifestSource
from gatewaykit.errors import ClusterError

__all__ = ["DEFAULT_INTERNET_HOSTS", "STEPS", "KindSandbox", "operator_mode"]

#: Names of the slow steps, in order, as given to the progress callback.
STEPS: tuple[str, ...] = (
    "docker",
    "images",
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

_READY_MARKER = "/kind/gatewaykit-ready.json"
_KUBECTL = ["kubectl", "--kubeconfig=/etc/kubernetes/admin.conf"]


def operator_mode(operator: Mapping[str, Any]) -> str:
    """``spec.meshConfig.outboundTrafficPolicy.mode`` of an IstioOperator; Istio's default ALLOW_ANY."""
    mesh = ((operator.get("spec") or {}).get("meshConfig") or {}).get("outboundTrafficPolicy") or {}
    return str(mesh.get("mode") or "ALLOW_ANY")


def _write_private(path: pathlib.Path, data: str) -> None:
    """Write a file only its owner can read (it holds a cluster-admin client key)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(data)
    os.chmod(path, 0o600)


class KindSandbox(ClusterBackend):
    """A kind cluster with Istio, implementing the ``Backend`` protocol.

    Args:
        reuse: keep the cluster running after ``close()`` and reuse a running one (found by its
            label) instead of creating it: one warm cluster per machine across notebook kernels
            (the default; ``gatewaykit cluster down`` removes it). ``False``: a private cluster,
            created with testcontainers (Ryuk reaps it if this process dies) and removed by
            ``close()`` or at interpreter exit.
        name: the cluster name (container ``<name>-control-plane``, label value); default
            ``gatewaykit`` when reused, a unique ``gatewaykit-<random>`` otherwise.
        progress: called with each step name of :data:`STEPS` as it starts, and with notes
            (``"pulling ..."``) in between.
        outbound_traffic_policy: ``ALLOW_ANY`` or ``REGISTRY_ONLY`` (re-applied through the install).
        node_image: override the pinned ``kindest/node`` image.
        state_dir: where the kubeconfig (mode 0600) and the ``istioctl`` wrapper are kept.
        timeout: seconds for the whole start-up.
        internet: start the fake internet container: True, False, or "auto" (when its image exists).
        pull: pull missing images before creating anything (False: fail at once, offline).
    """

    STEPS = STEPS

    def __init__(
        self,
        *,
        reuse: bool = True,
        name: str | None = None,
        progress: Callable[[str], None] | None = None,
        outbound_traffic_policy: str = "ALLOW_ANY",
        node_image: str | None = None,
        state_dir: str | os.PathLike[str] | None = None,
        timeout: float = 600.0,
        internet: bool | str = "auto",
        pull: bool = True,
        start: bool = True,
    ) -> None:
        self.name = name or ("gatewaykit" if reuse else f"gatewaykit-{uuid.uuid4().hex[:6]}")
        self.reuse = reuse
        self.progress = progress or (lambda step: None)
        self.outbound_traffic_policy = outbound_traffic_policy
        self.spec = NodeSpec.load()
        self.node_image = node_image
        self.timeout = timeout
        self.internet = internet
        self.pull = pull
        base = (
            pathlib.Path(state_dir) if state_dir else pathlib.Path.home() / ".cache" / "gatewaykit" / "kind"
        )
        self.work_dir = base / self.name
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

    @property
    def state_dir(self) -> pathlib.Path:
        """The backend's private work dir (kubeconfig, ``bin/istioctl``, kubectl's cache)."""
        return self.work_dir

    @property
    def istio_version(self) -> str:
        """The pinned Istio version (the tag of the pinned istioctl image)."""
        return pinned("istioctl").tagged.rsplit(":", 1)[1]

    # -- lifecycle

    def start(self) -> KindSandbox:
        """Create (or reuse) the cluster; return when Istio's gateways serve."""
        self.progress("docker")
        client = docker_client()
        with docker_errors("docker"):
            info = client.info()
        host = host_config(info)
        for note in host.notes:
            self.progress(note)
        self._check_memory(info)
        existing = find_node(self.name, client, running=False) if self.reuse else None
        if existing is not None and existing.status == "running" and self._marker(existing) is not None:
            return self._attach(existing, client)
        if existing is not None:
            self.progress(f"{existing.name} is {existing.status} or half made: re-creating it")
        self.progress("images")
        needed = [i for i in pinned_images() if i.role in ("node", "istioctl", "cluster")]
        if self.node_image:
            needed = [i for i in needed if i.role != "node"]
        ensure_images(client, needed, self.progress, pull=self.pull)
        remove_cluster(self.name, client)
        if not self.reuse:
            self._arm_cleanup()
        try:
            self._create(client, host)
        except BaseException:
            # A half-made cluster is of no use to anyone (and would be mistaken for a warm one).
            remove_cluster(self.name, client)
            raise
        return self

    def _attach(self, container: Any, client: Any) -> KindSandbox:
        self.node = KindNode.attach(self.spec, container, client)
        self._write_kubeconfigs()  # never trust a kubeconfig left by an older cluster
        self._connect()
        marker = self._marker(container) or {}
        self._operators = dict(marker.get("operators") or {})
        if marker.get("outbound_traffic_policy") != self.outbound_traffic_policy:
            self.set_outbound_traffic_policy(self.outbound_traffic_policy)
        self.progress("ready")
        return self

    def _check_memory(self, info: Mapping[str, Any]) -> None:
        total = int(info.get("MemTotal") or 0)
        if total and total < 3 * 1024**3:
            raise fail("docker", f"Docker has {total / 1024**3:.1f} GiB of memory", "insufficient memory")

    def _create(self, client: Any, host: Any) -> None:
        self.progress("node container")
        node = KindNode(
            self.spec,
            self.node_image,
            cluster=self.name,
            client=client,
            network=self.network,
            ephemeral=not self.reuse,
            host=host,
        )
        self.node = node
        node.start(wait=False)
        self.progress("systemd")
        node.wait_ready(timeout=min(120.0, self.timeout))
        self._kubeadm_init(node)
        self.progress("kubeconfig")
        self._write_kubeconfigs()
        self._connect()
        self.progress("load images")
        load_images(node, [i for i in pinned_images() if i.role == "cluster"], self.progress)
        self.progress("istio install")
        self._istio_install(self.outbound_traffic_policy)
        self.progress("sidecar injection")
        node.exec(
            [*_KUBECTL, "label", "namespace", "default", "istio-injection=enabled", "--overwrite"],
            step="sidecar injection",
        )
        self.progress("fake internet")
        self._start_internet(client)
        self._save_marker()
        self.progress("ready")

    def _kubeadm_init(self, node: KindNode) -> None:
        """kind's kubeadminit, installcni, installstorage and waitforready actions, in order."""
        self.progress("kubeadm init")
        config = render_kubeadm_config(
            self.spec, node.ip(), kubernetes_version=node.kube_version(), extra_sans=[node.name]
        )
        node.put_file("/kind/kubeadm.conf", config.encode(), 0o600)
        node.exec(
            [
                "kubeadm",
                "init",
                "--skip-phases=preflight",
                "--config=/kind/kubeadm.conf",
                "--skip-token-print",
                "--v=6",
            ],
            step="kubeadm init",
        )
        self.progress("cni and storage")
        _, cni = node.exec(["cat", "/kind/manifests/default-cni.yaml"], step="cni and storage")
        node.put_file("/kind/cni.yaml", render_cni_manifest(cni, self.spec.pod_subnet).encode(), 0o644)
        node.exec([*_KUBECTL, "apply", "-f", "/kind/cni.yaml"], step="cni and storage")
        node.exec([*_KUBECTL, "apply", "-f", "/kind/manifests/default-storage.yaml"], step="cni and storage")
        # A single node runs everything: remove the control-plane taint and the label that keeps load
        # balancers away (kind's kubeadminit action does both for one-node clusters).
        node.exec(
            [*_KUBECTL, "taint", "nodes", "--all", "node-role.kubernetes.io/control-plane-"],
            step="kubeadm init",
        )
        node.exec(
            [
                *_KUBECTL,
                "label",
                "nodes",
                "--all",
                "node.kubernetes.io/exclude-from-external-load-balancers-",
            ],
            step="kubeadm init",
        )
        self.progress("node ready")
        node.exec(
            [*_KUBECTL, "wait", "--for=condition=Ready", "nodes", "--all", "--timeout=180s"],
            step="node ready",
        )

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
        with docker_errors("docker"):
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
        self.work_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        host_port = self.node.mapped_port(self.spec.api_server_port)
        for fname, server in (
            ("kubeconfig", f"https://127.0.0.1:{host_port}"),
            ("kubeconfig.internal", f"https://{self.node.name}:{self.spec.api_server_port}"),
        ):
            for cluster in cfg.get("clusters") or []:
                cluster["cluster"]["server"] = server
            _write_private(self.work_dir / fname, yaml.safe_dump(cfg))
        self._write_istioctl()

    def _write_istioctl(self) -> None:
        """``bin/istioctl``: the pinned istioctl image run on the cluster network, for :meth:`shell`.

        The kubeconfig is copied into the container (``docker cp``), never bind-mounted; stdin is
        passed through (``istioctl ... -f -``).
        """
        bin_dir = self.work_dir / "bin"
        bin_dir.mkdir(exist_ok=True, mode=0o700)
        internal = shlex.quote(str(self.work_dir / "kubeconfig.internal"))
        image = shlex.quote(pinned("istioctl").tagged)
        script = (
            "#!/bin/sh\n# The pinned istioctl, against the gatewaykit kind cluster (written by gatewaykit).\n"
            f"cid=$(docker create -i --network {shlex.quote(self.network)} --user 0:0 "
            f"--label {LABEL_CLUSTER}={shlex.quote(self.name)} --label {LABEL_ROLE}=istioctl "
            f'{image} "$@" --kubeconfig /kubeconfig) || exit 1\n'
            f'docker cp {internal} "$cid:/kubeconfig" >/dev/null \\\n'
            '  || { docker rm -f "$cid" >/dev/null; exit 1; }\n'
            'docker start -a -i "$cid"; rc=$?\ndocker rm -f "$cid" >/dev/null\nexit $rc\n'
        )
        path = bin_dir / "istioctl"
        path.write_text(script)
        path.chmod(0o700)

    def istioctl_dir(self) -> pathlib.Path:
        """Where the ``istioctl`` wrapper is (first on :attr:`shell_env`'s ``PATH``)."""
        return self.work_dir / "bin"

    def _connect(self) -> None:
        assert self.node is not None
        config = require_cluster_extra("kubernetes.config")
        path = str(self.kubeconfig)
        refs = [i.ref for i in pinned_images() if i.role == "cluster"]
        self.kube = KubeClient(
            lambda: config.new_client_from_config(config_file=path),
            transform=lambda body: pin_images(body, refs),
            discovery_cache=str(self.work_dir / "discovery.json"),
        )
        mapped = {k: self.node.mapped_port(p) for k, p in self.spec.node_ports.items()}
        self._env = ingress_env(mapped)

    def _istio_install(self, policy: str) -> None:
        """``istioctl install -y -f operator.yaml`` from the pinned istioctl image (files copied in)."""
        assert self.node is not None
        op = render_istio_operator(
            self.spec, istio_version=self.istio_version, outbound_traffic_policy=policy
        )
        code, logs = run_helper(
            self.node.client,
            pinned("istioctl").tagged,
            ["install", "-y", "-f", "/work/operator.yaml", "--kubeconfig", "/work/kubeconfig"],
            files={
                "/work/operator.yaml": (op.encode(), 0o644),
                "/work/kubeconfig": ((self.work_dir / "kubeconfig.internal").read_bytes(), 0o600),
            },
            network=self.network,
            labels={LABEL_CLUSTER: self.name, LABEL_ROLE: "istioctl", MANAGED_BY: MANAGED_BY_VALUE},
            timeout=max(60.0, self.timeout / 2),
            step="istio install",
        )
        if code != 0:
            raise fail("istio install", f"istioctl install exited {code}", logs)

    def set_outbound_traffic_policy(self, mode: str) -> None:
        """Switch ``meshConfig.outboundTrafficPolicy.mode`` by re-running the install
        (docs/behaviour.md §11.2).

        Returns when istiod runs with the new mesh config and the proxies have ACKed it.
        """
        if mode not in ("ALLOW_ANY", "REGISTRY_ONLY"):
            raise ValueError(f"outboundTrafficPolicy mode must be ALLOW_ANY or REGISTRY_ONLY, not {mode!r}")
        self._istio_install(mode)
        self.outbound_traffic_policy = mode
        kube = self._check_open()
        self._save_marker()
        kube.wait_mesh_config({"outboundTrafficPolicy": {"mode": mode}})
        kube.wait_config_live([])

    # -- the fake internet

    def _internet_hosts(self) -> tuple[str, ...]:
        try:
            from gatewaykit.workloads import internet
        except ImportError:
            return DEFAULT_INTERNET_HOSTS
        return tuple(getattr(internet, "HOSTS", DEFAULT_INTERNET_HOSTS))

    def _start_internet(self, client: Any) -> None:
        """Start the fake internet, check it serves, then point CoreDNS at it."""
        if self.internet is False:
            return
        image = pinned("internet").tagged
        if local_image(client, image) is None:
            if self.internet == "auto":
                self.progress(
                    "fake internet: image missing (gatewaykit images pull builds it); egress labs "
                    "would reach the real internet"
                )
                return
            raise fail("fake internet", f"{image} is not in the host's Docker", "no such image")
        with docker_errors("fake internet"):
            c = client.containers.run(
                image,
                name=f"{self.name}-internet",
                network=self.network,
                detach=True,
                labels={LABEL_CLUSTER: self.name, LABEL_ROLE: "internet", MANAGED_BY: MANAGED_BY_VALUE},
            )
        ip = self._internet_serving(c)
        self._patch_coredns(ip, self._internet_hosts())

    def _internet_serving(self, container: Any, timeout: float = 60.0) -> str:
        """Wait for the container's ready line and probe it from the node; its IP, or fail."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            with docker_errors("fake internet"):
                container.reload()
                logs = container.logs().decode("utf-8", "replace")
            if internet_ready(logs):
                break
            if container.status in ("exited", "dead") or time.monotonic() > deadline:
                raise fail(
                    "fake internet", f"the fake internet container is {container.status}, not serving", logs
                )
            time.sleep(0.3)
        ip = str(container.attrs["NetworkSettings"]["Networks"][self.network]["IPAddress"])
        assert self.node is not None
        code, out = self.node.exec(
            [
                "curl",
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--resolve",
                f"httpbin.org:80:{ip}",
                "http://httpbin.org/status/200",
            ],
            check=False,
            step="fake internet",
        )
        if code != 0 or out.strip() != "200":
            raise fail(
                "fake internet", f"httpbin.org on the fake internet ({ip}) does not answer: {out}", logs
            )
        return ip

    def _patch_coredns(self, ip: str, hosts: tuple[str, ...]) -> None:
        assert self.node is not None
        kubectl = [*_KUBECTL, "-n", "kube-system"]
        _, corefile = self.node.exec(
            [*kubectl, "get", "configmap", "coredns", "-o", "jsonpath={.data.Corefile}"], step="fake internet"
        )
        cm = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "coredns", "namespace": "kube-system"},
            "data": {"Corefile": patch_corefile(corefile, ip, hosts)},
        }
        self.node.put_file("/kind/coredns.json", json.dumps(cm).encode(), 0o644)
        for args in (
            ["apply", "-f", "/kind/coredns.json"],
            ["rollout", "restart", "deployment/coredns"],
            ["rollout", "status", "deployment/coredns", "--timeout=120s"],
        ):
            self.node.exec([*kubectl, *args], step="fake internet")

    # -- clean-up

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
            self._close_common()
            if not self.reuse:
                try:
                    remove_cluster(self.name)
                except ClusterError:
                    pass  # Docker went away first: Ryuk (or `gatewaykit cluster down`) removes it
                shutil.rmtree(self.work_dir, ignore_errors=True)
            atexit.unregister(self._atexit)

    # -- Backend protocol (the rest is ClusterBackend's)

    def service_address(self, namespace: str, name: str, port: int) -> tuple[str, int]:
        """Where the host reaches ``port`` of a Service: its nodePort's published 127.0.0.1 port when
        the node publishes it (the ingress gateway's fixed NodePorts), else a held port-forward.

        The node publishes only the fixed NodePorts of ``cluster/node.yaml`` (Docker cannot add
        published ports to a running container); a gateway the learner or the Gateway API
        deploys gets random NodePorts, which ``kubectl port-forward svc/<name>`` reaches instead.
        """
        p = self._service_port(namespace, name, port)
        assert self.node is not None
        if p.get("nodePort") in set(self.spec.node_ports.values()):
            return "127.0.0.1", self.node.mapped_port(int(p["nodePort"]))
        return self._port_forward(namespace, name, port)

    def apply(self, source: ManifestSource) -> ApplyReport:
        """``kubectl apply -f``; returns when the gateways serve the new config.

        ``IstioOperator`` documents are not sent to the API server (``istioctl install`` does not
        install that CRD): as with ``istioctl install -f``, their mesh settings are installed, and the
        report says ``istiooperator.install.istio.io/<name> created|configured|unchanged`` like the
        embedded sandbox. The mesh follows the latest applied operator (docs/behaviour.md §11.2).
        """
        kube = self._check_open()
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
        kube = self._check_open()
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


def _group(api_version: str) -> str:
    return api_version.split("/", 1)[0] if "/" in api_version else ""
