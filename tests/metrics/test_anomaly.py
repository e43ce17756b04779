"""Likelihood anomaly AUROC: closed-form cases, ties, scikit-learn, the
bootstrap interval, errors."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from genbench.metrics.anomaly import anomaly_auroc, anomaly_auroc_interval, per_dimension
from genbench.metrics.info import METRICS


def test_perfect_separation_is_one_and_reversed_is_zero():
    test, shifted = np.array([-1.0, -1.5, -2.0]), np.array([-3.0, -4.0])
    assert anomaly_auroc(test, shifted) == 1.0
    assert anomaly_auroc(shifted, test) == 0.0


def test_identical_scores_are_one_half():
    assert anomaly_auroc(np.full(5, -2.0), np.full(7, -2.0)) == 0.5
    same = np.array([-1.0, -2.0, -3.0])
    assert anomaly_auroc(same, same) == 0.5


def test_a_hand_case_counts_ties_half():
    # pairs (test, shifted): (-1 vs -2) win, (-1 vs -1) tie, (-3 vs -2) loss, (-3 vs -1) loss,
    # (-2 vs -2) tie, (-2 vs -1) loss: (1 + 0.5 + 0.5) / 6
    test, shifted = np.array([-1.0, -3.0, -2.0]), np.array([-2.0, -1.0])
    assert anomaly_auroc(test, shifted) == pytest.approx(2.0 / 6.0, abs=1e-15)


def test_matches_scikit_learn_with_ties():
    rng = np.random.default_rng(0)
    test = np.round(rng.normal(0.5, 1.0, 300), 1)  # rounded: many ties
    shifted = np.round(rng.normal(0.0, 1.0, 200), 1)
    labels = np.r_[np.ones(300), np.zeros(200)]
    expected = roc_auc_score(labels, np.r_[test, shifted])
    assert anomaly_auroc(test, shifted) == pytest.approx(expected, abs=1e-12)


def test_interval_brackets_the_estimate_and_is_seeded():
    rng = np.random.default_rng(1)
    test, shifted = rng.normal(1.0, 1.0, 400), rng.normal(0.0, 1.0, 300)
    interval = anomaly_auroc_interval(test, shifted)
    estimate = anomaly_auroc(test, shifted)
    assert interval.low < estimate < interval.high and interval.resamples == 200
    assert "400 test and 300 shifted examples" in interval.method
    # The Mann-Whitney standard error under H1 (Hanley & McNeil 1982) is about 0.02 here.
    q1, q2 = estimate / (2 - estimate), 2 * estimate**2 / (1 + estimate)
    hanley = np.sqrt(
        (estimate * (1 - estimate) + 399 * (q1 - estimate**2) + 299 * (q2 - estimate**2))
        / (400 * 300)
    )
    assert interval.se == pytest.approx(hanley, rel=0.25)
    assert anomaly_auroc_interval(test, shifted) == interval


def test_perfect_separation_has_no_spread():
    interval = anomaly_auroc_interval(np.array([-1.0, -1.1, -1.2]), np.array([-5.0, -6.0]))
    assert interval.se == 0.0 and interval.low == interval.high == 1.0


def test_per_dimension_divides_by_each_examples_count():
    scores = per_dimension(np.array([-784.0, -30.0]), np.array([784, 10]))
    np.testing.assert_array_equal(scores, [-1.0, -3.0])


@pytest.mark.parametrize(
    ("test", "shifted", "message"),
    [
        ([], [-1.0], r"inlier scores must be a non-empty 1-D array, got shape \(0,\)"),
        ([-1.0], [], r"shifted scores must be a non-empty 1-D array, got shape \(0,\)"),
        ([[-1.0]], [-1.0], r"inlier scores must be a non-empty 1-D array, got shape \(1, 1\)"),
        ([-1.0, np.nan], [-1.0], r"inlier scores contains NaN or infinite values \(first at"),
        ([-1.0], [np.inf], r"shifted scores contains NaN or infinite values \(first at"),
    ],
)
def test_bad_scores_raise(test, shifted, message):
    with pytest.raises(ValueError, match=message):
        anomaly_auroc(np.asarray(test, dtype=float), np.asarray(shifted, dtype=float))


def test_bootstrap_needs_two_scores_a_side():
    with pytest.raises(ValueError, match="the bootstrap needs at least 2 samples, got 1"):
        anomaly_auroc_interval(np.array([-1.0]), np.array([-2.0, -3.0]))


@pytest.mark.parametrize(
    ("nats", "dims", "message"),
    [
        ([-1.0, -2.0], [1], r"nats has shape \(2,\) but dims has shape \(1,\)"),
        ([-1.0], [0], r"every example needs at least one dimension"),
        ([np.nan], [1], "nats contains NaN"),
    ],
)
def test_per_dimension_rejects_bad_counts(nats, dims, message):
    with pytest.raises(ValueError, match=message):
        per_dimension(np.asarray(nats), np.asarray(dims))


def test_every_anomaly_metric_is_a_higher_is_better_likelihood_probability():
    names = [name for name in METRICS if name.startswith("anomaly_auroc_")]
    assert set(names) == {
        "anomaly_auroc_inverted",
        "anomaly_auroc_shrunk",
        "anomaly_auroc_uniform",
        "anomaly_auroc_white_noise",
        "anomaly_auroc_reversed",
        "anomaly_auroc_shuffled",
    }
    for name in names:
        info = METRICS[name]
        assert (info.unit, info.higher_is_better, info.kind) == ("probability", True, "likelihood")
