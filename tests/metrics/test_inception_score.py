"""Classifier Inception Score: closed forms, torch-fidelity agreement, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_fidelity.metric_isc import isc_features_to_metric

from genbench.metrics.inception_score import classifier_inception_score


def _softmax_rows(seed: int, n: int, classes: int) -> np.ndarray:
    logits = 3.0 * np.random.default_rng(seed).standard_normal((n, classes))
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def test_one_hot_uniform_over_classes_gives_class_count():
    classes = 7
    probs = np.tile(np.eye(classes), (40, 1))
    assert classifier_inception_score(probs, splits=1) == pytest.approx((7.0, 0.0), abs=1e-12)
    # Unshuffled chunks of 4 * 7 rows each hold every class equally often.
    mean, std = classifier_inception_score(probs, splits=10, seed=None)
    assert mean == pytest.approx(7.0, rel=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_identical_rows_give_one():
    probs = np.tile([0.2, 0.5, 0.3], (50, 1))
    mean, std = classifier_inception_score(probs)
    assert mean == pytest.approx(1.0, abs=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(("n", "splits"), [(1003, 10), (500, 7), (64, 1)])
def test_matches_torch_fidelity_given_log_probabilities_as_logits(n, splits):
    probs = _softmax_rows(n, n, 10)
    expected = isc_features_to_metric(torch.from_numpy(np.log(probs)), splits=splits)
    mean, std = classifier_inception_score(probs, splits=splits)
    assert mean == pytest.approx(expected["inception_score_mean"], rel=1e-10)
    assert std == pytest.approx(expected["inception_score_std"], rel=1e-8, abs=1e-12)


def test_float32_rows_are_renormalised_in_float64():
    # A float32 softmax sums to 1 only within about 1e-7 per row; the score
    # is that of the renormalised distributions, as torch-fidelity computes
    # it from the logits log(p).
    logits = 3.0 * np.random.default_rng(7).standard_normal((500, 10)).astype(np.float32)
    probs32 = torch.softmax(torch.from_numpy(logits), dim=1).numpy()
    sums = probs32.astype(np.float64).sum(axis=1)
    assert 1e-8 < np.abs(sums - 1).max() < 1e-6
    renormalised = probs32.astype(np.float64) / sums[:, None]
    expected = isc_features_to_metric(torch.from_numpy(np.log(renormalised)), splits=10)
    mean, std = classifier_inception_score(probs32)
    assert mean == pytest.approx(expected["inception_score_mean"], rel=1e-12)
    assert std == pytest.approx(expected["inception_score_std"], rel=1e-9)


def test_rows_off_by_a_factor_within_tolerance_give_the_same_score():
    probs = _softmax_rows(8, 300, 6)
    factors = 1.0 + 9e-7 * np.random.default_rng(9).uniform(-1, 1, (300, 1))
    exact = classifier_inception_score(probs)
    assert classifier_inception_score(probs * factors) == pytest.approx(exact, rel=1e-13)


def test_rows_are_shuffled_before_splitting_like_torch_fidelity():
    # Sorted by class: unshuffled chunks each hold one class (score 1).
    probs = np.repeat(np.eye(5), 20, axis=0)
    unshuffled, _ = classifier_inception_score(probs, splits=5, seed=None)
    shuffled, _ = classifier_inception_score(probs, splits=5)
    assert unshuffled == pytest.approx(1.0)
    assert shuffled > 3.0


def test_zero_probabilities_are_fine():
    probs = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [1.0, 0.0]])
    mean, _ = classifier_inception_score(probs, splits=1)
    assert np.isfinite(mean) and mean > 1.0


def test_errors():
    good = _softmax_rows(0, 20, 3)
    with pytest.raises(ValueError, match=r"row 4 sums to 1\.5"):
        classifier_inception_score(np.vstack([good[:4], [[0.5, 0.5, 0.5]]]))
    with pytest.raises(ValueError, match="negative entries"):
        classifier_inception_score(np.array([[1.5, -0.5], [0.5, 0.5]]), splits=1)
    nan = good.copy()
    nan[1, 1] = np.nan
    with pytest.raises(ValueError, match="probs contains NaN"):
        classifier_inception_score(nan)
    with pytest.raises(
        ValueError, match=r"splits \(21\) cannot exceed the number of samples \(20\)"
    ):
        classifier_inception_score(good, splits=21)
    with pytest.raises(ValueError, match="splits must be at least 1, got 0"):
        classifier_inception_score(good, splits=0)
    with pytest.raises(ValueError, match="must be a 2-D array"):
        classifier_inception_score(good[0])
