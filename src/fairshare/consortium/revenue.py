"""The money side of a run: customers buy credit on chain, pay for predictions, revenue settles from the
credit vault, members withdraw.

The demo's customers are real HTTP clients of the real API: each buys credit in the CreditVault, each call is
billed against it in the usage store before it is answered and comes with the operator's signed receipt, and
``settle_run`` posts the receipts' window and moves every key's billed growth from the vault into the split.
The window's receipts are published under the run folder (``receipts/window-<id>.json``) for members and
auditors.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from eth_account import Account
from fastapi import FastAPI

from fairshare.client import FairshareClient
from fairshare.consortium.payouts import claim_all, settle_revenue
from fairshare.consortium.session import Run, fresh_run
from fairshare.consortium.training import load_model, model_for
from fairshare.consortium.view import Settlement, View, Withdrawal
from fairshare.errors import LedgerError, ServingError
from fairshare.learning.data import load_partition
from fairshare.learning.model import params_hash
from fairshare.ledger.keystore import load_key_file
from fairshare.ledger.receipts import ReceiptSigner
from fairshare.ledger.vault import OperatorVault, VaultClient, key_hash
from fairshare.serving.app import create_app
from fairshare.serving.credit import sync_credit
from fairshare.serving.receipting import Receipting
from fairshare.serving.released import NotReleased, ReleasedModel
from fairshare.serving.server import running
from fairshare.serving.settle import settle, window_receipts
from fairshare.serving.store import UsageStore

__all__ = [
    "api_for",
    "earn_revenue",
    "published_windows",
    "receipting_for",
    "released_model",
    "settle_run",
    "vault_for",
    "withdraw_members",
]


def vault_for(run: Run) -> VaultClient:
    return VaultClient(run.chain, run.deployment, run.ledger.index)


def receipting_for(run: Run) -> Receipting:
    """Receipts signed by the operator's key (the chain's signer), under the run's vault."""
    return Receipting(ReceiptSigner(run.chain.operator, run.chain.chain_id, run.deployment.vault))


def published_windows(run: Run) -> dict[int, dict[str, object]]:
    """Every receipt window this run published, by window id."""
    out: dict[int, dict[str, object]] = {}
    for path in sorted((run.paths.root / "receipts").glob("window-*.json")):
        try:
            data = json.loads(path.read_text())
            out[int(data["window_id"])] = data
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ServingError(f"{path} is not a published receipt window ({exc}); restore it from a backup") from exc
    return out


def _publish(run: Run, store: UsageStore, settlement_id: str) -> Path:
    data = window_receipts(store, settlement_id, run.chain.chain_id, run.deployment.vault)
    folder = run.paths.root / "receipts"
    folder.mkdir(exist_ok=True)
    path = folder / f"window-{data['window_id']}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)
    return path


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


def api_for(run: Run, with_dashboard: bool = False, follow_vault: bool = True) -> tuple[FastAPI, ReleasedModel | None]:
    """The paid API of a run (its released model, usage store and price), optionally with the dashboard.

    Before any release the API still starts: the dashboard serves, paid calls answer 503 with the reason,
    and the chain is asked again (opening the run afresh) until governance has released a model.
    Customers' credit is synced from the vault now and, with ``follow_vault``, every few seconds through a
    fresh connection (the caller closes its own, as ``fairshare serve`` does, so an embedded chain is free).
    """
    from fairshare.consortium.snapshot import dashboard_snapshot

    store = UsageStore(run.paths.usage_url)
    home, consortium = run.home, run.paths.consortium
    try:
        released: ReleasedModel | None = released_model(run)
    except NotReleased:
        released = None

    def load() -> ReleasedModel:
        with fresh_run(home, consortium) as later:
            return released_model(later)

    def sync_fresh() -> None:
        """The vault's deposits, read through a fresh connection (this runs in the API's background thread)."""
        with fresh_run(home, consortium) as later:
            sync_credit(store, vault_for(later))

    sync_credit(store, vault_for(run))
    price = run.governance.policy().price_per_row
    snapshot = (lambda: dashboard_snapshot(home, consortium)) if with_dashboard else None
    app = create_app(
        store,
        released or load,
        lambda: price,
        dashboard=snapshot,
        receipts=receipting_for(run),
        credit_sync=sync_fresh if follow_vault else None,
    )
    return app, released


def earn_revenue(run: Run, view: View, calls: int | None = None) -> int:
    """Customers call the paid API over HTTP on loopback; returns the revenue billed."""
    settings = run.config.revenue
    store = UsageStore(run.paths.usage_url)
    app, _ = api_for(run, follow_vault=False)  # this process holds the chain: it syncs the customer's deposit
    test = load_partition(run.paths.coordinator_dir / "test.npz")
    calls, rows = (settings.demo_calls if calls is None else calls), settings.demo_rows_per_call
    if calls == 0:
        return 0
    key = store.create_key("demo-customer")
    key_id = key.split("_")[1]
    credit = run.governance.policy().price_per_row * rows * calls
    customer = Account.create()
    vault = vault_for(run)
    if vault.token is None:
        run.chain.fund(customer.address, 10**17 + credit)
    else:  # the operator holds the development tokens: it sells the customer what it spends
        run.chain.fund(customer.address, 10**17)
        run.chain.send(run.chain.operator, vault.token, "transfer", customer.address, credit, what="selling tokens")
    vault.deposit(customer, key_hash(key_id), credit)
    sync_credit(store, vault)
    billed = 0
    rng = np.random.default_rng(run.config.training.seed)
    receipts_file = run.paths.root / "customer-receipts.jsonl"
    with (
        running(app) as url,
        FairshareClient(url, key, receipts=receipts_file) as client,
    ):
        view.stage(
            "Customers call the model API",
            f"a customer bought credit on chain (CreditVault {vault.address}); "
            f"{url}/v1/predict: {calls} calls of {rows} row(s), each with a signed receipt",
        )
        for _ in range(calls):
            picks = rng.integers(0, len(test.y), size=rows)
            billed += client.predict(test.X[picks].tolist()).charged
    return billed


def settle_run(run: Run) -> Settlement:
    """Post the window of every unsettled call's receipts, publish it, and settle each key through the vault.

    The vault pays where the governed payout mode pays members: RevenueShares' split, or EntitlementRoots,
    followed by a revenue epoch whose root makes the customers' money claimable. Either way the money is the
    customers' deposits; the operator pays nothing from its own funds."""
    if run.roots_mode():
        return settle_revenue(run, lambda: _settle_vault(run, "EntitlementRoots"))
    return _settle_vault(run, "RevenueShares")


def _settle_vault(run: Run, into: str) -> Settlement:
    store = UsageStore(run.paths.usage_url)
    result = settle(
        store, OperatorVault(vault_for(run), run.chain.operator), publish=lambda sid: _publish(run, store, sid)
    )
    if result is None:
        return Settlement("", 0, 0, 0, "")
    txs = set(result.tx_hash.split(","))
    cut = sum(d.treasury_cut for d in run.ledger.distributions() if d.tx_hash in txs)
    if run.deployment.entitlement_roots:
        cut += sum(e.args["treasury_cut"] for e in run.roots.events("Funded") if e.tx_hash in txs)
    return Settlement(result.settlement_id, result.billed, result.calls, cut, result.tx_hash, result.resumed, into)


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
