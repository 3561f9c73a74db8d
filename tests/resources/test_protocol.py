"""``protocol.Parse`` and the ``Instance`` predicates (pkg/config/protocol/instance.go)."""

from __future__ import annotations

import pytest

from gatewaykit.resources import protocol


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("HTTP", "HTTP"),
        ("http", "HTTP"),
        ("grpc-web", "GRPC-Web"),
        ("GRPC-WEB", "GRPC-Web"),
        ("Http_Proxy", "HTTP_PROXY"),
        ("mongo", "Mongo"),
        ("MYSQL", "MySQL"),
        ("udp", "UDP"),
        ("", "UnsupportedProtocol"),
        ("HTTP3", "UnsupportedProtocol"),
        ("httpſ", "UnsupportedProtocol"),  # Go lower-cases; "ſ" is not an "s"
        (None, "UnsupportedProtocol"),
        (80, "UnsupportedProtocol"),
    ],
)
def test_parse(text: object, parsed: str) -> None:
    assert protocol.parse(text) == parsed


def test_predicates() -> None:
    names = ("HTTP", "HTTP2", "HTTP_PROXY", "GRPC", "GRPC-Web", "HTTPS", "TLS", "TCP")
    names += ("Mongo", "Redis", "MySQL", "UDP")
    assert [p for p in names if protocol.is_http(p)] == ["HTTP", "HTTP2", "HTTP_PROXY", "GRPC", "GRPC-Web"]
    assert [p for p in names if protocol.is_tls(p)] == ["HTTPS", "TLS"]
    assert [p for p in names if protocol.is_tcp(p)] == ["HTTPS", "TLS", "TCP", "Mongo", "Redis", "MySQL"]
