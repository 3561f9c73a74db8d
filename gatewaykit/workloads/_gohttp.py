"""Go's ``net/http`` HTTP/1.x server, as far as a client can tell: what go-httpbin runs under.

The go-httpbin stand-in (:mod:`.gohttpbin`) writes handlers against a tiny ``ResponseWriter``
(:class:`GoResponse`); this module turns that into the exact bytes Go 1.23's server sends and parses
requests the way Go presents them to a handler. Rules (Go ``src/net/http/server.go``,
``chunkWriter.writeHeader``, ``writeStatusLine``, ``extraHeader.Write``; ``transfer.go``;
``request.go``):

* status line ``HTTP/1.1 418 I'm a teapot`` from Go's ``StatusText`` table, ``HTTP/1.1 599 status
  code 599`` for a code without text;
* the handler's headers sorted by name, one line per value, then ``Date``, then an automatic
  ``Content-Length`` (only when the handler finished and wrote at most 2048 bytes -- Go's
  ``bufferBeforeChunkingSize`` -- and never for HEAD), then a sniffed ``Content-Type``,
  ``Connection: close``, ``Transfer-Encoding: chunked`` (a larger or flushed body on HTTP/1.1);
* no body and no ``Content-Length`` for 1xx/204/304; ``Content-Type`` dropped on 304;
* request headers canonicalised (``X-B3-Traceid``), ``Host`` moved out of the header map,
  ``Transfer-Encoding`` out too (and ``Content-Length`` with it when chunked);
* a request h11 cannot parse gets Go's plain ``400 Bad Request`` and the connection is closed;
  an idle keep-alive connection is closed after ``ReadTimeout`` (go-httpbin sets 5 s and no
  ``IdleTimeout``, cmd/cmd.go).

One thread per connection (``ThreadedTCPServer``), like Go's goroutine per connection.
"""

from __future__ import annotations

import email.utils
import re
import select
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import h11

from gatewaykit.workloads._golang import canonical_header_key

__all__ = [
    "GoPanic",
    "GoRequest",
    "GoResponse",
    "serve_go_connection",
    "status_line",
    "status_text",
    "wire_response",
]

#: Go 1.23 ``net/http`` StatusText (status.go). 418 is "I'm a teapot"; codes absent here are written
#: as ``<code> status code <code>``.
STATUS_TEXT: dict[int, str] = {
    100: "Continue",
    101: "Switching Protocols",
    102: "Processing",
    103: "Early Hints",
    200: "OK",
    201: "Created",
    202: "Accepted",
    203: "Non-Authoritative Information",
    204: "No Content",
    205: "Reset Content",
    206: "Partial Content",
    207: "Multi-Status",
    208: "Already Reported",
    226: "IM Used",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    304: "Not Modified",
    305: "Use Proxy",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    409: "Conflict",
    410: "Gone",
    411: "Length Required",
    412: "Precondition Failed",
    413: "Request Entity Too Large",
    414: "Request URI Too Long",
    415: "Unsupported Media Type",
    416: "Requested Range Not Satisfiable",
    417: "Expectation Failed",
    418: "I'm a teapot",
    421: "Misdirected Request",
    422: "Unprocessable Entity",
    423: "Locked",
    424: "Failed Dependency",
    425: "Too Early",
    426: "Upgrade Required",
    428: "Precondition Required",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    451: "Unavailable For Legal Reasons",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    505: "HTTP Version Not Supported",
    506: "Variant Also Negotiates",
    507: "Insufficient Storage",
    508: "Loop Detected",
    510: "Not Extended",
    511: "Network Authentication Required",
}

# server.go: bufferBeforeChunkingSize; a handler that wrote more before finishing gets chunked.
_BUFFER_BEFORE_CHUNKING = 2048
# cmd/cmd.go: srvMaxHeaderBytes 16 KiB; server.go adds 4096 bytes of slop (initialReadLimitSize).
_MAX_HEADER_BYTES = 16 * 1024 + 4096
# cmd/cmd.go: ReadTimeout 5 s, no IdleTimeout -> idle keep-alive connections close after 5 s.
_READ_TIMEOUT = 5.0


def status_text(code: int) -> str:
    """Go's ``http.StatusText`` (``""`` for a code it has no text for)."""
    return STATUS_TEXT.get(code, "")


@dataclass
class GoRequest:
    """A request as a Go handler sees it (``*http.Request``).

    Attributes:
        method: ``GET``...
        target: the request-target as sent (``r.RequestURI``).
        path: the path part, still escaped (``r.URL.EscapedPath()``).
        raw_query: the query after ``?`` (``r.URL.RawQuery``); ``None`` when there was no ``?``.
        header: canonical name -> values in arrival order, without ``Host``/``Transfer-Encoding``.
        host: ``r.Host`` (the Host header, port included).
        body: the whole body.
        remote_addr: ``"ip:port"`` of the peer (``r.RemoteAddr``).
        proto: ``"HTTP/1.1"`` or ``"HTTP/1.0"``.
        transfer_encoding: ``r.TransferEncoding`` (``["chunked"]`` for a chunked body).
        url_host: the host of an absolute-form target (``r.URL.Host``), else ``""``.
    """

    method: str
    target: str
    path: str
    raw_query: str | None
    header: dict[str, list[str]]
    host: str
    body: bytes
    remote_addr: str
    proto: str = "HTTP/1.1"
    transfer_encoding: list[str] = field(default_factory=list)
    url_host: str = ""
    #: set while the handler runs: True once the client has closed its side (Go's r.Context().Done()).
    client_gone: Callable[[float], bool] = field(default=lambda _t: False, repr=False)

    def get(self, name: str) -> str:
        """``r.Header.Get(name)``: the first value, or ``""``."""
        values = self.header.get(canonical_header_key(name))
        return values[0] if values else ""

    @property
    def request_uri(self) -> str:
        """``r.URL.RequestURI()``: the escaped path and ``?query`` (an absolute-form target's path)."""
        return self.path + (f"?{self.raw_query}" if self.raw_query is not None else "")


@dataclass
class GoResponse:
    """The ``http.ResponseWriter`` a handler fills in.

    Attributes:
        header: canonical name -> values (``w.Header()``).
        status: the code given to ``WriteHeader`` (``None``: 200 on the first write or at the end).
        body: what the handler wrote.
        flushed: the handler called ``Flush()`` before finishing (Go then cannot compute a length).
        interim: 1xx responses written before the final one, with the headers at that moment.
    """

    header: dict[str, list[str]] = field(default_factory=dict)
    status: int | None = None
    body: bytearray = field(default_factory=bytearray)
    flushed: bool = False
    interim: list[tuple[int, dict[str, list[str]]]] = field(default_factory=list)

    def set(self, name: str, value: str) -> None:
        """``w.Header().Set``."""
        self.header[canonical_header_key(name)] = [value]

    def add(self, name: str, value: str) -> None:
        """``w.Header().Add``."""
        self.header.setdefault(canonical_header_key(name), []).append(value)

    def get(self, name: str) -> str:
        """``w.Header().Get``."""
        values = self.header.get(canonical_header_key(name))
        return values[0] if values else ""

    def delete(self, name: str) -> None:
        """``w.Header().Del``."""
        self.header.pop(canonical_header_key(name), None)

    def write_header(self, code: int) -> None:
        """``w.WriteHeader(code)``: 1xx (but 101) is sent at once and the handler goes on (RFC 8297)."""
        if self.status is not None:
            return  # "superfluous response.WriteHeader call"
        if 100 <= code <= 199 and code != 101:
            snapshot = {k: list(v) for k, v in self.header.items()}
            self.interim.append((code, snapshot))
            return
        self.status = code

    def write(self, data: bytes) -> None:
        """``w.Write(data)`` (an implicit ``WriteHeader(200)`` first)."""
        if self.status is None:
            self.status = 200
        self.body += data


Handler = Callable[[GoRequest, GoResponse], None]


class GoPanic(Exception):
    """A handler panicked: Go's server logs it and closes the connection without a response."""


def _body_allowed(code: int) -> bool:
    """server.go bodyAllowedForStatus."""
    return not (100 <= code <= 199 or code in (204, 304))


def _sniff(body: bytes) -> str:
    """A small part of ``http.DetectContentType`` (the go-httpbin bodies it can see)."""
    head = body[:512].lstrip(b"\t\n\x0c\r ")
    if head[:14].lower() in (b"<!doctype html",) or head[:5].lower() in (b"<html",):
        return "text/html; charset=utf-8"
    try:
        body[:512].decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    if any(b < 0x20 and b not in b"\t\n\x0c\r\x1b" for b in body[:512]):
        return "application/octet-stream"
    return "text/plain; charset=utf-8"


def _header_lines(header: dict[str, list[str]], exclude: frozenset[str] = frozenset()) -> list[str]:
    """``Header.WriteSubset``: keys sorted, one line per value, CR/LF in values turned into spaces."""
    lines = []
    for key in sorted(header):
        if key in exclude:
            continue
        for value in header[key]:
            clean = value.replace("\r", " ").replace("\n", " ").strip(" \t")
            lines.append(f"{key}: {clean}")
    return lines


def status_line(proto11: bool, code: int) -> str:
    """server.go writeStatusLine."""
    text = STATUS_TEXT.get(code)
    version = "HTTP/1.1" if proto11 else "HTTP/1.0"
    return f"{version} {code} {text}" if text else f"{version} {code:03d} status code {code}"


def _connection(req: GoRequest, header: dict[str, list[str]], code: int, has_cl: bool) -> tuple[bool, str]:
    """server.go's keep-alive decision: (close after the reply, extra ``Connection`` value)."""
    proto11 = req.proto == "HTTP/1.1"
    tokens = {t.strip().lower() for t in req.get("Connection").split(",")}
    own = header.get("Connection", [""])[0].lower()
    close, extra = False, ""
    wants10 = not proto11 and "keep-alive" in tokens
    if wants10 and (req.method == "HEAD" or has_cl or not _body_allowed(code)):
        if "Connection" not in header:
            extra = "keep-alive"
    elif not proto11 or "close" in tokens:
        close = True
    if own == "close" or code == 101:
        close = True
    return close, extra


def _head_bytes(lines: list[str]) -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")


def wire_response(req: GoRequest, resp: GoResponse) -> tuple[bytes, bool]:
    """The bytes Go writes for a finished handler, and whether the connection closes after them.

    Args:
        req: the request (method, protocol, ``Connection``).
        resp: what the handler did.
    """
    proto11 = req.proto == "HTTP/1.1"
    head_req = req.method == "HEAD"
    out = bytearray()
    for code, snap in resp.interim:
        no_length = frozenset({"Content-Length", "Transfer-Encoding"})
        out += _head_bytes([status_line(proto11, code), *_header_lines(snap, no_length)])
    code = resp.status or 200
    header = {k: list(v) for k, v in resp.header.items()}
    body = b"" if head_req else bytes(resp.body)  # go-httpbin's autohead discards HEAD bodies
    explicit_cl = header.get("Content-Length", [""])[0]
    auto_cl = None
    if (
        not explicit_cl
        and not resp.flushed
        and _body_allowed(code)
        and "Transfer-Encoding" not in header
        and (not head_req or body)
        and len(body) <= _BUFFER_BEFORE_CHUNKING
    ):
        auto_cl = len(body)
    has_cl = bool(explicit_cl) or auto_cl is not None
    close, conn_value = _connection(req, header, code, has_cl)
    sniffed = _sniff(body) if _body_allowed(code) and "Content-Type" not in header and body else ""
    if not _body_allowed(code):
        for k in ("Content-Length", "Transfer-Encoding") + (("Content-Type",) if code == 304 else ()):
            header.pop(k, None)
    chunked = False
    if not (head_req or not _body_allowed(code) or has_cl):
        chunked, close = proto11, close or not proto11
    if close and "close" not in header.get("Connection", [""])[0].lower():
        header.pop("Connection", None)
        conn_value = "close" if proto11 else ""
    extra = [] if "Date" in header else ["Date: " + email.utils.formatdate(usegmt=True)]
    extra += [f"Content-Length: {auto_cl}"] if auto_cl is not None else []
    extra += [f"Content-Type: {sniffed}"] if sniffed else []
    extra += [f"Connection: {conn_value}"] if conn_value else []
    extra += ["Transfer-Encoding: chunked"] if chunked else []
    if chunked:
        header.pop("Content-Length", None)
    out += _head_bytes([status_line(proto11, code), *_header_lines(header), *extra])
    if _body_allowed(code) and not head_req:
        if explicit_cl.isdigit() and len(body) > int(explicit_cl):
            # Go refuses a Write beyond the declared length (ErrContentLength) and then closes.
            body, close = b"", True
        if chunked:
            out += (f"{len(body):x}\r\n".encode() + body + b"\r\n" if body else b"") + b"0\r\n\r\n"
        else:
            out += body
    return bytes(out), close


# --------------------------------------------------------------------------- connections

_BAD_ESCAPE = re.compile(r"%(?![0-9a-fA-F]{2})")
_BAD_REQUEST_HEADERS = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"


def _bad_request(exc: h11.RemoteProtocolError) -> bytes:
    """conn.serve's reply to a request it could not read (server.go), then the connection closes."""
    text = str(exc)
    if "too long" in text.lower():
        public = "431 Request Header Fields Too Large"
    elif "host" in text.lower():
        public = "400 Bad Request: missing required Host header"
    else:
        public = "400 Bad Request"
    return f"HTTP/1.1 {public}{_BAD_REQUEST_HEADERS}{public}".encode()


def _to_request(ev: h11.Request, body: bytes, remote: str) -> GoRequest:
    header: dict[str, list[str]] = {}
    host = ""
    te: list[str] = []
    for raw_name, raw_value in ev.headers:
        name = canonical_header_key(raw_name.decode("latin-1"))
        value = raw_value.decode("utf-8", "surrogateescape")
        if name == "Host":
            host = value
        elif name == "Transfer-Encoding":
            te = [v.strip().lower() for v in value.split(",") if v.strip()]
        else:
            header.setdefault(name, []).append(value)
    if te:
        header.pop("Content-Length", None)  # transfer.go fixLength: chunked wins, the length goes
    # transfer.go fixPragmaCacheControl
    if header.get("Pragma", [""])[0] == "no-cache" and "Cache-Control" not in header:
        header["Cache-Control"] = ["no-cache"]
    target = ev.target.decode("utf-8", "surrogateescape")
    url_host = ""
    rest = target
    if "://" in target.split("?", 1)[0]:
        after = target.split("://", 1)[1]
        url_host, slash, rest = after.partition("/")
        rest = slash + rest if slash else "/"
    path, qmark, query = rest.partition("?")
    return GoRequest(
        method=ev.method.decode("ascii"),
        target=target,
        path=path,
        raw_query=query if qmark else None,
        header=header,
        host=host or url_host,
        body=body,
        remote_addr=remote,
        proto="HTTP/" + ev.http_version.decode("ascii"),
        transfer_encoding=te,
        url_host=url_host,
    )


def _client_gone(sock: socket.socket, stop: threading.Event) -> Callable[[float], bool]:
    """A wait that ends early when the peer closes (Go cancels ``r.Context()``) or the server stops."""

    def wait(seconds: float) -> bool:
        import time

        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if stop.is_set():
                return True
            try:
                ready, _, _ = select.select([sock], [], [], min(left, 0.2))
            except (OSError, ValueError):
                return True
            if ready:
                try:
                    if sock.recv(1, socket.MSG_PEEK) == b"":
                        return True
                except OSError:
                    return True
                # Pipelined bytes of a next request: keep waiting without spinning on them.
                if stop.wait(min(left, 0.2)):
                    return True

    return wait


def _read_request(
    sock: socket.socket, pending: bytes
) -> tuple[h11.Request, bytes, bytes, bool] | bytes | None:
    """Read one request: (request, body, leftover bytes, peer closed), error bytes, or None (EOF)."""
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_HEADER_BYTES)
    if pending:
        conn.receive_data(pending)
    request: h11.Request | None = None
    body = bytearray()
    sent_continue = False
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            return _bad_request(exc)
        if event is h11.NEED_DATA:
            if conn.they_are_waiting_for_100_continue and not sent_continue:
                sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                sent_continue = True
            try:
                data = sock.recv(65536)
            except (TimeoutError, OSError):
                return None
            conn.receive_data(data)
            continue
        if isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage) and request is not None:
            leftover, closed = conn.trailing_data
            return request, bytes(body), leftover, closed
        else:  # ConnectionClosed before a whole request
            return None


def serve_go_connection(
    sock: socket.socket,
    addr: tuple[str, int],
    handler: Handler,
    stop: threading.Event,
    on_panic: Callable[[str], None],
) -> None:
    """Serve requests on one accepted connection until it closes (Go's ``conn.serve`` loop).

    Args:
        sock: the accepted socket.
        addr: the peer address (``r.RemoteAddr``).
        handler: the application (middleware included).
        stop: set when the server shuts down; waiting handlers end early.
        on_panic: told ``"http: panic serving <addr>: <value>"`` when a handler panics.
    """
    sock.settimeout(_READ_TIMEOUT)
    remote = f"{addr[0]}:{addr[1]}"
    pending = b""
    while not stop.is_set():
        got = _read_request(sock, pending)
        if got is None:
            return
        if isinstance(got, bytes):
            try:
                sock.sendall(got)
            except OSError:
                pass
            return
        event, body, pending, peer_closed = got
        req = _to_request(event, body, remote)
        if _BAD_ESCAPE.search(req.path):
            # url.ParseRequestURI fails: readRequest's error becomes a plain 400 (server.go).
            try:
                sock.sendall(f"HTTP/1.1 400 Bad Request{_BAD_REQUEST_HEADERS}400 Bad Request".encode())
            except OSError:
                pass
            return
        req.client_gone = _client_gone(sock, stop)
        resp = GoResponse()
        try:
            handler(req, resp)
        except Exception as panic:  # noqa: BLE001 -- Go recovers every handler panic the same way
            on_panic(f"http: panic serving {remote}: {panic}")
            return
        data, close = wire_response(req, resp)
        try:
            sock.sendall(data)
        except OSError:
            return
        if close or peer_closed:
            return
