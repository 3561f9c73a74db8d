"""Fixtures for the kit tests: one real embedded sandbox for the whole run, and lab work dirs.

The kit (loader, state ledger, secrets, checks, widgets) is exercised against the real
``Sandbox.local()`` -- real kubectl-like apply lines, Istio's real rejection texts, real curl through
the emulated gateway -- because that is what a learner sees. The sandbox starts in well under a
second and is shared by every test of ``tests/kit``; tests do not leak state into each other because
``open_lab`` (``reset=True``) first deletes whatever the kit applied earlier, in any lab.

Test modules never import from this file by module name (``from conftest import ...`` breaks as soon
as pytest has imported another folder's ``conftest``); everything shared here is a fixture.
"""

from __future__ import annotations

import pathlib
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gatewaykit.backends.local import LocalSandbox
from gatewaykit.resources.meta import ResourceKey


@pytest.fixture(scope="session")
def sandbox() -> Iterator[LocalSandbox]:
    """One running ``Sandbox.local()`` for every kit test, closed at the end of the run."""
    from gatewaykit import Sandbox

    sb = Sandbox.local()
    try:
        yield sb
    finally:
        sb.close()


@pytest.fixture
def stored(sandbox: LocalSandbox) -> Callable[[str, str, str], dict[str, Any] | None]:
    """``stored(kind, namespace, name)``: the object as the sandbox's API server holds it, or None."""

    def get(kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        key = ResourceKey(kind, namespace, name)
        snap = sandbox.store.snapshot()
        return snap.raw(key) if key in snap else None

    return get


@pytest.fixture(scope="session")
def cert_dir(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """The docs' certificates, generated once (RSA key generation is the slow part)."""
    from gatewaykit.certs import istio_docs_certs

    d = tmp_path_factory.mktemp("certs")
    istio_docs_certs(d)
    (d / ".certificates").write_text("test\n")
    return d


@pytest.fixture
def work_dir(tmp_path: pathlib.Path, cert_dir: pathlib.Path) -> pathlib.Path:
    """A lab work dir that already holds the certificates (as after a first open_lab)."""
    d = tmp_path / "work"
    shutil.copytree(cert_dir, d)
    return d
