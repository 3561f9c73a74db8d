"""A small blocking HTTP/1.1 (h11) and HTTP/2 (h2) server core for the stand-ins that need TLS or h2.

The nginx stand-in and the fake internet serve real TLS (``ssl``) and, where the site speaks it,
HTTP/2 chosen by ALPN (``curl`` then prints ``HTTP/2 200``). Both speak to one interface:
``handler(HttpRequest) -> HttpResponse``; :func:`wsgi_handler` adapts a WSGI app (httpbin) to it.
One thread per connection (the servers are :class:`~gatewaykit.workloads.base.ThreadedTCPServer`).
"""

from __future__ import annotations

import email.utils
import http
import io
import socket
import ssl
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h11

__all__ = ["HttpRequest", "HttpResponse", "serve_connection", "wsgi_handler"]

_READ = 65536


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One request as a handler sees it.

    Attributes:
        method: ``GET``, ``HEAD``, ...
        target: the request target (path and query).
        headers: header (lower-case name, value) pairs; for HTTP/2 ``:authority`` becomes ``host``.
        body: the whole request body.
        http_version: ``"1.0"``, ``"1.1"`` or ``"2"``.
        scheme: ``"http"`` or ``"https"``.
        client_address: the peer (host, port).
        server_port: the logical port the server stands in for (80, 443, ...).
        peer_cert: the client's certificate (``SSLSocket.getpeercert()``) when it sent one.
    """

    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""
    http_version: str = "1.1"
    scheme: str = "http"
    client_address: tuple[str, int] = ("127.0.0.1", 0)
    server_port: int = 80
    peer_cert: dict[str, Any] | None = None

    def header(self, name: str, default: str = "") -> str:
        """Return the first value of header ``name`` (case-insensitive), or ``default``."""
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return default


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A complete response. ``reason`` defaults to the standard phrase; ``close`` ends the connection."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    reason: str = ""
    close: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[HttpRequest], HttpResponse]


def http_date() -> str:
    """The current time as an HTTP ``Date`` header value."""
    return email.utils.formatdate(usegmt=True)


def serve_connection(
    sock: socket.socket,
    handler: Handler,
    *,
    server_port: int,
    tls: ssl.SSLContext | None = None,
    on_plain_http_to_tls: Callable[[socket.socket], None] | None = None,
    client_address: tuple[str, int] = ("127.0.0.1", 0),
) -> None:
    """Serve one accepted connection until the client or the handler closes it.

    Args:
        sock: the accepted TCP socket.
        handler: produces a response for each request.
        server_port: the logical port (given to the handler).
        tls: if set, a TLS handshake is done first; ALPN ``h2`` switches to HTTP/2.
        on_plain_http_to_tls: called instead of the handshake when a TLS port receives
            something that is not a TLS record (nginx answers such a request with a 400 page).
        client_address: the peer address.
    """
    sock.settimeout(60)
    scheme = "http"
    peer_cert: dict[str, Any] | None = None
    conn: socket.socket = sock
    if tls is not None:
        scheme = "https"
        try:
            first = sock.recv(1, socket.MSG_PEEK)
        except OSError:
            return
        if not first:
            return
        if first[0] != 0x16 and on_plain_http_to_tls is not None:  # 0x16 = TLS handshake record
            on_plain_http_to_tls(sock)
            return
        try:
            tls_sock = tls.wrap_socket(sock, server_side=True)
        except (ssl.SSLError, OSError):
            return  # handshake failed: the client sees the alert / reset
        conn = tls_sock
        peer_cert = tls_sock.getpeercert() or None
        if tls_sock.selected_alpn_protocol() == "h2":
            _serve_h2(tls_sock, handler, server_port, client_address, peer_cert)
            return
    _serve_h11(conn, handler, scheme, server_port, client_address, peer_cert)


def _call(handler: Handler, req: HttpRequest) -> HttpResponse:
    """Run the handler; a crash becomes a 500 (and a closed connection), never a hung client."""
    try:
        return handler(req)
    except Exception:  # noqa: BLE001 -- any bug in a stand-in must still answer the client
        return HttpResponse(
            500,
            (("Content-Type", "text/plain"), ("Date", http_date())),
            b"Internal Server Error\n",
            close=True,
        )


def _response_headers(resp: HttpResponse, head: bool) -> list[tuple[str, str]]:
    """Headers to send, with a Content-Length matching the body (a HEAD keeps the app's length)."""
    given = [v for k, v in resp.headers if k.lower() == "content-length"]
    headers = [(k, v) for k, v in resp.headers if k.lower() != "content-length"]
    if resp.status in (204, 304) or 100 <= resp.status < 200:
        return headers
    if not head:
        headers.append(("Content-Length", str(len(resp.body))))
    elif given:
        headers.append(("Content-Length", given[0]))
    return headers


def _serve_h11(
    sock: socket.socket,
    handler: Handler,
    scheme: str,
    server_port: int,
    client_address: tuple[str, int],
    peer_cert: dict[str, Any] | None,
) -> None:
    conn = h11.Connection(h11.SERVER)
    request: h11.Request | None = None
    body = bytearray()
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError:
            _send_h11(
                sock, conn, HttpResponse(400, (("Content-Type", "text/plain"),), b"Bad Request\n"), False
            )
            return
        if event is h11.NEED_DATA:
            if conn.they_are_waiting_for_100_continue:
                # curl sends `Expect: 100-continue` before large bodies and waits 1 s for this.
                try:
                    sock.sendall(
                        conn.send(h11.InformationalResponse(status_code=100, headers=[], reason=b"Continue"))
                    )
                except (h11.LocalProtocolError, OSError):
                    return
            try:
                data = sock.recv(_READ)
            except OSError:
                return
            conn.receive_data(data)
            continue
        if isinstance(event, h11.Request):
            request, body = event, bytearray()
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage) and request is not None:
            headers = tuple((k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in request.headers)
            req = HttpRequest(
                method=request.method.decode("ascii"),
                target=request.target.decode("latin-1"),
                headers=headers,
                body=bytes(body),
                http_version=request.http_version.decode("ascii"),
                scheme=scheme,
                client_address=client_address,
                server_port=server_port,
                peer_cert=peer_cert,
            )
            resp = _call(handler, req)
            if not _send_h11(sock, conn, resp, req.method == "HEAD"):
                return
            if conn.our_state is h11.MUST_CLOSE or resp.close:
                return
            try:
                conn.start_next_cycle()
            except h11.LocalProtocolError:
                return
        elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
            return


def _send_h11(sock: socket.socket, conn: h11.Connection, resp: HttpResponse, head: bool) -> bool:
    headers = _response_headers(resp, head)
    if resp.close:
        headers = [(k, v) for k, v in headers if k.lower() != "connection"] + [("Connection", "close")]
    reason = resp.reason or _phrase(resp.status)
    try:
        out = conn.send(h11.Response(status_code=resp.status, headers=headers, reason=reason.encode()))
        if resp.body and not head:
            out += conn.send(h11.Data(data=resp.body))
        out += conn.send(h11.EndOfMessage())
        sock.sendall(out)
    except (h11.LocalProtocolError, OSError):
        return False
    return True


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


# Connection-specific headers are forbidden in HTTP/2 (RFC 9113 §8.2.2).
_H2_DROP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"}


def _serve_h2(
    sock: ssl.SSLSocket,
    handler: Handler,
    server_port: int,
    client_address: tuple[str, int],
    peer_cert: dict[str, Any] | None,
) -> None:
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    streams: dict[int, tuple[list[tuple[str, str]], bytearray]] = {}
    pending: dict[int, bytes] = {}

    def flush() -> None:
        for sid in list(pending):
            buf = pending[sid]
            try:
                while buf:
                    n = min(conn.local_flow_control_window(sid), conn.max_outbound_frame_size, len(buf))
                    if n <= 0:
                        break
                    conn.send_data(sid, buf[:n])
                    buf = buf[n:]
                if buf:
                    pending[sid] = buf
                else:
                    conn.end_stream(sid)
                    del pending[sid]
            except h2.exceptions.StreamClosedError:
                pending.pop(sid, None)

    def respond(sid: int) -> None:
        raw_headers, body = streams.pop(sid)
        pseudo = {k: v for k, v in raw_headers if k.startswith(":")}
        headers = [(k, v) for k, v in raw_headers if not k.startswith(":")]
        if ":authority" in pseudo and not any(k == "host" for k, _ in headers):
            headers.insert(0, ("host", pseudo[":authority"]))
        req = HttpRequest(
            method=pseudo.get(":method", "GET"),
            target=pseudo.get(":path", "/"),
            headers=tuple(headers),
            body=bytes(body),
            http_version="2",
            scheme="https",
            client_address=client_address,
            server_port=server_port,
            peer_cert=peer_cert,
        )
        resp = _call(handler, req)
        head = req.method == "HEAD"
        out = [(":status", str(resp.status))] + [
            (k.lower(), v) for k, v in _response_headers(resp, head) if k.lower() not in _H2_DROP
        ]
        if head or not resp.body:
            conn.send_headers(sid, out, end_stream=True)
        else:
            conn.send_headers(sid, out)
            pending[sid] = resp.body

    while True:
        try:
            data = sock.recv(_READ)
        except OSError:
            return
        if not data:
            return
        try:
            events = conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            try:
                sock.sendall(conn.data_to_send())
            except OSError:
                pass
            return
        for ev in events:
            if isinstance(ev, h2.events.RequestReceived):
                streams[ev.stream_id] = ([(str(k), str(v)) for k, v in ev.headers], bytearray())
            elif isinstance(ev, h2.events.DataReceived):
                if ev.stream_id in streams:
                    streams[ev.stream_id][1].extend(ev.data)
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                if ev.stream_id in streams:
                    respond(ev.stream_id)
            elif isinstance(ev, h2.events.StreamReset):
                streams.pop(ev.stream_id, None)
                pending.pop(ev.stream_id, None)
            elif isinstance(ev, h2.events.ConnectionTerminated):
                try:
                    sock.sendall(conn.data_to_send())
                except OSError:
                    pass
                return
        flush()
        try:
            sock.sendall(conn.data_to_send())
        except OSError:
            return


def wsgi_handler(
    app: Callable[..., Iterable[bytes]],
    *,
    server_header: str | None,
    server_name: str = "localhost",
    extra_request_headers: Callable[[HttpRequest], Iterable[tuple[str, str]]] | None = None,
) -> Handler:
    """Adapt a WSGI application to a :data:`Handler`.

    Args:
        app: the WSGI app (e.g. ``httpbin.app``).
        server_header: the ``Server`` header to send (``None`` = none), replacing the app's.
        server_name: ``SERVER_NAME`` for the environ.
        extra_request_headers: headers a front proxy sets on each request before the app sees it;
            they *replace* what the client sent (a load balancer overwrites X-Forwarded-Proto).

    Returns:
        The handler.
    """

    def handle(req: HttpRequest) -> HttpResponse:
        path, _, query = req.target.partition("?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": req.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": _unquote_path(path),
            "RAW_URI": req.target,
            "REQUEST_URI": req.target,
            "QUERY_STRING": query,
            "SERVER_NAME": server_name,
            "SERVER_PORT": str(req.server_port),
            "SERVER_PROTOCOL": "HTTP/2" if req.http_version == "2" else f"HTTP/{req.http_version}",
            "REMOTE_ADDR": req.client_address[0],
            "REMOTE_PORT": str(req.client_address[1]),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": req.scheme,
            "wsgi.input": io.BytesIO(req.body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        added = tuple(extra_request_headers(req)) if extra_request_headers is not None else ()
        replaced = {k.lower() for k, _ in added}
        for k, v in (*(h for h in req.headers if h[0] not in replaced), *added):
            if k == "content-type":
                environ["CONTENT_TYPE"] = v
            elif k == "content-length":
                environ["CONTENT_LENGTH"] = v
            else:
                key = "HTTP_" + k.upper().replace("-", "_")
                environ[key] = f"{environ[key]},{v}" if key in environ else v
        captured: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda _data: None

        result = app(environ, start_response)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        code, _, reason = captured["status"].partition(" ")
        app_headers = [(k, v) for k, v in captured["headers"] if k.lower() not in ("server", "date")]
        ctype = [(k, v) for k, v in app_headers if k.lower() == "content-type"]
        rest = [(k, v) for k, v in app_headers if k.lower() != "content-type"]
        # Header order as gunicorn sends it (httpbin.org): date, content-type, ..., server, app headers.
        server = [("Server", server_header)] if server_header else []
        return HttpResponse(
            int(code), tuple([("Date", http_date()), *ctype, *server, *rest]), body, reason=reason
        )

    return handle


def _unquote_path(path: str) -> str:
    from urllib.parse import unquote_to_bytes

    # PEP 3333: PATH_INFO is the decoded path as latin-1 "bytes in a str".
    return unquote_to_bytes(path).decode("latin-1")
