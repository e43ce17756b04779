"""Prompts for open-ended generation, drawn from the training documents."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


class PromptSource:
    """Draws ``length``-token prompts uniformly over every position where a
    prompt fits inside one training document.

    Args:
        documents: training documents as id tensors.
        length: prompt tokens.

    Raises:
        ValueError: when no document holds ``length`` tokens.
    """

    def __init__(self, documents: Sequence[torch.Tensor], length: int) -> None:
        if length < 1:
            raise ValueError(f"prompt length must be positive, got {length}")
        self.documents = [d for d in documents if len(d) >= length]
        if not self.documents:
            raise ValueError(f"no training document holds a {length}-token prompt")
        self.length = length
        self._starts = np.cumsum([0] + [len(d) - length + 1 for d in self.documents])

    def draw(self, n: int, rng: np.random.Generator) -> torch.Tensor:
        """``(n, length)`` prompts at positions drawn with ``rng``."""
        flat = rng.integers(0, self._starts[-1], size=n)
        which = np.searchsorted(self._starts, flat, side="right") - 1
        offsets = flat - self._starts[which]
        return torch.stack(
            [
                self.documents[d][o : o + self.length]
                for d, o in zip(which.tolist(), offsets.tolist(), strict=True)
            ]
        ).to(torch.int64)
