"""Float64 nearest-neighbour helpers for the sample-level metrics (private).

The engine's neighbour metrics (``neighbours.py``) work in float32 to match
torch-fidelity bit for bit. The newer metrics (α-precision, β-recall,
authenticity, the data-copying test, realism and rarity) have no float32
reference to match, so they use float64: squared distances from the Gram
formula ``|x|^2 + |y|^2 - 2 x.y`` clamped at 0, in blocks of query rows so
that memory stays bounded. Where a single chosen distance matters (a
generated point's distance to its nearest training point), it is recomputed
from the coordinate differences, so an exact copy gives exactly 0.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from genbench.metrics.pairwise import block_rows, row_slices, squared_distances, squared_norms


def as_float64(features: np.ndarray) -> np.ndarray:
    """A C-contiguous float64 copy (or view) of ``features``."""
    return np.ascontiguousarray(features, dtype=np.float64)


def squared_distance_blocks(
    queries: np.ndarray, points: np.ndarray, *, block_size: int | None = None
) -> Iterator[tuple[slice, np.ndarray]]:
    """Yield ``(rows, D)`` with ``D[i, j] = |queries[rows][i] - points[j]|^2``
    (float64, clamped at 0) for consecutive blocks of query rows."""
    query_norms = squared_norms(queries)
    point_norms = squared_norms(points)
    for rows in row_slices(queries.shape[0], block_rows(points.shape[0], block_size)):
        yield rows, squared_distances(queries[rows] @ points.T, query_norms[rows], point_norms)


def row_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distance between corresponding rows, from the differences."""
    difference = a - b
    return np.sqrt(np.einsum("ij,ij->i", difference, difference))


def nearest_rows(
    queries: np.ndarray,
    points: np.ndarray,
    *,
    exclude_self: bool = False,
    block_size: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Index into ``points`` of each query's nearest point and the distance to it.

    With ``exclude_self``, ``queries`` and ``points`` are the same set and a
    row may not choose itself (a duplicate row elsewhere still counts, at
    distance 0). The returned distances are recomputed from coordinate
    differences.
    """
    nearest = np.empty(queries.shape[0], dtype=np.int64)
    for rows, squared in squared_distance_blocks(queries, points, block_size=block_size):
        if exclude_self:
            local = np.arange(squared.shape[0])
            squared[local, rows.start + local] = np.inf
        nearest[rows] = np.argmin(squared, axis=1)
    return nearest, row_distances(queries, points[nearest])


def kth_neighbour_radii(points: np.ndarray, k: int, *, block_size: int | None = None) -> np.ndarray:
    """Distance (float64) from each row to its ``k``-th nearest *other* row
    (the row itself excluded; duplicates of it count, at distance 0)."""
    n = points.shape[0]
    if n <= k:
        raise ValueError(f"k-NN radii with k={k} need more than {k} points, got {n}")
    radii = np.empty(n, dtype=np.float64)
    for rows, squared in squared_distance_blocks(points, points, block_size=block_size):
        local = np.arange(squared.shape[0])
        squared[local, rows.start + local] = np.inf
        radii[rows] = np.sqrt(np.partition(squared, k - 1, axis=1)[:, k - 1])
    return radii
