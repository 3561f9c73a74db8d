"""The API server's gates before Istio's webhook: decoding, schema, object validation.

Gates 1 and 2 of istio-behavior.md §14.0. Built-in kinds are decoded into their Go types
(:mod:`.decode`: wrong JSON types, unknown fields); the CRD schema and CEL rules are in
:mod:`gatewaykit.resources.schema`. This module adds the Kubernetes object checks a learner's
manifests meet -- ``ValidateObjectMeta`` (the name function per kind, label and annotation
syntax and sizes: k8s.io/apimachinery ``pkg/api/validation/objectmeta.go``,
``pkg/apis/meta/v1/validation``, ``pkg/util/validation``) and fields of Services, Secrets,
ConfigMaps and Deployments (k8s.io/kubernetes ``pkg/apis/core/validation/validation.go``,
``pkg/apis/apps/validation/validation.go``) -- with the API server's exact texts (v1.33).

Rule: no I/O here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from gatewaykit._gofmt import format_string_map, quote
from gatewaykit.resources.meta import KINDS
from gatewaykit.resources.schema import FieldError, check_schema
from gatewaykit.resources.validation._proto import as_dict, as_str
from gatewaykit.resources.validation.decode import DECODED_KINDS, decode_object
from gatewaykit.resources.validation.report import Report

__all__ = ["CORE_CHECKS", "validate_api_server", "validate_name", "validate_object_meta"]


def validate_api_server(raw: dict[str, Any]) -> Report | None:
    """Gates 1+2: what the API server rejects before calling the webhook, or None if it admits.

    Unknown fields are reported with the API server's strict-decoding text rather than the
    webhook's ``unknown field %q on %s resource %s/%s``: kubectl >= 1.27 sends
    ``fieldValidation=Strict``, so the API server rejects the object before the webhook is called
    (and the webhook only checks top-level fields anyway). A decoding error wins over unknown
    fields, as the API server reports strict-decoding errors only for a body it could decode.
    """
    kind = as_str(raw.get("kind"))
    name = as_str(as_dict(raw.get("metadata")).get("name"))
    schema_errors: list[FieldError] = []
    if kind in DECODED_KINDS:
        decode_error, unknown = decode_object(kind, raw)
        if decode_error:
            return Report(decode_error=decode_error)
    else:
        unknown, schema_errors = check_schema(kind, raw)
    if unknown:
        return Report(unknown_fields=tuple(unknown))
    check = CORE_CHECKS.get(kind)
    core_errors = check(raw) if check is not None else []
    errors = validate_name(kind, name) + validate_object_meta(raw) + schema_errors + core_errors
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


# ------------------------------------------------------------------------------ labels, annotations

_QNAME = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QNAME_RE = re.compile(f"^{_QNAME}$")
_LABEL_VALUE = f"({_QNAME})?"
_LABEL_VALUE_RE = re.compile(f"^{_LABEL_VALUE}$")
_MSG_QNAME = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation "
    f"is '{_QNAME}')"
)
_MSG_LABEL_VALUE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
    f"for validation is '{_LABEL_VALUE}')"
)
#: apimachinery ``TotalAnnotationSizeLimitB``.
ANNOTATIONS_LIMIT = 256 * 1024


def _max_len(n: int) -> str:
    return f"must be no more than {n} characters"


def is_qualified_name(value: str) -> list[str]:
    """apimachinery ``IsQualifiedName``: ``[prefix/]name``, the prefix a DNS subdomain."""
    parts = value.split("/")
    if len(parts) > 2:
        suffix = "with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        return [f"a qualified name {_MSG_QNAME} {suffix}"]
    errs: list[str] = []
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            if len(prefix) > 253:
                errs.append("prefix part " + _max_len(253))
            if not _K8S_SUBDOMAIN.match(prefix):
                errs.append("prefix part " + _MSG_SUBDOMAIN)
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part " + _max_len(63))
    if not _QNAME_RE.match(name):
        errs.append("name part " + _MSG_QNAME)
    return errs


def _label_value_errors(value: str) -> list[str]:
    """apimachinery ``IsValidLabelValue``."""
    errs = [_max_len(63)] if len(value) > 63 else []
    if not _LABEL_VALUE_RE.match(value):
        errs.append(_MSG_LABEL_VALUE)
    return errs


def validate_labels(labels: Any, path: str) -> list[FieldError]:
    """``ValidateLabels``: each key a qualified name, each value at most 63 characters."""
    errors: list[FieldError] = []
    for key, value in labels.items() if isinstance(labels, dict) else ():
        errors += [FieldError(path, f"Invalid value: {quote(key)}: {m}") for m in is_qualified_name(str(key))]
        if isinstance(value, str):
            errors += [
                FieldError(path, f"Invalid value: {quote(value)}: {m}") for m in _label_value_errors(value)
            ]
    return errors


def validate_annotations(annotations: Any, path: str) -> list[FieldError]:
    """``ValidateAnnotations``: keys are qualified names (any case), 256 KiB in all."""
    if not isinstance(annotations, dict):
        return []
    errors: list[FieldError] = []
    for key in annotations:
        errors += [
            FieldError(path, f"Invalid value: {quote(key)}: {m}") for m in is_qualified_name(str(key).lower())
        ]
    size = sum(len(str(k).encode()) + len(v.encode()) for k, v in annotations.items() if isinstance(v, str))
    if size > ANNOTATIONS_LIMIT:
        errors.append(FieldError(path, f"Too long: may not be more than {ANNOTATIONS_LIMIT} bytes"))
    return errors


def validate_object_meta(raw: dict[str, Any]) -> list[FieldError]:
    """``ValidateObjectMetaAccessor`` after the name: ``generation``, labels, annotations."""
    return _meta_errors(raw.get("metadata"), "metadata")


def _meta_errors(meta_value: Any, path: str) -> list[FieldError]:
    meta = as_dict(meta_value)
    errors: list[FieldError] = []
    generation = meta.get("generation")
    if isinstance(generation, int) and not isinstance(generation, bool) and generation < 0:
        errors.append(
            FieldError(
                f"{path}.generation", f"Invalid value: {generation}: must be greater than or equal to 0"
            )
        )
    errors += validate_labels(meta.get("labels"), f"{path}.labels")
    errors += validate_annotations(meta.get("annotations"), f"{path}.annotations")
    return errors


# ------------------------------------------------------------------------------ object checks


def _port_range(path: str, value: Any) -> FieldError | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    if not 1 <= value <= 65535:
        return FieldError(path, f"Invalid value: {value}: must be between 1 and 65535, inclusive")
    return None


def _check_service(raw: dict[str, Any]) -> list[FieldError]:
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
    return errors


#: ``core.MaxSecretSize``: what a Secret's or a ConfigMap's data may hold in all.
DATA_LIMIT = 1024 * 1024
_CONFIG_KEY = "[-._a-zA-Z0-9]+"
_CONFIG_KEY_RE = re.compile(f"^{_CONFIG_KEY}$")
_MSG_CONFIG_KEY = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or "
    f"'KEY_NAME',  or 'key-name', regex used for validation is '{_CONFIG_KEY}')"
)


def _config_key_errors(key: str, path: str) -> list[FieldError]:
    """``IsConfigMapKey`` for one key of ``data``/``binaryData``."""
    msgs = [_max_len(253)] if len(key) > 253 else []
    if not _CONFIG_KEY_RE.match(key):
        msgs.append(_MSG_CONFIG_KEY)
    if key in (".", ".."):
        msgs.append(f"must not be '{key}'")
    elif key.startswith(".."):
        msgs.append("must not start with '..'")
    return [FieldError(f"{path}[{key}]", f"Invalid value: {quote(key)}: {m}") for m in msgs]


def _data_size(values: Any, *, encoded: bool) -> int:
    """The bytes a ``data`` map holds (base64 text counted decoded)."""
    total = 0
    for value in values.values() if isinstance(values, dict) else ():
        if isinstance(value, str):
            text = "".join(value.split())
            total += len(text) * 3 // 4 - text[-2:].count("=") if encoded else len(value.encode())
    return total


def _check_secret(raw: dict[str, Any]) -> list[FieldError]:
    """``ValidateSecret``: data keys, 1 MiB of data, the required keys of a TLS Secret.

    ``stringData`` is merged into ``data`` before validation (the API's conversion).
    """
    data = dict(as_dict(raw.get("data")))
    string_data = as_dict(raw.get("stringData"))
    errors: list[FieldError] = []
    for key in [*data, *(k for k in string_data if k not in data)]:
        errors += _config_key_errors(str(key), "data")
    size = _data_size({k: v for k, v in data.items() if k not in string_data}, encoded=True)
    size += _data_size(string_data, encoded=False)
    if size > DATA_LIMIT:
        errors.append(FieldError("data", f"Too long: may not be more than {DATA_LIMIT} bytes"))
    if raw.get("type") == "kubernetes.io/tls":
        for key in ("tls.crt", "tls.key"):
            if key not in data and key not in string_data:
                errors.append(FieldError(f"data[{key}]", "Required value"))
    return errors


def _check_configmap(raw: dict[str, Any]) -> list[FieldError]:
    """``ValidateConfigMap``: keys, no key in both maps, 1 MiB in all (reported on the object, ``[]``)."""
    data, binary = as_dict(raw.get("data")), as_dict(raw.get("binaryData"))
    errors: list[FieldError] = []
    for key in data:
        errors += _config_key_errors(str(key), "data")
    for key in binary:
        errors += _config_key_errors(str(key), "binaryData")
        if key in data:
            errors.append(
                FieldError(
                    f"binaryData[{key}]",
                    f"Invalid value: {quote(key)}: duplicate key in both data and binaryData",
                )
            )
    if _data_size(data, encoded=False) + _data_size(binary, encoded=True) > DATA_LIMIT:
        errors.append(FieldError("[]", f"Too long: may not be more than {DATA_LIMIT} bytes"))
    return errors


def _nonnegative(spec: dict[str, Any], name: str, path: str) -> list[FieldError]:
    """``ValidateNonnegativeField``."""
    value = spec.get(name)
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        return [FieldError(f"{path}.{name}", f"Invalid value: {value}: must be greater than or equal to 0")]
    return []


def _check_deployment(raw: dict[str, Any]) -> list[FieldError]:
    """``ValidateDeploymentSpec``: replicas, a selector, the template's metadata, containers with
    name and image, ports, matching labels, then the counters that may not be negative."""
    spec = as_dict(raw.get("spec"))
    errors = _nonnegative(spec, "replicas", "spec")
    if not isinstance(spec.get("selector"), dict):
        errors.append(FieldError("spec.selector", "Required value"))
    template = as_dict(spec.get("template"))
    errors += _meta_errors(template.get("metadata"), "spec.template.metadata")
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
    errors += _nonnegative(spec, "minReadySeconds", "spec")
    errors += _nonnegative(spec, "revisionHistoryLimit", "spec")
    return errors


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


#: Kubernetes object checks by kind (after ObjectMeta's); other kinds have none here.
CORE_CHECKS: dict[str, Callable[[dict[str, Any]], list[FieldError]]] = {
    "Service": _check_service,
    "Secret": _check_secret,
    "ConfigMap": _check_configmap,
    "Deployment": _check_deployment,
}
