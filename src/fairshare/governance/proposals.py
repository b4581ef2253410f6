"""Typed proposals: what each kind changes, and how its arguments are encoded for the Governor contract."""

from __future__ import annotations

from dataclasses import dataclass

from fairshare.errors import GovernanceError

__all__ = ["KINDS", "Proposal", "ProposalAction", "VoteRecord", "pack_governance", "unpack_governance"]

KINDS = {
    "treasury-cut": 0,
    "valuation": 1,
    "admit": 2,
    "remove": 3,
    "release": 4,
    "price": 5,
    "oracle": 6,
    "governance": 7,
}
NAMES = {v: k for k, v in KINDS.items()}
ZERO_ADDRESS = "0x" + "00" * 20
FIELD = 2**48


def pack_governance(quorum_bps: int, threshold_bps: int, voting_period: int, timelock: int, weighting: int) -> int:
    """Five governance parameters in one uint256 (48 bits each), as the Governor unpacks them."""
    values = (quorum_bps, threshold_bps, voting_period, timelock, weighting)
    if any(not 0 <= v < FIELD for v in values) or quorum_bps > 10_000 or threshold_bps > 10_000 or weighting > 1:
        raise GovernanceError(f"governance parameters out of range: {values}")
    return sum(v << (48 * i) for i, v in enumerate(values))


def unpack_governance(number: int) -> tuple[int, int, int, int, int]:
    return tuple((number >> (48 * i)) & (FIELD - 1) for i in range(5))  # type: ignore[return-value]


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
        q, t, v, lock, w = unpack_governance(self.number)
        return f"governance: quorum {q} bps, threshold {t} bps, voting {v} blocks, timelock {lock}, weighting {w}"


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
