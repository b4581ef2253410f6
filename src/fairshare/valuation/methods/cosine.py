"""Cosine-to-aggregate (CGSV-style): no coalition evaluations beyond the grand coalition.

``value_i = v(N) * a_i * max(cos(delta_i, delta_N), 0) / sum_j a_j * max(cos(delta_j, delta_N), 0)``: the
round's gain split by weight times alignment with the aggregate update. Cheap, but measured far from Shapley
on small data (VALUATION-NOTES): offered for very large consortia and as a comparison, not as the default.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fairshare.valuation.game import Game

__all__ = ["CosineToAggregate"]


@dataclass(frozen=True)
class CosineToAggregate:
    deltas: tuple[np.ndarray, ...] = ()
    weights: tuple[float, ...] = ()
    name: str = "cosine"

    @property
    def params(self) -> dict[str, object]:
        return {}

    def values(self, game: Game, rng: np.random.Generator) -> np.ndarray:
        grand = game.grand()
        D = np.stack(self.deltas)
        a = np.asarray(self.weights)
        aggregate = (a[:, None] * D).sum(axis=0)
        norms = np.linalg.norm(D, axis=1) * np.linalg.norm(aggregate)
        cos = np.divide(D @ aggregate, norms, out=np.zeros(len(D)), where=norms > 0)
        score = a * np.maximum(cos, 0.0)
        if score.sum() <= 0:
            return np.zeros(game.n)
        return grand * score / score.sum()
