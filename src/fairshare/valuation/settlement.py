"""Settling value across rounds: a member is paid for what it added once its rounds show that it helps.

Per-round values are noisy, and the first round is the largest (the model moves most from its start), so a
member that is lucky once — a free-rider sending noise, a partial label-flipper whose update still helps the
untrained model — would keep a large payment if each round were paid on its own. Instead value *vests*:

- a member's *relative value* in round t is ``r_i(t) = v_i(t) / sum_j |v_j(t)|`` (its part of the round's
  total absolute value), so every round weighs the same in the evidence whatever its size;
- the member is *vested* at round t when it has at least ``min_rounds`` values and a one-sided Student t
  test says ``mean(r_i) > 0`` at level ``alpha`` (a zero series, the free-rider's, is never vested). The
  test's spread is the larger of the member's own standard deviation and the median of all members' (a
  pooled floor): three lucky rounds that happen to agree closely prove nothing, and a noise update that
  looks consistent by chance is measured against how much members' values really move from round to round;
- what a member has been credited, over all rounds, never exceeds ``max(0, V_i)``, its net value (the sum of
  its values, negative rounds included); when vested and not flagged this round it is credited up to that;
  otherwise it is credited nothing this round and the difference stays *pending*.

Credits are never taken back (shares are minted for good), so a member that turns harmful keeps what it had
vested but earns nothing more until its net value again exceeds what it was paid. Round 1 is not exempt: its
value is pending like any other until the evidence says it was not luck.

The state is rebuilt from the chain: each recorded round's values (in its parameters) and credited scores.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from fairshare.errors import ValuationError

__all__ = ["SettledRound", "Settlement", "SettlementRule"]


@dataclass(frozen=True)
class SettlementRule:
    alpha: float = 0.01
    """One-sided level of the t test on a member's relative values: the chance a member adding nothing in
    truth is vested at one look."""
    min_rounds: int = 3

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 0.5 or self.min_rounds < 3:
            raise ValuationError(f"settlement needs 0 < alpha < 0.5 and min_rounds >= 3; got {self}")


@dataclass(frozen=True)
class SettledRound:
    credited: dict[str, float]
    """Value credited this round (>= 0): the scores posted on chain, divided by their scale."""
    pending: dict[str, float]
    """Net value not (yet) credited, per member, after this round."""
    vested: tuple[str, ...]


@dataclass
class _Series:
    relative: list[float] = field(default_factory=list)
    net: float = 0.0
    credited: float = 0.0


def _t_quantile(level: float, df: int) -> float:
    from scipy.stats import t

    return float(t.ppf(level, df))


class Settlement:
    """Each member's value series and what it has been credited; ``settle`` turns a round's values into credits."""

    def __init__(self, rule: SettlementRule | None = None) -> None:
        self.rule = rule or SettlementRule()
        self.series: dict[str, _Series] = {}

    def _observe(self, values: Mapping[str, float], flags: Collection[str]) -> None:
        for member, value in values.items():
            if not math.isfinite(value):
                raise ValuationError(f"member {member!r} has a non-finite value {value}")
        values = {m: min(v, 0.0) if m in flags else v for m, v in values.items()}
        total = sum(abs(v) for v in values.values())
        for member, value in values.items():
            series = self.series.setdefault(member, _Series())
            series.relative.append(value / total if total > 0 else 0.0)
            series.net += value

    @staticmethod
    def _spread(relative: list[float]) -> tuple[float, float]:
        k = len(relative)
        mean = sum(relative) / k
        return mean, math.sqrt(sum((r - mean) ** 2 for r in relative) / (k - 1)) if k > 1 else 0.0

    def pooled_spread(self) -> float:
        """The median over members of the standard deviation of their relative values (0 before round 2)."""
        spreads = sorted(self._spread(s.relative)[1] for s in self.series.values() if len(s.relative) > 1)
        if not spreads:
            return 0.0
        middle = len(spreads) // 2
        return spreads[middle] if len(spreads) % 2 else (spreads[middle - 1] + spreads[middle]) / 2

    def is_vested(self, member: str, floor: float | None = None) -> bool:
        series = self.series.get(member)
        if series is None or len(series.relative) < self.rule.min_rounds:
            return False
        k = len(series.relative)
        mean, sd = self._spread(series.relative)
        if mean <= 0:
            return False
        sd = max(sd, self.pooled_spread() if floor is None else floor)
        if sd == 0:
            return True
        return mean / (sd / math.sqrt(k)) >= _t_quantile(1 - self.rule.alpha, k - 1)

    def settle(self, values: Mapping[str, float], flags: Mapping[str, str]) -> SettledRound:
        """Credit one round: ``values`` are every member's values this round (0 for an invalid update).

        A flagged member's positive value is withheld for good (it never counts towards its net value); a
        negative one counts."""
        self._observe(values, flags)
        credited, pending, vested = {}, {}, []
        floor = self.pooled_spread()
        for member in values:
            series = self.series[member]
            credit = 0.0
            if self.is_vested(member, floor):
                vested.append(member)
                if member not in flags:
                    credit = max(0.0, series.net - series.credited)
            series.credited += credit
            credited[member] = credit
            pending[member] = max(0.0, series.net - series.credited)
        return SettledRound(credited, pending, tuple(vested))

    def restore(self, values: Mapping[str, float], flags: Collection[str], credited: Mapping[str, float]) -> None:
        """Replay a round already recorded: its values, its flags and what was credited for it."""
        self._observe(values, flags)
        for member, credit in credited.items():
            self.series.setdefault(member, _Series()).credited += credit
