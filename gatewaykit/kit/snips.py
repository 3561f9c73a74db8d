"""Run a task page's ``snips.sh`` the way istio.io's doc tests do, against one shell session.

istio.io generates a ``snips.sh`` from every task page: each command block becomes a function
``snip_<section>_<n>() { ... }`` and each expected-output block a variable read from a quoted
here-document::

    snip_accessing_ingress_services_1() {
    curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/status/200"
    }

    ! IFS=$'\\n' read -r -d '' snip_accessing_ingress_services_1_out <<\\ENDSNIP
    HTTP/1.1 200 OK
    ...
    ENDSNIP

The page's ``test.sh`` then calls the functions in order and compares an output with
``_verify_elided snip_x "$snip_x_out"`` (or ``_same``, ``_like``...). Here the snips file itself
says which verifier a snippet uses, with a comment line right above its function::

    # verify: elided
    snip_accessing_ingress_services_1() {

``# verify: <name> [text]``: ``<name>`` is one of :data:`gatewaykit.kit.doctest.VERIFIERS`
(``same``, ``contains``, ``not_contains``, ``elided``, ``regex``, ``first_line``, ``like``,
``lines``, ``failure``), or ``exit`` (only exit code 0), or ``skip`` (not run: a step for another
platform). An optional ``text`` is the expected output instead of the ``_out`` block, as test.sh
passes a literal (``# verify: contains HTTP/1.1 200 OK``); ``\\n`` in it is a newline
(``# verify: lines + one\\n- two``). Without a comment a snippet with an ``_out`` block uses
``same`` and one without is only required to exit 0 -- test.sh runs those under ``set -e``.
``run_snips(..., verifiers={"snip_x": "elided"})`` overrides the comments.

Each snippet runs in one shell session (exported variables carry over, as in the test's single
bash process): the script sent is the function definition followed by its call. Top-level lines
other than functions and ``ENDSNIP`` blocks (``source ...`` of istio.io boilerplates) are not run.
Like test.sh under ``set -e``, the run stops at the first failure unless ``keep_going``.
"""

from __future__ import annotations

import pathlib
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from gatewaykit.errors import LabError
from gatewaykit.kit import doctest

__all__ = ["PageRun", "ShellOutcome", "SnipResult", "Snippet", "parse_snips", "run_in_backend", "run_snips"]

_FUNC = re.compile(r"^(snip_[A-Za-z0-9_]+)\(\)\s*\{\s*$")
_TEXT = re.compile(r"^! IFS=\$'\\n' read -r -d '' ([A-Za-z_][A-Za-z0-9_]*) <<\\?'?([A-Za-z_]+)'?\s*$")
_VERIFY = re.compile(r"^#\s*verify:\s*(\S+)(?:\s+(.*\S))?\s*$")
# A here-document opened inside a function (<<EOF, <<'EOF', <<\EOF, <<-EOF): its lines are data.
_HEREDOC = re.compile(r"<<(-?)\s*\\?['\"]?([A-Za-z_][A-Za-z0-9_]*)['\"]?")

#: Verifier names a ``# verify:`` comment accepts besides :data:`doctest.VERIFIERS`.
EXTRA_KINDS = ("exit", "skip")


@dataclass(frozen=True, slots=True)
class Snippet:
    """One ``snip_*`` function of a snips file.

    Attributes:
        name: the function name (``snip_accessing_ingress_services_1``).
        script: the function definition as written, ``name() {`` to ``}``.
        line: the line of ``name() {`` (1-based).
        expected: the text to compare with (the ``_out`` block or the comment's text), or None.
        verify: the verifier name (see the module docstring).
        out: the page's ``<name>_out`` block, if it has one.
    """

    name: str
    script: str
    line: int
    expected: str | None
    verify: str
    out: str | None = None


class ShellOutcome(Protocol):
    """What the shell callable returns: the exit code and the merged stdout/stderr."""

    @property
    def exit_code(self) -> int: ...  # noqa: D102

    @property
    def output(self) -> str: ...  # noqa: D102


@dataclass(frozen=True, slots=True)
class SnipResult:
    """The outcome of one snippet.

    Attributes:
        name: the snippet.
        verify: the verifier used.
        status: ``PASS``, ``FAIL`` or ``SKIP``.
        exit_code: the shell's exit code (None when skipped).
        output: the output, normalised as verify.sh does.
        expected: what it was compared with.
    """

    name: str
    verify: str
    status: Literal["PASS", "FAIL", "SKIP"]
    exit_code: int | None = None
    output: str = ""
    expected: str | None = None

    @property
    def passed(self) -> bool:
        """True unless the snippet failed (a skipped one did not fail)."""
        return self.status != "FAIL"

    def __str__(self) -> str:
        head = f"{self.status} {self.name} ({self.verify})"
        if self.status != "FAIL":
            return head
        if self.expected is None:
            return f"{head}: exit code {self.exit_code}"
        return f'{head}: exit code {self.exit_code}\nreceived:\n"{self.output}"\nexpected:\n"{self.expected}"'


# --------------------------------------------------------------------------- parsing


def _read_function(lines: list[str], start: int, file: str) -> tuple[str, int]:
    """The function text from ``lines[start]`` to its closing ``}``, and the index after it."""
    heredoc: tuple[str, bool] | None = None
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if heredoc is not None:
            word, strip_tabs = heredoc
            if (line.lstrip("\t") if strip_tabs else line) == word:
                heredoc = None
            continue
        if line.rstrip() == "}":
            return "\n".join(lines[start : i + 1]), i + 1
        opened = _HEREDOC.search(line)
        if opened:
            heredoc = (opened.group(2), opened.group(1) == "-")
    name = _FUNC.match(lines[start]).group(1)  # type: ignore[union-attr]
    raise LabError(f"{file}:{start + 1}: {name}() {{ is never closed by a line '}}'")


def _read_text(lines: list[str], start: int, delimiter: str, file: str) -> tuple[str, int]:
    """An ``ENDSNIP`` block's value (read -d '' trims newlines) and the index after it."""
    for i in range(start + 1, len(lines)):
        if lines[i] == delimiter:
            return doctest.expected_text("\n".join(lines[start + 1 : i])), i + 1
    raise LabError(f"{file}:{start + 1}: the here-document is never closed by a line '{delimiter}'")


def _annotation(kind: str, text: str | None, where: str) -> tuple[str, str | None]:
    """Check a ``# verify:`` value; return (kind, text with ``\\n`` turned into newlines)."""
    key = kind.removeprefix("_").removeprefix("verify_")
    if key not in doctest.VERIFIERS and key not in EXTRA_KINDS:
        known = ", ".join((*doctest.VERIFIERS, *EXTRA_KINDS))
        raise LabError(f"{where}: unknown verifier {kind!r} (known: {known})")
    return key, (text.replace("\\n", "\n") if text is not None else None)


def parse_snips(text: str, *, file: str = "snips.sh") -> list[Snippet]:
    """Read a snips file: its ``snip_*`` functions, in order, with expected texts and verifiers.

    Args:
        text: the file's content.
        file: the name used in error messages.

    Raises:
        LabError: an unclosed function or here-document, an unknown verifier, a ``# verify:``
            comment not followed by a function, or a verifier that needs a text and has none.
    """
    lines = text.split("\n")
    functions: list[tuple[str, str, int, tuple[str, str | None] | None]] = []
    texts: dict[str, str] = {}
    pending: tuple[str, str | None] | None = None
    pending_line = 0
    i = 0
    while i < len(lines):
        line = lines[i]
        func, block, note = _FUNC.match(line), _TEXT.match(line), _VERIFY.match(line)
        if func:
            script, nxt = _read_function(lines, i, file)
            functions.append((func.group(1), script, i + 1, pending))
            pending, i = None, nxt
            continue
        if pending is not None and line.strip():
            raise LabError(f"{file}:{pending_line}: '# verify:' must be followed by a snip_*() function")
        if block:
            texts[block.group(1)], i = _read_text(lines, i, block.group(2), file)
            continue
        if note:
            pending, pending_line = _annotation(note.group(1), note.group(2), f"{file}:{i + 1}"), i + 1
        i += 1
    return [
        _snippet(name, script, line, note, texts.get(f"{name}_out"), file)
        for name, script, line, note in functions
    ]


def _snippet(
    name: str, script: str, line: int, note: tuple[str, str | None] | None, out: str | None, file: str
) -> Snippet:
    kind, inline = note if note is not None else ("same" if out is not None else "exit", None)
    expected = inline if inline is not None else out
    if expected is None and kind not in ("exit", "skip", "failure"):
        raise LabError(f"{file}:{line}: {name} uses '{kind}' but has no {name}_out block and no text")
    return Snippet(name, script, line, expected, kind, out)


# --------------------------------------------------------------------------- running


def _select(snippets: list[Snippet], only: Iterable[str] | None, file: str) -> list[Snippet]:
    if only is None:
        return snippets
    wanted = {n if n.startswith("snip_") else f"snip_{n}" for n in only}
    missing = sorted(wanted - {s.name for s in snippets})
    if missing:
        raise LabError(f"{file}: no snippet named {', '.join(missing)}")
    return [s for s in snippets if s.name in wanted]


def _override(snippet: Snippet, spec: str, file: str) -> Snippet:
    kind, _, text = spec.strip().partition(" ")
    note = _annotation(kind, text or None, f"{file}: verifiers[{snippet.name!r}]")
    return _snippet(snippet.name, snippet.script, snippet.line, note, snippet.out, file)


def _judge(snippet: Snippet, exit_code: int, output: str) -> bool:
    if snippet.verify == "exit":
        return exit_code == 0
    check = doctest.verifier(snippet.verify)
    return check(output, snippet.expected or "", exit_code)


def run_snips(
    path: str | pathlib.Path,
    shell: Callable[[str], ShellOutcome],
    only: Iterable[str] | None = None,
    *,
    verifiers: Mapping[str, str] | None = None,
    keep_going: bool = False,
    attempts: int = 1,
    delay: float = 1.0,
    echo: Callable[[str], None] | None = print,
) -> list[SnipResult]:
    """Run the snippets of a snips file in order in one shell session and judge each.

    Args:
        path: the snips file.
        shell: runs a bash script in the session, returns ``.exit_code`` and ``.output``
            (exported variables persist from one call to the next).
        only: the snippet names to run (``snip_`` may be left out); default all.
        verifiers: name -> ``"<verifier> [text]"``, overriding the file's ``# verify:`` comments.
        keep_going: go on after a failure (test.sh, under ``set -e``, stops).
        attempts: how many times a verified snippet is run until it passes (verify.sh retries
            for up to ``VERIFY_TIMEOUT``); plain snippets run once, as test.sh calls them directly.
        delay: seconds between attempts.
        echo: called with one ``PASS``/``FAIL``/``SKIP`` line per snippet (None: silent).

    Returns:
        One :class:`SnipResult` per snippet run or skipped, in file order.

    Raises:
        LabError: the file is malformed, or ``only``/``verifiers`` name an unknown snippet.
    """
    file = str(path)
    snippets = parse_snips(pathlib.Path(path).read_text(encoding="utf-8"), file=file)
    known = {s.name for s in snippets}
    for name in verifiers or {}:
        if name not in known:
            raise LabError(f"{file}: no snippet named {name}")
    snippets = [
        _override(s, verifiers[s.name], file) if verifiers and s.name in verifiers else s for s in snippets
    ]
    results: list[SnipResult] = []
    for snippet in _select(snippets, only, file):
        result = _run_one(snippet, shell, attempts if snippet.verify != "exit" else 1, delay)
        results.append(result)
        if echo is not None:
            echo(str(result))
        if result.status == "FAIL" and not keep_going:
            break
    return results


def _run_one(
    snippet: Snippet, shell: Callable[[str], ShellOutcome], attempts: int, delay: float
) -> SnipResult:
    if snippet.verify == "skip":
        return SnipResult(snippet.name, "skip", "SKIP", expected=snippet.expected)
    script = f"{snippet.script}\n{snippet.name} 2>&1\n"
    for attempt in range(max(1, attempts)):
        if attempt:
            time.sleep(delay)
        outcome = shell(script)
        output = doctest.normalize_output(outcome.output)
        ok = _judge(snippet, outcome.exit_code, output)
        if ok:
            break
    status: Literal["PASS", "FAIL"] = "PASS" if ok else "FAIL"
    return SnipResult(snippet.name, snippet.verify, status, outcome.exit_code, output, snippet.expected)


# --------------------------------------------------------------------------- against a backend


@dataclass(frozen=True, slots=True)
class PageRun:
    """A snips file run against a backend: the results and how many snippets were not reached.

    Attributes:
        file: the snips file.
        results: one :class:`SnipResult` per snippet run or skipped, in file order.
        not_run: snippets selected but not reached (the run stopped at a failure).
    """

    file: str
    results: tuple[SnipResult, ...]
    not_run: int = 0

    @property
    def ok(self) -> bool:
        """True when no snippet failed and every selected one was reached."""
        return all(r.passed for r in self.results) and not self.not_run

    def summary(self) -> str:
        """``<file>: 7 passed, 1 failed, 2 skipped`` (and what was not run)."""
        counts = {s: sum(1 for r in self.results if r.status == s) for s in ("PASS", "FAIL", "SKIP")}
        text = f"{self.file}: {counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped"
        if self.not_run:
            text += f", {self.not_run} not run (stopped at the first failure, as test.sh does under set -e)"
        return text


class _Backend(Protocol):
    def shell(
        self, script: str, timeout: float = 60.0, cwd: str | pathlib.Path | None = None
    ) -> ShellOutcome: ...


def run_in_backend(
    path: str | pathlib.Path,
    backend: _Backend,
    only: Iterable[str] | None = None,
    *,
    work_dir: str | pathlib.Path,
    timeout: float = 120.0,
    **options: object,
) -> PageRun:
    """Run a snips file in one shell session of ``backend`` (``sb.shell``), from ``work_dir``.

    ``work_dir`` gets a ``samples`` link to Istio 1.27's samples as the sandbox ships them
    (:func:`gatewaykit.samples.link`), so ``kubectl apply -f samples/httpbin/httpbin.yaml`` works
    there, as it does in the Istio release folder the docs run from. Files a page writes
    (``example_certs1/...``, ``nginx.conf``) land in ``work_dir`` too.

    Args:
        path: the snips file.
        backend: anything with ``shell(script, timeout=, cwd=)`` (every gatewaykit backend).
        only: the snippet names to run (``snip_`` may be left out); default all.
        work_dir: the working folder (created if missing).
        timeout: seconds one snippet may take (``kubectl wait`` waits inside it).
        **options: passed to :func:`run_snips` (``keep_going``, ``attempts``, ``delay``,
            ``verifiers``, ``echo``).
    """
    from gatewaykit import samples

    folder = pathlib.Path(work_dir)
    folder.mkdir(parents=True, exist_ok=True)
    samples.link(folder)

    def shell(script: str) -> ShellOutcome:
        return backend.shell(script, timeout=timeout, cwd=folder)

    text = pathlib.Path(path).read_text(encoding="utf-8")
    selected = _select(parse_snips(text, file=str(path)), only, str(path))
    results = run_snips(path, shell, only, **options)  # type: ignore[arg-type]
    return PageRun(str(path), tuple(results), len(selected) - len(results))
