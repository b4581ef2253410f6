"""value_round on real updates: null players, screening, flagging, robust aggregation, empty rounds."""

import numpy as np
import pytest

from fairshare.errors import ValuationError
from fairshare.learning.data import Standardizer, holdout, load_builtin, partition
from fairshare.learning.logistic import LogisticRegression
from fairshare.valuation import ValuationConfig, effective_sizes, record_fingerprints, shares_from_values, value_round

MODEL = LogisticRegression(30, 2)


@pytest.fixture(scope="module")
def setting():
    pool, val, _ = holdout(load_builtin("breast_cancer"), 0.2, 0.2, seed=7)
    scaler = Standardizer.fit(val)
    parts = [scaler.transform(p) for p in partition(pool, [3, 2, 2, 1], 1.0, seed=7)]
    return parts, scaler.transform(val)


def updates_for(parts, global_params, flip=()):
    rng = np.random.default_rng(0)
    out = {}
    for k, part in enumerate(parts):
        y = 1 - part.y if k in flip else part.y
        out[f"m{k}"] = MODEL.fit_local(global_params, part.X, y, epochs=2, learning_rate=0.1, batch_size=32, rng=rng)
    return out


def run(setting, updates, config: ValuationConfig | None = None, **kw):
    _, val = setting
    sizes = {m: 50 for m in updates}
    config = config or ValuationConfig()
    return value_round(MODEL, 1, MODEL.init_params(), updates, sizes, val.X, val.y, config, **kw)


@pytest.mark.parametrize("method", ["exact", "gtg", "loo", "banzhaf", "cosine", "auto", "mc"])
def test_free_rider_is_worth_nothing_under_every_method(setting, method: str) -> None:
    parts, _ = setting
    updates = updates_for(parts, MODEL.init_params())
    updates["free"] = MODEL.init_params()
    valuation, _ = run(setting, updates, ValuationConfig(method=method))
    assert valuation.values["free"] == pytest.approx(0.0, abs=1e-12)
    assert all(valuation.values[f"m{k}"] > 0 for k in range(4))


def test_exact_values_are_efficient_and_the_aggregate_is_the_grand_coalition(setting) -> None:
    parts, val = setting
    updates = updates_for(parts, MODEL.init_params())
    valuation, new = run(setting, updates)
    gain = MODEL.log_loss(MODEL.init_params(), val.X, val.y) - MODEL.log_loss(new, val.X, val.y)
    assert sum(valuation.values.values()) == pytest.approx(gain, rel=1e-9)
    assert valuation.method == "exact" and valuation.evaluations == 2**4 - 1


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ([np.full((30, 2), np.nan), np.zeros(2)], "NaN or Inf"),
        ([np.zeros((29, 2)), np.zeros(2)], "array shapes"),
        ([np.zeros((30, 2)), np.zeros(2), np.zeros(1)], "array shapes"),
        ([np.full((30, 2), 1e6), np.zeros(2)], "norm"),
    ],
)
def test_invalid_updates_are_flagged_and_kept_out(setting, bad, reason: str) -> None:
    parts, _ = setting
    updates = updates_for(parts, MODEL.init_params())
    _, clean_params = run(setting, dict(updates))
    updates["bad"] = bad
    valuation, params = run(setting, updates)
    assert reason in valuation.flags["bad"]
    assert valuation.weights["bad"] == 0.0 and valuation.values["bad"] == 0.0
    assert all(np.array_equal(a, b) for a, b in zip(params, clean_params, strict=True))


def test_poisoner_is_flagged_dropped_and_paid_nothing(setting) -> None:
    parts, val = setting
    updates = updates_for(parts, MODEL.init_params(), flip={3})
    kept, kept_params = run(setting, updates)
    assert "harmful" in kept.flags["m3"] and kept.weights["m3"] == 0.0
    assert shares_from_values(kept.values, kept.flags, 10**9)["m3"] == 0
    _, honest_params = run(setting, {m: p for m, p in updates.items() if m != "m3"})
    assert all(np.allclose(a, b) for a, b in zip(kept_params, honest_params, strict=True))
    _, poisoned = run(setting, updates, ValuationConfig(drop_flagged=False))
    assert MODEL.log_loss(poisoned, val.X, val.y) > MODEL.log_loss(kept_params, val.X, val.y)


def test_an_empty_round_keeps_the_model(setting) -> None:
    valuation, params = run(setting, {"a": [np.full((30, 2), np.inf), np.zeros(2)]})
    assert valuation.method == "none" and valuation.evaluations == 0
    assert all(np.array_equal(a, b) for a, b in zip(params, MODEL.init_params(), strict=True))


@pytest.mark.parametrize("aggregator", ["median", "trimmed_mean"])
def test_robust_aggregators_are_valued_as_deployed(setting, aggregator: str) -> None:
    parts, val = setting
    updates = updates_for(parts, MODEL.init_params())
    updates["free"] = MODEL.init_params()
    valuation, params = run(setting, updates, ValuationConfig(aggregator=aggregator))
    gain = MODEL.log_loss(MODEL.init_params(), val.X, val.y) - MODEL.log_loss(params, val.X, val.y)
    assert sum(valuation.values.values()) == pytest.approx(gain, rel=1e-9)
    assert valuation.values["free"] == pytest.approx(0.0, abs=1e-12)


def test_duplicated_data_earns_no_more_than_the_original(setting) -> None:
    parts, _ = setting
    updates = updates_for(parts, MODEL.init_params())
    updates["copy"] = [p.copy() for p in updates["m0"]]
    prints = {f"m{k}": record_fingerprints(p.X, b"salt") for k, p in enumerate(parts)}
    prints["copy"] = prints["m0"]
    sizes = effective_sizes(
        prints,
        {m: len(parts[0].y) if m == "copy" else 0 for m in prints} | {f"m{k}": len(p.y) for k, p in enumerate(parts)},
    )
    honest, _ = run(
        setting,
        {m: p for m, p in updates.items() if m != "copy"},
        effective_sizes=sizes | {"m0": float(len(parts[0].y))},
    )
    robust, _ = run(setting, updates, effective_sizes=sizes)
    pair = robust.values["m0"] + robust.values["copy"]
    assert pair <= 1.1 * honest.values["m0"]
    naive, _ = run(setting, updates)
    assert naive.values["m0"] + naive.values["copy"] > pair


def test_effective_sizes_count_each_record_once() -> None:
    a = np.arange(12.0).reshape(6, 2)
    prints = {"a": record_fingerprints(a, b"s"), "b": record_fingerprints(a[:3], b"s")}
    assert effective_sizes(prints) == {"a": 4.5, "b": 1.5}
    assert not np.array_equal(record_fingerprints(a, b"s"), record_fingerprints(a, b"t"))


def test_shares_clip_negatives_and_flags() -> None:
    shares = shares_from_values({"a": 0.5, "b": -0.1, "c": 0.25, "d": 0.3}, {"d": "harmful"}, 1000)
    assert shares == {"a": 500, "b": 0, "c": 250, "d": 0}
    with pytest.raises(ValuationError, match="non-finite"):
        shares_from_values({"a": float("nan")}, {}, 10)


def test_unknown_method_is_refused() -> None:
    with pytest.raises(ValuationError, match="unknown valuation method 'magic'"):
        ValuationConfig(method="magic")
