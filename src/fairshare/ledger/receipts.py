"""Signed receipts for paid calls: what the CreditVault accepts as evidence of a running total billed.

A receipt says: API key (its vault key, keccak of the key id), request, rows, amount, the running total
billed to the key after this call, and the model that answered. Its leaf is the EIP-712 struct hash
``keccak(RECEIPT_TYPEHASH ‖ fields)``. The API signs receipts in batches, one signature per group commit:
the leaves form a Merkle tree (pairs hashed in sorted order; an odd node goes up unchanged) and the
operator signs the EIP-712 ``ReceiptBatch(bytes32 root)`` under the vault's domain (name "fairshare
CreditVault", version "1", chain id, vault address). A receipt therefore carries its batch proof and the
batch signature; anyone recovers the signer from them alone. Windows (what ``fairshare settle`` posts on
chain) are Merkle trees of batch roots built the same way. ``CreditVault.vy`` checks exactly this.

One ECDSA signature per batch instead of per call is what keeps metering's cost flat under load
(benchmarks/serving.py measures both).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address

from fairshare.errors import LedgerError

__all__ = [
    "BatchSignature",
    "Receipt",
    "ReceiptSigner",
    "SignedReceipt",
    "batch_digest",
    "domain_separator",
    "fold",
    "merkle_levels",
    "merkle_proof",
    "merkle_root",
]

RECEIPT_TYPE = "Receipt(bytes32 key,bytes32 request,uint256 rows,uint256 amount,uint256 total,bytes32 model)"
RECEIPT_TYPEHASH = keccak(text=RECEIPT_TYPE)
BATCH_TYPEHASH = keccak(text="ReceiptBatch(bytes32 root)")
DOMAIN_TYPEHASH = keccak(text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
DOMAIN_NAME = "fairshare CreditVault"
DOMAIN_VERSION = "1"


def _word(n: int) -> bytes:
    return n.to_bytes(32, "big")


@dataclass(frozen=True)
class Receipt:
    key: bytes
    request: bytes
    rows: int
    amount: int
    total: int
    model: bytes

    def leaf(self) -> bytes:
        """The EIP-712 struct hash (the contract's ``receipt_leaf``)."""
        return keccak(
            RECEIPT_TYPEHASH
            + self.key
            + self.request
            + _word(self.rows)
            + _word(self.amount)
            + _word(self.total)
            + self.model
        )

    def as_tuple(self) -> tuple[bytes, bytes, int, int, int, bytes]:
        """The contract's ``Receipt`` struct argument."""
        return (self.key, self.request, self.rows, self.amount, self.total, self.model)


def _pair(a: bytes, b: bytes) -> bytes:
    return keccak(a + b) if a < b else keccak(b + a)


def merkle_levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the tree, leaves first, root last."""
    if not leaves:
        raise LedgerError("a Merkle tree needs at least one leaf")
    levels = [list(leaves)]
    while len(levels[-1]) > 1:
        level = levels[-1]
        up = [_pair(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            up.append(level[-1])
        levels.append(up)
    return levels


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    return merkle_levels(leaves)[-1][0]


def merkle_proof(levels: list[list[bytes]], index: int) -> list[bytes]:
    """The siblings from leaf ``index`` up to the root (a promoted odd node has none at its level)."""
    proof = []
    for level in levels[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            proof.append(level[sibling])
        index //= 2
    return proof


def fold(leaf: bytes, proof: Sequence[bytes]) -> bytes:
    node = leaf
    for sibling in proof:
        node = _pair(node, sibling)
    return node


def domain_separator(chain_id: int, vault: str) -> bytes:
    return keccak(
        DOMAIN_TYPEHASH
        + keccak(text=DOMAIN_NAME)
        + keccak(text=DOMAIN_VERSION)
        + _word(chain_id)
        + bytes(12)
        + bytes.fromhex(vault[2:])
    )


def batch_digest(domain: bytes, root: bytes) -> bytes:
    """The EIP-712 digest the operator signs for a batch root."""
    return keccak(b"\x19\x01" + domain + keccak(BATCH_TYPEHASH + root))


@dataclass(frozen=True)
class BatchSignature:
    root: bytes
    signature: bytes
    proofs: list[list[bytes]]


@dataclass(frozen=True)
class SignedReceipt:
    """A receipt with what proves the operator signed it: the batch proof and the batch signature."""

    receipt: Receipt
    batch_proof: tuple[bytes, ...]
    signature: bytes
    chain_id: int
    vault: str

    @property
    def batch_root(self) -> bytes:
        return fold(self.receipt.leaf(), self.batch_proof)

    def signer(self) -> str:
        """The account that signed this receipt's batch (raises ``LedgerError`` for a malformed signature)."""
        digest = batch_digest(domain_separator(self.chain_id, self.vault), self.batch_root)
        try:
            return Account._recover_hash(digest, signature=self.signature)
        except Exception as exc:  # eth-keys raises several types for a bad signature
            raise LedgerError(f"receipt {self.receipt.request.hex()[:16]}…: malformed signature ({exc})") from exc

    def to_json(self) -> dict[str, Any]:
        r = self.receipt
        return {
            "key": "0x" + r.key.hex(),
            "request": "0x" + r.request.hex(),
            "rows": r.rows,
            "amount": str(r.amount),
            "total": str(r.total),
            "model": "0x" + r.model.hex(),
            "batch_proof": ["0x" + p.hex() for p in self.batch_proof],
            "signature": "0x" + self.signature.hex(),
            "chain_id": self.chain_id,
            "vault": self.vault,
        }

    @classmethod
    def from_json(cls, data: Any) -> SignedReceipt:
        """Parse a receipt as ``to_json`` wrote it; ``LedgerError`` names what is wrong."""
        try:

            def b32(name: str, value: Any = None) -> bytes:
                raw = bytes.fromhex(str(data[name] if value is None else value).removeprefix("0x"))
                if len(raw) != 32:
                    raise ValueError(f"{name} must be 32 bytes")
                return raw

            receipt = Receipt(
                b32("key"), b32("request"), int(data["rows"]), int(data["amount"]), int(data["total"]), b32("model")
            )
            signature = bytes.fromhex(str(data["signature"]).removeprefix("0x"))
            return cls(
                receipt,
                tuple(b32("batch_proof", p) for p in data["batch_proof"]),
                signature,
                int(data["chain_id"]),
                to_checksum_address(data["vault"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise LedgerError(f"not a fairshare receipt ({exc.__class__.__name__}: {exc})") from exc


class ReceiptSigner:
    """Signs batches of receipts with the serving operator's key under one vault's EIP-712 domain."""

    def __init__(self, account: LocalAccount, chain_id: int, vault: str) -> None:
        self.account = account
        self.chain_id = chain_id
        self.vault = to_checksum_address(vault)
        self._domain = domain_separator(chain_id, self.vault)
        self._key = account._key_obj

    def sign(self, receipts: Sequence[Receipt]) -> BatchSignature:
        levels = merkle_levels([r.leaf() for r in receipts])
        root = levels[-1][0]
        signed = self._key.sign_msg_hash(batch_digest(self._domain, root))
        signature = signed.r.to_bytes(32, "big") + signed.s.to_bytes(32, "big") + bytes([signed.v + 27])
        return BatchSignature(root, signature, [merkle_proof(levels, i) for i in range(len(receipts))])

    def signed(self, receipt: Receipt, proof: Sequence[bytes], signature: bytes) -> SignedReceipt:
        return SignedReceipt(receipt, tuple(proof), signature, self.chain_id, self.vault)
