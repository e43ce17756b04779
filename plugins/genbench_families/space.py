"""The model space each family works in, and the way back to the task's format.

* Discrete tasks (``task.levels`` set, e.g. 8-bit images): integer level
  ``k`` of ``L`` maps to the bin centre ``2k/(L-1) - 1`` on ``[-1, 1]``.
* Continuous tasks (toy): each coordinate is standardised with the training
  mean and standard deviation; a log-density in model space becomes one in
  data space by adding :meth:`DataSpace.log_det` (the standardisation's
  log-Jacobian, ``-sum(log std)``).

The statistics are buffers, so they travel in the checkpoint.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from genbench_families.distributions import to_bin_centres


class DataSpace(nn.Module):
    """Converts between a task's data format and model space.

    Args:
        shape: shape of one example, e.g. ``(1, 28, 28)`` or ``(2,)``.
        levels: discrete levels per dimension, or ``None`` for continuous data.
        level_dtype: integer dtype of decoded discrete examples.
    """

    def __init__(
        self, shape: tuple[int, ...], levels: int | None, level_dtype: torch.dtype = torch.uint8
    ) -> None:
        super().__init__()
        if levels is not None and levels < 2:
            raise ValueError(f"a discrete task needs at least 2 levels, got {levels}")
        self.shape = tuple(shape)
        self.levels = levels
        self.level_dtype = level_dtype
        self.register_buffer("mean", torch.zeros(shape))
        self.register_buffer("std", torch.ones(shape))

    @property
    def discrete(self) -> bool:
        """Whether examples are integer levels (else continuous coordinates)."""
        return self.levels is not None

    @property
    def dims(self) -> int:
        """Number of dimensions of one example."""
        return int(torch.Size(self.shape).numel())

    def fit_statistics(self, x: Tensor) -> None:
        """Set the standardisation from training data (continuous tasks only)."""
        if self.discrete:
            return
        data = x.to(torch.float64)
        self.mean.copy_(data.mean(0).float())
        self.std.copy_(data.std(0).clamp(min=1e-6).float())

    def encode(self, x: Tensor) -> Tensor:
        """Task format → float32 model space (see the module docstring)."""
        if tuple(x.shape[1:]) != self.shape:
            raise ValueError(f"expected examples of shape {self.shape}, got {tuple(x.shape[1:])}")
        if self.discrete:
            return x.to(torch.float32) * (2.0 / (self.levels - 1)) - 1.0
        return (x.to(torch.float32) - self.mean) / self.std

    def decode(self, y: Tensor) -> Tensor:
        """Model space → task format: levels as ``level_dtype`` (rounded to the
        nearest bin, clamped) or de-standardised ``float32`` coordinates."""
        if self.discrete:
            k = torch.round((to_bin_centres(y, self.levels) + 1) * (self.levels - 1) / 2)
            return k.to(self.level_dtype)
        return (y * self.std + self.mean).to(torch.float32)

    def log_det(self) -> float:
        """Log-Jacobian of model space → data space for densities; 0 when discrete."""
        if self.discrete:
            return 0.0
        return float(-torch.log(self.std.double()).sum())
