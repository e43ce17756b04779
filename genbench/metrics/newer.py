"""The newer sample metrics inside the engine: Vendi score, α-precision,
β-recall, authenticity, the data-copying test C_T, RBF-kernel MMD, and the
per-sample realism and rarity scores.

Each metric's definition lives in its own module (``vendi``, ``alpha_beta``,
``authenticity``, ``data_copying``, ``mmd``, ``sample_scores``); this module
feeds them the pieces the engine already has or prepares once per reference,
and adds each number's bootstrap interval:

* per reference (:class:`NewerReference`): the real centre and each real
  sample's distance to it; each real sample's exact nearest-neighbour
  distance (the k = 1 radius of the engine's real-neighbourhood pass); the
  MMD bandwidth and real-real kernel sum; the Vendi kernel; and for C_T the
  k-means cells of the training features with the held-out (real
  reference) samples' cells and nearest-training distances;
* per model: the generated samples' nearest training sample comes from the
  memorisation pass (authenticity and C_T read it, no second search), the
  real k = 3 radii from the reference (realism and rarity); β-recall's
  nearest generated samples, MMD's kernel row sums and the realism and
  rarity scores come from the engine's pass over generated Gram blocks
  (:class:`NewerBlocks`), the one the classic metrics read.

Kernels and bandwidths are fixed per reference and recorded
(:attr:`NewerScores.settings`): Vendi uses the cosine kernel on embeddings
(more than :data:`~genbench.metrics.pairwise.FLOAT64_SCREEN_MAX_DIM`
dimensions) and, on low-dimensional coordinates where the cosine kernel's
rank is at most ``d``, the RBF kernel with σ = the median real 5-NN radius;
MMD uses the RBF kernel with σ = the median pairwise distance of (at most
:data:`MMD_BANDWIDTH_SAMPLES`) real samples.

Intervals (bootstrap over the generated samples, the reference fixed, the
same resamples as the engine's other metrics): α-precision, β-recall,
authenticity and C_T are recomputed for every resample; Vendi (through its
log) and MMD are linearised by their first-order influence, as FID and KID
are. ``copying_p`` is a p-value and has none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from genbench.metrics._nearest import as_float64, row_distances, squared_distance_blocks
from genbench.metrics.alpha_beta import (
    NearestGenerated,
    alpha_precision_curve,
    beta_recall_curve,
    integrated_value,
    level_grid,
)
from genbench.metrics.data_copying import (
    DEFAULT_CELLS,
    DEFAULT_LEVEL,
    DEFAULT_TAU,
    assign_cells,
    copying_test_from_distances,
    fit_cells,
)
from genbench.metrics.influence import linearised_replicates
from genbench.metrics.memorisation import TrainingNeighbours, nearest_training
from genbench.metrics.mmd import CMMD_SCALE, RBFKernelRowSums, rbf_kernel_sum
from genbench.metrics.pairwise import (
    FLOAT64_SCREEN_MAX_DIM,
    DistanceScreen,
    GramBlock,
    squared_norms,
)
from genbench.metrics.sample_scores import RarityScores, RealismScores
from genbench.metrics.uncertainty import Interval, bootstrap_interval, generated_bootstrap_method
from genbench.metrics.vendi import vendi_with_influence

MMD_BANDWIDTH_SAMPLES = 2000
"""Real samples (the first ones, in the reference's fixed order) whose
pairwise distances give the MMD bandwidth by the median heuristic."""

BETA_CANDIDATES = 32
"""Nearest generated samples kept per real sample for β-recall's bootstrap:
a resample misses all of them with probability about e^-32, and then the
real sample's nearest drawn neighbour is searched in full."""

COPYING_SEED = 0
"""k-means seed of the C_T cells."""

_PREFIX = "newer_"


@dataclass(frozen=True, eq=False)
class NewerReference:
    """The real side of the newer metrics, computed once per reference.

    Attributes:
        centre: ``(d,)`` float64 mean of the real features (α-precision).
        real_to_centre: ``(N,)`` each real sample's distance to ``centre``.
        real_nearest_real: ``(N,)`` each real sample's exact distance to its
            nearest other real sample (β-recall).
        mmd_sigma: RBF bandwidth of ``mmd_rbf`` (median heuristic).
        mmd_real_sum: ``Σ_{i≠j} k(R_i, R_j)`` at ``mmd_sigma``.
        vendi_sigma: RBF bandwidth of the Vendi score on low-dimensional
            features; ``None`` for the cosine kernel.
        copying_centres: ``(cells, d)`` k-means centres of the training
            features; ``None`` when there are too few samples for C_T.
        test_cells, test_distances: each real (held-out) sample's cell and
            distance to its nearest training sample (with the centres).
    """

    centre: np.ndarray
    real_to_centre: np.ndarray
    real_nearest_real: np.ndarray
    mmd_sigma: float
    mmd_real_sum: float
    vendi_sigma: float | None = None
    copying_centres: np.ndarray | None = None
    test_cells: np.ndarray | None = None
    test_distances: np.ndarray | None = None

    @classmethod
    def prepare(
        cls,
        real: np.ndarray,
        radii: Mapping[int, np.ndarray],
        training: TrainingNeighbours | None,
        *,
        cells: int = DEFAULT_CELLS,
        tau: int = DEFAULT_TAU,
    ) -> NewerReference:
        """Prepare from the ``(N, d)`` real features, their exact k-NN radii
        (distances, keys 1 and 5 needed) and the training neighbours
        (``None``: no authenticity or C_T). C_T's cells are fitted only when
        ``N`` is at least ``cells * (tau + 1)`` and there are ``cells``
        distinct training samples."""
        r = as_float64(real)
        centre = r.mean(axis=0)
        sigma = median_pairwise_distance(r[:MMD_BANDWIDTH_SAMPLES])
        vendi_sigma = float(np.median(radii[5])) if r.shape[1] <= FLOAT64_SCREEN_MAX_DIM else None
        copying: dict[str, np.ndarray] = {}
        n_train = 0 if training is None else training.features.shape[0]
        if training is not None and r.shape[0] >= cells * (tau + 1) and n_train >= cells:
            centres = fit_cells(training.features, cells, seed=COPYING_SEED)
            copying = {
                "copying_centres": centres,
                "test_cells": assign_cells(r, centres),
                "test_distances": nearest_training(training, r)[1],
            }
        return cls(
            centre=centre,
            real_to_centre=row_distances(r, centre[None, :]),
            real_nearest_real=np.asarray(radii[1], dtype=np.float64),
            mmd_sigma=sigma,
            mmd_real_sum=rbf_kernel_sum(r, sigma=sigma),
            vendi_sigma=vendi_sigma if vendi_sigma is None or vendi_sigma > 0 else None,
            **copying,
        )

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The reference as ``name -> array`` (keys prefixed ``newer_``)."""
        arrays = {
            "centre": self.centre,
            "real_to_centre": self.real_to_centre,
            "real_nearest_real": self.real_nearest_real,
            "mmd_sigma": np.asarray(self.mmd_sigma),
            "mmd_real_sum": np.asarray(self.mmd_real_sum),
        }
        if self.vendi_sigma is not None:
            arrays["vendi_sigma"] = np.asarray(self.vendi_sigma)
        if self.copying_centres is not None:
            arrays.update(
                copying_centres=self.copying_centres,
                test_cells=self.test_cells,
                test_distances=self.test_distances,
            )
        return {_PREFIX + name: value for name, value in arrays.items()}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> NewerReference:
        """Rebuild from :meth:`to_arrays` output (other keys are ignored).

        Raises:
            KeyError: when a required array is missing.
        """
        own = {
            name.removeprefix(_PREFIX): value
            for name, value in arrays.items()
            if name.startswith(_PREFIX)
        }
        scalars = {name: float(own.pop(name)) for name in ("mmd_sigma", "mmd_real_sum")}
        if "vendi_sigma" in own:
            scalars["vendi_sigma"] = float(own.pop("vendi_sigma"))
        return cls(**{name: np.asarray(value) for name, value in own.items()}, **scalars)


def median_pairwise_distance(features: np.ndarray) -> float:
    """Median Euclidean distance over the pairs ``i < j`` of the rows of
    ``features`` (float64; the median heuristic for an RBF bandwidth).

    Raises:
        ValueError: with fewer than 2 rows, or when every distance is 0.
    """
    n = features.shape[0]
    if n < 2:
        raise ValueError(f"the median heuristic needs at least 2 samples, got {n}")
    upper = []
    for rows, squared in squared_distance_blocks(features, features):
        local = np.arange(squared.shape[0])[:, None]
        columns = np.arange(n)[None, :]
        upper.append(squared[columns > rows.start + local])
    median = float(np.sqrt(np.median(np.concatenate(upper))))
    if median <= 0:
        raise ValueError("the median heuristic found every pairwise distance 0")
    return median


@dataclass(frozen=True)
class NewerScores:
    """Values, intervals and per-sample arrays of the newer metrics.

    Attributes:
        values: registered metric name → value.
        intervals: metric name → 95 % interval (see the module docstring).
        per_sample: ``realism`` and ``rarity``, ``(M,)`` each (NaN rarity:
            the sample lies in no real 3-NN ball).
        settings: metric name → the kernel, bandwidth and test settings
            used (JSON-ready), for the record's provenance.
    """

    values: dict[str, float]
    intervals: dict[str, Interval] = field(default_factory=dict)
    per_sample: dict[str, np.ndarray] = field(default_factory=dict)
    settings: dict[str, dict[str, float | int | str]] = field(default_factory=dict)


class NewerBlocks:
    """The newer metrics' consumers of the engine's pass over generated
    blocks (:func:`~genbench.metrics.pairwise.generated_gram_blocks`): each
    real sample's nearest generated samples (β-recall), the RBF kernel row
    sums (MMD) and the realism and rarity scores.

    Args:
        reference: the prepared real side (the MMD bandwidth).
        generated, real: the features the blocks multiply, in the screening
            dtype (:func:`~genbench.metrics.pairwise.screening_features`).
        real_squared_radius_3: the real samples' exact squared 3-NN radii.
        real_norms: the squared norms of ``real``, when known.
    """

    def __init__(
        self,
        reference: NewerReference,
        generated: np.ndarray,
        real: np.ndarray,
        real_squared_radius_3: np.ndarray,
        *,
        real_norms: np.ndarray | None = None,
    ) -> None:
        norms = squared_norms(generated)
        among = DistanceScreen(generated, generated, left_norms=norms, right_norms=norms)
        self.to_real = DistanceScreen(generated, real, left_norms=norms, right_norms=real_norms)
        self.nearest = NearestGenerated(self.to_real, BETA_CANDIDATES)
        self.kernels = RBFKernelRowSums(among, self.to_real, reference.mmd_sigma)
        self.realism = RealismScores(self.to_real, np.sqrt(real_squared_radius_3))
        self.rarity = RarityScores(self.to_real, real_squared_radius_3)

    def add(self, block: GramBlock) -> None:
        """Feed one block to every consumer."""
        for consumer in (self.nearest, self.kernels, self.realism, self.rarity):
            consumer.add(block)


def score_newer(
    reference: NewerReference,
    generated: np.ndarray,
    training: TrainingNeighbours | None,
    nearest_train: tuple[np.ndarray, np.ndarray] | None,
    blocks: NewerBlocks,
    *,
    indices: np.ndarray | None,
    counts: np.ndarray | None,
) -> NewerScores:
    """The newer metrics of ``generated`` (``(M, d)``) against the prepared
    real ``reference``.

    Args:
        training, nearest_train: the training neighbours and, for each
            generated sample, its nearest training row and the distance to
            it (from the memorisation pass); ``None`` skips authenticity and
            C_T.
        blocks: the consumers fed every block of the engine's pass over
            ``generated``.
        indices, counts: the bootstrap's resample rows and counts
            (``(B, M)`` each), or ``None`` for no intervals.
    """
    g = as_float64(generated)
    scores = NewerScores(values={})
    _vendi(scores, reference, g, counts)
    _alpha_beta(scores, reference, g, blocks, counts, indices)
    _mmd(scores, reference, blocks.kernels, counts)
    if training is not None and nearest_train is not None:
        _authenticity_and_copying(scores, reference, training, g, nearest_train, indices)
    scores.per_sample["realism"] = blocks.realism.scores
    scores.per_sample["rarity"] = blocks.rarity.scores
    return scores


def _vendi(
    scores: NewerScores, reference: NewerReference, g: np.ndarray, counts: np.ndarray | None
) -> None:
    kernel = "cosine" if reference.vendi_sigma is None else "rbf"
    value, influence = vendi_with_influence(g, kernel=kernel, sigma=reference.vendi_sigma)
    scores.values["vendi"] = value
    scores.settings["vendi"] = {"kernel": kernel, "order": 1}
    if reference.vendi_sigma is not None:
        scores.settings["vendi"]["sigma"] = reference.vendi_sigma
    if counts is not None:
        replicates = np.exp(linearised_replicates(np.log(value), influence, counts))
        scores.intervals["vendi"] = bootstrap_interval(
            value,
            replicates,
            generated_bootstrap_method(
                g.shape[0], len(counts), "linearised: first-order influence on log Vendi"
            ),
        )


def _alpha_beta(
    scores: NewerScores,
    reference: NewerReference,
    g: np.ndarray,
    blocks: NewerBlocks,
    counts: np.ndarray | None,
    indices: np.ndarray | None,
) -> None:
    levels = level_grid()
    to_centre = row_distances(g, reference.centre[None, :])
    precision = alpha_precision_curve(reference.real_to_centre, to_centre, levels)
    candidates, candidate_distances = blocks.nearest.result()
    nearest, distance = candidates[:, 0], candidate_distances[:, 0]
    neighbour_to_centre = row_distances(g[nearest], g.mean(axis=0)[None, :])
    recall = beta_recall_curve(reference.real_nearest_real, distance, neighbour_to_centre, levels)
    scores.values["alpha_precision"] = integrated_value(precision, levels)
    scores.values["beta_recall"] = integrated_value(recall, levels)
    scores.settings["alpha_precision"] = {"levels": len(levels), "centre": "real mean"}
    scores.settings["beta_recall"] = {"levels": len(levels), "centre": "generated mean"}
    if counts is None or indices is None:
        return
    m, resamples = g.shape[0], len(counts)
    radii = np.quantile(reference.real_to_centre, levels)
    inside = (to_centre[None, :] <= radii[:, None]).astype(np.float64)
    precision_replicates = [integrated_value(curve, levels) for curve in counts @ inside.T / m]
    recall_replicates = []
    for row in counts:
        drawn = row > 0
        chosen, chosen_distance = _nearest_drawn(
            blocks.to_real, candidates, candidate_distances, drawn
        )
        centre = row @ g / m
        # many real samples share a nearest generated sample: measure each once
        unique, inverse = np.unique(chosen, return_inverse=True)
        curve = beta_recall_curve(
            reference.real_nearest_real,
            chosen_distance,
            row_distances(g[unique], centre[None, :])[inverse],
            levels,
        )
        recall_replicates.append(integrated_value(curve, levels))
    method = generated_bootstrap_method(m, resamples, "recomputed")
    scores.intervals["alpha_precision"] = bootstrap_interval(
        scores.values["alpha_precision"], np.asarray(precision_replicates), method
    )
    scores.intervals["beta_recall"] = bootstrap_interval(
        scores.values["beta_recall"], np.asarray(recall_replicates), method
    )


def _nearest_drawn(
    to_real: DistanceScreen,
    candidates: np.ndarray,
    candidate_distances: np.ndarray,
    drawn: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Each real sample's nearest generated sample among the ``drawn`` ones
    and the distance to it: the first drawn candidate, else (no candidate
    drawn, probability about e^-32) an exact search over the drawn ones,
    lower index first among ties."""
    present = drawn[candidates]
    first = np.argmax(present, axis=1)
    rows = np.arange(len(candidates))
    chosen, distance = candidates[rows, first], candidate_distances[rows, first]
    pool = np.flatnonzero(drawn)
    for real in np.flatnonzero(~present.any(axis=1)):
        squared = to_real.exact(pool, np.full(pool.size, real))
        nearest = int(np.argmin(squared))
        chosen[real], distance[real] = pool[nearest], np.sqrt(squared[nearest])
    return chosen, distance


def _mmd(
    scores: NewerScores,
    reference: NewerReference,
    kernels: RBFKernelRowSums,
    counts: np.ndarray | None,
) -> None:
    n, m = reference.real_to_centre.shape[0], kernels.with_real.shape[0]
    with_generated, with_real = kernels.with_generated, kernels.with_real
    mmd2 = (
        reference.mmd_real_sum / (n * (n - 1))
        + with_generated.sum() / (m * (m - 1))
        - 2.0 * with_real.sum() / (n * m)
    )
    value = float(CMMD_SCALE * mmd2)
    scores.values["mmd_rbf"] = value
    scores.settings["mmd_rbf"] = {
        "sigma": reference.mmd_sigma,
        "scale": CMMD_SCALE,
        "estimator": "unbiased",
        "bandwidth": f"median pairwise distance of the first {MMD_BANDWIDTH_SAMPLES} real samples",
    }
    if counts is not None:
        influence = 2.0 * CMMD_SCALE * (with_generated / (m - 1) - with_real / n)
        scores.intervals["mmd_rbf"] = bootstrap_interval(
            value,
            linearised_replicates(value, influence - influence.mean(), counts),
            generated_bootstrap_method(m, len(counts), "linearised: first-order influence"),
        )


def _authenticity_and_copying(
    scores: NewerScores,
    reference: NewerReference,
    training: TrainingNeighbours,
    g: np.ndarray,
    nearest_train: tuple[np.ndarray, np.ndarray],
    indices: np.ndarray | None,
) -> None:
    nearest, distance = nearest_train
    authentic = distance >= training.nearest_distances[nearest]
    scores.values["authenticity"] = float(authentic.mean())
    scores.settings["authenticity"] = {"ties": "authentic"}
    if indices is not None:
        scores.intervals["authenticity"] = bootstrap_interval(
            scores.values["authenticity"],
            authentic[indices].mean(axis=1),
            generated_bootstrap_method(g.shape[0], len(indices), "recomputed"),
        )
    centres = reference.copying_centres
    if centres is None or g.shape[0] < centres.shape[0] * (DEFAULT_TAU + 1):
        return
    cells = assign_cells(g, centres)

    def test(rows: np.ndarray | slice):
        return copying_test_from_distances(
            reference.test_distances,
            reference.test_cells,
            distance[rows],
            cells[rows],
            centres.shape[0],
        )

    result = test(slice(None))
    scores.values.update(copying_ct=result.statistic, copying_p=result.p_value)
    scores.settings["copying_ct"] = {
        "cells": int(centres.shape[0]),
        "tau": DEFAULT_TAU,
        "level": DEFAULT_LEVEL,
        "kmeans_seed": COPYING_SEED,
        "cells_used": result.cells_used,
        "copying": str(bool(result.copying)).lower(),
    }
    if indices is not None:
        scores.intervals["copying_ct"] = bootstrap_interval(
            result.statistic,
            np.asarray([test(rows).statistic for rows in indices]),
            generated_bootstrap_method(g.shape[0], len(indices), "recomputed"),
        )
