"""Vendi score (Friedman & Dieng 2023): the effective number of distinct samples.

Definition. For ``n`` samples and a positive semi-definite similarity matrix
``K`` with ``K_ii = 1``, let ``λ_1..λ_n`` be the eigenvalues of ``K / n``
(non-negative, summing to 1). The Vendi score of order ``q`` is the Hill
number of that spectrum::

    VS_1(K)   = exp(-Σ λ_i log λ_i)              (Shannon; "the" Vendi score)
    VS_q(K)   = (Σ λ_i^q) ** (1 / (1 - q))       (q > 0, q != 1)
    VS_inf(K) = 1 / max_i λ_i

Unit: effective samples, between 1 (all samples alike) and ``n`` (all
mutually dissimilar). Conventions: logarithms are natural; sums run over
the eigenvalues above round-off (:func:`vendi_from_eigenvalues`; the
reference package ``vendi-score`` keeps every eigenvalue ``> 0``).

Kernels:

* ``"cosine"`` (default): ``K = X̂ X̂ᵀ`` with ``X̂`` the rows of the
  features scaled to unit length. ``K / n`` shares its non-zero eigenvalues
  with ``X̂ᵀ X̂ / n`` (d x d), so the smaller of the two is decomposed: cost
  ``O(n d min(n, d))``, cheap for large ``n``. A zero feature row has no
  direction and is refused.
* ``"rbf"``: ``K_ij = exp(-|x_i - x_j|^2 / (2 σ^2))`` with the bandwidth
  ``σ`` given explicitly (no default: the scale depends on the feature
  extractor); needs the full ``n x n`` matrix, ``O(n^3)``.

The order-0 Hill number (the rank of ``K``) is not offered: it counts
eigenvalues that round-off makes ambiguous.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from genbench.metrics._checks import feature_matrix
from genbench.metrics._inputs import check_bandwidth, enough_samples
from genbench.metrics._nearest import as_float64
from genbench.metrics.pairwise import squared_distances, squared_norms

KERNELS: tuple[str, ...] = ("cosine", "rbf")
ROUND_OFF = float(np.finfo(np.float64).eps)
DEFAULT_ORDERS: tuple[float, ...] = (1.0, 0.5, 2.0, math.inf)
"""The orders :func:`vendi_scores` reports by default: Shannon (the Vendi
score), and the Hill numbers of order 0.5, 2 and infinity."""


def check_order(q: float) -> float:
    """``q`` as a float in ``(0, inf]`` (the string ``"inf"`` is accepted as
    the reference package spells it)."""
    if isinstance(q, str) and q == "inf":
        return math.inf
    if isinstance(q, bool) or not isinstance(q, (int, float, np.integer, np.floating)):
        raise TypeError(f"Vendi order q must be a number, got {type(q).__name__}")
    q = float(q)
    if math.isnan(q) or q <= 0:
        raise ValueError(f"Vendi order q must be positive (or inf), got q={q}")
    return q


def vendi_from_eigenvalues(eigenvalues: np.ndarray, q: float = 1.0) -> float:
    """The order-``q`` Vendi score of the spectrum of ``K / n``.

    Only eigenvalues above round-off, ``λ > n_λ · 2^-52 · max λ``, enter the
    sums (the reference package keeps every ``λ > 0``; the difference is
    the round-off left where the exact eigenvalue is 0, which moves orders
    ``q < 1`` by up to ~1e-7 relative and the others by < 1e-14).
    """
    q = check_order(q)
    values = np.asarray(eigenvalues, dtype=np.float64).ravel()
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError("Vendi score: eigenvalues must be a non-empty finite array")
    positive = values[_above_round_off(values)]
    if positive.size == 0:
        raise ValueError("Vendi score: the similarity matrix has no positive eigenvalue")
    if q == 1.0:
        return float(np.exp(-np.sum(positive * np.log(positive))))
    if math.isinf(q):
        return float(1.0 / np.max(values))
    return float(np.exp(np.log(np.sum(positive**q)) / (1.0 - q)))


def similarity_eigenvalues(
    features: np.ndarray, *, kernel: str = "cosine", sigma: float | None = None
) -> np.ndarray:
    """Eigenvalues of ``K / n`` (ascending; for ``"cosine"`` only the
    ``min(n, d)`` that can be non-zero).

    Raises:
        ValueError: for NaN/inf, fewer than 1 sample, a zero row (cosine), an
            unknown kernel, or an RBF bandwidth that is missing, 0, negative
            or NaN.
    """
    x, sigma = _checked(features, kernel, sigma, minimum=1)
    n = x.shape[0]
    if kernel == "cosine" and n > x.shape[1]:
        unit = _unit_rows(x)
        return np.linalg.eigvalsh(unit.T @ unit / n)
    return np.linalg.eigvalsh(_similarity(x, kernel, sigma) / n)


def _checked(
    features: np.ndarray, kernel: str, sigma: float | None, *, minimum: int
) -> tuple[np.ndarray, float | None]:
    """Float64 rows of ``features`` and the checked bandwidth (see
    :func:`similarity_eigenvalues` for what is refused)."""
    x = as_float64(feature_matrix(features, "features", min_rows=0))
    enough_samples("Vendi score", "n", x.shape[0], minimum)
    if kernel == "cosine":
        if sigma is not None:
            raise ValueError("Vendi score: sigma applies to the 'rbf' kernel only")
        zero = np.flatnonzero(squared_norms(x) == 0)
        if zero.size:
            raise ValueError(
                f"Vendi score with the cosine kernel: feature row {int(zero[0])} is zero "
                "and has no direction"
            )
        return x, None
    if kernel == "rbf":
        if sigma is None:
            raise ValueError("Vendi score with the 'rbf' kernel needs a bandwidth sigma")
        return x, check_bandwidth(sigma, "Vendi score")
    raise ValueError(f"Vendi score: unknown kernel {kernel!r}; choose one of {list(KERNELS)}")


def _unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.sqrt(squared_norms(x))[:, None]


def _similarity(x: np.ndarray, kernel: str, sigma: float | None) -> np.ndarray:
    """The ``n x n`` similarity matrix of checked float64 rows ``x``."""
    if kernel == "cosine":
        unit = _unit_rows(x)
        return unit @ unit.T
    norms = squared_norms(x)
    gram = np.exp(-squared_distances(x @ x.T, norms, norms) / (2.0 * float(sigma) ** 2))
    np.fill_diagonal(gram, 1.0)
    return gram


def vendi_from_similarity(similarity: np.ndarray, q: float = 1.0) -> float:
    """The order-``q`` Vendi score of a precomputed similarity matrix ``K``.

    Raises:
        ValueError: unless ``K`` is square, finite, symmetric and has unit
            diagonal (to 1e-6).
    """
    k = np.asarray(similarity, dtype=np.float64)
    if k.ndim != 2 or k.shape[0] != k.shape[1] or k.shape[0] == 0:
        raise ValueError(f"Vendi score: similarity must be a square matrix, got shape {k.shape}")
    if not np.all(np.isfinite(k)):
        raise ValueError("Vendi score: similarity contains NaN or infinite values")
    if not np.allclose(k, k.T, rtol=0, atol=1e-6):
        raise ValueError("Vendi score: similarity must be symmetric")
    if not np.allclose(np.diag(k), 1.0, rtol=0, atol=1e-6):
        raise ValueError("Vendi score: similarity must have K_ii = 1 on the diagonal")
    return vendi_from_eigenvalues(np.linalg.eigvalsh(k / k.shape[0]), q)


def vendi_scores(
    features: np.ndarray,
    orders: Sequence[float] = DEFAULT_ORDERS,
    *,
    kernel: str = "cosine",
    sigma: float | None = None,
) -> dict[float, float]:
    """Vendi scores of ``features`` (``n x d``) for several orders from one
    eigendecomposition: ``{q: VS_q}``."""
    eigenvalues = similarity_eigenvalues(features, kernel=kernel, sigma=sigma)
    return {check_order(q): vendi_from_eigenvalues(eigenvalues, q) for q in orders}


def vendi_score(
    features: np.ndarray, q: float = 1.0, *, kernel: str = "cosine", sigma: float | None = None
) -> float:
    """The order-``q`` Vendi score of ``features`` (``n x d``); see the module
    docstring. ``q = 1`` (default) is the Vendi score of the paper."""
    return vendi_from_eigenvalues(similarity_eigenvalues(features, kernel=kernel, sigma=sigma), q)


def vendi_with_influence(
    features: np.ndarray, *, kernel: str = "cosine", sigma: float | None = None
) -> tuple[float, np.ndarray]:
    """The Vendi score (q = 1) of ``features`` (``n x d``) and each sample's
    first-order influence on its log, for the linearised bootstrap.

    With sample weights ``w`` (``1/n`` each), the score's log is the entropy
    ``H(w) = tr f(K W)``, ``f(x) = -x log x``, ``W = diag(w)``; its
    derivative along ``w_j`` is ``[f'(K W) K]_jj``. At ``w = 1/n``, with
    ``K/n = U Λ Uᵀ``, that is ``n Σ_k U_jk² (-λ_k log λ_k - λ_k)``; for the
    cosine kernel it is computed from the ``d x d`` side as
    ``Σ_k (x̂_j·v_k)² (-log λ_k - 1)``. A resample that draws sample ``j``
    ``c_j`` times has, to first order, ``log VS = H + Σ_j (c_j/n) infl_j``
    with the influence centred to mean 0 (see
    :func:`genbench.metrics.influence.linearised_replicates`, applied to the
    log).

    Returns:
        ``(score, influence)``; ``influence`` is ``(n,)``, centred.
    """
    x, sigma = _checked(features, kernel, sigma, minimum=2)
    n = x.shape[0]
    if kernel == "cosine" and n > x.shape[1]:
        unit = _unit_rows(x)
        values, vectors = np.linalg.eigh(unit.T @ unit / n)
        keep = _above_round_off(values)
        influence = (unit @ vectors[:, keep]) ** 2 @ (-np.log(values[keep]) - 1.0)
    else:
        values, vectors = np.linalg.eigh(_similarity(x, kernel, sigma) / n)
        keep = _above_round_off(values)
        lam = values[keep]
        influence = n * (vectors[:, keep] ** 2 @ (-lam * np.log(lam) - lam))
    return vendi_from_eigenvalues(values, 1.0), influence - influence.mean()


def _above_round_off(values: np.ndarray) -> np.ndarray:
    """The eigenvalues :func:`vendi_from_eigenvalues` keeps."""
    return values > ROUND_OFF * values.size * max(float(values.max()), 0.0)
