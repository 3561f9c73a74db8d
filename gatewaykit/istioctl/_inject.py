"""``istioctl kube-inject -f FILE``: the manifest with the sidecar injected into its workloads.

Like ``pkg/kube/inject/inject.go`` ``IntoResourceFile``: each document of the input is read; kinds
Kubernetes knows are written back as Go's ``yaml.Marshal`` writes typed objects (keys sorted,
``creationTimestamp: null``, empty ``status``), with the sidecar injected into pod templates; other
documents (Istio's own kinds) are copied unchanged; every document is followed by ``---``.

The injected containers and annotations are the sandbox's injector's (:func:`gatewaykit.controllers.
inject_pod_template`), abridged from Istio 1.27's injection template to what learners look at. The
sandbox runs such pods as it runs automatically injected ones.
"""

from __future__ import annotations

import re
from typing import Any

from gatewaykit.istioctl._cli import CommandError, Flags, Streams

__all__ = ["run_kube_inject"]

_SEPARATOR = re.compile(r"^---\s*$", re.M)
#: Kinds with a pod template (``spec.template``) or a pod spec, and the core kinds re-marshalled.
_WORKLOADS = ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job")
_CORE = ("Service", "ServiceAccount", "ConfigMap", "Secret", "Namespace", "Pod", *_WORKLOADS, "CronJob")
_EMPTY_STATUS = {
    "Service": {"loadBalancer": {}},
    "Deployment": {},
    "ReplicaSet": {"replicas": 0},
    "StatefulSet": {"availableReplicas": 0, "replicas": 0},
    "DaemonSet": {
        "currentNumberScheduled": 0,
        "desiredNumberScheduled": 0,
        "numberMisscheduled": 0,
        "numberReady": 0,
    },
    "Pod": {},
    "Namespace": {},
    "Job": {},
}


def _split(text: str) -> list[str]:
    """``YAMLReader``: documents split at ``---`` lines (empty ones dropped)."""
    return [d for d in _SEPARATOR.split(text) if d.strip()]


def _marshal(obj: dict[str, Any]) -> str:
    import yaml  # noqa: PLC0415

    return str(yaml.safe_dump(obj, sort_keys=True, default_flow_style=False, width=1 << 30))


def _typed(obj: dict[str, Any]) -> dict[str, Any]:
    """What round-tripping through the Go type adds: ``creationTimestamp: null``, empty status."""
    kind = obj.get("kind", "")
    out = dict(obj)
    out["metadata"] = {**(obj.get("metadata") or {}), "creationTimestamp": None}
    if kind in _WORKLOADS or kind == "Deployment":
        spec = dict(out.get("spec") or {})
        if kind == "Deployment":
            spec.setdefault("strategy", {})
        template = dict(spec.get("template") or {})
        template["metadata"] = {**(template.get("metadata") or {}), "creationTimestamp": None}
        spec["template"] = template
        out["spec"] = spec
    if kind in _EMPTY_STATUS:
        out.setdefault("status", _EMPTY_STATUS[kind])
    return out


def _inject(obj: dict[str, Any]) -> dict[str, Any]:
    from gatewaykit.controllers import inject_pod_template  # noqa: PLC0415

    kind = obj.get("kind")
    name = str((obj.get("metadata") or {}).get("name", ""))
    if kind == "Pod":
        injected = inject_pod_template(
            {"metadata": obj.get("metadata") or {}, "spec": obj.get("spec") or {}}, name
        )
        return {**obj, **injected}
    if kind in _WORKLOADS:
        spec = dict(obj.get("spec") or {})
        spec["template"] = inject_pod_template(spec.get("template") or {}, name)
        return {**obj, "spec": spec}
    return obj


def run_kube_inject(flags: Flags, streams: Streams) -> int:
    """Read ``-f`` (``-`` for stdin), write the injected manifest to stdout."""
    import yaml  # noqa: PLC0415

    name = flags.get("filename") or ""
    if not name:
        raise CommandError("filename not specified (see --filename or -f)")
    try:
        text = streams.inp.read() if name == "-" else open(name, encoding="utf-8").read()  # noqa: SIM115
    except FileNotFoundError:
        raise CommandError(f"open {name}: no such file or directory") from None
    out = []
    for raw in _split(text):
        try:
            obj = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise CommandError(
                f"error converting YAML to JSON: yaml: {getattr(exc, 'problem', exc)}"
            ) from None
        if not isinstance(obj, dict) or obj.get("kind") not in _CORE:
            out.append(raw.lstrip("\n") if raw.endswith("\n") else raw.lstrip("\n") + "\n")
        else:
            out.append(_marshal(_typed(_inject(obj))))
        out.append("---\n")
    streams.out.write("".join(out))
    return 0
