"""Pod subresources: ``exec`` over WebSocket, ``log`` and ``proxy`` (``portforward``: ``_portforward``).

``kubectl exec POD -c curl -- curl ...`` upgrades to a WebSocket with the ``v5.channel.k8s.io``
subprotocol (client-go ``tools/remotecommand/websocket.go``; kubectl tries WebSocket first since
1.30). Every binary message starts with its channel: 1 stdout, 2 stderr, 3 the final Status. A
non-zero exit is a ``NonZeroExitCode`` Status whose ``ExitCode`` cause kubectl turns into
``command terminated with exit code N`` (``kubectl/pkg/cmd/exec``) and its own exit code.

What runs is decided by the sandbox (:meth:`ExecBackend.exec_plan`): curl through the pod's
sidecar, ``sh -c`` scripts that use it, and a few harmless commands; anything else is refused with
one line saying what a sandbox pod can run.

``GET pods/{name}:{port}/proxy/{path}`` (the API server's pod proxy, ``kubectl get --raw`` and
client-go's ``ProxyGet``) is answered by the sandbox (:meth:`ApiBackend.pod_proxy`): the Envoy admin
API of a pod's proxy on port 15000, which the sandbox's ``istioctl proxy-config`` reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from gatewaykit.kube import status as st
from gatewaykit.resources.meta import ResourceKey

if TYPE_CHECKING:
    from gatewaykit.apiserver._app import Api, Route

__all__ = ["ExecPlan", "ProxyAnswer", "pod_subresource"]

_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
_STDOUT, _STDERR, _ERROR = 1, 2, 3


@dataclass(frozen=True, slots=True)
class ExecPlan:
    """How to run one exec: a bash script with its environment, a fixed answer, or a refusal.

    A refusal (``refused`` set) prints that line on stderr and exits with ``exit_code``; a fixed
    answer (``output`` not None: what a program the sandbox answers itself prints, such as
    istiod's ``pilot-discovery request``) prints ``output`` on stdout, ``refused`` on stderr and
    exits with ``exit_code``, running nothing.
    """

    script: str = ""
    env: dict[str, str] = field(default_factory=dict)
    cwd: str = "/"
    refused: str = ""
    exit_code: int = 0
    output: bytes | None = None


@dataclass(frozen=True, slots=True)
class ProxyAnswer:
    """What the pod proxy returns: the pod's HTTP status, content type and body (passed through)."""

    status: int
    content_type: str
    body: bytes


def _pod(api: Api, route: Route) -> dict[str, Any]:
    entry = api.backend.store.snapshot().entry(ResourceKey("Pod", route.namespace or "", route.name or ""))
    if entry is None:
        raise st.api_error(st.not_found("pods", "", route.name or ""))
    return entry.raw


def _container(pod: dict[str, Any], wanted: str, verb: str) -> str:
    """The container a request names; the API server's BadRequest texts when it cannot tell."""
    names = [c["name"] for c in pod.get("spec", {}).get("containers") or []]
    inits = [c["name"] for c in pod.get("spec", {}).get("initContainers") or []]
    name = pod["metadata"]["name"]
    if not wanted:
        if len(names) == 1:
            return names[0]
        msg = f"a container name must be specified for pod {name}, choose one of: [{' '.join(names)}]"
        if inits:
            msg += f" or one of the init containers: [{' '.join(inits)}]"
        raise st.api_error(st.bad_request(msg))
    if wanted not in names + inits:
        raise st.api_error(st.bad_request(f"container {wanted} is not valid for pod {name}"))
    return wanted


#: Why ``kubectl attach`` is refused: there is no container console to attach to.
ATTACH_REFUSED = (
    "the gatewaykit sandbox does not support pods/attach: its pods run stand-ins for their images, "
    "with no console to attach to; use kubectl logs -f to follow a container's output, or kubectl exec"
)


async def pod_subresource(api: Api, request: web.Request, route: Route) -> web.StreamResponse:
    """``pods/exec``, ``pods/log``, ``pods/proxy``, ``pods/portforward`` (``attach`` is refused)."""
    if route.info.kind != "Pod":
        return _status(
            st.Status(404, "NotFound", "the server could not find the requested resource", has_details=False)
        )
    pod = _pod(api, route)
    if route.subresource == "log":
        return await _log(api, request, route, pod)
    if route.subresource == "exec":
        return await _exec(api, request, route, pod)
    if route.subresource == "proxy":
        return await _proxy(api, request, route)
    if route.subresource == "portforward":
        from gatewaykit.apiserver._portforward import serve_port_forward  # noqa: PLC0415

        return await serve_port_forward(api, request, route, pod)
    return _status(st.bad_request(ATTACH_REFUSED))


_PROXY_GET_ONLY = "the gatewaykit sandbox's pod proxy answers GET only"


async def _proxy(api: Api, request: web.Request, route: Route) -> web.StreamResponse:
    if request.method not in ("GET", "HEAD"):
        return _status(
            st.Status(405, "MethodNotAllowed", _PROXY_GET_ONLY, has_details=False)
        )
    loop = asyncio.get_running_loop()
    answer: ProxyAnswer = await loop.run_in_executor(
        None,
        api.backend.pod_proxy,
        route.namespace or "",
        route.name or "",
        route.proxy_port,
        route.proxy_path,
        request.query_string,
    )
    return web.Response(status=answer.status, body=answer.body, headers={"Content-Type": answer.content_type})


def _status(status: st.Status) -> web.Response:
    from gatewaykit.apiserver._app import status_response  # noqa: PLC0415

    return status_response(status)


async def _log(api: Api, request: web.Request, route: Route, pod: dict[str, Any]) -> web.StreamResponse:
    container = _container(pod, request.query.get("container", ""), "log")
    loop = asyncio.get_running_loop()
    ns, name = route.namespace or "", route.name or ""
    text = await loop.run_in_executor(None, api.backend.pod_log, ns, name, container)
    tail = request.query.get("tailLines")
    if tail is not None and tail.lstrip("-").isdigit() and int(tail) >= 0:
        lines = text.splitlines(keepends=True)
        text = "".join(lines[len(lines) - int(tail) :]) if int(tail) else ""
    if request.query.get("follow") not in ("true", "1"):
        return web.Response(text=text, content_type="text/plain")
    resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
    await resp.prepare(request)
    await resp.write(text.encode())
    seen = len(await loop.run_in_executor(None, api.backend.pod_log, ns, name, container))
    with contextlib.suppress(ConnectionResetError, asyncio.CancelledError):
        while True:
            await asyncio.sleep(0.5)
            now = await loop.run_in_executor(None, api.backend.pod_log, ns, name, container)
            if len(now) > seen:
                await resp.write(now[seen:].encode())
            seen = len(now)
    return resp


async def _exec(api: Api, request: web.Request, route: Route, pod: dict[str, Any]) -> web.StreamResponse:
    container = _container(pod, request.query.get("container", ""), "exec")
    argv = request.query.getall("command", [])
    if not argv:
        raise st.api_error(st.bad_request("you must specify at least 1 command"))
    plan: ExecPlan = api.backend.exec_plan(route.namespace or "", route.name or "", container, list(argv))
    ws = web.WebSocketResponse(protocols=_PROTOCOLS, autoping=True, heartbeat=None)
    if not ws.can_prepare(request).ok:
        return _status(
            st.bad_request("the gatewaykit sandbox serves pods/exec over WebSocket (kubectl 1.30 or newer)")
        )
    await ws.prepare(request)
    try:
        code = await _run(ws, plan)
        await ws.send_bytes(bytes([_ERROR]) + json.dumps(_exit_status(code, argv)).encode())
    finally:
        await ws.close()
    return ws


async def _run(ws: web.WebSocketResponse, plan: ExecPlan) -> int:
    if plan.refused or plan.output is not None:
        if plan.output:
            await ws.send_bytes(bytes([_STDOUT]) + plan.output)
        if plan.refused:
            await ws.send_bytes(bytes([_STDERR]) + plan.refused.encode())
        return plan.exit_code
    proc = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        plan.script,
        env=plan.env,
        cwd=plan.cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stdout is not None and proc.stderr is not None

    async def pump(stream: asyncio.StreamReader, channel: int) -> None:
        while chunk := await stream.read(65536):
            await ws.send_bytes(bytes([channel]) + chunk)

    async def client_gone() -> None:
        async for msg in ws:
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.ERROR):
                break

    pumps: asyncio.Future[Any] = asyncio.ensure_future(
        asyncio.gather(pump(proc.stdout, _STDOUT), pump(proc.stderr, _STDERR)))
    watcher: asyncio.Future[Any] = asyncio.ensure_future(client_gone())
    try:
        done, _ = await asyncio.wait({pumps, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if watcher in done:  # kubectl went away (Ctrl-C): stop what it started
            _kill(proc)
        await pumps
        return await proc.wait()
    except asyncio.CancelledError:
        _kill(proc)
        raise
    finally:
        watcher.cancel()


def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _exit_status(code: int, argv: list[str]) -> dict[str, Any]:
    """The final Status on the error channel (``remotecommand`` server, ``kubelet/cri/streaming``)."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "message": "command terminated with non-zero exit code: error executing command "
        f"[{' '.join(argv)}], exit code {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }
