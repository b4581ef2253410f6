"""Typed proposals: what each kind changes, and how its arguments are encoded for the Governor contract."""

from __future__ import annotations

from dataclasses import dataclass

from fairshare.errors import GovernanceError

__all__ = ["KINDS", "PAYOUT_MODES", "ROLES", "Proposal", "ProposalAction", "Rules", "VoteRecord", "pack_share_rule"]

KINDS = {
    "treasury-cut": 0,
    "valuation": 1,
    "admit": 2,
    "remove": 3,
    "release": 4,
    "price": 5,
    "oracle": 6,
    "governance": 7,
    "pause": 8,
    "role": 9,
    "share-rule": 10,
    "validator": 11,
    "refund-notice": 12,
    "payout-mode": 13,
}
NAMES = {v: k for k, v in KINDS.items()}
ROLE_KINDS = frozenset({"oracle", "governance", "role", "share-rule", "validator", "payout-mode"})
"""Role changes: they need a supermajority of the total weight and of members, and the longer timelock."""
ROLES = ("pauser", "operator", "treasury")
ZERO_ADDRESS = "0x" + "00" * 20
PAYOUT_MODES = ("accumulator", "roots")
"""Governor.payout_mode: 0 rounds mint shares in RevenueShares; 1 rounds are published to EntitlementRoots."""
FIELD = 2**32
RULE_FIELDS = (
    "weighting",
    "quorum_bps",
    "threshold_bps",
    "super_bps",
    "voting_period",
    "timelock",
    "role_timelock",
    "execution_window",
)


@dataclass(frozen=True)
class Rules:
    """The Governor's voting rules (durations in blocks), with the ranges the contract enforces."""

    weighting: int
    quorum_bps: int
    threshold_bps: int
    super_bps: int
    voting_period: int
    timelock: int
    role_timelock: int
    execution_window: int

    def __post_init__(self) -> None:
        problems = []  # the Governor's own words for each range it enforces
        if self.weighting not in (0, 1):
            problems.append("unknown weighting (0 members, 1 shares)")
        if not 1 <= self.quorum_bps <= 10_000:
            problems.append("quorum must be 1 to 10000 bps")
        if not 5000 <= self.threshold_bps <= 9999:
            problems.append("threshold must be 5000 to 9999 bps")
        if not 5000 <= self.super_bps <= 9999:
            problems.append("supermajority must be 5000 to 9999 bps")
        if not 1 <= self.voting_period <= 1_000_000:
            problems.append("voting period out of range (1 to 1000000 blocks)")
        if not self.timelock < self.role_timelock:
            problems.append("role changes need a longer timelock than other proposals")
        if not (self.timelock >= 0 and self.role_timelock <= 1_000_000):
            problems.append("timelock out of range (0 to 1000000 blocks)")
        if not 10 <= self.execution_window <= 1_000_000:
            problems.append("execution window out of range (10 to 1000000 blocks)")
        if problems:
            raise GovernanceError("governance rules refused: " + "; ".join(problems))

    def pack(self) -> int:
        """The rules in one uint256 (32 bits each, ``weighting`` lowest), as a governance proposal carries them."""
        return sum(getattr(self, name) << (32 * i) for i, name in enumerate(RULE_FIELDS))

    @classmethod
    def unpack(cls, number: int) -> Rules:
        return cls(*((number >> (32 * i)) & (FIELD - 1) for i in range(len(RULE_FIELDS))))

    def describe(self) -> str:
        who = "shares" if self.weighting else "members"
        return (
            f"votes by {who}, quorum {self.quorum_bps} bps, threshold {self.threshold_bps} bps, role changes "
            f"{self.super_bps} bps of all weight, voting {self.voting_period} blocks, timelock {self.timelock} "
            f"(roles {self.role_timelock}), execution within {self.execution_window}"
        )


def pack_share_rule(share_scale: int, round_cap: int) -> int:
    """The share rule as a ``share-rule`` proposal carries it: scale in the low 128 bits, cap in the high."""
    if not 1 <= share_scale <= 10**18 or not 1 <= round_cap < 2**128:
        raise GovernanceError(f"share rule out of range: scale {share_scale} (1..1e18), cap {round_cap} (>= 1)")
    return share_scale + (round_cap << 128)


@dataclass(frozen=True)
class ProposalAction:
    """What a proposal would do, in the Governor's encoding."""

    kind: str
    number: int = 0
    account: str = ZERO_ADDRESS
    digest: bytes = bytes(32)
    text: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise GovernanceError(f"unknown proposal kind {self.kind!r}; kinds: {', '.join(KINDS)}")
        if len(self.text.encode()) > 256:
            raise GovernanceError("proposal text is limited to 256 bytes")
        if self.kind == "role" and self.text not in ROLES:
            raise GovernanceError(f"unknown role {self.text!r}; roles: {', '.join(ROLES)}")
        if self.kind == "payout-mode" and self.number not in range(len(PAYOUT_MODES)):
            raise GovernanceError(f"payout mode must be 0 (accumulator) or 1 (roots); got {self.number}")
        if self.kind == "governance":
            Rules.unpack(self.number)  # refuses rules that would leave governance unable to act
        if self.kind == "validator" and not 0 <= self.number <= 2**32:
            raise GovernanceError(f"validator weight must be 0 (remove) to {2**32}; got {self.number}")

    def describe(self) -> str:
        if self.kind == "treasury-cut":
            return f"set the treasury cut to {self.number} bps"
        if self.kind == "price":
            return f"set the price per row to {self.number:,}"
        if self.kind == "release":
            return f"release model {self.digest.hex()[:16]}…"
        if self.kind == "valuation":
            return f"use valuation method {self.text!r}"
        if self.kind == "admit":
            return f"admit {self.text!r} ({self.account})"
        if self.kind == "remove":
            return f"remove member {self.account}"
        if self.kind == "oracle":
            return f"make {self.account} the oracle"
        if self.kind == "pause":
            return f"pause the money for {self.number} blocks" if self.number else "resume the money now"
        if self.kind == "role":
            extra = f" (emergency pauses of {self.number} blocks)" if self.text == "pauser" else ""
            return f"make {self.account} the {self.text}{extra}"
        if self.kind == "validator":
            if self.number == 0:
                return f"remove validator {self.account}"
            return f"make {self.account} a validator of weight {self.number} (data {self.digest.hex()[:16]}…)"
        if self.kind == "refund-notice":
            return f"make customers wait {self.number:,} blocks between asking for a refund and taking it"
        if self.kind == "share-rule":
            scale, cap = self.number & (2**128 - 1), self.number >> 128
            return f"mint {scale:,} shares per unit of score, at most {cap:,} per round"
        if self.kind == "payout-mode":
            return f"pay out through {PAYOUT_MODES[self.number]}"
        return "governance: " + Rules.unpack(self.number).describe()

    @property
    def role_change(self) -> bool:
        return self.kind in ROLE_KINDS


@dataclass(frozen=True)
class VoteRecord:
    voter: str
    support: bool
    weight: int
    block: int


@dataclass(frozen=True)
class Proposal:
    proposal_id: int
    proposer: str
    action: ProposalAction
    description: str
    snapshot: int
    end: int
    total_weight: int
    votes_for: int
    votes_against: int
    state: str
    votes: tuple[VoteRecord, ...] = ()
    executed_block: int | None = None
    weighting: int = 0
    quorum_bps: int = 0
    threshold_bps: int = 0
    super_bps: int = 0
    timelock: int = 0
    expires: int = 0
    member_count: int = 0
    block: int = 0
    """The rule frozen when the proposal was opened (the Proposed event), and the block it was opened in."""
