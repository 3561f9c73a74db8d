"""The one edge where Docker's and Kubernetes' client exceptions become gatewaykit's errors.

Like httpx's ``map_httpcore_exceptions``: code that calls the ``docker`` SDK (and testcontainers,
``requests`` under it) runs inside ``with docker_errors("step"):``; code that calls the
``kubernetes`` client (``urllib3`` and ``websocket`` under it) runs inside
``with kube_errors("what"):``. Each rule table maps a foreign exception type (first match wins,
subclasses included) to the class of :mod:`gatewaykit.errors` it becomes and the fix a learner
needs. Nothing else in the cluster backends catches a foreign exception type.

``tests/cluster/test_errormap.py`` checks that every exception class those libraries define is
mapped.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from gatewaykit.errors import BackendError, ClusterError, NotReadyError

__all__ = [
    "DOCKER_MODULES",
    "KUBE_MODULES",
    "docker_errors",
    "foreign_types",
    "kube_errors",
    "map_docker_error",
    "map_kube_error",
]

#: Modules whose exception classes reach the kind backend from Docker calls.
DOCKER_MODULES = ("docker.errors", "requests.exceptions", "testcontainers.core.exceptions")
#: Modules whose exception classes reach the cluster backends from Kubernetes calls.
KUBE_MODULES = (
    "kubernetes.client.exceptions",
    "kubernetes.dynamic.exceptions",
    "kubernetes.config.config_exception",
    "urllib3.exceptions",
    "websocket._exceptions",
)

NO_DOCKER = (
    "no Docker: install Docker and start it (`docker info` must work), or use the embedded sandbox "
    "(Sandbox.local())"
)
IMAGE_MISSING = (
    "image missing: on a connected machine run `gatewaykit images pull` (and `gatewaykit images save "
    "bundle.tar` for offline use), then `gatewaykit images load bundle.tar` here"
)
PORT_IN_USE = (
    "port in use: another program holds a port the node publishes; stop it or `gatewaykit cluster down`"
)
NAME_IN_USE = (
    "name in use: a container of that name is left from an earlier run; `gatewaykit cluster down` removes "
    "gatewaykit's own (a container without gatewaykit's labels is never removed)"
)


@dataclass(frozen=True, slots=True)
class _Rule:
    """``(module, class name)`` of a foreign type, what it becomes, and the fix (or None)."""

    module: str
    name: str
    error: type[BackendError]
    fix: Callable[[BaseException], str | None]


def _fix(text: str | None) -> Callable[[BaseException], str | None]:
    return lambda exc: text


def _docker_api_fix(exc: BaseException) -> str | None:
    """Docker's ``APIError`` carries the daemon's explanation: diagnose it like a log line."""
    from gatewaykit.backends._kindconfig import diagnose

    if getattr(exc, "status_code", None) == 409 and "already in use" in str(exc):
        return NAME_IN_USE
    return diagnose(str(exc))


# First match wins: subclasses before their bases.
_DOCKER_RULES: tuple[_Rule, ...] = (
    _Rule("docker.errors", "ImageNotFound", ClusterError, _fix(IMAGE_MISSING)),
    _Rule("docker.errors", "APIError", ClusterError, _docker_api_fix),
    _Rule("docker.errors", "ContainerError", ClusterError, _docker_api_fix),
    _Rule("docker.errors", "DockerException", ClusterError, lambda exc: _docker_api_fix(exc) or NO_DOCKER),
    # StreamParseError is a RuntimeError, not a DockerException.
    _Rule("docker.errors", "StreamParseError", ClusterError, _fix(None)),
    _Rule("requests.exceptions", "Timeout", NotReadyError, _fix(None)),
    _Rule("requests.exceptions", "ConnectionError", ClusterError, _fix(NO_DOCKER)),
    _Rule("requests.exceptions", "RequestException", ClusterError, _fix(NO_DOCKER)),
    _Rule("requests.exceptions", "RequestsWarning", ClusterError, _fix(None)),
    _Rule("testcontainers.core.exceptions", "ContainerStartException", ClusterError, _docker_api_fix),
    _Rule("testcontainers.core.exceptions", "ContainerConnectException", ClusterError, _fix(NO_DOCKER)),
    _Rule("testcontainers.core.exceptions", "ContainerIsNotRunning", NotReadyError, _fix(None)),
    _Rule("testcontainers.core.exceptions", "NoSuchPortExposed", ClusterError, _fix(None)),
)


def _kube_status_fix(exc: BaseException) -> str | None:
    status = getattr(exc, "status", None)
    if status == 401:
        return "Unauthorized: the kubeconfig's credentials were refused (expired token or certificate?)"
    if status == 403:
        return "Forbidden: your account lacks the RBAC docs/cluster.md lists; ask the cluster's administrator"
    return None


_KUBE_UNREACHABLE = (
    "cannot reach the Kubernetes API server: is the cluster running (`gatewaykit cluster status`)?"
)

_KUBE_RULES: tuple[_Rule, ...] = (
    # Discovery found no resource for a kind (raised by the dynamic client, not the server).
    _Rule("kubernetes.dynamic.exceptions", "ResourceNotFoundError", ClusterError, _fix(None)),
    _Rule("kubernetes.dynamic.exceptions", "ResourceNotUniqueError", ClusterError, _fix(None)),
    _Rule("kubernetes.dynamic.exceptions", "KubernetesValidateMissing", ClusterError, _fix(None)),
    _Rule("kubernetes.client.exceptions", "ApiException", ClusterError, _kube_status_fix),
    _Rule("kubernetes.client.exceptions", "OpenApiException", ClusterError, _fix(None)),
    _Rule(
        "kubernetes.config.config_exception",
        "ConfigException",
        ClusterError,
        _fix("the kubeconfig is unusable: check the path and context (`kubectl config get-contexts`)"),
    ),
    _Rule("urllib3.exceptions", "TimeoutError", NotReadyError, _fix(_KUBE_UNREACHABLE)),
    _Rule("urllib3.exceptions", "HTTPError", ClusterError, _fix(_KUBE_UNREACHABLE)),
    _Rule("urllib3.exceptions", "HTTPWarning", ClusterError, _fix(None)),
    _Rule("urllib3.exceptions", "ProxySchemeUnsupported", ClusterError, _fix(None)),  # a ValueError
    _Rule("websocket._exceptions", "WebSocketTimeoutException", NotReadyError, _fix(None)),
    _Rule("websocket._exceptions", "WebSocketException", ClusterError, _fix(None)),
)


def _resolve(rules: tuple[_Rule, ...]) -> list[tuple[type[BaseException], _Rule]]:
    out = []
    for rule in rules:
        try:
            mod = importlib.import_module(rule.module)
        except ImportError:  # an optional library that is not installed cannot raise either
            continue
        out.append((getattr(mod, rule.name), rule))
    return out


def foreign_types(kind: str) -> tuple[type[BaseException], ...]:
    """The foreign exception base types mapped for ``"docker"`` or ``"kube"`` calls."""
    return tuple(t for t, _ in _resolve(_DOCKER_RULES if kind == "docker" else _KUBE_RULES))


def _map(rules: tuple[_Rule, ...], exc: BaseException, what: str) -> BackendError:
    for typ, rule in _resolve(rules):
        if isinstance(exc, typ):
            message = _describe(exc)
            fix = rule.fix(exc)
            text = f"{message}\nfix: {fix}" if fix else message
            if rule.error is NotReadyError:
                return NotReadyError(what, text)
            return rule.error(f"{what}: {text}")
    raise TypeError(f"not a mapped foreign exception: {type(exc).__name__}")


def _describe(exc: BaseException) -> str:
    """One line saying what failed: the API's reason and message rather than a repr."""
    explanation = getattr(exc, "explanation", None)  # docker.errors.APIError
    if explanation:
        return f"{type(exc).__name__}: {explanation}"
    status, reason = getattr(exc, "status", None), getattr(exc, "reason", None)
    if status and reason:  # kubernetes ApiException
        return f"{status} {reason}"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def map_docker_error(exc: BaseException, step: str) -> BackendError:
    """The gatewaykit error for an exception raised by the docker SDK, requests or testcontainers."""
    return _map(_DOCKER_RULES, exc, step)


def map_kube_error(exc: BaseException, what: str) -> BackendError:
    """The gatewaykit error for an exception raised by the kubernetes client, urllib3 or websocket."""
    return _map(_KUBE_RULES, exc, what)


@contextlib.contextmanager
def docker_errors(step: str) -> Iterator[None]:
    """Run Docker calls; their exceptions leave as :class:`ClusterError`/:class:`NotReadyError`."""
    try:
        yield
    except foreign_types("docker") as exc:
        raise map_docker_error(exc, step) from exc


@contextlib.contextmanager
def kube_errors(what: str) -> Iterator[None]:
    """Run Kubernetes client calls; their exceptions leave as gatewaykit errors."""
    try:
        yield
    except foreign_types("kube") as exc:
        raise map_kube_error(exc, what) from exc
