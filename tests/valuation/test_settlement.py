"""Settlement across rounds: nothing is paid on one lucky round, never more than net value, rebuilt from records."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fairshare.errors import ValuationError
from fairshare.valuation import Settlement, SettlementRule

HONEST = {
    "a": [0.30, 0.10, 0.05, 0.03, 0.02],
    "b": [0.20, 0.08, 0.04, 0.02, 0.015],
    "c": [0.25, 0.06, 0.05, 0.02, 0.02],
}


def settle_all(series: dict[str, list[float]], flags_at: dict[int, dict[str, str]] | None = None) -> list[dict]:
    settlement = Settlement()
    rounds = len(next(iter(series.values())))
    out = []
    for r in range(rounds):
        values = {m: v[r] for m, v in series.items()}
        out.append(settlement.settle(values, (flags_at or {}).get(r, {})).credited)
    return out


def test_round_one_alone_is_never_paid_and_honest_members_vest_with_their_net_value() -> None:
    credits = settle_all(HONEST)
    assert all(c == 0 for c in credits[0].values()) and all(c == 0 for c in credits[1].values())
    for member, values in HONEST.items():
        assert sum(r[member] for r in credits) == pytest.approx(sum(values))


def test_a_lucky_first_round_then_harm_is_paid_nothing() -> None:
    """The partial flipper: helps the untrained model once, harms after."""
    series = HONEST | {"flip": [0.06, -0.01, -0.02, -0.015, -0.02]}
    assert sum(r["flip"] for r in settle_all(series)) == 0


def test_a_free_rider_and_a_noise_sender_that_looks_consistent_by_chance_are_not_vested() -> None:
    noisy = {m: [v * (1 + 0.4 * (-1) ** k) for k, v in enumerate(values)] for m, values in HONEST.items()}
    series = noisy | {"zero": [0.0] * 5, "lucky": [0.012, 0.0042, 0.0026, 0.0015, 0.001]}
    credits = settle_all(series)
    assert sum(r["zero"] for r in credits) == 0
    assert sum(r["lucky"] for r in credits) == 0  # its relative values agree closely, but so little proves nothing
    assert all(sum(r[m] for r in credits) > 0 for m in HONEST)


def test_a_flagged_round_is_never_paid_but_its_harm_counts() -> None:
    credits = settle_all(HONEST, {3: {"a": "excluded: the model is better without it"}})
    assert credits[3]["a"] == 0
    assert sum(r["a"] for r in credits) == pytest.approx(sum(HONEST["a"]) - HONEST["a"][3])
    harmed = HONEST | {"a": [0.30, 0.10, 0.05, -0.2, 0.02]}
    credits = settle_all(harmed, {3: {"a": "harmful"}})
    assert credits[2]["a"] == pytest.approx(0.45)  # vested in round 3: never taken back
    assert credits[3]["a"] == 0 and credits[4]["a"] == 0  # nothing more until net value exceeds 0.45 again


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.floats(-1, 1, allow_nan=False), min_size=3, max_size=3), min_size=1, max_size=12))
def test_credits_are_never_negative_and_never_exceed_net_value(rounds: list[list[float]]) -> None:
    settlement = Settlement()
    net = dict.fromkeys("xyz", 0.0)
    paid = dict.fromkeys("xyz", 0.0)
    for values in rounds:
        round_values = dict(zip("xyz", values, strict=True))
        credited = settlement.settle(round_values, {}).credited
        for member, value in round_values.items():
            net[member] += value
            paid[member] += credited[member]
            assert credited[member] >= 0
            if credited[member] > 0:
                assert paid[member] <= net[member] + 1e-9


def test_restoring_recorded_rounds_continues_exactly() -> None:
    series = HONEST | {"flip": [0.06, -0.01, -0.02, -0.015, -0.02]}
    straight = settle_all(series)
    resumed = Settlement()
    for r in range(3):
        resumed.restore({m: v[r] for m, v in series.items()}, {}, straight[r])
    for r in range(3, 5):
        credited = resumed.settle({m: v[r] for m, v in series.items()}, {}).credited
        assert credited == pytest.approx(straight[r])


def test_bad_rules_and_values_are_refused() -> None:
    with pytest.raises(ValuationError, match="alpha"):
        SettlementRule(alpha=0.7)
    with pytest.raises(ValuationError, match="non-finite"):
        Settlement().settle({"a": math.nan}, {})
