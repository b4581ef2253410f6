"""Idempotency keys: a retry of the same request is billed once; a key reused for another request buys nothing."""

from __future__ import annotations

import numpy as np
from prometheus_client.parser import text_string_to_metric_families
from tests.serving.conftest import PRICE

from fairshare.serving.store import UsageStore


def _sample(client, name: str) -> float:
    families = {f.name: f for f in text_string_to_metric_families(client.get("/metrics").text)}
    return families[name].samples[0].value


def test_a_reused_key_cannot_buy_answers_for_other_requests(client, store: UsageStore) -> None:
    """Issue 17: credit for 3 rows bought 1,000 predictions by reusing one Idempotency-Key."""
    key = store.create_key("attacker", credit=3 * PRICE)
    headers = {"X-API-Key": key, "Idempotency-Key": "reused"}
    answered = 0
    statuses: dict[int, int] = {}
    for i in range(1000):
        response = client.post("/v1/predict", json={"rows": [[i / 100, 1, -1]]}, headers=headers)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        if response.status_code == 200:
            answered += len(response.json()["predictions"])
    assert answered == 1 and statuses == {200: 1, 409: 999}
    conflict = client.post("/v1/predict", json={"rows": [[9, 9, 9]] * 1000}, headers=headers)
    assert conflict.status_code == 409 and "different request" in conflict.json()["detail"]
    summary = store.summary()
    assert summary.rows == 1 and summary.revenue == PRICE and store.keys()[0].credit == 2 * PRICE
    assert _sample(client, "fairshare_revenue") == summary.revenue


def test_the_same_request_is_replayed_identically_and_billed_once(client, store: UsageStore) -> None:
    key = store.create_key("acme", credit=10 * PRICE)
    headers = {"X-API-Key": key, "Idempotency-Key": "retry-me"}
    rows = {"rows": [[1, 0, 0], [-1, 2, 0]]}
    first = client.post("/v1/predict", json=rows, headers=headers).json()
    again = client.post("/v1/predict", json={"rows": [[1.0, 0.0, 0.0], [-1.0, 2.0, 0.0]]}, headers=headers).json()
    assert first["charged"] == 2 * PRICE and not first["replayed"]
    assert again["charged"] == 0 and again["replayed"]
    for field in ("predictions", "probabilities", "model_hash", "credit_left"):
        assert again[field] == first[field]
    assert store.summary().calls == 1 and store.keys()[0].credit == 8 * PRICE
    assert _sample(client, "fairshare_revenue") == store.summary().revenue == first["charged"] + again["charged"]


def test_idempotency_keys_belong_to_one_api_key(client, store: UsageStore) -> None:
    alice = store.create_key("alice", credit=5 * PRICE)
    bob = store.create_key("bob", credit=5 * PRICE)
    for key, row in ((alice, [1, 0, 0]), (bob, [0, 1, 0])):
        response = client.post("/v1/predict", json={"rows": [row]}, headers={"X-API-Key": key, "Idempotency-Key": "x"})
        assert response.status_code == 200 and response.json()["charged"] == PRICE and not response.json()["replayed"]
    assert store.summary().calls == 2
    credits = {info.customer: info.credit for info in store.keys()}  # noqa: SIM118 (a method, not a dict)
    assert credits == {"alice": 4 * PRICE, "bob": 4 * PRICE}


def test_calls_in_one_group_commit_are_checked_against_each_other(store: UsageStore, released) -> None:
    """Concurrent calls share a transaction: a conflict inside one batch is caught like one across batches."""
    import asyncio

    from fairshare.serving.billing import BillingQueue
    from fairshare.serving.charges import Call, Debit, IdempotencyConflict

    key = store.create_key("acme", credit=10 * PRICE)
    queue = BillingQueue(store)

    async def batch():
        calls = [
            Call(key, 1, PRICE, released.model_hash, "k", b"body-a"),
            Call(key, 1, PRICE, released.model_hash, "k", b"body-a"),
            Call(key, 1, PRICE, released.model_hash, "k", b"body-b"),
        ]
        return await asyncio.gather(*(queue.debit(c) for c in calls), return_exceptions=True)

    first, replay, conflict = asyncio.run(batch())
    assert isinstance(first, Debit) and first.charged == PRICE
    assert isinstance(replay, Debit) and replay.replayed and replay.charged == 0
    assert isinstance(conflict, IdempotencyConflict)
    assert store.summary().calls == 1 and store.keys()[0].credit == 9 * PRICE


def test_the_orm_path_applies_the_same_rules(store: UsageStore) -> None:
    import pytest

    from fairshare.serving.charges import IdempotencyConflict

    key = store.create_key("acme", credit=10 * PRICE)
    assert store.debit(key, 2, PRICE, "m", "r1", b"a").charged == 2 * PRICE
    assert store.debit(key, 2, PRICE, "m", "r1", b"a").replayed
    with pytest.raises(IdempotencyConflict, match="different request"):
        store.debit(key, 1, PRICE, "m", "r1", b"b")
    with pytest.raises(IdempotencyConflict, match="no longer the released model"):
        store.debit(key, 2, PRICE, "other-model", "r1", b"a")
    assert store.summary().revenue == 2 * PRICE


def test_a_retry_gets_the_receipt_its_lost_answer_carried(store: UsageStore, released) -> None:
    from fastapi.testclient import TestClient
    from tests.serving.conftest import receipting

    from fairshare.serving.app import _digest, create_app

    receipts = receipting()
    client = TestClient(create_app(store, released, lambda: PRICE, receipts=receipts))
    key = store.create_key("acme", credit=10 * PRICE)
    client.post("/v1/predict", json={"rows": [[0, 1, 0]]}, headers={"X-API-Key": key})
    headers = {"X-API-Key": key, "Idempotency-Key": "lost-answer"}
    first = client.post("/v1/predict", json={"rows": [[1, 0, 0], [0, 0, 1]]}, headers=headers).json()
    again = client.post("/v1/predict", json={"rows": [[1, 0, 0], [0, 0, 1]]}, headers=headers).json()
    assert again["replayed"] and again["charged"] == 0
    assert again["receipt"] == first["receipt"] and int(first["receipt"]["total"]) == 3 * PRICE
    rows = _digest(np.asarray([[1, 0, 0], [0, 0, 1]], dtype=np.float64))
    direct = store.debit(key, 2, PRICE, "ab" * 32, "lost-answer", rows, receipts=receipts)
    assert direct.replayed and direct.receipt is not None and direct.receipt.to_json() == first["receipt"]
