"""The money side of a run: customers pay for predictions, revenue settles on chain, members withdraw.

The demo's customers are real HTTP clients of the real API: each call is billed in the usage store before it
is answered, and ``settle_run`` moves everything billed and not yet settled into one on-chain distribution.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import httpx
import numpy as np
from fastapi import FastAPI

from fairshare.consortium.payouts import claim_all, settle_revenue
from fairshare.consortium.session import Run, open_run
from fairshare.consortium.training import load_model, model_for
from fairshare.consortium.view import Settlement, View, Withdrawal
from fairshare.errors import LedgerError, ServingError
from fairshare.learning.data import load_partition
from fairshare.learning.model import params_hash
from fairshare.ledger import LedgerClient
from fairshare.ledger.keystore import load_key_file
from fairshare.serving.app import create_app
from fairshare.serving.released import NotReleased, ReleasedModel
from fairshare.serving.server import running
from fairshare.serving.settle import settle
from fairshare.serving.store import UsageStore

__all__ = ["ChainRevenueSink", "api_for", "earn_revenue", "released_model", "settle_run", "withdraw_members"]


class ChainRevenueSink:
    """Settlements go to RevenueShares.distribute, paid by the operator who collected the customers' money."""

    def __init__(self, ledger: LedgerClient, run: Run) -> None:
        self.ledger = ledger
        self.payer = run.chain.operator

    def settled_total(self, source: bytes) -> int:
        return self.ledger.settled_total(source)

    def settle(self, settlement_id: bytes, totals: Mapping[bytes, int]) -> tuple[int, str]:
        return self.ledger.settle(self.payer, settlement_id, totals)


class RootsRevenueSink:
    """Settlements go to EntitlementRoots.fund (payouts by roots), with the same per-source running totals."""

    def __init__(self, run: Run) -> None:
        self.roots = run.roots
        self.ledger = run.ledger
        self.payer = run.chain.operator

    def settled_total(self, source: bytes) -> int:
        """What EntitlementRoots settled for ``source``; refuses a source the accumulator already took revenue
        from (EntitlementRoots would count its running total from zero and pay that revenue again)."""
        before = self.ledger.settled_total(source)
        if before > 0:
            raise LedgerError(
                f"revenue source {source.hex()[:16]}… was settled into RevenueShares before payouts switched to "
                "roots; settle it there (switch the payout mode back), or bill new revenue under a new API key"
            )
        return self.roots.settled_total(source)

    def settle(self, settlement_id: bytes, totals: Mapping[bytes, int]) -> tuple[int, str]:
        amount, tx, _ = self.roots.settle(self.payer, settlement_id, totals)
        return amount, tx


def released_model(run: Run) -> ReleasedModel:
    """The model governance released (its hash on chain), after checking its artifact against that hash."""
    released = run.governance.policy().released_model
    if released == bytes(32):
        raise NotReleased(
            "no model is released yet: members must pass a release proposal (`fairshare propose release`)"
        )
    record = next((r for r in run.ledger.rounds() if r.model_hash == released), None)
    if record is None:
        raise ServingError(f"the released model {released.hex()[:16]}… is not the model of any recorded round")
    path = run.paths.model_file(record.round_id)
    if not path.exists():
        raise ServingError(f"the model artifact {path} of round {record.round_id} is missing")
    params = load_model(path)
    if params_hash(params) != released:
        raise ServingError(f"{path} does not hash to the released model {released.hex()[:16]}…; refusing to serve it")
    return ReleasedModel(model_for(run), params, released.hex())


def api_for(run: Run, with_dashboard: bool = False) -> tuple[FastAPI, ReleasedModel | None]:
    """The paid API of a run (its released model, usage store and price), optionally with the dashboard.

    Before any release the API still starts: the dashboard serves, paid calls answer 503 with the reason,
    and the chain is asked again (opening the run afresh) until governance has released a model.
    """
    from fairshare.consortium.snapshot import dashboard_snapshot

    store = UsageStore(run.paths.usage_url)
    home, consortium = run.home, run.paths.consortium
    try:
        released: ReleasedModel | None = released_model(run)
    except NotReleased:
        released = None

    def load() -> ReleasedModel:
        later = open_run(home, consortium)
        try:
            return released_model(later)
        finally:
            later.chain.close()

    price = run.governance.policy().price_per_row
    snapshot = (lambda: dashboard_snapshot(home, consortium)) if with_dashboard else None
    app = create_app(store, released or load, lambda: price, dashboard=snapshot)
    return app, released


def earn_revenue(run: Run, view: View, calls: int | None = None) -> int:
    """Customers call the paid API over HTTP on loopback; returns the revenue billed."""
    settings = run.config.revenue
    store = UsageStore(run.paths.usage_url)
    app, _ = api_for(run)
    test = load_partition(run.paths.coordinator_dir / "test.npz")
    calls, rows = (settings.demo_calls if calls is None else calls), settings.demo_rows_per_call
    if calls == 0:
        return 0
    key = store.create_key("demo-customer", credit=run.governance.policy().price_per_row * rows * calls)
    billed = 0
    rng = np.random.default_rng(run.config.training.seed)
    with running(app) as url, httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=30) as client:
        view.stage("Customers call the model API", f"{url}/v1/predict: {calls} calls of {rows} row(s)")
        for _ in range(calls):
            picks = rng.integers(0, len(test.y), size=rows)
            response = client.post("/v1/predict", json={"rows": test.X[picks].tolist()})
            if response.status_code != 200:
                raise ServingError(f"the model API answered {response.status_code}: {response.text}")
            billed += int(response.json()["charged"])
    return billed


def settle_run(run: Run) -> Settlement:
    """Settle the usage billed and not yet settled: into RevenueShares, or, with payouts by roots, into
    EntitlementRoots followed by a revenue epoch whose root makes it claimable."""
    if run.roots_mode():
        return settle_revenue(run, lambda: _settle_into(run, RootsRevenueSink(run)))
    return _settle_into(run, ChainRevenueSink(run.ledger, run))


def _settle_into(run: Run, sink: ChainRevenueSink | RootsRevenueSink) -> Settlement:
    store = UsageStore(run.paths.usage_url)
    result = settle(store, sink)
    if result is None:
        return Settlement("", 0, 0, 0, "")
    key = bytes.fromhex(result.settlement_id[2:])
    if isinstance(sink, RootsRevenueSink):
        funded = run.roots.events("Funded")
        cut = sum(e.args["treasury_cut"] for e in funded if bytes(e.args["settlement_id"]) == key)
    else:
        cut = sum(d.treasury_cut for d in run.ledger.distributions() if d.settlement_id == key)
    return Settlement(result.settlement_id, result.billed, result.calls, cut, result.tx_hash, result.resumed)


def withdraw_members(
    run: Run, only: str | None = None, progress: Callable[[str, int, int], None] | None = None
) -> list[Withdrawal]:
    """With payouts by roots, every member's claim is relayed by the operator (the money goes to the member).
    Each member (and the treasury) withdraws with its own key; members owed nothing are listed with 0.

        Members that keep their key on their own machine are left out: they withdraw there.
    """
    if run.roots_mode():
        return claim_all(run, progress, only)
    names = [m.name for m in run.record.members] + ["treasury"]
    if only is not None:
        if only not in names:
            raise LedgerError(f"no member named {only!r}; members: {', '.join(names)}")
        names = [only]
    done = []
    for name in names:
        if only is None and not run.holds_key(name):
            continue
        account = run.member_key(name)  # for a member holding its own key: an error saying how to withdraw
        amount, tx = run.ledger.withdraw(account)
        done.append(Withdrawal(name, account.address, amount, tx))
    return done


def withdraw_with_key(run: Run, key_file: Path) -> Withdrawal:
    """A member's withdrawal signed with its own key file, wherever that key lives."""
    account = load_key_file(key_file)
    name = run.account_name(account.address)
    if name is None:
        raise LedgerError(f"{key_file} is the key of {account.address}, which is not an account of this consortium")
    amount, tx = run.ledger.withdraw(account)
    return Withdrawal(name, account.address, amount, tx)
