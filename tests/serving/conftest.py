from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from fairshare.learning.model import LogisticRegression
from fairshare.serving.app import ReleasedModel, create_app
from fairshare.serving.store import UsageStore

PRICE = 10**15


class MemorySink:
    """An in-memory stand-in for RevenueShares.distribute: per-source running totals that only grow."""

    def __init__(self) -> None:
        self.totals: dict[bytes, int] = {}
        self.paid: list[int] = []
        self.fail_after_paying = False

    def settled_total(self, source: bytes) -> int:
        return self.totals.get(source, 0)

    def settle(self, settlement_id: bytes, totals: dict[bytes, int]) -> tuple[int, str]:
        amount = 0
        for source, total in totals.items():
            assert total > self.totals.get(source, 0), "a running total did not grow: revenue paid twice"
            amount += total - self.totals.get(source, 0)
            self.totals[source] = total
        self.paid.append(amount)
        if self.fail_after_paying:
            raise RuntimeError("crash after the chain accepted the distribution")
        return amount, "0x" + settlement_id.hex()


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
    return TestClient(create_app(store, released, lambda: PRICE, pending=lambda: store.summary().pending))
