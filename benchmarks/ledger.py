"""Ledger benchmark: O(1) distribution gas, round-record gas, embedded chain speed, audit time.

    python benchmarks/ledger.py [--quick] [--json FILE]

- gas of ``distribute`` and ``withdraw`` with 1, 10 and 128 share holders (must not grow; payees must be admitted
  members, and the Governor takes at most 128 founding members);
- gas of ``record_round`` and per member minted;
- transactions per second of the embedded chain vs stock eth-tester (in-memory py-evm, block-scanning
  lookups), same transfers, same process, and the time to look up the oldest transaction's receipt after
  them (stock eth-tester scans every block back to it; the embedded chain uses py-evm's hash index);
- time of the full audit over 1,000 recorded rounds.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from eth_account import Account
from eth_tester import EthereumTester, PyEVMBackend
from web3 import EthereumTesterProvider, Web3

from fairshare.ledger import GovernanceSettings, LedgerClient, audit, connect, deploy_consortium
from fairshare.ledger.chain import Chain
from fairshare.ledger.deploy import ShareRule

BATCH = 128


def _consortium(home: Path, members: list[str]) -> tuple[Chain, LedgerClient]:
    """A consortium whose founding members are ``members`` (only admitted members can be paid)."""
    chain = connect(None, home)
    treasury = Account.create().address
    deployment = deploy_consortium(
        chain,
        name="bench",
        treasury=treasury,
        treasury_cut_bps=500,
        oracle=chain.operator,
        governance=GovernanceSettings(members=tuple((f"m{k}", a) for k, a in enumerate(members))),
        share_rule=ShareRule(share_scale=10**9, round_cap=10**30),
    )
    return chain, LedgerClient(chain, deployment)


def _mint(client: LedgerClient, chain: Chain, holders: list[str], first_round: int) -> list[int]:
    gas = []
    for k in range(0, len(holders), BATCH):
        batch = holders[k : k + BATCH]
        tx = client.record_round(
            chain.operator,
            round_id=first_round + k // BATCH,
            model_hash=(first_round + k).to_bytes(32, "big"),
            method="exact",
            params="{}",
            seed=0,
            members=batch,
            scores=[1000 + i for i in range(len(batch))],
        )
        gas.append(chain.w3.eth.get_transaction_receipt(tx)["gasUsed"])
    return gas


def distribution_gas(sizes: tuple[int, ...]) -> list[dict[str, object]]:
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as home:
            withdrawer = Account.create()
            holders = [withdrawer.address] + [Account.create().address for _ in range(n - 1)]
            chain, client = _consortium(Path(home), holders)
            chain.fund(withdrawer.address, 10**17)
            mint_gas = _mint(client, chain, holders, 1)
            distribute = []
            source = (1).to_bytes(32, "big")  # one API key, settled again and again (its running total grows)
            for k in range(3):  # the first distribution writes fresh storage slots; steady state after
                tx = client.distribute(chain.operator, source, 10**18 + k)
                distribute.append(chain.w3.eth.get_transaction_receipt(tx)["gasUsed"])
            tx = client.distribute(chain.operator, (2).to_bytes(32, "big"), 10**18)  # a key settled the first time
            new_source = chain.w3.eth.get_transaction_receipt(tx)["gasUsed"]
            _, tx = client.withdraw(withdrawer)
            withdraw = chain.w3.eth.get_transaction_receipt(tx)["gasUsed"]
            client.distribute(chain.operator, (9).to_bytes(32, "big"), 10**18)
            _, tx = client.withdraw(withdrawer)
            withdraw_steady = chain.w3.eth.get_transaction_receipt(tx)["gasUsed"]
            chain.close()
        rows.append(
            {
                "holders": n,
                "distribute_gas_first": distribute[0],
                "distribute_gas_steady": distribute[-1],
                "distribute_gas_new_source": new_source,
                "withdraw_gas_first": withdraw,
                "withdraw_gas_steady": withdraw_steady,
                "record_round_gas_per_member": round(sum(mint_gas) / n),
            }
        )
        print(rows[-1], flush=True)
    return rows


def round_gas() -> dict[str, object]:
    out = {}
    for members in (1, 5, 10, 50):
        with tempfile.TemporaryDirectory() as home:
            holders = [Account.create().address for _ in range(members)]
            chain, client = _consortium(Path(home), holders)
            (gas,) = _mint(client, chain, holders, 1)
            out[f"record_round_gas_{members}_members"] = gas
            chain.close()
    out["gas_per_extra_member"] = round((out["record_round_gas_50_members"] - out["record_round_gas_10_members"]) / 40)
    print(out, flush=True)
    return out


def _transfers(w3: Web3, key: bytes, count: int) -> tuple[float, float]:
    """Transfers per second, and milliseconds to look up the receipt of the first transfer afterwards."""
    sender = Account.from_key(key)
    to = Account.create().address
    nonce = w3.eth.get_transaction_count(sender.address)
    fee = 2 * w3.eth.get_block("latest")["baseFeePerGas"] + 1
    chain_id = w3.eth.chain_id
    started = time.perf_counter()
    first = None
    for i in range(count):
        tx = {
            "to": to,
            "value": 1,
            "gas": 21_000,
            "maxFeePerGas": fee,
            "maxPriorityFeePerGas": 1,
            "nonce": nonce + i,
            "chainId": chain_id,
        }
        tx_hash = w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction)
        w3.eth.wait_for_transaction_receipt(tx_hash)
        first = first or tx_hash
    rate = count / (time.perf_counter() - started)
    started = time.perf_counter()
    for _ in range(20):
        w3.eth.get_transaction_receipt(first)
    return rate, (time.perf_counter() - started) / 20 * 1000


def chain_speed(count: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as home:
        chain = connect(None, Path(home))
        ours, ours_lookup = _transfers(chain.w3, chain.operator.key, count)
        chain.close()
    backend = PyEVMBackend()
    stock = EthereumTester(backend)
    w3 = Web3(EthereumTesterProvider(stock))
    theirs, theirs_lookup = _transfers(w3, backend.account_keys[0].to_bytes(), count)
    out = {
        "transactions": count,
        "embedded_tx_per_s": ours,
        "stock_eth_tester_tx_per_s": theirs,
        "ratio": ours / theirs,
        "embedded_oldest_receipt_ms": ours_lookup,
        "stock_oldest_receipt_ms": theirs_lookup,
    }
    print(out, flush=True)
    return out


def audit_time(rounds: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as home:
        members = [Account.create().address for _ in range(5)]
        chain, client = _consortium(Path(home), members)
        hashes = {}
        started = time.perf_counter()
        for r in range(1, rounds + 1):
            digest = r.to_bytes(32, "big")
            hashes[r] = digest
            client.record_round(
                chain.operator,
                round_id=r,
                model_hash=digest,
                method="exact",
                params="{}",
                seed=0,
                members=members,
                scores=[10] * 5,
            )
            if r % 100 == 0:
                client.distribute(chain.operator, r.to_bytes(32, "big"), 10**15)
        record_seconds = time.perf_counter() - started
        started = time.perf_counter()
        report = audit(chain, client.deployment, hashes)
        seconds = time.perf_counter() - started
        chain.close()
    out = {"rounds": rounds, "audit_seconds": seconds, "audit_ok": report.ok, "recording_seconds": record_seconds}
    print(out, flush=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    sizes = (1, 10, 100) if args.quick else (1, 10, 128)  # holders must be admitted members: 128 founders at most
    result = {
        "distribution": distribution_gas(sizes),
        "round_gas": round_gas(),
        "chain_speed": chain_speed(200 if args.quick else 500),
        "audit": audit_time(200 if args.quick else 1000),
    }
    steady = [r["distribute_gas_steady"] for r in result["distribution"]]
    withdraw = [r["withdraw_gas_steady"] for r in result["distribution"]]
    result["summary"] = {
        "distribute_gas_growth": max(steady) / min(steady) - 1,
        "withdraw_gas_growth": max(withdraw) / min(withdraw) - 1,
        "embedded_tx_per_s": result["chain_speed"]["embedded_tx_per_s"],
        "embedded_vs_stock_ratio": result["chain_speed"]["ratio"],
        "oldest_receipt_ms_embedded": result["chain_speed"]["embedded_oldest_receipt_ms"],
        "oldest_receipt_ms_stock": result["chain_speed"]["stock_oldest_receipt_ms"],
        "audit_seconds": result["audit"]["audit_seconds"],
    }
    print("\nsummary")
    for key, value in result["summary"].items():
        print(f"  {key:<28} {value:.4f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
        print(f"written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
