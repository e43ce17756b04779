"""Executors behind :class:`concurrent.futures.Executor`.

Spec strings (``--executor``):

* ``auto`` — ``process:N`` with one worker per usable CPU core (at most one
  per pending cell), ``serial`` on a single core (the CLI's default);
* ``serial`` — run cells one after another in this process (plugins
  registered in-process, e.g. by tests, are visible);
* ``process:N`` — a pool of ``N`` spawned worker processes;
* ``dask-local:N`` — a Dask ``LocalCluster`` of ``N`` single-threaded worker
  processes bound to 127.0.0.1;
* ``tcp://HOST:PORT`` — join an existing Dask scheduler.

Worker processes load plugins from entry points and ``--plugin`` files
themselves, so a plugin must be importable there.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator
from typing import Any


class ExecutorSpecError(ValueError):
    """An ``--executor`` value genbench does not understand."""


class SerialExecutor(concurrent.futures.Executor):
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


def resolve_executor(spec: str, cells: int) -> str:
    """``spec`` with ``auto`` replaced by a concrete executor for ``cells``
    pending cells: ``process:N`` with ``N = min(cores, cells)`` when that is
    at least 2, else ``serial``. Other specs are returned unchanged."""
    if spec != "auto":
        return spec
    workers = min(usable_cores(), cells)
    return f"process:{workers}" if workers >= 2 else "serial"


def check_executor_spec(spec: str) -> None:
    """Raise :class:`ExecutorSpecError` unless ``spec`` is a form this module
    understands (checked before any work starts; Dask's import is not)."""
    if spec in ("auto", "serial") or spec.startswith("tcp://"):
        return
    kind, _, arg = spec.partition(":")
    if kind not in ("process", "dask-local"):
        raise ExecutorSpecError(
            f"unknown executor {spec!r}; use 'auto', 'serial', 'process:N', 'dask-local:N' "
            "or 'tcp://HOST:PORT'"
        )
    _positive_int(arg, spec)


def is_in_process(spec: str) -> bool:
    """True when cells run in this process (they can share its registry)."""
    return spec == "serial"


@contextlib.contextmanager
def open_executor(spec: str) -> Iterator[concurrent.futures.Executor]:
    """An executor for ``spec``, shut down (and its cluster closed) on exit.

    When the body raises (Ctrl-C included), a process pool cancels its
    queued cells and terminates its workers instead of finishing them.
    """
    if spec == "serial":
        yield SerialExecutor()
        return
    kind, _, arg = spec.partition(":")
    if kind == "process":
        workers = _positive_int(arg, spec)
        pool = concurrent.futures.ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_leave_interrupts_to_the_driver,
        )
        try:
            yield pool
        except BaseException:
            _stop_now(pool)
            raise
        pool.shutdown(wait=True)
        return
    if kind == "dask-local":
        workers = _positive_int(arg, spec)
        distributed = _import_distributed()
        with (
            distributed.LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            yield client.get_executor()
        return
    if kind == "tcp":
        distributed = _import_distributed()
        with distributed.Client(spec) as client:
            yield client.get_executor()
        return
    raise ExecutorSpecError(
        f"unknown executor {spec!r}; use 'auto', 'serial', 'process:N', 'dask-local:N' or 'tcp://HOST:PORT'"
    )


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
