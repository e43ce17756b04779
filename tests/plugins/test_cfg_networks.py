"""The class-conditional denoisers (image, audio and both latent ones): the
default (unconditional) image and audio networks are exactly what they
were before conditioning existed (parameters, names, initial values,
random draws and outputs pinned by checksums computed on main before the
change), and the conditional ones start as their null-class network and
refuse missing or unwanted labels."""

from __future__ import annotations

import hashlib
from types import ModuleType

import pytest
import torch
from genbench_families.nets import audio, image, latent
from genbench_families.nets.layers import LabelEmbedding
from torch import nn

IMAGE = (image, (1, 28, 28), 16)
AUDIO = (audio, (1, 8000), 8)
LATENT_IMAGE = (latent, (4, 7, 7), 8)
LATENT_SEQUENCE = (latent, (4, 250), 8)

PINNED = {
    "image": (
        "0665f3a3449e49fb41e522be742997c424e6d5d3b6d58852a76bdad109f1a79a",
        0.3679012060165405,
        (-140.15464635565877, 1166.4049476869404, 682.4875028865785),
        (-0.3998691737651825, 0.05725355073809624, -0.015417167916893959),
    ),
    "audio": (
        "743207f1d2a824ddbe213e552c0efef9e1a6a403e0a82026d285fda4c966c82e",
        0.0822858214378357,
        (74.53812214660866, 1440.9520289847424, 97.49944964345775),
        (-0.025030596181750298, 0.139974445104599, -0.0054556578397750854),
    ),
}
"""Per modality: sha256 of the initial state_dict (names, shapes, bytes)
after ``torch.manual_seed(0)``, the next ``torch.rand(1)`` (the random
draws construction consumed), and the sum, absolute sum and sum of squares
and three elements of a forward output on a fixed input with the weights
shifted deterministically (a new network outputs zeros)."""


def digest(state: dict[str, torch.Tensor]) -> str:
    """sha256 of a state_dict's names, shapes and bytes, in order."""
    h = hashlib.sha256()
    for name, value in state.items():
        h.update(name.encode())
        h.update(str(tuple(value.shape)).encode())
        h.update(value.detach().contiguous().numpy().tobytes())
    return h.hexdigest()


def shifted_output(net: nn.Module, shape: tuple[int, ...], **labels: torch.Tensor) -> torch.Tensor:
    """The forward output on a fixed 4-example input at four times, after a
    deterministic shift of every parameter."""
    with torch.no_grad():
        for i, p in enumerate(net.parameters()):
            steps = torch.arange(p.numel(), dtype=torch.float32)
            p.add_(0.05 * torch.sin(steps * 0.37 + i).view_as(p))
        x, t = _fixed_input(shape)
        return net(x, t, **labels).double()


@pytest.mark.parametrize("name,case", [("image", IMAGE), ("audio", AUDIO)])
def test_default_networks_unchanged(name: str, case: tuple[ModuleType, tuple, int]) -> None:
    nets, shape, width = case
    state_digest, next_draw, sums, elements = PINNED[name]
    torch.manual_seed(0)
    net = nets.denoiser(shape, width)
    assert digest(net.state_dict()) == state_digest
    assert torch.rand(1).item() == next_draw
    out = shifted_output(net, shape)
    measured = (out.sum().item(), out.abs().sum().item(), (out**2).sum().item())
    assert measured == pytest.approx(sums, rel=1e-5)
    assert out.flatten()[[0, 100, 1000]].tolist() == pytest.approx(elements, rel=1e-4, abs=1e-6)


@pytest.mark.parametrize(
    "name,case",
    [
        ("image", IMAGE),
        ("audio", AUDIO),
        ("latent-image", LATENT_IMAGE),
        ("latent-sequence", LATENT_SEQUENCE),
    ],
)
def test_conditional_network_adds_only_a_zero_label_table(
    name: str, case: tuple[ModuleType, tuple, int]
) -> None:
    nets, shape, width = case
    torch.manual_seed(0)
    plain = nets.denoiser(shape, width)
    after_plain = torch.rand(1).item()
    torch.manual_seed(0)
    conditional = nets.denoiser(shape, width, num_classes=10)
    assert torch.rand(1).item() == after_plain  # the label table draws nothing
    state = conditional.state_dict()
    extra = set(state) - set(plain.state_dict())
    assert extra == {"labels.weight"}
    assert state["labels.weight"].shape == (11, 4 * width)
    assert not state["labels.weight"].any()
    for key, value in plain.state_dict().items():
        assert torch.equal(state[key], value), key
    # with the label table at zero it is its unconditional network, for any label
    expected = shifted_output(plain, shape)
    conditional.load_state_dict(plain.state_dict(), strict=False)
    x, t = _fixed_input(shape)
    with torch.no_grad():
        out = conditional(x, t, torch.tensor([0, 3, 9, 10])).double()
    assert torch.equal(out, expected)


def _fixed_input(shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    size = 4 * torch.Size(shape).numel()
    x = torch.sin(torch.arange(size, dtype=torch.float32) * 0.013).view(4, *shape)
    return x, torch.tensor([0.05, 0.3, 0.6, 0.95])


def test_labels_change_a_conditional_output() -> None:
    torch.manual_seed(0)
    net = image.denoiser((1, 8, 8), 8, num_classes=3)
    shifted_output(net, (1, 8, 8), labels=torch.zeros(4, dtype=torch.int64))
    x, t = _fixed_input((1, 8, 8))
    with torch.no_grad():
        outputs = [net(x, t, torch.full((4,), k)) for k in range(4)]
    for k in range(1, 4):
        assert (outputs[k] - outputs[0]).abs().max() > 1e-3


def test_unconditional_network_refuses_labels() -> None:
    net = image.denoiser((1, 8, 8), 8)
    with pytest.raises(ValueError, match="not class-conditional but was given labels"):
        net(torch.zeros(1, 1, 8, 8), torch.zeros(1), torch.zeros(1, dtype=torch.int64))


def test_conditional_network_needs_labels() -> None:
    net = audio.denoiser((1, 256), 8, num_classes=4)
    with pytest.raises(ValueError, match="needs labels \\(the null class 4"):
        net(torch.zeros(1, 1, 256), torch.zeros(1))


def test_label_embedding_refuses_no_classes() -> None:
    with pytest.raises(ValueError, match="num_classes must be >= 1, got 0"):
        LabelEmbedding(0, 8)
