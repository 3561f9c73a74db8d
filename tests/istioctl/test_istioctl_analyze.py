"""``istioctl analyze`` in the sandbox: istioctl's output format, success line, exit codes (0, 64, 65,
79) and message codes (``istioctl/pkg/analyze/analyze.go``, ``pkg/config/analysis/diag``)."""

from __future__ import annotations

import json
import pathlib

import pytest
from istioctl_support import run

from gatewaykit.sandbox import Sandbox

BAD_VS = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: testing-service
spec:
  hosts:
  - testing.example.com
  gateways:
  - my-gateway
  http:
  - route:
    - destination:
        host: nosuch
"""
DOCS = "https://istio.io/v1.27/docs/reference/config/analysis"
FOUND = (
    "Error: Analyzers found issues when analyzing {}.\n"
    f"See {DOCS} for more information about causes and resolutions.\n"
)


def test_a_healthy_namespace(sb: Sandbox) -> None:
    r = run(sb, "istioctl analyze")
    # istioctl prints the (empty) message list, then its success line on stderr.
    assert (r.code, r.out, r.err) == (
        0,
        "\n",
        "✔ No validation issues found when analyzing namespace: default.\n",
    )
    r = run(sb, "istioctl analyze -A")
    assert (r.code, r.err) == (0, "✔ No validation issues found when analyzing all namespaces.\n")
    r = run(sb, "istioctl analyze -n istio-system")
    assert r.err == "✔ No validation issues found when analyzing namespace: istio-system.\n"


def test_issues_in_a_file_over_the_cluster(sb: Sandbox, tmp_path: pathlib.Path) -> None:
    f = tmp_path / "vs.yaml"
    f.write_text(BAD_VS)
    r = run(sb, f"istioctl analyze {f}")
    assert r.code == 79
    assert r.out == (
        f"Error [IST0101] (VirtualService default/testing-service {f}:13) Referenced host not found: "
        '"nosuch"\n'
        f"Error [IST0101] (VirtualService default/testing-service {f}:9) Referenced gateway not found: "
        '"my-gateway"\n'
        f"Warning [IST0132] (VirtualService default/testing-service {f}:9) one or more host "
        "[testing.example.com] "
        "defined in VirtualService default/testing-service not found in Gateway default/my-gateway.\n"
    )
    assert r.err == FOUND.format("namespace: default")
    # Only warnings: below the failure threshold, exit 0; --failure-threshold Warning makes it 79.
    warn_only = BAD_VS.replace("host: nosuch", "host: httpbin").replace("- my-gateway", "- httpbin-gateway")
    f.write_text(warn_only)
    r = run(sb, f"istioctl analyze {f}")
    assert (r.code, r.err) == (0, "")
    assert r.out.startswith("Warning [IST0132] (VirtualService default/testing-service")
    assert run(sb, f"istioctl analyze {f} --failure-threshold Warning").code == 79
    assert run(sb, f"istioctl analyze {f} --output-threshold Error").out == "\n"


def test_live_cluster_objects_have_no_file_reference(sb: Sandbox) -> None:
    sb.apply(BAD_VS, name="vs.yaml")
    try:
        r = run(sb, "istioctl analyze")
        assert r.code == 79
        assert r.out.splitlines()[:2] == [  # sorted as istioctl sorts: the whole line last
            "Error [IST0101] (VirtualService default/testing-service) Referenced gateway not found: "
            '"my-gateway"',
            'Error [IST0101] (VirtualService default/testing-service) Referenced host not found: "nosuch"',
        ]
        assert (
            run(sb, "istioctl analyze -n istio-system").code == 0
        )  # messages are for the analyzed namespace
        r = run(sb, "istioctl analyze -S 'IST0101=VirtualService testing-service.default'")
        assert (r.code, r.out.count("\n")) == (0, 1)
    finally:
        sb.delete(BAD_VS, name="vs.yaml")


def test_json_and_yaml_formats(sb: Sandbox, tmp_path: pathlib.Path) -> None:
    f = tmp_path / "vs.yaml"
    f.write_text(BAD_VS)
    r = run(sb, f"istioctl analyze {f} -o json")
    assert r.code == 0  # only the log format sets the exit code
    doc = json.loads(r.out)
    assert doc[0] == {
        "code": "IST0101",
        "documentationUrl": f"{DOCS}/ist0101/?ref=istioctl-analyze",
        "level": "Error",
        "message": 'Referenced host not found: "nosuch"',
        "origin": "VirtualService default/testing-service",
        "reference": f"{f}:13",
    }
    assert r.out.startswith('[\n\t{\n\t\t"code": "IST0101",\n')
    y = run(sb, f"istioctl analyze {f} -o yaml").out
    assert y.startswith(
        f"- code: IST0101\n  documentationUrl: {DOCS}/ist0101/?ref=istioctl-analyze\n  level: Error\n"
    )


def test_files_only(sb: Sandbox, tmp_path: pathlib.Path) -> None:
    gw = tmp_path / "gw.yaml"
    gw.write_text(
        "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: gw\nspec:\n  selector:\n"
        "    istio: ingressgateway\n  servers:\n  - port: {number: 80, name: http, protocol: HTTP}\n    "
        "hosts: ['*']\n"
    )
    other = tmp_path / "notes.txt"
    other.write_text("x")
    r = run(sb, f"istioctl analyze --use-kube=false {gw} {other}")
    assert (r.code, r.out) == (0, "\n")
    assert r.err == (
        f"Skipping file {other}, recognized file extensions are: [.json .yaml .yml]\n"
        f"✔ No validation issues found when analyzing {gw}.\n"
    )


@pytest.mark.parametrize(
    ("args", "code", "err"),
    [
        ("-o text", 64, "Error: text not a valid option for format. See istioctl analyze --help\n"),
        ("-n nosuch", 0, 'namespace "nosuch" not found\n'),
        ("nosuch.yaml", 1, "Error: stat nosuch.yaml: no such file or directory\n"),
        ("-S IST0101", 1, "Error: IST0101 is not a valid suppression value. See istioctl analyze --help\n"),
    ],
)
def test_usage_errors(sb: Sandbox, args: str, code: int, err: str) -> None:
    r = run(sb, f"istioctl analyze {args}")
    assert (r.code, r.err) == (code, err)


def test_unparsable_file_exits_65(sb: Sandbox, tmp_path: pathlib.Path) -> None:
    f = tmp_path / "broken.yaml"
    f.write_text("kind: [\n")
    r = run(sb, f"istioctl analyze {f}")
    assert r.code == 65
    assert r.err.endswith(
        "No validation issues found when analyzing namespace: default (but 1 file could not be parsed).\n"
        "Error: Some files couldn't be parsed.\n"
    )
