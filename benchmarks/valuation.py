"""Valuation benchmark: accuracy and cost of every method, and what adversaries earn.

For each dataset (scikit-learn's breast cancer, digits, wine), member count and scenario it trains a
federated softmax regression round by round with ``value_round`` (the coordinator's real code path:
screening, exact Shapley as ground truth, harm flags, dropping flagged updates, replication-robust weights),
and on each round's game it also runs the sampling estimator ("gtg") and the plain permutation Monte Carlo
baseline ("mc") at the same evaluation budget, in the same process. Shares are what the coordinator's
settlement credits across rounds (``Settlement``).

Issue 12's scenarios, five seeds each: ``attacks`` (k-scaled updates, files padded with exact or jittered
copies, a disguised free-rider, partial label-flippers; each also rerun under the rules before issue 12),
``noisy_30`` (a member with 30% random labels under both noise rules), ``rare_class`` (credit data, one
member holding most of the minority class, with a leave-one-out retrain per member), and the CSV data
scenarios through the coordinator's own setup (``csv_missing_class``, ``mixed_holdout``). It prints a table
and writes JSON.

    python benchmarks/valuation.py [--quick] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.stats import pearsonr, spearmanr

from fairshare.learning.clientapp import local_update
from fairshare.learning.data import Dataset, Standardizer, holdout, load_builtin, partition
from fairshare.learning.logistic import LogisticRegression
from fairshare.valuation import (
    Settlement,
    ValuationConfig,
    effective_sizes,
    make_game,
    record_fingerprints,
    value_round,
)
from fairshare.valuation.methods import ExactShapley, PermutationShapley
from fairshare.valuation.screening import normalise_steps

SCENARIOS = (
    "iid",
    "label_skew",
    "unequal_noise",
    "zero_free_rider",
    "random_free_rider",
    "label_flip",
    "duplicate",
    "sybil",
)
BUDGET = 0.3


@dataclass
class Member:
    name: str
    data: Dataset
    behaviour: str = "honest"


@dataclass
class RunResult:
    shares: dict[str, float]
    accuracy: float
    flagged_rounds: dict[str, int] = field(default_factory=dict)
    """Rounds a member was flagged in a way that withholds pay (harmful, excluded, invalid); not held out."""
    flagged_late: dict[str, int] = field(default_factory=dict)
    held_out_rounds: dict[str, int] = field(default_factory=dict)
    """Rounds a member's update was held out of the model while its net value was positive."""
    rounds: int = 0
    log_loss: float = 0.0
    exact_ms: list[float] = field(default_factory=list)
    gtg_ms: list[float] = field(default_factory=list)
    spearman: dict[str, list[float]] = field(default_factory=lambda: {"gtg": [], "mc": []})
    pearson: dict[str, list[float]] = field(default_factory=lambda: {"gtg": [], "mc": []})
    evaluations: dict[str, list[int]] = field(default_factory=lambda: {"exact": [], "gtg": [], "mc": []})


def _rank_corr(f: Callable, a: np.ndarray, b: np.ndarray) -> float:
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 1.0 if np.allclose(a, b, atol=1e-12) else 0.0
    return float(f(a, b)[0])


LOCAL = {"epochs": 2, "learning_rate": 0.1, "batch_size": 32}
"""Local training of every member; the credit scenario uses examples/finance.toml's instead."""
FINANCE = {"epochs": 1, "learning_rate": 0.05, "batch_size": 64}


def member_update(
    model: LogisticRegression,
    params: list[np.ndarray],
    member: Member,
    r: int,
    seed: int,
    local: dict[str, float] | None = None,
):
    """What ``member`` sends in round ``r``: the client's behaviours, plus adversaries only the benchmark plays.

    ``scaled:k`` sends k times its honest update; ``disguised`` sends the global model plus noise the size of an
    honest update, decaying by 0.6 a round (a free-rider that looks busy); ``flip:p`` trains with a fraction p
    of its labels flipped (a partial poisoner whose update still helps the untrained model).
    """
    train = dict(local or LOCAL)
    behaviour = member.behaviour
    if behaviour == "sleeper":
        behaviour = "label_flip" if r > 3 else "honest"
    if behaviour.startswith(("scaled:", "disguised")):
        honest = local_update(model, params, member.data, "honest", **train, seed=seed * 1000 + r)
        if behaviour == "disguised":
            rng = np.random.default_rng(seed * 1000 + r + 7)
            return [
                g + rng.normal(0.0, max(float(np.std(h - g)), 1e-6) * 0.6 ** (r - 1), g.shape)
                for g, h in zip(params, honest, strict=True)
            ]
        k = float(behaviour.split(":")[1])
        return [g + k * (h - g) for g, h in zip(params, honest, strict=True)]
    if behaviour.startswith("flip:"):
        y = member.data.y.copy()
        flipped = np.random.default_rng(seed).random(len(y)) < float(behaviour.split(":")[1])
        y[flipped] = (member.data.n_classes - 1) - y[flipped]
        rng = np.random.default_rng(seed * 1000 + r)
        return model.fit_local(params, member.data.X, y, **train, rng=rng)
    return local_update(model, params, member.data, behaviour, **train, seed=seed * 1000 + r)


def members_for(scenario: str, pool: Dataset, n: int, seed: int) -> list[Member]:
    rng = np.random.default_rng(seed)
    honest = n - 1 if scenario in ("zero_free_rider", "random_free_rider", "label_flip", "duplicate", "sybil") else n
    skew = 0.5 if scenario in ("label_skew",) else (1.0 if scenario != "iid" else None)
    weights = np.geomspace(1, 4, honest)[::-1] if scenario == "unequal_noise" else np.ones(honest)
    parts = partition(pool, list(weights), skew, seed=seed, min_size=4)
    members = [Member(f"m{k}", part) for k, part in enumerate(parts)]
    if scenario == "unequal_noise":
        for member in members[::3]:
            y = member.data.y.copy()
            noisy = rng.random(len(y)) < 0.2
            y[noisy] = rng.integers(0, pool.n_classes, noisy.sum())
            member.data = Dataset(member.data.X, y, pool.n_classes, pool.feature_names, member.name)
    extra = f"m{n - 1}"
    if scenario == "zero_free_rider":
        members.append(Member(extra, parts[0], "free_rider"))
    elif scenario == "random_free_rider":
        members.append(Member(extra, parts[0], "random_update"))
    elif scenario == "label_flip":
        members.append(Member(extra, parts[1 % len(parts)], "label_flip"))
    elif scenario == "duplicate":
        members.append(Member(extra, parts[0]))
    elif scenario == "sybil":
        half = len(parts[0].y) // 2
        members[0] = Member("m0", parts[0].subset(np.arange(half)))
        members.append(Member(extra, parts[0].subset(np.arange(half, len(parts[0].y)))))
    return members


def train(
    members: list[Member],
    val: Dataset,
    test: Dataset,
    rounds: int,
    seed: int,
    compare: bool,
    robust_sizes: bool | str = True,
    config: ValuationConfig | None = None,
    settle: bool = True,
    local: dict[str, float] | None = None,
) -> RunResult:
    """Train and value ``rounds`` rounds as the coordinator does; shares are what settlement credits."""
    model = LogisticRegression(val.X.shape[1], val.n_classes)
    params = model.init_params()
    config = config or ValuationConfig(method="exact" if len(members) <= 12 else "gtg", seed=seed, budget=BUDGET)
    prints = {m.name: record_fingerprints(m.data.X, b"bench") for m in members}
    counts = {m.name: len(m.data.y) for m in members}
    if robust_sizes == "exact":  # the fingerprint rule before near-duplicate keys: exact row hashes only
        prints = {m: p[:, :1] for m, p in prints.items()}
    sizes = effective_sizes(prints, counts) if robust_sizes else {m.name: float(len(m.data.y)) for m in members}

    def sizes_of(names):
        return effective_sizes({m: prints[m] for m in names}, counts) if robust_sizes else sizes

    totals = {m.name: 0.0 for m in members}
    past: dict[str, float] = {}
    settlement = Settlement()
    result = RunResult(shares={}, accuracy=0.0)
    for r in range(1, rounds + 1):
        updates = {m.name: member_update(model, params, m, r, seed, local) for m in members}
        started = time.perf_counter()
        valuation, new_params = value_round(
            model,
            r,
            params,
            updates,
            counts,
            val.X,
            val.y,
            config,
            effective_sizes=sizes_of,
            past_values=past,
        )
        if config.method == "exact":
            result.exact_ms.append((time.perf_counter() - started) * 1000)
        else:
            result.gtg_ms.append((time.perf_counter() - started) * 1000)
        for name, value in valuation.values.items():
            past[name] = past.get(name, 0.0) + value
        if settle:
            for name, credit in settlement.settle(valuation.values, valuation.flags).credited.items():
                totals[name] += credit
        else:  # the rule before settlement: each round's positive value, unless flagged or net value <= 0
            for name, value in valuation.values.items():
                if name not in valuation.flags and value > 0 and (r == 1 or past[name] > 0):
                    totals[name] += value
        for name, reason in valuation.flags.items():
            if reason.startswith("held out"):
                result.held_out_rounds[name] = result.held_out_rounds.get(name, 0) + 1
                continue
            result.flagged_rounds[name] = result.flagged_rounds.get(name, 0) + 1
            if r > 2:
                result.flagged_late[name] = result.flagged_late.get(name, 0) + 1
        if compare:
            players = {m: updates[m] for m, w in valuation.weights.items() if w > 0}
            if config.step == "median":
                players, _ = normalise_steps(params, players)
            if len(players) >= 2:
                kept = sizes_of(list(players))
                game = make_game(model, params, players, {m: kept[m] for m in players}, val.X, val.y, config.utility)
                exact = ExactShapley().values(game, np.random.default_rng(r))
                result.evaluations["exact"].append(game.evaluations)
                for name, method in (
                    ("gtg", PermutationShapley(budget=BUDGET)),
                    ("mc", PermutationShapley(name="mc", budget=BUDGET, stratified=False, antithetic=False)),
                ):
                    game.evaluations = 0
                    t0 = time.perf_counter()
                    estimate = method.values(game, np.random.default_rng(seed * 7 + r))
                    if name == "gtg":
                        result.gtg_ms.append((time.perf_counter() - t0) * 1000)
                    result.evaluations[name].append(game.evaluations)
                    result.spearman[name].append(_rank_corr(spearmanr, exact, estimate))
                    result.pearson[name].append(_rank_corr(pearsonr, exact, estimate))
        params = new_params
        result.rounds = r
    grand = sum(totals.values()) or 1.0
    result.shares = {k: v / grand for k, v in totals.items()}
    result.accuracy = model.accuracy(params, test.X, test.y)
    result.log_loss = model.log_loss(params, test.X, test.y)
    return result


def run(quick: bool) -> list[dict[str, object]]:
    datasets = ("breast_cancer",) if quick else ("breast_cancer", "digits", "wine")
    sizes = (5, 10) if quick else (5, 8, 10)
    scenarios = ("iid", "zero_free_rider", "label_flip", "duplicate") if quick else SCENARIOS
    rounds = 6 if quick else 10
    rows = []
    for name in datasets:
        pool, val, test = holdout(load_builtin(name), 0.2, 0.2, seed=3)
        scaler = Standardizer.fit(val)
        pool, val, test = scaler.transform(pool), scaler.transform(val), scaler.transform(test)
        for n in sizes:
            for scenario in scenarios:
                members = members_for(scenario, pool, n, seed=n)
                res = train(members, val, test, rounds, seed=n, compare=True)
                row: dict[str, object] = {
                    "dataset": name,
                    "n": n,
                    "scenario": scenario,
                    "accuracy": res.accuracy,
                    "exact_ms_per_round": statistics.median(res.exact_ms),
                    "exact_evaluations": statistics.median(res.evaluations["exact"] or [0]),
                    "gtg_evaluations_frac": _frac(res.evaluations["gtg"], res.evaluations["exact"]),
                    "mc_evaluations_frac": _frac(res.evaluations["mc"], res.evaluations["exact"]),
                    "gtg_spearman_min": min(res.spearman["gtg"] or [float("nan")]),
                    "gtg_spearman_mean": _mean(res.spearman["gtg"]),
                    "gtg_pearson_mean": _mean(res.pearson["gtg"]),
                    "mc_spearman_min": min(res.spearman["mc"] or [float("nan")]),
                    "mc_spearman_mean": _mean(res.spearman["mc"]),
                    "honest_false_flag_rate": _false_flag_rate(res, members, rounds),
                    "honest_held_out_rate": _false_flag_rate(res, members, rounds, held_out=True),
                }
                adversary = f"m{n - 1}"
                if scenario in ("zero_free_rider", "random_free_rider"):
                    row["free_rider_share"] = res.shares[adversary]
                if scenario == "label_flip":
                    honest = train(members[:-1], val, test, rounds, seed=n, compare=False)
                    row["poisoner_share"] = res.shares[adversary]
                    row["poisoner_flag_rate_after_r2"] = res.flagged_late.get(adversary, 0) / (rounds - 2)
                    row["accuracy_honest_only"] = honest.accuracy
                    row["accuracy_gap_points"] = 100 * (honest.accuracy - res.accuracy)
                if scenario in ("duplicate", "sybil"):
                    original = members_for("zero_free_rider", pool, n, seed=n)[:-1]
                    honest = train(original, val, test, rounds, seed=n, compare=False)
                    naive = train(members, val, test, rounds, seed=n, compare=False, robust_sizes=False)
                    pair = res.shares["m0"] + res.shares[adversary]
                    row["gain_ratio"] = pair / honest.shares["m0"]
                    row["gain_ratio_without_remedy"] = (naive.shares["m0"] + naive.shares[adversary]) / honest.shares[
                        "m0"
                    ]
                rows.append(row)
                print(_line(row), flush=True)
        seeds = ATTACK_SEEDS[:2] if quick else ATTACK_SEEDS
        rows += attacks(name, pool, val, test, rounds, seeds)
        rows += noisy_member(name, pool, val, test, rounds, seeds)
        rows += _large(name, pool, val, quick)
    rows += rare_class(rounds, ATTACK_SEEDS[:2] if quick else ATTACK_SEEDS)
    rows += data_scenarios(rounds)
    return rows


ATTACK_SEEDS = (0, 1, 2, 3, 4)
JITTER = 0.01
"""Gaussian noise added to every feature of a jittered copy, in standard deviations of the feature."""


def _padded(data: Dataset, jitter: float, seed: int) -> Dataset:
    """The member's rows plus one copy of each (exact, or with ``jitter`` noise): twice the rows, no new data."""
    copy = data.X + np.random.default_rng(seed).normal(0.0, jitter, data.X.shape) if jitter else data.X
    return Dataset(np.concatenate([data.X, copy]), np.concatenate([data.y, data.y]), data.n_classes, (), "padded")


def attacks(name: str, pool: Dataset, val: Dataset, test: Dataset, rounds: int, seeds: tuple[int, ...]) -> list[dict]:
    """Issue 12's adversaries, five equal members, every seed: what scaling, padding, noise and flips earn.

    Ratios compare the attacker's share with its share when honest in the same seed; ``*_without_remedy``
    reruns the attack with the rules before issue 12 (plain log-likelihood, updates as sent, exact
    fingerprints only, each positive round paid unless the net value so far is not positive) in the same
    process; the harm flag is the current one in both.
    """
    rows = []
    legacy = ValuationConfig(method="exact", seed=0, step="as_sent", utility="log_likelihood")
    for seed in seeds:
        parts = partition(pool, [1.0] * 5, 1.0, seed=seed, min_size=4)
        base = [Member(f"m{k}", p) for k, p in enumerate(parts)]
        row: dict[str, object] = {"dataset": name, "n": 5, "scenario": "attacks", "seed": seed}
        honest = train(base, val, test, rounds, seed, compare=False)
        honest_legacy = train(base, val, test, rounds, seed, compare=False, config=legacy, settle=False)
        attackers = {
            **{f"scaled_k{k}": Member("m4", parts[4], f"scaled:{k}") for k in (2, 3, 5)},
            "repeat": Member("m4", _padded(parts[4], 0.0, seed)),
            "jitter": Member("m4", _padded(parts[4], JITTER, seed)),
        }
        for label, attacker in attackers.items():
            res = train([*base[:4], attacker], val, test, rounds, seed, compare=False)
            old = train(
                [*base[:4], attacker],
                val,
                test,
                rounds,
                seed,
                compare=False,
                robust_sizes="exact",
                config=legacy,
                settle=False,
            )
            row[f"{label}_gain"] = res.shares["m4"] / honest.shares["m4"]
            row[f"{label}_gain_without_remedy"] = old.shares["m4"] / honest_legacy.shares["m4"]
        for label, behaviour in (
            ("disguised_free_rider", "disguised"),
            ("partial_flip", "flip:0.3"),
            ("half_flip", "flip:0.5"),
        ):
            members = [*base, Member("m5", parts[seed % 5], behaviour)]
            res = train(members, val, test, rounds, seed, compare=False)
            old = train(members, val, test, rounds, seed, compare=False, config=legacy, settle=False)
            row[f"{label}_share"] = res.shares["m5"]
            row[f"{label}_share_without_remedy"] = old.shares["m5"]
        honest_only = train(base[:4], val, test, rounds, seed, compare=False)
        sleeper = train([*base[:4], Member("m4", parts[4], "sleeper")], val, test, rounds, seed, compare=False)
        row["sleeper_held_out_rounds"] = sleeper.held_out_rounds.get("m4", 0)
        row["sleeper_test_log_loss_over_honest_only"] = sleeper.log_loss / honest_only.log_loss
        rows.append(row)
        print(_line(row), flush=True)
    return rows


def rare_class(rounds: int, seeds: tuple[int, ...]) -> list[dict[str, object]]:
    """Credit data: one honest member holds 30% of the rows and 75% of the minority class (bad credit).

    It must not be flagged, and its share should follow what leaving it out of the whole run costs (test
    accuracy and log-loss of a run without it); other members are IID.
    """
    pool, val, test = holdout(load_builtin("credit"), 0.2, 0.2, seed=3)
    scaler = Standardizer.fit(val)
    pool, val, test = scaler.transform(pool), scaler.transform(val), scaler.transform(test)
    rows = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        minority, majority = rng.permutation(np.flatnonzero(pool.y == 1)), rng.permutation(np.flatnonzero(pool.y == 0))
        take = int(0.75 * len(minority))
        fill = int(0.3 * len(pool.y)) - take
        rare_rows = np.concatenate([minority[:take], majority[:fill]])
        rest = rng.permutation(np.concatenate([minority[take:], majority[fill:]]))
        members = [Member("m0", pool.subset(np.sort(rare_rows)))]
        members += [Member(f"m{k + 1}", pool.subset(np.sort(part))) for k, part in enumerate(np.array_split(rest, 4))]
        res = train(members, val, test, rounds, seed, compare=False, local=FINANCE)
        loo = {
            m.name: train([o for o in members if o is not m], val, test, rounds, seed, compare=False, local=FINANCE)
            for m in members
        }
        cost = {name: res.accuracy - r.accuracy for name, r in loo.items()}
        loss_cost = {name: r.log_loss - res.log_loss for name, r in loo.items()}
        row: dict[str, object] = {
            "dataset": "credit",
            "n": 5,
            "scenario": "rare_class",
            "seed": seed,
            "rare_rows_frac": len(rare_rows) / len(pool.y),
            "rare_share": res.shares["m0"],
            "rare_flagged_rounds": res.flagged_rounds.get("m0", 0),
            "honest_flag_rate": sum(res.flagged_rounds.values()) / (len(members) * rounds),
            "honest_held_out_rate": sum(res.held_out_rounds.values()) / (len(members) * rounds),
            "rare_held_out_rounds": res.held_out_rounds.get("m0", 0),
            "rare_loo_accuracy_cost": cost["m0"],
            "rare_loo_accuracy_cost_rank": 1 + sorted(cost.values(), reverse=True).index(cost["m0"]),
            "rare_loo_log_loss_cost": loss_cost["m0"],
            "rare_share_rank": 1 + sorted(res.shares.values(), reverse=True).index(res.shares["m0"]),
        }
        rows.append(row)
        print(_line(row), flush=True)
    return rows


def noisy_member(
    name: str, pool: Dataset, val: Dataset, test: Dataset, rounds: int, seeds: tuple[int, ...]
) -> list[dict]:
    """Five members, one with 30% of its labels replaced at random: what each noise rule pays and ships.

    ``pay`` (the default) settles its Shapley value; ``exclude`` drops it from every round whose model is
    better without it (negative leave-one-out value on the validation split). The test log-loss of a run
    without it says whether the consortium was better off.
    """
    rows = []
    for seed in seeds:
        parts = partition(pool, [1.0] * 5, 1.0, seed=seed, min_size=4)
        rng = np.random.default_rng(seed)
        y = parts[4].y.copy()
        noisy = rng.random(len(y)) < 0.3
        y[noisy] = rng.integers(0, pool.n_classes, noisy.sum())
        members = [Member(f"m{k}", p) for k, p in enumerate(parts[:4])]
        members.append(Member("m4", Dataset(parts[4].X, y, pool.n_classes, pool.feature_names, "noisy")))
        row: dict[str, object] = {"dataset": name, "n": 5, "scenario": "noisy_30", "seed": seed}
        without = train(members[:4], val, test, rounds, seed, compare=False)
        for rule in ("pay", "exclude"):
            config = ValuationConfig(method="exact", seed=seed, noise_rule=rule)
            res = train(members, val, test, rounds, seed, compare=False, config=config)
            excluded = sum(res.flagged_rounds.get(m.name, 0) for m in members[:4])
            row[f"{rule}_noisy_share"] = res.shares["m4"]
            row[f"{rule}_clean_share_min"] = min(res.shares[m.name] for m in members[:4])
            row[f"{rule}_clean_flag_rate"] = excluded / (4 * rounds)
            row[f"{rule}_test_log_loss"] = res.log_loss
        row["without_noisy_test_log_loss"] = without.log_loss
        rows.append(row)
        print(_line(row), flush=True)
    return rows


def _write_csv(path: Path, ds: Dataset, rows: np.ndarray, names: tuple[str, ...]) -> str:
    lines = [",".join([*(f"f{k}" for k in range(ds.X.shape[1])), "label"])]
    lines += [",".join([*(repr(float(v)) for v in ds.X[r]), names[ds.y[r]]]) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def data_scenarios(rounds: int) -> list[dict[str, object]]:
    """Members' own CSV files through ``prepare_data`` (the coordinator's real setup), issue 12 items 1-2.

    ``csv_missing_class``: wine split with Dirichlet(0.1) label skew into five CSV files, most lacking a class;
    every member must keep the consortium's class indices, be valued every round and never be refused.
    ``mixed_holdout``: CSV members beside members cut from the bundled set, the coordinator's files holding
    the bundled holdout; no member row may equal a validation or test row.
    """
    from fairshare.config import ConsortiumConfig
    from fairshare.consortium.setup import prepare_data
    from fairshare.consortium.workspace import new_run
    from fairshare.learning.data import load_partition

    wine = load_builtin("wine")
    names = ("barolo", "grignolino", "nebbiolo")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rng = np.random.default_rng(0)
        order = rng.permutation(len(wine))
        coordinator, rest = order[:70], order[70:]
        parts = partition(wine.subset(rest), [1.0] * 5, 0.1, seed=0, min_size=4)
        index = {r.tobytes(): k for k, r in enumerate(wine.X)}
        config = {
            "name": "wine",
            "data": {
                "dataset": None,
                "validation_csv": _write_csv(folder / "v.csv", wine, coordinator[:35], names),
                "test_csv": _write_csv(folder / "t.csv", wine, coordinator[35:], names),
            },
            "members": [
                {
                    "name": f"m{k}",
                    "csv": _write_csv(folder / f"m{k}.csv", wine, [index[r.tobytes()] for r in p.X], names),
                }
                for k, p in enumerate(parts)
            ],
        }
        paths = new_run(folder / "home", "wine")
        prepare_data(ConsortiumConfig.model_validate(config), paths)
        members = [Member(f"m{k}", load_partition(paths.data_dir / f"m{k}.npz")) for k in range(5)]
        val = load_partition(paths.coordinator_dir / "validation.npz")
        test = load_partition(paths.coordinator_dir / "test.npz")
        res = train(members, val, test, rounds, seed=0, compare=False)
        refused = sum(n for m, n in res.flagged_rounds.items())
        row = {
            "dataset": "wine (csv)",
            "n": 5,
            "scenario": "csv_missing_class",
            "members_missing_a_class": sum(len(set(m.data.y.tolist())) < 3 for m in members),
            "member_rounds_flagged": refused,
            "members_paid": sum(share > 0 for share in res.shares.values()),
            "accuracy": res.accuracy,
        }
        rows.append(row)
        print(_line(row), flush=True)

        cancer = load_builtin("breast_cancer")
        _, val_rows, test_rows = holdout(cancer, 0.2, 0.2, seed=7)
        digits = ("0", "1")
        every = np.arange(len(cancer))
        config = {
            "name": "mixed",
            "data": {
                "dataset": "breast_cancer",
                "seed": 7,
                "validation_csv": _write_csv(folder / "cv.csv", val_rows, np.arange(len(val_rows)), digits),
                "test_csv": _write_csv(folder / "ct.csv", test_rows, np.arange(len(test_rows)), digits),
            },
            "members": [{"name": "own", "csv": _write_csv(folder / "own.csv", cancer, every[:60], digits)}]
            + [{"name": f"m{k}"} for k in range(4)],
        }
        paths = new_run(folder / "home", "mixed")
        prepare_data(ConsortiumConfig.model_validate(config), paths)
        held = {
            r.tobytes() for s in ("validation", "test") for r in load_partition(paths.coordinator_dir / f"{s}.npz").X
        }
        leaked = sum(r.tobytes() in held for k in range(4) for r in load_partition(paths.data_dir / f"m{k}.npz").X)
        row = {"dataset": "breast_cancer", "n": 5, "scenario": "mixed_holdout", "split_member_rows_held_out": leaked}
        rows.append(row)
        print(_line(row), flush=True)
    return rows


def _large(name: str, pool: Dataset, val: Dataset, quick: bool) -> list[dict[str, object]]:
    """n = 50: no exact ground truth; seconds per round of the sampling method the coordinator would use."""
    if (quick and name != "breast_cancer") or len(pool.y) < 50 * 4:
        return []  # wine's 106 pooled rows cannot give 50 members a partition each
    members = [Member(f"m{k}", p) for k, p in enumerate(partition(pool, [1.0] * 50, 1.0, seed=1, min_size=4))]
    model = LogisticRegression(val.X.shape[1], val.n_classes)
    params = model.init_params()
    times, evaluations = [], []
    for r in range(1, 4):
        updates = {
            m.name: local_update(model, params, m.data, "honest", epochs=1, learning_rate=0.1, batch_size=32, seed=r)
            for m in members
        }
        started = time.perf_counter()
        valuation, params = value_round(
            model,
            r,
            params,
            updates,
            {m.name: len(m.data.y) for m in members},
            val.X,
            val.y,
            ValuationConfig(method="auto", budget=2000, seed=r),
        )
        times.append(time.perf_counter() - started)
        evaluations.append(valuation.evaluations)
    row = {
        "dataset": name,
        "n": 50,
        "scenario": "label_skew (auto -> gtg, 2000 coalitions)",
        "gtg_seconds_per_round": statistics.median(times),
        "gtg_evaluations": statistics.median(evaluations),
    }
    print(_line(row), flush=True)
    return [row]


def _false_flag_rate(res: RunResult, members: list[Member], rounds: int, held_out: bool = False) -> float:
    """Flags on members that are not attackers (copies and Sybil halves hold real data), per member-round:
    flags that withhold pay, or (``held_out``) rounds whose model left their update out."""
    honest = [m.name for m in members if m.behaviour in ("honest", "free_rider")]
    counts = res.held_out_rounds if held_out else res.flagged_rounds
    return sum(counts.get(name, 0) for name in honest) / (len(honest) * rounds)


def _frac(a: list[int], b: list[int]) -> float:
    return sum(a) / sum(b) if sum(b) else float("nan")


def _mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def _line(row: dict[str, object]) -> str:
    parts = [f"{row['dataset']:>13} n={row['n']:<2} {row['scenario']:<17}"]
    for key, value in row.items():
        if key in ("dataset", "n", "scenario"):
            continue
        parts.append(f"{key}={value:.3f}" if isinstance(value, float) else f"{key}={value}")
    return " ".join(parts)


def summary(rows: list[dict[str, object]]) -> dict[str, object]:
    """The issue's targets, each with the measured figure."""
    small = [r for r in rows if r["scenario"] in SCENARIOS]
    attack = [r for r in rows if r["scenario"] == "attacks"]
    rare = [r for r in rows if r["scenario"] == "rare_class"]
    noisy = [r for r in rows if r["scenario"] == "noisy_30"]
    data = [r for r in rows if r["scenario"] in ("csv_missing_class", "mixed_holdout")]
    n10 = [r for r in small if r["n"] == 10]

    def worst(key: str, pool: list[dict[str, object]], fn: Callable = min) -> float:
        values = [float(r[key]) for r in pool if key in r]
        return fn(values) if values else float("nan")

    return {
        "exact_n10_ms_breast_cancer": worst(
            "exact_ms_per_round", [r for r in n10 if r["dataset"] == "breast_cancer"], max
        ),
        "exact_n10_ms_digits": worst("exact_ms_per_round", [r for r in n10 if r["dataset"] == "digits"], max),
        "gtg_n10_spearman_min_over_rounds": worst("gtg_spearman_min", n10),
        "gtg_n10_spearman_mean_worst_scenario": worst("gtg_spearman_mean", n10),
        "mc_n10_spearman_min_over_rounds": worst("mc_spearman_min", n10),
        "gtg_n10_evaluations_frac_max": worst("gtg_evaluations_frac", n10, max),
        "gtg_n50_seconds_per_round_max": worst("gtg_seconds_per_round", rows, max),
        "free_rider_share_max": worst("free_rider_share", small, max),
        "poisoner_share_max": worst("poisoner_share", small, max),
        "poisoner_flag_rate_after_r2_min": worst("poisoner_flag_rate_after_r2", small),
        "accuracy_gap_points_max": worst("accuracy_gap_points", small, max),
        "duplicate_gain_max": worst("gain_ratio", [r for r in small if r["scenario"] == "duplicate"], max),
        "duplicate_gain_without_remedy_max": worst(
            "gain_ratio_without_remedy", [r for r in small if r["scenario"] == "duplicate"], max
        ),
        "sybil_gain_max": worst("gain_ratio", [r for r in small if r["scenario"] == "sybil"], max),
        "honest_false_flag_rate_max": worst("honest_false_flag_rate", small, max),
        **{
            f"{key}_max": worst(key, attack, max)
            for key in sorted({k for r in attack for k in r if k.endswith(("_gain", "_share"))})
        },
        **{
            f"{key}_max": worst(key, attack, max)
            for key in sorted({k for r in attack for k in r if k.endswith("_without_remedy")})
        },
        "honest_false_flag_rate_mean": statistics.fmean(float(r["honest_false_flag_rate"]) for r in small),
        "sleeper_test_log_loss_over_honest_only_max": worst("sleeper_test_log_loss_over_honest_only", attack, max),
        "sleeper_held_out_rounds_min": worst("sleeper_held_out_rounds", attack),
        "honest_held_out_rate_max": worst("honest_held_out_rate", small, max),
        "label_skew_honest_held_out_rate_max": worst(
            "honest_held_out_rate", [r for r in small if r["scenario"] == "label_skew"], max
        ),
        "rare_class_honest_held_out_rate_max": worst("honest_held_out_rate", rare, max),
        "rare_holder_held_out_rounds_max": worst("rare_held_out_rounds", rare, max),
        "label_skew_honest_flag_rate_max": worst(
            "honest_false_flag_rate", [r for r in small if r["scenario"] == "label_skew"], max
        ),
        **{
            f"partial_flip_share_max_{d}": worst("partial_flip_share", [r for r in attack if r["dataset"] == d], max)
            for d in sorted({str(r["dataset"]) for r in attack})
        },
        "rare_class_honest_flag_rate_max": worst("honest_flag_rate", rare, max),
        "rare_holder_flagged_rounds_max": worst("rare_flagged_rounds", rare, max),
        "rare_holder_share_min": worst("rare_share", rare),
        "rare_holder_share_rank_max": worst("rare_share_rank", rare, max),
        "rare_holder_loo_accuracy_cost_rank_max": worst("rare_loo_accuracy_cost_rank", rare, max),
        "noisy_share_max_pay": worst("pay_noisy_share", noisy, max),
        "noisy_test_log_loss_pay_over_without_mean": _mean(
            [float(r["pay_test_log_loss"]) / float(r["without_noisy_test_log_loss"]) for r in noisy]
        ),
        "noisy_test_log_loss_exclude_over_without_mean": _mean(
            [float(r["exclude_test_log_loss"]) / float(r["without_noisy_test_log_loss"]) for r in noisy]
        ),
        "noisy_exclude_clean_flag_rate_max": worst("exclude_clean_flag_rate", noisy, max),
        "csv_members_missing_a_class": worst("members_missing_a_class", data, max),
        "csv_member_rounds_flagged": worst("member_rounds_flagged", data, max),
        "csv_members_paid": worst("members_paid", data, max),
        "mixed_split_member_rows_held_out": worst("split_member_rows_held_out", data, max),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one dataset, fewer sizes and scenarios")
    parser.add_argument("--json", type=Path, help="write the rows and the summary here")
    args = parser.parse_args()
    started = time.perf_counter()
    rows = run(args.quick)
    result = {"summary": summary(rows), "rows": rows, "seconds": time.perf_counter() - started}
    print("\ntarget summary")
    for key, value in result["summary"].items():
        print(f"  {key:<42} {value:.4f}" if isinstance(value, float) else f"  {key:<42} {value}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, default=float))
        print(f"written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
