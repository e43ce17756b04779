"""Normalising flows with a standard-normal base: :class:`Flow`, what every
flow shares (dequantisation, training, the hooks), and RealNVP (Dinh et
al., 2017): affine coupling layers, checkerboard and channel masks,
squeezing and a multi-scale factor-out, for images ``C x H x W``, sequences
``C x T`` (audio) and vectors; the layers are in
:mod:`genbench_families.bijections`. The masked autoregressive flow is in
:mod:`genbench_families.maf`.

Discrete data is dequantised with uniform noise, ``y = (k + u) / L`` on
``[0, 1)`` for level ``k`` of ``L``, and mapped to logit space,
``logit(α + (1 - 2α) y)`` (``α`` = ``logit_alpha``). Then

    log P(k) >= E_u[log p(y)] - D log L

(Theis et al., 2016); one draw of ``u`` per example gives an unbiased
estimate of that bound, which :meth:`Flow.log_likelihood` reports.
Continuous data is modelled directly and its log-density is exact.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import ModuleType
from typing import Any

import torch
from torch import Tensor, nn

from genbench_families.base import GenerativeModel, ModelLikelihood, in_chunks
from genbench_families.bijections import build_scales
from genbench_families.distributions import normal_log_prob
from genbench_families.space import DataSpace
from genbench_families.training import EMA, EarlyStopping, Schedule, train


class Flow(GenerativeModel):
    """What every flow here shares: a bijection ``forward_flow`` /
    ``inverse_flow`` between data-side values and a flat ``B x D`` latent
    with a standard-normal base, the dequantisation of discrete data,
    maximum-likelihood training and the hooks. Subclasses build
    :attr:`blocks` (the trained layers, averaged by the EMA) and define the
    two maps.

    Args:
        space: the task's data space.
        steps, batch_size, lr: training schedule.
        ema: decay of an exponential moving average of the weights, which
            then replace the trained ones (0 = none). Without it the last
            steps at a high learning rate leave a few test points with
            near-zero density on the sharp toy mixtures.
        temperature: standard deviation of the base samples when sampling
            (1 = the model's own distribution).
        logit_alpha: ``α`` of the logit transform of dequantised discrete
            data, in ``(0, 0.5)``. RealNVP used 0.05 on natural images; on
            MNIST, whose pixels sit mostly at the extreme levels, a tiny
            ``α`` keeps the extreme bins wide in logit space, and 400 steps
            reach 1.83 bits/dim against 3.50 with 0.05 (docs/families.md).
        schedule: keyword arguments of a learning-rate
            :class:`~genbench_families.training.Schedule` (``None``: constant).
        early_stopping: keyword arguments of
            :class:`~genbench_families.training.EarlyStopping` on the held-out
            negative log-density (``None``: train every step).
    """

    capabilities = frozenset({"sample", "log_likelihood", "reconstruct"})
    blocks: nn.ModuleList

    def __init__(
        self,
        space: DataSpace,
        *,
        steps: int,
        batch_size: int,
        lr: float,
        ema: float = 0.0,
        temperature: float = 1.0,
        logit_alpha: float = 0.05,
        schedule: Mapping[str, Any] | None = None,
        early_stopping: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(space)
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        if not 0.0 < logit_alpha < 0.5:
            raise ValueError(f"logit_alpha must lie in (0, 0.5), got {logit_alpha}")
        self.alpha = logit_alpha
        self.steps, self.batch_size, self.lr, self.ema_decay = steps, batch_size, lr, ema
        self.temperature = temperature
        self.schedule = Schedule(**schedule) if schedule is not None else None
        self.early_stopping = (
            EarlyStopping(**early_stopping) if early_stopping is not None else None
        )

    def forward_flow(self, y: Tensor) -> tuple[Tensor, Tensor]:
        """Data-side values ``B x *shape`` → flat latent ``B x D`` and the
        log-determinant per example."""
        raise NotImplementedError

    def inverse_flow(self, z: Tensor) -> Tensor:
        """Flat latent → data-side values (the exact inverse of :meth:`forward_flow`)."""
        raise NotImplementedError

    # -- discrete data ↔ logit space -----------------------------------------------

    def _levels(self, x: Tensor) -> Tensor:
        return torch.round((x + 1) * (self.space.levels - 1) / 2)

    def to_logit(self, unit: Tensor) -> tuple[Tensor, Tensor]:
        """``[0, 1]`` values → logit space and the log-determinant."""
        alpha = self.alpha
        p = alpha + (1 - 2 * alpha) * unit
        log_det = (math.log(1 - 2 * alpha) - torch.log(p) - torch.log1p(-p)).flatten(1).sum(1)
        return torch.log(p) - torch.log1p(-p), log_det

    def from_logit(self, s: Tensor) -> Tensor:
        """Inverse of :meth:`to_logit`."""
        return (torch.sigmoid(s) - self.alpha) / (1 - 2 * self.alpha)

    def log_density(self, x: Tensor, noise: Tensor | None) -> Tensor:
        """``log p(y)`` per example: of the dequantised ``y = (k + noise) / L``
        for discrete data, of ``x`` itself for continuous data."""
        if self.space.discrete:
            y, pre = self.to_logit((self._levels(x) + noise) / self.space.levels)
        else:
            y, pre = x, torch.zeros(len(x), device=x.device)
        z, log_det = self.forward_flow(y)
        zero = torch.zeros((), device=z.device)
        base = normal_log_prob(z, zero, zero).sum(1)
        return base + log_det + pre

    # -- training and hooks --------------------------------------------------------

    def loss(self, x: Tensor, generator: torch.Generator) -> Tensor:
        """Negative log-density per dimension (with fresh dequantisation noise)."""
        if self.space.discrete:
            noise = torch.rand(x.shape, generator=generator, device=generator.device)
        else:
            noise = None
        return -self.log_density(x, noise).mean() / self.space.dims

    def fit(self, data: Tensor, generator: torch.Generator) -> list[float]:
        ema = EMA(self.blocks, self.ema_decay) if self.ema_decay > 0 else None
        history = train(
            lambda batch: self.loss(batch, generator),
            self.parameters(),
            data,
            steps=self.steps,
            batch_size=self.batch_size,
            lr=self.lr,
            generator=generator,
            ema=ema,
            schedule=self.schedule,
            early_stopping=self.early_stopping,
        )
        if ema is not None:
            self.blocks.load_state_dict(ema.average.state_dict())
        return history

    @torch.no_grad()
    def log_likelihood(self, x: Tensor, generator: torch.Generator) -> ModelLikelihood:
        if not self.space.discrete:
            nats = in_chunks(lambda c: self.log_density(c, None), x, size=1024)
            return ModelLikelihood(nats=nats, exact=True, method="exact")
        noise = torch.rand(x.shape, generator=generator, device=generator.device)
        density = in_chunks(self.log_density, x, noise, size=256)
        nats = density - self.space.dims * math.log(self.space.levels)
        return ModelLikelihood(
            nats=nats,
            exact=False,
            method="dequantised",
            details={"dequantisation": "uniform", "noise_draws": 1},
        )

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        z = self.temperature * torch.randn(
            n, self.space.dims, generator=generator, device=generator.device
        )
        return self._to_model_space(self.inverse_flow(z))

    def _to_model_space(self, y: Tensor) -> Tensor:
        if not self.space.discrete:
            return y
        levels = self.space.levels
        k = torch.floor(self.from_logit(y) * levels).clamp(0, levels - 1)
        return 2 * k / (levels - 1) - 1

    def _bin_centres(self, x: Tensor) -> Tensor:
        """Continuous point at the centre of each level's dequantisation interval."""
        if not self.space.discrete:
            return x
        return self.to_logit((self._levels(x) + 0.5) / self.space.levels)[0]

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        """Inverse of the forward map applied to the bin centres of ``x``."""
        return self._to_model_space(self.inverse_flow(self.forward_flow(self._bin_centres(x))[0]))

    def diagnostics(self, probe: Tensor) -> dict[str, float]:
        """``roundtrip_error``: see :meth:`roundtrip_error`."""
        return {"roundtrip_error": self.roundtrip_error(probe)}

    @torch.no_grad()
    def roundtrip_error(self, x: Tensor) -> float:
        """Largest ``|f^{-1}(f(y)) - y|`` over the continuous points behind ``x``."""
        y = self._bin_centres(x)
        return float((self.inverse_flow(self.forward_flow(y)[0]) - y).abs().max())


class RealNVP(Flow):
    """A multi-scale RealNVP flow with a standard-normal base distribution.

    Args:
        space: the task's data space.
        nets: the modality's network factory (for the coupling conditioners).
        scales, couplings, width: layout (see :func:`build_scales`).
        fold: sequences only: time steps the first scale folds into
            channels (see :func:`build_scales`).
        native_first, actnorm, log_scale_bound, blocks: the recipe of the
            couplings (see :func:`build_scales`; all off by default, which
            is the layout the audio rows were measured with).
        **training: ``steps``, ``batch_size``, ``lr``, ``ema``,
            ``temperature``, ``logit_alpha``, ``schedule`` and
            ``early_stopping``, as for :class:`Flow`.
    """

    def __init__(
        self,
        space: DataSpace,
        nets: ModuleType,
        *,
        scales: int,
        couplings: int,
        width: int,
        fold: int | None = None,
        native_first: bool = False,
        actnorm: bool = False,
        log_scale_bound: float | None = None,
        blocks: int | None = None,
        **training: Any,
    ) -> None:
        super().__init__(space, **training)
        layers, self.latent_shapes = build_scales(
            space.shape,
            nets,
            scales,
            couplings,
            width,
            fold,
            native_first=native_first,
            actnorm=actnorm,
            bound=log_scale_bound,
            blocks=blocks,
        )
        self.blocks = nn.ModuleList(layers)

    def forward_flow(self, y: Tensor) -> tuple[Tensor, Tensor]:
        log_det = torch.zeros(len(y), device=y.device)
        h, parts = y, []
        for block, latent_shape in zip(self.blocks, self.latent_shapes, strict=True):
            h, step = block(h)
            log_det = log_det + step
            if block is not self.blocks[-1]:
                parts.append(h[:, : latent_shape[0]].flatten(1))
                h = h[:, latent_shape[0] :]
        parts.append(h.flatten(1))
        return torch.cat(parts, dim=1), log_det

    def inverse_flow(self, z: Tensor) -> Tensor:
        sizes = [math.prod(s) for s in self.latent_shapes]
        parts = list(z.split(sizes, dim=1))
        h = parts[-1].view(len(z), *self.latent_shapes[-1])
        for index in reversed(range(len(self.blocks))):
            if index < len(self.blocks) - 1:
                factored = parts[index].view(len(z), *self.latent_shapes[index])
                h = torch.cat([factored, h], dim=1)
            h = self.blocks[index].inverse(h)
        return h
