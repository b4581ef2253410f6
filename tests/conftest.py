"""Shared test helpers, including a session-wide anvil node for tests that run against a real dev node."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fairshare.errors import ChainConnectionError
from fairshare.ledger import Chain, connect

REPO = Path(__file__).resolve().parents[1]
ANVIL_HOME = Path.home() / ".cache" / "fairshare"


@pytest.fixture
def examples_dir() -> Path:
    return REPO / "examples"


@pytest.fixture(scope="session")
def anvil_url() -> Iterator[str]:
    """A running anvil (installed from npm on first use); the test is skipped, saying why, without npm."""
    from fairshare.ledger.anvil import ensure_anvil, start_anvil
    from fairshare.serving.server import free_port

    try:
        ensure_anvil(ANVIL_HOME)
    except ChainConnectionError as exc:
        pytest.skip(f"anvil unavailable: {exc}")
    node = start_anvil(ANVIL_HOME, free_port(), state=ANVIL_HOME / "test-state" / f"{free_port()}.json")
    yield node.url
    node.stop()


@pytest.fixture
def anvil_key(monkeypatch: pytest.MonkeyPatch) -> str:
    from fairshare.ledger.anvil import ANVIL_DEV_KEY
    from fairshare.ledger.chain import DEPLOYER_KEY_ENV

    monkeypatch.setenv(DEPLOYER_KEY_ENV, ANVIL_DEV_KEY)
    return ANVIL_DEV_KEY


@pytest.fixture(params=["embedded", "anvil"])
def chain(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Chain]:
    """Every contract test runs on the embedded chain and on anvil: one code path, two chains."""
    if request.param == "anvil":
        url = request.getfixturevalue("anvil_url")
        request.getfixturevalue("anvil_key")
        chain = connect(url, tmp_path)
    else:
        chain = connect(None, tmp_path)
    yield chain
    chain.close()
