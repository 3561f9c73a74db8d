"""What ``kubectl apply -f`` and ``kubectl delete -f`` do, for the Python API.

``sb.apply(yaml)`` must leave the store exactly as ``kubectl apply -f`` would, so both views of
one sandbox agree: like kubectl's client-side apply (k8s.io/kubectl pkg/cmd/apply), it creates a
missing object with the ``kubectl.kubernetes.io/last-applied-configuration`` annotation, and
patches an existing one with the three-way patch kubectl computes from that annotation, the new
manifest and the live object (strategic merge for built-in kinds, JSON merge for custom
resources). An empty patch prints ``unchanged``.

One deliberate difference (docs/apiserver.md): a multi-document apply is all-or-nothing -- every
document is checked in one transaction, and a rejection anywhere changes nothing -- where kubectl
would create the documents before the bad one. Each rejection is worded as kubectl prints it.

Rule: no I/O here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gatewaykit.errors import ApiError, ValidationError
from gatewaykit.kube import patch as kpatch
from gatewaykit.kube import status as st
from gatewaykit.resources.codecs import load, resource_string
from gatewaykit.resources.meta import KindInfo, Manifest, ResourceKey, kind_info
from gatewaykit.store._store import Transaction, store_kind

__all__ = ["LAST_APPLIED", "ApplyResult", "kubectl_apply", "kubectl_delete", "manifests_of"]

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What kubectl printed for one ``apply`` or ``delete``.

    Attributes:
        lines: one line per object (``gateway.networking.istio.io/x created``,
            ``gateway.networking.istio.io "x" deleted``).
        warnings: admission warnings, bare (kubectl prints them as ``Warning: <text>``).
        errors: per-object errors kubectl prints without aborting the others -- only
            ``delete`` of a missing object (``Error from server (NotFound): ...``).
    """

    lines: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()

    def __str__(self) -> str:
        return "\n".join([f"Warning: {w}" for w in self.warnings] + list(self.lines) + list(self.errors))


def manifests_of(manifests: Any) -> list[Manifest]:
    """Parsed manifests, or anything :func:`gatewaykit.resources.codecs.load` reads."""
    if isinstance(manifests, Manifest):
        return [manifests]
    if isinstance(manifests, (list, tuple)) and all(isinstance(m, Manifest) for m in manifests):
        return list(manifests)
    return load(manifests)


def _info(manifest: Manifest) -> KindInfo:
    info = kind_info(str(manifest.raw.get("apiVersion", "")), manifest.kind)
    if info is None:  # load() already rejects these; guard Manifests built from dicts
        from gatewaykit.resources.codecs import _check_document  # noqa: PLC0415

        text = _check_document(manifest.raw, manifest.source) or f"error: unknown kind {manifest.kind!r}"
        raise ValidationError(text)
    return info


def _namespace(info: KindInfo, raw: dict[str, Any]) -> str:
    if not info.namespaced:
        return ""
    meta: dict[str, Any] = raw["metadata"] if isinstance(raw.get("metadata"), dict) else {}
    ns = meta.get("namespace")
    return ns if isinstance(ns, str) and ns else "default"


def _apply_one(txn: Transaction, manifest: Manifest, dry_run: bool) -> tuple[str, tuple[str, ...]]:
    """Apply one document; returns (kubectl's line, warnings) or raises with kubectl's text.

    The bodies are kubectl's own (``kube.patch``): the builder's namespace handling, the new
    last-applied annotation, nulls pruned from a create, the three-way patch of an update.
    """
    info = _info(manifest)
    ns = _namespace(info, manifest.raw)
    key = ResourceKey(store_kind(info), ns, manifest.name)
    live = txn.get(key)
    prepared = kpatch.prepare_manifest(manifest.raw, namespaced=info.namespaced, namespace=ns or "default")
    prefix = f"{info.kubectl_name}/{manifest.name}"
    suffix = " (server dry run)" if dry_run else ""
    file = manifest.source.file
    if live is None:
        body = kpatch.apply_create_object(prepared)
        try:
            _, warnings = txn.create(
                info, body, source=manifest.source, namespace=ns or None, dry_run=dry_run
            )
        except (ValidationError, ApiError) as exc:
            raise _reworded(exc, verb="creating", file=file) from None
        return f"{prefix} created{suffix}", warnings
    original = (live.raw["metadata"].get("annotations") or {}).get(LAST_APPLIED)
    modified = kpatch.modified_configuration(prepared)
    patch_type, patch = kpatch.three_way_patch(original, modified, live.raw, info.kind, builtin=info.builtin)
    if not patch:
        return f"{prefix} unchanged{suffix}", ()
    try:
        _, warnings = txn.patch(
            info, ns, manifest.name, patch_type, patch, source=manifest.source, dry_run=dry_run
        )
    except (ValidationError, ApiError) as exc:
        raise _patch_error(exc, info, manifest, ns, patch) from None
    return f"{prefix} configured{suffix}", warnings


def _reworded(exc: ValidationError | ApiError, *, verb: str, file: str) -> ValidationError:
    """kubectl's text for a refusal tied to a file (``cmdutil.AddSourceToErr``)."""
    status = exc.status
    if status is None:
        return exc if isinstance(exc, ValidationError) else ValidationError(str(exc))
    errors = exc.errors if isinstance(exc, ValidationError) else (status.message,)
    warnings = exc.warnings if isinstance(exc, ValidationError) else ()
    return ValidationError(
        st.kubectl_text(status, verb=verb, source=file), errors=errors, warnings=warnings, status=status
    )


def _patch_error(
    exc: ValidationError | ApiError, info: KindInfo, manifest: Manifest, ns: str, patch: dict[str, Any]
) -> ValidationError:
    """kubectl apply's text for a refused patch: ``error when applying patch: ... to: ... for:``."""
    status = exc.status
    if status is None or status.reason == "Invalid":
        return _reworded(exc, verb="patching", file=manifest.source.file)
    file = manifest.source.file
    version = str(manifest.raw.get("apiVersion", "")).rsplit("/", 1)[-1]
    wrapped = (
        f"error when applying patch:\n{kpatch.go_json(patch)}\nto:\n{resource_string(info, version)}\n"
        f'Name: "{manifest.name}", Namespace: "{ns}"\n'
        f'for: "{file}": error when patching "{file}": {status.message}'
    )
    reworded = st.Status(
        status.code,
        status.reason,
        wrapped,
        status.kind,
        status.name,
        status.group,
        status.causes,
        status.has_details,
    )
    errors = exc.errors if isinstance(exc, ValidationError) else (status.message,)
    warnings = exc.warnings if isinstance(exc, ValidationError) else ()
    return ValidationError(st.kubectl_text(reworded), errors=errors, warnings=warnings, status=status)


def kubectl_apply(txn: Transaction, manifests: Any, *, dry_run: bool = False) -> ApplyResult:
    """``kubectl apply -f`` into ``txn``, all-or-nothing.

    Args:
        txn: the transaction to apply into (committed by the caller).
        manifests: parsed manifests, or anything :func:`gatewaykit.resources.codecs.load` reads.
        dry_run: check everything, change nothing (``--dry-run=server``).

    Returns:
        One line per object (``created``/``configured``/``unchanged``) and the warnings.

    Raises:
        ValidationError: any object is rejected (schema, webhook, missing namespace); the text
            is kubectl's, one rejection per line; ``txn`` is left unchanged.
        ManifestError: the input could not be read (from ``load``).
    """
    items = manifests_of(manifests)
    mark = _Mark(txn)
    lines: list[str] = []
    warnings: list[str] = []
    rejections: list[ValidationError] = []
    for manifest in items:
        try:
            line, warned = _apply_one(txn, manifest, dry_run)
        except ValidationError as exc:
            rejections.append(exc)
            continue
        lines.append(line)
        warnings.extend(warned)
    if rejections:
        mark.rollback()
        raise _combined(rejections, warnings)
    return ApplyResult(lines=tuple(lines), warnings=tuple(warnings))


def _combined(rejections: Sequence[ValidationError], warnings: list[str]) -> ValidationError:
    first = rejections[0]
    return ValidationError(
        "\n".join(str(r) for r in rejections),
        errors=[e for r in rejections for e in r.errors],
        warnings=warnings + [w for r in rejections for w in r.warnings],
        status=first.status if len(rejections) == 1 else None,
    )


class _Mark:
    """Where a transaction was, to undo a partly applied multi-document manifest."""

    def __init__(self, txn: Transaction) -> None:
        self.txn = txn
        self.entries = dict(txn.entries)
        self.events = len(txn.events)
        self.rv, self.counter, self.uid_seq = txn.resource_version, txn.counter, txn.uid_seq

    def rollback(self) -> None:
        t = self.txn
        t.entries = self.entries
        del t.events[self.events :]
        t.resource_version, t.counter, t.uid_seq = self.rv, self.counter, self.uid_seq
        t._snapshot = None


def kubectl_delete(txn: Transaction, manifests: Any) -> ApplyResult:
    """``kubectl delete -f``: delete what exists, report NotFound for the rest.

    Returns:
        ``lines`` such as ``gateway.networking.istio.io "x" deleted`` and ``errors`` such as
        ``Error from server (NotFound): error when deleting "x.yaml":
        gateways.networking.istio.io "x" not found``.
    """
    lines: list[str] = []
    errors: list[str] = []
    for manifest in manifests_of(manifests):
        info = kind_info(str(manifest.raw.get("apiVersion", "")), manifest.kind)
        if info is None:
            continue
        ns = _namespace(info, manifest.raw)
        try:
            txn.delete(info, ns, manifest.name)
        except ApiError as exc:
            errors.append(st.kubectl_text(exc.status, verb="deleting", source=manifest.source.file))
            continue
        lines.append(f'{info.kubectl_name} "{manifest.name}" deleted')
    return ApplyResult(lines=tuple(lines), errors=tuple(errors))
