"""genbench's metric engine: pure functions from features, log-likelihoods
and reconstructions to numbers, each number's name registered with its
metadata in :data:`METRICS`.

Conventions and the reference implementations each metric matches are in
``docs/metrics.md``.
"""

from genbench.metrics.engine import Reference, prepare_reference, sample_metrics
from genbench.metrics.frechet import FrechetStatistics, frechet_distance, frechet_statistics
from genbench.metrics.inception_score import classifier_inception_score
from genbench.metrics.info import KINDS, METRICS, MetricInfo, metric_info, register_metric
from genbench.metrics.kid import KIDResult, kernel_inception_distance
from genbench.metrics.likelihood import dequantised_log_probability, likelihood_metrics
from genbench.metrics.memorisation import TrainingNeighbours, memorisation, memorisation_against
from genbench.metrics.neighbours import RealNeighbourhood, neighbour_metrics
from genbench.metrics.reconstruction import PSNR_CAP_DB, reconstruction_metrics

__all__ = [
    "KINDS",
    "METRICS",
    "PSNR_CAP_DB",
    "FrechetStatistics",
    "KIDResult",
    "MetricInfo",
    "RealNeighbourhood",
    "Reference",
    "TrainingNeighbours",
    "classifier_inception_score",
    "dequantised_log_probability",
    "frechet_distance",
    "frechet_statistics",
    "kernel_inception_distance",
    "likelihood_metrics",
    "memorisation",
    "memorisation_against",
    "metric_info",
    "neighbour_metrics",
    "prepare_reference",
    "reconstruction_metrics",
    "register_metric",
    "sample_metrics",
]
from genbench.metrics import text as _text_metrics  # noqa: F401 (registers text metrics)
