"""Deeper image encoders and decoders: :class:`~genbench_families.nets.image.Encoder`
and :class:`~genbench_families.nets.image.Decoder` with ``blocks`` residual
blocks at each resolution they compute at.

Used by the image VAE and GAN when their budget sets ``blocks`` (see
:func:`genbench_families.nets.image.vae_networks` and
:func:`~genbench_families.nets.image.gan_networks`); the computation plan
(2x2 folding, one stride-2 stage) is the shallow networks' :class:`Plan`.
"""

from __future__ import annotations

from torch import Tensor, nn

from genbench_families.nets.image import Decoder, Plan
from genbench_families.nets.layers import spectral


class ResidualBlock(nn.Module):
    """``x + conv(act(conv(act(norm(x)))))`` with two 3x3 convolutions of
    ``channels`` (spectrally normalised when asked; batch norm before each
    activation when asked); the last convolution starts at zero in a
    generator or decoder (``zero_last``) so a new block is the identity."""

    def __init__(
        self,
        channels: int,
        leaky: bool,
        spectral_norm: bool = False,
        batch_norm: bool = False,
        zero_last: bool = False,
    ) -> None:
        super().__init__()
        first = spectral(nn.Conv2d(channels, channels, 3, 1, 1), spectral_norm)
        second = nn.Conv2d(channels, channels, 3, 1, 1)
        if zero_last:
            nn.init.zeros_(second.weight)
            nn.init.zeros_(second.bias)
        layers: list[nn.Module] = [
            _norm(channels, batch_norm),
            _act(leaky),
            first,
            _norm(channels, batch_norm),
            _act(leaky),
            spectral(second, spectral_norm),
        ]
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def _act(leaky: bool) -> nn.Module:
    return nn.LeakyReLU(0.2) if leaky else nn.SiLU()


def _norm(channels: int, batch_norm: bool) -> nn.Module:
    return nn.BatchNorm2d(channels) if batch_norm else nn.Identity()


class ResidualEncoder(nn.Module):
    """Fold, a 3x3 convolution to ``width``, ``blocks`` residual blocks, a
    stride-2 convolution to ``2·width`` (when the folded image is large
    enough), ``blocks`` more, then a linear map to ``out_features``.

    The VAE encoder, and with ``out_features=1`` and ``spectral_norm`` the
    GAN critic (LeakyReLU activations then, as in the shallow critic).
    """

    def __init__(
        self,
        shape: tuple[int, ...],
        out_features: int,
        width: int,
        blocks: int,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        if blocks < 1:
            raise ValueError(f"a residual network needs blocks >= 1, got {blocks}")
        plan = Plan(shape)
        leaky = spectral_norm
        layers: list[nn.Module] = [
            plan.folder(),
            spectral(nn.Conv2d(plan.channels, width, 3, 1, 1), spectral_norm),
        ]
        layers += [ResidualBlock(width, leaky, spectral_norm) for _ in range(blocks)]
        channels, (h, w) = width, plan.size
        if plan.low is not None:
            channels, (h, w) = 2 * width, plan.low
            layers += [_act(leaky), spectral(nn.Conv2d(width, channels, 4, 2, 1), spectral_norm)]
            layers += [ResidualBlock(channels, leaky, spectral_norm) for _ in range(blocks)]
        layers += [
            _act(leaky),
            nn.Flatten(),
            spectral(nn.Linear(channels * h * w, out_features), spectral_norm),
        ]
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


class ResidualDecoder(Decoder):
    """The image :class:`~genbench_families.nets.image.Decoder` with
    ``blocks`` residual blocks at the lowest resolution (before the
    transposed convolution, when there is a lower stage) and ``blocks`` more
    before the 3x3 output convolution.

    Output: ``B x params x C x H x W``, through ``torch.tanh`` when
    ``bounded``; batch norm inside the blocks when ``batch_norm`` (the GAN
    generator).
    """

    def __init__(
        self,
        latent_dim: int,
        shape: tuple[int, ...],
        params: int,
        width: int,
        blocks: int,
        batch_norm: bool = False,
        bounded: bool = False,
    ) -> None:
        if blocks < 1:
            raise ValueError(f"a residual network needs blocks >= 1, got {blocks}")
        super().__init__(
            latent_dim,
            shape,
            params,
            width,
            batch_norm=batch_norm,
            bounded=bounded,
            blocks=blocks,
            block=lambda channels: ResidualBlock(
                channels, False, batch_norm=batch_norm, zero_last=True
            ),
        )
