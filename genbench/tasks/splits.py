"""Seeded, stratified splits shared by every labelled task."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def stratified_split(
    labels: np.ndarray, fractions: Sequence[float], seed: int
) -> tuple[np.ndarray, ...]:
    """Indices of a seeded, stratified split into train and held-out parts.

    Held-out part ``i`` takes ``round(fractions[i] * n_class)`` (halves
    round up) of each class's examples, chosen at random; train keeps the
    rest, in random order. Each held-out part is interleaved by class (the
    ``j``-th of a class's ``m`` examples is placed at relative position
    ``(j + 1/2) / m``, ties in random order), so every prefix is as
    class-balanced as possible: the first ``k`` test examples (what
    :meth:`Task.reference` takes for a budget) hold within one of
    ``k * m / n_part`` examples of each class.

    Args:
        labels: integer class label per example, shape ``(N,)``.
        fractions: held-out shares, each positive, summing to less than 1.
        seed: seeds the only random draws (``numpy.random.default_rng``).

    Returns:
        ``(train, part_1, ..., part_k)``: disjoint ``int64`` index arrays
        covering ``range(N)``.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be one-dimensional, got shape {labels.shape}")
    if not fractions or min(fractions) <= 0 or sum(fractions) >= 1:
        raise ValueError(
            f"held-out fractions must be positive and sum to less than 1, got {tuple(fractions)}"
        )
    rng = np.random.default_rng(seed)
    train_parts: list[np.ndarray] = []
    held_out: list[list[np.ndarray]] = [[] for _ in fractions]
    positions: list[list[np.ndarray]] = [[] for _ in fractions]
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        start = 0
        for part, fraction in enumerate(fractions):
            count = int(np.floor(fraction * len(members) + 0.5))
            held_out[part].append(members[start : start + count])
            positions[part].append((np.arange(count) + 0.5) / max(count, 1))
            start += count
        train_parts.append(members[start:])
    parts = [rng.permutation(np.concatenate(train_parts))]
    for indices, keys in zip(held_out, positions, strict=True):
        flat_keys = np.concatenate(keys)
        parts.append(np.concatenate(indices)[np.lexsort((rng.random(len(flat_keys)), flat_keys))])
    if any(len(part) == 0 for part in parts):
        raise ValueError(
            f"splitting {len(labels)} examples with held-out fractions {tuple(fractions)} "
            "leaves an empty split"
        )
    return tuple(part.astype(np.int64) for part in parts)
