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
from genbench.metrics.pairwise import (
    DistanceScreen,
    GramBlock,
    certain_bounds,
    sparse_nonzero,
    squared_distances,
)

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


class RealismScores:
    """Realism scores of the generated samples, from the blocks of one pass
    of :func:`~genbench.metrics.pairwise.generated_gram_blocks`.

    Each pair's screened squared distance bounds its ratio
    ``r_k(R_i) / (d + eps)`` from above and below; the pairs whose upper
    bound reaches the largest lower bound of their row are the only ones
    that can hold the maximum, and they are recomputed from exact squared
    distances (float64 coordinate differences). The scores equal
    :func:`realism_scores` on exact distances.

    Args:
        to_real: the screen of generated (left) to real (right) distances.
        real_radii: ``(N,)`` the real samples' exact k-NN radii (distances).
        eps: as in :func:`realism_scores`.
    """

    def __init__(
        self, to_real: DistanceScreen, real_radii: np.ndarray, *, eps: float = REALISM_EPS
    ) -> None:
        radii = np.asarray(real_radii, dtype=np.float64)
        self._screen = to_real
        self._columns = np.flatnonzero(radii <= np.percentile(radii, 50))
        self._radii = radii[self._columns]
        self._eps = float(eps)
        self.scores = np.full(to_real.left.shape[0], np.nan)

    def add(self, block: GramBlock) -> None:
        """Score one block of generated rows."""
        rows, screen = block.rows, self._screen
        squared = squared_distances(
            block.real[:, self._columns],
            screen.left_norms[rows],
            screen.right_norms[self._columns],
        ).astype(np.float64)
        errors = screen.row_errors(rows)[:, None]
        lowest = self._radii / (np.sqrt(squared + errors) + self._eps)
        floor = lowest.max(axis=1) * (1.0 - 1e-9)
        highest = self._radii / (np.sqrt(np.maximum(squared - errors, 0.0)) + self._eps)
        local, which = np.nonzero(highest >= floor[:, None])
        exact = screen.exact(rows.start + local, self._columns[which])
        ratios = self._radii[which] / (np.sqrt(exact) + self._eps)
        best = np.full(squared.shape[0], -np.inf)
        np.maximum.at(best, local, ratios)
        self.scores[rows] = best


class RarityScores:
    """Rarity scores of the generated samples, from the blocks of one pass
    of :func:`~genbench.metrics.pairwise.generated_gram_blocks`.

    A pair's ball test ``d² < r_k(R_i)²`` is decided by the screen's
    certain bounds; undecided pairs with a smaller radius than the row's
    best certain one are recomputed exactly. The scores equal
    :func:`rarity_scores` on exact squared distances (NaN: in no ball).

    Args:
        to_real: the screen of generated (left) to real (right) distances.
        real_squared_radii: ``(N,)`` the real samples' exact squared k-NN radii.
    """

    def __init__(self, to_real: DistanceScreen, real_squared_radii: np.ndarray) -> None:
        self._screen = to_real
        self._squared_radii = np.asarray(real_squared_radii, dtype=np.float64)
        self.scores = np.full(to_real.left.shape[0], np.nan)

    def add(self, block: GramBlock) -> None:
        """Score one block of generated rows."""
        rows, screen, radii = block.rows, self._screen, self._squared_radii
        squared = screen.squared(block.real, rows)
        below, above = certain_bounds(radii, screen.column_errors(rows), squared.dtype)
        inside = squared <= below
        best = np.min(np.where(inside, radii[None, :], np.inf), axis=1)
        undecided = squared <= above
        undecided &= ~inside
        undecided &= radii[None, :] < best[:, None]
        local, columns = sparse_nonzero(undecided)
        hits = screen.exact(rows.start + local, columns) < radii[columns]
        np.minimum.at(best, local[hits], radii[columns[hits]])
        self.scores[rows] = np.where(np.isinf(best), np.nan, np.sqrt(best))
