"""snips.sh parsing and the snippet runner, with a real bash session whose exports persist."""

from __future__ import annotations

import dataclasses
import pathlib
import subprocess

import pytest

from gatewaykit.errors import LabError
from gatewaykit.kit.snips import SnipResult, parse_snips, run_snips

# A task page's snippets in the generated snips.sh style (written for these tests).
SNIPS = r"""#!/bin/bash
# shellcheck disable=SC2034,SC2153,SC2155,SC2164

####################################################################################################
# Generated-style snippets of an imaginary task page, for gatewaykit's tests.
####################################################################################################
source "content/en/boilerplates/snips/an-imaginary-boilerplate.sh"

snip_before_you_begin_1() {
export GREETING=hello
export TARGET="the mesh"
}

# verify: elided
snip_before_you_begin_2() {
printf 'HTTP/1.1 200 OK   \r\nserver: istio-envoy\r\n\r\n'
echo "$GREETING, $TARGET" >&2
}

! IFS=$'\n' read -r -d '' snip_before_you_begin_2_out <<\ENDSNIP
HTTP/1.1 200 OK
...
hello, the mesh
ENDSNIP

snip_render_a_document_1() {
cat <<EOF
{
  "greeting": "$GREETING"
}
EOF
}

! IFS=$'\n' read -r -d '' snip_render_a_document_1_out <<\ENDSNIP

{
  "greeting": "hello"
}

ENDSNIP

# verify: lines + one\n- two
snip_shift_traffic_1() {
for i in 1 2 3; do echo "one $i"; done
}

# verify: like
snip_list_pods_1() {
printf 'NAME                       READY   AGE\nhttpbin-5f9d8c7b6-abcde   1/1     3s\n'
}

! IFS=$'\n' read -r -d '' snip_list_pods_1_out <<\ENDSNIP
NAME                       READY   AGE
httpbin-74fb669cc6-hz8v7   1/1     17h
ENDSNIP

# verify: failure
snip_a_refused_connection_1() {
exec 3<>/dev/tcp/127.0.0.1/1
}

# verify: skip
snip_minikube_tunnel_1() {
minikube tunnel
}

! IFS=$'\n' read -r -d '' snip_a_config_shown_as_text_1 <<\ENDSNIP
meshConfig:
  accessLogFile: /dev/stdout
ENDSNIP
"""


@dataclasses.dataclass
class Ran:
    exit_code: int
    output: str


class BashSession:
    """Each call is a new bash whose exported variables are saved to and restored from a file."""

    def __init__(self, state: pathlib.Path) -> None:
        self.env = state / "exports.sh"
        self.env.write_text("")
        self.scripts: list[str] = []

    def __call__(self, script: str) -> Ran:
        self.scripts.append(script)
        wrapped = f'source "{self.env}"\n{script}\n__rc=$?\nexport -p > "{self.env}"\nexit $__rc\n'
        proc = subprocess.run(
            ["bash", "-c", wrapped], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30
        )
        return Ran(proc.returncode, proc.stdout)


@pytest.fixture
def snips_file(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "snips.sh"
    path.write_text(SNIPS)
    return path


@pytest.fixture
def bash(tmp_path: pathlib.Path) -> BashSession:
    return BashSession(tmp_path)


def test_parse_functions_outputs_and_verifiers() -> None:
    snippets = parse_snips(SNIPS)
    assert [(s.name, s.verify) for s in snippets] == [
        ("snip_before_you_begin_1", "exit"),
        ("snip_before_you_begin_2", "elided"),
        ("snip_render_a_document_1", "same"),
        ("snip_shift_traffic_1", "lines"),
        ("snip_list_pods_1", "like"),
        ("snip_a_refused_connection_1", "failure"),
        ("snip_minikube_tunnel_1", "skip"),
    ]
    by_name = {s.name: s for s in snippets}
    # read -d '' drops the blank lines around the block, nothing else
    assert by_name["snip_render_a_document_1"].expected == '{\n  "greeting": "hello"\n}'
    # the here-document's lone "}" line does not end the function
    assert by_name["snip_render_a_document_1"].script.endswith("}\nEOF\n}")
    assert by_name["snip_shift_traffic_1"].expected == "+ one\n- two"
    assert by_name["snip_before_you_begin_2"].line == 15
    assert by_name["snip_before_you_begin_1"].expected is None


def test_run_all_in_one_session(snips_file: pathlib.Path, bash: BashSession) -> None:
    lines: list[str] = []
    results = run_snips(snips_file, bash, echo=lines.append)
    assert lines == [
        "PASS snip_before_you_begin_1 (exit)",
        "PASS snip_before_you_begin_2 (elided)",
        "PASS snip_render_a_document_1 (same)",
        "PASS snip_shift_traffic_1 (lines)",
        "PASS snip_list_pods_1 (like)",
        "PASS snip_a_refused_connection_1 (failure)",
        "SKIP snip_minikube_tunnel_1 (skip)",
    ]
    assert all(r.passed for r in results)
    # the output is normalised as verify.sh does: trailing blanks/CRs per line, trailing newlines
    assert results[1].output == "HTTP/1.1 200 OK\nserver: istio-envoy\n\nhello, the mesh"
    assert results[5].exit_code != 0
    # each call sends the function definition and its call; skipped snippets send nothing
    assert len(bash.scripts) == 6
    assert bash.scripts[0] == (
        'snip_before_you_begin_1() {\nexport GREETING=hello\nexport TARGET="the mesh"\n}\n'
        "snip_before_you_begin_1 2>&1\n"
    )


def test_only_runs_the_named_snippets_and_stops_at_a_failure(
    snips_file: pathlib.Path, bash: BashSession
) -> None:
    # Without snip_before_you_begin_1 nothing exported GREETING: the document differs.
    lines: list[str] = []
    results = run_snips(snips_file, bash, only=["render_a_document_1", "snip_list_pods_1"], echo=lines.append)
    assert [r.status for r in results] == ["FAIL"]  # like test.sh under set -e: stop
    assert lines == [
        'FAIL snip_render_a_document_1 (same): exit code 0\nreceived:\n"{\n  "greeting": ""\n}"\n'
        'expected:\n"{\n  "greeting": "hello"\n}"'
    ]
    more = run_snips(
        snips_file, bash, only=["render_a_document_1", "list_pods_1"], keep_going=True, echo=None
    )
    assert [(r.name, r.status) for r in more] == [
        ("snip_render_a_document_1", "FAIL"),
        ("snip_list_pods_1", "PASS"),
    ]


def test_verifiers_argument_overrides_the_comments(snips_file: pathlib.Path, bash: BashSession) -> None:
    results = run_snips(
        snips_file,
        bash,
        only=["before_you_begin_1", "before_you_begin_2", "list_pods_1"],
        verifiers={"snip_before_you_begin_2": "contains server: istio-envoy", "snip_list_pods_1": "same"},
        keep_going=True,
        echo=None,
    )
    assert [(r.verify, r.status) for r in results] == [
        ("exit", "PASS"),
        ("contains", "PASS"),
        ("same", "FAIL"),
    ]
    assert (
        results[2].expected
        == "NAME                       READY   AGE\nhttpbin-74fb669cc6-hz8v7   1/1     17h"
    )


def test_plain_snippet_must_exit_zero(tmp_path: pathlib.Path, bash: BashSession) -> None:
    path = tmp_path / "snips.sh"
    path.write_text("snip_broken_1() {\necho about to fail\nfalse\n}\n")
    (result,) = run_snips(path, bash, echo=None)
    assert result == SnipResult("snip_broken_1", "exit", "FAIL", 1, "about to fail", None)
    assert str(result) == "FAIL snip_broken_1 (exit): exit code 1"


def test_attempts_rerun_a_verified_snippet(tmp_path: pathlib.Path, bash: BashSession) -> None:
    counter = tmp_path / "count"
    path = tmp_path / "snips.sh"
    path.write_text(
        "# verify: contains ready\n"
        f"snip_wait_1() {{\necho x >> {counter}\n"
        f"[ $(wc -l < {counter}) -ge 3 ] && echo ready || echo waiting\n}}\n"
    )
    assert run_snips(path, bash, echo=None)[0].status == "FAIL"
    (result,) = run_snips(path, bash, attempts=5, delay=0, echo=None)
    assert result.status == "PASS" and counter.read_text().count("x") == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("snip_a_1() {\necho hi\n", "snips.sh:1: snip_a_1() { is never closed by a line '}'"),
        ("snip_a_1() {\ncat <<EOF\n}\n", "snips.sh:1: snip_a_1() { is never closed by a line '}'"),
        (
            "! IFS=$'\\n' read -r -d '' snip_a_1_out <<\\ENDSNIP\nx\n",
            "snips.sh:1: the here-document is never closed by a line 'ENDSNIP'",
        ),
        (
            "# verify: fuzzy\nsnip_a_1() {\n}\n",
            "snips.sh:1: unknown verifier 'fuzzy' (known: same, contains,",
        ),
        (
            "# verify: elided\nsnip_a_1() {\necho\n}\n",
            "snips.sh:2: snip_a_1 uses 'elided' but has no snip_a_1_out",
        ),
        ("# verify: same\necho stray\n", "snips.sh:1: '# verify:' must be followed by a snip_*() function"),
    ],
)
def test_malformed_files_are_lab_errors(text: str, message: str) -> None:
    with pytest.raises(LabError) as err:
        parse_snips(text)
    assert str(err.value).startswith(message)


def test_unknown_names_are_lab_errors(snips_file: pathlib.Path, bash: BashSession) -> None:
    with pytest.raises(LabError, match="no snippet named snip_nope_1"):
        run_snips(snips_file, bash, only=["nope_1"], echo=None)
    with pytest.raises(LabError, match="no snippet named snip_nope_2"):
        run_snips(snips_file, bash, verifiers={"snip_nope_2": "same"}, echo=None)
    assert bash.scripts == []  # nothing ran
