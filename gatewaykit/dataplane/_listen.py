"""Listening sockets that survive an exhausted file-descriptor table, and quiet loop errors.

``asyncio.start_server`` handles ``EMFILE`` ("Too many open files") on ``accept()`` by logging the
error with a traceback, pausing that one socket for a second and trying again -- for every port,
forever. At ``ulimit -n 1024`` with 1,100 held connections that printed two million lines of
stderr (a frozen notebook tab) while no port could serve anyway. Here:

* every listener of a data plane accepts through one :class:`AcceptGuard`: the first
  ``EMFILE``/``ENFILE``/``ENOBUFS``/``ENOMEM`` pauses *all* of them (what Envoy's overload manager
  does with ``stop_accepting_connections``), one line is logged, and a cheap probe resumes them
  as soon as descriptors are free again (connections wait in the kernel's backlog meanwhile);
* :class:`LoopErrors` is the loop's exception handler: the first error of each cause is logged in
  one line, repeats are counted and reported at most every 30 seconds.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

__all__ = ["AcceptGuard", "Listener", "LoopErrors"]

#: accept() errors that mean "no resources now", not "this socket is broken".
RESOURCE_ERRORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
#: Descriptors that must be free before accepting again: the connection and its upstream.
_HEADROOM = 4
_PROBE_INTERVAL = 0.05
_REPORT_INTERVAL = 30.0


class LoopErrors:
    """An event-loop exception handler that logs once per cause, then counts.

    A cause is the context's message plus the exception's type and errno. The first occurrence
    is logged as one line (no traceback: the message says what happened); later ones are
    counted and summarised at most every :data:`_REPORT_INTERVAL` seconds.
    """

    def __init__(self, logger: logging.Logger, interval: float = _REPORT_INTERVAL) -> None:
        self.log = logger
        self.interval = interval
        self.counts: dict[tuple[str, str, int | None], int] = {}
        self._reported: dict[tuple[str, str, int | None], float] = {}

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """Record one error the loop could not deliver anywhere else."""
        exc = context.get("exception")
        message = str(context.get("message") or "event loop error")
        key = (message, type(exc).__name__ if exc else "", getattr(exc, "errno", None))
        self.record(key, f"{message}: {exc!r}" if exc else message)

    def record(
        self, key: tuple[str, str, int | None], text: str, note: str = " (repeats are counted, not printed)"
    ) -> None:
        """Count one occurrence of ``key``; log it if it is new or the last report is old."""
        n = self.counts.get(key, 0) + 1
        self.counts[key] = n
        now = time.monotonic()
        last = self._reported.get(key)
        if last is None:
            self._reported[key] = now
            self.log.warning("%s%s", text, note)
        elif now - last >= self.interval:
            self._reported[key] = now
            self.log.warning("%s: %d times so far", text, n)


class AcceptGuard:
    """Pauses every listener of a data plane while descriptors are exhausted; resumes them."""

    def __init__(self, errors: LoopErrors) -> None:
        self.errors = errors
        self.listeners: set[Listener] = set()
        self.paused_at: float | None = None
        self.refused = 0

    def exhausted(self, exc: OSError) -> None:
        """An accept() failed for lack of resources: pause all listeners, probe for recovery."""
        self.refused += 1
        if self.paused_at is not None:
            return
        self.paused_at = time.monotonic()
        for listener in self.listeners:
            listener.pause()
        key = ("accept", type(exc).__name__, exc.errno)
        self.errors.record(
            key,
            f"accept(): {exc.strerror} [errno {exc.errno}]: every listener paused until descriptors are free",
        )
        asyncio.get_running_loop().call_later(_PROBE_INTERVAL, self._probe)

    def _probe(self) -> None:
        held: list[socket.socket] = []
        try:
            for _ in range(_HEADROOM):
                held.append(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        except OSError:
            asyncio.get_running_loop().call_later(_PROBE_INTERVAL, self._probe)
            return
        finally:
            for s in held:
                s.close()
        paused = time.monotonic() - (self.paused_at or time.monotonic())
        self.paused_at = None
        for listener in self.listeners:
            listener.resume()
        self.errors.record(
            ("accept resumed", "", None),
            f"accepting again after {paused:.2f} s "
            f"({self.refused} accept() calls refused for lack of descriptors)",
            note="",
        )
        self.refused = 0


class Listener:
    """One listening socket on 127.0.0.1 whose connections are accepted through the guard."""

    def __init__(
        self,
        sock: socket.socket,
        on_accept: Callable[[socket.socket], None],
        guard: AcceptGuard,
        backlog: int = 512,
    ) -> None:
        self.sock = sock
        self.on_accept = on_accept
        self.guard = guard
        self.backlog = backlog
        self.loop = asyncio.get_running_loop()
        self._reading = False
        guard.listeners.add(self)
        if guard.paused_at is None:
            self.resume()

    @classmethod
    def bind(
        cls, port: int, on_accept: Callable[[socket.socket], None], guard: AcceptGuard, backlog: int = 512
    ) -> Listener:
        """Bind 127.0.0.1:``port`` (0: any free port) and start accepting.

        Raises:
            OSError: the port cannot be bound.
        """
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP
        # (accepted sockets inherit it), and Envoy sets it on every connection.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if port:
                # A published port is held (bound, not listening) with SO_REUSEPORT by the sandbox's
                # node-port allocator from allocation to close: bind beside it, never in its place.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(("127.0.0.1", port))
            sock.listen(backlog)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return cls(sock, on_accept, guard, backlog)

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self.sock.getsockname()[1])

    def pause(self) -> None:
        """Stop accepting (connections wait in the kernel's backlog)."""
        if self._reading:
            self.loop.remove_reader(self.sock)
            self._reading = False

    def resume(self) -> None:
        """Accept again."""
        if not self._reading and self.sock.fileno() != -1:
            self.loop.add_reader(self.sock, self._ready)
            self._reading = True

    def close(self) -> None:
        """Stop accepting and close the socket."""
        self.pause()
        self.guard.listeners.discard(self)
        self.sock.close()

    def _ready(self) -> None:
        # Accept what is waiting, up to the backlog per wake-up (asyncio does the same).
        for _ in range(self.backlog):
            try:
                conn, _addr = self.sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                if exc.errno in RESOURCE_ERRORS:
                    self.guard.exhausted(exc)
                else:  # a broken listening socket: stop polling it rather than spin
                    self.guard.errors.record(("accept", type(exc).__name__, exc.errno), f"accept(): {exc!r}")
                    self.pause()
                return
            conn.setblocking(False)
            self.on_accept(conn)
