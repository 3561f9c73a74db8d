"""The one manifest reader's limits and byte handling, with kubectl's own texts.

Every expected text below is what kubectl 1.37.1 printed for the same file
(``kubectl create --dry-run=client -f FILE``), except the nesting limit, whose number is the
sandbox's (go-yaml stops at 10000 levels, the sandbox at ``MAX_DEPTH``).
"""

from __future__ import annotations

import pathlib
import time

import pytest

from gatewaykit.errors import ManifestSyntaxError
from gatewaykit.resources._decoding import MAX_DEPTH, go_float
from gatewaykit.resources.codecs import load

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n"


def _alias_bomb(levels: int = 9, width: int = 9) -> str:
    """The classic "billion laughs": each level a list of ``width`` aliases of the one before."""
    lines = ['  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    prev = "a"
    for name in "bcdefghijklmnop"[: levels - 1]:
        lines.append(f"  {name}: &{name} [" + ",".join([f"*{prev}"] * width) + "]")
        prev = name
    return CM.format(name="bomb") + "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_at_once_with_go_yamls_text() -> None:
    start = time.monotonic()
    with pytest.raises(ManifestSyntaxError) as err:
        load(_alias_bomb(), name="bomb.yaml")
    assert time.monotonic() - start < 2.0  # before expansion: 9**9 strings would need gigabytes
    assert str(err.value) == (
        "error: error parsing bomb.yaml: error converting YAML to JSON: "
        "yaml: document contains excessive aliasing"
    )


def test_moderate_aliasing_still_loads() -> None:
    # go-yaml allows 99% of decodes from aliases below 400,000 decodes; a handful of reuses is fine.
    text = CM.format(name="ok") + '  a: &v "x"\n  b: *v\n  c: *v\n'
    assert load(text)[0].raw["data"] == {"a": "x", "b": "x", "c": "x"}


def test_an_alias_inside_its_own_anchor() -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: self}\ndata: &a\n  x: *a\n"
    with pytest.raises(ManifestSyntaxError) as err:
        load(text, name="self.yaml")
    assert str(err.value).endswith("error converting YAML to JSON: yaml: anchor 'a' value contains itself")


def test_nesting_beyond_the_limit() -> None:
    deep = "[" * (MAX_DEPTH + 50) + "]" * (MAX_DEPTH + 50)
    with pytest.raises(ManifestSyntaxError) as err:
        load(CM.format(name="deep") + f"  a: {deep}\n", name="deep.yaml")
    assert str(err.value) == (
        "error: error parsing deep.yaml: error converting YAML to JSON: yaml: line 6: "
        f"exceeded max depth of {MAX_DEPTH}"
    )
    # libyaml's own limit (1000) is worded the same way.
    with pytest.raises(ManifestSyntaxError, match=f"exceeded max depth of {MAX_DEPTH}"):
        load(CM.format(name="deep") + "  a: " + "[" * 5000 + "]" * 5000 + "\n")


def test_json_nesting_beyond_the_limit() -> None:
    prefix = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dj"},"data":{"a":'
    text = prefix + "[" * 20000 + "]" * 20000 + "}}\n"
    with pytest.raises(ManifestSyntaxError) as err:
        load(text, name="deep.json")
    # encoding/json: the offset counts the bytes read up to the bracket one level too deep.
    offset = len(prefix) + MAX_DEPTH - 1  # kubectl: 10074 for go-yaml's 10000 levels
    assert str(err.value) == (
        f"error: error parsing deep.json: json: offset {offset}: invalid character '[' exceeded max depth"
    )


def test_nested_python_data_is_bounded_too() -> None:
    doc: dict = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
    cur = doc
    for _ in range(MAX_DEPTH + 5):
        cur["a"] = {}
        cur = cur["a"]
    with pytest.raises(ManifestSyntaxError, match=f"exceeded max depth of {MAX_DEPTH}"):
        load(doc)
    loop: dict = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
    loop["data"] = loop  # a cycle is nesting without end
    with pytest.raises(ManifestSyntaxError, match="exceeded max depth"):
        load(loop)


@pytest.mark.parametrize(
    ("value", "problem"),
    [(".nan", "json: unsupported value: NaN"), (".inf", "json: unsupported value: +Inf")],
)
def test_numbers_json_cannot_hold(value: str, problem: str) -> None:
    text = f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: n}}\nspec:\n  replicas: {value}\n"
    with pytest.raises(ManifestSyntaxError) as err:
        load(text, name="nan.yaml")
    assert str(err.value) == f"error: error parsing nan.yaml: error converting YAML to JSON: {problem}"


def test_big_numbers_become_what_kubectl_sends() -> None:
    doc = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: n}}\nspec:\n  replicas: {}\n"
    # 30 digits: go-yaml reads a float64, sent as 1e+30.
    assert load(doc.format("9" * 30))[0].raw["spec"]["replicas"] == 1e30
    # 5000 digits: no float holds it, go-yaml keeps the text (a string).
    assert load(doc.format("9" * 5000))[0].raw["spec"]["replicas"] == "9" * 5000
    # 1.0 is the integer 1 once client-go's unstructured objects hold it.
    assert load(doc.format("1.0"))[0].raw["spec"]["replicas"] == 1
    assert isinstance(load(doc.format("1.0"))[0].raw["spec"]["replicas"], int)


@pytest.mark.parametrize(
    "junk",
    [b"a: x\x00y\n", bytes(range(256)) * 4, b"\x07\x08\x0b"],
    ids=["nul", "binary", "bell"],
)
def test_control_characters(tmp_path: pathlib.Path, junk: bytes) -> None:
    path = tmp_path / "junk.yaml"
    path.write_bytes(junk)
    with pytest.raises(ManifestSyntaxError) as err:
        load(path, name="junk.yaml")
    assert str(err.value) == (
        "error: error parsing junk.yaml: error converting YAML to JSON: "
        "yaml: control characters are not allowed"
    )


def test_non_utf8_bytes_become_replacement_characters(tmp_path: pathlib.Path) -> None:
    # kubectl's FileVisitor decodes with a BOM-aware UTF-8 decoder: no error, U+FFFD instead.
    path = tmp_path / "latin1.yaml"
    path.write_bytes(CM.format(name="lat").encode() + b"  a: caf\xe9\n")
    assert load(path)[0].raw["data"] == {"a": "caf\ufffd"}


def test_utf16_with_a_byte_order_mark(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "u16.yaml"
    path.write_bytes((CM.format(name="u16") + "  a: café\n").encode("utf-16"))
    assert load(path)[0].raw["data"] == {"a": "café"}


def test_bytes_are_read_like_a_file() -> None:
    assert load((CM.format(name="b") + "  a: caf\xe9\n").encode("latin-1"))[0].raw["data"] == {"a": "caf\ufffd"}


def test_lone_surrogates_in_python_text() -> None:
    assert load(CM.format(name="s") + "  a: x\ud800y\n")[0].raw["data"] == {"a": "x\ufffdy"}


def test_duplicate_keys_keep_the_last_as_kubectl_does() -> None:
    # kubectl 1.37 converts YAML with go-yaml's non-strict Unmarshal: `configmap/dup created`
    # with a=3 -- no error, so none here either.
    text = CM.format(name="dup") + '  a: "1"\n  b: "2"\n  a: "3"\n'
    assert load(text)[0].raw["data"] == {"a": "3", "b": "2"}


def test_python_values_json_cannot_hold() -> None:
    doc = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"a": object()}}
    with pytest.raises(ManifestSyntaxError, match="json: unsupported type: object"):
        load(doc)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (1.5e-7, "1.5e-7"),
        (0.000001, "0.000001"),
    ],
)
def test_go_float(value: float, text: str) -> None:
    assert go_float(value) == text
