"""Bring your own cluster: attach to a cluster that already runs Istio (a workshop's shared cluster).

:class:`ConnectedSandbox` implements the ``Backend`` protocol over a kubeconfig. It detects the Istio
version and the gateways, works in a namespace per learner (labelled for sidecar injection), labels
everything it creates (``app.kubernetes.io/managed-by=gatewaykit``, ``gatewaykit.io/learner=<name>``)
and refuses to change or delete any object that lacks those labels: it never touches what it did
not create.
"""

from __future__ import annotations

import getpass
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gatewaykit.backends._kube import (
    MANAGED_BY,
    MANAGED_BY_VALUE,
    Document,
    KubeClient,
    load_documents,
    require_cluster_extra,
)
from gatewaykit.backends.base import ApplyReport, CurlResult, ManifestSource
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
    """The docs' ingress variables for a gateway Service (istio-behavior.md §0).

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


class ConnectedSandbox:
    """The ``Backend`` protocol on an existing cluster with Istio.

    Args:
        kubeconfig: path of the kubeconfig (default: ``$KUBECONFIG`` or ``~/.kube/config``).
        context: the kubeconfig context (default: the current one).
        namespace: the learner's namespace (default ``gk-<user name>``); created and labelled for
            sidecar injection if missing.
        learner: the learner's name, stored in the ``gatewaykit.io/learner`` label.
        ingress: the ingress gateway workload (default ``<istio namespace>/istio-ingressgateway``).
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
    ) -> None:
        self.learner = learner or getpass.getuser()
        self.namespace = namespace or learner_namespace(self.learner)
        if api_client_factory is None:
            config = require_cluster_extra("kubernetes.config")

            def api_client_factory() -> Any:
                return config.new_client_from_config(config_file=kubeconfig, context=context)

        self.kube = KubeClient(
            api_client_factory,
            labels={LABEL_LEARNER: learner_namespace(self.learner)[3:]},
            default_namespace=self.namespace,
        )
        self.istio = self._detect()
        self.kube.istio_namespace = self.istio.namespace
        self.ingress = ingress or f"{self.istio.namespace}/istio-ingressgateway"
        self._ensure_namespace()
        self._env = self._ingress_env()
        self._closed = False

    # -- discovery

    def _detect(self) -> IstioInfo:
        try:
            deps = self.kube.dynamic.resources.get(api_version="apps/v1", kind="Deployment").get()
        except ClusterError:
            raise
        except Exception as exc:
            raise ClusterError(f"cannot list Deployments: {exc}") from exc
        info = detect_istio(deps.to_dict()["items"])
        if info is None:
            raise NotReadyError(
                "istio",
                "no istiod found in this cluster: install Istio first (istioctl install) "
                "or use Sandbox.kind()",
            )
        return info

    def _ensure_namespace(self) -> None:
        existing = self.kube.get("v1", "Namespace", self.namespace)
        if existing is not None:
            labels = (existing.get("metadata") or {}).get("labels") or {}
            if labels.get(MANAGED_BY) != MANAGED_BY_VALUE:
                raise ClusterError(
                    f"namespace {self.namespace} exists and was not created by gatewaykit: choose another "
                    "namespace= (gatewaykit never changes what it did not create)"
                )
            return
        self.kube.apply(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": self.namespace, "labels": {"istio-injection": "enabled"}},
            }
        )

    def _ingress_env(self) -> dict[str, str]:
        ns, _, name = self.ingress.rpartition("/")
        svc = self.kube.get("v1", "Service", name, ns)
        if svc is None:
            return {}
        nodes = self.kube.dynamic.resources.get(api_version="v1", kind="Node").get().to_dict()["items"]
        addresses = []
        for want in ("ExternalIP", "InternalIP"):
            for node in nodes:
                for addr in (node.get("status") or {}).get("addresses") or []:
                    if addr.get("type") == want:
                        addresses.append(addr["address"])
        return ingress_env_from_service(svc, addresses)

    # -- the guard

    def _check_owned(self, docs: Sequence[Document], verb: str) -> list[Document]:
        """Objects that exist without our label are refused (apply) or skipped (delete)."""
        ours = []
        for doc in docs:
            res = self.kube.resource_for(doc)
            ns = (doc.namespace or self.namespace) if res.namespaced else None
            existing = self.kube.get(doc.api_version, doc.kind, doc.name, ns)
            if existing is None:
                ours.append(doc)
                continue
            labels = (existing.get("metadata") or {}).get("labels") or {}
            if labels.get(MANAGED_BY) != MANAGED_BY_VALUE:
                where = f" in namespace {ns}" if ns else ""
                raise ClusterError(
                    f"{doc.kind} {doc.name}{where} exists and was not created by gatewaykit: "
                    f"refusing to {verb} it"
                )
            ours.append(doc)
        return ours

    # -- Backend protocol

    @property
    def env(self) -> dict[str, str]:
        """The ingress variables of the cluster's ingress gateway."""
        return dict(self._env)

    def apply(self, source: ManifestSource) -> ApplyReport:
        """``kubectl apply -f`` into the learner's namespace; refuses objects gatewaykit did not create."""
        docs = load_documents(source)
        if any(d.kind == "IstioOperator" for d in docs):
            # An IstioOperator reinstalls the mesh for everyone: not a learner's call on a shared cluster.
            raise ClusterError(
                "IstioOperator changes the mesh of the whole shared cluster: ask its administrator "
                "(or use Sandbox.kind() / Sandbox.local() for mesh-wide settings)"
            )
        self._check_owned(docs, "change")
        report, changed = self.kube.apply(source)
        self.kube.wait_config_live(changed)
        return report

    def delete(self, source: ManifestSource) -> ApplyReport:
        """``kubectl delete -f`` of objects gatewaykit created; refuses the others."""
        docs = load_documents(source)
        self._check_owned(docs, "delete")
        report = self.kube.delete(source)
        gone = [
            (
                d.kind,
                d.api_version.split("/")[0] if "/" in d.api_version else "",
                d.namespace or self.namespace,
                d.name,
            )
            for d in docs
        ]
        self.kube.wait_config_live(gone, deleted=True)
        return report

    def curl(self, command: str, source: str | None = None, timeout: float = 30.0) -> CurlResult:
        """Real curl on this machine towards the ingress, or inside ``source``'s pod."""
        if source is None:
            from gatewaykit.backends.curl import run_curl

            return run_curl(command, env=self.env, timeout=timeout)
        from gatewaykit.backends.kind import curl_in_pod

        if "/" not in source:
            source = f"{self.namespace}/{source}"
        elif source.startswith("default/"):
            # Labs name the docs' namespace; a learner works in their own.
            source = f"{self.namespace}/{source.split('/', 1)[1]}"
        return curl_in_pod(self.kube, source, command, env=self.env, timeout=timeout)

    def logs(self, workload: str) -> str:
        """The ``istio-proxy`` log of a gateway or of a sidecar in the learner's namespace."""
        if workload.startswith("default/"):
            workload = f"{self.namespace}/{workload.split('/', 1)[1]}"
        ns, pod = self.kube.pod_for(workload)
        return self.kube.logs(ns, pod, container="istio-proxy")

    def reset(self) -> None:
        """Delete the learner's namespace (and so everything created in it)."""
        self.kube.delete({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}})

    def close(self) -> None:
        """Close the API connections (the learner's objects stay; ``reset()`` removes them)."""
        if not self._closed:
            self._closed = True
            self.kube.close()

    def __enter__(self) -> ConnectedSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
