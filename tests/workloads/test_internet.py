"""The fake internet, over real HTTP/1.1, TLS and HTTP/2, hit with the real curl."""

from __future__ import annotations

import json
import pathlib
import re
import stat
from collections.abc import Iterator

import pytest
from wl_helpers import curl, port_is_closed

from gatewaykit.workloads.internet import DEFAULT_HOSTS, ExternalHost, FakeInternet


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeInternet]:
    with FakeInternet(tmp_path_factory.mktemp("internet")) as n:
        yield n


def _get(
    net: FakeInternet, host: str, port: int, scheme: str, path: str, *extra: str
) -> tuple[int, str, str]:
    real = net.ports[host][port]
    r = curl(
        "-sS",
        "-i",
        *extra,
        "--resolve",
        f"{host}:{real}:127.0.0.1",
        "--cacert",
        str(net.ca_file),
        f"{scheme}://{host}:{real}{path}",
    )
    return r.returncode, r.stdout, r.stderr


def test_httpbin_org_over_http_and_https_h2(net: FakeInternet) -> None:
    rc, out, err = _get(net, "httpbin.org", 80, "http", "/headers")
    assert rc == 0, err
    head, _, body = out.partition("\n\n")
    assert head.splitlines()[0] == "HTTP/1.1 200 OK"
    assert "Content-Type: application/json" in head and "Server: gunicorn/19.9.0" in head and "Date: " in head
    echoed = json.loads(body)["headers"]
    assert echoed["User-Agent"] == "curl/7.88.1"
    # httpbin.org's load balancer adds a trace id, which Istio's egress docs show in /headers output.
    assert re.fullmatch(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24}", echoed["X-Amzn-Trace-Id"])
    rc, out, err = _get(net, "httpbin.org", 443, "https", "/status/418")
    assert rc == 0, err
    assert out.splitlines()[0] == "HTTP/2 418 "
    assert "-=[ teapot ]=-" in out


def test_httpbin_org_http11_when_asked(net: FakeInternet) -> None:
    rc, out, err = _get(net, "httpbin.org", 443, "https", "/get", "--http1.1")
    assert rc == 0, err
    assert out.splitlines()[0] == "HTTP/1.1 200 OK"
    assert json.loads(out.partition("\n\n")[2])["url"].startswith("https://httpbin.org")


def test_edition_cnn_com_redirects_to_https(net: FakeInternet) -> None:
    # egress-control: `curl -sSI http://edition.cnn.com/politics` shows a 301 to https.
    rc, out, _ = _get(net, "edition.cnn.com", 80, "http", "/politics", "-I")
    assert rc == 0
    assert out.splitlines()[0] == "HTTP/1.1 301 Moved Permanently"
    assert "location: https://edition.cnn.com/politics" in out
    rc, out, _ = _get(net, "edition.cnn.com", 80, "http", "/world?x=1", "-I")
    assert "location: https://edition.cnn.com/world?x=1" in out


def test_edition_cnn_com_politics_over_http2(net: FakeInternet) -> None:
    # egress-tls-origination: `curl -sSL -o /dev/null -D - https://edition.cnn.com/politics` -> HTTP/2 200.
    real = net.ports["edition.cnn.com"][443]
    r = curl(
        "-sS",
        "-o",
        "/dev/null",
        "-D",
        "-",
        "--resolve",
        f"edition.cnn.com:{real}:127.0.0.1",
        "--cacert",
        str(net.ca_file),
        f"https://edition.cnn.com:{real}/politics",
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "HTTP/2 200 "
    assert "content-type: text/html; charset=utf-8" in lines and any(x.startswith("date: ") for x in lines)
    rc, out, _ = _get(net, "edition.cnn.com", 443, "https", "/no/such/page")
    assert out.splitlines()[0] == "HTTP/2 404 "


def test_www_google_com_on_80_and_443(net: FakeInternet) -> None:
    rc, out, _ = _get(net, "www.google.com", 80, "http", "/", "-I")
    assert rc == 0 and out.splitlines()[0] == "HTTP/1.1 200 OK"
    rc, out, _ = _get(net, "www.google.com", 443, "https", "/", "-I")
    assert rc == 0 and out.splitlines()[0] == "HTTP/2 200 "
    assert "server: gws" in out


def test_untrusted_without_the_fake_public_ca(net: FakeInternet) -> None:
    real = net.ports["www.google.com"][443]
    r = curl("-sS", "--resolve", f"www.google.com:{real}:127.0.0.1", f"https://www.google.com:{real}/")
    assert r.returncode == 60
    assert "unable to get local issuer certificate" in r.stderr


def test_certificate_has_the_host_in_its_san(net: FakeInternet) -> None:
    real = net.ports["httpbin.org"][443]
    r = curl(
        "-sS",
        "-o",
        "/dev/null",
        "-v",
        "--resolve",
        f"httpbin.org:{real}:127.0.0.1",
        "--cacert",
        str(net.ca_file),
        f"https://httpbin.org:{real}/get",
    )
    assert 'subjectAltName: host "httpbin.org" matched cert\'s "httpbin.org"' in r.stderr
    assert "ALPN: server accepted h2" in r.stderr


def test_ca_is_made_once_per_work_dir_and_keys_are_private(
    tmp_path: pathlib.Path, no_thread_leak: None
) -> None:
    hosts = (ExternalHost("example.org", app="static", pages={"/": b"hi\n"}, https_port=None),)
    a = FakeInternet(tmp_path, hosts).start()
    a.close()
    b = FakeInternet(tmp_path, DEFAULT_HOSTS[2:]).start()
    try:
        assert a.ca_pem == b.ca_pem
        for key in (tmp_path / "fake-internet").glob("*.key"):
            assert stat.S_IMODE(key.stat().st_mode) == 0o600
    finally:
        b.close()


def test_declarative_host_and_close_frees_everything(tmp_path: pathlib.Path, no_thread_leak: None) -> None:
    hosts = (
        ExternalHost(
            "api.example.net",
            http_port=8080,
            https_port=8443,
            pages={"/v1": b'{"ok":true}\n'},
            content_type="application/json",
            server="example",
        ),
    )
    n = FakeInternet(tmp_path, hosts).start()
    try:
        assert set(n.ports["api.example.net"]) == {8080, 8443}
        assert n.address("API.example.net", 8443) == ("127.0.0.1", n.ports["api.example.net"][8443])
        assert n.address("api.example.net", 443) is None
        rc, out, _ = _get(n, "api.example.net", 8443, "https", "/v1")
        assert out.splitlines()[0] == "HTTP/2 200 " and out.endswith('{"ok":true}\n')
        rc, out, _ = _get(n, "api.example.net", 8080, "http", "/other")
        assert out.splitlines()[0] == "HTTP/1.1 404 Not Found"
    finally:
        n.close()
    assert all(port_is_closed(p) for p in n.ports["api.example.net"].values())


def test_http2_large_body_and_post(net: FakeInternet, tmp_path: pathlib.Path) -> None:
    # A body larger than the initial 64 KiB HTTP/2 window needs flow control to work both ways.
    real = net.ports["httpbin.org"][443]
    base = ["--resolve", f"httpbin.org:{real}:127.0.0.1", "--cacert", str(net.ca_file)]
    r = curl(
        "-sS",
        *base,
        "-o",
        "/dev/null",
        "-w",
        "%{http_version} %{http_code} %{size_download}",
        f"https://httpbin.org:{real}/bytes/102400",
    )
    assert r.stdout == "2 200 102400", r.stderr
    (tmp_path / "big").write_bytes(b"x" * 200_000)
    r = curl(
        "-sS",
        *base,
        "-H",
        "Content-Type: text/plain",
        "--data-binary",
        f"@{tmp_path / 'big'}",
        f"https://httpbin.org:{real}/post",
    )
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)["data"]) == 200_000


def test_http11_expect_100_continue(net: FakeInternet, tmp_path: pathlib.Path) -> None:
    # curl 7.88 sends `Expect: 100-continue` for bodies over 1 MiB and waits up to 1 s for the 100.
    real = net.ports["httpbin.org"][80]
    (tmp_path / "big").write_bytes(b"y" * 1_100_000)
    r = curl(
        "-sS",
        "-v",
        "-H",
        "Content-Type: text/plain",
        "--data-binary",
        f"@{tmp_path / 'big'}",
        "--resolve",
        f"httpbin.org:{real}:127.0.0.1",
        f"http://httpbin.org:{real}/post",
    )
    assert r.returncode == 0, r.stderr
    assert "< HTTP/1.1 100 Continue" in r.stderr
    assert len(json.loads(r.stdout)["data"]) == 1_100_000
