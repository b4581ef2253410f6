"""What the dashboard shows, read from the chain and the usage store in one pass, as plain JSON-able values.

Token amounts and share counts are decimal strings in the smallest unit: wei exceed JavaScript's 2**53 exact
integers, and a page must show the audit's numbers to the last unit. ``currency`` says how to show them to a
person: the native coin (ETH, 18 decimals) or the revenue token's own ``symbol()`` and ``decimals()``.

Two words, never "pending": revenue is *unsettled* while it is billed in the usage store and not yet
distributed on chain; a payout is *withdrawable* while a member is entitled to it and has not withdrawn it.

The numbers come from the same places the audit reads (the audit's replay for payouts), so a page and
``fairshare audit --json`` always agree. Only aggregate, per-member and on-chain data: no API keys, no
per-customer usage.
"""

from __future__ import annotations

import json
from pathlib import Path

from web3.exceptions import Web3Exception

from fairshare.consortium.report import audit_run, member_balances
from fairshare.consortium.session import Run, fresh_run
from fairshare.serving.store import UsageStore

__all__ = ["dashboard_snapshot"]


def dashboard_snapshot(home: Path, consortium: str | None = None) -> dict[str, object]:
    with fresh_run(home, consortium) as run:
        return _snapshot(run)


def _snapshot(run: Run) -> dict[str, object]:
    audit = audit_run(run)
    rounds = sorted(run.ledger.rounds(), key=lambda r: r.round_id)
    by_address = {m.address: m.name for m in run.record.members}
    by_address[run.record.treasury] = "treasury"
    policy = run.governance.policy()
    usage = UsageStore(run.paths.usage_url).summary()
    validator_names = {v.address.lower(): v.name for v in run.record.validators}
    scoring = {int(x["round"]): _named_scoring(x, validator_names) for x in audit.scoring}
    tx_by_account: dict[str, list[str]] = {}
    for w in run.ledger.withdrawals():
        tx_by_account.setdefault(w.account, []).append(w.tx_hash)

    return {
        "consortium": run.config.name,
        "description": run.config.description,
        "chain": {"url": run.record.chain_url, "chain_id": run.record.chain_id, **run.record.deployment},
        "released_model": policy.released_model.hex() if any(policy.released_model) else None,
        "model": _model_description(run),
        "currency": _currency(run),
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
            "unsettled": str(usage.pending),
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
                "shares": {by_address.get(a, a): str(s) for a, s in zip(r.members, r.shares, strict=True)},
                **_recorded(r.params),
                **scoring.get(r.round_id, {"scorer": "single scorer"}),
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
                "withdrawable": str(audit.entitled.get(b.address, 0) - audit.withdrawn.get(b.address, 0)),
                "transactions": tx_by_account.get(b.address, []),
            }
            for b in member_balances(run)
        ],
        "governance": [_named_votes(p, by_address) for p in audit.history],
    }


NATIVE = {"symbol": "ETH", "decimals": 18, "unit": "wei", "token": None}


def _currency(run: Run) -> dict[str, object]:
    """How amounts are shown: the native coin, or the ERC-20 revenue token's own symbol and decimals."""
    token = run.ledger.token
    if token is None:
        return NATIVE
    try:
        symbol, decimals = str(token.functions.symbol().call()), int(token.functions.decimals().call())
    except (Web3Exception, ValueError):  # an ERC-20 without the optional metadata: the raw smallest unit
        symbol, decimals = "token units", 0
    return {"symbol": symbol, "decimals": decimals, "unit": "base units", "token": token.address}


def _named_votes(proposal: dict[str, object], names: dict[str, str]) -> dict[str, object]:
    """A proposal of the audit's history with every voter (and the proposer) named; weights as strings."""
    votes = [
        {**v, "name": names.get(str(v["voter"]), str(v["voter"])), "weight": str(v["weight"])}
        for v in proposal["votes"]  # type: ignore[attr-defined]
    ]
    proposer = str(proposal.get("proposer", ""))
    return {**proposal, "votes": votes, "proposer_name": names.get(proposer, proposer)}


def _model_description(run) -> dict[str, object]:
    """What the consortium trains and serves: the kind, the factory (a PyTorch network) and its size."""
    from fairshare.consortium.training import model_for

    settings = run.config.model
    model = model_for(run)
    return {
        "kind": settings.kind,
        "factory": settings.factory,
        "input_shape": settings.input_shape or [model.n_features],
        "classes": model.n_classes,
        "parameters": sum(int(p.size) for p in model.init_params(0)),
    }


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


def _named_scoring(scoring: dict[str, object], names: dict[str, str]) -> dict[str, object]:
    """Who scored a round, validators by name: who revealed, who missed its reveal, whose vector was an outlier."""

    def name(address: object) -> str:
        return names.get(str(address).lower(), str(address))

    return {
        "scorer": scoring["scorer"],
        "revealed": [name(a) for a in scoring["revealed"]],  # type: ignore[attr-defined]
        "missing": [name(a) for a in scoring["missing"]],  # type: ignore[attr-defined]
        "outliers": {name(a): d for a, d in scoring["outliers"].items()},  # type: ignore[attr-defined]
    }


def _recorded(params: str) -> dict[str, object]:
    """Flags, refused updates and each member's privacy budget, as the round record on chain states them."""
    recorded = json.loads(params) if params.startswith("{") else {}
    return {
        "flags": recorded.get("flags", {}),
        "rejected": recorded.get("rejected", {}),
        "epsilon": (recorded.get("privacy") or {}).get("epsilon", {}),
    }
