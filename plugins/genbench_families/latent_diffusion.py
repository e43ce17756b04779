"""Latent diffusion (Rombach et al., 2022): DDPM/DDIM in an autoencoder's latent space.

Stage 1 trains a convolutional autoencoder (:func:`.nets.latent.autoencoder`)
on the training examples with a Gaussian posterior ``q(z | x) = N(μ(x),
σ²(x))``, reparameterised draws of ``z`` and the loss

    ``mean |x̂ - x|  +  spectral_weight · S(x̂, x)  +  kl_weight · KL / dims``

where ``KL = KL(q(z | x) || N(0, I))`` summed over the latent (nats) and
``dims`` the example's dimensions: a light KL term that keeps the latent
near the origin without making it a VAE's prior. ``S`` (sequences only) is
the mean absolute difference of log STFT magnitudes at window lengths
:data:`STFT_WINDOWS`. On audio (:class:`~genbench_families.space.MuLawSpace`)
the autoencoder works on the waveform itself, not on its mu-law companded
model-space form: the encoder reads the expanded waveform, the decoder
outputs a waveform (clamped to ``[-1, 1]``), and both losses compare
waveforms. Companding makes quiet background noise about as large as
speech in model space; a first autoencoder trained on the companded form
left samples at FAD 193-201 on ``audio/digits`` (docs/families.md gives
the comparison). The stated inversion: the
decoder's waveform, companded into model space (an exact round trip
through the space's expansion), is what samples and reconstructions hand
to the harness.

The training examples' posterior means, multiplied by ``latent_scale = 1 /
std`` (one number over every latent value, stored in the checkpoint), have
unit variance; stage 2 is a :class:`~genbench_families.diffusion.Diffusion`
on those scaled latents with the denoiser of :mod:`.nets.latent`. Sampling
draws a latent with the row's sampler (``ddpm`` or ``ddim``), divides by the
scale and decodes. Reconstruction decodes the posterior mean. There is no
likelihood: the diffusion bound would be one on the latent, not on the data.

Class-conditional latent diffusion (``num_classes``): the autoencoder is
trained without labels, exactly as for the unconditional model; only the
latent diffusion is conditional (label dropout and classifier-free
guidance of :mod:`genbench_families.conditioning`), and conditional samples
are decoded the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import ModuleType
from typing import Any

import torch
from torch import Tensor

from genbench_families.base import GenerativeModel, in_chunks
from genbench_families.diffusion import Diffusion
from genbench_families.distributions import normal_kl
from genbench_families.nets import latent as latent_nets
from genbench_families.space import DataSpace, MuLawSpace
from genbench_families.training import Schedule, train

STFT_WINDOWS = (64, 256, 1024)
"""Window lengths (samples) of the spectral loss; hops are a quarter window."""

_LOG_VAR_RANGE = (-30.0, 20.0)


def mulaw_expand(y: Tensor, mu: int) -> Tensor:
    """Waveform of companded values ``y`` in ``[-1, 1]``:
    ``sign(y)((1 + mu)^|y| - 1)/mu`` (differentiable, float32)."""
    return torch.sign(y) * torch.expm1(y.abs() * math.log1p(mu)) / mu


def mulaw_compress(w: Tensor, mu: int) -> Tensor:
    """Companded values of waveform ``w`` in ``[-1, 1]``:
    ``sign(w) log(1 + mu|w|)/log(1 + mu)``; inverse of :func:`mulaw_expand`."""
    return torch.sign(w) * torch.log1p(mu * w.abs()) / math.log1p(mu)


_CHUNK = 512


def spectral_distance(x: Tensor, y: Tensor, windows: tuple[int, ...] = STFT_WINDOWS) -> Tensor:
    """Mean over ``windows`` of the mean absolute difference of the log STFT
    magnitudes (``log(|S| + 1e-3)``: a floor 60 dB below full scale, so the
    unpredictable detail of quiet background noise weighs little; Hann
    windows) of sequences ``x`` and
    ``y`` (``B x C x T``); windows longer than ``T`` are skipped.

    Raises:
        ValueError: shapes differ or no window fits ``T``.
    """
    if x.shape != y.shape or x.dim() != 3:
        raise ValueError(f"need two B x C x T tensors of one shape, got {x.shape} and {y.shape}")
    usable = [n for n in windows if n <= x.shape[-1]]
    if not usable:
        raise ValueError(f"no STFT window in {windows} fits sequences of {x.shape[-1]} samples")
    terms = []
    for n in usable:
        window = torch.hann_window(n, device=x.device)

        def log_magnitude(s: Tensor, n: int = n, window: Tensor = window) -> Tensor:
            spectrum = torch.stft(
                s.reshape(-1, s.shape[-1]), n, n // 4, window=window, return_complex=True
            )
            return torch.log(spectrum.abs() + 1e-3)

        terms.append((log_magnitude(x) - log_magnitude(y)).abs().mean())
    return torch.stack(terms).mean()


class LatentDiffusion(GenerativeModel):
    """A KL-regularised autoencoder and a diffusion model on its scaled latents.

    Args:
        space: the task's data space (images ``C x H x W`` or sequences ``C x T``).
        nets: the modality's network factory; unused, the autoencoder and
            latent denoiser come from :mod:`.nets.latent` by the rank of
            ``space.shape`` (the signature every family's algorithm shares).
        latent_channels, width, stages, fold: the autoencoder's latent
            channels, width, halvings and samples folded per frame
            (sequences); see :func:`.nets.latent.autoencoder`.
        steps, batch_size, lr: the autoencoder's training schedule.
        kl_weight: weight of the KL term per example dimension (>= 0).
        spectral_weight: weight of the spectral loss (>= 0; sequences only).
        prior: keyword arguments of the latent
            :class:`~genbench_families.diffusion.Diffusion` (``width``,
            ``steps``, ``batch_size``, ``lr``, ``T``, ``ddpm_steps``, ...;
            not ``sampler``).
        sampler: ``"ddpm"`` or ``"ddim"``, the latent sampler.
        schedule: keyword arguments of the autoencoder's learning-rate
            :class:`~genbench_families.training.Schedule` (constant when ``None``).
        num_classes, label_dropout, guidance: class conditioning of the
            latent diffusion (see
            :class:`~genbench_families.diffusion.Diffusion`); ``None``, 0
            and 1 for an unconditional model.
    """

    def __init__(
        self,
        space: DataSpace,
        nets: ModuleType,
        *,
        latent_channels: int,
        width: int,
        stages: int,
        steps: int,
        batch_size: int,
        lr: float,
        prior: Mapping[str, Any],
        kl_weight: float = 1e-4,
        spectral_weight: float = 0.0,
        fold: int = 8,
        sampler: str = "ddpm",
        schedule: Mapping[str, Any] | None = None,
        num_classes: int | None = None,
        label_dropout: float = 0.0,
        guidance: float = 1.0,
    ) -> None:
        super().__init__(space)
        if kl_weight < 0:
            raise ValueError(f"kl_weight must be >= 0, got {kl_weight}")
        if spectral_weight < 0:
            raise ValueError(f"spectral_weight must be >= 0, got {spectral_weight}")
        if spectral_weight > 0 and len(space.shape) != 2:
            raise ValueError(
                f"the spectral loss needs sequences (C, T), got examples of shape {space.shape}"
            )
        if "sampler" in prior:
            raise ValueError("the latent sampler is the row's `sampler` option, not a prior key")
        self.steps, self.batch_size, self.lr = steps, batch_size, lr
        self.kl_weight, self.spectral_weight = float(kl_weight), float(spectral_weight)
        self.schedule = None if schedule is None else Schedule(**schedule)
        self.encoder, self.decoder, self.latent_shape = latent_nets.autoencoder(
            space.shape, latent_channels, width, stages, fold
        )
        self.diffusion = Diffusion(
            DataSpace(self.latent_shape, None),
            latent_nets,
            sampler=sampler,
            num_classes=num_classes,
            label_dropout=label_dropout,
            guidance=guidance,
            **prior,
        )
        conditional = {"conditional_sample"} if self.num_classes is not None else set()
        self.capabilities = frozenset({"sample", "reconstruct", *conditional})
        self.register_buffer("latent_scale", torch.ones(()))
        self.mu = space.levels - 1 if isinstance(space, MuLawSpace) else None

    @property
    def num_classes(self) -> int | None:
        """Classes of the conditional latent diffusion; ``None`` when it is
        unconditional."""
        return self.diffusion.num_classes

    @property
    def latent_dims(self) -> int:
        """Values per latent."""
        return math.prod(self.latent_shape)

    # -- stage 1 --------------------------------------------------------------

    def signal(self, x: Tensor) -> Tensor:
        """What the autoencoder reads and rebuilds for model-space ``x``: the
        expanded waveform on audio, ``x`` itself otherwise."""
        return x if self.mu is None else mulaw_expand(x, self.mu)

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and log-variance of ``q(z | x)`` for model-space ``x``, each
        ``B x *latent_shape``."""
        mean, log_var = self.encoder(self.signal(x)).chunk(2, dim=1)
        return mean, log_var.clamp(*_LOG_VAR_RANGE)

    def decode(self, z: Tensor) -> Tensor:
        """Model-space examples of unscaled latents ``z``: the decoder's
        output clamped to ``[-1, 1]``, companded on audio."""
        out = self.decoder(z).clamp(-1, 1)
        return out if self.mu is None else mulaw_compress(out, self.mu)

    def autoencoder_loss(self, x: Tensor, generator: torch.Generator) -> Tensor:
        """The stage-1 loss of the module docstring, batch mean."""
        mean, log_var = self.posterior(x)
        noise = torch.randn(mean.shape, generator=generator, device=mean.device)
        out, target = self.decoder(mean + (0.5 * log_var).exp() * noise), self.signal(x)
        loss = (out - target).abs().mean()
        if self.spectral_weight > 0:
            loss = loss + self.spectral_weight * spectral_distance(out, target)
        if self.kl_weight > 0:
            zero = torch.zeros_like(mean)
            kl = normal_kl(mean, log_var, zero, zero).flatten(1).sum(1).mean()
            loss = loss + self.kl_weight * kl / self.space.dims
        return loss

    @torch.no_grad()
    def latents(self, x: Tensor) -> Tensor:
        """Scaled posterior means ``latent_scale · μ(x)`` of model-space ``x``."""
        return in_chunks(lambda b: self.posterior(b)[0], x, size=_CHUNK) * self.latent_scale

    # -- training ---------------------------------------------------------------

    def fit(
        self, data: Tensor, generator: torch.Generator, labels: Tensor | None = None
    ) -> list[float]:
        """Train the autoencoder, set :attr:`latent_scale` from the training
        examples' posterior means, then train the latent diffusion (on the
        examples' ``labels``, exactly when the model is conditional);
        returns both runs' losses per step."""
        losses = train(
            lambda batch: self.autoencoder_loss(batch, generator),
            [*self.encoder.parameters(), *self.decoder.parameters()],
            data,
            steps=self.steps,
            batch_size=self.batch_size,
            lr=self.lr,
            generator=generator,
            schedule=self.schedule,
        )
        with torch.no_grad():
            means = in_chunks(lambda b: self.posterior(b)[0], data, size=_CHUNK)
            self.latent_scale.fill_(1.0 / float(means.double().std().clamp(min=1e-8)))
        return losses + self.diffusion.fit(means * self.latent_scale, generator, labels)

    # -- hooks ------------------------------------------------------------------

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """Decode ``n`` latents drawn by the row's sampler (a conditional
        model's with uniformly drawn labels at the row's guidance)."""
        return self._decoded(self.diffusion.sample(n, generator))

    @torch.no_grad()
    def sample_conditional(
        self, labels: Tensor, guidance: float, generator: torch.Generator
    ) -> Tensor:
        """Decode one latent per label drawn at guidance scale ``guidance``
        (see :meth:`~genbench_families.diffusion.Diffusion.sample_conditional`)."""
        return self._decoded(self.diffusion.sample_conditional(labels, guidance, generator))

    def _decoded(self, scaled: Tensor) -> Tensor:
        """Model-space examples of scaled latents."""
        return in_chunks(self.decode, scaled / self.latent_scale, size=_CHUNK)

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        """Decode the posterior mean of each example."""
        return in_chunks(lambda b: self.decode(self.posterior(b)[0]), x, size=_CHUNK)

    def nfe(self, guidance: float | None = None) -> int:
        """The latent sampler's network evaluations (at ``guidance`` for a
        conditional model, default the row's) and one decoder pass."""
        return self.diffusion.nfe(guidance) + 1

    def diagnostics(self, probe: Tensor) -> dict[str, float]:
        """``compression_factor`` (example dimensions over latent values),
        ``latent_dims``, ``latent_scale`` and the autoencoder's mean absolute
        reconstruction error on ``probe`` in model space
        (``reconstruction_l1``)."""
        error = (self.reconstruct(probe) - probe).abs().mean()
        return {
            "compression_factor": self.space.dims / self.latent_dims,
            "latent_dims": float(self.latent_dims),
            "latent_scale": float(self.latent_scale),
            "reconstruction_l1": float(error),
        }
