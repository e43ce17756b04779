"""What a worker process does before and around a run: build its plugin
registry once, pick its device, and run each cell on one thread."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from pathlib import Path

import torch
from threadpoolctl import threadpool_limits

from genbench.devices import cuda_count, place
from genbench.plugins import get_plugin_manager
from genbench.records.config import RunConfig
from genbench.registry import Registry
from genbench.run.grid import Cell
from genbench.run.harness import run_cell
from genbench.run.settings import CellOutcome, RunSettings


@functools.cache
def worker_registry(plugin_files: tuple[str, ...], cache_dir: Path) -> Registry:
    """The registry of a worker process, built once per set of plugin files
    and cache, its tasks caching what they build under ``cache_dir``."""
    registry = Registry(get_plugin_manager(plugin_files))
    registry.use_cache_dir(cache_dir)
    return registry


SLOT_ENV = "GENBENCH_WORKER_SLOT"
"""Set by a process pool in each worker: the worker's index (0, 1...)."""


def worker_slot() -> int | None:
    """This worker's index in its pool: ``$GENBENCH_WORKER_SLOT`` in a
    process pool, the worker's name in a Dask ``LocalCluster`` (0, 1...), or
    ``None`` (this process, or a Dask worker without a numeric name)."""
    if os.environ.get(SLOT_ENV, "").isdigit():
        return int(os.environ[SLOT_ENV])
    try:
        from distributed import get_worker

        name = get_worker().name
    except (ImportError, ValueError):
        return None
    return name if isinstance(name, int) and name >= 0 else None


def worker_device(device: str) -> str:
    """The device this process computes on for the run setting ``device``:
    with ``cuda``, worker ``k`` of a pool takes GPU ``k`` modulo the visible
    GPUs (one worker per GPU, see :func:`genbench.devices.place`); any
    other setting is the same for every worker."""
    if device != "cuda":
        return device
    return place(device, worker_slot(), cuda_count())


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run torch and the BLAS libraries on one thread inside the block; the
    previous torch setting is restored on exit."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(previous)


def run_on_one_thread(
    cell: Cell,
    config: RunConfig,
    settings: RunSettings,
    registry: Registry,
    retrain: bool = False,
) -> CellOutcome:
    """Run one cell on one thread (see :func:`one_thread`) and on this
    worker's device (:func:`worker_device`); never raises for a plugin's
    fault. On an accelerator the one CPU thread only feeds the device.

    Every executor runs cells this way, so a serial run and a worker pool
    reduce floating-point sums in the same order; on a small machine it also
    keeps torch's idle OpenMP threads from spinning on the cores the other
    workers use (measured: a RealNVP fit took 176 s of wall time instead of
    about 35 s with a second worker running).
    """
    device = worker_device(settings.device)
    with one_thread():
        return run_cell(cell, config, settings, registry, retrain=retrain, device=device)


def execute_cell(
    cell: Cell, config: RunConfig, settings: RunSettings, retrain: bool = False
) -> CellOutcome:
    """Entry point for process-pool and Dask workers: build (once) this
    process's plugin registry from ``settings`` and run the cell on one
    thread."""
    registry = worker_registry(settings.plugin_files, Path(settings.cache_dir))
    return run_on_one_thread(cell, config, settings, registry, retrain)
