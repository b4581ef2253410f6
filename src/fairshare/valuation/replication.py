"""Replication robustness: copies of data and split identities must not pay more than the original.

Shapley alone pays a duplicated dataset 1.5-2.2x and a Sybil split 1.3-1.9x (VALUATION-NOTES; Han et al.,
arXiv 2006.14583). The remedy is to count data, not identities: each member commits salted fingerprints of
its records (a hash of each row with a consortium-wide salt, so the coordinator learns nothing about rows it
does not itself hold), and each identity's weight — in the aggregate and in the game — becomes its
de-duplicated record count ``n_eff_i = sum_{x in D_i} 1 / (number of identities holding x)``. Two identities
holding the same rows then together weigh what one holder would, and so earn what one would.

Limits, stated plainly: it needs the fingerprints to be honest commitments of the rows actually trained on
(auditable later by revealing rows to an arbiter) and sizes checked against them; exact copies are caught,
perturbed copies (noise added to every row) are not; a member who inflates its size without fingerprints
gains as under any rule, which is why reported sizes are replaced by fingerprint counts.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Collection, Mapping

import numpy as np

__all__ = ["effective_sizes", "record_fingerprints"]


def record_fingerprints(X: np.ndarray, salt: bytes) -> np.ndarray:
    """One 16-byte salted SHA-256 fingerprint per row (rounded to 9 decimals first): a ``(m, 16)`` uint8 array."""
    rows = np.round(np.asarray(X, dtype=np.float64), 9)
    out = np.empty((len(rows), 16), dtype=np.uint8)
    for k, row in enumerate(rows):
        out[k] = np.frombuffer(hashlib.sha256(salt + row.tobytes()).digest()[:16], dtype=np.uint8)
    return out


def effective_sizes(
    fingerprints: Mapping[str, np.ndarray | Collection[bytes]], num_examples: Mapping[str, int] | None = None
) -> dict[str, float]:
    """De-duplicated record count per member; capped at its reported row count when that is given."""
    as_bytes = {
        m: [bytes(f) for f in (fp if not isinstance(fp, np.ndarray) else fp.reshape(len(fp), -1))]
        for m, fp in fingerprints.items()
    }
    holders: Counter[bytes] = Counter()
    for prints in as_bytes.values():
        holders.update(set(prints))
    sizes = {}
    for member, prints in as_bytes.items():
        size = sum(1.0 / holders[f] for f in set(prints))
        if num_examples is not None and member in num_examples:
            size = min(size, float(num_examples[member]))
        sizes[member] = size
    return sizes
