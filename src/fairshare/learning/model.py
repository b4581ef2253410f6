"""What every model fairshare trains, values, releases and serves provides, and the parameters it travels as.

Parameters are ``list[numpy.ndarray]`` (Flower's convention) whatever the model: signatures, the hash recorded
on chain, differential privacy, the audit and the deployment runtime never look inside a model. Two models
implement the ``Model`` protocol: ``LogisticRegression`` (numpy, no extra dependency, the default) and
``TorchModel`` (any ``torch.nn.Module`` a factory function returns; the ``torch`` extra). ``ModelSpec`` is the
small, JSON-serialisable description from which the coordinator and every member's node build the same model
(``fairshare.learning.factory.build_model``).

Every model is a classifier over flat rows ``X`` of shape ``(m, n_features)``; an image model reshapes them
to its ``input_shape`` itself, so data files, the Standardizer, the API's rows and the usage ledger are the
same for every model.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Literal, Protocol

import numpy as np

from fairshare.errors import LearningError

__all__ = ["LogitClassifier", "Model", "ModelSpec", "Params", "log_softmax", "params_hash"]

Params = list[np.ndarray]


def params_hash(params: Params) -> bytes:
    """SHA-256 over the parameters' dtype, shape and little-endian bytes: the model hash recorded on chain.

    Two parameter lists hash equal exactly when every array has the same dtype, shape and values, so anyone
    holding the artifact can recompute the on-chain hash.
    """
    digest = hashlib.sha256()
    for array in params:
        a = np.ascontiguousarray(array)
        digest.update(a.dtype.str.encode())
        digest.update(repr(a.shape).encode())
        digest.update(a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes())
    return digest.digest()


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


class Model(Protocol):
    """A classifier whose parameters are ``list[numpy.ndarray]``.

    ``linear_in_params`` is True only when ``logits(params + delta) == logits(params) + logits(delta) -
    logits(0)``: valuation then rebuilds coalitions from logit deltas without any forward pass.
    """

    n_features: int
    n_classes: int
    linear_in_params: bool

    @property
    def spec(self) -> ModelSpec:
        """What a member's node builds this same model from."""
        ...

    def init_params(self, seed: int = 0) -> Params: ...

    def check(self, params: Params) -> None: ...

    def logits(self, params: Params, X: np.ndarray) -> np.ndarray: ...

    def predict_proba(self, params: Params, X: np.ndarray) -> np.ndarray: ...

    def log_loss(self, params: Params, X: np.ndarray, y: np.ndarray) -> float: ...

    def accuracy(self, params: Params, X: np.ndarray, y: np.ndarray) -> float: ...

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
    ) -> Params: ...


class LogitClassifier:
    """Probabilities, predictions, log-loss and accuracy from ``logits``: one definition for every model."""

    def logits(self, params: Params, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict_proba(self, params: Params, X: np.ndarray) -> np.ndarray:
        return np.exp(log_softmax(self.logits(params, X)))

    def predict(self, params: Params, X: np.ndarray) -> np.ndarray:
        return self.logits(params, X).argmax(axis=1)

    def log_loss(self, params: Params, X: np.ndarray, y: np.ndarray) -> float:
        """Mean negative log-likelihood of the true labels (no penalty)."""
        logp = log_softmax(self.logits(params, X))
        return float(-logp[np.arange(len(y)), y].mean())

    def accuracy(self, params: Params, X: np.ndarray, y: np.ndarray) -> float:
        return float((self.predict(params, X) == y).mean())


def check_shapes(params: Params, shapes: list[tuple[int, ...]]) -> None:
    """Raise ``LearningError`` unless ``params`` has exactly ``shapes`` and only finite values."""
    found = [tuple(np.shape(p)) for p in params]
    if found != shapes:
        raise LearningError(f"model parameters have shapes {found}; expected {shapes}")
    if not all(np.isfinite(p).all() for p in params):
        raise LearningError("model parameters contain NaN or Inf")


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to build the consortium's model, identically on the coordinator and on every node.

    ``factory`` is ``"package.module:function"`` or ``"/abs/path/file.py:function"`` (a function taking no
    arguments and returning a ``torch.nn.Module``); ``source`` is the consortium file it was read from, named
    in errors. It travels to members' nodes as JSON inside each round's config.
    """

    kind: Literal["logistic_regression", "torch"]
    n_features: int
    n_classes: int
    l2: float = 1e-3
    factory: str | None = None
    input_shape: tuple[int, ...] | None = None
    optimiser: Literal["sgd", "adam"] = "sgd"
    momentum: float = 0.0
    valuation_memory_mb: int = 256
    threads: int = 1
    compile: bool = False
    source: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        try:
            raw = json.loads(text)
            if raw.get("input_shape") is not None:
                raw["input_shape"] = tuple(int(d) for d in raw["input_shape"])
            return cls(**raw)
        except (ValueError, TypeError, AttributeError) as exc:
            raise LearningError(f"the round's model description is not valid: {exc}") from exc
