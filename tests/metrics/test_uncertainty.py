"""Intervals, the combination of seeds and the test between two models,
pinned by closed forms and by their error rates on simulated data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from genbench.metrics.uncertainty import (
    Interval,
    SeedSummary,
    bootstrap_indices,
    bootstrap_interval,
    combine_seeds,
    difference_test,
    holm_adjusted,
    rank_groups,
    same_model_test,
    standard_error_interval,
)

Z = 1.959963984540054


def test_bootstrap_indices_are_seeded_and_in_range():
    first, again = bootstrap_indices(50, 20), bootstrap_indices(50, 20)
    assert first.shape == (20, 50) and np.array_equal(first, again)
    assert first.min() >= 0 and first.max() < 50
    assert not np.array_equal(first, bootstrap_indices(50, 20, seed=1))


@pytest.mark.parametrize(
    ("n", "resamples", "message"), [(1, 10, "2 samples"), (5, 1, "2 resamples")]
)
def test_bootstrap_refuses_degenerate_sizes(n, resamples, message):
    with pytest.raises(ValueError, match=message):
        bootstrap_indices(n, resamples)


def test_bootstrap_interval_of_a_mean_matches_the_standard_error():
    values = np.random.default_rng(0).normal(3.0, 2.0, size=2000)
    replicates = values[bootstrap_indices(2000, 400)].mean(axis=1)
    interval = bootstrap_interval(values.mean(), replicates, "test")
    exact_se = values.std(ddof=1) / math.sqrt(2000)
    assert interval.se == pytest.approx(exact_se, rel=0.1)
    assert interval.high - interval.low == pytest.approx(2 * Z * interval.se)
    assert (interval.low + interval.high) / 2 == pytest.approx(values.mean())
    assert interval.resamples == 400 and interval.method.startswith("test")


def test_bootstrap_interval_is_centred_on_the_estimate_not_the_replicates():
    # replicates sitting below the estimate (as recall's do) keep their spread only
    interval = bootstrap_interval(10.0, np.array([6.0, 7.0, 8.0]), "m")
    assert interval.se == pytest.approx(1.0)
    assert (interval.low, interval.high) == pytest.approx((10 - Z, 10 + Z))


def test_standard_error_interval_is_normal():
    values = np.array([1.0, 2.0, 3.0, 4.0])
    interval = standard_error_interval(values, "m")
    se = values.std(ddof=1) / 2
    assert interval.se == pytest.approx(se)
    assert (interval.low, interval.high) == pytest.approx((2.5 - Z * se, 2.5 + Z * se))


def test_interval_round_trips_through_its_stored_form():
    interval = Interval(1.0, 2.0, 0.25, 200, "bootstrap")
    assert Interval.from_dict(interval.to_dict()) == interval


def test_combining_seeds_takes_the_larger_variance():
    # seed spread dominates: var (1, 3) = 2, over 2 seeds; Student's t with 1 df
    spread = combine_seeds([1.0, 3.0], [0.1, 0.1])
    assert spread.mean == 2.0 and spread.se == pytest.approx(1.0) and spread.df == 1
    assert spread.half_width == pytest.approx(12.706205, rel=1e-6)
    # the bootstrap dominates identical seeds: mean se^2 = 4, over 2 seeds
    sampling = combine_seeds([2.0, 2.0], [2.0, 2.0])
    assert sampling.se == pytest.approx(math.sqrt(2.0)) and math.isinf(sampling.df)
    assert sampling.half_width == pytest.approx(Z * math.sqrt(2.0))
    # one seed: its bootstrap standard error alone
    assert combine_seeds([5.0], [0.5]).se == 0.5
    with pytest.raises(ValueError, match="one standard error per value"):
        combine_seeds([1.0, 2.0], [0.1])


def test_difference_test_closed_form():
    a, b = SeedSummary(10.0, 3.0, 0.0, 3), SeedSummary(2.0, 4.0, 0.0, 3)
    diff = difference_test(a, b)
    assert diff.estimate == 8.0 and diff.se == pytest.approx(5.0)
    assert diff.p_value == pytest.approx(0.1095986, rel=1e-5)  # 2 (1 - Phi(1.6))
    assert (diff.low, diff.high) == pytest.approx((8 - Z * 5, 8 + Z * 5))
    assert not diff.separated(0.05) and diff.separated(0.2)


def test_difference_test_uses_welch_degrees_of_freedom():
    a, b = SeedSummary(4.0, 1.0, 0.0, 3, df=2), SeedSummary(0.0, 1.0, 0.0, 3, df=2)
    diff = difference_test(a, b)
    # df = (1 + 1)^2 / (1/2 + 1/2) = 4; t = 4 / sqrt(2)
    assert diff.p_value == pytest.approx(0.0474, abs=5e-4)


def test_same_model_test_pools_the_two_sides_variance():
    # per-seed variances 3 * 1^2 and 3 * 0.5^2 pool to 1.875; se = sqrt(1.875 * 2 / 3)
    a, b = SeedSummary(3.0, 1.0, 0.0, 3, df=2), SeedSummary(0.0, 0.5, 0.0, 3, df=2)
    diff = same_model_test(a, b)
    assert diff.se == pytest.approx(math.sqrt(1.25))
    assert diff.p_value == pytest.approx(0.05504, abs=1e-5)  # t = 2.683 with 4 df


def test_holm_adjustment_closed_form():
    adjusted = holm_adjusted([0.01, 0.04, math.nan, 0.03, 0.5])
    # sorted 0.01, 0.03, 0.04, 0.5 times 4, 3, 2, 1, made monotone
    assert adjusted[0] == pytest.approx(0.04) and adjusted[3] == pytest.approx(0.09)
    assert adjusted[1] == pytest.approx(0.09) and adjusted[4] == pytest.approx(0.5)
    assert math.isnan(adjusted[2])


def _simulated_summary(rng, mean, seeds=3, seed_sd=1.0, sample_se=0.5):
    values = mean + rng.normal(0, seed_sd, seeds) + rng.normal(0, sample_se, seeds)
    return combine_seeds(values, np.full(seeds, sample_se))


def test_false_alarm_rate_and_power_on_simulated_models():
    rng = np.random.default_rng(7)
    trials = 4000
    alarms = sum(
        difference_test(_simulated_summary(rng, 0.0), _simulated_summary(rng, 0.0)).separated(0.05)
        for _ in range(trials)
    )
    detected = sum(
        difference_test(_simulated_summary(rng, 0.0), _simulated_summary(rng, 5.0)).separated(0.05)
        for _ in range(trials)
    )
    # measured: 3.9 % false alarms at the nominal 5 %, 98 % power for a shift of 5
    assert alarms / trials < 0.06
    assert detected / trials > 0.9


def test_rank_groups_chain_unseparated_neighbours():
    rows = [
        SeedSummary(1.0, 0.01, 0, 3),
        SeedSummary(1.01, 0.01, 0, 3),  # not separated from the first
        SeedSummary(5.0, 0.01, 0, 3),
        SeedSummary(9.0, 0.01, 0, 3),
        SeedSummary(9.02, 0.01, 0, 3),
    ]
    assert rank_groups(rows, 0.05) == [(1, 2), (1, 2), (3, 3), (4, 5), (4, 5)]
