"""The ``genbench`` command line. Commands parse options and call the
library; the work lives in the modules they import."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import click

from genbench.defaults import (
    CACHE_ENV,
    DEFAULT_SEEDS,
    HOOK_TIMEOUT_S,
    REGRESSION_ABSOLUTE,
    REGRESSION_ALPHA,
    REGRESSION_K_STD,
    REGRESSION_RELATIVE,
    default_cache_dir,
)
from genbench.specs import BUDGETS

STOPPED = "stopped: finished runs keep their records; the same command resumes the rest"
DEFAULT_RESULTS = Path("results")
DEFAULT_LEADERBOARDS = Path("leaderboards")


class _Context:
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


@contextlib.contextmanager
def _exit_on_sigterm() -> Iterator[None]:
    """While the grid runs, SIGTERM (``kill``, a cancelled CI job) exits
    with status 143 through ``SystemExit``, so the executor's clean-up stops
    its workers as it does for Ctrl-C. Records already written stay."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    def exit_now(signum: int, _frame: object) -> None:
        click.echo(STOPPED, err=True)
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, exit_now)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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
    ctx.obj = _Context(tuple(str(Path(p).resolve()) for p in plugin_files))


@main.command()
@click.pass_obj
def plugins(obj: _Context) -> None:
    """List loaded plugins with their version and the hooks they implement."""
    pm = obj.registry.pm
    rows = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda item: item[0]):
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
        dist = pm.distributions.get(name)
        source = f"{dist[0]} {dist[1]}" if dist else f"file {getattr(plugin, '__file__', '?')}"
        rows.append((name, source, ", ".join(hooks)))
    _echo_table(["plugin", "from", "hooks"], rows)


@main.command()
@click.option("-t", "--task", "task_name", help="Only models that support this task.")
@click.pass_obj
def models(obj: _Context, task_name: str | None) -> None:
    """List registered models."""
    registry = obj.registry
    specs = (
        registry.models_for(_lookup(registry.task, task_name))
        if task_name
        else sorted(registry.models.values(), key=lambda s: (s.family, s.name))
    )
    rows = [
        (
            s.name,
            s.family,
            s.plugin,
            ",".join(s.modalities),
            ",".join(sorted(s.capabilities)),
            s.description,
        )
        for s in specs
    ]
    _echo_table(["model", "family", "plugin", "modalities", "capabilities", "description"], rows)


@main.command()
@click.pass_obj
def tasks(obj: _Context) -> None:
    """List registered tasks."""
    registry = obj.registry
    rows = [
        (
            t.name,
            t.modality,
            str(t.levels or "continuous"),
            "x".join(map(str, t.example_shape)),
            registry.task_plugins[t.name],
            t.description,
        )
        for t in sorted(registry.tasks.values(), key=lambda t: t.name)
    ]
    _echo_table(["task", "modality", "levels", "shape", "plugin", "description"], rows)


@main.command()
def metrics() -> None:
    """List every metric with its unit and which direction is better."""
    from genbench.metrics.info import METRICS

    arrows = {True: "higher", False: "lower", None: "–"}
    rows = [
        (m.name, m.unit, arrows[m.higher_is_better], m.kind, ",".join(m.modalities), m.description)
        for m in METRICS.values()
    ]
    _echo_table(["metric", "unit", "better", "kind", "modalities", "description"], rows)


@main.command()
@click.option("-m", "--model", "model_names", multiple=True, help="Model to run (repeatable).")
@click.option("-t", "--task", "task_names", multiple=True, help="Task to run (repeatable).")
@click.option(
    "--seeds",
    default=DEFAULT_SEEDS,
    show_default=True,
    type=click.IntRange(min=1),
    help="Seeds per model and task: FIRST..FIRST+N-1.",
)
@click.option(
    "--first-seed",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="The first seed (another seed set, e.g. to measure check's false alarms).",
)
@click.option("--budget", default="default", show_default=True, type=click.Choice(BUDGETS))
@click.option(
    "--samples",
    "n_samples",
    type=click.IntRange(min=2),
    help="Generated samples per run (default: the task's count for the budget).",
)
@click.option(
    "--results",
    "results_dir",
    default=DEFAULT_RESULTS,
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
)
@click.option(
    "--leaderboards",
    "leaderboard_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where leaderboards go [default: leaderboards/ for --results results, else "
    "DIR-leaderboards beside the results directory DIR].",
)
@click.option("--no-leaderboard", is_flag=True, help="Do not regenerate leaderboards.")
@click.option(
    "--cache",
    "cache_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help=f"Checkpoint and feature cache [default: ${CACHE_ENV} or ~/.cache/genbench].",
)
@click.option(
    "--executor",
    default="auto",
    show_default=True,
    envvar="GENBENCH_EXECUTOR",
    help="auto (one worker process per core) | serial | process:N | dask-local:N | "
    "tcp://HOST:PORT [env: GENBENCH_EXECUTOR]",
)
@click.option(
    "--timeout",
    "hook_timeout",
    default=HOOK_TIMEOUT_S,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds one plugin hook may run before the run fails.",
)
@click.option("--force", is_flag=True, help="Recompute runs that already have a record.")
@click.option(
    "--retrain",
    is_flag=True,
    help="Ignore cached checkpoints of the selected cells: train again (implies --force).",
)
@click.option("--show-tracebacks", is_flag=True, help="Print the traceback of every failed run.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.pass_obj
def run(
    obj: _Context,
    model_names,
    task_names,
    seeds,
    first_seed,
    budget,
    n_samples,
    results_dir,
    leaderboard_dir,
    no_leaderboard,
    cache_dir,
    executor,
    hook_timeout,
    force,
    retrain,
    show_tracebacks,
    quiet,
) -> None:
    """Run models × tasks × seeds and regenerate the leaderboards.

    With no options: every registered model on the default tasks at the
    default budget, three seeds. Cells with an up-to-date record are skipped,
    so an interrupted run resumes. Exits 1 if any run failed.
    """
    from genbench.registry import RegistryError
    from genbench.run.executors import ExecutorSpecError, parse_executor
    from genbench.run.grid import plan_grid
    from genbench.run.runner import run_grid
    from genbench.run.settings import RunSettings

    registry = obj.registry
    try:
        chosen_executor = parse_executor(executor)
    except ExecutorSpecError as exc:
        raise click.UsageError(str(exc)) from exc
    try:
        cells = plan_grid(
            registry,
            models=model_names,
            tasks=task_names,
            seeds=seeds,
            first_seed=first_seed,
            budget=budget,
            n_samples=n_samples,
        )
    except RegistryError as exc:
        raise click.UsageError(str(exc)) from exc
    if not cells:
        raise click.UsageError("no model supports the chosen tasks")
    settings = RunSettings(
        results_dir=results_dir.resolve(),
        cache_dir=(cache_dir or default_cache_dir()).resolve(),
        hook_timeout=hook_timeout,
        plugin_files=obj.plugin_files,
    )
    progress = _progress(len(cells), quiet)
    try:
        with _exit_on_sigterm():
            report = run_grid(
                cells,
                settings,
                registry,
                executor=chosen_executor,
                force=force or retrain,
                retrain=retrain,
                on_done=progress,
            )
    except KeyboardInterrupt:
        progress.close()
        click.echo(STOPPED, err=True)
        sys.exit(130)
    finally:
        progress.close()
    click.echo(
        f"{len(report.written)} runs written, {len(report.skipped)} up to date, "
        f"{len(report.failed)} failed; records in {results_dir}"
    )
    for path in report.failed:
        click.echo(f"  failed: {_failure_line(path)}", err=True)
        if show_tracebacks:
            click.echo(_indent(_failure_traceback(path)), err=True)
    if report.failed and not show_tracebacks:
        click.echo("  (tracebacks: genbench show RECORD, or run with --show-tracebacks)", err=True)
    if not no_leaderboard:
        from genbench.records.record import RecordError
        from genbench.report.leaderboard import build_leaderboards

        leaderboard_dir = leaderboard_dir or _leaderboards_for(results_dir)
        try:
            files = build_leaderboards(results_dir, leaderboard_dir)
        except (RecordError, ValueError) as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"leaderboards for {len(files)} tasks in {leaderboard_dir}/")
    if report.failed:
        sys.exit(1)


@main.command()
@click.option(
    "--results",
    "results_dir",
    default=DEFAULT_RESULTS,
    show_default=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output directory [default: leaderboards/ for --results results, else "
    "DIR-leaderboards beside the results directory DIR].",
)
@click.option("--budget", type=click.Choice(BUDGETS), help="Only runs at this budget.")
@click.pass_obj
def leaderboard(obj: _Context, results_dir: Path, out_dir: Path | None, budget: str | None) -> None:
    """Regenerate Markdown/CSV leaderboards and plots from stored records.

    A record that cannot be read (truncated, empty, not a record) is an
    error naming the file: a leaderboard never silently drops a run."""
    from genbench.report.leaderboard import build_leaderboards

    obj.register_plugin_metrics()
    try:
        files = build_leaderboards(
            results_dir, out_dir or _leaderboards_for(results_dir), budget=budget
        )
    except ValueError as exc:  # RecordError is a ValueError
        raise click.ClickException(str(exc)) from exc
    for item in files:
        click.echo(f"{item.task}: {item.markdown}")


@main.command()
@click.option(
    "--baseline",
    "baseline",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="Committed records (directory or one JSON file) to compare against.",
)
@click.option(
    "--results",
    "results_dir",
    default=DEFAULT_RESULTS,
    show_default=True,
    type=click.Path(exists=True, path_type=Path),
    help="Fresh records.",
)
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
@click.option(
    "--alpha",
    default=REGRESSION_ALPHA,
    show_default=True,
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    help="Level of the test that must also reject before a worsening counts.",
)
@click.option(
    "--allow-missing",
    is_flag=True,
    help="Pass even when a baseline model or metric is missing from the fresh results "
    "(by default a missing comparison fails).",
)
@click.option("-a", "--all", "show_all", is_flag=True, help="Print every compared metric.")
@click.pass_obj
def check(
    obj: _Context,
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
    from genbench.report.regression import Tolerance, compare, has_regression

    obj.register_plugin_metrics()
    try:
        base = records_to_frame(iter_records(baseline))
        fresh = records_to_frame(iter_records(results_dir))
    except RecordError as exc:
        _cannot_compare(str(exc))
    if base.empty:
        _cannot_compare(f"no records in baseline {str(baseline)!r}")
    table = compare(fresh, base, tolerance=Tolerance(k_std, relative, absolute), alpha=alpha)
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


@main.command("compare")
@click.argument("model_a")
@click.argument("model_b")
@click.option("-t", "--task", "task_name", required=True, help="The task both models ran on.")
@click.option(
    "--metric",
    "metric_names",
    multiple=True,
    help="Only this metric (repeatable; default: every metric both report).",
)
@click.option(
    "--results",
    "results_dir",
    default=DEFAULT_RESULTS,
    show_default=True,
    type=click.Path(exists=True, path_type=Path),
)
@click.option(
    "--alpha",
    default=REGRESSION_ALPHA,
    show_default=True,
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    help="Level of the test.",
)
@click.pass_obj
def compare_command(
    obj: _Context,
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
    _echo_table(["metric", "A", "B", "A − B [95 %]", "p", "verdict"], rows)


CANNOT_COMPARE = 2
"""``genbench check``'s exit status when the comparison could not be made
(1 means it was made and something regressed)."""


def _cannot_compare(message: str):
    click.echo(f"Error: cannot compare: {message}", err=True)
    sys.exit(CANNOT_COMPARE)


@main.command()
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
                click.echo(_indent(failure.traceback.rstrip()))
        for name, value in sorted(record.metrics.items()):
            click.echo(f"  {name}: {value}")


@main.command()
@click.argument("model_names", nargs=-1, required=True)
@click.option(
    "-t",
    "--task",
    "task_names",
    multiple=True,
    help="Task to validate on (repeatable) [default: a small task per modality].",
)
@click.option("--budget", default="smoke", show_default=True, type=click.Choice(BUDGETS))
@click.option(
    "--no-audit",
    is_flag=True,
    help="Skip the likelihood audit on the kit's enumerable tasks.",
)
@click.option(
    "--timeout",
    "hook_timeout",
    default=600.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds one hook call may take.",
)
@click.pass_obj
def validate(obj: _Context, model_names, task_names, budget, no_audit, hook_timeout) -> None:
    """Check that models keep genbench's plugin contract: output formats,
    determinism, checkpoint and pickle round trips, reconstructions, and (on
    tiny enumerable tasks) that likelihoods sum to at most 1. Exit 1 when a
    check fails; every failure names the hook and what was wrong."""
    from genbench.registry import RegistryError
    from genbench.testing import ConformanceKit

    try:
        kit = ConformanceKit.from_plugins(obj.plugin_files, budget=budget, timeout=hook_timeout)
        for name in model_names:
            kit.registry.model(name)
        for name in task_names:
            kit.registry.task(name)
    except RegistryError as exc:
        raise click.UsageError(str(exc)) from exc
    except Exception as exc:  # a plugin that cannot even load
        raise click.ClickException(str(exc)) from exc
    failed = False
    for name in model_names:
        report = kit.validate(name, tasks=task_names, audit=not no_audit)
        click.echo(report.table())
        failed = failed or not report.ok
    sys.exit(1 if failed else 0)


def _lookup(getter, name):
    from genbench.registry import RegistryError

    try:
        return getter(name)
    except RegistryError as exc:
        raise click.UsageError(str(exc)) from exc


def _progress(total: int, quiet: bool):
    from tqdm import tqdm

    bar = tqdm(total=total, disable=quiet, unit="run", desc="genbench", file=sys.stderr)

    def on_done(cell, status: str) -> None:
        bar.set_postfix_str(f"{cell.model} on {cell.task} seed {cell.seed}: {status}")
        bar.update(1)

    on_done.close = bar.close
    return on_done


def _leaderboards_for(results_dir: Path) -> Path:
    """Where leaderboards of ``results_dir`` go by default: ``leaderboards/``
    for the default ``results/``, else ``<DIR>-leaderboards`` beside ``DIR``
    (so ``--results fresh`` never overwrites the committed leaderboards)."""
    if Path(results_dir).resolve() == DEFAULT_RESULTS.resolve():
        return DEFAULT_LEADERBOARDS
    resolved = Path(results_dir).resolve()
    return Path(results_dir).parent / f"{resolved.name}-leaderboards"


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.splitlines())


def _failure_traceback(path: Path) -> str:
    from genbench.records.store import read_record

    record = read_record(path)
    failure = record.failure if record else None
    if failure is None or not failure.traceback:
        return "(no traceback kept)"
    return failure.traceback.rstrip()


def _failure_line(path: Path) -> str:
    from genbench.records.store import read_record

    record = read_record(path)
    failure = record.failure if record else None
    if failure is None:
        return f"{path}: unreadable record"
    return f"{path}: plugin {failure.plugin!r}, hook {failure.hook!r}: {failure.reason}"


def _echo_table(header: list[str], rows: list[tuple]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    for line in [header, *rows]:
        click.echo("  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=False)).rstrip())
