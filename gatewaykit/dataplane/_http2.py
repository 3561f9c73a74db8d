"""The HTTP connection manager's HTTP/2 codec (h2), server side (ALPN ``h2`` or h2c prior knowledge).

Each stream is routed when its HEADERS arrive; its DATA is handed to the router as the router
reads it (:class:`_H2Body`), and acknowledged with WINDOW_UPDATE only then, so HTTP/2 flow control
pushes back on a client sending faster than the upstream takes. Memory per connection is bounded:

* every frame header is checked against our ``SETTINGS_MAX_FRAME_SIZE`` (16,384, the default
  Envoy keeps) *before* the frame is buffered -- h2 itself would buffer a whole announced frame
  (up to 16 MiB) before checking; an oversized frame is a connection error, ``GOAWAY`` with
  ``FRAME_SIZE_ERROR`` (RFC 9113 §4.2, what nghttp2/oghttp2 in Envoy send);
* the flow-control windows are the sizes Envoy's edge-proxy best practices give
  (``initial_stream_window_size: 65536``, ``initial_connection_window_size: 1048576``),
  not Envoy's 256 MiB defaults, which would let one client park 256 MiB per stream.

A stream whose response ends before its request body does is reset with ``RST_STREAM(NO_ERROR)``
after the response (RFC 9113 §8.1: "A server can send a complete response prior to the client
sending an entire request ... the server MAY request that the client abort transmission of a
request without error by sending a RST_STREAM with an error code of NO_ERROR").
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

from gatewaykit.dataplane._body import BUFFER_LIMIT, NO_BODY, BodySource
from gatewaykit.dataplane._headers import HOP_BY_HOP
from gatewaykit.dataplane._http1 import MAX_REQUEST_HEADERS, linger
from gatewaykit.dataplane._router import DownstreamRequest, handle_request
from gatewaykit.dataplane._tls import PlainStream, TlsStream

if TYPE_CHECKING:
    from gatewaykit.dataplane.plane import DataPlane, _State

__all__ = ["FrameGuard", "serve_h2"]

Stream = PlainStream | TlsStream
_log = logging.getLogger("gatewaykit.dataplane")

#: SETTINGS_MAX_FRAME_SIZE: the protocol default, which Envoy does not change.
MAX_FRAME_SIZE = 16384
#: The per-stream flow-control window (SETTINGS_INITIAL_WINDOW_SIZE, RFC 9113 default 65,535).
STREAM_WINDOW = 65535
#: The connection's flow-control window: Envoy's buffer limit.
CONNECTION_WINDOW = BUFFER_LIMIT
_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class FrameGuard:
    """Follows the frame boundaries of the bytes a client sends, checking each frame header.

    Only the 9-byte headers are looked at (payloads are skipped), so the check costs nothing and
    happens before any payload is buffered.
    """

    def __init__(self, max_frame_size: int = MAX_FRAME_SIZE) -> None:
        self.max_frame_size = max_frame_size
        self._preface = len(_PREFACE)
        self._header = bytearray()
        self._skip = 0

    def feed(self, data: bytes) -> bool:
        """Account for ``data``; False as soon as a frame header announces an oversized frame."""
        i, n = 0, len(data)
        if self._preface:
            step = min(self._preface, n)
            i, self._preface = step, self._preface - step
        while i < n:
            if self._skip:
                step = min(self._skip, n - i)
                i, self._skip = i + step, self._skip - step
                continue
            part = data[i : i + 9 - len(self._header)]
            self._header += part
            i += len(part)
            if len(self._header) == 9:
                length = int.from_bytes(self._header[:3], "big")
                if length > self.max_frame_size:
                    return False
                self._skip = length
                self._header.clear()
        return True


@dataclass(slots=True)
class _H2Session:
    conn: h2.connection.H2Connection
    stream: Stream
    window_event: asyncio.Event = field(default_factory=asyncio.Event)

    async def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.stream.write(data)
            await self.stream.drain()


class _H2Body:
    """One stream's request body: DATA frames queued by the read loop, acknowledged when read."""

    def __init__(self, session: _H2Session, sid: int, ended: bool) -> None:
        self.session, self.sid = session, sid
        self.queue: deque[tuple[bytes, int]] = deque()
        self.ended = ended  # END_STREAM seen
        self.reset = False
        self.received = 0
        self.event = asyncio.Event()

    @property
    def complete(self) -> bool:
        return self.ended and not self.queue

    def feed(self, data: bytes, flow: int) -> None:
        self.queue.append((data, flow))
        self.received += len(data)
        self.event.set()

    def end(self, reset: bool = False) -> None:
        self.ended = self.ended or not reset
        self.reset = reset
        self.event.set()

    async def read(self) -> bytes:
        while not self.queue:
            if self.ended:
                return b""
            if self.reset:
                raise ConnectionResetError("the client reset the stream")
            self.event.clear()
            await self.event.wait()
        data, flow = self.queue.popleft()
        # Consumed: open the windows again (WINDOW_UPDATE), letting the client send more.
        self.session.conn.acknowledge_received_data(flow, self.sid)
        await self.session.flush()
        return data

    def discard(self) -> None:
        """Drop what is queued (the request is over); its flow-control credit is returned."""
        while self.queue:
            _data, flow = self.queue.popleft()
            self.session.conn.acknowledge_received_data(flow, self.sid)


class _H2Responder:
    def __init__(self, session: _H2Session, stream_id: int, head: bool) -> None:
        self.s = session
        self.sid = stream_id
        self.head = head
        self.bytes_sent = 0

    async def start(self, status: int, headers: list[tuple[str, str]], end_stream: bool) -> None:
        hdrs = [(":status", str(status))] + [(k, v) for k, v in headers if k not in HOP_BY_HOP]
        self.s.conn.send_headers(self.sid, hdrs, end_stream=end_stream)
        await self.s.flush()

    async def data(self, chunk: bytes) -> None:
        if self.head:
            return
        view = memoryview(chunk)
        while view:
            window = self.s.conn.local_flow_control_window(self.sid)
            if window <= 0:
                self.s.window_event.clear()
                await self.s.window_event.wait()
                continue
            size = min(window, len(view), self.s.conn.max_outbound_frame_size)
            self.s.conn.send_data(self.sid, bytes(view[:size]))
            self.bytes_sent += size
            view = view[size:]
            await self.s.flush()

    async def end(self) -> None:
        with contextlib.suppress(h2.exceptions.ProtocolError):
            self.s.conn.end_stream(self.sid)
        await self.s.flush()


def _connection() -> h2.connection.H2Connection:
    config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
    conn = h2.connection.H2Connection(config=config)
    conn.local_settings = h2.settings.Settings(
        client=False,
        initial_values={
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 2147483647,  # Envoy's default
            h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: MAX_REQUEST_HEADERS,
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: STREAM_WINDOW,
            h2.settings.SettingCodes.MAX_FRAME_SIZE: MAX_FRAME_SIZE,
        },
    )
    conn.initiate_connection()
    conn.increment_flow_control_window(CONNECTION_WINDOW - 65535)
    return conn


class _H2Server:
    """The connection's read loop: turns h2 events into requests, one task per stream."""

    def __init__(self, dp: DataPlane, state: _State, stream: Stream) -> None:
        self.dp, self.state, self.stream = dp, state, stream
        self.session = _H2Session(_connection(), stream)
        self.bodies: dict[int, _H2Body] = {}
        self.tasks: dict[int, asyncio.Task[Any]] = {}
        self.guard = FrameGuard()

    async def run(self) -> None:
        await self.session.flush()
        try:
            while True:
                data = await self.stream.read()
                if not data:
                    break
                if not self.guard.feed(data):
                    self.session.conn.close_connection(error_code=h2.errors.ErrorCodes.FRAME_SIZE_ERROR)
                    await self.session.flush()
                    await linger(self.stream)  # so the GOAWAY is read, not lost to a reset
                    break
                try:
                    events = self.session.conn.receive_data(data)
                except h2.exceptions.ProtocolError:
                    await self.session.flush()
                    break
                terminated = False
                for ev in events:
                    terminated = self._on_event(ev) or terminated
                await self.session.flush()
                if terminated:
                    break
        finally:
            for t in list(self.tasks.values()):
                t.cancel()
            for body in self.bodies.values():
                body.end(reset=True)
            self.stream.close()

    def _on_event(self, ev: Any) -> bool:
        """Handle one h2 event; True when the peer ended the connection."""
        if isinstance(ev, h2.events.RequestReceived):
            self._spawn(ev.stream_id, list(ev.headers or []), ev.stream_ended is not None)  # type: ignore[arg-type]
        elif isinstance(ev, h2.events.DataReceived):
            body = self.bodies.get(ev.stream_id)
            if body is not None:
                body.feed(ev.data or b"", ev.flow_controlled_length or 0)
            else:  # nobody reads this stream's body any more
                self.session.conn.acknowledge_received_data(ev.flow_controlled_length or 0, ev.stream_id)
        elif isinstance(ev, h2.events.StreamEnded):
            if ev.stream_id in self.bodies:
                self.bodies[ev.stream_id].end()
        elif isinstance(ev, h2.events.StreamReset):
            body = self.bodies.pop(ev.stream_id, None)
            if body is not None:
                body.end(reset=True)
            t = self.tasks.pop(ev.stream_id, None)
            if t is not None:
                t.cancel()
        elif isinstance(ev, (h2.events.WindowUpdated, h2.events.RemoteSettingsChanged)):
            self.session.window_event.set()
        elif isinstance(ev, h2.events.ConnectionTerminated):
            return True
        return False

    def _spawn(self, sid: int, raw: list[tuple[str, str]], ended: bool) -> None:
        body = _H2Body(self.session, sid, ended)
        if not ended:
            self.bodies[sid] = body
        task = asyncio.create_task(self._request(sid, raw, body, time.time()))
        self.tasks[sid] = task
        task.add_done_callback(functools.partial(_forget, self.tasks, sid))

    async def _request(self, sid: int, raw: list[tuple[str, str]], body: _H2Body, start: float) -> None:
        req = _request(raw, body)
        responder = _H2Responder(self.session, sid, head=req.method == "HEAD")
        try:
            await handle_request(self.dp, self.state, req, responder, start)
        except (ConnectionError, OSError, h2.exceptions.ProtocolError):
            pass
        except Exception:  # noqa: BLE001 - one broken stream must not go unnoticed or kill the session
            _log.exception("HTTP/2 stream %d failed", sid)
        finally:
            await self._end_request(sid, body)

    async def _end_request(self, sid: int, body: _H2Body) -> None:
        """The response is over: stop a request body still coming (RST_STREAM NO_ERROR)."""
        if self.bodies.pop(sid, None) is None or body.complete:
            return
        if not body.ended:
            with contextlib.suppress(h2.exceptions.ProtocolError):
                self.session.conn.reset_stream(sid, h2.errors.ErrorCodes.NO_ERROR)
        body.discard()
        with contextlib.suppress(ConnectionError, OSError):
            await self.session.flush()


def _forget(tasks: dict[int, asyncio.Task[Any]], sid: int, _task: asyncio.Task[Any]) -> None:
    tasks.pop(sid, None)


async def serve_h2(dp: DataPlane, state: _State, stream: Stream) -> None:
    """Serve HTTP/2 (ALPN ``h2`` or h2c prior knowledge) on one downstream connection."""
    await _H2Server(dp, state, stream).run()


def _request(raw_headers: list[tuple[Any, Any]], body: _H2Body) -> DownstreamRequest:
    method = path = ""
    authority = None
    headers: list[tuple[str, str]] = []
    for k, v in raw_headers:
        k = k.lower() if isinstance(k, str) else k.decode().lower()
        v = v if isinstance(v, str) else v.decode("latin-1")
        if k == ":method":
            method = v
        elif k == ":path":
            path = v
        elif k == ":authority":
            authority = v
        elif k == "host":
            authority = authority or v
        elif not k.startswith(":"):
            headers.append((k, v))
    # HTTP/2 may split cookies into several fields; HTTP/1.1 upstreams need one (RFC 9113 §8.2.3).
    cookies = [v for k, v in headers if k == "cookie"]
    if len(cookies) > 1:
        headers = [(k, v) for k, v in headers if k != "cookie"] + [("cookie", "; ".join(cookies))]
    declared = next((v for k, v in headers if k == "content-length"), None)
    length = int(declared) if declared is not None and declared.isdigit() else None
    source: BodySource = NO_BODY if body.ended and not body.queue else body
    # A body without a content-length goes upstream chunked (Envoy's HTTP/1 encoder).
    chunked = source is not NO_BODY and length is None
    return DownstreamRequest(method, path or "/", authority, headers, source, "HTTP/2", length, chunked)
