"""Bring your own cluster: attach to a cluster that already runs Istio (a workshop's shared cluster).

:class:`ConnectedSandbox` implements the ``Backend`` protocol over a kubeconfig. It detects the Istio
version and the gateways, works in a namespace per learner (labelled for sidecar injection), labels
everything it creates (``app.kubernetes.io/managed-by=gatewaykit``, ``gatewaykit.io/learner=<name>``)
and refuses to change or delete any object that lacks those labels: it never touches what it did
not create.
"""

from __future__ import annotations

import getpass
import os
import pathlib
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from gatewaykit.backends._clusterbackend import ClusterBackend
from gatewaykit.backends._errormap import kube_errors
from gatewaykit.backends._kube import (
    MANAGED_BY,
    MANAGED_BY_VALUE,
    Document,
    KubeClient,
    load_documents,
    require_cluster_extra,
)
from gatewaykit.backends.base import ApplyReport, ManifestSource
from gatewaykit.errors import ClusterError, NotReadyError

__all__ = [
    "LABEL_LEARNER",
    "ConnectedSandbox",
    "IstioInfo",
    "detect_istio",
    "ingress_env_from_service",
    "learner_namespace",
]

LABEL_LEARNER = "gatewaykit.io/learner"


@dataclass(frozen=True, slots=True)
class IstioInfo:
    """What runs in the cluster: Istio's version and namespace, and the gateways found."""

    version: str
    namespace: str
    gateways: tuple[str, ...]  # "<namespace>/<deployment>"


def learner_namespace(learner: str) -> str:
    """A DNS-1123 namespace name for a learner: ``gk-<learner>`` lower-cased, at most 63 chars."""
    slug = re.sub(r"[^a-z0-9-]+", "-", learner.lower()).strip("-") or "learner"
    return f"gk-{slug}"[:63].rstrip("-")


def _image_tag(image: str) -> str:
    ref = image.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else ""


def detect_istio(deployments: Sequence[Mapping[str, Any]]) -> IstioInfo | None:
    """Istio's version and gateways from the cluster's Deployments (as API dicts).

    istiod is the Deployment labelled ``app=istiod``; its version is its ``discovery`` container's
    image tag. Gateways are Deployments labelled ``istio=<something>gateway`` or with the injection
    template annotation ``inject.istio.io/templates: gateway``.
    """
    version, namespace, gateways = "", "", []
    for dep in deployments:
        meta = dep.get("metadata") or {}
        labels = meta.get("labels") or {}
        tmpl = ((dep.get("spec") or {}).get("template") or {}).get("metadata") or {}
        tlabels = tmpl.get("labels") or {}
        annotations = tmpl.get("annotations") or {}
        if labels.get("app") == "istiod" or tlabels.get("app") == "istiod":
            namespace = str(meta.get("namespace", ""))
            for c in ((dep.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []:
                if c.get("name") == "discovery" or not version:
                    version = _image_tag(str(c.get("image", ""))) or version
        elif str(tlabels.get("istio", labels.get("istio", ""))).endswith("gateway") or (
            annotations.get("inject.istio.io/templates") == "gateway"
        ):
            gateways.append(f"{meta.get('namespace')}/{meta.get('name')}")
    if not namespace:
        return None
    return IstioInfo(version or "unknown", namespace, tuple(sorted(gateways)))


def ingress_env_from_service(
    service: Mapping[str, Any], node_addresses: Sequence[str] = ()
) -> dict[str, str]:
    """The docs' ingress variables for a gateway Service (docs/behaviour.md §0).

    A LoadBalancer with an address: that address and the Service ports named ``http2``/``https``/
    ``tcp`` (the docs' first recipe); otherwise the NodePorts on the first node address (the docs'
    "environment does not support external load balancers" recipe).
    """
    spec = service.get("spec") or {}
    ports = {p.get("name"): p for p in spec.get("ports") or []}
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    env: dict[str, str] = {}
    if spec.get("type") == "LoadBalancer" and ingress:
        env["INGRESS_HOST"] = str(ingress[0].get("ip") or ingress[0].get("hostname"))
        key = "port"
    else:
        if not node_addresses:
            raise ClusterError(
                "the ingress gateway Service has no load balancer address and no node address is known"
            )
        env["INGRESS_HOST"] = node_addresses[0]
        key = "nodePort"
    for var, name in (
        ("INGRESS_PORT", "http2"),
        ("SECURE_INGRESS_PORT", "https"),
        ("TCP_INGRESS_PORT", "tcp"),
    ):
        if name in ports and ports[name].get(key):
            env[var] = str(ports[name][key])
    return env


class ConnectedSandbox(ClusterBackend):
    """The ``Backend`` protocol on an existing cluster with Istio.

    Args:
        kubeconfig: path of the kubeconfig (default: ``$KUBECONFIG`` or ``~/.kube/config``).
        context: the kubeconfig context (default: the current one).
        namespace: the learner's namespace (default ``gk-<user name>``); created and labelled for
            sidecar injection if missing.
        learner: the learner's name, stored in the ``gatewaykit.io/learner`` label.
        ingress: the ingress gateway workload (default ``<istio namespace>/istio-ingressgateway``).
        work_dir: the backend's private directory (default: a fresh temporary one, mode 0700); the
            terminal's kubeconfig (the chosen context only, mode 0600) is written there.
    """

    def __init__(
        self,
        kubeconfig: str | None = None,
        context: str | None = None,
        namespace: str | None = None,
        *,
        learner: str | None = None,
        ingress: str | None = None,
        api_client_factory: Any = None,
        work_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.learner = learner or getpass.getuser()
        self.label = learner_namespace(self.learner)[3:]
        self.namespace = namespace or learner_namespace(self.learner)
        self.work_dir = (
            pathlib.Path(work_dir) if work_dir else pathlib.Path(tempfile.mkdtemp(prefix="gatewaykit-"))
        )
        self.work_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._kubeconfig_source, self._context = kubeconfig, context
        if api_client_factory is None:
            config = require_cluster_extra("kubernetes.config")

            def api_client_factory() -> Any:
                with kube_errors("kubeconfig"):
                    return config.new_client_from_config(config_file=kubeconfig, context=context)

        self._closed = False
        self.kube = KubeClient(
            api_client_factory, labels={LABEL_LEARNER: self.label}, default_namespace=self.namespace
        )
        self.istio = self._detect()
        self.kube.istio_namespace = self.istio.namespace
        self.ingress = ingress or f"{self.istio.namespace}/istio-ingressgateway"
        self._ensure_namespace()
        self._env = self._ingress_env()
        self._write_kubeconfig()

    # -- discovery

    def _detect(self) -> IstioInfo:
        assert self.kube is not None
        with kube_errors("listing Deployments"):
            deps = self.kube.dynamic.resources.get(api_version="apps/v1", kind="Deployment").get()
        info = detect_istio(deps.to_dict()["items"])
        if info is None:
            raise NotReadyError(
                "istio",
                "no istiod found in this cluster: install Istio first (istioctl install) "
                "or use Sandbox.kind()",
            )
        return info

    def _ensure_namespace(self) -> None:
        assert self.kube is not None
        existing = self.kube.get("v1", "Namespace", self.namespace)
        if existing is not None:
            self._refuse_unless_ours(existing, "Namespace", self.namespace, None, "use")
            return
        self.kube.apply(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": self.namespace, "labels": {"istio-injection": "enabled"}},
            }
        )

    def _ingress_env(self) -> dict[str, str]:
        assert self.kube is not None
        ns, _, name = self.ingress.rpartition("/")
        svc = self.kube.get("v1", "Service", name, ns)
        if svc is None:
            return {}
        spec = svc.get("spec") or {}
        if spec.get("type") == "LoadBalancer" and ((svc.get("status") or {}).get("loadBalancer") or {}).get(
            "ingress"
        ):
            return ingress_env_from_service(svc)
        with kube_errors("listing Nodes"):
            nodes = self.kube.dynamic.resources.get(api_version="v1", kind="Node").get().to_dict()["items"]
        addresses = []
        for want in ("ExternalIP", "InternalIP"):
            for node in nodes:
                for addr in (node.get("status") or {}).get("addresses") or []:
                    if addr.get("type") == want:
                        addresses.append(addr["address"])
        return ingress_env_from_service(svc, addresses)

    def _write_kubeconfig(self) -> None:
        """The terminal's kubeconfig: the chosen context only, its namespace the learner's, 0600."""
        path = pathlib.Path(
            os.path.expanduser(
                self._kubeconfig_source or os.environ.get("KUBECONFIG") or "~/.kube/config"
            ).split(os.pathsep)[0]
        )
        if not path.is_file():
            return  # an API client given directly (tests): no file to derive one from
        cfg = yaml.safe_load(path.read_text()) or {}
        name = self._context or cfg.get("current-context")
        ctx = next((c for c in cfg.get("contexts") or [] if c.get("name") == name), None)
        if ctx is None:
            raise ClusterError(f'context "{name}" not found in {path}')
        ctx = {"name": name, "context": {**ctx["context"], "namespace": self.namespace}}
        keep = {"cluster": ctx["context"].get("cluster"), "user": ctx["context"].get("user")}
        out = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": name,
            "contexts": [ctx],
            "clusters": [c for c in cfg.get("clusters") or [] if c.get("name") == keep["cluster"]],
            "users": [u for u in cfg.get("users") or [] if u.get("name") == keep["user"]],
        }
        fd = os.open(self.kubeconfig, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            yaml.safe_dump(out, f)

    # -- the guard

    def _refuse_unless_ours(
        self, existing: Mapping[str, Any], kind: str, name: str, ns: str | None, verb: str
    ) -> None:
        """gatewaykit changes only what it created for this learner: both documented labels."""
        labels = (existing.get("metadata") or {}).get("labels") or {}
        where = f" in namespace {ns}" if ns else ""
        if labels.get(MANAGED_BY) != MANAGED_BY_VALUE:
            raise ClusterError(
                f"{kind} {name}{where} exists and was not created by gatewaykit: refusing to {verb} it"
                + (" (choose another namespace=)" if kind == "Namespace" else "")
            )
        if labels.get(LABEL_LEARNER) != self.label:
            raise ClusterError(
                f"{kind} {name}{where} belongs to learner {labels.get(LABEL_LEARNER)!r}, not {self.label!r}: "
                f"refusing to {verb} it"
            )

    def _check_owned(self, docs: Sequence[Document], verb: str) -> None:
        """Objects that exist without our labels (or another learner's) are refused."""
        assert self.kube is not None
        for doc in docs:
            res = self.kube.resource_for(doc)
            ns = (doc.namespace or self.namespace) if res.namespaced else None
            existing = self.kube.get(doc.api_version, doc.kind, doc.name, ns)
            if existing is not None:
                self._refuse_unless_ours(existing, doc.kind, doc.name, ns, verb)

    # -- Backend protocol

    def _in_mesh_source(self, source: str) -> str:
        """Labs name the docs' ``default`` namespace; a learner works in their own."""
        if "/" not in source:
            return f"{self.namespace}/{source}"
        if source.startswith("default/"):
            return f"{self.namespace}/{source.split('/', 1)[1]}"
        return source

    def apply(self, source: ManifestSource) -> ApplyReport:
        """``kubectl apply -f`` into the learner's namespace; refuses objects gatewaykit did not create."""
        kube = self._check_open()
        docs = load_documents(source)
        if any(d.kind == "IstioOperator" for d in docs):
            # An IstioOperator reinstalls the mesh for everyone: not a learner's call on a shared cluster.
            raise ClusterError(
                "IstioOperator changes the mesh of the whole shared cluster: ask its administrator "
                "(or use Sandbox.kind() / Sandbox.local() for mesh-wide settings)"
            )
        self._check_owned(docs, "change")
        report, changed = kube.apply(docs)
        kube.wait_config_live(changed)
        return report

    def delete(self, source: ManifestSource) -> ApplyReport:
        """``kubectl delete -f`` of objects gatewaykit created; refuses the others."""
        kube = self._check_open()
        docs = load_documents(source)
        self._check_owned(docs, "delete")
        report = kube.delete(docs)
        gone = [
            (
                d.kind,
                d.api_version.split("/")[0] if "/" in d.api_version else "",
                d.namespace or self.namespace,
                d.name,
            )
            for d in docs
        ]
        kube.wait_config_live(gone, deleted=True)
        return report

    def service_address(self, namespace: str, name: str, port: int) -> tuple[str, int]:
        """The Service's LoadBalancer address when it has one, else a port-forward held to it."""
        p = self._service_port(namespace, name, port)
        svc = p["_service"]
        ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        if (svc.get("spec") or {}).get("type") == "LoadBalancer" and ingress:
            return str(ingress[0].get("ip") or ingress[0].get("hostname")), port
        return self._port_forward(namespace, name, port)

    def reset(self) -> None:
        """Delete the learner's namespace (and so everything created in it)."""
        self._check_open().delete(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}}
        )

    def close(self) -> None:
        """Close the API connections (the learner's objects stay; ``reset()`` removes them)."""
        if not self._closed:
            self._closed = True
            self._close_common()
