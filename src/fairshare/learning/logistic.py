"""Multinomial logistic regression in numpy: the zero-dependency default model.

Parameters are ``[W, b]`` with ``W`` of shape ``(n_features, n_classes)`` and ``b`` of shape ``(n_classes,)``.
The logits ``X @ W + b`` are *linear in the parameters*: the logits of ``params + delta`` are the logits of
``params`` plus ``X @ dW + db``. Valuation relies on this to build any coalition's model from per-member
validation-logit deltas without a forward pass per coalition (``linear_in_params = True``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fairshare.errors import LearningError
from fairshare.learning.model import LogitClassifier, ModelSpec, Params, check_shapes, log_softmax

__all__ = ["LogisticRegression"]


@dataclass(frozen=True)
class LogisticRegression(LogitClassifier):
    """Softmax regression with L2 penalty, trained by mini-batch gradient descent.

    ``l2`` is the penalty on ``W`` (not ``b``) added to the mean log-loss during local training.
    """

    n_features: int
    n_classes: int
    l2: float = 1e-3
    linear_in_params: bool = True

    @property
    def spec(self) -> ModelSpec:
        return ModelSpec("logistic_regression", self.n_features, self.n_classes, l2=self.l2)

    def init_params(self, seed: int = 0) -> Params:
        """Zero weights: a deterministic start, so every run with the same seed and data is reproducible."""
        del seed  # zero init is already deterministic; the argument keeps the interface uniform
        return [np.zeros((self.n_features, self.n_classes)), np.zeros(self.n_classes)]

    def check(self, params: Params) -> None:
        """Raise ``LearningError`` unless ``params`` has this model's shapes and only finite values."""
        check_shapes(params, [(self.n_features, self.n_classes), (self.n_classes,)])

    def logits(self, params: Params, X: np.ndarray) -> np.ndarray:
        """``X @ W + b``: shape ``(n_samples, n_classes)``; linear in ``params``."""
        W, b = params
        return X @ W + b

    def gradient(self, params: Params, X: np.ndarray, y: np.ndarray) -> Params:
        """Gradient of mean log-loss + ``l2/2 * ||W||^2``."""
        W, _ = params
        probs = np.exp(log_softmax(self.logits(params, X)))
        probs[np.arange(len(y)), y] -= 1.0
        probs /= len(y)
        return [X.T @ probs + self.l2 * W, probs.sum(axis=0)]

    def fit_local(
        self,
        params: Params,
        X: np.ndarray,
        y: np.ndarray,
        *,
        epochs: int,
        learning_rate: float,
        batch_size: int,
        rng: np.random.Generator,
    ) -> Params:
        """Local training from ``params``; returns new arrays and never mutates the input."""
        if len(y) == 0:
            raise LearningError("cannot train on an empty partition")
        W, b = (p.astype(np.float64, copy=True) for p in params)
        for _ in range(epochs):
            order = rng.permutation(len(y))
            for start in range(0, len(y), batch_size):
                idx = order[start : start + batch_size]
                gW, gb = self.gradient([W, b], X[idx], y[idx])
                W -= learning_rate * gW
                b -= learning_rate * gb
        return [W, b]
