"""TLS through the data plane with real curl: SNI chains, HTTP/2 via ALPN, mutual TLS, passthrough."""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import ssl
import subprocess
import time

from dataplane_support import (
    EGRESS,
    EGRESS_GW,
    GW_IP,
    NGINX,
    PROXY,
    Certs,
    Gateway,
    Pem,
    Upstreams,
    build_egress_proxy,
    build_proxy,
    curl,
)

from gatewaykit.dataplane import AddressBook, DataPlane, MeshCA


def _https(gw: Gateway, host: str, path: str, *extra: str) -> list[str]:
    return [
        "--resolve",
        f"{host}:{gw.https}:127.0.0.1",
        "--cacert",
        str(gw.certs.ca.cert_path),
        *extra,
        f"https://{host}:{gw.https}{path}",
    ]


def test_http2_via_alpn_prints_http2_418(gateway: Gateway) -> None:
    r = curl("-s", "-i", *_https(gateway, "httpbin.example.com", "/status/418"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("HTTP/2 418 \r\n")  # docs/behaviour.md §1.5: no phrase over HTTP/2
    assert "server: istio-envoy\r\n" in r.stdout
    assert "x-envoy-upstream-service-time: " in r.stdout
    assert '"GET /status/418 HTTP/2" 418 - via_upstream' in gateway.log()
    assert " httpbin.example.com status" in gateway.log()  # REQUESTED_SERVER_NAME, ROUTE_NAME


def test_http11_over_tls_and_forwarded_proto(gateway: Gateway) -> None:
    r = curl("-s", "-i", "--http1.1", *_https(gateway, "httpbin.example.com", "/headers"))
    assert r.stdout.startswith("HTTP/1.1 200 OK\r\n")
    seen = json.loads(r.stdout.split("\r\n\r\n", 1)[1])["headers"]
    assert seen["X-Forwarded-Proto"] == "https"


def test_sni_selects_the_certificate(gateway: Gateway) -> None:
    a = curl("-s", "-v", "-o", "/dev/null", *_https(gateway, "httpbin.example.com", "/status/200"))
    b = curl("-s", "-v", "-o", "/dev/null", *_https(gateway, "helloworld.example.com", "/status/200"))
    assert a.returncode == 0 and b.returncode == 0
    assert "subject: CN=httpbin.example.com" in a.stderr
    assert "subject: CN=helloworld.example.com" in b.stderr


def test_sni_chain_has_its_own_routes(gateway: Gateway) -> None:
    # SNI helloworld, Host httpbin: the helloworld server's route config has no such host → 404
    # (docs/behaviour.md §4.4).
    r = curl(
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-HHost:httpbin.example.com",
        *_https(gateway, "helloworld.example.com", "/status/200"),
    )
    assert r.stdout == "404"


def test_unknown_sni_closes_during_handshake(gateway: Gateway) -> None:
    r = curl("-s", "-S", *_https(gateway, "other.example.com", "/status/200"))
    assert r.returncode == 35
    assert "SSL_ERROR_SYSCALL" in r.stderr
    assert "filter_chain_not_found" in gateway.log()


def test_missing_credential_fails_the_handshake(gateway: Gateway) -> None:
    r = curl("-s", "-S", *_https(gateway, "missing.example.com", "/status/200"))
    assert r.returncode == 35


def test_mutual_requires_a_client_certificate(gateway: Gateway) -> None:
    r = curl("-s", "-S", "-v", *_https(gateway, "mutual.example.com", "/status/200"))
    assert r.returncode == 56
    assert "alert certificate required" in r.stderr  # docs/behaviour.md §1.6 [DOC-TEST]
    c = gateway.certs.client
    ok = curl(
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--cert",
        str(c.cert_path),
        "--key",
        str(c.key_path),
        *_https(gateway, "mutual.example.com", "/status/200"),
    )
    assert ok.returncode == 0 and ok.stdout == "200"


def test_mutual_rejects_an_untrusted_client_certificate(gateway: Gateway) -> None:
    # httpbin2 is signed by another CA: the gateway cannot verify it.
    c = gateway.certs.httpbin2
    r = curl(
        "-s",
        "-o",
        "/dev/null",
        "--cert",
        str(c.cert_path),
        "--key",
        str(c.key_path),
        *_https(gateway, "mutual.example.com", "/status/200"),
    )
    assert r.returncode != 0


def test_optional_mutual(gateway: Gateway) -> None:
    c = gateway.certs.client
    without = curl(
        "-s", "-o", "/dev/null", "-w", "%{http_code}", *_https(gateway, "optional.example.com", "/")
    )
    with_cert = curl(
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--cert",
        str(c.cert_path),
        "--key",
        str(c.key_path),
        *_https(gateway, "optional.example.com", "/"),
    )
    assert (without.stdout, with_cert.stdout) == ("200", "200")
    bad = gateway.certs.httpbin2
    rejected = curl(
        "-s",
        "-o",
        "/dev/null",
        "--cert",
        str(bad.cert_path),
        "--key",
        str(bad.key_path),
        *_https(gateway, "optional.example.com", "/"),
    )
    assert rejected.returncode != 0


def test_passthrough_forwards_the_raw_tls_stream(gateway: Gateway) -> None:
    r = curl("-s", "-i", "-v", *_https(gateway, "nginx.example.com", "/"))
    assert r.returncode == 0, r.stderr
    assert "subject: CN=nginx.example.com" in r.stderr  # the backend's own certificate
    # not parsed or rewritten by the gateway (docs/behaviour.md §1.1)
    assert "Server: nginx/1.15.2" in r.stdout
    assert "Welcome to nginx!" in r.stdout
    for _ in range(50):
        lines = [ln for ln in gateway.log().splitlines() if NGINX in ln]
        if lines:
            break
        time.sleep(0.02)
    assert lines and lines[-1].split("] ", 1)[1].startswith('"- - -" 0 - - - "-" ')
    assert f'"10.244.0.9:443" {NGINX} {GW_IP}:' in lines[-1]
    assert lines[-1].endswith(" nginx.example.com -")


def test_plain_http_to_tls_port_is_reset(gateway: Gateway) -> None:
    r = curl("-s", "-S", "-HHost:httpbin.example.com", f"http://127.0.0.1:{gateway.https}/status/200")
    assert r.returncode in (52, 56)


def test_garbage_on_tls_port_closes_the_connection(gateway: Gateway) -> None:
    with socket.create_connection(("127.0.0.1", gateway.https), timeout=5) as s:
        s.sendall(b"\x00\x01garbage\r\n\r\n" * 10)
        try:
            data = s.recv(100)
        except ConnectionResetError:
            data = b""
    assert data == b""


def test_secret_rotation_takes_effect_on_new_connections(gateway: Gateway) -> None:
    certs = gateway.certs
    before = curl("-s", "-o", "/dev/null", "-w", "%{http_code}", *_https(gateway, "httpbin.example.com", "/"))
    assert before.stdout == "200"
    ports = dict(gateway.dp.ports)
    try:
        after = gateway.dp.update({PROXY: build_proxy(certs, httpbin_cert=certs.httpbin2)})
        assert after == ports  # unchanged listeners keep their ports
        old_ca = curl("-s", *_https(gateway, "httpbin.example.com", "/"))
        # The new certificate is signed by another CA with the same subject (like the docs'
        # example_certs2): verification fails (OpenSSL curl: exit 35 or 60 depending on key type).
        assert old_ca.returncode in (35, 60)
        new = curl(
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--resolve",
            f"httpbin.example.com:{gateway.https}:127.0.0.1",
            "--cacert",
            str(certs.ca2.cert_path),
            f"https://httpbin.example.com:{gateway.https}/",
        )
        assert new.stdout == "200"
    finally:
        gateway.dp.update({PROXY: build_proxy(certs)})


def test_upstream_tls_origination(gateway: Gateway) -> None:
    r = curl("-s", "-HHost:httpbin.example.com", f"http://127.0.0.1:{gateway.http}/origin/headers")
    assert r.returncode == 0
    assert json.loads(r.stdout)["path"] == "/headers"


def test_tcp_proxy_echo(gateway: Gateway) -> None:
    with socket.create_connection(("127.0.0.1", gateway.tcp), timeout=5) as s:
        s.sendall(b"hello world\n")
        s.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    assert data == b"one hello world\n"
    for _ in range(50):
        if "tcp-echo" in gateway.log():
            break
        time.sleep(0.02)
    line = [ln for ln in gateway.log().splitlines() if "tcp-echo" in ln][-1]
    assert '"- - -" 0 - - - "-" 12 16 ' in line


def test_istio_mutual_between_two_gateways(certs: Certs, upstreams: Upstreams) -> None:
    # ingress --ISTIO_MUTUAL (mesh CA certificates on both sides)--> egress gateway --> httpbin
    book = AddressBook(dict(upstreams.book.items()))
    with DataPlane(book, mesh_ca=MeshCA.generate()) as dp:
        ports = dp.update(
            {PROXY: build_proxy(certs), EGRESS: build_egress_proxy()},
            pod_ips={PROXY: GW_IP, EGRESS: "10.244.0.6"},
        )
        book.add("10.244.0.6", 8443, ports[(EGRESS, 8443)])
        r = curl("-s", "-HHost:httpbin.example.com", f"http://127.0.0.1:{ports[(PROXY, 8080)]}/mesh/headers")
        assert r.returncode == 0
        seen = json.loads(r.stdout)
        assert seen["path"] == "/headers"
        assert seen["headers"]["X-Forwarded-Proto"] == "https"  # the hop into the egress gateway was TLS
        assert '"GET /headers HTTP/1.1" 200 - via_upstream' in dp.logs(EGRESS)
        assert f"{EGRESS_GW} " in dp.logs(PROXY)
        # a client without a mesh certificate is refused by the ISTIO_MUTUAL server
        direct = curl("-s", "-k", f"https://127.0.0.1:{ports[(EGRESS, 8443)]}/headers")
        assert direct.returncode in (35, 56)


def test_istio_mutual_without_mesh_ca_fails_closed(certs: Certs, upstreams: Upstreams) -> None:
    with DataPlane(upstreams.book) as dp:
        ports = dp.update({EGRESS: build_egress_proxy()})
        r = curl("-s", "-k", f"https://127.0.0.1:{ports[(EGRESS, 8443)]}/headers")
        assert r.returncode == 35


def test_http2_large_body_and_post(gateway: Gateway) -> None:
    r = curl("-s", *_https(gateway, "httpbin.example.com", "/big"))
    assert r.returncode == 0 and len(r.stdout) == 300_000
    body = "k=" + "v" * 100_000
    r = curl("-s", "--data-binary", body, *_https(gateway, "httpbin.example.com", "/post"))
    assert json.loads(r.stdout)["data"] == body


def test_upstream_tls_verification_failures(gateway: Gateway) -> None:
    expected = (
        "upstream connect error or disconnect/reset before headers. retried and the latest reset reason: "
        "remote connection failure, transport failure reason: "
        "TLS_error:|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:TLS_error_end"
    )
    for path in ("/badca/headers", "/badsan/headers"):  # wrong CA; right CA but SAN mismatch
        r = curl("-s", "-i", "-HHost:httpbin.example.com", f"http://127.0.0.1:{gateway.http}{path}")
        assert r.stdout.startswith("HTTP/1.1 503 Service Unavailable\r\n")
        assert r.stdout.split("\r\n\r\n", 1)[1] == expected
    assert '"TLS_error:|268435581:SSL_routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:TLS_error_end"' in (
        gateway.log()
    )


def test_gateway_subject_alt_names_restrict_client_certificates(gateway: Gateway) -> None:
    def call(pem: Pem) -> subprocess.CompletedProcess[str]:
        return curl(
            "-s", "-k", "-o", "/dev/null", "-w", "%{http_code}", "--cert", str(pem.cert_path), "--key",
            str(pem.key_path), *_https(gateway, "sanmutual.example.com", "/status/200"),
        )  # fmt: skip

    assert call(gateway.certs.client).stdout == "200"
    # same CA, but SAN helloworld.example.com is not in subjectAltNames
    assert call(gateway.certs.helloworld).returncode != 0


def test_tls_terminated_tcp_proxy(gateway: Gateway) -> None:
    ctx = ssl.create_default_context(cafile=str(gateway.certs.ca.cert_path))
    ctx.check_hostname = False  # the chain serves the helloworld certificate for echo.example.com
    with socket.create_connection(("127.0.0.1", gateway.https), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="echo.example.com") as s:
            s.sendall(b"over tls\n")
            data = b""
            while not data.endswith(b"\n"):
                data += s.recv(100)
    assert data == b"one over tls\n"


def test_client_hello_split_into_single_bytes(gateway: Gateway) -> None:
    # The TLS inspector must reassemble a ClientHello that arrives one byte at a time.
    ctx = ssl.create_default_context(cafile=str(gateway.certs.ca.cert_path))
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname="httpbin.example.com")
    with socket.create_connection(("127.0.0.1", gateway.https), timeout=5) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        first = True
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                out = outgoing.read()
                if first:
                    for i in range(len(out)):
                        s.sendall(out[i : i + 1])
                    first = False
                else:
                    s.sendall(out)
                incoming.write(s.recv(65536))
        s.sendall(outgoing.read())
        subject = dict(item[0] for item in tls.getpeercert()["subject"])
        assert subject["commonName"] == "httpbin.example.com"
        tls.write(b"GET /status/200 HTTP/1.1\r\nHost: httpbin.example.com\r\nConnection: close\r\n\r\n")
        s.sendall(outgoing.read())
        answer = b""
        while not answer.startswith(b"HTTP/1.1 200 OK"):
            data = s.recv(65536)
            assert data, answer
            incoming.write(data)
            with contextlib.suppress(ssl.SSLWantReadError):
                answer += tls.read(65536)


def test_client_certificate_is_forwarded_in_xfcc(gateway: Gateway) -> None:
    # SANITIZE_SET with Istio's gateway details {cert, subject, uri, dns} (Envoy
    # conn_manager_utility.cc mutateXfccRequestHeader; order Cert, Subject, URI, DNS).
    from cryptography import x509

    c = gateway.certs.client
    spoofed = ["-H", "X-Forwarded-Client-Cert: By=evil"]  # replaced, not appended (SANITIZE_SET)
    r = curl("-s", "--cert", str(c.cert_path), "--key", str(c.key_path), *spoofed,
             *_https(gateway, "mutual.example.com", "/headers"))  # fmt: skip
    xfcc = json.loads(r.stdout)["headers"]["X-Forwarded-Client-Cert"]
    cert = x509.load_pem_x509_certificate(c.cert)
    der = ssl.PEM_cert_to_DER_cert(c.cert.decode())
    pem = ssl.DER_cert_to_PEM_cert(der).replace("\n", "%0A").replace(" ", "%20")
    pem = pem.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
    assert xfcc == (
        f'Hash={hashlib.sha256(der).hexdigest()};Cert="{pem}";Subject="{cert.subject.rfc4514_string()}";'
        "URI=;DNS=client.example.com"
    )


def test_client_supplied_xfcc_is_removed_without_mtls(gateway: Gateway) -> None:
    r = curl("-s", "-H", "X-Forwarded-Client-Cert: By=spiffe://evil;Hash=00",
             *_https(gateway, "httpbin.example.com", "/headers"))  # fmt: skip
    assert "X-Forwarded-Client-Cert" not in json.loads(r.stdout)["headers"]
