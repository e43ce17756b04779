"""The grid of runs: which (model, task, seed, budget) cells to evaluate and
the configuration that identifies each one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from genbench.registry import Registry, RegistryError
from genbench.seeding import derive_seed
from genbench.specs import BUDGETS

DEFAULT_TASKS: tuple[str, ...] = ("image/mnist", "toy/ring8", "toy/grid25")
"""Tasks ``genbench run`` evaluates when none are named: the embedded image
default and the two mode-collapse testbeds."""


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
    seeds: int = 3,
    budget: str = "default",
    n_samples: int | None = None,
) -> list[Cell]:
    """Every cell of models × tasks × seeds whose model supports the task.

    Unnamed models mean every registered model; unnamed tasks mean
    :data:`DEFAULT_TASKS` (those registered). A named model that supports
    none of the named tasks is an error, as are unknown names.
    """
    if budget not in BUDGETS:
        raise RegistryError(f"unknown budget {budget!r}; choose one of {list(BUDGETS)}")
    if seeds < 1:
        raise RegistryError(f"--seeds must be at least 1, got {seeds}")
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
            for seed in range(seeds):
                cells.append(Cell(spec.name, task.name, seed, budget, n_samples))
    return cells


def cell_config(registry: Registry, cell: Cell) -> dict[str, Any]:
    """What identifies a run's result: the model's configuration and plugin
    version, its hyper-parameters at the budget (for the task's modality),
    the task's content
    fingerprint, the seed and sample count. Records with the same config hash
    are interchangeable, so a re-run skips them."""
    spec = registry.model(cell.model)
    task = registry.task(cell.task)
    n_samples = cell.n_samples or task.eval_samples[cell.budget]
    return {
        "model": spec.config(),
        "description": spec.description,
        "hyperparameters": spec.hyperparameters(cell.budget, task.modality),
        "task": task.name,
        "task_fingerprint": task.fingerprint(),
        "budget": cell.budget,
        "seed": cell.seed,
        "n_samples": n_samples,
        "seeds": seeds_for(cell, spec.config()["trains_as"]),
    }


def seeds_for(cell: Cell, trains_as: str) -> dict[str, int]:
    """Per-purpose seeds derived from the cell's base seed. The fit seed
    depends on the trained network's name (``trains_as``), so variants that
    share a network share its checkpoint."""
    return {
        "base": cell.seed,
        "fit": derive_seed(cell.seed, trains_as, cell.task, "fit"),
        "sample": derive_seed(cell.seed, cell.model, cell.task, "sample"),
    }
