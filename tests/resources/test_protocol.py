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


@pytest.mark.parametrize(
    ("port", "name", "proto", "app_protocol", "converted"),
    [
        # The cases of Istio 1.27.1's pkg/config/kube/conversion_test.go TestConvertProtocol.
        (0, "", "", None, "UnsupportedProtocol"),
        (0, "", "UDP", None, "UDP"),
        (0, "http-something", "TCP", None, "HTTP"),
        (0, "http-something", "TCP", "https", "HTTPS"),
        (0, "something-httpx", "TCP", "https", "HTTPS"),
        (0, "grpc-web-x", "TCP", None, "GRPC-Web"),
        (0, "grpcweb-x", "TCP", None, "UnsupportedProtocol"),
        (3306, "random-name", "TCP", None, "TCP"),
        (3306, "random-name", "TCP", "kubernetes.io/h2c", "HTTP2"),
        # appProtocol, when set, is the only name looked at (no fall-back to the port name).
        (80, "http", "TCP", "websocket", "UnsupportedProtocol"),
        (80, "web", "TCP", "kubernetes.io/ws", "HTTP"),
        (443, "web", "TCP", "kubernetes.io/wss", "HTTPS"),
    ],
)
def test_convert_protocol(port: int, name: str, proto: str, app_protocol: str | None, converted: str) -> None:
    assert protocol.convert_protocol(port, name, proto, app_protocol) == converted
