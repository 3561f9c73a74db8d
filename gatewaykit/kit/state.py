"""What the kit applied, and the state a step or an exercise starts from (pure).

The *ledger* is the ordered map of what the kit applied (key -> the document as applied). A lab
defines where each step and exercise starts: the setup, then every earlier step's action, then the
exercise's own setup. :func:`fold` computes that target from the lab's actions -- deletes remove
objects, secrets and manifests add them, a step Istio rejects adds nothing -- and :func:`plan`
says what to delete and what to apply to get there from what is applied now.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from gatewaykit.kit.labs import Action, Condition, SecretSpec
from gatewaykit.resources.meta import KINDS, kind_info

__all__ = [
    "MESH_KEY",
    "Key",
    "applied_form",
    "checked_objects",
    "doc_key",
    "drifted",
    "fold",
    "mesh_doc",
    "plan",
    "stub",
]

Key = tuple[str, str, str]

#: The ledger's entry for the mesh-wide outbound policy (a switch, not an API object).
MESH_KEY: Key = ("MeshConfig", "", "outboundTrafficPolicy")


def mesh_doc(mode: str) -> dict[str, Any]:
    """The ledger's record of ``meshConfig.outboundTrafficPolicy.mode`` being ``mode``."""
    meta = {"name": MESH_KEY[2]}
    return {"apiVersion": "gatewaykit/v1", "kind": MESH_KEY[0], "metadata": meta, "mode": mode}


#: The annotation kubectl (and the sandbox's apply) writes: the document as it was applied.
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def doc_key(doc: Mapping[str, Any]) -> Key:
    """``(store kind, namespace, name)`` of a document; the Gateway API's Gateway has its own kind
    (``Gateway.gateway.networking.k8s.io``), so it never collides with Istio's ``Gateway``."""
    meta = doc.get("metadata") or {}
    kind = str(doc.get("kind"))
    if kind == MESH_KEY[0]:
        return MESH_KEY
    info = kind_info(str(doc.get("apiVersion", "")), kind)
    store_kind = info.store_kind if info else kind
    namespaced = info.namespaced if info else kind != "Namespace"
    ns = str(meta.get("namespace") or "default") if namespaced else ""
    return (store_kind, ns, str(meta.get("name")))


def stub(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A minimal manifest naming ``doc`` (what ``kubectl delete -f`` needs)."""
    key = doc_key(doc)
    meta: dict[str, Any] = {"name": key[2]}
    if key[1]:
        meta["namespace"] = key[1]
    return {"apiVersion": doc["apiVersion"], "kind": doc["kind"], "metadata": meta}


def applied_form(doc: Mapping[str, Any]) -> str:
    """A canonical text of a document as applied, for comparing it with a server's
    last-applied annotation (kubectl adds an empty ``annotations`` and the namespace)."""
    clean = json.loads(json.dumps(doc))
    meta = clean.setdefault("metadata", {})
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != LAST_APPLIED}
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    key = doc_key(doc)
    if key[1]:
        meta["namespace"] = key[1]
    return json.dumps(clean, sort_keys=True)


def drifted(doc: Mapping[str, Any], obj: Mapping[str, Any] | None) -> bool:
    """Whether the cluster's object is no longer ``doc`` as the kit applied it: it is gone, or its
    last-applied annotation (written by ``kubectl apply`` and the sandbox) records another
    document. An object without that annotation (server-side apply, ``kubectl create``) counts
    as unchanged: there is nothing to compare it with."""
    if obj is None:
        return True
    raw = ((obj.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    if not raw:
        return False
    try:
        return applied_form(json.loads(raw)) != applied_form(doc)
    except (ValueError, AttributeError):
        return True


def fold(
    actions: Iterable[tuple[Action, bool]],
    secrets: Callable[[tuple[SecretSpec, ...]], list[dict[str, Any]]],
) -> dict[Key, dict[str, Any]]:
    """The objects applied after running ``actions`` in order, from nothing.

    Args:
        actions: ``(action, rejected)`` pairs; a rejected step (``expect_apply.rejected``) applies
            none of its manifests, as Istio refuses them.
        secrets: builds the Secret documents of a step's ``secrets:`` from the working folder.
    """
    state: dict[Key, dict[str, Any]] = {}
    for action, rejected in actions:
        for ref in action.delete:
            for d in ref.documents:
                state.pop(doc_key(d), None)
        if action.outbound_traffic_policy == "ALLOW_ANY":
            state.pop(MESH_KEY, None)  # Istio's default: nothing to remember
        elif action.outbound_traffic_policy:
            state.pop(MESH_KEY, None)
            state[MESH_KEY] = mesh_doc(action.outbound_traffic_policy)
        docs = list(secrets(action.secrets)) if action.secrets else []
        if not rejected:
            docs += [dict(d) for ref in action.manifests for d in ref.documents]
        for d in docs:
            state.pop(doc_key(d), None)  # re-applied objects move to the end, as in the ledger
            state[doc_key(d)] = d
    return state


def plan(
    target: Mapping[Key, Mapping[str, Any]],
    ledger: Mapping[Key, Mapping[str, Any]],
    live: Callable[[Key], Mapping[str, Any] | None],
) -> tuple[list[Key], list[dict[str, Any]]]:
    """What to delete (newest first) and what to apply (in order) to go from ``ledger`` to ``target``.

    ``live(key)`` is the object as the cluster has it (``Backend.get``): an object the learner
    changed or deleted outside the kit (``kubectl`` in a bash cell) is applied again too.
    """
    deletes = [k for k in reversed(list(ledger)) if k not in target]
    applies = []
    for key, doc in target.items():
        known = ledger.get(key)
        if known is None or applied_form(known) != applied_form(doc) or drifted(doc, live(key)):
            applies.append(dict(doc))
    return deletes, applies


def checked_objects(conditions: Iterable[Condition]) -> list[dict[str, Any]]:
    """Stubs of the objects exercise checks name (``kind`` + ``name``): what a learner makes for
    an exercise -- often with ``kubectl`` in a bash cell, where the kit does not see it -- and what a
    reset or a fresh start must remove again."""
    out = []
    for cond in conditions:
        info = next((k for k in KINDS if k.kind == cond.kind), None)
        if cond.absent or not cond.name or info is None:
            continue
        meta = {"name": cond.name}
        if info.namespaced:
            meta["namespace"] = cond.namespace or "default"
        out.append({"apiVersion": info.api_versions()[0], "kind": info.kind, "metadata": meta})
    return out
