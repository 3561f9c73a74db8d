"""Real-browser tests: JupyterLab + Debian chromium driven by Playwright, as a learner uses the labs.

JupyterLab serves a workspace made the way ``make lab`` makes it (``gatewaykit course init``: copies
of the notebooks); the tracked notebooks are checked to stay byte-identical. The tests:

* a fresh notebook, opened before running: placeholders, never ``VBox(children=...)`` or stale ports
  (screenshot ``test-artifacts/lab-before-run.png``);
* Run All, then the workbench: the sandbox is still up and the status bar says so; edit → Apply;
  Enter in the curl field runs it and shows real values (no ``<port>``/``<date>`` masks); Explain
  shows this request's own log line; Tab indents in the editor; a refusal reads reason-first with its
  line number; Check over the untouched exercise fails (screenshot ``test-artifacts/jupyterlab-tour.png``);
  Stop turns the status bar to "stopped";
* lab 04: the exercise done by typing its kubectl solution into the bash cell it offers, and a
  certificate the learner makes with ``!openssl`` is the one the curl panel uses.

Copies of the screenshots are in ``docs/images/`` (README). The machine is shared: run sparingly.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _digests(folder: pathlib.Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.ipynb"))}


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, pathlib.Path, pathlib.Path]]:
    if not os.path.exists(CHROMIUM):
        pytest.fail("Debian chromium is required for the browser test: apt-get install chromium")
    root = tmp_path_factory.mktemp("lab")
    tracked = root / "notebooks"
    # The tracked notebooks only: working folders of earlier runs are not part of the course.
    shutil.copytree(
        ROOT / "notebooks",
        tracked,
        ignore=lambda d, names: [n for n in names if (pathlib.Path(d) / n).is_dir()],
    )
    workspace = root / "workspace"
    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_DIR=str(root / "jcfg"),
        JUPYTER_DATA_DIR=str(root / "jdata"),
        JUPYTER_RUNTIME_DIR=str(root / "jrt"),
        XDG_CONFIG_HOME=str(root / "xdg"),
        GATEWAYKIT_NOTEBOOKS=str(tracked),
        GATEWAYKIT_WORKSPACE=str(workspace),
    )
    env.pop("GATEWAYKIT_WORK_DIR", None)
    # What `make lab` runs first: the learner's copies.
    subprocess.run(
        [sys.executable, "-m", "gatewaykit.cli", "course", "init"], check=True, env=env, capture_output=True
    )
    settings = root / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    # No "Jupyter news" toast and no update check: the browser must not reach the network.
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    # Every cell rendered (no windowing), so what the page shows can be read whole.
    tracker = root / "settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    # The kernel must be this interpreter (the one with gatewaykit installed).
    subprocess.run(
        [
            sys.executable,
            "-m",
            "ipykernel",
            "install",
            "--prefix",
            str(root / "jdata-prefix"),
            "--name",
            "python3",
        ],
        check=True,
        env=env,
        capture_output=True,
    )
    env["JUPYTER_PATH"] = str(root / "jdata-prefix" / "share" / "jupyter")
    port = _free_port()
    log = open(root / "jupyter.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",
            "--ip",
            "127.0.0.1",
            f"--port={port}",
            "--ServerApp.port_retries=0",
            "--IdentityProvider.token=",
            "--ServerApp.password=",
            "--ServerApp.disable_check_xsrf=True",
            f"--ServerApp.root_dir={workspace}",
            "--LabApp.expose_app_in_browser=True",
            f"--LabApp.user_settings_dir={root / 'settings'}",
            f"--LabApp.workspaces_dir={root / 'workspaces'}",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
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
    before = _digests(tracked)
    yield base, workspace, tracked
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
    # Running and saving the learner's copies never touched the tracked notebooks (nbval's).
    assert _digests(tracked) == before


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
            ],
        )
        yield b
        b.close()


def _open(browser: Any, base: str, notebook: str) -> Any:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    # ?reset: a fresh workspace layout (JupyterLab would reopen the tabs of an earlier test).
    page.goto(f"{base}/lab/tree/{notebook}?reset")
    page.wait_for_function("window.jupyterapp !== undefined", timeout=60_000)
    page.wait_for_function(
        """() => {
            const w = window.jupyterapp.shell.currentWidget;
            const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
            return k && k.status === 'idle';
        }""",
        timeout=60_000,
    )
    return page


def _run_all(page: Any) -> None:
    """Run All, then wait until every code cell has run and the kernel is idle again."""
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_function(
        """() => {
            const nb = window.jupyterapp.shell.currentWidget;
            const k = nb.sessionContext.session.kernel;
            const cells = nb.content.widgets.filter(c => c.model.type === 'code');
            return k.status === 'idle' && cells.every(c => c.model.executionCount !== null
                && c.promptNode && !c.promptNode.textContent.includes('*'));
        }""",
        timeout=180_000,
    )


@contextlib.contextmanager
def _after_run_all(browser: Any, base: str, notebook: str) -> Iterator[Any]:
    """A notebook opened and run with Run All; its status bar says the sandbox is ready."""
    from playwright.sync_api import expect

    page = _open(browser, base, notebook)
    try:
        _run_all(page)
        # Nothing closed the sandbox: the status bar says ready, and it is true.
        expect(page.locator(".gk-status").first).to_contain_text("ready", timeout=30_000)
        yield page
    finally:
        page.close()


def _add_cell_and_run(page: Any, source: str) -> str:
    """What a learner does: a new cell at the end, typed in, run; returns its output text."""
    page.evaluate(
        """(source) => {
            const nb = window.jupyterapp.shell.currentWidget;
            nb.content.activeCellIndex = nb.content.widgets.length - 1;
            return window.jupyterapp.commands.execute('notebook:insert-cell-below').then(() => {
                nb.content.activeCell.model.sharedModel.setSource(source);
                return window.jupyterapp.commands.execute('notebook:run-cell');
            });
        }""",
        source,
    )
    page.wait_for_function(
        """() => {
            const nb = window.jupyterapp.shell.currentWidget;
            const cell = nb.content.widgets[nb.content.widgets.length - 1];
            return nb.sessionContext.session.kernel.status === 'idle' && cell.model.executionCount !== null;
        }""",
        timeout=120_000,
    )
    return page.evaluate(
        """() => {
            const nb = window.jupyterapp.shell.currentWidget;
            return nb.content.widgets[nb.content.widgets.length - 1].outputArea.node.innerText;
        }"""
    )


def _cell_index(page: Any, starts_with: str) -> int:
    return page.evaluate(
        """(prefix) => window.jupyterapp.shell.currentWidget.content.widgets
            .findIndex(c => c.model.sharedModel.getSource().startsWith(prefix))""",
        starts_with,
    )


def test_a_fresh_notebook_shows_placeholders_not_reprs(jupyterlab: Any, browser: Any) -> None:
    base, _workspace, _tracked = jupyterlab
    ARTIFACTS.mkdir(exist_ok=True)
    page = _open(browser, base, "04-tls-simple.ipynb")
    try:
        page.wait_for_selector(".gk-placeholder", timeout=30_000)
        text = page.locator(".jp-Notebook").inner_text()
        assert "VBox(" not in text and "StatusBar(" not in text and "children=" not in text
        assert page.locator(".gk-placeholder").count() >= 3
        assert page.get_by_text("Run this cell to open the workbench").count() == 1
        # The stored ports are masks, not numbers from the build machine.
        assert "export SECURE_INGRESS_PORT=<port>" in text
        assert not re.search(r"PORT=\d", text)
        page.locator(".gk-placeholder").first.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "lab-before-run.png"), full_page=False)
    finally:
        page.close()


def test_run_all_then_the_workbench_still_works(jupyterlab: Any, browser: Any) -> None:
    from playwright.sync_api import expect

    base, workspace, _tracked = jupyterlab
    with _after_run_all(browser, base, "01-virtual-hosts.ipynb") as page:
        status = page.locator(".gk-status").first
        assert "stopped" not in status.inner_text()
        # The kernel works in the lab's visible folder beside the notebook.
        assert (workspace / "01-virtual-hosts" / "applied.json").exists()

        # Run All never solves the exercise: Check over the untouched editor fails.
        check = page.get_by_role("button", name="Check my work")
        check.scroll_into_view_if_needed()
        check.click()
        verdict = page.locator(".gk-check-result").first
        expect(verdict).to_contain_text("Check: A second virtual host -- 1/3 passed", timeout=30_000)
        # (Run All showed hints 1 and 2: this check shows the next one.)
        assert "Well done" not in verdict.inner_text() and "Hint 3 of 3" in verdict.inner_text()

        # Edit → Apply in the workbench.
        editor = page.locator(".gk-editor textarea").first
        editor.scroll_into_view_if_needed()
        text = editor.input_value()
        editor.fill(text.replace("httpbin.example.com", "browser.example.com"))
        page.locator("button.gk-apply").first.click()
        expect(page.locator(".gk-apply-result").first).to_contain_text("configured", timeout=30_000)

        # Enter in the curl field runs it; the learner sees real values.
        command = page.locator(".gk-curl-command textarea").first
        command.fill('curl -s -i -HHost:browser.example.com "http://$INGRESS_HOST:$INGRESS_PORT/status/200"')
        command.press("Enter")
        result = page.locator(".gk-curl-result").first
        expect(result).to_contain_text("HTTP/1.1 200 OK", timeout=30_000)
        shown = result.inner_text()
        assert "<date>" not in shown and "<port>" not in shown and "<ms>" not in shown
        assert re.search(r"date\s+\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT", shown), shown
        assert command.input_value().startswith("curl -s -i")  # Enter did not add a line
        page.get_by_role("button", name="Explain").first.click()
        explain = page.locator(".gk-explain").first
        expect(explain).to_contain_text("access log", timeout=30_000)
        assert re.search(r'\[\d{4}-\d\d-\d\dT[\d:.]+Z\] "GET /status/200 HTTP/1.1" 200', explain.inner_text())
        status.evaluate("e => e.scrollIntoView({block: 'start'})")
        page.screenshot(path=str(ARTIFACTS / "jupyterlab-tour.png"), full_page=False)

        # Tab indents inside the editor instead of leaving it.
        editor.click()
        page.keyboard.press("Control+Home")
        page.keyboard.press("Tab")
        assert editor.input_value().startswith("  apiVersion")
        assert editor.evaluate("e => document.activeElement === e")
        # No horizontal scrollbar under the editor: it fits its output area.
        assert editor.evaluate(
            "e => e.closest('.jp-OutputArea-output').scrollWidth <= "
            "e.closest('.jp-OutputArea-output').clientWidth + 1"
        )
        assert "data:image/svg+xml" in editor.evaluate("e => getComputedStyle(e).backgroundImage")

        # A broken manifest: the reason first, with its line number.
        editor.fill(text.replace("  servers:", "  serverz:", 1))
        page.locator("button.gk-apply").first.click()
        reason = page.locator(".gk-apply-result .gk-reason").first
        line = text.splitlines().index("  servers:") + 1
        expect(reason).to_have_text(
            f'✘ line {line}: unknown field "spec.serverz" (Gateway default/httpbin-gateway)', timeout=30_000
        )
        assert page.locator(".gk-apply-result .gk-error").count() >= 1

        # Stop: the status bar says so at once.
        stop = page.get_by_role("button", name="Stop sandbox")
        stop.click()
        page.get_by_role("button", name="Click again to stop").click()
        expect(status).to_contain_text("stopped", timeout=30_000)
        assert "ready" not in status.inner_text()
        # Saving writes the learner's copy; the tracked notebook stays as it was (fixture teardown).
        saved = (workspace / "01-virtual-hosts.ipynb").stat().st_mtime
        page.evaluate("window.jupyterapp.commands.execute('docmanager:save')")
        page.wait_for_function(
            "() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=30_000
        )
        assert (workspace / "01-virtual-hosts.ipynb").stat().st_mtime > saved


def test_lab_04_in_a_bash_cell_with_the_learners_own_certificate(jupyterlab: Any, browser: Any) -> None:
    from playwright.sync_api import expect

    base, workspace, _tracked = jupyterlab
    with _after_run_all(browser, base, "04-tls-simple.ipynb") as page:
        # The exercise offers a bash cell: the learner types the kubectl solution into it, runs it,
        # and Check my work passes.
        index = _cell_index(page, "%%gatewaykit\n# Type your kubectl commands")
        assert index > 0
        solution = (
            "%%gatewaykit\n"
            "kubectl -n istio-system delete secret httpbin-credential\n"
            "kubectl create -n istio-system secret tls httpbin-credential \\\n"
            "  --key=example_certs1/httpbin.example.com.key \\\n"
            "  --cert=example_certs1/httpbin.example.com.crt\n"
        )
        page.evaluate(
            """([i, source]) => {
                const nb = window.jupyterapp.shell.currentWidget;
                nb.content.activeCellIndex = i;
                nb.content.activeCell.model.sharedModel.setSource(source);
                return window.jupyterapp.commands.execute('notebook:run-cell');
            }""",
            [index, solution],
        )
        cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
        expect(cell.locator(".jp-OutputArea")).to_contain_text(
            "secret/httpbin-credential created", timeout=60_000
        )
        check = page.get_by_role("button", name="Check my work")
        check.scroll_into_view_if_needed()
        check.click()
        expect(page.locator(".gk-check-result").first).to_contain_text("Well done", timeout=60_000)

        # A certificate the learner makes with !openssl, in the lab's folder, is the one curl uses.
        made = _add_cell_and_run(
            page,
            "!mkdir -p mine && openssl req -x509 -sha256 -nodes -days 365 -newkey rsa:2048 "
            "-subj '/O=learner Inc./CN=example.com' -keyout mine/example.com.key -out mine/example.com.crt "
            "2>/dev/null && openssl req -out mine/httpbin.csr -newkey rsa:2048 -nodes -keyout mine/httpbin.key "
            "-subj '/CN=httpbin.example.com/O=learner' 2>/dev/null && openssl x509 -req -sha256 -days 365 "
            "-CA mine/example.com.crt -CAkey mine/example.com.key -set_serial 0 -in mine/httpbin.csr "
            "-out mine/httpbin.crt 2>&1 | tail -1 && ls mine",
        )
        assert "httpbin.crt" in made and (workspace / "04-tls-simple" / "mine" / "httpbin.crt").exists()
        out = _add_cell_and_run(
            page,
            "%%gatewaykit\nkubectl -n istio-system delete secret httpbin-credential\n"
            "kubectl create -n istio-system secret tls httpbin-credential --key=mine/httpbin.key "
            "--cert=mine/httpbin.crt",
        )
        assert "secret/httpbin-credential created" in out
        command = page.locator(".gk-curl-command textarea").first
        command.scroll_into_view_if_needed()
        command.fill(
            'curl -v -HHost:httpbin.example.com --resolve "httpbin.example.com:$SECURE_INGRESS_PORT:$INGRESS_HOST" '
            '--cacert mine/example.com.crt "https://httpbin.example.com:$SECURE_INGRESS_PORT/status/418"'
        )
        page.locator("button.gk-curl-run").first.click()
        result = page.locator(".gk-curl-result").first
        expect(result).to_contain_text("HTTP/2 418", timeout=60_000)
        result.locator("summary", has_text="TLS").click()
        expect(result).to_contain_text("O=learner Inc.; CN=example.com")
