from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from eth_account import Account
from fastapi.testclient import TestClient
from tests.cli.test_end_to_end import REPO, fairshare

from fairshare.learning.logistic import LogisticRegression
from fairshare.ledger.receipts import ReceiptSigner
from fairshare.serving.app import create_app
from fairshare.serving.receipting import Receipting
from fairshare.serving.released import ReleasedModel
from fairshare.serving.server import free_port
from fairshare.serving.store import UsageStore

PRICE = 10**15


class MemorySink:
    """An in-memory stand-in for the CreditVault: posted windows, per-key running totals that only grow."""

    def __init__(self) -> None:
        self.totals: dict[bytes, int] = {}
        self.windows: list[bytes] = []
        self.caps: dict[bytes, int] = {}  # deposits less refunds, per key (unlimited unless set)
        self.paid: list[int] = []
        self.fail_after_paying = False

    def find_window(self, root: bytes) -> int | None:
        return self.windows.index(root) + 1 if root in self.windows else None

    def post_window(self, root: bytes, batches: int) -> int:
        self.windows.append(root)
        return len(self.windows)

    def settled(self, key: bytes) -> tuple[int, int]:
        return self.totals.get(key, 0), self.caps.get(key, 10**30)

    def settle(self, window_id: int, totals: dict[bytes, tuple[int, bytes]]) -> tuple[int, str]:
        amount = 0
        for key, (total, _) in totals.items():
            assert total > self.totals.get(key, 0), "a running total did not grow: revenue paid twice"
            assert total <= self.caps.get(key, 10**30), "a total above the key's deposits: the vault reverts"
            amount += total - self.totals.get(key, 0)
            self.totals[key] = total
        self.paid.append(amount)
        if self.fail_after_paying:
            raise RuntimeError("crash after the chain accepted the settlement")
        return amount, f"0x{window_id:064x}"


def receipting() -> Receipting:
    """Receipts signed by a fresh key under a made-up vault address (the unit tests need no chain)."""
    return Receipting(ReceiptSigner(Account.create(), 31337, "0x" + "11" * 20))


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
    return TestClient(create_app(store, released, lambda: PRICE, receipts=receipting()))


def serve(home: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``fairshare serve`` for the run under ``home``, as a person starts it; returns it and its URL once it answers."""
    port = free_port()
    env = {**os.environ, "FAIRSHARE_HOME": str(home)}
    server = subprocess.Popen(
        [sys.executable, "-m", "fairshare", "serve", "--port", str(port)],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/metrics", timeout=1).status_code == 200:
                return server, url
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise AssertionError(f"serve did not start: {server.communicate()[1].decode()}")


@pytest.fixture(scope="session")
def released_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, dict]]:
    """A demo run (model released, revenue settled, governance history) served by ``fairshare serve``."""
    home = tmp_path_factory.mktemp("dash")
    fairshare("demo", "--rounds", "3", "--members", "4", home=home)
    audit = json.loads(fairshare("audit", "--json", home=home).stdout)
    server, url = serve(home)
    yield url, home, audit
    server.kill()
    server.wait()


@pytest.fixture(scope="session")
def unreleased_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, subprocess.Popen[bytes]]]:
    """A run trained for one round and never released, served by ``fairshare serve``."""
    home = tmp_path_factory.mktemp("unreleased")
    fairshare("init", "--members", "3", home=home)
    fairshare("train", "--rounds", "1", home=home)
    server, url = serve(home)
    yield url, home, server
    server.kill()
    server.wait()
