"""Memorisation: copies flagged, fresh draws not, duplicates guarded, errors."""

from __future__ import annotations

import numpy as np
import pytest

from genbench.metrics.memorisation import TrainingNeighbours, memorisation


def _gaussian(seed: int, n: int, d: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


def test_copies_of_training_points_are_flagged():
    train = _gaussian(0, 400, 16)
    result = memorisation(train, train[::3].copy())
    assert result == {"memorisation_fraction": 1.0, "memorisation_median_ratio": 0.0}


def test_fresh_draws_are_not_flagged():
    train = _gaussian(1, 400, 8)
    result = memorisation(train, _gaussian(2, 300, 8))
    assert result["memorisation_fraction"] < 0.05
    assert 0.7 < result["memorisation_median_ratio"] < 1.5


def test_half_copies_give_half():
    train = _gaussian(3, 300, 8)
    generated = np.vstack([train[:100], _gaussian(4, 100, 8)])
    assert memorisation(train, generated)["memorisation_fraction"] == pytest.approx(0.5, abs=0.02)


def test_ratio_closed_form_and_strict_threshold():
    train = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])
    generated = np.array([[1.0, 0.0]])  # nearest (0, 0) at 1; its own neighbour at 3
    assert memorisation(train, generated) == {
        "memorisation_fraction": 0.0,  # ratio 1/3 is not below 1/3
        "memorisation_median_ratio": pytest.approx(1 / 3, rel=1e-15),
    }
    assert memorisation(train, generated, threshold=0.34)["memorisation_fraction"] == 1.0


def test_duplicate_training_points_use_the_nearest_distinct_point():
    train = np.array([[0.0, 0.0], [0.0, 0.0], [3.0, 0.0], [0.0, 4.0], [3.0, 0.0]])
    neighbours = TrainingNeighbours.from_features(train)
    assert neighbours.features.shape == (3, 2)
    np.testing.assert_array_equal(np.sort(neighbours.nearest_distances), [3.0, 3.0, 4.0])
    result = memorisation(train, np.array([[1.0, 0.0], [0.0, 0.0]]))
    assert result["memorisation_fraction"] == 0.5
    assert np.isfinite(result["memorisation_median_ratio"])


def test_equals_exact_float64_brute_force_far_from_the_origin():
    # Points 5 from the origin and about 0.001 apart: nearest neighbours and
    # their distances are the exact ones (float64 coordinate differences,
    # lowest index on ties), not those of the cancelling inner-product formula.
    rng = np.random.default_rng(7)
    angles = rng.uniform(0, 2 * np.pi, 600)
    ring = 5.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    train = (ring[:400] + 0.002 * rng.standard_normal((400, 2))).astype(np.float32)
    generated = (ring[400:] + 0.002 * rng.standard_normal((200, 2))).astype(np.float32)
    unique = np.unique(train.astype(np.float64), axis=0)
    among = ((unique[:, None, :] - unique[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(among, np.inf)
    own = np.sqrt(among.min(axis=1))
    to_train = ((generated.astype(np.float64)[:, None, :] - unique[None, :, :]) ** 2).sum(-1)
    nearest = to_train.argmin(axis=1)
    ratio = np.sqrt(to_train.min(axis=1)) / own[nearest]
    neighbours = TrainingNeighbours.from_features(train)
    np.testing.assert_array_equal(neighbours.nearest_distances, own)
    assert memorisation(train, generated, threshold=0.5) == {
        "memorisation_fraction": float(np.mean(ratio < 0.5)),
        "memorisation_median_ratio": float(np.median(ratio)),
    }


def test_errors():
    train = _gaussian(5, 10, 4)
    with pytest.raises(ValueError, match="at least two distinct training points, got 1"):
        memorisation(np.ones((5, 4)), train)
    with pytest.raises(ValueError, match="different feature dimensions: 3 vs 4"):
        memorisation(train, _gaussian(6, 5, 3))
    bad = train.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="training features contains NaN"):
        memorisation(bad, train)
    for threshold in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="threshold must be a positive finite number"):
            memorisation(train, train, threshold=threshold)
    with pytest.raises(ValueError, match="nearest_distances must be finite and positive"):
        TrainingNeighbours(train, np.zeros(10))
