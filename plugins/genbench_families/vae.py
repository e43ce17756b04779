"""Variational autoencoder (Kingma and Welling, 2014), β-VAE and a plain
autoencoder.

* Decoder: a discretised logistic per dimension for discrete data (an exact
  probability of each level), a Gaussian for continuous data.
* Training: the negative ELBO, ``-E_q[log p(x|z)] + β KL(q(z|x) || N(0, I))``,
  with the reparameterisation trick; ``autoencoder=True`` drops the KL and
  the encoder's noise (a deterministic code).
* Likelihood: the IWAE bound (Burda et al., 2016) with ``S`` importance
  samples, ``logsumexp_s[log p(x, z_s) - log q(z_s|x)] - log S``, a lower
  bound on ``log p(x)`` that tightens as ``S`` grows.
* Samples: decode ``z ~ N(0, I)``, then by default take the decoder's mode
  (the most probable level per value for discrete data, the mean for
  continuous data); ``sample_mode=False`` draws from the decoder instead.
  :meth:`diagnostics` states which as ``samples_from_decoder_mode`` (1 or
  0) in the record's ``model_info``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from types import ModuleType
from typing import Any

import torch
from torch import Tensor

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


class VAE(GenerativeModel):
    """A VAE (or, with ``autoencoder=True``, a plain autoencoder).

    Args:
        space: the task's data space.
        nets: the modality's network factory.
        latent_dim: size of the code ``z``.
        width: network width.
        beta: weight of the KL term (1 for a VAE, e.g. 4 for a β-VAE).
        autoencoder: deterministic encoder and no KL term; then
            :meth:`log_likelihood` is unavailable and samples decode random
            ``N(0, I)`` codes the model never trained on.
        steps, batch_size, lr: training schedule.
        importance_samples: ``S`` for the IWAE bound.
        kl_warmup: fraction of the steps over which the KL weight rises
            linearly from 0 to ``beta`` (Bowman et al., 2016); without it a
            small VAE on the toy tasks collapses onto the prior.
        blocks: residual blocks per resolution in the encoder and decoder
            (image networks only; 0 keeps the shallow networks).
        initial_log_scale: where the decoder's log-scale starts (image
            networks only; ``None`` leaves the networks' initialisation).
        schedule: keyword arguments of
            :class:`~genbench_families.training.Schedule` (learning-rate
            warm-up and decay); ``None`` keeps the rate constant.
        fitted_codes: autoencoder only (the VAE rows ignore it, their
            codes follow the prior they trained against): samples decode
            codes drawn from a full-covariance Gaussian fitted to the
            training examples' codes after training, instead of
            ``N(0, I)`` codes the autoencoder never saw.
        sample_mode: samples are the decoder's mode (True) or a draw from
            it (False); see the module docstring.
        early_stopping: keyword arguments of
            :class:`~genbench_families.training.EarlyStopping`; the held-out
            loss is the negative ELBO with the full KL weight.
    """

    def __init__(
        self,
        space: DataSpace,
        nets: ModuleType,
        *,
        latent_dim: int,
        width: int,
        steps: int,
        batch_size: int,
        lr: float,
        importance_samples: int,
        kl_warmup: float = 0.0,
        beta: float = 1.0,
        autoencoder: bool = False,
        blocks: int = 0,
        initial_log_scale: float | None = None,
        schedule: Mapping[str, Any] | None = None,
        fitted_codes: bool = False,
        sample_mode: bool = True,
        early_stopping: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(space)
        if beta <= 0:
            raise ValueError(f"beta must be positive, got {beta}")
        if importance_samples < 1:
            raise ValueError(f"importance_samples must be >= 1, got {importance_samples}")
        if not 0.0 <= kl_warmup <= 1.0:
            raise ValueError(f"kl_warmup must lie in [0, 1], got {kl_warmup}")
        self.kl_warmup = kl_warmup
        self.sample_mode = sample_mode
        self.schedule = None if schedule is None else Schedule(**schedule)
        self.early_stopping = None if early_stopping is None else EarlyStopping(**early_stopping)
        self.latent_dim = latent_dim
        self.beta = beta
        self.autoencoder = autoencoder
        self.fitted_codes = fitted_codes and autoencoder
        if self.fitted_codes:
            # mean and lower Cholesky factor of the training codes' Gaussian
            self.register_buffer("code_mean", torch.zeros(latent_dim))
            self.register_buffer("code_scale", torch.eye(latent_dim))
        self.steps, self.batch_size, self.lr = steps, batch_size, lr
        self.importance_samples = importance_samples
        self.capabilities = (
            frozenset({"sample", "reconstruct"})
            if autoencoder
            else frozenset({"sample", "reconstruct", "log_likelihood"})
        )
        extra: dict[str, Any] = {"blocks": blocks} if blocks else {}  # image networks only
        if initial_log_scale is not None:
            extra["initial_log_scale"] = initial_log_scale
        self.encoder, self.decoder = nets.vae_networks(space.shape, latent_dim, 2, width, **extra)

    # -- pieces -------------------------------------------------------------

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and log-variance of ``q(z|x)``, each ``B x latent_dim``."""
        mean, log_var = self.encoder(x).chunk(2, dim=-1)
        return mean, log_var.clamp(-12.0, 8.0)

    def decode(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """Location and log-scale of ``p(x|z)``, each ``B x *shape``."""
        out = self.decoder(z)
        return out[:, 0], out[:, 1].clamp(min=_MIN_LOG_SCALE)

    def log_p_x_given_z(self, x: Tensor, z: Tensor) -> Tensor:
        """``log p(x|z)`` per example (nats, model space)."""
        loc, log_scale = self.decode(z)
        if self.space.discrete:
            terms = discretised_logistic_log_prob(x, loc, log_scale, self.space.levels)
        else:
            terms = normal_log_prob(x, loc, log_scale)
        return terms.flatten(1).sum(1)

    # -- training ------------------------------------------------------------

    def loss(self, x: Tensor, generator: torch.Generator, kl_weight: float = 1.0) -> Tensor:
        """Negative ELBO per dimension, averaged over the batch, with the KL
        term weighted by ``kl_weight · beta``; for the autoencoder the
        reconstruction negative log-likelihood."""
        mean, log_var = self.encode(x)
        if self.autoencoder:
            return -self.log_p_x_given_z(x, mean).mean() / self.space.dims
        noise = torch.randn(mean.shape, generator=generator, device=generator.device)
        z = mean + torch.exp(0.5 * log_var) * noise
        kl = 0.5 * (mean**2 + log_var.exp() - 1.0 - log_var).sum(1)
        nll = -self.log_p_x_given_z(x, z)
        return (nll + kl_weight * self.beta * kl).mean() / self.space.dims

    def kl_weight(self, step: int) -> float:
        """Warm-up factor of the KL term at training step ``step``."""
        ramp = self.kl_warmup * self.steps
        return min(1.0, step / ramp) if ramp > 0 else 1.0

    def fit(self, data: Tensor, generator: torch.Generator) -> list[float]:
        """Minimise :meth:`loss` with the KL warm-up; returns the loss per
        step. Training steps run with gradients, held-out checks without,
        and only training steps advance the warm-up."""
        steps = itertools.count()

        def objective(batch: Tensor) -> Tensor:
            weight = self.kl_weight(next(steps)) if torch.is_grad_enabled() else 1.0
            return self.loss(batch, generator, weight)

        losses = train(
            objective,
            self.parameters(),
            data,
            steps=self.steps,
            batch_size=self.batch_size,
            lr=self.lr,
            generator=generator,
            schedule=self.schedule,
            early_stopping=self.early_stopping,
        )
        if self.fitted_codes:
            self.fit_code_distribution(data)
        return losses

    @torch.no_grad()
    def fit_code_distribution(self, data: Tensor) -> None:
        """Set ``code_mean`` and ``code_scale`` (lower Cholesky factor of the
        covariance, ridged by 1e-6) from the codes of model-space ``data``
        (at least two examples)."""
        if len(data) < 2:
            raise ValueError(f"fitting a code distribution needs >= 2 examples, got {len(data)}")
        codes = in_chunks(lambda x: self.encode(x)[0], data, size=1024).double()
        mean = codes.mean(0)
        centred = codes - mean
        covariance = centred.T @ centred / (len(codes) - 1)
        ridge = 1e-6 * torch.eye(self.latent_dim, dtype=codes.dtype, device=codes.device)
        self.code_mean.copy_(mean)
        self.code_scale.copy_(torch.linalg.cholesky(covariance + ridge))

    # -- hooks ----------------------------------------------------------------

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """Decode ``n`` prior codes to the decoder's mode or a draw from it."""
        z = torch.randn(n, self.latent_dim, generator=generator, device=generator.device)
        if self.fitted_codes:
            z = self.code_mean + z @ self.code_scale.T
        loc, log_scale = self.decode(z)
        if self.space.discrete:
            if self.sample_mode:
                return discretised_logistic_mode(loc, self.space.levels)
            return discretised_logistic_sample(loc, log_scale, self.space.levels, generator)
        if self.sample_mode:
            return loc
        noise = torch.randn(loc.shape, generator=generator, device=generator.device)
        return loc + log_scale.exp() * noise

    def diagnostics(self, probe: Tensor) -> dict[str, float]:
        """``samples_from_decoder_mode``: 1 when samples are the decoder's
        mode, 0 when they are draws from it."""
        return {"samples_from_decoder_mode": float(self.sample_mode)}

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        loc, _ = self.decode(self.encode(x)[0])
        if self.space.discrete:
            return discretised_logistic_mode(loc, self.space.levels)
        return loc

    @torch.no_grad()
    def log_likelihood(self, x: Tensor, generator: torch.Generator) -> ModelLikelihood:
        if self.autoencoder:
            raise NotImplementedError("a plain autoencoder defines no likelihood")
        s = self.importance_samples
        noise = torch.randn(
            len(x), s, self.latent_dim, generator=generator, device=generator.device
        )
        weights = in_chunks(self.log_importance_weights, x, noise, size=max(1, 4096 // s))
        iwae = torch.logsumexp(weights, dim=1) - math.log(s)
        return ModelLikelihood(
            nats=iwae,
            exact=False,
            method="iwae",
            details={
                "importance_samples": s,
                "elbo_nats_mean": float(weights.mean()),
                "iwae_nats_mean": float(iwae.mean()),
            },
        )

    def log_importance_weights(self, x: Tensor, noise: Tensor) -> Tensor:
        """``log p(x, z_s) - log q(z_s|x)`` for ``z_s = mean + std * noise[:, s]``
        (``B x S``); their mean over ``s`` is an unbiased ELBO estimate."""
        b, s, _ = noise.shape
        mean, log_var = self.encode(x)
        log_std = 0.5 * log_var
        z = mean[:, None] + log_std.exp()[:, None] * noise
        log_q = normal_log_prob(z, mean[:, None], log_std[:, None]).sum(-1)
        zero = torch.zeros((), device=z.device)
        log_prior = normal_log_prob(z, zero, zero).sum(-1)
        repeated = x.repeat_interleave(s, dim=0)
        log_lik = self.log_p_x_given_z(repeated, z.reshape(b * s, -1)).view(b, s)
        return log_lik + log_prior - log_q
