"""Uncertainty of metric values: bootstrap intervals within one run, the
combination of seeds, and the test of whether two models differ.

Three sources of variation move a leaderboard number: the generated sample
(which ``M`` samples a model happened to draw), the training run (the seed),
and the real reference (fixed here: every model is scored against the same
real features, so it cannot reorder rows). Within one run, a bootstrap over
the generated samples with the reference fixed measures the first
(:func:`bootstrap_interval`); over seeds, :func:`combine_seeds` merges it with
the second; :func:`difference_test` compares two models on the same footing.

Everything here is a pure function of arrays; random draws are seeded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

LEVEL = 0.95
"""Coverage of every interval genbench reports."""

BOOTSTRAP_RESAMPLES = 200
"""Bootstrap resamples per run (the percentile interval's tails hold 5 each)."""

BOOTSTRAP_SEED = 20240229
"""Seed of the bootstrap's resampling indices (fixed: the same generated
set always gets the same interval)."""


@dataclass(frozen=True)
class Interval:
    """A metric's uncertainty.

    Attributes:
        low, high: the 95 % interval, in the metric's unit.
        se: the standard error (standard deviation of the bootstrap
            replicates, or of the estimator), in the metric's unit.
        resamples: bootstrap resamples behind it (0 for a closed form).
        method: how it was computed, in words a reader can check.
    """

    low: float
    high: float
    se: float
    resamples: int
    method: str

    def to_dict(self) -> dict[str, float | int | str]:
        return {
            "low": self.low,
            "high": self.high,
            "se": self.se,
            "resamples": self.resamples,
            "method": self.method,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Interval:
        return cls(
            low=float(data["low"]),
            high=float(data["high"]),
            se=float(data["se"]),
            resamples=int(data["resamples"]),
            method=str(data["method"]),
        )


def bootstrap_indices(
    n: int, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> np.ndarray:
    """``(resamples, n)`` row indices drawn with replacement, seeded.

    Raises:
        ValueError: ``n`` < 2 or ``resamples`` < 2.
    """
    if n < 2:
        raise ValueError(f"the bootstrap needs at least 2 samples, got {n}")
    if resamples < 2:
        raise ValueError(f"the bootstrap needs at least 2 resamples, got {resamples}")
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def resample_counts(indices: np.ndarray, n: int) -> np.ndarray:
    """``(B, n)`` int counts: how often each of ``n`` samples is drawn in
    each row of ``indices`` (from :func:`bootstrap_indices`)."""
    resamples = indices.shape[0]
    offsets = (np.arange(resamples) * n)[:, None]
    return np.bincount((indices + offsets).ravel(), minlength=resamples * n).reshape(resamples, n)


def generated_bootstrap_method(m: int, resamples: int, how: str) -> str:
    """The ``method`` text of an interval from a bootstrap over ``m``
    generated samples with the real reference fixed; ``how`` says how each
    resample's value was obtained (e.g. ``"recomputed"``)."""
    return (
        f"bootstrap over the {m} generated samples, reference fixed ({resamples} resamples, {how})"
    )


def bootstrap_interval(estimate: float, replicates: np.ndarray, method: str) -> Interval:
    """The normal 95 % interval around ``estimate`` with the standard
    deviation of the bootstrap ``replicates`` (one value per resample) as its
    standard error.

    Normal rather than percentile: recall and coverage count the distinct
    generated points that reach a real point, and a resample drawn with
    replacement holds only about 63 % distinct points, so their replicates
    sit systematically below the estimate; the spread of the replicates is
    still a fair standard error.
    """
    values = np.asarray(replicates, dtype=np.float64)
    se = float(values.std(ddof=1))
    interval = normal_interval(float(estimate), se, f"{method}; normal interval, bootstrap se")
    return Interval(interval.low, interval.high, se, len(values), interval.method)


def normal_interval(value: float, se: float, method: str) -> Interval:
    """The normal 95 % interval ``value ± 1.96 se``."""
    z = float(stats.norm.ppf(0.5 + LEVEL / 2.0))
    return Interval(value - z * se, value + z * se, se, 0, method)


def standard_error_interval(values: np.ndarray, method: str) -> Interval:
    """The normal 95 % interval of the mean of independent ``values`` (e.g.
    per-example bits), from their standard error."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2:
        raise ValueError(f"a standard error needs at least 2 values, got {len(values)}")
    se = float(values.std(ddof=1) / math.sqrt(len(values)))
    return normal_interval(float(values.mean()), se, method)


@dataclass(frozen=True)
class SeedSummary:
    """A metric over seeds.

    Attributes:
        mean: mean over seeds.
        se: standard error of that mean (see :func:`combine_seeds`).
        half_width: half the width of its 95 % interval.
        seeds: the number of seeds.
        df: degrees of freedom of ``se`` (``seeds - 1`` when the seed spread
            sets it, infinite when the bootstrap does).
    """

    mean: float
    se: float
    half_width: float
    seeds: int
    df: float = math.inf


def combine_seeds(values: Sequence[float], ses: Sequence[float]) -> SeedSummary:
    """The mean over seeds of a metric and its standard error, combining
    seed-to-seed and sample-to-sample variation.

    Each seed's value is the model's expected value plus a training effect
    plus a sampling effect whose variance the run's bootstrap estimated
    (``ses``, one per seed). The variance of one seed's value is estimated
    by the larger of the seed-to-seed sample variance (which holds both
    effects but is noisy with few seeds) and the mean bootstrap variance
    (which holds the sampling effect alone); the mean over ``S`` seeds has
    that variance over ``S``. With one seed only the bootstrap variance
    remains. The interval is Student's t with ``S - 1`` degrees of freedom
    when the seed spread sets the variance (three seeds: mean ± 4.30 se),
    else normal (± 1.96 se).

    Raises:
        ValueError: no values, or ``ses`` of another length.
    """
    values = np.asarray(values, dtype=np.float64)
    ses = np.asarray(ses, dtype=np.float64)
    if len(values) == 0 or len(ses) != len(values):
        raise ValueError(f"need one standard error per value, got {len(ses)} for {len(values)}")
    sampling = float(np.mean(ses**2))
    seeds = len(values)
    spread = float(values.var(ddof=1)) if seeds > 1 else 0.0
    df = float(seeds - 1) if spread > sampling else math.inf
    se = math.sqrt(max(spread, sampling) / seeds)
    return SeedSummary(float(values.mean()), se, _quantile(df) * se, seeds, df)


def _quantile(df: float) -> float:
    """The two-sided :data:`LEVEL` quantile of Student's t with ``df``
    degrees of freedom (the normal's for infinite ``df``)."""
    if math.isinf(df):
        return float(stats.norm.ppf(0.5 + LEVEL / 2.0))
    return float(stats.t.ppf(0.5 + LEVEL / 2.0, df))


@dataclass(frozen=True)
class Difference:
    """``A − B`` on one metric, with its uncertainty.

    Attributes:
        estimate: mean of A minus mean of B.
        se: its standard error; ``low``/``high`` its 95 % interval.
        p_value: two-sided p-value of "A and B have the same expected value".
    """

    estimate: float
    se: float
    low: float
    high: float
    p_value: float

    def separated(self, alpha: float) -> bool:
        """True when the test rejects equality at level ``alpha``."""
        return self.p_value < alpha


def difference_test(a: SeedSummary, b: SeedSummary) -> Difference:
    """Test whether two models' expected values differ, from their
    :func:`combine_seeds` summaries (independent training runs and
    independent generated samples, one fixed reference): the difference of
    the means over its combined standard error, two-sided, against Student's
    t with Welch–Satterthwaite degrees of freedom (normal when both
    standard errors come from the bootstrap)."""
    va, vb = a.se**2, b.se**2
    return _difference(a.mean - b.mean, math.sqrt(va + vb), _welch_df(va, a.df, vb, b.df))


def same_model_test(a: SeedSummary, b: SeedSummary) -> Difference:
    """Test whether two sets of runs of the same model configuration (a
    baseline and a fresh run, say) differ: as :func:`difference_test`, but
    with one per-seed variance pooled over both sides, since under "nothing
    changed" they share it. Student's t with ``seeds_a + seeds_b - 2``
    degrees of freedom when a seed spread sets either side's variance,
    normal otherwise."""
    variance_a, variance_b = a.se**2 * a.seeds, b.se**2 * b.seeds
    pooled = (a.seeds * variance_a + b.seeds * variance_b) / (a.seeds + b.seeds)
    se = math.sqrt(pooled * (1.0 / a.seeds + 1.0 / b.seeds))
    df = math.inf if math.isinf(a.df) and math.isinf(b.df) else float(a.seeds + b.seeds - 2)
    return _difference(a.mean - b.mean, se, df)


def _difference(estimate: float, se: float, df: float) -> Difference:
    """``estimate`` with standard error ``se``: its interval and two-sided
    p-value against Student's t with ``df`` degrees of freedom."""
    if se == 0.0:
        p_value = 1.0 if estimate == 0.0 else 0.0
    else:
        p_value = float(2.0 * _tail(abs(estimate) / se, df))
    half = _quantile(df) * se
    return Difference(estimate, se, estimate - half, estimate + half, p_value)


def _tail(t: float, df: float) -> float:
    """``P(T > t)`` for Student's t with ``df`` degrees of freedom (normal
    for infinite ``df``)."""
    return float(stats.norm.sf(t) if math.isinf(df) else stats.t.sf(t, df))


def holm_adjusted(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjustment of ``p_values`` (NaN stays NaN): reject
    where the adjusted value is below ``alpha`` and the chance of any false
    rejection among them is at most ``alpha``."""
    p = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full_like(p, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    order = valid[np.argsort(p[valid], kind="stable")]
    m = len(order)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted


def _welch_df(va: float, dfa: float, vb: float, dfb: float) -> float:
    """Welch–Satterthwaite degrees of freedom of ``va + vb``."""
    denominator = sum(v**2 / df for v, df in ((va, dfa), (vb, dfb)) if not math.isinf(df))
    if denominator == 0.0:
        return math.inf
    return (va + vb) ** 2 / denominator


def rank_groups(summaries: Sequence[SeedSummary], alpha: float) -> list[tuple[int, int]]:
    """Shared ranks for rows already sorted best first: a row starts a new
    group when :func:`difference_test` separates it from the row above at
    level ``alpha`` (each adjacent pair tested once, two-sided); rows of one
    group share the rank span ``(first, last)``, 1-based. A group chains
    neighbours, so its first and last rows may differ significantly."""
    groups: list[list[int]] = []
    for index, summary in enumerate(summaries):
        if index and not difference_test(summaries[index - 1], summary).separated(alpha):
            groups[-1].append(index)
        else:
            groups.append([index])
    spans: list[tuple[int, int]] = []
    for group in groups:
        spans += [(group[0] + 1, group[-1] + 1)] * len(group)
    return spans
