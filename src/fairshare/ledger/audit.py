"""The audit: rebuild every balance from chain events alone and check the money invariants.

It reads every log from the chain itself, never from the local event index (a cache anyone with file access
can edit), and replays the same integer accumulator the contract runs (mints and distributions in chain
order), so its numbers are derived independently of the contract's own bookkeeping. Then it compares:

- conservation: deposited == withdrawn + what the contract holds; anything held beyond that is reported as
  unsolicited (coin forced in, stray token transfers); holding less fails (a token that shrank the balance);
- entitlements: each account's replayed entitlement == the contract's ``entitled``;
- no overpayment: withdrawn <= entitled for every account, and withdrawals in events == ``withdrawn``;
- remainder: deposited - sum(entitled) is the explicitly undistributed amount plus rounding dust below one
  unit per account (the carried accumulator remainder), never negative;
- settlements: every source's running total only grew, each distribution paid exactly the growth, the
  treasury got exactly floor(amount x cut / 10000) under the cut in force, and the contract's
  ``settled_total`` agrees for every source;
- rounds: numbered 1..N without gaps; each record's hash recomputes from its event and equals contract
  storage for every round; its shares are the share rule in force applied to its scores, and equal the mints;
  every paid member was an admitted member at that block and none is the oracle;
- roles: the Governor owns both contracts, the TrainingLog is the only minter, the oracle is no member and
  not the treasury; every pause is listed with who paused and until when;
- models: each round's model hash equals the hash recomputed from the model artifact on disk;
- scorers: each round is labelled "single scorer" or "committee"; a committee round's scores are recomputed from
  the validators' reveals (``committee_audit``), each reveal checked against its commitment.
- payouts by Merkle roots (EntitlementRoots), when used: see ``fairshare.ledger.roots_audit``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from eth_abi import encode
from web3 import Web3

from fairshare.ledger.chain import Chain
from fairshare.ledger.client import Distribution, LedgerClient, Mint, RoundRecord
from fairshare.ledger.committee_audit import committee_check
from fairshare.ledger.deploy import Deployment

__all__ = ["AuditReport", "Check", "Replay", "audit", "replay", "shares_for"]

MAGNITUDE = 2**128
SCORE_SCALE = 10**9
MAX_BPS = 10_000


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
    unsolicited: int = 0
    pauses: list[dict[str, object]] = field(default_factory=list)
    history: list[dict[str, object]] = field(default_factory=list)
    scoring: list[dict[str, object]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "checks": [asdict(c) for c in self.checks],
            "deposited": self.deposited,
            "remainder": self.remainder,
            "unsolicited": self.unsolicited,
            "entitled": self.entitled,
            "withdrawn": self.withdrawn,
            "shares": self.shares,
            "pauses": self.pauses,
            "governance": self.history,
            "scoring": self.scoring,
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


def shares_for(scores: list[int] | tuple[int, ...], share_scale: int, round_cap: int) -> list[int]:
    """The TrainingLog's share rule, in Python: the audit recomputes every round's shares with it."""
    raw = [max(s, 0) * share_scale // SCORE_SCALE for s in scores]
    total = sum(raw)
    if total <= round_cap:
        return raw
    return [r * round_cap // total for r in raw]


def _record_hash(r: RoundRecord) -> bytes:
    encoded = encode(
        ["uint256", "bytes32", "string", "string", "uint256", "address[]", "int256[]", "uint256[]"],
        [r.round_id, r.model_hash, r.method, r.params, r.seed, list(r.members), list(r.scores), list(r.shares)],
    )
    return Web3.keccak(encoded)


def _at(changes: list[tuple[int, int, object]], block: int, log_index: int) -> object:
    """The value of a setting at (block, log_index): the last change before it."""
    value = None
    for b, i, v in changes:
        if (b, i) < (block, log_index):
            value = v
    return value


def _settlement_check(client: LedgerClient, distributions: list[Distribution], cuts: list) -> tuple[Check, int]:
    settled: dict[bytes, int] = {}
    bad: list[str] = []
    surplus = 0
    for d in distributions:
        bps = _at(cuts, d.block, d.log_index)
        if bps is None or d.treasury_cut != d.amount * int(bps) // MAX_BPS:
            bad.append(f"distribution in block {d.block}: treasury cut {d.treasury_cut} is not {bps} bps of {d.amount}")
        if not d.sources:
            surplus += d.amount
            continue
        growth = 0
        for source, total in zip(d.sources, d.totals, strict=True):
            previous = settled.get(source, 0)
            if total <= previous:
                bad.append(f"source {source.hex()[:12]}… settled {total} after {previous}")
            growth += total - previous
            settled[source] = total
        if growth != d.amount:
            bad.append(f"distribution in block {d.block} paid {d.amount} for a growth of {growth}")
    stale = [s.hex()[:12] for s, t in settled.items() if client.settled_total(s) != t]
    if stale:
        bad.append(f"contract's settled totals differ for sources {', '.join(stale)}")
    detail = (
        f"{len(distributions)} distributions over {len(settled)} sources; every running total grew and was paid "
        "exactly its growth; treasury cuts exact" + (f"; {surplus} of unsolicited value distributed" if surplus else "")
    )
    return Check("each revenue paid once", not bad, "; ".join(bad) if bad else detail), len(settled)


def _rounds_check(client: LedgerClient, records: list[RoundRecord], mints: list[Mint]) -> Check:
    log, governor = client.log, client.governor
    rules = [
        (e.block, e.log_index, (e.args["share_scale"], e.args["round_cap"]))
        for e in client.events(log, "ShareRuleChanged")
    ]
    oracles = [
        (e.block, e.log_index, e.args["account"])
        for e in client.events(log, "RoleChanged")
        if e.args["role"] == "oracle"
    ]
    member_changes = [
        (e.block, e.args["account"], e.args["admitted"]) for e in client.events(governor, "MemberChanged")
    ]
    minted: dict[tuple[int, str], int] = defaultdict(int)
    for m in mints:
        minted[(m.round_id, m.account)] += m.amount
    problems: list[str] = []
    admitted: set[str] = set()
    applied = 0
    for expected_id, r in enumerate(sorted(records, key=lambda r: r.round_id), start=1):
        while applied < len(member_changes) and member_changes[applied][0] <= r.block:
            _, account, joined = member_changes[applied]
            (admitted.add if joined else admitted.discard)(account)
            applied += 1
        where = f"round {r.round_id}"
        if r.round_id != expected_id:
            problems.append(f"{where} recorded where round {expected_id} was due")
        if _record_hash(r) != r.record_hash:
            problems.append(f"{where}: record hash does not recompute from its event")
        if bytes(log.functions.record_hash_of(r.round_id).call()) != r.record_hash:
            problems.append(f"{where}: record differs from the contract's stored hash")
        if bytes(log.functions.model_hash_of(r.round_id).call()) != r.model_hash:
            problems.append(f"{where}: model hash differs from the contract's storage")
        rule = _at(rules, r.block, 10**9)
        if rule is None or list(r.shares) != shares_for(r.scores, *rule):  # type: ignore[misc]
            problems.append(f"{where}: shares {list(r.shares)} are not the share rule {rule} applied to its scores")
        expected = {(r.round_id, a): s for a, s in zip(r.members, r.shares, strict=True) if s > 0}
        if expected != {k: v for k, v in minted.items() if k[0] == r.round_id}:
            problems.append(f"{where}: minted shares differ from the record")
        oracle = _at(oracles, r.block, 10**9)
        outsiders = [a for a in r.members if a not in admitted or a == oracle]
        if outsiders:
            problems.append(f"{where}: paid accounts that were not admitted members (or the oracle): {outsiders}")
    stored = int(log.functions.round_count().call())
    if stored != len(records):
        problems.append(f"{stored} rounds in contract storage, {len(records)} in events")
    detail = (
        f"{len(records)} rounds; hashes recompute and match storage; shares follow the share rule and match the mints"
    )
    return Check("round records intact", not problems, "; ".join(problems[:8]) if problems else detail)


def _roles_check(client: LedgerClient, chain: Chain) -> tuple[Check, list[dict[str, object]]]:
    revenue, log, governor = client.revenue.functions, client.log.functions, client.governor
    oracle = Web3.to_checksum_address(log.oracle().call())
    treasury = Web3.to_checksum_address(revenue.treasury().call())
    problems = []
    if Web3.to_checksum_address(revenue.owner().call()) != governor.address:
        problems.append("RevenueShares is not owned by the Governor")
    if Web3.to_checksum_address(log.owner().call()) != governor.address:
        problems.append("TrainingLog is not owned by the Governor")
    if Web3.to_checksum_address(revenue.minter().call()) != client.log.address:
        problems.append("the share minter is not the TrainingLog")
    committee = Web3.to_checksum_address(log.committee().call())
    if client.committee is not None:
        if committee != client.committee.address:
            problems.append(f"the TrainingLog's recorder is {committee}, not the consortium's ScoreCommittee")
        if Web3.to_checksum_address(client.committee.functions.owner().call()) != governor.address:
            problems.append("the ScoreCommittee is not owned by the Governor")
    elif int(committee, 16) != 0:
        problems.append(f"the TrainingLog takes rounds from {committee}, a committee this deployment does not name")
    if int(governor.functions.founder().call(), 16) != 0:
        problems.append("the Governor's founding is not sealed: its deployer can still admit members")
    if governor.functions.is_member(oracle).call():
        problems.append(f"the oracle {oracle} is a member")
    if oracle == treasury:
        problems.append("the oracle is the treasury")
    head = int(chain.w3.eth.block_number)
    pauses = [
        {
            "block": e.block,
            "by": e.args["by"],
            "until_block": int(e.args["until_block"]),
            "pauser_armed": bool(e.args["pauser_armed"]),
        }
        for e in client.events(client.revenue, "PauseChanged")
    ]
    until = int(revenue.paused_until().call())
    detail = f"Governor owns both contracts; oracle {oracle} is no payee; {len(pauses)} pause changes" + (
        f"; PAUSED until block {until} (now {head})" if until > head else "; not paused"
    )
    return Check("roles", not problems, "; ".join(problems) if problems else detail), pauses


def audit(
    chain: Chain,
    deployment: Deployment,
    model_hashes: Mapping[int, bytes] | None = None,
    client: LedgerClient | None = None,
) -> AuditReport:
    """Audit a deployment from the chain alone (plus model artifacts, when given).

    ``client`` may be passed to share its reads with other checks, but only with an in-memory index that this
    process filled from the chain: a file-backed index is a cache, and the audit does not trust caches.
    """
    if client is None or client.index.path is not None:
        client = LedgerClient(chain, deployment)
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
    owed = state.deposited - withdrawn_total
    unsolicited = totals["balance"] - owed
    books = state.deposited == totals["deposited"] and withdrawn_total == totals["withdrawn"]
    checks.append(
        Check(
            "money conserved",
            books and unsolicited >= 0,
            f"deposited {state.deposited} = withdrawn {withdrawn_total} + owed {owed}; contract holds "
            f"{totals['balance']}"
            + (
                f" (unsolicited {unsolicited}: anyone may distribute it with distribute_surplus)"
                if unsolicited > 0
                else ""
            )
            + (f"; SHORT by {-unsolicited}: the token shrank the contract's balance" if unsolicited < 0 else "")
            + ("" if books else "; events disagree with the contract's totals"),
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

    cuts = [(e.block, e.log_index, e.args["bps"]) for e in client.events(client.revenue, "TreasuryCutChanged")]
    settlement, _ = _settlement_check(client, distributions, cuts)
    checks.append(settlement)

    records = client.log_rounds()
    checks.append(_rounds_check(client, records, mints))
    scored, scoring = committee_check(client, records)
    checks.append(Check(*scored))
    roles, pauses = _roles_check(client, chain)
    checks.append(roles)

    from fairshare.ledger.roots_audit import roots_checks  # it builds on this module's Check

    checks += roots_checks(client)

    if model_hashes is not None:
        records = client.rounds()  # rounds recorded by roots too
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
        unsolicited=max(unsolicited, 0),
        pauses=pauses,
        scoring=[s.to_json() for s in scoring],
    )
