"""The course as a whole: the learner's copies, progress, resets, a headless check, printable HTML.

* **Copies**: ``make lab`` runs :func:`init_workspace` -- the tracked notebooks are copied into a
  workspace folder (ignored by git) once; JupyterLab opens the copies, so running them never
  rewrites the tracked ``notebooks/*.ipynb`` (nbval compares those) and ``git pull`` never
  conflicts with a learner's work.
* **Progress**: each lab's working folder keeps ``progress.json``; :func:`overview` reads them all
  (``gatewaykit course status``: which labs, which steps applied and checked, which exercises
  passed, on this machine).
* **Resets**: :func:`reset_lab` (applied state, edits and progress of one lab) and
  :func:`reset_everything` (that, and every lab's edits and progress).
* **Check**: :func:`check_course` runs every lab on a fresh sandbox -- every step's probes and every
  exercise's reference solution against its check -- and prints a report; ``gatewaykit course
  check`` is what an instructor runs before a workshop (``--notebooks`` executes the notebooks too).
* **Stored outputs**: :func:`store_outputs` is how a notebook is stored (by
  ``scripts/build_notebooks.py``) and exported (:func:`export_html`): widgets become "run this
  cell" placeholders, volatile values are masked with ``notebooks/sanitize.cfg``'s rules.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from gatewaykit.kit import workdir
from gatewaykit.kit.labs import Lab, labs_dir, list_labs, load_lab

__all__ = [
    "LabStatus",
    "check_course",
    "export_html",
    "init_workspace",
    "lab_status",
    "notebooks_dir",
    "overview",
    "reset_everything",
    "reset_lab",
    "sanitize_rules",
    "store_outputs",
]

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_LAB_DIR = re.compile(r"^\d\d-[a-z0-9-]+$")


def notebooks_dir() -> pathlib.Path:
    """The tracked notebooks: ``$GATEWAYKIT_NOTEBOOKS`` or the repository's ``notebooks/``."""
    env = os.environ.get("GATEWAYKIT_NOTEBOOKS")
    return pathlib.Path(env) if env else labs_dir().parent / "notebooks"


# --------------------------------------------------------------------------------------------
# The learner's copies


def _digest(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def init_workspace(dest: str | os.PathLike[str], source: str | os.PathLike[str] | None = None) -> list[str]:
    """Copy the course's notebooks into ``dest`` (made if needed); a learner's copy is never
    overwritten. Returns one line per notebook: copied, kept, or kept while the course's version
    changed since it was copied (``gatewaykit course reset --notebook LAB`` takes the new one)."""
    src, out = pathlib.Path(source) if source else notebooks_dir(), pathlib.Path(dest)
    out.mkdir(parents=True, exist_ok=True)
    record = out / ".course.json"
    copied: dict[str, str] = json.loads(record.read_text()) if record.exists() else {}
    lines = []
    for nb in sorted(src.glob("[0-9][0-9]-*.ipynb")):
        target = out / nb.name
        if not target.exists():
            shutil.copyfile(nb, target)
            copied[nb.name] = _digest(nb)
            lines.append(f"copied  {nb.name}")
        elif copied.get(nb.name) not in (None, _digest(nb)):
            lines.append(f"kept    {nb.name} (yours; the course's version changed: "
                         f"gatewaykit course reset --notebook {nb.stem[:2]} takes it)")
        else:
            lines.append(f"kept    {nb.name}")
    record.write_text(json.dumps(copied, indent=1, sort_keys=True))
    return lines


def take_course_notebook(dest: str | os.PathLike[str], lab_id: str) -> str:
    """Replace the learner's copy of one notebook with the course's (the old one is kept as
    ``<name>.ipynb.bak``)."""
    lab = load_lab(lab_id)
    src, out = notebooks_dir() / f"{lab.id}.ipynb", pathlib.Path(dest)
    target = out / src.name
    if target.exists():
        shutil.copyfile(target, target.with_suffix(".ipynb.bak"))
    shutil.copyfile(src, target)
    record = out / ".course.json"
    copied = json.loads(record.read_text()) if record.exists() else {}
    copied[src.name] = _digest(src)
    record.write_text(json.dumps(copied, indent=1, sort_keys=True))
    return f"{target}: the course's version (yours is {target.name}.bak)"


# --------------------------------------------------------------------------------------------
# Progress


@dataclass(frozen=True, slots=True)
class LabStatus:
    """One lab's progress on this machine, counted from its ``progress.json``."""

    lab: Lab
    started: bool
    steps_applied: int
    probes_ok: int
    probes: int
    exercises_passed: int
    last: str

    @property
    def text(self) -> str:
        """``steps applied 3/4 · probes passing 5/7 · exercises passed 0/1``."""
        lab = self.lab
        return (
            f"steps applied {self.steps_applied}/{len(lab.steps)} · "
            f"probes passing {self.probes_ok}/{self.probes} · "
            f"exercises passed {self.exercises_passed}/{len(lab.exercises)}"
        )


def lab_status(lab: Lab, work_dir: pathlib.Path) -> LabStatus:
    """What ``progress.json`` in ``work_dir`` says about ``lab``."""
    progress = workdir.Progress(work_dir)
    applied = sum(1 for s in lab.steps if progress.step(s.id).get("applied"))
    probes = sum(len(s.probes) for s in lab.steps)
    ok = sum(
        1
        for s in lab.steps
        for j, _ in enumerate(s.probes)
        if progress.step(s.id).get("probes", {}).get(str(j))
    )
    passed = sum(1 for e in lab.exercises if progress.exercise(e.id).get("passed"))
    stamps = [v.get("at", "") for section in progress.data.values() for v in section.values()]
    return LabStatus(lab, bool(progress.data), applied, ok, probes, passed, max(stamps, default=""))


def overview(root: str | os.PathLike[str]) -> str:
    """The course on this machine: one line per lab with its progress (``course status``)."""
    base = pathlib.Path(root)
    lines = [f"Course progress in {base.resolve()} (on this machine)"]
    for lab_id in list_labs():
        row = lab_status(load_lab(lab_id), base / lab_id)
        mark = "·" if not row.started else ("✓" if _done(row) else "…")
        when = f"  (last: {row.last})" if row.last else ""
        lines.append(f"{mark} {lab_id:<22} {row.text if row.started else 'not started'}{when}")
    return "\n".join(lines)


def _done(row: LabStatus) -> bool:
    return (row.steps_applied == len(row.lab.steps) and row.probes_ok == row.probes
            and row.exercises_passed == len(row.lab.exercises))


# --------------------------------------------------------------------------------------------
# Resets


def reset_lab(session: Any) -> str:
    """Reset one lab: undo everything applied, forget the edits and the progress."""
    session.forget_edits()
    session.notify("forget")
    out = session.reset()
    return f"{session.lab.id}: edits and progress forgotten; applied state reset\n{out}"


def reset_everything(session: Any) -> str:
    """:func:`reset_lab`, then every other lab's edits and progress in the same course folder."""
    lines = [reset_lab(session)]
    for folder in sorted(session.work_dir.parent.iterdir()):
        if folder == session.work_dir or not folder.is_dir() or not _LAB_DIR.match(folder.name):
            continue
        shutil.rmtree(folder / "edits", ignore_errors=True)
        (folder / workdir.Progress.FILE).unlink(missing_ok=True)
        lines.append(f"{folder.name}: edits and progress forgotten")
    return "\n".join(lines)


def reset_folder(root: str | os.PathLike[str], lab_ids: Iterable[str] | None = None) -> list[str]:
    """From a terminal: forget the edits and progress of some labs (all by default) in ``root``;
    what is applied is reset the next time each lab opens."""
    out = []
    for lab_id in lab_ids or list_labs():
        folder = pathlib.Path(root) / load_lab(lab_id).id
        if folder.is_dir():
            shutil.rmtree(folder / "edits", ignore_errors=True)
            (folder / workdir.Progress.FILE).unlink(missing_ok=True)
            out.append(f"{folder.name}: edits and progress forgotten")
    return out


# --------------------------------------------------------------------------------------------
# The headless check an instructor runs before a workshop


def check_course(lab_ids: Sequence[str] | None = None, *, notebooks: bool = False,
                 print_line: Any = print) -> bool:
    """Run every lab on one fresh sandbox (and, with ``notebooks``, execute every notebook);
    print a line per lab and the failures. Returns True when everything held."""
    from gatewaykit.kit.session import open_lab  # noqa: PLC0415
    from gatewaykit.sandbox import backend_from_env  # noqa: PLC0415

    ids = [load_lab(i).id for i in lab_ids] if lab_ids else list_labs()
    ok = True
    with tempfile.TemporaryDirectory(prefix="gatewaykit-course-") as tmp, backend_from_env() as backend:
        for lab_id in ids:
            report = open_lab(lab_id, backend, work_dir=pathlib.Path(tmp) / lab_id, reset=False).verify()
            exercises = sum(c.ok for c in report.checks)
            probes = sum(p.ok for s in report.steps for p in s.probes)
            total = sum(len(s.probes) for s in report.steps)
            print_line(f"{'✓' if report.ok else '✗'} {lab_id:<22} probes {probes}/{total}, exercises "
                       f"{exercises}/{len(report.checks)}  ({report.seconds:.1f} s)")
            for failure in report.failures():
                print_line("    " + failure.replace("\n", "\n    "))
            ok &= report.ok
    if notebooks:
        ok &= _run_notebooks(ids, print_line)
    print_line("course check: " + ("everything holds" if ok else "FAILED"))
    return ok


def _run_notebooks(ids: Sequence[str], print_line: Any) -> bool:
    """Execute each notebook (a copy, in a temporary folder) the way a learner's Run All does."""
    import nbformat  # noqa: PLC0415
    from nbclient import NotebookClient  # noqa: PLC0415
    from nbclient.exceptions import CellExecutionError  # noqa: PLC0415

    ok = True
    for lab_id in ids:
        with tempfile.TemporaryDirectory(prefix="gatewaykit-nb-") as tmp:
            path = pathlib.Path(tmp) / f"{lab_id}.ipynb"
            shutil.copyfile(notebooks_dir() / path.name, path)
            nb = nbformat.read(path, as_version=4)
            began = time.monotonic()
            try:
                NotebookClient(nb, timeout=180, kernel_name="python3",
                               resources={"metadata": {"path": tmp}}).execute()
                print_line(f"✓ {path.name:<28} Run All clean ({time.monotonic() - began:.1f} s)")
            except CellExecutionError as exc:
                ok = False
                print_line(f"✗ {path.name:<28} a cell failed:\n    " + str(exc).strip()[-800:])
    return ok


# --------------------------------------------------------------------------------------------
# How notebooks are stored and exported


def sanitize_rules(path: str | os.PathLike[str] | None = None) -> list[tuple[re.Pattern[str], str]]:
    """The ``regex:``/``replace:`` pairs of ``notebooks/sanitize.cfg`` (nbval's format)."""
    cfg = pathlib.Path(path) if path else notebooks_dir() / "sanitize.cfg"
    rules, lines = [], cfg.read_text().split("\n")
    for i, line in enumerate(lines):
        if line.startswith("regex: ") and i + 1 < len(lines) and lines[i + 1].startswith("replace: "):
            rules.append((re.compile(line[len("regex: "):]), lines[i + 1][len("replace: "):]))
    return rules


def _mask(text: str, rules: list[tuple[re.Pattern[str], str]]) -> str:
    for rx, repl in rules:
        text = rx.sub(repl, text)
    return text


def store_outputs(nb: Any, rules: list[tuple[re.Pattern[str], str]] | None = None) -> Any:
    """Make ``nb``'s outputs fit to be stored: a widget becomes a "run this cell" placeholder,
    a volatile value (port, date, id) its mask, and no widget state is kept. Returns ``nb``."""
    from gatewaykit.kit.widgets import placeholder_html  # noqa: PLC0415

    rules = sanitize_rules() if rules is None else rules
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.metadata.pop("execution", None)  # timestamps of the run: noise in every diff
        cell.outputs = _coalesced(cell.get("outputs", []))
        for out in cell.outputs:
            data = out.get("data", {})
            if WIDGET_VIEW in data:
                what = _placeholder_name(data.get("text/plain", ""))
                out["data"] = {
                    "text/html": placeholder_html(what),
                    "text/plain": f"[{what} -- run this cell to use it]",
                }
                continue
            if "text" in out:
                out["text"] = _mask(out["text"], rules)
            for mime in ("text/plain", "text/html"):
                if isinstance(data.get(mime), str):
                    data[mime] = _mask(data[mime], rules)
    return nb


def _coalesced(outputs: list[Any]) -> list[Any]:
    """Adjacent stream outputs of one stream merged (how a print was chunked varies by run)."""
    out: list[Any] = []
    for o in outputs:
        prev = out[-1] if out else None
        if o.get("output_type") == "stream" and prev is not None and prev.get("output_type") == "stream" \
                and prev.get("name") == o.get("name"):
            prev["text"] = prev["text"] + o["text"]
        else:
            out.append(o)
    return out


def _placeholder_name(plain: str) -> str:
    m = re.match(r"^\[(.*) -- run this cell to use it\]$", plain.strip())
    return m.group(1) if m else "an interactive panel"


_EXPORT_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""


def export_html(notebook: str | os.PathLike[str], out: str | os.PathLike[str] | None = None) -> pathlib.Path:
    """A self-contained, printable HTML of a notebook: no script or font from the network,
    widgets as placeholders, diagrams as their Mermaid text. Returns the file written."""
    import jinja2  # noqa: PLC0415
    import nbformat  # noqa: PLC0415
    from nbconvert import HTMLExporter  # noqa: PLC0415

    src = pathlib.Path(notebook)
    nb = store_outputs(nbformat.read(src, as_version=4))
    loader = jinja2.DictLoader({"gk.html.j2": _EXPORT_TEMPLATE})
    exporter = HTMLExporter(template_name="lab", extra_loaders=[loader])
    exporter.template_file = "gk.html.j2"
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": src.stem}})
    target = pathlib.Path(out) if out else src.with_suffix(".html")
    target.write_text(body, encoding="utf-8")
    return target
