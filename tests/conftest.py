"""Shared pytest configuration: markers, the opt-in live-cluster tier, common fixtures."""

from __future__ import annotations

import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

# The cluster backend's tiers: --run-cluster (live kind + Istio) and @pytest.mark.docker skips.
pytest_plugins = ["conftest_cluster"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-cluster",
        action="store_true",
        default=False,
        help="run the live kind + Istio tier (needs Docker and access to the pinned images)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-cluster"):
        return
    skip = pytest.mark.skip(
        reason="live kind/Istio cluster tier is opt-in: run `pytest -m cluster --run-cluster` "
        "on a machine with Docker and registry access (or a loaded image bundle)"
    )
    for item in items:
        # get_closest_marker, not `"cluster" in item.keywords`: keywords also hold directory names.
        if item.get_closest_marker("cluster") is not None:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _cwd_unchanged():
    """Fail the test that leaves the process in another directory (and put it back).

    nbval opens ``notebooks/sanitize.cfg`` relative to the repo for every notebook cell that runs
    after ``tests/`` in ``make test``: a stray ``os.chdir`` failed every cell after it in CI.
    """
    here = pathlib.Path.cwd()
    yield
    now = pathlib.Path.cwd() if _cwd_exists() else None
    if now != here:
        os.chdir(here)
        pytest.fail(f"the test left the working directory at {now} (was {here}); use monkeypatch.chdir")


def _cwd_exists() -> bool:
    try:
        pathlib.Path.cwd()
    except FileNotFoundError:
        return False
    return True
