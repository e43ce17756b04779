"""Multilayer perceptrons for toy tasks (examples are vectors ``D``).

Each factory has the same name and contract as its twin in
:mod:`genbench_families.nets.image`.
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor, nn

from genbench_families.nets.coupling import ResidualConditioner
from genbench_families.nets.layers import TimeEmbedding, spectral


def _vector_dim(shape: tuple[int, ...]) -> int:
    if len(shape) != 1:
        raise ValueError(f"toy networks need examples of shape (D,), got {shape}")
    return shape[0]


def mlp(
    in_features: int,
    out_features: int,
    width: int,
    depth: int = 3,
    spectral_norm: bool = False,
    zero_last: bool = False,
) -> nn.Sequential:
    """``depth`` hidden layers of ``width`` units (SiLU, or LeakyReLU with
    spectral normalisation for critics), then a linear output."""
    layers: list[nn.Module] = []
    current = in_features
    for _ in range(depth):
        layers += [
            spectral(nn.Linear(current, width), spectral_norm),
            nn.LeakyReLU(0.2) if spectral_norm else nn.SiLU(),
        ]
        current = width
    last = spectral(nn.Linear(current, out_features), spectral_norm)
    if zero_last:
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
    return nn.Sequential(*layers, last)


class _Reshape(nn.Module):
    """An MLP whose flat output is viewed as ``B x *shape``."""

    def __init__(self, body: nn.Module, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.body = body
        self.shape = shape

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x).view(len(x), *self.shape)


class TimeMLP(nn.Module):
    """``(x, t) → B x D``: an MLP with the time embedding added to every hidden layer."""

    def __init__(self, dim: int, width: int, depth: int = 3) -> None:
        super().__init__()
        self.embed = TimeEmbedding(width)
        self.inp = nn.Linear(dim, width)
        self.hidden = nn.ModuleList(nn.Linear(width, width) for _ in range(depth - 1))
        self.out = nn.Linear(width, dim)
        self.act = nn.SiLU()

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        emb = self.embed(t)
        h = self.act(self.inp(x) + emb)
        for layer in self.hidden:
            h = self.act(layer(h) + emb)
        return self.out(h)


class MaskedLinear(nn.Linear):
    """``Linear`` whose weight is multiplied by a fixed 0/1 connectivity mask."""

    def __init__(self, mask: Tensor) -> None:
        super().__init__(mask.shape[1], mask.shape[0])
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.linear(x, self.weight * self.mask, self.bias)


class MADE(nn.Module):
    """Masked autoencoder (Germain et al., 2015) in the natural order: the
    ``params`` outputs of coordinate ``d`` depend only on coordinates ``< d``.

    ``forward(x)`` maps ``B x D`` to ``B x D x params``; :meth:`start` begins
    sequential sampling with the same interface as the image PixelCNN.
    """

    def __init__(self, dim: int, params: int, width: int, layers: int) -> None:
        super().__init__()
        self.dim = dim
        self.params = params
        inputs = torch.arange(1, dim + 1)
        hidden = torch.arange(width) % max(dim - 1, 1) + 1
        outputs = torch.arange(1, dim + 1).repeat_interleave(params)  # unit d*P + p: coordinate d
        degrees = [inputs] + [hidden] * layers
        self.hidden = nn.ModuleList(
            MaskedLinear((after[:, None] >= before[None, :]).float())
            for before, after in itertools.pairwise(degrees)
        )
        self.out = MaskedLinear((outputs[:, None] > degrees[-1][None, :]).float())
        self.act = nn.SiLU()

    def forward(self, x: Tensor) -> Tensor:
        h = x
        for layer in self.hidden:
            h = self.act(layer(h))
        return self.out(h).view(len(x), self.dim, self.params)

    def start(self, n: int) -> _SequentialState:
        """A sampler state for ``n`` vectors, all coordinates unknown."""
        return _SequentialState(self, n)


class _SequentialState:
    """Sampling state for :class:`MADE`: recomputes the (cheap) network."""

    def __init__(self, net: MADE, n: int) -> None:
        self.net = net
        self.x = torch.zeros(n, net.dim, device=net.out.weight.device)

    @torch.no_grad()
    def params(self, position: int) -> Tensor:
        return self.net(self.x)[:, position]

    def write(self, position: int, value: Tensor) -> None:
        self.x[:, position] = value

    def values(self) -> Tensor:
        return self.x.clone()


# -- factories (same names and contracts in nets/image.py) ---------------------


def vae_networks(
    shape: tuple[int, ...], latent_dim: int, params: int, width: int
) -> tuple[nn.Module, nn.Module]:
    """``(encoder, decoder)``: ``x → B x 2·latent_dim`` (mean, log-variance)
    and ``z → B x params x D``."""
    dim = _vector_dim(shape)
    decoder = _Reshape(mlp(latent_dim, params * dim, width), (params, dim))
    return mlp(dim, 2 * latent_dim, width), decoder


def gan_networks(
    shape: tuple[int, ...], latent_dim: int, width: int, spectral_norm: bool
) -> tuple[nn.Module, nn.Module]:
    """``(generator, critic)``: ``z → B x D`` (unbounded, standardised space)
    and ``x → B x 1`` (spectral normalisation when asked)."""
    dim = _vector_dim(shape)
    return mlp(latent_dim, dim, width), mlp(dim, 1, width, spectral_norm=spectral_norm)


def denoiser(shape: tuple[int, ...], width: int) -> nn.Module:
    """``(x, t) → B x D`` noise prediction, ``t`` in ``[0, 1]``."""
    return TimeMLP(_vector_dim(shape), width)


def conditioner(
    in_features: int, out_features: int, width: int, blocks: int | None = None
) -> nn.Module:
    """Coupling network on vectors: an MLP of two hidden layers initialised
    to output zeros, or a
    :class:`~genbench_families.nets.coupling.ResidualConditioner` of
    ``blocks`` residual blocks when ``blocks`` is given, whose output weights
    start at N(0, 0.01²) (on ``toy/grid25`` identity couplings stayed a
    Gaussian: 0 of 25 modes, against 10 of 25 with these weights)."""
    if blocks is not None:
        return ResidualConditioner(
            in_features, out_features, width, blocks, spatial=False, out_std=0.01
        )
    return mlp(in_features, out_features, width, depth=2, zero_last=True)


def autoregressive_network(
    shape: tuple[int, ...], params: int, width: int, layers: int
) -> nn.Module:
    """MADE producing ``B x D x params``, with a sequential sampler."""
    return MADE(_vector_dim(shape), params, width, layers)


def vq_networks(
    shape: tuple[int, ...], code_dim: int, params: int, width: int
) -> tuple[nn.Module, nn.Module, tuple[int, ...]]:
    """``(encoder, decoder, codes_shape)`` of a VQ-VAE: ``x → B x code_dim x 1``
    (one code per example), ``B x code_dim x 1 → B x params x D``, and
    ``codes_shape = (1,)`` (the prior is then a categorical table)."""
    dim = _vector_dim(shape)
    encoder = nn.Sequential(mlp(dim, code_dim, width), nn.Unflatten(1, (code_dim, 1)))
    decoder = nn.Sequential(
        nn.Flatten(1), _Reshape(mlp(code_dim, params * dim, width), (params, dim))
    )
    return encoder, decoder, (1,)
