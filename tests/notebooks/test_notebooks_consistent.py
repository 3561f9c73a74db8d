"""The learner notebooks agree with the labs and are ready for nbval.

Every lab in ``labs/`` has ``notebooks/<lab id>.ipynb``; each notebook is valid nbformat, was executed
with its outputs stored (nbval compares against them), has at least three ``# NBVAL_CHECK_OUTPUT``
cells, opens its own lab, and still matches what ``scripts/build_notebooks.py`` makes from the
lab's current ``lab.yaml``. The sanitize file follows nbval's exact format (toolchain notes).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import pathlib
import re
import sys

import nbformat
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
LAB_IDS = sorted(p.parent.name for p in (ROOT / "labs").glob("*/lab.yaml"))
CHECK = "# NBVAL_CHECK_OUTPUT"


@functools.cache
def _builder():
    spec = importlib.util.spec_from_file_location("build_notebooks", ROOT / "scripts" / "build_notebooks.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def _read(lab_id: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS / f"{lab_id}.ipynb", as_version=4)


def _code(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if c.cell_type == "code"]


def _without_marker(source: str) -> str:
    # A marker line says whether nbval compares the cell (checked / egress pending / neither); it is
    # the first line, or the second in a %%gatewaykit cell (a cell magic must come first).
    lines = source.split("\n")
    return "\n".join(ln for ln in lines if not ln.startswith(("# NBVAL_", "# EGRESS-PENDING")))


def test_every_lab_has_a_notebook_and_every_notebook_a_lab() -> None:
    assert len(LAB_IDS) >= 12
    notebooks = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
    assert notebooks == LAB_IDS


@pytest.mark.parametrize("lab_id", LAB_IDS)
def test_notebook_is_valid_executed_and_checked(lab_id: str) -> None:
    nb = _read(lab_id)
    nbformat.validate(nb)
    cells = _code(nb)
    # Executed top to bottom in one kernel: every code cell ran, in order.
    counts = [c.execution_count for c in cells]
    assert None not in counts, f"{lab_id}: some cells were never executed; run scripts/build_notebooks.py"
    assert counts == sorted(counts)
    errors = [o for c in cells for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{lab_id}: a stored output is an error: {errors[0].get('evalue')}"
    checked = [c for c in cells if c.source.startswith(CHECK)]
    assert len(checked) >= 3, f"{lab_id}: only {len(checked)} NBVAL_CHECK_OUTPUT cells"
    for c in checked:
        text = "".join(o.get("text", "") for o in c.outputs if o.output_type == "stream")
        assert text.strip(), f"{lab_id}: checked cell has no stored output:\n{c.source}"


@pytest.mark.parametrize("lab_id", LAB_IDS)
def test_notebook_opens_its_own_lab_first(lab_id: str) -> None:
    cells = _code(_read(lab_id))
    opened = [m for c in cells for m in re.findall(r'open_lab\("([^"]+)"\)', c.source)]
    assert opened == [lab_id]
    assert f'open_lab("{lab_id}")' in cells[0].source
    assert _read(lab_id).metadata["gatewaykit"]["lab"] == lab_id


@pytest.mark.parametrize("lab_id", LAB_IDS)
def test_notebook_matches_its_lab(lab_id: str) -> None:
    """Cell for cell, the notebook is what the generator makes from the current lab.yaml."""
    builder = _builder()
    expected, _pending = builder.build(lab_id, builder.Verdicts())
    stored = _read(lab_id)
    want = _comparable(expected)
    have = _comparable(stored)
    assert have == want, (
        f"{lab_id}: out of date with labs/{lab_id}; run scripts/build_notebooks.py {lab_id[:2]}"
    )


def _comparable(nb: nbformat.NotebookNode) -> list[tuple[str, str]]:
    """Cell types and sources without check markers and without the explain cells (where those go
    depends on which request a proxy saw, decided when the generator ran the lab)."""
    out = []
    for c in nb.cells:
        if c.source.startswith("**Why?**") or c.source.endswith("print(lab.explain())"):
            continue
        out.append((c.cell_type, _without_marker(c.source)))
    return out


@pytest.mark.parametrize("lab_id", LAB_IDS)
def test_explain_cells_follow_a_curl_and_show_a_path(lab_id: str) -> None:
    cells = _read(lab_id).cells
    explains = [i for i, c in enumerate(cells) if c.source.endswith("print(lab.explain())")]
    assert explains, f"{lab_id}: no explain cell"
    for i in explains:
        assert cells[i - 1].source.startswith("**Why?**")
        assert "lab.curl(" in cells[i - 2].source
        text = "".join(o.get("text", "") for o in cells[i].outputs)
        # A request no proxy saw has no path; the generator must not explain it.
        assert text.startswith("path: ") and "does not report" not in text, text


@pytest.mark.parametrize("lab_id", LAB_IDS)
def test_pending_cells_only_in_egress_labs(lab_id: str) -> None:
    pending = [c for c in _code(_read(lab_id)) if c.source.startswith("# EGRESS-PENDING")]
    if lab_id not in _builder().EGRESS_LABS:
        assert not pending


def test_browser_notebook_keeps_a_live_workbench_for_the_first_step() -> None:
    """tests/browser edits the first editor (host httpbin.example.com in Gateway AND VirtualService),
    expects "configured", then curls the new host: the workbench must be near the top."""
    cells = _code(_read("01-virtual-hosts"))
    lab = yaml.safe_load((ROOT / "labs" / "01-virtual-hosts" / "lab.yaml").read_text())
    first = lab["steps"][0]
    ui_at = next(i for i, c in enumerate(cells) if c.source.startswith("lab.ui("))
    assert ui_at <= 2 and f'lab.ui("{first["id"]}")' in cells[ui_at].source
    # Stored, the workbench is a "run this cell" placeholder (never a repr, never widget state).
    stored = cells[ui_at].outputs[0]["data"]
    assert stored["text/plain"] == (
        "[the workbench: status bar, manifest editor and curl panel -- run this cell to use it]"
    )
    docs = []
    for ref in first["manifests"]:
        docs += list(yaml.safe_load_all((ROOT / "labs" / "01-virtual-hosts" / ref["file"]).read_text()))
    kinds = {d["kind"] for d in docs if d and "httpbin.example.com" in json.dumps(d)}
    assert {"Gateway", "VirtualService"} <= kinds


@pytest.mark.parametrize("lab_id", LAB_IDS)
def test_run_all_neither_stops_the_sandbox_nor_solves_an_exercise(lab_id: str) -> None:
    """Closing belongs to the kernel's shutdown; a reference solution is applied only by its button."""
    for cell in _code(_read(lab_id)):
        assert "close()" not in cell.source, cell.source
        assert "apply=True" not in cell.source, cell.source


@pytest.mark.parametrize("lab_id", LAB_IDS)
def test_each_lab_links_to_the_next(lab_id: str) -> None:
    last = _read(lab_id).cells[-1].source
    later = LAB_IDS[LAB_IDS.index(lab_id) + 1:]
    if later:
        assert f"]({later[0]}.ipynb)" in last and last.startswith(f"**Next:** [Lab {later[0][:2]}: ")
    else:
        assert last.startswith("This was the last lab of the course.")


def test_sanitize_file_follows_nbval_format() -> None:
    """``regex:`` immediately followed by ``replace:``; an empty replacement keeps its trailing space;
    no CRLF -- otherwise nbval silently drops the rule."""
    raw = (NOTEBOOKS / "sanitize.cfg").read_bytes()
    assert b"\r" not in raw
    lines = raw.decode().split("\n")
    rules = 0
    for i, line in enumerate(lines):
        if line.startswith("regex:"):
            assert lines[i + 1].startswith("replace: "), f"line {i + 2} must be 'replace: ...'"
            re.compile(line[len("regex: ") :])
            rules += 1
        elif line.startswith("replace"):
            assert lines[i - 1].startswith("regex:") and line.startswith("replace: ")
    assert rules >= 5
