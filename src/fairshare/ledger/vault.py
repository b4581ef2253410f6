"""Typed calls on the CreditVault: customers deposit and take refunds, the operator posts windows and settles,
anyone settles a key from a published receipt; plus the vault's history for the API and the audit.

Every write checks what the contract would refuse first and says so in words (``TransactionError``), so a
customer or member reads "running total not above what was settled" rather than a bare revert.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3

from fairshare.errors import LedgerError, TransactionError
from fairshare.ledger.chain import Chain
from fairshare.ledger.contracts import compiled
from fairshare.ledger.deploy import Deployment, contract_at
from fairshare.ledger.events import EventIndex, IndexedEvent
from fairshare.ledger.receipts import SignedReceipt

__all__ = ["MAX_KEYS", "OperatorVault", "VaultClient", "VaultKey", "key_hash"]

MAX_KEYS = 64
"""Keys one operator settlement takes (CreditVault.MAX_KEYS)."""


def key_hash(key_id: str) -> bytes:
    """The vault key (and revenue source) of an API key id."""
    return keccak(text=f"fairshare:api-key:{key_id}")


@dataclass(frozen=True)
class VaultKey:
    holder: str
    deposited: int
    settled: int
    refunded: int
    refund_at: int

    @property
    def held(self) -> int:
        return self.deposited - self.settled - self.refunded


class VaultClient:
    def __init__(self, chain: Chain, deployment: Deployment, index: EventIndex | None = None) -> None:
        if not deployment.vault:
            raise LedgerError(
                f"consortium {deployment.name!r} was deployed without a CreditVault; "
                "start a new run with `fairshare init`"
            )
        self.chain = chain
        self.vault = contract_at(chain, "CreditVault", deployment.vault)
        self.token = (
            chain.w3.eth.contract(
                address=Web3.to_checksum_address(deployment.token), abi=compiled("TestStablecoin").abi
            )
            if deployment.token
            else None
        )
        if index is None or self.vault.address not in index.contracts:
            index = EventIndex(chain.w3, [self.vault], deployment.block, None)
        self.index = index

    @property
    def address(self) -> str:
        return self.vault.address

    def _view(self, function: str, *args: object) -> object:
        return getattr(self.vault.functions, function)(*args).call()

    # customers --------------------------------------------------------------------------------------------

    def deposit(self, payer: LocalAccount, key: bytes, amount: int) -> str:
        if amount <= 0:
            raise LedgerError(f"a deposit must be positive; got {amount}")
        if self.token is None:
            receipt = self.chain.send(payer, self.vault, "deposit", key, amount, value=amount, what="buying credit")
        else:
            self.chain.send(payer, self.token, "approve", self.vault.address, amount, what="approving the deposit")
            receipt = self.chain.send(payer, self.vault, "deposit", key, amount, what="buying credit")
        return receipt["transactionHash"].to_0x_hex()

    def request_refund(self, holder: LocalAccount, key: bytes) -> int:
        """Start the notice; returns the block from which ``refund`` pays."""
        self._holder_only(holder, key)
        self.chain.send(holder, self.vault, "request_refund", key, what="asking for a refund")
        return self.key(key).refund_at

    def refund(self, holder: LocalAccount, key: bytes) -> tuple[int, str]:
        state = self._holder_only(holder, key)
        if state.refund_at == 0:
            raise TransactionError("no refund was requested for this key; ask first (the notice starts then)")
        now = self.chain.w3.eth.block_number
        if now + 1 < state.refund_at:
            raise TransactionError(
                f"the refund notice runs until block {state.refund_at} (now {now}); the operator may still settle "
                "calls billed before it. Try again then"
            )
        receipt = self.chain.send(holder, self.vault, "refund", key, what="taking the refund")
        return state.held, receipt["transactionHash"].to_0x_hex()

    def _holder_only(self, account: LocalAccount, key: bytes) -> VaultKey:
        state = self.key(key)
        if state.holder.lower() != account.address.lower():
            raise TransactionError(
                f"only the key's holder ({state.holder}) can ask for its refund, not {account.address}"
            )
        return state

    # operator and members ---------------------------------------------------------------------------------

    def post_window(self, operator: LocalAccount, root: bytes, batches: int) -> int:
        self.chain.send(operator, self.vault, "post_window", root, batches, what="posting a receipt window")
        return int(self._view("window_count"))  # type: ignore[call-overload]

    def settle(
        self, operator: LocalAccount, window_id: int, totals: Mapping[bytes, tuple[int, bytes]]
    ) -> tuple[int, str]:
        """Settle each key up to ``totals[key] = (running total, request of its receipt)``; (amount, tx)."""
        if not totals or len(totals) > MAX_KEYS:
            raise LedgerError(f"a vault settlement takes 1 to {MAX_KEYS} keys; got {len(totals)}")
        amount = 0
        for key, (total, _) in totals.items():
            state = self.key(key)
            if total <= state.settled:
                raise TransactionError(
                    f"key {key.hex()[:16]}… is already settled up to {state.settled}, not below {total}"
                )
            if total > state.deposited - state.refunded:
                raise TransactionError(
                    f"key {key.hex()[:16]}… was billed {total} but deposited only {state.deposited - state.refunded}"
                )
            amount += total - state.settled
        keys = list(totals)
        receipt = self.chain.send(
            operator,
            self.vault,
            "settle",
            window_id,
            keys,
            [totals[k][0] for k in keys],
            [totals[k][1] for k in keys],
            what=f"settling window {window_id}",
        )
        return amount, receipt["transactionHash"].to_0x_hex()

    def settle_receipt(
        self, sender: LocalAccount, window_id: int, signed: SignedReceipt, window_proof: Sequence[bytes]
    ) -> tuple[int, str]:
        """Settle a key from one published receipt (anyone may); (amount, tx)."""
        state = self.key(signed.receipt.key)
        if signed.receipt.total <= state.settled:
            raise TransactionError(
                f"this receipt's running total {signed.receipt.total} is already settled (up to {state.settled})"
            )
        receipt = self.chain.send(
            sender,
            self.vault,
            "settle_receipt",
            window_id,
            signed.receipt.as_tuple(),
            list(signed.batch_proof),
            signed.signature,
            list(window_proof),
            what=f"settling from receipt {signed.receipt.request.hex()[:16]}…",
        )
        return signed.receipt.total - state.settled, receipt["transactionHash"].to_0x_hex()

    # reads ------------------------------------------------------------------------------------------------

    def key(self, key: bytes) -> VaultKey:
        return VaultKey(
            str(self._view("holder", key)),
            int(self._view("deposited", key)),  # type: ignore[call-overload]
            int(self._view("settled", key)),  # type: ignore[call-overload]
            int(self._view("refunded", key)),  # type: ignore[call-overload]
            int(self._view("refund_at", key)),  # type: ignore[call-overload]
        )

    def window(self, window_id: int) -> tuple[bytes, str, int]:
        root, signer, batches = self._view("windows", window_id)  # type: ignore[misc]
        return bytes(root), str(signer), int(batches)

    def window_count(self) -> int:
        return int(self._view("window_count"))  # type: ignore[call-overload]

    def operator(self) -> str:
        """The operator (and receipt signer) now: RevenueShares' operator role."""
        shares = contract_at(self.chain, "RevenueShares", str(self._view("revenue_shares")))
        return str(shares.functions.operator().call())

    def refund_notice(self) -> int:
        return int(self._view("refund_notice"))  # type: ignore[call-overload]

    def totals(self) -> dict[str, int]:
        return {
            "deposited": int(self._view("total_deposited")),  # type: ignore[call-overload]
            "settled": int(self._view("total_settled")),  # type: ignore[call-overload]
            "refunded": int(self._view("total_refunded")),  # type: ignore[call-overload]
            "balance": self.balance(),
        }

    def balance(self) -> int:
        if self.token is None:
            return int(self.chain.w3.eth.get_balance(self.vault.address))
        return int(self.token.functions.balanceOf(self.vault.address).call())

    def events(self, name: str) -> list[IndexedEvent]:
        return self.index.events(self.vault.address, name)


class OperatorVault:
    """The vault as the operator's settlement sink (``fairshare.serving.settle.VaultSink``)."""

    def __init__(self, vault: VaultClient, operator: LocalAccount) -> None:
        self.vault = vault
        self.operator = operator

    def find_window(self, root: bytes) -> int | None:
        """The window already posted with ``root`` (a settlement resumed after a crash), if any."""
        for event in self.vault.events("WindowPosted"):
            if bytes(event.args["root"]) == root:
                return int(event.args["window_id"])
        return None

    def post_window(self, root: bytes, batches: int) -> int:
        return self.vault.post_window(self.operator, root, batches)

    def settled(self, key: bytes) -> tuple[int, int]:
        state = self.vault.key(key)
        return state.settled, state.deposited - state.refunded

    def settle(self, window_id: int, totals: Mapping[bytes, tuple[int, bytes]]) -> tuple[int, str]:
        return self.vault.settle(self.operator, window_id, totals)
