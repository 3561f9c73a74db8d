"""Upstream connections: connect (with TLS origination and Istio auto mTLS), pool, mirror.

Envoy keeps HTTP/1.1 upstream connections alive in a per-cluster pool; here the pool lives on
the :class:`~gatewaykit.dataplane.plane.DataPlane` and is touched only on its loop thread.

Upstream TLS runs over memory BIOs (:class:`~gatewaykit.dataplane._tls.TlsStream`), like the
downstream side: asyncio's own TLS transport gives every connection a 256 KiB read buffer
(``SSLProtocol.max_size``), which made 1,000 concurrent streams through a gateway → sidecar
hop cost 253 MiB. Reads here take at most 64 KiB at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h11

from gatewaykit import envoy
from gatewaykit.dataplane._body import RequestBody
from gatewaykit.dataplane._tls import PlainStream, TlsStream, san_matches

if TYPE_CHECKING:
    from gatewaykit.dataplane.plane import DataPlane, _State

__all__ = [
    "H2Exchange",
    "Upstream",
    "h2_request_headers",
    "auto_mtls",
    "connect",
    "healthy_endpoints",
    "quickack",
    "release",
    "spawn_mirror",
]

# Idle connections kept per pool key (Envoy has no such cap; it bounds memory here).
_POOL_PER_KEY = 32


@dataclass(slots=True)
class Upstream:
    """One upstream connection and where it goes."""

    stream: PlainStream | TlsStream
    endpoint: str
    local: str
    key: tuple[Any, ...] = ()
    reused: bool = False

    @property
    def raw(self) -> PlainStream:
        """The TCP connection under the (TLS) stream."""
        return self.stream.raw if isinstance(self.stream, TlsStream) else self.stream

    def alive(self) -> bool:
        """Neither side has closed the connection (an idle pooled connection may be reused)."""
        return not self.raw.reader.at_eof() and not self.raw.writer.is_closing()

    def half_close(self) -> None:
        """Forward the client's FIN (tcp_proxy); TLS has no half-close, so nothing then."""
        if isinstance(self.stream, PlainStream):
            self.stream.write_eof()

    def close(self) -> None:
        """Close the connection."""
        with contextlib.suppress(Exception):
            self.stream.close()

    def abort(self) -> None:
        """Reset the connection."""
        with contextlib.suppress(Exception):
            self.raw.abort()


def healthy_endpoints(cluster: envoy.Cluster) -> list[str]:
    """The cluster's healthy endpoints as ``address:port``."""
    return [f"{e.address}:{e.port}" for e in cluster.endpoints if e.healthy]


def auto_mtls(dp: DataPlane, cluster: envoy.Cluster) -> envoy.UpstreamTlsContext | None:
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


def _target(
    dp: DataPlane, state: _State, cluster: envoy.Cluster, endpoint: str
) -> tuple[tuple[str, int], envoy.UpstreamTlsContext | None]:
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
    tls = cluster.transport_socket
    if tls is None and http and captured and dp.address_book.is_captured(host, int(port_s)):
        tls = auto_mtls(dp, cluster)
    return target, tls


def _pooled(dp: DataPlane, key: tuple[Any, ...]) -> Upstream | None:
    idle = dp.upstream_pool.get(key)
    while idle:
        up = idle.pop()
        if up.alive():
            up.reused = True
            return up
        up.close()
    return None


async def connect(
    dp: DataPlane,
    state: _State,
    cluster: envoy.Cluster,
    endpoint: str,
    authority: str | None,
    *,
    pooled: bool = False,
) -> Upstream:
    """Connect to ``endpoint`` of ``cluster`` (or reuse an idle pooled connection).

    Raises:
        OSError: the connection failed (refused, no TLS material, timeout).
        ssl.SSLError: TLS origination failed (Envoy's transport failure reason).
    """
    target, tls = _target(dp, state, cluster, endpoint)
    ssl_ctx: ssl.SSLContext | None = None
    server_hostname = None
    if tls is not None:
        ssl_ctx = dp.contexts.client_context(state.proxy, tls, dp.identity(state.proxy))
        if ssl_ctx is None:
            raise ConnectionRefusedError(111, "no TLS material for the cluster")
        server_hostname = tls.sni or (authority or endpoint.rpartition(":")[0]).split(":")[0]
    # Envoy pools per cluster (and per host): a pooled connection never crosses clusters.
    key = (state.proxy_id, cluster.name, endpoint, target, id(ssl_ctx) if ssl_ctx else None, server_hostname)
    if pooled:
        reused = _pooled(dp, key)
        if reused is not None:
            return reused
    raw = await _open(dp, state, cluster, target)
    stream: PlainStream | TlsStream = raw
    if ssl_ctx is not None:
        stream = TlsStream(raw, ssl_ctx, server_side=False, server_hostname=server_hostname)
        try:
            async with asyncio.timeout(cluster.connect_timeout or 10.0):
                await stream.handshake()
        except BaseException:
            raw.abort()
            raise
        assert tls is not None
        if not tls.insecure_skip_verify and tls.subject_alt_names:
            # DestinationRule tls.subjectAltNames: Envoy checks the server certificate's SANs.
            if not san_matches(stream.ssl.getpeercert(), tls.subject_alt_names):
                raw.abort()
                raise ssl.SSLError(1, "CERTIFICATE_VERIFY_FAILED")
    local = raw.writer.get_extra_info("sockname") or ("127.0.0.1", 0)
    return Upstream(stream, endpoint, f"{state.pod_ip}:{local[1]}", key)


async def _open(dp: DataPlane, state: _State, cluster: envoy.Cluster, target: tuple[str, int]) -> PlainStream:
    # The local port is known before connecting, so a proxy of this data plane accepting the
    # connection can tell which pod it comes from (the peer address Envoy would see).
    timeout = cluster.connect_timeout or 10.0
    # IPPROTO_TCP so asyncio's transport sets TCP_NODELAY, as Envoy does on every connection.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setblocking(False)
        sock.bind(("127.0.0.1", 0))
        dp.note_source(int(sock.getsockname()[1]), state.pod_ip, int(target[1]))
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(loop.sock_connect(sock, target), timeout=timeout)
        reader, writer = await asyncio.open_connection(sock=sock)
        return PlainStream(reader, writer)
    except BaseException:
        sock.close()
        raise


def quickack(up: Upstream) -> None:
    """Ask the kernel to ACK at once on this connection (TCP_QUICKACK)."""
    # Many small upstream servers (werkzeug, http.server) write the response head and body in
    # two segments without TCP_NODELAY; on a reused connection Nagle then waits for our ACK,
    # which Linux delays by up to 40 ms. Asking for an immediate ACK keeps a pooled request
    # as fast as a fresh one (Envoy's upstreams are usually better behaved).
    sock = up.raw.writer.get_extra_info("socket")
    if sock is not None and hasattr(socket, "TCP_QUICKACK"):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)


def release(dp: DataPlane, up: Upstream, client: h11.Connection) -> bool:
    """Return a finished keep-alive connection to the pool; False if it must be closed."""
    if client.our_state is not h11.DONE or client.their_state is not h11.DONE:
        return False
    if not up.alive():
        return False
    idle = dp.upstream_pool.setdefault(up.key, [])
    if len(idle) >= _POOL_PER_KEY:
        return False
    idle.append(up)
    return True


def spawn_mirror(
    dp: DataPlane,
    state: _State,
    cluster_name: str,
    method: str,
    path: str,
    headers: list[tuple[str, str]],
    body: RequestBody,
) -> None:
    """Send a fire-and-forget copy of the request to a mirror cluster (VirtualService ``mirror``).

    Envoy's shadow writer: the copy's Host gets the suffix ``-shadow`` and its response is
    dropped; a mirror failure never affects the client's request (router shadow_writer_impl.cc).
    The copy is sent once the body is complete, and not at all when the body outgrew the
    router's buffer (the shadow is abandoned, router.cc ``decodeData``).
    """
    cluster = state.proxy.clusters.get(cluster_name)
    healthy = healthy_endpoints(cluster) if cluster else []
    if cluster is None or not healthy:
        return
    body.want_copy()
    host = next((v for k, v in headers if k == "host"), "")
    shadow = [("host", f"{host}-shadow")] + [(k, v) for k, v in headers if k != "host"]

    async def run() -> None:
        data = await body.copy()
        if data is None:
            return
        with contextlib.suppress(Exception):
            conn = await connect(dp, state, cluster, healthy[0], host)
            try:
                client = h11.Connection(h11.CLIENT)
                wire = client.send(h11.Request(method=method, target=path, headers=shadow)) or b""
                wire += (client.send(h11.Data(data=data)) or b"") if data else b""
                conn.stream.write(wire + (client.send(h11.EndOfMessage()) or b""))
                await conn.stream.drain()
                await asyncio.wait_for(conn.stream.read(), 5)
            finally:
                conn.close()

    dp.track(asyncio.ensure_future(run()))


def h2_request_headers(
    method: str, scheme: str, authority: str, path: str, headers: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """An HTTP/2 request's header list: pseudo-headers first, no connection-specific headers.

    ``:authority`` is the Host the router chose (a ``host_rewrite_literal`` included).
    """
    authority = next((v for k, v in headers if k == "host"), authority)
    pseudo = [(":method", method), (":scheme", scheme), (":authority", authority), (":path", path)]
    banned = ("host", "transfer-encoding", "connection", "keep-alive")
    return pseudo + [(k, v) for k, v in headers if k not in banned]


class H2Exchange:
    """One request as the only stream of a fresh HTTP/2 upstream connection (prior knowledge).

    Istio gives clusters of HTTP2/gRPC service ports ``http2_protocol_options``: Envoy then speaks
    HTTP/2 upstream whatever the client spoke. Both directions stream under HTTP/2 flow control:
    request DATA waits for the upstream's window; response DATA is acknowledged (WINDOW_UPDATE)
    only once it was passed downstream.
    """

    def __init__(self, up: Upstream) -> None:
        self.up = up
        self.conn = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        )
        self.conn.initiate_connection()
        self.sid = self.conn.get_next_available_stream_id()
        self.window = asyncio.Event()
        self.ended = False
        self._pending: list[Any] = []

    async def flush(self) -> None:
        """Write what the h2 state machine has queued (frames, acks, window updates)."""
        data = self.conn.data_to_send()
        if data:
            self.up.stream.write(data)
            await self.up.stream.drain()

    async def send_headers(self, headers: list[tuple[str, str]], end_stream: bool) -> None:
        """Send the request's HEADERS frame."""
        self.conn.send_headers(self.sid, headers, end_stream=end_stream)
        await self.flush()

    async def send_body(self, chunks: AsyncIterator[bytes]) -> None:
        """Send the request body as DATA frames within the upstream's flow-control window."""
        async for chunk in chunks:
            view = memoryview(chunk)
            while view:
                window = self.conn.local_flow_control_window(self.sid)
                if window <= 0:
                    self.window.clear()
                    await self.window.wait()
                    continue
                size = min(window, len(view), self.conn.max_outbound_frame_size)
                self.conn.send_data(self.sid, bytes(view[:size]))
                view = view[size:]
                await self.flush()
        self.conn.end_stream(self.sid)
        await self.flush()

    async def _next(self) -> Any:
        """The next event of our stream (reading from the connection as needed)."""
        while not self._pending:
            data = await self.up.stream.read()
            if not data:
                raise ConnectionResetError("upstream closed the connection")
            try:
                events = self.conn.receive_data(data)
            except h2.exceptions.ProtocolError as exc:
                raise ConnectionResetError(f"HTTP/2 protocol error: {exc}") from exc
            for ev in events:
                if isinstance(ev, (h2.events.WindowUpdated, h2.events.RemoteSettingsChanged)):
                    self.window.set()
                elif isinstance(ev, (h2.events.StreamReset, h2.events.ConnectionTerminated)):
                    if not self.ended:
                        raise ConnectionResetError("upstream reset the stream")
                elif getattr(ev, "stream_id", None) == self.sid:
                    self._pending.append(ev)
            await self.flush()
        return self._pending.pop(0)

    async def response(self) -> tuple[int, list[tuple[bytes, bytes]], bool]:
        """Wait for the response head: (status, headers, the stream ended with it)."""
        while True:
            ev = await self._next()
            if not isinstance(ev, h2.events.ResponseReceived):
                continue
            status, raw = 0, []
            for name, value in ev.headers:
                k = name.decode() if isinstance(name, bytes) else str(name)
                v = value.decode() if isinstance(value, bytes) else str(value)
                if k == ":status":
                    status = int(v)
                elif not k.startswith(":"):
                    raw.append((k.encode("latin-1"), v.encode("latin-1")))
            if 100 <= status < 200:
                continue  # interim responses are not forwarded
            self.ended = ev.stream_ended is not None
            return status, raw, self.ended

    async def data(self) -> AsyncIterator[bytes]:
        """Yield the response body; each chunk is acknowledged after the consumer took it."""
        while not self.ended:
            ev = await self._next()
            if isinstance(ev, h2.events.DataReceived):
                yield bytes(ev.data)
                self.conn.acknowledge_received_data(ev.flow_controlled_length, self.sid)
                await self.flush()
            if getattr(ev, "stream_ended", None) is not None or isinstance(ev, h2.events.StreamEnded):
                self.ended = True
