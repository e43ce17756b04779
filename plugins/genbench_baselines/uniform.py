"""The uniform baseline: every value of the data space equally likely."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from genbench.tasks.base import Task

BOX_MARGIN = 0.1


@dataclass(frozen=True)
class Uniform:
    """Uniform over ``levels`` values per dimension (discrete tasks: image
    levels, or mu-law codes for audio), or over the bounding box of the
    training data widened by :data:`BOX_MARGIN` of its extent on each side
    (continuous tasks).

    For discrete data log p(x) = −D·ln(levels) exactly, i.e. log2(levels)
    bits per dimension.
    """

    modality: str
    shape: tuple[int, ...]
    levels: int | None
    low: torch.Tensor | None = None
    high: torch.Tensor | None = None
    num_parameters: int = 0

    @classmethod
    def fit(cls, task: Task) -> Uniform:
        if task.levels is not None:
            return cls(task.modality, tuple(task.example_shape), task.levels)
        train = task.load().train.to(torch.float64)
        low, high = train.min(dim=0).values, train.max(dim=0).values
        margin = BOX_MARGIN * (high - low)
        low, high = low - margin, high + margin
        return cls(task.modality, tuple(task.example_shape), None, low, high, 2 * low.numel())

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        if self.modality == "audio":
            return torch.rand((n, *self.shape), generator=generator) * 2 - 1
        if self.levels is not None:
            return torch.randint(self.levels, (n, *self.shape), generator=generator).to(torch.uint8)
        u = torch.rand((n, *self.shape), generator=generator, dtype=torch.float64)
        return (self.low + u * (self.high - self.low)).to(torch.float32)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) in nats per example (x: data of this task, or mu-law
        codes for audio)."""
        dims = math.prod(self.shape)
        if self.levels is not None:
            return torch.full((len(x),), -dims * math.log(self.levels), dtype=torch.float64)
        x = torch.as_tensor(x, dtype=torch.float64)
        outside = ~((x >= self.low) & (x <= self.high)).all(dim=1)
        if outside.any():
            raise ValueError(
                f"{int(outside.sum())} examples lie outside the uniform baseline's box "
                "(zero density)"
            )
        log_volume = torch.log(self.high - self.low).sum()
        return torch.full((len(x),), -float(log_volume), dtype=torch.float64)
