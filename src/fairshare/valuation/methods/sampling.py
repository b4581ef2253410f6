"""Sampling estimators for when the full table (2^n - 1 coalitions) is too expensive.

``PermutationShapley`` is GTG-Shapley-style permutation sampling (Liu, Chen, Yu, ACM TIST 2022):

- *between-round truncation*: a round whose total gain ``|v(N)|`` is below ``round_tolerance`` is not
  sampled; every member gets an equal split of it.
- *guided sampling*: permutations come in blocks in which every player takes every position exactly once
  (a cyclic Latin square over a random order), so each member is rotated into the first position; the paper
  guides only the first position, stratifying all positions reduces variance further.
- *antithetic pairs*: each permutation is followed by its reverse (the zero-fill log-likelihood game is
  nearly quadratic in membership, for which a permutation and its reverse cancel most of the error).
- *within-round truncation*: once a prefix is within ``truncation * |v(N)|`` of ``v(N)`` the remaining
  marginals of that permutation are taken as zero (0 = off, the default, see docs/valuation.md).
- coalitions are cached: ``evaluations`` counts distinct coalitions, stopping at ``budget``.

With ``stratified=False, antithetic=False`` it is plain permutation Monte Carlo (the baseline).

``PrefixPermutationShapley`` is for hundreds or thousands of members, where a block of n guided permutations
and a coalition cache no longer fit: it draws a fixed number of antithetic permutation pairs and values each
permutation's n prefixes at once (``Game.prefix_values``: a running sum of logit changes for linear models), so
a permutation costs about one evaluation of the grand coalition per member, not n matrix products.

``MaximumSampleReuseBanzhaf`` (Wang & Jia, 2023): each sampled coalition (every player in with probability
1/2) is used for every player: ``b_i = mean v(S | i in S) - mean v(S | i not in S)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fairshare.valuation.game import Game

__all__ = ["MaximumSampleReuseBanzhaf", "PermutationShapley", "PrefixPermutationShapley"]


def _permutation_block(n: int, rng: np.random.Generator, stratified: bool, antithetic: bool) -> list[np.ndarray]:
    if stratified:
        order = rng.permutation(n)
        perms = [np.roll(order, k) for k in range(n)]
    else:
        perms = [rng.permutation(n)]
    if antithetic:
        perms = [p for perm in perms for p in (perm, perm[::-1])]
    return perms


def _mask_key(mask: np.ndarray) -> bytes:
    return np.packbits(mask).tobytes()


@dataclass(frozen=True)
class PermutationShapley:
    name: str = "gtg"
    budget: float = 0.3
    """At most this many distinct coalitions: a fraction of 2^n - 1 if <= 1, else an absolute count."""
    min_budget: int = 64
    stratified: bool = True
    antithetic: bool = True
    truncation: float = 0.0
    round_tolerance: float = 1e-9

    @property
    def params(self) -> dict[str, object]:
        return {
            "budget": self.budget,
            "min_budget": self.min_budget,
            "stratified": self.stratified,
            "antithetic": self.antithetic,
            "truncation": self.truncation,
            "round_tolerance": self.round_tolerance,
        }

    def max_evaluations(self, n: int) -> int:
        total = 2**n - 1 if n < 62 else 2**62
        if self.budget <= 1:
            return int(min(total, max(self.min_budget, self.budget * total)))
        return int(min(total, self.budget))

    def values(self, game: Game, rng: np.random.Generator) -> np.ndarray:
        n = game.n
        grand = game.grand()
        if n == 1 or abs(grand) < self.round_tolerance:
            return np.full(n, grand / n)
        cache: dict[bytes, float] = {_mask_key(np.zeros(n, dtype=bool)): 0.0, _mask_key(np.ones(n, dtype=bool)): grand}
        budget = self.max_evaluations(n)
        total = np.zeros(n)
        count = 0
        while len(cache) - 1 < budget:
            perms = _permutation_block(n, rng, self.stratified, self.antithetic)
            prefixes = np.zeros((len(perms), n + 1, n), dtype=bool)
            for p, perm in enumerate(perms):
                for k in range(1, n + 1):
                    prefixes[p, k, perm[:k]] = True
            todo = {}
            for mask in prefixes.reshape(-1, n):
                key = _mask_key(mask)
                if key not in cache and key not in todo:
                    todo[key] = mask
            room = budget - (len(cache) - 1)
            if len(todo) > room and count > 0:
                break
            if todo:
                values = game.value(np.array(list(todo.values())))
                cache.update(zip(todo, values.tolist(), strict=True))
            for p, perm in enumerate(perms):
                v = np.array([cache[_mask_key(m)] for m in prefixes[p]])
                marginal = np.diff(v)
                if self.truncation > 0:
                    close = np.abs(grand - v[1:]) < self.truncation * abs(grand)
                    if close.any():
                        marginal[np.argmax(close) + 1 :] = 0.0
                total[perm] += marginal
                count += 1
        return total / count


@dataclass(frozen=True)
class MaximumSampleReuseBanzhaf:
    name: str = "banzhaf"
    samples: int = 512

    @property
    def params(self) -> dict[str, object]:
        return {"estimator": "msr", "samples": self.samples}

    def values(self, game: Game, rng: np.random.Generator) -> np.ndarray:
        masks = rng.random((self.samples, game.n)) < 0.5
        v = game.value(masks)
        out = np.empty(game.n)
        for i in range(game.n):
            inside, outside = v[masks[:, i]], v[~masks[:, i]]
            out[i] = (inside.mean() if len(inside) else 0.0) - (outside.mean() if len(outside) else 0.0)
        return out


@dataclass(frozen=True)
class PrefixPermutationShapley:
    name: str = "perm"
    evaluations: int = 200_000
    """Coalition budget: ``max(min_pairs, evaluations // (2 n))`` antithetic permutation pairs are drawn."""
    min_pairs: int = 16

    @property
    def params(self) -> dict[str, object]:
        return {"evaluations": self.evaluations, "min_pairs": self.min_pairs, "antithetic": True}

    def pairs(self, n: int) -> int:
        return max(self.min_pairs, self.evaluations // max(2 * n, 1))

    def values(self, game: Game, rng: np.random.Generator) -> np.ndarray:
        n = game.n
        total = np.zeros(n)
        pairs = self.pairs(n)
        for _ in range(pairs):
            order = rng.permutation(n)
            for perm in (order, order[::-1]):
                total[perm] += np.diff(game.prefix_values(perm))
        return total / (2 * pairs)
