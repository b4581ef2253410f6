"""The usage store: API keys and their credit (bought in the CreditVault), one row per paid call with its
receipt, the signed receipt batches, and settlements (SQLAlchemy).

SQLite by default (a file per run), any SQLAlchemy URL (e.g. PostgreSQL) where one server is not enough.
Rules the rest of fairshare relies on:

- a call is billed by ``debit`` in ONE transaction that checks the credit, lowers it and writes the usage
  row; concurrent debits of one key serialise (SQLite ``BEGIN IMMEDIATE``; ``SELECT ... FOR UPDATE``
  elsewhere), so credit never goes negative and no answered call is unbilled;
- keys are stored as salted SHA-256 hashes; the plain key is shown once, at creation;
- a usage row belongs to at most one settlement, and a settlement's rows are fixed when it is opened;
- a request id (the client's ``Idempotency-Key``) is billed at most once per key, and only ever answers the
  request it was first billed for (its request hash is stored with it; see ``charges``);
- a key's credit is what it bought in the CreditVault less what it was billed (``apply_vault`` brings the
  chain's deposits in); it is 0 once its holder asks for a refund; ``billed`` is its running total billed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import (
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    create_engine,
    event,
    func,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

if TYPE_CHECKING:
    from fairshare.ledger.receipts import SignedReceipt
    from fairshare.serving.receipting import Receipting

from fairshare.errors import ServingError
from fairshare.ledger.receipts import merkle_levels, merkle_proof
from fairshare.serving.charges import (
    Balance,
    Call,
    Debit,
    IdempotencyConflict,
    OutOfCredit,
    Prior,
    UnknownKey,
    UsageRow,
    decide,
)

__all__ = [
    "ApiKeyInfo",
    "Base",
    "IdempotencyConflict",
    "OutOfCredit",
    "StoredBatch",
    "UnknownKey",
    "UsageStore",
    "UsageSummary",
    "VaultCredit",
]

KEY_PREFIX = "fsk_"


class Amount(TypeDecorator[int]):
    """Token amounts as exact decimal strings: wei overflow SQLite's 64-bit INTEGER, and floats would round."""

    impl = String(78)
    cache_ok = True

    def process_bind_param(self, value: int | None, dialect: object) -> str | None:
        return None if value is None else str(int(value))

    def process_result_value(self, value: str | None, dialect: object) -> int | None:
        return None if value is None else int(value)


class Base(DeclarativeBase):
    pass


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(16), unique=True, index=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    salt: Mapped[str] = mapped_column(String(32))
    customer: Mapped[str] = mapped_column(String(128))
    credit: Mapped[int] = mapped_column(Amount())
    created_at: Mapped[str] = mapped_column(String(32))
    billed: Mapped[int] = mapped_column(Amount(), default=0)
    deposited: Mapped[int] = mapped_column(Amount(), default=0)
    refunded: Mapped[int] = mapped_column(Amount(), default=0)
    refund_pending: Mapped[int] = mapped_column(Integer, default=0)


class ReceiptBatch(Base):
    __tablename__ = "receipt_batches"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    root: Mapped[str] = mapped_column(String(66))
    signature: Mapped[str] = mapped_column(String(132))
    created_at: Mapped[str] = mapped_column(String(32))


class Usage(Base):
    __tablename__ = "usage"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(16), ForeignKey("api_keys.key_id"), index=True)
    rows: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(Amount())
    model_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[str] = mapped_column(String(32))
    settlement_id: Mapped[str | None] = mapped_column(String(66), ForeignKey("settlements.id"), index=True)
    request_id: Mapped[str | None] = mapped_column(String(128))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    total: Mapped[int | None] = mapped_column(Amount())
    request: Mapped[str | None] = mapped_column(String(66))
    batch_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("receipt_batches.id"))
    position: Mapped[int | None] = mapped_column(Integer)
    __table_args__ = (UniqueConstraint("key_id", "request_id", name="uq_usage_key_request"),)


class SettlementRow(Base):
    __tablename__ = "settlements"
    id: Mapped[str] = mapped_column(String(66), primary_key=True)
    amount: Mapped[int] = mapped_column(Amount())
    calls: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # "open" until the chain confirms, then "settled"
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    created_at: Mapped[str] = mapped_column(String(32))
    window_id: Mapped[int | None] = mapped_column(Integer)
    window_root: Mapped[str | None] = mapped_column(String(66))


@dataclass(frozen=True)
class ApiKeyInfo:
    key_id: str
    customer: str
    credit: int
    created_at: str
    deposited: int = 0
    billed: int = 0
    refund: str = ""
    """"asked" while a refund waits out its notice, "taken" once refunded (the key is closed)."""


@dataclass(frozen=True)
class StoredBatch:
    """A signed receipt batch: its Merkle root, the operator's signature and its calls in leaf order
    (key id, request, rows, amount, running total, model hash)."""

    root: bytes
    signature: bytes
    rows: list[tuple[str, str, int, int, int, str]]


@dataclass(frozen=True)
class VaultCredit:
    """What the CreditVault's events say about one key."""

    deposited: int
    refund_pending: bool
    refunded: int


@dataclass(frozen=True)
class UsageSummary:
    calls: int
    rows: int
    revenue: int
    settled: int
    pending: int


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def usage_values(u: UsageRow, batch_id: int | None, position: int) -> dict[str, object]:
    return {
        "key_id": u.key_id,
        "rows": u.rows,
        "amount": u.amount,
        "model_hash": u.model_hash,
        "created_at": _now(),
        "request_id": u.request_id,
        "request_hash": u.request_hash,
        "total": u.total,
        "request": "0x" + u.request.hex(),
        "batch_id": batch_id,
        "position": position if batch_id is not None else None,
    }


def _hash(salt: str, secret: str) -> str:
    return hashlib.sha256(f"{salt}:{secret}".encode()).hexdigest()


class UsageStore:
    def __init__(self, url: str) -> None:
        try:
            self.engine: Engine = create_engine(url, future=True)
        except (SQLAlchemyError, ValueError) as exc:
            raise ServingError(f"cannot open usage store {url!r}: {exc}") from exc
        self.sqlite = self.engine.dialect.name == "sqlite"
        if self.sqlite:

            @event.listens_for(self.engine, "connect")
            def _pragmas(dbapi_connection, _record):
                dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA busy_timeout=10000")
                cursor.execute("PRAGMA foreign_keys=ON")
                cursor.close()

            @event.listens_for(self.engine, "begin")
            def _begin(connection):
                connection.exec_driver_sql("BEGIN IMMEDIATE")

        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._migrate(url)

    def _migrate(self, url: str) -> None:
        """Bring the schema to the newest migration shipped with this version (alembic, programmatically)."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        try:
            with self.engine.connect() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
                connection.commit()
        except SQLAlchemyError as exc:
            raise ServingError(f"cannot migrate the usage store {url!r}: {exc}") from exc

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    # keys -------------------------------------------------------------------------------------------------

    def create_key(self, customer: str, credit: int = 0) -> str:
        """A new API key; the returned plain key is never stored.

        Its customer buys credit in the CreditVault (``apply_vault`` brings it in). ``credit`` grants credit
        off chain: only for tests and benchmarks of billing itself, since the vault cannot settle calls it
        holds no deposit for.
        """
        if credit < 0:
            raise ServingError(f"credit must be non-negative; got {credit}")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(24)
        salt = secrets.token_hex(8)
        with self.session() as s:
            s.add(
                ApiKey(
                    key_id=key_id,
                    key_hash=_hash(salt, secret),
                    salt=salt,
                    customer=customer,
                    credit=credit,
                    created_at=_now(),
                    billed=0,
                    deposited=0,
                    refunded=0,
                    refund_pending=0,
                )
            )
        return f"{KEY_PREFIX}{key_id}_{secret}"

    def _verify(self, s: Session, api_key: str, lock: bool) -> ApiKey:
        if not api_key.startswith(KEY_PREFIX) or "_" not in api_key[len(KEY_PREFIX) :]:
            raise UnknownKey("malformed API key; keys look like fsk_<id>_<secret>")
        key_id, secret = api_key[len(KEY_PREFIX) :].split("_", 1)
        query = select(ApiKey).where(ApiKey.key_id == key_id)
        if lock and not self.sqlite:
            query = query.with_for_update()
        row = s.execute(query).scalar_one_or_none()
        if row is None or not secrets.compare_digest(row.key_hash, _hash(row.salt, secret)):
            raise UnknownKey("unknown API key")
        return row

    def keys(self) -> list[ApiKeyInfo]:
        with self.session() as s:
            rows = s.execute(select(ApiKey).order_by(ApiKey.id)).scalars()
            return [
                ApiKeyInfo(
                    r.key_id,
                    r.customer,
                    int(r.credit),
                    r.created_at,
                    int(r.deposited),
                    int(r.billed),
                    "taken" if int(r.refunded) else ("asked" if r.refund_pending else ""),
                )
                for r in rows
            ]

    # billing ----------------------------------------------------------------------------------------------

    def debit(
        self,
        api_key: str,
        rows: int,
        price_per_row: int,
        model_hash: str,
        request_id: str | None = None,
        body_digest: bytes = b"",
        receipts: Receipting | None = None,
    ) -> Debit:
        """Bill one call of ``rows`` rows atomically, by the rules of ``charges.decide``.

        With a ``request_id`` (the client's Idempotency-Key) a retry of a call already billed is not billed
        again: after a crash between billing and answering, the client retries and gets its answer once paid.
        A different request under the same ``request_id`` raises ``IdempotencyConflict``.
        """
        call = Call(api_key, rows, price_per_row, model_hash, request_id, body_digest)
        with self.session() as s:
            keys: dict[str, ApiKey] = {}

            def key_of(plain: str) -> str:
                key = self._verify(s, plain, lock=True)
                keys[key.key_id] = key
                return key.key_id

            def prior_of(key_id: str, request: str) -> Prior | None:
                row = s.execute(
                    select(Usage.request_hash, Usage.model_hash).where(
                        Usage.key_id == key_id, Usage.request_id == request
                    )
                ).first()
                return None if row is None else Prior(row.request_hash, row.model_hash)

            results, usage, balances = decide(
                [call], key_of, lambda key_id: Balance(int(keys[key_id].credit), int(keys[key_id].billed)), prior_of
            )
            if isinstance(results[0], ServingError):
                raise results[0]
            for key_id, balance in balances.items():
                keys[key_id].credit = balance.credit
                keys[key_id].billed = balance.billed
            batch_id = None
            if usage and receipts is not None:
                signed, (receipt,) = receipts.sign(usage)
                batch = ReceiptBatch(
                    root="0x" + signed.root.hex(), signature="0x" + signed.signature.hex(), created_at=_now()
                )
                s.add(batch)
                s.flush()
                batch_id = batch.id
                results[0] = dataclasses.replace(results[0], receipt=receipt)
            s.add_all(Usage(**usage_values(u, batch_id, i)) for i, u in enumerate(usage))
            debit = results[0]
            key_id = next(iter(keys))
        if debit.replayed and receipts is not None and request_id is not None:
            debit = dataclasses.replace(debit, receipt=self.receipt_of(key_id, request_id, receipts))
        return debit

    def apply_vault(self, credits: dict[str, VaultCredit]) -> int:
        """Bring the CreditVault's view of each key in; returns how many keys changed.

        Deposits and refunds are absolute figures from chain events, so applying them twice changes nothing.
        A key's credit becomes deposited - billed, or 0 while a refund is asked for or after it was taken.
        """
        changed = 0
        with self.session() as s:
            for row in s.execute(select(ApiKey).where(ApiKey.key_id.in_(list(credits)))).scalars():
                vault = credits[row.key_id]
                closed = vault.refund_pending or vault.refunded > 0
                credit = 0 if closed else max(0, vault.deposited - int(row.billed))
                new = (vault.deposited, vault.refunded, int(vault.refund_pending), credit)
                if (int(row.deposited), int(row.refunded), row.refund_pending, int(row.credit)) != new:
                    row.deposited, row.refunded, row.refund_pending, row.credit = new
                    changed += 1
        return changed

    def key_ids(self) -> list[str]:
        with self.session() as s:
            return list(s.execute(select(ApiKey.key_id)).scalars())

    def summary(self) -> UsageSummary:
        with self.session() as s:
            usages = s.execute(select(Usage.rows, Usage.amount, Usage.settlement_id)).all()
            settled_ids = set(s.execute(select(SettlementRow.id).where(SettlementRow.status == "settled")).scalars())
        revenue = sum(int(a) for _, a, _ in usages)
        settled = sum(int(a) for _, a, sid in usages if sid in settled_ids)
        return UsageSummary(len(usages), sum(r for r, _, _ in usages), revenue, settled, revenue - settled)

    # settlement -------------------------------------------------------------------------------------------

    def open_settlement(self) -> tuple[str, int, int] | None:
        """The open settlement if one exists, else a new one over every unsettled usage row; None if nothing."""
        with self.session() as s:
            current = s.execute(select(SettlementRow).where(SettlementRow.status == "open")).scalar_one_or_none()
            if current is not None:
                return current.id, int(current.amount), current.calls
            pending = s.execute(select(Usage.id, Usage.amount).where(Usage.settlement_id.is_(None))).all()
            if not pending:
                return None
            ids = [i for i, _ in pending]
            amount = sum(int(a) for _, a in pending)
            digest = hashlib.sha256(f"{ids[0]}-{ids[-1]}-{len(ids)}-{amount}-{secrets.token_hex(8)}".encode())
            settlement_id = "0x" + digest.hexdigest()
            s.add(SettlementRow(id=settlement_id, amount=amount, calls=len(ids), status="open", created_at=_now()))
            s.flush()
            s.execute(update(Usage).where(Usage.id.in_(ids)).values(settlement_id=settlement_id))
            return settlement_id, amount, len(ids)

    def settled_totals(self) -> dict[str, int]:
        """Every key's total billed in settled settlements, as this store records it (the audit compares)."""
        with self.session() as s:
            rows = s.execute(
                select(Usage.key_id, Usage.amount)
                .join(SettlementRow, Usage.settlement_id == SettlementRow.id)
                .where(SettlementRow.status == "settled")
            ).all()
        totals: dict[str, int] = {}
        for key_id, amount in rows:
            totals[key_id] = totals.get(key_id, 0) + int(amount)
        return totals

    def settlement_batches(self, settlement_id: str) -> list[StoredBatch]:
        """The receipt batches of a settlement's calls, by batch id (a batch is committed whole, so a
        settlement, which takes every unsettled call, takes whole batches)."""
        with self.session() as s:
            rows = s.execute(
                select(
                    Usage.batch_id, Usage.key_id, Usage.request, Usage.rows, Usage.amount, Usage.total, Usage.model_hash
                )
                .where(Usage.settlement_id == settlement_id, Usage.batch_id.is_not(None))
                .order_by(Usage.batch_id, Usage.position)
            ).all()
            ids = sorted({r[0] for r in rows})
            heads = {b.id: b for b in s.execute(select(ReceiptBatch).where(ReceiptBatch.id.in_(ids))).scalars()}
        out: dict[int, StoredBatch] = {}
        for batch_id, key_id, request, n, amount, total, model in rows:
            if batch_id not in out:
                head = heads[batch_id]
                out[batch_id] = StoredBatch(bytes.fromhex(head.root[2:]), bytes.fromhex(head.signature[2:]), [])
            out[batch_id].rows.append((key_id, request, n, int(amount), int(total), model))
        return [out[i] for i in ids]

    def receipt_of(self, key_id: str, request_id: str, receipts: Receipting) -> SignedReceipt | None:
        """The signed receipt an idempotency key's call was billed with (its batch's proof rebuilt), so a
        retried call gets the receipt its lost answer carried; None for a call billed without one."""
        with self.session() as s:
            row = s.execute(
                select(Usage.batch_id, Usage.position).where(Usage.key_id == key_id, Usage.request_id == request_id)
            ).first()
            if row is None or row.batch_id is None:
                return None
            batch = s.execute(select(ReceiptBatch).where(ReceiptBatch.id == row.batch_id)).scalar_one()
            members = s.execute(
                select(Usage.key_id, Usage.request, Usage.rows, Usage.amount, Usage.total, Usage.model_hash)
                .where(Usage.batch_id == row.batch_id)
                .order_by(Usage.position)
            ).all()
        leaves = [
            receipts.receipt_from(k, bytes.fromhex(req[2:]), n, int(a), int(t), m) for k, req, n, a, t, m in members
        ]
        levels = merkle_levels([r.leaf() for r in leaves])
        return receipts.signer.signed(
            leaves[row.position], merkle_proof(levels, row.position), bytes.fromhex(batch.signature[2:])
        )

    def settlement_key_receipts(self, settlement_id: str) -> dict[str, list[tuple[int, bytes]]]:
        """For each key in a settlement: the (running total, request) of each of its receipts, lowest first."""
        with self.session() as s:
            rows = s.execute(
                select(Usage.key_id, Usage.total, Usage.request).where(
                    Usage.settlement_id == settlement_id, Usage.batch_id.is_not(None)
                )
            ).all()
        out: dict[str, list[tuple[int, bytes]]] = {}
        for key_id, total, request in rows:
            out.setdefault(key_id, []).append((int(total), bytes.fromhex(request[2:])))
        return {k: sorted(v) for k, v in sorted(out.items())}

    def settlement_window(self, settlement_id: str) -> int | None:
        with self.session() as s:
            return s.execute(select(SettlementRow.window_id).where(SettlementRow.id == settlement_id)).scalar()

    def set_settlement_window(self, settlement_id: str, window_id: int, root: bytes) -> None:
        with self.session() as s:
            s.execute(
                update(SettlementRow)
                .where(SettlementRow.id == settlement_id)
                .values(window_id=window_id, window_root="0x" + root.hex())
            )

    def settled_windows(self) -> list[tuple[str, int]]:
        """(settlement id, window id) of every settlement that posted a window, oldest first."""
        with self.session() as s:
            rows = s.execute(
                select(SettlementRow.id, SettlementRow.window_id)
                .where(SettlementRow.window_id.is_not(None))
                .order_by(SettlementRow.window_id)
            ).all()
        return [(sid, int(wid)) for sid, wid in rows]

    def close_settlement(self, settlement_id: str, tx_hash: str) -> None:
        with self.session() as s:
            s.execute(
                update(SettlementRow).where(SettlementRow.id == settlement_id).values(status="settled", tx_hash=tx_hash)
            )

    def settlements(self) -> list[tuple[str, int, int, str, str | None]]:
        with self.session() as s:
            rows = s.execute(select(SettlementRow).order_by(SettlementRow.created_at)).scalars()
            return [(r.id, int(r.amount), r.calls, r.status, r.tx_hash) for r in rows]

    def count(self) -> int:
        with self.session() as s:
            return int(s.execute(select(func.count(Usage.id))).scalar_one())
