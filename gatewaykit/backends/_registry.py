"""Which sandboxes are running on this machine, for ``gatewaykit env`` in another terminal.

A sandbox lives inside a notebook kernel; a JupyterLab terminal is another process. Each running
backend writes its shell environment as ``export`` lines (``env.sh``, mode 0600, in its private
folder) and registers that file in a per-user runtime folder (``$XDG_RUNTIME_DIR/gatewaykit`` or
``/tmp/gatewaykit-<uid>``, mode 0700). ``gatewaykit env`` prints the newest live one, so
``eval "$(gatewaykit env)"`` points ``kubectl`` at it. Registrations of dead processes are ignored
and removed.
"""

from __future__ import annotations

import os
import pathlib
import shlex
import tempfile
import time
import weakref
from collections.abc import Mapping
from typing import Any

__all__ = ["current_env_file", "export_lines", "latest", "register", "runtime_dir", "track", "unregister"]

# The backends started in this process, newest last (weak: a closed, dropped sandbox goes away).
_STARTED: list[weakref.ref[Any]] = []


def track(backend: Any) -> None:
    """Remember a backend started in this process (``%%gatewaykit`` runs in the newest open one)."""
    _STARTED.append(weakref.ref(backend))


def latest() -> Any | None:
    """The newest backend of this process that is still open, or None."""
    for ref in reversed(_STARTED):
        backend = ref()
        if backend is not None and not getattr(backend, "closed", True):
            return backend
    return None


def runtime_dir() -> pathlib.Path:
    """The per-user folder where running sandboxes register (created 0700)."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    root = (
        pathlib.Path(base) / "gatewaykit"
        if base
        else pathlib.Path(tempfile.gettempdir()) / f"gatewaykit-{os.getuid()}"
    )
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    return root


def export_lines(env: Mapping[str, str]) -> str:
    """``export NAME='value'`` lines, quoted for bash."""
    return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in sorted(env.items()))


def register(env_file: pathlib.Path, env: Mapping[str, str]) -> pathlib.Path:
    """Write ``env`` to ``env_file`` (0600) and register it; returns the registration."""
    tmp = env_file.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(export_lines(env))
    os.replace(tmp, env_file)
    link = runtime_dir() / f"{os.getpid()}-{abs(hash(str(env_file)))}"
    if not link.is_symlink():
        link.symlink_to(env_file)
    return link


def unregister(link: pathlib.Path) -> None:
    """Remove a registration (the sandbox closed)."""
    link.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def current_env_file() -> pathlib.Path | None:
    """The env file of the most recently started live sandbox, or None."""
    found: list[tuple[float, pathlib.Path]] = []
    for link in runtime_dir().iterdir():
        pid = link.name.split("-", 1)[0]
        target = link.resolve() if link.is_symlink() else None
        if not pid.isdigit() or not _alive(int(pid)) or target is None or not target.exists():
            link.unlink(missing_ok=True)
            continue
        found.append((link.lstat().st_mtime if link.exists() else time.time(), target))
    return max(found)[1] if found else None
