"""The embedded local sandbox: Istio's data plane, played for real on 127.0.0.1.

``LocalSandbox`` ties the pure core to the I/O shell:

1. ``apply`` loads and validates the manifest into the config store (a rejection raises
   ``ValidationError`` and changes nothing);
2. the store is translated into per-proxy Envoy config (``gatewaykit.translate``);
3. workloads are reconciled: each pod container whose image has a stand-in runs on a free
   127.0.0.1 port (``gatewaykit.workloads``); the address book maps pod IP:containerPort to it;
4. the data plane swaps in the new config and returns once every listener is bound, so when
   ``apply`` returns, the configuration serves traffic -- no sleeps, no retries.

The ingress gateway Service's ports (80, 443, 31400) are published on free 127.0.0.1 ports, as a
NodePort would publish them (``sb.env``). A Gateway server for a port that the Service does not
expose listens inside the "pod" but is unreachable from outside, as in Kubernetes (§2).

Everything runs on one event-loop thread (the data plane) plus the workloads' server threads, all
inside the calling process: a notebook kernel restart or crash takes every listener with it.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
import os
import pathlib
import shutil
import socket
import tempfile
import threading
from collections.abc import Mapping
from typing import Any

from gatewaykit.backends.base import ApplyReport, CurlResult, ManifestSource
from gatewaykit.backends.curl import ConnectTo, run_curl, url_hosts
from gatewaykit.dataplane.plane import AddressBook, DataPlane
from gatewaykit.dataplane._tls import MeshCA
from gatewaykit.envoy import Cluster, ProxyConfig
from gatewaykit.errors import SandboxError
from gatewaykit.resources.codecs import load
from gatewaykit.simulate import Request, Result, simulate
from gatewaykit.store import ConfigStore
from gatewaykit.translate import MeshSettings, Pod, XdsState, translate
from gatewaykit.workloads import FakeInternet, RunningWorkload, WorkloadSpec, start_workload

__all__ = ["INGRESS", "EGRESS", "LocalSandbox"]

INGRESS = "istio-system/istio-ingressgateway"
EGRESS = "istio-system/istio-egressgateway"
DEFAULT_MESH = pathlib.Path(__file__).resolve().parent.parent / "data" / "default-mesh.yaml"

# Service ports of istio-ingressgateway published to the host, and the env var naming each (§0).
_PUBLISHED = {80: "INGRESS_PORT", 443: "SECURE_INGRESS_PORT", 31400: "TCP_INGRESS_PORT"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_manifest_input(source: ManifestSource, name: str | None) -> tuple[Any, str | None]:
    """Accept YAML text, a path (str or Path) or dicts, as ``kubectl apply -f`` would."""
    if isinstance(source, str) and "\n" not in source and source.strip().endswith((".yaml", ".yml")):
        path = pathlib.Path(source)
        if path.exists():
            return path, name
    return source, name


class LocalSandbox:
    """The embedded sandbox backend (implements :class:`gatewaykit.backends.base.Backend`).

    Args:
        work_dir: state directory (applied manifests, generated keys mode 0600, curl's working
            directory). A sandbox started again on the same directory restores what was applied.
            None: a fresh private temporary directory, removed by ``close()``.
        restore: replay the manifests recorded in ``work_dir`` (default True).
        internet: start the fake internet (httpbin.org, edition.cnn.com, www.google.com).
    """

    def __init__(
        self,
        work_dir: pathlib.Path | None = None,
        *,
        restore: bool = True,
        internet: bool = True,
    ) -> None:
        self._temporary = work_dir is None
        self.work_dir = pathlib.Path(work_dir or tempfile.mkdtemp(prefix="gatewaykit-sandbox-"))
        self.work_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.work_dir, 0o700)
        self._state_file = self.work_dir / "state" / "applied.jsonl"
        self._lock = threading.RLock()
        self._closed = False
        self._store = ConfigStore()
        self._mesh_override: MeshSettings | None = None
        self._workloads: dict[str, tuple[WorkloadSpec, RunningWorkload]] = {}
        self._xds: XdsState | None = None
        self._results: collections.deque[tuple[str, Result]] = collections.deque(maxlen=256)
        # (namespace, service, service port) -> published 127.0.0.1 port, like a NodePort.
        self._published: dict[tuple[str, str, int], int] = {
            ("istio-system", "istio-ingressgateway", port): _free_port() for port in _PUBLISHED
        }
        self._internet: FakeInternet | None = None
        self._dp: DataPlane | None = None
        try:
            if internet:
                self._internet = FakeInternet(self.work_dir / "internet").start()
            self._mesh_ca = MeshCA.generate()
            self._dp = DataPlane(
                AddressBook(),
                mesh_ca=self._mesh_ca,
                trust_store=self._internet.ca_pem if self._internet else None,
                on_request=self._on_request,
            ).start()
            self._apply_manifests(load(DEFAULT_MESH), record=False)
            if restore:
                self._restore()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ context manager

    def __enter__(self) -> LocalSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"ingress 127.0.0.1:{self.published_port(80)}"
        return f"<LocalSandbox {state} work_dir={str(self.work_dir)!r}>"

    # ------------------------------------------------------------------------ Backend API

    @property
    def env(self) -> dict[str, str]:
        """The learner's variables: ``INGRESS_HOST``, ``INGRESS_PORT``, ``SECURE_INGRESS_PORT``,
        ``TCP_INGRESS_PORT`` (the ingress gateway Service ports, published on 127.0.0.1)."""
        env = {"INGRESS_HOST": "127.0.0.1"}
        for port, var in _PUBLISHED.items():
            env[var] = str(self.published_port(port))
        return env

    def apply(self, source: ManifestSource, *, name: str | None = None) -> ApplyReport:
        """Apply a manifest (``kubectl apply -f``); return once it serves traffic.

        Args:
            source: YAML text (one or more documents), a path to a YAML file, or dicts.
            name: the file name kubectl would print in errors (default: the path, or
                ``manifest.yaml`` for inline text).

        Returns:
            The kubectl-like report (``gateway.networking.istio.io/x created``, warnings).

        Raises:
            ValidationError: Istio or Kubernetes would reject the manifest; nothing changed.
        """
        manifests = self._load(source, name)
        return self._apply_manifests(manifests, record=True)

    def delete(self, source: ManifestSource, *, name: str | None = None) -> ApplyReport:
        """Delete every object the manifest names (``kubectl delete -f``)."""
        manifests = self._load(source, name)
        with self._lock:
            self._check_open()
            result = self._store.delete(manifests)
            self._reconcile()
            self._record("delete", manifests)
        return ApplyReport(lines=tuple(result.lines) + tuple(result.errors), warnings=tuple(result.warnings))

    def curl(self, command: str, source: str | None = None, timeout: float = 30.0) -> CurlResult:
        """Run the real curl with a command written as in Istio's docs.

        Args:
            command: e.g. ``curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/status/200"``.
            source: run it inside this workload (``"default/curl"``), through its sidecar.
            timeout: seconds before curl is stopped.
        """
        self._check_open()
        before = len(self._results)
        cwd = self.work_dir
        if source is None:
            result = run_curl(command, env=self.env, cwd=cwd, timeout=timeout)
        else:
            rules, unknown = self._mesh_routes(source, command)
            result = run_curl(
                command, env=self.env, cwd=cwd, connect_to=rules, isolate_dns=unknown, timeout=timeout
            )
        results = list(self._results)[before:] if len(self._results) >= before else []
        if results:
            result = dataclasses.replace(result, explanation=tuple(results))
        return result

    def logs(self, workload: str) -> str:
        """The access log of a proxy (``istio-system/istio-ingressgateway``, ``default/curl``),
        or, for a workload without a proxy, its container log (``kubectl logs``)."""
        self._check_open()
        xds = self._xds
        assert xds is not None and self._dp is not None
        pods = xds.pods_of(workload) or tuple(p for p in xds.pods if p.key == workload)
        if not pods:
            raise SandboxError(f'no workload "{workload}": expected "<namespace>/<deployment>"')
        out: list[str] = []
        for pod in pods:
            if pod.key in xds.proxies:
                text = self._dp.logs(pod.key)
            else:
                text = "".join(w.logs() for k, (_, w) in self._workloads.items() if k.startswith(pod.key + "/"))
            if text:
                out.append(text if text.endswith("\n") else text + "\n")
        return "".join(out)

    def close(self) -> None:
        """Stop the data plane, every workload and the fake internet; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._dp is not None:
                self._dp.close()
            for _, w in self._workloads.values():
                with contextlib.suppress(Exception):
                    w.close()
            self._workloads.clear()
            if self._internet is not None:
                with contextlib.suppress(Exception):
                    self._internet.close()
            if self._temporary:
                shutil.rmtree(self.work_dir, ignore_errors=True)

    # -------------------------------------------------------------------------- extras

    def set_mesh_config(self, *, outbound_traffic_policy: str = "ALLOW_ANY") -> None:
        """Switch ``meshConfig.outboundTrafficPolicy.mode`` live (``ALLOW_ANY``/``REGISTRY_ONLY``).

        The same as applying an ``IstioOperator`` with that mode (§11.2).
        """
        mode = outbound_traffic_policy.upper()
        if mode not in ("ALLOW_ANY", "REGISTRY_ONLY"):
            raise ValueError('outbound_traffic_policy must be "ALLOW_ANY" or "REGISTRY_ONLY"')
        with self._lock:
            self._check_open()
            self._mesh_override = MeshSettings(outbound_traffic_policy=mode)  # type: ignore[arg-type]
            self._reconcile()
            self._record("mesh", [], mode=mode)

    @property
    def xds(self) -> XdsState:
        """The current translation (pods, services, every proxy's Envoy config, istiod log)."""
        self._check_open()
        assert self._xds is not None
        return self._xds

    def proxy_config(self, workload: str = INGRESS) -> ProxyConfig:
        """The Envoy config of a workload's proxy (``istioctl proxy-config all``)."""
        proxy = self.xds.proxy_for(workload)
        if proxy is None:
            raise SandboxError(f'"{workload}" has no proxy (not a gateway and not injected)')
        return proxy

    def simulate(self, request: Request, workload: str = INGRESS) -> Result:
        """What ``simulate()`` says for a request at a workload's proxy (no traffic sent)."""
        return simulate(self.proxy_config(workload), request)

    def pods(self) -> list[dict[str, str]]:
        """Pods like ``kubectl get pods -A``: namespace, name, status, IP."""
        self._check_open()
        out = []
        for pod in self.xds.pods:
            statuses = [w.status for k, (_, w) in self._workloads.items() if k.startswith(pod.key + "/")]
            status = next((s for s in statuses if s != "Running"), "Running")
            out.append({"namespace": pod.namespace, "name": pod.name, "status": status, "ip": pod.ip})
        return out

    @property
    def store(self) -> ConfigStore:
        """The config store (what the API server holds)."""
        return self._store

    def published_port(self, service_port: int) -> int:
        """The 127.0.0.1 port publishing an ingress gateway Service port (80, 443, 31400)."""
        return self._published[("istio-system", "istio-ingressgateway", service_port)]

    def service_address(self, namespace: str, name: str, port: int) -> tuple[str, int]:
        """Publish a gateway Service port on 127.0.0.1 (like a NodePort) and return the address.

        The port is fixed from the first call on, whether or not anything listens yet: with no
        Gateway server behind it, connections are refused (curl exit 7), as in a cluster (§1.6).
        Used for gateways a learner deploys (``my-user-gateway``) and their Services.
        """
        key = (namespace, name, int(port))
        with self._lock:
            self._check_open()
            if key not in self._published:
                self._published[key] = _free_port()
                self._reconcile()
            return "127.0.0.1", self._published[key]

    # ------------------------------------------------------------------------ internals

    def _check_open(self) -> None:
        if self._closed:
            raise SandboxError("this sandbox is closed: start a new one with Sandbox.local()")

    def _on_request(self, proxy_id: str, result: Result) -> None:
        self._results.append((proxy_id, result))

    def _load(self, source: ManifestSource, name: str | None) -> list[Any]:
        src, nm = _as_manifest_input(source, name)
        if isinstance(src, str) and nm is None and not isinstance(source, pathlib.Path):
            nm = "manifest.yaml"
        return load(src, name=nm) if nm else load(src)

    def _apply_manifests(self, manifests: list[Any], *, record: bool) -> ApplyReport:
        with self._lock:
            self._check_open()
            result = self._store.apply(manifests)  # ValidationError: nothing changed
            self._reconcile()
            if record:
                self._record("apply", manifests)
        return ApplyReport(lines=tuple(result.lines), warnings=tuple(result.warnings))

    def _record(self, op: str, manifests: list[Any], **extra: Any) -> None:
        """Append one operation to the work dir, so a restarted sandbox can restore it."""
        self._state_file.parent.mkdir(parents=True, exist_ok=True)
        entry = {"op": op, "docs": [m.raw for m in manifests], "files": [m.source.file for m in manifests]}
        entry.update(extra)
        with open(self._state_file, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry, default=str) + "\n")

    def _restore(self) -> None:
        if not self._state_file.exists():
            return
        from gatewaykit.resources.meta import Manifest, Source

        with self._lock:
            for line in self._state_file.read_text(encoding="utf-8").splitlines():
                if not line.strip():
                    continue
                entry = json.loads(line)
                manifests = [
                    Manifest(raw=doc, source=Source(file=f, index=i))
                    for i, (doc, f) in enumerate(zip(entry["docs"], entry["files"]))
                ]
                if entry["op"] == "apply":
                    with contextlib.suppress(Exception):
                        self._store.apply(manifests)
                elif entry["op"] == "delete":
                    with contextlib.suppress(Exception):
                        self._store.delete(manifests)
                elif entry["op"] == "mesh":
                    self._mesh_override = MeshSettings(outbound_traffic_policy=entry["mode"])
            self._reconcile()

    # -- reconcile: store -> translation -> workloads -> data plane

    def _reconcile(self) -> None:
        assert self._dp is not None
        xds = translate(self._store.snapshot(), self._mesh_override)
        snap = self._store.snapshot()
        wanted: dict[str, WorkloadSpec] = {}
        for pod in xds.pods:
            if pod.kind == "gateway":
                continue  # a gateway pod is only its proxy; the data plane plays it
            for c in pod.containers:
                if c.name == "istio-proxy":
                    continue
                wanted[f"{pod.key}/{c.name}"] = WorkloadSpec(
                    pod_name=pod.name,
                    namespace=pod.namespace,
                    image=c.image,
                    command=tuple(c.command),
                    args=tuple(c.args),
                    ports=tuple(p.containerPort for p in c.ports if p.containerPort is not None),
                    env={e.name: e.value for e in c.env if getattr(e, "value", None) is not None},
                    files=self._volume_files(snap, pod, c),
                    work_dir=self.work_dir / "pods" / pod.name,
                )
        for key in list(self._workloads):
            spec, running = self._workloads[key]
            if wanted.get(key) != spec:
                running.close()
                del self._workloads[key]
        for key, spec in wanted.items():
            if key not in self._workloads:
                if spec.work_dir is not None:
                    spec.work_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
                self._workloads[key] = (spec, start_workload(spec))

        book = AddressBook()
        down: set[str] = set()
        for pod in xds.pods:
            for key, (_, w) in self._workloads.items():
                if not key.startswith(pod.key + "/"):
                    continue
                if w.status != "Running":
                    down.add(pod.ip)
                for cport, real in w.ports.items():
                    book.add(pod.ip, cport, real)
        if self._internet is not None:
            for host, ports in self._internet.ports.items():
                for port, real in ports.items():
                    book.add(host, port, real)
        proxies = {pid: self._mark_down(p, down) for pid, p in xds.proxies.items()} if down else dict(xds.proxies)

        # Published Service ports: Service port -> targetPort -> the gateway pod's listener (§2).
        fixed: dict[tuple[str, int], int] = {}
        for (ns, name, port), real in self._published.items():
            svc = xds.services.get(f"{name}.{ns}.svc.cluster.local")
            if svc is None:
                continue
            info = svc.port(port)
            for pod in xds.pods:
                if pod.namespace != ns or pod.key not in xds.proxies or not svc.selector:
                    continue
                if any(pod.labels.get(k) != v for k, v in svc.selector.items()):
                    continue
                target = info.target_port if info is not None else port
                if isinstance(target, str):
                    target = pod.named_port(target)
                fixed[(pod.key, int(target or port))] = real
                break  # one real port can front one replica only (a NodePort picks one anyway)
        self._dp.update(proxies, book, fixed_ports=fixed, pod_ips={p.key: p.ip for p in xds.pods})
        self._xds = xds

    @staticmethod
    def _mark_down(proxy: ProxyConfig, down_ips: set[str]) -> ProxyConfig:
        """Endpoints of pods that are not Running are not healthy (ErrImagePull → 503 UH)."""
        clusters: dict[str, Cluster] = {}
        for name, c in proxy.clusters.items():
            if any(e.address in down_ips for e in c.endpoints):
                c = dataclasses.replace(
                    c, endpoints=tuple(e for e in c.endpoints if e.address not in down_ips)
                )
            clusters[name] = c
        return dataclasses.replace(proxy, clusters=clusters)

    @staticmethod
    def _volume_files(snap: Any, pod: Pod, container: Any) -> Mapping[str, bytes]:
        """Materialise the Secret/ConfigMap volumes a container mounts: ``mountPath/key`` → bytes."""
        files: dict[str, bytes] = {}
        volumes = {v.name: v for v in pod.volumes}
        for mount in container.volumeMounts:
            vol = volumes.get(mount.name)
            if vol is None:
                continue
            data: Mapping[str, bytes] = {}
            items = ()
            if vol.secret is not None:
                sec = snap.get("Secret", pod.namespace, vol.secret.secretName)
                data = dict(sec.data) if sec is not None else {}
                items = vol.secret.items
            elif vol.configMap is not None:
                cm = snap.get("ConfigMap", pod.namespace, vol.configMap.name)
                if cm is not None:
                    data = {k: v.encode() for k, v in cm.data.items()}
                    data.update(cm.binaryData)
                items = vol.configMap.items
            names = {i.key: i.path for i in items} if items else {k: k for k in data}
            for key, rel in names.items():
                if key in data:
                    path = mount.mountPath.rstrip("/") + "/" + rel
                    if mount.subPath:
                        if mount.subPath != key:
                            continue
                        path = mount.mountPath
                    files[path] = data[key]
        return files

    # -- in-mesh curl: which host:port goes to which sidecar listener

    def _mesh_routes(self, source: str, command: str) -> tuple[list[ConnectTo], bool]:
        """``--connect-to`` rules that send a pod's outbound connections into its sidecar.

        Returns the rules and whether the command names a host the cluster DNS cannot resolve.
        """
        xds = self.xds
        assert self._dp is not None
        pods = xds.pods_of(source) or tuple(p for p in xds.pods if p.key == source)
        if not pods:
            raise SandboxError(
                f'no workload "{source}" to run curl in: deploy it first (e.g. the curl sample, '
                "cluster/samples/curl.yaml)"
            )
        pod = pods[0]
        ports = {k[1]: v for k, v in self._dp.ports.items() if k[0] == pod.key}
        names: set[str] = set()
        for host, info in xds.services.items():
            names.add(host)
            if info.kind == "Service":
                names.update({info.name + "." + info.namespace, info.name + "." + info.namespace + ".svc"})
                if info.namespace == pod.namespace:
                    names.add(info.name)
        internet_ports: dict[str, Mapping[int, int]] = dict(self._internet.ports) if self._internet else {}
        names.update(internet_ports)
        rules: list[ConnectTo] = []
        catch_all = ports.get(15001)
        for name in sorted(names):
            for port in sorted(set(ports) | {80, 443} | set(internet_ports.get(name, {}))):
                if port in ports and port != 15001:
                    rules.append(ConnectTo(name, port, ports[port]))
                elif pod.key not in xds.proxies and name in internet_ports and port in internet_ports[name]:
                    # No sidecar: the pod talks to the outside host directly.
                    rules.append(ConnectTo(name, port, internet_ports[name][port]))
                elif catch_all is not None:
                    rules.append(ConnectTo(name, port, catch_all))
        unknown = any(
            h not in names and xds.dns(h, pod.namespace) is None and not _is_ip(h)
            for h, _, _ in url_hosts(command, self.env)
        )
        return rules, unknown


def _is_ip(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
        return True
    except OSError:
        return False
