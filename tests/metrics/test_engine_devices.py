"""The metric engine's inner-product blocks on a torch device: computed by
torch (here on the CPU, the only device tests have), every neighbour count
equals numpy's exactly and KID agrees to rounding; numpy stays the path
when no device is given."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genbench.metrics.engine import prepare_reference, score_samples
from genbench.metrics.pairwise import generated_gram_blocks, screening_tolerance

COUNTS = ("precision", "recall", "density", "coverage")


@pytest.mark.parametrize("dim", [2, 24])  # float64 screening up to 16 dimensions, float32 above
def test_torch_blocks_give_the_same_counts_and_kid_to_rounding(dim):
    rng = np.random.default_rng(dim)
    centre = 5.0 * np.ones(dim)  # far from the origin: screening leaves pairs to recheck
    real = (centre + rng.standard_normal((300, dim))).astype(np.float32)
    generated = (centre + 1.1 * rng.standard_normal((200, dim))).astype(np.float32)
    reference = prepare_reference(real, real[:150])
    numpy_scores = score_samples(reference, generated, resamples=20, block_size=64)
    torch_scores = score_samples(reference, generated, resamples=20, block_size=64, device="cpu")
    for name in COUNTS:
        assert torch_scores.values[name] == numpy_scores.values[name], name
        assert torch_scores.intervals[name] == numpy_scores.intervals[name], name
    assert torch_scores.values["kid_mean"] == pytest.approx(
        numpy_scores.values["kid_mean"], rel=1e-5, abs=1e-9
    )
    assert torch_scores.values["fid"] == numpy_scores.values["fid"]  # float64, on the CPU


def test_torch_blocks_match_numpy_blocks_and_leave_the_precision_setting_alone():
    rng = np.random.default_rng(0)
    generated = rng.standard_normal((50, 8)).astype(np.float32)
    real = rng.standard_normal((30, 8)).astype(np.float32)
    torch.set_float32_matmul_precision("high")
    try:
        pairs = zip(
            generated_gram_blocks(generated, real, block_size=16),
            generated_gram_blocks(generated, real, block_size=16, device="cpu"),
            strict=True,
        )
        for numpy_block, torch_block in pairs:
            assert torch.get_float32_matmul_precision() == "highest"  # no TF32 inside
            assert numpy_block.rows == torch_block.rows
            # both within the inner-product rounding bound gamma_d |x| |y| the
            # distance screen assumes (a relative tolerance fails on entries
            # near 0, where the terms cancel)
            for theirs, ours, right in (
                (torch_block.generated, numpy_block.generated, generated),
                (torch_block.real, numpy_block.real, real),
            ):
                norms = np.outer(
                    np.linalg.norm(generated[numpy_block.rows], axis=1),
                    np.linalg.norm(right, axis=1),
                )
                bound = 2 * screening_tolerance(8, np.dtype(np.float32)) * norms
                assert np.all(np.abs(theirs - ours) <= bound)
            assert not torch_block.real.flags.writeable
        assert torch.get_float32_matmul_precision() == "high"
    finally:
        torch.set_float32_matmul_precision("highest")
