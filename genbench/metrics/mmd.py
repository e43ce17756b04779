"""MMD with a Gaussian RBF kernel, the CMMD construction (Jayasumana et al. 2024).

Definition. With ``k(x, y) = exp(-|x - y|^2 / (2 σ^2))``, real ``X`` (N rows)
and generated ``Y`` (M rows), the unbiased estimator of the squared maximum
mean discrepancy (Gretton et al. 2012, eq. 3) is::

    MMD²_u = 1/(N(N-1)) Σ_{i≠j} k(x_i, x_j) + 1/(M(M-1)) Σ_{i≠j} k(y_i, y_j)
             - 2/(NM) Σ_{i,j} k(x_i, y_j)

and genbench reports ``mmd_rbf = 1000 · MMD²_u`` -- the ×1000 scale that
CMMD applies "to make the metric more human readable". It can be slightly
negative when the sets are alike (the estimator is unbiased, not
non-negative).

Conventions:

* ``σ`` is fixed per call and recorded in the result; CMMD's value is
  ``σ = 10`` on unit-length CLIP embeddings, the default here. On other
  features the scale of σ relative to the feature distances decides what
  the number means: compare values only at equal σ and feature extractor.
* CMMD's published code computes the *biased* (minimum-variance)
  V-statistic: the means over all ``N²`` and ``M²`` pairs, diagonal
  included. ``biased=True`` gives that estimator (to reproduce CMMD's
  numbers); the two differ by ``O(1/N + 1/M)``.
* Sums are accumulated in float64 over blocks of rows, so memory stays
  bounded at any N, M.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genbench.metrics._checks import feature_matrix, same_dimension
from genbench.metrics._inputs import check_bandwidth, enough_samples
from genbench.metrics._nearest import as_float64, squared_distance_blocks
from genbench.metrics.pairwise import DistanceScreen, GramBlock

CMMD_SIGMA = 10.0
"""CMMD's RBF bandwidth (on unit-length CLIP embeddings)."""
CMMD_SCALE = 1000.0
"""CMMD's multiplier of MMD²."""


@dataclass(frozen=True)
class MMDResult:
    """An RBF-kernel MMD² and how it was computed.

    Attributes:
        value: ``scale * mmd2`` (what ``mmd_rbf`` reports).
        mmd2: the unscaled MMD² estimate.
        sigma: the RBF bandwidth used.
        scale: the multiplier (1000 as CMMD).
        biased: whether the biased V-statistic was used (CMMD's code)
            instead of the unbiased estimator.
        n_real: N.
        n_generated: M.
    """

    value: float
    mmd2: float
    sigma: float
    scale: float
    biased: bool
    n_real: int
    n_generated: int


def rbf_kernel_sum(
    x: np.ndarray,
    y: np.ndarray | None = None,
    *,
    sigma: float = CMMD_SIGMA,
    block_size: int | None = None,
) -> float:
    """``Σ_{i,j} k(x_i, y_j)`` in float64; with ``y=None`` the sum over pairs
    ``i ≠ j`` of ``x`` with itself (the diagonal, all ones, left out)."""
    sigma = check_bandwidth(sigma, "MMD")
    a = as_float64(x)
    b = a if y is None else as_float64(y)
    scale = -1.0 / (2.0 * sigma**2)
    total = 0.0
    for rows, squared in squared_distance_blocks(a, b, block_size=block_size):
        values = np.exp(squared * scale)
        if y is None:
            local = np.arange(values.shape[0])
            values[local, rows.start + local] = 0.0
        total += float(values.sum())
    return total


def mmd_rbf(
    real: np.ndarray,
    generated: np.ndarray,
    sigma: float = CMMD_SIGMA,
    *,
    scale: float = CMMD_SCALE,
    biased: bool = False,
    real_kernel_sum: float | None = None,
    block_size: int | None = None,
) -> MMDResult:
    """RBF-kernel MMD² between ``real`` (N x d) and ``generated`` (M x d).

    Args:
        sigma: the kernel bandwidth (> 0, finite); recorded in the result.
        scale: multiplier of the reported value (CMMD: 1000).
        biased: use the V-statistic of CMMD's code instead of the unbiased
            estimator.
        real_kernel_sum: ``rbf_kernel_sum(real, sigma=sigma)`` computed once
            per reference (at the same σ), to skip the N x N pass.
        block_size: rows per block (memory bound); values do not depend on it.

    Raises:
        ValueError: for NaN/inf, mismatched dimensions, fewer than 2 samples
            on a side, or a bandwidth of 0, below 0 or NaN (named in the
            message).
    """
    sigma = check_bandwidth(sigma, "MMD")
    x = as_float64(feature_matrix(real, "real features", min_rows=0))
    y = as_float64(feature_matrix(generated, "generated features", min_rows=0))
    same_dimension(x, y, ("real features", "generated features"))
    n, m = x.shape[0], y.shape[0]
    enough_samples("MMD", "N", n, 2, what="real samples")
    enough_samples("MMD", "M", m, 2, what="generated samples")
    if real_kernel_sum is None:
        xx = rbf_kernel_sum(x, sigma=sigma, block_size=block_size)
    else:
        xx = float(real_kernel_sum)
    yy = rbf_kernel_sum(y, sigma=sigma, block_size=block_size)
    xy = rbf_kernel_sum(y, x, sigma=sigma, block_size=block_size)
    if biased:
        mmd2 = (xx + n) / n**2 + (yy + m) / m**2 - 2.0 * xy / (n * m)
    else:
        mmd2 = xx / (n * (n - 1)) + yy / (m * (m - 1)) - 2.0 * xy / (n * m)
    return MMDResult(
        value=float(scale * mmd2),
        mmd2=float(mmd2),
        sigma=sigma,
        scale=float(scale),
        biased=bool(biased),
        n_real=n,
        n_generated=m,
    )


class RBFKernelRowSums:
    """Each generated sample's RBF kernel sums with the other generated
    samples and with the real ones, from the blocks of one pass of
    :func:`~genbench.metrics.pairwise.generated_gram_blocks`: the pieces of
    ``mmd_rbf`` and of its first-order influence.

    Kernel values come from the screened squared distances in the blocks'
    dtype (float32 above :data:`~genbench.metrics.pairwise.FLOAT64_SCREEN_MAX_DIM`
    dimensions, float64 at or below), row sums are accumulated in float64.
    A squared distance off by ``δ`` changes its kernel value by the factor
    ``exp(-δ / (2 σ²))``, so each value carries a relative error of at most
    ``tau (|x|² + |y|²) / (2 σ²)`` (``tau`` from
    :func:`~genbench.metrics.pairwise.screening_tolerance`); the errors of
    different pairs largely cancel in the sums (docs/metrics.md gives the
    measured effect on ``mmd_rbf``).

    Args:
        among: the screen of generated-to-generated distances.
        to_real: the screen of generated (left) to real (right) distances.
        sigma: the RBF bandwidth (> 0, finite).
    """

    def __init__(self, among: DistanceScreen, to_real: DistanceScreen, sigma: float) -> None:
        sigma = check_bandwidth(sigma, "MMD")
        self._among, self._to_real = among, to_real
        self._scale = np.asarray(-1.0 / (2.0 * sigma**2), dtype=to_real.dtype)
        m = to_real.left.shape[0]
        self.with_generated = np.zeros(m)
        self.with_real = np.zeros(m)

    def add(self, block: GramBlock) -> None:
        """Add one block of generated rows."""
        rows = block.rows
        kernel = np.exp(self._among.squared(block.generated, rows) * self._scale)
        local = np.arange(kernel.shape[0])
        kernel[local, rows.start + local] = 0.0  # the diagonal i = j is left out
        self.with_generated[rows] = kernel.sum(axis=1, dtype=np.float64)
        kernel = np.exp(self._to_real.squared(block.real, rows) * self._scale)
        self.with_real[rows] = kernel.sum(axis=1, dtype=np.float64)
