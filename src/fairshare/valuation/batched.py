"""Coalition values for models that are not linear in their parameters: many coalitions per forward pass.

The game is the one ``game`` defines (zero-fill aggregate ``w_S = w + sum_{i in S} a_i * delta_i``, ``v(empty)
= 0``, grand coalition = the deployed model); only how ``v`` is computed changes. For a chunk of ``k``
coalitions (a 0/1 matrix ``M``, ``k x n``) every parameter tensor of every coalition model is built at once as
``w + M @ (a * delta)`` (one matrix product per tensor, in float64, then cast to the network's float32), and
the ``k`` networks are evaluated on the validation rows in one vectorised pass (``torch.vmap`` over
``torch.func.functional_call``: ``BatchedPredictor.batched_logits``). The utility is the same numpy function
the other evaluators use, applied to the ``(k, m, C)`` logits.

Chunks are sized so that one chunk's parameters and activations stay within the model's
``valuation_memory_mb``; the only Python loop is over chunks, never over coalitions. It runs on a GPU when
one is visible (the model's device), else on the CPU.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

__all__ = ["BatchedPredictor", "batched_evaluator", "chunk_size"]

Params = list[np.ndarray]


class BatchedPredictor(Protocol):
    """A model that can evaluate a stack of parameter sets in one pass (``TorchModel``)."""

    valuation_memory_mb: int

    def inputs(self, X: np.ndarray) -> Any: ...

    def batched_logits(self, stacked: Sequence[Any], X: Any) -> Any: ...

    def coalition_bytes(self, m: int) -> int: ...


def chunk_size(predictor: BatchedPredictor, m: int) -> int:
    """How many coalition models fit in the memory budget at once (at least one)."""
    return max(1, (predictor.valuation_memory_mb * 2**20) // max(predictor.coalition_bytes(m), 1))


def batched_evaluator(
    predictor: BatchedPredictor,
    global_params: Params,
    deltas: Sequence[Params],
    weights: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    utility: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> Callable[[np.ndarray], np.ndarray]:
    """``evaluate(masks) -> utilities`` for boolean masks ``(k, n)``, chunk by chunk."""
    import torch

    device = predictor.inputs(X[:1]).device
    base = [torch.as_tensor(np.asarray(g, dtype=np.float64), device=device) for g in global_params]
    # scaled[j] = (n, size of tensor j): member i's weighted change of tensor j, flattened
    scaled = [
        torch.as_tensor(
            np.stack([w * np.asarray(d[j], dtype=np.float64).ravel() for d, w in zip(deltas, weights, strict=True)]),
            device=device,
        )
        for j in range(len(global_params))
    ]
    inputs = predictor.inputs(X)
    block = chunk_size(predictor, len(X))
    pad = bool(getattr(predictor, "compiled", False))  # one chunk shape: a compiled pass is compiled once

    def evaluate(masks: np.ndarray) -> np.ndarray:
        out = np.empty(len(masks))
        for start in range(0, len(masks), block):
            rows = masks[start : start + block]
            if pad and len(rows) < block:
                rows = np.concatenate([rows, np.zeros((block - len(rows), rows.shape[1]), dtype=rows.dtype)])
            chunk = torch.as_tensor(rows, dtype=torch.float64, device=device)
            stacked = [
                (g + (chunk @ d).reshape(len(chunk), *g.shape)).to(torch.float32)
                for g, d in zip(base, scaled, strict=True)
            ]
            logits = predictor.batched_logits(stacked, inputs).to("cpu", torch.float64).numpy()
            done = min(block, len(masks) - start)
            out[start : start + done] = utility(logits[:done], np.broadcast_to(y, (done, len(y))))
        return out

    return evaluate
