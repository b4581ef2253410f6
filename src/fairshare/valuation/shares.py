"""From measured values to the integer shares minted on chain for a round.

Rule: a flagged member gets 0; a member with value ``v <= 0`` gets 0 (it did not help); otherwise
``floor(v * scale)`` shares, ``v`` in utility units (nats of validation log-likelihood gained). Shares thus
measure utility actually contributed, so a round that improved the model a lot mints more than one that
barely moved it, and revenue is split over all rounds by total contributed utility.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from fairshare.errors import ValuationError

__all__ = ["shares_from_values"]


def shares_from_values(values: Mapping[str, float], flags: Mapping[str, str], scale: int) -> dict[str, int]:
    if scale <= 0:
        raise ValuationError(f"share scale must be a positive integer; got {scale}")
    shares = {}
    for member, value in values.items():
        if not math.isfinite(value):
            raise ValuationError(f"member {member!r} has a non-finite value {value}")
        shares[member] = 0 if member in flags or value <= 0 else math.floor(value * scale)
    return shares
