"""CreditVault benchmark: gas of a vault settlement in each payout mode, and the contracts' sizes.

    python benchmarks/vault.py [--json FILE]

On the embedded chain, native coin, one consortium of 3 members and a 10% treasury cut, settled by the vault:

- accumulator (payout mode 0): the vault pays ``RevenueShares.distribute``;
- roots (payout mode 1): the vault pays ``EntitlementRoots.fund``;

each for the operator's ``settle`` of 1 key and of 64 keys (the contract's bound), and anyone's ``settle_receipt``
from one published receipt; "first" is a key's first settlement into that contract (fresh storage), "steady"
a later growth of the same key. Beside them, the operator paying the same growth straight into the contract
(``distribute`` / ``fund``), so the vault's overhead is a ratio in one run. And the runtime size of each contract
against the EIP-170 limit (24,576 bytes).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from eth_account import Account

from fairshare.governance import GovernanceClient, ProposalAction
from fairshare.ledger import GovernanceSettings, LedgerClient, connect, deploy_consortium
from fairshare.ledger.chain import Chain
from fairshare.ledger.contracts import compiled
from fairshare.ledger.receipts import Receipt, ReceiptSigner, merkle_levels, merkle_proof
from fairshare.ledger.roots import RootsClient
from fairshare.ledger.vault import MAX_KEYS, VaultClient, key_hash

EIP170 = 24_576
MODEL = bytes(range(32))


class Bench:
    """One consortium with its vault; customers' keys, receipts and windows made on demand."""

    def __init__(self, home: Path) -> None:
        self.chain: Chain = connect(None, home)
        self.members = [Account.create() for _ in range(3)]
        for m in self.members:
            self.chain.fund(m.address, 10**18)
        deployment = deploy_consortium(
            self.chain,
            name="bench",
            treasury=Account.create().address,
            treasury_cut_bps=1000,
            oracle=self.chain.operator,
            governance=GovernanceSettings(members=tuple((f"m{k}", m.address) for k, m in enumerate(self.members))),
        )
        self.client = LedgerClient(self.chain, deployment)
        self.client.record_round(
            self.chain.operator,
            round_id=1,
            model_hash=MODEL,
            method="exact",
            params="{}",
            seed=0,
            members=[m.address for m in self.members],
            scores=[1, 2, 3],
        )
        self.vault = VaultClient(self.chain, deployment, self.client.index)
        self.roots = RootsClient(self.chain, deployment, self.client.index)
        self.governance = GovernanceClient(self.chain, deployment, self.client.index)
        self.signer = ReceiptSigner(self.chain.operator, self.chain.chain_id, self.vault.address)
        self.customer = Account.create()
        self.chain.fund(self.customer.address, 10**21)
        self.totals: dict[bytes, int] = {}
        self.calls = 0

    def switch(self, mode: int) -> None:
        g, action = self.governance, ProposalAction("payout-mode", number=mode)
        pid = g.propose(self.members[0], action, action.describe())
        for m in self.members:
            g.vote(m, pid, True)
        self.chain.mine(g.blocks_until_executable(pid))
        g.execute(self.members[0], pid)

    def keys(self, tag: str, n: int) -> list[bytes]:
        keys = [key_hash(f"{tag}-{k}") for k in range(n)]
        for key in keys:
            self.vault.deposit(self.customer, key, 10**18)
        return keys

    def window(self, keys: list[bytes], amount: int = 1000) -> tuple[int, list]:
        """Bill each key once more and post the window; the receipts with their proofs."""
        receipts = []
        for key in keys:
            self.calls += 1
            self.totals[key] = self.totals.get(key, 0) + amount
            receipts.append(Receipt(key, self.calls.to_bytes(32, "big"), 1, amount, self.totals[key], MODEL))
        batch = self.signer.sign(receipts)
        levels = merkle_levels([batch.root])
        wid = self.vault.post_window(self.chain.operator, levels[-1][0], 1)
        signed = [
            (self.signer.signed(r, batch.proofs[i], batch.signature), merkle_proof(levels, 0))
            for i, r in enumerate(receipts)
        ]
        return wid, signed

    def gas(self, tx: str) -> int:
        return int(self.chain.w3.eth.get_transaction_receipt(tx)["gasUsed"])

    def operator_settle(self, keys: list[bytes]) -> int:
        wid, signed = self.window(keys)
        totals = {s.receipt.key: (s.receipt.total, s.receipt.request) for s, _ in signed}
        return self.gas(self.vault.settle(self.chain.operator, wid, totals)[1])

    def receipt_settle(self, key: bytes) -> int:
        wid, [(signed, proof)] = self.window([key])
        return self.gas(self.vault.settle_receipt(self.members[1], wid, signed, proof)[1])

    def direct(self, mode: int, source: bytes) -> int:
        """The operator paying 1,000 more for ``source`` straight into the mode's contract."""
        if mode == 0:
            return self.gas(self.client.distribute(self.chain.operator, source, 1000))
        return self.roots.fund(self.chain.operator, 1000, source)


def mode_gas(bench: Bench, mode: int) -> dict[str, object]:
    name = ("accumulator", "roots")[mode]
    one = bench.keys(f"{name}-one", 1)
    many = bench.keys(f"{name}-many", MAX_KEYS)
    receipt_key = bench.keys(f"{name}-receipt", 1)
    row: dict[str, object] = {"mode": name}
    row["settle_1_key_first"] = bench.operator_settle(one)
    row["settle_1_key_steady"] = bench.operator_settle(one)
    row["settle_64_keys_first"] = bench.operator_settle(many)
    row["settle_64_keys_steady"] = bench.operator_settle(many)
    row["settle_64_keys_steady_per_key"] = round(row["settle_64_keys_steady"] / MAX_KEYS)  # type: ignore[operator]
    row["settle_receipt_first"] = bench.receipt_settle(receipt_key[0])
    row["settle_receipt_steady"] = bench.receipt_settle(receipt_key[0])
    source = key_hash(f"{name}-direct")
    bench.direct(mode, source)
    row["operator_direct_steady"] = bench.direct(mode, source)
    row["vault_over_direct_steady"] = round(row["settle_1_key_steady"] / row["operator_direct_steady"], 3)  # type: ignore[operator]
    print(row, flush=True)
    return row


def sizes() -> dict[str, int]:
    return {
        name: len(bytes.fromhex(compiled(name).runtime.removeprefix("0x")))
        for name in ("EntitlementRoots", "CreditVault", "RevenueShares")
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        bench = Bench(Path(home))
        try:
            rows = [mode_gas(bench, 0)]
            bench.switch(1)
            rows.append(mode_gas(bench, 1))
            # a key settled into the accumulator, settled again after the switch: the roots' first write for it
            bench.switch(0)
            moved = bench.keys("moved", 1)
            bench.operator_settle(moved)
            bench.switch(1)
            switched = bench.operator_settle(moved)
        finally:
            bench.chain.close()
    size = sizes()
    result = {"gas": rows, "settle_1_key_after_a_switch": switched, "runtime_bytes": size, "eip170_limit": EIP170}
    columns = [k for k in rows[0] if k != "mode"]
    print(f"\n{'gas':<32}" + "".join(f"{r['mode']:>14}" for r in rows))
    for column in columns:
        print(
            f"{column:<32}"
            + "".join(f"{r[column]:>14,}" if isinstance(r[column], int) else f"{r[column]:>14}" for r in rows)
        )
    print(f"{'settle 1 key, first after a switch to roots':<46}{switched:>14,}")
    print("\nruntime bytes (EIP-170 limit 24,576)")
    for name, n in size.items():
        print(f"  {name:<18}{n:>8,}  ({EIP170 - n:,} to spare)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
        print(f"written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
