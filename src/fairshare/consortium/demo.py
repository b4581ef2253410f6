"""The whole loop in one call: set up, train and value, earn through the paid API, settle, withdraw, audit.

Returns the summary that ``fairshare demo --out DIR`` writes as ``summary.json``. Every amount in it is an
integer in the token's smallest unit; ``vault`` says what customers deposited in the CreditVault and how much
of it was settled into the members' payouts (RevenueShares, or EntitlementRoots with payouts by roots) or
refunded, and the vault's balance.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

from fairshare.config import ConsortiumConfig
from fairshare.consortium.governing import pass_by_acclamation
from fairshare.consortium.report import audit_run, member_balances
from fairshare.consortium.revenue import earn_revenue, settle_run, vault_for, withdraw_members
from fairshare.consortium.session import open_run
from fairshare.consortium.setup import chain_url_for, init_run, resolve_config
from fairshare.consortium.training import train_run
from fairshare.consortium.view import View
from fairshare.errors import ConfigError
from fairshare.governance import ProposalAction
from fairshare.learning.data import load_builtin
from fairshare.ledger import connect

__all__ = ["ACCUMULATOR_MAX_MEMBERS", "run_demo", "scaled_for", "uses_roots"]

ACCUMULATOR_MAX_MEMBERS = 128
"""Members one TrainingLog round takes (TrainingLog.MAX_MEMBERS); larger consortia are paid by roots."""
MIN_ROWS = 8
"""Rows each member needs at least (``partition``)."""


def uses_roots(config: ConsortiumConfig) -> bool:
    """Whether the demo pays out by Merkle roots: asked for, or ``auto`` beyond what one round transaction takes."""
    payout, n = config.revenue.payout, len(config.members)
    if payout == "accumulator" and n > ACCUMULATOR_MAX_MEMBERS:
        raise ConfigError(
            f'[revenue] payout = "accumulator" takes at most {ACCUMULATOR_MAX_MEMBERS} members; {n} are configured: '
            'use "roots" or "auto"'
        )
    return payout == "roots" or (payout == "auto" and n > ACCUMULATOR_MAX_MEMBERS)


def scaled_for(config: ConsortiumConfig) -> tuple[ConsortiumConfig, list[str]]:
    """The demo's settings for a consortium too large for its dataset or its voting period, and what changed.

    A bundled dataset too small for every member to get rows is replaced by the generated one (60,000 rows) with a
    small validation split (valuation cost grows with it); voting lasts long enough for the votes a pass needs at
    one vote per block.
    """
    notes: list[str] = []
    n = len(config.members)
    data, governance = config.data, config.governance
    if data.dataset is not None and data.dataset != "synthetic":
        rows = len(load_builtin(data.dataset).y) * (1 - data.validation_fraction - data.test_fraction)
        if rows < MIN_ROWS * n:
            data = data.model_copy(
                update={"dataset": "synthetic", "validation_fraction": 0.02, "test_fraction": 0.02, "label_skew": None}
            )
            notes.append(
                f"{config.data.dataset}'s {int(rows)} member rows cannot give {n:,} members {MIN_ROWS} each: "
                "using the generated 'synthetic' dataset (60,000 rows, 2% each for validation and test)"
            )
    if governance.voting_period_blocks < n + 10:
        governance = governance.model_copy(update={"voting_period_blocks": n + 10})
        notes.append(f"voting lasts {n + 10:,} blocks so that enough of {n:,} members can vote (one vote per block)")
    return config.model_copy(update={"data": data, "governance": governance}), notes


def run_demo(
    config_path: Path,
    home: Path,
    view: View,
    members: int | None = None,
    rounds: int | None = None,
    chain_url: str | None = None,
    runtime: str | None = None,
) -> dict[str, object]:
    started = time.perf_counter()
    config = resolve_config(config_path, members=members, rounds=rounds, runtime=runtime)
    config, notes = scaled_for(config)
    view.stage(
        f"Consortium {config.name!r}: {len(config.members)} members",
        "\n".join([config.description, *notes]).strip(),
    )
    chain = connect(chain_url_for(config, chain_url), home)
    paths, record = init_run(config, home, chain, progress=view.progress)
    run = open_run(home, config.name, chain=chain)
    view.stage(
        "Contracts deployed",
        f"chain {record.chain_url} (id {record.chain_id}); run folder {paths.root}\n"
        + "\n".join(f"  {k}: {v}" for k, v in record.deployment.items() if isinstance(v, str) and v.startswith("0x")),
    )

    if uses_roots(config):
        view.stage(
            "Governance: pay out by Merkle roots",
            f"{len(config.members):,} members (the accumulator takes {ACCUMULATOR_MAX_MEMBERS} in one round "
            "transaction): members vote to publish rounds to EntitlementRoots and claim with proofs",
        )
        pass_by_acclamation(run, ProposalAction("payout-mode", number=1), "pay out by Merkle roots", view)
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
    withdrawals = withdraw_members(run, progress=view.progress)
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
                "values": r.values,
                "scores": r.scores,
                "scorer": r.scorer,
                "validators": r.validators,
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
