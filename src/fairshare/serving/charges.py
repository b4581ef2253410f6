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
- another customer's identical idempotency key is another key id: it never collides.

The caller commits every returned ``UsageRow`` and credit in one transaction; if that fails, no call of the
batch is billed and none may be answered.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from fairshare.errors import ServingError

__all__ = ["Call", "Debit", "IdempotencyConflict", "OutOfCredit", "Prior", "UnknownKey", "UsageRow", "decide"]


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


def request_hash(key_id: str, body_digest: bytes) -> str:
    """The hash stored with an idempotency key: the key id and the canonical request body, nothing else."""
    return hashlib.sha256(key_id.encode() + b"\n" + body_digest).hexdigest()


def decide(
    batch: list[Call],
    key_of: Callable[[str], str],
    credit_of: Callable[[str], int],
    prior_of: Callable[[str, str], Prior | None],
) -> tuple[list[Debit | ServingError], list[UsageRow], dict[str, int]]:
    """Each call's outcome, the usage rows to insert and the new credit of every key touched.

    ``key_of`` raises ``UnknownKey``; ``credit_of`` and ``prior_of`` read the store inside the transaction
    the caller commits.
    """
    results: list[Debit | ServingError] = []
    rows: list[UsageRow] = []
    credits: dict[str, int] = {}
    seen: dict[tuple[str, str], Prior] = {}  # idempotency keys first used in this very batch
    for call in batch:
        try:
            key_id = key_of(call.api_key)
        except UnknownKey as exc:
            results.append(exc)
            continue
        if key_id not in credits:
            credits[key_id] = credit_of(key_id)
        digest = None
        if call.request_id is not None:
            digest = request_hash(key_id, call.body_digest)
            marker = (key_id, call.request_id)
            prior = seen.get(marker) or prior_of(*marker)
            if prior is not None:
                results.append(_replay(call, prior, digest, credits[key_id]))
                continue
        amount = call.rows * call.price
        if credits[key_id] < amount:
            results.append(
                OutOfCredit(f"this call costs {amount} but the key has {credits[key_id]} credit left; top it up")
            )
            continue
        credits[key_id] -= amount
        if call.request_id is not None:
            seen[(key_id, call.request_id)] = Prior(digest, call.model_hash)
        rows.append(UsageRow(key_id, call.rows, amount, call.model_hash, call.request_id, digest))
        results.append(Debit(credits[key_id], amount))
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
