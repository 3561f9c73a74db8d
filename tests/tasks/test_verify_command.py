"""``gatewaykit verify SNIPS.sh``: the command's own behaviour (lines, summary, exit codes, --only,
the working folder with ``samples/``), with small snips files written for these tests."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

from gatewaykit import cli

SNIPS = r"""#!/bin/bash
snip_apply_the_sample_1() {
kubectl apply -f samples/httpbin/httpbin.yaml
}

! IFS=$'\n' read -r -d '' snip_apply_the_sample_1_out <<\ENDSNIP
serviceaccount/httpbin created
service/httpbin created
deployment.apps/httpbin created
ENDSNIP

snip_apply_the_sample_2() {
export WHERE=$(pwd)
ls samples/httpbin/httpbin.yaml
}

! IFS=$'\n' read -r -d '' snip_apply_the_sample_2_out <<\ENDSNIP
samples/httpbin/httpbin.yaml
ENDSNIP

# verify: lines + httpbin\n+ kubernetes\n- curl
snip_list_services_1() {
kubectl get svc -o name | sed 's#service/##'
}

snip_a_wrong_claim_1() {
kubectl get deploy httpbin -o jsonpath='{.spec.template.spec.containers[0].ports[0].containerPort}'
}

! IFS=$'\n' read -r -d '' snip_a_wrong_claim_1_out <<\ENDSNIP
80
ENDSNIP

snip_after_the_failure_1() {
echo "$WHERE"
}
"""


@pytest.fixture
def snips(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "page.sh"
    path.write_text(SNIPS)
    return path


def _verify(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gatewaykit.cli", "verify", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_a_line_per_snippet_a_summary_and_exit_1_at_the_first_failure(snips: pathlib.Path) -> None:
    proc = _verify(str(snips), "--backend", "local")
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:3] == [
        "PASS snip_apply_the_sample_1 (same)",
        "PASS snip_apply_the_sample_2 (same)",
        "PASS snip_list_services_1 (lines)",
    ]
    # go-httpbin listens on 8080: the claim "80" is judged as istio.io's _verify_same would.
    assert lines[3:8] == [
        "FAIL snip_a_wrong_claim_1 (same): exit code 0", "received:", '"8080"', "expected:", '"80"'
    ]
    assert lines[-1] == (
        f"{snips}: 3 passed, 1 failed, 0 skipped, 1 not run (stopped at the first failure, as test.sh does "
        "under set -e)"
    )


@pytest.mark.slow
def test_keep_going_runs_the_rest_in_the_same_shell(snips: pathlib.Path, tmp_path: pathlib.Path) -> None:
    work = tmp_path / "work"
    proc = _verify(str(snips), "--keep-going", "--work-dir", str(work))
    assert proc.returncode == 1
    # The export of snippet 2 reached snippet 5: one shell session, run from the working folder.
    assert "PASS snip_after_the_failure_1 (exit)" in proc.stdout
    assert (work / "samples").resolve() == (pathlib.Path(cli.__file__).parent / "data" / "samples").resolve()
    assert proc.stdout.rstrip().endswith("4 passed, 1 failed, 0 skipped")


@pytest.mark.slow
def test_only_runs_the_named_snippets(snips: pathlib.Path) -> None:
    proc = _verify(str(snips), "--only", "apply_the_sample_1", "snip_list_services_1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines() == [
        "PASS snip_apply_the_sample_1 (same)",
        "PASS snip_list_services_1 (lines)",
        f"{snips}: 2 passed, 0 failed, 0 skipped",
    ]


def test_bad_arguments_fail_before_a_sandbox_starts(
    snips: pathlib.Path, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["verify", str(tmp_path / "nope.sh")]) == 2
    assert f"{tmp_path / 'nope.sh'}: no such file" in capsys.readouterr().out
    assert cli.main(["verify", str(snips), "--only", "nope", "list_services_1"]) == 2
    assert f"{snips}: no snippet named snip_nope" in capsys.readouterr().out
    broken = tmp_path / "broken.sh"
    broken.write_text("snip_never_closed_1() {\necho hi\n")
    assert cli.main(["verify", str(broken)]) == 1
    assert "snip_never_closed_1() { is never closed" in capsys.readouterr().out
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GATEWAYKIT_BACKEND", "minikube")
        assert cli.main(["verify", str(snips)]) == 2
    out = capsys.readouterr().out
    assert "GATEWAYKIT_BACKEND='minikube' is not a backend: use local, kind or connect" in out
