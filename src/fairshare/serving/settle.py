"""Settlement: all unsettled paid calls become on-chain distributions of each API key's running total.

Steps, each safe to crash after: (1) open a settlement over every unsettled usage row, recording its id and
rows; (2) for every key it covers, the running total billed to that key (everything settled before plus
this settlement's rows) goes to the chain, which pays only the growth over what it already settled for the
key; (3) mark it settled. A re-run after a crash finds the open settlement and resumes: keys the chain has
already settled up to their total are skipped, so revenue is never distributed twice nor left behind —
and because the chain refuses a total that does not grow, not even a doctored usage store can make a key's
revenue pay twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from eth_utils import keccak

from fairshare.serving.store import UsageStore

__all__ = ["SOURCES_PER_TRANSACTION", "RevenueSink", "SettlementResult", "key_source", "settle"]

SOURCES_PER_TRANSACTION = 64
"""API keys one distribution transaction settles (the contract's bound)."""


def key_source(key_id: str) -> bytes:
    """The revenue source an API key's payments settle under on chain."""
    return keccak(text=f"fairshare:api-key:{key_id}")


class RevenueSink(Protocol):
    def settled_total(self, source: bytes) -> int: ...
    def settle(self, settlement_id: bytes, totals: Mapping[bytes, int]) -> tuple[int, str]: ...


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


def settle(store: UsageStore, sink: RevenueSink) -> SettlementResult | None:
    """Settle what is pending; None when there is nothing to settle."""
    opened = store.open_settlement()
    if opened is None:
        return None
    settlement_id, billed, calls = opened
    sid = bytes.fromhex(settlement_id[2:])
    totals = {key_source(k): t for k, t in store.settlement_totals(settlement_id).items()}
    due = {s: t for s, t in totals.items() if sink.settled_total(s) < t}
    paid, txs = 0, []
    items = list(due.items())
    for start in range(0, len(items), SOURCES_PER_TRANSACTION):
        amount, tx = sink.settle(sid, dict(items[start : start + SOURCES_PER_TRANSACTION]))
        paid += amount
        txs.append(tx)
    tx_hash = ",".join(txs)
    store.close_settlement(settlement_id, tx_hash)
    return SettlementResult(settlement_id, paid, calls, tx_hash, resumed=len(due) < len(totals), billed=billed)
