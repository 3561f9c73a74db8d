#!/usr/bin/env python3
"""Regenerate ``gatewaykit/kube/patchmeta.py`` from the Go struct tags of the Kubernetes API.

The API server (``StrategicMergeMapPatch``) and ``kubectl`` (``NewPatchMetaFromStruct``) look up
``patchStrategy`` / ``patchMergeKey`` by walking the compiled-in Go structs with the JSON field
names (``k8s.io/apimachinery/third_party/forked/golang/json/fields.go``). This script reads the
same structs -- ``k8s.io/api`` ``core/v1`` and ``apps/v1`` plus the ``metav1`` types they embed --
from local git mirrors at the commits kubectl v1.37 was built with, and writes one table row per
reachable struct. Run it only when moving to another Kubernetes version::

    python scripts/gen_kube_patchmeta.py > gatewaykit/kube/patchmeta.py
"""

from __future__ import annotations

import re
import subprocess
import sys

# The module versions pinned by kubectl v1.37's go.mod (k8s.io/api, k8s.io/apimachinery).
API = ("/work/.mirror/kubernetes+api/repo", "6e4e0381102b")
MACHINERY = ("/work/.mirror/kubernetes+apimachinery/repo", "d7ad413f224b")
# The API server's own CRD types (kube-apiserver v1.37 era); kubectl does not compile them in.
APIEXTENSIONS = ("/work/.mirror/kubernetes+apiextensions-apiserver/repo", "1aa2717a5")
SOURCES = {
    "v1": [(API, "core/v1/types.go")],
    "apps": [(API, "apps/v1/types.go")],
    "discovery": [(API, "discovery/v1/types.go")],
    "metav1": [(MACHINERY, "pkg/apis/meta/v1/types.go")],
    "apiextensions": [
        (APIEXTENSIONS, "pkg/apis/apiextensions/v1/types.go"),
        (APIEXTENSIONS, "pkg/apis/apiextensions/v1/types_jsonschema.go"),
    ],
}
CORE_KINDS = (
    "Namespace",
    "Service",
    "Secret",
    "ConfigMap",
    "ServiceAccount",
    "Pod",
    "Endpoints",
    "Node",
    "Event",
)
# (package, kind, API group, whether kubectl's scheme has the Go type: k8s.io/kubectl/pkg/scheme
# installs client-go's scheme -- every k8s.io/api group -- but not apiextensions.k8s.io).
ROOTS = (
    [("v1", k, "", True) for k in CORE_KINDS]
    + [("apps", "Deployment", "apps", True), ("apps", "ReplicaSet", "apps", True)]
    + [("discovery", "EndpointSlice", "discovery.k8s.io", True)]
    + [("apiextensions", "CustomResourceDefinition", "apiextensions.k8s.io", False)]
)
# Structs with their own JSON (un)marshalling: the JSON value is a scalar or opaque object, and
# the Go json package sees no exported JSON fields in them (lookups into them fail).
OPAQUE = {
    "metav1.Time",
    "metav1.MicroTime",
    "metav1.Duration",
    "metav1.FieldsV1",
    "intstr.IntOrString",
    "resource.Quantity",
    "runtime.RawExtension",
    "apiextensions.JSON",
    "apiextensions.JSONSchemaPropsOrArray",
    "apiextensions.JSONSchemaPropsOrBool",
    "apiextensions.JSONSchemaPropsOrStringArray",
}
SCALAR_ALIASES = {"types.UID": "string", "types.NodeName": "string"}
BASIC = {"string", "bool", "int", "int32", "int64", "uint", "uint32", "uint64", "float32", "float64", "byte"}

TYPE_RE = re.compile(r"^type (\w+) (struct \{|\S.*)$")
FIELD_RE = re.compile(r"^\s*(?:(\w+)\s+)?(\S+)\s+`([^`]*)`")


def _git_show(repo: tuple[str, str], path: str) -> str:
    return subprocess.run(
        ["git", "-C", repo[0], "show", f"{repo[1]}:{path}"], check=True, capture_output=True, text=True
    ).stdout


def _tag(tags: str, key: str) -> str | None:
    m = re.search(rf'(?:^|\s){key}:"([^"]*)"', tags)
    return m.group(1) if m else None


def parse(pkg: str, text: str, structs: dict, aliases: dict) -> None:
    """Collect ``type X struct {...}`` fields and ``type X <other>`` aliases of one Go file."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = TYPE_RE.match(lines[i])
        i += 1
        if not m:
            continue
        name, rest = f"{pkg}.{m.group(1)}", m.group(2)
        if rest.startswith("struct{}"):
            structs[name] = []
            continue
        if rest != "struct {":
            aliases[name] = rest.split("//")[0].strip()
            continue
        fields = []
        while not lines[i].startswith("}"):
            line = lines[i].split("//", 1)[0] if not lines[i].strip().startswith("//") else ""
            fm = FIELD_RE.match(line)
            if fm:
                fields.append((fm.group(1), fm.group(2), fm.group(3)))
            i += 1
        structs[name] = fields


def qualify(pkg: str, typ: str) -> str:
    """``[]*Container`` in package v1 -> ``[]v1.Container``; keeps map/basic types."""
    typ = typ.replace("*", "")
    if typ.startswith("[]"):
        return "[]" + qualify(pkg, typ[2:])
    if typ.startswith("map["):
        return "map"
    if typ in BASIC or "." in typ:
        return typ
    return f"{pkg}.{typ}"


def resolve(ref: str, structs: dict, aliases: dict) -> str:
    """A type descriptor: ``S:pkg.Name`` (struct), ``[]<desc>``, ``map`` or a Go kind name."""
    if ref.startswith("[]"):
        return "[]" + resolve(ref[2:], structs, aliases)
    if ref == "map" or ref in BASIC:
        return {"byte": "uint8", "int": "int"}.get(ref, ref)
    if ref in OPAQUE or ref in structs:
        return f"S:{ref}"
    if ref in SCALAR_ALIASES:
        return SCALAR_ALIASES[ref]
    if ref in aliases:
        pkg = ref.split(".")[0]
        return resolve(qualify(pkg, aliases[ref]), structs, aliases)
    raise SystemExit(f"unresolved Go type {ref}")


def json_fields(name: str, structs: dict, aliases: dict, depth: int = 0) -> list:
    """Fields as encoding/json sees them: inline embedded structs are promoted (depth+1)."""
    pkg = name.split(".")[0]
    out = []
    for go_name, typ, tags in structs.get(name, []):
        jtag = _tag(tags, "json")
        jname = (jtag or "").split(",")[0]
        if jname == "-":
            continue
        if go_name is None:  # embedded
            if not jname:
                out.extend(json_fields(qualify(pkg, typ), structs, aliases, depth + 1))
                continue
        elif not jname:
            jname = go_name
        if go_name is not None and not go_name[0].isupper():
            continue
        desc = resolve(qualify(pkg, typ), structs, aliases)
        out.append((jname, desc, _tag(tags, "patchStrategy") or "", _tag(tags, "patchMergeKey") or "", depth))
    return out


def dominant(fields: list) -> list:
    """Go's rule: the shallowest field of a name wins; a tie at that depth hides the name."""
    best: dict[str, list] = {}
    for f in fields:
        best.setdefault(f[0], []).append(f)
    keep = []
    for f in fields:
        group = best[f[0]]
        shallow = min(g[4] for g in group)
        tops = [g for g in group if g[4] == shallow]
        if len(tops) == 1 and tops[0] is f:
            keep.append(f)
    return keep


def main() -> None:
    structs: dict = {}
    aliases: dict = {}
    for pkg, files in SOURCES.items():
        for repo, path in files:
            parse(pkg, _git_show(repo, path), structs, aliases)
    table: dict[str, list] = {}
    todo = [f"{p}.{k}" for p, k, _, _ in ROOTS]
    while todo:
        name = todo.pop()
        if name in table:
            continue
        fields = [] if name in OPAQUE else dominant(json_fields(name, structs, aliases))
        table[name] = fields
        for f in fields:
            if "S:" in f[1]:
                todo.append(f[1].split("S:", 1)[1])
    w = sys.stdout.write

    def q(text: str) -> str:  # ruff-format style: double quotes
        return '"' + text + '"'

    w('"""Strategic-merge-patch metadata of the built-in kinds the sandbox serves (GENERATED).\n\n')
    w(
        "Generated by ``scripts/gen_kube_patchmeta.py`` from the Go structs of k8s.io/api@"
        f"{API[1]}\n(core/v1, apps/v1, discovery/v1) and k8s.io/apimachinery@{MACHINERY[1]} (meta/v1)\n"
        "-- the modules kubectl v1.37 is built with -- and k8s.io/apiextensions-apiserver@"
        f"{APIEXTENSIONS[1]}.\n"
        "Do not edit by hand.\n\n"
    )
    w(
        "``STRUCTS[name][jsonField] = (type, patchStrategy, patchMergeKey)`` in encoding/json field order.\n"
        "``type`` is ``S:<struct>``, ``[]<type>``, ``map`` or a Go kind (``string``, ``int32``, ...).\n"
        "Structs with custom JSON (Time, Quantity, IntOrString, ...) have no fields.\n"
    )
    w('"""\n\nfrom __future__ import annotations\n\n')
    w("#: (API group, kind) -> the Go struct of the object.\n")
    w("ROOTS: dict[tuple[str, str], str] = {\n")
    for p, k, group, _ in ROOTS:
        w(f"    ({q(group)}, {q(k)}): {q(f'{p}.{k}')},\n")
    w("}\n\n#: The kinds kubectl has compiled in (k8s.io/kubectl/pkg/scheme); apply falls back to a JSON\n")
    w("#: merge patch for the others when the server publishes no strategic-merge OpenAPI.\n")
    w("KUBECTL_SCHEME: frozenset[tuple[str, str]] = frozenset(\n    {\n")
    for _, k, group, compiled in ROOTS:
        if compiled:
            w(f"        ({q(group)}, {q(k)}),\n")
    w("    }\n)\n\nSTRUCTS: dict[str, dict[str, tuple[str, str, str]]] = {\n")
    for name in sorted(table):
        if not table[name]:
            w(f"    {q(name)}: {{}},\n")
            continue
        w(f"    {q(name)}: {{\n")
        for jname, desc, strat, key, _ in table[name]:
            w(f"        {q(jname)}: ({q(desc)}, {q(strat)}, {q(key)}),\n")
        w("    },\n")
    w("}\n")


if __name__ == "__main__":
    main()
