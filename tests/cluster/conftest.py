"""Fixtures of the cluster backend's tests: the fake API server, a Docker engine, the stand-in node."""

from __future__ import annotations

import io
import os
import pathlib
import shutil
import tarfile
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

from conftest_cluster import docker_unavailable_reason  # noqa: E402  (tests/ is on sys.path)
from fake_apiserver import FakeApiServer  # noqa: E402

HERE = pathlib.Path(__file__).parent
STANDIN_IMAGE = "gatewaykit/standin-node:test"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Undo the root conftest's opt-in skip for tests here that are NOT marked ``cluster``.

    The root hook tests ``"cluster" in item.keywords``, which is true for every test in this
    directory (keywords include directory names). Until it uses ``item.get_closest_marker("cluster")``
    (as tests/conftest_cluster.py does), only really marked tests keep that skip.
    """
    for item in items:
        if pathlib.Path(str(item.fspath)).parent != HERE or item.get_closest_marker("cluster") is not None:
            continue
        item.own_markers[:] = [
            m
            for m in item.own_markers
            if not (m.name == "skip" and "opt-in" in str(m.kwargs.get("reason", "")))
        ]
        if item.get_closest_marker("docker") is not None:
            reason = docker_unavailable_reason()
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def fake_api() -> Iterator[FakeApiServer]:
    """A fresh fake API server per test (state is per test)."""
    server = FakeApiServer().start()
    yield server
    server.stop()


@pytest.fixture
def kube(fake_api: FakeApiServer, tmp_path: pathlib.Path) -> Iterator[Any]:
    """A KubeClient on the fake API server (real kubernetes ApiClient/DynamicClient/stream)."""
    from gatewaykit.backends._kube import KubeClient

    client = KubeClient(fake_api.api_client_factory(), discovery_cache=str(tmp_path / "discovery.json"))
    yield client
    client.close()


@pytest.fixture(scope="session")
def docker_engine() -> Any:
    """A docker SDK client, or skip with the reason (marker ``docker``)."""
    reason = docker_unavailable_reason()
    if reason:
        pytest.skip(reason)
    import docker

    client = docker.from_env()
    yield client
    client.close()


def _standin_rootfs(extra: dict[str, tuple[bytes, int]] | None = None) -> bytes:
    """A tar of a minimal node rootfs: Debian's static busybox plus kind-like entrypoint/init.

    ``extra``: more files (``path -> (content, mode)``), e.g. containerd for the image-import test.
    """
    busybox = shutil.which("busybox")
    # A dynamically linked busybox names its loader (PT_INTERP); the rootfs has no libc for it.
    if busybox is None or b"/ld-linux" in pathlib.Path(busybox).read_bytes()[:4096]:
        pytest.skip("the stand-in node image needs a static busybox: apt-get install busybox-static")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:

        def add_dir(path: str) -> None:
            info = tarfile.TarInfo(path)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)

        def add_file(path: str, data: bytes, mode: int = 0o755) -> None:
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))

        for d in (
            "bin",
            "sbin",
            "etc",
            "tmp",
            "run",
            "var",
            "usr",
            "usr/local",
            "usr/local/bin",
            "kind",
            "www",
            "lib",
            "lib/modules",
            "proc",
            "sys",
            "dev",
        ):
            add_dir(d)
        add_file("bin/busybox", pathlib.Path(busybox).read_bytes())
        for applet in (
            "sh",
            "cat",
            "echo",
            "sleep",
            "httpd",
            "mkdir",
            "ls",
            "hostname",
            "wget",
            "env",
            "true",
            "nc",
        ):
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
        if "sbin/init" not in (extra or {}):
            add_file("sbin/init", (HERE / "standin" / "init").read_bytes())
        add_file("usr/local/bin/entrypoint", (HERE / "standin" / "entrypoint").read_bytes())
        add_file("etc/passwd", b"root:x:0:0:root:/:/bin/sh\n", 0o644)
        add_file("kind/version", b"v1.33.1\n", 0o644)  # what kind's node images carry
        dirs = {str(pathlib.PurePosixPath(p).parent) for p in extra or {}} - {"."}
        for d in sorted(dirs):
            for i in range(1, len(pathlib.PurePosixPath(d).parts) + 1):
                part = "/".join(pathlib.PurePosixPath(d).parts[:i])
                if part not in {"bin", "sbin", "etc", "usr", "usr/local", "usr/local/bin", "kind", "lib"}:
                    add_dir(part)
        for path, (data, mode) in (extra or {}).items():
            add_file(path, data, mode)
    return buf.getvalue()


@pytest.fixture(scope="session")
def standin_image(docker_engine: Any) -> str:
    """Build (``docker import``) the stand-in node image once per session."""
    rootfs = _standin_rootfs()
    repo, tag = STANDIN_IMAGE.split(":")
    docker_engine.api.import_image_from_data(rootfs, repository=repo, tag=tag)
    return STANDIN_IMAGE


def _import(client: Any, rootfs: bytes, ref: str, changes: list[str] | None = None) -> str:
    repo, tag = ref.split(":")
    client.api.import_image_from_data(rootfs, repository=repo, tag=tag, changes=changes)
    return ref


def _host_files(*paths: str) -> dict[str, tuple[bytes, int]]:
    return {p.lstrip("/"): (pathlib.Path(p).read_bytes(), 0o755) for p in paths}


@pytest.fixture(scope="session")
def standin_containerd_image(docker_engine: Any) -> str:
    """The stand-in node plus the host's containerd and ctr (Debian's; they need only libc), whose
    init starts containerd as a kind node's systemd does: for the real image-import path."""
    needed = (
        "/usr/bin/containerd",
        "/usr/bin/ctr",
        "/lib/x86_64-linux-gnu/libc.so.6",
        "/lib64/ld-linux-x86-64.so.2",
    )
    if not all(pathlib.Path(p).exists() for p in needed):
        pytest.skip("the containerd stand-in needs Debian's containerd package on an x86_64 host")
    files = _host_files(*needed)
    files["etc/containerd/config.toml"] = ((HERE / "standin" / "containerd.toml").read_bytes(), 0o644)
    files["sbin/init"] = ((HERE / "standin" / "init-containerd").read_bytes(), 0o755)
    return _import(docker_engine, _standin_rootfs(files), "gatewaykit/standin-node-containerd:test")


@pytest.fixture(scope="session")
def standin_ryuk_image(docker_engine: Any) -> str:
    """A stand-in for testcontainers/ryuk (no registry here): busybox, the host's static docker CLI and
    ``standin/ryuk``, which speaks Ryuk's protocol and reaps by the session label as Ryuk does."""
    docker_cli = shutil.which("docker")
    libc = ("/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2")
    if docker_cli is None or not all(pathlib.Path(p).exists() for p in libc):
        pytest.skip("the Ryuk stand-in needs the docker CLI on an x86_64 Debian host")
    files = {
        **_host_files(*libc),  # Debian's docker CLI is linked against libc; a static one ignores them
        "bin/docker": (pathlib.Path(docker_cli).read_bytes(), 0o755),
        "bin/ryuk": ((HERE / "standin" / "ryuk").read_bytes(), 0o755),
        "bin/ryuk-session": ((HERE / "standin" / "ryuk-session").read_bytes(), 0o755),
    }
    return _import(
        docker_engine,
        _standin_rootfs(files),
        "gatewaykit/standin-ryuk:test",
        ['CMD ["/bin/ryuk"]', "EXPOSE 8080"],
    )


@pytest.fixture
def cluster_name(docker_engine: Any) -> Iterator[str]:
    """A unique cluster name; everything labelled with it is removed afterwards (and checked)."""
    from gatewaykit.backends._node import remove_cluster

    name = f"gktest-{uuid.uuid4().hex[:8]}"
    yield name
    remove_cluster(name, docker_engine)
