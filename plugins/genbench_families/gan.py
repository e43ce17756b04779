"""Generative adversarial network (Goodfellow et al., 2014), two flavours:

* ``loss="hinge"``: a spectrally normalised critic (Miyato et al., 2018)
  trained with the hinge loss; the generator maximises the critic's score.
* ``loss="wgan-gp"``: a Wasserstein critic with gradient penalty
  (Gulrajani et al., 2017), ``critic_steps`` critic updates per generator
  update and Adam with ``β1 = 0``.

Sampling only: a GAN defines no likelihood and no encoder.
"""

from __future__ import annotations

from types import ModuleType

import torch
from torch import Tensor

from genbench_families.base import GenerativeModel
from genbench_families.space import DataSpace
from genbench_families.training import Adam, minibatches

LOSSES = ("hinge", "wgan-gp")


class GAN(GenerativeModel):
    """Generator ``z ~ N(0, I) → x`` and a critic, trained adversarially.

    Args:
        space: the task's data space.
        nets: the modality's network factory.
        loss: ``"hinge"`` (spectral-norm critic) or ``"wgan-gp"``.
        latent_dim, width: network sizes.
        steps: generator updates; batch_size, lr: schedule.
        critic_steps: critic updates per generator update.
        penalty: gradient-penalty weight (``wgan-gp`` only).
    """

    def __init__(
        self,
        space: DataSpace,
        nets: ModuleType,
        *,
        latent_dim: int,
        width: int,
        steps: int,
        batch_size: int,
        lr: float,
        loss: str = "hinge",
        critic_steps: int = 1,
        penalty: float = 10.0,
    ) -> None:
        super().__init__(space)
        if loss not in LOSSES:
            raise ValueError(f"unknown GAN loss {loss!r}; choose one of {list(LOSSES)}")
        if critic_steps < 1:
            raise ValueError(f"critic_steps must be >= 1, got {critic_steps}")
        self.loss_name = loss
        self.latent_dim = latent_dim
        self.steps, self.batch_size, self.lr = steps, batch_size, lr
        self.critic_steps = critic_steps
        self.penalty = penalty
        self.generator, self.critic = nets.gan_networks(
            space.shape, latent_dim, width, spectral_norm=(loss == "hinge")
        )

    def generate(self, n: int, generator: torch.Generator) -> Tensor:
        """Generator output for ``n`` fresh codes (training mode as set)."""
        return self.generator(torch.randn(n, self.latent_dim, generator=generator))

    def critic_loss(self, real: Tensor, fake: Tensor, generator: torch.Generator) -> Tensor:
        """The critic's objective on a real and a generated batch."""
        real_score, fake_score = self.critic(real), self.critic(fake)
        if self.loss_name == "hinge":
            return torch.relu(1 - real_score).mean() + torch.relu(1 + fake_score).mean()
        return (
            fake_score.mean()
            - real_score.mean()
            + self.penalty * self.gradient_penalty(real, fake, generator)
        )

    def gradient_penalty(self, real: Tensor, fake: Tensor, generator: torch.Generator) -> Tensor:
        """``E[(||∇ critic(x̂)|| - 1)^2]`` at random interpolates ``x̂``."""
        shape = (len(real),) + (1,) * (real.dim() - 1)
        mix = torch.rand(shape, generator=generator)
        points = (mix * real + (1 - mix) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(self.critic(points).sum(), points, create_graph=True)
        return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()

    def fit(self, data: Tensor, generator: torch.Generator) -> list[float]:
        """Alternate critic and generator updates; returns the critic loss
        after each generator update."""
        betas = (0.0, 0.9) if self.loss_name == "wgan-gp" else (0.5, 0.999)
        g_opt = Adam(self.generator.parameters(), lr=self.lr, betas=betas)
        c_opt = Adam(self.critic.parameters(), lr=self.lr, betas=betas)
        history: list[float] = []
        self.train()
        batches = minibatches(data, self.batch_size, self.steps * self.critic_steps, generator)
        for index, real in enumerate(batches):
            with torch.no_grad():
                fake = self.generate(len(real), generator)
            c_loss = self.critic_loss(real, fake, generator)
            c_opt.zero_grad()
            c_loss.backward()
            c_opt.step()
            if (index + 1) % self.critic_steps:
                continue
            g_loss = -self.critic(self.generate(self.batch_size, generator)).mean()
            g_opt.zero_grad()
            g_loss.backward()
            g_opt.step()
            history.append(float(c_loss.detach()))
        self.eval()
        return history

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        self.eval()
        return self.generate(n, generator)
