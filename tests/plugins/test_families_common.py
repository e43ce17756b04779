"""Shared pieces of the families: discretised likelihoods, the data space,
the training loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from genbench_families.distributions import (
    categorical_sample,
    discretised_gaussian_log_prob,
    discretised_logistic_log_prob,
    log1mexp,
    mixture_log_prob,
    normal_kl,
    to_bin_centres,
)
from genbench_families.space import DataSpace
from genbench_families.training import EMA, Adam, clip_grad_norm, minibatches
from scipy import stats
from test_families_support import assert_close


def _centres(levels: int) -> torch.Tensor:
    return 2 * torch.arange(levels, dtype=torch.float32) / (levels - 1) - 1


@pytest.mark.parametrize("levels", [2, 4, 17, 256])
@pytest.mark.parametrize("family", ["logistic", "gaussian"])
def test_discretised_masses_sum_to_one(levels, family):
    generator = torch.Generator().manual_seed(levels)
    means = torch.cat([torch.randn(20, generator=generator) * 2, torch.tensor([-5.0, 5.0])])
    log_scales = torch.cat([torch.randn(20, generator=generator) * 3, torch.tensor([-9.0, 4.0])])
    x = _centres(levels)[None, :].expand(len(means), -1)
    fn = discretised_logistic_log_prob if family == "logistic" else discretised_gaussian_log_prob
    log_p = fn(x, means[:, None], log_scales[:, None], levels)
    assert torch.isfinite(log_p).all()
    assert_close(log_p.exp().sum(1), torch.ones(len(means)), atol=1e-5)


def test_discretised_gaussian_matches_scipy_including_far_tails():
    levels = 256
    x = _centres(levels)
    mean, std = torch.tensor(-0.3), torch.tensor(0.01)
    ours = discretised_gaussian_log_prob(x, mean, std.log(), levels).double().numpy()
    half = 1 / (levels - 1)
    upper = np.where(x.numpy() >= 1 - half / 2, np.inf, x.numpy() + half)
    lower = np.where(x.numpy() <= -1 + half / 2, -np.inf, x.numpy() - half)
    mirrored = x.numpy() > -0.3  # compute each mass on its small side, in float64
    with np.errstate(divide="ignore"):  # scipy underflows to 0 far in the tails
        reference = np.where(
            mirrored,
            np.log(stats.norm.sf(lower, -0.3, 0.01) - stats.norm.sf(upper, -0.3, 0.01)),
            np.log(stats.norm.cdf(upper, -0.3, 0.01) - stats.norm.cdf(lower, -0.3, 0.01)),
        )
    finite = np.isfinite(reference)
    assert finite.sum() > 10
    np.testing.assert_allclose(ours[finite], reference[finite], rtol=1e-4)
    assert np.isfinite(ours).all() and ours.max() < 0


def test_discretised_logistic_closed_form_interior_bin():
    # 3 levels: centres -1, 0, 1 with half-width 0.5; a standard logistic
    log_p = discretised_logistic_log_prob(
        torch.tensor(0.0), torch.tensor(0.0), torch.tensor(0.0), 3
    )
    expected = 1 / (1 + math.exp(-0.5)) - 1 / (1 + math.exp(0.5))
    assert math.isclose(log_p.exp().item(), expected, rel_tol=1e-6)
    edge = discretised_logistic_log_prob(torch.tensor(1.0), torch.tensor(0.0), torch.tensor(0.0), 3)
    assert math.isclose(edge.exp().item(), 1 - 1 / (1 + math.exp(-0.5)), rel_tol=1e-6)


def test_log1mexp_is_accurate_near_zero_and_far_away():
    d = torch.tensor([-1e-8, -0.1, -0.7, -5.0, -50.0], dtype=torch.float64)
    expected = torch.log(-torch.expm1(d))
    assert_close(log1mexp(d), expected, atol=1e-12)


def test_normal_kl_closed_form():
    kl = normal_kl(
        torch.tensor(1.0), torch.tensor(0.0), torch.tensor(0.0), math.log(4.0) * torch.ones(())
    )
    # KL(N(1, 1) || N(0, 4)) = log 2 + (1 + 1) / 8 - 1/2
    assert math.isclose(kl.item(), math.log(2) + 2 / 8 - 0.5, rel_tol=1e-6)


def test_mixture_density_integrates_to_one():
    grid = torch.linspace(-12, 12, 20001, dtype=torch.float64)
    logits = torch.tensor([[0.3, -1.0, 2.0]], dtype=torch.float64).expand(len(grid), -1)
    means = torch.tensor([[-2.0, 0.5, 3.0]], dtype=torch.float64).expand(len(grid), -1)
    log_stds = torch.tensor([[-0.5, 0.2, 0.0]], dtype=torch.float64).expand(len(grid), -1)
    density = mixture_log_prob(grid, logits, means, log_stds).exp()
    assert math.isclose(torch.trapezoid(density, grid).item(), 1.0, abs_tol=1e-6)


def test_categorical_sample_uses_the_given_uniforms():
    logits = torch.log(torch.tensor([[0.2, 0.3, 0.5]])).expand(4, -1)
    uniform = torch.tensor([0.1, 0.25, 0.6, 0.999])
    assert categorical_sample(logits, uniform).tolist() == [0, 1, 2, 2]


def test_to_bin_centres_rounds_and_clamps():
    y = torch.tensor([-3.0, -0.34, 0.2, 5.0])
    assert_close(to_bin_centres(y, 4), torch.tensor([-1.0, -1 / 3, 1 / 3, 1.0]), atol=1e-7)


def test_data_space_round_trips_levels_and_standardises_toy():
    space = DataSpace((1, 2, 2), levels=4)
    x = torch.tensor([[[[0, 1], [2, 3]]]], dtype=torch.uint8)
    assert_close(space.encode(x), torch.tensor([[[[-1.0, -1 / 3], [1 / 3, 1.0]]]]), atol=1e-7)
    assert torch.equal(space.decode(space.encode(x)), x)
    assert space.log_det() == 0.0

    toy = DataSpace((2,), levels=None)
    data = torch.tensor([[0.0, 10.0], [2.0, 14.0], [4.0, 18.0]])
    toy.fit_statistics(data)
    assert_close(toy.encode(data).std(0), torch.ones(2), atol=1e-6)
    assert_close(toy.decode(toy.encode(data)), data, atol=1e-5)
    assert math.isclose(toy.log_det(), -math.log(2.0) - math.log(4.0), rel_tol=1e-6)


def test_data_space_rejects_wrong_shapes_and_levels():
    with pytest.raises(ValueError, match="at least 2 levels"):
        DataSpace((1, 2, 2), levels=1)
    with pytest.raises(ValueError, match=r"expected examples of shape \(2,\)"):
        DataSpace((2,), levels=None).encode(torch.zeros(3, 3))


def test_minibatches_visit_every_example_once_per_epoch():
    data = torch.arange(10)
    batches = list(minibatches(data, 5, 4, torch.Generator().manual_seed(0)))
    assert sorted(torch.cat(batches[:2]).tolist()) == list(range(10))
    assert sorted(torch.cat(batches[2:]).tolist()) == list(range(10))
    again = list(minibatches(data, 5, 4, torch.Generator().manual_seed(0)))
    assert all(torch.equal(a, b) for a, b in zip(batches, again, strict=True))


def test_minibatches_reject_bad_arguments():
    with pytest.raises(ValueError, match="batch_size >= 1"):
        list(minibatches(torch.zeros(3), 0, 1, torch.Generator()))
    with pytest.raises(ValueError, match="empty data set"):
        list(minibatches(torch.zeros(0), 2, 1, torch.Generator()))


def test_ema_moves_towards_weights_by_the_warmed_up_decay():
    layer = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        layer.weight.fill_(0.0)
    ema = EMA(layer, decay=0.15)
    with torch.no_grad():
        layer.weight.fill_(1.0)
    ema.update()  # decay min(0.15, 1/10) = 0.1
    ema.update()  # decay min(0.15, 2/11) = 0.15
    assert math.isclose(ema.average.weight.item(), 1 - 0.1 * 0.15, rel_tol=1e-6)
    with pytest.raises(ValueError, match="decay must lie in"):
        EMA(layer, decay=1.0)


def test_adam_first_step_moves_each_weight_by_the_learning_rate():
    # with bias correction the first update is lr * g / (|g| + eps) = lr * sign(g)
    weight = torch.nn.Parameter(torch.tensor([1.0, -2.0, 3.0]))
    weight.grad = torch.tensor([0.5, -4.0, 0.0])
    optimiser = Adam([weight], lr=0.1)
    optimiser.step()
    assert_close(weight.detach(), torch.tensor([0.9, -1.9, 3.0]), atol=1e-6)
    with pytest.raises(ValueError, match="learning rate must be positive"):
        Adam([weight], lr=0.0)


def test_gradient_clipping_rescales_to_the_maximum_norm():
    a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(1))
    a.grad, b.grad = torch.tensor([3.0, 0.0]), torch.tensor([4.0])
    assert clip_grad_norm([a, b], 1.0) == 5.0
    assert_close(torch.cat([a.grad, b.grad]), torch.tensor([0.6, 0.0, 0.8]), atol=1e-7)
