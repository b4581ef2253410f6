"""The model the paid API serves: the one governance released, or none yet.

A consortium's dashboard is useful long before its first release (contributions, payouts, governance), so
the server starts without a model: until one is released every paid call is refused with 503 and the
reason, and the loader is asked again at most every ``retry_seconds``. Once loaded, the model is fixed for
the life of the process: a later release is served after a restart (its artifact is checked at load).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from fairshare.errors import ServingError
from fairshare.learning.model import Model, Params
from fairshare.serving.http_errors import NotReleased

__all__ = ["ModelSource", "NotReleased", "ReleasedModel"]


@dataclass(frozen=True)
class ReleasedModel:
    model: Model
    params: Params
    model_hash: str
    feature_names: tuple[str, ...] = ()


class ModelSource:
    """``get()`` returns the released model or raises ``NotReleased`` with the loader's reason."""

    def __init__(self, load: Callable[[], ReleasedModel] | ReleasedModel, retry_seconds: float = 5.0) -> None:
        self._load = load if callable(load) else None
        self._model = load if isinstance(load, ReleasedModel) else None
        self._retry = retry_seconds
        self._reason = ""
        self._next_try = 0.0
        self._lock = threading.Lock()

    @property
    def current(self) -> ReleasedModel | None:
        """The model if it is loaded, without asking the loader."""
        return self._model

    def get(self) -> ReleasedModel:
        if self._model is not None:
            return self._model
        with self._lock:
            if self._model is None and self._load is not None and time.monotonic() >= self._next_try:
                try:
                    self._model = self._load()
                except ServingError as exc:  # not released, or its artifact does not check out: say why
                    self._reason = str(exc)
                    self._next_try = time.monotonic() + self._retry
            if self._model is None:
                raise NotReleased(self._reason or "no model is released yet")
            return self._model
