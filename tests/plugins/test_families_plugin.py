"""The plugin's hooks: registration, capability declarations, seeding,
checkpoints and the data-space conversions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from genbench_families import plugin
from genbench_families.catalogue import SPECS, SPECS_BY_NAME, build
from genbench_families.nets import factory_for
from test_families_support import TinyBarsTask, TinyBlobsTask, classes_for, fit_model

from genbench import BUDGETS, CAPABILITIES, ModelSpec
from genbench.checkpoints import Checkpoint

TASKS = {"image": TinyBarsTask(), "toy": TinyBlobsTask()}
CASES = [
    (spec.name, modality)
    for spec in SPECS
    for modality in ("image", "toy")
    if modality in spec.modalities
]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """Every model on both tiny tasks, trained for a few steps."""
    directory = tmp_path_factory.mktemp("checkpoints")
    return {
        (name, modality): fit_model(name, TASKS[modality], directory, steps=5)
        for name, modality in CASES
    }


def test_registers_every_family_with_budgets_for_every_modality():
    registered = []
    plugin.register_models(registered.append)
    assert [s.name for s in registered] == [s.name for s in SPECS]
    assert {s.family for s in registered} == {
        "vae",
        "gan",
        "diffusion",
        "flow",
        "autoregressive",
        "flow-matching",
    }
    for spec in registered:
        # the MAF leaves audio out: 8,000 sequential steps per MADE to sample a
        # clip; the class-conditional rows toy data: it has no labels
        expected = {"image", "toy", "audio"}
        if spec.name == "maf":
            expected = {"image", "toy"}
        elif "conditional_sample" in spec.capabilities:
            expected = {"image", "audio"}
        elif spec.name.startswith("latent-diffusion-"):
            expected = {"image", "audio"}  # a 2-D point has no smaller latent
        assert set(spec.modalities) == expected, spec.name
        for budget in BUDGETS:
            for modality in spec.modalities:
                assert spec.hyperparameters(budget, modality)["steps"] > 0


@pytest.mark.parametrize("budget", BUDGETS)
def test_every_budget_builds_on_both_modalities(budget):
    for spec in SPECS:
        for modality, shape, levels in (("image", (1, 8, 8), 17), ("toy", (2,), None)):
            if modality not in spec.modalities:
                continue
            model = build(spec, shape, levels, modality, budget, **classes_for(spec))
            assert model.capabilities == spec.capabilities


def test_ddim_row_shares_the_ddpm_training_configuration():
    ddpm, ddim = SPECS_BY_NAME["diffusion-ddpm"], SPECS_BY_NAME["diffusion-ddim"]
    assert ddim.trains_as == "diffusion-ddpm"
    assert ddim.budgets == ddpm.budgets
    assert ddim.options["sampler"] == "ddim" and ddpm.options["sampler"] == "ddpm"


@pytest.mark.parametrize(("name", "modality"), CASES)
def test_declared_capabilities_match_the_implemented_hooks(fitted, name, modality):
    model = fitted[(name, modality)]
    spec = SPECS_BY_NAME[name]
    assert model.model.capabilities == spec.capabilities
    x = TASKS[modality].load().test[:4]
    answers = {
        "sample": plugin.sample(model, 3, 0),
        "log_likelihood": plugin.log_likelihood(model, x),
        "reconstruct": plugin.reconstruct(model, x),
    }
    algorithm = {
        "sample": lambda: model.model.sample(3, torch.Generator()),
        "log_likelihood": lambda: model.model.log_likelihood(x, torch.Generator()),
        "reconstruct": lambda: model.model.reconstruct(x),
    }
    assert set(answers) == set(CAPABILITIES) - {"conditional_sample"}  # the hooks of their own
    for capability in answers:
        if capability in spec.capabilities:
            assert answers[capability] is not None
        else:  # the hook stays silent and the algorithm refuses
            assert answers[capability] is None
            with pytest.raises(NotImplementedError):
                algorithm[capability]()


@pytest.mark.parametrize(("name", "modality"), CASES)
def test_seeded_sampling_is_reproducible(fitted, name, modality):
    if name.startswith("latent-diffusion-") and modality == "image":
        pytest.skip(
            "after 5 steps the autoencoder decodes every latent to one 4-level image; "
            "test_latent_diffusion.py checks seeds on MNIST at the smoke budget"
        )
    model = fitted[(name, modality)]
    first = plugin.sample(model, 6, 11)
    assert torch.equal(first, plugin.sample(model, 6, 11))
    assert not torch.equal(first, plugin.sample(model, 6, 12))


@pytest.mark.parametrize("modality", ["image", "toy"])
@pytest.mark.parametrize("name", ["vae", "gan", "diffusion-ddpm", "realnvp", "pixelcnn"])
def test_checkpoint_round_trip_gives_identical_samples(tmp_path, monkeypatch, name, modality):
    task = TASKS[modality]
    trained = fit_model(name, task, tmp_path, seed=3, steps=5)

    def no_training(self, data, generator):
        raise AssertionError("a cached checkpoint must not be retrained")

    monkeypatch.setattr(type(trained.model), "fit", no_training)
    loaded = fit_model(name, task, tmp_path, seed=3, steps=5)
    assert torch.equal(plugin.sample(trained, 9, 5), plugin.sample(loaded, 9, 5))
    for key, value in trained.model.state_dict().items():
        assert torch.equal(value, loaded.model.state_dict()[key]), key


def test_fit_leaves_the_global_random_state_alone(tmp_path):
    before = torch.random.get_rng_state()
    fit_model("vae", TASKS["toy"], tmp_path, steps=3)
    assert torch.equal(before, torch.random.get_rng_state())


def test_same_seed_trains_the_same_weights(tmp_path):
    a = fit_model("realnvp", TASKS["toy"], tmp_path / "a", seed=4, steps=5).model.state_dict()
    b = fit_model("realnvp", TASKS["toy"], tmp_path / "b", seed=4, steps=5).model.state_dict()
    c = fit_model("realnvp", TASKS["toy"], tmp_path / "c", seed=5, steps=5).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


@pytest.mark.parametrize("name", ["realnvp", "pixelcnn"])
def test_toy_log_likelihood_is_a_density_of_the_original_coordinates(fitted, name):
    # the task's coordinates span several units; integrating exp(log p) over
    # them gives one only if the standardisation's Jacobian is accounted for
    axis_x, axis_y = torch.linspace(-12, 12, 241), torch.linspace(-10, 12, 221)
    grid = torch.cartesian_prod(axis_x, axis_y)
    nats = torch.as_tensor(plugin.log_likelihood(fitted[(name, "toy")], grid).nats)
    density = nats.exp().view(241, 221)
    mass = torch.trapezoid(torch.trapezoid(density, axis_y, dim=1), axis_x).item()
    assert math.isclose(mass, 1.0, abs_tol=0.02)


def test_likelihood_is_float64_nats_per_example_and_flags_bounds(fitted):
    x = TASKS["image"].load().test[:5]
    expectations = {
        "vae": (False, "iwae"),
        "diffusion-ddpm": (False, "vlb"),
        "realnvp": (False, "dequantised"),
        "pixelcnn": (True, "exact"),
    }
    for name, (exact, method) in expectations.items():
        result = plugin.log_likelihood(fitted[(name, "image")], x)
        assert result.nats.shape == (5,) and result.nats.dtype == np.float64
        assert result.exact is exact and result.method == method
        assert (result.nats < 0).all()


def test_model_info_reports_parameters_and_network_evaluations(fitted):
    info = plugin.model_info(fitted[("pixelcnn", "image")])
    assert info["nfe"] == 16  # one evaluation per pixel of a 4x4 image
    assert info["parameters"] == sum(
        p.numel() for p in fitted[("pixelcnn", "image")].model.parameters()
    )
    smoke = SPECS_BY_NAME["diffusion-ddim"].hyperparameters("smoke", "image")
    assert plugin.model_info(fitted[("diffusion-ddim", "image")])["nfe"] == smoke["ddim_steps"]
    assert plugin.model_info(fitted[("realnvp", "image")])["roundtrip_error"] < 1e-4


def test_hooks_ignore_what_is_not_theirs(tmp_path):
    foreign = ModelSpec(name="someone-elses-vae", family="vae", modalities=("image",))
    checkpoint = Checkpoint(tmp_path, {"x": 1})
    assert plugin.fit(foreign, TASKS["image"], "smoke", 0, checkpoint) is None
    for hook in (plugin.log_likelihood, plugin.reconstruct):
        assert hook(object(), torch.zeros(1)) is None
    assert plugin.sample(object(), 1, 0) is None
    assert plugin.model_info(object()) is None


def test_unsupported_modality_is_a_clear_error():
    with pytest.raises(ValueError, match="no 'smoke' budget for modality 'text'"):
        SPECS_BY_NAME["vae"].hyperparameters("smoke", "text")
    with pytest.raises(ValueError, match="no networks for modality 'text'"):
        factory_for("text")


@pytest.mark.parametrize(("name", "modality"), [("pixelcnn", "image"), ("realnvp", "toy")])
def test_exact_likelihoods_do_not_depend_on_the_batch(fitted, name, modality):
    x = TASKS[modality].load().test[:40]
    whole = plugin.log_likelihood(fitted[(name, modality)], x).nats
    part = plugin.log_likelihood(fitted[(name, modality)], x[:7]).nats
    assert np.abs(whole[:7] - part).max() < 1e-5
