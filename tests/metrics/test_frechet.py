"""Fréchet distance: closed forms, torch-fidelity agreement, exactness on
rank-deficient features (dead units, N < d), errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

from genbench.metrics.frechet import FrechetStatistics, frechet_distance, frechet_statistics


def _features(seed: int, n: int, d: int, *, scale: float = 1.0, shift: float = 0.0):
    rng = np.random.default_rng(seed)
    mixing = rng.standard_normal((d, d)) / np.sqrt(d)
    return (rng.standard_normal((n, d)) @ mixing * scale + shift).astype(np.float32)


def _relu_features(
    seed: int, n: int, d: int, *, dead: np.ndarray, rare: np.ndarray, shift: float = 0.0
) -> np.ndarray:
    """ReLU of a fixed random map of a 32-dimensional Gaussian, plus noise:
    units in ``dead`` are never active (constant 0), units in ``rare`` only
    for a few percent of the samples, as in a trained classifier."""
    mapping = np.random.default_rng(0).standard_normal((32, d)) / np.sqrt(32)
    bias = np.zeros(d)
    bias[dead] = -100.0
    bias[rare] = -3.2
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, 32)) + shift
    return np.maximum(latent @ mapping + bias + 0.1 * rng.standard_normal((n, d)), 0.0).astype(
        np.float32
    )


def _torch_fidelity_fid(a: np.ndarray, b: np.ndarray) -> float:
    stats_a = fid_features_to_statistics(torch.from_numpy(np.array(a)))
    stats_b = fid_features_to_statistics(torch.from_numpy(np.array(b)))
    return fid_statistics_to_metric(stats_a, stats_b, verbose=False)["frechet_inception_distance"]


def _sqrtm_fid(a: np.ndarray, b: np.ndarray) -> float:
    """pytorch-fid's and clean-fid's formula: scipy's ``sqrtm`` in float64."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    sigma_a, sigma_b = np.cov(a64, rowvar=False), np.cov(b64, rowvar=False)
    diff = a64.mean(0) - b64.mean(0)
    with warnings.catch_warnings():  # "Matrix is singular": expected here
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        trace_sqrt = np.trace(scipy.linalg.sqrtm(sigma_a @ sigma_b)).real
    return float(diff @ diff + np.trace(sigma_a) + np.trace(sigma_b) - 2 * trace_sqrt)


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


def _high_precision_fid(a: np.ndarray, b: np.ndarray, digits: int = 30) -> float:
    """The nuclear-norm formula in ``digits``-digit arithmetic (mpmath)."""
    mp = pytest.importorskip("mpmath").mp
    with mp.workdps(digits):

        def centred(x: np.ndarray):
            rows = [[mp.mpf(float(v)) for v in row] for row in x]
            means = [mp.fsum(column) / len(rows) for column in zip(*rows, strict=True)]
            return [[v - m for v, m in zip(row, means, strict=True)] for row in rows], means

        ac, mean_a = centred(a)
        bc, mean_b = centred(b)
        product = mp.matrix(ac) * mp.matrix(bc).T
        scale = mp.sqrt((len(a) - 1) * (len(b) - 1))
        trace_sqrt = mp.fsum(mp.svd_r(product, compute_uv=False)) / scale
        trace_a = mp.fsum(v * v for row in ac for v in row) / (len(a) - 1)
        trace_b = mp.fsum(v * v for row in bc for v in row) / (len(b) - 1)
        shift = mp.fsum((x - y) ** 2 for x, y in zip(mean_a, mean_b, strict=True))
        return float(shift + trace_a + trace_b - 2 * trace_sqrt)


@pytest.mark.parametrize(("n", "m", "d"), [(400, 300, 16), (600, 500, 64), (300, 300, 128)])
def test_matches_torch_fidelity_within_1e_6_relative(n, m, d):
    real = _features(1, n, d)
    generated = _features(2, m, d, scale=1.2, shift=0.3)
    ours = frechet_distance(frechet_statistics(real), frechet_statistics(generated))
    # torch-fidelity keeps float32 features' means in float32 (about 1e-7 off).
    assert ours == pytest.approx(_torch_fidelity_fid(real, generated), rel=1e-6)
    real64, generated64 = real.astype(np.float64), generated.astype(np.float64)
    assert ours == pytest.approx(_torch_fidelity_fid(real64, generated64), rel=1e-10)
    assert ours == pytest.approx(_nuclear_norm_fid(real, generated), rel=1e-10)


DEAD = np.arange(28)


@pytest.mark.parametrize(
    ("dead_generated", "rare"),
    [
        (DEAD, np.array([], dtype=int)),  # the same 28 dead units on both sides
        (np.arange(10, 38), np.array([], dtype=int)),  # partly different dead units
        (DEAD, np.arange(28, 48)),  # 20 rarely active units besides
    ],
)
def test_dead_units_exact_against_float64_sqrtm(dead_generated, rare):
    # ReLU features with 28 constantly-zero units (N = 1000 > d = 128): the
    # covariances are singular. genbench's former eigenvalue route (a factor
    # of S_a, eigenvalues of F^T S_b F) was off by 7e-9 with partly different
    # dead units and 3e-8 with rare units; the QR route agrees with scipy's
    # sqrtm to 5e-14 and with the nuclear norm of A_c B_c^T to 6e-14.
    real = _relu_features(1, 1000, 128, dead=DEAD, rare=rare)
    generated = _relu_features(2, 1000, 128, dead=dead_generated, rare=rare, shift=0.2)
    assert np.all(real[:, DEAD] == 0) and np.all(generated[:, dead_generated] == 0)
    ours = frechet_distance(frechet_statistics(real), frechet_statistics(generated))
    assert ours == pytest.approx(_sqrtm_fid(real, generated), rel=1e-10)
    assert ours == pytest.approx(_nuclear_norm_fid(real, generated), rel=1e-12)


@pytest.mark.parametrize("rare", [np.array([], dtype=int), np.arange(28, 40)])
def test_fewer_samples_than_dimensions_exact_against_30_digits(rare):
    # N < d: rank-deficient covariances. Here scipy's sqrtm and torch-fidelity's
    # float64 eig route are off by 1e-8 to 3e-8 relative to 30-digit
    # arithmetic (the former eigenvalue route by 1e-8), so the reference is
    # the nuclear-norm formula in mpmath; the QR route is within 3e-15.
    real = _relu_features(3, 40, 64, dead=DEAD[:12], rare=rare)
    generated = _relu_features(4, 30, 64, dead=DEAD[:12], rare=rare, shift=0.2)
    ours = frechet_distance(frechet_statistics(real), frechet_statistics(generated))
    assert ours == pytest.approx(_high_precision_fid(real, generated), rel=1e-13)


def test_shifted_identity_gaussians_exact_statistics():
    d = 64
    a = FrechetStatistics.from_covariance(np.zeros(d), np.eye(d), n=10_000)
    b = FrechetStatistics.from_covariance(np.ones(d), np.eye(d), n=10_000)
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
    a = FrechetStatistics.from_covariance(np.zeros(4), np.diag(a_var), n=2)
    b = FrechetStatistics.from_covariance(mean_shift, np.diag(b_var), n=2)
    expected = mean_shift @ mean_shift + np.sum((np.sqrt(a_var) - np.sqrt(b_var)) ** 2)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-12)


def test_from_covariance_agrees_with_the_features_route():
    real = _features(5, 300, 32)
    generated = _features(6, 300, 32, scale=0.7)
    from_features = frechet_statistics(real)
    from_covariance = FrechetStatistics.from_covariance(
        from_features.mu, np.cov(real.astype(np.float64), rowvar=False), n=300
    )
    other = frechet_statistics(generated)
    assert frechet_distance(from_covariance, other) == pytest.approx(
        frechet_distance(from_features, other), rel=1e-12
    )
    zero = FrechetStatistics.from_covariance(np.zeros(32), np.zeros((32, 32)), n=5)
    assert frechet_distance(zero, other) == pytest.approx(
        other.mu @ other.mu + np.trace(other.sigma), rel=1e-12
    )


@pytest.mark.parametrize(("n", "d"), [(50, 8), (5, 8)])
def test_statistics_are_float64_ddof_1_with_an_r_factor_root(n, d):
    features = _features(9, n, d)
    stats = frechet_statistics(features)
    assert stats.mu.dtype == np.float64 and stats.root.dtype == np.float64
    assert stats.root.shape == (min(n, d), d)
    np.testing.assert_array_equal(np.tril(stats.root, -1), 0)
    covariance = np.cov(features.astype(np.float64), rowvar=False)
    np.testing.assert_allclose(stats.sigma, covariance, rtol=1e-12, atol=1e-14)
    assert stats.trace == pytest.approx(np.trace(covariance), rel=1e-13)
    assert stats.n == n and stats.dim == d


def test_symmetric_and_zero_for_identical_statistics():
    a = frechet_statistics(_features(7, 200, 24))
    b = frechet_statistics(_features(8, 250, 24, shift=0.2))
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-12)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    assert frechet_distance(a, a) >= 0.0


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
    with pytest.raises(
        ValueError, match=r"Fréchet distance needs at least 2 samples \(n\), got n=1"
    ):
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
        FrechetStatistics.from_covariance(np.zeros(4), np.eye(3), n=5)
    with pytest.raises(ValueError, match=r"root must have shape \(r, 4\) with 1 <= r <= 4"):
        FrechetStatistics(np.zeros(4), np.eye(5, 4), n=5)
    with pytest.raises(ValueError, match="root must be upper trapezoidal"):
        FrechetStatistics(np.zeros(4), np.ones((4, 4)), n=5)
    with pytest.raises(
        ValueError, match=r"Fréchet distance needs at least 2 samples \(n\), got n=1"
    ):
        FrechetStatistics(np.zeros(4), np.eye(4), n=1)
