"""gatewaykit: an interactive teaching kit for Istio gateways.

Edit real Istio manifests, apply them, and see live curl results through an ingress or egress
gateway -- on an embedded local sandbox (default) or a real kind cluster.

Public API::

    from gatewaykit import Sandbox, ValidationError

    with Sandbox.local() as sb:
        print(sb.apply("gateway.yaml"))
        r = sb.curl('curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/status/200"')

The pure core (``load``, ``validate``, ``ConfigStore``, ``translate``, ``simulate``, ``analyze``) is
importable without any I/O library; the heavier parts are imported lazily on first use.
"""

from __future__ import annotations

from typing import Any

from gatewaykit.errors import (
    BackendError,
    ClusterError,
    GatewayKitError,
    LabError,
    ManifestError,
    NotReadyError,
    SandboxError,
    ValidationError,
)

__version__ = "0.1.0"

# name -> module that defines it; imported on first access (keeps `import gatewaykit` light and
# the pure core free of asyncio/ssl until a sandbox is actually started).
_LAZY = {
    "Sandbox": "gatewaykit.sandbox",
    "backend_from_env": "gatewaykit.sandbox",
    "ApplyReport": "gatewaykit.backends.base",
    "Backend": "gatewaykit.backends.base",
    "CurlResult": "gatewaykit.backends.base",
    "load": "gatewaykit.resources.codecs",
    "validate": "gatewaykit.resources.validation",
    "ConfigStore": "gatewaykit.store",
    "translate": "gatewaykit._translate",
    "simulate": "gatewaykit._simulate",
    "Request": "gatewaykit._simulate",
    "Result": "gatewaykit._simulate",
    "Miss": "gatewaykit._simulate",
    "analyze": "gatewaykit._analyze",
    "open_lab": "gatewaykit.kit",
}

__all__ = [
    "analyze",
    "ApplyReport",
    "Backend",
    "backend_from_env",
    "BackendError",
    "ClusterError",
    "ConfigStore",
    "CurlResult",
    "GatewayKitError",
    "LabError",
    "load",
    "ManifestError",
    "Miss",
    "NotReadyError",
    "open_lab",
    "Request",
    "Result",
    "Sandbox",
    "SandboxError",
    "simulate",
    "translate",
    "validate",
    "ValidationError",
]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext gatewaykit``: the ``%%gatewaykit`` cell magic (bash against the sandbox)."""
    from gatewaykit.kit.magic import load_ipython_extension as load

    load(ipython)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gatewaykit' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
