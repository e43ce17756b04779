"""The baseline models' closed forms."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from genbench_baselines.gaussian import DiscretisedGaussian, Gaussian
from genbench_baselines.resample import ResamplingModel
from scipy import stats


def _tiny_images(levels: int, n: int = 400, seed: int = 0) -> torch.Tensor:
    """Correlated 1x1x3 'images' with values in [0, levels-1]."""
    rng = np.random.default_rng(seed)
    base = rng.normal(levels / 2, levels / 4, size=(n, 1))
    x = base + rng.normal(0, levels / 8, size=(n, 3))
    return torch.from_numpy(np.clip(np.rint(x), 0, levels - 1).astype(np.uint8)).reshape(n, 1, 1, 3)


def test_discretised_gaussian_is_a_normalised_distribution():
    levels = 5
    model = DiscretisedGaussian.fit(_tiny_images(levels), levels=levels, ridge=1e-2)
    every_image = torch.tensor(list(itertools.product(range(levels), repeat=3)), dtype=torch.uint8)
    log_p = model.log_prob(every_image.reshape(-1, 1, 1, 3))
    assert torch.logsumexp(log_p, dim=0).item() == pytest.approx(0.0, abs=1e-10)


def test_discretised_gaussian_samples_follow_its_probabilities():
    levels = 3
    model = DiscretisedGaussian.fit(_tiny_images(levels), levels=levels, ridge=1e-2)
    draws = model.sample(20_000, torch.Generator().manual_seed(1)).reshape(-1, 3)
    states = list(itertools.product(range(levels), repeat=3))
    index = {s: i for i, s in enumerate(states)}
    observed = np.bincount([index[tuple(r)] for r in draws.tolist()], minlength=len(states))
    probs = model.log_prob(torch.tensor(states, dtype=torch.uint8).reshape(-1, 1, 1, 3)).exp()
    expected = probs.numpy() * len(draws)
    keep = expected > 5
    statistic = ((observed[keep] - expected[keep]) ** 2 / expected[keep]).sum()
    assert stats.chi2.sf(statistic, keep.sum() - 1) > 1e-3


def test_discretised_gaussian_matches_the_gaussian_where_bins_are_narrow():
    # With a wide distribution, bin mass ≈ density × bin width (1 level).
    rng = np.random.default_rng(3)
    x = torch.from_numpy(np.clip(rng.normal(128, 20, size=(3000, 2)), 0, 255).astype(np.uint8))
    discrete = DiscretisedGaussian.fit(x.reshape(-1, 1, 1, 2), levels=256, ridge=1e-2)
    continuous = Gaussian.fit(x.to(torch.float32), ridge=1e-2)
    probe = torch.tensor([[128, 128], [120, 140]], dtype=torch.uint8)
    assert discrete.log_prob(probe.reshape(-1, 1, 1, 2)).numpy() == pytest.approx(
        continuous.log_prob(probe.to(torch.float64)).numpy(), abs=2e-3
    )


def test_gaussian_log_density_matches_scipy():
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.multivariate_normal([1, -1], [[2, 0.5], [0.5, 1]], 5000)).float()
    model = Gaussian.fit(x, ridge=0.0)
    probe = np.array([[0.0, 0.0], [1.0, -1.0], [3.0, 2.0]])
    reference = stats.multivariate_normal(model.mean.numpy(), model.cov.numpy()).logpdf(probe)
    assert model.log_prob(torch.from_numpy(probe)).numpy() == pytest.approx(reference, rel=1e-10)


def test_uniform_log_probability_is_log_levels_per_dimension():
    from genbench_baselines.uniform import Uniform

    model = Uniform("image", (1, 28, 28), levels=256)
    x = torch.zeros((4, 1, 28, 28), dtype=torch.uint8)
    bits_per_dim = -model.log_prob(x) / (784 * math.log(2))
    assert bits_per_dim.numpy() == pytest.approx(np.full(4, 8.0), abs=1e-12)


def test_holdout_resampling_refuses_to_repeat_examples():
    model = ResamplingModel(torch.arange(10), replace=False)
    draws = model.sample(10, torch.Generator().manual_seed(0))
    assert sorted(draws.tolist()) == list(range(10))
    with pytest.raises(ValueError, match="asked for 11 samples but the holdout split has only 10"):
        model.sample(11, torch.Generator().manual_seed(0))


def test_ridge_is_chosen_on_held_out_training_data():
    images = _tiny_images(levels=17, n=600, seed=4)
    chosen = DiscretisedGaussian.fit_validated(images, levels=17, ridges=[1e-4, 1.0, 1e4])
    assert chosen.scale.min().item() > 1e-2  # not the degenerate smallest ridge
    with pytest.raises(ValueError, match="ridges must name at least one candidate"):
        DiscretisedGaussian.fit_validated(images, levels=17, ridges=[])


def test_text_baselines_sample_snippets_of_their_own_splits():
    from genbench_baselines.plugin import _SPECS, fit, sample

    from genbench.tasks.text import CorpusFileTask
    from genbench.tasks.text_formats import CorpusSplits

    task = CorpusFileTask(
        "baselines",
        lambda: CorpusSplits(
            train=["abcdefghijklmnop"], test=["0123456789"], validation=["ABCDEFGHIJKLMNOP"]
        ),
    )
    task.prompt_tokens, task.sample_tokens = 2, 4
    specs = {spec.name: spec for spec in _SPECS}
    assert {"text"} <= set(specs["data"].modalities) & set(specs["memorizer"].modalities)
    data = fit(specs["data"], task, "smoke", 0, None)
    held_out = sample(data, 3, 0)
    assert sorted(held_out) == ["CDEF", "GHIJ", "KLMN"]  # all three, none twice
    assert task.validate_samples(held_out, 3) is held_out
    with pytest.raises(ValueError, match="asked for 4 samples but the holdout split has only 3"):
        sample(data, 4, 0)
    memorizer = fit(specs["memorizer"], task, "smoke", 0, None)
    copied = sample(memorizer, 20, 1)
    assert set(copied) <= {"cdef", "ghij", "klmn"} and len(copied) == 20
    assert sample(memorizer, 20, 1) == copied  # seeded


def test_the_data_baseline_needs_a_holdout_split():
    from genbench_baselines.plugin import _SPECS, fit

    from genbench.tasks.text import CorpusFileTask
    from genbench.tasks.text_formats import CorpusSplits

    task = CorpusFileTask("bare", lambda: CorpusSplits(train=["abcdef"], test=["abc"]))
    data_spec = next(spec for spec in _SPECS if spec.name == "data")
    with pytest.raises(ValueError, match="task 'text/bare' has no holdout split for the 'data'"):
        fit(data_spec, task, "smoke", 0, None)
