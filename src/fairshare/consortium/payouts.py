"""A run's payouts by Merkle roots: rounds published as epochs, revenue settled into an epoch, roots proposed and
accepted, every payee's claim relayed, and the balances read back.

Used when governance has switched the payout mode to roots (a consortium larger than one transaction per round
takes). On a dev chain the challenge window is mined through at once; on a real chain ``settle_root`` is where the
coordinator would wait for it (anyone can run ``fairshare audit`` meanwhile and challenge a wrong root).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

from fairshare.consortium.session import Run
from fairshare.consortium.view import MemberBalance, Settlement, Withdrawal
from fairshare.errors import LedgerError
from fairshare.ledger.entitlements import EntitlementTree, Standing

__all__ = [
    "SETTLEMENT_METHOD",
    "claim_all",
    "record_epoch",
    "roots_balances",
    "settle_revenue",
    "settle_root",
]

SETTLEMENT_METHOD = "revenue"
"""The method of an epoch that only assigns revenue (no round): its params carry no "round"."""

Progress = Callable[[str, int, int], None]
"""(phase, done, total): called as members are published or claimed."""


def _standing(run: Run) -> Standing:
    standings = run.roots.standings()
    return standings[-1] if standings else Standing(0, {}, 0)


def settle_root(run: Run, epoch: int) -> EntitlementTree:
    """Propose the root the published data determine, let the challenge window pass (dev chain), accept it."""
    standing = _standing(run)
    if standing.epoch != epoch:
        raise LedgerError(f"epoch {epoch} is not the last closed epoch ({standing.epoch})")
    tree = EntitlementTree(standing.leaves())
    operator = run.chain.operator
    if run.roots.status(epoch) == "closed":
        run.roots.propose(operator, epoch, tree)
    if run.roots.status(epoch) == "proposed":
        run.chain.mine(int(run.roots.contract.functions.challenge_blocks().call()) + 1)
        run.roots.accept(operator, epoch)
    return tree


def record_epoch(
    run: Run,
    *,
    round_id: int,
    model_hash: bytes,
    method: str,
    params: Mapping[str, object],
    seed: int,
    scores: Mapping[str, int],
    progress: Progress | None = None,
) -> tuple[int, str]:
    """Publish a round's scores as the next epoch, close it and settle its root; returns (epoch, close tx hash).

    ``params`` must fit an epoch record (2,048 bytes): the full round record lives in the run folder and its
    hash goes on chain (see ``RoundRecorder``). Every scored account must be a member now (``train_run`` leaves
    removed members out of training); otherwise a ``LedgerError`` names it before anything is published.
    """
    roots, operator = run.roots, run.chain.operator
    epoch = roots.open_epoch()
    names = {m.address: m.name for m in run.record.members}
    roots.publish(operator, epoch, scores.items(), names=names, progress=progress)
    text = json.dumps({"round": round_id, **params}, sort_keys=True, default=str)
    receipt = run.chain.send(
        operator, roots.contract, "close_epoch", epoch, model_hash, method, text, seed, what=f"closing round {round_id}"
    )
    settle_root(run, epoch)
    return epoch, receipt["transactionHash"].to_0x_hex()


def settle_revenue(run: Run, settle: Callable[[], Settlement]) -> Settlement:
    """Fund the payees through ``settle`` (the usage ledger's settlement into EntitlementRoots), then close a
    revenue epoch for the released model and settle its root, so the revenue can be claimed."""
    settlement = settle()
    if settlement.amount == 0 and settlement.calls == 0:
        return settlement
    released = run.governance.policy().released_model
    roots = run.roots
    epoch = roots.open_epoch()
    run.chain.send(
        run.chain.operator,
        roots.contract,
        "close_epoch",
        epoch,
        released,
        SETTLEMENT_METHOD,
        json.dumps({"settlement": settlement.settlement_id}),
        0,
        what="closing the revenue epoch",
    )
    settle_root(run, epoch)
    return settlement


def claim_all(run: Run, progress: Progress | None = None, only: str | None = None) -> list[Withdrawal]:
    """Relay every member's claim (or ``only`` that member's) against the last accepted root (the operator pays the
    gas; the money goes to the member), and pay the treasury its cut. Members owed nothing more are listed with 0."""
    roots = run.roots
    epoch = roots.accepted_epoch()
    if epoch == 0:
        return []
    tree = EntitlementTree(next(s for s in roots.standings() if s.epoch == epoch).leaves())
    if tree.root != roots.root_of(epoch):
        raise LedgerError(f"the accepted root of epoch {epoch} is not the one the published data determine")
    done = []
    members = [m for m in run.record.members if only in (None, m.name)]
    if only not in (None, "treasury") and not members:
        raise LedgerError(f"no member named {only!r}")
    for k, member in enumerate(members, start=1):
        leaf = tree.leaf_of(member.address)
        amount, tx = 0, ""
        due = leaf.entitled - roots.claimed(member.address) if leaf is not None else 0
        if leaf is not None and due > 0:
            receipt = roots.send_claim(run.chain.operator, epoch, tree, leaf, what=f"claim for {member.name}")
            amount, tx = due, receipt["transactionHash"].to_0x_hex()
        done.append(Withdrawal(member.name, member.address, amount, tx))
        if progress is not None:
            progress("claims", k, len(members))
    owed = roots.totals()["treasury_owed"]
    if owed and only in (None, "treasury"):
        receipt = run.chain.send(run.chain.operator, roots.contract, "pay_treasury", what="paying the treasury")
        done.append(Withdrawal("treasury", run.record.treasury, owed, receipt["transactionHash"].to_0x_hex()))
    return done


def roots_balances(run: Run) -> list[MemberBalance]:
    """Every member and the treasury: shares and entitlement after the last closed epoch, what was claimed."""
    standing = _standing(run)
    roots = run.roots
    rows = []
    for m in run.record.members:
        shares, entitled = standing.entries.get(m.address, (0, 0))
        claimed = roots.claimed(m.address)
        rows.append(
            MemberBalance(m.name, m.address, "member", shares, entitled, claimed, entitled - claimed, m.behaviour)
        )
    paid = sum(e.args["amount"] for e in roots.events("TreasuryPaid"))
    owed = roots.totals()["treasury_owed"]
    rows.append(MemberBalance("treasury", run.record.treasury, "treasury", 0, paid + owed, paid, owed, "-"))
    return rows
