"""Typed calls on the ScoreCommittee: open a ballot, commit, reveal, propose, finalize, and read it all back.

A ballot's reveals live in the calldata of the validators' ``reveal`` transactions (the contract stores only a
hash of each); ``reveals`` reads them back by decoding those transactions, so anyone with the chain can
recompute the medians. A validator must therefore call ``reveal`` directly from its account, not through
another contract.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_abi import encode
from eth_account.signers.local import LocalAccount
from web3 import Web3

from fairshare.errors import LedgerError
from fairshare.ledger.chain import Chain
from fairshare.ledger.deploy import Deployment, contract_at
from fairshare.ledger.events import EventIndex

__all__ = [
    "Ballot",
    "BallotOutcome",
    "CommitteeClient",
    "Reveal",
    "RoundContext",
    "commitment",
    "committed_slot",
]


@dataclass(frozen=True)
class RoundContext:
    """What a ballot's scores are about; members ascending by address (the TrainingLog's order)."""

    round_id: int
    model_hash: bytes
    method: str
    params: str
    seed: int
    members: tuple[str, ...]

    def __post_init__(self) -> None:
        checksummed = tuple(Web3.to_checksum_address(m) for m in self.members)
        if list(checksummed) != sorted(checksummed, key=lambda a: int(a, 16)) or len(set(checksummed)) != len(
            checksummed
        ):
            raise LedgerError("a round's members must be distinct and in ascending address order")
        object.__setattr__(self, "members", checksummed)

    def args(self) -> tuple[Any, ...]:
        return (self.round_id, self.model_hash, self.method, self.params, self.seed, list(self.members))

    def hash(self) -> bytes:
        encoded = encode(["uint256", "bytes32", "string", "string", "uint256", "address[]"], list(self.args()))
        return bytes(Web3.keccak(encoded))


def commitment(ballot: int, validator: str, scores: Sequence[int], salt: bytes) -> bytes:
    """keccak256(abi_encode(ballot, validator, scores, salt)): binding the validator stops a copied commitment."""
    encoded = encode(["uint256", "address", "int256[]", "bytes32"], [ballot, validator, list(scores), salt])
    return bytes(Web3.keccak(encoded))


HASH_BITS = (1 << 208) - 1


def committed_slot(ballot: int, validator: str, scores: Sequence[int], salt: bytes) -> int:
    """What the contract keeps of a commitment: the ballot id over 207 bits of it (bit 0 cleared)."""
    return (ballot << 208) | (int.from_bytes(commitment(ballot, validator, scores, salt), "big") & HASH_BITS & ~1)


def _medians_hash(medians: Sequence[int]) -> bytes:
    return bytes(Web3.keccak(encode(["int256[]"], [list(medians)])))


@dataclass(frozen=True)
class Reveal:
    validator: str
    weight: int
    scores: tuple[int, ...]
    salt: bytes
    block: int
    tx_hash: str


@dataclass(frozen=True)
class Ballot:
    """A ballot as its events tell it: who committed, who revealed what, who proposed, how it ended."""

    ballot: int
    round_id: int
    context: bytes
    members: int
    commit_end: int
    reveal_end: int
    block: int
    commitments: dict[str, bytes] = field(default_factory=dict)
    reveals: dict[str, Reveal] = field(default_factory=dict)
    proposals: tuple[tuple[str, bytes], ...] = ()
    finalized: dict[str, Any] | None = None


@dataclass(frozen=True)
class BallotOutcome:
    ballot: int
    medians: list[int]
    revealed: tuple[str, ...]
    missing: tuple[str, ...]
    gas: dict[str, int]
    reveals: dict[str, list[int]] = field(default_factory=dict)


class CommitteeClient:
    def __init__(self, chain: Chain, deployment: Deployment, index: EventIndex | None = None) -> None:
        if not deployment.committee:
            raise LedgerError(f"consortium {deployment.name!r} has no score committee: it has a single scorer")
        self._attach(chain, deployment.committee, deployment.block, index)

    @classmethod
    def at(cls, chain: Chain, address: str, start_block: int = 0) -> CommitteeClient:
        """The committee at ``address`` (a validator on its own machine knows no more than that)."""
        client = cls.__new__(cls)
        client._attach(chain, address, start_block, None)
        return client

    def _attach(self, chain: Chain, address: str, start_block: int, index: EventIndex | None) -> None:
        self.chain = chain
        self.committee = contract_at(chain, "ScoreCommittee", address)
        self.index = index if index is not None and self.committee.address in index.contracts else None
        if self.index is None:
            self.index = EventIndex(chain.w3, [self.committee], start_block)

    def _send(self, sender: LocalAccount, function: str, *args: Any, what: str) -> dict:
        return dict(self.chain.send(sender, self.committee, function, *args, what=what))

    # writes -----------------------------------------------------------------------------------------------

    def open_round(self, oracle: LocalAccount, context: RoundContext) -> tuple[int, int]:
        """Open a ballot for ``context``; returns (ballot id, gas).

        A ballot left open by a coordinator that crashed mid-round blocks a new one until it can no longer settle
        (past its reveal phase and, if proposed, its challenge window): on a development chain those blocks are
        mined here; on another chain the call says how long to wait."""
        self._outlast_open_ballot()
        receipt = self._send(
            oracle,
            "open_round",
            context.round_id,
            context.hash(),
            len(context.members),
            what=f"opening the ballot of round {context.round_id}",
        )
        event = self.committee.events.Opened().process_receipt(receipt)[0]
        return int(event.args.ballot), int(receipt["gasUsed"])

    def _outlast_open_ballot(self) -> None:
        current = self.committee.functions.ballot_state().call()
        ballot, reveal_end, challenge_end, finalized = current[0], current[2], current[3], current[6]
        if ballot == 0 or finalized:
            return
        last = max(reveal_end, challenge_end)
        if int(self.chain.w3.eth.block_number) + 1 > last:
            return
        try:
            self.wait_until(last)
        except LedgerError as exc:
            raise LedgerError(
                f"ballot {ballot} of an interrupted round is still open until block {last}; retry after it"
            ) from exc

    def commit(self, validator: LocalAccount, ballot: int, scores: Sequence[int], salt: bytes) -> int:
        receipt = self._send(
            validator,
            "commit",
            ballot,
            commitment(ballot, validator.address, scores, salt),
            what=f"committing scores of {validator.address} to ballot {ballot}",
        )
        return int(receipt["gasUsed"])

    def reveal(self, validator: LocalAccount, ballot: int, scores: Sequence[int], salt: bytes) -> int:
        receipt = self._send(
            validator, "reveal", ballot, list(scores), salt, what=f"revealing scores of {validator.address}"
        )
        return int(receipt["gasUsed"])

    def propose(self, sender: LocalAccount, ballot: int, medians: Sequence[int]) -> int:
        receipt = self._send(
            sender, "propose", ballot, _medians_hash(medians), what=f"proposing the medians of ballot {ballot}"
        )
        return int(receipt["gasUsed"])

    def finalize(self, sender: LocalAccount, ballot: int, context: RoundContext, medians: Sequence[int]) -> int:
        receipt = self._send(
            sender, "finalize", ballot, *context.args(), list(medians), what=f"finalizing ballot {ballot}"
        )
        return int(receipt["gasUsed"])

    def finalize_on_chain(self, sender: LocalAccount, ballot: int, context: RoundContext) -> int:
        """Recompute the medians on chain from every reveal of ``ballot`` (read back from the chain) and record."""
        reveals = sorted(self.ballot(ballot).reveals.values(), key=lambda r: int(r.validator, 16))
        receipt = self._send(
            sender,
            "finalize_on_chain",
            ballot,
            *context.args(),
            [r.validator for r in reveals],
            [r.weight for r in reveals],
            [list(r.scores) for r in reveals],
            [r.salt for r in reveals],
            what=f"recomputing the medians of ballot {ballot} on chain",
        )
        return int(receipt["gasUsed"])

    def wait_until(self, block: int) -> None:
        """Let the chain pass ``block`` (mines on development chains)."""
        self.chain.mine(block + 1 - int(self.chain.w3.eth.block_number) - 1)

    # reads ------------------------------------------------------------------------------------------------

    def state(self, ballot: int) -> dict[str, int | bool]:
        """The open ballot's phases and progress (``ballot`` must be the open one)."""
        keys = (
            "ballot",
            "commit_end",
            "reveal_end",
            "challenge_end",
            "members",
            "reveals",
            "finalized",
            "revealed_weight",
        )
        state = dict(zip(keys, self.committee.functions.ballot_state().call(), strict=True))
        if state["ballot"] != ballot:
            raise LedgerError(f"ballot {ballot} is no longer open (ballot {state['ballot']} is)")
        return state

    def weights(self, at_block: int | None = None) -> dict[str, int]:
        """Validator -> weight, from the ValidatorChanged events up to ``at_block`` (all when None)."""
        weights: dict[str, int] = {}
        for e in self.index.events(self.committee.address, "ValidatorChanged"):
            if at_block is not None and e.block > at_block:
                break
            weights[e.args["account"]] = int(e.args["weight"])
        return {a: w for a, w in weights.items() if w > 0}

    def ballots(self, only: int | None = None) -> list[Ballot]:
        """Every ballot (or ballot ``only``) with its commitments, reveals (decoded from their calldata), proposals
        and outcome."""
        address = self.committee.address
        out: dict[int, Ballot] = {}
        for e in self.index.events(address, "Opened"):
            b = int(e.args["ballot"])
            if only is not None and b != only:
                continue
            out[b] = Ballot(
                b,
                int(e.args["round_id"]),
                bytes(e.args["context"]),
                int(e.args["members"]),
                int(e.args["commit_end"]),
                int(e.args["reveal_end"]),
                e.block,
            )
        for e in self.index.events(address, "Committed"):
            if int(e.args["ballot"]) in out:
                out[int(e.args["ballot"])].commitments[e.args["validator"]] = bytes(e.args["commitment"])
        for e in self.index.events(address, "Revealed"):
            b = int(e.args["ballot"])
            if b not in out:
                continue
            scores, salt = self._revealed(e.tx_hash, b)
            out[b].reveals[e.args["validator"]] = Reveal(
                e.args["validator"], int(e.args["weight"]), scores, salt, e.block, e.tx_hash
            )
        proposals: dict[int, list[tuple[str, bytes]]] = {}
        for e in self.index.events(address, "Proposed"):
            proposals.setdefault(int(e.args["ballot"]), []).append((e.args["proposer"], bytes(e.args["medians_hash"])))
        finalized = {
            int(e.args["ballot"]): {**e.args, "block": e.block} for e in self.index.events(address, "Finalized")
        }
        return [
            Ballot(
                **{
                    **b.__dict__,
                    "proposals": tuple(proposals.get(k, ())),
                    "finalized": finalized.get(k),
                }
            )
            for k, b in sorted(out.items())
        ]

    def ballot(self, ballot: int) -> Ballot:
        for b in self.ballots(only=ballot):
            return b
        raise LedgerError(f"no ballot {ballot} on the score committee")

    def _revealed(self, tx_hash: str, ballot: int) -> tuple[tuple[int, ...], bytes]:
        tx = self.chain.w3.eth.get_transaction(tx_hash)
        try:
            function, args = self.committee.decode_function_input(tx["input"])
        except ValueError as exc:
            raise LedgerError(f"reveal transaction {tx_hash} does not call reveal directly; cannot read it") from exc
        if function.fn_name != "reveal" or int(args["ballot"]) != ballot:
            raise LedgerError(f"transaction {tx_hash} is not the reveal for ballot {ballot}")
        return tuple(int(s) for s in args["scores"]), bytes(args["salt"])

    # the whole protocol, driven from one place (the in-process coordinator; tests) ------------------------------

    def run_ballot(
        self,
        oracle: LocalAccount,
        context: RoundContext,
        scores: Mapping[str, Sequence[int]],
        validators: Mapping[str, LocalAccount],
        medians_for: Any,
        *,
        skip_reveal: frozenset[str] = frozenset(),
        propose_medians: Sequence[int] | None = None,
        remote: Sequence[str] = (),
        wait_seconds: float = 60.0,
    ) -> BallotOutcome:
        """Open, commit every local vector, let the commit phase end, reveal (except ``skip_reveal``), propose the
        medians, let the challenge window pass and finalize.

        ``remote`` validators sign on their own machines: after the local commits (and reveals) the coordinator
        waits up to ``wait_seconds`` for theirs before it lets the phase end; one that does not show up is
        missing. The medians are computed by ``medians_for(reveals, weights)`` from the reveals read back from the
        chain; ``propose_medians`` overrides what is proposed, to test a dishonest proposer (it is then overturned
        at once by recomputing on chain)."""
        gas: dict[str, int] = {}
        ballot, gas["open"] = self.open_round(oracle, context)
        salts = {v: secrets.token_bytes(32) for v in scores}
        gas["commit"] = sum(self.commit(validators[v], ballot, s, salts[v]) for v, s in scores.items())
        self._await(ballot, "commitments", remote, wait_seconds)
        self.wait_until(int(self.state(ballot)["commit_end"]))
        local = {v: s for v, s in scores.items() if v not in skip_reveal}
        gas["reveal"] = sum(self.reveal(validators[v], ballot, s, salts[v]) for v, s in local.items())
        self._await(ballot, "reveals", remote, wait_seconds)
        self.wait_until(int(self.state(ballot)["reveal_end"]))
        reveals: dict[str, list[int]] = {}
        weights: dict[str, int] = {}
        for e in self.index.events(self.committee.address, "Revealed"):
            if int(e.args["ballot"]) != ballot:
                continue
            v = e.args["validator"]
            weights[v] = int(e.args["weight"])  # a local vector is known; only another machine's is read back
            reveals[v] = list(local[v]) if v in local else list(self._revealed(e.tx_hash, ballot)[0])
        medians = list(medians_for(reveals, weights))
        proposed = self._proposal(ballot)  # a validator may have proposed first
        if proposed is None:
            posted = list(propose_medians) if propose_medians is not None else medians
            gas["propose"] = self.propose(oracle, ballot, posted)
            proposed = _medians_hash(posted)
        if proposed != _medians_hash(medians):
            gas["challenge"] = self.finalize_on_chain(oracle, ballot, context)  # within the window: overturned
        else:
            self.wait_until(int(self.state(ballot)["challenge_end"]))
            gas["finalize"] = self.finalize(oracle, ballot, context, medians)
        expected = [*scores, *(v for v in remote if v not in scores)]
        missing = tuple(v for v in expected if v not in reveals)
        return BallotOutcome(ballot, medians, tuple(reveals), missing, gas, reveals)

    def _proposal(self, ballot: int) -> bytes | None:
        for e in self.index.events(self.committee.address, "Proposed"):
            if int(e.args["ballot"]) == ballot:
                return bytes(e.args["medians_hash"])
        return None

    def _await(self, ballot: int, what: str, remote: Sequence[str], wait_seconds: float) -> None:
        """Wait until every ``remote`` validator has made its commitment (or reveal), at most ``wait_seconds``."""
        if not remote:
            return
        event = "Committed" if what == "commitments" else "Revealed"
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline:
            done = {
                e.args["validator"]
                for e in self.index.events(self.committee.address, event)
                if int(e.args["ballot"]) == ballot
            }
            if all(v in done for v in remote):
                return
            time.sleep(0.2)
