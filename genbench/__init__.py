"""genbench: compare generative models side by side.

The public surface for plugin authors is small: decorate hook
implementations with :data:`hookimpl`, describe models with
:class:`ModelSpec`, and return log-likelihoods as :class:`LogLikelihood`.
"""

import pluggy

from genbench.specs import BUDGETS, CAPABILITIES, Condition, LogLikelihood, ModelSpec

__version__ = "0.1.0"

PROJECT_NAME = "genbench"

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marker for hook implementations in a genbench plugin."""


def seed32(seed: int) -> int:
    """A seed handed to a hook (an ``int`` in ``[0, 2**63)``) folded into
    ``[0, 2**32)``: ``seed % 2**32``, for libraries that reject larger
    seeds (scikit-learn's ``random_state``, ``numpy.random.seed``)."""
    return int(seed) % 2**32


__all__ = [
    "BUDGETS",
    "CAPABILITIES",
    "PROJECT_NAME",
    "Condition",
    "LogLikelihood",
    "ModelSpec",
    "__version__",
    "hookimpl",
    "seed32",
]
