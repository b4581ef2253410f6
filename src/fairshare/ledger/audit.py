"""The audit: rebuild every balance from chain events alone and check the money invariants.

It replays the same integer accumulator the contract runs (mints and distributions in chain order), so its
numbers are derived independently of the contract's own bookkeeping, then compares:

- conservation: deposited == withdrawn + contract balance (nothing created, nothing lost);
- entitlements: each account's replayed entitlement == the contract's ``entitled``;
- no overpayment: withdrawn <= entitled for every account, and withdrawals in events == ``withdrawn``;
- remainder: deposited - sum(entitled) is the explicitly undistributed amount plus rounding dust below one
  unit per account (the carried accumulator remainder), never negative;
- settlements: every settlement id distributed once;
- rounds: each record's hash recomputes from its event and its shares match the mints; the number of
  records and the newest record's hash match contract storage;
- models: each round's model hash equals the hash recomputed from the model artifact on disk.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from eth_abi import encode
from web3 import Web3

from fairshare.ledger.chain import Chain
from fairshare.ledger.client import LedgerClient
from fairshare.ledger.deploy import Deployment

__all__ = ["AuditReport", "Check", "audit", "replay"]

MAGNITUDE = 2**128


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class AuditReport:
    checks: list[Check]
    entitled: dict[str, int] = field(default_factory=dict)
    withdrawn: dict[str, int] = field(default_factory=dict)
    shares: dict[str, int] = field(default_factory=dict)
    deposited: int = 0
    remainder: int = 0
    history: list[dict[str, object]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "checks": [asdict(c) for c in self.checks],
            "deposited": self.deposited,
            "remainder": self.remainder,
            "entitled": self.entitled,
            "withdrawn": self.withdrawn,
            "shares": self.shares,
            "governance": self.history,
        }


@dataclass
class Replay:
    """The accumulator, replayed in Python with the contract's exact integer arithmetic."""

    shares: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    corrections: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    credits: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    total_shares: int = 0
    magnified_per_share: int = 0
    carried: int = 0
    undistributed: int = 0
    deposited: int = 0

    def mint(self, account: str, amount: int) -> None:
        self.shares[account] += amount
        self.total_shares += amount
        self.corrections[account] -= self.magnified_per_share * amount

    def distribute(self, amount: int, cut: int, treasury: str) -> None:
        self.deposited += amount
        self.credits[treasury] += cut
        to_holders = amount - cut + self.undistributed
        if self.total_shares == 0:
            self.undistributed = to_holders
            return
        self.undistributed = 0
        magnified = to_holders * MAGNITUDE + self.carried
        self.magnified_per_share += magnified // self.total_shares
        self.carried = magnified % self.total_shares

    def entitled(self, account: str) -> int:
        magnified = self.magnified_per_share * self.shares.get(account, 0) + self.corrections.get(account, 0)
        return magnified // MAGNITUDE + self.credits.get(account, 0)


def replay(client: LedgerClient, treasury: str, mints: list | None = None, distributions: list | None = None) -> Replay:
    """The accumulator after every mint and distribution, in chain order."""
    events: list[tuple[int, int, str, object]] = []
    events += [(m.block, m.log_index, "mint", m) for m in (mints if mints is not None else client.mints())]
    distributions = distributions if distributions is not None else client.distributions()
    events += [(d.block, d.log_index, "distribute", d) for d in distributions]
    state = Replay()
    for _, _, kind, event in sorted(events, key=lambda e: (e[0], e[1])):
        if kind == "mint":
            state.mint(event.account, event.amount)  # type: ignore[attr-defined]
        else:
            state.distribute(event.amount, event.treasury_cut, treasury)  # type: ignore[attr-defined]
    return state


def _record_hash(r) -> bytes:
    encoded = encode(
        ["uint256", "bytes32", "string", "string", "uint256", "address[]", "int256[]", "uint256[]"],
        [r.round_id, r.model_hash, r.method, r.params, r.seed, list(r.members), list(r.scores), list(r.shares)],
    )
    return Web3.keccak(encoded)


def audit(
    chain: Chain,
    deployment: Deployment,
    model_hashes: Mapping[int, bytes] | None = None,
    client: LedgerClient | None = None,
) -> AuditReport:
    client = client or LedgerClient(chain, deployment)
    treasury = Web3.to_checksum_address(client.revenue.functions.treasury().call())
    mints, distributions = client.mints(), client.distributions()
    state = replay(client, treasury, mints, distributions)
    withdrawals = client.withdrawals()
    withdrawn_events: dict[str, int] = defaultdict(int)
    for w in withdrawals:
        withdrawn_events[w.account] += w.amount
    accounts = sorted(set(state.shares) | set(state.credits) | set(withdrawn_events))
    totals = client.totals()
    checks: list[Check] = []

    withdrawn_total = sum(withdrawn_events.values())
    checks.append(
        Check(
            "money conserved",
            state.deposited == withdrawn_total + totals["balance"] and state.deposited == totals["deposited"],
            f"deposited {state.deposited} = withdrawn {withdrawn_total} + contract balance {totals['balance']}",
        )
    )

    entitled = {a: state.entitled(a) for a in accounts}
    mismatched = [a for a in accounts if entitled[a] != client.entitled(a)]
    checks.append(
        Check(
            "entitlements re-derived",
            not mismatched,
            f"{len(accounts)} accounts replayed from {len(state.shares)} holders' mints and distributions"
            + (f"; differ for {', '.join(mismatched)}" if mismatched else ""),
        )
    )

    over = [a for a in accounts if withdrawn_events[a] > entitled[a]]
    stale = [a for a in accounts if withdrawn_events[a] != client.withdrawn(a)]
    checks.append(
        Check(
            "nobody paid more than entitled",
            not over and not stale,
            f"{len(withdrawals)} withdrawals, total {withdrawn_total}"
            + (f"; overpaid: {', '.join(over)}" if over else "")
            + (f"; events disagree with contract for {', '.join(stale)}" if stale else ""),
        )
    )

    remainder = state.deposited - sum(entitled.values())
    dust = remainder - state.undistributed
    checks.append(
        Check(
            "remainder carried, nothing created",
            0 <= dust <= len(accounts) + 1,
            f"remainder {remainder} = undistributed {state.undistributed} + rounding dust {dust}",
        )
    )

    ids = [d.settlement_id for d in distributions]
    checks.append(Check("each settlement paid once", len(ids) == len(set(ids)), f"{len(ids)} settlements"))

    records = client.rounds()
    minted: dict[tuple[int, str], int] = defaultdict(int)
    for m in mints:
        minted[(m.round_id, m.account)] += m.amount
    bad_rounds = []
    for r in records:
        expected = {(r.round_id, a): s for a, s in zip(r.members, r.shares, strict=True) if s > 0}
        actual = {k: v for k, v in minted.items() if k[0] == r.round_id}
        if _record_hash(r) != r.record_hash or expected != actual:
            bad_rounds.append(r.round_id)
    stored_count = int(client.log.functions.round_count().call())
    newest = max(records, key=lambda r: r.round_id, default=None)
    if newest is not None and bytes(client.log.functions.record_hash_of(newest.round_id).call()) != newest.record_hash:
        bad_rounds.append(newest.round_id)
    checks.append(
        Check(
            "round records intact",
            not bad_rounds and stored_count == len(records),
            f"{len(records)} rounds; record hashes recompute from events and minted shares match"
            if not bad_rounds and stored_count == len(records)
            else f"rounds {bad_rounds} do not match their mints or stored hash; "
            f"{stored_count} stored vs {len(records)} events",
        )
    )

    if model_hashes is not None:
        missing = [r.round_id for r in records if r.round_id not in model_hashes]
        wrong = [r.round_id for r in records if r.round_id in model_hashes and model_hashes[r.round_id] != r.model_hash]
        checks.append(
            Check(
                "model artifacts match chain",
                not missing and not wrong,
                f"{len(records) - len(missing) - len(wrong)} of {len(records)} artifacts hash to the recorded model"
                + (f"; missing artifacts for rounds {missing}" if missing else "")
                + (f"; different model for rounds {wrong}" if wrong else ""),
            )
        )

    return AuditReport(
        checks=checks,
        entitled=entitled,
        withdrawn=dict(withdrawn_events),
        shares=dict(state.shares),
        deposited=state.deposited,
        remainder=remainder,
    )
