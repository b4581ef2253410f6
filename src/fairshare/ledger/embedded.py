"""The embedded chain: py-evm through eth-tester, persisted in one SQLite file.

Why not stock eth-tester: it keeps the chain in memory (gone when the process exits) and looks a transaction
up by scanning every block (4.5 tx/s and falling, measured in STACK-NOTES). Here

- ``SqliteKV`` is py-evm's key-value store in SQLite (WAL). Writes are buffered and flushed in one SQLite
  transaction after each mined block, so a crash (even ``kill -9``) leaves the last complete block.
- ``PersistentBackend`` opens the chain from that store when it exists (a second process sees the first's
  blocks, balances, contracts, receipts and logs) and finds transactions through py-evm's own
  transaction-hash index instead of scanning.
- A file lock stops two processes from writing one chain file at once; the second gets a clear error.

It is the same EVM (Prague rules) that the contracts are compiled for; the chain id is eth-tester's.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from eth.db.atomic import AtomicDB
from eth.db.backends.base import BaseDB
from eth.exceptions import TransactionNotFound as EVMTransactionNotFound
from eth.vm.spoof import SpoofTransaction
from eth_tester import EthereumTester
from eth_tester.backends.pyevm import main as pyevm_main
from eth_tester.backends.pyevm.main import PyEVMBackend
from eth_tester.backends.pyevm.serializers import serialize_transaction, serialize_transaction_receipt
from eth_tester.exceptions import TransactionNotFound
from eth_utils import encode_hex

from fairshare.errors import ChainConnectionError

__all__ = ["EmbeddedChain", "PersistentBackend", "SqliteKV", "open_embedded"]

_HEAD_KEY = b"fairshare:initialised"


class SqliteKV(BaseDB):
    """Bytes-to-bytes store in SQLite with a write buffer flushed by ``commit``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL)")
        self._pending: dict[bytes, bytes | None] = {}

    def __getitem__(self, key: bytes) -> bytes:
        if key in self._pending:
            value = self._pending[key]
            if value is None:
                raise KeyError(key)
            return value
        row = self._db.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        return bytes(row[0])

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._pending[bytes(key)] = bytes(value)

    def __delitem__(self, key: bytes) -> None:
        if key not in self:
            raise KeyError(key)
        self._pending[bytes(key)] = None

    def _exists(self, key: bytes) -> bool:
        try:
            self[key]
        except KeyError:
            return False
        return True

    def commit(self) -> None:
        """Write every buffered change in one transaction: all of a block, or none of it."""
        if not self._pending:
            return
        writes = [(k, v) for k, v in self._pending.items() if v is not None]
        deletes = [(k,) for k, v in self._pending.items() if v is None]
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", writes)
            self._db.executemany("DELETE FROM kv WHERE k = ?", deletes)
        self._pending.clear()

    def rollback(self) -> None:
        self._pending.clear()

    def close(self) -> None:
        self._db.close()


def single_run_gas_estimate(state, transaction) -> int:
    """One execution at the block gas limit instead of py-evm's binary search (about 13 executions).

    The refund (at most a fifth of the gas used) and the 63/64 rule for nested calls mean the limit a
    transaction needs exceeds the gas it uses; 1.3x + 21,000 covers both for our contracts, and the caller
    adds its own margin. A revert is raised as py-evm's estimator raises it.
    """
    snapshot = state.snapshot()
    try:
        spoofed = SpoofTransaction(transaction, gas=state.gas_limit)
        computation = state.apply_transaction(spoofed)
        if computation.is_error:
            raise computation.error
        return min(state.gas_limit, int(computation.get_gas_used() * 1.3) + 21_000)
    finally:
        state.revert(snapshot)


class PersistentBackend(PyEVMBackend):
    """eth-tester's py-evm backend on ``SqliteKV``, with indexed transaction lookups."""

    def __init__(self, store: SqliteKV) -> None:
        self.store = store
        super().__init__()

    def reset_to_genesis(self, genesis_params=None, genesis_state=None, num_accounts=None, *args: Any) -> None:
        """Build a new chain into the store, or reopen the one already in it."""
        keys, memory_chain = pyevm_main.setup_tester_chain(genesis_params, genesis_state, num_accounts)
        chain_class = type(memory_chain)
        database = AtomicDB(self.store)
        if self.store.exists(_HEAD_KEY):
            self.chain = chain_class(database)
        else:
            self.store.rollback()
            genesis = pyevm_main.get_default_genesis_params()
            state = pyevm_main.generate_genesis_state_for_keys(keys)
            self.chain = chain_class.from_genesis(database, genesis, state)
            self.store[_HEAD_KEY] = b"1"
            self.store.commit()
        self.chain.gas_estimator = single_run_gas_estimate
        self.account_keys = keys

    def mine_blocks(self, num_blocks: int = 1, coinbase: bytes = pyevm_main.ZERO_ADDRESS) -> tuple[bytes, ...]:
        hashes = super().mine_blocks(num_blocks, coinbase)
        self.store.commit()
        return hashes

    def _lookup(self, transaction_hash: bytes):
        try:
            block_number, index = self.chain.chaindb.get_transaction_index(transaction_hash)
        except (EVMTransactionNotFound, KeyError):
            pending = self.chain.get_block()
            for position, transaction in enumerate(pending.transactions):
                if transaction.hash == transaction_hash:
                    return pending, transaction, position
            raise TransactionNotFound(f"No transaction found for hash {encode_hex(transaction_hash)}") from None
        block = self.chain.get_canonical_block_by_number(block_number)
        return block, block.transactions[index], index

    def get_transaction_by_hash(self, transaction_hash: bytes) -> dict[str, Any]:
        block, transaction, index = self._lookup(transaction_hash)
        is_pending = block.number == self.chain.get_block().number
        return serialize_transaction(block, transaction, index, is_pending)

    def get_transaction_receipt(self, transaction_hash: bytes) -> dict[str, Any]:
        block, transaction, index = self._lookup(transaction_hash)
        is_pending = block.number == self.chain.get_block().number
        receipts = block.get_receipts(self.chain.chaindb)
        return serialize_transaction_receipt(block, receipts, transaction, index, is_pending, self.chain.get_vm())


LOCK_WAIT = 5.0
"""Seconds to wait for another user of the chain file: a served API reads it briefly every few seconds
(customers' deposits, the dashboard), and a command started meanwhile waits for that instead of failing."""


def _lock_within(fd: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


class EmbeddedChain:
    """An open embedded chain file: the eth-tester instance and the lock that keeps other writers out."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = open(path.with_name(path.name + ".lock"), "a+")  # noqa: SIM115 - held for the object's life
        try:
            _lock_within(self._lock.fileno(), LOCK_WAIT)
        except BlockingIOError as exc:
            self._lock.seek(0)
            holder = self._lock.read().strip() or "another process"
            self._lock.close()
            raise ChainConnectionError(
                f"the embedded chain {path} is in use by {holder}; wait for it to finish, or stop it "
                "(one process at a time writes an embedded chain; use a node URL with --chain for more)"
            ) from exc
        self._lock.seek(0)
        self._lock.truncate()
        self._lock.write(f"pid {os.getpid()}")
        self._lock.flush()
        self.store = SqliteKV(path)
        self.backend = PersistentBackend(self.store)
        self.tester = EthereumTester(self.backend, auto_mine_transactions=True)

    def close(self) -> None:
        self.store.close()
        fcntl.flock(self._lock.fileno(), fcntl.LOCK_UN)
        self._lock.close()


def open_embedded(path: Path) -> EmbeddedChain:
    try:
        return EmbeddedChain(path)
    except sqlite3.DatabaseError as exc:
        raise ChainConnectionError(
            f"{path} is not an embedded chain file ({exc}); move it away or pick --home"
        ) from exc
