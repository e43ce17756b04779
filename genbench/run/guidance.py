"""Scoring of one guidance scale's class-conditional samples: the task's
Fréchet distance, precision, recall and classifier Inception Score by the
same engine, reference and ``k`` as the run's main row, and the class
accuracy of the task's classifier on the labels asked for.

The sampling itself (the ``sample`` hook with a
:class:`~genbench.specs.Condition`, and its validation) is the harness's
(:meth:`genbench.run.harness._CellRun.evaluate_guidance`).
"""

from __future__ import annotations

from typing import Any

import torch

from genbench.features.base import FeatureExtractor
from genbench.metrics.class_accuracy import class_accuracy, wilson_interval
from genbench.metrics.engine import Reference, score_samples
from genbench.records.record import GuidancePoint
from genbench.tasks.base import Task

GUIDANCE_METRICS: tuple[str, ...] = ("precision", "recall", "inception_score_mean")
"""The engine's metrics recorded at each guidance scale besides the task's
Fréchet distance (``fid``/``fad``) and ``class_accuracy``: the Inception
Score against the Fréchet distance is the trade-off curve of Ho and
Salimans (2022)."""


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

    The Fréchet distance (recorded as ``task.frechet_metric``), precision,
    recall and the classifier Inception Score (``inception_score_mean``,
    from the extractor's class probabilities) come from
    :func:`~genbench.metrics.engine.score_samples` against the task's
    prepared ``reference``, with their bootstrap intervals, exactly as for
    the plain samples; ``class_accuracy`` is
    :func:`~genbench.metrics.class_accuracy.class_accuracy` of the
    extractor's class probabilities, with its Wilson interval. ``device``
    is the run's (the CPU computes with numpy, as the main row does).
    """
    features, probabilities = extractor.extract(samples)
    scores = score_samples(
        reference,
        features,
        generated_probs=probabilities,
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
