"""Stand-ins for the sample images: httpbin, helloworld, tcp-echo and the curl/sleep client.

Each ``start_*`` function takes a :class:`~gatewaykit.workloads.base.WorkloadSpec` and returns a
:class:`~gatewaykit.workloads.base.RunningWorkload` with one 127.0.0.1 port per port the image listens on.
"""

from __future__ import annotations

import math
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from gatewaykit.workloads.base import (
    LogBuffer,
    RunningWorkload,
    ServerHandle,
    ThreadedTCPServer,
    TrackedServerMixin,
    WorkloadSpec,
)

__all__ = [
    "httpbin_app",
    "preload",
    "start_client",
    "start_helloworld",
    "start_httpbin",
    "start_tcp_echo",
]


# --------------------------------------------------------------------------- WSGI serving


class _WSGIServer(TrackedServerMixin, ThreadedWSGIServer):
    """werkzeug's threaded server, bound to 127.0.0.1, with a close() that joins its threads."""

    daemon_threads = False
    block_on_close = True
    request_queue_size = 1024  # 200 simultaneous connections must all be accepted

    def __init__(self, app: Callable[..., Iterable[bytes]], handler: type[WSGIRequestHandler]) -> None:
        self._init_tracking()
        super().__init__("127.0.0.1", 0, app, handler)


def _handler_class(server_header: str | None, log: LogBuffer) -> type[WSGIRequestHandler]:
    class Handler(WSGIRequestHandler):
        """Request logging off; the ``Server`` header the real image's server sends (or none)."""

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            pass

        def log_error(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
            log.write(format % args)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def version_string(self) -> str:
            return server_header or ""

        def make_environ(self) -> dict[str, Any]:
            environ = super().make_environ()
            # The kong/kennethreitz images serve httpbin with gunicorn; httpbin accepts chunked
            # request bodies only under gunicorn (httpbin/core.py before_request, else 501).
            # werkzeug de-chunks the body itself and sets wsgi.input_terminated.
            if server_header and server_header.lower().startswith("gunicorn/"):
                environ["SERVER_SOFTWARE"] = server_header
            return environ

        def send_header(self, keyword: str, value: str) -> None:
            if keyword.lower() == "server" and not server_header:
                return  # no Server header unless the image's server sends one
            super().send_header(keyword, value)

    return Handler


def _serve_wsgi(
    spec: WorkloadSpec,
    kind: str,
    app: Callable[..., Iterable[bytes]],
    ports: Iterable[int],
    server_header: str | None,
    log: LogBuffer,
) -> RunningWorkload:
    handler = _handler_class(server_header, log)
    servers: dict[int, ServerHandle] = {}
    try:
        for cp in ports:
            servers[cp] = ServerHandle(_WSGIServer(app, handler), f"{kind}:{spec.pod_name}:{cp}")
    except BaseException:
        for h in servers.values():
            h.close()
        raise
    return RunningWorkload(spec, kind=kind, servers=servers, log=log)


# --------------------------------------------------------------------------- httpbin


def httpbin_app() -> Callable[..., Iterable[bytes]]:
    """Import and return the real httpbin WSGI app (``httpbin.app``).

    httpbin imports flasgger -> jsonschema, whose optional ``rfc3987_syntax`` format checker builds a
    grammar at import time (~0.7 s of the ~0.9 s). httpbin never validates IRIs, so unless something
    imported it already, it is hidden from jsonschema for this import (jsonschema treats it as
    absent, its documented behaviour for optional format checkers).
    """
    import sys

    if (
        "httpbin" not in sys.modules
        and "rfc3987_syntax" not in sys.modules
        and "jsonschema" not in sys.modules
    ):
        sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]
        try:
            from httpbin import app
        finally:
            del sys.modules["rfc3987_syntax"]
    else:
        from httpbin import app
    return app  # type: ignore[no-any-return]


def preload() -> threading.Thread:
    """Import httpbin in a background thread so the first httpbin pod starts instantly.

    Returns:
        The (daemon) thread doing the import; join it to wait.
    """
    t = threading.Thread(target=httpbin_app, name="gatewaykit-preload-httpbin", daemon=True)
    t.start()
    return t


def start_httpbin(spec: WorkloadSpec) -> RunningWorkload:
    """Serve the real ``httpbin`` Flask app on every declared containerPort.

    kong/kennethreitz images run httpbin under gunicorn 19.9.0 on port 80 -- whatever the
    containerPorts say is used. (``mccutchen/go-httpbin`` has its own stand-in, :mod:`.gohttpbin`.)

    Args:
        spec: the container.

    Returns:
        The running workload.
    """
    app = httpbin_app()  # imported lazily: Flask + flasgger take a moment to import
    log = LogBuffer()
    ports = spec.ports or (80,)
    log.write("[INFO] Starting gunicorn 19.9.0")
    for p in ports:
        log.write(f"[INFO] Listening at: http://0.0.0.0:{p}")
    return _serve_wsgi(spec, "httpbin", app, ports, "gunicorn/19.9.0", log)


# --------------------------------------------------------------------------- helloworld


def helloworld_version(spec: WorkloadSpec) -> str:
    """The version helloworld reports: ``SERVICE_VERSION`` env, else the image's ``-v1``/``-v2`` suffix.

    The image bakes ``ENV SERVICE_VERSION`` from its build arg (samples/helloworld/src/Dockerfile).
    """
    if "SERVICE_VERSION" in spec.env:
        return spec.env["SERVICE_VERSION"]
    name = spec.image.split("@")[0].rsplit("/", 1)[-1].split(":")[0]
    suffix = name.rsplit("-", 1)[-1]
    return suffix if suffix.startswith("v") else "v1"


def start_helloworld(spec: WorkloadSpec) -> RunningWorkload:
    """Serve Istio's helloworld sample: ``GET /hello`` -> ``Hello version: v1, instance: <pod>\\n``.

    Mirrors samples/helloworld/src/app.py (docs/behaviour.md §16): the instance is the pod's HOSTNAME (its
    name), ``/health`` answers ``Helloworld is healthy``; Flask's ``text/html; charset=utf-8``.

    Args:
        spec: the container.

    Returns:
        The running workload.
    """
    version = helloworld_version(spec)
    hostname = spec.env.get("HOSTNAME", spec.pod_name)
    log = LogBuffer()
    log.write("[INFO] Starting gunicorn")
    for p in spec.ports or (5000,):
        log.write(f"[INFO] Listening at: http://[::]:{p}")

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/hello":
            # app.py burns CPU (a million sqrt) to make autoscaling visible; a token loop keeps the
            # "work" without costing a learner's laptop 100 ms per request.
            x = 0.0001
            for _ in range(1000):
                x = x + math.sqrt(x)
            body = f"Hello version: {version}, instance: {hostname}\n".encode()
            status = "200 OK"
        elif path == "/health":
            body, status = b"Helloworld is healthy", "200 OK"
        else:
            body = (
                b"<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n"
                b"<p>The requested URL was not found on the server. If you entered the URL manually "
                b"please check your spelling and try again.</p>\n"
            )
            status = "404 NOT FOUND"
        start_response(
            status, [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))]
        )
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]

    return _serve_wsgi(spec, "helloworld", app, spec.ports or (5000,), "gunicorn", log)


# --------------------------------------------------------------------------- tcp-echo


def start_tcp_echo(spec: WorkloadSpec) -> RunningWorkload:
    """Run Istio's tcp-echo server: listen on the ports of ``args[0]``, echo lines prefixed by ``args[1]``.

    Mirrors samples/tcp-echo/src/main.go: each line read up to ``\\n`` is answered with
    ``"<prefix> <line>"``; a final partial line without ``\\n`` is dropped (``ReadBytes`` returns EOF).
    The log has main.go's ``listening on``/``request:``/``response:`` lines.

    Args:
        spec: the container; ``args`` like ``("9000,9001,9002", "one")`` (command may carry them too).

    Returns:
        The running workload; ``ports`` has every port of ``args[0]``, or CrashLoopBackOff when the
        args are missing or a port is not a number (the Go program panics / exits 1).
    """
    argv = [a for a in (*spec.command, *spec.args) if not a.startswith("/") and a != "tcp-echo"]
    log = LogBuffer()
    if len(argv) < 2:
        msg = f"panic: runtime error: index out of range [{len(argv) + 1}] with length {len(argv) + 1}"
        log.write(msg)
        return RunningWorkload(spec, kind="tcp-echo", status="CrashLoopBackOff", message=msg, log=log)
    port_list, prefix = argv[0].split(","), argv[1]
    if not all(p.strip().isdigit() for p in port_list):
        msg = f"failed to create listener, err: listen tcp: address {argv[0]}: invalid port"
        log.write(msg)
        return RunningWorkload(spec, kind="tcp-echo", status="CrashLoopBackOff", message=msg, log=log)

    def handle(conn: socket.socket, _addr: Any) -> None:
        buf = b""
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return  # EOF: a partial line is dropped, as bufio.ReadBytes returns io.EOF
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                line += b"\n"
                reply = prefix.encode() + b" " + line
                log.write(f"request: {line.decode('utf-8', 'replace')}")
                log.write(f"response: {reply.decode('utf-8', 'replace')}")
                try:
                    conn.sendall(reply)
                except OSError:
                    return

    servers: dict[int, ServerHandle] = {}
    for p in port_list:
        cp = int(p)
        servers[cp] = ServerHandle(ThreadedTCPServer(0, handle), f"tcp-echo:{spec.pod_name}:{cp}")
        log.write(f"listening on [::]:{cp}, prefix: {prefix}")
    return RunningWorkload(spec, kind="tcp-echo", servers=servers, log=log)


# --------------------------------------------------------------------------- curl / sleep client


def start_client(spec: WorkloadSpec) -> RunningWorkload:
    """Start a client pod (``curlimages/curl``, ``sleep``): Running, serving nothing.

    Args:
        spec: the container.

    Returns:
        The running workload; declared containerPorts map to ports that refuse connections.
    """
    # Declared containerPorts get refusing ports from RunningWorkload (nothing listens in the pod).
    return RunningWorkload(spec, kind="client", log=LogBuffer())
