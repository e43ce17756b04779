"""KID: torch-fidelity agreement for the same subsets, strategies, closed cases, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_fidelity.metric_kid import kid_features_to_metric

from genbench.metrics.kid import default_subset_size, draw_subsets, kernel_inception_distance


def _features(seed: int, n: int, d: int, *, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, d)) + shift).astype(np.float32)


def _torch_fidelity_kid(generated, real, *, subsets, subset_size):
    out = kid_features_to_metric(
        torch.from_numpy(generated.copy()),
        torch.from_numpy(real.copy()),
        kid_subsets=subsets,
        kid_subset_size=subset_size,
        verbose=False,
    )
    return out["kernel_inception_distance_mean"], out["kernel_inception_distance_std"]


@pytest.mark.parametrize(
    ("m", "n", "d", "subsets", "size"),
    [(150, 200, 16, 10, 100), (300, 260, 64, 20, 200), (120, 120, 32, 5, 120)],
)
def test_equals_torch_fidelity_for_the_same_subsets(m, n, d, subsets, size):
    generated = _features(1, m, d, shift=0.1)
    real = _features(2, n, d)
    ours = kernel_inception_distance(generated, real, subsets=subsets, subset_size=size)
    assert (ours.subsets, ours.subset_size) == (subsets, size)
    # torch-fidelity on float64 features: only our float32 inner products
    # differ, by float32 rounding (1e-7 relative) of each kernel value.
    mean64, std64 = _torch_fidelity_kid(
        generated.astype(np.float64), real.astype(np.float64), subsets=subsets, subset_size=size
    )
    assert ours.mean == pytest.approx(mean64, abs=1e-8)
    assert ours.std == pytest.approx(std64, abs=1e-8)
    # torch-fidelity on float32 features computes everything in float32.
    mean32, std32 = _torch_fidelity_kid(generated, real, subsets=subsets, subset_size=size)
    assert ours.mean == pytest.approx(mean32, abs=1e-6)
    assert ours.std == pytest.approx(std32, abs=1e-6)


def test_subset_draws_follow_torch_fidelity_order():
    draws = draw_subsets(50, 70, subsets=3, subset_size=20, seed=2020)
    rng = np.random.RandomState(2020)
    for i in range(3):
        np.testing.assert_array_equal(draws.generated[i], rng.choice(50, 20, replace=False))
        np.testing.assert_array_equal(draws.real[i], rng.choice(70, 20, replace=False))


def test_strategies_and_block_sizes_agree():
    generated = _features(3, 180, 24, shift=0.2)
    real = _features(4, 210, 24)
    gram = kernel_inception_distance(generated, real, subsets=8, subset_size=90, strategy="gram")
    per_subset = kernel_inception_distance(
        generated, real, subsets=8, subset_size=90, strategy="subsets"
    )
    small_blocks = kernel_inception_distance(
        generated, real, subsets=8, subset_size=90, strategy="gram", block_size=7
    )
    # Equal up to float32 rounding of inner products computed in other blocks.
    for other in (per_subset, small_blocks):
        assert other.mean == pytest.approx(gram.mean, abs=1e-8)
        assert other.std == pytest.approx(gram.std, abs=1e-8)


def test_default_subset_size_is_half_the_smaller_side_capped_at_1000():
    generated = _features(5, 60, 16, shift=0.2)
    real = _features(6, 400, 16)
    ours = kernel_inception_distance(generated, real, subsets=10)
    assert ours.subset_size == 30
    mean, std = _torch_fidelity_kid(
        generated.astype(np.float64), real.astype(np.float64), subsets=10, subset_size=30
    )
    assert ours.mean == pytest.approx(mean, abs=1e-8)
    assert ours.std == pytest.approx(std, abs=1e-8)
    assert default_subset_size(5000, 2001) == 1000
    assert default_subset_size(1999, 5000) == 999
    assert default_subset_size(4, 4) == 2


def test_spread_is_informative_when_both_sides_have_1000_samples():
    # With s = N = M every subset would be the whole set and the spread 0 by
    # construction; the default s = 500 draws different subsets.
    generated = _features(12, 1000, 32, shift=0.1)
    real = _features(13, 1000, 32)
    ours = kernel_inception_distance(generated, real)
    assert ours.subset_size == 500 and ours.subsets == 100
    mean, std = _torch_fidelity_kid(
        generated.astype(np.float64), real.astype(np.float64), subsets=100, subset_size=500
    )
    assert ours.mean == pytest.approx(mean, abs=1e-8)
    assert ours.std == pytest.approx(std, abs=1e-8)
    assert ours.std > 0.05 * abs(ours.mean) > 0


def test_near_zero_for_one_distribution_and_positive_for_a_shift():
    real = _features(7, 1000, 16)
    same = kernel_inception_distance(_features(8, 1000, 16), real, subsets=20, subset_size=200)
    shifted = kernel_inception_distance(
        _features(8, 1000, 16, shift=0.3), real, subsets=20, subset_size=200
    )
    assert abs(same.mean) < 0.03
    assert shifted.mean > 0.15
    assert shifted.mean > 10 * abs(same.mean)


def test_an_explicit_subset_size_of_the_whole_set_gives_zero_spread():
    generated = _features(9, 40, 8, shift=0.5)
    real = _features(10, 40, 8)
    result = kernel_inception_distance(generated, real, subsets=5, subset_size=40)
    assert result.std == pytest.approx(0.0, abs=1e-12)


def test_errors():
    good = _features(11, 30, 4)
    with pytest.raises(ValueError, match="different feature dimensions: 4 vs 5"):
        kernel_inception_distance(good, _features(12, 30, 5))
    with pytest.raises(ValueError, match=r"KID needs at least 4 generated samples \(M\), got M=3"):
        kernel_inception_distance(good[:3], good)
    with pytest.raises(ValueError, match=r"KID needs at least 4 real samples \(N\), got N=1"):
        kernel_inception_distance(good, good[:1])
    with pytest.raises(
        ValueError,
        match=r"KID with subset_size=1000 needs at least 1000 generated samples \(M\), "
        r"got M=30; subset_size can be at most 25 here",
    ):
        kernel_inception_distance(good, _features(14, 25, 4), subset_size=1000)
    with pytest.raises(
        ValueError,
        match=r"KID with subset_size=28 needs at least 28 real samples \(N\), got N=25",
    ):
        kernel_inception_distance(good, _features(14, 25, 4), subset_size=28)
    bad = good.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="real features contains NaN or infinite"):
        kernel_inception_distance(good, bad)
    with pytest.raises(ValueError, match="subsets must be at least 1, got 0"):
        kernel_inception_distance(good, good, subsets=0)
    with pytest.raises(ValueError, match="subset_size must be at least 2, got 1"):
        kernel_inception_distance(good, good, subset_size=1)
    with pytest.raises(ValueError, match="strategy must be 'auto', 'gram' or 'subsets'"):
        kernel_inception_distance(good, good, strategy="fast")
