"""The HTTP connection manager's HTTP/2 codec (h2), server side (ALPN ``h2`` or h2c prior knowledge)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings

from gatewaykit.dataplane._headers import HOP_BY_HOP
from gatewaykit.dataplane._http1 import MAX_REQUEST_HEADERS
from gatewaykit.dataplane._router import DownstreamRequest, handle_request
from gatewaykit.dataplane._tls import PlainStream, TlsStream

if TYPE_CHECKING:
    from gatewaykit.dataplane.plane import DataPlane, _State

__all__ = ["serve_h2"]

Stream = PlainStream | TlsStream
_log = logging.getLogger("gatewaykit.dataplane")


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
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 2147483647,
            h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: MAX_REQUEST_HEADERS,
        },
    )
    conn.initiate_connection()
    return conn


class _H2Server:
    """The connection's read loop: turns h2 events into requests, one task per stream."""

    def __init__(self, dp: DataPlane, state: _State, stream: Stream) -> None:
        self.dp, self.state, self.stream = dp, state, stream
        self.session = _H2Session(_connection(), stream)
        self.pending: dict[int, tuple[list[tuple[str, str]], bytearray, float]] = {}
        self.tasks: dict[int, asyncio.Task[Any]] = {}

    async def run(self) -> None:
        await self.session.flush()
        try:
            while True:
                data = await self.stream.read()
                if not data:
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
            self.stream.close()

    def _on_event(self, ev: Any) -> bool:
        """Handle one h2 event; True when the peer ended the connection."""
        conn = self.session.conn
        if isinstance(ev, h2.events.RequestReceived):
            self.pending[ev.stream_id] = (list(ev.headers or []), bytearray(), time.time())  # type: ignore[arg-type]
        elif isinstance(ev, h2.events.DataReceived):
            if ev.stream_id in self.pending:
                self.pending[ev.stream_id][1].extend(ev.data or b"")
            conn.acknowledge_received_data(ev.flow_controlled_length or 0, ev.stream_id)
        elif isinstance(ev, h2.events.StreamEnded):
            item = self.pending.pop(ev.stream_id, None)
            if item is not None:
                self._spawn(ev.stream_id, *item)
        elif isinstance(ev, h2.events.StreamReset):
            self.pending.pop(ev.stream_id, None)
            t = self.tasks.pop(ev.stream_id, None)
            if t is not None:
                t.cancel()
        elif isinstance(ev, (h2.events.WindowUpdated, h2.events.RemoteSettingsChanged)):
            self.session.window_event.set()
        elif isinstance(ev, h2.events.ConnectionTerminated):
            return True
        return False

    def _spawn(self, sid: int, raw: list[tuple[str, str]], body: bytearray, start: float) -> None:
        task = asyncio.create_task(_h2_request(self.dp, self.state, self.session, sid, raw, body, start))
        self.tasks[sid] = task
        task.add_done_callback(functools.partial(_forget, self.tasks, sid))


def _forget(tasks: dict[int, asyncio.Task[Any]], sid: int, _task: asyncio.Task[Any]) -> None:
    tasks.pop(sid, None)


async def serve_h2(dp: DataPlane, state: _State, stream: Stream) -> None:
    """Serve HTTP/2 (ALPN ``h2`` or h2c prior knowledge) on one downstream connection."""
    await _H2Server(dp, state, stream).run()


def _request(raw_headers: list[tuple[Any, Any]], body: bytes) -> DownstreamRequest:
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
    return DownstreamRequest(method, path or "/", authority, headers, body, "HTTP/2")


async def _h2_request(
    dp: DataPlane,
    state: _State,
    session: _H2Session,
    sid: int,
    raw_headers: list[tuple[str, str]],
    body: bytearray,
    start: float,
) -> None:
    req = _request(raw_headers, bytes(body))
    responder = _H2Responder(session, sid, head=req.method == "HEAD")
    try:
        await handle_request(dp, state, req, responder, start)
    except (ConnectionError, OSError, h2.exceptions.ProtocolError):
        pass
    except Exception:  # noqa: BLE001 - one broken stream must not go unnoticed or kill the session
        _log.exception("HTTP/2 stream %d failed", sid)
