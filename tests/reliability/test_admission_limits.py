"""Admission's own limits: the sandbox's pod limit, and a validator failure that is still a Status."""

from __future__ import annotations

from typing import Any

import pytest

from gatewaykit.errors import ValidationError
from gatewaykit.resources.codecs import load
from gatewaykit.store import ConfigStore, _admission, pod_limit_message

DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec: {{containers: [{{name: c, image: docker.io/istio/examples-helloworld-v1}}]}}
"""


def _store(max_pods: int | None) -> ConfigStore:
    store = ConfigStore(max_pods=max_pods)
    store.apply(load("apiVersion: v1\nkind: Namespace\nmetadata: {name: default}\n"))
    return store


def test_pod_limit_counts_every_deployment_and_names_itself() -> None:
    store = _store(5)
    store.apply(load(DEPLOY.format(name="a", replicas=3)))
    before = store.resource_version
    with pytest.raises(ValidationError) as err:
        store.apply(load(DEPLOY.format(name="b", replicas=3), name="b.yaml"))
    assert str(err.value) == (
        'Error from server (Forbidden): error when creating "b.yaml": deployments.apps "b" is forbidden: '
        + pod_limit_message(5, 6)
    )
    assert "runs at most 5 pods" in str(err.value)
    assert store.resource_version == before
    # Scaling up the existing one is refused the same way; scaling within the limit is fine.
    with pytest.raises(ValidationError, match="would ask for 7"):
        store.apply(load(DEPLOY.format(name="a", replicas=7)))
    store.apply(load(DEPLOY.format(name="a", replicas=5)))
    # The default (no replicas) is one pod; nothing is left for it.
    with pytest.raises(ValidationError, match="would ask for 6"):
        store.apply(load(DEPLOY.format(name="c", replicas="null")))


def test_without_a_limit_the_store_accepts_as_the_api_server_does() -> None:
    _store(None).apply(load(DEPLOY.format(name="a", replicas=2147483647)))


def test_a_validator_failure_is_an_internal_error_status(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_manifest: Any) -> Any:
        raise TypeError("unsupported operand")

    store = _store(None)
    monkeypatch.setattr(_admission, "validate", broken)
    before = store.resource_version
    with pytest.raises(ValidationError) as err:
        store.apply(load(DEPLOY.format(name="a", replicas=1), name="a.yaml"))
    assert str(err.value) == (
        'Error from server (InternalError): error when creating "a.yaml": Internal error occurred: '
        "failed to validate the Deployment: TypeError: unsupported operand"
    )
    assert err.value.status is not None and err.value.status.code == 500
    assert store.resource_version == before
