"""This project's task scripts (``tests/tasks/*.sh``), each run through ``gatewaykit verify``.

The scripts follow istio.io's gateway task pages in the generated ``snips.sh`` style (written here,
nothing copied from istio.io): every ``snip_*`` function runs in one sandbox shell, and its output is
judged with istio.io's doc-test verifiers (``tests/util/verify.sh`` semantics, ``gatewaykit.kit.doctest``).
Each script is run once, with ``--keep-going``, by the real command (``gatewaykit.cli.main``) against
a fresh ``Sandbox.local()``; the test reads its PASS/FAIL lines.

Every snippet must pass: where the sandbox answers otherwise than Istio does, the sandbox is fixed
(the expected outputs are Istio's).
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
    failed = {name for name, status in statuses.items() if status == "FAIL"}
    assert not failed, text
    assert code == 0, text
    assert text.rstrip().endswith(f"{len(statuses)} passed, 0 failed, 0 skipped")
