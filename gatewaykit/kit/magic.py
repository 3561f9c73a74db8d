"""``%%gatewaykit``: a notebook cell of bash against the lab's sandbox, like one terminal.

``%load_ext gatewaykit`` (the kit loads it when a lab opens) registers the cell magic. The cell
runs with the backend's shell (``sb.shell``): ``kubectl`` and ``istioctl`` talk to the lab's
sandbox, variables a cell exports are there in the next cell, and the cell runs in the lab's
working folder (the kernel's current folder), so files made there (``openssl`` certificates) are
the ones the curl panel and ``kubectl create secret --cert=...`` use. A failing command shows its
exit code, as a terminal's prompt would.

Loading the extension also points the kernel's own environment at the sandbox, so ``!kubectl``
and ``%%bash`` cells work too (each of those is a fresh shell: exports do not carry over).
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["gatewaykit_cell", "load_ipython_extension", "use_backend"]


_CURRENT: dict[str, Any] = {}


def use_backend(backend: Any, on_change: Any = None) -> None:
    """Point this process's environment (``!kubectl``, ``%%bash``) and the next ``%%gatewaykit``
    cells at ``backend``; ``on_change(event)`` is called after each such cell (the lab's widgets
    refresh: a cell may have changed what is applied)."""
    os.environ.update(backend.shell_env)
    _CURRENT.update(backend=backend, on_change=on_change)


def _backend() -> Any:
    chosen = _CURRENT.get("backend")
    if chosen is not None and not chosen.closed:
        return chosen
    from gatewaykit.backends._registry import latest  # noqa: PLC0415

    found = latest()
    if found is not None:
        return found
    from gatewaykit.kit.session import _default_backend  # noqa: PLC0415

    return _default_backend()


def gatewaykit_cell(line: str, cell: str) -> None:
    """The ``%%gatewaykit`` cell magic: run ``cell`` in the sandbox's shell and print its output.

    ``line`` may give a timeout in seconds (``%%gatewaykit 120``; default 60).
    """
    timeout = float(line.strip()) if line.strip() else 60.0
    backend = _backend()
    os.environ.update(backend.shell_env)
    result = backend.shell(cell, timeout=timeout, cwd=os.getcwd())
    print(result.output, end="" if result.output.endswith("\n") or not result.output else "\n")
    if result.exit_code:
        print(f"(exit code {result.exit_code})")
    notify = _CURRENT.get("on_change") if _CURRENT.get("backend") is backend else None
    if notify is not None:
        notify("shell")


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext gatewaykit``: register ``%%gatewaykit``."""
    ipython.register_magic_function(gatewaykit_cell, "cell", "gatewaykit")
