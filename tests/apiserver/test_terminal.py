"""A second terminal (JupyterLab's) and a notebook cell reach the sandbox the way the docs assume."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

from gatewaykit import Sandbox

GATEWAYKIT = [sys.executable, "-m", "gatewaykit.cli"]


@pytest.fixture(autouse=True)
def _own_runtime_dir(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Other sandboxes of this user (other tests, other sessions) must not answer `gatewaykit env`."""
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run))


def _terminal(script: str, cwd: pathlib.Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBECACHEDIR")}
    env["PATH"] = f"{pathlib.Path(sys.executable).parent}:{env.get('PATH', '')}"
    return subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def test_gatewaykit_env_points_another_terminal_at_the_running_sandbox(tmp_path: pathlib.Path) -> None:
    with Sandbox.local() as sb:
        done = _terminal('eval "$(gatewaykit env)"; kubectl get ns kube-system -o name; echo "$INGRESS_PORT"',
                         tmp_path)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == ["namespace/kube-system", sb.env["INGRESS_PORT"]]
    done = _terminal("gatewaykit env", tmp_path)
    assert done.returncode == 1
    assert "no running sandbox: open a lab notebook (or start Sandbox.local()) first" in done.stderr


def test_samples_link_makes_the_docs_relative_paths_work(tmp_path: pathlib.Path) -> None:
    done = _terminal("gatewaykit samples --link .", tmp_path)
    assert done.returncode == 0, done.stderr
    with Sandbox.local() as sb:
        r = sb.shell("kubectl apply -f samples/httpbin/httpbin.yaml", cwd=tmp_path)
        assert r.output == ("serviceaccount/httpbin created\nservice/httpbin created\n"
                            "deployment.apps/httpbin created\n")


def test_cell_magic_runs_bash_against_the_sandbox_and_keeps_exports(
    tmp_path: pathlib.Path, capsys, monkeypatch
) -> None:
    from gatewaykit.kit.magic import gatewaykit_cell

    monkeypatch.chdir(tmp_path)  # restored after the test: nbval reads paths relative to the repo
    with Sandbox.local():
        gatewaykit_cell("", "export WHO=learner\nkubectl get ns default -o name")
        gatewaykit_cell("", 'echo "$WHO"; kubectl get gw nothing')
        out = capsys.readouterr().out
    assert out.splitlines() == [
        "namespace/default",
        "learner",
        'Error from server (NotFound): gateways.networking.istio.io "nothing" not found',
        "(exit code 1)",
    ]
