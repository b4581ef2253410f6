"""Checks an update must pass before it may reach the aggregate or the game.

A bad update flags its member with the reason and the round goes on without it: NaN/Inf, wrong number or
shapes of arrays, or a norm absurdly larger than the other members' (``max_norm_ratio`` times the median
update norm, or ``max_norm`` absolute) — the signature of a scaled or corrupted update.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["normalise_steps", "screen_updates", "update_norm"]

Params = list[np.ndarray]


def update_norm(params: Params, global_params: Params) -> float:
    """Euclidean norm of the update ``params - global_params`` over all arrays."""
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
    norms = {m: update_norm(p, global_params) for m, p in valid.items()}
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


def normalise_steps(global_params: Params, updates: Mapping[str, Params]) -> tuple[dict[str, Params], float]:
    """Every non-zero update rescaled to the round's median update norm; returns them and that norm.

    What a member adds is its direction; its weight in the aggregate is its (de-duplicated) record count. The
    length of its step is not its to choose: scaling an update by k, or training more steps on repeated
    rows, changes the norm and nothing else, and is undone here, so neither pays. A zero update (a
    free-rider) stays zero and stays a null player. The median is over the non-zero updates, so one
    member cannot move it far.
    """
    norms = {m: update_norm(p, global_params) for m, p in updates.items()}
    positive = [v for v in norms.values() if v > 0]
    if not positive:
        return dict(updates), 0.0
    target = float(np.median(positive))
    out = {}
    for member, params in updates.items():
        factor = target / norms[member] if norms[member] > 0 else 1.0
        out[member] = [g + (p - g) * factor for p, g in zip(params, global_params, strict=True)]
    return out, target
