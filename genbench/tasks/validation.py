"""Check what plugins return before any metric sees it.

Every check raises :class:`~genbench.tasks.base.SampleValidationError` with
a message that says what was expected and what came back; the harness turns
it into a failed run record naming the plugin and the hook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from genbench.tasks.base import Task


class SampleValidationError(ValueError):
    """What a plugin returned does not match the task's data format."""


_TENSOR_DTYPES = {"image": torch.uint8, "toy": torch.float32, "audio": torch.float32}


def validate_text_samples(x: Any, n: int) -> list[str]:
    """``x`` must be a list (not a tuple) of ``n`` non-empty ``str`` without
    NUL characters; returns it. A text task adds its own vocabulary and
    length checks on top."""
    if not isinstance(x, list):
        raise SampleValidationError(f"text samples must be a list of str, got {type(x).__name__}")
    if len(x) != n:
        raise SampleValidationError(f"expected {n} text samples, got {len(x)}")
    for i, text in enumerate(x):
        if not isinstance(text, str):
            raise SampleValidationError(f"text sample {i} must be a str, got {type(text).__name__}")
        if not text:
            raise SampleValidationError(f"text sample {i} is empty")
        if "\x00" in text:
            raise SampleValidationError(f"text sample {i} contains a NUL character")
    return x


def validate_tensor_samples(task: Task, x: Any, n: int) -> torch.Tensor:
    """``x`` must be ``n`` examples in ``task``'s tensor format (see
    :mod:`genbench.hookspecs`): shape, dtype, finiteness, audio peak and
    discrete levels are checked. Returns a CPU tensor (a numpy array is
    converted)."""
    expected_dtype = _TENSOR_DTYPES[task.modality]
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise SampleValidationError(
            f"expected a torch.Tensor of {n} {task.modality} examples, got {type(x).__name__}"
        )
    x = x.detach().cpu()
    expected_shape = (n, *task.example_shape)
    if tuple(x.shape) != expected_shape:
        raise SampleValidationError(f"expected shape {expected_shape}, got {tuple(x.shape)}")
    if x.dtype != expected_dtype:
        raise SampleValidationError(f"expected dtype {expected_dtype}, got {x.dtype}")
    if x.is_floating_point():
        bad = ~torch.isfinite(x)
        if bad.any():
            n_nan = int(torch.isnan(x).sum())
            n_inf = int(bad.sum()) - n_nan
            raise SampleValidationError(f"samples contain {n_nan} NaN and {n_inf} infinite values")
    if task.modality == "audio" and x.numel() and float(x.abs().max()) > 1.0:
        raise SampleValidationError(
            f"audio samples must lie in [-1, 1], found peak {float(x.abs().max()):.4g}"
        )
    if task.levels is not None and not x.is_floating_point() and x.numel():
        top = int(x.max())
        if top > task.levels - 1 or int(x.min()) < 0:
            raise SampleValidationError(
                f"values must lie in [0, {task.levels - 1}] ({task.levels} levels), "
                f"found [{int(x.min())}, {top}]"
            )
    return x
