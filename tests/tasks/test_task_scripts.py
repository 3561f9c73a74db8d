"""This project's task scripts (``tests/tasks/*.sh``), each run through ``gatewaykit verify``.

The scripts follow istio.io's gateway task pages in the generated ``snips.sh`` style (written here,
nothing copied from istio.io): every ``snip_*`` function runs in one sandbox shell, and its output is
judged with istio.io's doc-test verifiers (``tests/util/verify.sh`` semantics, ``gatewaykit.kit.doctest``).
Each script is run once, with ``--keep-going``, by the real command (``gatewaykit.cli.main``) against
a fresh ``Sandbox.local()``; the test reads its PASS/FAIL lines.

Where the sandbox does not yet answer as Istio does, the expected output stays as Istio's and the
snippet is listed in :data:`DEFECTS` with what goes wrong: its test is a strict xfail, so it fails
the day the sandbox is fixed (then remove the entry).
"""

from __future__ import annotations

import contextlib
import functools
import io
import pathlib
import re

import pytest

from gatewaykit import cli

HERE = pathlib.Path(__file__).resolve().parent
SCRIPTS = sorted(p.name for p in HERE.glob("*.sh"))

#: (script, snippet) -> what the local sandbox does instead of what Istio does.
DEFECTS: dict[tuple[str, str], str] = {
    ("tcp-traffic-shifting.sh", "snip_all_to_v1_3"): (
        "kubectl exec <curl pod> -- sh -c \"(date; sleep 1) | nc HOST PORT\": the sandbox's exec has "
        "no nc (bash: nc: command not found, exit 127); the curl image's busybox provides it"
    ),
    ("sni-passthrough.sh", "snip_run_nginx_5"): (
        "kubectl exec <nginx pod> -c istio-proxy -- curl --resolve nginx.example.com:443:127.0.0.1 ...: "
        "in a pod, 127.0.0.1 reaches the pod's own containers (NGINX on 443); the sandbox's exec gives "
        "'Immediate connect fail for 127.0.0.1: Network is unreachable' and curl exit 7"
    ),
}

_LINE = re.compile(r"^(PASS|FAIL|SKIP) (snip_[A-Za-z0-9_]+) \(")


@functools.cache
def run(script: str) -> tuple[int, str, dict[str, str]]:
    """``gatewaykit verify tests/tasks/<script> --keep-going --backend local``: exit code, output,
    snippet -> PASS/FAIL/SKIP."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(["verify", str(HERE / script), "--keep-going", "--backend", "local"])
    text = out.getvalue()
    statuses = {m.group(2): m.group(1) for m in map(_LINE.match, text.splitlines()) if m}
    return code, text, statuses


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS)
def test_task_script_holds_on_the_local_sandbox(script: str) -> None:
    code, text, statuses = run(script)
    assert statuses, text
    known = {snippet for (name, snippet) in DEFECTS if name == script}
    failed = {name for name, status in statuses.items() if status == "FAIL"}
    assert failed <= known, text
    assert code == (1 if failed else 0), text
    assert text.rstrip().endswith(f"{len(statuses) - len(failed)} passed, {len(failed)} failed, 0 skipped")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("script", "snippet"),
    [
        pytest.param(s, n, marks=pytest.mark.xfail(reason=why, strict=True), id=f"{s}:{n}")
        for (s, n), why in DEFECTS.items()
    ],
)
def test_known_defect(script: str, snippet: str) -> None:
    _, text, statuses = run(script)
    assert statuses.get(snippet) == "PASS", text


def test_every_defect_names_a_real_snippet() -> None:
    """A DEFECTS entry for a snippet that does not exist would xfail for the wrong reason."""
    from gatewaykit.kit.snips import parse_snips

    for script, snippet in DEFECTS:
        names = {s.name for s in parse_snips((HERE / script).read_text(), file=script)}
        assert snippet in names, (script, snippet)
