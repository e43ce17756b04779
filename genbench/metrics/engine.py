"""The sample-metric engine: a prepared real reference, then one call per model.

:func:`prepare_reference` does the work that depends only on the real (and
training) features: Fréchet statistics with the R factor of the centred
real features, the exact real k-NN radii, the de-duplicated training
neighbours. :func:`sample_metrics` then scores one set of generated
features against it:

* FID from the generated Fréchet statistics (a QR decomposition of the
  generated features and the singular values of the product of the two R
  factors);
* one pass over blocks of generated rows: each block's inner products with
  the generated and the real features feed precision, recall, density,
  coverage and, unless the KID subsets are cheaper on their own (low
  dimensions, many samples), the generated-generated and generated-real KID
  sums;
* the real-real KID sums depend only on the real features and the subset
  draws, which depend on ``M``; they are computed on first use and kept in
  the reference, so every model with the same sample count reuses them;
* memorisation against the training neighbours, when the reference has them;
* the classifier Inception Score, when class probabilities are given;
* the newer metrics (Vendi, α-precision, β-recall, authenticity, C_T, RBF
  MMD, realism and rarity; :mod:`genbench.metrics.newer`), reading the
  memorisation pass's nearest training samples and the reference's radii.

Everything here is a pure function of its inputs (the reference's kernel-sum
memo only saves time); nothing reads or writes files. For an on-disk cache,
:meth:`Reference.to_arrays` and :meth:`Reference.from_arrays` convert to and
from a flat dict of arrays (e.g. for ``numpy.savez``; no pickling).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from genbench.metrics._checks import feature_matrix, same_dimension
from genbench.metrics.frechet import FrechetStatistics, frechet_distance, frechet_statistics
from genbench.metrics.frechet_infinity import MIN_SAMPLES as FD_INFINITY_MIN_SAMPLES
from genbench.metrics.frechet_infinity import PROTOCOL as FD_PROTOCOL
from genbench.metrics.frechet_infinity import frechet_distance_infinity
from genbench.metrics.inception_score import classifier_inception_score
from genbench.metrics.influence import KernelRowSums, frechet_influence, linearised_replicates
from genbench.metrics.kid import (
    GeneratedKernelSums,
    KIDResult,
    SubsetDraws,
    cross_kernel_sums,
    draw_subsets,
    kid_from_sums,
    self_kernel_sums,
    share_generated_blocks,
)
from genbench.metrics.memorisation import (
    DEFAULT_THRESHOLD,
    TrainingNeighbours,
    memorisation_from_ratios,
    nearest_training,
)
from genbench.metrics.neighbours import (
    DENSITY_COVERAGE_K,
    PRECISION_RECALL_K,
    NeighbourCounts,
    RealNeighbourhood,
)
from genbench.metrics.newer import NewerBlocks, NewerReference, score_newer
from genbench.metrics.pairwise import as_float32, generated_gram_blocks, screening_features
from genbench.metrics.uncertainty import (
    BOOTSTRAP_RESAMPLES,
    Interval,
    bootstrap_indices,
    bootstrap_interval,
    generated_bootstrap_method,
    normal_interval,
    resample_counts,
)

REFERENCE_FORMAT_VERSION = 3
"""Bumped whenever :meth:`Reference.to_arrays` changes meaning (2: the
Fréchet R factor replaces the covariance; exact squared k-NN radii; 3: the
k = 1 radii and the newer metrics' real side)."""

REAL_RADII_KS = (1, PRECISION_RECALL_K, DENSITY_COVERAGE_K)
"""The real k-NN radii a reference holds: k = 1 for β-recall, 3 for
precision/recall, realism and rarity, 5 for density/coverage."""

_RADIUS_PREFIX = "real_squared_radius_k"


@dataclass(frozen=True, eq=False)
class Reference:
    """Everything about the real side that every model's metrics reuse.

    Attributes:
        frechet: Fréchet statistics (mean, R-factor root) of the real features.
        neighbourhood: real features (float32) and their exact squared k-NN
            radii.
        newer: the real side of the newer metrics
            (:class:`~genbench.metrics.newer.NewerReference`).
        training: de-duplicated training features and their nearest-neighbour
            distances, for memorisation, authenticity and C_T; ``None`` to
            skip them.
    """

    frechet: FrechetStatistics
    neighbourhood: RealNeighbourhood
    newer: NewerReference
    training: TrainingNeighbours | None = None
    _real_kernel_sums: dict[str, np.ndarray] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        n, dim = self.neighbourhood.features.shape
        if self.frechet.dim != dim or self.frechet.n != n:
            raise ValueError(
                f"Fréchet statistics (d={self.frechet.dim}, n={self.frechet.n}) do not match "
                f"the real features (d={dim}, n={n})"
            )
        if self.training is not None and self.training.features.shape[1] != dim:
            raise ValueError(
                f"training features have dimension {self.training.features.shape[1]}, "
                f"real features {dim}"
            )

    @property
    def real_features(self) -> np.ndarray:
        """``(N, d)`` float32 real features."""
        return self.neighbourhood.features

    def real_kernel_sums(self, draws: SubsetDraws) -> np.ndarray:
        """Per-subset real-real KID kernel sums (diagonal excluded) for the
        real rows of ``draws``; computed once per distinct draw and kept."""
        key = hashlib.sha256(np.ascontiguousarray(draws.real).tobytes()).hexdigest()
        if key not in self._real_kernel_sums:
            self._real_kernel_sums[key] = self_kernel_sums(self.real_features, draws.real)
        return self._real_kernel_sums[key]

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The reference as a flat ``name -> array`` dict (no objects)."""
        arrays = {
            "format_version": np.asarray(REFERENCE_FORMAT_VERSION),
            "frechet_mu": self.frechet.mu,
            "frechet_root": self.frechet.root,
            "frechet_n": np.asarray(self.frechet.n),
            "real_features": self.neighbourhood.features,
        }
        for k, squared_radius in self.neighbourhood.squared_radii.items():
            arrays[f"{_RADIUS_PREFIX}{k}"] = squared_radius
        if self.training is not None:
            arrays["train_features"] = self.training.features
            arrays["train_nearest_distances"] = self.training.nearest_distances
        arrays.update(self.newer.to_arrays())
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> Reference:
        """Rebuild a reference from :meth:`to_arrays` output.

        Raises:
            ValueError: for a different format version, missing arrays, or
                arrays that are inconsistent with each other.
        """
        version = int(np.asarray(arrays.get("format_version", -1)))
        if version != REFERENCE_FORMAT_VERSION:
            raise ValueError(
                f"reference arrays have format version {version}, "
                f"expected {REFERENCE_FORMAT_VERSION}; prepare the reference again"
            )
        required = ("frechet_mu", "frechet_root", "frechet_n", "real_features")
        missing = [name for name in required if name not in arrays]
        if missing:
            raise ValueError(f"reference arrays lack {missing}")
        radii = {
            int(name.removeprefix(_RADIUS_PREFIX)): arrays[name]
            for name in arrays
            if name.startswith(_RADIUS_PREFIX)
        }
        training = None
        if "train_features" in arrays:
            training = TrainingNeighbours(
                arrays["train_features"], arrays["train_nearest_distances"]
            )
        return cls(
            frechet=FrechetStatistics(
                arrays["frechet_mu"], arrays["frechet_root"], int(arrays["frechet_n"])
            ),
            neighbourhood=RealNeighbourhood(arrays["real_features"], radii),
            newer=NewerReference.from_arrays(arrays),
            training=training,
        )


def prepare_reference(
    real: np.ndarray, train: np.ndarray | None = None, *, block_size: int | None = None
) -> Reference:
    """Prepare the real side once: Fréchet statistics (with the R factor),
    exact k-NN radii for k = 1, 3 and 5, the newer metrics' real side and,
    when ``train`` is given, the training neighbours for memorisation,
    authenticity and C_T.

    Raises:
        ValueError: for NaN/inf, non-2-D arrays, mismatched dimensions, or
            too few points (6 real points, naming the metric, N and the
            minimum; 2 distinct training points).
    """
    real = feature_matrix(real, "real features")
    frechet = frechet_statistics(real)
    training = None
    if train is not None:
        train = feature_matrix(train, "training features")
        same_dimension(train, real, ("training features", "real features"))
        training = TrainingNeighbours.from_features(train, block_size=block_size)
    neighbourhood = RealNeighbourhood.from_features(real, ks=REAL_RADII_KS, block_size=block_size)
    return Reference(
        frechet=frechet,
        neighbourhood=neighbourhood,
        newer=NewerReference.prepare(neighbourhood.features, neighbourhood.radii, training),
        training=training,
    )


@dataclass(frozen=True)
class SampleScores:
    """Every sample metric of one generated set, and its 95 % intervals.

    Attributes:
        values: registered metric name → value (see :func:`score_samples`).
        intervals: metric name → :class:`~genbench.metrics.uncertainty.Interval`
            from a bootstrap over the generated samples with the reference
            fixed (empty when no resamples were asked for).
        per_sample: ``realism`` and ``rarity`` of each generated sample
            (``(M,)`` arrays; empty without the newer metrics).
        settings: metric name → the kernel, bandwidth and test settings it
            used (JSON-ready; empty without the newer metrics).
    """

    values: dict[str, float]
    intervals: dict[str, Interval]
    per_sample: dict[str, np.ndarray] = field(default_factory=dict)
    settings: dict[str, dict[str, float | int | str]] = field(default_factory=dict)


def sample_metrics(reference: Reference, generated: np.ndarray, **options) -> dict[str, float]:
    """The values of :func:`score_samples` without intervals (the same
    keyword options; ``resamples`` is 0)."""
    return score_samples(reference, generated, resamples=0, **options).values


def score_samples(
    reference: Reference,
    generated: np.ndarray,
    *,
    generated_probs: np.ndarray | None = None,
    resamples: int = BOOTSTRAP_RESAMPLES,
    frechet_infinity: bool = True,
    newer: bool = True,
    kid_subsets: int = 100,
    kid_subset_size: int | None = None,
    kid_seed: int = 2020,
    memorisation_threshold: float = DEFAULT_THRESHOLD,
    block_size: int | None = None,
    device: torch.device | str | None = None,
) -> SampleScores:
    """Every feature-based sample metric of ``generated`` against
    ``reference``, with bootstrap intervals.

    Args:
        reference: from :func:`prepare_reference` or :meth:`Reference.from_arrays`.
        generated: ``(M, d)`` generated features from the task's extractor.
        generated_probs: ``(M, C)`` classifier probabilities of the same
            samples, for the Inception Score; ``None`` to skip it.
        resamples: bootstrap resamples of the generated samples (0: no
            intervals). Precision, density, memorisation and the Inception
            Score are recomputed exactly for each resample; recall and
            coverage too, with the generated k-NN radii of the full set;
            FID and KID by their first-order (linearised) bootstrap, see
            :mod:`genbench.metrics.influence`. FD∞ gets the standard error
            of its fitted intercept.
        frechet_infinity: compute FD∞ (ten more Fréchet distances: about
            50 s per model at M = 10,000, d = 2048 on one thread; under a
            second at genbench's own feature sizes).
        newer: compute the newer metrics (:mod:`genbench.metrics.newer`):
            ``vendi``, ``alpha_precision``, ``beta_recall``, ``mmd_rbf``,
            and with training features ``authenticity`` and, from
            ``cells * (tau + 1)`` = 210 samples a side, ``copying_ct`` and
            ``copying_p``; per-sample realism and rarity.
        kid_subsets, kid_subset_size, kid_seed: KID subset draws (see
            :func:`genbench.metrics.kid.kernel_inception_distance`; the
            default size is ``min(1000, min(M, N) // 2)``).
        memorisation_threshold: ratio below which a sample counts as memorised.
        block_size: generated rows per block (memory bound only).
        device: where the inner-product blocks of the neighbour metrics
            and KID are computed, by torch (the heaviest step at large
            ``M``); ``None``: numpy on the CPU, as always. Counts are the
            same either way (exact decisions); KID may differ in its last
            bits. Fréchet statistics, FD∞ and memorisation stay on the CPU
            in float64.

    Returns:
        Values ``fid``, ``fid_inf`` (when ``M`` >= 100), ``kid_mean``,
        ``kid_std``, ``kid_subset_size``, ``precision``, ``recall``,
        ``density``, ``coverage``; plus ``memorisation_fraction`` and
        ``memorisation_median_ratio`` when the reference has training
        features, and ``inception_score_mean``/``_std`` when probabilities
        are given. Every name is a registered metric. Intervals for each of
        them except the spreads (``kid_std``, ``inception_score_std``) and
        ``kid_subset_size``.

    Raises:
        ValueError: for NaN/inf, mismatched dimensions, too few generated
            points (4 for KID's default subset size and for recall; the
            message names the metric, M and the minimum), an explicit KID
            subset size above M or N, or probabilities for a different
            number of samples.
    """
    features = feature_matrix(generated, "generated features")
    same_dimension(features, reference.real_features, ("generated features", "real features"))
    m = features.shape[0]
    if generated_probs is not None and len(generated_probs) != m:
        raise ValueError(
            f"generated_probs has {len(generated_probs)} rows for {m} generated samples"
        )
    generated_stats = frechet_statistics(features)
    values = {"fid": frechet_distance(reference.frechet, generated_stats)}
    intervals: dict[str, Interval] = {}
    if frechet_infinity and m >= FD_INFINITY_MIN_SAMPLES:
        infinity = frechet_distance_infinity(reference.frechet, features)
        values["fid_inf"] = infinity.value
        if resamples:
            intervals["fid_inf"] = normal_interval(
                infinity.value, infinity.se, f"standard error of the intercept; {FD_PROTOCOL}"
            )

    draws = draw_subsets(
        m,
        reference.real_features.shape[0],
        subsets=kid_subsets,
        subset_size=kid_subset_size,
        seed=kid_seed,
    )
    passes = _block_pass(
        reference,
        as_float32(features),
        draws,
        block_size=block_size,
        per_sample=resamples > 0,
        newer=newer,
        device=device,
    )
    kid = passes.kid
    values.update(kid_mean=kid.mean, kid_std=kid.std, kid_subset_size=float(kid.subset_size))
    values.update(passes.neighbours.result())

    ratios, nearest = None, None
    if reference.training is not None:
        nearest = nearest_training(reference.training, features, block_size=block_size)
        ratios = nearest[1] / reference.training.nearest_distances[nearest[0]]
        values.update(memorisation_from_ratios(ratios, memorisation_threshold))
    if generated_probs is not None:
        mean, std = classifier_inception_score(generated_probs)
        values.update(inception_score_mean=mean, inception_score_std=std)
    indices = bootstrap_indices(m, resamples) if resamples else None
    counts = resample_counts(indices, m) if resamples else None
    extra = None
    if passes.newer is not None:
        extra = score_newer(
            reference.newer,
            features,
            reference.training,
            nearest,
            passes.newer,
            indices=indices,
            counts=counts,
        )
        values.update(extra.values)
        intervals.update(extra.intervals)
    if resamples:
        intervals.update(
            _bootstrap_intervals(
                values, counts, indices, passes, reference, generated_stats, features
            )
        )
        if ratios is not None:
            intervals.update(
                _memorisation_intervals(values, ratios, indices, memorisation_threshold)
            )
        if generated_probs is not None:
            replicates = [classifier_inception_score(generated_probs[rows])[0] for rows in indices]
            intervals["inception_score_mean"] = bootstrap_interval(
                values["inception_score_mean"],
                np.asarray(replicates),
                generated_bootstrap_method(m, resamples, "recomputed"),
            )
    if extra is None:
        return SampleScores(values, intervals)
    return SampleScores(values, intervals, extra.per_sample, extra.settings)


@dataclass(frozen=True)
class _Passes:
    """What the pass over generated blocks produced."""

    neighbours: NeighbourCounts
    kid: KIDResult
    kernel_rows: KernelRowSums | None
    newer: NewerBlocks | None


def _block_pass(
    reference: Reference,
    generated: np.ndarray,
    draws: SubsetDraws,
    *,
    block_size: int | None,
    per_sample: bool,
    newer: bool,
    device: torch.device | str | None = None,
) -> _Passes:
    """Precision, recall, density, coverage, KID and (with ``newer``) the
    newer metrics' block consumers from one pass over blocks of the float32
    ``generated`` features, in the dtype the neighbour metrics screen
    distances in (KID's generated subsets computed directly instead when
    that is cheaper); with ``per_sample``, also each sample's contributions
    for the bootstrap. ``device``: see :func:`score_samples`."""
    screened = screening_features(generated)
    neighbours = NeighbourCounts(reference.neighbourhood, screened, per_sample=per_sample)
    dim = generated.shape[1]
    kernel_sums = GeneratedKernelSums(draws, dim) if share_generated_blocks(draws, dim) else None
    kernel_rows = KernelRowSums(generated.shape[0], dim) if per_sample else None
    real = screening_features(reference.real_features)
    newer_blocks = None
    if newer:
        newer_blocks = NewerBlocks(
            reference.newer,
            screened,
            real,
            reference.neighbourhood.squared_radius(PRECISION_RECALL_K),
            real_norms=(
                reference.neighbourhood.squared_norms if real is reference.real_features else None
            ),
        )
    consumers = [c for c in (neighbours, kernel_sums, kernel_rows, newer_blocks) if c is not None]
    for block in generated_gram_blocks(screened, real, block_size=block_size, device=device):
        for consumer in consumers:
            consumer.add(block)
    if kernel_sums is not None:
        generated_sums, cross_sums = kernel_sums.generated_sums, kernel_sums.cross_sums
    else:
        generated_sums, cross_sums = cross_kernel_sums(
            generated, reference.real_features, draws, strategy="subsets"
        )
    kid = kid_from_sums(
        generated_sums, reference.real_kernel_sums(draws), cross_sums, draws.subset_size
    )
    return _Passes(neighbours, kid, kernel_rows, newer_blocks)


def _bootstrap_intervals(
    values: dict[str, float],
    counts: np.ndarray,
    indices: np.ndarray,
    passes: _Passes,
    reference: Reference,
    generated_stats: FrechetStatistics,
    features: np.ndarray,
) -> dict[str, Interval]:
    m, resamples = features.shape[0], len(indices)
    intervals = {}
    exact = generated_bootstrap_method(
        m, resamples, "recomputed; recall keeps the full set's radii"
    )
    for name, replicates in passes.neighbours.contributions().replicates(counts).items():
        intervals[name] = bootstrap_interval(values[name], replicates, exact)
    linear = generated_bootstrap_method(m, resamples, "linearised: first-order influence")
    fid_influence = frechet_influence(reference.frechet, generated_stats, features)
    intervals["fid"] = bootstrap_interval(
        values["fid"], linearised_replicates(values["fid"], fid_influence, counts), linear
    )
    kid_influence = passes.kernel_rows.influence()
    intervals["kid_mean"] = bootstrap_interval(
        values["kid_mean"], linearised_replicates(values["kid_mean"], kid_influence, counts), linear
    )
    return intervals


def _memorisation_intervals(
    values: dict[str, float], ratios: np.ndarray, indices: np.ndarray, threshold: float
) -> dict[str, Interval]:
    resampled = ratios[indices]
    method = generated_bootstrap_method(len(ratios), len(indices), "recomputed")
    replicates = {
        "memorisation_fraction": (resampled < threshold).mean(axis=1),
        "memorisation_median_ratio": np.median(resampled, axis=1),
    }
    return {name: bootstrap_interval(values[name], replicates[name], method) for name in replicates}
