"""Vector-quantised autoencoder (VQ-VAE; van den Oord et al., 2017) with an
autoregressive prior over its code grid.

* Encoder: one ``code_dim`` vector per cell of a code grid (a 7 x 7 grid
  for 28 x 28 images, one cell per 32-sample frame of audio, one cell per
  toy point); each is replaced by its nearest codebook vector (squared
  Euclidean distance, ties to the lowest index).
* Training: the decoder's negative log-likelihood per dimension plus the
  codebook loss ``mean ||sg[z_e] - e||²`` and ``beta`` times the commitment
  loss ``mean ||z_e - sg[e]||²`` (means over code vectors and their
  coordinates); the decoder's input is ``z_e + sg[e - z_e]`` (the
  straight-through estimator: the decoder sees the code, the encoder gets
  the decoder-input gradient unchanged). The codebook is learned by
  gradient, not by EMA updates.
* Dead codes: every ``restart_every`` steps (and before the first step,
  which initialises the whole codebook from encoder outputs) each code
  that no encoder output chose since the last check is moved onto an
  encoder output of the current batch drawn at random (seeded).
* Decoder likelihood: the VAE row's, a discretised logistic per dimension
  for discrete data and a Gaussian for continuous data, so reconstruction
  log-likelihoods of the two rows compare directly.
* Prior: after the autoencoder, in the same :meth:`VQVAE.fit`, an
  :class:`~genbench_families.autoregressive.Autoregressive` model of the
  training examples' code indices, the indices written as ``K`` levels of
  a one-channel grid (codes relabelled first in the order of their
  projections on the codebook's leading principal direction, so that the
  scalar level a network reads says something about the code vector):
  the PixelCNN's masked convolutions on the image code
  grid, a causal WaveNet on the audio code sequence, and a MADE on one toy
  code (with one input it is a categorical table over the ``K`` codes).
* Likelihood: ``log p(x) >= log p(z_q) + log p(x | z_q)`` for the
  encoder's quantised code ``z_q`` (one term of ``p(x) = Σ_z p(z) p(x|z)``;
  equivalently the ELBO of a posterior that is a point mass, whose entropy
  is 0): a bound, ``exact=False``, in the same nats as the VAE's.
* Samples: decode prior draws to the decoder's mode (``sample_mode``) or a
  draw from the decoder.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from types import ModuleType
from typing import Any

import torch
from torch import Tensor, nn

from genbench_families.autoregressive import Autoregressive
from genbench_families.base import GenerativeModel, ModelLikelihood, in_chunks
from genbench_families.distributions import (
    discretised_logistic_log_prob,
    discretised_logistic_mode,
    discretised_logistic_sample,
    normal_log_prob,
)
from genbench_families.space import DataSpace
from genbench_families.training import EarlyStopping, Schedule, train

_MIN_LOG_SCALE = -7.0
_CHUNK = 512


def nearest_codes(vectors: Tensor, codebook: Tensor) -> Tensor:
    """Index of the codebook row nearest to each row of ``vectors``
    (``N x e`` against ``K x e``) in squared Euclidean distance; ties go to
    the lowest index."""
    distances = (
        (vectors**2).sum(1, keepdim=True) - 2 * vectors @ codebook.T + (codebook**2).sum(1)[None]
    )
    return distances.argmin(1)


def straight_through(z_e: Tensor, z_q: Tensor) -> Tensor:
    """``z_e + sg[z_q - z_e]``: the value of the codes ``z_q`` (up to
    rounding), with the gradient passed to the encoder outputs ``z_e``
    unchanged (none to the codebook)."""
    return z_e + (z_q - z_e).detach()


def codebook_usage(indices: Tensor, codes: int) -> tuple[float, int]:
    """``(perplexity, used)`` of code assignments ``indices`` (any shape,
    values in ``[0, codes)``): ``exp`` of the entropy (nats) of their
    empirical distribution, from 1 (one code) to ``codes`` (uniform use),
    and the number of distinct codes assigned.

    Raises:
        ValueError: no assignments, or an index outside ``[0, codes)``.
    """
    flat = indices.reshape(-1)
    if flat.numel() == 0:
        raise ValueError("codebook usage needs at least one code assignment")
    if int(flat.min()) < 0 or int(flat.max()) >= codes:
        raise ValueError(
            f"code indices must lie in [0, {codes - 1}], got [{int(flat.min())}, {int(flat.max())}]"
        )
    counts = torch.bincount(flat, minlength=codes).double()
    p = counts[counts > 0] / flat.numel()
    return float(torch.exp(-(p * p.log()).sum())), int((counts > 0).sum())


class VQVAE(GenerativeModel):
    """A VQ-VAE and its autoregressive code prior.

    Args:
        space: the task's data space.
        nets: the modality's network factory (its ``vq_networks`` builds the
            encoder and decoder; its ``autoregressive_network`` the prior).
        codes: codebook size ``K`` (at least 2).
        code_dim: size ``e`` of each code vector.
        width: encoder and decoder width.
        steps, batch_size, lr: the autoencoder's training schedule.
        prior: keyword arguments of the prior's
            :class:`~genbench_families.autoregressive.Autoregressive`
            (``width``, ``layers``, ``steps``, ``batch_size``, ``lr`` and
            optionally ``schedule`` and ``early_stopping``).
        beta: weight of the commitment loss (the paper's 0.25).
        restart_every: steps between dead-code checks (0: never restart;
            the codebook then starts from a seeded N(0, 1/K²) draw instead
            of encoder outputs).
        schedule: keyword arguments of the autoencoder's learning-rate
            :class:`~genbench_families.training.Schedule`.
        early_stopping: keyword arguments of the autoencoder's
            :class:`~genbench_families.training.EarlyStopping` (the held-out
            loss is the training loss, without dead-code restarts; the
            prior takes its own in ``prior``); ``None``: train every step.
        sample_mode: samples are the decoder's mode (True) or a draw from
            it (False).
    """

    capabilities = frozenset({"sample", "log_likelihood", "reconstruct"})

    def __init__(
        self,
        space: DataSpace,
        nets: ModuleType,
        *,
        codes: int,
        code_dim: int,
        width: int,
        steps: int,
        batch_size: int,
        lr: float,
        prior: Mapping[str, Any],
        beta: float = 0.25,
        restart_every: int = 100,
        schedule: Mapping[str, Any] | None = None,
        early_stopping: Mapping[str, Any] | None = None,
        sample_mode: bool = True,
    ) -> None:
        super().__init__(space)
        if codes < 2:
            raise ValueError(f"a codebook needs at least 2 codes, got {codes}")
        if code_dim < 1:
            raise ValueError(f"code_dim must be >= 1, got {code_dim}")
        if beta < 0:
            raise ValueError(f"the commitment weight beta must be >= 0, got {beta}")
        if restart_every < 0:
            raise ValueError(f"restart_every must be >= 0, got {restart_every}")
        self.codes, self.code_dim, self.beta = codes, code_dim, beta
        self.restart_every = restart_every
        self.steps, self.batch_size, self.lr = steps, batch_size, lr
        self.schedule = None if schedule is None else Schedule(**schedule)
        self.early_stopping = None if early_stopping is None else EarlyStopping(**early_stopping)
        self.sample_mode = sample_mode
        self.encoder, self.decoder, self.codes_shape = nets.vq_networks(
            space.shape, code_dim, 2, width
        )
        self.codebook = nn.Parameter(torch.randn(codes, code_dim) / codes)
        self.prior = Autoregressive(DataSpace(self.codes_shape, codes), nets, **prior)

    @property
    def positions(self) -> int:
        """Codes per example (cells of the code grid)."""
        return math.prod(self.codes_shape)

    # -- pieces -------------------------------------------------------------

    def encode(self, x: Tensor) -> Tensor:
        """Encoder outputs ``z_e``, ``B x positions x code_dim``."""
        return self.encoder(x).transpose(1, 2)

    def quantise(self, z_e: Tensor) -> tuple[Tensor, Tensor]:
        """``(indices B x positions, codes B x positions x code_dim)`` of the
        nearest codebook vectors to ``z_e``."""
        indices = nearest_codes(z_e.reshape(-1, self.code_dim), self.codebook)
        indices = indices.view(z_e.shape[:-1])
        return indices, self.codebook[indices]

    def decode(self, z_q: Tensor) -> tuple[Tensor, Tensor]:
        """Location and log-scale of ``p(x | z_q)`` for codes ``B x positions x code_dim``."""
        out = self.decoder(z_q.transpose(1, 2))
        return out[:, 0], out[:, 1].clamp(min=_MIN_LOG_SCALE)

    def log_p_x_given_codes(self, x: Tensor, z_q: Tensor) -> Tensor:
        """``log p(x | z_q)`` per example (nats, model space)."""
        loc, log_scale = self.decode(z_q)
        if self.space.discrete:
            terms = discretised_logistic_log_prob(x, loc, log_scale, self.space.levels)
        else:
            terms = normal_log_prob(x, loc, log_scale)
        return terms.flatten(1).sum(1)

    def prior_log_prob(self, indices: Tensor) -> Tensor:
        """``log p(z)`` per example of code indices ``B x positions`` (nats)."""
        grid = indices.view(len(indices), *self.codes_shape)
        return self.prior.log_prob(self.prior.space.encode(grid))

    # -- training ------------------------------------------------------------

    def loss(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(loss, indices)``: the decoder's negative log-likelihood per
        dimension (batch mean) plus the codebook loss and ``beta`` times the
        commitment loss, and the codes chosen (``B x positions``)."""
        z_e = self.encode(x)
        indices, z_q = self.quantise(z_e)
        codebook_loss = ((z_e.detach() - z_q) ** 2).mean()
        commitment = ((z_e - z_q.detach()) ** 2).mean()
        nll = -self.log_p_x_given_codes(x, straight_through(z_e, z_q)).mean() / self.space.dims
        return nll + codebook_loss + self.beta * commitment, indices

    @torch.no_grad()
    def restart_dead_codes(self, z_e: Tensor, used: Tensor, generator: torch.Generator) -> int:
        """Move every code with ``used == 0`` onto an encoder output of
        ``z_e`` (``B x positions x code_dim``) drawn uniformly with
        replacement from ``generator``; returns how many moved."""
        dead = torch.nonzero(used == 0).squeeze(1)
        if len(dead):
            vectors = z_e.reshape(-1, self.code_dim)
            pick = torch.randint(
                len(vectors), (len(dead),), generator=generator, device=generator.device
            )
            self.codebook[dead] = vectors[pick]
        return len(dead)

    def fit(self, data: Tensor, generator: torch.Generator) -> list[float]:
        """Train the autoencoder (with dead-code restarts), then the prior on
        the training examples' codes; returns both runs' losses per step."""
        steps = itertools.count()
        used = torch.zeros(self.codes, dtype=torch.long, device=data.device)

        def objective(batch: Tensor) -> Tensor:
            if not torch.is_grad_enabled():
                return self.loss(batch)[0]
            step = next(steps)
            if self.restart_every and step % self.restart_every == 0:
                self.restart_dead_codes(self.encode(batch).detach(), used, generator)
                used.zero_()
            loss, indices = self.loss(batch)
            used.add_(torch.bincount(indices.reshape(-1), minlength=self.codes))
            return loss

        losses = train(
            objective,
            [p for name, p in self.named_parameters() if not name.startswith("prior.")],
            data,
            steps=self.steps,
            batch_size=self.batch_size,
            lr=self.lr,
            generator=generator,
            schedule=self.schedule,
            early_stopping=self.early_stopping,
        )
        self.sort_codebook()
        grids = self.code_indices(data).view(len(data), *self.codes_shape)
        return losses + self.prior.fit(self.prior.space.encode(grids), generator)

    @torch.no_grad()
    def sort_codebook(self) -> None:
        """Relabel the codes in the order of their projections on the
        codebook's leading principal direction. The autoencoder is
        unchanged (quantisation picks the same vectors); the prior, which
        reads each code index as one scalar level, then sees codes that
        lie close along that direction as neighbouring levels."""
        centred = self.codebook - self.codebook.mean(0)
        direction = torch.linalg.svd(centred.double(), full_matrices=False).Vh[0]
        order = torch.argsort(centred.double() @ direction, stable=True)
        self.codebook.copy_(self.codebook[order])

    @torch.no_grad()
    def code_indices(self, x: Tensor) -> Tensor:
        """Code indices ``B x positions`` of model-space ``x``."""
        return in_chunks(lambda b: self.quantise(self.encode(b))[0], x, size=_CHUNK)

    # -- hooks ----------------------------------------------------------------

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """Decode ``n`` prior draws to the decoder's mode or a draw from it."""
        grids = self.prior.sample(n, generator)
        indices = torch.round((grids + 1) * (self.codes - 1) / 2).long().view(n, -1)
        loc, log_scale = self.decode(self.codebook[indices])
        if self.space.discrete:
            if self.sample_mode:
                return discretised_logistic_mode(loc, self.space.levels)
            return discretised_logistic_sample(loc, log_scale, self.space.levels, generator)
        if self.sample_mode:
            return loc
        noise = torch.randn(loc.shape, generator=generator, device=generator.device)
        return loc + log_scale.exp() * noise

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        def one(batch: Tensor) -> Tensor:
            loc, _ = self.decode(self.quantise(self.encode(batch))[1])
            if self.space.discrete:
                return discretised_logistic_mode(loc, self.space.levels)
            return loc

        return in_chunks(one, x, size=_CHUNK)

    @torch.no_grad()
    def log_likelihood(self, x: Tensor, generator: torch.Generator) -> ModelLikelihood:
        """The bound ``log p(z_q) + log p(x | z_q)`` per example (nats); see
        the module docstring. Deterministic: ``generator`` is unused."""
        parts = in_chunks(self._bound_terms, x, size=_CHUNK)
        prior, decoder = parts[:, 0], parts[:, 1]
        return ModelLikelihood(
            nats=prior + decoder,
            exact=False,
            method="vq-point-mass-bound",
            details={
                "bound": (
                    "log p(z_q) + log p(x | z_q) for the encoder's quantised code z_q: "
                    "one term of p(x) = sum_z p(z) p(x | z), the ELBO of a point-mass "
                    "posterior"
                ),
                "prior_nats_mean": float(prior.mean()),
                "decoder_nats_mean": float(decoder.mean()),
            },
        )

    def _bound_terms(self, x: Tensor) -> Tensor:
        """``B x 2``: ``log p(z_q)`` and ``log p(x | z_q)`` per example."""
        indices, z_q = self.quantise(self.encode(x))
        return torch.stack([self.prior_log_prob(indices), self.log_p_x_given_codes(x, z_q)], 1)

    def nfe(self) -> int:
        """The prior's sequential steps (one per code) and one decoder pass."""
        return self.prior.nfe() + 1

    def diagnostics(self, probe: Tensor) -> dict[str, float]:
        """The code grid's size and compression: ``code_positions`` (codes
        per example), ``codebook_size``, ``code_bits`` (``positions ·
        log2 K``), ``dims_per_code`` (input dimensions per code) and, for
        discrete data, ``compression_bits`` (the input's ``dims · log2
        levels`` bits over ``code_bits``); and ``samples_from_decoder_mode``."""
        code_bits = self.positions * math.log2(self.codes)
        info = {
            "code_positions": float(self.positions),
            "codebook_size": float(self.codes),
            "code_bits": code_bits,
            "dims_per_code": self.space.dims / self.positions,
            "samples_from_decoder_mode": float(self.sample_mode),
        }
        if self.space.discrete:
            info["compression_bits"] = self.space.dims * math.log2(self.space.levels) / code_bits
        return info

    def held_out_diagnostics(self, test: Tensor) -> dict[str, float]:
        """Codebook usage on the model-space test examples ``test``:
        ``codebook_perplexity`` and ``codebook_used`` (see
        :func:`codebook_usage`)."""
        perplexity, used = codebook_usage(self.code_indices(test), self.codes)
        return {"codebook_perplexity": perplexity, "codebook_used": float(used)}
