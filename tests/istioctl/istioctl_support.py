"""Support for the sandbox-istioctl tests: a sandbox with Istio's httpbin and curl samples, the docs'
httpbin Gateway and VirtualService, and :func:`run`, which runs a command line in the sandbox's shell
(the real kubectl and the sandbox's istioctl on ``PATH``) and returns its exit code, stdout and stderr
separately.
"""

from __future__ import annotations

import os
import pathlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from gatewaykit.sandbox import Sandbox

ROOT = pathlib.Path(__file__).resolve().parents[2]
SANDBOX_INSTALL = ROOT / "gatewaykit" / "data" / "sandbox-install.yaml"
HTTPBIN = (ROOT / "labs" / "samples" / "httpbin.yaml").read_text()
CURL = (ROOT / "labs" / "samples" / "curl.yaml").read_text()

#: The docs' httpbin ingress (istio.io ingress-control, Istio APIs), as lab 02 applies it.
GATEWAY_VS = "---\n".join(
    (ROOT / "labs" / "02-gateway-workloads" / f).read_text()
    for f in ("gateway-default.yaml", "virtualservice.yaml")
)

#: pkg/art/istio-ascii.txt, then the blank lines before the first progress line.
ART = (
    "        |\\          \n        | \\         \n        |  \\        \n        |   \\       \n"
    "      /||    \\      \n     / ||     \\     \n    /  ||      \\    \n   /   ||       \\   \n"
    "  /    ||        \\  \n /     ||         \\ \n/______||__________\\\n____________________\n"
    "  \\__       _____/  \n     \\_____/        \n\n"
)


@dataclass(frozen=True)
class Run:
    """One command line's outcome: exit code, stdout, stderr."""

    code: int
    out: str
    err: str


def run(sb: Sandbox, command: str, stdin: str | None = None) -> Run:
    """Run ``command`` in the sandbox's shell; stdout and stderr captured apart."""
    tmp = sb.work_dir / f".run-{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        redirect = f" <{tmp / 'in'}" if stdin is not None else " </dev/null"
        if stdin is not None:
            (tmp / "in").write_text(stdin)
        r = sb.shell(f"{{ {command} ; }} >{tmp / 'out'} 2>{tmp / 'err'}{redirect}", timeout=120)
        return Run(r.exit_code, (tmp / "out").read_text(), (tmp / "err").read_text())
    finally:
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()


def pod_of(sb: Sandbox, namespace: str, deployment: str) -> str:
    """The name of the (first) pod of a Deployment."""
    return next(p.name for p in sb.xds.pods if p.namespace == namespace and p.deployment == deployment)


def new_sandbox() -> Sandbox:
    """A sandbox with httpbin, curl and the httpbin Gateway/VirtualService."""
    box = Sandbox.local()
    box.apply(HTTPBIN, name="httpbin.yaml")
    box.apply(CURL, name="curl.yaml")
    box.apply(GATEWAY_VS, name="gateway.yaml")
    return box


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    """One sandbox for the read-only tests of a module (run from its work dir)."""
    box = new_sandbox()
    here = os.getcwd()
    os.chdir(box.work_dir)
    try:
        yield box
    finally:
        os.chdir(here)
        box.close()


@pytest.fixture
def fresh() -> Iterator[Sandbox]:
    """A sandbox of its own, for tests that reinstall or uninstall Istio."""
    box = new_sandbox()
    try:
        yield box
    finally:
        box.close()
