"""The training loop the families share: seeded mini-batches, Adam, clipping,
and an optional exponential moving average of the weights.

Adam is written out here rather than taken from ``torch.optim``, whose first
use imports ``torch._dynamo`` (5 to 20 seconds of start-up in every worker
process on a small CPU, longer than a smoke-budget fit).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator

import torch
from torch import Tensor, nn


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
    order = torch.randperm(n, generator=generator)
    position = 0
    for _ in range(steps):
        if position + batch_size > n:
            order = torch.randperm(n, generator=generator)
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
) -> list[float]:
    """Minimise ``loss_fn(batch)`` with Adam over ``steps`` seeded mini-batches.

    Returns the loss of every step (for inspection and tests). Gradients are
    clipped to global norm ``clip`` when given; ``ema`` is updated after each
    step. The learning rate is constant: at the budgets here every model is
    far from convergence, and a cosine decay to zero measurably hurt (it
    halves the average step size).
    """
    optimiser = Adam(parameters, lr=lr, betas=betas)
    losses: list[float] = []
    for batch in minibatches(data, batch_size, steps, generator):
        loss = loss_fn(batch)
        optimiser.zero_grad()
        loss.backward()
        if clip is not None:
            clip_grad_norm(optimiser.params, clip)
        optimiser.step()
        if ema is not None:
            ema.update()
        losses.append(float(loss.detach()))
    return losses
