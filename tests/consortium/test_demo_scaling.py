"""How the demo scales a consortium file to a thousand members: dataset, voting period, payout mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from fairshare.config import load_config, with_members
from fairshare.consortium.demo import ACCUMULATOR_MAX_MEMBERS, scaled_for, uses_roots
from fairshare.consortium.governing import votes_needed
from fairshare.errors import ConfigError
from fairshare.governance import Rules

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "healthcare.toml"


def test_a_small_consortium_keeps_its_file() -> None:
    config = load_config(EXAMPLE)
    scaled, notes = scaled_for(config)
    assert scaled == config and notes == []
    assert not uses_roots(config)


def test_a_thousand_members_get_generated_rows_a_long_enough_vote_and_roots() -> None:
    config = with_members(load_config(EXAMPLE), 1000)
    scaled, notes = scaled_for(config)
    assert scaled.data.dataset == "synthetic" and scaled.governance.voting_period_blocks >= 1000
    assert len(notes) == 2 and "cannot give 1,000 members 8 each" in notes[0]
    assert uses_roots(scaled)
    forced = scaled.model_copy(update={"revenue": scaled.revenue.model_copy(update={"payout": "accumulator"})})
    with pytest.raises(ConfigError, match=f"takes at most {ACCUMULATOR_MAX_MEMBERS} members"):
        uses_roots(forced)


@pytest.mark.parametrize(
    ("members", "role_change", "needed"), [(5, False, 3), (5, True, 4), (1000, False, 500), (1000, True, 667)]
)
def test_votes_needed_is_the_fewest_that_pass(members: int, role_change: bool, needed: int) -> None:
    rules = Rules(0, 5000, 5000, 6667, 1010, 2, 10, 1000)
    assert votes_needed(rules, members, role_change) == needed
