"""PyTorch models: batched coalition evaluation, valuation accuracy and adversaries on a CNN, the linear path.

Sections (all in one process, so the ratios compare like with like on the same loaded machine;
process CPU seconds are reported beside wall seconds, since with one torch thread they are what a round costs on
one idle core, whatever else the shared machine runs):

1. ``batched``: one round's game over n = 10 members' real updates, every one of its 1,023 coalitions,
   evaluated by ``valuation.batched`` (vmap over functional_call, memory-bounded chunks) and by one forward pass
   per coalition (the generic path); seconds, ratio and the largest difference. CNN on digits, MLP on credit.
2. ``cnn``: the small CNN (``fairshare.examples_models:make_cnn``) on scikit-learn's digits, n = 10, trained round
   by round through ``value_round`` (exact Shapley, flags, replication-robust sizes) in the scenarios of the
   linear benchmark; per round the exact table's seconds, and the sampling estimator ("gtg", <= 30% of the
   coalitions) against exact (Spearman). Free-rider, poisoner, duplicate and Sybil figures as in
   ``benchmarks/valuation.py``.
3. ``cnn_n50``: 50 members, seconds per round of the sampling method (2,000 coalitions).
4. ``linear``: the numpy logistic regression's exact table at n = 10 (breast cancer, digits), as before.
5. ``credit``: examples/finance.toml's logistic regression and examples/credit-mlp.toml's MLP trained on the
   same split, members and rounds (in-process, valued every round): test accuracy and AUC.

    python benchmarks/torch_valuation.py [--quick] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from fairshare.config import load_config
from fairshare.learning.clientapp import local_update
from fairshare.learning.data import Dataset, Standardizer, holdout, load_builtin, partition
from fairshare.learning.factory import build_model
from fairshare.learning.logistic import LogisticRegression
from fairshare.learning.model import Model, ModelSpec
from fairshare.valuation import ValuationConfig, effective_sizes, make_game, record_fingerprints, value_round
from fairshare.valuation.batched import chunk_size
from fairshare.valuation.methods import ExactShapley, PermutationShapley

REPO = Path(__file__).resolve().parents[1]
CNN = ModelSpec("torch", 64, 10, factory="fairshare.examples_models:make_cnn", input_shape=(1, 8, 8), momentum=0.9)
MLP = ModelSpec("torch", 32, 2, factory="fairshare.examples_models:make_credit_mlp", input_shape=(32,), momentum=0.9)
TRAIN = {CNN: (3, 0.05, 16), MLP: (1, 0.05, 64)}
"""Local epochs, learning rate, batch size (as in examples/imaging.toml and examples/credit-mlp.toml; the CNN
reaches 0.93 test accuracy in 8 FedAvg rounds of 10 members with these)."""
BUDGET = 0.3
SCENARIOS = ("label_skew", "zero_free_rider", "label_flip", "duplicate", "sybil")


@dataclass
class Member:
    name: str
    data: Dataset
    behaviour: str = "honest"


class OnePassPerCoalition:
    """The same network without ``batched_logits``: ``make_game`` then runs one forward pass per coalition."""

    linear_in_params = False

    def __init__(self, model: Model) -> None:
        self.model = model

    def logits(self, params: list[np.ndarray], X: np.ndarray) -> np.ndarray:
        return self.model.logits(params, X)


def splits(name: str, seed: int = 3) -> tuple[Dataset, Dataset, Dataset]:
    pool, val, test = holdout(load_builtin(name), 0.2, 0.2, seed=seed)
    scaler = Standardizer.fit(val)
    return scaler.transform(pool), scaler.transform(val), scaler.transform(test)


def members_for(scenario: str, pool: Dataset, n: int, seed: int) -> list[Member]:
    """n identities: honest members on label-skewed data, the last one the scenario's adversary (if any)."""
    honest = n if scenario == "label_skew" else n - 1
    parts = partition(pool, [1.0] * honest, 1.0, seed=seed, min_size=4)
    members = [Member(f"m{k}", part) for k, part in enumerate(parts)]
    extra = f"m{n - 1}"
    if scenario == "zero_free_rider":
        members.append(Member(extra, parts[0], "free_rider"))
    elif scenario == "label_flip":
        members.append(Member(extra, parts[1], "label_flip"))
    elif scenario == "duplicate":
        members.append(Member(extra, parts[0]))
    elif scenario == "sybil":
        half = len(parts[0].y) // 2
        members[0] = Member("m0", parts[0].subset(np.arange(half)))
        members.append(Member(extra, parts[0].subset(np.arange(half, len(parts[0].y)))))
    return members


def updates_of(model: Model, spec: ModelSpec | None, params, members: list[Member], seed: int) -> dict:
    epochs, lr, batch = TRAIN.get(spec, (2, 0.1, 32)) if spec is not None else (2, 0.1, 32)
    return {
        m.name: local_update(
            model, params, m.data, m.behaviour, epochs=epochs, learning_rate=lr, batch_size=batch, seed=seed
        )
        for m in members
    }


# --- 1. batched vs one forward pass per coalition ---------------------------------------------------------------


def batched_row(
    label: str,
    spec: ModelSpec,
    dataset: str,
    threads: int = 1,
    n: int = 10,
    warm_rounds: int = 2,
    compiled: bool = False,
) -> dict[str, object]:
    pool, val, _ = splits(dataset)
    model = build_model(spec)
    torch.set_num_threads(threads)
    members = [Member(f"m{k}", p) for k, p in enumerate(partition(pool, [1.0] * n, 1.0, seed=1, min_size=4))]
    params = model.init_params(0)
    sizes = {m.name: float(len(m.data.y)) for m in members}
    for r in range(warm_rounds):  # a game from a model that has learnt something, as in a real round
        _, params = value_round(
            model, r + 1, params, updates_of(model, spec, params, members, r), sizes, val.X, val.y, ValuationConfig()
        )
    updates = updates_of(model, spec, params, members, 99)
    masks = ((np.arange(1, 2**n)[:, None] >> np.arange(n)) & 1).astype(bool)
    fast_model = build_model(ModelSpec(**{**spec.__dict__, "compile": True})) if compiled else model
    started = time.perf_counter()  # a game evaluates v(empty) when made: torch.compile runs then, once per process
    batched = make_game(fast_model, params, updates, sizes, val.X, val.y)
    compile_seconds = time.perf_counter() - started if compiled else 0.0
    looped = make_game(OnePassPerCoalition(model), params, updates, sizes, val.X, val.y)
    t0, c0 = time.perf_counter(), time.process_time()
    fast = batched.value(masks)
    t1, c1 = time.perf_counter(), time.process_time()
    slow = looped.value(masks)
    t2, c2 = time.perf_counter(), time.process_time()
    torch.set_num_threads(1)  # the default ([model] threads) for everything after
    row = {
        "case": f"{label} {threads} thread{'s' if threads > 1 else ''}{' compiled' if compiled else ''}",
        "threads": threads,
        "compile_seconds": compile_seconds,
        "coalitions": len(masks),
        "validation_rows": len(val.y),
        "parameters": sum(int(p.size) for p in params),
        "chunk": chunk_size(model, len(val.y)),  # type: ignore[arg-type]
        "batched_seconds": t1 - t0,
        "per_coalition_seconds": t2 - t1,
        "speedup": (t2 - t1) / (t1 - t0),
        "batched_cpu_seconds": c1 - c0,
        "per_coalition_cpu_seconds": c2 - c1,
        "cpu_speedup": (c2 - c1) / (c1 - c0),
        "max_abs_difference": float(np.abs(fast - slow).max()),
    }
    print(_line(row), flush=True)
    return row


# --- 2. the CNN scenarios --------------------------------------------------------------------------------------


@dataclass
class Run:
    shares: dict[str, float]
    accuracy: float
    flagged_late: dict[str, int] = field(default_factory=dict)
    exact_seconds: list[float] = field(default_factory=list)
    exact_cpu_seconds: list[float] = field(default_factory=list)
    spearman: list[float] = field(default_factory=list)
    evaluations_frac: list[float] = field(default_factory=list)


def train(
    spec: ModelSpec,
    members: list[Member],
    val: Dataset,
    test: Dataset,
    rounds: int,
    seed: int,
    compare: bool,
    robust: bool = True,
) -> Run:
    model = build_model(spec)
    params = model.init_params(seed)
    config = ValuationConfig(method="exact", seed=seed, budget=BUDGET)
    prints = {m.name: record_fingerprints(m.data.X, b"bench") for m in members}
    sizes = effective_sizes(prints) if robust else {m.name: float(len(m.data.y)) for m in members}
    counts = {m.name: len(m.data.y) for m in members}
    totals = {m.name: 0.0 for m in members}
    past: dict[str, float] = {}
    run = Run({}, 0.0)
    for r in range(1, rounds + 1):
        updates = updates_of(model, spec, params, members, seed * 1000 + r)
        started, cpu = time.perf_counter(), time.process_time()
        valuation, new_params = value_round(
            model, r, params, updates, counts, val.X, val.y, config, effective_sizes=sizes, past_values=past
        )
        run.exact_seconds.append(time.perf_counter() - started)
        run.exact_cpu_seconds.append(time.process_time() - cpu)
        for name, value in valuation.values.items():
            past[name] = past.get(name, 0.0) + value
            if name not in valuation.flags and value > 0:
                totals[name] += value
        for name in valuation.flags:
            if r > 2:
                run.flagged_late[name] = run.flagged_late.get(name, 0) + 1
        if compare:
            players = {m: updates[m] for m, w in valuation.weights.items() if w > 0}
            game = make_game(model, params, players, {m: sizes[m] for m in players}, val.X, val.y)
            exact = ExactShapley().values(game, np.random.default_rng(r))
            total = game.evaluations
            game.evaluations = 0
            estimate = PermutationShapley(budget=BUDGET).values(game, np.random.default_rng(seed * 7 + r))
            run.evaluations_frac.append(game.evaluations / total)
            run.spearman.append(float(spearmanr(exact, estimate)[0]))
        params = new_params
    grand = sum(totals.values()) or 1.0
    run.shares = {k: v / grand for k, v in totals.items()}
    run.accuracy = model.accuracy(params, test.X, test.y)
    return run


def cnn_rows(rounds: int, scenarios: tuple[str, ...], n: int = 10) -> list[dict[str, object]]:
    pool, val, test = splits("digits")
    rows = []
    for scenario in scenarios:
        members = members_for(scenario, pool, n, seed=n)
        res = train(CNN, members, val, test, rounds, seed=n, compare=True)
        row: dict[str, object] = {
            "case": f"cnn digits n={n} {scenario}",
            "accuracy": res.accuracy,
            "exact_seconds_median": statistics.median(res.exact_seconds),
            "exact_seconds_max": max(res.exact_seconds),
            "exact_cpu_seconds_max": max(res.exact_cpu_seconds),
            "gtg_spearman_min": min(res.spearman),
            "gtg_spearman_mean": statistics.fmean(res.spearman),
            "gtg_evaluations_frac_max": max(res.evaluations_frac),
        }
        adversary = f"m{n - 1}"
        if scenario == "zero_free_rider":
            row["free_rider_share"] = res.shares[adversary]
        if scenario == "label_flip":
            row["poisoner_share"] = res.shares[adversary]
            row["poisoner_flag_rate_after_r2"] = res.flagged_late.get(adversary, 0) / (rounds - 2)
        if scenario in ("duplicate", "sybil"):
            original = members_for("zero_free_rider", pool, n, seed=n)[:-1]
            honest = train(CNN, original, val, test, rounds, seed=n, compare=False)
            naive = train(CNN, members, val, test, rounds, seed=n, compare=False, robust=False)
            row["gain_ratio"] = (res.shares["m0"] + res.shares[adversary]) / honest.shares["m0"]
            row["gain_ratio_without_remedy"] = (naive.shares["m0"] + naive.shares[adversary]) / honest.shares["m0"]
        rows.append(row)
        print(_line(row), flush=True)
    return rows


def cnn_n50_row(rounds: int) -> dict[str, object]:
    pool, val, _ = splits("digits")
    model = build_model(CNN)
    members = [Member(f"m{k}", p) for k, p in enumerate(partition(pool, [1.0] * 50, 1.0, seed=1, min_size=4))]
    params = model.init_params(0)
    counts = {m.name: len(m.data.y) for m in members}
    seconds, cpu_seconds, evaluations = [], [], []
    for r in range(1, rounds + 1):
        updates = updates_of(model, CNN, params, members, r)
        started, cpu = time.perf_counter(), time.process_time()
        config = ValuationConfig(method="auto", budget=2000, seed=r)
        valuation, params = value_round(model, r, params, updates, counts, val.X, val.y, config)
        seconds.append(time.perf_counter() - started)
        cpu_seconds.append(time.process_time() - cpu)
        evaluations.append(valuation.evaluations)
    row = {
        "case": "cnn digits n=50 (auto -> gtg, 2000 coalitions)",
        "method": valuation.method,
        "gtg_seconds_per_round_max": max(seconds),
        "gtg_seconds_per_round_median": statistics.median(seconds),
        "gtg_cpu_seconds_per_round_max": max(cpu_seconds),
        "evaluations_median": statistics.median(evaluations),
    }
    print(_line(row), flush=True)
    return row


# --- 4. the linear path ----------------------------------------------------------------------------------------


def linear_row(dataset: str, rounds: int, n: int = 10) -> dict[str, object]:
    """The exact table (value_round, exact Shapley) of the numpy logistic regression at n = 10."""
    pool, val, _ = splits(dataset)
    model = LogisticRegression(val.X.shape[1], val.n_classes)
    members = [Member(f"m{k}", p) for k, p in enumerate(partition(pool, [1.0] * n, 1.0, seed=n, min_size=4))]
    params = model.init_params()
    counts = {m.name: len(m.data.y) for m in members}
    seconds = []
    for r in range(1, rounds + 1):
        updates = updates_of(model, None, params, members, r)
        started = time.perf_counter()
        _, params = value_round(model, r, params, updates, counts, val.X, val.y, ValuationConfig(method="exact"))
        seconds.append(time.perf_counter() - started)
    row = {"case": f"logistic regression {dataset} n={n} exact", "exact_ms_median": 1000 * statistics.median(seconds)}
    print(_line(row), flush=True)
    return row


# --- 5. credit: logistic regression vs MLP on the same split -------------------------------------------------


def credit_rows() -> list[dict[str, object]]:
    """Both examples' [data], members and [training], trained in-process with value_round every round."""
    rows = []
    for example in ("finance.toml", "credit-mlp.toml"):
        config = load_config(REPO / "examples" / example)
        data, training = config.data, config.training
        pool, val, test = holdout(load_builtin("credit"), data.validation_fraction, data.test_fraction, data.seed)
        scaler = Standardizer.fit(val)
        pool, val, test = scaler.transform(pool), scaler.transform(val), scaler.transform(test)
        parts = partition(pool, [m.weight for m in config.members], data.label_skew, seed=data.seed)
        members = [Member(m.name, p, m.behaviour) for m, p in zip(config.members, parts, strict=True)]
        from fairshare.consortium.setup import model_spec

        model = build_model(model_spec(config, val.X.shape[1], val.n_classes))
        params = model.init_params(training.seed)
        counts = {m.name: len(m.data.y) for m in members}
        for r in range(1, training.rounds + 1):
            updates = {
                m.name: local_update(
                    model,
                    params,
                    m.data,
                    m.behaviour,
                    epochs=training.local_epochs,
                    learning_rate=training.learning_rate,
                    batch_size=training.batch_size,
                    seed=training.seed * 1000 + r,
                )
                for m in members
            }
            _, params = value_round(model, r, params, updates, counts, val.X, val.y, ValuationConfig())
        probs = model.predict_proba(params, test.X)[:, 1]
        row = {
            "case": f"credit {config.model.kind} ({example})",
            "rounds": training.rounds,
            "test_accuracy": model.accuracy(params, test.X, test.y),
            "test_auc": float(roc_auc_score(test.y, probs)),
            "test_log_loss": model.log_loss(params, test.X, test.y),
        }
        rows.append(row)
        print(_line(row), flush=True)
    return rows


def _line(row: dict[str, object]) -> str:
    parts = [f"{row['case']:<48}"]
    for key, value in row.items():
        if key != "case":
            parts.append(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}")
    return " ".join(parts)


def summary(result: dict[str, list[dict[str, object]]]) -> dict[str, object]:
    """The issue's targets, each with the measured figure."""
    cnn = result["cnn"]

    def pick(key: str, fn=max) -> float:
        values = [float(r[key]) for r in cnn if key in r]
        return fn(values) if values else float("nan")

    batched = {r["case"]: r for r in result["batched"]}
    linear = {r["case"]: r for r in result["linear"]}
    return {
        "batched_speedup_cnn": batched["cnn digits 1 thread"]["speedup"],
        "batched_cpu_speedup_cnn": batched["cnn digits 1 thread"]["cpu_speedup"],
        "batched_speedup_cnn_2_threads": batched["cnn digits 2 threads"]["speedup"],
        "batched_speedup_mlp": batched["mlp credit 1 thread"]["speedup"],
        "batched_speedup_cnn_compiled": batched["cnn digits 1 thread compiled"]["speedup"],
        "batched_cpu_speedup_cnn_compiled": batched["cnn digits 1 thread compiled"]["cpu_speedup"],
        "batched_max_abs_difference": max(float(r["max_abs_difference"]) for r in result["batched"]),
        "cnn_n10_exact_seconds_per_round_max": pick("exact_seconds_max"),
        "cnn_n10_exact_cpu_seconds_per_round_max": pick("exact_cpu_seconds_max"),
        "cnn_n10_gtg_spearman_min_over_rounds": pick("gtg_spearman_min", min),
        "cnn_n10_gtg_evaluations_frac_max": pick("gtg_evaluations_frac_max"),
        "cnn_n50_gtg_seconds_per_round_max": result["cnn_n50"][0]["gtg_seconds_per_round_max"],
        "cnn_n50_gtg_cpu_seconds_per_round_max": result["cnn_n50"][0]["gtg_cpu_seconds_per_round_max"],
        "cnn_free_rider_share": pick("free_rider_share"),
        "cnn_poisoner_share": pick("poisoner_share"),
        "cnn_poisoner_flag_rate_after_r2": pick("poisoner_flag_rate_after_r2", min),
        "cnn_duplicate_gain": next((float(r["gain_ratio"]) for r in cnn if "duplicate" in r["case"]), float("nan")),
        "cnn_sybil_gain": next((float(r["gain_ratio"]) for r in cnn if "sybil" in r["case"]), float("nan")),
        "linear_exact_n10_ms_breast_cancer": linear["logistic regression breast_cancer n=10 exact"]["exact_ms_median"],
        "linear_exact_n10_ms_digits": linear["logistic regression digits n=10 exact"]["exact_ms_median"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and scenarios")
    parser.add_argument("--json", type=Path, help="write the rows and the summary here")
    args = parser.parse_args()
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    rounds = 4 if args.quick else 8
    result: dict[str, list[dict[str, object]]] = {
        "batched": [
            batched_row("cnn digits", CNN, "digits", threads=1),
            batched_row("cnn digits", CNN, "digits", threads=2),
            batched_row("mlp credit", MLP, "credit", threads=1),
            batched_row("cnn digits", CNN, "digits", threads=1, compiled=True),
        ],
        "cnn": cnn_rows(rounds, ("zero_free_rider", "label_flip") if args.quick else SCENARIOS),
        "cnn_n50": [cnn_n50_row(2 if args.quick else 3)],
        "linear": [linear_row("breast_cancer", 5), linear_row("digits", 5)],
        "credit": [] if args.quick else credit_rows(),
    }
    out: dict[str, object] = {
        "summary": summary(result),
        **result,
        "seconds": time.perf_counter() - started,
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "device": "cuda" if torch.cuda.is_available() else "cpu",
            "load_average_start": load_before,
            "load_average_end": os.getloadavg()[0],
        },
    }
    print("\ntarget summary")
    for key, value in out["summary"].items():  # type: ignore[union-attr]
        print(f"  {key:<42} {value:.4f}" if isinstance(value, float) else f"  {key:<42} {value}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2, default=float))
        print(f"written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
