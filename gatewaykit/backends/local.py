# One module: LocalSandbox is one object; its change path, pods and network share a lock and a translation.
"""The embedded local sandbox: Istio's data plane, played for real on 127.0.0.1.

``LocalSandbox`` ties the pure core to the I/O shell. Every change -- ``sb.apply``, ``kubectl``
through the sandbox's API server, ``istioctl``, a widget -- takes one path:

1. it is made in a store transaction (admission rejects bad input: nothing changed);
2. the transaction's snapshot is translated into per-proxy Envoy config (``gatewaykit._translate``);
3. workloads and the data plane are reconciled to it (``_reconcile``); if that fails, the previous
   configuration is restored and the change is refused;
4. the controllers' objects (pods, endpoints, statuses) are written into the transaction;
5. the change is appended to the journal (fsync), then committed to the store, at once.

So when ``apply`` returns, the configuration serves traffic -- no sleeps, no retries -- and a
change is either in the store, the data plane and the journal, or in none of them.

NodePort and LoadBalancer Services publish their ``nodePort`` on 127.0.0.1 (held from allocation to
close); ``INGRESS_PORT`` is the ingress gateway's ``http2`` node port, as in Istio's docs.

Everything runs inside the calling process: a notebook kernel restart or crash takes every
listener with it.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import dataclasses
import datetime
import json
import os
import pathlib
import shlex
import shutil
import socket
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import yaml

from gatewaykit import controllers
from gatewaykit._analyze import analyze
from gatewaykit._simulate import Request, Result, simulate
from gatewaykit._translate import MESH_CONFIGMAP, XdsState, translate
from gatewaykit._translate.mesh import outbound_traffic_policy_mode
from gatewaykit.apiserver import ApiServer, ExecPlan, PortTarget, ProxyAnswer
from gatewaykit.backends import _registry
from gatewaykit.backends._envoyadmin import AdminContext
from gatewaykit.backends._envoyadmin import answer as envoy_admin
from gatewaykit.backends._istiod import (
    CONFIGZ_KINDS,
    DEBUG_PORT,
    IstiodView,
    monitoring_answer,
    pilot_discovery,
)
from gatewaykit.backends._journal import Journal
from gatewaykit.backends._meshnet import MeshNet, pod_ca_bundle, public_ip
from gatewaykit.backends._podshell import BUSYBOX_TIME, pod_argv
from gatewaykit.backends._ports import NodePorts, hold_port
from gatewaykit.backends._reconcile import Reconciler, published_listeners
from gatewaykit.backends.base import ApplyReport, CurlResult, ManifestSource, PodInfo, ShellResult
from gatewaykit.backends.curl import curl_env, curl_function, nc_function, run_curl
from gatewaykit.backends.shell import ShellSession
from gatewaykit.dataplane._tls import MeshCA
from gatewaykit.dataplane.plane import AddressBook, DataPlane
from gatewaykit.envoy import ProxyConfig
from gatewaykit.errors import SandboxError, ValidationError
from gatewaykit.kube import status as st
from gatewaykit.resources.codecs import load, manifest_path
from gatewaykit.resources.meta import ResourceKey, kind_info
from gatewaykit.store import (
    ConfigStore,
    Snapshot,
    Transaction,
    kubectl_apply,
    kubectl_delete,
    pod_limit_message,
)
from gatewaykit.workloads import FakeInternet
from gatewaykit.workloads.internet import DEFAULT_HOSTS, ExternalHost

__all__ = ["EGRESS", "INGRESS", "LocalSandbox", "public_ip"]

INGRESS = "istio-system/istio-ingressgateway"
EGRESS = "istio-system/istio-egressgateway"
_DATA = pathlib.Path(__file__).resolve().parent.parent / "data"
#: What a new cluster has (system namespaces, the `kubernetes` Service), then Istio's install.
CLUSTER = _DATA / "cluster.yaml"
DEFAULT_MESH = _DATA / "default-mesh.yaml"

# The ingress gateway Service's ports as Istio's docs name them, and the variable each sets.
_PUBLISHED = {"http2": "INGRESS_PORT", "https": "SECURE_INGRESS_PORT", "tcp": "TCP_INGRESS_PORT"}

#: The most pods a sandbox runs: its one node's pod capacity (kubelet's default ``--max-pods``).
#: Each pod is a stand-in with its listening sockets (and, injected, its sidecar's listeners):
#: the limit keeps a manifest from making the sandbox consume without bound.
MAX_PODS = 110
#: Open files the sandbox asks for: about 8 sockets per pod, the API server's and curl's.
_OPEN_FILES = 8192

_TMP_PREFIX = "gatewaykit-sandbox-"
#: The sandbox's private folder inside its work dir (mode 0700): journal, keys, kubeconfig, token.
PRIVATE_DIR = ".sandbox"

T = TypeVar("T")

#: Pod ports the sandbox answers in-process for port-forwards, by (pod has a proxy, pod is istiod,
#: port): the response headers' program (``PortTarget.server``). A proxy's Envoy admin API and
#: the listeners in Istio's bootstrap (health, Prometheus); istiod's monitoring port.
_IN_PROCESS_PORTS: dict[tuple[bool, bool, int], str] = {
    (True, False, 15000): "envoy-admin",
    (True, False, 15021): "envoy",
    (True, False, 15090): "envoy",
    (False, True, DEBUG_PORT): "go",
}


def _reap_stale_work_dirs() -> None:
    """Remove temporary work dirs of sandboxes whose process is gone.

    A kernel killed outright (nbval, a crash) cannot clean up after itself; its directory name
    carries its pid, so the next sandbox removes it.
    """
    root = pathlib.Path(tempfile.gettempdir())
    for d in root.glob(_TMP_PREFIX + "*-*"):
        pid = d.name[len(_TMP_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except PermissionError:
            continue  # another user's live process


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


def _raise_open_file_limit() -> None:
    """Raise the soft limit on open files towards the hard one, as Go programs do when they start.

    Many desktops start a notebook kernel with 1024; MAX_PODS pods need several thousand sockets.
    """
    try:
        import resource  # noqa: PLC0415 - POSIX only
    except ImportError:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = _OPEN_FILES if hard == resource.RLIM_INFINITY else min(_OPEN_FILES, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def _node_info() -> controllers.NodeInfo:
    u = os.uname()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(u.machine, u.machine)
    return controllers.NodeInfo(kernel_version=u.release, architecture=arch)


def write_istioctl(bin_dir: pathlib.Path) -> pathlib.Path:
    """``bin/istioctl`` (0755): the sandbox's istioctl (``python -m gatewaykit.istioctl``), first on
    :attr:`LocalSandbox.shell_env`'s ``PATH``. It runs with this interpreter and this gatewaykit, and
    talks to the sandbox only through the API server its ``KUBECONFIG`` names."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    package_root = pathlib.Path(__file__).resolve().parents[2]
    script = (
        "#!/bin/sh\n"
        "# The gatewaykit sandbox's istioctl: a stand-in for Istio 1.27.1's (written by gatewaykit).\n"
        f"PYTHONPATH={shlex.quote(str(package_root))}${{PYTHONPATH:+:$PYTHONPATH}} "
        f"exec {shlex.quote(sys.executable)} -m gatewaykit.istioctl \"$@\"\n"
    )
    path = bin_dir / "istioctl"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(script)
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)
    return path


def _status_answer(status: st.Status) -> ProxyAnswer:
    """A pod-proxy failure as the API server sends it: the Status object."""
    return ProxyAnswer(status.code, "application/json", json.dumps(status.to_dict()).encode())


def set_outbound_traffic_policy(txn: Transaction, mode: str) -> None:
    """Write ``outboundTrafficPolicy.mode`` into the ``istio`` ConfigMap's ``data.mesh`` (a client update).

    Raises:
        SandboxError: there is no ``istio`` ConfigMap in ``istio-system`` (Istio uninstalled).
    """
    ns, name = MESH_CONFIGMAP
    entry = txn.get(ResourceKey("ConfigMap", ns, name))
    if entry is None:
        raise SandboxError(
            f'Istio is not installed: no ConfigMap "{name}" in namespace "{ns}" holds the mesh config '
            "(install it again with `istioctl install -y`)"
        )
    obj = copy.deepcopy(entry.raw)
    data = obj.setdefault("data", {})
    try:
        mesh = yaml.safe_load(data.get("mesh") or "") or {}
    except yaml.YAMLError as exc:
        raise SandboxError(f"the mesh config in ConfigMap {ns}/{name} is not valid YAML: {exc}") from exc
    if not isinstance(mesh, dict):
        raise SandboxError(f"the mesh config in ConfigMap {ns}/{name} is not a mapping")
    policy = mesh.get("outboundTrafficPolicy")
    mesh["outboundTrafficPolicy"] = {**(policy if isinstance(policy, dict) else {}), "mode": mode}
    # helm's toYaml: keys sorted, block style, no line folding.
    data["mesh"] = yaml.safe_dump(mesh, sort_keys=True, default_flow_style=False, width=1 << 30).rstrip("\n")
    info = kind_info("v1", "ConfigMap")
    assert info is not None
    txn.update(info, obj, namespace=ns)


#: What a sandbox pod can run with ``kubectl exec`` (besides ``sh -c`` scripts).
EXEC_COMMANDS = (
    "curl",
    "sh",
    "bash",
    "env",
    "printenv",
    "echo",
    "hostname",
    "sleep",
    "true",
    "false",
    "date",
    "time",
    "nc",
)


def _exec_refusal(argv: list[str], container: str, pod: str) -> str:
    """One clear line when ``argv`` is not something a sandbox pod can run, else ""."""
    program = argv[0].rsplit("/", 1)[-1] if argv else ""
    if program in ("sh", "bash") and (len(argv) < 3 or argv[1] != "-c"):
        return (
            f'gatewaykit: pods in the sandbox run scripts as `sh -c "..."`, not interactive shells '
            f"(pod {pod}, container {container})\n"
        )
    if program not in EXEC_COMMANDS:
        return (
            f'gatewaykit: "{argv[0]}" cannot run in the sandbox\'s pod {pod} (container {container}): '
            f"pods here run curl, `sh -c` scripts that use it, and {', '.join(EXEC_COMMANDS[3:])}\n"
        )
    return ""


def _env_prefix(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    """``env K=V ... cmd args``: the assignments and the command, so that ``cmd`` still runs
    through the pod's sidecar (``kubectl exec deploy/curl -- env X=1 sh -c 'curl ...'``)."""
    if not argv or argv[0].rsplit("/", 1)[-1] != "env":
        return {}, argv
    assigned: dict[str, str] = {}
    rest = argv[1:]
    while rest and "=" in rest[0] and not rest[0].startswith("-"):
        name, _, value = rest.pop(0).partition("=")
        assigned[name] = value
    return (assigned, rest) if rest else ({}, argv)  # bare `env` prints the environment


def _is_istiod(labels: Mapping[str, str], container: str, argv: list[str]) -> bool:
    """An exec of ``pilot-discovery`` in istiod's ``discovery`` container (answered by the sandbox)."""
    program = argv[0].rsplit("/", 1)[-1] if argv else ""
    return labels.get("app") == "istiod" and container == "discovery" and program == "pilot-discovery"


class LocalSandbox:
    """The embedded sandbox backend (implements :class:`gatewaykit.backends.base.Backend`).

    Args:
        work_dir: where the sandbox keeps its state: a private ``.sandbox`` folder (mode 0700:
            the journal of applied objects, generated keys, the kubeconfig and its token). A
            sandbox started again on the same directory restores what was applied. The directory
            itself is not changed otherwise. None: a fresh private temporary directory, removed by
            ``close()``.
        restore: replay the journal found in ``work_dir`` (default True).
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
        self.private_dir = self.work_dir / PRIVATE_DIR
        self.private_dir.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self.private_dir, 0o700)
        self._lock = threading.RLock()
        self._closed = False
        self._node_ports = NodePorts()
        self._store = ConfigStore(
            clock=time.time,
            uid=lambda: str(uuid.uuid4()),
            node_ports=self._node_ports.allocate,
            max_pods=MAX_PODS,
        )
        self._journal = Journal(self.private_dir / "state")
        self._forwards: dict[tuple[str, str, int], socket.socket] = {}
        self._xds = XdsState()
        self._pushes = 0
        self._push_version = "1970-01-01T00:00:00.000Z/0"
        # Pods clients deleted: their replacements get new names (see translate's retired_pods).
        self._retired_pods: frozenset[str] = frozenset()
        # (sequence number, proxy, result) of the latest requests the proxies saw; a curl collects
        # those numbered after the moment it started (a count, not a position: the deque rolls).
        self._results: collections.deque[tuple[int, str, Result]] = collections.deque(maxlen=256)
        self._request_seq = 0
        self._internet: FakeInternet | None = None
        self._dp: DataPlane | None = None
        self._reconciler: Reconciler | None = None
        self._node = _node_info()
        self._api: ApiServer | None = None
        self._registration: pathlib.Path | None = None
        self._published_env: dict[str, str] = {}
        self._shell = ShellSession(lambda: self.shell_env, state_dir=self.private_dir / "shell")
        try:
            self._start(internet, internet_hosts, restore)
        except BaseException:
            self.close()
            raise

    def _start(
        self, internet: bool, hosts: Iterable[ExternalHost | Mapping[str, Any]], restore: bool
    ) -> None:
        _raise_open_file_limit()
        if internet:
            extra = [h if isinstance(h, ExternalHost) else _external_host(h) for h in hosts]
            self._internet = FakeInternet(self.private_dir / "internet", (*DEFAULT_HOSTS, *extra)).start()
        self._mesh_ca = MeshCA.generate()
        self._dp = DataPlane(
            AddressBook(),
            mesh_ca=self._mesh_ca,
            trust_store=self._internet.ca_pem if self._internet else None,
            on_request=self._on_request,
            key_dir=self.private_dir / "keys",
        ).start()
        self._reconciler = Reconciler(self._dp, self._internet, self.private_dir / "pods")
        self._api = ApiServer(self, self.private_dir, controllers.KUBERNETES_VERSION)
        default = load(CLUSTER) + load(DEFAULT_MESH)
        self._change(lambda txn: kubectl_apply(txn, default), journal=False)
        self._defaults = tuple(self._store.snapshot().keys())
        if restore:
            self._restore()
        self._api.start()
        write_istioctl(self.private_dir / "bin")
        self._publish_env()
        _registry.track(self)

    # ------------------------------------------------------------------ context manager

    def __enter__(self) -> LocalSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"ingress 127.0.0.1:{self.env.get('INGRESS_PORT', '?')}"
        return f"<LocalSandbox {state} work_dir={str(self.work_dir)!r}>"

    # ------------------------------------------------------------------------ Backend API

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._closed

    @property
    def env(self) -> dict[str, str]:
        """The learner's variables, as the docs' ``export`` lines set them: ``INGRESS_HOST``
        (the node, 127.0.0.1) and the ingress gateway Service's node ports ``INGRESS_PORT``
        (``http2``), ``SECURE_INGRESS_PORT`` (``https``), ``TCP_INGRESS_PORT`` (``tcp``)."""
        env = {"INGRESS_HOST": "127.0.0.1"}
        svc = self._store.snapshot().entry(ResourceKey("Service", "istio-system", "istio-ingressgateway"))
        for p in (svc.raw.get("spec", {}).get("ports") or []) if svc else []:
            var = _PUBLISHED.get(p.get("name", ""))
            if var and p.get("nodePort"):
                env[var] = str(p["nodePort"])
        return env

    @property
    def shell_env(self) -> dict[str, str]:
        """``KUBECONFIG``, ``KUBECACHEDIR`` and ``PATH`` for kubectl against this sandbox, plus
        :attr:`env` (see :meth:`shell`)."""
        bin_dirs = [self.private_dir / "bin", pathlib.Path(sys.executable).parent]
        env = dict(self.env)
        env["KUBECONFIG"] = str(self.private_dir / "kubeconfig")
        env["KUBECACHEDIR"] = str(self.private_dir / "kube-cache")
        env["PATH"] = os.pathsep.join([*map(str, bin_dirs), os.environ.get("PATH", os.defpath)])
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
            ManifestError: kubectl could not read or map it -- e.g. an ``IstioOperator``, whose CRD
                Istio 1.24+ no longer installs (``istioctl install -f`` reads those); nothing changed.
        """
        manifests = self._load(source, name)
        result = self._change(lambda txn: kubectl_apply(txn, manifests))
        return ApplyReport(lines=tuple(result.lines), warnings=tuple(result.warnings))

    def dry_run(self, source: ManifestSource, *, name: str | None = None) -> ApplyReport:
        """``kubectl apply --dry-run=server``: what :meth:`apply` would print, changing nothing.

        Raises:
            ValidationError: :meth:`apply` would reject the manifest (the same text).
        """
        manifests = self._load(source, name)
        with self._lock:
            self._check_open()
            result = kubectl_apply(self._store.transaction(), manifests, dry_run=True)
        return ApplyReport(lines=tuple(result.lines), warnings=tuple(result.warnings))

    def analyze(self, source: ManifestSource | None = None, *, name: str | None = None) -> tuple[str, ...]:
        """``istioctl analyze``'s messages for the cluster as it would be after applying ``source``
        (on a private copy of the store; nothing changes). A manifest that would be rejected is
        left out: :meth:`dry_run` reports that."""
        manifests = self._load(source, name) if source is not None else []
        with self._lock:
            self._check_open()
            txn = self._store.transaction()
            if manifests:
                try:
                    kubectl_apply(txn, manifests)
                except ValidationError:
                    pass  # dry_run() reports the rejection; analyze the cluster as it is
            xds = self._xds
        return tuple(str(m) for m in analyze(txn.snapshot(), xds))

    def delete(self, source: ManifestSource, *, name: str | None = None) -> ApplyReport:
        """Delete every object the manifest names (``kubectl delete -f``)."""
        manifests = self._load(source, name)
        result = self._change(lambda txn: kubectl_delete(txn, manifests))
        return ApplyReport(lines=tuple(result.lines) + tuple(result.errors), warnings=tuple(result.warnings))

    def curl(
        self,
        command: str,
        source: str | None = None,
        timeout: float = 30.0,
        cwd: str | os.PathLike[str] | None = None,
    ) -> CurlResult:
        """Run the real curl with a command written as in Istio's docs.

        Args:
            command: e.g. ``curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/status/200"``.
            source: run it inside this workload (``"default/curl"``), through its sidecar.
            timeout: seconds before curl is stopped.
            cwd: where relative paths (``--cacert example_certs1/example.com.crt``) are found;
                default: the caller's current directory.
        """
        self._check_open()
        before = self._request_seq
        where = os.fspath(cwd) if cwd is not None else os.getcwd()
        if source is None:
            result = run_curl(command, env=self.env, cwd=where, timeout=timeout)
        else:
            with self._lock:
                rules, unknown = self._meshnet().routes(source, command, self.env)
            result = run_curl(
                command,
                env=self.env,
                cwd=where,
                connect_to=rules,
                isolate_dns=unknown,
                ca_bundle=self._pod_ca_bundle(),
                timeout=timeout,
            )
        results = [(proxy, r) for seq, proxy, r in list(self._results) if seq > before]
        if results:
            result = dataclasses.replace(result, explanation=tuple(results))
        return result

    def shell(
        self, script: str, timeout: float = 60.0, cwd: str | os.PathLike[str] | None = None
    ) -> ShellResult:
        """Run a bash script with ``kubectl`` (and ``istioctl``) pointed at this sandbox.

        ``KUBECONFIG`` names the sandbox's own kubeconfig (never ``~/.kube/config``); variables
        the script exports are kept for the next call, as in one terminal.

        Args:
            script: any bash: heredocs, pipes, ``export``, loops.
            timeout: seconds before the script is stopped (exit code 124).
            cwd: the working directory; default: the caller's current directory.
        """
        self._check_open()
        return self._shell.run(script, timeout=timeout, cwd=cwd)

    def logs(self, workload: str) -> str:
        """The access log of a proxy (``istio-system/istio-ingressgateway``, ``default/curl``),
        or, for a workload without a proxy, its container log (``kubectl logs``)."""
        self._check_open()
        xds = self._xds
        assert self._dp is not None and self._reconciler is not None
        pods = xds.pods_of(workload) or tuple(p for p in xds.pods if p.key == workload)
        if not pods:
            raise SandboxError(f'no workload "{workload}": expected "<namespace>/<deployment>"')
        out: list[str] = []
        for pod in pods:
            text = self._dp.logs(pod.key) if pod.key in xds.proxies else self._reconciler.logs(pod)
            if text:
                out.append(text if text.endswith("\n") else text + "\n")
        return "".join(out)

    def service_address(self, namespace: str, name: str, port: int) -> tuple[str, int]:
        """Where the host reaches port ``port`` of Service ``namespace/name``.

        A NodePort or LoadBalancer Service answers on its node port; for a ClusterIP Service the
        sandbox holds a port-forward (``kubectl port-forward svc/NAME PORT``) from the first call
        on. With no gateway listener behind it, connections are refused (curl exit 7), as in a
        cluster.
        """
        key = (namespace, name, int(port))
        with self._lock:
            self._check_open()
            svc = self._store.snapshot().entry(ResourceKey("Service", namespace, name))
            spec = svc.raw.get("spec", {}) if svc else {}
            if spec.get("type") in ("NodePort", "LoadBalancer"):
                for p in spec.get("ports") or []:
                    if p.get("port") == int(port) and p.get("nodePort"):
                        return "127.0.0.1", int(p["nodePort"])
            if key not in self._forwards:
                held = hold_port(0)
                if held is None:
                    raise SandboxError("no free 127.0.0.1 port for a port-forward")
                self._forwards[key] = held
                self._change(lambda txn: None, force=True, journal=False)
            return "127.0.0.1", self._forwards[key].getsockname()[1]

    def pods(self) -> list[PodInfo]:
        """Pods like ``kubectl get pods -A``: namespace, name, STATUS, IP, READY, and for a pod
        that is not Running the reason ``kubectl describe pod`` would give (``message``)."""
        self._check_open()
        out = []
        for entry in self._store.snapshot().entries("Pod"):
            status = entry.raw.get("status", {})
            statuses = status.get("containerStatuses") or []
            waiting = next((s["state"]["waiting"] for s in statuses if "waiting" in s.get("state", {})), None)
            out.append(
                PodInfo(
                    namespace=entry.key.namespace,
                    name=entry.key.name,
                    status=waiting["reason"] if waiting else status.get("phase", ""),
                    ip=status.get("podIP", ""),
                    ready=f"{sum(bool(s.get('ready')) for s in statuses)}/{len(statuses)}",
                    message=waiting.get("message", "") if waiting else "",
                )
            )
        return out

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The object as the API server returns it (``kubectl get -o json``), or None."""
        snap = self._store.snapshot()
        key = ResourceKey(kind, namespace, name)
        return snap.raw(key) if key in snap else None

    def close(self) -> None:
        """Stop the data plane, every workload and the fake internet; release every port; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._registration is not None:
                _registry.unregister(self._registration)
            if self._api is not None:
                self._api.close()
            if self._dp is not None:
                self._dp.close()
            if self._reconciler is not None:
                self._reconciler.close()
            if self._internet is not None:
                with contextlib.suppress(Exception):
                    self._internet.close()
            self._node_ports.close()
            for s in self._forwards.values():
                s.close()
            self._forwards.clear()
            if self._temporary:
                shutil.rmtree(self.work_dir, ignore_errors=True)

    def _publish_env(self) -> None:
        """Register this sandbox for ``gatewaykit env`` (another terminal's ``kubectl``)."""
        env = self.shell_env
        if env != self._published_env:
            self._registration = _registry.register(self.private_dir / "env.sh", env)
            self._published_env = env

    # ------------------------------------------------------- what the API server asks for

    def transact(self, mutate: Callable[[Transaction], T]) -> T:
        """Make a change through the sandbox's one path (the API server's writes use it)."""
        return self._change(mutate)

    def pod_log(self, namespace: str, pod: str, container: str) -> str:
        """``kubectl logs``: the proxy's access log for ``istio-proxy``, else the container's log."""
        self._check_open()
        assert self._dp is not None and self._reconciler is not None
        key = f"{namespace}/{pod}"
        found = next((p for p in self._xds.pods if p.key == key), None)
        if found is None:
            return ""
        if container == "istio-proxy":
            return self._dp.logs(key) if key in self._xds.proxies else ""
        return self._reconciler.container_log(found, container)

    def exec_plan(self, namespace: str, pod: str, container: str, argv: list[str]) -> ExecPlan:
        """How ``kubectl exec`` runs ``argv`` in a pod: curl through the pod's sidecar, ``sh -c``
        scripts that use it, and a few harmless commands; anything else is refused."""
        key = f"{namespace}/{pod}"
        found = next((p for p in self._xds.pods if p.key == key), None)
        if found is not None and _is_istiod(found.labels, container, argv):
            out, err, code = pilot_discovery(self._istiod_view(), argv)
            return ExecPlan(output=out, refused=err.decode(), exit_code=code)
        assigned, argv = _env_prefix(argv)
        refusal = _exec_refusal(argv, container, pod)
        if found is None or refusal:
            return ExecPlan(refused=refusal or f"pod {pod} is not running\n", exit_code=126)
        script = argv[2] if len(argv) >= 3 and argv[1] == "-c" else shlex.join(pod_argv(argv))
        with self._lock:
            rules, unknown = self._meshnet().routes(key, script, {})
        env = curl_env({"HOSTNAME": pod, "HOME": "/tmp"}, self._pod_ca_bundle())
        for name in ("INGRESS_HOST", "INGRESS_PORT", "SECURE_INGRESS_PORT", "TCP_INGRESS_PORT", "KUBECONFIG"):
            env.pop(name, None)  # a pod sees its own environment, not the learner's terminal
        env.update(assigned)
        preamble = (
            curl_function(rules, isolate_dns=unknown)
            + nc_function(rules)
            + f"hostname() {{ echo {shlex.quote(pod)}; }}\n"
            + BUSYBOX_TIME
        )
        return ExecPlan(script=preamble + script, env=env, cwd=str(self.private_dir))

    def pod_proxy(self, namespace: str, pod: str, port: int, path: str, query: str) -> ProxyAnswer:
        """The API server's pod proxy (``pods/{pod}:{port}/proxy/{path}``) for a proxy's admin ports.

        Port 15000 is the Envoy admin API of the pod's proxy (``/config_dump``, ``/clusters``,
        ``/stats``...: :mod:`gatewaykit.backends._envoyadmin`), 15021 its ``/healthz/ready`` and 15090
        its ``/stats/prometheus``. The real istioctl port-forwards to 15000; the sandbox's reads the
        same answers here. Other ports, and pods without a proxy, refuse the connection (503).
        """
        self._check_open()
        key = f"{namespace}/{pod}"
        xds = self._xds
        found = next((p for p in xds.pods if p.key == key), None)
        if found is None:
            return _status_answer(st.not_found("pods", "", pod))
        proxy = xds.proxies.get(key)
        target = port or 80
        if found.labels.get("app") == "istiod" and target == DEBUG_PORT:
            return ProxyAnswer(*monitoring_answer(path))
        if proxy is None or target not in (15000, 15021, 15090):
            return _status_answer(
                st.Status(
                    503,
                    "ServiceUnavailable",
                    f"error trying to reach service: dial tcp {found.ip}:{target}: connect: connection "
                    "refused",
                    has_details=False,
                )
            )
        if target == 15021:
            ok = path.strip("/") == "healthz/ready"
            return ProxyAnswer(200 if ok else 404, "text/plain", b"" if ok else b"404 page not found\n")
        if target == 15090:
            path = "stats/prometheus"
        spiffe = f"spiffe://cluster.local/ns/{found.namespace}/sa/{found.service_account}"
        ctx = AdminContext(
            proxy=proxy,
            pod=found,
            services=xds.services,
            workload_cert=(self._mesh_ca.workload_certificate(spiffe)[0], self._mesh_ca.cert_pem),
            version_info=self._push_version,
            last_updated=self._push_version.split("/", 1)[0],
        )
        params = {k: v[-1] for k, v in urllib.parse.parse_qs(query).items()}
        status, ctype, body = envoy_admin(ctx, path, params)
        return ProxyAnswer(status, ctype, body)

    def port_forward(self, namespace: str, pod: str, port: int) -> PortTarget | None:
        """What a ``kubectl port-forward`` connection to ``port`` of a pod reaches, or None.

        containerd dials ``localhost:<port>`` inside the pod's network namespace, so a connection
        reaches whatever the pod serves on that port, bypassing its sidecar's capture (Istio's
        iptables leave loopback alone): a gateway's listener (8080, 8443... the container ports
        behind its Service ports), an application's stand-in, and for a proxy its Envoy admin
        API (15000), health (15021) and Prometheus (15090) ports -- answered in-process, as the
        pod proxy answers them (:meth:`pod_proxy`); istiod's monitoring port 15014 likewise.
        The proxy sees the connection come from ``127.0.0.1``, as from inside the pod.
        """
        self._check_open()
        assert self._dp is not None
        found = next((p for p in self._xds.pods if p.key == f"{namespace}/{pod}"), None)
        if found is None:
            return None
        istiod = found.labels.get("app") == "istiod"
        served = _IN_PROCESS_PORTS.get((found.key in self._xds.proxies, istiod, port))
        if served is not None:
            return PortTarget(
                answer=lambda path, query: self.pod_proxy(namespace, pod, port, path, query), server=served
            )
        where = self._dp.address_book.resolve(found.ip, port)
        if where is None or where[0] != "127.0.0.1":  # everything a pod serves is on loopback
            return None
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind(("127.0.0.1", 0))
            self._dp.expect_loopback(sock.getsockname()[1], where[1], port)
            sock.connect(where)
        except OSError:
            sock.close()
            return None
        return PortTarget(sock=sock)

    def _istiod_view(self) -> IstiodView:
        """What the sandbox's istiod holds, for its debug endpoints (:mod:`._istiod`)."""
        snap = self.store.snapshot()
        ns, name = MESH_CONFIGMAP
        cm = snap.entry(ResourceKey("ConfigMap", ns, name))
        return IstiodView(
            proxies=self._xds.proxies,
            configs=[e.raw for kind in CONFIGZ_KINDS for e in snap.entries(kind)],
            mesh_yaml=str(((cm.raw.get("data") or {}) if cm else {}).get("mesh", "")),
            push_time=self._push_version.split("/", 1)[0],
            push=self._pushes,
        )

    # -------------------------------------------------------------------------- extras

    def set_mesh_config(self, *, outbound_traffic_policy: str = "ALLOW_ANY") -> None:
        """Switch ``meshConfig.outboundTrafficPolicy.mode`` live (``ALLOW_ANY``/``REGISTRY_ONLY``).

        Writes ``outboundTrafficPolicy.mode`` into the ``istio`` ConfigMap's ``data.mesh`` in
        ``istio-system`` -- where Istio 1.27 keeps the mesh config and istiod watches it -- through
        the sandbox's one change path, like ``kubectl edit configmap istio -n istio-system``.
        The rest of the mesh config is kept (unlike ``istioctl install --set ...``, which renders
        the whole install again).

        Raises:
            ValidationError: not one of Istio's two modes (istioctl's words, see
                :func:`gatewaykit._translate.mesh.outbound_traffic_policy_mode`).
            SandboxError: Istio is not installed (no ``istio`` ConfigMap).
        """
        mode = outbound_traffic_policy_mode(outbound_traffic_policy.upper())
        self._change(lambda txn: set_outbound_traffic_policy(txn, mode))

    @property
    def xds(self) -> XdsState:
        """The current translation (pods, services, every proxy's Envoy config, istiod log)."""
        self._check_open()
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

    @property
    def store(self) -> ConfigStore:
        """The config store (what the API server holds)."""
        return self._store

    def published_port(self, service_port: int) -> int:
        """The node port publishing an ingress gateway Service port (80, 443, 31400)."""
        return self.service_address("istio-system", "istio-ingressgateway", service_port)[1]

    # ------------------------------------------------------------------------ internals

    def _check_open(self) -> None:
        if self._closed:
            raise SandboxError("this sandbox is closed: start a new one with Sandbox.local()")

    def _on_request(self, proxy_id: str, result: Result) -> None:
        self._request_seq += 1
        self._results.append((self._request_seq, proxy_id, result))

    def _load(self, source: ManifestSource, name: str | None) -> list[Any]:
        # The one manifest reader (resources.codecs); inline text is named as a file would be.
        if name is None and isinstance(source, str) and manifest_path(source) is None:
            name = "manifest.yaml"
        return load(source, name=name)

    def _meshnet(self) -> MeshNet:
        assert self._dp is not None
        return MeshNet(self._xds, self._dp, self._internet.ports if self._internet else {})

    def _pod_ca_bundle(self) -> pathlib.Path | None:
        if self._internet is None:
            return None
        return pod_ca_bundle(self.private_dir / "state", self._internet.ca_pem)

    # -- the one path of every change

    def _change(
        self,
        mutate: Callable[[Transaction], T],
        *,
        force: bool = False,
        journal: bool = True,
    ) -> T:
        """Run ``mutate`` in a transaction, reconcile, journal and commit -- or change nothing."""
        with self._lock:
            self._check_open()
            txn = self._store.transaction()
            result = mutate(txn)  # ValidationError / ApiError: nothing changed
            if not (txn.changed or force):
                return result
            xds = self._settle(txn)
            try:
                if journal:
                    self._journal_append(txn)
            except OSError as exc:
                self._roll_back()
                raise SandboxError(f"cannot write the sandbox journal ({exc}); nothing was changed") from exc
            self._store.commit(txn)
            self._xds = xds
            self._pushes += 1
            now = datetime.datetime.now(datetime.timezone.utc)
            self._push_version = f"{now.strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3]}Z/{self._pushes}"
            self._node_ports.keep(self._node_ports_in(self._store.snapshot()))
            if self._api is not None and self._api.port:
                self._publish_env()
            return result

    def _settle(self, txn: Transaction) -> XdsState:
        """Translate the transaction, serve it, and let the controllers write what they make.

        The mesh settings come from the ``istio`` ConfigMap in the same snapshot, so a change
        of the ConfigMap (``kubectl edit``, ``istioctl install``) is served like any other.
        """
        assert self._reconciler is not None
        deleted = {
            f"{e.key.namespace}/{e.key.name}"
            for e in txn.events
            if e.type == "DELETED" and e.key.kind == "Pod"
        }
        self._retired_pods |= deleted
        controllers.gateway_api_objects(txn)
        wanted = txn.pods_wanted()
        if wanted > MAX_PODS:
            # Deployments the controllers make (a Gateway API Gateway's) are not admitted one
            # by one; nothing is started before the whole change is known to fit.
            raise st.api_error(st.forbidden("pods", "", "", pod_limit_message(MAX_PODS, wanted)))
        snap = txn.snapshot()
        xds = translate(snap, retired_pods=self._retired_pods)
        fixed = published_listeners(xds, snap, self._forward_ports())
        try:
            self._reconciler.reconcile(xds, snap, fixed)
        except BaseException as exc:
            self._roll_back()
            if isinstance(exc, SandboxError):
                raise
            raise SandboxError(
                f"the sandbox could not serve this change ({exc}); nothing was changed"
            ) from exc
        desired = controllers.cluster_objects(
            txn,
            xds,
            self._reconciler.states(xds),
            now=time.time(),
            node=self._node,
            root_certificates=self._root_certificates(),
        )
        controllers.sync(txn, desired)
        controllers.gateway_api_statuses(txn, time.time())
        return xds

    def _root_certificates(self) -> dict[str, dict[str, str]]:
        out = {"istio-ca-root-cert": {"root-cert.pem": self._mesh_ca.cert_pem.decode()}}
        if self._api is not None:
            out["kube-root-ca.crt"] = {"ca.crt": self._api.ca_pem.decode()}
        return out

    def _roll_back(self) -> None:
        """Serve the committed state again after a change failed midway."""
        assert self._reconciler is not None
        snap = self._store.snapshot()
        with contextlib.suppress(Exception):
            self._reconciler.reconcile(
                self._xds, snap, published_listeners(self._xds, snap, self._forward_ports())
            )
        self._node_ports.keep(self._node_ports_in(snap))

    def _forward_ports(self) -> dict[tuple[str, str, int], int]:
        return {k: s.getsockname()[1] for k, s in self._forwards.items()}

    @staticmethod
    def _node_ports_in(snap: Snapshot) -> set[int]:
        return {
            int(p["nodePort"])
            for e in snap.entries("Service")
            for p in (e.raw.get("spec", {}).get("ports") or [])
            if isinstance(p, dict) and p.get("nodePort")
        }

    # -- the journal

    def _journal_append(self, txn: Transaction) -> None:
        puts, deletes = [], []
        for key, entry in txn.user_changes():
            (puts.append(entry) if entry is not None else deletes.append(key))
        self._journal.append(puts, deletes, resource_version=txn.resource_version)
        if self._journal.needs_compaction:
            snap = txn.snapshot()
            objects = [e for k in snap.keys() if (e := snap.entry(k)) is not None and not e.system]
            absent = [k for k in self._defaults if k not in snap]
            self._journal.compact(objects, absent, resource_version=txn.resource_version, extra={})

    def _restore(self) -> None:
        replayed = self._journal.read()
        for note in replayed.dropped:
            print(f"gatewaykit: {note}", file=sys.stderr)
        if not replayed.records:
            return
        self._store.restore(replayed.objects.values(), replayed.resource_version, deleted=replayed.deleted)
        self._change(lambda txn: None, force=True, journal=False)
