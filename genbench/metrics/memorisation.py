"""Memorisation: how close generated points sit to training points.

For a generated point ``g`` with nearest training point ``t``::

    ratio(g) = d(g, t) / d(t, nearest other training point)

``memorisation_fraction`` is the fraction of generated points with
``ratio < threshold`` (default 1/3, strict) and ``memorisation_median_ratio``
the median ratio. A generator that returns training points has ratio 0 for
each of them and a fraction of 1, however good its FID.

Zero distances: duplicate training points would make the denominator 0.
The training set is therefore de-duplicated (exact row equality) first, so
``d(t, nearest other training point)`` is the distance to the nearest
*distinct* training point and always positive; a training set with fewer
than two distinct points is an error.

Exactness: nearest neighbours and their distances are those of the exact
distances (float64 sums of squared coordinate differences), ties going to
the lowest index: float64 inner products only screen candidates
(:class:`~genbench.metrics.pairwise.DistanceScreen`), and every candidate
within the screening error bound of the nearest is recomputed from the
coordinate differences. A generated point that equals a training point
therefore has ratio exactly 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genbench.metrics._checks import feature_matrix, same_dimension
from genbench.metrics.pairwise import DistanceScreen, block_rows, row_slices

DEFAULT_THRESHOLD = 1.0 / 3.0


@dataclass(frozen=True, eq=False)
class TrainingNeighbours:
    """Distinct training features and each one's nearest-neighbour distance.

    Attributes:
        features: ``(T, d)`` float64, distinct rows (sorted, as
            ``numpy.unique`` returns them).
        nearest_distances: ``(T,)`` float64, each row's distance to its
            nearest other row, all positive.
    """

    features: np.ndarray
    nearest_distances: np.ndarray

    def __post_init__(self) -> None:
        features = np.array(
            feature_matrix(self.features, "training features", min_rows=2), dtype=np.float64
        )
        distances = np.array(self.nearest_distances, dtype=np.float64)
        if distances.shape != (features.shape[0],):
            raise ValueError(
                f"nearest_distances must have shape ({features.shape[0]},), got {distances.shape}"
            )
        if not np.all(np.isfinite(distances)) or np.any(distances <= 0):
            raise ValueError("nearest_distances must be finite and positive")
        features.flags.writeable = False
        distances.flags.writeable = False
        object.__setattr__(self, "features", features)
        object.__setattr__(self, "nearest_distances", distances)

    @classmethod
    def from_features(
        cls, train: np.ndarray, *, block_size: int | None = None
    ) -> TrainingNeighbours:
        """De-duplicate ``train`` and compute nearest-neighbour distances.

        Raises:
            ValueError: for NaN/inf, a non-2-D array, or fewer than two
                distinct training points.
        """
        unique = np.unique(feature_matrix(train, "training features").astype(np.float64), axis=0)
        if unique.shape[0] < 2:
            raise ValueError(
                f"memorisation needs at least two distinct training points, got {unique.shape[0]}"
            )
        _, squared = _nearest_rows(unique, unique, exclude_self=True, block_size=block_size)
        return cls(unique, np.sqrt(squared))


def memorisation_against(
    training: TrainingNeighbours,
    generated: np.ndarray,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    block_size: int | None = None,
) -> dict[str, float]:
    """``memorisation_fraction`` and ``memorisation_median_ratio`` of
    ``generated`` (``M x d``) against prepared training neighbours.

    Raises:
        ValueError: for NaN/inf, mismatched dimensions, or a threshold that
            is not a positive finite number.
    """
    return memorisation_from_ratios(
        memorisation_ratios(training, generated, block_size=block_size), threshold
    )


def memorisation_ratios(
    training: TrainingNeighbours, generated: np.ndarray, *, block_size: int | None = None
) -> np.ndarray:
    """Per generated sample: the distance to its nearest training point over
    that point's own nearest-neighbour distance (``(M,)`` float64).

    Raises:
        ValueError: for NaN/inf or mismatched dimensions.
    """
    nearest, distance = nearest_training(training, generated, block_size=block_size)
    return distance / training.nearest_distances[nearest]


def nearest_training(
    training: TrainingNeighbours, points: np.ndarray, *, block_size: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``points`` (``M x d``): the index of its exact nearest
    distinct training row (lowest index among ties) and the exact float64
    distance to it.

    Raises:
        ValueError: for NaN/inf or mismatched dimensions.
    """
    points = feature_matrix(points, "generated features").astype(np.float64)
    same_dimension(points, training.features, ("generated features", "training features"))
    nearest, squared = _nearest_rows(
        points, training.features, exclude_self=False, block_size=block_size
    )
    return nearest, np.sqrt(squared)


def memorisation_from_ratios(
    ratio: np.ndarray, threshold: float = DEFAULT_THRESHOLD
) -> dict[str, float]:
    """``memorisation_fraction`` (share of ``ratio`` below ``threshold``)
    and ``memorisation_median_ratio``.

    Raises:
        ValueError: a threshold that is not a positive finite number.
    """
    if not (isinstance(threshold, (int, float)) and np.isfinite(threshold) and threshold > 0):
        raise ValueError(f"threshold must be a positive finite number, got {threshold!r}")
    return {
        "memorisation_fraction": float(np.mean(ratio < threshold)),
        "memorisation_median_ratio": float(np.median(ratio)),
    }


def memorisation(
    train: np.ndarray, generated: np.ndarray, *, threshold: float = DEFAULT_THRESHOLD
) -> dict[str, float]:
    """Memorisation of ``generated`` with respect to ``train`` (both ``n x d``
    features); see the module docstring for the definition and the
    handling of duplicate training points."""
    return memorisation_against(
        TrainingNeighbours.from_features(train), generated, threshold=threshold
    )


def _nearest_rows(
    queries: np.ndarray, points: np.ndarray, *, exclude_self: bool, block_size: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Index into ``points`` of each query's exact nearest point (lowest
    index among ties) and the exact squared distance to it; with
    ``exclude_self``, ``queries is points`` and a row may not choose itself."""
    screen = DistanceScreen(queries, points)
    nearest = np.empty(queries.shape[0], dtype=np.int64)
    squared = np.empty(queries.shape[0], dtype=np.float64)
    for rows in row_slices(queries.shape[0], block_rows(points.shape[0], block_size)):
        screened = screen.squared(queries[rows] @ points.T, rows)
        if exclude_self:
            local = np.arange(screened.shape[0])
            screened[local, rows.start + local] = np.inf
        nearest[rows], squared[rows] = screen.nearest(screened, np.arange(rows.start, rows.stop))
    return nearest, squared
