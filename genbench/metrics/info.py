"""Metadata that travels with every metric genbench reports.

Each number in a result record is keyed by a metric name registered here, so
a leaderboard can rank, label and group columns without special cases. The
engine's own metrics and the names the harness and tasks emit are registered
on import; genbench's other metric modules (text metrics) call
:func:`register_metric` when imported. Plugins declare theirs through the
``register_metrics`` hook, which the registry (``genbench.registry``) hands
to :func:`register_metric`.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from types import MappingProxyType

from genbench.specs import MODALITIES

KINDS: tuple[str, ...] = ("sample", "likelihood", "reconstruction", "speed", "model", "task")
"""What a metric measures: ``sample`` (quality/diversity of generated
samples), ``likelihood`` (held-out log-likelihood), ``reconstruction``
(encode-decode fidelity), ``speed`` (wall-clock cost), ``model`` (facts about
the fitted model, e.g. parameters), ``task`` (a task's own metric, e.g. modes
covered on a toy mixture)."""

_METRIC_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class MetricInfo:
    """Everything a table needs to show one metric.

    Attributes:
        name: lower-case snake-case key used in result records and tables.
        unit: spelled out, e.g. ``"nats/example"``, ``"bits/dim"``, ``"s"``;
            ``"1"`` for dimensionless numbers and fractions.
        higher_is_better: ranking direction; ``None`` when the number is
            descriptive only (a spread, a sample count, a parameter count).
        modalities: the modalities the metric is reported on.
        description: one sentence stating the definition and its convention.
        kind: one of :data:`KINDS`.
    """

    name: str
    unit: str
    higher_is_better: bool | None
    modalities: tuple[str, ...]
    description: str
    kind: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _METRIC_NAME.match(self.name):
            raise ValueError(
                f"metric name {self.name!r} must be lower-case snake case "
                "(letters, digits, underscores; starting with a letter)"
            )
        if not isinstance(self.unit, str) or not self.unit.strip():
            raise ValueError(f"metric {self.name!r} needs a unit (use '1' for dimensionless)")
        if self.higher_is_better not in (True, False, None):
            raise ValueError(
                f"metric {self.name!r}: higher_is_better must be True, False or None, "
                f"got {self.higher_is_better!r}"
            )
        modalities = tuple(self.modalities)
        if not modalities or any(m not in MODALITIES for m in modalities):
            raise ValueError(
                f"metric {self.name!r} has modalities {modalities!r}; "
                f"choose a non-empty subset of {list(MODALITIES)}"
            )
        object.__setattr__(self, "modalities", modalities)
        if not isinstance(self.description, str) or not self.description.strip():
            raise ValueError(f"metric {self.name!r} needs a description")
        if self.kind not in KINDS:
            raise ValueError(
                f"metric {self.name!r} has kind {self.kind!r}; choose one of {list(KINDS)}"
            )


_REGISTRY: dict[str, MetricInfo] = {}

METRICS = MappingProxyType(_REGISTRY)
"""Read-only view of every registered metric, by name."""


def register_metric(info: MetricInfo) -> MetricInfo:
    """Add ``info`` to :data:`METRICS` and return it.

    Registering a record equal to the one already held under its name is a
    no-op (so re-importing a module is harmless).

    Raises:
        TypeError: when ``info`` is not a :class:`MetricInfo`.
        ValueError: when another, different record already uses the name.
    """
    if not isinstance(info, MetricInfo):
        raise TypeError(f"register_metric expects a MetricInfo, got {type(info).__name__}")
    existing = _REGISTRY.get(info.name)
    if existing is not None and existing != info:
        raise ValueError(f"metric {info.name!r} is already registered with different metadata")
    _REGISTRY[info.name] = info
    return info


def metric_info(name: str) -> MetricInfo:
    """The registered record for ``name``.

    Raises:
        KeyError: with the closest registered names when ``name`` is unknown.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(str(name), list(_REGISTRY), n=5, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"unknown metric {name!r}{hint}") from None


_ALL = MODALITIES
_CLASSIFIER_MODALITIES = ("image", "audio")
_DISCRETE_DIM_MODALITIES = ("image", "audio", "toy")
_TEXT = ("text",)

# fmt: off
_BUILTIN_METRICS: tuple[tuple[str, str, bool | None, tuple[str, ...], str, str], ...] = (
    # name, unit, higher_is_better, modalities, kind, description
    # feature-based sample metrics: genbench.metrics.engine
    ("fid", "feature units^2", False, _ALL, "sample",
     "Frechet distance between Gaussians fitted to real and generated features "
     "(covariances ddof=1); matches torch-fidelity to 1e-6 relative."),
    ("fad", "embedding units^2", False, ("audio",), "sample",
     "Frechet Audio Distance: the Frechet distance above on the audio task's "
     "in-domain classifier embedding (named in each record)."),
    ("fid_inf", "feature units^2", False, _ALL, "sample",
     "FD-infinity (Chong & Forsyth 2020): the Frechet distance extrapolated to "
     "infinitely many generated samples; 10 subset sizes from M/5 to M, least "
     "squares on 1/M, intercept."),
    ("fad_inf", "embedding units^2", False, ("audio",), "sample",
     "FD-infinity of the Frechet Audio Distance (same protocol as fid_inf)."),
    ("kid_mean", "1", False, _ALL, "sample",
     "Kernel distance: mean over subsets of the unbiased MMD^2 with kernel "
     "(x.y/d + 1)^3; subsets drawn as torch-fidelity does."),
    ("kid_std", "1", None, _ALL, "sample",
     "Standard deviation (ddof=0) of the per-subset MMD^2 behind kid_mean."),
    ("kid_subset_size", "samples", None, _ALL, "sample",
     "Samples per side in each KID subset: the requested size, or fewer when a "
     "side has fewer samples."),
    ("precision", "1", True, _ALL, "sample",
     "Improved precision (k=3): fraction of generated points within (<=) the "
     "3-NN radius of some real point."),
    ("recall", "1", True, _ALL, "sample",
     "Improved recall (k=3): fraction of real points within (<=) the 3-NN radius "
     "of some generated point."),
    ("density", "1", True, _ALL, "sample",
     "Density (k=5): real 5-NN balls containing (<) each generated point, averaged "
     "and divided by 5; near 1 when the distributions match."),
    ("coverage", "1", True, _ALL, "sample",
     "Coverage (k=5): fraction of real points whose 5-NN ball contains (<) at least "
     "one generated point."),
    ("inception_score_mean", "1", True, _CLASSIFIER_MODALITIES, "sample",
     "exp(E KL(p(y|x) || p(y))) under the task's own classifier, mean over 10 "
     "splits of shuffled samples."),
    ("inception_score_std", "1", None, _CLASSIFIER_MODALITIES, "sample",
     "Standard deviation (ddof=0) over splits of the classifier Inception Score."),
    ("class_accuracy", "1", True, _CLASSIFIER_MODALITIES, "sample",
     "Guidance sweep only: fraction of class-conditional samples whose classifier "
     "argmax is the class asked for; Wilson 95% interval."),
    ("memorisation_fraction", "1", False, _ALL, "sample",
     "Fraction of generated points whose distance to the nearest training point is "
     "below 1/3 of that point's own nearest-neighbour distance."),
    ("memorisation_median_ratio", "1", True, _ALL, "sample",
     "Median over generated points of distance to the nearest training point "
     "divided by that point's own nearest-neighbour distance."),
    # newer sample metrics: genbench.metrics.vendi, alpha_beta, authenticity,
    # data_copying, mmd (computed by the engine through genbench.metrics.newer)
    ("vendi", "effective samples", True, _ALL, "sample",
     "Vendi score (Friedman & Dieng 2023): exp of the Shannon entropy of the eigenvalues "
     "of K/n, K the cosine similarity of the generated features (an RBF kernel on 2-D toy "
     "coordinates, sigma recorded); 1 (all alike) to n."),
    ("alpha_precision", "1", True, _ALL, "sample",
     "Integrated alpha-precision (Alaa et al. 2022): 1 - 2 * area between the diagonal "
     "and the fraction of generated samples inside the real alpha-quantile ball about "
     "the real mean, over 30 alpha levels."),
    ("beta_recall", "1", True, _ALL, "sample",
     "Integrated beta-recall (Alaa et al. 2022): 1 - 2 * area between the diagonal and "
     "the fraction of real samples whose nearest generated sample lies in their 1-NN "
     "ball and in the generated beta-quantile ball, over 30 beta levels."),
    ("authenticity", "1", True, _ALL, "sample",
     "Fraction of generated samples not closer to their nearest training sample than "
     "it is to its nearest other (distinct) training sample (Alaa et al. 2022)."),
    ("copying_ct", "1", None, _ALL, "sample",
     "Data-copying statistic C_T (Meehan et al. 2020): test-mass-weighted mean over "
     "k-means cells of Mann-Whitney Z (generated vs held-out distances to the training "
     "set); ~0 is good, << 0 copying, >> 0 underfitting."),
    ("copying_p", "1", None, _ALL, "sample",
     "One-sided p-value of the C_T test for copying (standardised C_T under N(0,1) per "
     "cell); genbench says copying when below 0.01."),
    ("mmd_rbf", "1", False, _ALL, "sample",
     "1000 x unbiased MMD^2 with a Gaussian RBF kernel (CMMD construction); in runs "
     "sigma is the median pairwise real distance, recorded with each result."),
    # likelihood: genbench.metrics.likelihood
    ("nll_nats", "nats/example", False, _ALL, "likelihood",
     "Mean negative log-likelihood per test example in the task's data space "
     "(an upper bound when the model reports a bound)."),
    ("bits_per_dim", "bits/dim", False, _DISCRETE_DIM_MODALITIES, "likelihood",
     "-sum log p / (sum D * ln 2) over test examples of D dimensions each."),
    ("bits_per_char", "bits/char", False, _TEXT, "likelihood",
     "-sum log p / (characters * ln 2) over the test documents."),
    ("bits_per_byte", "bits/byte", False, _TEXT, "likelihood",
     "-sum log p / (UTF-8 bytes * ln 2) = log2(byte_perplexity), as lm-eval."),
    ("bits_per_word", "bits/word", False, _TEXT, "likelihood",
     "-sum log p / (whitespace-separated words * ln 2) = log2(word_perplexity)."),
    ("char_perplexity", "1", False, _TEXT, "likelihood",
     "exp(-sum log p / characters)."),
    ("byte_perplexity", "1", False, _TEXT, "likelihood",
     "exp(-sum log p / UTF-8 bytes), as lm-eval."),
    ("word_perplexity", "1", False, _TEXT, "likelihood",
     "exp(-sum log p / whitespace-separated words), as lm-eval."),
    # likelihood anomaly detection: genbench.metrics.anomaly, shifted sets from
    # each task's shifted_likelihood_batches
    ("anomaly_auroc_inverted", "probability", True, ("image",), "likelihood",
     "AUROC of log-likelihood per dimension, test images against the same images "
     "inverted (levels - 1 - x): P(test > shifted) + P(tie)/2."),
    ("anomaly_auroc_shrunk", "probability", True, ("image",), "likelihood",
     "AUROC of log-likelihood per dimension, test images against the same images at half "
     "size centred on a zero canvas: P(test > shifted) + P(tie)/2."),
    ("anomaly_auroc_uniform", "probability", True, ("toy",), "likelihood",
     "AUROC of log-density per dimension, test points against points uniform on the test "
     "set's bounding box: P(test > shifted) + P(tie)/2."),
    ("anomaly_auroc_white_noise", "probability", True, ("audio",), "likelihood",
     "AUROC of log-likelihood per audio sample, test clips against Gaussian white noise at "
     "each clip's RMS: P(test > shifted) + P(tie)/2."),
    ("anomaly_auroc_reversed", "probability", True, ("audio",), "likelihood",
     "AUROC of log-likelihood per audio sample, test clips against the same clips played "
     "backwards: P(test > shifted) + P(tie)/2."),
    ("anomaly_auroc_shuffled", "probability", True, _TEXT, "likelihood",
     "AUROC of log-likelihood per character, test documents against the same documents "
     "with their characters shuffled: P(test > shifted) + P(tie)/2."),
    # reconstruction: genbench.metrics.reconstruction
    ("recon_mse", "squared data units", False, ("image", "audio", "toy"), "reconstruction",
     "Mean squared reconstruction error; images on the [0, 1] scale, continuous "
     "data on its own scale."),
    ("recon_psnr", "dB", True, ("image",), "reconstruction",
     "Mean over examples of 10 log10(1 / MSE) on the [0, 1] scale, capped at "
     "100 dB for perfect reconstructions."),
    # cost and speed: emitted by the harness
    ("samples_per_second", "samples/s", True, _ALL, "speed",
     "Generated samples per wall-clock second of the sample hook."),
    ("train_seconds", "s", False, _ALL, "speed",
     "Wall-clock seconds of the training run that produced the model; a run that "
     "reuses a cached checkpoint reports the original training time."),
    ("sample_seconds", "s", False, _ALL, "speed",
     "Wall-clock seconds spent in the sample hook."),
    ("parameters", "count", None, _ALL, "model",
     "Number of trainable parameters of the fitted model."),
    ("nfe", "evaluations/sample", None, _ALL, "model",
     "Network function evaluations per generated sample."),
    # codebook usage: reported through model_info by the families' vq-vae row
    ("codebook_perplexity", "codes", True, _ALL, "model",
     "exp of the entropy (nats) of the test set's empirical distribution of code "
     "assignments (every code vector of every example): 1 for one code, K for uniform "
     "use of K codes."),
    ("codebook_used", "codes", True, _ALL, "model",
     "Distinct codebook entries assigned to the test set's code vectors."),
    # task metrics: emitted by tasks' extra_metrics
    ("modes_reached", "modes", True, ("toy",), "task",
     "Number of mixture modes that are the nearest mode of enough samples, at any "
     "distance (coverage alone)."),
    ("modes_covered", "modes", True, ("toy",), "task",
     "Number of mixture modes the task counts as covered by high-quality samples "
     "(coverage and precision at once)."),
    ("high_quality_fraction", "1", True, ("toy",), "task",
     "Fraction of samples within the task's distance of some mode centre (precision alone)."),
    ("true_log_density", "nats/example", True, ("toy",), "task",
     "Mean log-density of the generated samples under the task's true data distribution."),
)
# fmt: on


def _register_builtins() -> None:
    for name, unit, higher, modalities, kind, description in _BUILTIN_METRICS:
        register_metric(MetricInfo(name, unit, higher, modalities, description, kind))


_register_builtins()
