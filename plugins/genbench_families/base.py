"""What every family's algorithm offers, in model space (see :mod:`.space`).

A family is an ``nn.Module`` holding its networks and the task's
:class:`~genbench_families.space.DataSpace`; its whole state (weights and
data statistics) is its ``state_dict``, which is what the checkpoint stores.
Randomness always comes from an explicit ``torch.Generator``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from genbench_families.space import DataSpace


@dataclass(frozen=True)
class ModelLikelihood:
    """Per-example ``log p`` in nats in model space (bins for discrete data,
    density of standardised coordinates for continuous data)."""

    nats: Tensor
    exact: bool
    method: str
    details: Mapping[str, Any] = field(default_factory=dict)


class GenerativeModel(nn.Module):
    """Base class of the families' algorithms.

    Subclasses set :attr:`capabilities` (per class, or per instance when
    options change it) and implement :meth:`fit` and the hooks they declare;
    an undeclared hook raises ``NotImplementedError``.
    """

    capabilities: frozenset[str] = frozenset({"sample"})

    def __init__(self, space: DataSpace) -> None:
        super().__init__()
        self.space = space

    @property
    def device(self) -> torch.device:
        """Where the model's weights live (the CPU for a model without any);
        every tensor a family creates goes there."""
        for tensor in self.parameters():
            return tensor.device
        for tensor in self.buffers():
            return tensor.device
        return torch.device("cpu")

    def fit(self, data: Tensor, generator: torch.Generator) -> list[float]:
        """Train on model-space ``data``; return the loss per step."""
        raise NotImplementedError

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """``n`` model-space samples."""
        raise NotImplementedError(f"{type(self).__name__} does not sample")

    def log_likelihood(self, x: Tensor, generator: torch.Generator) -> ModelLikelihood:
        """Per-example log-probability of model-space ``x``."""
        raise NotImplementedError(f"{type(self).__name__} has no likelihood")

    def reconstruct(self, x: Tensor) -> Tensor:
        """Model-space reconstructions of model-space ``x``."""
        raise NotImplementedError(f"{type(self).__name__} does not reconstruct")

    def nfe(self) -> int:
        """Network evaluations per sample drawn."""
        return 1

    def diagnostics(self, probe: Tensor) -> dict[str, float]:
        """Extra facts for ``model_info``, measured on a few model-space
        training examples ``probe``; none by default."""
        return {}

    def held_out_diagnostics(self, test: Tensor) -> dict[str, float]:
        """Extra facts for ``model_info`` measured on the task's model-space
        test examples ``test`` (e.g. a VQ-VAE's codebook usage); none by
        default."""
        return {}


def in_chunks(fn: Callable[..., Tensor], *tensors: Tensor, size: int) -> Tensor:
    """``fn`` applied to aligned row-chunks of ``tensors``, concatenated.

    For per-example computations this bounds memory without changing
    results (noise must be drawn before chunking, for all rows at once).
    """
    if size < 1:
        raise ValueError(f"chunk size must be positive, got {size}")
    n = len(tensors[0])
    parts = [fn(*(t[start : start + size] for t in tensors)) for start in range(0, n, size)]
    return torch.cat(parts) if parts else fn(*tensors)
