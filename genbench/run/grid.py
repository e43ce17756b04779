"""The grid of runs: which (model, task, seed, budget) cells to evaluate and
the :class:`~genbench.records.config.RunConfig` that identifies each one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from genbench.defaults import DEFAULT_SEEDS, DEFAULT_TASKS
from genbench.hashing import derive_seed
from genbench.records.config import NOISE_FLOOR, DerivedSeeds, ModelConfig, RunConfig
from genbench.registry import Registry, RegistryError
from genbench.specs import BUDGETS


@dataclass(frozen=True)
class Cell:
    """One run: a model on a task with one seed at one budget.

    ``n_samples`` overrides the task's generated-sample count for the budget.
    """

    model: str
    task: str
    seed: int
    budget: str
    n_samples: int | None = None


def plan_grid(
    registry: Registry,
    *,
    models: Sequence[str] = (),
    tasks: Sequence[str] = (),
    seeds: int = DEFAULT_SEEDS,
    first_seed: int = 0,
    budget: str = "default",
    n_samples: int | None = None,
) -> list[Cell]:
    """Every cell of models × tasks × seeds ``first_seed`` ..
    ``first_seed + seeds - 1`` whose model supports the task.

    Unnamed models mean every registered model; unnamed tasks mean
    :data:`~genbench.defaults.DEFAULT_TASKS` (those registered). A named
    model that supports none of the named tasks is an error, as are unknown
    names.
    """
    if budget not in BUDGETS:
        raise RegistryError(f"unknown budget {budget!r}; choose one of {list(BUDGETS)}")
    if seeds < 1:
        raise RegistryError(f"--seeds must be at least 1, got {seeds}")
    if first_seed < 0:
        raise RegistryError(f"--first-seed must be at least 0, got {first_seed}")
    if n_samples is not None and n_samples < 2:
        raise RegistryError(f"--samples must be at least 2, got {n_samples}")
    task_names = list(tasks) or [t for t in DEFAULT_TASKS if t in registry.tasks]
    task_objects = [registry.task(name) for name in task_names]
    for name in models:
        spec = registry.model(name)
        if not any(t.modality in spec.modalities for t in task_objects):
            raise RegistryError(
                f"model {name!r} supports {list(spec.modalities)}, none of the tasks {task_names}"
            )
    cells = []
    for task in task_objects:
        for spec in registry.models_for(task, models):
            for seed in range(first_seed, first_seed + seeds):
                cells.append(Cell(spec.name, task.name, seed, budget, n_samples))
    return cells


def run_config(registry: Registry, cell: Cell) -> RunConfig:
    """What identifies a cell's result: the model's configuration and plugin
    version, its hyper-parameters at the budget (for the task's modality),
    the task's content fingerprint, the seeds and the sample count."""
    spec = registry.model(cell.model)
    task = registry.task(cell.task)
    model = ModelConfig.from_spec(spec)
    return RunConfig(
        model=model,
        description=spec.description,
        hyperparameters=spec.hyperparameters(cell.budget, task.modality),
        task=task.name,
        task_fingerprint=task.fingerprint(),
        budget=cell.budget,
        seed=cell.seed,
        n_samples=cell.n_samples or task.eval_samples[cell.budget],
        derived_seeds=derived_seeds(cell, model.trains_as),
        role=NOISE_FLOOR if spec.noise_floor else "",
    )


def derived_seeds(cell: Cell, trains_as: str) -> DerivedSeeds:
    """Per-purpose seeds derived from the cell's base seed. The fit seed
    depends on the trained network's name (``trains_as``), so variants that
    share a network share its checkpoint."""
    return DerivedSeeds(
        base=cell.seed,
        fit=derive_seed(cell.seed, trains_as, cell.task, "fit"),
        sample=derive_seed(cell.seed, cell.model, cell.task, "sample"),
    )
