"""Live widgets (ipywidgets 8) for the labs: workbench, editor, curl panel, explain, checks, course.

Every button calls a :class:`~gatewaykit.kit.session.LabSession` method and puts the result into
widget *state* (``HTML.value``, ``Textarea.value``), never only into an Output widget: nbval does
not see Output-widget prints the way a browser does (toolchain notes). ``Button.click()`` works
kernel-side, so tests drive the widgets exactly as a learner would.

What the learner reads comes first: a refusal's reason and line, then kubectl's full text folded
(:mod:`gatewaykit.kit.errorview`); errors are red, warnings amber, success green. The status bar
listens to the session (:meth:`~gatewaykit.kit.session.LabSession.subscribe`) and never shows a
state that is not true -- a stopped sandbox reads "stopped".

A widget's stored form (a notebook not run yet, or exported to HTML) is a "run this cell"
placeholder, never a Python repr (:meth:`_Placeholder._repr_mimebundle_`).

CSS classes for the browser tests: ``gk-editor``, ``gk-apply``, ``gk-curl-command``,
``gk-curl-run``, ``gk-curl-result``, ``gk-status`` (and ``gk-apply-result``, ``gk-explain``,
``gk-check-result``, ``gk-hint``, ``gk-course``).
"""

from __future__ import annotations

import base64
import difflib
import html
import json
from collections.abc import Callable
from typing import Any

import ipywidgets as W

from gatewaykit.backends.base import Inspector
from gatewaykit.errors import GatewayKitError, ManifestError, ValidationError
from gatewaykit.kit import errorview, state
from gatewaykit.kit.labs import Exercise
from gatewaykit.kit.results import ApplyOutcome, CurlOutcome
from gatewaykit.kit.session import LabSession, StepHandle
from gatewaykit.resources.codecs import dump_yaml, read_documents

__all__ = [
    "CheckPanel",
    "CoursePanel",
    "CurlPanel",
    "ManifestEditor",
    "StatusBar",
    "Topology",
    "diff_text",
    "lab_ui",
    "validate_html",
]

# --------------------------------------------------------------------------------------------
# Look and keys: one <style> and one small script, shared by every widget of the page


def _gutter_svg(lines: int = 400) -> str:
    """Line numbers drawn as a background image that scrolls with the editor's text."""
    texts = "".join(
        f"<text x='30' y='{4 + 18 * i + 13}' text-anchor='end'>{i + 1}</text>" for i in range(lines)
    )
    svg = (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='36' height='{18 * lines + 8}' "
        f"font-family='monospace' font-size='11' fill='#9e9e9e'>{texts}</svg>"
    )
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


_STYLE = (
    "<style>"
    ".gk-editor, .gk-curl-command {width: 100% !important; max-width: 100%; box-sizing: border-box;}"
    ".gk-editor textarea {font-family: var(--jp-code-font-family, monospace); font-size: 13px;"
    " line-height: 18px; padding: 4px 6px 4px 40px; white-space: pre; overflow-wrap: normal;"
    " overflow-x: auto; tab-size: 2; box-sizing: border-box; width: 100%;"
    f" background: #fff url('{_gutter_svg()}') no-repeat local 0 0;"
    " border-left: 1px solid #e0e0e0;}"
    ".gk-curl-command textarea {font-family: var(--jp-code-font-family, monospace); font-size: 13px;"
    " box-sizing: border-box; width: 100%; white-space: pre-wrap; overflow-wrap: anywhere;}"
    ".gk-box {padding: 4px 8px; border-left: 4px solid #9e9e9e; margin: 4px 0;}"
    ".gk-box pre {white-space: pre-wrap; overflow-wrap: break-word; word-break: normal; margin: 0;"
    " font-size: 12px;}"
    ".gk-ok {border-left-color: #2e7d32; background: #f1f8e9;}"
    ".gk-error {border-left-color: #c62828; background: #ffebee;}"
    ".gk-warn {border-left-color: #ef6c00; background: #fff3e0;}"
    ".gk-error .gk-reason {color: #b71c1c; font-weight: bold;}"
    ".gk-path {white-space: pre; overflow-x: auto; font-size: 12px; margin: 0;}"
    ".gk-log {white-space: pre-wrap; overflow-wrap: break-word; word-break: normal; font-size: 12px;"
    " margin: 0;}"
    "@keyframes gk-spin {to {transform: rotate(360deg);}}"
    ".gk-busy::before {content: ''; display: inline-block; width: 0.8em; height: 0.8em;"
    " margin-right: 0.5em; border: 2px solid #9e9e9e; border-top-color: transparent;"
    " border-radius: 50%; animation: gk-spin 0.8s linear infinite; vertical-align: -0.1em;}"
    "</style>"
)

# Tab in an editor indents (two spaces) instead of leaving it; Enter in the curl command runs it
# (Shift+Enter: a new line). Browsers give textareas neither behaviour, so a capture-phase key
# handler does it; JupyterLab runs it from the widget's output (trusted: made by this kernel).
_KEYS_JS = """
(function () {
  if (window.__gatewaykitKeys) { return; }
  window.__gatewaykitKeys = true;
  document.addEventListener('keydown', function (e) {
    var t = e.target;
    if (!t || t.tagName !== 'TEXTAREA' || !t.closest) { return; }
    if (e.key === 'Tab' && !e.shiftKey && !e.ctrlKey && !e.altKey && t.closest('.gk-editor')) {
      e.preventDefault(); e.stopPropagation();
      t.setRangeText('  ', t.selectionStart, t.selectionEnd, 'end');
      t.dispatchEvent(new Event('input', {bubbles: true}));
    } else if (e.key === 'Enter' && !e.shiftKey && t.closest('.gk-curl-command')) {
      e.preventDefault(); e.stopPropagation();
      var panel = t.closest('.gk-curl-panel');
      var run = panel && panel.querySelector('.gk-curl-run');
      if (run) { (run.tagName === 'BUTTON' ? run : (run.querySelector('button') || run)).click(); }
    }
  }, true);
})();
"""


def _assets() -> list[W.Widget]:
    """The shared style and key handler, as two invisible widgets."""
    keys = W.Output(layout=W.Layout(height="0px", overflow="hidden"))
    keys.outputs = (
        {"output_type": "display_data", "data": {"application/javascript": _KEYS_JS, "text/plain": ""},
         "metadata": {}},
    )
    return [W.HTML(_STYLE), keys]


class _Placeholder:
    """What a widget looks like where it cannot live: a notebook opened before running it, or
    exported to HTML -- a "run this cell" note instead of ``VBox(children=(...))``."""

    placeholder = "an interactive panel"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        data: dict[str, Any] = super()._repr_mimebundle_(**kwargs)  # type: ignore[misc]
        note = f"{self.placeholder} -- run this cell to use it"
        data["text/plain"] = f"[{note}]"
        data["text/html"] = placeholder_html(self.placeholder)
        return data


def placeholder_html(what: str) -> str:
    """The stored form of a widget: a boxed note saying what appears when the cell runs."""
    return (
        '<div class="gk-placeholder" style="border:1px dashed #9e9e9e;padding:6px 10px;color:#555;'
        f'font-family:sans-serif">&#9655; Run this cell to open {html.escape(what)}.</div>'
    )


# --------------------------------------------------------------------------------------------
# Small helpers


def _button(**kwargs: Any) -> W.Button:
    """A button as wide as its label (ipywidgets' fixed width cuts long labels off)."""
    return W.Button(layout=W.Layout(width="auto", min_width="6em", flex="0 0 auto"), **kwargs)


def _pre(text: str, cls: str = "") -> str:
    return f'<pre class="{cls}">{html.escape(text)}</pre>'


def _box(kind: str, body: str) -> str:
    return f'<div class="gk-box gk-{kind}">{body}</div>'


def _busy_html(message: str) -> str:
    return f'<span class="gk-busy">{html.escape(message)}</span>'


def _closed_html(session: LabSession) -> str:
    return _box(
        "error",
        '<span class="gk-reason">The sandbox is stopped.</span> Run the notebook\'s first cell '
        f"(<code>open_lab(\"{html.escape(session.lab.id)}\")</code>) to start a new one.",
    )


def _busy(
    session: LabSession, buttons: list[W.Button], target: W.HTML, message: str, action: Callable[[], str]
) -> None:
    """Run ``action`` with the buttons disabled and a progress message shown meanwhile."""
    if session.backend.closed:
        target.value = _closed_html(session)
        return
    for b in buttons:
        b.disabled = True
    target.value = _busy_html(message)
    try:
        target.value = action()
    except GatewayKitError as exc:
        target.value = _closed_html(session) if session.backend.closed else _box("error", _pre(str(exc)))
    except Exception as exc:  # shown to the learner; the kernel stays usable
        target.value = _box("error", _pre(f"{type(exc).__name__}: {exc}"))
    finally:
        for b in buttons:
            b.disabled = False


def _confirming(button: W.Button, label: str, action: Callable[[], None]) -> None:
    """A destructive button asks once more before it acts (the label says what it will do)."""
    original = button.description

    def click(_b: W.Button) -> None:
        if button.description == label:
            button.description = original
            button.button_style = ""
            action()
        else:
            button.description = label
            button.button_style = "danger"

    button.on_click(click)


_DOT = '<span style="color:{}">&#9679;</span>'


# --------------------------------------------------------------------------------------------


class StatusBar(_Placeholder, W.HBox):
    """Backend, published ports and readiness, in one line, with a Stop button. It refreshes
    whenever the session changes, and says "stopped" once the sandbox is closed."""

    placeholder = "the status bar"

    def __init__(self, session: LabSession) -> None:
        self.session = session
        self.text = W.HTML()
        self.text.add_class("gk-status")
        self.stop_button = _button(description="Stop sandbox", icon="power-off",
                                    tooltip="Stop the sandbox now (the kernel's shutdown stops it too)")
        _confirming(self.stop_button, "Click again to stop", self._stop)
        super().__init__([self.text, self.stop_button])
        session.subscribe(self.on_event)
        self.refresh()

    def on_event(self, event: str) -> None:
        """The session changed: show the state as it is now."""
        self.refresh()

    def _stop(self) -> None:
        self.session.close()

    def refresh(self) -> None:
        """Re-read the backend's state."""
        be, lab = self.session.backend, html.escape(self.session.lab.id)
        head = f"<b>{lab}</b> · backend <code>{type(be).__name__}</code> · "
        if be.closed:
            self.stop_button.disabled = True
            self.text.value = head + _DOT.format("#c62828") + " stopped: run the first cell to start again"
            return
        try:
            env = self.session.env
            listed = be.pods()
            running = sum(1 for p in listed if p.status == "Running")
            ready = f"ready, {running}/{len(listed)} pods Running"
            waiting = [f"{p.namespace}/{p.name}: {p.status}" for p in listed if p.status != "Running"]
            if waiting:
                ready += " (" + "; ".join(waiting[:3]) + ")"
            colour = "#2e7d32" if not waiting else "#ef6c00"
        except GatewayKitError as exc:
            env, ready, colour = {}, f"not ready: {exc}", "#c62828"
        ports = " · ".join(f"{k}={v}" for k, v in env.items())
        self.text.value = f"{head}{html.escape(ports)} · {_DOT.format(colour)} {html.escape(ready)}"


# --------------------------------------------------------------------------------------------


def _refusal_html(text: str, error: str) -> str:
    """A refusal, reason first with its line, kubectl's full text folded below."""
    p = errorview.problem(text, error)
    return _box(
        "error",
        f'<div class="gk-reason">&#10008; {html.escape(p.headline)}</div>'
        f"<div><small>refused by {html.escape(p.who)}</small></div>"
        f"<details><summary>kubectl's full message</summary>{_pre(p.details)}</details>",
    )


def outcome_html(text: str, out: ApplyOutcome, what: str = "applied") -> str:
    """An apply's result: the refusal (reason first), or kubectl's lines, with warnings apart."""
    parts = []
    if out.warnings:
        parts.append(_box("warn", _pre("\n".join(f"Warning: {w}" for w in out.warnings))))
    if out.error:
        parts.append(_refusal_html(text, out.error))
        if out.lines:
            parts.append(_box("ok", _pre("\n".join(out.lines))))
    else:
        lines = list(out.reset) + list(out.lines)
        shown = "\n".join(lines) or "(nothing to apply)"
        parts.append(_box("ok", f"<div>&#10004; {what}</div>" + _pre(shown)))
    return "".join(parts)


class ManifestEditor(_Placeholder, W.VBox):
    """An editable manifest with Apply, Validate, Diff, Reset text and Reset applied state.

    The text is saved to ``<working folder>/edits/<key>.yaml`` as the learner types and restored
    when the editor is created again (a new kernel included).
    """

    placeholder = "the manifest editor"

    def __init__(
        self,
        session: LabSession,
        step: StepHandle | Exercise | str | None = None,
        *,
        key: str | None = None,
        text: str | None = None,
    ) -> None:
        self.session = session
        self.step, self.exercise = None, None
        if isinstance(step, str):
            step = next((s for s in session.steps if s.id == step), None) or _no_step(session, step)
        if isinstance(step, StepHandle):
            self.step, original, key = step, step.yaml, key or f"step-{step.id}"
        elif isinstance(step, Exercise):
            self.exercise, original, key = step, step.starter, key or f"exercise-{step.id}"
        else:
            original, key = text or "", key or "scratch"
        self.original = original if text is None else text
        self.key = key
        self.path = session.work_dir / "edits" / f"{key}.yaml"
        saved = self.path.read_text(encoding="utf-8") if self.path.exists() else None
        rows = min(24, max(8, self.original.count("\n") + 2))
        self.textarea = W.Textarea(value=saved if saved is not None else self.original,
                                   continuous_update=True, rows=rows, layout=W.Layout(width="auto"))
        self.textarea.add_class("gk-editor")
        self.textarea.observe(self._save, names="value")
        self.apply_button = _button(description="Apply", button_style="primary", icon="play")
        self.apply_button.add_class("gk-apply")
        self.validate_button = _button(description="Validate", icon="check",
                                        tooltip="A dry run with Istio's checks; nothing changes")
        self.diff_button = _button(description="Diff", icon="columns",
                                    tooltip="Compare with what is applied")
        self.reset_button = _button(description="Reset text", icon="undo",
                                     tooltip="Put the lab's text back in the editor (nothing is applied)")
        self.reset_state_button = _button(
            description="Reset applied state", icon="history",
            tooltip="Undo what was applied since this step or exercise started (the text stays)",
        )
        self.result = W.HTML()
        self.result.add_class("gk-apply-result")
        self.apply_button.on_click(lambda _b: self.apply())
        self.validate_button.on_click(lambda _b: self.validate())
        self.diff_button.on_click(lambda _b: self.diff())
        self.reset_button.on_click(lambda _b: self.reset())
        self.reset_state_button.on_click(lambda _b: self.reset_state())
        session.subscribe(self._on_event)
        super().__init__([*_assets(), self.textarea, W.HBox(self.buttons), self.result])

    @property
    def buttons(self) -> list[W.Button]:
        """The action buttons."""
        return [self.apply_button, self.validate_button, self.diff_button, self.reset_button,
                self.reset_state_button]

    def _save(self, change: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(change["new"], encoding="utf-8")

    def _on_event(self, event: str) -> None:
        if event == "forget":  # the lab was reset: the lab's text again, and no saved edit
            self.textarea.value = self.original
            self.path.unlink(missing_ok=True)
            self.result.value = ""

    def apply(self) -> None:
        """Apply the editor's text; show kubectl's lines or the refusal, reason first."""
        text = self.textarea.value

        def run() -> str:
            out = self.session.apply(text)
            self.session.notify("apply")
            return outcome_html(text, out)

        _busy(self.session, self.buttons, self.result, "Applying…", run)

    def validate(self) -> None:
        """Dry run: the refusal Apply would give (same reason and line), or the lines it would
        print, then ``istioctl analyze``'s findings. Nothing changes."""
        text = self.textarea.value
        _busy(self.session, self.buttons, self.result, "Validating…",
              lambda: validate_html(self.session, text, self.path))

    def diff(self) -> None:
        """A unified diff between what is applied and the editor's text."""
        text = self.textarea.value
        _busy(self.session, self.buttons, self.result, "Comparing…",
              lambda: _box("ok", _pre(diff_text(self.session, text))))

    def reset(self) -> None:
        """Restore the lab's text (and forget the saved edit); what is applied stays."""
        self.textarea.value = self.original
        if self.path.exists():
            self.path.unlink()
        self.result.value = _box("ok", _pre("The editor holds the lab's text again (nothing was applied)."))

    def reset_state(self) -> None:
        """Undo what was applied since this step (or exercise) started; the text stays."""

        def run() -> str:
            if self.exercise is not None:
                out = self.session.start(self.exercise)
                return outcome_html("", ApplyOutcome(out.reset + out.lines, out.warnings, out.error),
                                    "back to the exercise's starting state")
            index = self.step.number - 1 if self.step is not None else len(self.session.steps)
            lines = self.session.restore(self.session.state_before(index))
            self.session.notify("apply")
            return outcome_html("", ApplyOutcome(lines), "back to the state this step starts from")

        _busy(self.session, self.buttons, self.result, "Resetting…", run)


def _no_step(session: LabSession, step: str) -> Any:
    raise ValueError(f"no step {step!r} in lab {session.lab.id}")


def validate_html(session: LabSession, text: str, path: Any = None) -> str:
    """A dry run of ``text``: the refusal (reason first, with its line) or the lines ``kubectl
    apply --dry-run=server`` prints, then ``istioctl analyze``'s findings when the backend can
    compute them (:class:`~gatewaykit.backends.base.Inspector`). Nothing changes."""
    be = session.backend
    try:
        read_documents(text, name="manifest")
    except ManifestError as exc:
        return _refusal_html(text, str(exc))
    if isinstance(be, Inspector):
        try:
            dry = be.dry_run(text)
        except ValidationError as exc:
            return _refusal_html(text, str(exc))
        out = outcome_html(text, ApplyOutcome(dry.lines, dry.warnings), "Istio would accept it")
        findings = be.analyze(text)
        shown = "\n".join(findings) or "✔ No validation issues found when analyzing the manifests."
        return out + _box("warn" if findings else "ok", "<div>istioctl analyze</div>" + _pre(shown))
    # Another backend: kubectl's own server-side dry run, from the saved editor file.
    ran = session.shell(f"kubectl apply --dry-run=server -f {json.dumps(str(path))}") if path else None
    if ran is None or ran.ok:
        lines = ran.output if ran else "(no file to check)"
        return _box("ok", "<div>&#10004; the API server would accept it</div>" + _pre(lines))
    return _refusal_html(text, ran.output)


def diff_text(session: LabSession, text: str) -> str:
    """A unified diff of the applied objects the text names against the text's objects."""
    try:
        docs = read_documents(text, name="manifest")
    except ManifestError as exc:
        return str(exc)
    out: list[str] = []
    for d, src in docs:
        if not isinstance(d, dict):
            continue
        key = state.doc_key(d)
        if not (d.get("metadata") or {}).get("name"):
            out.append(f"line {src.line}: {d.get('kind', 'a document')} without metadata.name: "
                       "kubectl refuses it (resource name may not be empty)")
            continue
        applied = session.ledger.get(key)
        before = dump_yaml(applied) if applied else ""
        after = dump_yaml(d)
        label = f"{d.get('kind')} {key[1] + '/' if key[1] else ''}{key[2]}"
        if before == after:
            out.append(f"= {label}: unchanged")
            continue
        out += difflib.unified_diff(
            before.splitlines(), after.splitlines(),
            fromfile=f"applied: {label}" if applied else "applied: (none)",
            tofile=f"editor: {label}", lineterm="",
        )
    return "\n".join(out) or "(nothing to compare)"


# --------------------------------------------------------------------------------------------


def curl_html(outcome: CurlOutcome) -> str:
    """The curl panel's result: status line, header table, body (pretty JSON), TLS details, reading."""
    r = outcome.result
    ok = r.exit_code == 0 and (r.status or 0) < 400
    parts = [
        f'<div class="gk-reading" style="font-weight:bold">{"&#10004;" if ok else "&#10008;"} '
        f"{html.escape(outcome.reading)}</div>"
    ]
    if r.status_line:
        parts.append(_pre(r.status_line, "gk-status-line"))
        rows = "".join(
            f"<tr><td><code>{html.escape(k)}</code></td><td><code>{html.escape(v)}</code></td></tr>"
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
    if outcome.tls:
        rows = "".join(
            f"<tr><td>{html.escape(k)}</td><td><code>{html.escape(v)}</code></td></tr>"
            for k, v in outcome.tls.items()
        )
        parts.append(f'<details><summary>TLS</summary><table class="gk-tls">{rows}</table></details>')
    err = [ln for ln in r.stderr.splitlines() if ln.startswith("curl: (")]
    if err:
        parts.append(_pre(err[-1], "gk-curl-error"))
    parts.append(f"<div>exit code {r.exit_code}</div>")
    return _box("ok" if ok else "error", "\n".join(parts))


def explain_html(session: LabSession, outcome: CurlOutcome | None) -> str:
    """The path, one hop per line, beside the proxy's own access-log line for this request."""
    exp = session.explain(outcome)
    path = exp.path.replace(" → ", "\n   → ")
    log = exp.log_line or "(no line for this request: the proxy logged nothing for it)"
    return (
        '<div style="display:flex;flex-wrap:wrap;gap:1em"><div style="flex:1 1 28em;min-width:0">'
        f"<b>path</b>{_pre(path, 'gk-path')}</div><div style=\"flex:1 1 28em;min-width:0\">"
        f"<b>{html.escape(exp.workload)} access log</b>{_pre(log, 'gk-log')}</div></div>"
    )


class CurlPanel(_Placeholder, W.VBox):
    """An editable curl command (Istio docs' style), Run (or Enter), the result and Explain."""

    placeholder = "the curl panel"

    def __init__(self, session: LabSession, command: str = "", source: str | None = None) -> None:
        self.session = session
        if not command:
            probes = [p for s in session.steps for p in s.probes if p.kind == "curl"]
            command = probes[0].command if probes else 'curl -s -I "http://$INGRESS_HOST:$INGRESS_PORT/"'
            source = source or (probes[0].source if probes else None)
        self.source = source
        self.command = W.Textarea(value=command, rows=max(1, len(command) // 100 + 1),
                                  layout=W.Layout(width="auto", flex="1 1 auto"))
        self.command.add_class("gk-curl-command")
        self.run_button = _button(description="Run", button_style="primary", icon="play",
                                   tooltip="Run the command (Enter in the command does it too)")
        self.run_button.add_class("gk-curl-run")
        self.explain_button = _button(description="Explain", icon="route",
                                       tooltip="The path through the proxy and its access-log line")
        self.where = W.HTML(
            f"<small>runs {'inside ' + html.escape(source) if source else 'from your machine'}, in "
            f"the lab's folder <code>{html.escape(session.work_dir.name)}/</code> "
            "(Enter runs it, Shift+Enter adds a line)</small>"
        )
        self.result = W.HTML()
        self.result.add_class("gk-curl-result")
        self.explanation = W.HTML()
        self.explanation.add_class("gk-explain")
        self.outcome: CurlOutcome | None = None
        self.run_button.on_click(lambda _b: self.run())
        self.explain_button.on_click(lambda _b: self.explain())
        buttons = W.VBox([self.run_button, self.explain_button], layout=W.Layout(flex="0 0 auto"))
        row = W.HBox([self.command, buttons])
        super().__init__([*_assets(), row, self.where, self.result, self.explanation])
        self.add_class("gk-curl-panel")

    def run(self) -> None:
        """Run the command and show the result (the old explanation goes at once)."""
        self.explanation.value = ""

        def go() -> str:
            self.outcome = self.session.curl(self.command.value.strip(), source=self.source)
            return curl_html(self.outcome)

        _busy(self.session, [self.run_button, self.explain_button], self.result, "Running curl…", go)

    def explain(self) -> None:
        """Show the simulated path beside the proxy's access-log line for this request."""
        if self.outcome is None:
            self.explanation.value = _box("warn", "Run the command first: Explain reads its request.")
            return
        _busy(self.session, [self.run_button, self.explain_button], self.explanation, "Explaining…",
              lambda: explain_html(self.session, self.outcome))


class Topology(_Placeholder, W.VBox):
    """The Mermaid topology; its text lives in widget state, the rendered diagram in an Output."""

    placeholder = "the topology"

    def __init__(self, session: LabSession) -> None:
        self.session = session
        self.source = W.HTML()
        self.source.add_class("gk-topology")
        self.output = W.Output()
        self.refresh_button = _button(description="Refresh topology", icon="project-diagram")
        self.refresh_button.on_click(lambda _b: self.refresh())
        super().__init__([self.refresh_button, self.output, self.source])
        self.refresh()

    def refresh(self) -> None:
        """Redraw from the applied state."""
        text = self.session.topology()
        self.source.value = f"<details><summary>Mermaid source</summary>{_pre(text, 'mermaid')}</details>"
        self.output.outputs = (
            {"output_type": "display_data", "data": {"text/vnd.mermaid": text, "text/plain": text},
             "metadata": {}},
        )


class CheckPanel(_Placeholder, W.VBox):
    """Check-my-work for one exercise: Check, Hint (n of m), Show solution, Apply solution."""

    placeholder = "the check-my-work panel"

    def __init__(self, session: LabSession, exercise: str | int | Exercise) -> None:
        self.session = session
        self.exercise = session.exercise(exercise)
        self.check_button = _button(description="Check my work", button_style="success", icon="check")
        self.hint_button = _button(description="Hint", icon="lightbulb")
        self.solution_button = _button(description="Show solution", icon="eye")
        self.apply_solution_button = _button(
            description="Apply solution", icon="play",
            tooltip="Apply the reference solution (Start the exercise again to undo it)",
        )
        self.result = W.HTML()
        self.result.add_class("gk-check-result")
        self.check_button.on_click(lambda _b: self.check())
        self.hint_button.on_click(lambda _b: self.hint())
        self.solution_button.on_click(lambda _b: self.show_solution())
        self.apply_solution_button.on_click(lambda _b: self.apply_solution())
        self._buttons = [
            self.check_button, self.hint_button, self.solution_button, self.apply_solution_button
        ]
        super().__init__([*_assets(), W.HBox(self._buttons), self.result])

    def check(self) -> None:
        """Run the check."""

        def go() -> str:
            res = self.session.check(self.exercise)
            return _box("ok" if res.ok else "error", _pre(str(res)))

        _busy(self.session, self._buttons, self.result, "Checking…", go)

    def hint(self) -> None:
        """Show the next hint, numbered ``n of m`` (after the last one it starts over)."""
        h = self.session.hint(self.exercise)
        self.result.value = _box("warn", f'<div class="gk-hint">{html.escape(str(h))}</div>')

    def show_solution(self) -> None:
        """Show the reference solution (not applied)."""
        self.result.value = _box("ok", _pre(str(self.session.solution(self.exercise))))

    def apply_solution(self) -> None:
        """Apply the reference solution."""

        def go() -> str:
            sol = self.session.solution(self.exercise, apply=True)
            return _box("ok" if sol.applied is None or sol.applied.ok else "error", _pre(str(sol)))

        _busy(self.session, self._buttons, self.result, "Applying the solution…", go)


class CoursePanel(_Placeholder, W.VBox):
    """This lab's progress, and the resets: this lab (applied state and edits) or everything."""

    placeholder = "your progress and the reset buttons"

    def __init__(self, session: LabSession) -> None:
        from gatewaykit.kit import course  # noqa: PLC0415

        self.session = session
        self._course = course
        self.summary = W.HTML()
        self.summary.add_class("gk-course")
        self.reset_lab_button = _button(description="Reset this lab", icon="undo",
                                         tooltip="Undo everything applied and forget your edits")
        self.reset_all_button = _button(description="Reset everything", icon="trash",
                                         tooltip="This lab's reset, and every lab's edits and progress")
        self.result = W.HTML()
        _confirming(self.reset_lab_button, "Click again: reset this lab", self.reset_lab)
        _confirming(self.reset_all_button, "Click again: reset everything", self.reset_all)
        session.subscribe(self._on_event)
        super().__init__([self.summary, W.HBox([self.reset_lab_button, self.reset_all_button]), self.result])
        self.refresh()

    def _on_event(self, event: str) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Show the lab's progress as the overview counts it."""
        row = self._course.lab_status(self.session.lab, self.session.work_dir)
        lab = html.escape(self.session.lab.id)
        self.summary.value = f"<b>Your progress in {lab}</b>: {html.escape(row.text)}"

    def reset_lab(self) -> None:
        """Undo everything applied, forget the edits and progress of this lab."""
        _busy(self.session, [self.reset_lab_button, self.reset_all_button], self.result, "Resetting…",
              lambda: _box("ok", _pre(self._course.reset_lab(self.session))))

    def reset_all(self) -> None:
        """This lab's reset, then every lab's edits and progress in the course folder."""
        _busy(self.session, [self.reset_lab_button, self.reset_all_button], self.result, "Resetting…",
              lambda: _box("ok", _pre(self._course.reset_everything(self.session))))


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
    probe = next((p for p in handle.probes if p.kind == "curl"), None)
    panel = CurlPanel(session, command or (probe.command if probe else ""), probe.source if probe else None)
    return Workbench(
        [StatusBar(session), W.HTML(f"<h4>{html.escape(handle.title)}</h4>"), ManifestEditor(session, handle),
         panel]
    )


class Workbench(_Placeholder, W.VBox):
    """The workbench's box (status bar, editor, curl panel)."""

    placeholder = "the workbench: status bar, manifest editor and curl panel"
