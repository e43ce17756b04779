"""1-D convolutional networks for audio tasks.

Model-space examples are channels-first waveforms ``C x T`` (``C = 1``:
mono), values on ``[-1, 1]`` in the mu-law companded domain (see
:class:`~genbench_families.catalogue.MuLawSpace`). Each factory has the same
name and contract as its twins in :mod:`genbench_families.nets.image` and
:mod:`genbench_families.nets.toy`.

Small-channel convolutions over 8,000 time steps are what a CPU does
slowest, so every network except the autoregressive one first folds
``Plan.fold`` consecutive samples into channels (32 samples, 4 ms at 8 kHz:
``1 x 8000 → 32 x 250``) and computes on those frames, with stride-2 stages
while the frame count is even (250 → 125). The autoregressive network
cannot fold time (each sample depends on the one before it): it is a
WaveNet (:mod:`genbench_families.nets.wavenet`) whose sampler costs
``O(layers)`` per new sample.
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor, nn

from genbench_families.nets.layers import (
    LabelEmbedding,
    SqueezeParameterAxis,
    TimeEmbedding,
    sequence_shape,
    spectral,
    with_labels,
)
from genbench_families.nets.wavenet import WaveNet

FOLD = 32
"""Most samples folded into one frame's channels (a power of two)."""

STAGES = 2
"""Most stride-2 stages after folding."""

INITIAL_LOG_SCALE = -2.0
"""Initial log-scale of the VAE decoder (a scale of 0.14 on ``[-1, 1]``,
against the companded data's standard deviation of 0.32). Starting from
scale 1 the VAE and the autoencoder on ``audio/digits`` kept predicting
silence; from 0.14 the autoencoder's reconstruction error fell within 300
steps and the VAE's within 800."""


class Plan:
    """Where an audio network computes.

    ``fold`` is the largest power of two up to :data:`FOLD` that divides
    ``T`` and leaves at least 4 frames; frames then halve with stride-2
    stages (at most :data:`STAGES`) while their count is even and at least 8.

    Attributes:
        fold: samples per frame; ``channels``: ``C · fold``.
        lengths: frame counts, one per resolution (``lengths[0] = T / fold``).
    """

    def __init__(self, shape: tuple[int, ...]) -> None:
        c, t = sequence_shape(shape)
        fold = 1
        while 2 * fold <= FOLD and t % (2 * fold) == 0 and t // (2 * fold) >= 4:
            fold *= 2
        self.fold = fold
        self.channels = c * fold
        lengths = [t // fold]
        while len(lengths) <= STAGES and lengths[-1] % 2 == 0 and lengths[-1] >= 8:
            lengths.append(lengths[-1] // 2)
        self.lengths = tuple(lengths)

    def widths(self, width: int) -> list[int]:
        """Channels at each resolution: ``width``, then ``2·width`` below it
        (doubling further would make the coarse stages the costly ones)."""
        return [width * min(2**level, 2) for level in range(len(self.lengths))]


class Fold(nn.Module):
    """``B x C x T → B x C·k x T/k``: sample ``j·k + i`` of channel ``c`` goes
    to channel ``c·k + i`` at frame ``j``."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = k

    def forward(self, x: Tensor) -> Tensor:
        b, c, t = x.shape
        return x.view(b, c, t // self.k, self.k).transpose(2, 3).reshape(b, c * self.k, -1)


class Unfold(nn.Module):
    """Inverse of :class:`Fold`."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = k

    def forward(self, x: Tensor) -> Tensor:
        b, ck, frames = x.shape
        x = x.view(b, ck // self.k, self.k, frames).transpose(2, 3)
        return x.reshape(b, ck // self.k, frames * self.k)


def _act(leaky: bool) -> nn.Module:
    return nn.LeakyReLU(0.2) if leaky else nn.SiLU()


def _down(in_channels: int, out_channels: int) -> nn.Conv1d:
    """Stride-2 convolution halving the frame count (kernel 4, padding 1)."""
    return nn.Conv1d(in_channels, out_channels, 4, 2, 1)


def _up(in_channels: int, out_channels: int) -> nn.ConvTranspose1d:
    """Stride-2 transposed convolution doubling the frame count."""
    return nn.ConvTranspose1d(in_channels, out_channels, 4, 2, 1)


def sequence_channels(plan: Plan, size: int) -> int:
    """Channels of a code of ``size`` values laid out over the plan's coarsest
    frames (``size = channels · plan.lengths[-1]``).

    Raises:
        ValueError: ``size`` is not a multiple of the coarsest frame count.
    """
    frames = plan.lengths[-1]
    if size % frames:
        raise ValueError(
            f"an audio VAE's code is a sequence over the {frames} coarsest frames: "
            f"its size (latent_dim) must be a multiple of {frames}, got {size}"
        )
    return size // frames


class Encoder(nn.Module):
    """Fold, a kernel-3 convolution, the stride-2 stages of the :class:`Plan`
    (channels ``width``, then ``2·width``), then a map to ``out_features``:
    a linear map of all frames (``sequence=False``, the GAN critic), or a
    kernel-3 convolution to ``out_features / frames`` channels at the
    coarsest frames, flattened channel by channel (``sequence=True``, the
    VAE encoder: its first half, the means, then the log-variances).
    """

    def __init__(
        self,
        shape: tuple[int, ...],
        out_features: int,
        width: int,
        spectral_norm: bool = False,
        sequence: bool = False,
    ) -> None:
        super().__init__()
        plan = Plan(shape)
        widths = plan.widths(width)
        layers: list[nn.Module] = [
            Fold(plan.fold),
            spectral(nn.Conv1d(plan.channels, width, 3, 1, 1), spectral_norm),
            _act(spectral_norm),
        ]
        for before, after in itertools.pairwise(widths):
            layers += [spectral(_down(before, after), spectral_norm), _act(spectral_norm)]
        if sequence:
            channels = sequence_channels(plan, out_features)
            layers += [nn.Conv1d(widths[-1], channels, 3, 1, 1), nn.Flatten()]
        else:
            features = widths[-1] * plan.lengths[-1]
            layers += [nn.Flatten(), spectral(nn.Linear(features, out_features), spectral_norm)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


class Decoder(nn.Module):
    """The code mapped to the coarsest frames, stride-2 transposed
    convolutions back up to the folded frames, a kernel-3 convolution and
    unfolding: the WaveGAN generator's layout on frames. The code is a
    vector mapped by a linear layer (``sequence=False``, the GAN), or a
    sequence of ``latent_dim / frames`` channels over the coarsest frames
    mapped by a kernel-3 convolution (``sequence=True``, the VAE).

    Output: ``B x params x C x T`` (``params`` values per sample), passed
    through ``torch.tanh`` when ``bounded``.
    """

    def __init__(
        self,
        latent_dim: int,
        shape: tuple[int, ...],
        params: int,
        width: int,
        batch_norm: bool = False,
        bounded: bool = False,
        sequence: bool = False,
    ) -> None:
        super().__init__()
        plan = Plan(shape)
        widths = plan.widths(width)
        self.shape = tuple(shape)
        self.params = params
        self.bounded = bounded
        frames = plan.lengths[-1]
        if sequence:
            channels = sequence_channels(plan, latent_dim)
            self.project = nn.Sequential(
                nn.Unflatten(1, (channels, frames)), nn.Conv1d(channels, widths[-1], 3, 1, 1)
            )
        else:
            self.project = nn.Sequential(
                nn.Linear(latent_dim, widths[-1] * frames), nn.Unflatten(1, (widths[-1], frames))
            )
        layers: list[nn.Module] = []
        for before, after in itertools.pairwise(reversed(widths)):
            layers += [_norm(before, batch_norm), nn.SiLU(), _up(before, after)]
        layers += [
            _norm(width, batch_norm),
            nn.SiLU(),
            nn.Conv1d(width, params * plan.channels, 3, 1, 1),
        ]
        self.body = nn.Sequential(*layers)
        self.unfold = Unfold(plan.fold)

    def forward(self, z: Tensor) -> Tensor:
        h = self.body(self.project(z))
        channels, length = self.shape
        out = self.unfold(h.reshape(len(z) * self.params, -1, h.shape[-1]))
        out = out.view(len(z), self.params, channels, length)
        return torch.tanh(out) if self.bounded else out


def _norm(channels: int, batch_norm: bool) -> nn.Module:
    return nn.BatchNorm1d(channels) if batch_norm else nn.Identity()


class ResBlock(nn.Module):
    """Two kernel-3 convolutions (the second dilated) with a time-embedding
    bias and a skip path."""

    def __init__(self, in_channels: int, out_channels: int, time_dim: int, dilation: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(in_channels, out_channels, 3, 1, 1)
        self.time = nn.Linear(time_dim, out_channels)
        self.conv2 = nn.Conv1d(out_channels, out_channels, 3, 1, dilation, dilation=dilation)
        same = in_channels == out_channels
        self.skip = nn.Identity() if same else nn.Conv1d(in_channels, out_channels, 1)
        self.act = nn.SiLU()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.act(self.conv1(self.act(x)) + self.time(emb)[:, :, None])
        return self.skip(x) + self.conv2(h)


class UNet(nn.Module):
    """Small 1-D U-Net ``(x, t) → output of x's shape`` for diffusion.

    Fold, a residual block at every resolution of the :class:`Plan` on the
    way down (stride-2 convolutions between them; channels as
    :meth:`Plan.widths`), then back up through transposed convolutions and
    residual blocks fed the skip connection (concatenated); a kernel-3
    output convolution and unfolding. The second convolution of each block is dilated (2 on the way
    down, 4 at the bottom) to widen the context. A sinusoidal time embedding
    is added inside every block.

    The output also adds a time-dependent gain per folded channel times the
    folded input, ``g(t) ⊙ fold(x_t)`` (the linear part of the ideal noise
    prediction, ``E[ε | x_t] ∝ x_t`` for Gaussian data). With 32 samples per
    frame and as few channels, the convolutions alone must carry all 32
    noise values of a frame to the output; with the gain, 200 training steps
    on ``audio/digits`` reach a noise-prediction loss of 0.11 instead of
    0.31. The gain and the output convolution start at zero, so a new
    network predicts zeros.

    With ``num_classes`` the network is class-conditional: a
    :class:`~genbench_families.nets.layers.LabelEmbedding` (``num_classes + 1``
    vectors, the last the null class) is added to the time embedding, and
    ``forward`` takes labels ``B``. Without it the network is built exactly
    as it always was (same parameters, same random draws).
    """

    def __init__(self, shape: tuple[int, ...], width: int, num_classes: int | None = None) -> None:
        super().__init__()
        plan = Plan(shape)
        widths = plan.widths(width)
        time_dim = 4 * width
        self.embed = TimeEmbedding(time_dim)
        self.fold, self.unfold = Fold(plan.fold), Unfold(plan.fold)
        self.stem = nn.Conv1d(plan.channels, width, 3, 1, 1)
        bottom = len(widths) - 1
        self.blocks = nn.ModuleList(
            ResBlock(c, c, time_dim, 4 if level == bottom else 2) for level, c in enumerate(widths)
        )
        self.downs = nn.ModuleList(_down(a, b) for a, b in itertools.pairwise(widths))
        self.ups = nn.ModuleList(_up(b, a) for a, b in itertools.pairwise(widths))
        self.merges = nn.ModuleList(ResBlock(2 * c, c, time_dim, 1) for c in widths[:-1])
        self.out = nn.Conv1d(width, plan.channels, 3, 1, 1)
        self.input_gain = nn.Linear(time_dim, plan.channels)
        self.act = nn.SiLU()
        for layer in (self.out, self.input_gain):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.labels = LabelEmbedding(num_classes, time_dim) if num_classes is not None else None

    def forward(self, x: Tensor, t: Tensor, labels: Tensor | None = None) -> Tensor:
        emb = with_labels(self.embed(t), self.labels, labels)
        folded = self.fold(x)
        h = self.blocks[0](self.stem(folded), emb)
        skips = [h]
        for down, block in zip(self.downs, self.blocks[1:], strict=True):
            h = block(down(self.act(h)), emb)
            skips.append(h)
        skips.pop()
        for up, merge in zip(reversed(self.ups), reversed(self.merges), strict=True):
            h = merge(torch.cat([up(self.act(h)), skips.pop()], dim=1), emb)
        return self.unfold(self.out(self.act(h)) + self.input_gain(emb)[:, :, None] * folded)


class Conditioner(nn.Module):
    """Coupling-layer network ``B x in x T → B x out x T``: three kernel-3
    convolutions (the middle one dilated by 2), the last initialised to zero
    so a new coupling is the identity."""

    def __init__(self, in_channels: int, out_channels: int, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(in_channels, width, 3, 1, 1),
            nn.SiLU(),
            nn.Conv1d(width, width, 3, 1, 2, dilation=2),
            nn.SiLU(),
            nn.Conv1d(width, out_channels, 3, 1, 1),
        )
        nn.init.zeros_(self.body[-1].weight)
        nn.init.zeros_(self.body[-1].bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


def vae_networks(
    shape: tuple[int, ...], latent_dim: int, params: int, width: int
) -> tuple[nn.Module, nn.Module]:
    """``(encoder, decoder)``: ``x → B x 2·latent_dim`` (mean, log-variance)
    and ``z → B x params x *shape``.

    The code is a sequence over the coarsest frames (``latent_dim`` a
    multiple of their count, e.g. 8 channels x 125 frames for 1 s at 8 kHz):
    a single vector of a few dozen values cannot carry a waveform's phase,
    and a VAE with one collapsed to predicting silence (docs/families.md).
    The decoder's last ``params - 1`` outputs (the VAE's log-scale) start at
    :data:`INITIAL_LOG_SCALE`: a decoder that starts wide explains the data
    by its scale alone and never learns the location.
    """
    sequence_channels(Plan(shape), latent_dim)  # a clear error before building anything
    encoder = Encoder(shape, 2 * latent_dim, width, sequence=True)
    decoder = Decoder(latent_dim, shape, params, width, sequence=True)
    last = decoder.body[-1]
    with torch.no_grad():
        last.bias[last.out_channels // params :] = INITIAL_LOG_SCALE
    return encoder, decoder


def gan_networks(
    shape: tuple[int, ...], latent_dim: int, width: int, spectral_norm: bool
) -> tuple[nn.Module, nn.Module]:
    """``(generator, critic)``: ``z → B x *shape`` in ``[-1, 1]`` (WaveGAN-style
    transposed convolutions on folded frames, batch norm) and ``x → B x 1``
    (strided convolutions, spectral normalisation when asked)."""
    generator = Decoder(latent_dim, shape, 1, width, batch_norm=True, bounded=True)
    critic = Encoder(shape, 1, width, spectral_norm=spectral_norm)
    return SqueezeParameterAxis(generator), critic


def denoiser(shape: tuple[int, ...], width: int, num_classes: int | None = None) -> nn.Module:
    """``(x, t) → B x *shape`` noise prediction, ``t`` in ``[0, 1]``; with
    ``num_classes``, ``(x, t, labels) → B x *shape`` (labels in
    ``0..num_classes``, the last the null class)."""
    return UNet(shape, width, num_classes)


def conditioner(in_channels: int, out_channels: int, width: int) -> nn.Module:
    """Coupling network on ``B x channels x T`` frames, initialised to output zeros."""
    return Conditioner(in_channels, out_channels, width)


def autoregressive_network(
    shape: tuple[int, ...], params: int, width: int, layers: int
) -> nn.Module:
    """WaveNet producing ``B x *shape x params`` in time order, with an
    incremental sampler (see :class:`WaveNet`)."""
    return WaveNet(shape, params, width, layers)


def vq_networks(
    shape: tuple[int, ...], code_dim: int, params: int, width: int
) -> tuple[nn.Module, nn.Module, tuple[int, ...]]:
    """``(encoder, decoder, codes_shape)`` of a VQ-VAE: the encoder folds
    ``Plan.fold`` samples into a frame (32 at 8 kHz: 250 frames a second)
    and maps ``B x C x T`` to one ``code_dim`` vector per frame,
    ``B x code_dim x frames``; the decoder maps that back to
    ``B x params x C x T``; ``codes_shape = (1, frames)``, the code
    sequence the causal WaveNet prior models. Kernel-3 convolutions, the
    middle ones dilated by 2; the decoder's last ``params - 1`` outputs
    start at :data:`INITIAL_LOG_SCALE` as the VAE decoder's do."""
    plan = Plan(shape)
    sequence_shape(shape)  # a clear error before building anything
    frames = plan.lengths[0]
    encoder = nn.Sequential(
        Fold(plan.fold),
        nn.Conv1d(plan.channels, width, 3, 1, 1),
        nn.SiLU(),
        nn.Conv1d(width, width, 3, 1, 2, dilation=2),
        nn.SiLU(),
        nn.Conv1d(width, code_dim, 1),
    )
    out = nn.Conv1d(width, params * plan.channels, 3, 1, 1)
    with torch.no_grad():
        out.bias[plan.channels :] = INITIAL_LOG_SCALE
    decoder = nn.Sequential(
        nn.Conv1d(code_dim, width, 3, 1, 1),
        nn.SiLU(),
        nn.Conv1d(width, width, 3, 1, 2, dilation=2),
        nn.SiLU(),
        out,
        nn.Unflatten(1, (params, plan.channels)),
        nn.Flatten(0, 1),
        Unfold(plan.fold),
        nn.Unflatten(0, (-1, params)),
    )
    return encoder, decoder, (1, frames)
