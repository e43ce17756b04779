"""Authenticity: expected values for fresh data, memorised subsets, the definition."""

from __future__ import annotations

import math

import numpy as np
import pytest

from genbench.metrics.authenticity import (
    authentic_from_distances,
    authentic_samples,
    authenticity,
)
from genbench.metrics.memorisation import TrainingNeighbours, memorisation_against


def test_definition_transcribed():
    rng = np.random.default_rng(0)
    train, generated = rng.normal(size=(50, 3)), rng.normal(size=(40, 3))
    expected = []
    for g in generated:
        distances = [np.linalg.norm(g - t) for t in train]
        i = int(np.argmin(distances))
        rho = min(np.linalg.norm(train[i] - train[j]) for j in range(50) if j != i)
        expected.append(distances[i] >= rho)
    np.testing.assert_array_equal(authentic_samples(train, generated, block_size=7), expected)


def test_equals_one_minus_memorisation_fraction_at_threshold_one():
    rng = np.random.default_rng(1)
    train, generated = rng.normal(size=(300, 5)), rng.normal(size=(200, 5))
    prepared = TrainingNeighbours.from_features(train)
    memorised = memorisation_against(prepared, generated, threshold=1.0)
    assert authenticity(prepared, generated) == 1 - memorised["memorisation_fraction"]


@pytest.mark.parametrize(
    ("dimension", "expected"),
    # 1 - the fraction of points in reciprocal nearest-neighbour pairs of a
    # Poisson process: 2/3 on a line, 6π/(8π + 3√3) in the plane
    [(1, 1 / 3), (2, 1 - 6 * math.pi / (8 * math.pi + 3 * math.sqrt(3)))],
)
def test_held_out_data_has_its_expected_authenticity(dimension, expected):
    rng = np.random.default_rng(2)
    train = rng.uniform(size=(4000, dimension))
    held_out = rng.uniform(size=(4000, dimension))
    assert authenticity(train, held_out) == pytest.approx(expected, abs=0.03)


@pytest.mark.parametrize("copied", [0.1, 0.5])
def test_memorised_subset_lowers_authenticity_by_its_fraction(copied):
    rng = np.random.default_rng(3)
    train = rng.normal(size=(1000, 8))
    fresh = rng.normal(size=(1000, 8))
    k = int(copied * len(fresh))
    mixed = fresh.copy()
    mixed[:k] = train[rng.choice(1000, k, replace=False)]
    fresh_flags = authentic_samples(train, fresh)
    mixed_flags = authentic_samples(train, mixed)
    assert not mixed_flags[:k].any()  # exact copies are never authentic
    np.testing.assert_array_equal(mixed_flags[k:], fresh_flags[k:])
    assert authenticity(train, mixed) == pytest.approx(fresh_flags[k:].sum() / 1000)
    assert authenticity(train, mixed) == pytest.approx(
        (1 - copied) * fresh_flags[k:].mean(), abs=1e-12
    )


def test_bad_inputs():
    with pytest.raises(ValueError, match="one distance and one training radius"):
        authentic_from_distances(np.ones(3), np.ones(2))
    with pytest.raises(ValueError, match=r"at least 1 generated sample \(M\), got M=0"):
        authentic_from_distances(np.ones(0), np.ones(0))
    with pytest.raises(ValueError, match="two distinct training points"):
        authenticity(np.ones((4, 2)), np.zeros((3, 2)))
