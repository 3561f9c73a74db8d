"""Kubernetes ``Status`` objects: how the API server refuses a request, and how kubectl prints it.

The sandbox's API server answers every failed request with a ``meta/v1`` ``Status`` built here;
the real kubectl prints it. The Python API (``sb.apply``) prints the same text without a kubectl in
between, so :func:`kubectl_text` reproduces kubectl's own formatting:

* ``cmdutil.AddSourceToErr`` (k8s.io/kubectl pkg/cmd/util/helpers.go) prefixes the message with
  ``error when <verb> "<file>": `` for errors tied to a file;
* ``checkErr`` prints ``Invalid`` statuses from their *details* (``The Gateway "x" is invalid:``
  and one line per cause), without the file;
* ``StandardErrorMessage`` prints the others as ``Error from server (<Reason>): <message>``, or
  ``Error from server: <message>`` when the reason is empty (an admission webhook's denial).

Constructors mirror apimachinery's ``pkg/api/errors/errors.go`` (``NewNotFound``,
``NewAlreadyExists``, ``NewConflict``, ``NewInvalid``, ``NewBadRequest``...) and keep their texts.

Rule: no I/O here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gatewaykit.errors import ApiError

__all__ = [
    "Cause",
    "api_error",
    "Status",
    "already_exists",
    "bad_request",
    "conflict",
    "forbidden",
    "gone",
    "internal_error",
    "invalid",
    "kubectl_text",
    "method_not_allowed",
    "not_found",
    "qualified_resource",
    "too_large",
    "unauthorized",
    "unsupported_media_type",
    "webhook_denied",
]


@dataclass(frozen=True, slots=True)
class Cause:
    """One ``StatusCause``: which field, why (``FieldValueRequired``...), and the detail text."""

    field: str
    message: str
    reason: str = "FieldValueInvalid"

    def to_dict(self) -> dict[str, str]:
        """The JSON form (``reason``, ``message``, ``field``)."""
        return {"reason": self.reason, "message": self.message, "field": self.field}


@dataclass(frozen=True, slots=True)
class Status:
    """A failed ``meta/v1`` Status.

    Attributes:
        code: the HTTP status code.
        reason: ``NotFound``, ``AlreadyExists``, ``Invalid``, ``BadRequest``... or "" (webhook denial).
        message: the server's message (kubectl prints it after its own prefix).
        kind / name / group: the ``details`` naming the object (empty when there are none).
        causes: the ``details.causes`` (Invalid errors list one per field).
        has_details: whether the Status carries ``details`` at all (kubectl's Invalid rendering
            depends on it).
    """

    code: int
    reason: str
    message: str
    kind: str = ""
    name: str = ""
    group: str = ""
    causes: tuple[Cause, ...] = ()
    has_details: bool = True
    retry_after: int = 0
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The ``Status`` object as the API server sends it."""
        out: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
        }
        if self.reason:
            out["reason"] = self.reason
        if self.has_details:
            details: dict[str, Any] = {}
            if self.name:
                details["name"] = self.name
            if self.group:
                details["group"] = self.group
            if self.kind:
                details["kind"] = self.kind
            if self.causes:
                details["causes"] = [c.to_dict() for c in self.causes]
            if self.retry_after:
                details["retryAfterSeconds"] = self.retry_after
            if details:
                out["details"] = details
        out["code"] = self.code
        out.update(self.extra)
        return out


def qualified_resource(plural: str, group: str) -> str:
    """``gateways.networking.istio.io`` / ``services``: how errors name a resource."""
    return f"{plural}.{group}" if group else plural


def not_found(plural: str, group: str, name: str) -> Status:
    """``NewNotFound``: ``gateways.networking.istio.io "x" not found``."""
    return Status(
        404,
        "NotFound",
        f'{qualified_resource(plural, group)} "{name}" not found',
        kind=plural,
        name=name,
        group=group,
    )


def already_exists(plural: str, group: str, name: str) -> Status:
    """``NewAlreadyExists``: ``gateways.networking.istio.io "x" already exists``."""
    return Status(
        409,
        "AlreadyExists",
        f'{qualified_resource(plural, group)} "{name}" already exists',
        kind=plural,
        name=name,
        group=group,
    )


def conflict(plural: str, group: str, name: str, why: str) -> Status:
    """``NewConflict``: ``Operation cannot be fulfilled on <resource> "x": <why>``."""
    return Status(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {qualified_resource(plural, group)} "{name}": {why}',
        kind=plural,
        name=name,
        group=group,
    )


def invalid(kind: str, group: str, name: str, causes: Sequence[Cause]) -> Status:
    """``NewInvalid``: ``Gateway.networking.istio.io "x" is invalid: <errs>``.

    One error prints bare; several print as a Go aggregate, ``[a, b]``.
    """
    qualified = f"{kind}.{group}" if group else kind
    texts = [f"{c.field}: {c.message}" for c in causes]
    agg = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    return Status(
        422,
        "Invalid",
        f'{qualified} "{name}" is invalid: {agg}',
        kind=kind,
        name=name,
        group=group,
        causes=tuple(causes),
    )


def bad_request(message: str) -> Status:
    """``NewBadRequest``: a body the server cannot decode, a bad selector, a bad patch."""
    return Status(400, "BadRequest", message, has_details=False)


def webhook_denied(webhook: str, message: str) -> Status:
    """``webhookerrors.ToStatusErr``: code 400, no reason (kubectl prints ``Error from server:``)."""
    return Status(400, "", f'admission webhook "{webhook}" denied the request: {message}', has_details=False)


def forbidden(plural: str, group: str, name: str, why: str) -> Status:
    """``NewForbidden``: ``<resource> "x" is forbidden: <why>``."""
    what = f'{qualified_resource(plural, group)} "{name}"' if name else qualified_resource(plural, group)
    return Status(403, "Forbidden", f"{what} is forbidden: {why}", kind=plural, name=name, group=group)


def method_not_allowed(plural: str, group: str, verb: str) -> Status:
    """``NewMethodNotSupported``: ``<verb> is not supported on resources of kind "<resource>"``."""
    return Status(
        405,
        "MethodNotAllowed",
        f'{verb} is not supported on resources of kind "{qualified_resource(plural, group)}"',
        kind=plural,
        group=group,
    )


def gone(message: str) -> Status:
    """``NewResourceExpired``: a watch asked for a resourceVersion that is too old."""
    return Status(410, "Expired", message, has_details=False)


def unauthorized() -> Status:
    """What the API server answers a request without a valid bearer token."""
    return Status(401, "Unauthorized", "Unauthorized", has_details=False)


def too_large(limit: int) -> Status:
    """``NewRequestEntityTooLargeError`` for a body over the API server's limit."""
    return Status(
        413, "RequestEntityTooLarge", f"Request entity too large: limit is {limit}", has_details=False
    )


def unsupported_media_type(content_type: str) -> Status:
    """``NewUnsupportedMediaTypeError``."""
    return Status(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - "
        f"accepted media types include: application/json, application/yaml, "
        f'application/vnd.kubernetes.protobuf (got "{content_type}")',
        has_details=False,
    )


def internal_error(why: str) -> Status:
    """``NewInternalError``: ``Internal error occurred: <why>``."""
    return Status(500, "InternalError", f"Internal error occurred: {why}", has_details=False)


def kubectl_text(status: Status, *, verb: str | None = None, source: str | None = None) -> str:
    """What kubectl prints for ``status`` (without the trailing newline).

    Args:
        status: the server's refusal.
        verb: ``creating``, ``patching``, ``deleting``...: set when kubectl ties the request to a
            file (``AddSourceToErr``); None for requests made by name.
        source: the file name kubectl read (``STDIN`` for ``-f -``).
    """
    if status.reason == "Invalid" and status.has_details:
        return _invalid_text(status)
    message = status.message
    if verb and source:
        message = f'error when {verb} "{source}": {message}'
    if status.reason == "Unauthorized":
        return f"error: You must be logged in to the server ({status.message})"
    if status.reason:
        return f"Error from server ({status.reason}): {message}"
    return f"Error from server: {message}"


def _invalid_text(status: Status) -> str:
    """``checkErr``'s Invalid branch: from the details, one line per distinct cause."""
    head = "The request is invalid"
    if status.kind or status.name:
        head = f'The {status.kind} "{status.name}" is invalid'
    elif status.message and not status.causes:
        head += ": " + status.message
    seen: list[str] = []
    for c in status.causes:
        text = f"{c.field}: {c.message}"
        if text not in seen:
            seen.append(text)
    if not seen:
        return head
    if len(seen) == 1:
        return f"{head}: {seen[0]}"
    return f"{head}: \n" + "\n".join(f"* {t}" for t in seen)


def api_error(status: Status) -> ApiError:
    """An :class:`~gatewaykit.errors.ApiError` carrying ``status``, worded as kubectl prints it."""
    return ApiError(status, kubectl_text(status))
