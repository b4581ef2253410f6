"""The billing rules for a batch of paid calls, in one place for every store backend.

Given the calls in arrival order and three lookups (key -> key id, key id -> credit, earlier use of an
idempotency key), ``decide`` says what each call gets and what must be written. The rules:

- a call costs ``rows * price``; it is billed only if the key's credit covers it, checked in arrival order,
  so credit never goes negative;
- an ``Idempotency-Key`` belongs to one API key and one request. A call that repeats an earlier call's
  idempotency key is *replayed* (billed 0, answered again) only if its request hash — SHA-256 over the key
  id and the canonical rows — and its model are the earlier call's; otherwise it is refused with
  ``IdempotencyConflict`` and not answered. Without the hash check, one paid call would buy any number of
  free answers (issue 17: credit for 3 rows bought 1,000 predictions);
- another customer's identical idempotency key is another key id: it never collides;
- every billed call raises its key's running total billed by its amount; the total after the call goes into
  the call's receipt (and is what the CreditVault settles), so totals per key strictly grow in billing order.

The caller commits every returned ``UsageRow`` and balance in one transaction; if that fails, no call of the
batch is billed and none may be answered.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from eth_utils import keccak

from fairshare.errors import ServingError

if TYPE_CHECKING:
    from fairshare.ledger.receipts import SignedReceipt

__all__ = [
    "Balance",
    "Call",
    "Debit",
    "IdempotencyConflict",
    "OutOfCredit",
    "Prior",
    "UnknownKey",
    "UsageRow",
    "decide",
]


class UnknownKey(ServingError):
    """The API key does not exist (or is malformed)."""


class OutOfCredit(ServingError):
    """The key's prepaid credit does not cover the call."""


class IdempotencyConflict(ServingError):
    """An idempotency key was reused for a different request (or a request to another model)."""


@dataclass(frozen=True)
class Call:
    """One paid call to bill. ``body_digest`` (SHA-256 of the canonical rows) is needed with ``request_id``."""

    api_key: str
    rows: int
    price: int
    model_hash: str
    request_id: str | None = None
    body_digest: bytes = b""


@dataclass(frozen=True)
class Debit:
    """What billing did for one call: ``charged`` is what *this* call debited (0 for a replay)."""

    credit_left: int
    charged: int
    replayed: bool = False
    receipt: SignedReceipt | None = None
    """The operator's signed receipt for a billed call (None when replayed or when receipts are off)."""


@dataclass
class Balance:
    """A key's spendable credit and its running total billed."""

    credit: int
    billed: int


@dataclass(frozen=True)
class Prior:
    """The usage row an idempotency key was first billed under."""

    request_hash: str | None
    model_hash: str


@dataclass(frozen=True)
class UsageRow:
    key_id: str
    rows: int
    amount: int
    model_hash: str
    request_id: str | None
    request_hash: str | None
    total: int = 0
    """The key's running total billed after this call."""
    request: bytes = b""
    """The receipt's request id: keccak of key id and Idempotency-Key, or 32 random bytes without one."""
    call: int = 0
    """The index of the call in the batch (to hand it its receipt)."""


def request_hash(key_id: str, body_digest: bytes) -> str:
    """The hash stored with an idempotency key: the key id and the canonical request body, nothing else."""
    return hashlib.sha256(key_id.encode() + b"\n" + body_digest).hexdigest()


def decide(
    batch: list[Call],
    key_of: Callable[[str], str],
    balance_of: Callable[[str], Balance],
    prior_of: Callable[[str, str], Prior | None],
) -> tuple[list[Debit | ServingError], list[UsageRow], dict[str, Balance]]:
    """Each call's outcome, the usage rows to insert and the new balance of every key touched.

    ``key_of`` raises ``UnknownKey``; ``balance_of`` and ``prior_of`` read the store inside the transaction
    the caller commits.
    """
    results: list[Debit | ServingError] = []
    rows: list[UsageRow] = []
    credits: dict[str, Balance] = {}
    seen: dict[tuple[str, str], Prior] = {}  # idempotency keys first used in this very batch
    for index, call in enumerate(batch):
        try:
            key_id = key_of(call.api_key)
        except UnknownKey as exc:
            results.append(exc)
            continue
        if key_id not in credits:
            credits[key_id] = balance_of(key_id)
        balance = credits[key_id]
        digest = None
        if call.request_id is not None:
            digest = request_hash(key_id, call.body_digest)
            marker = (key_id, call.request_id)
            prior = seen.get(marker) or prior_of(*marker)
            if prior is not None:
                results.append(_replay(call, prior, digest, balance.credit))
                continue
        amount = call.rows * call.price
        if balance.credit < amount:
            results.append(
                OutOfCredit(
                    f"this call costs {amount} but the key has {balance.credit} credit left; "
                    "buy more with `fairshare customer buy`"
                )
            )
            continue
        balance.credit -= amount
        balance.billed += amount
        if call.request_id is not None:
            seen[(key_id, call.request_id)] = Prior(digest, call.model_hash)
            request = keccak(key_id.encode() + b"\n" + call.request_id.encode())
        else:
            request = os.urandom(32)
        rows.append(
            UsageRow(
                key_id, call.rows, amount, call.model_hash, call.request_id, digest, balance.billed, request, index
            )
        )
        results.append(Debit(balance.credit, amount))
    return results, rows, credits


def _replay(call: Call, prior: Prior, digest: str, credit: int) -> Debit | ServingError:
    if prior.request_hash is None:
        return IdempotencyConflict(
            f"Idempotency-Key {call.request_id!r} was billed before request hashes were stored, so this request "
            "cannot be matched to it; send a new Idempotency-Key"
        )
    if prior.request_hash != digest:
        return IdempotencyConflict(
            f"Idempotency-Key {call.request_id!r} was already used for a different request; a retry must send "
            "the same rows, and a new request needs a new Idempotency-Key"
        )
    if prior.model_hash != call.model_hash:
        return IdempotencyConflict(
            f"Idempotency-Key {call.request_id!r} was answered by model {prior.model_hash[:16]}…, which is no "
            "longer the released model; send a new Idempotency-Key"
        )
    return Debit(credit, 0, replayed=True)
