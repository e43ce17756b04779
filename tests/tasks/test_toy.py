"""The 2-D Gaussian-mixture tasks: data, exact density, mode metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.stats import multivariate_normal

from genbench.features.identity import IdentityFeatures
from genbench.tasks.toy import Grid25Task, Ring8Task

RAYLEIGH_3_SIGMA = 1 - math.exp(-(3.0**2) / 2)  # P(|z| <= 3) for z ~ N(0, I_2): 0.98889


@pytest.fixture(scope="module", params=[Ring8Task, Grid25Task], ids=["ring8", "grid25"])
def task(request):
    return request.param()


def _perfect(task, n: int, seed: int = 7) -> torch.Tensor:
    return task.draw(n, np.random.default_rng(seed))[0]


# -- geometry and data ---------------------------------------------------------


def test_mode_layouts() -> None:
    ring = Ring8Task.modes
    assert ring.shape == (8, 2)
    np.testing.assert_allclose(np.hypot(ring[:, 0], ring[:, 1]), 2.0, atol=1e-12)
    angles = np.sort(np.mod(np.arctan2(ring[:, 1], ring[:, 0]), 2 * np.pi))
    np.testing.assert_allclose(angles, 2 * np.pi * np.arange(8) / 8, atol=1e-12)
    grid = {tuple(p) for p in Grid25Task.modes.tolist()}
    assert grid == {(x, y) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)}
    assert (Ring8Task.sigma, Grid25Task.sigma) == (0.02, 0.05)


def test_splits_format_and_labels(task) -> None:
    data = task.load()
    assert data.train.dtype == torch.float32 and tuple(data.train.shape) == (20_000, 2)
    assert tuple(data.test.shape) == (2_000, 2)
    assert task.levels is None and task.example_shape == (2,)
    assert data.test_labels.dtype == np.int64
    # each point lies within 5 sigma of the mode it was drawn from
    offsets = data.test.numpy() - task.modes[data.test_labels]
    assert np.hypot(offsets[:, 0], offsets[:, 1]).max() < 5 * task.sigma
    # modes are drawn with equal weights
    counts = np.bincount(data.train_labels, minlength=len(task.modes))
    expected = 20_000 / len(task.modes)
    assert np.all(np.abs(counts - expected) < 5 * math.sqrt(expected))


def test_data_is_seeded_and_task_specific(task) -> None:
    again = type(task)()
    assert torch.equal(again.load().train, task.load().train)
    assert again.fingerprint() == task.fingerprint()
    data = task.load()
    assert data.holdout.dtype == torch.float32 and tuple(data.holdout.shape) == (2_000, 2)
    assert not torch.equal(data.train[:2000], data.test)
    assert not torch.equal(data.holdout, data.test)
    assert max(task.eval_samples.values()) <= len(data.holdout)
    assert Ring8Task().fingerprint() != Grid25Task().fingerprint()


def test_leaderboards_rank_by_coverage(task) -> None:
    assert task.primary_metric == "coverage"


# -- exact density ---------------------------------------------------------------


def test_log_density_integrates_to_one(task) -> None:
    """A Riemann sum with step sigma/2 is exact for a Gaussian to far below
    1e-9 (the error decays like exp(-2 pi^2 sigma^2 / h^2))."""
    step = task.sigma / 2
    bound = np.abs(task.modes).max() + 12 * task.sigma  # the mass beyond is < 1e-30
    axis = np.arange(-bound, bound, step) + step / 2
    xx, yy = np.meshgrid(axis, axis)
    points = np.stack([xx.ravel(), yy.ravel()], axis=1)
    total = np.exp(task.log_density(points)).sum() * step**2
    assert total == pytest.approx(1.0, abs=1e-9)


def test_log_density_matches_scipy_mixture(task) -> None:
    rng = np.random.default_rng(3)
    points = task.modes[
        rng.integers(len(task.modes), size=50)
    ] + 2 * task.sigma * rng.standard_normal((50, 2))
    covariance = task.sigma**2 * np.eye(2)
    reference = np.log(
        np.mean([multivariate_normal(mode, covariance).pdf(points) for mode in task.modes], axis=0)
    )
    np.testing.assert_allclose(task.log_density(points), reference, rtol=1e-10)
    at_mode = task.log_density(task.modes[:1])[0]
    assert at_mode == pytest.approx(
        -math.log(len(task.modes) * 2 * math.pi * task.sigma**2), abs=1e-9
    )


def test_log_density_of_far_points_is_finite(task) -> None:
    far = task.log_density(np.array([[50.0, -50.0]]))
    assert np.isfinite(far).all() and far[0] < -1e5


# -- mode metrics ----------------------------------------------------------------


def test_perfect_samples_cover_every_mode(task) -> None:
    metrics = task.extra_metrics(_perfect(task, 20_000))
    assert metrics["modes_covered"] == metrics["modes_reached"] == len(task.modes)
    # 3 sigma standard errors of a binomial fraction at n = 20,000
    assert metrics["high_quality_fraction"] == pytest.approx(RAYLEIGH_3_SIGMA, abs=0.0023)
    entropy = math.log(len(task.modes)) + math.log(2 * math.pi * math.e * task.sigma**2)
    assert metrics["true_log_density"] == pytest.approx(-entropy, abs=0.03)


def test_samples_from_one_mode_cover_one(task) -> None:
    rng = np.random.default_rng(11)
    samples = task.modes[3] + task.sigma * rng.standard_normal((1000, 2))
    metrics = task.extra_metrics(samples.astype(np.float32))
    assert metrics["modes_covered"] == metrics["modes_reached"] == 1
    assert metrics["high_quality_fraction"] == pytest.approx(RAYLEIGH_3_SIGMA, abs=0.01)


def test_far_off_points_reach_their_nearest_mode_but_have_no_quality(task) -> None:
    metrics = task.extra_metrics(torch.full((100, 2), 30.0))
    assert metrics == {
        "modes_reached": 1.0,
        "modes_covered": 0.0,
        "high_quality_fraction": 0.0,
        "true_log_density": pytest.approx(task.log_density(np.array([[30.0, 30.0]]))[0]),
    }


def test_coverage_threshold_is_ten_percent_of_a_fair_share() -> None:
    task = Ring8Task()  # 1,000 samples over 8 modes: a fair share is 125, 10% is 12.5
    for at_second_mode, covered in ((13, 2), (12, 1)):
        samples = np.repeat(task.modes[:2], [1000 - at_second_mode, at_second_mode], axis=0)
        metrics = task.extra_metrics(samples)
        assert metrics["modes_covered"] == metrics["modes_reached"] == covered


def test_a_cloud_off_its_mode_reaches_it_without_covering_it() -> None:
    task = Ring8Task()  # neighbouring modes lie 1.53 apart, sigma is 0.02
    exact = np.repeat(task.modes[:4], 250, axis=0)  # 4 modes hit exactly
    # 10 sigma radially outwards from modes 4 and 5: nearest to them, not within 3 sigma
    off = np.repeat(task.modes[4:6] * (1 + 10 * task.sigma / 2.0), 500, axis=0)
    metrics = task.extra_metrics(np.concatenate([exact, off]))
    assert metrics["modes_reached"] == 6
    assert metrics["modes_covered"] == 4
    assert metrics["high_quality_fraction"] == 0.5


def test_modes_reached_counts_the_nearest_mode_at_any_distance() -> None:
    task = Grid25Task()  # 2,500 samples: a fair share is 100, the threshold 10
    # every sample 0.9 from a mode (18 sigma), still nearer to it than to any other
    samples = np.repeat(task.modes, 100, axis=0) + np.array([0.9, 0.0])
    metrics = task.extra_metrics(samples)
    assert metrics["modes_reached"] == 25
    assert metrics["modes_covered"] == metrics["high_quality_fraction"] == 0.0


def test_high_quality_means_within_three_sigma() -> None:
    task = Grid25Task()
    inside = task.modes[0] + np.array([3 * task.sigma * 0.999, 0.0])
    outside = task.modes[0] + np.array([0.0, 3 * task.sigma * 1.001])
    assert task.extra_metrics(np.stack([inside, outside]))["high_quality_fraction"] == 0.5


@pytest.mark.parametrize(
    ("samples", "message"),
    [(np.zeros((0, 2)), "at least one sample"), (np.zeros((4, 3)), r"N x 2 array of points")],
)
def test_metrics_reject_bad_samples(samples: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Ring8Task().extra_metrics(samples)


# -- features and preview ------------------------------------------------------


def test_feature_extractor_is_the_identity(task) -> None:
    extractor = task.feature_extractor()
    assert isinstance(extractor, IdentityFeatures) and extractor.name == "identity-2d"
    x = task.load().test[:5]
    assert np.array_equal(extractor.extract(x)[0], x.numpy())


def test_preview_is_a_scatter_png(task, tmp_path) -> None:
    written = task.save_preview(_perfect(task, 300), tmp_path / "gan-seed0")
    assert written == tmp_path / "gan-seed0.png"
    with Image.open(written) as image:
        assert image.format == "PNG" and image.size == (400, 400)
