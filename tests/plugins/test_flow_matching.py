"""Flow matching: the linear path and its velocity target, the ODE solvers
and their evaluation counts, the likelihood by the instantaneous change of
variables (closed-form Gaussian references, a normalised toy density, the
Hutchinson estimate against the exact trace), the dequantised bound, the
row sharing the network, and the refused settings."""

from __future__ import annotations

import math

import pytest
import torch
from genbench_families import plugin
from genbench_families.catalogue import SPECS_BY_NAME, build
from genbench_families.flow_matching import FlowMatching, time_grid
from genbench_families.nets import toy
from genbench_families.space import DataSpace
from test_families_support import (
    TinyBarsTask,
    TinyBlobsTask,
    assert_close,
    fit_model,
    perturb,
)
from torch import Tensor, nn


class GaussianVelocity(nn.Module):
    """The exact marginal velocity of the linear path when the data is
    ``N(mu, s² I)``: ``x_t ~ N(t mu, σ_t² I)`` with
    ``σ_t² = (1 - t)² + t² s²``, so ``v(x, t) = mu + (σ_t'/σ_t)(x - t mu)``
    and the flow maps noise ``z`` to ``mu + s z``."""

    def __init__(self, mu: float, s: float) -> None:
        super().__init__()
        self.mu, self.s = mu, s
        self.calls = 0

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        self.calls += 1
        t = t.view(-1, *([1] * (x.dim() - 1)))
        var = (1 - t) ** 2 + t**2 * self.s**2
        rate = (-(1 - t) + t * self.s**2) / var  # σ_t'/σ_t
        return self.mu + rate * (x - t * self.mu)


def _model(shape=(2,), levels=None, seed=0, **options) -> FlowMatching:
    """A small flow-matching model on the toy MLP, weights perturbed so that
    its Jacobian is full (a fresh network outputs zeros), in eval mode."""
    torch.manual_seed(seed)
    settings = dict(width=16, steps=0, batch_size=8, lr=1e-3)
    model = FlowMatching(DataSpace(shape, levels), toy, **{**settings, **options})
    perturb(model, 0.3, seed)
    return model.eval()


def _gaussian_model(mu=0.5, s=0.3, shape=(2,), levels=None, **options) -> FlowMatching:
    model = _model(shape, levels, **options)
    model.net = GaussianVelocity(mu, s)
    return model


def _gaussian_log_density(x: Tensor, mu: float, s: float) -> Tensor:
    z = (x.double() - mu) / s
    dims = x[0].numel()
    return (-0.5 * z**2).flatten(1).sum(1) - dims * (math.log(s) + 0.5 * math.log(2 * math.pi))


# -- the path and the training target ---------------------------------------------------


def test_path_interpolates_noise_to_data_and_its_target_is_the_time_derivative():
    x0, x1 = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    t = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0], dtype=torch.float64)
    xt, target = FlowMatching.path(x0, x1, t)
    assert torch.equal(xt[0], x0[0]) and torch.equal(xt[-1], x1[-1])
    assert_close(xt[2], 0.5 * (x0[2] + x1[2]), atol=1e-15)
    h = 1e-6
    ahead, _ = FlowMatching.path(x0, x1, t + h)
    assert_close((ahead - xt) / h, target, atol=1e-8)
    assert_close(target, x1 - x0, atol=0)


def test_loss_is_the_squared_error_against_x1_minus_x0_at_uniform_times():
    model = _model()
    x1 = torch.randn(16, 2)
    loss = model.loss(x1, torch.Generator().manual_seed(4))
    generator = torch.Generator().manual_seed(4)  # the draws, in the loss's order
    t = torch.rand(16, generator=generator)
    x0 = torch.randn(16, 2, generator=generator)
    xt = (1 - t[:, None]) * x0 + t[:, None] * x1
    expected = ((model.net(xt, t) - (x1 - x0)) ** 2).mean()
    assert abs(loss.item() - expected.item()) < 1e-6


def test_discrete_training_data_is_spread_uniformly_over_each_level_bin():
    model = _model((4,), levels=5)
    assert model.bin_width() == 0.5
    x = torch.zeros(4000, 4)
    y = model.dequantise(x, torch.Generator().manual_seed(0))
    assert y.min() >= -0.25 and y.max() < 0.25
    assert abs(y.mean().item()) < 0.01 and abs(y.var().item() - 0.5**2 / 12) < 5e-4
    continuous = _model()
    assert torch.equal(continuous.dequantise(x, torch.Generator()), x)


# -- sampling ---------------------------------------------------------------------------


@pytest.mark.parametrize(("solver", "steps"), [("heun", 100), ("euler", 2000)])
def test_the_exact_gaussian_velocity_carries_noise_to_mu_plus_s_times_noise(solver, steps):
    model = _gaussian_model(mu=0.5, s=0.3, solver=solver, ode_steps=steps)
    samples = model.sample(64, torch.Generator().manual_seed(1))
    noise = torch.randn(64, 2, generator=torch.Generator().manual_seed(1))
    assert_close(samples, 0.5 + 0.3 * noise, atol=2e-3 if solver == "euler" else 3e-4)


def test_euler_with_many_steps_agrees_with_heun_on_a_network():
    # the networks embed t with frequencies up to 1000 rad per unit time, so a
    # perturbed network's field varies quickly in t and both solvers need
    # many steps; Euler's gap to Heun shrinks like 1/N
    model = _model()
    x = torch.randn(32, 2, generator=torch.Generator().manual_seed(2))
    heun = model.integrate(x, "heun", 1000)
    gaps = [(model.integrate(x, "euler", n) - heun).abs().max().item() for n in (4, 1000, 4000)]
    assert gaps[0] > 0.05  # the field is not trivial for Euler
    assert gaps[2] < 2e-4 and gaps[2] < gaps[1] / 3


def test_time_grids_run_from_noise_to_data_and_shrink_towards_the_data_for_power_above_one():
    assert time_grid(4, 1.0) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert time_grid(4, 2.0) == [0.0, 0.4375, 0.75, 0.9375, 1.0]
    widths = torch.diff(torch.tensor(time_grid(10, 3.0)))
    assert (widths[1:] < widths[:-1]).all()


@pytest.mark.parametrize("power", [1.0, 2.0])
def test_heun_on_either_grid_carries_noise_to_the_gaussian_and_back(power):
    model = _gaussian_model(mu=0.5, s=0.3, ode_steps=100, time_power=power, likelihood_steps=100)
    noise = torch.randn(16, 2, generator=torch.Generator().manual_seed(1))
    samples = model.sample(16, torch.Generator().manual_seed(1))
    assert_close(samples, 0.5 + 0.3 * noise, atol=5e-4)
    nats = model.log_likelihood(samples, torch.Generator()).nats
    assert_close(nats, _gaussian_log_density(samples, 0.5, 0.3), atol=2e-3)


@pytest.mark.parametrize(("solver", "steps", "nfe"), [("euler", 7, 7), ("heun", 5, 10)])
def test_nfe_counts_the_network_evaluations_of_one_sample(solver, steps, nfe):
    model = _gaussian_model(solver=solver, ode_steps=steps)
    model.sample(9, torch.Generator().manual_seed(0))
    assert model.nfe() == nfe == model.net.calls  # one batched call per evaluation


# -- likelihood -------------------------------------------------------------------------


@pytest.mark.parametrize("trace", ["exact", "hutchinson"])
def test_likelihood_of_the_exact_gaussian_velocity_is_the_gaussian_density(trace):
    # v = mu + a_t (x - t mu): its Jacobian is a_t I, so even Hutchinson's
    # estimate εᵀ(a_t I)ε = a_t D is exact, with zero spread
    model = _gaussian_model(
        mu=0.5, s=0.3, trace=trace, probes=3, likelihood_solver="heun", likelihood_steps=200
    )
    x = 0.5 + 0.3 * torch.randn(20, 2, generator=torch.Generator().manual_seed(3))
    result = model.log_likelihood(x, torch.Generator().manual_seed(0))
    assert_close(result.nats, _gaussian_log_density(x, 0.5, 0.3), atol=5e-4)
    assert result.exact == (trace == "exact") and result.method == f"cnf-{trace}-trace"
    if trace == "hutchinson":
        assert result.details["trace_std_error_nats_mean"] < 1e-6


def test_toy_density_from_the_exact_trace_integrates_to_one_after_a_short_fit(tmp_path):
    fitted = fit_model("flow-matching", TinyBlobsTask(), tmp_path, steps=300)
    xs, ys = torch.linspace(-8, 8, 321), torch.linspace(-3, 5, 161)  # ≥ 4 sd beyond the data
    grid = torch.cartesian_prod(xs, ys)
    result = plugin.log_likelihood(fitted, grid.numpy())
    assert result.exact and result.method == "cnf-exact-trace"
    assert result.details["likelihood_nfe"] == 40  # smoke: 20 Heun steps
    density = torch.from_numpy(result.nats).exp().view(len(xs), len(ys))
    mass = torch.trapezoid(torch.trapezoid(density, ys, dim=1), xs).item()
    assert abs(mass - 1.0) < 0.03
    # and it has learned something: the test points score above the single
    # Gaussian fitted to the data (-3.26 nats on average; the truth is -2.27)
    test = TinyBlobsTask().load().test.numpy()
    assert plugin.log_likelihood(fitted, test).nats.mean() > -3.0


def test_hutchinson_agrees_with_the_exact_trace_within_its_spread():
    settings = dict(likelihood_solver="heun", likelihood_steps=10)
    exact = _model(trace="exact", **settings)
    hutchinson = _model(trace="hutchinson", probes=64, **settings)
    x = torch.randn(32, 2, generator=torch.Generator().manual_seed(5))
    reference = exact.log_likelihood(x, torch.Generator().manual_seed(0)).nats
    estimate, error = hutchinson._log_density(
        x, torch.randint(0, 2, (32, 64, 2), generator=torch.Generator().manual_seed(6)) * 2.0 - 1
    )
    assert (error > 1e-3).all()  # the Jacobian is not diagonal: probes disagree
    assert ((estimate - reference).abs() <= 4 * error).all()
    assert abs((estimate - reference).mean()) <= 3 * error.pow(2).sum().sqrt() / 32
    result = hutchinson.log_likelihood(x, torch.Generator().manual_seed(0))
    assert result.details["probes"] == 64 and result.details["probe_distribution"] == "rademacher"


def test_discrete_likelihood_is_the_dequantised_bound_with_the_bin_width_term():
    model = _gaussian_model(
        mu=0.0,
        s=0.6,
        shape=(4,),
        levels=5,
        trace="hutchinson",
        probes=2,
        likelihood_steps=100,
    )
    x = torch.tensor([[-1.0, -0.5, 0.0, 1.0]]).repeat(6, 1)
    result = model.log_likelihood(x, torch.Generator().manual_seed(8))
    y = model.dequantise(x, torch.Generator().manual_seed(8))  # the same draw
    expected = _gaussian_log_density(y, 0.0, 0.6) + 4 * math.log(0.5)
    assert_close(result.nats, expected, atol=5e-4)
    assert not result.exact and result.method == "dequantised-cnf-hutchinson-trace"
    assert result.details["dequantisation"] == "uniform" and result.details["likelihood_nfe"] == 200
    # a bound on log P: the dequantised density never exceeds the bin's mass
    assert (result.nats < 0).all()


def test_the_likelihood_does_not_depend_on_the_chunk_size():
    x = torch.randn(10, 2, generator=torch.Generator().manual_seed(9))
    whole = _model(trace="hutchinson", probes=3).log_likelihood(x, torch.Generator().manual_seed(1))
    chunked = _model(trace="hutchinson", probes=3, likelihood_chunk=3).log_likelihood(
        x, torch.Generator().manual_seed(1)
    )
    assert_close(chunked.nats, whole.nats, atol=1e-5)


# -- the rows ---------------------------------------------------------------------------


def test_the_euler8_row_shares_the_checkpoint_and_samples_with_eight_evaluations(
    tmp_path, monkeypatch
):
    main, fast = SPECS_BY_NAME["flow-matching"], SPECS_BY_NAME["flow-matching-euler8"]
    assert fast.trains_as == "flow-matching" and fast.budgets == main.budgets
    assert "log_likelihood" not in fast.capabilities
    task = TinyBlobsTask()
    trained = fit_model("flow-matching", task, tmp_path, steps=20)

    def refuse(*args, **kwargs):
        raise AssertionError("the shared checkpoint should have been loaded, not retrained")

    monkeypatch.setattr(FlowMatching, "fit", refuse)
    shared = fit_model("flow-matching-euler8", task, tmp_path, steps=20)
    for name, value in trained.model.state_dict().items():
        assert torch.equal(value, shared.model.state_dict()[name]), name
    assert plugin.model_info(shared)["nfe"] == 8 and plugin.model_info(trained)["nfe"] == 20
    assert plugin.log_likelihood(shared, task.load().test[:3]) is None


def test_image_and_audio_rows_use_hutchinson_and_equal_steps_and_toy_rows_neither():
    spec = SPECS_BY_NAME["flow-matching"]
    for budget in ("smoke", "default", "full"):
        image = build(spec, (1, 8, 8), 256, "image", budget)
        audio = build(spec, (64,), 256, "audio", budget)
        points = build(spec, (2,), None, "toy", budget)
        assert (image.trace, audio.trace, points.trace) == ("hutchinson", "hutchinson", "exact")
        assert image.likelihood_steps <= 20 and image.probes >= 2
        assert (image.time_power, audio.time_power, points.time_power) == (1.0, 1.0, 2.0)


def test_discrete_samples_have_the_tasks_shape_dtype_and_levels(tmp_path):
    fitted = fit_model("flow-matching", TinyBarsTask(), tmp_path, steps=5)
    samples = plugin.sample(fitted, 5, 0)
    assert samples.shape == (5, 1, 4, 4) and samples.dtype == torch.uint8 and samples.max() <= 3
    assert torch.equal(samples, plugin.sample(fitted, 5, 0))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"ode_steps": 0}, "sampling steps must be >= 1, got 0"),
        ({"solver": "rk4"}, r"unknown sampling solver 'rk4'; choose one of \['euler', 'heun'\]"),
        ({"likelihood_steps": 0}, "likelihood steps must be >= 1, got 0"),
        ({"likelihood_solver": "midpoint"}, "unknown likelihood solver 'midpoint'"),
        ({"trace": "skilling"}, r"unknown trace estimator 'skilling'; choose one of"),
        ({"trace": "hutchinson", "probes": 1}, "the Hutchinson trace needs probes >= 2, got 1"),
        ({"likelihood_chunk": 0}, "likelihood_chunk must be >= 1, got 0"),
        ({"time_power": 0.5}, "time_power must be >= 1, got 0.5"),
    ],
)
def test_bad_settings_are_refused_with_their_values(options, message):
    with pytest.raises(ValueError, match=message):
        _model(**options)
    with pytest.raises(ValueError, match="ODE steps must be >= 1, got 0"):
        _model().integrate(torch.zeros(1, 2), "euler", 0)
