"""A terminal-like bash session against a backend: ``sb.shell(script)``.

Istio's task pages are written for a terminal: ``export SOURCE_POD=$(kubectl get pod ...)`` in one
block, ``kubectl exec "$SOURCE_POD" ...`` in the next. :class:`ShellSession` runs each script with
real ``bash`` and keeps what a terminal keeps between commands -- the exported variables -- while
every run starts from the backend's environment (``KUBECONFIG`` pointing at the backend's own
kubeconfig file, ``PATH`` with the pinned ``kubectl`` and the backend's ``istioctl`` first).

The learner's ``~/.kube/config`` is never read or written: ``KUBECONFIG`` always names the
backend's file, and ``KUBECACHEDIR`` keeps kubectl's discovery cache in the backend's work dir.

Output is what a terminal shows: stdout and stderr merged in the order they were written (one
pipe for both), so ``Error from server ...`` lines appear where kubectl printed them.
"""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Mapping

from gatewaykit.backends.base import ShellResult

__all__ = ["ShellSession"]

# Variables that would silently send kubectl or curl somewhere else than the backend.
_SCRUB = frozenset(
    {
        "http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY",
        "ALL_PROXY", "NO_PROXY", "CURL_HOME", "KUBECONFIG", "KUBECACHEDIR", "BASH_ENV", "ENV",
    }
)

# Set by bash itself on every start; never part of what the learner exported.
_BASH_OWNED = frozenset({"_", "SHLVL", "PWD", "OLDPWD", "BASHOPTS", "SHELLOPTS", "BASH_EXECUTION_STRING"})

# Runs after the learner's script, on every exit path (`exit 3` included): dumps the exported
# environment NUL-separated (no quoting ambiguity) so the next run can start from it.
_EPILOGUE = 'trap \'__gk_rc=$?; env -0 > "$__GK_ENV_OUT" 2>/dev/null; exit $__gk_rc\' EXIT\n'


class ShellSession:
    """One bash "terminal" for a backend.

    Args:
        base_env: called before every run; the backend's variables (``KUBECONFIG``, ``PATH``
            prefix handled separately, ``INGRESS_HOST``...). Called each time so that a value the
            backend changes (a new published port) reaches the next command.
        path_prefix: directories put first on ``PATH`` (the venv's ``bin`` with the pinned
            kubectl, the backend's ``istioctl``).
        state_dir: a private directory for the exported-variables file (mode 0700).
    """

    def __init__(
        self,
        base_env: Callable[[], Mapping[str, str]],
        *,
        path_prefix: tuple[pathlib.Path, ...] = (),
        state_dir: pathlib.Path,
    ) -> None:
        self._base_env = base_env
        self._path_prefix = path_prefix
        self._state_dir = state_dir
        # What the learner exported (or changed) in earlier runs; None means "unset it".
        self._exported: dict[str, str | None] = {}
        self._lock = threading.Lock()

    def environment(self) -> dict[str, str]:
        """The environment the next run starts with (the process's, scrubbed, plus the backend's)."""
        env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
        env.update(self._base_env())
        prefix = os.pathsep.join(str(p) for p in self._path_prefix)
        env["PATH"] = prefix + os.pathsep + env.get("PATH", os.defpath) if prefix else env.get("PATH", "")
        for name, value in self._exported.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return env

    def run(
        self, script: str, *, timeout: float = 60.0, cwd: str | os.PathLike[str] | None = None
    ) -> ShellResult:
        """Run ``script`` with bash; keep its exported variables for the next run.

        Args:
            script: any bash (heredocs, pipes, ``export``, loops, ``$(...)``).
            timeout: seconds before the whole process group is stopped (exit code 124, as
                coreutils ``timeout`` reports it, with one line saying so).
            cwd: the working directory (default: the caller's current directory).

        Returns:
            The exit code and the merged output.
        """
        # The lock guards the exported variables only: two scripts may run at once (a watch in
        # one cell, an apply in another), each starting from the exports known when it starts.
        with self._lock:
            start = self.environment()
        self._state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, out_path = tempfile.mkstemp(prefix="env-", dir=self._state_dir)
        os.close(fd)
        try:
            env = dict(start, __GK_ENV_OUT=out_path)
            code, output = _run_bash(_EPILOGUE + script, env, cwd or os.getcwd(), timeout)
            with self._lock:
                self._remember(start, pathlib.Path(out_path))
        finally:
            pathlib.Path(out_path).unlink(missing_ok=True)
        return ShellResult(script=script, exit_code=code, output=output)

    def _remember(self, start: Mapping[str, str], dump: pathlib.Path) -> None:
        """Record what the script exported, changed or unset, relative to its start."""
        try:
            raw = dump.read_bytes()
        except OSError:
            return
        if not raw:
            return  # killed before the EXIT trap ran: keep the earlier state
        after: dict[str, str] = {}
        for item in raw.split(b"\0"):
            key, sep, value = item.partition(b"=")
            if sep and key:
                after[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
        after.pop("__GK_ENV_OUT", None)
        for owned in _BASH_OWNED:
            after.pop(owned, None)
        for var, text in after.items():
            if start.get(var) != text:
                self._exported[var] = text
        for var in start:
            if var not in after and var not in _BASH_OWNED:
                self._exported[var] = None


def _run_bash(
    script: str, env: Mapping[str, str], cwd: str | os.PathLike[str], timeout: float
) -> tuple[int, str]:
    """Run bash in its own process group; stdout and stderr share one pipe (terminal order)."""
    proc = subprocess.Popen(
        ["bash", "-c", script],
        env=dict(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, _ = proc.communicate()
        text = out.decode("utf-8", "replace")
        if text and not text.endswith("\n"):
            text += "\n"
        return 124, text + f"gatewaykit: stopped the script after {timeout:g} s (timeout)\n"


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop bash and everything it started (kubectl, curl, a `sleep`)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
