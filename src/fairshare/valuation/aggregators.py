"""Aggregators the consortium may deploy. Valuation values exactly the one deployed.

``fedavg`` is linear (zero-fill weighted mean of deltas) and valued through validation-logit deltas.
``trimmed_mean`` and ``median`` are coordinate-wise and non-linear: the game rebuilds each coalition's model
with absent members' deltas set to zero, which keeps a member who sends back the global model a null player.
They ignore the size weights (one member, one update), which is what makes them robust.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fairshare.errors import ValuationError

__all__ = ["AGGREGATORS", "median", "trimmed_mean"]

Params = list[np.ndarray]


def _stacked_deltas(global_params: Params, members: Sequence[Params], mask: np.ndarray, k: int) -> np.ndarray:
    return np.stack([(m[k] - global_params[k]) * on for m, on in zip(members, mask, strict=True)])


def median(global_params: Params, members: Sequence[Params], weights: np.ndarray, mask: np.ndarray) -> Params:
    return [
        g + np.median(_stacked_deltas(global_params, members, mask, k), axis=0) for k, g in enumerate(global_params)
    ]


def trimmed_mean(
    global_params: Params, members: Sequence[Params], weights: np.ndarray, mask: np.ndarray, trim: float = 0.2
) -> Params:
    out = []
    for k, g in enumerate(global_params):
        deltas = np.sort(_stacked_deltas(global_params, members, mask, k), axis=0)
        cut = int(np.floor(trim * len(members)))
        kept = deltas[cut : len(members) - cut] if len(members) - 2 * cut > 0 else deltas
        out.append(g + kept.mean(axis=0))
    return out


AGGREGATORS = {"fedavg": None, "median": median, "trimmed_mean": trimmed_mean}


def aggregator(name: str):
    if name not in AGGREGATORS:
        raise ValuationError(f"unknown aggregator {name!r}; expected one of {', '.join(AGGREGATORS)}")
    return AGGREGATORS[name]
