"""What Envoy answers itself: local replies, redirect locations, and how each :class:`Miss` ends
(the tables :data:`CONNECTION_MISSES` and :data:`HTTP_MISSES`), with the access-log flags.

Rule: no I/O here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gatewaykit._simulate._model import Action, LocalReply, Miss, Request, Result
from gatewaykit.envoy import (
    RedirectAction,
    RouteMatch,
)

__all__ = [
    "CONNECTION_MISSES",
    "HTTP_MISSES",
    "MissReply",
    "connection_miss",
    "http_miss",
    "join_flags",
    "local_reply",
    "redirect_location",
]


def local_reply(
    status: int,
    body: str,
    server_name: str,
    extra: Sequence[tuple[str, str]] = (),
) -> LocalReply:
    """A reply Envoy writes itself, with its headers in Envoy's order (``date`` aside)."""
    # Envoy Utility::sendLocalReply sets content-length and content-type: text/plain only for a
    # non-empty body; the HCM then adds date and server; for an empty body the HTTP/1 codec
    # appends content-length: 0 last (docs/behaviour.md §1.2; GH-31363 shows location, date, server).
    headers: list[tuple[str, str]] = []
    if body:
        headers.append(("content-length", str(len(body.encode()))))
        headers.append(("content-type", "text/plain"))
    headers.extend(extra)
    headers.append(("server", server_name))
    if not body:
        headers.append(("content-length", "0"))
    return LocalReply(status=status, body=body, headers=tuple(headers))


def _process_request_host(host: str, new_scheme: str, new_port: str, request_proto: str) -> str:
    # Envoy processRequestHost: drop the request's port when the redirect sets a port, or when
    # the scheme changes and the port is the old scheme's default (http://h:80 → https://h).
    if not host:
        return host
    if host.startswith("["):
        end = host.rfind("]:")
        end = end + 1 if end != -1 else -1
    else:
        end = host.rfind(":")
    if end != -1:
        request_port = host[end:]
        remove = bool(new_port)
        if new_scheme != request_proto:
            remove |= request_proto == "https" and request_port == ":443"
            remove |= request_proto == "http" and request_port == ":80"
        if remove:
            return host[:end]
    return host


def redirect_location(redirect: RedirectAction, request: Request, match: RouteMatch | None = None) -> str:
    """Build the ``location`` header of a redirect route exactly like Envoy ``Utility::newUri``.

    Scheme: ``scheme_redirect`` or the request's. Port: ``:<port_redirect>`` if set. Host:
    ``host_redirect`` or the request Host (port dropped by the rules of
    ``processRequestHost``). Path: ``path_redirect`` (the request's query string kept unless
    the redirect path has its own), or ``prefix_rewrite`` replacing the matched prefix, or the
    request path; a leading ``/`` is ensured.

    Args:
        redirect: The route's redirect action.
        request: The request being redirected.
        match: The route's match (needed for ``prefix_rewrite``).
    """
    final_scheme = redirect.scheme_redirect or request.scheme
    final_port = f":{redirect.port_redirect}" if redirect.port_redirect else ""
    if redirect.host_redirect:
        final_host = redirect.host_redirect
    else:
        final_host = _process_request_host(request.host or "", final_scheme, final_port, request.scheme)
    path = request.path
    if redirect.path_redirect:
        if "?" in redirect.path_redirect:
            path = redirect.path_redirect
        else:
            q = request.path.find("?")
            path = redirect.path_redirect + (request.path[q:] if q != -1 else "")
    elif redirect.prefix_rewrite is not None and match is not None and match.matched_prefix is not None:
        # RouteEntryImplBase: the matched prefix is replaced; the rest (and query) is kept.
        path = redirect.prefix_rewrite + request.path[len(match.matched_prefix) :]
    if not path.startswith("/"):
        path = "/" + path
    return f"{final_scheme}://{final_host}{final_port}{path}"


@dataclass(frozen=True, slots=True)
class MissReply:
    """How Envoy answers one :class:`Miss`: the action, the access-log flag and its own reply.

    Attributes:
        action: what happens to the request or connection (``Result.action``).
        flag: the access-log response flag (``NR``, ``NC``, ``UH``, ``DPE``, or ``-``).
        status: the status of the reply Envoy writes itself; None when the connection just ends
            or the status comes from the configuration (``cluster_not_found_response_code``,
            the ``block_all`` direct response).
        body: the reply's body.
        codec: written by the HTTP/1 codec (``sendProtocolError``: ``content-length: 0`` and
            ``connection: close``, no ``server``), not by the HTTP connection manager.
    """

    action: Action
    flag: str = "-"
    status: int | None = None
    body: str = ""
    codec: bool = False


#: Misses that end the *connection* before any HTTP reply: the kernel refuses it (no listener,
#: docs/behaviour.md §1.6) or Envoy closes it (no filter chain, TLS failures, a TLS ClientHello in a plaintext
#: HTTP chain, and tcp_proxy's missing cluster or endpoints). curl's exit code depends on what
#: the client was speaking, so each call site passes it (docs/behaviour.md §1.6).
CONNECTION_MISSES: dict[Miss, MissReply] = {
    Miss.NO_LISTENER: MissReply("refused"),
    Miss.NO_FILTER_CHAIN: MissReply("reset", "NR"),
    Miss.TLS_HANDSHAKE_FAILED: MissReply("reset"),
    Miss.CLIENT_CERT_REQUIRED: MissReply("reset"),
    Miss.PROTOCOL_ERROR: MissReply("reset", "DPE"),
    Miss.CLUSTER_NOT_FOUND: MissReply("reset", "NC"),
    Miss.NO_HEALTHY_UPSTREAM: MissReply("reset", "UH"),
}


#: Misses Envoy answers over HTTP with a reply of its own (docs/behaviour.md §1.4): the router's 404 ``NR``
#: for no virtual host or route, the 301 of ``require_tls`` (httpsRedirect), the 503 ``NC``/``UH`` of a
#: missing cluster or endpoint, the codec's canned 400 for non-HTTP bytes, and REGISTRY_ONLY's
#: ``block_all`` direct response (502, docs/behaviour.md §11.2).
HTTP_MISSES: dict[Miss, MissReply] = {
    Miss.PROTOCOL_ERROR: MissReply("local_reply", "DPE", 400, codec=True),
    Miss.NO_VIRTUAL_HOST: MissReply("local_reply", "NR", 404),
    Miss.TLS_REQUIRED: MissReply("local_reply", "-", 301),
    Miss.NO_ROUTE: MissReply("local_reply", "NR", 404),
    Miss.BLOCKED: MissReply("direct_response"),
    Miss.CLUSTER_NOT_FOUND: MissReply("local_reply", "NC"),
    Miss.NO_HEALTHY_UPSTREAM: MissReply("local_reply", "UH", 503, "no healthy upstream"),
}


def connection_miss(base: dict[str, Any], miss: Miss, curl_exit: int | None, detail: str) -> Result:
    """A :class:`Result` for a miss of :data:`CONNECTION_MISSES`."""
    fate = CONNECTION_MISSES[miss]
    return Result(
        **base, miss=miss, action=fate.action, response_flags=fate.flag, curl_exit=curl_exit, detail=detail
    )


def http_miss(
    base: dict[str, Any],
    miss: Miss,
    server: str,
    detail: str,
    *,
    delay_flag: str = "",
    status: int | None = None,
    extra: Sequence[tuple[str, str]] = (),
    reply: LocalReply | None = None,
) -> Result:
    """A :class:`Result` for a miss of :data:`HTTP_MISSES`.

    ``status`` overrides the table's (a configured code), ``extra`` adds headers (``location``),
    ``reply`` is a configured reply used as it is; ``delay_flag`` is ``DI`` when the fault filter
    delayed the request first.
    """
    fate = HTTP_MISSES[miss]
    if reply is None:
        code = status if status is not None else fate.status
        assert code is not None, miss
        if fate.codec:
            reply = LocalReply(code, fate.body, (("content-length", "0"), ("connection", "close")))
        else:
            reply = local_reply(code, fate.body, server, extra)
    return Result(
        **base,
        miss=miss,
        action=fate.action,
        reply=reply,
        response_flags=join_flags(delay_flag, fate.flag),
        detail=detail,
    )


# Envoy's access-log order of response flags (ResponseFlagUtils, CORE_RESPONSE_FLAGS); several
# flags print comma-separated in this order, e.g. "DI,FI".
_FLAG_ORDER = (
    "LH", "UH", "UT", "LR", "UR", "UF", "UC", "UO", "NR", "DI", "FI", "RL", "UAEX", "RLSE", "DC",
    "URX", "SI", "IH", "DPE", "UMSDR", "RFCF", "NFCF", "DT", "UPE", "NC", "OM", "DF", "DO", "DR", "UDO",
)  # fmt: skip


def join_flags(*flags: str) -> str:
    """The access log's ``%RESPONSE_FLAGS%``: the flags set, in Envoy's order, or ``-``."""
    got = {f for f in flags if f and f != "-"}
    if not got:
        return "-"
    return ",".join(sorted(got, key=lambda f: _FLAG_ORDER.index(f) if f in _FLAG_ORDER else len(_FLAG_ORDER)))
