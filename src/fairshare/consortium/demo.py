"""The whole loop in one call: set up, train and value, earn through the paid API, settle, withdraw, audit.

Returns the summary that ``fairshare demo --out DIR`` writes as ``summary.json``. Every amount in it is an
integer in the token's smallest unit; ``vault`` says what customers deposited in the CreditVault and how much
of it was settled into the split or refunded, and the vault's balance.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

from fairshare.consortium.governing import pass_by_acclamation
from fairshare.consortium.report import audit_run, member_balances
from fairshare.consortium.revenue import earn_revenue, settle_run, vault_for, withdraw_members
from fairshare.consortium.session import open_run
from fairshare.consortium.setup import chain_url_for, init_run, resolve_config
from fairshare.consortium.training import train_run
from fairshare.consortium.view import View
from fairshare.governance import ProposalAction
from fairshare.ledger import connect

__all__ = ["run_demo"]


def run_demo(
    config_path: Path,
    home: Path,
    view: View,
    members: int | None = None,
    rounds: int | None = None,
    chain_url: str | None = None,
) -> dict[str, object]:
    started = time.perf_counter()
    config = resolve_config(config_path, members=members, rounds=rounds)
    view.stage(
        f"Consortium {config.name!r}: {len(config.members)} members",
        config.description,
    )
    chain = connect(chain_url_for(config, chain_url), home)
    paths, record = init_run(config, home, chain)
    run = open_run(home, config.name, chain=chain)
    view.stage(
        "Contracts deployed",
        f"chain {record.chain_url} (id {record.chain_id}); run folder {paths.root}\n"
        + "\n".join(f"  {k}: {v}" for k, v in record.deployment.items() if isinstance(v, str) and v.startswith("0x")),
    )

    view.stage("Federated training", "each member trains on its own rows; the coordinator values every update")
    reports = train_run(run, view=view)

    view.stage("Governance: release the model", "members vote to release the last round's model for sale")
    last = max(run.ledger.rounds(), key=lambda r: r.round_id)
    pass_by_acclamation(
        run, ProposalAction("release", digest=last.model_hash), f"release round {last.round_id}'s model", view
    )

    calls = run.config.revenue.demo_calls
    first_batch = calls // 2
    view.stage("The model earns", "customers call the released model's paid API over HTTP")
    earned = earn_revenue(run, view=view, calls=first_batch)
    view.stage("Settlement on chain")
    settlements = [settle_run(run)]
    view.settled(settlements[-1])

    new_cut = run.config.governance.demo_treasury_cut_bps
    if new_cut is not None:
        view.stage("Governance: change the revenue split", f"members vote to set the treasury cut to {new_cut} bps")
        pass_by_acclamation(
            run, ProposalAction("treasury-cut", number=new_cut), "more of the revenue to the members", view
        )
    view.stage("The model earns more", "the next paid calls are split under the new rule")
    earned += earn_revenue(run, view=view, calls=calls - first_batch)
    view.stage("Settlement on chain")
    settlements.append(settle_run(run))
    view.settled(settlements[-1])
    view.stage("Members withdraw", "each member signs its own withdrawal; the contract pays what it is owed")
    withdrawals = withdraw_members(run)
    view.withdrew(withdrawals)
    balances = member_balances(run)
    view.payouts(balances)
    view.stage("Audit", "every balance re-derived from chain events; model artifacts re-hashed")
    audit = audit_run(run)
    revenue = earned
    paid = sum(b.withdrawn + b.withdrawable for b in balances)
    summary: dict[str, object] = {
        "consortium": config.name,
        "run": str(paths.root),
        "seconds": round(time.perf_counter() - started, 2),
        "rounds": [
            {
                "round": r.round,
                "accuracy": r.accuracy,
                "loss": r.loss,
                "model_hash": r.model_hash,
                "method": r.method,
                "scores": r.values,
                "shares": r.shares,
                "flags": r.flags,
                "rejected": r.rejected,
                "epsilon": r.epsilon,
                "evaluations": r.evaluations,
            }
            for r in reports
        ],
        "privacy": {
            **config.privacy.model_dump(mode="json"),
            "epsilon": reports[-1].epsilon if reports else {},
        },
        "members": [
            {
                "name": b.name,
                "address": b.address,
                "role": b.role,
                "behaviour": b.behaviour,
                "shares": b.shares,
                "payout": b.entitled,
                "withdrawn": b.withdrawn,
            }
            for b in balances
        ],
        "revenue": revenue,
        "remainder": revenue - paid,
        "settlements": [asdict(s) for s in settlements],
        "vault": vault_for(run).totals(),
        "governance": [
            {
                "id": p.proposal_id,
                "action": p.action.describe(),
                "state": p.state,
                "votes_for": p.votes_for,
                "votes_against": p.votes_against,
            }
            for p in run.governance.proposals()
        ],
        "withdrawals": [asdict(w) for w in withdrawals],
        "audit": audit.to_json(),
        "chain": {"url": record.chain_url, "chain_id": record.chain_id, "contracts": record.deployment},
    }
    view.audited(audit)
    return summary
