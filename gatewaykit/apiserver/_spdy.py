"""SPDY/3.1 framing, as ``github.com/moby/spdystream`` (v0.5, in kubectl and the kubelet) speaks it.

``kubectl port-forward`` multiplexes its forwarded connections as SPDY streams: over a WebSocket
(``SPDY/3.1+portforward.k8s.io``) or after a plain ``Upgrade: SPDY/3.1`` (see ``_portforward``).
This module is the frame layer only, without I/O: :class:`FrameParser` turns received bytes into
:class:`Frame` objects and :class:`FrameWriter` encodes the frames a server sends.

Wire format (SPDY draft 3, https://www.chromium.org/spdy/spdy-protocol/spdy-protocol-draft3/, section 2.2;
spdystream ``spdy/read.go``/``spdy/write.go``):

* control frame: ``1 | version(15) = 3 | type(16) | flags(8) | length(24) | body``;
* data frame: ``0 | stream id(31) | flags(8) | length(24) | payload``;
* SYN_STREAM, SYN_REPLY and HEADERS carry a header block -- ``count(32)`` then, per header,
  ``len(32) name len(32) value`` with repeated values joined by NUL -- compressed by one zlib
  stream per direction for the whole connection (each block ends with a sync flush), primed with
  the spec's dictionary (:data:`DICTIONARY`, section 2.6.10.1).

spdystream implements no flow control: it never sends WINDOW_UPDATE and ignores those it gets
(``connection.go``: they fall to the frame handler's "unhandled frame type" case), so a sender
that waited for SPDY/3.1 windows to reopen would stall after 64 KiB. Back-pressure is the
transport's (TCP and the WebSocket), as between kubectl and the kubelet.
"""

from __future__ import annotations

import enum
import struct
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = [
    "DICTIONARY",
    "FLAG_FIN",
    "Frame",
    "FrameParser",
    "FrameType",
    "FrameWriter",
    "GoAwayStatus",
    "RstStatus",
    "SpdyError",
]

VERSION = 3
FLAG_FIN = 0x01
FLAG_UNIDIRECTIONAL = 0x02
_CONTROL = 0x80000000
_ID_MASK = 0x7FFFFFFF
_LENGTH_MASK = 0xFFFFFF


class FrameType(enum.IntEnum):
    """Control frame types (SPDY/3, section 2.6)."""

    SYN_STREAM = 1
    SYN_REPLY = 2
    RST_STREAM = 3
    SETTINGS = 4
    PING = 6
    GOAWAY = 7
    HEADERS = 8
    WINDOW_UPDATE = 9


class RstStatus(enum.IntEnum):
    """RST_STREAM status codes (SPDY/3, section 2.4.2)."""

    PROTOCOL_ERROR = 1
    INVALID_STREAM = 2
    REFUSED_STREAM = 3
    UNSUPPORTED_VERSION = 4
    CANCEL = 5
    INTERNAL_ERROR = 6
    FLOW_CONTROL_ERROR = 7
    STREAM_IN_USE = 8
    STREAM_ALREADY_CLOSED = 9
    INVALID_CREDENTIALS = 10
    FRAME_TOO_LARGE = 11


class GoAwayStatus(enum.IntEnum):
    """GOAWAY status codes (SPDY/3, section 2.6.6)."""

    OK = 0
    PROTOCOL_ERROR = 1
    INTERNAL_ERROR = 2


class SpdyError(Exception):
    """The peer broke the framing: the connection cannot go on (answered with GOAWAY)."""


# --------------------------------------------------------------------------- the dictionary

# SPDY/3, section 2.6.10.1 "Compression": the zlib dictionary both ends prime their header compressors
# with. Its first part is header names and values, each preceded by its length as 4 bytes;
# then, without lengths, status codes, reason phrases, dates and common values.
_DICTIONARY_WORDS = (
    "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset",
    "accept-encoding", "accept-language", "accept-ranges", "age", "allow", "authorization",
    "cache-control", "connection", "content-base", "content-encoding", "content-language",
    "content-length", "content-location", "content-md5", "content-range", "content-type", "date",
    "etag", "expect", "expires", "from", "host", "if-match", "if-modified-since", "if-none-match",
    "if-range", "if-unmodified-since", "last-modified", "location", "max-forwards", "pragma",
    "proxy-authenticate", "proxy-authorization", "range", "referer", "retry-after", "server", "te",
    "trailer", "transfer-encoding", "upgrade", "user-agent", "vary", "via", "warning",
    "www-authenticate", "method", "get", "status", "200 OK", "version", "HTTP/1.1", "url", "public",
    "set-cookie", "keep-alive", "origin",
)  # fmt: skip
_DICTIONARY_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505",
    "203 Non-Authoritative Information", "204 No Content", "301 Moved Permanently",
    "400 Bad Request", "401 Unauthorized", "403 Forbidden", "404 Not Found",
    "500 Internal Server Error", "501 Not Implemented", "503 Service Unavailable",
    "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 ",
    "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT",
    "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,",
    "text/plain,text/javascript,publicprivatemax-age=gzip,deflate,sdch",
    "charset=utf-8charset=iso-8859-1,utf-,*,enq=0.",
)  # fmt: skip

#: The SPDY/3 header-compression dictionary (1423 bytes).
DICTIONARY = (
    b"".join(struct.pack(">I", len(w)) + w.encode() for w in _DICTIONARY_WORDS)
    + "".join(_DICTIONARY_TAIL).encode()
)
#: Its Adler-32: the DICTID every SPDY/3 header stream's zlib header names (RFC 1950 §2.2).
DICTIONARY_ID = 0xE3C6A7C2

# ------------------------------------------------------------------------------- frames

Headers = Mapping[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Frame:
    """One SPDY frame, decoded.

    Attributes:
        type: the control frame type; None for a DATA frame.
        stream_id: the stream (0 for SETTINGS, PING, GOAWAY; GOAWAY's last good stream is ``value``).
        flags: FLAG_FIN, FLAG_UNIDIRECTIONAL...
        data: a DATA frame's payload.
        headers: the header block of SYN_STREAM, SYN_REPLY and HEADERS (lower-case names).
        value: RST_STREAM/GOAWAY status, PING id, WINDOW_UPDATE delta; GOAWAY: the status.
        last_good: GOAWAY's last good stream id.
    """

    type: FrameType | None
    stream_id: int = 0
    flags: int = 0
    data: bytes = b""
    headers: Headers = field(default_factory=dict)
    value: int = 0
    last_good: int = 0

    @property
    def fin(self) -> bool:
        """The sender is done with the stream (FLAG_FIN)."""
        return bool(self.flags & FLAG_FIN)

    def header(self, name: str) -> str:
        """The first value of header ``name`` (Go's ``http.Header.Get``), or ``""``."""
        values = self.headers.get(name.lower(), ())
        return values[0] if values else ""


def _u32(body: bytes, at: int) -> int:
    value: int = struct.unpack_from(">I", body, at)[0]
    return value


class FrameParser:
    """Bytes in, frames out, for one direction of one connection.

    Args:
        max_frame: the largest frame body accepted (larger: :class:`SpdyError`).
        max_header_block: the largest header block once decompressed.
    """

    def __init__(self, max_frame: int = 1 << 20, max_header_block: int = 64 * 1024) -> None:
        self._buffer = bytearray()
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self.max_frame = max_frame
        self.max_header_block = max_header_block

    def feed(self, data: bytes) -> list[Frame]:
        """Add received bytes; return the frames they complete, in order.

        Raises:
            SpdyError: a frame is too large, truncated inside, or its header block is corrupt.
        """
        self._buffer += data
        frames = []
        while len(self._buffer) >= 8:
            first, second = struct.unpack_from(">II", self._buffer)
            length = second & _LENGTH_MASK
            if length > self.max_frame:
                raise SpdyError(f"frame of {length} bytes exceeds the {self.max_frame}-byte limit")
            if len(self._buffer) < 8 + length:
                break
            body = bytes(self._buffer[8 : 8 + length])
            del self._buffer[: 8 + length]
            flags = second >> 24
            if first & _CONTROL:
                frame = self._control(first & 0xFFFF, flags, body)
                if frame is not None:
                    frames.append(frame)
            else:
                frames.append(Frame(None, first & _ID_MASK, flags, data=body))
        return frames

    def _control(self, kind: int, flags: int, body: bytes) -> Frame | None:
        try:
            frame_type = FrameType(kind)
        except ValueError:
            return None  # SPDY/3, section 2.2.1: unknown control frames are ignored
        decode = _DECODERS[frame_type]
        try:
            return decode(self, frame_type, flags, body)
        except (struct.error, IndexError) as exc:
            raise SpdyError(f"truncated {frame_type.name} frame") from exc

    def header_block(self, compressed: bytes) -> dict[str, tuple[str, ...]]:
        """Decompress and decode one header block (the zlib stream continues across frames)."""
        try:
            raw = self._inflate.decompress(compressed, self.max_header_block)
        except zlib.error as exc:
            raise SpdyError(f"header block does not decompress: {exc}") from exc
        if self._inflate.unconsumed_tail:
            raise SpdyError(f"header block exceeds {self.max_header_block} bytes")
        return _decode_headers(raw)


def _decode_headers(raw: bytes) -> dict[str, tuple[str, ...]]:
    try:
        count, at = _u32(raw, 0), 4
        out: dict[str, tuple[str, ...]] = {}
        for _ in range(count):
            size = _u32(raw, at)
            name, at = raw[at + 4 : at + 4 + size].decode("latin-1").lower(), at + 4 + size
            size = _u32(raw, at)
            value, at = raw[at + 4 : at + 4 + size].decode("latin-1"), at + 4 + size
            if at > len(raw):
                raise SpdyError("header block is truncated")
            out[name] = out.get(name, ()) + tuple(value.split("\x00"))
        return out
    except struct.error as exc:
        raise SpdyError("header block is truncated") from exc


def _syn_stream(p: FrameParser, t: FrameType, flags: int, body: bytes) -> Frame:
    return Frame(t, _u32(body, 0) & _ID_MASK, flags, headers=p.header_block(body[10:]))


def _with_headers(p: FrameParser, t: FrameType, flags: int, body: bytes) -> Frame:
    return Frame(t, _u32(body, 0) & _ID_MASK, flags, headers=p.header_block(body[4:]))


def _stream_value(p: FrameParser, t: FrameType, flags: int, body: bytes) -> Frame:
    return Frame(t, _u32(body, 0) & _ID_MASK, flags, value=_u32(body, 4))


def _ping(p: FrameParser, t: FrameType, flags: int, body: bytes) -> Frame:
    return Frame(t, 0, flags, value=_u32(body, 0))


def _goaway(p: FrameParser, t: FrameType, flags: int, body: bytes) -> Frame:
    return Frame(t, 0, flags, value=_u32(body, 4), last_good=_u32(body, 0) & _ID_MASK)


def _settings(p: FrameParser, t: FrameType, flags: int, body: bytes) -> Frame:
    return Frame(t, 0, flags, data=body)  # kept raw: nothing here acts on settings


# How each control frame's body decodes (every header block must be inflated, in order, to keep
# the connection's zlib stream in step -- even for frames the server then ignores).
_DECODERS = {
    FrameType.SYN_STREAM: _syn_stream,
    FrameType.SYN_REPLY: _with_headers,
    FrameType.HEADERS: _with_headers,
    FrameType.RST_STREAM: _stream_value,
    FrameType.WINDOW_UPDATE: _stream_value,
    FrameType.PING: _ping,
    FrameType.GOAWAY: _goaway,
    FrameType.SETTINGS: _settings,
}


class FrameWriter:
    """Encodes frames for one direction of one connection (it owns that direction's zlib stream).

    Frames that carry headers must go out in the order they were encoded.
    """

    def __init__(self) -> None:
        self._deflate = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zlib.DEFLATED, 15, zdict=DICTIONARY)

    def _block(self, headers: Iterable[tuple[str, Iterable[str]]]) -> bytes:
        items = [(name.lower().encode(), "\x00".join(values).encode()) for name, values in headers]
        raw = struct.pack(">I", len(items)) + b"".join(
            struct.pack(">I", len(n)) + n + struct.pack(">I", len(v)) + v for n, v in items
        )
        return self._deflate.compress(raw) + self._deflate.flush(zlib.Z_SYNC_FLUSH)

    @staticmethod
    def _control(kind: FrameType, flags: int, body: bytes) -> bytes:
        return struct.pack(">HHI", 0x8000 | VERSION, kind, flags << 24 | len(body)) + body

    def syn_stream(self, stream_id: int, headers: Headers, *, fin: bool = False) -> bytes:
        """A SYN_STREAM opening ``stream_id`` (priority 0, no associated stream)."""
        block = self._block(headers.items())
        body = struct.pack(">IIBB", stream_id, 0, 0, 0) + block
        return self._control(FrameType.SYN_STREAM, FLAG_FIN if fin else 0, body)

    def syn_reply(self, stream_id: int, headers: Headers | None = None, *, fin: bool = False) -> bytes:
        """A SYN_REPLY accepting ``stream_id``."""
        body = struct.pack(">I", stream_id) + self._block((headers or {}).items())
        return self._control(FrameType.SYN_REPLY, FLAG_FIN if fin else 0, body)

    @staticmethod
    def data(stream_id: int, payload: bytes, *, fin: bool = False) -> bytes:
        """A DATA frame (``fin`` with an empty payload is spdystream's ``Stream.Close``)."""
        if len(payload) > _LENGTH_MASK:
            raise ValueError("a SPDY data frame carries at most 16 MiB - 1")
        flags = FLAG_FIN if fin else 0
        return struct.pack(">II", stream_id & _ID_MASK, flags << 24 | len(payload)) + payload

    def rst_stream(self, stream_id: int, status: RstStatus) -> bytes:
        """A RST_STREAM (spdystream's ``Stream.Reset`` sends CANCEL)."""
        return self._control(FrameType.RST_STREAM, 0, struct.pack(">II", stream_id, status))

    def ping(self, ping_id: int) -> bytes:
        """A PING (a reply echoes the peer's id)."""
        return self._control(FrameType.PING, 0, struct.pack(">I", ping_id))

    def goaway(self, last_good: int, status: GoAwayStatus = GoAwayStatus.OK) -> bytes:
        """A GOAWAY naming the last stream this side accepted."""
        return self._control(FrameType.GOAWAY, 0, struct.pack(">II", last_good, status))
