"""ConfigStore: kubectl apply/delete semantics, creation order, all-or-nothing applies
(docs/behaviour.md §3, §10)."""

from __future__ import annotations

import base64

import pytest

from gatewaykit.errors import ValidationError
from gatewaykit.resources.codecs import load
from gatewaykit.resources.meta import ResourceKey
from gatewaykit.store import ConfigStore

NAMESPACES = "".join(
    f"---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n" for ns in ("default", "istio-system")
)


def gateway(name: str = "httpbin-gateway", host: str = "httpbin.example.com", ns: str | None = None) -> str:
    ns_line = f"\n  namespace: {ns}" if ns else ""
    return f"""---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: {name}{ns_line}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 80, name: http, protocol: HTTP}}
    hosts: ["{host}"]
"""


SERVICE = """---
apiVersion: v1
kind: Service
metadata:
  name: httpbin
spec:
  ports: [{port: 8000, name: http, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: httpbin
spec:
  selector: {matchLabels: {app: httpbin}}
  template:
    metadata: {labels: {app: httpbin}}
    spec:
      containers: [{name: httpbin, image: mccutchen/go-httpbin}]
"""


@pytest.fixture
def store() -> ConfigStore:
    s = ConfigStore()
    s.apply(load(NAMESPACES))
    return s


def test_starts_empty() -> None:
    assert len(ConfigStore().snapshot()) == 0


def test_created_configured_unchanged(store: ConfigStore) -> None:
    assert store.apply(load(gateway() + SERVICE)).lines == (
        "gateway.networking.istio.io/httpbin-gateway created",
        "service/httpbin created",
        "deployment.apps/httpbin created",
    )
    assert store.apply(load(gateway())).lines == ("gateway.networking.istio.io/httpbin-gateway unchanged",)
    assert store.apply(load(gateway(host="other.example.com"))).lines == (
        "gateway.networking.istio.io/httpbin-gateway configured",
    )


def test_namespace_defaults_to_default(store: ConfigStore) -> None:
    store.apply(load(gateway()))
    snap = store.snapshot()
    key = ResourceKey("Gateway", "default", "httpbin-gateway")
    assert key in snap
    assert snap.raw(key)["metadata"]["namespace"] == "default"
    assert snap.get("Gateway", "default", "httpbin-gateway") is not None
    assert snap.get("Namespace", "", "istio-system") is not None


def test_creation_order_survives_configured_and_resets_on_recreate(store: ConfigStore) -> None:
    store.apply(load(gateway("a") + gateway("b")))
    a, b = ResourceKey("Gateway", "default", "a"), ResourceKey("Gateway", "default", "b")
    first = store.snapshot()
    assert first.creation_index(a) < first.creation_index(b)
    store.apply(load(gateway("a", host="changed.example.com")))
    assert store.snapshot().creation_index(a) == first.creation_index(a)
    assert store.delete(load(gateway("a"))).lines == ('gateway.networking.istio.io "a" deleted',)
    store.apply(load(gateway("a")))
    after = store.snapshot()
    assert after.creation_index(a) > after.creation_index(b)
    assert [g.key.name for g in after.list("Gateway")] == ["b", "a"]


def test_snapshot_is_immutable(store: ConfigStore) -> None:
    store.apply(load(gateway()))
    snap = store.snapshot()
    key = ResourceKey("Gateway", "default", "httpbin-gateway")
    snap.raw(key)["spec"]["servers"] = []
    assert snap.raw(key)["spec"]["servers"]
    store.delete(load(gateway()))
    assert key in snap and key not in store.snapshot()


def test_rejected_apply_changes_nothing(store: ConfigStore) -> None:
    store.apply(load(gateway()))
    before = store.snapshot()
    bad = gateway("ok", host="ok.example.com") + gateway("bad", host="httpbin") + SERVICE
    with pytest.raises(ValidationError) as err:
        store.apply(load(bad, name="gw.yaml"))
    assert str(err.value) == (
        'Error from server: error when creating "gw.yaml": admission webhook "validation.istio.io" denied '
        "the "
        "request: configuration is invalid: short names (non FQDN) are not allowed"
    )
    assert err.value.errors == ("short names (non FQDN) are not allowed",)
    after = store.snapshot()
    assert after.keys() == before.keys()
    assert after is before  # nothing changed, not even the generation


def test_rejected_update_uses_the_patch_path(store: ConfigStore) -> None:
    store.apply(load(gateway()))
    with pytest.raises(ValidationError) as err:
        store.apply(load(gateway(host="httpbin"), name="gw.yaml"))
    text = str(err.value)
    assert text.startswith("Error from server: error when applying patch:\n{")
    assert text.endswith(
        'Name: "httpbin-gateway", Namespace: "default"\nfor: "gw.yaml": error when patching "gw.yaml": '
        "admission "
        'webhook "validation.istio.io" denied the request: configuration is invalid: short names (non FQDN) '
        "are "
        "not allowed"
    )


def test_missing_namespace(store: ConfigStore) -> None:
    with pytest.raises(ValidationError) as err:
        store.apply(load(gateway(ns="foo"), name="x.yaml"))
    assert str(err.value) == (
        'Error from server (NotFound): error when creating "x.yaml": namespaces "foo" not found'
    )


def test_namespace_created_earlier_in_the_same_apply_counts(store: ConfigStore) -> None:
    text = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: foo\n" + gateway(ns="foo")
    assert store.apply(load(text)).lines == (
        "namespace/foo created",
        "gateway.networking.istio.io/httpbin-gateway created",
    )


def test_warnings_are_returned_and_object_created(store: ConfigStore) -> None:
    text = gateway().replace("protocol: HTTP}", "protocol: HTTPS}") + "    tls: {credentialName: c}\n"
    result = store.apply(load(text))
    assert result.warnings == ("PASSTHROUGH mode does not use certificates, they will be ignored",)
    assert str(result) == (
        "Warning: PASSTHROUGH mode does not use certificates, they will be ignored\n"
        "gateway.networking.istio.io/httpbin-gateway created"
    )


def test_dry_run_changes_nothing(store: ConfigStore) -> None:
    result = store.apply(load(gateway()), dry_run=True)
    assert result.lines == ("gateway.networking.istio.io/httpbin-gateway created (server dry run)",)
    assert ResourceKey("Gateway", "default", "httpbin-gateway") not in store.snapshot()


def test_delete_missing_object_is_an_error_line(store: ConfigStore) -> None:
    store.apply(load(SERVICE))
    result = store.delete(load(gateway() + SERVICE, name="x.yaml"))
    assert result.lines == ('service "httpbin" deleted', 'deployment.apps "httpbin" deleted')
    assert result.errors == (
        'Error from server (NotFound): error when deleting "x.yaml": gateways.networking.istio.io '
        '"httpbin-gateway" not found',
    )


def test_deleting_a_namespace_deletes_its_objects(store: ConfigStore) -> None:
    store.apply(load("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: foo\n" + gateway(ns="foo")))
    store.delete(load("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: foo\n"))
    assert store.snapshot().list("Gateway") == ()


def test_secret_string_data_merged_into_data(store: ConfigStore) -> None:
    secret = (
        "apiVersion: v1\nkind: Secret\nmetadata: {name: cred}\ntype: kubernetes.io/tls\n"
        f"data: {{tls.crt: {base64.b64encode(b'old').decode()}}}\nstringData: "
        f"{{tls.crt: new, tls.key: key}}\n"
    )
    store.apply(load(secret))
    raw = store.snapshot().raw(ResourceKey("Secret", "default", "cred"))
    assert "stringData" not in raw
    assert {k: base64.b64decode(v) for k, v in raw["data"].items()} == {"tls.crt": b"new", "tls.key": b"key"}
    # kubectl's three-way patch always carries stringData (the live object never has it), so a
    # re-apply prints "configured" (kubernetes/kubernetes#87736); the stored object is unchanged.
    rv = store.resource_version
    assert store.apply(load(secret)).lines == ("secret/cred configured",)
    assert store.resource_version == rv


def test_secret_missing_tls_key_is_rejected(store: ConfigStore) -> None:
    secret = (
        "apiVersion: v1\nkind: Secret\nmetadata: {name: cred}\ntype: kubernetes.io/tls\n"
        "stringData: {tls.crt: x}\n"
    )
    with pytest.raises(ValidationError) as err:
        store.apply(load(secret))
    assert str(err.value) == 'The Secret "cred" is invalid: data[tls.key]: Required value'


def test_typed_models_in_snapshot(store: ConfigStore) -> None:
    store.apply(load(gateway()))
    model = store.snapshot().get("Gateway", "default", "httpbin-gateway")
    assert model.key == ResourceKey("Gateway", "default", "httpbin-gateway")
    assert model.source.index == 0


def test_thousand_objects_in_one_apply() -> None:
    docs = [NAMESPACES]
    for i in range(500):
        docs.append(gateway(f"gw-{i}", host=f"h{i}.example.com"))
        docs.append(
            f"---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: vs-{i}\n"
            f"spec:\n  hosts: [h{i}.example.com]\n  gateways: [gw-{i}]\n  http:\n"
            "  - match: [{uri: {prefix: /status}}]\n    route: [{destination: {host: httpbin, port: "
            "{number: 8000}}}]\n"
        )
    manifests = load("".join(docs))
    store = ConfigStore()
    store.apply(manifests)  # the time it takes is bench/translate's business
    assert len(store.snapshot()) == 1002
