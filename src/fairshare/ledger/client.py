"""Typed calls on a deployed consortium: record rounds, distribute revenue, withdraw, read balances and history.

Every write is idempotent where a retry after a crash could otherwise repeat it: a round already recorded
with the same model hash is returned as is, and revenue is settled as per-source running totals that the
contract only lets grow, so a repeated settlement is refused, not paid.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from fairshare.errors import LedgerError, TransactionError
from fairshare.ledger.chain import Chain
from fairshare.ledger.contracts import compiled
from fairshare.ledger.deploy import Deployment, check_same_chain, contract_at
from fairshare.ledger.events import EventIndex, IndexedEvent

__all__ = [
    "MAX_SOURCES",
    "Distribution",
    "LedgerClient",
    "Mint",
    "RoundRecord",
    "WithdrawalEvent",
    "growth_due",
    "refuse_customer_keys",
]

MAX_SOURCES = 64
"""Revenue sources one distribution transaction takes (RevenueShares.MAX_SOURCES)."""


def growth_due(totals: Mapping[bytes, int], settled_total: Callable[[bytes], int]) -> int:
    """What a settlement of running ``totals`` pays: each source's growth over what was settled for it before.

    A total that does not grow is refused here, before sending, with the reason the contract would give."""
    amount = 0
    for source, total in totals.items():
        settled = settled_total(source)
        if total <= settled:
            raise TransactionError(
                f"source {source.hex()[:16]}… is already settled up to {settled}; a running total of {total} "
                "would pay revenue twice"
            )
        amount += total - settled
    return amount


def refuse_customer_keys(chain: Chain, deployment: Deployment, sources: Iterable[bytes]) -> None:
    """Refuse an operator payment under a revenue source that is a customer's key in the CreditVault.

    The vault settles such a key out of the customer's deposit, into whichever payout contract governance chose;
    an operator payment under the same source would count revenue for that key that no customer paid, and the
    chain's settled totals for the key would no longer be the vault's (the audit's usage check fails)."""
    if not deployment.vault:
        return
    vault = chain.w3.eth.contract(address=Web3.to_checksum_address(deployment.vault), abi=compiled("CreditVault").abi)
    for source in sources:
        if int(vault.functions.deposited(source).call()) > 0:
            raise LedgerError(
                f"revenue source {source.hex()[:16]}… is a customer's API key in the CreditVault, which settles it "
                "from the customer's deposit (`fairshare settle`); pay other revenue under another source"
            )


@dataclass(frozen=True)
class RoundRecord:
    round_id: int
    model_hash: bytes
    method: str
    params: str
    seed: int
    members: tuple[str, ...]
    scores: tuple[int, ...]
    shares: tuple[int, ...]
    record_hash: bytes
    block: int
    tx_hash: str
    epoch: int = 0
    """The EntitlementRoots epoch that recorded the round (payouts by roots); 0 for a TrainingLog round."""


@dataclass(frozen=True)
class Mint:
    account: str
    amount: int
    round_id: int
    block: int
    log_index: int


@dataclass(frozen=True)
class Distribution:
    settlement_id: bytes
    amount: int
    treasury_cut: int
    to_holders: int
    total_shares: int
    block: int
    log_index: int
    tx_hash: str
    sources: tuple[bytes, ...] = ()
    totals: tuple[int, ...] = ()


@dataclass(frozen=True)
class WithdrawalEvent:
    account: str
    amount: int
    block: int
    log_index: int
    tx_hash: str


class LedgerClient:
    def __init__(self, chain: Chain, deployment: Deployment, index_path: Path | None = None) -> None:
        if deployment.chain_id != chain.chain_id:
            raise LedgerError(
                f"deployment {deployment.name!r} is on chain id {deployment.chain_id}, "
                f"but {chain.url} is chain id {chain.chain_id}; pass the right --chain"
            )
        self.chain = chain
        self.deployment = deployment
        self.revenue = contract_at(chain, "RevenueShares", deployment.revenue_shares)
        self.log = contract_at(chain, "TrainingLog", deployment.training_log)
        self.token = (
            chain.w3.eth.contract(
                address=Web3.to_checksum_address(deployment.token), abi=compiled("TestStablecoin").abi
            )
            if deployment.token
            else None
        )
        self.governor = contract_at(chain, "Governor", deployment.governor)
        self.committee = contract_at(chain, "ScoreCommittee", deployment.committee) if deployment.committee else None
        self.roots = (
            contract_at(chain, "EntitlementRoots", deployment.entitlement_roots)
            if deployment.entitlement_roots
            else None
        )
        check_same_chain(chain, deployment)  # our code is there; is it still this run's deployment?
        contracts = [self.revenue, self.log, self.governor]
        if deployment.vault:
            contracts.append(contract_at(chain, "CreditVault", deployment.vault))
        if self.committee:
            contracts.append(self.committee)
        if self.roots is not None:
            contracts.append(self.roots)
        self.index = EventIndex(chain.w3, contracts, deployment.block, index_path)

    def events(self, contract: Any, name: str) -> list[IndexedEvent]:
        """Every ``name`` event of ``contract`` in chain order (through the index)."""
        return self.index.events(contract.address, name)

    # writes -----------------------------------------------------------------------------------------------

    def record_round(
        self,
        oracle: LocalAccount,
        *,
        round_id: int,
        model_hash: bytes,
        method: str,
        params: str,
        seed: int,
        members: list[str],
        scores: list[int],
    ) -> str:
        """Record a round; the contract mints the shares its scores earn in the same transaction.

        Members go on chain in ascending address order (the contract's rule for a duplicate-free list); a round
        already recorded with the same model hash is returned as is (a retry after a crash).
        """
        existing = bytes(self.log.functions.model_hash_of(round_id).call())
        if existing != bytes(32):
            if existing == model_hash:
                return self.round_tx(round_id)
            raise LedgerError(
                f"round {round_id} is already recorded with model {existing.hex()[:16]}…, not {model_hash.hex()[:16]}…"
            )
        if len(params.encode()) > 2048:
            raise LedgerError(f"valuation parameters are {len(params.encode())} bytes; the round log takes 2048")
        if len(members) != len(scores):
            raise LedgerError(f"round {round_id}: {len(members)} members but {len(scores)} scores")
        last = int(self.log.functions.last_round().call())
        if round_id != last + 1:
            raise LedgerError(
                f"round {round_id} cannot be recorded: the chain's last round is {last}; rounds go in order"
            )
        ordered = sorted(
            zip((Web3.to_checksum_address(m) for m in members), scores, strict=True), key=lambda p: int(p[0], 16)
        )
        receipt = self.chain.send(
            oracle,
            self.log,
            "record_round",
            round_id,
            model_hash,
            method,
            params,
            seed,
            [m for m, _ in ordered],
            [s for _, s in ordered],
            what=f"recording round {round_id}",
        )
        return receipt["transactionHash"].to_0x_hex()

    def shares_for(self, scores: list[int]) -> list[int]:
        """The shares ``scores`` would mint now, by the contract's own rule."""
        return [int(s) for s in self.log.functions.shares_for(scores).call()]

    def settle(self, payer: LocalAccount, settlement_id: bytes, totals: Mapping[bytes, int]) -> tuple[int, str]:
        """Pay the growth of each source's running total into the split; returns (amount, transaction hash).

        ``totals`` maps a revenue source (32 bytes, e.g. ``key_source(key_id)``) to its running total billed. The
        contract pays ``total - settled_total(source)`` for each and refuses a total that does not grow, so a
        retried, replayed or doctored settlement cannot pay the same revenue twice.
        """
        if not totals:
            raise LedgerError("a settlement needs at least one revenue source")
        if len(totals) > MAX_SOURCES:
            raise LedgerError(f"a settlement takes at most {MAX_SOURCES} sources per transaction; got {len(totals)}")
        refuse_customer_keys(self.chain, self.deployment, totals)
        amount = growth_due(totals, self.settled_total)
        args = (settlement_id, list(totals), list(totals.values()))
        if self.token is None:
            receipt = self.chain.send(
                payer, self.revenue, "distribute", *args, value=amount, what="distributing revenue"
            )
        else:
            self.chain.send(payer, self.token, "approve", self.revenue.address, amount, what="approving the revenue")
            receipt = self.chain.send(payer, self.revenue, "distribute", *args, what="distributing revenue")
        return amount, receipt["transactionHash"].to_0x_hex()

    def distribute(self, payer: LocalAccount, source: bytes, amount: int) -> str:
        """Pay ``amount`` of new revenue from ``source`` (its running total grows by ``amount``)."""
        if amount <= 0:
            raise LedgerError(f"a distribution needs a positive amount; got {amount}")
        _, tx = self.settle(payer, source, {source: self.settled_total(source) + amount})
        return tx

    def withdraw(self, account: LocalAccount) -> tuple[int, str]:
        """Withdraw everything ``account`` is owed; ``(0, "")`` when nothing is due."""
        due = self.withdrawable(account.address)
        if due == 0:
            return 0, ""
        receipt = self.chain.send(account, self.revenue, "withdraw", what=f"withdrawal by {account.address}")
        return due, receipt["transactionHash"].to_0x_hex()

    # reads ------------------------------------------------------------------------------------------------

    def _view(self, contract: Any, function: str, *args: Any) -> Any:
        return getattr(contract.functions, function)(*args).call()

    def balance_of(self, address: str) -> int:
        """Balance in the payment asset: the native coin, or the revenue token (read through the ERC-20 ABI)."""
        if self.token is None:
            return int(self.chain.w3.eth.get_balance(Web3.to_checksum_address(address)))
        return int(self.token.functions.balanceOf(Web3.to_checksum_address(address)).call())

    def settled_total(self, source: bytes) -> int:
        """The running total the contract has settled for ``source``."""
        return int(self._view(self.revenue, "settled_total", source))

    def paused_until(self) -> int:
        """The block from which the money moves again (0 or a past block: not paused)."""
        return int(self._view(self.revenue, "paused_until"))

    def shares_of(self, address: str) -> int:
        return int(self._view(self.revenue, "shares_of", Web3.to_checksum_address(address)))

    def total_shares(self) -> int:
        return int(self._view(self.revenue, "total_shares"))

    def withdrawable(self, address: str) -> int:
        return int(self._view(self.revenue, "withdrawable", Web3.to_checksum_address(address)))

    def withdrawn(self, address: str) -> int:
        return int(self._view(self.revenue, "withdrawn", Web3.to_checksum_address(address)))

    def entitled(self, address: str) -> int:
        return int(self._view(self.revenue, "entitled", Web3.to_checksum_address(address)))

    def treasury_cut_bps(self) -> int:
        return int(self._view(self.revenue, "treasury_cut_bps"))

    def totals(self) -> dict[str, int]:
        return {
            "deposited": int(self._view(self.revenue, "total_deposited")),
            "withdrawn": int(self._view(self.revenue, "total_withdrawn")),
            "balance": self.balance_of(self.revenue.address),
            "undistributed": int(self._view(self.revenue, "undistributed")),
            "carried_magnified": int(self._view(self.revenue, "carried")),
            "total_shares": self.total_shares(),
        }

    def model_hash_of(self, round_id: int) -> bytes:
        return bytes(self._view(self.log, "model_hash_of", round_id))

    def round(self, round_id: int) -> RoundRecord:
        """The record of ``round_id`` as the chain's event holds it."""
        for record in self.rounds():
            if record.round_id == round_id:
                return record
        raise LedgerError(f"round {round_id} is not recorded on chain")

    def round_tx(self, round_id: int) -> str:
        return self.round(round_id).tx_hash

    # history (events) -------------------------------------------------------------------------------------

    def _logs(self, contract: Any, event: str) -> list[IndexedEvent]:
        return self.index.events(contract.address, event)

    def rounds(self) -> list[RoundRecord]:
        """Every recorded round: TrainingLog rounds, then rounds published to EntitlementRoots (payouts by roots)."""
        return self.log_rounds() + self.epoch_rounds()

    def epoch_rounds(self) -> list[RoundRecord]:
        """Rounds recorded as EntitlementRoots epochs; an epoch without a "round" in its params only settles revenue."""
        if self.roots is None:
            return []
        from fairshare.ledger.entitlements import EpochPublication, new_shares

        chunks: dict[int, list[tuple[int, tuple[str, ...], tuple[int, ...]]]] = {}
        for e in self._logs(self.roots, "ScoresPublished"):
            chunks.setdefault(e.args["epoch"], []).append(
                (int(e.args["raw_before"]), tuple(e.args["accounts"]), tuple(int(s) for s in e.args["scores"]))
            )
        out = []
        for e in self._logs(self.roots, "EpochClosed"):
            round_id = _round_of(e.args["params"])
            if round_id is None:
                continue
            epoch = e.args["epoch"]
            publication = EpochPublication(
                epoch, tuple(chunks.get(epoch, [])), e.args["share_scale"], e.args["round_cap"], e.args["revenue"]
            )
            earned = new_shares(publication)
            members = tuple(a for _, accounts, _ in publication.chunks for a in accounts)
            out.append(
                RoundRecord(
                    round_id=round_id,
                    model_hash=bytes(e.args["model_hash"]),
                    method=e.args["method"],
                    params=e.args["params"],
                    seed=e.args["seed"],
                    members=members,
                    scores=tuple(s for _, _, scores in publication.chunks for s in scores),
                    shares=tuple(earned[a] for a in members),
                    record_hash=b"",
                    block=e.block,
                    tx_hash=e.tx_hash,
                    epoch=epoch,
                )
            )
        return out

    def log_rounds(self) -> list[RoundRecord]:
        """Rounds recorded in the TrainingLog (payouts by the accumulator)."""
        return [
            RoundRecord(
                round_id=e.args["round_id"],
                model_hash=bytes(e.args["model_hash"]),
                method=e.args["method"],
                params=e.args["params"],
                seed=e.args["seed"],
                members=tuple(e.args["members"]),
                scores=tuple(e.args["scores"]),
                shares=tuple(e.args["shares"]),
                record_hash=bytes(e.args["record_hash"]),
                block=e.block,
                tx_hash=e.tx_hash,
            )
            for e in self._logs(self.log, "RoundRecorded")
        ]

    def mints(self) -> list[Mint]:
        return [
            Mint(e.args["account"], e.args["amount"], e.args["round_id"], e.block, e.log_index)
            for e in self._logs(self.revenue, "Minted")
        ]

    def distributions(self) -> list[Distribution]:
        return [
            Distribution(
                bytes(e.args["settlement_id"]),
                e.args["amount"],
                e.args["treasury_cut"],
                e.args["to_holders"],
                e.args["total_shares"],
                e.block,
                e.log_index,
                e.tx_hash,
                tuple(bytes(x) for x in e.args["sources"]),
                tuple(e.args["totals"]),
            )
            for e in self._logs(self.revenue, "Distributed")
        ]

    def withdrawals(self) -> list[WithdrawalEvent]:
        return [
            WithdrawalEvent(e.args["account"], e.args["amount"], e.block, e.log_index, e.tx_hash)
            for e in self._logs(self.revenue, "Withdrawn")
        ]


def _round_of(params: str) -> int | None:
    try:
        value = json.loads(params).get("round")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, int) else None
