"""Reading a TLS ClientHello without terminating TLS: Envoy's ``tls_inspector``.

Envoy's TLS inspector listener filter peeks at the first bytes of a connection; if they
are a TLS ClientHello it records the SNI (``server_names`` match), the ALPN list
(``application_protocols``) and the transport protocol ``tls``; anything else is
``raw_buffer``. The bytes are *not* consumed: they are replayed to whatever filter chain
is selected (TLS termination, or a TCP proxy forwarding the raw stream for PASSTHROUGH).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = ["ClientHello", "NEED_MORE", "parse_client_hello"]


@dataclass(frozen=True, slots=True)
class ClientHello:
    """What the TLS inspector learned from the first bytes of a connection.

    Attributes:
        is_tls: True when the bytes are a TLS handshake record carrying a ClientHello.
        sni: the server_name extension (lower-case), or None when the client sent none.
        alpn: the ALPN protocols the client offered, in its order.
    """

    is_tls: bool
    sni: str | None = None
    alpn: tuple[str, ...] = ()


class _NeedMore:
    """Sentinel: the ClientHello is not complete yet, read more bytes."""

    def __repr__(self) -> str:
        return "NEED_MORE"


NEED_MORE = _NeedMore()
_MAX_HELLO = 64 * 1024  # Envoy's tls_inspector gives up after 64 KiB ("max_client_hello_size").


def parse_client_hello(data: bytes) -> ClientHello | _NeedMore:
    """Parse the bytes read so far as a TLS ClientHello.

    Args:
        data: every byte received on the connection so far.

    Returns:
        :data:`NEED_MORE` when the bytes may become a ClientHello but are incomplete,
        otherwise a :class:`ClientHello` (``is_tls=False`` for anything that is not TLS).
    """
    if not data:
        return NEED_MORE
    if data[0] != 0x16:  # not a TLS handshake record: plaintext (raw_buffer)
        return ClientHello(is_tls=False)
    # Reassemble the handshake message from one or more handshake records.
    handshake = b""
    pos = 0
    while True:
        if len(data) < pos + 5:
            return NEED_MORE if len(data) < _MAX_HELLO else ClientHello(is_tls=False)
        rtype, _version, length = struct.unpack("!BHH", data[pos : pos + 5])
        if rtype != 0x16:
            return ClientHello(is_tls=False)
        if len(data) < pos + 5 + length:
            return NEED_MORE
        handshake += data[pos + 5 : pos + 5 + length]
        pos += 5 + length
        if len(handshake) >= 4:
            if handshake[0] != 0x01:
                return ClientHello(is_tls=False)
            hs_len = int.from_bytes(handshake[1:4], "big")
            if len(handshake) >= 4 + hs_len:
                return _parse_body(handshake[4 : 4 + hs_len])


def _parse_body(body: bytes) -> ClientHello:
    """Extract SNI and ALPN from a ClientHello body; malformed bodies count as TLS, no SNI."""
    try:
        p = 2 + 32  # legacy_version + random
        p += 1 + body[p]  # session id
        p += 2 + int.from_bytes(body[p : p + 2], "big")  # cipher suites
        p += 1 + body[p]  # compression methods
        if p + 2 > len(body):
            return ClientHello(is_tls=True)
        end = p + 2 + int.from_bytes(body[p : p + 2], "big")
        p += 2
        sni: str | None = None
        alpn: list[str] = []
        while p + 4 <= end:
            etype, elen = struct.unpack("!HH", body[p : p + 4])
            ext = body[p + 4 : p + 4 + elen]
            p += 4 + elen
            if etype == 0 and len(ext) >= 5:  # server_name
                q = 2
                while q + 3 <= len(ext):
                    ntype = ext[q]
                    nlen = int.from_bytes(ext[q + 1 : q + 3], "big")
                    if ntype == 0:
                        sni = ext[q + 3 : q + 3 + nlen].decode("ascii", "replace").lower()
                        break
                    q += 3 + nlen
            elif etype == 16 and len(ext) >= 2:  # application_layer_protocol_negotiation
                q = 2
                while q < len(ext):
                    plen = ext[q]
                    alpn.append(ext[q + 1 : q + 1 + plen].decode("ascii", "replace"))
                    q += 1 + plen
        return ClientHello(is_tls=True, sni=sni, alpn=tuple(alpn))
    except (IndexError, struct.error):
        return ClientHello(is_tls=True)
