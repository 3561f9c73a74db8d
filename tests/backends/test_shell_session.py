"""ShellSession: one bash "terminal" per backend (exports persist, output in terminal order)."""

from __future__ import annotations

import os
import pathlib

from gatewaykit.backends.shell import ShellSession


def _session(tmp_path: pathlib.Path, **env: str) -> ShellSession:
    return ShellSession(lambda: dict(env), path_prefix=(tmp_path / "bin",), state_dir=tmp_path / "state")


def test_exports_persist_between_runs_like_one_terminal(tmp_path: pathlib.Path) -> None:
    sh = _session(tmp_path)
    assert sh.run('export SOURCE_POD=$(echo curl-5b549b49b8-mg7nl)').exit_code == 0
    r = sh.run('echo "pod is $SOURCE_POD"')
    assert r.output == "pod is curl-5b549b49b8-mg7nl\n"


def test_unset_and_plain_variables(tmp_path: pathlib.Path) -> None:
    sh = _session(tmp_path, INGRESS_HOST="127.0.0.1")
    sh.run("LOCAL_ONLY=1; unset INGRESS_HOST")
    r = sh.run('echo "[${LOCAL_ONLY:-}] [${INGRESS_HOST:-gone}]"')
    assert r.output == "[] [gone]\n"


def test_learner_export_wins_over_backend_default(tmp_path: pathlib.Path) -> None:
    sh = _session(tmp_path, INGRESS_PORT="31234")
    sh.run("export INGRESS_PORT=8080")
    assert sh.run("echo $INGRESS_PORT").output == "8080\n"


def test_output_is_merged_in_order_and_exit_code_kept(tmp_path: pathlib.Path) -> None:
    sh = _session(tmp_path)
    r = sh.run("echo one; echo two >&2; echo three; exit 3")
    assert r.output == "one\ntwo\nthree\n"
    assert r.exit_code == 3 and not r.ok


def test_exit_keeps_exports(tmp_path: pathlib.Path) -> None:
    sh = _session(tmp_path)
    sh.run("export A=1; exit 2")
    assert sh.run("echo $A").output == "1\n"


def test_heredoc_pipes_and_cwd(tmp_path: pathlib.Path) -> None:
    (tmp_path / "work").mkdir()
    sh = _session(tmp_path)
    r = sh.run("cat > note.txt <<EOF\nhello $((1+1))\nEOF\ncat note.txt | tr a-z A-Z", cwd=tmp_path / "work")
    assert r.output == "HELLO 2\n"
    assert (tmp_path / "work" / "note.txt").exists()


def test_default_cwd_is_the_callers(tmp_path: pathlib.Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert _session(tmp_path).run("pwd").output.strip() == str(tmp_path)


def test_path_prefix_and_scrubbed_kubeconfig(tmp_path: pathlib.Path, monkeypatch) -> None:
    monkeypatch.setenv("KUBECONFIG", "/root/.kube/config")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "kubectl"
    tool.write_text("#!/bin/sh\necho \"fake kubectl KUBECONFIG=${KUBECONFIG:-unset}\"\n")
    tool.chmod(0o755)
    sh = _session(tmp_path, KUBECONFIG=str(tmp_path / "kubeconfig"))
    assert sh.run("kubectl").output == f"fake kubectl KUBECONFIG={tmp_path / 'kubeconfig'}\n"


def test_timeout_stops_the_process_group(tmp_path: pathlib.Path) -> None:
    sh = _session(tmp_path)
    r = sh.run("echo started; sleep 30 & wait", timeout=0.5)
    assert r.exit_code == 124
    assert r.output.startswith("started\n")
    assert "stopped the script after 0.5 s" in r.output


def test_state_dir_is_private(tmp_path: pathlib.Path) -> None:
    sh = _session(tmp_path)
    sh.run("export TOKEN=x")
    assert os.stat(tmp_path / "state").st_mode & 0o777 == 0o700
