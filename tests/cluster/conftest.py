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


def _standin_rootfs() -> bytes:
    """A tar of a minimal node rootfs: Debian's static busybox plus kind-like entrypoint/init."""
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
        add_file("sbin/init", (HERE / "standin" / "init").read_bytes())
        add_file("usr/local/bin/entrypoint", (HERE / "standin" / "entrypoint").read_bytes())
        add_file("etc/passwd", b"root:x:0:0:root:/:/bin/sh\n", 0o644)
    return buf.getvalue()


@pytest.fixture(scope="session")
def standin_image(docker_engine: Any) -> str:
    """Build (``docker import``) the stand-in node image once per session."""
    rootfs = _standin_rootfs()
    repo, tag = STANDIN_IMAGE.split(":")
    docker_engine.api.import_image_from_data(rootfs, repository=repo, tag=tag)
    return STANDIN_IMAGE


@pytest.fixture
def cluster_name(docker_engine: Any) -> Iterator[str]:
    """A unique cluster name; everything labelled with it is removed afterwards (and checked)."""
    from gatewaykit.backends.kind import remove_cluster

    name = f"gktest-{uuid.uuid4().hex[:8]}"
    yield name
    remove_cluster(name, docker_engine)
