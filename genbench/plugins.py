"""The plugin manager: built-in and third-party plugins, loaded the same way.

Every plugin — genbench's own model families and tasks included — is found
through the ``genbench`` entry-point group. Environment switches:

* ``GENBENCH_DISABLE_PLUGIN_AUTOLOAD=1`` loads only the entry points that
  genbench's own distribution declares, so installed third-party plugins
  cannot change a run (the test suite sets it).
* ``GENBENCH_PLUGINS=a,b`` is an allow-list of third-party entry-point
  names to load (genbench's own are always loaded).
* ``GENBENCH_PLUGIN_FILES=path1.py:path2.py`` (``os.pathsep``-separated)
  loads plugins from Python files, like ``--plugin`` on the command line.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

import pluggy

from genbench import PROJECT_NAME, hookspecs
from genbench.specs import validate_name

ENTRY_POINT_GROUP = "genbench"
DISABLE_AUTOLOAD_ENV = "GENBENCH_DISABLE_PLUGIN_AUTOLOAD"
ALLOW_LIST_ENV = "GENBENCH_PLUGINS"
PLUGIN_FILES_ENV = "GENBENCH_PLUGIN_FILES"


class PluginError(RuntimeError):
    """A plugin could not be loaded or registered; the message names it."""


class PluginManager(pluggy.PluginManager):
    """A pluggy manager that remembers which distribution each plugin came
    from (``distributions[name] = (dist name, version)``)."""

    def __init__(self) -> None:
        super().__init__(PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        self.distributions: dict[str, tuple[str, str]] = {}


def get_plugin_manager(
    plugin_files: Iterable[str | Path] = (), *, autoload: bool | None = None
) -> PluginManager:
    """A fresh plugin manager with every available plugin registered.

    Args:
        plugin_files: extra plugin modules given as ``.py`` paths.
        autoload: load third-party entry points; ``None`` reads
            ``GENBENCH_DISABLE_PLUGIN_AUTOLOAD``.

    Raises:
        PluginError: a plugin failed to import, has an invalid or duplicate
            name, or implements a hook that does not exist (a misspelling).
    """
    pm = PluginManager()
    if autoload is None:
        autoload = os.environ.get(DISABLE_AUTOLOAD_ENV, "").strip() in ("", "0", "false")
    allow = _allow_list()
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        builtin = entry_point.dist is not None and entry_point.dist.name == PROJECT_NAME
        if not builtin and not autoload:
            continue
        if not builtin and allow is not None and entry_point.name not in allow:
            continue
        try:
            module = entry_point.load()
        except Exception as exc:
            raise PluginError(
                f"plugin {entry_point.name!r} ({entry_point.value}) failed to import: {exc}"
            ) from exc
        register_plugin(pm, module, entry_point.name, dist=entry_point.dist)
    files = [*plugin_files, *_env_plugin_files()]
    for path in files:
        register_plugin(pm, load_plugin_file(path), Path(path).stem)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"{exc} (a misspelled hook implementation?)") from exc
    return pm


def register_plugin(
    pm: PluginManager,
    plugin: object,
    name: str,
    *,
    dist: importlib.metadata.Distribution | None = None,
) -> None:
    """Register ``plugin`` under a validated, unique ``name``.

    ``dist`` (the distribution that declared the entry point) is kept so
    ``genbench plugins`` can show its version.
    """
    try:
        validate_name(name, "plugin")
    except ValueError as exc:
        raise PluginError(str(exc)) from exc
    if pm.has_plugin(name):
        raise PluginError(f"plugin name {name!r} is registered twice")
    if pm.is_registered(plugin):
        raise PluginError(f"plugin {name!r} is already registered under another name")
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {name!r}: {exc}") from exc
    if dist is not None:
        pm.distributions[name] = (dist.name, dist.version)


def load_plugin_file(path: str | Path) -> ModuleType:
    """Import a plugin module from a ``.py`` file.

    The module is added to ``sys.modules`` under ``genbench_file_<stem>`` so
    that objects defined in it can be pickled to process-pool workers that
    load the same file.
    """
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise PluginError(f"plugin file {str(path)!r} does not exist")
    if path.suffix != ".py":
        raise PluginError(f"plugin file {str(path)!r} is not a .py file")
    module_name = f"genbench_file_{path.stem}"
    if module_name in sys.modules and getattr(sys.modules[module_name], "__file__", None) == str(
        path
    ):
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"cannot import plugin file {str(path)!r}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        raise PluginError(f"plugin file {str(path)!r} failed to import: {exc}") from exc
    return module


def _allow_list() -> set[str] | None:
    raw = os.environ.get(ALLOW_LIST_ENV, "").strip()
    if not raw:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


def _env_plugin_files() -> list[str]:
    raw = os.environ.get(PLUGIN_FILES_ENV, "").strip()
    return [p for p in raw.split(os.pathsep) if p]
