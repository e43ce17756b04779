"""The ``data`` baseline answers class-conditional calls with held-out real
examples of the asked class, and its guidance sweep measures the task's
classifier itself."""

from __future__ import annotations

import json
from importlib.resources import files

import numpy as np
import pytest
import torch
from genbench_baselines.resample import ResamplingModel

from genbench import Condition
from genbench.plugins import get_plugin_manager
from genbench.records import load_record
from genbench.registry import Registry
from genbench.run.grid import plan_grid
from genbench.run.runner import run_grid
from genbench.run.settings import RunSettings


def _model() -> ResamplingModel:
    examples = torch.arange(12).reshape(12, 1)
    return ResamplingModel(examples, replace=False, labels=np.array([0, 1, 2] * 4))


def test_class_samples_are_examples_of_the_asked_class_seeded_and_distinct():
    model = _model()
    labels = torch.tensor([2, 0, 1, 2, 0, 1, 2, 1])
    first = model.sample_classes(labels, torch.Generator().manual_seed(3))
    again = model.sample_classes(labels, torch.Generator().manual_seed(3))
    assert torch.equal(first, again)
    assert (first.flatten() % 3).tolist() == labels.tolist()
    assert len(first.unique()) == len(first)  # no repeats while a class has examples left


def test_a_class_asked_more_often_than_it_has_examples_repeats_only_then():
    picks = _model().sample_classes(torch.zeros(6, dtype=torch.int64), torch.Generator())
    picks = picks.flatten().tolist()
    assert sorted(picks[:4]) == [0, 3, 6, 9]  # every example of class 0 once
    assert picks[4:] == picks[:2]  # then the same order again


def test_class_sampling_errors_are_clear():
    with pytest.raises(ValueError, match="no stored example has it"):
        _model().sample_classes(torch.tensor([5]), torch.Generator())
    unlabelled = ResamplingModel(torch.zeros(3, 1), replace=False)
    with pytest.raises(ValueError, match="have no class labels"):
        unlabelled.sample_classes(torch.tensor([0]), torch.Generator())


def test_plain_data_samples_are_unchanged_by_the_labels():
    examples = torch.arange(12).reshape(12, 1)
    plain = ResamplingModel(examples, replace=False).sample(5, torch.Generator().manual_seed(7))
    labelled = _model().sample(5, torch.Generator().manual_seed(7))
    assert torch.equal(plain, labelled)


@pytest.mark.parametrize(("task_name", "weights"), [("image/mnist", "mnist")])
def test_the_data_rows_class_accuracy_is_the_classifiers(task_name, weights, tmp_path, cache_dir):
    registry = Registry(get_plugin_manager())
    cells = plan_grid(registry, models=["data"], tasks=[task_name], seeds=1, budget="default")
    settings = RunSettings(results_dir=tmp_path, cache_dir=cache_dir, hook_timeout=300.0)
    report = run_grid(cells, settings, registry)
    record = load_record(report.written[0])
    assert len(record.guidance) == 4
    task = registry.task(task_name)
    n, seed = record.config.n_samples, record.config.derived_seeds.sample
    labels = task.guidance_labels(n)
    data = task.load()
    model = ResamplingModel(data.holdout, replace=False, labels=data.holdout_labels)
    images = model.sample_classes(labels, torch.Generator().manual_seed(seed))
    _, probs = task.feature_extractor().extract(images)
    direct = float((probs.argmax(axis=1) == labels.numpy()).mean())
    accuracies = {point.metrics["class_accuracy"] for point in record.guidance}
    assert accuracies == {direct}  # guidance is ignored: the same examples at every w
    metadata = json.loads(
        files("genbench.features").joinpath("weights", f"{weights}.json").read_text()
    )
    assert abs(direct - metadata["test_accuracy"]) <= 0.01, (direct, metadata["test_accuracy"])


def test_the_data_hook_refuses_conditions_for_other_baselines():
    from genbench_baselines.plugin import sample

    memorizer = ResamplingModel(torch.zeros(3, 1), replace=True)
    with pytest.raises(ValueError, match="only the 'data' baseline samples class-conditionally"):
        sample(memorizer, 2, 0, Condition(torch.tensor([0, 1]), 1.0))
    with pytest.raises(ValueError, match="asked for 3 samples with 2 labels"):
        sample(_model(), 3, 0, Condition(torch.tensor([0, 1]), 1.0))
