"""fairshare's own ServerApp and ClientApp on Flower's Simulation Engine (Ray) against the in-process Grid.

    python benchmarks/runtimes.py [--members 10 100 1000] [--rounds 2] [--json FILE]

For each size, the same federation (generated data, 40 rows per member, logistic regression, one local epoch,
FedAvg as the round hook: no valuation or chain, so what is measured is training and the runtime) runs on both
runtimes in this process, one after the other. Reported per runtime: seconds per round (mean of the rounds after
the first, whose start-up differs: Ray starts its workers, the in-process runner decrypts nothing), the first
round, and the whole call. The two must release the same models: the script checks that the final model hashes
agree and says so. Ray needs the optional extra (``pip install -e ".[simulation]"``); without it that column
says so.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from fairshare.learning.data import Standardizer, holdout, load_builtin, partition, save_partition
from fairshare.learning.logistic import LogisticRegression
from fairshare.learning.model import params_hash
from fairshare.learning.runner import FederationSpec, MemberSpec, run_federation
from fairshare.learning.serverapp import RoundResult
from fairshare.learning.simulation import run_on_simulation_engine
from fairshare.learning.strategy import RoundUpdates, fedavg

ROWS_PER_MEMBER = 40


def federation(members: int, rounds: int, folder: Path) -> FederationSpec:
    pool, validation, test = holdout(load_builtin("synthetic"), 0.01, 0.01, seed=0)
    scaler = Standardizer.fit(validation)
    pool = pool.subset(np.arange(members * ROWS_PER_MEMBER))
    specs = []
    for k, part in enumerate(partition(scaler.transform(pool), [1.0] * members, None, seed=0)):
        path = folder / f"m{k:04d}.npz"
        save_partition(part, path)
        specs.append(MemberSpec(name=f"m{k:04d}", data_path=path))
    model = LogisticRegression(pool.X.shape[1], pool.n_classes)
    return FederationSpec(model, specs, rounds, 1, 0.1, 16, 0, scaler.transform(test))


def measure(runtime: str, spec: FederationSpec) -> dict[str, object]:
    marks: list[float] = []

    def on_round(_: RoundResult) -> None:
        marks.append(time.perf_counter())

    def hook(updates: RoundUpdates):
        return fedavg(updates.global_params, updates.updates)

    started = time.perf_counter()
    run = run_federation if runtime == "in-process" else run_on_simulation_engine
    result = run(spec, hook, on_round=on_round)
    total = time.perf_counter() - started
    rounds = np.diff([started, *marks])
    return {
        "runtime": runtime,
        "members": len(spec.members),
        "first_round_seconds": float(rounds[0]),
        "round_seconds": float(np.mean(rounds[1:])) if len(rounds) > 1 else float(rounds[0]),
        "call_seconds": total,
        "model": params_hash(result.params).hex(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    runtimes = ["in-process"] + (["simulation"] if importlib.util.find_spec("ray") else [])
    if len(runtimes) == 1:
        print("simulation: unavailable (pip install -e '.[simulation]')")
    rows = []
    print(f"{'members':>8} | {'runtime':<10} | {'s/round':>8} | {'first round':>11} | {'call':>8} | same model")
    for members in args.members:
        with tempfile.TemporaryDirectory() as folder:
            spec = federation(members, args.rounds, Path(folder))
            measured = [measure(r, spec) for r in runtimes]
        for row in measured:
            row["same_model"] = row["model"] == measured[0]["model"]
            rows.append(row)
            cells = [
                f"{row['round_seconds']:8.2f}",
                f"{row['first_round_seconds']:11.2f}",
                f"{row['call_seconds']:8.2f}",
            ]
            print(f"{members:>8} | {row['runtime']:<10} | {' | '.join(cells)} | {'yes' if row['same_model'] else 'NO'}")
        if len(measured) == 2:
            ratio = measured[1]["round_seconds"] / measured[0]["round_seconds"]
            print(f"{'':>8}   simulation / in-process per round: {ratio:.1f}x")
    if args.json:
        machine = {"cpus": os.cpu_count(), "load": os.getloadavg()}
        args.json.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2))
    return 0 if all(r["same_model"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
