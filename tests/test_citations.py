"""Every section citation in the repository resolves inside the repository.

Code comments, docstrings and docs cite the project's behaviour reference as ``docs/behaviour.md``
followed by a section sign and the section number; the design as ``docs/design.md`` and a section;
RFCs as ``RFC <n>`` and a section. A section sign with none of these earlier on its line is a
citation of a document the reader does not have (the old, unshipped behaviour notes), and so is any
mention of the folder those notes lived in. Every cited section number of ``docs/behaviour.md`` and
``docs/design.md`` must be one of that file's numbered headings.

Learner-facing text (labs, notebooks) cites istio.io pages instead, so it carries no section sign.
"""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
from collections.abc import Iterator

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SECTION = "\u00a7"
#: The folder of the old behaviour notes outside the repository (spelled in two parts so that this
#: file does not name it).
OUTSIDE_NOTES = "shared/" + "reference"
BEHAVIOUR = "docs/behaviour.md"
DESIGN = "docs/design.md"
#: A document name, or a section sign with its number (``1``, ``1.4``, ``14.0``; ``N`` has none).
TOKEN = re.compile(r"(?P<doc>behaviour\.md|design\.md|RFC \d+)|" + SECTION + r"(?P<num>\d+(?:\.\d+)*)?")
HEADING = re.compile(r"^#{2,3} (\d+(?:\.\d+)?)[. ]")
SKIP_DIRS = {".git", ".venv", "node_modules", "__pycache__", ".pytest_cache", ".ruff_cache"}


def _repo_files() -> list[str]:
    """Tracked and untracked-but-not-ignored files (git), else every file under the root."""
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
        names = [n for n in out.decode().split("\0") if n]
    except (OSError, subprocess.SubprocessError):
        names = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file()]
    return sorted(n for n in names if not SKIP_DIRS & set(pathlib.PurePosixPath(n).parts))


def _text_lines(path: pathlib.Path) -> list[str]:
    """The file's text lines; a notebook's cell sources and outputs; nothing for binary files."""
    data = path.read_bytes() if path.is_file() else b""
    if b"\0" in data:
        return []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return []
    if path.suffix != ".ipynb":
        return text.splitlines()
    lines: list[str] = []

    def strings(node: object) -> Iterator[str]:
        if isinstance(node, str):
            yield node
        elif isinstance(node, list):
            for item in node:
                yield from strings(item)
        elif isinstance(node, dict):
            for item in node.values():
                yield from strings(item)

    for cell in json.loads(text).get("cells", []):
        for s in strings([cell.get("source", []), cell.get("outputs", [])]):
            lines.extend(s.splitlines())
    return lines


def _headings(name: str) -> set[str]:
    """The section numbers of a repository document's ``##``/``###`` headings."""
    return {m.group(1) for line in _text_lines(ROOT / name) if (m := HEADING.match(line))}


def _problems(name: str, lines: list[str], sections: dict[str, set[str]]) -> list[str]:
    """Each unresolvable citation on ``lines`` of file ``name``, as ``path:line: reason: text``."""
    found = []
    for n, line in enumerate(lines, 1):
        if OUTSIDE_NOTES in line:
            found.append(f"{name}:{n}: names the old notes outside the repository: {line.strip()}")
        if SECTION not in line:
            continue
        # Inside the reference itself a bare section sign is one of its own sections.
        doc = "behaviour.md" if name == BEHAVIOUR else None
        for m in TOKEN.finditer(line):
            if m.group("doc"):
                doc = m.group("doc")
                continue
            if doc is None:
                found.append(f"{name}:{n}: section sign without {BEHAVIOUR}: {line.strip()}")
                break
            num = m.group("num")
            known = sections.get(doc)
            if num and known is not None and num not in known:
                found.append(f"{name}:{n}: {doc} has no section {num}: {line.strip()}")
    return found


def _group(name: str) -> str:
    if name.startswith("labs/"):
        return "labs"
    if name.startswith("notebooks/"):
        return "notebooks"
    if name.startswith("gatewaykit/kit/"):
        return "kit"
    return "code and docs"


@pytest.fixture(scope="module")
def problems_by_group() -> dict[str, list[str]]:
    sections = {"behaviour.md": _headings(BEHAVIOUR), "design.md": _headings(DESIGN)}
    out: dict[str, list[str]] = {"code and docs": [], "kit": [], "labs": [], "notebooks": []}
    for name in _repo_files():
        out[_group(name)].extend(_problems(name, _text_lines(ROOT / name), sections))
    return out


def test_the_reference_has_every_section_of_its_numbering():
    # docs/behaviour.md §0 .. §19 and the sub-sections the code cites: the numbering is the contract.
    numbers = _headings(BEHAVIOUR)
    assert {str(n) for n in range(20)} <= numbers
    expected = {"1.1", "1.4", "1.7", "4.1", "4.4", "8.1", "8.2", "11.1", "11.2", "14.0", "14.4"}
    assert expected <= numbers


@pytest.mark.parametrize(
    "group",
    [
        "code and docs",
        "kit",
        "labs",
        "notebooks",
    ],
)
def test_every_section_citation_resolves_in_the_repository(problems_by_group, group):
    found = problems_by_group[group]
    assert not found, f"{len(found)} unresolved citation(s):\n" + "\n".join(found[:60])


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("# 404 NR (docs/behaviour.md \u00a71.4, \u00a74.3)", None),
        ("# hop-by-hop (RFC 9110 \u00a77.6.1)", None),
        ("# the design (docs/design.md \u00a73)", None),
        ("# see \u00a71.4", "section sign without"),
        ("# see docs/behaviour.md \u00a799", "has no section 99"),
        ("# from ../" + OUTSIDE_NOTES + "/notes.md", "names the old notes"),
    ],
)
def test_the_check_itself(line, reason):
    sections = {"behaviour.md": {"1.4", "4.3"}, "design.md": {"3"}}
    found = _problems("x.py", [line], sections)
    if reason is None:
        assert found == []
    else:
        assert len(found) == 1 and reason in found[0]
