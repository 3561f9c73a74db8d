"""Discovery and OpenAPI documents: how kubectl learns which resources the sandbox serves.

kubectl maps ``kubectl get gw`` to ``/apis/networking.istio.io/v1/.../gateways`` from discovery:
aggregated discovery (``apidiscovery.k8s.io/v2``, one document for ``/api`` and one for ``/apis``)
when the server offers it, else the legacy ``APIVersions``/``APIGroupList``/``APIResourceList``
documents (``k8s.io/apimachinery/pkg/apis/meta/v1/types.go``, ``k8s.io/api/apidiscovery/v2``).

OpenAPI v3 matters for one decision: ``kubectl apply``/``create`` use server-side field validation
(``fieldValidation=Strict``) when the group-version document has a PATCH operation for the kind that
declares that query parameter (``cli-runtime/pkg/resource/query_param_verifier_v3.go``). The PATCH
request bodies list the patch types the kind accepts: built-in kinds do not advertise strategic
merge patch here, so kubectl computes its strategic patch from its compiled-in types (the most
exact patch metadata there is, ``kubectl/pkg/cmd/apply/patcher.go``); custom resources accept JSON
merge patch only, as on a real cluster.

Rule: no I/O here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from gatewaykit.resources.meta import KINDS, KindInfo

__all__ = [
    "AGGREGATED",
    "OPENAPI_V2_PROTOBUF",
    "aggregated_discovery",
    "api_group_list",
    "api_resource_list",
    "api_versions",
    "group_versions",
    "openapi_v2_protobuf",
    "openapi_v3_document",
    "openapi_v3_root",
    "served",
    "version_info",
]

#: The media type of aggregated discovery documents.
AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
_SUBRESOURCE_VERBS = {
    "status": ["get", "patch", "update"],
    "scale": ["get", "patch", "update"],
    "log": ["get"],
    "exec": ["create", "get"],
    "portforward": ["create", "get"],
    "proxy": ["create", "delete", "get", "patch", "update"],
}
def served() -> tuple[KindInfo, ...]:
    """Every resource the API server serves, in discovery order."""
    return KINDS


def group_versions() -> list[tuple[str, list[str]]]:
    """``[(group, [versions, preferred first])]``, the core group ``""`` first."""
    out: dict[str, list[str]] = {}
    for info in served():
        versions = out.setdefault(info.group, [])
        for v in info.versions:
            if v not in versions:
                versions.append(v)
    return sorted(out.items(), key=lambda gv: (gv[0] != "", gv[0] not in ("apps",), gv[0]))


def version_info(git_version: str, platform: str = "linux/amd64") -> dict[str, str]:
    """``/version``: what ``kubectl version`` prints as the Server Version."""
    major, minor = git_version.lstrip("v").split(".")[:2]
    return {
        "major": major,
        "minor": minor,
        "emulationMajor": major,
        "emulationMinor": minor,
        "minCompatibilityMajor": major,
        "minCompatibilityMinor": str(int(minor) - 1),
        "gitVersion": git_version,
        "gitCommit": hashlib.sha1(git_version.encode()).hexdigest(),
        "gitTreeState": "clean",
        "buildDate": "2025-05-15T08:27:33Z",
        "goVersion": "go1.24.2",
        "compiler": "gc",
        "platform": platform,
    }


def api_versions(server_address: str) -> dict[str, Any]:
    """``/api``: the legacy core group's versions."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def api_group_list() -> dict[str, Any]:
    """``/apis``: every named group with its versions."""
    groups = []
    for group, versions in group_versions():
        if not group:
            continue
        entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        groups.append({"name": group, "versions": entries, "preferredVersion": entries[0]})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def _kinds_in(group: str, version: str) -> Iterable[KindInfo]:
    return (k for k in served() if k.group == group and version in k.versions)


def _resource(info: KindInfo) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": info.plural,
        "singularName": info.singular,
        "namespaced": info.namespaced,
        "kind": info.kind,
        "verbs": _VERBS,
    }
    if info.short_names:
        entry["shortNames"] = list(info.short_names)
    if info.categories:
        entry["categories"] = list(info.categories)
    return entry


def api_resource_list(group: str, version: str) -> dict[str, Any] | None:
    """``/api/v1`` or ``/apis/<group>/<version>``: the resources (and subresources) served there."""
    infos = list(_kinds_in(group, version))
    if not infos:
        return None
    resources = []
    for info in infos:
        resources.append(_resource(info))
        for sub in info.subresources:
            kind = "Status" if sub in ("log", "exec", "portforward", "proxy") else info.kind
            if sub == "scale":
                kind = "Scale"
            resources.append(
                {
                    "name": f"{info.plural}/{sub}",
                    "singularName": "",
                    "namespaced": info.namespaced,
                    "kind": kind,
                    "verbs": _SUBRESOURCE_VERBS.get(sub, ["get"]),
                }
            )
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}


def _discovery_resource(info: KindInfo, version: str) -> dict[str, Any]:
    kind = {"group": info.group, "version": version, "kind": info.kind}
    entry: dict[str, Any] = {
        "resource": info.plural,
        "responseKind": kind,
        "scope": "Namespaced" if info.namespaced else "Cluster",
        "singularResource": info.singular,
        "verbs": _VERBS,
    }
    if info.short_names:
        entry["shortNames"] = list(info.short_names)
    if info.categories:
        entry["categories"] = list(info.categories)
    subs = []
    for sub in info.subresources:
        sub_kind = {"group": info.group, "version": version, "kind": "Scale" if sub == "scale" else info.kind}
        if sub in ("log", "exec", "portforward", "proxy"):
            sub_kind = {"group": "", "version": "", "kind": ""}
        subs.append(
            {"subresource": sub, "responseKind": sub_kind, "verbs": _SUBRESOURCE_VERBS.get(sub, ["get"])}
        )
    if subs:
        entry["subresources"] = subs
    return entry


def aggregated_discovery(core: bool) -> dict[str, Any]:
    """``/api`` (``core=True``) or ``/apis`` as one ``APIGroupDiscoveryList``."""
    items = []
    for group, versions in group_versions():
        if (group == "") != core:
            continue
        item_versions = [
            {
                "version": v,
                "resources": [_discovery_resource(i, v) for i in _kinds_in(group, v)],
                "freshness": "Current",
            }
            for v in versions
        ]
        items.append({"metadata": {"name": group} if group else {}, "versions": item_versions})
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    }


#: The media type kubectl asks ``/openapi/v2`` for (gnostic's protobuf ``openapi_v2.Document``).
OPENAPI_V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"


def _pb_string(field: int, value: bytes) -> bytes:
    return bytes([field << 3 | 2, len(value)]) + value


def openapi_v2_protobuf(version: str) -> bytes:
    """A minimal ``/openapi/v2`` document (``swagger: "2.0"``, ``info``, empty ``paths``).

    kubectl falls back to it for client-side validation only for kinds the v3 documents do not
    describe; with no definition for a kind, kubectl's validator has nothing to check and the
    request reaches the resource mapper (``no matches for kind ...``), as on a real cluster.
    """
    info = _pb_string(1, b"Kubernetes") + _pb_string(2, version.encode())
    return _pb_string(1, b"2.0") + _pb_string(2, info) + bytes([8 << 3 | 2, 0])


def _doc_path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def _hash(group: str, version: str) -> str:
    body = json.dumps(openapi_v3_document(group, version), sort_keys=True).encode()
    return hashlib.sha512(body).hexdigest()[:128].upper()


def openapi_v3_root() -> dict[str, Any]:
    """``/openapi/v3``: where each group-version's document is (``serverRelativeURL`` with a hash)."""
    paths = {}
    for group, versions in group_versions():
        for v in versions:
            path = _doc_path(group, v)
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={_hash(group, v)}"}
    return {"paths": paths}


def _patch_operation(info: KindInfo, version: str) -> dict[str, Any]:
    content = {
        t: {"schema": {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}}
        for t in (
            "application/apply-patch+yaml",
            "application/json-patch+json",
            "application/merge-patch+json",
        )
    }
    params = [
        {"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
        for n in ("dryRun", "fieldManager", "fieldValidation", "force")
    ]
    return {
        "operationId": f"patch{info.kind}",
        "parameters": params,
        "requestBody": {"content": content, "required": True},
        "responses": {"200": {"description": "OK"}},
        "x-kubernetes-action": "patch",
        "x-kubernetes-group-version-kind": {"group": info.group, "version": version, "kind": info.kind},
    }


def openapi_v3_document(group: str, version: str) -> dict[str, Any] | None:
    """The OpenAPI v3 document of one group-version (paths and the kinds' object schemas)."""
    infos = list(_kinds_in(group, version))
    if not infos:
        return None
    prefix = "/api/v1" if not group else f"/apis/{group}/{version}"
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for info in infos:
        item = (
            f"{prefix}/namespaces/{{namespace}}/{info.plural}/{{name}}"
            if info.namespaced
            else f"{prefix}/{info.plural}/{{name}}"
        )
        paths[item] = {"patch": _patch_operation(info, version)}
        schema_name = f"{_reverse(group)}.{version}.{info.kind}"
        schemas[schema_name] = {
            "type": "object",
            "x-kubernetes-group-version-kind": [{"group": info.group, "version": version, "kind": info.kind}],
            "x-kubernetes-preserve-unknown-fields": True,
        }
    schemas["io.k8s.apimachinery.pkg.apis.meta.v1.Patch"] = {"type": "object"}
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.1"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def _reverse(group: str) -> str:
    if not group:
        return "io.k8s.api.core"
    return ".".join(reversed(group.split(".")))
