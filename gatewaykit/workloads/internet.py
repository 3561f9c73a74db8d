"""The fake internet: deterministic outside hosts for the egress tasks, served on 127.0.0.1.

Istio's egress tasks call ``httpbin.org``, ``edition.cnn.com`` and ``www.google.com`` from inside the
mesh (§16). Nothing may leave the machine, so these hosts are played here, with:

* their own **public root CA** (generated once per work dir, kept in ``<work_dir>/fake-internet/``), which
  mesh clients trust the way a real pod trusts the public CAs in its image;
* real TLS (``ssl``), certificates with the host name in a subjectAltName as real public sites have,
  ALPN ``h2`` + ``http/1.1`` and real HTTP/2 (``h2``) -- ``curl`` prints ``HTTP/2 200``;
* response headers shaped like a real site's (``server``, ``date``, ``content-type``).

Hosts are declared with :class:`ExternalHost`; labs can add their own. Defaults (:data:`DEFAULT_HOSTS`):
``httpbin.org`` (the real httpbin app on 80 and 443), ``edition.cnn.com`` (http → ``301`` to
``https://edition.cnn.com/<path>``; https ``/politics`` → 200 over HTTP/2) and ``www.google.com``
(200 on 80 and 443).
"""

from __future__ import annotations

import datetime
import os
import pathlib
import secrets
import ssl
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gatewaykit.certs import build_ca
from gatewaykit.workloads._http import HttpRequest, HttpResponse, http_date, serve_connection, wsgi_handler
from gatewaykit.workloads.base import ServerHandle, ThreadedTCPServer

__all__ = ["DEFAULT_HOSTS", "HOSTS", "ExternalHost", "FakeInternet"]

App = Literal["httpbin", "static", "redirect-to-https"]

_CNN_POLITICS = b"""<!DOCTYPE html>
<html lang="en" data-layout-uri="cms.cnn.com/_layouts/layout-section/instances/politics-v1@published">
<head>
<meta charset="utf-8">
<title>CNN Politics | Political News, Analysis and Opinion</title>
</head>
<body>
<h1>Politics</h1>
<p>This page is served by gatewaykit's fake internet; nothing left your machine.</p>
</body>
</html>
"""

_CNN_HOME = b"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Breaking News, Latest News and Videos | CNN</title>
</head>
<body>
<h1>CNN</h1>
<p>This page is served by gatewaykit's fake internet; nothing left your machine.</p>
</body>
</html>
"""

_GOOGLE = (
    b'<!doctype html><html itemscope="" itemtype="http://schema.org/WebPage" lang="en"><head>'
    b"<title>Google</title></head><body><center><h1>Google</h1>"
    b"<p>This page is served by gatewaykit's fake internet; nothing left your machine.</p>"
    b"</center></body></html>"
)

_NOT_FOUND = b"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>404 Not Found</title></head>
<body><h1>Not Found</h1><p>The requested URL was not found on this server.</p></body>
</html>
"""


@dataclass(frozen=True, slots=True)
class ExternalHost:
    """A host on the fake internet.

    Attributes:
        name: the DNS name (``httpbin.org``).
        http_port: the plain HTTP port, or ``None`` for none.
        https_port: the HTTPS port, or ``None`` for none.
        app: ``"httpbin"`` (the real httpbin app), ``"static"`` (``pages``), or ``"redirect-to-https"``
            (HTTP answers ``301`` to ``https://<name><path>``; HTTPS serves ``pages``).
        pages: path -> body for ``static``/``redirect-to-https``; empty means every path returns
            ``default_page``; otherwise unknown paths are ``404``.
        default_page: the body when ``pages`` is empty.
        content_type: ``content-type`` of pages.
        server: the ``server`` header (``None`` = none).
        extra_headers: more response headers, as the real site sends.
        h2: offer HTTP/2 by ALPN on the HTTPS port.
        aws_trace_id: add ``X-Amzn-Trace-Id`` to requests, as the AWS load balancer in front of
            httpbin.org does (it shows up in ``/headers`` output in Istio's egress docs).
    """

    name: str
    http_port: int | None = 80
    https_port: int | None = 443
    app: App = "static"
    pages: Mapping[str, bytes] = field(default_factory=dict)
    default_page: bytes = b"<!DOCTYPE html>\n<html><head><title>OK</title></head><body>OK</body></html>\n"
    content_type: str = "text/html; charset=utf-8"
    server: str | None = None
    extra_headers: tuple[tuple[str, str], ...] = ()
    h2: bool = True
    aws_trace_id: bool = False


DEFAULT_HOSTS: tuple[ExternalHost, ...] = (
    ExternalHost("httpbin.org", app="httpbin", server="gunicorn/19.9.0", aws_trace_id=True),
    ExternalHost(
        "edition.cnn.com",
        app="redirect-to-https",
        pages={"/": _CNN_HOME, "/politics": _CNN_POLITICS},
        server="Varnish",
        extra_headers=(("cache-control", "max-age=60"), ("x-served-by", "cache-gatewaykit-fake")),
    ),
    ExternalHost(
        "www.google.com",
        default_page=_GOOGLE,
        content_type="text/html; charset=ISO-8859-1",
        server="gws",
        extra_headers=(("x-xss-protection", "0"), ("x-frame-options", "SAMEORIGIN")),
    ),
)

#: The default hosts' names (what the kind backend's fake-internet container serves too).
HOSTS: tuple[str, ...] = tuple(h.name for h in DEFAULT_HOSTS)


def _write_key(path: pathlib.Path, pem: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    os.chmod(path, 0o600)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_or_make_ca(directory: pathlib.Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """The fake public root: made once per work dir so clients configured with it keep trusting it."""
    cert_path, key_path = directory / "public-root-ca.crt", directory / "public-root-ca.key"
    if cert_path.exists() and key_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return x509.load_pem_x509_certificate(cert_path.read_bytes()), key
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "GatewayKit Fake Public Trust"),
            x509.NameAttribute(NameOID.COMMON_NAME, "GatewayKit Fake Public Root CA"),
        ]
    )
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = build_ca(
        name,
        key,
        "public-root",
        not_before=now - datetime.timedelta(days=1),
        not_after=now + datetime.timedelta(days=3650),
    )
    directory.mkdir(parents=True, exist_ok=True)
    _write_key(key_path, _key_pem(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _host_context(
    host: ExternalHost,
    directory: pathlib.Path,
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
) -> ssl.SSLContext:
    """A server TLS context for ``host`` with a leaf certificate (SAN = its name) from the fake root."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host.name)]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host.name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{host.name}.crt", directory / f"{host.name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key_path, _key_pem(key))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_path, key_path)
    ctx.set_alpn_protocols(["h2", "http/1.1"] if host.h2 else ["http/1.1"])
    return ctx


def _aws_trace_id(req: HttpRequest) -> tuple[tuple[str, str], ...]:
    """Headers the AWS load balancer in front of httpbin.org sets on every request.

    It adds a trace id (format ``Root=1-<8 hex epoch seconds>-<24 hex>``) and *overwrites*
    ``X-Forwarded-Proto``/``X-Forwarded-Port`` with the listener the client reached, so httpbin's
    ``"url"`` says ``https://`` when a sidecar originated TLS even though the app sent
    ``x-forwarded-proto: http`` (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/x-forwarded-headers.html).
    """
    return (
        ("x-amzn-trace-id", f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}"),
        ("x-forwarded-proto", req.scheme),
        ("x-forwarded-port", str(443 if req.scheme == "https" else 80)),
    )


def _page_handler(host: ExternalHost, *, redirect: bool) -> Any:
    def handle(req: HttpRequest) -> HttpResponse:
        path = req.target.split("?", 1)[0]
        base: list[tuple[str, str]] = [("date", http_date())]
        if host.server:
            base.append(("server", host.server))
        if redirect:
            # The site's HTTP listener only sends clients to HTTPS, keeping the path (edition.cnn.com).
            return HttpResponse(
                301,
                tuple(
                    base
                    + [
                        ("location", f"https://{host.name}{req.target}"),
                        ("content-type", "text/html; charset=utf-8"),
                        *host.extra_headers,
                    ]
                ),
                b"",
                reason="Moved Permanently",
            )
        if host.pages:
            body = host.pages.get(path) or host.pages.get(path.rstrip("/") or "/")
        else:
            body = host.default_page
        status = 200 if body is not None else 404
        return HttpResponse(
            status,
            tuple(base + [("content-type", host.content_type), *host.extra_headers]),
            body if body is not None else _NOT_FOUND,
        )

    return handle


class FakeInternet:
    """The set of outside hosts, each on real 127.0.0.1 ports.

    Usage::

        net = FakeInternet(work_dir).start()
        net.ports["httpbin.org"][443]     # the real port standing in for httpbin.org:443
        net.ca_pem / net.ca_file          # the fake public root, for --cacert / a client's trust store
        net.close()

    Args:
        work_dir: where the public root CA (made once) and the host keys (mode 0600) are kept.
        hosts: the hosts to serve.
    """

    def __init__(
        self, work_dir: str | os.PathLike[str], hosts: Iterable[ExternalHost] = DEFAULT_HOSTS
    ) -> None:
        """Prepare (nothing is bound until :meth:`start`)."""
        self.directory = pathlib.Path(work_dir) / "fake-internet"
        self.hosts: dict[str, ExternalHost] = {h.name.lower(): h for h in hosts}
        self.ports: dict[str, dict[int, int]] = {}
        self._handles: list[ServerHandle] = []
        self._lock = threading.Lock()
        self.ca_pem: bytes = b""

    @property
    def ca_file(self) -> pathlib.Path:
        """Path of the fake public root certificate (PEM)."""
        return self.directory / "public-root-ca.crt"

    def start(self) -> FakeInternet:
        """Bind every host's ports and start serving; returns ``self``.

        Raises:
            Exception: whatever failed; anything already started is closed first.
        """
        try:
            ca, ca_key = _load_or_make_ca(self.directory)
            self.ca_pem = ca.public_bytes(serialization.Encoding.PEM)
            for host in self.hosts.values():
                self._start_host(host, ca, ca_key)
        except BaseException:
            self.close()
            raise
        return self

    def _start_host(
        self, host: ExternalHost, ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey
    ) -> None:
        ports = self.ports.setdefault(host.name.lower(), {})
        if host.app == "httpbin":
            from gatewaykit.workloads.apps import httpbin_app

            handler = wsgi_handler(
                httpbin_app(),
                server_header=host.server,
                server_name=host.name,
                extra_request_headers=_aws_trace_id if host.aws_trace_id else None,
            )
            http_handler = https_handler = handler
        else:
            http_handler = _page_handler(host, redirect=host.app == "redirect-to-https")
            https_handler = _page_handler(host, redirect=False)
        for logical, handler, tls in (
            (host.http_port, http_handler, None),
            (
                host.https_port,
                https_handler,
                _host_context(host, self.directory, ca, ca_key) if host.https_port else None,
            ),
        ):
            if logical is None:
                continue

            def handle(conn: Any, addr: Any, _h: Any = handler, _tls: Any = tls, _p: int = logical) -> None:
                serve_connection(
                    conn, _h, server_port=_p, tls=_tls, client_address=(str(addr[0]), int(addr[1]))
                )

            srv = ServerHandle(ThreadedTCPServer(0, handle), f"internet:{host.name}:{logical}")
            self._handles.append(srv)
            ports[logical] = srv.port

    def address(self, host: str, port: int) -> tuple[str, int] | None:
        """Where ``host:port`` of the fake internet really is (``("127.0.0.1", real_port)``), or ``None``.

        Args:
            host: a DNS name (case-insensitive).
            port: the logical port (80, 443, ...).
        """
        real = self.ports.get(host.lower(), {}).get(port)
        return ("127.0.0.1", real) if real is not None else None

    @property
    def threads(self) -> tuple[threading.Thread, ...]:
        """The serve threads (for leak checks)."""
        return tuple(h.thread for h in self._handles if h.thread is not None)

    def close(self) -> None:
        """Stop every host and free every port and thread (idempotent)."""
        with self._lock:
            handles, self._handles = self._handles, []
        for h in handles:
            h.close()

    def __enter__(self) -> FakeInternet:
        return self.start() if not self._handles else self

    def __exit__(self, *exc: object) -> None:
        self.close()
