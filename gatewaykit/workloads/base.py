"""Workloads: what a pod's container image does, played locally on 127.0.0.1.

A Deployment names container images; the sandbox cannot run containers, so each supported image has a
*stand-in* here that serves what the image serves (the real httpbin app, Istio's helloworld and tcp-echo
samples, an nginx configured by its mounted ``nginx.conf``, a curl client pod). This module holds the
contract every stand-in shares:

* :class:`WorkloadSpec` -- what the sandbox knows about one container of one pod (from the Deployment's
  pod template, with Secret/ConfigMap volumes already materialised into ``files``);
* :class:`RunningWorkload` -- the started stand-in: the real 127.0.0.1 port of each ``containerPort``,
  a Kubernetes-like ``status`` (``Running`` / ``ErrImagePull`` / ``CrashLoopBackOff``), its container
  log and ``close()``.

Servers are threaded (one thread per connection, like the images' own servers) and every thread and
socket they create is released by ``close()``. No server has a thread of its own while idle: one
thread, :data:`ACCEPTOR`, waits on every listening socket at once and accepts connections as they
arrive (a selector, no polling), so a hundred replicas cost a hundred listening sockets, not a
hundred threads waking every few milliseconds.
"""

from __future__ import annotations

import collections
import pathlib
import selectors
import socket
import socketserver
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["LogBuffer", "RunningWorkload", "WorkloadSpec", "WorkloadStatus"]

WorkloadStatus = Literal["Running", "ErrImagePull", "InvalidImageName", "CrashLoopBackOff"]


@dataclass(frozen=True, slots=True)
class WorkloadSpec:
    """One container of one pod, as the sandbox hands it to :func:`start_workload`.

    Attributes:
        pod_name: the pod's name (``helloworld-v1-5b4f8d9c7d-x2k4q``); helloworld prints it as the
            instance (it is the pod's ``HOSTNAME``).
        namespace: the pod's namespace.
        image: the container ``image`` exactly as written in the Deployment.
        command: the container ``command`` (entrypoint override), if any.
        args: the container ``args`` (tcp-echo reads its ports and prefix from here).
        ports: the declared ``containerPort`` values, in order.
        env: the container environment (``env`` name/value pairs).
        files: mounted volume files, ``"<mountPath>/<file name>"`` -> content
            (e.g. ``"/etc/nginx/nginx.conf"``); the sandbox materialises Secret and ConfigMap volumes.
        work_dir: a private directory the workload may write into (key files are written mode 0600);
            ``None`` means a temporary directory is not needed.
    """

    pod_name: str
    namespace: str
    image: str
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, bytes] = field(default_factory=dict)
    work_dir: pathlib.Path | None = None


class LogBuffer:
    """A bounded, thread-safe container log (what ``kubectl logs`` would show)."""

    def __init__(self, max_lines: int = 2000) -> None:
        """Create an empty log keeping at most ``max_lines`` lines."""
        self._lines: collections.deque[str] = collections.deque(maxlen=max_lines)
        self._lock = threading.Lock()

    def write(self, line: str) -> None:
        """Append one line (a trailing newline is optional)."""
        with self._lock:
            self._lines.append(line.rstrip("\n"))

    def text(self) -> str:
        """Return the whole log, one line per line, newline-terminated."""
        with self._lock:
            return "".join(f"{line}\n" for line in self._lines)


class TrackedServerMixin:
    """For ``socketserver`` threading servers: remember open connections so ``close()`` can end them.

    ``ThreadingMixIn`` with ``daemon_threads = False`` joins its handler threads in ``server_close()``;
    a keep-alive client would keep a handler thread blocked in ``recv`` forever, so before joining we
    shut every open connection down (the handler then sees EOF and returns).
    """

    _conns: set[socket.socket]
    _conns_lock: threading.Lock

    def _init_tracking(self) -> None:
        self._conns = set()
        self._conns_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:  # noqa: D102 (socketserver API)
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)  # type: ignore[misc]

    def shutdown_request(self, request: Any) -> None:  # noqa: D102 (socketserver API)
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)  # type: ignore[misc]

    def close_connections(self) -> None:
        """Shut down every connection still open (handlers see EOF and finish)."""
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class ThreadedTCPServer(TrackedServerMixin, socketserver.ThreadingMixIn, socketserver.TCPServer):
    """A threaded TCP server on 127.0.0.1 whose ``close`` really frees threads and the port.

    Args:
        port: the port to bind (0 = a free one).
        handle: called as ``handle(conn, client_address)`` in a thread per connection; the
            connection is closed after it returns.
    """

    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True
    # Istio's robustness tests open 200 connections at once; socketserver's default backlog is 5.
    request_queue_size = 1024

    def __init__(self, port: int, handle: Callable[[socket.socket, Any], None]) -> None:
        """Bind ``127.0.0.1:port``; call :meth:`start` to serve."""
        self._init_tracking()
        self._handle = handle
        super().__init__(("127.0.0.1", port), socketserver.BaseRequestHandler)

    def finish_request(self, request: Any, client_address: Any) -> None:  # noqa: D102
        self._handle(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:  # noqa: D102
        pass  # a client that vanished mid-stream is not the server's error


class Acceptor:
    """One thread accepting connections for every stand-in server (``socketserver`` servers).

    A listening socket is registered with a selector; when it is readable the thread accepts one
    connection and hands it to the server's ``process_request`` (a thread per connection, as
    ``ThreadingMixIn`` does). Registrations are applied by the thread itself, and
    :meth:`remove` returns once the thread will not touch the server again. The thread exists
    only while a server is registered.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._servers: set[socketserver.BaseServer] = set()
        self._changes: list[tuple[bool, socketserver.BaseServer, threading.Event]] = []
        self._thread: threading.Thread | None = None
        self._wake: socket.socket | None = None

    @property
    def thread(self) -> threading.Thread | None:
        """The accepting thread, while any server is registered."""
        return self._thread

    def add(self, server: socketserver.BaseServer) -> None:
        """Start accepting ``server``'s connections (returns once they are)."""
        server.socket.setblocking(False)  # type: ignore[attr-defined]
        self._change(True, server)

    def remove(self, server: socketserver.BaseServer) -> None:
        """Stop accepting ``server``'s connections; no accept happens for it after this returns."""
        self._change(False, server)

    def _change(self, add: bool, server: socketserver.BaseServer) -> None:
        done = threading.Event()
        with self._lock:
            if not add and server not in self._servers:
                return
            (self._servers.add if add else self._servers.discard)(server)
            self._changes.append((add, server, done))
            if self._thread is None:
                receive, self._wake = socket.socketpair()
                self._thread = threading.Thread(
                    target=self._run, args=(receive,), name="gatewaykit-workloads-accept", daemon=True
                )
                self._thread.start()
            else:
                self._poke()
            thread = self._thread
        done.wait()
        with self._lock:
            exiting = self._thread is not thread
        if exiting and thread is not None:
            thread.join()  # the last server went away: the thread is gone when close() returns

    def _poke(self) -> None:
        try:
            assert self._wake is not None
            self._wake.send(b"\0")
        except (BlockingIOError, OSError):
            pass  # the thread is awake already (full buffer) or gone (it drains changes first)

    def _apply(self, selector: selectors.BaseSelector) -> bool:
        """Apply pending registrations (loop thread); False when the last server is gone."""
        with self._lock:
            for add, server, done in self._changes:
                sock = server.socket  # type: ignore[attr-defined]
                if add:
                    selector.register(sock, selectors.EVENT_READ, server)
                elif sock.fileno() >= 0 and sock in selector.get_map():  # type: ignore[operator]
                    selector.unregister(sock)
                done.set()
            self._changes.clear()
            if self._servers:
                return True
            assert self._wake is not None
            self._wake.close()
            self._thread = self._wake = None
            return False

    def _run(self, receive: socket.socket) -> None:
        selector = selectors.DefaultSelector()
        selector.register(receive, selectors.EVENT_READ, None)
        try:
            while self._apply(selector):
                for key, _ in selector.select():
                    if key.data is None:
                        receive.recv(4096)
                    else:
                        _accept(key.data)
        finally:
            selector.close()
            receive.close()


def _accept(server: socketserver.BaseServer) -> None:
    """What ``socketserver``'s ``_handle_request_noblock`` does, on a non-blocking socket."""
    try:
        request, address = server.socket.accept()  # type: ignore[attr-defined]
    except OSError:  # nothing to accept after all (the client went away), or the server closed
        return
    request.setblocking(True)
    if not server.verify_request(request, address):
        server.shutdown_request(request)  # type: ignore[attr-defined]
        return
    try:
        server.process_request(request, address)
    except Exception:
        server.handle_error(request, address)
        server.shutdown_request(request)  # type: ignore[attr-defined]


#: The one accepting thread of every stand-in server in this process.
ACCEPTOR = Acceptor()


class ServerHandle:
    """A serving socketserver, its connections accepted by :data:`ACCEPTOR`."""

    def __init__(self, server: socketserver.BaseServer, name: str) -> None:
        """Start accepting ``server``'s connections (``name`` is for diagnostics)."""
        self.server = server
        self.name = name
        self.thread: threading.Thread | None = None  # no thread of its own
        ACCEPTOR.add(server)

    @property
    def port(self) -> int:
        """The real 127.0.0.1 port the server listens on."""
        return int(self.server.server_address[1])  # type: ignore[index]

    def close(self) -> None:
        """Stop accepting, end open connections, join every handler thread, free the port."""
        ACCEPTOR.remove(self.server)
        if isinstance(self.server, TrackedServerMixin):
            self.server.close_connections()
        self.server.server_close()


class ClosedPort:
    """A port reserved for a declared containerPort nobody listens on: connects are refused.

    The sleep/curl pod runs ``sleep infinity``; a port declared in its spec has no listener, so a
    connection to it is refused (RST), as it is in the pod. Binding without ``listen()`` reserves
    the number and gives exactly that.
    """

    def __init__(self, name: str) -> None:
        """Reserve a free 127.0.0.1 port (``name`` is for diagnostics)."""
        self.name = name
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port = int(self._sock.getsockname()[1])
        self.thread: threading.Thread | None = None  # nothing runs

    def close(self) -> None:
        """Release the port."""
        self._sock.close()


class RunningWorkload:
    """A started workload stand-in.

    Attributes:
        spec: what was started.
        ports: ``containerPort`` -> real ``127.0.0.1`` port (empty when the pod serves nothing).
        status: ``"Running"``, or why it is not (``"ErrImagePull"``, ``"CrashLoopBackOff"``).
        message: for a non-running status, the reason a learner would see in ``kubectl describe pod``.
        kind: which stand-in serves it (``"go-httpbin"``, ``"httpbin"``, ``"helloworld"``, ``"tcp-echo"``,
            ``"nginx"``, ``"client"``), or ``None`` for an unsupported image.
    """

    def __init__(
        self,
        spec: WorkloadSpec,
        *,
        kind: str | None,
        status: WorkloadStatus = "Running",
        message: str = "",
        servers: Mapping[int, ServerHandle | ClosedPort] | None = None,
        log: LogBuffer | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        """Wrap started servers (keyed by containerPort) in a workload; see :func:`start_workload`."""
        self.spec = spec
        self.kind = kind
        self.status: WorkloadStatus = status
        self.message = message
        self._servers: dict[int, ServerHandle | ClosedPort] = dict(servers or {})
        if status == "Running":
            # A declared containerPort the process does not listen on refuses connections in the pod
            # (Envoy then reports 503 UF); reserve such a port so the sandbox can route to it.
            for cp in spec.ports:
                if cp not in self._servers:
                    self._servers[cp] = ClosedPort(f"{spec.pod_name}:{cp}")
        self.ports: Mapping[int, int] = {cp: h.port for cp, h in self._servers.items()}
        self._log = log or LogBuffer()
        self._on_close = on_close
        self._closed = False

    @property
    def running(self) -> bool:
        """True when the status is ``Running`` and the workload has not been closed."""
        return self.status == "Running" and not self._closed

    @property
    def threads(self) -> tuple[threading.Thread, ...]:
        """Threads of this workload's own (none: :data:`ACCEPTOR` accepts for every server)."""
        return tuple(h.thread for h in self._servers.values() if h.thread is not None)

    def logs(self) -> str:
        """Return the container log so far (what ``kubectl logs <pod>`` prints)."""
        return self._log.text()

    def close(self) -> None:
        """Stop every server and thread of this workload and free its ports (idempotent)."""
        if self._closed:
            return
        self._closed = True
        for handle in self._servers.values():
            handle.close()
        if self._on_close is not None:
            self._on_close()

    def __enter__(self) -> RunningWorkload:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"RunningWorkload({self.spec.namespace}/{self.spec.pod_name}, image={self.spec.image!r}, "
            f"status={self.status!r}, ports={dict(self.ports)!r})"
        )
