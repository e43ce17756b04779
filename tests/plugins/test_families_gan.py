"""GAN family: the critic objectives in closed form, and the configuration checks."""

from __future__ import annotations

import math

import pytest
import torch
from genbench_families.gan import GAN
from genbench_families.nets import toy
from genbench_families.space import DataSpace
from test_families_support import TinyBlobsTask, fit_model


def _gan(**options) -> GAN:
    torch.manual_seed(0)
    settings = dict(latent_dim=2, width=8, steps=0, batch_size=8, lr=1e-3)
    return GAN(DataSpace((2,), None), toy, **{**settings, **options})


class LinearCritic(torch.nn.Module):
    def __init__(self, weight: list[float]) -> None:
        super().__init__()
        self.weight = torch.tensor(weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.weight).sum(1, keepdim=True)


def test_gradient_penalty_of_a_linear_critic_is_its_squared_norm_gap():
    gan = _gan(loss="wgan-gp")
    real, fake = torch.randn(32, 2), torch.randn(32, 2)
    generator = torch.Generator().manual_seed(0)
    gan.critic = LinearCritic([0.6, 0.8])  # unit gradient everywhere
    assert gan.gradient_penalty(real, fake, generator).item() < 1e-12
    gan.critic = LinearCritic([1.2, 1.6])  # gradient norm 2
    assert math.isclose(gan.gradient_penalty(real, fake, generator).item(), 1.0, rel_tol=1e-6)


def test_wgan_critic_loss_is_the_score_gap_plus_penalty():
    gan = _gan(loss="wgan-gp", penalty=10.0)
    gan.critic = LinearCritic([1.2, 1.6])
    real, fake = torch.ones(4, 2), torch.zeros(4, 2)
    loss = gan.critic_loss(real, fake, torch.Generator().manual_seed(0))
    assert math.isclose(loss.item(), (0.0 - 2.8) + 10.0 * 1.0, rel_tol=1e-6)


def test_hinge_loss_is_zero_only_beyond_the_margins():
    gan = _gan(loss="hinge")
    gan.critic = LinearCritic([1.0, 0.0])
    real = torch.tensor([[2.0, 0.0], [0.5, 0.0]])
    fake = torch.tensor([[-3.0, 0.0], [0.0, 0.0]])
    loss = gan.critic_loss(real, fake, torch.Generator())
    # real: relu(1 - 2) = 0, relu(1 - 0.5) = 0.5; fake: relu(1 - 3) = 0, relu(1 + 0) = 1
    assert math.isclose(loss.item(), 0.25 + 0.5, rel_tol=1e-6)


def test_training_records_one_critic_loss_per_generator_update(tmp_path):
    fitted = fit_model("gan", TinyBlobsTask(), tmp_path, steps=30)
    assert fitted.model.capabilities == {"sample"}
    history = fitted.model.fit(
        fitted.model.space.encode(TinyBlobsTask().load().train), torch.Generator()
    )
    assert len(history) == 30 and all(math.isfinite(v) for v in history)
    with pytest.raises(NotImplementedError, match="has no likelihood"):
        fitted.model.log_likelihood(torch.zeros(2, 2), torch.Generator())
    with pytest.raises(NotImplementedError, match="does not reconstruct"):
        fitted.model.reconstruct(torch.zeros(2, 2))


def test_invalid_settings_are_rejected():
    with pytest.raises(ValueError, match="unknown GAN loss 'minimax'"):
        _gan(loss="minimax")
    with pytest.raises(ValueError, match="critic_steps must be >= 1"):
        _gan(critic_steps=0)
