"""Deploying a consortium's contracts, and finding them again.

A ``Deployment`` is what a later command (or an outside auditor) needs: chain id, contract addresses and the
block they were deployed in (events are read from there). ``attach`` refuses an address whose code is not
exactly our compiled contract, so a typo'd or hostile address is caught before anything is read or paid.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract

from fairshare.errors import ContractNotFoundError, LedgerError
from fairshare.ledger.chain import Chain
from fairshare.ledger.contracts import compiled

__all__ = [
    "CommitteeSettings",
    "Deployment",
    "GovernanceSettings",
    "ShareRule",
    "ValidatorSeat",
    "check_same_chain",
    "contract_at",
    "deploy_consortium",
    "deploy_test_stablecoin",
]


@dataclass(frozen=True)
class Deployment:
    name: str
    chain_id: int
    revenue_shares: str
    training_log: str
    block: int
    operator: str
    treasury: str
    governor: str = ""
    token: str = ""
    """ERC-20 the revenue is paid in; empty for the chain's native coin."""
    block_hash: str = ""
    """Hash of the deployment block: a chain reset or redeployed at the same addresses no longer has it."""
    vault: str = ""
    """The CreditVault customers buy credit in; empty for a run deployed before it existed."""
    committee: str = ""
    """The ScoreCommittee whose validators' medians are the scores; empty for a single scorer (the oracle)."""
    entitlement_roots: str = ""
    """EntitlementRoots (payouts by Merkle roots, for consortia too large for one transaction per round)."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Deployment:
        try:
            optional = {"governor", "token", "block_hash", "vault", "committee", "entitlement_roots"}
            return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data or k not in optional})
        except (KeyError, TypeError) as exc:
            raise LedgerError(f"deployment record is incomplete ({exc}); was `fairshare init` interrupted?") from exc


def contract_at(chain: Chain, name: str, address: str) -> Contract:
    """The contract ``name`` at ``address``, after checking the code there is exactly ours."""
    artifact = compiled(name)
    if not Web3.is_address(address):
        raise ContractNotFoundError(f"{address!r} is not an Ethereum address")
    code = chain.w3.eth.get_code(Web3.to_checksum_address(address))
    if len(code) == 0:
        raise ContractNotFoundError(
            f"no contract at {address} on chain {chain.url} (chain id {chain.chain_id}): no fairshare contracts "
            "here; check --chain, or run `fairshare init` to deploy them"
        )
    if HexBytes(code) != HexBytes(artifact.runtime):
        raise ContractNotFoundError(f"the contract at {address} is not fairshare's {name}; refusing to use it")
    return chain.w3.eth.contract(address=Web3.to_checksum_address(address), abi=artifact.abi)


def check_same_chain(chain: Chain, deployment: Deployment) -> None:
    """Refuse a chain that no longer holds the deployment block (reset, or a new chain at the same addresses).

    A dev chain restarted from scratch gives the same contract addresses to the same deployer, so the code
    check alone would read an empty consortium as if it were ours and show zeros.
    """
    if not deployment.block_hash:
        return
    block = chain.w3.eth.get_block(deployment.block) if deployment.block <= chain.w3.eth.block_number else None
    if block is None or bytes(block["hash"]).hex() != deployment.block_hash:
        raise ContractNotFoundError(
            f"chain {chain.url} no longer holds the block consortium {deployment.name!r} was deployed in "
            f"(block {deployment.block}): the chain was reset or the contracts were redeployed at the same addresses; "
            "nothing here is this run's history. Start a new run with `fairshare init`, or point --chain at the "
            "original chain"
        )


FOUNDERS_PER_TX = 100
"""Founding members admitted per transaction (~11M gas): a consortium of any size is founded without proposals."""


def _deploy(chain: Chain, name: str, *args: object) -> tuple[str, int]:
    artifact = compiled(name)
    factory = chain.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    data = factory.constructor(*args).data_in_transaction
    receipt = chain.transact(chain.operator, {"data": data}, f"deploying {name}")
    return receipt["contractAddress"], receipt["blockNumber"]


@dataclass(frozen=True)
class GovernanceSettings:
    """Founding members and rules of the Governor; durations in blocks.

    The ranges are the Governor's own (it refuses others, so governance can always still act): quorum 1-10000
    bps, threshold and supermajority 5000-9999 bps, role changes wait longer than other proposals.
    """

    members: tuple[tuple[str, str], ...]  # (name, address)
    weighting: int = 0  # 0 one member one vote, 1 contribution shares at the snapshot
    quorum_bps: int = 5000
    threshold_bps: int = 5000
    super_bps: int = 6667
    voting_period: int = 20
    timelock: int = 2
    role_timelock: int = 10
    execution_window: int = 1000
    price_per_row: int = 0
    valuation_method: str = "auto"
    valuation_params: str = ""

    def rules(self) -> tuple[int, ...]:
        """The Governor's ``Rules`` struct, in field order."""
        return (
            self.weighting,
            self.quorum_bps,
            self.threshold_bps,
            self.super_bps,
            self.voting_period,
            self.timelock,
            self.role_timelock,
            self.execution_window,
        )


@dataclass(frozen=True)
class ShareRule:
    """How the TrainingLog turns a round's scores into shares (see TrainingLog.vy); governed afterwards."""

    share_scale: int = 10**9
    round_cap: int = 10**10


@dataclass(frozen=True)
class ValidatorSeat:
    """A founding validator: its account, its weight in every median and the hash of its validation data."""

    account: str
    weight: int
    data_hash: bytes


@dataclass(frozen=True)
class CommitteeSettings:
    """The ScoreCommittee's founding validators and phase lengths in blocks (see ScoreCommittee.vy)."""

    validators: tuple[ValidatorSeat, ...]
    commit_blocks: int = 10
    reveal_blocks: int = 10
    challenge_blocks: int = 5


def deploy_consortium(
    chain: Chain,
    *,
    name: str,
    treasury: str,
    treasury_cut_bps: int,
    oracle: LocalAccount,
    governance: GovernanceSettings,
    token: str = "",
    share_rule: ShareRule = ShareRule(),
    pause_blocks: int = 7200,
    committee: CommitteeSettings | None = None,
    challenge_blocks: int = 20,
) -> Deployment:
    """Deploy RevenueShares, TrainingLog, the Governor and the CreditVault; make the log the only minter of
    shares and the vault the payer of customers' credit, and hand the Governor ownership of both, so that from
    then on only members' votes change policy. EntitlementRoots is deployed beside them, idle until governance
    switches the payout mode to roots (``challenge_blocks`` is how long a proposed root can be challenged); the
    vault is wired to it at construction, once, and settles there while the mode is roots.

    The oracle (records rounds) and the treasury are never members: whoever scores rounds cannot be paid by them.
    With ``committee``, a ScoreCommittee with its founding validators becomes the only recorder of rounds (their
    weighted medians are the scores), owned by the Governor too; without, the oracle is the single scorer.
    """
    if not 0 <= treasury_cut_bps <= 10_000:
        raise LedgerError(f"treasury cut must be 0..10000 basis points; got {treasury_cut_bps}")
    members = {Web3.to_checksum_address(a) for _, a in governance.members}
    for role, address in (("oracle", oracle.address), ("treasury", treasury)):
        if Web3.to_checksum_address(address) in members:
            raise LedgerError(f"the {role} {address} is also a member; the {role} must not be paid by the rounds")
    if token and len(chain.w3.eth.get_code(Web3.to_checksum_address(token))) == 0:
        raise ContractNotFoundError(f"no token contract at {token} on {chain.url}; check [revenue] currency")
    payment = Web3.to_checksum_address(token) if token else "0x" + "00" * 20
    shares, block = _deploy(
        chain, "RevenueShares", treasury, treasury_cut_bps, chain.operator.address, payment, pause_blocks
    )
    log, _ = _deploy(chain, "TrainingLog", shares, oracle.address, share_rule.share_scale, share_rule.round_cap)
    revenue = contract_at(chain, "RevenueShares", shares)
    chain.send(chain.operator, revenue, "set_role", "minter", log, what="making the TrainingLog the share minter")
    g = governance
    founders = [(n, Web3.to_checksum_address(a)) for n, a in g.members]
    governor, _ = _deploy(
        chain,
        "Governor",
        shares,
        log,
        [a for _, a in founders[:FOUNDERS_PER_TX]],
        [n for n, _ in founders[:FOUNDERS_PER_TX]],
        g.rules(),
        g.price_per_row,
        g.valuation_method,
        g.valuation_params,
    )
    governing = contract_at(chain, "Governor", governor)
    for k in range(FOUNDERS_PER_TX, len(founders), FOUNDERS_PER_TX):
        batch = founders[k : k + FOUNDERS_PER_TX]
        chain.send(
            chain.operator,
            governing,
            "add_founders",
            [a for _, a in batch],
            [n for n, _ in batch],
            what=f"admitting founding members {k + 1}-{k + len(batch)}",
        )
    chain.send(chain.operator, governing, "seal_founding", what="sealing the founding membership")
    roots, _ = _deploy(chain, "EntitlementRoots", governor, shares, log, payment, challenge_blocks)
    training = contract_at(chain, "TrainingLog", log)
    vault, _ = _deploy(chain, "CreditVault", shares, governor, roots)
    chain.send(chain.operator, revenue, "set_role", "vault", vault, what="naming the CreditVault")
    committee_address = ""
    if committee is not None:
        committee_address = _deploy_committee(chain, training, committee, governor)
    chain.send(chain.operator, revenue, "set_role", "owner", governor, what="handing RevenueShares to governance")
    chain.send(chain.operator, training, "set_role", "owner", governor, what="handing TrainingLog to governance")
    block_hash = bytes(chain.w3.eth.get_block(block)["hash"]).hex()
    return Deployment(
        name,
        chain.chain_id,
        shares,
        log,
        block,
        chain.operator.address,
        treasury,
        governor,
        token,
        block_hash,
        vault,
        committee_address,
        roots,
    )


def _deploy_committee(chain: Chain, training: Contract, settings: CommitteeSettings, governor: str) -> str:
    """The ScoreCommittee with its founding validators, made the log's only recorder and handed to governance."""
    if not settings.validators:
        raise LedgerError("a score committee needs at least one validator")
    address, _ = _deploy(
        chain,
        "ScoreCommittee",
        training.address,
        settings.commit_blocks,
        settings.reveal_blocks,
        settings.challenge_blocks,
    )
    committee = contract_at(chain, "ScoreCommittee", address)
    for seat in settings.validators:
        chain.send(
            chain.operator,
            committee,
            "set_validator",
            Web3.to_checksum_address(seat.account),
            seat.weight,
            seat.data_hash,
            what=f"admitting validator {seat.account}",
        )
    chain.send(chain.operator, committee, "set_owner", governor, what="handing the ScoreCommittee to governance")
    chain.send(chain.operator, training, "set_role", "committee", address, what="making the committee the recorder")
    return address


def deploy_test_stablecoin(chain: Chain, mint_to: str, amount: int) -> str:
    """A development ERC-20 ("tUSD", 6 decimals) with ``amount`` minted to ``mint_to``; for dev chains only."""
    address, _ = _deploy(chain, "TestStablecoin")
    token = chain.w3.eth.contract(address=address, abi=compiled("TestStablecoin").abi)
    chain.send(chain.operator, token, "mint", Web3.to_checksum_address(mint_to), amount, what="minting test tokens")
    return address
