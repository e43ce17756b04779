"""The plugin manager: built-in and third-party plugins, loaded the same way.

Every plugin — genbench's own model families and tasks included — is found
through the ``genbench`` entry-point group. Environment switches:

* ``GENBENCH_DISABLE_PLUGIN_AUTOLOAD=1`` loads only the entry points that
  genbench's own distribution declares, so installed third-party plugins
  cannot change a run (the test suite sets it).
* ``GENBENCH_PLUGINS=a,b`` is an allow-list of third-party entry-point
  names to load (genbench's own are always loaded); a name that no
  installed entry point has is an error naming the available ones.
* ``GENBENCH_PLUGIN_FILES=path1.py:path2.py`` (``os.pathsep``-separated)
  loads plugins from Python files, like ``--plugin`` on the command line.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from genbench import PROJECT_NAME, hookspecs
from genbench.specs import validate_name

ENTRY_POINT_GROUP = "genbench"
WORK_HOOKS: tuple[str, ...] = ("fit", "sample", "log_likelihood", "reconstruct", "model_info")
"""Hooks that are only ever called on the plugin that owns the model (see
:func:`call_owned`)."""
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
    entry_points = list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
    if autoload and allow is not None:
        _check_allow_list(allow, entry_points)
    for entry_point in entry_points:
        builtin = _is_builtin(entry_point)
        if not builtin and not autoload:
            continue
        if not builtin and allow is not None and entry_point.name not in allow:
            continue
        try:
            module = entry_point.load()
        except Exception as exc:
            dist = entry_point.dist.name if entry_point.dist is not None else "?"
            hint = (
                ""
                if builtin
                else f"; to run without it set {DISABLE_AUTOLOAD_ENV}=1 (genbench's own plugins "
                f"only), or {ALLOW_LIST_ENV}=<names> to load only the plugins you name, or "
                f"uninstall {dist!r}"
            )
            raise PluginError(
                f"plugin {entry_point.name!r} ({entry_point.value}, from the installed "
                f"distribution {dist!r}) failed to import: {type(exc).__name__}: {exc}{hint}"
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


def call_owned(pm: pluggy.PluginManager, hook: str, plugin: str, **kwargs: Any) -> Any:
    """Call ``hook`` on the plugin named ``plugin`` only, and return its
    first non-``None`` answer (``None`` when it has no implementation or
    every one returned ``None``).

    pluggy calls every plugin's implementation of a ``firstresult`` hook,
    the last registered first, until one answers: a plugin whose ``sample``
    forgets its "not mine, return ``None``" guard would answer for every
    model. Work hooks are therefore never broadcast: the plugin that owns
    the spec (``spec.plugin``) is the only one asked, for ``fit`` and for
    every later hook on the model its ``fit`` returned.
    """
    caller = getattr(pm.hook, hook)
    # get_hookimpls() is in call order reversed: pluggy calls the last first
    for impl in reversed(caller.get_hookimpls()):
        if impl.plugin_name != plugin or impl.hookwrapper or impl.wrapper:
            continue
        # arguments an implementation declares with a default (e.g. ``device``)
        # are passed by name too; pluggy itself would leave them at the default
        optional = {name: kwargs[name] for name in impl.kwargnames if name in kwargs}
        result = impl.function(*[kwargs[name] for name in impl.argnames], **optional)
        if result is not None:
            return result
    return None


def plugin_source_hash(plugin: object) -> str | None:
    """SHA-256 (hex, 16 characters) of a plugin's source: every ``.py``
    file of its package (recursively), or its one file for a module.
    ``None`` when the plugin has no source files (an object built in
    memory)."""
    if not isinstance(plugin, ModuleType):
        plugin = sys.modules.get(type(plugin).__module__)
        if plugin is None:
            return None
    paths = getattr(plugin, "__path__", None)
    if paths:
        files = sorted({f for root in paths for f in Path(root).rglob("*.py")})
        base = Path(next(iter(paths)))
    else:
        source = getattr(plugin, "__file__", None)
        if not source or not str(source).endswith(".py"):
            return None
        files, base = [Path(source)], Path(source).parent
    digest = hashlib.sha256()
    for file in files:
        try:
            name = file.relative_to(base).as_posix()
        except ValueError:
            name = file.name
        digest.update(f"{name}\0".encode())
        digest.update(file.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def _is_builtin(entry_point: importlib.metadata.EntryPoint) -> bool:
    return entry_point.dist is not None and entry_point.dist.name == PROJECT_NAME


def _check_allow_list(allow: set[str], entry_points: list[importlib.metadata.EntryPoint]) -> None:
    """An allow-list name that no installed entry point has is a typo: say
    so, with the names that exist, instead of silently loading nothing."""
    known = {ep.name for ep in entry_points}
    unknown = sorted(allow - known)
    if unknown:
        third_party = sorted(ep.name for ep in entry_points if not _is_builtin(ep))
        raise PluginError(
            f"{ALLOW_LIST_ENV} names {', '.join(map(repr, unknown))}, which no installed "
            f"genbench plugin has; installed third-party plugins: "
            f"{', '.join(third_party) if third_party else 'none'} "
            f"(genbench's own, always loaded: "
            f"{', '.join(sorted(ep.name for ep in entry_points if _is_builtin(ep)))})"
        )


def _allow_list() -> set[str] | None:
    raw = os.environ.get(ALLOW_LIST_ENV, "").strip()
    if not raw:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


def _env_plugin_files() -> list[str]:
    raw = os.environ.get(PLUGIN_FILES_ENV, "").strip()
    return [p for p in raw.split(os.pathsep) if p]
