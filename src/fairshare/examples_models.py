"""Small PyTorch networks for the worked examples (``examples/imaging.toml``, ``examples/credit-mlp.toml``).

A consortium names its own factory the same way (``[model] factory = "my_models:make_cnn"``): a function with
no arguments returning an ``nn.Module`` that maps ``(batch, *input_shape)`` to ``(batch, classes)`` logits.
These ship inside the package so the examples run from any directory and on every member's node.
"""

from __future__ import annotations

from torch import nn

__all__ = ["CREDIT_FEATURES", "make_cnn", "make_credit_mlp"]

CREDIT_FEATURES = 32
"""Features per row of the bundled credit data after one-hot encoding (``fairshare.learning.data``)."""


def make_cnn() -> nn.Module:
    """A small CNN for one-channel 8x8 images, 10 classes (scikit-learn's digits): about 3,600 parameters."""
    return nn.Sequential(
        nn.Conv2d(1, 8, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 8 x 4 x 4
        nn.Conv2d(8, 16, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 16 x 2 x 2
        nn.Flatten(),
        nn.Linear(64, 32),
        nn.ReLU(),
        nn.Linear(32, 10),
    )


def make_credit_mlp() -> nn.Module:
    """A two-hidden-layer MLP for the credit data (32 features, good/bad): about 3,300 parameters."""
    return nn.Sequential(
        nn.Linear(CREDIT_FEATURES, 64),
        nn.ReLU(),
        nn.Linear(64, 16),
        nn.ReLU(),
        nn.Linear(16, 2),
    )
