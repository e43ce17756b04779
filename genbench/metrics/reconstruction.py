"""Reconstruction error of encode-decode models (VAEs and kin).

* Discrete data with ``levels`` per dimension (8-bit images: 256): values are
  mapped to ``[0, 1]`` by dividing by ``levels - 1``; ``recon_mse`` is the
  mean squared error over all entries on that scale and ``recon_psnr`` the
  mean over examples of ``10 log10(1 / MSE_i)`` (peak 1), in dB.
* Continuous data (``levels=None``): ``recon_mse`` on the data's own scale;
  no PSNR (there is no peak).

A perfect reconstruction has infinite PSNR, which JSON cannot hold: each
example's PSNR is capped at :data:`PSNR_CAP_DB` (100 dB, an MSE of 1e-10,
far below the 1/(levels-1)² step of any discrete data).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genbench.metrics._checks import finite_array, positive_int

PSNR_CAP_DB = 100.0


def reconstruction_metrics(x: Any, x_hat: Any, *, levels: int | None) -> dict[str, float]:
    """``recon_mse`` and, for discrete data, ``recon_psnr`` of ``x_hat``
    against ``x``.

    Args:
        x: ``(N, ...)`` originals; numpy arrays or CPU tensors.
        x_hat: reconstructions of the same shape.
        levels: discrete levels per dimension (values must lie in
            ``[0, levels - 1]``), or ``None`` for continuous data.

    Raises:
        ValueError: for NaN/inf, shape mismatch, no examples, or values
            outside ``[0, levels - 1]``.
    """
    original = finite_array(x, "x").astype(np.float64)
    reconstructed = finite_array(x_hat, "x_hat").astype(np.float64)
    if original.shape != reconstructed.shape:
        raise ValueError(
            f"x_hat must have the shape of x: got {reconstructed.shape} vs {original.shape}"
        )
    if original.ndim == 0 or original.shape[0] == 0 or original.size == 0:
        raise ValueError(f"x must hold at least one non-empty example, got shape {original.shape}")
    if levels is None:
        return {"recon_mse": float(np.mean((original - reconstructed) ** 2))}
    levels = positive_int(levels, "levels", minimum=2)
    peak = levels - 1
    for name, array in (("x", original), ("x_hat", reconstructed)):
        if array.min() < 0 or array.max() > peak:
            raise ValueError(
                f"{name} has values in [{array.min():g}, {array.max():g}], "
                f"outside [0, {peak}] for {levels} levels"
            )
    squared = ((original - reconstructed) / peak) ** 2
    per_example = squared.reshape(squared.shape[0], -1).mean(axis=1)
    with np.errstate(divide="ignore"):
        psnr = np.minimum(-10.0 * np.log10(per_example), PSNR_CAP_DB)
    return {"recon_mse": float(per_example.mean()), "recon_psnr": float(psnr.mean())}
