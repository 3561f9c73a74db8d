"""The network filters: Envoy's HTTP connection manager (HTTP/1.1 and HTTP/2) and TCP proxy.

Per HTTP request the connection manager asks :func:`gatewaykit._simulate.simulate` where the
request goes (virtual host, route, cluster, endpoint) or what Envoy answers itself (404 NR,
503 UH, 301 for ``require_tls``, direct responses, §1.4, §6). Everything that needs a real
upstream is done here: connect (with the route's retries on connect failure), the route
timeout (504), rewrites, the request headers Envoy adds (§1.3), and the response headers it
sets (``server`` overwritten, ``x-envoy-upstream-service-time``, §1.1–§1.2).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import re
import socket
import ssl
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import TYPE_CHECKING, Any, Protocol

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import h11

from gatewaykit import envoy
from gatewaykit._simulate import Request as SimRequest
from gatewaykit._simulate import pick_cluster
from gatewaykit._simulate import simulate as run_simulation
from gatewaykit.dataplane._accesslog import AccessLogEntry
from gatewaykit.dataplane._codes import reason_phrase
from gatewaykit.dataplane._tls import PlainStream, TlsStream, san_matches

if TYPE_CHECKING:
    from gatewaykit.dataplane.plane import DataPlane, _State

__all__ = ["serve_h1", "serve_h2", "serve_tcp_proxy"]

Stream = PlainStream | TlsStream

# Envoy's default max_request_headers_kb is 60: larger request headers get 431.
MAX_REQUEST_HEADERS = 60 * 1024
# Hop-by-hop headers Envoy never forwards (RFC 7230 §6.1; HTTP/2 forbids them outright).
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "http2-settings"}
)
_REQUEST_LINE = re.compile(rb"^[A-Za-z]+ \S+ HTTP/\d\.\d\r?\n")


def _server(hcm: envoy.HttpConnectionManager) -> str:
    # An empty server_name (Istio's sidecar outbound) means Envoy's default, "envoy" (§1.1).
    return hcm.server_name or "envoy"


def http_date() -> str:
    """Return the ``date`` header value Envoy writes (RFC 7231 IMF-fixdate)."""
    return formatdate(usegmt=True)


@dataclass(slots=True)
class DownstreamRequest:
    """One request as the connection manager decoded it."""

    method: str
    path: str
    authority: str | None
    headers: list[tuple[str, str]]  # lower-case names, no pseudo-headers, no host
    body: bytes
    protocol: str  # "HTTP/1.1", "HTTP/1.0", "HTTP/2"

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k == name:
                return v
        return None


class Responder(Protocol):
    """Writes one response downstream (HTTP/1.1 or HTTP/2)."""

    bytes_sent: int

    async def start(self, status: int, headers: list[tuple[str, str]], end_stream: bool) -> None: ...

    async def data(self, chunk: bytes) -> None: ...

    async def end(self) -> None: ...


# ---------------------------------------------------------------------- HTTP/1.1


class _H1Responder:
    def __init__(self, conn: h11.Connection, stream: Stream, head: bool) -> None:
        self.conn = conn
        self.stream = stream
        self.head = head
        self.bytes_sent = 0
        self.close_after = False

    async def start(self, status: int, headers: list[tuple[str, str]], end_stream: bool) -> None:
        # Envoy re-frames the body itself; it writes "transfer-encoding: chunked" lower-case
        # when the length is unknown (h11 would add a capitalised one).
        hdrs = [(k, v) for k, v in headers if k not in _HOP_BY_HOP]
        if (
            self.conn.their_http_version == b"1.1"
            and status >= 200
            and status not in (204, 304)
            and not self.head
            and not any(k == "content-length" for k, _ in hdrs)
            and not end_stream
        ):
            hdrs.append(("transfer-encoding", "chunked"))
        if any(k == "connection" and v.lower() == "close" for k, v in headers):
            hdrs.append(("connection", "close"))
            self.close_after = True
        # Envoy's HTTP/1 codec writes its own reason phrase table (418 → "Unknown", §1.5).
        event = h11.Response(status_code=status, headers=hdrs, reason=reason_phrase(status).encode())
        wire = self.conn.send(event) or b""
        # h11 writes the framing header it adds as "Transfer-Encoding"; Envoy's is lower-case.
        wire = wire.replace(b"\r\nTransfer-Encoding: chunked\r\n", b"\r\ntransfer-encoding: chunked\r\n")
        # Likewise the "Connection: close" it adds when the client asked to close (§1.5).
        wire = wire.replace(b"\r\nConnection: close\r\n", b"\r\nconnection: close\r\n")
        self.stream.write(wire)
        if end_stream:
            await self.end()
        else:
            await self.stream.drain()

    async def data(self, chunk: bytes) -> None:
        if self.head or not chunk:
            return
        self.bytes_sent += len(chunk)
        self.stream.write(self.conn.send(h11.Data(data=chunk)) or b"")
        await self.stream.drain()

    async def end(self) -> None:
        self.stream.write(self.conn.send(h11.EndOfMessage()) or b"")
        await self.stream.drain()


async def _h1_next(conn: h11.Connection, stream: Stream, seen: bytearray | None = None) -> Any:
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = await stream.read()
            if seen is not None and len(seen) < 4096:
                seen += data[:4096]
            conn.receive_data(data)
            continue
        return event


class _HeadersTooLarge(Exception):
    """The request headers exceed Envoy's max_request_headers_kb (60 KiB)."""


def _h1_error_response(status: int, with_request: bool, server: str) -> bytes:
    # Envoy Http1 ServerConnectionImpl::sendProtocolError: once a request has started it sends
    # a local reply whose body is the code's name ("Bad Request", "Request Header Fields Too
    # Large"); before that, a canned "400 Bad Request" with content-length 0 (as simulate says).
    phrase = reason_phrase(status)
    if not with_request:
        return f"HTTP/1.1 {status} {phrase}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".encode()
    body = phrase
    return (
        f"HTTP/1.1 {status} {phrase}\r\ncontent-length: {len(body)}\r\ncontent-type: text/plain\r\n"
        f"date: {http_date()}\r\nserver: {server}\r\nconnection: close\r\n\r\n{body}"
    ).encode()


async def serve_h1(dp: DataPlane, state: _State, stream: Stream) -> None:
    """Serve HTTP/1.1 requests on one downstream connection (keep-alive honoured)."""
    hcm = state.chain.http_connection_manager if state.chain else None
    assert hcm is not None
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_REQUEST_HEADERS)
    while True:
        start = time.time()
        seen = bytearray(conn.trailing_data[0][:4096])
        try:
            event = await _h1_next(conn, stream, seen)
            if isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                break
            if not isinstance(event, h11.Request):
                break
            # Envoy counts the header map (names + values) against max_request_headers_kb; h11
            # only limits the bytes it has to buffer, so a request that arrives whole is
            # checked here.
            if sum(len(k) + len(v) for k, v in event.headers) > MAX_REQUEST_HEADERS:
                raise _HeadersTooLarge()
            if conn.they_are_waiting_for_100_continue:
                # Envoy answers "Expect: 100-continue" itself (proxy_100_continue is off) and
                # does not forward the expectation upstream.
                stream.write(conn.send(h11.InformationalResponse(status_code=100, headers=[])) or b"")
            body = bytearray()
            while True:
                ev = await _h1_next(conn, stream)
                if isinstance(ev, h11.Data):
                    body += ev.data
                elif isinstance(ev, h11.EndOfMessage):
                    break
                elif isinstance(ev, h11.ConnectionClosed):
                    return
        except (h11.RemoteProtocolError, _HeadersTooLarge) as exc:
            if isinstance(exc, _HeadersTooLarge):
                status = 431
            else:
                status = exc.error_status_hint if exc.error_status_hint in (400, 431) else 400
            with_request = status == 431 or bool(_REQUEST_LINE.match(bytes(seen)))
            # Envoy: DPE, details http1.codec_error / http1.headers_too_large.
            details = "http1.headers_too_large" if status == 431 else "http1.codec_error"
            dp.log(
                state,
                AccessLogEntry(
                    start=start,
                    protocol="HTTP/1.1",
                    response_code=status,
                    response_flags="DPE",
                    response_code_details=details,
                    bytes_sent=len(reason_phrase(status)) if with_request else 0,
                    duration_ms=int((time.time() - start) * 1000),
                    downstream_local_address=state.downstream_local,
                    downstream_remote_address=state.downstream_remote,
                    requested_server_name=state.sni,
                ),
            )
            stream.write(_h1_error_response(status, with_request, _server(hcm)))
            with contextlib.suppress(Exception):
                await stream.drain()
            stream.close()
            return
        headers: list[tuple[str, str]] = []
        authority = None
        for name, value in event.headers:
            k = name.decode("latin-1").lower()
            v = value.decode("latin-1")
            if k == "host":
                authority = v
            elif k == "expect" and v.lower() == "100-continue":
                continue
            else:
                headers.append((k, v))
        version = "HTTP/" + event.http_version.decode()
        if event.http_version == b"1.0":
            # Istio leaves accept_http_10 off (PILOT_HTTP10 unset): Envoy's HTTP/1 codec answers
            # 426 and closes (ServerConnectionImpl, ResponseCodeDetails "low_version").
            text = "Upgrade Required"
            dp.log(
                state,
                AccessLogEntry(
                    start=start,
                    method=event.method.decode(),
                    path=event.target.decode("latin-1"),
                    protocol=version,
                    authority=authority,
                    user_agent=next((v for k, v in headers if k == "user-agent"), None),
                    response_code=426,
                    response_flags="-",
                    response_code_details="low_version",
                    bytes_sent=len(text),
                    duration_ms=int((time.time() - start) * 1000),
                    downstream_local_address=state.downstream_local,
                    downstream_remote_address=state.downstream_remote,
                    requested_server_name=state.sni,
                ),
            )
            stream.write(
                (
                    f"HTTP/1.1 426 Upgrade Required\r\ncontent-length: {len(text)}\r\n"
                    f"content-type: text/plain\r\ndate: {http_date()}\r\nserver: {_server(hcm)}\r\n"
                    f"connection: close\r\n\r\n{text}"
                ).encode()
            )
            with contextlib.suppress(Exception):
                await stream.drain()
            break
        req = DownstreamRequest(
            event.method.decode(), event.target.decode("latin-1"), authority, headers, bytes(body), version
        )
        responder = _H1Responder(conn, stream, head=req.method == "HEAD")
        keep = await handle_request(dp, state, req, responder, start)
        if not keep or responder.close_after or conn.our_state is h11.MUST_CLOSE:
            break
        try:
            conn.start_next_cycle()
        except h11.LocalProtocolError:
            break
    stream.close()


# ----------------------------------------------------------------------- HTTP/2


class _H2Responder:
    def __init__(self, session: _H2Session, stream_id: int, head: bool) -> None:
        self.s = session
        self.sid = stream_id
        self.head = head
        self.bytes_sent = 0

    async def start(self, status: int, headers: list[tuple[str, str]], end_stream: bool) -> None:
        hdrs = [(":status", str(status))] + [(k, v) for k, v in headers if k not in _HOP_BY_HOP]
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


async def serve_h2(dp: DataPlane, state: _State, stream: Stream) -> None:
    """Serve HTTP/2 (ALPN ``h2`` or h2c prior knowledge) on one downstream connection."""
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
    session = _H2Session(conn, stream)
    await session.flush()
    pending: dict[int, tuple[list[tuple[str, str]], bytearray, float]] = {}
    tasks: dict[int, asyncio.Task[Any]] = {}
    try:
        while True:
            data = await stream.read()
            if not data:
                break
            try:
                events = conn.receive_data(data)
            except h2.exceptions.ProtocolError:
                await session.flush()
                break
            terminated = False
            for ev in events:
                if isinstance(ev, h2.events.RequestReceived):
                    pending[ev.stream_id] = (list(ev.headers or []), bytearray(), time.time())  # type: ignore[arg-type]
                elif isinstance(ev, h2.events.DataReceived):
                    if ev.stream_id in pending:
                        pending[ev.stream_id][1].extend(ev.data or b"")
                    conn.acknowledge_received_data(ev.flow_controlled_length or 0, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded):
                    item = pending.pop(ev.stream_id, None)
                    if item is not None:
                        sid = ev.stream_id
                        task = asyncio.create_task(_h2_request(dp, state, session, sid, *item))
                        tasks[sid] = task
                        task.add_done_callback(functools.partial(_forget, tasks, sid))
                elif isinstance(ev, h2.events.StreamReset):
                    pending.pop(ev.stream_id, None)
                    t = tasks.pop(ev.stream_id, None)
                    if t is not None:
                        t.cancel()
                elif isinstance(ev, (h2.events.WindowUpdated, h2.events.RemoteSettingsChanged)):
                    session.window_event.set()
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    terminated = True
            await session.flush()
            if terminated:
                break
    finally:
        for t in list(tasks.values()):
            t.cancel()
        stream.close()


def _forget(tasks: dict[int, asyncio.Task[Any]], sid: int, _task: asyncio.Task[Any]) -> None:
    tasks.pop(sid, None)


async def _h2_request(
    dp: DataPlane,
    state: _State,
    session: _H2Session,
    sid: int,
    raw_headers: list[tuple[str, str]],
    body: bytearray,
    start: float,
) -> None:
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
    req = DownstreamRequest(method, path or "/", authority, headers, bytes(body), "HTTP/2")
    responder = _H2Responder(session, sid, head=method == "HEAD")
    try:
        await handle_request(dp, state, req, responder, start)
    except (ConnectionError, OSError, h2.exceptions.ProtocolError):
        pass
    except Exception:  # noqa: BLE001 - one broken stream must not go unnoticed or kill the session
        logging.getLogger("gatewaykit.dataplane").exception("HTTP/2 stream %d failed", sid)


# ------------------------------------------------------------- request handling


def _rewrite_path(route: envoy.Route, path: str) -> str:
    action = route.route
    assert action is not None
    if action.prefix_rewrite is not None:
        match = route.match
        # Envoy RouteEntryImplBase::finalizePathHeader: the matched prefix (or the whole
        # path for an exact path match) is replaced; the query string is kept.
        if match.matched_prefix is not None:
            return action.prefix_rewrite + path[len(match.matched_prefix) :]
        if match.path is not None:
            q = path.find("?")
            return action.prefix_rewrite + (path[q:] if q != -1 else "")
    if action.regex_rewrite is not None:
        pattern, substitution = action.regex_rewrite
        q = path.find("?")
        only, query = (path[:q], path[q:]) if q != -1 else (path, "")
        try:
            return re.sub(pattern, substitution, only) + query
        except re.error:
            return path
    return path


def _retry_count(action: envoy.RouteAction) -> int:
    policy = action.retry_policy
    if policy is None:
        return 0
    if "connect-failure" not in policy.retry_on and "reset" not in policy.retry_on:
        return 0
    return max(policy.num_retries, 0)


def _status_retries(action: envoy.RouteAction) -> int:
    policy = action.retry_policy
    return max(policy.num_retries, 0) if policy is not None else 0


def _retry_on_status(action: envoy.RouteAction, status: int) -> bool:
    """Whether ``status`` is retriable under the route's ``retry_on`` (Envoy router retry_state)."""
    policy = action.retry_policy
    if policy is None:
        return False
    on = {c.strip() for c in policy.retry_on.split(",")}
    if "5xx" in on and status >= 500:
        return True
    if "gateway-error" in on and status in (502, 503, 504):
        return True
    return "retriable-status-codes" in on and status in policy.retriable_status_codes


@dataclass(slots=True)
class _Upstream:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    endpoint: str
    local: str
    key: tuple[Any, ...] = ()
    reused: bool = False


def _spawn_mirror(
    dp: DataPlane, state: _State, cluster_name: str, req: Any, path: str, headers: list[tuple[str, str]]
) -> None:
    """Send a fire-and-forget copy of the request to a mirror cluster (VirtualService ``mirror``).

    Envoy's shadow writer: the copy's Host gets the suffix ``-shadow`` and its response is
    dropped; a mirror failure never affects the client's request (router shadow_writer_impl.cc).
    """
    cluster = state.proxy.clusters.get(cluster_name)
    healthy = [f"{e.address}:{e.port}" for e in cluster.endpoints if e.healthy] if cluster else []
    if cluster is None or not healthy:
        return
    host = next((v for k, v in headers if k == "host"), "")
    shadow = [("host", f"{host}-shadow")] + [(k, v) for k, v in headers if k != "host"]

    async def run() -> None:
        with contextlib.suppress(Exception):
            conn = await _connect(dp, state, cluster, healthy[0], host)
            try:
                client = h11.Connection(h11.CLIENT)
                data = client.send(h11.Request(method=req.method, target=path, headers=shadow))
                data += client.send(h11.Data(data=req.body)) if req.body else b""
                conn.writer.write(data + client.send(h11.EndOfMessage()))
                await conn.writer.drain()
                await asyncio.wait_for(conn.reader.read(65536), 5)
            finally:
                conn.writer.close()

    # Tracked like connection tasks, so DataPlane.close() cancels a mirror still in flight.
    task = asyncio.ensure_future(run())
    dp._tasks.add(task)  # noqa: SLF001 - the data plane's own task set
    task.add_done_callback(dp._tasks.discard)  # noqa: SLF001


async def _connect(
    dp: DataPlane,
    state: _State,
    cluster: envoy.Cluster,
    endpoint: str,
    authority: str | None,
    *,
    pooled: bool = False,
) -> _Upstream:
    host, _, port_s = endpoint.rpartition(":")
    # Any proxy's connection to an injected pod (a sidecar's or a gateway's) is captured by
    # that pod's sidecar (iptables); only the inbound|<port>|| cluster of the pod's own sidecar
    # reaches the app.
    http = state.chain is not None and state.chain.http_connection_manager is not None
    captured = not cluster.name.startswith("inbound|") and (state.proxy.type == "sidecar" or http)
    target = dp.address_book.resolve(host, int(port_s), captured=captured) if port_s.isdigit() else None
    if target is None:
        # Nothing serves that address: what the proxy sees is a refused connection.
        raise ConnectionRefusedError(111, "Connection refused")
    ssl_ctx: ssl.SSLContext | None = None
    server_hostname = None
    tls = cluster.transport_socket
    if tls is None and http and captured and dp.address_book.is_captured(host, int(port_s)):
        tls = _auto_mtls(dp, cluster)
    if tls is not None:
        ssl_ctx = dp.contexts.client_context(state.proxy, tls, dp.identity(state.proxy))
        if ssl_ctx is None:
            raise ConnectionRefusedError(111, "no TLS material for the cluster")
        server_hostname = tls.sni or (authority or host).split(":")[0]
    # Envoy pools per cluster (and per host): a pooled connection never crosses clusters.
    key = (state.proxy_id, cluster.name, endpoint, target, id(ssl_ctx) if ssl_ctx else None, server_hostname)
    if pooled:
        # Envoy keeps upstream HTTP/1.1 connections alive in a per-cluster pool.
        idle = dp.upstream_pool.get(key)
        while idle:
            up = idle.pop()
            if not up.reader.at_eof() and not up.writer.is_closing():
                up.reused = True
                return up
            up.writer.close()
    # The local port is known before connecting, so a proxy of this data plane accepting the
    # connection can tell which pod it comes from (the peer address Envoy would see).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.bind(("127.0.0.1", 0))
        dp.note_source(int(sock.getsockname()[1]), state.pod_ip, int(target[1]))
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(loop.sock_connect(sock, target), timeout=cluster.connect_timeout or 10.0)
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                sock=sock,
                ssl=ssl_ctx,
                server_hostname=server_hostname,
                ssl_handshake_timeout=(cluster.connect_timeout or 10.0) if ssl_ctx else None,
            ),
            timeout=cluster.connect_timeout or 10.0,
        )
    except BaseException:
        sock.close()
        raise
    if tls is not None and not tls.insecure_skip_verify and tls.subject_alt_names:
        # DestinationRule tls.subjectAltNames: Envoy checks the server certificate's SANs.
        if not san_matches(writer.get_extra_info("peercert"), tls.subject_alt_names):
            writer.transport.abort()
            raise ssl.SSLError(1, "CERTIFICATE_VERIFY_FAILED")
    local = writer.get_extra_info("sockname") or ("127.0.0.1", 0)
    return _Upstream(reader, writer, endpoint, f"{state.pod_ip}:{local[1]}", key)


# Headers every proxy sets afresh for its own hop.
_SET_PER_HOP = frozenset(
    ("content-length", "x-forwarded-for", "x-forwarded-proto", "x-request-id", "x-forwarded-client-cert")
)
# Envoy's internal headers, replaced at the edge and by each outbound hop here.
_ENVOY_INTERNAL = frozenset(
    (
        "x-envoy-attempt-count",
        "x-envoy-external-address",
        "x-envoy-decorator-operation",
        "x-envoy-original-path",
        "x-envoy-expected-rq-timeout-ms",
    )
)


def _auto_mtls(dp: DataPlane, cluster: envoy.Cluster) -> envoy.UpstreamTlsContext | None:
    """Istio auto mTLS: ISTIO_MUTUAL towards an endpoint that has a sidecar, else None.

    Istio gives an outbound cluster without DestinationRule TLS a transport_socket_match for
    endpoints labelled ``security.istio.io/tlsMode: istio`` (cluster_builder.go
    applyAutoMTLS / buildAutoMtlsSettings): SNI ``outbound_.<port>_.<subset>_.<host>``
    (model.BuildDNSSrvSubsetKey), ALPN ``istio-peer-exchange, istio`` plus ``h2`` for HTTP/2
    clusters (util.ALPNInMeshWithMxc / ALPNInMeshH2WithMxc). PassthroughCluster and
    ORIGINAL_DST connections stay plaintext (no match), served by the PERMISSIVE inbound's
    plaintext chain.
    """
    parts = cluster.name.split("|")
    if len(parts) != 4 or parts[0] != "outbound":
        return None
    direction, port, subset, host = parts
    alpn: tuple[str, ...] = ("istio-peer-exchange", "istio")
    if dp.upstream_http2(cluster):
        alpn += ("h2",)
    return envoy.UpstreamTlsContext(
        mode="ISTIO_MUTUAL",
        sni=f"{direction}_.{port}_.{subset}_.{host}",
        certificate_sds="default",
        validation_sds="ROOTCA",
        alpn_protocols=alpn,
    )


_POOL_PER_KEY = 32


def _quickack(writer: asyncio.StreamWriter) -> None:
    # Many small upstream servers (werkzeug, http.server) write the response head and body in
    # two segments without TCP_NODELAY; on a reused connection Nagle then waits for our ACK,
    # which Linux delays by up to 40 ms. Asking for an immediate ACK keeps a pooled request
    # as fast as a fresh one (Envoy's upstreams are usually better behaved).
    sock = writer.get_extra_info("socket")
    if sock is not None and hasattr(socket, "TCP_QUICKACK"):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)


def _release(dp: DataPlane, up: _Upstream, client: h11.Connection) -> bool:
    """Return a finished keep-alive connection to the pool; False if it must be closed."""
    if client.our_state is not h11.DONE or client.their_state is not h11.DONE:
        return False
    if up.reader.at_eof() or up.writer.is_closing():
        return False
    idle = dp.upstream_pool.setdefault(up.key, [])
    if len(idle) >= _POOL_PER_KEY:
        return False
    idle.append(up)
    return True


# BoringSSL packed error codes Envoy prints (ERR_PACK(ERR_LIB_SSL=16, reason)).
_BORINGSSL_REASONS = {"CERTIFICATE_VERIFY_FAILED": 125, "WRONG_VERSION_NUMBER": 247}


def _tls_failure(exc: ssl.SSLError) -> str:
    """Render an upstream TLS failure the way Envoy's transport failure reason reads.

    Envoy (BoringSSL): ``TLS_error:|268435581:SSL routines:OPENSSL_internal:
    CERTIFICATE_VERIFY_FAILED:TLS_error_end`` -- the text users quote from istio issues.
    """
    text = str(exc)
    reason = (
        getattr(exc, "reason", None)
        or next((r for r in _BORINGSSL_REASONS if r in text), None)
        or "HANDSHAKE_FAILURE"
    )
    if "CERTIFICATE_VERIFY_FAILED" in text:
        reason = "CERTIFICATE_VERIFY_FAILED"
    code = (16 << 24) | _BORINGSSL_REASONS.get(reason, 0)
    return f"TLS_error:|{code}:SSL routines:OPENSSL_internal:{reason}:TLS_error_end"


async def _send_local(
    responder: Responder, status: int, body: str, headers: tuple[tuple[str, str], ...], head: bool
) -> None:
    data = body.encode()
    await responder.start(status, list(headers), end_stream=not data or head)
    if data and not head:
        await responder.data(data)
        await responder.end()


def _local_headers(
    status: int, body: str, server: str, extra: tuple[tuple[str, str], ...] = ()
) -> tuple[tuple[str, str], ...]:
    # Same layout as simulate's local replies: content-length/content-type for a body, extra
    # headers, date, server, and content-length: 0 last for an empty body (§1.2).
    out: list[tuple[str, str]] = []
    if body:
        out += [("content-length", str(len(body.encode()))), ("content-type", "text/plain")]
    out += list(extra)
    out += [("date", http_date()), ("server", server)]
    if not body:
        out.append(("content-length", "0"))
    return tuple(out)


_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def normalize_path(target: str) -> str:
    """Envoy's ``normalize_path`` (Istio's default ``pathNormalization: BASE``) on a request target.

    ``PathUtil::canonicalPath`` (Chromium's URL canonicalizer): percent-encoded unreserved
    characters are decoded (``%2E`` → ``.``), a backslash becomes ``/``, and dot segments are removed
    (RFC 3986 §5.2.4): ``/foo/../status/201`` → ``/status/201``. Slashes are not merged and
    ``%2F`` stays encoded (BASE). The query string is kept as is.
    """
    path, sep, query = target.partition("?")
    if not path.startswith("/"):
        return target

    def decode(m: re.Match[str]) -> str:
        byte = int(m.group(1), 16)
        return chr(byte) if byte in _UNRESERVED else "%" + m.group(1).upper()

    path = re.sub(r"%([0-9A-Fa-f]{2})", decode, path).replace("\\", "/")
    out: list[str] = []
    segments = path.split("/")[1:]
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == ".":
            if last:
                out.append("")
        elif seg == "..":
            if out:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(seg)
    return "/" + "/".join(out) + sep + query


async def handle_request(
    dp: DataPlane, state: _State, req: DownstreamRequest, responder: Responder, start: float
) -> bool:
    """Route one request (via simulate) and answer it; returns False if the connection must close."""
    # The HCM normalizes the path before routing; the route and the upstream see the result.
    req.path = normalize_path(req.path)
    with dp.in_flight(state):
        return await _handle_request(dp, state, req, responder, start)


async def _handle_request(
    dp: DataPlane, state: _State, req: DownstreamRequest, responder: Responder, start: float
) -> bool:
    hcm = state.chain.http_connection_manager if state.chain else None
    assert hcm is not None
    t0 = time.monotonic()
    head = req.method == "HEAD"
    sreq = SimRequest(
        port=state.listener_port,
        protocol="https" if state.tls else "http",
        sni=state.sni,
        alpn=(state.alpn,) if state.alpn else (("h2",) if req.protocol == "HTTP/2" else ("http/1.1",)),
        host=req.authority,
        path=req.path,
        method=req.method,
        headers=tuple(req.headers),
        client_certificate=state.client_cert,
        destination=state.destination,
    )
    result = run_simulation(state.proxy, sreq, dp.rng)
    dp.emit(state, result)
    # Envoy's fault filter runs before the router: first the delay, then the abort, which
    # simulate already turned into result.reply with flag FI (fault_filter.cc).
    if result.fault_delay:
        await asyncio.sleep(result.fault_delay)

    # Envoy's edge headers (§1.3): x-request-id is generated when absent; with
    # use_remote_address the client address is appended to x-forwarded-for.
    request_id = req.header("x-request-id") or str(uuid.uuid4())
    xff = req.header("x-forwarded-for")
    if hcm.use_remote_address:
        xff = f"{xff},{state.client_ip}" if xff else state.client_ip
    entry: dict[str, Any] = dict(
        start=start,
        method=req.method,
        path=req.path,
        protocol=req.protocol,
        x_forwarded_for=xff,
        user_agent=req.header("user-agent"),
        request_id=request_id,
        authority=req.authority,
        downstream_local_address=state.downstream_local,
        downstream_remote_address=state.downstream_remote,
        requested_server_name=state.sni,
        route_name=result.route_entry.name
        if result.route_entry is not None and result.route_entry.name
        else None,
        bytes_received=len(req.body),
        upstream_cluster=result.cluster,
    )

    def finish(status: int, flags: str | None, details: str, sent: int, **more: Any) -> None:
        if result.fault_delay and (not flags or "DI" not in flags):
            # A delayed request carries DelayInjected (DI) whatever happens next (Envoy flags).
            flags = "DI" if flags in (None, "-", "") else f"DI,{flags}"
        dp.log(
            state,
            AccessLogEntry(
                **{**entry, **more},
                response_code=status,
                response_flags=flags,
                response_code_details=details,
                bytes_sent=sent,
                duration_ms=int((time.monotonic() - t0) * 1000),
            ),
        )

    if result.reply is not None:
        reply = result.reply
        details = {
            "NR": "route_not_found",
            "NC": "cluster_not_found",
            "UH": "no_healthy_upstream",
            "DPE": "http1.codec_error",
        }.get(result.response_flags)
        if details is None:
            details = "fault_filter_abort" if "FI" in result.response_flags else "direct_response"
        # The access log is written before the last byte goes out, so whoever reads the log
        # right after curl returns finds the line (Envoy logs at stream end, a moment later).
        finish(reply.status, result.response_flags, details, 0 if head else len(reply.body.encode()))
        wire = tuple(
            (k, _server(hcm) if k == "server" and not v else v) for k, v in reply.wire_headers(http_date())
        )
        await _send_local(responder, reply.status, reply.body, wire, head)
        return not any(k == "connection" and v == "close" for k, v in reply.headers)
    if result.action != "http" or result.route_entry is None or result.route_entry.route is None:
        return False

    route = result.route_entry
    action = route.route
    assert action is not None
    cluster = state.proxy.clusters.get(result.cluster or "")
    if cluster is None:  # simulate said it exists; a config race is the only way here
        return False

    # -- the upstream request (§1.3)
    path = _rewrite_path(route, req.path)
    remove = {h.lower() for h in route.request_headers_to_remove}
    up: list[tuple[str, str]] = [("host", action.host_rewrite_literal or req.authority or "")]
    # An inbound sidecar is not the edge (no use_remote_address): Envoy cleans x-envoy-*
    # internal headers only on edge requests (conn_manager_utility.cc cleanInternalHeaders), so
    # what the previous proxy set (attempt count, external address, original path, ...) reaches
    # the app as that proxy sent it.
    inbound = state.listener.traffic_direction == "INBOUND"
    for k, v in req.headers:
        if k in _HOP_BY_HOP or k in remove or k in _SET_PER_HOP:
            continue
        if k in _ENVOY_INTERNAL and not inbound:
            continue
        if inbound and k == "x-envoy-decorator-operation":
            # Istio configures tracing on every HCM (meshConfig.enableTracing defaults to true),
            # and on ingress-direction streams Envoy's traceRequest() uses the peer's decorator
            # for its span and then "Remove[s] header so not propagated to service"
            # (conn_manager_impl.cc): the app behind a sidecar never sees it.
            continue
        up.append((k, v))
    # Envoy streams request bodies: a body without a known length (HTTP/1 chunked, or HTTP/2
    # without content-length) goes upstream with "transfer-encoding: chunked"; a declared
    # length is kept (Http1 upstream encoder, StreamEncoderImpl::encodeHeadersBase).
    chunked = "chunked" in (req.header("transfer-encoding") or "").lower()
    if chunked or (req.body and req.header("content-length") is None):
        up.append(("transfer-encoding", "chunked"))
    elif req.header("content-length") is not None or req.body:
        up.append(("content-length", str(len(req.body))))
    if xff:
        up.append(("x-forwarded-for", xff))
    # x-forwarded-proto: the edge (use_remote_address) sets it from the connection; other hops
    # keep the value they received and only fill it in when absent (conn_manager_utility.cc),
    # so the app behind an mTLS inbound hop still sees the scheme the client used.
    xfp = req.header("x-forwarded-proto")
    up.append(
        (
            "x-forwarded-proto",
            xfp if xfp and not hcm.use_remote_address else ("https" if state.tls else "http"),
        )
    )
    up.append(("x-request-id", request_id))
    if hcm.use_remote_address:
        up.append(("x-envoy-external-address", state.client_ip))
    xfcc = _xfcc(state, hcm, req.header("x-forwarded-client-cert"))
    if xfcc is not None:
        up.append(("x-forwarded-client-cert", xfcc))
    if route.decorator_operation and state.listener.traffic_direction != "INBOUND":
        # Envoy propagates the decorator only on egress-traced listeners; an inbound sidecar
        # sets none of its own and consumes the peer's (ConnectionManagerImpl::traceRequest).
        up.append(("x-envoy-decorator-operation", route.decorator_operation))
    if path != req.path:
        up.append(("x-envoy-original-path", req.path))
    if action.timeout and action.timeout > 0:
        up.append(("x-envoy-expected-rq-timeout-ms", str(int(action.timeout * 1000))))
    up.extend((k.lower(), v) for k, v in route.request_headers_to_add)

    for mirror in result.mirrors:
        _spawn_mirror(dp, state, mirror, req, path, up)

    # -- connect, with the route's retries on connect failure (Istio default: 2, §1.4 notes)
    retries = _retry_count(action)
    healthy = [f"{e.address}:{e.port}" for e in cluster.endpoints if e.healthy]
    endpoint = result.endpoint or (healthy[0] if healthy else "")
    upstream: _Upstream | None = None
    attempt = 0
    failure = "delayed connect error: 111"
    deadline = t0 + action.timeout if action.timeout and action.timeout > 0 else None
    while True:
        attempt += 1
        try:
            upstream = await _connect(dp, state, cluster, endpoint, req.authority, pooled=True)
            break
        except ssl.SSLError as exc:
            failure = _tls_failure(exc)
        except (OSError, asyncio.TimeoutError) as exc:
            failure = "delayed connect error: 111" if isinstance(exc, ConnectionRefusedError) else str(exc)
        if attempt > retries or (deadline is not None and time.monotonic() >= deadline):
            break
        await asyncio.sleep(0.025 * dp.rng.random() * attempt)  # Envoy's jittered 25 ms backoff
        if len(healthy) > 1:
            endpoint = healthy[dp.rng.randrange(len(healthy))]
    if upstream is None:
        # Envoy Filter::onUpstreamReset (router.cc): 503, body exact (§1.4).
        body = (
            "upstream connect error or disconnect/reset before headers. "
            + ("retried and the latest " if attempt > 1 else "")
            + f"reset reason: remote connection failure, transport failure reason: {failure}"
        )
        reason = failure.replace(" ", "_")
        finish(
            503,
            "UF,URX" if attempt > 1 else "UF",
            f"upstream_reset_before_response_started{{remote_connection_failure,{reason}}}",
            0 if head else len(body),
            upstream_transport_failure_reason=reason,
            upstream_host=endpoint,
        )
        await _send_local(responder, 503, body, _local_headers(503, body, _server(hcm)), head)
        return True

    # The router sets (replaces) x-envoy-attempt-count (router.cc setEnvoyAttemptCount).
    up[:] = [(k, v) for k, v in up if k != "x-envoy-attempt-count"]
    up.append(("x-envoy-attempt-count", str(attempt)))
    if dp.upstream_http2(cluster):
        entry.update(upstream_host=upstream.endpoint, upstream_local_address=upstream.local)
        return await _h2_upstream(
            dp, state, upstream, req, path, up, head, deadline, t0, finish, responder, hcm, route
        )
    request_bytes = b""
    client = h11.Connection(h11.CLIENT)
    pooled_ok = False

    async def exchange(conn: _Upstream) -> Any:
        """Send the request on ``conn`` and wait for the response head."""
        nonlocal client, request_bytes
        client = h11.Connection(h11.CLIENT, max_incomplete_event_size=1024 * 1024)
        request_bytes = client.send(h11.Request(method=req.method, target=path, headers=up))
        if req.body:
            request_bytes += client.send(h11.Data(data=req.body))
        request_bytes += client.send(h11.EndOfMessage())
        conn.writer.write(request_bytes)
        _quickack(conn.writer)
        await conn.writer.drain()
        while True:
            ev = await next_event(conn)
            if not isinstance(ev, h11.InformationalResponse):
                return ev

    async def next_event(conn: _Upstream) -> Any:
        while True:
            ev = client.next_event()
            if ev is h11.NEED_DATA:
                client.receive_data(await conn.reader.read(65536))
                continue
            return ev

    retry_exhausted = False
    # The connection exists from here on: every later log line (504 UT, 503 UC) names it.
    entry.update(upstream_host=upstream.endpoint, upstream_local_address=upstream.local)
    try:
        # Route timeout: 504 "upstream request timeout" when the response does not arrive in
        # time (router.cc onResponseTimeout → onUpstreamTimeoutAbort, details
        # ResponseCodeDetails::ResponseTimeout = "response_timeout", §1.4).
        try:
            async with asyncio.timeout_at(_loop_deadline(deadline)):
                try:
                    ev = await exchange(upstream)
                    if upstream.reused and not isinstance(ev, h11.Response):
                        raise ConnectionResetError("pooled connection closed")
                except (h11.ProtocolError, ConnectionError, OSError):
                    if not upstream.reused:
                        raise
                    # The upstream closed an idle pooled connection just as we used it:
                    # nothing was answered, so send the request again on a fresh connection.
                    upstream.writer.close()
                    upstream = await _connect(dp, state, cluster, upstream.endpoint, req.authority)
                    entry.update(upstream_local_address=upstream.local)
                    ev = await exchange(upstream)
                # VirtualService retries.retryOn 5xx / gateway-error / retriable-status-codes: the
                # answer is dropped and the request sent again while tries remain (Envoy
                # RetryStateImpl::shouldRetryHeaders); the route timeout covers every try.
                while (
                    isinstance(ev, h11.Response)
                    and _retry_on_status(action, ev.status_code)
                    and attempt <= _status_retries(action)
                ):
                    done = (h11.EndOfMessage, h11.ConnectionClosed)
                    while not isinstance(await next_event(upstream), done):
                        pass
                    upstream.writer.close()
                    attempt += 1
                    await asyncio.sleep(0.025 * dp.rng.random() * attempt)
                    up[:] = [(k, v) for k, v in up if k != "x-envoy-attempt-count"]
                    up.append(("x-envoy-attempt-count", str(attempt)))
                    upstream = await _connect(dp, state, cluster, upstream.endpoint, req.authority)
                    entry.update(upstream_local_address=upstream.local)
                    ev = await exchange(upstream)
                if isinstance(ev, h11.Response) and _retry_on_status(action, ev.status_code) and attempt > 1:
                    retry_exhausted = True
        except TimeoutError:
            body = "upstream request timeout"
            finish(504, "UT", "response_timeout", 0 if head else len(body))
            await _send_local(responder, 504, body, _local_headers(504, body, _server(hcm)), head)
            return True
        if not isinstance(ev, h11.Response):
            raise ConnectionResetError("upstream closed before headers")
        service_ms = int((time.monotonic() - t0) * 1000)
        status = ev.status_code
        hdrs = _response_headers(ev.headers, _server(hcm), service_ms, route)
        no_body = head or status in (204, 304) or 100 <= status < 200
        sent = 0
        flags = "URX" if retry_exhausted else "-"  # UpstreamRetryLimitExceeded
        if no_body:
            with contextlib.suppress(h11.ProtocolError):
                client.next_event()  # consume the (empty) end of message, for the pool
            finish(status, flags, "via_upstream", 0, upstream_service_time=str(service_ms))
            pooled_ok = _release(dp, upstream, client)
        await responder.start(status, hdrs, end_stream=no_body)
        if not no_body:
            try:
                async with asyncio.timeout_at(_loop_deadline(deadline)):
                    while True:
                        ev = await next_event(upstream)
                        if isinstance(ev, h11.Data):
                            sent += len(ev.data)
                            await responder.data(bytes(ev.data))
                        elif isinstance(ev, (h11.EndOfMessage, h11.ConnectionClosed)):
                            break
            except TimeoutError:
                finish(status, "UT", "response_timeout", sent, upstream_service_time=str(service_ms))
                return False  # Envoy resets a stream whose response is cut by the timeout
            finish(status, flags, "via_upstream", sent, upstream_service_time=str(service_ms))
            pooled_ok = _release(dp, upstream, client)
            await responder.end()
        return True
    except (h11.ProtocolError, ConnectionError, OSError) as exc:
        if isinstance(exc, h11.ProtocolError) or client.their_state in (h11.IDLE, h11.SEND_RESPONSE):
            body = (
                "upstream connect error or disconnect/reset before headers. "
                "reset reason: connection termination"
            )
            finish(503, "UC", "upstream_reset_before_response_started{connection_termination}", len(body))
            with contextlib.suppress(Exception):
                await _send_local(responder, 503, body, _local_headers(503, body, _server(hcm)), head)
            return True
        return False
    finally:
        if not pooled_ok:
            with contextlib.suppress(Exception):
                upstream.writer.close()


async def _h2_upstream(
    dp: DataPlane,
    state: _State,
    upstream: _Upstream,
    req: DownstreamRequest,
    path: str,
    up: list[tuple[str, str]],
    head: bool,
    deadline: float | None,
    t0: float,
    finish: Callable[..., None],
    responder: Responder,
    hcm: envoy.HttpConnectionManager,
    route: envoy.Route,
) -> bool:
    """One request on a fresh HTTP/2 upstream connection (prior knowledge, one stream).

    Istio gives clusters of HTTP2/gRPC service ports ``http2_protocol_options``: Envoy then
    speaks HTTP/2 upstream whatever the client spoke, which is why the egress gateway logs
    ``GET /politics HTTP/2`` for a client's HTTP/1.1 request (§12). The response is buffered
    (the sandbox's upstreams answer small bodies).
    """
    conn = h2.connection.H2Connection(
        config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
    )
    conn.initiate_connection()
    sid = conn.get_next_available_stream_id()
    authority = next((v for k, v in up if k == "host"), req.authority or "")
    headers = [
        (":method", req.method),
        (":scheme", "https" if state.tls else "http"),
        (":authority", authority),
        (":path", path),
    ] + [(k, v) for k, v in up if k not in ("host", "transfer-encoding", "connection", "keep-alive")]
    writer, reader = upstream.writer, upstream.reader
    status: int | None = None
    raw_headers: list[tuple[bytes, bytes]] = []
    body = bytearray()
    try:
        try:
            async with asyncio.timeout_at(_loop_deadline(deadline)):
                conn.send_headers(sid, headers, end_stream=not req.body)
                if req.body:
                    conn.send_data(sid, bytes(req.body), end_stream=True)
                writer.write(conn.data_to_send())
                await writer.drain()
                done = False
                while not done:
                    data = await reader.read(65536)
                    if not data:
                        raise ConnectionResetError("upstream closed")
                    for ev in conn.receive_data(data):
                        if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == sid:
                            for hk, hv in ev.headers:
                                name = hk.decode() if isinstance(hk, bytes) else str(hk)
                                value = hv.decode() if isinstance(hv, bytes) else str(hv)
                                if name == ":status":
                                    status = int(value)
                                elif not name.startswith(":"):
                                    raw_headers.append((name.encode("latin-1"), value.encode("latin-1")))
                        elif isinstance(ev, h2.events.DataReceived) and ev.stream_id == sid:
                            body += ev.data
                            conn.acknowledge_received_data(ev.flow_controlled_length, sid)
                        elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id == sid:
                            done = True
                        elif isinstance(ev, (h2.events.StreamReset, h2.events.ConnectionTerminated)):
                            raise ConnectionResetError("upstream reset the stream")
                    out = conn.data_to_send()
                    if out:
                        writer.write(out)
                        await writer.drain()
        except TimeoutError:
            text = "upstream request timeout"
            finish(504, "UT", "response_timeout", 0 if head else len(text))
            await _send_local(responder, 504, text, _local_headers(504, text, _server(hcm)), head)
            return True
        if status is None:
            raise ConnectionResetError("no response headers")
    except (h2.exceptions.ProtocolError, ConnectionError, OSError):
        text = (
            "upstream connect error or disconnect/reset before headers. reset reason: connection termination"
        )
        finish(503, "UC", "upstream_reset_before_response_started{connection_termination}", len(text))
        with contextlib.suppress(Exception):
            await _send_local(responder, 503, text, _local_headers(503, text, _server(hcm)), head)
        return True
    finally:
        with contextlib.suppress(Exception):
            writer.close()
    service_ms = int((time.monotonic() - t0) * 1000)
    hdrs = _response_headers(raw_headers, _server(hcm), service_ms, route)
    if not any(k == "content-length" for k, _ in hdrs) and not head:
        hdrs.append(("content-length", str(len(body))))
    no_body = head or status in (204, 304) or 100 <= status < 200
    finish(status, "-", "via_upstream", 0 if no_body else len(body), upstream_service_time=str(service_ms))
    await responder.start(status, hdrs, end_stream=no_body)
    if not no_body:
        await responder.data(bytes(body))
        await responder.end()
    return True


def _xfcc(state: _State, hcm: envoy.HttpConnectionManager, existing: str | None) -> str | None:
    """The x-forwarded-client-cert value Envoy sends upstream (conn_manager_utility.cc).

    ``forward_client_cert_details`` (Envoy's default SANITIZE): without an mTLS peer the header
    is removed (except ALWAYS_FORWARD_ONLY); SANITIZE_SET replaces it and APPEND_FORWARD appends
    ``By=<own URI SAN>;Hash=<sha256>`` plus the details Istio asks for -- gateways
    ``Cert, Subject, URI, DNS`` (buildGatewayConnectionManager), sidecar inbound
    ``Subject, URI, DNS`` -- in Envoy's order Cert, Subject, URI ("URI=" even when empty), DNS.
    """
    mode = hcm.forward_client_cert_details or "SANITIZE"
    if mode == "ALWAYS_FORWARD_ONLY":
        return existing
    if state.peer_der is None:
        return None
    if mode == "FORWARD_ONLY":
        return existing
    if mode not in ("SANITIZE_SET", "APPEND_FORWARD"):
        return None
    from cryptography import x509

    cert = x509.load_der_x509_certificate(state.peer_der)
    parts = [f"By={uri}" for uri in state.local_uris]
    parts.append("Hash=" + hashlib.sha256(state.peer_der).hexdigest())
    if state.proxy.type == "router":
        pem = ssl.DER_cert_to_PEM_cert(state.peer_der)
        for raw, enc in (("%", "%25"), ("\n", "%0A"), (" ", "%20"), ("+", "%2B"), ("/", "%2F"), ("=", "%3D")):
            pem = pem.replace(raw, enc)
        parts.append(f'Cert="{pem}"')
    parts.append(f'Subject="{cert.subject.rfc4514_string()}"')
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = sans.get_values_for_type(x509.UniformResourceIdentifier)
        dns = sans.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        uris, dns = [], []
    if uris:
        parts.extend(f"URI={u}" for u in uris)
    else:
        parts.append("URI=")  # "The URI key still exists even if the URI is empty."
    parts.extend(f"DNS={d}" for d in dns)
    current = ";".join(parts)
    if mode == "APPEND_FORWARD" and existing:
        return f"{existing},{current}"
    return current


def _loop_deadline(deadline: float | None) -> float | None:
    if deadline is None:
        return None
    # time.monotonic() and the loop clock are both CLOCK_MONOTONIC on Linux; convert anyway.
    loop = asyncio.get_running_loop()
    return loop.time() + (deadline - time.monotonic())


def _response_headers(raw: Any, server: str, service_ms: int, route: envoy.Route) -> list[tuple[str, str]]:
    # Envoy lower-cases header names, overwrites `server` in place (Istio
    # ServerHeaderTransformation OVERWRITE, §1.1), drops hop-by-hop headers, keeps the
    # upstream `date` (or adds one), and appends x-envoy-upstream-service-time (§1.2).
    remove = {h.lower() for h in route.response_headers_to_remove}
    out: list[tuple[str, str]] = []
    saw_server = saw_date = False
    for name, value in raw:
        k = name.decode("latin-1").lower()
        v = value.decode("latin-1")
        if k in _HOP_BY_HOP or k in remove or k == "x-envoy-upstream-service-time":
            # (set below for this hop: Envoy replaces a peer proxy's value)
            continue
        if k == "server":
            if saw_server:
                continue
            saw_server = True
            v = server
        if k == "date":
            saw_date = True
        out.append((k, v))
    if not saw_date:
        out.insert(0, ("date", http_date()))
    if not saw_server:
        out.insert(0, ("server", server))
    out.extend((k.lower(), v) for k, v in route.response_headers_to_add)
    out.append(("x-envoy-upstream-service-time", str(service_ms)))
    return out


# --------------------------------------------------------------------- TCP proxy


async def serve_tcp_proxy(dp: DataPlane, state: _State, stream: Stream, start: float) -> None:
    """Envoy's tcp_proxy: connect to an endpoint of the chosen cluster and copy bytes both ways.

    PASSTHROUGH chains get the raw stream, including the ClientHello the inspector read, so
    the backend terminates TLS with its own certificate (§5, §7).
    """
    with dp.in_flight(state):
        await _serve_tcp_proxy(dp, state, stream, start)


async def _serve_tcp_proxy(dp: DataPlane, state: _State, stream: Stream, start: float) -> None:
    chain = state.chain
    assert chain is not None and chain.tcp_proxy is not None
    t0 = time.monotonic()
    # A terminated TLS chain (TLS + SIMPLE → tcp routes) is simulated as TLS with the
    # handshake already passed; passthrough as TLS; anything else as plain TCP.
    sreq = SimRequest(
        port=state.listener_port,
        protocol="tls" if state.tls else "tcp",
        sni=state.sni,
        alpn=state.offered_alpn,
        client_certificate=state.client_cert or chain.transport_socket is not None,
        destination=state.destination,
    )
    result = run_simulation(state.proxy, sreq, dp.rng)
    dp.emit(state, result)
    # Envoy's fault filter runs before the router: first the delay, then the abort, which
    # simulate already turned into result.reply with flag FI (fault_filter.cc).
    if result.fault_delay:
        await asyncio.sleep(result.fault_delay)
    name = result.cluster or pick_cluster(chain.tcp_proxy, dp.rng)
    entry: dict[str, Any] = dict(
        start=start,
        upstream_cluster=name,
        downstream_local_address=state.downstream_local,
        downstream_remote_address=state.downstream_remote,
        requested_server_name=state.sni,
    )
    cluster = state.proxy.clusters.get(name or "")
    endpoint = result.endpoint
    if cluster is None or not endpoint:
        flags = "NC" if cluster is None else "UH"
        dp.log(
            state,
            AccessLogEntry(**entry, response_flags=flags, duration_ms=int((time.monotonic() - t0) * 1000)),
        )
        # Envoy has already read what the client sent (a ClientHello) when it closes; closing
        # with unread bytes would make the kernel send a RST ("Connection reset by peer")
        # instead of the FIN a TLS client reports as SSL_ERROR_SYSCALL (§1.6, §11.2).
        with contextlib.suppress(Exception):
            async with asyncio.timeout(0.05):
                await stream.read()
        stream.close()
        return
    try:
        upstream = await _connect(dp, state, cluster, endpoint, state.sni)
    except (OSError, asyncio.TimeoutError, ssl.SSLError):
        dp.log(
            state,
            AccessLogEntry(
                **entry,
                response_flags="UF",
                upstream_host=endpoint,
                upstream_transport_failure_reason="delayed_connect_error:_111",
                duration_ms=int((time.monotonic() - t0) * 1000),
            ),
        )
        stream.close()
        return
    received = sent = 0

    async def down_to_up() -> None:
        nonlocal received
        while True:
            data = await stream.read()
            if not data:
                break
            received += len(data)
            upstream.writer.write(data)
            await upstream.writer.drain()
        with contextlib.suppress(Exception):
            if upstream.writer.can_write_eof():
                upstream.writer.write_eof()

    async def up_to_down() -> None:
        nonlocal sent
        while True:
            data = await upstream.reader.read(65536)
            if not data:
                break
            sent += len(data)
            stream.write(data)
            await stream.drain()
        stream.write_eof()

    tasks = [asyncio.create_task(down_to_up()), asyncio.create_task(up_to_down())]
    try:
        # Envoy's tcp_proxy closes both sides when either side closes after its data drained.
        done, rest = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if tasks[0] in done and not tasks[1].done():
            # client half-closed: wait (bounded) for the upstream's answer to finish
            with contextlib.suppress(asyncio.TimeoutError, Exception):
                await asyncio.wait_for(asyncio.shield(tasks[1]), 30)
    finally:
        for t in tasks:
            t.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*tasks, return_exceptions=True)
        upstream.writer.close()
        stream.close()
        dp.log(
            state,
            AccessLogEntry(
                **entry,
                response_flags="-",
                upstream_host=endpoint,
                upstream_local_address=upstream.local,
                bytes_received=received,
                bytes_sent=sent,
                duration_ms=int((time.monotonic() - t0) * 1000),
            ),
        )
