"""Check a ``log_likelihood`` hook's result before any metric sees it.

A violation raises :class:`~genbench.tasks.validation.SampleValidationError`
with what was expected and what came back; the harness turns it into a
failed run record naming the plugin and the hook.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genbench.specs import LogLikelihood
from genbench.tasks.validation import SampleValidationError


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
