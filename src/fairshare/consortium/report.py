"""Reading a run back from chain: members' balances, and the audit against the model artifacts and usage store."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

from fairshare.consortium.payouts import roots_balances
from fairshare.consortium.session import Run
from fairshare.consortium.training import load_model
from fairshare.consortium.view import MemberBalance
from fairshare.governance import GovernanceClient
from fairshare.governance.audit import governance_audit
from fairshare.learning.model import params_hash
from fairshare.ledger import AuditReport, Check, LedgerClient, audit
from fairshare.ledger.client import RoundRecord
from fairshare.ledger.roots import RootsClient
from fairshare.ledger.vault import VaultClient
from fairshare.ledger.vault_audit import vault_checks
from fairshare.serving.settle import key_source
from fairshare.serving.store import UsageStore

__all__ = ["artifact_hashes", "audit_run", "member_balances"]


def member_balances(run: Run) -> list[MemberBalance]:
    """Every member and the treasury, as the revenue contract sees them now (EntitlementRoots with payouts by roots)."""
    if run.roots_mode():
        return roots_balances(run)
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
    """The whole audit of a run, from the chain itself (never the local event index) and the files on disk."""
    fresh = LedgerClient(run.chain, run.deployment)  # in memory: every log read from the chain now
    report = audit(run.chain, run.deployment, artifact_hashes(run), client=fresh)
    governance = GovernanceClient(run.chain, run.deployment, fresh.index)
    history_check, history = governance_audit(fresh, governance)
    checks = [
        *report.checks,
        history_check,
        released_check(fresh, governance),
        usage_check(run, fresh),
        *vault_audit(run, fresh),
        cache_check(run, fresh),
    ]
    epoch_rounds = fresh.epoch_rounds()
    if epoch_rounds:
        checks.append(round_records_check(run, epoch_rounds))
    return replace(report, checks=checks, history=history)


def vault_audit(run: Run, fresh: LedgerClient) -> list[Check]:
    """The CreditVault's checks, over the windows of receipts this run published (none for an older run)."""
    if not run.deployment.vault:
        return []
    from fairshare.consortium.revenue import published_windows

    roots = RootsClient(run.chain, run.deployment, fresh.index) if run.deployment.entitlement_roots else None
    return vault_checks(VaultClient(run.chain, run.deployment, fresh.index), fresh, published_windows(run), roots)


def round_records_check(run: Run, rounds: list[RoundRecord]) -> Check:
    """Rounds recorded by roots keep their full record (every member's value, flags, weights) beside the model;
    the chain holds its SHA-256. Each file must hash to it."""
    bad = []
    for r in rounds:
        path = run.paths.model_file(r.round_id).with_suffix(".record.json")
        expected = json.loads(r.params).get("record_sha256")
        found = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "missing"
        if found != expected:
            bad.append(f"round {r.round_id}: {path.name} is {found[:16]}, chain says {str(expected)[:16]}")
    detail = f"{len(rounds)} rounds' full records hash to what their epochs recorded"
    return Check("round records on disk match chain", not bad, "; ".join(bad) if bad else detail)


def cache_check(run: Run, fresh: LedgerClient) -> Check:
    """The run's local event index (what status, the dashboard and training read) is the chain's history.

    A difference means the cache was edited or is stale: it is reported, and rebuilt from the chain.
    """
    cached, truth = run.ledger.index.rows(), fresh.index.rows()
    if cached == truth:
        return Check("local event index is the chain's", True, f"{len(truth)} cached events equal the chain's")
    forged, missing = len(set(cached) - set(truth)), len(set(truth) - set(cached))
    run.ledger.index.rebuild()
    return Check(
        "local event index is the chain's",
        False,
        f"{forged} cached events are not the chain's and {missing} of the chain's are missing (edited or stale): "
        f"{run.paths.root / 'events.sqlite'} was rebuilt from the chain; nothing the audit checked came from it",
    )


def released_check(ledger: LedgerClient, governance: GovernanceClient) -> Check:
    """The model governance released is the model of a recorded round (or none is released yet)."""
    released = governance.policy().released_model
    if released == bytes(32):
        return Check("released model recorded", True, "no model released yet")
    rounds = [r.round_id for r in ledger.rounds() if r.model_hash == released]
    if not rounds:
        return Check("released model recorded", False, f"released model {released.hex()[:16]}… is no round's model")
    return Check("released model recorded", True, f"released model {released.hex()[:16]}… is round {rounds[0]}'s")


def usage_check(run: Run, ledger: LedgerClient) -> Check:
    """The usage store agrees with the chain: what it marks settled for each API key is what the chain settled.

    One difference is legitimate: a key its customer had refunded before all its calls were settled. The
    vault settled it up to what the deposit still covered; the rest was written off (the operator's loss),
    which this check reports rather than fails.
    """
    store = UsageStore(run.paths.usage_url)
    recorded = store.settled_totals()
    keys = store.keys()  # API keys, not a mapping
    vault = VaultClient(run.chain, run.deployment, ledger.index) if run.deployment.vault else None
    roots = RootsClient(run.chain, run.deployment, ledger.index) if run.deployment.entitlement_roots else None

    def settled(key_id: str) -> int:
        source = key_source(key_id)
        return ledger.settled_total(source) + (roots.settled_total(source) if roots is not None else 0)

    on_chain = {k.key_id: settled(k.key_id) for k in keys}
    differ, written_off = {}, 0
    for k, t in on_chain.items():
        if recorded.get(k, 0) == t:
            continue
        state = vault.key(key_source(k)) if vault is not None else None
        if state is not None and state.refunded > 0 and t == state.settled < recorded.get(k, 0):
            written_off += recorded.get(k, 0) - t
            continue
        differ[k] = (recorded.get(k, 0), t)
    if differ:
        listed = ", ".join(f"key {k}: store {s} vs chain {c}" for k, (s, c) in sorted(differ.items()))
        return Check("usage store matches settlements", False, f"settled totals differ: {listed}")
    total = sum(on_chain.values())
    off = f"; {written_off} billed to keys refunded before settlement was written off" if written_off else ""
    return Check(
        "usage store matches settlements",
        True,
        f"{len(on_chain)} API keys; the store's settled calls ({total}) are exactly what the chain settled{off}",
    )
