"""Valuation benchmark: accuracy and cost of every method, and what adversaries earn.

For each dataset (scikit-learn's breast cancer, digits, wine), member count and scenario it trains a
federated softmax regression round by round with ``value_round`` (the coordinator's real code path:
screening, exact Shapley as ground truth, harm flags, dropping flagged updates, replication-robust weights),
and on each round's game it also runs the sampling estimator ("gtg") and the plain permutation Monte Carlo
baseline ("mc") at the same evaluation budget, in the same process. It prints a table and writes JSON.

    python benchmarks/valuation.py [--quick] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.stats import pearsonr, spearmanr

from fairshare.learning.clientapp import local_update
from fairshare.learning.data import Dataset, Standardizer, holdout, load_builtin, partition
from fairshare.learning.logistic import LogisticRegression
from fairshare.valuation import ValuationConfig, effective_sizes, make_game, record_fingerprints, value_round
from fairshare.valuation.methods import ExactShapley, PermutationShapley

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
    flagged_late: dict[str, int] = field(default_factory=dict)
    rounds: int = 0
    exact_ms: list[float] = field(default_factory=list)
    gtg_ms: list[float] = field(default_factory=list)
    spearman: dict[str, list[float]] = field(default_factory=lambda: {"gtg": [], "mc": []})
    pearson: dict[str, list[float]] = field(default_factory=lambda: {"gtg": [], "mc": []})
    evaluations: dict[str, list[int]] = field(default_factory=lambda: {"exact": [], "gtg": [], "mc": []})


def _rank_corr(f: Callable, a: np.ndarray, b: np.ndarray) -> float:
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 1.0 if np.allclose(a, b, atol=1e-12) else 0.0
    return float(f(a, b)[0])


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
    robust_sizes: bool = True,
) -> RunResult:
    model = LogisticRegression(val.X.shape[1], val.n_classes)
    params = model.init_params()
    config = ValuationConfig(method="exact" if len(members) <= 12 else "gtg", seed=seed, budget=BUDGET)
    prints = {m.name: record_fingerprints(m.data.X, b"bench") for m in members}
    sizes = effective_sizes(prints) if robust_sizes else {m.name: float(len(m.data.y)) for m in members}
    totals = {m.name: 0.0 for m in members}
    past: dict[str, float] = {}
    result = RunResult(shares={}, accuracy=0.0)
    for r in range(1, rounds + 1):
        updates = {
            m.name: local_update(
                model, params, m.data, m.behaviour, epochs=2, learning_rate=0.1, batch_size=32, seed=seed * 1000 + r
            )
            for m in members
        }
        counts = {m.name: len(m.data.y) for m in members}
        started = time.perf_counter()
        valuation, new_params = value_round(
            model, r, params, updates, counts, val.X, val.y, config, effective_sizes=sizes, past_values=past
        )
        if config.method == "exact":
            result.exact_ms.append((time.perf_counter() - started) * 1000)
        else:
            result.gtg_ms.append((time.perf_counter() - started) * 1000)
        for name, value in valuation.values.items():
            past[name] = past.get(name, 0.0) + value
            if name not in valuation.flags and value > 0:
                totals[name] += value
        for name in valuation.flags:
            result.flagged_rounds[name] = result.flagged_rounds.get(name, 0) + 1
            if r > 2:
                result.flagged_late[name] = result.flagged_late.get(name, 0) + 1
        if compare:
            players = {m: updates[m] for m, w in valuation.weights.items() if w > 0}
            if len(players) >= 2:
                game = make_game(model, params, players, {m: sizes[m] for m in players}, val.X, val.y)
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
        rows += _large(name, pool, val, quick)
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


def _false_flag_rate(res: RunResult, members: list[Member], rounds: int) -> float:
    """Flags on members that are not attackers (copies and Sybil halves hold real data), per member-round."""
    honest = [m.name for m in members if m.behaviour in ("honest", "free_rider")]
    return sum(res.flagged_rounds.get(name, 0) for name in honest) / (len(honest) * rounds)


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
    small = [r for r in rows if r["n"] != 50]
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
        "honest_false_flag_rate_mean": statistics.fmean(float(r["honest_false_flag_rate"]) for r in small),
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
