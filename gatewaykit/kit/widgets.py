"""Live widgets (ipywidgets 8) for the labs: editor, curl panel, explain view, topology, checks, status.

Every button calls a :class:`~gatewaykit.kit.session.LabSession` method and puts the returned
result into widget *state* (``HTML.value``, ``Textarea.value``), never only into an Output widget:
nbval does not see Output-widget prints the way a browser does (toolchain notes). ``Button.click()``
works kernel-side, so tests drive the widgets exactly as a learner would.

CSS classes for the browser test: ``gk-editor``, ``gk-apply``, ``gk-curl-command``, ``gk-curl-run``,
``gk-curl-result``, ``gk-status`` (and ``gk-apply-result``, ``gk-explain``, ``gk-check-result``).
"""

from __future__ import annotations

import difflib
import html
import json
from collections.abc import Callable
from typing import Any

import ipywidgets as W

from gatewaykit.errors import ManifestError
from gatewaykit.kit import verify
from gatewaykit.kit.labs import Exercise
from gatewaykit.kit.session import CurlOutcome, LabSession, StepHandle
from gatewaykit.resources.codecs import dump_yaml, read_documents

__all__ = ["CheckPanel", "CurlPanel", "ManifestEditor", "StatusBar", "Topology", "lab_ui"]


def _pre(text: str, cls: str = "") -> str:
    return f'<pre class="{cls}" style="white-space:pre-wrap;margin:0">{html.escape(text)}</pre>'


def _busy(buttons: list[W.Button], status: W.HTML, message: str, action: Callable[[], str]) -> None:
    """Run ``action`` with the buttons disabled and a progress message shown meanwhile."""
    for b in buttons:
        b.disabled = True
    status.value = f"<span>⏳ {html.escape(message)}</span>"
    try:
        status.value = action()
    except Exception as exc:  # shown to the learner; the kernel stays usable
        status.value = _pre(f"{type(exc).__name__}: {exc}", "gk-error")
    finally:
        for b in buttons:
            b.disabled = False


# --------------------------------------------------------------------------------------------


# Marks drawn from fonts every Linux browser has (Debian's chromium ships no emoji font).
_OK_DOT = '<span style="color:#2e7d32">&#9679;</span>'
_BAD_DOT = '<span style="color:#c62828">&#9679;</span>'
_OK_MARK = '<span style="color:#2e7d32">&#10004;</span>'
_BAD_MARK = '<span style="color:#c62828">&#10008;</span>'


class StatusBar(W.HTML):
    """Backend, published ports and readiness, in one line."""

    def __init__(self, session: LabSession) -> None:
        super().__init__()
        self.session = session
        self.add_class("gk-status")
        self.refresh()

    def refresh(self) -> None:
        """Re-read the backend's state."""
        be = self.session.backend
        try:
            env = self.session.env
            ready = "ready"
            listed = be.pods()
            running = sum(1 for p in listed if p.status == "Running")
            ready = f"ready, {running}/{len(listed)} pods Running"
            waiting = [f"{p.namespace}/{p.name}: {p.status}" for p in listed if p.status != "Running"]
            if waiting:
                ready += " (" + "; ".join(waiting[:3]) + ")"
        except Exception as exc:
            env, ready = {}, f"not ready: {exc}"
        ports = " · ".join(f"{k}={v}" for k, v in env.items())
        self.value = (
            f"<b>{html.escape(self.session.lab.id)}</b> · backend <code>{type(be).__name__}</code> · "
            f"{html.escape(ports)} · {_OK_DOT if ready.startswith('ready') else _BAD_DOT} "
            f"{html.escape(ready)}"
        )


class ManifestEditor(W.VBox):
    """An editable manifest with Apply, Validate, Diff and Reset.

    The text is saved to ``<work dir>/edits/<key>.yaml`` as the learner types and restored when the
    editor is created again (a new kernel included).
    """

    def __init__(
        self,
        session: LabSession,
        step: StepHandle | Exercise | str | None = None,
        *,
        key: str | None = None,
        text: str | None = None,
    ) -> None:
        self.session = session
        if isinstance(step, StepHandle):
            original, key = step.yaml, key or f"step-{step.id}"
        elif isinstance(step, Exercise):
            original, key = step.starter, key or f"exercise-{step.id}"
        elif isinstance(step, str):
            handle = next((s for s in session.steps if s.id == step), None)
            if handle is None:
                raise ValueError(f"no step {step!r} in lab {session.lab.id}")
            original, key = handle.yaml, key or f"step-{handle.id}"
        else:
            original, key = text or "", key or "scratch"
        self.original = original if text is None else text
        self.key = key
        self.path = session.work_dir / "edits" / f"{key}.yaml"
        saved = self.path.read_text(encoding="utf-8") if self.path.exists() else None
        self.textarea = W.Textarea(
            value=saved if saved is not None else self.original,
            continuous_update=True,
            layout=W.Layout(width="100%", height=f"{min(40, max(8, self.original.count(chr(10)) + 2))}em"),
        )
        self.textarea.add_class("gk-editor")
        self.textarea.observe(self._save, names="value")
        self.apply_button = W.Button(description="Apply", button_style="primary", icon="play")
        self.apply_button.add_class("gk-apply")
        self.validate_button = W.Button(description="Validate", icon="check")
        self.diff_button = W.Button(description="Diff", icon="columns")
        self.reset_button = W.Button(description="Reset", icon="undo")
        self.result = W.HTML()
        self.result.add_class("gk-apply-result")
        self.apply_button.on_click(lambda _b: self.apply())
        self.validate_button.on_click(lambda _b: self.validate())
        self.diff_button.on_click(lambda _b: self.diff())
        self.reset_button.on_click(lambda _b: self.reset())
        buttons = W.HBox([self.apply_button, self.validate_button, self.diff_button, self.reset_button])
        super().__init__([self.textarea, buttons, self.result])

    @property
    def buttons(self) -> list[W.Button]:
        """The action buttons."""
        return [self.apply_button, self.validate_button, self.diff_button, self.reset_button]

    def _save(self, change: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(change["new"], encoding="utf-8")

    def apply(self) -> None:
        """Apply the editor's text; show kubectl's lines or Istio's exact error."""

        def run() -> str:
            out = self.session.apply(self.textarea.value)
            cls = "gk-ok" if out.ok else "gk-error"
            return _pre(str(out), cls)

        _busy(self.buttons, self.result, "Applying…", run)

    def validate(self) -> None:
        """Dry run: Istio's validation of each document and the analyzer's findings; nothing changes."""
        _busy(
            self.buttons,
            self.result,
            "Validating…",
            lambda: _pre(validate_text(self.session, self.textarea.value)),
        )

    def diff(self) -> None:
        """A unified diff between what is applied and the editor's text."""
        _busy(
            self.buttons,
            self.result,
            "Comparing…",
            lambda: _pre(diff_text(self.session, self.textarea.value)),
        )

    def reset(self) -> None:
        """Restore the step's original YAML (and forget the saved edit)."""
        self.textarea.value = self.original
        if self.path.exists():
            self.path.unlink()
        self.result.value = _pre("Editor reset to the lab's manifest.")


def validate_text(session: LabSession, text: str) -> str:
    """A dry run of ``text``: kubectl's ``--dry-run=server`` lines or Istio's exact rejection, then
    ``istioctl analyze``'s findings for the cluster as it would be after applying. Nothing changes.

    Uses the backend's config store when it has one (the local sandbox); otherwise only parses.
    """
    try:
        docs = read_documents(text, name="manifest")  # the one manifest reader, as apply uses
    except ManifestError as exc:
        return str(exc)
    store = getattr(session.backend, "store", None)
    if store is None or not hasattr(store, "apply"):
        return f"✓ {len(docs)} document(s) parse (this backend offers no dry run)"
    import copy

    from gatewaykit.errors import ValidationError

    try:
        dry = store.apply(text, dry_run=True)
    except ValidationError as exc:
        return str(exc)
    lines = [str(dry)]
    try:
        from gatewaykit._analyze import analyze

        scratch = copy.deepcopy(store)
        scratch.apply(text)
        xds = getattr(session.backend, "xds", None)
        findings = analyze(scratch.snapshot(), xds)
        lines += [str(f) for f in findings] or ["✔ No validation issues found when analyzing the manifests."]
    except Exception as exc:  # the analyzer is advisory: never let it hide the dry-run result
        lines.append(f"(analysis unavailable: {exc})")
    return "\n".join(lines)


def diff_text(session: LabSession, text: str) -> str:
    """A unified diff of the applied objects the text names against the text's objects."""
    try:
        docs = [d for d, _ in read_documents(text, name="manifest") if isinstance(d, dict)]
    except ManifestError as exc:
        return str(exc)
    from gatewaykit.kit.session import _key

    out: list[str] = []
    for d in docs:
        key = _key(d)
        applied = session.ledger.get(key)
        before = dump_yaml(applied) if applied else ""
        after = dump_yaml(d)
        label = f"{key[0]} {key[1] + '/' if key[1] else ''}{key[2]}"
        if before == after:
            out.append(f"= {label}: unchanged")
            continue
        out += difflib.unified_diff(
            before.splitlines(),
            after.splitlines(),
            fromfile=f"applied: {label}" if applied else "applied: (none)",
            tofile=f"editor: {label}",
            lineterm="",
        )
    return "\n".join(out) or "(nothing to compare)"


# --------------------------------------------------------------------------------------------


def curl_html(outcome: CurlOutcome) -> str:
    """The curl panel's result: status line, header table, body (pretty JSON), TLS details, reading."""
    r = outcome.result
    parts = []
    reading = outcome.reading
    ok = r.exit_code == 0 and (r.status or 0) < 400
    parts.append(
        f'<div class="gk-reading" style="font-weight:bold">'
        f"{_OK_MARK if ok else _BAD_MARK} {html.escape(reading)}</div>"
    )
    if r.status_line:
        parts.append(_pre(r.status_line, "gk-status-line"))
        rows = "".join(
            f"<tr><td><code>{html.escape(k)}</code></td><td><code>{html.escape(verify.normalize(v))}</code></td></tr>"
            for k, v in r.headers.items()
        )
        parts.append(f'<table class="gk-headers">{rows}</table>')
    body = r.body if r.body is not None else (r.stdout if r.status is None else "")
    if body:
        try:
            body = json.dumps(json.loads(body), indent=2)
        except ValueError:
            pass
        parts.append("<details open><summary>body</summary>" + _pre(body[:4000], "gk-body") + "</details>")
    tls = outcome.tls
    if tls:
        rows = "".join(
            f"<tr><td>{html.escape(k)}</td><td><code>{html.escape(v)}</code></td></tr>"
            for k, v in tls.items()
        )
        parts.append(f'<details><summary>TLS</summary><table class="gk-tls">{rows}</table></details>')
    err = [ln for ln in r.stderr.splitlines() if ln.startswith("curl: (")]
    if err:
        parts.append(_pre(verify.normalize(err[-1]), "gk-curl-error"))
    parts.append(f"<div>exit code {r.exit_code}</div>")
    return "\n".join(parts)


class CurlPanel(W.VBox):
    """An editable curl command (Istio docs' style), Run, the result and the explain view."""

    def __init__(self, session: LabSession, command: str = "", source: str | None = None) -> None:
        self.session = session
        self.source = source
        if not command:
            probes = [p for s in session.steps for p in s.probes if not p.kubectl]
            command = probes[0].command if probes else 'curl -s -I "http://$INGRESS_HOST:$INGRESS_PORT/"'
            source = source or (probes[0].source if probes else None)
            self.source = source
        self.command = W.Text(value=command, layout=W.Layout(width="100%"))
        self.command.add_class("gk-curl-command")
        self.run_button = W.Button(description="Run", button_style="primary", icon="play")
        self.run_button.add_class("gk-curl-run")
        self.explain_button = W.Button(description="Explain", icon="route")
        self.where = W.HTML(
            f"<small>runs {'inside ' + html.escape(source) if source else 'from your machine'}</small>"
        )
        self.result = W.HTML()
        self.result.add_class("gk-curl-result")
        self.explanation = W.HTML()
        self.explanation.add_class("gk-explain")
        self.outcome: CurlOutcome | None = None
        self.run_button.on_click(lambda _b: self.run())
        self.explain_button.on_click(lambda _b: self.explain())
        super().__init__(
            [
                W.HBox([self.command, self.run_button, self.explain_button]),
                self.where,
                self.result,
                self.explanation,
            ]
        )

    def run(self) -> None:
        """Run the command and show the result."""

        def go() -> str:
            self.outcome = self.session.curl(self.command.value, source=self.source)
            self.explanation.value = ""
            return curl_html(self.outcome)

        _busy([self.run_button, self.explain_button], self.result, "Running curl…", go)

    def explain(self) -> None:
        """Show the simulated path beside the proxy's access-log line."""

        def go() -> str:
            exp = self.session.explain(self.outcome)
            return (
                '<div style="display:flex;gap:1em"><div><b>path</b>' + _pre(exp.path) + "</div>"
                f"<div><b>{html.escape(exp.workload)} access log</b>"
                + _pre(verify.normalize_log(exp.log_line))
                + "</div></div>"
            )

        _busy([self.run_button, self.explain_button], self.explanation, "Explaining…", go)


class Topology(W.VBox):
    """The Mermaid topology; its text lives in widget state, the rendered diagram in an Output."""

    def __init__(self, session: LabSession) -> None:
        self.session = session
        self.source = W.HTML()
        self.source.add_class("gk-topology")
        self.output = W.Output()
        self.refresh_button = W.Button(description="Refresh topology", icon="project-diagram")
        self.refresh_button.on_click(lambda _b: self.refresh())
        super().__init__([self.refresh_button, self.output, self.source])
        self.refresh()

    def refresh(self) -> None:
        """Redraw from the applied state."""
        text = self.session.topology()
        self.source.value = (
            "<details><summary>Mermaid source</summary>" + _pre(text, "mermaid") + "</details>"
        )
        from IPython.display import display

        self.output.clear_output()
        with self.output:
            display({"text/vnd.mermaid": text, "text/plain": text}, raw=True)


class CheckPanel(W.VBox):
    """Check-my-work for one exercise: Check, Hint, Show solution, Apply solution."""

    def __init__(self, session: LabSession, exercise: str | int | Exercise) -> None:
        self.session = session
        self.exercise = session.exercise(exercise)
        self.check_button = W.Button(description="Check my work", button_style="success", icon="check")
        self.hint_button = W.Button(description="Hint", icon="lightbulb")
        self.solution_button = W.Button(description="Show solution", icon="eye")
        self.apply_solution_button = W.Button(description="Apply solution", icon="play")
        self.result = W.HTML()
        self.result.add_class("gk-check-result")
        self.check_button.on_click(lambda _b: self.check())
        self.hint_button.on_click(lambda _b: self.hint())
        self.solution_button.on_click(lambda _b: self.show_solution())
        self.apply_solution_button.on_click(lambda _b: self.apply_solution())
        buttons = [self.check_button, self.hint_button, self.solution_button, self.apply_solution_button]
        self._buttons = buttons
        super().__init__([W.HBox(buttons), self.result])

    def check(self) -> None:
        """Run the check."""
        _busy(self._buttons, self.result, "Checking…", lambda: _pre(str(self.session.check(self.exercise))))

    def hint(self) -> None:
        """Show the next hint."""
        self.result.value = _pre("Hint: " + self.session.hint(self.exercise))

    def show_solution(self) -> None:
        """Show the reference solution (not applied)."""
        self.result.value = _pre(str(self.session.solution(self.exercise)))

    def apply_solution(self) -> None:
        """Apply the reference solution."""
        _busy(
            self._buttons,
            self.result,
            "Applying the solution…",
            lambda: _pre(str(self.session.solution(self.exercise, apply=True))),
        )


def lab_ui(
    session: LabSession, step: StepHandle | str | int | None = None, *, command: str | None = None
) -> W.VBox:
    """The whole workbench for a step: status bar, editor, curl panel.

    Args:
        session: the open lab.
        step: a step handle, id or 1-based number (default: the first step).
        command: the curl panel's initial command (default: the step's first probe).
    """
    if step is None:
        handle = session.steps[0]
    elif isinstance(step, StepHandle):
        handle = step
    elif isinstance(step, int) or (isinstance(step, str) and step.isdigit()):
        handle = session.steps[int(step) - 1]
    else:
        handle = next(s for s in session.steps if s.id == step)
    probe = next((p for p in handle.probes if not p.kubectl), None)
    panel = CurlPanel(session, command or (probe.command if probe else ""), probe.source if probe else None)
    return W.VBox(
        [
            StatusBar(session),
            W.HTML(f"<h4>{html.escape(handle.title)}</h4>"),
            ManifestEditor(session, handle),
            panel,
        ]
    )
