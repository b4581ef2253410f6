"""The usage store: API keys with prepaid credit, one row per paid call, and settlements (SQLAlchemy).

SQLite by default (a file per run), any SQLAlchemy URL (e.g. PostgreSQL) where one server is not enough.
Rules the rest of fairshare relies on:

- a call is billed by ``debit`` in ONE transaction that checks the credit, lowers it and writes the usage
  row; concurrent debits of one key serialise (SQLite ``BEGIN IMMEDIATE``; ``SELECT ... FOR UPDATE``
  elsewhere), so credit never goes negative and no answered call is unbilled;
- keys are stored as salted SHA-256 hashes; the plain key is shown once, at creation;
- a usage row belongs to at most one settlement, and a settlement's rows are fixed when it is opened;
- a request id (the client's ``Idempotency-Key``) is billed at most once per key, and only ever answers the
  request it was first billed for (its request hash is stored with it; see ``charges``).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

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

from fairshare.errors import ServingError
from fairshare.serving.charges import Call, Debit, IdempotencyConflict, OutOfCredit, Prior, UnknownKey, decide

__all__ = [
    "ApiKeyInfo",
    "Base",
    "IdempotencyConflict",
    "OutOfCredit",
    "UnknownKey",
    "UsageStore",
    "UsageSummary",
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
    __table_args__ = (UniqueConstraint("key_id", "request_id", name="uq_usage_key_request"),)


class SettlementRow(Base):
    __tablename__ = "settlements"
    id: Mapped[str] = mapped_column(String(66), primary_key=True)
    amount: Mapped[int] = mapped_column(Amount())
    calls: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # "open" until the chain confirms, then "settled"
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    created_at: Mapped[str] = mapped_column(String(32))


@dataclass(frozen=True)
class ApiKeyInfo:
    key_id: str
    customer: str
    credit: int
    created_at: str


@dataclass(frozen=True)
class UsageSummary:
    calls: int
    rows: int
    revenue: int
    settled: int
    pending: int


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


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

    def create_key(self, customer: str, credit: int) -> str:
        """A new API key with ``credit`` (smallest unit); the returned plain key is never stored."""
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

    def add_credit(self, api_key: str, amount: int) -> int:
        if amount <= 0:
            raise ServingError(f"credit to add must be positive; got {amount}")
        with self.session() as s:
            row = self._verify(s, api_key, lock=True)
            row.credit = int(row.credit) + amount
            return int(row.credit)

    def keys(self) -> list[ApiKeyInfo]:
        with self.session() as s:
            rows = s.execute(select(ApiKey).order_by(ApiKey.id)).scalars()
            return [ApiKeyInfo(r.key_id, r.customer, int(r.credit), r.created_at) for r in rows]

    # billing ----------------------------------------------------------------------------------------------

    def debit(
        self,
        api_key: str,
        rows: int,
        price_per_row: int,
        model_hash: str,
        request_id: str | None = None,
        body_digest: bytes = b"",
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

            results, usage, credits = decide([call], key_of, lambda key_id: int(keys[key_id].credit), prior_of)
            if isinstance(results[0], ServingError):
                raise results[0]
            for key_id, credit in credits.items():
                keys[key_id].credit = credit
            now = _now()
            s.add_all(
                Usage(
                    key_id=u.key_id,
                    rows=u.rows,
                    amount=u.amount,
                    model_hash=u.model_hash,
                    created_at=now,
                    request_id=u.request_id,
                    request_hash=u.request_hash,
                )
                for u in usage
            )
            return results[0]

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

    def settlement_totals(self, settlement_id: str) -> dict[str, int]:
        """For every key with rows in ``settlement_id``: its running total billed, i.e. the amounts of its rows
        in settled settlements plus this one. This is what the chain is asked to have settled for the key."""
        with self.session() as s:
            keys = set(s.execute(select(Usage.key_id).where(Usage.settlement_id == settlement_id)).scalars())
            settled = select(SettlementRow.id).where(
                (SettlementRow.status == "settled") | (SettlementRow.id == settlement_id)
            )
            rows = s.execute(
                select(Usage.key_id, Usage.amount).where(Usage.key_id.in_(keys), Usage.settlement_id.in_(settled))
            ).all()
        totals: dict[str, int] = dict.fromkeys(sorted(keys), 0)
        for key_id, amount in rows:
            totals[key_id] += int(amount)
        return totals

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
