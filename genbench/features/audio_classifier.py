"""The in-domain audio embedding: a small digit classifier on log-mel spectrograms.

The SC09 literature (WaveGAN, DiffWave) scores generated speech with a
classifier trained on the data; genbench does the same offline. The network
(:class:`DigitAudioCNN`) is trained by ``python tools/train_audio_classifier.py``
on the ``audio/digits`` training split; its weights are committed as
``weights/audio-digits.safetensors`` beside ``audio-digits.json`` (test
accuracy, SHA-256, architecture, training settings). The embedding is the
penultimate layer (the input of the final linear layer); Fréchet Audio
Distance is the Fréchet distance on it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file
from scipy.special import softmax
from torch import nn

from genbench.features.base import FeatureExtractor
from genbench.features.melspec import LogMelSpectrogram
from genbench.features.waveform import fit_length, resample
from genbench.hashing import file_sha256

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
WEIGHTS_PATH = WEIGHTS_DIR / "audio-digits.safetensors"
METADATA_PATH = WEIGHTS_DIR / "audio-digits.json"


class DigitAudioCNN(nn.Module):
    """Log-mel front end, four 3x3 convolution blocks, global average pooling,
    a ``embedding_dim``-unit ReLU layer (the embedding) and a linear classifier.

    Input: ``(N, num_samples)`` waveforms at ``sample_rate``; output: logits
    ``(N, classes)``. Everything is per-example (batch norm in eval mode), so
    results do not depend on how inputs are batched.
    """

    def __init__(
        self,
        sample_rate: int = 8000,
        num_samples: int = 8000,
        n_fft: int = 256,
        hop_length: int = 80,
        n_mels: int = 40,
        channels: tuple[int, ...] = (8, 16, 32, 64),
        embedding_dim: int = 128,
        classes: int = 10,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.architecture = {
            "sample_rate": sample_rate,
            "num_samples": num_samples,
            "n_fft": n_fft,
            "hop_length": hop_length,
            "n_mels": n_mels,
            "channels": list(channels),
            "embedding_dim": embedding_dim,
            "classes": classes,
            "dropout": dropout,
        }
        self.frontend = LogMelSpectrogram(
            sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels
        )
        layers: list[nn.Module] = [nn.BatchNorm2d(1)]
        previous = 1
        for index, width in enumerate(channels):
            layers += [
                nn.Conv2d(previous, width, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(),
            ]
            if index < len(channels) - 1:
                layers.append(nn.MaxPool2d(2))
            previous = width
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.body = nn.Sequential(*layers)
        self.embedding = nn.Sequential(nn.Linear(previous, embedding_dim), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(embedding_dim, classes))

    def embed(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer activations, ``(N, embedding_dim)``."""
        return self.embedding(self.body(self.frontend(waveforms).unsqueeze(1)))

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(waveforms))


def load_digit_classifier(
    weights_path: Path = WEIGHTS_PATH, metadata_path: Path = METADATA_PATH
) -> tuple[DigitAudioCNN, dict[str, Any]]:
    """The trained classifier (in eval mode) and its metadata.

    Raises:
        FileNotFoundError: when the weights or metadata are missing (train
            them with ``python tools/train_audio_classifier.py``).
        ValueError: when the weights' SHA-256 differs from the metadata's.
    """
    for path in (weights_path, metadata_path):
        if not Path(path).is_file():
            raise FileNotFoundError(
                f"audio classifier file {path} is missing; train it with "
                "`python tools/train_audio_classifier.py`"
            )
    metadata = json.loads(Path(metadata_path).read_text())
    digest = file_sha256(weights_path)
    if digest != metadata["sha256"]:
        raise ValueError(
            f"audio classifier weights {weights_path} have SHA-256 {digest}, but "
            f"{metadata_path} records {metadata['sha256']}"
        )
    architecture = dict(metadata["architecture"])
    architecture["channels"] = tuple(architecture["channels"])
    model = DigitAudioCNN(**architecture)
    model.load_state_dict(load_file(str(weights_path)))
    return model.eval(), metadata


class AudioClassifierFeatures(FeatureExtractor):
    """Embedding and class probabilities of the committed digit classifier.

    Args:
        input_sample_rate: rate (Hz) of the waveforms passed in; other rates
            than the classifier's are resampled to it. Inputs must last as
            long as the classifier's window (1 s).
        batch_size: clips per forward pass (results do not depend on it).
        weights_path, metadata_path: default to the committed files.

    Attributes:
        name: ``"audio-digits-cnn"``.
        dim: embedding dimension (128).
        metadata: the weights' JSON (test accuracy, training settings...).
    """

    name = "audio-digits-cnn"

    def __init__(
        self,
        input_sample_rate: int = 8000,
        batch_size: int = 256,
        weights_path: Path = WEIGHTS_PATH,
        metadata_path: Path = METADATA_PATH,
    ) -> None:
        if isinstance(input_sample_rate, bool) or not isinstance(input_sample_rate, int):
            raise ValueError(
                f"input_sample_rate must be an integer in Hz, got {input_sample_rate!r}"
            )
        if input_sample_rate <= 0:
            raise ValueError(f"input_sample_rate must be positive, got {input_sample_rate}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model, self.metadata = load_digit_classifier(weights_path, metadata_path)
        self._weights_sha256 = self.metadata["sha256"]
        self.input_sample_rate = input_sample_rate
        self.batch_size = batch_size
        self.dim = self.model.architecture["embedding_dim"]
        rate = self.model.architecture["sample_rate"]
        self._window_seconds = self.model.architecture["num_samples"] / rate
        self.input_samples = round(self._window_seconds * input_sample_rate)

    def weights_sha256(self) -> str:
        """SHA-256 of the ``.safetensors`` file's bytes (checked against the
        metadata when loading)."""
        return self._weights_sha256

    def to(self, device: torch.device | str) -> AudioClassifierFeatures:
        """Run the classifier on ``device`` (see :meth:`FeatureExtractor.to`)."""
        self.device = torch.device(device)
        self.model.to(self.device)
        return self

    def extract(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        """Penultimate-layer embedding, ``float32 (N, dim)``, and softmax of
        the logits, ``float64 (N, classes)``, of ``(N, input_samples)``
        float waveforms at ``input_sample_rate``, from one forward pass in
        batches of ``batch_size``.

        Raises:
            ValueError: ``x`` is empty, not a 2-D float array or tensor, or
                not ``input_samples`` long.
        """
        waveforms = self._prepare(x)
        embeddings, logits = [], []
        with torch.inference_mode():
            for start in range(0, len(waveforms), self.batch_size):
                batch = waveforms[start : start + self.batch_size].to(self.device)
                embedding = self.model.embed(batch)
                embeddings.append(embedding.cpu().numpy())
                logits.append(self.model.head(embedding).cpu().numpy())
        probabilities = softmax(np.concatenate(logits).astype(np.float64), axis=1)
        return np.concatenate(embeddings), probabilities

    def _prepare(self, x: Any) -> torch.Tensor:
        waveforms = torch.as_tensor(x)
        expected = (
            f"float waveforms of shape (N, {self.input_samples}) "
            f"({self._window_seconds:g} s at {self.input_sample_rate} Hz)"
        )
        if waveforms.ndim != 2 or not torch.is_floating_point(waveforms):
            raise ValueError(
                f"audio features expect {expected}, got {waveforms.dtype} {tuple(waveforms.shape)}"
            )
        if waveforms.shape[1] != self.input_samples or len(waveforms) == 0:
            raise ValueError(
                f"audio features expect {expected}, got shape {tuple(waveforms.shape)}: "
                "is the sample rate right?"
            )
        rate = self.model.architecture["sample_rate"]
        if self.input_sample_rate != rate:
            converted = resample(waveforms.double().numpy(), self.input_sample_rate, rate)
            length = self.model.architecture["num_samples"]
            waveforms = torch.from_numpy(np.stack([fit_length(row, length) for row in converted]))
        return waveforms.float()
