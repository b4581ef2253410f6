"""Reading a run back from chain: members' balances, and the audit against the model artifacts on disk."""

from __future__ import annotations

from fairshare.consortium.session import Run
from fairshare.consortium.training import load_model
from fairshare.consortium.view import MemberBalance
from fairshare.learning.model import params_hash
from fairshare.ledger import AuditReport, audit

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
    return audit(run.chain, run.deployment, artifact_hashes(run), client=run.ledger)
