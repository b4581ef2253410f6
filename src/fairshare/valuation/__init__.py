"""Contribution measurement: per-round coalition games, the methods that value them, and shares."""

from fairshare.valuation.game import Game, Predictor, make_game
from fairshare.valuation.policy import NOISE_RULES, ValuationPolicy
from fairshare.valuation.replication import effective_sizes, record_fingerprints
from fairshare.valuation.rounds import METHODS, RoundValuation, ValuationConfig, value_round
from fairshare.valuation.settlement import SettledRound, Settlement, SettlementRule
from fairshare.valuation.shares import shares_from_values

__all__ = [
    "METHODS",
    "NOISE_RULES",
    "Game",
    "Predictor",
    "RoundValuation",
    "SettledRound",
    "Settlement",
    "SettlementRule",
    "ValuationConfig",
    "ValuationPolicy",
    "effective_sizes",
    "make_game",
    "record_fingerprints",
    "shares_from_values",
    "value_round",
]
