"""A gated PixelCNN (van den Oord et al., 2016, "Conditional Image Generation
with PixelCNN Decoders") for single-channel images, with an exact
incremental sampler.

Two stacks remove the blind spot of masked 3x3 convolutions:

* the vertical stack ``v`` sees only rows strictly above: its first layer
  convolves rows ``i - p .. i - 1`` (a ``p x k`` kernel, the input shifted
  down one row), later layers rows ``i - p + 1 .. i`` of the stack below;
* the horizontal stack ``h`` at ``(i, j)`` sees pixels ``(i, j - q .. j - 1)``
  in its first layer (a ``1 x q`` kernel, the input shifted right one
  column) and ``(i, j - q + 1 .. j)`` of the stack below later, plus a 1x1
  link from the vertical stack at the same position.

Every layer is gated, ``tanh(a) ⊙ σ(b)``; horizontal layers after the first
are residual. With ``p = q = (k + 1) // 2`` and ``L`` layers the output at
``(i, j)`` depends on every pixel of the ``L·(p - 1) + 1`` rows above within
``L·(k // 2)`` columns either side and on the ``q + (L - 1)(q - 1)`` pixels
to its left, and on no later pixel.

Sampling computes the vertical stack one row at a time (once the row above
is known) and the horizontal stack one pixel at a time from caches of its
layers' inputs, which equals the full network exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _gate(pre: Tensor, dim: int) -> Tensor:
    """``tanh(a) ⊙ σ(b)`` for ``pre = [a, b]`` split along ``dim``."""
    a, b = pre.chunk(2, dim=dim)
    return torch.tanh(a) * torch.sigmoid(b)


class GatedPixelCNN(nn.Module):
    """Gated PixelCNN with vertical and horizontal stacks.

    Args:
        shape: ``(1, H, W)``.
        params: outputs per pixel (the categorical's logits).
        width: channels of both stacks.
        layers: gated layers (``>= 1``).
        kernel: odd width ``k`` of the vertical kernels; their height and
            the horizontal kernels' width are ``(k + 1) // 2``.

    ``forward(x)`` maps ``B x 1 x H x W`` (model space) to
    ``B x 1 x H x W x params``; :meth:`start` begins incremental sampling.

    Raises:
        ValueError: a shape that is not one channel, ``layers < 1`` or an
            even or non-positive ``kernel``.
    """

    def __init__(
        self, shape: tuple[int, ...], params: int, width: int, layers: int, kernel: int = 5
    ) -> None:
        super().__init__()
        if len(shape) != 3 or shape[0] != 1:
            raise ValueError(f"the gated PixelCNN models single-channel images, got {shape}")
        if layers < 1 or kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"need layers >= 1 and an odd kernel >= 1, got {layers}, {kernel}")
        self.shape = tuple(shape)
        self.params = params
        self.kernel = kernel
        self.rows = (kernel + 1) // 2  # p: height of vertical kernels
        self.cols = (kernel + 1) // 2  # q: width of horizontal kernels
        self.vertical = nn.ModuleList(
            nn.Conv2d(1 if n == 0 else width, 2 * width, (self.rows, kernel)) for n in range(layers)
        )
        self.horizontal = nn.ModuleList(
            nn.Conv2d(1 if n == 0 else width, 2 * width, (1, self.cols)) for n in range(layers)
        )
        self.link = nn.ModuleList(nn.Conv2d(2 * width, 2 * width, 1) for _ in range(layers))
        self.residual = nn.ModuleList(nn.Conv2d(width, width, 1) for _ in range(layers))
        self.head1 = nn.Linear(width, width)
        self.head2 = nn.Linear(width, params)
        self.act = nn.SiLU()

    def _head(self, h: Tensor) -> Tensor:
        """Pointwise head on channel-last features ``... x width``."""
        return self.head2(self.act(self.head1(self.act(h))))

    def _vertical_input(self, x: Tensor, first: bool) -> Tensor:
        """Pad so that the ``p x k`` convolution at row ``i`` reads rows
        ``i - p .. i - 1`` of the image (``first``) or ``i - p + 1 .. i``."""
        top = self.rows if first else self.rows - 1
        bottom = -1 if first else 0
        half = self.kernel // 2
        padded = F.pad(x, (half, half, top, 0))
        return padded[:, :, : padded.shape[2] + bottom] if first else padded

    def _horizontal_input(self, x: Tensor, first: bool) -> Tensor:
        """Pad so that the ``1 x q`` convolution at column ``j`` reads columns
        ``j - q .. j - 1`` (``first``) or ``j - q + 1 .. j``."""
        if first:
            return F.pad(x, (self.cols, 0))[..., :-1]
        return F.pad(x, (self.cols - 1, 0))

    def forward(self, x: Tensor) -> Tensor:
        v, h = x, x
        for n, (vconv, hconv, link, res) in enumerate(
            zip(self.vertical, self.horizontal, self.link, self.residual, strict=True)
        ):
            v_pre = vconv(self._vertical_input(v, n == 0))
            h_pre = hconv(self._horizontal_input(h, n == 0)) + link(v_pre)
            v = _gate(v_pre, 1)
            out = res(_gate(h_pre, 1))
            h = out if n == 0 else h + out
        return self._head(h.permute(0, 2, 3, 1)).unsqueeze(1)

    def start(self, n: int) -> IncrementalGatedPixelCNN:
        """A sampler state for ``n`` images, all pixels still unknown."""
        return IncrementalGatedPixelCNN(self, n)


class IncrementalGatedPixelCNN:
    """Raster-order sampler state for :class:`GatedPixelCNN`.

    At the first pixel of each row it runs the vertical stack on that row
    (all rows above are known) and keeps the links' contributions; at each
    pixel it runs the horizontal stack at that pixel from channels-last
    caches of each layer's input row. Call :meth:`params` for positions 0,
    1, 2... in order, each followed by :meth:`write`; outputs equal
    ``GatedPixelCNN.forward`` on the finished images.
    """

    def __init__(self, net: GatedPixelCNN, n: int) -> None:
        self.net = net
        _, self.height, self.width = net.shape
        channels = net.residual[0].out_channels
        half = net.kernel // 2
        device = net.head2.weight.device
        self.image = torch.zeros(n, 1, self.height + net.rows, self.width + 2 * half, device=device)
        # Vertical outputs of every layer but the last, padded like their inputs.
        self.vertical = [
            torch.zeros(
                n, channels, self.height + net.rows - 1, self.width + 2 * half, device=device
            )
            for _ in range(len(net.vertical) - 1)
        ]
        # Horizontal inputs of every layer for the current row, channels last.
        pad = net.cols
        self.rows_in = [torch.zeros(n, self.width + pad, 1, device=device)] + [
            torch.zeros(n, self.width + pad - 1, channels, device=device)
            for _ in range(len(net.horizontal) - 1)
        ]
        self.links: list[Tensor] = []
        with torch.no_grad():
            self.matrices = [
                (
                    conv.weight.permute(0, 2, 3, 1).reshape(conv.out_channels, -1).T.contiguous(),
                    conv.bias.detach(),
                )
                for conv in net.horizontal
            ]
            self.residuals = [
                (conv.weight[:, :, 0, 0].T.contiguous(), conv.bias.detach())
                for conv in net.residual
            ]

    @torch.no_grad()
    def _start_row(self, i: int) -> None:
        """Run the vertical stack at row ``i`` and keep each layer's link term."""
        net, rows = self.net, self.net.rows
        self.links = []
        source = self.image[:, :, i : i + rows]
        for n, (vconv, link) in enumerate(zip(net.vertical, net.link, strict=True)):
            v_pre = vconv(source)  # n x 2C x 1 x W
            self.links.append(link(v_pre)[:, :, 0].permute(0, 2, 1).contiguous())
            if n < len(self.vertical):
                cache = self.vertical[n]
                cache[:, :, i + rows - 1, net.kernel // 2 : net.kernel // 2 + self.width] = _gate(
                    v_pre[:, :, 0], 1
                )
                source = cache[:, :, i : i + rows]

    @torch.no_grad()
    def params(self, position: int) -> Tensor:
        """``n x params`` output at flattened pixel ``position``."""
        i, j = divmod(position, self.width)
        if j == 0:
            self._start_row(i)
        net = self.net
        h = None
        for n, ((matrix, bias), (res_m, res_b)) in enumerate(
            zip(self.matrices, self.residuals, strict=True)
        ):
            row = self.rows_in[n]
            if n > 0:
                row[:, j + net.cols - 1] = h
            patch = row[:, j : j + net.cols].reshape(len(row), -1)
            pre = torch.addmm(bias, patch, matrix) + self.links[n][:, j]
            out = torch.addmm(res_b, _gate(pre, 1), res_m)
            h = out if n == 0 else h + out
        return net._head(h)

    def write(self, position: int, value: Tensor) -> None:
        """Set pixel ``position`` (model space) of every image to ``value`` (``n``)."""
        i, j = divmod(position, self.width)
        half = self.net.kernel // 2
        self.image[:, 0, i + self.net.rows, j + half] = value
        self.rows_in[0][:, j + self.net.cols, 0] = value

    def values(self) -> Tensor:
        """The images written so far, ``n x 1 x H x W``."""
        half = self.net.kernel // 2
        return self.image[:, :, self.net.rows :, half : half + self.width].clone()
