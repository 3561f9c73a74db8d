"""From a translation to running things: workloads, the address book and the data plane.

:class:`Reconciler` is the kubelet + kube-proxy + Envoy of the embedded sandbox. Given the
translation of a store snapshot it (1) starts/stops the stand-in of every pod container (a
changed spec restarts it, as a new pod would), (2) builds the address book (pod IP:port → the
real 127.0.0.1 port; cluster IPs → one ready endpoint, as kube-proxy; sidecar capture), and
(3) swaps the data plane's config, binding each gateway listener that a NodePort/LoadBalancer
Service publishes on its node port.
"""

from __future__ import annotations

import contextlib
import dataclasses
import pathlib
from collections.abc import Mapping
from typing import Any

from gatewaykit._translate import Pod, XdsState
from gatewaykit.backends._meshnet import public_ip, resolve_dns_endpoints
from gatewaykit.controllers import ContainerState
from gatewaykit.dataplane.plane import AddressBook, DataPlane
from gatewaykit.envoy import Cluster, ProxyConfig
from gatewaykit.workloads import FakeInternet, RunningWorkload, WorkloadSpec, start_workload

__all__ = ["Reconciler", "published_listeners"]

# Port protocols whose clusters Istio builds with http2_protocol_options.
_HTTP2 = frozenset({"HTTP2", "GRPC", "GRPC-Web"})


def published_listeners(
    xds: XdsState, snap: Any, forwards: Mapping[tuple[str, str, int], int]
) -> dict[tuple[str, int], int]:
    """``(gateway pod key, listener port) -> 127.0.0.1 port`` for every published Service port.

    A NodePort/LoadBalancer Service publishes each port on its ``nodePort``; a port-forward the
    backend holds (``forwards``: ``(namespace, service, port) -> local port``) publishes a
    ClusterIP Service's port. Each replica behind it binds the same port (SO_REUSEPORT: the kernel
    spreads connections, like kube-proxy picking an endpoint).
    """
    fixed: dict[tuple[str, int], int] = {}
    for entry in snap.entries("Service"):
        spec = entry.raw.get("spec") or {}
        ns, name = entry.key.namespace, entry.key.name
        for p in spec.get("ports") or []:
            # A node port wins over a port-forward held for the Service before it had one.
            real = p.get("nodePort") if spec.get("type") in ("NodePort", "LoadBalancer") else None
            real = real or forwards.get((ns, name, p.get("port")))
            if real:
                _publish(xds, ns, spec.get("selector") or {}, p, int(real), fixed)
    return fixed


def _publish(
    xds: XdsState,
    ns: str,
    selector: Mapping[str, str],
    port: Mapping[str, Any],
    real: int,
    fixed: dict[tuple[str, int], int],
) -> None:
    if not selector:
        return
    for pod in xds.pods:
        if pod.namespace != ns or pod.key not in xds.proxies or pod.kind != "gateway":
            continue
        if any(pod.labels.get(k) != v for k, v in selector.items()):
            continue
        target = port.get("targetPort", port.get("port"))
        if isinstance(target, str):
            target = pod.named_port(target) if not target.isdigit() else int(target)
        if target:
            fixed[(pod.key, int(target))] = real


#: The sandbox node's address (its InternalIP, the pods' ``hostIP``).
NODE_ADDRESS = "127.0.0.1"


class Reconciler:
    """Workloads and data plane of one sandbox (used under the sandbox's lock)."""

    def __init__(self, dp: DataPlane, internet: FakeInternet | None, pods_dir: pathlib.Path) -> None:
        self.dp = dp
        self.internet = internet
        self.pods_dir = pods_dir
        self.workloads: dict[str, tuple[WorkloadSpec, RunningWorkload]] = {}

    # -- workloads

    def _wanted(self, xds: XdsState, snap: Any) -> dict[str, WorkloadSpec]:
        wanted: dict[str, WorkloadSpec] = {}
        for pod in xds.pods:
            for c in pod.containers:
                if c.name == "istio-proxy" and pod.kind != "plain":
                    continue  # the proxy (injected, or the gateway charts' own): the data plane plays it
                wanted[f"{pod.key}/{c.name}"] = WorkloadSpec(
                    pod_name=pod.name,
                    namespace=pod.namespace,
                    image=c.image,
                    command=tuple(c.command),
                    args=tuple(c.args),
                    ports=tuple(p.containerPort for p in c.ports if p.containerPort is not None),
                    env={e.name: e.value for e in c.env if getattr(e, "value", None) is not None},
                    files=volume_files(snap, pod, c),
                    work_dir=self.pods_dir / pod.name,
                )
        return wanted

    def _sync_workloads(self, wanted: Mapping[str, WorkloadSpec]) -> None:
        for key in list(self.workloads):
            spec, running = self.workloads[key]
            if wanted.get(key) != spec:
                running.close()
                del self.workloads[key]
        for key, spec in wanted.items():
            if key not in self.workloads:
                if spec.work_dir is not None:
                    spec.work_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
                self.workloads[key] = (spec, start_workload(spec))

    def states(self, xds: XdsState) -> dict[str, dict[str, ContainerState]]:
        """Container states by pod key, as the kubelet would report them."""
        out: dict[str, dict[str, ContainerState]] = {}
        for pod in xds.pods:
            prefix = pod.key + "/"
            out[pod.key] = {
                key[len(prefix) :]: ContainerState(w.status, w.message)
                for key, (_, w) in self.workloads.items()
                if key.startswith(prefix)
            }
        return out

    def logs(self, pod: Pod) -> str:
        """The container logs of a pod without a proxy."""
        prefix = pod.key + "/"
        return "".join(w.logs() for k, (_, w) in self.workloads.items() if k.startswith(prefix))

    def container_log(self, pod: Pod, container: str) -> str:
        """One container's log (``kubectl logs POD -c CONTAINER``)."""
        found = self.workloads.get(f"{pod.key}/{container}")
        return found[1].logs() if found else ""

    # -- the network

    def _address_book(self, xds: XdsState) -> tuple[AddressBook, set[str]]:
        book = AddressBook()
        down: set[str] = set()
        for pod in xds.pods:
            for key, (_, w) in self.workloads.items():
                if not key.startswith(pod.key + "/"):
                    continue
                if w.status != "Running":
                    down.add(pod.ip)
                for cport, real in w.ports.items():
                    book.add(pod.ip, cport, real)
        if self.internet is not None:
            for host, ports in self.internet.ports.items():
                for port, real in ports.items():
                    # By name (DNS-resolved ServiceEntry clusters) and by its public IP
                    # (PassthroughCluster and resolution NONE forward to the original destination).
                    book.add(host, port, real)
                    book.add(public_ip(host), port, real)
        return book, down

    def reconcile(self, xds: XdsState, snap: Any, fixed: Mapping[tuple[str, int], int]) -> None:
        """Make workloads and the data plane match ``xds``; returns once listeners serve."""
        self._sync_workloads(self._wanted(xds, snap))
        book, down = self._address_book(xds)
        proxies = dict(xds.proxies)
        if down:
            proxies = {pid: mark_down(p, down) for pid, p in proxies.items()}
        if self.internet is not None:
            names = set(self.internet.ports)
            proxies = {pid: resolve_dns_endpoints(p, names) for pid, p in proxies.items()}
        # Clusters of HTTP2/gRPC ports speak HTTP/2 upstream (Istio: http2_protocol_options).
        http2 = frozenset(
            (host, p.port) for host, info in xds.services.items() for p in info.ports if p.protocol in _HTTP2
        )
        # A pod that is not Ready is no Service endpoint: kube-proxy rejects connections to a
        # node port with no ready endpoint (curl exit 7), so its listeners are not published.
        ready_fixed = {key: port for key, port in fixed.items() if _pod_ip(xds, key[0]) not in down}
        bound = self.dp.update(
            proxies,
            book,
            fixed_ports=ready_fixed,
            pod_ips={p.key: p.ip for p in xds.pods},
            http2_services=http2,
        )
        self._route_in_cluster(xds, book, bound, down)
        # kube-proxy's node ports: <node address>:<nodePort> from inside the cluster reaches the
        # Service's ready endpoints like it does from outside (a pod dialling $INGRESS_HOST, the
        # node's address, as the TCP traffic shifting task's `nc $INGRESS_HOST $TCP_INGRESS_PORT`
        # does). The sandbox's node address is 127.0.0.1, where those listeners are bound.
        for node_port in set(ready_fixed.values()):
            book.add(NODE_ADDRESS, node_port, node_port)

    def _route_in_cluster(
        self, xds: XdsState, book: AddressBook, bound: Mapping[tuple[str, int], int], down: set[str]
    ) -> None:
        """Address-book entries for what the cluster network does besides pod IPs."""
        # ServiceEntry addresses of outside hosts (auto-allocated 240.240.x.y with DNS proxying)
        # reach the same outside host: a pod dials them when the host is registered.
        if self.internet is not None:
            for host, svc in xds.services.items():
                if svc.kind != "ServiceEntry":
                    continue
                for port, real in self.internet.ports.get(host, {}).items():
                    for address in svc.addresses:
                        book.add(address, port, real)
        # An injected pod's own ports are captured by its sidecar: another sidecar's connection
        # to pod IP:port enters virtualInbound (the client sees the reply through both proxies).
        for pod in xds.pods:
            if pod.kind == "sidecar" and pod.key in xds.proxies and pod.ip not in down:
                for cport in sorted(set(pod.ports)):
                    book.add_capture(pod.ip, cport, self.dp.inbound_port(pod.key, cport))
        # A gateway pod's listeners are its pod ports: a sidecar reaching the egress gateway's
        # endpoint (pod IP:8080, the Service's targetPort) lands on that listener.
        gateway_ips = {p.key: p.ip for p in xds.pods if p.kind == "gateway"}
        for (pid, lport), real_port in bound.items():
            if pid in gateway_ips:
                book.add(gateway_ips[pid], lport, real_port)
        # kube-proxy: a Service's cluster IP:port reaches one ready endpoint (pod IP:targetPort),
        # which the pod's own sidecar captures if it has one. PassthroughCluster connections to
        # a cluster IP (no virtual host for the Host header) depend on it.
        for svc in xds.services.values():
            if svc.kind != "Service" or not svc.addresses:
                continue
            for sp in svc.ports:
                ready = [e for e in svc.endpoints.get(sp.port, ()) if e.address not in down]
                where = book.resolve(ready[0].address, ready[0].port, captured=True) if ready else None
                if where is not None:
                    for vip in svc.addresses:
                        book.add(vip, sp.port, where)

    def close(self) -> None:
        """Stop every workload."""
        for _, w in self.workloads.values():
            with contextlib.suppress(Exception):
                w.close()
        self.workloads.clear()


def _pod_ip(xds: XdsState, pod_key: str) -> str | None:
    return next((p.ip for p in xds.pods if p.key == pod_key), None)


def mark_down(proxy: ProxyConfig, down_ips: set[str]) -> ProxyConfig:
    """Endpoints of pods that are not Running are not healthy (ErrImagePull → 503 UH)."""
    clusters: dict[str, Cluster] = {}
    for name, c in proxy.clusters.items():
        if any(e.address in down_ips for e in c.endpoints):
            c = dataclasses.replace(c, endpoints=tuple(e for e in c.endpoints if e.address not in down_ips))
        clusters[name] = c
    return dataclasses.replace(proxy, clusters=clusters)


def volume_files(snap: Any, pod: Pod, container: Any) -> Mapping[str, bytes]:
    """Materialise the Secret/ConfigMap volumes a container mounts: ``mountPath/key`` → bytes."""
    files: dict[str, bytes] = {}
    volumes = {v.name: v for v in pod.volumes}
    for mount in container.volumeMounts:
        vol = volumes.get(mount.name)
        if vol is None:
            continue
        data, items = _volume_data(snap, pod, vol)
        names = {i.key: i.path for i in items} if items else {k: k for k in data}
        for key, rel in names.items():
            if key not in data:
                continue
            path = mount.mountPath.rstrip("/") + "/" + rel
            if mount.subPath:
                if mount.subPath != key:
                    continue
                path = mount.mountPath
            files[path] = data[key]
    return files


def _volume_data(snap: Any, pod: Pod, vol: Any) -> tuple[Mapping[str, bytes], tuple[Any, ...]]:
    if vol.secret is not None:
        sec = snap.get("Secret", pod.namespace, vol.secret.secretName)
        return (dict(sec.data) if sec is not None else {}), vol.secret.items
    if vol.configMap is not None:
        cm = snap.get("ConfigMap", pod.namespace, vol.configMap.name)
        data: dict[str, bytes] = {}
        if cm is not None:
            data = {k: v.encode() for k, v in cm.data.items()}
            data.update(cm.binaryData)
        return data, vol.configMap.items
    return {}, ()
