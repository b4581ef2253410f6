"""What the loop reports while it runs, as typed values, and the interface a display implements.

The loop never prints: it hands these values to a ``View``. The CLI renders them with rich; tests and the
summary file read the same values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from fairshare.governance import Proposal
    from fairshare.ledger import AuditReport

__all__ = ["MemberBalance", "RoundReport", "Settlement", "SilentView", "View", "Withdrawal"]


@dataclass(frozen=True)
class RoundReport:
    """One training round as recorded on chain."""

    round: int
    accuracy: float
    loss: float
    model_hash: str
    method: str
    values: dict[str, float]
    shares: dict[str, int]
    flags: dict[str, str]
    evaluations: int
    valuation_seconds: float
    tx_hash: str = ""
    rejected: dict[str, str] = field(default_factory=dict)
    """Members whose update was refused this round (unsigned, mis-signed, replayed, failed), and why."""
    epsilon: dict[str, float] = field(default_factory=dict)
    """With differential privacy: each member's cumulative epsilon after this round (at the run's delta)."""
    scorer: str = "single scorer"
    """"single scorer" (the coordinator's values are the scores) or "committee" (the validators' medians)."""
    scores: dict[str, float] = field(default_factory=dict)
    """The scores on chain (values), which the shares follow: the coordinator's, or the validators' medians."""
    validators: dict[str, str] = field(default_factory=dict)
    """Each validator: "revealed", "missing reveal" or "outlier: ..." (governance may remove it)."""


@dataclass(frozen=True)
class Settlement:
    settlement_id: str
    amount: int
    calls: int
    treasury_cut: int
    tx_hash: str
    already_settled: bool = False
    into: str = "RevenueShares"
    """Where the vault paid the customers' money: RevenueShares, or EntitlementRoots with payouts by roots."""


@dataclass(frozen=True)
class Withdrawal:
    member: str
    address: str
    amount: int
    tx_hash: str


@dataclass(frozen=True)
class MemberBalance:
    name: str
    address: str
    role: str
    shares: int
    entitled: int
    withdrawn: int
    withdrawable: int
    behaviour: str = "honest"
    extra: dict[str, object] = field(default_factory=dict)


class View(Protocol):
    def stage(self, title: str, detail: str = "") -> None: ...
    def training_started(self, rounds: int, members: list[str]) -> None: ...
    def round_finished(self, report: RoundReport) -> None: ...
    def training_finished(self) -> None: ...
    def progress(self, phase: str, done: int, total: int) -> None: ...
    def governed(self, proposal: Proposal) -> None: ...
    def settled(self, settlement: Settlement) -> None: ...
    def withdrew(self, withdrawals: Sequence[Withdrawal]) -> None: ...
    def payouts(self, balances: Sequence[MemberBalance]) -> None: ...
    def audited(self, report: AuditReport) -> None: ...


class SilentView:
    """A view that shows nothing: for library use and tests."""

    def stage(self, title: str, detail: str = "") -> None:
        pass

    def training_started(self, rounds: int, members: list[str]) -> None:
        pass

    def round_finished(self, report: RoundReport) -> None:
        pass

    def training_finished(self) -> None:
        pass

    def progress(self, phase: str, done: int, total: int) -> None:
        pass

    def governed(self, proposal: Proposal) -> None:
        pass

    def settled(self, settlement: Settlement) -> None:
        pass

    def withdrew(self, withdrawals: Sequence[Withdrawal]) -> None:
        pass

    def payouts(self, balances: Sequence[MemberBalance]) -> None:
        pass

    def audited(self, report: AuditReport) -> None:
        pass
