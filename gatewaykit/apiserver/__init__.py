"""The sandbox's Kubernetes API server: what the real ``kubectl`` talks to.

:class:`ApiServer` serves the Kubernetes REST API for one sandbox on 127.0.0.1 over HTTPS (its own
CA), requires the bearer token written into the sandbox's kubeconfig (mode 0600, in the sandbox's
private folder; ``~/.kube/config`` is never touched), and answers from the sandbox's one store: it
is a front to that store, never a second one. See ``docs/apiserver.md`` for what it implements and
what it refuses.

It runs on its own event-loop thread (aiohttp), so kubectl's requests never wait on the data
plane's loop; writes go through the sandbox's change path in worker threads.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import pathlib
import secrets
import threading
from typing import Any

import yaml
from aiohttp import web

from gatewaykit.apiserver._app import Api, ApiBackend, make_app
from gatewaykit.apiserver._exec import ExecPlan, ProxyAnswer
from gatewaykit.apiserver._portforward import PortTarget
from gatewaykit.apiserver._tls import make_serving_cert
from gatewaykit.errors import SandboxError

__all__ = ["ApiBackend", "ApiServer", "ExecPlan", "PortTarget", "ProxyAnswer"]

#: The kubeconfig's cluster, user and context name.
CONTEXT = "gatewaykit"


class ApiServer:
    """The API server of one sandbox.

    Args:
        backend: the sandbox (its store, change path, exec and logs).
        directory: the sandbox's private folder (0700): the kubeconfig, the serving key.
        version: the Kubernetes version to report (``/version``).
    """

    def __init__(self, backend: ApiBackend, directory: pathlib.Path, version: str) -> None:
        self.backend = backend
        self.directory = directory
        self.version = version
        self.kubeconfig = directory / "kubeconfig"
        self._token = secrets.token_urlsafe(32)
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._api: Api | None = None
        self.port = 0
        # The cluster CA exists before the server serves: namespaces carry it (kube-root-ca.crt).
        self._cert = make_serving_cert(self.directory / "pki")

    @property
    def ca_pem(self) -> bytes:
        """The cluster CA certificate (what ``kube-root-ca.crt`` and the kubeconfig carry)."""
        return self._cert.ca_pem

    @property
    def url(self) -> str:
        """``https://127.0.0.1:<port>``."""
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> ApiServer:
        """Bind 127.0.0.1 (a free port), start serving, and write the kubeconfig."""
        cert = self._cert
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(self._serve(cert.context))
            except BaseException as exc:  # noqa: BLE001 - reported to start()
                failure.append(exc)
                ready.set()
                return
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="gatewaykit-apiserver", daemon=True)
        self._thread.start()
        ready.wait(30)
        if failure:
            raise SandboxError(f"the sandbox's API server could not start: {failure[0]}") from failure[0]
        self._write_kubeconfig(cert.ca_pem)
        return self

    async def _serve(self, context: Any) -> None:
        self._api = Api(self.backend, f"127.0.0.1:{self.port}", self.version)
        self._runner = web.AppRunner(
            make_app(self._api, self._token), access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=context, backlog=128)
        await site.start()
        server = getattr(site, "_server", None)
        assert server is not None and server.sockets
        self.port = server.sockets[0].getsockname()[1]
        self._api.server_address = f"127.0.0.1:{self.port}"

    def _write_kubeconfig(self, ca_pem: bytes) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": CONTEXT,
                    "cluster": {
                        "server": self.url,
                        "certificate-authority-data": base64.b64encode(ca_pem).decode(),
                    },
                }
            ],
            "users": [{"name": CONTEXT, "user": {"token": self._token}}],
            "contexts": [
                {"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": "default"}}
            ],
            "current-context": CONTEXT,
            "preferences": {},
        }
        tmp = self.kubeconfig.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            yaml.safe_dump(config, f, sort_keys=False)
        os.replace(tmp, self.kubeconfig)

    def close(self) -> None:
        """End open watches, execs and port-forwards, stop serving, release the port; idempotent."""
        if self._thread is None:
            return
        loop, thread, self._thread = self._loop, self._thread, None

        async def stop() -> None:
            if self._api is not None:
                for task in [*self._api.watches, *self._api.forwards]:
                    task.cancel()
            if self._runner is not None:
                await self._runner.cleanup()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        if not thread.is_alive():
            loop.close()
