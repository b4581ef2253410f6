"""value_round on real updates: null players, screening, flagging, robust aggregation, empty rounds."""

import numpy as np
import pytest

from fairshare.errors import ValuationError
from fairshare.learning.data import Standardizer, holdout, load_builtin, partition
from fairshare.learning.logistic import LogisticRegression
from fairshare.valuation import (
    Settlement,
    ValuationConfig,
    effective_sizes,
    record_fingerprints,
    shares_from_values,
    value_round,
)
from fairshare.valuation.calibration import calibrated_log_likelihood

MODEL = LogisticRegression(30, 2)


@pytest.fixture(scope="module")
def setting():
    pool, val, _ = holdout(load_builtin("breast_cancer"), 0.2, 0.2, seed=7)
    scaler = Standardizer.fit(val)
    parts = [scaler.transform(p) for p in partition(pool, [3, 2, 2, 1], 1.0, seed=7)]
    return parts, scaler.transform(val)


def gain(val, before, after) -> float:
    """What the default utility (calibrated log-likelihood) gained from ``before`` to ``after``."""
    return float(
        calibrated_log_likelihood(MODEL.logits(after, val.X), val.y)
        - calibrated_log_likelihood(MODEL.logits(before, val.X), val.y)
    )


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
    valuation, new = run(setting, updates, ValuationConfig(utility="log_likelihood"))
    loss_gain = MODEL.log_loss(MODEL.init_params(), val.X, val.y) - MODEL.log_loss(new, val.X, val.y)
    assert sum(valuation.values.values()) == pytest.approx(loss_gain, rel=1e-9)
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
    assert sum(valuation.values.values()) == pytest.approx(gain(val, MODEL.init_params(), params), rel=1e-9)
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


@pytest.mark.parametrize("k", [2.0, 3.0, 5.0])
def test_scaling_an_update_does_not_pay(setting, k: float) -> None:
    parts, _ = setting
    start = MODEL.init_params()
    updates = updates_for(parts, start)
    scaled = dict(updates) | {"m3": [g + k * (p - g) for p, g in zip(updates["m3"], start, strict=True)]}
    honest, _ = run(setting, updates)
    boosted, _ = run(setting, scaled)
    assert boosted.values["m3"] <= 1.1 * honest.values["m3"]
    as_sent, _ = run(setting, scaled, ValuationConfig(step="as_sent"))
    assert as_sent.values["m3"] > 1.3 * honest.values["m3"]  # what scaling earned before steps were normalised


@pytest.mark.parametrize("jitter", [0.0, 0.01])
def test_repeated_and_jittered_rows_count_once(setting, jitter: float) -> None:
    """Padding one's file with copies (exact or with 1% noise per feature) of one's own or another's rows."""
    parts, _ = setting
    rng = np.random.default_rng(5)
    own = parts[3].X
    padded = np.concatenate([own, own + rng.normal(0, jitter, own.shape)])
    stolen = parts[0].X + rng.normal(0, jitter, parts[0].X.shape)
    prints = {k: record_fingerprints(x, b"salt") for k, x in {"m0": parts[0].X, "pad": padded, "thief": stolen}.items()}
    sizes = effective_sizes(prints)
    assert sizes["pad"] <= 1.05 * len(own)
    assert sizes["m0"] + sizes["thief"] <= 1.05 * len(parts[0].X)


def test_distinct_rows_are_not_merged(setting) -> None:
    parts, _ = setting
    prints = {f"m{k}": record_fingerprints(p.X, b"salt") for k, p in enumerate(parts)}
    assert effective_sizes(prints) == {f"m{k}": float(len(p.X)) for k, p in enumerate(parts)}


def test_an_honest_member_holding_most_of_a_rare_class_is_not_called_harmful() -> None:
    """Credit data: one member holds 30% of the rows and 75% of the bad-credit cases (issue 12, item 5)."""
    pool, val, _ = holdout(load_builtin("credit"), 0.2, 0.2, seed=3)
    scaler = Standardizer.fit(val)
    pool, val = scaler.transform(pool), scaler.transform(val)
    rng = np.random.default_rng(0)
    minority, majority = rng.permutation(np.flatnonzero(pool.y == 1)), rng.permutation(np.flatnonzero(pool.y == 0))
    take = int(0.75 * len(minority))
    rare = np.concatenate([minority[:take], majority[: int(0.3 * len(pool.y)) - take]])
    rest = np.array_split(rng.permutation(np.concatenate([minority[take:], majority[len(rare) - take :]])), 4)
    parts = {"rare": pool.subset(np.sort(rare))} | {f"m{k}": pool.subset(np.sort(p)) for k, p in enumerate(rest)}
    model = LogisticRegression(pool.X.shape[1], 2)
    params, past, settlement, flagged, paid = model.init_params(), {}, Settlement(), 0, 0.0
    for r in range(1, 9):
        updates = {
            m: model.fit_local(
                params, d.X, d.y, epochs=1, learning_rate=0.05, batch_size=64, rng=np.random.default_rng(r)
            )
            for m, d in parts.items()
        }
        sizes = {m: len(d.y) for m, d in parts.items()}
        valuation, params = value_round(
            model, r, params, updates, sizes, val.X, val.y, ValuationConfig(), past_values=past
        )
        past = {m: past.get(m, 0.0) + v for m, v in valuation.values.items()}
        flagged += "rare" in valuation.flags
        paid += settlement.settle(valuation.values, valuation.flags).credited["rare"]
    assert flagged == 0
    assert paid > 0 and past["rare"] == max(past.values())


def test_a_member_turning_to_poison_after_honest_rounds_is_held_out_but_not_called_harmful(setting) -> None:
    """Its net value over the run is still positive (its honest rounds), so it is not harmful on pay, but the
    round's model is protected: its update is left out and the others are valued without it."""
    parts, _ = setting
    updates = updates_for(parts, MODEL.init_params(), flip={3})
    valuation, params = run(setting, updates, past_values={f"m{k}": 1.0 for k in range(4)})
    assert valuation.flags["m3"].startswith("held out") and valuation.weights["m3"] == 0.0
    _, honest = run(setting, {m: p for m, p in updates.items() if m != "m3"})
    assert all(np.allclose(a, b) for a, b in zip(params, honest, strict=True))
