"""The API server's gates before Istio's webhook: strict decoding, schema, object validation.

Gates 1 and 2 of docs/behaviour.md §14.0. The CRD schema and CEL rules are in
:mod:`gatewaykit.resources.schema`; this module adds the Kubernetes object checks a learner's
manifests meet -- ``metadata.name`` rules (``ValidateObjectMeta``'s name function per kind) and
a few fields of Services, Secrets and Deployments (k8s.io/kubernetes
``pkg/apis/core/validation/validation.go``, ``pkg/apis/apps/validation/validation.go``) -- with
the API server's exact texts.

Rule: no I/O here.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import Any

from gatewaykit._gofmt import format_string_map, quote
from gatewaykit.resources.meta import KINDS
from gatewaykit.resources.schema import FieldError, check_schema
from gatewaykit.resources.validation._proto import as_dict, as_str
from gatewaykit.resources.validation.report import Report

__all__ = ["CORE_CHECKS", "validate_api_server", "validate_name"]


def validate_api_server(raw: dict[str, Any]) -> Report | None:
    """Gates 1+2: what the API server rejects before calling the webhook, or None if it admits.

    Unknown fields are reported with the API server's strict-decoding text rather than the
    webhook's ``unknown field %q on %s resource %s/%s``: kubectl >= 1.27 sends
    ``fieldValidation=Strict``, so the API server rejects the object before the webhook is called
    (and the webhook only checks top-level fields anyway).
    """
    kind = as_str(raw.get("kind"))
    name = as_str(as_dict(raw.get("metadata")).get("name"))
    unknown, schema_errors = check_schema(kind, raw)
    if unknown:
        return Report(unknown_fields=tuple(unknown))
    core_errors: list[FieldError] = []
    check = CORE_CHECKS.get(kind)
    if check is not None:
        core_errors, decode_error = check(raw)
        if decode_error:
            return Report(decode_error=decode_error)
    errors = validate_name(kind, name) + schema_errors + core_errors
    return Report(schema_errors=tuple(errors)) if errors else None


# ------------------------------------------------------------------------------ metadata.name

_K8S_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_K8S_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_K8S_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_MSG_SUBDOMAIN = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_MSG_LABEL = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
    "and "
    "end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
_MSG_1035 = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
    "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)

#: Kinds served by a CustomResourceDefinition (every group but the core and ``apps``).
_CRD_KINDS = frozenset(k.kind for k in KINDS if k.group not in ("", "apps"))


def _path_segment_name(name: str) -> list[FieldError]:
    """apiextensions ``ValidatePathSegmentName``: custom resources only need a URL path segment."""
    for bad in ("/", "%"):
        if bad in name:
            return [FieldError("metadata.name", f"Invalid value: {quote(name)}: may not contain '{bad}'")]
    if name in (".", ".."):
        return [FieldError("metadata.name", f"Invalid value: {quote(name)}: may not be '{name}'")]
    return []


def _pattern_name(pattern: re.Pattern[str], max_len: int, message: str) -> Callable[[str], list[FieldError]]:
    def check(name: str) -> list[FieldError]:
        if len(name) > max_len or not pattern.match(name):
            return [FieldError("metadata.name", f"Invalid value: {quote(name)}: {message}")]
        return []

    return check


#: ``ValidateObjectMeta``'s name function per kind; anything else is a DNS-1123 subdomain.
_NAME_RULES: dict[str, Callable[[str], list[FieldError]]] = {
    "Namespace": _pattern_name(_K8S_LABEL, 63, _MSG_LABEL),  # ValidateNamespaceName
    "Service": _pattern_name(_K8S_1035, 63, _MSG_1035),  # ValidateServiceName
    **{kind: _path_segment_name for kind in _CRD_KINDS},
}
_SUBDOMAIN_NAME = _pattern_name(_K8S_SUBDOMAIN, 253, _MSG_SUBDOMAIN)  # NameIsDNSSubdomain


def validate_name(kind: str, name: str) -> list[FieldError]:
    """The API server's ``metadata.name`` errors for an object of ``kind``."""
    return _NAME_RULES.get(kind, _SUBDOMAIN_NAME)(name)


# ------------------------------------------------------------------------------ object checks


def _port_range(path: str, value: Any) -> FieldError | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    if not 1 <= value <= 65535:
        return FieldError(path, f"Invalid value: {value}: must be between 1 and 65535, inclusive")
    return None


def _check_service(raw: dict[str, Any]) -> tuple[list[FieldError], str]:
    """``ValidateService``: port names (required when several, unique), numbers, protocols."""
    errors: list[FieldError] = []
    spec = as_dict(raw.get("spec"))
    ports: list[Any] = spec["ports"] if isinstance(spec.get("ports"), list) else []
    names: set[str] = set()
    for i, port in enumerate(ports):
        if not isinstance(port, dict):
            continue
        where = f"spec.ports[{i}]"
        name = port.get("name")
        if len(ports) > 1 and not name:
            errors.append(FieldError(f"{where}.name", "Required value"))
        elif isinstance(name, str) and name:
            if name in names:
                errors.append(FieldError(f"{where}.name", f"Duplicate value: {quote(name)}"))
            names.add(name)
        if "port" not in port:
            errors.append(FieldError(f"{where}.port", "Required value"))
        else:
            errors += filter(None, [_port_range(f"{where}.port", port.get("port"))])
        errors += filter(None, [_port_range(f"{where}.targetPort", port.get("targetPort"))])
        proto = port.get("protocol", "TCP")
        if proto not in ("TCP", "UDP", "SCTP"):
            errors.append(
                FieldError(
                    f"{where}.protocol",
                    f'Unsupported value: {quote(proto)}: supported values: "SCTP", "TCP", "UDP"',
                )
            )
    return errors, ""


def _check_secret(raw: dict[str, Any]) -> tuple[list[FieldError], str]:
    """Decoding ``data`` (base64) and ``ValidateSecret``'s required keys of a TLS Secret."""
    decoded: dict[str, bytes] = {}
    data = raw.get("data")
    if isinstance(data, dict):
        for key, value in data.items():
            if not isinstance(value, str):
                continue
            try:
                decoded[key] = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                # Go encoding/base64 CorruptInputError at the first bad byte.
                return [], f"illegal base64 data at input byte {_bad_base64_offset(value)}"
    string_data = raw.get("stringData")
    if isinstance(string_data, dict):
        for key in string_data:
            decoded[key] = b""
    errors: list[FieldError] = []
    if raw.get("type") == "kubernetes.io/tls":
        for key in ("tls.crt", "tls.key"):
            if key not in decoded:
                errors.append(FieldError(f"data[{key}]", "Required value"))
    return errors, ""


def _bad_base64_offset(value: str) -> int:
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    stripped = value.replace("\n", "").replace("\r", "")
    for i, ch in enumerate(stripped):
        if ch == "=":
            return (
                i if len(stripped) % 4 == 0 and i >= len(stripped) - 2 and set(stripped[i:]) == {"="} else i
            )
        if ch not in alphabet:
            return i
    # Length not a multiple of 4: Go reports the offset of the last complete quantum.
    return (len(stripped) // 4) * 4


def _check_deployment(raw: dict[str, Any]) -> tuple[list[FieldError], str]:
    """``ValidateDeployment``: a selector, containers with name and image, ports, matching labels."""
    errors: list[FieldError] = []
    spec = as_dict(raw.get("spec"))
    if not isinstance(spec.get("selector"), dict):
        errors.append(FieldError("spec.selector", "Required value"))
    template = as_dict(spec.get("template"))
    containers = as_dict(template.get("spec")).get("containers")
    if not isinstance(containers, list) or not containers:
        errors.append(FieldError("spec.template.spec.containers", "Required value"))
    else:
        for i, c in enumerate(containers):
            if isinstance(c, dict):
                errors += _check_container(c, f"spec.template.spec.containers[{i}]")
    sel = spec.get("selector") if isinstance(spec.get("selector"), dict) else None
    meta = template.get("metadata")
    labels = meta.get("labels") if isinstance(meta, dict) else None
    if sel and isinstance(sel.get("matchLabels"), dict) and isinstance(labels, dict):
        if any(labels.get(k) != val for k, val in sel["matchLabels"].items()):
            errors.append(
                FieldError(
                    "spec.template.metadata.labels",
                    f"Invalid value: {format_string_map(labels)}: "
                    "`selector` does not match template `labels`",
                )
            )
    return errors, ""


def _check_container(c: dict[str, Any], where: str) -> list[FieldError]:
    errors: list[FieldError] = []
    if not c.get("name"):
        errors.append(FieldError(f"{where}.name", "Required value"))
    if not c.get("image"):
        errors.append(FieldError(f"{where}.image", "Required value"))
    for j, p in enumerate(c.get("ports") or []):
        if isinstance(p, dict):
            errors += filter(None, [_port_range(f"{where}.ports[{j}].containerPort", p.get("containerPort"))])
    return errors


#: Kubernetes object checks by kind: ``(field errors, decode error)``; other kinds have none here.
CORE_CHECKS: dict[str, Callable[[dict[str, Any]], tuple[list[FieldError], str]]] = {
    "Service": _check_service,
    "Secret": _check_secret,
    "Deployment": _check_deployment,
}
