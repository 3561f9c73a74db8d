"""The Kubernetes REST API over the sandbox's store: the routes kubectl uses, and their answers.

Reads go straight to the store's current snapshot (immutable); every write runs through the
sandbox's one change path (:meth:`ApiBackend.transact`) in a worker thread, so a ``kubectl apply``
is validated, served by the data plane, journaled and committed exactly like ``sb.apply``.

URL layout (``k8s.io/apiserver/pkg/endpoints``): ``/api/v1[/namespaces/{ns}]/{resource}[/{name}
[/{subresource}]]`` for the core group and ``/apis/{group}/{version}/...`` for the others. Errors
are ``Status`` objects (``gatewaykit.kube.status``); admission warnings travel in ``Warning``
headers, which kubectl prints as ``Warning: <text>``. Request bodies are JSON, YAML, or (for
create and update, as client-go's typed clients send them: ``kubectl create namespace|secret|
deployment...``) Kubernetes protobuf (``gatewaykit.kube.protobuf``); answers are always JSON, which
those clients accept too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from aiohttp import web

from gatewaykit.errors import ApiError, GatewayKitError, ValidationError
from gatewaykit.kube import discovery, protobuf, tables
from gatewaykit.kube import status as st
from gatewaykit.kube.selectors import FieldSelector, Selector, parse_field_selector, parse_label_selector
from gatewaykit.resources.codecs import decode_body
from gatewaykit.resources.meta import KindInfo, Source
from gatewaykit.store import (
    APPLY_PATCH,
    ConfigStore,
    StoredObject,
    Transaction,
    server_side_apply,
    store_kind,
)

__all__ = ["ApiBackend", "Route", "make_app"]

T = TypeVar("T")
log = logging.getLogger("gatewaykit.apiserver")

#: kube-apiserver's limit on request bodies (``--max-request-body-bytes`` default, 3 MiB).
MAX_BODY = 3 * 1024 * 1024


class ApiBackend(Protocol):
    """What the API server needs from the sandbox behind it."""

    @property
    def store(self) -> ConfigStore:
        """The one store."""
        ...

    def transact(self, mutate: Callable[[Transaction], T]) -> T:
        """Make a change through the sandbox's one path (validate, serve, journal, commit)."""
        ...

    def exec_plan(self, namespace: str, pod: str, container: str, argv: list[str]) -> Any:
        """How to run ``argv`` in a pod's container (an ``ExecPlan``)."""
        ...

    def pod_log(self, namespace: str, pod: str, container: str) -> str:
        """A container's log (``kubectl logs``); ``istio-proxy`` is the proxy's access log."""
        ...

    def pod_proxy(self, namespace: str, pod: str, port: int, path: str, query: str) -> Any:
        """What ``GET pods/{pod}:{port}/proxy/{path}?{query}`` answers (a ``ProxyAnswer``)."""
        ...

    def port_forward(self, namespace: str, pod: str, port: int) -> Any:
        """What a ``kubectl port-forward`` connection to a pod's ``port`` reaches (a ``PortTarget``),
        or None when nothing listens there."""
        ...


@dataclass(frozen=True, slots=True)
class Route:
    """What a resource URL names."""

    info: KindInfo
    version: str
    namespace: str | None  # None: all namespaces (a list), or a cluster-scoped resource
    name: str | None
    subresource: str = ""
    #: ``pods/{name}[:port]/proxy/{path}``: the port (0: the pod's first) and the path after ``proxy/``.
    proxy_port: int = 0
    proxy_path: str = ""


# ------------------------------------------------------------------------------ helpers


def _json(
    body: Any,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    content_type: str = "application/json",
) -> web.Response:
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(),
        status=status,
        headers={**(headers or {}), "Content-Type": content_type},
    )


def status_response(status: st.Status) -> web.Response:
    """A failed request's ``Status`` body."""
    return _json(status.to_dict(), status=status.code)


def _warning_headers(warnings: tuple[str, ...]) -> dict[str, str]:
    # RFC 7234 warn-code 299 with the text quoted; aiohttp joins repeated keys only via CIMultiDict.
    return (
        {"Warning": ", ".join('299 - "' + w.replace('"', '\\"') + '"' for w in warnings)} if warnings else {}
    )


def _served_object(raw: dict[str, Any], info: KindInfo, version: str) -> dict[str, Any]:
    """An object as served at ``version`` (custom resources convert by rewriting apiVersion)."""
    out = dict(raw)
    out["apiVersion"] = f"{info.group}/{version}" if info.group else version
    out["kind"] = info.kind
    return out


def _find(group: str, version: str, plural: str) -> KindInfo | None:
    for info in discovery.served():
        if info.group == group and version in info.versions and info.plural == plural:
            return info
    return None


def parse_route(parts: list[str]) -> Route | None:
    """``["api","v1","namespaces","default","pods","x","log"]`` -> a :class:`Route`, or None."""
    if parts[:1] == ["api"] and len(parts) >= 3:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace: str | None = None
    if len(rest) >= 3 and rest[0] == "namespaces" and _find(group, version, rest[2]) is not None:
        namespace, rest = rest[1], rest[2:]
    info = _find(group, version, rest[0])
    if info is None:
        return None
    if len(rest) >= 3 and rest[2] == "proxy" and info.kind == "Pod":
        return _proxy_route(info, version, namespace, rest)
    if len(rest) > 3:
        return None
    name = rest[1] if len(rest) >= 2 else None
    sub = rest[2] if len(rest) == 3 else ""
    if info.namespaced and name is not None and namespace is None:
        return None
    return Route(info, version, namespace if info.namespaced else None, name, sub)


def _proxy_route(info: KindInfo, version: str, namespace: str | None, rest: list[str]) -> Route | None:
    """``pods/{[scheme:]name[:port]}/proxy/{path...}``
    (``k8s.io/apimachinery/pkg/util/net.SplitSchemeNamePort``)."""
    if namespace is None:
        return None
    parts = rest[1].split(":")
    if len(parts) == 3:
        parts = parts[1:]
    name, port = parts[0], parts[1] if len(parts) == 2 else ""
    if not name or (port and not port.isdigit()) or len(parts) > 2:
        return None
    return Route(info, version, namespace, name, "proxy", int(port or 0), "/".join(rest[3:]))


def _selectors(request: web.Request, kind: str | None = None) -> tuple[Selector, FieldSelector]:
    """The request's label and field selectors; a field selector is checked against the kind's
    field labels (``metadata.name``, ``status.phase`` of pods...), as the API server does."""
    try:
        return (
            parse_label_selector(request.query.get("labelSelector", "")),
            parse_field_selector(request.query.get("fieldSelector", ""), kind),
        )
    except ValueError as exc:
        raise st.api_error(st.bad_request(str(exc))) from exc


def _matches(entry: StoredObject, route: Route, labels: Selector, fields: FieldSelector) -> bool:
    if route.namespace is not None and entry.key.namespace != route.namespace:
        return False
    meta = entry.raw.get("metadata", {})
    return labels.matches(meta.get("labels") or {}) and fields.matches(_field_set(entry.raw))


def _field_set(raw: Mapping[str, Any]) -> dict[str, str]:
    """The fields a field selector may name (``metadata.name``, ``status.phase``...)."""
    meta = raw.get("metadata", {})
    out = {"metadata.name": str(meta.get("name", "")), "metadata.namespace": str(meta.get("namespace", ""))}
    if raw.get("kind") == "Pod":
        out["status.phase"] = str(raw.get("status", {}).get("phase", ""))
        out["spec.nodeName"] = str(raw.get("spec", {}).get("nodeName", ""))
    if raw.get("kind") == "Event":
        for k, v in (raw.get("involvedObject") or {}).items():
            out[f"involvedObject.{k}"] = str(v)
    return out


def _wants_table(request: web.Request) -> bool:
    return "as=Table" in request.headers.get("Accept", "")


async def _body(request: web.Request, route: Route | None = None) -> Any:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise st.api_error(st.too_large(MAX_BODY)) from exc
    ctype = request.content_type
    if ctype == protobuf.CONTENT_TYPE and route is not None:
        # client-go's typed clients (kubectl create namespace|secret|deployment...) send protobuf.
        info = route.info
        into = (f"{info.group}/{route.version}" if info.group else route.version, info.kind)
        try:
            return protobuf.decode(raw, into)
        except protobuf.DecodeError as exc:
            raise st.api_error(st.bad_request(str(exc))) from exc
    try:
        # The one reader's decoding, with its limits (aliasing, nesting): a body is a manifest too.
        yaml_body = ctype in ("application/yaml", APPLY_PATCH) or ctype.endswith("yaml")
        return decode_body(raw, yaml_body=yaml_body)
    except ValueError as exc:
        raise st.api_error(
            st.bad_request(f"the body of the request was in an unknown format: {exc}")
        ) from exc


# --------------------------------------------------------------------------------- the app


class Api:
    """The request handlers, bound to one backend."""

    def __init__(self, backend: ApiBackend, server_address: str, version: str) -> None:
        self.backend = backend
        self.server_address = server_address
        self.version = version
        self.watches: set[asyncio.Task[Any]] = set()
        self.forwards: set[asyncio.Task[Any]] = set()  # port-forward connections

    # -- discovery

    async def discovery(self, request: web.Request) -> web.StreamResponse:
        """``/version``, ``/api``, ``/apis``, group documents and OpenAPI."""
        path = request.path.rstrip("/") or "/"
        aggregated = discovery.AGGREGATED in request.headers.get("Accept", "")
        if path == "/version":
            return _json(discovery.version_info(self.version))
        if path == "/api":
            if aggregated:
                return _json(discovery.aggregated_discovery(core=True), content_type=discovery.AGGREGATED)
            return _json(discovery.api_versions(self.server_address))
        if path == "/apis":
            if aggregated:
                return _json(discovery.aggregated_discovery(core=False), content_type=discovery.AGGREGATED)
            return _json(discovery.api_group_list())
        if path in ("/healthz", "/livez", "/readyz"):
            return web.Response(text="ok")
        if path == "/openapi/v2":
            if discovery.OPENAPI_V2_PROTOBUF in request.headers.get("Accept", ""):
                # kube-openapi answers with "." for "@" (the "@" form is not a valid media type).
                return web.Response(
                    body=discovery.openapi_v2_protobuf(self.version),
                    headers={"Content-Type": "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"},
                )
            return _json(
                {"swagger": "2.0", "info": {"title": "Kubernetes", "version": self.version}, "paths": {}}
            )
        if path == "/openapi/v3":
            return _json(discovery.openapi_v3_root())
        if path.startswith("/openapi/v3/"):
            return self._openapi_doc(path[len("/openapi/v3/") :])
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) == 2:
            return self._resource_list("", parts[1])
        if parts[0] == "apis" and len(parts) == 3:
            return self._resource_list(parts[1], parts[2])
        if parts[0] == "apis" and len(parts) == 2:
            return self._group(parts[1])
        return status_response(
            st.Status(404, "NotFound", "the server could not find the requested resource", has_details=False)
        )

    def _openapi_doc(self, rest: str) -> web.Response:
        parts = rest.split("/")
        group, version = (
            ("", parts[1])
            if parts[0] == "api" and len(parts) == 2
            else ((parts[1], parts[2]) if parts[0] == "apis" and len(parts) == 3 else ("?", "?"))
        )
        doc = discovery.openapi_v3_document(group, version)
        if doc is None:
            return status_response(
                st.Status(
                    404, "NotFound", "the server could not find the requested resource", has_details=False
                )
            )
        return _json(doc)

    def _resource_list(self, group: str, version: str) -> web.Response:
        doc = discovery.api_resource_list(group, version)
        if doc is None:
            return status_response(
                st.Status(
                    404, "NotFound", "the server could not find the requested resource", has_details=False
                )
            )
        return _json(doc)

    def _group(self, group: str) -> web.Response:
        for g in discovery.api_group_list()["groups"]:
            if g["name"] == group:
                return _json({"kind": "APIGroup", "apiVersion": "v1", **g})
        return status_response(
            st.Status(404, "NotFound", "the server could not find the requested resource", has_details=False)
        )

    # -- resources

    async def resource(self, request: web.Request) -> web.StreamResponse:
        """Every ``/api/...`` and ``/apis/...`` resource request."""
        route = parse_route(request.path.strip("/").split("/"))
        if route is None:
            return await self.discovery(request)
        try:
            return await self._dispatch(request, route)
        except (ApiError, ValidationError) as exc:
            status = exc.status or st.bad_request(str(exc))
            return status_response(status)
        except GatewayKitError as exc:
            return status_response(st.internal_error(str(exc)))
        except (LookupError, TypeError, ValueError, AttributeError, ArithmeticError, RecursionError) as exc:
            # A request the sandbox did not foresee still gets a Status, as a Go panic caught
            # by kube-apiserver's handler chain does (500 InternalError).
            log.exception("request %s %s failed", request.method, request.path)
            return status_response(st.internal_error(f"{type(exc).__name__}: {exc}"))

    async def _dispatch(self, request: web.Request, route: Route) -> web.StreamResponse:
        m = request.method
        if route.subresource in ("exec", "log", "portforward", "attach", "proxy"):
            from gatewaykit.apiserver._exec import pod_subresource  # noqa: PLC0415

            return await pod_subresource(self, request, route)
        if route.name is None:
            if m == "GET":
                if request.query.get("watch") in ("true", "1"):
                    return await self._watch(request, route)
                return self._list(request, route)
            if m == "POST":
                return await self._create(request, route)
            if m == "DELETE":
                return await self._delete_collection(request, route)
        else:
            if m == "GET":
                return self._get(request, route)
            if m == "PUT":
                return await self._update(request, route)
            if m == "PATCH":
                return await self._patch(request, route)
            if m == "DELETE":
                return await self._delete(request, route)
        verb = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(
            m, m
        )
        return status_response(st.method_not_allowed(route.info.plural, route.info.group, verb))

    def _entry(self, route: Route) -> StoredObject:
        from gatewaykit.resources.meta import ResourceKey  # noqa: PLC0415

        key = ResourceKey(store_kind(route.info), route.namespace or "", route.name or "")
        entry = self.backend.store.snapshot().entry(key)
        if entry is None:
            raise st.api_error(st.not_found(route.info.plural, route.info.group, route.name or ""))
        return entry

    def _get(self, request: web.Request, route: Route) -> web.Response:
        entry = self._entry(route)
        obj = _served_object(entry.raw, route.info, route.version)
        if route.subresource == "scale":
            obj = _scale_of(obj)
        if _wants_table(request):
            return _json(self._table(route, [obj], request, ""))
        return _json(obj)

    def _list(self, request: web.Request, route: Route) -> web.Response:
        labels, fields = _selectors(request, route.info.kind)
        snap = self.backend.store.snapshot()
        items = [
            _served_object(e.raw, route.info, route.version)
            for e in snap.entries(store_kind(route.info))
            if _matches(e, route, labels, fields)
        ]
        items.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        rv = str(snap.resource_version)
        if _wants_table(request):
            return _json(self._table(route, items, request, rv))
        api_version = f"{route.info.group}/{route.version}" if route.info.group else route.version
        return _json(
            {
                "apiVersion": api_version,
                "kind": f"{route.info.kind}List",
                "metadata": {"resourceVersion": rv},
                "items": items,
            }
        )

    def _table(
        self, route: Route, objects: list[dict[str, Any]], request: web.Request, rv: str
    ) -> dict[str, Any]:
        info = route.info
        columns = None if info.builtin else tables.PRINTER_COLUMNS.get((info.group, info.kind), ())
        include = request.query.get("includeObject", "Metadata") or "Metadata"
        return tables.table(
            info.kind,
            objects,
            now=time.time(),
            include_object=include,
            printer_columns=columns,
            resource_version=rv,
        )

    async def _write(self, mutate: Callable[[Transaction], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.backend.transact, mutate)

    async def _create(self, request: web.Request, route: Route) -> web.Response:
        body = await _body(request, route)
        if not isinstance(body, dict):
            raise st.api_error(st.bad_request("the body of the request was not an object"))
        dry_run = request.query.get("dryRun") == "All"
        entry, warnings = await self._write(
            lambda txn: txn.create(
                route.info, body, source=Source("STDIN"), namespace=route.namespace, dry_run=dry_run
            )
        )
        return _json(_served_object(entry.raw, route.info, route.version), 201, _warning_headers(warnings))

    async def _update(self, request: web.Request, route: Route) -> web.Response:
        body = await _body(request, route)
        if not isinstance(body, dict):
            raise st.api_error(st.bad_request("the body of the request was not an object"))
        meta = body.setdefault("metadata", {})
        if meta.get("name") not in (None, route.name):
            raise st.api_error(st.bad_request("the name of the object does not match the name on the URL"))
        meta["name"] = route.name
        dry_run = request.query.get("dryRun") == "All"
        entry, warnings = await self._write(
            lambda txn: txn.update(
                route.info,
                body,
                source=Source("STDIN"),
                namespace=route.namespace,
                dry_run=dry_run,
                subresource=route.subresource,
            )
        )
        return _json(_served_object(entry.raw, route.info, route.version), 200, _warning_headers(warnings))

    async def _patch(self, request: web.Request, route: Route) -> web.Response:
        ctype = request.content_type
        body = await _body(request)
        dry_run = request.query.get("dryRun") == "All"
        if ctype == APPLY_PATCH:
            if not isinstance(body, dict):
                raise st.api_error(st.bad_request("the body of the request was not an object"))
            manager = request.query.get("fieldManager", "kubectl")
            entry, warnings, created = await self._write(
                lambda txn: server_side_apply(
                    txn,
                    route.info,
                    route.namespace or "",
                    route.name or "",
                    body,
                    manager=manager,
                    dry_run=dry_run,
                    now=time.time(),
                )
            )
            return _json(
                _served_object(entry.raw, route.info, route.version),
                201 if created else 200,
                _warning_headers(warnings),
            )
        if route.subresource == "scale":
            body = _scale_patch(body)
        entry, warnings = await self._write(
            lambda txn: txn.patch(
                route.info,
                route.namespace or "",
                route.name or "",
                ctype,
                body,
                source=Source("STDIN"),
                dry_run=dry_run,
                subresource="" if route.subresource == "scale" else route.subresource,
            )
        )
        obj = _served_object(entry.raw, route.info, route.version)
        return _json(_scale_of(obj) if route.subresource == "scale" else obj, 200, _warning_headers(warnings))

    async def _delete(self, request: web.Request, route: Route) -> web.Response:
        dry_run = request.query.get("dryRun") == "All"
        entry = await self._write(
            lambda txn: txn.delete(route.info, route.namespace or "", route.name or "", dry_run=dry_run)
        )
        obj = _served_object(entry.raw, route.info, route.version)
        if route.info.kind == "Namespace":
            obj.setdefault("status", {})["phase"] = "Terminating"
        return _json(obj)

    async def _delete_collection(self, request: web.Request, route: Route) -> web.Response:
        labels, fields = _selectors(request, route.info.kind)
        snap = self.backend.store.snapshot()
        doomed = [e for e in snap.entries(store_kind(route.info)) if _matches(e, route, labels, fields)]

        def mutate(txn: Transaction) -> None:
            for e in doomed:
                if txn.get(e.key) is not None:
                    txn.delete(route.info, e.key.namespace, e.key.name)

        await self._write(mutate)
        api_version = f"{route.info.group}/{route.version}" if route.info.group else route.version
        items = [_served_object(e.raw, route.info, route.version) for e in doomed]
        return _json(
            {"apiVersion": api_version, "kind": f"{route.info.kind}List", "metadata": {}, "items": items}
        )

    # -- watch

    async def _watch(self, request: web.Request, route: Route) -> web.StreamResponse:
        from gatewaykit.apiserver._watch import serve_watch  # noqa: PLC0415

        return await serve_watch(self, request, route)


def _table_event(api: Api, route: Route, request: web.Request, obj: dict[str, Any]) -> dict[str, Any]:
    """A watch event's object as a one-row Table (``kubectl get -w``)."""
    return api._table(route, [obj], request, obj["metadata"].get("resourceVersion", ""))


def _scale_of(obj: dict[str, Any]) -> dict[str, Any]:
    """A Deployment's ``scale`` subresource (``autoscaling/v1`` Scale)."""
    meta = obj["metadata"]
    selector = obj.get("spec", {}).get("selector", {}).get("matchLabels", {})
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": obj.get("spec", {}).get("replicas", 1)},
        "status": {
            "replicas": obj.get("status", {}).get("replicas", 0),
            "selector": ",".join(f"{k}={v}" for k, v in selector.items()),
        },
    }


def _scale_patch(body: Any) -> Any:
    """A patch of ``scale`` becomes a patch of the Deployment's ``spec.replicas``."""
    if isinstance(body, dict) and isinstance(body.get("spec"), dict) and "replicas" in body["spec"]:
        return {"spec": {"replicas": body["spec"]["replicas"]}}
    return {}


def make_app(api: Api, token: str) -> web.Application:
    """The aiohttp application: bearer-token auth, body limit, one catch-all route."""

    @web.middleware
    async def auth(request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        if request.headers.get("Authorization", "") != f"Bearer {token}":
            return status_response(st.unauthorized())
        try:
            return await handler(request)
        except (web.HTTPException, asyncio.CancelledError):
            raise
        except (ApiError, ValidationError) as exc:
            return status_response(exc.status or st.bad_request(str(exc)))
        except Exception as exc:  # noqa: BLE001 - the API server answers, it never dies on a request
            log.error("gatewaykit API server: %s %s failed", request.method, request.path, exc_info=exc)
            return status_response(st.internal_error(f"{type(exc).__name__}: {exc}"))

    app = web.Application(middlewares=[auth], client_max_size=MAX_BODY)
    app.router.add_route("*", "/api/{tail:.*}", api.resource)
    app.router.add_route("*", "/apis/{tail:.*}", api.resource)
    app.router.add_route("*", "/api", api.discovery)
    app.router.add_route("*", "/apis", api.discovery)
    app.router.add_route("*", "/{tail:.*}", api.discovery)
    return app
