from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from fairshare.learning.model import LogisticRegression
from fairshare.serving.app import create_app
from fairshare.serving.released import ReleasedModel
from fairshare.serving.store import UsageStore

PRICE = 10**15


class MemorySink:
    """An in-memory stand-in for RevenueShares.distribute: records what would be paid, by settlement id."""

    def __init__(self) -> None:
        self.paid: dict[bytes, int] = {}
        self.fail_after_paying = False

    def is_settled(self, settlement_id: bytes) -> bool:
        return settlement_id in self.paid

    def distribute(self, settlement_id: bytes, amount: int) -> str:
        assert settlement_id not in self.paid, "distributed twice"
        self.paid[settlement_id] = amount
        if self.fail_after_paying:
            raise RuntimeError("crash after the chain accepted the distribution")
        return "0x" + settlement_id.hex()

    def settlement_tx(self, settlement_id: bytes) -> str:
        return "0x" + settlement_id.hex()


@pytest.fixture
def store(tmp_path: Path) -> UsageStore:
    return UsageStore(f"sqlite:///{tmp_path / 'usage.sqlite'}")


@pytest.fixture
def released() -> ReleasedModel:
    model = LogisticRegression(3, 2)
    params = [np.array([[1.0, -1.0], [0.5, 0.0], [0.0, 0.0]]), np.zeros(2)]
    return ReleasedModel(model, params, "ab" * 32)


@pytest.fixture
def client(store: UsageStore, released: ReleasedModel) -> TestClient:
    return TestClient(create_app(store, released, lambda: PRICE))
