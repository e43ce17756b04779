"""FD∞: the Fréchet distance extrapolated to infinitely many generated
samples (Chong & Forsyth 2020).

The Fréchet distance is biased upward at finite sample counts, by about
``c / M`` for ``M`` generated samples, so numbers computed at different
``M`` cannot be compared. FD∞ fits ``FD(M_i) = FD∞ + c / M_i`` by least
squares over several subset sizes and reports the intercept.

genbench's protocol (pinned; recorded with every value): the real side is
the whole reference (fixed); :data:`SUBSET_SIZES` sizes evenly spaced from
``M / 5`` to ``M`` generated samples; at each size one subset drawn without
replacement from a generator seeded with :data:`SUBSET_SEED` (the largest
is the whole set); an ordinary least-squares line in ``1 / M_i``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genbench.metrics.frechet import FrechetStatistics, frechet_distance, frechet_statistics

SUBSET_SIZES = 10
"""Subset sizes the line is fitted through."""

SMALLEST_FRACTION = 5
"""The smallest subset holds ``M // SMALLEST_FRACTION`` samples."""

MIN_SAMPLES = 100
"""Fewest generated samples FD∞ is defined for here (smallest subset: 20)."""

SUBSET_SEED = 2020
"""Seed of the subset draws."""

PROTOCOL = (
    f"{SUBSET_SIZES} subset sizes from M/{SMALLEST_FRACTION} to M, one subset each without "
    f"replacement (seed {SUBSET_SEED}), least squares of FD on 1/M, intercept"
)
"""The protocol in words, as records state it."""


def subset_sizes(m: int) -> np.ndarray:
    """The subset sizes used for ``m`` generated samples.

    Raises:
        ValueError: ``m`` below :data:`MIN_SAMPLES`, naming FD∞, ``m`` and
            the minimum.
    """
    if m < MIN_SAMPLES:
        raise ValueError(
            f"FD∞ needs at least {MIN_SAMPLES} generated samples "
            f"(smallest subset M/{SMALLEST_FRACTION}); got M = {m}"
        )
    return np.unique(np.linspace(m // SMALLEST_FRACTION, m, SUBSET_SIZES).round().astype(int))


@dataclass(frozen=True)
class FrechetInfinity:
    """FD∞ and the standard error of the fitted intercept (from the
    least-squares residuals: how well ``FD = FD∞ + c / M`` fits)."""

    value: float
    se: float


def frechet_distance_infinity(
    reference: FrechetStatistics, generated: np.ndarray
) -> FrechetInfinity:
    """FD∞ of ``generated`` features ``(M, d)`` against the real statistics
    ``reference``, by :data:`PROTOCOL`.

    Raises:
        ValueError: fewer than :data:`MIN_SAMPLES` generated rows, or
            features that :func:`frechet_statistics` refuses.
    """
    generated = np.asarray(generated)
    sizes = subset_sizes(len(generated))
    rng = np.random.default_rng(SUBSET_SEED)
    distances = []
    for size in sizes:
        rows = rng.choice(len(generated), size=size, replace=False)
        distances.append(frechet_distance(reference, frechet_statistics(generated[rows])))
    coefficients, covariance = np.polyfit(1.0 / sizes, np.asarray(distances), deg=1, cov=True)
    return FrechetInfinity(float(coefficients[1]), float(np.sqrt(covariance[1, 1])))
