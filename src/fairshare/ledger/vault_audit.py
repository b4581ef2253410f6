"""The CreditVault's part of the audit, from its events alone (plus the receipt windows the operator published).

- books per key: the deposits, settlements and refunds in events are the contract's figures, and
  deposited == settled + refunded + held, settled <= deposited - refunded, every key;
- conservation: the vault holds exactly deposits - settlements - refunds (more is reported as unsolicited,
  less fails), and in every settlement's transaction each key's running total grew, in RevenueShares or (in
  roots mode) EntitlementRoots, by exactly what the vault settled for it, so nothing leaves the vault but
  through a settlement into the members' payouts or a refund to the key's holder;
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
from fairshare.ledger.roots import RootsClient
from fairshare.ledger.vault import VaultClient

__all__ = ["vault_checks"]


def vault_checks(
    vault: VaultClient,
    revenue: LedgerClient,
    windows: Mapping[int, dict[str, Any]],
    roots: RootsClient | None = None,
) -> list[Check]:
    """``windows`` maps a window id to its published receipts (``fairshare.serving.settle.window_receipts``);
    ``roots`` is EntitlementRoots, where the vault settles while payouts are by roots (None: none deployed)."""
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
    return [books, _conservation(vault, revenue, roots, deposited, settled, refunded), _backed(vault, windows)]


def _conservation(
    vault: VaultClient, revenue: LedgerClient, roots: RootsClient | None, deposited: dict, settled: dict, refunded: dict
) -> Check:
    owed = sum(deposited.values()) - sum(settled.values()) - sum(refunded.values())
    held = vault.balance()
    problems = []
    if held < owed:
        problems.append(f"the vault holds {held}, less than the {owed} its books say it holds")
    settled_in: dict[str, dict[bytes, int]] = defaultdict(lambda: defaultdict(int))
    for e in vault.events("Settled"):
        settled_in[e.tx_hash][bytes(e.args["key"])] += int(e.args["amount"])
    received, into = _received(revenue, roots, set(settled_in))
    for tx, keys in settled_in.items():
        got = received.get(tx, {})
        if got != keys:
            problems.append(
                f"tx {tx[:12]}…: the vault settled {sum(keys.values())} for {len(keys)} keys but the payouts "
                f"received {sum(got.values())} for {len(got)} sources"
            )
    extra = f"; {held - owed} unsolicited" if held > owed else ""
    return Check(
        "vault: money leaves only by settlement or refund",
        not problems,
        "; ".join(problems[:8])
        if problems
        else f"holds {held} == deposits - settled - refunded{extra}; {len(settled_in)} settlement transactions "
        f"each paid its keys' growth exactly: {into['RevenueShares']} into RevenueShares, "
        f"{into['EntitlementRoots']} into EntitlementRoots",
    )


def _received(
    revenue: LedgerClient, roots: RootsClient | None, txs: set[str]
) -> tuple[dict[str, dict[bytes, int]], dict[str, int]]:
    """What the payouts received in the vault's settlement transactions ``txs``, per transaction and source: the
    growth of the source's running total in the contract paid (RevenueShares, or EntitlementRoots in roots
    mode), whoever paid it before; and the total that went into each contract."""
    payments = {"RevenueShares": [(d.tx_hash, d.sources, d.totals) for d in revenue.distributions()]}
    funded = roots.events("Funded") if roots is not None else []
    payments["EntitlementRoots"] = [
        (e.tx_hash, tuple(bytes(x) for x in e.args["sources"]), tuple(e.args["totals"])) for e in funded
    ]
    received: dict[str, dict[bytes, int]] = defaultdict(lambda: defaultdict(int))
    into = dict.fromkeys(payments, 0)
    for sink, events in payments.items():
        last: dict[bytes, int] = defaultdict(int)
        for tx, sources, totals in events:
            for source, total in zip(sources, totals, strict=True):
                if tx in txs:
                    received[tx][source] += int(total) - last[source]
                    into[sink] += int(total) - last[source]
                last[source] = int(total)
    return {tx: dict(keys) for tx, keys in received.items()}, into


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
