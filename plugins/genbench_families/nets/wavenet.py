"""WaveNet (van den Oord et al., 2016) over mu-law codes: gated dilated
causal 1-D convolutions, and an incremental sampler that keeps a queue of
past activations per layer, so each new sample costs ``O(layers)``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genbench_families.nets.layers import sequence_shape

DILATION_CYCLE = 10
"""WaveNet dilations run ``1, 2, 4, ..., 2**(DILATION_CYCLE - 1)`` and repeat."""


def dilations(layers: int) -> list[int]:
    """Dilation of each WaveNet layer: ``2**(l mod DILATION_CYCLE)``."""
    return [2 ** (layer % DILATION_CYCLE) for layer in range(layers)]


class WaveNet(nn.Module):
    """A WaveNet (van den Oord et al., 2016) for mono waveforms: the output
    at sample ``t`` depends only on samples ``< t``.

    * Input: a causal kernel-2 convolution of the two previous samples
      (model-space values, ``1 → width`` channels).
    * ``layers`` gated residual layers: a kernel-2 convolution with dilation
      ``d`` over the residual stream at ``t - d`` and ``t`` gives
      ``tanh(f) ⊙ σ(g)``, whose 1x1 projection is added to the stream
      (residual; the last layer has none). Dilations double up to
      ``2**(DILATION_CYCLE - 1)`` and repeat; the receptive field is
      ``2 + Σ d`` samples.
    * Skip connections: one 1x1 projection of every layer's gated output
      (concatenated), i.e. the sum of per-layer projections.
    * Head: ReLU, a ``width → 4·width`` linear map, ReLU, a linear map to
      ``params`` values per sample.

    Every convolution has kernel 1 or 2, so the network runs channels-last
    as matrix products over all ``B·T`` positions (several times faster on a
    CPU than ``Conv1d`` with 16-32 channels). ``forward(x)`` maps
    ``B x 1 x T`` to ``B x 1 x T x params`` (parameters last, like the
    PixelCNN); :meth:`start` begins incremental sampling.
    """

    def __init__(self, shape: tuple[int, ...], params: int, width: int, layers: int) -> None:
        super().__init__()
        channels, _ = sequence_shape(shape)
        if channels != 1:
            raise ValueError(f"the WaveNet here models mono waveforms, got shape {shape}")
        if layers < 1:
            raise ValueError(f"a WaveNet needs at least one layer, got {layers}")
        self.shape = tuple(shape)
        self.params = params
        self.width = width
        self.dilations = dilations(layers)
        self.first = nn.Linear(2, width)  # taps x[t-2], x[t-1]
        self.past = nn.ModuleList(nn.Linear(width, 2 * width, bias=False) for _ in range(layers))
        self.now = nn.ModuleList(nn.Linear(width, 2 * width) for _ in range(layers))
        self.residuals = nn.ModuleList(nn.Linear(width, width) for _ in range(layers - 1))
        self.skip = nn.Linear(layers * width, width)
        self.head1 = nn.Linear(width, 4 * width)
        self.head2 = nn.Linear(4 * width, params)

    def receptive_field(self) -> int:
        """Past samples the output at a position can see."""
        return 2 + sum(self.dilations)

    def head(self, skip: Tensor) -> Tensor:
        """Pointwise head on channel-last skip sums ``... x width``."""
        return self.head2(torch.relu(self.head1(torch.relu(skip))))

    def forward(self, x: Tensor) -> Tensor:
        length = x.shape[-1]
        previous = F.pad(x[:, 0], (2, 0))  # x[t-2] at index t, x[t-1] at t + 1
        h = self.first(torch.stack([previous[:, :length], previous[:, 1:-1]], dim=-1))
        gated = []
        for layer, d in enumerate(self.dilations):
            shifted = F.pad(h, (0, 0, d, 0))[:, :length]  # h[t - d], zeros before the start
            filt, gate = (self.past[layer](shifted) + self.now[layer](h)).chunk(2, dim=-1)
            gated.append(torch.tanh(filt) * torch.sigmoid(gate))
            if layer < len(self.residuals):
                h = h + self.residuals[layer](gated[-1])
        return self.head(self.skip(torch.cat(gated, dim=-1))).unsqueeze(1)

    def start(self, n: int) -> IncrementalWaveNet:
        """A sampler state for ``n`` waveforms, all samples still unknown."""
        return IncrementalWaveNet(self, n)


class IncrementalWaveNet:
    """Fast WaveNet generation (Paine et al., 2016): every gated layer keeps a
    queue of its last ``d`` inputs, so a new sample costs a few small matrix
    products per layer instead of a pass over the whole waveform.

    Call :meth:`params` for positions 0, 1, 2... in order, each followed by
    :meth:`write` of the chosen value; outputs equal ``WaveNet.forward`` on
    the finished waveforms.
    """

    def __init__(self, net: WaveNet, n: int) -> None:
        self.net = net
        width, layers = net.width, len(net.dilations)
        device = net.first.weight.device
        # two zeros of padding, then the samples
        self.x = torch.zeros(n, 2 + net.shape[1], device=device)
        self.queues = [torch.zeros(d, n, width, device=device) for d in net.dilations]
        self.gated = torch.zeros(layers, n, width, device=device)  # each layer's tanh(f) ⊙ σ(g)
        # tanh(f) = 2σ(2f) - 1: with the filter half of each gate doubled, one
        # sigmoid serves both halves (torch.tanh is 3x slower than torch.sigmoid)
        doubled = torch.ones(2 * width, device=device)
        doubled[:width] = 2.0
        with torch.no_grad():
            self.first = (net.first.weight.T.contiguous(), net.first.bias.detach())
            self.gates = [
                (
                    (past.weight * doubled[:, None]).T.contiguous(),
                    (now.weight * doubled[:, None]).T.contiguous(),
                    now.bias * doubled,
                )
                for past, now in zip(net.past, net.now, strict=True)
            ]
            self.residuals = [(r.weight.T.contiguous(), r.bias.detach()) for r in net.residuals]
            self.skip = net.skip.weight.T.reshape(layers, width, width).contiguous()
            self.skip_bias = net.skip.bias.detach()

    @torch.no_grad()
    def params(self, position: int) -> Tensor:
        """``n x params`` output at sample ``position``."""
        matrix, bias = self.first
        h = torch.addmm(bias, self.x[:, position : position + 2], matrix)
        width = self.net.width
        for layer, (d, queue, (past, now, bias)) in enumerate(
            zip(self.net.dilations, self.queues, self.gates, strict=True)
        ):
            slot = queue[position % d]  # this layer's input d steps ago
            a = torch.addmm(bias, h, now).addmm_(slot, past).sigmoid_()
            slot.copy_(h)  # read again d steps from now
            z = torch.mul(a[:, :width], 2.0, out=self.gated[layer]).sub_(1.0).mul_(a[:, width:])
            if layer < len(self.residuals):
                residual, residual_bias = self.residuals[layer]
                h = torch.addmm(residual_bias, z, residual).add_(h)
        skip = torch.bmm(self.gated, self.skip).sum(0).add_(self.skip_bias)
        return self.net.head(skip)

    def write(self, position: int, value: Tensor) -> None:
        """Set sample ``position`` (model space) of every waveform to ``value`` (``n``)."""
        self.x[:, position + 2] = value

    def values(self) -> Tensor:
        """The waveforms written so far, ``n x 1 x T``."""
        return self.x[:, 2:].unsqueeze(1).clone()


# -- factories (same names and contracts in nets/image.py and nets/toy.py) ------
