"""The network a pod sees: cluster DNS, outside hosts, and where its connections are captured.

A curl run "inside" a workload (``sb.curl(..., source="default/curl")``, ``kubectl exec``) must
resolve names as the pod's resolver would and send every connection into the pod's sidecar with
its original destination, as iptables ``REDIRECT`` keeps it in ``SO_ORIGINAL_DST``.
:class:`MeshNet` computes the ``--connect-to`` rules for that from the current translation.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pathlib
import socket
import ssl
from collections.abc import Mapping

from gatewaykit._translate import Pod, XdsState
from gatewaykit.backends.curl import ConnectTo, nc_targets, resolve_overrides, url_hosts
from gatewaykit.dataplane.plane import DataPlane
from gatewaykit.envoy import Cluster, ProxyConfig
from gatewaykit.errors import SandboxError

__all__ = ["MeshNet", "auto_allocated", "is_ip", "pod_ca_bundle", "public_ip", "resolve_dns_endpoints"]


def public_ip(host: str) -> str:
    """The made-up public IPv4 address of a fake-internet host (stable, in 198.18.0.0/15).

    198.18.0.0/15 is reserved for benchmarking (RFC 2544): never routed on the real internet.
    """
    digest = hashlib.sha256(host.lower().encode()).digest()
    return f"198.{18 + (digest[0] & 1)}.{digest[1]}.{max(1, digest[2] % 255)}"


def auto_allocated(host: str) -> str:
    """Istio's DNS auto-allocation range for ServiceEntry hosts without addresses (240.240/16)."""
    digest = hashlib.sha256(host.lower().encode()).digest()
    return f"240.240.{digest[0]}.{max(1, digest[1] % 255)}"


def is_ip(host: str) -> bool:
    """Whether ``host`` is a literal IPv4/IPv6 address (``inet_pton``, strict)."""
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
        return True
    except OSError:
        return False


def resolve_dns_endpoints(proxy: ProxyConfig, names: set[str]) -> ProxyConfig:
    """Replace outside host names in DNS-resolved clusters' endpoints with their public IPs.

    STRICT_DNS/LOGICAL_DNS clusters hold resolved addresses, not names: Envoy's access log shows
    the outside host's IP as upstream host.
    """
    changed: dict[str, Cluster] = {}
    for name, c in proxy.clusters.items():
        if c.type in ("STRICT_DNS", "LOGICAL_DNS") and any(e.address in names for e in c.endpoints):
            changed[name] = dataclasses.replace(
                c,
                endpoints=tuple(
                    dataclasses.replace(e, address=public_ip(e.address)) if e.address in names else e
                    for e in c.endpoints
                ),
            )
    if not changed:
        return proxy
    return dataclasses.replace(proxy, clusters={**proxy.clusters, **changed})


def pod_ca_bundle(directory: pathlib.Path, internet_ca: bytes) -> pathlib.Path:
    """The CA bundle of a pod's image: the system's public CAs plus the fake internet's.

    A real pod trusts public CAs through the bundle in its image; the fake internet's root plays
    the public CA that signed httpbin.org, edition.cnn.com and www.google.com.
    """
    path = directory / "pod-ca-bundle.pem"
    if not path.exists():
        system = b""
        for candidate in (ssl.get_default_verify_paths().cafile, "/etc/ssl/certs/ca-certificates.crt"):
            if candidate and os.path.exists(candidate):
                system = pathlib.Path(candidate).read_bytes()
                break
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(internet_ca + b"\n" + system)
        os.replace(tmp, path)
    return path


class MeshNet:
    """Name resolution and connection capture for one translation."""

    def __init__(self, xds: XdsState, dp: DataPlane, internet: Mapping[str, Mapping[int, int]]) -> None:
        self.xds = xds
        self.dp = dp
        self.internet = internet

    def pod_dns(self, name: str, namespace: str) -> str | None:
        """The IP a pod's resolver gives for ``name`` (None: NXDOMAIN, curl exit 6).

        Services resolve to their cluster IP; ServiceEntry hosts to their ``addresses`` or, like
        Istio's DNS proxy with auto-allocation, to ``240.240.x.y``; outside hosts of the fake
        internet to their (stable, made-up) public IP.
        """
        if is_ip(name):
            return name
        n = name.rstrip(".").lower()
        if n == "localhost":  # the pod's /etc/hosts
            return "127.0.0.1"
        found = self.xds.dns(n, namespace)
        if found is not None and is_ip(found):
            return found
        if n in self.internet:
            return public_ip(n)
        if found is not None:
            return public_ip(found) if found in self.internet else auto_allocated(found)
        return None

    def pod_of(self, source: str) -> Pod:
        """The first pod of workload ``source`` (``"<ns>/<deployment>"`` or ``"<ns>/<pod>"``)."""
        pods = self.xds.pods_of(source) or tuple(p for p in self.xds.pods if p.key == source)
        if not pods:
            raise SandboxError(
                f'no workload "{source}" to run curl in: deploy it first (e.g. the curl sample, '
                "samples/curl/curl.yaml)"
            )
        return pods[0]

    def _names(self, pod: Pod) -> dict[str, set[int]]:
        """Every name the pod can resolve -> the ports a connection to it may use."""
        names: dict[str, set[int]] = {}
        for host, info in self.xds.services.items():
            ports = {p.port for p in info.ports} | {80, 443}
            aliases = {host}
            if info.kind == "Service":
                aliases |= {info.name + "." + info.namespace, info.name + "." + info.namespace + ".svc"}
                if info.namespace == pod.namespace:
                    aliases.add(info.name)
            aliases |= set(info.addresses)
            for a in aliases:
                names.setdefault(a, set()).update(ports)
        for host, served in self.internet.items():
            names.setdefault(host, set()).update(set(served) | {80, 443})  # -L may hop from 80 to 443
        return names

    def routes(self, source: str, command: str, env: Mapping[str, str]) -> tuple[list[ConnectTo], bool]:
        """``--connect-to`` rules that send a pod's outbound connections into its sidecar.

        Every name the pod can resolve (and every IP it could dial) gets, per port of interest,
        a rule to a data-plane port that delivers the connection to the sidecar with its
        original destination: listener choice, ``prefix_ranges`` chains and
        ``PassthroughCluster`` depend on it.

        Returns the rules and whether the command names a host the cluster DNS cannot resolve.
        """
        pod = self.pod_of(source)
        names = self._names(pod)
        overrides = resolve_overrides(command, env)
        urls = url_hosts(command, env) + nc_targets(command, env)
        for h, port, _ in urls:
            known = (h, port) in overrides or is_ip(h) or self.pod_dns(h, pod.namespace) is not None
            if h in names or known:
                names.setdefault(h, set()).add(port)
        unknown = any(h not in names for h, _, _ in urls)
        # Rules (and data-plane ports) only for the names this command can reach: its URLs and
        # the outside hosts a redirect (-L) may lead to -- not for every Service in the mesh.
        wanted = {h for h, _, _ in urls if h in names} | set(self.internet)
        rules: list[ConnectTo] = []
        for name in sorted(wanted):
            for port in sorted(names[name]):
                ip = overrides.get((name, port)) or self.pod_dns(name, pod.namespace)
                rule = None if ip is None else self._rule(pod, name, port, ip)
                if rule is not None:
                    rules.append(rule)
        return rules, unknown

    def _rule(self, pod: Pod, name: str, port: int, ip: str) -> ConnectTo | None:
        """Where the pod's connection to ``ip:port`` (for ``name``) goes.

        Loopback reaches what the pod itself serves on that port, uncaptured (Istio's iptables
        return traffic to 127.0.0.1: tools/istio-iptables ``ISTIO_OUTPUT``). A loopback port the pod
        does not serve is the sandbox node's (its node ports: ``$INGRESS_HOST`` is 127.0.0.1,
        where on kind it is the node's address, which a pod reaches through its sidecar). Other
        addresses go into the pod's sidecar with their original destination, or straight to the
        destination from a pod without one.
        """
        if ip in ("127.0.0.1", "::1"):
            own = self.dp.address_book.resolve(pod.ip, port)
            if own is not None and own[0] == "127.0.0.1":
                return ConnectTo(name, port, own[1], own[0])
        if pod.key in self.xds.proxies:
            return ConnectTo(name, port, self.dp.destination_port(pod.key, ip, port))
        target = self.dp.address_book.resolve(ip, port)
        return None if target is None else ConnectTo(name, port, target[1], target[0])
