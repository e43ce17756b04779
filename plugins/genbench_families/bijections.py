"""The invertible layers RealNVP (:mod:`genbench_families.flow`) stacks:
checkerboard and channel masks, squeezes for images and sequences, affine
couplings, actnorm, and the multi-scale layout that arranges them
(:func:`build_scales`).

Every layer maps ``x`` to ``(y, log|det J|)`` per example in ``forward``
and back in ``inverse``; conditioners come from a modality's network
factory (:mod:`genbench_families.nets`).
"""

from __future__ import annotations

import math
from types import ModuleType

import torch
from torch import Tensor, nn


def checkerboard(shape: tuple[int, ...], parity: int) -> Tensor:
    """0/1 mask that is 1 where ``(i + j) % 2 == parity`` for ``C x H x W``,
    and where ``t % 2 == parity`` (alternating time steps) for ``C x T``."""
    if len(shape) == 2:
        grid = torch.arange(shape[1]) % 2 == parity
    else:
        _, h, w = shape
        grid = (torch.arange(h)[:, None] + torch.arange(w)[None, :]) % 2 == parity
    return grid.float().expand(shape).clone()


def channel_mask(shape: tuple[int, ...], first_half: bool) -> Tensor:
    """0/1 mask over the leading axis (channels, or vector coordinates):
    ones on its first half when ``first_half``, else on the second."""
    mask = torch.zeros(shape)
    half = shape[0] // 2
    if first_half:
        mask[:half] = 1
    else:
        mask[half:] = 1
    return mask


def squeeze(x: Tensor) -> Tensor:
    """``B x C x H x W → B x 4C x H/2 x W/2`` (each 2x2 block to channels)."""
    b, c, h, w = x.shape
    x = x.view(b, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4)
    return x.reshape(b, 4 * c, h // 2, w // 2)


def unsqueeze(x: Tensor) -> Tensor:
    """Inverse of :func:`squeeze`."""
    b, c, h, w = x.shape
    x = x.view(b, c // 4, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3)
    return x.reshape(b, c // 4, 2 * h, 2 * w)


def squeeze_time(x: Tensor, factor: int) -> Tensor:
    """``B x C x T → B x factor·C x T/factor`` by ``log2(factor)`` squeezes by
    2, each moving sample ``2t + p`` of channel ``c`` to channel ``2c + p`` at
    step ``t``: the first half of the channels then holds the even samples."""
    while factor > 1:
        b, c, t = x.shape
        x = x.view(b, c, t // 2, 2).transpose(2, 3).reshape(b, 2 * c, t // 2)
        factor //= 2
    return x


def unsqueeze_time(x: Tensor, factor: int) -> Tensor:
    """Inverse of :func:`squeeze_time`."""
    while factor > 1:
        b, c, t = x.shape
        x = x.view(b, c // 2, 2, t).transpose(2, 3).reshape(b, c // 2, 2 * t)
        factor //= 2
    return x


def time_factor(length: int, largest: int) -> int:
    """The largest power of two up to ``largest`` that divides ``length``."""
    factor = 1
    while 2 * factor <= largest and length % (2 * factor) == 0:
        factor *= 2
    return factor


class AffineCoupling(nn.Module):
    """``y = m ⊙ x + (1 - m) ⊙ (x ⊙ exp(s) + t)`` with ``(s, t)`` computed
    from ``m ⊙ x``. Log-determinant ``Σ (1 - m) ⊙ s``.

    Without ``bound``, ``s = scale · tanh(raw)`` with a learned per-channel
    ``scale`` starting at 1. With ``bound``, ``s = bound · tanh(raw / bound)``:
    the identity near 0 and a soft clamp at ``±bound`` nats, so one coupling
    can scale a coordinate by up to ``e^bound`` from its first step (the toy
    tasks' modes have a standard deviation of 0.01-0.04 after
    standardisation, which takes a total of about 4 nats).

    Raises:
        ValueError: a non-positive ``bound``.
    """

    def __init__(self, mask: Tensor, conditioner: nn.Module, bound: float | None = None) -> None:
        super().__init__()
        if bound is not None and bound <= 0:
            raise ValueError(f"the log-scale bound must be positive, got {bound}")
        self.register_buffer("mask", mask, persistent=False)
        self.conditioner = conditioner
        self.bound = bound
        if bound is None:
            self.scale = nn.Parameter(torch.ones(mask.shape[0], *([1] * (mask.dim() - 1))))

    def _shift_log_scale(self, masked: Tensor) -> tuple[Tensor, Tensor]:
        raw, shift = self.conditioner(masked).chunk(2, dim=1)
        free = 1 - self.mask
        if self.bound is None:
            return shift * free, self.scale * torch.tanh(raw) * free
        return shift * free, self.bound * torch.tanh(raw / self.bound) * free

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        shift, log_scale = self._shift_log_scale(x * self.mask)
        return x * log_scale.exp() + shift, log_scale.flatten(1).sum(1)

    def inverse(self, y: Tensor) -> Tensor:
        shift, log_scale = self._shift_log_scale(y * self.mask)
        return (y - shift) * torch.exp(-log_scale)


class ActNorm(nn.Module):
    """``y = (x + b) ⊙ exp(s)`` with a learned bias ``b`` and log-scale ``s``
    per channel (Kingma and Dhariwal, 2018). The first forward pass in
    training mode sets them so that the batch has zero mean and unit
    variance per channel; afterwards they are ordinary parameters, so the
    likelihood at evaluation time is exact (no batch statistics). The
    log-determinant is ``Σ s`` times the positions per channel."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        view = (shape[0], *([1] * (len(shape) - 1)))
        self.positions = math.prod(shape[1:])
        self.bias = nn.Parameter(torch.zeros(view))
        self.log_scale = nn.Parameter(torch.zeros(view))
        self.register_buffer("initialised", torch.tensor(False))

    @torch.no_grad()
    def _initialise(self, x: Tensor) -> None:
        per_channel = x.transpose(0, 1).reshape(x.shape[1], -1)
        self.bias.copy_(-per_channel.mean(1).view_as(self.bias))
        std = per_channel.std(1).view_as(self.log_scale)
        self.log_scale.copy_(-torch.log(std + 1e-6))
        self.initialised.fill_(True)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if self.training and not bool(self.initialised):
            self._initialise(x)
        log_det = self.positions * self.log_scale.sum()
        return (x + self.bias) * self.log_scale.exp(), log_det.expand(len(x))

    def inverse(self, y: Tensor) -> Tensor:
        return y * torch.exp(-self.log_scale) - self.bias


class Scale(nn.Module):
    """One scale: optional ``before`` layers at the incoming resolution, an
    optional squeeze, then a chain of ``couplings`` (each layer maps ``x``
    to ``(y, log_det)`` and has an ``inverse``)."""

    def __init__(
        self, squeeze_first: bool, couplings: list[nn.Module], before: list[nn.Module] | None = None
    ) -> None:
        super().__init__()
        self.squeeze_first = squeeze_first
        self.couplings = nn.ModuleList(couplings)
        self.before = nn.ModuleList(before or [])

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        log_det = torch.zeros(len(x), device=x.device)
        for layer in self.before:
            x, step = layer(x)
            log_det = log_det + step
        if self.squeeze_first:
            x = squeeze(x)
        for coupling in self.couplings:
            x, step = coupling(x)
            log_det = log_det + step
        return x, log_det

    def inverse(self, y: Tensor) -> Tensor:
        for coupling in reversed(self.couplings):
            y = coupling.inverse(y)
        y = unsqueeze(y) if self.squeeze_first else y
        for layer in reversed(self.before):
            y = layer.inverse(y)
        return y


class SequenceScale(Scale):
    """One scale of a sequence flow: ``factor`` time steps folded into
    channels (:func:`squeeze_time`), then a chain of couplings."""

    def __init__(self, factor: int, couplings: list[AffineCoupling]) -> None:
        super().__init__(False, couplings)
        self.factor = factor

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return super().forward(squeeze_time(x, self.factor))

    def inverse(self, y: Tensor) -> Tensor:
        return unsqueeze_time(super().inverse(y), self.factor)


def build_scales(
    shape: tuple[int, ...],
    nets: ModuleType,
    scales: int,
    couplings: int,
    width: int,
    fold: int | None = None,
    *,
    native_first: bool = False,
    actnorm: bool = False,
    bound: float | None = None,
    blocks: int | None = None,
) -> tuple[list[Scale], list[tuple[int, ...]]]:
    """RealNVP's layout for ``shape``.

    Vectors ``(D,)``: one scale of ``2·couplings`` couplings alternating the
    two halves of the coordinates. Images ``(C, H, W)``: per scale, squeeze
    (while ``H`` and ``W`` are even), ``couplings`` checkerboard couplings of
    alternating parity (skipped at 1x1), ``couplings`` channel couplings of
    alternating halves, then half the channels are factored out before the
    next scale; with ``native_first`` the checkerboard couplings run before
    the squeeze, at the incoming resolution (Dinh et al.'s order; the first
    scale's then see the image's own pixel grid). Sequences ``(C, T)``: the
    same as images without ``native_first``, where the first scale folds
    ``fold`` time steps into channels (default 2; the largest power of two
    up to it that divides ``T``) and later scales fold 2 (while ``T`` is
    even), and checkerboards alternate time steps.

    ``actnorm`` puts an :class:`ActNorm` before every coupling; ``bound``
    is the couplings' log-scale bound (see :class:`AffineCoupling`);
    ``blocks`` asks the modality's conditioner for that many residual
    blocks (``None``: its plain network). Returns the scales and the
    shapes of the factored-out parts.

    Raises:
        ValueError: ``fold`` for a shape that is not a sequence, or not a
            power of two; ``native_first`` for a shape that is not an image.
    """
    if fold is not None and (len(shape) != 2 or fold < 1 or fold & (fold - 1)):
        raise ValueError(
            f"fold must be a power of two and applies to sequences (C, T) only; "
            f"got fold={fold} for shape {shape}"
        )
    if native_first and len(shape) != 3:
        raise ValueError(f"native_first applies to images (C, H, W) only; got shape {shape}")
    options = {} if blocks is None else {"blocks": blocks}

    def layers_for(masks: list[Tensor]) -> list[nn.Module]:
        layers: list[nn.Module] = []
        for mask in masks:
            net = nets.conditioner(mask.shape[0], 2 * mask.shape[0], width, **options)
            if actnorm:
                layers.append(ActNorm(tuple(mask.shape)))
            layers.append(AffineCoupling(mask, net, bound))
        return layers

    if len(shape) == 1:
        masks = [channel_mask(shape, k % 2 == 0) for k in range(2 * couplings)]
        return [Scale(False, layers_for(masks))], [shape]
    sequence = len(shape) == 2
    blocks_out, outputs = [], []
    current = tuple(shape)
    for index in range(scales):
        before: list[nn.Module] = []
        if sequence:
            c, t = current
            factor = time_factor(t, (fold or 2) if index == 0 else 2)
            current = (factor * c, t // factor)
        else:
            c, h, w = current
            squeeze_first = h % 2 == 0 and w % 2 == 0
            if native_first and squeeze_first:
                before = layers_for([checkerboard(current, k % 2) for k in range(couplings)])
            if squeeze_first:
                current = (4 * c, h // 2, w // 2)
        masks = []
        if math.prod(current[1:]) > 1 and not before:
            masks += [checkerboard(current, k % 2) for k in range(couplings)]
        if current[0] > 1:
            masks += [channel_mask(current, k % 2 == 0) for k in range(couplings)]
        layers = layers_for(masks)
        blocks_out.append(
            SequenceScale(factor, layers) if sequence else Scale(squeeze_first, layers, before)
        )
        last = index == scales - 1 or current[0] < 2
        if last:
            outputs.append(current)
            break
        outputs.append((current[0] // 2, *current[1:]))
        current = (current[0] - current[0] // 2, *current[1:])
    return blocks_out, outputs
