"""Envoy's ``tcp_proxy`` network filter: connect to an endpoint and copy bytes both ways."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from typing import TYPE_CHECKING, Any

from gatewaykit._simulate import Request as SimRequest
from gatewaykit._simulate import pick_cluster
from gatewaykit._simulate import simulate as run_simulation
from gatewaykit.dataplane import _upstream
from gatewaykit.dataplane._accesslog import AccessLogEntry
from gatewaykit.dataplane._tls import PlainStream, TlsStream

if TYPE_CHECKING:
    from gatewaykit.dataplane.plane import DataPlane, _State

__all__ = ["serve_tcp_proxy"]

Stream = PlainStream | TlsStream


async def serve_tcp_proxy(dp: DataPlane, state: _State, stream: Stream, start: float) -> None:
    """Envoy's tcp_proxy: connect to an endpoint of the chosen cluster and copy bytes both ways.

    PASSTHROUGH chains get the raw stream, including the ClientHello the inspector read, so
    the backend terminates TLS with its own certificate (§5, §7).
    """
    with dp.in_flight(state):
        await _TcpSession(dp, state, stream, start).run()


class _TcpSession:
    def __init__(self, dp: DataPlane, state: _State, stream: Stream, start: float) -> None:
        self.dp, self.state, self.stream = dp, state, stream
        self.t0 = time.monotonic()
        self.start = start
        self.entry: dict[str, Any] = {}

    def log(self, flags: str, **more: Any) -> None:
        duration = int((time.monotonic() - self.t0) * 1000)
        self.dp.log(
            self.state, AccessLogEntry(**self.entry, response_flags=flags, duration_ms=duration, **more)
        )

    async def run(self) -> None:
        state, chain = self.state, self.state.chain
        assert chain is not None and chain.tcp_proxy is not None
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
        result = run_simulation(state.proxy, sreq, self.dp.rng)
        self.dp.emit(state, result)
        # Envoy's fault filter runs before the router: first the delay, then the abort (FI).
        if result.fault_delay:
            await asyncio.sleep(result.fault_delay)
        name = result.cluster or pick_cluster(chain.tcp_proxy, self.dp.rng)
        self.entry = dict(
            start=self.start,
            upstream_cluster=name,
            downstream_local_address=state.downstream_local,
            downstream_remote_address=state.downstream_remote,
            requested_server_name=state.sni,
        )
        cluster = state.proxy.clusters.get(name or "")
        if cluster is None or not result.endpoint:
            await self._no_upstream("NC" if cluster is None else "UH")
            return
        try:
            upstream = await _upstream.connect(self.dp, state, cluster, result.endpoint, state.sni)
        except (OSError, asyncio.TimeoutError, ssl.SSLError):
            self.log(
                "UF",
                upstream_host=result.endpoint,
                upstream_transport_failure_reason="delayed_connect_error:_111",
            )
            self.stream.close()
            return
        await self._pipe(upstream)

    async def _no_upstream(self, flags: str) -> None:
        self.log(flags)
        # Envoy has already read what the client sent (a ClientHello) when it closes; closing
        # with unread bytes would make the kernel send a RST ("Connection reset by peer")
        # instead of the FIN a TLS client reports as SSL_ERROR_SYSCALL (§1.6, §11.2).
        with contextlib.suppress(Exception):
            async with asyncio.timeout(0.05):
                await self.stream.read()
        self.stream.close()

    async def _pipe(self, upstream: _upstream.Upstream) -> None:
        counts = {"received": 0, "sent": 0}
        tasks = [
            asyncio.create_task(self._down_to_up(upstream, counts)),
            asyncio.create_task(self._up_to_down(upstream, counts)),
        ]
        try:
            # Envoy's tcp_proxy closes both sides when either side closes after its data drained.
            done, _rest = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if tasks[0] in done and not tasks[1].done():
                # client half-closed: wait (bounded) for the upstream's answer to finish
                with contextlib.suppress(asyncio.TimeoutError, Exception):
                    await asyncio.wait_for(asyncio.shield(tasks[1]), 30)
        finally:
            for t in tasks:
                t.cancel()
            with contextlib.suppress(Exception):
                await asyncio.gather(*tasks, return_exceptions=True)
            upstream.close()
            self.stream.close()
            self.log(
                "-",
                upstream_host=upstream.endpoint,
                upstream_local_address=upstream.local,
                bytes_received=counts["received"],
                bytes_sent=counts["sent"],
            )

    async def _down_to_up(self, upstream: _upstream.Upstream, counts: dict[str, int]) -> None:
        while True:
            data = await self.stream.read()
            if not data:
                break
            counts["received"] += len(data)
            upstream.stream.write(data)
            await upstream.stream.drain()
        with contextlib.suppress(Exception):
            upstream.half_close()

    async def _up_to_down(self, upstream: _upstream.Upstream, counts: dict[str, int]) -> None:
        while True:
            data = await upstream.stream.read()
            if not data:
                break
            counts["sent"] += len(data)
            self.stream.write(data)
            await self.stream.drain()
        self.stream.write_eof()
