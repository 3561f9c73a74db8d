"""The data plane: executes ProxyConfigs for real on 127.0.0.1 (asyncio on its own thread).

Each proxy listener (``0.0.0.0_8080``) becomes one 127.0.0.1 socket. A new connection goes
through the same steps Envoy takes -- and the matching itself is done by
:mod:`gatewaykit._simulate` (one source of truth):

1. ``match_listener`` (the socket already tells us the listener port);
2. Envoy's ``tls_inspector``: read the ClientHello *without* consuming it, for SNI/ALPN;
3. ``match_filter_chain``; none → the connection is closed (curl exit 35 for TLS, docs/behaviour.md §1.6);
4. TLS termination with the chain's certificate (SIMPLE / MUTUAL / OPTIONAL_MUTUAL /
   ISTIO_MUTUAL), or none (plaintext, or PASSTHROUGH which forwards the raw ClientHello);
5. the network filter: TCP proxy (bytes both ways) or the HTTP connection manager
   (HTTP/1.1 via h11, HTTP/2 via h2 when ALPN chose ``h2``), which calls ``simulate`` for each
   request and then either writes Envoy's local reply or proxies to an endpoint.

Configuration swaps are atomic: a connection reads the proxy's config once when it is
accepted (in-flight connections finish on the old config, like Envoy's listener drain).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import logging
import os
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gatewaykit import envoy
from gatewaykit._simulate import Request as SimRequest
from gatewaykit._simulate import match_filter_chain, match_listener
from gatewaykit._simulate import simulate as run_simulation
from gatewaykit._translate.secrets import secret_rejected_log
from gatewaykit.dataplane._accesslog import AccessLogEntry, format_entry
from gatewaykit.dataplane._addresses import AddressBook
from gatewaykit.dataplane._body import BUFFER_LIMIT
from gatewaykit.dataplane._clienthello import NEED_MORE, ClientHello, parse_client_hello
from gatewaykit.dataplane._http1 import serve_h1
from gatewaykit.dataplane._http2 import serve_h2
from gatewaykit.dataplane._listen import AcceptGuard, Listener, LoopErrors
from gatewaykit.dataplane._tcp import serve_tcp_proxy
from gatewaykit.dataplane._tls import ContextCache, MeshCA, PlainStream, TlsStream, san_matches
from gatewaykit.errors import SandboxError

__all__ = ["AddressBook", "DataPlane", "ListenerKey", "RequestCallback"]

ListenerKey = tuple[str, int]
"""``(proxy_id, listener_port)``: names one proxy listener, e.g. ``("istio-system/gw-1", 8080)``."""

RequestCallback = Callable[[str, Any], None]
"""Called with ``(proxy_id, simulate.Result)`` for every request/connection the proxy handles."""

# Envoy's tls_inspector waits at most 15 s for a ClientHello (listener_filters_timeout).
_INSPECT_TIMEOUT = 15.0
_HANDSHAKE_TIMEOUT = 15.0
_log = logging.getLogger("gatewaykit.dataplane")
_LOG_LINES = 5000  # per proxy; the oldest lines are dropped (bounded memory)
# A connection's read buffer: asyncio pauses reading at twice the limit, i.e. at Envoy's
# per_connection_buffer_limit_bytes (1 MiB; Istio leaves the default), so a client sending
# faster than the proxy forwards is held back by TCP.
_READ_LIMIT = BUFFER_LIMIT // 2
# The "destination" of connections redirected to a sidecar's inbound side (inbound_port).
_INBOUND = "inbound"


@dataclass(slots=True)
class _Bound:
    key: ListenerKey
    listener: Listener
    real_port: int


@dataclass(slots=True)
class _State:
    """What one accepted connection needs, frozen at accept time."""

    proxy_id: str
    proxy: envoy.ProxyConfig
    listener: envoy.Listener
    listener_port: int
    pod_ip: str
    client_ip: str
    remote_port: int
    chain: envoy.FilterChain | None = None
    tls: bool = False
    sni: str | None = None
    alpn: str | None = None
    offered_alpn: tuple[str, ...] = ()
    client_cert: bool = False
    # The original destination IP when the connection came in through a destination port
    # (iptables REDIRECT on a sidecar keeps it in SO_ORIGINAL_DST).
    destination: str | None = None
    # The verified client certificate (DER) on an mTLS connection, and the URI SANs of the
    # proxy's own certificate: the inputs of x-forwarded-client-cert.
    peer_der: bytes | None = None
    local_uris: tuple[str, ...] = ()
    # The downstream local address when it is not the pod's own (a redirected outbound
    # connection: the address the app dialled).
    local_address: str | None = None

    @property
    def downstream_local(self) -> str:
        return self.local_address or f"{self.pod_ip}:{self.listener_port}"

    @property
    def downstream_remote(self) -> str:
        return f"{self.client_ip}:{self.remote_port}"


class DataPlane:
    """Runs every proxy's listeners on 127.0.0.1, on an event loop in a dedicated thread.

    Example::

        dp = DataPlane(address_book).start()
        ports = dp.update({"istio-system/istio-ingressgateway-x": proxy_config})
        ports[("istio-system/istio-ingressgateway-x", 8080)]   # → real 127.0.0.1 port
        dp.logs("istio-system/istio-ingressgateway-x")
        dp.close()

    Args:
        address_book: where endpoints (pod IP:port) really listen.
        mesh_ca: the mesh CA for ISTIO_MUTUAL; None makes ISTIO_MUTUAL handshakes fail.
        trust_store: PEM bundle used for upstream SIMPLE TLS without a validation secret
            (the proxy's system CA store); None uses the system store.
        on_request: called on the loop thread with ``(proxy_id, simulate.Result)``.
        client_address: the address the access log and ``x-forwarded-for`` show for clients
            connecting from the host (curl), standing for the node/LB address.
        key_dir: where the short-lived private key files TLS contexts load from are written
            (mode 0600); the sandbox passes its work dir. None: a private temp dir.
    """

    def __init__(
        self,
        address_book: AddressBook | None = None,
        *,
        mesh_ca: MeshCA | None = None,
        trust_store: bytes | None = None,
        on_request: RequestCallback | None = None,
        client_address: str = "10.244.0.1",
        key_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.address_book = address_book or AddressBook()
        self.contexts = ContextCache(mesh_ca=mesh_ca, trust_store=trust_store, workdir=key_dir)
        self.loop_errors = LoopErrors(_log)
        self.guard = AcceptGuard(self.loop_errors)
        self.on_request = on_request
        self.client_address = client_address
        self.rng = random.Random()
        self._proxies: dict[str, envoy.ProxyConfig] = {}
        self._pod_ips: dict[str, str] = {}
        self._bound: dict[ListenerKey, _Bound] = {}
        self._ports: dict[ListenerKey, int] = {}
        self._dest_bound: dict[tuple[str, str, int], _Bound] = {}
        self._logs: dict[str, deque[str]] = {}
        self._rejected_seen: set[tuple[str, str, int]] = set()  # (proxy, secret, content) logged
        self._log_lock = threading.Lock()
        self._inflight: dict[str, int] = {}
        self._idle = threading.Condition(self._log_lock)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._update_lock = threading.Lock()
        self.http2_services: frozenset[tuple[str, int]] = frozenset()
        # Local port of a connection to a listener -> (the peer address the proxy sees, the local
        # address when it is not the pod's own): a proxy's upstream connection comes from its pod
        # IP, a port-forwarded one from the pod's loopback (loop thread only).
        self._sources: dict[int, tuple[str, str | None]] = {}
        # Real ports of every listener socket (loop thread only).
        self._served: set[int] = set()
        # (id(proxy), container port) -> (proxy, its inbound view); loop thread only.
        self._views: dict[tuple[int, int], tuple[envoy.ProxyConfig, envoy.ProxyConfig]] = {}
        # Idle upstream HTTP/1.1 connections, touched only on the loop thread.
        self.upstream_pool: dict[tuple[Any, ...], list[Any]] = {}

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> DataPlane:
        """Start the event-loop thread (idempotent); returns self."""
        if self._thread is not None:
            return self
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            # One log line per cause, then a count (an exhausted descriptor table must not
            # flood a notebook with tracebacks; see _listen).
            loop.set_exception_handler(self.loop_errors)
            self._loop = loop
            asyncio.set_event_loop(loop)
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name="gatewaykit-dataplane", daemon=True)
        self._thread.start()
        ready.wait()
        return self

    def __enter__(self) -> DataPlane:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every listener and connection, stop the loop and join its thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if loop.is_running():
            fut = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            with contextlib.suppress(Exception):
                fut.result(timeout=10)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._loop = None
        self._thread = None
        self.contexts.close()

    async def _shutdown(self) -> None:
        for bound in [*self._bound.values(), *self._dest_bound.values()]:
            bound.listener.close()
        for w in list(self._writers):
            with contextlib.suppress(Exception):
                w.transport.abort()
        self._drain_pool()
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        self._bound.clear()
        self._dest_bound.clear()
        self._ports = {}

    # --------------------------------------------------------------------- config

    @property
    def ports(self) -> dict[ListenerKey, int]:
        """``(proxy_id, listener_port) → real 127.0.0.1 port`` for every bound listener."""
        # A snapshot replaced as a whole on the loop thread: safe to read from any thread.
        return dict(self._ports)

    def update(
        self,
        proxies: Mapping[str, envoy.ProxyConfig],
        address_book: AddressBook | None = None,
        *,
        fixed_ports: Mapping[ListenerKey, int] | None = None,
        pod_ips: Mapping[str, str] | None = None,
        http2_services: frozenset[tuple[str, int]] | None = None,
        timeout: float = 10.0,
    ) -> dict[ListenerKey, int]:
        """Swap in a new configuration; returns once every new listener is bound and serving.

        Listeners that exist before and after keep their sockets (and ports); removed ones are
        closed; new ones bind a free port or the one ``fixed_ports`` asks for (so published
        ports stay stable). New connections see the new config; in-flight ones finish on the old.

        Args:
            proxies: proxy id (``"<ns>/<pod>"``) → its ProxyConfig.
            address_book: replaces the address book when given.
            fixed_ports: ``(proxy_id, listener_port) → real port`` to bind exactly.
            pod_ips: proxy id → pod IP, shown in access logs (``10.244.0.5``).
            http2_services: ``(service host, port)`` pairs whose port protocol is HTTP2/gRPC;
                clusters of these speak HTTP/2 upstream (Istio sets ``http2_protocol_options``
                on them, e.g. the egress gateway's port 80 named ``http2``, docs/behaviour.md §12). None keeps
                the previous set.
            timeout: seconds to wait for the loop.

        Returns:
            The ``(proxy_id, listener_port) → real port`` mapping (same as :attr:`ports`).

        Raises:
            SandboxError: a port could not be bound, or the data plane is not started.
        """
        if self._loop is None:
            raise SandboxError("the data plane is not started: call DataPlane.start() first")
        if threading.current_thread() is self._thread:
            raise SandboxError("DataPlane.update() must not be called from the data-plane thread")
        if address_book is not None:
            self.address_book = address_book
        if http2_services is not None:
            self.http2_services = frozenset(http2_services)
        with self._update_lock:
            fut = asyncio.run_coroutine_threadsafe(
                self._apply(dict(proxies), dict(fixed_ports or {}), dict(pod_ips or {})), self._loop
            )
            try:
                return fut.result(timeout=timeout)
            except SandboxError:
                raise
            except Exception as exc:  # noqa: BLE001 - surfaced as the one sandbox error
                raise SandboxError(f"data plane update failed: {exc}") from exc

    async def _apply(
        self, proxies: dict[str, envoy.ProxyConfig], fixed: dict[ListenerKey, int], pod_ips: dict[str, str]
    ) -> dict[ListenerKey, int]:
        wanted: set[ListenerKey] = set()
        for pid, proxy in proxies.items():
            for lst in proxy.listeners:
                if lst.name == "virtualOutbound":
                    continue
                wanted.add((pid, lst.port))
        # Close listeners that disappeared, or whose requested port changed -- first, because a
        # published port may move to a new key (the gateway pod was replaced: new pod name).
        for key in list(self._bound):
            bound = self._bound[key]
            if key not in wanted or (key in fixed and fixed[key] != bound.real_port):
                bound.listener.close()
                del self._bound[key]
        for dkey in list(self._dest_bound):
            if dkey[0] not in proxies:
                self._dest_bound.pop(dkey).listener.close()
        new_bound: dict[ListenerKey, _Bound] = {}
        try:
            for key in sorted(wanted):
                if key in self._bound:
                    continue
                new_bound[key] = await self._bind(key, fixed.get(key, 0))
        except OSError as exc:
            for b in new_bound.values():
                b.listener.close()
            self._ports = {k: b.real_port for k, b in self._bound.items()}
            raise SandboxError(f"cannot bind 127.0.0.1 for listener {key}: {exc}") from exc
        # The swap: one assignment each, on the loop thread, so a connection sees either the
        # old or the new configuration, never a mix.
        self._proxies = proxies
        self._pod_ips = {**self._pod_ips, **pod_ips}
        # Envoy drains upstream connection pools when clusters change; idle connections to
        # workloads that were replaced must not be reused.
        self._drain_pool()
        self._bound.update(new_bound)
        for pid in proxies:
            self._logs.setdefault(pid, deque(maxlen=_LOG_LINES))
        self._log_rejected_secrets(proxies)
        self._ports = {k: b.real_port for k, b in self._bound.items()}
        self._served = set(self._ports.values()) | {b.real_port for b in self._dest_bound.values()}
        return dict(self._ports)

    def _drain_pool(self) -> None:
        for idle in self.upstream_pool.values():
            for up in idle:
                up.abort()
        self.upstream_pool.clear()

    async def _bind(self, key: ListenerKey, port: int) -> _Bound:
        listener = Listener.bind(port, lambda conn: self._accept(key, conn, None, _READ_LIMIT), self.guard)
        return _Bound(key, listener, listener.port)

    def _accept(self, key: ListenerKey, conn: socket.socket, destination: str | None, limit: int) -> None:
        """Serve a connection a listener accepted (loop thread)."""
        self.track(asyncio.ensure_future(self._accepted(key, conn, destination, limit)))

    async def _accepted(
        self, key: ListenerKey, conn: socket.socket, destination: str | None, limit: int
    ) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=limit)
        protocol = asyncio.StreamReaderProtocol(reader)
        try:
            transport, _ = await loop.connect_accepted_socket(lambda: protocol, sock=conn)
        except OSError:
            conn.close()
            return
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        await self._on_connection(key, reader, writer, destination)

    def destination_port(self, proxy_id: str, address: str, port: int, *, timeout: float = 10.0) -> int:
        """Return a 127.0.0.1 port whose connections reach ``proxy_id`` as if dialled to ``address:port``.

        A sidecar sees the original destination of a redirected connection (the Service cluster
        IP, or an external IP): listener choice (``10.96.0.12_9000`` before ``0.0.0.0_9000``),
        filter-chain ``prefix_ranges`` and ``PassthroughCluster`` (ORIGINAL_DST) depend on it.
        The sandbox points a pod's connections to ``address:port`` at this port. The port stays
        bound until the proxy disappears from the configuration or the data plane closes.

        Args:
            proxy_id: the proxy the pod's traffic goes through.
            address: the destination IP the client dialled, e.g. ``10.96.0.12``.
            port: the destination port, e.g. ``80``.
            timeout: seconds to wait for the loop.

        Raises:
            SandboxError: the data plane is not started or the port cannot be bound.
        """
        if self._loop is None:
            raise SandboxError("the data plane is not started: call DataPlane.start() first")
        if threading.current_thread() is self._thread:
            raise SandboxError("DataPlane.destination_port() must not be called from the data-plane thread")
        fut = asyncio.run_coroutine_threadsafe(self._bind_destination(proxy_id, address, port), self._loop)
        try:
            return fut.result(timeout=timeout)
        except OSError as exc:
            raise SandboxError(f"cannot bind 127.0.0.1 for {proxy_id} → {address}:{port}: {exc}") from exc

    def inbound_port(self, proxy_id: str, port: int, *, timeout: float = 10.0) -> int:
        """Return a 127.0.0.1 port whose connections reach a sidecar's inbound side for ``port``.

        What iptables does to a connection dialled to an injected pod's IP and container port:
        redirect it to the sidecar's ``virtualInbound`` listener (15006), which picks the filter
        chain by the original destination port. Register the result with
        :meth:`AddressBook.add_capture` so other proxies' connections land here.

        Args:
            proxy_id: the sidecar's proxy id.
            port: the container port, e.g. ``8080``.
            timeout: seconds to wait for the loop.

        Raises:
            SandboxError: the data plane is not started or the port cannot be bound.
        """
        return self.destination_port(proxy_id, _INBOUND, port, timeout=timeout)

    async def _bind_destination(self, proxy_id: str, address: str, port: int) -> int:
        key = (proxy_id, address, port)
        bound = self._dest_bound.get(key)
        if bound is not None:
            return bound.real_port

        listener = Listener.bind(
            0, lambda conn: self._accept((proxy_id, port), conn, address, _READ_LIMIT), self.guard
        )
        real = listener.port
        self._dest_bound[key] = _Bound((proxy_id, port), listener, real)
        self._served.add(real)
        return real

    # ------------------------------------------------------------------------ logs

    def _resolve_proxy_id(self, proxy_id: str) -> str | None:
        if proxy_id in self._logs:
            return proxy_id
        for pid, proxy in self._proxies.items():
            if proxy_id in (proxy.id, f"{proxy.namespace}/{proxy.workload}", proxy.workload):
                return pid
        return None

    def logs(self, proxy_id: str) -> str:
        """Return the proxy's access log (Istio's default text format), one line per entry.

        Args:
            proxy_id: the key given to :meth:`update`, the ProxyConfig ``id``, or
                ``"<namespace>/<workload>"``.
        """
        pid = self._resolve_proxy_id(proxy_id)
        if pid is None:
            return ""
        with self._idle:
            # A client may have its last byte before the proxy has written the log line (Envoy
            # logs at stream end, too): wait briefly for requests in flight on this proxy.
            self._idle.wait_for(lambda: self._inflight.get(pid, 0) == 0, timeout=0.5)
            lines = list(self._logs.get(pid, ()))
        return "".join(line + "\n" for line in lines)

    def _log_rejected_secrets(self, proxies: Mapping[str, envoy.ProxyConfig]) -> None:
        """Envoy's warning in a proxy's log when it rejects an SDS secret, once per secret version."""
        now = datetime.datetime.now(datetime.timezone.utc)
        with self._log_lock:
            for pid, proxy in proxies.items():
                for material in proxy.secrets.values():
                    content = hash((material.certificate_chain, material.private_key, material.trusted_ca))
                    seen = (pid, material.name, content)
                    if material.rejected and seen not in self._rejected_seen:
                        self._rejected_seen.add(seen)
                        self._logs[pid].append(secret_rejected_log(material, now))

    def log(self, state: _State, entry: AccessLogEntry) -> None:
        """Append an access-log entry for the connection's proxy (loop thread)."""
        line = format_entry(entry)
        with self._log_lock:
            self._logs.setdefault(state.proxy_id, deque(maxlen=_LOG_LINES)).append(line)

    @contextlib.contextmanager
    def in_flight(self, state: _State) -> Any:
        """Count a request/TCP session as in flight on its proxy while the block runs."""
        with self._idle:
            self._inflight[state.proxy_id] = self._inflight.get(state.proxy_id, 0) + 1
        try:
            yield
        finally:
            with self._idle:
                self._inflight[state.proxy_id] -= 1
                self._idle.notify_all()

    def track(self, task: asyncio.Task[Any] | asyncio.Future[Any]) -> None:
        """Keep a background task (a mirror request) so :meth:`close` cancels it (loop thread)."""
        self._tasks.add(task)  # type: ignore[arg-type]
        task.add_done_callback(self._tasks.discard)  # type: ignore[arg-type]

    def emit(self, state: _State, result: Any) -> None:
        """Pass a simulate Result to the ``on_request`` callback; its errors are ignored.

        The inbound hop of a request a gateway forwarded to an injected pod is logged (the
        pod's access log) but not reported: the callback's path of a gateway request ends at
        the gateway's cluster and endpoint, as ``istioctl proxy-config`` of the gateway shows it.
        """
        if state.listener.traffic_direction == "INBOUND" and self._from_gateway(state.client_ip):
            return
        if self.on_request is not None:
            with contextlib.suppress(Exception):
                self.on_request(state.proxy_id, result)

    def _from_gateway(self, ip: str) -> bool:
        return any(
            self._pod_ips.get(pid) == ip and proxy.type == "router"
            for pid, proxy in list(self._proxies.items())
        )

    def _inbound_view(self, proxy: envoy.ProxyConfig, port: int) -> envoy.ProxyConfig | None:
        key = (id(proxy), port)
        view = self._views.get(key)
        if view is None or view[0] is not proxy:
            inbound = next((lst for lst in proxy.listeners if lst.name == "virtualInbound"), None)
            if inbound is None:
                return None
            listener = dataclasses.replace(inbound, port=port)
            if len(self._views) > 1024:
                self._views.clear()
            view = self._views[key] = (proxy, dataclasses.replace(proxy, listeners=(listener,)))
        return view[1]

    def note_source(self, local_port: int, pod_ip: str, target_port: int) -> None:
        """Record that a proxy's upstream connection from ``local_port`` comes from ``pod_ip``.

        When that connection reaches another proxy here (sidecar → egress gateway, docs/behaviour.md §12), the
        receiving proxy sees the source pod as its downstream peer, as Envoy would. Only
        connections to this data plane's own listeners (``target_port``) are recorded: the
        entry is consumed when the listener accepts the connection.
        """
        if target_port in self._served:
            self._remember_source(local_port, (pod_ip, None))

    def _remember_source(self, local_port: int, source: tuple[str, str | None]) -> None:
        if len(self._sources) > 4096:  # entries of connections that never arrived
            for port in list(self._sources)[:2048]:
                del self._sources[port]
        self._sources[local_port] = source

    def expect_loopback(
        self, local_port: int, target_port: int, listener_port: int, timeout: float = 10.0
    ) -> None:
        """Record that the connection about to come from ``127.0.0.1:local_port`` is the pod's own.

        ``kubectl port-forward`` reaches a pod port as containerd dials it: ``localhost:<port>``
        inside the pod's network namespace. The proxy then sees ``127.0.0.1`` as its downstream
        peer and ``127.0.0.1:<listener port>`` as its local address (the access log, and the
        ``x-forwarded-for`` a gateway appends). Call it from any thread before connecting.

        Args:
            local_port: the client socket's bound port.
            target_port: the 127.0.0.1 port it will connect to (a listener's real port).
            listener_port: the pod port the listener stands for, e.g. ``8080``.
            timeout: seconds to wait for the loop.
        """
        loop = self._loop
        if loop is None or threading.current_thread() is self._thread:
            return

        async def note() -> None:
            if target_port in self._served:
                self._remember_source(local_port, ("127.0.0.1", f"127.0.0.1:{listener_port}"))

        asyncio.run_coroutine_threadsafe(note(), loop).result(timeout)

    def upstream_http2(self, cluster: envoy.Cluster) -> bool:
        """Whether requests to ``cluster`` go upstream as HTTP/2 (its service port is HTTP2/gRPC)."""
        return cluster.service is not None and (cluster.service, cluster.port or 0) in self.http2_services

    def identity(self, proxy: envoy.ProxyConfig) -> str:
        """Return the proxy's SPIFFE id, the URI SAN of its ISTIO_MUTUAL certificate.

        istiod signs the identity of the pod's ServiceAccount
        (``spiffe://<trust domain>/ns/<namespace>/sa/<service account>``,
        https://istio.io/latest/docs/concepts/security/#istio-identity): Istio's gateway charts
        run ``istio-ingressgateway`` under ``istio-ingressgateway-service-account`` (docs/behaviour.md §12), a
        pod without ``serviceAccountName`` runs as ``default``.
        """
        return f"spiffe://cluster.local/ns/{proxy.namespace}/sa/{proxy.service_account or 'default'}"

    # ----------------------------------------------------------------- connections

    async def _on_connection(
        self,
        key: ListenerKey,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        destination: str | None = None,
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._writers.add(writer)
        try:
            await self._serve(key, reader, writer, destination)
        except (asyncio.CancelledError, ConnectionError, OSError, asyncio.IncompleteReadError) as exc:
            _log.debug("connection on %s ended: %r", key, exc)
        except Exception:  # noqa: BLE001 - a bug must not kill the listener; keep it visible
            _log.exception("connection on %s failed", key)
        finally:
            self._writers.discard(writer)
            if task is not None:
                self._tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    def _accept_state(
        self, key: ListenerKey, writer: asyncio.StreamWriter, destination: str | None
    ) -> _State | None:
        """The connection's frozen view of its proxy and listener; None when nothing listens."""
        proxy_id, port = key
        proxy = self._proxies.get(proxy_id)
        if proxy is not None and destination == _INBOUND:
            # Redirected to virtualInbound (15006); the chain is chosen by the original
            # destination port. The proxy is seen through a view where that listener sits on
            # the container port, so simulate() matches it like any other listener.
            proxy, destination = self._inbound_view(proxy, port), None
        listener = match_listener(proxy, port, destination=destination) if proxy is not None else None
        if proxy is None or listener is None:
            return None
        peer = writer.get_extra_info("peername") or ("127.0.0.1", 0)
        pod_ip = self._pod_ips.get(proxy_id, "127.0.0.1")
        outbound = (
            destination is not None and proxy.type == "sidecar" and listener.traffic_direction != "INBOUND"
        )
        source, local = self._sources.pop(int(peer[1]), (self.client_address, None))
        state = _State(
            proxy_id,
            proxy,
            listener,
            port,
            pod_ip,
            # A sidecar's outbound connection comes from the app in the same pod (docs/behaviour.md §11.1
            # access log: downstream remote = pod IP, downstream local = the original destination).
            pod_ip if outbound else source,
            int(peer[1]),
            destination=destination,
        )
        if outbound:
            state.local_address = f"{destination}:{port}"
        elif local is not None:
            state.local_address = local
        return state

    async def _inspect(
        self, listener: envoy.Listener, reader: asyncio.StreamReader
    ) -> tuple[ClientHello, bytes] | None:
        """Envoy's tls_inspector: peek at the ClientHello (None: the client went away or timed out).

        It is present when some chain needs TLS facts (SNI, transport, ALPN); the ClientHello is
        read before a chain is chosen, but not consumed (the bytes are replayed).
        """
        inspect = any(
            c.transport_socket is not None
            or c.filter_chain_match.server_names
            or c.filter_chain_match.transport_protocol == "tls"
            or c.filter_chain_match.application_protocols
            for c in listener.filter_chains
        )
        if not inspect:
            return ClientHello(is_tls=False), b""
        initial = b""
        try:
            async with asyncio.timeout(_INSPECT_TIMEOUT):
                while True:
                    chunk = await reader.read(65536)
                    if not chunk:
                        return None
                    initial += chunk
                    parsed = parse_client_hello(initial)
                    if parsed is not NEED_MORE:
                        assert isinstance(parsed, ClientHello)
                        return parsed, initial
        except TimeoutError:
            return None

    def _no_filter_chain(self, state: _State, hello: ClientHello, start: float) -> None:
        # No filter chain: Envoy closes the connection; TLS clients see SSL_ERROR_SYSCALL
        # (curl exit 35, docs/behaviour.md §1.6 / §4.4). Istio's listener access log records it with NR.
        self.log(
            state,
            AccessLogEntry(
                start=start,
                response_flags="NR",
                response_code_details="filter_chain_not_found",
                downstream_local_address=state.downstream_local,
                downstream_remote_address=state.downstream_remote,
                requested_server_name=hello.sni,
            ),
        )
        sreq = SimRequest(
            port=state.listener_port,
            protocol="tls" if hello.is_tls else "tcp",
            sni=hello.sni,
            alpn=hello.alpn,
        )
        self.emit(state, run_simulation(state.proxy, sreq))

    async def _terminate_tls(
        self, state: _State, raw: PlainStream, hello: ClientHello
    ) -> PlainStream | TlsStream | None:
        """TLS termination with the chain's certificate; None when the connection was ended."""
        chain = state.chain
        assert chain is not None
        tls_ctx = chain.transport_socket
        if tls_ctx is None:
            return raw
        if not hello.is_tls:
            # Plaintext to a TLS chain: the handshake fails on the first byte and Envoy resets
            # the connection (docs/behaviour.md §1.6 "Connection reset by peer").
            raw.abort()
            return None
        ctx = self.contexts.server_context(state.proxy, tls_ctx, self.identity(state.proxy))
        if ctx is None:
            # No certificate (missing credentialName secret, docs/behaviour.md §8.1): close during the
            # handshake → curl exit 35 SSL_ERROR_SYSCALL.
            raw.close()
            return None
        tls = TlsStream(raw, ctx)
        try:
            async with asyncio.timeout(_HANDSHAKE_TIMEOUT):
                await tls.handshake()
        except (Exception, TimeoutError):
            await _linger_after_alert(raw)
            return None
        state.alpn = tls.alpn
        state.client_cert = tls.peer_certificate_present
        if state.client_cert:
            state.peer_der = tls.ssl.getpeercert(binary_form=True)
            state.local_uris = self.contexts.local_uris(state.proxy, tls_ctx, self.identity(state.proxy))
            if not san_matches(tls.ssl.getpeercert(), tls_ctx.subject_alt_names):
                # Gateway tls.subjectAltNames: a verified client certificate with another
                # identity is rejected like an untrusted one (connection closed).
                tls.abort()
                return None
        return tls

    async def _sniff_inbound_tcp(self, state: _State, stream: PlainStream | TlsStream) -> bool:
        """Istio's inbound mTLS chain of a sniffed port runs http_inspector on the decrypted bytes.

        What is not HTTP (e.g. the client's own TLS a gateway PASSTHROUGH wrapped in Istio mTLS)
        goes through tcp_proxy to the same inbound cluster (listener_builder.go). False when the
        client went away.
        """
        chain = state.chain
        assert chain is not None
        first = await stream.read()
        if not first:
            return False
        stream.unread(first)
        if first[:1] == b"\x16":
            state.chain = dataclasses.replace(
                chain,
                http_connection_manager=None,
                tcp_proxy=envoy.TcpProxy(stat_prefix=chain.name, cluster=chain.name),
            )
        return True

    async def _serve(
        self,
        key: ListenerKey,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        destination: str | None = None,
    ) -> None:
        state = self._accept_state(key, writer, destination)
        if state is None:
            writer.transport.abort()
            return
        start = time.time()
        inspected = await self._inspect(state.listener, reader)
        if inspected is None:
            writer.transport.abort()
            return
        hello, initial = inspected
        state.tls, state.sni, state.offered_alpn = hello.is_tls, hello.sni, hello.alpn
        chain = match_filter_chain(
            state.listener,
            sni=hello.sni,
            transport_protocol="tls" if hello.is_tls else "raw_buffer",
            alpn=hello.alpn,
            destination_port=key[1],
            destination_ip=destination,
        )
        if chain is None:
            self._no_filter_chain(state, hello, start)
            writer.close()
            return
        state.chain = chain
        raw = PlainStream(reader, writer, initial)
        stream = await self._terminate_tls(state, raw, hello)
        if stream is None:
            return
        inbound_http = chain.transport_socket is not None and chain.http_connection_manager is not None
        if inbound_http and state.listener.traffic_direction == "INBOUND":
            if not await self._sniff_inbound_tcp(state, stream):
                return
        await self._network_filter(state, stream, start)

    async def _network_filter(self, state: _State, stream: PlainStream | TlsStream, start: float) -> None:
        """Run the chain's network filter: tcp_proxy, or the HTTP connection manager."""
        chain = state.chain
        assert chain is not None
        if chain.tcp_proxy is not None:
            await serve_tcp_proxy(self, state, stream, start)
            return
        if chain.http_connection_manager is None:
            stream.close()
            return
        use_h2 = state.alpn == "h2"
        if state.alpn is None:
            # No protocol agreed by ALPN (plaintext, or TLS without a common protocol, e.g. a
            # sidecar's ISTIO_MUTUAL "istio-peer-exchange, istio" against a gateway's "h2,
            # http/1.1"): Envoy's AUTO codec looks for the HTTP/2 client preface
            # (ConnectionManagerUtility::determineNextProtocol), so one listener takes both.
            first = await stream.read()
            if not first:
                return
            stream.unread(first)
            use_h2 = first.startswith(b"PRI * HTTP/2")
        if use_h2:
            await serve_h2(self, state, stream)
        else:
            await serve_h1(self, state, stream)


async def _linger_after_alert(raw: PlainStream) -> None:
    """Close a connection whose TLS handshake failed, so the client reads the alert.

    The alert (e.g. TLS 1.3 certificate_required) was flushed by handshake(). Half-close and
    discard what the client still sends (its request, written right after its Finished):
    closing with unread data would make the kernel send a RST that can overtake the alert, and
    curl would print "Connection reset by peer" instead of "tlsv13 alert certificate required"
    (docs/behaviour.md §1.6).
    """
    with contextlib.suppress(Exception):
        await raw.drain()
        raw.write_eof()
        async with asyncio.timeout(2.0):
            while await raw.reader.read(65536):
                pass
    raw.close()
