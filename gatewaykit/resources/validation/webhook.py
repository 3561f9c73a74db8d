"""Istio's validating webhook ``validation.istio.io``: one table from kind to validator.

The webhook (``pkg/webhooks/validation/server/server.go``) decodes the object and calls the
kind's ``ValidateFunc`` registered in ``pkg/config/validation/validation.go``
(``RegisterValidateFunc``), each wrapped by ``validateMetadata``. :data:`VALIDATORS` is that
registry: to validate another kind, add its ``(group, kind)`` and function here.

Rule: no I/O here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gatewaykit.resources.validation._proto import Config, as_dict, as_str
from gatewaykit.resources.validation.destinationrule import validate_destination_rule
from gatewaykit.resources.validation.gateway import validate_gateway
from gatewaykit.resources.validation.multierror import MultiError, Validation, flatten
from gatewaykit.resources.validation.report import Report
from gatewaykit.resources.validation.serviceentry import validate_service_entry
from gatewaykit.resources.validation.virtualservice import validate_virtual_service

__all__ = ["VALIDATORS", "Validator", "validate_webhook"]

#: A kind's ``ValidateFunc``: the object in, its errors and warnings out.
Validator = Callable[[Config], Validation]

#: ``(API group, kind)`` → the validator the webhook runs for it. Kinds not listed are admitted
#: without webhook checks (the API server's own checks still apply).
VALIDATORS: dict[tuple[str, str], Validator] = {
    ("networking.istio.io", "Gateway"): validate_gateway,
    ("networking.istio.io", "VirtualService"): validate_virtual_service,
    ("networking.istio.io", "DestinationRule"): validate_destination_rule,
    ("networking.istio.io", "ServiceEntry"): validate_service_entry,
}


def config_of(raw: Mapping[str, Any]) -> Config:
    """The :class:`Config` a validator sees for a manifest dict (namespace ``default`` if unset)."""
    api_version = as_str(raw.get("apiVersion"))
    meta = as_dict(raw.get("metadata"))
    return Config(
        group=api_version.rsplit("/", 1)[0] if "/" in api_version else "",
        kind=as_str(raw.get("kind")),
        name=as_str(meta.get("name")),
        namespace=as_str(meta.get("namespace")) or "default",
        spec=as_dict(raw.get("spec")),
        annotations=as_dict(meta.get("annotations")),
    )


def validate_webhook(raw: Mapping[str, Any]) -> Report:
    """Run the webhook's validator for the object's kind; kinds without one pass with no findings."""
    cfg = config_of(raw)
    validator = VALIDATORS.get((cfg.group, cfg.kind))
    if validator is None:
        return Report()
    # validateMetadata (validation.go): only AuthorizationPolicy supports istio.io/dry-run.
    if "istio.io/dry-run" in cfg.annotations:
        return Report(
            errors=(
                f"{cfg.namespace}/{cfg.name} has unsupported annotation istio.io/dry-run, please remove the "
                "annotation",
            )
        )
    v = validator(cfg)
    return Report(
        errors=tuple(flatten(v.err)),
        warnings=tuple(flatten(v.warn)),
        multierror=isinstance(v.err, MultiError),
    )
