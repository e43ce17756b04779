"""Inner products and Euclidean distances between feature sets, in blocks.

The nearest-neighbour metrics and KID all need the same pairwise inner
products of the generated features with themselves and with the real
features. :func:`generated_gram_blocks` computes them once, one block of
generated rows at a time, so memory stays bounded (about
:data:`BLOCK_ELEMENTS` float32 numbers per block) and several consumers can
read each block.

Distances use the formula of the ``torch.cdist`` path that torch-fidelity
takes: float32, ``d^2 = |x|^2 + |y|^2 - 2 x.y`` clamped at 0, then the square
root (single entries may differ from torch's in the last bit). A point's
distance to itself is set to exactly 0.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from genbench.metrics._checks import positive_int

BLOCK_ELEMENTS = 1 << 24
"""Default number of matrix entries per block (64 MiB in float32)."""


def block_rows(width: int, block_size: int | None) -> int:
    """Rows per block: ``block_size`` when given, else as many rows of
    ``width`` entries as fit in :data:`BLOCK_ELEMENTS`."""
    if block_size is None:
        return max(1, BLOCK_ELEMENTS // max(width, 1))
    return positive_int(block_size, "block_size")


def row_slices(n: int, rows: int) -> Iterator[slice]:
    """Consecutive slices of at most ``rows`` rows covering ``range(n)``."""
    for start in range(0, n, rows):
        yield slice(start, min(start + rows, n))


def as_float32(features: np.ndarray) -> np.ndarray:
    """A C-contiguous float32 copy (or view) of ``features``."""
    return np.ascontiguousarray(features, dtype=np.float32)


def squared_norms(x: np.ndarray) -> np.ndarray:
    """Row-wise squared Euclidean norms, in the dtype of ``x``."""
    return np.einsum("ij,ij->i", x, x)


def squared_distances(
    gram: np.ndarray, left_norms: np.ndarray, right_norms: np.ndarray
) -> np.ndarray:
    """``|x_i|^2 + |y_j|^2 - 2 x_i.y_j`` clamped at 0, as a new array."""
    out = gram * np.asarray(-2.0, dtype=gram.dtype)
    out += left_norms[:, None]
    out += right_norms[None, :]
    np.maximum(out, 0, out=out)
    return out


def zero_self_distances(squared: np.ndarray, rows: slice) -> None:
    """Set the entries ``(i, rows.start + i)`` of a block of a set against
    itself to exactly 0 (a point's distance to itself), in place."""
    local = np.arange(squared.shape[0])
    squared[local, rows.start + local] = 0


def kth_smallest(squared: np.ndarray, ks: Sequence[int]) -> dict[int, np.ndarray]:
    """For each ``k`` in ``ks``: the square root of the ``(k+1)``-th smallest
    entry of every row of ``squared``.

    Applied to the squared distances of a set against itself (self distance
    0 included), this is each point's distance to its ``k``-th nearest other
    point: the k-NN radius of improved precision/recall and density/coverage.
    """
    largest = max(ks) + 1
    # torch's top-k is about ten times faster than numpy.partition here.
    smallest = torch.topk(torch.from_numpy(squared), largest, dim=1, largest=False).values
    return {k: np.sqrt(smallest[:, k].numpy()) for k in ks}


def kth_neighbour_distances(
    features: np.ndarray, ks: Sequence[int], *, block_size: int | None = None
) -> dict[int, np.ndarray]:
    """Distance (float32) from each row of ``features`` to its ``k``-th
    nearest other row, for each ``k`` in ``ks``.

    Raises:
        ValueError: when there are not more than ``max(ks)`` rows.
    """
    x = as_float32(features)
    n = x.shape[0]
    if n <= max(ks):
        raise ValueError(f"k-NN radii with k={max(ks)} need more than {max(ks)} points, got {n}")
    norms = squared_norms(x)
    radii = {k: np.empty(n, dtype=np.float32) for k in ks}
    for rows in row_slices(n, block_rows(n, block_size)):
        squared = squared_distances(x[rows] @ x.T, norms[rows], norms)
        zero_self_distances(squared, rows)
        for k, values in kth_smallest(squared, ks).items():
            radii[k][rows] = values
    return radii


@dataclass(frozen=True)
class GramBlock:
    """Inner products of one block of generated rows (read-only, float32).

    Attributes:
        rows: which generated rows the block holds.
        generated: ``generated[rows] @ generated.T``, shape ``(b, M)``.
        real: ``generated[rows] @ real.T``, shape ``(b, N)``.
    """

    rows: slice
    generated: np.ndarray
    real: np.ndarray


def generated_gram_blocks(
    generated: np.ndarray, real: np.ndarray, *, block_size: int | None = None
) -> Iterator[GramBlock]:
    """Yield :class:`GramBlock` s covering all generated rows, in order.

    ``generated`` and ``real`` are float32 feature matrices of equal width.
    """
    width = generated.shape[0] + real.shape[0]
    for rows in row_slices(generated.shape[0], block_rows(width, block_size)):
        block = generated[rows]
        with_generated = block @ generated.T
        with_real = block @ real.T
        with_generated.flags.writeable = False
        with_real.flags.writeable = False
        yield GramBlock(rows=rows, generated=with_generated, real=with_real)
