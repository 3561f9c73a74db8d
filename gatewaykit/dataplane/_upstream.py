"""Upstream connections: connect (with TLS origination and Istio auto mTLS), pool, mirror.

Envoy keeps HTTP/1.1 upstream connections alive in a per-cluster pool; here the pool lives on
the :class:`~gatewaykit.dataplane.plane.DataPlane` and is touched only on its loop thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import h11

from gatewaykit import envoy
from gatewaykit.dataplane._tls import san_matches

if TYPE_CHECKING:
    from gatewaykit.dataplane.plane import DataPlane, _State

__all__ = ["Upstream", "auto_mtls", "connect", "healthy_endpoints", "quickack", "release", "spawn_mirror"]

# Idle connections kept per pool key (Envoy has no such cap; it bounds memory here).
_POOL_PER_KEY = 32


@dataclass(slots=True)
class Upstream:
    """One upstream connection and where it goes."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    endpoint: str
    local: str
    key: tuple[Any, ...] = ()
    reused: bool = False

    def close(self) -> None:
        """Close the connection."""
        with contextlib.suppress(Exception):
            self.writer.close()


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
        if not up.reader.at_eof() and not up.writer.is_closing():
            up.reused = True
            return up
        up.writer.close()
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
    reader, writer = await _open(dp, state, cluster, target, ssl_ctx, server_hostname)
    if tls is not None and not tls.insecure_skip_verify and tls.subject_alt_names:
        # DestinationRule tls.subjectAltNames: Envoy checks the server certificate's SANs.
        if not san_matches(writer.get_extra_info("peercert"), tls.subject_alt_names):
            writer.transport.abort()
            raise ssl.SSLError(1, "CERTIFICATE_VERIFY_FAILED")
    local = writer.get_extra_info("sockname") or ("127.0.0.1", 0)
    return Upstream(reader, writer, endpoint, f"{state.pod_ip}:{local[1]}", key)


async def _open(
    dp: DataPlane,
    state: _State,
    cluster: envoy.Cluster,
    target: tuple[str, int],
    ssl_ctx: ssl.SSLContext | None,
    server_hostname: str | None,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    # The local port is known before connecting, so a proxy of this data plane accepting the
    # connection can tell which pod it comes from (the peer address Envoy would see).
    timeout = cluster.connect_timeout or 10.0
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.bind(("127.0.0.1", 0))
        dp.note_source(int(sock.getsockname()[1]), state.pod_ip, int(target[1]))
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(loop.sock_connect(sock, target), timeout=timeout)
        return await asyncio.wait_for(
            asyncio.open_connection(
                sock=sock,
                ssl=ssl_ctx,
                server_hostname=server_hostname,
                ssl_handshake_timeout=timeout if ssl_ctx else None,
            ),
            timeout=timeout,
        )
    except BaseException:
        sock.close()
        raise


def quickack(writer: asyncio.StreamWriter) -> None:
    """Ask the kernel to ACK at once on this connection (TCP_QUICKACK)."""
    # Many small upstream servers (werkzeug, http.server) write the response head and body in
    # two segments without TCP_NODELAY; on a reused connection Nagle then waits for our ACK,
    # which Linux delays by up to 40 ms. Asking for an immediate ACK keeps a pooled request
    # as fast as a fresh one (Envoy's upstreams are usually better behaved).
    sock = writer.get_extra_info("socket")
    if sock is not None and hasattr(socket, "TCP_QUICKACK"):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)


def release(dp: DataPlane, up: Upstream, client: h11.Connection) -> bool:
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


def spawn_mirror(
    dp: DataPlane,
    state: _State,
    cluster_name: str,
    method: str,
    path: str,
    headers: list[tuple[str, str]],
    body: bytes,
) -> None:
    """Send a fire-and-forget copy of the request to a mirror cluster (VirtualService ``mirror``).

    Envoy's shadow writer: the copy's Host gets the suffix ``-shadow`` and its response is
    dropped; a mirror failure never affects the client's request (router shadow_writer_impl.cc).
    """
    cluster = state.proxy.clusters.get(cluster_name)
    healthy = healthy_endpoints(cluster) if cluster else []
    if cluster is None or not healthy:
        return
    host = next((v for k, v in headers if k == "host"), "")
    shadow = [("host", f"{host}-shadow")] + [(k, v) for k, v in headers if k != "host"]

    async def run() -> None:
        with contextlib.suppress(Exception):
            conn = await connect(dp, state, cluster, healthy[0], host)
            try:
                client = h11.Connection(h11.CLIENT)
                data = client.send(h11.Request(method=method, target=path, headers=shadow))
                data += client.send(h11.Data(data=body)) if body else b""
                conn.writer.write(data + client.send(h11.EndOfMessage()))
                await conn.writer.drain()
                await asyncio.wait_for(conn.reader.read(65536), 5)
            finally:
                conn.close()

    dp.track(asyncio.ensure_future(run()))


def _h2_request_headers(
    method: str, scheme: str, authority: str, path: str, headers: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    pseudo = [(":method", method), (":scheme", scheme), (":authority", authority), (":path", path)]
    return pseudo + [
        (k, v) for k, v in headers if k not in ("host", "transfer-encoding", "connection", "keep-alive")
    ]


async def exchange_h2(
    conn: Upstream, req: Any, tls: bool, path: str, headers: list[tuple[str, str]]
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Send one request as the only stream of a fresh HTTP/2 connection; return the response.

    Raises:
        ConnectionResetError: the upstream reset the stream, closed, or broke the protocol.
    """
    import h2.config
    import h2.connection
    import h2.events
    import h2.exceptions

    h2conn = h2.connection.H2Connection(
        config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
    )
    h2conn.initiate_connection()
    sid = h2conn.get_next_available_stream_id()
    authority = next((v for k, v in headers if k == "host"), req.authority or "")
    h2conn.send_headers(
        sid,
        _h2_request_headers(req.method, "https" if tls else "http", authority, path, headers),
        end_stream=not req.body,
    )
    if req.body:
        h2conn.send_data(sid, bytes(req.body), end_stream=True)
    conn.writer.write(h2conn.data_to_send())
    await conn.writer.drain()
    status: int | None = None
    raw: list[tuple[bytes, bytes]] = []
    body = bytearray()
    try:
        while True:
            data = await conn.reader.read(65536)
            if not data:
                raise ConnectionResetError("upstream closed")
            for ev in h2conn.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == sid:
                    for name, value in ev.headers:
                        k = name.decode() if isinstance(name, bytes) else str(name)
                        v = value.decode() if isinstance(value, bytes) else str(value)
                        if k == ":status":
                            status = int(v)
                        elif not k.startswith(":"):
                            raw.append((k.encode("latin-1"), v.encode("latin-1")))
                elif isinstance(ev, h2.events.DataReceived) and ev.stream_id == sid:
                    body += ev.data
                    h2conn.acknowledge_received_data(ev.flow_controlled_length, sid)
                elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id == sid:
                    if status is None:
                        raise ConnectionResetError("no response headers")
                    return status, raw, bytes(body)
                elif isinstance(ev, (h2.events.StreamReset, h2.events.ConnectionTerminated)):
                    raise ConnectionResetError("upstream reset the stream")
            out = h2conn.data_to_send()
            if out:
                conn.writer.write(out)
                await conn.writer.drain()
    except h2.exceptions.ProtocolError as exc:
        raise ConnectionResetError(f"HTTP/2 protocol error: {exc}") from exc
