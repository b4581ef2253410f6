"""The governed valuation policy as the Governor stores it."""

import pytest

from fairshare.errors import ValuationError
from fairshare.valuation import ValuationConfig, ValuationPolicy


def test_policy_round_trips_through_its_on_chain_text() -> None:
    policy = ValuationPolicy(drop_flagged=False, noise_rule="exclude")
    assert policy.to_text() == '{"drop_flagged":false,"noise_rule":"exclude"}'
    assert ValuationPolicy.from_text(policy.to_text()) == policy
    assert len(policy.to_text().encode()) <= 256


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("use method gtg", "not JSON"),
        ("[1]", "not a JSON object"),
        ('{"drop_flagged": true, "pay_more": 1}', "unknown keys ['pay_more']"),
        ('{"noise_rule": "maybe"}', "noise_rule must be one of pay, exclude"),
        ('{"drop_flagged": "yes"}', "drop_flagged must be true or false"),
    ],
)
def test_text_that_is_not_a_policy_is_refused(text: str, message: str) -> None:
    with pytest.raises(ValuationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        ValuationPolicy.from_text(text)


def test_an_unknown_noise_rule_is_refused_by_the_config() -> None:
    with pytest.raises(ValuationError, match="noise_rule"):
        ValuationConfig(noise_rule="sometimes")
