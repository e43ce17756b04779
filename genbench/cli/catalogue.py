"""Commands that list what is loaded (plugins, models, tasks, metrics) and
check a model against the plugin contract (``validate``)."""

from __future__ import annotations

import sys

import click

from genbench.cli.common import (
    CliContext,
    echo_table,
    lookup,
)
from genbench.specs import BUDGETS


@click.command()
@click.pass_obj
def plugins(obj: CliContext) -> None:
    """List loaded plugins with their version and the hooks they implement."""
    pm = obj.registry.pm
    rows = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda item: item[0]):
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
        dist = pm.distributions.get(name)
        source = f"{dist[0]} {dist[1]}" if dist else f"file {getattr(plugin, '__file__', '?')}"
        rows.append((name, source, ", ".join(hooks)))
    echo_table(["plugin", "from", "hooks"], rows)


@click.command()
@click.option("-t", "--task", "task_name", help="Only models that support this task.")
@click.pass_obj
def models(obj: CliContext, task_name: str | None) -> None:
    """List registered models; the `grid` column says whether `genbench run`
    includes the row when no model is named (`default`) or only with
    --all-models or --model (`named`)."""
    registry = obj.registry
    specs = (
        registry.models_for(lookup(registry.task, task_name))
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
            "default" if s.default_grid else "named",
            s.description,
        )
        for s in specs
    ]
    header = ["model", "family", "plugin", "modalities", "capabilities", "grid", "description"]
    echo_table(header, rows)


@click.command()
@click.pass_obj
def tasks(obj: CliContext) -> None:
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
    echo_table(["task", "modality", "levels", "shape", "plugin", "description"], rows)


@click.command()
def metrics() -> None:
    """List every metric with its unit and which direction is better."""
    from genbench.metrics.info import METRICS

    arrows = {True: "higher", False: "lower", None: "–"}
    rows = [
        (m.name, m.unit, arrows[m.higher_is_better], m.kind, ",".join(m.modalities), m.description)
        for m in METRICS.values()
    ]
    echo_table(["metric", "unit", "better", "kind", "modalities", "description"], rows)


@click.command()
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
def validate(obj: CliContext, model_names, task_names, budget, no_audit, hook_timeout) -> None:
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
