"""RBF-kernel MMD (CMMD construction): closed forms, a double loop, bad bandwidths."""

from __future__ import annotations

import math

import numpy as np
import pytest

from genbench.metrics.mmd import CMMD_SCALE, mmd_rbf, rbf_kernel_sum


def _k(a, b, sigma):
    return math.exp(-float(np.sum((a - b) ** 2)) / (2 * sigma**2))


def _double_loop(x, y, sigma, biased=False):
    n, m = len(x), len(y)
    xx = sum(_k(x[i], x[j], sigma) for i in range(n) for j in range(n) if biased or i != j)
    yy = sum(_k(y[i], y[j], sigma) for i in range(m) for j in range(m) if biased or i != j)
    xy = sum(_k(x[i], y[j], sigma) for i in range(n) for j in range(m))
    if biased:
        return xx / n**2 + yy / m**2 - 2 * xy / (n * m)
    return xx / (n * (n - 1)) + yy / (m * (m - 1)) - 2 * xy / (n * m)


@pytest.mark.parametrize("biased", [False, True])
@pytest.mark.parametrize("sigma", [0.7, 10.0])
def test_matches_double_loop(sigma, biased):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(23, 5)), rng.normal(size=(17, 5)) + 0.4
    result = mmd_rbf(x, y, sigma, biased=biased, block_size=4)
    expected = _double_loop(x, y, sigma, biased)
    assert result.mmd2 == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert result.value == pytest.approx(CMMD_SCALE * expected, rel=1e-12, abs=1e-12)
    assert (result.sigma, result.scale, result.biased) == (sigma, 1000.0, biased)
    assert (result.n_real, result.n_generated) == (23, 17)


def test_two_point_sets_in_closed_form():
    # x = {0, 1}, y = {0, 3} on a line, sigma = 1:
    # unbiased: k(0,1) + k(0,3) - (2/4)(1 + k(0,3) + k(1,0) + k(1,3))
    x, y = np.array([[0.0], [1.0]]), np.array([[0.0], [3.0]])
    e = math.exp
    expected = e(-0.5) + e(-4.5) - 0.5 * (1 + e(-4.5) + e(-0.5) + e(-2.0))
    assert mmd_rbf(x, y, 1.0).mmd2 == pytest.approx(expected, rel=1e-14)


def test_identical_sets_near_zero_and_unbiased():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 8))
    same = mmd_rbf(x, x.copy(), 3.0)
    # unbiased on identical sets: 2 (S/(n(n-1)) - (S + n)/n^2), S the off-diagonal sum
    s = rbf_kernel_sum(x, sigma=3.0)
    n = len(x)
    assert same.mmd2 == pytest.approx(2 * (s / (n * (n - 1)) - (s + n) / n**2), rel=1e-9)
    assert abs(same.mmd2) < 1e-2
    # two draws of one distribution average to ~0 (unbiased), far sets are large
    draws = [mmd_rbf(x, rng.normal(size=(300, 8)), 3.0).mmd2 for _ in range(5)]
    assert abs(np.mean(draws)) < 3 * np.std(draws) + 1e-3
    assert mmd_rbf(x, rng.normal(size=(300, 8)) + 5, 3.0).mmd2 > 0.5


def test_precomputed_real_sum_gives_the_same_value():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(40, 3)), rng.normal(size=(30, 3))
    pre = rbf_kernel_sum(x, sigma=2.0)
    assert mmd_rbf(x, y, 2.0, real_kernel_sum=pre) == mmd_rbf(x, y, 2.0)


@pytest.mark.parametrize("sigma", [0, 0.0, -2.0, float("nan")])
def test_bandwidth_refused_with_its_value(sigma):
    x = np.zeros((3, 2))
    with pytest.raises(ValueError, match=rf"MMD: kernel bandwidth .*sigma={sigma!r}"):
        mmd_rbf(x, x, sigma)


def test_too_few_samples_named():
    x = np.random.default_rng(3).normal(size=(5, 2))
    with pytest.raises(ValueError, match=r"MMD needs at least 2 generated samples \(M\), got M=1"):
        mmd_rbf(x, x[:1])
    with pytest.raises(ValueError, match=r"MMD needs at least 2 real samples \(N\), got N=1"):
        mmd_rbf(x[:1], x)
