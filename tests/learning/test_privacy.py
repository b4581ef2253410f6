"""Differential privacy through Flower's wrappers: updates clipped, noise on the release, budget per member."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from flwr.supercore.privacy_accounting import (
    GaussianPrivacyEvent,
    NeighboringRelation,
    PrivacyConfig,
    SamplingMethod,
)
from flwr.supercore.privacy_accounting.rdp_accountant import RdpAccountant

from fairshare.errors import LearningError
from fairshare.learning.logistic import LogisticRegression
from fairshare.learning.privacy import PrivacyBudget, PrivacySettings, member_noise_multipliers
from fairshare.learning.runner import FederationSpec, run_federation
from fairshare.learning.strategy import RoundUpdates, UpdateIdentity, fedavg
from fairshare.ledger.keystore import Keystore

MODEL = LogisticRegression(30, 2)
DOMAIN = "31337:0x00000000000000000000000000000000000000aa"


def _flower_epsilon(z: float, rounds: int, delta: float) -> float:
    config = PrivacyConfig(delta, 1, NeighboringRelation.ADD_OR_REMOVE_ONE, SamplingMethod.NO_AMPLIFICATION)
    accountant = RdpAccountant(config)
    accountant.compose(GaussianPrivacyEvent(z, 1, 1), count=rounds)
    return accountant.get_privacy_spent().epsilon


def test_a_member_of_average_weight_spends_what_flowers_accountant_says() -> None:
    settings = PrivacySettings("server", noise_multiplier=1.2, clipping_norm=1.0)
    budget = PrivacyBudget(settings.delta)
    weights = {"a": 0.25, "b": 0.5, "c": 0.25, "d": 0.0}
    for _ in range(5):
        budget.compose(member_noise_multipliers(settings, weights, members=4))
    assert budget.epsilon("a") == pytest.approx(_flower_epsilon(1.2 / (4 * 0.25), 5, 1e-5))
    assert budget.epsilon("b") > budget.epsilon("a") > 0  # twice the weight, half the noise relative to it
    assert budget.epsilon("d") == 0.0  # never released: nothing spent


@pytest.mark.parametrize("bad", [{"noise_multiplier": 0.0}, {"clipping_norm": -1.0}, {"delta": 1.0}])
def test_bad_privacy_settings_are_refused(bad) -> None:
    args = {"clipping": "server", "noise_multiplier": 1.0, "clipping_norm": 1.0, "delta": 1e-5}
    with pytest.raises(LearningError, match=next(iter(bad))):
        PrivacySettings(**{**args, **bad})


@pytest.fixture
def signed_members(federation, tmp_path: Path):
    members, test = federation
    keystore = Keystore(tmp_path / "keys")
    accounts = {m.name: keystore.create(m.name).address for m in members}
    members = [replace(m, key_path=keystore.path(m.name)) for m in members]
    return members, test, UpdateIdentity(DOMAIN, accounts)


@pytest.mark.parametrize("clipping", ["server", "client"])
def test_updates_are_clipped_signed_and_the_release_is_noised(signed_members, clipping) -> None:
    members, test, identity = signed_members
    norm = 0.05
    settings = PrivacySettings(clipping, noise_multiplier=1.0, clipping_norm=norm)
    aggregates, released = [], []

    def hook(updates: RoundUpdates):
        for u in updates.updates:
            delta = np.concatenate([(p - g).ravel() for p, g in zip(u.params, updates.global_params, strict=True)])
            assert np.linalg.norm(delta) <= norm * (1 + 1e-9)
        aggregates.append(fedavg(updates.global_params, updates.updates))
        assert updates.failures == ()  # client-side clipping happens before signing: signatures still hold
        assert len(updates.updates) == 5
        return aggregates[-1]

    spec = FederationSpec(MODEL, members, 2, 2, 0.1, 32, 0, test, identity=identity, privacy=settings)
    run_federation(spec, hook, released.append)
    for aggregate, result in zip(aggregates, released, strict=True):
        noise = np.concatenate([(r - a).ravel() for r, a in zip(result.params, aggregate, strict=True)])
        expected_std = 1.0 * norm / 5
        assert 0.5 * expected_std < noise.std() < 1.5 * expected_std  # 62 noise draws, std sigma*C/m
