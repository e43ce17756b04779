"""Likelihood metrics: nats per example into bits and perplexities.

Input is what the ``log_likelihood`` hook returns, ``log p(x_i)`` in nats
per test example, plus the task's per-example counts of each unit
(:meth:`genbench.tasks.base.Task.dimension_counts`). Conventions
(lm-evaluation-harness for text):

* ``nll_nats`` = mean over examples of ``-log p(x_i)``;
* ``bits_per_<unit>`` = ``-sum_i log p(x_i) / (sum_i count_i * ln 2)``: a
  corpus-level ratio, not a mean of per-example ratios;
* ``<unit>_perplexity`` = ``exp(-sum_i log p(x_i) / sum_i count_i)`` for the
  units ``char``, ``byte`` and ``word``, so ``bits_per_byte`` =
  ``log2(byte_perplexity)``.

Positive log-probabilities: a probability of discrete data is at most 1, so
``log p <= 0``. Values up to :data:`POSITIVE_LOG_PROB_TOLERANCE` nats above 0
are float rounding of ``log 1`` and are clipped to 0; anything larger is a
bug in the model (e.g. a density reported as a probability) and raises.
Continuous data (toy tasks: log-densities) may be positive: pass
``discrete=False``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from genbench.metrics._checks import finite_array, positive_int
from genbench.metrics.info import METRICS
from genbench.metrics.uncertainty import (
    BOOTSTRAP_RESAMPLES,
    Interval,
    bootstrap_indices,
    bootstrap_interval,
)

POSITIVE_LOG_PROB_TOLERANCE = 1e-6
"""Nats above 0 accepted (and clipped to 0) as rounding for discrete data."""

PERPLEXITY_UNITS: tuple[str, ...] = ("char", "byte", "word")
"""Units whose ``<unit>_perplexity`` is reported."""


def likelihood_metrics(
    nats: np.ndarray, counts: Mapping[str, np.ndarray], *, discrete: bool = True
) -> dict[str, float]:
    """``nll_nats``, ``bits_per_<unit>`` and, for char/byte/word,
    ``<unit>_perplexity`` of per-example log-probabilities.

    Args:
        nats: ``(N,)`` log-probabilities (or log-densities) in nats.
        counts: unit name -> ``(N,)`` non-negative counts per example, e.g.
            ``{"dim": [784, ...]}`` or ``{"char": ..., "byte": ..., "word": ...}``.
            ``bits_per_<unit>`` must be a registered metric.
        discrete: whether ``nats`` are log-probabilities of discrete data
            (positive values then raise, see the module docstring).

    Raises:
        ValueError: for NaN/inf, a non-1-D or empty ``nats``, counts of the
            wrong shape, negative or all-zero counts, an unregistered unit,
            or positive log-probabilities of discrete data.
    """
    log_p = finite_array(nats, "nats").astype(np.float64)
    if log_p.ndim != 1 or log_p.size == 0:
        raise ValueError(f"nats must be a non-empty 1-D array, got shape {log_p.shape}")
    if discrete:
        log_p = _clip_rounding(log_p)
    total = float(log_p.sum())
    results = {"nll_nats": -total / log_p.size}
    for unit, unit_counts in counts.items():
        name = f"bits_per_{unit}"
        if name not in METRICS:
            known = sorted(
                k.removeprefix("bits_per_") for k in METRICS if k.startswith("bits_per_")
            )
            raise ValueError(
                f"unit {unit!r} has no registered metric {name!r}; register it with "
                f"genbench.metrics.register_metric or use one of {known}"
            )
        count = finite_array(unit_counts, f"counts[{unit!r}]")
        if count.shape != log_p.shape:
            raise ValueError(
                f"counts[{unit!r}] must have shape {log_p.shape} like nats, got {count.shape}"
            )
        if np.any(count < 0):
            raise ValueError(f"counts[{unit!r}] has negative entries")
        denominator = float(count.sum())
        if denominator <= 0:
            raise ValueError(f"counts[{unit!r}] sums to 0; nothing to normalise by")
        nats_per_unit = -total / denominator
        results[name] = nats_per_unit / math.log(2)
        if unit in PERPLEXITY_UNITS:
            results[f"{unit}_perplexity"] = math.exp(nats_per_unit)
    return results


def likelihood_intervals(
    nats: np.ndarray,
    counts: Mapping[str, np.ndarray],
    *,
    discrete: bool = True,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> dict[str, Interval]:
    """A 95 % interval for each metric of :func:`likelihood_metrics`, from a
    bootstrap over the test examples: each resample recomputes the
    corpus-level ratios (``-sum log p / sum count``), so an example's weight
    is its count, as in the metric itself. The standard error is what judges
    a 0.01 bits/dim difference.

    Raises:
        ValueError: as :func:`likelihood_metrics`, or fewer than 2 examples.
    """
    estimates = likelihood_metrics(nats, counts, discrete=discrete)
    log_p = np.asarray(nats, dtype=np.float64)
    if discrete:
        log_p = _clip_rounding(log_p)
    indices = bootstrap_indices(log_p.size, resamples)
    totals = log_p[indices].sum(axis=1)
    method = f"bootstrap over the {log_p.size} test examples ({resamples} resamples)"
    intervals = {
        "nll_nats": bootstrap_interval(estimates["nll_nats"], -totals / log_p.size, method)
    }
    for unit, unit_counts in counts.items():
        denominators = np.asarray(unit_counts, dtype=np.float64)[indices].sum(axis=1)
        nats_per_unit = -totals / np.maximum(denominators, np.finfo(np.float64).tiny)
        candidates = {
            f"bits_per_{unit}": nats_per_unit / math.log(2),
            f"{unit}_perplexity": np.exp(nats_per_unit),
        }
        for name, replicates in candidates.items():
            if name in estimates:
                intervals[name] = bootstrap_interval(estimates[name], replicates, method)
    return intervals


def dequantised_log_probability(
    log_density_unit_cube: np.ndarray, dims: int, levels: int
) -> np.ndarray:
    """Discrete log-probability (nats) from a continuous density on data
    scaled to ``[0, 1]``: ``log p(y) - dims * ln(levels)``.

    With uniform dequantisation ``y = (x + u) / levels``, ``u ~ U[0, 1)^D``,
    this is Jensen's lower bound on ``log P(x)`` (Glow's convention), exact
    in expectation over ``u`` only for a density constant on each bin.

    Args:
        log_density_unit_cube: ``log p(y)`` in nats, any shape.
        dims: dimensions ``D`` per example.
        levels: discrete levels per dimension (256 for 8-bit data).

    Raises:
        ValueError: for NaN/inf, ``dims < 1`` or ``levels < 2``.
        TypeError: for non-integer ``dims`` or ``levels``.
    """
    log_density = finite_array(log_density_unit_cube, "log_density_unit_cube")
    dims = positive_int(dims, "dims")
    levels = positive_int(levels, "levels", minimum=2)
    return log_density.astype(np.float64) - dims * math.log(levels)


def _clip_rounding(log_p: np.ndarray) -> np.ndarray:
    worst = int(np.argmax(log_p))
    if log_p[worst] > POSITIVE_LOG_PROB_TOLERANCE:
        raise ValueError(
            f"log-probability {log_p[worst]:.6g} nats > 0 at example {worst}: a probability "
            "of discrete data cannot exceed 1 (is a density being reported as a "
            "probability? pass discrete=False for continuous data)"
        )
    return np.minimum(log_p, 0.0)
