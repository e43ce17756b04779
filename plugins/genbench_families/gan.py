"""Generative adversarial network (Goodfellow et al., 2014), two flavours:

* ``loss="hinge"``: a spectrally normalised critic (Miyato et al., 2018)
  trained with the hinge loss; the generator maximises the critic's score.
* ``loss="wgan-gp"``: a Wasserstein critic with gradient penalty
  (Gulrajani et al., 2017), ``critic_steps`` critic updates per generator
  update and Adam with ``β1 = 0``.

Optional stabilisers (off by default, so older budgets train as before):
Adam ``betas`` of one's choice, an R1 penalty on the critic's gradient at
real data (Mescheder et al., 2018) and samples from an exponential moving
average of the generator's weights (Karras et al., 2018; Yazıcı et al.,
2019).

Sampling only: a GAN defines no likelihood and no encoder. Early stopping
is not offered: the critic's loss on held-out data measures the balance of
two players, not sample quality, and does not fall as the generator
improves.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

import torch
from torch import Tensor

from genbench_families.base import GenerativeModel
from genbench_families.space import DataSpace
from genbench_families.training import EMA, Adam, Schedule, minibatches

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
        betas: Adam's ``(β1, β2)`` for both players; by default ``(0, 0.9)``
            for ``wgan-gp`` and ``(0.5, 0.999)`` for ``hinge``.
        r1: weight ``γ`` of the R1 penalty ``γ/2 · E||∇ critic(x_real)||²``
            added to the critic's loss; 0 turns it off.
        ema: decay of an exponential moving average of the generator's
            weights, which replace the generator's own at the end of
            training (so it draws the samples); ``None`` turns it off.
        spectral_norm: spectrally normalise the critic; by default only
            for ``hinge``.
        blocks: residual blocks per resolution in both networks (image
            networks only; 0 keeps the shallow DCGAN networks).
        schedule: keyword arguments of
            :class:`~genbench_families.training.Schedule`, the learning-rate
            warm-up and decay of both players over the generator updates.
        early_stopping: accepted for a uniform budget interface and
            rejected when given (see the module docstring).

    Pickling rebuilds the model from its constructor arguments and
    ``state_dict`` (spectral-norm parametrisations do not pickle).
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
        betas: Sequence[float] | None = None,
        r1: float = 0.0,
        ema: float | None = None,
        spectral_norm: bool | None = None,
        blocks: int = 0,
        schedule: Mapping[str, Any] | None = None,
        early_stopping: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(space)
        if loss not in LOSSES:
            raise ValueError(f"unknown GAN loss {loss!r}; choose one of {list(LOSSES)}")
        if critic_steps < 1:
            raise ValueError(f"critic_steps must be >= 1, got {critic_steps}")
        if r1 < 0:
            raise ValueError(f"r1 must be >= 0, got {r1}")
        if betas is not None and (len(betas) != 2 or not all(0 <= b < 1 for b in betas)):
            raise ValueError(f"betas must be two numbers in [0, 1), got {betas}")
        if early_stopping is not None:
            raise ValueError(
                "a GAN takes no early_stopping: its held-out critic loss does not track "
                "sample quality"
            )
        self._arguments = {
            "space": space,
            "nets": nets.__name__,
            "latent_dim": latent_dim,
            "width": width,
            "steps": steps,
            "batch_size": batch_size,
            "lr": lr,
            "loss": loss,
            "critic_steps": critic_steps,
            "penalty": penalty,
            "betas": betas,
            "r1": r1,
            "ema": ema,
            "spectral_norm": spectral_norm,
            "blocks": blocks,
            "schedule": schedule,
        }
        self.schedule = None if schedule is None else Schedule(**schedule)
        default_betas = (0.0, 0.9) if loss == "wgan-gp" else (0.5, 0.999)
        self.betas = (float(betas[0]), float(betas[1])) if betas is not None else default_betas
        self.r1 = r1
        self.ema_decay = ema
        self.loss_name = loss
        self.latent_dim = latent_dim
        self.steps, self.batch_size, self.lr = steps, batch_size, lr
        self.critic_steps = critic_steps
        self.penalty = penalty
        self.generator, self.critic = nets.gan_networks(
            space.shape,
            latent_dim,
            width,
            spectral_norm=(loss == "hinge") if spectral_norm is None else spectral_norm,
            **({"blocks": blocks} if blocks else {}),  # only image networks take blocks
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self._arguments, self.state_dict(), self.training))

    def generate(self, n: int, generator: torch.Generator) -> Tensor:
        """Generator output for ``n`` fresh codes (training mode as set)."""
        code = torch.randn(n, self.latent_dim, generator=generator, device=generator.device)
        return self.generator(code)

    def critic_loss(self, real: Tensor, fake: Tensor, generator: torch.Generator) -> Tensor:
        """The critic's objective on a real and a generated batch."""
        if self.r1 > 0:
            real = real.detach().requires_grad_(True)
        real_score, fake_score = self.critic(real), self.critic(fake)
        if self.loss_name == "hinge":
            loss = torch.relu(1 - real_score).mean() + torch.relu(1 + fake_score).mean()
            return loss + self.r1_penalty(real, real_score) if self.r1 > 0 else loss
        return (
            fake_score.mean()
            - real_score.mean()
            + self.penalty * self.gradient_penalty(real, fake, generator)
            + (self.r1_penalty(real, real_score) if self.r1 > 0 else 0.0)
        )

    def r1_penalty(self, real: Tensor, real_score: Tensor) -> Tensor:
        """``r1/2 · E||∇_x critic(x)||²`` at the real batch (which must
        require gradients)."""
        (grad,) = torch.autograd.grad(real_score.sum(), real, create_graph=True)
        return 0.5 * self.r1 * grad.flatten(1).pow(2).sum(1).mean()

    def gradient_penalty(self, real: Tensor, fake: Tensor, generator: torch.Generator) -> Tensor:
        """``E[(||∇ critic(x̂)|| - 1)^2]`` at random interpolates ``x̂``."""
        shape = (len(real),) + (1,) * (real.dim() - 1)
        mix = torch.rand(shape, generator=generator, device=generator.device)
        points = (mix * real + (1 - mix) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(self.critic(points).sum(), points, create_graph=True)
        return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()

    def fit(self, data: Tensor, generator: torch.Generator) -> list[float]:
        """Alternate critic and generator updates; returns the critic loss
        after each generator update."""
        g_opt = Adam(self.generator.parameters(), lr=self.lr, betas=self.betas)
        c_opt = Adam(self.critic.parameters(), lr=self.lr, betas=self.betas)
        ema = EMA(self.generator, self.ema_decay) if self.ema_decay is not None else None
        history: list[float] = []
        self.train()
        batches = minibatches(data, self.batch_size, self.steps * self.critic_steps, generator)
        for index, real in enumerate(batches):
            if self.schedule is not None:
                rate = self.lr * self.schedule.factor(index // self.critic_steps, self.steps)
                g_opt.lr = c_opt.lr = rate
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
            if ema is not None:
                ema.update()
            history.append(float(c_loss.detach()))
        if ema is not None:
            self.generator.load_state_dict(ema.average.state_dict())
        self.eval()
        return history

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        self.eval()
        return self.generate(n, generator)


def _rebuild(
    cls: type[GAN], arguments: dict[str, Any], state: dict[str, Tensor], training: bool
) -> GAN:
    """Unpickle a :class:`GAN`: build it without touching the global random
    state, then load its weights and mode."""
    kwargs = dict(arguments)
    kwargs["nets"] = importlib.import_module(kwargs["nets"])
    with torch.random.fork_rng(devices=[]):
        model = cls(**kwargs)
    model.load_state_dict(state)
    return model.train(training)
