"""Fréchet distance: closed forms, torch-fidelity agreement, rank deficiency, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

from genbench.metrics.frechet import (
    CovarianceFactor,
    FrechetStatistics,
    frechet_distance,
    frechet_statistics,
    trace_sqrt_product,
)


def _features(seed: int, n: int, d: int, *, scale: float = 1.0, shift: float = 0.0):
    rng = np.random.default_rng(seed)
    mixing = rng.standard_normal((d, d)) / np.sqrt(d)
    return (rng.standard_normal((n, d)) @ mixing * scale + shift).astype(np.float32)


def _torch_fidelity_fid(a: np.ndarray, b: np.ndarray) -> float:
    stats_a = fid_features_to_statistics(torch.from_numpy(np.array(a)))
    stats_b = fid_features_to_statistics(torch.from_numpy(np.array(b)))
    return fid_statistics_to_metric(stats_a, stats_b, verbose=False)["frechet_inception_distance"]


def _nuclear_norm_fid(a: np.ndarray, b: np.ndarray) -> float:
    """Independent reference: Tr sqrt(S_a S_b) is the nuclear norm of
    A_c B_c^T / sqrt((n-1)(m-1)) for the centred feature matrices."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    ac, bc = a64 - a64.mean(0), b64 - b64.mean(0)
    scale = np.sqrt((len(a) - 1) * (len(b) - 1))
    trace_sqrt = np.linalg.svd(ac @ bc.T / scale, compute_uv=False).sum()
    diff = a64.mean(0) - b64.mean(0)
    trace_a = (ac * ac).sum() / (len(a) - 1)
    trace_b = (bc * bc).sum() / (len(b) - 1)
    return float(diff @ diff + trace_a + trace_b - 2 * trace_sqrt)


@pytest.mark.parametrize(("n", "m", "d"), [(400, 300, 16), (600, 500, 64), (300, 300, 128)])
def test_matches_torch_fidelity_within_1e_6_relative(n, m, d):
    real = _features(1, n, d)
    generated = _features(2, m, d, scale=1.2, shift=0.3)
    ours = frechet_distance(frechet_statistics(real), frechet_statistics(generated))
    # torch-fidelity keeps float32 features' means in float32 (about 1e-7 off).
    assert ours == pytest.approx(_torch_fidelity_fid(real, generated), rel=1e-6)
    real64, generated64 = real.astype(np.float64), generated.astype(np.float64)
    assert ours == pytest.approx(_torch_fidelity_fid(real64, generated64), rel=1e-10)
    assert ours == pytest.approx(_nuclear_norm_fid(real, generated), rel=1e-9)


def test_shifted_identity_gaussians_exact_statistics():
    d = 64
    a = FrechetStatistics(np.zeros(d), np.eye(d), n=10_000)
    b = FrechetStatistics(np.ones(d), np.eye(d), n=10_000)
    assert frechet_distance(a, b) == pytest.approx(d, rel=1e-12)


def test_shifted_identity_gaussians_sampled_large_n():
    rng = np.random.default_rng(0)
    d, n = 16, 40_000
    real = rng.standard_normal((n, d))
    generated = rng.standard_normal((n, d)) + 1.0
    # Bias of the plug-in estimate is O(d^2 / n): well under 1% here.
    fid = frechet_distance(frechet_statistics(real), frechet_statistics(generated))
    assert fid == pytest.approx(d, rel=0.01)


def test_diagonal_covariances_closed_form():
    a_var = np.array([1.0, 4.0, 9.0, 0.25])
    b_var = np.array([4.0, 1.0, 1.0, 1.0])
    mean_shift = np.array([1.0, -2.0, 0.0, 0.5])
    a = FrechetStatistics(np.zeros(4), np.diag(a_var), n=2)
    b = FrechetStatistics(mean_shift, np.diag(b_var), n=2)
    expected = mean_shift @ mean_shift + np.sum((np.sqrt(a_var) - np.sqrt(b_var)) ** 2)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("n", "m", "d"), [(10, 500, 64), (500, 12, 64), (20, 30, 96)])
def test_rank_deficient_covariances_finite_and_exact(n, m, d):
    real = _features(3, n, d)
    generated = _features(4, m, d, shift=0.1)
    real_stats = frechet_statistics(real)
    assert not real_stats.factor.triangular or n > d
    fid = frechet_distance(real_stats, frechet_statistics(generated))
    assert np.isfinite(fid)
    assert fid == pytest.approx(_nuclear_norm_fid(real, generated), rel=1e-7)


def test_factor_routes_agree():
    real = _features(5, 300, 32)
    generated = _features(6, 300, 32, scale=0.7)
    sigma_a = frechet_statistics(real).sigma
    sigma_b = frechet_statistics(generated).sigma
    cholesky = CovarianceFactor(np.linalg.cholesky(sigma_a), triangular=True)
    values, vectors = np.linalg.eigh(sigma_a)
    eigen = CovarianceFactor(vectors * np.sqrt(values), triangular=False)
    assert trace_sqrt_product(cholesky, sigma_b) == pytest.approx(
        trace_sqrt_product(eigen, sigma_b), rel=1e-12
    )


def test_symmetric_and_zero_for_identical_statistics():
    a = frechet_statistics(_features(7, 200, 24))
    b = frechet_statistics(_features(8, 250, 24, shift=0.2))
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-10)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    assert frechet_distance(a, a) >= 0.0


def test_statistics_are_float64_ddof_1():
    features = _features(9, 50, 8)
    stats = frechet_statistics(features)
    assert stats.mu.dtype == np.float64 and stats.sigma.dtype == np.float64
    np.testing.assert_allclose(stats.sigma, np.cov(features.astype(np.float64), rowvar=False))
    assert stats.n == 50 and stats.dim == 8


@settings(max_examples=15, deadline=None)
@given(
    scale=st.floats(0.1, 10.0),
    shift=st.floats(-5.0, 5.0),
    seed=st.integers(0, 2**16),
)
def test_translation_invariant_and_quadratic_in_scale(scale, shift, seed):
    real = _features(seed, 120, 12).astype(np.float64)
    generated = _features(seed + 1, 100, 12, scale=1.5).astype(np.float64)
    base = frechet_distance(frechet_statistics(real), frechet_statistics(generated))
    moved = frechet_distance(
        frechet_statistics(scale * real + shift), frechet_statistics(scale * generated + shift)
    )
    assert moved == pytest.approx(scale**2 * base, rel=1e-6)


def test_errors():
    good = _features(10, 20, 4)
    with pytest.raises(ValueError, match="different feature dimensions: 4 vs 5"):
        frechet_distance(frechet_statistics(good), frechet_statistics(_features(11, 20, 5)))
    with pytest.raises(ValueError, match="at least 2 samples, got 1"):
        frechet_statistics(good[:1])
    bad = good.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match=r"NaN or infinite values \(first at index \(3, 2\)\)"):
        frechet_statistics(bad)
    bad[3, 2] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        frechet_statistics(bad)
    with pytest.raises(ValueError, match="must be a 2-D array"):
        frechet_statistics(good[0])
    with pytest.raises(ValueError, match=r"sigma must have shape \(4, 4\)"):
        FrechetStatistics(np.zeros(4), np.eye(3), n=5)
    with pytest.raises(ValueError, match="at least 2 samples, got n=1"):
        FrechetStatistics(np.zeros(4), np.eye(4), n=1)
