"""Reading a run back from chain: members' balances, and the audit against the model artifacts on disk."""

from __future__ import annotations

from dataclasses import replace

from fairshare.consortium.session import Run
from fairshare.consortium.training import load_model
from fairshare.consortium.view import MemberBalance
from fairshare.learning.model import params_hash
from fairshare.ledger import AuditReport, Check, audit

__all__ = ["artifact_hashes", "audit_run", "member_balances"]


def member_balances(run: Run) -> list[MemberBalance]:
    """Every member and the treasury, as the revenue contract sees them now."""
    ledger = run.ledger
    rows = [(m.name, m.address, "member", m.behaviour) for m in run.record.members]
    rows.append(("treasury", run.record.treasury, "treasury", "-"))
    balances = []
    for name, address, role, behaviour in rows:
        withdrawn = ledger.withdrawn(address)
        withdrawable = ledger.withdrawable(address)
        balances.append(
            MemberBalance(
                name=name,
                address=address,
                role=role,
                shares=ledger.shares_of(address),
                entitled=withdrawn + withdrawable,
                withdrawn=withdrawn,
                withdrawable=withdrawable,
                behaviour=behaviour,
            )
        )
    return balances


def artifact_hashes(run: Run) -> dict[int, bytes]:
    """Each round's model hash recomputed from its artifact file: what the audit compares with the chain."""
    hashes = {}
    for path in sorted(run.paths.models_dir.glob("round-*.npz")):
        round_id = int(path.stem.removeprefix("round-"))
        hashes[round_id] = params_hash(load_model(path))
    return hashes


def audit_run(run: Run) -> AuditReport:
    report = audit(run.chain, run.deployment, artifact_hashes(run), client=run.ledger)
    if not run.deployment.governor:
        return report
    check, history = governance_check(run)
    return replace(report, checks=[*report.checks, check], history=history)


def governance_check(run: Run) -> tuple[Check, list[dict[str, object]]]:
    """Who voted what and what was executed when; every tally recomputed from Voted events."""
    policy = run.governance.policy()
    history, bad = [], []
    for p in run.governance.proposals():
        yes = sum(v.weight for v in p.votes if v.support)
        no = sum(v.weight for v in p.votes if not v.support)
        cast = yes + no
        passes = (
            cast > 0
            and cast * 10_000 >= p.total_weight * policy.quorum_bps
            and yes * 10_000 > cast * policy.threshold_bps
        )
        if (yes, no) != (p.votes_for, p.votes_against) or (p.state == "executed" and not passes):
            bad.append(p.proposal_id)
        history.append(
            {
                "id": p.proposal_id,
                "action": p.action.describe(),
                "proposer": p.proposer,
                "state": p.state,
                "votes": [
                    {"voter": v.voter, "support": v.support, "weight": v.weight, "block": v.block} for v in p.votes
                ],
                "executed_block": p.executed_block,
            }
        )
    executed = sum(1 for h in history if h["state"] == "executed")
    detail = f"{len(history)} proposals, {executed} executed; tallies recomputed from votes"
    if bad:
        detail += f"; proposals {bad} disagree with their votes or executed without passing"
    return Check("governance history", not bad, detail), history
