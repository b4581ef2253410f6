"""Building the consortium's model from its ``ModelSpec``, and loading a member-supplied network factory.

``[model] factory`` names a function by import path: ``"package.module:function"`` (importable where the
coordinator and the nodes run) or ``"path/to/file.py:function"`` (a file; relative paths are resolved
against the consortium file). The function takes no arguments and returns a ``torch.nn.Module`` whose output
for a batch of shape ``(b, *input_shape)`` is ``(b, n_classes)`` logits. Every way this can go wrong (torch
missing, the module or file not importable, the name missing, the wrong type, the wrong output shape) is a
``ConfigError`` naming the key, the consortium file and what to fix.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import sys
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from fairshare.errors import ConfigError
from fairshare.learning.logistic import LogisticRegression
from fairshare.learning.model import Model, ModelSpec

__all__ = ["TORCH_INSTALL", "build_model", "load_factory", "torch_available"]

TORCH_INSTALL = "pip install 'fairshare[torch]'"


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def _where(spec: ModelSpec) -> str:
    return f"{spec.source}: " if spec.source else ""


def _import_target(reference: str, where: str) -> Any:
    module_name, _, attribute = reference.rpartition(":")
    if not module_name or not attribute:
        raise ConfigError(
            f"{where}[model] factory = {reference!r} must be 'package.module:function' or 'file.py:function'"
        )
    try:
        if module_name.endswith(".py"):
            path = Path(module_name)
            if not path.is_file():
                raise ConfigError(f"{where}[model] factory: the file {path} does not exist; fix the path")
            name = f"fairshare_factory_{abs(hash(str(path.resolve())))}"
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                raise ConfigError(f"{where}[model] factory: {path} cannot be imported as a Python file")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except ConfigError:
        raise
    except Exception as exc:  # a user's module can fail in any way while importing: say which and why
        raise ConfigError(
            f"{where}[model] factory = {reference!r}: importing {module_name!r} failed ({type(exc).__name__}: "
            f"{exc}); make it importable where fairshare runs (on every member's node too), or give a .py path"
        ) from exc
    try:
        return getattr(module, attribute)
    except AttributeError as exc:
        raise ConfigError(
            f"{where}[model] factory = {reference!r}: {module_name!r} has no {attribute!r}; "
            "name a function defined there"
        ) from exc


def load_factory(spec: ModelSpec) -> Callable[[], Any]:
    """The factory function ``spec.factory`` names, checked to build an ``nn.Module`` with the right output."""
    import torch
    from torch import nn

    where = _where(spec)
    if spec.factory is None or spec.input_shape is None:
        raise ConfigError(f'{where}[model] kind = "torch" needs factory and input_shape')
    factory = _import_target(spec.factory, where)
    if not callable(factory):
        raise ConfigError(f"{where}[model] factory = {spec.factory!r} is a {type(factory).__name__}, not a function")
    try:
        module = factory()
    except Exception as exc:
        raise ConfigError(
            f"{where}[model] factory = {spec.factory!r} raised {type(exc).__name__}: {exc} when called with no "
            "arguments; it must build the network without arguments"
        ) from exc
    if not isinstance(module, nn.Module):
        raise ConfigError(
            f"{where}[model] factory = {spec.factory!r} returned a {type(module).__name__}; "
            "it must return a torch.nn.Module"
        )
    shape = (2, *spec.input_shape)
    try:
        module.eval()
        with torch.no_grad():
            out = module(torch.zeros(shape))
    except Exception as exc:
        raise ConfigError(
            f"{where}[model] factory = {spec.factory!r}: the network fails on a batch of shape {shape} "
            f"({type(exc).__name__}: {exc}); make [model] input_shape = {list(spec.input_shape)} match its input"
        ) from exc
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, spec.n_classes):
        found = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ConfigError(
            f"{where}[model] factory = {spec.factory!r}: the network maps a batch of shape {shape} to {found}; "
            f"it must output (batch, {spec.n_classes}) logits, one per class of the data"
        )
    return factory


@lru_cache(maxsize=16)
def _build(spec: ModelSpec) -> Model:
    if spec.kind == "logistic_regression":
        return LogisticRegression(spec.n_features, spec.n_classes, l2=spec.l2)
    where = _where(spec)
    if not torch_available():
        raise ConfigError(f'{where}[model] kind = "torch" needs PyTorch, which is not installed: {TORCH_INSTALL}')
    if spec.factory is None or spec.input_shape is None:
        raise ConfigError(f'{where}[model] kind = "torch" needs factory and input_shape')
    if math.prod(spec.input_shape) != spec.n_features:
        raise ConfigError(
            f"{where}[model] input_shape = {list(spec.input_shape)} holds {math.prod(spec.input_shape)} values "
            f"per sample, but the data has {spec.n_features} features per row; set input_shape to match the data"
        )
    from fairshare.learning.torch_model import TorchModel

    return TorchModel(
        load_factory(spec),
        spec.input_shape,
        spec.n_classes,
        l2=spec.l2,
        optimiser=spec.optimiser,
        momentum=spec.momentum,
        valuation_memory_mb=spec.valuation_memory_mb,
        threads=spec.threads,
        compiled=spec.compile,
        spec=spec,
    )


def build_model(spec: ModelSpec) -> Model:
    """The model ``spec`` describes (built once per process and spec: a node builds it once, not every round)."""
    return _build(spec)
