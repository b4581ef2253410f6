"""Exact semivalues from the full coalition table (2^n - 1 evaluations, one vectorised call).

Bit ``i`` of a coalition index is player ``i``. From one table:

- Shapley: ``phi_i = sum_{S not containing i} |S|! (n-|S|-1)! / n! * (v(S+i) - v(S))``; efficient:
  ``sum_i phi_i = v(N) - v(empty)``.
- Banzhaf: the unweighted mean of the same marginals over the 2^(n-1) coalitions without ``i``.
- Leave-one-out: ``v(N) - v(N - i)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

import numpy as np

from fairshare.errors import ValuationError
from fairshare.valuation.game import Game

__all__ = ["MAX_EXACT_PLAYERS", "ExactBanzhaf", "ExactLeaveOneOut", "ExactShapley", "coalition_table"]

MAX_EXACT_PLAYERS = 20


def coalition_table(game: Game) -> np.ndarray:
    """``v`` for every coalition index ``0 .. 2^n - 1`` (``v[0] = 0``)."""
    n = game.n
    if n > MAX_EXACT_PLAYERS:
        raise ValuationError(f"exact valuation of {n} players needs 2^{n} evaluations; use 'gtg' or 'auto'")
    index = np.arange(1, 2**n, dtype=np.int64)
    masks = ((index[:, None] >> np.arange(n)) & 1).astype(bool)
    table = np.zeros(2**n)
    table[1:] = game.value(masks)
    return table


def _marginals(table: np.ndarray, n: int, i: int) -> tuple[np.ndarray, np.ndarray]:
    """Marginals of player ``i`` over every coalition without it, and those coalitions' sizes."""
    index = np.arange(2**n, dtype=np.int64)
    without = index[(index >> i) & 1 == 0]
    sizes = np.array([bin(s).count("1") for s in without])
    return table[without | (1 << i)] - table[without], sizes


@dataclass(frozen=True)
class ExactShapley:
    name: str = "exact"

    @property
    def params(self) -> dict[str, object]:
        return {}

    def values(self, game: Game, rng: np.random.Generator) -> np.ndarray:
        n = game.n
        table = coalition_table(game)
        weights = np.array([1.0 / (n * comb(n - 1, k)) for k in range(n)])
        out = np.empty(n)
        for i in range(n):
            marginals, sizes = _marginals(table, n, i)
            out[i] = float((weights[sizes] * marginals).sum())
        return out


@dataclass(frozen=True)
class ExactBanzhaf:
    name: str = "banzhaf"

    @property
    def params(self) -> dict[str, object]:
        return {"estimator": "exact"}

    def values(self, game: Game, rng: np.random.Generator) -> np.ndarray:
        table = coalition_table(game)
        return np.array([_marginals(table, game.n, i)[0].mean() for i in range(game.n)])


@dataclass(frozen=True)
class ExactLeaveOneOut:
    """n + 1 evaluations: no table needed."""

    name: str = "loo"

    @property
    def params(self) -> dict[str, object]:
        return {}

    def values(self, game: Game, rng: np.random.Generator) -> np.ndarray:
        n = game.n
        masks = np.ones((n + 1, n), dtype=bool)
        masks[np.arange(n), np.arange(n)] = False
        v = game.value(masks)
        return v[n] - v[:n]
