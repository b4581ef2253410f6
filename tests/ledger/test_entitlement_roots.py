"""EntitlementRoots on the embedded chain and on anvil: claims pay the difference, replays and wrong roots revert,
and every kind of wrong root is rejected with evidence from the published data, by anyone.

The wrong roots are built by a dishonest proposer in these tests (an inflated leaf, a payee left out, a payee twice,
a total that is not the tree's sum, a tree it will not reveal); the challenger uses only what is on chain.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from fairshare.errors import TransactionError
from fairshare.governance import ProposalAction
from fairshare.ledger import Chain
from fairshare.ledger.entitlements import EntitlementTree, Standing, chunk_evidence
from fairshare.ledger.roots import RootsClient
from tests.ledger.conftest import HASH, Consortium, make_consortium

WINDOW = 4
EMPTY = (0, [], [], 0)


@dataclass
class Roots:
    """A consortium switched to roots mode, and the honest trees of its accepted epochs."""

    c: Consortium
    client: RootsClient
    trees: dict[int, EntitlementTree]

    @property
    def oracle(self) -> LocalAccount:
        return self.c.chain.operator

    def close_epoch(self, scores: dict[str, int], revenue: int = 0) -> tuple[int, Standing]:
        """Fund, publish and close the next epoch; returns it and the standing the published data determine."""
        epoch = self.client.open_epoch()
        if revenue:
            self.client.fund(self.oracle, revenue)
        if scores:
            self.client.publish(self.oracle, epoch, scores.items(), chunk=2)  # small chunks: evidence spans chunks
        self.client.close(self.oracle, epoch, HASH, "exact", "{}", 0)
        return epoch, self.client.standings()[-1]

    def settle(self, epoch: int, tree: EntitlementTree) -> None:
        self.client.propose(self.oracle, epoch, tree)
        self.c.chain.mine(WINDOW + 1)
        self.client.accept(self.c.outsider, epoch)
        self.trees[epoch] = tree

    def epoch(self, scores: dict[str, int], revenue: int) -> tuple[int, EntitlementTree]:
        epoch, standing = self.close_epoch(scores, revenue)
        tree = EntitlementTree(standing.leaves())
        self.settle(epoch, tree)
        return epoch, tree

    def prior(self, epoch: int, account: str) -> list:
        return self.trees[epoch - 1].evidence(account) if epoch > 1 else []

    def send(self, function: str, *args: object, sender: LocalAccount | None = None):
        return self.c.chain.send(sender or self.c.outsider, self.client.contract, function, *args)


def open_roots(chain: Chain, members: int = 4, cut_bps: int = 1000) -> Roots:
    c = make_consortium(chain, members=members, cut_bps=cut_bps, challenge_blocks=WINDOW)
    c.govern(ProposalAction("payout-mode", number=1))
    return Roots(c, RootsClient(chain, c.deployment), {})


@pytest.fixture
def roots(chain: Chain) -> Roots:
    return open_roots(chain)


def scores_of(r: Roots, *values: int) -> dict[str, int]:
    return {m.address: v for m, v in zip(r.c.members, values, strict=False)}


def test_claims_pay_the_difference_from_what_was_claimed(roots: Roots) -> None:
    a, b = roots.c.members[0].address, roots.c.members[1].address
    _, first = roots.epoch(scores_of(roots, 3 * 10**9, 10**9), revenue=1_000_000)
    assert first.leaf_of(a).entitled == 900_000 * 3 // 4  # after the 10% treasury cut
    paid, _ = roots.client.claim(roots.c.outsider, 1, first, a)
    assert paid == 675_000 and roots.client.claimed(a) == 675_000

    _, second = roots.epoch(scores_of(roots, 0, 2 * 10**9), revenue=600_000)
    # shares 3:3 after epoch 2; a's cumulative 675,000 + 540,000 / 2
    assert second.leaf_of(a).entitled == 675_000 + 270_000
    before = roots.c.client.balance_of(a)
    paid, _ = roots.client.claim(roots.c.outsider, 2, second, a)
    assert paid == 270_000 and roots.c.client.balance_of(a) - before == 270_000
    paid_b, _ = roots.client.claim(roots.c.outsider, 2, second, b)
    assert paid_b == 225_000 + 270_000  # b never claimed epoch 1: it gets both at once

    with pytest.raises(TransactionError, match="EntitlementRoots: nothing to claim"):
        roots.client.claim(roots.c.outsider, 2, second, a)  # replay
    with pytest.raises(TransactionError, match="EntitlementRoots: nothing to claim"):
        roots.client.claim(roots.c.outsider, 1, first, b)  # an older root pays nothing more
    totals = roots.client.totals()
    assert totals["total_paid"] == 675_000 + 270_000 + 495_000
    assert roots.c.client.balance_of(roots.client.contract.address) == totals["total_funded"] - totals["total_paid"]


def test_a_claim_names_its_root_and_waits_for_acceptance(roots: Roots) -> None:
    a = roots.c.members[0].address
    epoch, standing = roots.close_epoch(scores_of(roots, 10**9, 10**9), revenue=1000)
    tree = EntitlementTree(standing.leaves())
    roots.client.propose(roots.oracle, epoch, tree)
    leaf = tree.leaf_arg(tree.leaf_of(a).index)
    with pytest.raises(TransactionError, match="EntitlementRoots: root not accepted"):
        roots.send("claim", epoch, tree.root, leaf)
    with pytest.raises(TransactionError, match="EntitlementRoots: still in the challenge window"):
        roots.client.accept(roots.c.outsider, epoch)
    roots.c.chain.mine(WINDOW + 1)
    roots.client.accept(roots.c.outsider, epoch)
    with pytest.raises(TransactionError, match="EntitlementRoots: not the accepted root of this epoch"):
        roots.send("claim", epoch, bytes(31) + b"\x01", leaf)
    forged = (leaf[0], leaf[1], leaf[2], leaf[3] + 1, leaf[4], leaf[5])
    with pytest.raises(TransactionError, match="EntitlementRoots: leaf not in the root"):
        roots.send("claim", epoch, tree.root, forged)
    roots.send("claim", epoch, tree.root, leaf)


def test_only_one_payout_mode_records_rounds(chain: Chain) -> None:
    c = make_consortium(chain, members=2, challenge_blocks=WINDOW)
    client = RootsClient(chain, c.deployment)
    with pytest.raises(TransactionError, match="governance has not switched payouts to roots"):
        client.publish(chain.operator, 1, [(c.members[0].address, 10**9)])
    c.record(1, [10**9, 10**9])
    c.govern(ProposalAction("payout-mode", number=1))
    with pytest.raises(TransactionError, match="TrainingLog: payouts are in roots mode"):
        c.record(2, [10**9, 10**9])
    client.publish(chain.operator, 1, [(c.members[0].address, 10**9)])


def test_only_the_oracle_publishes_closes_and_proposes_and_it_cannot_be_paid(roots: Roots) -> None:
    outsider = roots.c.outsider
    with pytest.raises(TransactionError, match="EntitlementRoots: caller is not the oracle"):
        roots.client.publish(outsider, 1, [(roots.c.members[0].address, 10**9)])
    with pytest.raises(TransactionError, match="EntitlementRoots: caller is not the oracle"):
        roots.client.close(outsider, 1, HASH, "exact", "{}", 0)
    for role in (roots.oracle.address, roots.c.treasury.address):  # the Governor never admits either
        with pytest.raises(TransactionError, match="EntitlementRoots: payee is not a member"):
            roots.send("publish", 1, [role], [10**9], sender=roots.oracle)
    epoch, standing = roots.close_epoch(scores_of(roots, 10**9), revenue=100)
    with pytest.raises(TransactionError, match="EntitlementRoots: caller is not the oracle"):
        roots.client.propose(outsider, epoch, EntitlementTree(standing.leaves()))
    with pytest.raises(TransactionError, match="EntitlementRoots: accounts must be strictly ascending"):
        ordered = sorted((m.address for m in roots.c.members[:2]), key=lambda a: int(a, 16))
        roots.send("publish", 2, [ordered[1], ordered[0]], [1, 1], sender=roots.oracle)


def test_a_root_paying_more_than_the_revenue_is_refused(roots: Roots) -> None:
    epoch, standing = roots.close_epoch(scores_of(roots, 10**9, 10**9), revenue=1000)
    greedy = [replace(leaf, entitled=leaf.entitled + 1) for leaf in standing.leaves()]
    with pytest.raises(TransactionError, match="EntitlementRoots: entitlements exceed the revenue"):
        roots.client.propose(roots.oracle, epoch, EntitlementTree(greedy))


def _second_epoch(roots: Roots) -> tuple[int, Standing]:
    """Epoch 1 accepted, epoch 2 closed with three payees published: the setting of the challenge tests."""
    roots.epoch(scores_of(roots, 2 * 10**9, 10**9), revenue=10_000)
    return roots.close_epoch(scores_of(roots, 10**9, 0, 3 * 10**9), revenue=5_000)


def _leaf_challenge(roots: Roots, epoch: int, bad: EntitlementTree, account: str) -> tuple:
    publication = roots.client.publications()[epoch - 1]
    return (
        epoch,
        bad.leaf_arg(bad.leaf_of(account).index),
        roots.prior(epoch, account),
        *chunk_evidence(publication, account),
    )


def test_a_wrong_leaf_is_rejected_with_evidence_and_a_right_one_stands(roots: Roots) -> None:
    epoch, standing = _second_epoch(roots)
    leaves = standing.leaves()
    thief, victim = leaves[0], leaves[1]
    shifted = [
        replace(lf, entitled=lf.entitled + 7)
        if lf == thief
        else replace(lf, entitled=lf.entitled - 7)
        if lf == victim
        else lf
        for lf in leaves
    ]  # the total still fits the revenue: only the leaves can show the theft
    bad = EntitlementTree(shifted)
    roots.client.propose(roots.oracle, epoch, bad)
    honest = _leaf_challenge(roots, epoch, bad, leaves[2].account)
    with pytest.raises(TransactionError, match="EntitlementRoots: the leaf is correct"):
        roots.send("challenge_leaf", *honest)
    roots.send("challenge_leaf", *_leaf_challenge(roots, epoch, bad, thief.account))
    assert roots.client.status(epoch) == "closed"
    assert roots.client.proposals()[-1].outcome == "rejected: wrong leaf"
    roots.settle(epoch, EntitlementTree(leaves))  # the honest root goes through
    assert roots.client.accepted_epoch() == epoch


def test_a_leaf_with_the_wrong_shares_is_rejected(roots: Roots) -> None:
    epoch, standing = _second_epoch(roots)
    leaves = standing.leaves()
    bad = EntitlementTree([replace(leaves[0], shares=leaves[0].shares + 1), *leaves[1:]])
    roots.client.propose(roots.oracle, epoch, bad)
    roots.send("challenge_leaf", *_leaf_challenge(roots, epoch, bad, leaves[0].account))
    assert roots.client.status(epoch) == "closed"


def test_a_payee_left_out_is_rejected(roots: Roots) -> None:
    epoch, standing = _second_epoch(roots)
    leaves = standing.leaves()
    left_out = leaves[1]
    rest = [lf for lf in leaves if lf != left_out]
    bad = EntitlementTree([replace(lf, index=k) for k, lf in enumerate(rest)])
    roots.client.propose(roots.oracle, epoch, bad)
    publication = roots.client.publications()[epoch - 1]
    chunk = chunk_evidence(publication, left_out.account)
    prior = roots.prior(epoch, left_out.account)
    # from the previous root, or from this epoch's publication: either evidence is enough
    by_prior = (epoch, left_out.account, bad.evidence(left_out.account), prior, *EMPTY)
    by_chunk = (epoch, left_out.account, bad.evidence(left_out.account), [], *chunk)
    present = leaves[0].account
    with pytest.raises(TransactionError, match="no evidence that the account is left out"):
        roots.send("challenge_omission", epoch, present, bad.evidence(left_out.account), [], *chunk)
    assert len(prior) == 1 or left_out.account in chunk[1]
    roots.send("challenge_omission", *(by_prior if len(prior) == 1 else by_chunk))
    assert roots.client.proposals()[-1].outcome == "rejected: payee left out"
    assert present in standing.entries


def test_a_payee_listed_twice_is_rejected(roots: Roots) -> None:
    epoch, standing = _second_epoch(roots)
    leaves = standing.leaves()
    doubled = [*leaves[:2], replace(leaves[1], index=2), *(replace(lf, index=k + 3) for k, lf in enumerate(leaves[2:]))]
    shrunk = [replace(lf, entitled=lf.entitled // 2) for lf in doubled]  # keep the total within the revenue
    bad = EntitlementTree(shrunk)
    roots.client.propose(roots.oracle, epoch, bad)
    with pytest.raises(TransactionError, match="EntitlementRoots: the leaves are in order"):
        roots.send("challenge_order", epoch, bad.leaf_arg(0), bad.leaf_arg(1))
    roots.send("challenge_order", epoch, bad.leaf_arg(1), bad.leaf_arg(2))
    assert roots.client.proposals()[-1].outcome == "rejected: leaves out of order"


def test_a_total_that_is_not_the_trees_sum_cannot_be_answered_for_and_is_rejected(roots: Roots) -> None:
    epoch, standing = _second_epoch(roots)
    tree = EntitlementTree(standing.leaves())
    roots.send("propose_root", epoch, tree.root, len(tree.leaves), tree.total - 1, sender=roots.oracle)
    account = standing.leaves()[0].account
    roots.send("request_leaf", epoch, account)
    with pytest.raises(TransactionError, match="EntitlementRoots: leaf not in the root"):
        roots.send("answer", epoch, account, tree.evidence(account), sender=roots.oracle)  # no proof fits the total
    roots.c.chain.mine(WINDOW + 1)
    roots.send("reject_unanswered", epoch, account)
    assert roots.client.proposals()[-1].outcome == "rejected: request unanswered"


def test_revenue_is_settled_once_per_running_total(roots: Roots) -> None:
    source = bytes(31) + b"\x07"
    with pytest.raises(TransactionError, match="EntitlementRoots: caller is not the operator"):
        roots.client.settle(roots.c.outsider, source, {source: 100})
    amount, _, _ = roots.client.settle(roots.oracle, source, {source: 100})
    assert amount == 100 and roots.client.settled_total(source) == 100
    with pytest.raises(TransactionError, match="would pay revenue twice"):
        roots.client.settle(roots.oracle, source, {source: 100})
    with pytest.raises(TransactionError, match="running total not above what was settled"):
        roots.send("fund", source, [source], [100], sender=roots.oracle)


def test_a_root_its_proposer_will_not_reveal_is_rejected(roots: Roots) -> None:
    epoch, standing = _second_epoch(roots)
    tree = EntitlementTree(standing.leaves())
    roots.client.propose(roots.oracle, epoch, tree)
    asked, stranger = roots.c.members[1].address, Account.create().address
    roots.send("request_leaf", epoch, asked)
    roots.send("request_leaf", epoch, stranger)
    roots.c.chain.mine(WINDOW + 1)
    with pytest.raises(TransactionError, match="EntitlementRoots: a leaf request is unanswered"):
        roots.client.accept(roots.c.outsider, epoch)
    roots.send("answer", epoch, stranger, tree.evidence(stranger), sender=roots.oracle)  # proof of no leaf
    with pytest.raises(TransactionError, match="EntitlementRoots: challenge window is over"):
        roots.send("request_leaf", epoch, roots.c.members[0].address)
    roots.send("reject_unanswered", epoch, asked)
    assert roots.client.proposals()[-1].outcome == "rejected: request unanswered"

    roots.client.propose(roots.oracle, epoch, tree)  # again, and this time it answers
    roots.send("request_leaf", epoch, asked)
    with pytest.raises(TransactionError, match="EntitlementRoots: the proposer may still answer"):
        roots.send("reject_unanswered", epoch, asked)
    roots.send("answer", epoch, asked, tree.evidence(asked), sender=roots.oracle)
    roots.c.chain.mine(WINDOW + 1)
    with pytest.raises(TransactionError, match="EntitlementRoots: no open request for this account"):
        roots.send("reject_unanswered", epoch, asked)
    roots.client.accept(roots.c.outsider, epoch)


def test_challenges_end_with_the_window(roots: Roots) -> None:
    epoch, standing = _second_epoch(roots)
    leaves = standing.leaves()
    bad = EntitlementTree([replace(leaves[0], shares=leaves[0].shares + 1), *leaves[1:]])
    roots.client.propose(roots.oracle, epoch, bad)
    roots.c.chain.mine(WINDOW + 1)
    with pytest.raises(TransactionError, match="EntitlementRoots: challenge window is over"):
        roots.send("challenge_leaf", *_leaf_challenge(roots, epoch, bad, leaves[0].account))


def test_revenue_waits_while_nobody_has_shares(roots: Roots) -> None:
    epoch, standing = roots.close_epoch({}, revenue=900)
    assert standing.total_shares == 0 and not standing.entries
    roots.settle(epoch, EntitlementTree([]))
    assert roots.client.totals()["pending_revenue"] == 810
    _, tree = roots.epoch(scores_of(roots, 10**9), revenue=100)
    assert tree.total == 900 and tree.leaves[0].entitled == 900


def test_the_audit_recomputes_every_root_and_claim(roots: Roots) -> None:
    from fairshare.ledger import audit

    _, tree = roots.epoch(scores_of(roots, 2 * 10**9, 10**9), revenue=10_000)
    roots.client.claim(roots.c.outsider, 1, tree, roots.c.members[0].address)
    roots.send("pay_treasury")
    epoch, standing = roots.close_epoch(scores_of(roots, 10**9, 0, 3 * 10**9), revenue=5_000)
    report = audit(roots.c.chain, roots.c.deployment)
    assert report.ok, report.checks
    names = {c.name for c in report.checks}
    assert {"entitlement roots recompute", "claims match the roots", "roots money conserved"} <= names

    leaves = standing.leaves()  # nobody challenges a root that moves 5 units from one payee to another
    bad = EntitlementTree(
        [
            replace(leaves[0], entitled=leaves[0].entitled + 5),
            replace(leaves[1], entitled=leaves[1].entitled - 5),
            *leaves[2:],
        ]
    )
    roots.client.propose(roots.oracle, epoch, bad)
    pending = next(
        c for c in audit(roots.c.chain, roots.c.deployment).checks if c.name == "entitlement roots recompute"
    )
    assert not pending.ok and "challenge it before block" in pending.detail
    roots.c.chain.mine(WINDOW + 1)
    roots.client.accept(roots.c.outsider, epoch)
    roots.client.claim(roots.c.outsider, epoch, bad, leaves[0].account)
    failed = {c.name: c for c in audit(roots.c.chain, roots.c.deployment).checks if not c.ok}
    assert "ACCEPTED root" in failed["entitlement roots recompute"].detail
    assert f"claim by {leaves[0].account} in epoch {epoch}" in failed["claims match the roots"].detail


def test_each_proposal_of_an_epoch_has_its_own_outcome(roots: Roots) -> None:
    """The same root rejected once (unanswered request) and accepted when proposed again: two outcomes."""
    epoch, standing = _second_epoch(roots)
    tree = EntitlementTree(standing.leaves())
    roots.client.propose(roots.oracle, epoch, tree)
    roots.send("request_leaf", epoch, roots.c.members[0].address)
    roots.c.chain.mine(WINDOW + 1)
    roots.send("reject_unanswered", epoch, roots.c.members[0].address)
    roots.settle(epoch, tree)
    mine = [p for p in roots.client.proposals() if p.epoch == epoch]
    assert [p.outcome for p in mine] == ["rejected: request unanswered", "accepted"]
    assert mine[0].root == mine[1].root


def test_a_token_consortium_is_funded_and_paid_in_the_token(chain: Chain) -> None:
    from fairshare.ledger import deploy_test_stablecoin

    token = deploy_test_stablecoin(chain, chain.operator.address, 10**24)
    c = make_consortium(chain, members=2, token=token, challenge_blocks=WINDOW)
    c.govern(ProposalAction("payout-mode", number=1))
    r = Roots(c, RootsClient(chain, c.deployment), {})
    fund = (bytes(32), [bytes(32)], [10])
    with pytest.raises(TransactionError, match="allowance too low"):
        r.send("fund", *fund, sender=r.oracle)  # nothing is taken without approval
    with pytest.raises(TransactionError, match="EntitlementRoots: native coin sent to a token split"):
        chain.send(r.oracle, r.client.contract, "fund", *fund, value=10)
    _, tree = r.epoch(scores_of(r, 10**9, 3 * 10**9), revenue=40_000)
    member = c.members[1].address
    before = c.client.balance_of(member)
    paid, _ = r.client.claim(c.outsider, 1, tree, member)  # relayed by an outsider: the member is paid
    assert paid == 36_000 * 3 // 4 and c.client.balance_of(member) - before == paid
    assert c.client.balance_of(r.client.contract.address) == 40_000 - paid


def test_a_watcher_with_only_the_published_data_rejects_a_wrong_root(roots: Roots) -> None:
    """The watcher never sees the proposer's tree: it asks for leaves, reads the answers, and challenges."""
    from fairshare.ledger import watch

    epoch, standing = _second_epoch(roots)
    leaves = standing.leaves()
    watcher = roots.c.outsider
    honest = EntitlementTree(leaves)
    roots.client.propose(roots.oracle, epoch, honest)
    assert watch.request_leaves(roots.client, watcher, epoch, [lf.account for lf in leaves]) == []  # right root
    roots.c.chain.mine(WINDOW + 1)
    roots.client.accept(roots.c.outsider, epoch)

    epoch, standing = roots.close_epoch(scores_of(roots, 10**9, 10**9, 10**9), revenue=3_000)
    leaves = standing.leaves()
    moved = [replace(leaves[0], entitled=leaves[0].entitled + 9), replace(leaves[1], entitled=leaves[1].entitled - 9)]
    bad = EntitlementTree([*moved, *leaves[2:]])  # the proposer moves 9 units from leaf 1 to leaf 0
    roots.client.propose(roots.oracle, epoch, bad)
    asked = watch.request_leaves(roots.client, watcher, epoch, [leaves[1].account])
    assert asked == [leaves[1].account]
    assert watch.challenge(roots.client, watcher, epoch) == ""  # nothing answered yet, still in time
    roots.send("answer", epoch, asked[0], bad.evidence(asked[0]), sender=roots.oracle)
    assert watch.challenge(roots.client, watcher, epoch) == "wrong leaf"
    assert roots.client.status(epoch) == "closed"

    roots.client.propose(roots.oracle, epoch, bad)  # again, and this time the proposer keeps quiet
    watch.request_leaves(roots.client, watcher, epoch, [leaves[1].account])
    roots.c.chain.mine(WINDOW + 1)
    assert watch.challenge(roots.client, watcher, epoch) == "request unanswered"

    gone = leaves[1].account  # a third try leaves a payee out and says so when asked
    bad = EntitlementTree([replace(lf, index=k) for k, lf in enumerate(lf for lf in leaves if lf.account != gone)])
    roots.client.propose(roots.oracle, epoch, bad)
    watch.request_leaves(roots.client, watcher, epoch, [gone])
    roots.send("answer", epoch, gone, bad.evidence(gone), sender=roots.oracle)
    assert watch.challenge(roots.client, watcher, epoch) == "payee left out"
    roots.settle(epoch, EntitlementTree(leaves))
