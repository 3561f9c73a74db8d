"""What ``kubectl exec`` runs in a sample pod: the busybox applets of Istio's curl image the docs use.

The curl sample runs ``curlimages/curl`` (Alpine, busybox). The egress-control task times a request
with ``kubectl exec "$SOURCE_POD" -c curl -- time curl ...``; busybox ``time`` reports on stderr in
its own format (``miscutils/time.c``: ``real\\t0m 5.02s``), not bash's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from gatewaykit import Sandbox
from gatewaykit.samples import path as samples_path

TIME_REPORT = r"real\t0m \d\.\d\ds\nuser\t0m \d\.\d\ds\nsys\t0m \d\.\d\ds\n"


@pytest.fixture(scope="module")
def sb() -> Iterator[object]:
    with Sandbox.local() as box:
        box.shell(f"kubectl apply -f {samples_path()}/curl/curl.yaml")
        yield box


def run(sb: object, script: str) -> tuple[int, str]:
    r = sb.shell(script)  # type: ignore[attr-defined]
    return r.exit_code, r.output


def test_time_reports_as_busybox_does(sb) -> None:
    code, out = run(
        sb,
        'kubectl exec deploy/curl -c curl -- time curl -o /dev/null -sS -w "%{http_code}\\n" '
        "http://httpbin.org/delay/1",
    )
    assert code == 0
    assert re.fullmatch(r"200\nreal\t0m 1\.\d\ds\nuser\t0m \d\.\d\ds\nsys\t0m \d\.\d\ds\n", out), out


def test_time_of_a_failing_command_says_so_and_keeps_its_exit_code(sb) -> None:
    code, out = run(sb, "kubectl exec deploy/curl -- time false")
    assert code == 1
    assert re.fullmatch(
        "Command exited with non-zero status 1\n" + TIME_REPORT + "command terminated with exit code 1\n", out
    ), out
