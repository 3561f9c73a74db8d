"""The embedded local sandbox: Istio's data plane, played for real on 127.0.0.1.

``LocalSandbox`` ties the pure core to the I/O shell:

1. ``apply`` loads and validates the manifest into the config store (a rejection raises
   ``ValidationError`` and changes nothing);
2. the store is translated into per-proxy Envoy config (``gatewaykit._translate``);
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
import hashlib
import json
import os
import pathlib
import shutil
import socket
import ssl
import tempfile
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from gatewaykit._simulate import Request, Result, simulate
from gatewaykit._translate import MeshSettings, Pod, XdsState, translate
from gatewaykit._translate.mesh import outbound_traffic_policy_mode
from gatewaykit.backends.base import ApplyReport, CurlResult, ManifestSource
from gatewaykit.backends.curl import ConnectTo, run_curl, url_hosts
from gatewaykit.dataplane._tls import MeshCA
from gatewaykit.dataplane.plane import AddressBook, DataPlane
from gatewaykit.envoy import Cluster, ProxyConfig
from gatewaykit.errors import SandboxError
from gatewaykit.resources.codecs import load, manifest_path
from gatewaykit.store import ConfigStore
from gatewaykit.workloads import FakeInternet, RunningWorkload, WorkloadSpec, start_workload
from gatewaykit.workloads.internet import DEFAULT_HOSTS, ExternalHost

__all__ = ["INGRESS", "EGRESS", "LocalSandbox"]

INGRESS = "istio-system/istio-ingressgateway"
EGRESS = "istio-system/istio-egressgateway"
DEFAULT_MESH = pathlib.Path(__file__).resolve().parent.parent / "data" / "default-mesh.yaml"

# Port protocols whose clusters Istio builds with http2_protocol_options.
_HTTP2 = frozenset({"HTTP2", "GRPC", "GRPC-Web"})

# Service ports of istio-ingressgateway published to the host, and the env var naming each (§0).
_PUBLISHED = {80: "INGRESS_PORT", 443: "SECURE_INGRESS_PORT", 31400: "TCP_INGRESS_PORT"}


_TMP_PREFIX = "gatewaykit-sandbox-"


def _reap_stale_work_dirs() -> None:
    """Remove temporary work dirs of sandboxes whose process is gone.

    A kernel killed outright (nbval, a crash) cannot clean up after itself; its directory name
    carries its pid, so the next sandbox removes it.
    """
    root = pathlib.Path(tempfile.gettempdir())
    for d in root.glob(_TMP_PREFIX + "*-*"):
        pid = d.name[len(_TMP_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except PermissionError:
            continue  # another user's live process


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalSandbox:
    """The embedded sandbox backend (implements :class:`gatewaykit.backends.base.Backend`).

    Args:
        work_dir: state directory (applied manifests, generated keys mode 0600, curl's working
            directory). A sandbox started again on the same directory restores what was applied.
            None: a fresh private temporary directory, removed by ``close()``.
        restore: replay the manifests recorded in ``work_dir`` (default True).
        internet: start the fake internet (httpbin.org, edition.cnn.com, www.google.com).
        internet_hosts: more outside hosts, as :class:`~gatewaykit.workloads.ExternalHost` or
            its fields as a mapping (a lab's declarative spec), e.g.
            ``{"name": "api.example.org", "pages": {"/": b"hello"}}``.
    """

    def __init__(
        self,
        work_dir: pathlib.Path | None = None,
        *,
        restore: bool = True,
        internet: bool = True,
        internet_hosts: Iterable[ExternalHost | Mapping[str, Any]] = (),
    ) -> None:
        self._temporary = work_dir is None
        if work_dir is None:
            _reap_stale_work_dirs()
        self.work_dir = pathlib.Path(work_dir or tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{os.getpid()}-"))
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
                extra = [h if isinstance(h, ExternalHost) else _external_host(h) for h in internet_hosts]
                self._internet = FakeInternet(self.work_dir / "internet", (*DEFAULT_HOSTS, *extra)).start()
            self._mesh_ca = MeshCA.generate()
            self._dp = DataPlane(
                AddressBook(),
                mesh_ca=self._mesh_ca,
                trust_store=self._internet.ca_pem if self._internet else None,
                on_request=self._on_request,
                key_dir=self.work_dir / "keys",
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
            with self._lock:
                rules, unknown = self._mesh_routes(source, command)
            result = run_curl(
                command,
                env=self.env,
                cwd=cwd,
                connect_to=rules,
                isolate_dns=unknown,
                ca_bundle=self._pod_ca_bundle(),
                timeout=timeout,
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
                prefix = pod.key + "/"
                text = "".join(w.logs() for k, (_, w) in self._workloads.items() if k.startswith(prefix))
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

        Raises:
            ValidationError: not one of Istio's two modes (istioctl's words, see
                :func:`gatewaykit._translate.mesh.outbound_traffic_policy_mode`).
        """
        mode = outbound_traffic_policy_mode(outbound_traffic_policy.upper())
        with self._lock:
            self._check_open()
            self._mesh_override = MeshSettings(outbound_traffic_policy=mode)
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
        """Pods like ``kubectl get pods -A``: namespace, name, status, IP, and for a pod that is
        not Running the reason ``kubectl describe pod`` would give (``message``)."""
        self._check_open()
        out = []
        for pod in self.xds.pods:
            workloads = [w for k, (_, w) in self._workloads.items() if k.startswith(pod.key + "/")]
            failing = next((w for w in workloads if w.status != "Running"), None)
            row = {"namespace": pod.namespace, "name": pod.name, "ip": pod.ip,
                   "status": failing.status if failing else "Running"}
            if failing is not None:
                row["message"] = failing.message
            out.append(row)
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
        # The one manifest reader (resources.codecs); inline text is named as a file would be.
        if name is None and isinstance(source, str) and manifest_path(source) is None:
            name = "manifest.yaml"
        return load(source, name=name)

    def _apply_manifests(self, manifests: list[Any], *, record: bool) -> ApplyReport:
        with self._lock:
            self._check_open()
            result = self._store.apply(manifests)  # ValidationError: nothing changed
            if any(_is_operator(m.raw) for m in manifests):
                # The IstioOperator just applied is now the mesh config (§11.2): it replaces an
                # earlier set_mesh_config() shortcut, as a new `istioctl install` would.
                self._mesh_override = None
            self._reconcile()
            if record:
                self._record("apply", manifests)
        return ApplyReport(lines=tuple(result.lines), warnings=tuple(result.warnings))

    def _record(self, op: str, manifests: list[Any], **extra: Any) -> None:
        """Append one operation to the work dir, so a restarted sandbox can restore it."""
        # Applied Secrets carry private keys: the state is private (dir 0700, file 0600).
        self._state_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        entry = {"op": op, "docs": [m.raw for m in manifests], "files": [m.source.file for m in manifests]}
        entry.update(extra)
        fd = os.open(self._state_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(fd, 0o600)  # O_CREAT's mode does not apply to a file that already exists
        with os.fdopen(fd, "a", encoding="utf-8") as f:
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
                    for i, (doc, f) in enumerate(zip(entry["docs"], entry["files"], strict=False))
                ]
                if entry["op"] == "apply":
                    with contextlib.suppress(Exception):
                        self._store.apply(manifests)
                    if any(_is_operator(d) for d in entry["docs"]):
                        self._mesh_override = None
                elif entry["op"] == "delete":
                    with contextlib.suppress(Exception):
                        self._store.delete(manifests)
                elif entry["op"] == "mesh":
                    self._mesh_override = MeshSettings(outbound_traffic_policy=entry["mode"])
            self._reconcile()

    # -- reconcile: store -> translation -> workloads -> data plane

    def _reconcile(self) -> None:
        assert self._dp is not None
        snap = self._store.snapshot()
        xds = translate(snap, self._mesh_override)
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
                    # By name (DNS-resolved ServiceEntry clusters) and by its public IP
                    # (PassthroughCluster and resolution NONE forward to the original destination).
                    book.add(host, port, real)
                    book.add(public_ip(host), port, real)
        proxies = dict(xds.proxies)
        if down:
            proxies = {pid: self._mark_down(p, down) for pid, p in proxies.items()}
        if self._internet is not None:
            # STRICT_DNS/LOGICAL_DNS clusters hold the resolved addresses, not the name: Envoy's
            # access log shows the outside host's IP as upstream host ("151.101.65.67:80", §12).
            names = set(self._internet.ports)
            proxies = {pid: _resolve_dns_endpoints(p, names) for pid, p in proxies.items()}

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
        # Clusters of HTTP2/gRPC ports speak HTTP/2 upstream (Istio: http2_protocol_options).
        http2 = frozenset(
            (host, p.port) for host, info in xds.services.items() for p in info.ports if p.protocol in _HTTP2
        )
        bound = self._dp.update(
            proxies, book, fixed_ports=fixed, pod_ips={p.key: p.ip for p in xds.pods}, http2_services=http2
        )
        self._route_in_cluster(xds, book, bound, down)
        self._xds = xds

    def _route_in_cluster(
        self, xds: XdsState, book: AddressBook, bound: Mapping[tuple[str, int], int], down: set[str]
    ) -> None:
        """Address-book entries for what the cluster network does besides pod IPs."""
        assert self._dp is not None
        # ServiceEntry addresses of outside hosts (auto-allocated 240.240.x.y with DNS proxying)
        # reach the same outside host: a pod dials them when the host is registered.
        if self._internet is not None:
            for host, svc in xds.services.items():
                if svc.kind != "ServiceEntry":
                    continue
                for port, real in self._internet.ports.get(host, {}).items():
                    for address in svc.addresses:
                        book.add(address, port, real)
        # An injected pod's own ports are captured by its sidecar: another sidecar's connection
        # to pod IP:port enters virtualInbound (§1.1: the client sees the reply through both).
        for pod in xds.pods:
            if pod.kind == "sidecar" and pod.key in xds.proxies and pod.ip not in down:
                for cport in sorted(set(pod.ports)):
                    book.add_capture(pod.ip, cport, self._dp.inbound_port(pod.key, cport))
        # A gateway pod's listeners are its pod ports: a sidecar reaching the egress gateway's
        # endpoint (pod IP:8080, the Service's targetPort) lands on that listener (§12).
        gateway_ips = {p.key: p.ip for p in xds.pods if p.kind == "gateway"}
        for (pid, lport), real_port in bound.items():
            if pid in gateway_ips:
                book.add(gateway_ips[pid], lport, real_port)
        # kube-proxy: a Service's cluster IP:port reaches one ready endpoint (pod IP:targetPort),
        # which the pod's own sidecar captures if it has one. PassthroughCluster connections to
        # a cluster IP (no virtual host for the Host header, §11.2) depend on it.
        for svc in xds.services.values():
            if svc.kind != "Service" or not svc.addresses:
                continue
            for sp in svc.ports:
                ready = [e for e in svc.endpoints.get(sp.port, ()) if e.address not in down]
                where = book.resolve(ready[0].address, ready[0].port, captured=True) if ready else None
                if where is not None:
                    for vip in svc.addresses:
                        book.add(vip, sp.port, where)

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
            items: tuple[Any, ...] = ()
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

    def _pod_ca_bundle(self) -> pathlib.Path | None:
        """The CA bundle of a pod's image: the system's public CAs plus the fake internet's.

        A real pod trusts public CAs through the bundle in its image; the fake internet's root
        plays the public CA that signed httpbin.org, edition.cnn.com and www.google.com.
        """
        if self._internet is None:
            return None
        path = self.work_dir / "state" / "pod-ca-bundle.pem"
        if not path.exists():
            system = b""
            for candidate in (ssl.get_default_verify_paths().cafile, "/etc/ssl/certs/ca-certificates.crt"):
                if candidate and os.path.exists(candidate):
                    system = pathlib.Path(candidate).read_bytes()
                    break
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(self._internet.ca_pem + b"\n" + system)
            os.replace(tmp, path)
        return path

    def _pod_dns(self, name: str, namespace: str) -> str | None:
        """The IP a pod's resolver gives for ``name`` (None: NXDOMAIN, curl exit 6).

        Services resolve to their cluster IP; ServiceEntry hosts to their ``addresses`` or, like
        Istio's DNS proxy with auto-allocation, to ``240.240.x.y``; outside hosts of the fake
        internet to their (stable, made-up) public IP.
        """
        xds = self.xds
        if _is_ip(name):
            return name
        n = name.rstrip(".").lower()
        internet = self._internet.ports if self._internet is not None else {}
        found = xds.dns(n, namespace)
        if found is not None and _is_ip(found):
            return found
        if n in internet:
            return public_ip(n)
        if found is not None:
            return public_ip(found) if found in internet else _auto_allocated(found)
        return None

    def _mesh_routes(self, source: str, command: str) -> tuple[list[ConnectTo], bool]:
        """``--connect-to`` rules that send a pod's outbound connections into its sidecar.

        Every name the pod can resolve (and every IP it could dial) gets, per port of interest,
        a rule to a data-plane port that delivers the connection to the sidecar with its
        original destination, as iptables ``REDIRECT`` keeps it in ``SO_ORIGINAL_DST``:
        listener choice, ``prefix_ranges`` chains and ``PassthroughCluster`` depend on it.

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
        internet: Mapping[str, Mapping[int, int]] = self._internet.ports if self._internet else {}
        # name -> the ports a connection to it may use (-L may hop from 80 to 443).
        names: dict[str, set[int]] = {}
        for host, info in xds.services.items():
            ports = {p.port for p in info.ports} | {80, 443}
            aliases = {host}
            if info.kind == "Service":
                aliases |= {info.name + "." + info.namespace, info.name + "." + info.namespace + ".svc"}
                if info.namespace == pod.namespace:
                    aliases.add(info.name)
            aliases |= set(info.addresses)
            for a in aliases:
                names.setdefault(a, set()).update(ports)
        for host, served in internet.items():
            names.setdefault(host, set()).update(set(served) | {80, 443})
        urls = url_hosts(command, self.env)
        for h, port, _ in urls:
            if h in names or _is_ip(h) or self._pod_dns(h, pod.namespace) is not None:
                names.setdefault(h, set()).add(port)
        unknown = any(h not in names for h, _, _ in urls)
        # Rules (and data-plane ports) only for the names this command can reach: its URLs and
        # the outside hosts a redirect (-L) may lead to -- not for every Service in the mesh.
        wanted = {h for h, _, _ in urls if h in names} | set(internet)

        rules: list[ConnectTo] = []
        sidecar = pod.key in xds.proxies
        for name in sorted(wanted):
            ip = self._pod_dns(name, pod.namespace)
            if ip is None:
                continue
            for port in sorted(names[name]):
                if sidecar:
                    real = self._dp.destination_port(pod.key, ip, port)
                    rules.append(ConnectTo(name, port, real))
                else:
                    # No sidecar: the pod talks to the destination directly.
                    target = self._dp.address_book.resolve(ip, port)
                    if target is not None:
                        rules.append(ConnectTo(name, port, target[1], target[0]))
        return rules, unknown


def _is_operator(doc: Any) -> bool:
    return isinstance(doc, Mapping) and doc.get("kind") == "IstioOperator"


def _external_host(spec: Mapping[str, Any]) -> ExternalHost:
    """An :class:`ExternalHost` from a declarative mapping (page bodies may be str)."""
    fields = dict(spec)
    if "pages" in fields:
        fields["pages"] = {
            k: v.encode() if isinstance(v, str) else v for k, v in dict(fields["pages"]).items()
        }
    if isinstance(fields.get("default_page"), str):
        fields["default_page"] = fields["default_page"].encode()
    if "extra_headers" in fields:
        fields["extra_headers"] = tuple(tuple(h) for h in fields["extra_headers"])
    try:
        return ExternalHost(**fields)
    except TypeError as exc:
        raise SandboxError(f"invalid outside host {spec!r}: {exc}") from exc


def _resolve_dns_endpoints(proxy: ProxyConfig, names: set[str]) -> ProxyConfig:
    """Replace outside host names in DNS-resolved clusters' endpoints with their public IPs."""
    changed: dict[str, Cluster] = {}
    for name, c in proxy.clusters.items():
        if c.type in ("STRICT_DNS", "LOGICAL_DNS") and any(e.address in names for e in c.endpoints):
            changed[name] = dataclasses.replace(
                c,
                endpoints=tuple(
                    dataclasses.replace(e, address=public_ip(e.address)) if e.address in names else e
                    for e in c.endpoints
                ),
            )
    if not changed:
        return proxy
    return dataclasses.replace(proxy, clusters={**proxy.clusters, **changed})


def public_ip(host: str) -> str:
    """The made-up public IPv4 address of a fake-internet host (stable, in 198.18.0.0/15).

    198.18.0.0/15 is reserved for benchmarking (RFC 2544): never routed on the real internet.
    """
    digest = hashlib.sha256(host.lower().encode()).digest()
    return f"198.{18 + (digest[0] & 1)}.{digest[1]}.{max(1, digest[2] % 255)}"


def _auto_allocated(host: str) -> str:
    """Istio's DNS auto-allocation range for ServiceEntry hosts without addresses (240.240/16)."""
    digest = hashlib.sha256(host.lower().encode()).digest()
    return f"240.240.{digest[0]}.{max(1, digest[1] % 255)}"


def _is_ip(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
        return True
    except OSError:
        return False
