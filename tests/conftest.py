"""Shared pytest configuration: markers, the opt-in live-cluster tier, common fixtures."""

from __future__ import annotations

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
