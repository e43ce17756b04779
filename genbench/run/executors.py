"""Executors: where the cells of a grid run.

An ``--executor`` string is parsed once, by :func:`parse_executor`, into
one of these objects:

* ``auto`` — :class:`Auto`: a process pool with one worker per usable CPU
  core (at most one per pending cell), or serial on a single core; on an
  accelerator, one worker per GPU instead (serial with one);
* ``serial`` — :class:`Serial`: cells one after another in this process
  (plugins registered in-process, e.g. by tests, are visible);
* ``process:N`` — :class:`ProcessPool` of ``N`` spawned worker processes;
* ``dask-local:N`` — :class:`DaskLocal`: a Dask ``LocalCluster`` of ``N``
  single-threaded worker processes bound to 127.0.0.1;
* ``tcp://HOST:PORT`` — :class:`DaskScheduler`: join a running scheduler.

Workers on GPUs: with ``--device cuda`` worker ``k`` of a process pool or
of a Dask ``LocalCluster`` computes on GPU ``k`` modulo the visible GPUs
(:func:`genbench.run.worker.worker_device`), so ``process:N`` and
``dask-local:N`` with ``N`` equal to the GPU count place one worker per GPU.
CPU runs are placed exactly as before.

Each has ``for_cells(n, accelerators)`` (the executor to use for ``n``
pending cells),
``in_process`` and ``open()``, a context manager yielding a
:class:`concurrent.futures.Executor`. Worker processes load plugins from
entry points and ``--plugin`` files themselves, so a plugin must be
importable there.

A hook that times out is interrupted in its thread; one stuck in native
code cannot be, and keeps running (see :mod:`genbench.run.hooks`). A
process pool's worker in that state is replaced by a fresh process before
it runs another cell (:class:`RecyclingProcessPool`), so a hung hook never
slows or times out the next model's run.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import multiprocessing
import os
import queue
import signal
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from concurrent.futures.process import BrokenProcessPool
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

    def for_cells(self, cells: int, accelerators: int = 0) -> Executor:
        """The executor to run ``cells`` pending cells on when the run's
        device offers ``accelerators`` GPU slots (0 on the CPU; see
        :func:`genbench.devices.accelerator_slots`). ``auto`` decides here;
        every other form is itself."""
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
        pool = RecyclingProcessPool(self.workers)
        try:
            yield pool
        except BaseException:
            pool.stop_now()
            raise
        pool.shutdown(wait=True)


@dataclass(frozen=True)
class Auto(Executor):
    """One worker process per usable core (on an accelerator: per GPU), at
    most one per pending cell; serial when that is fewer than two."""

    def __str__(self) -> str:
        return "auto"

    def for_cells(self, cells: int, accelerators: int = 0) -> Executor:
        workers = min(accelerators or usable_cores(), cells)
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


class RecyclingProcessPool(concurrent.futures.Executor):
    """``workers`` spawned processes, each fed one call at a time by a
    thread of this process. A worker that reports a stray hook (a timed-out
    hook it could not stop) exits after sending its result and is replaced
    by a fresh process; one that dies fails its call with
    :class:`BrokenProcessPool` and is replaced too.

    Attributes:
        replaced: how many worker processes were replaced so far.
    """

    def __init__(self, workers: int) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._calls: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._processes: dict[int, multiprocessing.process.BaseProcess] = {}
        self._running: dict[int, concurrent.futures.Future] = {}
        self._stopping = False
        self.replaced = 0
        self._threads = [
            threading.Thread(target=self._serve, args=(i,), name=f"genbench-pool-{i}", daemon=True)
            for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any):
        future: concurrent.futures.Future = concurrent.futures.Future()
        if self._stopping:
            raise RuntimeError("cannot submit to a pool that is shutting down")
        self._calls.put((future, fn, args, kwargs))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if cancel_futures:
            self._cancel_queued()
        for _ in self._threads:
            self._calls.put(None)
        if wait:
            for thread in self._threads:
                thread.join()

    def stop_now(self) -> None:
        """Cancel the calls not started, end every worker at once and fail
        their calls with :class:`BrokenProcessPool` (their cells are lost;
        no record was written, so a re-run computes them)."""
        self._stopping = True
        self._cancel_queued()
        with self._lock:
            processes = list(self._processes.values())
            running = list(self._running.values())
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(timeout=10)
        for future in running:
            _settle(future, False, BrokenProcessPool("the pool was stopped"))
        for _ in self._threads:
            self._calls.put(None)

    def _cancel_queued(self) -> None:
        while True:
            try:
                item = self._calls.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                item[0].cancel()

    def _start(self, index: int):
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_pool_worker, args=(child, index), name=f"genbench-worker-{index}", daemon=True
        )
        process.start()
        child.close()
        with self._lock:
            self._processes[index] = process
        return process, parent

    def _retire(self, index: int, process, connection, *, kill: bool) -> None:
        with contextlib.suppress(OSError):
            connection.close()
        if kill:
            process.kill()
        process.join(timeout=10)
        if process.is_alive():
            process.kill()
            process.join(timeout=10)
        with self._lock:
            if self._processes.get(index) is process:
                del self._processes[index]

    def _serve(self, index: int) -> None:
        process = connection = None
        while True:
            item = self._calls.get()
            if item is None or self._stopping:
                break
            future, fn, args, kwargs = item
            if not future.set_running_or_notify_cancel():
                continue
            if process is None:
                process, connection = self._start(index)
            with self._lock:
                self._running[index] = future
            try:
                connection.send((fn, args, kwargs))
                ok, value, replace = connection.recv()
            except (EOFError, OSError) as exc:
                code = process.exitcode
                self._retire(index, process, connection, kill=True)
                process = connection = None
                self.replaced += 1
                _settle(
                    future,
                    False,
                    BrokenProcessPool(f"a worker process died (exit code {code}): {exc!r}"),
                )
                continue
            finally:
                with self._lock:
                    self._running.pop(index, None)
            if replace:
                self._retire(index, process, connection, kill=False)
                process = connection = None
                self.replaced += 1
            _settle(future, ok, value)
        if process is not None:
            with contextlib.suppress(OSError):
                connection.send(None)
            self._retire(index, process, connection, kill=False)


def _settle(future: concurrent.futures.Future, ok: bool, value: Any) -> None:
    """Give ``future`` its outcome unless another thread already did."""
    with contextlib.suppress(concurrent.futures.InvalidStateError):
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


def _pool_worker(connection, slot: int) -> None:
    """A :class:`RecyclingProcessPool` worker number ``slot``: run calls
    until told to stop, and exit after any call that left a stray hook
    running. A replacement worker keeps its slot (and so its GPU)."""
    from genbench.run.hooks import process_is_clean
    from genbench.run.worker import SLOT_ENV

    os.environ[SLOT_ENV] = str(slot)
    _leave_interrupts_to_the_driver()
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        fn, args, kwargs = message
        try:
            ok, value = True, fn(*args, **kwargs)
        except BaseException as exc:
            ok, value = False, exc
        replace = not process_is_clean()
        try:
            connection.send((ok, value, replace))
        except Exception as exc:  # an unpicklable result
            connection.send((False, RuntimeError(f"result could not be sent: {exc!r}"), replace))
        if replace:
            os._exit(0)  # the stray thread dies with the process


def _leave_interrupts_to_the_driver() -> None:
    """Worker initializer: ignore SIGINT. A terminal's Ctrl-C reaches the
    whole process group; the driver alone decides what stops."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


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
