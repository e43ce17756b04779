"""α-precision, β-recall: closed forms, the definition transcribed, bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from genbench.metrics.alpha_beta import (
    alpha_beta_metrics,
    alpha_precision_curve,
    beta_recall_curve,
    integrated_value,
    level_grid,
)


def _loops(real, generated, levels):
    """The definitions with plain loops (float64, np.linalg.norm distances)."""
    n, m = len(real), len(generated)
    centre = sum(real) / n
    to_centre = sorted(float(np.linalg.norm(x - centre)) for x in real)

    def quantile(values, a):  # numpy's default (linear) quantile of sorted values
        position = a * (len(values) - 1)
        low = math.floor(position)
        high = min(low + 1, len(values) - 1)
        return values[low] + (values[high] - values[low]) * (position - low)

    precision = []
    for a in levels:
        radius = quantile(to_centre, a)
        inside = sum(1 for g in generated if np.linalg.norm(g - centre) <= radius)
        precision.append(inside / m)

    generated_centre = sum(generated) / m
    rho, to_gen, neighbour_centre = [], [], []
    for i in range(n):
        rho.append(min(np.linalg.norm(real[i] - real[j]) for j in range(n) if j != i))
        distances = [np.linalg.norm(real[i] - g) for g in generated]
        j = int(np.argmin(distances))
        to_gen.append(distances[j])
        neighbour_centre.append(np.linalg.norm(generated[j] - generated_centre))
    ordered = sorted(neighbour_centre)
    recall = []
    for b in levels:
        radius = quantile(ordered, b)
        hits = sum(1 for i in range(n) if to_gen[i] <= rho[i] and neighbour_centre[i] <= radius)
        recall.append(hits / n)
    return np.array(precision), np.array(recall)


@pytest.mark.parametrize("seed", [0, 1])
def test_definition_transcribed(seed):
    rng = np.random.default_rng(seed)
    real, generated = rng.normal(size=(40, 3)), 1.2 * rng.normal(size=(35, 3)) + 0.2
    result = alpha_beta_metrics(real, generated, points=11, block_size=7)
    precision, recall = _loops(real, generated, result.levels)
    np.testing.assert_array_equal(result.alpha_precision, precision)
    np.testing.assert_array_equal(result.beta_recall, recall)
    gaps_p = np.abs(precision - result.levels)
    trapezoid = float(np.sum((gaps_p[1:] + gaps_p[:-1]) / 2 * 0.1))
    assert result.delta_precision == pytest.approx(1 - 2 * trapezoid, abs=1e-14)


def test_identical_sets_follow_the_diagonal():
    """With G = R the α-ball holds floor(α(N-1)) + 1 of the N points (linear
    quantile), and every real point is its own nearest generated point."""
    real = np.random.default_rng(2).normal(size=(101, 6))
    result = alpha_beta_metrics(real, real.copy(), points=21)
    expected = (np.floor(result.levels * 100 + 1e-9) + 1) / 101
    np.testing.assert_allclose(result.alpha_precision, expected, atol=1e-12)
    np.testing.assert_allclose(result.beta_recall, expected, atol=1e-12)
    assert np.all(np.abs(result.alpha_precision - result.levels) <= 1 / 101 + 1e-12)
    assert result.delta_precision > 0.98
    assert result.delta_recall > 0.98


def test_disjoint_supports_score_zero():
    rng = np.random.default_rng(3)
    real = rng.normal(size=(200, 4))
    far = rng.normal(size=(150, 4)) + 100.0
    result = alpha_beta_metrics(real, far)
    assert np.all(result.alpha_precision == 0)
    assert np.all(result.beta_recall == 0)
    assert result.delta_precision == pytest.approx(0.0, abs=1e-12)
    assert result.delta_recall == pytest.approx(0.0, abs=1e-12)


def test_collapsed_generator_has_low_recall_not_low_precision():
    rng = np.random.default_rng(4)
    real = rng.normal(size=(400, 4))
    collapsed = 0.05 * rng.normal(size=(400, 4))
    result = alpha_beta_metrics(real, collapsed)
    # everything sits at the centre: inside every α-ball except the tiniest
    assert result.alpha_precision[1:].min() == 1.0
    assert result.beta_recall.max() < 0.1


def test_integrated_value_closed_forms():
    levels = level_grid(5)
    assert integrated_value(levels, levels) == 1.0
    assert integrated_value(np.zeros(5), levels) == pytest.approx(0.0)
    assert integrated_value(np.ones(5), levels) == pytest.approx(0.0)


def test_precomputed_real_neighbours_give_the_same_result():
    rng = np.random.default_rng(5)
    real, generated = rng.normal(size=(60, 3)), rng.normal(size=(50, 3))
    rho = np.array(
        [min(np.linalg.norm(real[i] - real[j]) for j in range(60) if j != i) for i in range(60)]
    )
    a = alpha_beta_metrics(real, generated)
    b = alpha_beta_metrics(real, generated, real_nearest_real=rho)
    np.testing.assert_array_equal(a.beta_recall, b.beta_recall)


def test_too_few_points_name_the_metric_count_and_minimum():
    x = np.zeros((1, 3))
    with pytest.raises(
        ValueError,
        match=r"alpha-precision/beta-recall needs at least 2 real samples \(N\), got N=1",
    ):
        alpha_beta_metrics(x, np.ones((5, 3)))
    with pytest.raises(
        ValueError,
        match=r"alpha-precision/beta-recall needs at least 2 generated samples \(M\), got M=1",
    ):
        alpha_beta_metrics(np.ones((5, 3)), x)
    with pytest.raises(ValueError, match=r"alpha-precision needs at least 2 real samples"):
        alpha_precision_curve(np.ones(1), np.ones(4), level_grid(3))
    with pytest.raises(ValueError, match=r"beta-recall needs at least 2 real samples"):
        beta_recall_curve(np.ones(1), np.ones(1), np.ones(1), level_grid(3))
    with pytest.raises(ValueError, match="points must be at least 2, got 1"):
        alpha_beta_metrics(np.ones((5, 3)), np.ones((5, 3)), points=1)
