"""Scoring of one guidance scale's class-conditional samples: the task's
Fréchet distance, precision and recall by the same engine, reference and
``k`` as the run's main row, and the class accuracy of the task's
classifier on the labels asked for.

The sampling itself (the ``sample`` hook with a
:class:`~genbench.specs.Condition`, and its validation) is the harness's
(:meth:`genbench.run.harness._CellRun.evaluate_guidance`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from scipy import stats

from genbench.features.base import FeatureExtractor
from genbench.metrics.engine import Reference, score_samples
from genbench.metrics.uncertainty import LEVEL, Interval
from genbench.records.record import GuidancePoint
from genbench.tasks.base import Task

GUIDANCE_METRICS: tuple[str, ...] = ("precision", "recall")
"""The engine's metrics recorded at each guidance scale besides the task's
Fréchet distance (``fid``/``fad``) and ``class_accuracy``."""


def class_accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The fraction of samples whose most probable class (``argmax`` of
    ``probabilities``, ``(n, K)``) is the class asked for (``labels``,
    ``(n,)``).

    Raises:
        ValueError: mismatched lengths, no samples, or a label outside
            ``[0, K)``.
    """
    probabilities = np.asarray(probabilities)
    labels = np.asarray(labels)
    if probabilities.ndim != 2 or labels.shape != (len(probabilities),):
        raise ValueError(
            f"class accuracy needs (n, K) probabilities and (n,) labels, got "
            f"{probabilities.shape} and {labels.shape}"
        )
    if not len(labels):
        raise ValueError("class accuracy needs at least one sample")
    classes = probabilities.shape[1]
    if labels.min() < 0 or labels.max() >= classes:
        raise ValueError(
            f"labels must lie in [0, {classes}) for {classes} class probabilities, "
            f"got {int(labels.min())}..{int(labels.max())}"
        )
    return float((probabilities.argmax(axis=1) == labels).mean())


def wilson_interval(successes: int, n: int) -> Interval:
    """The Wilson score 95 % interval of a proportion ``successes / n``
    (binomial), with the standard error ``sqrt(p (1 - p) / n)``.

    Raises:
        ValueError: ``n`` < 1 or ``successes`` outside ``[0, n]``.
    """
    if n < 1 or not 0 <= successes <= n:
        raise ValueError(f"a proportion needs n >= 1 and 0 <= successes <= n, got {successes}/{n}")
    z = float(stats.norm.ppf(0.5 + LEVEL / 2.0))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    method = f"Wilson score interval over the {n} class-conditional samples (binomial)"
    return Interval(
        max(0.0, centre - half), min(1.0, centre + half), math.sqrt(p * (1 - p) / n), 0, method
    )


def guidance_point(
    task: Task,
    extractor: FeatureExtractor,
    reference: Reference,
    samples: Any,
    labels: torch.Tensor,
    guidance: float,
    device: torch.device,
) -> GuidancePoint:
    """Score validated ``samples`` drawn for ``labels`` at scale ``guidance``.

    The Fréchet distance (recorded as ``task.frechet_metric``), precision
    and recall come from :func:`~genbench.metrics.engine.score_samples`
    against the task's prepared ``reference``, with their bootstrap
    intervals, exactly as for the plain samples; ``class_accuracy`` is
    :func:`class_accuracy` of the extractor's class probabilities, with
    :func:`wilson_interval`. ``device`` is the run's (the CPU computes with
    numpy, as the main row does).
    """
    features, probabilities = extractor.extract(samples)
    scores = score_samples(
        reference,
        features,
        frechet_infinity=False,
        newer=False,
        device=None if device.type == "cpu" else device,
    )
    names = {"fid": task.frechet_metric, **{name: name for name in GUIDANCE_METRICS}}
    metrics = {names[key]: float(scores.values[key]) for key in names}
    intervals = {names[key]: scores.intervals[key] for key in names}
    asked = labels.numpy()
    accuracy = class_accuracy(probabilities, asked)
    metrics["class_accuracy"] = accuracy
    intervals["class_accuracy"] = wilson_interval(round(accuracy * len(asked)), len(asked))
    return GuidancePoint(guidance=float(guidance), metrics=metrics, intervals=intervals)
