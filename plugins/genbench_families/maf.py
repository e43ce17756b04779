"""Masked autoregressive flow (Papamakarios et al., 2017): a stack of
affine autoregressive transforms, each a MADE (Germain et al., 2015;
:mod:`genbench_families.nets.made`), with the order reversed from one
MADE to the next and optional actnorm before each.

Each transform maps data-side ``x`` to ``u = (x - μ(x)) ⊙ exp(-α(x))``
where ``μ_d`` and ``α_d`` depend only on the coordinates before ``d`` in
its order: the Jacobian is triangular, ``log|det| = -Σ α``, and the
density is one network pass per MADE. Sampling inverts one coordinate at a
time: ``D`` sequential steps per MADE. Dequantisation of discrete data,
training and the hooks are :class:`~genbench_families.flow.Flow`'s, as for
RealNVP: on images the likelihood is the same dequantised bound.

Examples are flattened (an image is its ``C·H·W`` pixels in raster order),
so one network serves every modality; audio (8,000 sequential steps per
MADE to sample) is left out of the leaderboard row (docs/families.md).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import torch
from torch import Tensor, nn

from genbench_families.bijections import ActNorm
from genbench_families.flow import Flow
from genbench_families.nets.made import AffineMADE
from genbench_families.space import DataSpace


class AutoregressiveTransform(nn.Module):
    """``x → u = (x - shift(x)) ⊙ exp(-log_scale(x))`` with an
    :class:`AffineMADE`; ``log|det ∂u/∂x| = -Σ log_scale``."""

    def __init__(self, made: AffineMADE) -> None:
        super().__init__()
        self.made = made

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        shift, log_scale = self.made(x)
        return (x - shift) * torch.exp(-log_scale), -log_scale.sum(1)

    def inverse(self, u: Tensor) -> Tensor:
        return self.made.invert(u)


class MAF(Flow):
    """A masked autoregressive flow on flattened examples.

    Args:
        space: the task's data space.
        nets: the modality's network factory; unused (the MADE works on
            flat vectors of any modality), accepted for the families'
            common constructor.
        layers: MADEs stacked; the first uses the natural (raster) order,
            each next one the reverse of the previous.
        width, hidden_layers: each MADE's hidden units per layer and
            hidden layers. Sampling updates the first hidden layer
            incrementally, so with one hidden layer a sequential step costs
            ``O(width)`` per example; each further layer adds
            ``O(width²)``.
        actnorm: an :class:`~genbench_families.bijections.ActNorm` before
            each MADE (per coordinate, initialised on the first batch).
        log_scale_bound: soft bound of each MADE's log-scale in nats
            (``None``: unbounded).
        out_std: standard deviation of each MADE's output weights at
            initialisation (0: a fresh flow is the identity). On the toy
            grid, whose coordinates are independent, identity MADEs stay at
            a saddle (the conditional shift of one coordinate gets no
            gradient from the other) and the flow stayed a Gaussian; 0.01
            breaks the symmetry, as for RealNVP's toy conditioners.
        **training: ``steps``, ``batch_size``, ``lr``, ``ema``,
            ``temperature``, ``logit_alpha``, ``schedule`` and
            ``early_stopping``, as for :class:`~genbench_families.flow.Flow`.
    """

    def __init__(
        self,
        space: DataSpace,
        nets: ModuleType,
        *,
        layers: int,
        width: int,
        hidden_layers: int = 1,
        actnorm: bool = True,
        log_scale_bound: float | None = None,
        out_std: float = 0.0,
        **training: Any,
    ) -> None:
        super().__init__(space, **training)
        if layers < 1:
            raise ValueError(f"a MAF needs layers >= 1, got {layers}")
        dim = space.dims
        self.mades = layers
        blocks: list[nn.Module] = []
        order = torch.arange(dim)
        for _ in range(layers):
            if actnorm:
                blocks.append(ActNorm((dim,)))
            made = AffineMADE(order, width, hidden_layers, bound=log_scale_bound, out_std=out_std)
            blocks.append(AutoregressiveTransform(made))
            order = order.flip(0)
        self.blocks = nn.ModuleList(blocks)

    def forward_flow(self, y: Tensor) -> tuple[Tensor, Tensor]:
        h = y.flatten(1)
        log_det = torch.zeros(len(y), device=y.device)
        for block in self.blocks:
            h, step = block(h)
            log_det = log_det + step
        return h, log_det

    def inverse_flow(self, z: Tensor) -> Tensor:
        h = z
        for block in reversed(self.blocks):
            h = block.inverse(h)
        return h.view(len(z), *self.space.shape)

    def nfe(self) -> int:
        """Sequential network steps per sample: ``D`` per MADE."""
        return self.space.dims * self.mades
