"""Group-commit billing: many concurrent paid calls debited in one SQLite transaction.

SQLite allows one writer at a time; with a transaction per call, concurrent requests queue on the write lock
and metering costs most of the API's throughput. ``BillingQueue`` keeps the same guarantee — a call is
answered only after its debit and usage row are committed — but commits every call that arrived meanwhile in
one transaction, deciding each call by ``charges.decide`` (credit in arrival order, idempotent replays,
conflicts); the batch is committed by an event-loop callback. If the transaction fails, every call in it
fails: nothing billed, nothing answered. With a ``Receipting``, the batch's receipts are signed (one
signature per batch) inside the same transaction, so every billed call's receipt is stored with it and
handed to its caller.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import time
from collections.abc import Callable
from typing import Protocol

from sqlalchemy import insert, select, update

from fairshare.errors import ServingError
from fairshare.serving.charges import Balance, Call, Debit, Prior, UnknownKey, decide
from fairshare.serving.receipting import Receipting
from fairshare.serving.store import ApiKey, ReceiptBatch, Usage, UsageStore, _now, usage_values

__all__ = ["BillingObserver", "BillingQueue"]

_COLUMNS = "key_id, rows, amount, model_hash, created_at, request_id, request_hash, total, request, batch_id, position"


class BillingObserver(Protocol):
    """Told about every committed batch (the metrics): how many calls, how long the commit, what it billed."""

    def batch_committed(self, calls: int, seconds: float, billed: int, rows: int) -> None: ...


class BillingQueue:
    def __init__(
        self, store: UsageStore, observer: BillingObserver | None = None, receipts: Receipting | None = None
    ) -> None:
        self.store = store
        self.observer = observer
        self.receipts = receipts
        self._verified: dict[str, str] = {}  # plain key -> key_id, once its hash has been checked
        self._inline: list[tuple[Call, asyncio.Future[Debit]]] = []
        self._flush_scheduled = False
        self._raw: sqlite3.Connection | None = None
        if store.sqlite and store.engine.url.database:
            self._raw = sqlite3.connect(store.engine.url.database, isolation_level=None, check_same_thread=False)
            self._raw.execute("PRAGMA busy_timeout=10000")

    @property
    def depth(self) -> int:
        """Calls waiting for the next commit."""
        return len(self._inline)

    async def debit(self, call: Call) -> Debit:
        """Await the commit of this call's debit.

        The batch is committed on the event loop, one pass after the first call of the batch arrived: calls
        whose requests are being read in this pass reach their debit too and share the transaction (and its
        fsync). Committing at the end of the first pass made batches half as large and cost 15% of the
        throughput at 8 concurrent clients (benchmarks/serving.py). No thread hand-off: a writer thread cost
        more CPU per call than the commit it took off the loop.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Debit] = loop.create_future()
        self._inline.append((call, future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush_next_pass)
        return await future

    def _flush_next_pass(self) -> None:
        asyncio.get_running_loop().call_soon(self._flush_inline)

    def _flush_inline(self) -> None:
        self._flush_scheduled = False
        batch, self._inline = self._inline, []
        calls = [call for call, _ in batch]
        started = time.perf_counter()
        results: list[Debit | ServingError]
        try:
            results = self._commit(calls)
        except Exception as exc:  # the whole batch failed: nobody is billed, nobody answered
            error = exc if isinstance(exc, ServingError) else ServingError(f"billing failed: {exc}")
            results = [error] * len(calls)
        if self.observer is not None:
            debits = [r for r in results if isinstance(r, Debit)]
            billed = sum(d.charged for d in debits)
            rows = sum(c.rows for c, r in zip(calls, results, strict=True) if isinstance(r, Debit) and r.charged)
            self.observer.batch_committed(len(calls), time.perf_counter() - started, billed, rows)
        for (_, future), result in zip(batch, results, strict=True):
            if future.cancelled():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)

    def _key_id(self, api_key: str) -> str:
        """Verify a key's salted hash once per process; afterwards a dictionary lookup."""
        if api_key not in self._verified:
            with self.store.session() as session:
                self._verified[api_key] = self.store._verify(session, api_key, lock=False).key_id
        return self._verified[api_key]

    def _key_ids(self, batch: list[Call]) -> dict[str, str | UnknownKey]:
        """Keys are verified before the write transaction opens (a verification reads the store itself)."""
        out: dict[str, str | UnknownKey] = {}
        for call in batch:
            if call.api_key not in out:
                try:
                    out[call.api_key] = self._key_id(call.api_key)
                except UnknownKey as exc:
                    out[call.api_key] = exc
        return out

    def _commit(self, batch: list[Call]) -> list[Debit | ServingError]:
        verified = self._key_ids(batch)

        def key_of(api_key: str) -> str:
            key_id = verified[api_key]
            if isinstance(key_id, UnknownKey):
                raise key_id
            return key_id

        if self._raw is not None:
            results = self._commit_sqlite(self._raw, batch, key_of)
        else:
            results = self._commit_core(batch, key_of)
        if self.receipts is not None:
            for i, (call, result) in enumerate(zip(batch, results, strict=True)):
                if isinstance(result, Debit) and result.replayed and call.request_id is not None:
                    receipt = self.store.receipt_of(key_of(call.api_key), call.request_id, self.receipts)
                    results[i] = dataclasses.replace(result, receipt=receipt)
        return results

    def _commit_sqlite(
        self, db: sqlite3.Connection, batch: list[Call], key_of: Callable[[str], str]
    ) -> list[Debit | ServingError]:
        """The transaction on a raw sqlite3 connection: the per-call hot path.

        SQLAlchemy's per-statement overhead was most of metering's cost; SQLite is the default store, so it
        gets plain prepared statements. Other databases go through ``_commit_core``.
        """

        def balance_of(key_id: str) -> Balance:
            row = db.execute("SELECT credit, billed FROM api_keys WHERE key_id = ?", (key_id,)).fetchone()
            return Balance(int(row[0]), int(row[1]))

        def prior_of(key_id: str, request_id: str) -> Prior | None:
            row = db.execute(
                "SELECT request_hash, model_hash FROM usage WHERE key_id = ? AND request_id = ?", (key_id, request_id)
            ).fetchone()
            return None if row is None else Prior(row[0], row[1])

        db.execute("BEGIN IMMEDIATE")
        try:
            results, rows, balances = decide(batch, key_of, balance_of, prior_of)
            now = _now()  # one transaction, one timestamp (to the second)
            batch_id = None
            if rows and self.receipts is not None:
                signed, receipts = self.receipts.sign(rows)
                batch_id = db.execute(
                    "INSERT INTO receipt_batches (root, signature, created_at) VALUES (?, ?, ?)",
                    ("0x" + signed.root.hex(), "0x" + signed.signature.hex(), now),
                ).lastrowid
                for u, receipt in zip(rows, receipts, strict=True):
                    results[u.call] = dataclasses.replace(results[u.call], receipt=receipt)  # type: ignore[type-var]
            db.executemany(
                f"INSERT INTO usage ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        u.key_id,
                        u.rows,
                        str(u.amount),
                        u.model_hash,
                        now,
                        u.request_id,
                        u.request_hash,
                        str(u.total),
                        "0x" + u.request.hex(),
                        batch_id,
                        position if batch_id is not None else None,
                    )
                    for position, u in enumerate(rows)
                ],
            )
            db.executemany(
                "UPDATE api_keys SET credit = ?, billed = ? WHERE key_id = ?",
                [(str(b.credit), str(b.billed), k) for k, b in balances.items()],
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return results

    def _commit_core(self, batch: list[Call], key_of: Callable[[str], str]) -> list[Debit | ServingError]:
        with self.store.engine.begin() as s:  # Core, not the ORM: this is the per-call hot path

            def balance_of(key_id: str) -> Balance:
                query = select(ApiKey.credit, ApiKey.billed).where(ApiKey.key_id == key_id)
                if not self.store.sqlite:
                    query = query.with_for_update()
                credit, billed = s.execute(query).one()
                return Balance(int(credit), int(billed))

            def prior_of(key_id: str, request_id: str) -> Prior | None:
                row = s.execute(
                    select(Usage.request_hash, Usage.model_hash).where(
                        Usage.key_id == key_id, Usage.request_id == request_id
                    )
                ).first()
                return None if row is None else Prior(row.request_hash, row.model_hash)

            results, rows, balances = decide(batch, key_of, balance_of, prior_of)
            batch_id = None
            if rows and self.receipts is not None:
                signed, receipts = self.receipts.sign(rows)
                batch_id = s.execute(
                    insert(ReceiptBatch).values(
                        root="0x" + signed.root.hex(), signature="0x" + signed.signature.hex(), created_at=_now()
                    )
                ).inserted_primary_key[0]  # type: ignore[index]
                for u, receipt in zip(rows, receipts, strict=True):
                    results[u.call] = dataclasses.replace(results[u.call], receipt=receipt)  # type: ignore[type-var]
            if rows:
                s.execute(insert(Usage), [usage_values(u, batch_id, i) for i, u in enumerate(rows)])
            for key_id, b in balances.items():
                s.execute(update(ApiKey).where(ApiKey.key_id == key_id).values(credit=b.credit, billed=b.billed))
        return results
