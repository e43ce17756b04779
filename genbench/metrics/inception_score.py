"""Classifier-based Inception Score from class probabilities.

``IS = exp(E_x KL(p(y|x) || p(y)))`` with ``p(y)`` the mean of ``p(y|x)``
over the split, computed on ``splits`` consecutive chunks and reported as
mean and standard deviation (``ddof=0``) over the chunks.

Conventions match torch-fidelity's ``isc_features_to_metric``: the rows are
first shuffled with ``numpy.random.RandomState(seed).permutation(N)``
(``seed=2020``; pass ``seed=None`` to keep the given order), chunk ``i``
holds rows ``[i*N//splits, (i+1)*N//splits)``, and everything is float64.
torch-fidelity takes logits; here the task's classifier hands over
probabilities, with ``0 * log 0 = 0``. Each row is renormalised to sum to 1
in float64 before the KL divergences: rows handed in as float32 (or from a
float32 softmax) sum to 1 only within about 1e-7, and the score is defined
for distributions. Given ``logits = log(probs)`` the two agree to float64
rounding.
"""

from __future__ import annotations

import numpy as np
from scipy.special import xlogy

from genbench.metrics._checks import feature_matrix, positive_int

PROBABILITY_TOLERANCE = 1e-6
"""How far a row of probabilities may sum from 1 (or dip below 0)."""


def classifier_inception_score(
    probs: np.ndarray, splits: int = 10, *, seed: int | None = 2020
) -> tuple[float, float]:
    """Inception Score ``(mean, std)`` of class probabilities ``probs``.

    Args:
        probs: ``(N, C)`` rows of ``p(y|x)``: non-negative, each summing to 1
            within :data:`PROBABILITY_TOLERANCE`; renormalised in float64
            before use.
        splits: number of chunks, at most ``N``.
        seed: seed of the row shuffle, or ``None`` for no shuffle.

    Closed forms: identical rows give 1; one-hot rows spread evenly over
    ``C`` classes within each chunk give ``C``.

    Raises:
        ValueError: for NaN/inf, negative entries, rows not summing to 1,
            or ``splits`` outside ``[1, N]``.
    """
    p = feature_matrix(probs, "probs").astype(np.float64)
    if np.any(p < -PROBABILITY_TOLERANCE):
        raise ValueError("probs has negative entries")
    sums = p.sum(axis=1)
    worst = int(np.argmax(np.abs(sums - 1.0)))
    if abs(sums[worst] - 1.0) > PROBABILITY_TOLERANCE:
        raise ValueError(f"each row of probs must sum to 1; row {worst} sums to {sums[worst]:.6g}")
    p = np.clip(p, 0.0, None)
    p /= p.sum(axis=1, keepdims=True)
    n = p.shape[0]
    splits = positive_int(splits, "splits")
    if splits > n:
        raise ValueError(f"splits ({splits}) cannot exceed the number of samples ({n})")
    if seed is not None:
        p = p[np.random.RandomState(seed).permutation(n)]
    scores = np.empty(splits)
    for i in range(splits):
        chunk = p[i * n // splits : (i + 1) * n // splits]
        marginal = chunk.mean(axis=0)
        kl = xlogy(chunk, chunk).sum(axis=1) - xlogy(chunk, marginal).sum(axis=1)
        scores[i] = np.exp(kl.mean())
    return float(scores.mean()), float(scores.std())
