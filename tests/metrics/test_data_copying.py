"""The C_T data-copying test: memorisers flagged, held-out data not, the
statistic transcribed, scipy's U, bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import mannwhitneyu, norm

from genbench.metrics.data_copying import (
    assign_cells,
    copying_test,
    copying_test_from_distances,
    fit_cells,
    mann_whitney_z,
)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return {
        "train": rng.normal(size=(2000, 6)),
        "test": rng.normal(size=(1000, 6)),
        "fresh": rng.normal(size=(1000, 6)),
        "rng": rng,
    }


def test_memoriser_is_flagged_and_held_out_data_is_not(data):
    train, test = data["train"], data["test"]
    memoriser = copying_test(train, test, train[:1000])
    assert memoriser.statistic < -10
    assert memoriser.copying
    assert memoriser.p_value < 1e-20
    noisy_copies = train[:1000] + 0.01 * data["rng"].normal(size=(1000, 6))
    assert copying_test(train, test, noisy_copies).copying
    honest = copying_test(train, test, data["fresh"])
    assert abs(honest.statistic) < 2.5
    assert not honest.copying
    assert honest.p_value > 0.01


def test_underfitting_is_strongly_positive_and_not_copying(data):
    result = copying_test(data["train"], data["test"], 1.5 * data["fresh"])
    assert result.statistic > 5
    assert not result.copying


def test_partial_memoriser_is_more_negative_than_honest(data):
    train, test, fresh = data["train"], data["test"], data["fresh"]
    half = np.vstack([train[:500], fresh[:500]])
    assert copying_test(train, test, half).statistic < copying_test(train, test, fresh).statistic


def test_u_statistic_matches_scipy():
    rng = np.random.default_rng(1)
    q, p = rng.exponential(size=37), rng.exponential(size=51) + 0.1
    q[:5] = p[:5]  # ties across the sides
    u = mannwhitneyu(q, p, alternative="less").statistic
    m, n = len(q), len(p)
    expected = (u - m * n / 2 + 0.5) / math.sqrt(m * n * (m + n + 1) / 12)
    assert mann_whitney_z(q, p) == pytest.approx(expected, rel=1e-14)


def test_statistic_transcribed_from_cells():
    """C_T = Σ P_n(π) Z_π / Σ P_n(π) over cells holding more than τ generated
    samples, Z_π by the pairwise count U = #{L(q) > L(p)} + ½ #{ties}."""
    rng = np.random.default_rng(2)
    cells, tau = 4, 5
    p_dist, q_dist = rng.exponential(size=90), rng.exponential(size=80)
    p_cell, q_cell = rng.integers(0, cells, 90), rng.integers(0, cells, 80)
    q_cell[:4] = 3
    q_cell[q_cell == 3] = np.where(np.arange((q_cell == 3).sum()) < 4, 3, 0)  # cell 3: 4 <= τ
    num = den = 0.0
    zs, ws = [], []
    for c in range(cells):
        qs, ps = q_dist[q_cell == c], p_dist[p_cell == c]
        if len(qs) <= tau or len(ps) == 0:
            continue
        u = sum((a > b) + 0.5 * (a == b) for a in qs for b in ps)
        m, n = len(qs), len(ps)
        z = (u - m * n / 2 + 0.5) / math.sqrt(m * n * (m + n + 1) / 12)
        w = len(ps) / len(p_dist)
        num, den = num + w * z, den + w
        zs.append(z)
        ws.append(w)
    result = copying_test_from_distances(p_dist, p_cell, q_dist, q_cell, cells, tau=tau)
    assert result.cells_used == len(zs) == 3
    assert math.isnan(result.cell_z[3])
    assert result.statistic == pytest.approx(num / den, rel=1e-12)
    standardised = np.dot(ws, zs) / math.sqrt(np.dot(ws, ws))
    assert result.p_value == pytest.approx(norm.cdf(standardised), rel=1e-12)


def test_precomputed_cells_and_within_cell_variant(data):
    train, test, fresh = data["train"], data["test"], data["fresh"]
    centres = fit_cells(train, 10, seed=0)
    given = copying_test(train, test, fresh, centres=centres)
    fitted = copying_test(train, test, fresh)
    assert given.statistic == fitted.statistic
    np.testing.assert_array_equal(given.cell_z, fitted.cell_z)
    labels = assign_cells(train, centres)
    assert set(np.unique(labels)) == set(range(10))
    within = copying_test(train, test, train[:1000], within_cell=True)
    assert within.copying and within.statistic < -10


def test_too_few_samples_for_the_partition_name_metric_count_and_minimum(data):
    train, test = data["train"], data["test"]
    with pytest.raises(
        ValueError,
        match=r"C_T needs at least 210 generated samples \(M\) for 10 cells of more than "
        r"20 each, got M=100",
    ):
        copying_test(train, test, data["fresh"][:100])
    with pytest.raises(
        ValueError, match=r"C_T needs at least 105 held-out test samples \(N\) .* got N=50"
    ):
        copying_test(train, test[:50], data["fresh"], cells=5)
    with pytest.raises(ValueError, match="C_T needs at least 10 training samples for 10 cells"):
        fit_cells(train[:5], 10)
