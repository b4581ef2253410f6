"""Valuing one round end to end: screen, weigh, build the game, value it, flag, aggregate what was valued.

``value_round`` is the only entry point the coordinator calls. The next global model it returns is the
grand coalition's model of the game it valued, so what members are paid for is exactly what is deployed.

Flagging: a member is flagged *harmful* when its value is negative this round and its value summed over
the whole run so far (``past_values`` plus this round) is not positive. A single negative round is not
enough to call a member harmful: a member whose rows shift the class mix pulls the model away from the
validation split in some rounds and can be worth the most over the run; a poisoner is negative from its
first round and stays negative in total. A member whose value is strongly negative this round (below
``-hold_out_threshold`` times the round's total |value|) while its net value is still positive is flagged
*held out*: the model is protected from a member that turns to poisoning after honest rounds, and what it
earned before stays its own. With ``drop_flagged`` a flagged
update is left out of the aggregate and the game is valued again without it, so the others are paid for
the model actually deployed. What a member is then paid is settled across rounds (``settlement``): value
vests only once its value series shows it helps, and never beyond its net value.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
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
from fairshare.valuation.policy import ValuationPolicy
from fairshare.valuation.screening import normalise_steps, screen_updates

__all__ = ["METHODS", "RoundValuation", "ValuationConfig", "choose_method", "value_round"]

METHODS = ("auto", "exact", "gtg", "loo", "banzhaf", "cosine", "mc", "perm")
STEPS = ("median", "as_sent")
AUTO_EXACT_MAX = 12
AUTO_GTG_MAX = 16
"""Beyond this, a share of 2^n coalitions is no budget at all: ``auto`` samples permutations' prefixes ("perm")."""

Params = list[np.ndarray]


@dataclass(frozen=True)
class ValuationConfig:
    method: str = "auto"
    utility: str = "calibrated_log_likelihood"
    seed: int = 0
    budget: float = 0.3
    truncation: float = 0.0
    banzhaf_samples: int = 512
    prefix_evaluations: int = 200_000
    """Coalitions the "perm" sampler evaluates per round (at 1,000 members: 100 antithetic permutation pairs)."""
    drop_flagged: bool = True
    noise_rule: str = "pay"
    """``pay`` or ``exclude`` a member the round's model would be better without (``policy``)."""
    hold_out_threshold: float = 0.1
    """An update whose value is below minus this fraction of the round's total |value| is held out of the
    aggregate (with ``drop_flagged``) even while its net value over the run is positive."""
    aggregator: str = "fedavg"
    max_norm_ratio: float = 20.0
    step: str = "median"
    """``median``: every update is rescaled to the round's median update norm before it is valued and
    aggregated (see ``screening.normalise_steps``); ``as_sent``: updates are used as members sent them."""

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValuationError(f"unknown valuation method {self.method!r}; expected one of {', '.join(METHODS)}")
        ValuationPolicy(self.drop_flagged, self.noise_rule)  # refuses an unknown noise rule
        if self.step not in STEPS:
            raise ValuationError(f"unknown step rule {self.step!r}; expected one of {', '.join(STEPS)}")


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
    loo: dict[str, float] = field(default_factory=dict)
    """Leave-one-out values ``v(N) - v(N - i)`` of the first pass (only under the ``exclude`` noise rule)."""


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
    step_norm: float | None
    loo: dict[str, float]


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
    step_norm = None
    if config.step == "median":
        members, step_norm = normalise_steps(global_params, members)
    game = make_game(model, global_params, members, sizes, X, y, config.utility, agg)
    players = game.players
    w = np.array([sizes[p] for p in players], dtype=np.float64)
    w /= w.sum()
    method = choose_method(config, len(players), [_flatten(members[p], global_params) for p in players], w)
    values = method.values(game, rng)
    loo = {}
    if config.noise_rule == "exclude" and len(players) > 1:
        masks = ~np.eye(len(players), dtype=bool)
        loo = dict(zip(players, (game.grand() - game.value(masks)).tolist(), strict=True))
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
        step_norm,
        loo,
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
    effective_sizes: Mapping[str, float] | Callable[[Collection[str]], Mapping[str, float]] | None = None,
    past_values: Mapping[str, float] | None = None,
) -> tuple[RoundValuation, Params]:
    """Value one round's updates; returns the valuation and the next global model.

    ``effective_sizes`` replace reported row counts as weights (see ``replication``); given as a function of
    the members in a pass, it is asked again when flagged members are dropped, so a dropped member's copies
    of another's rows no longer share that member's weight. ``past_values`` are each
    member's values summed over earlier rounds, used to flag persistent harm.
    """
    started = time.perf_counter()
    rng = np.random.default_rng([config.seed, round])
    valid, flags = screen_updates(global_params, updates, config.max_norm_ratio)
    sizes_for = effective_sizes if callable(effective_sizes) else (lambda _: effective_sizes or num_examples)
    sizes = sizes_for(list(valid))
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
    first_loo = dict(result.loo)
    past = past_values or {}
    harmful = {}
    total = sum(abs(v) for v in first_pass.values())
    for member, value in first_pass.items():
        net = past.get(member, 0.0) + value
        if value < 0 and net <= 0:
            harmful[member] = f"harmful: value {value:.4g} this round and {net:.4g} over all rounds so far"
        elif -value > config.hold_out_threshold * total > 0:
            harmful[member] = (
                f"held out: value {value:.4g} is {100 * -value / total:.0f}% of the round's total |value| "
                f"(its net value over the run, {net:.4g}, is still positive)"
            )
    for member, loo in result.loo.items():
        if member not in harmful and loo < 0:
            harmful[member] = f"excluded: this round's model is better without it (leave-one-out {loo:.4g})"
    flags.update(harmful)
    values.update(first_pass)
    weights.update(result.weights)
    deployed = result.deployed
    if harmful and config.drop_flagged:
        weights.update({m: 0.0 for m in harmful})
        kept = {m: p for m, p in valid.items() if m not in harmful}
        if kept:
            kept_sizes = sizes_for(list(kept))
            kept_size_of = {m: float(kept_sizes[m]) for m in kept}
            result = _value_pass(model, global_params, kept, kept_size_of, X_val, y_val, config, rng)
            evaluations += result.evaluations
            values.update(result.values)
            weights.update(result.weights)
            deployed = result.deployed
        else:
            deployed = [g.copy() for g in global_params]
    valuation = RoundValuation(
        round=round,
        method=result.method.name,
        params={
            **result.method.params,
            "utility": config.utility,
            "aggregator": config.aggregator,
            "step": config.step,
            "drop_flagged": config.drop_flagged,
            "noise_rule": config.noise_rule,
            **({} if result.step_norm is None else {"step_norm": float(f"{result.step_norm:.9g}")}),
        },
        seed=config.seed,
        values=values,
        flags=flags,
        weights=weights,
        evaluations=evaluations,
        seconds=time.perf_counter() - started,
        grand_value=sum(v for m, v in values.items() if weights.get(m, 0) > 0),
        first_pass=first_pass,
        loo=first_loo,
    )
    return valuation, deployed
