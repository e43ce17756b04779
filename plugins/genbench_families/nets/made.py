"""MADE (Germain et al., 2015) giving an affine autoregressive transform's
shift and log-scale, for the masked autoregressive flow
(:mod:`genbench_families.maf`).

The network works on flat vectors ``B x D`` whatever the modality (an
image is its flattened pixels), so it is not one of the per-modality
factories.
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genbench_families.nets.toy import MaskedLinear


class AffineMADE(nn.Module):
    """``x → (shift, log_scale)``, each ``B x D``, where both outputs of
    coordinate ``order[k]`` depend only on the coordinates ``order[:k]``.

    Degrees: input ``order[k]`` has degree ``k + 1``; the hidden units of
    every layer spread evenly over degrees ``1 … D - 1`` (so that with
    fewer units than coordinates every input still reaches some unit: on
    MNIST, cycling ``1 … width`` left the inputs beyond ``width`` in each
    order unused); a hidden unit sees the
    inputs and units of degree ``≤`` its own, and the outputs of a
    coordinate of degree ``m`` see hidden units of degree ``< m``. The
    output layer's bias starts at zero and its weights at
    ``N(0, out_std²)``: with ``out_std = 0`` a fresh MADE is the identity
    transform. The log-scale is ``bound · tanh(raw / bound)`` when a
    ``bound`` is given (the identity near 0, a soft clamp at ``±bound``
    nats), else ``raw``.

    Args:
        order: a permutation of ``range(D)``, the autoregressive order.
        width: hidden units per layer; hidden_layers: at least 1.
        bound: soft bound of the log-scale in nats, or ``None``.
        out_std: standard deviation of the output weights at initialisation.

    Raises:
        ValueError: ``order`` is not a permutation, or ``hidden_layers < 1``.
    """

    def __init__(
        self,
        order: Tensor,
        width: int,
        hidden_layers: int,
        bound: float | None = None,
        out_std: float = 0.0,
    ) -> None:
        super().__init__()
        dim = len(order)
        if not torch.equal(torch.sort(order).values, torch.arange(dim)):
            raise ValueError(f"order must be a permutation of range({dim})")
        if hidden_layers < 1:
            raise ValueError(f"a MADE needs hidden_layers >= 1, got {hidden_layers}")
        if bound is not None and bound <= 0:
            raise ValueError(f"the log-scale bound must be positive, got {bound}")
        if out_std < 0:
            raise ValueError(f"out_std must be >= 0, got {out_std}")
        self.dim, self.bound = dim, bound
        inputs = torch.empty(dim, dtype=torch.long)
        inputs[order] = torch.arange(1, dim + 1)
        hidden = torch.arange(width) * max(dim - 1, 1) // width + 1
        degrees = [inputs] + [hidden] * hidden_layers
        self.register_buffer("order", order.clone(), persistent=False)
        self.hidden = nn.ModuleList(
            MaskedLinear((after[:, None] >= before[None, :]).float())
            for before, after in itertools.pairwise(degrees)
        )
        outputs = torch.cat([inputs, inputs])  # shifts, then raw log-scales
        self.out = MaskedLinear((outputs[:, None] > hidden[None, :]).float())
        if out_std > 0:
            nn.init.normal_(self.out.weight, std=out_std)
        else:
            nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def _log_scale(self, raw: Tensor) -> Tensor:
        return raw if self.bound is None else self.bound * torch.tanh(raw / self.bound)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = x
        for layer in self.hidden:
            h = F.silu(layer(h))
        shift, raw = self.out(h).chunk(2, dim=1)
        return shift, self._log_scale(raw)

    @torch.no_grad()
    def invert(self, u: Tensor) -> Tensor:
        """The ``x`` with ``u = (x - shift(x)) ⊙ exp(-log_scale(x))``, one
        coordinate at a time in :attr:`order` (``D`` sequential steps).

        The first layer's pre-activation is updated by one column per step
        (an output of degree ``m`` sees only inputs of degree ``< m``, all
        known by then); deeper layers and the two outputs of the current
        coordinate are recomputed each step.
        """
        first, deeper = self.hidden[0], self.hidden[1:]
        weight = first.weight * first.mask  # hidden x D
        shift_weight, raw_weight = (self.out.weight * self.out.mask).chunk(2)  # D x hidden
        shift_bias, raw_bias = self.out.bias.chunk(2)
        pre = first.bias.expand(len(u), -1).clone()
        x = torch.zeros_like(u)
        for d in self.order.tolist():
            h = F.silu(pre)
            for layer in deeper:
                h = F.silu(layer(h))
            shift = h @ shift_weight[d] + shift_bias[d]
            raw = h @ raw_weight[d] + raw_bias[d]
            value = u[:, d] * torch.exp(self._log_scale(raw)) + shift
            x[:, d] = value
            pre += value[:, None] * weight[:, d]
        return x
