"""The governance half of the audit: every proposal, vote and execution replayed from the chain's events.

Events are replayed in chain order (the Governor's and the share mints), so for each proposal the audit knows
who was a member when, what everyone held at its snapshot and which rule it froze, and checks:

- the frozen rule: total weight = members at the snapshot (or shares at the snapshot, minus removed members'
  shares, when share-weighted), the rule and timelock are the ones in force (role changes: the role ones);
- every vote: cast by a member admitted before the snapshot, while voting was open, once, with the weight the
  rule gives it (1, or its shares at the snapshot);
- the tallies the contract stores equal the sum of the votes;
- the outcome: a proposal executed only if it passed by its frozen rule, after its timelock, before it expired;
  and the state the contract reports is the state the rule gives.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from fairshare.governance.client import GovernanceClient
from fairshare.governance.proposals import Proposal, Rules
from fairshare.ledger.audit import Check
from fairshare.ledger.client import LedgerClient

__all__ = ["governance_audit", "passes"]

MAX_BPS = 10_000


def passes(p: Proposal, members_for: int) -> bool:
    """The Governor's pass rule, on a proposal's frozen rule and its tallies."""
    cast = p.votes_for + p.votes_against
    if cast == 0 or cast * MAX_BPS < p.total_weight * p.quorum_bps:
        return False
    if p.votes_for * MAX_BPS <= cast * p.threshold_bps:
        return False
    if p.action.role_change:
        return p.votes_for * MAX_BPS > p.total_weight * p.super_bps and members_for * 2 > p.member_count
    return True


@dataclass
class _World:
    """Members, shares and rules as they stood at a point of the replay."""

    member_since: dict[str, int] = field(default_factory=dict)
    removed_share_of: dict[str, int] = field(default_factory=dict)
    mints: list[tuple[int, str, int]] = field(default_factory=list)
    rules: Rules | None = None

    def shares_at(self, account: str | None, block: int) -> int:
        return sum(a for b, who, a in self.mints if b <= block and (account is None or who == account))


def governance_audit(ledger: LedgerClient, governance: GovernanceClient) -> tuple[Check, list[dict[str, object]]]:
    """Replay the Governor's history; ``governance`` must read through ``ledger``'s (fresh) index."""
    g = ledger.governor
    proposals = {p.proposal_id: p for p in governance.proposals()}
    stream: list[tuple[int, int, str, object]] = []
    for name in ("MemberChanged", "RulesChanged", "Proposed", "Voted", "Executed"):
        stream += [(e.block, e.log_index, name, e) for e in ledger.events(g, name)]
    stream += [(m.block, m.log_index, "Minted", m) for m in ledger.mints()]
    stream.sort(key=lambda item: (item[0], item[1]))

    world = _World()
    problems: dict[int, list[str]] = defaultdict(list)
    voted: dict[int, set[str]] = defaultdict(set)
    members_for: dict[int, int] = defaultdict(int)
    tally: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    executed_at: dict[int, int] = {}
    for block, _, name, e in stream:
        if name == "Minted":
            world.mints.append((block, e.account, e.amount))  # type: ignore[attr-defined]
            continue
        args = e.args  # type: ignore[attr-defined]
        if name == "MemberChanged":
            account = args["account"]
            if args["admitted"]:
                world.member_since[account] = block
                world.removed_share_of.pop(account, None)
            else:
                world.member_since.pop(account, None)
                world.removed_share_of[account] = world.shares_at(account, block)
        elif name == "RulesChanged":
            world.rules = Rules(*(int(args[k]) for k in Rules.__dataclass_fields__))
        elif name == "Proposed":
            _check_frozen_rule(proposals[int(args["proposal_id"])], block, world, problems)
        elif name == "Voted":
            pid = int(args["proposal_id"])
            p, voter = proposals[pid], args["voter"]
            since = world.member_since.get(voter)
            if since is None or since > p.snapshot:
                problems[pid].append(f"vote by {voter}, who was not a member before the snapshot")
            if voter in voted[pid]:
                problems[pid].append(f"second vote by {voter}")
            if block > p.end:
                problems[pid].append(f"vote by {voter} after voting ended")
            weight = 1 if p.weighting == 0 else world.shares_at(voter, p.snapshot)
            if int(args["weight"]) != weight:
                problems[pid].append(f"vote by {voter} weighs {args['weight']}, the rule gives {weight}")
            voted[pid].add(voter)
            tally[pid][0 if args["support"] else 1] += weight
            members_for[pid] += 1 if args["support"] else 0
        else:
            executed_at[int(args["proposal_id"])] = block

    history = []
    for pid, p in sorted(proposals.items()):
        if (p.votes_for, p.votes_against) != tuple(tally[pid]):
            problems[pid].append(f"stored tallies {p.votes_for}/{p.votes_against} differ from the votes {tally[pid]}")
        passed = passes(p, members_for[pid])
        at = executed_at.get(pid)
        if at is not None and not (passed and p.end + p.timelock < at <= p.expires):
            problems[pid].append(f"executed in block {at} without passing by its rule within its window")
        if p.state == "executed" and at is None:
            problems[pid].append("the contract says executed, but there is no Executed event")
        if (p.state in ("ready", "queued", "expired") and not passed) or (p.state == "defeated" and passed):
            problems[pid].append(f"state {p.state!r} contradicts its rule (passed: {passed})")
        history.append(
            {
                "id": pid,
                "action": p.action.describe(),
                "kind": p.action.kind,
                "proposer": p.proposer,
                "state": p.state,
                "role_change": p.action.role_change,
                "rule": {
                    "weighting": "shares" if p.weighting else "members",
                    "quorum_bps": p.quorum_bps,
                    "threshold_bps": p.threshold_bps,
                    "super_bps": p.super_bps if p.action.role_change else None,
                    "timelock": p.timelock,
                    "expires": p.expires,
                    "total_weight": p.total_weight,
                },
                "votes": [
                    {"voter": v.voter, "support": v.support, "weight": v.weight, "block": v.block} for v in p.votes
                ],
                "executed_block": at,
            }
        )
    bad = {pid: issues for pid, issues in problems.items() if issues}
    executed = sum(1 for h in history if h["state"] == "executed")
    detail = (
        f"{len(history)} proposals, {executed} executed; every vote by a member with the weight its frozen rule "
        "gives; tallies and outcomes recomputed"
    )
    if bad:
        detail = "; ".join(f"proposal {pid}: {', '.join(issues)}" for pid, issues in sorted(bad.items()))
    return Check("governance history", not bad, detail), history


def _check_frozen_rule(p: Proposal, block: int, world: _World, problems: dict[int, list[str]]) -> None:
    rules = world.rules
    if rules is None:
        problems[p.proposal_id].append("opened before any governance rules were set")
        return
    members = len(world.member_since)
    weighting, total = 0, members
    if rules.weighting == 1:
        held = world.shares_at(None, p.snapshot) - sum(world.removed_share_of.values())
        if held > 0:
            weighting, total = 1, held
    timelock = rules.role_timelock if p.action.role_change else rules.timelock
    frozen = (p.weighting, p.total_weight, p.quorum_bps, p.threshold_bps, p.super_bps, p.timelock, p.member_count)
    expected = (weighting, total, rules.quorum_bps, rules.threshold_bps, rules.super_bps, timelock, members)
    if frozen != expected:
        problems[p.proposal_id].append(f"frozen rule {frozen} is not the rule in force {expected}")
    if p.expires != p.end + p.timelock + rules.execution_window or p.end != block + rules.voting_period:
        problems[p.proposal_id].append("voting end or expiry does not follow the rules in force")
