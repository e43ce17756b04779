"""Per-row random streams: the samples of a seed do not depend on the batch.

Each generated sequence draws from its own ``torch.Generator``, seeded from
the run's seed and the sequence's index, so sequence ``i`` of a seed is the
same whether it is generated alone or in a batch of any size with any
neighbours. The batch size is then a pure throughput setting.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def row_seeds(seed: int, rows: Sequence[int]) -> list[int]:
    """The stream seed (a 32-bit integer) of each sequence index in ``rows``
    of a run seeded with ``seed``: ``SeedSequence([seed, row])``'s first word."""
    return [int(np.random.SeedSequence([seed, row]).generate_state(1)[0]) for row in rows]


class RowStreams:
    """One independent random stream per batch row.

    Args:
        seeds: one integer seed per row (see :func:`row_seeds`).
    """

    def __init__(self, seeds: Sequence[int]) -> None:
        self.generators = [torch.Generator().manual_seed(int(s)) for s in seeds]

    def __len__(self) -> int:
        return len(self.generators)

    def sample(self, probs: torch.Tensor) -> torch.Tensor:
        """One draw from each row of ``probs`` (``(B, V)``, non-negative, each
        row with positive mass, need not sum to one) as ``(B,)`` ids, row
        ``b`` drawing from stream ``b``.

        Exponential race: with ``E_v ~ Exp(1)`` independent,
        ``argmax_v probs[v] / E_v`` is ``v`` with probability proportional to
        ``probs[v]`` (what ``torch.multinomial`` runs for one draw).
        """
        if len(probs) != len(self.generators):
            raise ValueError(f"{len(probs)} rows of probabilities for {len(self)} streams")
        race = torch.empty_like(probs)
        for row, generator in zip(race, self.generators, strict=True):
            row.exponential_(1.0, generator=generator)
        return (probs / race).argmax(dim=-1)
