"""The optional Inspector protocol: what only the embedded sandbox can show, and how the kit
degrades without it (Validate through kubectl's server dry run; Explain says what it cannot show)."""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from typing import Any

import pytest

from gatewaykit.backends.base import Backend, Inspector
from gatewaykit.backends.local import LocalSandbox
from gatewaykit.errors import ValidationError
from gatewaykit.kit import open_lab
from gatewaykit.kit.widgets import validate_html

Stored = Callable[[str, str, str], "dict[str, Any] | None"]

VS = (
    "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: nowhere\nspec:\n"
    "  hosts: [nowhere.example.com]\n  gateways: [no-such-gateway]\n  http:\n"
    "  - route:\n    - destination: {host: no-such-service}\n"
)


def test_the_local_sandbox_is_an_inspector_and_its_dry_run_changes_nothing(
    sandbox: LocalSandbox, stored: Stored
) -> None:
    assert isinstance(sandbox, Backend) and isinstance(sandbox, Inspector)
    report = sandbox.dry_run(VS)
    assert report.lines == ("virtualservice.networking.istio.io/nowhere created (server dry run)",)
    assert stored("VirtualService", "default", "nowhere") is None
    findings = sandbox.analyze(VS)
    assert any("no-such-gateway" in f for f in findings), findings
    with pytest.raises(ValidationError, match="gateway must have at least one server"):
        sandbox.dry_run("apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: g\nspec: {}\n")


class _Plain:
    """The embedded sandbox seen through the Backend protocol only (as kind or a cluster is)."""

    def __init__(self, inner: LocalSandbox) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        if name in ("dry_run", "analyze", "proxy_config", "simulate"):
            raise AttributeError(name)
        return getattr(self._inner, name)

    def curl(self, *args: Any, **kwargs: Any) -> Any:
        import dataclasses

        return dataclasses.replace(self._inner.curl(*args, **kwargs), explanation=())


def test_without_an_inspector_validate_uses_kubectl_and_explain_says_so(
    sandbox: LocalSandbox, work_dir: pathlib.Path
) -> None:
    plain = _Plain(sandbox)
    assert not isinstance(plain, Inspector)
    lab = open_lab("01-virtual-hosts", backend=plain, work_dir=work_dir)  # type: ignore[arg-type]
    saved = work_dir / "edits" / "check.yaml"
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(VS)
    shown = validate_html(lab, VS, saved)
    assert "the API server would accept it" in shown
    assert "virtualservice.networking.istio.io/nowhere created (server dry run)" in shown
    lab.steps[0].apply()
    out = lab.curl('curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/status/200"')
    exp = lab.explain(out)
    assert exp.path.startswith("(this backend runs Envoy itself and does not report a request's path")
    assert '"HEAD /status/200 HTTP/1.1" 200' in exp.log_line  # the log line is still its own
