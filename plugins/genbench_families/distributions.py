"""Log-probabilities shared by the families, all in nats.

Discrete data lives in model space as bin centres on ``[-1, 1]``: level
``k`` of ``L`` sits at ``2k/(L-1) - 1`` and owns the interval of half-width
``1/(L-1)`` around it; the two edge bins extend to infinity, so the masses of
all ``L`` bins sum to one for any location and scale.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

_EDGE = 1e4
"""Standardised bound used for the open edge bins (mass beyond it is 0 in float)."""

_LOG_2PI = math.log(2 * math.pi)


def log1mexp(d: Tensor) -> Tensor:
    """``log(1 - exp(d))`` for ``d <= 0``, accurate near 0 and for large ``-d``."""
    return torch.where(d > -math.log(2), torch.log(-torch.expm1(d)), torch.log1p(-torch.exp(d)))


def log_sigmoid(z: Tensor) -> Tensor:
    """Log of the standard logistic CDF."""
    return -F.softplus(-z)


def log_logistic_pdf(z: Tensor) -> Tensor:
    """Log density of the standard logistic distribution."""
    return -z - 2 * F.softplus(-z)


def log_normal_pdf(z: Tensor) -> Tensor:
    """Log density of the standard normal distribution."""
    return -0.5 * (z * z + _LOG_2PI)


def _log_interval_mass(
    lower: Tensor, upper: Tensor, log_cdf: Callable[[Tensor], Tensor], log_pdf: Callable
) -> Tensor:
    """``log(F(upper) - F(lower))`` for a symmetric standard distribution.

    Evaluated on the side of the mode where the CDF values are small (using
    ``1 - F(z) = F(-z)``), so far-tail bins keep their precision; a bin
    narrower than 1e-4 standard units uses density times width.
    """
    mirror = (lower + upper) > 0
    lo = torch.where(mirror, -upper, lower)
    hi = torch.where(mirror, -lower, upper)
    log_hi = log_cdf(hi)
    gap = (log_cdf(lo) - log_hi).clamp(max=-1e-12)
    exact = log_hi + log1mexp(gap)
    width = hi - lo
    narrow = width < 1e-4
    approx = log_pdf(0.5 * (lo + hi)) + torch.log(width.clamp(min=1e-30))
    return torch.where(narrow, approx, exact)


def _standardised_bin(x: Tensor, mean: Tensor, scale: Tensor, levels: int) -> tuple[Tensor, Tensor]:
    half = 1.0 / (levels - 1)
    lower = (x - half - mean) / scale
    upper = (x + half - mean) / scale
    lower = torch.where(x <= -1 + half / 2, torch.full_like(lower, -_EDGE), lower)
    upper = torch.where(x >= 1 - half / 2, torch.full_like(upper, _EDGE), upper)
    return lower, upper


def discretised_logistic_log_prob(
    x: Tensor, mean: Tensor, log_scale: Tensor, levels: int
) -> Tensor:
    """Elementwise log-mass of bin centres ``x`` (on ``[-1, 1]``) under a
    logistic with ``mean`` and ``exp(log_scale)`` discretised to ``levels`` bins."""
    lower, upper = _standardised_bin(x, mean, log_scale.exp(), levels)
    return _log_interval_mass(lower, upper, log_sigmoid, log_logistic_pdf)


def discretised_gaussian_log_prob(x: Tensor, mean: Tensor, log_std: Tensor, levels: int) -> Tensor:
    """Elementwise log-mass of bin centres ``x`` under ``N(mean, exp(log_std)^2)``
    discretised to ``levels`` bins (the decoder of Ho et al., 2020)."""
    lower, upper = _standardised_bin(x, mean, log_std.exp(), levels)
    return _log_interval_mass(lower, upper, torch.special.log_ndtr, log_normal_pdf)


def discretised_logistic_mode(mean: Tensor, levels: int) -> Tensor:
    """Most probable bin centre of a discretised logistic: the bin holding
    its mean (the edge bins hold everything beyond ``[-1, 1]``)."""
    return to_bin_centres(mean, levels)


def discretised_logistic_sample(
    mean: Tensor, log_scale: Tensor, levels: int, generator: torch.Generator
) -> Tensor:
    """Draw bin centres from a discretised logistic by inverse-CDF sampling."""
    u = torch.rand(mean.shape, generator=generator, device=mean.device).clamp(1e-6, 1 - 1e-6)
    continuous = mean + log_scale.exp() * (torch.log(u) - torch.log1p(-u))
    return to_bin_centres(continuous, levels)


def to_bin_centres(y: Tensor, levels: int) -> Tensor:
    """Round continuous values to the nearest of ``levels`` centres on ``[-1, 1]``."""
    k = torch.round((y.clamp(-1, 1) + 1) * (levels - 1) / 2)
    return 2 * k / (levels - 1) - 1


def normal_log_prob(x: Tensor, mean: Tensor, log_std: Tensor) -> Tensor:
    """Elementwise log-density of ``N(mean, exp(log_std)^2)`` at ``x``."""
    return log_normal_pdf((x - mean) * torch.exp(-log_std)) - log_std


def normal_kl(mean1: Tensor, log_var1: Tensor, mean2: Tensor, log_var2: Tensor) -> Tensor:
    """Elementwise ``KL(N(mean1, var1) || N(mean2, var2))`` in nats."""
    return 0.5 * (
        log_var2
        - log_var1
        + torch.exp(log_var1 - log_var2)
        + (mean1 - mean2) ** 2 * torch.exp(-log_var2)
        - 1.0
    )


def mixture_log_prob(x: Tensor, logits: Tensor, means: Tensor, log_stds: Tensor) -> Tensor:
    """Log-density of scalars ``x`` (shape ``B``) under 1-D Gaussian mixtures
    with component parameters of shape ``B x K``."""
    component = normal_log_prob(x.unsqueeze(-1), means, log_stds)
    return torch.logsumexp(F.log_softmax(logits, dim=-1) + component, dim=-1)


def mixture_sample(
    logits: Tensor, means: Tensor, log_stds: Tensor, uniform: Tensor, normal: Tensor
) -> Tensor:
    """One draw per row from 1-D Gaussian mixtures (parameters ``B x K``),
    driven by given uniforms (component choice) and standard normals."""
    component = categorical_sample(logits, uniform)
    rows = torch.arange(len(logits), device=logits.device)
    return means[rows, component] + log_stds[rows, component].exp() * normal


def categorical_sample(logits: Tensor, uniform: Tensor) -> Tensor:
    """Inverse-CDF draw of class indices from ``logits`` (classes on the last
    axis) using given uniforms of the batch shape, so draws are fixed per
    example whatever the batching."""
    cdf = torch.cumsum(F.softmax(logits, dim=-1), dim=-1)
    index = torch.searchsorted(cdf, uniform.unsqueeze(-1).contiguous()).squeeze(-1)
    return index.clamp(max=logits.shape[-1] - 1)
