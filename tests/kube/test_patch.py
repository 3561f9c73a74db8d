"""Patches as the API server applies them and as ``kubectl apply`` computes them (gatewaykit.kube.patch).

The tables live in ``_patch_cases.py``; ``test_patch_kubectl.py`` proves every row against the real
kubectl. Here: the same rows through the module, the Status each refusal carries, and the
three-way behaviours a learner relies on (a live label survives a re-apply, a field dropped from
the manifest is deleted, an item a controller added to a list stays).
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from typing import Any

import pytest
from _patch_cases import (
    JSON,
    JSON_ERRORS,
    MERGE,
    STRATEGIC,
    STRATEGIC_ERRORS,
    cm,
    ctr,
    pod,
)

from gatewaykit.errors import ApiError, ValidationError
from gatewaykit.kube import patch as kp
from gatewaykit.kube.gojson import format_float, go_v, marshal, marshal_indent

GENERIC_422 = "the server rejected our request due to an error in our request"


def _ids(rows: list[tuple[Any, ...]]) -> list[str]:
    return [row[0] for row in rows]


# ---------------------------------------------------------------------------------------- tables
@pytest.mark.parametrize(("name", "kind", "original", "patch", "expected"), STRATEGIC, ids=_ids(STRATEGIC))
def test_strategic_merge_patch(name: str, kind: str, original: dict, patch: dict, expected: dict) -> None:
    before = copy.deepcopy((original, patch))
    assert kp.strategic_merge_patch(original, patch, kind) == expected
    assert (original, patch) == before  # inputs untouched


@pytest.mark.parametrize(
    ("name", "kind", "original", "patch", "code", "message", "go_error"),
    STRATEGIC_ERRORS,
    ids=_ids(STRATEGIC_ERRORS),
)
def test_strategic_merge_patch_refusals(
    name: str, kind: str, original: dict, patch: dict, code: int, message: str, go_error: str
) -> None:
    with pytest.raises(ApiError) as err:
        kp.strategic_merge_patch(original, patch, kind)
    status = err.value.status
    assert (status.code, status.message, str(err.value.__cause__)) == (code, message, go_error)
    # interpretStrategicMergePatchError: sentinels are BadRequest/Invalid, other Go errors have no reason.
    assert status.reason == {400: "BadRequest", 422: "Invalid", 500: ""}[code]


def test_strategic_merge_patch_of_a_custom_resource_is_415() -> None:
    with pytest.raises(ApiError) as err:
        kp.strategic_merge_patch({"kind": "Gateway"}, {"spec": {}}, "Gateway")
    assert err.value.status.code == 415
    assert err.value.status.message == (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    )
    assert str(err.value) == f"Error from server (UnsupportedMediaType): {err.value.status.message}"


def test_a_422_prints_as_kubectl_prints_it() -> None:
    with pytest.raises(ApiError) as err:
        kp.json_patch(cm(), [{"op": "remove", "path": "/data/x"}])
    assert str(err.value) == f"The request is invalid: {GENERIC_422}"
    assert err.value.status.to_dict()["details"] == {}  # NewGenericServerResponse keeps an empty details


@pytest.mark.parametrize(("name", "target", "patch", "expected"), MERGE, ids=_ids(MERGE))
def test_merge_patch(name: str, target: dict, patch: Any, expected: dict) -> None:
    assert kp.merge_patch(target, patch) == expected


@pytest.mark.parametrize("patch", [None, 5, "x", True])
def test_merge_patch_that_is_not_an_object_or_list_is_400(patch: Any) -> None:
    with pytest.raises(ApiError) as err:
        kp.merge_patch(cm(), patch)
    assert (err.value.status.code, err.value.status.message) == (400, "Invalid JSON Patch")


def test_merge_patch_that_is_a_list_replaces_the_document() -> None:
    # json-patch v4 returns the (null-pruned) array; the server's decode then rejects it.
    assert kp.merge_patch(cm(), [{"a": None, "b": 1}, None]) == [{"b": 1}, None]


@pytest.mark.parametrize(("name", "target", "ops", "expected"), JSON, ids=_ids(JSON))
def test_json_patch(name: str, target: dict, ops: list, expected: dict) -> None:
    before = copy.deepcopy(target)
    assert kp.json_patch(target, ops) == expected
    assert target == before


@pytest.mark.parametrize(("name", "target", "ops", "go_error"), JSON_ERRORS, ids=_ids(JSON_ERRORS))
def test_json_patch_refusals_are_a_generic_422(name: str, target: dict, ops: list, go_error: str) -> None:
    with pytest.raises(ApiError) as err:
        kp.json_patch(target, ops)
    assert (err.value.status.code, err.value.status.reason, err.value.status.message) == (
        422,
        "Invalid",
        GENERIC_422,
    )
    assert str(err.value.__cause__) == go_error


@pytest.mark.parametrize(
    ("ops", "message"),
    [
        ({"op": "add"}, "json: cannot unmarshal object into Go value of type jsonpatch.Patch"),
        ("add", "json: cannot unmarshal string into Go value of type jsonpatch.Patch"),
        (["add"], "json: cannot unmarshal string into Go value of type jsonpatch.Operation"),
        ([[1]], "json: cannot unmarshal array into Go value of type jsonpatch.Operation"),
    ],
)
def test_json_patch_that_does_not_decode_is_400(ops: Any, message: str) -> None:
    with pytest.raises(ApiError) as err:
        kp.json_patch(cm(), ops)
    assert (err.value.status.code, err.value.status.message) == (400, message)


def test_json_patch_limits() -> None:
    with pytest.raises(ApiError) as err:
        kp.json_patch(cm(), [{"op": "test", "path": "/kind", "value": "ConfigMap"}] * 10001)
    assert (err.value.status.code, err.value.status.message) == (
        413,
        "Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001",
    )
    big = cm(data={"k": "x" * 100})
    copies = [{"op": "copy", "from": "/data", "path": f"/c{i}"} for i in range(3)]
    with pytest.raises(ApiError) as err:
        kp.json_patch(big, copies, copy_limit=250)
    # Each copy adds the 108 bytes of {"k":"xx..."}: the third one passes 250.
    assert str(err.value.__cause__) == (
        "Unable to complete the copy, the accumulated size increase of copy is 324, exceeding the limit 250"
    )
    assert kp.json_patch(cm(), None) == cm()  # a null patch decodes to no operations


def test_json_patch_test_compares_numbers_by_their_json_text() -> None:
    assert kp.json_patch(cm(x=80), [{"op": "test", "path": "/x", "value": 80}]) == cm(x=80)
    with pytest.raises(ApiError):  # "80.0" is not the document's "80"
        kp.json_patch(cm(x=80), [{"op": "test", "path": "/x", "value": 80.0}])


# ----------------------------------------------------------------------------- kubectl apply
def live_after_create(manifest: dict, *, namespaced: bool = True) -> dict:
    """What the server stores for a first ``kubectl apply`` (the created object)."""
    return kp.apply_create_object(kp.prepare_manifest(manifest, namespaced=namespaced))


def reapply(manifest: dict, live: dict, kind: str, *, builtin: bool = True, namespaced: bool = True) -> dict:
    """Re-apply ``manifest``: the patch kubectl sends, applied the way the server applies it."""
    patch_type, patch = kp.apply_patch(manifest, live, kind, builtin=builtin, namespaced=namespaced)
    if patch_type == kp.STRATEGIC_MERGE_PATCH:
        return kp.strategic_merge_patch(live, patch, kind)
    return kp.merge_patch(live, patch)


CONFIGMAP = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "a"},
    "data": {"k": "v", "old": "1"},
}


def test_last_applied_annotation_is_byte_exact() -> None:
    # GetModifiedConfiguration: keys sorted, "annotations": {} kept, a trailing newline.
    obj = kp.prepare_manifest(CONFIGMAP, namespaced=True)
    assert kp.last_applied_annotation(obj) == (
        '{"apiVersion":"v1","data":{"k":"v","old":"1"},"kind":"ConfigMap",'
        '"metadata":{"annotations":{},"name":"a","namespace":"default"}}\n'
    )
    html = {**CONFIGMAP, "metadata": {"name": "a", "annotations": {"note": "<a&b>", kp.LAST_APPLIED: "old"}}}
    assert kp.last_applied_annotation(html) == (
        '{"apiVersion":"v1","data":{"k":"v","old":"1"},"kind":"ConfigMap",'
        '"metadata":{"annotations":{"note":"\\u003ca\\u0026b\\u003e"},"name":"a"}}\n'
    )
    # A cluster-scoped object loses a metadata.namespace (the builder's FilterNamespace).
    ns = kp.prepare_manifest(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x", "namespace": "y"}},
        namespaced=False,
    )
    assert (
        kp.last_applied_annotation(ns)
        == '{"apiVersion":"v1","kind":"Namespace","metadata":{"annotations":{},"name":"x"}}\n'
    )


def test_create_body_keeps_nulls_only_in_the_annotation() -> None:
    manifest = {**CONFIGMAP, "data": {"k": "v", "gone": None}}
    body = kp.apply_create_object(kp.prepare_manifest(manifest, namespaced=True))
    assert body["data"] == {"k": "v"}
    assert '"gone":null' in body["metadata"]["annotations"][kp.LAST_APPLIED]


def test_reapplying_an_unchanged_manifest_sends_nothing() -> None:
    live = live_after_create(CONFIGMAP)
    assert kp.apply_patch(CONFIGMAP, live, "ConfigMap", builtin=True, namespaced=True) == (
        kp.STRATEGIC_MERGE_PATCH,
        {},
    )


def test_a_label_added_live_survives_a_reapply() -> None:
    live = live_after_create(CONFIGMAP)
    live["metadata"]["labels"] = {"team": "a"}  # kubectl label cm a team=a
    changed = {**CONFIGMAP, "data": {"k": "v2", "old": "1"}}
    result = reapply(changed, live, "ConfigMap")
    assert result["metadata"]["labels"] == {"team": "a"}
    assert result["data"] == {"k": "v2", "old": "1"}


def test_a_field_removed_from_the_manifest_is_deleted() -> None:
    live = live_after_create(CONFIGMAP)
    _, patch = kp.apply_patch(
        {**CONFIGMAP, "data": {"k": "v"}}, live, "ConfigMap", builtin=True, namespaced=True
    )
    assert patch["data"] == {"old": None}
    assert reapply({**CONFIGMAP, "data": {"k": "v"}}, live, "ConfigMap")["data"] == {"k": "v"}


def test_a_field_set_only_live_is_not_deleted() -> None:
    # Not in the last-applied configuration, so kubectl apply does not own it.
    live = live_after_create(CONFIGMAP)
    live["data"]["live-only"] = "x"
    assert reapply(CONFIGMAP, live, "ConfigMap")["data"] == {"k": "v", "old": "1", "live-only": "x"}


DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [ctr("web", image="nginx:1", ports=[{"containerPort": 80}])]},
        },
    },
}


def test_a_container_added_live_is_kept_and_the_changed_one_patched() -> None:
    live = live_after_create(DEPLOYMENT)
    live["spec"]["template"]["spec"]["containers"].append(ctr("istio-proxy", image="proxyv2"))  # injected
    changed = copy.deepcopy(DEPLOYMENT)
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
    patch_type, patch = kp.apply_patch(changed, live, "Deployment", builtin=True, namespaced=True)
    assert patch_type == kp.STRATEGIC_MERGE_PATCH
    assert patch["spec"] == {
        "template": {
            "spec": {
                "$setElementOrder/containers": [{"name": "web"}],
                "containers": [{"image": "nginx:2", "name": "web"}],
            }
        }
    }
    containers = kp.strategic_merge_patch(live, patch, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("web", "nginx:2"), ("istio-proxy", "proxyv2")]


def test_a_container_removed_from_the_manifest_is_deleted_by_merge_key() -> None:
    two = copy.deepcopy(DEPLOYMENT)
    two["spec"]["template"]["spec"]["containers"].append(ctr("log", image="busybox"))
    live = live_after_create(two)
    _, patch = kp.apply_patch(DEPLOYMENT, live, "Deployment", builtin=True, namespaced=True)
    assert patch["spec"]["template"]["spec"]["containers"] == [{"$patch": "delete", "name": "log"}]
    result = kp.strategic_merge_patch(live, patch, "Deployment")
    assert [c["name"] for c in result["spec"]["template"]["spec"]["containers"]] == ["web"]


def test_unsorted_finalizers_always_get_a_set_element_order() -> None:
    # diffListsOfScalars sorts the live list in place before comparing: Go's quirk, kept.
    manifest = {**CONFIGMAP, "metadata": {"name": "a", "finalizers": ["b", "a"]}}
    _, patch = kp.apply_patch(
        manifest, live_after_create(manifest), "ConfigMap", builtin=True, namespaced=True
    )
    assert patch == {"metadata": {"$setElementOrder/finalizers": ["b", "a"]}}


GATEWAY = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "Gateway",
    "metadata": {"name": "gw"},
    "spec": {"selector": {"istio": "ingressgateway"}, "servers": [{"hosts": ["*"]}]},
}


def test_a_custom_resource_gets_a_json_merge_patch() -> None:
    live = live_after_create(GATEWAY)
    live["status"] = {"conditions": []}
    changed = copy.deepcopy(GATEWAY)
    del changed["spec"]["selector"]
    patch_type, patch = kp.apply_patch(changed, live, "Gateway", builtin=False, namespaced=True)
    assert patch_type == kp.MERGE_PATCH
    assert patch["spec"] == {"selector": None}
    assert "status" not in patch
    assert kp.apply_patch(GATEWAY, live, "Gateway", builtin=False, namespaced=True) == (kp.MERGE_PATCH, {})


def test_a_custom_resource_definition_gets_a_merge_patch_because_kubectl_lacks_its_struct() -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "x.y"},
    }
    live = live_after_create(crd, namespaced=False)
    patch_type, _ = kp.apply_patch(
        {**crd, "spec": {"group": "y"}}, live, "CustomResourceDefinition", builtin=True, namespaced=False
    )
    assert patch_type == kp.MERGE_PATCH


def test_three_way_merge_patch_preconditions() -> None:
    # meetPreconditions returns a plain error, so this (not "At least one of apiVersion, kind and
    # name was changed") is the text kubectl shows.
    live = live_after_create(GATEWAY)
    renamed = {**GATEWAY, "kind": "VirtualService"}
    with pytest.raises(ValidationError) as err:
        kp.three_way_patch(None, kp.modified_configuration(renamed), live, "Gateway", builtin=False)
    assert str(err.value).startswith(
        "precondition failed for: map[kind:VirtualService metadata:map[annotations:map["
    )


def test_three_way_patch_with_a_broken_annotation() -> None:
    live = live_after_create(CONFIGMAP)
    with pytest.raises(ValidationError, match="^invalid JSON document$"):
        kp.three_way_patch("{not json", CONFIGMAP, live, "ConfigMap", builtin=True)
    with pytest.raises(ValidationError, match="^Invalid JSON Document$"):
        kp.three_way_patch("{not json", GATEWAY, live, "Gateway", builtin=False)


def test_strategic_patch_body_is_marshalled_like_go() -> None:
    live = live_after_create(pod([ctr("a", image="x")]))
    manifest = pod([ctr("a", image="<x&y>")])
    _, patch = kp.apply_patch(manifest, live, "Pod", builtin=True, namespaced=True)
    body = kp.go_json(patch)
    assert body.startswith('{"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":')
    assert '"image":"\\u003cx\\u0026y\\u003e"' in body
    assert json.loads(body) == patch


# ------------------------------------------------------------------------------ Go renderings
@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (1.5e6, "1500000"),
        (0.5, "0.5"),
        (1e21, "1e+21"),
        (1e-7, "1e-7"),
        (123456789.0, "123456789"),
    ],
)
def test_json_floats_are_written_as_go_writes_them(value: float, text: str) -> None:
    assert format_float(value) == text


def test_values_json_cannot_hold_are_refused_as_go_refuses_them() -> None:
    with pytest.raises(ValidationError, match=r"^json: unsupported value: \+Inf$"):
        kp.last_applied_annotation({"apiVersion": "v1", "kind": "ConfigMap", "data": {"x": float("inf")}})
    with pytest.raises(ValidationError, match="^json: unsupported value: NaN$"):
        marshal([float("nan")])
    assert go_v([float("-inf"), float("nan")]) == "[-Inf NaN]"


def test_go_value_formatting() -> None:
    assert (
        marshal({"b": [1, True, None], "a": "<&>\u2028é"})
        == '{"a":"\\u003c\\u0026\\u003e\\u2028é","b":[1,true,null]}'
    )
    assert go_v({"b": [1, "x"], "a": None, "c": 1.5e6}) == "map[a:<nil> b:[1 x] c:1.5e+06]"
    assert marshal_indent({"a": {}, "b": [1]}) == '{\n    "a": {},\n    "b": [\n        1\n    ]\n}'


def test_patch_and_selector_modules_are_pure() -> None:
    # Same rule as tests/test_layering.py: importing them pulls in no I/O module.
    code = (
        "import sys; import gatewaykit.kube.patch, gatewaykit.kube.selectors, gatewaykit.kube.strategic\n"
        "io = {'asyncio', 'ssl', 'socket', 'subprocess', 'select', 'selectors', 'kubernetes', 'ipywidgets'}\n"
        "print(sorted(io & {m.split('.')[0] for m in sys.modules}))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout) == (0, "[]\n"), proc.stderr
