"""Watching roots: anyone checks a proposed root against the published data and, if it is wrong, rejects it.

A watcher knows the honest tree (the rule applied to the published events) but not the proposer's. It therefore
works in two steps within the challenge window:

1. ``request_leaves``: if the pending root is not the recomputed one, ask the proposer to reveal the leaves of some
   accounts (its own, or every payee's); the proposer must answer each in time or the root is rejected.
2. ``challenge``: read the answers (their evidence is in the answering transactions' calldata), compare each
   revealed leaf with the honest one, and send the evidence that rejects the root: a wrong leaf, a payee the
   proposer says has no leaf, or an unanswered request once its time is up.
"""

from __future__ import annotations

from collections.abc import Iterable

from eth_account.signers.local import LocalAccount
from web3 import Web3

from fairshare.errors import LedgerError
from fairshare.ledger.entitlements import EntitlementTree, LeafArg, chunk_evidence
from fairshare.ledger.roots import RootsClient

__all__ = ["challenge", "honest_tree", "request_leaves"]


def honest_tree(roots: RootsClient, epoch: int) -> EntitlementTree:
    """The tree the published scores and revenue determine for ``epoch``."""
    standing = next((s for s in roots.standings() if s.epoch == epoch), None)
    if standing is None:
        raise LedgerError(f"epoch {epoch} is not closed")
    return EntitlementTree(standing.leaves())


def _pending(roots: RootsClient, epoch: int) -> tuple[bytes, int]:
    if roots.status(epoch) != "proposed":
        raise LedgerError(f"epoch {epoch} has no root under challenge ({roots.status(epoch)})")
    proposal = [p for p in roots.proposals() if p.epoch == epoch][-1]
    return proposal.root, proposal.block


def request_leaves(roots: RootsClient, sender: LocalAccount, epoch: int, accounts: Iterable[str]) -> list[str]:
    """Ask for ``accounts``' leaves when the pending root is wrong; returns the accounts asked for (none when the
    root is the recomputed one)."""
    root, _ = _pending(roots, epoch)
    if root == honest_tree(roots, epoch).root:
        return []
    asked = []
    for account in accounts:
        account = Web3.to_checksum_address(account)
        roots.chain.send(sender, roots.contract, "request_leaf", epoch, account, what=f"asking for {account}'s leaf")
        asked.append(account)
    return asked


def _as_leaf(value: object) -> LeafArg:
    fields = value.values() if isinstance(value, dict) else value  # type: ignore[union-attr]
    index, account, shares, entitled, proof, sums = fields  # type: ignore[misc]
    return (int(index), Web3.to_checksum_address(account), int(shares), int(entitled), list(proof), list(sums))


def _answers(roots: RootsClient, epoch: int, since: int) -> dict[str, list[LeafArg]]:
    """Each answered account's evidence, decoded from the answering transactions."""
    out: dict[str, list[LeafArg]] = {}
    for e in roots.events("LeafAnswered"):
        if e.args["epoch"] != epoch or e.block < since:
            continue
        tx = roots.chain.w3.eth.get_transaction(e.tx_hash)
        _, args = roots.contract.decode_function_input(tx["input"])
        out[Web3.to_checksum_address(args["account"])] = [_as_leaf(v) for v in args["evidence"]]
    return out


def challenge(roots: RootsClient, sender: LocalAccount, epoch: int) -> str:
    """Reject the pending root of ``epoch`` with the first evidence its answers (or their absence) give; returns the
    reason, or "" when there is nothing to reject it with yet."""
    root, since = _pending(roots, epoch)
    honest = honest_tree(roots, epoch)
    if root == honest.root:
        return ""
    previous = honest_tree(roots, epoch - 1) if epoch > 1 else EntitlementTree([])
    publication = next(p for p in roots.publications() if p.epoch == epoch)
    send = roots.chain.send
    for account, evidence in _answers(roots, epoch, since).items():
        mine = honest.leaf_of(account)
        prior = previous.evidence(account) if epoch > 1 else []
        chunk = chunk_evidence(publication, account)
        revealed = evidence[0] if len(evidence) == 1 and evidence[0][1] == account else None
        if revealed is not None and (mine is None or (revealed[2], revealed[3]) != (mine.shares, mine.entitled)):
            send(sender, roots.contract, "challenge_leaf", epoch, revealed, prior, *chunk, what="challenging a leaf")
            return "wrong leaf"
        if revealed is None and mine is not None:
            by_prior = prior if len(prior) == 1 and prior[0][1] == account else []
            send(
                sender,
                roots.contract,
                "challenge_omission",
                epoch,
                account,
                evidence,
                by_prior,
                *(chunk if not by_prior else (0, [], [], 0)),
                what="challenging an omission",
            )
            return "payee left out"
    head = roots.chain.w3.eth.block_number
    window = int(roots.contract.functions.challenge_blocks().call())
    for e in roots.events("LeafRequested"):
        account = Web3.to_checksum_address(e.args["account"])
        if e.args["epoch"] == epoch and e.block >= since and head > e.block + window:
            answered = _answers(roots, epoch, since)
            if account not in answered:
                send(sender, roots.contract, "reject_unanswered", epoch, account, what="rejecting an unanswered root")
                return "request unanswered"
    return ""
