"""The ``genbench`` command line. Commands parse options and call the
library; the work lives in the modules they import. One module per group of
commands: :mod:`~genbench.cli.catalogue` (what is loaded),
:mod:`~genbench.cli.running` (``run``), :mod:`~genbench.cli.reports`
(commands over stored records)."""

from __future__ import annotations

from pathlib import Path

import click

from genbench.cli.catalogue import metrics, models, plugins, tasks, validate
from genbench.cli.common import CliContext
from genbench.cli.reports import check, compare_command, leaderboard, show
from genbench.cli.running import run


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--plugin",
    "plugin_files",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Load a plugin from a .py file (repeatable).",
)
@click.version_option(package_name="genbench")
@click.pass_context
def main(ctx: click.Context, plugin_files: tuple[str, ...]) -> None:
    """Compare generative models side by side."""
    ctx.obj = CliContext(tuple(str(Path(p).resolve()) for p in plugin_files))


for command in (plugins, models, tasks, metrics, validate, run, leaderboard, check,
                compare_command, show):  # fmt: skip
    main.add_command(command)
