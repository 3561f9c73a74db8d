"""Fixtures for the kit tests: a recording backend that runs the real curl binary.

The kit is written against the ``Backend`` protocol; these tests exercise the kit's own logic
(loader, state ledger, secrets, checks, widgets) with a backend that records what is applied and
runs real curl against a tiny local HTTP server. Istio behaviour itself is proven by the lead's
end-to-end run of every lab (``LabSession.verify()``) on the real sandbox.
"""

from __future__ import annotations

import http.server
import pathlib
import shutil
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import yaml

from gatewaykit.backends.base import ApplyReport, CurlResult
from gatewaykit.backends.curl import run_curl
from gatewaykit.errors import BackendError, ValidationError


class _Handler(http.server.BaseHTTPRequestHandler):
    """Answers like a gateway would for httpbin.example.com and 404s everything else."""

    protocol_version = "HTTP/1.1"

    def _answer(self, body: bool) -> None:
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        if host == "httpbin.example.com" and self.path.startswith("/status/"):
            code = int(self.path.rsplit("/", 1)[1])
            self.send_response(code)
            self.send_header("server", "istio-envoy")
            self.send_header("x-envoy-upstream-service-time", "3")
            self.send_header("content-length", "0")
            self.end_headers()
            return
        if host == "httpbin.example.com" and self.path == "/headers":
            data = b'{"headers": {"Host": "httpbin.example.com"}}'
            self.send_response(200)
            self.send_header("server", "istio-envoy")
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)
            return
        self.send_response(404)
        self.send_header("server", "istio-envoy")
        self.send_header("content-length", "0")
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._answer(True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(False)

    def log_message(self, *args: Any) -> None:
        pass


class RecordingBackend:
    """A Backend that records applied objects and runs real curl against a local HTTP server."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.applied: list[dict[str, Any]] = []
        self.deleted: list[tuple[str, str, str]] = []
        self.commands: list[str] = []

    @property
    def env(self) -> dict[str, str]:
        return {
            "INGRESS_HOST": "127.0.0.1",
            "INGRESS_PORT": str(self.port),
            "SECURE_INGRESS_PORT": "1",
            "TCP_INGRESS_PORT": "2",
        }

    @staticmethod
    def _docs(source: Any) -> list[dict[str, Any]]:
        if isinstance(source, Mapping):
            return [dict(source)]
        if isinstance(source, list):
            return [dict(d) for d in source]
        if isinstance(source, pathlib.Path):
            source = source.read_text()
        return [d for d in yaml.safe_load_all(source) if d]

    @staticmethod
    def _key(d: Mapping[str, Any]) -> tuple[str, str, str]:
        meta = d.get("metadata") or {}
        return (d["kind"], meta.get("namespace") or "default", meta["name"])

    def apply(self, source: Any) -> ApplyReport:
        docs = self._docs(source)
        for d in docs:
            if (d.get("metadata") or {}).get("annotations", {}).get("test/reject"):
                raise ValidationError(
                    'Error from server: error when creating "STDIN": admission webhook "validation.istio.io" '
                    "denied the request: configuration is invalid: gateway must have at least one server",
                    errors=["gateway must have at least one server"],
                )
        lines = []
        for d in docs:
            key = self._key(d)
            verb = "configured" if key in self.objects else "created"
            self.objects[key] = d
            self.applied.append(d)
            lines.append(f"{d['kind'].lower()}/{key[2]} {verb}")
        return ApplyReport(lines=tuple(lines))

    def delete(self, source: Any) -> ApplyReport:
        lines = []
        for d in self._docs(source):
            key = self._key(d)
            if key not in self.objects:
                raise BackendError(f'Error from server (NotFound): {key[0].lower()} "{key[2]}" not found')
            del self.objects[key]
            self.deleted.append(key)
            lines.append(f'{key[0].lower()} "{key[2]}" deleted')
        return ApplyReport(lines=tuple(lines))

    def curl(self, command: str, source: str | None = None, timeout: float = 30.0) -> CurlResult:
        self.commands.append(command)
        return run_curl(command, env=self.env, timeout=timeout)

    def logs(self, workload: str) -> str:
        return '[2026-01-01T00:00:00.000Z] "GET /status/200 HTTP/1.1" 200 - via_upstream - "-" 0 0 3 2 "-"\n'

    def service_address(self, namespace: str, name: str, port: int) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def close(self) -> None:
        pass


@pytest.fixture(scope="session")
def http_port() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture(scope="session")
def cert_dir(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """The docs' certificates, generated once (RSA key generation is the slow part)."""
    from gatewaykit.certs import istio_docs_certs

    d = tmp_path_factory.mktemp("certs")
    istio_docs_certs(d)
    (d / ".certificates").write_text("test\n")
    return d


@pytest.fixture
def work_dir(tmp_path: pathlib.Path, cert_dir: pathlib.Path) -> pathlib.Path:
    """A lab work dir that already holds the certificates (as after a first open_lab)."""
    d = tmp_path / "work"
    shutil.copytree(cert_dir, d)
    return d


@pytest.fixture
def backend(http_port: int) -> RecordingBackend:
    return RecordingBackend(http_port)
