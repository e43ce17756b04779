"""Inner products and Euclidean distances between feature sets, in blocks,
with exact decisions.

The nearest-neighbour metrics and KID all need the same pairwise inner
products of the generated features with themselves and with the real
features. :func:`generated_gram_blocks` computes them once, one block of
generated rows at a time, so memory stays bounded (about
:data:`BLOCK_ELEMENTS` float32 numbers per block) and several consumers can
read each block.

Exactness. The reference value of a squared distance is the float64 sum of
the squared coordinate differences (:func:`exact_squared_distances`); every
count built on distances (k-NN radii, ball memberships, nearest neighbours)
must equal the count computed from those values. Computing them for all
pairs is slow, and the fast formula ``|x|^2 + |y|^2 - 2 x.y`` from BLAS inner
products cancels badly when points lie far from the origin relative to
their spacing (toy data on rings of radius 4-6 with spacing 0.01 loses most
of its float32 digits). So a :class:`DistanceScreen` uses the fast formula
only to *screen*: its rounding error is at most
``tau * (|x|^2 + |y|^2)`` with ``tau`` from :func:`screening_tolerance`, a
bound that holds for any summation order of the inner products. A
comparison the bound decides is final; the few pairs within the bound of a
threshold, and the candidates for a k-th nearest neighbour, are recomputed
exactly. Screened distances are clamped at 0 and a point's distance to
itself is exactly 0.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from genbench.metrics._checks import positive_int

BLOCK_ELEMENTS = 1 << 24
"""Default number of matrix entries per block (64 MiB in float32)."""

EXACT_CHUNK_ELEMENTS = 1 << 21
"""Coordinate differences per chunk of :func:`exact_squared_distances`
(16 MiB in float64)."""

FLOAT64_SCREEN_MAX_DIM = 16
"""Up to this many dimensions, distances are screened in float64: the inner
products cost little either way, and float32 screening of low-dimensional
data far from the origin relative to its spacing (the toy tasks) leaves
most near pairs to recompute."""

_UNIT_ROUNDOFF_64 = float(np.finfo(np.float64).eps) / 2


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


def screening_features(features: np.ndarray) -> np.ndarray:
    """``features`` (C-contiguous) in the dtype their distances are screened
    in: float64 up to :data:`FLOAT64_SCREEN_MAX_DIM` dimensions, else
    float32 (the same array when it already is)."""
    dtype = np.float64 if features.shape[1] <= FLOAT64_SCREEN_MAX_DIM else np.float32
    return np.ascontiguousarray(features, dtype=dtype)


def squared_norms(x: np.ndarray) -> np.ndarray:
    """Row-wise squared Euclidean norms, summed in float64 and rounded to
    the dtype of ``x`` (relative error at most one rounding)."""
    return np.einsum("ij,ij->i", x, x, dtype=np.float64).astype(x.dtype)


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


def exact_squared_distances(
    left: np.ndarray, right: np.ndarray, left_index: np.ndarray, right_index: np.ndarray
) -> np.ndarray:
    """``sum_k (left[i, k] - right[j, k])^2`` in float64 from the coordinate
    differences, for each pair ``(i, j)`` of ``zip(left_index, right_index)``:
    the reference value of every squared distance."""
    out = np.empty(len(left_index), dtype=np.float64)
    step = max(1, EXACT_CHUNK_ELEMENTS // max(left.shape[1], 1))
    for chunk in row_slices(len(left_index), step):
        difference = np.subtract(
            left[left_index[chunk]], right[right_index[chunk]], dtype=np.float64
        )
        out[chunk] = np.einsum("ij,ij->i", difference, difference)
    return out


def screening_tolerance(dim: int, dtype: np.dtype) -> float:
    """``tau`` with ``|s - e| <= tau (|x|^2 + |y|^2)`` for a screened squared
    distance ``s`` (inner product and norms in ``dtype``, combined as in
    :func:`squared_distances`) and the exact value ``e``.

    From the textbook bound on an inner product of ``dim`` terms summed in
    any order, ``|fl(x.y) - x.y| <= gamma_dim |x| |y|`` with
    ``gamma_n = n u / (1 - n u)`` (``u`` the unit roundoff of ``dtype``): the
    inner product contributes ``gamma_dim``, the rounded norms and the two
    additions ``5 u``, and the float64 rounding of the reference itself
    ``2 (dim + 2) u_64``; one percent on top covers second-order terms.
    """
    u = float(np.finfo(dtype).eps) / 2
    gamma = dim * u / (1.0 - dim * u)
    return 1.01 * (gamma + 5.0 * u + 2.0 * (dim + 2) * _UNIT_ROUNDOFF_64)


def certain_bounds(
    thresholds: np.ndarray, errors: np.ndarray | float, dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray]:
    """Screening limits ``(below, above)`` in ``dtype`` for float64
    ``thresholds`` and error bounds ``errors``: a screened value
    ``s <= below`` has exact value strictly below its threshold, one
    ``s > above`` strictly above (``errors`` must be positive)."""
    dtype = np.dtype(dtype)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    slack = errors + 4.0 * _UNIT_ROUNDOFF_64 * np.abs(thresholds)
    return _round_down(thresholds - slack, dtype), _round_up(thresholds + slack, dtype)


def _round_down(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The largest ``dtype`` numbers not above the float64 ``values``."""
    rounded = values.astype(dtype)
    return np.where(rounded > values, np.nextafter(rounded, dtype.type(-np.inf)), rounded)


def _round_up(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The smallest ``dtype`` numbers not below the float64 ``values``."""
    rounded = values.astype(dtype)
    return np.where(rounded < values, np.nextafter(rounded, dtype.type(np.inf)), rounded)


class DistanceScreen:
    """Squared distances from the rows of ``left`` to the rows of ``right``:
    screened from inner products, with per-pair error bounds, and exact
    (float64, from coordinate differences) on demand.

    Args:
        left, right: ``(n_left, d)`` and ``(n_right, d)`` feature matrices
            of one floating dtype, C-contiguous (``right`` may be ``left``).
        left_norms, right_norms: their :func:`squared_norms`, when known.
    """

    def __init__(
        self,
        left: np.ndarray,
        right: np.ndarray,
        *,
        left_norms: np.ndarray | None = None,
        right_norms: np.ndarray | None = None,
    ) -> None:
        self.left, self.right = left, right
        self.dtype = left.dtype
        self.left_norms = squared_norms(left) if left_norms is None else left_norms
        self.right_norms = squared_norms(right) if right_norms is None else right_norms
        tau = screening_tolerance(left.shape[1], left.dtype)
        # A positive floor keeps strict decisions strict between zero vectors
        # and covers underflow in the inner products.
        floor = 4.0 * left.shape[1] * float(np.finfo(left.dtype).smallest_subnormal)
        self._left_errors = tau * self.left_norms.astype(np.float64) + floor
        self._right_errors = tau * self.right_norms.astype(np.float64)
        self._right_error_max = float(self._right_errors.max(initial=0.0))

    def squared(self, gram: np.ndarray, rows: slice) -> np.ndarray:
        """Screened squared distances of ``left[rows]`` to all of ``right``,
        from their inner products ``gram``."""
        return squared_distances(gram, self.left_norms[rows], self.right_norms)

    def row_errors(self, rows: slice | np.ndarray) -> np.ndarray:
        """float64 bound on the screening error of every pair in each of the
        rows ``left[rows]``."""
        return self._left_errors[rows] + self._right_error_max

    def column_errors(self, rows: slice | np.ndarray) -> np.ndarray:
        """``(n_right,)`` float64 bound on the screening error of every pair
        in each column of the block of rows ``left[rows]``."""
        return self._right_errors + self._left_errors[rows].max()

    def exact(self, left_index: np.ndarray, right_index: np.ndarray) -> np.ndarray:
        """Exact squared distances of the pairs ``(left_index, right_index)``."""
        return exact_squared_distances(self.left, self.right, left_index, right_index)

    def kth_smallest(
        self, squared: np.ndarray, index: np.ndarray, ks: Sequence[int]
    ) -> dict[int, np.ndarray]:
        """For each ``k`` in ``ks``, the exact ``(k+1)``-th smallest squared
        distance (float64) of each row of ``squared``, the screened values of
        the rows ``left[index]``.

        With ``left is right`` and self distances zeroed
        (:func:`zero_self_distances`) this is each point's squared distance
        to its k-th nearest other point: the k-NN radius. Candidates are the
        entries within twice the error bound of the screened
        ``(max(ks)+1)``-th smallest value; every entry that can be among the
        exact ``max(ks)+1`` smallest is one of them.
        """
        largest = max(ks)
        limit = screened_kth_smallest(squared, largest) + 2.0 * self.row_errors(index)
        groups = self._candidates(squared, index, limit)
        return {k: groups.sorted_values[groups.starts + k] for k in ks}

    def nearest(self, squared: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Index into ``right`` of the exact nearest neighbour of each row of
        ``squared`` (the screened values of the rows ``left[index]``; entries
        set to ``inf`` are excluded), the lowest index among exact ties, and
        its exact squared distance."""
        columns, values = self.smallest(squared, index, 1)
        return columns[:, 0], values[:, 0]

    def smallest(
        self, squared: np.ndarray, index: np.ndarray, keep: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``keep`` exact nearest columns of each row of ``squared`` (the
        screened values of the rows ``left[index]``; ``keep`` at most the row
        length) in order of exact squared distance, lower index first among
        ties, and those distances: ``(n, keep)`` each. Candidates are the
        entries within twice the error bound of the screened ``keep``-th
        smallest value, which holds every entry that can be among the exact
        ``keep`` smallest."""
        limit = screened_kth_smallest(squared, keep - 1) + 2.0 * self.row_errors(index)
        groups = self._candidates(squared, index, limit)
        positions = groups.starts[:, None] + np.arange(keep)
        return groups.columns[groups.order[positions]], groups.sorted_values[positions]

    def _candidates(self, squared: np.ndarray, index: np.ndarray, limit: np.ndarray) -> _Candidates:
        """Exact values of the entries with ``squared <= limit`` (rounded up)
        in each row, sorted by row, then value, then column."""
        limit = _round_up(limit * (1.0 + 4.0 * _UNIT_ROUNDOFF_64), self.dtype)
        local, columns = np.nonzero(squared <= limit[:, None])
        values = self.exact(index[local], columns)
        order = np.lexsort((columns, values, local))
        starts = np.searchsorted(local, np.arange(squared.shape[0]))
        return _Candidates(columns, order, values[order], starts)


def screened_kth_smallest(squared: np.ndarray, k: int) -> np.ndarray:
    """The ``(k+1)``-th smallest entry of each row of ``squared``, as
    float64. For screened squared distances with error bounds ``e`` per row,
    the exact ``(k+1)``-th smallest lies within ``e`` of it."""
    # torch's top-k is about ten times faster than numpy.partition here.
    smallest = torch.topk(torch.from_numpy(squared), k + 1, dim=1, largest=False).values
    return smallest[:, k].numpy().astype(np.float64)


def sparse_nonzero(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``numpy.nonzero`` of a mostly-False 2-D ``mask``, scanning only the
    rows that hold a True (much faster when few do)."""
    rows = np.flatnonzero(mask.any(axis=1))
    local, columns = np.nonzero(mask[rows])
    return rows[local], columns


@dataclass(frozen=True)
class _Candidates:
    """Candidate pairs of :meth:`DistanceScreen._candidates`: ``columns``
    in the order found, ``order`` sorting them by row, value and column,
    ``sorted_values`` their exact values in that order, and ``starts`` the
    position of each row's first candidate."""

    columns: np.ndarray
    order: np.ndarray
    sorted_values: np.ndarray
    starts: np.ndarray


@dataclass(frozen=True)
class GramBlock:
    """Inner products of one block of generated rows (read-only, in the
    features' dtype).

    Attributes:
        rows: which generated rows the block holds.
        generated: ``generated[rows] @ generated.T``, shape ``(b, M)``.
        real: ``generated[rows] @ real.T``, shape ``(b, N)``.
    """

    rows: slice
    generated: np.ndarray
    real: np.ndarray


def generated_gram_blocks(
    generated: np.ndarray,
    real: np.ndarray,
    *,
    block_size: int | None = None,
    device: torch.device | str | None = None,
) -> Iterator[GramBlock]:
    """Yield :class:`GramBlock` s covering all generated rows, in order.

    ``generated`` and ``real`` are feature matrices of one floating dtype
    (float32, or float64 from :func:`screening_features`) and equal width.
    With ``device`` (a torch device) the inner products are computed there
    by torch (see :func:`_device_gram_blocks`); ``None`` uses numpy's BLAS
    on the CPU. The results differ in their last bits only, within the
    rounding bound :class:`DistanceScreen` assumes, so every count built on
    them is the same either way.
    """
    width = generated.shape[0] + real.shape[0]
    if device is not None and _gram_on(device, generated.dtype) is not None:
        yield from _device_gram_blocks(
            generated, real, block_rows(width, block_size), _gram_on(device, generated.dtype)
        )
        return
    for rows in row_slices(generated.shape[0], block_rows(width, block_size)):
        block = generated[rows]
        with_generated = block @ generated.T
        with_real = block @ real.T
        with_generated.flags.writeable = False
        with_real.flags.writeable = False
        yield GramBlock(rows=rows, generated=with_generated, real=with_real)


def _gram_on(device: torch.device | str, dtype: np.dtype) -> torch.device | None:
    """Where torch computes the blocks: ``device``, or ``None`` (numpy) for
    float64 on Apple's Metal, which has no float64."""
    where = torch.device(device)
    return None if where.type == "mps" and dtype == np.float64 else where


def _device_gram_blocks(
    generated: np.ndarray, real: np.ndarray, rows_per_block: int, device: torch.device
) -> Iterator[GramBlock]:
    """:func:`generated_gram_blocks` by torch on ``device``: both matrices
    copied there once, each block's products copied back. Float32 products
    run at full IEEE precision (no TF32), which the screening bound needs."""
    on_device = torch.tensor(generated, device=device)  # a copy: the inputs may be read-only
    real_on_device = torch.tensor(real, device=device)
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        for rows in row_slices(generated.shape[0], rows_per_block):
            block = on_device[rows]
            with_generated = (block @ on_device.T).cpu().numpy()
            with_real = (block @ real_on_device.T).cpu().numpy()
            with_generated.flags.writeable = False
            with_real.flags.writeable = False
            yield GramBlock(rows=rows, generated=with_generated, real=with_real)
    finally:
        torch.set_float32_matmul_precision(previous)
