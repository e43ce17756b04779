"""Waveform helpers shared by the audio tasks and the audio feature extractor.

Waveforms are floats in ``[-1, 1]``; the discrete space that log-likelihoods
are measured in is 8-bit mu-law (256 codes, mu = 255), the companding of
ITU-T G.711 in its continuous form as WaveNet uses it:

    F(x) = sign(x) * ln(1 + mu |x|) / ln(1 + mu)          (x in [-1, 1])
    code = floor((F(x) + 1) / 2 * mu + 0.5)               (code in [0, mu])

and its inverse maps a code to the centre of its companded bin:

    y = 2 * code / mu - 1,   x = sign(y) * ((1 + mu)^|y| - 1) / mu
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.signal import resample_poly

MULAW_LEVELS = 256
"""Codes of the 8-bit mu-law space (mu = 255)."""


def _mu(levels: int) -> int:
    if not isinstance(levels, int) or levels < 2:
        raise ValueError(f"mu-law needs an integer number of levels >= 2, got {levels!r}")
    return levels - 1


def mulaw_encode(x: torch.Tensor, levels: int = MULAW_LEVELS) -> torch.Tensor:
    """Mu-law codes (``torch.int64``, values in ``[0, levels - 1]``) of a
    float waveform in ``[-1, 1]``; same shape as ``x``.

    Raises:
        ValueError: when ``x`` is not floating point, has NaN/inf, or leaves
            ``[-1, 1]``.
    """
    if not torch.is_floating_point(x):
        raise ValueError(f"mu-law encoding needs a float waveform, got dtype {x.dtype}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("mu-law encoding got NaN or infinite samples")
    if x.numel() and float(x.abs().max()) > 1.0:
        raise ValueError(
            f"mu-law encoding needs samples in [-1, 1], got a peak of {float(x.abs().max()):.4g}"
        )
    mu = _mu(levels)
    x64 = x.to(torch.float64)
    companded = torch.sign(x64) * torch.log1p(mu * x64.abs()) / math.log1p(mu)
    return torch.floor((companded + 1.0) / 2.0 * mu + 0.5).to(torch.int64)


def mulaw_decode(codes: torch.Tensor, levels: int = MULAW_LEVELS) -> torch.Tensor:
    """Float32 waveform in ``[-1, 1]`` for mu-law ``codes`` (integers in
    ``[0, levels - 1]``); same shape as ``codes``.

    Raises:
        ValueError: when ``codes`` are not integers or fall outside the range.
    """
    if torch.is_floating_point(codes) or codes.dtype == torch.bool:
        raise ValueError(f"mu-law decoding needs integer codes, got dtype {codes.dtype}")
    mu = _mu(levels)
    if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) > mu):
        raise ValueError(
            f"mu-law codes must lie in [0, {mu}], got [{int(codes.min())}, {int(codes.max())}]"
        )
    companded = 2.0 * codes.to(torch.float64) / mu - 1.0
    x = torch.sign(companded) * torch.expm1(companded.abs() * math.log1p(mu)) / mu
    return x.to(torch.float32)


def resample(x: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample ``x`` (last axis is time) from ``from_rate`` to ``to_rate`` Hz
    with a polyphase windowed-sinc filter; float64 out.

    Raises:
        ValueError: when a rate is not a positive integer.
    """
    for name, rate in (("source", from_rate), ("target", to_rate)):
        if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or rate <= 0:
            raise ValueError(f"{name} sample rate must be a positive integer in Hz, got {rate!r}")
    x = np.asarray(x, dtype=np.float64)
    if from_rate == to_rate:
        return x.copy()
    common = math.gcd(int(from_rate), int(to_rate))
    return resample_poly(x, int(to_rate) // common, int(from_rate) // common, axis=-1)


def fit_length(x: np.ndarray, length: int) -> np.ndarray:
    """Centre ``x`` (1-D) in ``length`` samples: zero-pad both sides equally
    (the extra sample on the right), or crop the middle ``length`` samples."""
    if length <= 0:
        raise ValueError(f"target length must be positive, got {length}")
    x = np.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"fit_length takes one 1-D clip, got shape {x.shape}")
    if len(x) >= length:
        start = (len(x) - length) // 2
        return x[start : start + length].copy()
    out = np.zeros(length, dtype=x.dtype)
    start = (length - len(x)) // 2
    out[start : start + len(x)] = x
    return out


def peak_normalise(x: np.ndarray, peak: float) -> np.ndarray:
    """Scale ``x`` so that ``max |x| == peak`` (``0 < peak <= 1``).

    Raises:
        ValueError: for a silent clip (all zeros), which has no peak to scale.
    """
    if not 0.0 < peak <= 1.0:
        raise ValueError(f"peak must be in (0, 1], got {peak}")
    x = np.asarray(x, dtype=np.float64)
    current = float(np.abs(x).max()) if x.size else 0.0
    if current == 0.0:
        raise ValueError("cannot peak-normalise a silent clip")
    return x * (peak / current)
