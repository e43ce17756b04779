"""The guidance sweep end to end on image/digits with the fake conditional
models, its scoring functions, and backward compatibility of ``sample``."""

from __future__ import annotations

import importlib.util
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from genbench.defaults import GUIDANCE_SCALES
from genbench.metrics.class_accuracy import class_accuracy, wilson_interval
from genbench.metrics.inception_score import classifier_inception_score
from genbench.plugins import get_plugin_manager
from genbench.records import iter_records, load_record
from genbench.registry import Registry, RegistryError
from genbench.run.grid import plan_grid
from genbench.run.runner import run_grid
from genbench.run.settings import RunSettings
from genbench.specs import Condition

TASK = "image/digits"
FAKE_PLUGINS = Path(__file__).resolve().parents[1] / "fake_plugins.py"


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry(get_plugin_manager([FAKE_PLUGINS]))


def _settings(tmp_path: Path, cache_dir: Path, plugin: Path = FAKE_PLUGINS) -> RunSettings:
    return RunSettings(
        results_dir=tmp_path / "results",
        cache_dir=cache_dir,
        hook_timeout=120.0,
        plugin_files=(str(plugin),),
    )


def _run(registry, tmp_path, cache_dir, models, task=TASK):
    cells = plan_grid(registry, models=models, tasks=[task], seeds=1, budget="smoke")
    return run_grid(cells, _settings(tmp_path, cache_dir), registry)


def test_conditional_model_records_one_point_per_scale(registry, tmp_path, cache_dir):
    report = _run(registry, tmp_path, cache_dir, ["fake-cond"])
    assert len(report.written) == 1 and not report.failed
    record = load_record(report.written[0])
    assert [point.guidance for point in record.guidance] == list(GUIDANCE_SCALES)
    for point in record.guidance:
        assert set(point.metrics) == {
            "fid",
            "precision",
            "recall",
            "inception_score_mean",
            "class_accuracy",
        }
        assert set(point.intervals) == set(point.metrics)
        for name, value in point.metrics.items():
            interval = point.intervals[name]
            assert np.isfinite(value) and interval.low <= value <= interval.high, name
        assert 0.0 <= point.metrics["class_accuracy"] <= 1.0
    accuracy = [point.metrics["class_accuracy"] for point in record.guidance]
    # w = 0 ignores the label (about one class in ten); guidance pulls towards it.
    assert accuracy[0] < 0.3 and accuracy[-1] > 0.8
    assert accuracy == sorted(accuracy)
    scores = [point.metrics["inception_score_mean"] for point in record.guidance]
    assert all(1.0 <= score <= 10.0 for score in scores)  # 10 classes
    assert "bootstrap" in record.guidance[0].intervals["inception_score_mean"].method
    assert record.timings["guidance_s"] > 0
    assert "Wilson" in record.guidance[0].intervals["class_accuracy"].method
    # The main row's metrics are untouched by the sweep.
    assert "class_accuracy" not in record.metrics


def test_class_accuracy_of_real_examples_is_the_classifiers(registry, tmp_path, cache_dir):
    report = _run(registry, tmp_path, cache_dir, ["fake-cond-real"])
    record = load_record(report.written[0])
    task = registry.task(TASK)
    n, seed = record.config.n_samples, record.config.derived_seeds.sample
    labels = task.guidance_labels(n)
    data = task.load()
    fake = _fake_module().ConditionalModel(
        "fake-cond-real", data.train, data.train_labels, task.levels
    )
    extractor = task.feature_extractor()
    for point in record.guidance:
        images = fake.sample(n, seed, Condition(labels, point.guidance))
        _, probs = extractor.extract(images)
        expected = float((probs.argmax(axis=1) == labels.numpy()).mean())
        assert point.metrics["class_accuracy"] == expected
        score, _ = classifier_inception_score(probs)
        assert point.metrics["inception_score_mean"] == pytest.approx(score, rel=1e-12)


def _fake_module():
    spec = importlib.util.spec_from_file_location("fake_plugins_direct", FAKE_PLUGINS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("model", "reason"),
    [
        ("fake-cond-shape", r"expected shape \((\d+), 1, 8, 8\), got \(\1, 1, 8, 4\)"),
        ("fake-cond-nan", "expected dtype torch.uint8, got torch.float32"),
        ("fake-cond-raises", "RuntimeError: the fake plugin exploded at guidance 2"),
    ],
)
def test_bad_conditional_samples_fail_the_run_naming_plugin_and_hook(
    registry, tmp_path, cache_dir, model, reason
):
    report = _run(registry, tmp_path, cache_dir, [model, "fake-cond"])
    statuses = {r.config.model.name: r for r in iter_records(tmp_path / "results")}
    assert statuses["fake-cond"].ok  # the other cell goes on
    failed = statuses[model]
    assert len(report.failed) == 1 and failed.status == "failed"
    assert failed.failure.plugin == "fake_plugins" and failed.failure.hook == "sample"
    assert re.search(reason, failed.failure.reason), failed.failure.reason
    assert "fid" in failed.metrics  # the plain samples were scored before the sweep


def test_models_without_the_capability_or_tasks_without_classes_get_no_sweep(
    registry, tmp_path, cache_dir
):
    report = _run(registry, tmp_path, cache_dir, ["fake-good"], task="toy/ring8")
    record = load_record(report.written[0])
    assert record.guidance == () and "guidance_s" not in record.timings
    assert "guidance" not in record.to_dict()


PLAIN_PLUGIN = """
import torch
from genbench import ModelSpec, hookimpl

@hookimpl
def register_models(register):
    register(ModelSpec(name="plain-old", family="plain", modalities=("toy",)))

@hookimpl
def fit(spec, task, budget, seed, checkpoint):
    return "plain" if spec.name == "plain-old" else None

@hookimpl
def sample(model, n, seed):
    if model != "plain":
        return None
    return torch.randn((n, 2), generator=torch.Generator().manual_seed(seed))
"""


def test_a_plugin_whose_sample_has_no_condition_argument_still_works(tmp_path, cache_dir):
    plugin = tmp_path / "plain_plugin.py"
    plugin.write_text(PLAIN_PLUGIN)
    registry = Registry(get_plugin_manager([plugin]))
    cells = plan_grid(registry, models=["plain-old"], tasks=["toy/ring8"], seeds=1, budget="smoke")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pluggy must not warn about the argument
        report = run_grid(cells, _settings(tmp_path, cache_dir, plugin), registry)
    assert len(report.written) == 1 and not report.failed
    assert load_record(report.written[0]).metrics["fid"] > 0


SAMPLELESS_PLUGIN = """
from genbench import ModelSpec, hookimpl

@hookimpl
def register_models(register):
    register(ModelSpec(name="cond-only", family="plain", modalities=("image",),
                       capabilities={"conditional_sample"}))
"""


def test_conditional_sample_without_sample_is_refused_at_registration(tmp_path):
    plugin = tmp_path / "sampleless_plugin.py"
    plugin.write_text(SAMPLELESS_PLUGIN)
    with pytest.raises(RegistryError, match="declares 'conditional_sample' without 'sample'"):
        Registry(get_plugin_manager([plugin]))


def test_guidance_labels_are_balanced_and_need_classes(registry):
    labels = registry.task(TASK).guidance_labels(23)
    assert labels.dtype == torch.int64
    assert labels.tolist() == [i % 10 for i in range(23)]
    with pytest.raises(ValueError, match="has no class labels"):
        registry.task("toy/ring8").guidance_labels(5)
    with pytest.raises(ValueError, match="must be >= 0"):
        registry.task(TASK).guidance_labels(-1)


def test_num_classes_is_a_class_attribute(registry):
    """Answered by the task's class, so no data is loaded to answer it."""
    expected = {"image/mnist": 10, "image/digits": 10, "audio/digits": 10, "toy/ring8": None}
    for name, classes in expected.items():
        assert type(registry.task(name)).num_classes == classes, name


def test_class_accuracy_and_its_errors():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    assert class_accuracy(probs, np.array([0, 1, 1, 1])) == 0.75
    with pytest.raises(ValueError, match=r"\(n, K\) probabilities and \(n,\) labels"):
        class_accuracy(probs, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        class_accuracy(probs, np.array([0, 1, 2, 1]))
    with pytest.raises(ValueError, match="at least one sample"):
        class_accuracy(np.zeros((0, 2)), np.zeros(0, dtype=np.int64))


def test_wilson_interval_values_and_errors():
    interval = wilson_interval(75, 100)
    # Wilson score interval of 75/100 at 95 %: 0.6569 .. 0.8245.
    assert interval.low == pytest.approx(0.65690, abs=1e-4)
    assert interval.high == pytest.approx(0.82450, abs=1e-4)
    assert interval.se == pytest.approx(np.sqrt(0.75 * 0.25 / 100))
    full = wilson_interval(10, 10)
    assert full.high == pytest.approx(1.0) and full.low == pytest.approx(0.72246, abs=1e-4)
    with pytest.raises(ValueError, match="0 <= successes <= n"):
        wilson_interval(11, 10)
    with pytest.raises(ValueError, match="n >= 1"):
        wilson_interval(0, 0)


def test_holdout_labels_match_the_holdout_and_leave_the_fingerprint_alone(registry):
    task = registry.task("image/mnist")
    data = task.load()
    assert data.holdout_labels.dtype == np.int64 and len(data.holdout_labels) == len(data.holdout)
    assert np.bincount(data.holdout_labels).tolist() == [100] * 10
    _, probs = task.feature_extractor().extract(data.holdout[:200])
    assert (probs.argmax(axis=1) == data.holdout_labels[:200]).mean() > 0.95
    # the committed classifier's metadata names the fingerprint it was trained on
    assert task.fingerprint() == _metadata("mnist")["task_fingerprint"]


def _metadata(key: str) -> dict:
    from importlib.resources import files

    return json.loads(files("genbench.features").joinpath("weights", f"{key}.json").read_text())
