"""Admission: what the API server checks before it stores a client's object, as a ``Status``.

The gates, in the API server's order: the namespace must exist (``NamespaceLifecycle``); the body
must decode strictly (unknown fields, Secret base64); the schema (core validation, or a CRD's
OpenAPI schema and CEL rules) must hold; then Istio's validating webhook
``validation.istio.io`` must admit it. The checks themselves live in
:mod:`gatewaykit.resources.validation`; this module turns their :class:`Report` into the
``Status`` the API server answers with (``k8s.io/apimachinery/pkg/api/errors``).

Rule: no I/O here.
"""

from __future__ import annotations

import json
from typing import Any

from gatewaykit.errors import GatewayKitError, ValidationError
from gatewaykit.kube import status as st
from gatewaykit.resources.meta import KindInfo, Manifest, Source
from gatewaykit.resources.render import WEBHOOK
from gatewaykit.resources.validation import Report, validate

__all__ = ["MAX_BODY", "bare_errors", "check", "check_size", "rejection", "status_for_report"]

#: kube-apiserver's limit on a request body (``--max-request-body-bytes`` default, 3 MiB).
MAX_BODY = 3 * 1024 * 1024

# FieldError details start with field.ErrorType's text (apimachinery pkg/util/validation/field).
_CAUSE_REASONS: tuple[tuple[str, str], ...] = (
    ("Required value", "FieldValueRequired"),
    ("Unsupported value", "FieldValueNotSupported"),
    ("Duplicate value", "FieldValueDuplicate"),
    ("Too long", "FieldValueTooLong"),
    ("Too many", "FieldValueTooMany"),
    ("Forbidden", "FieldValueForbidden"),
    ("Not found", "FieldValueNotFound"),
    ("Internal error", "InternalError"),
    ("Invalid value", "FieldValueInvalid"),
)


def _cause(field: str, detail: str) -> st.Cause:
    reason = next((r for prefix, r in _CAUSE_REASONS if detail.startswith(prefix)), "FieldValueInvalid")
    return st.Cause(field=field, message=detail, reason=reason)


def status_for_report(info: KindInfo, obj: dict[str, Any], report: Report) -> st.Status:
    """The API server's Status for an object ``report`` rejects (``report.ok`` is False)."""
    kind = info.kind
    version = str(obj.get("apiVersion", "")).rsplit("/", 1)[-1]
    name = _name(obj)
    if report.unknown_fields:
        fields = ", ".join(f'unknown field "{f}"' for f in report.unknown_fields)
        return st.bad_request(
            f'{kind} in version "{version}" cannot be handled as a {kind}: strict decoding error: {fields}'
        )
    if report.decode_error:
        return st.bad_request(
            f'{kind} in version "{version}" cannot be handled as a {kind}: {report.decode_error}'
        )
    if report.schema_errors:
        causes = [_cause(e.field, e.detail) for e in report.schema_errors]
        return st.invalid(kind, info.group, name, causes)
    return st.webhook_denied(WEBHOOK, f"configuration is invalid: {report.webhook_message}")


def bare_errors(report: Report) -> list[str]:
    """The bare messages of a rejection (``short names (non FQDN) are not allowed``)."""
    if report.unknown_fields:
        return [f'strict decoding error: unknown field "{f}"' for f in report.unknown_fields]
    if report.decode_error:
        return [report.decode_error]
    if report.schema_errors:
        return [str(e) for e in report.schema_errors]
    return list(report.errors)


def _name(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    return name if isinstance(name, str) else ""


def rejection(status: st.Status, errors: list[str], warnings: tuple[str, ...] = ()) -> ValidationError:
    """A :class:`ValidationError` carrying ``status`` (kubectl's text without a file)."""
    return ValidationError(st.kubectl_text(status), errors=errors, warnings=warnings, status=status)


def check_size(obj: dict[str, Any]) -> None:
    """The API server's body limit, for an object sent without HTTP (``sb.apply``): kubectl would
    send it as JSON, and a body over :data:`MAX_BODY` is refused before it is decoded."""
    if len(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()) > MAX_BODY:
        status = st.too_large(MAX_BODY)
        raise rejection(status, [status.message])


def check(info: KindInfo, obj: dict[str, Any], source: Source) -> tuple[str, ...]:
    """Run decoding, schema and webhook validation on a client's object.

    Returns:
        The webhook's warnings (kubectl prints ``Warning: <text>``).

    Raises:
        ValidationError: with ``status`` set; nothing is stored. A validator that fails on input
            it did not foresee is the API server's ``InternalError``, never a Python exception.
    """
    try:
        report = validate(Manifest(obj, source))
    except GatewayKitError:
        raise
    except (LookupError, TypeError, ValueError, AttributeError, ArithmeticError, RecursionError) as exc:
        status = st.internal_error(f"failed to validate the {info.kind}: {type(exc).__name__}: {exc}")
        raise rejection(status, [status.message]) from exc
    if not report.ok:
        raise rejection(status_for_report(info, obj, report), bare_errors(report), tuple(report.warnings))
    return tuple(report.warnings)
