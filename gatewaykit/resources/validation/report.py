"""The outcome of validating one object (what ``kubectl apply`` will print is rendered from it).

Rule: no I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass

from gatewaykit.resources.schema import FieldError
from gatewaykit.resources.validation.multierror import multierror_text

__all__ = ["FieldError", "Report", "multierror_text"]


@dataclass(frozen=True, slots=True)
class Report:
    """The outcome of validating one object.

    Attributes:
        errors: the webhook's error messages, bare (``gateway must have at least one server``).
        warnings: the webhook's warnings (kubectl prints ``Warning: <text>``).
        schema_errors: API-server (CRD schema / CEL / core validation) errors.
        unknown_fields: paths rejected by the API server's strict decoding.
        decode_error: another decoding failure (Secret ``illegal base64 data at input byte 4``).
        multierror: True when Istio's error is a go-multierror even with a single entry.
    """

    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    schema_errors: tuple[FieldError, ...] = ()
    unknown_fields: tuple[str, ...] = ()
    decode_error: str = ""
    multierror: bool = False

    @property
    def ok(self) -> bool:
        """True when the object would be admitted (warnings allowed)."""
        return not (self.errors or self.schema_errors or self.unknown_fields or self.decode_error)

    @property
    def webhook_message(self) -> str:
        """The webhook's error text after ``configuration is invalid: ``."""
        if not self.errors:
            return ""
        if len(self.errors) == 1 and not self.multierror:
            return self.errors[0]
        return multierror_text(self.errors)
