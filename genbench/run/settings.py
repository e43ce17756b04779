"""How runs execute (identical on every worker) and what one run hands back
to the driver."""

from __future__ import annotations

from dataclasses import dataclass
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
class CellOutcome:
    """What a run returns to the driver: its record and a few samples for
    the leaderboard's preview (``None`` when the run failed)."""

    record: RunRecord
    preview: Any = None
