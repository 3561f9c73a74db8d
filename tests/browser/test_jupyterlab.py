"""Real-browser test: JupyterLab + Debian chromium driven by Playwright.

A learner's path, end to end: open a lab notebook in JupyterLab, run it, edit the manifest in the
editor widget, press Apply, run the curl panel and read the live result. A screenshot is saved to
``test-artifacts/jupyterlab-tour.png`` (the README shows a copy).
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOK = "01-virtual-hosts.ipynb"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory: pytest.TempPathFactory):
    if not os.path.exists(CHROMIUM):
        pytest.fail("Debian chromium is required for the browser test: apt-get install chromium")
    root = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    settings = root / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    # No "Jupyter news" toast and no update check: the browser must not reach the network.
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    port = _free_port()
    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_DIR=str(root / "jcfg"),
        JUPYTER_DATA_DIR=str(root / "jdata"),
        JUPYTER_RUNTIME_DIR=str(root / "jrt"),
        XDG_CONFIG_HOME=str(root / "xdg"),
        GATEWAYKIT_HOME=str(root / "gk"),
    )
    # The kernel must be this interpreter (the one with gatewaykit installed).
    subprocess.run(
        [sys.executable, "-m", "ipykernel", "install", "--prefix", str(root / "jdata-prefix"),
         "--name", "python3"],
        check=True, env=env, capture_output=True,
    )
    env["JUPYTER_PATH"] = str(root / "jdata-prefix" / "share" / "jupyter")
    log = open(root / "jupyter.log", "wb")
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip", "127.0.0.1",
            f"--port={port}", "--ServerApp.port_retries=0", "--IdentityProvider.token=",
            "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True",
            f"--ServerApp.root_dir={root / 'notebooks'}", "--LabApp.expose_app_in_browser=True",
            f"--LabApp.user_settings_dir={root / 'settings'}",
            f"--LabApp.workspaces_dir={root / 'workspaces'}",
        ],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(base + "/api/status", timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("JupyterLab did not start:\n" + (root / "jupyter.log").read_text()[-3000:])
            time.sleep(0.3)
    yield base, root
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def test_edit_apply_and_curl_in_jupyterlab(jupyterlab) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, root = jupyterlab
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--disable-quic",
            ],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{base}/lab/tree/{NOTEBOOK}")
            page.wait_for_function("window.jupyterapp !== undefined", timeout=60_000)
            page.wait_for_function(
                """() => {
                    const w = window.jupyterapp.shell.currentWidget;
                    const k = w && w.sessionContext && w.sessionContext.session
                        && w.sessionContext.session.kernel;
                    return k && k.status === 'idle';
                }""",
                timeout=60_000,
            )
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")

            # The status bar says the sandbox is up.
            status = page.locator(".gk-status").first
            expect(status).to_contain_text("ready", timeout=90_000)

            # Edit the manifest: route a new host name, then Apply through the widget.
            editor = page.locator(".gk-editor textarea").first
            editor.scroll_into_view_if_needed()
            text = editor.input_value()
            assert "httpbin.example.com" in text
            editor.fill(text.replace("httpbin.example.com", "browser.example.com"))
            page.locator(".gk-apply button, button.gk-apply").first.click()
            expect(page.locator(".gk-apply-result").first).to_contain_text("configured", timeout=30_000)

            # Run the curl panel against the new host and read the live result.
            command = page.locator(".gk-curl-command input, .gk-curl-command textarea").first
            command.fill('curl -s -I -HHost:browser.example.com "http://$INGRESS_HOST:$INGRESS_PORT/status/200"')
            page.locator(".gk-curl-run button, button.gk-curl-run").first.click()
            result = page.locator(".gk-curl-result").first
            expect(result).to_contain_text("HTTP/1.1 200 OK", timeout=30_000)
            expect(result).to_contain_text("istio-envoy")
            result.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "jupyterlab-tour.png"), full_page=False)

            # The learner's edit survives a real kernel restart: restart the kernel, run every
            # cell again, and the editor comes back with the edited manifest (saved as typed).
            page.evaluate(
                """async () => {
                    const ctx = window.jupyterapp.shell.currentWidget.sessionContext;
                    await ctx.session.kernel.restart();
                }"""
            )
            page.wait_for_function(
                """() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status
                    === 'idle'""",
                timeout=60_000,
            )
            # Clear the old outputs first, so the editor checked below is the re-created one.
            page.evaluate("window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
            expect(page.locator(".gk-editor")).to_have_count(0, timeout=30_000)
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            expect(page.locator(".gk-status").first).to_contain_text("ready", timeout=90_000)
            page.wait_for_function(
                """() => {
                    const t = document.querySelector('.gk-editor textarea');
                    return t && t.value.includes('browser.example.com');
                }""",
                timeout=60_000,
            )
            restored = page.locator(".gk-editor textarea").first.input_value()
            assert "browser.example.com" in restored and "httpbin.example.com" not in restored
        finally:
            browser.close()
