"""The public names are exported, sorted, and each resolves (httpx's test_exported_members idea)."""

from __future__ import annotations

import gatewaykit


def test_all_is_sorted_and_resolves() -> None:
    assert gatewaykit.__all__ == sorted(gatewaykit.__all__, key=str.casefold)
    for name in gatewaykit.__all__:
        assert getattr(gatewaykit, name) is not None, name


def test_sandbox_contract_names() -> None:
    # The Public API block: `from gatewaykit import Sandbox, ValidationError`.
    from gatewaykit import Sandbox, ValidationError

    assert callable(Sandbox.local) and callable(Sandbox.kind) and callable(Sandbox.connect)
    assert issubclass(ValidationError, gatewaykit.GatewayKitError)
