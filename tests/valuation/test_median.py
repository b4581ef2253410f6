"""The weighted median the committee pays by: its bounds and its two-sided robustness, as properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fairshare.errors import ValuationError
from fairshare.valuation.median import committee_medians, outliers, weighted_median

values = st.integers(-(10**15), 10**15)
weights = st.integers(1, 1000)


@given(st.lists(st.tuples(values, weights), min_size=1, max_size=16))
def test_the_median_is_one_of_the_values_and_within_their_range(pairs) -> None:
    v, w = [p[0] for p in pairs], [p[1] for p in pairs]
    m = weighted_median(v, w)
    assert m in v and min(v) <= m <= max(v)
    assert 2 * sum(wi for vi, wi in pairs if vi <= m) >= sum(w)  # at least half the weight at or below it
    assert 2 * sum(wi for vi, wi in pairs if vi < m) < sum(w)  # and less than half strictly below


@given(
    honest=st.lists(st.tuples(values, weights), min_size=1, max_size=8),
    liars=st.lists(st.tuples(values, weights), min_size=0, max_size=8),
)
def test_a_minority_can_neither_inflate_nor_deflate_beyond_the_honest_range(honest, liars) -> None:
    """Two-sided: whatever values validators holding less than half the weight report, up or down."""
    honest_weight = sum(w for _, w in honest)
    liars = [(v, w) for v, w in liars]
    while liars and 2 * sum(w for _, w in liars) >= honest_weight + sum(w for _, w in liars):
        liars.pop()
    pairs = honest + liars
    m = weighted_median([p[0] for p in pairs], [p[1] for p in pairs])
    assert min(v for v, _ in honest) <= m <= max(v for v, _ in honest)


@given(st.lists(values, min_size=3, max_size=3), values)
def test_a_member_validator_has_no_say_over_its_own_entry(scores, own) -> None:
    members = ["0xA", "0xB", "0xC"]
    honest = {"0x1": scores, "0x2": scores}
    selfish = list(scores)
    selfish[0] = own
    medians = committee_medians(members, {**honest, "0xa": selfish}, {"0x1": 1, "0x2": 1, "0xa": 5})
    assert medians[0] == scores[0]  # 0xa is member 0xA (case-insensitive): its weight-5 vote does not count there


def test_no_values_give_zero_and_bad_weights_are_refused() -> None:
    assert weighted_median([], []) == 0
    assert weighted_median([5, 1], [1, 1]) == 1  # an exact half goes to the lower value
    with pytest.raises(ValuationError, match="weights must be positive"):
        weighted_median([1], [0])
    with pytest.raises(ValuationError, match="2 values but 1 weights"):
        weighted_median([1, 2], [1])
    with pytest.raises(ValuationError, match="revealed 2 scores for 3 members"):
        committee_medians(["a", "b", "c"], {"v": [1, 2]}, {"v": 1})


def test_a_vector_far_from_the_medians_is_an_outlier() -> None:
    far = outliers({"honest": [100, 200], "greedy": [1000, 200]}, [100, 200])
    assert set(far) == {"greedy"} and far["greedy"] == pytest.approx(3.0)


def test_honest_disagreement_on_small_values_names_nobody() -> None:
    """Late rounds: every value is small, so honest noise alone is a large fraction of the medians."""
    medians = [10, 20, 30]
    honest = {"a": [10, 20, 30], "b": [30, 5, 45], "c": [0, 40, 20]}  # each 0.0-1.2 x |medians| away
    assert outliers(honest, medians) == {}
    assert set(outliers({**honest, "greedy": [600, 20, 30]}, medians)) == {"greedy"}


def test_a_cumulative_disagreement_is_measured_against_what_members_were_paid() -> None:
    """Validators post earned-so-far less paid: one that holds a member earned 40 more than the others keeps
    posting that gap every round. Against one late round's medians (norm 10) it is 4x away; against what the
    members were paid (1000) it is 4%, an honest difference of measurement. A liar is named either way."""
    medians, paid = [5, 5], [500, 500]
    reveals = {"a": [5, 5], "b": [5, 5], "generous": [45, 5]}
    assert set(outliers(reveals, medians)) == {"generous"}
    assert outliers(reveals, medians, paid=paid) == {}
    liar = {**reveals, "liar": [4500, 5]}  # holds member 0 earned 10x what it was paid
    assert set(outliers(liar, medians, paid=paid)) == {"liar"}
