"""A customer checks its receipts against the chain: each one signed by the consortium's operator for this
vault, each key's running totals consistent call after call, and nothing settled beyond what they show.

What a failed check proves, with the operator's own signature: a receipt whose total does not follow from
the previous one plus its amount means calls were billed to the key that the customer holds no receipt for;
a settlement on chain above the customer's highest receipt means the vault paid out more than the customer
was shown; an amount other than rows x price means a call was overcharged.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from fairshare.errors import LedgerError
from fairshare.ledger.receipts import SignedReceipt
from fairshare.ledger.vault import VaultClient

__all__ = ["Finding", "verify_receipts"]


@dataclass(frozen=True)
class Finding:
    ok: bool
    subject: str
    detail: str


def verify_receipts(
    receipts: Sequence[SignedReceipt], vault: VaultClient, price_per_row: int | None = None
) -> list[Finding]:
    """Every problem found (``ok`` False) and one line per key that passed."""
    operators = {str(e.args["signer"]) for e in vault.events("WindowPosted")} | {vault.operator()}
    findings: list[Finding] = []
    by_key: dict[bytes, list[SignedReceipt]] = defaultdict(list)
    for r in receipts:
        subject = f"receipt {r.receipt.request.hex()[:12]}…"
        if r.chain_id != vault.chain.chain_id or r.vault != vault.address:
            findings.append(Finding(False, subject, f"issued for vault {r.vault} on chain {r.chain_id}, not this one"))
            continue
        try:
            signer = r.signer()
        except LedgerError as exc:
            findings.append(Finding(False, subject, str(exc)))
            continue
        if signer not in operators:
            findings.append(Finding(False, subject, f"signed by {signer}, who is not the consortium's operator"))
            continue
        if price_per_row is not None and r.receipt.amount != r.receipt.rows * price_per_row:
            findings.append(
                Finding(
                    False,
                    subject,
                    f"charged {r.receipt.amount} for {r.receipt.rows} row(s); the price is {price_per_row} per row",
                )
            )
        by_key[r.receipt.key].append(r)
    for key, mine in by_key.items():
        findings.extend(_chain_of_totals(key, mine, vault))
    return findings


def _chain_of_totals(key: bytes, mine: list[SignedReceipt], vault: VaultClient) -> list[Finding]:
    subject = f"key {key.hex()[:12]}…"
    problems: list[Finding] = []
    seen: dict[bytes, int] = {}
    previous = 0
    for r in sorted(mine, key=lambda r: r.receipt.total):
        request, total, amount = r.receipt.request, r.receipt.total, r.receipt.amount
        if request in seen and seen[request] != total:
            problems.append(Finding(False, subject, f"request {request.hex()[:12]}… has two totals"))
        seen[request] = total
        if total == previous:
            continue  # the same receipt kept twice
        if total - amount != previous:
            problems.append(
                Finding(
                    False,
                    subject,
                    f"{total - amount - previous} billed between running totals {previous} and {total - amount} "
                    "with no receipt here (calls you did not make, or receipts you did not keep)",
                )
            )
        previous = total
    state = vault.key(key)
    if state.settled > previous:
        problems.append(
            Finding(
                False,
                subject,
                f"the vault settled {state.settled} for this key, above your highest receipt's total {previous}: "
                f"{state.settled - previous} taken without a receipt you hold",
            )
        )
    if not problems:
        problems.append(
            Finding(
                True,
                subject,
                f"{len(mine)} receipts, billed {previous} in total; the vault settled {state.settled} of it, "
                f"holds {state.held} of your credit",
            )
        )
    return problems
