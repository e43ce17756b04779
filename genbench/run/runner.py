"""Run a grid of cells through an executor, writing one record per cell as
it finishes and skipping cells that already have a matching record.

Before a cell runs, this process claims it (a lock file beside its record,
see :mod:`genbench.records.store`); a second ``genbench run`` on the same
results directory waits for the cells the first has claimed instead of
computing them again."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from genbench.defaults import CLAIM_POLL_S
from genbench.devices import accelerator_slots
from genbench.hashing import json_sha256
from genbench.records.config import RunConfig
from genbench.records.record import SampleStrip
from genbench.records.store import (
    claim,
    is_claimed_by_other,
    is_complete,
    record_path,
    release,
    write_record,
)
from genbench.registry import Registry
from genbench.run.executors import Executor, ProcessPool, parse_executor
from genbench.run.grid import Cell, run_config
from genbench.run.hooks import process_is_clean
from genbench.run.settings import CellOutcome, RunSettings, StripSamples
from genbench.run.worker import execute_cell, run_on_one_thread
from genbench.tasks.base import Task


@dataclass
class GridReport:
    """What a grid run did: paths of records written, skipped and failed."""

    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[Path] = field(default_factory=list)
    waited: list[Path] = field(default_factory=list)
    """Cells another run had claimed, whose record this run waited for."""
    moved_to_worker: bool = False
    """A serial run moved its remaining cells to a worker process after a
    hook that could not be stopped timed out."""


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
    retrain: bool = False,
    on_done: ProgressCallback | None = None,
) -> GridReport:
    """Evaluate ``cells``; return what was written, skipped and failed.

    In a worker pool, the cells that share a trained network start only
    after the first of them has finished (see :func:`group_by_training`).

    A cell whose record already exists with the same configuration hash and
    ``status: ok`` is skipped unless ``force``. ``retrain`` ignores cached
    checkpoints: the first cell of each trained network trains it again
    (the others load what it saved). Records are written by this (driver)
    process as each cell finishes, atomically, so an interrupted grid keeps
    every finished cell and a re-run resumes where it stopped.

    Each pending cell is claimed first; cells another live process has
    claimed are left to it, and their records awaited (a cell whose claim
    disappears without a record is computed here). ``on_done(cell, status)``
    is called per cell with ``ok``, ``failed`` or ``skipped``.

    A serial grid runs in this process; when a hook times out and cannot be
    interrupted (stuck in native code), its remaining cells move to a fresh
    worker process (which loads plugins from entry points and
    ``settings.plugin_files``).

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
            _skipped(report, cell, path, on_done)
            continue
        pending.append(PendingCell(cell, config, path))
    if not pending:
        return report
    retrain_first = {id(group[0]) for group in group_by_training(pending)} if retrain else set()
    ours: list[PendingCell] = []
    try:
        waiting = []
        for item in pending:
            (ours if claim(item.path) else waiting).append(item)
        _run_claimed(ours, settings, registry, executor, retrain_first, report, on_done)
        while waiting:
            time.sleep(CLAIM_POLL_S)
            still, freed = [], []
            for item in waiting:
                if is_claimed_by_other(item.path):
                    still.append(item)
                elif is_complete(item.path, item.config.hash):
                    report.waited.append(item.path)
                    _skipped(report, item.cell, item.path, on_done)
                elif claim(item.path):
                    ours.append(item)
                    freed.append(item)
                else:
                    still.append(item)
            _run_claimed(freed, settings, registry, executor, retrain_first, report, on_done)
            waiting = still
    finally:
        for item in ours:
            release(item.path)
    return report


def _run_claimed(
    items: list[PendingCell],
    settings: RunSettings,
    registry: Registry,
    executor: Executor,
    retrain_first: set[int],
    report: GridReport,
    on_done: ProgressCallback | None,
) -> None:
    if not items:
        return
    executor = executor.for_cells(len(items), accelerator_slots(settings.device))
    if executor.in_process:
        remaining = list(items)
        with executor.open() as pool:
            # One at a time, so each record is on disk before the next cell starts.
            while remaining and process_is_clean():
                item = remaining.pop(0)
                future = pool.submit(
                    run_on_one_thread,
                    item.cell,
                    item.config,
                    settings,
                    registry,
                    id(item) in retrain_first,
                )
                _finish(future, item, registry, report, on_done)
        if not remaining:
            return
        # A hook that could not be interrupted still runs in this process:
        # it must not slow or time out the next cells, so they move out.
        report.moved_to_worker = True
        executor = ProcessPool(1)
        items = remaining
    with executor.open() as pool:
        futures: dict[concurrent.futures.Future, tuple[PendingCell, list[PendingCell]]] = {}
        for leader, *followers in group_by_training(items):
            future = pool.submit(
                execute_cell, leader.cell, leader.config, settings, id(leader) in retrain_first
            )
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
                        execute_cell,
                        follower.cell,
                        follower.config,
                        settings,
                        id(follower) in retrain_first,
                    )
                    futures[next_future] = (follower, [])


def _skipped(report: GridReport, cell: Cell, path: Path, on_done: ProgressCallback | None) -> None:
    report.skipped.append(path)
    if on_done:
        on_done(cell, "skipped")


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
        record = record.with_strips(_save_strips(task, outcome.strips, item.path))
    write_record(item.path, record)
    release(item.path)
    (report.written if record.ok else report.failed).append(item.path)
    if on_done:
        on_done(item.cell, record.status)


def _save_strips(task: Task, strips: dict[str, StripSamples], path: Path) -> dict[str, SampleStrip]:
    """Write each strip beside the record at ``path`` (``<stem>-most-realistic.png``
    and so on, in the task's preview format) and describe what was written."""
    saved = {}
    for name, strip in strips.items():
        stem = path.with_name(f"{path.stem}-{name.replace('_', '-')}")
        written = task.save_preview(strip.samples, stem)
        if written is not None:
            saved[name] = SampleStrip(Path(written).name, strip.score, strip.values)
    return saved
