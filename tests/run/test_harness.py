"""The harness end to end on the toy task: records, provenance, failure
isolation, resume, determinism."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import torch

from genbench.plugins import get_plugin_manager
from genbench.records import config_hash, iter_records, load_record, record_path
from genbench.registry import Registry, RegistryError
from genbench.run.grid import Cell, plan_grid, run_config
from genbench.run.runner import run_grid
from genbench.run.settings import RunSettings
from genbench.run.worker import one_thread

TASK = "toy/ring8"


FAKE_PLUGINS = Path(__file__).resolve().parents[1] / "fake_plugins.py"


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry(get_plugin_manager([FAKE_PLUGINS]))


def _stored(path: Path) -> dict:
    """The record at ``path`` in its stored (JSON) form."""
    return load_record(path).to_dict()


def _settings(tmp_path: Path, cache_dir: Path, timeout: float = 60.0) -> RunSettings:
    return RunSettings(
        results_dir=tmp_path / "results",
        cache_dir=cache_dir,
        hook_timeout=timeout,
        plugin_files=(str(FAKE_PLUGINS),),
    )


def _cells(registry: Registry, models: list[str], seeds: int = 1) -> list[Cell]:
    return plan_grid(registry, models=models, tasks=[TASK], seeds=seeds, budget="smoke")


def test_successful_record_has_metrics_and_provenance(registry, tmp_path, cache_dir):
    settings = _settings(tmp_path, cache_dir)
    report = run_grid(_cells(registry, ["fake-good"]), settings, registry)
    assert len(report.written) == 1 and not report.failed
    record = _stored(report.written[0])
    assert record["status"] == "ok"
    metrics = record["metrics"]
    for name in (
        "fid",
        "kid_mean",
        "precision",
        "recall",
        "density",
        "coverage",
        "memorisation_fraction",
        "modes_reached",
        "modes_covered",
        "nll_nats",
        "bits_per_dim",
        "samples_per_second",
        "train_seconds",
    ):
        assert name in metrics, name
    # A unit Gaussian at the ring's centre misses every mode: few high-quality samples.
    assert metrics["high_quality_fraction"] < 0.05
    assert record["likelihood"]["exact"] is True
    expected = registry.task(TASK).eval_samples["smoke"]
    assert record["counts"]["n_generated"] == record["config"]["n_samples"] == expected
    assert record["counts"]["likelihood_examples"] > 0
    extractor = record["feature_extractor"]
    assert extractor["name"] and len(extractor["weights_sha256"]) == 64
    provenance = record["provenance"]
    assert provenance["libraries"]["torch"] and provenance["libraries"]["numpy"]
    assert "git_commit" in provenance and provenance["started_at"] <= provenance["finished_at"]
    config = record["config"]
    assert config["model"]["plugin"] == "fake_plugins" and config["seed"] == 0
    assert config["budget"] == "smoke" and len(config["task_fingerprint"]) == 64
    assert set(record["timings"]) >= {"fit_s", "sample_s", "features_s", "metrics_s"}
    intervals = record["intervals"]
    for name in ("fid", "fid_inf", "kid_mean", "precision", "coverage", "bits_per_dim",
                 "nll_nats", "modes_reached", "modes_covered",
                 "high_quality_fraction"):  # fmt: skip
        interval = intervals[name]
        assert interval["low"] <= metrics[name] <= interval["high"], name
        assert interval["method"] and interval["se"] >= 0
    assert intervals["fid"]["resamples"] == 200
    assert "test examples" in intervals["bits_per_dim"]["method"]


@pytest.mark.parametrize(
    ("model", "hook", "reason"),
    [
        ("fake-nan", "sample", "samples contain 1 NaN and 0 infinite values"),
        ("fake-shape", "sample", r"expected shape \((\d+), 2\), got \(\1, 1\)"),
        ("fake-dtype", "sample", "expected dtype torch.float32, got torch.float64"),
        ("fake-raises", "fit", "RuntimeError: the fake plugin exploded while fitting"),
        ("fake-none", "log_likelihood", "did not answer"),
        ("fake-ll-shape", "log_likelihood", r"one value per example, shape \(\d+,\)"),
        ("fake-ll-shifted", "log_likelihood", r"one value per example, shape \(\d+,\)"),
        ("fake-hangs", "sample", "timed out after 2 s"),
    ],
)
def test_misbehaving_plugin_gives_a_failed_record_naming_plugin_and_hook(
    registry, tmp_path, cache_dir, model, hook, reason
):
    settings = _settings(tmp_path, cache_dir, timeout=2.0)
    report = run_grid(_cells(registry, [model]), settings, registry)
    assert len(report.failed) == 1
    record = _stored(report.failed[0])
    assert record["status"] == "failed"
    failure = record["failure"]
    assert failure["plugin"] == "fake_plugins"
    assert failure["hook"] == hook
    assert pytest.approx(0) != len(failure["reason"])
    import re

    assert re.search(reason, failure["reason"]), failure["reason"]


def test_a_failing_cell_does_not_stop_the_grid(registry, tmp_path, cache_dir):
    settings = _settings(tmp_path, cache_dir)
    cells = _cells(registry, ["fake-nan", "fake-good", "fake-raises"])
    report = run_grid(cells, settings, registry)
    assert len(report.written) == 1 and len(report.failed) == 2
    statuses = {r.config.model.name: r.status for r in iter_records(tmp_path)}
    assert statuses == {"fake-nan": "failed", "fake-good": "ok", "fake-raises": "failed"}


def test_interrupted_grid_resumes_without_duplicates(registry, tmp_path, cache_dir):
    settings = _settings(tmp_path, cache_dir)
    cells = _cells(registry, ["fake-good", "fake-nan"], seeds=2)
    done = []

    def interrupt_after_two(cell, status):
        done.append(cell)
        if len(done) == 2:
            raise KeyboardInterrupt  # as Ctrl-C between two cells

    with pytest.raises(KeyboardInterrupt):
        run_grid(cells, settings, registry, on_done=interrupt_after_two)
    finished = sorted((tmp_path / "results").rglob("*.json"))
    assert len(finished) == 2
    before = {p: p.read_bytes() for p in finished}
    report = run_grid(cells, settings, registry)
    assert len(report.skipped) == 2
    assert len(report.written) + len(report.failed) == 2
    assert all(p.read_bytes() == before[p] for p in finished)  # untouched
    assert len(sorted((tmp_path / "results").rglob("*.json"))) == 4
    assert not list((tmp_path / "results").rglob("*.tmp"))


def test_force_recomputes_and_changed_config_invalidates(registry, tmp_path, cache_dir):
    settings = _settings(tmp_path, cache_dir)
    cells = _cells(registry, ["fake-good"])
    run_grid(cells, settings, registry)
    assert run_grid(cells, settings, registry).skipped
    assert run_grid(cells, settings, registry, force=True).written
    more_samples = [Cell(c.model, c.task, c.seed, c.budget, n_samples=150) for c in cells]
    report = run_grid(more_samples, settings, registry)
    assert report.written and _stored(report.written[0])["counts"]["n_generated"] == 150


def test_results_are_reproducible_and_seeds_differ(registry, tmp_path, cache_dir):
    cells = _cells(registry, ["fake-good"], seeds=2)
    first = run_grid(cells, _settings(tmp_path / "a", cache_dir), registry)
    second = run_grid(cells, _settings(tmp_path / "b", cache_dir), registry)
    metrics = [_stored(p)["metrics"] for p in first.written]
    again = [_stored(p)["metrics"] for p in second.written]
    for m1, m2 in zip(metrics, again, strict=True):
        for key in ("fid", "kid_mean", "precision", "recall", "nll_nats"):
            assert m1[key] == m2[key]
    assert metrics[0]["fid"] != metrics[1]["fid"]


def test_cell_config_hash_ignores_nothing_that_changes_results(registry):
    cell = Cell("fake-good", TASK, 0, "smoke")
    config = run_config(registry, cell).to_dict()
    assert config["task_fingerprint"] == registry.task(TASK).fingerprint()
    assert config["seeds"]["base"] == 0 and config["seeds"]["fit"] != config["seeds"]["sample"]
    assert json.dumps(config, sort_keys=True)  # JSON-serialisable
    reworded = {**config, "description": "a new wording"}
    assert config_hash(reworded) == config_hash(config)
    assert config_hash({**config, "n_samples": config["n_samples"] + 1}) != config_hash(config)


def test_plan_grid_errors_are_clear(registry):
    with pytest.raises(RegistryError, match="unknown budget 'huge'"):
        plan_grid(registry, budget="huge")
    with pytest.raises(RegistryError, match="unknown model 'nope'"):
        plan_grid(registry, models=["nope"], tasks=[TASK])
    with pytest.raises(RegistryError, match="model 'fake-good' supports \\['toy'\\], none of"):
        plan_grid(registry, models=["fake-good"], tasks=["image/digits"])


def test_record_path_layout(tmp_path):
    path = record_path(tmp_path, "image/mnist", "vae", "default", 2)
    assert path == tmp_path / "image" / "mnist" / "vae" / "default-seed2.json"


def test_one_thread_reaches_hook_threads_and_restores_the_setting():
    # hooks run in their own thread; torch's thread count must reach it
    # (a second OpenMP thread spinning on a busy core slowed fits 5x)
    torch.set_num_threads(2)
    seen: list[int] = []
    try:
        with one_thread():
            worker = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
            worker.start()
            worker.join()
        assert seen == [1]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)


def test_another_seed_set_starts_at_first_seed(registry):
    cells = plan_grid(registry, models=["fake-good"], tasks=[TASK], seeds=2, first_seed=3)
    assert [c.seed for c in cells] == [3, 4]
    with pytest.raises(RegistryError, match="--first-seed must be at least 0, got -1"):
        plan_grid(registry, models=["fake-good"], tasks=[TASK], first_seed=-1)


def test_likelihood_models_get_an_anomaly_auroc_per_shifted_set(registry, tmp_path, cache_dir):
    report = run_grid(_cells(registry, ["fake-good"]), _settings(tmp_path, cache_dir), registry)
    record = _stored(report.written[0])
    task = registry.task(TASK)
    shifted = task.shifted_likelihood_batches("smoke")["uniform"]
    examples = len(task.likelihood_batch("smoke"))
    assert record["counts"]["anomaly_examples"] == len(shifted) == examples
    assert record["timings"]["anomaly_s"] > 0
    # The fake model is a unit Gaussian at the data mean (about the origin): by
    # its log-density per coordinate, recomputed here, points uniform on the
    # ring's bounding box lie closer to the centre than the ring itself, so it
    # calls the shifted set *more* likely and scores below 1/2.
    normal = torch.distributions.Normal(task.load().train.mean(dim=0).double(), 1.0)
    inlier = normal.log_prob(task.likelihood_batch("smoke").double()).sum(dim=1).numpy() / 2
    outlier = normal.log_prob(shifted.double()).sum(dim=1).numpy() / 2
    pairs = (inlier[:, None] > outlier[None, :]).mean() + 0.5 * (
        inlier[:, None] == outlier[None, :]
    ).mean()
    auroc = record["metrics"]["anomaly_auroc_uniform"]
    assert auroc == pytest.approx(pairs, abs=1e-12) and auroc < 0.5
    interval = record["intervals"]["anomaly_auroc_uniform"]
    assert interval["low"] < auroc < interval["high"] and interval["resamples"] == 200
    assert "shifted examples" in interval["method"]


def test_anomaly_metrics_leave_committed_config_hashes_alone():
    """Records of likelihood models gain anomaly columns but keep their
    configuration hash: recomputed from today's registry, it matches the
    committed records written before the anomaly sets existed."""
    registry = Registry(get_plugin_manager())
    repo = Path(__file__).resolve().parents[2]
    for task, model in (("image/mnist", "pixelcnn"), ("image/mnist", "gaussian")):
        stored = json.loads((repo / "results" / task / model / "default-seed0.json").read_text())
        assert "log_likelihood" in stored["config"]["model"]["capabilities"]
        assert run_config(registry, Cell(model, task, 0, "default")).hash == stored["config_hash"]
