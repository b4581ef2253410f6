"""The entitlement rule of EntitlementRoots, in Python: per-epoch shares and cumulative entitlements, and the
Merkle tree a root commits to.

Anyone holding the published events can run this and compare roots; the oracle builds its proposals with it,
the audit recomputes every root with it, and challengers draw their evidence from it. The arithmetic is the
contract's, in integers (see EntitlementRoots.vy):

    raw_i  = max(score_i, 0) * share_scale // 10**9
    new_i  = raw_i if T <= cap else (P_i + raw_i) * cap // T - P_i * cap // T     (T = sum raw, P_i = raw before i)
    S_i(e) = S_i(e-1) + new_i,   W_e = W_(e-1) + min(T, cap)
    C_i(e) = C_i(e-1) + R_e * S_i(e) // W_e

The tree is a Merkle sum tree: a leaf is (keccak256(abi_encode(index, account, S, C)), C), in strictly ascending
account order, padded with (0, 0) to a power of two; a node over (hl, sl), (hr, sr) is
(keccak256(abi_encode(hl, sl, hr, sr)), sl + sr), so the root also commits to the total entitlement.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise

from eth_hash.auto import keccak
from web3 import Web3

from fairshare.errors import LedgerError

__all__ = [
    "CHUNK",
    "EntitlementTree",
    "EpochPublication",
    "Leaf",
    "LeafArg",
    "Standing",
    "chunk_evidence",
    "chunked",
    "leaf_hash",
    "next_standing",
]

LeafArg = tuple[int, str, int, int, list[bytes], list[int]]
"""The contract's ``Leaf`` struct: index, account, shares, entitled, sibling hashes, sibling sums."""

CHUNK = 256
"""Payees per `publish` transaction (EntitlementRoots.MAX_CHUNK)."""
SCORE_SCALE = 10**9


@dataclass(frozen=True)
class Leaf:
    index: int
    account: str
    shares: int
    entitled: int


@dataclass(frozen=True)
class EpochPublication:
    """What one epoch published: its chunks (raw_before, accounts, scores) and the rule and revenue fixed at close."""

    epoch: int
    chunks: tuple[tuple[int, tuple[str, ...], tuple[int, ...]], ...]
    share_scale: int
    round_cap: int
    revenue: int

    def raw_total(self) -> int:
        return sum(max(s, 0) * self.share_scale // SCORE_SCALE for _, _, scores in self.chunks for s in scores)


@dataclass(frozen=True)
class Standing:
    """Every payee's (shares, cumulative entitlement) after an epoch, and the total shares W."""

    epoch: int
    entries: dict[str, tuple[int, int]]
    total_shares: int

    def leaves(self) -> list[Leaf]:
        ordered = sorted(self.entries.items(), key=lambda kv: int(kv[0], 16))
        return [Leaf(k, a, s, c) for k, (a, (s, c)) in enumerate(ordered)]


def _key(address: str) -> int:
    return int(address, 16)


def chunked(entries: Iterable[tuple[str, int]], size: int = CHUNK) -> list[tuple[list[str], list[int]]]:
    """Sort (account, score) pairs by address and cut them into publishable chunks; a repeated account is refused."""
    ordered = sorted(((Web3.to_checksum_address(a), s) for a, s in entries), key=lambda p: _key(p[0]))
    for (a, _), (b, _) in pairwise(ordered):
        if a == b:
            raise LedgerError(f"account {a} is scored twice in one epoch")
    return [
        ([a for a, _ in ordered[i : i + size]], [s for _, s in ordered[i : i + size]])
        for i in range(0, len(ordered), size)
    ]


def new_shares(publication: EpochPublication) -> dict[str, int]:
    """Shares each payee earns in the epoch under the share rule fixed when it was first published to."""
    total = publication.raw_total()
    cap, scale = publication.round_cap, publication.share_scale
    earned: dict[str, int] = {}
    prefix = 0
    for _, accounts, scores in publication.chunks:
        for account, score in zip(accounts, scores, strict=True):
            raw = max(score, 0) * scale // SCORE_SCALE
            earned[account] = raw if total <= cap else (prefix + raw) * cap // total - prefix * cap // total
            prefix += raw
    return earned


def next_standing(before: Standing, publication: EpochPublication) -> Standing:
    """The standing after ``publication``'s epoch, from the standing after the epoch before it."""
    if publication.epoch != before.epoch + 1:
        raise LedgerError(f"epoch {publication.epoch} does not follow epoch {before.epoch}")
    total = before.total_shares + min(publication.raw_total(), publication.round_cap)
    shares = {a: s for a, (s, _) in before.entries.items()}
    for account, amount in new_shares(publication).items():
        shares[account] = shares.get(account, 0) + amount
    entries: dict[str, tuple[int, int]] = {}
    for account, s in shares.items():
        before_c = before.entries.get(account, (0, 0))[1]
        entries[account] = (s, before_c + (publication.revenue * s // total if total else 0))
    return Standing(publication.epoch, entries, total)


def leaf_hash(index: int, account: str, shares: int, entitled: int) -> bytes:
    """keccak256(abi_encode(index, account, shares, entitled)), without the ABI encoder's overhead."""
    return keccak(
        index.to_bytes(32, "big")
        + bytes(12)
        + bytes.fromhex(account[2:])
        + shares.to_bytes(32, "big")
        + entitled.to_bytes(32, "big")
    )


class EntitlementTree:
    """The Merkle sum tree over a standing's leaves (sum = cumulative entitlement); index-bound proofs of exactly
    ceil(log2 n) (hash, sum) siblings."""

    def __init__(self, leaves: list[Leaf]) -> None:
        self.leaves = leaves
        self.position = {leaf.account: leaf.index for leaf in leaves}
        level = [(leaf_hash(lf.index, lf.account, lf.shares, lf.entitled), lf.entitled) for lf in leaves]
        self.levels: list[list[tuple[bytes, int]]] = [level]
        zero = (bytes(32), 0)
        while len(level) > 1:
            if len(level) % 2:
                level = [*level, zero]
                self.levels[-1] = level
            level = [_node(level[i], level[i + 1]) for i in range(0, len(level), 2)]
            self.levels.append(level)
            zero = _node(zero, zero)
        self.root, self.total = level[0] if level else (bytes(32), 0)

    def proof(self, index: int) -> tuple[list[bytes], list[int]]:
        """The (hash, sum) of every sibling on the path from leaf ``index`` to the root."""
        if not 0 <= index < len(self.leaves):
            raise LedgerError(f"no leaf {index} in a tree of {len(self.leaves)}")
        hashes, sums = [], []
        for level in self.levels[:-1]:
            h, s = level[index ^ 1]
            hashes.append(h)
            sums.append(s)
            index >>= 1
        return hashes, sums

    def leaf_arg(self, index: int) -> LeafArg:
        """The contract's ``Leaf`` struct for leaf ``index``, with its proof."""
        leaf = self.leaves[index]
        hashes, sums = self.proof(index)
        return (leaf.index, leaf.account, leaf.shares, leaf.entitled, hashes, sums)

    def leaf_of(self, account: str) -> Leaf | None:
        index = self.position.get(Web3.to_checksum_address(account))
        return None if index is None else self.leaves[index]

    def evidence(self, account: str) -> list[LeafArg]:
        """``account``'s leaf, or evidence that it has none: the two adjacent leaves around it, or the end leaf past
        it (empty for an empty tree)."""
        account = Web3.to_checksum_address(account)
        if account in self.position:
            return [self.leaf_arg(self.position[account])]
        if not self.leaves:
            return []
        key = _key(account)
        after = next((lf.index for lf in self.leaves if _key(lf.account) > key), None)
        if after is None:
            return [self.leaf_arg(len(self.leaves) - 1)]
        if after == 0:
            return [self.leaf_arg(0)]
        return [self.leaf_arg(after - 1), self.leaf_arg(after)]


def _node(left: tuple[bytes, int], right: tuple[bytes, int]) -> tuple[bytes, int]:
    return keccak(left[0] + left[1].to_bytes(32, "big") + right[0] + right[1].to_bytes(32, "big")), left[1] + right[1]


def chunk_evidence(publication: EpochPublication, account: str) -> tuple[int, list[str], list[int], int]:
    """(chunk index, accounts, scores, raw_before) of the published chunk that holds ``account``, or of the chunk it
    would be in if it had been published: what ``challenge_leaf`` and ``challenge_omission`` take as evidence."""
    if not publication.chunks:
        return 0, [], [], 0
    key = _key(account)
    index = 0
    for k, (_, accounts, _) in enumerate(publication.chunks):
        if _key(accounts[0]) <= key:
            index = k
    raw_before, accounts, scores = publication.chunks[index]
    return index, list(accounts), list(scores), raw_before
