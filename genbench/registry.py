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

from genbench.metrics.info import MetricInfo, register_metric
from genbench.plugins import PluginManager, plugin_source_hash
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
        metrics: metric name → :class:`MetricInfo` registered by plugins
            through ``register_metrics`` (also added to genbench's metric
            table, so reports know their units and directions).

    Raises:
        RegistryError: a plugin registered something invalid (a bad or
            duplicate name, not a ``ModelSpec``/``Task``) or its
            registration hook raised; the message names the plugin.
    """

    def __init__(self, pm: PluginManager, *, models_and_tasks: bool = True) -> None:
        self.pm = pm
        self.models: dict[str, ModelSpec] = {}
        self.tasks: dict[str, Task] = {}
        self.task_plugins: dict[str, str] = {}
        self.metrics: dict[str, MetricInfo] = {}
        self._source_hashes: dict[str, str | None] = {}
        self._collect("register_metrics", self._metric_registrar)
        if models_and_tasks:
            self._collect("register_models", self._model_registrar)
            self._collect("register_tasks", self._task_registrar)

    @classmethod
    def metrics_only(cls, pm: PluginManager) -> Registry:
        """A registry of the plugins' metrics alone (``register_metrics``):
        what reports need, without building any model or task."""
        return cls(pm, models_and_tasks=False)

    def _collect(self, hook: str, registrar) -> None:
        for impl in getattr(self.pm.hook, hook).get_hookimpls():
            try:
                impl.function(register=registrar(impl.plugin_name))
            except RegistryError:
                raise
            except Exception as exc:
                raise RegistryError(f"plugin {impl.plugin_name!r}: {hook} failed: {exc}") from exc

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

    def plugin_source(self, plugin_name: str) -> str | None:
        """SHA-256 prefix of a plugin's source files (see
        :func:`genbench.plugins.plugin_source_hash`): part of every checkpoint
        key, so editing a plugin's code retrains its models even when its
        version number stays the same."""
        if plugin_name not in self._source_hashes:
            plugin = self.pm.get_plugin(plugin_name)
            self._source_hashes[plugin_name] = (
                plugin_source_hash(plugin) if plugin is not None else None
            )
        return self._source_hashes[plugin_name]

    def _metric_registrar(self, plugin_name: str):
        def register(info: MetricInfo) -> MetricInfo:
            if not isinstance(info, MetricInfo):
                raise RegistryError(
                    f"plugin {plugin_name!r} registered {type(info).__name__}, not a MetricInfo"
                )
            try:
                registered = register_metric(info)
            except ValueError as exc:
                raise RegistryError(f"plugin {plugin_name!r}: {exc}") from exc
            self.metrics[info.name] = registered
            return registered

        return register

    def _model_registrar(self, plugin_name: str):
        def register(spec: ModelSpec) -> None:
            if not isinstance(spec, ModelSpec):
                raise RegistryError(
                    f"plugin {plugin_name!r} registered {type(spec).__name__}, not a ModelSpec"
                )
            if "conditional_sample" in spec.capabilities and "sample" not in spec.capabilities:
                raise RegistryError(
                    f"model {spec.name!r} from plugin {plugin_name!r} declares "
                    "'conditional_sample' without 'sample': conditional sampling is the "
                    "sample hook called with a Condition, so declare both"
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
