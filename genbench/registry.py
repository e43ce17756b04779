"""Collect the models and tasks that plugins register.

The registry calls each plugin's ``register_models``/``register_tasks``
implementation separately, so every registered object is stamped with the
plugin that registered it — the name that failure records and
``genbench plugins`` show.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import inspect
from collections.abc import Iterable
from pathlib import Path

from genbench.plugins import PluginManager
from genbench.specs import ModelSpec
from genbench.tasks.base import Task


class RegistryError(ValueError):
    """An unknown, duplicate or invalid model or task; the message says which."""


class Registry:
    """Every model and task the loaded plugins offer.

    Attributes:
        models: model name → :class:`ModelSpec` (with ``plugin`` and
            ``plugin_version`` filled in).
        tasks: task name → :class:`Task`.
        task_plugins: task name → name of the plugin that registered it.
    """

    def __init__(self, pm: PluginManager) -> None:
        self.pm = pm
        self.models: dict[str, ModelSpec] = {}
        self.tasks: dict[str, Task] = {}
        self.task_plugins: dict[str, str] = {}
        for impl in pm.hook.register_models.get_hookimpls():
            impl.function(register=self._model_registrar(impl.plugin_name))
        for impl in pm.hook.register_tasks.get_hookimpls():
            impl.function(register=self._task_registrar(impl.plugin_name))

    def plugin_version(self, plugin_name: str) -> str:
        """The version of a plugin's distribution; for a plugin loaded from a
        file, ``file-<sha256 prefix of its source>`` so edits invalidate
        cached checkpoints."""
        dist = self.pm.distributions.get(plugin_name)
        if dist is not None:
            return dist[1]
        plugin = self.pm.get_plugin(plugin_name)
        version = getattr(plugin, "__version__", None)
        if isinstance(version, str):
            return version
        source = inspect.getsourcefile(plugin) if inspect.ismodule(plugin) else None
        if source:
            return "file-" + hashlib.sha256(Path(source).read_bytes()).hexdigest()[:16]
        return "unversioned"

    def _model_registrar(self, plugin_name: str):
        def register(spec: ModelSpec) -> None:
            if not isinstance(spec, ModelSpec):
                raise RegistryError(
                    f"plugin {plugin_name!r} registered {type(spec).__name__}, not a ModelSpec"
                )
            if spec.name in self.models:
                other = self.models[spec.name].plugin
                raise RegistryError(
                    f"model {spec.name!r} from plugin {plugin_name!r} is already registered "
                    f"by plugin {other!r}"
                )
            self.models[spec.name] = dataclasses.replace(
                spec, plugin=plugin_name, plugin_version=self.plugin_version(plugin_name)
            )

        return register

    def _task_registrar(self, plugin_name: str):
        def register(task: Task) -> None:
            if not isinstance(task, Task):
                raise RegistryError(
                    f"plugin {plugin_name!r} registered {type(task).__name__}, not a Task"
                )
            if task.name in self.tasks:
                raise RegistryError(
                    f"task {task.name!r} from plugin {plugin_name!r} is already registered "
                    f"by plugin {self.task_plugins[task.name]!r}"
                )
            self.tasks[task.name] = task
            self.task_plugins[task.name] = plugin_name

        return register

    def use_cache_dir(self, cache_dir: Path) -> None:
        """Hand every task the run's cache (see :meth:`Task.use_cache_dir`)."""
        for task in self.tasks.values():
            task.use_cache_dir(cache_dir)

    def model(self, name: str) -> ModelSpec:
        """The spec called ``name``; :class:`RegistryError` with suggestions."""
        if name not in self.models:
            raise RegistryError(_unknown("model", name, self.models))
        return self.models[name]

    def task(self, name: str) -> Task:
        """The task called ``name``; :class:`RegistryError` with suggestions."""
        if name not in self.tasks:
            raise RegistryError(_unknown("task", name, self.tasks))
        return self.tasks[name]

    def models_for(self, task: Task, names: Iterable[str] | None = None) -> list[ModelSpec]:
        """Specs (all, or those named) that support ``task``'s modality,
        sorted by family then name."""
        specs = [self.model(n) for n in names] if names else list(self.models.values())
        chosen = [s for s in specs if task.modality in s.modalities]
        return sorted(chosen, key=lambda s: (s.family, s.name))


def _unknown(kind: str, name: str, known: Iterable[str]) -> str:
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=3)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    listing = ", ".join(known) if known else "none registered"
    return f"unknown {kind} {name!r}{hint} (available: {listing})"
