"""Valuing one round end to end: screen, weigh, build the game, value it, flag, aggregate what was valued.

``value_round`` is the only entry point the coordinator calls. The next global model it returns is the
grand coalition's model of the game it valued, so what members are paid for is exactly what is deployed.

Flagging: a member is flagged *harmful* when its value is negative and either clearly so this round (below
``-harm_threshold`` times the round's total absolute value, default 10%) or its value summed over all rounds
so far (``past_values``) is negative too. Honest members on skewed data dip slightly below zero in late
rounds; a poisoner is strongly negative at once and stays negative in total. With ``drop_flagged`` a flagged
update is left out of the aggregate and the game is valued again without it, so the others are paid for
the model actually deployed. A member whose value is positive this round but whose net value over all rounds
so far is not (the signature of random updates that sometimes help by chance) is flagged *unpaid*: its update
stays in the aggregate, but it earns no shares until its net contribution is positive.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from fairshare.errors import ValuationError
from fairshare.valuation.aggregators import aggregator as get_aggregator
from fairshare.valuation.game import Predictor, make_game
from fairshare.valuation.methods import (
    CosineToAggregate,
    ExactBanzhaf,
    ExactLeaveOneOut,
    ExactShapley,
    MaximumSampleReuseBanzhaf,
    Method,
    PermutationShapley,
    PrefixPermutationShapley,
)
from fairshare.valuation.screening import screen_updates

__all__ = ["METHODS", "RoundValuation", "ValuationConfig", "choose_method", "value_round"]

METHODS = ("auto", "exact", "gtg", "loo", "banzhaf", "cosine", "mc", "perm")
AUTO_EXACT_MAX = 12
AUTO_GTG_MAX = 16
"""Beyond this, a share of 2^n coalitions is no budget at all: ``auto`` samples permutations' prefixes ("perm")."""

Params = list[np.ndarray]


@dataclass(frozen=True)
class ValuationConfig:
    method: str = "auto"
    utility: str = "log_likelihood"
    seed: int = 0
    budget: float = 0.3
    truncation: float = 0.0
    banzhaf_samples: int = 512
    prefix_evaluations: int = 200_000
    """Coalitions the "perm" sampler evaluates per round (at 1,000 members: 100 antithetic permutation pairs)."""
    drop_flagged: bool = True
    harm_threshold: float = 0.1
    aggregator: str = "fedavg"
    max_norm_ratio: float = 20.0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValuationError(f"unknown valuation method {self.method!r}; expected one of {', '.join(METHODS)}")


@dataclass(frozen=True)
class RoundValuation:
    round: int
    method: str
    params: dict[str, object]
    seed: int
    values: dict[str, float]
    flags: dict[str, str]
    weights: dict[str, float]
    evaluations: int
    seconds: float
    grand_value: float = 0.0
    first_pass: dict[str, float] = field(default_factory=dict)


def choose_method(config: ValuationConfig, n: int, deltas: list[np.ndarray], weights: np.ndarray) -> Method:
    """The configured method; ``auto`` is exact Shapley up to 12 members, stratified sampling up to 16, and
    antithetic permutation-prefix sampling beyond (hundreds or thousands of members)."""
    name = config.method
    if name == "auto":
        name = "exact" if n <= AUTO_EXACT_MAX else "gtg" if n <= AUTO_GTG_MAX else "perm"
    if name == "perm":
        return PrefixPermutationShapley(evaluations=config.prefix_evaluations)
    if name == "exact":
        return ExactShapley()
    if name == "gtg":
        return PermutationShapley(budget=config.budget, truncation=config.truncation)
    if name == "mc":
        return PermutationShapley(name="mc", budget=config.budget, stratified=False, antithetic=False)
    if name == "loo":
        return ExactLeaveOneOut()
    if name == "banzhaf":
        return ExactBanzhaf() if n <= AUTO_EXACT_MAX else MaximumSampleReuseBanzhaf(samples=config.banzhaf_samples)
    return CosineToAggregate(tuple(deltas), tuple(weights.tolist()))


@dataclass(frozen=True)
class _Pass:
    """One valuation of one set of players, and the aggregate the game's grand coalition deploys."""

    method: Method
    values: dict[str, float]
    weights: dict[str, float]
    evaluations: int
    deployed: Params


def _flatten(params: Params, global_params: Params) -> np.ndarray:
    return np.concatenate([(p - g).ravel() for p, g in zip(params, global_params, strict=True)])


def _value_pass(
    model: Predictor,
    global_params: Params,
    members: Mapping[str, Params],
    sizes: Mapping[str, float],
    X: np.ndarray,
    y: np.ndarray,
    config: ValuationConfig,
    rng: np.random.Generator,
) -> _Pass:
    agg = get_aggregator(config.aggregator)
    game = make_game(model, global_params, members, sizes, X, y, config.utility, agg)
    players = game.players
    w = np.array([sizes[p] for p in players], dtype=np.float64)
    w /= w.sum()
    method = choose_method(config, len(players), [_flatten(members[p], global_params) for p in players], w)
    values = method.values(game, rng)
    mask = np.ones(len(players), dtype=bool)
    if agg is None:
        deployed = [
            g + sum(wi * (members[p][k] - g) for p, wi in zip(players, w, strict=True))
            for k, g in enumerate(global_params)
        ]
    else:
        deployed = agg(global_params, [members[p] for p in players], w, mask)
    return _Pass(
        method,
        dict(zip(players, values.tolist(), strict=True)),
        dict(zip(players, w.tolist(), strict=True)),
        game.evaluations,
        deployed,
    )


def value_round(
    model: Predictor,
    round: int,
    global_params: Params,
    updates: Mapping[str, Params],
    num_examples: Mapping[str, int],
    X_val: np.ndarray,
    y_val: np.ndarray,
    config: ValuationConfig,
    effective_sizes: Mapping[str, float] | None = None,
    past_values: Mapping[str, float] | None = None,
) -> tuple[RoundValuation, Params]:
    """Value one round's updates; returns the valuation and the next global model.

    ``effective_sizes`` replace reported row counts as weights (see ``replication``); ``past_values`` are each
    member's values summed over earlier rounds, used to flag persistent harm.
    """
    started = time.perf_counter()
    rng = np.random.default_rng([config.seed, round])
    valid, flags = screen_updates(global_params, updates, config.max_norm_ratio)
    sizes = effective_sizes if effective_sizes is not None else num_examples
    for member in list(valid):
        if sizes.get(member, 0) <= 0:
            reported, effective = num_examples.get(member, 0), sizes.get(member, 0)
            flags[member] = f"no usable rows (reported {reported}, effective {effective:.1f})"
            del valid[member]
    values: dict[str, float] = {m: 0.0 for m in updates}
    weights: dict[str, float] = {m: 0.0 for m in updates}
    if not valid:
        empty = RoundValuation(round, "none", {}, config.seed, values, flags, weights, 0, time.perf_counter() - started)
        return empty, [g.copy() for g in global_params]
    size_of = {m: float(sizes[m]) for m in valid}
    result = _value_pass(model, global_params, valid, size_of, X_val, y_val, config, rng)
    evaluations = result.evaluations
    first_pass = dict(result.values)
    total = sum(abs(v) for v in first_pass.values())
    past = past_values or {}
    harmful = {}
    for member, value in first_pass.items():
        if value >= 0 or total <= 0:
            continue
        if -value > config.harm_threshold * total:
            harmful[member] = f"harmful: value {value:.4g} is {100 * -value / total:.0f}% of the round's total |value|"
        elif past.get(member, 0.0) + value < 0 and member in past:
            harmful[member] = f"harmful: value {value:.4g} and {past[member] + value:.4g} over all rounds so far"
    flags.update(harmful)
    values.update(first_pass)
    weights.update(result.weights)
    deployed = result.deployed
    if harmful and config.drop_flagged:
        weights.update({m: 0.0 for m in harmful})
        kept = {m: p for m, p in valid.items() if m not in harmful}
        if kept:
            result = _value_pass(model, global_params, kept, {m: size_of[m] for m in kept}, X_val, y_val, config, rng)
            evaluations += result.evaluations
            values.update(result.values)
            weights.update(result.weights)
            deployed = result.deployed
        else:
            deployed = [g.copy() for g in global_params]
    for member, value in values.items():
        net = past.get(member, 0.0) + value
        if member not in flags and value > 0 and member in past and net <= 0:
            flags[member] = f"unpaid: net value {net:.4g} over all rounds so far is not positive"
    valuation = RoundValuation(
        round=round,
        method=result.method.name,
        params={**result.method.params, "utility": config.utility, "aggregator": config.aggregator},
        seed=config.seed,
        values=values,
        flags=flags,
        weights=weights,
        evaluations=evaluations,
        seconds=time.perf_counter() - started,
        grand_value=sum(v for m, v in values.items() if weights.get(m, 0) > 0),
        first_pass=first_pass,
    )
    return valuation, deployed
