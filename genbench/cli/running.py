"""``genbench run``: plan the grid, run it, write records and leaderboards."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import click

from genbench.cli.common import (
    DEFAULT_RESULTS,
    CliContext,
    indent,
    leaderboards_for,
)
from genbench.defaults import (
    CACHE_ENV,
    DEFAULT_BUDGET,
    DEFAULT_SEEDS,
    HOOK_TIMEOUT_S,
    default_cache_dir,
)
from genbench.specs import BUDGETS, LADDER_BASE

STOPPED = "stopped: finished runs keep their records; the same command resumes the rest"


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


def budget_callback(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Click callback: ``value`` in its canonical spelling (a named budget
    or a ladder rung ``default-xK``; ``default-x1`` is ``default``), or a
    usage error naming what is accepted."""
    if value is None:
        return None
    from genbench.specs import canonical_budget

    try:
        return canonical_budget(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param=param) from exc


BUDGET_HELP = (
    f"{' | '.join(BUDGETS)} | {LADDER_BASE}-xK (K times the {LADDER_BASE} training steps); "
    "full is sized for one GPU, its cost not yet measured"
)

LEADERBOARDS_DEFAULT_HELP = (
    "[default: leaderboards/ for --results results, else DIR-leaderboards beside the "
    "results directory DIR]"
)
"""Where leaderboards go when not named (``genbench run`` and ``genbench leaderboard``)."""


@click.command()
@click.option("-m", "--model", "model_names", multiple=True, help="Model to run (repeatable).")
@click.option(
    "--all-models",
    is_flag=True,
    help="Every registered model, the rows left out of the default grid included "
    "(`genbench models` marks them); not with --model.",
)
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
@click.option(
    "--budget",
    callback=budget_callback,
    help=f"{BUDGET_HELP}  [default: {DEFAULT_BUDGET}]",
)
@click.option(
    "--budget-sweep",
    "budget_sweep",
    metavar="K1,K2,...",
    help=f"Run each selected model at {LADDER_BASE}-xK for every K listed (e.g. 1,2,4; "
    f"1 is {LADDER_BASE}), same tasks and seeds; not with --budget.",
)
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
    help=f"Where leaderboards go {LEADERBOARDS_DEFAULT_HELP}.",
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
    "--device",
    default="auto",
    show_default=True,
    envvar="GENBENCH_DEVICE",
    help="auto (a CUDA GPU if there is one, else the CPU) | cpu | cuda (one worker per "
    "GPU) | cuda:N | mps (only by name, untested); recorded in provenance, never in the "
    "configuration hash "
    "[env: GENBENCH_DEVICE]",
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
    obj: CliContext,
    model_names,
    all_models,
    task_names,
    seeds,
    first_seed,
    budget,
    budget_sweep,
    n_samples,
    results_dir,
    leaderboard_dir,
    no_leaderboard,
    cache_dir,
    executor,
    device,
    hook_timeout,
    force,
    retrain,
    show_tracebacks,
    quiet,
) -> None:
    """Run models × tasks × seeds and regenerate the leaderboards.

    With no options: every registered model in the default grid on the
    default tasks at the default budget, three seeds (--all-models adds the
    rows left out of it). Cells with an up-to-date record are skipped,
    so an interrupted run resumes. Exits 1 if any run failed.
    """
    from genbench.devices import DeviceError, resolve_device
    from genbench.registry import RegistryError
    from genbench.run.executors import ExecutorSpecError, parse_executor
    from genbench.run.grid import parse_multiples, plan_grid, plan_sweep
    from genbench.run.runner import run_grid
    from genbench.run.settings import RunSettings

    registry = obj.registry
    try:
        chosen_executor = parse_executor(executor)
    except ExecutorSpecError as exc:
        raise click.UsageError(str(exc)) from exc
    try:
        chosen_device = resolve_device(device)
    except DeviceError as exc:
        raise click.ClickException(str(exc)) from exc  # one line, no usage text
    if budget_sweep is not None and budget is not None:
        raise click.UsageError("--budget-sweep runs the ladder of budgets; drop --budget")
    selection = dict(
        models=model_names, tasks=task_names, seeds=seeds, first_seed=first_seed,
        n_samples=n_samples, all_models=all_models,
    )  # fmt: skip
    try:
        if budget_sweep is not None:
            cells = plan_sweep(registry, parse_multiples(budget_sweep), **selection)
        else:
            cells = plan_grid(registry, budget=budget or DEFAULT_BUDGET, **selection)
    except RegistryError as exc:
        raise click.UsageError(str(exc)) from exc
    if not cells:
        raise click.UsageError("no model supports the chosen tasks")
    settings = RunSettings(
        results_dir=results_dir.resolve(),
        cache_dir=(cache_dir or default_cache_dir()).resolve(),
        hook_timeout=hook_timeout,
        plugin_files=obj.plugin_files,
        device=chosen_device,
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
            click.echo(indent(_failure_traceback(path)), err=True)
    if report.failed and not show_tracebacks:
        click.echo("  (tracebacks: genbench show RECORD, or run with --show-tracebacks)", err=True)
    if not no_leaderboard:
        from genbench.records.record import RecordError
        from genbench.report.leaderboard import build_leaderboards

        leaderboard_dir = leaderboard_dir or leaderboards_for(results_dir)
        try:
            files = build_leaderboards(results_dir, leaderboard_dir)
        except (RecordError, ValueError) as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"leaderboards for {len(files)} tasks in {leaderboard_dir}/")
    if report.failed:
        sys.exit(1)


def _progress(total: int, quiet: bool):
    from tqdm import tqdm

    bar = tqdm(total=total, disable=quiet, unit="run", desc="genbench", file=sys.stderr)

    def on_done(cell, status: str) -> None:
        bar.set_postfix_str(f"{cell.model} on {cell.task} seed {cell.seed}: {status}")
        bar.update(1)

    on_done.close = bar.close
    return on_done


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
