"""The mel scale, the triangular filterbank and log-mel spectrograms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genbench.features.melspec import (
    LogMelSpectrogram,
    hz_to_mel,
    mel_band_edges,
    mel_filterbank,
    mel_to_hz,
)

N_FFT, RATE, N_MELS, F_MIN, F_MAX = 256, 8000, 40, 20.0, 4000.0


@pytest.fixture(scope="module")
def bank() -> np.ndarray:
    return mel_filterbank(N_FFT, RATE, N_MELS, F_MIN, F_MAX)


def test_htk_mel_scale_values():
    assert hz_to_mel(0.0) == 0.0
    assert hz_to_mel(700.0) == pytest.approx(2595.0 * math.log10(2.0))
    assert hz_to_mel(1000.0) == pytest.approx(999.9855, abs=1e-4)  # ~1000 mel at 1 kHz
    frequencies = np.array([20.0, 440.0, 3999.0, 11025.0])
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(frequencies)), frequencies, rtol=1e-12)


def test_band_edges_are_equally_spaced_in_mel():
    edges = mel_band_edges(N_MELS, F_MIN, F_MAX)
    assert len(edges) == N_MELS + 2
    assert edges[0] == pytest.approx(F_MIN) and edges[-1] == pytest.approx(F_MAX)
    steps = np.diff(hz_to_mel(edges))
    np.testing.assert_allclose(steps, (hz_to_mel(F_MAX) - hz_to_mel(F_MIN)) / (N_MELS + 1))


def test_filters_are_triangles_on_their_band_edges(bank):
    assert bank.shape == (N_MELS, N_FFT // 2 + 1)
    bins = np.arange(N_FFT // 2 + 1) * RATE / N_FFT
    edges = mel_band_edges(N_MELS, F_MIN, F_MAX)
    for m in range(N_MELS):
        lower, centre, upper = edges[m], edges[m + 1], edges[m + 2]
        expected = np.where(
            bins <= centre, (bins - lower) / (centre - lower), (upper - bins) / (upper - centre)
        )
        np.testing.assert_allclose(bank[m], np.clip(expected, 0.0, None), atol=1e-12)
        assert not bank[m][(bins <= lower) | (bins >= upper)].any()
    assert bank.max() <= 1.0 and bank.min() >= 0.0


def test_a_centre_on_a_bin_gives_weight_one():
    # 2 mels between 0 and f_max put the first centre at mel(f_max)/3; pick f_max so
    # that centre is exactly bin 8 (8 * 8000 / 256 = 250 Hz).
    f_max = float(mel_to_hz(3 * hz_to_mel(250.0)))
    bank = mel_filterbank(N_FFT, RATE, 2, 0.0, f_max)
    assert bank[0, 8] == pytest.approx(1.0)
    assert bank[0, 0] == 0.0


def test_neighbouring_triangles_sum_to_one_between_the_outer_centres(bank):
    bins = np.arange(N_FFT // 2 + 1) * RATE / N_FFT
    edges = mel_band_edges(N_MELS, F_MIN, F_MAX)
    inside = (bins >= edges[1]) & (bins <= edges[-2])
    np.testing.assert_allclose(bank.sum(axis=0)[inside], 1.0, atol=1e-12)


def test_matches_librosa_when_installed():
    librosa = pytest.importorskip("librosa")
    for n_fft, rate, n_mels, f_min, f_max in [
        (256, 8000, 40, 20.0, 4000.0),
        (512, 16000, 64, 0.0, 8000.0),
    ]:
        reference = librosa.filters.mel(
            sr=rate,
            n_fft=n_fft,
            n_mels=n_mels,
            fmin=f_min,
            fmax=f_max,
            htk=True,
            norm=None,
            dtype=np.float64,
        )
        np.testing.assert_allclose(
            mel_filterbank(n_fft, rate, n_mels, f_min, f_max), reference, atol=1e-10
        )


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((256, 8000, 0, 0.0, 4000.0), "n_mels must be >= 1"),
        ((256, 8000, 40, 0.0, 4001.0), r"f_max <= sample_rate / 2 = 4000 Hz"),
        ((256, 8000, 40, 500.0, 400.0), "f_min=500, f_max=400"),
    ],
)
def test_filterbank_rejects_bad_ranges(args, match):
    with pytest.raises(ValueError, match=match):
        mel_filterbank(*args)


def test_log_mel_spectrogram_of_a_tone_peaks_in_its_band():
    frontend = LogMelSpectrogram(RATE, n_fft=N_FFT, hop_length=80, n_mels=N_MELS, f_min=F_MIN)
    t = torch.arange(8000, dtype=torch.float32) / RATE
    tones = torch.stack([0.5 * torch.sin(2 * math.pi * f * t) for f in (300.0, 1000.0, 2500.0)])
    spectrogram = frontend(tones)
    assert spectrogram.shape == (3, N_MELS, 101)
    centres = mel_band_edges(N_MELS, F_MIN, RATE / 2)[1:-1]
    for row, frequency in zip(spectrogram, (300.0, 1000.0, 2500.0), strict=True):
        band = int(row[:, 50].argmax())
        assert abs(centres[band] - frequency) <= np.diff(centres).max()


def test_log_mel_of_silence_is_the_floor_and_batching_does_not_matter():
    frontend = LogMelSpectrogram(RATE)
    assert torch.all(frontend(torch.zeros(2, 800)) == math.log(1e-6))
    noise = torch.randn(5, 8000, generator=torch.Generator().manual_seed(0)) * 0.1
    whole = frontend(noise)
    parts = torch.cat([frontend(noise[:2]), frontend(noise[2:])])
    assert torch.allclose(whole, parts, atol=1e-5)
    assert not list(frontend.state_dict())  # derived buffers are not saved with weights
