"""Every exception the Docker and Kubernetes clients can raise leaves as one of gatewaykit's errors.

Like httpx's ``test_httpcore_all_exceptions_mapped``: each exception class defined by the libraries
under the cluster backends is instantiated, raised inside the mapping context, and must come out
as a :class:`~gatewaykit.errors.BackendError` with the original chained as ``__cause__``.
"""

from __future__ import annotations

import importlib
import inspect
import io

import pytest

from gatewaykit.backends._errormap import DOCKER_MODULES, KUBE_MODULES, docker_errors, kube_errors
from gatewaykit.errors import BackendError, ClusterError, NotReadyError


def _classes(modules: tuple[str, ...]) -> list[type[BaseException]]:
    out = []
    for name in modules:
        mod = importlib.import_module(name)
        for obj in vars(mod).values():
            if (
                inspect.isclass(obj)
                and issubclass(obj, Exception)
                and obj.__module__.startswith(name.split(".")[0])
            ):
                out.append(obj)
    return sorted(set(out), key=lambda c: f"{c.__module__}.{c.__qualname__}")


def _instance(cls: type[BaseException]) -> BaseException:
    """An instance built the way the library builds it (constructors differ)."""
    from kubernetes.client.exceptions import ApiException
    from kubernetes.dynamic.exceptions import DynamicApiError
    from urllib3.exceptions import IncompleteRead, InvalidChunkLength

    if issubclass(cls, DynamicApiError):
        return cls(ApiException(status=500, reason="Internal Server Error"))
    if issubclass(cls, InvalidChunkLength):

        class Response(io.BytesIO):
            length_remaining = 3

        return cls(Response(b"partial"), b"zz")
    if issubclass(cls, ValueError) and cls.__name__ == "JSONDecodeError":  # requests' JSONDecodeError
        return cls("Expecting value", "{", 1)
    if issubclass(cls, IncompleteRead):
        return cls(10, 20)
    for args in ((), ("boom",), ("boom", None), ("boom", None, None), (None, 1, "true", "img", b"boom")):
        try:
            return cls(*args)
        except TypeError:
            continue
    raise AssertionError(f"cannot build {cls.__name__}: teach _instance its constructor")


@pytest.mark.parametrize("cls", _classes(DOCKER_MODULES), ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_every_docker_side_exception_is_mapped(cls: type[BaseException]) -> None:
    exc = _instance(cls)
    with pytest.raises(BackendError) as info, docker_errors("node container"):
        raise exc
    assert info.value.__cause__ is exc
    assert str(info.value).startswith("node container: ")


@pytest.mark.parametrize("cls", _classes(KUBE_MODULES), ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_every_kubernetes_side_exception_is_mapped(cls: type[BaseException]) -> None:
    exc = _instance(cls)
    with pytest.raises(BackendError) as info, kube_errors("apply"):
        raise exc
    assert info.value.__cause__ is exc
    assert str(info.value).startswith("apply: ")


def test_no_docker_is_a_cluster_error_with_the_fix_not_a_readiness_timeout() -> None:
    import requests

    with pytest.raises(ClusterError) as info, docker_errors("docker"):
        raise requests.exceptions.ConnectionError(
            "('Connection aborted.', FileNotFoundError(2, 'No such file'))"
        )
    assert not isinstance(info.value, NotReadyError)
    assert "\nfix: no Docker: install Docker and start it (`docker info` must work)" in str(info.value)


def test_docker_api_errors_keep_the_daemons_explanation_and_get_their_fix() -> None:
    import docker.errors

    class Response:
        status_code, reason, url = 409, "Conflict", "http://docker/containers/create"

        def json(self) -> dict:
            return {"message": 'Conflict. The container name "/gatewaykit-control-plane" is already in use'}

    err = docker.errors.APIError(
        "409 Client Error",
        response=Response(),
        explanation='Conflict. The container name "/gatewaykit-control-plane" is already in use',
    )
    with pytest.raises(ClusterError) as info, docker_errors("node container"):
        raise err
    assert str(info.value).startswith(
        "node container: APIError: Conflict. "
        'The container name "/gatewaykit-control-plane" is already in use\n'
        "fix: name in use: a container of that name is left from an earlier run"
    )


def test_kubernetes_401_and_403_name_the_cause() -> None:
    from kubernetes.client.exceptions import ApiException

    with pytest.raises(ClusterError) as info, kube_errors("get Gateway x"):
        raise ApiException(status=403, reason="Forbidden")
    assert str(info.value).startswith(
        "get Gateway x: 403 Forbidden\nfix: Forbidden: your account lacks the RBAC"
    )


def test_gatewaykit_errors_pass_through_unchanged() -> None:
    original = NotReadyError("istiod", "not yet")
    with pytest.raises(NotReadyError) as info, kube_errors("apply"):
        raise original
    assert info.value is original
