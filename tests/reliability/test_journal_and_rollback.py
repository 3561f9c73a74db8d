"""All-or-nothing changes and a journal that survives a kill (issue "Reliability", items 1 and 2)."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

from gatewaykit import Sandbox
from gatewaykit.errors import SandboxError

GATEWAY = """apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: {name}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 80, name: http, protocol: HTTP}}
    hosts: ["{name}.example.com"]
"""


def test_a_torn_last_record_is_dropped_with_a_note_and_the_sandbox_starts(tmp_path: pathlib.Path, capsys) -> None:
    with Sandbox.local(tmp_path) as sb:
        sb.apply(GATEWAY.format(name="kept"))
        sb.apply(GATEWAY.format(name="torn"))
    journal = tmp_path / ".sandbox" / "state" / "journal.log"
    data = journal.read_bytes()
    journal.write_bytes(data[: len(data) - 25])  # a kill in the middle of the last write
    with Sandbox.local(tmp_path) as sb:
        names = {e.key.name for e in sb.store.snapshot().entries("Gateway")}
        assert names == {"kept"}
    err = capsys.readouterr().err
    assert "journal.log record 2" in err and "damaged or cut short, dropped" in err


def test_a_kill_while_writing_never_stops_the_next_start(tmp_path: pathlib.Path) -> None:
    """Kill a process that applies in a loop, at random moments, five times; each restart works."""
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(pathlib.Path(__file__).resolve().parents[2])!r})
        from gatewaykit import Sandbox
        sb = Sandbox.local({str(tmp_path)!r})
        print("ready", flush=True)
        i = 0
        while True:
            sb.apply({GATEWAY!r}.format(name=f"g{{i % 50}}") )
            i += 1
    """)
    for _ in range(5):
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        threading.Event().wait(0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with Sandbox.local(tmp_path) as sb:
            assert sb.store.snapshot().entries("Gateway") is not None
    journal = tmp_path / ".sandbox" / "state" / "journal.log"
    assert journal.stat().st_mode & 0o777 == 0o600


def test_a_reconcile_that_fails_midway_changes_nothing_and_releases_what_it_started(monkeypatch) -> None:
    with Sandbox.local() as sb:
        sb.apply(GATEWAY.format(name="before"))
        rv = sb.store.resource_version
        threads, fds = threading.active_count(), len(os.listdir("/proc/self/fd"))
        dp = sb._dp  # noqa: SLF001 - inject the failure where the data plane binds
        real = dp.update
        calls = {"n": 0}

        def failing(*args: object, **kwargs: object) -> object:
            calls["n"] += 1
            if calls["n"] == 1:
                raise OSError("cannot bind 127.0.0.1: address already in use")
            return real(*args, **kwargs)

        monkeypatch.setattr(dp, "update", failing)
        with pytest.raises(SandboxError, match="could not serve this change"):
            sb.apply(GATEWAY.format(name="after") + "---\n" + "apiVersion: v1\nkind: Service\nmetadata:\n"
                     "  name: np\nspec:\n  type: NodePort\n  ports: [{port: 80}]\n")
        assert sb.store.resource_version == rv
        assert sb.get("Gateway", "default", "after") is None
        assert threading.active_count() <= threads
        assert len(os.listdir("/proc/self/fd")) <= fds + 2
        # The sandbox is usable: the next apply works and serves.
        sb.apply(GATEWAY.format(name="after"))
        assert sb.get("Gateway", "default", "after") is not None
        journal = (sb.private_dir / "state" / "journal.log").read_text()
        assert journal.count('"name":"after"') == 1  # the refused change was never journaled


def test_a_work_dir_keeps_its_mode_and_private_state_is_in_its_own_folder(tmp_path: pathlib.Path) -> None:
    work = tmp_path / "lab"
    work.mkdir(mode=0o755)
    with Sandbox.local(work) as sb:
        sb.apply("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {k: v}\n")
    assert work.stat().st_mode & 0o777 == 0o755
    assert (work / ".sandbox").stat().st_mode & 0o777 == 0o700
    assert (work / ".sandbox" / "state" / "journal.log").exists()  # kept: a restart restores it
