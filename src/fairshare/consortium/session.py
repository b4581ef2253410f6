"""An open run: its files, its consortium file, and lazily its chain connection and contracts.

Commands after ``init`` (train, settle, withdraw, status, audit) all start from ``open_run``: it finds the
newest run, re-reads the exact consortium file the run started with, and reconnects to the run's chain.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from eth_account.signers.local import LocalAccount

from fairshare.config import ConsortiumConfig, load_config
from fairshare.consortium.workspace import MemberAccount, RunPaths, RunRecord, latest_run, read_record
from fairshare.errors import ChainConnectionError, LedgerError
from fairshare.governance import GovernanceClient
from fairshare.ledger import Chain, Deployment, Keystore, LedgerClient, connect
from fairshare.ledger.roots import RootsClient

__all__ = ["Run", "fresh_run", "open_run"]

_FRESH = threading.Lock()
"""One fresh connection at a time in this process: an embedded chain takes an exclusive file lock, and the
API's background readers (the dashboard, the vault's deposits, the release check) would refuse each other."""


@dataclass
class Run:
    paths: RunPaths
    config: ConsortiumConfig
    record: RunRecord
    chain_url: str | None = None
    _chain: Chain | None = field(default=None, repr=False)
    _keys: dict[str, LocalAccount] = field(default_factory=dict, repr=False)
    """Keys decrypted in this process (scrypt costs ~50 ms a key: a thousand members vote in seconds, not minutes)."""

    @property
    def home(self) -> Path:
        return self.paths.home

    @property
    def chain(self) -> Chain:
        if self._chain is None:
            self._chain = connect(self.chain_url, self.home)
            if self._chain.chain_id != self.record.chain_id:
                raise ChainConnectionError(
                    f"chain {self._chain.url} has chain id {self._chain.chain_id}, but run {self.paths.root} was "
                    f"deployed on chain id {self.record.chain_id}; pass its chain with --chain {self.record.chain_url}"
                )
        return self._chain

    @cached_property
    def deployment(self) -> Deployment:
        return Deployment.from_json(self.record.deployment)

    @cached_property
    def ledger(self) -> LedgerClient:
        return LedgerClient(self.chain, self.deployment, index_path=self.paths.root / "events.sqlite")

    @cached_property
    def governance(self) -> GovernanceClient:
        return GovernanceClient(self.chain, self.deployment, self.ledger.index)

    @cached_property
    def roots(self) -> RootsClient:
        """Payouts by Merkle roots (EntitlementRoots), sharing the run's event index."""
        return RootsClient(self.chain, self.deployment, self.ledger.index)

    def roots_mode(self) -> bool:
        """Whether governance switched the payouts to Merkle roots (Governor.payout_mode == 1)."""
        return self.governance.policy().payout_mode == 1

    @cached_property
    def keystore(self) -> Keystore:
        return Keystore(self.home / "keystore")

    def key_name(self, member: str) -> str:
        """Keys are per run, so two runs never share a payee account by accident."""
        return f"{self.paths.consortium}-{self.paths.index}-{member}"

    def account_name(self, address: str) -> str | None:
        """Which member (or "treasury") ``address`` belongs to in this run, if any."""
        owners = {m.address.lower(): m.name for m in self.record.members}
        owners[self.record.treasury.lower()] = "treasury"
        return owners.get(address.lower())

    def admitted_members(self) -> list[MemberAccount]:
        """This run's members the Governor admits now (run.json also keeps the ones governance removed)."""
        return [m for m in self.record.members if self.governance.is_member(m.address)]

    def holds_key(self, member: str) -> bool:
        return member == "treasury" or not self.record.member(member).own_key

    def check_member(self, member: str) -> str:
        """``member``'s address, after checking the Governor admitted that address under that name.

        run.json is a local file: an edited address must not make one member's command act for another.
        """
        address = self.record.member(member).address
        on_chain = self.governance.member_name(address)  # kept after a removal: removed members still withdraw
        if on_chain != member:
            raise LedgerError(
                f"run.json says {member!r} is {address}, but the Governor admitted that address as "
                f"{on_chain or 'nobody'!r}; {self.paths.root / 'run.json'} was edited or belongs to another chain"
            )
        return address

    def member_key(self, member: str) -> LocalAccount:
        """A member's key from this machine's keystore; members that keep their own key sign elsewhere."""
        if member != "treasury":
            self.check_member(member)
        if not self.holds_key(member):
            address = self.record.member(member).address
            raise LedgerError(
                f"{member} keeps its own account key ({address}); it signs with it: --key account.json "
                "(fairshare withdraw, vote, propose), or with any wallet"
            )
        if member in self._keys:
            return self._keys[member]
        account = self.keystore.load(self.key_name(member))
        if member != "treasury" and account.address != self.record.member(member).address:
            raise LedgerError(f"the keystore's key for {member!r} is {account.address}, not its admitted account")
        self._keys[member] = account
        return account


def open_run(
    home: Path, consortium: str | None = None, chain_url: str | None = None, chain: Chain | None = None
) -> Run:
    """The newest run under ``home``; ``chain_url`` overrides the URL the run was set up with, and an already
    connected ``chain`` is reused (an embedded chain may be opened once per process)."""
    paths = latest_run(home, consortium)
    record = read_record(paths)
    config = load_config(paths.config_file)
    url = chain_url if chain_url is not None else (record.chain_url or None)
    if url == "embedded":
        url = None
    run = Run(paths=paths, config=config, record=record, chain_url=url)
    if chain is not None:
        run._chain = chain
    return run


@contextmanager
def fresh_run(home: Path, consortium: str | None = None) -> Iterator[Run]:
    """The newest run on its own connection, closed afterwards; for the API's background threads."""
    with _FRESH:
        run = open_run(home, consortium)
        try:
            yield run
        finally:
            if run._chain is not None:
                run._chain.close()
