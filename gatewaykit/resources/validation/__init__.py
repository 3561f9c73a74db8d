"""Validation equal to Istio's: the API server's gates and the validating webhook.

A manifest goes through the same three gates as with ``kubectl apply`` against Istio
(docs/behaviour.md §14.0):

1. strict decoding by the API server (unknown fields, Secret base64) and
2. the CRD structural schema and CEL rules, plus Kubernetes' own object checks -- :mod:`.kube`
   (with :mod:`gatewaykit.resources.schema`);
3. Istio's validating webhook ``validation.istio.io`` -- :mod:`.webhook`, whose table
   :data:`~.webhook.VALIDATORS` maps each kind to its validator.

The validators transcribe Istio's files module by module, keeping the *order* of checks and the
exact message texts, each function named after the Go function it ports:

=====================  ===============================================================
``agent.py``           ``pkg/config/validation/agent/validation.go``
``labels.py``          ``pkg/config/labels/instance.go``
``gateway.py``         ``ValidateGateway`` & co. (``pkg/config/validation/validation.go``)
``virtualservice.py``  ``ValidateVirtualService`` & co. (``validation.go``)
``httproute.py``       ``validateHTTPRoute`` & co. (``pkg/config/validation/virtualservice.go``)
``destinationrule.py`` ``ValidateDestinationRule`` & co. (``validation.go``)
``serviceentry.py``    ``ValidateServiceEntry`` & co. (``validation.go``)
``common.py``          the ``validation.go`` helpers several kinds share
``multierror.py``      ``agent.Validation`` and hashicorp/go-multierror's accumulation
=====================  ===============================================================

Rule: no I/O here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gatewaykit.resources.meta import GATEWAY_API_GROUP, Manifest, kind_info
from gatewaykit.resources.validation import webhook
from gatewaykit.resources.validation.kube import validate_api_server
from gatewaykit.resources.validation.multierror import multierror_text
from gatewaykit.resources.validation.report import FieldError, Report
from gatewaykit.resources.validation.webhook import VALIDATORS

__all__ = ["VALIDATORS", "FieldError", "Report", "multierror_text", "validate", "validate_webhook"]


def _raw_of(obj: Any) -> dict[str, Any]:
    if isinstance(obj, Manifest):
        return obj.raw
    if isinstance(obj, Mapping):
        return dict(obj)
    for attr in ("raw", "to_dict"):
        value = getattr(obj, attr, None)
        if callable(value):
            value = value()
        if isinstance(value, Mapping):
            return dict(value)
    raise TypeError(f"cannot validate {type(obj).__name__}")


def validate(obj: Manifest | Mapping[str, Any] | Any) -> Report:
    """Validate one object as ``kubectl apply`` against an Istio cluster would.

    Args:
        obj: a :class:`Manifest` (from :func:`gatewaykit.resources.codecs.load`) or a manifest
            dict (or an object with ``raw``/``to_dict()``).

    Returns:
        A :class:`Report`. Gates run in the API server's order and stop at the first that fails:
        strict decoding (``unknown_fields``/``decode_error``), schema (``schema_errors``), then
        Istio's webhook (``errors``, ``warnings``).
    """
    raw = _raw_of(obj)
    info = kind_info(str(raw.get("apiVersion", "")), str(raw.get("kind", "")))
    if info is not None and info.group == GATEWAY_API_GROUP:  # the Gateway API's own CRDs, no webhook
        from gatewaykit.resources.validation_gatewayapi import validate_gatewayapi  # noqa: PLC0415

        return validate_gatewayapi(raw)  # type: ignore[no-any-return]
    rejected = validate_api_server(raw)
    return rejected if rejected is not None else webhook.validate_webhook(raw)


def validate_webhook(obj: Manifest | Mapping[str, Any] | Any) -> Report:
    """Run only Istio's validating webhook (gate 3), as if the API server had admitted the object.

    Useful to see the webhook's answer for input the CRD schema would already reject (a ``null``
    route, a duplicate port); :func:`validate` is what ``kubectl apply`` shows.
    """
    return webhook.validate_webhook(_raw_of(obj))
