"""α-precision and β-recall (Alaa et al. 2022, "How faithful is your synthetic data?").

The paper compares a generated distribution with the real one through their
*α-supports*: the minimum-volume sets holding a fraction α of each
distribution's mass. It learns a one-class embedding in which the real
α-supports are balls about a centre ``c``. genbench does not train an
embedding: it uses the task's feature extractor as the embedding and the
mean of the real features as ``c``. So, with real ``R`` (N rows) and
generated ``G`` (M rows):

* **α-precision.** ``r_α`` = the α-quantile (``numpy.quantile``, linear
  interpolation) of the real distances ``|R_i - c|``; the real α-support is
  the ball ``{x : |x - c| <= r_α}``, and
  ``P_α = (1/M) #{j : |G_j - c| <= r_α}``, the fraction of generated samples
  inside it. Ideally ``P_α = α``.
* **β-recall**, as the authors' code estimates it: the generated β-support
  is a ball about the generated mean ``ĉ_g``. For each real ``R_i`` let
  ``G_j(i)`` be its nearest generated sample and ``ρ_i`` the distance from
  ``R_i`` to its nearest *other* real sample. ``R_i`` is recalled at level
  β when ``|R_i - G_j(i)| <= ρ_i`` (the generated neighbour lies in the
  real point's 1-NN ball) and ``|G_j(i) - ĉ_g| <= s_β``, where ``s_β`` is
  the β-quantile over ``i`` of ``|G_j(i) - ĉ_g|``.
  ``R_β = (1/N) #{recalled i}``. Ideally ``R_β = β``.
* **Integrated values** (the leaderboard numbers), as the paper defines
  them: ``Δ-precision = 1 - 2 ∫_0^1 |P_α - α| dα`` and
  ``Δ-recall = 1 - 2 ∫_0^1 |R_β - β| dβ``, integrated by the trapezoid rule
  over the grid. Both are 1 for a perfect match and 0 when the curve stays
  at 0 (disjoint supports). The authors' code uses the Riemann sum
  ``1 - Σ|P - α| / Σα`` (one release: ``2 Σ P Δα``); on the default grid
  the trapezoid and Riemann forms differ by at most ``1/points``.

Grid: ``points`` levels evenly spaced on ``[0, 1]``, both ends included;
default 30, the authors' ``n_steps``. Distances are Euclidean, float64.
Authenticity, the paper's third number, is in
:mod:`genbench.metrics.authenticity`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from genbench.metrics._checks import feature_matrix, positive_int, same_dimension
from genbench.metrics._inputs import enough_samples
from genbench.metrics._nearest import as_float64, nearest_rows, row_distances
from genbench.metrics.pairwise import DistanceScreen, GramBlock, certain_bounds

DEFAULT_POINTS = 30
"""Levels on the α (= β) grid: the authors' ``n_steps``."""


@dataclass(frozen=True)
class AlphaBetaResult:
    """α-precision and β-recall curves and their integrated values.

    Attributes:
        levels: the grid of α (= β) values, ``(points,)`` from 0 to 1.
        alpha_precision: ``P_α`` at each level.
        beta_recall: ``R_β`` at each level.
        delta_precision: ``1 - 2 ∫ |P_α - α| dα`` (trapezoid rule).
        delta_recall: ``1 - 2 ∫ |R_β - β| dβ`` (trapezoid rule).
    """

    levels: np.ndarray
    alpha_precision: np.ndarray
    beta_recall: np.ndarray
    delta_precision: float
    delta_recall: float


def level_grid(points: int = DEFAULT_POINTS) -> np.ndarray:
    """``points`` levels evenly spaced on ``[0, 1]``, ends included."""
    points = positive_int(points, "points", minimum=2)
    return np.linspace(0.0, 1.0, points)


def _levels(levels: np.ndarray) -> np.ndarray:
    values = np.asarray(levels, dtype=np.float64)
    if values.ndim != 1 or values.size < 2:
        raise ValueError(
            f"levels must be a 1-D grid of at least 2 values, got shape {values.shape}"
        )
    if not np.all(np.isfinite(values)) or values.min() < 0 or values.max() > 1:
        raise ValueError("levels must lie in [0, 1]")
    if np.any(np.diff(values) <= 0):
        raise ValueError("levels must be strictly increasing")
    return values


def _distances(values: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise ValueError(f"{name} must be finite and non-negative")
    return array


def alpha_precision_curve(
    real_to_centre: np.ndarray, generated_to_centre: np.ndarray, levels: np.ndarray
) -> np.ndarray:
    """``P_α`` at each level from the distances of the real and generated
    samples to the centre ``c`` (the real mean).

    Raises:
        ValueError: with fewer than 2 real samples (no quantile) or no
            generated sample.
    """
    real = _distances(real_to_centre, "real_to_centre")
    generated = _distances(generated_to_centre, "generated_to_centre")
    enough_samples("alpha-precision", "N", real.size, 2, what="real samples")
    enough_samples("alpha-precision", "M", generated.size, 1, what="generated samples")
    radii = np.quantile(real, _levels(levels))
    return np.mean(generated[None, :] <= radii[:, None], axis=1)


def beta_recall_curve(
    real_nearest_real: np.ndarray,
    real_to_generated: np.ndarray,
    neighbour_to_generated_centre: np.ndarray,
    levels: np.ndarray,
) -> np.ndarray:
    """``R_β`` at each level from per-real-sample distances.

    Args:
        real_nearest_real: ``ρ_i``, each real sample's distance to its
            nearest other real sample.
        real_to_generated: ``|R_i - G_j(i)|``, distance to the nearest
            generated sample.
        neighbour_to_generated_centre: ``|G_j(i) - ĉ_g|``, that generated
            sample's distance to the generated mean.
        levels: the β grid.

    Raises:
        ValueError: with fewer than 2 real samples or mismatched lengths.
    """
    rho = _distances(real_nearest_real, "real_nearest_real")
    to_generated = _distances(real_to_generated, "real_to_generated")
    to_centre = _distances(neighbour_to_generated_centre, "neighbour_to_generated_centre")
    if not rho.shape == to_generated.shape == to_centre.shape:
        raise ValueError(
            "beta-recall inputs must have one entry per real sample, got lengths "
            f"{rho.size}, {to_generated.size}, {to_centre.size}"
        )
    enough_samples("beta-recall", "N", rho.size, 2, what="real samples")
    radii = np.quantile(to_centre, _levels(levels))
    covered = to_generated <= rho
    return np.mean(covered[None, :] & (to_centre[None, :] <= radii[:, None]), axis=1)


def integrated_value(curve: np.ndarray, levels: np.ndarray) -> float:
    """``1 - 2 ∫ |curve(α) - α| dα`` by the trapezoid rule over ``levels``."""
    grid = _levels(levels)
    gap = np.abs(np.asarray(curve, dtype=np.float64) - grid)
    return float(1.0 - 2.0 * np.sum((gap[1:] + gap[:-1]) * np.diff(grid)) / 2.0)


def alpha_beta_metrics(
    real: np.ndarray,
    generated: np.ndarray,
    *,
    points: int = DEFAULT_POINTS,
    real_nearest_real: np.ndarray | None = None,
    block_size: int | None = None,
) -> AlphaBetaResult:
    """α-precision and β-recall curves of ``generated`` (M x d) against
    ``real`` (N x d), and their integrated values.

    Args:
        points: levels on the grid (>= 2).
        real_nearest_real: each real sample's distance to its nearest other
            real sample, computed once per reference (saves an N x N pass).
        block_size: rows per block (memory bound); values do not depend on it.

    Raises:
        ValueError: for NaN/inf, mismatched dimensions, fewer than 2 real or
            2 generated samples (the metric, the count and the minimum are
            named), or fewer than 2 grid points.
    """
    r = as_float64(feature_matrix(real, "real features", min_rows=0))
    g = as_float64(feature_matrix(generated, "generated features", min_rows=0))
    same_dimension(r, g, ("real features", "generated features"))
    enough_samples("alpha-precision/beta-recall", "N", r.shape[0], 2, what="real samples")
    enough_samples("alpha-precision/beta-recall", "M", g.shape[0], 2, what="generated samples")
    levels = level_grid(points)

    centre = r.mean(axis=0)
    precision = alpha_precision_curve(
        row_distances(r, centre[None, :]), row_distances(g, centre[None, :]), levels
    )

    if real_nearest_real is None:
        _, real_nearest_real = nearest_rows(r, r, exclude_self=True, block_size=block_size)
    nearest, to_generated = nearest_rows(r, g, block_size=block_size)
    generated_centre = g.mean(axis=0)
    neighbour_to_centre = row_distances(g[nearest], generated_centre[None, :])
    recall = beta_recall_curve(real_nearest_real, to_generated, neighbour_to_centre, levels)
    return AlphaBetaResult(
        levels=levels,
        alpha_precision=precision,
        beta_recall=recall,
        delta_precision=integrated_value(precision, levels),
        delta_recall=integrated_value(recall, levels),
    )


CANDIDATE_MARGIN = 8
"""Generated samples kept per real sample beyond the ``keep`` nearest while
the blocks go by (by screened distance), so that rounding rarely forces a
second look."""


class NearestGenerated:
    """Each real sample's ``keep`` nearest generated samples, in order, from
    the blocks of one pass of :func:`~genbench.metrics.pairwise.generated_gram_blocks`
    (β-recall's nearest generated sample and its bootstrap candidates).

    While the blocks go by, each real sample keeps its ``keep + margin``
    nearest generated samples by screened squared distance and the smallest
    screened value it dropped. :meth:`result` recomputes the kept ones
    exactly (float64 coordinate differences) and orders them by exact value,
    lower generated index first among ties. The order is final where the
    smallest dropped value exceeds the exact ``keep``-th by more than the
    screening error bound; any other real sample (rare: many near-equal
    distances) is searched again over all generated samples with
    :meth:`~genbench.metrics.pairwise.DistanceScreen.smallest`.

    Args:
        to_real: the screen of generated (left) to real (right) distances,
            in the dtype of the blocks.
        keep: nearest generated samples wanted per real sample (at most M
            are returned).
        margin: extra ones kept while screening.
    """

    def __init__(self, to_real: DistanceScreen, keep: int, *, margin: int = CANDIDATE_MARGIN):
        self._screen = to_real
        m, n = to_real.left.shape[0], to_real.right.shape[0]
        self._keep = min(positive_int(keep, "keep"), m)
        self._width = min(self._keep + positive_int(margin, "margin", minimum=0), m)
        self._values = np.empty((n, 0), dtype=to_real.dtype)
        self._columns = np.empty((n, 0), dtype=np.int64)
        self._dropped = np.full(n, np.inf)
        self._rows_seen = 0

    def add(self, block: GramBlock) -> None:
        """Merge one block of generated rows into each real sample's list."""
        rows = block.rows
        squared = self._screen.squared(block.real, rows)
        values = np.concatenate([self._values, squared.T], axis=1)
        columns = np.concatenate(
            [self._columns, np.broadcast_to(np.arange(rows.start, rows.stop), squared.T.shape)],
            axis=1,
        )
        width = min(self._width + 1, values.shape[1])
        top = torch.topk(torch.from_numpy(values), width, dim=1, largest=False, sorted=True)
        order = top.indices.numpy()
        if width > self._width:
            self._dropped = np.minimum(self._dropped, top.values[:, self._width].numpy())
            order = order[:, : self._width]
        self._values = np.take_along_axis(values, order, axis=1)
        self._columns = np.take_along_axis(columns, order, axis=1)
        self._rows_seen += rows.stop - rows.start

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """``(N, keep)`` generated indices of each real sample's nearest
        generated samples, nearest first, and the exact distances to them
        (float64, the square roots of exact squared distances)."""
        m = self._screen.left.shape[0]
        if self._rows_seen != m:
            raise RuntimeError(
                f"saw {self._rows_seen} of {m} generated rows; feed every block first"
            )
        n, width = self._columns.shape
        real = np.repeat(np.arange(n), width)
        exact = self._screen.exact(self._columns.ravel(), real).reshape(n, width)
        order = np.lexsort((self._columns, exact), axis=1)[:, : self._keep]
        chosen = np.take_along_axis(self._columns, order, axis=1)
        squared = np.take_along_axis(exact, order, axis=1)
        errors = self._screen.column_errors(slice(None))
        _, above = certain_bounds(squared[:, -1], errors, self._screen.dtype)
        again = np.flatnonzero(~(self._dropped > above))
        if again.size:
            chosen[again], squared[again] = self._search(again)
        return chosen, np.sqrt(squared)

    def _search(self, real_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The exact ``keep`` nearest generated samples of the real rows
        ``real_rows``, screened over all generated samples."""
        screen = DistanceScreen(
            self._screen.right,
            self._screen.left,
            left_norms=self._screen.right_norms,
            right_norms=self._screen.left_norms,
        )
        squared = screen.squared(screen.left[real_rows] @ screen.right.T, real_rows)
        return screen.smallest(squared, real_rows, self._keep)
