"""Talking to a real Kubernetes API server the way ``kubectl`` would: apply, delete, exec, logs.

Shared by the kind backend (:mod:`gatewaykit.backends.kind`) and the bring-your-own-cluster backend
(:mod:`gatewaykit.backends.connect`). The ``kubernetes`` package is imported lazily (its first use
costs about a second and it is an optional extra: ``pip install 'gatewaykit[cluster]'``).

Split in two on purpose:

* pure helpers (no I/O), in :mod:`._kubetext` and importable from here: reading manifests,
  kubectl's line names, kubectl's rendering of API errors, the exec status channel, istiod's
  ``configz``/``syncz`` debug output. Unit-tested with recorded API responses.
* :class:`KubeClient` (this module): the I/O around them, written against
  ``kubernetes.client.ApiClient`` so tests can point it at a fake API server
  (``tests/cluster/fake_apiserver.py``).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gatewaykit.backends._errormap import foreign_types, kube_errors, map_kube_error
from gatewaykit.backends._kubetext import (
    ISTIO_VERSIONS,
    PREFERRED_GROUP,
    PULL_FAILURES,
    Document,
    configz_versions,
    exit_code_from_status,
    group_of,
    kubectl_name,
    load_documents,
    mesh_config_has,
    parse_warning_header,
    proxies_synced,
    render_api_rejection,
)
from gatewaykit.backends.base import ApplyReport, ManifestSource
from gatewaykit.errors import BackendError, ClusterError, ManifestError, NotReadyError, ValidationError

__all__ = [
    "CLUSTER_EXTRA_HINT",
    "Document",
    "ExecResult",
    "KubeClient",
    "configz_versions",
    "exit_code_from_status",
    "kubectl_name",
    "load_documents",
    "mesh_config_has",
    "parse_warning_header",
    "proxies_synced",
    "render_api_rejection",
    "require_cluster_extra",
]

#: What to install when the optional cluster dependencies are missing.
CLUSTER_EXTRA_HINT = (
    "the cluster backends need: pip install 'gatewaykit[cluster]' (kubernetes, testcontainers)"
)

#: The label every object and container gatewaykit creates carries (never touch what lacks it).
MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "gatewaykit"

_CRD_KIND = "CustomResourceDefinition"


def require_cluster_extra(module: str) -> Any:
    """Import ``module`` (``kubernetes``, ``testcontainers``...) or raise a helpful ImportError."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError(f"{module} is not installed: {CLUSTER_EXTRA_HINT}") from exc


# --------------------------------------------------------------------------- I/O


@dataclass(frozen=True, slots=True)
class ExecResult:
    """What a command run with ``kubectl exec`` produced."""

    exit_code: int
    stdout: bytes
    stderr: bytes


@dataclass(slots=True)
class _Applied:
    doc: Document
    group: str
    namespace: str | None
    action: str  # created / configured / unchanged
    resource_version: str = ""
    warnings: list[str] = field(default_factory=list)


ProgressHook = Callable[[str], None]


@contextlib.contextmanager
def _only_api_errors(what: str) -> Iterator[None]:
    """Like :func:`kube_errors`, but the API server's own answers (``DynamicApiError``: a
    rejection, NotFound) go to the caller, who renders them as kubectl would."""
    exceptions = require_cluster_extra("kubernetes.dynamic.exceptions")
    try:
        yield
    except exceptions.DynamicApiError:
        raise
    except foreign_types("kube") as exc:
        raise map_kube_error(exc, what) from exc


class KubeClient:
    """kubectl's apply/delete/exec/logs over the ``kubernetes`` client.

    Args:
        api_client_factory: returns a fresh ``kubernetes.client.ApiClient`` (one per exec: the
            ``stream()`` helper swaps the client's request method while it runs).
        field_manager: the server-side-apply field manager.
        labels: labels added to every object applied (``app.kubernetes.io/managed-by`` always).
        default_namespace: where namespaced objects without ``metadata.namespace`` go.
        prevalidate: run gatewaykit's own validation (when that module exists) before the server.
        transform: applied to each object's body just before it is sent (kind: image pinning).
        discovery_cache: the dynamic client's discovery cache file (default: a private temp file).
    """

    def __init__(
        self,
        api_client_factory: Callable[[], Any],
        *,
        field_manager: str = "gatewaykit",
        labels: Mapping[str, str] | None = None,
        default_namespace: str = "default",
        prevalidate: bool = True,
        discovery_cache: str | None = None,
        istio_namespace: str = "istio-system",
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        self._factory = api_client_factory
        self.transform = transform
        self.field_manager = field_manager
        self.labels = {MANAGED_BY: MANAGED_BY_VALUE, **(labels or {})}
        self.default_namespace = default_namespace
        self.prevalidate = prevalidate
        self.istio_namespace = istio_namespace
        self._api: Any = None
        self._dyn: Any = None
        if discovery_cache is None:
            fd, discovery_cache = tempfile.mkstemp(prefix="gatewaykit-discovery-", suffix=".json")
            os.close(fd)
            os.unlink(discovery_cache)
        self._discovery_cache = discovery_cache

    # -- clients

    @property
    def api(self) -> Any:
        """The shared ``ApiClient`` for plain (non-streaming) calls."""
        if self._api is None:
            self._api = self._factory()
        return self._api

    @property
    def dynamic(self) -> Any:
        """The ``DynamicClient`` (discovery on first use)."""
        if self._dyn is None:
            dynamic = require_cluster_extra("kubernetes.dynamic")
            with kube_errors("cannot reach the Kubernetes API server"):
                self._dyn = dynamic.DynamicClient(self.api, cache_file=self._discovery_cache)
        return self._dyn

    def core(self) -> Any:
        """``CoreV1Api`` on the shared client."""
        client = require_cluster_extra("kubernetes.client")
        return client.CoreV1Api(self.api)

    def close(self) -> None:
        """Close the HTTP pools and forget the discovery cache."""
        if self._api is not None:
            self._api.close()  # closes urllib3's pools; raises nothing
            self._api = None
        self._dyn = None
        try:
            os.unlink(self._discovery_cache)
        except OSError:
            pass

    def resource_for(self, doc: Document) -> Any:
        """The dynamic-client resource serving ``doc`'s apiVersion/kind (ManifestError if none)."""
        exceptions = require_cluster_extra("kubernetes.dynamic.exceptions")
        try:
            with kube_errors("discovery"):
                return self.dynamic.resources.get(api_version=doc.api_version, kind=doc.kind)
        except ClusterError as first:
            if not isinstance(first.__cause__, exceptions.ResourceNotFoundError):
                raise
        # A CRD applied a moment ago: refresh discovery once before giving up.
        with kube_errors("discovery"):
            self.dynamic.resources.invalidate_cache()
            try:
                return self.dynamic.resources.get(api_version=doc.api_version, kind=doc.kind)
            except exceptions.ResourceNotFoundError as exc:
                # kubectl: resource mapping not found ... ensure CRDs are installed first
                raise ManifestError(
                    f'error: resource mapping not found for name: "{doc.name}" namespace: '
                    f'"{doc.namespace or ""}" from "{doc.source}": no matches for kind "{doc.kind}" '
                    f'in version "{doc.api_version}"\nensure CRDs are installed first'
                ) from exc

    def _body(self, doc: Document) -> dict[str, Any]:
        body = json.loads(json.dumps(doc.obj))  # deep copy, plain types
        meta = body.setdefault("metadata", {})
        meta["labels"] = {**(meta.get("labels") or {}), **self.labels}
        return self.transform(body) if self.transform else body

    def _namespace(self, doc: Document, resource: Any) -> str | None:
        if not resource.namespaced:
            return None
        return doc.namespace or self.default_namespace

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        """The object as the server has it, or None when it does not exist."""
        exceptions = require_cluster_extra("kubernetes.dynamic.exceptions")
        with kube_errors(f"get {kind} {name}"):
            res = self.dynamic.resources.get(api_version=api_version, kind=kind)
            try:
                obj = res.get(name=name, namespace=namespace if res.namespaced else None)
            except exceptions.NotFoundError:
                return None
        return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)

    # -- apply / delete

    def apply(
        self,
        source: ManifestSource | Sequence[Document],
        *,
        progress: ProgressHook | None = None,
        timeout: float = 60.0,
        prevalidate: bool | None = None,
    ) -> tuple[ApplyReport, list[tuple[str, str, str | None, str]]]:
        """``kubectl apply -f``: server-side apply of every object, CRDs first.

        Every object is first applied with ``dryRun=All`` so the API server and Istio's validating
        webhook see it; if any is rejected nothing is changed and :class:`ValidationError` carries
        kubectl's text. Then CRDs are applied and waited on (``Established``), then the rest in
        document order.

        Returns:
            The kubectl-like report and ``(kind, group, namespace, name)`` of each object applied
            (for the caller's readiness wait).

        Raises:
            ValidationError: the server (or gatewaykit's own validation) rejected an object.
            ManifestError: unreadable YAML or an unknown kind.
            ClusterError: the API server failed otherwise.
        """
        if isinstance(source, (list, tuple)) and all(isinstance(d, Document) for d in source):
            docs = list(source)  # already read (keeps the file name kubectl would print)
        else:
            docs = load_documents(source)  # type: ignore[arg-type]
        if prevalidate is not False:
            self.prevalidate_documents(docs)
        crds = [d for d in docs if d.kind == _CRD_KIND]
        rest = [d for d in docs if d.kind != _CRD_KIND]
        new_namespaces = {d.name for d in docs if d.kind == "Namespace"}
        defined_here = {
            (
                str((d.obj.get("spec") or {}).get("group", "")),
                str(((d.obj.get("spec") or {}).get("names") or {}).get("kind", "")),
            )
            for d in crds
        }
        self._dry_run(crds + rest, new_namespaces, defined_here)  # rejections raise; warnings recur
        # 2. for real: CRDs first, wait until the API server serves them.
        applied: list[_Applied] = []
        for doc in crds:
            applied.append(self._apply_one(doc))
        if crds:
            self.wait_crds_established([d.name for d in crds], timeout=timeout)
            self.dynamic.resources.invalidate_cache()
        for doc in rest:
            applied.append(self._apply_one(doc))
        applied.sort(key=lambda a: a.doc.index)
        lines = tuple(f"{kubectl_name(a.doc.kind, a.group, a.doc.name)} {a.action}" for a in applied)
        all_warnings: list[str] = []
        for a in applied:
            all_warnings.extend(w for w in a.warnings if w not in all_warnings)
        changed = [(a.doc.kind, a.group, a.namespace, a.doc.name) for a in applied if a.action != "unchanged"]
        if progress:
            progress("applied")
        return ApplyReport(lines=lines, warnings=tuple(all_warnings)), changed

    def _dry_run(
        self, docs: Sequence[Document], new_namespaces: set[str], defined_here: set[tuple[str, str]]
    ) -> list[str]:
        """Server-side apply every object with ``dryRun=All``; all rejections at once, kubectl's text.

        A namespace or CRD created by this very manifest does not exist yet: those objects are
        checked when applied for real.
        """
        errors: list[str] = []
        warnings: list[str] = []
        for doc in docs:
            res = self._resource_or_none(doc, defined_here)
            if res is None:
                continue
            ns = self._namespace(doc, res)
            if ns is not None and ns in new_namespaces and self.get("v1", "Namespace", ns) is None:
                continue
            before = self._get_raw(res, doc.name, ns)
            try:
                _, w = self._ssa(res, doc, ns, dry_run=True)
                warnings.extend(w)
            except ValidationError as exc:
                errors.append(self._rerender(exc, doc, "creating" if before is None else "patching"))
        if errors:
            raise ValidationError("\n".join(errors), errors=errors, warnings=warnings)
        return warnings

    def _resource_or_none(self, doc: Document, defined_here: set[tuple[str, str]] = frozenset()) -> Any:  # type: ignore[assignment]
        """The API resource of ``doc``, or None when a CRD in the same manifest defines its kind."""
        try:
            return self.resource_for(doc)
        except ManifestError:
            if (group_of(doc.api_version), doc.kind) in defined_here:
                return None
            raise

    def prevalidate_documents(self, docs: Sequence[Document]) -> None:
        """gatewaykit's own validation first, where that module exists (fast, the same text).

        Only Istio's kinds (``*.istio.io``): for those our validation reproduces Istio's webhook and
        CRD schema; everything else is left to the API server, which is authoritative.
        """
        if not self.prevalidate:
            return
        try:
            from gatewaykit.resources import render, validation
            from gatewaykit.resources.meta import Manifest, Source, kind_info
        except ImportError:
            return  # rely on the API server and Istio's webhook
        validate = getattr(validation, "validate", None)
        render_rejection = getattr(render, "render_rejection", None)
        if validate is None or render_rejection is None:
            return
        errors: list[str] = []
        for doc in docs:
            if (
                not group_of(doc.api_version).endswith("istio.io")
                or kind_info(doc.api_version, doc.kind) is None
            ):
                continue
            manifest = Manifest(dict(doc.obj), Source(doc.source, doc.index))
            try:
                report = validate(manifest)
            except (ValueError, KeyError, TypeError, AttributeError):
                # Something our validation does not model: the API server and the webhook decide.
                continue
            ok = getattr(report, "ok", None)
            rejected = (not ok) if ok is not None else bool(report.errors or report.schema_errors)
            if rejected:
                verb = "creating"
                try:
                    ns = doc.namespace or self.default_namespace
                    if self.get(doc.api_version, doc.kind, doc.name, ns) is not None:
                        verb = "patching"
                except BackendError:
                    pass  # cannot tell: kubectl's verb for a new object
                errors.append(
                    render_rejection(
                        manifest, report, verb=verb, namespace=doc.namespace or self.default_namespace
                    )
                )
        if errors:
            raise ValidationError("\n".join(errors), errors=errors)

    @staticmethod
    def _rerender(exc: ValidationError, doc: Document, verb: str) -> str:
        body = getattr(exc, "_api_body", None)
        status = getattr(exc, "_api_status", 400)
        if body is None:
            return str(exc)
        return render_api_rejection(status, body, source=doc.source, verb=verb)

    def _get_raw(self, res: Any, name: str, namespace: str | None) -> dict[str, Any] | None:
        exceptions = require_cluster_extra("kubernetes.dynamic.exceptions")
        with kube_errors(f"reading {res.kind} {name}"):
            try:
                obj = res.get(name=name, namespace=namespace)
            except exceptions.NotFoundError:
                return None
        return dict(obj.to_dict())

    def _ssa(
        self, res: Any, doc: Document, namespace: str | None, *, dry_run: bool
    ) -> tuple[dict[str, Any], list[str]]:
        exceptions = require_cluster_extra("kubernetes.dynamic.exceptions")
        kwargs: dict[str, Any] = {}
        if dry_run:
            kwargs["dry_run"] = "All"
        try:
            with _only_api_errors(f"applying {doc.kind} {doc.name}"):
                resp = res.server_side_apply(
                    body=self._body(doc),
                    namespace=namespace,
                    field_manager=self.field_manager,
                    force_conflicts=True,
                    serialize=False,
                    **kwargs,
                )
        except exceptions.DynamicApiError as exc:
            # Rejections kubectl prints as "Error from server ...": invalid (422), denied by a webhook
            # (400), forbidden (403), or a namespace that does not exist (404).
            if exc.status in (400, 403, 404, 422) and exc.body:
                err = ValidationError(render_api_rejection(exc.status, exc.body, source=doc.source))
                err._api_body = exc.body  # type: ignore[attr-defined]
                err._api_status = exc.status  # type: ignore[attr-defined]
                raise err from exc
            raise ClusterError(f"applying {doc.kind} {doc.name}: {exc.summary()}") from exc
        headers = getattr(resp, "headers", None) or {}
        raw_warnings = (
            headers.getlist("Warning")
            if hasattr(headers, "getlist")
            else ([headers["Warning"]] if "Warning" in headers else [])
        )
        return json.loads(resp.data), parse_warning_header(raw_warnings)

    def _apply_one(self, doc: Document) -> _Applied:
        res = self.resource_for(doc)
        ns = self._namespace(doc, res)
        before = self._get_raw(res, doc.name, ns)
        try:
            after, warnings = self._ssa(res, doc, ns, dry_run=False)
        except ValidationError as exc:
            raise ValidationError(
                self._rerender(exc, doc, "creating" if before is None else "patching")
            ) from exc
        rv = str((after.get("metadata") or {}).get("resourceVersion", ""))
        # created / configured / unchanged, as kubectl prints. Server-side apply does not say which;
        # a no-op apply does not write, so the resourceVersion stays the same (apiserver skips
        # no-op updates since 1.22); any real change bumps it.
        if before is None:
            action = "created"
        elif str((before.get("metadata") or {}).get("resourceVersion", "")) == rv:
            action = "unchanged"
        else:
            action = "configured"
        return _Applied(doc, res.group, ns, action, rv, warnings)

    def delete(self, source: ManifestSource | Sequence[Document]) -> ApplyReport:
        """``kubectl delete -f``: delete every object the manifest names, in reverse order.

        Objects that do not exist produce kubectl's ``Error from server (NotFound)`` line.
        """
        exceptions = require_cluster_extra("kubernetes.dynamic.exceptions")
        lines: list[str] = []
        if isinstance(source, (list, tuple)) and all(isinstance(d, Document) for d in source):
            docs = list(source)
        else:
            docs = load_documents(source)  # type: ignore[arg-type]
        for doc in reversed(docs):
            res = self.resource_for(doc)
            ns = self._namespace(doc, res)
            try:
                with _only_api_errors(f"deleting {doc.kind} {doc.name}"):
                    res.delete(
                        name=doc.name,
                        namespace=ns,
                        propagation_policy="Foreground" if doc.kind == "Namespace" else "Background",
                    )
            except exceptions.NotFoundError:
                plural = f"{res.name}.{res.group}" if res.group else res.name
                lines.append(
                    f'Error from server (NotFound): error when deleting "{doc.source}": '
                    f'{plural} "{doc.name}" not found'
                )
                continue
            except exceptions.DynamicApiError as exc:
                raise ClusterError(f"deleting {doc.kind} {doc.name}: {exc.summary()}") from exc
            # kubectl: <kind>.<group> "<name>" deleted
            kind_group = f"{doc.kind.lower()}.{res.group}" if res.group else doc.kind.lower()
            lines.append(f'{kind_group} "{doc.name}" deleted')
        lines.reverse()
        return ApplyReport(lines=tuple(lines))

    # -- waiting

    def wait_crds_established(self, names: Sequence[str], timeout: float = 60.0) -> None:
        """Wait until every CRD has condition ``Established=True``."""
        deadline = time.monotonic() + timeout
        pending = list(names)
        while pending:
            still = []
            for name in pending:
                crd = self.get("apiextensions.k8s.io/v1", _CRD_KIND, name)
                conds = ((crd or {}).get("status") or {}).get("conditions") or []
                if not any(c.get("type") == "Established" and c.get("status") == "True" for c in conds):
                    still.append(name)
            pending = still
            if pending and time.monotonic() > deadline:
                raise NotReadyError("CRDs", f"not Established after {timeout:g} s: {', '.join(pending)}")
            if pending:
                time.sleep(0.2)

    def wait_rollout(self, namespace: str, name: str, timeout: float = 120.0) -> None:
        """``kubectl rollout status deployment/<name>``: the new ReplicaSet is fully available."""
        deadline = time.monotonic() + timeout
        while True:
            dep = self.get("apps/v1", "Deployment", name, namespace) or {}
            spec, status = dep.get("spec") or {}, dep.get("status") or {}
            gen = (dep.get("metadata") or {}).get("generation", 0)
            want = spec.get("replicas", 1)
            if (
                dep
                and status.get("observedGeneration", 0) >= gen
                and status.get("updatedReplicas", 0) == want
                and status.get("availableReplicas", 0) == want
                and status.get("replicas", 0) == want
            ):
                return
            if dep and self._kept_image_auto(namespace, spec):
                return  # Kubernetes has answered: a pod Istio never injected cannot start
            if time.monotonic() > deadline:
                raise NotReadyError(
                    f"deployment {namespace}/{name}",
                    f"not available after {timeout:g} s ({status.get('availableReplicas', 0)}/{want} ready); "
                    "check the image is loaded (gatewaykit images load) and the pod events",
                    self.pod_events(namespace, f"app={name}") if dep else "",
                )
            time.sleep(0.5)

    def _kept_image_auto(self, namespace: str, spec: Mapping[str, Any]) -> bool:
        """Whether a pod of the Deployment kept Istio's ``image: auto`` placeholder and the kubelet
        reports the pull failing: no injection webhook selected it (IST0146,
        https://istio.io/latest/docs/reference/config/analysis/ist0146/), so waiting longer changes
        nothing -- that pod's state is the outcome (a lab shows it with ``kubectl get pods``)."""
        labels = ((spec.get("selector") or {}).get("matchLabels") or {}).items()
        if not labels:
            return False
        try:
            with kube_errors("pods"):
                pods = self.core().list_namespaced_pod(
                    namespace, label_selector=",".join(f"{k}={v}" for k, v in labels)
                ).items
        except BackendError:
            return False
        for pod in pods:
            images = {c.name: c.image for c in pod.spec.containers} if pod.spec else {}
            for cs in (pod.status.container_statuses or []) if pod.status else []:
                waiting = cs.state.waiting if cs.state else None
                if images.get(cs.name) == "auto" and waiting and waiting.reason in PULL_FAILURES:
                    return True
        return False

    def pod_events(self, namespace: str, selector: str) -> str:
        """Waiting reasons of the pods behind a selector (``ErrImagePull``...), for error messages."""
        try:
            with kube_errors(f"pods of {selector}"):
                pods = self.core().list_namespaced_pod(namespace, label_selector=selector).items
        except BackendError:
            return ""  # only used to explain another failure: do not hide that one
        out = []
        for pod in pods:
            for cs in (pod.status.container_statuses or []) if pod.status else []:
                waiting = cs.state.waiting if cs.state else None
                if waiting:
                    out.append(f"{pod.metadata.name}/{cs.name}: {waiting.reason}: {waiting.message or ''}")
        return "\n".join(out)

    def istiod_debug(self, path: str) -> Any:
        """GET an istiod debug endpoint (``syncz``, ``configz``, ``mesh``) from inside istiod's pod.

        istiod serves ``/debug/*`` on 15014 only to localhost or to authenticated XDS clients
        (``allowAuthenticatedOrLocalhost``, pilot/pkg/xds/debug.go): through the API server's pod
        proxy the request comes from the node's address and gets 401. So it runs
        ``pilot-discovery request GET /debug/<path>`` in the ``discovery`` container, which asks
        127.0.0.1:15014 and prints the body (pilot/cmd/pilot-discovery/app/request.go) -- what
        ``kubectl exec`` would do.

        Raises:
            NotReadyError: no running istiod, or istiod answered with an error.
        """
        with kube_errors("istiod"):
            pods = self.core().list_namespaced_pod(self.istio_namespace, label_selector="app=istiod").items
        running = [p for p in pods if p.status and p.status.phase == "Running"]
        if not running:
            raise NotReadyError("istiod", f"no running istiod pod in {self.istio_namespace}")
        name = running[0].metadata.name
        res = self.exec(
            self.istio_namespace,
            name,
            ["pilot-discovery", "request", "GET", f"/debug/{path}"],
            container="discovery",
        )
        out, err = res.stdout.decode("utf-8", "replace"), res.stderr.decode("utf-8", "replace")
        if res.exit_code != 0:
            raise NotReadyError("istiod", f"/debug/{path} failed (exit {res.exit_code}): {err.strip()}")
        if out.strip() == "404 page not found":
            raise NotReadyError(
                "istiod", f"/debug/{path}: 404 page not found (this istiod does not serve it)"
            )
        try:
            return json.loads(out)
        except ValueError as exc:
            raise NotReadyError("istiod", f"/debug/{path} is not JSON: {out[:200]!r}") from exc

    def _poll(
        self, what: str, check: Callable[[], bool], deadline: float, message: str, pause: float
    ) -> None:
        """Call ``check`` until it is true; at the deadline raise NotReadyError with istiod's log.

        A NotReadyError from ``check`` (istiod restarting) counts as "not yet" until the deadline.
        """
        last = ""
        while True:
            try:
                if check():
                    return
            except NotReadyError as exc:
                last = f" ({exc})"
            if time.monotonic() > deadline:
                raise NotReadyError(what, message + last, self.istiod_log())
            time.sleep(pause)

    def istiod_log(self) -> str:
        """The last lines of istiod's log ("" when it cannot be read), for error messages."""
        try:
            return self.logs(self.istio_namespace, "app=istiod", container="discovery", tail=20)
        except BackendError:
            return ""

    def wait_mesh_config(self, want: Mapping[str, Any], timeout: float = 60.0) -> None:
        """Wait until istiod's active mesh config (``/debug/mesh``) contains ``want``.

        ``outboundTrafficPolicy.mode`` absent means ``ALLOW_ANY``, Istio's default (docs/behaviour.md §11.2).
        """
        self._poll(
            "mesh config",
            lambda: mesh_config_has(self.istiod_debug("mesh"), want),
            time.monotonic() + timeout,
            f"istiod does not run with {json.dumps(want)} after {timeout:g} s",
            0.5,
        )

    def _istio_versions(
        self, objects: Sequence[tuple[str, str, str]], deleted: bool
    ) -> dict[tuple[str, str, str], str]:
        """``(kind, namespace, name) -> resourceVersion`` the API server holds ("" when deleted)."""
        want: dict[tuple[str, str, str], str] = {}
        for kind, ns, name in objects:
            obj = None
            for api in () if deleted else ISTIO_VERSIONS:
                try:
                    obj = self.get(api, kind, name, ns)
                    break
                except BackendError:
                    continue  # that apiVersion does not serve this kind
            want[(kind, ns, name)] = str(((obj or {}).get("metadata") or {}).get("resourceVersion", ""))
        return want

    def wait_config_live(
        self,
        changed: Sequence[tuple[str, str, str | None, str]],
        *,
        deleted: bool = False,
        timeout: float = 60.0,
    ) -> None:
        """Return once the change serves traffic: no sleeps, three observable conditions.

        1. Deployments in ``changed`` are rolled out (new pods Ready).
        2. istiod holds every changed Istio object at its new resourceVersion (``/debug/configz``);
           deleted ones are gone from it.
        3. every gateway proxy in the Istio namespace has ACKed what istiod last sent
           (``/debug/syncz``, what ``istioctl proxy-status`` shows as SYNCED), on two polls in a
           row more than istiod's push debounce (``PILOT_DEBOUNCE_AFTER``, 100 ms) apart, so a push
           triggered by step 2 is not missed.
        """
        deadline = time.monotonic() + timeout
        if not deleted:
            for kind, _group, ns, name in changed:
                if kind == "Deployment":
                    left = max(1.0, deadline - time.monotonic())
                    self.wait_rollout(ns or self.default_namespace, name, timeout=left)
        istio = [(k, ns or "", n) for k, g, ns, n in changed if g.endswith("istio.io")]
        if istio:
            want = self._istio_versions(istio, deleted)

            def istiod_has_it() -> bool:
                have = configz_versions(self.istiod_debug("configz"))
                if deleted:
                    return not [k for k in want if k in have]
                return not [k for k, rv in want.items() if have.get(k) != rv]

            names = ", ".join("/".join(k) for k in want)
            self._poll(
                "config propagation",
                istiod_has_it,
                deadline,
                f"istiod has not seen {names} after {timeout:g} s",
                0.2,
            )
        synced: list[bool] = []

        def acked_twice() -> bool:
            synced.append(bool(proxies_synced(self.istiod_debug("syncz"), (self.istio_namespace,))))
            return synced[-2:] == [True, True]

        self._poll(
            "config propagation",
            acked_twice,
            deadline,
            f"gateway proxies did not ACK the new config within {timeout:g} s",
            0.25,
        )

    # -- pods, exec, logs

    def pod_for(self, workload: str) -> tuple[str, str]:
        """``"<namespace>/<workload>"`` -> ``(namespace, pod name)`` of a running pod.

        The workload is a Deployment name (``istio-ingressgateway``, ``curl``) or an ``app`` label.
        """
        ns, _, name = workload.rpartition("/")
        ns = ns or self.default_namespace
        selectors = [f"app={name}"]
        dep = self.get("apps/v1", "Deployment", name, ns)
        labels = (((dep or {}).get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        if labels:
            selectors.insert(0, ",".join(f"{k}={v}" for k, v in sorted(labels.items())))
        for selector in selectors:
            with kube_errors(f"pods of {workload}"):
                pods = self.core().list_namespaced_pod(ns, label_selector=selector).items
            pods = [
                p
                for p in pods
                if p.status and p.status.phase == "Running" and not p.metadata.deletion_timestamp
            ]
            if pods:
                pods.sort(key=lambda p: p.metadata.creation_timestamp or 0, reverse=True)
                return ns, pods[0].metadata.name
        raise NotReadyError(workload, f"no running pod for {workload!r} (apply its Deployment first)")

    def exec(
        self,
        namespace: str,
        pod: str,
        command: Sequence[str],
        *,
        container: str | None = None,
        timeout: float = 30.0,
    ) -> ExecResult:
        """``kubectl exec``: run ``command`` in a container; exit code from the status channel.

        Each exec gets its own ``ApiClient``: ``kubernetes.stream.stream`` swaps the client's
        request method while it runs, which would break concurrent plain calls on a shared client.
        """
        client_mod = require_cluster_extra("kubernetes.client")
        stream_mod = require_cluster_extra("kubernetes.stream")
        api_client = self._factory()
        kwargs: dict[str, Any] = dict(
            command=list(command),
            stderr=True,
            stdin=False,
            stdout=True,
            tty=False,
            _preload_content=False,
            binary=True,
        )
        if container:
            kwargs["container"] = container
        try:
            with kube_errors(f"exec into {namespace}/{pod}"):
                core = client_mod.CoreV1Api(api_client)
                ws = stream_mod.stream(core.connect_get_namespaced_pod_exec, pod, namespace, **kwargs)
                ws.run_forever(timeout=timeout)
                timed_out = ws.is_open()
                out, err, status = ws.read_channel(1) or b"", ws.read_channel(2) or b"", ws.read_channel(3)
                ws.close()
        finally:
            api_client.close()
        out = out.encode() if isinstance(out, str) else out
        err = err.encode() if isinstance(err, str) else err
        if timed_out:
            return ExecResult(
                28, out, err + f"\ncurl: (28) gatewaykit stopped the exec after {timeout:g} s\n".encode()
            )
        return ExecResult(exit_code_from_status(status), out, err)

    def logs(
        self,
        namespace: str,
        selector_or_pod: str,
        *,
        container: str = "istio-proxy",
        tail: int | None = None,
    ) -> str:
        """A container's log (``kubectl logs``); ``selector_or_pod`` is a pod name or ``k=v`` selector."""
        core = self.core()
        pod = selector_or_pod
        kwargs: dict[str, Any] = {"container": container}
        if tail:
            kwargs["tail_lines"] = tail
        with kube_errors(f"reading the log of {namespace}/{pod} ({container})"):
            if "=" in selector_or_pod:
                pods = core.list_namespaced_pod(namespace, label_selector=selector_or_pod).items
                if not pods:
                    return ""
                pod = pods[0].metadata.name
            return str(core.read_namespaced_pod_log(pod, namespace, **kwargs))

    def pods(self) -> list[dict[str, Any]]:
        """Every pod in every namespace, as API dicts (``kubectl get pods -A -o json``)."""
        with kube_errors("listing pods"):
            items = self.dynamic.resources.get(api_version="v1", kind="Pod").get().to_dict()["items"]
        return list(items)

    def get_kind(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """``kubectl get <kind> -o json``: ``kind`` is a Kind, or ``Kind.group`` to choose the group.

        The bare ``Gateway`` is Istio's (``networking.istio.io``); the Gateway API's is
        ``Gateway.gateway.networking.k8s.io``.
        """
        kind, _, group = kind.partition(".")
        group = group or PREFERRED_GROUP.get(kind, "")
        with kube_errors(f"get {kind}"):
            found = self.dynamic.resources.search(kind=kind, **({"group": group} if group else {}))
        served = [r for r in found if getattr(r, "preferred", False)] or found
        if not served:
            raise ManifestError(f'error: the server doesn\'t have a resource type "{kind}"')
        res = served[0]
        return self.get(
            f"{res.group}/{res.api_version}" if res.group else res.api_version,
            res.kind,
            name,
            namespace if res.namespaced else None,
        )
