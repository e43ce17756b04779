"""Improved precision/recall and density/coverage from one shared computation.

Definitions (``R``: N real points, ``G``: M generated points, ``r_k(x)``: the
distance from ``x`` to its k-th nearest other point of its own set):

* precision (k=3) = (1/M) #{j : exists i, d(G_j, R_i) <= r_3(R_i)}
* recall (k=3)    = (1/N) #{i : exists j, d(R_i, G_j) <= r_3(G_j)}
* density (k=5)   = 1/(kM) sum_j #{i : d(G_j, R_i) < r_5(R_i)}
* coverage (k=5)  = (1/N) #{i : min_j d(R_i, G_j) < r_5(R_i)}

Precision and recall use ``<=`` and match torch-fidelity's
``prc_features_to_metric(generated, real)`` (input1 = generated); density and
coverage use the strict ``<`` of the ``prdc`` package. Distances are float32
as in torch-fidelity, so values agree exactly unless a distance lies within
float32 rounding of a radius.

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

from genbench.metrics._checks import feature_matrix, positive_int, same_dimension
from genbench.metrics.pairwise import (
    GramBlock,
    as_float32,
    generated_gram_blocks,
    kth_neighbour_distances,
    kth_smallest,
    squared_distances,
    squared_norms,
    zero_self_distances,
)

PRECISION_RECALL_K = 3
DENSITY_COVERAGE_K = 5


@dataclass(frozen=True, eq=False)
class RealNeighbourhood:
    """Real features and their k-NN radii, computed once per reference.

    Attributes:
        features: ``(N, d)`` float32 real features.
        radii: ``k -> (N,)`` float32 distance of each real point to its k-th
            nearest other real point.
    """

    features: np.ndarray
    radii: Mapping[int, np.ndarray]

    def __post_init__(self) -> None:
        features = np.array(
            feature_matrix(self.features, "real features", min_rows=2), dtype=np.float32
        )
        features.flags.writeable = False
        radii: dict[int, np.ndarray] = {}
        for k, values in self.radii.items():
            k = positive_int(k, "k")
            array = np.array(values, dtype=np.float32)
            if array.shape != (features.shape[0],):
                raise ValueError(
                    f"radii for k={k} must have shape ({features.shape[0]},), got {array.shape}"
                )
            if not np.all(np.isfinite(array)) or np.any(array < 0):
                raise ValueError(f"radii for k={k} must be finite and non-negative")
            array.flags.writeable = False
            radii[k] = array
        object.__setattr__(self, "features", features)
        object.__setattr__(self, "radii", MappingProxyType(radii))

    @classmethod
    def from_features(
        cls,
        real: np.ndarray,
        *,
        ks: tuple[int, ...] = (PRECISION_RECALL_K, DENSITY_COVERAGE_K),
        block_size: int | None = None,
    ) -> RealNeighbourhood:
        """Compute the radii of ``real`` for every ``k`` in ``ks``.

        Raises:
            ValueError: for NaN/inf, a non-2-D array, or ``N <= max(ks)``.
        """
        features = as_float32(feature_matrix(real, "real features", min_rows=2))
        ks = tuple(positive_int(k, "k") for k in ks)
        return cls(features, kth_neighbour_distances(features, ks, block_size=block_size))

    # MappingProxyType does not pickle; travel to process workers as a dict.
    def __reduce__(self):
        return (type(self), (self.features, dict(self.radii)))

    @cached_property
    def squared_norms(self) -> np.ndarray:
        """``(N,)`` float32 squared norms of :attr:`features`."""
        return squared_norms(self.features)

    def radius(self, k: int) -> np.ndarray:
        """The k-NN radii of the real points.

        Raises:
            ValueError: when the neighbourhood was built without ``k``.
        """
        if k not in self.radii:
            raise ValueError(
                f"the real neighbourhood has radii for k in {sorted(self.radii)}, not k={k}; "
                "build it with RealNeighbourhood.from_features(real, ks=...)"
            )
        return self.radii[k]


class NeighbourCounts:
    """Accumulates the four neighbour metrics over :class:`GramBlock` s.

    Feed every block of one pass of :func:`generated_gram_blocks` over
    ``generated`` and the reference's real features to :meth:`add`, then
    read :meth:`result`.
    """

    def __init__(
        self,
        reference: RealNeighbourhood,
        generated: np.ndarray,
        *,
        k_pr: int = PRECISION_RECALL_K,
        k_dc: int = DENSITY_COVERAGE_K,
    ) -> None:
        self._k_pr = positive_int(k_pr, "k_pr")
        self._k_dc = positive_int(k_dc, "k_dc")
        if generated.shape[0] <= self._k_pr:
            raise ValueError(
                f"recall with k={self._k_pr} needs more than {self._k_pr} generated points, "
                f"got {generated.shape[0]}"
            )
        self._real_radius_pr = reference.radius(self._k_pr)
        self._real_radius_dc = reference.radius(self._k_dc)
        self._real_norms = reference.squared_norms
        self._generated_norms = squared_norms(generated)
        n_real = reference.features.shape[0]
        self._n_generated = generated.shape[0]
        self._precise = 0
        self._dense = 0
        self._recalled = np.zeros(n_real, dtype=bool)
        self._nearest_generated = np.full(n_real, np.inf, dtype=np.float32)
        self._rows_seen = 0

    def add(self, block: GramBlock) -> None:
        """Count one block of generated rows."""
        rows = block.rows
        norms = self._generated_norms[rows]
        among_generated = squared_distances(block.generated, norms, self._generated_norms)
        zero_self_distances(among_generated, rows)
        generated_radius = kth_smallest(among_generated, (self._k_pr,))[self._k_pr]
        del among_generated

        distance = np.sqrt(squared_distances(block.real, norms, self._real_norms))
        self._precise += int(np.any(distance <= self._real_radius_pr, axis=1).sum())
        self._dense += int(np.count_nonzero(distance < self._real_radius_dc))
        self._recalled |= np.any(distance <= generated_radius[:, None], axis=0)
        np.minimum(self._nearest_generated, distance.min(axis=0), out=self._nearest_generated)
        self._rows_seen += rows.stop - rows.start

    def result(self) -> dict[str, float]:
        """``precision``, ``recall``, ``density``, ``coverage``."""
        if self._rows_seen != self._n_generated:
            raise RuntimeError(
                f"saw {self._rows_seen} of {self._n_generated} generated rows; "
                "feed every block before reading the result"
            )
        m = self._n_generated
        return {
            "precision": self._precise / m,
            "recall": float(self._recalled.mean()),
            "density": self._dense / (self._k_dc * m),
            "coverage": float(np.mean(self._nearest_generated < self._real_radius_dc)),
        }


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
    generated = as_float32(feature_matrix(generated, "generated features"))
    same_dimension(generated, reference.features, ("generated features", "real features"))
    counts = NeighbourCounts(reference, generated, k_pr=k_pr, k_dc=k_dc)
    for block in generated_gram_blocks(generated, reference.features, block_size=block_size):
        counts.add(block)
    return counts.result()
