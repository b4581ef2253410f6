"""A validator on its own machine: it watches the ScoreCommittee, values each round on its own rows, commits, reveals.

``fairshare validator start --config validator.toml`` runs ``serve_validator``. It holds the validator's key
(never sent anywhere) and its validation rows, whose hash must be the one governance admitted. For every ballot
that opens it waits for the round's hand-off file (``<handoff>/round-<r>.npz``, written by the coordinator: see
``validators``), values the updates with the round's method and seed, checks that its vector has one score per
member of the ballot, commits during the commit phase and reveals once it is over. Its vector is what its own
settlement holds each member has earned less what the chain paid it (``validators.score_vector``): its
measurements are kept round by round in its settlement log (``settlement`` in its file, by default
``<data>.settlement.json`` beside its rows), so a restarted validator settles on from where it was, and rounds
it missed are valued from their hand-off files first (``validators.Validator.catch_up``). It keeps the salt in
memory only: a validator restarted mid-ballot misses that ballot's reveal (and is named for it), nothing worse.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from eth_account.signers.local import LocalAccount

from fairshare.config import ValidatorNodeConfig
from fairshare.consortium.setup import data_hash
from fairshare.consortium.validator_settlement import SettlementLog
from fairshare.consortium.validators import Validator, handoff_path, read_handoff, score_vector
from fairshare.errors import LedgerError
from fairshare.learning.data import load_partition
from fairshare.ledger import connect
from fairshare.ledger.committee import CommitteeClient
from fairshare.ledger.keystore import load_key_file

__all__ = ["ValidatorNode", "serve_validator"]

SCORE_SCALE = 10**9


@dataclass
class ValidatorNode:
    """One validator's view of the committee: which ballots it committed to, with which vector and salt."""

    config: ValidatorNodeConfig
    account: LocalAccount
    committee: CommitteeClient
    validator: Validator
    pending: dict[int, tuple[list[int], bytes, int]] = field(default_factory=dict)
    """ballot -> (scores, salt, commit_end) for ballots committed to and not yet revealed."""
    done: set[int] = field(default_factory=set)

    def step(self, say: Callable[[str], None]) -> int:
        """Commit to a newly opened ballot, reveal a committed one whose commit phase is over; returns reveals made."""
        head = int(self.committee.chain.w3.eth.block_number)
        ballots = self.committee.index.events(self.committee.committee.address, "Opened")
        revealed = 0
        latest = max((int(x.args["ballot"]) for x in ballots), default=0)  # only the last ballot is open
        for e in ballots:
            ballot = int(e.args["ballot"])
            if ballot != latest or ballot in self.done or ballot in self.pending:
                continue
            if head + 1 > int(e.args["commit_end"]):
                continue
            path = handoff_path(self.config.handoff, int(e.args["round_id"]))
            if not path.exists():
                continue  # not handed over yet
            scores = score_vector(self.validator, read_handoff(path), self.config.handoff, SCORE_SCALE)
            if len(scores) != int(e.args["members"]):
                say(f"ballot {ballot}: the hand-off has {len(scores)} members, the ballot {e.args['members']}; skipped")
                self.done.add(ballot)
                continue
            salt = secrets.token_bytes(32)
            self.committee.commit(self.account, ballot, scores, salt)
            self.pending[ballot] = (scores, salt, int(e.args["commit_end"]))
            say(f"ballot {ballot} (round {int(e.args['round_id'])}): committed")
        for ballot, (scores, salt, commit_end) in list(self.pending.items()):
            if head + 1 > commit_end:
                try:
                    self.committee.reveal(self.account, ballot, scores, salt)
                    revealed += 1
                    say(f"ballot {ballot}: revealed")
                except LedgerError as exc:
                    say(f"ballot {ballot}: could not reveal: {exc}")
                del self.pending[ballot]
                self.done.add(ballot)
        return revealed


def serve_validator(
    config: ValidatorNodeConfig, say: Callable[[str], None], ballots: int | None = None, start_block: int = 0
) -> int:
    """Run until ``ballots`` reveals were made (forever when None); returns how many were made."""
    account = load_key_file(config.account_key)
    chain = connect(config.chain, Path("."))
    try:
        committee = CommitteeClient.at(chain, config.committee, start_block)
        admitted = bytes(committee.committee.functions.data_hash_of(account.address).call())
        weight = int(committee.committee.functions.weight_of(account.address).call())
        rows = load_partition(config.data)
        if weight == 0:
            raise LedgerError(f"{account.address} is not an admitted validator of committee {config.committee}")
        if data_hash(rows) != admitted:
            raise LedgerError(
                f"{config.data} hashes to {data_hash(rows).hex()[:16]}…, but governance admitted this validator with "
                f"data {admitted.hex()[:16]}…; validate on the rows you committed to"
            )
        log = SettlementLog(config.settlement or config.data.with_suffix(".settlement.json"), config.committee)
        node = ValidatorNode(config, account, committee, Validator("self", account, weight, rows, log))
        say(f"validator {account.address} (weight {weight}) watching committee {config.committee}")
        made = 0
        while ballots is None or made < ballots:
            made += node.step(say)
            time.sleep(config.poll_seconds)
        return made
    finally:
        chain.close()
