"""Check what plugins return before any metric sees it.

Every check raises :class:`~genbench.tasks.base.SampleValidationError` with
a message that says what was expected and what came back; the harness turns
it into a failed run record naming the plugin and the hook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from genbench.specs import LogLikelihood
from genbench.tasks.base import SampleValidationError

if TYPE_CHECKING:
    from genbench.tasks.base import Task

_TENSOR_DTYPES = {"image": torch.uint8, "toy": torch.float32, "audio": torch.float32}


def validate_format(task: Task, x: Any, n: int) -> Any:
    """Validate ``n`` examples in ``task``'s data format (see
    :mod:`genbench.hookspecs`); return them as a CPU tensor (or list of
    strings for text)."""
    if task.modality == "text":
        return _validate_strings(x, n)
    return _validate_tensor(task, x, n)


def _validate_tensor(task: Task, x: Any, n: int) -> torch.Tensor:
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


def _validate_strings(x: Any, n: int) -> list[str]:
    if not isinstance(x, (list, tuple)):
        raise SampleValidationError(f"expected a list of {n} strings, got {type(x).__name__}")
    if len(x) != n:
        raise SampleValidationError(f"expected {n} strings, got {len(x)}")
    for i, item in enumerate(x):
        if not isinstance(item, str):
            raise SampleValidationError(
                f"expected a list of strings, item {i} is {type(item).__name__}"
            )
    return list(x)


def validate_log_likelihood(result: Any, n: int, *, discrete: bool) -> LogLikelihood:
    """Check a ``log_likelihood`` hook result for ``n`` examples.

    For discrete data a log-probability must be ``<= 0`` (a small positive
    rounding error up to 1e-6 nats is tolerated).
    """
    if not isinstance(result, LogLikelihood):
        raise SampleValidationError(
            f"log_likelihood must return genbench.LogLikelihood, got {type(result).__name__}"
        )
    nats = result.nats
    if nats.shape != (n,):
        raise SampleValidationError(
            f"log_likelihood must give one value per example, shape ({n},); got {nats.shape}"
        )
    if not np.isfinite(nats).all():
        raise SampleValidationError(
            f"log_likelihood returned {int((~np.isfinite(nats)).sum())} non-finite values"
        )
    if discrete and (nats > 1e-6).any():
        raise SampleValidationError(
            "log_likelihood returned positive log-probabilities for discrete data "
            f"(max {float(nats.max()):.4g} nats): a probability cannot exceed 1"
        )
    return result
