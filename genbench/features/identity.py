"""The identity feature extractor: low-dimensional data (toy tasks) is
compared in its own coordinates."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from genbench.features.base import FeatureExtractor
from genbench.hashing import json_sha256

IDENTITY_VERSION = 1
"""Part of the definition hash; bump if the mapping ever changes."""


class IdentityFeatures(FeatureExtractor):
    """Features are the raw coordinates, as ``float32``.

    Args:
        dim: the data's dimension; inputs must be ``N x dim``.

    Attributes:
        name: ``"identity-<dim>d"``, e.g. ``"identity-2d"``.

    It has no weights: :meth:`weights_sha256` hashes the extractor's
    definition (kind, dimension, dtype, version) instead.
    """

    def __init__(self, dim: int = 2) -> None:
        if dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim}")
        self.dim = dim
        self.name = f"identity-{dim}d"

    def weights_sha256(self) -> str:
        definition = {
            "extractor": "identity",
            "dim": self.dim,
            "dtype": "float32",
            "version": IDENTITY_VERSION,
        }
        return json_sha256(definition)

    def extract(self, x: Any) -> tuple[np.ndarray, None]:
        """``x`` (an ``N x dim`` array or tensor) as a ``float32 (N, dim)``
        array (a copy), and ``None`` (no class probabilities).

        Raises:
            ValueError: ``x`` is not ``N x dim``.
        """
        array = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        if array.ndim != 2 or array.shape[1] != self.dim:
            raise ValueError(f"{self.name} expects an N x {self.dim} array, got {array.shape}")
        return np.array(array, dtype=np.float32), None
