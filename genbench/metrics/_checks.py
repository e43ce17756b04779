"""Input checks shared by the metric functions (private).

Every public metric validates its arrays here so that the same mistake gets
the same message everywhere.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def finite_array(x: Any, name: str) -> np.ndarray:
    """``x`` as a real-valued numeric array with no NaN or infinity.

    Raises:
        TypeError: when ``x`` is not real-valued numeric data.
        ValueError: naming the first non-finite position.
    """
    array = np.asarray(x)
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number):
        raise TypeError(f"{name} must be a real-valued numeric array, got dtype {array.dtype}")
    if np.iscomplexobj(array):
        raise TypeError(f"{name} must be real-valued, got dtype {array.dtype}")
    if np.issubdtype(array.dtype, np.floating):
        bad = ~np.isfinite(array)
        if bad.any():
            position = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"{name} contains NaN or infinite values (first at index {position})")
    return array


def feature_matrix(x: Any, name: str, *, min_rows: int = 1) -> np.ndarray:
    """``x`` as a finite 2-D ``samples x features`` array with at least
    ``min_rows`` rows and one column."""
    array = finite_array(x, name)
    if array.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array (samples x features), got shape {array.shape}"
        )
    if array.shape[1] == 0:
        raise ValueError(f"{name} has no feature columns")
    if array.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} samples, got {array.shape[0]}")
    return array


def same_dimension(a: np.ndarray, b: np.ndarray, names: tuple[str, str]) -> None:
    """Raise ``ValueError`` unless the two feature matrices have equal width."""
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"{names[0]} and {names[1]} have different feature dimensions: "
            f"{a.shape[1]} vs {b.shape[1]}"
        )


def positive_int(value: Any, name: str, *, minimum: int = 1) -> int:
    """``value`` as an ``int`` of at least ``minimum`` (bools rejected)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def enough_samples(
    metric: str, symbol: str, count: int, minimum: int, *, what: str = "samples"
) -> None:
    """Raise ``ValueError`` unless ``count >= minimum``, with a message that
    names the metric, the count and the minimum, e.g. ``"KID needs at least
    4 generated samples (M), got M=3"``.

    Args:
        metric: the metric's name as a reader knows it (``"KID"``).
        symbol: the count's symbol (``"N"`` real, ``"M"`` generated).
        count: how many samples were given.
        minimum: the smallest count the metric's definition allows.
        what: what is counted (``"generated samples"``).
    """
    if count < minimum:
        raise ValueError(
            f"{metric} needs at least {minimum} {what} ({symbol}), got {symbol}={count}"
        )
