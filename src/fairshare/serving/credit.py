"""Customers' credit comes from the chain: the CreditVault's events, brought into the usage store.

A key's credit is what its customer deposited in the vault less what the API billed it; once the holder asks
for a refund the API stops honouring the key (the notice gives the operator time to settle what was billed
before). The figures are read from the vault's events (``Deposited`` carries the key's cumulative deposit),
so a sync is idempotent and a missed one is caught up by the next.
"""

from __future__ import annotations

from fairshare.ledger.vault import VaultClient, key_hash
from fairshare.serving.store import UsageStore, VaultCredit

__all__ = ["sync_credit", "vault_credits"]


def vault_credits(vault: VaultClient, key_ids: list[str]) -> dict[str, VaultCredit]:
    """What the vault's events say about each of ``key_ids`` that has any."""
    by_hash = {key_hash(k): k for k in key_ids}
    deposited: dict[str, int] = {}
    pending: set[str] = set()
    refunded: dict[str, int] = {}
    for event in vault.events("Deposited"):
        key_id = by_hash.get(bytes(event.args["key"]))
        if key_id is not None:
            deposited[key_id] = int(event.args["deposited"])
    for event in vault.events("RefundRequested"):
        key_id = by_hash.get(bytes(event.args["key"]))
        if key_id is not None:
            pending.add(key_id)
    for event in vault.events("Refunded"):
        key_id = by_hash.get(bytes(event.args["key"]))
        if key_id is not None:
            refunded[key_id] = refunded.get(key_id, 0) + int(event.args["amount"])
            pending.discard(key_id)
    return {
        k: VaultCredit(deposited.get(k, 0), k in pending, refunded.get(k, 0))
        for k in deposited.keys() | pending | refunded.keys()
    }


def sync_credit(store: UsageStore, vault: VaultClient) -> int:
    """Apply the vault's deposits and refunds to the store's keys; returns how many keys changed."""
    return store.apply_vault(vault_credits(vault, store.key_ids()))
