"""The PyTorch worked examples parse and run end to end offline (the imaging one also in tests/serving)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fairshare.config import load_config
from tests.cli.test_end_to_end import REPO, fairshare

pytest.importorskip("torch")


@pytest.mark.parametrize("name", ["imaging.toml", "credit-mlp.toml"])
def test_torch_examples_parse(name: str) -> None:
    config = load_config(REPO / "examples" / name)
    assert config.model.kind == "torch" and config.model.factory.startswith("fairshare.examples_models:")


def test_credit_mlp_example_runs_on_the_finance_split(tmp_path: Path) -> None:
    finance, mlp = (load_config(REPO / "examples" / n) for n in ("finance.toml", "credit-mlp.toml"))
    assert mlp.data == finance.data and mlp.members == finance.members  # the same split and members
    out = tmp_path / "out"
    example = "examples/credit-mlp.toml"
    result = fairshare("demo", "--config", example, "--rounds", "2", "--out", str(out), home=tmp_path)
    assert "audit OK" in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    free_rider = next(m for m in summary["members"] if m["behaviour"] == "free_rider")
    assert free_rider["payout"] == 0 and all(r["scores"][free_rider["name"]] == 0 for r in summary["rounds"])
