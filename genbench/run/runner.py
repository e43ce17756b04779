"""Run a grid of cells through an executor, writing one record per cell as
it finishes and skipping cells that already have a matching record."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from genbench.hashing import json_sha256
from genbench.records.config import RunConfig
from genbench.records.store import is_complete, record_path, write_record
from genbench.registry import Registry
from genbench.run.executors import Executor, parse_executor
from genbench.run.grid import Cell, run_config
from genbench.run.settings import CellOutcome, RunSettings
from genbench.run.worker import execute_cell, run_on_one_thread


@dataclass
class GridReport:
    """What a grid run did: paths of records written, skipped and failed."""

    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[Path] = field(default_factory=list)


ProgressCallback = Callable[[Cell, str], None]


@dataclass(frozen=True)
class PendingCell:
    """A cell waiting to run, its configuration and its record's path."""

    cell: Cell
    config: RunConfig
    path: Path


def run_grid(
    cells: Sequence[Cell],
    settings: RunSettings,
    registry: Registry,
    *,
    executor: Executor | str = "serial",
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

    Raises:
        ExecutorSpecError: ``executor`` is a string no executor answers to.
    """
    if isinstance(executor, str):
        executor = parse_executor(executor)
    registry.use_cache_dir(Path(settings.cache_dir))
    report = GridReport()
    pending: list[PendingCell] = []
    for cell in cells:
        config = run_config(registry, cell)
        path = record_path(settings.results_dir, cell.task, cell.model, cell.budget, cell.seed)
        if not force and is_complete(path, config.hash):
            report.skipped.append(path)
            if on_done:
                on_done(cell, "skipped")
            continue
        pending.append(PendingCell(cell, config, path))
    if not pending:
        return report
    executor = executor.for_cells(len(pending))
    with executor.open() as pool:
        if executor.in_process:
            # One at a time, so each record is on disk before the next cell starts.
            for item in pending:
                future = pool.submit(run_on_one_thread, item.cell, item.config, settings, registry)
                _finish(future, item, registry, report, on_done)
            return report
        futures: dict[concurrent.futures.Future, tuple[PendingCell, list[PendingCell]]] = {}
        for leader, *followers in group_by_training(pending):
            future = pool.submit(execute_cell, leader.cell, leader.config, settings)
            futures[future] = (leader, followers)
        while futures:
            done, _ = concurrent.futures.wait(
                futures, return_when=concurrent.futures.FIRST_COMPLETED
            )
            for future in done:
                item, followers = futures.pop(future)
                _finish(future, item, registry, report, on_done)
                # The network is trained and cached now: its other rows only load it.
                for follower in followers:
                    next_future = pool.submit(
                        execute_cell, follower.cell, follower.config, settings
                    )
                    futures[next_future] = (follower, [])
    return report


def group_by_training(pending: Sequence[PendingCell]) -> list[list[PendingCell]]:
    """``pending`` grouped by the trained network they need
    (:meth:`RunConfig.training_key`), groups in order of their first cell. A
    pool runs each group's first cell alone and the rest after it, so
    parallel workers never train the same network twice."""
    groups: dict[str, list[PendingCell]] = {}
    for item in pending:
        groups.setdefault(json_sha256(item.config.training_key()), []).append(item)
    return list(groups.values())


def _finish(
    future: concurrent.futures.Future,
    item: PendingCell,
    registry: Registry,
    report: GridReport,
    on_done: ProgressCallback | None,
) -> None:
    outcome: CellOutcome = future.result()
    record = outcome.record
    if outcome.preview is not None and record.ok:
        task = registry.task(item.config.task)
        item.path.parent.mkdir(parents=True, exist_ok=True)
        written = task.save_preview(outcome.preview, item.path.with_suffix(""))
        if written is not None:
            record = record.with_preview(Path(written).name)
    write_record(item.path, record)
    (report.written if record.ok else report.failed).append(item.path)
    if on_done:
        on_done(item.cell, record.status)
