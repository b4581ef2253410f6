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

__all__ = ["Deployment", "GovernanceSettings", "contract_at", "deploy_consortium", "deploy_test_stablecoin"]


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

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Deployment:
        try:
            optional = {"governor", "token"}
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


def _deploy(chain: Chain, name: str, *args: object) -> tuple[str, int]:
    artifact = compiled(name)
    factory = chain.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    data = factory.constructor(*args).data_in_transaction
    receipt = chain.transact(chain.operator, {"data": data}, f"deploying {name}")
    return receipt["contractAddress"], receipt["blockNumber"]


@dataclass(frozen=True)
class GovernanceSettings:
    """Founding members and rules of the Governor; durations in blocks."""

    members: tuple[tuple[str, str], ...]  # (name, address)
    weighting: int = 0  # 0 one member one vote, 1 contribution shares at the snapshot
    quorum_bps: int = 5000
    threshold_bps: int = 5000
    voting_period: int = 20
    timelock: int = 2
    price_per_row: int = 0
    valuation_method: str = "auto"


def deploy_consortium(
    chain: Chain,
    *,
    name: str,
    treasury: str,
    treasury_cut_bps: int,
    oracle: LocalAccount,
    governance: GovernanceSettings | None = None,
    token: str = "",
) -> Deployment:
    """Deploy RevenueShares and TrainingLog, make the log the only minter of shares and, with ``governance``,
    deploy the Governor and hand it ownership of both, so that from then on only members' votes change policy."""
    if not 0 <= treasury_cut_bps <= 10_000:
        raise LedgerError(f"treasury cut must be 0..10000 basis points; got {treasury_cut_bps}")
    if token and len(chain.w3.eth.get_code(Web3.to_checksum_address(token))) == 0:
        raise ContractNotFoundError(f"no token contract at {token} on {chain.url}; check [revenue] currency")
    payment = Web3.to_checksum_address(token) if token else "0x" + "00" * 20
    shares, block = _deploy(chain, "RevenueShares", treasury, treasury_cut_bps, chain.operator.address, payment)
    log, _ = _deploy(chain, "TrainingLog", shares, oracle.address)
    revenue = contract_at(chain, "RevenueShares", shares)
    chain.send(chain.operator, revenue, "set_role", "minter", log, what="making the TrainingLog the share minter")
    governor = ""
    if governance is not None:
        g = governance
        governor, _ = _deploy(
            chain,
            "Governor",
            shares,
            log,
            [Web3.to_checksum_address(a) for _, a in g.members],
            [n for n, _ in g.members],
            g.weighting,
            g.quorum_bps,
            g.threshold_bps,
            g.voting_period,
            g.timelock,
            g.price_per_row,
            g.valuation_method,
        )
        training = contract_at(chain, "TrainingLog", log)
        chain.send(chain.operator, revenue, "set_role", "owner", governor, what="handing RevenueShares to governance")
        chain.send(chain.operator, training, "set_role", "owner", governor, what="handing TrainingLog to governance")
    return Deployment(name, chain.chain_id, shares, log, block, chain.operator.address, treasury, governor, token)


def deploy_test_stablecoin(chain: Chain, mint_to: str, amount: int) -> str:
    """A development ERC-20 ("tUSD", 6 decimals) with ``amount`` minted to ``mint_to``; for dev chains only."""
    address, _ = _deploy(chain, "TestStablecoin")
    token = chain.w3.eth.contract(address=address, abi=compiled("TestStablecoin").abi)
    chain.send(chain.operator, token, "mint", Web3.to_checksum_address(mint_to), amount, what="minting test tokens")
    return address
