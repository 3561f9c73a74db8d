"""The public names are exported, sorted, and each resolves (httpx's test_exported_members idea).

``from gatewaykit import simulate`` must be the function whatever was imported before: modules
that would share a name with an exported function are private (``_simulate``, ``_translate``,
``_analyze``), so importing a submodule can never replace a package attribute.
"""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import textwrap
import types

import gatewaykit

FUNCTION = types.FunctionType
CLASS = type

#: Every name ``gatewaykit`` exports and what it must be.
EXPECTED: dict[str, type] = {
    "analyze": FUNCTION,
    "ApplyReport": CLASS,
    "Backend": CLASS,
    "backend_from_env": FUNCTION,
    "BackendError": CLASS,
    "ClusterError": CLASS,
    "ConfigStore": CLASS,
    "CurlResult": CLASS,
    "GatewayKitError": CLASS,
    "LabError": CLASS,
    "load": FUNCTION,
    "ManifestError": CLASS,
    "Miss": CLASS,
    "NotReadyError": CLASS,
    "open_lab": FUNCTION,
    "Request": CLASS,
    "Result": CLASS,
    "Sandbox": CLASS,
    "SandboxError": CLASS,
    "simulate": FUNCTION,
    "translate": FUNCTION,
    "validate": FUNCTION,
    "ValidationError": CLASS,
}


def _import_every_module() -> list[str]:
    names = [m.name for m in pkgutil.walk_packages(gatewaykit.__path__, "gatewaykit.")]
    for name in names:
        importlib.import_module(name)
    return names


def test_all_is_sorted_and_resolves() -> None:
    assert gatewaykit.__all__ == sorted(gatewaykit.__all__, key=str.casefold)
    for name in gatewaykit.__all__:
        assert getattr(gatewaykit, name) is not None, name


def test_all_is_complete() -> None:
    assert set(gatewaykit.__all__) == set(EXPECTED)


def test_public_names_keep_their_type_after_every_module_is_imported() -> None:
    modules = _import_every_module()
    assert "gatewaykit.backends.local" in modules and "gatewaykit._simulate" in modules
    for name, kind in EXPECTED.items():
        value = getattr(gatewaykit, name)
        assert isinstance(value, kind), f"gatewaykit.{name} is {value!r}, not a {kind.__name__}"


def test_no_package_exports_a_module_by_mistake() -> None:
    # In every package, a name in __all__ resolves to the object, never to a submodule.
    for name in _import_every_module():
        module = sys.modules[name]
        for public in getattr(module, "__all__", ()):
            value = getattr(module, public)
            assert not isinstance(value, types.ModuleType), f"{name}.{public} is a module"


def test_sandbox_import_first_then_simulate_is_the_function() -> None:
    # The order: Sandbox.local() imports gatewaykit.backends.local before anything else.
    code = textwrap.dedent(
        """
        import types
        import gatewaykit.backends.local
        from gatewaykit import analyze, simulate, translate
        import gatewaykit
        print(all(isinstance(f, types.FunctionType) for f in (analyze, simulate, translate)),
              isinstance(gatewaykit.simulate, types.FunctionType))
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "True"]


def test_sandbox_contract_names() -> None:
    # The Public API block: `from gatewaykit import Sandbox, ValidationError`.
    from gatewaykit import Sandbox, ValidationError

    assert callable(Sandbox.local) and callable(Sandbox.kind) and callable(Sandbox.connect)
    assert issubclass(ValidationError, gatewaykit.GatewayKitError)
