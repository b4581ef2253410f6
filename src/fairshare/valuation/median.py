"""Consensus over validators' scores: the two-sided weighted median, member by member.

The ScoreCommittee contract computes exactly this (integers, same tie rule); the coordinator proposes it, the
audit recomputes it, and the property tests pin the rules the payouts rely on:

- the *lower weighted median* of values ``s_v`` with weights ``w_v > 0`` is the first value, in ascending order,
  at which the cumulative weight reaches half the total (``2 * cum >= W``); 0 when there are no values;
- it always lies between the smallest and largest value;
- *two-sided*: a set of validators holding less than half the weight cannot move it outside the range of the
  others' values, whether they push a member up (inflate) or down (deflate to 0). Bittensor's clipping bounds
  only the upward push; a median bounds both;
- a validator that is also a member is left out of its own entry's median.

An *outlier* is a validator whose vector sits far from the medians, both absolutely and compared with its
peers: its L1 distance to them is more than ``threshold`` (0.5) times the L1 norm of the members' pay so far
(earlier scores plus these medians: see ``outliers``), and more than
``OUTLIER_RATIO`` (3) times the median distance of the other validators. The second condition keeps honest
validators, who measure on different rows, from being named when every value is small (late rounds, where the
honest disagreement alone is a large fraction of the medians). Outliers and missing reveals are named, not
punished: governance can remove a validator.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence

from fairshare.errors import ValuationError

__all__ = ["OUTLIER_RATIO", "OUTLIER_THRESHOLD", "committee_medians", "outliers", "weighted_median"]

OUTLIER_THRESHOLD = 0.5
OUTLIER_RATIO = 3.0


def weighted_median(values: Sequence[int], weights: Sequence[int]) -> int:
    """The lower weighted median of integer ``values`` (0 for none); ties in value keep their input order."""
    if len(values) != len(weights):
        raise ValuationError(f"{len(values)} values but {len(weights)} weights")
    if any(w <= 0 for w in weights):
        raise ValuationError("validator weights must be positive")
    if not values:
        return 0
    ordered = sorted(zip(values, weights, strict=True), key=lambda p: p[0])
    total = sum(weights)
    cumulative = 0
    for value, weight in ordered:
        cumulative += weight
        if 2 * cumulative >= total:
            return value
    return ordered[-1][0]  # unreachable with positive weights


def committee_medians(
    members: Sequence[str], reveals: Mapping[str, Sequence[int]], weights: Mapping[str, int]
) -> list[int]:
    """Per member (in ``members``' order), the weighted median of every revealed score but the member's own.

    ``reveals`` maps a validator's account to its vector (one score per member); a validator account equal to a
    member's account is that member, and its entry for itself does not count. Accounts compare case-insensitively.
    """
    for validator, scores in reveals.items():
        if len(scores) != len(members):
            raise ValuationError(f"validator {validator} revealed {len(scores)} scores for {len(members)} members")
    medians = []
    for j, member in enumerate(members):
        others = [(s[j], weights[v]) for v, s in reveals.items() if v.lower() != member.lower()]
        medians.append(weighted_median([v for v, _ in others], [w for _, w in others]))
    return medians


def outliers(
    reveals: Mapping[str, Sequence[int]],
    medians: Sequence[int],
    threshold: float = OUTLIER_THRESHOLD,
    paid: Sequence[int] | None = None,
) -> dict[str, float]:
    """Validators far from the medians (see the module's rule), with their distance as a fraction of
    |paid + medians|_1 (a zero vector counts as norm 1).

    ``paid`` is what each member was paid before the round (its earlier scores, summed): validators post what
    they hold a member has earned in total less that, so a vector carries the validator's whole cumulative
    disagreement, and it is measured against the members' cumulative pay, not against one late round's small
    medians (which would name an honest validator every round for one early disagreement)."""
    paid = paid if paid is not None else [0] * len(medians)
    norm = max(sum(abs(m) + abs(p) for m, p in zip(medians, paid, strict=True)), 1)
    distance = {
        v: sum(abs(s - m) for s, m in zip(scores, medians, strict=True)) / norm for v, scores in reveals.items()
    }
    far = {}
    for validator, d in distance.items():
        peers = [x for v, x in distance.items() if v != validator]
        typical = statistics.median(peers) if peers else 0.0
        if d > threshold and d > OUTLIER_RATIO * typical:
            far[validator] = d
    return far
