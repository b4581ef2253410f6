"""The CreditVault's part of the audit, from its events alone (plus the receipt windows the operator published).

- books per key: the deposits, settlements and refunds in events are the contract's figures, and
  deposited == settled + refunded + held, settled <= deposited - refunded, every key;
- conservation: the vault holds exactly deposits - settlements - refunds (more is reported as unsolicited,
  less fails), and every settlement's amount arrived in RevenueShares in the same transaction, so nothing
  leaves the vault but through a settlement into the split or a refund to the key's holder;
- every settled running total is backed by a receipt the operator signed: the settlement's (key, request,
  total) is a receipt of the published window it cites, whose batch signature recovers to the window's
  signer and whose proofs fold to the root posted on chain.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from fairshare.errors import LedgerError
from fairshare.ledger.audit import Check
from fairshare.ledger.client import LedgerClient
from fairshare.ledger.receipts import SignedReceipt, fold
from fairshare.ledger.vault import VaultClient

__all__ = ["vault_checks"]


def vault_checks(vault: VaultClient, revenue: LedgerClient, windows: Mapping[int, dict[str, Any]]) -> list[Check]:
    """``windows`` maps a window id to its published receipts (``fairshare.serving.settle.window_receipts``)."""
    deposits = vault.events("Deposited")
    settlements = vault.events("Settled")
    refunds = vault.events("Refunded")
    deposited: dict[bytes, int] = defaultdict(int)
    settled: dict[bytes, int] = defaultdict(int)
    refunded: dict[bytes, int] = defaultdict(int)
    problems: list[str] = []
    for e in deposits:
        key = bytes(e.args["key"])
        deposited[key] += int(e.args["amount"])
        if deposited[key] != int(e.args["deposited"]):
            problems.append(
                f"key {key.hex()[:12]}…: deposit event says {e.args['deposited']}, events sum {deposited[key]}"
            )
    for e in settlements:
        key = bytes(e.args["key"])
        if int(e.args["total"]) - settled[key] != int(e.args["amount"]) or int(e.args["amount"]) <= 0:
            problems.append(f"key {key.hex()[:12]}…: settlement at block {e.block} paid other than its total's growth")
        settled[key] = int(e.args["total"])
    for e in refunds:
        refunded[bytes(e.args["key"])] += int(e.args["amount"])
    for key in deposited.keys() | settled.keys() | refunded.keys():
        state = vault.key(key)
        ours = (deposited[key], settled[key], refunded[key])
        if ours != (state.deposited, state.settled, state.refunded):
            problems.append(
                f"key {key.hex()[:12]}…: events {ours} vs contract {(state.deposited, state.settled, state.refunded)}"
            )
        if (
            state.deposited != state.settled + state.refunded + state.held
            or settled[key] > deposited[key] - refunded[key]
        ):
            problems.append(f"key {key.hex()[:12]}…: deposits {deposited[key]} do not cover settled + refunded")
    n = len(deposited)
    books = Check(
        "vault: deposits == settled + refunded + held",
        not problems,
        "; ".join(problems[:8])
        if problems
        else f"{n} keys; {sum(deposited.values())} deposited, "
        f"{sum(settled.values())} settled, {sum(refunded.values())} refunded",
    )
    return [books, _conservation(vault, revenue, deposited, settled, refunded), _backed(vault, windows)]


def _conservation(vault: VaultClient, revenue: LedgerClient, deposited: dict, settled: dict, refunded: dict) -> Check:
    owed = sum(deposited.values()) - sum(settled.values()) - sum(refunded.values())
    held = vault.balance()
    problems = []
    if held < owed:
        problems.append(f"the vault holds {held}, less than the {owed} its books say it holds")
    per_tx: dict[str, int] = defaultdict(int)
    for e in vault.events("Settled"):
        per_tx[e.tx_hash] += int(e.args["amount"])
    arrived: dict[str, int] = defaultdict(int)
    for d in revenue.distributions():
        if d.tx_hash in per_tx:
            arrived[d.tx_hash] += d.amount
    for tx, amount in per_tx.items():
        if arrived.get(tx, 0) != amount:
            problems.append(
                f"tx {tx[:12]}…: the vault settled {amount} but RevenueShares received {arrived.get(tx, 0)}"
            )
    extra = f"; {held - owed} unsolicited" if held > owed else ""
    return Check(
        "vault: money leaves only by settlement or refund",
        not problems,
        "; ".join(problems[:8])
        if problems
        else f"holds {held} == deposits - settled - refunded{extra}; "
        f"{len(per_tx)} settlement transactions each paid RevenueShares exactly",
    )


def _backed(vault: VaultClient, windows: Mapping[int, dict[str, Any]]) -> Check:
    posted = {
        int(e.args["window_id"]): (bytes(e.args["root"]), str(e.args["signer"])) for e in vault.events("WindowPosted")
    }
    problems: list[str] = []
    index: dict[int, dict[tuple[bytes, bytes, int], tuple[SignedReceipt, list[bytes]]]] = {}
    settlements = vault.events("Settled")
    for e in settlements:
        wid = int(e.args["window_id"])
        if wid not in index:
            index[wid] = {}
            published = windows.get(wid)
            if published is None:
                problems.append(f"window {wid}: its receipts are not published")
                continue
            try:
                for r in published["receipts"]:
                    signed = SignedReceipt.from_json(r)
                    proof = [bytes.fromhex(p[2:]) for p in r["window_proof"]]
                    index[wid][(signed.receipt.key, signed.receipt.request, signed.receipt.total)] = (signed, proof)
            except (KeyError, TypeError, ValueError, LedgerError) as exc:
                problems.append(f"window {wid}: published receipts unreadable ({exc})")
                continue
        found = index[wid].get((bytes(e.args["key"]), bytes(e.args["request"]), int(e.args["total"])))
        if found is None:
            if wid in windows:
                problems.append(f"settlement of {e.args['total']} at block {e.block} cites no receipt of window {wid}")
            continue
        signed, proof = found
        root, signer = posted.get(wid, (b"", ""))
        try:
            ok = signed.signer() == signer and fold(signed.batch_root, proof) == root and signed.vault == vault.address
        except LedgerError:
            ok = False
        if not ok:
            problems.append(f"settlement at block {e.block}: its receipt is not signed by window {wid}'s operator")
    return Check(
        "vault: every settled total has a signed receipt",
        not problems,
        "; ".join(problems[:8])
        if problems
        else f"{len(settlements)} settlements, each a signed receipt of a posted window",
    )
