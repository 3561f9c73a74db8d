"""The layers of docs/design.md: the pure core imports without I/O, and imports only point down.

``LAYERS`` is the dependency direction, lowest first. Every module of the package belongs to
exactly one layer (a new module must be placed here), and may import from its own layer or
below -- never from a layer above. The import graph is read from the source with ``ast``
(module-level and function-level imports alike), and the imports that run when a module is
imported (module level, outside ``if TYPE_CHECKING:``) must not form a cycle.
"""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import gatewaykit

PACKAGE_DIR = pathlib.Path(gatewaykit.__file__).parent

#: (layer, module prefixes), lowest first. A module belongs to the layer of its longest prefix.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("errors", ("gatewaykit.errors", "gatewaykit._gofmt")),
    ("resources", ("gatewaykit.resources", "gatewaykit.envoy", "gatewaykit.samples")),
    ("kubernetes API machinery", ("gatewaykit.kube",)),
    ("store", ("gatewaykit.store",)),
    ("translate", ("gatewaykit._translate",)),
    ("simulate, analyze, controllers", ("gatewaykit._simulate", "gatewaykit._analyze", "gatewaykit.controllers")),
    (
        "certificates, data plane, workloads, API server",
        ("gatewaykit.certs", "gatewaykit.dataplane", "gatewaykit.workloads", "gatewaykit.apiserver"),
    ),
    ("backends", ("gatewaykit.backends",)),
    ("sandbox", ("gatewaykit.sandbox",)),
    ("kit, cli", ("gatewaykit.kit", "gatewaykit.cli")),
    ("package surface", ("gatewaykit",)),
)

#: The pure core: the layers up to simulate/analyze/controllers.
PURE_LAYERS = 6

BLOCKED = ["asyncio", "ssl", "socket", "subprocess", "kubernetes", "ipywidgets", "select", "selectors"]


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, pathlib.Path] = {_module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py"))}


def layer_of(module: str) -> int:
    """The index in LAYERS of the longest prefix matching ``module`` (KeyError if none)."""
    best: tuple[int, int] | None = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[0]:
                    best = (len(prefix), index)
    if best is None:
        raise KeyError(module)
    return best[1]


def _resolve(name: str) -> str | None:
    """The gatewaykit module an import of ``name`` loads (``pkg.mod.func`` -> ``pkg.mod``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str, tree: ast.Module) -> Iterator[tuple[str, bool]]:
    """Yield (imported gatewaykit module, runs at import time) for every import in ``tree``."""
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]

    def visit(node: ast.AST, at_import: bool) -> Iterator[tuple[str, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                yield from visit(child, False)
            elif isinstance(child, ast.If) and _is_type_checking(child):
                yield from visit(child, False)
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    yield from _found(alias.name, at_import)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package
                    for _ in range(child.level - 1):
                        anchor = anchor.rpartition(".")[0]
                    base = f"{anchor}.{base}" if base else anchor
                for alias in child.names:
                    yield from _found(f"{base}.{alias.name}", at_import)
            else:
                yield from visit(child, at_import)

    def _found(name: str, at_import: bool) -> Iterator[tuple[str, bool]]:
        target = _resolve(name) if name.startswith("gatewaykit") else None
        if target is not None and target != module:
            yield target, at_import

    yield from visit(tree, True)


GRAPH: dict[str, list[tuple[str, bool]]] = {
    name: list(_imports(name, ast.parse(path.read_text(encoding="utf-8")))) for name, path in MODULES.items()
}


def test_every_module_has_a_layer() -> None:
    placed = [p for _, prefixes in LAYERS for p in prefixes]
    assert [m for m in MODULES if not any(m == p or m.startswith(p + ".") for p in placed)] == []


def test_imports_only_point_down() -> None:
    upward = [
        f"{src} ({LAYERS[layer_of(src)][0]}) imports {dst} ({LAYERS[layer_of(dst)][0]})"
        for src, edges in GRAPH.items()
        for dst, _ in edges
        if layer_of(dst) > layer_of(src)
    ]
    assert upward == []


def test_no_import_cycles() -> None:
    runtime = {src: sorted({dst for dst, at_import in edges if at_import}) for src, edges in GRAPH.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def walk(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in runtime.get(node, ()):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                walk(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(runtime):
        if node not in state:
            walk(node)
    assert cycles == []


def test_the_layering_check_sees_an_upward_import() -> None:
    # The checks above must be able to fail: a resources module importing the data plane would
    # be an upward edge, and the graph does see the data plane's real import of the simulator.
    assert layer_of("gatewaykit.dataplane.plane") > layer_of("gatewaykit.resources.codecs")
    assert ("gatewaykit._simulate", True) in GRAPH["gatewaykit.dataplane.plane"]
    assert layer_of("gatewaykit._simulate") < layer_of("gatewaykit.dataplane.plane")


def test_core_imports_with_io_blocked() -> None:
    core = sorted(m for m in MODULES if layer_of(m) < PURE_LAYERS)
    assert "gatewaykit._simulate" in core and "gatewaykit.resources.validation.webhook" in core
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
        for name in {core!r}:
            importlib.import_module(name)
        print("ok")
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
