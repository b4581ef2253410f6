"""Connecting to a chain and sending signed transactions: one code path for every chain.

Transactions are always signed locally with eth-account and sent raw; only the provider differs: the
embedded chain (``<home>/chain.sqlite``) or any Ethereum JSON-RPC node by URL. On a URL the operator's key
comes from ``FAIRSHARE_DEPLOYER_KEY`` (without it the chain is read-only); on the embedded chain it is the
home's own operator key, created in its keystore on first use.
Reverts and node errors are turned into ``TransactionError`` with the contract's reason.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_tester.exceptions import TransactionFailed
from eth_utils import ValidationError
from web3 import EthereumTesterProvider, HTTPProvider, Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError, Web3Exception, Web3RPCError
from web3.types import TxReceipt

from fairshare.errors import ChainConnectionError, TransactionError

__all__ = ["DEPLOYER_KEY_ENV", "Chain", "connect"]

DEPLOYER_KEY_ENV = "FAIRSHARE_DEPLOYER_KEY"
EMBEDDED_FILE = "chain.sqlite"


@dataclass
class Chain:
    """A connected chain and the operator account that pays for the consortium's transactions.

    Reading needs no key: a chain reached by URL without ``FAIRSHARE_DEPLOYER_KEY`` serves read-only commands
    (audit, status, the dashboard), and ``operator`` says what to set only when something must be signed.
    """

    w3: Web3
    url: str
    signer: LocalAccount | None
    embedded: Any = field(default=None, repr=False)

    @property
    def operator(self) -> LocalAccount:
        if self.signer is None:
            raise ChainConnectionError(
                f"this command sends transactions on {self.url}: export {DEPLOYER_KEY_ENV} with the private key "
                "of the consortium's funded operator account (reading, e.g. `fairshare audit`, needs no key)"
            )
        return self.signer

    @property
    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)

    def close(self) -> None:
        if self.embedded is not None:
            self.embedded.close()
            self.embedded = None

    def transact(self, sender: LocalAccount, tx: dict[str, Any], what: str) -> TxReceipt:
        """Fill gas and fees, sign with ``sender``, send, wait; a revert raises ``TransactionError``."""
        tx = {**tx, "from": sender.address, "chainId": self.chain_id}
        tx.setdefault("nonce", self.w3.eth.get_transaction_count(sender.address, "pending"))
        try:
            if "gas" not in tx:
                # Estimate against the block the transaction will be in: a node estimating at "latest" sees
                # the previous block number, and contracts whose storage writes depend on block.number
                # (share checkpoints) would be under-estimated. eth-tester has no "pending" block.
                where = "latest" if self.embedded is not None else "pending"
                tx["gas"] = int(self.w3.eth.estimate_gas(tx, where) * 1.2) + 10_000
            base = self.w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0
            tx.setdefault("maxPriorityFeePerGas", 1)
            tx.setdefault("maxFeePerGas", 2 * int(base) + 1)
            tx.pop("from")
            raw = sender.sign_transaction(tx).raw_transaction
            tx_hash = self.w3.eth.send_raw_transaction(raw)
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
        except (ContractLogicError, TransactionFailed) as exc:
            raise TransactionError(f"{what} reverted: {_reason(exc)}") from exc
        except (Web3RPCError, Web3Exception, ValueError, ValidationError) as exc:
            message = str(exc)
            if "insufficient funds" in message.lower() or "cannot afford" in message.lower():
                raise TransactionError(
                    f"{what}: account {sender.address} cannot pay for it (insufficient funds); fund it and retry"
                ) from exc
            raise TransactionError(f"{what} failed: {message}") from exc
        if receipt["status"] != 1:
            raise TransactionError(f"{what} reverted in transaction {receipt['transactionHash'].hex()}")
        return receipt

    def send(
        self, sender: LocalAccount, contract: Contract, function: str, *args: Any, value: int = 0, what: str = ""
    ) -> TxReceipt:
        """Call ``contract.function(*args)`` in a transaction signed by ``sender``."""
        data = contract.encode_abi(function, args=list(args))
        tx = {"to": contract.address, "data": data, "value": value}
        return self.transact(sender, tx, what or f"{function} on {contract.address}")

    def mine(self, blocks: int) -> None:
        """Let ``blocks`` blocks pass: instantly on the embedded chain and anvil; real chains must wait."""
        if blocks <= 0:
            return
        if self.embedded is not None:
            self.embedded.tester.mine_blocks(blocks)
            return
        try:
            self.w3.provider.make_request("anvil_mine", [hex(blocks)])
        except Exception as exc:  # a real node has no such method: time has to pass
            raise ChainConnectionError(
                f"{self.url} cannot mine on request; wait for {blocks} blocks and run the command again"
            ) from exc

    def fund(self, address: str, amount_wei: int) -> None:
        """Top ``address`` up to ``amount_wei`` from the operator (for members' gas)."""
        balance = self.w3.eth.get_balance(address)
        if balance < amount_wei:
            self.transact(self.operator, {"to": address, "value": amount_wei - balance, "gas": 21_000}, "funding")


def _reason(exc: Exception) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return message.removeprefix("execution reverted: ").strip()


OPERATOR_KEY = "operator"
"""Keystore name of a home's own operator account on the embedded chain."""
OPERATOR_FLOAT = 10**23
"""Native coin the embedded chain's operator is topped up to, from the chain's development accounts."""


def _embedded(home: Path) -> Chain:
    """The embedded chain under ``home``, operated by the home's own key.

    The operator (deployer, oracle, first pauser) is a key made for this home and kept encrypted in its
    keystore, never eth-tester's well-known development keys, which anyone could sign with. The development
    accounts only fund it.
    """
    from fairshare.ledger.embedded import open_embedded
    from fairshare.ledger.keystore import Keystore

    path = home / EMBEDDED_FILE
    embedded = open_embedded(path)
    w3 = Web3(EthereumTesterProvider(embedded.tester))
    keystore = Keystore(home / "keystore")
    made = keystore.path(OPERATOR_KEY).exists()
    operator = keystore.load(OPERATOR_KEY) if made else keystore.create(OPERATOR_KEY)
    w3.eth.default_account = operator.address  # else every eth_call first asks the node for its accounts
    chain = Chain(w3=w3, url=f"embedded:{path}", signer=operator, embedded=embedded)
    balance = w3.eth.get_balance(operator.address)
    if balance < OPERATOR_FLOAT // 10:
        faucet = Account.from_key(embedded.backend.account_keys[0].to_bytes())
        chain.transact(faucet, {"to": operator.address, "value": OPERATOR_FLOAT - balance, "gas": 21_000}, "funding")
    return chain


def _remote(url: str) -> Chain:
    if not url.startswith(("http://", "https://")):
        raise ChainConnectionError(f"chain URL {url!r} must start with http:// or https:// (or omit --chain)")
    w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": 30}))
    try:
        w3.eth.chain_id  # noqa: B018 - the cheapest call that proves a node answers
    except (requests.RequestException, Web3Exception, OSError, ValueError) as exc:
        raise ChainConnectionError(
            f"no Ethereum node answers at {url}: {exc.__class__.__name__}; check the URL or start a node "
            "(`fairshare chain node` starts a local one)"
        ) from exc
    key = os.environ.get(DEPLOYER_KEY_ENV)
    if not key:
        return Chain(w3=w3, url=url, signer=None)  # read-only until a transaction is needed
    try:
        operator = Account.from_key(key)
    except (ValueError, TypeError) as exc:
        raise ChainConnectionError(f"{DEPLOYER_KEY_ENV} is not a valid private key (0x + 64 hex digits)") from exc
    return Chain(w3=w3, url=url, signer=operator)


def connect(url: str | None, home: Path) -> Chain:
    """The embedded chain under ``home`` when ``url`` is None/empty/"embedded", else the node at ``url``."""
    if url in (None, "", "embedded"):
        return _embedded(home)
    return _remote(url)
