"""A PyTorch network over Flower's deployment runtime: two member nodes (TLS, node authentication) train the
imaging example's CNN for one round; each node builds the network from the spec the round's config carries."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from fairshare.consortium.session import open_run
from fairshare.consortium.training import load_model
from fairshare.learning.model import params_hash
from fairshare.serving.server import free_port

pytest.importorskip("torch")

REPO = Path(__file__).resolve().parents[2]
MEMBERS = ("st-marys", "northgate-clinic")


@pytest.mark.slow
def test_a_torch_model_trains_over_the_federation(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "FAIRSHARE_SUPERLINK_PORT": str(free_port()),
        "FAIRSHARE_EXAMPLE": "examples/imaging.toml",
        "FAIRSHARE_MEMBERS": " ".join(MEMBERS),
        "FAIRSHARE_ROUNDS": "1",
        "COLUMNS": "200",
    }
    result = subprocess.run(
        ["bash", "scripts/federation-loopback.sh", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    assert "rounds [1] trained over the federation" in result.stdout and "audit OK" in result.stdout
    run = open_run(tmp_path / "coordinator" / "home")
    try:
        (record,) = run.ledger.rounds()
        params = load_model(run.paths.model_file(1))
        assert params_hash(params) == record.model_hash
        assert [p.shape for p in params][:2] == [(8, 1, 3, 3), (8,)]  # the CNN's first convolution
        assert all(np.isfinite(p).all() for p in params)
        recorded = json.loads(record.params)
        assert set(recorded["values"]) == set(MEMBERS) and any(v > 0 for v in recorded["values"].values())
        assert all(share == 0 for share in record.shares)  # one round is no evidence: value vests from round 3
        assert json.loads(record.params)["rejected"] == {}
    finally:
        run.chain.close()
