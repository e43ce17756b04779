"""Log-mel spectrograms with :func:`torch.stft` and a mel filterbank built here.

The mel scale is the HTK one, ``mel(f) = 2595 log10(1 + f / 700)``; the
filterbank is ``n_mels`` triangles whose peaks (value 1) and feet sit on
``n_mels + 2`` points equally spaced in mel between ``f_min`` and ``f_max``
(librosa's ``filters.mel(..., htk=True, norm=None)`` builds the same).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """HTK mel value of a frequency in Hz."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    """Frequency in Hz of an HTK mel value (inverse of :func:`hz_to_mel`)."""
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_band_edges(n_mels: int, f_min: float, f_max: float) -> np.ndarray:
    """The ``n_mels + 2`` frequencies (Hz) of the triangles' feet and peaks:
    triangle ``m`` rises from edge ``m`` to its peak at edge ``m + 1`` and
    falls to zero at edge ``m + 2``."""
    return mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))


def mel_filterbank(
    n_fft: int, sample_rate: int, n_mels: int, f_min: float, f_max: float
) -> np.ndarray:
    """Triangular mel filterbank, ``float64`` of shape ``(n_mels, n_fft // 2 + 1)``.

    Row ``m`` weights the one-sided FFT bin frequencies ``k * sample_rate / n_fft``.

    Raises:
        ValueError: unless ``0 <= f_min < f_max <= sample_rate / 2`` and
            ``n_mels >= 1``.
    """
    if n_mels < 1:
        raise ValueError(f"n_mels must be >= 1, got {n_mels}")
    if not 0.0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(
            f"need 0 <= f_min < f_max <= sample_rate / 2 = {sample_rate / 2:g} Hz, "
            f"got f_min={f_min:g}, f_max={f_max:g}"
        )
    bins = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    edges = mel_band_edges(n_mels, f_min, f_max)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None, :] - lower) / (centre - lower)
    falling = (upper - bins[None, :]) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling))


class LogMelSpectrogram(nn.Module):
    """``(N, T)`` waveforms to ``(N, n_mels, 1 + T // hop_length)`` natural-log
    mel power spectrograms.

    Frames are ``n_fft`` samples under a periodic Hann window, centred on
    multiples of ``hop_length`` (reflect-padded at the ends). Power below
    ``floor`` is clamped to it before the log.
    """

    def __init__(
        self,
        sample_rate: int,
        n_fft: int = 256,
        hop_length: int = 80,
        n_mels: int = 40,
        f_min: float = 20.0,
        f_max: float | None = None,
        floor: float = 1e-6,
    ) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.floor = floor
        f_max = sample_rate / 2 if f_max is None else f_max
        bank = mel_filterbank(n_fft, sample_rate, n_mels, f_min, f_max)
        self.register_buffer("filterbank", torch.from_numpy(bank).float(), persistent=False)
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        spectrum = torch.stft(
            waveforms,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            window=self.window,
            center=True,
            return_complex=True,
        )
        power = spectrum.real.square() + spectrum.imag.square()
        mel = torch.matmul(self.filterbank, power)
        return torch.log(torch.clamp(mel, min=self.floor))
