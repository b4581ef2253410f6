"""Flower's Simulation Engine (Ray backend) against fairshare's in-process Grid: the same ServerApp and ClientApp.

    python benchmarks/runtimes.py [--nodes 100 1000] [--json FILE]

A deliberately light ClientApp (adds 0.01 to a 21x4 model: the cost of a member's local training here is a few
milliseconds) and Flower's FedAvg ServerApp over N nodes for 2 rounds, so what is measured is the runtime's own
cost per message. Each runtime runs in its own subprocess. Ray needs the optional extra
(``pip install -e ".[simulation]"``); without it that column says so.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

APP = """
import os, sys, time, logging
os.environ["FLWR_TELEMETRY_ENABLED"] = "0"
import numpy as np
from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg

mode, N = sys.argv[1], int(sys.argv[2])
client = ClientApp()

@client.train()
def train(msg: Message, context: Context) -> Message:
    arrays = [a + 0.01 for a in msg.content["arrays"].to_numpy_ndarrays()]
    content = RecordDict({"arrays": ArrayRecord(arrays), "metrics": MetricRecord({"num-examples": 50})})
    return Message(content=content, reply_to=msg)

server = ServerApp()

@server.main()
def main(grid: Grid, context: Context) -> None:
    strategy = FedAvg(fraction_train=1.0, fraction_evaluate=0.0, min_train_nodes=N, min_available_nodes=N)
    started = time.perf_counter()
    strategy.start(grid=grid, initial_arrays=ArrayRecord([np.zeros((21, 4))]), num_rounds=2)
    print(f"ROUNDS {time.perf_counter() - started:.3f}", flush=True)

logging.getLogger("flwr").setLevel(logging.ERROR)
if mode == "ray":
    from flwr.simulation import run_simulation
    run_simulation(server_app=server, client_app=client, num_supernodes=N,
                   backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0}})
else:
    from flwr.common.constant import SUPERLINK_NODE_ID
    from flwr.supercore.task_identity import TaskIdentity
    from fairshare.learning.runner import InProcessGrid
    contexts = {i: Context(run_id=1, node_id=i, node_config={}, state=RecordDict(), run_config={})
                for i in range(1, N + 1)}
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, SUPERLINK_NODE_ID, 1
    server(InProcessGrid(client, contexts, 1),
           Context(1, SUPERLINK_NODE_ID, node_config={}, state=RecordDict(), run_config={}))
"""


def measure(mode: str, nodes: int) -> dict[str, object]:
    started = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    done = subprocess.run(
        [sys.executable, "-c", APP, mode, str(nodes)], capture_output=True, text=True, timeout=1200, env=env
    )
    wall = time.perf_counter() - started
    found = re.search(r"ROUNDS ([0-9.]+)", done.stdout)
    if done.returncode != 0 or found is None:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"runtime": mode, "nodes": nodes, "error": last}
    return {"runtime": mode, "nodes": nodes, "rounds_seconds": float(found.group(1)), "process_seconds": wall}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = [measure(mode, n) for n in args.nodes for mode in ("inprocess", "ray")]
    for r in rows:
        if "error" in r:
            print(f"{r['runtime']:>9} {r['nodes']:>5} nodes: unavailable ({r['error']})")
        else:
            print(
                f"{r['runtime']:>9} {r['nodes']:>5} nodes: 2 rounds in {r['rounds_seconds']:7.2f} s "
                f"(process {r['process_seconds']:6.2f} s)"
            )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
