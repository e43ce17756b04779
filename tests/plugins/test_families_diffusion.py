"""Diffusion family: schedule, posterior, samplers, DDIM inversion and the
variational bound."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from genbench_families.diffusion import Diffusion, linear_alpha_bars, step_sequence
from genbench_families.nets import toy
from genbench_families.space import DataSpace
from test_families_support import TinyBlobsTask, fit_model


class GaussianOracle(torch.nn.Module):
    """The exact noise predictor for data ``x_0 ~ N(0, I)``: then
    ``x_t ~ N(0, I)`` too and ``E[ε | x_t] = sqrt(1 - ᾱ_t) x_t``."""

    def __init__(self, alpha_bars: torch.Tensor, steps: int) -> None:
        super().__init__()
        self.alpha_bars, self.steps = alpha_bars, steps

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        ab = self.alpha_bars[(t * self.steps).round().long()].float()
        return (1 - ab).sqrt().view(-1, 1) * x


def _diffusion(T: int = 1000, **options) -> Diffusion:
    torch.manual_seed(0)
    settings = dict(
        width=8,
        steps=0,
        batch_size=8,
        lr=1e-3,
        T=T,
        ddpm_steps=T,
        ddim_steps=T,
        inversion_steps=T,
        vlb_terms=T,
    )
    return Diffusion(DataSpace((2,), None), toy, **{**settings, **options}).eval()


def _with_oracle(model: Diffusion) -> Diffusion:
    model.net = GaussianOracle(model.alpha_bars, model.T)
    return model


def test_linear_schedule_matches_ho_et_al():
    alpha_bars = linear_alpha_bars(1000)
    assert alpha_bars[0] == 1.0
    assert math.isclose(alpha_bars[1].item(), 1 - 1e-4, rel_tol=1e-12)
    assert math.isclose(alpha_bars[-1].item(), 4.0358e-5, rel_tol=1e-3)


def test_step_sequences_are_decreasing_and_end_at_one():
    assert step_sequence(1000, 1000) == list(range(1000, 0, -1))
    fifty = step_sequence(1000, 50)
    assert len(fifty) == 50 and fifty[0] == 1000 and fifty[-1] == 1
    assert all(a > b for a, b in itertools.pairwise(fifty))
    with pytest.raises(ValueError, match="sampler steps <= T"):
        step_sequence(100, 101)


def test_posterior_matches_gaussian_conditioning_for_skipped_steps():
    model = _diffusion()
    t, s = 700, 400  # a respaced step skips 299 steps
    ab_t, ab_s = model.alpha_bars[t].item(), model.alpha_bars[s].item()
    x0, xt = torch.tensor([0.3, -0.5]), torch.tensor([1.1, 0.2])
    # joint of (x_s, x_t) given x_0, then condition on x_t
    var_s, a = 1 - ab_s, math.sqrt(ab_t / ab_s)
    var_t = a * a * var_s + (1 - ab_t / ab_s)
    gain = a * var_s / var_t
    expected_mean = math.sqrt(ab_s) * x0 + gain * (xt - math.sqrt(ab_t) * x0)
    expected_var = var_s - gain * a * var_s
    mean, log_var = model.posterior(x0, xt, t, s)
    assert (mean - expected_mean).abs().max() < 1e-5
    assert abs(log_var[0].exp().item() - expected_var) < 1e-6


def _ddim_gain(alpha_bars: torch.Tensor, frm: int, to: int, query: int) -> float:
    """For the Gaussian oracle, one DDIM step from ``frm`` to ``to`` with the
    network queried at ``query`` multiplies x by this factor."""
    a_from, a_to, a_query = (alpha_bars[i].item() for i in (frm, to, query))
    x0_gain = (1 - math.sqrt(1 - a_from) * math.sqrt(1 - a_query)) / math.sqrt(a_from)
    eps_gain = math.sqrt(1 - a_query)
    return math.sqrt(a_to) * x0_gain + math.sqrt(1 - a_to) * eps_gain


def test_ddim_inversion_and_sampling_follow_the_ddim_update_exactly():
    model = _with_oracle(_diffusion())
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    errors = {}
    for steps in (10, 50, 250):
        sequence = step_sequence(1000, steps)
        up = [0, *reversed(sequence)]
        gain = math.prod(
            _ddim_gain(model.alpha_bars, a, b, max(a, 1)) for a, b in itertools.pairwise(up)
        )
        down = [*sequence, 0]
        gain *= math.prod(
            _ddim_gain(model.alpha_bars, a, b, a) for a, b in itertools.pairwise(down)
        )
        latent = model.invert(x, sequence)
        assert latent.std() > 0.5  # an actual trip to the noise end and back
        reconstruction = model.ddim(latent, sequence)
        assert (reconstruction - gain * x).abs().max() < 1e-4
        errors[steps] = (reconstruction - x).abs().mean().item()
    assert errors[10] > errors[50] > errors[250]  # inversion converges as steps grow
    assert errors[250] < 0.02


def test_ddim_inversion_reconstructs_with_a_trained_network(tmp_path):
    task = TinyBlobsTask()
    fitted = fit_model(
        "diffusion-ddim", task, tmp_path, steps=150, lr=1e-2, inversion_steps=100
    ).model
    x = fitted.space.encode(task.load().test[:64])
    error = (fitted.reconstruct(x) - x).abs().mean()
    assert error < 0.05
    assert error < 0.1 * (x - x.roll(1, dims=0)).abs().mean()


def test_samplers_of_the_exact_denoiser_draw_from_the_data_distribution():
    for sampler, steps in (("ddpm", 100), ("ddim", 50)):
        model = _with_oracle(_diffusion(sampler=sampler, ddpm_steps=steps, ddim_steps=steps))
        assert model.nfe() == steps
        draws = model.sample(4000, torch.Generator().manual_seed(1))
        assert draws.mean(0).abs().max() < 0.08
        assert (draws.std(0) - 1).abs().max() < 0.08


def test_ddim_with_eta_one_is_the_ancestral_sampler_on_the_same_steps():
    model = _diffusion()  # an untrained, nonlinear network: no help from an oracle
    sequence = step_sequence(1000, 20)
    ancestral = model.sample_ddpm(256, torch.Generator().manual_seed(5), sequence)
    generator = torch.Generator().manual_seed(5)
    start = torch.randn(256, 2, generator=generator)
    stochastic = model.ddim(start, sequence, eta=1.0, generator=generator)
    torch.testing.assert_close(stochastic, ancestral, rtol=1e-5, atol=1e-4)
    deterministic = model.ddim(start, sequence)
    assert torch.equal(model.ddim(start, sequence, eta=0.0, generator=generator), deterministic)
    assert (stochastic - deterministic).abs().mean() > 0.1


def test_ddim_eta_interpolates_the_injected_noise():
    model = _with_oracle(_diffusion(sampler="ddim", ddim_steps=50, ddim_eta=0.5))
    draws = model.sample(4000, torch.Generator().manual_seed(2))
    assert draws.mean(0).abs().max() < 0.08  # still the data distribution
    assert (draws.std(0) - 1).abs().max() < 0.08
    start = torch.randn(256, 2, generator=torch.Generator().manual_seed(0))
    deterministic = model.ddim(start, model.ddim_sequence)
    departure = {
        eta: (model.ddim(start, model.ddim_sequence, eta, torch.Generator().manual_seed(1)))
        .sub(deterministic)
        .pow(2)
        .mean()
        .sqrt()
        .item()
        for eta in (0.25, 0.5, 1.0)
    }
    # more η, more fresh noise: the draws leave the deterministic path further
    assert 0.05 < departure[0.25] < departure[0.5] < departure[1.0]


def test_bad_ddim_eta_is_refused_with_its_value():
    with pytest.raises(ValueError, match=r"DDIM eta must be in \[0, 1\], got 1.5"):
        _diffusion(sampler="ddim", ddim_eta=1.5)
    model = _diffusion()
    with pytest.raises(ValueError, match="eta > 0 draws fresh noise: pass a generator"):
        model.ddim(torch.zeros(2, 2), step_sequence(1000, 5), eta=0.3)


def test_sampling_is_seeded():
    model = _diffusion(sampler="ddpm", ddpm_steps=20)
    a = model.sample(8, torch.Generator().manual_seed(3))
    assert torch.equal(a, model.sample(8, torch.Generator().manual_seed(3)))
    assert not torch.equal(a, model.sample(8, torch.Generator().manual_seed(4)))


def test_stratified_vlb_is_an_unbiased_estimate_of_the_full_bound():
    full = _diffusion(T=40, vlb_terms=40)
    strided = _diffusion(T=40, vlb_terms=5)
    strided.load_state_dict(full.state_dict())
    x = torch.randn(3000, 2, generator=torch.Generator().manual_seed(2))
    a = full.log_likelihood(x, torch.Generator().manual_seed(5))
    b = strided.log_likelihood(x, torch.Generator().manual_seed(6))
    assert a.details["kl_terms_per_example"] == 39 and b.details["kl_terms_per_example"] == 5
    assert not a.exact and a.method == "vlb"
    gap = abs(a.details["diffusion_nats_mean"] - b.details["diffusion_nats_mean"])
    assert gap < 0.05 * abs(a.details["diffusion_nats_mean"])


def _expected_vlb(x0: torch.Tensor, alpha_bars: torch.Tensor) -> torch.Tensor:
    """E over the forward noise of the bound, per example, for the Gaussian
    oracle and a Gaussian decoder, in closed form."""
    ab = alpha_bars.double()
    x2 = x0.double() ** 2
    prior = 0.5 * (-torch.log(1 - ab[-1]) + (1 - ab[-1]) + ab[-1] * x2 - 1)
    decoder = -0.5 * torch.log(2 * math.pi * (1 - ab[1])) - ((1 - ab[1]) * x2 + ab[1]) / 2
    kl = torch.zeros_like(x2)
    for t in range(2, len(ab)):
        beta = 1 - ab[t] / ab[t - 1]
        c1 = ab[t - 1].sqrt() * beta / (1 - ab[t])
        var = beta * (1 - ab[t - 1]) / (1 - ab[t])
        kl += c1**2 * ((1 - ab[t]) ** 2 * x2 + ab[t] * (1 - ab[t])) / (2 * var)
    return (decoder - prior - kl).sum(1)


def test_vlb_estimate_matches_its_closed_form_for_the_exact_denoiser():
    model = _with_oracle(_diffusion(T=1000, vlb_terms=100))
    x = torch.randn(2000, 2, generator=torch.Generator().manual_seed(3))
    estimate = model.log_likelihood(x, torch.Generator().manual_seed(4)).nats.double()
    expected = _expected_vlb(x, model.alpha_bars)
    assert abs(estimate.mean().item() - expected.mean().item()) < 0.02 * expected.abs().mean()
    true = (-0.5 * x.double() ** 2 - 0.5 * math.log(2 * math.pi)).sum(1)
    assert expected.mean() < true.mean()  # a bound on average, as Gibbs' inequality requires


def test_unknown_sampler_is_rejected():
    with pytest.raises(ValueError, match="unknown sampler 'euler'"):
        _diffusion(sampler="euler")
