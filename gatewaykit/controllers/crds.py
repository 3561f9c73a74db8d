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
                "metadata": {"name": f"{info.plural}.{info.group}"},
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
