"""Loading manifests the way kubectl reads them (client-side errors with kubectl's text)."""

from __future__ import annotations

import pathlib

import pytest

from gatewaykit.errors import ManifestError
from gatewaykit.resources.codecs import load, supported_kinds_line
from gatewaykit.resources.meta import Source

GW = """\
# the httpbin gateway
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: httpbin-gateway
spec:
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["httpbin.example.com"]
"""
SVC = """\
apiVersion: v1
kind: Service
metadata:
  name: httpbin
  creationTimestamp: 2024-01-01T00:00:00Z
spec:
  ports: [{port: 8000, name: http}]
"""


def test_multi_document_text_keeps_file_index_and_line() -> None:
    manifests = load(GW + "---\n\n---\n" + SVC, name="gw.yaml")
    assert [m.kind for m in manifests] == ["Gateway", "Service"]
    assert manifests[0].source == Source("gw.yaml", 0, 2)  # first non-comment line
    assert manifests[1].source == Source("gw.yaml", 1, 13)  # the empty document is skipped
    # go-yaml (sigs.k8s.io/yaml) keeps timestamps as strings.
    assert manifests[1].raw["metadata"]["creationTimestamp"] == "2024-01-01T00:00:00Z"


def test_text_without_name_is_stdin() -> None:
    assert load(GW)[0].source.file == "STDIN"


def test_path_dict_and_list(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(GW)
    assert load(path)[0].source.file == str(path)
    raw = load(GW)[0].raw
    assert load(raw, name="x.yaml")[0].raw == raw
    assert [m.source.index for m in load([raw, raw])] == [0, 1]


def test_kind_list_is_expanded() -> None:
    doc = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: a}\n"
    assert [m.name for m in load(doc)] == ["a"]


def test_yaml_syntax_error_has_kubectls_text() -> None:
    text = "apiVersion: v1\nkind: Service\nmetadata: name: x\n"
    with pytest.raises(ManifestError) as err:
        load(text, name="gw.yaml")
    assert str(err.value) == (
        "error: error parsing gw.yaml: error converting YAML to JSON: yaml: line 3: "
        "mapping values are not allowed in this context"
    )


def test_yaml_line_is_relative_to_the_document() -> None:
    with pytest.raises(ManifestError) as err:
        load(GW + "---\napiVersion: v1\nkind: Service\nmetadata: name: x\n", name="gw.yaml")
    assert "yaml: line 3: mapping values are not allowed in this context" in str(err.value)


def test_unknown_kind_names_supported_kinds() -> None:
    with pytest.raises(ManifestError) as err:
        load("apiVersion: bar/v1\nkind: Foo\nmetadata:\n  name: x\n", name="gw.yaml")
    assert str(err.value) == (
        'error: resource mapping not found for name: "x" namespace: "" from "gw.yaml": no matches for kind '
        '"Foo" in version "bar/v1"\nensure CRDs are installed first\n' + supported_kinds_line()
    )
    assert "Gateway, VirtualService, DestinationRule, ServiceEntry (networking.istio.io/v1" in str(err.value)


def test_wrong_version_of_known_kind_is_unknown() -> None:
    with pytest.raises(
        ManifestError, match='no matches for kind "Gateway" in version "networking.istio.io/v2"'
    ):
        load("apiVersion: networking.istio.io/v2\nkind: Gateway\nmetadata: {name: x, namespace: ns}\n")


def test_missing_apiversion_and_kind() -> None:
    with pytest.raises(ManifestError) as err:
        load("metadata:\n  name: x\n", name="x.yaml")
    assert str(err.value) == (
        'error: error validating "x.yaml": error validating data: [apiVersion not set, kind not set]; '
        "if you choose to ignore these errors, turn validation off with --validate=false"
    )
    with pytest.raises(ManifestError, match=r"error validating data: kind not set;"):
        load("apiVersion: v1\nmetadata:\n  name: x\n", name="x.yaml")


def test_missing_name() -> None:
    with pytest.raises(ManifestError) as err:
        load("apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {}\n", name="x.yaml")
    assert str(err.value) == (
        "error: error when retrieving current configuration of:\n"
        'Resource: "networking.istio.io/v1, Resource=gateways", GroupVersionKind: '
        '"networking.istio.io/v1, Kind=Gateway"\n'
        'Name: "", Namespace: "default"\n'
        'from server for: "x.yaml": resource name may not be empty'
    )


def test_non_mapping_document() -> None:
    with pytest.raises(ManifestError) as err:
        load("- a\n- b\n", name="x.yaml")
    assert str(err.value) == (
        'error: unable to decode "x.yaml": json: cannot unmarshal array into Go value of type '
        "map[string]interface {}"
    )


def test_every_bad_document_is_reported() -> None:
    with pytest.raises(ManifestError) as err:
        load("kind: A\n---\napiVersion: v1\nkind: Foo\nmetadata: {name: y}\n", name="x.yaml")
    assert len(err.value.errors) == 2


def test_missing_file() -> None:
    with pytest.raises(ManifestError, match='error: the path "/nonexistent/x.yaml" does not exist'):
        load(pathlib.Path("/nonexistent/x.yaml"))
