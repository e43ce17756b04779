"""Convolutional networks for image tasks (examples ``C x H x W``).

Each factory has the same name and contract as its twin in
:mod:`genbench_families.nets.toy`, so a family's algorithm never depends on
the modality. Convolutions on few channels at full resolution are the
slowest thing a CPU does here, so the networks fold 2x2 pixels into channels
first and compute at half and quarter resolution (28 → 14 → 7, 8 → 4 → 2);
see :class:`Plan`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from genbench_families.nets.coupling import ResidualConditioner
from genbench_families.nets.gated_pixelcnn import GatedPixelCNN
from genbench_families.nets.layers import SqueezeParameterAxis, spectral
from genbench_families.nets.pixelcnn import PixelCNN


def _halvable(h: int, w: int) -> bool:
    return h % 2 == 0 and w % 2 == 0 and min(h, w) >= 4


class Plan:
    """Where an image network computes: pixels are first folded 2x2 into
    channels (space-to-depth) when the sides are even and at least 4, so no
    convolution runs at full resolution; one stride-2 stage may follow.

    Attributes:
        fold: 2 when pixels are folded, else 1.
        channels: channels after folding.
        size: ``(h, w)`` after folding; ``low``: after the stride-2 stage
            (``None`` when there is none).
    """

    def __init__(self, shape: tuple[int, ...]) -> None:
        if len(shape) != 3:
            raise ValueError(f"image networks need examples of shape (C, H, W), got {shape}")
        c, h, w = shape
        self.fold = 2 if _halvable(h, w) else 1
        self.channels = c * self.fold**2
        self.size = (h // self.fold, w // self.fold)
        self.low = (self.size[0] // 2, self.size[1] // 2) if _halvable(*self.size) else None

    def folder(self) -> nn.Module:
        """Full resolution → folded channels."""
        return nn.PixelUnshuffle(self.fold) if self.fold > 1 else nn.Identity()

    def unfolder(self) -> nn.Module:
        """Folded channels → full resolution."""
        return nn.PixelShuffle(self.fold) if self.fold > 1 else nn.Identity()


def _act(leaky: bool) -> nn.Module:
    return nn.LeakyReLU(0.2) if leaky else nn.SiLU()


class Encoder(nn.Module):
    """Fold, a 3x3 convolution, a stride-2 convolution (when the folded
    image is large enough), then a linear map to ``out_features``.

    Used as the VAE encoder and (with ``out_features=1``) the GAN critic.
    """

    def __init__(
        self, shape: tuple[int, ...], out_features: int, width: int, spectral_norm: bool = False
    ) -> None:
        super().__init__()
        plan = Plan(shape)
        layers: list[nn.Module] = [
            plan.folder(),
            spectral(nn.Conv2d(plan.channels, width, 3, 1, 1), spectral_norm),
            _act(spectral_norm),
        ]
        channels, (h, w) = width, plan.size
        if plan.low is not None:
            channels, (h, w) = 2 * width, plan.low
            conv = spectral(nn.Conv2d(width, channels, 4, 2, 1), spectral_norm)
            layers += [conv, _act(spectral_norm)]
        layers += [nn.Flatten(), spectral(nn.Linear(channels * h * w, out_features), spectral_norm)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


class Decoder(nn.Module):
    """A linear map from a code, a transposed convolution up to the folded
    size (when there is a lower stage), a 3x3 convolution and unfolding;
    with ``blocks`` > 0, that many modules from ``block(channels)`` at each
    resolution (before the transposed convolution and before the output
    convolution: :class:`~genbench_families.nets.residual.ResidualDecoder`).

    Output: ``B x params x C x H x W`` (``params`` values per pixel, e.g. the
    location and log-scale of a discretised logistic), passed through
    ``torch.tanh`` when ``bounded``.
    """

    def __init__(
        self,
        latent_dim: int,
        shape: tuple[int, ...],
        params: int,
        width: int,
        batch_norm: bool = False,
        bounded: bool = False,
        blocks: int = 0,
        block: Callable[[int], nn.Module] | None = None,
    ) -> None:
        super().__init__()
        if blocks and block is None:
            raise ValueError(f"blocks={blocks} needs a block factory")
        plan = Plan(shape)
        self.shape = tuple(shape)
        self.params = params
        self.bounded = bounded

        def stage(channels: int) -> list[nn.Module]:
            return [block(channels) for _ in range(blocks)] if block is not None else []

        layers: list[nn.Module] = []
        if plan.low is not None:
            self.start = (2 * width, *plan.low)
            layers += stage(2 * width)
            layers += [
                _norm(2 * width, batch_norm),
                nn.SiLU(),
                nn.ConvTranspose2d(2 * width, width, 4, 2, 1),
            ]
        else:
            self.start = (width, *plan.size)
        self.project = nn.Linear(latent_dim, self.start[0] * self.start[1] * self.start[2])
        layers += stage(width)
        layers += [
            _norm(width, batch_norm),
            nn.SiLU(),
            nn.Conv2d(width, params * plan.channels, 3, 1, 1),
            plan.unfolder(),
        ]
        self.body = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        h = self.project(z).view(len(z), *self.start)
        out = self.body(h).view(len(z), self.params, *self.shape)
        return torch.tanh(out) if self.bounded else out


def _norm(channels: int, batch_norm: bool) -> nn.Module:
    return nn.BatchNorm2d(channels) if batch_norm else nn.Identity()


class Conditioner(nn.Module):
    """Coupling-layer network ``B x in x H x W → B x out x H x W``: three 3x3
    convolutions, the last initialised to zero so a new coupling is the
    identity."""

    def __init__(self, in_channels: int, out_channels: int, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, 1, 1),
            nn.SiLU(),
            nn.Conv2d(width, width, 3, 1, 1),
            nn.SiLU(),
            nn.Conv2d(width, out_channels, 3, 1, 1),
        )
        nn.init.zeros_(self.body[-1].weight)
        nn.init.zeros_(self.body[-1].bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


# -- factories (same names and contracts in nets/toy.py) -----------------------


def vae_networks(
    shape: tuple[int, ...],
    latent_dim: int,
    params: int,
    width: int,
    blocks: int = 0,
    initial_log_scale: float | None = None,
) -> tuple[nn.Module, nn.Module]:
    """``(encoder, decoder)``: ``x → B x 2·latent_dim`` (mean, log-variance)
    and ``z → B x params x *shape``; with ``blocks`` residual blocks per
    resolution (:mod:`genbench_families.nets.residual`) when ``blocks > 0``.

    With ``initial_log_scale`` the decoder's last ``params - 1`` outputs
    (the VAE's log-scale) start there (through the output bias) rather than
    near 0, a scale of 1 on ``[-1, 1]``, as the audio decoder's do.
    """
    if blocks > 0:
        from genbench_families.nets.residual import ResidualDecoder, ResidualEncoder

        encoder: nn.Module = ResidualEncoder(shape, 2 * latent_dim, width, blocks)
        decoder: nn.Module = ResidualDecoder(latent_dim, shape, params, width, blocks)
    else:
        encoder = Encoder(shape, 2 * latent_dim, width)
        decoder = Decoder(latent_dim, shape, params, width)
    if initial_log_scale is not None:
        last = decoder.body[-2]  # the output convolution, before unfolding
        with torch.no_grad():
            last.bias[last.out_channels // params :] = initial_log_scale
    return encoder, decoder


def gan_networks(
    shape: tuple[int, ...], latent_dim: int, width: int, spectral_norm: bool, blocks: int = 0
) -> tuple[nn.Module, nn.Module]:
    """``(generator, critic)``: ``z → B x *shape`` in ``[-1, 1]`` (batch-norm
    DCGAN generator) and ``x → B x 1`` (strided convolutions, spectral
    normalisation when asked); with ``blocks`` residual blocks per
    resolution (:mod:`genbench_families.nets.residual`) when ``blocks > 0``."""
    if blocks > 0:
        from genbench_families.nets.residual import ResidualDecoder, ResidualEncoder

        generator: nn.Module = ResidualDecoder(
            latent_dim, shape, 1, width, blocks, batch_norm=True, bounded=True
        )
        critic: nn.Module = ResidualEncoder(shape, 1, width, blocks, spectral_norm=spectral_norm)
    else:
        generator = Decoder(latent_dim, shape, 1, width, batch_norm=True, bounded=True)
        critic = Encoder(shape, 1, width, spectral_norm=spectral_norm)
    return SqueezeParameterAxis(generator), critic


def denoiser(shape: tuple[int, ...], width: int, num_classes: int | None = None) -> nn.Module:
    """``(x, t) → B x *shape`` noise prediction, ``t`` in ``[0, 1]``: the
    GroupNorm/attention U-Net of :mod:`genbench_families.nets.unet`; with
    ``num_classes``, ``(x, t, labels) → B x *shape`` (labels in
    ``0..num_classes``, the last the null class)."""
    from genbench_families.nets.unet import UNet  # unet imports Plan from here

    return UNet(shape, width, num_classes)


def conditioner(
    in_channels: int, out_channels: int, width: int, blocks: int | None = None
) -> nn.Module:
    """Coupling network on feature maps, initialised to output zeros: three
    convolutions, or a :class:`~genbench_families.nets.coupling.ResidualConditioner`
    of ``blocks`` residual blocks when ``blocks`` is given."""
    if blocks is not None:
        return ResidualConditioner(in_channels, out_channels, width, blocks, spatial=True)
    return Conditioner(in_channels, out_channels, width)


def autoregressive_network(
    shape: tuple[int, ...], params: int, width: int, layers: int, kernel: int | None = None
) -> nn.Module:
    """PixelCNN producing ``B x *shape x params`` in raster order, with an
    incremental sampler: the gated PixelCNN with vertical and horizontal
    stacks and ``kernel``-wide vertical kernels
    (:class:`~genbench_families.nets.gated_pixelcnn.GatedPixelCNN`) when
    ``kernel`` is given, else the masked-convolution
    :class:`~genbench_families.nets.pixelcnn.PixelCNN`."""
    if len(shape) != 3 or shape[0] != 1:
        raise ValueError(f"the PixelCNN here models single-channel images, got shape {shape}")
    if kernel is not None:
        return GatedPixelCNN(shape, params, width, layers, kernel)
    return PixelCNN(shape, params, width, layers)


def vq_networks(
    shape: tuple[int, ...], code_dim: int, params: int, width: int
) -> tuple[nn.Module, nn.Module, tuple[int, ...]]:
    """``(encoder, decoder, codes_shape)`` of a VQ-VAE: the encoder maps
    ``B x *shape`` to ``B x code_dim x P`` (one vector per cell of the
    lowest-resolution grid of :class:`Plan`, ``P = h·w`` cells in raster
    order), the decoder maps that back to ``B x params x *shape``;
    ``codes_shape = (1, h, w)`` is the code grid as a one-channel image (what
    the PixelCNN prior models). Fully convolutional, so each code describes
    its own patch (7 x 7 codes of 4 x 4 pixels for 28 x 28 images)."""
    plan = Plan(shape)
    grid = plan.low or plan.size
    inner = 2 * width if plan.low is not None else width
    down: list[nn.Module] = []
    up: list[nn.Module] = []
    if plan.low is not None:
        down = [nn.Conv2d(width, inner, 4, 2, 1), nn.SiLU()]
        up = [nn.ConvTranspose2d(inner, width, 4, 2, 1), nn.SiLU()]
    encoder = nn.Sequential(
        plan.folder(),
        nn.Conv2d(plan.channels, width, 3, 1, 1),
        nn.SiLU(),
        *down,
        nn.Conv2d(inner, inner, 3, 1, 1),
        nn.SiLU(),
        nn.Conv2d(inner, code_dim, 1),
        nn.Flatten(2),
    )
    decoder = nn.Sequential(
        nn.Unflatten(2, grid),
        nn.Conv2d(code_dim, inner, 3, 1, 1),
        nn.SiLU(),
        nn.Conv2d(inner, inner, 3, 1, 1),
        nn.SiLU(),
        *up,
        nn.Conv2d(width, params * plan.channels, 3, 1, 1),
        plan.unfolder(),
        nn.Unflatten(1, (params, shape[0])),
    )
    return encoder, decoder, (1, *grid)
