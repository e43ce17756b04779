"""Executors: where the cells of a grid run.

An ``--executor`` string is parsed once, by :func:`parse_executor`, into
one of these objects:

* ``auto`` — :class:`Auto`: a process pool with one worker per usable CPU
  core (at most one per pending cell), or serial on a single core;
* ``serial`` — :class:`Serial`: cells one after another in this process
  (plugins registered in-process, e.g. by tests, are visible);
* ``process:N`` — :class:`ProcessPool` of ``N`` spawned worker processes;
* ``dask-local:N`` — :class:`DaskLocal`: a Dask ``LocalCluster`` of ``N``
  single-threaded worker processes bound to 127.0.0.1;
* ``tcp://HOST:PORT`` — :class:`DaskScheduler`: join a running scheduler.

Each has ``for_cells(n)`` (the executor to use for ``n`` pending cells),
``in_process`` and ``open()``, a context manager yielding a
:class:`concurrent.futures.Executor`. Worker processes load plugins from
entry points and ``--plugin`` files themselves, so a plugin must be
importable there.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import multiprocessing
import os
import signal
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

USAGE = "use 'auto', 'serial', 'process:N', 'dask-local:N' or 'tcp://HOST:PORT'"


class ExecutorSpecError(ValueError):
    """An ``--executor`` value genbench does not understand."""


class SerialFutures(concurrent.futures.Executor):
    """Runs each submitted call immediately in the calling thread."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any):
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class Executor(ABC):
    """A parsed ``--executor``; see the module docstring for the forms."""

    in_process: ClassVar[bool] = False
    """True when cells run in this process (they can share its registry)."""

    def for_cells(self, cells: int) -> Executor:
        """The executor to run ``cells`` pending cells on (``auto`` decides
        here; every other form is itself)."""
        return self

    @abstractmethod
    def open(self) -> contextlib.AbstractContextManager[concurrent.futures.Executor]:
        """A :class:`concurrent.futures.Executor`, shut down on exit."""


@dataclass(frozen=True)
class Serial(Executor):
    """Cells one after another in this process."""

    in_process: ClassVar[bool] = True

    def __str__(self) -> str:
        return "serial"

    @contextlib.contextmanager
    def open(self) -> Iterator[concurrent.futures.Executor]:
        yield SerialFutures()


@dataclass(frozen=True)
class ProcessPool(Executor):
    """A pool of ``workers`` spawned processes. When the body of ``open``
    raises (Ctrl-C included), queued cells are cancelled and the workers
    terminated instead of finished."""

    workers: int

    def __str__(self) -> str:
        return f"process:{self.workers}"

    @contextlib.contextmanager
    def open(self) -> Iterator[concurrent.futures.Executor]:
        pool = concurrent.futures.ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_leave_interrupts_to_the_driver,
        )
        try:
            yield pool
        except BaseException:
            _stop_now(pool)
            raise
        pool.shutdown(wait=True)


@dataclass(frozen=True)
class Auto(Executor):
    """One worker process per usable core, at most one per pending cell;
    serial when that is fewer than two."""

    def __str__(self) -> str:
        return "auto"

    def for_cells(self, cells: int) -> Executor:
        workers = min(usable_cores(), cells)
        return ProcessPool(workers) if workers >= 2 else Serial()

    @contextlib.contextmanager
    def open(self) -> Iterator[concurrent.futures.Executor]:
        with self.for_cells(usable_cores()).open() as pool:
            yield pool


@dataclass(frozen=True)
class DaskLocal(Executor):
    """A Dask ``LocalCluster`` of ``workers`` single-threaded processes on
    127.0.0.1 (needs the ``dask`` extra)."""

    workers: int

    def __str__(self) -> str:
        return f"dask-local:{self.workers}"

    @contextlib.contextmanager
    def open(self) -> Iterator[concurrent.futures.Executor]:
        distributed = _import_distributed()
        with (
            distributed.LocalCluster(
                n_workers=self.workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            yield client.get_executor()


@dataclass(frozen=True)
class DaskScheduler(Executor):
    """A running Dask scheduler at ``address`` (``tcp://HOST:PORT``)."""

    address: str

    def __str__(self) -> str:
        return self.address

    @contextlib.contextmanager
    def open(self) -> Iterator[concurrent.futures.Executor]:
        distributed = _import_distributed()
        with distributed.Client(self.address) as client:
            yield client.get_executor()


def parse_executor(spec: str) -> Executor:
    """The executor an ``--executor`` string names (checked before any work
    starts; Dask's import is not).

    Raises:
        ExecutorSpecError: an unknown form or a worker count below 1.
    """
    if spec == "auto":
        return Auto()
    if spec == "serial":
        return Serial()
    if spec.startswith("tcp://"):
        return DaskScheduler(spec)
    kind, _, arg = spec.partition(":")
    if kind == "process":
        return ProcessPool(_positive_int(arg, spec))
    if kind == "dask-local":
        return DaskLocal(_positive_int(arg, spec))
    raise ExecutorSpecError(f"unknown executor {spec!r}; {USAGE}")


def _leave_interrupts_to_the_driver() -> None:
    """Worker initializer: ignore SIGINT. A terminal's Ctrl-C reaches the
    whole process group; the driver alone decides what stops."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _stop_now(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    """Cancel the cells not started and end the workers at once, instead of
    letting ``shutdown`` wait for every submitted cell. Cells in progress are
    lost; their records were never written, so a re-run computes them."""
    # The worker processes are not public before Python 3.14's
    # terminate_workers(); shutdown() drops the mapping, so take it first.
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(timeout=10)


def _positive_int(text: str, spec: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ExecutorSpecError(
            f"executor {spec!r} needs a positive worker count, e.g. 'process:2'"
        )
    return value


def _import_distributed():
    try:
        import distributed
    except ImportError as exc:
        raise ExecutorSpecError(
            "Dask executors need the 'dask' extra: pip install 'genbench[dask]'"
        ) from exc
    return distributed
