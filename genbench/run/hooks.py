"""Call one plugin hook with a time limit, on the plugin that owns the
model only, turning any misbehaviour into a :class:`HookFailure` that names
the plugin and the hook.

A hook that runs past its time limit is interrupted: an exception is raised
inside its thread (this stops Python code, including busy loops). A hook
stuck in native code cannot be interrupted that way; its thread is then
recorded as *stray* (:func:`stray_hooks`), and the process that runs it is
no longer fit to run another cell: worker processes are replaced by their
pool (:mod:`genbench.run.executors`), and a serial run moves its remaining
cells to a fresh worker process.
"""

from __future__ import annotations

import ctypes
import sys
import threading
import time
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any

import pluggy

from genbench.defaults import HOOK_STOP_GRACE_S
from genbench.plugins import call_owned
from genbench.records.record import Failure

_HOST_DIRS = tuple(
    str(Path(module.__file__).resolve().parent) for module in (sys.modules["genbench"], pluggy)
)
"""Source folders whose frames are not the plugin's (trimmed from tracebacks)."""
_THREADING = str(Path(threading.__file__).resolve())


class HookTimeout(BaseException):
    """Raised inside a hook's thread when it ran past its time limit. A
    ``BaseException``, so a plugin's ``except Exception`` does not swallow it."""


class HookFailure(Exception):
    """A plugin's hook raised, timed out, returned nothing, or returned data
    that failed validation.

    Attributes:
        plugin: name of the plugin that owns the model.
        hook: the hook name (``fit``, ``sample``...) or a harness stage.
        reason: one human-readable line.
        error_type: the exception class name behind it, if any.
        traceback: the plugin's frames of the traceback (or, for a timeout,
            where the hook was when it timed out); empty when none.
    """

    def __init__(
        self, plugin: str, hook: str, reason: str, error_type: str = "", traceback: str = ""
    ) -> None:
        super().__init__(f"plugin {plugin!r}, hook {hook!r}: {reason}")
        self.plugin = plugin
        self.hook = hook
        self.reason = reason
        self.error_type = error_type
        self.traceback = traceback

    def as_failure(self) -> Failure:
        """The failure as failed run records store it."""
        return Failure(self.plugin, self.hook, self.reason, self.error_type, self.traceback)


_STRAY: list[tuple[threading.Thread, str, str]] = []
"""Hook threads that timed out and could not be stopped: (thread, plugin, hook)."""


def stray_hooks() -> list[str]:
    """``"plugin 'x', hook 'y'"`` for every timed-out hook still running in
    this process (empty when the process is clean)."""
    _STRAY[:] = [item for item in _STRAY if item[0].is_alive()]
    return [f"plugin {plugin!r}, hook {hook!r}" for _, plugin, hook in _STRAY]


def process_is_clean() -> bool:
    """True when no timed-out hook is still running in this process."""
    return not stray_hooks()


def call_hook(
    pm: pluggy.PluginManager, hook: str, *, plugin: str, timeout: float | None, **kwargs: Any
) -> Any:
    """Call ``hook`` on the plugin named ``plugin`` (only: see
    :func:`genbench.plugins.call_owned`) and return its (non-``None``) result.

    With a ``timeout`` the call runs in a daemon thread; after ``timeout``
    seconds it is interrupted (see the module docstring) and a
    :class:`HookFailure` is raised.

    Raises:
        HookFailure: the hook raised, exceeded ``timeout``, or the plugin
            did not answer (returned ``None``).
    """
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = call_owned(pm, hook, plugin, **kwargs)
        except BaseException as exc:  # reported to the caller, never swallowed
            outcome["error"] = exc

    if timeout is None:
        target()
    else:
        earlier = stray_hooks()
        thread = threading.Thread(target=target, name=f"genbench-{plugin}-{hook}", daemon=True)
        thread.start()
        thread.join(timeout)
        if thread.is_alive():
            where = _stack_of(thread)
            stopped = _interrupt(thread, HOOK_STOP_GRACE_S)
            reason = f"timed out after {timeout:g} s"
            if not stopped:
                _STRAY.append((thread, plugin, hook))
                reason += (
                    " and could not be interrupted (stuck in native code); the process "
                    "running it is replaced before the next run"
                )
            if earlier:
                reason += f" (a stray hook was still running in this process: {earlier[0]})"
            raise HookFailure(plugin, hook, reason, "TimeoutError", where)
    if "error" in outcome:
        exc = outcome["error"]
        raise HookFailure(
            plugin,
            hook,
            f"{type(exc).__name__}: {exc}",
            type(exc).__name__,
            plugin_traceback(exc),
        ) from exc
    if outcome.get("value") is None:
        raise HookFailure(
            plugin,
            hook,
            f"plugin {plugin!r} did not answer (its {hook} implementation returned None or "
            "it has none); the model declares this capability but does not implement it",
            "NotImplementedError",
        )
    return outcome["value"]


def plugin_traceback(exc: BaseException) -> str:
    """``exc``'s traceback, trimmed to the plugin's frames (genbench's and
    pluggy's own frames left out), ending with the exception line."""
    frames = [f for f in traceback.extract_tb(_tb(exc)) if _is_plugin_frame(f.filename)]
    lines = ["Traceback (most recent call last; plugin frames only):\n"]
    lines += traceback.format_list(frames)
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines)


def _tb(exc: BaseException) -> TracebackType | None:
    return exc.__traceback__


def _is_plugin_frame(filename: str) -> bool:
    try:
        resolved = str(Path(filename).resolve())
    except OSError:
        return True
    return not resolved.startswith(_HOST_DIRS) and resolved != _THREADING


def _stack_of(thread: threading.Thread) -> str:
    """Where ``thread`` is now (the plugin's frames), for a timeout's record."""
    frame = sys._current_frames().get(thread.ident or -1)
    if frame is None:
        return ""
    frames = [f for f in traceback.extract_stack(frame) if _is_plugin_frame(f.filename)]
    if not frames:
        return ""
    return "Stack when the time ran out (plugin frames only):\n" + "".join(
        traceback.format_list(frames)
    )


def _interrupt(thread: threading.Thread, grace: float) -> bool:
    """Raise :class:`HookTimeout` inside ``thread`` (again every 0.1 s in
    case the plugin catches it) for up to ``grace`` seconds; True when the
    thread ended."""
    deadline = time.monotonic() + grace
    while thread.is_alive() and time.monotonic() < deadline:
        ident = thread.ident
        if ident is not None:
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(ident), ctypes.py_object(HookTimeout)
            )
        thread.join(0.1)
    if thread.is_alive() and thread.ident is not None:
        # leave no pending exception behind for a thread that might still finish
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), None)
    return not thread.is_alive()
