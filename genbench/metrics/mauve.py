"""MAUVE (Pillutla et al., 2021) on embedding vectors.

Recipe (the reference implementation, ``mauve-text``'s ``compute_mauve``
with its defaults): scale every embedding to unit Euclidean norm, stack the
real and generated rows, project them with PCA (centred, not whitened)
onto the fewest components that explain 90 % of the variance, quantise
with k-means into ``max(2, round(min(N, M) / 10))`` clusters (5 restarts, at
most 500 iterations), and histogram each side over the clusters as ``P``
(real) and ``Q`` (generated). The row normalisation makes MAUVE invariant
to a positive rescaling of each embedding. The reference clusters with
faiss and genbench with scikit-learn's ``KMeans``, so the two agree where
the clusters are unambiguous and otherwise differ as k-means runs do. For
mixtures ``R_l = l P + (1 - l) Q`` at 25 weights ``l`` evenly spaced in
``[1e-6, 1 - 1e-6]`` the divergence frontier has points
``(exp(-c KL(Q || R_l)), exp(-c KL(P || R_l)))``, ``c = 5``, closed by the
points ``(1, 0)`` and ``(0, 1)``; MAUVE is the area under it (trapezoids, in
order of the first coordinate). Identical histograms give exactly 1.

k-means depends on its seed, and MAUVE's spread across seeds is as large as
the gaps between models, so :func:`mauve` runs several seeds and reports
their mean and standard deviation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SCALING = 5.0
FRONTIER_POINTS = 25
EXPLAINED_VARIANCE = 0.9
DEFAULT_SEEDS: tuple[int, ...] = (0, 1, 2, 3, 4)


@dataclass(frozen=True)
class MauveResult:
    """MAUVE over several k-means seeds.

    Attributes:
        mean: mean over seeds.
        std: standard deviation over seeds (ddof 0).
        values: one value per seed.
        clusters: number of k-means clusters.
    """

    mean: float
    std: float
    values: tuple[float, ...]
    clusters: int


def kl_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """``sum_i p_i log(p_i / q_i)`` in nats over ``p_i > 0`` (``inf`` when
    ``q_i = 0`` for some ``p_i > 0``)."""
    support = p > 0
    if np.any(q[support] <= 0):
        return float("inf")
    return float(np.sum(p[support] * np.log(p[support] / q[support])))


def divergence_frontier(
    p: np.ndarray,
    q: np.ndarray,
    scaling: float = SCALING,
    points: int = FRONTIER_POINTS,
) -> np.ndarray:
    """The frontier of histograms ``p`` (real) and ``q`` (generated) as an
    ``(points + 2, 2)`` array of ``(exp(-c KL(q||r)), exp(-c KL(p||r)))``,
    including the end points ``(1, 0)`` and ``(0, 1)``."""
    p, q = _histogram(p, "p"), _histogram(q, "q")
    if p.shape != q.shape:
        raise ValueError(f"histograms differ in size: {p.shape} vs {q.shape}")
    frontier = [(1.0, 0.0)]
    for weight in np.linspace(1e-6, 1 - 1e-6, points):
        mixture = weight * p + (1 - weight) * q
        frontier.append(
            (
                np.exp(-scaling * kl_divergence(q, mixture)),
                np.exp(-scaling * kl_divergence(p, mixture)),
            )
        )
    frontier.append((0.0, 1.0))
    return np.asarray(frontier)


def area_under_frontier(frontier: np.ndarray) -> float:
    """Trapezoidal area under the frontier points, ordered by x."""
    order = np.argsort(frontier[:, 0], kind="stable")
    x, y = frontier[order, 0], frontier[order, 1]
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2))


def mauve_from_histograms(p: np.ndarray, q: np.ndarray, scaling: float = SCALING) -> float:
    """MAUVE of two histograms over the same clusters."""
    return area_under_frontier(divergence_frontier(p, q, scaling))


def mauve(
    real: np.ndarray,
    generated: np.ndarray,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    clusters: int | None = None,
    scaling: float = SCALING,
) -> MauveResult:
    """MAUVE between ``real`` (N x d) and ``generated`` (M x d) embeddings,
    each row normalised to unit length first (see the module docstring).

    Args:
        seeds: one k-means (and PCA solver) seed per MAUVE value.
        clusters: k-means clusters; default ``max(2, round(min(N, M) / 10))``.
        scaling: the constant ``c`` of the frontier.

    Raises:
        ValueError: for non-finite or mismatched inputs, fewer than two
            points per side, no seeds, or more clusters than points.
    """
    from sklearn.cluster import KMeans

    real, generated = _features(real, "real"), _features(generated, "generated")
    if real.shape[1] != generated.shape[1]:
        raise ValueError(
            f"real and generated features differ in dimension: {real.shape[1]} vs "
            f"{generated.shape[1]}"
        )
    if not seeds:
        raise ValueError("MAUVE needs at least one seed")
    if clusters is None:
        clusters = max(2, round(min(len(real), len(generated)) / 10))
    if not 2 <= clusters <= len(real) + len(generated):
        raise ValueError(
            f"clusters must be between 2 and the {len(real) + len(generated)} points, "
            f"got {clusters}"
        )
    projected = _pca(_unit_rows(np.vstack([real, generated])), EXPLAINED_VARIANCE)
    values = []
    for seed in seeds:
        labels = KMeans(
            n_clusters=clusters, n_init=5, max_iter=500, random_state=int(seed)
        ).fit_predict(projected)
        p = np.bincount(labels[: len(real)], minlength=clusters) / len(real)
        q = np.bincount(labels[len(real) :], minlength=clusters) / len(generated)
        values.append(mauve_from_histograms(p, q, scaling))
    return MauveResult(
        mean=float(np.mean(values)),
        std=float(np.std(values)),
        values=tuple(values),
        clusters=clusters,
    )


def _pca(data: np.ndarray, explained: float) -> np.ndarray:
    """Project centred ``data`` onto the fewest principal components whose
    variance reaches ``explained`` of the total (all when the total is 0)."""
    centred = data - data.mean(axis=0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    variance = singular**2
    if variance.sum() <= 0:
        return centred
    keep = int(np.searchsorted(np.cumsum(variance) / variance.sum(), explained) + 1)
    return centred @ vt[: min(keep, len(vt))].T


def _unit_rows(data: np.ndarray) -> np.ndarray:
    """``data`` with every row scaled to unit Euclidean norm (all-zero rows
    stay zero), as ``sklearn.preprocessing.normalize`` does."""
    norms = np.linalg.norm(data, axis=1, keepdims=True)
    return data / np.where(norms > 0, norms, 1.0)


def _features(x: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"{what} features must be a 2-D array of at least 2 rows, got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{what} features contain NaN or inf")
    return x


def _histogram(h: np.ndarray, what: str) -> np.ndarray:
    h = np.asarray(h, dtype=np.float64)
    if h.ndim != 1 or np.any(h < 0) or not np.isclose(h.sum(), 1.0):
        raise ValueError(f"histogram {what} must be 1-D, non-negative and sum to 1")
    return h
