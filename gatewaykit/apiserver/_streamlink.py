"""The upgrade a ``kubectl port-forward`` request asks for, and the byte link it leaves.

kubectl (client-go ``tools/portforward/tunneling_dialer.go``, since 1.31) first sends a WebSocket
request whose subprotocol is ``SPDY/3.1+portforward.k8s.io``; kube-apiserver's tunneling handler
(``k8s.io/apiserver/pkg/util/proxy/streamtunnel.go``) then relays the SPDY bytes inside binary
messages, message boundaries meaning nothing. When that upgrade fails, kubectl falls back to a
``POST`` with ``Upgrade: SPDY/3.1`` and ``X-Stream-Protocol-Version: portforward.k8s.io``; the
kubelet answers ``101 Switching Protocols`` (``k8s.io/streaming/pkg/httpstream/spdy/upgrade.go``)
and the TLS connection itself carries SPDY. Either way :func:`open_link` returns a link with
``read()`` (``b""`` at the end), ``write(bytes)`` (waits while the peer does not read) and
``close()``, and the response the handler returns.

Refusals are worded as the kubelet's ``httpstream.Handshake`` and the tunneling handler word them
(Go's ``http.Error``: plain text and a newline).
"""

from __future__ import annotations

import asyncio
import collections

from aiohttp import WSMsgType, web

__all__ = ["PROTOCOL", "Link", "open_link"]

#: The port-forward protocol (kubelet ``portforward/constants.go`` ``ProtocolV1Name``).
PROTOCOL = "portforward.k8s.io"
#: apimachinery ``util/portforward`` ``WebsocketsSPDYTunnelingPrefix``.
TUNNEL_PREFIX = "SPDY/3.1+"
#: Received bytes held before the upgraded connection stops reading from the socket.
_LINK_BUFFER = 256 * 1024


class WebSocketLink:
    """SPDY bytes in the binary messages of a WebSocket."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws

    async def read(self) -> bytes:
        """The next bytes, or ``b""`` when the WebSocket closed (or sent text: client-go's
        TunnelingConnection calls that an invalid message type)."""
        while True:
            msg = await self.ws.receive()
            if msg.type is not WSMsgType.BINARY:
                return b""
            if msg.data:
                return bytes(msg.data)

    async def write(self, data: bytes) -> None:
        """Send one binary message."""
        await self.ws.send_bytes(data)

    async def close(self) -> None:
        """Close the WebSocket (1000, normal closure: kubectl reads it as EOF)."""
        await self.ws.close()


class UpgradedLink(asyncio.Protocol):
    """The connection itself after ``101 Switching Protocols`` to ``SPDY/3.1``.

    aiohttp switches protocols only for ``websocket`` and ``tcp``, so the transport is handed to
    this protocol once the 101 is out; aiohttp closes it when the request handler returns.
    """

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self._chunks: collections.deque[bytes] = collections.deque()
        self._size = 0
        self._ended = False
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        transport.set_protocol(self)

    def data_received(self, data: bytes) -> None:
        """Queue received bytes; stop reading the socket past :data:`_LINK_BUFFER`."""
        self._chunks.append(data)
        self._size += len(data)
        self._readable.set()
        if self._size > _LINK_BUFFER:
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        """The peer closed its side: nothing more to read (and the transport may close)."""
        self.connection_lost(None)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        """The connection is gone: readers get ``b""``, writers fail."""
        self._ended = True
        self._readable.set()
        self._writable.set()

    def pause_writing(self) -> None:
        """The transport's buffer is full: :meth:`write` waits."""
        self._writable.clear()

    def resume_writing(self) -> None:
        """The transport drained."""
        self._writable.set()

    async def read(self) -> bytes:
        """The next received bytes, or ``b""`` at the end."""
        while not self._chunks and not self._ended:
            self._readable.clear()
            await self._readable.wait()
        if not self._chunks:
            return b""
        data = self._chunks.popleft()
        self._size -= len(data)
        if self._size <= _LINK_BUFFER and not self._ended:
            self.transport.resume_reading()
        return data

    async def write(self, data: bytes) -> None:
        """Write, then wait while the transport's buffer is over its high-water mark."""
        if self._ended or self.transport.is_closing():
            raise ConnectionResetError("the port-forward connection is closed")
        self.transport.write(data)
        await self._writable.wait()

    async def close(self) -> None:
        """Close the connection."""
        self.transport.close()


Link = WebSocketLink | UpgradedLink


def _text(status: int, message: str) -> web.Response:
    """Go's ``http.Error``: the message and a newline, plain text, nosniff."""
    return web.Response(
        status=status,
        text=message + "\n",
        headers={"Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"},
    )


def _tunnel_protocols(request: web.Request) -> list[str]:
    """The ``SPDY/3.1+<name>.k8s.io`` WebSocket protocols, prefix removed (streamtunnel.go)."""
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    return [p[len(TUNNEL_PREFIX) :] for p in offered if p.startswith(TUNNEL_PREFIX) and p.endswith(".k8s.io")]


def _negotiation_failure(offered: list[str]) -> web.Response | None:
    """``httpstream.Handshake``'s answer when ``portforward.k8s.io`` is not among ``offered``."""
    if not offered:
        return _text(400, "unable to upgrade: header X-Stream-Protocol-Version does not exist in request")
    if PROTOCOL in offered:
        return None
    response = _text(
        403,
        f"unable to upgrade: unable to negotiate protocol: client supports [{' '.join(offered)}], "
        f"server accepts [{PROTOCOL}]",
    )
    response.headers["X-Accepted-Stream-Protocol-Versions"] = PROTOCOL
    return response


async def _websocket(request: web.Request) -> tuple[Link | None, web.StreamResponse]:
    offered = _tunnel_protocols(request)
    if not offered:
        return None, _text(400, "unable to upgrade: no tunneling spdy protocols provided")
    refused = _negotiation_failure(offered)
    if refused is not None:
        return None, refused
    ws = web.WebSocketResponse(
        protocols=(TUNNEL_PREFIX + PROTOCOL,), autoping=True, heartbeat=None, compress=False
    )
    await ws.prepare(request)
    return WebSocketLink(ws), ws


async def _spdy_upgrade(request: web.Request) -> tuple[Link | None, web.StreamResponse]:
    versions = request.headers.getall("X-Stream-Protocol-Version", [])
    refused = _negotiation_failure([p.strip() for v in versions for p in v.split(",") if p.strip()])
    if refused is not None:
        return None, refused
    connection, upgrade = request.headers.get("Connection", ""), request.headers.get("Upgrade", "")
    if "upgrade" not in connection.lower() or "spdy/3.1" not in upgrade.lower():
        return None, _text(400, "unable to upgrade: missing upgrade headers in request")
    response = web.StreamResponse(
        status=101,
        headers={"Connection": "Upgrade", "Upgrade": "SPDY/3.1", "X-Stream-Protocol-Version": PROTOCOL},
    )
    response.force_close()
    await response.prepare(request)
    if request.transport is None:
        raise ConnectionResetError("the client went away")
    return UpgradedLink(request.transport), response


async def open_link(request: web.Request) -> tuple[Link | None, web.StreamResponse]:
    """Upgrade a ``pods/portforward`` request; no link (and a refusal to return) if it cannot."""
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return await _websocket(request)
    return await _spdy_upgrade(request)
