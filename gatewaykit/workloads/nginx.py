"""The nginx stand-in: a ConfigMap-mounted ``nginx.conf`` executed for the directives Istio's tasks use.

Istio's ingress-sni-passthrough and egress-gateway-tls-origination tasks run ``nginx`` with a
ConfigMap ``nginx.conf`` and Secret-mounted certificates (docs/behaviour.md §16)::

    server {
      listen 443 ssl;
      root /usr/share/nginx/html;
      index index.html;
      server_name nginx.example.com;
      ssl_certificate /etc/nginx-server-certs/tls.crt;
      ssl_certificate_key /etc/nginx-server-certs/tls.key;
      ssl_client_certificate /etc/nginx-ca-certs/example.com.crt;   # mTLS variant
      ssl_verify_client on;
    }

This module parses nginx's configuration syntax (directives, blocks, quoted strings, comments), rejects
what nginx would reject with nginx's own ``[emerg]`` text (the pod goes to CrashLoopBackOff), and serves
static files over real TLS with nginx 1.15.2's bytes: the welcome page (612 bytes), the error pages
(``src/http/ngx_http_special_response.c`` at ``release-1.15.2``) and ``Server: nginx/1.15.2`` as the
docs show. Not emulated: ``location`` matching beyond a root/index per location prefix, rewrites,
proxying, gzip.
"""

from __future__ import annotations

import datetime
import email.utils
import mimetypes
import os
import pathlib
import posixpath
import re
import socket
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gatewaykit.errors import NginxConfError
from gatewaykit.workloads._http import HttpRequest, HttpResponse, http_date, serve_connection
from gatewaykit.workloads.base import (
    LogBuffer,
    RunningWorkload,
    ServerHandle,
    ThreadedTCPServer,
    WorkloadSpec,
)

__all__ = ["NginxConfError", "NginxServer", "WELCOME_PAGE", "parse_nginx_conf", "start_nginx"]

NGINX_VERSION = "nginx/1.15.2"  # the version the docs' transcripts show (`Server: nginx/1.15.2`)
CONF_PATH = "/etc/nginx/nginx.conf"

#: docs/html/index.html of nginx release-1.15.2, byte for byte (612 bytes).
WELCOME_PAGE = b"""<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
    body {
        width: 35em;
        margin: 0 auto;
        font-family: Tahoma, Verdana, Arial, sans-serif;
    }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p>For online documentation and support please refer to
<a href="http://nginx.org/">nginx.org</a>.<br/>
Commercial support is available at
<a href="http://nginx.com/">nginx.com</a>.</p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
"""
# The image's index.html mtime (nginx:1.15.2 was released 2018-07-24); used for Last-Modified/ETag.
_WELCOME_MTIME = datetime.datetime(2018, 7, 24, 13, 2, 29, tzinfo=datetime.timezone.utc)


def _error_page(title: str, h1: str, detail: str = "") -> bytes:
    # ngx_http_special_response.c (1.15.2): CRLF line ends, bgcolor="white", full tail with version.
    page = f'<html>\r\n<head><title>{title}</title></head>\r\n<body bgcolor="white">\r\n'
    page += f"<center><h1>{h1}</h1></center>\r\n"
    if detail:
        page += f"<center>{detail}</center>\r\n"
    page += f"<hr><center>{NGINX_VERSION}</center>\r\n</body>\r\n</html>\r\n"
    return page.encode()


_PAGES = {
    404: _error_page("404 Not Found", "404 Not Found"),
    405: _error_page("405 Not Allowed", "405 Not Allowed"),
    # NGX_HTTPS_NO_CERT (496) is sent as status 400 with this page.
    496: _error_page(
        "400 No required SSL certificate was sent", "400 Bad Request", "No required SSL certificate was sent"
    ),
    # NGX_HTTP_TO_HTTPS (497): plain HTTP on an ssl port.
    497: _error_page(
        "400 The plain HTTP request was sent to HTTPS port",
        "400 Bad Request",
        "The plain HTTP request was sent to HTTPS port",
    ),
}
_REASONS = {404: "Not Found", 405: "Not Allowed", 496: "Bad Request", 497: "Bad Request"}


@dataclass(frozen=True, slots=True)
class Directive:
    """One directive: name, arguments, child block (``None`` for a simple directive), line number."""

    name: str
    args: tuple[str, ...]
    block: tuple[Directive, ...] | None
    line: int


_TOKEN = re.compile(r"""\s+|#[^\n]*|"((?:\\.|[^"\\])*)"|'((?:\\.|[^'\\])*)'|([{};])|([^\s{};"'#]+)""")


def parse_nginx_conf(text: str, path: str = CONF_PATH) -> tuple[Directive, ...]:
    """Parse nginx configuration syntax into a directive tree.

    Args:
        text: the configuration.
        path: its file name, for messages.

    Returns:
        The top-level directives.

    Raises:
        NginxConfError: on a syntax error, with nginx's message text.
    """
    tokens: list[tuple[str, bool, int]] = []  # (value, is_punctuation, line)
    pos, line = 0, 1
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:  # an unterminated quote
            raise NginxConfError(
                f'nginx: [emerg] unexpected end of file, expecting ";" or "}}" in {path}:{line}'
            )
        if m.group(1) is not None or m.group(2) is not None:
            raw = m.group(1) if m.group(1) is not None else m.group(2)
            tokens.append((re.sub(r"\\(.)", r"\1", raw), False, line))
        elif m.group(3):
            tokens.append((m.group(3), True, line))
        elif m.group(4):
            tokens.append((m.group(4), False, line))
        line += m.group(0).count("\n")
        pos = m.end()

    def block(i: int, depth: int) -> tuple[tuple[Directive, ...], int]:
        out: list[Directive] = []
        words: list[str] = []
        start_line = 0
        while i < len(tokens):
            value, punct, ln = tokens[i]
            if not punct:
                if not words:
                    start_line = ln
                words.append(value)
                i += 1
            elif value == ";":
                if not words:
                    raise NginxConfError(f'nginx: [emerg] unexpected ";" in {path}:{ln}')
                out.append(Directive(words[0], tuple(words[1:]), None, start_line))
                words = []
                i += 1
            elif value == "{":
                if not words:
                    raise NginxConfError(f'nginx: [emerg] unexpected "{{" in {path}:{ln}')
                children, i = block(i + 1, depth + 1)
                out.append(Directive(words[0], tuple(words[1:]), children, start_line))
                words = []
            else:  # "}"
                if words:
                    raise NginxConfError(f'nginx: [emerg] unexpected "}}" in {path}:{ln}')
                if depth == 0:
                    raise NginxConfError(f'nginx: [emerg] unexpected "}}" in {path}:{ln}')
                return tuple(out), i + 1
        if words or depth:
            expecting = '";" or "}"' if words else '"}"'
            raise NginxConfError(
                f"nginx: [emerg] unexpected end of file, expecting {expecting} in {path}:{line}"
            )
        return tuple(out), i

    top, _ = block(0, 0)
    return top


# Directives accepted (and, unless interpreted below, ignored: they change nothing a learner sees here).
_KNOWN = {
    "main": {
        "user",
        "worker_processes",
        "pid",
        "error_log",
        "events",
        "http",
        "worker_rlimit_nofile",
        "daemon",
        "include",
        "env",
        "load_module",
    },
    "events": {"worker_connections", "use", "multi_accept"},
    "http": {
        "server",
        "log_format",
        "access_log",
        "error_log",
        "include",
        "default_type",
        "sendfile",
        "tcp_nopush",
        "tcp_nodelay",
        "keepalive_timeout",
        "gzip",
        "server_tokens",
        "types",
        "client_max_body_size",
        "index",
        "root",
        "ssl_protocols",
        "ssl_ciphers",
        "ssl_prefer_server_ciphers",
        "ssl_session_cache",
        "ssl_session_timeout",
    },
    "server": {
        "listen",
        "server_name",
        "root",
        "index",
        "ssl_certificate",
        "ssl_certificate_key",
        "ssl_client_certificate",
        "ssl_verify_client",
        "ssl_verify_depth",
        "ssl_protocols",
        "ssl_ciphers",
        "ssl_prefer_server_ciphers",
        "ssl_session_cache",
        "ssl_session_timeout",
        "location",
        "access_log",
        "error_log",
        "keepalive_timeout",
        "server_tokens",
        "error_page",
        "client_max_body_size",
        "default_type",
        "ssl_trusted_certificate",
        "ssl",
    },
    "location": {"root", "index", "try_files", "access_log", "default_type", "alias", "autoindex"},
}


@dataclass(frozen=True, slots=True)
class NginxServer:
    """One ``server {}`` block, resolved.

    Attributes:
        port: the ``listen`` port; ``ssl`` whether it is a TLS port.
        server_names: ``server_name`` values.
        root: document root; index: index file names.
        cert/key: ``ssl_certificate``/``ssl_certificate_key`` paths; client_ca: ``ssl_client_certificate``.
        verify_client: ``ssl_verify_client`` (``off``, ``on``, ``optional``).
        default: ``listen ... default_server``; http2: ``listen ... http2`` (ALPN h2).
    """

    port: int
    ssl: bool
    server_names: tuple[str, ...] = ()
    root: str = "/usr/share/nginx/html"
    index: tuple[str, ...] = ("index.html",)
    cert: str | None = None
    key: str | None = None
    client_ca: str | None = None
    verify_client: str = "off"
    default: bool = False
    http2: bool = False
    locations: Mapping[str, str] = field(default_factory=dict)  # prefix -> root


def _unknown(d: Directive, path: str) -> NginxConfError:
    return NginxConfError(f'nginx: [emerg] unknown directive "{d.name}" in {path}:{d.line}')


def resolve_servers(
    conf: tuple[Directive, ...], path: str = CONF_PATH
) -> tuple[list[NginxServer], str | None]:
    """Interpret the parsed configuration into server blocks and the access-log format.

    Args:
        conf: from :func:`parse_nginx_conf`.
        path: the file name for messages.

    Returns:
        (servers, ``log_format`` template or ``None`` for nginx's ``combined``).

    Raises:
        NginxConfError: what nginx would refuse at start-up, with its text.
    """

    def check(block: tuple[Directive, ...], ctx: str) -> None:
        for d in block:
            if d.name not in _KNOWN[ctx]:
                raise _unknown(d, path)
            if d.block is not None:
                child = d.name if d.name in _KNOWN else None
                if child is None:
                    if d.name == "types":
                        continue
                    raise NginxConfError(
                        f'nginx: [emerg] "{d.name}" directive is not allowed here in {path}:{d.line}'
                    )
                check(d.block, child)

    check(conf, "main")
    http_blocks = [d for d in conf if d.name == "http"]
    if not any(d.name == "events" for d in conf):
        raise NginxConfError('nginx: [emerg] no "events" section in configuration')
    servers: list[NginxServer] = []
    log_format: str | None = None
    for http_d in http_blocks:
        assert http_d.block is not None
        http_root = "/usr/share/nginx/html"
        http_index: tuple[str, ...] = ("index.html",)
        for d in http_d.block:
            if d.name == "log_format" and len(d.args) >= 2:
                log_format = "".join(d.args[1:])
            elif d.name == "root" and d.args:
                http_root = d.args[0]
            elif d.name == "index":
                http_index = d.args
        for s in (d for d in http_d.block if d.name == "server"):
            assert s.block is not None
            vals: dict[str, Any] = {"root": http_root, "index": http_index, "server_names": ()}
            port, is_ssl, default, http2 = 80, False, False, False
            listen_line = s.line
            locations: dict[str, str] = {}
            for d in s.block:
                a = d.args
                if d.name == "listen":
                    if not a:
                        raise NginxConfError(
                            f'nginx: [emerg] invalid number of arguments in "listen" directive '
                            f"in {path}:{d.line}"
                        )
                    addr = a[0].rsplit(":", 1)[-1]
                    if not addr.isdigit():
                        raise NginxConfError(
                            f'nginx: [emerg] invalid port in "{a[0]}" of the "listen" directive '
                            f"in {path}:{d.line}"
                        )
                    port, is_ssl, default = int(addr), "ssl" in a[1:], "default_server" in a[1:]
                    http2 = "http2" in a[1:]
                    listen_line = d.line
                elif d.name == "ssl" and a == ("on",):
                    is_ssl = True
                elif d.name == "server_name":
                    vals["server_names"] = a
                elif d.name == "root":
                    vals["root"] = a[0]
                elif d.name == "index":
                    vals["index"] = a
                elif d.name == "ssl_certificate":
                    vals["cert"] = a[0]
                elif d.name == "ssl_certificate_key":
                    vals["key"] = a[0]
                elif d.name == "ssl_client_certificate":
                    vals["client_ca"] = a[0]
                elif d.name == "ssl_verify_client":
                    if a[0] not in ("on", "off", "optional", "optional_no_ca"):
                        raise NginxConfError(
                            f'nginx: [emerg] invalid value "{a[0]}" in "ssl_verify_client" directive, '
                            f'it must be "on", "off", "optional" or "optional_no_ca" in {path}:{d.line}'
                        )
                    vals["verify_client"] = a[0]
                elif d.name == "location" and d.block is not None:
                    prefix = a[-1] if a else "/"
                    for ld in d.block:
                        if ld.name == "root":
                            locations[prefix] = ld.args[0]
            if is_ssl and "cert" not in vals:
                # ngx_http_ssl_module.c ngx_http_ssl_init
                raise NginxConfError(
                    f'nginx: [emerg] no "ssl_certificate" is defined for the "listen ... ssl" directive in '
                    f"{path}:{listen_line}"
                )
            if vals.get("verify_client", "off") in ("on", "optional") and "client_ca" not in vals:
                raise NginxConfError(
                    f"nginx: [emerg] no ssl_client_certificate for ssl_client_verify in {path}:{s.line}"
                )
            servers.append(
                NginxServer(port=port, ssl=is_ssl, default=default, http2=http2, locations=locations, **vals)
            )
    return servers, log_format


_DEFAULT_CONF = """
events { worker_connections 1024; }
http {
    server { listen 80; server_name localhost; root /usr/share/nginx/html; index index.html index.htm; }
}
"""


def _access_line(template: str | None, req: HttpRequest, status: int, size: int) -> str:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%d/%b/%Y:%H:%M:%S +0000")
    values = {
        "remote_addr": req.client_address[0],
        "remote_user": "-",
        "time_local": now,
        "request": f"{req.method} {req.target} HTTP/{'2.0' if req.http_version == '2' else req.http_version}",
        "status": str(status),
        "body_bytes_sent": str(size),
        "http_referer": req.header("referer", "-"),
        "http_user_agent": req.header("user-agent", "-"),
        "http_x_forwarded_for": req.header("x-forwarded-for", "-"),
    }
    fmt = (
        template
        # nginx's predefined "combined" format
        or '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
        '"$http_referer" "$http_user_agent"'
    )
    return re.sub(r"\$(\w+)", lambda m: values.get(m.group(1), "-"), fmt)


def start_nginx(spec: WorkloadSpec) -> RunningWorkload:
    """Start the nginx stand-in from ``/etc/nginx/nginx.conf`` in ``spec.files`` (or nginx's default).

    Args:
        spec: the container; ``files`` holds the mounted ConfigMap/Secret files.

    Returns:
        The running workload, ports keyed by ``listen`` port; CrashLoopBackOff with nginx's
        ``[emerg]`` message when the configuration or a certificate is rejected.
    """
    log = LogBuffer()
    files = dict(spec.files)
    text = files.get(CONF_PATH)
    try:
        conf_text = text.decode("utf-8") if text is not None else _DEFAULT_CONF
        servers, log_format = resolve_servers(parse_nginx_conf(conf_text))
        contexts = {id(s): _tls_context(s, files, spec) for s in servers if s.ssl}
    except (NginxConfError, UnicodeDecodeError) as exc:
        log.write(str(exc))
        return RunningWorkload(spec, kind="nginx", status="CrashLoopBackOff", message=str(exc), log=log)

    by_port: dict[int, list[NginxServer]] = {}
    for s in servers:
        by_port.setdefault(s.port, []).append(s)

    handles: dict[int, ServerHandle] = {}
    for port, group in by_port.items():
        default = next((s for s in group if s.default), group[0])
        handles[port] = ServerHandle(
            ThreadedTCPServer(0, _connection_handler(port, group, default, contexts, files, log, log_format)),
            f"nginx:{spec.pod_name}:{port}",
        )
    return RunningWorkload(spec, kind="nginx", servers=handles, log=log)


def _tls_context(server: NginxServer, files: Mapping[str, bytes], spec: WorkloadSpec) -> ssl.SSLContext:
    def need(path: str, what: str) -> bytes:
        if path not in files:
            raise NginxConfError(
                f'nginx: [emerg] cannot load {what} "{path}": BIO_new_file() failed '
                f"(SSL: error:02001002:system library:fopen:No such file or directory:"
                f"fopen('{path}','r') error:2006D080:BIO routines:BIO_new_file:no such file)"
            )
        return files[path]

    assert server.cert is not None
    cert = need(server.cert, "certificate")
    key = need(server.key or server.cert, "certificate key")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # The ssl module loads keys only from files: write them in the workload's private dir (key mode
    # 0600), load, and remove them again so no key stays on disk.
    temp = tempfile.TemporaryDirectory(prefix="gatewaykit-nginx-") if spec.work_dir is None else None
    work = pathlib.Path(temp.name) if temp is not None else spec.work_dir
    assert work is not None
    work.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = work / f"nginx-{server.port}-cert.pem", work / f"nginx-{server.port}-key.pem"
    cert_file.write_bytes(cert)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    try:
        ctx.load_cert_chain(cert_file, key_file)
    except ssl.SSLError as exc:
        raise NginxConfError(
            f'nginx: [emerg] SSL_CTX_use_PrivateKey_file("{server.key}") failed ({exc.reason or exc})'
        ) from exc
    finally:
        key_file.unlink(missing_ok=True)
        cert_file.unlink(missing_ok=True)
        if temp is not None:
            temp.cleanup()
    # nginx's ALPN callback offers h2 only with `listen ... http2`; the tasks' `listen 443 ssl` is
    # HTTP/1.1 only.
    ctx.set_alpn_protocols(["h2", "http/1.1"] if server.http2 else ["http/1.1"])
    if server.verify_client != "off":
        assert server.client_ca is not None
        ca = need(server.client_ca, "client certificate")
        try:
            ctx.load_verify_locations(cadata=ca.decode("ascii"))
        except (ssl.SSLError, ValueError) as exc:
            raise NginxConfError(
                f'nginx: [emerg] SSL_load_client_CA_file("{server.client_ca}") failed'
            ) from exc
        # nginx asks for a certificate but lets the handshake finish without one; it answers the
        # request with "400 No required SSL certificate was sent" (NGX_HTTPS_NO_CERT) instead.
        ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx


def _connection_handler(
    port: int,
    group: list[NginxServer],
    default: NginxServer,
    contexts: Mapping[int, ssl.SSLContext],
    files: Mapping[str, bytes],
    log: LogBuffer,
    log_format: str | None,
) -> Any:
    by_name = {n.lower(): s for s in group for n in s.server_names}
    tls = contexts.get(id(default)) if default.ssl else None

    if tls is not None and len(group) > 1:
        # SNI picks the server block whose certificate is used (nginx's servername callback).
        def sni(sock: ssl.SSLObject | ssl.SSLSocket, name: str | None, _ctx: ssl.SSLContext) -> None:
            server = by_name.get((name or "").lower(), default)
            if server.ssl and id(server) in contexts:
                sock.context = contexts[id(server)]

        tls.sni_callback = sni

    def handler(req: HttpRequest) -> HttpResponse:
        host = req.header("host").rsplit(":", 1)[0].lower() if req.header("host") else ""
        server = by_name.get(host, default)
        resp = _serve_request(req, server, files)
        sent = 0 if req.method == "HEAD" else len(resp.body)
        log.write(_access_line(log_format, req, resp.status, sent))
        return resp

    def plain_to_tls(sock: socket.socket) -> None:
        # nginx reads the plain request and answers 400 "The plain HTTP request was sent to HTTPS port".
        try:
            sock.recv(65536)
            body = _PAGES[497]
            head = (
                f"HTTP/1.1 400 Bad Request\r\nServer: {NGINX_VERSION}\r\nDate: {http_date()}\r\n"
                f"Content-Type: text/html\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            sock.sendall(head.encode() + body)
        except OSError:
            pass

    def handle(conn: socket.socket, addr: Any) -> None:
        serve_connection(
            conn,
            handler,
            server_port=port,
            tls=tls,
            on_plain_http_to_tls=plain_to_tls if tls is not None else None,
            client_address=(str(addr[0]), int(addr[1])),
        )

    return handle


def _serve_request(req: HttpRequest, server: NginxServer, files: Mapping[str, bytes]) -> HttpResponse:
    if req.scheme == "https" and server.verify_client == "on" and req.peer_cert is None:
        return _page(496, close=True)
    if req.method not in ("GET", "HEAD"):
        return _page(405)
    path = posixpath.normpath("/" + req.target.split("?", 1)[0].lstrip("/"))
    root = server.root
    for prefix, loc_root in sorted(server.locations.items(), key=lambda kv: -len(kv[0])):
        if path.startswith(prefix):
            root = loc_root
            break
    candidates = [path] if not req.target.split("?", 1)[0].endswith("/") else []
    candidates += [posixpath.join(path, i) for i in server.index]
    for cand in candidates:
        full = posixpath.normpath(root.rstrip("/") + cand)
        body, mtime = _file(full, files)
        if body is not None:
            ctype = mimetypes.guess_type(full)[0] or "application/octet-stream"
            etag = f'"{int(mtime.timestamp()):x}-{len(body):x}"'
            return HttpResponse(
                200,
                (
                    ("Server", NGINX_VERSION),
                    ("Date", http_date()),
                    ("Content-Type", ctype),
                    ("Content-Length", str(len(body))),
                    ("Last-Modified", email.utils.format_datetime(mtime, usegmt=True)),
                    ("Connection", "keep-alive"),
                    ("ETag", etag),
                    ("Accept-Ranges", "bytes"),
                ),
                body,
                reason="OK",
            )
    return _page(404)


def _file(full: str, files: Mapping[str, bytes]) -> tuple[bytes | None, datetime.datetime]:
    if full in files:
        return files[full], _WELCOME_MTIME
    if full == "/usr/share/nginx/html/index.html":
        return WELCOME_PAGE, _WELCOME_MTIME
    return None, _WELCOME_MTIME


def _page(code: int, close: bool = False) -> HttpResponse:
    body = _PAGES[code]
    status = 400 if code in (496, 497) else code
    headers = [("Server", NGINX_VERSION), ("Date", http_date()), ("Content-Type", "text/html")]
    headers.append(("Content-Length", str(len(body))))
    headers.append(("Connection", "close" if close else "keep-alive"))
    return HttpResponse(status, tuple(headers), body, reason=_REASONS[code], close=close)
