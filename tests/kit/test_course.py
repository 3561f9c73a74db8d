"""The course as an instructor and a learner's machine see it: copies that keep the tracked
notebooks pristine, stored outputs that are placeholders and masks (never reprs or stale ports),
printable self-contained HTML, the headless check, and the two commands (`make lab` as root too)."""

from __future__ import annotations

import json
import pathlib
import re
import shutil
import subprocess

import nbformat
import pytest

from gatewaykit import cli
from gatewaykit.kit import course
from gatewaykit.kit.errorview import problem

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"


def test_init_copies_once_and_never_overwrites_a_learners_work(tmp_path: pathlib.Path) -> None:
    src = tmp_path / "course"
    src.mkdir()
    for name in ("01-virtual-hosts.ipynb", "02-gateway-workloads.ipynb"):
        shutil.copyfile(NOTEBOOKS / name, src / name)
    ws = tmp_path / "workspace"
    assert course.init_workspace(ws, src) == [
        "copied  01-virtual-hosts.ipynb",
        "copied  02-gateway-workloads.ipynb",
    ]
    (ws / "01-virtual-hosts.ipynb").write_text("my work")
    (src / "01-virtual-hosts.ipynb").write_text(
        (src / "01-virtual-hosts.ipynb").read_text() + " "
    )  # git pull
    lines = course.init_workspace(ws, src)
    assert lines[0].startswith("kept    01-virtual-hosts.ipynb (yours; the course's version changed: ")
    assert lines[1] == "kept    02-gateway-workloads.ipynb"
    assert (ws / "01-virtual-hosts.ipynb").read_text() == "my work"


def test_stored_notebooks_show_placeholders_and_masks_never_reprs() -> None:
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        assert "widgets" not in nb.metadata, path.name
        for cell in (c for c in nb.cells if c.cell_type == "code"):
            for out in cell.outputs:
                data = out.get("data", {})
                assert course.WIDGET_VIEW not in data, f"{path.name}: {cell.source}"
                plain = str(data.get("text/plain", "")) + out.get("text", "")
                assert not re.search(r"\b(VBox|HBox|Button|Textarea)\(", plain), f"{path.name}: {plain[:200]}"
                assert not re.search(r"127\.0\.0\.1:\d|PORT=\d", plain), (
                    f"{path.name}: a stale port: {plain[:300]}"
                )
            if cell.source.startswith("lab.ui("):
                assert cell.outputs[0]["data"]["text/html"].startswith('<div class="gk-placeholder"')


def test_store_outputs_turns_widgets_into_placeholders_and_masks_values() -> None:
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                "lab.ui()",
                outputs=[
                    nbformat.v4.new_output(
                        "display_data",
                        data={
                            course.WIDGET_VIEW: {"model_id": "x"},
                            "text/plain": "[the workbench: status bar -- run this cell to use it]",
                        },
                    )
                ],
            ),
            nbformat.v4.new_code_cell(
                "print(x)",
                outputs=[nbformat.v4.new_output("stream", name="stdout", text="127.0.0.1:31380\n")],
            ),
        ]
    )
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {}}
    course.store_outputs(nb)
    assert "widgets" not in nb.metadata
    assert (
        nb.cells[0].outputs[0]["data"]["text/plain"]
        == "[the workbench: status bar -- run this cell to use it]"
    )
    assert "Run this cell to open the workbench: status bar." in nb.cells[0].outputs[0]["data"]["text/html"]
    assert nb.cells[1].outputs[0]["text"] == "127.0.0.1:<port>\n"


def test_exported_html_is_self_contained_and_readable(tmp_path: pathlib.Path) -> None:
    out = course.export_html(NOTEBOOKS / "04-tls-simple.ipynb", tmp_path / "04.html")
    html = out.read_text()
    assert not re.search(r"""<(script|link)[^>]+(src|href)=["']?(https?:)?//""", html), (
        "loads from the network"
    )
    assert "cdn.jsdelivr" not in html and "cdnjs" not in html
    assert "Run this cell to open the workbench" in html and "VBox(" not in html
    assert "Lab 04: TLS termination" in html and "flowchart LR" in html  # the topology as text


def test_course_check_runs_a_lab_headless_and_reports(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["course", "check", "03"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert re.match(r"^✓ 03-https-redirect +probes 9/9, exercises 1/1 +\(\d+\.\d s\)$", out[0]), out
    assert out[-1] == "course check: everything holds"


def test_course_commands_work_in_a_workspace(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = tmp_path / "ws"
    assert cli.main(["course", "init", "--dir", str(ws)]) == 0
    assert sorted(p.name for p in ws.glob("*.ipynb")) == sorted(
        p.name for p in NOTEBOOKS.glob("[0-9]*.ipynb")
    )
    progress = ws / "01-virtual-hosts"
    (progress / "edits").mkdir(parents=True)
    (progress / "edits" / "step-gateway.yaml").write_text("x")
    (progress / "progress.json").write_text(json.dumps({"steps": {"gateway": {"applied": True, "at": "t"}}}))
    capsys.readouterr()
    assert cli.main(["course", "status", "--dir", str(ws)]) == 0
    status = capsys.readouterr().out
    assert (
        "… 01-virtual-hosts       steps applied 1/5 · probes passing 0/12 · exercises passed 0/1  (last: t)"
        in status
    )
    assert cli.main(["course", "reset", "01", "--dir", str(ws)]) == 0
    assert not (progress / "edits").exists() and not (progress / "progress.json").exists()
    assert cli.main(["course", "reset", "--dir", str(ws)]) == 2  # names nothing: refuses
    assert cli.main(["course", "export", "01", "--dir", str(ws), "-o", str(tmp_path / "01.html")]) == 0
    assert (tmp_path / "01.html").read_text().count("Lab 01") >= 1


def test_make_lab_runs_as_root_on_copies_and_make_clean_clears_the_kits_files() -> None:
    lab = subprocess.run(["make", "-n", "lab"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "gatewaykit course init --dir workspace" in lab
    assert "--ServerApp.root_dir=workspace" in lab and "root_dir=notebooks" not in lab
    import os

    assert ("--allow-root" in lab) == (os.getuid() == 0)
    clean = subprocess.run(
        ["make", "-n", "clean"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "notebooks/.gatewaykit" in clean and "notebooks/[0-9][0-9]-*/" in clean
    assert "rm -rf workspace" not in clean  # the learner's work stays
    ignored = (ROOT / ".gitignore").read_text()
    assert "/workspace/" in ignored and "notebooks/[0-9][0-9]-*/" in ignored


@pytest.mark.parametrize(
    ("text", "error", "headline"),
    [
        (
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x1\n---\napiVersion: networking.istio.io/v1\n"
            "kind: VirtualService\nmetadata:\n  name: v\nspec:\n  hosts: [a.example.com]\n",
            'Error from server: error when creating "manifest.yaml": admission webhook "validation.istio.io" '
            "denied the request: configuration is invalid: http, tcp or tls must be provided in virtual service",
            "line 10: http, tcp or tls must be provided in virtual service (VirtualService default/v)",
        ),
        (
            "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: g\nspec:\n  servers:\n"
            "  - port: {number: eighty}\n",
            'The Gateway "g" is invalid: spec.servers[0].port.number: Invalid value: "string": '
            'spec.servers[0].port.number in body must be of type integer: "string"',
            'line 7: spec.servers[0].port.number: Invalid value: "string": spec.servers[0].port.number in '
            'body must be of type integer: "string" (Gateway default/g)',
        ),
        (
            "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: g\n spec: x\n",
            "error: error parsing manifest.yaml: error converting YAML to JSON: yaml: line 5: did not find "
            "expected key",
            "line 5: YAML syntax error: did not find expected key",
        ),
    ],
)
def test_refusals_are_read_reason_first_with_a_line(text: str, error: str, headline: str) -> None:
    p = problem(text, error)
    assert p.headline == headline
    assert p.details == error
