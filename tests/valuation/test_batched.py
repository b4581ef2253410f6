"""Batched coalition evaluation for PyTorch networks: the same game as one forward pass per coalition."""

from __future__ import annotations

import numpy as np
import pytest

from fairshare.learning.data import Standardizer, holdout, load_builtin, partition
from fairshare.learning.factory import build_model
from fairshare.learning.model import ModelSpec
from fairshare.valuation import ValuationConfig, make_game, value_round
from fairshare.valuation.batched import chunk_size
from fairshare.valuation.calibration import calibrated_log_likelihood

pytest.importorskip("torch")

CNN = ModelSpec("torch", 64, 10, factory="fairshare.examples_models:make_cnn", input_shape=(1, 8, 8), momentum=0.9)
SMALL_CHUNKS = ModelSpec(**{**CNN.__dict__, "valuation_memory_mb": 16})


class OnePassPerCoalition:
    """The same network without ``batched_logits``: the game falls back to one forward pass per coalition."""

    linear_in_params = False

    def __init__(self, model) -> None:
        self.model = model

    def logits(self, params, X):
        return self.model.logits(params, X)


@pytest.fixture(scope="module")
def round_setting():
    """Five members' real CNN updates on digits (a free-rider and a label-flipper among them), from a global
    model that has already learnt something (as after a few rounds)."""
    pool, validation, _ = holdout(load_builtin("digits"), 0.2, 0.2, seed=5)
    scaler = Standardizer.fit(validation)
    parts = [scaler.transform(p) for p in partition(pool, [3, 2, 2, 1, 3], 2.0, seed=5)]
    model = build_model(CNN)
    rng = np.random.default_rng(0)
    train = dict(epochs=1, learning_rate=0.05, batch_size=32, rng=rng)
    start = model.fit_local(model.init_params(0), parts[0].X, parts[0].y, **{**train, "epochs": 3})
    updates = {f"m{k}": model.fit_local(start, p.X, p.y, **train) for k, p in enumerate(parts[:3])}
    updates["m3"] = [p.copy() for p in start]  # free-rider
    updates["m4"] = model.fit_local(start, parts[4].X, 9 - parts[4].y, **train)  # label-flipper
    sizes = {m: len(p.y) for m, p in zip(sorted(updates), parts, strict=True)}
    return model, start, updates, sizes, scaler.transform(validation)


def all_masks(n: int) -> np.ndarray:
    return ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(bool)


@pytest.mark.parametrize("utility", ["log_likelihood", "accuracy"])
def test_batched_equals_one_forward_pass_per_coalition(round_setting, utility: str) -> None:
    model, start, updates, sizes, val = round_setting
    batched = make_game(model, start, updates, sizes, val.X, val.y, utility)
    looped = make_game(OnePassPerCoalition(model), start, updates, sizes, val.X, val.y, utility)
    masks = all_masks(5)
    np.testing.assert_allclose(batched.value(masks), looped.value(masks), rtol=0, atol=1e-6)
    assert batched.value(masks[:1])[0] == 0.0  # v(empty) = 0


def test_memory_bounded_chunks_give_the_same_values(round_setting) -> None:
    model, start, updates, sizes, val = round_setting
    small = build_model(SMALL_CHUNKS)
    assert chunk_size(small, len(val.y)) < 2**5 <= chunk_size(model, len(val.y))
    masks = all_masks(5)
    one_chunk = make_game(model, start, updates, sizes, val.X, val.y).value(masks)
    many_chunks = make_game(small, start, updates, sizes, val.X, val.y).value(masks)
    np.testing.assert_allclose(one_chunk, many_chunks, rtol=0, atol=1e-6)


def test_the_free_rider_is_an_exact_null_player(round_setting) -> None:
    model, start, updates, sizes, val = round_setting
    game = make_game(model, start, updates, sizes, val.X, val.y)
    masks = all_masks(5)
    without = masks[~masks[:, 3]]
    with_free_rider = without.copy()
    with_free_rider[:, 3] = True
    assert np.array_equal(game.value(without), game.value(with_free_rider))


@pytest.mark.parametrize("method", ["exact", "gtg"])
def test_value_round_on_a_network_pays_the_deployed_model(round_setting, method: str) -> None:
    model, start, updates, sizes, val = round_setting
    config = ValuationConfig(method=method)
    valuation, deployed = value_round(model, 1, start, updates, sizes, val.X, val.y, config)
    assert valuation.values["m3"] == 0.0
    assert "m4" in valuation.flags and valuation.values["m4"] < 0
    assert all(valuation.values[m] > 0 for m in ("m0", "m1", "m2"))
    # efficiency: the paid values add up to what the deployed model gained by the default utility
    gained = float(
        calibrated_log_likelihood(model.logits(deployed, val.X), val.y)
        - calibrated_log_likelihood(model.logits(start, val.X), val.y)
    )
    paid = sum(v for m, v in valuation.values.items() if valuation.weights[m] > 0)
    assert paid == pytest.approx(gained, abs=1e-5)


@pytest.mark.slow
def test_a_compiled_batched_pass_gives_the_same_values(round_setting) -> None:
    """``[model] compile = true``: torch.compile'd once (padded chunks keep one shape), same game to 1e-6."""
    model, start, updates, sizes, val = round_setting
    compiled = build_model(ModelSpec(**{**CNN.__dict__, "compile": True}))
    masks = all_masks(5)
    looped = make_game(OnePassPerCoalition(model), start, updates, sizes, val.X, val.y).value(masks)
    game = make_game(compiled, start, updates, sizes, val.X, val.y)
    np.testing.assert_allclose(game.value(masks), looped, rtol=0, atol=1e-6)
    np.testing.assert_allclose(game.value(masks[7:9]), looped[7:9], rtol=0, atol=1e-6)  # a short, padded chunk
