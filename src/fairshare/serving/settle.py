"""Settlement: every unsettled paid call's receipt goes into one window posted on chain, and the CreditVault
moves each key's billed growth from the customer's deposit to where the governed payout mode pays members
(RevenueShares' split, or EntitlementRoots with payouts by roots).

Steps, each safe to crash after: (1) open a settlement over every unsettled usage row (its rows are fixed);
(2) its window is the Merkle root over the signed receipt batches of those rows: post it to the vault, or
find it there when a crash came after posting; (3) for every key the settlement covers, settle the highest
running total its receipts carry (the request of that receipt is cited), skipping keys the vault already
settled that far; (4) mark it settled. The window's receipts, with their proofs, are published
(``window_receipts``) so that members can settle from them if the operator stops (``settle_from_receipts``).
Because the vault refuses a total that does not grow, and any total above a key's deposits, neither a retry
nor a doctored usage store can pay twice or take more than a customer paid. A key refunded before its calls
were settled is settled up to the highest receipt its deposit still covers; it never blocks other keys.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from eth_account.signers.local import LocalAccount

from fairshare.errors import ServingError
from fairshare.ledger.receipts import Receipt, SignedReceipt, merkle_levels, merkle_proof
from fairshare.ledger.vault import MAX_KEYS, VaultClient, key_hash
from fairshare.serving.store import UsageStore

__all__ = [
    "KEYS_PER_TRANSACTION",
    "SettlementResult",
    "VaultSink",
    "key_source",
    "settle",
    "settle_from_receipts",
    "window_receipts",
]

KEYS_PER_TRANSACTION = MAX_KEYS
"""API keys one vault settlement transaction settles (the contract's bound)."""

key_source = key_hash
"""The revenue source (and vault key) an API key's payments settle under on chain."""


class VaultSink(Protocol):
    """Where settlements go: the CreditVault (``VaultClient``), or an in-memory stand-in in unit tests."""

    def find_window(self, root: bytes) -> int | None: ...
    def post_window(self, root: bytes, batches: int) -> int: ...
    def settled(self, key: bytes) -> tuple[int, int]:
        """What the vault has settled for ``key`` and the most it may settle (deposits less refunds)."""
        ...

    def settle(self, window_id: int, totals: Mapping[bytes, tuple[int, bytes]]) -> tuple[int, str]: ...


@dataclass(frozen=True)
class SettlementResult:
    settlement_id: str
    amount: int
    """What the chain was paid now (0 when a resumed settlement had already been paid in full)."""
    calls: int
    tx_hash: str
    resumed: bool
    billed: int = 0
    """What the usage store says the settlement's rows were billed."""
    window_id: int = 0


def settle(
    store: UsageStore, sink: VaultSink, publish: Callable[[str], object] | None = None
) -> SettlementResult | None:
    """Settle what is pending; None when there is nothing to settle.

    ``publish(settlement_id)`` is called once the window is on chain and before any key is settled, so the
    receipts members need are out even if the operator stops right there.
    """
    opened = store.open_settlement()
    if opened is None:
        return None
    settlement_id, billed, calls = opened
    batches = store.settlement_batches(settlement_id)
    if not batches:
        raise ServingError(
            f"settlement {settlement_id[:18]}… has no signed receipts (calls billed without a receipt signer); "
            "the vault settles only receipted calls"
        )
    root = merkle_levels([b.root for b in batches])[-1][0]
    window_id = store.settlement_window(settlement_id)
    if window_id is None:
        window_id = sink.find_window(root) or sink.post_window(root, len(batches))
        store.set_settlement_window(settlement_id, window_id, root)
    if publish is not None:
        publish(settlement_id)
    totals = {key_source(k): c for k, c in store.settlement_key_receipts(settlement_id).items()}
    due: dict[bytes, tuple[int, bytes]] = {}
    for key, receipts in totals.items():
        settled, cap = sink.settled(key)
        # the highest receipt the vault can still pay: a key refunded before its calls were settled pays
        # what its deposit still covers (the rest is the operator's loss) and never blocks the other keys
        payable = [(t, r) for t, r in receipts if settled < t <= cap]
        if payable:
            due[key] = max(payable)
    paid, tx_hash = _in_batches(due, lambda batch: sink.settle(window_id, batch))
    store.close_settlement(settlement_id, tx_hash)
    return SettlementResult(
        settlement_id, paid, calls, tx_hash, resumed=len(due) < len(totals), billed=billed, window_id=window_id
    )


def _in_batches(due: Mapping[bytes, Any], pay: Callable[[dict[bytes, Any]], tuple[int, str]]) -> tuple[int, str]:
    """Pay ``due`` in transactions of at most ``KEYS_PER_TRANSACTION`` keys; the total paid and the hashes."""
    paid, txs = 0, []
    items = list(due.items())
    for start in range(0, len(items), KEYS_PER_TRANSACTION):
        amount, tx = pay(dict(items[start : start + KEYS_PER_TRANSACTION]))
        paid += amount
        txs.append(tx)
    return paid, ",".join(txs)


def window_receipts(store: UsageStore, settlement_id: str, chain_id: int, vault: str) -> dict[str, Any]:
    """A settlement's window as published: its id and root, and every receipt with its batch signature, batch
    proof and window proof (what ``CreditVault.settle_receipt`` takes)."""
    batches = store.settlement_batches(settlement_id)
    levels = merkle_levels([b.root for b in batches])
    window_id = store.settlement_window(settlement_id)
    receipts = []
    for b, batch in enumerate(batches):
        leaves = [_receipt(row) for row in batch.rows]
        batch_levels = merkle_levels([r.leaf() for r in leaves])
        for i, receipt in enumerate(leaves):
            signed = SignedReceipt(receipt, tuple(merkle_proof(batch_levels, i)), batch.signature, chain_id, vault)
            receipts.append({**signed.to_json(), "window_proof": ["0x" + p.hex() for p in merkle_proof(levels, b)]})
    return {"window_id": window_id, "root": "0x" + levels[-1][0].hex(), "receipts": receipts}


def _receipt(row: tuple[str, str, int, int, int, str]) -> Receipt:
    from fairshare.serving.receipting import model_bytes

    key_id, request, rows, amount, total, model_hash = row
    return Receipt(key_hash(key_id), bytes.fromhex(request[2:]), rows, amount, total, model_bytes(model_hash))


def settle_from_receipts(vault: VaultClient, sender: LocalAccount, published: dict[str, Any]) -> list[tuple[str, int]]:
    """Settle, from a published window, every key whose highest receipt there is above what the vault has
    settled for it; what members do when the operator stops settling. Returns (key, amount) per settlement."""
    try:
        window_id = int(published["window_id"])
        entries = [
            (SignedReceipt.from_json(r), [bytes.fromhex(p[2:]) for p in r["window_proof"]])
            for r in published["receipts"]
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise ServingError(f"not a published receipt window ({exc.__class__.__name__}: {exc})") from exc
    best: dict[bytes, tuple[SignedReceipt, list[bytes]]] = {}
    for signed, proof in entries:
        key = signed.receipt.key
        if key not in best or signed.receipt.total > best[key][0].receipt.total:
            best[key] = (signed, proof)
    done = []
    for key, (signed, proof) in best.items():
        if vault.key(key).settled < signed.receipt.total:
            amount, _ = vault.settle_receipt(sender, window_id, signed, proof)
            done.append(("0x" + key.hex(), amount))
    return done
