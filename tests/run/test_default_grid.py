"""The default grid: rows a plugin leaves out of it run only when named or
with ``--all-models``; a third-party row is in it unless it says otherwise."""

from __future__ import annotations

import pickle

import pytest
from click.testing import CliRunner

from genbench import ModelSpec
from genbench.cli import main
from genbench.plugins import get_plugin_manager
from genbench.registry import Registry, RegistryError
from genbench.run.grid import plan_grid, plan_sweep

LEFT_OUT = {
    "vae-beta4",
    "vq-vae",
    "flow-matching",
    "flow-matching-euler8",
    "diffusion-cfg",
    "flow-matching-cfg",
    "latent-diffusion-ddpm",
    "latent-diffusion-ddim",
    "latent-diffusion-cfg",
}


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry(get_plugin_manager())


def _models(cells) -> set[str]:
    return {cell.model for cell in cells}


def test_the_default_grid_leaves_out_the_rows_that_say_so(registry: Registry):
    default = _models(plan_grid(registry, seeds=1))
    everything = _models(plan_grid(registry, seeds=1, all_models=True))
    assert not default & LEFT_OUT
    assert everything - default == LEFT_OUT
    assert {"data", "vae", "gan", "diffusion-ddpm", "realnvp", "pixelcnn"} <= default


def test_a_left_out_row_runs_when_named(registry: Registry):
    cells = plan_grid(registry, models=["flow-matching"], tasks=["toy/ring8"], seeds=2)
    assert [(c.model, c.seed) for c in cells] == [("flow-matching", 0), ("flow-matching", 1)]


def test_the_sweep_follows_the_same_selection(registry: Registry):
    on_toy = {name for name in LEFT_OUT if "toy" in registry.model(name).modalities}
    assert on_toy == {"vae-beta4", "vq-vae", "flow-matching", "flow-matching-euler8"}
    cells = plan_sweep(registry, [1, 2], tasks=["toy/ring8"], seeds=1)
    assert not _models(cells) & LEFT_OUT
    cells = plan_sweep(registry, [1], tasks=["toy/ring8"], seeds=1, all_models=True)
    assert _models(cells) >= on_toy


def test_naming_models_and_asking_for_all_is_refused(registry: Registry):
    with pytest.raises(RegistryError, match="--all-models and --model exclude each other"):
        plan_grid(registry, models=["vae"], all_models=True)
    result = CliRunner().invoke(main, ["run", "--all-models", "-m", "vae"])
    assert result.exit_code == 2
    assert "--all-models and --model exclude each other" in result.output


def test_a_spec_is_in_the_default_grid_unless_it_says_otherwise():
    spec = ModelSpec(name="mine", family="vae", modalities=("image",))
    assert spec.default_grid
    kept = pickle.loads(
        pickle.dumps(ModelSpec(name="x", family="vae", modalities=("image",), default_grid=False))
    )
    assert kept.default_grid is False


def test_models_lists_which_rows_run_by_default():
    result = CliRunner().invoke(main, ["models", "-t", "toy/ring8"])
    assert result.exit_code == 0
    rows = {
        line.split()[0]: line.split() for line in result.output.splitlines()[2:] if line.strip()
    }
    assert "named" in rows["flow-matching"] and "default" in rows["vae"]
