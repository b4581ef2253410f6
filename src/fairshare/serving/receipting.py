"""Receipts for a committed batch of paid calls: one Merkle tree and one operator signature per group commit.

The billing queue commits many calls in one transaction; this turns their usage rows into receipts (key,
request, rows, amount, running total billed, model), signs the batch's root once and hands every call its
receipt with its proof (see ``fairshare.ledger.receipts``). Signing per batch rather than per call keeps the
ECDSA cost off the per-call path; ``benchmarks/serving.py`` measures what is left.
"""

from __future__ import annotations

from eth_utils import keccak

from fairshare.ledger.receipts import BatchSignature, Receipt, ReceiptSigner, SignedReceipt
from fairshare.ledger.vault import key_hash
from fairshare.serving.charges import UsageRow

__all__ = ["Receipting", "model_bytes"]


def model_bytes(model_hash: str) -> bytes:
    """A receipt's model field: the 32-byte model hash, or the keccak of a label that is not one (tests)."""
    try:
        model = bytes.fromhex(model_hash.removeprefix("0x"))
    except ValueError:
        model = b""
    return model if len(model) == 32 else keccak(text=model_hash)


class Receipting:
    def __init__(self, signer: ReceiptSigner) -> None:
        self.signer = signer
        self._keys: dict[str, bytes] = {}
        self._models: dict[str, bytes] = {}

    def _key(self, key_id: str) -> bytes:
        key = self._keys.get(key_id)
        if key is None:
            key = self._keys[key_id] = key_hash(key_id)
        return key

    def _model(self, model_hash: str) -> bytes:
        model = self._models.get(model_hash)
        if model is None:
            model = self._models[model_hash] = model_bytes(model_hash)
        return model

    def receipt(self, row: UsageRow) -> Receipt:
        return self.receipt_from(row.key_id, row.request, row.rows, row.amount, row.total, row.model_hash)

    def receipt_from(self, key_id: str, request: bytes, rows: int, amount: int, total: int, model_hash: str) -> Receipt:
        return Receipt(self._key(key_id), request, rows, amount, total, self._model(model_hash))

    def sign(self, rows: list[UsageRow]) -> tuple[BatchSignature, list[SignedReceipt]]:
        """The batch signature and each row's signed receipt, in the order of ``rows``."""
        receipts = [self.receipt(r) for r in rows]
        batch = self.signer.sign(receipts)
        return batch, [self.signer.signed(r, p, batch.signature) for r, p in zip(receipts, batch.proofs, strict=True)]
