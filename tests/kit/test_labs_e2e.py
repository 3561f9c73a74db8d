"""Every lab's claims hold on the local sandbox: each step's probes give the expected outcome, and
each exercise's reference solution passes that exercise's own check (``LabSession.verify()``).

This is the test that keeps the labs honest: the expected outcomes in ``labs/*/lab.yaml`` are
Istio's (docs/behaviour.md), and the sandbox must reproduce them. The ``sandbox`` fixture
(``conftest.py``) is the one ``Sandbox.local()`` shared by every kit test.
"""

from __future__ import annotations

import pathlib

import pytest

from gatewaykit.kit import list_labs, open_lab

# Labs that do not hold on the local sandbox yet (xfail strict: an XPASS fails, so remove the entry).
PENDING: dict[str, str] = {}


def _params() -> list[object]:
    out: list[object] = []
    for lab_id in list_labs():
        pending = PENDING.get(lab_id)
        marks = [pytest.mark.xfail(reason=pending, strict=True)] if pending else []
        out.append(pytest.param(lab_id, marks=marks, id=lab_id))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("lab_id", _params())
def test_lab_holds_on_the_local_sandbox(lab_id: str, sandbox: object, tmp_path: pathlib.Path) -> None:
    lab = open_lab(lab_id, backend=sandbox, work_dir=tmp_path)  # type: ignore[arg-type]
    report = lab.verify()
    assert report.ok, "\n\n".join(report.failures())


@pytest.mark.slow
def test_widgets_drive_the_real_sandbox(sandbox: object, tmp_path: pathlib.Path) -> None:
    """The editor's Validate/Apply and the curl panel, against the embedded sandbox
    (docs/behaviour.md §6, §14.1)."""
    from gatewaykit.kit.widgets import CurlPanel, ManifestEditor

    lab = open_lab("03-https-redirect", backend=sandbox, work_dir=tmp_path)  # type: ignore[arg-type]
    rejected = ManifestEditor(lab, next(s for s in lab.steps if s.id == "tls-on-http"))
    rejected.validate_button.click()
    assert (
        "denied the request: configuration is invalid: "
        "server cannot have TLS settings for plain text HTTP ports" in rejected.result.value
    )
    editor = ManifestEditor(lab, lab.steps[0])
    editor.validate_button.click()
    assert "gateway.networking.istio.io/mygateway created (server dry run)" in editor.result.value
    editor.apply_button.click()
    assert "gateway.networking.istio.io/mygateway created" in editor.result.value
    panel = CurlPanel(lab, lab.steps[0].probes[0].command)
    panel.run_button.click()
    assert "HTTP/1.1 301 Moved Permanently" in panel.result.value
    assert "https://httpbin.example.com/status/200" in panel.result.value
    assert "tls.httpsRedirect" in panel.result.value  # the plain-words reading
    panel.explain_button.click()
    assert "listener 0.0.0.0_8080" in panel.explanation.value


@pytest.mark.slow
def test_a_port_variable_read_before_its_service_exists(sandbox: object, tmp_path: pathlib.Path) -> None:
    """The notebooks print ``lab.env`` first; ``$GTW_PORT`` names a Service a later step creates (the
    proxy Istio deploys for a Gateway API Gateway). Asking early must not hold a port-forward that
    shadows the Service's node port later."""
    lab = open_lab("01-virtual-hosts", backend=sandbox, work_dir=tmp_path)  # type: ignore[arg-type]
    early = lab.env.get("GTW_PORT")
    assert lab.steps[1].id == "gateway-api" and lab.steps[1].apply().ok
    port = lab.env["GTW_PORT"]
    assert port != early
    result = lab.curl('curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST:$GTW_PORT/status/200"')
    assert (result.result.exit_code, result.result.status) == (0, 200), (port, str(result))
