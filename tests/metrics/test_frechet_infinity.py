"""FD∞ recovers the sample-size-free Fréchet distance and refuses too few
samples."""

from __future__ import annotations

import numpy as np
import pytest

from genbench.metrics.frechet import frechet_distance, frechet_statistics
from genbench.metrics.frechet_infinity import (
    MIN_SAMPLES,
    frechet_distance_infinity,
    subset_sizes,
)


def test_subset_sizes_follow_the_protocol():
    sizes = subset_sizes(1000)
    assert sizes[0] == 200 and sizes[-1] == 1000 and len(sizes) == 10
    assert np.all(np.diff(sizes) > 0)


def test_too_few_samples_name_the_metric_and_the_minimum():
    with pytest.raises(ValueError, match=rf"FD∞ needs at least {MIN_SAMPLES} .* got M = 99"):
        subset_sizes(99)


def test_fd_infinity_removes_the_small_sample_bias():
    rng = np.random.default_rng(0)
    d = 16
    real = frechet_statistics(rng.normal(size=(20000, d)))  # close to N(0, I)
    generated = rng.normal(0.0, 1.0, size=(1000, d)) + 0.5  # true FD = d * 0.25 = 4
    naive = frechet_distance(real, frechet_statistics(generated))
    infinite = frechet_distance_infinity(real, generated)
    # the naive value carries a positive bias of order d / M; the intercept removes most of it
    assert naive > 4.0
    assert abs(infinite.value - 4.0) < abs(naive - 4.0)
    assert 0 < infinite.se < 0.5
    assert infinite == frechet_distance_infinity(real, generated)  # seeded, repeatable
