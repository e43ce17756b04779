"""Baselines that return stored real examples."""

from __future__ import annotations

import numpy as np
import torch

Examples = torch.Tensor | list[str]
"""Real examples in a task's sample format: a tensor with one example per
row, or a list of text snippets."""


class ResamplingModel:
    """Returns ``n`` examples drawn from a fixed set of real ones.

    With ``replace=False`` (held-out data) asking for more examples than the
    set holds is an error, because repeated examples would understate the
    noise floor; with ``replace=True`` (memorizer) draws may repeat.
    ``labels`` (``(len(examples),)`` integer classes, or ``None``) lets
    :meth:`sample_classes` answer class-conditional calls. Samples have the
    type of ``examples``.
    """

    num_parameters = 0

    def __init__(
        self, examples: Examples, *, replace: bool, labels: np.ndarray | None = None
    ) -> None:
        self.examples = examples
        self.replace = replace
        self.labels = labels

    def _take(self, index: torch.Tensor) -> Examples:
        if isinstance(self.examples, list):
            return [self.examples[i] for i in index.tolist()]
        return self.examples[index].clone()

    def sample(self, n: int, generator: torch.Generator) -> Examples:
        count = len(self.examples)
        if self.replace:
            index = torch.randint(count, (n,), generator=generator)
        else:
            if n > count:
                raise ValueError(
                    f"asked for {n} samples but the holdout split has only {count} examples"
                )
            index = torch.randperm(count, generator=generator)[:n]
        return self._take(index)

    def sample_classes(self, labels: torch.Tensor, generator: torch.Generator) -> Examples:
        """Example ``i`` of the result is a stored example of class
        ``labels[i]``. Each class's examples are drawn in a seeded random
        order without replacement; a class asked for more often than it
        has examples starts its order again (repeats only then).

        Raises:
            ValueError: the model has no labels, or a class asked for has
                no stored example.
        """
        if self.labels is None:
            raise ValueError("these examples have no class labels to sample by")
        labels = torch.as_tensor(labels, dtype=torch.int64)
        index = torch.empty(len(labels), dtype=torch.int64)
        for label in torch.unique(labels).tolist():
            rows = torch.nonzero(labels == label).flatten()
            pool = torch.from_numpy(np.flatnonzero(self.labels == label))
            if not len(pool):
                raise ValueError(
                    f"asked for class {label} but no stored example has it "
                    f"(classes present: {sorted(set(np.unique(self.labels).tolist()))})"
                )
            order = pool[torch.randperm(len(pool), generator=generator)]
            index[rows] = order[torch.arange(len(rows)) % len(pool)]
        return self._take(index)
