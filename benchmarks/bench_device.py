"""The default grid of one task on one device: training and sampling time
and the primary metric per family, as a markdown table for docs/families.md.

Runs every family row (the built-in families plugin; baselines left out)
through ``genbench run``'s own harness with ``--device``, into a private
results directory and cache, then prints per model the mean over seeds of
training seconds, sampling seconds and the task's primary metric, with the
device's name. Usage (one GPU; a fresh cache measures training)::

    python benchmarks/bench_device.py --device cuda --seeds 1 \\
        --results /tmp/gpu-results --cache /tmp/gpu-cache

On the CPU, ``--device cpu --budget smoke`` checks the script in a minute.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from genbench.devices import describe, resolve_device
from genbench.plugins import get_plugin_manager
from genbench.records import iter_records
from genbench.registry import Registry
from genbench.run.grid import plan_grid
from genbench.run.runner import run_grid
from genbench.run.settings import RunSettings

FAMILIES_PLUGIN = "families"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps")
    parser.add_argument("--task", default="image/mnist")
    parser.add_argument("--budget", default="default")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--results", type=Path, required=True)
    parser.add_argument("--cache", type=Path, required=True)
    args = parser.parse_args()

    device = resolve_device(args.device)
    registry = Registry(get_plugin_manager())
    task = registry.task(args.task)
    models = [s.name for s in registry.models_for(task) if s.plugin == FAMILIES_PLUGIN]
    cells = plan_grid(
        registry, models=models, tasks=[args.task], seeds=args.seeds, budget=args.budget
    )
    settings = RunSettings(
        results_dir=args.results.resolve(), cache_dir=args.cache.resolve(), device=device
    )
    report = run_grid(cells, settings, registry, executor="serial", force=True)
    metric = task.primary_metric
    rows: dict[str, list] = {}
    for record in iter_records(args.results):
        if record.config.task == args.task and record.config.budget == args.budget:
            rows.setdefault(record.config.model.name, []).append(record)
    print(f"{args.task}, {args.budget} budget, {args.seeds} seed(s), on {describe(device).name}")
    print(f"| model | train s | sample s | {metric} | failed |")
    print("|---|---:|---:|---:|---:|")
    for name in models:
        done = [r for r in rows.get(name, []) if r.ok]
        failed = len(rows.get(name, [])) - len(done)

        def mean(key: str, runs: list = done) -> str:
            values = [r.metrics[key] for r in runs if key in r.metrics]
            return f"{statistics.fmean(values):.4g}" if values else "n/a"

        print(
            f"| {name} | {mean('train_seconds')} | {mean('sample_seconds')} | "
            f"{mean(metric)} | {failed} |"
        )
    print(f"{len(report.written)} runs written, {len(report.failed)} failed")


if __name__ == "__main__":
    main()
