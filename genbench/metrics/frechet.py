"""Fréchet distance between Gaussians fitted to two feature sets (FID, FAD).

Convention: covariances with ``ddof=1`` in float64, and
``FD = ||mu_a - mu_b||^2 + Tr(S_a) + Tr(S_b) - 2 Tr sqrt(S_a S_b)``, as
torch-fidelity's ``fid_features_to_statistics`` / ``fid_statistics_to_metric``
(values agree to 1e-6 relative; see ``tests/test_metrics_frechet.py``).

The trace term ``Tr sqrt(S_a S_b)`` is the sum of the square roots of the
eigenvalues of ``S_a S_b``. With a factor ``S_a = F F^T`` those are the
eigenvalues of the symmetric positive semi-definite ``F^T S_b F``, so one
symmetric eigenvalue problem (no eigenvectors) replaces the general
non-symmetric one: faster, real by construction, and defined for
rank-deficient covariances (tiny negative eigenvalues from rounding are
clipped to zero, never square-rooted into NaN). The factor is a Cholesky
factor when ``S_a`` is positive definite and ``V diag(sqrt(w))`` from its
eigendecomposition otherwise; it is computed once per statistics object, so
pass the statistics you reuse (the real side) as the first argument.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
from scipy.linalg.blas import dtrmm

from genbench.metrics._checks import feature_matrix, finite_array


@dataclass(frozen=True, eq=False)
class CovarianceFactor:
    """``F`` with ``F @ F.T == sigma`` (to rounding).

    Attributes:
        matrix: ``d x r`` float64; lower-triangular ``d x d`` when
            ``triangular`` (a Cholesky factor), else the eigenvectors of the
            ``r`` positive eigenvalues scaled by their square roots.
        triangular: whether ``matrix`` is lower-triangular.
    """

    matrix: np.ndarray
    triangular: bool


@dataclass(frozen=True, eq=False)
class FrechetStatistics:
    """Mean and covariance of one feature set.

    Attributes:
        mu: ``(d,)`` float64 mean.
        sigma: ``(d, d)`` float64 covariance, ``ddof=1``, symmetric.
        n: number of samples the statistics were computed from (recorded so
            results at different N are never compared by accident).
    """

    mu: np.ndarray
    sigma: np.ndarray
    n: int

    def __post_init__(self) -> None:
        mu = finite_array(self.mu, "mu").astype(np.float64)
        sigma = finite_array(self.sigma, "sigma").astype(np.float64)
        if mu.ndim != 1:
            raise ValueError(f"mu must be 1-D, got shape {mu.shape}")
        if sigma.shape != (mu.size, mu.size):
            raise ValueError(
                f"sigma must have shape ({mu.size}, {mu.size}) to match mu, got {sigma.shape}"
            )
        if int(self.n) < 2:
            raise ValueError(f"Fréchet statistics need at least 2 samples, got n={self.n}")
        mu.flags.writeable = False
        sigma.flags.writeable = False
        object.__setattr__(self, "mu", mu)
        object.__setattr__(self, "sigma", sigma)
        object.__setattr__(self, "n", int(self.n))

    @property
    def dim(self) -> int:
        """Feature dimension ``d``."""
        return self.mu.size

    @cached_property
    def factor(self) -> CovarianceFactor:
        """A factor of :attr:`sigma`, computed on first use and kept."""
        return covariance_factor(self.sigma)


def frechet_statistics(features: np.ndarray) -> FrechetStatistics:
    """Mean and ``ddof=1`` covariance (float64) of ``features`` (``n x d``).

    Raises:
        ValueError: for fewer than 2 samples, a non-2-D array, NaN or inf.
    """
    x = feature_matrix(features, "features", min_rows=2).astype(np.float64)
    mu = x.mean(axis=0)
    x -= mu
    # ``x.T @ x`` on one buffer runs a symmetric rank-k update (half a GEMM).
    sigma = (x.T @ x) / (x.shape[0] - 1)
    return FrechetStatistics(mu=mu, sigma=sigma, n=x.shape[0])


def covariance_factor(sigma: np.ndarray) -> CovarianceFactor:
    """Factor a symmetric positive semi-definite ``sigma`` as ``F F^T``.

    Cholesky when it succeeds; otherwise (a rank-deficient covariance, e.g.
    fewer samples than dimensions) the eigendecomposition with negative
    rounding noise clipped to zero and null directions dropped.
    """
    try:
        return CovarianceFactor(np.linalg.cholesky(sigma), triangular=True)
    except np.linalg.LinAlgError:
        eigenvalues, eigenvectors = np.linalg.eigh(sigma)
        keep = eigenvalues > 0
        scaled = eigenvectors[:, keep] * np.sqrt(eigenvalues[keep])
        return CovarianceFactor(scaled, triangular=False)


def trace_sqrt_product(factor: CovarianceFactor, sigma: np.ndarray) -> float:
    """``Tr sqrt(A @ sigma)`` for ``A = factor @ factor.T``: the sum of the
    square roots of the eigenvalues of ``F^T sigma F`` (clipped at 0)."""
    f = factor.matrix
    if factor.triangular:
        left = dtrmm(1.0, f, sigma, side=0, lower=1, trans_a=1)  # F^T sigma
        middle = dtrmm(1.0, f, left, side=1, lower=1, trans_a=0)  # (F^T sigma) F
    else:
        middle = f.T @ sigma @ f
    middle = (middle + middle.T) / 2
    # torch's LAPACK solves this about a third faster than numpy's here.
    eigenvalues = torch.linalg.eigvalsh(torch.from_numpy(middle)).numpy()
    return float(np.sqrt(np.clip(eigenvalues, 0.0, None)).sum())


def frechet_distance(a: FrechetStatistics, b: FrechetStatistics) -> float:
    """Fréchet distance between the Gaussians ``N(a.mu, a.sigma)`` and
    ``N(b.mu, b.sigma)``; symmetric in its arguments up to rounding.

    Uses (and caches) the factor of ``a``: pass the side you reuse first.
    Rounding can push the value of two identical statistics a hair below
    zero; it is clipped at 0.

    Raises:
        ValueError: when the dimensions differ.
    """
    if a.dim != b.dim:
        raise ValueError(
            f"Fréchet statistics have different feature dimensions: {a.dim} vs {b.dim}"
        )
    diff = a.mu - b.mu
    trace_term = trace_sqrt_product(a.factor, b.sigma)
    value = diff @ diff + np.trace(a.sigma) + np.trace(b.sigma) - 2.0 * trace_term
    return max(float(value), 0.0)
