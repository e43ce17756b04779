"""The linearised bootstrap of FID and KID against the full bootstrap, and
the neighbour metrics' per-sample contributions against recomputation."""

from __future__ import annotations

import numpy as np
import pytest

from genbench.metrics.engine import prepare_reference, score_samples
from genbench.metrics.frechet import frechet_distance, frechet_statistics
from genbench.metrics.influence import frechet_influence, linearised_replicates
from genbench.metrics.kid import kernel_inception_distance
from genbench.metrics.neighbours import NeighbourCounts, RealNeighbourhood, neighbour_metrics
from genbench.metrics.pairwise import generated_gram_blocks, screening_features
from genbench.metrics.uncertainty import bootstrap_indices, resample_counts


def _features(seed: int, m: int, d: int, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.maximum(rng.normal(shift, 1.0, size=(m, d)), 0.0).astype(np.float32)


def test_resample_counts_count_every_draw():
    indices = np.array([[0, 0, 2], [1, 2, 2]])
    assert resample_counts(indices, 3).tolist() == [[2, 0, 1], [0, 1, 2]]


def test_frechet_influence_matches_the_full_bootstrap():
    real = frechet_statistics(_features(0, 2000, 12))
    generated = _features(1, 400, 12, shift=0.3)
    stats = frechet_statistics(generated)
    value = frechet_distance(real, stats)
    indices = bootstrap_indices(400, 300)
    full = np.array([frechet_distance(real, frechet_statistics(generated[r])) for r in indices])
    linear = linearised_replicates(
        value, frechet_influence(real, stats, generated), resample_counts(indices, 400)
    )
    # same resamples: the linearised replicates track the full ones closely
    assert np.corrcoef(full, linear)[0, 1] > 0.97
    assert linear.std(ddof=1) == pytest.approx(full.std(ddof=1), rel=0.1)


def test_frechet_influence_is_a_derivative():
    real = frechet_statistics(_features(2, 500, 6))
    generated = _features(3, 200, 6, shift=0.5).astype(np.float64)
    stats = frechet_statistics(generated)
    influence = frechet_influence(real, stats, generated)
    # upweighting sample j by eps changes FID by about eps * influence_j
    eps, j = 1e-4, 7
    weights = np.full(200, (1 - eps) / 200)
    weights[j] += eps
    mu = weights @ generated
    centred = generated - mu
    sigma = (centred * weights[:, None]).T @ centred * 200 / 199
    perturbed = frechet_distance(real, type(stats).from_covariance(mu, sigma, 200))
    assert (perturbed - frechet_distance(real, stats)) / eps == pytest.approx(
        influence[j], rel=0.05, abs=0.05
    )


def test_kid_linearised_bootstrap_matches_recomputation():
    real = _features(4, 600, 8)
    generated = _features(5, 300, 8, shift=0.2)
    reference = prepare_reference(real)
    scores = score_samples(reference, generated, resamples=200)
    indices = bootstrap_indices(300, 200)
    full = [kernel_inception_distance(generated[r], real, subset_size=150).mean for r in indices]
    assert scores.intervals["kid_mean"].se == pytest.approx(np.std(full, ddof=1), rel=0.25)


def test_neighbour_contributions_equal_recomputation_on_a_resample():
    real = _features(6, 300, 5)
    generated = _features(7, 250, 5, shift=0.1)
    neighbourhood = RealNeighbourhood.from_features(real)
    counts = NeighbourCounts(neighbourhood, screening_features(generated), per_sample=True)
    for block in generated_gram_blocks(
        screening_features(generated), screening_features(neighbourhood.features)
    ):
        counts.add(block)
    assert counts.result() == neighbour_metrics(neighbourhood, generated)
    rows = bootstrap_indices(250, 3)
    replicates = counts.contributions().replicates(resample_counts(rows, 250))
    for b in range(3):
        direct = neighbour_metrics(neighbourhood, generated[rows[b]])
        # real radii are fixed, so these three are exact for any resample
        for name in ("precision", "density", "coverage"):
            assert replicates[name][b] == pytest.approx(direct[name], abs=1e-12), name
    full_weights = resample_counts(np.arange(250)[None, :], 250)
    assert counts.contributions().replicates(full_weights)["recall"][0] == counts.result()["recall"]


def test_every_reported_sample_metric_gets_an_interval_containing_it():
    real, train = _features(8, 500, 16), _features(9, 800, 16)
    generated = _features(10, 400, 16, shift=0.2)
    probs = np.random.default_rng(11).dirichlet(np.ones(10), size=400)
    scores = score_samples(prepare_reference(real, train), generated, generated_probs=probs)
    spreads = {"kid_std", "kid_subset_size", "inception_score_std", "copying_p"}  # and a p-value
    assert set(scores.intervals) == set(scores.values) - spreads
    for name, interval in scores.intervals.items():
        assert interval.low <= scores.values[name] <= interval.high, name
        assert interval.se >= 0 and interval.method
