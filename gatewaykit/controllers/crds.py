"""The CustomResourceDefinitions installed in the cluster: Istio's networking kinds and the Gateway API's.

Rule: no I/O here.
"""

from __future__ import annotations

from typing import Any

from gatewaykit.controllers._common import timestamp

__all__ = ["custom_resource_definitions"]


def custom_resource_definitions() -> list[dict[str, Any]]:
    """The CRDs installed in the cluster: Istio's networking kinds and the Gateway API's.

    Names, short names, categories, scope, versions and printer columns are the CRDs' own (Istio
    1.27.1 manifests/charts/base/files/crd-all.gen.yaml; the Gateway API release Istio 1.27
    supports); the schemas are left open (validation is the sandbox's admission, not a schema).
    """
    from gatewaykit.kube import discovery  # noqa: PLC0415
    from gatewaykit.kube.tables import PRINTER_COLUMNS  # noqa: PLC0415

    out = []
    for info in discovery.served():
        if info.builtin:
            continue
        names: dict[str, Any] = {
            "plural": info.plural,
            "singular": info.singular,
            "kind": info.kind,
            "listKind": f"{info.kind}List",
        }
        if info.short_names:
            names["shortNames"] = list(info.short_names)
        if info.categories:
            names["categories"] = list(info.categories)
        columns = [dict(c) for c in PRINTER_COLUMNS.get((info.group, info.kind), ())]
        versions = []
        for i, v in enumerate(info.versions):
            version: dict[str, Any] = {
                "name": v,
                "served": True,
                "storage": i == 0,
                "schema": {
                    "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                },
            }
            if "status" in info.subresources:
                version["subresources"] = {"status": {}}
            if columns:
                version["additionalPrinterColumns"] = columns
            versions.append(version)
        cond = {"lastTransitionTime": timestamp(0), "status": "True"}
        out.append(
            {
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
                "metadata": {"name": f"{info.plural}.{info.group}", **_crd_metadata(info.group, info.kind)},
                "spec": {
                    "group": info.group,
                    "names": names,
                    "scope": "Namespaced" if info.namespaced else "Cluster",
                    "versions": versions,
                },
                "status": {
                    "acceptedNames": names,
                    "storedVersions": [info.versions[0]],
                    "conditions": [
                        {
                            **cond,
                            "type": "NamesAccepted",
                            "reason": "NoConflicts",
                            "message": "no conflicts found",
                        },
                        {
                            **cond,
                            "type": "Established",
                            "reason": "InitialNamesAccepted",
                            "message": "the initial names have been accepted",
                        },
                    ],
                },
            }
        )
    return out


#: Labels and annotations the CRDs carry as installed: Istio's chart
#: (manifests/charts/base/files/crd-all.gen.yaml at 1.27.1) and the Gateway API v1.3.0 bundle
#: (config/crd/{standard,experimental}/*.yaml: bundle version and release channel).
_CRD_METADATA: dict[str, dict[str, Any]] = {
    "istio.io": {
        "annotations": {"helm.sh/resource-policy": "keep"},
        "labels": {"app": "istio-pilot", "chart": "istio", "heritage": "Tiller", "release": "istio"},
    },
    "gateway.networking.k8s.io": {
        "annotations": {"gateway.networking.k8s.io/bundle-version": "v1.3.0"},
    },
}
#: The Gateway API kinds of the experimental channel (TLSRoute, TCPRoute); the rest are standard.
_EXPERIMENTAL_KINDS = frozenset({"TLSRoute", "TCPRoute"})


def _crd_metadata(group: str, kind: str) -> dict[str, Any]:
    """The labels/annotations of a CRD of ``group`` (a copy; deep enough to be stored)."""
    for suffix, meta in _CRD_METADATA.items():
        if group == suffix or group.endswith("." + suffix):
            out = {k: dict(v) for k, v in meta.items()}
            if suffix == "gateway.networking.k8s.io":
                channel = "experimental" if kind in _EXPERIMENTAL_KINDS else "standard"
                out["annotations"]["gateway.networking.k8s.io/channel"] = channel
            return out
    return {}
