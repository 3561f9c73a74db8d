"""One HTTP request through the connection manager and router (Envoy's ActiveStream + Router).

Per request :func:`gatewaykit._simulate.simulate` says where the request goes (virtual host,
route, cluster, endpoint) or what Envoy answers itself (404 NR, 503 UH, 301 for
``require_tls``, direct responses, §1.4, §6). The request is routed on its head alone, like
Envoy: a local reply never waits for the body. Everything that needs a real upstream is done
here and in :mod:`._exchange`: connect with the route's retries, the route timeout (504),
rewrites, the request headers Envoy adds (:mod:`._headers`, §1.3), the response headers it sets
(§1.1–§1.2), and one access-log line per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from gatewaykit import envoy
from gatewaykit._simulate import Request as SimRequest
from gatewaykit._simulate import Result
from gatewaykit._simulate import simulate as run_simulation
from gatewaykit.dataplane import _headers, _mx, _retry, _upstream
from gatewaykit.dataplane._accesslog import AccessLogEntry
from gatewaykit.dataplane._body import BodySource, RequestBody
from gatewaykit.dataplane._exchange import Exchange
from gatewaykit.dataplane._paths import normalize_path, rewrite_path
from gatewaykit.dataplane._replies import SIMULATE_DETAILS, reset_before_headers, tls_failure_reason

if TYPE_CHECKING:
    from gatewaykit.dataplane.plane import DataPlane, _State

__all__ = ["ActiveStream", "DownstreamRequest", "Responder", "handle_request", "server_name"]


def server_name(hcm: envoy.HttpConnectionManager) -> str:
    """The ``server`` header value: an empty ``server_name`` means Envoy's default ``envoy`` (§1.1)."""
    return hcm.server_name or "envoy"


@dataclass(slots=True)
class DownstreamRequest:
    """One request as the connection manager decoded it: the head, and the body still to read."""

    method: str
    path: str
    authority: str | None
    headers: list[tuple[str, str]]  # lower-case names, no pseudo-headers, no host
    body: BodySource
    protocol: str  # "HTTP/1.1", "HTTP/1.0", "HTTP/2"
    content_length: int | None = None  # as declared by the client
    chunked: bool = False  # a body of unknown length (HTTP/1 chunked, HTTP/2 without length)

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (lower-case), or None."""
        for k, v in self.headers:
            if k == name:
                return v
        return None

    def framing(self) -> tuple[str, str] | None:
        """How the upstream request frames the body (Envoy's HTTP/1 encoder, encodeHeadersBase).

        Envoy streams bodies: one of unknown length goes upstream ``transfer-encoding: chunked``;
        a declared ``content-length`` is kept; no body, no framing header.
        """
        if self.chunked:
            return ("transfer-encoding", "chunked")
        if self.content_length is not None:
            return ("content-length", str(self.content_length))
        return None


class Responder(Protocol):
    """Writes one response downstream (HTTP/1.1 or HTTP/2)."""

    bytes_sent: int

    async def start(self, status: int, headers: list[tuple[str, str]], end_stream: bool) -> None:
        """Send the status and headers (and end the response when ``end_stream``)."""
        ...

    async def data(self, chunk: bytes) -> None:
        """Send body bytes; returns when the client's connection took them (back-pressure)."""
        ...

    async def end(self) -> None:
        """End the response."""
        ...


async def handle_request(
    dp: DataPlane, state: _State, req: DownstreamRequest, responder: Responder, start: float
) -> bool:
    """Route one request (via simulate) and answer it; returns False if the connection must close."""
    # The HCM normalizes the path before routing; the route and the upstream see the result.
    req.path = normalize_path(req.path)
    stream = ActiveStream(dp, state, req, responder, start)
    with dp.in_flight(state):
        try:
            return await stream.run()
        finally:
            stream.body.settled.set()  # a mirror still waiting for the body gives up


class ActiveStream:
    """The state of one request: the simulation result, the log fields, the upstream tries."""

    def __init__(
        self, dp: DataPlane, state: _State, req: DownstreamRequest, responder: Responder, start: float
    ) -> None:
        hcm = state.chain.http_connection_manager if state.chain else None
        assert hcm is not None
        self.dp, self.state, self.req, self.responder = dp, state, req, responder
        self.body = RequestBody(req.body)
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
                bytes_received=self.body.received,
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

    def downstream_reset(self) -> None:
        """Log a request the client abandoned before its response (Envoy: 0 DC)."""
        self.finish(0, "DC", "downstream_remote_disconnect", 0)

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
        sent = 0 if self.head else len(reply.body.encode())
        self.finish(reply.status, result.response_flags, details, sent)
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
            peer_metadata=(
                _mx.node_id(state.proxy, state.pod_ip),
                _mx.peer_metadata(
                    state.proxy.id, state.proxy.namespace, state.proxy.workload, state.proxy.labels
                ),
            ),
            original_path=req.path if path != req.path else None,
            timeout_ms=int(action.timeout * 1000) if action.timeout and action.timeout > 0 else None,
            framing=req.framing(),
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
            _upstream.spawn_mirror(self.dp, self.state, mirror, self.req.method, path, up, self.body)
        healthy = _upstream.healthy_endpoints(cluster)
        endpoint = result.endpoint or (healthy[0] if healthy else "")
        exchange = Exchange(self, cluster, action, route, path, up)
        tries = await self.connect(cluster, action, endpoint, exchange.tried)
        if tries is None:
            return True
        upstream, attempt = tries
        if self.dp.upstream_http2(cluster):
            return await exchange.h2(upstream, attempt)
        return await exchange.h1(upstream, attempt)

    async def connect(
        self,
        cluster: envoy.Cluster,
        action: envoy.RouteAction,
        endpoint: str,
        tried: list[str],
        *,
        attempt: int = 0,
    ) -> tuple[_upstream.Upstream, int] | None:
        """Connect for try ``attempt + 1``, retrying connect failures; None after the 503 UF reply.

        ``tried`` collects the endpoints tried so far: a retry prefers another one (Istio's
        ``previous_hosts`` predicate).
        """
        retries = _retry.max_retries(action.retry_policy, _retry.Failure.CONNECT_FAILURE)
        timeout = action.timeout if action.timeout and action.timeout > 0 else None
        healthy = _upstream.healthy_endpoints(cluster)
        failure = "delayed connect error: 111"
        while True:
            attempt += 1
            tried.append(endpoint)
            try:
                # The first try may reuse an idle pooled connection; a retry opens a fresh one.
                up = await _upstream.connect(
                    self.dp, self.state, cluster, endpoint, self.req.authority, pooled=attempt == 1
                )
                return up, attempt
            except ssl.SSLError as exc:
                failure = tls_failure_reason(exc)
            except (OSError, asyncio.TimeoutError) as exc:
                refused = isinstance(exc, ConnectionRefusedError)
                failure = "delayed connect error: 111" if refused else str(exc)
            expired = timeout is not None and time.monotonic() >= self.t0 + timeout
            if attempt > retries or expired:
                break
            await asyncio.sleep(_retry.backoff(attempt, self.dp.rng))
            endpoint = _retry.next_endpoint(healthy, tried, self.dp.rng) or endpoint
        await self._connect_failed(attempt, failure, endpoint)
        return None

    async def _connect_failed(self, attempt: int, failure: str, endpoint: str) -> None:
        # Envoy Filter::onUpstreamReset (router.cc): 503, body exact (§1.4).
        reason = failure.replace(" ", "_")
        with contextlib.suppress(ConnectionError, OSError):
            await self.local_reply(
                503,
                reset_before_headers(
                    "remote connection failure", retried=attempt > 1, transport_failure=failure
                ),
                "UF,URX" if attempt > 1 else "UF",
                f"upstream_reset_before_response_started{{remote_connection_failure,{reason}}}",
                upstream_transport_failure_reason=reason,
                upstream_host=endpoint,
            )
