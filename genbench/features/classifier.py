"""In-domain digit classifiers: a small CNN whose penultimate layer gives
the features for FID, KID, precision/recall and memorisation, and whose
softmax gives ``p(y|x)`` for the classifier-based Inception Score.

Trained weights are committed under ``genbench/features/weights/`` as
``<key>.safetensors`` with a ``<key>.json`` beside it recording the
architecture, training recipe, test accuracy and the SHA-256 of the weights
file (trained offline by ``python tools/train_classifier.py``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file
from scipy.special import softmax
from torch import nn

from genbench.features.base import FeatureExtractor
from genbench.hashing import file_sha256

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
"""Where the committed classifier weights and their metadata live."""


@dataclass(frozen=True)
class ClassifierArchitecture:
    """Everything needed to rebuild a :class:`DigitClassifier`.

    Attributes:
        in_channels, height, width: the input image shape.
        levels: discrete pixel levels of the input (values ``0..levels-1``).
        num_classes: output classes.
        channels: output channels of the three 3x3 convolution blocks.
        pooled_size: side of the adaptive average pool before the dense
            feature layer.
        feature_dim: width of the penultimate (feature) layer.
    """

    in_channels: int
    height: int
    width: int
    levels: int
    num_classes: int = 10
    channels: tuple[int, int, int] = (24, 48, 64)
    pooled_size: int = 3
    feature_dim: int = 128

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ClassifierArchitecture:
        return cls(**{**values, "channels": tuple(values["channels"])})

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "channels": list(self.channels)}


def _conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    )


class DigitClassifier(nn.Module):
    """conv-pool, conv-pool, conv, adaptive average pool, dense (features),
    dropout, dense (logits).

    Takes integer images ``N x C x H x W`` in ``[0, levels - 1]`` (any
    integer dtype) and scales them to ``[0, 1]`` by ``levels - 1`` itself.
    """

    def __init__(self, architecture: ClassifierArchitecture) -> None:
        super().__init__()
        self.architecture = architecture
        c1, c2, c3 = architecture.channels
        pooled = architecture.pooled_size
        self.body = nn.Sequential(
            _conv_block(architecture.in_channels, c1),
            nn.MaxPool2d(2),
            _conv_block(c1, c2),
            nn.MaxPool2d(2),
            _conv_block(c2, c3),
            nn.AdaptiveAvgPool2d(pooled),
            nn.Flatten(),
            nn.Linear(c3 * pooled * pooled, architecture.feature_dim),
            nn.ReLU(),
        )
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(architecture.feature_dim, architecture.num_classes)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer activations, ``N x feature_dim`` float32."""
        x = images.to(torch.float32) / (self.architecture.levels - 1)
        return self.body(x)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits, ``N x num_classes``."""
        return self.head(self.dropout(self.features(images)))


def weights_paths(key: str, weights_dir: Path = WEIGHTS_DIR) -> tuple[Path, Path]:
    """``(<key>.safetensors, <key>.json)`` in ``weights_dir``."""
    return weights_dir / f"{key}.safetensors", weights_dir / f"{key}.json"


class ClassifierFeatures(FeatureExtractor):
    """Features and class probabilities from a committed digit classifier.

    Args:
        task_key: the weights' key, e.g. ``"mnist"`` for
            ``weights/mnist.safetensors`` and ``weights/mnist.json``.
        weights_dir: where to look (default: the committed weights).
        batch_size: images per forward pass; results do not depend on it
            (within 1e-5).

    Attributes:
        name: ``"<task_key>-cnn"``.
        dim: the feature width (128).
        metadata: the JSON record (test accuracy, seed, epochs, task
            fingerprint, weights SHA-256...).

    Raises:
        FileNotFoundError: no weights or metadata for ``task_key``.
        ValueError: the weights file's SHA-256 differs from the one its
            metadata records (a stale or corrupted file).
    """

    def __init__(
        self, task_key: str, *, weights_dir: Path | None = None, batch_size: int = 256
    ) -> None:
        weights_path, metadata_path = weights_paths(task_key, weights_dir or WEIGHTS_DIR)
        for path in (weights_path, metadata_path):
            if not path.is_file():
                raise FileNotFoundError(
                    f"no classifier weights for {task_key!r}: {path} is missing; train them "
                    "with `python tools/train_classifier.py --task image/<name>`"
                )
        self.metadata: dict[str, Any] = json.loads(metadata_path.read_text())
        self._sha256 = file_sha256(weights_path)
        if self._sha256 != self.metadata["weights_sha256"]:
            raise ValueError(
                f"{weights_path} has SHA-256 {self._sha256} but {metadata_path.name} records "
                f"{self.metadata['weights_sha256']}; the weights file is stale or corrupted"
            )
        architecture = ClassifierArchitecture.from_dict(self.metadata["architecture"])
        self.model = DigitClassifier(architecture)
        self.model.load_state_dict(load_file(weights_path))
        # channels-last convolutions and pools run about 1.7x faster on the CPU
        self.model.eval().to(memory_format=torch.channels_last)
        self.architecture = architecture
        self.name = f"{task_key}-cnn"
        self.dim = architecture.feature_dim
        self.batch_size = batch_size

    def weights_sha256(self) -> str:
        """SHA-256 of the ``.safetensors`` file's bytes."""
        return self._sha256

    def to(self, device: torch.device | str) -> ClassifierFeatures:
        """Run the classifier on ``device`` (see :meth:`FeatureExtractor.to`)."""
        self.device = torch.device(device)
        self.model.to(self.device)
        return self

    def extract(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        """Penultimate features, ``float32 (N, feature_dim)``, and softmax
        class probabilities, ``float64 (N, num_classes)``, of ``uint8``
        images ``N x C x H x W`` with values in ``[0, levels - 1]``, from
        one forward pass in batches of ``batch_size``.

        Raises:
            TypeError: ``x`` is not a ``uint8`` tensor or array.
            ValueError: the image shape or pixel range is not the
                classifier's.
        """
        features, logits = self._forward(self._validated(x))
        return features, softmax(logits.astype(np.float64), axis=1)

    def _forward(self, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Penultimate features and logits (both ``float32``)."""
        features = [np.zeros((0, self.architecture.feature_dim), np.float32)]
        logits = [np.zeros((0, self.architecture.num_classes), np.float32)]
        with torch.inference_mode():
            for batch in images.split(self.batch_size):
                batch_features = self.model.features(
                    batch.to(self.device).contiguous(memory_format=torch.channels_last)
                )
                features.append(batch_features.cpu().numpy())
                logits.append(self.model.head(batch_features).cpu().numpy())
        return np.concatenate(features), np.concatenate(logits)

    def _validated(self, x: Any) -> torch.Tensor:
        images = torch.from_numpy(x) if isinstance(x, np.ndarray) else x
        if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8:
            kind = images.dtype if isinstance(images, torch.Tensor) else type(x).__name__
            raise TypeError(f"{self.name} expects a torch.uint8 image tensor, got {kind}")
        arch = self.architecture
        expected = (arch.in_channels, arch.height, arch.width)
        if images.ndim != 4 or tuple(images.shape[1:]) != expected:
            raise ValueError(
                f"{self.name} expects images of shape N x {' x '.join(map(str, expected))}, "
                f"got {tuple(images.shape)}"
            )
        if images.numel() and int(images.max()) > arch.levels - 1:
            raise ValueError(
                f"{self.name} expects values in [0, {arch.levels - 1}] ({arch.levels} levels), "
                f"found {int(images.max())}"
            )
        return images.cpu()
