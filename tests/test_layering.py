"""The pure core must import with every I/O library blocked (issue: Istio config core)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

BLOCKED = ["asyncio", "ssl", "socket", "subprocess", "kubernetes", "ipywidgets", "select", "selectors"]
CORE = [
    "gatewaykit.errors",
    "gatewaykit.envoy",
    "gatewaykit.resources.meta",
    "gatewaykit.resources.codecs",
    "gatewaykit.resources.models",
    "gatewaykit.resources.validation",
    "gatewaykit.store",
    "gatewaykit.translate",
    "gatewaykit.simulate",
    "gatewaykit.analyze",
    "gatewaykit.kube.protobuf",
]


def test_core_imports_with_io_blocked() -> None:
    # A fresh interpreter, so modules imported by other tests do not hide a violation.
    code = textwrap.dedent(
        f"""
        import sys, importlib.abc
        BLOCKED = {BLOCKED!r}
        class Blocker(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name.split(".")[0] in BLOCKED or name in ("_ssl", "_socket", "_asyncio"):
                    raise ImportError(f"I/O module {{name}} imported by the pure core")
                return None
        for mod in list(sys.modules):
            if mod.split(".")[0] in BLOCKED:
                del sys.modules[mod]
        sys.meta_path.insert(0, Blocker())
        import importlib
        for name in {CORE!r}:
            importlib.import_module(name)
        print("ok")
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
