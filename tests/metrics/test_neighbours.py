"""Precision/recall and density/coverage: references, closed cases, invariances, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_fidelity.metric_prc import prc_features_to_metric

from genbench.metrics.neighbours import NeighbourCounts, RealNeighbourhood, neighbour_metrics


def _gaussian(seed: int, n: int, d: int, *, scale: float = 1.0, shift: float = 0.0):
    rng = np.random.default_rng(seed)
    return (scale * rng.standard_normal((n, d)) + shift).astype(np.float32)


def _brute_force(generated: np.ndarray, real: np.ndarray) -> dict[str, float]:
    """The definitions from full float64 matrices of squared distances, each
    the sum of squared coordinate differences; k-NN radii with the point
    itself counted (k+1-th smallest), compared squared."""
    return _exact_counts(generated, real)[0]


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    difference = a.astype(np.float64)[:, None, :] - b.astype(np.float64)[None, :, :]
    return (difference**2).sum(axis=-1)


def _exact_counts(generated: np.ndarray, real: np.ndarray, k_pr: int = 3, k_dc: int = 5):
    """Fractions and squared radii from exact float64 brute force."""
    real_real = np.sort(_squared_distances(real, real), axis=1)
    gen_gen = np.sort(_squared_distances(generated, generated), axis=1)
    gen_real = _squared_distances(generated, real)
    real_pr, real_dc, gen_pr = real_real[:, k_pr], real_real[:, k_dc], gen_gen[:, k_pr]
    fractions = {
        "precision": np.count_nonzero((gen_real <= real_pr).any(axis=1)) / len(generated),
        "recall": float(np.mean((gen_real <= gen_pr[:, None]).any(axis=0))),
        "density": np.count_nonzero(gen_real < real_dc) / (k_dc * len(generated)),
        "coverage": float(np.mean((gen_real < real_dc).any(axis=0))),
    }
    return fractions, {k_pr: real_pr, k_dc: real_dc}


def _float32_cdist_density(generated: np.ndarray, real: np.ndarray, k: int = 5) -> float:
    """Density as torch-fidelity-style code computes it: float32 distances
    from |x|^2 + |y|^2 - 2 x.y (torch.cdist)."""
    g, r = torch.from_numpy(generated.copy()), torch.from_numpy(real.copy())
    radii = torch.cdist(r, r).kthvalue(k + 1, dim=1).values
    return (torch.cdist(g, r) < radii[None, :]).sum().item() / (k * len(generated))


def _rings(seed: int, n: int, *, radius: float, sigma: float, modes: int = 8) -> np.ndarray:
    """``n`` float32 points from ``modes`` Gaussians of standard deviation
    ``sigma`` evenly spaced on a circle of ``radius`` (the toy tasks)."""
    rng = np.random.default_rng(seed)
    angles = 2 * np.pi * rng.integers(0, modes, n) / modes
    centres = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return (centres + sigma * rng.standard_normal((n, 2))).astype(np.float32)


def _metrics(generated, real, **kwargs):
    return neighbour_metrics(RealNeighbourhood.from_features(real), generated, **kwargs)


@pytest.mark.parametrize(
    ("m", "n", "d", "scale"),
    [(200, 200, 16, 1.0), (300, 250, 32, 1.3), (150, 400, 64, 0.8), (500, 500, 8, 1.0)],
)
def test_equals_torch_fidelity_and_brute_force_prdc(m, n, d, scale):
    generated = _gaussian(1, m, d, scale=scale, shift=0.1)
    real = _gaussian(2, n, d)
    ours = _metrics(generated, real)
    reference = prc_features_to_metric(
        torch.from_numpy(generated.copy()), torch.from_numpy(real.copy()), verbose=False
    )
    # torch-fidelity averages in float32: compare the counts behind the fractions.
    # (Its float32 distances match the exact ones on these well-spread points.)
    assert round(reference["precision"] * m) == round(ours["precision"] * m)
    assert round(reference["recall"] * n) == round(ours["recall"] * n)
    assert ours == _brute_force(generated, real)


@pytest.mark.parametrize(
    ("radius", "sigma", "seeds"), [(5.0, 0.02, (1, 2)), (4.0, 0.01, (3, 4)), (6.0, 0.015, (5, 6))]
)
def test_tight_modes_on_a_ring_equal_exact_float64_counts(radius, sigma, seeds):
    # 8 tight Gaussians on a circle, 1000 float32 points per side: points sit
    # 4-6 from the origin and 0.001-0.01 apart, where float32 distances from
    # |x|^2 + |y|^2 - 2 x.y lose most of their digits.
    real = _rings(seeds[0], 1000, radius=radius, sigma=sigma)
    generated = _rings(seeds[1], 1000, radius=radius, sigma=sigma)
    reference = RealNeighbourhood.from_features(real)
    expected, squared_radii = _exact_counts(generated, real)
    for k in (3, 5):
        np.testing.assert_array_equal(reference.squared_radius(k), squared_radii[k])
    assert neighbour_metrics(reference, generated) == expected
    assert neighbour_metrics(reference, generated, block_size=97) == expected
    # The cancelling float32 formula gets the density wrong on this data.
    assert _float32_cdist_density(generated, real) != expected["density"]


def test_density_and_coverage_equal_prdc_on_a_ring(capsys):
    # prdc's distances (scikit-learn's, computed in float64) are exact
    # enough here that its strict-inequality counts are the exact ones.
    compute_prdc = pytest.importorskip("prdc").compute_prdc
    real = _rings(7, 800, radius=5.0, sigma=0.02)
    generated = _rings(8, 700, radius=5.0, sigma=0.02)
    reference = compute_prdc(real, generated, nearest_k=5)
    capsys.readouterr()  # prdc prints the sample counts
    ours = _metrics(generated, real)
    assert ours["density"] == pytest.approx(reference["density"], rel=1e-12)
    assert ours["coverage"] == reference["coverage"]


def test_far_from_the_origin_in_many_dimensions_equal_exact_counts():
    # d = 64 (screened in float32): tight clusters 100 away from the origin,
    # so most near pairs fall within the float32 screening bound and are
    # recomputed exactly.
    rng = np.random.default_rng(9)
    centres = 100.0 + rng.standard_normal((6, 64))
    real = (centres[rng.integers(0, 6, 500)] + 0.01 * rng.standard_normal((500, 64))).astype(
        np.float32
    )
    generated = (centres[rng.integers(0, 6, 400)] + 0.01 * rng.standard_normal((400, 64))).astype(
        np.float32
    )
    expected, squared_radii = _exact_counts(generated, real)
    reference = RealNeighbourhood.from_features(real)
    for k in (3, 5):
        np.testing.assert_allclose(reference.squared_radius(k), squared_radii[k], rtol=1e-14)
    assert neighbour_metrics(reference, generated) == expected


def test_collapsed_generator_has_high_precision_low_recall():
    # torch-fidelity's own check: 0.1 N(0, I) generated vs 3 N(0, I) real.
    generated = _gaussian(3, 200, 16, scale=0.1)
    real = _gaussian(4, 200, 16, scale=3.0)
    ours = _metrics(generated, real)
    assert ours["precision"] > 0.8
    assert ours["recall"] < 0.3


def test_mode_collapse_on_a_mixture_has_small_coverage():
    rng = np.random.default_rng(5)
    centres = 20.0 * np.eye(16, dtype=np.float32)[:10]
    labels = np.repeat(np.arange(10), 60)
    real = centres[labels] + rng.standard_normal((600, 16)).astype(np.float32)
    generated = centres[0] + rng.standard_normal((600, 16)).astype(np.float32)
    ours = _metrics(generated, real)
    assert ours["coverage"] <= 0.1
    assert ours["recall"] <= 0.1
    assert ours["precision"] > 0.6


def test_one_distribution_has_density_and_coverage_near_one():
    real = _gaussian(6, 600, 16)
    generated = _gaussian(7, 600, 16)
    ours = _metrics(generated, real)
    assert ours["density"] == pytest.approx(1.0, abs=0.15)
    assert ours["coverage"] > 0.9
    assert 0.6 < ours["precision"] < 0.95
    assert 0.6 < ours["recall"] < 0.95


def test_copies_of_the_real_set_score_one():
    real = _gaussian(8, 120, 8)
    ours = _metrics(real.copy(), real)
    assert ours["precision"] == ours["recall"] == ours["coverage"] == 1.0
    assert ours["density"] >= 1 / 5


def test_radii_are_kth_nearest_other_point():
    points = np.array([[0.0], [1.0], [3.0], [7.0], [15.0], [31.0], [63.0]], dtype=np.float32)
    radii = RealNeighbourhood.from_features(points, ks=(1, 3)).radii
    np.testing.assert_array_equal(radii[1], [1, 1, 2, 4, 8, 16, 32])
    np.testing.assert_array_equal(radii[3], [7, 6, 4, 7, 14, 28, 56])


def test_inequalities_are_inclusive_for_pr_and_strict_for_dc():
    # Integer points on a line: every distance is exact in float32.
    real = np.arange(7, dtype=np.float32)[:, None]
    reference = RealNeighbourhood.from_features(real)
    np.testing.assert_array_equal(reference.radius(3), [3, 2, 2, 2, 2, 2, 3])
    np.testing.assert_array_equal(reference.radius(5), [5, 4, 3, 3, 3, 4, 5])
    generated = np.array([[9.0], [11], [100], [101], [102]], dtype=np.float32)
    ours = neighbour_metrics(reference, generated)
    # 9 is exactly r3(6) = 3 from 6: inside for precision (<=).
    assert ours["precision"] == 1 / 5
    # 9 is 3 < r5(6) = 5 from 6 but exactly r5(5) = 4 from 5; 11 is exactly
    # r5(6) from 6: only the first counts for density (<).
    assert ours["density"] == 1 / (5 * 5)
    assert ours["coverage"] == 1 / 7


@settings(max_examples=20, deadline=None)
@given(block_size=st.integers(1, 260))
def test_independent_of_block_size(block_size):
    real = _gaussian(9, 240, 16)
    generated = _gaussian(10, 250, 16, scale=1.2)
    reference = RealNeighbourhood.from_features(real, block_size=block_size)
    assert neighbour_metrics(reference, generated, block_size=block_size) == _metrics(
        generated, real
    )


@settings(max_examples=10, deadline=None)
@given(exponent=st.integers(-10, 10), seed=st.integers(0, 1000))
def test_invariant_to_power_of_two_scaling_and_reordering(exponent, seed):
    real = _gaussian(seed, 80, 8)
    generated = _gaussian(seed + 1, 90, 8, shift=0.2)
    factor = np.float32(2.0**exponent)
    order = np.random.default_rng(seed).permutation(90)
    assert _metrics(generated[order] * factor, real * factor) == _metrics(generated, real)


def test_errors():
    real = _gaussian(11, 20, 4)
    reference = RealNeighbourhood.from_features(real)
    with pytest.raises(ValueError, match="different feature dimensions: 5 vs 4"):
        neighbour_metrics(reference, _gaussian(12, 20, 5))
    bad = _gaussian(13, 20, 4)
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="generated features contains NaN"):
        neighbour_metrics(reference, bad)
    with pytest.raises(
        ValueError,
        match=r"precision/recall \(k=3\) needs at least 4 generated samples \(M\), got M=3",
    ):
        neighbour_metrics(reference, real[:3])
    with pytest.raises(
        ValueError,
        match=r"density/coverage \(k=5\) needs at least 6 real samples \(N\), got N=5",
    ):
        RealNeighbourhood.from_features(real[:5])
    with pytest.raises(ValueError, match=r"radii for k in \[3, 5\], not k=4"):
        neighbour_metrics(reference, real, k_pr=4)
    with pytest.raises(ValueError, match=r"radii for k=3 must have shape \(20,\)"):
        RealNeighbourhood(real, {3: np.ones(19)})
    with pytest.raises(ValueError, match="block_size must be at least 1, got 0"):
        neighbour_metrics(reference, real, block_size=0)
    with pytest.raises(RuntimeError, match="saw 0 of 20 generated rows"):
        NeighbourCounts(reference, real).result()
