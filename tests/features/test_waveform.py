"""Mu-law companding, resampling, length fitting and peak normalisation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genbench.features.waveform import (
    MULAW_LEVELS,
    fit_length,
    mulaw_decode,
    mulaw_encode,
    peak_normalise,
    resample,
)


def test_mulaw_known_values():
    x = torch.tensor([0.0, 1.0, -1.0, 0.5, -0.5, 0.01, -0.01, 1e-4])
    # 0.5: F = ln(128.5)/ln(256) = 0.875703; (F + 1)/2 * 255 + 0.5 = 239.65 -> 239
    # 0.01: F = ln(3.55)/ln(256) = 0.228477; -> 157.13 -> 157
    assert mulaw_encode(x).tolist() == [128, 255, 0, 239, 16, 157, 98, 128]
    assert mulaw_encode(x).dtype == torch.int64


def test_mulaw_decode_known_values():
    decoded = mulaw_decode(torch.tensor([0, 127, 128, 255]))
    step = (256 ** (1 / 255) - 1) / 255  # code 128 sits one companded step above zero
    expected = torch.tensor([-1.0, -step, step, 1.0], dtype=torch.float32)
    assert torch.allclose(decoded, expected, rtol=0, atol=1e-7)
    assert decoded.dtype == torch.float32


def test_mulaw_round_trip_of_every_code():
    codes = torch.arange(MULAW_LEVELS)
    assert torch.equal(mulaw_encode(mulaw_decode(codes)), codes)


def test_mulaw_quantisation_error_is_small_near_zero_and_bounded():
    x = torch.linspace(-1, 1, 200_001, dtype=torch.float64)
    error = (x - mulaw_decode(mulaw_encode(x)).double()).abs()
    assert float(error.max()) < 0.022  # widest bins are at the peaks
    assert float(error[x.abs() <= 0.01].max()) < 3e-4  # companding: fine steps near zero


def test_mulaw_is_monotone_and_antisymmetric():
    x = torch.linspace(-1, 1, 10_001)
    codes = mulaw_encode(x)
    assert bool((codes[1:] >= codes[:-1]).all())
    values = torch.rand(1000, generator=torch.Generator().manual_seed(0)) * 0.999
    assert torch.equal(mulaw_encode(-values), 255 - mulaw_encode(values))


def test_mulaw_keeps_shape():
    x = torch.zeros(3, 5, 7)
    assert mulaw_encode(x).shape == (3, 5, 7)
    assert mulaw_decode(mulaw_encode(x)).shape == (3, 5, 7)


@pytest.mark.parametrize(
    ("x", "match"),
    [
        (torch.tensor([0, 1]), "needs a float waveform"),
        (torch.tensor([0.0, 1.5]), r"samples in \[-1, 1\], got a peak of 1.5"),
        (torch.tensor([0.0, float("nan")]), "NaN or infinite"),
    ],
)
def test_mulaw_encode_rejects_bad_input(x, match):
    with pytest.raises(ValueError, match=match):
        mulaw_encode(x)


def test_mulaw_decode_rejects_bad_codes():
    with pytest.raises(ValueError, match=r"codes must lie in \[0, 255\], got \[0, 256\]"):
        mulaw_decode(torch.tensor([0, 256]))
    with pytest.raises(ValueError, match="needs integer codes"):
        mulaw_decode(torch.tensor([0.5]))
    with pytest.raises(ValueError, match="number of levels >= 2"):
        mulaw_decode(torch.tensor([0]), levels=1)


def _dominant_frequency(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[spectrum.argmax()])


def test_resample_keeps_a_tone_and_scales_length():
    t = np.arange(16000) / 16000
    tone = 0.5 * np.sin(2 * math.pi * 440.0 * t)
    down = resample(tone, 16000, 8000)
    assert down.shape == (8000,)
    assert _dominant_frequency(down, 8000) == pytest.approx(440.0, abs=1.0)
    assert np.abs(down[100:-100]).max() == pytest.approx(0.5, abs=0.01)
    odd = resample(np.zeros(22050), 22050, 8000)  # 441:160
    assert odd.shape == (8000,)


def test_resample_removes_content_above_the_new_nyquist():
    t = np.arange(16000) / 16000
    high = np.sin(2 * math.pi * 6000.0 * t)  # above 4 kHz: must not alias to 2 kHz
    down = resample(high, 16000, 8000)
    assert np.abs(down[200:-200]).max() < 0.01


def test_resample_rejects_bad_rates():
    with pytest.raises(ValueError, match="source sample rate must be a positive integer"):
        resample(np.zeros(10), 0, 8000)
    with pytest.raises(ValueError, match="target sample rate must be a positive integer"):
        resample(np.zeros(10), 8000, 7999.5)


def test_fit_length_centres_pads_and_crops():
    np.testing.assert_array_equal(fit_length(np.array([1.0, 2.0]), 5), [0, 1, 2, 0, 0])
    np.testing.assert_array_equal(fit_length(np.arange(7.0), 3), [2, 3, 4])
    np.testing.assert_array_equal(fit_length(np.arange(3.0), 3), [0, 1, 2])
    with pytest.raises(ValueError, match="one 1-D clip"):
        fit_length(np.zeros((2, 2)), 3)
    with pytest.raises(ValueError, match="target length must be positive"):
        fit_length(np.zeros(2), 0)


def test_peak_normalise():
    out = peak_normalise(np.array([0.1, -0.4, 0.2]), 0.8)
    np.testing.assert_allclose(out, [0.2, -0.8, 0.4])
    with pytest.raises(ValueError, match="silent clip"):
        peak_normalise(np.zeros(4), 0.9)
    with pytest.raises(ValueError, match=r"peak must be in \(0, 1\]"):
        peak_normalise(np.ones(4), 1.5)
