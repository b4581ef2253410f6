"""Serving benchmark: the cost of metering, and billing that survives SIGKILL.

    python benchmarks/serving.py [--quick] [--json FILE]

1. Throughput and p50/p99 latency of ``POST /v1/predict`` with metering on and off: the same app in two
   uvicorn processes on 127.0.0.1, driven alternately by the same closed-loop keep-alive clients (1, 8, 16
   and 32 connections) from this process. Throughput is the peak over those levels; each level's ratio is
   printed too (with few connections in flight a paid call's fsync leaves the server idle). Then the same for
   a released PyTorch network (the imaging example's CNN, one 8x8 image per call) when torch is installed.
2. Crash test: clients send calls with Idempotency-Keys and retry until answered while the metered server is
   killed with SIGKILL and restarted, 20 times. Afterwards: billed calls == answered calls, and after a
   settlement on a real embedded chain, settled + pending == billed.
3. Settlement scale: 100,000 billed calls settle in one distribution transaction.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from fairshare.learning.logistic import LogisticRegression
from fairshare.learning.model import params_hash
from fairshare.serving.app import create_app
from fairshare.serving.released import ReleasedModel
from fairshare.serving.server import free_port
from fairshare.serving.settle import settle
from fairshare.serving.store import UsageStore

PRICE = 10**12
FEATURES = 30
MODEL_FEATURES = {"logistic": FEATURES, "torch": 64}


def _released(model: str = "logistic") -> ReleasedModel:
    if model == "torch":
        from fairshare.learning.factory import build_model
        from fairshare.learning.model import ModelSpec

        cnn = build_model(
            ModelSpec("torch", 64, 10, factory="fairshare.examples_models:make_cnn", input_shape=(1, 8, 8))
        )
        weights = cnn.init_params(0)
        return ReleasedModel(cnn, weights, params_hash(weights).hex())
    rng = np.random.default_rng(0)
    params = [rng.normal(size=(FEATURES, 2)), rng.normal(size=2)]
    return ReleasedModel(LogisticRegression(FEATURES, 2), params, params_hash(params).hex())


def serve_forever(db: str, port: int, metering: bool, model: str = "logistic") -> None:
    import uvicorn

    store = UsageStore(db)
    app = create_app(store, _released(model), lambda: PRICE, metering=metering)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="error", access_log=False)


def _start(
    db: str, metering: bool, port: int | None = None, model: str = "logistic"
) -> tuple[subprocess.Popen[bytes], str]:
    port = port or free_port()
    flag = "--metered" if metering else "--unmetered"
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", db, "--port", str(port), flag, "--model", model],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/v1/model", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"server did not start on {url}")


def _load(url: str, key: str, seconds: float, clients: int, features: int = FEATURES) -> dict[str, float]:
    """Closed-loop load: ``clients`` keep-alive connections, each sending its next call when answered.

    The client is asyncio on raw sockets with the request bytes built once, so it costs a fraction of the
    server's time per call. A thread-per-client httpx client spent as much CPU per call as the server it was
    measuring, on the same two cores, and its GIL became the bottleneck above 8 clients.
    """
    host, port = url.removeprefix("http://").split(":")
    body = json.dumps({"rows": [[0.1] * features]}).encode()
    request = (
        f"POST /v1/predict HTTP/1.1\r\nHost: {host}\r\nX-API-Key: {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body

    async def client(stop: float, latencies: list[float]) -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while time.monotonic() < stop:
                started = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                answer = await reader.readexactly(length)
                if not head.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(f"{head.splitlines()[0].decode()}: {answer.decode()}")
                latencies.append(time.perf_counter() - started)
        finally:
            writer.close()

    async def run() -> tuple[list[float], float]:
        latencies: list[float] = []
        started = time.perf_counter()
        stop = time.monotonic() + seconds
        await asyncio.gather(*(client(stop, latencies) for _ in range(clients)))
        return latencies, time.perf_counter() - started

    latencies, wall = asyncio.run(run())
    latencies.sort()
    return {
        "requests": len(latencies),
        "req_per_s": len(latencies) / wall,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)],
    }


def throughput(seconds: float, levels: list[int], repeats: int, model: str = "logistic") -> dict[str, object]:
    """Metered vs unmetered at each concurrency level, alternating runs so machine noise hits both alike."""
    features = MODEL_FEATURES[model]
    with tempfile.TemporaryDirectory() as folder:
        db = f"sqlite:///{folder}/usage.sqlite"
        key = UsageStore(db).create_key("bench", credit=10**30)
        metered, metered_url = _start(db, True, model=model)
        plain, plain_url = _start(f"sqlite:///{folder}/unused.sqlite", False, model=model)
        table: list[dict[str, object]] = []
        served = 0
        try:
            _load(metered_url, key, 1, 8, features)  # warm up both
            _load(plain_url, key, 1, 8, features)
            for clients in levels:
                runs: dict[str, list[dict[str, float]]] = {"metered": [], "unmetered": []}
                for _ in range(repeats):
                    runs["metered"].append(_load(metered_url, key, seconds, clients, features))
                    runs["unmetered"].append(_load(plain_url, key, seconds, clients, features))
                served += int(sum(r["requests"] for r in runs["metered"]))
                row: dict[str, object] = {"clients": clients}
                for name, rs in runs.items():
                    row[name] = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
                row["metered_over_unmetered"] = row["metered"]["req_per_s"] / row["unmetered"]["req_per_s"]  # type: ignore[index]
                table.append(row)
        finally:
            metered.kill()
            plain.kill()
        billed = UsageStore(db).summary().calls
    header = ("clients", "metered req/s", "p50/p99 ms", "unmetered req/s", "p50/p99 ms", "ratio")
    print(f"\nmodel: {model}\n" + "{:>7} {:>14} {:>12} {:>16} {:>12} {:>6}".format(*header))
    for row in table:
        m, u = row["metered"], row["unmetered"]
        print(
            f"{row['clients']:>7} {m['req_per_s']:>14.0f} {m['p50_ms']:>5.2f}/{m['p99_ms']:<6.2f} "
            f"{u['req_per_s']:>16.0f} {u['p50_ms']:>5.2f}/{u['p99_ms']:<6.2f} {row['metered_over_unmetered']:>6.2f}"
        )
    peak = {m: max(row[m]["req_per_s"] for row in table) for m in ("metered", "unmetered")}  # type: ignore[index]
    print(f"peak: metered {peak['metered']:.0f} req/s, unmetered {peak['unmetered']:.0f} req/s")
    # every metered call answered in the timed runs was billed (warm-up calls are billed too)
    return {
        "levels": table,
        "peak_req_per_s": peak,
        "peak_ratio": peak["metered"] / peak["unmetered"],
        "metered_billed_at_least_served": billed >= served,
    }


class _ChainSink:
    """Settlement into RevenueShares on a real embedded chain."""

    def __init__(self, home: Path) -> None:
        from eth_account import Account

        from fairshare.ledger import GovernanceSettings, LedgerClient, connect, deploy_consortium

        self.chain = connect(None, home)
        member = Account.create().address
        deployment = deploy_consortium(
            self.chain,
            name="bench",
            treasury=Account.create().address,
            treasury_cut_bps=500,
            oracle=self.chain.operator,
            governance=GovernanceSettings(members=(("m", member),)),
        )
        self.client = LedgerClient(self.chain, deployment)
        self.client.record_round(
            self.chain.operator,
            round_id=1,
            model_hash=b"\x01" * 32,
            method="exact",
            params="{}",
            seed=0,
            members=[member],
            scores=[1],
        )
        self.transactions = 0

    def settled_total(self, source: bytes) -> int:
        return self.client.settled_total(source)

    def settle(self, settlement_id: bytes, totals) -> tuple[int, str]:
        self.transactions += 1
        return self.client.settle(self.chain.operator, settlement_id, totals)


def crash_test(kills: int, clients: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder:
        db = f"sqlite:///{folder}/usage.sqlite"
        key = UsageStore(db).create_key("crash", credit=10**30)
        port = free_port()
        process, url = _start(db, True, port)
        answered: set[str] = set()
        lock = threading.Lock()
        done = threading.Event()
        retries = [0]

        def worker(k: int) -> None:
            n = 0
            with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=5) as client:
                while not done.is_set():
                    request_id = f"c{k}-{n}"
                    while True:  # retry the same request until it is answered
                        try:
                            response = client.post(
                                "/v1/predict",
                                json={"rows": [[0.2] * FEATURES]},
                                headers={"Idempotency-Key": request_id},
                            )
                            if response.status_code == 200:
                                break
                        except httpx.HTTPError:
                            pass
                        with lock:
                            retries[0] += 1
                        time.sleep(0.05)
                    with lock:
                        answered.add(request_id)
                    n += 1

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
        for t in threads:
            t.start()
        rng = np.random.default_rng(1)
        for _ in range(kills):
            time.sleep(float(rng.uniform(0.2, 0.6)))
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            process, _ = _start(db, True, port)
        time.sleep(0.5)
        done.set()
        for t in threads:
            t.join()
        process.kill()
        store = UsageStore(db)
        billed = store.summary()
        sink = _ChainSink(Path(folder) / "chain")
        first = settle(store, sink)
        store.debit(key, 1, PRICE, "late", "after-settlement")
        after = store.summary()
        sink.chain.close()
    out = {
        "kills": kills,
        "answered": len(answered),
        "billed_calls": billed.calls,
        "billed_equals_answered": billed.calls == len(answered) and billed.revenue == len(answered) * PRICE,
        "client_retries": retries[0],
        "settled": after.settled,
        "pending": after.pending,
        "settled_plus_pending_equals_billed": after.settled + after.pending == after.revenue,
        "settlement_transactions": sink.transactions,
        "settled_calls": first.calls if first else 0,
    }
    print(json.dumps(out), flush=True)
    return out


def settlement_scale(calls: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder:
        store = UsageStore(f"sqlite:///{folder}/usage.sqlite")
        key = store.create_key("scale", credit=10**30)
        started = time.perf_counter()
        for i in range(calls):
            store.debit(key, 1, PRICE, "m", f"r{i}")
        billing_seconds = time.perf_counter() - started
        sink = _ChainSink(Path(folder) / "chain")
        started = time.perf_counter()
        result = settle(store, sink)
        seconds = time.perf_counter() - started
        on_chain = sink.client.totals()["deposited"]
        sink.chain.close()
    out = {
        "calls": calls,
        "settlement_transactions": sink.transactions,
        "settled_calls": result.calls if result else 0,
        "deposited_on_chain": on_chain,
        "expected": calls * PRICE,
        "settle_seconds": seconds,
        "debits_per_s": calls / billing_seconds,
    }
    print(json.dumps(out), flush=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--metered", dest="metering", action="store_true", default=True, help=argparse.SUPPRESS)
    parser.add_argument("--unmetered", dest="metering", action="store_false", help=argparse.SUPPRESS)
    parser.add_argument("--model", default="logistic", choices=sorted(MODEL_FEATURES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_forever(args.serve, args.port, args.metering, args.model)
        return 0
    from fairshare.learning.factory import torch_available

    levels = [1, 8, 16, 32]
    result = {
        "throughput": throughput(3 if args.quick else 5, levels, 2 if args.quick else 3),
        **({"throughput_torch": throughput(3 if args.quick else 5, levels, 2, "torch")} if torch_available() else {}),
        "crash": crash_test(5 if args.quick else 20, 4),
        "settlement": settlement_scale(5_000 if args.quick else 100_000),
    }
    summary = {
        "peak_metered_over_peak_unmetered": result["throughput"]["peak_ratio"],
        "crash_billed_equals_answered": result["crash"]["billed_equals_answered"],
        "crash_settled_plus_pending_equals_billed": result["crash"]["settled_plus_pending_equals_billed"],
        "settlement_transactions_for_all_calls": result["settlement"]["settlement_transactions"],
    }
    if "throughput_torch" in result:
        torch_run = result["throughput_torch"]
        summary["torch_peak_metered_req_per_s"] = torch_run["peak_req_per_s"]["metered"]  # type: ignore[index]
        summary["torch_peak_metered_over_peak_unmetered"] = torch_run["peak_ratio"]
    result["summary"] = summary
    print("\nsummary")
    for key, value in summary.items():
        print(f"  {key:<42} {value}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
        print(f"written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
