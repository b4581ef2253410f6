"""Differential privacy on the released model, with the budget accounted per member.

The mechanism is Flower's: ``DifferentialPrivacyServerSideFixedClipping`` (the coordinator clips each update to
``clipping_norm`` around the global model) or ``DifferentialPrivacyClientSideFixedClipping`` (each member's
node clips with ``fixedclipping_mod``), then Gaussian noise of standard deviation
``noise_multiplier * clipping_norm / m`` is added to the aggregate of the ``m`` members.

Flower's own accountant assumes every member weighs ``1/m``; ours weighs members by their rows (FedAvg), and a
member whose update is dropped weighs 0. A member with weight ``w`` moves the aggregate by at most
``w * clipping_norm``, so for that member the release is a Gaussian mechanism with noise multiplier
``noise_multiplier / (m * w)``: members with more rows than average spend their budget faster. Each member's
(epsilon, delta) is composed round by round with Flower's RDP accountant (add-or-remove-one member, no sampling
amplification: every member trains every round) from the weights actually used, which the round records keep.

What DP here does not cover: the coordinator sees each clipped update (it must, to value it), and the
per-round valuation scores on chain are computed from individual updates without noise.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
from flwr.app import Array, ArrayRecord, Message, MetricRecord
from flwr.serverapp.strategy import (
    DifferentialPrivacyClientSideFixedClipping,
    DifferentialPrivacyServerSideFixedClipping,
    Strategy,
)
from flwr.serverapp.strategy.dp_fixed_clipping import validate_replies
from flwr.supercore.differential_privacy import compute_clip_model_update, get_norm
from flwr.supercore.privacy_accounting import (
    GaussianPrivacyEvent,
    NeighboringRelation,
    PrivacyConfig,
    SamplingMethod,
)
from flwr.supercore.privacy_accounting.rdp_accountant import RdpAccountant

from fairshare.errors import LearningError
from fairshare.learning.model import Params

__all__ = ["PrivacyBudget", "PrivacySettings", "clip_update", "dp_strategy", "member_noise_multipliers"]


@dataclass(frozen=True)
class PrivacySettings:
    clipping: Literal["server", "client"]
    noise_multiplier: float
    clipping_norm: float
    delta: float = 1e-5

    def __post_init__(self) -> None:
        if not (self.noise_multiplier > 0 and math.isfinite(self.noise_multiplier)):
            raise LearningError(f"privacy noise_multiplier must be a positive number, got {self.noise_multiplier}")
        if not (self.clipping_norm > 0 and math.isfinite(self.clipping_norm)):
            raise LearningError(f"privacy clipping_norm must be a positive number, got {self.clipping_norm}")
        if not 0 < self.delta < 1:
            raise LearningError(f"privacy delta must be between 0 and 1, got {self.delta}")


def clip_update(params: Params, global_params: Params, clipping_norm: float) -> Params:
    """``params`` moved back towards ``global_params`` so the update's L2 norm is at most ``clipping_norm``.

    Flower's clipping divides by the update's norm, so an update equal to the global model (a free-rider's)
    raised ZeroDivisionError and took the round down; a zero update needs no clipping.
    """
    clipped = [np.array(p, dtype=np.float64, copy=True) for p in params]
    if get_norm([c - g for c, g in zip(clipped, global_params, strict=True)]) > 0:
        compute_clip_model_update(clipped, global_params, clipping_norm)
    return clipped


class _ServerSideClipping(DifferentialPrivacyServerSideFixedClipping):
    """Flower's server-side wrapper with ``clip_update`` as its clipping (the rest is the wrapper's own)."""

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        replies = list(replies)
        if not validate_replies(replies, self.num_sampled_clients):
            return None, None
        current = self.current_arrays.to_numpy_ndarrays()
        for reply in replies:
            record = reply.content["arrays"]
            clipped = clip_update(record.to_numpy_ndarrays(), current, self.clipping_norm)
            reply.content["arrays"] = ArrayRecord(dict(zip(record.keys(), map(Array, clipped), strict=True)))
        arrays, metrics = self.strategy.aggregate_train(server_round, replies)
        if arrays is not None:
            arrays = self._add_noise_to_aggregated_arrays(arrays)
        return arrays, metrics


def dp_strategy(inner: Strategy, settings: PrivacySettings, members: int) -> Strategy:
    """Flower's DP wrapper around ``inner``; the noise is calibrated to ``members`` updates."""
    wrapper = _ServerSideClipping if settings.clipping == "server" else DifferentialPrivacyClientSideFixedClipping
    return wrapper(inner, settings.noise_multiplier, settings.clipping_norm, members)


def member_noise_multipliers(settings: PrivacySettings, weights: Mapping[str, float], members: int) -> dict[str, float]:
    """Each member's effective noise multiplier this round; members that weighed nothing are left out."""
    return {m: settings.noise_multiplier / (members * w) for m, w in weights.items() if w > 0}


class PrivacyBudget:
    """Cumulative (epsilon, delta) per member, composed from each round's effective noise multipliers."""

    def __init__(self, delta: float) -> None:
        self.delta = delta
        self._accountants: dict[str, RdpAccountant] = {}

    def compose(self, multipliers: Mapping[str, float]) -> None:
        for member, z in multipliers.items():
            if member not in self._accountants:
                config = PrivacyConfig(
                    target_delta=self.delta,
                    population_size=1,
                    neighboring_relation=NeighboringRelation.ADD_OR_REMOVE_ONE,
                    sampling_method=SamplingMethod.NO_AMPLIFICATION,
                )
                self._accountants[member] = RdpAccountant(config)
            self._accountants[member].compose(GaussianPrivacyEvent(z, 1, 1))

    def epsilon(self, member: str) -> float:
        """0.0 for a member none of whose updates was ever released."""
        accountant = self._accountants.get(member)
        return 0.0 if accountant is None else float(accountant.get_privacy_spent().epsilon)

    def epsilons(self) -> dict[str, float]:
        return {m: self.epsilon(m) for m in sorted(self._accountants)}
