"""Call one plugin hook with a time limit, turning any misbehaviour into a
:class:`HookFailure` that names the plugin and the hook."""

from __future__ import annotations

import threading
from typing import Any

import pluggy

from genbench.records.record import Failure


class HookFailure(Exception):
    """A plugin's hook raised, timed out, returned nothing, or returned data
    that failed validation.

    Attributes:
        plugin: name of the plugin that owns the model.
        hook: the hook name (``fit``, ``sample``...) or a harness stage.
        reason: one human-readable line.
        error_type: the exception class name behind it, if any.
    """

    def __init__(self, plugin: str, hook: str, reason: str, error_type: str = "") -> None:
        super().__init__(f"plugin {plugin!r}, hook {hook!r}: {reason}")
        self.plugin = plugin
        self.hook = hook
        self.reason = reason
        self.error_type = error_type

    def as_failure(self) -> Failure:
        """The failure as failed run records store it."""
        return Failure(self.plugin, self.hook, self.reason, self.error_type)


def call_hook(
    pm: pluggy.PluginManager, hook: str, *, plugin: str, timeout: float | None, **kwargs: Any
) -> Any:
    """Call ``pm.hook.<hook>(**kwargs)`` and return its (non-``None``) result.

    The call runs in a daemon thread so a hung plugin cannot stall the grid:
    after ``timeout`` seconds a :class:`HookFailure` is raised and the thread
    is abandoned (it may keep a core busy until the process exits; process
    and Dask executors contain that to one worker).

    Raises:
        HookFailure: the hook raised, exceeded ``timeout``, or no plugin
            answered (returned ``None``).
    """
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = getattr(pm.hook, hook)(**kwargs)
        except BaseException as exc:  # reported to the caller, never swallowed
            outcome["error"] = exc

    if timeout is None:
        target()
    else:
        thread = threading.Thread(target=target, name=f"genbench-{hook}", daemon=True)
        thread.start()
        thread.join(timeout)
        if thread.is_alive():
            raise HookFailure(plugin, hook, f"timed out after {timeout:g} s", "TimeoutError")
    if "error" in outcome:
        exc = outcome["error"]
        raise HookFailure(plugin, hook, f"{type(exc).__name__}: {exc}", type(exc).__name__) from exc
    if outcome.get("value") is None:
        raise HookFailure(
            plugin,
            hook,
            "no plugin answered (every implementation returned None); the model declares "
            "this capability but does not implement it",
            "NotImplementedError",
        )
    return outcome["value"]
