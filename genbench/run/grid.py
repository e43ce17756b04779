"""The grid of runs: which (model, task, seed, budget) cells to evaluate and
the :class:`~genbench.records.config.RunConfig` that identifies each one."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from genbench.defaults import DEFAULT_SEEDS, DEFAULT_TASKS
from genbench.hashing import derive_seed
from genbench.records.config import NOISE_FLOOR, DerivedSeeds, ModelConfig, RunConfig
from genbench.registry import Registry, RegistryError
from genbench.specs import (
    ModelSpec,
    base_budget,
    canonical_budget,
    ladder_budget,
    nested_value,
)


@dataclass(frozen=True)
class Cell:
    """One run: a model on a task with one seed at one budget.

    ``budget`` is in its canonical spelling (see
    :func:`~genbench.specs.canonical_budget`): a named budget or a ladder
    rung ``default-xK``. ``n_samples`` overrides the task's generated-sample
    count for the budget.
    """

    model: str
    task: str
    seed: int
    budget: str
    n_samples: int | None = None

    @property
    def eval_budget(self) -> str:
        """The named budget whose sample and likelihood-example counts the
        task uses for this cell (``default`` on every ladder rung)."""
        return base_budget(self.budget)


def plan_grid(
    registry: Registry,
    *,
    models: Sequence[str] = (),
    tasks: Sequence[str] = (),
    seeds: int = DEFAULT_SEEDS,
    first_seed: int = 0,
    budget: str = "default",
    n_samples: int | None = None,
    all_models: bool = False,
) -> list[Cell]:
    """Every cell of models × tasks × seeds ``first_seed`` ..
    ``first_seed + seeds - 1`` whose model supports the task.

    Unnamed models mean every registered model in the default grid
    (:attr:`~genbench.specs.ModelSpec.default_grid`), or every registered
    model with ``all_models``; unnamed tasks mean
    :data:`~genbench.defaults.DEFAULT_TASKS` (those registered). ``budget``
    is a named budget or a ladder rung (``default-x2``), stored in its
    canonical spelling (``default-x1`` is ``default``). A named model that
    supports none of the named tasks is an error, as are unknown names and
    budgets.
    """
    try:
        budget = canonical_budget(budget)
    except ValueError as exc:
        raise RegistryError(str(exc)) from exc
    if seeds < 1:
        raise RegistryError(f"--seeds must be at least 1, got {seeds}")
    if first_seed < 0:
        raise RegistryError(f"--first-seed must be at least 0, got {first_seed}")
    if n_samples is not None and n_samples < 2:
        raise RegistryError(f"--samples must be at least 2, got {n_samples}")
    task_names = list(tasks) or [t for t in DEFAULT_TASKS if t in registry.tasks]
    task_objects = [registry.task(name) for name in task_names]
    if all_models and models:
        raise RegistryError(
            "--all-models and --model exclude each other: name the models or ask for all"
        )
    for name in models:
        spec = registry.model(name)
        if not any(t.modality in spec.modalities for t in task_objects):
            raise RegistryError(
                f"model {name!r} supports {list(spec.modalities)}, none of the tasks {task_names}"
            )
    cells = []
    for task in task_objects:
        for spec in registry.models_for(task, models):
            if not (models or all_models or spec.default_grid):
                continue
            for seed in range(first_seed, first_seed + seeds):
                cells.append(Cell(spec.name, task.name, seed, budget, n_samples))
    return cells


def parse_multiples(text: str) -> tuple[int, ...]:
    """``"1,2,4"`` → ``(1, 2, 4)``: the ladder multiples of
    ``--budget-sweep``, sorted, duplicates dropped.

    Raises:
        RegistryError: an empty list or an entry that is not a positive
            integer, naming the entry.
    """
    multiples = set()
    for entry in text.split(","):
        entry = entry.strip()
        if not (entry.isascii() and entry.isdigit()) or int(entry) < 1:
            raise RegistryError(
                f"--budget-sweep takes positive integers separated by commas (e.g. 1,2,4); "
                f"got {entry!r} in {text!r}"
            )
        multiples.add(int(entry))
    return tuple(sorted(multiples))


def plan_sweep(
    registry: Registry,
    multiples: Iterable[int],
    *,
    models: Sequence[str] = (),
    tasks: Sequence[str] = (),
    seeds: int = DEFAULT_SEEDS,
    first_seed: int = 0,
    n_samples: int | None = None,
    all_models: bool = False,
) -> list[Cell]:
    """The cells of :func:`plan_grid` at each ladder rung ``default-xK`` for
    ``K`` in ``multiples`` (``K = 1`` is ``default``), same models, tasks
    and seeds, cheapest rung first.

    Above ``K = 1`` a cell is planned only when the rung can change the
    model: a noise-floor row (held-out data, no training), a spec declaring
    no ladder keys (a model that does not train) and a model whose
    resolved hyper-parameters carry no ladder key (nothing scales, e.g. a
    closed-form baseline) are run at ``default`` only. Any other spec that
    declares no budgets at all is planned at every rung: its plugin
    receives the budget string and scales by itself.

    Raises:
        RegistryError: no multiples, a multiple that is not a positive
            integer, or anything :func:`plan_grid` rejects.
    """
    chosen = sorted(set(multiples))
    if not chosen:
        raise RegistryError("--budget-sweep needs at least one multiple, e.g. 1,2,4")
    cells: list[Cell] = []
    for multiple in chosen:
        try:
            budget = ladder_budget(multiple)
        except ValueError as exc:
            raise RegistryError(str(exc)) from exc
        planned = plan_grid(
            registry,
            models=models,
            tasks=tasks,
            seeds=seeds,
            first_seed=first_seed,
            budget=budget,
            n_samples=n_samples,
            all_models=all_models,
        )
        if multiple > 1:
            planned = [c for c in planned if _on_ladder(registry, c.model, c.task)]
        cells += planned
    return cells


def _on_ladder(registry: Registry, model: str, task: str) -> bool:
    """True when a rung above ``default`` can train ``model`` differently on
    ``task`` (see :func:`plan_sweep`)."""
    spec: ModelSpec = registry.model(model)
    if spec.noise_floor or not spec.ladder_keys:
        return False
    if not spec.budgets:
        return True
    row = spec.hyperparameters("default", registry.task(task).modality)
    return any(nested_value(row, key) is not None for key in spec.ladder_keys)


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
        n_samples=cell.n_samples or task.eval_samples[cell.eval_budget],
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
