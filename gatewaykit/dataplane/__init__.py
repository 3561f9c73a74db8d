"""The data plane: real TCP, TLS, HTTP/1.1 and HTTP/2 on 127.0.0.1 executing ProxyConfigs.

Public names:

* :class:`DataPlane` -- runs every proxy's listeners on an event-loop thread;
  ``update(proxies)`` swaps configuration atomically and returns the
  ``(proxy_id, listener_port) → real port`` mapping; ``logs(proxy_id)`` is the Envoy access log.
* :class:`AddressBook` -- where pod/external addresses (``10.244.0.7:8080``) really listen.
* :class:`MeshCA` -- the mesh's CA for ISTIO_MUTUAL workload certificates.
* :func:`reason_phrase` -- Envoy's HTTP reason phrases (``418 Unknown``).
"""

from __future__ import annotations

from gatewaykit.dataplane._addresses import AddressBook
from gatewaykit.dataplane._codes import reason_phrase
from gatewaykit.dataplane._tls import MeshCA
from gatewaykit.dataplane.plane import DataPlane, ListenerKey, RequestCallback

__all__ = ["AddressBook", "DataPlane", "ListenerKey", "MeshCA", "RequestCallback", "reason_phrase"]
