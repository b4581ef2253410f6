"""A released PyTorch network served by the paid API, billed exactly as the logistic regression is."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from tests.cli.test_end_to_end import fairshare
from tests.serving.conftest import PRICE, serve

from fairshare.learning.factory import build_model
from fairshare.learning.model import ModelSpec, params_hash
from fairshare.serving.app import create_app
from fairshare.serving.released import ReleasedModel
from fairshare.serving.store import UsageStore

pytest.importorskip("torch")

CNN = ModelSpec("torch", 64, 10, factory="fairshare.examples_models:make_cnn", input_shape=(1, 8, 8))


@pytest.fixture
def network() -> ReleasedModel:
    model = build_model(CNN)
    params = model.init_params(4)
    return ReleasedModel(model, params, params_hash(params).hex())


def test_a_network_answers_paid_calls_billed_per_row(network: ReleasedModel, store: UsageStore) -> None:
    client = TestClient(create_app(store, network, lambda: PRICE))
    key = store.create_key("radiology-co", credit=10 * PRICE)
    rows = np.random.default_rng(0).normal(size=(3, 64))
    response = client.post("/v1/predict", json={"rows": rows.tolist()}, headers={"X-API-Key": key})
    assert response.status_code == 200
    body = response.json()
    assert body["predictions"] == network.model.logits(network.params, rows).argmax(axis=1).tolist()
    assert body["charged"] == 3 * PRICE and body["credit_left"] == 7 * PRICE
    assert body["model_hash"] == network.model_hash
    info = client.get("/v1/model").json()
    assert info["features"] == 64 and info["classes"] == 10
    short = client.post("/v1/predict", json={"rows": [[0.0] * 63]}, headers={"X-API-Key": key})
    assert short.status_code == 422 and "the model takes 64" in str(short.json()["detail"])
    summary = store.summary()
    assert summary.calls == 1 and summary.revenue == 3 * PRICE


@pytest.mark.slow
def test_the_imaging_example_is_released_served_and_shown_on_the_dashboard(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = fairshare("demo", "--config", "examples/imaging.toml", "--rounds", "2", "--out", str(out), home=tmp_path)
    assert "audit OK" in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    flipper = next(m for m in summary["members"] if m["behaviour"] == "label_flip")
    free_rider = next(m for m in summary["members"] if m["behaviour"] == "free_rider")
    assert flipper["payout"] == 0 and free_rider["payout"] == 0
    assert all(flipper["name"] in r["flags"] for r in summary["rounds"])
    server, url = serve(tmp_path)
    try:
        run = next((tmp_path / "runs" / "imaging").glob("*"))
        store = UsageStore(f"sqlite:///{run / 'usage.sqlite'}")
        before = store.summary()
        key = store.create_key("radiology-co", credit=5 * 10**15)
        image = [float(v) for v in range(64)]
        answer = httpx.post(f"{url}/v1/predict", json={"rows": [image]}, headers={"X-API-Key": key}, timeout=30)
        assert answer.status_code == 200 and answer.json()["charged"] == 10**15
        assert store.summary().revenue == before.revenue + 10**15
        overview = httpx.get(f"{url}/api/dashboard/overview", timeout=60).json()
        assert overview["model"]["kind"] == "torch" and overview["model"]["parameters"] == 3658
        assert overview["released_model"] == answer.json()["model_hash"]
    finally:
        server.kill()
        server.wait()
