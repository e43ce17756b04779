"""Likelihood-based anomaly detection: how well a model's likelihood tells
the task's test set (in-distribution) from shifted data.

The score of an example is its log-likelihood per dimension (nats per pixel,
per audio sample, per coordinate, per character): higher means "more
in-distribution". The metric is the area under the ROC curve of that score,
in its Mann–Whitney form,

    AUROC = P(s_in > s_shifted) + 1/2 P(s_in = s_shifted),

over every (test, shifted) pair, computed exactly (ties counted half) from
the mid-ranks of the pooled scores: ``(R_in - n_in (n_in + 1) / 2) /
(n_in n_shifted)``, with ``R_in`` the sum of the test scores' mid-ranks.
1 is perfect separation, 0.5 a score that cannot tell the sets apart (a
model that gives every example the same likelihood scores exactly 0.5), 0
a model that finds the shifted data more likely than its own test set.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import rankdata

from genbench.hashing import derive_seed
from genbench.metrics._checks import finite_array
from genbench.metrics.uncertainty import (
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    Interval,
    bootstrap_indices,
    bootstrap_interval,
)

ANOMALY_PREFIX = "anomaly_auroc_"
"""Metric names are ``anomaly_auroc_<shift>``, one per shifted set."""

SHIFTED_BOOTSTRAP_SEED = derive_seed(BOOTSTRAP_SEED, "anomaly", "shifted")
"""Seed of the shifted side's resampling indices: derived from the project's
bootstrap seed so the two sides are resampled independently (the test side
uses :data:`~genbench.metrics.uncertainty.BOOTSTRAP_SEED` itself)."""


def anomaly_auroc(inlier: Any, shifted: Any) -> float:
    """AUROC of ``inlier`` scores (test set) against ``shifted`` scores: the
    probability that a random test example scores higher than a random
    shifted one, ties counted half (see the module docstring).

    Args:
        inlier: ``(N,)`` scores of in-distribution examples (log-likelihood
            per dimension, nats).
        shifted: ``(M,)`` scores of shifted examples, same unit.

    Raises:
        ValueError: either side empty, not 1-D, or holding NaN/infinity.
        TypeError: non-numeric scores.
    """
    a, b = _scores(inlier, "inlier"), _scores(shifted, "shifted")
    return float(_auroc_rows(a[None, :], b[None, :])[0])


def anomaly_auroc_interval(
    inlier: Any, shifted: Any, resamples: int = BOOTSTRAP_RESAMPLES
) -> Interval:
    """The 95 % interval of :func:`anomaly_auroc`: a bootstrap that resamples
    the test and the shifted scores independently (each with replacement,
    seeded), recomputes the AUROC on every resample, and takes the normal
    interval with the replicates' spread as the standard error, as every
    other bootstrap interval in genbench.

    Raises:
        ValueError: as :func:`anomaly_auroc`, or fewer than 2 scores on a side.
    """
    a, b = _scores(inlier, "inlier"), _scores(shifted, "shifted")
    rows_a = bootstrap_indices(a.size, resamples)
    rows_b = bootstrap_indices(b.size, resamples, seed=SHIFTED_BOOTSTRAP_SEED)
    replicates = _auroc_rows(a[rows_a], b[rows_b])
    method = (
        f"bootstrap over the {a.size} test and {b.size} shifted examples, "
        f"resampled independently ({resamples} resamples)"
    )
    return bootstrap_interval(anomaly_auroc(a, b), replicates, method)


def per_dimension(nats: Any, dims: Any) -> np.ndarray:
    """Log-likelihood per dimension, ``nats / dims`` elementwise: the score
    :func:`anomaly_auroc` ranks (so long and short documents compare).

    Raises:
        ValueError: shapes differ, NaN/infinity, or a count below 1.
    """
    log_p = finite_array(nats, "nats").astype(np.float64)
    count = finite_array(dims, "dims").astype(np.float64)
    if log_p.shape != count.shape:
        raise ValueError(f"nats has shape {log_p.shape} but dims has shape {count.shape}")
    if np.any(count < 1):
        raise ValueError("every example needs at least one dimension (dims >= 1)")
    return log_p / count


def _scores(x: Any, name: str) -> np.ndarray:
    array = finite_array(x, f"{name} scores").astype(np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} scores must be a non-empty 1-D array, got shape {array.shape}")
    return array


def _auroc_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """AUROC of each row of ``a`` (``B x N``) against the same row of ``b``
    (``B x M``), from mid-ranks of each pooled row (ties counted half)."""
    n, m = a.shape[1], b.shape[1]
    ranks = rankdata(np.concatenate([a, b], axis=1), method="average", axis=1)
    u = ranks[:, :n].sum(axis=1) - n * (n + 1) / 2.0
    return u / (n * m)
