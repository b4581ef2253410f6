"""The local event index is a cache: a chain that moves under it (a reorg) is detected and re-read."""

from __future__ import annotations

import pytest

from fairshare.ledger import Chain

from .conftest import make_consortium


@pytest.fixture
def anvil_chain(chain: Chain) -> Chain:
    if chain.embedded is not None:
        pytest.skip("reorgs happen on a node; the embedded chain's reset is covered in test_attacks")
    return chain


def test_a_reorg_drops_the_rounds_that_left_the_chain_and_indexes_the_new_ones(anvil_chain: Chain) -> None:
    consortium = make_consortium(anvil_chain)
    consortium.record(1, [10, 20, 30])
    snapshot = anvil_chain.w3.provider.make_request("evm_snapshot", [])["result"]
    consortium.record(2, [1, 1, 1])
    index = consortium.client.index
    assert [sorted(r.scores) for r in consortium.client.rounds()] == [[10, 20, 30], [1, 1, 1]]

    # The chain forgets round 2 and takes another round 2 at the same height: the block the index last read is
    # gone, so a reader of the cache alone would keep paying by the old scores.
    anvil_chain.w3.provider.make_request("evm_revert", [snapshot])
    consortium.record(2, [5, 0, 7])
    anvil_chain.mine(1)

    assert [sorted(r.scores) for r in consortium.client.rounds()] == [[10, 20, 30], [0, 5, 7]]
    assert index.reindexed == 1
