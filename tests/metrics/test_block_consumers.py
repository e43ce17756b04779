"""The newer metrics' consumers of the engine's Gram blocks against their
pure functions and brute-force transcriptions: β-recall's nearest generated
samples, the RBF kernel row sums behind ``mmd_rbf``, realism and rarity.
Blocks smaller than the data, float64 (d <= 16) and float32 screening, and
ties (duplicates, points exactly on a ball's boundary)."""

from __future__ import annotations

import numpy as np
import pytest

from genbench.metrics.alpha_beta import NearestGenerated
from genbench.metrics.mmd import RBFKernelRowSums
from genbench.metrics.pairwise import DistanceScreen, generated_gram_blocks, screening_features
from genbench.metrics.sample_scores import (
    RarityScores,
    RealismScores,
    rarity_scores,
    realism_scores,
)


def _screens(generated: np.ndarray, real: np.ndarray):
    g, r = screening_features(generated), screening_features(real)
    return g, r, DistanceScreen(g, g), DistanceScreen(g, r)


def _feed(consumer, g: np.ndarray, r: np.ndarray, block_size: int) -> None:
    for block in generated_gram_blocks(g, r, block_size=block_size):
        consumer.add(block)


def _exact_squared(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``|a_i - b_j|^2`` from the coordinate differences, float64."""
    difference = a.astype(np.float64)[:, None, :] - b.astype(np.float64)[None, :, :]
    return (difference**2).sum(axis=2)


def _real_radii(real: np.ndarray, k: int) -> np.ndarray:
    """Exact squared distance of each real row to its k-th nearest other row."""
    squared = _exact_squared(real, real)
    np.fill_diagonal(squared, np.inf)
    return np.sort(squared, axis=1)[:, k - 1]


def _grid(seed: int, n: int, d: int, high: int) -> np.ndarray:
    """Small integer coordinates: inner products and distances are exact in
    float32 too, so equal distances are exactly equal (ties)."""
    return np.random.default_rng(seed).integers(0, high, (n, d)).astype(np.float32)


def _brute_nearest(real: np.ndarray, generated: np.ndarray, keep: int):
    squared = _exact_squared(real, generated)
    columns = np.broadcast_to(np.arange(generated.shape[0]), squared.shape)
    order = np.lexsort((columns, squared), axis=1)[:, :keep]
    return order, np.sqrt(np.take_along_axis(squared, order, axis=1))


@pytest.mark.parametrize("d", [3, 24])
@pytest.mark.parametrize("margin", [0, 8])
def test_nearest_generated_orders_by_exact_distance_lower_index_first(d, margin) -> None:
    real = _grid(1, 40, d, 3)
    generated = np.concatenate([_grid(2, 50, d, 3), real[:5], real[:5]])  # ties and copies
    g, r, _, to_real = _screens(generated, real)
    nearest = NearestGenerated(to_real, 6, margin=margin)
    _feed(nearest, g, r, block_size=7)
    chosen, distances = nearest.result()
    expected, expected_distances = _brute_nearest(real, generated, 6)
    np.testing.assert_array_equal(chosen, expected)
    np.testing.assert_array_equal(distances, expected_distances)
    assert np.all(distances[:5, 0] == 0.0)


def test_nearest_generated_searches_again_when_ties_outnumber_the_kept_ones() -> None:
    """Twenty equidistant generated samples and two kept: the dropped ones tie
    with the kept ones, so the screened lists cannot be final and every real
    sample is searched again over all generated samples."""
    real = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]], dtype=np.float32)
    angles = np.arange(20)
    ring = np.stack([5 * (angles % 2), 5 * (1 - angles % 2)], axis=1).astype(np.float32)
    generated = np.concatenate([ring, [[0.0, 1.0]]]).astype(np.float32)
    g, r, _, to_real = _screens(generated, real)
    nearest = NearestGenerated(to_real, 2, margin=0)
    _feed(nearest, g, r, block_size=4)
    chosen, distances = nearest.result()
    expected, expected_distances = _brute_nearest(real, generated, 2)
    np.testing.assert_array_equal(chosen, expected)
    np.testing.assert_array_equal(distances, expected_distances)


def test_nearest_generated_refuses_an_unfinished_pass_and_a_bad_keep() -> None:
    real, generated = _grid(3, 10, 3, 5), _grid(4, 12, 3, 5)
    g, r, _, to_real = _screens(generated, real)
    nearest = NearestGenerated(to_real, 3)
    nearest.add(next(iter(generated_gram_blocks(g, r, block_size=5))))
    with pytest.raises(RuntimeError, match="saw 5 of 12 generated rows"):
        nearest.result()
    with pytest.raises(ValueError, match="keep must be at least 1, got 0"):
        NearestGenerated(to_real, 0)


@pytest.mark.parametrize("d", [2, 24])
def test_realism_equals_the_pure_function(d) -> None:
    rng = np.random.default_rng(d)
    real = rng.normal(size=(60, d)).astype(np.float32)
    generated = np.concatenate([1.2 * rng.normal(size=(45, d)), real[:3]]).astype(np.float32)
    radii = np.sqrt(_real_radii(real, 3))
    g, r, _, to_real = _screens(generated, real)
    realism = RealismScores(to_real, radii)
    _feed(realism, g, r, block_size=8)
    expected = realism_scores(real, generated, real_radii=radii)
    np.testing.assert_allclose(realism.scores, expected, rtol=1e-12)


def test_realism_with_tied_ratios_and_copies() -> None:
    """Integer grid points: many real balls give the same ratio; a copy of a
    real sample scores its radius over eps."""
    real = _grid(5, 50, 20, 3)
    generated = np.concatenate([_grid(6, 30, 20, 3), real[:4]])
    radii = np.sqrt(_real_radii(real, 3))
    g, r, _, to_real = _screens(generated, real)
    realism = RealismScores(to_real, radii)
    _feed(realism, g, r, block_size=9)
    np.testing.assert_allclose(
        realism.scores, realism_scores(real, generated, real_radii=radii), rtol=1e-12
    )


@pytest.mark.parametrize("d", [2, 24])
def test_rarity_equals_the_pure_function(d) -> None:
    rng = np.random.default_rng(20 + d)
    real = rng.normal(size=(60, d)).astype(np.float32)
    generated = (1.5 * rng.normal(size=(50, d))).astype(np.float32)
    squared_radii = _real_radii(real, 3)
    g, r, _, to_real = _screens(generated, real)
    rarity = RarityScores(to_real, squared_radii)
    _feed(rarity, g, r, block_size=6)
    expected = rarity_scores(real, generated, real_radii=np.sqrt(squared_radii))
    np.testing.assert_array_equal(np.isnan(rarity.scores), np.isnan(expected))
    assert np.isnan(expected).any() and not np.isnan(expected).all()
    np.testing.assert_allclose(rarity.scores, expected, rtol=1e-12)


def test_rarity_leaves_out_points_on_a_ball_boundary() -> None:
    """Real points 0, 1, 2, 3, 10 on a line (k = 1 radii 1, 1, 1, 1, 7): a
    point at distance exactly 1 from the unit balls' centres is in none of
    them (strict <), only in the outlier's ball if close enough."""
    real = np.array([[0.0], [1.0], [2.0], [3.0], [10.0]], dtype=np.float32)
    generated = np.array([[4.0], [0.5], [3.0], [17.0], [-1.0]], dtype=np.float32)
    g, r, _, to_real = _screens(generated, real)
    rarity = RarityScores(to_real, _real_radii(real, 1))
    _feed(rarity, g, r, block_size=2)
    # 4: at distance 1 of 3 (not inside), inside the outlier's ball (6 < 7);
    # 3: inside 2's unit ball; 17: exactly on the outlier's ball; -1: on 0's.
    np.testing.assert_array_equal(rarity.scores, [7.0, 1.0, 1.0, np.nan, np.nan])


@pytest.mark.parametrize(("d", "rtol"), [(3, 1e-12), (64, 1e-5)])
def test_rbf_row_sums_match_float64_sums(d, rtol) -> None:
    """float64 blocks (d <= 16) agree to rounding; float32 blocks carry the
    float32 rounding of each squared distance (well under 1e-5 of a row sum)."""
    rng = np.random.default_rng(d)
    real = (rng.normal(size=(70, d)) + 3.0).astype(np.float32)
    generated = (1.1 * rng.normal(size=(55, d)) + 3.0).astype(np.float32)
    sigma = float(np.sqrt(np.median(_exact_squared(real, real))))
    g, r, among, to_real = _screens(generated, real)
    sums = RBFKernelRowSums(among, to_real, sigma)
    _feed(sums, g, r, block_size=8)
    with_generated = np.exp(-_exact_squared(generated, generated) / (2 * sigma**2))
    np.fill_diagonal(with_generated, 0.0)
    with_real = np.exp(-_exact_squared(generated, real) / (2 * sigma**2))
    np.testing.assert_allclose(sums.with_generated, with_generated.sum(axis=1), rtol=rtol)
    np.testing.assert_allclose(sums.with_real, with_real.sum(axis=1), rtol=rtol)


def test_rbf_row_sums_refuse_a_zero_or_nan_bandwidth() -> None:
    real, generated = _grid(7, 10, 3, 5), _grid(8, 12, 3, 5)
    _, _, among, to_real = _screens(generated, real)
    with pytest.raises(ValueError, match=r"MMD: kernel bandwidth sigma .* got sigma=0\.0"):
        RBFKernelRowSums(among, to_real, 0.0)
    with pytest.raises(ValueError, match="got sigma=nan"):
        RBFKernelRowSums(among, to_real, float("nan"))
