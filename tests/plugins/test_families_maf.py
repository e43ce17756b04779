"""Masked autoregressive flow: autoregressive MADE masks, an exact inverse
and log-determinant, a normalised density, and the dequantised bound on
discrete data."""

from __future__ import annotations

import math

import pytest
import torch
from genbench_families import plugin
from genbench_families.bijections import ActNorm
from genbench_families.distributions import normal_log_prob
from genbench_families.maf import MAF
from genbench_families.nets import toy
from genbench_families.nets.made import AffineMADE
from genbench_families.space import DataSpace
from test_families_support import TinyBarsTask, TinyBlobsTask, assert_close, fit_model, perturb


def _maf(shape: tuple[int, ...], levels: int | None = None, seed: int = 0, **options) -> MAF:
    """A MAF with perturbed weights (a fresh one is the identity) and
    initialised actnorms, in evaluation mode."""
    torch.manual_seed(seed)
    settings = dict(layers=3, width=16, hidden_layers=2, steps=0, batch_size=8, lr=1e-3)
    model = MAF(DataSpace(shape, levels), toy, **{**settings, **options})
    perturb(model, 0.2, seed)
    for layer in model.blocks:
        if isinstance(layer, ActNorm):
            layer.initialised.fill_(True)
    return model.eval()


@pytest.mark.parametrize("hidden_layers", [1, 2])
def test_made_outputs_depend_only_on_earlier_coordinates_in_its_order(hidden_layers):
    torch.manual_seed(0)
    order = torch.randperm(6, generator=torch.Generator().manual_seed(1))
    made = AffineMADE(order, width=12, hidden_layers=hidden_layers)
    perturb(made, 0.5)
    x = torch.randn(1, 6, dtype=torch.float64)
    made = made.double()
    position = torch.empty(6, dtype=torch.long)
    position[order] = torch.arange(6)
    later_or_same = position[None, :] >= position[:, None]  # [output, input]
    for jacobian in torch.autograd.functional.jacobian(made, x):  # shift, log-scale
        jacobian = jacobian.reshape(6, 6)
        assert torch.all(jacobian[later_or_same] == 0)
        assert torch.all(jacobian[~later_or_same].abs() > 0)  # every allowed link is used


def test_made_starts_as_the_identity_and_rejects_bad_settings():
    made = AffineMADE(torch.arange(3), width=8, hidden_layers=1)
    shift, log_scale = made(torch.randn(4, 3))
    assert torch.equal(shift, torch.zeros(4, 3)) and torch.equal(log_scale, torch.zeros(4, 3))
    with pytest.raises(ValueError, match=r"order must be a permutation of range\(3\)"):
        AffineMADE(torch.tensor([0, 0, 2]), width=8, hidden_layers=1)
    with pytest.raises(ValueError, match="a MADE needs hidden_layers >= 1, got 0"):
        AffineMADE(torch.arange(3), width=8, hidden_layers=0)
    with pytest.raises(ValueError, match="a MAF needs layers >= 1, got 0"):
        _maf((2,), layers=0)


def test_stacked_mades_alternate_the_order():
    model = _maf((4,))
    orders = [block.made.order.tolist() for block in model.blocks if hasattr(block, "made")]
    assert orders == [[0, 1, 2, 3], [3, 2, 1, 0], [0, 1, 2, 3]]


@pytest.mark.parametrize("hidden_layers", [1, 2])
@pytest.mark.parametrize("shape", [(2,), (5,), (1, 4, 4)])
def test_inverse_of_forward_is_the_identity(shape, hidden_layers):
    model = _maf(shape, hidden_layers=hidden_layers, log_scale_bound=4.0)
    y = torch.randn(16, *shape, generator=torch.Generator().manual_seed(3))
    z, _ = model.forward_flow(y)
    assert z.shape == (16, math.prod(shape))
    assert_close(model.inverse_flow(z), y, atol=1e-5)
    assert_close(model.forward_flow(model.inverse_flow(z))[0], z, atol=1e-5)


@pytest.mark.parametrize("shape", [(5,), (1, 3, 3)])
def test_log_determinant_matches_the_brute_force_jacobian(shape):
    model = _maf(shape).double()
    y = torch.randn(1, *shape, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    jacobian = torch.autograd.functional.jacobian(lambda v: model.forward_flow(v)[0], y)
    sign, log_abs_det = torch.linalg.slogdet(jacobian.reshape(math.prod(shape), -1))
    _, log_det = model.forward_flow(y)
    assert sign.item() == 1.0  # each transform's Jacobian is triangular with a positive diagonal
    assert abs(log_det.item() - log_abs_det.item()) < 1e-8
    assert abs(log_det.item()) > 1e-2  # the perturbed flow is not volume-preserving


def test_toy_density_integrates_to_one_in_data_coordinates_after_a_short_fit(tmp_path):
    fitted = fit_model("maf", TinyBlobsTask(), tmp_path, steps=300)
    xs, ys = torch.linspace(-16, 16, 801), torch.linspace(-4, 6, 401)  # ±5 sd of the data
    grid = torch.cartesian_prod(xs, ys)
    result = plugin.log_likelihood(fitted, grid.numpy())
    assert result.exact and result.method == "exact"
    density = torch.from_numpy(result.nats).exp().view(len(xs), len(ys))
    mass = torch.trapezoid(torch.trapezoid(density, ys, dim=1), xs).item()
    assert abs(mass - 1.0) < 0.02
    # and on the blobs: the test points score near the true density (-2.27 nats on
    # average), well above the single Gaussian fitted to the data (-3.26)
    task = TinyBlobsTask()
    test = task.load().test.numpy()
    scored = plugin.log_likelihood(fitted, test).nats.mean()
    assert task.log_density(test).mean() - 0.3 < scored < task.log_density(test).mean() + 0.1


def test_samples_score_the_base_density_of_their_noise_plus_the_log_determinant():
    model = _maf((3,), temperature=1.0)
    samples = model.sample(32, torch.Generator().manual_seed(7))
    noise = torch.randn(32, 3, generator=torch.Generator().manual_seed(7))
    z, log_det = model.forward_flow(samples)
    assert_close(z, noise, atol=1e-5)  # sampling inverted the flow at the drawn noise
    nats = model.log_likelihood(samples, torch.Generator()).nats
    zero = torch.zeros(())
    assert_close(nats, normal_log_prob(noise, zero, zero).sum(1) + log_det, atol=1e-4)


def test_discrete_likelihood_is_the_dequantised_bound_and_reconstruction_is_exact(tmp_path):
    task = TinyBarsTask()
    fitted = fit_model("maf", task, tmp_path, steps=20)
    x = task.load().test[:8]
    result = plugin.log_likelihood(fitted, x)
    assert not result.exact and result.method == "dequantised"
    assert (result.nats < 0).all() and result.details == {
        "dequantisation": "uniform",
        "noise_draws": 1,
    }
    assert torch.equal(plugin.reconstruct(fitted, x), x)
    samples = plugin.sample(fitted, 5, 0)
    assert samples.shape == (5, 1, 4, 4) and samples.dtype == torch.uint8 and samples.max() <= 3
    info = plugin.model_info(fitted)
    assert info["nfe"] == 16 * 2 and info["roundtrip_error"] < 1e-4  # 2 MADEs at smoke
