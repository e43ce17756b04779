"""PixelCNN (masked and gated) and MADE: exact, normalised likelihoods, no
blind spot in the gated network, and exact incremental samplers."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from genbench_families.autoregressive import Autoregressive
from genbench_families.nets import image, toy
from genbench_families.nets.gated_pixelcnn import GatedPixelCNN
from genbench_families.nets.pixelcnn import PixelCNN, raster_mask
from genbench_families.space import DataSpace
from test_families_support import assert_close, perturb


def _pixelcnn(
    shape: tuple[int, ...], levels: int, seed: int = 0, kernel: int | None = None
) -> Autoregressive:
    torch.manual_seed(seed)
    model = Autoregressive(
        DataSpace(shape, levels),
        image,
        width=8,
        layers=2,
        steps=0,
        batch_size=8,
        lr=1e-3,
        kernel=kernel,
    )
    perturb(model, 0.3, seed)
    return model.eval()


@pytest.mark.parametrize("kernel", [None, 3])
def test_probabilities_of_all_2x2_images_with_4_levels_sum_to_one(kernel):
    model = _pixelcnn((1, 2, 2), levels=4, kernel=kernel)
    every_image = torch.tensor(list(itertools.product(range(4), repeat=4)), dtype=torch.float32)
    x = (2 * every_image / 3 - 1).view(-1, 1, 2, 2)
    nats = model.log_likelihood(x, torch.Generator()).nats.double()
    assert len(nats) == 256
    assert math.isclose(nats.exp().sum().item(), 1.0, abs_tol=1e-5)
    assert nats.std() > 0.1  # a non-trivial distribution, not uniform


def test_raster_masks_hide_the_future():
    assert raster_mask(3, include_centre=False).tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    assert raster_mask(3, include_centre=True).tolist() == [[1, 1, 1], [1, 1, 0], [0, 0, 0]]


def test_pixelcnn_output_depends_only_on_earlier_pixels():
    torch.manual_seed(0)
    net = PixelCNN((1, 5, 5), params=3, width=8, layers=3)
    x = torch.randn(1, 1, 5, 5, requires_grad=True)
    position = 12  # pixel (2, 2)
    net(x)[0, 0, 2, 2].sum().backward()
    influence = x.grad.flatten().abs()
    assert (influence[position:] == 0).all()
    assert (influence[:position] > 0).sum() >= 8


def test_incremental_sampler_equals_the_full_network():
    torch.manual_seed(1)
    net = PixelCNN((1, 6, 5), params=4, width=8, layers=3)
    perturb(net, 0.2)
    values = torch.randn(3, 30)
    state = net.start(3)
    recorded = []
    for position in range(30):
        recorded.append(state.params(position))
        state.write(position, values[:, position])
    incremental = torch.stack(recorded, dim=1)  # 3 x 30 x params
    full = net(values.view(3, 1, 6, 5)).reshape(3, 30, 4)
    assert_close(incremental, full, atol=1e-5)
    assert_close(state.values(), values.view(3, 1, 6, 5), atol=0)


@pytest.mark.parametrize(("kernel", "layers"), [(3, 5), (5, 3)])
def test_gated_pixelcnn_sees_every_earlier_pixel_and_no_later_one(kernel, layers):
    # With L layers the receptive field reaches L·(p - 1) + 1 rows up, L·(k // 2)
    # columns either side and q + (L - 1)(q - 1) pixels left (p = q = (k + 1) // 2):
    # all of a 5x5 image for these settings, so no pixel is in a blind spot.
    torch.manual_seed(4)
    net = GatedPixelCNN((1, 5, 5), params=3, width=8, layers=layers, kernel=kernel)
    perturb(net, 0.3)
    for position in range(25):
        x = torch.randn(1, 1, 5, 5, requires_grad=True)
        net(x).reshape(25, 3)[position].sum().backward()
        influence = x.grad.flatten()
        assert (influence[position:] == 0).all(), f"pixel {position} sees a later pixel"
        assert (influence[:position] != 0).all(), f"pixel {position} has a blind spot"


def test_masked_pixelcnn_has_the_blind_spot_the_gated_one_removes():
    torch.manual_seed(0)
    net = PixelCNN((1, 9, 9), params=3, width=8, layers=6)
    x = torch.randn(1, 1, 9, 9, requires_grad=True)
    # however deep, the row above is seen only up to 3 columns to the right
    net(x)[0, 0, 4, 2].sum().backward()
    assert x.grad[0, 0, 3, 5] != 0 and (x.grad[0, 0, 3, 6:] == 0).all()


@pytest.mark.parametrize("kernel", [3, 5])
def test_gated_incremental_sampler_equals_the_full_network(kernel):
    torch.manual_seed(1)
    net = GatedPixelCNN((1, 6, 5), params=4, width=8, layers=3, kernel=kernel)
    perturb(net, 0.2)
    values = torch.randn(3, 30)
    state = net.start(3)
    recorded = []
    for position in range(30):
        recorded.append(state.params(position))
        state.write(position, values[:, position])
    incremental = torch.stack(recorded, dim=1)
    full = net(values.view(3, 1, 6, 5)).reshape(3, 30, 4)
    assert_close(incremental, full, atol=1e-5)
    assert_close(state.values(), values.view(3, 1, 6, 5), atol=0)


@pytest.mark.parametrize(
    ("shape", "layers", "kernel", "message"),
    [
        ((2, 4, 4), 1, 3, "single-channel images"),
        ((1, 4, 4), 0, 3, "need layers >= 1 and an odd kernel >= 1, got 0, 3"),
        ((1, 4, 4), 2, 4, "need layers >= 1 and an odd kernel >= 1, got 2, 4"),
    ],
)
def test_gated_pixelcnn_rejects_bad_settings(shape, layers, kernel, message):
    with pytest.raises(ValueError, match=message):
        GatedPixelCNN(shape, params=4, width=8, layers=layers, kernel=kernel)


def test_pixelcnn_rejects_multichannel_images():
    with pytest.raises(ValueError, match="single-channel images"):
        image.autoregressive_network((3, 4, 4), params=4, width=8, layers=1)


def test_made_density_integrates_to_one():
    torch.manual_seed(2)
    space = DataSpace((2,), levels=None)
    model = Autoregressive(
        space, toy, width=16, layers=2, steps=0, batch_size=8, lr=1e-3, components=3
    )
    perturb(model, 0.1)
    axis = torch.linspace(-12, 12, 401)
    grid = torch.cartesian_prod(axis, axis)
    density = model.log_likelihood(grid, torch.Generator()).nats.exp().view(401, 401)
    mass = torch.trapezoid(torch.trapezoid(density, axis, dim=1), axis).item()
    assert math.isclose(mass, 1.0, abs_tol=2e-3)


def test_made_first_coordinate_ignores_the_inputs():
    torch.manual_seed(3)
    net = toy.MADE(dim=3, params=2, width=12, layers=2)
    x = torch.randn(4, 3, requires_grad=True)
    out = net(x)
    (grad_first,) = torch.autograd.grad(out[:, 0].sum(), x, retain_graph=True)
    (grad_last,) = torch.autograd.grad(out[:, 2].sum(), x)
    assert (grad_first == 0).all()
    assert (grad_last[:, 2] == 0).all() and (grad_last[:, :2] != 0).any()


@pytest.mark.parametrize("kernel", [None, 3])
def test_sampling_is_seeded_and_independent_of_chunking(kernel):
    model = _pixelcnn((1, 3, 3), levels=4, kernel=kernel)
    a = model.sample(5, torch.Generator().manual_seed(7))
    b = model.sample(5, torch.Generator().manual_seed(7))
    assert torch.equal(a, b)
    assert set(((a + 1) * 1.5).round().unique().tolist()) <= {0.0, 1.0, 2.0, 3.0}
    assert model.nfe() == 9
