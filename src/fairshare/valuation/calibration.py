"""Utilities that do not value a member's class mix: the calibrated and the class-balanced log-likelihood.

Every honest member trains on its own class mix, so its update pulls the model's class prior (its intercept)
towards that mix. Scored by the plain log-likelihood on the validation split, that pull costs a member
holding most of a rare class value in the rounds where the model already fits the split's prior — it was
flagged harmful and paid little although leaving it out costs the model most (issue 12). The calibrated
log-likelihood refits each model's class offsets to the split's labels before scoring it, so what counts is
what a model knows about *which* rows belong to which class. ``without_prior_pull`` is its first-order form
for the linear fast path of ``game``: each member's validation-logit change gets the per-class offset that
cancels its change of the mean predicted class probabilities.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "balanced_log_likelihood",
    "calibrated_log_likelihood",
    "class_offsets",
    "log_softmax",
    "without_prior_pull",
]


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def balanced_log_likelihood(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mean over the classes present in ``y`` of each class's mean log-likelihood.

    A member whose rows shift the model towards a rare class is not punished for the class prior of the
    validation split: every class weighs the same, however few rows it has.
    """
    logp = log_softmax(logits)
    picked = np.take_along_axis(logp, y[..., None], axis=-1)[..., 0]
    labels = np.asarray(y).reshape(-1, y.shape[-1])[0]
    counts = np.bincount(labels)
    weights = 1.0 / ((counts > 0).sum() * counts[labels])
    return picked @ weights


def class_offsets(logits: np.ndarray, y: np.ndarray, iterations: int = 8) -> np.ndarray:
    """The maximum-likelihood per-class offsets ``c`` (shape ``(..., C)``) of models ``logits`` on labels ``y``.

    At the optimum each model's mean predicted class probabilities equal the labels' frequencies. Newton's
    method (the log-likelihood is concave in ``c``) with steps clipped to 4 nats per class; 8 steps from
    ``c = 0`` leave an error below 1e-8 nats on logits up to about 8 in size. Exponentials are taken once.
    """
    y = np.asarray(y)
    labels = y.reshape(-1, y.shape[-1])[0]
    m, C = len(labels), logits.shape[-1]
    freq = np.maximum(np.bincount(labels, minlength=C), 0.5)
    freq = freq / freq.sum()
    E = np.exp(logits - logits.max(axis=-1, keepdims=True))
    c = np.zeros((*logits.shape[:-2], C))
    pin = np.full((C, C), 1.0 / C) + 1e-9 * np.eye(C)  # c is defined up to a constant: fix its mean direction
    for _ in range(iterations):
        p = E * np.exp(c - c.max(axis=-1, keepdims=True))[..., None, :]
        p /= p.sum(axis=-1, keepdims=True)
        mean = p.mean(axis=-2)
        hess = mean[..., :, None] * np.eye(C) - np.swapaxes(p, -1, -2) @ p / m
        c = c + np.clip(np.linalg.solve(hess + pin, (freq - mean)[..., None])[..., 0], -4.0, 4.0)
    return c


def calibrated_log_likelihood(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mean log-likelihood after refitting each model's class offsets to the labels (``class_offsets``).

    What is left is what a model knows about *which* rows belong to which class: a member's pull on the
    class prior (its own class mix) neither earns nor costs value, so a member holding most of a rare class
    is valued for what its rows teach.
    """
    shifted = logits + class_offsets(logits, y)[..., None, :]
    return np.take_along_axis(log_softmax(shifted), np.asarray(y)[..., None], axis=-1)[..., 0].mean(axis=-1)


def without_prior_pull(base: np.ndarray, D: np.ndarray) -> np.ndarray:
    """``D_i`` plus the per-class offset that cancels, to first order at ``base``, its change of the mean
    predicted class probabilities: the calibrated game's fast path (see ``make_game``)."""
    p = np.exp(log_softmax(base))
    m, C = p.shape
    hess = np.diag(p.mean(axis=0)) - p.T @ p / m + np.full((C, C), 1.0 / C)
    pull = (p[None] * D).mean(axis=1) - np.einsum("mc,nm->nc", p, (p[None] * D).sum(axis=2)) / m
    return D - np.linalg.solve(hess, pull.T).T[:, None, :]
