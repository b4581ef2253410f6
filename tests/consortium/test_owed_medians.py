"""Validators post what they hold a member has earned in total less what it was paid: the medians then pay each
member the weighted median of the validators' cumulative credits, whichever round each validator vests it in."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fairshare.consortium.validators import still_owed
from fairshare.valuation.median import weighted_median

earned_paths = st.lists(st.integers(0, 10**6), min_size=4, max_size=4).map(lambda steps: list(_running(steps)))


def _running(steps: list[int]):
    total = 0
    for step in steps:
        total += step
        yield total


@settings(max_examples=200, deadline=None)
@given(
    paths=st.lists(earned_paths, min_size=1, max_size=5),
    weights=st.lists(st.integers(1, 5), min_size=5, max_size=5),
    vest=st.lists(st.integers(0, 3), min_size=5, max_size=5),
)
def test_the_medians_pay_the_median_of_cumulative_credits(paths, weights, vest) -> None:
    """Each validator's cumulative credit of one member is 0 until the round it vests the member, then grows;
    after every round the member's total pay equals the weighted median of those cumulative credits."""
    cumulative = [[0 if t < vest[v] else e for t, e in enumerate(path)] for v, path in enumerate(paths)]
    w = weights[: len(paths)]
    paid = 0
    for t in range(4):
        vectors = [still_owed([c[t]], [paid])[0] for c in cumulative]
        paid += weighted_median(vectors, w)
        assert paid == weighted_median([c[t] for c in cumulative], w)


def test_per_round_credits_would_lose_a_lump_vested_in_different_rounds() -> None:
    """Three equal validators vest a member in rounds 1, 2 and 3 (lumps 70, 75, 80, then +1 a round): the
    median of per-round credits pays 1 + 1; posting what is still owed pays the median cumulative credit, 76."""
    cumulative = [[70, 71, 72], [0, 75, 76], [0, 0, 80]]
    per_round = [[c[t] - (c[t - 1] if t else 0) for t in range(3)] for c in cumulative]
    assert sum(weighted_median([r[t] for r in per_round], [1, 1, 1]) for t in range(3)) == 2
    paid = 0
    for t in range(3):
        paid += weighted_median([still_owed([c[t]], [paid])[0] for c in cumulative], [1, 1, 1])
    assert paid == 76
