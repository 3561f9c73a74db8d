"""``Sandbox``: the one entry point to every backend.

>>> with Sandbox.local() as sb:                       # doctest: +SKIP
...     sb.apply("httpbin-gateway.yaml")
...     sb.curl('curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/status/200"')

``Sandbox.local()`` is the embedded sandbox (no Docker, starts in about a second);
``Sandbox.kind()`` starts (or reuses) a kind cluster with Istio; ``Sandbox.connect()`` attaches to a
cluster that already runs Istio. All three implement :class:`gatewaykit.backends.base.Backend`.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

from gatewaykit.backends.base import Backend

__all__ = ["Sandbox", "backend_from_env"]


class Sandbox:
    """Factory for backends; every method returns an object implementing ``Backend``."""

    @staticmethod
    def local(work_dir: str | os.PathLike[str] | None = None, **kwargs: Any) -> Any:
        """Start the embedded local sandbox.

        Args:
            work_dir: where applied manifests, generated keys (mode 0600) and logs live; a
                restarted sandbox on the same work dir restores the applied manifests. Default:
                a fresh private temporary directory.
            **kwargs: passed to :class:`gatewaykit.backends.local.LocalSandbox`.
        """
        from gatewaykit.backends.local import LocalSandbox

        return LocalSandbox(pathlib.Path(work_dir) if work_dir else None, **kwargs)

    @staticmethod
    def kind(**kwargs: Any) -> Any:
        """Start or reuse a kind cluster with Istio (needs Docker and the pinned images)."""
        from gatewaykit.backends.kind import KindSandbox

        return KindSandbox(**kwargs)

    @staticmethod
    def connect(kubeconfig: str | None = None, context: str | None = None, **kwargs: Any) -> Any:
        """Attach to a cluster that already runs Istio (a workshop's shared cluster)."""
        from gatewaykit.backends.connect import ConnectedSandbox

        return ConnectedSandbox(kubeconfig=kubeconfig, context=context, **kwargs)


def backend_from_env(work_dir: str | os.PathLike[str] | None = None) -> Backend:
    """Start the backend named by ``GATEWAYKIT_BACKEND`` (``local`` (default), ``kind``, ``connect``)."""
    name = os.environ.get("GATEWAYKIT_BACKEND", "local").strip().lower() or "local"
    if name == "local":
        return Sandbox.local(work_dir)
    if name == "kind":
        return Sandbox.kind()
    if name in ("connect", "cluster", "byo"):
        return Sandbox.connect(os.environ.get("KUBECONFIG"), os.environ.get("GATEWAYKIT_CONTEXT"))
    from gatewaykit.errors import BackendError

    raise BackendError(f"GATEWAYKIT_BACKEND={name!r} is not a backend: use local, kind or connect")
