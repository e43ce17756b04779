"""The :class:`FeatureExtractor` contract."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import torch


class FeatureExtractor(ABC):
    """Maps examples in a task's data format to feature vectors and, for
    classifier-based extractors, to class probabilities.

    Attributes:
        name: identifies the extractor in results, e.g. ``"mnist-cnn"``.
        dim: feature dimension ``d``.
        device: where :meth:`extract` computes (the CPU unless :meth:`to`
            moved it); inputs and outputs stay on the host either way.
    """

    name: str
    dim: int
    device: torch.device = torch.device("cpu")

    def to(self, device: torch.device | str) -> FeatureExtractor:
        """Compute on ``device`` from now on where the extractor can, and
        return it. The default keeps the CPU (an extractor without a network
        worth moving); network extractors override it. Features computed
        off the CPU are cached apart from CPU features (see
        :class:`genbench.features.cache.FeatureCache`)."""
        return self

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

        Contract: deterministic (the same ``x`` gives the same bits on the
        same device); independent of how the extractor splits ``x`` into
        batches within 1e-5 (absolute, per element); runs on
        :attr:`device`, taking and returning host data; never downloads
        anything.
        """

    @abstractmethod
    def weights_sha256(self) -> str:
        """SHA-256 (hex) of the weights file (or of the extractor's defining
        parameters when it has no weights). Recorded in every result and part
        of every feature-cache key."""
