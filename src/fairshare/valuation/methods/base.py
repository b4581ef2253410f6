"""The interface every valuation method implements."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from fairshare.valuation.game import Game

__all__ = ["Method"]


class Method(Protocol):
    name: str

    @property
    def params(self) -> dict[str, object]:
        """Everything besides the seed needed to recompute the values; recorded with the round."""
        ...

    def values(self, game: Game, rng: np.random.Generator) -> np.ndarray:
        """One value per player, in ``game.players`` order, in utility units."""
        ...
