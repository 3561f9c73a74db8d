"""An exhausted file-descriptor table: the data plane says so once, stops accepting, and recovers.

At ``ulimit -n 1024`` with 1,100 held connections every port stops (there is no descriptor to
accept with); asyncio's own accept loop used to log a traceback per port per second, two million
lines in a notebook. The data plane runs in a child process with a low ``RLIMIT_NOFILE``
(``fd_exhaustion_child.py``); its stderr is what a learner would see.
"""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys
import time

import pytest

CHILD = pathlib.Path(__file__).with_name("fd_exhaustion_child.py")
LIMIT = 256


def _get(port: int, timeout: float) -> bytes:
    """One ``GET /`` on a fresh connection; the status line, or b"" if nothing came in time."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return s.recv(4096).split(b"\r\n", 1)[0]
    except OSError:
        return b""


@pytest.mark.slow
def test_descriptor_exhaustion_logs_once_pauses_and_recovers() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), str(LIMIT)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stdout is not None
        ports = json.loads(proc.stdout.readline())
        assert _get(ports[0], 5) == b"HTTP/1.1 200 OK"
        # Hold more connections than the child has descriptors, spread over its three ports.
        held = []
        for i in range(LIMIT + 150):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", ports[i % 3]))
            held.append(s)
        time.sleep(3)  # the child accepts until accept() fails with EMFILE, then keeps failing
        assert [_get(p, 1) for p in ports] == [b""] * 3  # every port stopped
        for s in held:
            s.close()
        released = time.monotonic()
        while _get(ports[1], 1) != b"HTTP/1.1 200 OK":
            assert time.monotonic() - released < 10, "the data plane did not recover"
        print(f"recovered {time.monotonic() - released:.2f} s after the connections were released")
        assert all(_get(p, 5) == b"HTTP/1.1 200 OK" for p in ports)
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.stderr is not None
    lines = proc.stderr.read().decode().splitlines()
    assert len(lines) < 20, "\n".join(lines[:40])
    text = "\n".join(lines)
    assert "accept(): Too many open files [errno 24]: every listener paused" in text, text
    assert "accepting again after" in text, text


def test_loop_exception_handler_logs_once_per_cause(caplog: pytest.LogCaptureFixture) -> None:
    import asyncio
    import errno
    import logging

    from gatewaykit.dataplane._listen import LoopErrors

    handler = LoopErrors(logging.getLogger("gatewaykit.dataplane.test"))
    loop = asyncio.new_event_loop()
    try:
        with caplog.at_level(logging.WARNING, logger="gatewaykit.dataplane.test"):
            for _ in range(1000):
                handler(
                    loop,
                    {
                        "message": "socket.accept() out of system resource",
                        "exception": OSError(errno.EMFILE, "x"),
                    },
                )
            handler(loop, {"message": "Task exception was never retrieved", "exception": ValueError("boom")})
    finally:
        loop.close()
    assert len(caplog.records) == 2  # one line per cause, no tracebacks
    assert all(r.exc_info is None for r in caplog.records)
    assert sum(handler.counts.values()) == 1001
