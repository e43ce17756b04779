"""RealNVP: an exact bijection with the right log-determinant, and the
dequantised discrete bound."""

from __future__ import annotations

import math

import pytest
import torch
from genbench_families.bijections import (
    ActNorm,
    AffineCoupling,
    build_scales,
    channel_mask,
    checkerboard,
    squeeze,
    unsqueeze,
)
from genbench_families.flow import RealNVP
from genbench_families.nets import image, toy
from genbench_families.nets.coupling import ResidualConditioner
from genbench_families.space import DataSpace
from test_families_support import assert_close, perturb

RECIPE = {"native_first": True, "actnorm": True, "log_scale_bound": 4.0, "blocks": 1}
"""The image recipe of the ``default`` budget (toy vectors take all but ``native_first``)."""


def _flow(
    shape: tuple[int, ...],
    levels: int | None,
    seed: int = 0,
    noise: float = 0.2,
    recipe: bool = False,
) -> RealNVP:
    torch.manual_seed(seed)
    nets = image if len(shape) == 3 else toy
    options = dict(RECIPE) if recipe else {}
    if recipe and len(shape) != 3:
        del options["native_first"]
    model = RealNVP(
        DataSpace(shape, levels),
        nets,
        scales=2,
        couplings=2,
        width=8,
        steps=0,
        batch_size=8,
        lr=1e-3,
        **options,
    )
    perturb(model, noise, seed)
    return model.eval()


def test_squeeze_is_inverted_by_unsqueeze_and_moves_2x2_blocks_to_channels():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    squeezed = squeeze(x)
    assert squeezed.shape == (1, 4, 2, 2)
    assert squeezed[0, :, 0, 0].tolist() == [0.0, 1.0, 4.0, 5.0]
    assert torch.equal(unsqueeze(squeezed), x)


def test_masks_are_complementary_patterns():
    even, odd = checkerboard((2, 2, 3), 0), checkerboard((2, 2, 3), 1)
    assert even[0].tolist() == [[1, 0, 1], [0, 1, 0]]
    assert torch.equal(even + odd, torch.ones(2, 2, 3))
    assert channel_mask((4, 1, 1), True).flatten().tolist() == [1, 1, 0, 0]
    assert channel_mask((3,), False).tolist() == [0, 1, 1]


def test_layout_factors_out_half_the_channels_per_scale():
    _, shapes = build_scales((1, 8, 8), image, scales=3, couplings=1, width=4)
    assert shapes == [(2, 4, 4), (4, 2, 2), (16, 1, 1)]
    assert sum(math.prod(s) for s in shapes) == 64


def test_native_first_layout_runs_checkerboards_on_the_pixel_grid_before_squeezing():
    blocks, shapes = build_scales(
        (1, 8, 8), image, scales=2, couplings=2, width=4, native_first=True, actnorm=True
    )
    assert shapes == [(2, 4, 4), (8, 2, 2)]
    first = blocks[0]
    before = [layer for layer in first.before if isinstance(layer, AffineCoupling)]
    assert [tuple(layer.mask.shape) for layer in before] == [(1, 8, 8), (1, 8, 8)]
    assert torch.equal(before[0].mask, checkerboard((1, 8, 8), 0))
    after = [layer for layer in first.couplings if isinstance(layer, AffineCoupling)]
    assert [layer.mask[:, 0, 0].tolist() for layer in after] == [[1, 1, 0, 0], [0, 0, 1, 1]]
    assert sum(isinstance(layer, ActNorm) for layer in first.before) == 2


def test_native_first_applies_to_images_only():
    with pytest.raises(ValueError, match=r"native_first applies to images \(C, H, W\) only"):
        build_scales((4,), toy, scales=1, couplings=1, width=4, native_first=True)


def test_actnorm_initialises_to_a_standardised_batch_and_then_keeps_its_parameters():
    layer = ActNorm((2, 3, 3))
    x = torch.randn(64, 2, 3, 3) * torch.tensor([3.0, 0.5]).view(1, 2, 1, 1) + 1.0
    y, log_det = layer(x)
    per_channel = y.transpose(0, 1).reshape(2, -1)
    assert_close(per_channel.mean(1), torch.zeros(2), atol=1e-5)
    assert_close(per_channel.std(1), torch.ones(2), atol=1e-4)
    assert_close(log_det, torch.full((64,), 9 * layer.log_scale.sum().item()), atol=1e-5)
    assert_close(layer.inverse(y), x, atol=1e-5)
    before = layer.log_scale.detach().clone()
    layer(x * 10)  # initialised once: a second batch does not reset it
    assert torch.equal(layer.log_scale.detach(), before)


def test_bounded_log_scale_reaches_its_bound_and_is_the_identity_near_zero():
    conditioner = torch.nn.Linear(2, 4)
    coupling = AffineCoupling(channel_mask((2,), True), conditioner, bound=4.0)
    with torch.no_grad():
        conditioner.weight.zero_()
        conditioner.bias.copy_(torch.tensor([0.0, 1e3, 0.0, 0.0]))  # raw s = 1000 on the free half
    y, log_det = coupling(torch.tensor([[1.0, 1.0]]))
    assert log_det.item() == pytest.approx(4.0, abs=1e-5)
    assert y[0, 1].item() == pytest.approx(math.exp(4.0), rel=1e-5)
    with torch.no_grad():
        conditioner.bias.copy_(torch.tensor([0.0, 1e-3, 0.0, 0.0]))
    assert coupling(torch.tensor([[1.0, 1.0]]))[1].item() == pytest.approx(1e-3, rel=1e-6)
    with pytest.raises(ValueError, match=r"the log-scale bound must be positive, got 0\.0"):
        AffineCoupling(channel_mask((2,), True), conditioner, bound=0.0)


@pytest.mark.parametrize("recipe", [False, True])
@pytest.mark.parametrize("shape", [(1, 4, 4), (1, 6, 6), (2,)])
def test_round_trip_is_the_identity(shape, recipe):
    model = _flow(shape, levels=None, noise=0.1, recipe=recipe)
    y = torch.randn(16, *shape)
    z, _ = model.forward_flow(y)
    assert z.shape == (16, math.prod(shape))
    assert_close(model.inverse_flow(z), y, atol=1e-4)


@pytest.mark.parametrize("recipe", [False, True])
@pytest.mark.parametrize("shape", [(1, 4, 4), (2,)])
def test_log_determinant_matches_the_brute_force_jacobian(shape, recipe):
    # the recipe's e^4 scales make the perturbed Jacobian ill-conditioned at 0.2
    model = _flow(shape, levels=None, noise=0.05 if recipe else 0.2, recipe=recipe).double()
    y = torch.randn(1, *shape, dtype=torch.float64)
    jacobian = torch.autograd.functional.jacobian(lambda v: model.forward_flow(v)[0], y)
    jacobian = jacobian.reshape(math.prod(shape), math.prod(shape))
    sign, log_abs_det = torch.linalg.slogdet(jacobian)
    _, log_det = model.forward_flow(y)
    assert sign.item() == 1.0
    assert abs(log_det.item() - log_abs_det.item()) < 1e-8
    assert abs(log_det.item()) > 1e-3  # the perturbed flow is not volume-preserving


@pytest.mark.parametrize("alpha", [0.05, 1e-6])
def test_discrete_bound_is_log_density_minus_d_log_levels_for_the_identity_flow(alpha):
    # a fresh flow (zero-initialised couplings) is the identity on logit space, so
    # log p(y) = sum log N(logit(p)) + sum log|d logit(p)/dy| with p = α + (1 - 2α) y
    space = DataSpace((1, 2, 2), levels=4)
    torch.manual_seed(0)
    model = RealNVP(
        space, image, scales=1, couplings=1, width=4, steps=0, batch_size=4, lr=1e-3,
        logit_alpha=alpha,
    )  # fmt: skip
    x = torch.tensor([[[[0, 1], [2, 3]]]], dtype=torch.uint8)
    generator = torch.Generator().manual_seed(5)
    result = model.log_likelihood(space.encode(x), generator)
    u = torch.rand(x.shape, generator=torch.Generator().manual_seed(5))
    p = alpha + (1 - 2 * alpha) * (x.double() + u.double()) / 4
    s = torch.log(p) - torch.log1p(-p)
    log_density = (-0.5 * s**2 - 0.5 * math.log(2 * math.pi)).sum()
    log_density += (math.log(1 - 2 * alpha) - torch.log(p) - torch.log1p(-p)).sum()
    assert not result.exact and result.method == "dequantised"
    assert abs(result.nats.item() - (log_density.item() - 4 * math.log(4))) < 1e-4


def test_reconstruction_returns_the_levels_and_reports_a_tiny_round_trip_error():
    model = _flow((1, 4, 4), levels=256)
    x = torch.randint(0, 256, (8, 1, 4, 4), generator=torch.Generator().manual_seed(0))
    encoded = model.space.encode(x)
    assert torch.equal(model.space.decode(model.reconstruct(encoded)), x.to(torch.uint8))
    assert model.roundtrip_error(encoded) < 1e-4


@pytest.mark.parametrize("recipe", [False, True])
def test_toy_likelihood_is_an_exact_normalised_density(recipe):
    model = _flow((2,), levels=None, seed=3, recipe=recipe)
    axis = torch.linspace(-8, 8, 321)
    grid = torch.cartesian_prod(axis, axis)
    result = model.log_likelihood(grid, torch.Generator())
    assert result.exact and result.method == "exact"
    density = result.nats.exp().view(321, 321)
    mass = torch.trapezoid(torch.trapezoid(density, axis, dim=1), axis).item()
    assert math.isclose(mass, 1.0, abs_tol=2e-3)


@pytest.mark.parametrize("alpha", [0.0, 0.5, -1e-3])
def test_logit_alpha_must_lie_strictly_between_0_and_a_half(alpha):
    with pytest.raises(ValueError, match=r"logit_alpha must lie in \(0, 0.5\)"):
        RealNVP(
            DataSpace((1, 2, 2), 4), image, scales=1, couplings=1, width=4, steps=0,
            batch_size=4, lr=1e-3, logit_alpha=alpha,
        )  # fmt: skip


def test_temperature_must_be_positive():
    with pytest.raises(ValueError, match="temperature must be positive"):
        RealNVP(
            DataSpace((2,), None),
            toy,
            scales=1,
            couplings=1,
            width=4,
            steps=0,
            batch_size=4,
            lr=1e-3,
            temperature=0.0,
        )


def test_residual_conditioner_starts_at_zero_or_small_weights_and_rejects_bad_settings():
    torch.manual_seed(0)
    spatial = ResidualConditioner(2, 4, 8, blocks=1, spatial=True)
    assert torch.equal(spatial(torch.randn(3, 2, 5, 5)), torch.zeros(3, 4, 5, 5))
    vector = toy.conditioner(2, 4, 64, blocks=1)
    assert 0.005 < vector.out[-1].weight.std().item() < 0.015
    with pytest.raises(ValueError, match=r"need blocks >= 0 and out_std >= 0, got -1, 0\.0"):
        ResidualConditioner(2, 4, 8, blocks=-1, spatial=False)
