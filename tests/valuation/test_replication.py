"""Opaque record keys: a validator gets the overlap structure of members' records, never their salted hashes."""

from __future__ import annotations

from itertools import combinations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fairshare.valuation import effective_sizes, record_fingerprints
from fairshare.valuation.replication import opaque_keys

POOL = np.random.default_rng(0).normal(size=(12, 3))


@settings(max_examples=40, deadline=None)
@given(
    holdings=st.lists(st.lists(st.integers(0, len(POOL) - 1), min_size=1, max_size=8), min_size=2, max_size=4),
    jitter=st.sampled_from([0.0, 0.005]),
)
def test_opaque_keys_give_the_coordinators_sizes_for_every_set_of_members(holdings, jitter) -> None:
    """Copies and near-copies drawn from one small pool, so clusters overlap and bridge members: the sizes from
    opaque keys equal the sizes from the fingerprints for every subset (what a validator that drops a flagged
    member recomputes), because a record shares an index exactly where it shared a key."""
    rng = np.random.default_rng(len(holdings))
    prints = {
        f"m{i}": record_fingerprints(POOL[rows] + rng.normal(0, jitter, (len(rows), 3)), b"salt")
        for i, rows in enumerate(holdings)
    }
    opaque = opaque_keys(prints)
    for k in range(1, len(prints) + 1):
        for members in combinations(sorted(prints), k):
            assert effective_sizes({m: opaque[m] for m in members}) == effective_sizes({m: prints[m] for m in members})


def test_opaque_keys_carry_no_salted_hash() -> None:
    prints = {"a": record_fingerprints(POOL[:4], b"salt"), "b": record_fingerprints(POOL[2:6], b"salt")}
    opaque = opaque_keys(prints)
    hashes = {bytes(key) for p in prints.values() for key in p.reshape(-1, 16)}
    indices = {bytes(key) for p in opaque.values() for key in p.reshape(-1, 8)}
    assert opaque["a"].shape == (4, prints["a"].shape[1], 8) and opaque["a"].dtype == np.uint8
    assert not any(h[:8] in indices for h in hashes)
    assert len(indices) == len(hashes)  # one index per distinct key, nothing merged or split
    assert effective_sizes(opaque) == {"a": 3.0, "b": 3.0}
