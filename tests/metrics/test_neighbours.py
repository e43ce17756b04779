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
    """Full float32 distance matrices, k-NN radii with the point itself
    counted (k+1-th smallest), as torch-fidelity and prdc compute them."""
    g, r = torch.from_numpy(generated.copy()), torch.from_numpy(real.copy())
    real_real, gen_gen, gen_real = torch.cdist(r, r), torch.cdist(g, g), torch.cdist(g, r)
    real_r3 = real_real.kthvalue(4, dim=1).values
    real_r5 = real_real.kthvalue(6, dim=1).values
    gen_r3 = gen_gen.kthvalue(4, dim=1).values
    return {
        "precision": (gen_real <= real_r3[None, :]).any(dim=1).double().mean().item(),
        "recall": (gen_real <= gen_r3[:, None]).any(dim=0).double().mean().item(),
        "density": (gen_real < real_r5[None, :]).sum().item() / (5 * len(generated)),
        "coverage": (gen_real.min(dim=0).values < real_r5).double().mean().item(),
    }


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
    assert round(reference["precision"] * m) == round(ours["precision"] * m)
    assert round(reference["recall"] * n) == round(ours["recall"] * n)
    assert ours == _brute_force(generated, real)


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
    with pytest.raises(ValueError, match="needs more than 3 generated points, got 3"):
        neighbour_metrics(reference, real[:3])
    with pytest.raises(ValueError, match="k=5 need more than 5 points, got 5"):
        RealNeighbourhood.from_features(real[:5])
    with pytest.raises(ValueError, match=r"radii for k in \[3, 5\], not k=4"):
        neighbour_metrics(reference, real, k_pr=4)
    with pytest.raises(ValueError, match=r"radii for k=3 must have shape \(20,\)"):
        RealNeighbourhood(real, {3: np.ones(19)})
    with pytest.raises(ValueError, match="block_size must be at least 1, got 0"):
        neighbour_metrics(reference, real, block_size=0)
    with pytest.raises(RuntimeError, match="saw 0 of 20 generated rows"):
        NeighbourCounts(reference, real).result()
