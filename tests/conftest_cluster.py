"""pytest plugin for the cluster backend's test tiers (register from the root ``tests/conftest.py``).

* ``--run-cluster``: the live kind + Istio tier (``@pytest.mark.cluster``) is opt-in; without the
  option those tests are skipped with the reason. Registered only if no other conftest did.
* ``@pytest.mark.docker``: needs a Docker engine; skipped with the reason when none is reachable.
"""

from __future__ import annotations

import functools
import os
import sys

import pytest

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")


def pytest_addoption(parser: pytest.Parser) -> None:
    try:
        parser.addoption(
            "--run-cluster",
            action="store_true",
            default=False,
            help="run the live kind + Istio tier (needs Docker and the pinned images)",
        )
    except ValueError:
        pass  # the root conftest already registers it


@functools.cache
def docker_unavailable_reason() -> str | None:
    """None when a Docker engine answers, else why not (shown as the skip reason)."""
    try:
        import docker
    except ImportError:
        return "the docker SDK is not installed: pip install 'gatewaykit[cluster]'"
    try:
        client = docker.from_env(timeout=5)
        client.ping()
        client.close()
    except Exception as exc:
        return f"no Docker engine reachable ({type(exc).__name__}): start dockerd (`docker info` must work)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run_cluster = config.getoption("--run-cluster")
    for item in items:
        # get_closest_marker, not ``"cluster" in item.keywords``: keywords also hold directory names,
        # so every test under tests/cluster/ would count as a live-cluster test.
        is_cluster = item.get_closest_marker("cluster") is not None
        if is_cluster and not run_cluster:
            item.add_marker(
                pytest.mark.skip(
                    reason="live kind/Istio tier is opt-in: `pytest -m cluster --run-cluster` on a machine with "  # noqa: E501
                    "Docker and the pinned images (gatewaykit images pull, or images load BUNDLE)"
                )
            )
        elif item.get_closest_marker("docker") is not None or is_cluster:
            reason = docker_unavailable_reason()
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


def _missing_images() -> list[str]:
    import docker

    from gatewaykit.backends._kindconfig import pinned_images
    from gatewaykit.backends._node import local_image

    client = docker.from_env()
    return [
        i.ref
        for i in pinned_images()
        if i.role in ("node", "istioctl", "cluster", "internet") and local_image(client, i.ref) is None
    ]


@pytest.fixture(scope="session")
def kind_sandbox():
    """The live tier's kind cluster with Istio: attached to the one `gatewaykit cluster up` made (the
    CI job) or created; skipped with the reason when the pinned images are not in Docker."""
    from gatewaykit.backends.kind import KindSandbox

    missing = _missing_images()
    if missing:
        pytest.skip(
            f"the pinned images are not in Docker ({len(missing)} missing, e.g. {missing[0]}): run "
            "`gatewaykit images pull` on a connected machine, or `gatewaykit images load BUNDLE`"
        )

    # Attaches to the cluster `gatewaykit cluster up` made (the CI job), or creates it.
    sb = KindSandbox(
        reuse=True, internet=True, progress=lambda step: print(f"[kind] {step}", file=sys.stderr)
    )
    yield sb
    sb.close()
