"""Commands that read stored records: ``leaderboard``, ``check``,
``compare`` and ``show``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from genbench.cli.common import (
    CliContext,
    alpha_option,
    echo_table,
    indent,
    leaderboards_for,
    stored_results_option,
)
from genbench.cli.running import BUDGET_HELP, LEADERBOARDS_DEFAULT_HELP, budget_callback
from genbench.defaults import (
    REGRESSION_ABSOLUTE,
    REGRESSION_K_STD,
    REGRESSION_RELATIVE,
)


@click.command()
@stored_results_option("Stored records.", file_okay=False)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help=f"Output directory {LEADERBOARDS_DEFAULT_HELP}.",
)
@click.option(
    "--budget",
    callback=budget_callback,
    help=f"Only runs at this budget: {BUDGET_HELP}.",
)
@click.pass_obj
def leaderboard(
    obj: CliContext, results_dir: Path, out_dir: Path | None, budget: str | None
) -> None:
    """Regenerate Markdown/CSV leaderboards and plots from stored records.

    A record that cannot be read (truncated, empty, not a record) is an
    error naming the file: a leaderboard never silently drops a run."""
    from genbench.report.leaderboard import build_leaderboards

    obj.register_plugin_metrics()
    try:
        files = build_leaderboards(
            results_dir, out_dir or leaderboards_for(results_dir), budget=budget
        )
    except ValueError as exc:  # RecordError is a ValueError
        raise click.ClickException(str(exc)) from exc
    for item in files:
        click.echo(f"{item.task}: {item.markdown}")


@click.command()
@click.option(
    "--baseline",
    "baseline",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="Committed records (directory or one JSON file) to compare against.",
)
@stored_results_option("Fresh records.")
@click.option(
    "-k",
    "k_std",
    default=REGRESSION_K_STD,
    show_default=True,
    type=float,
    help="Allowed worsening in baseline standard deviations over seeds.",
)
@click.option(
    "--relative",
    default=REGRESSION_RELATIVE,
    show_default=True,
    type=float,
    help="Relative floor of the allowed worsening.",
)
@click.option(
    "--absolute",
    default=REGRESSION_ABSOLUTE,
    show_default=True,
    type=float,
    help="Absolute floor of the allowed worsening.",
)
@alpha_option("Level of the test that must also reject before a worsening counts.")
@click.option(
    "--allow-missing",
    is_flag=True,
    help="Pass even when a baseline model or metric is missing from the fresh results "
    "(by default a missing comparison fails).",
)
@click.option("-a", "--all", "show_all", is_flag=True, help="Print every compared metric.")
@click.pass_obj
def check(
    obj: CliContext,
    baseline: Path,
    results_dir: Path,
    k_std: float,
    relative: float,
    absolute: float,
    alpha: float,
    allow_missing: bool,
    show_all: bool,
) -> None:
    """Compare fresh results with a baseline.

    Exits 0 when every baseline metric was compared and none regressed; 1 on
    a regression, a model whose fresh runs all failed, or (without
    --allow-missing) a baseline model or metric missing from the fresh
    results; 2 when nothing can be compared: an unreadable record on either
    side, no baseline records, or no metric compared at all."""
    from genbench.records.frame import records_to_frame
    from genbench.records.record import RecordError
    from genbench.records.store import iter_records
    from genbench.report.regression import Tolerance, compare, device_note, has_regression

    obj.register_plugin_metrics()
    try:
        base = records_to_frame(iter_records(baseline))
        fresh = records_to_frame(iter_records(results_dir))
    except RecordError as exc:
        _cannot_compare(str(exc))
    if base.empty:
        _cannot_compare(f"no records in baseline {str(baseline)!r}")
    table = compare(fresh, base, tolerance=Tolerance(k_std, relative, absolute), alpha=alpha)
    note = device_note(iter_records(results_dir), iter_records(baseline))
    if note:
        click.echo(note)
    shown = table if show_all else table[table["status"] != "ok"]
    if shown.empty:
        click.echo(f"no regressions: {len(table)} metrics within tolerance")
    else:
        click.echo(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    counts = table["status"].value_counts().to_dict()
    click.echo(", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    if not table["status"].isin(["ok", "improved", "regressed", "failed"]).any():
        _cannot_compare(
            f"nothing compared: none of the {len(table)} baseline rows has fresh results in "
            f"{str(results_dir)!r} (another budget, task or model set?)"
        )
    if has_regression(table, strict=not allow_missing):
        missing = int((table["status"] == "missing").sum())
        click.echo(
            "regression detected"
            + (f" ({missing} missing; --allow-missing accepts those)" if missing else ""),
            err=True,
        )
        sys.exit(1)


@click.command("compare")
@click.argument("model_a")
@click.argument("model_b")
@click.option("-t", "--task", "task_name", required=True, help="The task both models ran on.")
@click.option(
    "--metric",
    "metric_names",
    multiple=True,
    help="Only this metric (repeatable; default: every metric both report).",
)
@stored_results_option("Stored records.")
@alpha_option("Level of the test.")
@click.pass_obj
def compare_command(
    obj: CliContext,
    model_a: str,
    model_b: str,
    task_name: str,
    metric_names: tuple[str, ...],
    results_dir: Path,
    alpha: float,
) -> None:
    """Is MODEL_A better than MODEL_B on a task? From stored records: per
    metric, both means with 95 % intervals, the difference A − B with its
    interval, the p-value and a verdict. Nothing is recomputed."""
    from genbench.records.frame import records_to_frame
    from genbench.records.record import RecordError
    from genbench.records.store import iter_records
    from genbench.report.compare import CompareError, compare_models
    from genbench.report.markdown import format_cell, format_number

    obj.register_plugin_metrics()
    try:
        runs = records_to_frame(iter_records(results_dir))
        table = compare_models(runs, task_name, model_a, model_b, metrics=metric_names, alpha=alpha)
    except (RecordError, CompareError) as exc:
        raise click.ClickException(str(exc)) from exc
    rows = [
        (
            row.metric,
            format_cell(row.a, row.a_ci),
            format_cell(row.b, row.b_ci),
            f"{format_number(row.difference)} "
            f"[{format_number(row.difference_low)}, {format_number(row.difference_high)}]",
            format_number(row.p_value),
            row.verdict,
        )
        for row in table.itertuples(index=False)
    ]
    click.echo(f"{model_a} (A) vs {model_b} (B) on {task_name}; level {alpha:g}")
    echo_table(["metric", "A", "B", "A − B [95 %]", "p", "verdict"], rows)


CANNOT_COMPARE = 2
"""``genbench check``'s exit status when the comparison could not be made
(1 means it was made and something regressed)."""


def _cannot_compare(message: str):
    click.echo(f"Error: cannot compare: {message}", err=True)
    sys.exit(CANNOT_COMPARE)


@click.command()
@click.argument("records", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def show(records: tuple[Path, ...]) -> None:
    """Print run records: configuration, status, metrics and, for a failed
    run, the plugin, hook, reason and traceback."""
    from genbench.records.store import iter_record_files

    try:
        located = list(iter_record_files(records))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    for path, record in located:
        config = record.config
        click.echo(f"{path}")
        click.echo(
            f"  model {config.model.name} ({config.model.plugin} {config.model.plugin_version})"
            f" on {config.task}, budget {config.budget}, seed {config.seed}: {record.status}"
        )
        if record.failure is not None:
            failure = record.failure
            click.echo(f"  failed in plugin {failure.plugin!r}, hook {failure.hook!r}")
            click.echo(f"  reason: {failure.reason}")
            if failure.traceback:
                click.echo(indent(failure.traceback.rstrip()))
        for name, value in sorted(record.metrics.items()):
            click.echo(f"  {name}: {value}")
