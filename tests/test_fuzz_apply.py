"""Property test: arbitrary YAML and arbitrary nested dicts fed to load + apply.

Nothing but gatewaykit's own errors escapes, and a rejected apply leaves the store unchanged.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatewaykit.errors import GatewayKitError
from gatewaykit.resources.codecs import load
from gatewaykit.store import ConfigStore

BASE = yaml.safe_load_all(
    """
apiVersion: v1
kind: Namespace
metadata: {name: default}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [a.example.com]
    tls: {mode: SIMPLE, credentialName: cred}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs}
spec:
  hosts: [a.example.com]
  gateways: [gw]
  http:
  - match: [{uri: {prefix: /}}]
    route: [{destination: {host: httpbin, port: {number: 8000}}, weight: 100}]
    timeout: 5s
  tls:
  - match: [{sniHosts: [a.example.com]}]
    route: [{destination: {host: httpbin}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: dr}
spec:
  host: httpbin
  trafficPolicy: {tls: {mode: SIMPLE}, portLevelSettings: [{port: {number: 80}, tls: {mode: DISABLE}}]}
  subsets: [{name: v1, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: se}
spec:
  hosts: [api.example.com]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: DNS
  endpoints: [{address: api.example.com, ports: {tls: 443}}]
---
apiVersion: v1
kind: Secret
metadata: {name: cred}
type: kubernetes.io/tls
stringData: {tls.crt: a, tls.key: b}
---
apiVersion: v1
kind: Service
metadata: {name: httpbin}
spec: {ports: [{port: 8000, name: http}]}
"""
)
BASE_DOCS: list[dict[str, Any]] = list(BASE)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(
        ["*", "a.example.com", "HTTP", "HTTPS", "SIMPLE", "MUTUAL", "1ms", "0s", "", "ns/x", "mesh"]
    ),
)
keys = st.one_of(
    st.text(max_size=8),
    st.sampled_from(
        [
            "spec",
            "metadata",
            "name",
            "namespace",
            "servers",
            "port",
            "hosts",
            "tls",
            "http",
            "route",
            "destination",
            "host",
            "number",
            "protocol",
            "mode",
            "subsets",
            "ports",
            "endpoints",
            "match",
            "uri",
            "prefix",
            "data",
            "stringData",
            "type",
            "kind",
            "apiVersion",
            "gateways",
            "timeout",
            "resolution",
            "sniHosts",
        ]
    ),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)),
    max_leaves=20,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out.extend(_paths(v, prefix + (k,)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(_paths(v, prefix + (i,)))
    return out


@st.composite
def mutated_manifests(draw: st.DrawFn) -> list[Any]:
    """Valid manifests with a few random subtrees replaced or added."""
    docs = copy.deepcopy(BASE_DOCS)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        index = draw(st.integers(min_value=0, max_value=len(docs) - 1))
        paths = _paths(docs[index])[1:]
        if not paths:
            continue
        path = draw(st.sampled_from(paths))
        parent: Any = docs[index]
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()) and isinstance(parent, dict):
            parent[draw(keys)] = draw(values)
        else:
            parent[path[-1]] = draw(values)
    return docs


def _state(store: ConfigStore) -> list[tuple[Any, ...]]:
    snap = store.snapshot()
    return [(k, snap.creation_index(k), snap.raw(k)) for k in snap.keys()]


def _seeded_store() -> ConfigStore:
    store = ConfigStore()
    store.apply(load(BASE_DOCS[:1]))
    store.apply(load(BASE_DOCS[1:]))
    return store


def _apply_checked(store: ConfigStore, source: Any) -> None:
    before = _state(store)
    try:
        manifests = load(source, name="fuzz.yaml")
    except GatewayKitError:
        assert _state(store) == before
        return
    try:
        store.apply(manifests)
    except GatewayKitError:
        assert _state(store) == before
        return
    # An accepted apply must leave a readable snapshot (typed models build without error).
    snap = store.snapshot()
    for key in snap.keys():
        snap.get(key.kind, key.namespace, key.name)


COMMON = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


@COMMON
@given(st.text(max_size=300))
def test_arbitrary_text(text: str) -> None:
    _apply_checked(_seeded_store(), text)


@COMMON
@given(st.lists(values, min_size=1, max_size=3))
def test_arbitrary_yaml_documents(docs: list[Any]) -> None:
    text = yaml.safe_dump_all(docs, allow_unicode=True)
    _apply_checked(_seeded_store(), text)


@COMMON
@given(st.lists(st.dictionaries(keys, values, max_size=6), min_size=1, max_size=3))
def test_arbitrary_nested_dicts(docs: list[dict[str, Any]]) -> None:
    _apply_checked(_seeded_store(), docs)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_manifests())
def test_mutated_valid_manifests(docs: list[Any]) -> None:
    _apply_checked(_seeded_store(), docs)
    _apply_checked(_seeded_store(), yaml.safe_dump_all(docs))
