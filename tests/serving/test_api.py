"""The paid API: billing is exact, errors are clear, and concurrent debits never overdraw a key."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from tests.serving.conftest import PRICE, MemorySink, receipting

from fairshare.serving.settle import settle
from fairshare.serving.store import OutOfCredit, UsageStore


def test_a_paid_call_is_answered_and_billed_per_row(client, store: UsageStore) -> None:
    key = store.create_key("acme", credit=10 * PRICE)
    response = client.post("/v1/predict", json={"rows": [[1, 0, 0], [-1, 0, 0]]}, headers={"X-API-Key": key})
    assert response.status_code == 200
    body = response.json()
    assert body["predictions"] == [0, 1] and body["charged"] == 2 * PRICE and body["credit_left"] == 8 * PRICE
    assert store.summary().revenue == 2 * PRICE and store.summary().calls == 1


def test_bearer_tokens_work_too(client, store: UsageStore) -> None:
    key = store.create_key("acme", credit=PRICE)
    response = client.post("/v1/predict", json={"rows": [[0, 0, 0]]}, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200


@pytest.mark.parametrize("key", [None, "fsk_nope_nope", "garbage"])
def test_bad_keys_get_401_and_are_not_billed(client, store: UsageStore, key) -> None:
    headers = {"X-API-Key": key} if key else {}
    response = client.post("/v1/predict", json={"rows": [[0, 0, 0]]}, headers=headers)
    assert response.status_code == 401 and "key" in response.json()["detail"].lower()
    assert store.summary().calls == 0


def test_out_of_credit_gets_402_and_nothing_is_billed(client, store: UsageStore) -> None:
    key = store.create_key("acme", credit=PRICE)
    response = client.post("/v1/predict", json={"rows": [[0, 0, 0], [0, 0, 0]]}, headers={"X-API-Key": key})
    assert response.status_code == 402 and "credit" in response.json()["detail"]
    assert store.summary().calls == 0 and store.keys()[0].credit == PRICE


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rows": [[1, 2]]}, "rows"),
        ({"rows": []}, "rows"),
        ({"rows": [["a", 0, 0]]}, "rows"),
        ({"wrong": 1}, "rows"),
    ],
)
def test_malformed_input_gets_422_naming_the_field(client, store: UsageStore, body, field: str) -> None:
    key = store.create_key("acme", credit=PRICE)
    response = client.post("/v1/predict", json=body, headers={"X-API-Key": key})
    assert response.status_code == 422 and field in str(response.json()["detail"])
    assert store.summary().calls == 0


def test_concurrent_debits_never_overdraw(store: UsageStore) -> None:
    key = store.create_key("acme", credit=25 * PRICE)

    def call(_: int) -> bool:
        try:
            store.debit(key, 1, PRICE, "h")
            return True
        except OutOfCredit:
            return False

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(call, range(60)))
    assert sum(results) == 25
    assert store.keys()[0].credit == 0 and store.summary().revenue == 25 * PRICE


def test_settlement_covers_everything_once_and_resumes_after_a_crash(store: UsageStore) -> None:
    key = store.create_key("acme", credit=100 * PRICE)
    receipts = receipting()
    for _ in range(7):
        store.debit(key, 2, PRICE, "h", receipts=receipts)
    sink = MemorySink()
    sink.fail_after_paying = True
    with pytest.raises(RuntimeError):
        settle(store, sink)
    assert store.summary().settled == 0  # the chain has it, the store does not know yet
    sink.fail_after_paying = False
    resumed = settle(store, sink)
    assert resumed is not None and resumed.resumed and resumed.calls == 7
    assert resumed.billed == 14 * PRICE and resumed.amount == 0  # nothing paid twice on resume
    assert sink.paid == [14 * PRICE]
    assert settle(store, sink) is None
    store.debit(key, 1, PRICE, "h", receipts=receipts)
    later = settle(store, sink)
    assert later is not None and later.amount == PRICE and sink.paid == [14 * PRICE, PRICE]
    summary = store.summary()
    assert summary.settled == summary.revenue == 15 * PRICE and summary.pending == 0


def test_marking_settled_calls_unsettled_does_not_pay_them_again(store: UsageStore) -> None:
    import sqlite3

    key = store.create_key("acme", credit=100 * PRICE)
    receipts = receipting()
    for _ in range(3):
        store.debit(key, 1, PRICE, "h", receipts=receipts)
    sink = MemorySink()
    settle(store, sink)
    db = sqlite3.connect(store.engine.url.database)
    with db:
        db.execute("UPDATE usage SET settlement_id = NULL")  # the operator's store is doctored
    store.debit(key, 1, PRICE, "h", receipts=receipts)
    again = settle(store, sink)
    assert again is not None and again.amount == PRICE  # only the genuinely new call is paid
    assert sink.paid == [3 * PRICE, PRICE] and sum(sink.totals.values()) == 4 * PRICE


def test_a_retried_request_is_billed_once(client, store: UsageStore) -> None:
    key = store.create_key("acme", credit=10 * PRICE)
    headers = {"X-API-Key": key, "Idempotency-Key": "req-1"}
    first = client.post("/v1/predict", json={"rows": [[1, 0, 0]]}, headers=headers)
    again = client.post("/v1/predict", json={"rows": [[1, 0, 0]]}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert store.summary().calls == 1 and store.keys()[0].credit == 9 * PRICE


def test_migrations_build_the_schema_from_empty(tmp_path) -> None:
    import sqlite3

    UsageStore(f"sqlite:///{tmp_path / 'fresh.sqlite'}")
    db = sqlite3.connect(tmp_path / "fresh.sqlite")
    assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [("0004",)]
    columns = {row[1] for row in db.execute("PRAGMA table_info(usage)")}
    assert {"request_id", "request_hash", "settlement_id", "amount", "total", "request", "batch_id"} <= columns
    keys = {row[1] for row in db.execute("PRAGMA table_info(api_keys)")}
    assert {"billed", "deposited", "refunded", "refund_pending"} <= keys


def test_an_idempotency_key_billed_before_request_hashes_cannot_be_reused(tmp_path) -> None:
    """A store at migration 0002 is upgraded in place; its old idempotency keys are refused, not replayed."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    from fairshare.serving import store as store_module
    from fairshare.serving.charges import IdempotencyConflict
    from fairshare.serving.store import _hash

    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    config = Config()
    config.set_main_option("script_location", str(Path(store_module.__file__).parent / "migrations"))
    with create_engine(url).connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
        connection.exec_driver_sql(
            "INSERT INTO api_keys (key_id, key_hash, salt, customer, credit, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            ("0ld", _hash("salt", "secret"), "salt", "acme", str(10 * PRICE), "then"),
        )
        connection.exec_driver_sql(
            "INSERT INTO usage (key_id, rows, amount, model_hash, created_at, request_id) VALUES (?, ?, ?, ?, ?, ?)",
            ("0ld", 1, str(PRICE), "m", "then", "legacy"),
        )
        connection.commit()
    store = UsageStore(url)  # migrates to head
    with pytest.raises(IdempotencyConflict, match="before request hashes were stored"):
        store.debit("fsk_0ld_secret", 1, PRICE, "m", "legacy", b"rows")
    assert store.debit("fsk_0ld_secret", 1, PRICE, "m", "fresh", b"rows").charged == PRICE
    assert store.summary().calls == 2


def test_a_key_refunded_before_settlement_never_blocks_the_others(store: UsageStore) -> None:
    from fairshare.serving.settle import key_source

    receipts = receipting()
    early, other = store.create_key("early", credit=10 * PRICE), store.create_key("other", credit=10 * PRICE)
    for _ in range(3):
        store.debit(early, 1, PRICE, "h", receipts=receipts)
        store.debit(other, 1, PRICE, "h", receipts=receipts)
    sink = MemorySink()
    sink.caps[key_source(early.split("_")[1])] = PRICE * 3 // 2  # refunded: its deposit covers 1.5 calls
    result = settle(store, sink)
    assert result is not None and result.amount == 4 * PRICE  # one call of `early`, all three of `other`
    assert sink.totals == {key_source(early.split("_")[1]): PRICE, key_source(other.split("_")[1]): 3 * PRICE}
    assert settle(store, sink) is None  # the settlement closed; the rest of `early` is the operator's loss
