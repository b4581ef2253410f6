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
from fastapi.testclient import TestClient
from tests.cli.test_end_to_end import REPO, fairshare

from fairshare.learning.model import LogisticRegression
from fairshare.serving.app import create_app
from fairshare.serving.released import ReleasedModel
from fairshare.serving.server import free_port
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
