"""What a learner does that used to go wrong, on the real local sandbox (the issue "The notebooks
as a learner and an instructor meet them"): solutions that pass later checks, exercises that
cannot be done where they are offered, files in the wrong folder, explanations of the wrong
request, and progress an instructor cannot see."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

from gatewaykit.backends.local import LocalSandbox
from gatewaykit.kit import open_lab
from gatewaykit.kit.magic import gatewaykit_cell, use_backend
from gatewaykit.kit.workdir import default_work_dir

ROOT = pathlib.Path(__file__).resolve().parents[2]

TEAPOT = (
    'curl -s -HHost:httpbin.example.com --resolve "httpbin.example.com:$SECURE_INGRESS_PORT:$INGRESS_HOST" '
    '--cacert {ca} "https://httpbin.example.com:$SECURE_INGRESS_PORT/status/418"'
)


def test_a_solution_applied_earlier_never_passes_a_restarted_exercise(
    sandbox: LocalSandbox, work_dir: pathlib.Path
) -> None:
    lab = open_lab("01-virtual-hosts", backend=sandbox, work_dir=work_dir)
    for step in lab.steps:
        step.apply()
    ex = lab.exercises[0]
    lab.start(ex)
    lab.solution(ex, apply=True)
    assert lab.check(ex).ok
    again = lab.start(ex)
    # Starting the exercise undoes the solution, and says so.
    assert str(again).splitlines()[0] == (
        '# undone first (back to the starting state): virtualservice.networking.istio.io "httpbin-api" deleted'
    )
    result = lab.check(ex)
    assert not result.ok and str(result).startswith("Check: A second virtual host -- 1/3 passed")


def test_applying_a_step_after_a_solution_goes_back_to_that_steps_state(
    sandbox: LocalSandbox, work_dir: pathlib.Path
) -> None:
    lab = open_lab("01-virtual-hosts", backend=sandbox, work_dir=work_dir)
    lab.start("api-host")
    lab.solution("api-host", apply=True)
    out = lab.steps[0].apply()
    assert (
        '# undone first (back to the starting state): virtualservice.networking.istio.io "httpbin-api" deleted'
        in (str(out))
    )
    api = lab.curl('curl -s -I -HHost:api.example.org "http://$INGRESS_HOST:$INGRESS_PORT/status/200"')
    assert api.result.status == 404  # the step's state: nothing routes api.example.org
    assert lab.steps[1].apply().reset == ()  # no solution since: nothing to undo


def test_the_rotate_back_exercise_is_done_in_a_bash_cell(
    sandbox: LocalSandbox,
    work_dir: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lab = open_lab("04-tls-simple", backend=sandbox, work_dir=work_dir)
    ex = lab.exercise("rotate-back")
    assert ex.place == "bash"
    lab.start(ex)
    assert not lab.check(ex).ok
    # The learner types the solution into a %%gatewaykit cell; the kernel works in the lab's folder.
    monkeypatch.chdir(work_dir)
    use_backend(sandbox, lab.notify)
    gatewaykit_cell("", ex.solution.script)
    printed = capsys.readouterr().out
    # kubectl 1.37's own words
    assert (
        printed
        == 'secret "httpbin-credential" deleted from istio-system namespace\nsecret/httpbin-credential created\n'
    )
    result = lab.check(ex)
    assert result.ok, str(result)
    # The Secret the check reads is the one kubectl made (the kit never applied it).
    assert "Well done" in str(result)
    assert not lab.start(ex).error and not lab.check(ex).ok  # starting again really starts again


def test_separate_ca_conditions_read_the_cluster_not_the_kits_ledger(
    sandbox: LocalSandbox, work_dir: pathlib.Path
) -> None:
    lab = open_lab("05-mutual-tls", backend=sandbox, work_dir=work_dir)
    ex = lab.exercise("separate-ca")
    lab.start(ex)
    ran = lab.shell(ex.solution.script)
    assert ran.ok, ran.output
    result = lab.check(ex)
    assert [i.ok for i in result.items] == [True, True, True, True], str(result)


def test_a_learners_own_openssl_certificate_is_the_one_curl_uses(
    sandbox: LocalSandbox, tmp_path: pathlib.Path
) -> None:
    work = tmp_path / "04-tls-simple"
    lab = open_lab("04-tls-simple", backend=sandbox, work_dir=work)
    # The kit made its certificates with the docs' openssl commands, in the visible folder.
    script = (work / "certificates.sh").read_text()
    assert (
        "openssl req -x509 -sha256 -nodes -days 365 -newkey rsa:2048 -subj '/O=example Inc./CN=example.com' "
        "-keyout example_certs1/example.com.key -out example_certs1/example.com.crt" in script
    )
    assert (work / "example_certs1" / "httpbin.example.com.key").stat().st_mode & 0o777 == 0o600
    lab.steps[0].apply()
    # The learner makes a CA and a server certificate of their own, as the docs do, in that folder...
    learner = (
        "mkdir mine\n"
        "openssl req -x509 -sha256 -nodes -days 365 -newkey rsa:2048 -subj '/O=learner Inc./CN=example.com' "
        "-keyout mine/example.com.key -out mine/example.com.crt\n"
        "openssl req -out mine/httpbin.csr -newkey rsa:2048 -nodes -keyout mine/httpbin.key "
        '-subj "/CN=httpbin.example.com/O=learner"\n'
        "openssl x509 -req -sha256 -days 365 -CA mine/example.com.crt -CAkey mine/example.com.key "
        "-set_serial 0 -in mine/httpbin.csr -out mine/httpbin.crt\n"
        "kubectl -n istio-system delete secret httpbin-credential\n"
        "kubectl create -n istio-system secret tls httpbin-credential --key=mine/httpbin.key "
        "--cert=mine/httpbin.crt\n"
    )
    subprocess.run(["bash", "-c", learner.split("kubectl")[0]], cwd=work, check=True, capture_output=True)
    assert lab.shell("kubectl" + learner.split("kubectl", 1)[1]).ok
    # ... and curl, run by the kit from that folder, trusts exactly that CA now.
    mine = lab.curl(TEAPOT.format(ca="mine/example.com.crt").replace("curl -s ", "curl -sv "))
    assert mine.result.exit_code == 0 and "I'm a teapot!" in mine.result.stdout
    assert mine.tls["issuer"] == "O=learner Inc.; CN=example.com"
    assert lab.curl(TEAPOT.format(ca="example_certs1/example.com.crt")).result.exit_code == 60
    # A file the learner made is never overwritten when the lab opens again.
    (work / "example_certs1" / "example.com.crt").write_bytes(
        (work / "mine" / "example.com.crt").read_bytes()
    )
    open_lab("04-tls-simple", backend=sandbox, work_dir=work)
    assert (work / "example_certs1" / "example.com.crt").read_bytes() == (
        work / "mine" / "example.com.crt"
    ).read_bytes()


def test_working_folders_are_visible_and_beside_the_notebooks(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GATEWAYKIT_WORK_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert default_work_dir("04-tls-simple") == tmp_path / "04-tls-simple"
    (tmp_path / "04-tls-simple").mkdir()
    monkeypatch.chdir(tmp_path / "04-tls-simple")  # a kernel already working in a lab's folder
    assert default_work_dir("04-tls-simple") == tmp_path / "04-tls-simple"
    assert default_work_dir("05-mutual-tls") == tmp_path / "05-mutual-tls"
    monkeypatch.setenv("GATEWAYKIT_WORK_DIR", str(tmp_path / "w"))
    assert default_work_dir("05-mutual-tls") == tmp_path / "w" / "05-mutual-tls"


def test_explain_never_shows_an_earlier_requests_log_line(
    sandbox: LocalSandbox, work_dir: pathlib.Path
) -> None:
    lab = open_lab("04-tls-simple", backend=sandbox, work_dir=work_dir)
    lab.steps[0].apply()
    ok = lab.curl(TEAPOT.format(ca="example_certs1/example.com.crt"))
    assert '"GET /status/418 HTTP/2" 418' in lab.explain(ok).log_line
    # Another CA of the same name: curl aborts the handshake (exit 35) -- no request, no log line.
    wrong = lab.curl(TEAPOT.format(ca="example_certs2/example.com.crt"))
    assert wrong.result.exit_code == 35
    exp = lab.explain(wrong)
    assert exp.log_line == ""
    assert str(exp).endswith("access log: (no line for this request: the proxy logged nothing for it)")
    assert '"GET /status/418 HTTP/2" 418' in lab.explain(ok).log_line  # its own line, still


def test_registry_only_exit_35_is_read_as_the_sidecars_doing(
    sandbox: LocalSandbox, work_dir: pathlib.Path
) -> None:
    lab = open_lab("09-egress-policy", backend=sandbox, work_dir=work_dir)
    step = next(s for s in lab.steps if s.id == "registry-only")
    for s in lab.steps[: step.number]:
        s.apply()
    out = lab.curl("curl -sI https://www.google.com", source="default/curl")
    assert out.result.exit_code == 35
    assert out.reading.startswith(
        "exit 35: the TLS handshake failed -- the sidecar of default/curl sent the "
    )
    assert "BlackHoleCluster" in out.reading and "Gateway's hosts" not in out.reading


def test_the_topology_does_not_draw_a_host_the_gateway_does_not_admit(
    sandbox: LocalSandbox, work_dir: pathlib.Path
) -> None:
    lab = open_lab("07-namespace-hosts", backend=sandbox, work_dir=work_dir)
    lab.start("admit-eu")  # eu-bookinfo lives in default; the Gateway admits bookinfo-namespace only
    topo = lab.topology()
    eu = lab.curl('curl -s -I -HHost:eu.bookinfo.com "http://$INGRESS_HOST:$INGRESS_PORT/status/200"')
    assert eu.result.status == 404
    assert '-->|"eu.bookinfo.com"|' not in topo
    assert '-.->|"eu.bookinfo.com: not admitted by the Gateway (404)"|' in topo
    assert '-->|"uk.bookinfo.com"|' in topo


def test_progress_is_recorded_for_the_instructors_overview(
    sandbox: LocalSandbox, tmp_path: pathlib.Path
) -> None:
    from gatewaykit.kit.course import overview

    lab = open_lab("03-https-redirect", backend=sandbox, work_dir=tmp_path / "03-https-redirect")
    step = lab.steps[0]
    step.apply()
    for probe in step.probes:
        lab.curl(probe.command, source=probe.source)  # a curl cell of the notebook is the probe
    lab.start("add-redirect")
    lab.check("add-redirect")
    data = json.loads((tmp_path / "03-https-redirect" / "progress.json").read_text())
    assert data["steps"]["redirect"]["applied"] is True
    assert set(data["steps"]["redirect"]["probes"].values()) == {True}
    assert data["exercises"]["add-redirect"]["passed"] is False
    text = overview(tmp_path)
    line = next(x for x in text.splitlines() if "03-https-redirect" in x)
    assert line.startswith("… 03-https-redirect")
    assert (
        f"steps applied 1/4 · probes passing {len(step.probes)}/" in line and "exercises passed 0/1" in line
    )
    assert any(x.startswith("· 01-virtual-hosts") and "not started" in x for x in text.splitlines())


def test_open_lab_moves_a_notebook_kernel_into_the_lab_folder(tmp_path: pathlib.Path) -> None:
    """In a kernel (IPython with a kernel), the cells run in the lab's folder, as one terminal."""
    code = (
        "import os\n"
        "from ipykernel.inprocess.manager import InProcessKernelManager\n"
        "km = InProcessKernelManager(); km.start_kernel()\n"
        "shell = km.kernel.shell\n"
        'shell.run_cell(\'import gatewaykit.kit, os; lab = gatewaykit.kit.open_lab("01"); '
        "print(os.getcwd()); lab.close()')\n"
    )
    env = {**os.environ, "GATEWAYKIT_WORK_DIR": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.stdout.strip().splitlines()[-1] == str(tmp_path / "01-virtual-hosts"), proc.stderr[-2000:]


def test_a_shell_probe_step_runs_in_the_working_folder_with_doc_test_verifiers(
    sandbox: LocalSandbox, tmp_path: pathlib.Path
) -> None:
    """A step can check with a shell script (kubectl, openssl) instead of curl, judged as
    istio.io's verify.sh judges a snip's output."""
    import shutil

    from gatewaykit.kit import load_lab

    labs = tmp_path / "labs"
    shutil.copytree(ROOT / "labs" / "01-virtual-hosts", labs / "01-virtual-hosts")
    lab_yaml = labs / "01-virtual-hosts" / "lab.yaml"
    text = lab_yaml.read_text()
    probe = (
        "  probes:\n"
        "  - shell: |\n"
        "      export GW=$(kubectl get gateways.networking.istio.io -o name)\n"
        "      echo \"$GW\" > seen.txt\n"
        "      kubectl get gateways.networking.istio.io httpbin-gateway\n"
        "    says: kubectl sees the Gateway\n"
        "    expect:\n"
        "      exit_code: 0\n"
        "      stdout_like: |\n"
        "        NAME              AGE\n"
        "        httpbin-gateway   0s\n"
        "      stdout_lines: |\n"
        "        + httpbin-gateway\n"
        "        - istio-ingressgateway\n"
    )
    lab_yaml.write_text(text.replace("  probes:\n", probe, 1))
    lab = open_lab(load_lab(lab_yaml), backend=sandbox, work_dir=tmp_path / "work")
    result = lab.steps[0].run()
    shell = result.probes[0]
    assert shell.probe.kind == "shell" and shell.ok, str(shell)
    assert str(shell).splitlines()[:2] == [
        "# kubectl sees the Gateway",
        "$ export GW=$(kubectl get gateways.networking.istio.io -o name)",
    ]
    assert (tmp_path / "work" / "seen.txt").read_text() == "gateway.networking.istio.io/httpbin-gateway\n"
    assert [str(c) for c in shell.checks] == [
        "✓ exit code 0",
        "✓ output looks like 'NAME              AGE\\nhttpbin-gateway   0s\\n'",
        "✓ output lines '+ httpbin-gateway\\n- istio-ingressgateway\\n'",
    ]
