"""The router's exchange with an upstream: request out, response back, both streamed.

The request body goes upstream as the client sends it (a sender task per try), while the
response head is awaited; the response body goes downstream as the upstream sends it, with
back-pressure both ways (a slow reader slows the writer, nothing is buffered whole). The route
timeout starts when the downstream request is complete -- Envoy's route ``timeout`` "spans
between the point at which the entire downstream request (i.e. end-of-stream) has been
processed and when the upstream response has been completely processed" (RouteAction docs) --
and covers every try.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import h11

from gatewaykit import envoy
from gatewaykit.dataplane import _headers, _retry, _upstream
from gatewaykit.dataplane._replies import UPSTREAM_TIMEOUT, reset_before_headers

if TYPE_CHECKING:
    from gatewaykit.dataplane._router import ActiveStream

__all__ = ["Exchange"]

_RESET_BEFORE = "upstream_reset_before_response_started{connection_termination}"
_RESET_AFTER = "upstream_reset_after_response_started{connection_termination}"
# h11 buffers at most this much of an upstream response head.
_MAX_RESPONSE_HEAD = 1024 * 1024


class _DownstreamGone(Exception):
    """The client went away while its body was being sent upstream."""


class _Answered(Exception):
    """The router already answered (a retry's connection failed: 503 UF)."""


class Exchange:
    """One request's tries on upstream connections of one cluster (HTTP/1.1 or HTTP/2)."""

    def __init__(
        self,
        stream: ActiveStream,
        cluster: envoy.Cluster,
        action: envoy.RouteAction,
        route: envoy.Route,
        path: str,
        headers: list[tuple[str, str]],
    ) -> None:
        self.s = stream
        self.cluster, self.action, self.route = cluster, action, route
        self.path = path
        self.headers = headers
        self.timeout = action.timeout if action.timeout and action.timeout > 0 else None
        self.client = h11.Connection(h11.CLIENT)
        self.sender: asyncio.Task[None] | None = None
        self.downstream_gone = False
        self.response_started = False
        self.tried: list[str] = []  # endpoints tried, for the previous_hosts predicate
        self.attempt = 1
        self.retried = False

    # ------------------------------------------------------------------------- shared

    @contextlib.asynccontextmanager
    async def route_timeout(self) -> AsyncIterator[None]:
        """Raise TimeoutError in the block once the route timeout has passed (see module doc)."""
        if self.timeout is None:
            yield
            return
        async with asyncio.timeout(None) as tm:
            arm = asyncio.ensure_future(self._arm(tm))
            try:
                yield
            finally:
                arm.cancel()

    async def _arm(self, tm: asyncio.Timeout) -> None:
        body = self.s.body
        await body.ended.wait()
        assert self.timeout is not None
        tm.reschedule(body.ended_at + self.timeout)

    async def stop_sender(self) -> bool:
        """Stop the current try's body sender; True if it had sent the whole request."""
        sender, self.sender = self.sender, None
        if sender is None:
            return True
        if not sender.done():
            sender.cancel()
        with contextlib.suppress(BaseException):
            await sender
        return not sender.cancelled() and sender.exception() is None

    async def _body_chunks(self, conn: _upstream.Upstream) -> AsyncIterator[bytes]:
        """The request body for one try; a client that went away resets the upstream too."""
        chunks = self.s.body.chunks()
        while True:
            try:
                chunk = await anext(chunks)
            except StopAsyncIteration:
                return
            except (ConnectionError, OSError):
                # Envoy resets the upstream stream when the downstream one goes away.
                self.downstream_gone = True
                conn.abort()
                raise _DownstreamGone() from None
            yield chunk

    def response_headers(self, raw: Any) -> list[tuple[str, str]]:
        """Envoy's response headers for this route (:func:`._headers.response_headers`)."""
        service_ms = int((time.monotonic() - self.s.t0) * 1000)
        return _headers.response_headers(
            raw,
            self.s.server,
            service_ms,
            self.route.response_headers_to_remove,
            self.route.response_headers_to_add,
            inbound=self.s.state.listener.traffic_direction == "INBOUND",
        )

    def service_time(self) -> str:
        """``%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%`` for the access log."""
        return str(int((time.monotonic() - self.s.t0) * 1000))

    async def _failed(self, exc: BaseException | None = None) -> bool:
        """An upstream try failed; answer or reset downstream. Returns keep-alive."""
        s = self.s
        if self.downstream_gone or isinstance(exc, _DownstreamGone):
            s.downstream_reset()
            return False
        if self.response_started:
            return False  # the status line is out: only a reset can tell the client
        body = reset_before_headers("connection termination", retried=self.retried)
        flags = "UC,URX" if self._exhausted(_retry.Failure.RESET) else "UC"
        with contextlib.suppress(ConnectionError, OSError):
            await s.local_reply(503, body, flags, _RESET_BEFORE)
        return True

    async def _timed_out(self) -> bool:
        with contextlib.suppress(ConnectionError, OSError):
            await self.s.local_reply(504, UPSTREAM_TIMEOUT, "UT", "response_timeout")
        return True

    # ------------------------------------------------------------------------- HTTP/1.1

    async def _pump_h1(self, conn: _upstream.Upstream, client: h11.Connection) -> None:
        with contextlib.suppress(_DownstreamGone):
            async for chunk in self._body_chunks(conn):
                conn.stream.write(client.send(h11.Data(data=chunk)) or b"")
                await conn.stream.drain()
            conn.stream.write(client.send(h11.EndOfMessage()) or b"")
            await conn.stream.drain()

    async def _send_h1(self, conn: _upstream.Upstream, attempt: int) -> Any:
        """Send the request on ``conn`` and wait for the response head."""
        req = self.s.req
        await self.stop_sender()
        self.client = client = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_RESPONSE_HEAD)
        headers = _headers.with_attempt_count(self.headers, attempt)
        data = client.send(h11.Request(method=req.method, target=self.path, headers=headers)) or b""
        if req.framing() is None:
            data += client.send(h11.EndOfMessage()) or b""
        conn.stream.write(data)
        _upstream.quickack(conn)
        await conn.stream.drain()
        if req.framing() is not None:
            self.sender = asyncio.create_task(self._pump_h1(conn, client))
        while True:
            ev = await self._next(conn)
            if not isinstance(ev, h11.InformationalResponse):
                return ev

    async def _next(self, conn: _upstream.Upstream) -> Any:
        while True:
            ev = self.client.next_event()
            if ev is h11.NEED_DATA:
                self.client.receive_data(await conn.stream.read())
                continue
            return ev

    async def _first_response(self, conn: _upstream.Upstream, attempt: int) -> tuple[_upstream.Upstream, Any]:
        try:
            ev = await self._send_h1(conn, attempt)
            if conn.reused and not isinstance(ev, h11.Response):
                raise ConnectionResetError("pooled connection closed")
            return conn, ev
        except (h11.ProtocolError, ConnectionError, OSError):
            if not conn.reused or self.downstream_gone or not self.s.body.replayable:
                raise
        # The upstream closed an idle pooled connection just as we used it: nothing was
        # answered, so send the request again on a fresh connection (not a retry).
        conn.close()
        s = self.s
        conn = await _upstream.connect(s.dp, s.state, self.cluster, conn.endpoint, s.req.authority)
        s.entry.update(upstream_local_address=conn.local)
        return conn, await self._send_h1(conn, attempt)

    def _may_retry(self, failure: _retry.Failure, status: int = 0) -> bool:
        """Another try is allowed: the policy covers the failure, tries remain, the body is kept."""
        policy = self.action.retry_policy
        return self.attempt <= _retry.max_retries(policy, failure, status) and self.s.body.replayable

    async def _next_try(self, conn: _upstream.Upstream) -> _upstream.Upstream:
        """Back off and connect for the next try (another endpoint if there is one).

        Raises:
            _Answered: the connection failed and the router answered 503 UF itself.
        """
        conn.close()
        s = self.s
        await asyncio.sleep(_retry.backoff(self.attempt, s.dp.rng))
        healthy = _upstream.healthy_endpoints(self.cluster)
        endpoint = _retry.next_endpoint(healthy, self.tried, s.dp.rng) or conn.endpoint
        tries = await s.connect(self.cluster, self.action, endpoint, self.tried, attempt=self.attempt)
        if tries is None:
            raise _Answered()
        conn, self.attempt = tries
        s.entry.update(upstream_host=conn.endpoint, upstream_local_address=conn.local)
        return conn

    async def _tries(self, conn: _upstream.Upstream) -> tuple[_upstream.Upstream, h11.Response]:
        """Send the request, retrying per the route's policy (Envoy RetryStateImpl).

        A reset before the response (connection termination) and a retriable status code are
        retried while tries remain and the body is still kept; the route timeout covers every
        try. Raises what the last try failed with.
        """
        while True:
            try:
                conn, ev = await self._first_response(conn, self.attempt)
                if not isinstance(ev, h11.Response):
                    raise ConnectionResetError("upstream closed before headers")
            except (h11.ProtocolError, ConnectionError, OSError):
                if self.downstream_gone or not self._may_retry(_retry.Failure.RESET):
                    raise
            else:
                if not self._may_retry(_retry.Failure.STATUS, ev.status_code):
                    return conn, ev
                while not isinstance(await self._next(conn), (h11.EndOfMessage, h11.ConnectionClosed)):
                    pass  # the answer is dropped (shouldRetryHeaders)
            self.retried = True
            conn = await self._next_try(conn)

    def _exhausted(self, failure: _retry.Failure, status: int = 0) -> bool:
        """The last try failed in a way the policy retries, and no try was left (URX)."""
        policy = self.action.retry_policy
        return self.retried and policy is not None and _retry.retries_on(policy, failure, status)

    async def h1(self, conn: _upstream.Upstream, attempt: int) -> bool:
        """Proxy over HTTP/1.1; returns False if the downstream connection must close."""
        s = self.s
        self.attempt = attempt
        # The connection exists from here on: every later log line (504 UT, 503 UC) names it.
        s.entry.update(upstream_host=conn.endpoint, upstream_local_address=conn.local)
        pooled = False
        try:
            try:
                # Route timeout: 504 "upstream request timeout" when the response does not arrive
                # in time (router.cc onResponseTimeout → onUpstreamTimeoutAbort, §1.4).
                async with self.route_timeout():
                    conn, ev = await self._tries(conn)
            except TimeoutError:
                return await self._timed_out()
            s.body.stop_keeping()  # the final response: no other try will need the body
            flags = "URX" if self._exhausted(_retry.Failure.STATUS, ev.status_code) else "-"
            keep, pooled = await self._relay_h1(conn, ev, flags)
            return keep
        except _Answered:
            return True
        except (h11.ProtocolError, ConnectionError, OSError, _DownstreamGone) as exc:
            return await self._failed(exc)
        finally:
            complete = await self.stop_sender()
            if not pooled or not complete:
                conn.close()

    async def _relay_h1(self, conn: _upstream.Upstream, ev: h11.Response, flags: str) -> tuple[bool, bool]:
        """Stream the response downstream; returns (keep the downstream connection, pooled)."""
        s = self.s
        status = ev.status_code
        hdrs = self.response_headers(ev.headers)
        service = self.service_time()
        no_body = s.head or status in (204, 304) or 100 <= status < 200
        if no_body:
            with contextlib.suppress(h11.ProtocolError):
                self.client.next_event()  # consume the (empty) end of message, for the pool
            s.finish(status, flags, "via_upstream", 0, upstream_service_time=service)
        self.response_started = True
        await s.responder.start(status, hdrs, end_stream=no_body)
        if not no_body:
            sent = 0
            try:
                async with self.route_timeout():
                    while not isinstance(
                        ev := await self._next(conn), (h11.EndOfMessage, h11.ConnectionClosed)
                    ):
                        if isinstance(ev, h11.Data):
                            sent += len(ev.data)
                            await s.responder.data(bytes(ev.data))
            except TimeoutError:
                s.finish(status, "UT", "response_timeout", sent, upstream_service_time=service)
                return False, False  # Envoy resets a stream whose response is cut by the timeout
            except (h11.ProtocolError, ConnectionError, OSError):
                s.finish(status, "UC", _RESET_AFTER, sent, upstream_service_time=service)
                return False, False
            s.finish(status, flags, "via_upstream", sent, upstream_service_time=service)
        # Back to the pool only once the whole request went out (the sender finished).
        pooled = (self.sender is None or self.sender.done()) and _upstream.release(s.dp, conn, self.client)
        if not no_body:
            await s.responder.end()
        return True, pooled

    # -------------------------------------------------------------------------- HTTP/2

    async def _pump_h2(self, conn: _upstream.Upstream, ex: _upstream.H2Exchange) -> None:
        with contextlib.suppress(_DownstreamGone):
            await ex.send_body(self._body_chunks(conn))

    async def h2(self, conn: _upstream.Upstream, attempt: int) -> bool:
        """One request on a fresh HTTP/2 upstream connection (:class:`._upstream.H2Exchange`).

        Istio gives clusters of HTTP2/gRPC service ports ``http2_protocol_options``: Envoy then
        speaks HTTP/2 upstream whatever the client spoke, which is why the egress gateway logs
        ``GET /politics HTTP/2`` for a client's HTTP/1.1 request (§12).
        """
        s = self.s
        s.entry.update(upstream_host=conn.endpoint, upstream_local_address=conn.local)
        ex = _upstream.H2Exchange(conn)
        headers = _upstream.h2_request_headers(
            s.req.method,
            "https" if s.state.tls else "http",
            s.req.authority or "",
            self.path,
            _headers.with_attempt_count(self.headers, attempt),
        )
        try:
            try:
                async with self.route_timeout():
                    has_body = s.req.framing() is not None
                    await ex.send_headers(headers, end_stream=not has_body)
                    if has_body:
                        self.sender = asyncio.create_task(self._pump_h2(conn, ex))
                    status, raw, ended = await ex.response()
            except TimeoutError:
                return await self._timed_out()
            s.body.stop_keeping()
            return await self._relay_h2(ex, status, raw, ended)
        except (ConnectionError, OSError, _DownstreamGone) as exc:
            return await self._failed(exc)
        finally:
            await self.stop_sender()
            conn.close()

    async def _relay_h2(
        self, ex: _upstream.H2Exchange, status: int, raw: list[tuple[bytes, bytes]], ended: bool
    ) -> bool:
        s = self.s
        hdrs = self.response_headers(raw)
        service = self.service_time()
        no_body = s.head or status in (204, 304) or ended
        self.response_started = True
        if no_body:
            s.finish(status, "-", "via_upstream", 0, upstream_service_time=service)
        await s.responder.start(status, hdrs, end_stream=no_body)
        if no_body:
            return True
        sent = 0
        try:
            async with self.route_timeout():
                async for chunk in ex.data():
                    sent += len(chunk)
                    await s.responder.data(chunk)
        except TimeoutError:
            s.finish(status, "UT", "response_timeout", sent, upstream_service_time=service)
            return False
        except (ConnectionError, OSError):
            s.finish(status, "UC", _RESET_AFTER, sent, upstream_service_time=service)
            return False
        s.finish(status, "-", "via_upstream", sent, upstream_service_time=service)
        await s.responder.end()
        return True
