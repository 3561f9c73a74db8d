"""The nginx stand-in with the docs' nginx.conf files, over real TLS, hit with the real curl."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest
from wl_helpers import curl, curl_bytes, port_is_closed

from gatewaykit.certs import CertKey, istio_docs_certs
from gatewaykit.workloads import RunningWorkload, WorkloadSpec, start_workload
from gatewaykit.workloads.nginx import WELCOME_PAGE

# ingress-sni-passthrough task, ConfigMap nginx-configmap (verbatim).
SNI_CONF = b"""events {
}

http {
  log_format main '$remote_addr - $remote_user [$time_local]  $status '
  '"$request" $body_bytes_sent "$http_referer" '
  '"$http_user_agent" "$http_x_forwarded_for"';
  access_log /var/log/nginx/access.log main;
  error_log  /var/log/nginx/error.log;

  server {
    listen 443 ssl;

    root /usr/share/nginx/html;
    index index.html;

    server_name nginx.example.com;
    ssl_certificate /etc/nginx-server-certs/tls.crt;
    ssl_certificate_key /etc/nginx-server-certs/tls.key;
  }
}
"""

# egress-gateway-tls-origination task (mutual TLS variant), ConfigMap nginx-configmap.
MTLS_CONF = b"""events {
}

http {
  log_format main '$remote_addr - $remote_user [$time_local]  $status '
  '"$request" $body_bytes_sent "$http_referer" '
  '"$http_user_agent" "$http_x_forwarded_for"';
  access_log /var/log/nginx/access.log main;
  error_log  /var/log/nginx/error.log;

  server {
    listen 443 ssl;

    root /usr/share/nginx/html;
    index index.html;

    server_name my-nginx.mesh-external.svc.cluster.local;
    ssl_certificate /etc/nginx-server-certs/tls.crt;
    ssl_certificate_key /etc/nginx-server-certs/tls.key;
    ssl_client_certificate /etc/nginx-ca-certs/example.com.crt;
    ssl_verify_client on;
  }
}
"""

NO_CERT_PAGE = (
    b"<html>\r\n<head><title>400 No required SSL certificate was sent</title></head>\r\n"
    b'<body bgcolor="white">\r\n<center><h1>400 Bad Request</h1></center>\r\n'
    b"<center>No required SSL certificate was sent</center>\r\n"
    b"<hr><center>nginx/1.15.2</center>\r\n</body>\r\n</html>\r\n"
)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[pathlib.Path, dict[str, CertKey]]:
    d = tmp_path_factory.mktemp("nginx-certs")
    return d, istio_docs_certs(d)


def _nginx(conf: bytes, server: CertKey, ca: CertKey | None, work: pathlib.Path) -> RunningWorkload:
    files = {
        "/etc/nginx/nginx.conf": conf,
        "/etc/nginx-server-certs/tls.crt": server.cert_pem,
        "/etc/nginx-server-certs/tls.key": server.key_pem,
    }
    if ca is not None:
        files["/etc/nginx-ca-certs/example.com.crt"] = ca.cert_pem
    return start_workload(
        WorkloadSpec(
            "my-nginx-6c9d7b9f4d-x7k2p", "default", "nginx", ports=(443,), files=files, work_dir=work
        )
    )


@pytest.fixture
def sni_nginx(
    certs: tuple[pathlib.Path, dict[str, CertKey]], tmp_path: pathlib.Path
) -> Iterator[RunningWorkload]:
    _, c = certs
    w = _nginx(SNI_CONF, c["example_certs/nginx.example.com"], None, tmp_path)
    yield w
    w.close()


@pytest.fixture
def mtls_nginx(
    certs: tuple[pathlib.Path, dict[str, CertKey]], tmp_path: pathlib.Path
) -> Iterator[RunningWorkload]:
    _, c = certs
    w = _nginx(MTLS_CONF, c["my-nginx.mesh-external.svc.cluster.local"], c["example.com"], tmp_path)
    yield w
    w.close()


def test_sni_passthrough_welcome_page(
    sni_nginx: RunningWorkload, certs: tuple[pathlib.Path, dict[str, CertKey]]
) -> None:
    d, _ = certs
    assert sni_nginx.status == "Running", sni_nginx.message
    port = sni_nginx.ports[443]
    # The docs: curl -v --resolve "nginx.example.com:$SECURE_INGRESS_PORT:$INGRESS_HOST"
    #   --cacert example_certs/example.com.crt "https://nginx.example.com:$SECURE_INGRESS_PORT"
    r = curl_bytes(
        "-v",
        "--resolve",
        f"nginx.example.com:{port}:127.0.0.1",
        "--cacert",
        str(d / "example_certs/example.com.crt"),
        f"https://nginx.example.com:{port}",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == WELCOME_PAGE and len(WELCOME_PAGE) == 612
    err = r.stderr.decode()
    assert "subject: CN=nginx.example.com; O=some organization" in err
    assert "< HTTP/1.1 200 OK" in err and "< Server: nginx/1.15.2" in err
    assert "< Content-Type: text/html" in err and "< Content-Length: 612" in err
    assert "< Accept-Ranges: bytes" in err and "< ETag: " in err
    # nginx's access log, in the ConfigMap's `main` format.
    assert '200 "GET / HTTP/1.1" 612 "-" "curl/7.88.1" "-"' in sni_nginx.logs()


def test_not_found_and_plain_http_pages(
    sni_nginx: RunningWorkload, certs: tuple[pathlib.Path, dict[str, CertKey]]
) -> None:
    d, _ = certs
    port = sni_nginx.ports[443]
    r = curl_bytes(
        "-s",
        "-i",
        "--resolve",
        f"nginx.example.com:{port}:127.0.0.1",
        "--cacert",
        str(d / "example_certs/example.com.crt"),
        f"https://nginx.example.com:{port}/missing",
    )
    assert r.stdout.startswith(b"HTTP/1.1 404 Not Found\r\nServer: nginx/1.15.2\r\n")
    assert r.stdout.endswith(
        b"\r\n\r\n<html>\r\n<head><title>404 Not Found</title></head>\r\n"
        b'<body bgcolor="white">\r\n<center><h1>404 Not Found</h1></center>\r\n'
        b"<hr><center>nginx/1.15.2</center>\r\n</body>\r\n</html>\r\n"
    )
    plain = curl("-s", "-i", f"http://127.0.0.1:{port}/")
    assert plain.stdout.startswith("HTTP/1.1 400 Bad Request")
    assert "<center>The plain HTTP request was sent to HTTPS port</center>" in plain.stdout


def test_wrong_ca_is_refused_by_curl(
    sni_nginx: RunningWorkload, certs: tuple[pathlib.Path, dict[str, CertKey]]
) -> None:
    d, _ = certs
    port = sni_nginx.ports[443]
    r = curl(
        "-sS",
        "--resolve",
        f"nginx.example.com:{port}:127.0.0.1",
        "--cacert",
        str(d / "example_certs1/example.com.crt"),
        f"https://nginx.example.com:{port}",
    )
    assert r.returncode in (35, 60) and r.stdout == ""


def test_verify_client_without_certificate_is_400(mtls_nginx: RunningWorkload) -> None:
    assert mtls_nginx.status == "Running", mtls_nginx.message
    port = mtls_nginx.ports[443]
    # The docs: curl -k https://my-nginx.mesh-external.svc.cluster.local -> the 400 page.
    r = curl_bytes("-sk", "-i", f"https://127.0.0.1:{port}")
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0] == b"HTTP/1.1 400 Bad Request"
    assert b"Connection: close" in head and b"Server: nginx/1.15.2" in head
    assert body == NO_CERT_PAGE


def test_verify_client_with_certificate_is_served(
    mtls_nginx: RunningWorkload, certs: tuple[pathlib.Path, dict[str, CertKey]]
) -> None:
    d, _ = certs
    port = mtls_nginx.ports[443]
    host = "my-nginx.mesh-external.svc.cluster.local"
    r = curl_bytes(
        "-sS",
        "--resolve",
        f"{host}:{port}:127.0.0.1",
        "--cacert",
        str(d / "example.com.crt"),
        "--cert",
        str(d / "client.example.com.crt"),
        "--key",
        str(d / "client.example.com.key"),
        f"https://{host}:{port}/",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == WELCOME_PAGE


def test_default_conf_serves_port_80(tmp_path: pathlib.Path, no_thread_leak: None) -> None:
    w = start_workload(WorkloadSpec("nginx-1", "default", "nginx:1.15.2", ports=(80,)))
    try:
        r = curl_bytes("-s", f"http://127.0.0.1:{w.ports[80]}/")
        assert r.stdout == WELCOME_PAGE
    finally:
        w.close()
    assert port_is_closed(w.ports[80])


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        (
            b"events {}\nhttp {\n  server {\n    lisen 443 ssl;\n  }\n}\n",
            'nginx: [emerg] unknown directive "lisen" in /etc/nginx/nginx.conf:4',
        ),
        (
            b"events {}\nhttp {\n  server {\n    listen 443 ssl;\n  }\n",
            'nginx: [emerg] unexpected end of file, expecting "}" in /etc/nginx/nginx.conf:6',
        ),
        (
            b"events {}\nhttp {\n  server {\n    listen 443 ssl;\n    server_name a\n  }\n}\n",
            'nginx: [emerg] unexpected "}" in /etc/nginx/nginx.conf:6',
        ),
        (
            b"events {}\nhttp {\n  server {\n    listen 443 ssl;\n  }\n}\n",
            'nginx: [emerg] no "ssl_certificate" is defined for the "listen ... ssl" directive in '
            "/etc/nginx/nginx.conf:4",
        ),
        (
            b"events {}\nhttp {\n  server {\n    listen 443 ssl;\n    ssl_certificate /etc/certs/tls.crt;\n"
            b"    ssl_certificate_key /etc/certs/tls.key;\n  }\n}\n",
            'nginx: [emerg] cannot load certificate "/etc/certs/tls.crt"',
        ),
    ],
)
def test_bad_conf_is_crash_loop_back_off(conf: bytes, message: str, tmp_path: pathlib.Path) -> None:
    w = start_workload(
        WorkloadSpec(
            "nginx-1",
            "default",
            "nginx",
            ports=(443,),
            files={"/etc/nginx/nginx.conf": conf},
            work_dir=tmp_path,
        )
    )
    assert w.status == "CrashLoopBackOff"
    assert w.message.startswith(message), w.message
    assert w.ports == {}
    assert message in w.logs()


def test_keys_are_not_left_on_disk(
    certs: tuple[pathlib.Path, dict[str, CertKey]], tmp_path: pathlib.Path
) -> None:
    _, c = certs
    w = _nginx(SNI_CONF, c["example_certs/nginx.example.com"], None, tmp_path)
    try:
        assert w.status == "Running"
        assert not list(tmp_path.glob("*key*"))
    finally:
        w.close()


def test_two_server_blocks_are_chosen_by_sni(
    certs: tuple[pathlib.Path, dict[str, CertKey]], tmp_path: pathlib.Path
) -> None:
    d, c = certs
    conf = b"""events {}
http {
  server {
    listen 443 ssl;
    server_name nginx.example.com;
    ssl_certificate /certs/nginx.crt;
    ssl_certificate_key /certs/nginx.key;
  }
  server {
    listen 443 ssl;
    server_name httpbin.example.com;
    root /srv/www;
    ssl_certificate /certs/httpbin.crt;
    ssl_certificate_key /certs/httpbin.key;
  }
}
"""
    nginx, httpbin = c["example_certs/nginx.example.com"], c["example_certs1/httpbin.example.com"]
    files = {
        "/etc/nginx/nginx.conf": conf,
        "/certs/nginx.crt": nginx.cert_pem,
        "/certs/nginx.key": nginx.key_pem,
        "/certs/httpbin.crt": httpbin.cert_pem,
        "/certs/httpbin.key": httpbin.key_pem,
        "/srv/www/index.html": b"httpbin site\n",
    }
    w = start_workload(WorkloadSpec("n", "default", "nginx", ports=(443,), files=files, work_dir=tmp_path))
    try:
        port = w.ports[443]
        a = curl(
            "-sS",
            "--resolve",
            f"nginx.example.com:{port}:127.0.0.1",
            "--cacert",
            str(d / "example_certs/example.com.crt"),
            f"https://nginx.example.com:{port}/",
        )
        assert a.returncode == 0 and a.stdout.startswith("<!DOCTYPE html>"), a.stderr
        b = curl(
            "-sS",
            "--resolve",
            f"httpbin.example.com:{port}:127.0.0.1",
            "--cacert",
            str(d / "example_certs1/example.com.crt"),
            f"https://httpbin.example.com:{port}/",
        )
        assert (b.returncode, b.stdout) == (0, "httpbin site\n"), b.stderr
    finally:
        w.close()


def test_declared_port_without_listener_refuses(
    certs: tuple[pathlib.Path, dict[str, CertKey]], tmp_path: pathlib.Path
) -> None:
    _, c = certs
    w = _nginx(SNI_CONF, c["example_certs/nginx.example.com"], None, tmp_path)
    w.close()
    w = start_workload(
        WorkloadSpec("n", "default", "nginx", ports=(443, 80), files=dict(w.spec.files), work_dir=tmp_path)
    )
    try:
        assert set(w.ports) == {443, 80}
        assert curl("-sS", f"http://127.0.0.1:{w.ports[80]}/").returncode == 7  # connection refused
    finally:
        w.close()


def test_listen_http2_offers_h2_and_no_work_dir_leaves_nothing(
    certs: tuple[pathlib.Path, dict[str, CertKey]],
) -> None:
    d, c = certs
    conf = SNI_CONF.replace(b"listen 443 ssl;", b"listen 443 ssl http2;")
    n = c["example_certs/nginx.example.com"]
    files = {
        "/etc/nginx/nginx.conf": conf,
        "/etc/nginx-server-certs/tls.crt": n.cert_pem,
        "/etc/nginx-server-certs/tls.key": n.key_pem,
    }
    w = start_workload(WorkloadSpec("n", "default", "nginx", ports=(443,), files=files))
    try:
        port = w.ports[443]
        r = curl(
            "-sS",
            "-I",
            "--resolve",
            f"nginx.example.com:{port}:127.0.0.1",
            "--cacert",
            str(d / "example_certs/example.com.crt"),
            f"https://nginx.example.com:{port}/",
        )
        assert r.stdout.splitlines()[0] == "HTTP/2 200 "
        assert "server: nginx/1.15.2" in r.stdout and "content-length: 612" in r.stdout
    finally:
        w.close()


def test_nginx_conf_error_is_a_sandbox_error_with_nginx_text() -> None:
    # One error tree: the stand-in's config rejection is a SandboxError (a GatewayKitError).
    from gatewaykit.errors import GatewayKitError, SandboxError
    from gatewaykit.workloads.nginx import NginxConfError, parse_nginx_conf, resolve_servers

    with pytest.raises(NginxConfError) as err:
        resolve_servers(parse_nginx_conf("events {}\nhttp {\n  server {\n    lisen 80;\n  }\n}\n"))
    assert isinstance(err.value, SandboxError) and isinstance(err.value, GatewayKitError)
    assert str(err.value) == 'nginx: [emerg] unknown directive "lisen" in /etc/nginx/nginx.conf:4'
