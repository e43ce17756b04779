"""Networks of latent diffusion: the convolutional autoencoder of stage 1 and
the denoiser of stage 2, chosen by the rank of an example's shape.

* Images ``C x H x W``: a 2-D encoder halving both sides with stride-2
  convolutions while they are even and at least 4 (at most ``stages``
  times; 28 x 28 → 14 x 14 → 7 x 7), a mirrored decoder. The latent
  denoiser is the image U-Net of :mod:`genbench_families.nets.unet`.
* Sequences ``C x T`` (audio): ``fold`` consecutive samples go into
  channels first (the largest power of two up to ``fold`` that divides
  ``T`` and leaves at least 4 frames), then stride-2 stages while the frame
  count is even and at least 8 (at most ``stages``; 8,000 samples → 1,000
  frames of 8 → 500 → 250). The latent denoiser is :class:`SequenceDenoiser`,
  residual blocks at the latent rate whose dilations grow to span the clip
  (the audio U-Net folds 32 samples per frame, which a 250-step latent
  sequence does not have).

Every encoder outputs ``2 · latent_channels`` channels (posterior means,
then log-variances); every decoder maps ``latent_channels`` back to the
example's shape.
"""

from __future__ import annotations

from torch import Tensor, nn

from genbench_families.nets.audio import Fold, ResBlock, Unfold
from genbench_families.nets.layers import LabelEmbedding, TimeEmbedding, with_labels
from genbench_families.nets.unet import UNet

DILATIONS = (1, 2, 4, 8, 16, 32)
"""Dilations of one cycle of :class:`SequenceDenoiser`'s residual blocks."""


def image_stages(height: int, width: int, stages: int) -> int:
    """How many times an ``height x width`` image halves: while both sides
    are even and at least 4, at most ``stages`` times."""
    count = 0
    while count < stages and height % 2 == 0 and width % 2 == 0 and min(height, width) >= 4:
        height, width, count = height // 2, width // 2, count + 1
    return count


def sequence_plan(length: int, fold: int, stages: int) -> tuple[int, int]:
    """``(fold, stages)`` of a sequence of ``length`` samples: the largest
    power of two up to ``fold`` that divides ``length`` and leaves at least
    4 frames, then the stride-2 stages (at most ``stages``) while the frame
    count is even and at least 8."""
    chosen = 1
    while 2 * chosen <= fold and length % (2 * chosen) == 0 and length // (2 * chosen) >= 4:
        chosen *= 2
    frames, count = length // chosen, 0
    while count < stages and frames % 2 == 0 and frames >= 8:
        frames, count = frames // 2, count + 1
    return chosen, count


def autoencoder(
    shape: tuple[int, ...], latent_channels: int, width: int, stages: int, fold: int
) -> tuple[nn.Module, nn.Module, tuple[int, ...]]:
    """``(encoder, decoder, latent_shape)`` for examples of ``shape``.

    Raises:
        ValueError: ``shape`` is neither ``C x H x W`` nor ``C x T``, or a
            size setting is not positive.
    """
    if min(latent_channels, width, fold) < 1 or stages < 0:
        raise ValueError(
            "latent autoencoders need latent_channels, width and fold >= 1 and stages >= 0, "
            f"got {latent_channels}, {width}, {fold} and {stages}"
        )
    if len(shape) == 3:
        return _image_autoencoder(shape, latent_channels, width, stages)
    if len(shape) == 2:
        return _sequence_autoencoder(shape, latent_channels, width, stages, fold)
    raise ValueError(
        "latent diffusion needs images (C, H, W) or sequences (C, T), "
        f"got examples of shape {shape}"
    )


def _image_autoencoder(
    shape: tuple[int, ...], latent_channels: int, width: int, stages: int
) -> tuple[nn.Module, nn.Module, tuple[int, ...]]:
    c, h, w = shape
    count = image_stages(h, w, stages)
    encoder: list[nn.Module] = [nn.Conv2d(c, width, 3, 1, 1), nn.SiLU()]
    decoder: list[nn.Module] = [nn.Conv2d(latent_channels, width, 3, 1, 1), nn.SiLU()]
    for _ in range(count):
        encoder += [nn.Conv2d(width, width, 4, 2, 1), nn.SiLU()]
        encoder += [nn.Conv2d(width, width, 3, 1, 1), nn.SiLU()]
        decoder += [nn.Conv2d(width, width, 3, 1, 1), nn.SiLU()]
        decoder += [nn.ConvTranspose2d(width, width, 4, 2, 1), nn.SiLU()]
    encoder.append(nn.Conv2d(width, 2 * latent_channels, 3, 1, 1))
    decoder.append(nn.Conv2d(width, c, 3, 1, 1))
    latent_shape = (latent_channels, h >> count, w >> count)
    return nn.Sequential(*encoder), nn.Sequential(*decoder), latent_shape


def _sequence_autoencoder(
    shape: tuple[int, ...], latent_channels: int, width: int, stages: int, fold: int
) -> tuple[nn.Module, nn.Module, tuple[int, ...]]:
    c, t = shape
    chosen, count = sequence_plan(t, fold, stages)
    encoder: list[nn.Module] = [Fold(chosen), nn.Conv1d(c * chosen, width, 3, 1, 1), nn.SiLU()]
    decoder: list[nn.Module] = [nn.Conv1d(latent_channels, width, 3, 1, 1), nn.SiLU()]
    for _ in range(count):
        encoder += [nn.Conv1d(width, width, 4, 2, 1), nn.SiLU()]
        encoder += [nn.Conv1d(width, width, 3, 1, 1), nn.SiLU()]
        decoder += [nn.Conv1d(width, width, 3, 1, 1), nn.SiLU()]
        decoder += [nn.ConvTranspose1d(width, width, 4, 2, 1), nn.SiLU()]
    encoder += [nn.Conv1d(width, width, 3, 1, 1), nn.SiLU()]
    decoder += [nn.Conv1d(width, width, 3, 1, 1), nn.SiLU()]
    encoder.append(nn.Conv1d(width, 2 * latent_channels, 3, 1, 1))
    decoder += [nn.Conv1d(width, c * chosen, 3, 1, 1), Unfold(chosen)]
    latent_shape = (latent_channels, t // chosen >> count)
    return nn.Sequential(*encoder), nn.Sequential(*decoder), latent_shape


class SequenceDenoiser(nn.Module):
    """``(z, t) → B x C x L`` noise prediction on latent sequences, ``t`` in
    ``[0, 1]``: pairs of latent steps folded into channels when ``L`` is
    even and at least 8 (half the frames: a quarter of the CPU time of
    the convolutions at width ``width``), a kernel-3 stem, ``cycles``
    cycles of residual blocks with the dilations :data:`DILATIONS` (a
    receptive field of about ``cycles · 138`` frames), each adding a
    projection of the sinusoidal time embedding (``4 · width`` features),
    and a zero-initialised output convolution, unfolded: a new network
    predicts zeros.

    With ``num_classes`` the network is class-conditional: a
    :class:`~genbench_families.nets.layers.LabelEmbedding` (``num_classes + 1``
    vectors, the last the null class) is added to the time embedding and
    ``forward`` takes labels ``B``. Without it the network is built exactly
    as before (same parameters, same initial draws)."""

    def __init__(
        self,
        shape: tuple[int, ...],
        width: int,
        cycles: int = 2,
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        channels, length = shape
        pair = 2 if length % 2 == 0 and length >= 8 else 1
        channels *= pair
        self.fold, self.unfold = Fold(pair), Unfold(pair)
        time_dim = 4 * width
        self.embed = TimeEmbedding(time_dim)
        self.stem = nn.Conv1d(channels, width, 3, 1, 1)
        self.blocks = nn.ModuleList(
            ResBlock(width, width, time_dim, dilation)
            for _ in range(cycles)
            for dilation in DILATIONS
        )
        self.out = nn.Conv1d(width, channels, 3, 1, 1)
        self.act = nn.SiLU()
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.labels = LabelEmbedding(num_classes, time_dim) if num_classes is not None else None

    def forward(self, z: Tensor, t: Tensor, labels: Tensor | None = None) -> Tensor:
        emb = with_labels(self.embed(t), self.labels, labels)
        h = self.stem(self.fold(z))
        for block in self.blocks:
            h = block(h, emb)
        return self.unfold(self.out(self.act(h)))


def denoiser(shape: tuple[int, ...], width: int, num_classes: int | None = None) -> nn.Module:
    """The stage-2 network for latents of ``shape`` (see the module
    docstring); the factory :class:`~genbench_families.diffusion.Diffusion`
    calls. With ``num_classes``, ``(z, t, labels) → B x *shape`` (labels in
    ``0..num_classes``, the last the null class).

    Raises:
        ValueError: ``shape`` is neither ``C x H x W`` nor ``C x L``.
    """
    if len(shape) == 3:
        return UNet(shape, width, num_classes)
    if len(shape) == 2:
        return SequenceDenoiser(shape, width, num_classes=num_classes)
    raise ValueError(f"latent denoisers need latents (C, H, W) or (C, L), got shape {shape}")
