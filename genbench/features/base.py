"""The :class:`FeatureExtractor` contract."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np


class FeatureExtractor(ABC):
    """Maps examples in a task's data format to feature vectors and, for
    classifier-based extractors, to class probabilities.

    Attributes:
        name: identifies the extractor in results, e.g. ``"mnist-cnn"``.
        dim: feature dimension ``d``.
    """

    name: str
    dim: int

    @abstractmethod
    def extract(self, x: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """Features and class probabilities of the ``N = len(x)`` examples
        ``x``, computed in one pass over the batch.

        Returns:
            ``(features, probabilities)``: ``features`` as ``float32`` of
            shape ``(N, dim)``; ``probabilities`` as ``float64`` of shape
            ``(N, classes)``, each row ``p(y|x)`` summing to 1 (for the
            classifier-based Inception Score), or ``None`` when the
            extractor is not a classifier. Both arrays belong to the caller.

        Contract: deterministic (the same ``x`` gives the same bits);
        independent of how the extractor splits ``x`` into batches within
        1e-5 (absolute, per element); runs on the CPU; never downloads
        anything.
        """

    @abstractmethod
    def weights_sha256(self) -> str:
        """SHA-256 (hex) of the weights file (or of the extractor's defining
        parameters when it has no weights). Recorded in every result and part
        of every feature-cache key."""
