"""Widgets on the real local sandbox: results live in widget state (what the learner sees after a
click); edits persist across instances and processes."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap
from collections.abc import Callable
from typing import Any

from gatewaykit.backends.local import LocalSandbox
from gatewaykit.kit import open_lab
from gatewaykit.kit.widgets import CheckPanel, CurlPanel, ManifestEditor, StatusBar, Topology, lab_ui

ROOT = pathlib.Path(__file__).resolve().parents[2]

Stored = Callable[[str, str, str], "dict[str, Any] | None"]


def test_editor_saves_as_you_type_and_restores(sandbox: LocalSandbox, work_dir: pathlib.Path) -> None:
    lab = open_lab("01-virtual-hosts", backend=sandbox, work_dir=work_dir)
    step = lab.steps[0]
    editor = ManifestEditor(lab, step)
    assert editor.textarea.value == step.yaml
    assert "gk-editor" in editor.textarea._dom_classes and "gk-apply" in editor.apply_button._dom_classes
    edited = step.yaml.replace('"httpbin.example.com"', '"edited.example.com"', 1)
    editor.textarea.value = edited
    saved = work_dir / "edits" / "step-gateway.yaml"
    assert saved.read_text() == edited
    again = ManifestEditor(lab, step)  # a fresh widget instance (e.g. the cell re-run)
    assert again.textarea.value == edited
    again.reset_button.click()
    assert again.textarea.value == step.yaml and not saved.exists()
    assert "The editor holds the lab&#x27;s text again (nothing was applied)." in again.result.value


def test_editor_survives_a_kernel_restart(work_dir: pathlib.Path) -> None:
    """Two separate Python processes play the kernel before and after a restart.

    Each "kernel" opens the lab as a notebook does: on the default backend (its own
    ``Sandbox.local()``), which the process closes when it exits.
    """
    script = textwrap.dedent(
        """
        import sys
        from gatewaykit.kit import open_lab
        from gatewaykit.kit.widgets import ManifestEditor
        lab = open_lab("03-https-redirect", work_dir={work!r})
        print(type(lab.backend).__name__)
        ed = ManifestEditor(lab, lab.steps[0])
        if sys.argv[1] == "write":
            ed.textarea.value = ed.textarea.value.replace("httpsRedirect: true", "httpsRedirect: false")
        else:
            print("httpsRedirect: false" in ed.textarea.value)
            ed.apply_button.click()
            print(ed.result.value)
            lab.close()
        """
    ).format(work=str(work_dir))
    env = {**os.environ, "GATEWAYKIT_BACKEND": "local"}
    env_python = [sys.executable, "-c", script]
    first = subprocess.run(
        [*env_python, "write"], check=True, cwd=ROOT, capture_output=True, text=True, timeout=60, env=env
    )
    assert first.stdout.splitlines() == ["LocalSandbox"]
    out = subprocess.run(
        [*env_python, "read"], check=True, cwd=ROOT, capture_output=True, text=True, timeout=60, env=env
    )
    backend_name, restored, *applied = out.stdout.splitlines()
    assert (backend_name, restored) == ("LocalSandbox", "True")
    # The restored edit is what the new kernel's Apply sends to its (fresh) sandbox.
    assert "gateway.networking.istio.io/mygateway created" in "\n".join(applied)


def test_apply_button_shows_kubectl_lines_in_widget_state(
    sandbox: LocalSandbox, stored: Stored, work_dir: pathlib.Path
) -> None:
    lab = open_lab("01-virtual-hosts", backend=sandbox, work_dir=work_dir)
    editor = ManifestEditor(lab, lab.steps[0])
    assert stored("Gateway", "default", "httpbin-gateway") is None
    editor.apply_button.click()
    assert "gateway.networking.istio.io/httpbin-gateway created" in editor.result.value
    assert "virtualservice.networking.istio.io/httpbin created" in editor.result.value
    assert "gk-ok" in editor.result.value
    assert not editor.apply_button.disabled
    assert stored("Gateway", "default", "httpbin-gateway") is not None
    # What was applied now serves traffic through the gateway.
    probe = lab.curl('curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/delay/0"')
    assert probe.result.status == 200
    editor.diff_button.click()
    assert "unchanged" in editor.result.value
    editor.textarea.value = editor.textarea.value.replace("prefix: /delay", "prefix: /anything")
    editor.diff_button.click()
    assert (
        "-        prefix: /delay" in editor.result.value
        and "+        prefix: /anything" in editor.result.value
    )
    # Applying the edit: kubectl says "configured", and the gateway routes the new prefix instead.
    editor.apply_button.click()
    assert "virtualservice.networking.istio.io/httpbin configured" in editor.result.value
    assert "gateway.networking.istio.io/httpbin-gateway unchanged" in editor.result.value
    moved = 'curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/{}"'
    assert lab.curl(moved.format("anything")).result.status == 200
    assert lab.curl(moved.format("delay/0")).result.status == 404


def test_apply_shows_istio_rejection(sandbox: LocalSandbox, stored: Stored, work_dir: pathlib.Path) -> None:
    lab = open_lab("01-virtual-hosts", backend=sandbox, work_dir=work_dir)
    editor = ManifestEditor(
        lab,
        text="apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: x\n"
        "spec:\n  selector: {istio: ingressgateway}\n",
        key="reject",
    )
    editor.apply_button.click()
    assert (
        "Error from server: error when creating &quot;manifest.yaml&quot;: admission webhook "
        "&quot;validation.istio.io&quot; denied the request: configuration is invalid: "
        "gateway must have at least one server" in editor.result.value
    )
    assert "gk-error" in editor.result.value
    assert stored("Gateway", "default", "x") is None
    editor.validate_button.click()  # the dry run gives the same rejection
    assert "gateway must have at least one server" in editor.result.value


def test_curl_panel_runs_real_curl_and_reads_the_result(
    sandbox: LocalSandbox, work_dir: pathlib.Path
) -> None:
    lab = open_lab("01-virtual-hosts", backend=sandbox, work_dir=work_dir)
    assert next(s for s in lab.steps if s.id == "any-host").apply().ok  # routes /headers for any host
    panel = CurlPanel(
        lab, 'curl -s -i -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/headers"'
    )
    assert "gk-curl-command" in panel.command._dom_classes and "gk-curl-run" in panel.run_button._dom_classes
    assert "gk-curl-result" in panel.result._dom_classes
    panel.run_button.click()
    html = panel.result.value
    assert "HTTP/1.1 200 OK" in html
    assert "<code>server</code></td><td><code>istio-envoy</code>" in html
    assert "<code>x-envoy-upstream-service-time</code>" in html
    # httpbin's JSON, pretty-printed: the Host header the gateway forwarded, and Envoy's own headers.
    # go-httpbin (Istio 1.27's sample) lists every header's values.
    assert "{\n  &quot;headers&quot;: {\n    &quot;Accept&quot;: [\n      &quot;*/*&quot;\n    ],\n" in html
    assert "\n    &quot;Host&quot;: [\n      &quot;httpbin.example.com&quot;\n    ],\n" in html
    assert "&quot;X-Envoy-Attempt-Count&quot;: [\n      &quot;1&quot;\n    ]" in html
    assert "exit code 0" in html
    panel.explain_button.click()
    assert "access log" in panel.explanation.value and "gk-explain" in panel.explanation._dom_classes
    # The exact host has no virtual host of its own here: the * one routed it (docs/behaviour.md §4.3); one hop
    # a line.
    assert "\n   → route config http.8080\n   → virtual host *:80\n   → route (unnamed)" in (
        panel.explanation.value
    )
    assert "&quot;GET /headers HTTP/1.1&quot; 200" in panel.explanation.value
    panel.command.value = 'curl -sS "http://$INGRESS_HOST:1/"'
    panel.run_button.click()
    assert "exit 7: connection refused" in panel.result.value


def test_check_panel_and_status_bar(sandbox: LocalSandbox, stored: Stored, work_dir: pathlib.Path) -> None:
    lab = open_lab("01-virtual-hosts", backend=sandbox, work_dir=work_dir)
    status = StatusBar(lab)
    assert "gk-status" in status.text._dom_classes
    pods = len(sandbox.pods())
    assert (
        "backend <code>LocalSandbox</code>" in status.text.value
        and f"INGRESS_PORT={sandbox.env['INGRESS_PORT']}" in status.text.value
        and f"ready, {pods}/{pods} pods Running" in status.text.value
    )
    assert any(p.name.startswith("httpbin-") for p in sandbox.pods())  # the lab's setup
    lab.start("api-host")
    panel = CheckPanel(lab, "api-host")
    panel.check_button.click()
    assert "✗ a VirtualService claims the host api.example.org" in panel.result.value
    # The real gateway answers api.example.org from the * virtual host, which has no /status route.
    assert "✗ api.example.org reaches httpbin (expected status 200, got 404)" in panel.result.value
    assert "✓ httpbin.example.com still works" in panel.result.value
    assert "Hint 1 of 3: The Gateway already admits every host" in panel.result.value
    panel.solution_button.click()
    assert "name: httpbin-api" in panel.result.value
    assert stored("VirtualService", "default", "httpbin-api") is None  # shown, not applied
    panel.apply_solution_button.click()
    assert "virtualservice.networking.istio.io/httpbin-api created" in panel.result.value
    assert stored("VirtualService", "default", "httpbin-api") is not None
    panel.check_button.click()
    assert "✓ a VirtualService claims the host api.example.org" in panel.result.value
    assert "✓ api.example.org reaches httpbin" in panel.result.value
    assert "Well done: every check passed." in panel.result.value


def test_topology_and_workbench(sandbox: LocalSandbox, work_dir: pathlib.Path) -> None:
    lab = open_lab("01-virtual-hosts", backend=sandbox, work_dir=work_dir)
    lab.steps[0].apply()
    topo = Topology(lab)
    assert "flowchart LR" in topo.source.value
    assert "n_wl_istio_ingressgateway --&gt;|&quot;httpbin.example.com&quot;| n_svc_httpbin_default" in (
        topo.source.value
    )
    ui = lab_ui(lab, "gateway")
    classes = set()

    def walk(w):  # noqa: ANN001, ANN202
        classes.update(getattr(w, "_dom_classes", ()))
        for c in getattr(w, "children", ()):
            walk(c)

    walk(ui)
    assert {
        "gk-status",
        "gk-editor",
        "gk-apply",
        "gk-curl-command",
        "gk-curl-run",
        "gk-curl-result",
    } <= classes


def test_status_bar_never_shows_ready_for_a_stopped_sandbox(work_dir: pathlib.Path) -> None:
    from gatewaykit import Sandbox

    own = Sandbox.local()  # not the shared fixture: this test stops it
    try:
        lab = open_lab("01-virtual-hosts", backend=own, work_dir=work_dir)
        ui = lab_ui(lab, "gateway")
        status, editor, panel = ui.children[0], ui.children[2], ui.children[3]
        assert "ready" in status.text.value
        status.stop_button.click()  # asks first ...
        assert status.stop_button.description == "Click again to stop" and not own.closed
        status.stop_button.click()  # ... then stops
        assert own.closed
        assert "stopped: run the first cell to start again" in status.text.value
        assert "ready" not in status.text.value and status.stop_button.disabled
        editor.apply_button.click()
        panel.run_button.click()
        for shown in (editor.result.value, panel.result.value):
            assert "The sandbox is stopped." in shown and "SandboxError" not in shown
    finally:
        own.close()


def test_a_refusal_reads_reason_first_with_its_line_and_validate_agrees(
    sandbox: LocalSandbox, work_dir: pathlib.Path
) -> None:
    import re

    lab = open_lab("01-virtual-hosts", backend=sandbox, work_dir=work_dir)
    editor = ManifestEditor(lab, lab.steps[0])
    editor.apply_button.click()  # httpbin-gateway exists: the next refusal is kubectl's patch error
    text = editor.textarea.value
    gw_end = text.index("---")
    broken = text[:gw_end].replace("  servers:", "  serverz:") + text[gw_end:]
    editor.textarea.value = broken
    editor.apply_button.click()
    applied = editor.result.value
    line = broken.splitlines().index("  serverz:") + 1
    reason = f'line {line}: unknown field &quot;spec.serverz&quot; (Gateway default/httpbin-gateway)'
    # Reason first, with the line; kubectl's whole text folded below; red.
    assert re.search(r'<div class="gk-box gk-error"><div class="gk-reason">&#10008; ([^<]*)</div>', applied).group(1) == reason
    assert "<details><summary>kubectl's full message</summary>" in applied
    editor.validate_button.click()
    assert reason in editor.result.value and "gk-error" in editor.result.value
    # A webhook refusal of an object that exists starts with a JSON patch in kubectl's text: the
    # reason still comes first.
    editor.textarea.value = "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: httpbin-gateway\nspec:\n  selector: {istio: ingressgateway}\n"
    editor.apply_button.click()
    assert "&#10008; line 5: gateway must have at least one server (Gateway default/httpbin-gateway)" in (
        editor.result.value
    )
    assert "error when applying patch" in editor.result.value.split("<details>", 1)[1]
    editor.textarea.value = "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {}\nspec: {}\n"
    editor.diff_button.click()
    assert "line 1: Gateway without metadata.name: kubectl refuses it (resource name may not be empty)" in (
        editor.result.value
    )
    assert "None" not in editor.result.value


def test_reset_text_and_reset_applied_state_do_what_they_say(
    sandbox: LocalSandbox, stored: Stored, work_dir: pathlib.Path
) -> None:
    lab = open_lab("01-virtual-hosts", backend=sandbox, work_dir=work_dir)
    any_host = next(s for s in lab.steps if s.id == "any-host")  # a Gateway and a VirtualService
    for step in lab.steps[: lab.steps.index(any_host)]:
        step.apply()
    editor = ManifestEditor(lab, any_host)
    editor.textarea.value = editor.textarea.value.replace("name: httpbin-any", "name: mine", 1)
    editor.apply_button.click()
    edited = editor.textarea.value
    mine = [d for d in lab.ledger if d[2] == "mine"]
    assert mine and stored(*mine[0]) is not None
    assert stored("Gateway", "default", "httpbin-gateway")["spec"]["servers"][0]["hosts"] == ["*"]
    editor.reset_state_button.click()  # what is applied goes back to where step 4 starts
    assert stored(*mine[0]) is None and editor.textarea.value == edited
    assert stored("Gateway", "default", "httpbin-gateway")["spec"]["servers"][0]["hosts"] == ["*.example.com"]
    assert "back to the state this step starts from" in editor.result.value
    editor.reset_button.click()  # the text goes back; nothing is applied
    assert editor.textarea.value == any_host.yaml and stored(*mine[0]) is None


def test_curl_panel_clears_the_old_explanation_and_hints_count(
    sandbox: LocalSandbox, work_dir: pathlib.Path
) -> None:
    lab = open_lab("01-virtual-hosts", backend=sandbox, work_dir=work_dir)
    lab.steps[0].apply()
    panel = CurlPanel(lab, lab.steps[0].probes[0].command)
    panel.explain_button.click()
    assert "Run the command first" in panel.explanation.value
    panel.run_button.click()
    panel.explain_button.click()
    assert "access log" in panel.explanation.value
    seen = []
    panel.explanation.observe(lambda change: seen.append(change["new"]), names="value")
    panel.run_button.click()
    assert seen[0] == "" and panel.explanation.value == ""  # gone as soon as the new curl starts
    assert "gk-curl-panel" in panel._dom_classes and panel.command.rows >= 1
    checker = CheckPanel(lab, "api-host")
    shown = []
    for _ in range(4):
        checker.hint_button.click()
        shown.append(checker.result.value)
    assert [s.split("Hint ", 1)[1][:6] for s in shown] == ["1 of 3", "2 of 3", "3 of 3", "1 of 3"]


def test_widgets_stored_unrun_are_placeholders_not_reprs(sandbox: LocalSandbox, work_dir: pathlib.Path) -> None:
    lab = open_lab("01-virtual-hosts", backend=sandbox, work_dir=work_dir)
    bundle = lab.ui("gateway")._repr_mimebundle_()
    assert bundle["text/plain"] == (
        "[the workbench: status bar, manifest editor and curl panel -- run this cell to use it]"
    )
    assert "Run this cell to open the workbench" in bundle["text/html"]
    assert "application/vnd.jupyter.widget-view+json" in bundle  # live, it is the widget
    assert "VBox(" not in bundle["text/plain"]


def test_course_panel_resets_this_lab_and_everything(
    sandbox: LocalSandbox, stored: Stored, tmp_path: pathlib.Path
) -> None:
    from gatewaykit.kit.widgets import CoursePanel

    other = tmp_path / "03-https-redirect" / "edits"
    other.mkdir(parents=True)
    (other / "step-redirect.yaml").write_text("mine")
    lab = open_lab("01-virtual-hosts", backend=sandbox, work_dir=tmp_path / "01-virtual-hosts")
    editor = ManifestEditor(lab, lab.steps[0])
    editor.textarea.value = "kind: Mine\n"
    lab.steps[0].apply()
    panel = CoursePanel(lab)
    assert "steps applied 1/5" in panel.summary.value
    panel.reset_lab_button.click()
    assert panel.reset_lab_button.description == "Click again: reset this lab"
    panel.reset_lab_button.click()
    assert editor.textarea.value == lab.steps[0].yaml  # the open editor shows the lab's text again
    assert not (tmp_path / "01-virtual-hosts" / "edits" / "step-gateway.yaml").exists()
    assert stored("Gateway", "default", "httpbin-gateway") is None
    assert "steps applied 0/5" in panel.summary.value
    panel.reset_all_button.click()
    panel.reset_all_button.click()
    assert not other.exists() and "03-https-redirect: edits and progress forgotten" in panel.result.value
