"""Property test: arbitrary YAML and arbitrary nested dicts fed to load + apply.

Nothing but gatewaykit's own errors escapes, a rejected apply leaves the store unchanged, and what
is accepted translates (the sandbox's next step).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatewaykit._translate import translate
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
    _checked_everywhere(store, source, "fuzz.yaml")


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


# ---------------------------------------------------------------------------------------------
# Bad input of every kind ends in a gatewaykit error -- never a Python exception, never the
# API server's InternalError (a validator that did not foresee the input) -- and changes nothing.

DEPLOYMENT = yaml.safe_load(
    """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: docker.io/kong/httpbin
        ports: [{containerPort: 80}]
        env: [{name: A, value: b}]
        resources: {limits: {cpu: 100m}}
      volumes: [{name: v, secret: {secretName: cred}}]
"""
)
#: A value of every JSON type (and a few awkward ones) for every place of a document.
ODD_VALUES = [None, True, 1, -1, 1.5, "x", "", [], {}, [1], {"a": 1}, 2**40, [None], {"a": None}]


def _checked_everywhere(store: ConfigStore, source: Any, name: str = "bad.yaml") -> str:
    """Apply ``source``; an accepted change must also translate. Returns the error text, or ""."""
    before = _state(store)
    try:
        store.apply(load(source, name=name))
    except GatewayKitError as exc:
        assert _state(store) == before
        assert "Internal error" not in str(exc), str(exc)
        return str(exc)
    snap = store.snapshot()
    for key in snap.keys():
        snap.get(key.kind, key.namespace, key.name)
    translate(snap)  # what the sandbox does next: it must not fail on what admission let in
    return ""


def test_wrong_types_at_every_level_of_gateway_service_deployment() -> None:
    docs = [d for d in BASE_DOCS if d["kind"] in ("Gateway", "Service")] + [DEPLOYMENT]
    rejected = 0
    for doc in docs:
        for path in _paths(doc)[1:]:
            for value in ODD_VALUES:
                mutated = copy.deepcopy(doc)
                parent: Any = mutated
                for step in path[:-1]:
                    parent = parent[step]
                parent[path[-1]] = value
                rejected += bool(_checked_everywhere(_seeded_store(), [mutated]))
    assert rejected > 500  # most of these are refused (with the API server's words)


@pytest.mark.parametrize(
    "data",
    [
        b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: caf\xe9}\n",  # not UTF-8
        bytes(range(256)) * 8,  # binary junk
        b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: x\x00y}\n",  # NUL
        b"\xff\xfe" + "kind: [\n".encode("utf-16-le"),  # UTF-16, broken YAML
        b"a: " + b"[" * 3000 + b"]" * 3000 + b"\n",  # deep nesting
        b'{"a": ' + b"[" * 3000 + b"]" * 3000 + b"}",  # deep JSON
        b"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: "
        + b"9" * 5000
        + b"}\n",
        b"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: 1e400}\n",
        b"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: .nan}\n",
        b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: &a {b: *a}\n",
        b"kind: !!timestamp 2024-13-45\n",
        b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: !!binary AAAA\n",
    ],
    ids=[
        "latin1",
        "binary",
        "nul",
        "utf16",
        "deep-yaml",
        "deep-json",
        "5000-digits",
        "1e400",
        "nan",
        "self-alias",
        "bad-timestamp",
        "binary-tag",
    ],
)
def test_bad_files_end_in_gatewaykit_errors(tmp_path: Any, data: bytes) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(data)
    _checked_everywhere(_seeded_store(), path)
