"""The API server's decoding and object validation of built-in kinds, with its exact texts.

Each case is a manifest a learner could write and the line kubectl prints for it against a real
cluster (kube-apiserver v1.33: sigs.k8s.io/json decoding into the k8s.io/api Go types, then
apimachinery's and core/apps validation).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gatewaykit.errors import ValidationError
from gatewaykit.resources.codecs import load
from gatewaykit.resources.validation import validate
from gatewaykit.store import ConfigStore

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {
                        "name": "web",
                        "image": "docker.io/kong/httpbin",
                        "ports": [{"containerPort": 80}],
                        "resources": {"limits": {"cpu": "100m"}},
                    }
                ]
            },
        },
    },
}
SERVICE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web"},
    "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
}
SECRET: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "cred"},
    "type": "kubernetes.io/tls",
    "stringData": {"tls.crt": "c", "tls.key": "k"},
}
CONFIGMAP: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "cm"},
    "data": {"a": "b"},
}


def _with(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    obj = copy.deepcopy(base)
    *parents, last = path.split(".")
    node: Any = obj
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return obj


JSON_ERR = "json: cannot unmarshal {} into Go struct field {} of type {}"

DECODE_CASES = [
    # (base, path, value, decoder text)
    (DEPLOYMENT, "spec.replicas", "3", JSON_ERR.format("string", "DeploymentSpec.spec.replicas", "int32")),
    (DEPLOYMENT, "spec.replicas", True, JSON_ERR.format("bool", "DeploymentSpec.spec.replicas", "int32")),
    (
        DEPLOYMENT,
        "spec.replicas",
        1.5,
        JSON_ERR.format("number 1.5", "DeploymentSpec.spec.replicas", "int32"),
    ),
    (
        DEPLOYMENT,
        "spec.replicas",
        2147483648,
        JSON_ERR.format("number 2147483648", "DeploymentSpec.spec.replicas", "int32"),
    ),
    (DEPLOYMENT, "spec", "x", JSON_ERR.format("string", "Deployment.spec", "v1.DeploymentSpec")),
    (
        DEPLOYMENT,
        "spec.template",
        "x",
        JSON_ERR.format("string", "DeploymentSpec.spec.template", "v1.PodTemplateSpec"),
    ),
    (
        DEPLOYMENT,
        "metadata.labels",
        {"version": 1},
        JSON_ERR.format("number", "ObjectMeta.metadata.labels", "string"),
    ),
    (
        DEPLOYMENT,
        "spec.selector",
        "app=web",
        JSON_ERR.format("string", "DeploymentSpec.spec.selector", "v1.LabelSelector"),
    ),
    (
        DEPLOYMENT,
        "spec.template.spec.containers",
        {"name": "web"},
        JSON_ERR.format("object", "PodSpec.spec.template.spec.containers", "[]v1.Container"),
    ),
    (
        DEPLOYMENT,
        "spec.template.spec.containers.0.ports.0.containerPort",
        "80",
        JSON_ERR.format("string", "ContainerPort.spec.template.spec.containers.ports.containerPort", "int32"),
    ),
    (
        DEPLOYMENT,
        "spec.template.spec.containers.0.imagePullPolicy",
        1,
        JSON_ERR.format("number", "Container.spec.template.spec.containers.imagePullPolicy", "v1.PullPolicy"),
    ),
    (
        DEPLOYMENT,
        "spec.template.spec.containers.0.resources.limits",
        ["1"],
        JSON_ERR.format(
            "array", "ResourceRequirements.spec.template.spec.containers.resources.limits", "v1.ResourceList"
        ),
    ),
    (
        DEPLOYMENT,
        "spec.template.spec.containers.0.resources.limits.cpu",
        "lots",
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
    ),
    (SERVICE, "spec.ports", True, JSON_ERR.format("bool", "ServiceSpec.spec.ports", "[]v1.ServicePort")),
    (SERVICE, "spec.ports.0.port", "80", JSON_ERR.format("string", "ServicePort.spec.ports.port", "int32")),
    (
        SERVICE,
        "spec.ports.0.protocol",
        6,
        JSON_ERR.format("number", "ServicePort.spec.ports.protocol", "v1.Protocol"),
    ),
    # intstr.IntOrString decodes itself: encoding/json's error without the field.
    (SERVICE, "spec.ports.0.targetPort", True, "json: cannot unmarshal bool into Go value of type int32"),
    (SERVICE, "spec.type", ["NodePort"], JSON_ERR.format("array", "ServiceSpec.spec.type", "v1.ServiceType")),
    (SECRET, "type", 3, JSON_ERR.format("number", "Secret.type", "v1.SecretType")),
    (SECRET, "data", {"tls.crt": "ab!d"}, "illegal base64 data at input byte 2"),
    (SECRET, "data", {"tls.crt": 5}, JSON_ERR.format("number", "Secret.data", "[]uint8")),
    (CONFIGMAP, "data", {"port": 8080}, JSON_ERR.format("number", "ConfigMap.data", "string")),
    (
        CONFIGMAP,
        "metadata.creationTimestamp",
        "yesterday",
        'parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": cannot parse "yesterday" as "2006"',
    ),
]


@pytest.mark.parametrize(("base", "path", "value", "text"), DECODE_CASES)
def test_wrong_types_are_the_decoders_bad_request(
    base: dict[str, Any], path: str, value: Any, text: str
) -> None:
    obj = _with(base, path, value)
    assert validate(obj).decode_error == text
    kind = obj["kind"]
    store = ConfigStore()
    store.apply(load({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}))
    before = store.resource_version
    with pytest.raises(ValidationError) as err:
        store.apply(load(obj, name="x.yaml"))
    assert str(err.value) == (
        f'Error from server (BadRequest): error when creating "x.yaml": {kind} in version "v1" cannot be '
        f"handled as a {kind}: {text}"
    )
    assert store.resource_version == before  # nothing changed


def test_the_first_saved_error_wins_but_a_custom_decoders_error_ends_decoding() -> None:
    obj = _with(DEPLOYMENT, "spec.replicas", "3")
    obj = _with(obj, "spec.template.spec.containers.0.ports.0.containerPort", "80")
    assert "DeploymentSpec.spec.replicas" in validate(obj).decode_error
    obj = _with(obj, "spec.template.spec.containers.0.resources.limits.cpu", "lots")
    assert validate(obj).decode_error.startswith("quantities must match")


def test_unknown_fields_at_any_depth_are_strict_decoding_errors() -> None:
    obj = _with(DEPLOYMENT, "spec.template.spec.containers.0.imagePullPolicyy", "Always")
    obj["spec"]["Replicas"] = 3  # decoding is case-sensitive
    assert validate(obj).unknown_fields == (
        "spec.template.spec.containers[0].imagePullPolicyy",
        "spec.Replicas",
    )
    # A decoding error wins: strict errors are reported only for a body that decoded.
    assert validate(_with(obj, "spec.replicas", "3")).decode_error


def test_null_is_accepted_anywhere() -> None:
    obj = _with(DEPLOYMENT, "spec.replicas", None)
    obj["metadata"]["creationTimestamp"] = None
    assert validate(obj).ok


VALIDATION_CASES = [
    (
        _with(DEPLOYMENT, "spec.replicas", -2),
        'The Deployment "web" is invalid: spec.replicas: Invalid value: -2: '
        "must be greater than or equal to 0",
    ),
    (
        _with(SERVICE, "metadata.labels", {"version": "v" * 64}),
        f'The Service "web" is invalid: metadata.labels: Invalid value: "{"v" * 64}": '
        "must be no more than 63 characters",
    ),
    (
        _with(SERVICE, "metadata.labels", {"bad key": "x"}),
        'The Service "web" is invalid: metadata.labels: Invalid value: "bad key": name part must consist of '
        "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character "
        "(e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
        "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
    ),
    (
        _with(CONFIGMAP, "metadata.annotations", {"big": "x" * (256 * 1024)}),
        'The ConfigMap "cm" is invalid: metadata.annotations: Too long: may not be more than 262144 bytes',
    ),
    (
        _with(CONFIGMAP, "data", {"a": "x" * (1024 * 1024 + 1)}),
        # kubectl apply: the last-applied annotation holds the data too.
        'The ConfigMap "cm" is invalid: \n'
        "* metadata.annotations: Too long: may not be more than 262144 bytes\n"
        "* []: Too long: may not be more than 1048576 bytes",
    ),
    (
        _with(CONFIGMAP, "data", {"my file": "x"}),
        'The ConfigMap "cm" is invalid: data[my file]: Invalid value: "my file": a valid config key must '
        "consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or "
        "'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
    ),
    (
        _with(SECRET, "stringData", {"tls.crt": "x" * (1024 * 1024), "tls.key": "k"}),
        'The Secret "cred" is invalid: \n'
        "* metadata.annotations: Too long: may not be more than 262144 bytes\n"
        "* data: Too long: may not be more than 1048576 bytes",
    ),
    (
        _with(DEPLOYMENT, "spec.template.metadata.labels", {"app": "web", "v": "-bad"}),
        'The Deployment "web" is invalid: spec.template.metadata.labels: Invalid value: "-bad": a valid '
        "label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
        "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex "
        "used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
    ),
]


@pytest.mark.parametrize(("obj", "text"), VALIDATION_CASES, ids=lambda v: str(v)[:30])
def test_kubernetes_validation_texts(obj: dict[str, Any], text: str) -> None:
    store = ConfigStore()
    store.apply(load({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}))
    with pytest.raises(ValidationError) as err:
        store.apply(load(obj, name="x.yaml"))
    assert str(err.value) == text


def test_kubectl_apply_of_a_big_object_fails_on_its_last_applied_annotation() -> None:
    # kubectl apply copies the whole object into an annotation: a 300 KiB ConfigMap is refused
    # by the annotation limit, as on a real cluster (kubectl create would accept it).
    store = ConfigStore()
    store.apply(load({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}))
    with pytest.raises(ValidationError, match=r"metadata.annotations: Too long: may not be more than 262144"):
        store.apply(load(_with(CONFIGMAP, "data", {"a": "x" * (300 * 1024)})))


def test_request_body_limit() -> None:
    store = ConfigStore()
    store.apply(load({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}))
    big = _with(CONFIGMAP, "data", {f"k{i}": "x" * 1024 * 1024 for i in range(4)})
    with pytest.raises(ValidationError) as err:
        store.apply(load(big, name="big.yaml"))
    assert str(err.value) == (
        'Error from server (RequestEntityTooLarge): error when creating "big.yaml": '
        "Request entity too large: limit is 3145728"
    )


def test_custom_resource_metadata_that_does_not_decode_is_dropped() -> None:
    # apiextensions-apiserver drops malformed metadata fields of custom resources (create/update).
    gw = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "gw", "labels": {"version": 1}, "annotations": {"a": "b"}},
        "spec": {"servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}]},
    }
    store = ConfigStore()
    store.apply(load({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}))
    store.apply(load(gw))
    meta = store.snapshot().raw(next(k for k in store.snapshot().keys() if k.kind == "Gateway"))["metadata"]
    assert "labels" not in meta and meta["annotations"]["a"] == "b"
