"""Each package says what it is for and exports exactly what it names (httpx's test_exported_members habit)."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "fairshare",
    "fairshare.learning",
    "fairshare.valuation",
    "fairshare.valuation.methods",
    "fairshare.ledger",
    "fairshare.governance",
    "fairshare.serving",
    "fairshare.consortium",
    "fairshare.cli",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_package_has_a_purpose_and_real_exports(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__doc__ and len(module.__doc__.strip()) > 20
    for member in module.__all__:
        assert hasattr(module, member), f"{name}.__all__ names {member!r}, which it does not define"


def test_the_ledger_api_the_loop_relies_on() -> None:
    import fairshare.ledger as ledger

    assert set(ledger.__all__) >= {"connect", "deploy_consortium", "LedgerClient", "audit", "Keystore", "Deployment"}
