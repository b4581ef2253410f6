"""The audit of who scored each round: a single scorer, or the validators' medians recomputed from their reveals.

For every round recorded through the ScoreCommittee it re-derives, from chain data alone:

- each reveal matches its validator's commitment (keccak of ballot, validator, scores and salt, all read back from
  the reveal's calldata), was committed in the commit phase and revealed in the reveal phase, with the weight the
  validator held then;
- the medians, member by member, from the reveals (a member-validator left out of its own entry): the round's
  scores must equal them to the unit;
- which admitted validators did not reveal (named), and whose vector sat far from the medians (named).

Rounds recorded before a committee existed, or in a consortium without one, are labelled "single scorer".
Once the TrainingLog names a committee, a round recorded without a finalized ballot fails the check.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fairshare.ledger.client import LedgerClient, RoundRecord
from fairshare.ledger.committee import Ballot, CommitteeClient, RoundContext, committed_slot
from fairshare.valuation.median import committee_medians, outliers

__all__ = ["RoundScoring", "committee_check"]


@dataclass(frozen=True)
class RoundScoring:
    """Who decided a round's scores."""

    round_id: int
    scorer: str  # "single scorer" | "committee"
    ballot: int = 0
    revealed: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    outliers: dict[str, float] = field(default_factory=dict)
    overturned: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "round": self.round_id,
            "scorer": self.scorer,
            "ballot": self.ballot,
            "revealed": list(self.revealed),
            "missing": list(self.missing),
            "outliers": self.outliers,
            "overturned_proposal": self.overturned,
        }


def _weights_at(changes: list[tuple[int, str, int]], block: int) -> dict[str, int]:
    weights: dict[str, int] = {}
    for b, account, weight in changes:
        if b <= block:
            weights[account] = weight
    return {a: w for a, w in weights.items() if w > 0}


def _check_ballot(
    b: Ballot, r: RoundRecord, changes: list[tuple[int, str, int]], paid: dict[str, int], problems: list[str]
) -> RoundScoring:
    where = f"round {r.round_id} (ballot {b.ballot})"
    context = RoundContext(r.round_id, r.model_hash, r.method, r.params, r.seed, r.members)
    if context.hash() != b.context:
        problems.append(f"{where}: the recorded round is not the ballot's context")
    for v, reveal in b.reveals.items():
        committed = int.from_bytes(b.commitments.get(v, bytes(32)), "big")
        if committed_slot(b.ballot, v, reveal.scores, reveal.salt) != committed:
            problems.append(f"{where}: {v}'s reveal does not match its commitment")
        if not b.commit_end < reveal.block <= b.reveal_end:
            problems.append(f"{where}: {v} revealed in block {reveal.block}, outside the reveal phase")
        held = _weights_at(changes, reveal.block).get(v, 0)
        if held != reveal.weight:
            problems.append(f"{where}: {v} revealed with weight {reveal.weight} but held {held}")
        if len(reveal.scores) != len(r.members):
            problems.append(f"{where}: {v} revealed {len(reveal.scores)} scores for {len(r.members)} members")
    good = {v: x.scores for v, x in b.reveals.items() if len(x.scores) == len(r.members)}
    medians = committee_medians(r.members, good, {v: x.weight for v, x in b.reveals.items()})
    if list(r.scores) != medians:
        diff = [(m, s, e) for m, s, e in zip(r.members, r.scores, medians, strict=True) if s != e]
        problems.append(f"{where}: recorded scores differ from the validators' medians for {diff[:3]}")
    eligible = _weights_at(changes, b.reveal_end)
    finalized = b.finalized or {}
    return RoundScoring(
        r.round_id,
        "committee",
        b.ballot,
        tuple(b.reveals),
        tuple(v for v in eligible if v not in b.reveals),
        outliers(good, medians, paid=[paid.get(m.lower(), 0) for m in r.members]),
        bool(finalized.get("overturned", False)),
    )


def committee_check(
    client: LedgerClient, records: list[RoundRecord]
) -> tuple[tuple[str, bool, str], list[RoundScoring]]:
    """(name, ok, detail) of the "validators' medians" check, and who scored each round."""
    name = "validators' medians"
    if client.committee is None:
        return (name, True, f"{len(records)} rounds by a single scorer (the oracle); no validators"), [
            RoundScoring(r.round_id, "single scorer") for r in records
        ]
    committee = CommitteeClient(client.chain, client.deployment, client.index)
    since = [e.block for e in client.events(client.log, "RoleChanged") if e.args["role"] == "committee"]
    changes = [
        (e.block, e.args["account"], int(e.args["weight"])) for e in client.events(client.committee, "ValidatorChanged")
    ]
    by_round = {
        b.round_id: b for b in committee.ballots() if b.finalized is not None
    }  # at most one finalized ballot per round: the log takes each round once
    problems: list[str] = []
    scoring: list[RoundScoring] = []
    paid: dict[str, int] = {}  # each member's scores in earlier rounds, summed: what outliers are measured against
    for r in sorted(records, key=lambda r: r.round_id):
        before = dict(paid)
        for member, score in zip(r.members, r.scores, strict=True):
            paid[member.lower()] = paid.get(member.lower(), 0) + max(int(score), 0)
        ballot = by_round.get(r.round_id)
        if ballot is None or ballot.finalized is None or ballot.finalized["block"] != r.block:
            scoring.append(RoundScoring(r.round_id, "single scorer"))
            if since and r.block > since[0]:
                problems.append(f"round {r.round_id}: recorded without the committee's medians")
            continue
        scoring.append(_check_ballot(ballot, r, changes, before, problems))
    committee_rounds = [s for s in scoring if s.scorer == "committee"]
    named = [f"round {s.round_id}: missing {', '.join(s.missing)}" for s in committee_rounds if s.missing] + [
        f"round {s.round_id}: outlier {', '.join(f'{v} ({d:.2f})' for v, d in s.outliers.items())}"
        for s in committee_rounds
        if s.outliers
    ]
    detail = (
        f"{len(committee_rounds)} rounds by the validators' medians (every reveal matches its commitment; medians "
        f"recompute to the unit), {len(scoring) - len(committee_rounds)} by a single scorer"
        + (f"; {'; '.join(named)}" if named else "")
    )
    return (name, not problems, "; ".join(problems[:8]) if problems else detail), scoring
