"""The Istio docs' certificates made by gatewaykit.certs, checked with real openssl and curl."""

from __future__ import annotations

import pathlib
import socket
import ssl
import stat
import subprocess
import threading
from collections.abc import Iterator

import pytest

from gatewaykit.certs import CertKey, istio_docs_certs, make_ca, make_cert


@pytest.fixture(scope="module")
def certs_dir(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    d = tmp_path_factory.mktemp("certs")
    istio_docs_certs(d)
    return d


def _openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True)


def test_files_are_named_like_the_docs_and_keys_are_private(certs_dir: pathlib.Path) -> None:
    # The secure-ingress task's `ls example_cert*` listing.
    assert sorted(p.name for p in (certs_dir / "example_certs1").iterdir()) == [
        "client.example.com.crt",
        "client.example.com.csr",
        "client.example.com.key",
        "example.com.crt",
        "example.com.key",
        "helloworld.example.com.crt",
        "helloworld.example.com.csr",
        "helloworld.example.com.key",
        "httpbin.example.com.crt",
        "httpbin.example.com.csr",
        "httpbin.example.com.key",
    ]
    assert sorted(p.name for p in (certs_dir / "example_certs2").iterdir()) == [
        "example.com.crt",
        "example.com.key",
        "httpbin.example.com.crt",
        "httpbin.example.com.csr",
        "httpbin.example.com.key",
    ]
    keys = list(certs_dir.rglob("*.key"))
    assert len(keys) == 11  # 4 CAs + 7 leaf certificates
    for key in keys:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
        assert key.read_text().startswith("-----BEGIN PRIVATE KEY-----")


def test_subjects_serials_and_extensions_match_openssl(certs_dir: pathlib.Path) -> None:
    ca = _openssl("x509", "-in", str(certs_dir / "example_certs1/example.com.crt"), "-noout", "-text")
    assert "Subject: O = example Inc., CN = example.com" in ca.stdout
    assert "Issuer: O = example Inc., CN = example.com" in ca.stdout
    assert "X509v3 Basic Constraints: critical\n                CA:TRUE" in ca.stdout
    assert "X509v3 Subject Key Identifier" in ca.stdout
    assert "Public-Key: (2048 bit)" in ca.stdout and "sha256WithRSAEncryption" in ca.stdout
    leaf = _openssl(
        "x509", "-in", str(certs_dir / "example_certs1/httpbin.example.com.crt"), "-noout", "-text"
    )
    assert "Subject: CN = httpbin.example.com, O = httpbin organization" in leaf.stdout
    assert "Serial Number: 0 (0x0)" in leaf.stdout
    assert "X509v3" not in leaf.stdout.replace("Version: 3", "")  # `x509 -req` adds no extensions
    client = _openssl(
        "x509",
        "-in",
        str(certs_dir / "example_certs1/client.example.com.crt"),
        "-noout",
        "-subject",
        "-serial",
    )
    assert client.stdout == "subject=CN = client.example.com, O = client organization\nserial=01\n"
    nginx = _openssl(
        "x509", "-in", str(certs_dir / "example_certs/nginx.example.com.crt"), "-noout", "-subject"
    )
    assert nginx.stdout == "subject=CN = nginx.example.com, O = some organization\n"
    csr = _openssl(
        "req",
        "-in",
        str(certs_dir / "example_certs1/httpbin.example.com.csr"),
        "-noout",
        "-verify",
        "-subject",
    )
    assert csr.returncode == 0 and "subject=CN = httpbin.example.com, O = httpbin organization" in csr.stdout


@pytest.mark.parametrize(
    ("ca", "leaf"),
    [
        ("example_certs1/example.com", "example_certs1/httpbin.example.com"),
        ("example_certs1/example.com", "example_certs1/helloworld.example.com"),
        ("example_certs1/example.com", "example_certs1/client.example.com"),
        ("example_certs2/example.com", "example_certs2/httpbin.example.com"),
        ("example_certs/example.com", "example_certs/nginx.example.com"),
        ("example.com", "my-nginx.mesh-external.svc.cluster.local"),
        ("example.com", "client.example.com"),
    ],
)
def test_openssl_verify_accepts_the_chain(certs_dir: pathlib.Path, ca: str, leaf: str) -> None:
    r = _openssl("verify", "-CAfile", str(certs_dir / f"{ca}.crt"), str(certs_dir / f"{leaf}.crt"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith(": OK")


def test_second_ca_has_the_same_subject_but_does_not_verify_the_first_chain(certs_dir: pathlib.Path) -> None:
    s1 = _openssl("x509", "-in", str(certs_dir / "example_certs1/example.com.crt"), "-noout", "-subject")
    s2 = _openssl("x509", "-in", str(certs_dir / "example_certs2/example.com.crt"), "-noout", "-subject")
    assert s1.stdout == s2.stdout == "subject=O = example Inc., CN = example.com\n"
    r = _openssl(
        "verify",
        "-CAfile",
        str(certs_dir / "example_certs2/example.com.crt"),
        str(certs_dir / "example_certs1/httpbin.example.com.crt"),
    )
    assert r.returncode != 0


@pytest.fixture
def tls_server(certs_dir: pathlib.Path) -> Iterator[int]:
    """A one-thread HTTPS server presenting example_certs1/httpbin.example.com."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(
        certs_dir / "example_certs1/httpbin.example.com.crt",
        certs_dir / "example_certs1/httpbin.example.com.key",
    )
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(4096)
                    tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
            except (ssl.SSLError, OSError):
                conn.close()

    t = threading.Thread(target=serve)
    t.start()
    yield port
    stop.set()
    t.join()
    listener.close()


def test_curl_accepts_the_docs_certificate_for_httpbin_example_com(
    certs_dir: pathlib.Path, tls_server: int
) -> None:
    # The docs: curl --resolve "httpbin.example.com:$PORT:$HOST" --cacert example_certs1/example.com.crt
    # "https://httpbin.example.com:$PORT/..." -- the certificate has no SAN; OpenSSL matches the CN.
    r = subprocess.run(
        [
            "curl",
            "-sS",
            "--resolve",
            f"httpbin.example.com:{tls_server}:127.0.0.1",
            "--cacert",
            "example_certs1/example.com.crt",
            f"https://httpbin.example.com:{tls_server}/",
        ],
        capture_output=True,
        text=True,
        cwd=certs_dir,
    )
    assert (r.returncode, r.stdout) == (0, "ok\n"), r.stderr


def test_curl_rejects_the_certificate_with_the_second_ca(certs_dir: pathlib.Path, tls_server: int) -> None:
    r = subprocess.run(
        [
            "curl",
            "-sS",
            "--resolve",
            f"httpbin.example.com:{tls_server}:127.0.0.1",
            "--cacert",
            "example_certs2/example.com.crt",
            f"https://httpbin.example.com:{tls_server}/",
        ],
        capture_output=True,
        text=True,
        cwd=certs_dir,
    )
    # Same issuer name, other key: OpenSSL 3 fails the signature check inside the handshake, which
    # curl 7.88 reports as exit 35 with the RSA padding error (not exit 60).
    # Which RSA error depends on the two random keys: "invalid padding" or "data too large for
    # modulus" (the signature integer exceeds the wrong key's modulus).
    assert r.returncode == 35
    assert "rsa routines::" in r.stderr


def test_curl_rejects_a_wrong_host_name(certs_dir: pathlib.Path, tls_server: int) -> None:
    r = subprocess.run(
        [
            "curl",
            "-sS",
            "--resolve",
            f"other.example.com:{tls_server}:127.0.0.1",
            "--cacert",
            "example_certs1/example.com.crt",
            f"https://other.example.com:{tls_server}/",
        ],
        capture_output=True,
        text=True,
        cwd=certs_dir,
    )
    assert r.returncode == 60
    assert (
        "does not match target host name" in r.stderr or "no alternative certificate subject name" in r.stderr
    )


def test_in_memory_api_and_keys_never_in_repr() -> None:
    ca = make_ca("example.com", "example Inc.")
    leaf = make_cert("client.example.com", "client organization", ca, serial=1, sans=("client.example.com",))
    assert isinstance(leaf, CertKey)
    assert leaf.cert_pem.startswith(b"-----BEGIN CERTIFICATE-----")
    assert leaf.key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert leaf.csr_pem is not None and leaf.csr_pem.startswith(b"-----BEGIN CERTIFICATE REQUEST-----")
    assert "PRIVATE KEY" not in repr(leaf) and "PRIVATE KEY" not in repr(ca)
    assert leaf.subject == "CN=client.example.com, O=client organization"
    assert leaf.certificate.serial_number == 1
    assert [n.value for n in leaf.certificate.extensions[0].value] == ["client.example.com"]


def test_write_creates_files_with_the_docs_names(tmp_path: pathlib.Path) -> None:
    ca = make_ca()
    paths = make_cert("httpbin.example.com", "httpbin organization", ca).write(
        tmp_path / "x", "httpbin.example.com"
    )
    assert {k: p.name for k, p in paths.items()} == {
        "key": "httpbin.example.com.key",
        "csr": "httpbin.example.com.csr",
        "crt": "httpbin.example.com.crt",
    }
    assert stat.S_IMODE(paths["key"].stat().st_mode) == 0o600


def test_one_ca_builder_makes_every_ca_with_its_profile(tmp_path: pathlib.Path) -> None:
    # The docs' CA, the fake internet's public root and the mesh CA all come from build_ca,
    # each with its profile's extensions in order (openssl x509 -text lists them that way).
    from cryptography import x509

    from gatewaykit.dataplane import MeshCA
    from gatewaykit.workloads.internet import FakeInternet

    def extensions(cert: x509.Certificate) -> list[tuple[str, bool]]:
        return [(type(e.value).__name__, e.critical) for e in cert.extensions]

    docs = make_ca().certificate
    assert extensions(docs) == [
        ("SubjectKeyIdentifier", False),
        ("AuthorityKeyIdentifier", False),
        ("BasicConstraints", True),
    ]
    mesh = x509.load_pem_x509_certificate(MeshCA.generate().cert_pem)
    assert extensions(mesh) == [("BasicConstraints", True), ("KeyUsage", True)]
    assert mesh.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    with FakeInternet(tmp_path).start() as net:
        public = x509.load_pem_x509_certificate(net.ca_pem)
    assert extensions(public) == [
        ("BasicConstraints", True),
        ("KeyUsage", True),
        ("SubjectKeyIdentifier", False),
    ]
    assert not public.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    for cert in (docs, mesh, public):
        assert cert.issuer == cert.subject
        assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
