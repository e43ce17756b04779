"""The :class:`FeatureExtractor` contract."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np


class FeatureExtractor(ABC):
    """Maps examples in a task's data format to feature vectors.

    Attributes:
        name: identifies the extractor in results, e.g. ``"mnist-cnn"``.
        dim: feature dimension ``d``.

    Contract: :meth:`features` is deterministic and independent of batch size
    (within 1e-5), runs on the CPU, and never downloads anything.
    """

    name: str
    dim: int

    @abstractmethod
    def features(self, x: Any) -> np.ndarray:
        """Features of ``x`` as a ``float32`` array of shape ``(len(x), dim)``."""

    @abstractmethod
    def weights_sha256(self) -> str:
        """SHA-256 (hex) of the weights file (or of the extractor's defining
        parameters when it has no weights). Recorded in every result and part
        of every feature-cache key."""

    def class_probabilities(self, x: Any) -> np.ndarray | None:
        """``p(y|x)`` as ``float64`` ``(len(x), classes)`` for the
        classifier-based Inception Score, or ``None`` when the extractor is
        not a classifier."""
        return None
