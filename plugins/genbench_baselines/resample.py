"""Baselines that return stored real examples."""

from __future__ import annotations

import torch


class ResamplingModel:
    """Returns ``n`` examples drawn from a fixed set of real ones.

    With ``replace=False`` (held-out data) asking for more examples than the
    set holds is an error, because repeated examples would understate the
    noise floor; with ``replace=True`` (memorizer) draws may repeat.
    """

    num_parameters = 0

    def __init__(self, examples: torch.Tensor, *, replace: bool) -> None:
        self.examples = examples
        self.replace = replace

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        count = len(self.examples)
        if self.replace:
            index = torch.randint(count, (n,), generator=generator)
        else:
            if n > count:
                raise ValueError(
                    f"asked for {n} samples but the holdout split has only {count} examples"
                )
            index = torch.randperm(count, generator=generator)[:n]
        return self.examples[index].clone()
