"""Run a grid of cells through an executor, writing one record per cell as
it finishes and skipping cells that already have a matching record."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genbench.executors import (
    check_executor_spec,
    is_in_process,
    open_executor,
    resolve_executor,
)
from genbench.grid import Cell, cell_config
from genbench.harness import CellOutcome, RunSettings, execute_cell, run_cell
from genbench.registry import Registry
from genbench.results import config_hash, is_complete, record_path, write_record


@dataclass
class GridReport:
    """What a grid run did: paths of records written, skipped and failed."""

    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[Path] = field(default_factory=list)


ProgressCallback = Callable[[Cell, str], None]

_Pending = tuple[Cell, dict[str, Any], Path]
"""A cell waiting to run, its configuration and its record's path."""


def run_grid(
    cells: Sequence[Cell],
    settings: RunSettings,
    registry: Registry,
    *,
    executor: str = "serial",
    force: bool = False,
    on_done: ProgressCallback | None = None,
) -> GridReport:
    """Evaluate ``cells``; return what was written, skipped and failed.

    In a worker pool, the cells that share a trained network start only
    after the first of them has finished (see :func:`group_by_training`).

    A cell whose record already exists with the same configuration hash and
    ``status: ok`` is skipped unless ``force``. Records are written by this
    (driver) process as each cell finishes, atomically, so an interrupted
    grid keeps every finished cell and a re-run resumes where it stopped.
    ``on_done(cell, status)`` is called per cell with ``ok``, ``failed`` or
    ``skipped``.
    """
    check_executor_spec(executor)
    report = GridReport()
    pending: list[tuple[Cell, dict[str, Any], Path]] = []
    for cell in cells:
        config = cell_config(registry, cell)
        path = record_path(settings.results_dir, cell.task, cell.model, cell.budget, cell.seed)
        if not force and is_complete(path, config_hash(config)):
            report.skipped.append(path)
            if on_done:
                on_done(cell, "skipped")
            continue
        pending.append((cell, config, path))
    if not pending:
        return report
    executor = resolve_executor(executor, len(pending))
    with open_executor(executor) as pool:
        if is_in_process(executor):
            # One at a time, so each record is on disk before the next cell starts.
            for cell, config, path in pending:
                future = pool.submit(run_cell, cell, config, settings, registry)
                _finish(future, cell, path, registry, report, on_done)
            return report
        futures: dict[concurrent.futures.Future, tuple[Cell, Path, list[_Pending]]] = {}
        for leader, *followers in group_by_training(pending):
            cell, config, path = leader
            futures[pool.submit(execute_cell, cell, config, settings)] = (cell, path, followers)
        while futures:
            done, _ = concurrent.futures.wait(
                futures, return_when=concurrent.futures.FIRST_COMPLETED
            )
            for future in done:
                cell, path, followers = futures.pop(future)
                _finish(future, cell, path, registry, report, on_done)
                # The network is trained and cached now: its other rows only load it.
                for next_cell, next_config, next_path in followers:
                    next_future = pool.submit(execute_cell, next_cell, next_config, settings)
                    futures[next_future] = (next_cell, next_path, [])
    return report


def training_key(config: dict[str, Any]) -> tuple[str, str, str, int]:
    """What identifies the trained network a cell needs: the model it trains
    as, the task, the budget and the fit seed. Cells with the same key share
    one checkpoint (a DDIM row and its DDPM row, the decoding rows of one
    language model)."""
    return (config["model"]["trains_as"], config["task"], config["budget"], config["seeds"]["fit"])


def group_by_training(pending: Sequence[_Pending]) -> list[list[_Pending]]:
    """``pending`` grouped by :func:`training_key`, groups in order of their
    first cell. A pool runs each group's first cell alone and the rest after
    it, so parallel workers never train the same network twice."""
    groups: dict[tuple[str, str, str, int], list[_Pending]] = {}
    for item in pending:
        groups.setdefault(training_key(item[1]), []).append(item)
    return list(groups.values())


def _finish(
    future: concurrent.futures.Future,
    cell: Cell,
    path: Path,
    registry: Registry,
    report: GridReport,
    on_done: ProgressCallback | None,
) -> None:
    outcome: CellOutcome = future.result()
    _store(outcome, path, registry)
    status = outcome.record["status"]
    (report.written if status == "ok" else report.failed).append(path)
    if on_done:
        on_done(cell, status)


def _store(outcome: CellOutcome, path: Path, registry: Registry) -> None:
    record = outcome.record
    if outcome.preview is not None and record["status"] == "ok":
        task = registry.task(record["config"]["task"])
        path.parent.mkdir(parents=True, exist_ok=True)
        written = task.save_preview(outcome.preview, path.with_suffix(""))
        if written is not None:
            record["preview"] = Path(written).name
    write_record(path, record)
