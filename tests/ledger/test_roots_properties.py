"""Property tests of EntitlementRoots over random epochs and claims, on the embedded chain and on anvil.

Each example runs more epochs on the same consortium (random payees, scores, revenue, chunking, a tight round cap)
and checks, against an independent model in exact arithmetic:
- the contract's own check of a leaf (``challenge_leaf``) agrees with the Python rule on every honest leaf, and
  rejects a leaf one unit off;
- the capped split mints exactly min(total, cap) new shares, each payee within one share of its exact part;
- the root's total never exceeds the revenue so far, and cumulative entitlements never shrink;
- every claim pays exactly the cumulative entitlement less what was claimed, a second claim reverts;
- money is conserved: the contract holds exactly what was funded less what it paid;
- a score for an address governance never admitted, slipped among the members', is refused and changes nothing.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import pytest
from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fairshare.errors import LedgerError, TransactionError
from fairshare.governance import ProposalAction
from fairshare.ledger import Chain
from fairshare.ledger.deploy import ShareRule
from fairshare.ledger.entitlements import EntitlementTree, chunk_evidence, new_shares
from fairshare.ledger.roots import RootsClient
from tests.ledger.conftest import make_consortium
from tests.ledger.test_entitlement_roots import WINDOW, Roots

MEMBERS = 5
CAP = 6 * 10**9
CUT_BPS = 250

epochs = st.fixed_dictionaries(
    {
        "scores": st.dictionaries(st.integers(0, MEMBERS - 1), st.integers(-(2 * 10**9), 5 * 10**9), max_size=MEMBERS),
        "revenue": st.integers(0, 10**15),
        "chunk": st.sampled_from([1, 2, 256]),
        "claimers": st.sets(st.integers(0, MEMBERS - 1)),
        "perturb": st.booleans(),
        "sybil": st.booleans(),
    }
)


@pytest.fixture
def capped(chain: Chain) -> Roots:
    c = make_consortium(
        chain, members=MEMBERS, cut_bps=CUT_BPS, challenge_blocks=WINDOW, share_rule=ShareRule(10**9, CAP)
    )
    c.govern(ProposalAction("payout-mode", number=1))
    return Roots(c, RootsClient(chain, c.deployment), {})


def _check_leaf_rule(r: Roots, epoch: int, tree: EntitlementTree) -> None:
    """The contract agrees that every honest leaf is correct (its rule is the Python rule)."""
    publication = r.client.publications()[epoch - 1]
    for leaf in tree.leaves:
        args = (
            epoch,
            tree.leaf_arg(leaf.index),
            r.prior(epoch, leaf.account),
            *chunk_evidence(publication, leaf.account),
        )
        with pytest.raises(TransactionError, match="EntitlementRoots: the leaf is correct"):
            r.send("challenge_leaf", *args)


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=st.lists(epochs, min_size=1, max_size=3))
def test_random_epochs_and_claims_keep_the_money_invariants(capped: Roots, plan: list[dict]) -> None:
    r = capped
    members = r.c.members
    for step in plan:
        scores = {members[i].address: s for i, s in step["scores"].items()}
        epoch = r.client.open_epoch()
        before = r.trees[epoch - 1] if epoch > 1 else EntitlementTree([])
        funded_before = r.client.totals()
        if step["revenue"]:
            r.client.fund(r.oracle, step["revenue"])
        if step["sybil"]:  # the oracle slips an unadmitted address among the members: refused, nothing changes
            sybil = Account.create().address
            rigged = sorted([*scores.items(), (sybil, 10**9)], key=lambda p: int(p[0], 16))
            with pytest.raises(TransactionError, match="EntitlementRoots: payee is not a member"):
                r.send("publish", epoch, [a for a, _ in rigged], [v for _, v in rigged], sender=r.oracle)
            with pytest.raises(LedgerError, match=sybil):
                r.client.publish(r.oracle, epoch, rigged, chunk=step["chunk"])
            assert r.client.contract.functions.epochs(epoch).call()[3] == 0  # no chunk of the epoch published
        if scores:
            r.client.publish(r.oracle, epoch, scores.items(), chunk=step["chunk"])
        r.client.close(r.oracle, epoch, bytes(31) + b"\x01", "exact", "{}", epoch)
        publication = r.client.publications()[-1]
        standing = r.client.standings()[-1]

        # the capped split, against exact arithmetic
        raw = {a: max(s, 0) * 10**9 // 10**9 for a, s in scores.items()}
        total_raw = sum(raw.values())
        earned = new_shares(publication)
        assert sum(earned.values()) == min(total_raw, CAP)
        for account, amount in earned.items():
            exact = Fraction(raw[account] * CAP, total_raw) if total_raw > CAP else Fraction(raw[account])
            assert abs(amount - exact) < 1
        # entitlements: never shrink, never exceed the revenue
        for leaf in before.leaves:
            assert standing.entries[leaf.account][1] >= leaf.entitled
        tree = EntitlementTree(standing.leaves())
        revenue_through = sum(p.revenue for p in r.client.publications())
        assert tree.total <= revenue_through

        if step["perturb"] and tree.leaves:
            victim = tree.leaves[len(tree.leaves) // 2]
            bad = EntitlementTree([replace(lf, shares=lf.shares + 1) if lf == victim else lf for lf in tree.leaves])
            r.client.propose(r.oracle, epoch, bad)
            r.send(
                "challenge_leaf",
                epoch,
                bad.leaf_arg(victim.index),
                r.prior(epoch, victim.account),
                *chunk_evidence(publication, victim.account),
            )
            assert r.client.status(epoch) == "closed"
        r.client.propose(r.oracle, epoch, tree)
        _check_leaf_rule(r, epoch, tree)
        r.c.chain.mine(WINDOW + 1)
        r.client.accept(r.c.outsider, epoch)
        r.trees[epoch] = tree

        for i in sorted(step["claimers"]):
            account = members[i].address
            leaf = tree.leaf_of(account)
            due = (leaf.entitled if leaf else 0) - r.client.claimed(account)
            if due == 0:
                if leaf is not None:
                    with pytest.raises(TransactionError, match="EntitlementRoots: nothing to claim"):
                        r.client.claim(r.c.outsider, epoch, tree, account)
                continue
            balance = r.c.client.balance_of(account)
            paid, _ = r.client.claim(r.c.outsider, epoch, tree, account)
            assert paid == due and r.c.client.balance_of(account) - balance == due
            with pytest.raises(TransactionError, match="EntitlementRoots: nothing to claim"):
                r.client.claim(r.c.outsider, epoch, tree, account)

        totals = r.client.totals()
        cut = step["revenue"] * CUT_BPS // 10_000
        assert totals["total_funded"] - funded_before["total_funded"] == step["revenue"]
        assert totals["treasury_owed"] - funded_before["treasury_owed"] == cut
        held = r.c.client.balance_of(r.client.contract.address)
        assert held == totals["total_funded"] - totals["total_paid"]
        assert totals["total_paid"] == sum(c.amount for c in r.client.claims())
        for m in members:
            leaf = tree.leaf_of(m.address)
            assert r.client.claimed(m.address) <= (leaf.entitled if leaf else 0)
