"""A local, checkpointed index of the consortium's contract events.

Reading a long history through per-event ``get_logs`` filters is slow (on the embedded chain it walks the
filter machinery for every event type). The index fetches raw logs for both contracts in one call from
the block after its checkpoint to the head, decodes them with the ABIs, appends them to SQLite and moves the
checkpoint: each later read only fetches what is new. The index is a cache: deleting it loses nothing, the
next read rebuilds it from the chain; a chain that moved under it (reorg, reset) is detected by the hash of the
checkpoint block and re-indexed. The audit never reads it: it fetches every log from the chain itself.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hexbytes import HexBytes
from web3 import Web3
from web3._utils.events import get_event_data
from web3.contract import Contract

__all__ = ["EventIndex", "IndexedEvent"]


@dataclass(frozen=True)
class IndexedEvent:
    contract: str
    name: str
    block: int
    log_index: int
    tx_hash: str
    args: dict[str, Any]


def _encode(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | HexBytes):
        return {"$bytes": bytes(value).hex()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and "$bytes" in value:
        return bytes.fromhex(value["$bytes"])
    if isinstance(value, list):
        return tuple(_decode(v) for v in value)
    return value


class EventIndex:
    def __init__(self, w3: Web3, contracts: list[Contract], start_block: int, path: Path | None = None) -> None:
        self.w3 = w3
        self.path = path
        self.start_block = start_block
        self.contracts = {c.address: c for c in contracts}
        self._abis = {}
        for contract in contracts:
            for entry in contract.abi:
                if entry.get("type") == "event":
                    signature = f"{entry['name']}({','.join(i['type'] for i in entry['inputs'])})"
                    self._abis[(contract.address.lower(), bytes(Web3.keccak(text=signature)))] = entry
        self.db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False)
        self.db.executescript(
            """
            CREATE TABLE IF NOT EXISTS events (
                contract TEXT, name TEXT, block INTEGER, log_index INTEGER, tx_hash TEXT, args TEXT,
                PRIMARY KEY (contract, block, log_index));
            CREATE TABLE IF NOT EXISTS checkpoint (key TEXT PRIMARY KEY, block INTEGER);
            CREATE TABLE IF NOT EXISTS checkpoint_hash (key TEXT PRIMARY KEY, hash TEXT);
            """
        )
        self._key = ",".join(sorted(self.contracts))
        self.reindexed = 0
        """How many times this index found the chain had moved under it (reorg, reset) and started again."""

    def _checkpoint(self) -> int:
        row = self.db.execute("SELECT block FROM checkpoint WHERE key = ?", (self._key,)).fetchone()
        return int(row[0]) if row else self.start_block - 1

    def _still_on_chain(self, checkpoint: int, head: int) -> bool:
        """Whether the block the index last read is still the chain's block at that height."""
        row = self.db.execute("SELECT hash FROM checkpoint_hash WHERE key = ?", (self._key,)).fetchone()
        if row is None or checkpoint < self.start_block:
            return True
        if checkpoint > head:
            return False
        return bytes(self.w3.eth.get_block(checkpoint)["hash"]).hex() == row[0]

    def _forget(self) -> None:
        placeholders = ",".join("?" * len(self.contracts))
        with self.db:
            self.db.execute(f"DELETE FROM events WHERE contract IN ({placeholders})", list(self.contracts))
            self.db.execute("DELETE FROM checkpoint WHERE key = ?", (self._key,))
            self.db.execute("DELETE FROM checkpoint_hash WHERE key = ?", (self._key,))
        self.reindexed += 1

    def refresh(self) -> int:
        """Ingest logs from the block after the checkpoint to the head; returns how many were added.

        If the chain no longer has the block the index last read (a reorg, or a dev chain reset), the cache is
        dropped and rebuilt from the deployment block: the chain is the source of truth, never the index.
        """
        head = int(self.w3.eth.block_number)
        if not self._still_on_chain(self._checkpoint(), head):
            self._forget()
        start = self._checkpoint() + 1
        if start > head:
            return 0
        logs = self.w3.eth.get_logs({"fromBlock": start, "toBlock": head, "address": list(self.contracts)})
        rows = []
        for log in logs:
            abi = self._abis.get((log["address"].lower(), bytes(log["topics"][0])))
            if abi is None:
                continue
            event = get_event_data(self.w3.codec, abi, log)
            args = {k: _encode(v) for k, v in event["args"].items()}
            rows.append(
                (
                    event["address"],
                    event["event"],
                    event["blockNumber"],
                    event["logIndex"],
                    event["transactionHash"].to_0x_hex(),
                    json.dumps(args),
                )
            )
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO events VALUES (?, ?, ?, ?, ?, ?)", rows)
            self.db.execute("INSERT OR REPLACE INTO checkpoint VALUES (?, ?)", (self._key, head))
            head_hash = bytes(self.w3.eth.get_block(head)["hash"]).hex()
            self.db.execute("INSERT OR REPLACE INTO checkpoint_hash VALUES (?, ?)", (self._key, head_hash))
        return len(rows)

    def rows(self) -> list[tuple[str, str, int, int, str, str]]:
        """Every cached event as stored, after catching up with the chain (to compare two indexes)."""
        self.refresh()
        return list(
            self.db.execute(
                "SELECT contract, name, block, log_index, tx_hash, args FROM events ORDER BY block, log_index, contract"
            )
        )

    def rebuild(self) -> None:
        """Drop the cache and read everything from the chain again."""
        self._forget()
        self.refresh()

    def events(self, contract: str, name: str) -> list[IndexedEvent]:
        self.refresh()
        cursor = self.db.execute(
            "SELECT contract, name, block, log_index, tx_hash, args FROM events "
            "WHERE contract = ? AND name = ? ORDER BY block, log_index",
            (contract, name),
        )
        return [
            IndexedEvent(c, n, b, i, t, {k: _decode(v) for k, v in json.loads(a).items()})
            for c, n, b, i, t, a in cursor
        ]
