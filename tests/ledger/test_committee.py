"""The ScoreCommittee on both chains: commit-reveal, the weighted median, the optimistic path and its challenge,
and the adversaries the issue names (inflate, deflate, copy, missing reveal, collusion, a dishonest proposer)."""

from __future__ import annotations

import secrets

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fairshare.errors import GovernanceError, TransactionError
from fairshare.governance import ProposalAction
from fairshare.ledger import audit
from fairshare.ledger.committee import CommitteeClient, RoundContext, commitment
from fairshare.valuation.median import committee_medians, weighted_median

from .conftest import HASH, Consortium, make_consortium

HONEST = [100, 200, 300]
"""Every honest validator's scores for the three members (ascending address order); shares = scores here."""


@pytest.fixture
def committee(chain) -> tuple[Consortium, CommitteeClient]:
    c = make_consortium(chain, validators=3)
    return c, CommitteeClient(c.chain, c.deployment, c.client.index)


def _context(c: Consortium, round_id: int = 1) -> RoundContext:
    members = tuple(sorted((m.address for m in c.members), key=lambda a: int(a, 16)))
    return RoundContext(round_id, HASH, "exact", "{}", 0, members)


def _ballot(c: Consortium, cc: CommitteeClient, vectors: list[list[int]], round_id: int = 1, **kwargs):
    context = _context(c, round_id)
    scores = {v.address: s for v, s in zip(c.validators, vectors, strict=True)}
    accounts = {v.address: v for v in c.validators}
    return cc.run_ballot(
        c.chain.operator,
        context,
        scores,
        accounts,
        lambda reveals, weights: committee_medians(context.members, reveals, weights),
        **kwargs,
    )


def _shares(c: Consortium) -> list[int]:
    return [c.client.shares_of(a) for a in _context(c).members]


def _committee_check(c: Consortium):
    return next(k for k in audit(c.chain, c.deployment).checks if k.name == "validators' medians")


def test_honest_validators_agree_and_the_shares_are_the_medians(committee) -> None:
    c, cc = committee
    outcome = _ballot(c, cc, [HONEST, HONEST, HONEST])
    assert outcome.medians == HONEST and _shares(c) == HONEST
    (record,) = c.client.rounds()
    assert list(record.scores) == HONEST
    report = audit(c.chain, c.deployment)
    assert report.ok, [k for k in report.checks if not k.ok]


def test_one_validator_inflating_a_member_tenfold_moves_its_pay_by_zero(committee) -> None:
    c, cc = committee
    greedy = [HONEST[0] * 10, HONEST[1], HONEST[2]]
    _ballot(c, cc, [HONEST, HONEST, greedy])
    assert _shares(c) == HONEST
    c.client.distribute(c.chain.operator, b"\x01" * 32, 6000)  # 10% cut: 5400 to holders, 100:200:300
    assert [c.client.withdrawable(a) for a in _context(c).members] == [900, 1800, 2700]


def test_one_validator_deflating_a_rival_to_zero_moves_its_pay_by_zero(committee) -> None:
    c, cc = committee
    spiteful = [HONEST[0], 0, HONEST[2]]
    _ballot(c, cc, [spiteful, HONEST, HONEST])
    assert _shares(c) == HONEST  # Bittensor's one-sided clipping would let this through


def test_two_of_three_colluding_decide_the_median(committee) -> None:
    """The honest-majority assumption: a weighted majority that agrees sets the score."""
    c, cc = committee
    colluding = [3000, 0, HONEST[2]]
    outcome = _ballot(c, cc, [colluding, colluding, HONEST])
    assert outcome.medians == [3000, 0, 300] and _shares(c) == [3000, 0, 300]


def test_a_vector_cannot_be_copied_commits_close_before_reveals_open(committee) -> None:
    c, cc = committee
    context = _context(c)
    ballot, _ = cc.open_round(c.chain.operator, context)
    honest, copier = c.validators[0], c.validators[1]
    salt = secrets.token_bytes(32)
    cc.commit(honest, ballot, HONEST, salt)
    with pytest.raises(TransactionError, match="ScoreCommittee: the commit phase is still open"):
        cc.reveal(honest, ballot, HONEST, salt)
    # copying the commitment itself does not help: it binds the committer's address
    c.chain.send(copier, cc.committee, "commit", ballot, commitment(ballot, honest.address, HONEST, salt))
    cc.wait_until(int(cc.state(ballot)["commit_end"]))
    cc.reveal(honest, ballot, HONEST, salt)
    with pytest.raises(TransactionError, match="ScoreCommittee: reveal does not match the commitment"):
        cc.reveal(copier, ballot, HONEST, salt)
    # and a validator that waited to see the reveal can no longer commit
    with pytest.raises(TransactionError, match="ScoreCommittee: the commit phase is over"):
        cc.commit(c.validators[2], ballot, HONEST, salt)


def test_a_missing_reveal_does_not_stop_the_round_and_the_validator_is_named(committee) -> None:
    c, cc = committee
    late = c.validators[2]
    outcome = _ballot(c, cc, [HONEST, HONEST, [0, 0, 0]], skip_reveal=frozenset({late.address}))
    assert outcome.missing == (late.address,) and _shares(c) == HONEST
    with pytest.raises(TransactionError, match="ScoreCommittee: the reveal phase is over"):
        cc.reveal(late, outcome.ballot, [0, 0, 0], bytes(32))
    check = _committee_check(c)
    assert check.ok and f"missing {late.address}" in check.detail


def test_a_round_needs_more_than_half_the_weight_revealed(committee) -> None:
    c, cc = committee
    context = _context(c)
    ballot, _ = cc.open_round(c.chain.operator, context)
    salts = [secrets.token_bytes(32) for _ in c.validators]
    for v, salt in zip(c.validators, salts, strict=True):
        cc.commit(v, ballot, HONEST, salt)
    cc.wait_until(int(cc.state(ballot)["commit_end"]))
    cc.reveal(c.validators[0], ballot, HONEST, salts[0])
    cc.wait_until(int(cc.state(ballot)["reveal_end"]))
    with pytest.raises(TransactionError, match="ScoreCommittee: validators holding half the weight or less revealed"):
        cc.propose(c.chain.operator, ballot, HONEST)
    # the coordinator opens a new ballot for the same round; the dead one can never be recorded
    ballot2 = _ballot(c, cc, [HONEST, HONEST, HONEST]).ballot
    assert ballot2 == ballot + 1 and _shares(c) == HONEST


def test_a_wrong_proposal_is_overturned_by_recomputing_on_chain(committee) -> None:
    c, cc = committee
    outcome = _ballot(c, cc, [HONEST, HONEST, HONEST], propose_medians=[0, 0, 600])
    assert _shares(c) == HONEST and "challenge" in outcome.gas
    (ballot,) = cc.ballots()
    assert ballot.finalized is not None and ballot.finalized["overturned"] and ballot.finalized["recomputed"]
    assert _committee_check(c).ok


def test_an_unchallenged_proposal_is_recorded_only_as_proposed(committee) -> None:
    c, cc = committee
    context = _context(c)
    ballot, _ = cc.open_round(c.chain.operator, context)
    salts = [secrets.token_bytes(32) for _ in c.validators]
    for v, salt in zip(c.validators, salts, strict=True):
        cc.commit(v, ballot, HONEST, salt)
    cc.wait_until(int(cc.state(ballot)["commit_end"]))
    for v, salt in zip(c.validators, salts, strict=True):
        cc.reveal(v, ballot, HONEST, salt)
    cc.wait_until(int(cc.state(ballot)["reveal_end"]))
    cc.propose(c.chain.operator, ballot, HONEST)
    with pytest.raises(TransactionError, match="ScoreCommittee: the challenge window is still open"):
        cc.finalize(c.outsider, ballot, context, HONEST)
    cc.wait_until(int(cc.state(ballot)["challenge_end"]))
    with pytest.raises(TransactionError, match="ScoreCommittee: medians differ from the proposal"):
        cc.finalize(c.outsider, ballot, context, [0, 0, 600])
    changed = RoundContext(1, HASH, "exact", '{"other": 1}', 0, context.members)
    with pytest.raises(TransactionError, match="ScoreCommittee: context differs from the ballot's"):
        cc.finalize(c.outsider, ballot, changed, HONEST)
    cc.finalize(c.outsider, ballot, context, HONEST)  # anyone may finalize
    assert _shares(c) == HONEST


def test_a_member_validator_has_no_say_over_its_own_score(chain) -> None:
    c = make_consortium(chain, validators=2)
    member = c.members[0]
    c.govern(ProposalAction("validator", number=1, account=member.address, digest=b"\x05" * 32))
    cc = CommitteeClient(c.chain, c.deployment, c.client.index)
    context = _context(c)
    j = context.members.index(member.address)
    selfish = list(HONEST)
    selfish[j] = 10**6
    scores = {c.validators[0].address: HONEST, c.validators[1].address: HONEST, member.address: selfish}
    accounts = {v.address: v for v in [*c.validators, member]}
    outcome = cc.run_ballot(
        c.chain.operator,
        context,
        scores,
        accounts,
        lambda reveals, weights: committee_medians(context.members, reveals, weights),
    )
    assert outcome.medians == HONEST and _shares(c) == HONEST


def test_with_a_committee_only_the_committee_records_rounds(committee) -> None:
    c, _ = committee
    with pytest.raises(TransactionError, match="TrainingLog: rounds come from the score committee"):
        c.record(1, HONEST)


def test_validators_are_admitted_and_removed_by_a_role_change(committee) -> None:
    c, cc = committee
    action = ProposalAction("validator", number=0, account=c.validators[2].address)
    assert action.role_change
    c.govern(action)
    assert cc.weights() == {v.address: 1 for v in c.validators[:2]}
    with pytest.raises(TransactionError, match="ScoreCommittee: caller is not a validator"):
        cc.commit(c.validators[2], 1, HONEST, bytes(32))
    with pytest.raises(TransactionError, match="ScoreCommittee: caller is not the owner"):
        c.chain.send(c.chain.operator, cc.committee, "set_validator", c.outsider.address, 5, bytes(32))
    with pytest.raises(GovernanceError, match="validator weight must be 0"):
        ProposalAction("validator", number=2**33, account=c.outsider.address)


def test_a_single_scorer_consortium_has_no_validators(consortium) -> None:
    with pytest.raises(GovernanceError, match="Governor: no score committee"):
        consortium.govern(ProposalAction("validator", number=1, account=consortium.outsider.address))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pairs=st.lists(st.tuples(st.integers(-(2**100), 2**100), st.integers(1, 2**32)), min_size=0, max_size=16))
def test_the_contract_median_is_the_python_median(committee, pairs) -> None:
    _, cc = committee
    values, weights = [v for v, _ in pairs], [w for _, w in pairs]
    assert cc.committee.functions.weighted_median(values, weights).call() == weighted_median(values, weights)


def test_the_audit_fails_on_one_unit_of_difference_from_the_medians(committee) -> None:
    from dataclasses import replace

    from fairshare.ledger.committee_audit import committee_check

    c, cc = committee
    _ballot(c, cc, [[100, 200, 300], [101, 200, 300], [102, 200, 300]])
    (record,) = c.client.rounds()
    (_, ok, _), scoring = committee_check(c.client, [record])
    assert ok and scoring[0].scorer == "committee"
    off_by_one = replace(record, scores=(record.scores[0] + 1, *record.scores[1:]))
    (_, ok, detail), _ = committee_check(c.client, [off_by_one])
    assert not ok and "differ from the validators' medians" in detail


def test_a_round_interrupted_mid_ballot_is_run_again_and_only_one_ballot_records_it(committee) -> None:
    c, cc = committee
    context = _context(c)
    first, _ = cc.open_round(c.chain.operator, context)
    cc.commit(c.validators[0], first, HONEST, secrets.token_bytes(32))  # ... and the coordinator crashed here
    second = _ballot(c, cc, [HONEST, HONEST, HONEST]).ballot  # the retry outlasts the open ballot, then opens anew
    assert second == first + 1 and _shares(c) == HONEST
    with pytest.raises(TransactionError, match="ScoreCommittee: not the open ballot"):
        cc.reveal(c.validators[0], first, HONEST, bytes(32))
    assert _committee_check(c).ok


def test_a_validator_that_proposes_wrong_medians_first_is_overturned(committee) -> None:
    c, cc = committee
    greedy = c.validators[2]
    wait = cc.wait_until

    def greedy_proposes_as_soon_as_reveals_close(block: int) -> None:
        wait(block)
        state = cc.committee.functions.ballot_state().call()
        if block == state[2] and state[3] == 0:  # the reveal phase just ended and nobody proposed yet
            cc.propose(greedy, state[0], [0, 0, 10**6])

    cc.wait_until = greedy_proposes_as_soon_as_reveals_close  # type: ignore[method-assign]
    outcome = _ballot(c, cc, [HONEST, HONEST, HONEST])
    assert "propose" not in outcome.gas and "challenge" in outcome.gas  # the coordinator recomputed on chain
    assert _shares(c) == HONEST and cc.ballots()[-1].finalized["overturned"]
