"""Helpers for the translation tables: snapshots from YAML and comparable proxy summaries.

(A uniquely named module, not conftest: several test directories have a conftest.py.)
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Sequence
from typing import Any

import yaml

from gatewaykit import samples
from gatewaykit._translate import XdsState, translate
from gatewaykit.certs import make_ca, make_cert
from gatewaykit.envoy import ProxyConfig, Route
from gatewaykit.resources.meta import Source
from gatewaykit.resources.models import Resource, from_dict

DEFAULT_MESH = pathlib.Path(__file__).resolve().parents[2] / "gatewaykit" / "data" / "default-mesh.yaml"
#: Istio 1.27's ``samples/httpbin/httpbin.yaml`` as the project ships it (go-httpbin on 8080 behind
#: port 8000, in the namespace it is applied to).
HTTPBIN_SAMPLE = (samples.path() / "httpbin" / "httpbin.yaml").read_text()

#: A real certificate and key: Envoy rejects placeholder PEM, so a chain that must handshake
#: needs material that loads.
_CA = make_ca()
_PAIR = make_cert("httpbin.example.com", "httpbin organization", _CA)


def pem_data(**extra: str) -> str:
    """A Secret's ``stringData`` flow mapping with a real ``tls.crt``/``tls.key`` (plus ``extra``
    keys, e.g. ``ca.crt``), for YAML written in a test."""
    items = {"tls.crt": _PAIR.cert_pem.decode(), "tls.key": _PAIR.key_pem.decode(), **extra}
    return "{" + ", ".join(f"{k}: {json.dumps(v)}" for k, v in items.items()) + "}"


#: A CA certificate (``ca.crt``) that loads.
PEM_CA = _CA.cert_pem.decode()


class ListSnapshot:
    """A minimal snapshot (``list(kind)`` in creation order) built straight from models.

    Used where a test needs config the validating store would refuse; everything else goes
    through the real :class:`gatewaykit.store.ConfigStore`.
    """

    def __init__(self, objects: Sequence[Resource]) -> None:
        self._objects = list(objects)

    def list(self, kind: str) -> tuple[Any, ...]:
        return tuple(o for o in self._objects if o.kind == kind)


_MESH_MODELS: list[Resource] = []


def raw_snapshot(text: str, *, default_mesh: bool = True) -> ListSnapshot:
    """Models from YAML via ``yaml.safe_load_all`` + ``from_dict`` (no validation)."""
    if not _MESH_MODELS:
        for i, doc in enumerate(yaml.safe_load_all(DEFAULT_MESH.read_text())):
            _MESH_MODELS.append(from_dict(doc, Source("default-mesh.yaml", i)))
    objs: list[Resource] = list(_MESH_MODELS) if default_mesh else []
    for i, doc in enumerate(yaml.safe_load_all(text)):
        if doc:
            objs.append(from_dict(doc, Source("test.yaml", i)))
    return ListSnapshot(objs)


def snapshot_from_yaml(text: str, *, default_mesh: bool = True) -> Any:
    """Apply the default mesh and ``text`` to a real ConfigStore and return its snapshot."""
    from gatewaykit.resources.codecs import load
    from gatewaykit.store import ConfigStore

    store = ConfigStore()
    if default_mesh:
        store.apply(load(DEFAULT_MESH.read_text(), name="default-mesh.yaml"))
    if text.strip():
        # Create the namespaces the config uses (the API server refuses objects in missing ones).
        existing = {"default", "istio-system"}
        needed = []
        for doc in yaml.safe_load_all(text):
            ns = ((doc or {}).get("metadata") or {}).get("namespace") if isinstance(doc, dict) else None
            if isinstance(ns, str) and ns not in existing and ns not in needed:
                needed.append(ns)
        if needed:
            store.apply(
                load([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in needed])
            )
        store.apply(load(text, name="test.yaml"))
    return store.snapshot()


INGRESS = "istio-system/istio-ingressgateway"
EGRESS = "istio-system/istio-egressgateway"


def xds(text: str, *, validate: bool = True, **kw: Any) -> XdsState:
    """Translate the default mesh plus ``text`` (through the real store when ``validate``)."""
    snap = snapshot_from_yaml(text) if validate else raw_snapshot(text)
    return translate(snap, **kw)


def proxy(text: str, workload: str = INGRESS, *, validate: bool = True) -> ProxyConfig:
    """The ProxyConfig of ``workload`` after applying ``text``."""
    p = xds(text, validate=validate).proxy_for(workload)
    assert p is not None, f"no proxy for {workload}"
    return p


def route_target(r: Route) -> str:
    """One word for what a route does: its cluster, ``redirect``, ``direct:<status>``, weights."""
    if r.route is not None:
        if r.route.cluster:
            return r.route.cluster
        return ",".join(f"{w.name}={w.weight}" for w in r.route.weighted_clusters)
    if r.redirect is not None:
        return f"redirect:{r.redirect.response_code}"
    if r.direct_response is not None:
        return f"direct:{r.direct_response.status}"
    return "?"


def summary(p: ProxyConfig) -> dict[str, Any]:
    """Names the tables compare: listeners, chains (server names), route configs, vhosts, routes."""
    return {
        "listeners": [lst.name for lst in p.listeners],
        "server_names": {
            lst.name: [list(c.filter_chain_match.server_names) for c in lst.filter_chains]
            for lst in p.listeners
        },
        "route_configs": sorted(p.route_configs),
        "vhosts": {
            name: [(vh.name, list(vh.domains)) for vh in rc.virtual_hosts]
            for name, rc in p.route_configs.items()
        },
        "routes": {
            (name, vh.name): [route_target(r) for r in vh.routes]
            for name, rc in p.route_configs.items()
            for vh in rc.virtual_hosts
        },
        "require_tls": {
            (name, vh.name): vh.require_tls for name, rc in p.route_configs.items() for vh in rc.virtual_hosts
        },
        "tcp": {
            lst.name: [
                (c.tcp_proxy.cluster or ",".join(w.name for w in c.tcp_proxy.weighted_clusters))
                for c in lst.filter_chains
                if c.tcp_proxy is not None
            ]
            for lst in p.listeners
        },
        "log": list(p.log),
    }
