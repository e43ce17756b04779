"""A PixelCNN for single-channel images, with an exact incremental sampler.

Masked convolutions make the output at pixel ``(i, j)`` depend only on the
pixels before it in raster order: the first layer (mask "A") excludes the
centre tap, later layers (mask "B") include it. Because every layer's output
at a position depends only on inputs strictly earlier, sampling can compute
each layer at the one new position per step and cache the rest (the idea of
fast PixelCNN generation), which equals the full network exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def raster_mask(kernel: int, include_centre: bool) -> Tensor:
    """``kernel x kernel`` 0/1 mask of taps at or before the centre in raster
    order (the centre itself only when ``include_centre``)."""
    mask = torch.zeros(kernel, kernel)
    centre = kernel // 2
    mask[:centre] = 1
    mask[centre, : centre + int(include_centre)] = 1
    return mask


class MaskedConv2d(nn.Conv2d):
    """``Conv2d`` (odd square kernel, stride 1, same padding) with a raster mask."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, include_centre: bool):
        super().__init__(in_channels, out_channels, kernel, padding=kernel // 2)
        self.register_buffer("mask", raster_mask(kernel, include_centre), persistent=False)

    def masked_weight(self) -> Tensor:
        """The weight with future taps zeroed."""
        return self.weight * self.mask

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.masked_weight(), self.bias, padding=self.padding)

    def patch_matrix(self) -> Tensor:
        """The masked weight as a ``(k·k·in) x out`` matrix for patches laid
        out channels-last (row, column, channel)."""
        weight = self.masked_weight().permute(0, 2, 3, 1).reshape(self.out_channels, -1)
        return weight.T.contiguous()


class PixelCNN(nn.Module):
    """Mask-A 7x7 input layer, ``layers`` residual mask-B 3x3 layers, and a
    two-layer 1x1 head giving ``params`` values per pixel.

    ``forward(x)`` maps ``B x 1 x H x W`` (model space) to
    ``B x 1 x H x W x params`` (parameters last, so a softmax over them runs
    on contiguous memory). :meth:`start` begins incremental sampling.
    """

    def __init__(self, shape: tuple[int, ...], params: int, width: int, layers: int) -> None:
        super().__init__()
        self.shape = tuple(shape)
        self.params = params
        self.first = MaskedConv2d(1, width, 7, include_centre=False)
        self.hidden = nn.ModuleList(
            MaskedConv2d(width, width, 3, include_centre=True) for _ in range(layers)
        )
        self.head1 = nn.Linear(width, width)
        self.head2 = nn.Linear(width, params)
        self.act = nn.SiLU()  # act(0) = 0 keeps zero padding exact in the sampler

    def _head(self, h: Tensor) -> Tensor:
        """Pointwise head on channel-last features ``... x width``."""
        return self.head2(self.act(self.head1(self.act(h))))

    def forward(self, x: Tensor) -> Tensor:
        h = self.first(x)
        for conv in self.hidden:
            h = h + conv(self.act(h))
        return self._head(h.permute(0, 2, 3, 1)).unsqueeze(1)

    def start(self, n: int) -> IncrementalPixelCNN:
        """A sampler state for ``n`` images, all pixels still unknown."""
        return IncrementalPixelCNN(self, n)


class IncrementalPixelCNN:
    """Caches of every masked layer's (activated, zero-padded) input for
    raster-order sampling, stored channels-last so that the patch around a
    pixel is a few contiguous runs of memory.

    Call :meth:`params` for positions 0, 1, 2... in order, each followed by
    :meth:`write` of the chosen value; outputs equal ``PixelCNN.forward`` on
    the finished images.
    """

    def __init__(self, net: PixelCNN, n: int) -> None:
        self.net = net
        _, height, width = net.shape
        channels = net.first.out_channels
        self.width = width
        device = net.head2.weight.device
        self.image = torch.zeros(n, height + 6, width + 6, 1, device=device)
        self.activated = [
            torch.zeros(n, height + 2, width + 2, channels, device=device)
            for _ in range(len(net.hidden))
        ]
        with torch.no_grad():
            self.first = (net.first.patch_matrix(), net.first.bias.detach())
            self.hidden = [(conv.patch_matrix(), conv.bias.detach()) for conv in net.hidden]

    @staticmethod
    def _at(padded: Tensor, layer: tuple[Tensor, Tensor], i: int, j: int, k: int) -> Tensor:
        matrix, bias = layer
        patch = padded[:, i : i + k, j : j + k].reshape(len(padded), -1)
        return torch.addmm(bias, patch, matrix)

    @torch.no_grad()
    def params(self, position: int) -> Tensor:
        """``n x params`` output at flattened pixel ``position``."""
        i, j = divmod(position, self.width)
        h = self._at(self.image, self.first, i, j, 7)
        for cache, layer in zip(self.activated, self.hidden, strict=True):
            cache[:, i + 1, j + 1] = self.net.act(h)
            h = h + self._at(cache, layer, i, j, 3)
        return self.net._head(h)

    def write(self, position: int, value: Tensor) -> None:
        """Set pixel ``position`` (model space) of every image to ``value`` (``n``)."""
        i, j = divmod(position, self.width)
        self.image[:, i + 3, j + 3, 0] = value

    def values(self) -> Tensor:
        """The images written so far, ``n x 1 x H x W``."""
        return self.image[:, 3:-3, 3:-3, 0].unsqueeze(1).clone()
