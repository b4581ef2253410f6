"""Methods on games with known values, and the Shapley axioms on random games."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fairshare.valuation.game import Game
from fairshare.valuation.methods import (
    CosineToAggregate,
    ExactBanzhaf,
    ExactLeaveOneOut,
    ExactShapley,
    MaximumSampleReuseBanzhaf,
    PermutationShapley,
    PrefixPermutationShapley,
)

RNG = np.random.default_rng(0)


def quadratic_game(a: np.ndarray, b: np.ndarray) -> Game:
    """v(S) = sum_{i in S} a_i + sum_{i<j in S} b_ij: Shapley value a_i + sum_j b_ij / 2."""
    upper = np.triu(b, 1)

    def evaluate(masks: np.ndarray) -> np.ndarray:
        m = masks.astype(float)
        return m @ a + np.einsum("ki,ij,kj->k", m, upper, m)

    return Game(tuple(f"p{i}" for i in range(len(a))), evaluate, 0.0)


def quadratic_shapley(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    sym = np.triu(b, 1) + np.triu(b, 1).T
    return a + sym.sum(axis=1) / 2


def unanimity_game(n: int, carriers: set[int]) -> Game:
    def evaluate(masks: np.ndarray) -> np.ndarray:
        return masks[:, sorted(carriers)].all(axis=1).astype(float)

    return Game(tuple(f"p{i}" for i in range(n)), evaluate, 0.0)


def test_unanimity_game_splits_equally_among_carriers() -> None:
    values = ExactShapley().values(unanimity_game(5, {1, 3}), RNG)
    assert np.allclose(values, [0, 0.5, 0, 0.5, 0])


def test_banzhaf_and_loo_on_unanimity() -> None:
    game = unanimity_game(4, {0, 1})
    assert np.allclose(ExactBanzhaf().values(game, RNG), [0.5, 0.5, 0, 0])
    assert np.allclose(ExactLeaveOneOut().values(game, RNG), [1, 1, 0, 0])


def test_exact_shapley_matches_brute_force_permutations() -> None:
    a, b = RNG.normal(size=4), RNG.normal(size=(4, 4))
    game = quadratic_game(a, b)
    brute = np.zeros(4)
    for perm in itertools.permutations(range(4)):
        mask = np.zeros(4, dtype=bool)
        prev = 0.0
        for i in perm:
            mask[i] = True
            now = float(game.value(mask[None])[0])
            brute[i] += now - prev
            prev = now
    assert np.allclose(ExactShapley().values(game, RNG), brute / 24)


games = st.integers(min_value=2, max_value=7).flatmap(
    lambda n: st.tuples(
        st.lists(st.floats(-1, 1), min_size=n, max_size=n),
        st.lists(st.floats(-1, 1), min_size=n * n, max_size=n * n),
    )
)


@settings(max_examples=60, deadline=None)
@given(games)
def test_shapley_axioms_on_random_games(spec) -> None:
    a, flat = np.array(spec[0]), np.array(spec[1])
    n = len(a)
    b = flat.reshape(n, n)
    a[0] = 0.0
    b[0, :] = b[:, 0] = 0.0  # player 0 is a null player
    if n > 2:  # make players 1 and 2 interchangeable
        b[2, :], a[2] = b[1, :], a[1]
        b[:, 2] = b[:, 1]
        b[1, 2] = b[2, 1] = b[1, 1]
    game = quadratic_game(a, b)
    values = ExactShapley().values(game, RNG)
    assert values.sum() == pytest.approx(game.grand(), abs=1e-9)  # efficiency
    assert values[0] == pytest.approx(0.0, abs=1e-9)  # null player
    if n > 2:
        assert values[1] == pytest.approx(values[2], abs=1e-9)  # symmetry
    assert np.allclose(values, quadratic_shapley(a, b), atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(games, st.integers(0, 2**31))
def test_antithetic_permutations_are_exact_on_quadratic_games(spec, seed) -> None:
    a, flat = np.array(spec[0]), np.array(spec[1])
    b = flat.reshape(len(a), len(a))
    # round_tolerance 0: a round whose v(N) is ~0 is otherwise split equally by design (between-round truncation)
    method = PermutationShapley(budget=1.0, round_tolerance=0.0)
    estimate = method.values(quadratic_game(a, b), np.random.default_rng(seed))
    assert np.allclose(estimate, quadratic_shapley(a, b), atol=1e-9)


def test_sampling_respects_its_budget_and_approximates_nonquadratic_games() -> None:
    n = 10
    weights = RNG.uniform(0.5, 2, n)

    def evaluate(masks: np.ndarray) -> np.ndarray:
        return np.log1p(masks.astype(float) @ weights)

    game = Game(tuple(map(str, range(n))), evaluate, 0.0)
    exact = ExactShapley().values(game, RNG)
    game.evaluations = 0
    method = PermutationShapley(budget=0.3)
    estimate = method.values(game, np.random.default_rng(1))
    assert game.evaluations <= 0.3 * 1023 + 1
    assert np.corrcoef(exact, estimate)[0, 1] > 0.99
    assert estimate.sum() == pytest.approx(game.grand(), rel=1e-6)


def test_plain_monte_carlo_is_the_unstratified_baseline() -> None:
    mc = PermutationShapley(name="mc", stratified=False, antithetic=False, budget=200)
    game = unanimity_game(6, {0, 1, 2})
    values = mc.values(game, np.random.default_rng(3))
    assert values[3:].tolist() == [0, 0, 0]
    assert values.sum() == pytest.approx(1.0)


def test_msr_banzhaf_converges_to_exact() -> None:
    a, b = RNG.normal(size=6), RNG.normal(size=(6, 6)) * 0.2
    game = quadratic_game(a, b)
    exact = ExactBanzhaf().values(game, RNG)
    estimate = MaximumSampleReuseBanzhaf(samples=20000).values(game, np.random.default_rng(2))
    assert np.allclose(estimate, exact, atol=0.05)


def test_cosine_splits_the_gain_by_alignment() -> None:
    game = Game(("a", "b", "c"), lambda m: m.astype(float) @ np.array([1.0, 1.0, 0.0]), 0.0)
    deltas = (np.array([1.0, 0.0]), np.array([1.0, 0.1]), np.array([-1.0, 0.0]))
    values = CosineToAggregate(deltas, (0.4, 0.4, 0.2)).values(game, RNG)
    assert values[2] == 0.0 and values.sum() == pytest.approx(2.0) and values[0] > 0


@settings(max_examples=20, deadline=None)
@given(spec=st.integers(2, 7).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, 2**31))))
def test_prefix_sampling_is_efficient_and_exact_on_quadratic_games(spec) -> None:
    """Each permutation's marginals sum to v(N), and a permutation with its reverse is exact on quadratic games."""
    n, seed = spec
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=(n, n))
    game = quadratic_game(a, b)
    values = PrefixPermutationShapley(evaluations=0, min_pairs=3).values(game, rng)
    assert np.isclose(values.sum(), game.grand())
    assert np.allclose(values, quadratic_shapley(a, b))


def test_linear_games_value_prefixes_by_a_running_sum() -> None:
    from sklearn.datasets import make_classification

    from fairshare.learning.logistic import LogisticRegression
    from fairshare.valuation.game import make_game

    X, y = make_classification(n_samples=120, n_features=6, n_classes=3, n_informative=4, random_state=1)
    model = LogisticRegression(6, 3)
    base = model.init_params(0)
    members = {f"m{i}": [p + RNG.normal(0, 0.3, p.shape) for p in base] for i in range(9)}
    game = make_game(model, base, members, {m: 1.0 + i for i, m in enumerate(members)}, X, y)
    order = RNG.permutation(9)
    masks = np.zeros((10, 9), dtype=bool)
    for k in range(1, 10):
        masks[k, order[:k]] = True
    assert game.has_prefixes
    assert np.allclose(game.prefix_values(order), game.value(masks))
    with pytest.raises(Exception, match="permutation of the game's 9 players"):
        game.prefix_values(np.array([0, 0, 1, 2, 3, 4, 5, 6, 7]))
    exact = ExactShapley().values(game, RNG)
    sampled = PrefixPermutationShapley(evaluations=4000).values(game, np.random.default_rng(3))
    assert np.corrcoef(exact, sampled)[0, 1] > 0.95
