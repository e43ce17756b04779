"""The data-copying test C_T (Meehan, Chaudhuri & Dasgupta 2020).

A model *copies* its training data when its samples sit systematically
closer to training samples than fresh data from the same distribution does.
The test compares, cell by cell, the distances to the nearest training
sample of generated samples ``Q_m`` (M rows) and of held-out test samples
``P_n`` (N rows, never trained on).

Definition:

1. Partition the feature space into ``k`` cells: k-means on the training
   features (scikit-learn, ``random_state=seed``), each point in the cell
   of its nearest centre.
2. ``L(x)`` = Euclidean distance from ``x`` to its nearest training sample
   (the whole training set; the authors' code searches only the training
   samples of ``x``'s cell: ``within_cell=True`` does that).
3. In each cell π, the Mann-Whitney U statistic of the generated distances
   against the test distances, ``U_π = #{(q, p) : L(q) > L(p)} + ½ #{ties}``,
   Z-scored under the null of equal distributions with the authors'
   continuity correction and no tie correction:
   ``Z_π = (U_π - m_π n_π / 2 + ½) / sqrt(m_π n_π (m_π + n_π + 1) / 12)``.
4. Cells holding ``τ`` or fewer generated samples are left out (the
   authors' ``Q_m(π) > τ/M`` with ``τ = 20``), as are cells with no test
   sample (their weight is 0).
5. ``C_T = Σ_π P_n(π) Z_π / Σ_π P_n(π)`` over the remaining cells, with
   ``P_n(π)`` the fraction of test samples in π.

``C_T`` is a Z-like statistic: about 0 when the model generalises,
strongly negative (≪ 0) when it copies, strongly positive when it
underfits (its samples are farther from the training data than fresh data
is). Under the null the per-cell ``Z_π`` are independent and about N(0, 1),
so ``C_T · Σw / sqrt(Σw²)`` (``w = P_n(π)``) is about N(0, 1); the one-sided
p-value is ``Φ`` of it, and genbench says "copying" only when
``p < level`` (default 0.01).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr
from scipy.stats import rankdata

from genbench.metrics._checks import feature_matrix, positive_int, same_dimension
from genbench.metrics._nearest import as_float64, nearest_rows

DEFAULT_CELLS = 10
DEFAULT_TAU = 20
"""Cells with at most this many generated samples are left out (the
authors' ``τ = 20/m``)."""
DEFAULT_LEVEL = 0.01
"""One-sided level below which the p-value says "copying"."""


@dataclass(frozen=True)
class CopyingResult:
    """The C_T test's outcome.

    Attributes:
        statistic: ``C_T`` (≪ 0: copying; ≫ 0: underfitting).
        p_value: one-sided p-value for copying (small: evidence of copying).
        copying: ``p_value < level``.
        level: the level of the test.
        cell_z: ``Z_π`` per cell, NaN for cells left out.
        cell_weight: ``P_n(π)`` per cell (fraction of test samples).
        cell_generated: generated samples per cell.
        cells_used: how many cells entered ``C_T``.
        tau: the generated-count threshold used.
    """

    statistic: float
    p_value: float
    copying: bool
    level: float
    cell_z: np.ndarray
    cell_weight: np.ndarray
    cell_generated: np.ndarray
    cells_used: int
    tau: int


def fit_cells(train: np.ndarray, cells: int = DEFAULT_CELLS, *, seed: int = 0) -> np.ndarray:
    """``(cells, d)`` k-means centres of the training features (scikit-learn
    ``KMeans``, 10 initialisations, ``random_state=seed``)."""
    from sklearn.cluster import KMeans

    x = as_float64(feature_matrix(train, "training features"))
    cells = positive_int(cells, "cells")
    if x.shape[0] < cells:
        raise ValueError(
            f"C_T needs at least {cells} training samples for {cells} cells, got {x.shape[0]}"
        )
    model = KMeans(n_clusters=cells, n_init=10, random_state=int(seed)).fit(x)
    return np.asarray(model.cluster_centers_, dtype=np.float64)


def assign_cells(features: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Cell (index of the nearest centre) of each row of ``features``."""
    nearest, _ = nearest_rows(as_float64(features), as_float64(centres))
    return nearest


def mann_whitney_z(generated_distances: np.ndarray, test_distances: np.ndarray) -> float:
    """``Z`` of the Mann-Whitney U statistic of the generated distances
    against the test distances (average ranks for ties; the authors'
    continuity correction ``+½``; no tie correction of the variance).
    Negative when the generated samples are closer to the training set."""
    q = np.asarray(generated_distances, dtype=np.float64)
    p = np.asarray(test_distances, dtype=np.float64)
    m, n = q.size, p.size
    if m == 0 or n == 0:
        raise ValueError(f"Mann-Whitney U needs samples on both sides, got {m} and {n}")
    ranks = rankdata(np.concatenate([q, p]))
    u = float(ranks[:m].sum()) - m * (m + 1) / 2.0
    return (u - m * n / 2.0 + 0.5) / math.sqrt(m * n * (m + n + 1) / 12.0)


def _minimum(metric: str, symbol: str, what: str, count: int, cells: int, tau: int) -> None:
    minimum = cells * (tau + 1)
    if count < minimum:
        raise ValueError(
            f"{metric} needs at least {minimum} {what} ({symbol}) for {cells} cells of more "
            f"than {tau} each, got {symbol}={count}"
        )


def copying_test_from_distances(
    test_distances: np.ndarray,
    test_cells: np.ndarray,
    generated_distances: np.ndarray,
    generated_cells: np.ndarray,
    cells: int,
    *,
    tau: int = DEFAULT_TAU,
    level: float = DEFAULT_LEVEL,
) -> CopyingResult:
    """C_T from precomputed nearest-training distances and cell labels.

    Args:
        test_distances, test_cells: ``L(p)`` and the cell of each test
            sample (computed once per task).
        generated_distances, generated_cells: the same for the generated
            samples.
        cells: the number of cells ``k``.
        tau: cells with at most ``tau`` generated samples are left out.
        level: one-sided level of the copying verdict.

    Raises:
        ValueError: when M or N is below ``cells * (tau + 1)`` (the metric,
            the count and the minimum are named), for bad labels, or a
            level outside (0, 1).
    """
    cells = positive_int(cells, "cells")
    tau = positive_int(tau, "tau", minimum=0)
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    p_dist = np.asarray(test_distances, dtype=np.float64)
    q_dist = np.asarray(generated_distances, dtype=np.float64)
    p_cell = np.asarray(test_cells)
    q_cell = np.asarray(generated_cells)
    if p_dist.ndim != 1 or p_dist.shape != p_cell.shape:
        raise ValueError("test_distances and test_cells must be 1-D of equal length")
    if q_dist.ndim != 1 or q_dist.shape != q_cell.shape:
        raise ValueError("generated_distances and generated_cells must be 1-D of equal length")
    _minimum("C_T", "N", "held-out test samples", p_dist.size, cells, tau)
    _minimum("C_T", "M", "generated samples", q_dist.size, cells, tau)
    for name, labels in (("test_cells", p_cell), ("generated_cells", q_cell)):
        if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() >= cells:
            raise ValueError(f"{name} must be integer cell labels in [0, {cells})")

    weight = np.bincount(p_cell, minlength=cells) / p_dist.size
    generated_count = np.bincount(q_cell, minlength=cells)
    z = np.full(cells, np.nan)
    used = (generated_count > tau) & (weight > 0)
    for cell in np.flatnonzero(used):
        z[cell] = mann_whitney_z(q_dist[q_cell == cell], p_dist[p_cell == cell])
    w = weight[used]
    statistic = float(np.dot(w, z[used]) / w.sum())
    p_value = float(ndtr(statistic * w.sum() / math.sqrt(np.dot(w, w))))
    return CopyingResult(
        statistic=statistic,
        p_value=p_value,
        copying=p_value < level,
        level=float(level),
        cell_z=z,
        cell_weight=weight,
        cell_generated=generated_count,
        cells_used=int(used.sum()),
        tau=tau,
    )


def copying_test(
    train: np.ndarray,
    test: np.ndarray,
    generated: np.ndarray,
    *,
    cells: int = DEFAULT_CELLS,
    tau: int = DEFAULT_TAU,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
    centres: np.ndarray | None = None,
    within_cell: bool = False,
    block_size: int | None = None,
) -> CopyingResult:
    """The C_T test of ``generated`` against ``train`` with held-out ``test``
    samples (all ``n x d`` features); see the module docstring.

    Args:
        cells: k-means cells ``k``.
        tau: cells with at most ``tau`` generated samples are left out.
        level: one-sided level of the copying verdict.
        seed: k-means seed.
        centres: precomputed :func:`fit_cells` centres (then ``cells`` and
            ``seed`` are taken from them).
        within_cell: search the nearest training sample among the training
            samples of the same cell only, as the authors' code does.
        block_size: rows per block (memory bound).

    Raises:
        ValueError: for NaN/inf, mismatched dimensions, or fewer than
            ``cells * (tau + 1)`` test or generated samples.
    """
    t = as_float64(feature_matrix(train, "training features"))
    p = as_float64(feature_matrix(test, "held-out test features"))
    q = as_float64(feature_matrix(generated, "generated features"))
    same_dimension(p, t, ("held-out test features", "training features"))
    same_dimension(q, t, ("generated features", "training features"))
    if centres is None:
        cells = positive_int(cells, "cells")
        tau = positive_int(tau, "tau", minimum=0)
        _minimum("C_T", "N", "held-out test samples", p.shape[0], cells, tau)
        _minimum("C_T", "M", "generated samples", q.shape[0], cells, tau)
        centres = fit_cells(t, cells, seed=seed)
    centres = as_float64(centres)
    cells = centres.shape[0]
    p_cell, q_cell = assign_cells(p, centres), assign_cells(q, centres)
    if within_cell:
        t_cell = assign_cells(t, centres)
        p_dist, q_dist = np.empty(p.shape[0]), np.empty(q.shape[0])
        for cell in range(cells):
            members = t[t_cell == cell]
            for rows_mask, x, out in ((p_cell == cell, p, p_dist), (q_cell == cell, q, q_dist)):
                if rows_mask.any():
                    if members.shape[0] == 0:
                        raise ValueError(f"C_T: cell {cell} holds no training sample")
                    out[rows_mask] = nearest_rows(x[rows_mask], members, block_size=block_size)[1]
    else:
        p_dist = nearest_rows(p, t, block_size=block_size)[1]
        q_dist = nearest_rows(q, t, block_size=block_size)[1]
    return copying_test_from_distances(p_dist, p_cell, q_dist, q_cell, cells, tau=tau, level=level)
