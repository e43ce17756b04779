"""Diffusion family: schedule, posterior, samplers, DDIM inversion and the
variational bound."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from genbench_families.diffusion import (
    Diffusion,
    cosine_alpha_bars,
    linear_alpha_bars,
    step_sequence,
)
from genbench_families.nets import image, toy
from genbench_families.nets.unet import Attention, UNet
from genbench_families.space import DataSpace
from genbench_families.training import EarlyStopping, Schedule
from test_families_support import TinyBlobsTask, assert_close, fit_model, perturb


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


class ZeroNet(torch.nn.Module):
    """Outputs zeros: as a v-predictor it is exact for ``x_0 ~ N(0, I)``,
    where ``E[v | x_t] = sqrt(ᾱ) E[ε | x_t] - sqrt(1 - ᾱ) E[x_0 | x_t] = 0``."""

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


def test_cosine_schedule_matches_nichol_and_dhariwal():
    alpha_bars = cosine_alpha_bars(1000)
    f = lambda t: math.cos((t / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    assert alpha_bars[0] == 1.0
    for t in (1, 250, 500, 900):
        assert math.isclose(alpha_bars[t].item(), f(t) / f(0), rel_tol=1e-9)
    betas = 1 - alpha_bars[1:] / alpha_bars[:-1]
    assert betas.max().item() == pytest.approx(0.999)  # the cap binds at t = T
    assert (betas > 0).all() and alpha_bars[-1] < 1e-6
    assert _diffusion(noise_schedule="cosine").alpha_bars.equal(alpha_bars)


def test_v_prediction_of_the_exact_denoiser_gives_the_exact_noise_and_samples():
    model = _diffusion(prediction="v", sampler="ddpm", ddpm_steps=100)
    model.net = ZeroNet()
    oracle = _with_oracle(_diffusion())
    x = torch.randn(16, 2, generator=torch.Generator().manual_seed(0))
    for t in (1, 300, 1000):
        assert_close(model.eps(x, t), oracle.eps(x, t), atol=1e-6)
    draws = model.sample(4000, torch.Generator().manual_seed(1))
    assert draws.mean(0).abs().max() < 0.08
    assert (draws.std(0) - 1).abs().max() < 0.08


def test_v_prediction_loss_is_the_squared_error_of_v():
    model = _diffusion(prediction="v")
    model.net = ZeroNet()
    x0 = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    loss = model.loss(x0, torch.Generator().manual_seed(7))
    generator = torch.Generator().manual_seed(7)  # the loss's draws, in its order
    t = torch.randint(1, 1001, (64,), generator=generator)
    noise = torch.randn(x0.shape, generator=generator)
    ab = model.alpha_bars[t].float().view(-1, 1)
    v = ab.sqrt() * noise - (1 - ab).sqrt() * x0
    assert math.isclose(loss.item(), (v**2).mean().item(), rel_tol=1e-6)


def test_bad_prediction_and_noise_schedule_are_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"unknown prediction 'x0'; choose one of \['eps', 'v'\]"):
        _diffusion(prediction="x0")
    with pytest.raises(ValueError, match=r"unknown noise schedule 'sqrt'; choose one of"):
        _diffusion(noise_schedule="sqrt")


def test_training_options_are_forwarded_to_the_training_loop():
    model = _diffusion(
        steps=40,
        schedule={"warmup_steps": 5, "decay": "cosine", "final_fraction": 0.1},
        early_stopping={"holdout_fraction": 0.25, "check_every": 10, "patience": 1},
    )
    assert model.lr_schedule == Schedule(warmup_steps=5, decay="cosine", final_fraction=0.1)
    assert model.early_stopping == EarlyStopping(0.25, 10, 1)
    assert _diffusion().lr_schedule is None and _diffusion().early_stopping is None
    data = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    history = model.train().fit(data, torch.Generator().manual_seed(1))
    assert 10 <= len(history) <= 40 and len(history) % 10 == 0
    with pytest.raises(ValueError, match="decay must be 'constant' or 'cosine'"):
        _diffusion(schedule={"decay": "step"})


def test_vlb_strata_are_geometric_and_single_steps_only_where_documented():
    assert _diffusion(vlb_terms=8).vlb_strata().tolist()[:3] == [2, 4, 9]
    sixteen = _diffusion(vlb_terms=16).vlb_strata().tolist()
    assert sixteen[:4] == [2, 3, 4, 6] and sixteen[-1] == 1001
    assert _diffusion(T=40, vlb_terms=40).vlb_strata().tolist() == list(range(2, 42))


def test_vlb_breakdown_in_bits_per_dim_adds_up_to_the_bound():
    model = _with_oracle(_diffusion(T=1000, vlb_terms=16))
    x = torch.randn(500, 2, generator=torch.Generator().manual_seed(3))
    result = model.log_likelihood(x, torch.Generator().manual_seed(4))
    d = result.details
    total = d["prior_bits_per_dim"] + d["diffusion_bits_per_dim"] + d["decoder_bits_per_dim"]
    expected = -result.nats.double().mean().item() / (2 * math.log(2))
    assert math.isclose(total, expected, rel_tol=1e-5)
    assert d["prior_bits_per_dim"] > 0 and d["diffusion_bits_per_dim"] > 0
    assert math.isclose(
        d["diffusion_bits_per_dim"], d["diffusion_nats_mean"] / (2 * math.log(2)), rel_tol=1e-9
    )


def test_image_unet_starts_at_zero_and_has_groupnorm_and_attention_at_the_lowest_level():
    torch.manual_seed(0)
    net = image.denoiser((1, 28, 28), 8)
    assert isinstance(net, UNet)
    x, t = torch.randn(3, 1, 28, 28), torch.tensor([0.0, 0.5, 1.0])
    assert torch.equal(net(x, t), torch.zeros_like(x))  # zero-initialised output
    assert any(isinstance(m, torch.nn.GroupNorm) for m in net.modules())
    perturb(net, 0.1)
    seen = []
    net.attention.register_forward_hook(lambda module, args, out: seen.append(out.shape))
    out = net(x, t)
    assert out.shape == x.shape and seen == [(3, 16, 7, 7)]  # attention at 7x7, 2·width
    assert not torch.allclose(out[0], net(x[:1], torch.tensor([0.7]))[0])  # depends on t
    small = UNet((1, 5, 5), 8)  # odd sides: no folding, no lower level
    assert small(torch.randn(2, 1, 5, 5), torch.rand(2)).shape == (2, 1, 5, 5)
    assert not any(isinstance(m, Attention) for m in small.modules())


def test_t_power_moves_training_draws_to_low_noise():
    seen = []

    class Recorder(ZeroNet):
        def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            seen.append(t * 1000)
            return super().forward(x, t)

    for power, share in ((1.0, 0.01), (2.0, 0.1)):  # P(t <= 10) = (10/T)^(1/power)
        model = _diffusion(t_power=power)
        model.net, seen[:] = Recorder(), []
        model.loss(torch.zeros(40_000, 2), torch.Generator().manual_seed(0))
        t = seen[0].round()
        assert t.min() >= 1 and t.max() <= 1000
        assert abs((t <= 10).float().mean().item() - share) < 0.1 * share + 0.002
    with pytest.raises(ValueError, match="t_power must be > 0, got 0"):
        _diffusion(t_power=0)
