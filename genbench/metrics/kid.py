"""Kernel Inception Distance: unbiased MMD² with a cubic polynomial kernel.

Convention (torch-fidelity's ``kid_features_to_metric`` with input1 =
generated, input2 = real): kernel ``k(x, y) = (x.y / d + 1)^3``; for each of
``subsets`` rounds, draw ``s`` generated rows and then ``s`` real rows
without replacement from one ``numpy.random.RandomState(seed)`` (the same
draws, in the same order); per subset the unbiased estimate

    MMD² = (sum_{i!=j} k(g_i, g_j) + sum_{i!=j} k(r_i, r_j)) / (s (s-1))
           - 2 sum_{i,j} k(g_i, r_j) / s²

and report its mean and standard deviation (``ddof=0``).

Subset size: by default ``s = min(1000, min(M, N) // 2)`` and the result
says which ``s`` was used. At most half of the smaller side, so that the
subsets differ and their spread carries information: with ``s = M = N``
every subset is the whole set and the standard deviation is 0 by
construction. An explicit ``subset_size`` larger than a side is an error,
as in torch-fidelity (which has no default below 1000).

Computation: every subset sum is ``u^T K v`` for 0/1 subset indicator
vectors ``u``, ``v``. When the full kernel matrices are cheaper than the
subsets (the usual case: ``N * M < subsets * s²``), they are built one block
of rows at a time and multiplied by the indicator matrices, so each inner
product is computed once instead of once per subset it falls in; otherwise
each subset's kernel blocks are computed directly. Inner products are
float32 (as torch-fidelity computes them from float32 features), kernel
values and sums float64. Against torch-fidelity given float64 features the
values agree to float32 rounding of the inner products (about 1e-9
absolute; the tests assert 1e-8), and the block size moves them by as much.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from genbench.metrics._checks import enough_samples, feature_matrix, positive_int, same_dimension
from genbench.metrics.pairwise import (
    GramBlock,
    as_float32,
    block_rows,
    generated_gram_blocks,
    row_slices,
)

Strategy = Literal["auto", "gram", "subsets"]

MAX_SUBSET_SIZE = 1000
"""Cap of the default subset size (torch-fidelity's default size)."""

MIN_SUBSET_SIZE = 2
"""The unbiased estimator needs two samples per side in each subset."""


@dataclass(frozen=True)
class KIDResult:
    """KID over ``subsets`` subsets of ``subset_size`` samples per side.

    Attributes:
        mean: mean of the per-subset unbiased MMD² (can be slightly negative
            when the distributions match).
        std: their standard deviation, ``ddof=0``.
        subsets: number of subsets.
        subset_size: samples per side actually used in each subset.
    """

    mean: float
    std: float
    subsets: int
    subset_size: int


@dataclass(frozen=True)
class SubsetDraws:
    """Row indices of each subset: ``generated[i]`` and ``real[i]`` are the
    ``subset_size`` rows of subset ``i`` (each ``(subsets, subset_size)``)."""

    generated: np.ndarray
    real: np.ndarray
    n_generated: int
    n_real: int

    @property
    def subsets(self) -> int:
        return self.generated.shape[0]

    @property
    def subset_size(self) -> int:
        return self.generated.shape[1]


def default_subset_size(n_generated: int, n_real: int) -> int:
    """``min(1000, min(M, N) // 2)``: the largest subset size, up to
    torch-fidelity's 1000, that leaves the subsets different from each other.

    Raises:
        ValueError: when a side has fewer than 4 samples (naming M or N).
    """
    minimum = 2 * MIN_SUBSET_SIZE
    enough_samples("KID", "M", n_generated, minimum, what="generated samples")
    enough_samples("KID", "N", n_real, minimum, what="real samples")
    return min(MAX_SUBSET_SIZE, min(n_generated, n_real) // 2)


def resolve_subset_size(n_generated: int, n_real: int, subset_size: int | None) -> int:
    """``subset_size``, checked against both sides, or the default.

    Raises:
        ValueError: for an explicit size below 2 or above M or N (naming
            the side and the largest allowed size), or too few samples for
            the default.
    """
    if subset_size is None:
        return default_subset_size(n_generated, n_real)
    size = positive_int(subset_size, "subset_size", minimum=MIN_SUBSET_SIZE)
    for symbol, what, count in (("M", "generated", n_generated), ("N", "real", n_real)):
        if count < size:
            raise ValueError(
                f"KID with subset_size={size} needs at least {size} {what} samples ({symbol}), "
                f"got {symbol}={count}; subset_size can be at most {min(n_generated, n_real)} "
                f"here (omit it for min({MAX_SUBSET_SIZE}, min(M, N) // 2))"
            )
    return size


def draw_subsets(
    n_generated: int, n_real: int, *, subsets: int, subset_size: int | None, seed: int
) -> SubsetDraws:
    """Draw the subsets exactly as torch-fidelity does.

    One ``RandomState(seed)``; for each subset, ``choice(n_generated, s,
    replace=False)`` and then ``choice(n_real, s, replace=False)``, with
    ``s`` from :func:`resolve_subset_size`.

    Raises:
        ValueError: see :func:`resolve_subset_size`; ``subsets < 1``.
    """
    subsets = positive_int(subsets, "subsets")
    size = resolve_subset_size(n_generated, n_real, subset_size)
    rng = np.random.RandomState(seed)
    generated = np.empty((subsets, size), dtype=np.int64)
    real = np.empty((subsets, size), dtype=np.int64)
    for i in range(subsets):
        generated[i] = rng.choice(n_generated, size, replace=False)
        real[i] = rng.choice(n_real, size, replace=False)
    return SubsetDraws(generated, real, n_generated, n_real)


def indicator_matrix(indices: np.ndarray, n: int) -> np.ndarray:
    """``(n, subsets)`` float64 matrix with ``U[indices[s], s] = 1``."""
    subsets = indices.shape[0]
    matrix = np.zeros((n, subsets), dtype=np.float64)
    matrix[indices, np.arange(subsets)[:, None]] = 1.0
    return matrix


def polynomial_kernel(gram: np.ndarray, dim: int) -> np.ndarray:
    """``(gram / dim + 1)^3`` in float64, as a new array."""
    kernel = gram.astype(np.float64)
    kernel *= 1.0 / dim
    kernel += 1.0
    cube = kernel * kernel
    cube *= kernel
    return cube


class GeneratedKernelSums:
    """Per-subset sums of the generated-generated (diagonal excluded) and
    generated-real kernel values, accumulated over :class:`GramBlock` s."""

    def __init__(self, draws: SubsetDraws, dim: int) -> None:
        self._dim = dim
        self._generated = indicator_matrix(draws.generated, draws.n_generated)
        self._real = indicator_matrix(draws.real, draws.n_real)
        self.generated_sums = np.zeros(draws.subsets)
        self.cross_sums = np.zeros(draws.subsets)

    def add(self, block: GramBlock) -> None:
        """Add one block of generated rows."""
        rows = block.rows
        kernel = polynomial_kernel(block.generated, self._dim)
        local = np.arange(kernel.shape[0])
        kernel[local, rows.start + local] = 0.0
        membership = self._generated[rows]
        self.generated_sums += np.einsum("is,is->s", membership, kernel @ self._generated)
        kernel = polynomial_kernel(block.real, self._dim)
        self.cross_sums += np.einsum("is,is->s", membership, kernel @ self._real)


def self_kernel_sums(
    features: np.ndarray,
    indices: np.ndarray,
    *,
    strategy: Strategy = "auto",
    block_size: int | None = None,
) -> np.ndarray:
    """``sum_{i != j in subset} k(x_i, x_j)`` for each subset (row of
    ``indices``) of the float32 ``features``."""
    n, dim = features.shape
    subsets, size = indices.shape
    if _use_gram(
        strategy, pairs=n * n / 2, subset_pairs=subsets * size * size / 2, dim=dim, subsets=subsets
    ):
        membership = indicator_matrix(indices, n)
        sums = np.zeros(subsets)
        for rows in row_slices(n, block_rows(n, block_size)):
            # Upper block-triangle only: columns from rows.start on; the
            # off-diagonal part stands for itself and its transpose.
            kernel = polynomial_kernel(features[rows] @ features[rows.start :].T, dim)
            local = np.arange(kernel.shape[0])
            kernel[local, local] = 0.0
            width = rows.stop - rows.start
            products = kernel[:, :width] @ membership[rows]
            products += 2.0 * (kernel[:, width:] @ membership[rows.stop :])
            sums += np.einsum("is,is->s", membership[rows], products)
        return sums
    sums = np.empty(subsets)
    for s, subset in enumerate(indices):
        chosen = features[subset]
        kernel = polynomial_kernel(chosen @ chosen.T, dim)
        sums[s] = kernel.sum() - np.trace(kernel)
    return sums


def cross_kernel_sums(
    generated: np.ndarray,
    real: np.ndarray,
    draws: SubsetDraws,
    *,
    strategy: Strategy = "auto",
    block_size: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-subset generated-generated (diagonal excluded) and generated-real
    kernel sums for float32 feature matrices."""
    m, dim = generated.shape
    n = real.shape[0]
    subset_pairs = draws.subsets * draws.subset_size**2
    if _use_gram(
        strategy,
        pairs=m * m + m * n,
        subset_pairs=1.5 * subset_pairs,
        dim=dim,
        subsets=draws.subsets,
    ):
        sums = GeneratedKernelSums(draws, dim)
        for block in generated_gram_blocks(generated, real, block_size=block_size):
            sums.add(block)
        return sums.generated_sums, sums.cross_sums
    generated_sums = self_kernel_sums(generated, draws.generated, strategy="subsets")
    cross_sums = np.empty(draws.subsets)
    for s in range(draws.subsets):
        gram = generated[draws.generated[s]] @ real[draws.real[s]].T
        cross_sums[s] = polynomial_kernel(gram, dim).sum()
    return generated_sums, cross_sums


def share_generated_blocks(draws: SubsetDraws, dim: int) -> bool:
    """Whether feeding the inner products of an existing pass over
    generated blocks (e.g. the neighbour metrics') to
    :class:`GeneratedKernelSums` is cheaper than computing the generated
    subsets' kernel blocks directly with :func:`cross_kernel_sums`."""
    return _use_gram(
        "auto",
        pairs=draws.n_generated * (draws.n_generated + draws.n_real),
        subset_pairs=1.5 * draws.subsets * draws.subset_size**2,
        dim=dim,
        subsets=draws.subsets,
        inner_products_known=True,
    )


def kid_from_sums(
    generated_sums: np.ndarray, real_sums: np.ndarray, cross_sums: np.ndarray, subset_size: int
) -> KIDResult:
    """Combine per-subset kernel sums into the unbiased MMD² statistics."""
    s = subset_size
    mmd2 = (generated_sums + real_sums) / (s * (s - 1)) - 2.0 * cross_sums / (s * s)
    return KIDResult(
        mean=float(np.mean(mmd2)),
        std=float(np.std(mmd2)),
        subsets=int(mmd2.size),
        subset_size=s,
    )


def kernel_inception_distance(
    generated: np.ndarray,
    real: np.ndarray,
    *,
    subsets: int = 100,
    subset_size: int | None = None,
    seed: int = 2020,
    strategy: Strategy = "auto",
    block_size: int | None = None,
) -> KIDResult:
    """KID between ``generated`` (``M x d``) and ``real`` (``N x d``) features.

    Args:
        subsets: number of subsets (torch-fidelity default 100).
        subset_size: samples per side per subset, at most ``min(M, N)``;
            default ``min(1000, min(M, N) // 2)``. The size used is reported.
        seed: seed of the subset draws (torch-fidelity default 2020).
        strategy: ``"gram"`` (blocked full kernel matrices), ``"subsets"``
            (each subset's kernel blocks) or ``"auto"`` (the cheaper); the
            values agree to float rounding.
        block_size: rows per block in the ``"gram"`` strategy.

    Raises:
        ValueError: for NaN/inf, mismatched dimensions, ``subsets < 1``,
            ``subset_size`` below 2 or above M or N, or (default size) fewer
            than 4 samples on a side; size errors name "KID", the side's
            count and the bound.
    """
    generated = as_float32(feature_matrix(generated, "generated features"))
    real = as_float32(feature_matrix(real, "real features"))
    same_dimension(generated, real, ("generated features", "real features"))
    _check_strategy(strategy)
    draws = draw_subsets(
        generated.shape[0], real.shape[0], subsets=subsets, subset_size=subset_size, seed=seed
    )
    generated_sums, cross_sums = cross_kernel_sums(
        generated, real, draws, strategy=strategy, block_size=block_size
    )
    real_sums = self_kernel_sums(real, draws.real, strategy=strategy, block_size=block_size)
    return kid_from_sums(generated_sums, real_sums, cross_sums, draws.subset_size)


def _check_strategy(strategy: str) -> None:
    if strategy not in ("auto", "gram", "subsets"):
        raise ValueError(f"strategy must be 'auto', 'gram' or 'subsets', got {strategy!r}")


def _use_gram(
    strategy: Strategy,
    *,
    pairs: float,
    subset_pairs: float,
    dim: int,
    subsets: int,
    inner_products_known: bool = False,
) -> bool:
    """Whether the blocked full-kernel route is taken: always for ``"gram"``,
    never for ``"subsets"``; for ``"auto"`` when its multiply-adds (``dim``
    per pair for the inner product unless already known, ``subsets`` per
    pair for the indicator products) are fewer than the subsets' (``dim``
    per subset pair)."""
    if strategy != "auto":
        return strategy == "gram"
    per_pair = subsets + (0 if inner_products_known else dim)
    return pairs * per_pair < subset_pairs * dim
