"""Class-conditional accuracy: how often an in-domain classifier assigns a
generated sample to the class it was asked for, with a binomial interval.
Pure functions over class probabilities and labels."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from genbench.metrics.uncertainty import LEVEL, Interval


def class_accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The fraction of samples whose most probable class (``argmax`` of
    ``probabilities``, ``(n, K)``) is the class asked for (``labels``,
    ``(n,)``).

    Raises:
        ValueError: mismatched lengths, no samples, or a label outside
            ``[0, K)``.
    """
    probabilities = np.asarray(probabilities)
    labels = np.asarray(labels)
    if probabilities.ndim != 2 or labels.shape != (len(probabilities),):
        raise ValueError(
            f"class accuracy needs (n, K) probabilities and (n,) labels, got "
            f"{probabilities.shape} and {labels.shape}"
        )
    if not len(labels):
        raise ValueError("class accuracy needs at least one sample")
    classes = probabilities.shape[1]
    if labels.min() < 0 or labels.max() >= classes:
        raise ValueError(
            f"labels must lie in [0, {classes}) for {classes} class probabilities, "
            f"got {int(labels.min())}..{int(labels.max())}"
        )
    return float((probabilities.argmax(axis=1) == labels).mean())


def wilson_interval(successes: int, n: int) -> Interval:
    """The Wilson score 95 % interval of a proportion ``successes / n``
    (binomial), with the standard error ``sqrt(p (1 - p) / n)``.

    Raises:
        ValueError: ``n`` < 1 or ``successes`` outside ``[0, n]``.
    """
    if n < 1 or not 0 <= successes <= n:
        raise ValueError(f"a proportion needs n >= 1 and 0 <= successes <= n, got {successes}/{n}")
    z = float(stats.norm.ppf(0.5 + LEVEL / 2.0))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    method = f"Wilson score interval over the {n} class-conditional samples (binomial)"
    return Interval(
        max(0.0, centre - half), min(1.0, centre + half), math.sqrt(p * (1 - p) / n), 0, method
    )
