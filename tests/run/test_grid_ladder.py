"""The budget ladder in the grid: canonical names, config hashes that do
not move for the named budgets, ``--budget-sweep`` planning, and the sweep
end to end on a tiny plugin whose ``default`` budget trains in no time."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from genbench import ModelSpec
from genbench.cli import main
from genbench.plugins import get_plugin_manager
from genbench.registry import Registry, RegistryError
from genbench.run.grid import Cell, parse_multiples, plan_grid, plan_sweep, run_config

REPO = Path(__file__).resolve().parents[2]

LADDER_PLUGIN = '''
"""Two test models on the ladder: ``ladder-steps`` resolves budgets through
``ModelSpec.hyperparameters`` (noise shrinking with steps), ``ladder-own``
declares no budgets and reads the budget string itself."""

import torch

from genbench import ModelSpec, hookimpl
from genbench.specs import parse_budget


class Noisy:
    def __init__(self, train, noise, examples):
        self.train, self.noise, self.examples = train, noise, examples


@hookimpl
def register_models(register):
    register(ModelSpec(
        name="ladder-steps", family="ladder", modalities=("toy",),
        budgets={"smoke": {"steps": 1, "batch_size": 4},
                 "default": {"steps": 2, "batch_size": 4}},
        description="training examples plus noise 1/steps",
    ))
    register(ModelSpec(name="ladder-own", family="ladder", modalities=("toy",)))


@hookimpl
def fit(spec, task, budget, seed, checkpoint):
    if spec.family != "ladder":
        return None
    train = task.load().train
    if spec.name == "ladder-own":
        _, multiple = parse_budget(budget)
        return Noisy(train, 0.5 / multiple, 100.0 * multiple)
    hyper = spec.hyperparameters(budget, task.modality)
    return Noisy(train, 1.0 / hyper["steps"], float(hyper["steps"] * hyper["batch_size"]))


@hookimpl
def sample(model, n, seed):
    if not isinstance(model, Noisy):
        return None
    generator = torch.Generator().manual_seed(seed)
    index = torch.randint(len(model.train), (n,), generator=generator)
    return model.train[index] + model.noise * torch.randn((n, 2), generator=generator)


@hookimpl
def model_info(model):
    if not isinstance(model, Noisy):
        return None
    return {"train_examples": model.examples, "noise": model.noise}
'''


@pytest.fixture(scope="module")
def ladder_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ladder") / "ladder_plugin.py"
    path.write_text(LADDER_PLUGIN)
    return path


@pytest.fixture(scope="module")
def registry(ladder_plugin: Path) -> Registry:
    return Registry(get_plugin_manager([ladder_plugin]))


def test_named_budget_hashes_do_not_move():
    """The committed ``default`` records stay up to date: their config
    hashes are recomputed from today's registry (a row whose plugin this
    change does not touch: the closed-form baseline; the held-out ``data``
    row's hash moved when it declared ``conditional_sample``, since
    capabilities are hashed, and its records are regenerated)."""
    registry = Registry(get_plugin_manager())
    for model in ("gaussian",):
        for seed in (0, 2):
            stored = json.loads(
                (
                    REPO / "results" / "toy" / "ring8" / model / f"default-seed{seed}.json"
                ).read_text()
            )
            config = run_config(registry, Cell(model, "toy/ring8", seed, "default"))
            assert config.hash == stored["config_hash"]


def test_default_x1_is_default(registry: Registry):
    plain = plan_grid(registry, models=["ladder-steps"], tasks=["toy/ring8"], seeds=1)
    one = plan_grid(
        registry, models=["ladder-steps"], tasks=["toy/ring8"], seeds=1, budget="default-x1"
    )
    assert plain == one and one[0].budget == "default"
    assert run_config(registry, plain[0]).hash == run_config(registry, one[0]).hash


def test_a_rung_is_its_own_config_scored_like_default(registry: Registry):
    cell = Cell("ladder-steps", "toy/ring8", 0, "default-x4")
    config = run_config(registry, cell)
    default = run_config(registry, Cell("ladder-steps", "toy/ring8", 0, "default"))
    assert config.budget == "default-x4" and cell.eval_budget == "default"
    assert config.hyperparameters == {"steps": 8, "batch_size": 4}
    assert config.n_samples == default.n_samples == 2000  # the task's default count
    assert config.derived_seeds == default.derived_seeds
    assert config.hash != default.hash
    assert config.training_key() != default.training_key()
    assert plan_grid(registry, tasks=["toy/ring8"], budget="default-x04")[0].budget == "default-x4"
    with pytest.raises(RegistryError, match="budget 'default-x0': the multiple after '-x'"):
        plan_grid(registry, tasks=["toy/ring8"], budget="default-x0")


def test_sweep_plans_each_rung_and_skips_rows_a_rung_cannot_change(registry: Registry):
    cells = plan_sweep(
        registry,
        [4, 1, 2, 2],
        models=["ladder-steps", "ladder-own", "gaussian", "data", "memorizer", "uniform"],
        tasks=["toy/ring8"],
        seeds=2,
        first_seed=3,
    )
    planned = {(c.model, c.budget, c.seed) for c in cells}
    assert len(cells) == len(planned) == 20
    for seed in (3, 4):
        for budget in ("default", "default-x2", "default-x4"):
            assert ("ladder-steps", budget, seed) in planned
            assert ("ladder-own", budget, seed) in planned  # reads the string itself
        # nothing to scale (closed form; held-out data): default only
        assert ("gaussian", "default", seed) in planned and ("data", "default", seed) in planned
        # no training at all (ladder_keys=()): default only
        assert ("memorizer", "default", seed) in planned and ("uniform", "default", seed) in planned
    assert [c.budget for c in cells][:12] == ["default"] * 12  # cheapest rung first
    with pytest.raises(RegistryError, match="needs at least one multiple"):
        plan_sweep(registry, [], tasks=["toy/ring8"])
    with pytest.raises(RegistryError, match="a ladder multiple must be a positive integer"):
        plan_sweep(registry, [0, 2], tasks=["toy/ring8"])


def test_sweep_multiples_parse_from_the_command_line():
    assert parse_multiples("1,2,4") == (1, 2, 4)
    assert parse_multiples(" 8, 2 ,2") == (2, 8)
    for bad, entry in (("1,x", "'x'"), ("0", "'0'"), ("", "''"), ("2,-4", "'-4'")):
        with pytest.raises(RegistryError, match=f"positive integers .* got {entry}"):
            parse_multiples(bad)


def _invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_budget_options_refuse_what_is_not_a_budget(tmp_path: Path):
    result = _invoke("run", "--budget", "default-xfoo", "--results", str(tmp_path))
    assert result.exit_code == 2
    assert "budget 'default-xfoo': the multiple after '-x' must be a positive integer" in (
        result.output
    )
    result = _invoke("run", "--budget-sweep", "1,2", "--budget", "smoke")
    assert result.exit_code == 2 and "--budget-sweep runs the ladder of budgets" in result.output
    result = _invoke("run", "--budget-sweep", "1,two", "--results", str(tmp_path))
    assert result.exit_code == 2 and "got 'two' in '1,two'" in result.output
    result = _invoke("leaderboard", "--budget", "full-x2", "--results", str(tmp_path))
    assert result.exit_code == 2 and "only 'default' has multiples" in result.output


def test_budget_sweep_end_to_end(tmp_path: Path, ladder_plugin: Path, cache_dir: Path):
    results, boards = tmp_path / "results", tmp_path / "lb"
    args = [
        "--plugin", str(ladder_plugin), "run", "-m", "ladder-steps", "-m", "ladder-own",
        "-m", "gaussian", "-t", "toy/ring8", "--budget-sweep", "1,2,4", "--seeds", "2",
        "--samples", "200", "--results", str(results), "--leaderboards", str(boards),
        "--cache", str(cache_dir), "-q",
    ]  # fmt: skip
    first = _invoke(*args)
    assert first.exit_code == 0, first.output
    assert "14 runs written, 0 up to date, 0 failed" in first.output
    assert "0 runs written, 14 up to date" in _invoke(*args).output

    def record(model: str, budget: str, seed: int = 0) -> dict:
        path = results / "toy" / "ring8" / model / f"{budget}-seed{seed}.json"
        return json.loads(path.read_text())

    rungs = (("default", 2, 0.5), ("default-x2", 4, 0.25), ("default-x4", 8, 0.125))
    for budget, steps, noise in rungs:
        stored = record("ladder-steps", budget)
        assert stored["config"]["budget"] == budget
        assert stored["config"]["hyperparameters"] == {"steps": steps, "batch_size": 4}
        assert stored["model_info"]["train_examples"] == 4 * steps
        assert stored["model_info"]["noise"] == noise
    assert record("ladder-own", "default-x4", 1)["model_info"]["train_examples"] == 400.0
    assert not (results / "toy" / "ring8" / "gaussian" / "default-x2-seed0.json").exists()

    page = (boards / "toy-ring8.md").read_text()
    main_tables = page.split("## Quality per compute")[0]
    assert "default-x2" not in main_tables and "Budget: default." in main_tables
    assert "![quality per compute](toy-ring8/quality-per-compute.png)" in page
    assert (boards / "toy-ring8" / "quality-per-compute.png").stat().st_size > 1000
    assert "--budget-sweep 1,2,4 --seeds 2" in page
    points = pd.read_csv(boards / "toy-ring8-compute.csv")
    steps = points[points["model"] == "ladder-steps"].set_index("budget")
    assert steps["train_examples"].to_dict() == {"default": 8, "default-x2": 16, "default-x4": 32}
    assert list(points["model"]) == [*["ladder-own"] * 3, *["ladder-steps"] * 3]  # no gaussian
    # less noise, more of the real ring covered: coverage grows along the ladder
    assert steps["coverage"].is_monotonic_increasing
    assert "| `ladder-steps` | ladder | default-x4 | 2 | 32 |" in page


def test_families_report_the_training_examples_their_schedule_draws(tmp_path: Path):
    from genbench_families import plugin
    from genbench_families.catalogue import SPECS_BY_NAME, train_examples

    from genbench.checkpoints import Checkpoint

    assert train_examples({"steps": 300, "batch_size": 32, "lr": 1e-3}) == 9600.0
    assert train_examples({"steps": 10, "batch_size": 8, "critic_steps": 5}) == 400.0
    assert train_examples({"steps": 10}) is None and train_examples({}) is None

    task = Registry(get_plugin_manager()).task("toy/ring8")
    vae = SPECS_BY_NAME["vae"]
    row = {**vae.hyperparameters("smoke", "toy"), "steps": 3, "batch_size": 16}
    spec = ModelSpec(
        name="vae", family="vae", modalities=("toy",), capabilities=vae.capabilities,
        budgets={"default": row}, plugin=vae.plugin,
    )  # fmt: skip
    info = {}
    for budget in ("default", "default-x2"):
        fitted = plugin.fit(spec, task, budget, 0, Checkpoint(tmp_path, {"budget": budget}))
        info[budget] = plugin.model_info(fitted)
    assert info["default"]["train_examples"] == 3 * 16
    assert info["default-x2"]["train_examples"] == 6 * 16
