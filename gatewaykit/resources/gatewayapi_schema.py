# One module: most of it is the seven Gateway API CRD schemas as data, each CEL rule beside its field.
"""The Kubernetes Gateway API CRDs as the API server applies them: defaults, schema and CEL rules.

Rule: no I/O here. A compact transcription of sigs.k8s.io/gateway-api v1.3.0 (the version Istio 1.27
pins in its go.mod), ``config/crd/experimental/gateway.networking.k8s.io_*.yaml`` -- the channel the
sandbox has installed (it serves TLSRoute/TCPRoute, which Istio's TLS and TCP tasks use). Structure,
enums, patterns, length/size limits, defaults and every ``x-kubernetes-validations`` rule of the kinds
gatewaykit knows; CEL rules are written as Python predicates beside their exact messages.

What the API server does with a custom resource, in order (k8s 1.33, apiextensions-apiserver):

1. strict decoding: unknown fields are a ``BadRequest`` (``unknown field "spec.foo"``);
2. structural defaulting (``default:`` of every absent property, recursively);
3. ``metadata.name`` must be a DNS-1123 subdomain (``customResourceValidator``), then the OpenAPI
   schema (kube-openapi messages, mapped by ``kubeOpenAPIResultToFieldErrors``);
4. the CEL rules -- skipped when step 3 found a *blocking* error (type, enum, required, too long,
   too many: ``hasBlockingErr``), which adds the fieldless note ``<nil>: Invalid value: "null": some
   validation rules were not checked because the object was invalid; correct the existing errors to
   complete validation``.

Message shapes (k8s.io/apimachinery ``field.Error``):

* ``spec.listeners[0].port: Required value``
* ``spec.x: Unsupported value: "FOO": supported values: "A", "B"``
* ``spec.x: Invalid value: 70000: spec.x in body should be less than or equal to 65535``
* ``spec.x: Invalid value: "Foo": spec.x in body should match '^...$'``
* ``spec.x: Too long: may not be more than 253 bytes`` / ``spec.x: Too many: 17: must have at most 16 items``
* CEL: ``spec.listeners: Invalid value: "array": <rule message>``; a rule that reads an absent field
  fails with ``no such key: <field> evaluating rule: <rule message>``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from gatewaykit._gofmt import quote
from gatewaykit.resources.schema import FieldError, _type_error

__all__ = [
    "DURATION",
    "NOT_CHECKED",
    "SPEC_REQUIRED",
    "apply_defaults",
    "check_gatewayapi_schema",
    "gateway_api_duration",
]


class NoSuchKey(Exception):
    """CEL's ``no such key: <field>``: a rule selected a field the object does not have."""


Rule = tuple[Callable[[Any], bool], str]
_NO_DEFAULT: Any = object()


@dataclass(frozen=True, slots=True)
class Node:
    """One OpenAPI schema node (a structural schema: every node has a type)."""

    type: str  # object | array | map | string | integer | boolean | any
    props: tuple[tuple[str, Node], ...] = ()
    required: tuple[str, ...] = ()
    item: Node | None = None  # array items / map values
    enum: tuple[Any, ...] = ()
    pattern: str | None = None
    min_len: int | None = None
    max_len: int | None = None
    min_items: int | None = None
    max_items: int | None = None
    max_props: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    default: Any = _NO_DEFAULT
    rules: tuple[Rule, ...] = ()
    map_keys: tuple[str, ...] = ()  # x-kubernetes-list-type: map
    is_set: bool = False  # x-kubernetes-list-type: set

    def prop(self, name: str) -> Node | None:
        """The schema of property ``name`` (None: unknown field)."""
        for k, v in self.props:
            if k == name:
                return v
        return None


def string(
    pattern: str | None = None,
    *,
    min_len: int | None = None,
    max_len: int | None = None,
    enum: tuple[str, ...] = (),
    default: Any = _NO_DEFAULT,
    rules: tuple[Rule, ...] = (),
) -> Node:
    """A ``type: string`` node."""
    return Node(
        "string", pattern=pattern, min_len=min_len, max_len=max_len, enum=enum, default=default, rules=rules
    )


def integer(
    minimum: int | None = None,
    maximum: int | None = None,
    *,
    enum: tuple[int, ...] = (),
    default: Any = _NO_DEFAULT,
) -> Node:
    """A ``type: integer`` node."""
    return Node("integer", minimum=minimum, maximum=maximum, enum=enum, default=default)


def obj(
    props: Mapping[str, Node],
    *,
    required: tuple[str, ...] = (),
    rules: tuple[Rule, ...] = (),
    default: Any = _NO_DEFAULT,
) -> Node:
    """A ``type: object`` node with known properties."""
    return Node("object", props=tuple(props.items()), required=required, rules=rules, default=default)


def arr(
    item: Node,
    *,
    max_items: int | None = None,
    min_items: int | None = None,
    rules: tuple[Rule, ...] = (),
    map_keys: tuple[str, ...] = (),
    is_set: bool = False,
    default: Any = _NO_DEFAULT,
) -> Node:
    """A ``type: array`` node."""
    return Node(
        "array",
        item=item,
        max_items=max_items,
        min_items=min_items,
        rules=rules,
        map_keys=map_keys,
        is_set=is_set,
        default=default,
    )


def smap(value: Node, *, max_props: int | None = None, rules: tuple[Rule, ...] = ()) -> Node:
    """A map (``additionalProperties``) of ``value``."""
    return Node("map", item=value, max_props=max_props, rules=rules)


BOOL = Node("boolean")
ANY = Node("any")

# ----------------------------------------------------------------------------------------------
# CEL helpers (the semantics the rules rely on)
# ----------------------------------------------------------------------------------------------


def _get(o: Mapping[str, Any], key: str) -> Any:
    """CEL field selection: an absent field is the error ``no such key: <key>``."""
    if key not in o:
        raise NoSuchKey(f"no such key: {key}")
    return o[key]


def _cel_or(*terms: Callable[[], bool]) -> bool:
    """CEL ``||``: true if any term is true, even when another errors; else the first error."""
    error: NoSuchKey | None = None
    for t in terms:
        try:
            if t():
                return True
        except NoSuchKey as exc:
            error = error or exc
    if error is not None:
        raise error
    return False


def _exists_one(items: list[Any], pred: Callable[[Any], bool]) -> bool:
    return sum(1 for i in items if pred(i)) == 1


def _each_unique(items: list[Any], same: Callable[[Any, Any], bool]) -> bool:
    """``self.all(a, self.exists_one(b, same(a, b)))``."""
    return all(sum(1 for b in items if same(a, b)) == 1 for a in items)


def _blank(o: Mapping[str, Any], key: str) -> bool:
    """``!has(o.key) || o.key == ''`` (or ``== 0`` for ports)."""
    return key not in o or o[key] in ("", 0)


_DURATION_PART = re.compile(r"([0-9]{1,5})(h|ms|m|s)")
_DURATION_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
DURATION = r"^([0-9]{1,5}(h|m|s|ms)){1,4}$"


def gateway_api_duration(text: str) -> float | None:
    """Seconds of a Gateway API ``Duration`` (GEP-2257: ``1h``, ``10s``, ``1h30m``, ``500ms``)."""
    if not isinstance(text, str) or not re.fullmatch(DURATION[1:-1], text):
        return None
    return sum(float(n) * _DURATION_UNIT[u] for n, u in _DURATION_PART.findall(text))


# ----------------------------------------------------------------------------------------------
# Shared types (apis/v1/shared_types.go, object_reference_types.go)
# ----------------------------------------------------------------------------------------------
_DNS_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
GROUP_RE = rf"^$|^{_DNS_SUBDOMAIN}$"
KIND_RE = r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$"
NAMESPACE_RE = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
SECTION_RE = rf"^{_DNS_SUBDOMAIN}$"
HOSTNAME_RE = rf"^(\*\.)?{_DNS_SUBDOMAIN}$"
PRECISE_HOSTNAME_RE = rf"^{_DNS_SUBDOMAIN}$"
HEADER_NAME_RE = r"^[A-Za-z0-9!#$%&'*+\-.^_\x60|~]+$"
CONTROLLER_RE = rf"^{_DNS_SUBDOMAIN}\/[A-Za-z0-9\/\-._~%!$&'()*+,;=:]+$"
PROTOCOL_RE = rf"^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$|{_DNS_SUBDOMAIN}\/[A-Za-z0-9]+$"
ADDRESS_TYPE_RE = rf"^Hostname|IPAddress|NamedAddress|{_DNS_SUBDOMAIN}\/[A-Za-z0-9\/\-._~%!$&'()*+,;=:]+$"
LABEL_KEY_RE = rf"^({_DNS_SUBDOMAIN}/)?([A-Za-z0-9][-A-Za-z0-9_.]{{0,61}})?[A-Za-z0-9]$"
LABEL_VALUE_RE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
PATH_CHARS_RE = r"^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$"

_GROUP = string(GROUP_RE, max_len=253)
_KIND = string(KIND_RE, min_len=1, max_len=63)
_NAME = string(min_len=1, max_len=253)
_NAMESPACE = string(NAMESPACE_RE, min_len=1, max_len=63)
_SECTION = string(SECTION_RE, min_len=1, max_len=253)
_PORT = integer(1, 65535)
_HOSTNAME = string(HOSTNAME_RE, min_len=1, max_len=253)
_PRECISE_HOSTNAME = string(PRECISE_HOSTNAME_RE, min_len=1, max_len=253)
_DURATION = string(DURATION)

_LABEL_SELECTOR = obj(
    {
        "matchExpressions": arr(
            obj(
                {"key": string(), "operator": string(), "values": arr(string())}, required=("key", "operator")
            )
        ),
        "matchLabels": smap(string()),
    }
)


def _parent_ref_same(p1: Mapping[str, Any], p2: Mapping[str, Any]) -> bool:
    same_ns = (_blank(p1, "namespace") and _blank(p2, "namespace")) or (
        "namespace" in p1 and "namespace" in p2 and p1["namespace"] == p2["namespace"]
    )
    return (
        p1.get("group") == p2.get("group")
        and p1.get("kind") == p2.get("kind")
        and p1.get("name") == p2.get("name")
        and same_ns
    )


def _parents_section_or_port_set(refs: list[Any]) -> bool:
    return all(
        (_blank(a, "sectionName") == _blank(b, "sectionName") and _blank(a, "port") == _blank(b, "port"))
        if _parent_ref_same(a, b)
        else True
        for a in refs
        for b in refs
    )


def _same_optional(a: Mapping[str, Any], b: Mapping[str, Any], key: str) -> bool:
    return (_blank(a, key) and _blank(b, key)) or (key in a and key in b and a[key] == b[key])


def _parents_section_or_port_unique(refs: list[Any]) -> bool:
    return _each_unique(
        refs,
        lambda a, b: (
            _parent_ref_same(a, b) and _same_optional(a, b, "sectionName") and _same_optional(a, b, "port")
        ),
    )


_PARENT_REF = obj(
    {
        "group": string(GROUP_RE, max_len=253, default="gateway.networking.k8s.io"),
        "kind": string(KIND_RE, min_len=1, max_len=63, default="Gateway"),
        "name": _NAME,
        "namespace": _NAMESPACE,
        "port": _PORT,
        "sectionName": _SECTION,
    },
    required=("name",),
)
_PARENT_REF_RULES: tuple[Rule, ...] = (
    (
        _parents_section_or_port_set,
        "sectionName or port must be specified when parentRefs includes 2 or more references to the same "
        "parent",
    ),
    (
        _parents_section_or_port_unique,
        "sectionName or port must be unique when parentRefs includes 2 or more references to the same parent",
    ),
)


def _service_port(ref: Mapping[str, Any]) -> bool:
    """``(size(self.group) == 0 && self.kind == 'Service') ? has(self.port) : true``."""
    return "port" in ref if (len(ref.get("group", "")) == 0 and ref.get("kind") == "Service") else True


_BACKEND_OBJECT_REF = {
    "group": string(GROUP_RE, max_len=253, default=""),
    "kind": string(KIND_RE, min_len=1, max_len=63, default="Service"),
    "name": _NAME,
    "namespace": _NAMESPACE,
    "port": _PORT,
}
_SERVICE_PORT_RULE: Rule = (_service_port, "Must have port for Service reference")
_BACKEND_REF = obj(
    {**_BACKEND_OBJECT_REF, "weight": integer(0, 1_000_000, default=1)},
    required=("name",),
    rules=(_SERVICE_PORT_RULE,),
)


def _names_unique(rules: list[Any]) -> bool:
    named = [r for r in rules if "name" in r]
    return _each_unique(named, lambda a, b: a["name"] == b["name"])


_RULE_NAMES_UNIQUE: Rule = (_names_unique, "Rule name must be unique within the route")

# ----------------------------------------------------------------------------------------------
# GatewayClass (apis/v1/gatewayclass_types.go)
# ----------------------------------------------------------------------------------------------
_PARAMETERS_REF = obj(
    {"group": _GROUP, "kind": _KIND, "name": _NAME, "namespace": _NAMESPACE},
    required=("group", "kind", "name"),
)
GATEWAY_CLASS = obj(
    {
        # "Value is immutable" (self == oldSelf) is a transition rule: only checked on update.
        "controllerName": string(CONTROLLER_RE, min_len=1, max_len=253),
        "description": string(max_len=64),
        "parametersRef": _PARAMETERS_REF,
    },
    required=("controllerName",),
)

# ----------------------------------------------------------------------------------------------
# Gateway (apis/v1/gateway_types.go)
# ----------------------------------------------------------------------------------------------


def _addresses_unique(kind: str) -> Callable[[list[Any]], bool]:
    def check(addrs: list[Any]) -> bool:
        of_kind = [a for a in addrs if a.get("type") == kind]
        return all(
            sum(1 for b in addrs if b.get("type") == kind and _get(b, "value") == _get(a, "value")) == 1
            for a in of_kind
        )

    return check


def _address_hostname(a: Mapping[str, Any]) -> bool:
    return re.search(HOSTNAME_RE, _get(a, "value")) is not None if a.get("type") == "Hostname" else True


def _meta_keys_valid(m: Mapping[str, Any]) -> bool:
    return all(re.search(LABEL_KEY_RE, k) for k in m)


def _meta_prefix_short(m: Mapping[str, Any]) -> bool:
    return all(len(k.split("/")[0]) < 253 for k in m)


def _infra_meta(kind: str, value: Node) -> Node:
    lower, title = kind.lower(), kind
    return smap(
        value,
        max_props=8,
        rules=(
            (
                _meta_keys_valid,
                f"{title} keys must be in the form of an optional DNS subdomain prefix followed by a "
                "required "
                "name segment of up to 63 characters.",
            ),
            (
                _meta_prefix_short,
                f"If specified, the {lower} key's prefix must be a DNS subdomain not longer than 253 "
                "characters "
                "in total.",
            ),
        ),
    )


def _tls_terminate_has_certs(tls: Mapping[str, Any]) -> bool:
    if tls.get("mode") != "Terminate":
        return True
    return _cel_or(lambda: len(_get(tls, "certificateRefs")) > 0, lambda: len(_get(tls, "options")) > 0)


_SECRET_REF = obj(
    {
        "group": string(GROUP_RE, max_len=253, default=""),
        "kind": string(KIND_RE, min_len=1, max_len=63, default="Secret"),
        "name": _NAME,
        "namespace": _NAMESPACE,
    },
    required=("name",),
)
_LISTENER_TLS = obj(
    {
        "certificateRefs": arr(_SECRET_REF, max_items=64),
        "frontendValidation": obj(
            {
                "caCertificateRefs": arr(
                    obj(
                        {"group": _GROUP, "kind": _KIND, "name": _NAME, "namespace": _NAMESPACE},
                        required=("group", "kind", "name"),
                    ),
                    max_items=8,
                    min_items=1,
                )
            }
        ),
        "mode": string(enum=("Terminate", "Passthrough"), default="Terminate"),
        "options": smap(string(min_len=0, max_len=4096), max_props=16),
    },
    rules=(
        (_tls_terminate_has_certs, "certificateRefs or options must be specified when mode is Terminate"),
    ),
)
_LISTENER = obj(
    {
        "allowedRoutes": obj(
            {
                "kinds": arr(
                    obj(
                        {
                            "group": string(GROUP_RE, max_len=253, default="gateway.networking.k8s.io"),
                            "kind": _KIND,
                        },
                        required=("kind",),
                    ),
                    max_items=8,
                ),
                "namespaces": obj(
                    {
                        "from": string(enum=("All", "Selector", "Same"), default="Same"),
                        "selector": _LABEL_SELECTOR,
                    },
                    default={"from": "Same"},
                ),
            },
            default={"namespaces": {"from": "Same"}},
        ),
        "hostname": _HOSTNAME,
        "name": _SECTION,
        "port": _PORT,
        "protocol": string(PROTOCOL_RE, min_len=1, max_len=255),
        "tls": _LISTENER_TLS,
    },
    required=("name", "port", "protocol"),
)


def _same_hostname(l1: Mapping[str, Any], l2: Mapping[str, Any]) -> bool:
    if "hostname" in l1 and "hostname" in l2:
        return bool(l1["hostname"] == l2["hostname"])
    return "hostname" not in l1 and "hostname" not in l2


_LISTENER_RULES: tuple[Rule, ...] = (
    (
        lambda ls: all("tls" not in x if x.get("protocol") in ("HTTP", "TCP", "UDP") else True for x in ls),
        "tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']",
    ),
    (
        lambda ls: all(
            _get(x["tls"], "mode") in ("", "Terminate")
            if x.get("protocol") == "HTTPS" and "tls" in x
            else True
            for x in ls
        ),
        "tls mode must be Terminate for protocol HTTPS",
    ),
    (
        lambda ls: all(_blank(x, "hostname") if x.get("protocol") in ("TCP", "UDP") else True for x in ls),
        "hostname must not be specified for protocols ['TCP', 'UDP']",
    ),
    (
        lambda ls: _each_unique(ls, lambda a, b: a.get("name") == b.get("name")),
        "Listener name must be unique within the Gateway",
    ),
    (
        lambda ls: _each_unique(
            ls,
            lambda a, b: (
                a.get("port") == b.get("port")
                and a.get("protocol") == b.get("protocol")
                and _same_hostname(a, b)
            ),
        ),
        "Combination of port, protocol and hostname must be unique for each listener",
    ),
)
GATEWAY = obj(
    {
        "addresses": arr(
            obj(
                {
                    "type": string(ADDRESS_TYPE_RE, min_len=1, max_len=253, default="IPAddress"),
                    "value": string(max_len=253),
                },
                rules=(
                    (
                        _address_hostname,
                        "Hostname value must only contain valid characters (matching "
                        r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$)",
                    ),
                ),
            ),
            max_items=16,
            rules=(
                (_addresses_unique("IPAddress"), "IPAddress values must be unique"),
                (_addresses_unique("Hostname"), "Hostname values must be unique"),
            ),
        ),
        "allowedListeners": obj(
            {
                "namespaces": obj(
                    {
                        "from": string(enum=("All", "Selector", "Same", "None"), default="None"),
                        "selector": _LABEL_SELECTOR,
                    },
                    default={"from": "None"},
                )
            }
        ),
        "backendTLS": obj(
            {
                "clientCertificateRef": obj(
                    {
                        "group": string(GROUP_RE, max_len=253, default=""),
                        "kind": string(KIND_RE, min_len=1, max_len=63, default="Secret"),
                        "name": _NAME,
                        "namespace": _NAMESPACE,
                    },
                    required=("name",),
                )
            }
        ),
        "gatewayClassName": string(min_len=1, max_len=253),
        "infrastructure": obj(
            {
                "annotations": _infra_meta("Annotation", string(min_len=0, max_len=4096)),
                "labels": _infra_meta("Label", string(LABEL_VALUE_RE, min_len=0, max_len=63)),
                "parametersRef": obj(
                    {"group": _GROUP, "kind": _KIND, "name": _NAME}, required=("group", "kind", "name")
                ),
            }
        ),
        "listeners": arr(_LISTENER, max_items=64, min_items=1, map_keys=("name",), rules=_LISTENER_RULES),
    },
    required=("gatewayClassName", "listeners"),
)

# ----------------------------------------------------------------------------------------------
# HTTPRoute (apis/v1/httproute_types.go) and GRPCRoute (apis/v1/grpcroute_types.go)
# ----------------------------------------------------------------------------------------------
_HEADER = obj(
    {"name": string(HEADER_NAME_RE, min_len=1, max_len=256), "value": string(min_len=1, max_len=4096)},
    required=("name", "value"),
)
_HEADER_FILTER = obj(
    {
        "add": arr(_HEADER, max_items=16, map_keys=("name",)),
        "remove": arr(string(), max_items=16, is_set=True),
        "set": arr(_HEADER, max_items=16, map_keys=("name",)),
    }
)


def _field_for_type(p: Mapping[str, Any], t: str, f: str) -> bool:
    """``self.type == '<t>' ? has(self.<f>) : true``."""
    return f in p if p.get("type") == t else True


def _type_for_field(p: Mapping[str, Any], t: str, f: str) -> bool:
    """``has(self.<f>) ? self.type == '<t>' : true``."""
    return p.get("type") == t if f in p else True


def _path_modifier_rules() -> tuple[Rule, ...]:
    out: list[Rule] = []
    for t, f in (("ReplaceFullPath", "replaceFullPath"), ("ReplacePrefixMatch", "replacePrefixMatch")):
        out.append((partial(_field_for_type, t=t, f=f), f"{f} must be specified when type is set to '{t}'"))
        out.append((partial(_type_for_field, t=t, f=f), f"type must be '{t}' when {f} is set"))
    return tuple(out)


_PATH_MODIFIER = obj(
    {
        "replaceFullPath": string(max_len=1024),
        "replacePrefixMatch": string(max_len=1024),
        "type": string(enum=("ReplaceFullPath", "ReplacePrefixMatch")),
    },
    required=("type",),
    rules=_path_modifier_rules(),
)
_REQUEST_MIRROR = obj(
    {
        "backendRef": obj(_BACKEND_OBJECT_REF, required=("name",), rules=(_SERVICE_PORT_RULE,)),
        "fraction": obj(
            {"denominator": integer(1, default=100), "numerator": integer(0)},
            required=("numerator",),
            rules=(
                (
                    lambda f: _get(f, "numerator") <= _get(f, "denominator"),
                    "numerator must be less than or equal to denominator",
                ),
            ),
        ),
        "percent": integer(0, 100),
    },
    required=("backendRef",),
    rules=(
        (
            lambda m: not ("percent" in m and "fraction" in m),
            "Only one of percent or fraction may be specified in HTTPRequestMirrorFilter",
        ),
    ),
)
_EXTENSION_REF = obj({"group": _GROUP, "kind": _KIND, "name": _NAME}, required=("group", "kind", "name"))
_HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")
_CORS = obj(
    {
        "allowCredentials": Node("boolean", enum=(True,)),
        "allowHeaders": arr(string(HEADER_NAME_RE, min_len=1, max_len=256), max_items=64, is_set=True),
        "allowMethods": arr(
            string(enum=(*_HTTP_METHODS, "*")),
            max_items=9,
            is_set=True,
            rules=(
                (
                    lambda ms: not ("*" in ms and len(ms) > 1),
                    "AllowMethods cannot contain '*' alongside other methods",
                ),
            ),
        ),
        "allowOrigins": arr(
            string(r"^(([^:/?#]+):)(//([^/?#]*))([^?#]*)(\?([^#]*))?(#(.*))?", min_len=1, max_len=253),
            max_items=64,
            is_set=True,
        ),
        "exposeHeaders": arr(string(HEADER_NAME_RE, min_len=1, max_len=256), max_items=64, is_set=True),
        "maxAge": integer(1, default=5),
    }
)

#: filter.type -> the field that carries its configuration.
_FILTER_FIELDS = {
    "RequestHeaderModifier": "requestHeaderModifier",
    "ResponseHeaderModifier": "responseHeaderModifier",
    "RequestMirror": "requestMirror",
    "RequestRedirect": "requestRedirect",
    "URLRewrite": "urlRewrite",
    "ExtensionRef": "extensionRef",
    "CORS": "cors",
}


def _nil_unless_type(x: Mapping[str, Any], t: str, f: str) -> bool:
    """``!(has(self.<f>) && self.type != '<t>')``."""
    return not (f in x and x.get("type") != t)


def _filter_field_rules(types: tuple[str, ...]) -> tuple[Rule, ...]:
    out: list[Rule] = []
    for t in types:
        f = _FILTER_FIELDS[t]
        out.append(
            (partial(_nil_unless_type, t=t, f=f), f"filter.{f} must be nil if the filter.type is not {t}")
        )
        out.append((partial(_field_for_type, t=t, f=f), f"filter.{f} must be specified for {t} filter.type"))
    return tuple(out)


def _not_repeated(t: str) -> Rule:
    return (lambda fs: sum(1 for f in fs if f.get("type") == t) <= 1, f"{t} filter cannot be repeated")


_REDIRECT_XOR_REWRITE: Rule = (
    lambda fs: (
        not (
            any(f.get("type") == "RequestRedirect" for f in fs)
            and any(f.get("type") == "URLRewrite" for f in fs)
        )
    ),
    "May specify either httpRouteFilterRequestRedirect or httpRouteFilterRequestRewrite, but not both",
)
_HTTP_FILTER_TYPES = tuple(_FILTER_FIELDS)
_HTTP_FILTER = obj(
    {
        "cors": _CORS,
        "extensionRef": _EXTENSION_REF,
        "requestHeaderModifier": _HEADER_FILTER,
        "requestMirror": _REQUEST_MIRROR,
        "requestRedirect": obj(
            {
                "hostname": _PRECISE_HOSTNAME,
                "path": _PATH_MODIFIER,
                "port": _PORT,
                "scheme": string(enum=("http", "https")),
                "statusCode": integer(enum=(301, 302), default=302),
            }
        ),
        "responseHeaderModifier": _HEADER_FILTER,
        "type": string(enum=_HTTP_FILTER_TYPES),
        "urlRewrite": obj({"hostname": _PRECISE_HOSTNAME, "path": _PATH_MODIFIER}),
    },
    required=("type",),
    rules=_filter_field_rules(_HTTP_FILTER_TYPES),
)
_HTTP_FILTER_LIST_RULES: tuple[Rule, ...] = (
    _REDIRECT_XOR_REWRITE,
    _not_repeated("RequestHeaderModifier"),
    _not_repeated("ResponseHeaderModifier"),
    _not_repeated("RequestRedirect"),
    _not_repeated("URLRewrite"),
)


def _lacks(bad: str, v: str) -> bool:
    return bad not in v


def _not_ending(end: str, v: str) -> bool:
    return not v.endswith(end)


def _path_rules() -> tuple[Rule, ...]:
    def when_exact_or_prefix(check: Callable[[str], bool]) -> Callable[[Any], bool]:
        return lambda p: check(_get(p, "value")) if p.get("type") in ("Exact", "PathPrefix") else True

    suffix = "when type one of ['Exact', 'PathPrefix']"
    out: list[Rule] = [
        (
            when_exact_or_prefix(lambda v: v.startswith("/")),
            f"value must be an absolute path and start with '/' {suffix}",
        )
    ]
    for bad in ("//", "/./", "/../", "%2f", "%2F", "#"):
        out.append((when_exact_or_prefix(partial(_lacks, bad)), f"must not contain '{bad}' {suffix}"))
    for end in ("/..", "/."):
        out.append((when_exact_or_prefix(partial(_not_ending, end)), f"must not end with '{end}' {suffix}"))
    out.append(
        (
            lambda p: p.get("type") in ("Exact", "PathPrefix", "RegularExpression"),
            "type must be one of ['Exact', 'PathPrefix', 'RegularExpression']",
        )
    )
    out.append(
        (
            when_exact_or_prefix(lambda v: re.search(PATH_CHARS_RE, v) is not None),
            f"must only contain valid characters (matching {PATH_CHARS_RE}) for types "
            "['Exact', 'PathPrefix']",
        )
    )
    return tuple(out)


_MATCH_KIND = string(enum=("Exact", "RegularExpression"), default="Exact")
_HTTP_MATCH = obj(
    {
        "headers": arr(
            obj(
                {
                    "name": string(HEADER_NAME_RE, min_len=1, max_len=256),
                    "type": _MATCH_KIND,
                    "value": string(min_len=1, max_len=4096),
                },
                required=("name", "value"),
            ),
            max_items=16,
            map_keys=("name",),
        ),
        "method": string(enum=_HTTP_METHODS),
        "path": obj(
            {
                "type": string(enum=("Exact", "PathPrefix", "RegularExpression"), default="PathPrefix"),
                "value": string(max_len=1024, default="/"),
            },
            rules=_path_rules(),
            default={"type": "PathPrefix", "value": "/"},
        ),
        "queryParams": arr(
            obj(
                {
                    "name": string(HEADER_NAME_RE, min_len=1, max_len=256),
                    "type": _MATCH_KIND,
                    "value": string(min_len=1, max_len=1024),
                },
                required=("name", "value"),
            ),
            max_items=16,
            map_keys=("name",),
        ),
    }
)
_SESSION_PERSISTENCE = obj(
    {
        "absoluteTimeout": _DURATION,
        "cookieConfig": obj({"lifetimeType": string(enum=("Permanent", "Session"), default="Session")}),
        "idleTimeout": _DURATION,
        "sessionName": string(max_len=128),
        "type": string(enum=("Cookie", "Header"), default="Cookie"),
    },
    rules=(
        (
            lambda s: (
                "cookieConfig" not in s
                or "lifetimeType" not in s["cookieConfig"]
                or s["cookieConfig"]["lifetimeType"] != "Permanent"
                or "absoluteTimeout" in s
            ),
            "AbsoluteTimeout must be specified when cookie lifetimeType is Permanent",
        ),
    ),
)


def _timeouts_ok(t: Mapping[str, Any]) -> bool:
    if "request" not in t or "backendRequest" not in t:
        return True
    request, backend = gateway_api_duration(t["request"]), gateway_api_duration(t["backendRequest"])
    if request is None or backend is None:
        return True  # the pattern already rejected it
    return not (request != 0 and backend > request)


def _prefix_replacing(filters: list[Any], key: str) -> bool:
    """``filters.exists_one(f, has(f.<key>.path) && f.<key>.path.type == 'ReplacePrefixMatch' && ...)``."""
    return _exists_one(
        filters,
        lambda f: (
            key in f
            and "path" in f[key]
            and f[key]["path"].get("type") == "ReplacePrefixMatch"
            and "replacePrefixMatch" in f[key]["path"]
        ),
    )


def _one_prefix_match(rule: Mapping[str, Any]) -> bool:
    matches = _get(rule, "matches")
    return not (
        len(matches) != 1 or "path" not in matches[0] or matches[0]["path"].get("type") != "PathPrefix"
    )


def _rule_prefix(key: str, in_backends: bool) -> Callable[[Any], bool]:
    def check(rule: Mapping[str, Any]) -> bool:
        if in_backends:
            hit = "backendRefs" in rule and _exists_one(
                rule["backendRefs"], lambda b: "filters" in b and _prefix_replacing(b["filters"], key)
            )
        else:
            hit = "filters" in rule and _prefix_replacing(rule["filters"], key)
        return _one_prefix_match(rule) if hit else True

    return check


_HTTP_RULE = obj(
    {
        "backendRefs": arr(
            obj(
                {
                    **_BACKEND_OBJECT_REF,
                    "filters": arr(
                        _HTTP_FILTER, max_items=16, rules=(_REDIRECT_XOR_REWRITE, *_HTTP_FILTER_LIST_RULES)
                    ),
                    "weight": integer(0, 1_000_000, default=1),
                },
                required=("name",),
                rules=(_SERVICE_PORT_RULE,),
            ),
            max_items=16,
        ),
        "filters": arr(_HTTP_FILTER, max_items=16, rules=_HTTP_FILTER_LIST_RULES),
        "matches": arr(_HTTP_MATCH, max_items=64, default=[{"path": {"type": "PathPrefix", "value": "/"}}]),
        "name": _SECTION,
        "retry": obj({"attempts": integer(), "backoff": _DURATION, "codes": arr(integer(400, 599))}),
        "sessionPersistence": _SESSION_PERSISTENCE,
        "timeouts": obj(
            {"backendRequest": _DURATION, "request": _DURATION},
            rules=((_timeouts_ok, "backendRequest timeout cannot be longer than request timeout"),),
        ),
    },
    rules=(
        (
            lambda r: (
                (("filters" not in r) or all("requestRedirect" not in f for f in r["filters"]))
                if ("backendRefs" in r and len(r["backendRefs"]) > 0)
                else True
            ),
            "RequestRedirect filter must not be used together with backendRefs",
        ),
        (
            _rule_prefix("requestRedirect", False),
            "When using RequestRedirect filter with path.replacePrefixMatch, exactly one PathPrefix match "
            "must be "
            "specified",
        ),
        (
            _rule_prefix("urlRewrite", False),
            "When using URLRewrite filter with path.replacePrefixMatch, exactly one PathPrefix match must "
            "be specified",
        ),
        (
            _rule_prefix("requestRedirect", True),
            "Within backendRefs, when using RequestRedirect filter with path.replacePrefixMatch, exactly one "
            "PathPrefix match must be specified",
        ),
        (
            _rule_prefix("urlRewrite", True),
            "Within backendRefs, When using URLRewrite filter with path.replacePrefixMatch, exactly one "
            "PathPrefix "
            "match must be specified",
        ),
    ),
)
_MATCH_LIMIT = (
    "While 16 rules and 64 matches per rule are allowed, the total number of matches across all rules in a "
    "route must be less than 128"
)
_HOSTNAMES = arr(_HOSTNAME, max_items=16)
_PARENT_REFS = arr(_PARENT_REF, max_items=32, rules=_PARENT_REF_RULES)
HTTP_ROUTE = obj(
    {
        "hostnames": _HOSTNAMES,
        "parentRefs": _PARENT_REFS,
        "rules": arr(
            _HTTP_RULE,
            max_items=16,
            default=[{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}]}],
            rules=(
                (lambda rs: sum(len(_get(r, "matches")) for r in rs[:16]) <= 128, _MATCH_LIMIT),
                _RULE_NAMES_UNIQUE,
            ),
        ),
    }
)

_GRPC_FILTER_TYPES = ("ResponseHeaderModifier", "RequestHeaderModifier", "RequestMirror", "ExtensionRef")
_GRPC_FILTER = obj(
    {
        "extensionRef": _EXTENSION_REF,
        "requestHeaderModifier": _HEADER_FILTER,
        "requestMirror": _REQUEST_MIRROR,
        "responseHeaderModifier": _HEADER_FILTER,
        "type": string(enum=_GRPC_FILTER_TYPES),
    },
    required=("type",),
    rules=_filter_field_rules(("RequestMirror", "ExtensionRef")),
)
_GRPC_FILTER_LIST_RULES = (_not_repeated("RequestHeaderModifier"), _not_repeated("ResponseHeaderModifier"))
_GRPC_SERVICE_RE = r"^(?i)\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$"
_GRPC_METHOD_RE = r"^[A-Za-z_][A-Za-z_0-9]*$"
_GRPC_METHOD = obj(
    {
        "method": string(max_len=1024),
        "service": string(max_len=1024),
        "type": string(enum=("Exact", "RegularExpression"), default="Exact"),
    },
    rules=(
        (
            lambda m: ("service" in m or "method" in m) if "type" in m else True,
            "One or both of 'service' or 'method' must be specified",
        ),
        (
            lambda m: (
                re.search(r"(?i)^\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$", m["service"]) is not None
                if m.get("type", "Exact") == "Exact" and "service" in m
                else True
            ),
            f"service must only contain valid characters (matching {_GRPC_SERVICE_RE})",
        ),
        (
            lambda m: (
                re.search(_GRPC_METHOD_RE, m["method"]) is not None
                if m.get("type", "Exact") == "Exact" and "method" in m
                else True
            ),
            f"method must only contain valid characters (matching {_GRPC_METHOD_RE})",
        ),
    ),
)
GRPC_ROUTE = obj(
    {
        "hostnames": _HOSTNAMES,
        "parentRefs": _PARENT_REFS,
        "rules": arr(
            obj(
                {
                    "backendRefs": arr(
                        obj(
                            {
                                **_BACKEND_OBJECT_REF,
                                "filters": arr(_GRPC_FILTER, max_items=16, rules=_GRPC_FILTER_LIST_RULES),
                                "weight": integer(0, 1_000_000, default=1),
                            },
                            required=("name",),
                            rules=(_SERVICE_PORT_RULE,),
                        ),
                        max_items=16,
                    ),
                    "filters": arr(_GRPC_FILTER, max_items=16, rules=_GRPC_FILTER_LIST_RULES),
                    "matches": arr(
                        obj(
                            {
                                "headers": arr(
                                    obj(
                                        {
                                            "name": string(HEADER_NAME_RE, min_len=1, max_len=256),
                                            "type": _MATCH_KIND,
                                            "value": string(min_len=1, max_len=4096),
                                        },
                                        required=("name", "value"),
                                    ),
                                    max_items=16,
                                    map_keys=("name",),
                                ),
                                "method": _GRPC_METHOD,
                            }
                        ),
                        max_items=64,
                    ),
                    "name": _SECTION,
                    "sessionPersistence": _SESSION_PERSISTENCE,
                }
            ),
            max_items=16,
            rules=(
                (lambda rs: sum(len(r.get("matches", ())) for r in rs[:16]) <= 128, _MATCH_LIMIT),
                _RULE_NAMES_UNIQUE,
            ),
        ),
    }
)

# ----------------------------------------------------------------------------------------------
# ReferenceGrant (apis/v1beta1), TLSRoute and TCPRoute (apis/v1alpha2)
# ----------------------------------------------------------------------------------------------
REFERENCE_GRANT = obj(
    {
        "from": arr(
            obj(
                {"group": _GROUP, "kind": _KIND, "namespace": _NAMESPACE},
                required=("group", "kind", "namespace"),
            ),
            max_items=16,
            min_items=1,
        ),
        "to": arr(
            obj({"group": _GROUP, "kind": _KIND, "name": _NAME}, required=("group", "kind")),
            max_items=16,
            min_items=1,
        ),
    },
    required=("from", "to"),
)
_L4_RULES = arr(
    obj({"backendRefs": arr(_BACKEND_REF, max_items=16, min_items=1), "name": _SECTION}),
    max_items=16,
    min_items=1,
    rules=(_RULE_NAMES_UNIQUE,),
)
# TLSRoute v1alpha2 has no parentRefs rules in v1.3.0; TCPRoute has them.
TLS_ROUTE = obj(
    {"hostnames": _HOSTNAMES, "parentRefs": arr(_PARENT_REF, max_items=32), "rules": _L4_RULES},
    required=("rules",),
)
TCP_ROUTE = obj({"parentRefs": _PARENT_REFS, "rules": _L4_RULES}, required=("rules",))

_PENDING = {
    "lastTransitionTime": "1970-01-01T00:00:00Z",
    "message": "Waiting for controller",
    "reason": "Pending",
    "status": "Unknown",
}
#: kind -> (spec schema, spec required, status default)
SCHEMAS: dict[str, tuple[Node, bool, Any]] = {
    "GatewayClass": (GATEWAY_CLASS, True, {"conditions": [{**_PENDING, "type": "Accepted"}]}),
    "Gateway": (
        GATEWAY,
        True,
        {"conditions": [{**_PENDING, "type": "Accepted"}, {**_PENDING, "type": "Programmed"}]},
    ),
    "HTTPRoute": (HTTP_ROUTE, True, None),
    "GRPCRoute": (GRPC_ROUTE, False, None),
    "ReferenceGrant": (REFERENCE_GRANT, False, None),
    "TLSRoute": (TLS_ROUTE, True, None),
    "TCPRoute": (TCP_ROUTE, True, None),
}
SPEC_REQUIRED = {k: v[1] for k, v in SCHEMAS.items()}
NOT_CHECKED = FieldError(
    "<nil>",
    'Invalid value: "null": some validation rules were not checked because the object was invalid; correct '
    "the existing errors to complete validation",
)
_TOP_LEVEL = frozenset({"apiVersion", "kind", "metadata", "spec", "status"})

# ----------------------------------------------------------------------------------------------
# Defaulting
# ----------------------------------------------------------------------------------------------


def _default(node: Node, value: Any) -> Any:
    """Structural defaulting: absent (or null) properties get their ``default``, recursively."""
    if node.type == "object" and isinstance(value, dict):
        for name, sub in node.props:
            if sub.default is not _NO_DEFAULT and value.get(name) is None:
                value[name] = copy.deepcopy(sub.default)
            if name in value:
                value[name] = _default(sub, value[name])
    elif node.type == "array" and isinstance(value, list) and node.item is not None:
        for i, v in enumerate(value):
            value[i] = _default(node.item, v)
    elif node.type == "map" and isinstance(value, dict) and node.item is not None:
        for k in list(value):
            value[k] = _default(node.item, value[k])
    return value


def apply_defaults(kind: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``raw`` with the CRD defaults of ``kind`` applied, as the API server stores it.

    Gateways and GatewayClasses also get the CRD's default ``status`` (``Accepted``/``Programmed``
    ``Unknown``, reason ``Pending``, ``Waiting for controller``) until a controller writes one.
    """
    out = copy.deepcopy(dict(raw))
    entry = SCHEMAS.get(kind)
    if entry is None:
        return out
    node, _, status = entry
    if isinstance(out.get("spec"), dict):
        out["spec"] = _default(node, out["spec"])
    if status is not None and not out.get("status"):
        out["status"] = copy.deepcopy(status)
    return out


# ----------------------------------------------------------------------------------------------
# Schema walk (kube-openapi) and CEL
# ----------------------------------------------------------------------------------------------
#: field.ErrorType of a FieldError by its detail prefix; these stop CEL (``hasBlockingErr``).
_BLOCKING = ("Required value", "Unsupported value", "Too long", "Too many", 'Invalid value: "')


def _is_blocking(e: FieldError) -> bool:
    if e.detail.startswith('Invalid value: "') and " in body must be of type " not in e.detail:
        return False  # a pattern/length Invalid is not blocking; a TypeInvalid is
    return e.detail.startswith(_BLOCKING)


def _goval(value: Any) -> str:
    """A Go value as ``field.Error`` prints it: strings quoted, numbers and booleans plain."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return quote(value)
    return str(value)


def _json_type(node: Node) -> str:
    return {"map": "object"}.get(node.type, node.type)


def _scalar(node: Node, value: Any, path: str, errors: list[FieldError]) -> None:
    want = node.type
    ok = {
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
    }[want]
    if not ok:
        errors.append(_type_error(path, want, value))
        return
    if node.enum and value not in node.enum:
        supported = ", ".join(f'"{_goval(v) if not isinstance(v, str) else v}"' for v in node.enum)
        errors.append(FieldError(path, f"Unsupported value: {_goval(value)}: supported values: {supported}"))
        return
    if want == "string":
        if node.max_len is not None and len(value) > node.max_len:  # go-openapi counts runes
            errors.append(FieldError(path, f"Too long: may not be more than {node.max_len} bytes"))
        if node.min_len is not None and len(value) < node.min_len:
            errors.append(
                FieldError(
                    path,
                    f"Invalid value: {_goval(value)}: {path} in body should be at least {node.min_len} "
                    "chars long",
                )
            )
        if node.pattern is not None and re.search(node.pattern, value) is None:
            errors.append(
                FieldError(
                    path, f"Invalid value: {_goval(value)}: {path} in body should match '{node.pattern}'"
                )
            )
    elif want == "integer":
        if node.maximum is not None and value > node.maximum:
            errors.append(
                FieldError(
                    path,
                    f"Invalid value: {value}: {path} in body should be less than or equal to {node.maximum}",
                )
            )
        if node.minimum is not None and value < node.minimum:
            errors.append(
                FieldError(
                    path,
                    f"Invalid value: {value}: {path} in body should be greater than or equal to "
                    f"{node.minimum}",
                )
            )


def _walk(node: Node, value: Any, path: str, unknown: list[str], errors: list[FieldError]) -> None:
    """kube-openapi's validation of ``value`` against ``node`` (no CEL)."""
    if node.type == "any":
        return
    if node.type in ("object", "map"):
        if not isinstance(value, dict):
            errors.append(_type_error(path, "object", value))
            return
        if node.max_props is not None and len(value) > node.max_props:
            errors.append(
                FieldError(path, f"Too many: {len(value)}: must have at most {node.max_props} items")
            )
        if node.type == "map":
            for k, v in value.items():
                _walk(node.item or ANY, v, f"{path}.{k}", unknown, errors)
            return
        errors.extend(FieldError(f"{path}.{r}", "Required value") for r in node.required if r not in value)
        for key, sub in value.items():
            child = node.prop(key)
            if child is None:
                unknown.append(f"{path}.{key}")
            else:
                _walk(child, sub, f"{path}.{key}", unknown, errors)
        return
    if node.type == "array":
        if not isinstance(value, list):
            errors.append(_type_error(path, "array", value))
            return
        if node.max_items is not None and len(value) > node.max_items:
            errors.append(
                FieldError(path, f"Too many: {len(value)}: must have at most {node.max_items} items")
            )
        if node.min_items is not None and len(value) < node.min_items:
            errors.append(
                FieldError(
                    path,
                    f"Invalid value: {len(value)}: {path} in body should have at least {node.min_items} "
                    "items",
                )
            )
        for i, sub in enumerate(value):
            _walk(node.item or ANY, sub, f"{path}[{i}]", unknown, errors)
        errors.extend(_duplicates(node, value, path))
        return
    _scalar(node, value, path, errors)


def _duplicates(node: Node, items: list[Any], path: str) -> list[FieldError]:
    """``x-kubernetes-list-type`` map/set invariants (structurallisttype.ValidateListSetsAndMaps)."""
    out: list[FieldError] = []
    seen: list[Any] = []
    for i, item in enumerate(items):
        if node.map_keys and isinstance(item, dict):
            key = {k: item[k] for k in node.map_keys if k in item}
            if key in seen:
                inner = ", ".join(f"{_goval(k)}:{_goval(v)}" for k, v in key.items())
                out.append(
                    FieldError(f"{path}[{i}]", f"Duplicate value: map[string]interface {{}}{{{inner}}}")
                )
            seen.append(key)
        elif node.is_set:
            if item in seen:
                out.append(FieldError(f"{path}[{i}]", f"Duplicate value: {_goval(item)}"))
            seen.append(item)
    return out


def _cel(node: Node, value: Any, path: str, errors: list[FieldError]) -> None:
    """Evaluate the ``x-kubernetes-validations`` rules of ``node`` and its children."""
    for check, message in node.rules:
        try:
            ok = check(value)
        except NoSuchKey as exc:
            errors.append(
                FieldError(path, f'Invalid value: "{_json_type(node)}": {exc} evaluating rule: {message}')
            )
            continue
        if not ok:
            errors.append(FieldError(path, f'Invalid value: "{_json_type(node)}": {message}'))
    if node.type == "object" and isinstance(value, dict):
        for name, sub in node.props:
            if name in value:
                _cel(sub, value[name], f"{path}.{name}", errors)
    elif node.type == "array" and isinstance(value, list) and node.item is not None:
        for i, v in enumerate(value):
            _cel(node.item, v, f"{path}[{i}]", errors)
    elif node.type == "map" and isinstance(value, dict) and node.item is not None:
        for k, v in value.items():
            _cel(node.item, v, f"{path}[{k}]", errors)


def check_gatewayapi_schema(kind: str, raw: Mapping[str, Any]) -> tuple[list[str], list[FieldError]]:
    """Steps 1-4 of the module docstring (except the name) for a Gateway API object.

    Args:
        kind: the object's kind (a Gateway API kind).
        raw: the manifest dict as written (defaults are applied here, on a copy).

    Returns:
        ``(unknown_fields, errors)``: strict-decoding rejections (``spec.listeners[0].foo``), and the
        schema then CEL errors in the API server's order.
    """
    node, spec_required, _ = SCHEMAS[kind]
    unknown = [k for k in raw if k not in _TOP_LEVEL]
    if kind == "ReferenceGrant" and "status" in raw:
        unknown.append("status")  # the ReferenceGrant CRD has no status
    errors: list[FieldError] = []
    if "spec" not in raw or raw["spec"] is None:
        if spec_required:
            errors.extend([FieldError("spec", "Required value"), NOT_CHECKED])
        return unknown, errors
    spec = _default(node, copy.deepcopy(raw["spec"]))
    _walk(node, spec, "spec", unknown, errors)
    if unknown:
        return unknown, []
    if any(_is_blocking(e) for e in errors):
        return unknown, [*errors, NOT_CHECKED]
    _cel(node, spec, "spec", errors)
    return unknown, errors
