"""Per-sample influence of generated samples on FID and KID: the first-order
change of each metric when one generated sample gains weight.

A bootstrap that recomputes FID and KID for every resample costs a QR and a
singular value decomposition (FID) or a kernel pass (KID) per resample,
which at ``d = 2048`` and ``M = 10,000`` takes minutes. Both metrics are
smooth functions of the generated sample, so a resample's value is, to first
order, the full value plus the resample's mean influence minus the full
sample's: the linearised bootstrap (infinitesimal jackknife). Its interval
agrees with the full bootstrap's to within the bootstrap's own noise at the
sample counts genbench uses (``tests/metrics/test_influence.py`` measures
it).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from genbench.metrics.frechet import FrechetStatistics
from genbench.metrics.kid import polynomial_kernel
from genbench.metrics.pairwise import GramBlock

SINGULAR_CUTOFF = 1e-12
"""Singular values below this fraction of the largest are treated as 0 (the
null directions of rank-deficient covariances)."""


def frechet_influence(
    real: FrechetStatistics, generated: FrechetStatistics, features: np.ndarray
) -> np.ndarray:
    """``(M,)`` influence of each generated sample on the Fréchet distance.

    With ``y`` a generated sample, ``mu`` and ``S`` the generated mean and
    covariance, ``mu_R``/``S_R`` the real ones and ``T = Tr sqrt(S_R S)``,
    the influence is ``2 (mu - mu_R)·(y - mu) + |y - mu|² - Tr S - (q(y) - T)``
    where ``q(y) = (y - mu)ᵀ S_R^½ (S_R^½ S S_R^½)^-½ S_R^½ (y - mu)``,
    computed from the singular value decomposition of
    ``real.root @ generated.root.T``. Centred to mean 0.
    """
    product = real.root @ generated.root.T
    left, singular, _ = scipy.linalg.svd(product, full_matrices=False, check_finite=False)
    keep = singular > SINGULAR_CUTOFF * max(float(singular.max(initial=0.0)), np.finfo(float).tiny)
    whitening = real.root.T @ (left[:, keep] / np.sqrt(singular[keep]))
    centred = np.asarray(features, dtype=np.float64) - generated.mu
    quadratic = np.einsum("ij,ij->i", centred @ whitening, centred @ whitening)
    trace_term = float(singular[keep].sum())
    influence = (
        2.0 * centred @ (generated.mu - real.mu)
        + np.einsum("ij,ij->i", centred, centred)
        - generated.trace
        - (quadratic - trace_term)
    )
    return influence - influence.mean()


class KernelRowSums:
    """Accumulates, over :class:`GramBlock` s, each generated sample's mean
    KID kernel value with the other generated samples and with the real
    ones: the pieces of its KID influence."""

    def __init__(self, m: int, dim: int) -> None:
        self._dim = dim
        self._generated = np.zeros(m)
        self._real = np.zeros(m)

    def add(self, block: GramBlock) -> None:
        """Add one block of generated rows."""
        rows = block.rows
        kernel = polynomial_kernel(block.generated, self._dim)
        local = np.arange(kernel.shape[0])
        kernel[local, rows.start + local] = 0.0  # a sample is not its own neighbour
        self._generated[rows] = kernel.sum(axis=1) / (kernel.shape[1] - 1)
        self._real[rows] = polynomial_kernel(block.real, self._dim).mean(axis=1)

    def influence(self) -> np.ndarray:
        """``(M,)`` influence of each generated sample on the unbiased MMD²
        behind KID: ``2 (mean kernel with generated - mean kernel with
        real)``, the Hájek projection of its generated-generated and
        generated-real terms. Centred to mean 0."""
        influence = 2.0 * (self._generated - self._real)
        return influence - influence.mean()


def linearised_replicates(value: float, influence: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``value`` plus each resample's mean influence: ``(B,)`` replicates for
    resample counts ``(B, M)`` (how often each sample is drawn)."""
    return value + counts @ influence / counts.shape[1]
