"""Serving benchmark: the cost of metering, and billing that survives SIGKILL.

    python benchmarks/serving.py [--quick] [--json FILE]

1. Throughput and p50/p99 latency of ``POST /v1/predict``: the same app in three uvicorn processes on
   127.0.0.1 — unmetered, metered without receipts, and metered with signed receipts (what ``fairshare serve``
   runs) — driven in turn by the same closed-loop keep-alive clients (1, 8, 16 and 32 connections) from this
   process. Throughput is the peak over those levels; each level's ratios are printed too (with few
   connections in flight a paid call's fsync leaves the server idle).
2. Signing cost: CPU per receipt batch (leaf hashes, Merkle tree, proofs, one EIP-712 signature) for batch
   sizes 1 to 64, against signing every receipt on its own.
3. Crash test: clients send calls with Idempotency-Keys and retry until answered while the metered server
   (receipts on) is killed with SIGKILL and restarted, 20 times. The key's credit was bought in a CreditVault
   on a real embedded chain. Afterwards: billed calls == answered calls, and after a settlement through the
   vault, settled + pending == billed.
4. Settlement scale: 100,000 billed calls (each with its receipt) settle in one vault transaction.
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
from eth_account import Account

from fairshare.learning.logistic import LogisticRegression
from fairshare.learning.model import params_hash
from fairshare.ledger.receipts import Receipt, ReceiptSigner
from fairshare.serving.app import create_app
from fairshare.serving.credit import sync_credit
from fairshare.serving.receipting import Receipting
from fairshare.serving.released import ReleasedModel
from fairshare.serving.server import free_port
from fairshare.serving.settle import settle
from fairshare.serving.store import UsageStore

PRICE = 10**12
FEATURES = 30
MODEL_FEATURES = {"logistic": FEATURES, "torch": 64}
SIGNER_ENV = "FAIRSHARE_BENCH_SIGNER"
"""How the benchmark hands its server processes the receipt key, chain id and vault (key:chain_id:vault)."""


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
    receipts = None
    if os.environ.get(SIGNER_ENV):
        key, chain_id, vault = os.environ[SIGNER_ENV].split(":")
        receipts = Receipting(ReceiptSigner(Account.from_key(key), int(chain_id), vault))
    app = create_app(store, _released(model), lambda: PRICE, metering=metering, receipts=receipts)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="error", access_log=False)


def _signer_env(account, chain_id: int = 31337, vault: str = "0x" + "11" * 20) -> str:
    return f"{account.key.to_0x_hex()}:{chain_id}:{vault}"


def _start(
    db: str, metering: bool, port: int | None = None, signer: str | None = None, model: str = "logistic"
) -> tuple[subprocess.Popen[bytes], str]:
    port = port or free_port()
    flag = "--metered" if metering else "--unmetered"
    env = {k: v for k, v in os.environ.items() if k != SIGNER_ENV}
    if signer:
        env[SIGNER_ENV] = signer
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", db, "--port", str(port), flag, "--model", model],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
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
    """Receipts, metered without receipts and unmetered at each concurrency level, in turn, so machine noise
    hits all three alike."""
    features = MODEL_FEATURES[model]
    with tempfile.TemporaryDirectory() as folder:
        db = f"sqlite:///{folder}/usage.sqlite"
        key = UsageStore(db).create_key("bench", credit=10**30)
        servers = {  # the two metered servers share the store: they are loaded in turn, never together
            "receipts": _start(db, True, signer=_signer_env(Account.create()), model=model),
            "metered": _start(db, True, model=model),
            "unmetered": _start(f"sqlite:///{folder}/unused.sqlite", False, model=model),
        }
        table: list[dict[str, object]] = []
        served = 0
        try:
            for _, url in servers.values():
                _load(url, key, 1, 8, features)  # warm up
            for clients in levels:
                runs: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
                for _ in range(repeats):
                    for name, (process, url) in servers.items():
                        cpu = _cpu_seconds(process.pid)
                        run = _load(url, key, seconds, clients, features)
                        run["server_cpu_ms_per_call"] = 1000 * (_cpu_seconds(process.pid) - cpu) / run["requests"]
                        runs[name].append(run)
                served += int(sum(r["requests"] for r in runs["receipts"]))
                row: dict[str, object] = {"clients": clients}
                for name, rs in runs.items():
                    row[name] = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
                rate = {name: row[name]["req_per_s"] for name in servers}  # type: ignore[index]
                row["receipts_over_unmetered"] = rate["receipts"] / rate["unmetered"]
                row["receipts_over_metered"] = rate["receipts"] / rate["metered"]
                row["metered_over_unmetered"] = rate["metered"] / rate["unmetered"]
                table.append(row)
        finally:
            for process, _ in servers.values():
                process.kill()
        billed = UsageStore(db).summary().calls
    header = ("clients", "receipts req/s", "p50/p99 ms", "metered req/s", "unmetered req/s", "rcpt/unm", "rcpt/met")
    print(f"\nmodel: {model}")
    print("{:>7} {:>15} {:>13} {:>14} {:>16} {:>9} {:>9}".format(*header))
    for row in table:
        r, m, u = row["receipts"], row["metered"], row["unmetered"]
        print(
            f"{row['clients']:>7} {r['req_per_s']:>15.0f} {r['p50_ms']:>6.2f}/{r['p99_ms']:<6.2f} "
            f"{m['req_per_s']:>14.0f} {u['req_per_s']:>16.0f} "
            f"{row['receipts_over_unmetered']:>9.2f} {row['receipts_over_metered']:>9.2f}"
        )
    peak = {m: max(row[m]["req_per_s"] for row in table) for m in ("receipts", "metered", "unmetered")}  # type: ignore[index]
    print(
        f"peak: receipts {peak['receipts']:.0f} req/s, metered without receipts {peak['metered']:.0f}, "
        f"unmetered {peak['unmetered']:.0f}"
    )
    cpu = {
        name: statistics.median(row[name]["server_cpu_ms_per_call"] for row in table if row["clients"] >= 8)  # type: ignore[index]
        for name in ("receipts", "metered", "unmetered")
    }
    print(
        "server CPU per call (median over 8-32 clients): "
        + ", ".join(f"{name} {ms:.3f} ms" for name, ms in cpu.items())
    )
    # every metered call answered in the timed runs was billed (warm-up calls are billed too)
    return {
        "levels": table,
        "peak_req_per_s": peak,
        "peak_ratio": peak["receipts"] / peak["unmetered"],
        "peak_ratio_without_receipts": peak["metered"] / peak["unmetered"],
        "server_cpu_ms_per_call": cpu,
        "metered_billed_at_least_served": billed >= served,
    }


def _cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used (Linux /proc): the cost per call that a busy machine cannot hide."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def signing_cost(sizes: list[int], repeats: int = 200) -> dict[str, object]:
    """CPU per receipt when a batch of ``size`` receipts is signed at once (what each group commit does)."""
    signer = ReceiptSigner(Account.create(), 31337, "0x" + "11" * 20)
    rows = []
    for size in sizes:
        receipts = [
            Receipt(bytes(32), i.to_bytes(32, "big"), 1, PRICE, PRICE * (i + 1), bytes(32)) for i in range(size)
        ]
        started = time.process_time()
        for _ in range(repeats):
            signer.sign(receipts)
        per_batch = (time.process_time() - started) / repeats
        rows.append({"batch": size, "us_per_batch": 1e6 * per_batch, "us_per_receipt": 1e6 * per_batch / size})
    print("\n{:>6} {:>13} {:>15}".format("batch", "us per batch", "us per receipt"))
    for row in rows:
        print(f"{row['batch']:>6} {row['us_per_batch']:>13.0f} {row['us_per_receipt']:>15.1f}")
    return {"levels": rows, "one_signature_per_receipt_us": rows[0]["us_per_batch"]}


class _ChainSink:
    """Settlement through a CreditVault on a real embedded chain; the benchmark key's credit is bought there."""

    def __init__(self, home: Path) -> None:
        from fairshare.ledger import GovernanceSettings, LedgerClient, connect, deploy_consortium
        from fairshare.ledger.vault import OperatorVault, VaultClient

        self.chain = connect(None, home)
        member = Account.create().address
        self.deployment = deploy_consortium(
            self.chain,
            name="bench",
            treasury=Account.create().address,
            treasury_cut_bps=500,
            oracle=self.chain.operator,
            governance=GovernanceSettings(members=(("m", member),)),
        )
        self.client = LedgerClient(self.chain, self.deployment)
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
        self.vault = VaultClient(self.chain, self.deployment, self.client.index)
        self.operator = OperatorVault(self.vault, self.chain.operator)
        self.transactions = 0

    @property
    def signer(self) -> str:
        return _signer_env(self.chain.operator, self.chain.chain_id, self.vault.address)

    def receipts(self) -> Receipting:
        return Receipting(ReceiptSigner(self.chain.operator, self.chain.chain_id, self.vault.address))

    def buy(self, store: UsageStore, key: str, amount: int) -> None:
        from fairshare.ledger.vault import key_hash

        self.vault.deposit(self.chain.operator, key_hash(key.split("_")[1]), amount)
        sync_credit(store, self.vault)

    def find_window(self, root: bytes) -> int | None:
        return self.operator.find_window(root)

    def post_window(self, root: bytes, batches: int) -> int:
        self.transactions += 1
        return self.operator.post_window(root, batches)

    def settled(self, key: bytes) -> tuple[int, int]:
        return self.operator.settled(key)

    def settle(self, window_id: int, totals) -> tuple[int, str]:
        self.transactions += 1
        return self.operator.settle(window_id, totals)


def crash_test(kills: int, clients: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder:
        db = f"sqlite:///{folder}/usage.sqlite"
        key = UsageStore(db).create_key("crash")
        sink = _ChainSink(Path(folder) / "chain")
        sink.buy(UsageStore(db), key, 10**21)
        port = free_port()
        process, url = _start(db, True, port, sink.signer)
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
            process, _ = _start(db, True, port, sink.signer)
        time.sleep(0.5)
        done.set()
        for t in threads:
            t.join()
        process.kill()
        store = UsageStore(db)
        billed = store.summary()
        first = settle(store, sink)
        store.debit(key, 1, PRICE, "late", "after-settlement", receipts=sink.receipts())
        after = store.summary()
        vault_settled = sink.vault.totals()["settled"]
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
        "vault_settled_equals_store_settled": vault_settled == after.settled,
        "settlement_transactions": sink.transactions,
        "settled_calls": first.calls if first else 0,
    }
    print(json.dumps(out), flush=True)
    return out


def settlement_scale(calls: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder:
        store = UsageStore(f"sqlite:///{folder}/usage.sqlite")
        key = store.create_key("scale")
        sink = _ChainSink(Path(folder) / "chain")
        sink.buy(store, key, calls * PRICE)
        receipts = sink.receipts()
        started = time.perf_counter()
        for i in range(calls):
            store.debit(key, 1, PRICE, "m", f"r{i}", receipts=receipts)
        billing_seconds = time.perf_counter() - started
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
    parser.add_argument("--only", choices=["throughput"], help="Only the throughput comparison (and the signing cost).")
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
        "signing": signing_cost([1, 8, 32, 64]),
    }
    if torch_available():
        result["throughput_torch"] = throughput(3 if args.quick else 5, levels, 2, "torch")
    if args.only == "throughput":
        print(json.dumps({k: result["throughput"][k] for k in ("peak_req_per_s", "server_cpu_ms_per_call")}))
        if args.json:
            args.json.write_text(json.dumps(result, indent=2))
        return 0
    result["crash"] = crash_test(5 if args.quick else 20, 4)
    result["settlement"] = settlement_scale(5_000 if args.quick else 100_000)
    summary = {
        "peak_metered_with_receipts_over_peak_unmetered": result["throughput"]["peak_ratio"],
        "peak_metered_without_receipts_over_peak_unmetered": result["throughput"]["peak_ratio_without_receipts"],
        "receipt_signature_us_batch_of_1": result["signing"]["one_signature_per_receipt_us"],
        "crash_billed_equals_answered": result["crash"]["billed_equals_answered"],
        "crash_settled_plus_pending_equals_billed": result["crash"]["settled_plus_pending_equals_billed"],
        "settlement_transactions_for_all_calls": result["settlement"]["settlement_transactions"],
        "settlement_deposit_exact": result["settlement"]["deposited_on_chain"] == result["settlement"]["expected"],
    }
    if "throughput_torch" in result:
        torch_run = result["throughput_torch"]
        summary["torch_peak_metered_with_receipts_req_per_s"] = torch_run["peak_req_per_s"]["receipts"]  # type: ignore[index]
        summary["torch_peak_metered_with_receipts_over_peak_unmetered"] = torch_run["peak_ratio"]
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
