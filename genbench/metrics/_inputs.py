"""Input checks shared by the newer sample metrics (private): a kernel
bandwidth, and a sample count with a message naming the metric, the count
and the minimum."""

from __future__ import annotations

import math

import numpy as np


def check_bandwidth(sigma: float, metric: str) -> float:
    """``sigma`` as a positive finite float.

    Raises:
        TypeError: when ``sigma`` is not a number.
        ValueError: for 0, a negative number, NaN or infinity, naming
            ``metric`` and the value given.
    """
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float, np.integer, np.floating)):
        raise TypeError(f"{metric}: kernel bandwidth sigma must be a number, got {sigma!r}")
    value = float(sigma)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(
            f"{metric}: kernel bandwidth sigma must be a positive finite number, "
            f"got sigma={sigma!r}"
        )
    return value


def enough_samples(
    metric: str, symbol: str, count: int, minimum: int, *, what: str = "samples"
) -> None:
    """Raise ``ValueError`` unless ``count >= minimum``, e.g. ``"MMD needs at
    least 2 generated samples (M), got M=1"``."""
    if count < minimum:
        raise ValueError(
            f"{metric} needs at least {minimum} {what} ({symbol}), got {symbol}={count}"
        )
