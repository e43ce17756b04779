"""The newer sample metrics as the engine computes them: equal to the pure
functions on the same features, intervals that track the full bootstrap,
the copying verdicts, and the prepared reference's round trip."""

from __future__ import annotations

import numpy as np
import pytest

from genbench.metrics.alpha_beta import NearestGenerated, alpha_beta_metrics
from genbench.metrics.authenticity import authenticity
from genbench.metrics.data_copying import copying_test
from genbench.metrics.engine import Reference, prepare_reference, score_samples
from genbench.metrics.mmd import CMMD_SCALE, mmd_rbf
from genbench.metrics.newer import NewerReference, _nearest_drawn, median_pairwise_distance
from genbench.metrics.pairwise import DistanceScreen, generated_gram_blocks
from genbench.metrics.sample_scores import rarity_scores, realism_scores
from genbench.metrics.uncertainty import bootstrap_indices, resample_counts
from genbench.metrics.vendi import vendi_score, vendi_with_influence

NEWER = ("vendi", "alpha_precision", "beta_recall", "authenticity", "copying_ct", "mmd_rbf")


def _features(seed: int, n: int, d: int, *, shift: float = 0.0, scale: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (scale * rng.standard_normal((n, d)) + shift).astype(np.float32)


@pytest.fixture(scope="module")
def embedding_case() -> tuple[np.ndarray, np.ndarray, np.ndarray, Reference]:
    train = _features(0, 1200, 24)
    real = _features(1, 400, 24)
    generated = _features(2, 400, 24, shift=0.1, scale=1.1)
    return train, real, generated, prepare_reference(real, train)


def test_engine_values_equal_the_pure_functions(embedding_case) -> None:
    train, real, generated, reference = embedding_case
    scores = score_samples(reference, generated, resamples=0)
    values = scores.values
    radii = reference.neighbourhood.radius(3)
    np.testing.assert_allclose(
        scores.per_sample["realism"], realism_scores(real, generated, real_radii=radii), rtol=1e-12
    )
    rarity = rarity_scores(real, generated, real_radii=radii)
    np.testing.assert_array_equal(np.isnan(scores.per_sample["rarity"]), np.isnan(rarity))
    np.testing.assert_allclose(scores.per_sample["rarity"], rarity, rtol=1e-12)
    pure = alpha_beta_metrics(real, generated)
    assert values["alpha_precision"] == pure.delta_precision
    assert values["beta_recall"] == pure.delta_recall
    assert values["authenticity"] == authenticity(train, generated)
    copying = copying_test(train, real, generated, centres=reference.newer.copying_centres)
    assert values["copying_ct"] == pytest.approx(copying.statistic, rel=1e-12)
    assert values["copying_p"] == pytest.approx(copying.p_value, rel=1e-10)
    mmd = mmd_rbf(real, generated, sigma=reference.newer.mmd_sigma)
    # Above 16 dimensions the engine's kernel sums come from the shared float32
    # Gram blocks: each kernel value carries the float32 rounding of its squared
    # distance, so mmd_rbf differs from the float64 function in absolute terms,
    # relative to the real-real kernel term (at most 4.3e-8 of it measured on
    # d = 64..2048, docs/metrics.md), not relative to the value, which can be ~0.
    assert values["mmd_rbf"] == pytest.approx(mmd.value, abs=1e-7 * _real_term(reference))
    assert values["vendi"] == pytest.approx(vendi_score(generated), rel=1e-12)


def _real_term(reference: Reference) -> float:
    """``1000 / (N (N-1)) Σ_{i≠j} k(R_i, R_j)``: the scale of mmd_rbf's terms."""
    n = reference.real_features.shape[0]
    return CMMD_SCALE * reference.newer.mmd_real_sum / (n * (n - 1))


def test_low_dimensional_mmd_equals_the_float64_function() -> None:
    """Up to 16 dimensions the blocks are float64 and the sums agree to rounding."""
    real = _features(10, 300, 3, shift=4.0)
    generated = _features(11, 300, 3, shift=4.05)
    reference = prepare_reference(real)
    value = score_samples(reference, generated, resamples=0).values["mmd_rbf"]
    mmd = mmd_rbf(real, generated, sigma=reference.newer.mmd_sigma)
    assert value == pytest.approx(mmd.value, rel=1e-10, abs=1e-12 * _real_term(reference))


def test_mmd_bandwidth_is_the_median_pairwise_real_distance(embedding_case) -> None:
    _, real, _, reference = embedding_case
    r = real.astype(np.float64)
    upper = np.triu_indices(len(r), k=1)
    distances = np.linalg.norm(r[:, None, :] - r[None, :, :], axis=2)[upper]
    assert reference.newer.mmd_sigma == pytest.approx(np.median(distances), rel=1e-9)


def test_low_dimensional_features_use_the_rbf_vendi_kernel() -> None:
    rng = np.random.default_rng(3)
    modes = np.array([[2.0, 0.0], [0.0, 2.0], [-2.0, 0.0], [0.0, -2.0]])
    real = (modes[rng.integers(0, 4, 800)] + 0.05 * rng.standard_normal((800, 2))).astype(
        np.float32
    )
    collapsed = (modes[0] + 0.05 * rng.standard_normal((800, 2))).astype(np.float32)
    reference = prepare_reference(real)
    sigma = reference.newer.vendi_sigma
    assert sigma == pytest.approx(np.median(reference.neighbourhood.radius(5)))
    full = score_samples(reference, real, resamples=0)
    one_mode = score_samples(reference, collapsed, resamples=0)
    assert full.settings["vendi"] == {"kernel": "rbf", "order": 1, "sigma": sigma}
    assert full.values["vendi"] == pytest.approx(vendi_score(real, kernel="rbf", sigma=sigma))
    assert one_mode.values["vendi"] < 0.4 * full.values["vendi"]


def test_the_memorizer_is_flagged_and_fresh_samples_are_not(embedding_case) -> None:
    train, _, _, reference = embedding_case
    copies = train[np.random.default_rng(4).integers(0, len(train), 400)]
    fresh = _features(5, 400, 24)
    copied = score_samples(reference, copies, resamples=0)
    honest = score_samples(reference, fresh, resamples=0)
    assert copied.values["authenticity"] == 0.0
    assert copied.values["copying_ct"] < -5 and copied.values["copying_p"] < 1e-6
    assert copied.settings["copying_ct"]["copying"] == "true"
    assert honest.values["copying_p"] > 0.01
    assert honest.settings["copying_ct"]["copying"] == "false"
    assert abs(honest.values["copying_ct"]) < 2.5


def _full_bootstrap_se(values: list[float]) -> float:
    return float(np.std(values, ddof=1))


def test_linearised_intervals_track_the_full_bootstrap(embedding_case) -> None:
    _, real, generated, reference = embedding_case
    scores = score_samples(reference, generated)
    indices = bootstrap_indices(len(generated), 60)
    vendi = [vendi_score(generated[rows]) for rows in indices]
    sigma = reference.newer.mmd_sigma
    mmd = [mmd_rbf(real, generated[rows], sigma=sigma).value for rows in indices]
    assert scores.intervals["vendi"].se == pytest.approx(_full_bootstrap_se(vendi), rel=0.35)
    # resamples repeat samples, which the unbiased MMD's off-diagonal mean counts
    # as near pairs: the full bootstrap's spread is inflated, never smaller
    assert scores.intervals["mmd_rbf"].se == pytest.approx(_full_bootstrap_se(mmd), rel=0.5)
    for name in NEWER:
        interval = scores.intervals[name]
        assert interval.low <= scores.values[name] <= interval.high
        assert interval.se > 0
    assert "copying_p" not in scores.intervals


def test_vendi_influence_is_the_derivative_of_log_vendi() -> None:
    """Moving weight ε to sample j (then renormalising) changes log VS by
    ε times its centred influence."""
    x = _features(6, 60, 3).astype(np.float64)
    for kernel, sigma in (("cosine", None), ("rbf", 0.8)):
        value, influence = vendi_with_influence(x, kernel=kernel, sigma=sigma)
        step = 1e-6
        for j in (0, 17, 41):
            weights = np.full(len(x), 1.0 / len(x))
            weights[j] += step
            weights /= weights.sum()
            change = np.log(_weighted_vendi(x, weights, kernel, sigma)) - np.log(value)
            assert change / step == pytest.approx(influence[j], abs=1e-3)


def _weighted_vendi(x: np.ndarray, w: np.ndarray, kernel: str, sigma: float | None) -> float:
    if kernel == "cosine":
        unit = x / np.linalg.norm(x, axis=1, keepdims=True)
        k = unit @ unit.T
    else:
        squared = ((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=2)
        k = np.exp(-squared / (2 * sigma**2))
    root = np.sqrt(w)
    eigenvalues = np.linalg.eigvalsh(root[:, None] * k * root[None, :])
    eigenvalues = eigenvalues[eigenvalues > 1e-15]
    return float(np.exp(-np.sum(eigenvalues * np.log(eigenvalues))))


def test_nearest_drawn_neighbour_matches_a_brute_force_search() -> None:
    real = _features(7, 120, 5).astype(np.float64)
    generated = _features(8, 90, 5).astype(np.float64)
    screen = DistanceScreen(generated, real)
    nearest = NearestGenerated(screen, 4, margin=0)
    for block in generated_gram_blocks(generated, real, block_size=16):
        nearest.add(block)
    candidates, distances = nearest.result()
    counts = resample_counts(bootstrap_indices(90, 30), 90)
    for row in counts:
        drawn = row > 0
        chosen, distance = _nearest_drawn(screen, candidates, distances, drawn)
        pool = np.flatnonzero(drawn)
        brute = np.linalg.norm(real[:, None, :] - generated[pool][None, :, :], axis=2)
        assert np.all(drawn[chosen])
        np.testing.assert_allclose(distance, brute.min(axis=1), rtol=1e-12)


def test_beta_recall_replicates_are_the_pure_metric_of_each_resample(embedding_case) -> None:
    _, real, generated, reference = embedding_case
    scores = score_samples(reference, generated, resamples=40)
    replicates = [
        alpha_beta_metrics(real, generated[rows]).delta_recall
        for rows in bootstrap_indices(len(generated), 40)
    ]
    assert scores.intervals["beta_recall"].se == pytest.approx(
        float(np.std(replicates, ddof=1)), rel=1e-6
    )


def test_reference_round_trip_gives_identical_scores(embedding_case) -> None:
    _, _, generated, reference = embedding_case
    rebuilt = Reference.from_arrays(reference.to_arrays())
    first = score_samples(reference, generated, resamples=20)
    second = score_samples(rebuilt, generated, resamples=20)
    assert first.values == second.values
    assert first.settings == second.settings


def test_values_do_not_depend_on_the_block_size(embedding_case) -> None:
    _, _, generated, reference = embedding_case
    default = score_samples(reference, generated, resamples=20)
    blocked = score_samples(reference, generated, resamples=20, block_size=7)
    for name in NEWER:
        assert blocked.values[name] == pytest.approx(default.values[name], rel=1e-5, abs=1e-9)
    # β-recall's candidates and the per-sample scores are exact: no block-size effect
    assert blocked.values["beta_recall"] == default.values["beta_recall"]
    assert blocked.intervals["beta_recall"] == default.intervals["beta_recall"]
    for name in ("realism", "rarity"):
        np.testing.assert_array_equal(blocked.per_sample[name], default.per_sample[name])


def test_too_few_samples_leave_c_t_out_and_say_why_in_the_pure_test(embedding_case) -> None:
    train, real, _, _ = embedding_case
    small = prepare_reference(real[:150], train)
    assert small.newer.copying_centres is None
    values = score_samples(small, _features(9, 300, 24), resamples=0).values
    assert "copying_ct" not in values and "authenticity" in values
    with pytest.raises(ValueError, match=r"C_T needs at least 210 held-out test samples \(N\)"):
        copying_test(train, real[:150], _features(9, 300, 24))


def test_median_heuristic_refuses_degenerate_inputs() -> None:
    with pytest.raises(ValueError, match="at least 2 samples, got 1"):
        median_pairwise_distance(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="every pairwise distance 0"):
        median_pairwise_distance(np.ones((4, 3)))


def test_newer_reference_needs_its_arrays() -> None:
    with pytest.raises(KeyError):
        NewerReference.from_arrays({"newer_centre": np.zeros(2)})
