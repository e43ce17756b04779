"""Seeded splits shared by the tasks: stratified by class for labelled
examples, by groups of documents that share a passage for text corpora."""

from __future__ import annotations

import re
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


def split_by_shared_passages(
    documents: Sequence[str],
    min_chars: int,
    separator: str,
    fractions: Sequence[float],
    seed: int,
) -> tuple[list[int], ...]:
    """Indices of ``documents`` split into train and held-out parts so that
    documents sharing a passage (:func:`shared_passage_groups`) are never
    on two sides: whole groups are drawn by :func:`draw_groups` into part
    ``i`` until it holds ``fractions[i]`` of the characters; the rest train.

    Returns:
        ``(train, part_1, ..., part_k)``: disjoint sorted index lists
        covering ``range(len(documents))``.
    """
    groups = shared_passage_groups(documents, min_chars=min_chars, separator=separator)
    sizes = [sum(len(documents[i]) for i in group) for group in groups]
    parts = [
        sorted(i for g in drawn for i in groups[g]) for drawn in draw_groups(sizes, fractions, seed)
    ]
    held_out = {i for part in parts for i in part}
    return ([i for i in range(len(documents)) if i not in held_out], *parts)


def shared_passage_groups(
    documents: Sequence[str], min_chars: int, separator: str
) -> list[list[int]]:
    """Indices of ``documents`` grouped so that documents sharing a passage
    (the pieces between matches of the regular expression ``separator``,
    stripped, at least ``min_chars`` characters long) are in one group.
    Groups are sorted lists, in the order of their first document."""
    parent = list(range(len(documents)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for i, document in enumerate(documents):
        for passage in re.split(separator, document):
            passage = passage.strip()
            if len(passage) < min_chars:
                continue
            if passage in owner:
                parent[root(i)] = root(owner[passage])
            else:
                owner[passage] = i
    groups: dict[int, list[int]] = {}
    for i in range(len(documents)):
        groups.setdefault(root(i), []).append(i)
    return sorted(groups.values())


def draw_groups(sizes: Sequence[int], fractions: Sequence[float], seed: int) -> list[list[int]]:
    """Held-out splits of whole groups, drawn in one seeded order.

    Groups are visited in the order of a permutation seeded with ``seed``;
    each visited group joins the first split that holds less than its
    ``fractions[s]`` of the total size, until every split is full. Groups
    larger than a quarter of the total are never held out.

    Returns:
        for each fraction, the indices of its groups (in drawing order).
    """
    total = sum(sizes)
    splits: list[list[int]] = [[] for _ in fractions]
    taken = [0] * len(fractions)
    current = 0
    for group in np.random.default_rng(seed).permutation(len(sizes)).tolist():
        while current < len(fractions) and taken[current] >= fractions[current] * total:
            current += 1
        if current == len(fractions):
            break
        if sizes[group] <= total / 4:
            splits[current].append(group)
            taken[current] += sizes[group]
    return splits
