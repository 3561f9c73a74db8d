"""Where mesh addresses really listen: pod IPs and external hosts mapped to 127.0.0.1 ports.

The translation knows pod IPs (``10.244.0.7``), Service ports and external host names; the
sandbox starts each workload and proxy listener on a free loopback port and records it here, and
which pod ports a sidecar captures (iptables' inbound redirect).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

__all__ = ["AddressBook"]


class AddressBook:
    """Maps mesh addresses (``10.244.0.7:8080``, ``httpbin.org:80``) to real 127.0.0.1 ports.

    The core only knows pod IPs and Service ports; the sandbox starts each workload on a
    free loopback port and records it here. Thread-safe.
    """

    def __init__(self, entries: Mapping[str, tuple[str, int]] | None = None) -> None:
        self._lock = threading.Lock()
        self._map: dict[str, tuple[str, int]] = dict(entries or {})
        self._capture: dict[str, tuple[str, int]] = {}

    @staticmethod
    def _key(address: str, port: int | None) -> str:
        return address if port is None else f"{address}:{port}"

    def add(self, address: str, port: int, real: tuple[str, int] | int) -> None:
        """Record that ``address:port`` is served at ``real`` (a port on 127.0.0.1, or host/port).

        Args:
            address: pod IP or external host name, e.g. ``10.244.0.7``.
            port: the port on that address, e.g. ``8080``.
            real: ``("127.0.0.1", 43210)`` or just ``43210``.
        """
        target = ("127.0.0.1", real) if isinstance(real, int) else real
        with self._lock:
            self._map[self._key(address, port)] = target

    def remove(self, address: str, port: int) -> None:
        """Forget ``address:port`` (connections to it are then refused)."""
        with self._lock:
            self._map.pop(self._key(address, port), None)
            self._capture.pop(self._key(address, port), None)

    def add_capture(self, address: str, port: int, real: tuple[str, int] | int) -> None:
        """Record that a sidecar intercepts connections to ``address:port`` (a pod's own port).

        iptables in an injected pod redirects inbound connections to its sidecar (15006);
        only the sidecar's own ``inbound|<port>||`` cluster reaches the application directly.

        Args:
            address: the pod IP.
            port: the container port.
            real: where the sidecar's inbound side for that port listens.
        """
        target = ("127.0.0.1", real) if isinstance(real, int) else real
        with self._lock:
            self._capture[self._key(address, port)] = target

    def resolve(self, address: str, port: int, *, captured: bool = False) -> tuple[str, int] | None:
        """Return the real ``(host, port)`` for ``address:port``, or None if nothing serves it.

        Args:
            address: pod IP, Service/ServiceEntry address or host name.
            port: the port.
            captured: the connection is subject to the destination pod's iptables capture (it
                comes from another pod's proxy, not from the pod's own sidecar inbound cluster).
        """
        key = self._key(address, port)
        with self._lock:
            if captured and key in self._capture:
                return self._capture[key]
            return self._map.get(key)

    def is_captured(self, address: str, port: int) -> bool:
        """Whether a sidecar captures ``address:port`` (the pod behind it has a sidecar).

        Istio's auto mTLS keys on the same fact (the endpoint's ``istio.io/tls-mode`` label):
        a proxy then speaks ISTIO_MUTUAL to it.

        Args:
            address: the pod IP.
            port: the container port.
        """
        with self._lock:
            return self._key(address, port) in self._capture

    def items(self) -> list[tuple[str, tuple[str, int]]]:
        """Return a snapshot of all entries (``"10.244.0.7:8080"`` → ``("127.0.0.1", port)``)."""
        with self._lock:
            return list(self._map.items())
