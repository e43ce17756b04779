"""Building blocks shared by the networks of several modalities."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def sinusoidal_embedding(t: Tensor, dim: int, max_period: float = 10_000.0) -> Tensor:
    """Transformer-style embedding of diffusion times ``t`` (shape ``B``, in
    ``[0, 1]``, scaled by 1000 so the frequencies match integer steps of a
    1000-step chain) as ``B x dim`` sines and cosines."""
    if dim % 2:
        raise ValueError(f"embedding dimension must be even, got {dim}")
    half = dim // 2
    steps = torch.arange(half, dtype=torch.float32, device=t.device)
    frequencies = torch.exp(-math.log(max_period) * steps / half)
    angles = 1000.0 * t.float().unsqueeze(-1) * frequencies
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)


class TimeEmbedding(nn.Module):
    """Sinusoidal features of ``t`` followed by a two-layer MLP."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: Tensor) -> Tensor:
        return self.mlp(sinusoidal_embedding(t, self.dim))


class LabelEmbedding(nn.Module):
    """One learned vector per class plus a last one for the "null" class
    (index ``num_classes``: the unconditional prediction of classifier-free
    guidance), added to a network's time embedding. Starts at zero (no
    random draws), so a new conditional network is its unconditional one."""

    def __init__(self, num_classes: int, dim: int) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = num_classes
        self.weight = nn.Parameter(torch.zeros(num_classes + 1, dim))

    def forward(self, labels: Tensor) -> Tensor:
        return self.weight[labels]


def with_labels(emb: Tensor, embedding: LabelEmbedding | None, labels: Tensor | None) -> Tensor:
    """The time embedding ``emb`` plus the labels' embedding: unchanged for an
    unconditional network (``embedding`` ``None``), which refuses labels; a
    conditional network needs them (the null class for the unconditional
    prediction)."""
    if embedding is None:
        if labels is not None:
            raise ValueError("this network is not class-conditional but was given labels")
        return emb
    if labels is None:
        raise ValueError(
            "a class-conditional network needs labels (the null class "
            f"{embedding.num_classes} for the unconditional prediction)"
        )
    return emb + embedding(labels)


def spectral(module: nn.Module, enabled: bool) -> nn.Module:
    """``module`` with spectral normalisation of its weight when ``enabled``."""
    return nn.utils.parametrizations.spectral_norm(module) if enabled else module


class SqueezeParameterAxis(nn.Module):
    """Wraps a decoder with one output parameter per value (``B x 1 x ...``)
    and drops that axis (GAN generators reuse the VAE decoders this way)."""

    def __init__(self, decoder: nn.Module) -> None:
        super().__init__()
        self.decoder = decoder

    def forward(self, z: Tensor) -> Tensor:
        return self.decoder(z).squeeze(1)


def sequence_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    """``(C, T)`` of a channels-first sequence example.

    Raises:
        ValueError: ``shape`` is not two positive sizes.
    """
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"audio networks need examples of shape (C, T), got {shape}")
    return shape[0], shape[1]
