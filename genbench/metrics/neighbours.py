"""Improved precision/recall and density/coverage from one shared computation.

Definitions (``R``: N real points, ``G``: M generated points, ``r_k(x)``: the
distance from ``x`` to its k-th nearest other point of its own set):

* precision (k=3) = (1/M) #{j : exists i, d(G_j, R_i) <= r_3(R_i)}
* recall (k=3)    = (1/N) #{i : exists j, d(R_i, G_j) <= r_3(G_j)}
* density (k=5)   = 1/(kM) sum_j #{i : d(G_j, R_i) < r_5(R_i)}
* coverage (k=5)  = (1/N) #{i : min_j d(R_i, G_j) < r_5(R_i)}

Precision and recall use ``<=`` as torch-fidelity's
``prc_features_to_metric(generated, real)`` does (input1 = generated);
density and coverage use the strict ``<`` of the ``prdc`` package.

Exactness: every count equals the one computed from exact squared
distances (float64 sums of squared coordinate differences of the float32
features; radii compared squared). The float32 inner products only screen
(:class:`~genbench.metrics.pairwise.DistanceScreen`): a comparison within
the screening error bound of its radius, and every candidate for a k-th
nearest neighbour, is recomputed exactly. torch-fidelity and prdc compare
float32 distances from the cancelling formula and can differ where points
sit far from the origin relative to their spacing.

Work: the real radii come with a :class:`RealNeighbourhood` (computed once
per reference, reused for every model); each model then costs one pass over
blocks of generated rows, each block giving the generated-generated
distances (generated radii for recall) and the generated-real distances
(all four numbers).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType

import numpy as np
import scipy.sparse

from genbench.metrics._checks import (
    enough_samples,
    feature_matrix,
    positive_int,
    same_dimension,
)
from genbench.metrics.pairwise import (
    DistanceScreen,
    GramBlock,
    as_float32,
    block_rows,
    certain_bounds,
    generated_gram_blocks,
    row_slices,
    screened_kth_smallest,
    screening_features,
    sparse_nonzero,
    squared_norms,
    zero_self_distances,
)

PRECISION_RECALL_K = 3
DENSITY_COVERAGE_K = 5


def neighbour_metric_name(k: int) -> str:
    """The metric a k-NN radius with this ``k`` serves, for error messages."""
    names = {PRECISION_RECALL_K: "precision/recall", DENSITY_COVERAGE_K: "density/coverage"}
    return f"{names.get(k, 'k-NN radii')} (k={k})"


def kth_neighbour_squared_distances(
    features: np.ndarray, ks: tuple[int, ...], *, block_size: int | None = None
) -> dict[int, np.ndarray]:
    """Exact squared distance (float64) from each row of ``features`` to
    its ``k``-th nearest other row, for each ``k`` in ``ks``.

    Raises:
        ValueError: when there are not more than ``max(ks)`` rows.
    """
    features = screening_features(features)
    n = features.shape[0]
    largest = max(ks)
    enough_samples(neighbour_metric_name(largest), "N", n, largest + 1, what="real samples")
    screen = DistanceScreen(features, features)
    radii = {k: np.empty(n, dtype=np.float64) for k in ks}
    for rows in row_slices(n, block_rows(n, block_size)):
        squared = screen.squared(features[rows] @ features.T, rows)
        zero_self_distances(squared, rows)
        index = np.arange(rows.start, rows.stop)
        for k, values in screen.kth_smallest(squared, index, ks).items():
            radii[k][rows] = values
    return radii


@dataclass(frozen=True, eq=False)
class RealNeighbourhood:
    """Real features and their exact k-NN radii, computed once per reference.

    Attributes:
        features: ``(N, d)`` float32 real features.
        squared_radii: ``k -> (N,)`` float64 exact squared distance of each
            real point to its k-th nearest other real point.
    """

    features: np.ndarray
    squared_radii: Mapping[int, np.ndarray]

    def __post_init__(self) -> None:
        features = np.array(
            feature_matrix(self.features, "real features", min_rows=2), dtype=np.float32
        )
        features.flags.writeable = False
        radii: dict[int, np.ndarray] = {}
        for k, values in self.squared_radii.items():
            k = positive_int(k, "k")
            array = np.array(values, dtype=np.float64)
            if array.shape != (features.shape[0],):
                raise ValueError(
                    f"radii for k={k} must have shape ({features.shape[0]},), got {array.shape}"
                )
            if not np.all(np.isfinite(array)) or np.any(array < 0):
                raise ValueError(f"radii for k={k} must be finite and non-negative")
            array.flags.writeable = False
            radii[k] = array
        object.__setattr__(self, "features", features)
        object.__setattr__(self, "squared_radii", MappingProxyType(radii))

    @classmethod
    def from_features(
        cls,
        real: np.ndarray,
        *,
        ks: tuple[int, ...] = (PRECISION_RECALL_K, DENSITY_COVERAGE_K),
        block_size: int | None = None,
    ) -> RealNeighbourhood:
        """Compute the exact radii of ``real`` for every ``k`` in ``ks``.

        Raises:
            ValueError: for NaN/inf, a non-2-D array, or ``N <= max(ks)``
                (naming the metric, N and the minimum).
        """
        features = as_float32(feature_matrix(real, "real features"))
        ks = tuple(positive_int(k, "k") for k in ks)
        return cls(features, kth_neighbour_squared_distances(features, ks, block_size=block_size))

    # MappingProxyType does not pickle; travel to process workers as a dict.
    def __reduce__(self):
        return (type(self), (self.features, dict(self.squared_radii)))

    @cached_property
    def squared_norms(self) -> np.ndarray:
        """``(N,)`` float32 squared norms of :attr:`features`."""
        return squared_norms(self.features)

    @property
    def radii(self) -> dict[int, np.ndarray]:
        """``k -> (N,)`` float64 k-NN radii (distances, not squared)."""
        return {k: np.sqrt(values) for k, values in self.squared_radii.items()}

    def squared_radius(self, k: int) -> np.ndarray:
        """The squared k-NN radii of the real points.

        Raises:
            ValueError: when the neighbourhood was built without ``k``.
        """
        if k not in self.squared_radii:
            raise ValueError(
                f"the real neighbourhood has radii for k in {sorted(self.squared_radii)}, "
                f"not k={k}; build it with RealNeighbourhood.from_features(real, ks=...)"
            )
        return self.squared_radii[k]

    def radius(self, k: int) -> np.ndarray:
        """The k-NN radii (distances) of the real points; see
        :meth:`squared_radius`."""
        return np.sqrt(self.squared_radius(k))


class NeighbourCounts:
    """Accumulates the four neighbour metrics over :class:`GramBlock` s.

    Feed every block of one pass of :func:`generated_gram_blocks` over
    ``screening_features(generated)`` and ``screening_features(real)`` (the
    reference's real features) to :meth:`add`, then read :meth:`result`:
    distances are screened in the dtype
    :func:`~genbench.metrics.pairwise.screening_features` picks.
    """

    def __init__(
        self,
        reference: RealNeighbourhood,
        generated: np.ndarray,
        *,
        k_pr: int = PRECISION_RECALL_K,
        k_dc: int = DENSITY_COVERAGE_K,
        per_sample: bool = False,
    ) -> None:
        self._k_pr = positive_int(k_pr, "k_pr")
        self._k_dc = positive_int(k_dc, "k_dc")
        enough_samples(
            neighbour_metric_name(self._k_pr),
            "M",
            generated.shape[0],
            self._k_pr + 1,
            what="generated samples",
        )
        self._real_radius_pr = reference.squared_radius(self._k_pr)
        self._real_radius_dc = reference.squared_radius(self._k_dc)
        screened = screening_features(generated)
        real = screening_features(reference.features)
        norms = squared_norms(screened)
        self._among_generated = DistanceScreen(
            screened, screened, left_norms=norms, right_norms=norms
        )
        self._to_real = DistanceScreen(
            screened,
            real,
            left_norms=norms,
            right_norms=reference.squared_norms if real is reference.features else None,
        )
        n_real = reference.features.shape[0]
        self._n_generated = generated.shape[0]
        self._precise = 0
        self._dense = 0
        self._recalled = np.zeros(n_real, dtype=bool)
        self._covered = np.zeros(n_real, dtype=bool)
        self._rows_seen = 0
        self._contributions = (
            NeighbourContributions.empty(self._n_generated, n_real, self._k_dc)
            if per_sample
            else None
        )

    def add(self, block: GramBlock) -> None:
        """Count one block of generated rows."""
        if block.real.dtype != self._to_real.dtype:
            raise ValueError(
                f"blocks must hold {self._to_real.dtype} inner products (of the features "
                f"screening_features returns), got {block.real.dtype}"
            )
        rows = block.rows
        among = self._among_generated.squared(block.generated, rows)
        zero_self_distances(among, rows)
        squared = self._to_real.squared(block.real, rows)
        column_errors = self._to_real.column_errors(rows)
        self._count_precision(squared, rows, column_errors)
        self._count_density_coverage(squared, rows, column_errors)
        self._count_recall(squared, rows, among)
        self._rows_seen += rows.stop - rows.start

    def _count_precision(self, squared: np.ndarray, rows: slice, errors: np.ndarray) -> None:
        """Generated rows inside some real ball: ``d² <= r_k(R_i)²``."""
        below, above = certain_bounds(self._real_radius_pr, errors, squared.dtype)
        inside = np.any(squared <= below, axis=1)
        maybe = squared <= above
        maybe[inside] = False
        local, columns = sparse_nonzero(maybe)
        exact = self._to_real.exact(rows.start + local, columns)
        inside[local[exact <= self._real_radius_pr[columns]]] = True
        self._precise += int(np.count_nonzero(inside))
        if self._contributions is not None:
            self._contributions.inside[rows] = inside

    def _count_density_coverage(self, squared: np.ndarray, rows: slice, errors: np.ndarray) -> None:
        """Pairs with ``d² < r_k(R_i)²`` (density) and the real points that
        have one (coverage)."""
        below, above = certain_bounds(self._real_radius_dc, errors, squared.dtype)
        certain = squared <= below
        self._dense += int(np.count_nonzero(certain))
        self._covered |= certain.any(axis=0)
        uncertain = squared <= above
        uncertain ^= certain
        local, columns = sparse_nonzero(uncertain)
        exact = self._to_real.exact(rows.start + local, columns)
        hits = exact < self._real_radius_dc[columns]
        self._dense += int(np.count_nonzero(hits))
        self._covered[columns[hits]] = True
        if self._contributions is not None:
            sure_rows, sure_columns = np.nonzero(certain)
            self._contributions.add_coverage(
                rows.start + np.concatenate([sure_rows, local[hits]]),
                np.concatenate([sure_columns, columns[hits]]),
            )

    def _count_recall(self, squared: np.ndarray, rows: slice, among: np.ndarray) -> None:
        """Real points inside some generated ball: ``d² <= r_k(G_j)²``.

        The generated radii are known from their screened values to within
        the screening error of ``among`` (the block's squared distances to
        all generated points); a radius is computed exactly only for a row
        with a pair the two error bounds leave undecided.
        """
        radius = screened_kth_smallest(among, self._k_pr)
        errors = self._among_generated.row_errors(rows) + self._to_real.row_errors(rows)
        below, above = certain_bounds(radius, errors, squared.dtype)
        certain = squared <= below[:, None]
        self._recalled |= np.any(certain, axis=0)
        maybe = squared <= above[:, None]
        maybe ^= certain
        # Per-sample contributions need every covering pair, not only the
        # first one found for each real point.
        still_open = maybe.any(axis=0)
        if self._contributions is None:
            still_open &= ~self._recalled
        open_columns = np.flatnonzero(still_open)
        local, which = np.nonzero(maybe[:, open_columns])
        columns = open_columns[which]
        if local.size:
            needed = np.unique(local)
            exact_radius = np.empty_like(radius)
            exact_radius[needed] = self._among_generated.kth_smallest(
                among[needed], rows.start + needed, (self._k_pr,)
            )[self._k_pr]
            exact = self._to_real.exact(rows.start + local, columns)
            hits = exact <= exact_radius[local]
            local, columns = local[hits], columns[hits]
            self._recalled[columns] = True
        if self._contributions is not None:
            sure_rows, sure_columns = np.nonzero(certain)
            self._contributions.add_recall(
                rows.start + np.concatenate([sure_rows, local]),
                np.concatenate([sure_columns, columns]),
            )

    def result(self) -> dict[str, float]:
        """``precision``, ``recall``, ``density``, ``coverage``."""
        self._check_complete()
        m = self._n_generated
        return {
            "precision": self._precise / m,
            "recall": float(self._recalled.mean()),
            "density": self._dense / (self._k_dc * m),
            "coverage": float(self._covered.mean()),
        }

    def contributions(self) -> NeighbourContributions:
        """What each generated sample contributes (requires
        ``per_sample=True``): the input of :meth:`NeighbourContributions.replicates`."""
        self._check_complete()
        if self._contributions is None:
            raise RuntimeError("construct NeighbourCounts with per_sample=True to keep them")
        return self._contributions

    def _check_complete(self) -> None:
        if self._rows_seen != self._n_generated:
            raise RuntimeError(
                f"saw {self._rows_seen} of {self._n_generated} generated rows; "
                "feed every block before reading the result"
            )


@dataclass
class NeighbourContributions:
    """Each generated sample's part in the four neighbour metrics, so they
    can be recomputed for any reweighting of the generated samples (a
    bootstrap resample) without another distance pass.

    Attributes:
        inside: ``(M,)`` generated sample ``j`` lies in some real k=3 ball
            (precision).
        dense: ``(M,)`` number of real k=5 balls containing ``j`` (density).
        coverage_pairs: ``(j, i)`` with ``d(G_j, R_i) < r_5(R_i)``.
        recall_pairs: ``(j, i)`` with ``d(R_i, G_j) <= r_3(G_j)``; the
            generated radii are those of the full generated set.
        n_real, k_dc: the real sample count and density's k.
    """

    inside: np.ndarray
    dense: np.ndarray
    coverage_pairs: list[tuple[np.ndarray, np.ndarray]]
    recall_pairs: list[tuple[np.ndarray, np.ndarray]]
    n_real: int
    k_dc: int

    @classmethod
    def empty(cls, m: int, n_real: int, k_dc: int) -> NeighbourContributions:
        return cls(np.zeros(m, bool), np.zeros(m, np.int64), [], [], n_real, k_dc)

    def add_coverage(self, generated: np.ndarray, real: np.ndarray) -> None:
        self.coverage_pairs.append((generated, real))
        np.add.at(self.dense, generated, 1)

    def add_recall(self, generated: np.ndarray, real: np.ndarray) -> None:
        self.recall_pairs.append((generated, real))

    def replicates(self, counts: np.ndarray) -> dict[str, np.ndarray]:
        """``precision``, ``recall``, ``density`` and ``coverage`` for each
        row of ``counts`` (``(B, M)``: how often each generated sample is
        drawn in a resample of size ``M``). Recall keeps the full set's
        generated radii (a resample with repeated points would otherwise
        have radii of 0)."""
        m = counts.shape[1]
        weights = counts.astype(np.float64)
        return {
            "precision": weights @ self.inside / m,
            "recall": self._covered_fraction(self.recall_pairs, weights),
            "density": weights @ self.dense / (self.k_dc * m),
            "coverage": self._covered_fraction(self.coverage_pairs, weights),
        }

    def _covered_fraction(
        self, pairs: list[tuple[np.ndarray, np.ndarray]], weights: np.ndarray
    ) -> np.ndarray:
        generated = np.concatenate([g for g, _ in pairs]) if pairs else np.zeros(0, np.int64)
        real = np.concatenate([r for _, r in pairs]) if pairs else np.zeros(0, np.int64)
        matrix = scipy.sparse.csr_matrix(
            (np.ones(generated.size), (generated, real)), shape=(weights.shape[1], self.n_real)
        )
        hits = np.asarray((matrix.T @ weights.T).T)  # (B, N): draws covering each real point
        return (hits > 0).mean(axis=1)


def neighbour_metrics(
    reference: RealNeighbourhood,
    generated: np.ndarray,
    *,
    k_pr: int = PRECISION_RECALL_K,
    k_dc: int = DENSITY_COVERAGE_K,
    block_size: int | None = None,
) -> dict[str, float]:
    """Precision, recall (``k_pr``, ``<=``), density and coverage (``k_dc``, ``<``).

    Args:
        reference: the real side, with radii for ``k_pr`` and ``k_dc``.
        generated: ``(M, d)`` generated features, ``M > k_pr``.
        block_size: generated rows per block (memory bound); the values do
            not depend on it.

    Returns:
        ``{"precision", "recall", "density", "coverage"}``, each in [0, 1]
        except density, which lies in [0, N/k].

    Raises:
        ValueError: for NaN/inf, mismatched dimensions, too few points, or a
            ``k`` the reference lacks.
    """
    generated = screening_features(as_float32(feature_matrix(generated, "generated features")))
    real = screening_features(reference.features)
    same_dimension(generated, real, ("generated features", "real features"))
    counts = NeighbourCounts(reference, generated, k_pr=k_pr, k_dc=k_dc)
    for block in generated_gram_blocks(generated, real, block_size=block_size):
        counts.add(block)
    return counts.result()
