"""Patch cases shared by the unit tables (test_patch.py) and the real-kubectl proof
(test_patch_kubectl.py): every expected result here is also what ``kubectl patch --local`` prints.

The strategic cases restate, on Kubernetes kinds, the behaviours apimachinery's
``pkg/util/strategicpatch/patch_test.go`` tables exercise on its test structs: merge keys,
list ordering, deletions, ``$patch``/``$setElementOrder``/``$retainKeys``/
``$deleteFromPrimitiveList`` directives, and the errors.
"""

from __future__ import annotations

from typing import Any


def pod(containers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": containers, **spec},
    }


def ctr(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, **fields}


def cm(metadata: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "m", **(metadata or {})}, **fields}


def deploy(spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": spec}


def svc(ports: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": ports}}


def spec(**fields: Any) -> dict[str, Any]:
    return {"spec": fields}


OWNER_1 = {"apiVersion": "v1", "kind": "X", "name": "o", "uid": "u1"}
OWNER_2 = {"apiVersion": "v1", "kind": "X", "name": "o2", "uid": "u2"}

# (description, kind, original, patch, result)
STRATEGIC: list[tuple[str, str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    (
        "merging list: the patched item merges by name; a new item goes after the patched ones, "
        "server-only items after that",
        "Pod",
        pod([ctr("a", image="x"), ctr("b", image="y")]),
        spec(containers=[ctr("a", image="x2"), ctr("c", image="z")]),
        pod([ctr("a", image="x2"), ctr("c", image="z"), ctr("b", image="y")]),
    ),
    (
        "add a field to a map in a merging list",
        "Pod",
        pod([ctr("a", image="x")]),
        spec(containers=[ctr("a", imagePullPolicy="Always")]),
        pod([ctr("a", image="x", imagePullPolicy="Always")]),
    ),
    (
        "null deletes a field of a map in a merging list",
        "Pod",
        pod([ctr("a", image="x", workingDir="/w")]),
        spec(containers=[ctr("a", workingDir=None)]),
        pod([ctr("a", image="x")]),
    ),
    (
        "$patch: delete removes a map from a merging list",
        "Pod",
        pod([ctr("a", image="x"), ctr("b", image="y")]),
        spec(containers=[{"name": "a", "$patch": "delete"}]),
        pod([ctr("b", image="y")]),
    ),
    (
        "deleting a map that is not in the list changes nothing",
        "Pod",
        pod([ctr("a", image="x")]),
        spec(containers=[{"name": "zz", "$patch": "delete"}]),
        pod([ctr("a", image="x")]),
    ),
    (
        "add one map and delete another in the same patch",
        "Pod",
        pod([ctr("a", image="x"), ctr("b", image="y")]),
        spec(containers=[ctr("n", image="q"), {"name": "a", "$patch": "delete"}]),
        pod([ctr("n", image="q"), ctr("b", image="y")]),
    ),
    (
        "a non-merging list (command) inside a merging list is replaced",
        "Pod",
        pod([ctr("a", image="x", command=["sh", "-c", "sleep 1"])]),
        spec(containers=[ctr("a", command=["true"])]),
        pod([ctr("a", image="x", command=["true"])]),
    ),
    (
        "a merging list nested in a merging list: ports merge by containerPort",
        "Pod",
        pod([ctr("a", ports=[{"containerPort": 80, "name": "http"}, {"containerPort": 443}])]),
        spec(
            containers=[ctr("a", ports=[{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 9090}])]
        ),
        pod(
            [
                ctr(
                    "a",
                    ports=[
                        {"containerPort": 80, "name": "http", "protocol": "TCP"},
                        {"containerPort": 9090},
                        {"containerPort": 443},
                    ],
                )
            ]
        ),
    ),
    (
        "env merges by name",
        "Pod",
        pod([ctr("a", env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])]),
        spec(containers=[ctr("a", env=[{"name": "B", "value": "3"}, {"name": "C", "value": "4"}])]),
        pod(
            [
                ctr(
                    "a",
                    env=[
                        {"name": "A", "value": "1"},
                        {"name": "B", "value": "3"},
                        {"name": "C", "value": "4"},
                    ],
                )
            ]
        ),
    ),
    (
        "volumeMounts merge by mountPath",
        "Pod",
        pod([ctr("a", volumeMounts=[{"name": "v", "mountPath": "/a"}])]),
        spec(containers=[ctr("a", volumeMounts=[{"name": "w", "mountPath": "/b"}])]),
        pod([ctr("a", volumeMounts=[{"name": "w", "mountPath": "/b"}, {"name": "v", "mountPath": "/a"}])]),
    ),
    (
        "tolerations have no merge key: the list is replaced",
        "Pod",
        pod([ctr("a")], tolerations=[{"key": "k1", "operator": "Exists"}]),
        spec(tolerations=[{"key": "k2", "operator": "Exists"}]),
        pod([ctr("a")], tolerations=[{"key": "k2", "operator": "Exists"}]),
    ),
    (
        "imagePullSecrets merge by name",
        "Pod",
        pod([ctr("a")], imagePullSecrets=[{"name": "r1"}]),
        spec(imagePullSecrets=[{"name": "r2"}]),
        pod([ctr("a")], imagePullSecrets=[{"name": "r2"}, {"name": "r1"}]),
    ),
    (
        "hostAliases merge by ip",
        "Pod",
        pod([ctr("a")], hostAliases=[{"ip": "1.1.1.1", "hostnames": ["a"]}]),
        spec(hostAliases=[{"ip": "1.1.1.1", "hostnames": ["b"]}, {"ip": "2.2.2.2", "hostnames": ["c"]}]),
        pod(
            [ctr("a")],
            hostAliases=[{"ip": "1.1.1.1", "hostnames": ["b"]}, {"ip": "2.2.2.2", "hostnames": ["c"]}],
        ),
    ),
    (
        "Service ports merge by port",
        "Service",
        svc([{"port": 80, "name": "http", "targetPort": 8080}, {"port": 443, "name": "https"}]),
        spec(ports=[{"port": 443, "targetPort": 8443}, {"port": 15021, "name": "status"}]),
        svc(
            [
                {"port": 80, "name": "http", "targetPort": 8080},
                {"port": 443, "name": "https", "targetPort": 8443},
                {"port": 15021, "name": "status"},
            ]
        ),
    ),
    (
        "ownerReferences merge by uid",
        "ConfigMap",
        cm({"ownerReferences": [OWNER_1]}),
        {"metadata": {"ownerReferences": [OWNER_2]}},
        cm({"ownerReferences": [OWNER_2, OWNER_1]}),
    ),
    (
        "finalizers, a merging list of scalars: union in patch order, then the server's",
        "ConfigMap",
        cm({"finalizers": ["a", "b"]}),
        {"metadata": {"finalizers": ["c", "a"]}},
        cm({"finalizers": ["c", "a", "b"]}),
    ),
    (
        "$deleteFromPrimitiveList removes every copy of a scalar",
        "ConfigMap",
        cm({"finalizers": ["a", "b", "a", "c"]}),
        {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}},
        cm({"finalizers": ["b", "c"]}),
    ),
    (
        "$deleteFromPrimitiveList of an item that is not there adds nothing",
        "ConfigMap",
        cm({"finalizers": ["a"]}),
        {"metadata": {"$deleteFromPrimitiveList/finalizers": ["zz"]}},
        cm({"finalizers": ["a"]}),
    ),
    (
        "$deleteFromPrimitiveList on a list that is not there creates nothing",
        "ConfigMap",
        cm(),
        {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}},
        cm(),
    ),
    (
        "$deleteFromPrimitiveList works on a non-merging list too",
        "Pod",
        pod([ctr("a", args=["x", "y"])]),
        spec(containers=[ctr("a", **{"$deleteFromPrimitiveList/args": ["x"]})]),
        pod([ctr("a", args=["y"])]),
    ),
    (
        "add and delete scalars; $setElementOrder sets the order",
        "ConfigMap",
        cm({"finalizers": ["a", "b", "c"]}),
        {
            "metadata": {
                "$setElementOrder/finalizers": ["d", "a", "c"],
                "finalizers": ["d"],
                "$deleteFromPrimitiveList/finalizers": ["b"],
            }
        },
        cm({"finalizers": ["d", "a", "c"]}),
    ),
    (
        "$setElementOrder alone reorders a merging list of maps",
        "Pod",
        pod([ctr("a"), ctr("b"), ctr("c")]),
        spec(**{"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}]}),
        pod([ctr("c"), ctr("a"), ctr("b")]),
    ),
    (
        "$setElementOrder with a server-only item: it keeps its place before the item it preceded",
        "Pod",
        pod([ctr("a"), ctr("server"), ctr("b")]),
        spec(
            **{
                "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
                "containers": [ctr("b", image="new")],
            }
        ),
        pod([ctr("server"), ctr("b", image="new"), ctr("a")]),
    ),
    (
        "$setElementOrder with a new item and a deleted one",
        "Pod",
        pod([ctr("a"), ctr("b")]),
        spec(
            **{
                "$setElementOrder/containers": [{"name": "n"}, {"name": "b"}],
                "containers": [ctr("n", image="q"), {"name": "a", "$patch": "delete"}],
            }
        ),
        pod([ctr("n", image="q"), ctr("b")]),
    ),
    (
        "$patch: replace in a list replaces the whole list",
        "Pod",
        pod([ctr("a"), ctr("b")]),
        spec(containers=[ctr("z", image="only"), {"$patch": "replace"}]),
        pod([ctr("z", image="only")]),
    ),
    (
        "$patch: replace in a map replaces the whole map",
        "ConfigMap",
        cm({"labels": {"a": "1", "b": "2"}}),
        {"metadata": {"labels": {"$patch": "replace", "c": "3"}}},
        cm({"labels": {"c": "3"}}),
    ),
    (
        "$patch: delete in a map empties it",
        "ConfigMap",
        cm({"labels": {"a": "1"}}),
        {"metadata": {"labels": {"$patch": "delete"}}},
        cm({"labels": {}}),
    ),
    (
        "null deletes a key; a null for a key that is not there is dropped",
        "ConfigMap",
        cm({"labels": {"a": "1"}}, data={"k": "v"}),
        {"metadata": {"labels": {"a": None, "gone": None}}, "data": {"new": "x", "k": None}},
        cm({"labels": {}}, data={"new": "x"}),
    ),
    (
        "nulls in a new map value are dropped, nulls in a new list item are kept",
        "Pod",
        pod([ctr("a")]),
        spec(
            containers=[ctr("n", image="x", env=[{"name": "E", "value": None}])],
            nodeSelector={"a": None, "b": "c"},
        ),
        pod([ctr("n", image="x", env=[{"name": "E", "value": None}]), ctr("a")], nodeSelector={"b": "c"}),
    ),
    (
        "$retainKeys (Deployment strategy): keys it does not list are cleared",
        "Deployment",
        deploy({"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}),
        spec(strategy={"$retainKeys": ["type"], "type": "Recreate"}),
        deploy({"strategy": {"type": "Recreate"}}),
    ),
    (
        "$retainKeys in a merging list item (volumes): the old volume source is cleared",
        "Pod",
        pod([ctr("a")], volumes=[{"name": "v", "emptyDir": {}}]),
        spec(volumes=[{"name": "v", "$retainKeys": ["configMap", "name"], "configMap": {"name": "cm"}}]),
        pod([ctr("a")], volumes=[{"name": "v", "configMap": {"name": "cm"}}]),
    ),
    (
        "a scalar replaces a map and a map replaces a scalar",
        "ConfigMap",
        cm({"labels": {"a": "1"}}, data="x"),
        {"metadata": {"labels": "oops"}, "data": {"k": "v"}},
        cm({"labels": "oops"}, data={"k": "v"}),
    ),
]

_GENERIC_422 = "the server rejected our request due to an error in our request"
_ORDER_MISMATCH = (
    "The order in patch list:\n[map[image:q name:a]]\n doesn't match $setElementOrder list:\n[map[name:b]]\n"
)

# (description, kind, original, patch, Status code, Status message, Go error)
STRATEGIC_ERRORS: list[tuple[str, str, dict[str, Any], dict[str, Any], int, str, str]] = [
    (
        "an unknown $patch value",
        "Pod",
        pod([ctr("a")]),
        spec(containers=[{"name": "a", "$patch": "frob"}]),
        500,
        "unknown patch type: frob in map: map[$patch:frob name:a]",
        "unknown patch type: frob in map: map[$patch:frob name:a]",
    ),
    (
        "a merging-list item without its merge key",
        "Pod",
        pod([ctr("a")]),
        spec(containers=[{"image": "x"}]),
        500,
        "map: map[image:x] does not contain declared merge key: name",
        "map: map[image:x] does not contain declared merge key: name",
    ),
    (
        "$patch: merge in a list",
        "Pod",
        pod([ctr("a")]),
        spec(containers=[{"name": "a", "$patch": "merge"}]),
        500,
        "merging lists cannot yet be specified in the patch",
        "merging lists cannot yet be specified in the patch",
    ),
    (
        "a list of lists (422, the text hidden from the Status)",
        "Pod",
        pod([]),
        spec(containers=[["a"]]),
        422,
        _GENERIC_422,
        "lists of lists are not supported",
    ),
    (
        "list items of different types",
        "Pod",
        pod([ctr("a")]),
        spec(containers=[["a"]]),
        500,
        "list element types are not identical: [[map[name:a]] [[a]]]",
        "list element types are not identical: [[map[name:a]] [[a]]]",
    ),
    (
        "$retainKeys without a key the patch sets",
        "Deployment",
        deploy({"strategy": {"type": "Recreate"}}),
        spec(strategy={"$retainKeys": ["type"], "rollingUpdate": {"maxSurge": 1}}),
        400,
        "invalid patch format of retainKeys",
        "invalid patch format of retainKeys",
    ),
    (
        "$retainKeys that is not a list",
        "Deployment",
        deploy({"strategy": {"type": "Recreate"}}),
        spec(strategy={"$retainKeys": "type"}),
        400,
        "invalid patch format of retainKeys",
        "invalid patch format of retainKeys",
    ),
    (
        "$setElementOrder that disagrees with the patch list",
        "Pod",
        pod([ctr("a"), ctr("b")]),
        spec(**{"$setElementOrder/containers": [{"name": "b"}], "containers": [ctr("a", image="q")]}),
        500,
        _ORDER_MISMATCH,
        _ORDER_MISMATCH,
    ),
    (
        "$deleteFromPrimitiveList without a field name",
        "ConfigMap",
        cm({"finalizers": ["a"]}),
        {"metadata": {"$deleteFromPrimitiveList": ["a"]}},
        400,
        "invalid patch format of primitive list",
        "invalid patch format of primitive list",
    ),
    (
        "a field the kind does not have, on both sides",
        "ConfigMap",
        cm(extra={"a": 1}),
        {"extra": {"b": 2}},
        500,
        'unable to find api field in struct ConfigMap for the json field "extra"',
        'unable to find api field in struct ConfigMap for the json field "extra"',
    ),
    (
        "a scalar list patched with items of another type",
        "ConfigMap",
        cm({"finalizers": ["a"]}),
        {"metadata": {"finalizers": [1]}},
        500,
        "list element types are not identical: [[a] [1]]",
        "list element types are not identical: [[a] [1]]",
    ),
]

# RFC 7386 behaviour, as json-patch v4 MergePatch has it: (description, target, patch, result).
MERGE: list[tuple[str, dict[str, Any], Any, Any]] = [
    ("a value replaces", cm(data={"a": "b"}), {"data": {"a": "c"}}, cm(data={"a": "c"})),
    ("a new key is added", cm(data={"a": "b"}), {"data": {"b": "c"}}, cm(data={"a": "b", "b": "c"})),
    ("null deletes", cm(data={"a": "b", "b": "c"}), {"data": {"a": None}}, cm(data={"b": "c"})),
    ("a list replaces a list", cm(x=["a", "b"]), {"x": ["c", "d"]}, cm(x=["c", "d"])),
    ("an object replaces a list", cm(x=["a"]), {"x": {"b": "c"}}, cm(x={"b": "c"})),
    ("a scalar replaces an object", cm(x={"a": "c"}), {"x": "d"}, cm(x="d")),
    (
        "nested objects merge",
        cm(x={"a": {"b": "c"}}),
        {"x": {"a": {"b": "d", "c": None}}},
        cm(x={"a": {"b": "d"}}),
    ),
    (
        "nulls inside a new object are dropped",
        cm(),
        {"x": {"a": None, "b": {"c": None, "d": 1}}},
        cm(x={"b": {"d": 1}}),
    ),
    ("a list item that is null stays", cm(), {"x": [1, None, {"a": None}]}, cm(x=[1, None, {}])),
    ("an empty patch changes nothing", cm(data={"a": "b"}), {}, cm(data={"a": "b"})),
]

# (description, target, operations, result)
JSON: list[tuple[str, dict[str, Any], list[Any], dict[str, Any]]] = [
    (
        "add a key",
        cm(data={"a": "1"}),
        [{"op": "add", "path": "/data/b", "value": "2"}],
        cm(data={"a": "1", "b": "2"}),
    ),
    (
        "add appends with -",
        cm(x=[1, 2]),
        [{"op": "add", "path": "/x/-", "value": 3}],
        cm(x=[1, 2, 3]),
    ),
    ("add inserts at an index", cm(x=[1, 2]), [{"op": "add", "path": "/x/0", "value": 0}], cm(x=[0, 1, 2])),
    (
        "a negative add index counts from the end of the grown list: -1 appends",
        cm(x=[1, 2]),
        [{"op": "add", "path": "/x/-1", "value": 9}],
        cm(x=[1, 2, 9]),
    ),
    (
        "remove a key",
        cm(data={"a": "1", "b": "2"}),
        [{"op": "remove", "path": "/data/a"}],
        cm(data={"b": "2"}),
    ),
    ("remove an index", cm(x=[1, 2, 3]), [{"op": "remove", "path": "/x/1"}], cm(x=[1, 3])),
    (
        "replace a key",
        cm(data={"a": "1"}),
        [{"op": "replace", "path": "/data/a", "value": "2"}],
        cm(data={"a": "2"}),
    ),
    (
        "replace of a missing object key adds it (json-patch v4)",
        cm(data={"a": "1"}),
        [{"op": "replace", "path": "/data/zz", "value": "2"}],
        cm(data={"a": "1", "zz": "2"}),
    ),
    (
        "move a value",
        cm(data={"a": "1"}),
        [{"op": "move", "from": "/data/a", "path": "/data/b"}],
        cm(data={"b": "1"}),
    ),
    (
        "copy a value",
        cm(data={"a": "1"}),
        [{"op": "copy", "from": "/data", "path": "/x"}],
        cm(data={"a": "1"}, x={"a": "1"}),
    ),
    (
        "a passing test, then an add",
        cm(data={"a": "1"}),
        [{"op": "test", "path": "/data/a", "value": "1"}, {"op": "add", "path": "/data/b", "value": "2"}],
        cm(data={"a": "1", "b": "2"}),
    ),
    (
        "a test for null passes on a missing key",
        cm(),
        [{"op": "test", "path": "/data", "value": None}],
        cm(),
    ),
    (
        "~1 and ~0 escape / and ~",
        cm(metadata={"labels": {}}),
        [{"op": "add", "path": "/metadata/labels/example.com~1a~0b", "value": "v"}],
        cm(metadata={"labels": {"example.com/a~b": "v"}}),
    ),
    (
        "replace the whole document",
        cm(data={"a": "1"}),
        [{"op": "replace", "path": "", "value": cm(data={"z": "9"})}],
        cm(data={"z": "9"}),
    ),
]

# (description, target, operations, the json-patch error; the Status is the generic 422)
JSON_ERRORS: list[tuple[str, dict[str, Any], list[Any], str]] = [
    (
        "add through a missing key",
        cm(),
        [{"op": "add", "path": "/nope/x", "value": 1}],
        'add operation does not apply: doc is missing path: "/nope/x": missing value',
    ),
    (
        "add through a scalar",
        cm(x=1),
        [{"op": "add", "path": "/x/y", "value": 1}],
        'add operation does not apply: doc is missing path: "/x/y": missing value',
    ),
    (
        "add past the end of a list",
        cm(x=[1]),
        [{"op": "add", "path": "/x/5", "value": 1}],
        "error in add for path: '/x/5': Unable to access invalid index: 5: invalid index referenced",
    ),
    (
        "add at an index that is not a number",
        cm(x=[1]),
        [{"op": "add", "path": "/x/a", "value": 1}],
        "error in add for path: '/x/a': value was not a proper array index: 'a': "
        'strconv.Atoi: parsing "a": invalid syntax',
    ),
    (
        "remove a missing key",
        cm(data={}),
        [{"op": "remove", "path": "/data/zz"}],
        "error in remove for path: '/data/zz': Unable to remove nonexistent key: zz: missing value",
    ),
    (
        "remove past the end of a list",
        cm(x=[1]),
        [{"op": "remove", "path": "/x/3"}],
        "error in remove for path: '/x/3': Unable to access invalid index: 3: invalid index referenced",
    ),
    (
        "move from a missing key",
        cm(data={}),
        [{"op": "move", "from": "/data/zz", "path": "/data/a"}],
        "error in move for path: 'zz': Unable to remove nonexistent key: zz: missing value",
    ),
    (
        "a failing test",
        cm(data={"a": "1"}),
        [{"op": "test", "path": "/data/a", "value": "2"}],
        "testing value /data/a failed: test failed",
    ),
    (
        "replace the whole document with a scalar",
        cm(),
        [{"op": "replace", "path": "", "value": 1}],
        "replace operation value must be object or array: %!w(<nil>)",
    ),
    ("an unknown op", cm(), [{"op": "frob", "path": "/a"}], "Unexpected kind: frob"),
    (
        "add without a path",
        cm(),
        [{"op": "add", "value": 1}],
        "add operation failed to decode path: missing value",
    ),
    (
        "replace without a path",
        cm(),
        [{"op": "replace", "value": 1}],
        "replace operation failed to decode path: operation missing path field: missing value",
    ),
    (
        "a path without a leading slash",
        cm(),
        [{"op": "add", "path": "abc", "value": 1}],
        'add operation does not apply: doc is missing path: "abc": missing value',
    ),
]
