"""Validation of the Kubernetes Gateway API kinds: what the API server checks, nothing more.

Rule: no I/O here. Gateway API objects are custom resources without an admission webhook (Istio's
``validation.istio.io`` covers only ``*.istio.io`` groups, and gateway-api v1.3.0 ships no
ValidatingAdmissionPolicy), so ``kubectl apply`` is answered by the API server alone: strict
decoding, ``metadata.name`` as a DNS-1123 subdomain (apiextensions ``customResourceValidator``:
``NameIsDNSSubdomain``), the CRD schema with its defaults, then the CEL rules
(:mod:`.gatewayapi_schema`). Everything Istio itself dislikes is reported later, in ``status``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gatewaykit._gofmt import quote
from gatewaykit.resources.gatewayapi_schema import SCHEMAS, check_gatewayapi_schema
from gatewaykit.resources.schema import _OBJECT_META, FieldError

__all__ = ["validate_gatewayapi"]

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
#: k8s.io/apimachinery validation.RFC1123SubdomainErrorMsg with its example and regex.
_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)


def _name_errors(name: str) -> list[FieldError]:
    # IsDNS1123Subdomain: the length message, then the format message (both when both apply).
    messages = ["must be no more than 253 characters"] if len(name) > 253 else []
    if not _SUBDOMAIN.match(name):
        messages.append(_SUBDOMAIN_MSG)
    return [FieldError("metadata.name", f"Invalid value: {quote(name)}: {m}") for m in messages]


def validate_gatewayapi(raw: Mapping[str, Any]) -> Any:
    """Validate one Gateway API object as the API server would on ``kubectl apply``.

    Args:
        raw: the manifest dict (``apiVersion: gateway.networking.k8s.io/...``).

    Returns:
        A :class:`gatewaykit.resources.validation.Report` with ``unknown_fields`` (strict decoding)
        or ``schema_errors`` (name, schema, CEL); never webhook ``errors``.
    """
    from gatewaykit.resources.validation import Report  # noqa: PLC0415 - validation imports this module

    kind = raw.get("kind")
    if not isinstance(kind, str) or kind not in SCHEMAS:
        return Report()
    meta = raw.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    meta_unknown = [f"metadata.{k}" for k in meta if k not in _OBJECT_META]
    unknown, errors = check_gatewayapi_schema(kind, raw)
    if unknown or meta_unknown:
        return Report(unknown_fields=tuple(unknown + meta_unknown))
    name = meta.get("name")
    name_errors = _name_errors(name) if isinstance(name, str) else []
    if name_errors or errors:
        return Report(schema_errors=tuple(name_errors + errors))
    return Report()
