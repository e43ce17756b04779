"""The budget ladder: ``default-xK`` names, their resolution into
hyper-parameters, and the errors for names that are not budgets."""

from __future__ import annotations

import pickle

import pytest

from genbench import ModelSpec
from genbench.specs import (
    base_budget,
    canonical_budget,
    ladder_budget,
    nested_value,
    parse_budget,
)


def _spec(**kwargs) -> ModelSpec:
    budgets = {
        "smoke": {"steps": 3, "batch_size": 8, "lr": 1e-3},
        "default": {"steps": 100, "batch_size": 32, "lr": 1e-3, "epochs_warmup": 5},
    }
    return ModelSpec(name="m", family="vae", modalities=("image",), budgets=budgets, **kwargs)


def test_budget_names_parse_into_a_named_budget_and_a_multiple():
    assert parse_budget("smoke") == ("smoke", 1)
    assert parse_budget("full") == ("full", 1)
    assert parse_budget("default") == ("default", 1)
    assert parse_budget("default-x8") == ("default", 8)
    assert canonical_budget("default-x1") == "default"
    assert canonical_budget("default-x04") == "default-x4"
    assert canonical_budget("smoke") == "smoke"
    assert base_budget("default-x16") == "default"
    assert ladder_budget(1) == "default" and ladder_budget(3) == "default-x3"


@pytest.mark.parametrize(
    ("budget", "message"),
    [
        ("default-x0", "budget 'default-x0': the multiple after '-x' must be a positive integer"),
        ("default-xfoo", "the multiple after '-x' must be a positive integer, got 'foo'"),
        ("default-x", "must be a positive integer, got ''"),
        ("default-x2.5", "must be a positive integer, got '2.5'"),
        ("huge", "unknown budget 'huge'; choose one of \\['smoke', 'default', 'full'\\] or a"),
        ("full-x2", "unknown budget 'full-x2': only 'default' has multiples"),
        ("huge-x2", "only 'default' has multiples .* not 'huge'"),
    ],
)
def test_names_that_are_not_budgets_are_refused_with_what_is_accepted(budget, message):
    with pytest.raises(ValueError, match=message):
        parse_budget(budget)
    with pytest.raises(ValueError, match=message):
        _spec().hyperparameters(budget)


def test_ladder_multiple_must_be_a_positive_integer():
    for bad in (0, -2, True, 2.0):
        with pytest.raises(ValueError, match="a ladder multiple must be a positive integer"):
            ladder_budget(bad)


def test_a_rung_multiplies_the_steps_of_the_default_row_and_nothing_else():
    spec = _spec()
    default = spec.hyperparameters("default")
    assert spec.hyperparameters("default-x1") == default
    assert spec.hyperparameters("default-x4") == {**default, "steps": 400}
    assert spec.hyperparameters("smoke") == {"steps": 3, "batch_size": 8, "lr": 1e-3}
    # the spec's own table is untouched by resolving a rung
    assert spec.budgets["default"]["steps"] == 100


def test_a_spec_may_declare_other_ladder_keys():
    spec = _spec(ladder_keys=("steps", "epochs_warmup"))
    assert spec.hyperparameters("default-x3") == {
        "steps": 300, "batch_size": 32, "lr": 1e-3, "epochs_warmup": 15,
    }  # fmt: skip
    nothing = _spec(ladder_keys=())
    assert nothing.hyperparameters("default-x3") == nothing.hyperparameters("default")
    with pytest.raises(ValueError, match="ladder_keys must be a sequence of names"):
        _spec(ladder_keys="steps")
    assert pickle.loads(pickle.dumps(spec)).ladder_keys == ("steps", "epochs_warmup")


def test_a_dotted_ladder_key_scales_a_nested_stage_and_leaves_the_table_alone():
    prior = {"steps": 50, "width": 16}
    spec = ModelSpec(
        name="two-stage",
        family="diffusion",
        modalities=("image",),
        budgets={"default": {"image": {"steps": 100, "prior": prior}}},
        ladder_keys=("steps", "prior.steps", "prior.missing", "absent.steps"),
    )
    assert spec.hyperparameters("default-x4", "image") == {
        "steps": 400,
        "prior": {"steps": 200, "width": 16},
    }
    assert spec.hyperparameters("default", "image")["prior"] == {"steps": 50, "width": 16}
    assert prior == {"steps": 50, "width": 16}
    assert pickle.loads(pickle.dumps(spec)).ladder_keys == spec.ladder_keys


@pytest.mark.parametrize("key", ["", "prior.", ".steps", "prior..steps", 3])
def test_a_ladder_key_that_is_no_dotted_path_of_names_is_refused(key):
    with pytest.raises(ValueError, match="a ladder key is a name or a dotted path of names"):
        _spec(ladder_keys=(key,))


def test_nested_value_follows_a_dotted_path():
    row = {"steps": 3, "prior": {"steps": 5, "schedule": {"warmup_steps": 2}}}
    assert nested_value(row, "steps") == 3
    assert nested_value(row, "prior.schedule.warmup_steps") == 2
    assert nested_value(row, "prior.width") is None
    assert nested_value(row, "steps.more") is None


def test_a_ladder_key_must_be_an_integer_to_be_multiplied():
    spec = _spec(ladder_keys=("lr",))
    with pytest.raises(ValueError, match="ladder key 'lr' must be an integer at 'default'"):
        spec.hyperparameters("default-x2")
    assert spec.hyperparameters("default")["lr"] == 1e-3  # multiple 1 scales nothing


def test_rows_keyed_by_modality_scale_per_modality():
    spec = ModelSpec(
        name="m",
        family="gan",
        modalities=("image", "toy"),
        budgets={"default": {"image": {"steps": 10, "w": 3}, "toy": {"steps": 7}}},
    )
    assert spec.hyperparameters("default-x2", "image") == {"steps": 20, "w": 3}
    assert spec.hyperparameters("default-x2", "toy") == {"steps": 14}
    assert spec.hyperparameters("default-x2") == {
        "image": {"steps": 20, "w": 3},
        "toy": {"steps": 14},
    }
    with pytest.raises(ValueError, match="no 'default' budget for modality 'audio'"):
        spec.hyperparameters("default-x2", "audio")


def test_a_spec_without_budgets_resolves_every_rung_to_nothing():
    spec = ModelSpec(name="own", family="x", modalities=("toy",))
    assert spec.hyperparameters("default-x4", "toy") == {}
