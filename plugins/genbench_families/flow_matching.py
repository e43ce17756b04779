"""Flow matching (Lipman et al., 2023) on the linear (rectified-flow) path.

Convention: time runs from noise to data. With ``x_0 ~ N(0, I)`` and
``x_1`` a training example, ``x_t = (1 - t) x_0 + t x_1`` for ``t`` in
``[0, 1]``; its conditional velocity is ``u_t = x_1 - x_0`` (constant along
the path). A velocity network ``v(x, t)`` (the diffusion family's networks,
given ``t`` where they take the diffusion time) is trained on
``E ||v(x_t, t) - (x_1 - x_0)||²`` with ``t ~ U[0, 1]``; its minimiser is the
marginal velocity whose ODE ``dx/dt = v(x, t)`` carries ``N(0, I)`` at
``t = 0`` to the data distribution at ``t = 1``. Evaluation uses an
exponential moving average of the weights. Discrete data (images, mu-law
audio) is trained on uniformly dequantised values: each example is
spread uniformly over its level's bin of width ``2/(L - 1)`` in model
space, so the model has a density that can be scored against bins.

Sampling integrates the ODE from ``t = 0`` to ``1`` on ``ode_steps`` steps
of :func:`time_grid` (equal steps, or steps shrinking towards the data)
with Euler (one evaluation a step) or Heun's second-order method (two:
the explicit trapezoidal rule); :meth:`FlowMatching.nfe` is the count.

Likelihood, by the instantaneous change of variables (Chen et al., 2018):
``d log p_t(x_t)/dt = -tr(∂v/∂x)``, so

    log p_1(x) = log N(x_0; 0, I) - ∫_0^1 tr(∂v/∂x)(x_t, t) dt,

with ``x_t`` the ODE solution through ``x`` at ``t = 1``, integrated back to
``t = 0`` by ``likelihood_solver`` on ``likelihood_steps`` equal steps together
with the trace integral. The trace is exact (``D`` autograd passes per
evaluation, for small ``D``: toy data) or Hutchinson's estimate
``E[εᵀ(∂v/∂x)ε]`` with Rademacher probes ``ε`` (one vector-Jacobian product
each), one probe held fixed along each trajectory (Grathwohl et al., 2019)
and ``probes`` independent trajectories' integrals averaged; ``details``
reports their standard error. Discrete data is scored by the uniform
dequantisation bound ``log P(k) >= E_u[log p(k + u)] + D log(2/(L - 1))``
(one draw of ``u`` per example), so it is a bound, and stochastic
(``exact=False``), as far as the ODE is solved accurately: a coarse solve
under-states the divergence integral and over-claims (on MNIST 2 Heun
steps gave 0.29 bits/dim against 3.15 converged; docs/families.md). On
continuous data with the exact trace the density is exact up to the ODE
solver's discretisation error.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import Any

import torch
from torch import Tensor

from genbench_families.base import GenerativeModel, ModelLikelihood, in_chunks
from genbench_families.conditioning import (
    Guide,
    checked_conditioning,
    checked_labels,
    drop_labels,
    evaluations_per_step,
    uniform_labels,
)
from genbench_families.distributions import normal_log_prob
from genbench_families.space import DataSpace
from genbench_families.training import EarlyStopping, Schedule, fit_with_ema

SOLVERS = ("euler", "heun")
TRACES = ("exact", "hutchinson")
EVALUATIONS_PER_STEP = {"euler": 1, "heun": 2}

Field = Callable[[Tensor, float], tuple[Tensor, Tensor]]
"""``(x, t) → (v(x, t), per-example trace term)`` for the augmented ODE."""


def checked_solver(solver: str, steps: int, what: str) -> str:
    """``solver`` if it is a known solver and ``steps >= 1``, else a ValueError."""
    if solver not in SOLVERS:
        raise ValueError(f"unknown {what} solver {solver!r}; choose one of {list(SOLVERS)}")
    if steps < 1:
        raise ValueError(f"{what} steps must be >= 1, got {steps}")
    return solver


def time_grid(steps: int, power: float) -> list[float]:
    """``steps + 1`` times from 0 (noise) to 1 (data),
    ``t_i = 1 - (1 - i/steps)^power``: equal steps for ``power = 1``,
    steps shrinking towards the data end for ``power > 1`` (where the
    velocity of a sharply concentrated distribution changes fastest)."""
    if power < 1:
        raise ValueError(f"time_power must be >= 1, got {power}")
    return [1.0 - (1.0 - i / steps) ** power for i in range(steps + 1)]


def solve(field: Field, x: Tensor, solver: str, times: Sequence[float]) -> tuple[Tensor, Tensor]:
    """Integrate ``dx/dt = v(x, t)`` and ``dI/dt = trace(x, t)`` along
    ``times`` (increasing or decreasing) with ``solver`` (``"euler"``:
    ``x + h v``; ``"heun"``: ``x + h (k_1 + k_2) / 2`` with ``k_2`` at the
    Euler predictor). Returns ``x(times[-1])`` and ``I(times[-1]) -
    I(times[0])`` (of the trace term's shape, e.g. ``B`` or ``B x K``),
    integrated by the same rule as ``x``."""
    integral = torch.zeros((), dtype=torch.float64, device=x.device)  # broadcasts to the terms
    for t, t_next in itertools.pairwise(times):
        h = t_next - t
        v1, d1 = field(x, t)
        if solver == "euler":
            x, integral = x + h * v1, integral + h * d1.double()
            continue
        v2, d2 = field(x + h * v1, t_next)
        x = x + 0.5 * h * (v1 + v2)
        integral = integral + 0.5 * h * (d1.double() + d2.double())
    return x, integral


class FlowMatching(GenerativeModel):
    """A velocity network trained by conditional flow matching on linear paths.

    Args:
        space: the task's data space.
        nets: the modality's network factory (its ``denoiser`` is the
            velocity network, ``(x, t) → B x *shape``).
        width, steps, batch_size, lr, ema: network width and training
            (``ema``: decay of the weights' moving average used for evaluation).
        solver, ode_steps: the sampling ODE solver (``"euler"`` or
            ``"heun"``) and its number of steps.
        time_power: the sampling steps' spacing in time (:func:`time_grid`;
            1: equal steps). The likelihood's steps are always equal: on
            MNIST they converged faster (docs/families.md).
        likelihood_solver, likelihood_steps: the same for the likelihood's
            backward ODE (on equal steps).
        trace: ``"exact"`` (``D`` autograd passes per evaluation) or
            ``"hutchinson"`` (``probes`` Rademacher probes).
        probes: Hutchinson probes per example (at least 2, for a standard
            error); ignored by the exact trace.
        likelihood: whether the row reports ``log_likelihood`` (a row
            sharing another's network and likelihood settings leaves it out).
        likelihood_chunk: examples per likelihood pass (bounds memory; the
            result does not depend on it).
        schedule, early_stopping: keyword arguments of a
            :class:`~genbench_families.training.Schedule` and an
            :class:`~genbench_families.training.EarlyStopping` (none when ``None``).
        num_classes, label_dropout, guidance: class conditioning with
            classifier-free guidance (:mod:`genbench_families.conditioning`):
            the number of classes (``None``: unconditional), the probability
            that training replaces a label by the null class, and the
            guidance scale of a plain :meth:`sample` call. A conditional
            model samples and nothing else (no likelihood).
    """

    def __init__(
        self,
        space: DataSpace,
        nets: ModuleType,
        *,
        width: int,
        steps: int,
        batch_size: int,
        lr: float,
        ema: float = 0.999,
        solver: str = "heun",
        ode_steps: int = 10,
        time_power: float = 1.0,
        likelihood_solver: str = "heun",
        likelihood_steps: int = 10,
        trace: str = "exact",
        probes: int = 4,
        likelihood: bool = True,
        likelihood_chunk: int = 500,
        schedule: Mapping[str, Any] | None = None,
        early_stopping: Mapping[str, Any] | None = None,
        num_classes: int | None = None,
        label_dropout: float = 0.0,
        guidance: float = 1.0,
    ) -> None:
        super().__init__(space)
        self.num_classes, self.label_dropout, self.guidance = checked_conditioning(
            num_classes, label_dropout, guidance
        )
        self.solver = checked_solver(solver, ode_steps, "sampling")
        self.likelihood_solver = checked_solver(likelihood_solver, likelihood_steps, "likelihood")
        if trace not in TRACES:
            raise ValueError(f"unknown trace estimator {trace!r}; choose one of {list(TRACES)}")
        if trace == "hutchinson" and probes < 2:
            raise ValueError(f"the Hutchinson trace needs probes >= 2, got {probes}")
        if likelihood_chunk < 1:
            raise ValueError(f"likelihood_chunk must be >= 1, got {likelihood_chunk}")
        self.ode_steps, self.likelihood_steps = ode_steps, likelihood_steps
        time_grid(1, time_power)  # refuses a power below 1
        self.time_power = float(time_power)
        self.trace, self.probes, self.likelihood_chunk = trace, probes, likelihood_chunk
        self.capabilities = frozenset({"sample", "log_likelihood"} if likelihood else {"sample"})
        if self.num_classes is not None:
            self.capabilities = frozenset({"sample", "conditional_sample"})
        self.steps, self.batch_size, self.lr, self.ema_decay = steps, batch_size, lr, ema
        self.lr_schedule = Schedule(**schedule) if schedule is not None else None
        self.early_stopping = EarlyStopping(**early_stopping) if early_stopping else None
        if self.num_classes is None:
            self.net = nets.denoiser(space.shape, width)
        else:
            self.net = nets.denoiser(space.shape, width, num_classes=self.num_classes)

    # -- the path -------------------------------------------------------------

    def velocity(self, x: Tensor, t: Tensor | float, guide: Guide | None = None) -> Tensor:
        """The network's velocity ``v(x, t)`` at time(s) ``t`` (scalar or
        ``B``); a conditional model's is ``guide``'s guided prediction."""
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        t = t.expand(len(x)) if t.dim() == 0 else t
        return self.net(x, t) if guide is None else guide.predict(self.net, x, t)

    def bin_width(self) -> float:
        """Width of one level's bin in model space, ``2/(L - 1)``; 0 for continuous data."""
        return 2.0 / (self.space.levels - 1) if self.space.discrete else 0.0

    def dequantise(self, x: Tensor, generator: torch.Generator) -> Tensor:
        """``x`` spread uniformly over its level's bin (unchanged when continuous)."""
        if not self.space.discrete:
            return x
        u = torch.rand(x.shape, generator=generator, device=x.device)
        return x + (u - 0.5) * self.bin_width()

    @staticmethod
    def path(x0: Tensor, x1: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """``x_t = (1 - t) x_0 + t x_1`` and its conditional velocity
        ``x_1 - x_0``, ``t`` of shape ``B``."""
        tt = t.view(-1, *([1] * (x0.dim() - 1)))
        return (1 - tt) * x0 + tt * x1, x1 - x0

    # -- training -------------------------------------------------------------

    def loss(self, x1: Tensor, generator: torch.Generator, labels: Tensor | None = None) -> Tensor:
        """Mean squared error between ``v(x_t, t)`` and ``x_1 - x_0`` with
        ``t ~ U[0, 1]``, ``x_0 ~ N(0, I)`` and ``x_1`` the (dequantised) batch.
        A conditional model is given the batch's ``labels``, each replaced by
        the null class with probability ``label_dropout`` (drawn after the
        dequantisation, ``t`` and ``x_0``)."""
        x1 = self.dequantise(x1, generator)
        t = torch.rand(len(x1), generator=generator, device=x1.device)
        x0 = torch.randn(x1.shape, generator=generator, device=x1.device)
        xt, target = self.path(x0, x1, t)
        if labels is None:
            return ((self.velocity(xt, t) - target) ** 2).mean()
        dropped = drop_labels(labels, self.label_dropout, self.num_classes, generator)
        return ((self.net(xt, t, dropped) - target) ** 2).mean()

    def fit(
        self, data: Tensor, generator: torch.Generator, labels: Tensor | None = None
    ) -> list[float]:
        """Train on ``data`` (with its ``labels`` ``N``, int64 in
        ``[0, num_classes)``, exactly when the model is conditional):
        :func:`~genbench_families.training.fit_with_ema`."""
        return fit_with_ema(self, data, generator, labels, "flow-matching")

    # -- sampling -------------------------------------------------------------

    def nfe(self, guidance: float | None = None) -> int:
        """Network evaluations per sample: ``ode_steps`` (Euler) or twice that
        (Heun), times 2 for a conditional model at a ``guidance`` (default:
        the row's) other than 0 or 1
        (:func:`~genbench_families.conditioning.evaluations_per_step`)."""
        evaluations = self.ode_steps * EVALUATIONS_PER_STEP[self.solver]
        if self.num_classes is None:
            return evaluations
        return evaluations * evaluations_per_step(self.guidance if guidance is None else guidance)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """``n`` samples; a conditional model draws their labels uniformly
        from ``generator`` (before the noise) and uses the row's guidance."""
        if self.num_classes is not None:
            labels = uniform_labels(n, self.num_classes, generator)
            return self.sample_conditional(labels, self.guidance, generator)
        x = torch.randn(n, *self.space.shape, generator=generator, device=generator.device)
        return self.integrate(x, self.solver, self.ode_steps)

    @torch.no_grad()
    def sample_conditional(
        self, labels: Tensor, guidance: float, generator: torch.Generator
    ) -> Tensor:
        """One sample per label (``N`` int64 in ``[0, num_classes)``, on the
        model's device) at guidance scale ``guidance``, by the row's solver."""
        if self.num_classes is None:
            raise ValueError("this flow-matching model is not class-conditional")
        labels = checked_labels(labels, len(labels), self.num_classes)
        shape = (len(labels), *self.space.shape)
        x = torch.randn(shape, generator=generator, device=generator.device)
        guide = Guide(labels, self.num_classes, float(guidance))
        return self.integrate(x, self.solver, self.ode_steps, guide)

    @torch.no_grad()
    def integrate(self, x: Tensor, solver: str, steps: int, guide: Guide | None = None) -> Tensor:
        """The ODE's solution from noise ``x`` at ``t = 0`` to ``t = 1`` on
        :func:`time_grid` ``(steps, time_power)``, along the guided velocity
        for a conditional model."""
        checked_solver(solver, steps, "ODE")
        no_trace = torch.zeros((), device=x.device)
        times = time_grid(steps, self.time_power)
        return solve(lambda y, t: (self.velocity(y, t, guide), no_trace), x, solver, times)[0]

    # -- likelihood -----------------------------------------------------------

    def exact_divergence(self, x: Tensor, t: float) -> tuple[Tensor, Tensor]:
        """``v(x, t)`` and ``tr(∂v/∂x)`` per example, by ``D`` autograd passes."""
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            v = self.velocity(x, t)
            flat_v, trace = v.flatten(1), torch.zeros(len(x), device=x.device)
            for d in range(flat_v.shape[1]):
                (grad,) = torch.autograd.grad(flat_v[:, d].sum(), x, retain_graph=True)
                trace = trace + grad.flatten(1)[:, d]
        return v.detach(), trace

    def hutchinson_divergence(self, x: Tensor, t: float, probes: Tensor) -> tuple[Tensor, Tensor]:
        """``v(x, t)`` and ``εₖᵀ(∂v/∂x)εₖ`` for each probe ``εₖ``
        (``probes``: ``K x B x *shape``), as ``B x K``: one forward pass and
        ``K`` vector-Jacobian products."""
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            v = self.velocity(x, t)
            estimates = []
            for k, eps in enumerate(probes):
                (vjp,) = torch.autograd.grad(v, x, eps, retain_graph=k + 1 < len(probes))
                estimates.append((vjp * eps).flatten(1).sum(1))
        return v.detach(), torch.stack(estimates, 1)

    def _log_density(self, y: Tensor, probes: Tensor) -> tuple[Tensor, Tensor]:
        """``log p_1(y)`` per example (nats, model space) and the standard
        error of its trace estimate (zeros for the exact trace)."""
        if self.trace == "exact":
            field: Field = self.exact_divergence
        else:

            def field(x: Tensor, t: float) -> tuple[Tensor, Tensor]:
                return self.hutchinson_divergence(x, t, probes.transpose(0, 1))

        times = time_grid(self.likelihood_steps, 1.0)[::-1]  # equal steps
        x0, integral = solve(field, y, self.likelihood_solver, times)
        # integrating from 1 down to 0 accumulated -∫_0^1 tr dt
        zero = x0.new_zeros(())
        prior = normal_log_prob(x0, zero, zero).flatten(1).sum(1).double()
        if integral.dim() == 1:
            return prior + integral, torch.zeros_like(integral)
        k = integral.shape[1]
        error = integral.std(1) / math.sqrt(k)
        return prior + integral.mean(1), error

    @torch.no_grad()
    def log_likelihood(self, x: Tensor, generator: torch.Generator) -> ModelLikelihood:
        if "log_likelihood" not in self.capabilities:
            raise NotImplementedError("this row shares its network and leaves out the likelihood")
        y = self.dequantise(x, generator)
        if self.trace == "hutchinson":
            k = self.probes
            shape = (len(x), k, *x.shape[1:])
            signs = torch.randint(0, 2, shape, generator=generator, device=x.device)
            probes = signs.float() * 2 - 1
        else:
            k, probes = 1, torch.zeros(len(x), 1, device=x.device)  # unused by the exact trace
        density, error = in_chunks(
            lambda a, b: torch.stack(self._log_density(a, b), 1),
            y,
            probes,
            size=self.likelihood_chunk,
        ).unbind(1)
        dims = math.prod(self.space.shape)
        to_bits = 1.0 / (math.log(2) * dims)
        details: dict[str, Any] = {
            "path": "linear, x_t = (1 - t) noise + t data",
            "likelihood_solver": self.likelihood_solver,
            "likelihood_steps": self.likelihood_steps,
            "likelihood_nfe": self.likelihood_steps * EVALUATIONS_PER_STEP[self.likelihood_solver],
            "trace": self.trace,
        }
        if self.trace == "hutchinson":
            details.update(
                probes=k,
                probe_distribution="rademacher",
                trace_std_error_nats_mean=float(error.mean()),
                trace_std_error_bits_per_dim_mean=float(error.mean()) * to_bits,
                mean_std_error_bits_per_dim=float(error.pow(2).sum().sqrt()) / len(x) * to_bits,
            )
        if self.space.discrete:
            details.update(dequantisation="uniform", noise_draws=1)
            nats = density + dims * math.log(self.bin_width())
            method = f"dequantised-cnf-{self.trace}-trace"
            return ModelLikelihood(nats=nats, exact=False, method=method, details=details)
        exact = self.trace == "exact"
        return ModelLikelihood(
            nats=density, exact=exact, method=f"cnf-{self.trace}-trace", details=details
        )
