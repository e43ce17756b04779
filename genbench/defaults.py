"""genbench's defaults in one place: timeouts, sample counts, caches and
the default grid. Everything that a user can override elsewhere starts
from here."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "GENBENCH_CACHE_DIR"
"""Environment variable naming the cache root."""

DEFAULT_TASKS: tuple[str, ...] = ("image/mnist", "toy/ring8", "toy/grid25")
"""Tasks ``genbench run`` evaluates when none are named: the embedded image
default and the two mode-collapse testbeds."""

DEFAULT_SEEDS = 3
"""Seeds per model and task when none are asked for."""

DEFAULT_BUDGET = "default"
"""The budget ``genbench run`` trains at when none is asked for."""

HOOK_TIMEOUT_S = 3600.0
"""Seconds one work hook (``fit``, ``sample``...) may run before the run fails."""

HOOK_STOP_GRACE_S = 2.0
"""Seconds a timed-out hook is given to stop once interrupted; one still
running after that is stuck in native code and its process is replaced."""

CLAIM_POLL_S = 1.0
"""Seconds between looks at a cell another run has claimed (``genbench run``
waits for its record instead of computing it twice)."""

MODEL_INFO_TIMEOUT_S = 60.0
"""Seconds the ``model_info`` hook may take (it only reports facts)."""

PREVIEW_SAMPLES = 64
"""Generated samples kept per run for the leaderboard's preview."""

STRIP_SAMPLES = 8
"""Generated samples in each of a run's two strips: its most and its least
realistic samples by realism score."""

GUIDANCE_SCALES: tuple[float, ...] = (0.0, 1.0, 2.0, 4.0)
"""Classifier-free guidance scales ``w`` at which the harness samples a
model declaring ``conditional_sample`` on a task with classes: ``0`` is the
unconditional model, ``1`` the conditional one, above ``1`` guided."""

PREPARED_REFERENCES_PER_PROCESS = 8
"""Prepared references (real-side statistics) a process keeps in memory,
oldest dropped first."""

REGRESSION_K_STD = 3.0
"""``genbench check``: allowed worsening in baseline standard deviations."""

REGRESSION_RELATIVE = 0.05
"""``genbench check``: relative floor of the allowed worsening."""

REGRESSION_ABSOLUTE = 1e-3
"""``genbench check``: absolute floor of the allowed worsening."""

REGRESSION_ALPHA = 0.05
"""``genbench check``: level of the test that must also reject before a
worsening beyond tolerance counts as a regression."""


def default_cache_dir() -> Path:
    """``$GENBENCH_CACHE_DIR`` if set, else ``~/.cache/genbench``: holds
    checkpoints, features, prepared references and synthesised datasets."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "genbench")
