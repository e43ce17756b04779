"""Per-sample scores from real k-NN balls: realism and rarity.

Both give one number per generated sample (arrays, not leaderboard
numbers). ``R``: N real samples; ``r_k(R_i)``: the distance from ``R_i`` to
its k-th nearest *other* real sample (the sample itself excluded, duplicates
counting at distance 0); distances Euclidean, float64.

**Realism score** (Kynkäänniemi et al. 2019, Section 5)::

    realism(g) = max_{i in H} r_k(R_i) / (|g - R_i| + eps)

where ``H`` keeps the half of the real samples with the smallest radii:
``r_k(R_i) <= median_i r_k(R_i)`` (``numpy.percentile`` at 50, linear
interpolation) -- the paper's "discard the half of the hyperspheres with
the largest radii", done as the authors' code does (radii above the
50th percentile set to 0). ``eps = 1e-5`` as in the authors' code guards
against a generated sample equal to a real one. ``realism >= 1`` means
``g`` lies inside some kept real k-NN ball; k = 3 by default, the authors'
neighbourhood size.

**Rarity score** (Han et al. 2023)::

    rarity(g) = min { r_k(R_i) : |g - R_i| < r_k(R_i) }

the smallest radius among the real k-NN balls that contain ``g`` (strict
``<``, as the authors' code): a sample in a sparse region of the real data
is only covered by large balls, so it scores high. A sample inside no ball
has no rarity: NaN. Note: the authors' code takes the radius from column
``k + 1`` of each sorted distance row (self at column 0), which is the
``(k+1)``-th nearest other sample; genbench follows the paper's ``k``-th
nearest neighbour, so their ``k`` corresponds to genbench's ``k + 1``.
"""

from __future__ import annotations

import numpy as np

from genbench.metrics._checks import feature_matrix, positive_int, same_dimension
from genbench.metrics._nearest import as_float64, kth_neighbour_radii, squared_distance_blocks

DEFAULT_K = 3
REALISM_EPS = 1e-5


def _inputs(
    real: np.ndarray, generated: np.ndarray, k: int, real_radii: np.ndarray | None, name: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    k = positive_int(k, "k")
    r = as_float64(feature_matrix(real, "real features"))
    g = as_float64(feature_matrix(generated, "generated features"))
    same_dimension(g, r, ("generated features", "real features"))
    if real_radii is None:
        if r.shape[0] <= k:
            raise ValueError(
                f"{name} with k={k} needs at least {k + 1} real samples (N), got N={r.shape[0]}"
            )
        radii = kth_neighbour_radii(r, k)
    else:
        radii = np.asarray(real_radii, dtype=np.float64)
        if radii.shape != (r.shape[0],):
            raise ValueError(f"real_radii must have shape ({r.shape[0]},), got {radii.shape}")
        if not np.all(np.isfinite(radii)) or np.any(radii < 0):
            raise ValueError("real_radii must be finite and non-negative")
    return r, g, radii


def realism_scores(
    real: np.ndarray,
    generated: np.ndarray,
    *,
    k: int = DEFAULT_K,
    real_radii: np.ndarray | None = None,
    eps: float = REALISM_EPS,
    block_size: int | None = None,
) -> np.ndarray:
    """``(M,)`` realism score of each generated sample (see the module
    docstring).

    Args:
        k: neighbourhood size of the real radii.
        real_radii: ``r_k`` of the real samples, computed once per
            reference (must match ``k``).
        eps: added to each distance (the authors' 1e-5).
        block_size: generated rows per block (memory bound).
    """
    r, g, radii = _inputs(real, generated, k, real_radii, "realism score")
    keep = radii <= np.percentile(radii, 50)
    kept_points, kept_radii = r[keep], radii[keep]
    scores = np.empty(g.shape[0], dtype=np.float64)
    for rows, squared in squared_distance_blocks(g, kept_points, block_size=block_size):
        scores[rows] = np.max(kept_radii[None, :] / (np.sqrt(squared) + eps), axis=1)
    return scores


def rarity_scores(
    real: np.ndarray,
    generated: np.ndarray,
    *,
    k: int = DEFAULT_K,
    real_radii: np.ndarray | None = None,
    block_size: int | None = None,
) -> np.ndarray:
    """``(M,)`` rarity score of each generated sample, NaN for samples in no
    real k-NN ball (see the module docstring)."""
    r, g, radii = _inputs(real, generated, k, real_radii, "rarity score")
    scores = np.empty(g.shape[0], dtype=np.float64)
    for rows, squared in squared_distance_blocks(g, r, block_size=block_size):
        inside = np.sqrt(squared) < radii[None, :]
        smallest = np.min(np.where(inside, radii[None, :], np.inf), axis=1)
        scores[rows] = np.where(np.isinf(smallest), np.nan, smallest)
    return scores
