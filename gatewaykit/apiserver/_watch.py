"""Watch streams: ``GET ...?watch=true`` as newline-delimited JSON events.

``kubectl wait --for=condition=...``, ``kubectl rollout status`` and ``kubectl get -w`` list, then
watch from the list's ``resourceVersion``. The semantics follow the API server's
(``k8s.io/apiserver/pkg/storage/cacher``): without a resourceVersion (or with ``0``) a watch first
sends a synthetic ``ADDED`` for every current object; with a resourceVersion it sends the changes
after it, or an ``ERROR`` event with a 410 ``Expired`` Status when that is too old. A watch ends
after ``timeoutSeconds`` (kubectl passes one), or when the sandbox closes.
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import TYPE_CHECKING, Any

from aiohttp import web

from gatewaykit.kube import status as st
from gatewaykit.store import WatchEvent, store_kind

if TYPE_CHECKING:
    from gatewaykit.apiserver._app import Api, Route

__all__ = ["serve_watch"]

#: The API server's default watch timeout is random in [min-request-timeout, 2x] (1800 s).
_DEFAULT_TIMEOUT = 1800.0


def _timeout(request: web.Request) -> float:
    try:
        return max(0.0, float(request.query["timeoutSeconds"]))
    except (KeyError, ValueError):
        return _DEFAULT_TIMEOUT * (1 + random.random())


async def serve_watch(api: Api, request: web.Request, route: Route) -> web.StreamResponse:
    """Stream the changes of the objects ``route`` (and the selectors) name."""
    from gatewaykit.apiserver._app import _selectors  # noqa: PLC0415

    labels, fields = _selectors(request, route.info.kind)
    store = api.backend.store
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[WatchEvent, ...] | None] = asyncio.Queue()

    def listener(events: tuple[WatchEvent, ...]) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, events)

    store.add_listener(listener)
    task = asyncio.current_task()
    if task is not None:
        api.watches.add(task)
    kind = store_kind(route.info)
    table = "as=Table" in request.headers.get("Accept", "")
    resp = web.StreamResponse(headers={"Content-Type": "application/json", "Cache-Control": "no-cache"})
    try:
        await resp.prepare(request)
        rv = request.query.get("resourceVersion", "")
        if rv in ("", "0") or request.query.get("sendInitialEvents") == "true":
            snap = store.snapshot()
            initial = [WatchEvent("ADDED", snap.resource_version, e.key, e.raw) for e in snap.entries(kind)]
            await _send_all(resp, api, route, request, initial, labels, fields, table)
            if request.query.get("sendInitialEvents") == "true":
                # The watch-list protocol (KEP-3157): a bookmark marks the end of the initial state.
                await _write(resp, _initial_events_end(route, snap.resource_version))
        else:
            missed = store.events_since(int(rv)) if rv.isdigit() else None
            if missed is None:
                gone = st.gone(f"too old resource version: {rv} ({store.resource_version})")
                await _write(resp, {"type": "ERROR", "object": gone.to_dict()})
                return resp
            await _send_all(
                resp, api, route, request, [e for e in missed if e.key.kind == kind], labels, fields, table
            )
        deadline = loop.time() + _timeout(request)
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                events = await asyncio.wait_for(queue.get(), remaining)
            except TimeoutError:
                break
            if events is None:
                break
            await _send_all(
                resp, api, route, request, [e for e in events if e.key.kind == kind], labels, fields, table
            )
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        store.remove_listener(listener)
        if task is not None:
            api.watches.discard(task)
    return resp


async def _send_all(
    resp: web.StreamResponse,
    api: Api,
    route: Route,
    request: web.Request,
    events: list[WatchEvent],
    labels: Any,
    fields: Any,
    table: bool,
) -> None:
    from gatewaykit.apiserver._app import _field_set, _served_object, _table_event  # noqa: PLC0415

    for e in events:
        if route.namespace is not None and e.key.namespace != route.namespace:
            continue
        if route.name is not None and e.key.name != route.name:
            continue
        meta = e.object.get("metadata", {})
        if not (labels.matches(meta.get("labels") or {}) and fields.matches(_field_set(e.object))):
            continue
        obj = _served_object(e.object, route.info, route.version)
        if table:
            obj = _table_event(api, route, request, obj)
        await _write(resp, {"type": e.type, "object": obj})


def _initial_events_end(route: Route, rv: int) -> dict[str, Any]:
    info = route.info
    return {
        "type": "BOOKMARK",
        "object": {
            "kind": info.kind,
            "apiVersion": f"{info.group}/{route.version}" if info.group else route.version,
            "metadata": {"resourceVersion": str(rv), "annotations": {"k8s.io/initial-events-end": "true"}},
        },
    }


async def _write(resp: web.StreamResponse, event: dict[str, Any]) -> None:
    await resp.write(json.dumps(event, separators=(",", ":")).encode() + b"\n")
