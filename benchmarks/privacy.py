"""Differential privacy benchmark: test accuracy against each member's privacy budget.

    python benchmarks/privacy.py [--quick] [--json FILE]

Five members on breast cancer and on the credit dataset (label skew 1.0, as the demo), 10 rounds, Flower's DP
wrapper with server-side clipping, through the same in-process runner, signed updates and per-member
accounting as ``fairshare train``. For each noise multiplier: test accuracy (mean and spread over seeds of
the DP noise) and the members' epsilon at delta = 1e-5 after 10 rounds (smallest and largest member: a
member's budget depends on its share of the rows, see ``fairshare.learning.privacy``). The first row is
training without DP; the clipping norm is set from the median honest update norm measured in that run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from fairshare.learning.data import Standardizer, holdout, load_builtin, partition, save_partition
from fairshare.learning.logistic import LogisticRegression
from fairshare.learning.privacy import PrivacyBudget, PrivacySettings, member_noise_multipliers
from fairshare.learning.runner import FederationSpec, MemberSpec, run_federation
from fairshare.learning.strategy import RoundUpdates, fedavg

ROUNDS = 10
DELTA = 1e-5
WEIGHTS = [4, 2, 3, 1.5, 2]


def _members(dataset: str, folder: Path):
    pool, validation, test = holdout(load_builtin(dataset), 0.2, 0.2, seed=7)
    scaler = Standardizer.fit(validation)
    members = []
    for k, part in enumerate(partition(pool, WEIGHTS, 1.0, seed=7)):
        path = folder / f"{dataset}-{k}.npz"
        save_partition(scaler.transform(part), path)
        members.append(MemberSpec(f"m{k}", path))
    test = scaler.transform(test)
    return members, test, LogisticRegression(test.X.shape[1], test.n_classes)


def _train(members, test, model, settings: PrivacySettings | None, seed: int) -> tuple[float, dict[str, float], list]:
    np.random.seed(seed)  # Flower's DP noise draws from numpy's global generator
    budget = PrivacyBudget(DELTA)
    norms: list[float] = []

    def hook(updates: RoundUpdates):
        total = sum(u.num_examples for u in updates.updates)
        for u in updates.updates:
            delta = np.concatenate([(p - g).ravel() for p, g in zip(u.params, updates.global_params, strict=True)])
            norms.append(float(np.linalg.norm(delta)))
        if settings is not None:
            weights = {u.member: u.num_examples / total for u in updates.updates}
            budget.compose(member_noise_multipliers(settings, weights, len(members)))
        return fedavg(updates.global_params, updates.updates)

    spec = FederationSpec(model, members, ROUNDS, 2, 0.1, 32, 0, test, privacy=settings)
    result = run_federation(spec, hook)
    accuracy = model.accuracy(result.params, test.X, test.y)
    return accuracy, budget.epsilons(), norms


def run(dataset: str, multipliers: list[float], seeds: int, folder: Path) -> list[dict[str, object]]:
    members, test, model = _members(dataset, folder)
    started = time.perf_counter()
    baseline, _, norms = _train(members, test, model, None, 0)
    clip = float(np.median(norms))
    rows: list[dict[str, object]] = [
        {
            "dataset": dataset,
            "noise_multiplier": 0.0,
            "clipping_norm": None,
            "accuracy": baseline,
            "accuracy_sd": 0.0,
            "epsilon_min": 0.0,
            "epsilon_max": float("inf"),
        }
    ]
    for z in multipliers:
        settings = PrivacySettings("server", noise_multiplier=z, clipping_norm=clip, delta=DELTA)
        accuracies, epsilons = [], {}
        for seed in range(seeds):
            accuracy, epsilons, _ = _train(members, test, model, settings, seed)
            accuracies.append(accuracy)
        rows.append(
            {
                "dataset": dataset,
                "noise_multiplier": z,
                "clipping_norm": clip,
                "accuracy": statistics.mean(accuracies),
                "accuracy_sd": statistics.pstdev(accuracies),
                "epsilon_min": min(epsilons.values()),
                "epsilon_max": max(epsilons.values()),
            }
        )
    print(f"  {dataset}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    multipliers = [0.5, 1.0, 2.0, 4.0] if args.quick else [0.3, 0.5, 1.0, 2.0, 4.0, 8.0]
    seeds = 2 if args.quick else 5
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as folder:
        for dataset in ("breast_cancer", "credit"):
            rows += run(dataset, multipliers, seeds, Path(folder))
    print(f"\n{'dataset':<14} {'noise z':>7} {'clip C':>7} {'accuracy':>15} {'epsilon (min-max member)':>26}")
    for r in rows:
        clip = "-" if r["clipping_norm"] is None else f"{r['clipping_norm']:.3f}"
        eps = "no DP" if r["noise_multiplier"] == 0 else f"{r['epsilon_min']:.2f} - {r['epsilon_max']:.2f}"
        print(
            f"{r['dataset']:<14} {r['noise_multiplier']:>7.1f} {clip:>7} "
            f"{r['accuracy']:>9.3f} ± {r['accuracy_sd']:.3f} {eps:>26}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))
        print(f"written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
