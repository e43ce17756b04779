"""Realism and rarity scores: the definitions transcribed, closed cases."""

from __future__ import annotations

import numpy as np
import pytest

from genbench.metrics.sample_scores import rarity_scores, realism_scores


def _radii(real, k):
    out = []
    for i in range(len(real)):
        distances = sorted(np.linalg.norm(real[i] - real[j]) for j in range(len(real)) if j != i)
        out.append(distances[k - 1])
    return np.array(out)


@pytest.mark.parametrize("k", [1, 3])
def test_realism_transcribed(k):
    rng = np.random.default_rng(k)
    real, generated = rng.normal(size=(31, 4)), 1.3 * rng.normal(size=(20, 4))
    radii = _radii(real, k)
    median = np.percentile(radii, 50)
    expected = [
        max(
            radii[i] / (np.linalg.norm(g - real[i]) + 1e-5) for i in range(31) if radii[i] <= median
        )
        for g in generated
    ]
    np.testing.assert_allclose(
        realism_scores(real, generated, k=k, block_size=6), expected, rtol=1e-12
    )


@pytest.mark.parametrize("k", [1, 3])
def test_rarity_transcribed(k):
    rng = np.random.default_rng(10 + k)
    real, generated = rng.normal(size=(31, 2)), 1.5 * rng.normal(size=(40, 2))
    radii = _radii(real, k)
    expected = []
    for g in generated:
        containing = [radii[i] for i in range(31) if np.linalg.norm(g - real[i]) < radii[i]]
        expected.append(min(containing) if containing else np.nan)
    ours = rarity_scores(real, generated, k=k, block_size=6)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(expected))
    assert np.isnan(ours).any() and not np.isnan(ours).all()
    np.testing.assert_allclose(ours, expected, rtol=1e-12)


def test_closed_cases_on_a_line():
    # real points 0, 1, 2, 3, 10 with k = 1: radii 1, 1, 1, 1, 7
    real = np.array([[0.0], [1.0], [2.0], [3.0], [10.0]])
    generated = np.array([[0.5], [8.0], [30.0]])
    rarity = rarity_scores(real, generated, k=1)
    assert rarity[0] == 1.0  # inside the unit balls of 0 and 1
    assert rarity[1] == 7.0  # only inside the wide ball of the outlier
    assert np.isnan(rarity[2])
    # realism keeps radii <= median (1): the outlier's ball is discarded
    realism = realism_scores(real, generated, k=1, eps=0.0)
    np.testing.assert_allclose(realism, [1 / 0.5, 1 / 5.0, 1 / 27.0])


def test_precomputed_radii_and_errors():
    rng = np.random.default_rng(5)
    real, generated = rng.normal(size=(20, 3)), rng.normal(size=(5, 3))
    radii = _radii(real, 3)
    np.testing.assert_allclose(
        realism_scores(real, generated, real_radii=radii), realism_scores(real, generated)
    )
    with pytest.raises(ValueError, match=r"realism score with k=3 needs at least 4 real samples"):
        realism_scores(real[:3], generated)
    with pytest.raises(ValueError, match=r"rarity score with k=5 needs at least 6 real samples"):
        rarity_scores(real[:5], generated, k=5)
    with pytest.raises(ValueError, match=r"real_radii must have shape \(20,\)"):
        rarity_scores(real, generated, real_radii=radii[:3])
