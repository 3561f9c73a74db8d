"""Label and field selectors (gatewaykit.kube.selectors), as apimachinery parses and matches them.

The label-selector parser is checked against the real kubectl too: ``kubectl set selector --local``
runs the same parser (``metav1.ParseToLabelSelector``) with no server, and prints its error or the
requirements it parsed.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys
from typing import Any

import pytest

from gatewaykit.errors import ApiError
from gatewaykit.kube.selectors import (
    match_labels,
    parse_field_selector,
    parse_label_selector,
    selector_from_label_selector,
)

KEY_REGEX = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
KEY_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
    f"character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '{KEY_REGEX}')"
)
VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
    f"for validation is '({KEY_REGEX})?')"
)

# (selector, String() of the parsed selector: requirements sorted by key, values sorted)
PARSED = [
    ("", ""),
    ("app", "app"),
    ("!legacy", "!legacy"),
    ("app=web", "app=web"),
    ("app==web", "app==web"),
    ("app!=web", "app!=web"),
    ("tier in (b, a), app", "app,tier in (a,b)"),
    ("x notin (c,a,c)", "x notin (a,c)"),
    ("a=b,c=d , e!=f", "a=b,c=d,e!=f"),
    ("a in ()", "a in ()"),
    ("a notin ( , x, )", "a notin (,x)"),
    ("a=", "a="),
    ("a=,b", "a=,b"),
    ("n>1,m<10", "m<10,n>1"),
    ("in=notin", "in=notin"),
    ("example.com/app=v", "example.com/app=v"),
]


@pytest.mark.parametrize(("text", "canonical"), PARSED)
def test_parse_label_selector(text: str, canonical: str) -> None:
    assert str(parse_label_selector(text)) == canonical


# (selector, labels, matches)
MATCHES = [
    ("", {}, True),
    ("app=web", {"app": "web"}, True),
    ("app=web", {"app": "api"}, False),
    ("app=web", {}, False),
    ("app!=web", {}, True),
    ("app!=web", {"app": "web"}, False),
    ("tier in (a,b)", {"tier": "b"}, True),
    ("tier in (a,b)", {}, False),
    ("tier notin (a,b)", {}, True),
    ("tier notin (a,b)", {"tier": "a"}, False),
    ("app", {"app": ""}, True),
    ("!app", {"app": ""}, False),
    ("!app", {"other": "x"}, True),
    ("n>5", {"n": "10"}, True),
    ("n>5", {"n": "x"}, False),
    ("n<5", {"n": "-3"}, True),
    ("app=web,version", {"app": "web"}, False),
    ("app=web,version", {"app": "web", "version": "v1"}, True),
    ("a=", {"a": ""}, True),
]


@pytest.mark.parametrize(("text", "labels", "expected"), MATCHES)
def test_match_labels(text: str, labels: dict[str, str], expected: bool) -> None:
    assert match_labels(text, labels) is expected
    assert parse_label_selector(text).matches(labels) is expected


# (selector, the API server's 400 message)
LABEL_ERRORS = [
    ("a in b", "unable to parse requirement: found 'b' expected: '('"),
    ("x=a b", "found 'b', expected: ',' or 'end of string'"),
    ("=a", "found '=', expected: !, identifier, or 'end of string'"),
    ("a,", "found '', expected: identifier after ','"),
    ("a,,b", "found ',', expected: identifier after ','"),
    ("!", "unable to parse requirement: found '', expected: identifier"),
    ("a!", "unable to parse requirement: found '!', expected: in, notin, =, ==, !=, gt, lt"),
    ("a in (b", "unable to parse requirement: found '', expected: ',' or ')'"),
    ("a in (b c)", "unable to parse requirement: found 'c', expected: ',' or ')'"),
    ("a in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier"),
    ("a=(b)", "unable to parse requirement: found '(', expected: identifier"),
    (
        "a<b",
        'unable to parse requirement: values[0]: Invalid value: "b": '
        "for 'Gt', 'Lt' operators, the value must be an integer",
    ),
    (
        "a/b/c",
        'unable to parse requirement: <nil>: Invalid value: "a/b/c": a valid label key '
        f"{KEY_MSG} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
    ),
    (
        "a.b/",
        'unable to parse requirement: <nil>: Invalid value: "a.b/": name part must be non-empty; '
        f"name part {KEY_MSG}",
    ),
    (
        "-a=b",
        f'unable to parse requirement: <nil>: Invalid value: "-a": name part {KEY_MSG}',
    ),
    (
        "a=b@",
        f'unable to parse requirement: values[0][a]: Invalid value: "b@": {VALUE_MSG}',
    ),
    (
        "a in (b@,c@)",
        f'unable to parse requirement: [values[0][a]: Invalid value: "b@": {VALUE_MSG}, '
        f'values[1][a]: Invalid value: "c@": {VALUE_MSG}]',
    ),
    (
        "a=" + "x" * 64,
        f'unable to parse requirement: values[0][a]: Invalid value: "{"x" * 64}": '
        "must be no more than 63 bytes",
    ),
]


@pytest.mark.parametrize(("text", "message"), LABEL_ERRORS)
def test_bad_label_selector_is_a_400_with_the_parser_error(text: str, message: str) -> None:
    with pytest.raises(ApiError) as err:
        parse_label_selector(text)
    assert (err.value.status.code, err.value.status.reason, err.value.status.message) == (
        400,
        "BadRequest",
        message,
    )
    assert str(err.value) == f"Error from server (BadRequest): {message}"


def test_selector_from_label_selector_object() -> None:
    assert not selector_from_label_selector(None).matches({})  # a nil selector selects nothing
    assert selector_from_label_selector({}).matches({"any": "thing"})  # an empty one, everything
    sel = selector_from_label_selector(
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["b", "a"]},
                {"key": "legacy", "operator": "DoesNotExist"},
            ],
        }
    )
    assert str(sel) == "app=web,!legacy,tier in (a,b)"
    assert sel.matches({"app": "web", "tier": "a"})
    assert not sel.matches({"app": "web", "tier": "a", "legacy": "1"})


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (
            {"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]},
            '"Gt" is not a valid label selector operator',
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
            "values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty",
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
            'values: Invalid value: ["x"]: values set must be empty for exists and does not exist',
        ),
        ({"matchLabels": {"a b": "c"}}, f'key: Invalid value: "a b": name part {KEY_MSG}'),
    ],
)
def test_invalid_label_selector_object(obj: dict[str, Any], message: str) -> None:
    with pytest.raises(ApiError) as err:
        selector_from_label_selector(obj)
    assert err.value.status.message == message


# ------------------------------------------------------------------------------ field selectors
@pytest.mark.parametrize(
    ("text", "canonical", "fields", "expected"),
    [
        ("", "", {}, True),
        ("metadata.name=web", "metadata.name=web", {"metadata.name": "web"}, True),
        ("metadata.name==web", "metadata.name=web", {"metadata.name": "api"}, False),
        ("status.phase!=Running", "status.phase!=Running", {"status.phase": "Pending"}, True),
        ("spec.nodeName=", "spec.nodeName=", {}, True),  # a missing field reads as ""
        ("b=2,a=1", "a=1,b=2", {"a": "1", "b": "2"}, True),  # terms are sorted
        ("a=x\\,y\\=z\\\\", "a=x\\,y\\=z\\\\", {"a": "x,y=z\\"}, True),  # escaped value
        (",,", "", {}, True),
    ],
)
def test_field_selector(text: str, canonical: str, fields: dict[str, str], expected: bool) -> None:
    sel = parse_field_selector(text)
    assert str(sel) == canonical
    assert sel.matches(fields) is expected


@pytest.mark.parametrize(
    ("text", "kind", "message"),
    [
        ("name", None, "invalid selector: 'name'; can't understand 'name'"),
        ("a=b,c", None, "invalid selector: 'a=b,c'; can't understand 'c'"),
        ("a=b\\x", None, "invalid field selector: invalid escape sequence: \\x"),
        ("a=b\\", None, "invalid field selector: invalid escape sequence: \\"),
        ("a=b=c", None, "invalid field selector: unescaped character in value: 61"),
        ("spec.foo=1", "Pod", "field label not supported: spec.foo"),
        (
            "spec.replicas=1",
            "Deployment",
            '"spec.replicas" is not a known field selector: only "metadata.name", "metadata.namespace"',
        ),
        ("metadata.namespace=x", "Namespace", "field label not supported: metadata.namespace"),
        # Conversion runs only once the whole selector parsed: the parse error wins.
        ("spec.foo=1,zz", "Pod", "invalid selector: 'spec.foo=1,zz'; can't understand 'zz'"),
    ],
)
def test_bad_field_selector_is_a_400(text: str, kind: str | None, message: str) -> None:
    with pytest.raises(ApiError) as err:
        parse_field_selector(text, kind)
    assert (err.value.status.code, err.value.status.message) == (400, message)


def test_field_labels_per_kind() -> None:
    assert str(parse_field_selector("spec.host=n1", "Pod")) == "spec.nodeName=n1"  # old clients' name
    assert str(parse_field_selector("type=kubernetes.io/tls", "Secret")) == "type=kubernetes.io/tls"
    assert str(parse_field_selector("spec.type=NodePort", "Service")) == "spec.type=NodePort"
    assert str(parse_field_selector("metadata.name=x", "ConfigMap")) == "metadata.name=x"


# ------------------------------------------------------------------------- the real kubectl
KUBECTL = pathlib.Path(sys.executable).parent / "kubectl"


@pytest.fixture(scope="module")
def set_selector(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``kubectl set selector --local -f svc.json <selector> -o json``: (exit code, stdout, stderr)."""
    binary = str(KUBECTL) if KUBECTL.exists() else shutil.which("kubectl")
    if binary is None:
        pytest.skip("kubectl is not installed next to the Python interpreter or on PATH")
    home = tmp_path_factory.mktemp("kubectl-selector")
    svc = home / "svc.json"
    svc.write_text(json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}}))

    def run(text: str) -> tuple[int, str, str]:
        env = {"HOME": str(home), "PATH": "/usr/bin:/bin"}
        args = [binary, "set", "selector", "--local", "-f", str(svc), "-o", "json", "--", text]
        proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
        return proc.returncode, proc.stdout, proc.stderr

    return run


def _as_kubectl_prints(text: str) -> tuple[int, Any, str]:
    """What ``kubectl set selector`` shows for ``text``, built from our parse (ParseToLabelSelector)."""
    try:
        sel = parse_label_selector(text)
    except ApiError as err:
        return 1, None, f'error: couldn\'t parse the selector string "{text}": {err.status.message}\n'
    ops = {"in": "In", "notin": "NotIn", "exists": "Exists", "!": "DoesNotExist"}
    match_labels_ = {r.key: r.values[0] for r in sel.requirements if r.operator in ("=", "==")}
    exprs = []
    for r in sel.requirements:
        if r.operator in ("gt", "lt"):
            return 1, None, f'error: "{r.operator}" isn\'t supported in label selectors\n'
        if r.operator == "!=":
            return 1, None, 'error: "!=" is not a valid label selector operator\n'
        if r.operator in ops:
            exprs.append(f"{{{r.key} {ops[r.operator]} [{' '.join(r.values)}]}}")
    if exprs:
        return 1, None, f"error: match expression [{' '.join(exprs)}] not supported on this object\n"
    return 0, match_labels_, ""


@pytest.mark.parametrize("text", [t for t, _ in PARSED if t] + [t for t, _ in LABEL_ERRORS])
def test_label_selector_parser_matches_kubectl(set_selector: Any, text: str) -> None:
    code, stdout, stderr = set_selector(text)
    printed = json.loads(stdout)["spec"]["selector"] if code == 0 else None
    assert (code, printed, stderr) == _as_kubectl_prints(text)
