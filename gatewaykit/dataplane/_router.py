"""One HTTP request through the connection manager and router (Envoy's ActiveStream + Router).

Per request :func:`gatewaykit.simulate.simulate` says where the request goes (virtual host,
route, cluster, endpoint) or what Envoy answers itself (404 NR, 503 UH, 301 for
``require_tls``, direct responses, §1.4, §6). Everything that needs a real upstream is done
here: connect with the route's retries, the route timeout (504), rewrites, the request headers
Envoy adds (:mod:`._headers`, §1.3) and the response headers it sets (§1.1–§1.2), and one
access-log line per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import h11

from gatewaykit import envoy
from gatewaykit.dataplane import _headers, _retry, _upstream
from gatewaykit.dataplane._accesslog import AccessLogEntry
from gatewaykit.dataplane._paths import normalize_path, rewrite_path
from gatewaykit.dataplane._replies import (
    SIMULATE_DETAILS,
    UPSTREAM_TIMEOUT,
    reset_before_headers,
    tls_failure_reason,
)
from gatewaykit.simulate import Request as SimRequest
from gatewaykit.simulate import Result
from gatewaykit.simulate import simulate as run_simulation

if TYPE_CHECKING:
    from gatewaykit.dataplane.plane import DataPlane, _State

__all__ = ["DownstreamRequest", "Responder", "handle_request", "server_name"]

_CONNECTION_TERMINATION = "upstream_reset_before_response_started{connection_termination}"


def server_name(hcm: envoy.HttpConnectionManager) -> str:
    """The ``server`` header value: an empty ``server_name`` means Envoy's default ``envoy`` (§1.1)."""
    return hcm.server_name or "envoy"


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
        """The first value of header ``name`` (lower-case), or None."""
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


async def handle_request(
    dp: DataPlane, state: _State, req: DownstreamRequest, responder: Responder, start: float
) -> bool:
    """Route one request (via simulate) and answer it; returns False if the connection must close."""
    # The HCM normalizes the path before routing; the route and the upstream see the result.
    req.path = normalize_path(req.path)
    with dp.in_flight(state):
        return await ActiveStream(dp, state, req, responder, start).run()


def _loop_deadline(deadline: float | None) -> float | None:
    if deadline is None:
        return None
    # time.monotonic() and the loop clock are both CLOCK_MONOTONIC on Linux; convert anyway.
    loop = asyncio.get_running_loop()
    return loop.time() + (deadline - time.monotonic())


class ActiveStream:
    """The state of one request: the simulation result, the log fields, the upstream tries."""

    def __init__(
        self, dp: DataPlane, state: _State, req: DownstreamRequest, responder: Responder, start: float
    ) -> None:
        hcm = state.chain.http_connection_manager if state.chain else None
        assert hcm is not None
        self.dp, self.state, self.req, self.responder = dp, state, req, responder
        self.hcm = hcm
        self.server = server_name(hcm)
        self.start = start
        self.t0 = time.monotonic()
        self.head = req.method == "HEAD"
        self.fault_delay = 0.0
        self.entry: dict[str, Any] = {}
        self.request_id = ""
        self.xff: str | None = None

    # ------------------------------------------------------------------ logging and replies

    def finish(self, status: int, flags: str | None, details: str, sent: int, **more: Any) -> None:
        """Write the request's access-log line (before the last byte goes out, see run())."""
        if self.fault_delay and (not flags or "DI" not in flags):
            # A delayed request carries DelayInjected (DI) whatever happens next (Envoy flags).
            flags = "DI" if flags in (None, "-", "") else f"DI,{flags}"
        self.dp.log(
            self.state,
            AccessLogEntry(
                **{**self.entry, **more},
                response_code=status,
                response_flags=flags,
                response_code_details=details,
                bytes_sent=sent,
                duration_ms=int((time.monotonic() - self.t0) * 1000),
            ),
        )

    async def send_local(self, status: int, body: str, headers: tuple[tuple[str, str], ...]) -> None:
        """Write a local reply downstream (the log line is written by the caller first)."""
        data = body.encode()
        await self.responder.start(status, list(headers), end_stream=not data or self.head)
        if data and not self.head:
            await self.responder.data(data)
            await self.responder.end()

    async def local_reply(self, status: int, body: str, flags: str, details: str, **more: Any) -> None:
        """Log and send one of the router's own replies (503 UF/UC, 504 UT)."""
        self.finish(status, flags, details, 0 if self.head else len(body), **more)
        await self.send_local(status, body, _headers.local_reply_headers(status, body, self.server))

    # --------------------------------------------------------------------------- the flow

    async def run(self) -> bool:
        """Simulate, then answer locally or proxy; False if the connection must close."""
        result = self._simulate()
        # Envoy's fault filter runs before the router: first the delay, then the abort, which
        # simulate already turned into result.reply with flag FI (fault_filter.cc).
        if result.fault_delay:
            self.fault_delay = result.fault_delay
            await asyncio.sleep(result.fault_delay)
        self.entry = self._log_fields(result)
        if result.reply is not None:
            return await self._simulated_reply(result)
        if result.action != "http" or result.route_entry is None or result.route_entry.route is None:
            return False
        cluster = self.state.proxy.clusters.get(result.cluster or "")
        if cluster is None:  # simulate said it exists; a config race is the only way here
            return False
        return await self._proxy(result, result.route_entry, cluster)

    def _simulate(self) -> Result:
        state, req = self.state, self.req
        alpn = (state.alpn,) if state.alpn else (("h2",) if req.protocol == "HTTP/2" else ("http/1.1",))
        sreq = SimRequest(
            port=state.listener_port,
            protocol="https" if state.tls else "http",
            sni=state.sni,
            alpn=alpn,
            host=req.authority,
            path=req.path,
            method=req.method,
            headers=tuple(req.headers),
            client_certificate=state.client_cert,
            destination=state.destination,
        )
        result = run_simulation(state.proxy, sreq, self.dp.rng)
        self.dp.emit(state, result)
        return result

    def _log_fields(self, result: Result) -> dict[str, Any]:
        # Envoy's edge headers (§1.3): x-request-id is generated when absent; with
        # use_remote_address the client address is appended to x-forwarded-for.
        req, state = self.req, self.state
        self.request_id = req.header("x-request-id") or str(uuid.uuid4())
        self.xff = _headers.forwarded_for(
            req.header("x-forwarded-for"), state.client_ip, self.hcm.use_remote_address
        )
        route = result.route_entry
        return dict(
            start=self.start,
            method=req.method,
            path=req.path,
            protocol=req.protocol,
            x_forwarded_for=self.xff,
            user_agent=req.header("user-agent"),
            request_id=self.request_id,
            authority=req.authority,
            downstream_local_address=state.downstream_local,
            downstream_remote_address=state.downstream_remote,
            requested_server_name=state.sni,
            route_name=route.name if route is not None and route.name else None,
            bytes_received=len(req.body),
            upstream_cluster=result.cluster,
        )

    async def _simulated_reply(self, result: Result) -> bool:
        reply = result.reply
        assert reply is not None
        details = SIMULATE_DETAILS.get(result.response_flags)
        if details is None:
            details = "fault_filter_abort" if "FI" in result.response_flags else "direct_response"
        # The access log is written before the last byte goes out, so whoever reads the log
        # right after curl returns finds the line (Envoy logs at stream end, a moment later).
        self.finish(
            reply.status, result.response_flags, details, 0 if self.head else len(reply.body.encode())
        )
        wire = tuple(
            (k, self.server if k == "server" and not v else v)
            for k, v in reply.wire_headers(_headers.http_date())
        )
        await self.send_local(reply.status, reply.body, wire)
        return not any(k == "connection" and v == "close" for k, v in reply.headers)

    def _upstream_headers(self, route: envoy.Route, path: str) -> list[tuple[str, str]]:
        action = route.route
        assert action is not None
        req, state = self.req, self.state
        chunked = "chunked" in (req.header("transfer-encoding") or "").lower()
        # Envoy streams request bodies: a body without a known length (HTTP/1 chunked, or HTTP/2
        # without content-length) goes upstream with "transfer-encoding: chunked"; a declared
        # length is kept (Http1 upstream encoder, StreamEncoderImpl::encodeHeadersBase).
        framing: tuple[str, str] | None = None
        if chunked or (req.body and req.header("content-length") is None):
            framing = ("transfer-encoding", "chunked")
        elif req.header("content-length") is not None or req.body:
            framing = ("content-length", str(len(req.body)))
        hop = _headers.Hop(
            authority=action.host_rewrite_literal or req.authority or "",
            edge=self.hcm.use_remote_address,
            inbound=state.listener.traffic_direction == "INBOUND",
            tls=state.tls,
            client_ip=state.client_ip,
            request_id=self.request_id,
            forwarded_for=self.xff,
            xfcc=_headers.xfcc_value(
                self.hcm.forward_client_cert_details or "SANITIZE",
                req.header("x-forwarded-client-cert"),
                state.peer_der,
                state.local_uris,
                include_cert=state.proxy.type == "router",
            ),
            decorator=route.decorator_operation,
            original_path=req.path if path != req.path else None,
            timeout_ms=int(action.timeout * 1000) if action.timeout and action.timeout > 0 else None,
            framing=framing,
            remove=frozenset(h.lower() for h in route.request_headers_to_remove),
            add=route.request_headers_to_add,
        )
        return _headers.upstream_request_headers(req.headers, hop)

    async def _proxy(self, result: Result, route: envoy.Route, cluster: envoy.Cluster) -> bool:
        action = route.route
        assert action is not None
        path = rewrite_path(route, self.req.path)
        up = self._upstream_headers(route, path)
        for mirror in result.mirrors:
            _upstream.spawn_mirror(self.dp, self.state, mirror, self.req.method, path, up, self.req.body)
        deadline = self.t0 + action.timeout if action.timeout and action.timeout > 0 else None
        healthy = _upstream.healthy_endpoints(cluster)
        endpoint = result.endpoint or (healthy[0] if healthy else "")
        tries = await self._connect(cluster, action, endpoint, healthy, deadline)
        if tries is None:
            return True
        upstream, attempt = tries
        exchange = _Exchange(self, cluster, action, route, path, up, deadline)
        if self.dp.upstream_http2(cluster):
            self.entry.update(upstream_host=upstream.endpoint, upstream_local_address=upstream.local)
            return await exchange.h2(upstream, attempt)
        return await exchange.h1(upstream, attempt)

    async def _connect(
        self,
        cluster: envoy.Cluster,
        action: envoy.RouteAction,
        endpoint: str,
        healthy: list[str],
        deadline: float | None,
    ) -> tuple[_upstream.Upstream, int] | None:
        """Connect, with the route's retries on connect failure; None after the 503 UF reply."""
        retries = _retry.max_retries(action.retry_policy, _retry.Failure.CONNECT_FAILURE)
        attempt = 0
        failure = "delayed connect error: 111"
        while True:
            attempt += 1
            try:
                up = await _upstream.connect(
                    self.dp, self.state, cluster, endpoint, self.req.authority, pooled=True
                )
                return up, attempt
            except ssl.SSLError as exc:
                failure = tls_failure_reason(exc)
            except (OSError, asyncio.TimeoutError) as exc:
                failure = (
                    "delayed connect error: 111" if isinstance(exc, ConnectionRefusedError) else str(exc)
                )
            if attempt > retries or (deadline is not None and time.monotonic() >= deadline):
                break
            await asyncio.sleep(_retry.backoff(attempt, self.dp.rng))
            if len(healthy) > 1:
                endpoint = healthy[self.dp.rng.randrange(len(healthy))]
        # Envoy Filter::onUpstreamReset (router.cc): 503, body exact (§1.4).
        reason = failure.replace(" ", "_")
        await self.local_reply(
            503,
            reset_before_headers("remote connection failure", retried=attempt > 1, transport_failure=failure),
            "UF,URX" if attempt > 1 else "UF",
            f"upstream_reset_before_response_started{{remote_connection_failure,{reason}}}",
            upstream_transport_failure_reason=reason,
            upstream_host=endpoint,
        )
        return None


class _Exchange:
    """The request/response exchange on an upstream connection (HTTP/1.1 or HTTP/2)."""

    def __init__(
        self,
        stream: ActiveStream,
        cluster: envoy.Cluster,
        action: envoy.RouteAction,
        route: envoy.Route,
        path: str,
        headers: list[tuple[str, str]],
        deadline: float | None,
    ) -> None:
        self.s = stream
        self.cluster, self.action, self.route = cluster, action, route
        self.path = path
        self.headers = headers
        self.deadline = deadline
        self.client = h11.Connection(h11.CLIENT)

    def _response_headers(self, raw: Any, service_ms: int) -> list[tuple[str, str]]:
        return _headers.response_headers(
            raw,
            self.s.server,
            service_ms,
            self.route.response_headers_to_remove,
            self.route.response_headers_to_add,
        )

    async def _timeout_reply(self) -> None:
        await self.s.local_reply(504, UPSTREAM_TIMEOUT, "UT", "response_timeout")

    async def _reset_reply(self) -> None:
        body = reset_before_headers("connection termination")
        with contextlib.suppress(Exception):
            await self.s.local_reply(503, body, "UC", _CONNECTION_TERMINATION)

    # ------------------------------------------------------------------------- HTTP/1.1

    async def _send_h1(self, conn: _upstream.Upstream, attempt: int) -> Any:
        """Send the request on ``conn`` and wait for the response head."""
        req = self.s.req
        self.client = h11.Connection(h11.CLIENT, max_incomplete_event_size=1024 * 1024)
        headers = _headers.with_attempt_count(self.headers, attempt)
        data = self.client.send(h11.Request(method=req.method, target=self.path, headers=headers)) or b""
        if req.body:
            data += self.client.send(h11.Data(data=req.body)) or b""
        data += self.client.send(h11.EndOfMessage()) or b""
        conn.writer.write(data)
        _upstream.quickack(conn.writer)
        await conn.writer.drain()
        while True:
            ev = await self._next(conn)
            if not isinstance(ev, h11.InformationalResponse):
                return ev

    async def _next(self, conn: _upstream.Upstream) -> Any:
        while True:
            ev = self.client.next_event()
            if ev is h11.NEED_DATA:
                self.client.receive_data(await conn.reader.read(65536))
                continue
            return ev

    async def _reconnect(self, conn: _upstream.Upstream) -> _upstream.Upstream:
        conn.close()
        fresh = await _upstream.connect(
            self.s.dp, self.s.state, self.cluster, conn.endpoint, self.s.req.authority
        )
        self.s.entry.update(upstream_local_address=fresh.local)
        return fresh

    async def _first_response(self, conn: _upstream.Upstream, attempt: int) -> tuple[_upstream.Upstream, Any]:
        try:
            ev = await self._send_h1(conn, attempt)
            if conn.reused and not isinstance(ev, h11.Response):
                raise ConnectionResetError("pooled connection closed")
            return conn, ev
        except (h11.ProtocolError, ConnectionError, OSError):
            if not conn.reused:
                raise
        # The upstream closed an idle pooled connection just as we used it: nothing was
        # answered, so send the request again on a fresh connection.
        conn = await self._reconnect(conn)
        return conn, await self._send_h1(conn, attempt)

    async def _with_status_retries(
        self, conn: _upstream.Upstream, attempt: int
    ) -> tuple[_upstream.Upstream, Any, bool]:
        """Send, retrying on retriable status codes; returns (conn, response event, exhausted)."""
        policy = self.action.retry_policy
        conn, ev = await self._first_response(conn, attempt)
        # VirtualService retries.retryOn 5xx / gateway-error / retriable-status-codes: the answer
        # is dropped and the request sent again while tries remain (Envoy
        # RetryStateImpl::shouldRetryHeaders); the route timeout covers every try.
        while isinstance(ev, h11.Response) and attempt <= _retry.max_retries(
            policy, _retry.Failure.STATUS, ev.status_code
        ):
            while not isinstance(await self._next(conn), (h11.EndOfMessage, h11.ConnectionClosed)):
                pass
            conn.close()
            attempt += 1
            await asyncio.sleep(_retry.backoff(attempt, self.s.dp.rng))
            conn = await self._reconnect(conn)
            ev = await self._send_h1(conn, attempt)
        exhausted = (
            isinstance(ev, h11.Response)
            and attempt > 1
            and policy is not None
            and _retry.retries_on(policy, _retry.Failure.STATUS, ev.status_code)
        )
        return conn, ev, exhausted

    async def h1(self, conn: _upstream.Upstream, attempt: int) -> bool:
        """Proxy over HTTP/1.1; returns False if the downstream connection must close."""
        s = self.s
        # The connection exists from here on: every later log line (504 UT, 503 UC) names it.
        s.entry.update(upstream_host=conn.endpoint, upstream_local_address=conn.local)
        pooled = False
        try:
            try:
                # Route timeout: 504 "upstream request timeout" when the response does not arrive
                # in time (router.cc onResponseTimeout → onUpstreamTimeoutAbort, §1.4).
                async with asyncio.timeout_at(_loop_deadline(self.deadline)):
                    conn, ev, exhausted = await self._with_status_retries(conn, attempt)
            except TimeoutError:
                await self._timeout_reply()
                return True
            if not isinstance(ev, h11.Response):
                raise ConnectionResetError("upstream closed before headers")
            keep, pooled = await self._relay_h1(conn, ev, "URX" if exhausted else "-")
            return keep
        except (h11.ProtocolError, ConnectionError, OSError) as exc:
            if isinstance(exc, h11.ProtocolError) or self.client.their_state in (h11.IDLE, h11.SEND_RESPONSE):
                await self._reset_reply()
                return True
            return False
        finally:
            if not pooled:
                conn.close()

    async def _relay_h1(self, conn: _upstream.Upstream, ev: h11.Response, flags: str) -> tuple[bool, bool]:
        """Stream the response downstream; returns (keep the downstream connection, pooled)."""
        s = self.s
        service_ms = int((time.monotonic() - s.t0) * 1000)
        status = ev.status_code
        hdrs = self._response_headers(ev.headers, service_ms)
        no_body = s.head or status in (204, 304) or 100 <= status < 200
        pooled = False
        if no_body:
            with contextlib.suppress(h11.ProtocolError):
                self.client.next_event()  # consume the (empty) end of message, for the pool
            s.finish(status, flags, "via_upstream", 0, upstream_service_time=str(service_ms))
            pooled = _upstream.release(s.dp, conn, self.client)
        await s.responder.start(status, hdrs, end_stream=no_body)
        if no_body:
            return True, pooled
        sent = 0
        try:
            async with asyncio.timeout_at(_loop_deadline(self.deadline)):
                while True:
                    ev = await self._next(conn)
                    if isinstance(ev, h11.Data):
                        sent += len(ev.data)
                        await s.responder.data(bytes(ev.data))
                    elif isinstance(ev, (h11.EndOfMessage, h11.ConnectionClosed)):
                        break
        except TimeoutError:
            s.finish(status, "UT", "response_timeout", sent, upstream_service_time=str(service_ms))
            return False, False  # Envoy resets a stream whose response is cut by the timeout
        s.finish(status, flags, "via_upstream", sent, upstream_service_time=str(service_ms))
        pooled = _upstream.release(s.dp, conn, self.client)
        await s.responder.end()
        return True, pooled

    # -------------------------------------------------------------------------- HTTP/2

    async def h2(self, conn: _upstream.Upstream, attempt: int) -> bool:
        """One request on a fresh HTTP/2 upstream connection (prior knowledge, one stream).

        Istio gives clusters of HTTP2/gRPC service ports ``http2_protocol_options``: Envoy then
        speaks HTTP/2 upstream whatever the client spoke, which is why the egress gateway logs
        ``GET /politics HTTP/2`` for a client's HTTP/1.1 request (§12).
        """
        s = self.s
        headers = _headers.with_attempt_count(self.headers, attempt)
        try:
            try:
                async with asyncio.timeout_at(_loop_deadline(self.deadline)):
                    status, raw, body = await _upstream.exchange_h2(
                        conn, s.req, s.state.tls, self.path, headers
                    )
            except TimeoutError:
                await self._timeout_reply()
                return True
        except (ConnectionError, OSError):
            await self._reset_reply()
            return True
        finally:
            conn.close()
        service_ms = int((time.monotonic() - s.t0) * 1000)
        hdrs = self._response_headers(raw, service_ms)
        if not any(k == "content-length" for k, _ in hdrs) and not s.head:
            hdrs.append(("content-length", str(len(body))))
        no_body = s.head or status in (204, 304) or 100 <= status < 200
        s.finish(
            status, "-", "via_upstream", 0 if no_body else len(body), upstream_service_time=str(service_ms)
        )
        await s.responder.start(status, hdrs, end_stream=no_body)
        if not no_body:
            await s.responder.data(body)
            await s.responder.end()
        return True
