"""The OpenAPI spec against the real server: schemathesis with all its checks finds nothing.

schemathesis's own CLI (``--checks all``: no 5xx, every status/content type/body as documented, invalid input
rejected, valid input accepted, auth enforced, unsupported methods refused...) runs against the app served by
uvicorn on loopback. Without a spec that states the row length, the API key schemes and every 4xx it
answers, these checks fail (issue 17).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from tests.serving.conftest import PRICE

from fairshare.learning.logistic import LogisticRegression
from fairshare.serving.app import create_app
from fairshare.serving.released import ReleasedModel
from fairshare.serving.server import running
from fairshare.serving.store import UsageStore

SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")


def fuzz(url: str, key: str, cwd: Path, max_examples: int = 60) -> subprocess.CompletedProcess[str]:
    """``schemathesis run --checks all`` against ``url``; the completed process (exit 0 = no failure).

    It runs in ``cwd`` because schemathesis keeps a cache folder where it runs.
    """
    return subprocess.run(
        [
            SCHEMATHESIS,
            "run",
            f"{url}/openapi.json",
            "--checks",
            "all",
            "--mode",
            "all",
            "--max-examples",
            str(max_examples),
            "-H",
            f"X-API-Key: {key}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
    )


def test_schemathesis_with_all_checks_finds_nothing(tmp_path) -> None:
    store = UsageStore(f"sqlite:///{tmp_path / 'usage.sqlite'}")
    released = ReleasedModel(LogisticRegression(3, 2), [np.ones((3, 2)), np.zeros(2)], "cd" * 32)
    key = store.create_key("fuzz", credit=10**9 * PRICE)  # enough that valid calls are never 402
    with running(create_app(store, released, lambda: PRICE)) as url:
        result = fuzz(url, key, tmp_path)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "3 selected / 3 total" in result.stdout  # /v1/predict, /v1/model, /metrics
    billed = store.summary()
    assert billed.calls > 0 and store.keys()[0].credit == 10**9 * PRICE - billed.revenue
