"""The API against a real CreditVault (embedded chain and anvil): credit bought on chain, signed receipts on
every paid answer, settlement through the vault, members settling from published receipts when the operator
stops, and a refund that stops the key."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from tests.ledger.conftest import make_consortium
from tests.serving.conftest import PRICE

from fairshare.learning.logistic import LogisticRegression
from fairshare.ledger.receipts import ReceiptSigner, SignedReceipt
from fairshare.ledger.vault import OperatorVault, VaultClient, key_hash
from fairshare.ledger.vault_audit import vault_checks
from fairshare.serving.app import create_app
from fairshare.serving.credit import sync_credit
from fairshare.serving.receipting import Receipting
from fairshare.serving.released import ReleasedModel
from fairshare.serving.settle import settle, settle_from_receipts, window_receipts
from fairshare.serving.store import UsageStore

ROW = {"rows": [[1.0, 0.0, 0.0]]}


class StopsAfterPosting(OperatorVault):
    """An operator that posts its window and then never settles."""

    def settle(self, window_id, totals):
        raise RuntimeError("the operator walked away")


def test_credit_receipts_settlement_and_refund_through_the_vault(chain, tmp_path: Path) -> None:
    c = make_consortium(chain)
    c.record(1, [1, 1, 1])
    vault = VaultClient(chain, c.deployment, c.client.index)
    store = UsageStore(f"sqlite:///{tmp_path / 'usage.sqlite'}")
    api_key = store.create_key("acme")
    key_id = api_key.split("_")[1]
    customer = c.outsider
    released = ReleasedModel(LogisticRegression(3, 2), [np.eye(3, 2), np.zeros(2)], "ab" * 32)
    receipts = Receipting(ReceiptSigner(chain.operator, chain.chain_id, vault.address))
    app = create_app(store, released, lambda: PRICE, receipts=receipts, credit_sync=lambda: sync_credit(store, vault))
    headers = {"X-API-Key": api_key}
    with TestClient(app) as client:
        assert client.post("/v1/predict", json=ROW, headers=headers).status_code == 402  # nothing bought yet
        vault.deposit(customer, key_hash(key_id), 5 * PRICE)
        sync_credit(store, vault)
        answers = [client.post("/v1/predict", json=ROW, headers=headers).json() for _ in range(3)]
    got = [SignedReceipt.from_json(a["receipt"]) for a in answers]
    assert [r.receipt.total for r in got] == [PRICE, 2 * PRICE, 3 * PRICE]
    assert {r.signer() for r in got} == {chain.operator.address}
    assert all(r.receipt.key == key_hash(key_id) and r.receipt.model == bytes.fromhex("ab" * 32) for r in got)

    first = settle(store, OperatorVault(vault, chain.operator))
    assert first is not None and first.amount == 3 * PRICE and first.window_id == 1
    assert vault.key(key_hash(key_id)).settled == 3 * PRICE and c.client.totals()["deposited"] == 3 * PRICE

    with TestClient(app) as client:
        client.post("/v1/predict", json=ROW, headers=headers)
    with pytest.raises(RuntimeError, match="walked away"):
        settle(store, StopsAfterPosting(vault, chain.operator))
    sid, wid = store.settled_windows()[-1]
    published = window_receipts(store, sid, chain.chain_id, vault.address)
    assert published["window_id"] == wid == 2 and vault.window(2)[0].hex() == published["root"][2:]
    assert settle_from_receipts(vault, c.members[0], published) == [("0x" + key_hash(key_id).hex(), PRICE)]
    assert settle_from_receipts(vault, c.members[1], published) == []  # nothing left: never twice
    resumed = settle(store, OperatorVault(vault, chain.operator))  # the operator's own record catches up
    assert resumed is not None and resumed.resumed and resumed.amount == 0

    vault.request_refund(customer, key_hash(key_id))
    sync_credit(store, vault)
    with TestClient(app) as client:
        response = client.post("/v1/predict", json=ROW, headers=headers)
    assert response.status_code == 402 and store.keys()[0].credit == 0
    chain.mine(vault.refund_notice())
    refunded, _ = vault.refund(customer, key_hash(key_id))
    assert refunded == PRICE and vault.totals() == {
        "deposited": 5 * PRICE,
        "settled": 4 * PRICE,
        "refunded": PRICE,
        "balance": 0,
    }

    # the audit: every settlement backed by a published signed receipt, and doctored evidence is caught
    windows = {w: window_receipts(store, s, chain.chain_id, vault.address) for s, w in store.settled_windows()}
    assert all(check.ok for check in vault_checks(vault, c.client, windows))
    doctored = copy.deepcopy(windows)
    doctored[1]["receipts"][-1]["total"] = str(3 * PRICE + 1)
    backed = vault_checks(vault, c.client, doctored)[2]
    assert not backed.ok and "cites no receipt of window 1" in backed.detail
    backed = vault_checks(vault, c.client, {2: windows[2]})[2]
    assert not backed.ok and "window 1: its receipts are not published" in backed.detail
