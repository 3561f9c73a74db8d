"""Node ports on 127.0.0.1, held from allocation until the sandbox closes.

A NodePort or LoadBalancer Service's ``nodePort`` is a real 127.0.0.1 port here, so the docs'
recipe (``export INGRESS_PORT=$(kubectl ... -o jsonpath='{...nodePort}')``) gives the port curl
must use. Picking a free port by binding port 0, closing and binding again later leaves a window in
which another process can take it. Instead each allocated port keeps a socket that is *bound but not
listening*, with ``SO_REUSEPORT``, for as long as the Service exists:

* nobody else can bind the port (a bind without ``SO_REUSEPORT``, or by another user, fails);
* while no listener serves it, a connection is refused (curl exit 7), exactly as a node port
  whose pod has no listener on the target port;
* the data plane binds its listener on the same port with ``SO_REUSEPORT`` when a gateway pod
  serves the Service, and the kernel hands connections only to listening sockets.

Allocation follows kube-apiserver's: a requested ``nodePort`` must be in 30000-32767 and free
(``provided port is already allocated``); otherwise a free one in the range is chosen.
"""

from __future__ import annotations

import errno
import random
import socket
import threading
from collections.abc import Iterable

from gatewaykit.kube.defaults import NODE_PORT_RANGE

__all__ = ["NodePorts", "hold_port"]


def hold_port(port: int) -> socket.socket | None:
    """Bind (without listening) 127.0.0.1:``port`` with SO_REUSEPORT, or None if it is taken."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        s.bind(("127.0.0.1", port))
    except OSError as exc:
        s.close()
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            return None
        raise
    if _someone_listens(port):
        # Another process of ours (same uid, SO_REUSEPORT) already serves this port.
        s.close()
        return None
    return s


def _someone_listens(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


class NodePorts:
    """The node-port allocator of one sandbox (``kube-apiserver --service-node-port-range``)."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._held: dict[int, socket.socket] = {}
        # (namespace, service, port index) -> node port
        self._owner: dict[tuple[str, str, int], int] = {}
        self._lock = threading.Lock()
        self._rng = rng or random.Random()

    def allocate(self, namespace: str, service: str, index: int, requested: int | None) -> int:
        """Reserve a node port for port ``index`` of a Service (the store's allocator).

        Raises:
            ValueError: with the API server's wording when the port cannot be had.
        """
        key = (namespace, service, index)
        low, high = NODE_PORT_RANGE
        with self._lock:
            current = self._owner.get(key)
            if requested is None and current is not None:
                return current
            if requested is not None:
                if not low <= requested <= high:
                    raise ValueError(
                        f"provided port is not in the valid range. The range of valid ports is {low}-{high}"
                    )
                if requested == current:
                    return requested
                # Held by another Service port, or taken by another program on this machine.
                if requested in self._held or not self._hold(requested):
                    raise ValueError("provided port is already allocated")
                self._owner[key] = requested
                return requested
            for port in self._rng.sample(range(low, high + 1), high - low + 1):
                if port not in self._held and self._hold(port):
                    self._owner[key] = port
                    return port
        raise ValueError("range is full")

    def _hold(self, port: int) -> bool:
        s = hold_port(port)
        if s is None:
            return False
        self._held[port] = s
        return True

    def owner_of(self, port: int) -> tuple[str, str, int] | None:
        """Which Service port holds ``port``."""
        with self._lock:
            return next((k for k, p in self._owner.items() if p == port), None)

    def keep(self, in_use: Iterable[int]) -> None:
        """Release every held port not in ``in_use`` (Services deleted, or a rejected change)."""
        used = set(in_use)
        with self._lock:
            for port in [p for p in self._held if p not in used]:
                self._held.pop(port).close()
            self._owner = {k: p for k, p in self._owner.items() if p in used}

    @property
    def held(self) -> frozenset[int]:
        """The ports held now."""
        with self._lock:
            return frozenset(self._held)

    def close(self) -> None:
        """Release every port."""
        self.keep(())
