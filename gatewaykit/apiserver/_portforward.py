"""``pods/portforward``: ``kubectl port-forward``, served as kube-apiserver, the kubelet and containerd do.

kubectl (client-go ``tools/portforward``) reaches the pod through a SPDY/3.1 session tunnelled in a
WebSocket, or after a plain ``Upgrade: SPDY/3.1`` (:mod:`._streamlink` does the upgrade,
:mod:`._spdy` the framing). This module serves that session as the kubelet's streaming server
does (``pkg/kubelet/cri/streaming/portforward/httpstream.go``, vendored by containerd):

* per local connection kubectl opens two streams, headers ``streamtype: error|data``, ``port``
  and ``requestid`` (``portforward.go`` ``handleConnection``); each is answered with SYN_REPLY,
  or reset when a header is missing or invalid;
* once a pair is complete the pod port is dialled (:meth:`ApiBackend.port_forward`) and bytes are
  copied both ways as containerd does (``internal/cri/server/sandbox_portforward_linux.go``,
  v2.1.1 as kind v0.29 runs it): when one direction ends the other gets one second, then the
  upstream socket closes and both streams are half-closed (FIN);
* a port where nothing listens gets containerd's error, wrapped by the kubelet, written on the
  error stream, then both streams are reset. kubectl logs it and -- since client-go closes the
  whole connection on any error-stream message (``handleConnection``, 2021) -- exits with
  ``error: lost connection to pod``, as it does against a real cluster.

Bounds: at most :data:`MAX_STREAMS` streams per connection (more are refused) and
:data:`MAX_SESSIONS` port-forward connections per API server; :data:`STREAM_BUFFER` bytes queued
per stream towards its pod port (the session reads on only as that drains, head-of-line as
spdystream's frame workers); a pair that stays incomplete for :data:`STREAM_CREATION_TIMEOUT` is
dropped; a connection idle for :data:`IDLE_TIMEOUT` is closed. When kubectl goes away (Ctrl-C
resets its streams and sends GOAWAY; a kill closes the socket) every upstream socket closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

import h11
from aiohttp import web

from gatewaykit.apiserver._spdy import Frame, FrameParser, FrameType, FrameWriter, RstStatus, SpdyError
from gatewaykit.apiserver._streamlink import Link, open_link
from gatewaykit.dataplane._codes import reason_phrase
from gatewaykit.errors import GatewayKitError
from gatewaykit.kube import status as st

if TYPE_CHECKING:
    from gatewaykit.apiserver._app import Api, Route
    from gatewaykit.apiserver._exec import ProxyAnswer

__all__ = ["PortTarget", "serve_port_forward"]

log = logging.getLogger("gatewaykit.apiserver")

#: The kubelet's streamCreationTimeout (``remotecommand`` ``DefaultStreamCreationTimeout``).
STREAM_CREATION_TIMEOUT = 30.0
#: containerd's ``stream_idle_timeout`` default (``4h0m0s``); kubectl pings every 10 s.
IDLE_TIMEOUT = 4 * 3600.0
#: containerd waits this long for the second direction once the first one ended.
LINGER = 1.0
#: The sandbox's bounds (spdystream and the kubelet set none): streams per connection (two per
#: forwarded connection), port-forward connections per API server, bytes queued per stream.
MAX_STREAMS = 256
MAX_SESSIONS = 32
STREAM_BUFFER = 64 * 1024
#: What one read from a pod port forwards at most (io.Copy's buffer).
READ_CHUNK = 32 * 1024


@dataclass(frozen=True, slots=True)
class PortTarget:
    """What a forwarded connection to a pod port reaches (:meth:`ApiBackend.port_forward`).

    Either ``sock``, a socket connected to what serves the port (it is the handler's to close),
    or ``answer``, HTTP answered in-process from ``(path, query)`` (the Envoy admin API of a
    proxy, which the sandbox runs no Envoy for), with the response headers of ``server``
    (:data:`SERVERS`).
    """

    sock: socket.socket | None = None
    answer: Callable[[str, str], ProxyAnswer] | None = None
    server: str = "envoy-admin"


# ------------------------------------------------------------------------------ the texts

# The kubelet wraps the runtime's error (httpstream.go ``portForward``); the sandbox's pods have
# no pod UID there (the CRI streaming server passes ""), and the "pod" is the sandbox's id.
_KUBELET_ERROR = "error forwarding port {port} to pod {sandbox}, uid : {cause}"
# containerd v2.1.1 sandbox_portforward_linux.go: IPv4 first, then IPv6, both refused (kind's pods
# have ::1 on lo); the trailing space is containerd's.
_CONTAINERD_REFUSED = (
    'failed to execute portforward in network namespace "{netns}": failed to connect to '
    'localhost:{port} inside namespace "{sandbox}", IPv4: dial tcp4 127.0.0.1:{port}: connect: '
    "connection refused IPv6 dial tcp6 [::1]:{port}: connect: connection refused "
)


@dataclass(frozen=True, slots=True)
class _Sandbox:
    """The pod's sandbox as containerd names it: its id and its network namespace's path."""

    id: str
    netns: str

    @classmethod
    def of(cls, pod: dict[str, Any]) -> _Sandbox:
        """Stable names derived from the pod's UID (a real sandbox id is the pause container's)."""
        uid = str(pod.get("metadata", {}).get("uid") or pod.get("metadata", {}).get("name", ""))
        sandbox = hashlib.sha256(f"sandbox/{uid}".encode()).hexdigest()
        if pod.get("spec", {}).get("hostNetwork"):
            return cls(sandbox, "host")
        h = hashlib.sha256(f"netns/{uid}".encode()).hexdigest()
        # containerd pkg/netns: "cni-%x-%x-%x-%x-%x" of 16 random bytes under /var/run/netns.
        return cls(sandbox, f"/var/run/netns/cni-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}")

    def refused(self, port: int) -> str:
        """What the error stream says for a port where nothing listens."""
        cause = _CONTAINERD_REFUSED.format(netns=self.netns, port=port, sandbox=self.id)
        return _KUBELET_ERROR.format(port=port, sandbox=self.id, cause=cause)


# ------------------------------------------------------------------------- the session


class _Stream:
    """One stream kubectl opened (the server half of a spdystream ``Stream``)."""

    def __init__(self, session: _Session, stream_id: int, frame: Frame) -> None:
        self.session = session
        self.id = stream_id
        self.frame = frame
        self.kind = frame.header("streamtype")
        self._inbound = bytearray()
        self._more = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self.remote_done = False  # FIN or RST received (or reset here)
        self.local_done = False  # FIN or RST sent (or the peer reset it)

    async def feed(self, data: bytes) -> None:
        """Queue bytes that arrived for this stream; wait while more than the bound is queued.

        Raises:
            TimeoutError: the pod port read nothing for :data:`IDLE_TIMEOUT` (the session ends, as
                spdystream's idle timer ends a connection whose frame reader is stuck).
        """
        if self.remote_done or self.kind == "error":
            return  # nothing on the server reads an error stream
        self._inbound += data
        self._more.set()
        async with asyncio.timeout(IDLE_TIMEOUT):
            while len(self._inbound) > STREAM_BUFFER and not self.remote_done:
                self._room.clear()
                await self._room.wait()

    def end_inbound(self) -> None:
        """No more bytes will arrive (FIN, RST, or torn down)."""
        self.remote_done = True
        self._more.set()
        self._room.set()

    async def read(self) -> bytes:
        """The bytes queued so far; ``b""`` once the client finished the stream."""
        while not self._inbound and not self.remote_done:
            self._more.clear()
            await self._more.wait()
        data = bytes(self._inbound)
        self._inbound.clear()
        self._room.set()
        return data

    async def write(self, data: bytes) -> bool:
        """Send a DATA frame; False once this side is done with the stream."""
        if self.local_done:
            return False
        await self.session.send(lambda w: w.data(self.id, data))
        return True

    async def close(self) -> None:
        """Half-close: an empty DATA frame with FIN (spdystream ``Stream.Close``)."""
        if not self.local_done:
            self.local_done = True
            await self.session.send(lambda w: w.data(self.id, b"", fin=True))
        self.session.forget(self)

    async def reset(self) -> None:
        """RST_STREAM CANCEL (spdystream ``Stream.Reset``): both directions end."""
        self.end_inbound()
        if not self.local_done:
            self.local_done = True
            await self.session.send(lambda w: w.rst_stream(self.id, RstStatus.CANCEL))
        self.session.forget(self)


@dataclass(slots=True)
class _Pair:
    """The error and data streams of one forwarded connection (the kubelet's httpStreamPair)."""

    request_id: str
    error: _Stream | None = None
    data: _Stream | None = None
    monitor: asyncio.Task[None] | None = None

    def add(self, stream: _Stream) -> str:
        """Take a stream; the kubelet's text when the pair already has one of its type."""
        if getattr(self, stream.kind) is not None:
            return f"{stream.kind} stream already assigned"
        setattr(self, stream.kind, stream)
        return ""

    @property
    def complete(self) -> bool:
        """Both streams are here."""
        return self.error is not None and self.data is not None


def _header_problem(frame: Frame) -> str:
    """Why the kubelet rejects a new stream (``httpStreamReceived``), or ``""``."""
    port = frame.header("port")
    if not port:
        return '"port" header is required'
    if not port.isdigit() or int(port) > 65535:
        return f'unable to parse "{port}" as a port'
    if int(port) < 1:
        return f'port "{port}" must be > 0'
    kind = frame.header("streamtype")
    if not kind:
        return '"streamType" header is required'
    if kind not in ("error", "data"):
        return f'invalid stream type "{kind}"'
    return ""


def _request_id(frame: Frame) -> str:
    """The pair a stream belongs to; old clients without ``requestID`` pair by stream id."""
    found = frame.header("requestid")
    if found:
        return found
    return str(frame.stream_id if frame.header("streamtype") == "error" else frame.stream_id - 2)


Dial = Callable[[int], Awaitable[PortTarget | None]]


class _Session:
    """One port-forward connection: the SPDY server connection and the kubelet's stream pairing."""

    def __init__(self, link: Link, dial: Dial, sandbox: _Sandbox) -> None:
        self.link = link
        self.dial = dial
        self.sandbox = sandbox
        self.parser = FrameParser()
        self.writer = FrameWriter()
        self.streams: dict[int, _Stream] = {}
        self.pairs: dict[str, _Pair] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.next_id = 1  # spdystream validateStreamId: client ids are odd and only grow
        self.gone_away = False
        self._lock = asyncio.Lock()

    async def send(self, build: Callable[[FrameWriter], bytes]) -> None:
        """Encode and send one frame; frames go out in the order they were encoded."""
        async with self._lock:
            await self.link.write(build(self.writer))

    def forget(self, stream: _Stream) -> None:
        """Drop a stream once both directions are done."""
        if stream.local_done and stream.remote_done:
            self.streams.pop(stream.id, None)

    def spawn(self, coro: Awaitable[None]) -> asyncio.Task[None]:
        """Run a coroutine owned by the session (cancelled when it ends)."""
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("port-forward stream task failed", exc_info=task.exception())

    async def serve(self) -> None:
        """Read frames until kubectl goes away, then close every stream and upstream socket."""
        try:
            await self._read_frames()
        except (ConnectionError, OSError, TimeoutError):
            pass
        finally:
            await self._teardown()

    async def _read_frames(self) -> None:
        while True:
            try:
                async with asyncio.timeout(IDLE_TIMEOUT):
                    chunk = await self.link.read()
            except TimeoutError:
                return
            if not chunk:
                return
            try:
                frames = self.parser.feed(chunk)
            except SpdyError:
                return  # spdystream's read loop ends on a framing error; the connection closes
            for frame in frames:
                if not await self._on_frame(frame):
                    return

    async def _on_frame(self, frame: Frame) -> bool:
        if frame.type is None:
            await self._on_data(frame)
            return True
        handler = self._HANDLERS.get(frame.type)
        # SYN_REPLY, HEADERS, SETTINGS, WINDOW_UPDATE: nothing a port-forward server acts on.
        return True if handler is None else await handler(self, frame)

    async def _on_syn_stream(self, frame: Frame) -> bool:
        if self.gone_away:
            return True
        if frame.stream_id % 2 == 0 or frame.stream_id < self.next_id:
            await self.send(lambda w: w.rst_stream(frame.stream_id, RstStatus.PROTOCOL_ERROR))
            return True
        self.next_id = frame.stream_id + 2
        problem = _header_problem(frame)
        if problem or len(self.streams) >= MAX_STREAMS:
            # A rejected stream is reset (CANCEL, apimachinery's newSpdyStream); one past the
            # sandbox's bound is refused.
            status = RstStatus.CANCEL if problem else RstStatus.REFUSED_STREAM
            await self.send(lambda w: w.rst_stream(frame.stream_id, status))
            return True
        stream = self.streams[frame.stream_id] = _Stream(self, frame.stream_id, frame)
        if frame.fin:
            stream.end_inbound()
        await self.send(lambda w: w.syn_reply(frame.stream_id))
        self._pair(stream)
        return True

    def _pair(self, stream: _Stream) -> None:
        request_id = _request_id(stream.frame)
        pair = self.pairs.get(request_id)
        if pair is None:
            pair = self.pairs[request_id] = _Pair(request_id)
            pair.monitor = self.spawn(self._monitor(pair))
        problem = pair.add(stream)
        if problem:
            message = f"error processing stream for request {request_id}: {problem}"
            if pair.error is not None:
                self.spawn(_best_effort(pair.error.write(message.encode())))
        elif pair.complete:
            self.pairs.pop(request_id, None)
            if pair.monitor is not None:
                pair.monitor.cancel()
            self.spawn(self._forward(pair))

    async def _monitor(self, pair: _Pair) -> None:
        """The kubelet's monitorStreamPair: an incomplete pair times out, with a message."""
        await asyncio.sleep(STREAM_CREATION_TIMEOUT)
        self.pairs.pop(pair.request_id, None)
        if pair.error is not None:
            # The kubelet's text also names "conn=%v", a Go pointer dump that carries no meaning.
            await pair.error.write(f"(request={pair.request_id}) timed out waiting for streams".encode())
        # The kubelet leaves the lone stream open; here it is reset, so it holds nothing.
        for stream in (pair.error, pair.data):
            if stream is not None:
                await stream.reset()

    async def _on_data(self, frame: Frame) -> None:
        stream = self.streams.get(frame.stream_id)
        if stream is None:
            return  # spdystream: a frame for a stream that is gone is dropped
        if frame.data:
            await stream.feed(frame.data)
        if frame.fin:
            stream.end_inbound()
            self.forget(stream)

    async def _on_rst_stream(self, frame: Frame) -> bool:
        stream = self.streams.pop(frame.stream_id, None)
        if stream is not None:
            stream.local_done = True  # nothing more goes out on a stream the peer reset
            stream.end_inbound()
        return True

    async def _on_ping(self, frame: Frame) -> bool:
        if frame.value % 2 == 1:  # the client's pings are odd: echo them (handlePingFrame)
            await self.send(lambda w: w.ping(frame.value))
        return True

    async def _on_goaway(self, frame: Frame) -> bool:
        self.gone_away = True
        return False

    _HANDLERS: dict[FrameType, Callable[[_Session, Frame], Awaitable[bool]]] = {
        FrameType.SYN_STREAM: _on_syn_stream,
        FrameType.RST_STREAM: _on_rst_stream,
        FrameType.PING: _on_ping,
        FrameType.GOAWAY: _on_goaway,
    }

    async def _forward(self, pair: _Pair) -> None:
        """The kubelet's portForward with containerd's: dial, copy, close or report."""
        assert pair.data is not None and pair.error is not None
        data, error = pair.data, pair.error
        port = int(data.frame.header("port"))
        target = await self.dial(port)
        try:
            if target is None:
                await error.write(self.sandbox.refused(port).encode())
                await data.reset()
                await error.reset()
                return
            if target.sock is not None:
                await _copy(data, target.sock)
            elif target.answer is not None:
                await _answer_http(data, target)
            await data.close()
            await error.close()
        except (ConnectionError, OSError):
            pass  # kubectl is gone: the session's teardown follows

    async def _teardown(self) -> None:
        """kubectl is gone (or the server closes): end every task, reset streams, close."""
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=5)
        for stream in list(self.streams.values()):
            stream.end_inbound()
            if not stream.local_done and not self.gone_away:
                await _best_effort(stream.reset())
        self.streams.clear()
        with contextlib.suppress(Exception):
            await self.link.close()


async def _best_effort(coro: Awaitable[Any]) -> None:
    with contextlib.suppress(ConnectionError, OSError, RuntimeError):
        await coro


# --------------------------------------------------------------------------- the copying


async def _copy(stream: _Stream, sock: socket.socket) -> None:
    """containerd's copy: both directions at once; when one ends the other has :data:`LINGER`.

    The socket is this function's: it is closed when the copy ends, however it ends.
    """
    try:
        reader, writer = await asyncio.open_connection(sock=sock, limit=READ_CHUNK)
    except BaseException:
        sock.close()
        raise
    up = asyncio.ensure_future(_to_upstream(stream, writer))
    down = asyncio.ensure_future(_to_client(reader, stream))
    try:
        _, pending = await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        if pending:
            await asyncio.wait(pending, timeout=LINGER)
    finally:
        up.cancel()
        down.cancel()
        writer.transport.abort()


async def _to_upstream(stream: _Stream, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while chunk := await stream.read():
            writer.write(chunk)
            await writer.drain()


async def _to_client(reader: asyncio.StreamReader, stream: _Stream) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while chunk := await reader.read(READ_CHUNK):
            if not await stream.write(chunk):
                return


# Response headers of the programs the sandbox answers for in-process (after content-type; the
# date follows): Envoy's admin (``source/server/admin/utils.cc`` populateFallbackResponseHeaders,
# then the admin HTTP connection manager's ``server: envoy``), an Envoy listener, a Go server.
SERVERS: dict[str, tuple[tuple[str, str], ...]] = {
    "envoy-admin": (("cache-control", "no-cache, max-age=0"), ("x-content-type-options", "nosniff")),
    "envoy": (),
    "go": (),
}
_SERVER_HEADER = {"envoy-admin": "envoy", "envoy": "envoy", "go": ""}


def _response_headers(target: PortTarget, answer: ProxyAnswer, head: bool) -> list[tuple[str, str]]:
    headers = [("content-type", answer.content_type), *SERVERS[target.server]]
    headers.append(("date", formatdate(time.time(), usegmt=True)))
    if _SERVER_HEADER[target.server]:
        headers.append(("server", _SERVER_HEADER[target.server]))
    if target.server == "envoy-admin":
        headers.append(("transfer-encoding", "chunked"))  # the admin handlers stream their bodies
    elif not head:
        headers.append(("content-length", str(len(answer.body))))
    if target.server == "go":
        headers = [("-".join(p.capitalize() for p in k.split("-")), v) for k, v in headers]
    return headers


def _respond(conn: h11.Connection, target: PortTarget, answer: ProxyAnswer, head: bool) -> bytes:
    """One whole response on the wire, with the program's reason phrase and headers."""
    headers = _response_headers(target, answer, head)
    reason = reason_phrase(answer.status).encode()
    out = conn.send(h11.Response(status_code=answer.status, headers=headers, reason=reason)) or b""
    # h11 writes the chunked framing header capitalised; Envoy's is lower-case.
    out = out.replace(b"\r\nTransfer-Encoding: chunked\r\n", b"\r\ntransfer-encoding: chunked\r\n")
    if not head:
        out += conn.send(h11.Data(data=answer.body)) or b""
    return out + (conn.send(h11.EndOfMessage()) or b"")


async def _answer_http(stream: _Stream, target: PortTarget) -> None:
    """Serve HTTP/1.1 on a forwarded stream from ``target.answer`` (keep-alive, as curl expects)."""
    assert target.answer is not None
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024)
    loop = asyncio.get_running_loop()
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError:
            return  # not HTTP/1.1: the connection closes (Envoy would answer 400 first)
        if event is h11.NEED_DATA:
            conn.receive_data(await stream.read())
        elif isinstance(event, h11.Request):
            path, _, query = event.target.decode("latin-1").partition("?")
            answer = await loop.run_in_executor(None, target.answer, path.lstrip("/"), query)
            if not await stream.write(_respond(conn, target, answer, event.method == b"HEAD")):
                return
        elif isinstance(event, h11.EndOfMessage):
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()
        elif not isinstance(event, h11.Data):
            return  # the client closed, or h11 paused on a protocol state it cannot continue


# ----------------------------------------------------------------------------- the entry


def _close_late_target(done: asyncio.Future[PortTarget | None]) -> None:
    target = None if done.cancelled() or done.exception() else done.result()
    if target is not None and target.sock is not None:
        target.sock.close()


async def serve_port_forward(
    api: Api, request: web.Request, route: Route, pod: dict[str, Any]
) -> web.StreamResponse:
    """``pods/{name}/portforward``: upgrade, then serve the SPDY session until kubectl leaves."""
    if len(api.forwards) >= MAX_SESSIONS:
        from gatewaykit.apiserver._app import status_response  # noqa: PLC0415

        return status_response(
            st.Status(
                429,
                "TooManyRequests",
                f"the gatewaykit sandbox serves at most {MAX_SESSIONS} port-forward connections at once",
                has_details=False,
            )
        )
    namespace, name = route.namespace or "", route.name or ""
    loop = asyncio.get_running_loop()

    async def dial(port: int) -> PortTarget | None:
        pending = loop.run_in_executor(None, api.backend.port_forward, namespace, name, port)
        try:
            found: PortTarget | None = await asyncio.shield(pending)
        except asyncio.CancelledError:
            pending.add_done_callback(_close_late_target)  # kubectl left while the dial ran
            raise
        except (GatewayKitError, OSError):
            return None
        except Exception:  # noqa: BLE001 - a sandbox bug: the port refuses, the server goes on
            log.exception("port-forward to %s/%s:%d failed", namespace, name, port)
            return None
        return found

    link, response = await open_link(request)
    if link is None:
        return response
    task = asyncio.current_task()
    assert task is not None
    api.forwards.add(task)
    try:
        await _Session(link, dial, _Sandbox.of(pod)).serve()
    finally:
        api.forwards.discard(task)
    return response
