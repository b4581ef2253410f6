"""What the dashboard shows, read from the chain and the usage store in one pass, as plain JSON-able values.

Token amounts are decimal strings: wei exceed JavaScript's 2**53 exact integers, and a page must show the
audit's numbers to the last unit.

The numbers come from the same places the audit reads (the audit's replay for payouts), so a page and
``fairshare audit --json`` always agree. Only aggregate, per-member and on-chain data: no API keys, no
per-customer usage.
"""

from __future__ import annotations

import json
from pathlib import Path

from fairshare.consortium.report import audit_run, member_balances
from fairshare.consortium.session import open_run
from fairshare.serving.store import UsageStore

__all__ = ["dashboard_snapshot"]


def dashboard_snapshot(home: Path, consortium: str | None = None) -> dict[str, object]:
    run = open_run(home, consortium)
    try:
        audit = audit_run(run)
        rounds = sorted(run.ledger.rounds(), key=lambda r: r.round_id)
        by_address = {m.address: m.name for m in run.record.members}
        policy = run.governance.policy()
        usage = UsageStore(run.paths.usage_url).summary()
        tx_by_account: dict[str, list[str]] = {}
        for w in run.ledger.withdrawals():
            tx_by_account.setdefault(w.account, []).append(w.tx_hash)

        return {
            "consortium": run.config.name,
            "description": run.config.description,
            "chain": {"url": run.record.chain_url, "chain_id": run.record.chain_id, **run.record.deployment},
            "released_model": policy.released_model.hex() if any(policy.released_model) else None,
            "policy": {
                "price_per_row": str(policy.price_per_row),
                "treasury_cut_bps": policy.treasury_cut_bps,
                "valuation_method": policy.valuation_method,
            },
            "audit": audit.to_json(),
            "revenue": {
                "deposited": str(audit.deposited),
                "billed": str(usage.revenue),
                "settled": str(usage.settled),
                "pending": str(usage.pending),
                "calls": usage.calls,
            },
            "rounds": [
                {
                    "round": r.round_id,
                    "model_hash": r.model_hash.hex(),
                    "method": r.method,
                    "seed": r.seed,
                    "tx_hash": r.tx_hash,
                    "record_hash": r.record_hash.hex(),
                    "scores": {by_address.get(a, a): s / 1e9 for a, s in zip(r.members, r.scores, strict=True)},
                    "shares": {by_address.get(a, a): s for a, s in zip(r.members, r.shares, strict=True)},
                    **_recorded(r.params),
                }
                for r in rounds
            ],
            "accuracy": _accuracy(run),
            "payouts": [
                {
                    "name": b.name,
                    "address": b.address,
                    "role": b.role,
                    "shares": str(b.shares),
                    "entitled": str(audit.entitled.get(b.address, 0)),
                    "withdrawn": str(audit.withdrawn.get(b.address, 0)),
                    "pending": str(audit.entitled.get(b.address, 0) - audit.withdrawn.get(b.address, 0)),
                    "transactions": tx_by_account.get(b.address, []),
                }
                for b in member_balances(run)
            ],
            "governance": audit.history,
        }
    finally:
        run.chain.close()


def _accuracy(run) -> list[dict[str, float]]:
    from fairshare.consortium.training import load_model, model_for
    from fairshare.learning.data import load_partition

    test = load_partition(run.paths.coordinator_dir / "test.npz")
    model = model_for(run)
    out = []
    for path in sorted(run.paths.models_dir.glob("round-*.npz"), key=lambda p: int(p.stem.split("-")[1])):
        params = load_model(path)
        out.append({"round": int(path.stem.split("-")[1]), "accuracy": model.accuracy(params, test.X, test.y)})
    return out


def _recorded(params: str) -> dict[str, object]:
    """Flags, refused updates and each member's privacy budget, as the round record on chain states them."""
    recorded = json.loads(params) if params.startswith("{") else {}
    return {
        "flags": recorded.get("flags", {}),
        "rejected": recorded.get("rejected", {}),
        "epsilon": (recorded.get("privacy") or {}).get("epsilon", {}),
    }
