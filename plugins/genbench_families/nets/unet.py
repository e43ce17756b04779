"""The image diffusion U-Net: GroupNorm residual blocks, self-attention at the
lowest resolution and a sinusoidal time embedding (Ho et al., 2020, scaled
down for a CPU).

Pixels are folded 2x2 into channels first (see
:class:`~genbench_families.nets.image.Plan`), so on 28x28 MNIST the network
computes at 14x14 (``width`` channels) and 7x7 (``2 · width`` channels, with
self-attention); no convolution runs at full resolution.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from genbench_families.nets.layers import LabelEmbedding, TimeEmbedding, with_labels


def _groups(channels: int) -> int:
    """The largest of 8, 4, 2, 1 groups that divides ``channels``."""
    return next(g for g in (8, 4, 2, 1) if channels % g == 0)


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with up to 8 groups (as many as divide ``channels``)."""
    return nn.GroupNorm(_groups(channels), channels)


class ResBlock(nn.Module):
    """GroupNorm → SiLU → 3x3 conv, plus a time-embedding bias, GroupNorm →
    SiLU → 3x3 conv (zero-initialised, so a new block is its skip path), and
    a skip path (1x1 conv when the channel count changes)."""

    def __init__(self, in_channels: int, out_channels: int, time_dim: int) -> None:
        super().__init__()
        self.norm1 = group_norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, 1, 1)
        self.time = nn.Linear(time_dim, out_channels)
        self.norm2 = group_norm(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        same = in_channels == out_channels
        self.skip = nn.Identity() if same else nn.Conv2d(in_channels, out_channels, 1)
        self.act = nn.SiLU()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(self.act(self.norm1(x))) + self.time(emb)[:, :, None, None]
        return self.skip(x) + self.conv2(self.act(self.norm2(h)))


class Attention(nn.Module):
    """Single-head self-attention over the ``H·W`` positions of a feature map,
    with a GroupNorm before and a zero-initialised output projection and a
    residual connection after (a new block is the identity)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = group_norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).flatten(2).transpose(1, 2).chunk(3, dim=2)
        out = nn.functional.scaled_dot_product_attention(q, k, v)
        return x + self.proj(out.transpose(1, 2).reshape(b, c, h, w))


class UNet(nn.Module):
    """``(x, t) → B x C x H x W``, ``t`` in ``[0, 1]`` (a diffusion time).

    Fold 2x2 pixels into channels (when the sides are even and at least 4),
    a 3x3 stem to ``width`` channels, a residual block at the folded size;
    when the folded image halves again: a stride-2 conv to ``2 · width``,
    residual block, self-attention, residual block at the lowest resolution,
    a transposed conv back up and a residual block on the concatenated skip.
    GroupNorm, SiLU and a zero-initialised 3x3 output convolution, unfolded:
    a new network outputs zeros. Every residual block adds a projection of
    the sinusoidal time embedding (``4 · width`` features).

    With ``num_classes`` the network is class-conditional: a
    :class:`~genbench_families.nets.layers.LabelEmbedding` (``num_classes + 1``
    vectors, the last the null class) is added to the time embedding, and
    ``forward`` takes labels ``B``. Without it the network is built exactly
    as it always was (same parameters, same random draws).
    """

    def __init__(self, shape: tuple[int, ...], width: int, num_classes: int | None = None) -> None:
        super().__init__()
        from genbench_families.nets.image import Plan  # image imports this module

        plan = Plan(shape)
        time_dim = 4 * width
        self.embed = TimeEmbedding(time_dim)
        self.fold, self.unfold = plan.folder(), plan.unfolder()
        self.stem = nn.Conv2d(plan.channels, width, 3, 1, 1)
        self.high = ResBlock(width, width, time_dim)
        self.has_low = plan.low is not None
        if self.has_low:
            self.down = nn.Conv2d(width, 2 * width, 4, 2, 1)
            self.low1 = ResBlock(2 * width, 2 * width, time_dim)
            self.attention = Attention(2 * width)
            self.low2 = ResBlock(2 * width, 2 * width, time_dim)
            self.up = nn.ConvTranspose2d(2 * width, width, 4, 2, 1)
            self.merge = ResBlock(2 * width, width, time_dim)
        self.norm = group_norm(width)
        self.out = nn.Conv2d(width, plan.channels, 3, 1, 1)
        self.act = nn.SiLU()
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.labels = LabelEmbedding(num_classes, time_dim) if num_classes is not None else None

    def forward(self, x: Tensor, t: Tensor, labels: Tensor | None = None) -> Tensor:
        emb = with_labels(self.embed(t), self.labels, labels)
        skip = self.high(self.stem(self.fold(x)), emb)
        h = skip
        if self.has_low:
            h = self.low2(self.attention(self.low1(self.down(skip), emb)), emb)
            h = self.merge(torch.cat([self.up(h), skip], dim=1), emb)
        return self.unfold(self.out(self.act(self.norm(h))))
