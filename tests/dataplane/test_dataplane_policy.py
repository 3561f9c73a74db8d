"""The data plane's pure policies, table-tested: request/response headers (§1.1–§1.3) and retries.

Each row is one rule of Envoy's connection manager / router or of Istio's configuration, so a
failing row names the rule that broke.
"""

from __future__ import annotations

import random
import re
import ssl

import pytest

from gatewaykit import envoy
from gatewaykit.dataplane import MeshCA, _headers, _retry
from gatewaykit.dataplane._headers import Hop

CLIENT_HEADERS = [
    ("user-agent", "curl/8.5.0"),
    ("accept", "*/*"),
    ("connection", "keep-alive"),
    ("te", "trailers"),
    ("content-length", "3"),
    ("x-forwarded-for", "203.0.113.9"),
    ("x-forwarded-proto", "https"),
    ("x-request-id", "client-id"),
    ("x-forwarded-client-cert", "By=spoofed"),
    ("x-envoy-attempt-count", "7"),
    ("x-envoy-external-address", "198.51.100.1"),
    ("x-envoy-decorator-operation", "peer:80/*"),
    ("x-envoy-original-path", "/spoofed"),
    ("x-envoy-expected-rq-timeout-ms", "1"),
    ("x-custom", "kept"),
    ("x-envoy-peer-metadata-id", "sidecar~10.244.0.9~curl-1.default~default.svc.cluster.local"),
    ("x-envoy-peer-metadata", "Cg=="),
]
MX = ("router~10.244.0.5~istio-ingressgateway-1.istio-system~istio-system.svc.cluster.local", "Cg==")


def _hop(**kw: object) -> Hop:
    base: dict[str, object] = dict(
        authority="httpbin.example.com",
        edge=False,
        inbound=False,
        tls=False,
        client_ip="10.244.0.1",
        request_id="rid",
    )
    base.update(kw)
    return Hop(**base)  # type: ignore[arg-type]


# (rule, hop, expected upstream headers)
HEADER_CASES = [
    (
        # Istio gateway (use_remote_address, §1.3): hop-by-hop dropped, internal x-envoy-* cleaned,
        # XFF appended, XFP from the connection, external address set, own decorator.
        "gateway edge",
        _hop(
            edge=True,
            forwarded_for="203.0.113.9,10.244.0.1",
            decorator="httpbin.default.svc.cluster.local:8000/*",
            peer_metadata=MX,
            framing=("content-length", "3"),
        ),
        [
            ("host", "httpbin.example.com"),
            ("user-agent", "curl/8.5.0"),
            ("accept", "*/*"),
            ("x-custom", "kept"),
            ("content-length", "3"),
            ("x-forwarded-for", "203.0.113.9,10.244.0.1"),
            ("x-forwarded-proto", "http"),
            ("x-request-id", "rid"),
            ("x-envoy-external-address", "10.244.0.1"),
            ("x-envoy-decorator-operation", "httpbin.default.svc.cluster.local:8000/*"),
            # Istio's metadata exchange: this hop's own node id and metadata replace the peer's
            ("x-envoy-peer-metadata-id", MX[0]),
            ("x-envoy-peer-metadata", MX[1]),
        ],
    ),
    (
        # A sidecar's outbound hop (not the edge): XFF forwarded as received, XFP kept when present.
        "sidecar outbound",
        _hop(forwarded_for="203.0.113.9", decorator="httpbin.org:80/*"),
        [
            ("host", "httpbin.example.com"),
            ("user-agent", "curl/8.5.0"),
            ("accept", "*/*"),
            ("x-custom", "kept"),
            ("x-forwarded-for", "203.0.113.9"),
            ("x-forwarded-proto", "https"),
            ("x-request-id", "rid"),
            ("x-envoy-decorator-operation", "httpbin.org:80/*"),
        ],
    ),
    (
        # An inbound sidecar is not the edge: the peer's internal headers reach the app, except the
        # decorator it traces with and removes (conn_manager_impl.cc traceRequest); no own decorator.
        "sidecar inbound",
        _hop(
            inbound=True,
            forwarded_for="203.0.113.9",
            decorator="ignored",
            peer_metadata=MX,
            xfcc="By=spiffe://x;Hash=00",
        ),
        [
            ("host", "httpbin.example.com"),
            ("user-agent", "curl/8.5.0"),
            ("accept", "*/*"),
            ("x-envoy-attempt-count", "7"),
            ("x-envoy-external-address", "198.51.100.1"),
            ("x-envoy-original-path", "/spoofed"),
            ("x-envoy-expected-rq-timeout-ms", "1"),
            ("x-custom", "kept"),
            ("x-forwarded-for", "203.0.113.9"),
            ("x-forwarded-proto", "https"),
            ("x-request-id", "rid"),
            ("x-forwarded-client-cert", "By=spiffe://x;Hash=00"),
        ],
    ),
    (
        # Router: rewritten path → x-envoy-original-path; route timeout → expected-rq-timeout-ms;
        # route header edits; an unknown-length body is chunked.
        "router rewrite, timeout, route edits",
        _hop(
            tls=True,
            original_path="/api/headers",
            timeout_ms=3000,
            framing=("transfer-encoding", "chunked"),
            remove=frozenset({"x-custom"}),
            add=(("X-Added", "1"),),
        ),
        [
            ("host", "httpbin.example.com"),
            ("user-agent", "curl/8.5.0"),
            ("accept", "*/*"),
            ("transfer-encoding", "chunked"),
            ("x-forwarded-proto", "https"),
            ("x-request-id", "rid"),
            ("x-envoy-original-path", "/api/headers"),
            ("x-envoy-expected-rq-timeout-ms", "3000"),
            ("x-added", "1"),
        ],
    ),
]


@pytest.mark.parametrize("rule,hop,expected", HEADER_CASES, ids=[c[0] for c in HEADER_CASES])
def test_upstream_request_headers(rule: str, hop: Hop, expected: list[tuple[str, str]]) -> None:
    assert _headers.upstream_request_headers(CLIENT_HEADERS, hop) == expected


def test_every_hop_by_hop_header_is_dropped_everywhere() -> None:
    for name in _headers.HOP_BY_HOP:
        for hop in (_hop(edge=True), _hop(), _hop(inbound=True)):
            names = [k for k, _ in _headers.upstream_request_headers([(name, "x")], hop)]
            assert name not in names, (name, hop)


@pytest.mark.parametrize(
    "existing,edge,expected",
    [
        (None, True, "10.244.0.1"),  # the edge starts the list with the peer
        ("203.0.113.9", True, "203.0.113.9,10.244.0.1"),  # Utility::appendXff, bare comma
        ("203.0.113.9", False, "203.0.113.9"),  # other hops forward it
        (None, False, None),
    ],
)
def test_forwarded_for(existing: str | None, edge: bool, expected: str | None) -> None:
    assert _headers.forwarded_for(existing, "10.244.0.1", edge) == expected


def test_attempt_count_is_replaced_per_try() -> None:
    hdrs = [("host", "h"), ("x-envoy-attempt-count", "1"), ("accept", "*/*")]
    assert _headers.with_attempt_count(hdrs, 2) == [
        ("host", "h"),
        ("accept", "*/*"),
        ("x-envoy-attempt-count", "2"),
    ]


def test_response_headers() -> None:
    raw = [
        (b"Server", b"gunicorn"),
        (b"Date", b"Mon, 01 Jan 2024 00:00:00 GMT"),
        (b"Content-Type", b"application/json"),
        (b"Connection", b"keep-alive"),
        (b"Transfer-Encoding", b"chunked"),
        (b"X-Envoy-Upstream-Service-Time", b"99"),  # a peer proxy's value is replaced
        (b"X-Secret", b"s"),
    ]
    out = _headers.response_headers(raw, "istio-envoy", 5, remove=("x-secret",), add=(("X-Added", "a"),))
    assert out == [
        ("server", "istio-envoy"),  # ServerHeaderTransformation OVERWRITE, in place (§1.1)
        ("date", "Mon, 01 Jan 2024 00:00:00 GMT"),
        ("content-type", "application/json"),
        ("x-added", "a"),
        ("x-envoy-upstream-service-time", "5"),  # last (§1.2)
    ]
    # No server or date from the upstream: Envoy adds both in front.
    bare = _headers.response_headers([(b"content-length", b"0")], "envoy", 1)
    assert [k for k, _ in bare] == ["server", "date", "content-length", "x-envoy-upstream-service-time"]


def test_local_reply_headers() -> None:
    with_body = _headers.local_reply_headers(503, "no healthy upstream", "envoy")
    assert [k for k, _ in with_body] == ["content-length", "content-type", "date", "server"]
    assert with_body[0] == ("content-length", "19") and with_body[1] == ("content-type", "text/plain")
    empty = _headers.local_reply_headers(404, "", "istio-envoy")
    assert [k for k, _ in empty] == ["date", "server", "content-length"] and empty[-1] == (
        "content-length",
        "0",
    )
    assert re.fullmatch(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT", dict(empty)["date"])


@pytest.mark.parametrize(
    "mode,existing,peer,expected",
    [
        ("SANITIZE", "By=spoofed", None, None),  # Envoy's default: removed
        ("", "By=spoofed", None, None),
        ("ALWAYS_FORWARD_ONLY", "By=x", None, "By=x"),
        ("FORWARD_ONLY", "By=x", None, None),  # only forwarded over mTLS
        ("SANITIZE_SET", "By=x", None, None),  # no mTLS peer: removed
    ],
)
def test_xfcc_without_peer(mode: str, existing: str | None, peer: bytes | None, expected: str | None) -> None:
    assert _headers.xfcc_value(mode, existing, peer, (), include_cert=False) == expected


def test_xfcc_with_mtls_peer() -> None:
    ca = MeshCA.generate()
    pem, _key = ca.workload_certificate("spiffe://cluster.local/ns/default/sa/curl")
    der = ssl.PEM_cert_to_DER_cert(pem.decode())
    own = ("spiffe://cluster.local/ns/default/sa/httpbin",)
    value = _headers.xfcc_value("APPEND_FORWARD", None, der, own, include_cert=False)
    assert value is not None
    assert re.fullmatch(
        r'By=spiffe://cluster\.local/ns/default/sa/httpbin;Hash=[0-9a-f]{64};Subject="";'
        r"URI=spiffe://cluster\.local/ns/default/sa/curl",
        value,
    ), value
    appended = _headers.xfcc_value("APPEND_FORWARD", "By=a;Hash=b", der, own, include_cert=False)
    assert appended == f"By=a;Hash=b,{value}"
    gateway = _headers.xfcc_value("SANITIZE_SET", "By=spoofed", der, own, include_cert=True)
    assert gateway is not None and ';Cert="-----BEGIN%20CERTIFICATE-----%0A' in gateway


# ------------------------------------------------------------------------------ retries

ISTIO_DEFAULT = envoy.RetryPolicy()  # retry.go DefaultPolicy
VS_5XX = envoy.RetryPolicy(retry_on="5xx", num_retries=3)
VS_GATEWAY_ERROR = envoy.RetryPolicy(retry_on="gateway-error", num_retries=1)
VS_CODES = envoy.RetryPolicy(retry_on="retriable-status-codes", num_retries=2, retriable_status_codes=(418,))

VS_RESET = envoy.RetryPolicy(retry_on="reset", num_retries=1)
VS_409 = envoy.RetryPolicy(retry_on="retriable-4xx", num_retries=1)
C, R, S, RS = (
    _retry.Failure.CONNECT_FAILURE,
    _retry.Failure.RESET,
    _retry.Failure.STATUS,
    _retry.Failure.REFUSED_STREAM,
)

RETRY_CASES = [
    # (rule, policy, failure, status, retries allowed)
    ("Istio default retries connect failures twice", ISTIO_DEFAULT, C, 0, 2),
    ("Istio default retries a refused HTTP/2 stream", ISTIO_DEFAULT, RS, 0, 2),
    ("Istio default does not retry a reset after the request", ISTIO_DEFAULT, R, 0, 0),
    ("Istio default lists no retriable status code", ISTIO_DEFAULT, S, 503, 0),
    ("attempts: 0 disables retries", None, C, 0, 0),
    ("5xx retries any 5xx", VS_5XX, S, 500, 3),
    ("5xx does not retry 4xx", VS_5XX, S, 404, 0),
    ("5xx includes connect-failure", VS_5XX, C, 0, 3),
    ("5xx retries a reset before the response", VS_5XX, R, 0, 3),
    ("gateway-error retries 503", VS_GATEWAY_ERROR, S, 503, 1),
    ("gateway-error does not retry 500", VS_GATEWAY_ERROR, S, 500, 0),
    ("gateway-error retries resets too", VS_GATEWAY_ERROR, R, 0, 1),
    ("reset retries connect failures and resets", VS_RESET, C, 0, 1),
    ("reset does not retry status codes", VS_RESET, S, 503, 0),
    ("retriable-4xx retries 409 only", VS_409, S, 409, 1),
    ("retriable-4xx ignores 404", VS_409, S, 404, 0),
    ("retriable-status-codes retries listed codes", VS_CODES, S, 418, 2),
    ("retriable-status-codes ignores others", VS_CODES, S, 503, 0),
]


@pytest.mark.parametrize("rule,policy,failure,status,expected", RETRY_CASES, ids=[c[0] for c in RETRY_CASES])
def test_retry_policy(
    rule: str, policy: envoy.RetryPolicy | None, failure: _retry.Failure, status: int, expected: int
) -> None:
    assert _retry.max_retries(policy, failure, status) == expected


@pytest.mark.parametrize("retry,bound", [(1, 0.025), (2, 0.075), (3, 0.175), (4, 0.25), (9, 0.25)])
def test_backoff_is_fully_jittered_exponential(retry: int, bound: float) -> None:
    # [0, (2^retry - 1) * 25 ms), capped at 250 ms (JitteredExponentialBackOffStrategy)
    rng = random.Random(retry)
    waits = [_retry.backoff(retry, rng) for _ in range(400)]
    assert 0 <= min(waits) and max(waits) <= bound and max(waits) > bound * 0.8


def test_retry_prefers_an_endpoint_not_tried() -> None:
    rng = random.Random(3)
    healthy = ["10.244.0.7:8080", "10.244.0.8:8080", "10.244.0.9:8080"]
    tried = ["10.244.0.7:8080", "10.244.0.9:8080"]
    assert {_retry.next_endpoint(healthy, tried, rng) for _ in range(20)} == {"10.244.0.8:8080"}
    assert _retry.next_endpoint(healthy, healthy, rng) in healthy  # all tried: any healthy one
    assert _retry.next_endpoint([], tried, rng) is None


# ------------------------------------------------------------------- metadata exchange


def _decode_struct(data: bytes) -> dict[str, object]:
    """A minimal protobuf reader for google.protobuf.Struct (string and struct values)."""

    def varint(buf: bytes, i: int) -> tuple[int, int]:
        n = shift = 0
        while True:
            b = buf[i]
            n |= (b & 0x7F) << shift
            i, shift = i + 1, shift + 7
            if not b & 0x80:
                return n, i

    def fields(buf: bytes) -> list[tuple[int, bytes]]:
        out, i = [], 0
        while i < len(buf):
            tag, i = varint(buf, i)
            assert tag & 7 == 2, tag  # every field here is length-delimited
            size, i = varint(buf, i)
            out.append((tag >> 3, buf[i : i + size]))
            i += size
        return out

    result: dict[str, object] = {}
    keys = []
    for number, entry in fields(data):
        assert number == 1
        parts = dict(fields(entry))
        key = parts[1].decode()
        keys.append(key)
        ((kind, value),) = fields(parts[2])
        result[key] = value.decode() if kind == 3 else _decode_struct(value)
    assert keys == sorted(keys)  # deterministic serialization: map keys sorted
    return result


def test_peer_metadata_is_istio_workload_metadata() -> None:
    import base64

    from gatewaykit.dataplane import _mx

    labels = (("app", "curl"), ("pod-template-hash", "7d5c6f7c8"))
    value = _mx.peer_metadata("curl-7d5c6f7c8-abcde.default", "default", "curl", labels)
    assert _decode_struct(base64.b64decode(value)) == {
        "CLUSTER_ID": "Kubernetes",
        "LABELS": {
            "app": "curl",
            "service.istio.io/canonical-name": "curl",  # pkg/kube/labels CanonicalService
            "service.istio.io/canonical-revision": "latest",
        },
        "NAME": "curl-7d5c6f7c8-abcde",
        "NAMESPACE": "default",
        "OWNER": "kubernetes://apis/apps/v1/namespaces/default/deployments/curl",
        "WORKLOAD_NAME": "curl",
    }


def test_outbound_hops_drop_the_peers_metadata_from_responses() -> None:
    raw = [(b"x-envoy-peer-metadata", b"Cg=="), (b"x-envoy-peer-metadata-id", b"sidecar~x"), (b"a", b"1")]
    assert [k for k, _ in _headers.response_headers(raw, "envoy", 1)] == [
        "server",
        "date",
        "a",
        "x-envoy-upstream-service-time",
    ]
    inbound = _headers.response_headers(raw, "envoy", 1, inbound=True)
    assert ("x-envoy-peer-metadata", "Cg==") in inbound
