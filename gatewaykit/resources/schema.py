"""The API-server layer of validation: Istio's CRD OpenAPI schemas, CEL rules and strict decoding.

Before Istio's webhook sees an object, the Kubernetes API server (1) decodes it strictly --
unknown fields are rejected (kubectl >= 1.27 asks for ``fieldValidation=Strict``) -- and
(2) validates it against the CRD's structural schema and ``x-kubernetes-validations`` (CEL)
rules from ``manifests/charts/base/files/crd-all.gen.yaml`` (§14.0, [I-CRD]). This module holds a
compact transcription of those schemas for Gateway, VirtualService, DestinationRule and
ServiceEntry and walks a raw dict against it.

Kubernetes' message shapes (apiextensions-apiserver / kube-openapi):

* required:   ``spec.servers[0].port: Required value``
* type:       ``spec.x: Invalid value: "string": spec.x in body must be of type integer: "string"``
* enum:       ``spec.x: Unsupported value: "FOO": supported values: "A", "B"``
* CEL rule:   ``spec.x: Invalid value: "<schema type>": <rule message>``
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gatewaykit._gofmt import quote

__all__ = ["FieldError", "SCHEMAS", "check_schema"]


@dataclass(frozen=True, slots=True)
class FieldError:
    """One CRD-schema error: the field path and Kubernetes' detail text."""

    field: str
    detail: str

    def __str__(self) -> str:
        return f"{self.field}: {self.detail}"


# ----------------------------------------------------------------------------------------------
# A tiny schema vocabulary. Nodes are plain tuples for speed: (kind, payload...).
# ----------------------------------------------------------------------------------------------
S = ("string",)
I = ("integer",)  # noqa: E741 - mirrors the OpenAPI type name
N = ("number",)
B = ("boolean",)
ANY = ("any",)  # x-kubernetes-preserve-unknown-fields or a part we do not transcribe
#: Istio durations: ``type: string`` + CEL ``duration(self) >= duration('1ms')`` ([I-CRD]).
DUR = ("duration",)


def obj(props: dict[str, Any], required: tuple[str, ...] = (), rules: tuple[Any, ...] = ()) -> tuple:
    """An object with known properties (unknown ones are rejected by strict decoding)."""
    return ("object", props, required, rules)


def arr(item: Any, rules: tuple[Any, ...] = ()) -> tuple:
    """An array of ``item``."""
    return ("array", item, rules)


def mp(value: Any, rules: tuple[Any, ...] = ()) -> tuple:
    """A map (``additionalProperties``) of ``value``."""
    return ("map", value, rules)


def enum(*values: str) -> tuple:
    """A string enum (Istio CRDs list the proto enum names)."""
    return ("enum", values)


_STRING_MATCH = obj({"exact": S, "prefix": S, "regex": S})
_PORT_SELECTOR = obj({"number": I})
_DESTINATION = obj({"host": S, "subset": S, "port": _PORT_SELECTOR}, required=("host",))
_HEADER_OPS = obj({"set": mp(S), "add": mp(S), "remove": arr(S)})
_HEADERS = obj({"request": _HEADER_OPS, "response": _HEADER_OPS})
_PERCENT = obj({"value": N})

# --- Gateway ([A-GW], [I-CRD]) ---------------------------------------------------------------
_TLS_VERSIONS = enum("TLS_AUTO", "TLSV1_0", "TLSV1_1", "TLSV1_2", "TLSV1_3")


def _rule_only_one(a: str, b: str) -> tuple:
    """CEL ``!(has(self.a) && has(self.b))`` -- Istio's "only one of" rules on ``tls``."""

    def check(value: dict[str, Any]) -> bool:
        return not (a in value and b in value)

    return (check, f"only one of {a} or {b} can be set")


_SERVER_TLS = obj(
    {
        "httpsRedirect": B,
        "mode": enum(
            "PASSTHROUGH", "SIMPLE", "MUTUAL", "AUTO_PASSTHROUGH", "ISTIO_MUTUAL", "OPTIONAL_MUTUAL"
        ),
        "serverCertificate": S,
        "privateKey": S,
        "caCertificates": S,
        "caCrl": S,
        "credentialName": S,
        "credentialNames": arr(S),
        "tlsCertificates": arr(obj({"serverCertificate": S, "privateKey": S, "caCertificates": S})),
        "subjectAltNames": arr(S),
        "verifyCertificateSpki": arr(S),
        "verifyCertificateHash": arr(S),
        "minProtocolVersion": _TLS_VERSIONS,
        "maxProtocolVersion": _TLS_VERSIONS,
        "cipherSuites": arr(S),
    },
    rules=(
        _rule_only_one("credentialName", "credentialNames"),
        _rule_only_one("credentialName", "tlsCertificates"),
        _rule_only_one("credentialNames", "tlsCertificates"),
    ),
)

GATEWAY = obj(
    {
        "servers": arr(
            obj(
                {
                    "port": obj(
                        {"number": I, "protocol": S, "name": S, "targetPort": I},
                        required=("number", "protocol", "name"),
                    ),
                    "bind": S,
                    "hosts": arr(S),
                    "tls": _SERVER_TLS,
                    "defaultEndpoint": S,
                    "name": S,
                },
                required=("port", "hosts"),
            )
        ),
        "selector": mp(S),
    }
)

# --- VirtualService ([A-VS]) -------------------------------------------------------------------
_HTTP_MATCH = obj(
    {
        "name": S,
        "uri": _STRING_MATCH,
        "scheme": _STRING_MATCH,
        "method": _STRING_MATCH,
        "authority": _STRING_MATCH,
        "headers": mp(_STRING_MATCH),
        "port": I,
        "sourceLabels": mp(S),
        "gateways": arr(S),
        "queryParams": mp(_STRING_MATCH),
        "ignoreUriCase": B,
        "withoutHeaders": mp(_STRING_MATCH),
        "sourceNamespace": S,
        "statPrefix": S,
    }
)
_ROUTE_DEST = obj({"destination": _DESTINATION, "weight": I}, required=("destination",))
_HTTP_ROUTE = obj(
    {
        "name": S,
        "match": arr(_HTTP_MATCH),
        "route": arr(
            obj({"destination": _DESTINATION, "weight": I, "headers": _HEADERS}, required=("destination",))
        ),
        "redirect": obj(
            {
                "uri": S,
                "authority": S,
                "port": I,
                "derivePort": enum("FROM_PROTOCOL_DEFAULT", "FROM_REQUEST_PORT"),
                "scheme": S,
                "redirectCode": I,
            }
        ),
        "directResponse": obj({"status": I, "body": obj({"string": S, "bytes": S})}, required=("status",)),
        "delegate": obj({"name": S, "namespace": S}),
        "rewrite": obj({"uri": S, "authority": S, "uriRegexRewrite": obj({"match": S, "rewrite": S})}),
        "timeout": DUR,
        "retries": obj(
            {
                "attempts": I,
                "perTryTimeout": DUR,
                "retryOn": S,
                "retryRemoteLocalities": B,
                "retryIgnorePreviousHosts": B,
                "backoff": DUR,
            }
        ),
        "fault": obj(
            {
                "delay": obj(
                    {"fixedDelay": DUR, "exponentialDelay": DUR, "percentage": _PERCENT, "percent": I}
                ),
                "abort": obj({"httpStatus": I, "grpcStatus": S, "http2Error": S, "percentage": _PERCENT}),
            }
        ),
        "mirror": _DESTINATION,
        "mirrors": arr(obj({"destination": _DESTINATION, "percentage": _PERCENT}, required=("destination",))),
        "mirrorPercentage": _PERCENT,
        "mirrorPercent": I,
        "corsPolicy": obj(
            {
                "allowOrigins": arr(_STRING_MATCH),
                "allowOrigin": arr(S),
                "allowMethods": arr(S),
                "allowHeaders": arr(S),
                "exposeHeaders": arr(S),
                "maxAge": DUR,
                "allowCredentials": B,
                "unmatchedPreflights": enum("UNSPECIFIED", "FORWARD", "IGNORE"),
            }
        ),
        "headers": _HEADERS,
    }
)
VIRTUAL_SERVICE = obj(
    {
        "hosts": arr(S),
        "gateways": arr(S),
        "exportTo": arr(S),
        "http": arr(_HTTP_ROUTE),
        "tls": arr(
            obj(
                {
                    "match": arr(
                        obj(
                            {
                                "sniHosts": arr(S),
                                "destinationSubnets": arr(S),
                                "port": I,
                                "sourceLabels": mp(S),
                                "gateways": arr(S),
                                "sourceNamespace": S,
                            },
                            required=("sniHosts",),
                        )
                    ),
                    "route": arr(_ROUTE_DEST),
                },
                required=("match",),
            )
        ),
        "tcp": arr(
            obj(
                {
                    "match": arr(
                        obj(
                            {
                                "destinationSubnets": arr(S),
                                "port": I,
                                "sourceSubnet": S,
                                "sourceLabels": mp(S),
                                "gateways": arr(S),
                                "sourceNamespace": S,
                            }
                        )
                    ),
                    "route": arr(_ROUTE_DEST),
                }
            )
        ),
    }
)

# --- DestinationRule ([A-DR], [I-CRDT] destinationrule-invalid.yaml) --------------------------
_CLIENT_TLS = obj(
    {
        "mode": enum("DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"),
        "clientCertificate": S,
        "privateKey": S,
        "caCertificates": S,
        "credentialName": S,
        "subjectAltNames": arr(S),
        "sni": S,
        "insecureSkipVerify": B,
        "caCrl": S,
    }
)
_LB = obj(
    {
        "simple": enum("UNSPECIFIED", "LEAST_CONN", "RANDOM", "PASSTHROUGH", "ROUND_ROBIN", "LEAST_REQUEST"),
        "consistentHash": ANY,
        "localityLbSetting": ANY,
        "warmupDurationSecs": DUR,
        "warmup": ANY,
    }
)
_PORT_POLICY = obj(
    {
        "port": _PORT_SELECTOR,
        "loadBalancer": _LB,
        "connectionPool": ANY,
        "outlierDetection": ANY,
        "tls": _CLIENT_TLS,
    }
)
_TRAFFIC_POLICY = obj(
    {
        "loadBalancer": _LB,
        "connectionPool": ANY,
        "outlierDetection": ANY,
        "tls": _CLIENT_TLS,
        "portLevelSettings": arr(_PORT_POLICY),
        "tunnel": obj({"protocol": S, "targetHost": S, "targetPort": I}),
        "proxyProtocol": obj({"version": enum("V1", "V2")}),
    }
)
DESTINATION_RULE = obj(
    {
        "host": S,
        "trafficPolicy": _TRAFFIC_POLICY,
        "subsets": arr(
            obj({"name": S, "labels": mp(S), "trafficPolicy": _TRAFFIC_POLICY}, required=("name",))
        ),
        "exportTo": arr(S),
        "workloadSelector": obj({"matchLabels": mp(S)}),
    },
    required=("host",),
)


# --- ServiceEntry ([A-SE], [I-CRD], [I-CRDT] serviceentry-invalid.yaml) ------------------------
def _se_port_number(v: Any) -> bool:
    return not isinstance(v, int) or 0 < v <= 65535


def _se_unique_ports(ports: list[Any]) -> bool:
    numbers = [p.get("number") for p in ports if isinstance(p, dict) and "number" in p]
    return len(numbers) == len(set(map(repr, numbers)))


def _se_cidr_rule(spec: dict[str, Any]) -> bool:
    addrs = spec.get("addresses") or []
    if not isinstance(addrs, list) or not any(isinstance(a, str) and "/" in a for a in addrs):
        return True
    return spec.get("resolution", "NONE") in ("NONE", "STATIC")


def _se_none_endpoints(spec: dict[str, Any]) -> bool:
    return not (spec.get("resolution", "NONE") == "NONE" and spec.get("endpoints"))


def _se_rr_endpoints(spec: dict[str, Any]) -> bool:
    eps = spec.get("endpoints")
    return not (spec.get("resolution") == "DNS_ROUND_ROBIN" and isinstance(eps, list) and len(eps) > 1)


def _se_selector_or_endpoints(spec: dict[str, Any]) -> bool:
    return not ("workloadSelector" in spec and "endpoints" in spec)


_LABEL_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _se_endpoint_ports(ports: dict[str, Any]) -> bool:
    return all(isinstance(k, str) and len(k) < 63 and _LABEL_NAME.match(k) for k in ports)


def _se_endpoint_address(ep: dict[str, Any]) -> bool:
    return bool(ep.get("address")) or bool(ep.get("network"))


def _no_wildcard_labels(labels: dict[str, Any]) -> bool:
    return all("*" not in str(k) and "*" not in str(v) for k, v in labels.items())


SERVICE_ENTRY = obj(
    {
        "hosts": arr(("string_rules", ((lambda h: h != "*", "hostname cannot be wildcard"),))),
        "addresses": arr(S),
        "ports": arr(
            obj(
                {
                    "number": ("integer_rules", ((_se_port_number, "port must be between 1-65535"),)),
                    "protocol": S,
                    "name": S,
                    "targetPort": ("integer_rules", ((_se_port_number, "port must be between 1-65535"),)),
                },
                required=("number", "name"),
            ),
            rules=((_se_unique_ports, "port number cannot be duplicated"),),
        ),
        "location": enum("MESH_EXTERNAL", "MESH_INTERNAL"),
        "resolution": enum("NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN", "DYNAMIC_DNS"),
        "endpoints": arr(
            obj(
                {
                    "address": S,
                    "ports": mp(I, rules=((_se_endpoint_ports, "port name must be valid"),)),
                    "labels": mp(S),
                    "network": S,
                    "locality": S,
                    "weight": I,
                    "serviceAccount": S,
                },
                rules=((_se_endpoint_address, "Address is required"),),
            )
        ),
        "workloadSelector": obj(
            {"labels": mp(S, rules=((_no_wildcard_labels, "wildcard is not supported in selector"),))}
        ),
        "exportTo": arr(S),
        "subjectAltNames": arr(S),
    },
    required=("hosts",),
    rules=(
        (_se_cidr_rule, "CIDR addresses are allowed only for NONE/STATIC resolution types"),
        (_se_none_endpoints, "NONE mode cannot set endpoints"),
        (_se_rr_endpoints, "DNS_ROUND_ROBIN mode cannot have multiple endpoints"),
        (_se_selector_or_endpoints, "only one of WorkloadSelector or Endpoints can be set"),
    ),
)

_META = ANY  # ObjectMeta: the API server accepts the full ObjectMeta; we only use a few fields
_STATUS = ANY  # status is x-kubernetes-preserve-unknown-fields in Istio's CRDs

#: kind -> (schema of spec, spec required at the top level?)
SCHEMAS: dict[str, tuple[tuple, bool]] = {
    "Gateway": (GATEWAY, False),
    "VirtualService": (VIRTUAL_SERVICE, False),
    "DestinationRule": (DESTINATION_RULE, False),
    # ServiceEntry's CRD marks spec required ([I-CRDT]: `spec: Required value`).
    "ServiceEntry": (SERVICE_ENTRY, True),
}

_TOP_LEVEL = frozenset({"apiVersion", "kind", "metadata", "spec", "status"})

#: Top-level fields of the core kinds (k8s.io/api core/v1, apps/v1); strict decoding rejects others.
_CORE_TOP_LEVEL: dict[str, frozenset[str]] = {
    "Namespace": _TOP_LEVEL,
    "Service": _TOP_LEVEL,
    "Deployment": _TOP_LEVEL,
    "Secret": frozenset({"apiVersion", "kind", "metadata", "data", "stringData", "type", "immutable"}),
    "ConfigMap": frozenset({"apiVersion", "kind", "metadata", "data", "binaryData", "immutable"}),
    "ServiceAccount": frozenset(
        {"apiVersion", "kind", "metadata", "secrets", "imagePullSecrets", "automountServiceAccountToken"}
    ),
}

#: metav1.ObjectMeta's fields.
_OBJECT_META = frozenset(
    {
        "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
        "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
        "ownerReferences", "finalizers", "managedFields",
    }
)  # fmt: skip

_GO_DURATION = re.compile(r"^-?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+$|^0$")
_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def duration_seconds(text: str) -> float | None:
    """Parse a Go/CEL duration (``1.5s``, ``100ms``, ``1h30m``); None if not one."""
    if not isinstance(text, str) or not _GO_DURATION.match(text):
        return None
    if text == "0":
        return 0.0
    sign = -1.0 if text.startswith("-") else 1.0
    total = sum(float(num) * _DURATION_UNITS[unit] for num, unit in _DURATION_PART.findall(text))
    return sign * total


def _type_name(value: Any) -> str:
    """The JSON type name kube-openapi prints for a value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _type_error(path: str, want: str, value: Any) -> FieldError:
    got = _type_name(value)
    return FieldError(path, f'Invalid value: "{got}": {path} in body must be of type {want}: "{got}"')


def check_schema(kind: str, raw: dict[str, Any]) -> tuple[list[str], list[FieldError]]:
    """Check one object as the API server does before the webhook.

    Args:
        kind: the object's kind (only the four Istio networking kinds have schemas here).
        raw: the manifest dict.

    Returns:
        ``(unknown_fields, schema_errors)``: the paths strict decoding rejects
        (``spec.servers[0].foo``) and the structural/CEL errors.
    """
    meta = raw.get("metadata")
    meta_unknown = [f"metadata.{k}" for k in meta if k not in _OBJECT_META] if isinstance(meta, dict) else []
    entry = SCHEMAS.get(kind)
    if entry is None:
        allowed = _CORE_TOP_LEVEL.get(kind)
        top = [k for k in raw if k not in allowed] if allowed is not None else []
        return top + meta_unknown, []
    schema, spec_required = entry
    unknown: list[str] = [k for k in raw if k not in _TOP_LEVEL] + meta_unknown
    errors: list[FieldError] = []
    if "spec" not in raw:
        if spec_required:
            errors.append(FieldError("spec", "Required value"))
        return unknown, errors
    _walk(schema, raw["spec"], "spec", unknown, errors)
    return unknown, errors


def _walk(node: tuple, value: Any, path: str, unknown: list[str], errors: list[FieldError]) -> None:
    kind = node[0]
    if kind == "any":
        return
    if kind == "object":
        if not isinstance(value, dict):
            errors.append(_type_error(path, "object", value))
            return
        props, required, rules = node[1], node[2], node[3]
        for name in required:
            if name not in value:
                errors.append(FieldError(f"{path}.{name}", "Required value"))
        for key, sub in value.items():
            child = props.get(key)
            if child is None:
                unknown.append(f"{path}.{key}")
                continue
            _walk(child, sub, f"{path}.{key}", unknown, errors)
        for check, message in rules:
            if not check(value):
                errors.append(FieldError(path, f'Invalid value: "object": {message}'))
        return
    if kind == "array":
        if not isinstance(value, list):
            errors.append(_type_error(path, "array", value))
            return
        item = node[1]
        for i, sub in enumerate(value):
            _walk(item, sub, f"{path}[{i}]", unknown, errors)
        for check, message in node[2]:
            if not check(value):
                errors.append(FieldError(path, f'Invalid value: "array": {message}'))
        return
    if kind == "map":
        if not isinstance(value, dict):
            errors.append(_type_error(path, "object", value))
            return
        for key, sub in value.items():
            _walk(node[1], sub, f"{path}.{key}", unknown, errors)
        for check, message in node[2]:
            if not check(value):
                errors.append(FieldError(path, f'Invalid value: "object": {message}'))
        return
    if kind in ("string", "string_rules"):
        if not isinstance(value, str):
            errors.append(_type_error(path, "string", value))
            return
        if kind == "string_rules":
            for check, message in node[1]:
                if not check(value):
                    errors.append(FieldError(path, f'Invalid value: "string": {message}'))
        return
    if kind in ("integer", "integer_rules"):
        if not isinstance(value, int) or isinstance(value, bool):
            errors.append(_type_error(path, "integer", value))
            return
        if kind == "integer_rules":
            for check, message in node[1]:
                if not check(value):
                    errors.append(FieldError(path, f'Invalid value: "integer": {message}'))
        return
    if kind == "number":
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            errors.append(_type_error(path, "number", value))
        return
    if kind == "boolean":
        if not isinstance(value, bool):
            errors.append(_type_error(path, "boolean", value))
        return
    if kind == "enum":
        if not isinstance(value, str):
            errors.append(_type_error(path, "string", value))
            return
        if value not in node[1]:
            # apimachinery field.NotSupported renders the value and the choices with %q.
            supported = ", ".join(quote(v) for v in node[1])
            message = f"Unsupported value: {quote(value)}: supported values: {supported}"
            errors.append(FieldError(path, message))
        return
    if kind == "duration":
        if not isinstance(value, str):
            errors.append(_type_error(path, "string", value))
            return
        # CEL: duration(self) >= duration('1ms') -- message from [I-CRD].
        seconds = duration_seconds(value)
        if seconds is None or seconds < 0.001:
            errors.append(
                FieldError(path, 'Invalid value: "string": must be a valid duration greater than 1ms')
            )
        return
