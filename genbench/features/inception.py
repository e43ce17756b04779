"""Inception-v3 features for FID (2048-d pool features) and logits for the
Inception Score, through torch-fidelity's ``FeatureExtractorInceptionV3``.

No package ships the FID Inception weights, and genbench never downloads
anything: the user points :data:`WEIGHTS_ENV_VAR` (or the ``weights_path``
argument) at torch-fidelity's ``weights-inception-2015-12-05-6726825d.pth``
(the TensorFlow FID network converted to a PyTorch state dict).

torch-fidelity reads a local weights file with ``torch.load(...,
weights_only=False)``, i.e. full unpickling. Before handing the path over,
this module loads it once with ``weights_only=True``, which accepts only
tensors and plain containers, so a file that would run code when unpickled
is rejected instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.special import softmax

from genbench.features.base import FeatureExtractor
from genbench.hashing import file_sha256

WEIGHTS_ENV_VAR = "GENBENCH_INCEPTION_WEIGHTS"
POOL_FEATURES = "2048"
LOGITS = "logits_unbiased"
"""torch-fidelity's Inception Score layer: the 1008 logits without the
final bias, as in the original TensorFlow graph."""


class InceptionWeightsError(FileNotFoundError):
    """No usable Inception weights file is configured."""


def resolve_weights_path(weights_path: str | Path | None) -> Path:
    """The Inception weights file: ``weights_path`` if given, else the path
    in :data:`WEIGHTS_ENV_VAR`.

    Raises:
        InceptionWeightsError: neither is set, or the file does not exist.
    """
    chosen = weights_path if weights_path is not None else os.environ.get(WEIGHTS_ENV_VAR)
    if not chosen:
        raise InceptionWeightsError(
            f"Inception features need the FID Inception-v3 weights file "
            f"(torch-fidelity's weights-inception-2015-12-05-6726825d.pth), which genbench "
            f"never downloads: set {WEIGHTS_ENV_VAR}=/path/to/that/file or pass weights_path"
        )
    path = Path(chosen).expanduser()
    if not path.is_file():
        source = "weights_path" if weights_path is not None else WEIGHTS_ENV_VAR
        raise InceptionWeightsError(
            f"Inception weights file {path} (from {source}) does not exist; set "
            f"{WEIGHTS_ENV_VAR} or weights_path to the local weights-inception-2015-12-05 file"
        )
    return path


def _check_plain_state_dict(path: Path) -> None:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(
            f"{path} is not a plain tensor state dict that loads with weights_only=True "
            f"({type(exc).__name__}: {str(exc).splitlines()[0]}); refusing to unpickle it"
        ) from exc
    if not isinstance(state, dict) or not all(
        isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in state.items()
    ):
        raise ValueError(f"{path} does not hold a state dict of named tensors")


class InceptionFeatures(FeatureExtractor):
    """2048-d Inception-v3 pool features and Inception-Score probabilities.

    Args:
        weights_path: the weights file; default: :data:`WEIGHTS_ENV_VAR`.
        levels: pixel levels of the input images; values are mapped onto
            ``0..255`` (``round(v * 255 / (levels - 1))``) before the
            network, which takes 8-bit images.
        batch_size: images per forward pass; results do not depend on it.

    Attributes:
        name: ``"inception-v3-fid"``, with ``-<levels>levels`` appended when
            ``levels`` is not 256.

    Input: ``uint8`` ``N x C x H x W`` with ``C`` 1 (repeated to RGB) or 3,
    any size (torch-fidelity resizes to 299x299 with TensorFlow-1 bilinear
    interpolation and scales ``(x - 128) / 128`` inside).

    Raises:
        InceptionWeightsError: no weights file configured, or it is missing.
        ValueError: the file is not a plain state dict, or not one with the
            layout of torch-fidelity's Inception-v3.
    """

    dim = 2048

    def __init__(
        self, weights_path: str | Path | None = None, *, levels: int = 256, batch_size: int = 32
    ) -> None:
        self.weights_path = resolve_weights_path(weights_path)
        self.levels = levels
        # the rescaling changes the features of the same input bytes, so it is
        # part of the name (and of every feature-cache key)
        self.name = "inception-v3-fid" if levels == 256 else f"inception-v3-fid-{levels}levels"
        self.batch_size = batch_size
        self._sha256: str | None = None
        self._network: torch.nn.Module | None = None

    def weights_sha256(self) -> str:
        """SHA-256 of the weights file's bytes (computed once)."""
        if self._sha256 is None:
            self._sha256 = file_sha256(self.weights_path)
        return self._sha256

    def network(self) -> torch.nn.Module:
        """torch-fidelity's Inception-v3 with the configured weights, built on
        first use, in eval mode, producing pool features and logits."""
        if self._network is None:
            from torch_fidelity.feature_extractor_inceptionv3 import (  # heavy; only when used
                FeatureExtractorInceptionV3,
            )

            _check_plain_state_dict(self.weights_path)
            try:
                self._network = FeatureExtractorInceptionV3(
                    "inception-v3-compat",
                    [POOL_FEATURES, LOGITS],
                    feature_extractor_weights_path=str(self.weights_path),
                )
            except RuntimeError as exc:
                raise ValueError(
                    f"{self.weights_path} does not have the layout of torch-fidelity's "
                    f"Inception-v3: {str(exc).splitlines()[0]}"
                ) from exc
        return self._network

    def to(self, device: torch.device | str) -> InceptionFeatures:
        """Run Inception-v3 on ``device`` (see :meth:`FeatureExtractor.to`)."""
        self.device = torch.device(device)
        return self

    def extract(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        """Pool features, ``float32 (N, 2048)``, and the softmax of the 1008
        unbiased logits, ``float64 (N, 1008)``, of ``uint8`` images (see the
        class docstring), from one forward pass in batches of ``batch_size``.

        Raises:
            TypeError: ``x`` is not a ``uint8`` tensor or array.
            ValueError: ``x`` is not ``N x C x H x W`` with ``C`` in
                ``(1, 3)``, or has values above ``levels - 1``.
        """
        pools, logits = self._forward(self._as_rgb_uint8(x))
        return pools, softmax(logits.astype(np.float64), axis=1)

    def _forward(self, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Pool features and logits (both ``float32``)."""
        network = self.network().to(self.device)
        pools, logits = [], []
        with torch.inference_mode():
            for batch in images.split(self.batch_size):
                pool, logit = network(batch.to(self.device))
                pools.append(pool.cpu())
                logits.append(logit.cpu())
        if not pools:
            return np.zeros((0, self.dim), np.float32), np.zeros((0, 1008), np.float32)
        return torch.cat(pools).numpy(), torch.cat(logits).numpy()

    def _as_rgb_uint8(self, x: Any) -> torch.Tensor:
        images = torch.from_numpy(x) if isinstance(x, np.ndarray) else x
        if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8:
            kind = images.dtype if isinstance(images, torch.Tensor) else type(x).__name__
            raise TypeError(f"{self.name} expects a torch.uint8 image tensor, got {kind}")
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise ValueError(
                f"{self.name} expects N x C x H x W images with C in (1, 3), "
                f"got {tuple(images.shape)}"
            )
        images = images.cpu()
        if images.numel() and int(images.max()) > self.levels - 1:
            raise ValueError(
                f"{self.name} expects values in [0, {self.levels - 1}], found {int(images.max())}"
            )
        if self.levels != 256:
            scale = 255.0 / (self.levels - 1)
            images = torch.round(images.to(torch.float64) * scale).to(torch.uint8)
        return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images
