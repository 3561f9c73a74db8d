"""Istio's label and DNS-label rules (``pkg/config/labels/instance.go``).

Istio's ``dns1123LabelFmt`` accepts upper case, unlike Kubernetes' own (``kube.py``).

Rule: no I/O here.
"""

from __future__ import annotations

import re
from typing import Any

from gatewaykit._gofmt import quote
from gatewaykit.resources.validation.multierror import Err, multierror_append

__all__ = ["is_dns1123_label", "is_wildcard_dns1123_label", "validate_labels"]

_DNS1123_LABEL_FMT = r"[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?"
_DNS1123_LABEL = re.compile(f"^{_DNS1123_LABEL_FMT}$")
_WILDCARD_LABEL = re.compile(rf"^(\*|(\*|\*-)?{_DNS1123_LABEL_FMT})$")
_QUALIFIED_NAME = r"(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_TAG_KEY = re.compile(rf"^({_DNS1123_LABEL_FMT}(?:\.{_DNS1123_LABEL_FMT})*/)?({_QUALIFIED_NAME})$")
_LABEL_VALUE = re.compile(rf"^({_QUALIFIED_NAME})?$")


def is_dns1123_label(value: str) -> bool:
    """``labels.IsDNS1123Label``: at most 63 characters of ``dns1123LabelFmt``."""
    return len(value) <= 63 and bool(_DNS1123_LABEL.match(value))


def is_wildcard_dns1123_label(value: str) -> bool:
    """``labels.IsWildcardDNS1123Label``: a DNS label, optionally ``*``/``*-`` prefixed, or ``*``."""
    return len(value) <= 63 and bool(_WILDCARD_LABEL.match(value))


def validate_labels(labels: dict[str, Any]) -> Err:
    """``labels.Instance.Validate`` (appends with a bare ``multierror.Append``)."""
    errs: Err = None
    for k, v in labels.items():
        m = _TAG_KEY.match(str(k))
        if not m or (m.group(1) and len(m.group(1)) - 1 > 253) or len(m.group(2) or "") > 63:
            errs = multierror_append(errs, f"invalid tag key: {quote(k)}")
        if not _LABEL_VALUE.match("" if v is None else str(v)) or len(str(v or "")) > 63:
            errs = multierror_append(errs, f"invalid tag value: {quote(v)}")
    return errs
