"""The lab loader names the file, the line and what is wrong."""

from __future__ import annotations

import pathlib
import textwrap

import pytest

from gatewaykit.errors import LabError
from gatewaykit.kit import load_lab

GOOD = textwrap.dedent(
    """\
    id: 99-test
    title: A test lab
    summary: For the loader tests.
    concepts: [testing]
    steps:
    - id: one
      title: Step one
      explain: Apply a gateway.
      manifests:
      - file: gw.yaml
      probes:
      - curl: curl -s -I "http://$INGRESS_HOST:$INGRESS_PORT/status/200"
        expect: {status: 200}
    exercises:
    - id: ex
      title: Exercise
      task: Do it.
      hints: [think]
      check:
        probes:
        - curl: curl -s -I "http://$INGRESS_HOST:$INGRESS_PORT/"
          expect: {status: 404}
      solution:
        manifests:
        - file: gw.yaml
    """
)

GW = textwrap.dedent(
    """\
    apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata:
      name: gw
    spec:
      selector: {istio: ingressgateway}
      servers:
      - port: {number: 80, name: http, protocol: HTTP}
        hosts: ["*"]
    """
)


def make_lab(tmp_path: pathlib.Path, text: str, gw: str = GW) -> pathlib.Path:
    d = tmp_path / "99-test"
    d.mkdir()
    (d / "lab.yaml").write_text(text)
    (d / "gw.yaml").write_text(gw)
    return d


def error_of(tmp_path: pathlib.Path, text: str, gw: str = GW) -> str:
    d = make_lab(tmp_path, text, gw)
    with pytest.raises(LabError) as info:
        load_lab(d)
    return str(info.value)


def test_good_lab_loads(tmp_path: pathlib.Path) -> None:
    lab = load_lab(make_lab(tmp_path, GOOD))
    assert lab.steps[0].action.manifests[0].documents[0]["kind"] == "Gateway"
    assert lab.exercises[0].probes[0].expect.status == 404


def test_yaml_syntax_error_names_file_and_line(tmp_path: pathlib.Path) -> None:
    msg = error_of(tmp_path, GOOD.replace("title: Step one", "title: [Step one"))
    assert msg.startswith(str(tmp_path / "99-test" / "lab.yaml") + ":")
    assert "YAML syntax error" in msg


def test_unknown_field_names_its_line(tmp_path: pathlib.Path) -> None:
    msg = error_of(
        tmp_path,
        GOOD.replace("  explain: Apply a gateway.\n", "  explain: Apply a gateway.\n  manifest: []\n"),
    )
    assert msg.startswith(f"{tmp_path / '99-test' / 'lab.yaml'}:9:")
    assert "unknown field 'manifest'" in msg
    assert "steps[0]" in msg


def test_missing_required_field(tmp_path: pathlib.Path) -> None:
    msg = error_of(tmp_path, GOOD.replace("  hints: [think]\n", ""))
    assert ":15:" in msg and "exercises[0]" in msg and "missing required field 'hints'" in msg


def test_wrong_type_in_expectation(tmp_path: pathlib.Path) -> None:
    msg = error_of(tmp_path, GOOD.replace("expect: {status: 200}", "expect: {status: ok}"))
    assert ":13:" in msg and "status must be a number" in msg


def test_missing_manifest_file(tmp_path: pathlib.Path) -> None:
    msg = error_of(tmp_path, GOOD.replace("  - file: gw.yaml\n  probes", "  - file: nope.yaml\n  probes"))
    assert ":10:" in msg and "manifest file 'nope.yaml' not found" in msg


def test_manifest_yaml_error_names_the_manifest_file(tmp_path: pathlib.Path) -> None:
    msg = error_of(tmp_path, GOOD, gw=GW.replace('hosts: ["*"]', 'hosts: ["*"'))
    assert msg.startswith(str(tmp_path / "99-test" / "gw.yaml") + ":")
    assert "YAML syntax error in manifest" in msg


def test_manifest_without_kind(tmp_path: pathlib.Path) -> None:
    msg = error_of(tmp_path, GOOD, gw=GW.replace("kind: Gateway\n", ""))
    assert "lacks kind" in msg


def test_undefined_variable_in_probe(tmp_path: pathlib.Path) -> None:
    msg = error_of(tmp_path, GOOD.replace("$INGRESS_PORT/status/200", "$MY_PORT/status/200"))
    assert ":12:" in msg and "$MY_PORT is not defined" in msg


def test_duplicate_step_ids(tmp_path: pathlib.Path) -> None:
    extra = "- id: one\n  title: Again\n  explain: Twice.\nexercises:\n"
    msg = error_of(tmp_path, GOOD.replace("exercises:\n", extra, 1))
    assert "duplicate id 'one'" in msg and ":14:" in msg


def test_bad_secret_type(tmp_path: pathlib.Path) -> None:
    text = GOOD.replace(
        "steps:\n",
        "setup:\n  certificates: [example_certs1]\n  secrets:\n"
        "  - {name: s, type: opaque, cert: example_certs1/x}\nsteps:\n",
    )
    msg = error_of(tmp_path, text)
    assert ":8:" in msg and "secret type must be `tls` or `generic`" in msg


def test_exercise_without_solution_content(tmp_path: pathlib.Path) -> None:
    msg = error_of(
        tmp_path, GOOD.replace("  solution:\n    manifests:\n    - file: gw.yaml\n", "  solution: {}\n")
    )
    assert "reference solution must apply or delete something" in msg


def test_probe_must_run_curl(tmp_path: pathlib.Path) -> None:
    msg = error_of(
        tmp_path,
        GOOD.replace(
            '- curl: curl -s -I "http://$INGRESS_HOST:$INGRESS_PORT/status/200"', "- curl: wget http://x"
        ),
    )
    assert ":12:" in msg and "must run `curl`" in msg


KUBECTL_PROBE = """\
  - kubectl: kubectl get pods -n default
    expect: {stdout_contains: [Running]}
"""
FIRST_CURL = '  - curl: curl -s -I "http://$INGRESS_HOST:$INGRESS_PORT/status/200"'


def with_probe(probe: str) -> str:
    return GOOD.replace(FIRST_CURL, probe + FIRST_CURL, 1)


def test_kubectl_probe_loads(tmp_path: pathlib.Path) -> None:
    lab = load_lab(make_lab(tmp_path, with_probe(KUBECTL_PROBE)))
    probe = lab.steps[0].probes[0]
    assert probe.kubectl and probe.command == "kubectl get pods -n default" and probe.source is None
    assert probe.expect.stdout_contains == ("Running",)


def test_kubectl_probe_is_judged_on_its_output_only(tmp_path: pathlib.Path) -> None:
    http = KUBECTL_PROBE.replace("{stdout_contains: [Running]}", "{status: 200}")
    msg = error_of(tmp_path, with_probe(http))
    assert ":13:" in msg and "a kubectl probe is judged on its output" in msg


def test_kubectl_probe_runs_kubectl(tmp_path: pathlib.Path) -> None:
    msg = error_of(tmp_path, with_probe(KUBECTL_PROBE.replace("kubectl get", "oc get")))
    assert ":12:" in msg and "must start with `kubectl `" in msg


def test_unknown_lab_lists_known_ones() -> None:
    with pytest.raises(LabError) as info:
        load_lab("no-such-lab")
    assert "01-virtual-hosts" in str(info.value)


def test_an_editor_exercise_cannot_need_a_delete(tmp_path: pathlib.Path) -> None:
    """Every exercise must be doable by typing its solution into the place it offers."""
    msg = error_of(
        tmp_path,
        GOOD.replace(
            "  solution:\n    manifests:\n", "  solution:\n    delete:\n    - file: gw.yaml\n    manifests:\n"
        ),
    )
    assert ":24:" in msg and "exercises[0].solution" in msg  # the line of `solution:`
    assert "the YAML editor can only apply manifests" in msg and "`script:`" in msg


def test_a_bash_exercise_has_a_script_solution(tmp_path: pathlib.Path) -> None:
    text = GOOD.replace(
        "  solution:\n    manifests:\n    - file: gw.yaml\n",
        "  solution:\n    script: |\n      kubectl apply -f gw.yaml\n",
    )
    ex = load_lab(make_lab(tmp_path, text)).exercises[0]
    assert ex.place == "bash" and ex.solution.script == "kubectl apply -f gw.yaml\n"
    both = text.replace("    script: |\n", "    manifests: [{file: gw.yaml}]\n    script: |\n")
    (tmp_path / "b").mkdir()
    assert "a `script:` solution is the whole solution" in error_of(tmp_path / "b", both)


def test_shell_probes_load_with_doc_test_verifiers(tmp_path: pathlib.Path) -> None:
    curl = '  - curl: curl -s -I "http://$INGRESS_HOST:$INGRESS_PORT/status/200"\n    expect: {status: 200}\n'
    shell = (
        "  - shell: |\n      export GW=$(kubectl get gateway -o name)\n      echo $GW\n"
        "    expect: {stdout_like: gateway.networking.istio.io/gw, exit_code: 0}\n"
    )
    assert curl in GOOD
    probe = load_lab(make_lab(tmp_path, GOOD.replace(curl, shell))).steps[0].probes[0]
    assert probe.kind == "shell" and probe.command.startswith("export GW=")
    assert probe.expect.stdout_like == "gateway.networking.istio.io/gw"
    sourced = GOOD.replace(curl, shell.replace("    expect:", "    source: default/curl\n    expect:"))
    (tmp_path / "c").mkdir()
    assert "a shell probe runs in the lab's working folder: no `source:`" in error_of(tmp_path / "c", sourced)
