"""Helpers for workload tests: run the real curl, check that a port is closed."""

from __future__ import annotations

import socket
import subprocess


def curl(*args: str, timeout: float = 10) -> subprocess.CompletedProcess[str]:
    """Run the real curl binary and return its result (text mode)."""
    return subprocess.run(["curl", *args], capture_output=True, text=True, timeout=timeout)


def curl_bytes(*args: str, timeout: float = 10) -> subprocess.CompletedProcess[bytes]:
    """Run the real curl binary and return its raw output."""
    return subprocess.run(["curl", *args], capture_output=True, timeout=timeout)


def port_is_closed(port: int) -> bool:
    """True when nothing accepts connections on 127.0.0.1:port any more."""
    s = socket.socket()
    s.settimeout(1)
    try:
        s.connect(("127.0.0.1", port))
    except ConnectionRefusedError:
        return True
    finally:
        s.close()
    return False
