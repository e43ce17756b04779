"""Full-covariance Gaussian baselines.

:class:`Gaussian` is the continuous model for real-valued data (toy tasks),
with the exact log-density. :class:`DiscretisedGaussian` serves discrete data
(8-bit images): the Gaussian is factorised into its exact conditionals
``x_d | x_<d ~ N(m_d, s_d²)`` (regression coefficients from the inverse of
the unit lower-triangular LDLᵀ factor) and each conditional is discretised
to the data's levels — the mass of bin ``v`` is the normal mass of
``[v − ½, v + ½]``, with the outermost bins taking the tails. The result is a
proper distribution over the discrete space, so its log-likelihood is exact,
not a bound; sampling is ancestral, one dimension at a time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

_SQRT2 = math.sqrt(2.0)


def _covariance(x: torch.Tensor, ridge: float) -> tuple[torch.Tensor, torch.Tensor]:
    flat = x.reshape(len(x), -1).to(torch.float64)
    mean = flat.mean(dim=0)
    centred = flat - mean
    cov = centred.T @ centred / (len(flat) - 1)
    cov += ridge * torch.eye(cov.shape[0], dtype=torch.float64)
    return mean, cov


@dataclass(frozen=True)
class Gaussian:
    """N(mean, cov) on continuous data of shape ``(D,)``."""

    mean: torch.Tensor
    cov: torch.Tensor

    @classmethod
    def fit(cls, x: torch.Tensor, *, ridge: float) -> Gaussian:
        """Maximum-likelihood mean, unbiased covariance plus ``ridge``·I."""
        mean, cov = _covariance(x, ridge)
        return cls(mean, cov)

    @property
    def num_parameters(self) -> int:
        d = self.mean.numel()
        return d + d * (d + 1) // 2

    def _distribution(self) -> torch.distributions.MultivariateNormal:
        return torch.distributions.MultivariateNormal(self.mean, covariance_matrix=self.cov)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        chol = torch.linalg.cholesky(self.cov)
        z = torch.randn((n, self.mean.numel()), generator=generator, dtype=torch.float64)
        return (self.mean + z @ chol.T).to(torch.float32)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log-density in nats per example."""
        return self._distribution().log_prob(torch.as_tensor(x, dtype=torch.float64))


@dataclass(frozen=True)
class DiscretisedGaussian:
    """A full-covariance Gaussian over pixel values, discretised to
    ``levels`` bins per dimension conditional by conditional.

    Attributes:
        mean: ``(D,)`` means in level units (0 … levels−1).
        regression: ``(D, D)`` strictly lower-triangular B with
            ``m = mean + B (x − mean)``.
        scale: ``(D,)`` conditional standard deviations ``s_d``.
        shape: the example shape to restore on sampling.
        levels: number of discrete values per dimension.
    """

    mean: torch.Tensor
    regression: torch.Tensor
    scale: torch.Tensor
    shape: tuple[int, ...]
    levels: int

    @classmethod
    def fit(cls, x: torch.Tensor, *, levels: int, ridge: float) -> DiscretisedGaussian:
        """Fit to uint8 data; ``ridge`` (in squared level units) keeps
        constant pixels (e.g. MNIST's borders) from a zero variance."""
        mean, cov = _covariance(x, ridge)
        chol = torch.linalg.cholesky(cov)
        diag = torch.diagonal(chol)
        unit_lower = chol / diag  # L D^½ = chol  ⇒  L = chol · diag(1/d)
        inverse = torch.linalg.solve_triangular(
            unit_lower, torch.eye(len(mean), dtype=torch.float64), upper=False, unitriangular=True
        )
        regression = torch.eye(len(mean), dtype=torch.float64) - inverse
        return cls(mean, regression, diag, tuple(x.shape[1:]), levels)

    @classmethod
    def fit_validated(
        cls, x: torch.Tensor, *, levels: int, ridges: list[float], validation: float = 0.1
    ) -> DiscretisedGaussian:
        """Choose the ridge that maximises the likelihood of the last
        ``validation`` share of ``x`` when fitted on the rest, then refit on
        all of ``x``. (Without a ridge, pixels that are nearly constant in
        training get tiny conditional variances and a test image that
        differs there costs thousands of nats.)"""
        if not ridges:
            raise ValueError("ridges must name at least one candidate")
        n_val = max(1, int(len(x) * validation))
        fit_part, held_out = x[:-n_val], x[-n_val:]
        scores = [
            cls.fit(fit_part, levels=levels, ridge=r).log_prob(held_out).mean().item()
            for r in ridges
        ]
        best = ridges[max(range(len(ridges)), key=scores.__getitem__)]
        return cls.fit(x, levels=levels, ridge=best)

    @property
    def num_parameters(self) -> int:
        d = self.mean.numel()
        return d + d * (d + 1) // 2

    def _log_bin_mass(self, values: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
        """log P(bin = values | conditional mean ``centre``) per dimension."""
        upper = torch.where(
            values >= self.levels - 1,
            torch.full_like(centre, math.inf),
            (values + 0.5 - centre) / self.scale,
        )
        lower = torch.where(
            values <= 0, torch.full_like(centre, -math.inf), (values - 0.5 - centre) / self.scale
        )
        return _log_normal_interval(lower, upper)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log P(x) in nats per example for integer data in
        ``[0, levels−1]``."""
        values = x.reshape(len(x), -1).to(torch.float64)
        centre = self.mean + (values - self.mean) @ self.regression.T
        return self._log_bin_mass(values, centre).sum(dim=1)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Ancestral sampling: draw each dimension from its discretised
        conditional given the discrete values drawn before it."""
        dims = self.mean.numel()
        values = torch.zeros((n, dims), dtype=torch.float64)
        uniforms = torch.rand((n, dims), generator=generator, dtype=torch.float64)
        grid = torch.arange(self.levels, dtype=torch.float64)
        for d in range(dims):
            centre = self.mean[d] + (values[:, :d] - self.mean[:d]) @ self.regression[d, :d]
            upper = (grid[:-1] + 0.5 - centre[:, None]) / self.scale[d]
            cdf = 0.5 * torch.erfc(-upper / _SQRT2)  # P(bin <= v) for v < levels-1
            values[:, d] = (uniforms[:, d : d + 1] > cdf).sum(dim=1).to(torch.float64)
        return values.reshape(n, *self.shape).to(torch.uint8)


def _log_normal_interval(lower: torch.Tensor, upper: torch.Tensor) -> torch.Tensor:
    """log(Φ(upper) − Φ(lower)) for standard-normal bounds, stable in the
    tails: mirrored to the left tail where both bounds are positive, using
    log-erfc via :func:`torch.special.log_ndtr` differences."""
    flip = lower > 0
    lo = torch.where(flip, -upper, lower)
    hi = torch.where(flip, -lower, upper)
    log_hi = torch.special.log_ndtr(hi)
    log_lo = torch.special.log_ndtr(lo)
    # log(e^a - e^b) = a + log(1 - e^(b - a)), b <= a
    return log_hi + torch.log(-torch.expm1(log_lo - log_hi))
