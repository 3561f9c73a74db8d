"""The one error tree of gatewaykit.

Our exception hierarchy::

    GatewayKitError
    ├── ValidationError        Istio/Kubernetes would reject the manifest; str() is what kubectl prints
    │   └── ManifestError      the manifest cannot even be read: YAML syntax, unknown apiVersion/kind
    │       └── ManifestSyntaxError   the YAML/JSON does not parse (``line``, ``problem``)
    ├── ApiError               the API server refused a request (NotFound, AlreadyExists, Conflict...)
    ├── LabError               a lab file is malformed (file, line, what is wrong)
    └── BackendError           a backend could not do what was asked
        ├── SandboxError       the embedded sandbox failed (bind, TLS setup, workload start)
        │   └── NginxConfError the nginx stand-in refused its configuration (nginx's ``[emerg]`` line)
        ├── ClusterError       kind / Docker / Kubernetes API problems (wraps the cause with ``from``)
        └── NotReadyError      something did not become ready in time; recent logs attached

Things a learner is *supposed* to see -- no route, no filter chain, TLS required,
blocked egress -- are not exceptions: they are :class:`gatewaykit.Result`
values with a ``miss`` (the way Istio's own simulation tests assert ``ErrNoRoute``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# The API server's refusal, a ``gatewaykit.kube.status.Status`` (typed loosely: this module is the
# bottom layer and imports nothing of the package).
Status = Any

__all__ = [
    "ApiError",
    "BackendError",
    "ClusterError",
    "GatewayKitError",
    "LabError",
    "ManifestError",
    "ManifestSyntaxError",
    "NginxConfError",
    "NotReadyError",
    "SandboxError",
    "ValidationError",
]


class GatewayKitError(Exception):
    """Base class of every error gatewaykit raises on purpose."""


class ValidationError(GatewayKitError):
    """A manifest was rejected the way ``kubectl apply`` against Istio would reject it.

    ``str(err)`` is exactly what kubectl prints (one or more lines, see docs/behaviour.md §14.0).
    ``errors`` holds the bare
    messages, ``warnings`` the ``Warning: ...`` texts of objects that *would* have
    been accepted. Nothing is changed when this is raised.
    """

    def __init__(
        self,
        rendered: str,
        *,
        errors: Sequence[str] = (),
        warnings: Sequence[str] = (),
        status: Status | None = None,
    ) -> None:
        super().__init__(rendered)
        self.rendered = rendered
        self.errors: tuple[str, ...] = tuple(errors) or (rendered,)
        self.warnings: tuple[str, ...] = tuple(warnings)
        #: The API server's ``Status`` for this refusal (what the sandbox's API server sends).
        self.status = status

    def __str__(self) -> str:
        return self.rendered


class ApiError(GatewayKitError):
    """The API server refused a request for a reason other than validation.

    ``status`` is the ``meta/v1`` Status the API server sends (NotFound, AlreadyExists, Conflict,
    Forbidden, MethodNotAllowed...); ``str(err)`` is what kubectl prints for it.
    """

    def __init__(self, status: Status, rendered: str) -> None:
        self.status = status
        self.rendered = rendered
        super().__init__(rendered)

    def __str__(self) -> str:
        return self.rendered


class ManifestError(ValidationError):
    """The manifest could not be parsed or names an unsupported apiVersion/kind."""


class ManifestSyntaxError(ManifestError):
    """The manifest text is not YAML (or JSON); ``str()`` is kubectl's ``error parsing`` line.

    Attributes:
        line: the 1-based line of the problem in the whole text (kubectl's own message counts
            from the start of the document instead); 0 when the parser gives no position.
        problem: the parser's description of the problem.
    """

    def __init__(self, rendered: str, *, line: int, problem: str) -> None:
        super().__init__(rendered)
        self.line = line
        self.problem = problem


class LabError(GatewayKitError):
    """A lab definition file is malformed; the message names file, line and problem."""


class BackendError(GatewayKitError):
    """A backend (local sandbox or cluster) failed to perform an operation."""


class SandboxError(BackendError):
    """The embedded local sandbox failed: a bind, a TLS setup, a workload start."""


class NginxConfError(SandboxError):
    """nginx refused its configuration; ``str()`` is nginx's ``[emerg]`` line.

    Raised by the nginx stand-in (:mod:`gatewaykit.workloads.nginx`), which turns it into the
    pod's ``CrashLoopBackOff`` with that line in its log, as the real container would.
    """


class ClusterError(BackendError):
    """The kind / bring-your-own-cluster backend failed (Docker, Kubernetes API, Istio)."""


class NotReadyError(BackendError):
    """Something did not become ready in time.

    Args:
        name: what was being waited for (a step name such as ``"istio install"``).
        message: what went wrong, and the fix when known.
        logs: the last log lines of the thing waited for, shown under the message.
    """

    def __init__(self, name: str, message: str, logs: str = "") -> None:
        text = f"{name}: {message}"
        if logs:
            text += "\n--- last log lines ---\n" + logs.rstrip()
        super().__init__(text)
        self.name = name
        self.logs = logs
