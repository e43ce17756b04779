"""What every command shares: the context that loads plugins once, the
default folders, and table output."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from genbench.defaults import REGRESSION_ALPHA

DEFAULT_RESULTS = Path("results")


DEFAULT_LEADERBOARDS = Path("leaderboards")


class CliContext:
    def __init__(self, plugin_files: tuple[str, ...]) -> None:
        self.plugin_files = plugin_files
        self._registry = None

    @property
    def registry(self):
        from genbench.plugins import PluginError
        from genbench.registry import Registry, RegistryError

        if self._registry is None:
            from genbench.plugins import get_plugin_manager

            try:
                self._registry = Registry(get_plugin_manager(self.plugin_files))
            except (PluginError, RegistryError) as exc:
                raise click.ClickException(str(exc)) from exc
        return self._registry

    def register_plugin_metrics(self) -> None:
        """Add the metrics plugins declare (``register_metrics`` hook) to the
        metric table, building no model or task: all reports need."""
        from genbench.plugins import PluginError, get_plugin_manager
        from genbench.registry import Registry, RegistryError

        if self._registry is not None:
            return
        try:
            Registry.metrics_only(get_plugin_manager(self.plugin_files))
        except (PluginError, RegistryError) as exc:
            raise click.ClickException(str(exc)) from exc


def lookup(getter, name):
    from genbench.registry import RegistryError

    try:
        return getter(name)
    except RegistryError as exc:
        raise click.UsageError(str(exc)) from exc


def leaderboards_for(results_dir: Path) -> Path:
    """Where leaderboards of ``results_dir`` go by default: ``leaderboards/``
    for the default ``results/``, else ``<DIR>-leaderboards`` beside ``DIR``
    (so ``--results fresh`` never overwrites the committed leaderboards)."""
    if Path(results_dir).resolve() == DEFAULT_RESULTS.resolve():
        return DEFAULT_LEADERBOARDS
    resolved = Path(results_dir).resolve()
    return Path(results_dir).parent / f"{resolved.name}-leaderboards"


def indent(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.splitlines())


def echo_table(header: list[str], rows: list[tuple]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    for line in [header, *rows]:
        click.echo("  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=False)).rstrip())


def stored_results_option(help_text: str, *, file_okay: bool = True) -> Callable:
    """``--results DIR`` for a command that reads existing records."""
    return click.option(
        "--results",
        "results_dir",
        default=DEFAULT_RESULTS,
        show_default=True,
        type=click.Path(exists=True, file_okay=file_okay, path_type=Path),
        help=help_text,
    )


def alpha_option(help_text: str) -> Callable:
    """``--alpha``: the level of a test between two models."""
    return click.option(
        "--alpha",
        default=REGRESSION_ALPHA,
        show_default=True,
        type=click.FloatRange(0, 1, min_open=True, max_open=True),
        help=help_text,
    )
