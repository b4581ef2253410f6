"""Settlement: all unsettled paid calls become one on-chain distribution, exactly once.

Steps, each safe to crash after: (1) open a settlement over every unsettled usage row, recording its id
and rows; (2) if the chain does not already know the id, distribute the amount under it; (3) mark it settled.
A re-run after a crash finds the open settlement and resumes: the chain's record of the id decides whether
step 2 already happened, so revenue is never distributed twice nor left behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from fairshare.serving.store import UsageStore

__all__ = ["RevenueSink", "SettlementResult", "settle"]


class RevenueSink(Protocol):
    def is_settled(self, settlement_id: bytes) -> bool: ...
    def distribute(self, settlement_id: bytes, amount: int) -> str: ...
    def settlement_tx(self, settlement_id: bytes) -> str: ...


@dataclass(frozen=True)
class SettlementResult:
    settlement_id: str
    amount: int
    calls: int
    tx_hash: str
    resumed: bool


def settle(store: UsageStore, sink: RevenueSink) -> SettlementResult | None:
    """Settle what is pending; None when there is nothing to settle."""
    opened = store.open_settlement()
    if opened is None:
        return None
    settlement_id, amount, calls = opened
    key = bytes.fromhex(settlement_id[2:])
    resumed = sink.is_settled(key)
    tx_hash = sink.settlement_tx(key) if resumed else sink.distribute(key, amount)
    store.close_settlement(settlement_id, tx_hash)
    return SettlementResult(settlement_id, amount, calls, tx_hash, resumed)
