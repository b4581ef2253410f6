"""Valuation methods: each turns a round's ``Game`` into one value per player, through one interface.

A method is a small object with a ``name``, its ``params`` (recorded on chain so anyone can recompute the
values with the same seed) and ``values(game, rng) -> np.ndarray`` in the order of ``game.players``.
"""

from fairshare.valuation.methods.base import Method
from fairshare.valuation.methods.cosine import CosineToAggregate
from fairshare.valuation.methods.exact import ExactBanzhaf, ExactLeaveOneOut, ExactShapley, coalition_table
from fairshare.valuation.methods.sampling import (
    MaximumSampleReuseBanzhaf,
    PermutationShapley,
    PrefixPermutationShapley,
)

__all__ = [
    "CosineToAggregate",
    "ExactBanzhaf",
    "ExactLeaveOneOut",
    "ExactShapley",
    "MaximumSampleReuseBanzhaf",
    "Method",
    "PermutationShapley",
    "PrefixPermutationShapley",
    "coalition_table",
]
