"""Fixtures for the data-plane tests: certificates, tiny upstream servers, a hand-built gateway config.

Everything listens on 127.0.0.1; the upstreams are real servers in threads, the client is the
real ``curl`` binary.
"""

from __future__ import annotations

import datetime
import http.server
import json
import os
import pathlib
import socket
import socketserver
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gatewaykit import envoy
from gatewaykit.certs import build_ca
from gatewaykit.dataplane import AddressBook, DataPlane

PROXY = "istio-system/istio-ingressgateway-5c8d7f9b6d-abcde"
GW_IP = "10.244.0.5"
HTTPBIN = "outbound|8000||httpbin.default.svc.cluster.local"
DOWN = "outbound|8000||down.default.svc.cluster.local"
EMPTY = "outbound|8000||empty.default.svc.cluster.local"
NGINX = "outbound|443||nginx.default.svc.cluster.local"
ECHO = "outbound|9000||tcp-echo.default.svc.cluster.local"
HTTPBIN_TLS = "outbound|443||httpbin-tls.default.svc.cluster.local"
EGRESS_GW = "outbound|443||istio-egressgateway.istio-system.svc.cluster.local"
HTTPBIN_V2 = "outbound|8000|v2|httpbin.default.svc.cluster.local"
HTTPBIN_TLS_BADCA = "outbound|443|badca|httpbin-tls.default.svc.cluster.local"
HTTPBIN_TLS_BADSAN = "outbound|443|badsan|httpbin-tls.default.svc.cluster.local"
RUDE = "outbound|8080||rude.default.svc.cluster.local"
RESET = "outbound|8080||reset.default.svc.cluster.local"
EGRESS = "istio-system/istio-egressgateway-7d4f8c9b5-fghij"


# ------------------------------------------------------------------ certificates


@dataclass(frozen=True)
class Pem:
    cert: bytes
    key: bytes
    cert_path: pathlib.Path
    key_path: pathlib.Path


def _name(cn: str, org: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)]
    )


def _write(dirpath: pathlib.Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Pem:
    cpem = cert.public_bytes(serialization.Encoding.PEM)
    kpem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    cp, kp = dirpath / f"{stem}.crt", dirpath / f"{stem}.key"
    cp.write_bytes(cpem)
    kp.touch(mode=0o600)
    kp.write_bytes(kpem)
    return Pem(cpem, kpem, cp, kp)


class CertFactory:
    """Makes a CA and leaf certificates (EC keys: fast) in a private directory."""

    def __init__(self, dirpath: pathlib.Path) -> None:
        self.dir = dirpath
        os.chmod(dirpath, 0o700)
        self.now = datetime.datetime.now(datetime.timezone.utc)

    def ca(
        self, stem: str = "example.com", cn: str = "example.com"
    ) -> tuple[Pem, x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        # The docs' CA (openssl req -x509), through the kit's one CA builder.
        cert = build_ca(
            _name(cn, "example Inc."),
            key,
            "openssl-v3_ca",
            not_before=self.now - datetime.timedelta(hours=1),
            not_after=self.now + datetime.timedelta(days=2),
        )
        return _write(self.dir, stem, cert, key), cert, key

    def leaf(
        self,
        ca: tuple[Pem, x509.Certificate, ec.EllipticCurvePrivateKey],
        cn: str,
        org: str = "org",
        client: bool = False,
        stem: str | None = None,
    ) -> Pem:
        _, ca_cert, ca_key = ca
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn, org))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.now - datetime.timedelta(hours=1))
            .not_valid_after(self.now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False)
        )
        cert = builder.sign(ca_key, hashes.SHA256())
        return _write(self.dir, stem or cn, cert, key)


@dataclass(frozen=True)
class Certs:
    ca: Pem
    ca2: Pem
    httpbin: Pem
    httpbin2: Pem  # same host, signed by ca2 (rotation)
    helloworld: Pem
    mutual: Pem
    optional: Pem
    client: Pem
    nginx: Pem


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    f = CertFactory(tmp_path_factory.mktemp("certs"))
    ca = f.ca()
    ca2 = f.ca("example2.com")
    return Certs(
        ca=ca[0],
        ca2=ca2[0],
        httpbin=f.leaf(ca, "httpbin.example.com", "httpbin organization"),
        httpbin2=f.leaf(ca2, "httpbin.example.com", "httpbin organization", stem="httpbin2.example.com"),
        helloworld=f.leaf(ca, "helloworld.example.com", "helloworld organization"),
        mutual=f.leaf(ca, "mutual.example.com"),
        optional=f.leaf(ca, "optional.example.com"),
        client=f.leaf(ca, "client.example.com", "client organization"),
        nginx=f.leaf(ca, "nginx.example.com", "some organization"),
    )


# ---------------------------------------------------------------------- upstreams


#: (path, body) of every POST to /status/<code> the test upstreams answered.
POSTS: list[tuple[str, bytes]] = []


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "upstream-test/1.0"

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def _send(
        self,
        status: int,
        body: bytes,
        ctype: str = "application/json",
        extra: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_POST(self) -> None:
        if self.path.startswith("/count"):
            self._count()
            return
        if self.path.startswith("/status/"):
            data = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            POSTS.append((self.path, data))
            self._send(int(self.path.rsplit("/", 1)[1]), b"")
            return
        n = int(self.headers.get("Content-Length", "0"))
        data = self.rfile.read(n)
        self._send(200, json.dumps({"data": data.decode(), "path": self.path}).encode())

    do_PUT = do_POST

    def _count(self) -> None:
        """Read the body in 64 KiB pieces (Content-Length or chunked) and answer its size."""
        received = 0
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while size := int(self.rfile.readline().split(b";")[0], 16):
                while size:
                    step = self.rfile.read(min(size, 65536))
                    received, size = received + len(step), size - len(step)
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b""):
                pass
        else:
            left = int(self.headers.get("Content-Length", "0"))
            while left:
                step = self.rfile.read(min(left, 65536))
                if not step:
                    break
                received, left = received + len(step), left - len(step)
        self._send(200, json.dumps({"received": received}).encode())

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path.startswith("/status/"):
            code = int(path.rsplit("/", 1)[1])
            if code == 418:
                self._send(
                    418, b"teapot\n", "text/plain", {"x-more-info": "http://tools.ietf.org/html/rfc2324"}
                )
            else:
                self._send(code, b"")
        elif path.startswith("/delay/"):
            time.sleep(float(path.rsplit("/", 1)[1]))
            self._send(200, b"{}")
        elif path == "/chunked":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"hello ", b"chunked ", b"world\n"):
                self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/big":
            self._send(200, b"x" * 300_000, "text/plain")
        elif path.startswith("/bytes/"):
            # n bytes, written 64 KiB at a time (a large download that is never in memory whole)
            n = int(path.rsplit("/", 1)[1])
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(n))
            self.end_headers()
            piece = b"\0" * 65536
            while n:
                self.wfile.write(piece[: min(n, 65536)])
                n -= min(n, 65536)
        else:
            hdrs = {k.title(): v for k, v in self.headers.items()}
            doc = {"headers": hdrs, "path": self.path, "port": self.server.server_address[1]}
            self._send(200, json.dumps(doc).encode())


class _ThreadingHTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


def start_http(
    tls: ssl.SSLContext | None = None, handler: type = _Handler
) -> tuple[_ThreadingHTTPServer, int]:
    srv = _ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        srv.socket = tls.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, srv.server_address[1]


class _Nginx(_Handler):
    server_version = "nginx/1.15.2"

    def do_GET(self) -> None:
        self._send(200, b"<title>Welcome to nginx!</title>\n", "text/html")


class _Echo(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        for line in self.rfile:
            self.wfile.write(b"one " + line)


class _Rude(socketserver.StreamRequestHandler):
    """Answers one request, then closes the connection without saying so (no Connection: close)."""

    def handle(self) -> None:
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass
        self.wfile.write(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nrude")


class _Reset(socketserver.StreamRequestHandler):
    """Reads the request head and closes the connection before any response."""

    def handle(self) -> None:
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass


class _TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def free_closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@dataclass
class Upstreams:
    book: AddressBook
    httpbin_port: int
    nginx_port: int
    echo_port: int
    tls_httpbin_port: int
    httpbin_v2_port: int


@pytest.fixture(scope="session")
def upstreams(certs: Certs) -> Iterator[Upstreams]:
    servers: list[socketserver.BaseServer] = []
    extra: dict[str, int] = {}
    httpbin, hp = start_http()
    servers.append(httpbin)
    nctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    nctx.load_cert_chain(certs.nginx.cert_path, certs.nginx.key_path)
    nginx, np_ = start_http(nctx, _Nginx)
    servers.append(nginx)
    tctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tctx.load_cert_chain(certs.httpbin.cert_path, certs.httpbin.key_path)
    tls_httpbin, tp = start_http(tctx)
    servers.append(tls_httpbin)
    echo = _TcpServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=echo.serve_forever, daemon=True).start()
    servers.append(echo)
    httpbin_v2, hp2 = start_http()
    servers.append(httpbin_v2)
    for handler, address in ((_Rude, "10.244.0.13"), (_Reset, "10.244.0.14")):
        srv = _TcpServer(("127.0.0.1", 0), handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        extra[address] = srv.server_address[1]
    book = AddressBook()
    book.add("10.244.0.7", 8080, hp)
    book.add("10.244.0.12", 8080, hp2)
    for address, port in extra.items():
        book.add(address, 8080, port)
    book.add("10.244.0.9", 443, np_)
    book.add("10.244.0.8", 9000, echo.server_address[1])
    book.add("10.244.0.10", 8080, free_closed_port())  # nothing listens: connect failure
    book.add("10.244.0.11", 8443, tp)
    yield Upstreams(book, hp, np_, echo.server_address[1], tp, hp2)
    for s in servers:
        s.shutdown()
        s.server_close()


# ---------------------------------------------------------------------- config


def _cluster(name: str, *eps: tuple[str, int], tls: envoy.UpstreamTlsContext | None = None) -> envoy.Cluster:
    return envoy.Cluster(
        name=name,
        endpoints=tuple(envoy.Endpoint(a, p, workload=f"pod-{a}") for a, p in eps),
        transport_socket=tls,
    )


def _route(name: str, prefix: str, cluster: str, **action: object) -> envoy.Route:
    retry = action.pop("retry_policy", envoy.RetryPolicy())
    return envoy.Route(
        name=name,
        match=envoy.RouteMatch(prefix=prefix),
        route=envoy.RouteAction(cluster=cluster, retry_policy=retry, **action),  # type: ignore[arg-type]
        decorator_operation=f"{cluster.split('|')[3]}:{cluster.split('|')[1]}{prefix}*",
    )


def httpbin_routes() -> tuple[envoy.Route, ...]:
    return (
        _route("status", "/status", HTTPBIN),
        _route("delay", "/delay", HTTPBIN, timeout=0.5),
        _route("down", "/down", DOWN),
        _route("empty", "/empty", EMPTY),
        _route("api", "/api/", HTTPBIN, prefix_rewrite="/"),
        _route("tls-origin", "/origin/", HTTPBIN_TLS, prefix_rewrite="/"),
        _route("mesh", "/mesh/", EGRESS_GW, prefix_rewrite="/"),
        _route("badca", "/badca/", HTTPBIN_TLS_BADCA, prefix_rewrite="/"),
        _route(
            "regex",
            "/re/",
            HTTPBIN,
            regex_rewrite=(r"^/re/(\w+)$", r"/\1"),
            host_rewrite_literal="rewritten.local",
        ),
        _route("badsan", "/badsan/", HTTPBIN_TLS_BADSAN, prefix_rewrite="/"),
        _route("rude", "/rude", RUDE),
        _route("reset-retried", "/reset-retried", RESET, retry_policy=envoy.RetryPolicy("5xx", 2)),
        _route("reset", "/reset", RESET),
        envoy.Route(
            name="split",
            match=envoy.RouteMatch(prefix="/split/"),
            route=envoy.RouteAction(
                weighted_clusters=(envoy.WeightedCluster(HTTPBIN, 50), envoy.WeightedCluster(HTTPBIN_V2, 50)),
                prefix_rewrite="/",
            ),
        ),
        envoy.Route(
            name="teapot",
            match=envoy.RouteMatch(path="/direct"),
            direct_response=envoy.DirectResponseAction(status=418, body="direct teapot"),
        ),
        # VirtualService retries {attempts: 2, retryOn: 5xx}
        _route("retry", "/retry/", HTTPBIN, prefix_rewrite="/", retry_policy=envoy.RetryPolicy("5xx", 2)),
        _route("rest", "/", HTTPBIN),
    )


def build_proxy(certs: Certs, *, httpbin_cert: Pem | None = None) -> envoy.ProxyConfig:
    hb = httpbin_cert or certs.httpbin
    secrets = {
        "kubernetes://httpbin-credential": envoy.SecretMaterial(
            "kubernetes://httpbin-credential", hb.cert, hb.key
        ),
        "kubernetes://helloworld-credential": envoy.SecretMaterial(
            "kubernetes://helloworld-credential", certs.helloworld.cert, certs.helloworld.key
        ),
        "kubernetes://mutual-credential": envoy.SecretMaterial(
            "kubernetes://mutual-credential", certs.mutual.cert, certs.mutual.key
        ),
        "kubernetes://mutual-credential-cacert": envoy.SecretMaterial(
            "kubernetes://mutual-credential-cacert", trusted_ca=certs.ca.cert
        ),
        "kubernetes://optional-credential": envoy.SecretMaterial(
            "kubernetes://optional-credential", certs.optional.cert, certs.optional.key
        ),
        "kubernetes://optional-credential-cacert": envoy.SecretMaterial(
            "kubernetes://optional-credential-cacert", trusted_ca=certs.ca.cert
        ),
        "kubernetes://missing-credential": envoy.SecretMaterial(
            "kubernetes://missing-credential", error="secret istio-system/missing-credential not found"
        ),
        "file-root:ca.crt": envoy.SecretMaterial("file-root:ca.crt", trusted_ca=certs.ca.cert),
        "file-root:ca2.crt": envoy.SecretMaterial("file-root:ca2.crt", trusted_ca=certs.ca2.cert),
    }

    def hcm(route: str) -> envoy.HttpConnectionManager:
        # Istio gateways: use_remote_address, SANITIZE_SET (buildGatewayConnectionManager)
        return envoy.HttpConnectionManager(
            route_config_name=route,
            stat_prefix="outbound_0.0.0.0_8080",
            use_remote_address=True,
            forward_client_cert_details="SANITIZE_SET",
        )

    def https_chain(
        host: str, secret: str, mode: str = "SIMPLE", ca: str | None = None, sans: tuple[str, ...] = ()
    ) -> envoy.FilterChain:
        route = f"https.443.https-{host.split('.')[0]}.gw.default"
        return envoy.FilterChain(
            name=route,
            filter_chain_match=envoy.FilterChainMatch(server_names=(host,)),
            transport_socket=envoy.DownstreamTlsContext(
                mode=mode,
                certificate_sds=secret,
                validation_sds=ca,  # type: ignore[arg-type]
                require_client_certificate=mode == "MUTUAL",
                subject_alt_names=sans,
            ),
            http_connection_manager=hcm(route),
        )

    http_vhosts = (
        envoy.VirtualHost("httpbin.example.com:80", ("httpbin.example.com",), httpbin_routes()),
        envoy.VirtualHost(
            "secure.example.com:80", ("secure.example.com",), httpbin_routes(), require_tls="ALL"
        ),
    )
    route_configs = {"http.8080": envoy.RouteConfiguration("http.8080", http_vhosts)}
    for host in ("httpbin", "helloworld", "mutual", "optional", "missing", "sanmutual"):
        name = f"https.443.https-{host}.gw.default"
        route_configs[name] = envoy.RouteConfiguration(
            name, (envoy.VirtualHost(f"{host}.example.com:443", (f"{host}.example.com",), httpbin_routes()),)
        )
    listeners = (
        envoy.Listener(
            "0.0.0.0_8080",
            "0.0.0.0",
            8080,
            (envoy.FilterChain(name="http", http_connection_manager=hcm("http.8080")),),
        ),
        envoy.Listener(
            "0.0.0.0_8443",
            "0.0.0.0",
            8443,
            (
                https_chain("httpbin.example.com", "kubernetes://httpbin-credential"),
                https_chain("helloworld.example.com", "kubernetes://helloworld-credential"),
                https_chain(
                    "mutual.example.com",
                    "kubernetes://mutual-credential",
                    "MUTUAL",
                    "kubernetes://mutual-credential-cacert",
                ),
                https_chain(
                    "optional.example.com",
                    "kubernetes://optional-credential",
                    "OPTIONAL_MUTUAL",
                    "kubernetes://optional-credential-cacert",
                ),
                https_chain("missing.example.com", "kubernetes://missing-credential"),
                https_chain(
                    "sanmutual.example.com",
                    "kubernetes://mutual-credential",
                    "MUTUAL",
                    "kubernetes://mutual-credential-cacert",
                    sans=("client.example.com",),
                ),
                envoy.FilterChain(
                    # a TLS server terminating TLS in front of tcp: routes (TLS + SIMPLE,
                    # docs/behaviour.md §5)
                    name="tcp-tls",
                    filter_chain_match=envoy.FilterChainMatch(server_names=("echo.example.com",)),
                    transport_socket=envoy.DownstreamTlsContext(
                        mode="SIMPLE", certificate_sds="kubernetes://helloworld-credential", alpn_protocols=()
                    ),
                    tcp_proxy=envoy.TcpProxy("outbound|9000||tcp-echo", ECHO),
                ),
                envoy.FilterChain(
                    name="nginx",
                    filter_chain_match=envoy.FilterChainMatch(server_names=("nginx.example.com",)),
                    tcp_proxy=envoy.TcpProxy("outbound|443||nginx", NGINX),
                ),
            ),
        ),
        envoy.Listener(
            "0.0.0.0_31400",
            "0.0.0.0",
            31400,
            (envoy.FilterChain(name="tcp", tcp_proxy=envoy.TcpProxy("outbound|9000||tcp-echo", ECHO)),),
        ),
    )
    clusters = {
        HTTPBIN: _cluster(HTTPBIN, ("10.244.0.7", 8080)),
        DOWN: _cluster(DOWN, ("10.244.0.10", 8080)),
        EMPTY: _cluster(EMPTY),
        NGINX: _cluster(NGINX, ("10.244.0.9", 443)),
        ECHO: _cluster(ECHO, ("10.244.0.8", 9000)),
        HTTPBIN_TLS: _cluster(
            HTTPBIN_TLS,
            ("10.244.0.11", 8443),
            tls=envoy.UpstreamTlsContext(
                mode="SIMPLE", sni="httpbin.example.com", validation_sds="file-root:ca.crt"
            ),
        ),
    }
    clusters[HTTPBIN_V2] = _cluster(HTTPBIN_V2, ("10.244.0.12", 8080))
    clusters[HTTPBIN_TLS_BADCA] = _cluster(
        HTTPBIN_TLS_BADCA,
        ("10.244.0.11", 8443),
        tls=envoy.UpstreamTlsContext(
            mode="SIMPLE", sni="httpbin.example.com", validation_sds="file-root:ca2.crt"
        ),
    )
    clusters[HTTPBIN_TLS_BADSAN] = _cluster(
        HTTPBIN_TLS_BADSAN,
        ("10.244.0.11", 8443),
        tls=envoy.UpstreamTlsContext(
            mode="SIMPLE",
            sni="httpbin.example.com",
            validation_sds="file-root:ca.crt",
            subject_alt_names=("other.example.com",),
        ),
    )
    clusters[RUDE] = _cluster(RUDE, ("10.244.0.13", 8080))
    clusters[RESET] = _cluster(RESET, ("10.244.0.14", 8080))
    clusters[EGRESS_GW] = _cluster(
        EGRESS_GW,
        ("10.244.0.6", 8443),
        tls=envoy.UpstreamTlsContext(
            mode="ISTIO_MUTUAL", sni="outbound_.80_._.httpbin.default.svc.cluster.local"
        ),
    )
    return envoy.ProxyConfig(
        id="istio-ingressgateway-5c8d7f9b6d-abcde.istio-system",
        type="router",
        namespace="istio-system",
        workload="istio-ingressgateway",
        listeners=listeners,
        route_configs=route_configs,
        clusters=clusters,
        secrets=secrets,
    )


@dataclass
class Gateway:
    dp: DataPlane
    http: int
    https: int
    tcp: int
    certs: Certs
    results: list[tuple[str, object]]

    def log(self) -> str:
        return self.dp.logs(PROXY)


@pytest.fixture(scope="module")
def gateway(certs: Certs, upstreams: Upstreams) -> Iterator[Gateway]:
    results: list[tuple[str, object]] = []
    dp = DataPlane(upstreams.book, on_request=lambda pid, r: results.append((pid, r))).start()
    try:
        ports = dp.update({PROXY: build_proxy(certs)}, pod_ips={PROXY: GW_IP})
        yield Gateway(dp, ports[(PROXY, 8080)], ports[(PROXY, 8443)], ports[(PROXY, 31400)], certs, results)
    finally:
        dp.close()


def curl(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    """Run the real curl binary."""
    # Bytes, decoded by hand: text=True would turn the wire's CRLFs into LFs.
    r = subprocess.run(["curl", *args], capture_output=True, timeout=timeout)
    return subprocess.CompletedProcess(
        r.args, r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")
    )


def build_egress_proxy() -> envoy.ProxyConfig:
    """An egress gateway with one ISTIO_MUTUAL server on 8443 routing everything to httpbin."""
    route = "https.443.tls.istio-egressgateway.istio-system"
    chain = envoy.FilterChain(
        name=route,
        transport_socket=envoy.DownstreamTlsContext(
            mode="ISTIO_MUTUAL",
            certificate_sds="default",
            validation_sds="ROOTCA",
            require_client_certificate=True,
        ),
        http_connection_manager=envoy.HttpConnectionManager(
            route_config_name=route, stat_prefix="egress", use_remote_address=True
        ),
    )
    rc = envoy.RouteConfiguration(
        route, (envoy.VirtualHost("*:443", ("*",), (_route("all", "/", HTTPBIN),)),)
    )
    return envoy.ProxyConfig(
        id="istio-egressgateway-7d4f8c9b5-fghij.istio-system",
        type="router",
        namespace="istio-system",
        workload="istio-egressgateway",
        listeners=(envoy.Listener("0.0.0.0_8443", "0.0.0.0", 8443, (chain,)),),
        route_configs={route: rc},
        clusters={HTTPBIN: _cluster(HTTPBIN, ("10.244.0.7", 8080))},
    )
