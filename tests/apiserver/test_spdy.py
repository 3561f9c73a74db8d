"""SPDY/3.1 framing (gatewaykit.apiserver._spdy): what kubectl's spdystream sends and reads.

The end-to-end proof is tests/apiserver/test_port_forward.py (the real kubectl); these pin the
frame layer's rules: the spec's dictionary, one zlib stream per direction, limits.
"""

from __future__ import annotations

import struct
import zlib

import pytest

from gatewaykit.apiserver._spdy import (
    DICTIONARY,
    DICTIONARY_ID,
    FLAG_FIN,
    FrameParser,
    FrameType,
    FrameWriter,
    GoAwayStatus,
    RstStatus,
    SpdyError,
)

# The headers client-go's handleConnection sets on a forwarded connection's streams.
ERROR_STREAM = {"streamtype": ("error",), "port": ("8080",), "requestid": ("0",)}
DATA_STREAM = {"streamtype": ("data",), "port": ("8080",), "requestid": ("0",)}


def test_dictionary_is_the_spdy3_one() -> None:
    assert len(DICTIONARY) == 1423
    assert zlib.adler32(DICTIONARY) == DICTIONARY_ID == 0xE3C6A7C2
    assert DICTIONARY.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert DICTIONARY.endswith(b"charset=utf-8charset=iso-8859-1,utf-,*,enq=0.")


def test_header_blocks_name_the_dictionary_and_share_one_zlib_stream() -> None:
    writer = FrameWriter()
    first = writer.syn_stream(1, ERROR_STREAM)
    second = writer.syn_stream(3, DATA_STREAM)
    # The first block opens a zlib stream with FDICT and the dictionary's Adler-32 (RFC 1950).
    block = first[18:]
    assert block[1] & 0x20
    assert struct.unpack(">I", block[2:6])[0] == DICTIONARY_ID
    # The second continues that stream: decoded alone it would fail, in order it decodes.
    parser = FrameParser()
    frames = parser.feed(first + second)
    assert [(f.type, f.stream_id, dict(f.headers)) for f in frames] == [
        (FrameType.SYN_STREAM, 1, ERROR_STREAM),
        (FrameType.SYN_STREAM, 3, DATA_STREAM),
    ]
    with pytest.raises(SpdyError):
        FrameParser().feed(second)


def test_frames_split_anywhere_decode_the_same() -> None:
    writer = FrameWriter()
    wire = (
        writer.syn_stream(1, ERROR_STREAM, fin=True)
        + writer.data(1, b"")
        + writer.data(3, b"GET / HTTP/1.1\r\n", fin=True)
        + writer.rst_stream(5, RstStatus.CANCEL)
        + writer.ping(1)
        + writer.goaway(3, GoAwayStatus.OK)
    )
    whole = FrameParser().feed(wire)
    parser = FrameParser()
    pieces = [f for i in range(len(wire)) for f in parser.feed(wire[i : i + 1])]
    assert pieces == whole
    syn, empty, data, rst, ping, goaway = whole
    assert syn.fin and syn.header("STREAMTYPE") == "error"
    assert (empty.type, empty.stream_id, empty.data, empty.fin) == (None, 1, b"", False)
    assert (data.stream_id, data.data, data.flags) == (3, b"GET / HTTP/1.1\r\n", FLAG_FIN)
    assert (rst.type, rst.stream_id, rst.value) == (FrameType.RST_STREAM, 5, RstStatus.CANCEL)
    assert (ping.type, ping.value) == (FrameType.PING, 1)
    assert (goaway.type, goaway.last_good, goaway.value) == (FrameType.GOAWAY, 3, GoAwayStatus.OK)


def test_syn_reply_with_no_headers_is_what_apimachinery_sends() -> None:
    # newSpdyStream: stream.SendReply(http.Header{}, false) -- an empty header block.
    wire = FrameWriter().syn_reply(1)
    version, kind, flags_length = struct.unpack(">HHI", wire[:8])
    assert (version, kind, flags_length >> 24) == (0x8003, FrameType.SYN_REPLY, 0)
    frame = FrameParser().feed(wire)[0]
    assert (frame.type, frame.stream_id, dict(frame.headers)) == (FrameType.SYN_REPLY, 1, {})


def test_repeated_values_travel_nul_separated() -> None:
    wire = FrameWriter().syn_stream(1, {"Accept": ("a", "b")})
    assert dict(FrameParser().feed(wire)[0].headers) == {"accept": ("a", "b")}


def test_unknown_control_frames_and_settings_are_skipped_not_fatal() -> None:
    unknown = struct.pack(">HHI", 0x8003, 0x0A, 4) + b"\x00\x00\x00\x01"
    settings = struct.pack(">HHI", 0x8003, FrameType.SETTINGS, 12) + struct.pack(">III", 1, 7, 65536)
    frames = FrameParser().feed(unknown + settings + FrameWriter.data(1, b"x"))
    assert [f.type for f in frames] == [FrameType.SETTINGS, None]


def test_a_frame_over_the_limit_is_refused_before_it_is_buffered() -> None:
    parser = FrameParser(max_frame=1024)
    with pytest.raises(SpdyError, match="exceeds the 1024-byte limit"):
        parser.feed(struct.pack(">II", 1, 1025))


def test_a_header_block_that_inflates_past_the_limit_is_refused() -> None:
    big = FrameWriter().syn_stream(1, {"x": ("a" * 100_000,)})
    with pytest.raises(SpdyError, match="exceeds 65536 bytes"):
        FrameParser().feed(big)


def test_a_corrupt_or_truncated_frame_is_a_protocol_error() -> None:
    corrupt = struct.pack(">HHI", 0x8003, FrameType.SYN_STREAM, 14) + b"\x00" * 10 + b"junk"
    with pytest.raises(SpdyError, match="does not decompress"):
        FrameParser().feed(corrupt)
    short = struct.pack(">HHI", 0x8003, FrameType.RST_STREAM, 4) + b"\x00\x00\x00\x01"
    with pytest.raises(SpdyError, match="truncated RST_STREAM"):
        FrameParser().feed(short)
