"""The calibrated utility: class offsets refitted, so a member's pull on the class prior is worth nothing."""

import numpy as np
import pytest

from fairshare.learning.data import Standardizer, holdout, load_builtin, partition
from fairshare.learning.logistic import LogisticRegression
from fairshare.valuation import make_game
from fairshare.valuation.calibration import calibrated_log_likelihood, class_offsets
from fairshare.valuation.game import log_likelihood
from fairshare.valuation.methods import ExactShapley


@pytest.mark.parametrize(("classes", "scale"), [(2, 1.0), (3, 5.0), (10, 3.0)])
def test_refitted_offsets_match_the_label_frequencies(classes: int, scale: float) -> None:
    rng = np.random.default_rng(classes)
    logits = rng.normal(0, scale, (4, 80, classes)) + rng.normal(0, scale, classes)
    y = np.broadcast_to(rng.integers(0, classes, 80), (4, 80))
    offsets = class_offsets(logits, y)
    shifted = logits + offsets[:, None, :]
    probs = np.exp(shifted - shifted.max(axis=-1, keepdims=True))
    probs /= probs.sum(axis=-1, keepdims=True)
    freq = np.bincount(y[0], minlength=classes) / 80
    assert np.allclose(probs.mean(axis=1), freq, atol=1e-8)
    # the optimum: no other offset does better
    for _ in range(5):
        nudged = logits + (offsets + rng.normal(0, 0.05, offsets.shape))[:, None, :]
        assert (log_likelihood(nudged, y) <= log_likelihood(shifted, y) + 1e-12).all()


@pytest.fixture(scope="module")
def skewed_round():
    pool, val, _ = holdout(load_builtin("breast_cancer"), 0.2, 0.2, seed=7)
    scaler = Standardizer.fit(val)
    parts = [scaler.transform(p) for p in partition(pool, [3, 2, 2, 1], 0.3, seed=3)]
    model = LogisticRegression(30, 2)
    start = model.init_params()
    rng = np.random.default_rng(0)
    members = {
        f"m{k}": model.fit_local(start, p.X, p.y, epochs=2, learning_rate=0.1, batch_size=32, rng=rng)
        for k, p in enumerate(parts)
    }
    return model, start, members, {m: 1.0 for m in members}, scaler.transform(val)


def test_a_pure_prior_shift_is_worth_nothing(skewed_round) -> None:
    """An update that only moves the intercept (towards its own class mix) earns and costs nothing."""
    model, start, members, weights, val = skewed_round
    members = dict(members) | {"prior": [start[0].copy(), start[1] + np.array([0.0, 1.5])]}
    weights = weights | {"prior": 1.0}
    calibrated = make_game(model, start, members, weights, val.X, val.y)
    plain = make_game(model, start, members, weights, val.X, val.y, utility="log_likelihood")
    index = calibrated.players.index("prior")
    assert ExactShapley().values(calibrated, None)[index] == pytest.approx(0.0, abs=1e-9)
    assert abs(ExactShapley().values(plain, None)[index]) > 1e-3


def test_the_fast_path_matches_refitting_every_coalition(skewed_round) -> None:
    """Linear models value the calibrated game from per-member logit changes (first order in the offsets);
    the same game with every coalition's offsets refitted exactly gives the same values to within 2%."""
    model, start, members, weights, val = skewed_round
    fast = ExactShapley().values(make_game(model, start, members, weights, val.X, val.y), None)

    class Opaque:  # the same model seen as non-linear: every coalition is rebuilt and refitted
        linear_in_params = False
        logits = staticmethod(model.logits)

    exact = ExactShapley().values(make_game(Opaque(), start, members, weights, val.X, val.y), None)
    assert np.abs(fast - exact).max() <= 0.02 * np.abs(exact).sum()
    assert np.argsort(fast).tolist() == np.argsort(exact).tolist()


def test_calibrated_utility_is_the_log_likelihood_of_the_refitted_model() -> None:
    rng = np.random.default_rng(1)
    logits, y = rng.normal(size=(50, 3)), rng.integers(0, 3, 50)
    refitted = logits + class_offsets(logits, y)
    assert calibrated_log_likelihood(logits, y) == pytest.approx(log_likelihood(refitted, y))
    assert calibrated_log_likelihood(logits, y) >= log_likelihood(logits, y)
