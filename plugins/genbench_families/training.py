"""The training loop the families share: seeded mini-batches, Adam, clipping,
an optional exponential moving average of the weights, an optional
warm-up/cosine learning-rate schedule and optional early stopping on a
held-out split.

Adam is written out here rather than taken from ``torch.optim``, whose first
use imports ``torch._dynamo`` (5 to 20 seconds of start-up in every worker
process on a small CPU, longer than a smoke-budget fit).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from genbench_families.conditioning import checked_labels, labelled_rows


def minibatches(
    data: Tensor, batch_size: int, steps: int, generator: torch.Generator
) -> Iterator[Tensor]:
    """Yield ``steps`` batches drawn epoch by epoch from seeded permutations
    of ``data`` (the last batch of an epoch may be short only if the data is
    smaller than ``batch_size``)."""
    if steps < 0 or batch_size < 1:
        raise ValueError(f"need steps >= 0 and batch_size >= 1, got {steps} and {batch_size}")
    n = len(data)
    if n == 0:
        raise ValueError("cannot train on an empty data set")
    batch_size = min(batch_size, n)
    order = torch.randperm(n, generator=generator, device=generator.device)
    position = 0
    for _ in range(steps):
        if position + batch_size > n:
            order = torch.randperm(n, generator=generator, device=generator.device)
            position = 0
        yield data[order[position : position + batch_size]]
        position += batch_size


class EMA:
    """Exponential moving average of a module's floating-point state.

    The ``n``-th update uses decay ``min(decay, (1 + n) / (10 + n))``: early
    weights, far from where training ends, are forgotten quickly, which
    matters for the short schedules of the smaller budgets. The average
    starts as a copy of the module, so it is usable from the first step.
    """

    def __init__(self, module: nn.Module, decay: float) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must lie in [0, 1), got {decay}")
        self.decay = decay
        self.updates = 0
        self.module = module
        self.average = copy.deepcopy(module).requires_grad_(False)

    @torch.no_grad()
    def update(self) -> None:
        """Move the average towards the module's current weights."""
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        self.updates += 1
        current = self.module.state_dict()
        for name, value in self.average.state_dict().items():
            if value.is_floating_point():
                value.lerp_(current[name], 1.0 - decay)
            else:
                value.copy_(current[name])


class Adam:
    """Adam (Kingma and Ba, 2015) with bias correction, no weight decay.

    Args:
        parameters: tensors to update in place from their ``.grad``.
        lr: step size; betas: decay rates of the first and second moments;
        eps: added to the root of the second moment.
    """

    def __init__(
        self,
        parameters: Iterable[nn.Parameter],
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        if lr <= 0:
            raise ValueError(f"learning rate must be positive, got {lr}")
        self.params = [p for p in parameters if p.requires_grad]
        self.lr, self.betas, self.eps = lr, betas, eps
        self.first = [torch.zeros_like(p) for p in self.params]
        self.second = [torch.zeros_like(p) for p in self.params]
        self.steps = 0

    def zero_grad(self) -> None:
        """Drop the parameters' gradients."""
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One update from the current gradients (parameters without a
        gradient are left alone)."""
        self.steps += 1
        beta1, beta2 = self.betas
        correction1 = 1 - beta1**self.steps
        correction2 = 1 - beta2**self.steps
        for p, m, v in zip(self.params, self.first, self.second, strict=True):
            if p.grad is None:
                continue
            m.lerp_(p.grad, 1 - beta1)
            v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
            denominator = (v / correction2).sqrt_().add_(self.eps)
            p.addcdiv_(m, denominator, value=-self.lr / correction1)


@dataclass(frozen=True)
class Schedule:
    """Learning-rate multiplier: linear warm-up over ``warmup_steps``, then
    constant (``decay="constant"``) or a cosine decay to ``final_fraction``
    of the base rate at the last step (``decay="cosine"``)."""

    warmup_steps: int = 0
    decay: str = "constant"
    final_fraction: float = 0.0

    def __post_init__(self) -> None:
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if self.decay not in ("constant", "cosine"):
            raise ValueError(f"decay must be 'constant' or 'cosine', got {self.decay!r}")
        if not 0.0 <= self.final_fraction <= 1.0:
            raise ValueError(f"final_fraction must lie in [0, 1], got {self.final_fraction}")

    def factor(self, step: int, steps: int) -> float:
        """Multiplier of the base learning rate at 0-based ``step`` of ``steps``."""
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        if self.decay == "constant" or steps <= self.warmup_steps + 1:
            return 1.0
        progress = (step - self.warmup_steps) / (steps - self.warmup_steps - 1)
        cosine = 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
        return self.final_fraction + (1.0 - self.final_fraction) * cosine


@dataclass(frozen=True)
class EarlyStopping:
    """Stop when the loss on a held-out split stops improving.

    ``holdout_fraction`` of the training data (a seeded draw) is set aside;
    every ``check_every`` steps the loss is averaged over it (no gradients,
    at most ``holdout_batches`` batches) and training stops once
    ``patience`` checks in a row have not improved on the best; the weights
    (and the EMA) of the best check are restored. Stochastic losses draw
    their noise from the training generator, so a run with early stopping is
    as reproducible as one without.
    """

    holdout_fraction: float = 0.05
    check_every: int = 500
    patience: int = 4
    holdout_batches: int = 8

    def __post_init__(self) -> None:
        if not 0.0 < self.holdout_fraction < 1.0:
            raise ValueError(f"holdout_fraction must lie in (0, 1), got {self.holdout_fraction}")
        if self.check_every < 1 or self.patience < 1 or self.holdout_batches < 1:
            raise ValueError("check_every, patience and holdout_batches must be positive")

    def split(self, data: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """``(train, holdout)`` rows of ``data`` from a seeded permutation."""
        n = len(data)
        held = max(1, round(self.holdout_fraction * n))
        if held >= n:
            raise ValueError(f"cannot hold out {held} of {n} examples for early stopping")
        order = torch.randperm(n, generator=generator, device=generator.device)
        return data[order[held:]], data[order[:held]]


def clip_grad_norm(parameters: list[nn.Parameter], max_norm: float) -> float:
    """Scale gradients so their global L2 norm is at most ``max_norm``;
    return the norm before clipping."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    norm = float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads)))
    if norm > max_norm:
        for g in grads:
            g.mul_(max_norm / (norm + 1e-12))
    return norm


def train(
    loss_fn: Callable[[Tensor], Tensor],
    parameters: Iterable[nn.Parameter],
    data: Tensor,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    generator: torch.Generator,
    clip: float | None = 1.0,
    ema: EMA | None = None,
    betas: tuple[float, float] = (0.9, 0.999),
    schedule: Schedule | None = None,
    early_stopping: EarlyStopping | None = None,
) -> list[float]:
    """Minimise ``loss_fn(batch)`` with Adam over at most ``steps`` seeded
    mini-batches.

    Returns the loss of every step taken (for inspection and tests; shorter
    than ``steps`` when early stopping ended training). Gradients are
    clipped to global norm ``clip`` when given; ``ema`` is updated after each
    step. The learning rate is ``lr`` times ``schedule.factor`` (constant
    when no schedule is given). With ``early_stopping`` the held-out split
    is judged on ``ema``'s average when there is one, else on the weights
    being trained.
    """
    optimiser = Adam(parameters, lr=lr, betas=betas)
    if early_stopping is not None:
        data, holdout = early_stopping.split(data, generator)
        monitor = _HeldOutMonitor(early_stopping, holdout, batch_size, optimiser.params, ema)
    losses: list[float] = []
    for step, batch in enumerate(minibatches(data, batch_size, steps, generator)):
        if schedule is not None:
            optimiser.lr = lr * schedule.factor(step, steps)
        loss = loss_fn(batch)
        optimiser.zero_grad()
        loss.backward()
        if clip is not None:
            clip_grad_norm(optimiser.params, clip)
        optimiser.step()
        if ema is not None:
            ema.update()
        losses.append(float(loss.detach()))
        checking = early_stopping is not None and (step + 1) % early_stopping.check_every == 0
        if checking and monitor.should_stop(loss_fn):
            break
    if early_stopping is not None:
        monitor.restore_best()
    return losses


class _HeldOutMonitor:
    """Tracks the held-out loss for :func:`train` and keeps the best weights."""

    def __init__(
        self,
        rule: EarlyStopping,
        holdout: Tensor,
        batch_size: int,
        params: list[nn.Parameter],
        ema: EMA | None,
    ) -> None:
        self.rule, self.params, self.ema = rule, params, ema
        self.batches = [
            holdout[start : start + batch_size] for start in range(0, len(holdout), batch_size)
        ][: rule.holdout_batches]
        self.best = math.inf
        self.best_params: list[Tensor] | None = None
        self.best_average: dict[str, Tensor] | None = None
        self.stale = 0

    @torch.no_grad()
    def held_out_loss(self, loss_fn: Callable[[Tensor], Tensor]) -> float:
        """Mean loss over the held-out batches, judged on the EMA if any."""
        if self.ema is None:
            return sum(float(loss_fn(b)) for b in self.batches) / len(self.batches)
        current = [p.detach().clone() for p in self.params]
        self.ema.module.load_state_dict(self.ema.average.state_dict())
        try:
            return sum(float(loss_fn(b)) for b in self.batches) / len(self.batches)
        finally:
            for p, value in zip(self.params, current, strict=True):
                p.copy_(value)

    def should_stop(self, loss_fn: Callable[[Tensor], Tensor]) -> bool:
        """Judge one check; True once ``patience`` checks have not improved."""
        loss = self.held_out_loss(loss_fn)
        if loss < self.best:
            self.best, self.stale = loss, 0
            self.best_params = [p.detach().clone() for p in self.params]
            if self.ema is not None:
                self.best_average = copy.deepcopy(self.ema.average.state_dict())
            return False
        self.stale += 1
        return self.stale >= self.rule.patience

    @torch.no_grad()
    def restore_best(self) -> None:
        """Put back the weights (and EMA) of the best check, if any."""
        if self.best_params is None:
            return
        for p, value in zip(self.params, self.best_params, strict=True):
            p.copy_(value)
        if self.ema is not None and self.best_average is not None:
            self.ema.average.load_state_dict(self.best_average)


def fit_with_ema(
    model: Any, data: Tensor, generator: torch.Generator, labels: Tensor | None, what: str
) -> list[float]:
    """Train ``model.net`` on ``model.loss`` over ``data`` with an
    exponential moving average of its weights, which the network keeps:
    the fit of the diffusion and flow-matching families (``what`` names
    the family in errors).

    ``model`` carries ``net``, ``loss(batch, generator[, labels])``,
    ``num_classes`` (``None``: unconditional), ``ema_decay``, ``steps``,
    ``batch_size``, ``lr``, ``lr_schedule`` and ``early_stopping``.
    ``labels`` (``N``, int64 in ``[0, num_classes)``) are given exactly
    when the model is conditional; a labelled model trains on row indices
    so each batch keeps its labels. Returns the loss history of :func:`train`.
    """
    rows, batch_loss = data, lambda batch: model.loss(batch, generator)
    if model.num_classes is None:
        if labels is not None:
            raise ValueError(f"an unconditional {what} model trains without labels")
    else:
        if labels is None:
            raise ValueError(f"a class-conditional {what} model needs training labels")
        checked_labels(labels, len(data), model.num_classes)
        rows, batch_loss = labelled_rows(data, labels, lambda x, y: model.loss(x, generator, y))
    ema = EMA(model.net, model.ema_decay)
    history = train(
        batch_loss,
        model.net.parameters(),
        rows,
        steps=model.steps,
        batch_size=model.batch_size,
        lr=model.lr,
        generator=generator,
        ema=ema,
        schedule=model.lr_schedule,
        early_stopping=model.early_stopping,
    )
    model.net.load_state_dict(ema.average.state_dict())
    return history
