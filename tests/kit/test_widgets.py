"""Widgets: results live in widget state; edits persist across instances and processes."""

from __future__ import annotations

import pathlib
import subprocess
import sys
import textwrap

from conftest import RecordingBackend

from gatewaykit.kit import open_lab
from gatewaykit.kit.widgets import CheckPanel, CurlPanel, ManifestEditor, StatusBar, Topology, lab_ui

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_editor_saves_as_you_type_and_restores(backend: RecordingBackend, work_dir: pathlib.Path) -> None:
    lab = open_lab("01-virtual-hosts", backend=backend, work_dir=work_dir)
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
    assert "reset" in again.result.value


def test_editor_survives_a_kernel_restart(backend: RecordingBackend, work_dir: pathlib.Path) -> None:
    """Two separate Python processes play the kernel before and after a restart."""
    script = textwrap.dedent(
        """
        import sys, pathlib
        sys.path.insert(0, {tests!r})
        from conftest import RecordingBackend
        from gatewaykit.kit import open_lab
        from gatewaykit.kit.widgets import ManifestEditor
        lab = open_lab("03-https-redirect", backend=RecordingBackend(1), work_dir={work!r})
        ed = ManifestEditor(lab, lab.steps[0])
        if sys.argv[1] == "write":
            ed.textarea.value = ed.textarea.value.replace("httpsRedirect: true", "httpsRedirect: false")
        else:
            print("httpsRedirect: false" in ed.textarea.value)
        """
    ).format(tests=str(ROOT / "tests" / "kit"), work=str(work_dir))
    env_python = [sys.executable, "-c", script]
    subprocess.run([*env_python, "write"], check=True, cwd=ROOT, capture_output=True, timeout=60)
    out = subprocess.run(
        [*env_python, "read"], check=True, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.stdout.strip() == "True"


def test_apply_button_shows_kubectl_lines_in_widget_state(
    backend: RecordingBackend, work_dir: pathlib.Path
) -> None:
    lab = open_lab("01-virtual-hosts", backend=backend, work_dir=work_dir)
    editor = ManifestEditor(lab, lab.steps[0])
    editor.apply_button.click()
    assert "gateway/httpbin-gateway created" in editor.result.value
    assert "virtualservice/httpbin created" in editor.result.value
    assert not editor.apply_button.disabled
    editor.diff_button.click()
    assert "unchanged" in editor.result.value
    editor.textarea.value = editor.textarea.value.replace("prefix: /delay", "prefix: /anything")
    editor.diff_button.click()
    assert (
        "-        prefix: /delay" in editor.result.value
        and "+        prefix: /anything" in editor.result.value
    )


def test_apply_shows_istio_rejection(backend: RecordingBackend, work_dir: pathlib.Path) -> None:
    lab = open_lab("01-virtual-hosts", backend=backend, work_dir=work_dir)
    editor = ManifestEditor(
        lab,
        text="apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: x\n"
        "  annotations: {test/reject: 'yes'}\n",
        key="reject",
    )
    editor.apply_button.click()
    assert "admission webhook &quot;validation.istio.io&quot; denied the request" in editor.result.value
    assert "gk-error" in editor.result.value


def test_curl_panel_runs_real_curl_and_reads_the_result(
    backend: RecordingBackend, work_dir: pathlib.Path
) -> None:
    lab = open_lab("01-virtual-hosts", backend=backend, work_dir=work_dir)
    panel = CurlPanel(
        lab, 'curl -s -i -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/headers"'
    )
    assert "gk-curl-command" in panel.command._dom_classes and "gk-curl-run" in panel.run_button._dom_classes
    assert "gk-curl-result" in panel.result._dom_classes
    panel.run_button.click()
    html = panel.result.value
    assert "HTTP/1.1 200 OK" in html
    assert "<code>server</code></td><td><code>istio-envoy</code>" in html
    assert (
        "{\n  &quot;headers&quot;: {\n    &quot;Host&quot;: &quot;httpbin.example.com&quot;" in html
    )  # pretty JSON
    assert "exit code 0" in html
    panel.command.value = 'curl -sS "http://$INGRESS_HOST:1/"'
    panel.run_button.click()
    assert "exit 7: connection refused" in panel.result.value
    panel.explain_button.click()
    assert "access log" in panel.explanation.value and "gk-explain" in panel.explanation._dom_classes


def test_check_panel_and_status_bar(backend: RecordingBackend, work_dir: pathlib.Path) -> None:
    lab = open_lab("01-virtual-hosts", backend=backend, work_dir=work_dir)
    status = StatusBar(lab)
    assert "gk-status" in status._dom_classes
    assert (
        "RecordingBackend" in status.value
        and f"INGRESS_PORT={backend.port}" in status.value
        and "ready" in status.value
    )
    panel = CheckPanel(lab, "api-host")
    panel.check_button.click()
    assert "✗ a VirtualService claims the host api.example.org" in panel.result.value
    assert "Hint:" in panel.result.value
    panel.solution_button.click()
    assert (
        "name: httpbin-api" in panel.result.value
        and ("VirtualService", "default", "httpbin-api") not in backend.objects
    )
    panel.apply_solution_button.click()
    assert "httpbin-api created" in panel.result.value
    panel.check_button.click()
    assert "✓ a VirtualService claims the host api.example.org" in panel.result.value


def test_topology_and_workbench(backend: RecordingBackend, work_dir: pathlib.Path) -> None:
    lab = open_lab("01-virtual-hosts", backend=backend, work_dir=work_dir)
    lab.steps[0].apply()
    topo = Topology(lab)
    assert "flowchart LR" in topo.source.value
    ui = lab_ui(lab, "gateway")
    classes = set()

    def walk(w):  # noqa: ANN001, ANN202
        classes.update(getattr(w, "_dom_classes", ()))
        for c in getattr(w, "children", ()):
            walk(c)

    walk(ui)
    assert {
        "gk-editor",
        "gk-apply",
        "gk-curl-command",
        "gk-curl-run",
        "gk-curl-result",
        "gk-status",
    } <= classes
