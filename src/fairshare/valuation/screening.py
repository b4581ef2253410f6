"""Checks an update must pass before it may reach the aggregate or the game.

A bad update flags its member with the reason and the round goes on without it: NaN/Inf, wrong number or
shapes of arrays, or a norm absurdly larger than the other members' (``max_norm_ratio`` times the median
update norm, or ``max_norm`` absolute) — the signature of a scaled or corrupted update.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["screen_updates"]

Params = list[np.ndarray]


def _norm(params: Params, global_params: Params) -> float:
    return float(np.sqrt(sum(float(((p - g) ** 2).sum()) for p, g in zip(params, global_params, strict=True))))


def screen_updates(
    global_params: Params,
    updates: Mapping[str, Params],
    max_norm_ratio: float = 20.0,
    max_norm: float | None = None,
) -> tuple[dict[str, Params], dict[str, str]]:
    """Split ``updates`` into (valid, {member: reason}) without modifying any array."""
    shapes = [tuple(g.shape) for g in global_params]
    valid: dict[str, Params] = {}
    flags: dict[str, str] = {}
    for member, params in updates.items():
        found = [tuple(np.shape(p)) for p in params]
        if found != shapes:
            flags[member] = f"invalid update: array shapes {found}, expected {shapes}"
        elif not all(np.isfinite(np.asarray(p, dtype=np.float64)).all() for p in params):
            flags[member] = "invalid update: contains NaN or Inf"
        else:
            valid[member] = [np.asarray(p, dtype=np.float64) for p in params]
    norms = {m: _norm(p, global_params) for m, p in valid.items()}
    positive = [v for v in norms.values() if v > 0]
    median = float(np.median(positive)) if positive else 0.0
    for member, norm in norms.items():
        too_big = max_norm is not None and norm > max_norm
        if len(positive) >= 3 and median > 0 and norm > max_norm_ratio * median:
            too_big = True
        if too_big:
            flags[member] = (
                f"invalid update: norm {norm:.3g} is over {max_norm_ratio:g}x the median member's {median:.3g}"
            )
            del valid[member]
    return valid, flags
