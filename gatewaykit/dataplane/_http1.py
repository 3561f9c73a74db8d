"""The HTTP connection manager's HTTP/1.1 codec (h11), server side.

Envoy's HTTP/1 codec writes the status line and the framing itself: its own reason phrases
(``418 Unknown``, §1.5), lower-case ``transfer-encoding``/``connection`` headers, and protocol
errors as local replies (400 DPE, 431, 501, 426 for HTTP/1.0).

A request is routed as soon as its head is decoded; the body is read only as the router sends
it upstream (:class:`_H1Body`), so a local reply (404 NR, 503 UH...) goes out before the body
and memory stays bounded whatever the client sends. A response that ends before the request
does carries ``connection: close``, and the connection closes after it (Envoy
``ActiveStream::encodeHeaders``: "If we are destroying a stream before remote is complete and
the connection does not support multiplexing, we should disconnect").
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from typing import TYPE_CHECKING, Any

import h11

from gatewaykit.dataplane._accesslog import AccessLogEntry
from gatewaykit.dataplane._body import NO_BODY, BodySource
from gatewaykit.dataplane._codes import reason_phrase
from gatewaykit.dataplane._headers import HOP_BY_HOP, http_date
from gatewaykit.dataplane._replies import h1_error_response
from gatewaykit.dataplane._router import DownstreamRequest, handle_request, server_name
from gatewaykit.dataplane._tls import PlainStream, TlsStream

if TYPE_CHECKING:
    from gatewaykit.dataplane.plane import DataPlane, _State

__all__ = ["MAX_REQUEST_HEADERS", "linger", "serve_h1"]

Stream = PlainStream | TlsStream

# Envoy's default max_request_headers_kb is 60: larger request headers get 431.
MAX_REQUEST_HEADERS = 60 * 1024
_REQUEST_LINE = re.compile(rb"^[A-Za-z]+ \S+ HTTP/\d\.\d\r?\n")


class _H1Responder:
    def __init__(self, conn: h11.Connection, stream: Stream, head: bool, body: BodySource) -> None:
        self.conn = conn
        self.stream = stream
        self.head = head
        self.body = body
        self.bytes_sent = 0
        self.close_after = False

    async def start(self, status: int, headers: list[tuple[str, str]], end_stream: bool) -> None:
        # Envoy re-frames the body itself; it writes "transfer-encoding: chunked" lower-case
        # when the length is unknown (h11 would add a capitalised one).
        hdrs = [(k, v) for k, v in headers if k not in HOP_BY_HOP]
        if (
            self.conn.their_http_version == b"1.1"
            and status >= 200
            and status not in (204, 304)
            and not self.head
            and not any(k == "content-length" for k, _ in hdrs)
            and not end_stream
        ):
            hdrs.append(("transfer-encoding", "chunked"))
        if any(k == "connection" and v.lower() == "close" for k, v in headers) or not self.body.complete:
            # A response before the end of the request: Envoy drains the connection (above).
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


async def _next_event(conn: h11.Connection, stream: Stream, seen: bytearray | None = None) -> Any:
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = await stream.read()
            if seen is not None and len(seen) < 4096:
                seen += data[:4096]
            conn.receive_data(data)
            continue
        return event


class _CodecError(Exception):
    """A request Envoy's HTTP/1 codec rejects (``sendProtocolError``), with its status and details."""

    def __init__(self, status: int, details: str) -> None:
        super().__init__(details)
        self.status = status
        self.details = details


#: h11's verdicts → Envoy's codec answers (``Http1ResponseCodeDetails``): an oversized head is 431
#: ``http1.headers_too_large``; a transfer coding other than one ``chunked`` is 501
#: ``http1.invalid_transfer_encoding`` (RFC 9112 §6.1 "SHOULD respond with 501"); anything else
#: the parser refuses is 400 ``http1.codec_error``.
_H11_HINTS = {431: "http1.headers_too_large", 501: "http1.invalid_transfer_encoding"}


def _codec_error(exc: Exception) -> _CodecError:
    if isinstance(exc, _CodecError):
        return exc
    hint = getattr(exc, "error_status_hint", 400)
    return (
        _CodecError(hint, _H11_HINTS[hint]) if hint in _H11_HINTS else _CodecError(400, "http1.codec_error")
    )


def _entry(state: _State, start: float, **fields: Any) -> AccessLogEntry:
    return AccessLogEntry(
        start=start,
        duration_ms=int((time.time() - start) * 1000),
        downstream_local_address=state.downstream_local,
        downstream_remote_address=state.downstream_remote,
        requested_server_name=state.sni,
        **fields,
    )


async def _protocol_error(
    dp: DataPlane, state: _State, stream: Stream, error: _CodecError, seen: bytes, start: float
) -> None:
    """Answer a request the codec rejected (400/431/501 DPE); the caller closes the connection."""
    status = error.status
    with_request = status != 400 or bool(_REQUEST_LINE.match(seen))
    dp.log(
        state,
        _entry(
            state,
            start,
            protocol="HTTP/1.1",
            response_code=status,
            response_flags="DPE",
            response_code_details=error.details,
            bytes_sent=len(reason_phrase(status)) if with_request else 0,
        ),
    )
    hcm = state.chain.http_connection_manager if state.chain else None
    stream.write(h1_error_response(status, with_request, server_name(hcm) if hcm else "envoy"))
    with contextlib.suppress(Exception):
        await stream.drain()


async def _http10(dp: DataPlane, state: _State, stream: Stream, req: DownstreamRequest, start: float) -> None:
    # Istio leaves accept_http_10 off (PILOT_HTTP10 unset): Envoy's HTTP/1 codec answers 426
    # and closes (ServerConnectionImpl, ResponseCodeDetails "low_version").
    text = "Upgrade Required"
    dp.log(
        state,
        _entry(
            state,
            start,
            method=req.method,
            path=req.path,
            protocol=req.protocol,
            authority=req.authority,
            user_agent=req.header("user-agent"),
            response_code=426,
            response_flags="-",
            response_code_details="low_version",
            bytes_sent=len(text),
        ),
    )
    hcm = state.chain.http_connection_manager if state.chain else None
    stream.write(
        (
            f"HTTP/1.1 426 Upgrade Required\r\ncontent-length: {len(text)}\r\n"
            f"content-type: text/plain\r\ndate: {http_date()}\r\n"
            f"server: {server_name(hcm) if hcm else 'envoy'}\r\nconnection: close\r\n\r\n{text}"
        ).encode()
    )
    with contextlib.suppress(Exception):
        await stream.drain()


class _H1Body:
    """The request body, read from the h11 connection only when the router asks for it."""

    def __init__(self, conn: h11.Connection, stream: Stream) -> None:
        self.conn = conn
        self.stream = stream
        self.complete = False
        self.received = 0

    async def read(self) -> bytes:
        if self.complete:
            return b""
        try:
            ev = await _next_event(self.conn, self.stream)
        except h11.RemoteProtocolError as exc:
            raise ConnectionResetError(f"malformed request body: {exc}") from exc
        if isinstance(ev, h11.Data):
            self.received += len(ev.data)
            return bytes(ev.data)
        if isinstance(ev, h11.EndOfMessage):
            self.complete = True
            return b""
        raise ConnectionResetError("the client closed the connection before the end of the body")


def _framing(event: h11.Request) -> tuple[int | None, bool]:
    """(declared content-length, chunked) of a request head."""
    length: int | None = None
    chunked = False
    for name, value in event.headers:
        if name.lower() == b"content-length":
            length = int(value)
        elif name.lower() == b"transfer-encoding":
            chunked = True  # h11 accepts only "chunked"
    return length, chunked


def _request(event: h11.Request, conn: h11.Connection, stream: Stream) -> DownstreamRequest:
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
    length, chunked = _framing(event)
    body: BodySource = NO_BODY
    if chunked or length:
        body = _H1Body(conn, stream)
    else:
        conn.next_event()  # h11's EndOfMessage of an empty body: no data needed
    return DownstreamRequest(
        event.method.decode(),
        event.target.decode("latin-1"),
        authority,
        headers,
        body,
        "HTTP/" + event.http_version.decode(),
        content_length=length,
        chunked=chunked,
    )


async def _read_head(conn: h11.Connection, stream: Stream, seen: bytearray) -> DownstreamRequest | None:
    """Read one request head; None when the client closed or went away.

    Raises:
        _CodecError: what Envoy's codec rejects (431, CL + TE, malformed).
    """
    try:
        event = await _next_event(conn, stream, seen)
    except h11.RemoteProtocolError as exc:
        raise _codec_error(exc) from exc
    if not isinstance(event, h11.Request):
        return None
    # Envoy counts the header map (names + values) against max_request_headers_kb; h11 only
    # limits the bytes it has to buffer, so a request that arrives whole is checked here.
    if sum(len(k) + len(v) for k, v in event.headers) > MAX_REQUEST_HEADERS:
        raise _CodecError(431, "http1.headers_too_large")
    names = {name.lower() for name, _ in event.headers}
    if b"content-length" in names and b"transfer-encoding" in names:
        # RFC 9112 §6.1: a server MAY reject it; Envoy does unless allow_chunked_length (Istio
        # never sets it): 400 "Bad Request", http1.content_length_and_chunked_not_allowed.
        raise _CodecError(400, "http1.content_length_and_chunked_not_allowed")
    if conn.they_are_waiting_for_100_continue:
        # Envoy answers "Expect: 100-continue" itself and does not forward the expectation.
        stream.write(conn.send(h11.InformationalResponse(status_code=100, headers=[])) or b"")
    return _request(event, conn, stream)


async def linger(stream: Stream) -> None:
    """Close while the client may still be sending: flush, half-close, drain briefly.

    After a response that ended before its request (or an HTTP/2 GOAWAY), Envoy closes the
    connection with ``FlushWriteAndDelay``: the response is flushed, then it
    waits up to ``delayed_close_timeout`` (1 s) for the client to close. Discarding what the
    client still sends meanwhile (curl stops uploading when it sees the response: "HTTP error
    before end of send, stop sending") keeps the kernel from answering with a RST that could
    destroy the response before curl reads it. Nothing read here is kept.
    """
    with contextlib.suppress(Exception):
        await stream.drain()
        stream.write_eof()
        async with asyncio.timeout(1.0):
            while await stream.read():
                pass


async def serve_h1(dp: DataPlane, state: _State, stream: Stream) -> None:
    """Serve HTTP/1.1 requests on one downstream connection (keep-alive honoured)."""
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_REQUEST_HEADERS)
    try:
        while True:
            start = time.time()
            seen = bytearray(conn.trailing_data[0][:4096])
            try:
                req = await _read_head(conn, stream, seen)
            except _CodecError as exc:
                await _protocol_error(dp, state, stream, exc, bytes(seen), start)
                return
            if req is None:
                break
            if req.protocol == "HTTP/1.0":
                await _http10(dp, state, stream, req, start)
                await linger(stream)
                break
            responder = _H1Responder(conn, stream, head=req.method == "HEAD", body=req.body)
            keep = await handle_request(dp, state, req, responder, start)
            if not req.body.complete:
                await linger(stream)
                break
            if not keep or responder.close_after or conn.our_state is h11.MUST_CLOSE:
                break
            try:
                conn.start_next_cycle()
            except h11.LocalProtocolError:
                break
    finally:
        stream.close()
