"""DDIM with S = 50 steps against ancestral DDPM with T = 1000 steps, on
the same trained diffusion model.

Trains the ``diffusion-ddpm`` network on ``image/mnist`` at the chosen budget
(or loads it from the checkpoint cache that ``genbench run`` uses: same key,
same fit seed), draws the same number of samples with each sampler from the
same seed, and prints per sampler the network evaluations per sample, the
wall time per sample, and FID, KID, precision and recall on the task's
in-domain classifier features against the test reference. DDIM runs once
per η (``--eta``, repeatable; default 0, 0.5 and 1): η = 0 is the
deterministic sampler, η = 1 the ancestral sampler on DDIM's steps. Then,
per DDIM row, the speed ratio (target >= 10x) and the relative FID gap
(target: within 15% of DDPM). Sampling is single-threaded, like the default
benchmark. Usage::

    python benchmarks/bench_ddim_vs_ddpm.py --samples 500 --budget default
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import torch
from genbench_families.diffusion import Diffusion, step_sequence
from genbench_families.plugin import FittedModel, fit, seeded_generator

from genbench.checkpoints import Checkpoint
from genbench.defaults import default_cache_dir
from genbench.metrics.engine import prepare_reference, sample_metrics
from genbench.plugins import get_plugin_manager
from genbench.registry import Registry
from genbench.run.grid import Cell, run_config
from genbench.tasks.base import Task
from genbench.tasks.image import MnistTask

MODEL = "diffusion-ddpm"


def load_or_train(
    task: Task, budget: str, seed: int, cache: Path, train_steps: int | None = None
) -> FittedModel:
    """The ``diffusion-ddpm`` model as ``genbench run`` trains it: the
    checkpoint key and fit seed are built the way the harness builds them,
    so a cached run's network is reused. ``train_steps`` replaces the
    budget's number of training steps (a separate cache entry)."""
    registry = Registry(get_plugin_manager())
    spec = registry.model(MODEL)
    if train_steps is not None:
        budgets = {b: {m: dict(h) for m, h in per.items()} for b, per in spec.budgets.items()}
        budgets[budget][task.modality]["steps"] = train_steps
        spec = dataclasses.replace(spec, budgets=budgets)
        registry.models[MODEL] = spec
    config = run_config(registry, Cell(model=MODEL, task=task.name, seed=seed, budget=budget))
    fit_seed = config.derived_seeds.fit
    checkpoint = Checkpoint(cache / "checkpoints", config.training_key())
    cached = checkpoint.path.exists()
    start = time.perf_counter()
    model = fit(spec=spec, task=task, budget=budget, seed=fit_seed, checkpoint=checkpoint)
    print(f"{'loaded' if cached else 'trained'} {MODEL} in {time.perf_counter() - start:.1f} s")
    return model


def draw(
    model: Diffusion, sampler: str, steps: int, n: int, seed: int, eta: float = 0.0
) -> tuple[torch.Tensor, float]:
    """``n`` samples (task format) and the wall time to draw them; ``eta``
    is DDIM's η (ignored by the ancestral sampler)."""
    sequence = step_sequence(model.T, steps)
    generator = seeded_generator(seed)
    start = time.perf_counter()
    with torch.no_grad():
        if sampler == "ddpm":  # ancestral
            x = model.sample_ddpm(n, generator, sequence)
        else:
            start_noise = torch.randn(n, *model.space.shape, generator=generator)
            x = model.ddim(start_noise, sequence, eta, generator)
    seconds = time.perf_counter() - start
    return model.space.decode(x), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=500, help="samples per sampler")
    parser.add_argument("--budget", default="default", choices=["smoke", "default", "full"])
    parser.add_argument("--seed", type=int, default=0, help="base seed of the run")
    parser.add_argument("--ddpm-steps", type=int, default=1000)
    parser.add_argument("--ddim-steps", type=int, default=50)
    parser.add_argument(
        "--eta",
        type=float,
        action="append",
        help="DDIM's η, repeatable (default: 0, 0.5 and 1)",
    )
    parser.add_argument("--train-steps", type=int, default=None, help="override training steps")
    parser.add_argument("--cache", type=Path, default=None, help="checkpoint cache root")
    parser.add_argument("--previews", type=Path, default=None, help="write sample grids here")
    args = parser.parse_args()
    etas = args.eta or [0.0, 0.5, 1.0]
    torch.set_num_threads(1)
    task = MnistTask()
    cache = args.cache or default_cache_dir()
    fitted = load_or_train(task, args.budget, args.seed, cache, args.train_steps)
    diffusion = fitted.model
    extractor = task.feature_extractor()
    reference = prepare_reference(extractor.extract(task.reference(args.budget))[0])

    runs = [("ddpm", args.ddpm_steps, 0.0)] + [("ddim", args.ddim_steps, eta) for eta in etas]
    rows = {}
    for sampler, steps, eta in runs:
        label = sampler if sampler == "ddpm" else f"ddim η={eta:g}"
        samples, seconds = draw(diffusion, sampler, steps, args.samples, args.seed + 1, eta)
        scores = sample_metrics(
            reference,
            extractor.extract(samples)[0],
        )
        rows[label] = {"steps": steps, "seconds": seconds, **scores}
        if args.previews is not None:
            args.previews.mkdir(parents=True, exist_ok=True)
            task.save_preview(samples, args.previews / f"{sampler}{steps}-eta{eta:g}")

    print(f"\n{args.samples} samples per sampler, image/mnist, budget {args.budget!r}, 1 thread")
    header = f"{'sampler':12s} {'NFE':>5s} {'s total':>8s} {'ms/sample':>10s} {'FID':>8s}"
    print(header + f" {'KID':>8s} {'precision':>9s} {'recall':>7s}")
    for label, row in rows.items():
        print(
            f"{label:12s} {row['steps']:5d} {row['seconds']:8.1f} "
            f"{1e3 * row['seconds'] / args.samples:10.2f} {row['fid']:8.2f} "
            f"{row['kid_mean']:8.4f} {row['precision']:9.3f} {row['recall']:7.3f}"
        )
    ddpm = rows.pop("ddpm")
    print("\nagainst DDPM (targets: >= 10x faster, FID at most 15% above)")
    for label, row in rows.items():
        ratio = ddpm["seconds"] / row["seconds"]
        gap = (row["fid"] - ddpm["fid"]) / ddpm["fid"]
        print(
            f"{label:12s} {ratio:5.1f}x faster: {_verdict(ratio >= 10)};"
            f" FID {gap:+.1%}: {_verdict(gap <= 0.15)}"
        )


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


if __name__ == "__main__":
    main()
