"""IstioOperator inputs as ``istioctl install`` merges them: profiles, ``-f`` files, ``--set`` paths.

Pure (reads only the files it is given). Mirrors Istio 1.27.1's ``operator/pkg/render/manifest.go``
(``MergeInputs``: base profile, profile overlay, files, ``--set``, then the IstioOperator → Helm
translation), ``operator/pkg/values/map.go`` (``MergeFrom``, ``SetPath`` with ``[i]`` and
``[key:value]`` segments, ``parseValue``) and ``operator/pkg/apis/validation`` (strict decoding of the
IstioOperator; the mesh config through the legacy ``jsonpb`` decoder). Error texts are those code
paths' (``could not unmarshal: json: unknown field "foo"``, ``failed to convert to proto. unknown
value ... for enum ...``).
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "ISTIO_VERSION",
    "InstallError",
    "merge_inputs",
    "validate",
]

#: The release this istioctl plays (``hubTagOverlay``: the build's hub and tag).
ISTIO_VERSION = "1.27.1"
HUB = "docker.io/istio"


class InstallError(Exception):
    """An install input istioctl refuses; ``str()`` is its message (without ``Error: ``)."""


# IstioOperator profiles, manifests/profiles/*.yaml at 1.27.1 (the ones the sandbox can run).
_DEFAULT_PROFILE: dict[str, Any] = {
    "apiVersion": "install.istio.io/v1alpha1",
    "kind": "IstioOperator",
    "metadata": {"namespace": "istio-system"},
    "spec": {
        "hub": "gcr.io/istio-testing",
        "tag": "latest",
        "components": {
            "base": {"enabled": True},
            "pilot": {"enabled": True},
            "ingressGateways": [{"name": "istio-ingressgateway", "enabled": True}],
            "egressGateways": [{"name": "istio-egressgateway", "enabled": False}],
        },
        "values": {
            "defaultRevision": "",
            "global": {"istioNamespace": "istio-system", "configValidation": True},
            "gateways": {"istio-ingressgateway": {}, "istio-egressgateway": {}},
            "ztunnel": {"resourceName": "ztunnel"},
        },
    },
}
_PROFILES: dict[str, dict[str, Any]] = {
    "demo": {
        "spec": {
            "components": {"egressGateways": [{"name": "istio-egressgateway", "enabled": True}]},
            "values": {"profile": "demo"},
        }
    },
    "minimal": {
        "spec": {"components": {"ingressGateways": [{"name": "istio-ingressgateway", "enabled": False}]}}
    },
    "empty": {
        "spec": {
            "components": {
                "base": {"enabled": False},
                "pilot": {"enabled": False},
                "ingressGateways": [{"name": "istio-ingressgateway", "enabled": False}],
            }
        }
    },
    "preview": {"spec": {"values": {"profile": "preview"}}},
    "stable": {"spec": {"values": {"profile": "stable"}}},
}
#: Profiles that exist in Istio 1.27.1 but need parts the sandbox does not run.
_UNMODELLED_PROFILES = {
    "ambient": "ztunnel and the Istio CNI node agent",
    "openshift": "OpenShift",
    "openshift-ambient": "OpenShift, ztunnel and the Istio CNI node agent",
    "remote": "an external control plane",
}


# ------------------------------------------------------------------------ values.Map


def merge_from(base: dict[str, Any], other: Mapping[str, Any]) -> None:
    """``Map.MergeFrom``: maps merge recursively, anything else (lists too) replaces."""
    for k, v in other.items():
        if isinstance(v, Mapping):
            v = copy.deepcopy(dict(v))
            if isinstance(base.get(k), dict):
                merge_from(base[k], v)
                continue
        base[k] = copy.deepcopy(v)


def get_path(m: Any, path: str) -> Any:
    """``Map.GetPath`` for plain ``a.b.c`` paths (None when absent)."""
    cur = m
    for seg in path.split("."):
        if not isinstance(cur, dict) or seg not in cur:
            return None
        cur = cur[seg]
    return cur


def _split_path(path: str) -> list[str]:
    """``splitPath``: ``.``-separated (``\\.`` escapes a dot), ``a[0]`` and ``a[k:v]`` split off."""
    path = os.path.normpath(path) if path else path
    path = path.strip(".")
    parts = re.split(r"(?<!\\)\.", path) if path else []
    out: list[str] = []
    for part in parts:
        if not part:
            continue
        part = part.replace("\\.", ".")
        bracket = part.find("[")
        if bracket > 0:
            out += [part[:bracket], part[bracket:]]
        else:
            out.append(part)
    return out


def _index(seg: str) -> int | None:
    if seg.startswith("[") and seg.endswith("]") and re.fullmatch(r"-?\d+", seg[1:-1]):
        return int(seg[1:-1])
    return None


def _kv(seg: str) -> tuple[str, str] | None:
    if seg.startswith("[") and seg.endswith("]") and ":" in seg:
        k, v = seg[1:-1].split(":", 1)
        return k, v
    return None


def set_path(m: dict[str, Any], path: str, value: Any) -> None:
    """``Map.SetPath`` (``setPathRecurse``): creates maps and list items as needed.

    Raises:
        InstallError: ``element [k:v] not found`` / ``unknown segment [x]``.
    """
    _set(m, _split_path(path), value)


def _set(base: dict[str, Any], paths: list[str], value: Any) -> None:
    seg = paths[0]
    if len(paths) >= 2 and paths[1].startswith("["):
        last = len(paths) == 2
        lst = base.setdefault(seg, [])
        if not isinstance(lst, list):
            lst = base[seg] = []
        kv, idx = _kv(paths[1]), _index(paths[1])
        if kv is not None:
            index = next(
                (i for i, it in enumerate(lst) if isinstance(it, dict) and it.get(kv[0]) == kv[1]), -1
            )
            if index == -1:
                raise InstallError(f"element {paths[1]} not found")
        elif idx is not None:
            index = idx
        else:
            raise InstallError(f"unknown segment {paths[1]}")
        if index < 0 or index >= len(lst):
            if last:
                lst.append(value)
            else:
                item: dict[str, Any] = {}
                _set(item, paths[2:], value)
                lst.append(item)
        else:
            item = lst[index] if isinstance(lst[index], dict) else {}
            _set(item, paths[2:], value)
            lst[index] = item
        return
    if len(paths) == 1:
        base[seg] = value
        return
    if not isinstance(base.get(seg), dict):
        base[seg] = {}
    _set(base[seg], paths[1:], value)


_ALWAYS_STRING = (
    "spec.values.compatibilityVersion",
    "spec.tag",
    "spec.values.global.tag",
    "spec.meshConfig.defaultConfig.proxyMetadata.",
    "spec.values.meshConfig.defaultConfig.proxyMetadata.",
    "spec.compatibilityVersion",
)


def parse_value(text: str) -> Any:
    """``parseValue``: an int, a float, a bool (Go's ``strconv.ParseBool``), else the string."""
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    if re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text) or text in ("Inf", "+Inf", "-Inf", "NaN"):
        return float(text)
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return text.replace("\\,", ",")


def set_spec_paths(m: dict[str, Any], flags: list[str]) -> None:
    """``SetSpecPaths``: each ``path=value`` of ``--set`` under ``spec.``."""
    for flag in flags:
        path, _, value = flag.partition("=")
        full = "spec." + path.strip()
        val: Any = value if any(full.startswith(a) for a in _ALWAYS_STRING) else parse_value(value)
        set_path(m, full, val)


# ------------------------------------------------------------------------- inputs


def _read_file(name: str, stdin: str | None) -> dict[str, Any]:
    import yaml  # noqa: PLC0415 - only for install

    if name == "-":
        text = stdin or ""
    else:
        try:
            with open(name.strip(), encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            raise InstallError(f"open {name.strip()}: no such file or directory") from None
        except IsADirectoryError:
            raise InstallError(f"read {name.strip()}: is a directory") from None
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise InstallError(f"unable to parse file: {_yaml_problem(exc)}") from None
    if len(docs) > 1:
        raise InstallError("contains multiple IstioOperator CRs, only one per file is supported")
    doc = docs[0] if docs else {}
    if not isinstance(doc, dict):
        raise InstallError(
            "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal "
            f"{_go_json_type(doc)} into Go value of type values.Map"
        )
    return json.loads(json.dumps(doc, default=str))


def _yaml_problem(exc: Exception) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    line = f"line {mark.line + 1}: " if mark is not None else ""
    return f"error converting YAML to JSON: yaml: {line}{problem}"


def _go_json_type(value: Any) -> str:
    return {str: "string", list: "array", bool: "bool", int: "number", float: "number"}.get(
        type(value), "value"
    )


def read_profile(profile: str) -> dict[str, Any]:
    """``readProfile``: the default profile, with the named one merged over it."""
    base = copy.deepcopy(_DEFAULT_PROFILE)
    if profile in ("", "default"):
        return base
    if profile in _UNMODELLED_PROFILES:
        raise InstallError(
            f'gatewaykit: the sandbox cannot install the "{profile}" profile: it needs '
            f"{_UNMODELLED_PROFILES[profile]}, which the sandbox does not run "
            f"(profiles here: default, {', '.join(_PROFILES)})"
        )
    if profile not in _PROFILES:
        raise InstallError(
            f'profile "{profile}" not found: open profiles/{profile}.yaml: file does not exist'
        )
    merge_from(base, _PROFILES[profile])
    return base


def merge_inputs(files: list[str], flags: list[str], stdin: str | None = None) -> dict[str, Any]:
    """``MergeInputs``: the IstioOperator ``istioctl install -f ... --set ...`` renders from.

    Raises:
        InstallError: an unreadable file, several IstioOperators in one file, a bad ``--set``
            path, an unknown profile (texts without the ``generate config: merge inputs:`` prefix).
    """
    user: dict[str, Any] = {
        "apiVersion": "install.istio.io/v1alpha1",
        "kind": "IstioOperator",
        "metadata": {},
        "spec": {},
    }
    for i, name in enumerate(files):
        if name == "-" and i != len(files) - 1:
            raise InstallError("stdin is only allowed as the last filename")
        doc = _read_file(name, stdin)
        if doc.get("spec") is None:
            doc.pop("spec", None)
        merge_from(user, doc)
    set_spec_paths(user, flags)
    profile = get_path(user, "spec.profile")
    base = read_profile(profile if isinstance(profile, str) else "")
    set_spec_paths(base, [f"hub={HUB}", f"tag={ISTIO_VERSION}"])  # hubTagOverlay
    user_values = get_path(user, "spec.values")
    merge_from(base, user)
    _translate_to_helm(base)
    if isinstance(user_values, dict):
        merge_from(base, {"spec": {"values": user_values}})
    return base


def _translate_to_helm(base: dict[str, Any]) -> None:
    """``translateIstioOperatorToHelm``: spec fields that are really Helm values."""
    for src, dst in (
        ("spec.hub", "global.hub"),
        ("spec.tag", "global.tag"),
        ("spec.revision", "revision"),
        ("spec.meshConfig", "meshConfig"),
        ("spec.compatibilityVersion", "compatibilityVersion"),
    ):
        v = get_path(base, src)
        if v is None:
            continue
        if isinstance(v, dict):
            merge_from(base, {"spec": {"values": {"meshConfig": v}}})
        else:
            set_path(base, f"spec.values.{dst}", v)
    set_path(base, "spec.values.pilot.enabled", get_path(base, "spec.components.pilot.enabled") is True)
    set_path(base, "spec.values.pilot.cni.enabled", get_path(base, "spec.components.cni.enabled") is True)
    ns = get_path(base, "spec.values.global.istioNamespace")
    if isinstance(ns, str) and ns:
        set_path(base, "metadata.namespace", ns)


# ---------------------------------------------------------------------- validation

# apis.IstioOperator (operator/pkg/apis/types.go): field -> nested schema ("str", "bool", "any",
# a dict for a struct, ("list", schema) for a slice, ("map", "str") for map[string]string).
_K8S = {
    f: "any"
    for f in (
        "affinity env hpaSpec imagePullPolicy nodeSelector podDisruptionBudget podAnnotations "
        "priorityClassName readinessProbe replicaCount resources service strategy tolerations "
        "serviceAnnotations securityContext volumes volumeMounts overlays"
    ).split()
}
_COMPONENT: dict[str, Any] = {"enabled": "bool", "namespace": "str", "hub": "str", "tag": "any", "k8s": _K8S}
_GATEWAY: dict[str, Any] = {**_COMPONENT, "name": "str", "label": ("map", "str")}
_SPEC: dict[str, Any] = {
    "profile": "str",
    "installPackagePath": "str",
    "hub": "str",
    "tag": "any",
    "namespace": "str",
    "revision": "str",
    "compatibilityVersion": "str",
    "meshConfig": "any",
    "components": {
        "base": {"enabled": "bool", "k8s": _K8S},
        "pilot": _COMPONENT,
        "cni": _COMPONENT,
        "ztunnel": _COMPONENT,
        "istiodRemote": _COMPONENT,
        "ingressGateways": ("list", _GATEWAY),
        "egressGateways": ("list", _GATEWAY),
    },
    "values": "any",
    "unvalidatedValues": "any",
}
_META = {
    f: "any"
    for f in (
        "name generateName namespace selfLink uid resourceVersion generation creationTimestamp "
        "deletionTimestamp deletionGracePeriodSeconds labels annotations ownerReferences finalizers "
        "managedFields"
    ).split()
}
_IOP: dict[str, Any] = {"apiVersion": "str", "kind": "str", "metadata": _META, "spec": _SPEC}
_GO_TYPES = {"spec": "IstioOperatorSpec", "components": "IstioComponentSpec"}


def _check(value: Any, schema: Any, path: str, owner: str) -> None:
    """Go's strict ``json.Decoder`` over ``schema``: the first unknown field in key order."""
    if schema == "any" or value is None:
        return
    if schema == "bool":
        if not isinstance(value, bool):
            raise InstallError(
                f"could not unmarshal: json: cannot unmarshal {_go_json_type(value)} into Go value of "
                "type bool"
            )
        return
    if schema == "str":
        if not isinstance(value, str):
            raise InstallError(
                f"could not unmarshal: json: cannot unmarshal {_go_json_type(value)} into Go struct field "
                f"{owner}.{path} of type string"
            )
        return
    if isinstance(schema, tuple):
        kind, inner = schema
        if kind == "list" and isinstance(value, list):
            for item in value:
                _check(item, inner, path, "GatewayComponentSpec")
        elif kind == "map" and isinstance(value, dict):
            for k in sorted(value):
                _check(value[k], inner, path, owner)
        return
    if not isinstance(value, dict):
        return
    for key in sorted(value):
        if key not in schema:
            raise InstallError(f'could not unmarshal: json: unknown field "{key}"')
        _check(value[key], schema[key], f"{path}.{key}" if path else key, _GO_TYPES.get(key, owner))


# istio.mesh.v1alpha1.MeshConfig's fields (istio/api mesh/v1alpha1/config.proto at the 1.27.1 pin).
_MESH_FIELDS = frozenset(
    (
        "accessLogEncoding accessLogFile accessLogFormat ca caCertificates certificates configSources "
        "connectTimeout defaultConfig defaultDestinationRuleExportTo defaultHttpRetryPolicy defaultProviders "
        "defaultServiceExportTo defaultVirtualServiceExportTo disableEnvoyListenerLog discoverySelectors "
        "dnsRefreshRate enableAutoMtls enableEnvoyAccessLogService enablePrometheusMerge enableTracing "
        "extensionProviders h2UpgradePolicy inboundClusterStatName inboundTrafficPolicy ingressClass "
        "ingressControllerMode ingressSelector ingressService localityLbSetting meshMTLS "
        "outboundClusterStatName outboundTrafficPolicy pathNormalization protocolDetectionTimeout "
        "proxyHttpPort proxyInboundListenPort proxyListenPort rootNamespace serviceScopeConfigs "
        "serviceSettings tcpKeepalive tlsDefaults trustDomain trustDomainAliases verifyCertificateAtClient"
    ).split()
)
_MODE_NUMBERS = {0: "REGISTRY_ONLY", 1: "ALLOW_ANY"}


def _snake_to_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def mesh_config_error(mesh: Any) -> str | None:
    """What ``mesh.ApplyMeshConfigDefaults`` says about a meshConfig (top level and
    ``outboundTrafficPolicy`` are checked; deeper fields are not modelled)."""
    if not isinstance(mesh, dict):
        return None
    prefix = "failed to convert to proto. "
    for key in mesh:
        if _snake_to_camel(key) not in _MESH_FIELDS:
            return f'{prefix}unknown field "{key}" in istio.mesh.v1alpha1.MeshConfig'
    policy = mesh.get("outboundTrafficPolicy", mesh.get("outbound_traffic_policy"))
    if isinstance(policy, dict):
        for key in policy:
            if key != "mode":
                return (
                    f'{prefix}unknown field "{key}" in istio.mesh.v1alpha1.MeshConfig.OutboundTrafficPolicy'
                )
        mode = policy.get("mode")
        if mode is not None and mode not in _MODE_NUMBERS.values() and mode not in _MODE_NUMBERS:
            raw = json.dumps(mode)
            quoted = '"' + raw.replace("\\", "\\\\").replace('"', '\\"') + '"'
            enum = "istio.mesh.v1alpha1.MeshConfig.OutboundTrafficPolicy.Mode"
            return f"{prefix}unknown value {quoted} for enum {enum}"
    return None


def validate(iop: dict[str, Any]) -> None:
    """``ParseAndValidateIstioOperator`` for what the sandbox models.

    Raises:
        InstallError: the first strict-decoding error, or the mesh config's errors (values'
            ``meshConfig`` first, then ``spec.meshConfig``, joined with ``, `` like ``util.Errors``).
    """
    _check(iop, _IOP, "", "IstioOperator")
    errors = [
        e
        for e in (
            mesh_config_error(get_path(iop, "spec.values.meshConfig")),
            mesh_config_error(get_path(iop, "spec.meshConfig")),
        )
        if e
    ]
    if errors:
        raise InstallError(", ".join(errors))


def outbound_mode(mesh: Mapping[str, Any]) -> str:
    """The effective ``outboundTrafficPolicy.mode`` of a rendered mesh config (number or name)."""
    policy = mesh.get("outboundTrafficPolicy") or {}
    mode = policy.get("mode", "ALLOW_ANY") if isinstance(policy, dict) else "ALLOW_ANY"
    return _MODE_NUMBERS.get(mode, str(mode)) if isinstance(mode, int) else str(mode)
