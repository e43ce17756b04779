"""Prepared references: the real side of a task's sample metrics
(statistics, k-NN radii, training neighbours), computed once and shared by
every model evaluated on the task."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from genbench.defaults import PREPARED_REFERENCES_PER_PROCESS
from genbench.features.base import FeatureExtractor
from genbench.features.cache import FeatureCache
from genbench.metrics.engine import Reference, prepare_reference
from genbench.tasks.base import Task

REFERENCE_VERSION = "4"
"""Bumped when the prepared-reference computation changes, so cached
references from older code are not reused."""

_PREPARED: OrderedDict[tuple[str, ...], Reference] = OrderedDict()
"""References kept in this process (oldest dropped first): later models on
the same task reuse their covariance factor and real-side KID sums."""


def prepared_reference(
    task: Task, budget: str, extractor: FeatureExtractor, features: FeatureCache
) -> Reference:
    """The prepared real side of ``task`` at ``budget``: kept in this
    process, else read from the on-disk cache, else computed from cached
    features. The training side is :meth:`Task.training_samples` (text:
    snippets, not whole documents). Its key holds the task's content
    fingerprint, the extractor's weights hash and, off the CPU, the
    extractor's device kind (CPU keys are unchanged)."""
    real = task.reference(budget)
    device = () if extractor.device.type == "cpu" else (extractor.device.type,)
    key = (
        "reference",
        REFERENCE_VERSION,
        task.fingerprint(),
        extractor.name,
        extractor.weights_sha256(),
        str(len(real)),
        *device,
    )
    if key not in _PREPARED:

        def prepare() -> dict[str, np.ndarray]:
            real_features = features.features(extractor, real)
            train_features = features.features(extractor, task.training_samples())
            return prepare_reference(real_features, train_features).to_arrays()

        if len(_PREPARED) >= PREPARED_REFERENCES_PER_PROCESS:
            _PREPARED.popitem(last=False)
        _PREPARED[key] = Reference.from_arrays(features.arrays(list(key), prepare))
    return _PREPARED[key]
