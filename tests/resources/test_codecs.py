"""Loading manifests the way kubectl reads them (client-side errors with kubectl's text)."""

from __future__ import annotations

import pathlib

import pytest

from gatewaykit.errors import ManifestError, ManifestSyntaxError
from gatewaykit.resources.codecs import load, read_documents, supported_kinds_line
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


# -- one reader for every backend and the kit -------------------------------------------------


def test_one_line_str_naming_a_file_is_a_path(tmp_path: pathlib.Path) -> None:
    (tmp_path / "gw.yaml").write_text(GW)
    ns = '{\n\t"apiVersion": "v1", "kind": "Namespace",\n\t"metadata": {"name": "a"}}\n'
    (tmp_path / "gw.json").write_text(ns)
    assert load(str(tmp_path / "gw.yaml"))[0].source == Source(str(tmp_path / "gw.yaml"), 0, 2)
    assert [m.name for m in load(str(tmp_path / "gw.json"))] == ["a"]
    with pytest.raises(ManifestError, match='error: the path "nope.yml" does not exist'):
        load("nope.yml")


def test_json_stream_is_read_as_json() -> None:
    # kubectl's YAMLOrJSONDecoder: a stream starting with "{" is JSON (tabs are fine there).
    text = '{\n\t"apiVersion": "v1",\n\t"kind": "Namespace",\n\t"metadata": {"name": "a"}\n}\n'
    text += '{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "b"}}\n'
    manifests = load(text, name="ns.json")
    assert [(m.name, m.source) for m in manifests] == [
        ("a", Source("ns.json", 0, 1)),
        ("b", Source("ns.json", 1, 6)),
    ]


def test_flow_yaml_starting_with_a_brace_is_yaml() -> None:
    assert load("{apiVersion: v1, kind: Namespace, metadata: {name: a}}")[0].name == "a"


def test_any_kind_leaves_unknown_kinds_to_the_api_server() -> None:
    text = "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\n---\n"
    text += "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: bar/v1, kind: Foo, metadata: {}}\n"
    manifests = load(text, any_kind=True)
    assert [m.kind for m in manifests] == ["HTTPRoute", "Foo"]
    with pytest.raises(ManifestError, match="no matches for kind"):
        load(text)
    # Known kinds are still checked as kubectl does.
    with pytest.raises(ManifestError, match="kind not set"):
        load("apiVersion: v1\nmetadata: {name: x}\n", any_kind=True)


def test_source_of_another_type_is_a_manifest_error() -> None:
    with pytest.raises(ManifestError, match="error: cannot read manifests from int"):
        load(42)  # type: ignore[arg-type]


def test_syntax_error_knows_its_line_in_the_whole_text() -> None:
    with pytest.raises(ManifestSyntaxError) as err:
        read_documents(GW + "---\napiVersion: v1\nkind: Service\nmetadata: name: x\n", name="gw.yaml")
    assert err.value.line == 13  # line 3 of the second document
    assert "yaml: line 3: " in str(err.value) and "mapping values" in err.value.problem


def test_read_documents_parses_without_checking() -> None:
    docs = read_documents("- a\n---\nkind: List\nitems: []\n", name="x.yaml")
    assert [d for d, _ in docs] == [["a"], {"kind": "List", "items": []}]
