"""How runs execute (identical on every worker) and what one run hands back
to the driver."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genbench.defaults import HOOK_TIMEOUT_S
from genbench.records.record import RunRecord


@dataclass(frozen=True)
class RunSettings:
    """Where and how runs execute; identical on every worker.

    Attributes:
        results_dir: records are written here (by the driver).
        cache_dir: checkpoints, features and synthesised data are cached
            here (by workers).
        hook_timeout: seconds one hook call may take before the run fails.
        plugin_files: plugin ``.py`` files every worker loads.
        device: a resolved device string (:func:`genbench.devices.resolve_device`):
            ``cpu``, ``mps``, ``cuda:N``, or ``cuda`` for one worker per
            visible GPU (:func:`genbench.devices.place`).
    """

    results_dir: Path
    cache_dir: Path
    hook_timeout: float | None = HOOK_TIMEOUT_S
    plugin_files: tuple[str, ...] = ()
    device: str = "cpu"


@dataclass(frozen=True)
class StripSamples:
    """Generated samples picked by a per-sample score, for a strip.

    Attributes:
        samples: the samples, in the task's format, in strip order.
        score: the name of the per-sample score (e.g. ``realism``).
        values: the score of each sample.
    """

    samples: Any
    score: str
    values: tuple[float, ...]


@dataclass(frozen=True)
class CellOutcome:
    """What a run returns to the driver: its record, a few samples for the
    leaderboard's preview (``None`` when the run failed) and its sample
    strips (``most_realistic``, ``least_realistic``; empty when the run
    failed or had no per-sample scores)."""

    record: RunRecord
    preview: Any = None
    strips: dict[str, StripSamples] = field(default_factory=dict)
